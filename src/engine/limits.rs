//! Script limits: how much work, nesting and data a runbook may use.
//!
//! The defaults are generous for real runbooks (which spend their time in host primitives, not
//! in script operations) yet stop a runaway loop within seconds. `runbook.toml` may override
//! each of them under `[limits]`.

use serde::Deserialize;

/// Limits applied to every Rhai engine the tool builds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Maximum number of script operations in one run.
    pub max_operations: u64,
    /// Maximum function call depth.
    pub max_call_levels: usize,
    /// Maximum expression nesting depth.
    pub max_expr_depth: usize,
    /// Maximum length of a string, in bytes.
    pub max_string_size: usize,
    /// Maximum number of elements in an array.
    pub max_array_size: usize,
    /// Maximum number of entries in a map.
    pub max_map_size: usize,
    /// Maximum number of modules a run may import.
    pub max_modules: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 50_000_000,
            max_call_levels: 64,
            max_expr_depth: 128,
            max_string_size: 16 * 1024 * 1024,
            max_array_size: 1_000_000,
            max_map_size: 100_000,
            max_modules: 64,
        }
    }
}

impl Limits {
    /// Applies these limits to an engine.
    pub fn apply(&self, engine: &mut rhai::Engine) {
        engine
            .set_max_operations(self.max_operations)
            .set_max_call_levels(self.max_call_levels)
            .set_max_expr_depths(self.max_expr_depth, self.max_expr_depth)
            .set_max_string_size(self.max_string_size)
            .set_max_array_size(self.max_array_size)
            .set_max_map_size(self.max_map_size)
            .set_max_modules(self.max_modules);
    }
}
