//! What every statistics source is to the rest of statwatch: `Source` (a cheap change check
//! per table, then one data download per table that moved, parsed into observations per
//! configured series), its `Check` and `FetchError`, and the checks every table's data passes.
//! The sources themselves live in `cbs/` and `destatis/`, over the transport in `http`.

pub mod cbs;
pub mod destatis;
pub mod drift;
mod fetched;
pub(crate) mod http;
pub mod meta;

use std::collections::BTreeMap;

use tokio_util::sync::CancellationToken;

use tracing::warn;

use crate::config::group::{Choice, Keys, MEASURE};
use crate::config::ident;
use crate::config::{SeriesConfig, SourceConfig, SourceKind};

pub use fetched::{Fetched, PeriodLabel};
pub use http::HttpError;

/// Why fetching or parsing one table failed. The pipeline adds the source and table names.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error("{what}: {err}")]
    Http { what: String, err: HttpError },
    #[error("the API answered with an error: {0}")]
    Api(String),
    #[error("the table is discontinued ({0}); it will get no new data: find its successor and update the config")]
    Discontinued(String),
    /// The source says the table does not exist (GENESIS status 90, or 104 with no data).
    #[error("the source reports the table missing: {0}")]
    Missing(String),
    #[error("unexpected answer: {0}")]
    Schema(String),
    #[error("series {series}: {message}")]
    Series { series: String, message: String },
    #[error("the table download did not complete within {} s (table_deadline_secs)", .0.as_secs())]
    Deadline(std::time::Duration),
    /// The daemon is stopping: the download was given up (nothing of it is stored).
    #[error("given up: statwatch is shutting down")]
    Cancelled,
}

impl FetchError {
    /// An HTTP 404: the endpoint or entity set does not exist on this server.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            FetchError::Http {
                err: HttpError::Status { status: 404, .. },
                ..
            }
        )
    }

    pub(crate) fn http(what: impl Into<String>) -> impl FnOnce(HttpError) -> FetchError {
        let what = what.into();
        move |err| FetchError::Http { what, err }
    }
}

/// The outcome of the cheap change check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Same stamp as last time: no data request needed.
    Unchanged,
    /// Moved (or never seen): download, then store this stamp with the data.
    Changed { stamp: String },
}

/// One table's data, split by configured series id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableData {
    pub series: BTreeMap<String, Fetched>,
    /// The table's concrete series at this poll: plain entries as configured, groups
    /// expanded into one series per key found (with the source's titles).
    pub expanded: Vec<SeriesConfig>,
    /// Configured series the table's metadata can no longer serve (not in `expanded`).
    pub broken: Vec<drift::Broken>,
    /// The unit of every measure of `expanded`, where the metadata gives one.
    pub units: BTreeMap<String, String>,
}

/// A configured source, ready to poll.
pub enum Source {
    Cbs(cbs::Cbs),
    Destatis(destatis::Destatis),
}

impl Source {
    pub fn new(cfg: &SourceConfig) -> Result<Source, HttpError> {
        Ok(match cfg.kind {
            SourceKind::Cbs => Source::Cbs(cbs::Cbs::new(cfg)?),
            SourceKind::Destatis => Source::Destatis(destatis::Destatis::new(cfg)?),
        })
    }

    /// Compares the table's change stamp with `known` (the stored one).
    pub async fn check(&self, table: &str, known: Option<&str>) -> Result<Check, FetchError> {
        match self {
            Source::Cbs(s) => s.check(table, known).await,
            Source::Destatis(s) => s.check(table, known).await,
        }
    }

    /// Checks every table of `known` (table, stored stamp) at once where the source can:
    /// CBS asks its catalogue once for all of them. A table left out of the answer (every
    /// GENESIS table: its catalogue is asked per statistic) is checked on its own through
    /// [`Source::check`] when its turn comes.
    pub async fn check_all(
        &self,
        known: &[(String, Option<String>)],
    ) -> BTreeMap<String, Result<Check, FetchError>> {
        match self {
            Source::Cbs(s) => s.check_all(known).await,
            Source::Destatis(_) => BTreeMap::new(),
        }
    }

    /// The tables the source's catalogue finds for `words` (`source` names them; the CBS
    /// catalogue is kept under `state_dir` for a day).
    pub async fn search(
        &self,
        source: &str,
        words: &[String],
        state_dir: &std::path::Path,
    ) -> Result<Vec<meta::Found>, FetchError> {
        match self {
            Source::Cbs(s) => s.search(source, words, state_dir).await,
            Source::Destatis(s) => s.search(source, words).await,
        }
    }

    /// One table's metadata (dimensions, keys, measures), without its data.
    pub async fn describe(&self, source: &str, table: &str) -> Result<meta::TableMeta, FetchError> {
        match self {
            Source::Cbs(s) => s.describe(source, table).await,
            Source::Destatis(s) => s.describe(source, table).await,
        }
    }

    /// What a discontinued (or missing) table's texts and catalogue say of what carries
    /// it on; `why` is what the check or download said.
    pub async fn stopped(&self, table: &str, why: &str) -> Result<drift::Stopped, FetchError> {
        match self {
            Source::Cbs(s) => s.stopped(table, why).await,
            Source::Destatis(s) => s.stopped(table, why).await,
        }
    }

