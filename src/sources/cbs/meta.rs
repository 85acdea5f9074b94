//! CBS tables without their data: the catalogue search behind `statwatch tables`, and one
//! table's metadata (`TableInfos`, `DataProperties`, each dimension's entity set) behind
//! `describe` and `check --online`.
//!
//! The search downloads `ODataCatalog/Tables` once with a narrow `$select` (seven fields of
//! some 6,000 rows: a few MB) and keeps it under the state directory for a day, then matches
//! the words here. Server-side `substringof` was the other choice; it was not taken because
//! the contract's match (every word, case-insensitively, in `Identifier`, `Title` or
//! `ShortTitle`) would need one `tolower` clause per word and field, whose behaviour on
//! StatLine's engine is unverified, while a local match is exact, and a second search costs
//! no request at all. A catalogue that cannot be reached falls back to an older copy, said so.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use super::{Cbs, DataProperty, TableInfo};
use crate::sources::meta::{Dimension, Found, KeyTitle, Measure, TableMeta};
use crate::sources::FetchError;

/// The catalogue fields a search shows and matches on.
const SELECT: &str = "Identifier,Title,ShortTitle,Frequency,Period,Modified,OutputStatus";
/// How long a downloaded catalogue is searched before it is fetched again.
const FRESH_FOR: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The catalogue as kept under the state directory.
#[derive(Serialize, Deserialize)]
struct Cached {
    /// The catalogue of another server (a changed base_url) is not reused.
    base_url: String,
    fetched: DateTime<Utc>,
    tables: Vec<TableInfo>,
}

impl Cbs {
    /// Every catalogue table whose `Identifier`, `Title` or `ShortTitle` holds each of
    /// `words` (case-insensitively); `source` names the hits.
    pub async fn search(
        &self,
        source: &str,
        words: &[String],
        state_dir: &Path,
    ) -> Result<Vec<Found>, FetchError> {
        let words: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
        let rows = self.catalogue_rows(source, state_dir).await?;
        Ok(rows
            .into_iter()
            .filter(|t| {
                let fields = [
                    Some(&t.identifier),
                    t.title.as_ref(),
                    t.short_title.as_ref(),
                ];
                let text: Vec<String> = fields.iter().flatten().map(|f| f.to_lowercase()).collect();
                words.iter().all(|w| text.iter().any(|f| f.contains(w)))
            })
            .map(|t| Found {
                source: source.to_string(),
                discontinued: super::catalogue::discontinued(&t),
                title: t.title.or(t.short_title).unwrap_or_default(),
                id: t.identifier,
                frequency: t.frequency,
                period: t.period,
                modified: Some(t.modified),
                status: t.output_status,
            })
            .collect())
    }

    /// The catalogue's rows: the copy under `state_dir` while it is fresh, else a new
    /// download (kept for the next search), else a stale copy when the download fails.
    async fn catalogue_rows(
        &self,
        source: &str,
        state_dir: &Path,
    ) -> Result<Vec<TableInfo>, FetchError> {
        let path = cache_path(state_dir, source);
        let base = self.pages.base.to_string();
        let cached = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Cached>(&b).ok())
            .filter(|c| c.base_url == base);
        if let Some(c) = &cached {
            if Utc::now() - c.fetched < FRESH_FOR {
                debug!(path = %path.display(), "CBS catalogue from the local copy");
                return Ok(cached.map(|c| c.tables).unwrap_or_default());
            }
        }
        let mut url = self.pages.base.clone();
        url.path_segments_mut()
            .expect("http(s) URLs have paths")
            .pop_if_empty()
            .extend(["ODataCatalog", "Tables"]);
        url.query_pairs_mut()
            .append_pair("$format", "json")
            .append_pair("$select", SELECT);
        match self
            .pages
            .get_all::<TableInfo>(url, "ODataCatalog/Tables")
            .await
        {
            Ok(tables) => {
                let fresh = Cached {
                    base_url: base,
                    fetched: Utc::now(),
                    tables,
                };
                if let Err(e) = write_cache(&path, &fresh) {
                    warn!(path = %path.display(), error = %e, "cannot keep the CBS catalogue; the next search downloads it again");
                }
                Ok(fresh.tables)
            }
            Err(e) => match cached {
                Some(c) => {
                    warn!(error = %e, fetched = %c.fetched, "the CBS catalogue cannot be reached: searching the copy from then");
                    Ok(c.tables)
                }
                None => Err(e),
            },
        }
    }

    /// The table's metadata: `TableInfos` (title, status, frequency, period),
    /// `DataProperties` (dimensions and topics) and every dimension's keys. No data.
    pub async fn describe(&self, source: &str, table: &str) -> Result<TableMeta, FetchError> {
        let info: TableInfo = self
            .pages
            .get_all(self.url(table, "TableInfos", &[]), "TableInfos")
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| FetchError::Schema("TableInfos is empty".into()))?;
        let props = self.data_properties(table).await?.ok_or_else(|| {
            FetchError::Schema("the server has no DataProperties for this table".into())
        })?;
        let mut dimensions = Vec::new();
        for p in props.iter().filter(|p| p.is_dimension()) {
            let values = self
                .dimension_keys(table, &p.key)
                .await?
                .into_iter()
                .map(|k| KeyTitle {
                    title: k.title.unwrap_or_else(|| k.key.trim().to_string()),
                    key: k.key.trim().to_string(),
                })
                .collect();
            dimensions.push(Dimension {
                key: p.key.clone(),
                title: title_of(p),
                values,
            });
        }
        let measures = props
            .iter()
            .filter(|p| p.kind == "Topic")
            .map(|p| Measure {
                key: p.key.clone(),
                title: title_of(p),
                unit: p.unit.clone().filter(|u| !u.trim().is_empty()),
                numeric: p
                    .datatype
                    .as_deref()
                    .is_none_or(|t| !t.eq_ignore_ascii_case("string")),
            })
            .collect();
        Ok(TableMeta {
            discontinued: super::catalogue::discontinued(&info),
            source: source.to_string(),
            id: table.to_string(),
            title: info.title.or(info.short_title).unwrap_or_default(),
            status: info.output_status,
            frequency: info.frequency,
            period: info.period,
            dimensions,
            measures,
            pin_all: true,
            variable_values: false,
        })
    }
}

fn title_of(p: &DataProperty) -> String {
    p.title.clone().unwrap_or_else(|| p.key.clone())
}

/// Where a source's catalogue is kept: one file per source name (made file-name safe).
fn cache_path(state_dir: &Path, source: &str) -> PathBuf {
    let safe: String = source
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    state_dir.join(format!("cbs-catalogue-{safe}.json"))
}

/// Writes the copy whole or not at all (a new file renamed over the old one).
fn write_cache(path: &Path, c: &Cached) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(c).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, path)
}
