//! GENESIS tables without their data: the search behind `statwatch tables` (`find/find` for
//! words, `catalogue/tables` for a code pattern such as `42153*`) and one table's metadata
//! behind `describe` and `check --online`.
//!
//! `metadata/table` names the table's variables (`Structure`: `Head`, `Columns`, `Rows`,
//! nested) but neither their values nor which of them hold the figures. Each variable that is
//! not the time axis is then asked for its values (`catalogue/values2variable`): a
//! classification answers with its attributes (a dimension), a value variable with none
//! (status 104: a measure). The values are the variable's, which a table may use only part
//! of; GENESIS gives no per-table list without the data. No answer gives a value variable's
//! unit (it arrives with the data as `value_unit`): the unit stays unknown here.

use serde::Deserialize;
use serde_json::Value;

use super::envelope::{status_error, Code, EnvelopeError, Status};
use super::{Destatis, PAGE_LENGTH};
use crate::sources::http::snippet;
use crate::sources::meta::{Dimension, Found, KeyTitle, Measure, TableMeta};
use crate::sources::FetchError;

/// Results a word search asks for (GENESIS' own clients ask 100 to 500).
const FIND_PAGE: &str = "100";

/// One `{Code, Content, Time}` entry of `find/find`'s `Tables` or `catalogue/tables`' `List`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    code: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    time: Option<Value>,
}

/// The parts of a `find/find` or `metadata/table` answer read here.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    status: Status,
    /// `find/find`: `null` when nothing matched.
    #[serde(default)]
    tables: Option<Vec<Entry>>,
    /// `metadata/table`.
    #[serde(default)]
    object: Option<Value>,
}

/// A code pattern (digits, `-`, `*`, at most 15 characters with a digit first) goes to
/// `catalogue/tables`; anything else is a word search.
fn is_code_pattern(words: &[String]) -> bool {
    matches!(words, [w] if w.len() <= 15
        && w.starts_with(|c: char| c.is_ascii_digit())
        && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*'))
}

/// GENESIS breaks long titles with `\n`: one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Destatis {
    /// One service call whose envelope is read whole; 0 and 22 are answers, 104 is `None`.
    async fn ask(
        &self,
        endpoint: &str,
        form: &[(&str, String)],
    ) -> Result<Option<Answer>, FetchError> {
        let reply = self.post(endpoint, form).await?;
        let a: Answer =
            serde_json::from_slice(&reply.body).map_err(|e| EnvelopeError::NotAnEnvelope {
                endpoint: endpoint.to_string(),
                reason: e.to_string(),
                snippet: snippet(&reply.body),
            })?;
        match a.status.code() {
            Some(Code::Ok | Code::Adjusted) => Ok(Some(a)),
            Some(Code::NoMatch) => Ok(None),
            _ => Err(self.scrubbed(status_error(&a.status))),
        }
    }

    /// The tables GENESIS finds for `words`, or lists for a code pattern.
    pub async fn search(&self, source: &str, words: &[String]) -> Result<Vec<Found>, FetchError> {
        self.need_credentials()?;
        let lang = self.language.clone();
        let entries: Vec<Entry> = if is_code_pattern(words) {
            let list = self
                .catalogue(
                    "catalogue/tables",
                    &[
                        ("selection", words[0].clone()),
                        ("area", "all".into()),
                        ("searchcriterion", "code".into()),
                        ("pagelength", PAGE_LENGTH.into()),
                        ("language", lang),
                    ],
                )
                .await?;
            list.unwrap_or_default()
                .into_iter()
                .filter_map(|v| serde_json::from_value(v).ok())
                .collect()
        } else {
            let form = [
                ("term", words.join(" ")),
                ("category", "tables".into()),
                ("pagelength", FIND_PAGE.into()),
                ("language", lang),
            ];
            let answer = self.ask("find/find", &form).await?;
            answer.and_then(|a| a.tables).unwrap_or_default()
        };
        Ok(entries
            .into_iter()
            .map(|e| Found {
                source: source.to_string(),
                id: e.code,
                title: one_line(e.content.as_deref().unwrap_or("")),
                frequency: None,
                period: e
                    .time
                    .as_ref()
                    .and_then(Value::as_str)
                    .filter(|t| !t.trim().is_empty())
                    .map(one_line),
                modified: None,
                status: None,
                discontinued: false,
            })
            .collect())
    }

    /// The table's metadata: `metadata/table`, then the values of each of its variables.
    pub async fn describe(&self, source: &str, table: &str) -> Result<TableMeta, FetchError> {
        self.need_credentials()?;
        let form = [
            ("name", table.to_string()),
            ("area", "all".into()),
            ("language", self.language.clone()),
        ];
        let object = self
            .ask("metadata/table", &form)
            .await?
            .and_then(|a| a.object)
            .ok_or_else(|| {
                FetchError::Api(format!("GENESIS has no table {table} (metadata/table)"))
            })?;
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(one_line);
        let mut vars = Vec::new();
        if let Some(s) = object.get("Structure") {
            for part in ["Head", "Columns", "Rows"] {
                variables(s.get(part), &mut vars);
            }
        }
        let mut dimensions = Vec::new();
        let mut measures = Vec::new();
        for (code, title) in vars {
            match self.values_of(&code).await? {
                Some(values) => dimensions.push(Dimension {
                    key: code,
                    title,
                    values,
                }),
                None => measures.push(Measure {
                    key: code,
                    title,
                    unit: None,
                    numeric: true,
                }),
            }
        }
        let time = object.get("Time");
        let period = match (text_at(time, "From"), text_at(time, "To")) {
            (Some(f), Some(t)) => Some(format!("{f} - {t}")),
            _ => None,
        };
        Ok(TableMeta {
            source: source.to_string(),
            id: table.to_string(),
            title: text(&object, "Content").unwrap_or_default(),
            status: text(&object, "Updated").map(|u| format!("updated {u}")),
            frequency: None,
            period,
            dimensions,
            measures,
            pin_all: false,
            variable_values: true,
            // A table GENESIS no longer has answers no metadata at all.
            discontinued: false,
        })
    }

    /// A variable's values, or `None` for a value variable (GENESIS lists none for it).
    async fn values_of(&self, variable: &str) -> Result<Option<Vec<KeyTitle>>, FetchError> {
        let list = self
            .catalogue(
                "catalogue/values2variable",
                &[
                    ("name", variable.to_string()),
                    ("area", "all".into()),
                    ("pagelength", PAGE_LENGTH.into()),
                    ("language", self.language.clone()),
                ],
            )
            .await?;
        Ok(list.filter(|l| !l.is_empty()).map(|l| {
            l.into_iter()
                .filter_map(|v| serde_json::from_value::<Entry>(v).ok())
                .map(|e| KeyTitle {
                    title: one_line(e.content.as_deref().unwrap_or(&e.code)),
                    key: e.code,
                })
                .collect()
        }))
    }
}

