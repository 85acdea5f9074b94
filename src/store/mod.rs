//! The only module that sees sled: opening the store, its schema and upgrade, the record
//! encoding, and the one transaction per poll. What the records are lives beside it:
//! `series` (data, stamps, release log, polls), `record` (the binary series records, on
//! `codec`'s primitives),
//! `outbox` (alerts and their deliveries), `due` (what the outbox owes, retention), `log`
//! (the delivery log read a page at a time),
//! `ahead` (the commit's steps: series, alert and outbox records written ahead of the
//! transaction), `undo` (their undo log), `inflight` (what readers are shown of them meanwhile),
//! `queue` (new outbox entries on their way into the due index), `staged` (the store as a poll's
//! write will leave it, read before the commit), `identity` (a series' identity, so a
//! renamed id keeps its records), `latest` (each series' newest observation, what the
//! overdue check reads) and `upgrade` (earlier schemas).
//!
//! # Key layout (schema version 4)
//!
//! | tree        | key                            | value                                    |
//! |-------------|--------------------------------|------------------------------------------|
//! | `meta`      | `schema_version`               | `4`                                      |
//! | `meta`      | `pending_count`                | big-endian u64: pending deliveries       |
//! | `series`    | series id                      | its observations, binary (`record`)      |
//! | `revisions` | series id                      | its earlier vintages, binary (`record`)  |
//! | `latest`    | series id                      | its newest observation alone (`latest`)  |
//! | `stamps`    | `source \0 table`              | [`TableStamp`] JSON (cheap-check value)  |
//! | `releases`  | big-endian u64 sequence        | [`ReleaseLogEntry`] JSON (a baseline's   |
//! |             |                                | periods only as count, first and last;   |
//! |             |                                | a group's first sync as one entry)       |
//! | `polls`     | `source`                       | [`PollRecord`] JSON                      |
//! | `alerts`    | alert id                       | [`Alert`] JSON                           |
//! | `outbox`    | `receiver \0 alert id`         | [`Delivery`] JSON                        |
//! | `due`       | due time (8 bytes) + outbox key | empty: the pending entries, by due time |
//! | `pending`   | outbox key                     | its due time (8 bytes), to find it again |
//! | `sent`      | outbox key                     | `d`/`f`: a pruned delivered/failed entry |
//! | `log`       | created (8 bytes) + outbox key | empty: the delivery log by creation time |
//! | `meta`      | `log_delivered`, `log_failed`  | how many entries are in each (u64 BE)    |
//! | `meta`      | `alive`                        | RFC 3339 time of the last write probe    |
//! | `meta`      | `ahead:` + id (u64) + chunk    | undo log of a commit in progress (binary)|
//! | `meta`      | `queue:` + id (u64) + chunk    | committed outbox entries not yet in `due`|
//! | `meta`      | `hold \0 receiver`             | [`Hold`]: until, then Retry-After (8+8)  |
//! | `identities`| a series' identity (`identity`) | the series id its records are under     |
//! | `meta`      | `identities_indexed`           | set once earlier series were indexed     |
//!
//! No two records share a key: a derived series' raw levels are the `series` record
//! `ID#level` ([`crate::config::ident::level_id`]), and no series id contains `#`; the names
//! joined with NUL (source, table, receiver) contain no control character, and an alert id
//! is hex. `config::ident` checks this where ids, keys and names enter: the config, and the
//! keys a source lists for a group (a key that fails is skipped, not stored).
//!
//! Why one record per series: a first sync of a 2,000-series table wrote 240,000 sled keys
//! with JSON values (about 200 bytes each on disk, and sled's write path held kilobytes of
//! memory per key); a table is read and written a series at a time anyway. The revisions
//! live in their own record because most polls never touch them and they only grow.
//! Schema 1 (one JSON record per observation in `observations`), schema 2 (no `log`) and
//! schema 3 (no `latest`) are upgraded at open.
//!
//! One poll's writes (observations, stamps, release log, alerts and briefs and their outbox
//! entries with their index and count, the poll time) go through [`Store::commit`] as one
//! unit, so a crash can neither lose a detection nor record data without its alerts and
//! briefs. The stamps and poll time are ONE sled transaction; the series and revision
//! records, the release log and the new alert and outbox records are written just ahead of
//! it, under an undo log of the values they replace that the transaction deletes, because
//! sled holds a transaction's every key in memory (see `ahead`). A crash in between is undone
//! at the next open, so the store shows the whole poll or none of it. The transaction also
//! queues the new outbox entries, which go into the due index (what delivery reads) in small
//! transactions after it, or at the next open after a crash (see `queue`): nothing is sent
//! before its poll is committed, and however many alerts a poll fires, no transaction holds
//! more than a chunk of them. Commits take turns. The steps are types, each made only by the
//! step before and consumed by the one after (`plan_commit` -> `CommitPlan::write_ahead` ->
//! `Ahead::in_transaction` in the transaction -> `Ahead::settle`; an `Ahead` dropped unsettled
//! is undone), so they cannot run out of order, twice, or be left half done (see `ahead`).
//! Readers never see a record of a commit in progress, series or alert or outbox entry: they
//! read the values its records replace, and none for the records it adds, until the
//! transaction has committed or the records are undone (see `ahead`, "What readers see
//! meanwhile", and `inflight`).
//!
//! Every record is checked before it is written: observations by `record::check` (NaN,
//! infinity and out-of-range periods are refused), JSON records by decoding them again (JSON
//! has no NaN: serde_json writes `null`, which then fails to decode). A refused value is
//! [`StoreError::Unreadable`] and nothing of the poll is written. Reads of single records
//! report the tree and key of a record that cannot be decoded.
//!
//! Writes end with a flush to disk, which blocks: async callers use [`Store::commit_async`]
//! and [`Store::update_deliveries_async`], which run on tokio's blocking pool.

