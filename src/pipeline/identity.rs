//! Which stored records each polled series continues. A series' identity is what it selects
//! (source, table, measure, keys, and the unit, frequency and derivation that choose its
//! values); its id is a name. A configured id the store holds nothing for, whose identity
//! the store has under another id that no configured series uses any more, is that series
//! renamed: its history moves to the new id in this poll's commit, and its release alerts as
//! usual (see `store::identity`).

use std::collections::{HashMap, HashSet};

use tracing::{info, warn};

use crate::config::{Config, SeriesConfig};
use crate::store::{Identity, Rename, Store, StoreError};

/// The identity of a concrete series (a plain entry, or one a group expanded into).
pub(crate) fn identity(s: &SeriesConfig) -> Identity {
    let derive = s.derive.map(|d| d.name()).unwrap_or_default();
    let frequency = s.frequency.map(|f| format!("{f:?}")).unwrap_or_default();
    // Positional (each part is length-prefixed): one index key per series stays small.
    let mut parts = vec![
        s.source.as_str(),
        s.table.as_str(),
        s.measure.trim(),
        s.unit.trim(),
        derive,
        frequency.as_str(),
    ];
    for (dim, key) in &s.dimensions {
        parts.extend([dim.trim(), key.trim()]);
    }
    Identity::new(parts)
}

/// Where each series of one table's poll finds its stored records, and what the commit
/// indexes and moves.
#[derive(Default)]
pub(super) struct Homes {
    /// A renamed series' id (and its `#level` id) -> the id its records are stored under.
    moved: HashMap<String, String>,
    pub(super) identities: Vec<(Identity, String)>,
    pub(super) renames: Vec<Rename>,
}

impl Homes {
    /// The id the records of `id` are stored under until the commit.
    pub(super) fn of<'a>(&'a self, id: &'a str) -> &'a str {
        self.moved.get(id).map_or(id, String::as_str)
    }

    /// Whether `id`'s records move to another id in this poll.
    pub(super) fn moves_away(&self, id: &str) -> bool {
        self.renames.iter().any(|r| r.from == id)
    }

    fn rename(&mut self, store: &Store, s: &SeriesConfig, from: &str) -> Result<(), StoreError> {
        self.moved.insert(s.id.clone(), from.to_string());
        self.renames.push(Rename {
            from: from.to_string(),
            to: s.id.clone(),
        });
        let level = format!("{from}#level");
        if s.derive.is_some() && store.holds(&level)? {
            self.moved.insert(s.level_id(), level.clone());
            self.renames.push(Rename {
                from: level,
                to: s.level_id(),
            });
        }
        Ok(())
    }
}

/// The table a poll is in.
pub(super) struct Table<'a> {
    pub(super) source: &'a str,
    pub(super) table: &'a str,
}

/// Finds, for each series of a table's answer, the records it continues: its own, or (for an
/// id the store holds nothing for) those its identity is indexed under, if no configured
/// series uses that id any more. Two series of one identity cannot both take the same
/// records: the first in the table's order does, the other starts its own history (logged).
/// `unindexed`: the poll's [`unindexed`] series, read as indexed.
pub(super) fn resolve(
    config: &Config,
    store: &Store,
    at: &Table,
    expanded: &[SeriesConfig],
    unindexed: Option<&Unindexed>,
) -> Result<Homes, StoreError> {
    let here: HashSet<&str> = expanded.iter().map(|s| s.id.as_str()).collect();
    let mut homes = Homes::default();
    for s in expanded {
        let ident = identity(s);
        let pending = || unindexed.and_then(|u| u.get(&ident)).cloned();
        let owner = match store.identity_owner(&ident)?.or_else(pending) {
            Some(o) if o == s.id => continue,
            Some(o) if store.holds(&o)? => o,
            // Not indexed yet, or indexed to an id that holds nothing any more.
            _ => {
                homes.identities.push((ident, s.id.clone()));
                continue;
            }
        };
        if store.holds(&s.id)? {
            // Two configured series that select the same data, both with records: each
            // keeps its own, the index stays as it is.
            continue;
        }
        let (source, table) = (at.source, at.table);
        if let Some(first) = homes.renames.iter().find(|r| r.from == owner) {
            warn!(source, table, series = %s.id, stored = %owner, taken_by = %first.to, "this series selects the same data as the stored series, which another configured series took over: it starts its own history");
        } else if here.contains(owner.as_str()) || configured_elsewhere(config, at, &owner) {
            warn!(source, table, series = %s.id, stored = %owner, "this series selects the same data as another configured series: it starts its own history");
        } else {
            // Logged when the commit has moved it (see `pipeline::commit`).
            homes.rename(store, s, &owner)?;
            homes.identities.push((ident, s.id.clone()));
        }
    }
    Ok(homes)
}

/// Whether a plain entry, or a group of another table, names `id`.
fn configured_elsewhere(config: &Config, at: &Table, id: &str) -> bool {
    config
        .series(id)
        .is_some_and(|c| c.template.is_none() || c.source != at.source || c.table != at.table)
}

/// The identities of the series stored before the store had the index, each to the first
/// id stored under it, from the config in effect now (series it does not name are left out).
pub(super) type Unindexed = HashMap<Identity, String>;

