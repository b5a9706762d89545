//! presswatch: a change monitor for official statements.
//!
//! The pipeline runs one way, one module per stage:
//!
//! ```text
//! config ─► schedule ─► check (one cycle)
//!                          │
//!            discover ─► fetch ─► extract ─► store (+ diff) ─► notify
//! ```
//!
//! * [`config`] loads and validates `presswatch.toml` (+ `PRESSWATCH_*` overrides).
//! * [`discover`] turns a source (feed, listing, sitemap, page) into statement URLs.
//! * [`fetch`] is the only module that talks HTTP: polite, bounded, conditional.
//! * [`extract`] turns HTML into an [`extract::Article`] (title, date, body).
//! * [`diff`] compares two texts word by word.
//! * [`store`] is the only module that touches SQLite: one transaction per page check.
//! * [`notify`] renders alerts and delivers them from the outbox.
//! * [`check`] is one cycle: it wires the stages together.
//! * [`schedule`] runs cycles on the cron schedule until a signal stops the daemon.
//! * [`codec`] decodes compressed HTML (gzip, brotli; bounded) and names stored codings.
//! * [`web`] serves the read-only change log, Atom feed, `/healthz` and `/metrics`.

pub mod check;
pub mod codec;
pub mod config;
pub mod diff;
pub mod discover;
pub mod extract;
pub mod fetch;
pub mod notify;
pub mod schedule;
pub mod store;
pub mod util;
pub mod web;
