//! OData v3 as StatLine speaks it: the page envelope `{"value": [...], "odata.nextLink"?}`
//! read as a stream, paging to the end within the row and page caps, nextLinks kept on the
//! configured origin, `$filter` literals, and the `odata.error` body of a failed request.

use std::collections::BTreeSet;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use url::Url;

use super::super::http::{Expect, Http};
use super::super::FetchError;

/// Pages allowed per entity set: one for every this many rows of `max_rows_per_table`.
/// A full CBS page holds 10,000 cells, a few thousand rows; only a last page is small, so a
/// run of tiny (or empty) pages is a server paging forever.
const ROWS_PER_PAGE_ALLOWED: usize = 100;
/// At least this many pages, whatever `max_rows_per_table` says.
const MIN_PAGES: usize = 10;

/// Why paging through an entity set stopped short (each becomes `FetchError::Schema`).
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum OdataError {
    #[error("{what} (page {page}) is not an OData v3 envelope: {reason}")]
    NotAnEnvelope {
        what: String,
        page: usize,
        reason: String,
    },
    #[error("{what}: more than {max_rows} rows (max_rows_per_table)")]
    TooManyRows { what: String, max_rows: usize },
    #[error(
        "{what}: more than {max_pages} pages (max_rows_per_table / {ROWS_PER_PAGE_ALLOWED}); \
         the server keeps sending odata.nextLink"
    )]
    TooManyPages { what: String, max_pages: usize },
    #[error("{what}: bad odata.nextLink {next:?}: {reason}")]
    BadLink {
        what: String,
        next: String,
        reason: String,
    },
    #[error(
        "{what}: odata.nextLink {link} is on another origin than base_url ({origin}) and is \
         not a StatLine ODataApi path: not followed"
    )]
    OffOrigin {
        what: String,
        link: String,
        origin: String,
    },
    #[error("{what}: odata.nextLink loops back to {next}")]
    Loop { what: String, next: String },
}

impl From<OdataError> for FetchError {
    fn from(e: OdataError) -> FetchError {
        FetchError::Schema(e.to_string())
    }
}

/// The message of an OData error body (`odata.error.message.value`, or the JSON-light
/// `error.message`), for the HTTP layer's `ErrorBody` hook.
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    let v = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    v.pointer("/odata.error/message/value")
        .or_else(|| v.pointer("/error/message/value"))
        .or_else(|| v.pointer("/error/message"))
        .and_then(|m| m.as_str())
        .map(str::to_string)
}

/// Quotes a string literal for an OData `$filter`.
pub(crate) fn odata_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Where and how far an entity set is paged.
pub(crate) struct Pager {
    pub(crate) http: Http,
    pub(crate) base: Url,
    pub(crate) max_rows: usize,
    pub(crate) max_pages: usize,
}

impl Pager {
    /// Paging over `http`, on `base`'s origin, within `max_rows` rows (and a page cap
    /// derived from it).
    pub(crate) fn new(http: Http, base: Url, max_rows: usize) -> Pager {
        Pager {
            http,
            base,
            max_rows,
            max_pages: (max_rows / ROWS_PER_PAGE_ALLOWED).max(MIN_PAGES),
        }
    }

