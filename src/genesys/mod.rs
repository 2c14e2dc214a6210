//! Genesys Cloud: the data action that calls a bridge, generated from the bridge itself, and
//! the Platform API calls that deploy and test it. The bridge file is the single source of
//! truth for both sides of the contract.

pub mod api;
pub mod deploy;
pub mod export;
pub mod import;
pub mod rules;
