//! What a discontinued CBS table says of its successor. CBS names it in the table's texts
//! (`TableInfos` `Description`, and `ShortDescription`): "opgevolgd door" or "vervangen door",
//! followed by a link holding `dataset/<ID>` (StatLine) or `PA=<ID>` (the old StatWeb, where
//! `_v1` is a version, not part of the id), or by the successor's title only, which is then
//! looked up in the catalogue. "is de opvolger van" names the table's predecessor and is
//! never read as a successor.

use serde::Deserialize;
use tracing::{debug, warn};

use super::odata::odata_str;
use super::Cbs;
use crate::sources::drift::Stopped;
use crate::sources::FetchError;

/// The words that introduce a successor.
const MARKERS: [&str; 2] = ["opgevolgd door", "vervangen door"];
/// The words that introduce a predecessor: a successor's text stops before them.
const PREDECESSOR: &str = "opvolger van";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Texts {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    short_description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listed {
    identifier: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    output_status: Option<String>,
}

/// A successor as a text names it: its id when a link holds it, and its title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Named {
    pub id: Option<String>,
    pub title: Option<String>,
}

impl Cbs {
    /// Reads the stopped `table`'s texts for its successor; one named by title only is
    /// looked up in the catalogue.
    pub async fn stopped(&self, table: &str, why: &str) -> Result<Stopped, FetchError> {
        let texts: Vec<Texts> = self
            .pages
            .get_all(self.url(table, "TableInfos", &[]), "TableInfos")
            .await?;
        let text: String = texts
            .into_iter()
            .flat_map(|t| [t.description, t.short_description])
            .flatten()
            .collect::<Vec<_>>()
            .join("\n");
        let mut out = Stopped {
            why: why.to_string(),
            ..Stopped::default()
        };
        let Some(named) = named(&text) else {
            debug!(table, "the table's texts name no successor");
            return Ok(out);
        };
        out.successor_title = named.title.clone();
        out.successor = match (named.id, &named.title) {
            (Some(id), _) => Some(id),
            (None, Some(title)) => match self.by_title(table, title).await {
                Ok(found) => found.map(|(id, title)| {
                    out.successor_title = Some(title);
                    id
                }),
                Err(e) => {
                    warn!(table, title, error = %e, "the catalogue could not be searched for the successor");
                    None
                }
            },
            (None, None) => None,
        };
        Ok(out)
    }

    /// The table the catalogue lists under `title` (or that short title), other than
    /// `table`; one still published first.
    async fn by_title(
        &self,
        table: &str,
        title: &str,
    ) -> Result<Option<(String, String)>, FetchError> {
        let quoted = odata_str(title);
        let filter = format!("Title eq {quoted} or ShortTitle eq {quoted}");
        let url = self.catalogue_query(&filter, "Identifier,Title,OutputStatus");
        let rows: Vec<Listed> = self.pages.get_all(url, "ODataCatalog/Tables").await?;
        let mut rows: Vec<Listed> = rows
            .into_iter()
            .filter(|r| !r.identifier.eq_ignore_ascii_case(table))
            .collect();
        rows.sort_by_key(|r| super::catalogue::stopped_status(r.output_status.as_deref()));
        Ok(rows.into_iter().next().map(|r| {
            let t = r.title.unwrap_or_else(|| title.to_string());
            (r.identifier, t)
        }))
    }
}

/// The successor `text` names: the first one a link identifies, else the first one named
/// by title.
pub(super) fn named(text: &str) -> Option<Named> {
    // ASCII lowering keeps byte offsets, so positions found in `lower` index `text`.
    let lower = text.to_ascii_lowercase();
    let mut found: Vec<(usize, Named)> = MARKERS
        .iter()
        .flat_map(|m| lower.match_indices(m).map(move |(i, _)| i + m.len()))
        .filter_map(|at| after_marker(&text[at..]).map(|n| (at, n)))
        .collect();
    found.sort_by_key(|(at, n)| (n.id.is_none(), *at));
    found.into_iter().next().map(|(_, n)| n)
}

