//! Getting a table's file from GENESIS: `data/tablefile` as ffcsv and, for a table too big
//! for the dialog (status 98), the job flow: `job=true` (status 99 names the result), wait
//! for it in `catalogue/results` (with `crate::retry`'s policy), then `data/resultfile`.

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
         starts a new job"
    )]
    NotReady {
        name: String,
        tries: u32,
        delay: Duration,
    },
}

impl From<JobError> for FetchError {
    fn from(e: JobError) -> FetchError {
        match e {
            JobError::NoResultName { .. } => FetchError::Schema(e.to_string()),
            JobError::NotReady { .. } => FetchError::Api(e.to_string()),
        }
    }
}

/// What asking for a job gave.
enum Job {
    /// The service sent the file straight away after all.
    Done(String),
    /// The job's result name.
    Created(String),
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

impl Destatis {
    fn tablefile_form(&self, table: &str, job: bool) -> Vec<(&'static str, String)> {
        let start = chrono::Utc::now().year() - self.history_years as i32;
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

    pub(super) async fn download(&self, table: &str) -> Result<String, FetchError> {
        let reply = self
            .post("data/tablefile", &self.tablefile_form(table, false))
            .await?;
        match self.read(&reply.body)? {
            Answer::Csv(text) => Ok(text),
            Answer::Envelope(env) if env.status.code() == Some(Code::TooBig) => {
                info!(
                    table,
                    "GENESIS table too big for the dialog, starting a job"
                );
                self.run_job(table).await
            }
            Answer::Envelope(_) => self.csv_or_error("data/tablefile", &reply.body),
        }
    }

    /// The job flow: create, wait for the result, download it.
    async fn run_job(&self, table: &str) -> Result<String, FetchError> {
        let name = match self.create_job(table).await? {
            Job::Done(text) => return Ok(text),
            Job::Created(name) => name,
        };
        info!(table, result = %name, "GENESIS job created");
        self.wait_for_result(table, &name).await?;
        let reply = self
            .post(
                "data/resultfile",
                &[
                    ("name", name.clone()),
                    ("area", "all".into()),
                    ("format", "ffcsv".into()),
                    ("compress", "false".into()),
                    ("language", self.language.clone()),
                ],
            )
            .await?;
        self.csv_or_error("data/resultfile", &reply.body)
    }

    /// Asks for the table as a job (status 99 names its result).
    async fn create_job(&self, table: &str) -> Result<Job, FetchError> {
        let reply = self
            .post("data/tablefile", &self.tablefile_form(table, true))
            .await?;
        let env = match self.read(&reply.body)? {
            Answer::Csv(text) => return Ok(Job::Done(text)),
            Answer::Envelope(env) => env,
        };
        if env.status.code() != Some(Code::JobCreated) {
            return Err(self.scrubbed(status_error(&env.status)));
        }
        let content = env.status.content();
        match job_result_name(table, &content) {
            Some(name) => Ok(Job::Created(name)),
            None => Err(JobError::NoResultName { content }.into()),
        }
    }

    /// Polls `catalogue/results` until the job's result is listed, pausing before each poll.
    async fn wait_for_result(&self, table: &str, name: &str) -> Result<(), FetchError> {
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
                return Ok(());
            }
            debug!(table, result = %name, attempt, "GENESIS job not ready yet");
        }
        Err(JobError::NotReady {
            name: name.to_string(),
            tries: self.job.tries,
            delay: self.job.policy.base,
        }
        .into())
    }
}
