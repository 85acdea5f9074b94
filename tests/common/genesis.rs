//! The Destatis source tests' setup (`tests/destatis.rs`, `tests/destatis_jobs.rs`): the
//! production index 42153-0001 built here in the real long ffcsv layout (no real recording of
//! it exists: German, decimal commas, rows out of order, `...` for months not yet published,
//! an index and a % change under one value variable code), the fake GENESIS serving it, and
//! the source and its config as a user writes them.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use statwatch::config::{Config, SeriesConfig};
use statwatch::model::{Observation, Period};
use statwatch::sources::Source;

use super::config::{production_series, ConfigText, Series, Source as ConfigSource};
use super::destatis_server::{DestatisServer, TableMode, PRODUCTION as TABLE};

/// Manufacturing (WZ08-C), calendar and seasonally adjusted, 2021=100, Jan 2024 - Mar 2025.
pub const C_SA: [f64; 15] = [
    94.8, 95.3, 94.1, 93.6, 93.2, 93.1, 94.0, 91.5, 93.0, 92.3, 93.5, 92.1, 92.5, 93.6, 95.1,
];
/// The second release: Feb and Mar 2025 revised, Apr 2025 published.
pub const C_SA_2: [f64; 16] = [
    94.8, 95.3, 94.1, 93.6, 93.2, 93.1, 94.0, 91.5, 93.0, 92.3, 93.5, 92.1, 92.5, 93.8, 94.6, 91.8,
];
/// Calendar adjusted only: the seasonal pattern is still in.
const SEASON: [f64; 12] = [
    -6.1, -1.2, 8.4, -2.3, -1.0, 1.9, -4.4, -12.7, 4.6, 3.1, 6.0, -9.8,
];

const MONTHS: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];

fn de(v: f64) -> String {
    format!("{v:.1}").replace('.', ",")
}

/// The ffcsv text of one release: `sa` holds the published WZ08-C X13JDKSB months from
/// January 2024; the rest of 2025 is `...`.
pub fn production_csv(sa: &[f64]) -> String {
    let mut rows = Vec::new();
    let branches = [
        ("WZ08-C", "Verarbeitendes Gewerbe", 0.0),
        ("WZ08-B-05", "Kohlenbergbau", -31.4),
    ];
    let adjustments = [
        (
            "X13JDKSB",
            "X13 JDemetra+ kalender- und saisonbereinigt",
            false,
        ),
        ("X13JDK", "X13 JDemetra+ kalenderbereinigt", true),
    ];
    for (bi, (branch, blabel, offset)) in branches.iter().enumerate() {
        for (adj, alabel, seasonal) in adjustments {
            for i in 0..24usize {
                let (year, month) = (2024 + (i / 12) as i32, i % 12 + 1);
                let level = sa.get(i).map(|v| {
                    let v = v + offset + if seasonal { SEASON[i % 12] } else { 0.0 };
                    (v * 10.0).round() / 10.0
                });
                let ago = i
                    .checked_sub(12)
                    .and_then(|j| sa.get(j))
                    .map(|v| v + offset);
                let change = match (level, ago) {
                    (Some(l), Some(a)) if !seasonal => Some((l / a - 1.0) * 100.0),
                    _ => None,
                };
                for (value, unit, in_2024) in [
                    (level.map(de), "2021=100", true),
                    (change.map(de), "%", false),
                ] {
                    let value = match value {
                        Some(v) => v,
                        None if year == 2024 && !in_2024 => continue,
                        None => "...".to_string(),
                    };
                    rows.push(format!(
                        "42153;Produktionsindex für das Produzierende Gewerbe;JAHR;Jahr;{year};\
                         DINSG;Deutschland insgesamt;DG;Deutschland;\
                         MONAT;Monate;MONAT{month:02};{mname};\
                         WZ08V1;WZ2008 (2-/3-/4-Steller Hierarchie);{branch};{blabel};\
                         WERT03;Preisbasis;{adj};{alabel};\
                         {value};{unit};PRO101;Produktionsindex;{q}",
                        mname = MONTHS[month - 1],
                        q = if bi == 0 && year == 2025 { "p" } else { "" },
                    ));
                }
            }
        }
    }
    // GENESIS sorts nothing: interleave the rows.
    let n = rows.len();
    assert!(n % 37 != 0, "37 must be coprime with the row count");
    let shuffled: Vec<String> = (0..n).map(|k| rows[(k * 37) % n].clone()).collect();
    format!(
        "\u{feff}statistics_code;statistics_label;time_code;time_label;time;\
         1_variable_code;1_variable_label;1_variable_attribute_code;1_variable_attribute_label;\
         2_variable_code;2_variable_label;2_variable_attribute_code;2_variable_attribute_label;\
         3_variable_code;3_variable_label;3_variable_attribute_code;3_variable_attribute_label;\
         4_variable_code;4_variable_label;4_variable_attribute_code;4_variable_attribute_label;\
         value;value_unit;value_variable_code;value_variable_label;value_q\n{}\n",
        shuffled.join("\n")
    )
}

