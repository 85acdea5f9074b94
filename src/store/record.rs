//! The binary records of schema 2: one record per series holding its observations (the hot
//! record every poll reads), and one beside it holding the series' earlier vintages.
//!
//! Both start with a format byte and two intern tables, so a status word or a first-seen
//! time shared by a whole table is stored once per series instead of once per observation:
//!
//! ```text
//! record     = format:u8  statuses  times  count:varint  item*
//! statuses   = n:varint ( len:varint utf8-bytes )*
//! times      = n:varint ( secs:zigzag-varint nanos:varint )*
//! obs item   = period-step:varint flags:u8 [source_period:str] value status:varint
//!              first_seen:varint [value_seen:varint]
//! rev item   = period-step:varint n:varint ( form:u8 value status:varint seen_at:varint )*
//! value      = zigzag-varint m, the value being m / 10^form   (form 0-9)
//!            | f64 little-endian                               (form 15)
//! ```
//!
//! A period is the code `(year - 1800) * 17 + k` with k = 0 for the year, 1-12 for months
//! and 13-16 for quarters, which sorts exactly like schema 1's text keys (`2024` <
//! `2024-01` < `2024-Q1`); items are in period order and each stores the step from the
//! previous code (1 for the next month). `flags` bits 0-1 say how `source_period` is kept:
//! 0 the CBS code (`2025MM03`, `2025KW01`, `2025JJ00`), 1 the period as text, 2 written out;
//! bit 2 set means `value_seen` equals `first_seen` (true until a revision); bits 4-7 are the
//! value's form. Published figures have a few decimals, so most values are an integer and a
//! power of ten (`-0.3` is -3 / 10^1, two bytes); a value that does not come back bit for bit
//! that way (`-0.0`, `1/3`) is kept as the f64 itself. A monthly observation of a first sync
//! costs 6 to 9 bytes.
//!
//! Values are refused before they are encoded (see [`check`]): NaN and infinity, and periods
//! that would not read back, never reach a record.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::codec::{string, value, value_form, varint, zigzag, Reader, RecordError, FORMAT};
use crate::model::{Label, Period, StoredObservation, Vintage, YEARS};

const SP_CBS: u8 = 0;
const SP_TEXT: u8 = 1;
const SP_OWN: u8 = 2;
const SAME_SEEN: u8 = 4;

/// Why an observation cannot be stored (it would not read back exactly).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    #[error("the value {value} is not finite")]
    NotFinite { value: f64 },
    #[error("the period {period:?} is out of range (year 1800 to 2200, month 1-12, quarter 1-4)")]
    Period { period: Period },
}

/// Checks that an observation can be stored and read back exactly.
pub(super) fn check(o: &StoredObservation) -> Result<(), Refused> {
    period_code(o.period)?;
    for value in std::iter::once(o.value).chain(o.revisions.iter().map(|v| v.value)) {
        if !value.is_finite() {
            return Err(Refused::NotFinite { value });
        }
    }
    Ok(())
}

fn period_code(p: Period) -> Result<u64, Refused> {
    let (year, k) = match p {
        Period::Year(y) => (y, 0),
        Period::Month(y, m) if (1..=12).contains(&m) => (y, u64::from(m)),
        Period::Quarter(y, q) if (1..=4).contains(&q) => (y, 12 + u64::from(q)),
        _ => return Err(Refused::Period { period: p }),
    };
    if !YEARS.contains(&year) {
        return Err(Refused::Period { period: p });
    }
    Ok((year - YEARS.start()) as u64 * 17 + k)
}

fn period_of(code: u64) -> Option<Period> {
    let year = i32::try_from(code / 17).ok()? + YEARS.start();
    let p = match (code % 17) as u8 {
        0 => Period::Year(year),
        k @ 1..=12 => Period::Month(year, k),
        k => Period::Quarter(year, k - 12),
    };
    YEARS.contains(&year).then_some(p)
}

/// The CBS code of a period, which is what CBS series carry as `source_period`.
fn cbs_code(p: Period) -> Label {
    match p {
        Period::Year(y) => smol_str::format_smolstr!("{y}JJ00"),
        Period::Quarter(y, q) => smol_str::format_smolstr!("{y}KW{q:02}"),
        Period::Month(y, m) => smol_str::format_smolstr!("{y}MM{m:02}"),
    }
}

