//! Series groups: one `[[series]]` entry with an open (`"*"`) or listed dimension or measure
//! stands for one series per key the table has. The config holds the template ([`Group`]);
//! a source finds the keys at every poll and calls [`SeriesConfig::expand`], so the rest of
//! statwatch (store, rules, receivers) only ever sees concrete series ids.
//!
//! Without the network `check` cannot know the keys, so it validates the templates: every
//! open or listed dimension has its `{DIM}` in the id, and no two entries can produce the
//! same id. The latter is decided on the id patterns ([`Template::pattern`]: placeholders as
//! `*`), which is also how a rule glob is checked to match something ([`could_match`]).

use std::collections::BTreeMap;

use super::ident::MAX_ID_BYTES;
use super::SeriesConfig;

/// The word used for the measure in placeholders (`{measure}`, `{measure.title}`).
pub const MEASURE: &str = "measure";

/// Listed keys are expanded when `check` compares ids, up to this many combinations; past
/// it they count as open (a looser but still sound check).
const MAX_LISTED_COMBINATIONS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("unclosed '{{' in {0:?}")]
    Unclosed(String),
    #[error("unknown placeholder {{{name}}}: {why}")]
    Placeholder { name: String, why: String },
    #[error("the id must contain {{{0}}}, or every expanded series would get the same id")]
    MissingKey(String),
    #[error("two keys of the group give the same id {0:?}")]
    Collision(String),
}

/// Which keys an open or listed dimension (or measure) stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keys {
    /// `"*"`: every key the table has, at each poll.
    All,
    /// These keys (trimmed), those the table has.
    List(Vec<String>),
}

impl Keys {
    pub fn wants(&self, key: &str) -> bool {
        match self {
            Keys::All => true,
            Keys::List(l) => l.iter().any(|k| k == key.trim()),
        }
    }
}

/// What makes a `[[series]]` entry a group: its open or listed selectors and its templates.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Open or listed dimensions (the pinned ones stay in `SeriesConfig::dimensions`).
    pub dims: BTreeMap<String, Keys>,
    /// An open or listed measure (`SeriesConfig::measure` is then empty).
    pub measure: Option<Keys>,
    pub id: Template,
    pub title: Template,
}

/// One key a source found for a dimension or the measure: the trimmed key and its title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub key: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Key(String),
    Title(String),
}

