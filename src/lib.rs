//! bridgeway: an API-bridge gateway driven by one YAML file per integration.
//!
//! A request runs through one generic pipeline; each step has its own module:
//!
//! | stage | module | what it holds |
//! | --- | --- | --- |
//! | parse | [`bridge_file`], [`env`] | the YAML schema of a bridge file; `${VAR}` expansion |
//! | compile | [`compile`] | a parsed file turned into a [`Bridge`], once, at load |
//! | intake | [`inbound`], [`auth`] | content type, size limit and parse of the body; credentials |
//! | validate | [`validate`] | the input contract |
//! | render | [`render`], [`template`] | the upstream request, escaped by placement |
//! | fetch | [`fetch`] | the shared upstream client |
//! | map | [`map`], [`jsonpath`], [`extract`] | the upstream answer turned into the flat reply |
//! | | [`pipeline`] | the four steps in order, and `on_error` |
//! | serve | [`server`], [`listen`], [`tls`], [`ops`], [`error`], [`metrics`] | hyper, the listening sockets, TLS, the `/-/` endpoints, error bodies |
//! | swap | [`snapshot`], [`loader`], [`gateway`] | the immutable route table; loading a directory into one; the atomic swap |
//! | reload | [`reload`] | watching the directory, `SIGHUP`, periodic rescans |
//! | Genesys | [`genesys`] | the data action generated from a bridge; Platform API deploy and test |

pub mod auth;
pub mod bridge_file;
pub mod compile;
pub mod env;
pub mod error;
pub mod extract;
pub mod fetch;
pub mod gateway;
pub mod genesys;
pub mod inbound;
pub mod jsonpath;
pub mod listen;
pub mod loader;
pub mod map;
pub mod metrics;
pub mod ops;
pub mod pipeline;
pub mod reload;
pub mod render;
pub mod server;
pub mod snapshot;
pub mod template;
pub mod tls;
pub mod validate;

pub use compile::{Bridge, Problem};
pub use gateway::{Gateway, Settings};
pub use loader::Loader;
pub use reload::{ReloadOptions, Reloader};
pub use server::serve;
pub use snapshot::Snapshot;
