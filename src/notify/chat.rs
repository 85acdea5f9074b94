//! The chat receivers' channel (Slack, Mattermost, Teams): renders a page of alerts through
//! the platform's file into messages (several only to respect the platform's limits), each
//! a part that carries some of the alerts, and POSTs one part at a time to the
//! incoming-webhook URL, which is a secret and never appears in an error. The round records
//! each part's alerts as it is delivered, so a retry resumes where a split cycle stopped, and
//! waits [`Chat::pace`] between parts (the platforms limit the rate of posts).
//!
//! Slack answers a successful post with the body `ok`; any other answer, even with a 200
//! (`invalid_token`, `channel_not_found`), is a refusal with that body in `last_error`.

use std::ops::Range;
use std::time::Duration;

use serde::Serialize;
use tracing::debug;

use super::batch::Part;
use super::digest::Digesting;
use super::render::short;
use super::{http, mattermost, slack, teams, NotifyError, SendError};
use crate::config::{ChatPlatform, SecretUrl};
use crate::model::Alert;

/// Slack's incoming webhooks take about one message a second (bursts are allowed, then 429).
const SLACK_PACE: Duration = Duration::from_secs(1);
/// Teams' Workflows webhooks throttle callers that post more than a few times a second.
const TEAMS_PACE: Duration = Duration::from_millis(500);
/// Mattermost limits per-server and is usually generous; a short pause keeps a burst polite.
const MATTERMOST_PACE: Duration = Duration::from_millis(200);

pub(super) struct Chat {
    platform: ChatPlatform,
    /// Above `digest_after` alerts, a page goes out as one digest.
    digesting: Digesting,
    client: reqwest::Client,
    url: SecretUrl,
    timeout: Duration,
}

/// One message of a cycle: the range of the cycle's alerts it carries, and its JSON body.
pub type Rendered = (Range<usize>, Vec<u8>);

/// The JSON bodies one cycle is sent as, in order, each with the alerts it carries.
pub fn render(
    platform: ChatPlatform,
    alerts: &[Alert],
    test: bool,
) -> Result<Vec<Rendered>, serde_json::Error> {
    fn encode<T: Serialize>(
        msgs: Vec<(Range<usize>, T)>,
    ) -> Result<Vec<Rendered>, serde_json::Error> {
        msgs.into_iter()
            .map(|(r, m)| Ok((r, serde_json::to_vec(&m)?)))
            .collect()
    }
    match platform {
        ChatPlatform::Slack => encode(slack::messages(alerts, test)),
        ChatPlatform::Mattermost => encode(mattermost::messages(alerts, test)),
        ChatPlatform::Teams => encode(teams::messages(alerts, test)),
    }
}

/// The one message a page of more than `digest_after` alerts is sent as, carrying them all;
/// `None` for a page that is not over it.
pub(super) fn render_digest(
    platform: ChatPlatform,
    alerts: &[Alert],
    digesting: &Digesting,
    test: bool,
) -> Option<Result<Vec<u8>, serde_json::Error>> {
    let d = digesting.of(alerts)?;
    Some(match platform {
        ChatPlatform::Slack => serde_json::to_vec(&slack::digest_message(&d, test)),
        ChatPlatform::Mattermost => serde_json::to_vec(&mattermost::digest_message(&d, test)),
        ChatPlatform::Teams => serde_json::to_vec(&teams::digest_message(&d, test)),
    })
}

impl Chat {
    pub(super) fn new(
        platform: ChatPlatform,
        digesting: Digesting,
        url: SecretUrl,
        timeout: Duration,
    ) -> Result<Chat, NotifyError> {
        Ok(Chat {
            platform,
            digesting,
            client: http::client(timeout)?,
            url,
            timeout,
        })
    }

    /// The messages a page of alerts is sent as: one digest carrying them all when there are
    /// more than `digest_after` (settled together when it is delivered), else the
    /// platform's split, in order.
    pub(super) fn parts(&self, alerts: &[Alert], test: bool) -> Result<Vec<Part>, SendError> {
        let encoding =
            |e: serde_json::Error| SendError::Permanent(format!("cannot encode the message: {e}"));
        if let Some(body) = render_digest(self.platform, alerts, &self.digesting, test) {
            return Ok(Part::numbered(vec![(
                0..alerts.len(),
                Some(body.map_err(encoding)?),
            )]));
        }
        let rendered = render(self.platform, alerts, test).map_err(encoding)?;
        Ok(Part::numbered(
            rendered.into_iter().map(|(r, b)| (r, Some(b))).collect(),
        ))
    }

    /// Posts one part, its body rendered by [`Chat::parts`].
    pub(super) async fn send(&self, receiver: &str, part: &Part) -> Result<(), SendError> {
        let body = part.body.clone().unwrap_or_default();
        debug!(
            receiver,
            platform = self.platform.name(),
            part = part.number + 1,
            of = part.of,
            bytes = body.len(),
            "posting a chat message"
        );
        let answer =
            http::post_json_answer(&self.client, self.url.expose(), body, self.timeout).await?;
        if self.platform == ChatPlatform::Slack && answer.trim() != "ok" {
            return Err(SendError::Permanent(format!(
                "Slack answered {:?} instead of \"ok\": not delivered",
                short(answer.trim(), 200)
            )));
        }
        Ok(())
    }

    /// The pause between two posts to the platform.
    pub(super) fn pace(&self) -> Duration {
        match self.platform {
            ChatPlatform::Slack => SLACK_PACE,
            ChatPlatform::Teams => TEAMS_PACE,
            ChatPlatform::Mattermost => MATTERMOST_PACE,
        }
    }
}
