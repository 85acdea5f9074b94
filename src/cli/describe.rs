//! `statwatch describe SOURCE TABLE`: a table's dimensions with every key, its measures with
//! their units, and a `[[series]]` entry ready to paste (plus a commented group), from the
//! table's metadata alone.

use crate::config::Config;
use crate::sources::meta::{Measure, TableMeta};

use super::{print, CliError};

/// Prints what `source` publishes about `table`.
pub async fn describe(
    config: &Config,
    source: &str,
    table: &str,
    json: bool,
) -> Result<(), CliError> {
    super::known_source(config, Some(source))?;
    let meta = super::online::metadata(config, source, table).await?;
    let entry = series_toml(&meta);
    if json {
        let mut v = serde_json::to_value(&meta).unwrap_or_default();
        v["series_toml"] = entry.map_or(serde_json::Value::Null, serde_json::Value::String);
        print(serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    print(format!("{source} {}: {}", meta.id, meta.title));
    print(format!(
        "status {}, frequency {}, period {}",
        or_dash(&meta.status),
        or_dash(&meta.frequency),
        or_dash(&meta.period)
    ));
    if meta.discontinued {
        print(super::online::DISCONTINUED);
    }
    for d in &meta.dimensions {
        print(format!(
            "\ndimension {} ({}), {} keys:",
            d.key,
            d.title,
            d.values.len()
        ));
        for v in &d.values {
            print(format!("  {:<12} {}", v.key, v.title));
        }
    }
    print(format!("\nmeasures ({}):", meta.measures.len()));
    for m in &meta.measures {
        print(format!(
            "  {:<40} {} [{}]",
            m.key,
            m.title,
            m.unit.as_deref().unwrap_or("unit not given")
        ));
    }
    match entry {
        Some(e) => print(format!(
            "\n# Paste into your config (then: statwatch check --online):\n{e}"
        )),
        None => print("\nno numeric measure: nothing to watch in this table"),
    }
    Ok(())
}

/// A `[[series]]` entry on the first numeric measure with every dimension pinned to its
/// first key, and a commented group over the dimension with the most keys.
fn series_toml(meta: &TableMeta) -> Option<String> {
    let m: &Measure = meta.measures.iter().find(|m| m.numeric)?;
    let base = id_of(&format!("{}.{}.{}", meta.source, meta.id, m.key));
    let pinned: Vec<(&str, &str, &str)> = meta
        .dimensions
        .iter()
        .filter_map(|d| {
            d.values
                .first()
                .map(|v| (d.key.as_str(), v.key.as_str(), v.title.as_str()))
        })
        .collect();
    let dims = |open: Option<&str>| {
        let parts: Vec<String> = pinned
            .iter()
            .map(|(d, k, _)| {
                let k = if Some(*d) == open { "*" } else { k };
                format!("{} = {}", toml_key(d), quote(k))
            })
            .collect();
        format!("{{ {} }}", parts.join(", "))
    };
    let titles: Vec<&str> = pinned.iter().map(|(_, _, t)| *t).collect();
    let title = if titles.is_empty() {
        m.title.clone()
    } else {
        format!("{} ({})", m.title, titles.join(", "))
    };
    let mut out = String::new();
    let unit = m
        .unit
        .as_ref()
        .map(|u| format!("unit       = {}\n", quote(u)))
        .unwrap_or_default();
    out.push_str(&format!(
        "[[series]]\nid         = {}\nsource     = {}\ntable      = {}\nmeasure    = {}\n\
         dimensions = {}\ntitle      = {}\n{unit}",
        quote(&base),
        quote(&meta.source),
        quote(&meta.id),
        quote(&m.key),
        dims(None),
        quote(&title),
    ));
    if meta.variable_values {
        out.push_str(
            "# GENESIS lists a variable's values, not only the table's: `statwatch poll \
             --dry-run` shows whether the table holds these keys\n",
        );
    }
    if let Some(g) = meta.dimensions.iter().max_by_key(|d| d.values.len()) {
        out.push_str(&format!(
            "\n# A group: one series per key of {} (or a list: [\"k1\", \"k2\"]):\n\
             # [[series]]\n# id         = {}\n# source     = {}\n# table      = {}\n\
             # measure    = {}\n# dimensions = {}\n# title      = {}\n",
            g.key,
            quote(&format!("{base}.{{{}}}", g.key)),
            quote(&meta.source),
            quote(&meta.id),
            quote(&m.key),
            dims(Some(&g.key)),
            quote(&format!("{}: {{{}.title}}", m.title, g.key)),
        ));
        if let Some(u) = &m.unit {
            out.push_str(&format!("# unit       = {}\n", quote(u)));
        }
    }
    Some(out)
}

/// A series id from the source, table and measure: lower case, other characters as `-`.
fn id_of(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '-',
        })
        .collect()
}

/// A TOML basic string, escaped.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A TOML key: bare where it may be, else quoted.
fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        quote(k)
    }
}
