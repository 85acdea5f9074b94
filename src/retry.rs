//! One backoff policy (exponential, capped, jittered) for everything that waits before
//! trying again: the sources' HTTP retries within a poll and the GENESIS job wait (and, in
//! time, delivery). The delay is a pure function of the attempt number, so a caller that
//! keeps its attempts in a durable store (the outbox) can use it as well as an in-memory loop.
//!
//! Hand-written rather than the `backon` crate: `backon` hands out delays from a stateful
//! iterator, which fits an in-memory retry loop but not a delivery whose attempt count lives
//! in sled across restarts; the whole policy is a dozen lines.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

/// How the delay is spread so that clients that failed together do not retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Jitter {
    /// Exactly the exponential delay (a fixed poll interval when `cap == base`).
    None,
    /// Up to this fraction more (`[1, 1 + f)` times the delay): the cap may be exceeded by it.
    Up(f64),
    /// Up to this fraction less (`[1 - f, 1]` times the delay): the cap stays a real cap.
    /// The form delivery's backoff has (30 s doubling to 15 min, minus up to 20 %).
    Down(f64),
}

/// `base` doubling per attempt, at most `cap`, then jittered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Policy {
    pub(crate) base: Duration,
    pub(crate) cap: Duration,
    pub(crate) jitter: Jitter,
}

impl Policy {
    /// The same delay before every attempt (no growth, no jitter).
    pub(crate) fn fixed(delay: Duration) -> Policy {
        Policy {
            base: delay,
            cap: delay,
            jitter: Jitter::None,
        }
    }
}

/// The pause after `attempt` failed attempts (1 for the first failure): `base * 2^(attempt-1)`,
/// at most `cap`, jittered. Attempt 0 counts as 1.
pub(crate) fn delay(attempt: u32, policy: &Policy, rng: &mut impl Rng) -> Duration {
    delay_drawn(attempt, policy, rng.gen_range(0.0..1.0))
}

/// [`delay`] with the jitter drawn by the caller (`draw` from 0 to 1: none to the most), so
/// a caller that must be pure (the outbox's settle) or share one draw can.
pub(crate) fn delay_drawn(attempt: u32, policy: &Policy, draw: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(31);
    let full = policy
        .base
        .checked_mul(1u32 << exp)
        .unwrap_or(Duration::MAX)
        .min(policy.cap);
    let draw = draw.clamp(0.0, 1.0);
    match policy.jitter {
        Jitter::None => full,
        Jitter::Up(f) if f > 0.0 => full.mul_f64(1.0 + f * draw),
        Jitter::Down(f) if f > 0.0 => full.mul_f64(1.0 - f.min(1.0) * draw),
        Jitter::Up(_) | Jitter::Down(_) => full,
    }
}

/// Runs `op` up to `attempts` times, sleeping `delay(attempt)` after each failure that
/// `transient` says may pass; `on_retry(attempt, &error, wait)` is told before each sleep
/// (for logging). The last error, or the first permanent one, is returned.
pub(crate) async fn retry<T, E, F, Fut>(
    policy: &Policy,
    attempts: u32,
    transient: impl Fn(&E) -> bool,
    mut on_retry: impl FnMut(u32, &E, Duration),
    mut op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if transient(&e) && attempt < attempts => {
                let wait = delay(attempt, policy, &mut rand::thread_rng());
                on_retry(attempt, &e, wait);
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_and_caps_without_jitter() {
        let p = Policy {
            base: ms(500),
            cap: ms(3000),
            jitter: Jitter::None,
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let got: Vec<_> = (0..6).map(|a| delay(a, &p, &mut rng)).collect();
        assert_eq!(
            got,
            [ms(500), ms(500), ms(1000), ms(2000), ms(3000), ms(3000)]
        );
        assert_eq!(delay(u32::MAX, &p, &mut rng), ms(3000));
    }

    #[test]
    fn fixed_is_constant() {
        let p = Policy::fixed(ms(5000));
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        assert!((1..200).all(|a| delay(a, &p, &mut rng) == ms(5000)));
    }

    #[test]
    fn jitter_stays_in_its_band_and_varies() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let up = Policy {
            base: ms(1000),
            cap: ms(60_000),
            jitter: Jitter::Up(0.25),
        };
        let down = Policy {
            jitter: Jitter::Down(0.2),
            ..up
        };
        let ups: Vec<_> = (0..50).map(|_| delay(2, &up, &mut rng)).collect();
        assert!(
            ups.iter().all(|d| *d >= ms(2000) && *d < ms(2500)),
            "{ups:?}"
        );
        let downs: Vec<_> = (0..50).map(|_| delay(20, &down, &mut rng)).collect();
        assert!(downs.iter().all(|d| *d >= ms(48_000) && *d <= ms(60_000)));
        assert!(ups.iter().any(|d| *d != ups[0]) && downs.iter().any(|d| *d != downs[0]));
    }

    #[tokio::test]
    async fn retry_stops_at_success_permanent_errors_and_the_attempt_limit() {
        let p = Policy::fixed(ms(10));
        let mut calls = 0;
        let r: Result<u32, &str> = retry(
            &p,
            3,
            |_| true,
            |_, _, _| {},
            || {
                calls += 1;
                let n = calls;
                async move {
                    if n < 2 {
                        Err("flaky")
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert_eq!(r, Ok(2));
        let mut calls = 0;
        let r: Result<(), &str> = retry(
            &p,
            3,
            |e| *e == "flaky",
            |_, _, _| {},
            || {
                calls += 1;
                async { Err("flaky") }
            },
        )
        .await;
        assert_eq!((r, calls), (Err("flaky"), 3));
        let mut calls = 0;
        let r: Result<(), &str> = retry(
            &p,
            3,
            |e| *e == "flaky",
            |_, _, _| {},
            || {
                calls += 1;
                async { Err("fatal") }
            },
        )
        .await;
        assert_eq!((r, calls), (Err("fatal"), 1));
    }
}