/// An id or title with `{DIM}`, `{DIM.title}`, `{measure}` and `{measure.title}` in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`; every placeholder must name one of `names` (the open or listed
    /// dimensions, and `measure` when the measure is open).
    pub fn parse(text: &str, names: &[&str]) -> Result<Template, GroupError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find('}') else {
                return Err(GroupError::Unclosed(text.to_string()));
            };
            let inner = &rest[open + 1..open + close];
            let (name, title) = match inner.strip_suffix(".title") {
                Some(n) => (n, true),
                None => (inner, false),
            };
            if !names.contains(&name) {
                return Err(GroupError::Placeholder {
                    name: inner.to_string(),
                    why: format!(
                        "placeholders name an open or listed dimension or measure ({})",
                        if names.is_empty() {
                            "this entry has none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                });
            }
            parts.push(if title {
                Part::Title(name.to_string())
            } else {
                Part::Key(name.to_string())
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// Whether `{name}` (the key, not the title) appears.
    pub fn has_key(&self, name: &str) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Key(n) if n == name))
    }

    /// Fills the placeholders from the chosen keys.
    pub fn render(&self, chosen: &BTreeMap<String, Choice>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Key(n) => out.push_str(chosen.get(n).map_or("", |c| &c.key)),
                Part::Title(n) => out.push_str(chosen.get(n).map_or("", |c| &c.title)),
            }
        }
        out
    }

    /// The ids this template can produce, as a pattern (placeholders as `*`).
    pub fn pattern(&self) -> Pattern {
        let mut toks = Vec::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => toks.extend(s.chars().map(Tok::Lit)),
                Part::Key(_) | Part::Title(_) => toks.push(Tok::Any),
            }
        }
        Pattern(toks)
    }

    /// The keys in `id` if this template can produce it (`{DIM.title}` parts are skipped
    /// over). The first way to split `id` wins (each placeholder as short as the rest
    /// allows); ids are checked not to be ambiguous. Ids come from page and control-socket
    /// clients: one longer than [`MAX_ID_BYTES`] is no series, and the work is linear in the
    /// id's length (per part of the template), never a search over the ways to split it.
    pub fn captures(&self, id: &str) -> Option<BTreeMap<String, String>> {
        self.captures_counted(id, &mut 0)
    }

    /// [`Template::captures`], adding one to `steps` per position of the id it looks at.
    fn captures_counted(&self, id: &str, steps: &mut usize) -> Option<BTreeMap<String, String>> {
        if id.len() > MAX_ID_BYTES {
            return None;
        }
        let fits = self.fits(id, steps);
        if !fits[0][0] {
            return None;
        }
        let mut out = BTreeMap::new();
        let mut at = 0;
        for (p, part) in self.parts.iter().enumerate() {
            match part {
                Part::Lit(l) => at += l.len(),
                Part::Key(n) | Part::Title(n) => {
                    let mut end = at + 1;
                    while !(id.is_char_boundary(end) && fits[p + 1][end]) {
                        *steps += 1;
                        end += 1;
                    }
                    if let Part::Key(_) = part {
                        out.insert(n.clone(), id[at..end].to_string());
                    }
                    at = end;
                }
            }
        }
        Some(out)
    }

    /// `fits[p][i]`: the parts from `p` on can produce `id[i..]`. Filled from the last part
    /// back, one pass over the id per part.
    fn fits(&self, id: &str, steps: &mut usize) -> Vec<Vec<bool>> {
        let (n, bytes) = (id.len(), id.as_bytes());
        let mut fits = vec![vec![false; n + 1]; self.parts.len() + 1];
        fits[self.parts.len()][n] = true;
        for (p, part) in self.parts.iter().enumerate().rev() {
            // A placeholder takes at least one character: a run ending past `i` must fit.
            let mut later = false;
            for i in (0..=n).rev() {
                *steps += 1;
                fits[p][i] = match part {
                    // A literal starts with a whole character, so a match starts on one too.
                    Part::Lit(l) => {
                        bytes[i..].starts_with(l.as_bytes()) && fits[p + 1][i + l.len()]
                    }
                    Part::Key(_) | Part::Title(_) => later,
                };
                later |= id.is_char_boundary(i) && fits[p + 1][i];
            }
        }
        fits
    }
}

/// A pattern over ids: literal characters, `*` (any run) and `?` (any one character).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(Vec<Tok>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    One,
    Any,
}

impl Pattern {
    /// A concrete id.
    pub fn literal(id: &str) -> Pattern {
        Pattern(id.chars().map(Tok::Lit).collect())
    }

    /// A rule's series glob, widened where it is richer than `*` and `?` (a class or an
    /// alternation becomes `*`): a glob that could match an expanded id is never refused.
    pub fn from_glob(glob: &str) -> Pattern {
        let mut toks = Vec::new();
        let mut chars = glob.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => toks.push(Tok::Any),
                '?' => toks.push(Tok::One),
                '[' | '{' => {
                    let close = if c == '[' { ']' } else { '}' };
                    for d in chars.by_ref() {
                        if d == close {
                            break;
                        }
                    }
                    toks.push(Tok::Any);
                }
                '\\' => toks.push(Tok::Lit(chars.next().unwrap_or('\\'))),
                c => toks.push(Tok::Lit(c)),
            }
        }
        Pattern(toks)
    }

    /// Whether some id matches both patterns.
    pub fn intersects(&self, other: &Pattern) -> bool {
        let (a, b) = (&self.0, &other.0);
        // reach[i][j]: the first i tokens of a and j of b can produce one common string.
        let mut reach = vec![vec![false; b.len() + 1]; a.len() + 1];
        reach[0][0] = true;
        for i in 0..=a.len() {
            for j in 0..=b.len() {
                if !reach[i][j] {
                    continue;
                }
                if let Some(Tok::Any) = a.get(i) {
                    reach[i + 1][j] = true;
                    if j < b.len() {
                        reach[i][j + 1] = true;
                    }
                }
                if let Some(Tok::Any) = b.get(j) {
                    reach[i][j + 1] = true;
                    if i < a.len() {
                        reach[i + 1][j] = true;
                    }
                }
                if let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
                    let one = |t: &Tok| !matches!(t, Tok::Any);
                    let same = match (x, y) {
                        (Tok::Lit(p), Tok::Lit(q)) => p == q,
                        _ => one(x) && one(y),
                    };
                    if same {
                        reach[i + 1][j + 1] = true;
                    }
                }
            }
        }
        reach[a.len()][b.len()]
    }
}

