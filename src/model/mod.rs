//! Plain data shared by every stage: periods, observations, releases, alerts and deliveries,
//! how a figure is written for people (`figure.rs`) and the axes every chart shares
//! (`axes.rs`). No I/O. One file per idea;
//! everything is re-exported here, so `crate::model::X` is the path.

mod alert;
mod axes;
mod delivery;
mod details;
mod figure;
mod observation;
mod period;

pub use alert::*;
pub(crate) use axes::*;
pub use delivery::*;
pub use details::*;
pub use figure::*;
pub use observation::*;
pub use period::*;
