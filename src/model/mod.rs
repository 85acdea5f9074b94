//! Plain data shared by every stage: periods, observations, releases, alerts and deliveries,
//! and how a figure is written for people (`figure.rs`). No I/O. One file per idea;
//! everything is re-exported here, so `crate::model::X` is the path.

mod alert;
mod delivery;
mod figure;
mod observation;
mod period;

pub use alert::*;
pub use delivery::*;
pub use figure::*;
pub use observation::*;
pub use period::*;
