//! The GENESIS JSON envelope `Ident/Status{Code,Content,Type}/Parameter/Object|List`: its
//! status codes as an enum (the service answers HTTP 200 even on errors), the errors they
//! mean, and the message of an error body for the HTTP layer.

use serde::Deserialize;
use serde_json::Value;

use crate::sources::FetchError;

/// The GENESIS JSON envelope (the parts statwatch reads).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Envelope {
    pub(crate) status: Status,
    #[serde(default)]
    pub(crate) list: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Status {
    /// A number in every recording; accepted as text too.
    code: Value,
    #[serde(default)]
    content: Option<String>,
}

/// A GENESIS status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    /// 0: the request was answered as asked.
    Ok,
    /// 22: answered, with some parameters adjusted by the service.
    Adjusted,
    /// -1: an error (the content says which).
    Error,
    /// 90: the object does not exist.
    NotFound,
    /// 98: the table is too big for the dialog: ask for a job.
    TooBig,
    /// 99: a job was created; the content names its result.
    JobCreated,
    /// 104: nothing matches the selection.
    NoMatch,
    /// Any other code (logins, rights, ...), kept as the number.
    Other(i64),
}

impl Code {
    pub(crate) fn from_number(n: i64) -> Code {
        match n {
            0 => Code::Ok,
            22 => Code::Adjusted,
            -1 => Code::Error,
            90 => Code::NotFound,
            98 => Code::TooBig,
            99 => Code::JobCreated,
            104 => Code::NoMatch,
            n => Code::Other(n),
        }
    }

    pub(crate) fn number(self) -> i64 {
        match self {
            Code::Ok => 0,
            Code::Adjusted => 22,
            Code::Error => -1,
            Code::NotFound => 90,
            Code::TooBig => 98,
            Code::JobCreated => 99,
            Code::NoMatch => 104,
            Code::Other(n) => n,
        }
    }

    /// What the code means, for messages.
    fn meaning(self) -> Option<&'static str> {
        Some(match self {
            Code::Ok => "ok",
            Code::Adjusted => "parameters adjusted",
            Code::Error => "error",
            Code::NotFound => "not found",
            Code::TooBig => "table too big",
            Code::JobCreated => "job created",
            Code::NoMatch => "no match",
            Code::Other(_) => return None,
        })
    }
}

/// `98 (table too big)`, or the bare number for a code without a known meaning.
impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.meaning() {
            Some(m) => write!(f, "{} ({m})", self.number()),
            None => write!(f, "{}", self.number()),
        }
    }
}

impl Status {
    pub(crate) fn code(&self) -> Option<Code> {
        let n = match &self.code {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        n.map(Code::from_number)
    }

    /// The message on one line (GENESIS breaks its messages with `\n`).
    pub(crate) fn content(&self) -> String {
        self.content
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The error for this status when it is not the awaited one.
    pub(crate) fn error(&self) -> EnvelopeError {
        let content = self.content();
        match self.code() {
            Some(code) => EnvelopeError::Status { code, content },
            None => EnvelopeError::CodeNotANumber {
                code: self.code.to_string(),
                content,
            },
        }
    }
}

/// An envelope that is not the awaited answer.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum EnvelopeError {
    #[error("GENESIS status {code}: {content}")]
    Status { code: Code, content: String },
    #[error("GENESIS status {code} (not a number): {content}")]
    CodeNotANumber { code: String, content: String },
    #[error("{endpoint}: not a GENESIS envelope ({reason}): {snippet}")]
    NotAnEnvelope {
        endpoint: String,
        reason: String,
        snippet: String,
    },
}

impl From<EnvelopeError> for FetchError {
    fn from(e: EnvelopeError) -> FetchError {
        match e {
            EnvelopeError::NotAnEnvelope { .. } => FetchError::Schema(e.to_string()),
            EnvelopeError::Status { .. } | EnvelopeError::CodeNotANumber { .. } => {
                FetchError::Api(e.to_string())
            }
        }
    }
}

/// The error for an envelope status that is not the awaited one.
pub(crate) fn status_error(status: &Status) -> FetchError {
    status.error().into()
}

/// The message of an error body that is a GENESIS envelope (`Status.Content`), for the HTTP
/// layer's `ErrorBody` hook.
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    let v = serde_json::from_slice::<Value>(body).ok()?;
    v.pointer("/Status/Content")
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_without_a_known_code_keeps_its_text() {
        let s: Status =
            serde_json::from_str(r#"{"Code":15,"Content":"login failed","Type":"Fehler"}"#)
                .unwrap();
        assert_eq!(
            status_error(&s).to_string(),
            "the API answered with an error: GENESIS status 15: login failed"
        );
    }
}
