//! The Alertmanager receiver: one `POST {url}/api/v2/alerts` per cluster member per cycle,
//! a JSON list of postable alerts, as Prometheus sends them. Labels are the alert's identity
//! (`alertname` = rule id, `series`, `severity`, `source`, `table`, `period`, `statwatch_id`),
//! so two statwatch instances with the same config post identical label sets and the cluster
//! notifies each event once. Delivered when at least one member accepted the list. `endsAt`
//! counts from the sending, so an alert delivered after an outage still fires.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use tokio::task::JoinSet;
use tracing::warn;
use url::Url;

use super::render::{body, chain};
use super::{http, NotifyError, SendError};
use crate::model::Alert;

pub(super) struct Alertmanager {
    client: reqwest::Client,
    /// `{member}/api/v2/alerts`, one per member.
    endpoints: Vec<Url>,
    resolve_after: Duration,
    timeout: Duration,
}

/// One alert as Alertmanager's API v2 takes it (`postableAlert`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostableAlert<'a> {
    labels: Labels<'a>,
    annotations: Annotations,
    starts_at: String,
    ends_at: String,
}

#[derive(Debug, Serialize)]
struct Labels<'a> {
    alertname: &'a str,
    series: &'a str,
    severity: String,
    source: &'a str,
    table: &'a str,
    period: String,
    statwatch_id: &'a str,
}

#[derive(Debug, Serialize)]
struct Annotations {
    summary: String,
    description: String,
}

/// The list posted for `alerts` at `sent_at`: `startsAt` is the detection, `endsAt` is
/// `resolve_after` after the sending, so alerts that waited out an outage of Alertmanager
/// longer than `resolve_after` still arrive firing (the labels, which are all Alertmanager
/// deduplicates on, do not depend on the time).
pub fn postable(
    alerts: &[Alert],
    resolve_after: Duration,
    sent_at: DateTime<Utc>,
) -> Vec<PostableAlert<'_>> {
    let resolve = chrono::Duration::from_std(resolve_after).unwrap_or(chrono::Duration::days(1));
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    alerts
        .iter()
        .map(|a| PostableAlert {
            labels: Labels {
                alertname: &a.rule,
                series: &a.series,
                severity: a.severity.to_string(),
                source: &a.source,
                table: &a.table,
                period: a.period_text(),
                statwatch_id: &a.id,
            },
            annotations: Annotations {
                summary: a.summary.clone(),
                // The same text the email carries for this alert alone: value, previous,
                // period, table, cause, id. Deterministic, so both instances agree.
                description: body(std::slice::from_ref(a), a.is_test(), None),
            },
            starts_at: time(a.detected_at),
            ends_at: time(a.detected_at.max(sent_at) + resolve),
        })
        .collect()
}

impl Alertmanager {
    pub(super) fn new(
        urls: &[Url],
        resolve_after: Duration,
        timeout: Duration,
    ) -> Result<Alertmanager, NotifyError> {
        let endpoints = urls
            .iter()
            .map(|u| {
                let base = u.as_str().trim_end_matches('/');
                Url::parse(&format!("{base}/api/v2/alerts"))
                    .map_err(|e| NotifyError::Endpoint(u.origin().ascii_serialization(), e))
            })
            .collect::<Result<_, _>>()?;
        Ok(Alertmanager {
            client: http::client(timeout)?,
            endpoints,
            resolve_after,
            timeout,
        })
    }

    /// What each alert takes of a posted list: its JSON and a comma.
    pub(super) fn sizes(&self, alerts: &[Alert]) -> Vec<usize> {
        postable(alerts, self.resolve_after, Utc::now())
            .iter()
            .map(|p| serde_json::to_vec(p).map_or(0, |j| j.len()) + 1)
            .collect()
    }

    /// Posts to every member at once; one acceptance is enough (the members gossip the rest).
    pub(super) async fn send(&self, receiver: &str, alerts: &[Alert]) -> Result<(), SendError> {
        let list = postable(alerts, self.resolve_after, Utc::now());
        let body = serde_json::to_vec(&list).map_err(|e| {
            SendError::Permanent(format!("cannot encode the alerts: {}", chain(&e)))
        })?;
        let mut tasks = JoinSet::new();
        for url in self.endpoints.clone() {
            let (client, body, timeout) = (self.client.clone(), body.clone(), self.timeout);
            tasks.spawn(async move {
                let outcome = http::post_json(&client, &url, body, timeout).await;
                (url, outcome)
            });
        }
        let mut failures = Vec::new();
        let mut accepted = 0;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((_, Ok(()))) => accepted += 1,
                Ok((url, Err(e))) => failures.push((url.origin().ascii_serialization(), e)),
                Err(e) => failures.push((
                    "a member".into(),
                    SendError::Transient {
                        error: format!("the request task ended abnormally: {e}"),
                        retry_after: None,
                    },
                )),
            }
        }
        combine(receiver, accepted, failures)
    }
}

