//! `statwatch check --online`: every watched table's metadata (never its data) asked of its
//! source, and every series and group resolved against it: the measure, every pinned key,
//! every listed key. What does not resolve is named with the closest existing keys.

use std::collections::BTreeMap;

use crate::config::{Config, SeriesConfig};
use crate::sources::meta::{resolve, TableMeta};
use crate::sources::{FetchError, HttpError, Source};

use super::{print, CliError};

/// What a discontinued table means for whoever would watch it.
pub(super) const DISCONTINUED: &str =
    "DISCONTINUED: this table gets no new data; find its successor with `statwatch tables`";

/// One table's metadata from a configured source.
pub(super) async fn metadata(
    config: &Config,
    source: &str,
    table: &str,
) -> Result<TableMeta, CliError> {
    let cfg = &config.sources[source];
    let s = Source::new(cfg).map_err(|e| CliError::Runtime(format!("{source}: {e}")))?;
    s.describe(source, table)
        .await
        .map_err(|e| CliError::Runtime(format!("{source} {table}: {e}")))
}

/// Resolves every series of every source; whether all resolved and every source answered.
pub async fn check_online(config: &Config) -> Result<bool, CliError> {
    let mut ok = true;
    for (name, cfg) in &config.sources {
        let mut tables: BTreeMap<&str, Vec<&SeriesConfig>> = BTreeMap::new();
        for s in config.series.iter().filter(|s| &s.source == name) {
            tables.entry(s.table.as_str()).or_default().push(s);
        }
        if tables.is_empty() {
            continue;
        }
        let source = Source::new(cfg).map_err(|e| CliError::Runtime(format!("{name}: {e}")))?;
        for (table, series) in tables {
            match source.describe(name, table).await {
                Ok(meta) => ok &= report(name, &meta, &series),
                Err(e) if unreachable(&e) => {
                    // One unreachable server is named once, not once per table.
                    print(format!("online     source {name} cannot be reached: {e}"));
                    ok = false;
                    break;
                }
                Err(e) => {
                    print(format!("online     {name} {table}: no metadata: {e}"));
                    ok = false;
                }
            }
        }
    }
    Ok(ok)
}

/// The server did not answer at all (no connection, no complete answer): its other tables
/// would only fail the same way.
fn unreachable(e: &FetchError) -> bool {
    matches!(
        e,
        FetchError::Http {
            err: HttpError::Connect { .. } | HttpError::Timeout(_) | HttpError::Body(_),
            ..
        }
    )
}

/// Prints one line for a table whose series all resolve, else one per unresolved part.
fn report(source: &str, meta: &TableMeta, series: &[&SeriesConfig]) -> bool {
    let problems: Vec<_> = series.iter().flat_map(|s| resolve(s, meta)).collect();
    if meta.discontinued {
        // Its series resolve, but a poll fails on the table: it is not watchable.
        print(format!(
            "online     {source} {}: {} series on it; {}",
            meta.id,
            series.len(),
            DISCONTINUED
        ));
    }
    if problems.is_empty() && !meta.discontinued {
        print(format!(
            "online     {source} {}: {} series resolve ({})",
            meta.id,
            series.len(),
            meta.title
        ));
        return true;
    }
    for p in &problems {
        let closest: Vec<String> = p
            .candidates
            .iter()
            .map(|c| format!("{} ({})", c.key, c.title))
            .collect();
        print(format!(
            "online     {source} {}: series {}: {}; closest: {}",
            meta.id,
            p.series,
            p.missing,
            if closest.is_empty() {
                "none".to_string()
            } else {
                closest.join(", ")
            }
        ));
    }
    false
}
