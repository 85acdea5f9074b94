//! The CBS StatLine client, OData v3 (`/ODataApi/odata/{table}/`): the change check and the
//! download of one table, over `odata` (envelope, paging, errors) and `split` (rows -> series).
//!
//! Cheap check: one `ODataCatalog/Tables` request for every table of the source (see
//! `catalogue`), falling back to each table's `TableInfos` (`Modified`, `OutputStatus`). Data: one `TypedDataSet` request
//! per table with `$filter` on the series' dimension keys and the period years, and `$select`
//! of the needed measures, following `odata.nextLink` to the end; `Perioden` gives each
//! period's status. Dimension keys may be space-padded at CBS: the config's trimmed keys are
//! mapped to the exact keys through the dimension's own entity set.
//!
//! Bounds: a page is parsed as it is read (each row of `value` goes straight to the series
//! splitter, so memory stays near the size of the page's body), every entity set stops at
//! `max_rows_per_table` rows and a hundredth of that in pages, and nextLinks never leave the
//! configured origin (an absolute link to CBS's public host is re-based onto base_url).

mod catalogue;
mod meta;
mod odata;
mod split;
mod successor;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Datelike;
use serde::Deserialize;
use tracing::{debug, warn};
use url::Url;

use super::drift::{closest, Broken};
use super::http::{Http, HttpError};
use super::{expand_groups, Check, FetchError, TableData};
use crate::config::group::{Choice, MEASURE};
use crate::config::{SeriesConfig, SourceConfig};
use odata::{odata_str, Pager};
use split::{Columns, RowSeed, Splitter};

pub use split::split_pages;

/// More keys of one dimension than this are not put in the `$filter` (see `fetch`).
const MAX_KEYS_IN_FILTER: usize = 20;

pub struct Cbs {
    pages: Pager,
    history_years: u32,
    pub(crate) deadline: std::time::Duration,
}

/// A table's stamp fields, from `TableInfos` or the catalogue (which adds `Identifier`);
/// `describe` and `tables` read its title, frequency and period too.
#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct TableInfo {
    #[serde(default)]
    identifier: String,
    modified: String,
    /// Moves alone when only the metadata changed.
    #[serde(default)]
    meta_data_modified: Option<String>,
    #[serde(default)]
    output_status: Option<String>,
    #[serde(default)]
    reason_delivery: Option<String>,
    #[serde(default)]
    short_title: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    frequency: Option<String>,
    #[serde(default)]
    period: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PeriodInfo {
    key: String,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DimensionKey {
    key: String,
    #[serde(default)]
    title: Option<String>,
}

/// The keys of one dimension by their trimmed form, as configs, ids and rows name them.
#[derive(Default)]
struct Trimmed {
    exact: BTreeMap<String, DimensionKey>,
    /// Two keys the same once trimmed (`"A"` and `"A "`): no series can tell them apart,
    /// so neither is in `exact`.
    ambiguous: BTreeMap<String, (String, String)>,
}

impl Trimmed {
    fn of(keys: Vec<DimensionKey>) -> Trimmed {
        let mut t = Trimmed::default();
        for k in keys {
            let trimmed = k.key.trim().to_string();
            if let Some((first, _)) = t.ambiguous.get(&trimmed) {
                t.ambiguous.insert(trimmed, (first.clone(), k.key));
            } else if let Some(first) = t.exact.remove(&trimmed) {
                t.ambiguous.insert(trimmed, (first.key, k.key));
            } else {
                t.exact.insert(trimmed, k);
            }
        }
        t
    }

    /// Fails the table when a series pins a key the dimension has twice once trimmed: the
    /// series cannot tell them apart, and guessing would store the wrong one's data.
    fn refuse_ambiguous(&self, dim: &str, series: &[SeriesConfig]) -> Result<(), FetchError> {
        let Some((s, (a, b))) = series.iter().find_map(|s| {
            let pair = self.ambiguous.get(s.dimensions.get(dim)?)?;
            Some((s, pair))
        }) else {
            return Ok(());
        };
        Err(FetchError::Series {
            series: s.id.clone(),
            message: format!(
                "dimension {dim} has two keys {a:?} and {b:?} that are the same once trimmed: \
                 the series cannot tell them apart"
            ),
        })
    }

    /// The keys by their trimmed form, with titles (the key where the table gives none).
    fn choices(&self) -> Vec<Choice> {
        self.exact
            .iter()
            .map(|(trimmed, k)| Choice {
                key: trimmed.clone(),
                title: k.title.clone().unwrap_or_else(|| trimmed.clone()),
            })
            .collect()
    }
}

/// One entry of `DataProperties`: a dimension, the time dimension, a topic (measure) or a
/// group of topics.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DataProperty {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    title: Option<String>,
    /// A topic's unit (`%`, `2021=100`).
    #[serde(default)]
    unit: Option<String>,
    /// A topic's type: `Double`, `Long`, `Integer`, `Decimal`, or `String` for text.
    #[serde(default)]
    datatype: Option<String>,
}

