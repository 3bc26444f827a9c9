//! `runbook schedule`: crontab lines, systemd timers or Windows Task Scheduler tasks for the
//! runbooks that declare a `schedule` (cron, UTC). Runbooks without one are skipped with a note.

use super::{runbook_dir, runbook_files, ScheduleArgs, ScheduleFormat};
use crate::config::Project;
use crate::engine::{self, Script};
use crate::error::{Error, Result};
use crate::report::drill::portable_path;
use crate::report::schedule::{self, Cron, Job, Target};

/// Prints (or writes) the schedules.
pub fn schedule(args: ScheduleArgs) -> Result<()> {
    let dir = runbook_dir(args.dir.clone());
    let project = Project::discover(&dir)?;
    let mut jobs = Vec::new();
    for file in runbook_files(&dir)? {
        let script = Script::load(&file)?;
        let meta = engine::read_metadata(&script, &project)?;
        let path = portable_path(&file, &project.root);
        match &meta.schedule {
            Some(s) => jobs.push(Job {
                cron: Cron::parse(&s.expression).map_err(|e| e.context(&path))?,
                path,
                title: meta.title.clone(),
            }),
            None => eprintln!("note: {path} has no schedule; skipped"),
        }
    }
    if jobs.is_empty() {
        eprintln!(
            "note: no runbook in {} declares a schedule (runbook(#{{ schedule: \"0 2 * * *\" }}))",
            dir.display()
        );
        return Ok(());
    }
    let windows = args.format == ScheduleFormat::Windows;
    let target = Target {
        bin: args
            .runbook_bin
            .clone()
            .unwrap_or_else(|| default_bin(windows)),
        workdir: args
            .workdir
            .clone()
            .unwrap_or_else(|| project.root.display().to_string()),
        log_dir: args.log_dir.clone(),
    };
    let files = match args.format {
        ScheduleFormat::Cron => {
            let text = schedule::crontab(&jobs, &target);
            match &args.out_dir {
                Some(_) => vec![("runbook.crontab".to_string(), text)],
                None => {
                    print!("{text}");
                    return Ok(());
                }
            }
        }
        ScheduleFormat::Systemd => schedule::systemd(&jobs, &target)?,
        ScheduleFormat::Windows => schedule::windows(&jobs, &target)?,
    };
    let install: Vec<String> = match args.format {
        ScheduleFormat::Cron => vec![
            "add the lines to `crontab -e` (`crontab runbook.crontab` replaces the whole crontab)"
                .into(),
        ],
        ScheduleFormat::Systemd => {
            let timers: Vec<&str> = files
                .iter()
                .map(|(n, _)| n.as_str())
                .filter(|n| n.ends_with(".timer"))
                .collect();
            vec![
                "systemctl daemon-reload".into(),
                format!("systemctl enable --now {}", timers.join(" ")),
            ]
        }
        ScheduleFormat::Windows => files
            .iter()
            .map(|(n, _)| schedule::schtasks_command(n))
            .collect(),
    };
    let comment = if windows { "REM" } else { "#" };
    match &args.out_dir {
        Some(out) => {
            std::fs::create_dir_all(out)
                .map_err(|e| Error::io(format!("creating {}", out.display()), e))?;
            for (name, text) in &files {
                let path = out.join(name);
                std::fs::write(&path, text)
                    .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
                println!("wrote {}", path.display());
            }
            println!("to install, in {}:", out.display());
            for line in &install {
                println!("  {line}");
            }
        }
        None => {
            for (name, text) in &files {
                println!("{comment} ==> {name} <==");
                print!("{text}");
                println!();
            }
            println!("{comment} to install, save each file under its name, then:");
            for line in &install {
                println!("{comment}   {line}");
            }
        }
    }
    Ok(())
}

/// `runbook.exe` for Windows tasks; else this binary's own path (cron's PATH is short), or
/// `runbook` when it is unknown.
fn default_bin(windows: bool) -> String {
    if windows {
        return "runbook.exe".into();
    }
    std::env::current_exe()
        .ok()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "runbook".into())
}
