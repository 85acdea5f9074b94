//! What an office publishes about its tables without their data: a search hit ([`Found`]),
//! a table's metadata ([`TableMeta`]: dimensions with their keys, measures with their units),
//! and the resolution of configured series against that metadata, with the closest existing
//! keys for what does not resolve. `tables`, `describe` and `check --online` read these; the
//! sources fill them (`cbs::meta`, `destatis::find`).

use serde::Serialize;

use crate::config::group::Keys;
use crate::config::SeriesConfig;

/// One table a catalogue search found (null where the source has no such field).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Found {
    pub source: String,
    pub id: String,
    pub title: String,
    pub frequency: Option<String>,
    pub period: Option<String>,
    pub modified: Option<String>,
    pub status: Option<String>,
    /// The office stopped the table (CBS `OutputStatus` "Gediscontinueerd").
    #[serde(skip)]
    pub discontinued: bool,
}

/// A key of a dimension, or a dimension or measure name, with its title.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeyTitle {
    pub key: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Dimension {
    pub key: String,
    pub title: String,
    /// Every key (trimmed), in the office's order.
    pub values: Vec<KeyTitle>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Measure {
    pub key: String,
    pub title: String,
    pub unit: Option<String>,
    /// Holds numbers (CBS: a numeric `Datatype`; a GENESIS value variable always does).
    #[serde(skip)]
    pub numeric: bool,
}

/// A table's metadata: everything `describe` prints and `check --online` resolves against.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TableMeta {
    pub source: String,
    pub id: String,
    pub title: String,
    pub status: Option<String>,
    pub frequency: Option<String>,
    pub period: Option<String>,
    /// Every dimension a series pins or lists (the time axis is not among them).
    pub dimensions: Vec<Dimension>,
    pub measures: Vec<Measure>,
    /// Every dimension must be pinned or listed (CBS: an unpinned one gives several values
    /// per period); GENESIS tolerates a one-valued variable left out.
    #[serde(skip)]
    pub pin_all: bool,
    /// The keys are those of the variable, which the table may use only part of (GENESIS
    /// lists no per-table values without the data).
    #[serde(skip)]
    pub variable_values: bool,
    /// The office stopped the table: it gets no new data (CBS `OutputStatus`).
    #[serde(skip)]
    pub discontinued: bool,
}

/// What of a series is not in its table's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Measure(String),
    Dimension(String),
    Key {
        dimension: String,
        key: String,
    },
    /// A dimension the series neither pins nor lists, where the table needs it pinned.
    Unpinned(String),
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Measure(m) => write!(f, "no measure {m:?}"),
            Missing::Dimension(d) => write!(f, "no dimension {d:?}"),
            Missing::Key { dimension, key } => {
                write!(f, "dimension {dimension} has no key {key:?}")
            }
            Missing::Unpinned(d) => write!(f, "dimension {d} is not pinned"),
        }
    }
}

/// One part of a series that does not resolve, with up to [`CANDIDATES`] closest keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub series: String,
    pub missing: Missing,
    pub candidates: Vec<KeyTitle>,
}

/// How many closest keys are named.
pub const CANDIDATES: usize = 5;

/// Every part of `s` (its measure, pinned keys and listed keys) that `meta` does not have.
pub fn resolve(s: &SeriesConfig, meta: &TableMeta) -> Vec<Unresolved> {
    let mut out = Vec::new();
    let mut miss = |missing: Missing, candidates: Vec<KeyTitle>| {
        out.push(Unresolved {
            series: s.id.clone(),
            missing,
            candidates,
        })
    };
    missing_measures(s, meta, &mut miss);
    missing_keys(s, meta, &mut miss);
    out
}

/// The measure, or every listed measure, that the table lacks.
fn missing_measures(
    s: &SeriesConfig,
    meta: &TableMeta,
    miss: &mut impl FnMut(Missing, Vec<KeyTitle>),
) {
    let measures: Vec<KeyTitle> = meta
        .measures
        .iter()
        .map(|m| KeyTitle {
            key: m.key.clone(),
            title: m.title.clone(),
        })
        .collect();
    let mut wanted: Vec<&str> = Vec::new();
    match s.group.as_ref().and_then(|g| g.measure.as_ref()) {
        Some(Keys::List(l)) => wanted.extend(l.iter().map(String::as_str)),
        Some(Keys::All) => {}
        None => wanted.push(&s.measure),
    }
    for m in wanted {
        if !measures.iter().any(|x| x.key == m) {
            miss(Missing::Measure(m.into()), closest(m, &measures));
        }
    }
}

/// Every pinned or listed key (and its dimension) the table lacks, and, where the table
/// needs every dimension pinned, each dimension the series leaves out.
fn missing_keys(s: &SeriesConfig, meta: &TableMeta, miss: &mut impl FnMut(Missing, Vec<KeyTitle>)) {
    let dims: Vec<KeyTitle> = meta
        .dimensions
        .iter()
        .map(|d| KeyTitle {
            key: d.key.clone(),
            title: d.title.clone(),
        })
        .collect();
    // Every pinned key, and every listed key of the group's open or listed dimensions.
    let mut keys: Vec<(&str, &str)> = s
        .dimensions
        .iter()
        .map(|(d, k)| (d.as_str(), k.as_str()))
        .collect();
    let mut named: Vec<&str> = s.dimensions.keys().map(String::as_str).collect();
    for (d, k) in s.group.iter().flat_map(|g| &g.dims) {
        named.push(d);
        match k {
            Keys::All => keys.push((d, "")),
            Keys::List(l) => keys.extend(l.iter().map(|k| (d.as_str(), k.as_str()))),
        }
    }
    keys.dedup();
    let mut unknown_dims: Vec<&str> = Vec::new();
    for (d, k) in keys {
        let Some(dim) = meta.dimensions.iter().find(|x| x.key == d) else {
            if !unknown_dims.contains(&d) {
                unknown_dims.push(d);
                miss(Missing::Dimension(d.into()), closest(d, &dims));
            }
            continue;
        };
        if !k.is_empty() && !dim.values.iter().any(|v| v.key == k.trim()) {
            miss(
                Missing::Key {
                    dimension: d.into(),
                    key: k.into(),
                },
                closest(k, &dim.values),
            );
        }
    }
    if meta.pin_all {
        for d in meta
            .dimensions
            .iter()
            .filter(|d| !named.contains(&d.key.as_str()))
        {
            let first = d.values.iter().take(CANDIDATES).cloned().collect();
            miss(Missing::Unpinned(d.key.clone()), first);
        }
    }
}

