//! Destatis GENESIS-Online web service, REST "2020" (POST only).
//!
//! Every call is a form POST to `{base_url}/{service}/{method}` with the credentials in the
//! `username`/`password` headers (a token goes in `username`, the password stays empty).
//! The service answers HTTP 200 even on errors, with a JSON envelope
//! `Ident/Status{Code,Content,Type}/Parameter/Object|List`; data calls answer with a zip
//! instead when they succeed.
//!
//! Cheap check: `catalogue/cubes` for the table's statistic (`42153*`), whose newest
//! `LatestUpdate` moves whenever any cube behind the table is reloaded (a sibling cube moving
//! only costs a needless download; it can never hide a release). When the cube list is
//! empty, `catalogue/modifieddata` (day resolution) is the fallback.
//!
//! Data: `data/tablefile` as `ffcsv` (a zip holding one `;`-separated CSV in long form, one
//! row per cell). A table too big for the dialog (status 98) goes through the job flow:
//! `job=true` (status 99 names the result), poll `catalogue/results`, then `data/resultfile`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{Cursor, Read};
use std::time::Duration;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};
use url::Url;

use super::http::{Expect, Http, HttpError, Reply};
use super::{check_unique, keep_one_frequency, Check, FetchError, TableData};
use crate::config::{
    SeriesConfig, SourceConfig, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_ROWS_PER_TABLE,
};
use crate::model::{Observation, Period};

/// GENESIS allows 3 parallel requests per user; 2 leaves room for a person using the same
/// account in a browser or script.
pub const MAX_IN_FLIGHT: usize = 2;
/// Largest page the catalogue services hand out.
const PAGE_LENGTH: &str = "2500";

/// Values GENESIS writes instead of a number: `...` not yet published, `.` unknown or
/// secret, `-` nothing (or not applicable), `x` not meaningful, `/` too uncertain.
const MISSING: [&str; 6] = ["", "...", ".", "-", "x", "/"];

/// The long ffcsv header columns besides the numbered `N_variable_*` ones.
const FIXED_COLUMNS: [&str; 10] = [
    "statistics_code",
    "statistics_label",
    "time_code",
    "time_label",
    "time",
    "value",
    "value_unit",
    "value_variable_code",
    "value_variable_label",
    "value_q",
];

const LONG_LAYOUT: &str = "statistics_code;statistics_label;time_code;time_label;time;\
    N_variable_code;N_variable_label;N_variable_attribute_code;N_variable_attribute_label;...;\
    value;value_unit;value_variable_code;value_variable_label[;value_q]";

/// How a result of the job flow is waited for.
#[derive(Debug, Clone, Copy)]
struct JobPoll {
    delay: Duration,
    tries: u32,
}

pub struct Destatis {
    http: Http,
    // Boxed so the `Source` enum stays small (clippy::large_enum_variant).
    base: Box<Url>,
    /// `username` and `password`, marked sensitive so they never show in debug output.
    credentials: Box<HeaderMap>,
    /// The raw secrets, only to scrub them from server messages before they reach an error.
    scrub: Vec<String>,
    language: String,
    history_years: u32,
    permits: Semaphore,
    job: JobPoll,
    max_rows: usize,
    pub(crate) deadline: Duration,
}

/// The GENESIS JSON envelope (the parts statwatch reads).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope {
    pub status: Status,
    #[serde(default)]
    pub list: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Status {
    /// A number in every recording; accepted as text too.
    pub code: Value,
    #[serde(default)]
    pub content: Option<String>,
}

impl Status {
    pub fn code(&self) -> Option<i64> {
        match &self.code {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The message on one line (GENESIS breaks its messages with `\n`).
    pub fn content(&self) -> String {
        self.content
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What the status codes mean, for messages.
fn meaning(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "ok",
        22 => "parameters adjusted",
        -1 => "error",
        90 => "not found",
        98 => "table too big",
        99 => "job created",
        104 => "no match",
        _ => return None,
    })
}

/// The error for an envelope status that is not the awaited one.
pub fn status_error(status: &Status) -> FetchError {
    let content = status.content();
    let code = match status.code() {
        Some(c) => c,
        None => {
            return FetchError::Api(format!(
                "GENESIS status {} (not a number): {content}",
                status.code
            ))
        }
    };
    match meaning(code) {
        Some(m) => FetchError::Api(format!("GENESIS status {code} ({m}): {content}")),
        None => FetchError::Api(format!("GENESIS status {code}: {content}")),
    }
}

/// What a data call answered.
#[derive(Debug)]
pub enum Answer {
    /// The CSV text from the zip (BOM removed).
    Csv(String),
    Envelope(Envelope),
}

/// Sorts a data answer: a zip (the file), a JSON envelope (a status), or an error.
pub fn read_answer(body: &[u8]) -> Result<Answer, FetchError> {
    read_answer_within(body, DEFAULT_MAX_RESPONSE_BYTES as usize)
}

/// `read_answer`, with the zip's file unpacked to at most `limit` bytes.
pub fn read_answer_within(body: &[u8], limit: usize) -> Result<Answer, FetchError> {
    if body.starts_with(b"PK\x03\x04") {
        return Ok(Answer::Csv(decode_text(unzip_single(body, limit)?)));
    }
    if body.starts_with(b"PK") {
        return Err(FetchError::Schema(
            "the zip holds no file (or is damaged at its start)".into(),
        ));
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let head = text.trim_start_matches('\u{feff}').trim_start();
    if head.starts_with('{') {
        let json = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
        return serde_json::from_slice::<Envelope>(json)
            .map(Answer::Envelope)
            .map_err(|e| {
                FetchError::Schema(format!(
                    "a JSON answer that is not a GENESIS envelope ({e}); it may be truncated"
                ))
            });
    }
    // Older service versions sent the CSV unzipped; the header check below decides.
    if head.starts_with("statistics_code;") || head.starts_with("Statistik_Code;") {
        return Ok(Answer::Csv(decode_text(body.to_vec())));
    }
    Err(FetchError::Schema(format!(
        "the answer is not a zip and not a GENESIS envelope ({} bytes, starting with {} = {:?})",
        body.len(),
        hex::encode(&body[..body.len().min(8)]),
        super::http::snippet(&body[..body.len().min(40)]),
    )))
}

/// The one file inside an ffcsv zip, size-capped.
fn unzip_single(body: &[u8], limit: usize) -> Result<Vec<u8>, FetchError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(body)).map_err(|e| {
        FetchError::Schema(format!(
            "the zip is truncated or damaged ({e}; {} bytes received)",
            body.len()
        ))
    })?;
    let files: Vec<String> = zip.file_names().map(str::to_string).collect();
    if files.len() != 1 {
        return Err(FetchError::Schema(format!(
            "expected one file in the zip, found {}: {}",
            files.len(),
            files.join(", ")
        )));
    }
    let file = zip
        .by_index(0)
        .map_err(|e| FetchError::Schema(format!("cannot open {} in the zip: {e}", files[0])))?;
    let mut out = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            FetchError::Schema(format!(
                "cannot unpack {} from the zip (truncated or damaged): {e}",
                files[0]
            ))
        })?;
    if out.len() > limit {
        return Err(FetchError::Schema(format!(
            "{} unpacks to more than {limit} bytes (max_response_bytes)",
            files[0]
        )));
    }
    Ok(out)
}

