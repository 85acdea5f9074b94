//! What a table's metadata says changed under the watch, as a download finds it: a series
//! whose measure, dimension or key the table no longer has ([`Broken`], with the closest keys,
//! so the table's other series are still fetched), and what a stopped table says of its
//! successor ([`Stopped`]). The pipeline turns both into `table_changed` alerts.

use crate::config::group::Choice;

/// How many closest keys (or candidate tables) an alert names.
pub(crate) use super::meta::CANDIDATES;

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

/// The [`CANDIDATES`] keys of `choices` closest to `key`, as `check --online` ranks them
/// ([`super::meta::closest`]).
pub(crate) fn closest(key: &str, choices: &[Choice]) -> Vec<Choice> {
    super::meta::closest_by(key, choices, |c| (&c.key, &c.title))
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
    }
}
