//! `runbook doc`: the disaster-recovery playbook from the runbooks (metadata and offline
//! outlines: nothing runs) and the drill log; `--check` compares with the committed file.

use std::path::{Path, PathBuf};

use super::{runbook_dir, runbook_files, DocArgs};
use crate::config::Project;
use crate::engine::{self, Script};
use crate::error::{Error, Result};
use crate::report::drill::{portable_path, read_log};
use crate::report::playbook::{self, Entry, Sources};

/// The default playbook path, relative to the project root.
pub const DEFAULT_OUTPUT: &str = "docs/operations/dr-playbook.md";

/// Writes (or checks) the playbook.
pub fn doc(args: DocArgs) -> Result<()> {
    let dir = runbook_dir(args.dir);
    let project = Project::discover(&dir)?;
    let mut entries = Vec::new();
    for file in runbook_files(&dir)? {
        let script = Script::load(&file)?;
        let outline = engine::outline(&script, &project)?;
        entries.push(Entry {
            path: portable_path(&file, &project.root),
            outline,
        });
    }
    let log = project.drill_log();
    let drills = read_log(&log)?;
    let sources = Sources {
        runbooks: format!("`{}/`", portable_path(&dir, &project.root)),
        drill_log: format!("`{}`", portable_path(&log, &project.root)),
    };
    let text = playbook::render(&mut entries, &drills, &sources);
    let output = args
        .output
        .unwrap_or_else(|| project.root.join(DEFAULT_OUTPUT));
    if args.check {
        return check(&output, &text);
    }
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    std::fs::write(&output, &text)
        .map_err(|e| Error::io(format!("writing {}", output.display()), e))?;
    println!(
        "wrote {} ({} runbook(s), {} drill(s))",
        output.display(),
        entries.len(),
        drills.len()
    );
    Ok(())
}

fn check(output: &Path, text: &str) -> Result<()> {
    let committed = std::fs::read_to_string(output).unwrap_or_default();
    if committed == text {
        println!("{} is up to date", output.display());
        return Ok(());
    }
    let regenerate = format!("runbook doc -o {}", PathBuf::from(output).display());
    Err(Error::failed(format!(
        "{} is stale: it differs from what the runbooks and the drill log give\n{}",
        output.display(),
        diff(&committed, text)
    ))
    .with_hint(format!("regenerate it with `{regenerate}` and commit it")))
}

/// The first differing lines, `-` committed, `+` current.
fn diff(old: &str, new: &str) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let first = old
        .iter()
        .zip(&new)
        .position(|(a, b)| a != b)
        .unwrap_or(old.len().min(new.len()));
    let mut out = format!("first difference at line {}:", first + 1);
    for line in old.iter().skip(first).take(3) {
        out.push_str(&format!("\n  - {line}"));
    }
    for line in new.iter().skip(first).take(3) {
        out.push_str(&format!("\n  + {line}"));
    }
    out
}
