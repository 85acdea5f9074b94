//! The cheap change check of every table of a CBS source in one request (or a few):
//! `ODataCatalog/Tables` with `$filter=Identifier eq 'A' or Identifier eq 'B' ...` and
//! `$select` of the stamp fields. StatLine runs on IIS, whose default limit on a query
//! string is 2,048 bytes, so a long list of tables is split over several requests.
//! A table the catalogue does not answer for (or a catalogue that fails) is checked through
//! its own `TableInfos`, as before.

use std::collections::BTreeMap;

use tracing::{debug, warn};
use url::Url;

use super::odata::odata_str;
use super::{Cbs, TableInfo};
use crate::sources::{Check, FetchError};

/// Bytes a catalogue query string may take (percent-encoded), below IIS's 2,048.
pub(crate) const MAX_QUERY: usize = 2000;

/// The stamp fields only: an unchanged poll of a hundred tables stays under 10 KB. A table
/// the catalogue calls discontinued is asked again through `TableInfos`, whose reason and
/// title make the loud message. `MetaDataModified` moves alone when only the metadata
/// changed (a key recoded, a unit renamed, the table stopped).
const SELECT: &str = "Identifier,Modified,MetaDataModified,OutputStatus";

impl Cbs {
    fn catalogue_url(&self, tables: &[&str]) -> Url {
        let filter = tables
            .iter()
            .map(|t| format!("Identifier eq {}", odata_str(t)))
            .collect::<Vec<_>>()
            .join(" or ");
        self.catalogue_query(&filter, SELECT)
    }

    /// `ODataCatalog/Tables` with this `$filter` and `$select`.
    pub(super) fn catalogue_query(&self, filter: &str, select: &str) -> Url {
        let mut url = self.pages.base.clone();
        {
            let mut segs = url.path_segments_mut().expect("http(s) URLs have paths");
            segs.pop_if_empty();
            segs.extend(["ODataCatalog", "Tables"]);
        }
        url.query_pairs_mut()
            .append_pair("$format", "json")
            .append_pair("$filter", filter)
            .append_pair("$select", select);
        url
    }

    /// The catalogue URLs for `tables`: as few as fit, each query string within
    /// [`MAX_QUERY`] bytes (a single table always gets one).
    pub(crate) fn catalogue_urls(&self, tables: &[&str]) -> Vec<Url> {
        let mut urls = Vec::new();
        let mut chunk: Vec<&str> = Vec::new();
        for t in tables {
            chunk.push(t);
            let fits = self.catalogue_url(&chunk).query().map_or(0, str::len) <= MAX_QUERY;
            if !fits && chunk.len() > 1 {
                chunk.pop();
                urls.push(self.catalogue_url(&chunk));
                chunk = vec![t];
            }
        }
        if !chunk.is_empty() {
            urls.push(self.catalogue_url(&chunk));
        }
        urls
    }

    /// Checks every table of `known` (table -> the stored stamp) against the catalogue.
    pub async fn check_all(
        &self,
        known: &[(String, Option<String>)],
    ) -> BTreeMap<String, Result<Check, FetchError>> {
        let tables: Vec<&str> = known.iter().map(|(t, _)| t.as_str()).collect();
        let mut infos: BTreeMap<String, TableInfo> = BTreeMap::new();
        for url in self.catalogue_urls(&tables) {
            match self
                .pages
                .get_all::<TableInfo>(url, "ODataCatalog/Tables")
                .await
            {
                Ok(rows) => {
                    for r in rows {
                        infos.insert(r.identifier.to_lowercase(), r);
                    }
                }
                Err(e) => {
                    warn!(error = %e, "the CBS catalogue failed: checking each table's TableInfos");
                }
            }
        }
        let mut out = BTreeMap::new();
        for (table, stamp) in known {
            let result = match infos.remove(&table.to_lowercase()) {
                Some(info) if !discontinued(&info) => judge(table, info, stamp.as_deref()),
                _ => {
                    debug!(
                        table,
                        "not in the catalogue answer, or discontinued: asking TableInfos"
                    );
                    self.check(table, stamp.as_deref()).await
                }
            };
            out.insert(table.clone(), result);
        }
        out
    }
}

pub(super) fn discontinued(info: &TableInfo) -> bool {
    stopped_status(info.output_status.as_deref())
}

/// Whether an `OutputStatus` says the table is stopped.
pub(super) fn stopped_status(status: Option<&str>) -> bool {
    let status = status.unwrap_or("");
    status.eq_ignore_ascii_case("Gediscontinueerd") || status.eq_ignore_ascii_case("Discontinued")
}

/// A table's stamp against the stored one; a discontinued table fails loudly.
pub(super) fn judge(
    table: &str,
    info: TableInfo,
    known: Option<&str>,
) -> Result<Check, FetchError> {
    if discontinued(&info) {
        let why = format!(
            "OutputStatus {}, ReasonDelivery {}, last modified {}{}",
            info.output_status.as_deref().unwrap_or(""),
            info.reason_delivery.as_deref().unwrap_or("-"),
            info.modified,
            info.short_title
                .map(|t| format!(", {t:?}"))
                .unwrap_or_default(),
        );
        tracing::error!(table, %why, "CBS table is discontinued");
        return Err(FetchError::Discontinued(why));
    }
    // The data's stamp alone while the metadata is not newer, so stamps stored before
    // `MetaDataModified` was read still match.
    let stamp = match info.meta_data_modified {
        Some(meta) if meta.as_str() > info.modified.as_str() => {
            format!("{} meta {meta}", info.modified)
        }
        _ => info.modified,
    };
    if known == Some(stamp.as_str()) {
        Ok(Check::Unchanged)
    } else {
        Ok(Check::Changed { stamp })
    }
}
