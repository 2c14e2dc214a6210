//! What is being served: the route table of compiled bridges ([`Snapshot`]), how a directory
//! is loaded into the next one ([`Loader`]), the one place it is swapped in ([`Gateway`]), and
//! what asks for a reload ([`Reloader`]).

pub mod gateway;
pub mod loader;
pub mod reload;
pub mod snapshot;

pub use gateway::{Gateway, Settings};
pub use loader::Loader;
pub use reload::{ReloadOptions, Reloader};
pub use snapshot::Snapshot;
