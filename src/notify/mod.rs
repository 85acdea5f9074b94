//! Alert delivery through the durable outbox (placeholder until the delivery work lands).

use crate::config::Config;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{0}")]
    Other(String),
}

pub enum Mode {
    Poll,
    Due,
}

#[derive(Debug, Default)]
pub struct DeliveryReport {
    pub receivers: Vec<ReceiverReport>,
}

#[derive(Debug)]
pub struct ReceiverReport {
    pub receiver: String,
    pub delivered: usize,
    pub failed: usize,
    pub pending: usize,
    pub error: Option<String>,
}

impl DeliveryReport {
    pub fn failed(&self) -> bool {
        false
    }
}

pub struct Notifier {}

impl Notifier {
    pub fn new(_config: &Config) -> Result<Notifier, NotifyError> {
        Ok(Notifier {})
    }
    pub async fn deliver(&self, _store: &Store, _mode: Mode) -> Result<DeliveryReport, StoreError> {
        Ok(DeliveryReport::default())
    }
    pub async fn test(&self, _receiver: &str) -> Result<(), NotifyError> {
        Err(NotifyError::Other("not implemented".into()))
    }
    pub fn next_due(_store: &Store) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        Ok(None)
    }
}
