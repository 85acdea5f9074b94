//! A downloaded table's series plans (see `plan`) folded, one series at a time, into what the
//! poll writes: first syncs' records, releases' updates, the release-log entries of both and
//! the alerts; then handed to the poll's write and report together, so a table that fails
//! half way leaves the write as it was. A dry run folds the same plans.

use std::collections::BTreeMap;

use tracing::info;

use super::plan::{Plan, SeriesPlan};
use super::{At, PollReport, SeriesChange, TableResult};
use crate::config::SeriesConfig;
use crate::model::{Alert, Release, StoredObservation, Tally};
use crate::store::{EncodedSeries, PollWrite, ReleaseLogEntry};

/// A table's series as they are gathered, one by one, for the poll's write.
pub(super) struct Gathered {
    /// The series the table holds after this poll.
    held: Vec<String>,
    changed: Tally,
    /// The releases (not first syncs: a large table's would all be held at once).
    changes: Vec<SeriesChange>,
    alerts: Vec<Alert>,
    encoded: Vec<(String, EncodedSeries)>,
    observations: Vec<(String, Vec<StoredObservation>)>,
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
            observations: Vec::new(),
            releases: Vec::new(),
            group_firsts: BTreeMap::new(),
        }
    }

    /// Adds the plan of series `s` (its levels' first, for a derived one).
    pub(super) fn add(&mut self, at: &At, s: &SeriesConfig, plan: SeriesPlan) {
        let SeriesPlan { levels, own } = plan;
        if let Some(levels) = levels {
            self.add_stored(at, s.level_id(), None, levels);
        }
        if let Some(release) = own.release() {
            log_release(at, s, release);
            self.changed.add(release);
        }
        self.held.push(s.id.clone());
        // A derived series' first sync logs its levels and its values apart, as a release.
        let group = s.template.as_deref().filter(|_| s.derive.is_none());
        self.add_stored(at, s.id.clone(), group, own);
    }

    /// The plan of one stored series, `group` the template of a group's plain series.
    fn add_stored(&mut self, at: &At, id: String, group: Option<&str>, plan: Plan) {
        match plan {
            Plan::Unchanged => {}
            Plan::FirstSync { release, record } => {
                if !release.is_empty() {
                    self.first_sync_logged(at, &id, group, &release);
                }
                self.encoded.push((id, record));
            }
            Plan::Release {
                release,
                updates,
                alerts,
            } => {
                let (now, name, table) = (at.now, at.name, at.table);
                let entry = ReleaseLogEntry::compact(now, name, table, &id, &release);
                self.releases.push(entry);
                self.observations.push((id.clone(), updates));
                self.alerts.extend(alerts);
                self.changes.push(SeriesChange {
                    series: id,
                    release,
                    updates: Vec::new(),
                });
            }
        }
    }

    /// A first sync's release-log entry: a group's first syncs in this table share one.
    fn first_sync_logged(&mut self, at: &At, id: &str, group: Option<&str>, release: &Release) {
        let (now, name, table) = (at.now, at.name, at.table);
        match group {
            Some(template) => match self.group_firsts.get_mut(template) {
                Some(entry) => entry.fold_group_baseline(release),
                None => {
                    let entry =
                        ReleaseLogEntry::group_baseline(now, name, table, template, release);
                    self.group_firsts.insert(template.to_string(), entry);
                }
            },
            None => self
                .releases
                .push(ReleaseLogEntry::compact(now, name, table, id, release)),
        }
    }

    /// Puts the records, updates, log entries and alerts into the poll's write and report;
    /// what the table holds now.
    pub(super) fn into_write(self, write: &mut PollWrite, report: &mut PollReport) -> TableResult {
        write.releases.extend(self.releases);
        write.releases.extend(self.group_firsts.into_values());
        write.encoded.extend(self.encoded);
        write.observations.extend(self.observations);
        report.changes.extend(self.changes);
        report.alerts.extend(self.alerts);
        TableResult::Updated {
            series: self.held,
            changed: self.changed,
        }
    }
}

fn log_release(at: &At, s: &SeriesConfig, release: &Release) {
    let (name, table) = (at.name, at.table);
    if release.baseline && !release.is_empty() {
        let group = s.template.as_deref().unwrap_or("");
        info!(source = name, table, series = %s.id, group, periods = release.new_periods.len(), "baseline stored");
    } else if !release.is_empty() {
        info!(source = name, table, series = %s.id, release = %release, "release");
    }
}
