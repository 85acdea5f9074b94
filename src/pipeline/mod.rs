//! What one poll of one source does, start to finish: cheap check, fetch what moved, plan
//! each series (first sync or release, see `plan`), gather the plans into the poll's write
//! (`gather`), make the briefs the releases open, and commit data, release log, alerts and
//! briefs in one transaction. A dry run does all of it but the commit, and shows the write.
//! Delivery is separate (the outbox in `notify`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::briefs;
use crate::config::{ident, Config, SeriesConfig};
use crate::model::Alert;
use crate::notify;
use crate::rules::table_changed::Place;
use crate::silence;
use crate::sources::{Check, FetchError, Source, TableData};
use crate::store::{PollWrite, Staged, Store, StoreError, TableStamp};

mod drift;
mod gather;
mod identity;
mod plan;
mod report;
mod selection;

pub(crate) use identity::index_stored;
use identity::Homes;
use selection::selection;

pub use report::{PollReport, SeriesChange, TableError, TableOutcome, TableResult};

/// Polls every table of one source once.
pub async fn poll_source(
    config: &Config,
    store: &Store,
    name: &str,
    source: &Source,
    dry_run: bool,
    cancel: &CancellationToken,
) -> Result<PollReport, StoreError> {
    let started_at = Utc::now();
    let mut write = PollWrite::default();
    let mut report = PollReport::new(name, started_at);
    let unindexed = identity::unindexed(config, store)?;
    let tables = config.tables_of(name);
    let mut checks = check_all(config, store, name, source, &tables).await;
    for (table, series) in tables {
        if cancel.is_cancelled() {
            // What was fetched so far is still committed below; the rest waits for the
            // next start's catch-up poll.
            report.tables.push(TableOutcome {
                table,
                result: Err(TableError::Fetch(FetchError::Cancelled)),
            });
            continue;
        }
        let result = poll_table(
            config,
            store,
            Poll {
                name,
                source,
                now: started_at,
                cancel,
                checked: checks.remove(&table),
                unindexed: unindexed.as_ref(),
            },
            &table,
            &series,
            &mut write,
            &mut report,
        )
        .await;
        let at = Place {
            source: name,
            table: &table,
        };
        drift::after_poll(config, store, source, at, &result, &mut write, &mut report).await?;
        report.tables.push(TableOutcome { table, result });
    }
    info!(source = name, outcome = %report.summary(), "poll finished");
    warn_of_flood(config, &report);
    if dry_run {
        // Planned as a real poll is; only the commit is left out, and the report shows
        // what it would have stored.
        report.would_store(write)?;
        return Ok(report);
    }
    if let Some(rows) = unindexed {
        identity::index(store, rows)?;
    }
    commit(config, store, name, &mut report, write).await?;
    Ok(report)
}

/// Commits what a poll found with the silence alerts and briefs it opens, then enqueues the
/// overdue alerts the committed data leaves; `report` gets what was committed.
async fn commit(
    config: &Config,
    store: &Store,
    name: &str,
    report: &mut PollReport,
    mut write: PollWrite,
) -> Result<(), StoreError> {
    let before = store.poll_record(name)?;
    let (record, failing) = silence::after_poll(config, store, before.as_ref(), &report.outcome())?;
    report.alerts.extend(failing);
    write.poll = Some((name.to_string(), record));
    // In the poll's own transaction: a crash after the commit cannot lose a brief (a second
    // commit for it would leave a window where the release is stored and its brief is not,
    // and the next poll would not see the release as new again).
    let briefs = briefs_of(config, store, &write, report)?;
    // Moved into the write and back, not cloned: a flood's alerts are held once.
    let fired = std::mem::take(&mut report.alerts);
    let reported = fired.len();
    write.alerts = fired
        .into_iter()
        .chain(briefs)
        .map(|a| {
            let to = notify::receivers_for(config, &a);
            (a, to)
        })
        .collect();
    let (mut committed, write) = store.commit_async(write).await?;
    for r in write
        .renames
        .iter()
        .filter(|r| !ident::is_level_id(&r.from))
    {
        info!(source = name, from = %r.from, to = %r.to, "series renamed from {} to {}", r.from, r.to);
    }
    report.alerts = write
        .alerts
        .into_iter()
        .take(reported)
        .map(|(a, _)| a)
        .collect();
    crate::fault::point(crate::fault::AFTER_POLL_COMMIT);
    // After the commit, so a series that just got a new period is not late.
    let overdue = silence::overdue(config, store, Some(name), Utc::now())?;
    let late = silence::enqueue(config, store, &overdue).await?;
    committed.enqueued += late.enqueued;
    let new: std::collections::HashSet<&String> = late.new_alerts.iter().collect();
    report
        .alerts
        .extend(overdue.into_iter().filter(|a| new.contains(&a.id)));
    committed.new_alerts.extend(late.new_alerts);
    report.committed = Some(committed);
    Ok(())
}