/// The store's [`Unindexed`] series (`None` once it is indexed). A poll reads them as
/// indexed from its start and a real one indexes them at its commit ([`index`]), so a dry
/// run finds the renames the real poll does.
pub(super) fn unindexed(config: &Config, store: &Store) -> Result<Option<Unindexed>, StoreError> {
    if store.identities_indexed()? {
        return Ok(None);
    }
    let mut rows = Unindexed::new();
    for id in store
        .series_ids()?
        .into_iter()
        .filter(|id| !id.contains('#'))
    {
        if let Some(s) = config.series(&id) {
            rows.entry(identity(&s)).or_insert(id);
        }
    }
    Ok(Some(rows))
}

/// Indexes the [`Unindexed`] series (once per store): at start, so that a series renamed
/// later in the config is found.
pub(crate) fn index_stored(config: &Config, store: &Store) -> Result<(), StoreError> {
    match unindexed(config, store)? {
        Some(rows) => index(store, rows),
        None => Ok(()),
    }
}

/// Writes `rows` into the index, and that the store is indexed.
pub(super) fn index(store: &Store, rows: Unindexed) -> Result<(), StoreError> {
    let rows: Vec<(Identity, String)> = rows.into_iter().collect();
    let added = store.index_identities(&rows)?;
    info!(store = %store.path(), series = added, "stored series indexed by identity (source, table, measure, keys), so a renamed id keeps its history");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Period, StoredObservation};
    use crate::store::PollWrite;

    fn config(series: &str) -> Config {
        let text = format!(
            r#"
state_dir = "/tmp/unused"
[sources.cbs]
kind = "cbs"
schedule = "0 0 6 * * *"
[receivers.journal]
kind = "log"
{series}"#
        );
        Config::parse(std::path::Path::new("t.toml"), &text).unwrap()
    }

    fn entry(id: &str, branch: &str) -> String {
        format!(
            "[[series]]\nid = \"{id}\"\nsource = \"cbs\"\ntable = \"T\"\nmeasure = \"M\"\n\
             dimensions = {{ B = \"{branch}\" }}\ntitle = \"x {{B.title}}\"\nunit = \"%\"\n"
        )
    }

    fn one_month() -> Vec<StoredObservation> {
        let t = chrono::Utc::now();
        vec![StoredObservation {
            period: Period::Month(2025, 1),
            source_period: "2025MM01".into(),
            value: 1.0,
            status: "Definitief".into(),
            first_seen: t,
            value_seen: t,
            revisions: vec![],
        }]
    }

    /// A store written before the index existed: its series are indexed once, from the
    /// config in effect, and a later rename then finds them.
    #[test]
    fn stored_series_are_indexed_once_then_a_rename_finds_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ids = ["nl.plain", "nl.g.307500", "nl.d", "nl.d#level"];
        let month = one_month();
        let write = PollWrite {
            observations: ids
                .iter()
                .map(|id| (id.to_string(), month.clone()))
                .collect(),
            ..Default::default()
        };
        store.commit(&write).unwrap();
        assert!(!store.identities_indexed().unwrap());
        let derived = |id: &str| entry(id, "344400") + "derive = \"yoy_pct\"\n";
        let before =
            config(&(entry("nl.plain", "336500") + &entry("nl.g.{B}", "*") + &derived("nl.d")));
        // A poll reads them as indexed until its commit indexes them: without them, each
        // would be indexed again by the poll's own write.
        let rows = unindexed(&before, &store)
            .unwrap()
            .expect("not indexed yet");
        assert_eq!(rows.len(), 3);
        let at = Table {
            source: "cbs",
            table: "T",
        };
        let polled = ["nl.plain", "nl.g.307500", "nl.d"].map(|id| before.series(id).unwrap());
        let homes = resolve(&before, &store, &at, &polled, Some(&rows)).unwrap();
        assert!(homes.identities.is_empty() && homes.renames.is_empty());
        let homes = resolve(&before, &store, &at, &polled, None).unwrap();
        assert_eq!(homes.identities.len(), 3);
        index_stored(&before, &store).unwrap();
        assert!(store.identities_indexed().unwrap());
        assert!(unindexed(&before, &store).unwrap().is_none());
        for id in ["nl.plain", "nl.g.307500", "nl.d"] {
            let s = before.series(id).unwrap();
            assert_eq!(
                store.identity_owner(&identity(&s)).unwrap().as_deref(),
                Some(id)
            );
        }

        // Renamed: the plain entry, and the group's template.
        let after =
            config(&(entry("nl.renamed", "336500") + &entry("de.g.{B}", "*") + &derived("de.d")));
        let expanded = ["nl.renamed", "de.g.307500", "de.d"].map(|id| after.series(id).unwrap());
        let homes = resolve(&after, &store, &at, &expanded, None).unwrap();
        assert_eq!(homes.of("nl.renamed"), "nl.plain");
        assert_eq!(homes.of("de.g.307500"), "nl.g.307500");
        // A derived series' levels move with it.
        assert_eq!(homes.of("de.d#level"), "nl.d#level");
        let mut write = PollWrite {
            identities: homes.identities,
            renames: homes.renames,
            ..Default::default()
        };
        write.observations.push(("nl.renamed".into(), vec![]));
        store.commit(&write).unwrap();
        assert_eq!(
            store.series_ids().unwrap(),
            ["de.d", "de.d#level", "de.g.307500", "nl.renamed"]
        );
        assert_eq!(store.observations("nl.renamed").unwrap(), month);
        // The next poll has nothing to move or index.
        let homes = resolve(&after, &store, &at, &expanded, None).unwrap();
        assert!(homes.renames.is_empty() && homes.identities.is_empty());
    }
}