impl SeriesConfig {
    /// The ids this entry can stand for (one literal id unless it is a group). Listed keys
    /// are put in, so two groups over different listed keys do not look alike.
    pub fn patterns(&self) -> Vec<Pattern> {
        let Some(g) = &self.group else {
            return vec![Pattern::literal(&self.id)];
        };
        let listed: Vec<(&str, &Vec<String>)> = g
            .dims
            .iter()
            .map(|(d, k)| (d.as_str(), k))
            .chain(g.measure.as_ref().map(|k| (MEASURE, k)))
            .filter_map(|(d, k)| match k {
                Keys::List(l) => Some((d, l)),
                Keys::All => None,
            })
            .collect();
        let combos: usize = listed.iter().map(|(_, l)| l.len().max(1)).product();
        if listed.is_empty() || combos > MAX_LISTED_COMBINATIONS {
            return vec![g.id.pattern()];
        }
        let mut partial = vec![g.id.clone()];
        for (name, keys) in listed {
            partial = partial
                .iter()
                .flat_map(|t| keys.iter().map(move |k| t.fill_key(name, k)))
                .collect();
        }
        partial.iter().map(Template::pattern).collect()
    }

    /// Whether a stored or asked-for id belongs to this entry.
    pub fn produces(&self, id: &str) -> bool {
        match &self.group {
            None => self.id == id,
            Some(g) => g.id.captures(id).is_some_and(|keys| {
                keys.iter().all(|(name, key)| {
                    let sel = if name == MEASURE {
                        g.measure.as_ref()
                    } else {
                        g.dims.get(name)
                    };
                    sel.is_none_or(|k| k.wants(key))
                })
            }),
        }
    }

    /// One concrete series per combination of the chosen keys (`choices`: per open or
    /// listed dimension, and `measure`, the keys the table has that the entry wants).
    /// A plain entry comes back as it is.
    pub fn expand(
        &self,
        choices: &BTreeMap<String, Vec<Choice>>,
    ) -> Result<Vec<SeriesConfig>, GroupError> {
        let Some(g) = &self.group else {
            return Ok(vec![self.clone()]);
        };
        let mut combos: Vec<BTreeMap<String, Choice>> = vec![BTreeMap::new()];
        for (name, list) in choices {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    list.iter().map(move |choice| {
                        let mut c = c.clone();
                        c.insert(name.clone(), choice.clone());
                        c
                    })
                })
                .collect();
        }
        let mut out: Vec<SeriesConfig> = Vec::with_capacity(combos.len());
        let mut seen = std::collections::BTreeSet::new();
        for chosen in combos {
            let id = g.id.render(&chosen);
            if !seen.insert(id.clone()) {
                return Err(GroupError::Collision(id));
            }
            let mut s = self.clone();
            s.group = None;
            s.template = Some(self.id.clone());
            s.title = g.title.render(&chosen);
            s.id = id;
            for (name, c) in &chosen {
                if name == MEASURE {
                    s.measure = c.key.clone();
                } else {
                    s.dimensions.insert(name.clone(), c.key.clone());
                }
            }
            out.push(s);
        }
        Ok(out)
    }
}

impl Template {
    /// Puts a known key in for `{name}`, leaving the rest as it is (the title of that key is
    /// unknown here, so `{name.title}` stays open).
    fn fill_key(&self, name: &str, key: &str) -> Template {
        Template {
            parts: self
                .parts
                .iter()
                .map(|p| match p {
                    Part::Key(n) if n == name => Part::Lit(key.to_string()),
                    other => other.clone(),
                })
                .collect(),
        }
    }
}

