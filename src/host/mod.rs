//! Host primitives: plain Rust, no Rhai types. Each is testable without a script; bindings call
//! them through the effect gate.

pub mod archive;
pub mod chunks;
pub mod compress;
pub mod crypto;
pub mod digest;
pub mod files;
pub mod health;
pub mod http;
pub mod notify;
pub mod postgres;
pub mod runtime;
pub mod snapshot;
pub mod store;
pub mod supabase;