/// The [`CANDIDATES`] keys closest to `wrong`. Closeness is the edit distance (Levenshtein)
/// of `wrong` to the key or, case-insensitively, to the key's title, whichever is smaller,
/// so both a mistyped code (`307000` for `307500`) and a title typed as the key
/// (`Industrie`) find their key; ties go to the longer shared prefix with the key (codes are
/// hierarchical: `3075` is near `307500`), then to the office's order.
pub fn closest(wrong: &str, keys: &[KeyTitle]) -> Vec<KeyTitle> {
    closest_by(wrong, keys, |k| (&k.key, &k.title))
}

/// [`closest`] over any list of keys with titles (`key_title` reads them from an item).
pub(crate) fn closest_by<T: Clone>(
    wrong: &str,
    items: &[T],
    key_title: impl Fn(&T) -> (&str, &str),
) -> Vec<T> {
    let w = wrong.trim();
    let wl = w.to_lowercase();
    let mut scored: Vec<(usize, std::cmp::Reverse<usize>, usize)> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let (key, title) = key_title(item);
            let key = key.trim();
            let by_key = strsim::levenshtein(w, key);
            let by_title = strsim::levenshtein(&wl, &title.to_lowercase());
            let prefix = w
                .chars()
                .zip(key.chars())
                .take_while(|(a, b)| a == b)
                .count();
            (by_key.min(by_title), std::cmp::Reverse(prefix), i)
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(CANDIDATES)
        .map(|(_, _, i)| items[i].clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kt(k: &str, t: &str) -> KeyTitle {
        KeyTitle {
            key: k.into(),
            title: t.into(),
        }
    }

    fn table(pin_all: bool) -> TableMeta {
        TableMeta {
            source: "cbs".into(),
            id: "T".into(),
            title: "t".into(),
            status: None,
            frequency: None,
            period: None,
            dimensions: vec![
                Dimension {
                    key: "Branche".into(),
                    title: "Branche".into(),
                    values: vec![kt("307500", "C Industrie"), kt("336500", "26-27")],
                },
                Dimension {
                    key: "Marges".into(),
                    title: "Marges".into(),
                    values: vec![kt("MW00000", "Waarde")],
                },
            ],
            measures: vec![Measure {
                key: "M_1".into(),
                title: "m".into(),
                unit: None,
                numeric: true,
            }],
            pin_all,
            variable_values: false,
            discontinued: false,
        }
    }

    fn series(entry: &str) -> SeriesConfig {
        let text = format!(
            "state_dir = \"/x\"\n[sources.cbs]\nkind = \"cbs\"\n\
             schedule = \"0 0 8 * * *\"\n[[series]]\nsource = \"cbs\"\ntable = \"T\"\n{entry}"
        );
        let c = crate::config::Config::parse(std::path::Path::new("t.toml"), &text).unwrap();
        c.series[0].clone()
    }

    #[test]
    fn an_open_group_resolves_and_an_unpinned_dimension_is_named_where_it_must_be_pinned() {
        let open = series(
            "id = \"b.{Branche}\"\nmeasure = \"M_1\"\ndimensions = { Branche = \"*\", Marges = \"MW00000\" }\n",
        );
        assert_eq!(resolve(&open, &table(true)), []);
        let unpinned =
            series("id = \"b\"\nmeasure = \"M_1\"\ndimensions = { Branche = \"307500\" }\n");
        let problems = resolve(&unpinned, &table(true));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].missing, Missing::Unpinned("Marges".into()));
        assert_eq!(problems[0].candidates, [kt("MW00000", "Waarde")]);
        // GENESIS leaves a one-valued variable out.
        assert_eq!(resolve(&unpinned, &table(false)), []);
        let typo = series("id = \"b\"\nmeasure = \"M_1\"\ndimensions = { Branch = \"307500\", Marges = \"MW00000\" }\n");
        let problems = resolve(&typo, &table(false));
        assert_eq!(problems[0].missing, Missing::Dimension("Branch".into()));
        assert_eq!(problems[0].candidates[0].key, "Branche");
    }

    #[test]
    fn closest_keys_by_code_and_by_title() {
        let keys = [
            kt("300002", "B-E Nijverheid en energie"),
            kt("307500", "C Industrie"),
            kt("336500", "26-27 Elektrotechnische en elektrische industrie"),
            kt("315000", "10-12 Voedings-, genotmiddelenindustrie"),
        ];
        assert_eq!(closest("307000", &keys)[0].key, "307500");
        assert_eq!(closest("industrie", &keys)[0].key, "307500");
        assert_eq!(closest("30750", &keys)[0].key, "307500");
        assert!(closest("x", &keys).len() <= CANDIDATES);
    }
}