/// Warns when a poll fired more alerts than `[store] flood_alerts` (see
/// [`PollReport::flood`]): the operator must hear of it, with the tables they came from.
fn warn_of_flood(config: &Config, report: &PollReport) {
    let bound = config.store.flood_alerts;
    if let Some(flood) = report.flood(bound) {
        warn!(source = %report.source, alerts = report.alerts.len(), flood_alerts = bound, "alert flood: {flood}");
    }
}

/// The briefs this poll opens, made from the series as `write` will leave them (an id
/// already stored is not enqueued again at the commit, so a re-fetched release briefs once).
/// A brief that cannot be made is logged and the poll goes on without it.
fn briefs_of(
    config: &Config,
    store: &Store,
    write: &PollWrite,
    report: &PollReport,
) -> Result<Vec<Alert>, StoreError> {
    if config.briefs.is_empty() {
        return Ok(Vec::new());
    }
    let cycle = briefs::Cycle {
        new_periods: report
            .changes
            .iter()
            .filter(|c| !c.release.baseline && !c.release.new_periods.is_empty())
            .map(|c| (c.series.clone(), c.release.new_periods.clone()))
            .collect(),
        labels: (*report.labels).clone(),
        alerts: &report.alerts,
        now: Utc::now(),
    };
    match briefs::make(config, &Staged::new(store, write), &cycle) {
        Ok(made) => Ok(made),
        Err(briefs::BriefError::Store(e)) => Err(e),
        Err(e) => {
            warn!(source = %report.source, error = %e, "brief not made");
            Ok(Vec::new())
        }
    }
}

/// The cheap check of every table at once, where the source can (see
/// [`Source::check_all`]); a table whose stored stamp cannot be read is left to `poll_table`,
/// which reports the store error.
async fn check_all(
    config: &Config,
    store: &Store,
    name: &str,
    source: &Source,
    tables: &BTreeMap<String, Vec<SeriesConfig>>,
) -> BTreeMap<String, Result<Check, FetchError>> {
    let known: Vec<(String, Option<String>)> = tables
        .iter()
        .filter_map(|(table, series)| {
            let selection = selection(config, name, series);
            let stamp = store.stamp(name, table).ok()?;
            let stamp = stamp.filter(|s| s.selection == selection).map(|s| s.stamp);
            Some((table.clone(), stamp))
        })
        .collect();
    source.check_all(&known).await
}

/// The poll a table belongs to.
struct Poll<'a> {
    name: &'a str,
    source: &'a Source,
    now: DateTime<Utc>,
    cancel: &'a CancellationToken,
    /// The table's cheap check if the source made it for every table at once.
    checked: Option<Result<Check, FetchError>>,
    /// The series stored before the store had the identity index, read as indexed.
    unindexed: Option<&'a identity::Unindexed>,
}

/// One table: its cheap check, its download, and its series planned and gathered into
/// `write` (a dry run's too: it just never commits).
async fn poll_table(
    config: &Config,
    store: &Store,
    poll: Poll<'_>,
    table: &str,
    series: &[SeriesConfig],
    write: &mut PollWrite,
    report: &mut PollReport,
) -> Result<TableResult, TableError> {
    let Poll {
        name,
        source,
        now,
        cancel,
        checked,
        unindexed,
    } = poll;
    let selection = selection(config, name, series);
    let Some(stamp) = changed_stamp(store, source, (name, table), &selection, checked).await?
    else {
        return Ok(TableResult::Unchanged);
    };
    let mut data = source.fetch(table, series, cancel).await?;
    let here = identity::Table {
        source: name,
        table,
    };
    let homes = identity::resolve(config, store, &here, &data.expanded, unindexed)?;
    let gone = vanished(store, name, table, series, &data.expanded, &homes)?;
    report.vanished.extend(gone);

    // Everything below is computed before anything is written, so a failure leaves the
    // table exactly as it was.
    let alerts = drift::after_fetch(config, store, (name, table), &data, report, now)?;
    let at = At {
        name,
        table,
        now,
        homes: &homes,
    };
    let gathered = plan_table(config, store, &at, &mut data, alerts, report)?;
    let result = gathered.into_write(write, report);
    write.identities.extend(homes.identities);
    write.renames.extend(homes.renames);
    // Not while a series is broken: the next poll downloads the table again, and names the
    // series until it resolves.
    if data.broken.is_empty() {
        let stamp = TableStamp::fetched(stamp, now, selection, std::mem::take(&mut data.units));
        write
            .stamps
            .push((name.to_string(), table.to_string(), stamp));
    }
    Ok(result)
}

