//! Value types scripts receive: `Secret` (renders as `***`) and `Error` (what `catch` gets when a
//! primitive fails).

use rhai::plugin::*;

/// Value types: Secret and Error.
#[export_module]
pub mod types_api {
    use crate::context::secrets::MASK;

    /// A secret value from `secret(name)` or a secret parameter. It renders as `***` when printed
    /// or interpolated; only primitives can read the value.
    pub type Secret = crate::context::secrets::Secret;

    /// A failure raised by a primitive, as caught by `try { ... } catch (err) { ... }`.
    pub type Error = crate::error::Error;

    /// `***`: secrets never render as their value.
    #[rhai_fn(global, name = "to_string", name = "to_debug", pure)]
    pub fn secret_to_string(_secret: &mut Secret) -> String {
        MASK.to_string()
    }

    /// The name of the variable a secret came from (safe to show).
    #[rhai_fn(global, get = "name", pure)]
    pub fn secret_name(secret: &mut Secret) -> String {
        secret.name().to_string()
    }

    /// The error's message and hint.
    #[rhai_fn(global, name = "to_string", name = "to_debug", pure)]
    pub fn error_to_string(error: &mut Error) -> String {
        error.to_string()
    }

    /// The error's message, without the hint.
    #[rhai_fn(global, get = "message", pure)]
    pub fn error_message(error: &mut Error) -> String {
        error.message().to_string()
    }

    /// The error's kind: `failed`, `usage`, `target_missed`, `lock_held`, `timeout` or
    /// `interrupted`.
    #[rhai_fn(global, get = "kind", pure)]
    pub fn error_kind(error: &mut Error) -> String {
        error.kind().as_str().to_string()
    }
}
