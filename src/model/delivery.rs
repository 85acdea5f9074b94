//! One alert's delivery to one receiver: the outbox entry and its state.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an alert stands with one receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        })
    }
}

/// One alert's delivery to one receiver: an outbox entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub alert_id: String,
    pub receiver: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Not before this time (backoff, or a receiver's `Retry-After`).
    pub next_attempt_at: DateTime<Utc>,
    /// A `Retry-After` deadline that even a forced retry (`poll`) must honour.
    pub not_before: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}
