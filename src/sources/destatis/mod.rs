//! Destatis GENESIS-Online web service, REST "2020" (POST only).
//!
//! Every call is a form POST to `{base_url}/{service}/{method}` with the credentials in the
//! `username`/`password` headers (a token goes in `username`, the password stays empty).
//! The service answers HTTP 200 even on errors, with a JSON envelope
//! `Ident/Status{Code,Content,Type}/Parameter/Object|List`; data calls answer with a zip
//! instead when they succeed.
//!
//! Cheap check: `catalogue/cubes` for the table's statistic (`42153*`), whose newest
//! `LatestUpdate` moves whenever any cube behind the table is reloaded (a sibling cube moving
//! only costs a needless download; it can never hide a release). When the cube list is
//! empty, `catalogue/modifieddata` (day resolution) is the fallback.
//!
//! Data: `data/tablefile` as `ffcsv` (a zip holding one `;`-separated CSV in long form, one
//! row per cell). A table too big for the dialog (status 98) goes through the job flow:
//! `job=true` (status 99 names the result), poll `catalogue/results`, then `data/resultfile`.
//! A release starts at most one job (job.rs remembers it), and a file of another statistic
//! than the table's is refused whole.

mod answer;
mod envelope;
mod ffcsv;
mod find;
mod job;
mod labels;
mod select;
mod stamp;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Datelike;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::sync::Semaphore;
use tracing::{debug, warn};
use url::Url;

use super::drift::{Stopped, CANDIDATES};
use super::http::{snippet, Expect, Http, HttpError, Reply};
use super::{expand_groups, Check, FetchError, TableData};
use crate::config::group::Choice;
use crate::config::{SeriesConfig, SourceConfig};
use envelope::{status_error, Code, Envelope, EnvelopeError};
use ffcsv::{parse_ffcsv_within, FfcsvError};
use job::{Downloaded, JobBook, JobPoll};
use select::{choices, select};
use stamp::{cubes_stamp, modified_stamp, statistic_code};

/// GENESIS allows 3 parallel requests per user; 2 leaves room for a person using the same
/// account in a browser or script.
pub(crate) const MAX_IN_FLIGHT: usize = 2;
/// Largest page the catalogue services hand out.
const PAGE_LENGTH: &str = "2500";

pub struct Destatis {
    http: Http,
    // Boxed so the `Source` enum stays small (clippy::large_enum_variant).
    base: Box<Url>,
    /// `username` and `password`, marked sensitive so they never show in debug output.
    credentials: Box<HeaderMap>,
    /// The raw secrets, only to scrub them from server messages before they reach an error.
    scrub: Vec<String>,
    language: String,
    history_years: u32,
    /// `username` is an API token (the password is empty): GENESIS may refuse it jobs.
    token: bool,
    permits: Semaphore,
    job: JobPoll,
    jobs: JobBook,
    max_rows: usize,
    pub(crate) deadline: Duration,
}

/// A catalogue endpoint this server does not offer (HTTP 404) gives no change signal; any
/// other failure is the poll's failure.
fn not_offered<T>(e: FetchError) -> Result<Option<T>, FetchError> {
    if e.is_not_found() {
        warn!(error = %e, "GENESIS catalogue endpoint not offered; trying the next change signal");
        Ok(None)
    } else {
        Err(e)
    }
}

impl Destatis {
    pub fn new(cfg: &SourceConfig) -> Result<Destatis, HttpError> {
        let mut credentials = HeaderMap::new();
        let mut scrub = Vec::new();
        for (name, secret) in [
            ("username", cfg.username.as_ref()),
            ("password", cfg.password.as_ref()),
        ] {
            let raw = secret.map(|s| s.expose()).unwrap_or("");
            let mut value = HeaderValue::from_str(raw).map_err(|_| {
                HttpError::Other(format!(
                    "the GENESIS {name} has characters that cannot go in an HTTP header"
                ))
            })?;
            value.set_sensitive(true);
            credentials.insert(HeaderName::from_static(name), value);
            // Short values would scrub ordinary words from messages; a real token is long.
            if raw.len() >= 4 {
                scrub.push(raw.to_string());
            }
        }
        Ok(Destatis {
            http: Http::new(
                cfg.timeout,
                &cfg.base_url,
                cfg.max_response_bytes,
                envelope::error_message,
            )?,
            base: Box::new(cfg.base_url.clone()),
            credentials: Box::new(credentials),
            scrub,
            language: cfg.language.clone(),
            history_years: cfg.history_years,
            token: cfg.password.as_ref().is_none_or(|p| p.expose().is_empty()),
            permits: Semaphore::new(MAX_IN_FLIGHT),
            job: JobPoll::fixed(Duration::from_secs(5), 120),
            jobs: JobBook::default(),
            max_rows: cfg.max_rows_per_table,
            deadline: cfg.table_deadline,
        })
    }

