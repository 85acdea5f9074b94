//! The long-layout ffcsv parser: one `;`-separated row per cell, columns found by header,
//! periods from the `time` year refined by a month or quarter variable, values with a
//! decimal comma or point and GENESIS' missing-value markers.

use std::collections::{BTreeMap, HashSet};

use crate::model::{Label, Period};
use crate::sources::http::snippet;
use crate::sources::FetchError;

/// Why an ffcsv file could not be read (each becomes `FetchError::Schema`).
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum FfcsvError {
    #[error(
        "this is the old wide ffcsv layout (header {header:?}), which GENESIS no longer serves \
         and statwatch does not read; expected the long layout {LONG_LAYOUT}"
    )]
    Legacy { header: String },
    #[error("unknown column {name:?} in the ffcsv header; expected the long layout {LONG_LAYOUT}")]
    UnknownColumn { name: String },
    #[error("the ffcsv header has no column {name:?}; expected the long layout {LONG_LAYOUT}")]
    MissingColumn { name: String },
    #[error("the ffcsv header lacks {k}_variable_code or {k}_variable_attribute_code")]
    HalfVariable { k: u32 },
    #[error("cannot read the ffcsv header: {reason}")]
    Header { reason: String },
    #[error("the ffcsv file has more than {max_rows} rows (max_rows_per_table)")]
    TooManyRows { max_rows: usize },
    #[error("ffcsv line {line}: {message}")]
    Line { line: usize, message: String },
    #[error(
        "ffcsv line {line}: statistics_code {came:?}, but the table asked for belongs to \
         statistic {asked}: this file is another statistic's, nothing of it is stored"
    )]
    OtherStatistic {
        line: usize,
        asked: String,
        came: String,
    },
    #[error("ffcsv line {line}: a second row for {measure} {period} [{unit}] {dims}")]
    Duplicate {
        line: usize,
        measure: String,
        period: String,
        unit: String,
        dims: String,
    },
}

impl From<FfcsvError> for FetchError {
    fn from(e: FfcsvError) -> FetchError {
        FetchError::Schema(e.to_string())
    }
}

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

/// One cell of a long ffcsv file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cell {
    /// (variable code, attribute code) in column order, including a month/quarter variable.
    pub(crate) dims: Vec<(String, String)>,
    pub(crate) period: Period,
    /// Readable source period: `2025-MONAT03`, `2025-QUART1`, `2025`.
    pub(crate) source_period: Label,
    /// `value_variable_code`.
    pub(crate) measure: String,
    pub(crate) unit: String,
    /// `None` for a missing-value marker.
    pub(crate) value: Option<f64>,
    /// `value_q` (the quality flag), or empty.
    pub(crate) quality: Label,
}

struct Layout {
    statistic: Option<usize>,
    time_code: usize,
    time: usize,
    /// (code column, attribute code column) per variable.
    vars: Vec<(usize, usize)>,
    value: usize,
    unit: usize,
    measure: usize,
    quality: Option<usize>,
}

