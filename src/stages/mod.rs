//! The stages of the request sequence, one module each. A stage holds what it compiles from a
//! bridge file at load, what it does for one request, and the error it fails with, which knows
//! its own HTTP status and code (as axum's rejections do). [`crate::pipeline`] runs them in
//! order; nothing here knows about the others' order.
//!
//! | stage | turns | into | fails with |
//! | --- | --- | --- | --- |
//! | [`intake`] | the request body and its `Content-Type` | an [`Inbound`](intake::Inbound) object | [`IntakeError`](intake::IntakeError): 400, 408, 413, 415 |
//! | [`auth`] | the request headers | yes or no | [`Unauthorized`](auth::Unauthorized): 401 |
//! | [`validate`] | the object | a [`ValidInput`](validate::ValidInput) | [`InputError`](validate::InputError): 422 |
//! | [`render`] | the valid input | an [`UpstreamRequest`](fetch::UpstreamRequest), credentials from [`upstream_auth`] attached | [`InputError`](validate::InputError): 422 |
//! | [`fetch`] | the upstream request | an [`UpstreamResponse`](fetch::UpstreamResponse) | [`FetchError`](fetch::FetchError): 502, 504 |
//! | [`map`] | the upstream answer | the reply body | [`MapError`](map::MapError): 502 or the upstream's status |

pub mod auth;
pub mod fetch;
pub mod intake;
pub mod map;
pub mod render;
pub mod upstream_auth;
pub mod validate;
