//! The transport every source shares, and only the transport: timeouts, a response size cap,
//! origin checks, content-type checks (an HTML page with status 200 is an outage, not data)
//! and retries of transient failures within one poll (with the policy of `crate::retry`).
//! What an error body means is the source's business: it hands in an [`ErrorBody`] hook.
//!
//! Every request stays on the origin (scheme, host, port) of the source's `base_url`: a
//! redirect elsewhere is an error, not followed, so neither a GENESIS token (sent in plain
//! `username`/`password` headers, which reqwest does not strip on a cross-host redirect) nor
//! the acceptance of data is ever extended to a host nobody configured.

use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use tracing::debug;
use url::Url;

use crate::retry::{self, Jitter, Policy};

/// Reads the message out of an error body in the source's own format (OData's
/// `odata.error`, GENESIS' `Status`), or `None` when the body is not in that format.
pub(crate) type ErrorBody = fn(&[u8]) -> Option<String>;

/// Attempts per request within one poll (the first try and two retries).
pub(crate) const ATTEMPTS: u32 = 3;
/// Same-origin redirects followed per request (reqwest's default is 10 too).
const MAX_REDIRECTS: usize = 10;

#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect to {host}: {reason}")]
    Connect { host: String, reason: String },
    #[error("no complete answer within {0:?} (timeout)")]
    Timeout(Duration),
    #[error("the connection broke while reading the answer: {0}")]
    Body(String),
    #[error("HTTP {status}{}", fmt_message(.message))]
    Status { status: u16, message: String },
    #[error("got an HTML page (HTTP {status}) instead of data: the service is probably down or the URL is wrong{}", fmt_message(.title))]
    Html { status: u16, title: String },
    #[error("unexpected content type {content_type:?}{}", fmt_message(.snippet))]
    ContentType {
        content_type: String,
        snippet: String,
    },
    #[error("the answer is larger than {limit} bytes (max_response_bytes)")]
    TooLarge { limit: usize },
    #[error("redirected to {to}, which is not the configured origin {origin}: not followed")]
    Redirect { to: String, origin: String },
    #[error("refusing to request {url}: it is not on the configured origin {origin}")]
    OffOrigin { url: String, origin: String },
    #[error("the answer is not valid JSON ({reason}); it may be truncated")]
    Json { reason: String },
    #[error("{0}")]
    Other(String),
}

fn fmt_message(m: &str) -> String {
    if m.is_empty() {
        String::new()
    } else {
        format!(": {m}")
    }
}

impl HttpError {
    /// Whether trying again within the same poll may help.
    fn is_transient(&self) -> bool {
        match self {
            HttpError::Connect { .. }
            | HttpError::Timeout(_)
            | HttpError::Body(_)
            | HttpError::Html { .. }
            | HttpError::Json { .. } => true,
            HttpError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// What a successful request returned.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn is_json(&self) -> bool {
        is_json_type(&self.content_type)
    }
}

fn is_json_type(ct: &str) -> bool {
    let ct = ct.to_ascii_lowercase();
    ct.starts_with("application/json") || ct.contains("+json")
}

/// What kind of body a request expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// `application/json` only (and valid JSON).
    Json,
    /// JSON (an envelope, often an error) or a binary file (a zip).
    JsonOrBinary,
}

/// The redirect policy's refusal, found again in reqwest's error chain by `classify`.
#[derive(Debug)]
struct OffOrigin {
    to: String,
}

impl std::fmt::Display for OffOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redirect to another origin: {}", self.to)
    }
}

impl std::error::Error for OffOrigin {}

#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    timeout: Duration,
    backoff: Duration,
    origin: url::Origin,
    max_body: usize,
    error_body: ErrorBody,
}

