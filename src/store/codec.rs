//! The primitives of the binary records: the format byte every record starts with, varints,
//! zigzag, values as a power-of-ten integer or the f64 itself, and a reader that reports
//! where bytes run out or go wrong ([`RecordError`]).

use chrono::{DateTime, Utc};

/// The layout version inside a record, so a later change can be read beside this one.
pub(super) const FORMAT: u8 = 1;

/// The value form kept as the f64 itself.
pub(super) const RAW: u8 = 15;
/// The most decimals tried before a value is kept as the f64 itself.
pub(super) const MAX_DECIMALS: u8 = 9;

/// Why a record's bytes do not decode.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    #[error("record ends early at byte {at} (reading {what})")]
    Truncated { at: usize, what: &'static str },
    #[error("record format {found} is unknown (this statwatch reads format {FORMAT})")]
    Format { found: u8 },
    #[error("bad {what} at byte {at}")]
    Bad { at: usize, what: &'static str },
}

/// The shortest form that gives `v` back bit for bit: `(form, m)` with v = m / 10^form, or
/// [`RAW`] (then `m` holds the f64's bits).
pub(super) fn value_form(v: f64) -> (u8, u64) {
    for form in 0..=MAX_DECIMALS {
        let scaled = v * 10f64.powi(i32::from(form));
        // Integers up to 2^53 are exact in an f64; beyond that, keep the f64.
        if scaled.abs() > 9_007_199_254_740_992.0 {
            break;
        }
        let m = scaled.round() as i64;
        if (m as f64 / 10f64.powi(i32::from(form))).to_bits() == v.to_bits() {
            return (form, zigzag(m));
        }
    }
    (RAW, v.to_bits())
}

pub(super) fn value(out: &mut Vec<u8>, form: u8, m: u64) {
    if form == RAW {
        out.extend_from_slice(&m.to_le_bytes());
    } else {
        varint(out, m);
    }
}

pub(super) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(super) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn string(out: &mut Vec<u8>, s: &str) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub(super) struct Reader<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) at: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn open(bytes: &'a [u8]) -> Result<Reader<'a>, RecordError> {
        let mut r = Reader { bytes, at: 0 };
        match r.byte("format")? {
            FORMAT => Ok(r),
            found => Err(RecordError::Format { found }),
        }
    }

    /// Whether every byte has been read.
    pub(super) fn done(&self) -> bool {
        self.at == self.bytes.len()
    }

    /// A length-prefixed run of bytes.
    pub(super) fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], RecordError> {
        let n = usize::try_from(self.varint(what)?).map_err(|_| self.bad(what))?;
        self.take(n, what)
    }

    pub(super) fn bad(&self, what: &'static str) -> RecordError {
        RecordError::Bad { at: self.at, what }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], RecordError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or(RecordError::Truncated { at: self.at, what })?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    pub(super) fn byte(&mut self, what: &'static str) -> Result<u8, RecordError> {
        Ok(self.take(1, what)?[0])
    }

    pub(super) fn varint(&mut self, what: &'static str) -> Result<u64, RecordError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte(what)?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.bad(what))
    }

    pub(super) fn value(&mut self, form: u8) -> Result<f64, RecordError> {
        match form {
            RAW => {
                let b = self.take(8, "value")?;
                Ok(f64::from_le_bytes(b.try_into().expect("8 bytes")))
            }
            0..=MAX_DECIMALS => {
                let m = unzigzag(self.varint("value")?);
                Ok(m as f64 / 10f64.powi(i32::from(form)))
            }
            _ => Err(self.bad("value form")),
        }
    }

    pub(super) fn string(&mut self) -> Result<String, RecordError> {
        let n = usize::try_from(self.varint("string length")?).map_err(|_| self.bad("length"))?;
        let b = self.take(n, "string")?;
        String::from_utf8(b.to_vec()).map_err(|_| self.bad("utf-8 text"))
    }

    pub(super) fn pick<'t, T>(
        &mut self,
        table: &'t [T],
        what: &'static str,
    ) -> Result<&'t T, RecordError> {
        let i = self.varint(what)?;
        usize::try_from(i)
            .ok()
            .and_then(|i| table.get(i))
            .ok_or(self.bad(what))
    }

    pub(super) fn tables(
        &mut self,
    ) -> Result<(Vec<crate::model::Label>, Vec<DateTime<Utc>>), RecordError> {
        let mut statuses = Vec::new();
        for _ in 0..self.varint("statuses")? {
            statuses.push(self.string()?.into());
        }
        let mut times = Vec::new();
        for _ in 0..self.varint("times")? {
            let secs = unzigzag(self.varint("seconds")?);
            let nanos = u32::try_from(self.varint("nanoseconds")?).map_err(|_| self.bad("time"))?;
            times.push(DateTime::from_timestamp(secs, nanos).ok_or(self.bad("time"))?);
        }
        Ok((statuses, times))
    }

    pub(super) fn end(&self) -> Result<(), RecordError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(self.bad("trailing bytes"))
        }
    }
}
