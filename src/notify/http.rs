//! The HTTP side every HTTP receiver shares (webhook, chat services, Alertmanager): one client
//! per receiver, one POST, and the reading of the answer into a [`SendError`] (429 and 5xx
//! retried, honouring `Retry-After`; 413 "too large", so the message is split; a redirect and
//! other 4xx refused for good, with a capped piece of the body). Request errors are rendered
//! `without_url()`, and a redirect names only its target's origin: URLs may carry tokens.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::StatusCode;
use url::Url;

use super::render::{chain, short};
use super::{NotifyError, SendError};

/// How much of a receiver's error answer is read for `last_error` (which keeps 200 characters
/// of it). A receiver that answers with an endless body must not fill our memory: the rest is
/// never read, and dropping the response closes the connection.
const ERROR_BODY_CAP: usize = 64 * 1024;
/// How much of a success answer is read (Slack's `ok`, or the word it answers instead).
const SUCCESS_BODY_CAP: usize = 1024;
/// How much of an error answer `last_error` keeps.
const ERROR_TEXT_CHARS: usize = 200;

/// A client for one receiver: no redirects, our user agent, `timeout` to connect.
pub(super) fn client(timeout: Duration) -> Result<reqwest::Client, NotifyError> {
    reqwest::Client::builder()
        // A redirected POST becomes a GET in most clients; better to report it than to
        // deliver the alerts somewhere the operator did not configure.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("statwatch/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout)
        .build()
        .map_err(|e| NotifyError::HttpClient(e.without_url()))
}

/// POSTs a JSON body and reads the answer: `Ok` for any 2xx.
pub(super) async fn post_json(
    client: &reqwest::Client,
    url: &Url,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(), SendError> {
    post_json_answer(client, url, body, timeout).await.map(drop)
}

/// POSTs a JSON body; on a 2xx, the start of the answer's body (for services that answer a
/// failure with 200 and a word, like Slack).
pub(super) async fn post_json_answer(
    client: &reqwest::Client,
    url: &Url,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<String, SendError> {
    let bytes = body.len();
    let req = client
        .post(url.clone())
        .timeout(timeout)
        .header(CONTENT_TYPE, "application/json")
        .body(body);
    let resp = answer(req.send().await, bytes).await?;
    Ok(read_capped(resp, SUCCESS_BODY_CAP).await)
}

/// What a sent request came to. Shared by every HTTP receiver so they agree on what is
/// retried: 429 and 5xx (with their `Retry-After`) and transport errors, never other 4xx.
pub(super) async fn outcome(
    sent: Result<reqwest::Response, reqwest::Error>,
    bytes: usize,
) -> Result<(), SendError> {
    answer(sent, bytes).await.map(drop)
}

/// The response of a 2xx, else why it failed (`bytes`: the size of the body sent, for 413).
async fn answer(
    sent: Result<reqwest::Response, reqwest::Error>,
    bytes: usize,
) -> Result<reqwest::Response, SendError> {
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            return Err(SendError::Transient {
                error: format!("{what}: {}", chain(&e.without_url())),
                retry_after: None,
            });
        }
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    if status.is_redirection() {
        return Err(SendError::Permanent(redirected(&resp)));
    }
    let retry_after = retry_after(resp.headers(), Utc::now());
    let text = read_capped(resp, ERROR_BODY_CAP).await;
    let error = if text.trim().is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        format!(
            "HTTP {}: {}",
            status.as_u16(),
            short(&text, ERROR_TEXT_CHARS)
        )
    };
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        Err(SendError::TooLarge(format!(
            "HTTP 413: the receiver refused a body of {bytes} bytes as too large (its body size limit, e.g. nginx client_max_body_size)"
        )))
    } else if status.as_u16() == 429 {
        Err(SendError::Transient { error, retry_after })
    } else if status.is_client_error() {
        Err(SendError::Permanent(error))
    } else {
        Err(SendError::Transient {
            error,
            // Some servers send Retry-After with 503 too; honouring it costs nothing.
            retry_after,
        })
    }
}

/// A redirect is not followed (a POST would become a GET, or go where the operator did not
/// configure), and retrying will not change it: the error names the status and the target's
/// scheme and host, never its path or query, which may carry a token.
fn redirected(resp: &reqwest::Response) -> String {
    let target = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| resp.url().join(l).ok())
        .map(|u| u.origin().ascii_serialization());
    let code = resp.status().as_u16();
    match target {
        Some(t) => format!("HTTP {code}: the receiver redirects to {t}; redirects are not followed: configure the URL it redirects to"),
        None => format!("HTTP {code}: the receiver redirects; redirects are not followed: configure the URL it redirects to"),
    }
}

/// At most `cap` bytes of a body, chunk by chunk, as lossy UTF-8. A body that fails midway
/// gives what arrived; the response (and with it the connection, since its body is unread)
/// is dropped on return.
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> String {
    let mut buf = Vec::new();
    while buf.len() < cap {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = cap - buf.len();
                buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()
        .and_then(|v| parse_retry_after(v, now))
}

/// A `Retry-After` value (delay seconds or an HTTP-date) as the time it names. A date in the
/// past means "now"; anything unreadable is ignored (the normal backoff applies).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        // A silly value must not overflow the clock; a day is far beyond any sane Retry-After.
        let secs = secs.min(86_400) as i64;
        return Some(now + chrono::Duration::seconds(secs));
    }
    DateTime::parse_from_rfc2822(v)
        .ok()
        .map(|t| t.with_timezone(&Utc).max(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now: DateTime<Utc> = "2025-05-09T06:31:02Z".parse().unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(now + chrono::Duration::seconds(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(now), "zero means now");
        assert_eq!(
            parse_retry_after("Fri, 09 May 2025 06:32:00 GMT", now),
            Some("2025-05-09T06:32:00Z".parse().unwrap())
        );
        // A date in the past means now, not a time travel.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(now)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(
            parse_retry_after("99999999999", now),
            Some(now + chrono::Duration::days(1))
        );
    }
}
