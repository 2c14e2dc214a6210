//! The integration tests: one binary (linked once), one module per topic, the harness in
//! [`support`]. Every test talks to real servers on 127.0.0.1; nothing leaves the machine.
//!
//! `cargo test` runs them all; `cargo test --test tests upstream_hostile::` one topic.

mod support;

mod admin_port;
mod auth;
mod authoring;
mod bridge_tests;
mod cli;
mod connections;
mod drain;
mod escaping;
mod examples;
mod fetch_post;
mod genesys_deploy;
mod genesys_export;
mod genesys_import;
mod hostile;
mod hot_reload;
mod input_contract;
mod layers;
mod mapping;
mod metrics;
mod oauth2_server;
mod operator_logs;
mod properties;
mod query_languages;
mod records;
mod reference;
mod rolling_restart;
mod routing;
mod secrets_in_logs;
mod serve_binary;
mod tls;
mod upstream_credentials;
mod upstream_differential;
mod upstream_hostile;
mod upstream_wire;
