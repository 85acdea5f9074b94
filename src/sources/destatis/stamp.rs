//! Change stamps from the GENESIS catalogue: the statistic of a table, the newest cube
//! `LatestUpdate`, the newest `modifieddata` date; each as a language-independent string.

use std::collections::BTreeSet;

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::Value;

use crate::sources::FetchError;

/// The statistic a table belongs to: `42153-0001` -> `42153`.
pub(crate) fn statistic_code(table: &str) -> Result<&str, FetchError> {
    let stat = table.trim().split('-').next().unwrap_or("");
    if stat.is_empty() || !stat.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(FetchError::Schema(format!(
            "{table:?} is not a GENESIS table code like 42153-0001"
        )));
    }
    Ok(stat)
}

/// The newest `LatestUpdate` of a cube list (`18.04.2024 13:34:49h`, or ISO in English),
/// as a language-independent stamp.
pub(crate) fn cubes_stamp(list: &[Value]) -> Option<String> {
    list.iter()
        .filter_map(|c| c.get("LatestUpdate")?.as_str())
        .filter_map(|s| {
            let s = s.trim().trim_end_matches('h').trim();
            NaiveDateTime::parse_from_str(s, "%d.%m.%Y %H:%M:%S")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S"))
                .ok()
        })
        .max()
        .map(|t| format!("cubes {}", t.format("%Y-%m-%d %H:%M:%S")))
}

/// The newest `Date` of a `catalogue/modifieddata` list, with what it says was added.
pub(crate) fn modified_stamp(list: &[Value]) -> Option<String> {
    let dated: Vec<(NaiveDate, &str)> = list
        .iter()
        .filter_map(|e| {
            let d = e.get("Date")?.as_str()?.trim();
            let date = NaiveDate::parse_from_str(d, "%d.%m.%Y")
                .or_else(|_| NaiveDate::parse_from_str(d, "%Y-%m-%d"))
                .ok()?;
            Some((date, e.get("Added").and_then(Value::as_str).unwrap_or("")))
        })
        .collect();
    let newest = dated.iter().map(|(d, _)| *d).max()?;
    let added: BTreeSet<&str> = dated
        .iter()
        .filter(|(d, _)| *d == newest)
        .map(|(_, a)| a.trim())
        .collect();
    Some(format!(
        "modifieddata {newest} {}",
        added.into_iter().collect::<Vec<_>>().join("/")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::destatis::envelope::{Code, Envelope};

    #[test]
    fn change_stamps_from_the_catalogue() {
        let env: Envelope = serde_json::from_str(include_str!(
            "../../../tests/fixtures/destatis/catalogue_cubes_611x_de.json"
        ))
        .unwrap();
        assert_eq!(
            cubes_stamp(&env.list.unwrap()).as_deref(),
            Some("cubes 2026-02-13 18:11:02")
        );
        let env: Envelope = serde_json::from_str(include_str!(
            "../../../tests/fixtures/destatis/catalogue_modifieddata_61111_status0.json"
        ))
        .unwrap();
        assert_eq!(
            modified_stamp(&env.list.unwrap()).as_deref(),
            Some("modifieddata 2026-02-17 Jan 2026")
        );
        let env: Envelope = serde_json::from_str(include_str!(
            "../../../tests/fixtures/destatis/catalogue_modifieddata_61234_status104.json"
        ))
        .unwrap();
        assert_eq!(env.status.code(), Some(Code::NoMatch));
        assert!(env.list.is_none());
        assert_eq!(statistic_code("42153-0001").unwrap(), "42153");
        assert!(statistic_code("../x").is_err());
    }
}