impl DataProperty {
    /// A dimension a series pins (the time dimension is not one).
    fn is_dimension(&self) -> bool {
        self.kind == "Dimension" || self.kind == "GeoDimension"
    }
}

impl Cbs {
    pub fn new(cfg: &SourceConfig) -> Result<Cbs, HttpError> {
        Ok(Cbs {
            pages: Pager::new(
                Http::new(
                    cfg.timeout,
                    &cfg.base_url,
                    cfg.max_response_bytes,
                    odata::error_message,
                )?,
                cfg.base_url.clone(),
                cfg.max_rows_per_table,
            ),
            history_years: cfg.history_years,
            deadline: cfg.table_deadline,
        })
    }

    fn url(&self, table: &str, entity: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.pages.base.clone();
        {
            let mut segs = url.path_segments_mut().expect("http(s) URLs have paths");
            segs.pop_if_empty();
            segs.extend(["ODataApi", "odata", table, entity]);
        }
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("$format", "json");
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        url
    }

    pub async fn check(&self, table: &str, known: Option<&str>) -> Result<Check, FetchError> {
        let infos: Vec<TableInfo> = self
            .pages
            .get_all(self.url(table, "TableInfos", &[]), "TableInfos")
            .await?;
        let info = infos
            .into_iter()
            .next()
            .ok_or_else(|| FetchError::Schema("TableInfos is empty".into()))?;
        catalogue::judge(table, info, known)
    }

    /// The keys of one dimension, exactly as CBS writes them (possibly space-padded).
    async fn dimension_keys(
        &self,
        table: &str,
        dim: &str,
    ) -> Result<Vec<DimensionKey>, FetchError> {
        self.pages
            .get_all(
                self.url(table, dim, &[("$select", "Key,Title".into())]),
                dim,
            )
            .await
    }

    /// A dimension `s` leaves unpinned, named with the keys to choose from.
    async fn unpinned(&self, table: &str, s: &SeriesConfig, d: &str) -> FetchError {
        let keys = match self.dimension_keys(table, d).await {
            Ok(keys) => keys,
            Err(e) => return e,
        };
        let shown: Vec<String> = keys
            .iter()
            .map(|k| match &k.title {
                Some(t) => format!("{} ({t})", k.key.trim()),
                None => k.key.trim().to_string(),
            })
            .collect();
        FetchError::Series {
            series: s.id.clone(),
            message: format!(
                "dimension {d} is not pinned: add {d} = \"<key>\" to `dimensions` (keys: {})",
                list(&shown.iter().map(String::as_str).collect::<Vec<_>>())
            ),
        }
    }

    /// Sorts `series` against the table's metadata: the ones it can serve, each dimension's
    /// exact (possibly space-padded) keys by trimmed key, and the ones whose measure,
    /// dimension or key the table no longer has ([`Broken`], with the closest keys: drift,
    /// not a failure, so the others are still fetched). A dimension left unpinned is a config
    /// mistake and fails the table, named with the keys to choose from.
    async fn resolve(
        &self,
        table: &str,
        series: Vec<SeriesConfig>,
        props: Option<&[DataProperty]>,
        broken: &mut Vec<Broken>,
    ) -> Result<(Vec<SeriesConfig>, ExactKeys), FetchError> {
        let mut kept = Vec::with_capacity(series.len());
        let mut gone = |s: &SeriesConfig, dimension: &str, key: &str, keys: &[Choice]| {
            broken.push(Broken {
                series: s.id.clone(),
                title: s.title.clone(),
                dimension: dimension.to_string(),
                key: key.to_string(),
                candidates: closest(key, keys),
            })
        };
        let dims: Vec<&str> = props
            .unwrap_or_default()
            .iter()
            .filter(|p| p.is_dimension())
            .map(|p| p.key.as_str())
            .collect();
        let topics = topics(props);
        for s in series {
            if props.is_none() {
                kept.push(s);
            } else if !topics.iter().any(|t| t.key == s.measure) {
                gone(&s, MEASURE, &s.measure, &topics);
            } else if let Some((d, k)) = s
                .dimensions
                .iter()
                .find(|(d, _)| !dims.contains(&d.as_str()))
            {
                gone(&s, d, k, &[]);
            } else if let Some(d) = dims.iter().find(|d| !s.dimensions.contains_key(**d)) {
                return Err(self.unpinned(table, &s, d).await);
            } else {
                kept.push(s);
            }
        }
        let mut exact = ExactKeys::new();
        let wanted: BTreeSet<String> = kept
            .iter()
            .flat_map(|s| s.dimensions.keys().cloned())
            .collect();
        for dim in wanted {
            let keys = self.exact_keys(table, &dim).await?;
            if keys.exact.is_empty() && keys.ambiguous.is_empty() {
                // No entity set (see `exact_keys`): the configured keys are used as written.
                continue;
            }
            keys.refuse_ambiguous(&dim, &kept)?;
            let choices = keys.choices();
            kept.retain(|s| match s.dimensions.get(&dim) {
                Some(k) if !keys.exact.contains_key(k) => {
                    gone(s, &dim, k, &choices);
                    false
                }
                _ => true,
            });
            let map = keys
                .exact
                .into_iter()
                .map(|(trimmed, k)| (trimmed, k.key))
                .collect();
            exact.insert(dim, map);
        }
        Ok((kept, exact))
    }

