//! A receiver's messages, bounded: a page of its entries becomes parts, each a message that
//! carries some of the page's alerts (at most `max_batch_alerts`, and for JSON receivers at
//! most about `max_batch_bytes`), so a backlog of any size goes out as messages a receiver
//! (or the proxy in front of it) takes. A part refused as too large (HTTP 413) is halved.

use std::ops::Range;

use super::render::parts;
use super::SendError;
use crate::config::BatchLimits;

/// One message of a round: the alerts it carries (a range of the page's), and its body when
/// the channel renders it at splitting (chat); webhook and Alertmanager bodies carry the
/// sending time, so they are rendered when sent.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Part {
    pub(super) items: Range<usize>,
    pub(super) body: Option<Vec<u8>>,
    /// 0-based number of this part and how many the page was split into, for errors.
    pub(super) number: usize,
    pub(super) of: usize,
}

impl Part {
    /// The only part of a message that is not split.
    pub(super) fn whole(n: usize) -> Vec<Part> {
        vec![Part {
            items: 0..n,
            body: None,
            number: 0,
            of: 1,
        }]
    }

    /// Parts from ranges (and bodies, if rendered), numbered in order.
    pub(super) fn numbered(ranges: Vec<(Range<usize>, Option<Vec<u8>>)>) -> Vec<Part> {
        let of = ranges.len();
        ranges
            .into_iter()
            .enumerate()
            .map(|(number, (items, body))| Part {
                items,
                body,
                number,
                of,
            })
            .collect()
    }

    /// The part with its range moved by `offset` (parts of a sub-range are made from 0).
    pub(super) fn shifted(mut self, offset: usize) -> Part {
        self.items = self.items.start + offset..self.items.end + offset;
        self
    }

    /// Names the failed part of a split page in the error, for `last_error`.
    pub(super) fn label(&self, e: SendError) -> SendError {
        if self.of == 1 {
            return e;
        }
        let label = |error: String| format!("message {} of {}: {error}", self.number + 1, self.of);
        match e {
            SendError::Transient { error, retry_after } => SendError::Transient {
                error: label(error),
                retry_after,
            },
            SendError::Permanent(error) => SendError::Permanent(label(error)),
            SendError::TooLarge(error) => SendError::TooLarge(label(error)),
        }
    }
}

/// Parts of at most `limits.max_alerts` items whose sizes, with the `envelope` around them,
/// stay within `limits.max_bytes` (an item larger than that on its own goes alone).
pub(super) fn by_size(sizes: &[usize], envelope: usize, limits: &BatchLimits) -> Vec<Part> {
    let budget = limits.max_bytes.saturating_sub(envelope).max(1);
    let ranges = parts(sizes, budget, limits.max_alerts);
    Part::numbered(ranges.into_iter().map(|r| (r, None)).collect())
}

/// The two halves of a range of at least two items.
pub(super) fn halves(r: &Range<usize>) -> [Range<usize>; 2] {
    let mid = r.start + r.len() / 2;
    [r.start..mid, mid..r.end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_keep_to_count_and_bytes() {
        let limits = BatchLimits {
            max_alerts: 3,
            max_bytes: 1000,
        };
        let p = by_size(&[100; 7], 100, &limits);
        let ranges: Vec<_> = p.iter().map(|p| p.items.clone()).collect();
        assert_eq!(ranges, [0..3, 3..6, 6..7]);
        assert_eq!((p[2].number, p[2].of), (2, 3));
        let p = by_size(&[400, 400, 400, 2000, 10], 100, &limits);
        let ranges: Vec<_> = p.iter().map(|p| p.items.clone()).collect();
        assert_eq!(ranges, [0..2, 2..3, 3..4, 4..5]);
        assert_eq!(halves(&(4..9)), [4..6, 6..9]);
    }
}