/// Whether `s` is [`cbs_code`]`(p)`, without building it (once per stored observation).
fn is_cbs_code(s: &str, p: Period) -> bool {
    let b = s.as_bytes();
    if b.len() != 8 {
        return false;
    }
    let (year, tag, n) = match p {
        Period::Year(y) => (y, b"JJ", 0),
        Period::Quarter(y, q) => (y, b"KW", q),
        Period::Month(y, m) => (y, b"MM", m),
    };
    let digits = |d: &[u8]| {
        d.iter().try_fold(0i32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i32::from(c - b'0'))
        })
    };
    digits(&b[..4]) == Some(year) && &b[4..6] == tag && digits(&b[6..]) == Some(i32::from(n))
}

/// Values met more than once in a record, each written once and then named by index.
#[derive(Default)]
struct Interner<T: std::hash::Hash + Eq + Clone> {
    items: Vec<T>,
    index: HashMap<T, u64>,
}

impl<T: std::hash::Hash + Eq + Clone> Interner<T> {
    fn id(&mut self, v: &T) -> u64 {
        // A record has one or a few distinct statuses and times: a scan beats hashing.
        if let Some(i) = self.items.iter().take(4).position(|x| x == v) {
            return i as u64;
        }
        if let Some(i) = self.index.get(v) {
            return *i;
        }
        let i = self.items.len() as u64;
        self.items.push(v.clone());
        self.index.insert(v.clone(), i);
        i
    }
}

/// The body of a record is built first, so the tables it refers to can be written before it.
#[derive(Default)]
struct Writer {
    statuses: Interner<Label>,
    times: Interner<DateTime<Utc>>,
    body: Vec<u8>,
}

impl Writer {
    fn finish(self, count: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 64);
        out.push(FORMAT);
        varint(&mut out, self.statuses.items.len() as u64);
        for s in &self.statuses.items {
            string(&mut out, s);
        }
        varint(&mut out, self.times.items.len() as u64);
        for t in &self.times.items {
            varint(&mut out, zigzag(t.timestamp()));
            varint(&mut out, u64::from(t.timestamp_subsec_nanos()));
        }
        varint(&mut out, count as u64);
        out.extend_from_slice(&self.body);
        out
    }
}

/// What the encoder reads of an observation: a stored one, or a first sync's straight from
/// the download (see `EncodedSeries::first_sync`), without building a `StoredObservation`.
pub(super) struct View<'a> {
    pub(super) period: Period,
    pub(super) source_period: &'a str,
    pub(super) value: f64,
    pub(super) status: &'a Label,
    pub(super) first_seen: DateTime<Utc>,
    pub(super) value_seen: DateTime<Utc>,
}

impl<'a> From<&'a StoredObservation> for View<'a> {
    fn from(o: &'a StoredObservation) -> View<'a> {
        View {
            period: o.period,
            source_period: &o.source_period,
            value: o.value,
            status: &o.status,
            first_seen: o.first_seen,
            value_seen: o.value_seen,
        }
    }
}

/// Encodes a series' observations (without their revisions), in period order. Every one
/// must have passed [`check`].
pub(super) fn encode_series(obs: &BTreeMap<u64, StoredObservation>) -> Vec<u8> {
    encode_sorted(obs.iter().map(|(c, o)| (*c, o.into())), obs.len())
}

/// [`encode_series`] of `count` observations given in strictly ascending period code.
pub(super) fn encode_sorted<'a>(
    obs: impl Iterator<Item = (u64, View<'a>)>,
    count: usize,
) -> Vec<u8> {
    let mut w = Writer::default();
    let mut prev = 0;
    for (code, o) in obs {
        varint(&mut w.body, code - prev);
        prev = code;
        let (form, m) = value_form(o.value);
        let mut flags = if is_cbs_code(o.source_period, o.period) {
            SP_CBS
        } else if o.source_period == o.period.to_string().as_str() {
            SP_TEXT
        } else {
            SP_OWN
        };
        if o.value_seen == o.first_seen {
            flags |= SAME_SEEN;
        }
        w.body.push(flags | (form << 4));
        if flags & 3 == SP_OWN {
            string(&mut w.body, o.source_period);
        }
        value(&mut w.body, form, m);
        let status = w.statuses.id(o.status);
        varint(&mut w.body, status);
        let first = w.times.id(&o.first_seen);
        varint(&mut w.body, first);
        if flags & SAME_SEEN == 0 {
            let seen = w.times.id(&o.value_seen);
            varint(&mut w.body, seen);
        }
    }
    w.finish(count)
}

