//! StatLine rows -> series: each `TypedDataSet` row is matched, in one pass, to the
//! configured series by their pinned dimension keys; its `Perioden` key and cell become an
//! observation with the period's status, one frequency kept per series.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::config::SeriesConfig;
use crate::model::{Observation, Period};
use crate::sources::{check_unique, keep_one_frequency, FetchError, TableData};

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
pub(crate) struct Splitter<'a> {
    series: &'a [SeriesConfig],
    status: &'a HashMap<String, String>,
    groups: BTreeMap<Vec<&'a str>, HashMap<Vec<&'a str>, Vec<usize>>>,
    obs: Vec<Vec<Observation>>,
    /// Rows seen per series (with an empty cell too): none means the answer lacks it.
    rows: Vec<usize>,
}

impl<'a> Splitter<'a> {
    pub(crate) fn new(series: &'a [SeriesConfig], status: &'a HashMap<String, String>) -> Self {
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

    pub(crate) fn add_row(
        &mut self,
        row: &serde_json::Map<String, Value>,
    ) -> Result<(), FetchError> {
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

    pub(crate) fn finish(self) -> Result<TableData, FetchError> {
        let mut data = TableData::default();
        for ((s, mut o), rows) in self.series.iter().zip(self.obs).zip(self.rows) {
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
            group: None,
            template: None,
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
                for o in obs {
                    assert!(o.value.is_finite(), "{o:?}");
                    assert!(crate::model::YEARS.contains(&o.period.year()), "{o:?}");
                    assert_eq!(o.period.to_string().parse::<Period>(), Ok(o.period));
                }
            }
        }

        use crate::sources::cbs::odata::{read_page, PageError};

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
