//! statwatch watches official statistics releases (CBS StatLine, Destatis GENESIS-Online),
//! stores every observation with its revisions in sled, diffs each release against what it
//! holds, evaluates rules and delivers alerts through a durable outbox.
//!
//! # Layout
//!
//! - [`cli`]: the command line and the one-shot commands; `main.rs` maps outcomes to exit codes.
//! - [`config`]: the TOML config, validated in one place (file, key and line:column in errors).
//! - [`model`]: plain data (periods, observations, releases, alerts with their kind and typed
//!   details, deliveries).
//! - [`sources`]: CBS (OData v3) and Destatis (GENESIS 2020) clients over one HTTP layer.
//! - [`pipeline`]: what one poll of one source does, start to finish.
//! - [`diff`]: pure, stored vs fetched -> release.
//! - [`derive`]: pure, growth rates from stored levels.
//! - [`rules`]: pure, series + release -> alerts with stable ids.
//! - [`store`]: the only module that sees sled; one transaction per poll.
//!   - `store/mod.rs`: open, schema version, record encoding (checked to read back), commit.
//!   - `store/series.rs`: observation records, table stamps, the release log, poll records.
//!   - `store/outbox.rs`: alert records, deliveries, what is due.
//! - [`notify`]: the outbox delivery to webhook, email and log receivers.
//!   - `notify/mod.rs`: the [`notify::Notifier`], fan-out of the due entries, one task per receiver.
//!   - `notify/round.rs`: one receiver's round as small steps (look up, wait, claim, send, settle).
//!   - `notify/route.rs`: which receivers want which alert (`subscribe` globs, `min_severity`).
//!   - `notify/settle.rs`: the delivery backoff and the pure claim/settle transitions.
//!   - `notify/render.rs`: headline, subject, text body, one-line errors; shared by receivers.
//!   - `notify/webhook.rs`, `notify/email.rs`, `notify/log.rs`: one file per receiver kind.
//! - [`scheduler`]: pure, cron in a time zone (DST-correct), start-up catch-up.
//! - [`app`]: the daemon (`statwatch run`): scheduling loop, signals, reload, sd_notify.
//! - [`query`]: the read-only views (`series`, `alerts`) for the CLI and the control socket.
//! - [`control`]: the socket protocol that carries queries into the running daemon (sled
//!   allows one process).
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
pub mod query;
pub mod rules;
pub mod scheduler;
pub mod sources;
pub mod store;