    /// Maps trimmed keys to the exact (possibly space-padded) keys of one dimension.
    async fn exact_keys(&self, table: &str, dim: &str) -> Result<Trimmed, FetchError> {
        match self.dimension_keys(table, dim).await {
            Err(e) if e.is_not_found() => {
                // Without the dimension's entity set the configured keys are used as written.
                warn!(table, dim, error = %e, "no dimension entity set: keys used as configured");
                Ok(Trimmed::default())
            }
            other => Ok(Trimmed::of(other?)),
        }
    }

    /// The table's `DataProperties`; `None` where the server has none (a mirror or proxy
    /// without it only loses the friendlier messages and open measures, not the data).
    async fn data_properties(&self, table: &str) -> Result<Option<Vec<DataProperty>>, FetchError> {
        match self
            .pages
            .get_all(self.url(table, "DataProperties", &[]), "DataProperties")
            .await
        {
            Err(e) if e.is_not_found() => {
                warn!(table, error = %e, "no DataProperties: series not checked against the table");
                Ok(None)
            }
            other => other.map(Some),
        }
    }

    /// Expands the groups among `series`: an open or listed dimension's keys (and titles)
    /// come from its entity set, an open measure's from the topics of `DataProperties`.
    async fn expand(
        &self,
        table: &str,
        series: &[SeriesConfig],
        props: Option<&[DataProperty]>,
        broken: &mut Vec<Broken>,
    ) -> Result<Vec<SeriesConfig>, FetchError> {
        let mut found: BTreeMap<String, Vec<Choice>> = BTreeMap::new();
        for g in series.iter().filter_map(|s| s.group.as_ref()) {
            for dim in g.dims.keys() {
                if !found.contains_key(dim) {
                    let keys = Trimmed::of(self.dimension_keys(table, dim).await?);
                    for (a, b) in keys.ambiguous.values() {
                        warn!(table, dimension = %dim, first = ?a, second = ?b, "two keys of the table are the same once trimmed: neither is watched");
                    }
                    let choices = keys
                        .exact
                        .into_iter()
                        .map(|(key, k)| Choice {
                            title: k.title.unwrap_or_else(|| key.clone()),
                            key,
                        })
                        .collect();
                    found.insert(dim.clone(), choices);
                }
            }
        }
        let topics = topics(props);
        expand_groups(series, broken, |s, name| {
            if name == MEASURE {
                if props.is_none() {
                    return Err(FetchError::Series {
                        series: s.id.clone(),
                        message: "an open measure needs the table's DataProperties, which \
                                  this server does not have"
                            .into(),
                    });
                }
                return Ok(topics.clone());
            }
            Ok(found.get(name).cloned().unwrap_or_default())
        })
    }

