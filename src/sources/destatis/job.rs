//! Getting a table's file from GENESIS: `data/tablefile` as ffcsv and, for a table too big
//! for the dialog (status 98), the job flow: `job=true` (status 99 names the result), wait
//! for it in `catalogue/results` (with `crate::retry`'s policy), then `data/resultfile`.
//!
//! A job started for a release is remembered ([`JobBook`]): the next poll of the same
//! release (its change stamp and start year) waits for and fetches that job's result instead
//! of leaving one more job behind on the server. A token's refusal is remembered the same
//! way, so a release that needs a job is not asked for again with credentials that cannot
//! run one. The book lives in memory: a restart or reload forgets it (at most one more job).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::Datelike;
use serde_json::Value;
use tracing::{debug, info};

use super::answer::{read_answer_within, Answer};
use super::envelope::{status_error, Code};
use super::Destatis;
use crate::retry::{self, Policy};
use crate::sources::FetchError;

/// How a result of the job flow is waited for: `tries` polls of `catalogue/results`, each
/// after a pause of `policy` (a fixed interval unless a caller chooses otherwise).
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobPoll {
    pub(crate) policy: Policy,
    pub(crate) tries: u32,
}

impl JobPoll {
    /// `tries` polls (at least one) `delay` apart.
    pub(crate) fn fixed(delay: Duration, tries: u32) -> JobPoll {
        JobPoll {
            policy: Policy::fixed(delay),
            tries: tries.max(1),
        }
    }
}

/// Why the job flow gave up.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum JobError {
    #[error("GENESIS created a job but its message names no result: {content:?}")]
    NoResultName { content: String },
    #[error(
        "GENESIS job {name} was not ready after {tries} polls {delay:?} apart; the next poll \
         of this release waits for the same job{}",
        if *.token { TOKEN_NOT_READY } else { "" }
    )]
    NotReady {
        name: String,
        tries: u32,
        delay: Duration,
        /// The source uses an API token, whose jobs GENESIS may never finish.
        token: bool,
    },
    #[error(
        "GENESIS named the job's result {name:?}, which is not a result of table {table}: \
         not fetched"
    )]
    OtherTable { table: String, name: String },
    #[error(
        "table {table} is too big for the GENESIS dialog and needs a background job, which \
         GENESIS refused to this source's API token ({refusal}). Give the source a GENESIS \
         user account (username and password) instead of the token, or make the download \
         smaller (fewer years: history_years = {history_years} now)"
    )]
    TokenCannotRunJob {
        table: String,
        refusal: String,
        history_years: u32,
    },
}

impl From<JobError> for FetchError {
    fn from(e: JobError) -> FetchError {
        match e {
            JobError::NoResultName { .. } | JobError::OtherTable { .. } => {
                FetchError::Schema(e.to_string())
            }
            JobError::NotReady { .. } | JobError::TokenCannotRunJob { .. } => {
                FetchError::Api(e.to_string())
            }
        }
    }
}

/// What a job not ready adds for a token.
const TOKEN_NOT_READY: &str = " (this source uses an API token, which GENESIS may not let run \
    jobs: if this repeats, give the source a GENESIS user account, username and password)";

/// What was done about a release that needs a job.
#[derive(Debug, Clone)]
enum Started {
    /// A job was created; its result name.
    Job(String),
    /// The token was refused a job (the error given).
    Refused(JobError),
}

/// Per table: the release its last check saw, and the job started (or refused) for a release.
#[derive(Debug, Default)]
struct Page {
    release: Option<String>,
    job: Option<(String, Started)>,
}

/// The jobs this source started, by table, so that no release starts two.
#[derive(Debug, Default)]
pub(crate) struct JobBook {
    tables: Mutex<HashMap<String, Page>>,
}

