//! `statwatch alerts [--pending] [--json] [--limit N [--offset M]]`: the delivery log, oldest
//! first, printed as it is read, a chunk ([`ALERT_CHUNK`] entries) at a time from the daemon
//! or the store, so neither side ever holds the whole log (200,000 entries once took the
//! daemon hundreds of MB to answer). `--json` is still one JSON list, written element by
//! element. `--limit N` shows the N newest (after skipping the `--offset` newest), still
//! oldest first: `--offset 100 --limit 100` is the hundred before the last hundred.

use std::io::Write;

use super::{first_answer, CliError, Reader};
use crate::config::Config;
use crate::query::{alert_json, alert_text, AlertChunk, AlertRow, Query, ALERT_CHUNK};
use crate::store::LogOrder;

/// What `statwatch alerts` was asked to show.
#[derive(Debug, Clone, Copy)]
pub struct AlertsArgs {
    pub pending: bool,
    pub json: bool,
    pub limit: Option<usize>,
    pub offset: usize,
}

/// `statwatch alerts`.
pub fn alerts(config: &Config, args: AlertsArgs) -> Result<(), CliError> {
    let mut out = Output::new(args.json);
    let order = match args.limit {
        None => LogOrder::OldestFirst,
        Some(_) => LogOrder::NewestFirst,
    };
    let mut chunks = Chunks {
        config,
        reader: None,
        query: Query::AlertLog {
            pending: args.pending,
            order,
            from: None,
            // No more than is wanted: a short --limit asks for a short chunk.
            limit: args.limit.map_or(ALERT_CHUNK, |n| {
                n.saturating_add(args.offset).clamp(1, ALERT_CHUNK)
            }),
        },
        done: false,
    };
    let Some(limit) = args.limit else {
        while let Some(chunk) = chunks.next_chunk()? {
            chunk.iter().for_each(|r| out.row(r));
        }
        return out.end();
    };
    // The newest `offset + limit`, newest first: skip `offset`, keep `limit`, print reversed.
    let mut skip = args.offset;
    let mut kept: Vec<AlertRow> = Vec::new();
    while kept.len() < limit {
        let Some(chunk) = chunks.next_chunk()? else {
            break;
        };
        let len = chunk.len();
        kept.extend(chunk.into_iter().skip(skip).take(limit - kept.len()));
        skip = skip.saturating_sub(len);
    }
    kept.iter().rev().for_each(|r| out.row(r));
    out.end()
}

/// The log's chunks in order, each asked for from where the last one ended.
struct Chunks<'a> {
    config: &'a Config,
    reader: Option<Reader>,
    query: Query,
    done: bool,
}

impl Chunks<'_> {
    fn next_chunk(&mut self) -> Result<Option<Vec<AlertRow>>, CliError> {
        if self.done {
            return Ok(None);
        }
        let text = match &self.reader {
            Some(reader) => reader.answer(self.config, &self.query)?,
            None => {
                let (reader, text) = first_answer(self.config, &self.query)?;
                self.reader = Some(reader);
                text
            }
        };
        let chunk: AlertChunk = serde_json::from_str(&text)
            .map_err(|e| CliError::Runtime(format!("the delivery log's answer is not one: {e}")))?;
        self.done = !chunk.more || chunk.rows.is_empty();
        if let (Query::AlertLog { from, .. }, Some(last)) = (&mut self.query, chunk.rows.last()) {
            *from = Some(last.cursor.clone());
        }
        Ok(Some(chunk.rows))
    }
}

/// Rows written to stdout as they come: text lines, or the elements of one JSON list laid
/// out as `serde_json::to_string_pretty` lays out the whole list.
struct Output {
    out: std::io::StdoutLock<'static>,
    json: bool,
    rows: usize,
}

impl Output {
    fn new(json: bool) -> Output {
        Output {
            out: std::io::stdout().lock(),
            json,
            rows: 0,
        }
    }

    fn row(&mut self, r: &AlertRow) {
        let text = if self.json {
            let object = serde_json::to_string_pretty(&alert_json(r)).expect("json");
            let indented = object.replace('\n', "\n  ");
            let sep = if self.rows == 0 { "[\n  " } else { ",\n  " };
            format!("{sep}{indented}")
        } else {
            alert_text(r)
        };
        self.rows += 1;
        // A closed pipe (`| head`) ends the output, not the command with an error.
        let _ = self.out.write_all(text.as_bytes());
    }

    fn end(mut self) -> Result<(), CliError> {
        if self.json {
            let end = if self.rows == 0 { "[]\n" } else { "\n]\n" };
            let _ = self.out.write_all(end.as_bytes());
        }
        let _ = self.out.flush();
        Ok(())
    }
}