fn text_at(v: Option<&Value>, k: &str) -> Option<String> {
    v?.get(k)?.as_str().filter(|s| !s.is_empty()).map(one_line)
}

/// The time axis and its refinements: the period of a cell, never a dimension of a series.
fn is_time(code: &str) -> bool {
    matches!(code, "JAHR" | "STAG" | "HALBJ")
        || code.starts_with("MONAT")
        || code.starts_with("QUART")
}

/// Every variable (`Type` "Merkmal") under `node`, depth first, without the time axis.
fn variables(node: Option<&Value>, out: &mut Vec<(String, String)>) {
    let nodes: Vec<&Value> = match node {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => return,
    };
    for n in nodes {
        let code = n.get("Code").and_then(Value::as_str).unwrap_or("");
        let kind = n.get("Type").and_then(Value::as_str).unwrap_or("");
        if kind == "Merkmal" && !is_time(code) && !out.iter().any(|(c, _)| c == code) {
            let title = n.get("Content").and_then(Value::as_str).unwrap_or(code);
            out.push((code.to_string(), one_line(title)));
        }
        variables(n.get("Structure"), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_metadata_gives_its_variables_without_the_time_axis() {
        let text =
            include_str!("../../../tests/fixtures/destatis/metadata_table_61111-0021_de.json");
        let a: Answer = serde_json::from_str(text).unwrap();
        let s = a.object.unwrap()["Structure"].clone();
        let mut vars = Vec::new();
        for part in ["Head", "Columns", "Rows"] {
            variables(s.get(part), &mut vars);
        }
        let codes: Vec<&str> = vars.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(codes, ["PRE034", "DLAND"]);
    }

    #[test]
    fn a_code_pattern_goes_to_the_catalogue() {
        let w = |s: &str| vec![s.to_string()];
        assert!(is_code_pattern(&w("42153*")));
        assert!(is_code_pattern(&w("42153-0001")));
        assert!(!is_code_pattern(&w("produktion")));
        assert!(!is_code_pattern(&["42153".into(), "index".into()]));
    }

    #[test]
    fn recorded_find_answers_read() {
        let a: Answer = serde_json::from_str(include_str!(
            "../../../tests/fixtures/destatis/find_find_forst_de.json"
        ))
        .unwrap();
        let t = a.tables.unwrap();
        assert_eq!(t.len(), 40);
        assert_eq!(t[0].code, "12211-0009");
        let empty: Answer = serde_json::from_str(include_str!(
            "../../../tests/fixtures/destatis/find_find_zensus_de.json"
        ))
        .unwrap();
        assert!(empty.tables.is_none());
    }
}