/// Accepted by one member: delivered (the others are logged). Refused by all: too large when
/// one member said so (a smaller list may pass), permanent only when every member refused for
/// good; else retried, not before the earliest Retry-After.
fn combine(
    receiver: &str,
    accepted: usize,
    failures: Vec<(String, SendError)>,
) -> Result<(), SendError> {
    if accepted > 0 {
        for (member, e) in &failures {
            warn!(receiver, member = %member, error = %e.message(), "an alertmanager member did not take the alerts; another did");
        }
        return Ok(());
    }
    let error = failures
        .iter()
        .map(|(m, e)| format!("{m}: {}", e.message()))
        .collect::<Vec<_>>()
        .join("; ");
    if failures
        .iter()
        .any(|(_, e)| matches!(e, SendError::TooLarge(_)))
    {
        return Err(SendError::TooLarge(error));
    }
    if failures
        .iter()
        .all(|(_, e)| matches!(e, SendError::Permanent(_)))
    {
        return Err(SendError::Permanent(error));
    }
    let retry_after = failures
        .iter()
        .map(|(_, e)| match e {
            SendError::Transient { retry_after, .. } => *retry_after,
            SendError::Permanent(_) | SendError::TooLarge(_) => None,
        })
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().min());
    Err(SendError::Transient { error, retry_after })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;
    use crate::notify::tests::alert;

    #[test]
    fn labels_annotations_and_times_follow_the_contract() {
        let a = alert("3f0c", Severity::Warning, "turned positive");
        let sent: DateTime<Utc> = "2025-05-09T06:31:05Z".parse().unwrap();
        let v = serde_json::to_value(postable(
            std::slice::from_ref(&a),
            Duration::from_secs(24 * 3600),
            sent,
        ))
        .unwrap();
        assert_eq!(
            v[0]["labels"],
            serde_json::json!({
                "alertname": "nl-industry-streak", "series": "nl.industry.yoy",
                "severity": "warning", "source": "cbs", "table": "85806NED",
                "period": "2025-03", "statwatch_id": "3f0c"
            })
        );
        assert_eq!(v[0]["annotations"]["summary"], "turned positive");
        assert!(v[0]["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("previous: +1.0 % in 2025-02"));
        assert_eq!(v[0]["startsAt"], "2025-05-09T06:31:01.000Z");
        assert_eq!(
            v[0]["endsAt"], "2025-05-10T06:31:05.000Z",
            "a day after sending"
        );
        // Sent two days after detection (Alertmanager was down): still firing a day on.
        let later = sent + chrono::Duration::days(2);
        let v =
            serde_json::to_value(postable(&[a], Duration::from_secs(24 * 3600), later)).unwrap();
        assert_eq!(v[0]["startsAt"], "2025-05-09T06:31:01.000Z");
        assert_eq!(v[0]["endsAt"], "2025-05-12T06:31:05.000Z");
    }

    #[test]
    fn one_member_accepting_is_enough() {
        let t = |s: Option<i64>| SendError::Transient {
            error: "HTTP 503".into(),
            retry_after: s.map(|s| DateTime::from_timestamp(s, 0).unwrap()),
        };
        let p = || SendError::Permanent("HTTP 400: bad".into());
        assert!(combine("am", 1, vec![("a".into(), t(None))]).is_ok());
        assert!(matches!(
            combine("am", 0, vec![("a".into(), p()), ("b".into(), p())]),
            Err(SendError::Permanent(_))
        ));
        let Err(SendError::Transient { retry_after, error }) = combine(
            "am",
            0,
            vec![("a".into(), t(Some(20))), ("b".into(), t(Some(10)))],
        ) else {
            panic!()
        };
        assert_eq!(retry_after.unwrap().timestamp(), 10);
        assert!(error.contains("a: HTTP 503; b: HTTP 503"), "{error}");
        assert!(matches!(
            combine("am", 0, vec![("a".into(), p()), ("b".into(), t(None))]),
            Err(SendError::Transient { .. })
        ));
    }
}
