//! What a table's metadata says changed under the watch, as a download finds it: a series
//! whose measure, dimension or key the table no longer has ([`Broken`], with the closest keys,
//! so the table's other series are still fetched), and what a stopped table says of its
//! successor ([`Stopped`]). The pipeline turns both into `table_changed` alerts.

use crate::config::group::Choice;

/// How many closest keys (or candidate tables) an alert names.
pub(crate) const CANDIDATES: usize = 5;

/// A watched series the table can no longer serve: `dimension` (or `measure`) lacks `key`.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken {
    pub series: String,
    pub title: String,
    pub dimension: String,
    pub key: String,
    pub candidates: Vec<Choice>,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?} is not in the table", self.dimension, self.key)?;
        if !self.candidates.is_empty() {
            let keys: Vec<String> = self
                .candidates
                .iter()
                .map(|c| format!("{} ({})", c.key, c.title))
                .collect();
            write!(f, " (closest: {})", keys.join(", "))?;
        }
        Ok(())
    }
}

/// A discontinued table: why, and what its texts or its office name to carry on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stopped {
    pub why: String,
    pub successor: Option<String>,
    pub successor_title: Option<String>,
    /// Other tables (id, title) that may carry on, when no successor is named.
    pub candidates: Vec<Choice>,
}

/// The [`CANDIDATES`] keys of `choices` closest to `key`: fewest edits first (case and
/// padding ignored), then the longest shared start, then table order.
pub(crate) fn closest(key: &str, choices: &[Choice]) -> Vec<Choice> {
    let key = key.trim().to_lowercase();
    let mut scored: Vec<(usize, usize, usize, &Choice)> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let k = c.key.trim().to_lowercase();
            let prefix = k
                .chars()
                .zip(key.chars())
                .take_while(|(a, b)| a == b)
                .count();
            (edits(&key, &k), usize::MAX - prefix, i, c)
        })
        .collect();
    scored.sort_by_key(|(e, p, i, _)| (*e, *p, *i));
    scored
        .into_iter()
        .take(CANDIDATES)
        .map(|(.., c)| c.clone())
        .collect()
}

/// The Levenshtein distance of `a` and `b`, in characters.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diag + usize::from(ca != *cb));
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(key: &str) -> Choice {
        Choice {
            key: key.into(),
            title: format!("t{key}"),
        }
    }

    #[test]
    fn the_closest_keys_come_first_and_at_most_five() {
        let keys: Vec<Choice> = ["A", "307510", "999999", "307600", "C", "D", "E", "300000"]
            .into_iter()
            .map(choice)
            .collect();
        let got: Vec<String> = closest("307500", &keys)
            .into_iter()
            .map(|c| c.key)
            .collect();
        assert_eq!(got, ["307510", "307600", "300000", "A", "999999"]);
        assert_eq!(edits("kitten", "sitting"), 3);
    }
}