impl Http {
    /// A client that only ever talks to `base`'s origin and reads at most `max_body` bytes
    /// of any answer; `error_body` reads the message of a non-2xx answer.
    pub(crate) fn new(
        timeout: Duration,
        base: &Url,
        max_body: usize,
        error_body: ErrorBody,
    ) -> Result<Http, HttpError> {
        let origin = base.origin();
        let allowed = origin.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.url().origin() != allowed {
                let to = attempt.url().origin().ascii_serialization();
                attempt.error(OffOrigin { to })
            } else if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .user_agent(concat!("statwatch/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .https_only(false)
            .redirect(policy)
            .build()
            .map_err(|e| HttpError::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(Http {
            client,
            timeout,
            backoff: Duration::from_millis(500),
            origin,
            max_body,
            error_body,
        })
    }

    /// The byte cap of one answer (also used for what an answer unpacks to).
    pub(crate) fn max_body(&self) -> usize {
        self.max_body
    }

    /// Sets the first retry delay (it doubles, with jitter). Tests shorten it.
    pub(crate) fn with_backoff(mut self, backoff: Duration) -> Http {
        self.backoff = backoff;
        self
    }

    pub(crate) async fn get(&self, url: &Url, expect: Expect) -> Result<Reply, HttpError> {
        self.request(Method::GET, url, HeaderMap::new(), None, expect)
            .await
    }

    /// POSTs a form (`application/x-www-form-urlencoded`, UTF-8).
    pub(crate) async fn post_form(
        &self,
        url: &Url,
        headers: HeaderMap,
        form: &[(&str, String)],
        expect: Expect,
    ) -> Result<Reply, HttpError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        self.request(Method::POST, url, headers, Some(body), expect)
            .await
    }

    async fn request(
        &self,
        method: Method,
        url: &Url,
        headers: HeaderMap,
        form: Option<String>,
        expect: Expect,
    ) -> Result<Reply, HttpError> {
        // Exactly 2x per retry and at most ATTEMPTS - 1 retries: the cap never bites.
        let policy = Policy {
            base: self.backoff,
            cap: self.backoff.saturating_mul(1 << (ATTEMPTS - 1)),
            jitter: Jitter::Up(0.25),
        };
        retry::retry(
            &policy,
            ATTEMPTS,
            HttpError::is_transient,
            |attempt, error, wait| {
                debug!(%url, attempt, %error, ?wait, "transient failure, retrying");
            },
            || self.once(method.clone(), url, headers.clone(), form.clone(), expect),
        )
        .await
    }

    async fn once(
        &self,
        method: Method,
        url: &Url,
        headers: HeaderMap,
        form: Option<String>,
        expect: Expect,
    ) -> Result<Reply, HttpError> {
        // The sources resolve links against base_url; this is the last line of defence.
        if url.origin() != self.origin {
            return Err(HttpError::OffOrigin {
                url: url.to_string(),
                origin: self.origin.ascii_serialization(),
            });
        }
        let mut req = self.client.request(method, url.clone()).headers(headers);
        if let Some(body) = form {
            req = req
                .header(
                    CONTENT_TYPE,
                    "application/x-www-form-urlencoded; charset=UTF-8",
                )
                .body(body);
        }
        let mut resp = req.send().await.map_err(|e| self.classify(url, e))?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let limit = self.max_body;
        let declared = resp.content_length();
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(HttpError::TooLarge { limit });
        }
        // Reserving the declared size keeps a large body from being copied while it doubles
        // (which briefly costs three times its size); a gzip body may still grow past it.
        let mut body = Vec::with_capacity(declared.map_or(0, |n| n as usize));
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.classify(url, e))? {
            if body.len() + chunk.len() > limit {
                return Err(HttpError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        let reply = Reply { content_type, body };
        check(status, &reply, expect, self.error_body)?;
        Ok(reply)
    }

    fn classify(&self, url: &Url, e: reqwest::Error) -> HttpError {
        if let Some(off) = find_source::<OffOrigin>(&e) {
            return HttpError::Redirect {
                to: off.to.clone(),
                origin: self.origin.ascii_serialization(),
            };
        }
        if e.is_timeout() {
            HttpError::Timeout(self.timeout)
        } else if e.is_connect() {
            HttpError::Connect {
                host: url.host_str().unwrap_or("?").to_string(),
                reason: root_cause(&e),
            }
        } else if e.is_body() || e.is_decode() || e.is_request() {
            HttpError::Body(root_cause(&e))
        } else {
            HttpError::Other(root_cause(&e))
        }
    }
}

/// The first error of type `T` in an error's chain.
fn find_source<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(t) = c.downcast_ref::<T>() {
            return Some(t);
        }
        cur = c.source();
    }
    None
}

/// The innermost error message (reqwest's own message is only "error sending request").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// A short, single-line, printable excerpt of a body for messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line.chars().take(120).collect()
}

