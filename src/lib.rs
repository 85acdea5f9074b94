//! statwatch watches official statistics releases (CBS StatLine, Destatis GENESIS-Online),
//! stores every observation with its revisions in sled, diffs each release against what it
//! holds, evaluates rules and delivers alerts through a durable outbox.
//!
//! # Layout
//!
//! - [`cli`]: the command line and the one-shot commands (`mod.rs`); `check.rs` the config on
//!   one screen without secrets; `tables.rs` the catalogue search; `describe.rs` a table's
//!   keys and a ready `[[series]]` entry; `online.rs` `check --online` (series resolved
//!   against live metadata); `alerts.rs` the delivery log, printed a chunk at a time;
//!   `assets.rs` the man pages and completions the Debian package ships (hidden
//!   `package-assets`); `main.rs` maps outcomes to exit codes.
//! - [`config`]: the TOML config. `mod` the validated [`config::Config`], its shared types
//!   and `load`; `raw` the file as written (serde structs, enums for closed sets); `locate`
//!   key path -> file:line:column, toml errors, redaction of echoed secrets; `env`
//!   `${VAR:-x}`, `*_file` and `Secret`; `validate` raw -> validated, one file per section (`source`, `series`,
//!   `rule`, `receiver`, `brief`);
//!   `group` series groups (templates, id patterns, expansion into concrete series); `ident`
//!   what ids, keys and names may hold.
//! - [`model`]: plain data, re-exported from one file per idea: `period.rs` periods and
//!   frequencies; `observation.rs` observations, vintages, releases; `alert.rs` alerts with
//!   their kind and cause; `details.rs` what each kind's alert says (`details`, one variant
//!   per kind, as payload v1 writes it); `delivery.rs` outbox entries; `figure.rs` how a
//!   figure is written for people; `axes.rs` the axes every chart shares (value range, period
//!   labels), for the pages and the mail alike.
//! - [`sources`]: CBS (OData v3) and Destatis (GENESIS 2020) clients over one HTTP layer.
//!   - `sources/mod.rs`: `Source`, `Check`, `FetchError`, the checks every table passes.
//!   - `sources/meta.rs`: tables without their data: search hits, a table's metadata, series
//!     resolved against it with the closest keys.
//!   - `sources/fetched.rs`: one series' observations as a download holds them (compact,
//!     with the table's shared period labels) until the pipeline takes them.
//!   - `sources/http.rs`: transport only (timeouts, byte caps, origin, content type, retries).
//!   - `sources/drift.rs`: what a table's metadata says changed under the watch (a series
//!     whose key or measure is gone, with the closest keys; a stopped table's successor).
//!   - `sources/cbs/`: `mod.rs` the client; `odata.rs` envelope, paging and error bodies;
//!     `split.rs` rows -> series; `catalogue.rs` the one-request change check of every table;
//!     `meta.rs` the catalogue search (kept a day) and a table's metadata;
//!     `successor.rs` the successor a stopped table's texts name.
//!   - `sources/destatis/`: `mod.rs` the client; `job.rs` the download and the job flow;
//!     `envelope.rs` the JSON envelope and its status enum; `answer.rs` zip or envelope,
//!     text encoding; `ffcsv.rs` the CSV parser; `labels.rs` attribute labels for groups;
//!     `select.rs` cells -> series; `stamp.rs` change stamps from the catalogue; `find.rs`
//!     the table search and a table's metadata.
//! - [`pipeline`]: what one poll of one source does, start to finish (`mod.rs`); what it
//!   reports per table (`report.rs`); pure, what each series of a downloaded table comes to,
//!   first sync or release (`plan.rs`); a table's plans folded into the poll's write
//!   (`gather.rs`); which stored records each series continues, by its
//!   identity, so a renamed id keeps its history (`identity.rs`); `table_changed` alerts from
//!   what a download or a failed table says (`drift.rs`).
//!   What a table download covers, as the versioned text its stamp hashes (`selection.rs`).
//! - [`diff`]: pure, stored vs fetched -> release; the one merge of observations.
//! - [`derive`]: pure, growth rates from stored levels (owns `Derive`).
//! - [`rules`]: pure, series + release -> alerts with stable ids. `mod` dispatch, ids and the
//!   shared `Series` helpers; one file per kind (`release`, `sign_change`, `streak`, `change`,
//!   `threshold`, `revision`, `overdue`, `source_failing`, `table_changed`) with its parameters;
//!   `golden.rs` (tests) pins every kind's alert to its JSON in `tests/fixtures/alerts/`.
//! - [`briefs`]: `[[briefs]]`, the story of a release in one message, made from the series as
//!   the poll's commit will leave them (`mod.rs`); the facts as pure functions (`facts.rs`);
//!   the words (`text.rs`).
//! - [`store`]: the only module that sees sled; one commit per poll (records ahead under an
//!   undo log, then one transaction).
//!   - `store/mod.rs`: open, schema version, the key layout, commit.
//!   - `store/series.rs`: series and revision records, table stamps, release log, polls.
//!   - `store/record.rs` + `store/codec.rs`: the binary series records and their primitives.
//!   - `store/outbox.rs`: alert records, deliveries, reading and settling what is pending.
//!   - `store/log.rs`: the delivery log read a page at a time, from a cursor, with counts.
//!   - `store/due.rs`: the due index, the pending count, sent markers, pruning.
//!   - `store/ahead.rs`: the commit's steps as types (`CommitPlan`, `Ahead`, `Landed`):
//!     series, alert and outbox records written ahead of the poll's transaction, undone
//!     unless it commits.
//!   - `store/undo.rs`: the undo log of the writes ahead: written, applied, and at open
//!     applied for a commit a crash interrupted.
//!   - `store/inflight.rs`: the writes of unfinished commits, registered so that readers
//!     are shown the values they replace (`Store::committed`).
//!   - `store/queue.rs`: a poll's new outbox entries, queued by its transaction and put in
//!     the due index after it in bounded transactions (or at the next open).
//!   - `store/latest.rs`: the index of each series' newest observation, written with its
//!     series record; what the overdue check reads.
//!   - `store/identity.rs`: the index of series identities (source, table, measure, keys)
//!     to ids, and the renames a poll commits.
//!   - `store/staged.rs`: the series as a poll's write will leave them, read before its
//!     commit (briefs go into the same transaction).
//!   - `store/upgrade.rs`: earlier schemas upgraded in place at open.
//! - [`notify`]: the outbox delivery to webhook, email, log, Slack, Mattermost, Teams and
//!   Alertmanager receivers.
//!   - `notify/mod.rs`: the [`notify::Notifier`], fan-out of the due entries, one task per receiver.
//!   - `notify/round.rs`: one receiver's round as small steps (read a page, look up, split,
//!     and per part wait, claim, send, settle), paced, resumable part by part.
//!   - `notify/batch.rs`: a page of alerts as bounded parts (count, bytes), halving on 413.
//!   - `notify/route.rs`: which receivers want which alert (`subscribe` globs, `min_severity`).
//!   - `notify/settle.rs`: the delivery backoff and the pure claim/settle transitions.
//!   - `notify/render.rs`: headline, subject, text body, one-line errors; shared by receivers.
//!   - `notify/escape.rs`: source and config text neutralised per chat platform (mentions,
//!     links, markup) before it goes into a Slack, Mattermost or Teams message.
//!   - `notify/http.rs`: the HTTP POST and the reading of answers every HTTP receiver shares
//!     (status, `Retry-After`).
//!   - `notify/mail_html.rs` + `notify/mail_chart.rs`: an email's HTML part and its PNG charts;
//!     `notify/mail_images.rs` the charts filed as inline images under their Content-IDs.
//!   - `notify/chat.rs`: the chat channel (render per platform into parts, post one, pace).
//!   - `notify/digest.rs`: what a message over a receiver's `digest_after` says instead
//!     (chat) or on top (email): briefs, counts, the 10 most severe, where the rest is.
//!   - `notify/brief_html.rs`: a brief laid out for the HTML mail (headline, titled lead
//!     chart, context table, breakdown bars).
//!   - `notify/webhook.rs`, `notify/email.rs`, `notify/log.rs`, `notify/slack.rs`,
//!     `notify/mattermost.rs`, `notify/teams.rs`, `notify/alertmanager.rs`: one file per
//!     receiver kind.
//! - [`silence`]: the IO side of overdue series and failing sources (poll records, outbox).
//! - [`retry`]: the one backoff policy (exponential, capped, jittered) and a retry loop.
//! - [`scheduler`]: pure, `Schedule` (cron in a time zone, DST-correct), start-up catch-up.
//! - [`daemon`]: `statwatch run`: the scheduling loop, shutdown token and the tasks it runs
//!   (`mod.rs`), its duties by name and the table of their running tasks (`duty.rs`), arming
//!   sources (`arm.rs`), poll, delivery and prune tasks (`tasks.rs`), the hourly
//!   overdue check and the heartbeat (`watch.rs`), the wall clock against the monotonic one
//!   (`clock.rs`), SIGHUP (`reload.rs`), sd_notify (`systemd.rs`).
//! - [`query`]: the read-only views (`series`, `alerts`, `backtest`, and `export` as CSV in
//!   `query/export.rs`) for the CLI and the control socket.
//! - [`backtest`]: the store's history replayed through the rules in the order it was learned.
//! - [`control`]: the socket protocol that carries queries into the running daemon (sled
//!   allows one process).
//! - [`metrics`]: the daemon's counters and gauges (prometheus-client), for `/metrics` and
//!   `/healthz`.
//! - [`web`]: optional `[web] listen` (alias `[metrics] listen`): the HTTP side.
//!   - `web/mod.rs`: the router, server start and stop, the shared state and page errors.
//!   - `web/serve.rs`: serving connections: the request head deadline, and the reserved
//!     slots in which only `/healthz` and `/metrics` are served.
//!   - `web/overview.rs` `/`, `web/series.rs` `/series/{id}` and `/api/series/{id}`,
//!     `web/alerts.rs` `/alerts`, `web/health.rs` `/metrics` and `/healthz`.
//!   - `web/templates.rs`: the embedded minijinja templates (`web/templates/*.html`),
//!     compiled at start, autoescaped.
//!   - `web/chart.rs`: sparklines and the series chart as inline SVG (plotters).
//! - [`listen`]: listeners a local user cannot exhaust (connection cap, idle timeout,
//!   reserved slots).
//! - [`logline`]: the text log's writer: control characters from sources escaped, one line
//!   per event.
//! - `fonts`: the one font every chart is drawn with, embedded in the binary.
//! - `fault`: crash, failing and holding points for the tests that run the binary
//!   (`STATWATCH_FAULT`).

pub mod backtest;
pub mod briefs;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod derive;
pub mod diff;
mod fault;
pub(crate) mod fonts;
pub mod listen;
pub mod logline;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod pipeline;
pub mod query;
pub(crate) mod retry;
pub mod rules;
pub mod scheduler;
pub mod silence;
pub mod sources;
pub mod store;
pub mod web;
