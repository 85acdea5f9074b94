//! The text log's writer: each event is one line, whatever its fields hold. A source's key,
//! title or error message can carry a newline (a forged log line) or other control
//! characters; tracing's text format prints `%` fields and messages as they are, so every
//! control character inside an event is escaped here (`\n`, `\u{1b}`), once for all fields.
//! (The JSON format escapes them itself; passing it through here changes nothing.) Also
//! [`install`]: the process's subscriber, with the `log` crate's records but sled's.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Writes events to stderr, one line each. `ansi`: the colour codes the formatter itself
/// puts in are kept (only on a terminal).
#[derive(Clone, Copy)]
pub struct OneLine {
    pub ansi: bool,
}

/// One event's writer (the formatter writes a whole event, ending in `\n`, at once).
pub struct Escaping {
    ansi: bool,
}

impl<'a> MakeWriter<'a> for OneLine {
    type Writer = Escaping;

    fn make_writer(&'a self) -> Escaping {
        Escaping { ansi: self.ansi }
    }
}

/// `event` with every control character but its final line break escaped.
pub fn escape(event: &str, ansi: bool) -> String {
    let (body, end) = match event.strip_suffix('\n') {
        Some(b) => (b, "\n"),
        None => (event, ""),
    };
    let mut out = String::with_capacity(event.len());
    for c in body.chars() {
        if c.is_control() && !(ansi && c == '\u{1b}') {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out.push_str(end);
    out
}

impl Write for Escaping {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        io::stderr().write_all(escape(&text, self.ansi).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Installs `subscriber` for the process, with the `log` crate's records forwarded to it,
/// except sled's: sled logs from closures that its epoch collector may run in a thread's
/// thread-local destructors, after the subscriber's own thread-locals are gone, and a panic
/// there aborts the process ("thread local panicked on drop"). Its records are internals;
/// its errors reach us as `Err`.
pub fn install<S>(subscriber: S)
where
    S: tracing::Subscriber + Send + Sync + 'static,
{
    // Only the first call in a process takes effect (tests install once per binary).
    if tracing::subscriber::set_global_default(subscriber).is_ok() {
        let _ = tracing_log::LogTracer::builder()
            .ignore_crate("sled")
            .init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_stays_one_line() {
        let forged = "WARN key=X\nERROR statwatch: forged\r\0\u{1b}[2J\ttab\n";
        assert_eq!(
            escape(forged, false),
            "WARN key=X\\nERROR statwatch: forged\\r\\0\\u{1b}[2J\\ttab\n"
        );
        assert_eq!(
            escape("\u{1b}[1mINFO\u{1b}[0m ok\n", true),
            "\u{1b}[1mINFO\u{1b}[0m ok\n"
        );
        assert_eq!(escape("Zürich ✓\n", false), "Zürich ✓\n");
    }
}