    /// Downloads one table and picks out every configured series of it, within the
    /// source's per-table deadline; what comes back is checked to be storable.
    /// `cancel` ends a download that is still running when the daemon stops (a GENESIS job
    /// can take minutes).
    pub async fn fetch(
        &self,
        table: &str,
        series: &[SeriesConfig],
        cancel: &CancellationToken,
    ) -> Result<TableData, FetchError> {
        let fetch = async {
            match self {
                Source::Cbs(s) => (
                    s.deadline,
                    tokio::time::timeout(s.deadline, s.fetch(table, series)).await,
                ),
                Source::Destatis(s) => (
                    s.deadline,
                    tokio::time::timeout(s.deadline, s.fetch(table, series)).await,
                ),
            }
        };
        let (deadline, data) = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(FetchError::Cancelled),
            done = fetch => done,
        };
        let data = data.map_err(|_| FetchError::Deadline(deadline))??;
        data.check(&data.expanded)?;
        Ok(data)
    }
}

impl TableData {
    /// Refuses what the store could not hold faithfully: a series the config asks for but
    /// the answer lacks (storing the table's stamp with it would skip the release for
    /// good), a non-finite value (JSON writes it as null, and the record no longer reads
    /// back) or a period outside `model::YEARS`. The parsers refuse these already; this is
    /// the one check every source passes through.
    pub(crate) fn check(&self, series: &[SeriesConfig]) -> Result<(), FetchError> {
        for s in series {
            let fail = |message: String| FetchError::Series {
                series: s.id.clone(),
                message,
            };
            let Some(obs) = self.series.get(&s.id) else {
                return Err(fail("the answer has no data for this series".into()));
            };
            for o in obs.iter() {
                if !o.value.is_finite() {
                    return Err(fail(format!(
                        "{}: not a finite number: {}",
                        o.source_period, o.value
                    )));
                }
                if !crate::model::YEARS.contains(&o.period.year()) {
                    return Err(fail(format!(
                        "{}: the year is out of range",
                        o.source_period
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Whether a key a source lists for a group can be part of a series id (see
/// [`ident`]): one that cannot is skipped and named, escaped, in a warning, so a hostile key
/// costs its own series and not its table or source.
fn usable_key(s: &SeriesConfig, name: &str, c: &Choice) -> bool {
    let Err(reason) = ident::check_key(&c.key) else {
        return true;
    };
    warn!(series = %s.id, dimension = name, key = ?c.key, %reason, "a key of the table is skipped: it cannot be part of a series id");
    false
}

/// Whether an id a group made (keys, and titles where the template has them) is one.
fn usable_id(s: &SeriesConfig, id: &str) -> bool {
    let Err(reason) = ident::check_id(id) else {
        return true;
    };
    warn!(series = %s.id, id = ?id, %reason, "a series of the table is skipped: its id cannot be stored");
    false
}

/// Expands the groups among `series` with the keys `found(entry, name)` gives for each of
/// its open or listed dimensions (and `measure`); plain series pass as they are. A listed key
/// the table lacks goes to `broken` (its stored data stays; `poll` reports it).
pub(crate) fn expand_groups(
    series: &[SeriesConfig],
    broken: &mut Vec<drift::Broken>,
    mut found: impl FnMut(&SeriesConfig, &str) -> Result<Vec<Choice>, FetchError>,
) -> Result<Vec<SeriesConfig>, FetchError> {
    let mut out: Vec<SeriesConfig> = Vec::new();
    for s in series {
        let Some(g) = &s.group else {
            out.push(s.clone());
            continue;
        };
        let names = g
            .dims
            .iter()
            .map(|(d, k)| (d.as_str(), k))
            .chain(g.measure.as_ref().map(|k| (MEASURE, k)));
        let mut choices = BTreeMap::new();
        for (name, keys) in names {
            let all = found(s, name)?;
            let mut wanted: Vec<Choice> = all
                .iter()
                .filter(|c| keys.wants(&c.key) && usable_key(s, name, c))
                .cloned()
                .collect();
            wanted.sort_by(|a, b| a.key.cmp(&b.key));
            wanted.dedup_by(|a, b| a.key == b.key);
            if let Keys::List(listed) = keys {
                for k in listed
                    .iter()
                    .filter(|k| !wanted.iter().any(|c| &c.key == *k))
                {
                    warn!(series = %s.id, dimension = name, key = %k, "a listed key is not in the table");
                    broken.push(drift::Broken {
                        series: s.id.clone(),
                        title: s.title.clone(),
                        dimension: name.to_string(),
                        key: k.clone(),
                        candidates: drift::closest(k, &all),
                    });
                }
            }
            choices.insert(name.to_string(), wanted);
        }
        let expanded = s.expand(&choices).map_err(|e| FetchError::Series {
            series: s.id.clone(),
            message: e.to_string(),
        })?;
        out.extend(expanded.into_iter().filter(|e| usable_id(s, &e.id)));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = out.iter().find(|s| !seen.insert(s.id.as_str())) {
        return Err(FetchError::Series {
            series: dup.id.clone(),
            message: "two entries (or two keys of a group) produce this id".into(),
        });
    }
    Ok(out)
}
