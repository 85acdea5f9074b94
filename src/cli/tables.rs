//! `statwatch tables QUERY...`: the tables the configured sources' catalogues find, one line
//! each; discontinued ones only with `--all`, and marked.

use crate::config::Config;
use crate::sources::meta::Found;
use crate::sources::Source;

use super::{print, CliError};

/// Searches every configured source (or `only`); whether a table matched.
pub async fn tables(
    config: &Config,
    query: &[String],
    only: Option<&str>,
    all: bool,
    json: bool,
) -> Result<bool, CliError> {
    let words: Vec<String> = query
        .iter()
        .flat_map(|q| q.split_whitespace())
        .map(str::to_string)
        .collect();
    if words.is_empty() {
        return Err(CliError::Usage(
            "tables: give at least one word to search for".into(),
        ));
    }
    super::known_source(config, only)?;
    let mut found: Vec<Found> = Vec::new();
    let mut failed = Vec::new();
    for (name, cfg) in &config.sources {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let source = Source::new(cfg).map_err(|e| CliError::Runtime(format!("{name}: {e}")))?;
        match source.search(name, &words, &config.state_dir).await {
            Ok(hits) => found.extend(hits),
            Err(e) => {
                eprintln!("statwatch: source {name}: the catalogue cannot be searched: {e}");
                failed.push(name.as_str());
            }
        }
    }
    let hidden = found.iter().filter(|f| f.discontinued).count();
    if !all {
        found.retain(|f| !f.discontinued);
    }
    if json {
        print(serde_json::to_string_pretty(&found).unwrap_or_default());
    } else {
        for f in &found {
            print(line(f));
        }
    }
    if found.is_empty() {
        let mut why = format!("no table matches {:?}", words.join(" "));
        if hidden > 0 && !all {
            why.push_str(&format!(" ({hidden} discontinued: --all shows them)"));
        }
        if !failed.is_empty() {
            why.push_str(&format!(" (not searched: {})", failed.join(", ")));
        }
        eprintln!("statwatch: {why}");
    } else if hidden > 0 && !all && !json {
        print(format!(
            "({hidden} discontinued tables left out: --all shows them)"
        ));
    }
    Ok(!found.is_empty())
}

/// source, id, title, frequency, period, last modified ("-" where the source has none).
fn line(f: &Found) -> String {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    format!(
        "{}\t{}\t{}{}\t{}\t{}\tmodified {}",
        f.source,
        f.id,
        if f.discontinued {
            "[DISCONTINUED] "
        } else {
            ""
        },
        f.title,
        or_dash(&f.frequency),
        or_dash(&f.period),
        or_dash(&f.modified),
    )
}
