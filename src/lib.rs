//! statwatch watches official statistics releases (CBS StatLine, Destatis GENESIS-Online),
//! stores every observation with its revisions in sled, diffs each release against what it
//! holds, evaluates rules and delivers alerts through a durable outbox.
//!
//! # Layout
//!
//! - [`cli`]: the command line and the one-shot commands; `main.rs` maps outcomes to exit codes.
//! - [`config`]: the TOML config. `mod` the validated [`config::Config`], its shared types
//!   and `load`; `raw` the file as written (serde structs, enums for closed sets); `locate`
//!   key path -> file:line:column, toml errors, redaction of echoed secrets; `env`
//!   `${VAR:-x}`, `*_file` and `Secret`; `validate` raw -> validated, one file per section.
//! - [`model`]: plain data (periods, observations, releases, alerts, deliveries).
//! - [`sources`]: CBS (OData v3) and Destatis (GENESIS 2020) clients over one HTTP layer.
//! - [`pipeline`]: what one poll of one source does, start to finish.
//! - [`diff`]: pure, stored vs fetched -> release.
//! - [`derive`]: pure, growth rates from stored levels (owns `Derive`).
//! - [`rules`]: pure, series + release -> alerts with stable ids. `mod` dispatch, ids and the
//!   shared `Series` helpers; one file per kind (release, sign_change, streak, change,
//!   threshold, revision) with its parameters.
//! - [`store`]: the only module that sees sled; one transaction per poll.
//! - [`notify`]: the outbox delivery to webhook, email and log receivers.
//! - [`scheduler`]: pure, `Schedule` (cron in a time zone, DST-correct), start-up catch-up.
//! - [`app`]: the daemon (`statwatch run`): scheduling loop, signals, reload, sd_notify.
//! - [`control`]: read-only queries into the running daemon (sled allows one process).
//! - [`metrics`]: optional `/metrics` and `/healthz`.
//! - [`listen`]: listeners a local user cannot exhaust (connection cap, idle timeout).

pub mod app;
pub mod cli;
pub mod config;
pub mod control;
pub mod derive;
pub mod diff;
pub mod listen;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod pipeline;
pub mod rules;
pub mod scheduler;
pub mod sources;
pub mod store;
