//! What a GENESIS data call answered: a zip holding one file (unpacked within the byte cap),
//! a JSON envelope (a status), or an old unzipped CSV; the file's text encoding (UTF-8 with
//! or without BOM, or Latin-1).

use std::io::{Cursor, Read};

use tracing::debug;

use super::envelope::Envelope;
use crate::sources::http::snippet;
use crate::sources::FetchError;

/// Why a data answer could not be read (each becomes `FetchError::Schema`).
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum AnswerError {
    #[error("the zip holds no file (or is damaged at its start)")]
    EmptyZip,
    #[error("a JSON answer that is not a GENESIS envelope ({reason}); it may be truncated")]
    NotAnEnvelope { reason: String },
    #[error(
        "the answer is not a zip and not a GENESIS envelope ({len} bytes, starting with {hex} \
         = {snippet:?})"
    )]
    Unknown {
        len: usize,
        hex: String,
        snippet: String,
    },
    #[error("the zip is truncated or damaged ({reason}; {len} bytes received)")]
    Damaged { reason: String, len: usize },
    #[error("expected one file in the zip, found {}: {}", .names.len(), .names.join(", "))]
    FileCount { names: Vec<String> },
    #[error("cannot open {name} in the zip: {reason}")]
    Open { name: String, reason: String },
    #[error("cannot unpack {name} from the zip (truncated or damaged): {reason}")]
    Unpack { name: String, reason: String },
    #[error("{name} unpacks to more than {limit} bytes (max_response_bytes)")]
    TooLarge { name: String, limit: usize },
}

impl From<AnswerError> for FetchError {
    fn from(e: AnswerError) -> FetchError {
        FetchError::Schema(e.to_string())
    }
}

/// What a data call answered.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The CSV text from the zip (BOM removed).
    Csv(String),
    Envelope(Envelope),
}

/// Sorts a data answer: a zip (the file), a JSON envelope (a status), or an error.
#[cfg(test)]
pub(crate) fn read_answer(body: &[u8]) -> Result<Answer, AnswerError> {
    read_answer_within(body, crate::config::DEFAULT_MAX_RESPONSE_BYTES as usize)
}

/// `read_answer`, with the zip's file unpacked to at most `limit` bytes.
pub(crate) fn read_answer_within(body: &[u8], limit: usize) -> Result<Answer, AnswerError> {
    if body.starts_with(b"PK\x03\x04") {
        return Ok(Answer::Csv(decode_text(unzip_single(body, limit)?)));
    }
    if body.starts_with(b"PK") {
        return Err(AnswerError::EmptyZip);
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let head = text.trim_start_matches('\u{feff}').trim_start();
    if head.starts_with('{') {
        let json = body.strip_prefix("\u{feff}".as_bytes()).unwrap_or(body);
        return serde_json::from_slice::<Envelope>(json)
            .map(Answer::Envelope)
            .map_err(|e| AnswerError::NotAnEnvelope {
                reason: e.to_string(),
            });
    }
    // Older service versions sent the CSV unzipped; the header check below decides.
    if head.starts_with("statistics_code;") || head.starts_with("Statistik_Code;") {
        return Ok(Answer::Csv(decode_text(body.to_vec())));
    }
    Err(AnswerError::Unknown {
        len: body.len(),
        hex: hex::encode(&body[..body.len().min(8)]),
        snippet: snippet(&body[..body.len().min(40)]),
    })
}

/// The one file inside an ffcsv zip, size-capped.
fn unzip_single(body: &[u8], limit: usize) -> Result<Vec<u8>, AnswerError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(body)).map_err(|e| AnswerError::Damaged {
        reason: e.to_string(),
        len: body.len(),
    })?;
    let files: Vec<String> = zip.file_names().map(str::to_string).collect();
    if files.len() != 1 {
        return Err(AnswerError::FileCount { names: files });
    }
    let name = files[0].clone();
    let file = zip.by_index(0).map_err(|e| AnswerError::Open {
        name: name.clone(),
        reason: e.to_string(),
    })?;
    let mut out = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| AnswerError::Unpack {
            name: name.clone(),
            reason: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(AnswerError::TooLarge { name, limit });
    }
    Ok(out)
}

/// UTF-8 (with or without BOM) as GENESIS sends today; Latin-1 as older exports were.
pub(crate) fn decode_text(bytes: Vec<u8>) -> String {
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            debug!("ffcsv is not UTF-8, reading it as Latin-1");
            e.into_bytes().iter().map(|&b| b as char).collect()
        }
    };
    match text.strip_prefix('\u{feff}') {
        Some(t) => t.to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::destatis::envelope::{status_error, Code, Status};

    fn status(bytes: &[u8]) -> Status {
        match read_answer(bytes).unwrap() {
            Answer::Envelope(e) => e.status,
            Answer::Csv(_) => panic!("csv"),
        }
    }

    #[test]
    fn recorded_envelopes_map_to_clear_errors() {
        let s = status(include_bytes!(
            "../../../tests/fixtures/destatis/data_tablefile_63121-0001_de_status104_no-object.json"
        ));
        assert_eq!(
            status_error(&s).to_string(),
            "the API answered with an error: GENESIS status 104 (no match): Es gibt keine \
             Objekte zum angegebenen Selektionskriterium"
        );
        let s = status(include_bytes!(
            "../../../tests/fixtures/destatis/data_tablefile_61111-0021_de_status-1_error.json"
        ));
        let m = status_error(&s).to_string();
        assert!(
            m.contains("GENESIS status -1 (error): Für die Teiltabelle") && !m.contains('\n'),
            "{m}"
        );
        let s = status(include_bytes!(
            "../../../tests/fixtures/destatis/data_tablefile_12531-0043_status98_table-too-big.json"
        ));
        assert_eq!(s.code(), Some(Code::TooBig));
    }

    #[test]
    fn broken_answers() {
        let zip = include_bytes!(
            "../../../tests/fixtures/destatis/data_tablefile_81000-0001_de_ffcsv.zip"
        );
        let e = read_answer(&zip[..zip.len() / 2]).unwrap_err();
        assert!(e.to_string().contains("truncated or damaged"), "{e}");
        let e = read_answer(b"\x00\x01\x02garbage").unwrap_err();
        assert!(
            e.to_string()
                .contains("not a zip and not a GENESIS envelope"),
            "{e}"
        );
        let bom = "\u{feff}{\"Status\":{\"Code\":90,\"Content\":\"nicht gefunden\"}}";
        let Answer::Envelope(env) = read_answer(bom.as_bytes()).unwrap() else {
            panic!("a BOM before the envelope");
        };
        assert_eq!(
            status_error(&env.status).to_string(),
            "the API answered with an error: GENESIS status 90 (not found): nicht gefunden"
        );
        let e = read_answer(br#"{"Ident":{"Service":"data"},"Status":{"Co"#).unwrap_err();
        assert!(e.to_string().contains("may be truncated"), "{e}");
    }
}