impl JobBook {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Page>) -> T) -> T {
        // A panic while holding the lock leaves nothing half-written: a plain map of strings.
        f(&mut self.tables.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The table's check saw this release (its change stamp).
    pub(crate) fn saw(&self, table: &str, stamp: &str) {
        self.with(|t| t.entry(table.to_string()).or_default().release = Some(stamp.to_string()));
    }

    /// The release key of the next download, if a check saw the table: its stamp and the
    /// start year asked for (the same stamp in a new year is another download).
    fn release(&self, table: &str, start_year: &str) -> Option<String> {
        self.with(|t| {
            t.get(table)
                .and_then(|p| p.release.as_ref())
                .map(|r| format!("{r}; startyear {start_year}"))
        })
    }

    /// What was started for this release of the table, if anything.
    fn started(&self, table: &str, release: &str) -> Option<Started> {
        self.with(|t| match t.get(table).and_then(|p| p.job.as_ref()) {
            Some((r, s)) if r == release => Some(s.clone()),
            _ => None,
        })
    }

    fn remember(&self, table: &str, release: &str, started: Started) {
        self.with(|t| {
            t.entry(table.to_string()).or_default().job = Some((release.to_string(), started))
        });
    }

    /// Forgets the table's job: its result is gone, broken or not the table's.
    pub(crate) fn forget(&self, table: &str) {
        self.with(|t| {
            if let Some(p) = t.get_mut(table) {
                p.job = None;
            }
        });
    }
}

/// What asking for a job gave.
enum Job {
    /// The service sent the file straight away after all.
    Done(String),
    /// The job's result name.
    Created(String),
}

/// A table's file and where it came from (`data/tablefile`, or `data/resultfile` and the
/// result's name), for messages about its content.
pub(crate) struct Downloaded {
    pub(crate) text: String,
    pub(crate) from: String,
}

/// A result name is `<table>_<number>`; one whose table part is another table's is refused
/// (a name without a table part is taken: the fallback of `job_result_name`).
fn check_result_table(table: &str, name: &str) -> Result<(), JobError> {
    let part = name.split_once('_').map_or("", |(t, _)| t);
    let looks_like_table =
        part.contains('-') && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if looks_like_table && part != table.trim() {
        return Err(JobError::OtherTable {
            table: table.trim().to_string(),
            name: name.to_string(),
        });
    }
    Ok(())
}

/// The result name in a status-99 message ("... mit folgendem Namen abgerufen werden:
/// 12531-0043_175879554").
pub(crate) fn job_result_name(table: &str, content: &str) -> Option<String> {
    let words = || {
        content
            .split(|c: char| c.is_whitespace() || c == ',' || c == '"' || c == '\'')
            .map(|w| w.trim_end_matches('.').trim_end_matches(':'))
    };
    let prefix = format!("{}_", table.trim());
    words()
        .find(|w| w.starts_with(&prefix) && w.len() > prefix.len())
        .or_else(|| words().rfind(|w| w.contains('_')))
        .map(str::to_string)
}

/// Why no job was created: refused to a token (remembered for the release), or any other
/// failure (tried again at the next poll).
enum JobRefusal {
    Token(JobError),
    Other(FetchError),
}

impl From<FetchError> for JobRefusal {
    fn from(e: FetchError) -> JobRefusal {
        JobRefusal::Other(e)
    }
}

impl Destatis {
    /// The first year asked for (`startyear`).
    fn start_year(&self) -> i32 {
        chrono::Utc::now().year() - self.history_years as i32
    }

    fn tablefile_form(&self, table: &str, job: bool) -> Vec<(&'static str, String)> {
        let start = self.start_year();
        vec![
            ("name", table.to_string()),
            ("area", "all".into()),
            ("format", "ffcsv".into()),
            ("compress", "false".into()),
            ("job", job.to_string()),
            ("language", self.language.clone()),
            ("startyear", start.to_string()),
            ("quality", "on".into()),
        ]
    }

    /// The CSV text of a data answer; an envelope is an error (its status).
    /// `read_answer` under this source's byte cap.
    fn read(&self, body: &[u8]) -> Result<Answer, FetchError> {
        Ok(read_answer_within(body, self.http.max_body())?)
    }

    fn csv_or_error(&self, what: &str, body: &[u8]) -> Result<String, FetchError> {
        match self.read(body)? {
            Answer::Csv(text) => Ok(text),
            Answer::Envelope(env) => Err(match env.status.code() {
                Some(Code::Ok | Code::Adjusted) => FetchError::Schema(format!(
                    "{what}: GENESIS answered {:?} but sent no file",
                    env.status.content()
                )),
                _ => self.scrubbed(status_error(&env.status)),
            }),
        }
    }

    pub(super) async fn download(&self, table: &str) -> Result<Downloaded, FetchError> {
        let tablefile = |text| Downloaded {
            text,
            from: "data/tablefile".into(),
        };
        let reply = self
            .post("data/tablefile", &self.tablefile_form(table, false))
            .await?;
        match self.read(&reply.body)? {
            Answer::Csv(text) => Ok(tablefile(text)),
            Answer::Envelope(env) if env.status.code() == Some(Code::TooBig) => {
                info!(table, "GENESIS table too big for the dialog, using a job");
                self.run_job(table).await
            }
            // The table itself is gone (or, with 104, nothing of it is left): counted by the
            // pipeline, which calls it discontinued after a few polls in a row.
            Answer::Envelope(env)
                if matches!(env.status.code(), Some(Code::NotFound | Code::NoMatch)) =>
            {
                Err(match self.scrubbed(status_error(&env.status)) {
                    FetchError::Api(m) => FetchError::Missing(m),
                    other => other,
                })
            }
            Answer::Envelope(_) => self
                .csv_or_error("data/tablefile", &reply.body)
                .map(tablefile),
        }
    }

