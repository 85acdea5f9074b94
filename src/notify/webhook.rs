//! The webhook receiver: one signed JSON POST (payload version 1, docs/payloads.md) per
//! message; a backlog is several messages, each within the receiver's count and byte bounds
//! (`batch`).
//!
//! Signature: `X-Statwatch-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`
//! with `X-Statwatch-Timestamp` carrying the same unix seconds, so a receiver can both verify
//! the body and refuse replays of old requests.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use reqwest::header::CONTENT_TYPE;
use serde::Serialize;
use sha2::Sha256;
use url::Url;

use super::{http, NotifyError, SendError};
use crate::config::Secret;
use crate::model::Alert;

pub const TIMESTAMP_HEADER: &str = "X-Statwatch-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Statwatch-Signature";

/// The webhook body, version 1. Field order is the documented one.
#[derive(Serialize)]
struct Payload<'a> {
    version: &'static str,
    receiver: &'a str,
    sent_at: String,
    alerts: Vec<&'a Alert>,
    /// The cycle's briefs; left out when there are none, so a config without briefs sends
    /// exactly the first stage's bytes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    briefs: Vec<Brief<'a>>,
    /// Only on `test-notify` messages, so a receiver can tell them apart.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    test: bool,
}

/// A brief in payload v1: `{"id", "brief", "title", "period", "text", "facts"}`.
#[derive(Serialize)]
struct Brief<'a> {
    id: &'a str,
    brief: &'a str,
    title: &'a str,
    period: String,
    text: &'a str,
    facts: &'a serde_json::Value,
}

const NO_FACTS: serde_json::Value = serde_json::Value::Null;

impl<'a> Brief<'a> {
    fn of(a: &'a Alert) -> Brief<'a> {
        Brief {
            id: &a.id,
            brief: &a.rule,
            title: &a.title,
            period: a.period_text(),
            text: a.brief_text().unwrap_or(&a.summary),
            facts: a.brief_facts().unwrap_or(&NO_FACTS),
        }
    }
}

/// The exact JSON body sent to `receiver` for `alerts` at `sent_at`.
pub fn payload(
    receiver: &str,
    alerts: &[Alert],
    sent_at: DateTime<Utc>,
    test: bool,
) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Payload {
        version: "1",
        receiver,
        sent_at: sent_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        alerts: alerts.iter().filter(|a| !a.is_brief()).collect(),
        briefs: alerts
            .iter()
            .filter(|a| a.is_brief())
            .map(Brief::of)
            .collect(),
        test,
    })
}

/// What each alert takes of a payload: its JSON and a comma (a brief's as a brief).
pub(super) fn sizes(alerts: &[Alert]) -> Vec<usize> {
    alerts
        .iter()
        .map(|a| {
            let json = if a.is_brief() {
                serde_json::to_vec(&Brief::of(a))
            } else {
                serde_json::to_vec(a)
            };
            json.map_or(0, |j| j.len()) + 1
        })
        .collect()
}

/// What a payload takes besides its alerts: the fields around them, and the briefs' key.
pub(super) fn envelope(receiver: &str, test: bool) -> usize {
    let empty = payload(receiver, &[], Utc::now(), test).map_or(0, |p| p.len());
    empty + r#","briefs":[]"#.len()
}

/// `<hex HMAC-SHA256 of "<timestamp>.<raw body>">`, the part after `sha256=`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub(super) struct Webhook {
    client: reqwest::Client,
    url: Url,
    secret: Option<Secret>,
    timeout: Duration,
}

impl Webhook {
    pub(super) fn new(
        url: Url,
        secret: Option<Secret>,
        timeout: Duration,
    ) -> Result<Webhook, NotifyError> {
        Ok(Webhook {
            client: http::client(timeout)?,
            url,
            secret,
            timeout,
        })
    }

    pub(super) async fn send(
        &self,
        receiver: &str,
        alerts: &[Alert],
        test: bool,
    ) -> Result<(), SendError> {
        let now = Utc::now();
        let body = payload(receiver, alerts, now, test)
            .map_err(|e| SendError::Permanent(format!("cannot encode the payload: {e}")))?;
        let timestamp = now.timestamp();
        let mut req = self
            .client
            .post(self.url.clone())
            .timeout(self.timeout)
            .header(CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string());
        if let Some(secret) = &self.secret {
            let sig = sign(secret.expose().as_bytes(), timestamp, &body);
            req = req.header(SIGNATURE_HEADER, format!("sha256={sig}"));
        }
        let bytes = body.len();
        http::outcome(req.body(body).send().await, bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;
    use crate::notify::tests::alert;

    #[test]
    fn signature_matches_a_vector_computed_elsewhere() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"s3cr3t",
        //   b"1746772262.{\"version\":\"1\"}",hashlib.sha256).hexdigest())'
        // (and the same from `openssl dgst -sha256 -hmac s3cr3t`)
        assert_eq!(
            sign(b"s3cr3t", 1746772262, br#"{"version":"1"}"#),
            "4c4945b8befcfd922de7a8fe948ccb788e2c0e84ab48c388d049cd5f844bddab"
        );
    }

    #[test]
    fn payload_has_exactly_the_documented_keys() {
        let a = alert(
            "3f0c",
            Severity::Info,
            "positive for the 3rd month in a row",
        );
        let sent: DateTime<Utc> = "2025-05-09T06:31:02Z".parse().unwrap();
        let body = payload("ops", &[a], sent, false).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, ["alerts", "receiver", "sent_at", "version"]);
        assert_eq!(v["version"], "1");
        assert_eq!(v["receiver"], "ops");
        assert_eq!(v["sent_at"], "2025-05-09T06:31:02Z");
        let alert = v["alerts"][0].as_object().unwrap();
        let mut akeys: Vec<&str> = alert.keys().map(|k| k.as_str()).collect();
        akeys.sort();
        assert_eq!(
            akeys,
            [
                "cause",
                "details",
                "detected_at",
                "id",
                "kind",
                "period",
                "previous",
                "rule",
                "series",
                "severity",
                "source",
                "source_period",
                "summary",
                "table",
                "title",
                "unit",
                "value"
            ]
        );
        assert_eq!(v["alerts"][0]["period"], "2025-03");
        assert_eq!(v["alerts"][0]["cause"], "new_period");
        assert_eq!(v["alerts"][0]["severity"], "info");
        assert_eq!(
            v["alerts"][0]["previous"],
            serde_json::json!({"period": "2025-02", "value": 1.0})
        );
        assert_eq!(v["alerts"][0]["details"], serde_json::json!({"streak": 3}));
        // The documented order: version first, alerts last.
        assert!(String::from_utf8(body).unwrap().starts_with(
            r#"{"version":"1","receiver":"ops","sent_at":"2025-05-09T06:31:02Z","alerts":["#
        ));

        let test = payload("ops", &[], sent, true).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&test).unwrap();
        assert_eq!(v["test"], true);
    }
}
