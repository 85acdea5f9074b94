//! One series' observations as a table download holds them until the pipeline takes them:
//! per observation its value and an index into the table's shared period labels (period,
//! the source's code for it, its status). That is 16 bytes an observation instead of an
//! [`Observation`]'s 64, so a whole 2-million-cell table is held in 32 MB while it is checked
//! for completeness; each series becomes `Observation`s only when the pipeline diffs it.

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
    /// (index into `labels`, value)
    cells: Vec<(u32, f64)>,
}

impl Fetched {
    pub(crate) fn new(labels: Arc<Vec<PeriodLabel>>, cells: Vec<(u32, f64)>) -> Fetched {
        Fetched { labels, cells }
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    fn label(&self, cell: (u32, f64)) -> &PeriodLabel {
        &self.labels[cell.0 as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = Observation> + '_ {
        self.cells.iter().map(|&c| {
            let l = self.label(c);
            Observation {
                period: l.period,
                source_period: l.code.clone(),
                value: c.1,
                status: l.status.clone(),
            }
        })
    }

    pub fn to_vec(&self) -> Vec<Observation> {
        self.iter().collect()
    }

    /// Keeps one frequency: the configured one, else the finest present (monthly tables also
    /// carry quarter and year rows); periods in order.
    pub(crate) fn keep_one_frequency(&mut self, wanted: Option<Frequency>) {
        let labels = Arc::clone(&self.labels);
        let period = |c: &(u32, f64)| labels[c.0 as usize].period;
        let Some(freq) = wanted.or_else(|| self.cells.iter().map(|c| period(c).frequency()).min())
        else {
            return;
        };
        self.cells.retain(|c| period(c).frequency() == freq);
        self.cells.sort_by_key(period);
    }

    /// Refuses a selection that yields two values for one period (a dimension left
    /// unpinned). Expects periods in order ([`Fetched::keep_one_frequency`]).
    pub(crate) fn check_unique(&self, series: &SeriesConfig) -> Result<(), FetchError> {
        for w in self.cells.windows(2) {
            let (a, b) = (self.label(w[0]).period, self.label(w[1]).period);
            if a == b {
                return Err(FetchError::Series {
                    series: series.id.clone(),
                    message: format!(
                        "several values for {a} ({} and {}): pin every dimension of the table \
                         in `dimensions`",
                        w[0].1, w[1].1
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
        let cells = (0..obs.len() as u32)
            .zip(obs.iter().map(|o| o.value))
            .collect();
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
            cells,
        }
    }
}