pub fn zipped(name: &str, text: &str) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(name, opts).expect("zip entry");
    zip.write_all(text.as_bytes()).expect("zip write");
    zip.finish().expect("zip finish").into_inner()
}

pub fn release(sa: &[f64]) -> Vec<u8> {
    zipped(
        "42153-0001_de_flat.csv",
        &production_csv(sa).replace('\n', "\r\n"),
    )
}

/// The fake service with the first release published as `table`.
pub async fn start(table: TableMode) -> (DestatisServer, String) {
    let fake = DestatisServer::start().await;
    fake.with(|f| {
        f.latest_update = "08.05.2025 08:00:05h".into();
        f.table = table;
    });
    let base = fake.base_url.clone();
    (fake, base)
}

/// A config as a user writes it, parsed by the real config code.
pub fn config(base: &str, username: &str, unit: &str) -> Config {
    config_with(base, username, "", unit)
}

/// The destatis source, logging in as `username`.
pub fn genesis(base: &str, schedule: &str, username: &str, password: &str) -> ConfigSource {
    ConfigSource::new("destatis", "destatis")
        .base_url(base)
        .schedule(schedule)
        .login(username, password)
}

/// `config` with a password (a user account rather than a token).
pub fn config_with(base: &str, username: &str, password: &str, unit: &str) -> Config {
    ConfigText::new(Path::new("/nonexistent/statwatch-test"))
        .source(
            genesis(base, "0 */5 8-10 * * Mon-Fri", username, password)
                .set("timezone", "Europe/Berlin")
                .timeout_secs(5)
                .history_years(2),
        )
        .series(
            production_series("de.industry.index", "X13JDKSB")
                .unit(unit)
                .derive("yoy_pct"),
        )
        .series(
            Series::new("de.coal.yoy", "destatis", TABLE, "PRO101")
                .dimension("WERT03", "X13JDKSB")
                .dimension("WZ08V1", " WZ08-B-05 ")
                .unit("%"),
        )
        .without_log_receiver()
        .parse()
}

pub fn source(cfg: &Config) -> Source {
    match Source::new(&cfg.sources["destatis"]).expect("source") {
        Source::Destatis(d) => Source::Destatis(
            d.with_backoff(Duration::from_millis(5))
                .with_job_poll(Duration::from_millis(5), 10),
        ),
        Source::Cbs(_) => panic!("not a destatis source"),
    }
}

pub fn series(cfg: &Config) -> Vec<SeriesConfig> {
    cfg.tables_of("destatis").remove(TABLE).expect("series")
}

pub fn months(from: (i32, u8), n: usize) -> Vec<Period> {
    let mut p = Period::Month(from.0, from.1);
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(p);
        p = match p {
            Period::Month(y, 12) => Period::Month(y + 1, 1),
            Period::Month(y, m) => Period::Month(y, m + 1),
            other => other,
        };
    }
    out
}

pub fn expected(values: &[f64]) -> Vec<Observation> {
    months((2024, 1), values.len())
        .into_iter()
        .zip(values)
        .map(|(p, v)| {
            let Period::Month(y, m) = p else {
                unreachable!()
            };
            Observation {
                period: p,
                source_period: format!("{y}-MONAT{m:02}").into(),
                value: *v,
                status: if y == 2025 {
                    "p".into()
                } else {
                    Default::default()
                },
            }
        })
        .collect()
}