fn layout(header: &csv::StringRecord) -> Result<Layout, FfcsvError> {
    let names: Vec<&str> = header.iter().map(str::trim).collect();
    let mut seen = HashSet::new();
    let legacy = names
        .iter()
        .any(|n| n.contains("__") || n.eq_ignore_ascii_case("Statistik_Code") || !seen.insert(*n));
    if legacy {
        return Err(FfcsvError::Legacy {
            header: snippet(header.as_slice().as_bytes()),
        });
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
                return Err(FfcsvError::UnknownColumn {
                    name: n.to_string(),
                })
            }
        }
    }
    let need = |name: &str| {
        find(name).ok_or_else(|| FfcsvError::MissingColumn {
            name: name.to_string(),
        })
    };
    let mut var_cols = Vec::new();
    for (k, cols) in vars {
        match cols {
            [Some(c), Some(a)] => var_cols.push((c, a)),
            _ => return Err(FfcsvError::HalfVariable { k }),
        }
    }
    Ok(Layout {
        statistic: find("statistics_code"),
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
pub(crate) fn parse_value(raw: &str, decimal_comma: bool) -> Result<Option<f64>, String> {
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
#[cfg(test)]
pub(crate) fn parse_ffcsv(text: &str, decimal_comma: bool) -> Result<Vec<Cell>, FfcsvError> {
    parse_ffcsv_within(
        text,
        decimal_comma,
        crate::config::DEFAULT_MAX_ROWS_PER_TABLE as usize,
        None,
    )
}

/// A `;`-separated reader over an ffcsv text (a UTF-8 byte-order mark dropped) and its
/// header row.
pub(crate) fn reader(text: &str) -> Result<(csv::Reader<&[u8]>, csv::StringRecord), FfcsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header = rdr
        .headers()
        .map_err(|e| FfcsvError::Header {
            reason: e.to_string(),
        })?
        .clone();
    Ok((rdr, header))
}

/// `parse_ffcsv`, refusing a file of more than `max_rows` rows and, with `statistic` given,
/// a file with a row of another statistic (a result or table GENESIS mixed up is never
/// stored as the table asked for).
pub(crate) fn parse_ffcsv_within(
    text: &str,
    decimal_comma: bool,
    max_rows: usize,
    statistic: Option<&str>,
) -> Result<Vec<Cell>, FfcsvError> {
    let (mut rdr, header) = reader(text)?;
    let lay = layout(&header)?;
    let statistic = match statistic {
        Some(asked) => Some((
            asked,
            lay.statistic.ok_or_else(|| FfcsvError::MissingColumn {
                name: "statistics_code".into(),
            })?,
        )),
        None => None,
    };
    let mut cells = Vec::new();
    let mut keys = HashSet::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        if i >= max_rows {
            return Err(FfcsvError::TooManyRows { max_rows });
        }
        let at_line = |message: String| FfcsvError::Line { line, message };
        let rec = rec.map_err(|e| at_line(e.to_string()))?;
        let get = |c: usize| rec.get(c).unwrap_or("");
        if let Some((asked, col)) = statistic {
            if get(col).trim() != asked {
                return Err(FfcsvError::OtherStatistic {
                    line,
                    asked: asked.to_string(),
                    came: get(col).trim().to_string(),
                });
            }
        }
        let dims: Vec<(String, String)> = lay
            .vars
            .iter()
            .map(|&(c, a)| (get(c).trim().to_string(), get(a).trim().to_string()))
            .collect();
        let (period, source_period) =
            row_period(get(lay.time_code), get(lay.time), &dims).map_err(at_line)?;
        let value = parse_value(get(lay.value), decimal_comma).map_err(at_line)?;
        let cell = Cell {
            dims,
            period,
            source_period: source_period.into(),
            measure: get(lay.measure).trim().to_string(),
            unit: get(lay.unit).trim().to_string(),
            value,
            quality: lay
                .quality
                .map(|q| Label::from(get(q).trim()))
                .unwrap_or_default(),
        };
        let key = (
            cell.dims.clone(),
            cell.source_period.clone(),
            cell.measure.clone(),
            cell.unit.clone(),
        );
        if !keys.insert(key) {
            return Err(FfcsvError::Duplicate {
                line,
                dims: fmt_dims(&cell.dims),
                measure: cell.measure,
                period: cell.source_period.to_string(),
                unit: cell.unit,
            });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::destatis::answer::{decode_text, read_answer, Answer};

    #[test]
    fn legacy_wide_layout_is_refused() {
        for text in [
            include_str!(
                "../../../tests/fixtures/destatis/data_tablefile_46181-0001_de_ffcsv_legacy.csv"
            ),
            include_str!(
                "../../../tests/fixtures/destatis/data_tablefile_46181-0001_en_ffcsv_legacy.csv"
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
    fn a_file_of_another_statistic_is_refused_when_one_is_asked_for() {
        let zip = include_bytes!(
            "../../../tests/fixtures/destatis/data_tablefile_61111-0021_de_ffcsv.zip"
        );
        let Answer::Csv(text) = read_answer(zip).unwrap() else {
            panic!("a zip");
        };
        let max = crate::config::DEFAULT_MAX_ROWS_PER_TABLE as usize;
        assert!(parse_ffcsv_within(&text, true, max, Some("61111")).is_ok());
        let e = parse_ffcsv_within(&text, true, max, Some("42153")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ffcsv line 2: statistics_code \"61111\", but the table asked for belongs to \
             statistic 42153: this file is another statistic's, nothing of it is stored"
        );
        let e = parse_ffcsv_within(
            "time_code;time;value;value_unit;value_variable_code\n",
            true,
            max,
            Some("1"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("no column \"statistics_code\""),
            "{e}"
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