/// Whether `glob` (a rule's series) could match some series of `series`, expanded ids
/// included.
pub fn could_match(glob: &str, series: &[SeriesConfig]) -> bool {
    let p = Pattern::from_glob(glob);
    series
        .iter()
        .any(|s| s.patterns().iter().any(|q| p.intersects(q)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Template {
        Template::parse(s, &["D", "measure"]).unwrap()
    }

    #[test]
    fn templates_render_and_capture() {
        let tpl = t("nl.{D}.{measure}: {D.title}");
        let chosen: BTreeMap<String, Choice> = [
            (
                "D".to_string(),
                Choice {
                    key: "307500".into(),
                    title: "C Industrie".into(),
                },
            ),
            (
                "measure".to_string(),
                Choice {
                    key: "M1".into(),
                    title: "y/y".into(),
                },
            ),
        ]
        .into();
        assert_eq!(tpl.render(&chosen), "nl.307500.M1: C Industrie");
        let keys = t("nl.{D}.yoy").captures("nl.344400.yoy").unwrap();
        assert_eq!(keys["D"], "344400");
        assert!(t("nl.{D}.yoy").captures("nl.yoy").is_none());
        assert!(Template::parse("x.{E}", &["D"]).is_err());
        assert!(Template::parse("x.{D", &["D"]).is_err());
    }

    #[test]
    fn patterns_intersect_when_some_id_fits_both() {
        let g = t("nl.{D}.yoy").pattern();
        assert!(g.intersects(&Pattern::literal("nl.307500.yoy")));
        assert!(!g.intersects(&Pattern::literal("nl.307500.mom")));
        assert!(g.intersects(&Pattern::from_glob("nl.*.yoy")));
        assert!(g.intersects(&Pattern::from_glob("nl.3?????.*")));
        assert!(!g.intersects(&Pattern::from_glob("de.*")));
        assert!(t("a.{D}").pattern().intersects(&t("{D}.b").pattern()));
        assert!(!t("a.{D}.x").pattern().intersects(&t("b.{D}").pattern()));
    }

    #[test]
    fn captures_take_each_placeholder_as_short_as_the_rest_allows() {
        let keys = t("{D}.{measure}").captures("a.b.c").unwrap();
        assert_eq!((keys["D"].as_str(), keys["measure"].as_str()), ("a", "b.c"));
        let keys = t("x{D}y{measure}").captures("xéyyé").unwrap();
        assert_eq!((keys["D"].as_str(), keys["measure"].as_str()), ("é", "yé"));
        assert!(t("{D}{measure}").captures("a").is_none());
        assert!(t("a.{D}").captures("a.").is_none());
    }

    /// A 3-key template against an id that almost fits everywhere: backtracking over the
    /// ways to split it took cubic time (1,600 characters: 6.5 s); this is a few passes.
    #[test]
    fn capturing_a_hostile_id_is_linear_in_its_length() {
        let tpl = Template::parse("nl.{A}.{B}.{C}.x", &["A", "B", "C"]).unwrap();
        for len in [100, 200, MAX_ID_BYTES] {
            let id = format!("nl.{}y", "a.".repeat((len - 4) / 2));
            let mut steps = 0;
            assert!(tpl.captures_counted(&id, &mut steps).is_none());
            let bound = 2 * (tpl.parts.len() + 1) * (id.len() + 1);
            assert!(steps <= bound, "{steps} steps for {} bytes", id.len());
        }
        let fits = format!("nl.{}.x", "a.".repeat(200) + "b");
        let mut steps = 0;
        let keys = tpl.captures_counted(&fits, &mut steps).unwrap();
        assert_eq!((keys["A"].as_str(), keys["B"].as_str()), ("a", "a"));
        assert!(
            steps <= 2 * (tpl.parts.len() + 1) * (fits.len() + 1),
            "{steps}"
        );
        let long = format!("nl.a.b.{}.x", "c".repeat(MAX_ID_BYTES));
        assert!(tpl.captures(&long).is_none(), "longer than any id");
    }
}
