//! The one delivery backoff, and what an attempt does to the entries of a message: pure state
//! transitions ([`claim`] before a send, [`settle`] after it) with the clock and the jitter as
//! inputs, so they are tested with literal values.
//!
//! A message carries one receiver's entries and they share its fate: one outcome, one next
//! attempt (from the highest attempt count among them), so entries that were grouped once stay
//! grouped when they come due again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use super::SendError;
use crate::model::{Delivery, DeliveryState};
use crate::retry;

/// The delivery backoff and the pauses within one `poll`, as [`crate::retry`] policies.
pub(crate) struct Backoff;

impl Backoff {
    /// Between delivery cycles: from 30 s, doubling per attempt, at most 15 min, minus up to
    /// 20 % so receivers that failed together do not retry in lockstep.
    pub(crate) const DELIVERY: retry::Policy = retry::Policy {
        base: Duration::from_secs(30),
        cap: Duration::from_secs(15 * 60),
        jitter: retry::Jitter::Down(0.2),
    };

    /// Between the attempts of one `poll`: `base`, then twice as long; no jitter.
    pub(crate) fn in_poll(base: Duration) -> retry::Policy {
        retry::Policy {
            base,
            cap: Duration::MAX,
            jitter: retry::Jitter::None,
        }
    }
}

/// How entries are rescheduled: the backoff, and this attempt's jitter draw (0 to 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Policy {
    pub backoff: retry::Policy,
    pub draw: f64,
}

impl Policy {
    /// The delivery backoff with a fresh jitter draw.
    pub(crate) fn delivery(rng: &mut impl Rng) -> Policy {
        Policy {
            backoff: Backoff::DELIVERY,
            draw: rng.gen_range(0.0..=1.0),
        }
    }

    /// When the next attempt may be made after `attempts` failed ones, from `now`.
    fn next_after(&self, attempts: u32, now: DateTime<Utc>) -> DateTime<Utc> {
        let pause = retry::delay_drawn(attempts, &self.backoff, self.draw);
        now + chrono::Duration::from_std(pause).unwrap_or(chrono::Duration::MAX)
    }
}

/// The entries as recorded BEFORE a send: one more attempt, the next one after the backoff.
/// If the process dies or the store fails after the send, they come due again only then.
pub(crate) fn claim(entries: &[Delivery], now: DateTime<Utc>, policy: &Policy) -> Vec<Delivery> {
    entries
        .iter()
        .map(|d| {
            let attempts = d.attempts + 1;
            Delivery {
                attempts,
                next_attempt_at: policy.next_after(attempts, now),
                ..d.clone()
            }
        })
        .collect()
}

