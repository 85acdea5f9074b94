//! CBS StatLine, OData v3 (`/ODataApi/odata/{table}/`).
//!
//! Cheap check: `TableInfos` (`Modified`, `OutputStatus`). Data: one `TypedDataSet` request
//! per table with `$filter` on the series' dimension keys and the period years, and `$select`
//! of the needed measures, following `odata.nextLink` to the end; `Perioden` gives each
//! period's status. Dimension keys may be space-padded at CBS: the config's trimmed keys are
//! mapped to the exact keys through the dimension's own entity set.
//!
//! Bounds: a page is parsed as it is read (each row of `value` goes straight to the series
//! splitter, so memory stays near the size of the page's body), every entity set stops at
//! `max_rows_per_table` rows and a hundredth of that in pages, and nextLinks never leave the
//! configured origin (an absolute link to CBS's public host is re-based onto base_url).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Datelike;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use tracing::{debug, error, warn};
use url::Url;

use super::http::{Expect, Http, HttpError};
use super::{check_unique, keep_one_frequency, Check, FetchError, TableData};
use crate::config::{SeriesConfig, SourceConfig};
use crate::model::{Observation, Period};

/// More keys of one dimension than this are not put in the `$filter` (see `fetch`).
const MAX_KEYS_IN_FILTER: usize = 20;

/// Pages allowed per entity set: one for every this many rows of `max_rows_per_table`.
/// A full CBS page holds 10,000 cells, a few thousand rows; only a last page is small, so a
/// run of tiny (or empty) pages is a server paging forever.
const ROWS_PER_PAGE_ALLOWED: usize = 100;
/// At least this many pages, whatever `max_rows_per_table` says.
const MIN_PAGES: usize = 10;

