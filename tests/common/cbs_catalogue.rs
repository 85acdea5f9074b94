//! The fake CBS server's `ODataCatalog/Tables`: one entry per fake table, with the
//! `$filter` (`Identifier eq '...' or ...`) and `$select` the client sends, in the OData v3
//! envelope the catalogue uses; without a `$filter`, the whole catalogue (as `tables`
//! downloads it).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::cbs_server::{FakeTable, TableMeta};
use super::odata_query::{matches_filter, parse_filter, project};

pub fn answer(
    tables: &HashMap<String, FakeTable>,
    meta: &HashMap<String, TableMeta>,
    params: &[(String, String)],
) -> (u16, String) {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let filter = parse_filter(get("$filter").unwrap_or(""));
    let select: Option<Vec<String>> =
        get("$select").map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let mut ids: Vec<&String> = tables.keys().collect();
    ids.sort();
    let value: Vec<Value> = ids
        .into_iter()
        .map(|id| {
            let t = &tables[id];
            let m = meta.get(id).cloned().unwrap_or_default();
            let title = m.title.unwrap_or_else(|| format!("Fake {id}"));
            let Value::Object(row) = json!({
                "ID": 0, "Updated": t.modified, "Identifier": id, "Title": title,
                "ShortTitle": title, "Language": "nl", "Catalog": "CBS",
                "Frequency": "Permaand", "Period": "2020-2026", "Modified": t.modified,
                "MetaDataModified": m.meta_modified.as_ref().unwrap_or(&t.modified),
                "ReasonDelivery": "Actualisering",
                "OutputStatus": t.output_status, "RecordCount": t.rows.len(),
            }) else {
                unreachable!()
            };
            row
        })
        .filter(|row: &Map<String, Value>| matches_filter(row, &filter))
        .map(|row| project(&row, select.as_deref()))
        .collect();
    let body = json!({
        "odata.metadata": "https://opendata.cbs.nl/ODataCatalog/$metadata#Tables",
        "value": value,
    });
    (200, body.to_string())
}