/// Encodes a series' earlier vintages, per period (periods without any are left out).
pub(super) fn encode_revisions(revs: &BTreeMap<u64, Vec<Vintage>>) -> Vec<u8> {
    let mut w = Writer::default();
    let mut count = 0;
    let mut prev = 0;
    for (code, list) in revs.iter().filter(|(_, l)| !l.is_empty()) {
        count += 1;
        varint(&mut w.body, code - prev);
        prev = *code;
        varint(&mut w.body, list.len() as u64);
        for v in list {
            let (form, m) = value_form(v.value);
            w.body.push(form);
            value(&mut w.body, form, m);
            let status = w.statuses.id(&v.status);
            varint(&mut w.body, status);
            let seen = w.times.id(&v.seen_at);
            varint(&mut w.body, seen);
        }
    }
    w.finish(count)
}

/// Reads a series record: its observations by period code, revisions left empty.
pub(super) fn decode_series(bytes: &[u8]) -> Result<BTreeMap<u64, StoredObservation>, RecordError> {
    let mut out = BTreeMap::new();
    read_series(bytes, false, |code, o| {
        out.insert(code, o);
    })?;
    Ok(out)
}

/// Reads the newest observation of a series record alone, with its period code (`None`: the
/// record holds none); the others are read past, not built.
pub(super) fn decode_newest(bytes: &[u8]) -> Result<Option<(u64, StoredObservation)>, RecordError> {
    let mut newest = None;
    read_series(bytes, true, |code, o| newest = Some((code, o)))?;
    Ok(newest)
}

/// Reads a series record, handing `keep` every observation, or only the newest
/// (`newest_only`): every item is checked, but only a kept one has its texts built.
fn read_series(
    bytes: &[u8],
    newest_only: bool,
    mut keep: impl FnMut(u64, StoredObservation),
) -> Result<(), RecordError> {
    let mut r = Reader::open(bytes)?;
    let (statuses, times) = r.tables()?;
    let mut code = 0u64;
    let count = r.varint("count")?;
    for i in 0..count {
        code = code
            .checked_add(r.varint("period")?)
            .ok_or(r.bad("period"))?;
        let period = period_of(code).ok_or(r.bad("period"))?;
        let flags = r.byte("flags")?;
        let own_period = match flags & 3 {
            SP_CBS | SP_TEXT => None,
            SP_OWN => Some(r.string()?),
            _ => return Err(r.bad("flags")),
        };
        let value = r.value(flags >> 4)?;
        let status = r.pick(&statuses, "status")?;
        let first_seen = *r.pick(&times, "first_seen")?;
        let value_seen = if flags & SAME_SEEN != 0 {
            first_seen
        } else {
            *r.pick(&times, "value_seen")?
        };
        if newest_only && i + 1 < count {
            continue;
        }
        let source_period = match (own_period, flags & 3) {
            (Some(own), _) => own.into(),
            (None, SP_CBS) => cbs_code(period),
            (None, _) => smol_str::format_smolstr!("{period}"),
        };
        let o = StoredObservation {
            period,
            source_period,
            value,
            status: status.clone(),
            first_seen,
            value_seen,
            revisions: Vec::new(),
        };
        keep(code, o);
    }
    r.end()
}

