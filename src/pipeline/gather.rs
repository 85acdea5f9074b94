//! What one downloaded table's series come to before anything is written: each series' first
//! sync encoded straight into its record, or its release diffed with the alerts its rules
//! fire, and the release-log entries of both; then all of it handed to the poll's write.

use std::collections::BTreeMap;

use super::{first_sync, log_release, series_release, At, SeriesChange, TableError};
use crate::config::{Config, SeriesConfig};
use crate::model::{Alert, Release, Tally};
use crate::sources::Fetched;
use crate::store::{EncodedSeries, PollWrite, ReleaseLogEntry, Store};

/// A table's series as they are gathered, one by one, for the poll's write.
pub(super) struct Gathered {
    /// The series the table holds after this poll.
    held: Vec<String>,
    changed: Tally,
    changes: Vec<SeriesChange>,
    alerts: Vec<Alert>,
    encoded: Vec<(String, EncodedSeries)>,
    releases: Vec<ReleaseLogEntry>,
    /// One log entry for a group's first syncs in this table, not one each.
    group_firsts: BTreeMap<String, ReleaseLogEntry>,
}

impl Gathered {
    /// `alerts`: those the table already fired before its series (drift).
    pub(super) fn new(count: usize, alerts: Vec<Alert>) -> Gathered {
        Gathered {
            held: Vec::with_capacity(count),
            changed: Tally::default(),
            changes: Vec::new(),
            alerts,
            encoded: Vec::with_capacity(count),
            releases: Vec::new(),
            group_firsts: BTreeMap::new(),
        }
    }

    /// One series of the table: a plain first sync goes straight from the download to its
    /// record (it fires nothing); anything else is diffed and evaluated.
    pub(super) fn series(
        &mut self,
        config: &Config,
        store: &Store,
        at: &At,
        s: &SeriesConfig,
        fetched: Fetched,
        dry_run: bool,
    ) -> Result<(), TableError> {
        if !dry_run {
            if let Some((release, e)) = first_sync(store, s, at.homes.of(&s.id), &fetched, at.now)?
            {
                log_release(at, s, &release);
                self.first_sync_logged(at, s, &release);
                self.encoded.push((s.id.clone(), e));
                self.held.push(s.id.clone());
                self.changed.add(&release);
                return Ok(());
            }
        }
        let n = self.changes.len();
        let release = series_release(
            config,
            store,
            at,
            s,
            fetched.to_vec(),
            &mut self.changes,
            &mut self.alerts,
        )?;
        self.held.push(s.id.clone());
        self.changed.add(&release);
        // The log entry is made now, and a first sync's updates become its record now, not
        // at the commit: a large table's releases and decoded observations are never all
        // held at once. An encoded first sync is done with (it fires nothing, briefs nothing).
        for c in self.changes.split_off(n) {
            if !c.release.is_empty() {
                self.releases.push(ReleaseLogEntry::compact(
                    at.now, at.name, at.table, &c.series, &c.release,
                ));
            }
            if c.release.baseline && !dry_run {
                if let Some(e) = Store::encode_baseline(&c.updates) {
                    self.encoded.push((c.series, e));
                    continue;
                }
            }
            self.changes.push(c);
        }
        Ok(())
    }

    /// A first sync's release-log entry: a group's first syncs in this table share one.
    fn first_sync_logged(&mut self, at: &At, s: &SeriesConfig, release: &Release) {
        let (now, name, table) = (at.now, at.name, at.table);
        match &s.template {
            Some(template) => match self.group_firsts.get_mut(template) {
                Some(entry) => entry.fold_group_baseline(release),
                None => {
                    let entry =
                        ReleaseLogEntry::group_baseline(now, name, table, template, release);
                    self.group_firsts.insert(template.clone(), entry);
                }
            },
            None => self
                .releases
                .push(ReleaseLogEntry::compact(now, name, table, &s.id, release)),
        }
    }

    /// Puts the log entries and encoded records into the poll's write; gives back the series
    /// held, the tally, the changes and the alerts, for the report.
    pub(super) fn into_write(
        self,
        write: &mut PollWrite,
    ) -> (Vec<String>, Tally, Vec<SeriesChange>, Vec<Alert>) {
        write.releases.extend(self.releases);
        write.releases.extend(self.group_firsts.into_values());
        write.encoded.extend(self.encoded);
        (self.held, self.changed, self.changes, self.alerts)
    }
}
