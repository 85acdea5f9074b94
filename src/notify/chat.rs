//! The chat receivers' channel (Slack, Mattermost, Teams): renders a cycle through the
//! platform's file into one message (or several, only to respect the platform's limits) and
//! POSTs them to the incoming-webhook URL, which is a secret and never appears in an error.
//!
//! When a cycle is split and a later part fails, the whole cycle is retried, earlier parts
//! included: delivery is at least once, and each alert carries its id for a reader to match.

use std::time::Duration;

use serde::Serialize;
use tracing::debug;

use super::{http, mattermost, slack, teams, NotifyError, SendError};
use crate::config::{ChatPlatform, SecretUrl};
use crate::model::Alert;

pub(super) struct Chat {
    platform: ChatPlatform,
    client: reqwest::Client,
    url: SecretUrl,
    timeout: Duration,
}

/// The JSON bodies one cycle is sent as, in order.
pub fn render(
    platform: ChatPlatform,
    alerts: &[Alert],
    test: bool,
) -> Result<Vec<Vec<u8>>, serde_json::Error> {
    fn encode<T: Serialize>(msgs: Vec<T>) -> Result<Vec<Vec<u8>>, serde_json::Error> {
        msgs.iter().map(serde_json::to_vec).collect()
    }
    match platform {
        ChatPlatform::Slack => encode(slack::messages(alerts, test)),
        ChatPlatform::Mattermost => encode(mattermost::messages(alerts, test)),
        ChatPlatform::Teams => encode(teams::messages(alerts, test)),
    }
}

impl Chat {
    pub(super) fn new(
        platform: ChatPlatform,
        url: SecretUrl,
        timeout: Duration,
    ) -> Result<Chat, NotifyError> {
        Ok(Chat {
            platform,
            client: http::client(timeout)?,
            url,
            timeout,
        })
    }

    pub(super) async fn send(
        &self,
        receiver: &str,
        alerts: &[Alert],
        test: bool,
    ) -> Result<(), SendError> {
        let bodies = render(self.platform, alerts, test)
            .map_err(|e| SendError::Permanent(format!("cannot encode the message: {e}")))?;
        let of = bodies.len();
        for (i, body) in bodies.into_iter().enumerate() {
            debug!(
                receiver,
                platform = self.platform.name(),
                part = i + 1,
                of,
                bytes = body.len(),
                "posting a chat message"
            );
            http::post_json(&self.client, self.url.expose(), body, self.timeout)
                .await
                .map_err(|e| in_part(e, i, of))?;
        }
        Ok(())
    }
}

/// Names the failed part of a split cycle in the error, for `last_error`.
fn in_part(e: SendError, i: usize, of: usize) -> SendError {
    if of == 1 {
        return e;
    }
    let label = |error: String| format!("message {} of {of}: {error}", i + 1);
    match e {
        SendError::Transient { error, retry_after } => SendError::Transient {
            error: label(error),
            retry_after,
        },
        SendError::Permanent(error) => SendError::Permanent(label(error)),
    }
}