/// UTF-8 (with or without BOM) as GENESIS sends today; Latin-1 as older exports were.
fn decode_text(bytes: Vec<u8>) -> String {
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            debug!("ffcsv is not UTF-8, reading it as Latin-1");
            e.into_bytes().iter().map(|&b| b as char).collect()
        }
    };
    match text.strip_prefix('\u{feff}') {
        Some(t) => t.to_string(),
        None => text,
    }
}

/// One cell of a long ffcsv file.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// (variable code, attribute code) in column order, including a month/quarter variable.
    pub dims: Vec<(String, String)>,
    pub period: Period,
    /// Readable source period: `2025-MONAT03`, `2025-QUART1`, `2025`.
    pub source_period: String,
    /// `value_variable_code`.
    pub measure: String,
    pub unit: String,
    /// `None` for a missing-value marker.
    pub value: Option<f64>,
    /// `value_q` (the quality flag), or empty.
    pub quality: String,
}

struct Layout {
    time_code: usize,
    time: usize,
    /// (code column, attribute code column) per variable.
    vars: Vec<(usize, usize)>,
    value: usize,
    unit: usize,
    measure: usize,
    quality: Option<usize>,
}

fn layout(header: &csv::StringRecord) -> Result<Layout, FetchError> {
    let names: Vec<&str> = header.iter().map(str::trim).collect();
    let mut seen = HashSet::new();
    let legacy = names
        .iter()
        .any(|n| n.contains("__") || n.eq_ignore_ascii_case("Statistik_Code") || !seen.insert(*n));
    if legacy {
        return Err(FetchError::Schema(format!(
            "this is the old wide ffcsv layout (header {:?}), which GENESIS no longer serves \
             and statwatch does not read; expected the long layout {LONG_LAYOUT}",
            super::http::snippet(header.as_slice().as_bytes())
        )));
    }
    let find = |name: &str| names.iter().position(|n| *n == name);
    let mut vars: BTreeMap<u32, [Option<usize>; 2]> = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        if FIXED_COLUMNS.contains(n) {
            continue;
        }
        let numbered = n
            .split_once('_')
            .and_then(|(num, rest)| Some((num.parse::<u32>().ok()?, rest)));
        match numbered {
            Some((k, "variable_code")) => vars.entry(k).or_default()[0] = Some(i),
            Some((k, "variable_attribute_code")) => vars.entry(k).or_default()[1] = Some(i),
            Some((_, "variable_label" | "variable_attribute_label")) => {}
            _ => {
                return Err(FetchError::Schema(format!(
                    "unknown column {n:?} in the ffcsv header; expected the long layout \
                     {LONG_LAYOUT}"
                )))
            }
        }
    }
    let need = |name: &str| {
        find(name).ok_or_else(|| {
            FetchError::Schema(format!(
                "the ffcsv header has no column {name:?}; expected the long layout {LONG_LAYOUT}"
            ))
        })
    };
    let mut var_cols = Vec::new();
    for (k, cols) in vars {
        match cols {
            [Some(c), Some(a)] => var_cols.push((c, a)),
            _ => {
                return Err(FetchError::Schema(format!(
                    "the ffcsv header lacks {k}_variable_code or {k}_variable_attribute_code"
                )))
            }
        }
    }
    Ok(Layout {
        time_code: need("time_code")?,
        time: need("time")?,
        vars: var_cols,
        value: need("value")?,
        unit: need("value_unit")?,
        measure: need("value_variable_code")?,
        quality: find("value_q"),
    })
}

/// Parses a number written with a decimal comma (`de`) or point (`en`); `None` for a
/// missing-value marker. A separator of the other language is refused, not guessed at.
pub fn parse_value(raw: &str, decimal_comma: bool) -> Result<Option<f64>, String> {
    let t = raw.trim();
    if MISSING.contains(&t) {
        return Ok(None);
    }
    let (ours, theirs) = if decimal_comma {
        (',', '.')
    } else {
        ('.', ',')
    };
    if t.contains(theirs) {
        return Err(format!(
            "{t:?} has a {theirs:?}, which this language does not use as decimal separator"
        ));
    }
    let v: f64 = t
        .replace(ours, ".")
        .parse()
        .map_err(|_| format!("not a number: {t:?}"))?;
    if v.is_finite() {
        Ok(Some(v))
    } else {
        Err(format!("not a finite number: {t:?}"))
    }
}

