//! statwatch watches official statistics releases (CBS StatLine, Destatis GENESIS-Online),
//! stores every observation with its revisions in sled, diffs each release against what it
//! holds, evaluates rules and delivers alerts through a durable outbox.
//!
//! # Layout
//!
//! - [`config`]: the TOML config, validated in one place.
//! - [`model`]: plain data (periods, observations, releases, alerts).
//! - [`sources`]: CBS and Destatis clients over one HTTP layer.
//! - [`store`]: the only module that sees sled.
//! - [`diff`]: pure, stored vs fetched -> release.
//! - [`scheduler`]: pure, cron in a time zone, start-up catch-up.
//! - [`app`]: the daemon (`statwatch run`): scheduling loop, signals, reload, sd_notify.
//! - [`metrics`]: optional `/metrics` and `/healthz`.

pub mod app;
pub mod cli;
pub mod config;
pub mod control;
pub mod derive;
pub mod diff;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod pipeline;
pub mod rules;
pub mod scheduler;
pub mod sources;
pub mod store;