/// What follows one marker, up to the end of its line (or a predecessor's words).
fn after_marker(rest: &str) -> Option<Named> {
    let mut line = rest.split('\n').next().unwrap_or("");
    if let Some(cut) = line.to_ascii_lowercase().find(PREDECESSOR) {
        line = &line[..cut];
    }
    let line = line.trim_start();
    // A link in the same sentence: its text up to the link has no full stop.
    if let Some(a) = line.find("<a ").filter(|a| !line[..*a].contains(". ")) {
        let tag = &line[a..];
        let href = href(tag)?;
        let title = tag
            .split_once('>')
            .map(|(_, t)| t.split("</a>").next().unwrap_or(t))
            .map(clean)
            .filter(|t| !t.is_empty());
        return Some(Named {
            id: id_in(href),
            title,
        });
    }
    let mut title = line;
    for lead in ["de tabel ", "tabel ", "de "] {
        if title.to_ascii_lowercase().starts_with(lead) {
            title = &title[lead.len()..];
            break;
        }
    }
    let title = clean(title.split(". ").next().unwrap_or(title));
    // "opgevolgd door een nieuwe tabel": no name at all.
    if title.is_empty() || title.to_ascii_lowercase().starts_with("een ") {
        return None;
    }
    if looks_like_id(&title) {
        return Some(Named {
            id: Some(title),
            title: None,
        });
    }
    Some(Named {
        id: None,
        title: Some(title),
    })
}

/// The `href` value of an `<a ...>` tag, in single or double quotes.
fn href(tag: &str) -> Option<&str> {
    let at = tag.find("href=")? + "href=".len();
    let rest = &tag[at..];
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    rest[1..].split(quote).next()
}

/// The table id a StatLine or StatWeb link holds (`dataset/83838NED`, `PA=83838NED_v1`).
fn id_in(href: &str) -> Option<String> {
    ["dataset/", "PA=", "pa="].iter().find_map(|pat| {
        let at = href.find(pat)? + pat.len();
        let id: String = href[at..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        looks_like_id(&id).then_some(id)
    })
}

/// A CBS table id: letters and digits only, five digits first (`84098NED`, `7055`-style
/// themes are not tables).
fn looks_like_id(s: &str) -> bool {
    s.len() >= 6
        && s.chars().all(|c| c.is_ascii_alphanumeric())
        && s.chars().take(5).all(|c| c.is_ascii_digit())
}

/// Text without tags and spare spaces, and without a closing full stop.
fn clean(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    out.trim_end_matches('.').trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named_id(text: &str) -> Option<String> {
        named(text).and_then(|n| n.id)
    }

    #[test]
    fn a_link_names_the_successor_by_dataset_or_pa_code() {
        let t = "Relevante tabellen:\nDeze tabel is opgevolgd door tabel <a href='https://opendata.cbs.nl/Statline/#/CBS/nl/dataset/84098NED'>Lopende transacties; sectoren, nationale rekeningen.</a>\n";
        assert_eq!(
            named(t),
            Some(Named {
                id: Some("84098NED".into()),
                title: Some("Lopende transacties; sectoren, nationale rekeningen".into()),
            })
        );
        let t = "Deze tabel wordt opgevolgd door <a href=\"http://statflow/Statweb/publication/?VW=T&DM=SBPREVW&PA=83838NED_v1&D1=a\">Nijverheid; productie en omzet, ontwikkeling en index, 2015=100</a>.\n\nDeze tabel is de opvolger van de tabel <a href=\"http://statline.cbs.nl/StatWeb/publication/?VW=T&DM=SLNL&PA=72009NED\">Nijverheid</a>.";
        assert_eq!(named_id(t).as_deref(), Some("83838NED"));
    }

    #[test]
    fn a_title_only_a_predecessor_or_nothing() {
        let t = "Deze tabel met gegevens voor revisie is vervangen door tabel Lopende transacties; sectoren, nationale rekeningen. Voor aanvullende informatie zie paragraaf 3.";
        assert_eq!(
            named(t),
            Some(Named {
                id: None,
                title: Some("Lopende transacties; sectoren, nationale rekeningen".into()),
            })
        );
        let pred = "Deze tabel is de opvolger van de tabel <a href=\"http://statline.cbs.nl/StatWeb/publication/?PA=72009NED\">Nijverheid</a>.";
        assert_eq!(named(pred), None);
        let vague = "Deze tabel zal worden stopgezet en opgevolgd worden door een nieuwe tabel. Voor de link naar de nieuwe tabel zie paragraaf 3.";
        assert_eq!(named(vague), None);
        assert_eq!(named("opgevolgd door een nieuwe tabel."), None);
        assert_eq!(named(""), None);
    }

    #[test]
    fn the_real_texts_name_their_successors() {
        let stopped =
            include_str!("../../../tests/fixtures/cbs/tableinfos_82595NED_description.txt");
        assert_eq!(named_id(stopped).as_deref(), Some("84098NED"));
        let regular =
            include_str!("../../../tests/fixtures/cbs/tableinfos_81810NED_description.txt");
        assert_eq!(named_id(regular).as_deref(), Some("83838NED"));
    }
}