fn two_digits(s: &str) -> Option<u8> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The period of one row: `time` (the year) refined by a month or quarter variable.
fn row_period(
    time_code: &str,
    time: &str,
    dims: &[(String, String)],
) -> Result<(Period, String), String> {
    let time = time.trim();
    if !time_code.trim().eq_ignore_ascii_case("JAHR") {
        return Err(format!(
            "time axis {time_code:?} ({time}) is not supported: statwatch reads yearly time \
             axes (JAHR), refined by a month (MONAT) or quarter (QUARTG) variable"
        ));
    }
    // Four digits (`i32::parse` would take `-999`), within `model::YEARS`.
    let year: i32 = match time.len() == 4 && time.bytes().all(|b| b.is_ascii_digit()) {
        true => time.parse().map_err(|_| format!("not a year: {time:?}"))?,
        false => return Err(format!("not a year: {time:?}")),
    };
    if Period::year_of(year).is_none() {
        return Err(format!("year {year} is out of range (1800 to 2200)"));
    }
    for (var, attr) in dims {
        let attr = attr.trim();
        if var.starts_with("MONAT") {
            let m = attr
                .strip_prefix("MONAT")
                .and_then(two_digits)
                .and_then(|m| Period::month(year, m))
                .ok_or_else(|| format!("month variable {var} has an unknown value {attr:?}"))?;
            return Ok((m, format!("{year}-{attr}")));
        }
        if var.starts_with("QUART") {
            let q = attr
                .strip_prefix("QUART")
                .and_then(|q| q.parse::<u8>().ok())
                .and_then(|q| Period::quarter(year, q))
                .ok_or_else(|| format!("quarter variable {var} has an unknown value {attr:?}"))?;
            return Ok((q, format!("{year}-{attr}")));
        }
    }
    Ok((Period::Year(year), year.to_string()))
}

/// Parses a long-layout ffcsv file into cells, by header (columns may come in any order).
pub fn parse_ffcsv(text: &str, decimal_comma: bool) -> Result<Vec<Cell>, FetchError> {
    parse_ffcsv_within(text, decimal_comma, DEFAULT_MAX_ROWS_PER_TABLE as usize)
}

/// `parse_ffcsv`, refusing a file of more than `max_rows` rows.
pub fn parse_ffcsv_within(
    text: &str,
    decimal_comma: bool,
    max_rows: usize,
) -> Result<Vec<Cell>, FetchError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header = rdr
        .headers()
        .map_err(|e| FetchError::Schema(format!("cannot read the ffcsv header: {e}")))?
        .clone();
    let lay = layout(&header)?;
    let mut cells = Vec::new();
    let mut keys = HashSet::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        if i >= max_rows {
            return Err(FetchError::Schema(format!(
                "the ffcsv file has more than {max_rows} rows (max_rows_per_table)"
            )));
        }
        let rec = rec.map_err(|e| FetchError::Schema(format!("ffcsv line {line}: {e}")))?;
        let get = |c: usize| rec.get(c).unwrap_or("");
        let dims: Vec<(String, String)> = lay
            .vars
            .iter()
            .map(|&(c, a)| (get(c).trim().to_string(), get(a).trim().to_string()))
            .collect();
        let (period, source_period) = row_period(get(lay.time_code), get(lay.time), &dims)
            .map_err(|m| FetchError::Schema(format!("ffcsv line {line}: {m}")))?;
        let value = parse_value(get(lay.value), decimal_comma)
            .map_err(|m| FetchError::Schema(format!("ffcsv line {line}: {m}")))?;
        let cell = Cell {
            dims,
            period,
            source_period,
            measure: get(lay.measure).trim().to_string(),
            unit: get(lay.unit).trim().to_string(),
            value,
            quality: lay
                .quality
                .map(|q| get(q).trim().to_string())
                .unwrap_or_default(),
        };
        let key = (
            cell.dims.clone(),
            cell.source_period.clone(),
            cell.measure.clone(),
            cell.unit.clone(),
        );
        if !keys.insert(key) {
            return Err(FetchError::Schema(format!(
                "ffcsv line {line}: a second row for {} {} [{}] {}",
                cell.measure,
                cell.source_period,
                cell.unit,
                fmt_dims(&cell.dims)
            )));
        }
        cells.push(cell);
    }
    Ok(cells)
}

