//! `runbook list`: the runbooks in a folder with title, RTO/RPO, schedule and next run.

use serde_json::json;

use super::{runbook_dir, runbook_files, ListArgs};
use crate::config::Project;
use crate::engine::metadata::format_duration;
use crate::engine::{self, Script};
use crate::error::Result;

/// Lists runbooks.
pub fn list(args: ListArgs) -> Result<()> {
    let dir = runbook_dir(args.dir);
    let files = runbook_files(&dir)?;
    let now = chrono::Utc::now();
    let mut rows = Vec::new();
    for file in files {
        let row = match Script::load(&file)
            .and_then(|s| Project::discover(&file).map(|p| (s, p)))
            .and_then(|(s, p)| engine::read_metadata(&s, &p))
        {
            Ok(meta) => json!({
                "file": file.display().to_string(),
                "title": meta.title,
                "rto": meta.rto.map(format_duration),
                "rpo": meta.rpo.map(format_duration),
                "schedule": meta.schedule.as_ref().map(|s| s.expression.clone()),
                "next_run": meta.schedule.as_ref().and_then(|s| s.next_after(now)).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
            }),
            Err(e) => json!({
                "file": file.display().to_string(),
                "error": e.message().lines().next().unwrap_or_default(),
            }),
        };
        rows.push(row);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("rows serialize")
        );
        return Ok(());
    }
    if rows.is_empty() {
        println!("no runbooks (*.rhai) in {}", dir.display());
        return Ok(());
    }
    let cell = |row: &serde_json::Value, key: &str| -> String {
        row.get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("-")
            .to_string()
    };
    let table: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let title = match r.get("error") {
                Some(e) => format!("INVALID: {}", e.as_str().unwrap_or_default()),
                None => cell(r, "title"),
            };
            [
                cell(r, "file"),
                title,
                cell(r, "rto"),
                cell(r, "rpo"),
                cell(r, "schedule"),
                cell(r, "next_run"),
            ]
        })
        .collect();
    let header = [
        "RUNBOOK",
        "TITLE",
        "RTO",
        "RPO",
        "SCHEDULE (UTC)",
        "NEXT RUN",
    ];
    let mut widths = header.map(str::len);
    for row in &table {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let print_row = |cells: &[String]| {
        let line: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    };
    print_row(&header.map(String::from));
    for row in &table {
        print_row(row);
    }
    Ok(())
}