mod ahead;
mod codec;
mod due;
mod identity;
mod inflight;
mod latest;
mod log;
mod outbox;
mod queue;
mod record;
mod series;
mod staged;
mod undo;
mod upgrade;

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::model::{Alert, StoredObservation};

pub use codec::RecordError;
pub use due::Hold;
pub use identity::{Identity, Rename};
pub use log::{LogCounts, LogCursor, LogOrder, LogPage};
pub use outbox::{PendingPage, UnreadableDelivery};
pub use record::Refused;
pub use series::{BaselineSpan, EncodedSeries, PollRecord, ReleaseLogEntry, TableStamp};
pub use staged::Staged;

/// 4: the index of each series' newest observation (see `latest`); 3: the delivery log's
/// index (`log`) and its counts of settled entries (see `log`).
pub const SCHEMA_VERSION: u32 = 4;

/// Why a stored record does not decode.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Record(#[from] RecordError),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sled::Error,
    },
    /// sled lets one process open the store at a time: the daemon holds it while it runs.
    #[error("the store at {path} is in use by another statwatch process (the daemon?)")]
    Locked { path: String },
    #[error("the store at {path} has schema version {found}, newer than schema version {known} that this statwatch knows: it was written by a newer statwatch; use that one (nothing was changed)")]
    Newer {
        path: String,
        found: u32,
        known: u32,
    },
    #[error("the store at {path} has schema version {found:?}, which is not a version (this statwatch knows {known})")]
    Schema {
        path: String,
        found: String,
        known: u32,
    },
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store: corrupt record in {tree} at key {key:?}: {source}")]
    Corrupt {
        tree: &'static str,
        key: String,
        #[source]
        source: DecodeError,
    },
    /// A record that would not read back exactly (NaN or infinity, which JSON cannot hold,
    /// or a period out of range): refused before anything is written.
    #[error("store: refusing to write a record to {tree} at key {key:?} that could not be read back ({reason}); NaN and infinity cannot be stored")]
    Unreadable {
        tree: &'static str,
        key: String,
        reason: String,
    },
    /// The blocking pool could not run a store write (the runtime is shutting down).
    #[error("store: a blocking write did not complete: {0}")]
    Join(#[source] tokio::task::JoinError),
    /// A write failed on purpose at a fault point (`STATWATCH_FAULT`, see `fault`).
    #[error("store: the write failed at the fault point {point} (STATWATCH_FAULT)")]
    Fault { point: &'static str },
}

impl StoreError {
    /// Whether the store itself failed (I/O: a full disk, a broken file), as opposed to one
    /// record or one value being wrong. After such an error sled refuses further writes, so
    /// the daemon stops rather than carry on half-working.
    pub fn is_io(&self) -> bool {
        matches!(self, StoreError::Sled(_) | StoreError::Join(_))
    }
}

impl Store {
    /// Proves the store takes writes (a full disk fails here, not only at the next poll): the
    /// daemon does this before each heartbeat ping, so a dead-man service hears nothing from
    /// a daemon that could not record what it finds.
    pub fn probe_write(&self, now: chrono::DateTime<chrono::Utc>) -> Result<(), StoreError> {
        self.meta.insert("alive", now.to_rfc3339().as_bytes())?;
        self.db.flush()?;
        Ok(())
    }
}

/// Everything one poll writes, committed atomically.
#[derive(Debug, Default)]
pub struct PollWrite {
    /// New or changed observations, per series id.
    pub observations: Vec<(String, Vec<StoredObservation>)>,
    /// First syncs: each series' record as [`EncodedSeries::first_sync`] made it from the
    /// download, for a series the store holds no record of.
    pub encoded: Vec<(String, EncodedSeries)>,
    pub stamps: Vec<(String, String, TableStamp)>,
    pub releases: Vec<ReleaseLogEntry>,
    /// Each alert with the receivers it goes to.
    pub alerts: Vec<(Alert, Vec<String>)>,
    /// The source polled and the outcome; `success` sets its last successful poll time.
    pub poll: Option<(String, PollRecord)>,
    /// The identity of each series polled, indexed to its id (see `identity`); an entry
    /// already indexed so is not written again.
    pub identities: Vec<(Identity, String)>,
    /// Series whose records move to a new id, with this poll's updates merged in.
    pub renames: Vec<Rename>,
}

/// What a commit actually added (an alert already known is not enqueued again).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CommitSummary {
    pub new_alerts: Vec<String>,
    pub enqueued: usize,
}