    pub async fn fetch(
        &self,
        table: &str,
        series: &[SeriesConfig],
    ) -> Result<TableData, FetchError> {
        let props = self.data_properties(table).await?;
        let mut broken = Vec::new();
        let expanded = self
            .expand(table, series, props.as_deref(), &mut broken)
            .await?;
        let (expanded, exact) = self
            .resolve(table, expanded, props.as_deref(), &mut broken)
            .await?;
        let units = units(&expanded, props.as_deref());
        if expanded.is_empty() {
            return Ok(TableData {
                broken,
                ..TableData::default()
            });
        }
        let series = &expanded;
        let data_url = self.data_url(table, series, &exact);
        let periods: Vec<PeriodInfo> = self
            .pages
            .get_all(self.url(table, "Perioden", &[]), "Perioden")
            .await?;
        let status: HashMap<String, crate::model::Label> = periods
            .into_iter()
            .map(|p| {
                (
                    p.key.trim().to_string(),
                    p.status.unwrap_or_default().into(),
                )
            })
            .collect();
        let columns = Columns::of(series);
        let mut splitter = Splitter::new(series, &status, &columns);
        let mut rows = 0;
        self.pages
            .get_pages(data_url, "TypedDataSet", RowSeed(&columns), |row| {
                rows += 1;
                splitter.add_row(&row)
            })
            .await?;
        debug!(table, rows, "TypedDataSet downloaded");
        let mut data = splitter.finish()?;
        // A key of a group with no rows at all (an aggregate the measure is not given for)
        // is no series of this table.
        // Moved, not cloned: a whole table's expansion is thousands of entries.
        data.expanded = expanded
            .into_iter()
            .filter(|s| s.template.is_none() || data.series.contains_key(&s.id))
            .collect();
        data.broken = broken;
        data.units = units;
        Ok(data)
    }

    /// The `TypedDataSet` URL for `series`: `$filter` on their dimension keys (mapped to the
    /// exact keys) and the period years, `$select` of their dimensions and measures.
    fn data_url(&self, table: &str, series: &[SeriesConfig], exact: &ExactKeys) -> Url {
        // Every dimension key any series needs, per dimension.
        let mut wanted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for s in series {
            for (dim, key) in &s.dimensions {
                wanted.entry(dim).or_default().insert(key);
            }
        }
        let mut clauses = Vec::new();
        for (dim, keys) in &wanted {
            // `resolve` left only keys the dimension has (or it has no entity set: as written).
            let exact = exact.get(*dim);
            let ors: Vec<String> = keys
                .iter()
                .map(|key| {
                    let e = exact.and_then(|m| m.get(*key)).map_or(*key, String::as_str);
                    format!("{dim} eq {}", odata_str(e))
                })
                .collect();
            // StatLine runs on IIS, whose default limit on a query string is 2,048 bytes: with
            // many keys the dimension is left unfiltered and the rows are picked here instead.
            if ors.len() <= MAX_KEYS_IN_FILTER {
                clauses.push(format!("({})", ors.join(" or ")));
            }
        }
        let this_year = chrono::Utc::now().year();
        let years: Vec<String> = (this_year - self.history_years as i32..=this_year + 1)
            .map(|y| format!("startswith(Perioden,'{y}')"))
            .collect();
        clauses.push(format!("({})", years.join(" or ")));

        let mut select: BTreeSet<&str> = wanted.keys().copied().collect();
        select.insert("Perioden");
        select.extend(series.iter().map(|s| s.measure.as_str()));
        let select: Vec<&str> = select.into_iter().collect();

        self.url(
            table,
            "TypedDataSet",
            &[
                ("$filter", clauses.join(" and ")),
                ("$select", select.join(",")),
            ],
        )
    }
}

/// Each dimension's exact (possibly space-padded) keys by trimmed key.
type ExactKeys = BTreeMap<String, HashMap<String, String>>;

/// The measures (topics) of `DataProperties`, with their titles.
fn topics(props: Option<&[DataProperty]>) -> Vec<Choice> {
    props
        .unwrap_or_default()
        .iter()
        .filter(|p| p.kind == "Topic")
        .map(|p| Choice {
            key: p.key.clone(),
            title: p.title.clone().unwrap_or_else(|| p.key.clone()),
        })
        .collect()
}

/// The unit of every measure of `series`, as `DataProperties` gives it.
fn units(series: &[SeriesConfig], props: Option<&[DataProperty]>) -> BTreeMap<String, String> {
    let props = props.unwrap_or_default();
    series
        .iter()
        .filter_map(|s| {
            let p = props
                .iter()
                .find(|p| p.kind == "Topic" && p.key == s.measure)?;
            Some((s.measure.clone(), p.unit.as_deref()?.trim().to_string()))
        })
        .collect()
}

/// A short list for messages: the first few names, and how many more.
fn list(names: &[&str]) -> String {
    const SHOWN: usize = 12;
    let mut out = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(", ... ({} more)", names.len() - SHOWN));
    }
    if out.is_empty() {
        out.push_str("none");
    }
    out
}
