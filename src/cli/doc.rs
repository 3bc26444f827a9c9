//! `runbook doc`: the disaster-recovery playbook from the runbooks (metadata and offline
//! outlines: nothing runs) and the drill log; `--check` compares with the committed file.
//! `runbook drill` calls [`refresh_after_drill`] so a committed playbook picks up the new drill.

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
    let playbook = render(&dir, &project)?;
    let output = args
        .output
        .unwrap_or_else(|| project.root.join(DEFAULT_OUTPUT));
    if args.check {
        return check(&output, &playbook.text);
    }
    write(&output, &playbook.text)?;
    println!(
        "wrote {} ({} runbook(s), {} drill(s))",
        output.display(),
        playbook.runbooks,
        playbook.drills
    );
    Ok(())
}

/// A rendered playbook and what went into it.
pub struct Playbook {
    /// The Markdown.
    pub text: String,
    /// How many runbooks it documents.
    pub runbooks: usize,
    /// How many drills its history lists.
    pub drills: usize,
}

/// Renders the playbook for the runbooks in `dir` and the project's drill log.
pub fn render(dir: &Path, project: &Project) -> Result<Playbook> {
    let mut entries = Vec::new();
    for file in runbook_files(dir)? {
        let script = Script::load(&file)?;
        let outline = engine::outline(&script, project)?;
        entries.push(Entry {
            path: portable_path(&file, &project.root),
            outline,
        });
    }
    let log = project.drill_log();
    let drills = read_log(&log)?;
    let sources = Sources {
        runbooks: format!("`{}/`", portable_path(dir, &project.root)),
        drill_log: format!("`{}`", portable_path(&log, &project.root)),
    };
    Ok(Playbook {
        text: playbook::render(&mut entries, &drills, &sources),
        runbooks: entries.len(),
        drills: drills.len(),
    })
}

/// After a drill: regenerates the project's playbook at its default place from `runbooks/`, if
/// both exist. Returns the path written.
pub fn refresh_after_drill(project: &Project) -> Result<Option<PathBuf>> {
    let output = project.root.join(DEFAULT_OUTPUT);
    let dir = project.root.join("runbooks");
    if !output.is_file() || !dir.is_dir() {
        return Ok(None);
    }
    let playbook = render(&dir, project)?;
    write(&output, &playbook.text)?;
    Ok(Some(output))
}

fn write(output: &Path, text: &str) -> Result<()> {
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    std::fs::write(output, text).map_err(|e| Error::io(format!("writing {}", output.display()), e))
}

fn check(output: &Path, text: &str) -> Result<()> {
    let Ok(committed) = std::fs::read_to_string(output) else {
        return Err(
            Error::failed(format!("{} does not exist", output.display())).with_hint(format!(
                "write it with `runbook doc -o {}` and commit it",
                output.display()
            )),
        );
    };
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