/// Reads a revisions record: earlier vintages by period code.
pub(super) fn decode_revisions(bytes: &[u8]) -> Result<BTreeMap<u64, Vec<Vintage>>, RecordError> {
    let mut r = Reader::open(bytes)?;
    let (statuses, times) = r.tables()?;
    let mut out = BTreeMap::new();
    let mut code = 0u64;
    for _ in 0..r.varint("count")? {
        code = code
            .checked_add(r.varint("period")?)
            .ok_or(r.bad("period"))?;
        period_of(code).ok_or(r.bad("period"))?;
        let n = r.varint("vintages")?;
        let mut list = Vec::new();
        for _ in 0..n {
            let form = r.byte("value form")?;
            let value = r.value(form)?;
            let status = r.pick(&statuses, "status")?.clone();
            let seen_at = *r.pick(&times, "seen_at")?;
            list.push(Vintage {
                value,
                status,
                seen_at,
            });
        }
        out.insert(code, list);
    }
    r.end()?;
    Ok(out)
}

/// The period code of an observation that passed [`check`].
pub(super) fn code_of(p: Period) -> Result<u64, Refused> {
    period_code(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::codec::{Reader, RAW};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn period_codes_sort_like_schema_1_keys_and_round_trip() {
        let ps = [
            Period::Year(2024),
            Period::Month(2024, 1),
            Period::Month(2024, 12),
            Period::Quarter(2024, 1),
            Period::Quarter(2024, 4),
            Period::Year(2025),
        ];
        let codes: Vec<u64> = ps.iter().map(|p| period_code(*p).unwrap()).collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
        let keys: Vec<String> = ps.iter().map(|p| p.sort_key()).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        for (p, c) in ps.iter().zip(codes) {
            assert_eq!(period_of(c), Some(*p));
        }
        assert!(period_code(Period::Month(2024, 13)).is_err());
        assert!(period_code(Period::Year(1799)).is_err());
    }

    #[test]
    fn values_come_back_bit_for_bit() {
        for v in [
            0.0,
            -0.0,
            -0.3,
            1.0,
            104.3,
            12345.0,
            1.0 / 3.0,
            1e300,
            -1e-300,
            5e-324,
            0.1 + 0.2,
            9_007_199_254_740_993.0,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            let (form, m) = value_form(v);
            let mut b = Vec::new();
            value(&mut b, form, m);
            let mut r = Reader { bytes: &b, at: 0 };
            assert_eq!(r.value(form).unwrap().to_bits(), v.to_bits(), "{v}");
        }
        assert_eq!(value_form(-0.3), (1, zigzag(-3)));
        assert_eq!(value_form(-0.0).0, RAW);
    }

    #[test]
    fn a_first_sync_month_of_small_values_costs_5_bytes() {
        let obs = |m: u8| StoredObservation {
            period: Period::Month(2025, m),
            source_period: format!("2025MM{m:02}").into(),
            value: f64::from(m) / 10.0,
            status: "Definitief".into(),
            first_seen: t("2025-05-09T04:31:00.123Z"),
            value_seen: t("2025-05-09T04:31:00.123Z"),
            revisions: vec![],
        };
        let map: BTreeMap<u64, _> = (1..=12)
            .map(|m| (period_code(Period::Month(2025, m)).unwrap(), obs(m)))
            .collect();
        let one = encode_series(&map.clone().into_iter().take(1).collect()).len();
        let all = encode_series(&map).len();
        assert_eq!((all - one) / 11, 5);
        assert_eq!(decode_series(&encode_series(&map)).unwrap(), map);
    }

    #[test]
    fn cbs_codes_are_recognised_without_building_them() {
        for p in [
            Period::Year(2024),
            Period::Quarter(1999, 3),
            Period::Month(2025, 11),
            Period::Month(1800, 1),
        ] {
            assert!(is_cbs_code(&cbs_code(p), p), "{p}");
        }
        let m = Period::Month(2025, 5);
        for s in [
            "2025MM5",
            "2025MM+5",
            "2025KW05",
            "2024MM05",
            "2025MM050",
            "2025-05",
            "é025MM0",
        ] {
            assert!(!is_cbs_code(s, m), "{s}");
        }
    }

    #[test]
    fn broken_bytes_are_errors_not_panics() {
        let map: BTreeMap<u64, _> = BTreeMap::new();
        let good = encode_series(&map);
        assert!(decode_series(&good).unwrap().is_empty());
        assert!(matches!(
            decode_series(&[9]),
            Err(RecordError::Format { found: 9 })
        ));
        assert!(decode_series(&[FORMAT, 0, 0, 5]).is_err());
        assert!(decode_revisions(b"{\"json\": 1}").is_err());
    }
}
