//! bridgeway: an API-bridge gateway driven by one YAML file per integration.
//!
//! A caller POSTs a flat JSON object to a route; the *bridge* serving that route says which
//! upstream call to make from it and how the upstream's answer becomes a flat JSON reply. Every
//! request runs the same sequence over bridges compiled once, at load:
//!
//! ```text
//! auth → intake → admit → validate → render → (token) → fetch → map
//! ```
//!
//! The modules are layers, each importing only the ones below it:
//!
//! | layer | module | what it holds |
//! | --- | --- | --- |
//! | 6 | `cli` (the binary) | `serve`, `check`, `try`, `test`, `export`, `import`, `genesys`, `schema`, `completions`, `man` |
//! | 5 | [`server`], [`genesys`] | hyper on per-core runtimes, TLS, the `/-/` endpoints; data actions and the Platform API |
//! | 4 | [`routes`] | the route table ([`Snapshot`]), loading a directory into one, the atomic swap ([`Gateway`]), reload triggers |
//! | 3 | [`pipeline`] | the one request sequence, its observer, and [`RequestError`](pipeline::RequestError): every stage's error as a status and a JSON body |
//! | 2 | [`bridge`], [`connection`] | a parsed file compiled into a [`Bridge`] (each stage's compiled part), against the [`Connection`](connection::Connection)s of the same load |
//! | 1 | [`stages`] | one module per stage: what it compiles at load, what it does per request, its error |
//! | 0 | [`file`](mod@file), [`jsonpath`], [`template`], [`metrics`], [`limits`], [`request_id`], [`json`] | bridge and connection files as written and `${VAR}` expansion; the path and template languages; counters; defaults; small shared pieces |
//!
//! `serve`, `try` and `test` all run [`pipeline::run`]: what `try` prints is what
//! `serve` does.

pub mod bridge;
pub mod connection;
pub mod file;
pub mod genesys;
pub mod json;
pub mod jsonpath;
pub mod limits;
pub mod metrics;
pub mod pipeline;
pub mod request_id;
pub mod routes;
pub mod server;
pub mod stages;
pub mod template;

pub use bridge::{Bridge, Problem};
pub use routes::{Gateway, Loader, ReloadOptions, Reloader, Settings, Snapshot};
pub use server::serve;