fn html_title(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    let lower = text.to_ascii_lowercase();
    match (lower.find("<title>"), lower.find("</title>")) {
        (Some(a), Some(b)) if b > a + 7 => text[a + 7..b].trim().chars().take(120).collect(),
        _ => String::new(),
    }
}

fn looks_like_html(ct: &str, body: &[u8]) -> bool {
    if ct.to_ascii_lowercase().starts_with("text/html") {
        return true;
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
    let head = head.trim_start_matches('\u{feff}').trim_start();
    head.starts_with("<!doctype html") || head.starts_with("<html")
}

/// The message of an error body: the source's format, else an HTML page's title, else text.
fn error_message(reply: &Reply, error_body: ErrorBody) -> String {
    if let Some(m) = error_body(&reply.body) {
        return m;
    }
    if looks_like_html(&reply.content_type, &reply.body) {
        return html_title(&reply.body);
    }
    snippet(&reply.body)
}

/// Whether a complete answer is one the source can use (status, not HTML, the expected kind).
pub(crate) fn check(
    status: StatusCode,
    reply: &Reply,
    expect: Expect,
    error_body: ErrorBody,
) -> Result<(), HttpError> {
    if !status.is_success() {
        return Err(HttpError::Status {
            status: status.as_u16(),
            message: error_message(reply, error_body),
        });
    }
    if looks_like_html(&reply.content_type, &reply.body) {
        return Err(HttpError::Html {
            status: status.as_u16(),
            title: html_title(&reply.body),
        });
    }
    if reply.body.is_empty() {
        return Err(HttpError::Body("empty answer".into()));
    }
    match expect {
        Expect::Json if !reply.is_json() => Err(HttpError::ContentType {
            content_type: reply.content_type.clone(),
            snippet: snippet(&reply.body),
        }),
        Expect::Json => {
            // Validate now, so a truncated document is retried like a broken connection.
            serde_json::from_slice::<serde::de::IgnoredAny>(&reply.body)
                .map(|_| ())
                .map_err(|e| HttpError::Json {
                    reason: e.to_string(),
                })
        }
        Expect::JsonOrBinary => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &[u8]) -> Option<String> {
        None
    }

    fn reply(ct: &str, body: &str) -> Reply {
        Reply {
            content_type: ct.into(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn html_with_200_is_an_outage() {
        let r = reply(
            "text/html; charset=utf-8",
            "<html><head><title>Onderhoud</title></head></html>",
        );
        let e = check(StatusCode::OK, &r, Expect::Json, none).unwrap_err();
        assert!(matches!(e, HttpError::Html { status: 200, .. }));
        assert!(e.to_string().contains("Onderhoud"), "{e}");
        // Even when mislabelled as JSON.
        let r = reply("application/json", "<!DOCTYPE html><html></html>");
        assert!(matches!(
            check(StatusCode::OK, &r, Expect::Json, none),
            Err(HttpError::Html { .. })
        ));
    }

    #[test]
    fn error_bodies_go_through_the_sources_hook() {
        let r = reply("application/json", r#"{"m":"Table 'X' not found."}"#);
        let hook: ErrorBody = |b| b.starts_with(b"{").then(|| "from the hook".to_string());
        let e = check(StatusCode::NOT_FOUND, &r, Expect::Json, hook).unwrap_err();
        assert_eq!(e.to_string(), "HTTP 404: from the hook");
        assert!(!e.is_transient());
        // Not the source's format: the body as text.
        let e = check(StatusCode::BAD_GATEWAY, &r, Expect::Json, none).unwrap_err();
        assert_eq!(e.to_string(), r#"HTTP 502: {"m":"Table 'X' not found."}"#);
        assert!(e.is_transient());
    }

    #[test]
    fn truncated_json_is_caught_and_retried() {
        let r = reply("application/json", r#"{"value":[{"a":1},"#);
        let e = check(StatusCode::OK, &r, Expect::Json, none).unwrap_err();
        assert!(matches!(e, HttpError::Json { .. }) && e.is_transient());
    }
}