#[derive(Clone)]
pub struct Store {
    path: String,
    db: sled::Db,
    meta: sled::Tree,
    series: sled::Tree,
    revisions: sled::Tree,
    /// Each series' newest observation, written with its series record (see `latest`).
    latest: sled::Tree,
    stamps: sled::Tree,
    releases: sled::Tree,
    polls: sled::Tree,
    alerts: sled::Tree,
    outbox: sled::Tree,
    due: sled::Tree,
    pending: sled::Tree,
    /// The delivery log's index: `stamp(created_at) receiver \0 alert id` (see `log`).
    log: sled::Tree,
    sent: sled::Tree,
    identities: sled::Tree,
    /// The commits whose records are written ahead but not yet committed (see `inflight`).
    inflight: inflight::Registry,
    /// A commit's turn, held from its plan until it has landed (see `ahead`): a commit reads
    /// which alerts and entries are new outside a transaction, and its undo log must not
    /// interleave with another's.
    committing: std::sync::Arc<std::sync::Mutex<()>>,
}

/// The trees a poll writes ahead of its transaction (see `ahead`), and their ids in an undo
/// log; readers of these trees read what is committed (see `inflight`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Tree {
    Series = 1,
    Revisions = 2,
    Releases = 3,
    Identities = 4,
    Alerts = 5,
    Outbox = 6,
    Latest = 7,
}

/// A release log row: its sequence key and JSON value.
pub(super) type LogRow = ([u8; 8], Vec<u8>);

fn key2(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

/// A key as text for errors and logs (keys join their parts with NUL, shown as `/`).
fn show_key(key: &[u8]) -> String {
    String::from_utf8_lossy(key).replace('\0', "/")
}

/// Encodes a JSON record and proves it decodes again, so nothing unreadable is ever stored.
/// Decoding a few hundred small records per poll costs microseconds; a record that breaks
/// every later read of its tree costs a delivery outage.
fn enc<T: Serialize + DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    v: &T,
) -> Result<Vec<u8>, StoreError> {
    let unreadable = |e: serde_json::Error| StoreError::Unreadable {
        tree,
        key: show_key(key),
        reason: e.to_string(),
    };
    let bytes = serde_json::to_vec(v).map_err(unreadable)?;
    serde_json::from_slice::<T>(&bytes).map_err(unreadable)?;
    Ok(bytes)
}

fn dec<T: DeserializeOwned>(tree: &'static str, key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        tree,
        key: show_key(key),
        source: e.into(),
    })
}

/// Turns a transaction's outcome into the store's error.
fn settled<T>(r: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    match r {
        Ok(v) => Ok(v),
        Err(TransactionError::Storage(e)) => Err(e.into()),
        Err(TransactionError::Abort(e)) => Err(e),
    }
}