fn fmt_dims(dims: &[(String, String)]) -> String {
    dims.iter()
        .map(|(v, a)| format!("{v}={a}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Units compared as people write them: `%` and `Prozent`/`percent` are one unit (GENESIS
/// labels the same unit differently per language).
fn same_unit(a: &str, b: &str) -> bool {
    fn norm(u: &str) -> String {
        let u = u.trim().to_lowercase();
        match u.as_str() {
            "prozent" | "percent" => "%".into(),
            _ => u,
        }
    }
    norm(a) == norm(b)
}

fn cell_matches(cell: &Cell, s: &SeriesConfig) -> bool {
    cell.measure == s.measure
        && (s.unit.trim().is_empty() || same_unit(&cell.unit, &s.unit))
        && s.dimensions.iter().all(|(var, attr)| {
            cell.dims
                .iter()
                .any(|(v, a)| v == var.trim() && a == attr.trim())
        })
}

/// Lists up to `max` items, saying how many more there are.
fn listing<'a>(items: impl IntoIterator<Item = &'a str>, max: usize) -> String {
    let all: Vec<&str> = items.into_iter().collect();
    let mut s = all.iter().take(max).copied().collect::<Vec<_>>().join(", ");
    if all.len() > max {
        s.push_str(&format!(" and {} more", all.len() - max));
    }
    s
}

/// Why a series matched nothing, in terms of what the table does hold.
fn explain_no_match(cells: &[Cell], s: &SeriesConfig) -> String {
    let measures: BTreeSet<String> = cells
        .iter()
        .map(|c| format!("{} [{}]", c.measure, c.unit))
        .collect();
    let of_measure: Vec<&Cell> = cells.iter().filter(|c| c.measure == s.measure).collect();
    if of_measure.is_empty() {
        return format!(
            "the table has no value variable {:?}; it has {}",
            s.measure,
            listing(measures.iter().map(String::as_str), 30)
        );
    }
    if !s.unit.trim().is_empty() && !of_measure.iter().any(|c| same_unit(&c.unit, &s.unit)) {
        let units: BTreeSet<&str> = of_measure.iter().map(|c| c.unit.as_str()).collect();
        return format!(
            "{} is given in {}, not in unit {:?} (units are named in the source's language)",
            s.measure,
            listing(units, 30),
            s.unit
        );
    }
    let mut problems = Vec::new();
    for (var, attr) in &s.dimensions {
        let attrs: BTreeSet<&str> = of_measure
            .iter()
            .flat_map(|c| c.dims.iter())
            .filter(|(v, _)| v == var.trim())
            .map(|(_, a)| a.as_str())
            .collect();
        if attrs.is_empty() {
            let vars: BTreeSet<&str> = of_measure
                .iter()
                .flat_map(|c| c.dims.iter().map(|(v, _)| v.as_str()))
                .collect();
            problems.push(format!(
                "the table has no variable {var:?} (its variables: {})",
                listing(vars, 30)
            ));
        } else if !attrs.contains(attr.trim()) {
            problems.push(format!(
                "variable {var} has no value {attr:?} (it has {})",
                listing(attrs, 30)
            ));
        }
    }
    if problems.is_empty() {
        format!(
            "no row of {} matches {} together",
            s.measure,
            s.dimensions
                .iter()
                .map(|(v, a)| format!("{v}={a}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        problems.join("; ")
    }
}

/// Picks each configured series out of the table's cells.
pub fn select(cells: &[Cell], series: &[SeriesConfig]) -> Result<TableData, FetchError> {
    let mut data = TableData::default();
    for s in series {
        let matched: Vec<&Cell> = cells.iter().filter(|c| cell_matches(c, s)).collect();
        if matched.is_empty() {
            return Err(FetchError::Series {
                series: s.id.clone(),
                message: format!(
                    "no rows for measure {}{}: {}",
                    s.measure,
                    if s.dimensions.is_empty() {
                        String::new()
                    } else {
                        format!(" with {}", fmt_dims_map(&s.dimensions))
                    },
                    explain_no_match(cells, s)
                ),
            });
        }
        if s.unit.trim().is_empty() {
            let mut units: BTreeMap<Period, BTreeSet<&str>> = BTreeMap::new();
            for c in &matched {
                units.entry(c.period).or_default().insert(&c.unit);
            }
            if let Some((period, u)) = units.iter().find(|(_, u)| u.len() > 1) {
                return Err(FetchError::Series {
                    series: s.id.clone(),
                    message: format!(
                        "{} comes in several units for {period} ({}): set `unit` to one of them",
                        s.measure,
                        u.iter()
                            .map(|u| format!("{u:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        let mut obs: Vec<Observation> = matched
            .iter()
            .filter_map(|c| {
                Some(Observation {
                    period: c.period,
                    source_period: c.source_period.clone(),
                    value: c.value?,
                    status: c.quality.clone(),
                })
            })
            .collect();
        keep_one_frequency(&mut obs, s.frequency);
        check_unique(s, &obs)?;
        data.series.insert(s.id.clone(), obs);
    }
    Ok(data)
}

fn fmt_dims_map(d: &BTreeMap<String, String>) -> String {
    d.iter()
        .map(|(v, a)| format!("{v}={a}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statistic a table belongs to: `42153-0001` -> `42153`.
fn statistic_code(table: &str) -> Result<&str, FetchError> {
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
pub fn cubes_stamp(list: &[Value]) -> Option<String> {
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
pub fn modified_stamp(list: &[Value]) -> Option<String> {
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

/// The result name in a status-99 message ("... mit folgendem Namen abgerufen werden:
/// 12531-0043_175879554").
pub fn job_result_name(table: &str, content: &str) -> Option<String> {
    let words = || {
        content
            .split(|c: char| c.is_whitespace() || c == ',' || c == '"' || c == '\'')
            .map(|w| w.trim_end_matches('.').trim_end_matches(':'))
    };
    let prefix = format!("{}_", table.trim());
    words()
        .find(|w| w.starts_with(&prefix) && w.len() > prefix.len())
        .or_else(|| words().rfind(|w| w.contains('_')))
        .map(str::to_string)
}

/// A catalogue endpoint this server does not offer (HTTP 404) gives no change signal; any
/// other failure is the poll's failure.
fn not_offered<T>(e: FetchError) -> Result<Option<T>, FetchError> {
    if e.is_not_found() {
        warn!(error = %e, "GENESIS catalogue endpoint not offered; trying the next change signal");
        Ok(None)
    } else {
        Err(e)
    }
}

impl Destatis {
    pub fn new(cfg: &SourceConfig) -> Result<Destatis, HttpError> {
        let mut credentials = HeaderMap::new();
        let mut scrub = Vec::new();
        for (name, secret) in [
            ("username", cfg.username.as_ref()),
            ("password", cfg.password.as_ref()),
        ] {
            let raw = secret.map(|s| s.expose()).unwrap_or("");
            let mut value = HeaderValue::from_str(raw).map_err(|_| {
                HttpError::Other(format!(
                    "the GENESIS {name} has characters that cannot go in an HTTP header"
                ))
            })?;
            value.set_sensitive(true);
            credentials.insert(HeaderName::from_static(name), value);
            // Short values would scrub ordinary words from messages; a real token is long.
            if raw.len() >= 4 {
                scrub.push(raw.to_string());
            }
        }
        Ok(Destatis {
            http: Http::new(cfg.timeout, &cfg.base_url, cfg.max_response_bytes)?,
            base: Box::new(cfg.base_url.clone()),
            credentials: Box::new(credentials),
            scrub,
            language: cfg.language.clone(),
            history_years: cfg.history_years,
            permits: Semaphore::new(MAX_IN_FLIGHT),
            job: JobPoll {
                delay: Duration::from_secs(5),
                tries: 120,
            },
            max_rows: cfg.max_rows_per_table,
            deadline: cfg.table_deadline,
        })
    }

    /// Sets the HTTP layer's first retry delay. Tests shorten it.
    pub fn with_backoff(mut self, backoff: Duration) -> Destatis {
        self.http = self.http.with_backoff(backoff);
        self
    }

    /// Sets how often (`tries`) and how far apart (`delay`) a background job's result is
    /// polled. The default, 120 polls 5 s apart, waits up to 10 minutes.
    pub fn with_job_poll(mut self, delay: Duration, tries: u32) -> Destatis {
        self.job = JobPoll {
            delay,
            tries: tries.max(1),
        };
        self
    }

    fn url(&self, service: &str, method: &str) -> Url {
        let mut url = (*self.base).clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty();
            segs.extend([service, method]);
        }
        url
    }

    fn scrubbed(&self, e: FetchError) -> FetchError {
        match e {
            FetchError::Api(mut m) => {
                for s in &self.scrub {
                    m = m.replace(s.as_str(), "***");
                }
                FetchError::Api(m)
            }
            other => other,
        }
    }

    /// One POST, within the source's request budget.
    async fn post(&self, endpoint: &str, form: &[(&str, String)]) -> Result<Reply, FetchError> {
        let url = match endpoint.split_once('/') {
            Some((service, method)) => self.url(service, method),
            None => self.url(endpoint, ""),
        };
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| FetchError::Api("the request limiter was closed".into()))?;
        debug!(endpoint, "GENESIS request");
        self.http
            .post_form(
                &url,
                (*self.credentials).clone(),
                form,
                Expect::JsonOrBinary,
            )
            .await
            .map_err(FetchError::http(format!("POST {endpoint}")))
    }

    /// A catalogue call: the envelope, with 0 and 22 accepted and 104 as `None`.
    async fn catalogue(
        &self,
        endpoint: &str,
        form: &[(&str, String)],
    ) -> Result<Option<Vec<Value>>, FetchError> {
        let reply = self.post(endpoint, form).await?;
        let env: Envelope = serde_json::from_slice(&reply.body).map_err(|e| {
            FetchError::Schema(format!(
                "{endpoint}: not a GENESIS envelope ({e}): {}",
                super::http::snippet(&reply.body)
            ))
        })?;
        match env.status.code() {
            Some(0) => Ok(Some(env.list.unwrap_or_default())),
            Some(22) => {
                debug!(endpoint, message = %env.status.content(), "GENESIS adjusted parameters");
                Ok(Some(env.list.unwrap_or_default()))
            }
            Some(104) => Ok(None),
            _ => Err(self.scrubbed(status_error(&env.status))),
        }
    }

    pub async fn check(&self, table: &str, known: Option<&str>) -> Result<Check, FetchError> {
        // An account is required since 2024; asking without one only earns an error envelope.
        if self
            .credentials
            .get("username")
            .is_none_or(|u| u.is_empty())
        {
            return Err(FetchError::Api(
                "no GENESIS credentials: set username (an API token, with password = \"\") or \
                 username_file in the source's config"
                    .into(),
            ));
        }
        let stat = statistic_code(table)?;
        let lang = self.language.clone();
        let cubes = self
            .catalogue(
                "catalogue/cubes",
                &[
                    ("selection", format!("{stat}*")),
                    ("area", "all".into()),
                    ("pagelength", PAGE_LENGTH.into()),
                    ("language", lang.clone()),
                ],
            )
            .await
            .or_else(not_offered)?;
        let mut stamp = cubes.as_deref().and_then(cubes_stamp);
        if stamp.is_none() {
            let since = chrono::Utc::now().year() - 1;
            let modified = self
                .catalogue(
                    "catalogue/modifieddata",
                    &[
                        ("selection", stat.to_string()),
                        ("type", "all".into()),
                        ("date", format!("01.01.{since}")),
                        ("pagelength", PAGE_LENGTH.into()),
                        ("language", lang),
                    ],
                )
                .await
                .or_else(not_offered)?;
            stamp = modified.as_deref().and_then(modified_stamp);
        }
        let Some(stamp) = stamp else {
            // No signal at all: download every time rather than risk missing a release.
            warn!(
                table,
                "GENESIS lists no cube update and no modification for this statistic; \
                 downloading the table on every poll"
            );
            return Ok(Check::Changed {
                stamp: format!("unknown {}", chrono::Utc::now().to_rfc3339()),
            });
        };
        debug!(table, %stamp, "GENESIS change stamp");
        if known == Some(stamp.as_str()) {
            Ok(Check::Unchanged)
        } else {
            Ok(Check::Changed { stamp })
        }
    }

    fn tablefile_form(&self, table: &str, job: bool) -> Vec<(&'static str, String)> {
        let start = chrono::Utc::now().year() - self.history_years as i32;
        vec![
            ("name", table.to_string()),
            ("area", "all".into()),
            ("format", "ffcsv".into()),
            ("compress", "false".into()),
            ("job", job.to_string()),
            ("language", self.language.clone()),
            ("startyear", start.to_string()),
            ("quality", "on".into()),
        ]
    }

    /// The CSV text of a data answer; an envelope is an error (its status).
    /// `read_answer` under this source's byte cap.
    fn read(&self, body: &[u8]) -> Result<Answer, FetchError> {
        read_answer_within(body, self.http.max_body())
    }

    fn csv_or_error(&self, what: &str, body: &[u8]) -> Result<String, FetchError> {
        match self.read(body)? {
            Answer::Csv(text) => Ok(text),
            Answer::Envelope(env) => Err(match env.status.code() {
                Some(0 | 22) => FetchError::Schema(format!(
                    "{what}: GENESIS answered {:?} but sent no file",
                    env.status.content()
                )),
                _ => self.scrubbed(status_error(&env.status)),
            }),
        }
    }

    async fn download(&self, table: &str) -> Result<String, FetchError> {
        let reply = self
            .post("data/tablefile", &self.tablefile_form(table, false))
            .await?;
        match self.read(&reply.body)? {
            Answer::Csv(text) => Ok(text),
            Answer::Envelope(env) if env.status.code() == Some(98) => {
                info!(
                    table,
                    "GENESIS table too big for the dialog, starting a job"
                );
                self.run_job(table).await
            }
            Answer::Envelope(_) => self.csv_or_error("data/tablefile", &reply.body),
        }
    }

    /// The job flow: create, wait for the result, download it.
    async fn run_job(&self, table: &str) -> Result<String, FetchError> {
        let reply = self
            .post("data/tablefile", &self.tablefile_form(table, true))
            .await?;
        let env = match self.read(&reply.body)? {
            Answer::Csv(text) => return Ok(text),
            Answer::Envelope(env) => env,
        };
        if env.status.code() != Some(99) {
            return Err(self.scrubbed(status_error(&env.status)));
        }
        let content = env.status.content();
        let name = job_result_name(table, &content).ok_or_else(|| {
            FetchError::Schema(format!(
                "GENESIS created a job but its message names no result: {content:?}"
            ))
        })?;
        info!(table, result = %name, "GENESIS job created");
        let mut ready = false;
        for attempt in 1..=self.job.tries {
            tokio::time::sleep(self.job.delay).await;
            let list = self
                .catalogue(
                    "catalogue/results",
                    &[
                        ("selection", name.clone()),
                        ("area", "all".into()),
                        ("pagelength", "10".into()),
                        ("language", self.language.clone()),
                    ],
                )
                .await?;
            let listed = list.is_some_and(|l| {
                l.iter()
                    .any(|r| r.get("Code").and_then(Value::as_str) == Some(name.as_str()))
            });
            if listed {
                ready = true;
                break;
            }
            debug!(table, result = %name, attempt, "GENESIS job not ready yet");
        }
        if !ready {
            return Err(FetchError::Api(format!(
                "GENESIS job {name} was not ready after {} polls {:?} apart; the next poll \
                 starts a new job",
                self.job.tries, self.job.delay
            )));
        }
        let reply = self
            .post(
                "data/resultfile",
                &[
                    ("name", name.clone()),
                    ("area", "all".into()),
                    ("format", "ffcsv".into()),
                    ("compress", "false".into()),
                    ("language", self.language.clone()),
                ],
            )
            .await?;
        self.csv_or_error("data/resultfile", &reply.body)
    }

    pub async fn fetch(
        &self,
        table: &str,
        series: &[SeriesConfig],
    ) -> Result<TableData, FetchError> {
        let text = self.download(table).await?;
        let cells = parse_ffcsv_within(&text, self.language == "de", self.max_rows)?;
        drop(text);
        debug!(table, cells = cells.len(), "GENESIS tablefile parsed");
        select(&cells, series)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_of(zip: &[u8]) -> String {
        match read_answer(zip).unwrap() {
            Answer::Csv(t) => t,
            Answer::Envelope(e) => panic!("envelope {e:?}"),
        }
    }

    fn series(id: &str, measure: &str, dims: &[(&str, &str)], unit: &str) -> SeriesConfig {
        SeriesConfig {
            id: id.into(),
            source: "destatis".into(),
            table: "t".into(),
            measure: measure.into(),
            dimensions: dims
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            title: id.into(),
            unit: unit.into(),
            derive: None,
            frequency: None,
        }
    }

    #[test]
    fn german_and_english_61111_0021_give_identical_values() {
        let de = parse_ffcsv(
            &csv_of(include_bytes!(
                "../../tests/fixtures/destatis/data_tablefile_61111-0021_de_ffcsv.zip"
            )),
            true,
        )
        .unwrap();
        let en = parse_ffcsv(
            &csv_of(include_bytes!(
                "../../tests/fixtures/destatis/data_tablefile_61111-0021_en_ffcsv.zip"
            )),
            false,
        )
        .unwrap();
        assert_eq!(de.len(), 960);
        assert_eq!(de, en);
        assert_eq!(de.iter().filter(|c| c.value.is_none()).count(), 128);
        // First data row: Saarland (10), November 2021, 101,6.
        assert_eq!(de[0].period, Period::Month(2021, 11));
        assert_eq!(de[0].source_period, "2021-MONAT11");
        assert_eq!(de[0].value, Some(101.6));
        let s = series("saar", "PRE034", &[("DLAND", "10")], "2020=100");
        let data = select(&de, std::slice::from_ref(&s)).unwrap();
        let obs = &data.series["saar"];
        // Sorted by period though the file is not; unpublished months left out.
        assert!(obs.windows(2).all(|w| w[0].period < w[1].period));
        assert_eq!(obs[0].period, Period::Month(2021, 1));
        assert!(obs.iter().all(|o| o.status.is_empty()));
        assert_eq!(obs.len(), 60 - 8);
        // The Land key "01" keeps its leading zero.
        let sh = series("sh", "PRE034", &[("DLAND", "01")], "");
        assert!(!select(&de, &[sh]).unwrap().series["sh"].is_empty());
    }

    #[test]
    fn several_value_variables_and_dash_as_missing_81000() {
        let cells = parse_ffcsv(
            &csv_of(include_bytes!(
                "../../tests/fixtures/destatis/data_tablefile_81000-0001_de_ffcsv.zip"
            )),
            true,
        )
        .unwrap();
        assert_eq!(cells.len(), 280);
        assert_eq!(cells.iter().filter(|c| c.value.is_none()).count(), 100);
        let first = &cells[0];
        assert_eq!(first.measure, "VGR014");
        assert_eq!(first.unit, "jew. ME");
        assert_eq!(first.value, Some(3391.228));
        assert_eq!(first.period, Period::Year(2020));
        let gdp = series("gdp", "VGR014", &[("VGRPB5", "VGRPVU")], "jew. ME");
        let growth = series("g", "BIP005", &[("VGRPB5", "VGRPKM")], "%");
        let data = select(&cells, &[gdp, growth]).unwrap();
        let gdp = &data.series["gdp"];
        assert_eq!(gdp.len(), 10);
        assert_eq!(gdp[0].period, Period::Year(2016));
        let y2020 = gdp.iter().find(|o| o.period == Period::Year(2020)).unwrap();
        assert_eq!(
            (y2020.source_period.as_str(), y2020.value),
            ("2020", 3391.228)
        );
        // Real GDP growth 2020 (price-adjusted, chained): -4.1 %.
        let g = &data.series["g"];
        assert_eq!(g.len(), 10);
        assert_eq!(
            g.iter()
                .find(|o| o.period == Period::Year(2020))
                .unwrap()
                .value,
            -4.1
        );
        // An unpinned price basis gives several values per year.
        let e = select(&cells, &[series("g", "BIP005", &[], "")]).unwrap_err();
        assert!(e.to_string().contains("pin every dimension"), "{e}");
        let e = select(&cells, &[series("x", "NOPE", &[], "")]).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("no value variable \"NOPE\"") && m.contains("BIP005 [Prozent]"),
            "{m}"
        );
        let e = select(&cells, &[series("x", "VGR014", &[("VGRPB5", "XX")], "")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("VGRPB5 has no value \"XX\" (it has VGRJPM, VGRPKM"),
            "{e}"
        );
    }

    #[test]
    fn one_code_in_two_units_needs_unit() {
        let cells = parse_ffcsv(
            &csv_of(include_bytes!(
                "../../tests/fixtures/destatis/data_tablefile_61111-0001_en_ffcsv.zip"
            )),
            false,
        )
        .unwrap();
        let e = select(&cells, &[series("cpi", "PREIS1", &[], "")]).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("set `unit`") && m.contains("\"%\"") && m.contains("\"2020=100\""),
            "{m}"
        );
        let d = select(&cells, &[series("cpi", "PREIS1", &[], "2020=100")]).unwrap();
        assert_eq!(d.series["cpi"].last().unwrap().value, 121.9);
        let d = select(&cells, &[series("cpi", "PREIS1", &[], "Prozent")]).unwrap();
        assert_eq!(d.series["cpi"].last().unwrap().value, 2.2);
        let e = select(&cells, &[series("cpi", "PREIS1", &[], "EUR")]).unwrap_err();
        assert!(e.to_string().contains("not in unit \"EUR\""), "{e}");
    }

    #[test]
    fn quality_flag_becomes_status() {
        let cells = parse_ffcsv(
            &csv_of(include_bytes!(
                "../../tests/fixtures/destatis/data_tablefile_52111-0001_de_ffcsv_quality-on.zip"
            )),
            true,
        )
        .unwrap();
        assert_eq!(cells.len(), 68);
        assert!(cells.iter().all(|c| c.quality == "e"));
        let s = series(
            "u",
            "UNT002",
            &[("BESG12", "BESAB0010B0050"), ("WZ08U6", "WZ08-M")],
            "Anzahl",
        );
        let d = select(&cells, &[s]).unwrap();
        assert_eq!(
            d.series["u"],
            vec![Observation {
                period: Period::Year(2023),
                source_period: "2023".into(),
                value: 28469.0,
                status: "e".into()
            }]
        );
    }

    #[test]
    fn legacy_wide_layout_is_refused() {
        for text in [
            include_str!(
                "../../tests/fixtures/destatis/data_tablefile_46181-0001_de_ffcsv_legacy.csv"
            ),
            include_str!(
                "../../tests/fixtures/destatis/data_tablefile_46181-0001_en_ffcsv_legacy.csv"
            ),
        ] {
            let Answer::Csv(t) = read_answer(text.as_bytes()).unwrap() else {
                panic!("not read as CSV");
            };
            let e = parse_ffcsv(&t, true).unwrap_err();
            assert!(e.to_string().contains("old wide ffcsv layout"), "{e}");
        }
        let e = parse_ffcsv(
            "statistics_code;time_code;time;value;value_unit;value_variable_code;Wert\n",
            true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown column \"Wert\""), "{e}");
    }

    #[test]
    fn missing_markers_and_separators() {
        for m in ["...", ".", "-", "x", "/", "", " ... "] {
            assert_eq!(parse_value(m, true), Ok(None), "{m:?}");
        }
        assert_eq!(parse_value("93,4", true), Ok(Some(93.4)));
        assert_eq!(parse_value("-0,5", true), Ok(Some(-0.5)));
        assert_eq!(parse_value("93.4", false), Ok(Some(93.4)));
        assert_eq!(parse_value("2780526000", true), Ok(Some(2_780_526_000.0)));
        assert!(parse_value("93.4", true).is_err());
        assert!(parse_value("1,5", false).is_err());
        assert!(parse_value("12p", true).is_err());
    }

    #[test]
    fn quarters_and_unsupported_time_axes() {
        let head = "statistics_code;statistics_label;time_code;time_label;time;1_variable_code;\
                    1_variable_label;1_variable_attribute_code;1_variable_attribute_label;value;\
                    value_unit;value_variable_code;value_variable_label\n";
        let text =
            format!("{head}81000;V;JAHR;Jahr;2024;QUARTG;Quartale;QUART3;3. Quartal;1,5;%;X;x\n");
        let cells = parse_ffcsv(&text, true).unwrap();
        assert_eq!(cells[0].period, Period::Quarter(2024, 3));
        assert_eq!(cells[0].source_period, "2024-QUART3");
        let text = format!("{head}12531;S;STAG;Stichtag;31.12.2024;DG;D;DG;D;1;Anzahl;X;x\n");
        let e = parse_ffcsv(&text, true).unwrap_err();
        assert!(e.to_string().contains("time axis \"STAG\""), "{e}");
        let dup = format!(
            "{head}1;S;JAHR;Jahr;2024;DG;D;DG;D;1;Anzahl;X;x\n1;S;JAHR;Jahr;2024;DG;D;DG;D;2;Anzahl;X;x\n"
        );
        assert!(parse_ffcsv(&dup, true)
            .unwrap_err()
            .to_string()
            .contains("second row"));
    }

    #[test]
    fn envelopes_map_to_clear_errors() {
        let status = |bytes: &[u8]| match read_answer(bytes).unwrap() {
            Answer::Envelope(e) => e.status,
            Answer::Csv(_) => panic!("csv"),
        };
        let s = status(include_bytes!(
            "../../tests/fixtures/destatis/data_tablefile_63121-0001_de_status104_no-object.json"
        ));
        assert_eq!(
            status_error(&s).to_string(),
            "the API answered with an error: GENESIS status 104 (no match): Es gibt keine \
             Objekte zum angegebenen Selektionskriterium"
        );
        let s = status(include_bytes!(
            "../../tests/fixtures/destatis/data_tablefile_61111-0021_de_status-1_error.json"
        ));
        let m = status_error(&s).to_string();
        assert!(
            m.contains("GENESIS status -1 (error): Für die Teiltabelle") && !m.contains('\n'),
            "{m}"
        );
        let s = status(include_bytes!(
            "../../tests/fixtures/destatis/data_tablefile_12531-0043_status98_table-too-big.json"
        ));
        assert_eq!(s.code(), Some(98));
        let s = status(include_bytes!(
            "../../tests/fixtures/destatis/data_tablefile_12531-0043_job-true_status99_job-created.json"
        ));
        assert_eq!(
            job_result_name("12531-0043", &s.content()).as_deref(),
            Some("12531-0043_175879554")
        );
        let s: Status =
            serde_json::from_str(r#"{"Code":15,"Content":"login failed","Type":"Fehler"}"#)
                .unwrap();
        assert_eq!(
            status_error(&s).to_string(),
            "the API answered with an error: GENESIS status 15: login failed"
        );
    }

    #[test]
    fn broken_answers() {
        let zip =
            include_bytes!("../../tests/fixtures/destatis/data_tablefile_81000-0001_de_ffcsv.zip");
        let e = read_answer(&zip[..zip.len() / 2]).unwrap_err();
        assert!(e.to_string().contains("truncated or damaged"), "{e}");
        let e = read_answer(b"\x00\x01\x02garbage").unwrap_err();
        assert!(
            e.to_string()
                .contains("not a zip and not a GENESIS envelope"),
            "{e}"
        );
        let bom = "\u{feff}{\"Status\":{\"Code\":90,\"Content\":\"nicht gefunden\"}}";
        let Answer::Envelope(env) = read_answer(bom.as_bytes()).unwrap() else {
            panic!("a BOM before the envelope");
        };
        assert_eq!(
            status_error(&env.status).to_string(),
            "the API answered with an error: GENESIS status 90 (not found): nicht gefunden"
        );
        let e = read_answer(br#"{"Ident":{"Service":"data"},"Status":{"Co"#).unwrap_err();
        assert!(e.to_string().contains("may be truncated"), "{e}");
    }

    #[test]
    fn change_stamps_from_the_catalogue() {
        let env: Envelope = serde_json::from_str(include_str!(
            "../../tests/fixtures/destatis/catalogue_cubes_611x_de.json"
        ))
        .unwrap();
        assert_eq!(
            cubes_stamp(&env.list.unwrap()).as_deref(),
            Some("cubes 2026-02-13 18:11:02")
        );
        let env: Envelope = serde_json::from_str(include_str!(
            "../../tests/fixtures/destatis/catalogue_modifieddata_61111_status0.json"
        ))
        .unwrap();
        assert_eq!(
            modified_stamp(&env.list.unwrap()).as_deref(),
            Some("modifieddata 2026-02-17 Jan 2026")
        );
        let env: Envelope = serde_json::from_str(include_str!(
            "../../tests/fixtures/destatis/catalogue_modifieddata_61234_status104.json"
        ))
        .unwrap();
        assert_eq!(env.status.code(), Some(104));
        assert!(env.list.is_none());
        assert_eq!(statistic_code("42153-0001").unwrap(), "42153");
        assert!(statistic_code("../x").is_err());
    }

    #[test]
    fn credentials_go_in_sensitive_headers_only() {
        let cfg = crate::config::Config::parse(
            std::path::Path::new("t.toml"),
            "state_dir = \"/x\"\n[sources.d]\nkind = \"destatis\"\n\
             base_url = \"http://127.0.0.1:9/genesisWS/rest/2020/\"\n\
             schedule = \"0 0 8 * * Mon-Fri\"\nusername = \"secret-token-123\"\npassword = \"\"\n",
        )
        .unwrap();
        let d = Destatis::new(&cfg.sources["d"]).unwrap();
        assert!(d.credentials["username"].is_sensitive());
        assert!(d.credentials["password"].is_sensitive());
        assert_eq!(d.credentials["password"], "");
        // The base path is kept, a trailing slash or not.
        assert_eq!(
            d.url("catalogue", "cubes").as_str(),
            "http://127.0.0.1:9/genesisWS/rest/2020/catalogue/cubes"
        );
        assert!(!format!("{:?}", d.credentials).contains("secret-token"));
        let scrubbed = d.scrubbed(FetchError::Api("user secret-token-123 unknown".into()));
        assert_eq!(
            scrubbed.to_string(),
            "the API answered with an error: user *** unknown"
        );
    }

    /// The ffcsv parser on arbitrary fields and bytes: cells or an error, never a panic;
    /// every value finite and every period in range, printing as something that parses back.
    mod props {
        use super::*;
        use proptest::prelude::*;

        const HEADER: &str = "statistics_code;statistics_label;time_code;time_label;time;\
            1_variable_code;1_variable_label;1_variable_attribute_code;1_variable_attribute_label;\
            value;value_unit;value_variable_code;value_variable_label;value_q";

        fn field() -> impl Strategy<Value = String> {
            prop_oneof![
                "[ -~]{0,6}",
                "[0-9,.+-]{1,8}",
                prop_oneof![
                    Just("NaN"),
                    Just("inf"),
                    Just("-inf"),
                    Just("1e999"),
                    Just("-1e999"),
                    Just("..."),
                    Just("93,4"),
                    Just("93.4"),
                    Just("\"a;b\"")
                ]
                .prop_map(str::to_string),
            ]
        }

        fn row() -> impl Strategy<Value = String> {
            (
                prop_oneof![Just("JAHR".to_string()), "[A-Z]{0,5}"],
                prop_oneof!["[0-9+-]{4}", "(1[6-9]|2[0-3])[0-9]{2}", "[ -~]{0,5}"],
                prop_oneof![
                    Just("MONAT".to_string()),
                    Just("QUARTG".to_string()),
                    "[A-Z]{0,6}"
                ],
                prop_oneof!["MONAT[0-9]{2}", "QUART[0-9+-]{1,2}", "[ -~]{0,7}"],
                field(),
                field(),
            )
                .prop_map(|(tc, t, var, attr, value, q)| {
                    format!("42153;x;{tc};Jahr;{t};{var};v;{attr};a;{value};u;PRO101;p;{q}")
                })
        }

        fn check(cells: &[Cell]) {
            for c in cells {
                if let Some(v) = c.value {
                    assert!(v.is_finite(), "{c:?}");
                }
                assert!(crate::model::YEARS.contains(&c.period.year()), "{c:?}");
                assert_eq!(c.period.to_string().parse::<Period>(), Ok(c.period));
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

            #[test]
            fn ffcsv_fields_give_finite_values_or_an_error(
                rows in prop::collection::vec(row(), 0..10),
                comma in any::<bool>(),
            ) {
                let text = format!("{HEADER}\n{}", rows.join("\n"));
                if let Ok(cells) = parse_ffcsv(&text, comma) {
                    check(&cells);
                }
            }

            #[test]
            fn ffcsv_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
                let text = decode_text(body);
                if let Ok(cells) = parse_ffcsv(&text, true) {
                    check(&cells);
                }
            }

            #[test]
            fn values_are_finite_or_refused(raw in field(), comma in any::<bool>()) {
                if let Ok(Some(v)) = parse_value(&raw, comma) {
                    prop_assert!(v.is_finite());
                }
            }
        }
    }
}
