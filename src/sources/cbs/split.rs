//! StatLine rows -> series: each `TypedDataSet` row is matched, in one pass, to the
//! configured series by their pinned dimension keys; its `Perioden` key and cell become an
//! observation with the period's status, one frequency kept per series.

use std::collections::{BTreeMap, HashMap};

use rustc_hash::FxHashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::config::SeriesConfig;
use crate::model::{Label, Period};
use crate::sources::{FetchError, Fetched, PeriodLabel, TableData};

use super::odata::{read_page, PageError};

/// Parses a CBS period key: `2025MM03`, `2025KW01`, `2025JJ00` (space padding allowed).
/// Other kinds of period (half years, two-year spans) are not watched: `None`.
pub(crate) fn parse_period(key: &str) -> Option<Period> {
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

/// Splits TypedDataSet envelopes (pages) into series, as `fetch` does page by page.
pub fn split_pages(
    pages: &[&[u8]],
    series: &[SeriesConfig],
    status: &HashMap<String, Label>,
) -> Result<TableData, FetchError> {
    let columns = Columns::of(series);
    let mut s = Splitter::new(series, status, &columns);
    for body in pages {
        let mut add = |row: Row| s.add_row(&row);
        read_page(body, RowSeed(&columns), &mut add).map_err(|e| match e {
            PageError::Json(e) => FetchError::Schema(format!("TypedDataSet: {e}")),
            PageError::Row(e) => e,
        })?;
    }
    s.finish()
}

/// The columns of a TypedDataSet row that the series read (`Perioden`, their dimensions and
/// measures), numbered. A row is read into one [`Cell`] per column and every other column is
/// skipped unparsed: a wide row costs no map and no allocation per key.
pub(crate) struct Columns {
    /// By the name's bytes: a key is looked up before (without) UTF-8 validation.
    index: FxHashMap<Vec<u8>, usize>,
}

/// `Perioden`'s column.
const PERIOD: usize = 0;

impl Columns {
    pub(crate) fn of(series: &[SeriesConfig]) -> Columns {
        let mut index = FxHashMap::from_iter([(b"Perioden".to_vec(), PERIOD)]);
        for s in series {
            for name in s.dimensions.keys().chain([&s.measure]) {
                let n = index.len();
                index.entry(name.as_bytes().to_vec()).or_insert(n);
            }
        }
        Columns { index }
    }

    fn at(&self, name: &str) -> usize {
        self.index[name.as_bytes()]
    }
}

/// One value of a row, as far as the splitter cares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    /// The row has no such column.
    Absent,
    Null,
    Number(f64),
    /// Inline when short (every key and period code is): no allocation.
    Text(Label),
    /// Anything else (true, an array, an object), named for the error message.
    Other(&'static str),
}

pub(crate) type Row = Vec<Cell>;

/// Reads one row (a JSON object) into its [`Cell`]s by [`Columns`].
#[derive(Clone, Copy)]
pub(crate) struct RowSeed<'a>(pub(crate) &'a Columns);

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Row;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Row, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Row;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a TypedDataSet row (an object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
        let mut row = vec![Cell::Absent; self.0.index.len()];
        while let Some(col) = map.next_key_seed(ColumnSeed(self.0))? {
            match col {
                Some(c) => row[c] = map.next_value_seed(CellSeed)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(row)
    }
}

/// A row's key: its column number, or `None` for a column no series reads.
struct ColumnSeed<'a>(&'a Columns);

impl<'de> DeserializeSeed<'de> for ColumnSeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        // serde_json hands a key over as bytes without checking its UTF-8 (the names it is
        // compared with are valid UTF-8, so only a valid key can match).
        d.deserialize_bytes(self)
    }
}

impl<'de> Visitor<'de> for ColumnSeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a column name")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(self.0.index.get(v).copied())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.visit_bytes(v.as_bytes())
    }
}

struct CellSeed;

