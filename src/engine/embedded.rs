//! The `stdlib/` modules built into the binary, so the shipped runbooks work from a bare install.
//! A file of the same name in the project's `stdlib/` folder (or beside the runbook) overrides
//! the built-in copy.

/// Built-in modules: (file name, source).
pub const MODULES: &[(&str, &str)] = &[
    ("common.rhai", include_str!("../../stdlib/common.rhai")),
    ("config.rhai", include_str!("../../stdlib/config.rhai")),
    ("database.rhai", include_str!("../../stdlib/database.rhai")),
    ("app_data.rhai", include_str!("../../stdlib/app_data.rhai")),
    ("vps.rhai", include_str!("../../stdlib/vps.rhai")),
    ("rto.rhai", include_str!("../../stdlib/rto.rhai")),
];

/// The built-in module with this file name.
pub fn module(file_name: &str) -> Option<&'static str> {
    MODULES
        .iter()
        .find(|(name, _)| *name == file_name)
        .map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_stdlib_file_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/stdlib");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            if name.ends_with(".rhai") {
                assert!(super::module(&name).is_some(), "{name} is not embedded");
            }
        }
    }
}