pub struct Cbs {
    http: Http,
    base: Url,
    history_years: u32,
    max_rows: usize,
    max_pages: usize,
    pub(crate) deadline: std::time::Duration,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TableInfo {
    modified: String,
    #[serde(default)]
    output_status: Option<String>,
    #[serde(default)]
    reason_delivery: Option<String>,
    #[serde(default)]
    short_title: Option<String>,
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

/// One entry of `DataProperties`: a dimension, the time dimension, a topic (measure) or a
/// group of topics.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DataProperty {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(default)]
    key: String,
}

/// Parses a CBS period key: `2025MM03`, `2025KW01`, `2025JJ00` (space padding allowed).
/// Other kinds of period (half years, two-year spans) are not watched: `None`.
pub fn parse_period(key: &str) -> Option<Period> {
    let k = key.trim();
    if k.len() != 8 || !k.is_char_boundary(4) || !k.is_char_boundary(6) {
        return None;
    }
    // Digits only: `i32::parse` would take `-999` and `+999` (and `u8` takes `+1`).
    if !k[..4].bytes().all(|b| b.is_ascii_digit()) || !k[6..].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = k[..4].parse().ok()?;
    let n: u8 = k[6..].parse().ok()?;
    // `Period::month`/`quarter`/`year_of` refuse years outside `model::YEARS`.
    match &k[4..6] {
        "MM" => Period::month(year, n),
        "KW" => Period::quarter(year, n),
        "JJ" if n == 0 => Period::year_of(year),
        _ => None,
    }
}

/// Quotes a string literal for an OData `$filter`.
fn odata_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Cbs {
    pub fn new(cfg: &SourceConfig) -> Result<Cbs, HttpError> {
        Ok(Cbs {
            http: Http::new(cfg.timeout, &cfg.base_url, cfg.max_response_bytes)?,
            base: cfg.base_url.clone(),
            history_years: cfg.history_years,
            max_rows: cfg.max_rows_per_table,
            max_pages: (cfg.max_rows_per_table / ROWS_PER_PAGE_ALLOWED).max(MIN_PAGES),
            deadline: cfg.table_deadline,
        })
    }

    fn url(&self, table: &str, entity: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
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

    /// GETs an entity set, following `odata.nextLink` to the end.
    async fn get_all<T: serde::de::DeserializeOwned>(
        &self,
        first: Url,
        what: &str,
    ) -> Result<Vec<T>, FetchError> {
        let mut out = Vec::new();
        self.get_pages(first, what, |row: T| {
            out.push(row);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// GETs an entity set page by page, following `odata.nextLink` to the end, handing each
    /// row to `on_row` as it is parsed (so a large table never sits in memory as JSON), and
    /// stopping at the row and page caps.
    async fn get_pages<T: serde::de::DeserializeOwned>(
        &self,
        first: Url,
        what: &str,
        mut on_row: impl FnMut(T) -> Result<(), FetchError>,
    ) -> Result<(), FetchError> {
        let mut url = first;
        let mut seen = BTreeSet::new();
        let mut rows = 0usize;
        let max_rows = self.max_rows;
        for page in 1..=self.max_pages {
            let reply = self
                .http
                .get(&url, Expect::Json)
                .await
                .map_err(FetchError::http(format!("{what} (page {page})")))?;
            let mut counted = |row: T| {
                rows += 1;
                if rows > max_rows {
                    return Err(FetchError::Schema(format!(
                        "{what}: more than {max_rows} rows (max_rows_per_table)"
                    )));
                }
                on_row(row)
            };
            let next = read_page(&reply.body, &mut counted).map_err(|e| match e {
                PageError::Row(e) => e,
                PageError::Json(e) => FetchError::Schema(format!(
                    "{what} (page {page}) is not an OData v3 envelope: {e}"
                )),
            })?;
            // The body is done with before the next one is read.
            drop(reply);
            let Some(next) = next else {
                return Ok(());
            };
            let next = self.follow(what, &url, &next)?;
            if !seen.insert(next.to_string()) {
                return Err(FetchError::Schema(format!(
                    "{what}: odata.nextLink loops back to {next}"
                )));
            }
            url = next;
        }
        Err(FetchError::Schema(format!(
            "{what}: more than {} pages (max_rows_per_table / {ROWS_PER_PAGE_ALLOWED}); the \
             server keeps sending odata.nextLink",
            self.max_pages
        )))
    }

    /// Resolves a nextLink. CBS writes absolute links to its public host; they are re-based
    /// onto the configured base URL so a proxy or mirror (or a test server) keeps working.
    /// Any other link off the configured origin is refused: its host was never configured,
    /// so neither a request to it nor its data is trusted.
    fn follow(&self, what: &str, current: &Url, next: &str) -> Result<Url, FetchError> {
        let link = current
            .join(next)
            .map_err(|e| FetchError::Schema(format!("{what}: bad odata.nextLink {next:?}: {e}")))?;
        let path = link.path();
        let Some(at) = path.find("/ODataApi/") else {
            if link.origin() == self.base.origin() {
                return Ok(link);
            }
            return Err(FetchError::Schema(format!(
                "{what}: odata.nextLink {link} is on another origin than base_url ({}) and is \
                 not a StatLine ODataApi path: not followed",
                self.base.origin().ascii_serialization()
            )));
        };
        let mut url = self.base.clone();
        let base_path = self.base.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base_path}{}", &path[at..]));
        url.set_query(link.query());
        Ok(url)
    }

    pub async fn check(&self, table: &str, known: Option<&str>) -> Result<Check, FetchError> {
        let infos: Vec<TableInfo> = self
            .get_all(self.url(table, "TableInfos", &[]), "TableInfos")
            .await?;
        let info = infos
            .into_iter()
            .next()
            .ok_or_else(|| FetchError::Schema("TableInfos is empty".into()))?;
        let status = info.output_status.as_deref().unwrap_or("");
        if status.eq_ignore_ascii_case("Gediscontinueerd")
            || status.eq_ignore_ascii_case("Discontinued")
        {
            let why = format!(
                "OutputStatus {status}, ReasonDelivery {}, last modified {}{}",
                info.reason_delivery.as_deref().unwrap_or("-"),
                info.modified,
                info.short_title
                    .map(|t| format!(", {t:?}"))
                    .unwrap_or_default(),
            );
            error!(table, %why, "CBS table is discontinued");
            return Err(FetchError::Discontinued(why));
        }
        if known == Some(info.modified.as_str()) {
            Ok(Check::Unchanged)
        } else {
            Ok(Check::Changed {
                stamp: info.modified,
            })
        }
    }

    /// The keys of one dimension, exactly as CBS writes them (possibly space-padded).
    async fn dimension_keys(
        &self,
        table: &str,
        dim: &str,
    ) -> Result<Vec<DimensionKey>, FetchError> {
        self.get_all(
            self.url(table, dim, &[("$select", "Key,Title".into())]),
            dim,
        )
        .await
    }

    /// Checks every series against the table's `DataProperties`, so that a measure or
    /// dimension that does not exist, or a dimension left unpinned, is named with the fix
    /// (the keys to choose from) instead of failing later as an OData error or as several
    /// values per period.
    async fn check_series(&self, table: &str, series: &[SeriesConfig]) -> Result<(), FetchError> {
        let props: Vec<DataProperty> = match self
            .get_all(self.url(table, "DataProperties", &[]), "DataProperties")
            .await
        {
            Err(e) if e.is_not_found() => {
                // Every StatLine table has it; a mirror or proxy without it only loses the
                // friendlier messages, not the data.
                warn!(table, error = %e, "no DataProperties: series not checked against the table");
                return Ok(());
            }
            other => other?,
        };
        let dims: Vec<&str> = props
            .iter()
            .filter(|p| p.kind == "Dimension" || p.kind == "GeoDimension")
            .map(|p| p.key.as_str())
            .collect();
        let topics: Vec<&str> = props
            .iter()
            .filter(|p| p.kind == "Topic")
            .map(|p| p.key.as_str())
            .collect();
        for s in series {
            let fail = |message: String| FetchError::Series {
                series: s.id.clone(),
                message,
            };
            if !topics.contains(&s.measure.as_str()) {
                return Err(fail(format!(
                    "the table has no measure {:?} (measures: {})",
                    s.measure,
                    list(&topics)
                )));
            }
            if let Some(d) = s.dimensions.keys().find(|d| !dims.contains(&d.as_str())) {
                return Err(fail(format!(
                    "the table has no dimension {d:?} (dimensions: {})",
                    list(&dims)
                )));
            }
            if let Some(d) = dims.iter().find(|d| !s.dimensions.contains_key(**d)) {
                let keys = self.dimension_keys(table, d).await?;
                let shown: Vec<String> = keys
                    .iter()
                    .map(|k| match &k.title {
                        Some(t) => format!("{} ({t})", k.key.trim()),
                        None => k.key.trim().to_string(),
                    })
                    .collect();
                return Err(fail(format!(
                    "dimension {d} is not pinned: add {d} = \"<key>\" to `dimensions` (keys: {})",
                    list(&shown.iter().map(String::as_str).collect::<Vec<_>>())
                )));
            }
        }
        Ok(())
    }

    /// Maps trimmed keys to the exact (possibly space-padded) keys of one dimension.
    async fn exact_keys(
        &self,
        table: &str,
        dim: &str,
    ) -> Result<HashMap<String, String>, FetchError> {
        let keys = match self.dimension_keys(table, dim).await {
            Err(e) if e.is_not_found() => {
                // Without the dimension's entity set the configured keys are used as written.
                warn!(table, dim, error = %e, "no dimension entity set: keys used as configured");
                return Ok(HashMap::new());
            }
            other => other?,
        };
        Ok(keys
            .into_iter()
            .map(|k| (k.key.trim().to_string(), k.key))
            .collect())
    }

    pub async fn fetch(
        &self,
        table: &str,
        series: &[SeriesConfig],
    ) -> Result<TableData, FetchError> {
        self.check_series(table, series).await?;
        // Every dimension key any series needs, per dimension.
        let mut wanted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for s in series {
            for (dim, key) in &s.dimensions {
                wanted.entry(dim).or_default().insert(key);
            }
        }
        let mut clauses = Vec::new();
        for (dim, keys) in &wanted {
            let exact = self.exact_keys(table, dim).await?;
            let mut ors = Vec::new();
            for key in keys {
                let e = if exact.is_empty() {
                    Some(*key)
                } else {
                    exact.get(*key).map(String::as_str)
                };
                let Some(e) = e else {
                    let users: Vec<_> = series
                        .iter()
                        .filter(|s| s.dimensions.get(*dim).map(String::as_str) == Some(*key))
                        .map(|s| s.id.as_str())
                        .collect();
                    return Err(FetchError::Series {
                        series: users.join(", "),
                        message: format!("dimension {dim} has no key {key:?}"),
                    });
                };
                ors.push(format!("{dim} eq {}", odata_str(e)));
            }
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

        let data_url = self.url(
            table,
            "TypedDataSet",
            &[
                ("$filter", clauses.join(" and ")),
                ("$select", select.join(",")),
            ],
        );
        let periods: Vec<PeriodInfo> = self
            .get_all(self.url(table, "Perioden", &[]), "Perioden")
            .await?;
        let status: HashMap<String, String> = periods
            .into_iter()
            .map(|p| (p.key.trim().to_string(), p.status.unwrap_or_default()))
            .collect();
        let mut splitter = Splitter::new(series, &status);
        let mut rows = 0;
        self.get_pages(
            data_url,
            "TypedDataSet",
            |row: serde_json::Map<String, Value>| {
                rows += 1;
                splitter.add_row(&row)
            },
        )
        .await?;
        debug!(table, rows, "TypedDataSet downloaded");
        splitter.finish()
    }
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

/// Picks each series' observations out of the TypedDataSet rows.
pub fn split_rows(
    rows: &[serde_json::Map<String, Value>],
    series: &[SeriesConfig],
    status: &HashMap<String, String>,
) -> Result<TableData, FetchError> {
    let mut s = Splitter::new(series, status);
    for row in rows {
        s.add_row(row)?;
    }
    s.finish()
}

/// Splits TypedDataSet rows into series, a page at a time, in one pass over the rows: series
/// are grouped by which dimensions they pin, and each row is looked up by its (trimmed) keys
/// for those dimensions.
struct Splitter<'a> {
    series: &'a [SeriesConfig],
    status: &'a HashMap<String, String>,
    groups: BTreeMap<Vec<&'a str>, HashMap<Vec<&'a str>, Vec<usize>>>,
    obs: Vec<Vec<Observation>>,
    /// Rows seen per series (with an empty cell too): none means the answer lacks it.
    rows: Vec<usize>,
}

impl<'a> Splitter<'a> {
    fn new(series: &'a [SeriesConfig], status: &'a HashMap<String, String>) -> Self {
        let mut groups: BTreeMap<Vec<&str>, HashMap<Vec<&str>, Vec<usize>>> = BTreeMap::new();
        for (i, s) in series.iter().enumerate() {
            let dims: Vec<&str> = s.dimensions.keys().map(String::as_str).collect();
            let keys: Vec<&str> = s.dimensions.values().map(String::as_str).collect();
            groups
                .entry(dims)
                .or_default()
                .entry(keys)
                .or_default()
                .push(i);
        }
        Splitter {
            series,
            status,
            groups,
            obs: vec![Vec::new(); series.len()],
            rows: vec![0; series.len()],
        }
    }

    fn add_row(&mut self, row: &serde_json::Map<String, Value>) -> Result<(), FetchError> {
        {
            for (dims, by_keys) in &self.groups {
                let keys: Option<Vec<&str>> = dims
                    .iter()
                    .map(|d| row.get(*d).and_then(Value::as_str).map(str::trim))
                    .collect();
                let Some(matched) = keys.and_then(|k| by_keys.get(&k)) else {
                    continue;
                };
                let Some(period_key) = row.get("Perioden").and_then(Value::as_str) else {
                    return Err(FetchError::Schema(
                        "a TypedDataSet row has no Perioden".into(),
                    ));
                };
                let Some(period) = parse_period(period_key) else {
                    continue;
                };
                let key = period_key.trim();
                for &i in matched {
                    self.rows[i] += 1;
                    let s = &self.series[i];
                    let Some(cell) = row.get(&s.measure) else {
                        return Err(FetchError::Series {
                            series: s.id.clone(),
                            message: format!("the table has no measure {:?}", s.measure),
                        });
                    };
                    let value = cell_value(cell).map_err(|m| FetchError::Series {
                        series: s.id.clone(),
                        message: format!("{period_key}: {m}"),
                    })?;
                    // A missing cell is a period not (yet) published.
                    if let Some(value) = value {
                        self.obs[i].push(Observation {
                            period,
                            source_period: key.to_string(),
                            value,
                            status: self.status.get(key).cloned().unwrap_or_default(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<TableData, FetchError> {
        let mut data = TableData::default();
        for ((s, mut o), rows) in self.series.iter().zip(self.obs).zip(self.rows) {
            // Storing nothing for it would store the table's new stamp too, and the release
            // would never be fetched again.
            if rows == 0 {
                return Err(FetchError::Series {
                    series: s.id.clone(),
                    message: format!(
                        "no rows for {} in the TypedDataSet answer (the table lacks the \
                         series, or the answer is incomplete)",
                        s.dimensions
                            .iter()
                            .map(|(d, k)| format!("{d}={k}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            keep_one_frequency(&mut o, s.frequency);
            check_unique(s, &o)?;
            data.series.insert(s.id.clone(), o);
        }
        Ok(data)
    }
}

/// A TypedDataSet cell: a number, null (missing), or (in untyped sets) padded text with "."
/// for missing.
fn cell_value(v: &Value) -> Result<Option<f64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_f64() {
            Some(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(format!("not a finite number: {n}")),
        },
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() || t == "." || t == "x" || t == "-" {
                return Ok(None);
            }
            // Rust's parser takes "NaN", "inf" and "1e999" (infinity); none is a figure, and
            // JSON cannot store them (they would be written as null and never read back).
            match t.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Some(v)),
                Ok(_) => Err(format!("not a finite number: {s:?}")),
                Err(_) => Err(format!("not a number: {s:?}")),
            }
        }
        other => Err(format!("unexpected cell {other}")),
    }
}

/// Why a page could not be read: its JSON, or what `on_row` said about a row.
enum PageError {
    Json(serde_json::Error),
    Row(FetchError),
}

/// Reads one OData v3 envelope, handing each element of `value` to `on_row` as soon as it
/// is parsed (a streaming visitor: the rows never exist as one `Vec` of maps), and returns
/// its `odata.nextLink`.
fn read_page<T: serde::de::DeserializeOwned>(
    body: &[u8],
    on_row: &mut dyn FnMut(T) -> Result<(), FetchError>,
) -> Result<Option<String>, PageError> {
    let mut stop = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    let next = PageSeed {
        on_row,
        stop: &mut stop,
        _row: std::marker::PhantomData,
    }
    .deserialize(&mut de)
    .and_then(|next| de.end().map(|()| next));
    match (next, stop) {
        (_, Some(e)) => Err(PageError::Row(e)),
        (Ok(next), None) => Ok(next),
        (Err(e), None) => Err(PageError::Json(e)),
    }
}

struct PageSeed<'a, T> {
    on_row: &'a mut dyn FnMut(T) -> Result<(), FetchError>,
    /// The row error that stopped the parse (serde can only carry a message).
    stop: &'a mut Option<FetchError>,
    _row: std::marker::PhantomData<T>,
}

impl<'de, T: serde::de::DeserializeOwned> DeserializeSeed<'de> for PageSeed<'_, T> {
    type Value = Option<String>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: serde::de::DeserializeOwned> Visitor<'de> for PageSeed<'_, T> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an OData v3 envelope {\"value\": [...], \"odata.nextLink\"?}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut next = None;
        let mut has_value = false;
        let PageSeed { on_row, stop, .. } = self;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "value" if !has_value => {
                    has_value = true;
                    map.next_value_seed(RowsSeed {
                        on_row: &mut *on_row,
                        stop: &mut *stop,
                        _row: std::marker::PhantomData,
                    })?;
                }
                "value" => return Err(de::Error::duplicate_field("value")),
                "odata.nextLink" => next = map.next_value::<Option<String>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !has_value {
            return Err(de::Error::missing_field("value"));
        }
        Ok(next)
    }
}

struct RowsSeed<'a, T> {
    on_row: &'a mut dyn FnMut(T) -> Result<(), FetchError>,
    stop: &'a mut Option<FetchError>,
    _row: std::marker::PhantomData<T>,
}

impl<'de, T: serde::de::DeserializeOwned> DeserializeSeed<'de> for RowsSeed<'_, T> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: serde::de::DeserializeOwned> Visitor<'de> for RowsSeed<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(row) = seq.next_element::<T>()? {
            if let Err(e) = (self.on_row)(row) {
                *self.stop = Some(e);
                return Err(de::Error::custom("stopped by a row"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_keys() {
        assert_eq!(parse_period("2025MM03"), Some(Period::Month(2025, 3)));
        assert_eq!(parse_period("2024KW01"), Some(Period::Quarter(2024, 1)));
        assert_eq!(parse_period("2017JJ00"), Some(Period::Year(2017)));
        assert_eq!(parse_period("  2025MM12  "), Some(Period::Month(2025, 12)));
        assert_eq!(parse_period("2025MM13"), None);
        assert_eq!(parse_period("2025HJ01"), None);
        assert_eq!(parse_period("2025X000"), None);
    }

    #[test]
    fn rows_split_by_series_and_frequency() {
        let series = SeriesConfig {
            id: "nl".into(),
            source: "cbs".into(),
            table: "85806NED".into(),
            measure: "KalendergecorrigeerdeProductie_14".into(),
            dimensions: [(
                "BedrijfstakkenBranchesSBI2008".to_string(),
                "307500".to_string(),
            )]
            .into(),
            title: "t".into(),
            unit: "%".into(),
            derive: None,
            frequency: None,
        };
        let rows: Vec<serde_json::Map<String, Value>> = serde_json::from_str(
            r#"[{"BedrijfstakkenBranchesSBI2008":"307500  ","Perioden":"2024MM01","KalendergecorrigeerdeProductie_14":-5.0},
                {"BedrijfstakkenBranchesSBI2008":"307500","Perioden":"2024KW01","KalendergecorrigeerdeProductie_14":-4.8},
                {"BedrijfstakkenBranchesSBI2008":"307500","Perioden":"2024MM02","KalendergecorrigeerdeProductie_14":null},
                {"BedrijfstakkenBranchesSBI2008":"336500","Perioden":"2024MM01","KalendergecorrigeerdeProductie_14":3.0}]"#,
        )
        .unwrap();
        let status = [("2024MM01".to_string(), "NaderVoorlopig".to_string())].into();
        let data = split_rows(&rows, std::slice::from_ref(&series), &status).unwrap();
        let obs = &data.series["nl"];
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].period, Period::Month(2024, 1));
        assert_eq!(obs[0].value, -5.0);
        assert_eq!(obs[0].status, "NaderVoorlopig");
        let mut q = series.clone();
        q.frequency = Some(crate::model::Frequency::Quarter);
        let data = split_rows(&rows, &[q], &status).unwrap();
        assert_eq!(data.series["nl"][0].period, Period::Quarter(2024, 1));
    }

    #[test]
    fn an_unpinned_dimension_is_refused() {
        let mut series = SeriesConfig {
            id: "nl".into(),
            source: "cbs".into(),
            table: "T".into(),
            measure: "M".into(),
            dimensions: BTreeMap::new(),
            title: "t".into(),
            unit: "".into(),
            derive: None,
            frequency: None,
        };
        let rows: Vec<serde_json::Map<String, Value>> = serde_json::from_str(
            r#"[{"D":"a","Perioden":"2024MM01","M":1.0},{"D":"b","Perioden":"2024MM01","M":2.0}]"#,
        )
        .unwrap();
        let e = split_rows(&rows, std::slice::from_ref(&series), &HashMap::new()).unwrap_err();
        assert!(e.to_string().contains("pin every dimension"), "{e}");
        series.dimensions.insert("D".into(), "a".into());
        assert!(split_rows(&rows, &[series], &HashMap::new()).is_ok());
    }

    /// The page parser and the period parser on arbitrary input: a value or an error,
    /// never a panic; every value finite, every period inside `model::YEARS` and printing
    /// as something that parses back to it.
    mod props {
        use super::*;
        use proptest::prelude::*;

        fn series() -> SeriesConfig {
            SeriesConfig {
                id: "s".into(),
                source: "cbs".into(),
                table: "T".into(),
                measure: "M".into(),
                dimensions: [("D".to_string(), "a".to_string())].into(),
                title: "t".into(),
                unit: "".into(),
                derive: None,
                frequency: None,
            }
        }

        /// JSON text of a cell: numbers (some overflowing), odd strings, null, other types.
        fn cell() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<f64>()
                    .prop_filter("finite", |v| v.is_finite())
                    .prop_map(|v| v.to_string()),
                Just("1e999".to_string()),
                Just("-1e999".to_string()),
                Just("null".to_string()),
                Just("true".to_string()),
                Just("[1]".to_string()),
                prop_oneof![
                    Just("NaN"),
                    Just("inf"),
                    Just("-inf"),
                    Just("Infinity"),
                    Just("-1e999"),
                    Just(" 1,5 "),
                    Just("."),
                    Just("x"),
                    Just(" 12.5 "),
                    Just("")
                ]
                .prop_map(|s| format!("{s:?}")),
                "[ -~]{0,8}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            ]
        }

        fn period_key() -> impl Strategy<Value = String> {
            prop_oneof![
                "[ 0-9+-]{4}(MM|KW|JJ|HJ)[0-9+ -]{2}",
                "(1[6-9]|2[0-3])[0-9]{2}(MM|KW|JJ)[0-9]{2}",
                "\\PC{0,10}",
            ]
        }

        fn row() -> impl Strategy<Value = String> {
            (
                prop_oneof![Just("a"), Just("a  "), Just("b")],
                period_key(),
                cell(),
            )
                .prop_map(|(d, p, c)| {
                    format!(
                        r#"{{"D":{},"Perioden":{},"M":{c}}}"#,
                        serde_json::to_string(d).unwrap(),
                        serde_json::to_string(&p).unwrap()
                    )
                })
        }

        fn check_data(data: &TableData) {
            for obs in data.series.values() {
                for o in obs {
                    assert!(o.value.is_finite(), "{o:?}");
                    assert!(crate::model::YEARS.contains(&o.period.year()), "{o:?}");
                    assert_eq!(o.period.to_string().parse::<Period>(), Ok(o.period));
                }
            }
        }

        fn parse(body: &[u8]) -> Result<TableData, String> {
            let series = [series()];
            let status = HashMap::new();
            let mut splitter = Splitter::new(&series, &status);
            let mut add = |row: serde_json::Map<String, Value>| splitter.add_row(&row);
            match read_page(body, &mut add) {
                Ok(_) => {}
                Err(PageError::Json(e)) => return Err(e.to_string()),
                Err(PageError::Row(e)) => return Err(e.to_string()),
            }
            splitter.finish().map_err(|e| e.to_string())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

            #[test]
            fn pages_give_finite_values_or_an_error(
                rows in prop::collection::vec(row(), 0..12),
                next in prop::option::of("[ -~]{0,20}"),
            ) {
                let mut body = format!(r#"{{"odata.metadata":"x","value":[{}]"#, rows.join(","));
                if let Some(n) = next {
                    body.push_str(&format!(r#","odata.nextLink":{}"#, serde_json::to_string(&n).unwrap()));
                }
                body.push('}');
                match parse(body.as_bytes()) {
                    Ok(data) => check_data(&data),
                    Err(m) => prop_assert!(!m.is_empty()),
                }
            }

            #[test]
            fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..200)) {
                if let Ok(data) = parse(&body) {
                    check_data(&data);
                }
            }

            #[test]
            fn periods_are_sane_and_round_trip(key in period_key()) {
                if let Some(p) = parse_period(&key) {
                    prop_assert!(crate::model::YEARS.contains(&p.year()), "{key:?} -> {p:?}");
                    prop_assert_eq!(p.to_string().parse::<Period>(), Ok(p));
                }
            }
        }
    }
}
