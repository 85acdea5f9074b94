//! Local HTTP servers that answer like the chat platforms and Alertmanager do, and check the
//! documented shapes server-side: Slack (`ok`, or 400 `invalid_payload` for a body that is not
//! valid Block Kit within its limits), Mattermost (`ok`, 400 without text), Teams Workflows
//! (202 for a message with one Adaptive Card of version 1.4 or later and known element types),
//! and Alertmanager's `POST /api/v2/alerts` (200, or 400 for a malformed list). Every request
//! is recorded; answers can be scripted ahead (429 with Retry-After, 5xx, ...).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::Value;

pub use super::super::hook::Reply;

pub const SLACK_PATH: &str = "/services/T0STATW/B0STATW/slackTokenQ7x2";
pub const MATTERMOST_PATH: &str = "/hooks/mmTokenK3p9";
pub const TEAMS_PATH: &str = "/workflows/teamsTokenZ8w4/triggers/manual/paths/invoke";
pub const ALERTMANAGER_PATH: &str = "/api/v2/alerts";

#[derive(Clone, Debug)]
pub struct Recorded {
    pub at: DateTime<Utc>,
    pub path: String,
    pub body: Bytes,
    pub status: u16,
    /// What the server found wrong with the body, if anything.
    pub invalid: Option<String>,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Inner {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
}

pub struct Platforms {
    pub base: String,
    inner: Arc<Inner>,
    _server: tokio::task::JoinHandle<()>,
}

impl Platforms {
    pub async fn start() -> Platforms {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route(SLACK_PATH, post(handle))
            .route(MATTERMOST_PATH, post(handle))
            .route(TEAMS_PATH, post(handle))
            .route(ALERTMANAGER_PATH, post(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Platforms {
            base,
            inner,
            _server: server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The next answers, in order, before the platform's own again.
    pub fn script(&self, replies: Vec<Reply>) {
        *self.inner.script.lock().unwrap() = replies.into();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.requests.lock().unwrap().clone()
    }
}

async fn handle(State(s): State<Arc<Inner>>, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let parsed: Result<Value, String> = serde_json::from_slice(&body).map_err(|e| e.to_string());
    let (invalid, own) = own_reply(&path, parsed);
    let r = s.script.lock().unwrap().pop_front().unwrap_or(own);
    s.requests.lock().unwrap().push(Recorded {
        at: Utc::now(),
        path,
        body,
        status: r.status,
        invalid,
    });
    let status = StatusCode::from_u16(r.status).unwrap();
    match r.retry_after {
        Some(ra) => (status, [("retry-after", ra)], r.body).into_response(),
        None => (status, r.body).into_response(),
    }
}

type Check = fn(&Value) -> Result<(), String>;

/// What the platform at `path` says of the body: why it is invalid, if it is, and its
/// answer, (status, body) as the real platform sends for a valid or an invalid payload.
fn own_reply(path: &str, parsed: Result<Value, String>) -> (Option<String>, Reply) {
    let (check, valid, invalid): (Check, (u16, &'static str), (u16, &'static str)) = match path {
        SLACK_PATH => (slack, (200, "ok"), (400, "invalid_payload")),
        MATTERMOST_PATH => (
            mattermost,
            (200, "ok"),
            (
                400,
                r#"{"id":"web.incoming_webhook.text.app_error","message":"No text specified.","status_code":400}"#,
            ),
        ),
        TEAMS_PATH => (
            teams,
            (202, ""),
            (
                400,
                r#"{"error":{"code":"InvalidRequestContent","message":"The input body for trigger 'manual' of type 'Request' did not match its schema definition."}}"#,
            ),
        ),
        _ => (
            alertmanager,
            (200, ""),
            (400, r#"{"code":400,"message":"invalid alerts"}"#),
        ),
    };
    let bad = parsed.and_then(|v| check(&v)).err();
    let (status, body) = if bad.is_some() { invalid } else { valid };
    let reply = Reply {
        status,
        retry_after: None,
        body,
    };
    (bad, reply)
}

fn text_of<'a>(t: &'a Value, what: &str) -> Result<&'a str, String> {
    t["text"].as_str().ok_or_else(|| format!("{what}: no text"))
}

fn at_most(s: &str, max: usize, what: &str) -> Result<(), String> {
    let n = s.chars().count();
    if n > max {
        return Err(format!("{what}: {n} characters, more than {max}"));
    }
    Ok(())
}

/// Block Kit as Slack documents it: at most 50 blocks; header plain_text of at most 150
/// characters; section text at most 3,000, at most 10 fields of at most 2,000; context at
/// most 10 elements; text objects `plain_text` or `mrkdwn`.
pub fn slack(v: &Value) -> Result<(), String> {
    let text = v["text"].as_str().ok_or("no fallback text")?;
    if text.trim().is_empty() {
        return Err("empty fallback text".into());
    }
    let blocks = v["blocks"].as_array().ok_or("no blocks")?;
    if blocks.is_empty() || blocks.len() > 50 {
        return Err(format!("{} blocks", blocks.len()));
    }
    let kind = |t: &Value, allowed: &[&str], what: &str| -> Result<(), String> {
        match t["type"].as_str() {
            Some(k) if allowed.contains(&k) => Ok(()),
            other => Err(format!("{what}: text type {other:?}")),
        }
    };
    for b in blocks {
        match b["type"].as_str() {
            Some("header") => {
                kind(&b["text"], &["plain_text"], "header")?;
                at_most(text_of(&b["text"], "header")?, 150, "header")?;
            }
            Some("section") => {
                kind(&b["text"], &["plain_text", "mrkdwn"], "section")?;
                at_most(text_of(&b["text"], "section")?, 3000, "section")?;
                if let Some(fields) = b.get("fields") {
                    let fields = fields.as_array().ok_or("fields not a list")?;
                    if fields.len() > 10 {
                        return Err("more than 10 fields".into());
                    }
                    for f in fields {
                        kind(f, &["plain_text", "mrkdwn"], "field")?;
                        at_most(text_of(f, "field")?, 2000, "field")?;
                    }
                }
            }
            Some("context") => {
                let els = b["elements"].as_array().ok_or("context without elements")?;
                if els.is_empty() || els.len() > 10 {
                    return Err("context elements".into());
                }
                for e in els {
                    kind(e, &["plain_text", "mrkdwn"], "context")?;
                    at_most(text_of(e, "context")?, 3000, "context")?;
                }
            }
            Some("divider") => {}
            other => return Err(format!("unknown block type {other:?}")),
        }
    }
    Ok(())
}

/// Mattermost's incoming webhook: `text` is required, at most 16,383 characters.
pub fn mattermost(v: &Value) -> Result<(), String> {
    let text = v["text"].as_str().ok_or("no text")?;
    if text.trim().is_empty() {
        return Err("empty text".into());
    }
    at_most(text, 16_383, "text")
}

/// A Teams Workflows message: `type` message, one attachment of content type
/// `application/vnd.microsoft.card.adaptive` holding an AdaptiveCard of version >= 1.4 whose
/// body has only TextBlock, FactSet and Container elements (facts with title and value).
pub fn teams(v: &Value) -> Result<(), String> {
    if v["type"] != "message" {
        return Err("type is not message".into());
    }
    let att = v["attachments"].as_array().ok_or("no attachments")?;
    if att.len() != 1 || att[0]["contentType"] != "application/vnd.microsoft.card.adaptive" {
        return Err("not one adaptive card attachment".into());
    }
    let card = &att[0]["content"];
    if card["type"] != "AdaptiveCard" {
        return Err("content is not an AdaptiveCard".into());
    }
    let version: f64 = card["version"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or("no version")?;
    if version < 1.4 {
        return Err(format!("version {version}"));
    }
    if v.to_string().len() > 28_000 {
        return Err("message over 28 KB".into());
    }
    fn element(e: &Value) -> Result<(), String> {
        match e["type"].as_str() {
            Some("TextBlock") => text_of(e, "TextBlock").map(|_| ()),
            Some("FactSet") => {
                for f in e["facts"].as_array().ok_or("FactSet without facts")? {
                    if !f["title"].is_string() || !f["value"].is_string() {
                        return Err("a fact without title or value".into());
                    }
                }
                Ok(())
            }
            Some("Container") => e["items"]
                .as_array()
                .ok_or("Container without items")?
                .iter()
                .try_for_each(element),
            other => Err(format!("unknown element {other:?}")),
        }
    }
    card["body"]
        .as_array()
        .ok_or("card without body")?
        .iter()
        .try_for_each(element)
}

/// Alertmanager's `postableAlerts`: a list of objects with string labels (`alertname` among
/// them), string annotations, and RFC 3339 `startsAt`/`endsAt`.
pub fn alertmanager(v: &Value) -> Result<(), String> {
    for a in v.as_array().ok_or("not a list")? {
        let labels = a["labels"].as_object().ok_or("no labels")?;
        if !labels.contains_key("alertname") || !labels.values().all(Value::is_string) {
            return Err("bad labels".into());
        }
        if !a["annotations"]
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string))
        {
            return Err("bad annotations".into());
        }
        for k in ["startsAt", "endsAt"] {
            a[k].as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .ok_or(format!("bad {k}"))?;
        }
    }
    Ok(())
}
