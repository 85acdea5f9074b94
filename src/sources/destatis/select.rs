//! GENESIS cells -> series: each configured series picks the cells of its value variable,
//! unit and pinned variables; when nothing matches, the message says what the table holds.

use std::collections::{BTreeMap, BTreeSet};

use super::ffcsv::Cell;
use super::labels::Labels;
use crate::config::group::{Choice, MEASURE};
use crate::config::SeriesConfig;
use crate::model::{Observation, Period};
use crate::sources::{FetchError, Fetched, TableData};

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

/// The keys a group entry can take for `name` (an open or listed variable, or `measure`):
/// those of the cells its pinned parts (measure, unit, variables) select, with their labels.
pub(crate) fn choices(
    cells: &[Cell],
    s: &SeriesConfig,
    name: &str,
    labels: &Labels,
) -> Vec<Choice> {
    let mut keys = BTreeSet::new();
    for c in cells {
        let pinned = (s.measure.is_empty() || c.measure == s.measure)
            && (s.unit.trim().is_empty() || same_unit(&c.unit, &s.unit))
            && s.dimensions.iter().all(|(var, attr)| {
                c.dims
                    .iter()
                    .any(|(v, a)| v == var.trim() && a == attr.trim())
            });
        if !pinned {
            continue;
        }
        if name == MEASURE {
            keys.insert(c.measure.as_str());
        } else if let Some((_, a)) = c.dims.iter().find(|(v, _)| v == name) {
            keys.insert(a.as_str());
        }
    }
    keys.into_iter()
        .map(|k| Choice {
            key: k.to_string(),
            title: labels
                .get(&(name.to_string(), k.to_string()))
                .cloned()
                .unwrap_or_else(|| k.to_string()),
        })
        .collect()
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
pub(crate) fn select(cells: &[Cell], series: &[SeriesConfig]) -> Result<TableData, FetchError> {
    let mut data = TableData::default();
    for s in series {
        let matched: Vec<&Cell> = cells.iter().filter(|c| cell_matches(c, s)).collect();
        if matched.is_empty() && s.template.is_some() {
            // A key of a group that the other pinned parts leave without cells.
            continue;
        }
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
        let obs: Vec<Observation> = matched
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
        let mut obs = Fetched::from(obs);
        obs.keep_one_frequency(s.frequency);
        obs.check_unique(s)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::destatis::answer::{read_answer, Answer};
    use crate::sources::destatis::ffcsv::parse_ffcsv;

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
            group: None,
            template: None,
        }
    }

    #[test]
    fn german_and_english_61111_0021_give_identical_values() {
        let de = parse_ffcsv(
            &csv_of(include_bytes!(
                "../../../tests/fixtures/destatis/data_tablefile_61111-0021_de_ffcsv.zip"
            )),
            true,
        )
        .unwrap();
        let en = parse_ffcsv(
            &csv_of(include_bytes!(
                "../../../tests/fixtures/destatis/data_tablefile_61111-0021_en_ffcsv.zip"
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
        let obs = data.series["saar"].to_vec();
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
                "../../../tests/fixtures/destatis/data_tablefile_81000-0001_de_ffcsv.zip"
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
        let gdp = data.series["gdp"].to_vec();
        assert_eq!(gdp.len(), 10);
        assert_eq!(gdp[0].period, Period::Year(2016));
        let y2020 = gdp.iter().find(|o| o.period == Period::Year(2020)).unwrap();
        assert_eq!(
            (y2020.source_period.as_str(), y2020.value),
            ("2020", 3391.228)
        );
        // Real GDP growth 2020 (price-adjusted, chained): -4.1 %.
        let g = data.series["g"].to_vec();
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
                "../../../tests/fixtures/destatis/data_tablefile_61111-0001_en_ffcsv.zip"
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
        assert_eq!(d.series["cpi"].to_vec().last().unwrap().value, 121.9);
        let d = select(&cells, &[series("cpi", "PREIS1", &[], "Prozent")]).unwrap();
        assert_eq!(d.series["cpi"].to_vec().last().unwrap().value, 2.2);
        let e = select(&cells, &[series("cpi", "PREIS1", &[], "EUR")]).unwrap_err();
        assert!(e.to_string().contains("not in unit \"EUR\""), "{e}");
    }

    #[test]
    fn quality_flag_becomes_status() {
        let cells = parse_ffcsv(
            &csv_of(include_bytes!(
                "../../../tests/fixtures/destatis/data_tablefile_52111-0001_de_ffcsv_quality-on.zip"
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
            d.series["u"].to_vec(),
            vec![Observation {
                period: Period::Year(2023),
                source_period: "2023".into(),
                value: 28469.0,
                status: "e".into()
            }]
        );
    }
}