    /// GETs an entity set, following `odata.nextLink` to the end.
    pub(crate) async fn get_all<T: serde::de::DeserializeOwned>(
        &self,
        first: Url,
        what: &str,
    ) -> Result<Vec<T>, FetchError> {
        let mut out = Vec::new();
        self.get_pages(first, what, std::marker::PhantomData::<T>, |row| {
            out.push(row);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// GETs an entity set page by page, following `odata.nextLink` to the end, handing each
    /// row (read by `seed`) to `on_row` as it is parsed (so a large table never sits in
    /// memory as JSON), and stopping at the row and page caps.
    pub(crate) async fn get_pages<S, T>(
        &self,
        first: Url,
        what: &str,
        seed: S,
        mut on_row: impl FnMut(T) -> Result<(), FetchError>,
    ) -> Result<(), FetchError>
    where
        S: for<'de> DeserializeSeed<'de, Value = T> + Copy,
    {
        let mut url = first;
        let mut seen = BTreeSet::new();
        let mut rows = 0usize;
        let max_rows = self.max_rows;
        for page in 1..=self.max_pages {
            let reply = self
                .http
                .get(&url, Expect::Json)
                .await
                .map_err(FetchError::http(format!("{what} (page {page})")))?;
            let mut counted = |row: T| {
                rows += 1;
                if rows > max_rows {
                    let what = what.to_string();
                    return Err(OdataError::TooManyRows { what, max_rows }.into());
                }
                on_row(row)
            };
            let next = read_page(&reply.body, seed, &mut counted).map_err(|e| match e {
                PageError::Row(e) => e,
                PageError::Json(e) => FetchError::from(OdataError::NotAnEnvelope {
                    what: what.to_string(),
                    page,
                    reason: e.to_string(),
                }),
            })?;
            // The body is done with before the next one is read.
            drop(reply);
            let Some(next) = next else {
                return Ok(());
            };
            let next = self.follow(what, &url, &next)?;
            if !seen.insert(next.to_string()) {
                let what = what.to_string();
                let next = next.to_string();
                return Err(OdataError::Loop { what, next }.into());
            }
            url = next;
        }
        Err(OdataError::TooManyPages {
            what: what.to_string(),
            max_pages: self.max_pages,
        }
        .into())
    }

    /// Resolves a nextLink. CBS writes absolute links to its public host; they are re-based
    /// onto the configured base URL so a proxy or mirror (or a test server) keeps working.
    /// Any other link off the configured origin is refused: its host was never configured,
    /// so neither a request to it nor its data is trusted.
    fn follow(&self, what: &str, current: &Url, next: &str) -> Result<Url, OdataError> {
        let link = current.join(next).map_err(|e| OdataError::BadLink {
            what: what.to_string(),
            next: next.to_string(),
            reason: e.to_string(),
        })?;
        let path = link.path();
        let Some(at) = path.find("/ODataApi/") else {
            if link.origin() == self.base.origin() {
                return Ok(link);
            }
            return Err(OdataError::OffOrigin {
                what: what.to_string(),
                origin: self.base.origin().ascii_serialization(),
                link: link.to_string(),
            });
        };
        let mut url = self.base.clone();
        let base_path = self.base.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base_path}{}", &path[at..]));
        url.set_query(link.query());
        Ok(url)
    }
}

/// Why a page could not be read: its JSON, or what `on_row` said about a row.
pub(crate) enum PageError {
    Json(serde_json::Error),
    Row(FetchError),
}

/// Reads one OData v3 envelope, handing each element of `value` to `on_row` as soon as it
/// is parsed (a streaming visitor: the rows never exist as one `Vec` of maps), and returns
/// its `odata.nextLink`.
pub(crate) fn read_page<S, T>(
    body: &[u8],
    seed: S,
    on_row: &mut dyn FnMut(T) -> Result<(), FetchError>,
) -> Result<Option<String>, PageError>
where
    S: for<'de> DeserializeSeed<'de, Value = T> + Copy,
{
    let mut stop = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    let next = PageSeed {
        seed,
        on_row,
        stop: &mut stop,
    }
    .deserialize(&mut de)
    .and_then(|next| de.end().map(|()| next));
    match (next, stop) {
        (_, Some(e)) => Err(PageError::Row(e)),
        (Ok(next), None) => Ok(next),
        (Err(e), None) => Err(PageError::Json(e)),
    }
}

struct PageSeed<'a, S, T> {
    seed: S,
    on_row: &'a mut dyn FnMut(T) -> Result<(), FetchError>,
    /// The row error that stopped the parse (serde can only carry a message).
    stop: &'a mut Option<FetchError>,
}

impl<'de, S, T> DeserializeSeed<'de> for PageSeed<'_, S, T>
where
    S: for<'r> DeserializeSeed<'r, Value = T> + Copy,
{
    type Value = Option<String>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, S, T> Visitor<'de> for PageSeed<'_, S, T>
where
    S: for<'r> DeserializeSeed<'r, Value = T> + Copy,
{
    type Value = Option<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an OData v3 envelope {\"value\": [...], \"odata.nextLink\"?}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut next = None;
        let mut has_value = false;
        let PageSeed { seed, on_row, stop } = self;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "value" if !has_value => {
                    has_value = true;
                    map.next_value_seed(RowsSeed {
                        seed,
                        on_row: &mut *on_row,
                        stop: &mut *stop,
                    })?;
                }
                "value" => return Err(de::Error::duplicate_field("value")),
                "odata.nextLink" => next = map.next_value::<Option<String>>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !has_value {
            return Err(de::Error::missing_field("value"));
        }
        Ok(next)
    }
}

struct RowsSeed<'a, S, T> {
    seed: S,
    on_row: &'a mut dyn FnMut(T) -> Result<(), FetchError>,
    stop: &'a mut Option<FetchError>,
}

impl<'de, S, T> DeserializeSeed<'de> for RowsSeed<'_, S, T>
where
    S: for<'r> DeserializeSeed<'r, Value = T> + Copy,
{
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, S, T> Visitor<'de> for RowsSeed<'_, S, T>
where
    S: for<'r> DeserializeSeed<'r, Value = T> + Copy,
{
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(row) = seq.next_element_seed(self.seed)? {
            if let Err(e) = (self.on_row)(row) {
                *self.stop = Some(e);
                return Err(de::Error::custom("stopped by a row"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::http::{check, Reply};
    use reqwest::StatusCode;

    #[test]
    fn odata_error_bodies_give_their_message() {
        let r = Reply {
            content_type: "application/json;odata=minimalmetadata".into(),
            body: br#"{"odata.error":{"code":"","message":{"lang":"en-US","value":"Table 'X' not found."}}}"#.to_vec(),
        };
        let e = check(StatusCode::NOT_FOUND, &r, Expect::Json, error_message).unwrap_err();
        assert_eq!(e.to_string(), "HTTP 404: Table 'X' not found.");
        assert_eq!(
            error_message(br#"{"error":{"message":"short form"}}"#).as_deref(),
            Some("short form")
        );
        assert_eq!(error_message(b"<html></html>"), None);
    }

    #[test]
    fn filter_literals_double_their_quotes() {
        assert_eq!(odata_str("a'b"), "'a''b'");
    }
}
