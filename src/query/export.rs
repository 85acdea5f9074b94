//! `statwatch export [GLOB] [--vintages]`: the store as CSV, one row per stored observation
//! (its latest value), and with `--vintages` one row per earlier value too, with the time it
//! was replaced: every first print and every revision, as ALFRED shows them.

use chrono::{DateTime, SecondsFormat, Utc};
use globset::Glob;

use super::QueryError;
use crate::config::ident;
use crate::model::StoredObservation;
use crate::store::Store;

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The CSV text. Series come in id order, periods oldest first, and with `--vintages` each
/// period's values oldest first, so a value's rows read as its history. The `#level`
/// records of derived series are internal and left out.
pub(super) fn csv(store: &Store, glob: Option<&str>, vintages: bool) -> Result<String, QueryError> {
    let matcher = glob
        .map(|g| {
            Glob::new(g)
                .map(|g| g.compile_matcher())
                .map_err(|e| QueryError::Argument(format!("invalid glob {g:?}: {e}")))
        })
        .transpose()?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["series", "period", "value", "status", "first_seen"];
    if vintages {
        header.push("vintage");
    }
    write(&mut w, &header)?;
    for id in store.series_ids()? {
        if ident::is_level_id(&id) || matcher.as_ref().is_some_and(|m| !m.is_match(&id)) {
            continue;
        }
        for o in store.observations(&id)? {
            rows(&mut w, &id, &o, vintages)?;
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| QueryError::Store(format!("cannot write CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| QueryError::Store(format!("cannot write CSV: {e}")))
}

/// One observation's rows. With vintages, `first_seen` is when that value was first seen and
/// `vintage` when it was replaced, so each row is the interval the value stood; without,
/// `first_seen` is when the period was first published, as in `series ID`.
fn rows(
    w: &mut csv::Writer<Vec<u8>>,
    id: &str,
    o: &StoredObservation,
    vintages: bool,
) -> Result<(), QueryError> {
    let period = o.period.to_string();
    if !vintages {
        let value = o.value.to_string();
        let first = time(o.first_seen);
        return write(w, &[id, &period, &value, &o.status, &first]);
    }
    for (i, v) in o.revisions.iter().enumerate() {
        // Each earlier value stood until the next one was seen.
        let replaced = o.revisions.get(i + 1).map_or(o.value_seen, |n| n.seen_at);
        let value = v.value.to_string();
        let (seen, replaced) = (time(v.seen_at), time(replaced));
        write(w, &[id, &period, &value, &v.status, &seen, &replaced])?;
    }
    let value = o.value.to_string();
    let seen = time(o.value_seen);
    write(w, &[id, &period, &value, &o.status, &seen, "latest"])
}

fn write(w: &mut csv::Writer<Vec<u8>>, record: &[&str]) -> Result<(), QueryError> {
    w.write_record(record)
        .map_err(|e| QueryError::Store(format!("cannot write CSV: {e}")))
}
