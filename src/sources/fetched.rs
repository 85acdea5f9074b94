//! One series' observations as a table download holds them until the pipeline takes them:
//! per observation its value and the number of its period in the table's shared period
//! labels (period, the source's code for it, its status), in two columns. That is 12 bytes an
//! observation instead of an [`Observation`]'s 64, so a whole 2-million-cell table is held in
//! 24 MB while it is checked for completeness; each series becomes `Observation`s only when
//! the pipeline diffs it.

use std::sync::Arc;

use crate::config::SeriesConfig;
use crate::model::{Frequency, Label, Observation, Period};

use super::FetchError;

/// What every observation of one period shares.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodLabel {
    pub period: Period,
    /// The source's own period code (`2025MM03`, `MONAT03 2025`).
    pub code: Label,
    /// The source's status word for it, or empty.
    pub status: Label,
}

/// One series of a downloaded table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetched {
    labels: Arc<Vec<PeriodLabel>>,
    /// Each observation's index into `labels`, and its value (two columns: a `(u32, f64)`
    /// pair would take 16 bytes).
    numbers: Vec<u32>,
    values: Vec<f64>,
}

impl Fetched {
    pub(crate) fn new(
        labels: Arc<Vec<PeriodLabel>>,
        numbers: Vec<u32>,
        values: Vec<f64>,
    ) -> Fetched {
        debug_assert_eq!(numbers.len(), values.len());
        Fetched {
            labels,
            numbers,
            values,
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn label(&self, number: u32) -> &PeriodLabel {
        &self.labels[number as usize]
    }

    /// Each observation's period label and value, in order.
    pub fn cells(&self) -> impl Iterator<Item = (&PeriodLabel, f64)> + Clone + '_ {
        self.numbers
            .iter()
            .zip(&self.values)
            .map(|(&n, &value)| (self.label(n), value))
    }

    pub fn iter(&self) -> impl Iterator<Item = Observation> + '_ {
        self.cells().map(|(l, value)| Observation {
            period: l.period,
            source_period: l.code.clone(),
            value,
            status: l.status.clone(),
        })
    }

    pub fn to_vec(&self) -> Vec<Observation> {
        self.iter().collect()
    }

    /// Keeps one frequency: the configured one, else the finest present (monthly tables also
    /// carry quarter and year rows); periods in order.
    pub(crate) fn keep_one_frequency(&mut self, wanted: Option<Frequency>) {
        let labels = Arc::clone(&self.labels);
        let period = |n: u32| labels[n as usize].period;
        let Some(freq) =
            wanted.or_else(|| self.numbers.iter().map(|&n| period(n).frequency()).min())
        else {
            return;
        };
        // Usually so already: one frequency, in order (CBS sends rows by period).
        if self
            .numbers
            .windows(2)
            .all(|w| period(w[0]) < period(w[1]) && period(w[1]).frequency() == freq)
            && self
                .numbers
                .first()
                .is_none_or(|&n| period(n).frequency() == freq)
        {
            return;
        }
        let mut kept: Vec<(u32, f64)> = (self.numbers.iter().copied())
            .zip(self.values.iter().copied())
            .filter(|&(n, _)| period(n).frequency() == freq)
            .collect();
        kept.sort_by_key(|&(n, _)| period(n));
        self.numbers = kept.iter().map(|c| c.0).collect();
        self.values = kept.iter().map(|c| c.1).collect();
    }

    /// Refuses a selection that yields two values for one period (a dimension left
    /// unpinned). Expects periods in order ([`Fetched::keep_one_frequency`]).
    pub(crate) fn check_unique(&self, series: &SeriesConfig) -> Result<(), FetchError> {
        for (i, w) in self.numbers.windows(2).enumerate() {
            let (a, b) = (self.label(w[0]).period, self.label(w[1]).period);
            if a == b {
                return Err(FetchError::Series {
                    series: series.id.clone(),
                    message: format!(
                        "several values for {a} ({} and {}): pin every dimension of the table \
                         in `dimensions`",
                        self.values[i],
                        self.values[i + 1]
                    ),
                });
            }
        }
        Ok(())
    }
}

impl From<Vec<Observation>> for Fetched {
    /// A series a source built as observations (GENESIS tables are small): a label each.
    fn from(obs: Vec<Observation>) -> Fetched {
        let numbers = (0..obs.len() as u32).collect();
        let values = obs.iter().map(|o| o.value).collect();
        let labels = obs
            .into_iter()
            .map(|o| PeriodLabel {
                period: o.period,
                code: o.source_period,
                status: o.status,
            })
            .collect();
        Fetched {
            labels: Arc::new(labels),
            numbers,
            values,
        }
    }
}
