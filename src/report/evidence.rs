//! The evidence folder of a drill: `<evidence dir>/<YYYY-MM-DD>-<runbook stem>/` (with `-2`,
//! `-3`, … when that folder exists) holding
//!
//! - `journal.jsonl`: a copy of the run's journal,
//! - `drill.json`: the drill record,
//! - `report.md`: the same, for people,
//! - `checksums.sha256`: SHA-256 of each of those files, in `sha256sum -c` format.
//!
//! Everything passes through the run's redactor before it is written.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::context::output::format_duration_ms;
use crate::context::secrets::Redactor;
use crate::error::{Error, Result};
use crate::report::drill::DrillRecord;

/// The name of the checksum file in an evidence folder.
pub const CHECKSUMS: &str = "checksums.sha256";

/// Picks a new evidence folder for a drill of `stem` on `date` (`YYYY-MM-DD`) below `dir`.
pub fn new_folder(dir: &Path, date: &str, stem: &str) -> PathBuf {
    let base = format!("{date}-{stem}");
    let mut candidate = dir.join(&base);
    let mut n = 2;
    while candidate.exists() {
        candidate = dir.join(format!("{base}-{n}"));
        n += 1;
    }
    candidate
}

/// Writes the evidence files into `folder` (created): the journal copy (if there is a journal),
/// the record, the report and the checksums. Returns the file names written, checksums last.
pub fn write(
    folder: &Path,
    record: &DrillRecord,
    journal: Option<&Path>,
    redactor: &Redactor,
) -> Result<Vec<String>> {
    std::fs::create_dir_all(folder)
        .map_err(|e| Error::io(format!("creating evidence folder {}", folder.display()), e))?;
    let mut files: Vec<(String, String)> = Vec::new();
    if let Some(journal) = journal {
        let text = std::fs::read_to_string(journal)
            .map_err(|e| Error::io(format!("reading journal {}", journal.display()), e))?;
        files.push(("journal.jsonl".into(), redactor.redact(&text)));
    }
    files.push((
        "drill.json".into(),
        format!("{}\n", record.to_pretty(redactor)),
    ));
    files.push(("report.md".into(), redactor.redact(&report(record))));
    let mut sums = String::new();
    for (name, text) in &files {
        let path = folder.join(name);
        std::fs::write(&path, text)
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        sums.push_str(&format!(
            "{}  {name}\n",
            hex::encode(Sha256::digest(text.as_bytes()))
        ));
    }
    let path = folder.join(CHECKSUMS);
    std::fs::write(&path, &sums)
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    let mut names: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
    names.push(CHECKSUMS.into());
    Ok(names)
}

/// Escapes text for one cell of a Markdown table.
pub fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// The human-readable drill report.
pub fn report(r: &DrillRecord) -> String {
    let mut out = String::new();
    let title = if r.title.is_empty() {
        &r.runbook
    } else {
        &r.title
    };
    out.push_str(&format!("# Drill report: {title}\n\n"));
    let rto = r.rto.as_deref().unwrap_or("none declared");
    let rows = [
        ("Runbook", format!("`{}`", r.runbook)),
        ("Run id", format!("`{}`", r.run_id)),
        ("Operator", r.operator.clone()),
        ("Host", r.host.clone()),
        ("Started (UTC)", r.started.clone()),
        ("Finished (UTC)", r.finished.clone()),
        ("Status", format!("{} (exit {})", r.status, r.exit_code)),
        ("Duration", format_duration_ms(r.duration_ms)),
        ("RTO", rto.to_string()),
        ("Verdict", format!("**{}**", r.verdict.as_str())),
        ("Script SHA-256", format!("`{}`", r.script_sha256)),
        ("runbook version", r.tool_version.clone()),
    ];
    out.push_str("| | |\n|---|---|\n");
    for (k, v) in rows {
        out.push_str(&format!("| {k} | {} |\n", cell(&v)));
    }
    out.push_str("\n## Parameters\n\n");
    if r.params.is_empty() {
        out.push_str("None.\n");
    } else {
        out.push_str("| name | value |\n|---|---|\n");
        for (k, v) in &r.params {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push_str(&format!("| `{k}` | `{}` |\n", cell(&v)));
        }
    }
    out.push_str("\n## Steps\n\n");
    if r.steps.is_empty() {
        out.push_str("No step ended.\n");
    } else {
        out.push_str("| # | step | status | duration |\n|---|---|---|---|\n");
        for (i, s) in r.steps.iter().enumerate() {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                i + 1,
                cell(&s.name),
                s.status,
                format_duration_ms(s.duration_ms)
            ));
        }
    }
    if r.failed_step.is_some() || r.error.is_some() {
        out.push_str("\n## Failure\n\n");
        if let Some(step) = &r.failed_step {
            out.push_str(&format!("Failed step: **{step}**\n\n"));
        }
        if let Some(error) = &r.error {
            out.push_str(&format!("```text\n{error}\n```\n"));
        }
    }
    out.push_str("\n## Gaps and improvements\n\n");
    if r.notes.is_empty() {
        out.push_str("None noted.\n");
    } else {
        for note in &r.notes {
            out.push_str(&format!("- {note}\n"));
        }
    }
    out.push_str(&format!(
        "\n## Files\n\n- `journal.jsonl`: the run journal\n- `drill.json`: this record, as appended to the drill log\n- `{CHECKSUMS}`: SHA-256 of each file (`sha256sum -c {CHECKSUMS}`)\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_get_a_suffix_when_taken() {
        let dir = tempfile::tempdir().unwrap();
        let first = new_folder(dir.path(), "2026-12-04", "restore");
        assert!(first.ends_with("2026-12-04-restore"));
        std::fs::create_dir_all(&first).unwrap();
        let second = new_folder(dir.path(), "2026-12-04", "restore");
        assert!(second.ends_with("2026-12-04-restore-2"));
    }
}