/// Plans every series of a downloaded table and gathers the plans; the report gets each
/// series' title and unit.
fn plan_table(
    config: &Config,
    store: &Store,
    at: &At,
    data: &mut TableData,
    alerts: Vec<Alert>,
    report: &mut PollReport,
) -> Result<gather::Gathered, TableError> {
    let mut gathered = gather::Gathered::new(data.expanded.len(), alerts);
    // Each series' config is dropped once it is done with (a whole table's is thousands).
    for s in std::mem::take(&mut data.expanded) {
        let labels = &mut report.labels;
        labels.titles.insert(s.id.clone(), s.title.clone());
        labels
            .units
            .insert(s.id.clone(), s.value_unit().to_string());
        // Taken, not cloned: a whole table's observations are held once.
        let fetched = data.series.remove(&s.id).unwrap_or_default();
        let stored = stored(store, at.homes, &s, fetched.is_empty())?;
        let plan = plan::series(&config.rules, &s, stored, fetched, at.now)?;
        gathered.add(at, &s, plan);
    }
    Ok(gathered)
}

/// What the store holds of `s` where its records are until the commit (a renamed series'
/// under its old id): its own, and its levels where the plan needs them (see
/// [`plan::Stored`]).
fn stored(
    store: &Store,
    homes: &Homes,
    s: &SeriesConfig,
    empty_answer: bool,
) -> Result<plan::Stored, StoreError> {
    let held = |id: &str| -> Result<plan::Held, StoreError> {
        let home = homes.of(id);
        Ok(plan::Held {
            recorded: store.holds(home)?,
            observations: store.observations(home)?,
        })
    };
    let levels = match s.derive.is_some() || empty_answer {
        true => held(&s.level_id())?,
        false => plan::Held::default(),
    };
    Ok(plan::Stored {
        own: held(&s.id)?,
        levels,
    })
}

/// The table's new change stamp from its cheap check (the poll's, made for every table at
/// once, or its own), or `None` when the table is unchanged. A stored stamp only counts for
/// the selection it was downloaded with: a series added to a table (or a longer history)
/// must not wait for the table's next release.
async fn changed_stamp(
    store: &Store,
    source: &Source,
    (name, table): (&str, &str),
    selection: &str,
    checked: Option<Result<Check, FetchError>>,
) -> Result<Option<String>, TableError> {
    let checked = match checked {
        Some(c) => c,
        None => {
            let known = store
                .stamp(name, table)?
                .filter(|s| s.selection == selection);
            source
                .check(table, known.as_ref().map(|s| s.stamp.as_str()))
                .await
        }
    };
    Ok(match checked? {
        Check::Unchanged => None,
        Check::Changed { stamp } => Some(stamp),
    })
}

/// Where a table's poll stands: its source, the table, the poll's time, and where each
/// series' records are.
struct At<'a> {
    name: &'a str,
    table: &'a str,
    now: DateTime<Utc>,
    homes: &'a Homes,
}

/// The stored series of `series`' groups that this answer no longer has: their keys left
/// the table (a series renamed did not). Their data stays; `poll` reports them.
fn vanished(
    store: &Store,
    source: &str,
    table: &str,
    series: &[SeriesConfig],
    expanded: &[SeriesConfig],
    homes: &Homes,
) -> Result<Vec<String>, StoreError> {
    let groups: Vec<&SeriesConfig> = series.iter().filter(|s| s.group.is_some()).collect();
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let present: std::collections::HashSet<&str> = expanded.iter().map(|e| e.id.as_str()).collect();
    let mut out = Vec::new();
    for id in store.series_ids()? {
        if present.contains(id.as_str()) || homes.moves_away(&id) {
            continue;
        }
        let Some(g) = groups
            .iter()
            .find(|g| !ident::is_level_id(&id) && g.produces(&id))
        else {
            continue;
        };
        warn!(source, table, series = %id, group = %g.id, "the table no longer has this key of the group: its stored data is kept");
        out.push(id);
    }
    Ok(out)
}