/// How long [`Store::open`] waits for a lock that is being let go.
const LOCK_RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn open_db(dir: &Path, path: &str) -> Result<sled::Db, StoreError> {
    let deadline = std::time::Instant::now() + LOCK_RELEASE_WAIT;
    loop {
        // sled caches up to 1 GB by default; statwatch's working set is a few series.
        let opened = sled::Config::new()
            .path(dir)
            .cache_capacity(32 * 1024 * 1024)
            .open();
        match opened {
            Err(sled::Error::Io(ref e)) if e.to_string().contains("could not acquire lock") => {
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::Locked { path: path.into() });
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(source) => {
                return Err(StoreError::Open {
                    path: path.into(),
                    source,
                })
            }
            Ok(db) => return Ok(db),
        }
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`, upgrading a store of an earlier schema in
    /// place and refusing one of a newer schema (before anything is written).
    ///
    /// sled's background threads let go of the directory's lock a moment after the last
    /// handle is dropped, so a lock held by this process is waited for briefly; one held by
    /// another process is [`StoreError::Locked`] after that wait.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.display().to_string();
        let db = open_db(dir, &path)?;
        let tree = |name: &str| db.open_tree(name);
        let store = Store {
            meta: tree("meta")?,
            series: tree("series")?,
            revisions: tree("revisions")?,
            latest: tree("latest")?,
            stamps: tree("stamps")?,
            releases: tree("releases")?,
            polls: tree("polls")?,
            alerts: tree("alerts")?,
            outbox: tree("outbox")?,
            due: tree("due")?,
            pending: tree("pending")?,
            log: tree("log")?,
            sent: tree("sent")?,
            identities: tree("identities")?,
            inflight: Default::default(),
            committing: Default::default(),
            db,
            path,
        };
        match store.schema()? {
            None => {
                store
                    .meta
                    .insert("schema_version", SCHEMA_VERSION.to_string().as_bytes())?;
            }
            Some(v) if v == SCHEMA_VERSION => {}
            Some(v) if v < SCHEMA_VERSION => store.upgrade(v)?,
            Some(v) => {
                return Err(StoreError::Newer {
                    path: store.path,
                    found: v,
                    known: SCHEMA_VERSION,
                })
            }
        }
        store.undo_interrupted()?;
        store.index_interrupted()?;
        Ok(store)
    }

    /// The schema version on disk; `None` for a new store.
    fn schema(&self) -> Result<Option<u32>, StoreError> {
        let Some(v) = self.meta.get("schema_version")? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&v).into_owned();
        match text.trim().parse() {
            Ok(n) => Ok(Some(n)),
            Err(_) => Err(StoreError::Schema {
                path: self.path.clone(),
                found: text,
                known: SCHEMA_VERSION,
            }),
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// [`Store::commit`] on tokio's blocking pool: the transaction of a first sync and the
    /// flush to disk take long enough to stall an async worker. The write is handed back (a
    /// poll's alerts are reported after the commit, and a flood's are not copied for it).
    pub async fn commit_async(
        &self,
        w: PollWrite,
    ) -> Result<(CommitSummary, PollWrite), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.commit(&w).map(|s| (s, w)))
            .await
            .map_err(StoreError::Join)?
    }

    /// Writes one poll's results as one unit (records ahead, then one transaction; see the
    /// module doc) and flushes them to disk. Every record is checked (and the JSON ones
    /// encoded) before anything is written, so a refused value leaves the store exactly as it
    /// was. An error after the transaction (indexing the new entries) leaves the poll
    /// committed and its entries queued: the next open indexes them.
    pub fn commit(&self, w: &PollWrite) -> Result<CommitSummary, StoreError> {
        // The steps and why they cannot run out of order: see `ahead`.
        let ahead = self.plan_commit(w)?.write_ahead()?;
        if ahead.wrote_ahead() {
            crate::fault::hold(crate::fault::HOLD_AFTER_WRITE_AHEAD);
            crate::fault::point(crate::fault::AFTER_WRITE_AHEAD);
            #[cfg(test)]
            tests::after_write_ahead();
        }
        // Everything else went ahead (see `ahead`); the new entries are queued (see `queue`).
        let rows = ahead.rows();
        let result =
            (&self.stamps, &self.polls, &self.meta).transaction(|(stamps, polls, meta)| {
                for (k, v) in &rows.stamps {
                    stamps.insert(k.as_slice(), v.as_slice())?;
                }
                let undo_deleted = ahead.in_transaction(meta)?;
                if let Some((k, v)) = &rows.poll {
                    polls.insert(k.as_slice(), v.as_slice())?;
                }
                if crate::fault::fails(crate::fault::FAIL_POLL_TRANSACTION) {
                    let e = StoreError::Fault {
                        point: crate::fault::FAIL_POLL_TRANSACTION,
                    };
                    return Err(ConflictableTransactionError::Abort(e));
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(undo_deleted)
            });
        let landed = ahead.settle(settled(result))?;
        if landed.queued().next().is_some() {
            // The poll is on disk before any of its entries can be sent.
            self.db.flush()?;
            crate::fault::point(crate::fault::AFTER_POLL_TRANSACTION);
            #[cfg(test)]
            if tests::STOP_BEFORE_INDEX.with(|f| f.replace(false)) {
                return Ok(landed.summary());
            }
            self.index_queued(landed.queued())?;
        }
        self.db.flush()?;
        Ok(landed.summary())
    }
}

#[cfg(test)]
mod tests;
