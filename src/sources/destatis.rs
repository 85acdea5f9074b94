//! Destatis GENESIS-Online web service (REST 2020). Not implemented yet.

use super::http::HttpError;
use super::{Check, FetchError, TableData};
use crate::config::{SeriesConfig, SourceConfig};

pub struct Destatis {}

impl Destatis {
    pub fn new(_cfg: &SourceConfig) -> Result<Destatis, HttpError> {
        Ok(Destatis {})
    }

    pub async fn check(&self, _table: &str, _known: Option<&str>) -> Result<Check, FetchError> {
        Err(FetchError::Api(
            "the destatis source is not implemented yet".into(),
        ))
    }

    pub async fn fetch(
        &self,
        _table: &str,
        _series: &[SeriesConfig],
    ) -> Result<TableData, FetchError> {
        Err(FetchError::Api(
            "the destatis source is not implemented yet".into(),
        ))
    }
}