/// The entries of a message after its send: delivered; failed for good on a permanent
/// refusal; else pending, next at `now` + backoff or the receiver's Retry-After if later, which
/// is also kept as `not_before` (honoured even by a forced retry).
pub(crate) fn settle(
    entries: &[Delivery],
    outcome: &Result<(), SendError>,
    now: DateTime<Utc>,
    policy: &Policy,
) -> Vec<Delivery> {
    let attempts = entries.iter().map(|d| d.attempts).max().unwrap_or(1);
    let next = match outcome {
        Err(SendError::Transient { retry_after, .. }) => {
            let after_backoff = policy.next_after(attempts, now);
            Some(retry_after.map_or(after_backoff, |ra| after_backoff.max(ra)))
        }
        Err(SendError::TooLarge(_)) => Some(policy.next_after(attempts, now)),
        _ => None,
    };
    entries
        .iter()
        .map(|d| {
            let mut d = d.clone();
            match outcome {
                Ok(()) => {
                    d.state = DeliveryState::Delivered;
                    d.delivered_at = Some(now);
                    d.not_before = None;
                }
                Err(SendError::Permanent(error)) => {
                    d.state = DeliveryState::Failed;
                    d.last_error = Some(error.clone());
                }
                Err(SendError::Transient { error, retry_after }) => {
                    d.last_error = Some(error.clone());
                    d.next_attempt_at = next.unwrap_or(now);
                    d.not_before = *retry_after;
                }
                // Pending after the backoff: smaller parts go at once, one alone waits.
                Err(SendError::TooLarge(error)) => {
                    d.last_error = Some(error.clone());
                    d.next_attempt_at = next.unwrap_or(now);
                    d.not_before = None;
                }
            }
            d
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::BTreeSet;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn entry(alert: &str, attempts: u32) -> Delivery {
        Delivery {
            alert_id: alert.into(),
            receiver: "ops".into(),
            state: DeliveryState::Pending,
            attempts,
            last_error: None,
            created_at: t("2025-05-09T06:31:00Z"),
            next_attempt_at: t("2025-05-09T06:31:00Z"),
            not_before: None,
            delivered_at: None,
        }
    }

    const NO_JITTER: Policy = Policy {
        backoff: Backoff::DELIVERY,
        draw: 0.0,
    };
    const FULL_JITTER: Policy = Policy {
        backoff: Backoff::DELIVERY,
        draw: 1.0,
    };

    #[test]
    fn backoff_doubles_from_30s_and_caps_at_15min_with_bounded_jitter() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let expected = [30, 60, 120, 240, 480, 900, 900, 900];
        for (i, full) in expected.iter().enumerate() {
            let attempts = i as u32 + 1;
            let full = Duration::from_secs(*full);
            assert_eq!(retry::delay_drawn(attempts, &Backoff::DELIVERY, 0.0), full);
            assert_eq!(
                retry::delay_drawn(attempts, &Backoff::DELIVERY, 1.0),
                full * 4 / 5
            );
            for _ in 0..200 {
                let d = retry::delay_drawn(
                    attempts,
                    &Backoff::DELIVERY,
                    Policy::delivery(&mut rng).draw,
                );
                assert!(d <= full && d >= full * 4 / 5, "attempt {attempts}: {d:?}");
            }
        }
        // Huge attempt counts neither overflow nor exceed the cap.
        assert!(retry::delay_drawn(u32::MAX, &Backoff::DELIVERY, 0.0) <= Duration::from_secs(900));
        assert!(retry::delay_drawn(0, &Backoff::DELIVERY, 0.0) <= Duration::from_secs(30));
        // The jitter really varies.
        let a: BTreeSet<Duration> = (0..50)
            .map(|_| retry::delay_drawn(3, &Backoff::DELIVERY, Policy::delivery(&mut rng).draw))
            .collect();
        assert!(a.len() > 10);
    }

    #[test]
    fn in_poll_pauses_double_without_jitter() {
        let b = Backoff::in_poll(Duration::from_millis(20));
        assert_eq!(retry::delay_drawn(1, &b, 0.7), Duration::from_millis(20));
        assert_eq!(retry::delay_drawn(2, &b, 0.7), Duration::from_millis(40));
        assert_eq!(retry::delay_drawn(3, &b, 0.7), Duration::from_millis(80));
    }

    #[test]
    fn claim_counts_the_attempt_and_puts_the_next_after_the_backoff() {
        let now = t("2025-05-09T07:00:00Z");
        let got = claim(&[entry("a", 0), entry("b", 2)], now, &NO_JITTER);
        assert_eq!(got[0].attempts, 1);
        assert_eq!(got[0].next_attempt_at, t("2025-05-09T07:00:30Z"));
        assert_eq!(got[1].attempts, 3);
        assert_eq!(got[1].next_attempt_at, t("2025-05-09T07:02:00Z"));
        assert_eq!(got[0].state, DeliveryState::Pending);
    }

    #[test]
    fn success_delivers_and_clears_retry_after() {
        let now = t("2025-05-09T07:00:00Z");
        let mut e = entry("a", 1);
        e.not_before = Some(t("2025-05-09T06:59:00Z"));
        let got = settle(&[e], &Ok(()), now, &NO_JITTER);
        assert_eq!(got[0].state, DeliveryState::Delivered);
        assert_eq!(got[0].delivered_at, Some(now));
        assert_eq!(got[0].not_before, None);
    }

    #[test]
    fn a_permanent_refusal_fails_for_good() {
        let now = t("2025-05-09T07:00:00Z");
        let out = Err(SendError::Permanent("HTTP 404".into()));
        let got = settle(&[entry("a", 1)], &out, now, &NO_JITTER);
        assert_eq!(got[0].state, DeliveryState::Failed);
        assert_eq!(got[0].last_error.as_deref(), Some("HTTP 404"));
        assert_eq!(got[0].delivered_at, None);
    }

    #[test]
    fn a_transient_failure_backs_off_from_the_highest_attempt_count() {
        let now = t("2025-05-09T07:00:00Z");
        let out = Err(SendError::Transient {
            error: "HTTP 503".into(),
            retry_after: None,
        });
        let got = settle(&[entry("a", 1), entry("b", 3)], &out, now, &NO_JITTER);
        for d in &got {
            assert_eq!(d.state, DeliveryState::Pending);
            assert_eq!(
                d.next_attempt_at,
                t("2025-05-09T07:02:00Z"),
                "2 min for the 3rd"
            );
            assert_eq!(d.last_error.as_deref(), Some("HTTP 503"));
            assert_eq!(d.not_before, None);
        }
        assert_eq!((got[0].attempts, got[1].attempts), (1, 3));
        let jittered = settle(&[entry("a", 1)], &out, now, &FULL_JITTER);
        assert_eq!(jittered[0].next_attempt_at, t("2025-05-09T07:00:24Z"));
    }

    #[test]
    fn retry_after_wins_when_later_than_the_backoff() {
        let now = t("2025-05-09T07:00:00Z");
        let later = t("2025-05-09T07:05:00Z");
        let out = Err(SendError::Transient {
            error: "HTTP 429".into(),
            retry_after: Some(later),
        });
        let got = settle(&[entry("a", 1)], &out, now, &NO_JITTER);
        assert_eq!(got[0].next_attempt_at, later);
        assert_eq!(got[0].not_before, Some(later));
        // An earlier Retry-After does not shorten the backoff, but is kept as not_before.
        let soon = t("2025-05-09T07:00:05Z");
        let out = Err(SendError::Transient {
            error: "HTTP 429".into(),
            retry_after: Some(soon),
        });
        let got = settle(&[entry("a", 1)], &out, now, &NO_JITTER);
        assert_eq!(got[0].next_attempt_at, t("2025-05-09T07:00:30Z"));
        assert_eq!(got[0].not_before, Some(soon));
    }
}
