//! The store as it will be once a poll's write commits: what is stored, with the write's
//! observations merged in the way [`Store::commit`] merges them ([`merged`]: an update replaces
//! its period). What must be computed from the new data and still go into the poll's own
//! transaction reads through this: a brief, so that a crash after the commit cannot lose it.

use super::{PollWrite, Store, StoreError};
use crate::diff::merged;
use crate::model::StoredObservation;

/// A read-only view of `store` plus `write`; nothing is written.
pub struct Staged<'a> {
    store: &'a Store,
    write: &'a PollWrite,
}

impl<'a> Staged<'a> {
    pub fn new(store: &'a Store, write: &'a PollWrite) -> Staged<'a> {
        Staged { store, write }
    }

    /// Every observation of a series after the commit, oldest period first: what is stored
    /// with the write's first sync or updates merged in ([`merged`], as the commit merges).
    pub fn observations(&self, id: &str) -> Result<Vec<StoredObservation>, StoreError> {
        // A renamed series' records are still under the id it is renamed from.
        let stored = match self.write.renames.iter().find(|r| r.to == id) {
            Some(r) => &r.from,
            None => id,
        };
        let mut obs = self.store.observations(stored)?;
        for (_, e) in self.write.encoded.iter().filter(|(s, _)| s == id) {
            obs = merged(obs, &e.observations(id)?);
        }
        for (_, updates) in self.write.observations.iter().filter(|(s, _)| s == id) {
            obs = merged(obs, updates);
        }
        Ok(obs)
    }

    /// Every series id after the commit, sorted.
    pub fn series_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut ids = self.store.series_ids()?;
        ids.retain(|id| !self.write.renames.iter().any(|r| &r.from == id));
        ids.extend(self.write.renames.iter().map(|r| r.to.clone()));
        ids.extend(self.write.encoded.iter().map(|(s, _)| s.clone()));
        ids.extend(self.write.observations.iter().map(|(s, _)| s.clone()));
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Period;
    use crate::store::EncodedSeries;
    use chrono::Utc;

    fn obs(m: u8, v: f64) -> StoredObservation {
        let t = Utc::now();
        StoredObservation {
            period: Period::Month(2025, m),
            source_period: format!("2025MM{m:02}").into(),
            value: v,
            status: "Voorlopig".into(),
            first_seen: t,
            value_seen: t,
            revisions: vec![],
        }
    }

    fn values(obs: &[StoredObservation]) -> Vec<(Period, f64)> {
        obs.iter().map(|o| (o.period, o.value)).collect()
    }

    #[test]
    fn the_staged_view_is_what_the_commit_then_stores() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let first = PollWrite {
            observations: vec![("s".into(), vec![obs(1, 0.3), obs(2, 1.0)])],
            ..Default::default()
        };
        store.commit(&first).unwrap();
        let write = PollWrite {
            // February revised, March new; a new series' first sync, encoded early.
            observations: vec![("s".into(), vec![obs(2, -0.3), obs(3, 1.3)])],
            encoded: vec![(
                "b".into(),
                EncodedSeries::of(&[obs(1, 5.0), obs(2, 6.0)], Utc::now()),
            )],
            ..Default::default()
        };
        let staged = Staged::new(&store, &write);
        let s = values(&staged.observations("s").unwrap());
        let b = values(&staged.observations("b").unwrap());
        assert_eq!(
            s,
            [
                (Period::Month(2025, 1), 0.3),
                (Period::Month(2025, 2), -0.3),
                (Period::Month(2025, 3), 1.3)
            ]
        );
        assert_eq!(b.len(), 2);
        assert_eq!(staged.series_ids().unwrap(), ["b", "s"]);
        assert!(
            values(&store.observations("s").unwrap()).len() == 2,
            "nothing written"
        );
        store.commit(&write).unwrap();
        assert_eq!(values(&store.observations("s").unwrap()), s);
        assert_eq!(values(&store.observations("b").unwrap()), b);
    }
}
