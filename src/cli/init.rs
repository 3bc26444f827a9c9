//! `runbook init [DIR]`: starts a project with the shipped procedures — `runbook.toml`,
//! `.env.example` and the runbooks under `runbooks/` — all embedded in the binary, so a bare
//! install can start from them. Existing files are never overwritten: every target is checked
//! first, and if any exists nothing at all is written.

use std::path::Path;

use super::InitArgs;
use crate::error::{Error, Result};

/// The project configuration `init` writes: every key commented out, at its default.
const RUNBOOK_TOML: &str = r#"# runbook project configuration. Every key is optional; unknown keys are errors.
# The values shown are the defaults.

# [limits]
# max_operations = 50000000   # script operations per run (stops endless loops)
# max_call_levels = 64

# [journal]
# dir = ".runbook/runs"

# [locks]
# dir = ".runbook/locks"
"#;

/// Every file `init` writes: (path relative to the project, contents).
pub const FILES: &[(&str, &str)] = &[
    ("runbook.toml", RUNBOOK_TOML),
    (".env.example", include_str!("../../.env.example")),
    (
        "runbooks/README.md",
        include_str!("../../runbooks/README.md"),
    ),
    (
        "runbooks/backup-database.rhai",
        include_str!("../../runbooks/backup-database.rhai"),
    ),
    (
        "runbooks/backup-app-data.rhai",
        include_str!("../../runbooks/backup-app-data.rhai"),
    ),
    (
        "runbooks/snapshot-vps.rhai",
        include_str!("../../runbooks/snapshot-vps.rhai"),
    ),
    (
        "runbooks/restore-database.rhai",
        include_str!("../../runbooks/restore-database.rhai"),
    ),
    (
        "runbooks/restore-app-data.rhai",
        include_str!("../../runbooks/restore-app-data.rhai"),
    ),
    (
        "runbooks/restore-vps.rhai",
        include_str!("../../runbooks/restore-vps.rhai"),
    ),
    (
        "runbooks/restore-full.rhai",
        include_str!("../../runbooks/restore-full.rhai"),
    ),
    (
        "runbooks/verify-rpo.rhai",
        include_str!("../../runbooks/verify-rpo.rhai"),
    ),
    (
        "runbooks/drill-monthly-database.rhai",
        include_str!("../../runbooks/drill-monthly-database.rhai"),
    ),
    (
        "runbooks/drill-quarterly-full.rhai",
        include_str!("../../runbooks/drill-quarterly-full.rhai"),
    ),
    (
        "runbooks/quickstart.rhai",
        include_str!("../../runbooks/quickstart.rhai"),
    ),
];

/// Writes the shipped files into `args.dir`, refusing (exit 2, nothing written) when any of
/// them already exists.
pub fn init(args: InitArgs) -> Result<()> {
    let dir = args.dir.unwrap_or_else(|| ".".into());
    let existing: Vec<String> = FILES
        .iter()
        .map(|(path, _)| dir.join(path))
        .filter(|path| path.exists() || path.is_symlink())
        .map(|path| path.display().to_string())
        .collect();
    if !existing.is_empty() {
        return Err(Error::usage(format!(
            "not overwriting existing file(s): {}; nothing was written",
            existing.join(", ")
        ))
        .with_hint("move them aside, or run `runbook init` in another folder and compare"));
    }
    for (path, text) in FILES {
        write(&dir.join(path), text)?;
    }
    println!(
        "wrote {} files into {}:\n  {}",
        FILES.len(),
        dir.display(),
        FILES
            .iter()
            .map(|(p, _)| *p)
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    println!(
        "next: cp .env.example .env, fill it in (runbook keygen makes BACKUP_ENCRYPTION_KEY), \
         then runbook check runbooks/*.rhai and runbook run --dry-run runbooks/restore-full.rhai"
    );
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    // create_new: a file that appeared since the check is still not overwritten.
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    file.write_all(text.as_bytes())
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_shipped_runbook_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            if name.ends_with(".rhai") {
                let path = format!("runbooks/{name}");
                assert!(
                    super::FILES.iter().any(|(p, _)| *p == path),
                    "{path} is not embedded in `runbook init`"
                );
            }
        }
    }
}