    /// Sets the HTTP layer's first retry delay. Tests shorten it.
    pub fn with_backoff(mut self, backoff: Duration) -> Destatis {
        self.http = self.http.with_backoff(backoff);
        self
    }

    /// Sets how often (`tries`) and how far apart (`delay`) a background job's result is
    /// polled. The default, 120 polls 5 s apart, waits up to 10 minutes.
    pub fn with_job_poll(mut self, delay: Duration, tries: u32) -> Destatis {
        self.job = JobPoll::fixed(delay, tries);
        self
    }

    fn url(&self, service: &str, method: &str) -> Url {
        let mut url = (*self.base).clone();
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty();
            segs.extend([service, method]);
        }
        url
    }

    fn scrubbed(&self, e: FetchError) -> FetchError {
        match e {
            FetchError::Api(mut m) => {
                for s in &self.scrub {
                    m = m.replace(s.as_str(), "***");
                }
                FetchError::Api(m)
            }
            other => other,
        }
    }

    /// One POST, within the source's request budget.
    async fn post(&self, endpoint: &str, form: &[(&str, String)]) -> Result<Reply, FetchError> {
        let url = match endpoint.split_once('/') {
            Some((service, method)) => self.url(service, method),
            None => self.url(endpoint, ""),
        };
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| FetchError::Api("the request limiter was closed".into()))?;
        debug!(endpoint, "GENESIS request");
        self.http
            .post_form(
                &url,
                (*self.credentials).clone(),
                form,
                Expect::JsonOrBinary,
            )
            .await
            .map_err(FetchError::http(format!("POST {endpoint}")))
    }

    /// A catalogue call: the envelope, with 0 and 22 accepted and 104 as `None`.
    async fn catalogue(
        &self,
        endpoint: &str,
        form: &[(&str, String)],
    ) -> Result<Option<Vec<Value>>, FetchError> {
        let reply = self.post(endpoint, form).await?;
        let env: Envelope =
            serde_json::from_slice(&reply.body).map_err(|e| EnvelopeError::NotAnEnvelope {
                endpoint: endpoint.to_string(),
                reason: e.to_string(),
                snippet: snippet(&reply.body),
            })?;
        match env.status.code() {
            Some(Code::Ok) => Ok(Some(env.list.unwrap_or_default())),
            Some(Code::Adjusted) => {
                debug!(endpoint, message = %env.status.content(), "GENESIS adjusted parameters");
                Ok(Some(env.list.unwrap_or_default()))
            }
            Some(Code::NoMatch) => Ok(None),
            _ => Err(self.scrubbed(status_error(&env.status))),
        }
    }

    /// An account is required since 2024; asking without one only earns an error envelope.
    fn need_credentials(&self) -> Result<(), FetchError> {
        if self
            .credentials
            .get("username")
            .is_none_or(|u| u.is_empty())
        {
            return Err(FetchError::Api(
                "no GENESIS credentials: set username (an API token, with password = \"\") or \
                 username_file in the source's config"
                    .into(),
            ));
        }
        Ok(())
    }

    pub async fn check(&self, table: &str, known: Option<&str>) -> Result<Check, FetchError> {
        self.need_credentials()?;
        let stat = statistic_code(table)?;
        let lang = self.language.clone();
        let cubes = self
            .catalogue(
                "catalogue/cubes",
                &[
                    ("selection", format!("{stat}*")),
                    ("area", "all".into()),
                    ("pagelength", PAGE_LENGTH.into()),
                    ("language", lang.clone()),
                ],
            )
            .await
            .or_else(not_offered)?;
        let mut stamp = cubes.as_deref().and_then(cubes_stamp);
        if stamp.is_none() {
            let since = chrono::Utc::now().year() - 1;
            let modified = self
                .catalogue(
                    "catalogue/modifieddata",
                    &[
                        ("selection", stat.to_string()),
                        ("type", "all".into()),
                        ("date", format!("01.01.{since}")),
                        ("pagelength", PAGE_LENGTH.into()),
                        ("language", lang),
                    ],
                )
                .await
                .or_else(not_offered)?;
            stamp = modified.as_deref().and_then(modified_stamp);
        }
        let Some(stamp) = stamp else {
            // No signal at all: download every time rather than risk missing a release.
            warn!(
                table,
                "GENESIS lists no cube update and no modification for this statistic; \
                 downloading the table on every poll"
            );
            let stamp = format!("unknown {}", chrono::Utc::now().to_rfc3339());
            self.jobs.saw(table, &stamp);
            return Ok(Check::Changed { stamp });
        };
        debug!(table, %stamp, "GENESIS change stamp");
        self.jobs.saw(table, &stamp);
        if known == Some(stamp.as_str()) {
            Ok(Check::Unchanged)
        } else {
            Ok(Check::Changed { stamp })
        }
    }

    /// A table GENESIS calls missing: no answer names a successor, so the candidates are
    /// the other tables of its statistic (the code's first five characters).
    pub async fn stopped(&self, table: &str, why: &str) -> Result<Stopped, FetchError> {
        let stat: String = table.trim().chars().take(5).collect();
        let list = self
            .catalogue(
                "catalogue/tables",
                &[
                    ("selection", format!("{stat}*")),
                    ("area", "all".into()),
                    ("pagelength", PAGE_LENGTH.into()),
                    ("language", self.language.clone()),
                ],
            )
            .await?
            .unwrap_or_default();
        let candidates = list
            .iter()
            .filter_map(|t| {
                let key = t.get("Code")?.as_str()?.trim().to_string();
                let title = t.get("Content").and_then(|c| c.as_str()).unwrap_or("");
                let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
                (key != table.trim()).then_some(Choice { key, title })
            })
            .take(CANDIDATES)
            .collect();
        Ok(Stopped {
            why: why.to_string(),
            candidates,
            ..Stopped::default()
        })
    }

    pub async fn fetch(
        &self,
        table: &str,
        series: &[SeriesConfig],
    ) -> Result<TableData, FetchError> {
        let Downloaded { text, from } = self.download(table).await?;
        let stat = statistic_code(table)?;
        let cells = parse_ffcsv_within(&text, self.language == "de", self.max_rows, Some(stat))
            .map_err(|e| match e {
                FfcsvError::OtherStatistic { .. } => {
                    // A job's result of another statistic is not this release's: the next
                    // poll asks anew.
                    self.jobs.forget(table);
                    FetchError::Schema(format!("{from} for table {table}: {e}"))
                }
                e => e.into(),
            })?;
        let labels = if series.iter().any(|s| s.group.is_some()) {
            labels::read_labels(&text)?
        } else {
            labels::Labels::new()
        };
        drop(text);
        debug!(table, cells = cells.len(), "GENESIS tablefile parsed");
        let mut broken = Vec::new();
        let series = expand_groups(series, &mut broken, |s, name| {
            Ok(choices(&cells, s, name, &labels))
        })?;
        let mut data = select(&cells, &series)?;
        data.broken = broken;
        // The units of each watched measure, as its cells give them (`2021=100`; one code
        // can carry an index and a % change, told apart by unit): a new base year shows as
        // a new set. One pass over the cells, whatever the number of series.
        let mut units: BTreeMap<&str, BTreeSet<&str>> = series
            .iter()
            .map(|s| (s.measure.as_str(), BTreeSet::new()))
            .collect();
        for c in &cells {
            if let Some(u) = units.get_mut(c.measure.as_str()) {
                u.insert(c.unit.trim());
            }
        }
        data.units = units
            .into_iter()
            .filter(|(_, u)| !u.is_empty())
            .map(|(m, u)| (m.to_string(), u.into_iter().collect::<Vec<_>>().join(", ")))
            .collect();
        data.expanded = series
            .into_iter()
            .filter(|s| s.template.is_none() || data.series.contains_key(&s.id))
            .collect();
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_in_sensitive_headers_only() {
        let cfg = crate::config::Config::parse(
            std::path::Path::new("t.toml"),
            "state_dir = \"/x\"\n[sources.d]\nkind = \"destatis\"\n\
             base_url = \"http://127.0.0.1:9/genesisWS/rest/2020/\"\n\
             schedule = \"0 0 8 * * Mon-Fri\"\nusername = \"secret-token-123\"\npassword = \"\"\n",
        )
        .unwrap();
        let d = Destatis::new(&cfg.sources["d"]).unwrap();
        assert!(d.credentials["username"].is_sensitive());
        assert!(d.credentials["password"].is_sensitive());
        assert_eq!(d.credentials["password"], "");
        // The base path is kept, a trailing slash or not.
        assert_eq!(
            d.url("catalogue", "cubes").as_str(),
            "http://127.0.0.1:9/genesisWS/rest/2020/catalogue/cubes"
        );
        assert!(!format!("{:?}", d.credentials).contains("secret-token"));
        let scrubbed = d.scrubbed(FetchError::Api("user secret-token-123 unknown".into()));
        assert_eq!(
            scrubbed.to_string(),
            "the API answered with an error: user *** unknown"
        );
    }
}
