//! `runbook check`: compile each runbook and validate its metadata and any `--param` values,
//! without running anything.

use std::rc::Rc;

use super::{param_map, print_error, CheckArgs};
use crate::config::Project;
use crate::context::secrets::Redactor;
use crate::context::RunContext;
use crate::engine::metadata::check_given_params;
use crate::engine::{self, Script};
use crate::error::{Error, Result};

/// Checks every file; fails (exit 2) when any is invalid, after reporting all of them.
pub fn check(args: CheckArgs) -> Result<()> {
    let given = param_map(&args.params);
    let mut failures = 0;
    for file in &args.files {
        match check_one(file, &given) {
            Ok(title) => println!("ok   {}  ({title})", file.display()),
            Err(e) => {
                failures += 1;
                println!("FAIL {}", file.display());
                print_error(&e, &Redactor::default());
            }
        }
    }
    if failures > 0 {
        return Err(Error::usage(format!(
            "{failures} of {} runbook(s) failed the check",
            args.files.len()
        )));
    }
    Ok(())
}

fn check_one(
    file: &std::path::Path,
    given: &std::collections::BTreeMap<String, String>,
) -> Result<String> {
    let script = Script::load(file)?;
    let project = Project::discover(file)?;
    let meta = engine::read_metadata(&script, &project)?;
    check_given_params(&meta, given)?;
    engine::prepare(&script, &project, Rc::new(RunContext::offline()))?;
    Ok(meta.title)
}
