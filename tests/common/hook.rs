//! A real webhook receiver on loopback: records every request on any path (when it came, its
//! path, headers and raw body, and what it was answered) and answers from a script (the
//! scripted replies in order, then 200). Like a receiver behind a proxy it can refuse bodies
//! over a size with 413, send a scripted 3xx somewhere else, and hold its answers back.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// One scripted answer.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<&'static str>,
    pub body: &'static str,
}

/// A scripted answer with this status and nothing else.
pub fn reply(status: u16) -> Reply {
    Reply {
        status,
        retry_after: None,
        body: "",
    }
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub at: DateTime<Utc>,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// What the hook answered.
    pub status: u16,
}

impl Recorded {
    /// A header's value, or "" without it.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The ids of the alerts in a statwatch webhook body.
    pub fn alert_ids(&self) -> Vec<String> {
        self.json()["alerts"]
            .as_array()
            .expect("alerts list")
            .iter()
            .map(|a| a["id"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

struct Inner {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    /// A body limit like nginx's `client_max_body_size`: larger bodies get 413.
    limit: Mutex<Option<usize>>,
    /// Where a scripted 3xx redirects to.
    location: Mutex<Option<&'static str>>,
    /// While true, answers wait (the request is recorded at once).
    hold: tokio::sync::watch::Sender<bool>,
}

pub struct Hook {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    base: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(
    State(s): State<Arc<Inner>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let limit = *s.limit.lock().unwrap();
    let r = if limit.is_some_and(|l| body.len() > l) {
        Reply {
            status: 413,
            retry_after: None,
            body: "<html><head><title>413 Request Entity Too Large</title></head></html>",
        }
    } else {
        s.script.lock().unwrap().pop_front().unwrap_or(reply(200))
    };
    let location = *s.location.lock().unwrap();
    s.requests.lock().unwrap().push(Recorded {
        at: Utc::now(),
        path: uri.path().to_string(),
        headers,
        body,
        status: r.status,
    });
    let _ = s.hold.subscribe().wait_for(|held| !held).await;
    let status = StatusCode::from_u16(r.status).unwrap();
    match (r.retry_after, location) {
        (Some(ra), _) => (status, [("retry-after", ra)], r.body).into_response(),
        (None, Some(to)) if status.is_redirection() => {
            (status, [("location", to)], r.body).into_response()
        }
        (None, _) => (status, r.body).into_response(),
    }
}

impl Hook {
    pub async fn start() -> Hook {
        Hook::start_with(Vec::new()).await
    }

    /// A hook that answers `script` first.
    pub async fn start_with(script: Vec<Reply>) -> Hook {
        let inner = Arc::new(Inner {
            script: Mutex::new(script.into()),
            requests: Mutex::default(),
            limit: Mutex::default(),
            location: Mutex::default(),
            hold: tokio::sync::watch::channel(false).0,
        });
        let app = Router::new()
            .fallback(handle)
            // The hook applies its own limit (`Hook::limit_body`), like a proxy would.
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hook {
            url: format!("{base}/hook"),
            base,
            inner,
            task,
        }
    }

    /// The URL of another path on the hook (`/ping/...` for a heartbeat).
    pub fn url_of(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The next answers' statuses, in order (then 200 again).
    pub fn answer(&self, statuses: &[u16]) {
        *self.inner.script.lock().unwrap() = statuses.iter().map(|&s| reply(s)).collect();
    }

    /// Bodies over `bytes` get 413 (before any scripted answer).
    pub fn limit_body(&self, bytes: usize) {
        *self.inner.limit.lock().unwrap() = Some(bytes);
    }

    /// Where a scripted 3xx sends the client.
    pub fn redirect_to(&self, location: &'static str) {
        *self.inner.location.lock().unwrap() = Some(location);
    }

    /// Holds every answer back while `on` (requests are still recorded as they come).
    pub fn hold(&self, on: bool) {
        self.inner.hold.send_replace(on);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// The requests answered with 200: what the receiver accepted.
    pub fn accepted(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|p| p.status == 200)
            .collect()
    }

    /// How many requests were answered with a 2xx.
    pub fn successes(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .count()
    }
}