    /// The job flow: create (or take the one this release started), wait for the result,
    /// download it.
    async fn run_job(&self, table: &str) -> Result<Downloaded, FetchError> {
        let start_year = self.start_year().to_string();
        let release = self.jobs.release(table, &start_year);
        let started = release.as_deref().and_then(|r| self.jobs.started(table, r));
        let name = match started {
            Some(Started::Refused(e)) => return Err(e.into()),
            Some(Started::Job(name)) => {
                info!(table, result = %name, "GENESIS job of this release already started; fetching its result");
                name
            }
            None => match self.create_job(table).await {
                Ok(Job::Done(text)) => {
                    return Ok(Downloaded {
                        text,
                        from: "data/tablefile (job=true)".into(),
                    })
                }
                Ok(Job::Created(name)) => {
                    info!(table, result = %name, "GENESIS job created");
                    if let Some(r) = &release {
                        self.jobs.remember(table, r, Started::Job(name.clone()));
                    }
                    name
                }
                Err(JobRefusal::Token(e)) => {
                    if let Some(r) = &release {
                        self.jobs.remember(table, r, Started::Refused(e.clone()));
                    }
                    return Err(e.into());
                }
                Err(JobRefusal::Other(e)) => return Err(e),
            },
        };
        // A job not ready yet, or one a network failure kept from us, stays remembered; one
        // the service answered an error for is gone or broken: the next poll starts a new job.
        let result = match self.wait_for_result(table, &name).await {
            Ok(true) => self.fetch_result(&name).await,
            Ok(false) => {
                return Err(JobError::NotReady {
                    name,
                    tries: self.job.tries,
                    delay: self.job.policy.base,
                    token: self.token,
                }
                .into())
            }
            Err(e) => Err(e),
        };
        if matches!(result, Err(FetchError::Api(_))) {
            self.jobs.forget(table);
        }
        result
    }

    /// Downloads a ready job's result.
    async fn fetch_result(&self, name: &str) -> Result<Downloaded, FetchError> {
        let reply = self
            .post(
                "data/resultfile",
                &[
                    ("name", name.to_string()),
                    ("area", "all".into()),
                    ("format", "ffcsv".into()),
                    ("compress", "false".into()),
                    ("language", self.language.clone()),
                ],
            )
            .await?;
        Ok(Downloaded {
            text: self.csv_or_error("data/resultfile", &reply.body)?,
            from: format!("data/resultfile {name}"),
        })
    }

    /// Asks for the table as a job (status 99 names its result). Any other status, to a
    /// token, is the token's refusal.
    async fn create_job(&self, table: &str) -> Result<Job, JobRefusal> {
        let reply = self
            .post("data/tablefile", &self.tablefile_form(table, true))
            .await?;
        let env = match self.read(&reply.body)? {
            Answer::Csv(text) => return Ok(Job::Done(text)),
            Answer::Envelope(env) => env,
        };
        if env.status.code() != Some(Code::JobCreated) {
            let refusal = self.scrubbed(status_error(&env.status));
            if !self.token {
                return Err(refusal.into());
            }
            let refusal = match refusal {
                FetchError::Api(m) => m,
                other => other.to_string(),
            };
            return Err(JobRefusal::Token(JobError::TokenCannotRunJob {
                table: table.trim().to_string(),
                refusal,
                history_years: self.history_years,
            }));
        }
        let content = env.status.content();
        let name = job_result_name(table, &content)
            .ok_or_else(|| FetchError::from(JobError::NoResultName { content }))?;
        check_result_table(table, &name).map_err(FetchError::from)?;
        Ok(Job::Created(name))
    }

    /// Polls `catalogue/results` until the job's result is listed, pausing before each poll;
    /// `false` when it was not listed within the configured polls.
    async fn wait_for_result(&self, table: &str, name: &str) -> Result<bool, FetchError> {
        for attempt in 1..=self.job.tries {
            let pause = retry::delay(attempt, &self.job.policy, &mut rand::thread_rng());
            tokio::time::sleep(pause).await;
            let list = self
                .catalogue(
                    "catalogue/results",
                    &[
                        ("selection", name.to_string()),
                        ("area", "all".into()),
                        ("pagelength", "10".into()),
                        ("language", self.language.clone()),
                    ],
                )
                .await?;
            let listed = list.is_some_and(|l| {
                l.iter()
                    .any(|r| r.get("Code").and_then(Value::as_str) == Some(name))
            });
            if listed {
                return Ok(true);
            }
            debug!(table, result = %name, attempt, "GENESIS job not ready yet");
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::destatis::answer::{read_answer, Answer};

    #[test]
    fn a_created_job_names_its_result() {
        let bytes = include_bytes!(
            "../../../tests/fixtures/destatis/data_tablefile_12531-0043_job-true_status99_job-created.json"
        );
        let Answer::Envelope(e) = read_answer(bytes).unwrap() else {
            panic!("an envelope");
        };
        assert_eq!(
            job_result_name("12531-0043", &e.status.content()).as_deref(),
            Some("12531-0043_175879554")
        );
    }

    #[test]
    fn a_result_of_another_table_is_refused() {
        assert!(check_result_table("12531-0043", "12531-0043_175879554").is_ok());
        // No table part: the name is taken as GENESIS gave it.
        assert!(check_result_table("12531-0043", "ergebnis_17").is_ok());
        let e = check_result_table("42153-0001", "61111-0021_175879554").unwrap_err();
        assert_eq!(
            e.to_string(),
            "GENESIS named the job's result \"61111-0021_175879554\", which is not a result \
             of table 42153-0001: not fetched"
        );
    }
}