impl<'de> DeserializeSeed<'de> for CellSeed {
    type Value = Cell;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cell, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed {
    type Value = Cell;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a cell")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Cell, E> {
        Ok(Cell::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Cell, E> {
        Ok(Cell::Null)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cell, E> {
        Ok(Cell::Number(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cell, E> {
        Ok(Cell::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell, E> {
        Ok(Cell::Number(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cell, E> {
        Ok(Cell::Text(v.into()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Cell, E> {
        Ok(Cell::Other(if v { "true" } else { "false" }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Cell::Other("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cell, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Cell::Other("an object"))
    }
}

/// Series (their indexes) by their keys of one set of pinned dimensions.
type ByKeys<'a> = FxHashMap<Vec<&'a str>, Vec<usize>>;

/// Splits TypedDataSet rows into series, a page at a time, in one pass over the rows: series
/// are grouped by which dimensions they pin, and each row is looked up by its (trimmed) keys
/// for those dimensions.
pub(crate) struct Splitter<'a> {
    series: &'a [SeriesConfig],
    status: &'a HashMap<String, Label>,
    /// Per set of pinned dimensions: their columns, and the series by their keys.
    groups: Vec<(Vec<usize>, ByKeys<'a>)>,
    /// Each series' measure column.
    measures: Vec<usize>,
    /// The periods met so far (shared by every series) and their numbers by trimmed key.
    labels: Vec<PeriodLabel>,
    period_numbers: FxHashMap<String, u32>,
    /// Per series: the number of each value's period, and the value.
    numbers: Vec<Vec<u32>>,
    values: Vec<Vec<f64>>,
    /// Rows seen per series (with an empty cell too): none means the answer lacks it.
    rows: Vec<usize>,
}

impl<'a> Splitter<'a> {
    pub(crate) fn new(
        series: &'a [SeriesConfig],
        status: &'a HashMap<String, Label>,
        columns: &Columns,
    ) -> Self {
        let mut groups: BTreeMap<Vec<&str>, ByKeys> = BTreeMap::new();
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
            groups: groups
                .into_iter()
                .map(|(dims, by_keys)| (dims.iter().map(|d| columns.at(d)).collect(), by_keys))
                .collect(),
            measures: series.iter().map(|s| columns.at(&s.measure)).collect(),
            labels: Vec::new(),
            period_numbers: FxHashMap::default(),
            numbers: vec![Vec::new(); series.len()],
            values: vec![Vec::new(); series.len()],
            rows: vec![0; series.len()],
        }
    }

    pub(crate) fn add_row(&mut self, row: &[Cell]) -> Result<(), FetchError> {
        let text = |c: usize| match &row[c] {
            Cell::Text(s) => Some(s.as_str()),
            _ => None,
        };
        for (cols, by_keys) in &self.groups {
            let keys: Option<Vec<&str>> = cols.iter().map(|&c| text(c).map(str::trim)).collect();
            let Some(matched) = keys.and_then(|k| by_keys.get(&k)) else {
                continue;
            };
            let Some(period_key) = text(PERIOD) else {
                return Err(FetchError::Schema(
                    "a TypedDataSet row has no Perioden".into(),
                ));
            };
            let key = period_key.trim();
            let number = match self.period_numbers.get(key) {
                Some(n) => *n,
                None => {
                    let Some(period) = parse_period(key) else {
                        continue;
                    };
                    let n = self.labels.len() as u32;
                    self.labels.push(PeriodLabel {
                        period,
                        code: key.into(),
                        status: self.status.get(key).cloned().unwrap_or_default(),
                    });
                    self.period_numbers.insert(key.to_string(), n);
                    n
                }
            };
            for &i in matched {
                self.rows[i] += 1;
                let s = &self.series[i];
                let value = cell_value(&row[self.measures[i]]).map_err(|m| FetchError::Series {
                    series: s.id.clone(),
                    message: match m {
                        None => format!("the table has no measure {:?}", s.measure),
                        Some(m) => format!("{period_key}: {m}"),
                    },
                })?;
                // A missing cell is a period not (yet) published.
                if let Some(value) = value {
                    let (numbers, values) = (&mut self.numbers[i], &mut self.values[i]);
                    if numbers.capacity() == 0 {
                        // At most one value per period of the table: no doubling slack.
                        numbers.reserve_exact(self.status.len().max(16));
                        values.reserve_exact(self.status.len().max(16));
                    }
                    numbers.push(number);
                    values.push(value);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<TableData, FetchError> {
        let mut data = TableData::default();
        let labels = std::sync::Arc::new(self.labels);
        let columns = self.numbers.into_iter().zip(self.values);
        for ((s, (numbers, values)), rows) in self.series.iter().zip(columns).zip(self.rows) {
            // Storing nothing for it would store the table's new stamp too, and the release
            // would never be fetched again.
            if rows == 0 && s.template.is_some() {
                continue;
            }
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
            let mut o = Fetched::new(std::sync::Arc::clone(&labels), numbers, values);
            o.keep_one_frequency(s.frequency);
            o.check_unique(s)?;
            data.series.insert(s.id.clone(), o);
        }
        Ok(data)
    }
}

/// A TypedDataSet cell: a number, null (missing), or (in untyped sets) padded text with "."
/// for missing. `Err(None)`: the row has no such column.
fn cell_value(c: &Cell) -> Result<Option<f64>, Option<String>> {
    match c {
        Cell::Absent => Err(None),
        Cell::Null => Ok(None),
        Cell::Number(v) if v.is_finite() => Ok(Some(*v)),
        Cell::Number(v) => Err(Some(format!("not a finite number: {v}"))),
        Cell::Text(s) => {
            let t = s.trim();
            if t.is_empty() || t == "." || t == "x" || t == "-" {
                return Ok(None);
            }
            // Rust's parser takes "NaN", "inf" and "1e999" (infinity); none is a figure, and
            // JSON cannot store them (they would be written as null and never read back).
            match t.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Some(v)),
                Ok(_) => Err(Some(format!("not a finite number: {s:?}"))),
                Err(_) => Err(Some(format!("not a number: {s:?}"))),
            }
        }
        Cell::Other(what) => Err(Some(format!("unexpected cell: {what}"))),
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
            group: None,
            template: None,
        };
        let page: &[u8] = br#"{"value": [{"BedrijfstakkenBranchesSBI2008":"307500  ","Perioden":"2024MM01","KalendergecorrigeerdeProductie_14":-5.0, "ID": 0},
                {"BedrijfstakkenBranchesSBI2008":"307500","Perioden":"2024KW01","KalendergecorrigeerdeProductie_14":-4.8},
                {"BedrijfstakkenBranchesSBI2008":"307500","Perioden":"2024MM02","KalendergecorrigeerdeProductie_14":null},
                {"BedrijfstakkenBranchesSBI2008":"336500","Perioden":"2024MM01","KalendergecorrigeerdeProductie_14":3.0}]}"#;
        let rows = [page];
        let status = [("2024MM01".to_string(), Label::from("NaderVoorlopig"))].into();
        let data = split_pages(&rows, std::slice::from_ref(&series), &status).unwrap();
        let obs = data.series["nl"].to_vec();
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].period, Period::Month(2024, 1));
        assert_eq!(obs[0].value, -5.0);
        assert_eq!(obs[0].status, "NaderVoorlopig");
        let mut q = series.clone();
        q.frequency = Some(crate::model::Frequency::Quarter);
        let data = split_pages(&rows, &[q], &status).unwrap();
        assert_eq!(
            data.series["nl"].to_vec()[0].period,
            Period::Quarter(2024, 1)
        );
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
            group: None,
            template: None,
        };
        let rows: [&[u8]; 1] = [
            br#"{"value": [{"D":"a","Perioden":"2024MM01","M":1.0},{"D":"b","Perioden":"2024MM01","M":2.0}]}"#,
        ];
        let e = split_pages(&rows, std::slice::from_ref(&series), &HashMap::new()).unwrap_err();
        assert!(e.to_string().contains("pin every dimension"), "{e}");
        series.dimensions.insert("D".into(), "a".into());
        assert!(split_pages(&rows, &[series], &HashMap::new()).is_ok());
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
                group: None,
                template: None,
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
                for o in obs.iter() {
                    assert!(o.value.is_finite(), "{o:?}");
                    assert!(crate::model::YEARS.contains(&o.period.year()), "{o:?}");
                    assert_eq!(o.period.to_string().parse::<Period>(), Ok(o.period));
                }
            }
        }

        fn parse(body: &[u8]) -> Result<TableData, String> {
            split_pages(&[body], &[series()], &HashMap::new()).map_err(|e| e.to_string())
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
