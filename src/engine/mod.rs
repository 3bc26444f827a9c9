//! The Rhai engine: a sandbox built from `Engine::new_raw()` with only the packages runbooks
//! need, limits from `runbook.toml`, the sandboxed module resolver, the bindings, and a progress
//! hook that stops the script on Ctrl-C or a step timeout.
//!
//! Also here: reading a runbook's metadata without running it ([`read_metadata`]), used by
//! `check`, `list` and by `run` before anything happens; and the offline outline of a runbook
//! ([`outline`]): its steps in order, with their options, for the playbook `runbook doc` writes.

pub mod diagnostics;
pub mod embedded;
pub mod limits;
pub mod metadata;
pub mod resolver;
pub mod values;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicFnPackage, BasicIteratorPackage, BasicMapPackage,
    BasicMathPackage, BasicStringPackage, LanguageCorePackage, LogicPackage, MoreStringPackage,
    Package,
};
use rhai::{Dynamic, Engine, EvalAltResult, Map, Position, AST};
use sha2::{Digest, Sha256};

use crate::config::Project;
use crate::context::RunContext;
use crate::error::{Error, Result};
use diagnostics::Diagnostics;
use limits::Limits;
use metadata::RunbookMeta;
use resolver::{SandboxedResolver, SourceMap};

/// A runbook script read from disk.
pub struct Script {
    /// The path as given.
    pub path: PathBuf,
    /// The name shown in messages (the path as given).
    pub name: String,
    /// The script text.
    pub text: String,
    /// SHA-256 of the text, hex.
    pub sha256: String,
}

impl Script {
    /// Reads a runbook file.
    pub fn load(path: &Path) -> Result<Script> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::usage(format!("cannot read runbook {}: {e}", path.display()))
                .with_hint("check the path; `runbook list` shows the runbooks in a folder")
        })?;
        let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        Ok(Script {
            path: path.to_path_buf(),
            name: path.display().to_string(),
            text,
            sha256,
        })
    }

    /// The folder the script lives in (module search starts here).
    pub fn dir(&self) -> PathBuf {
        let abs = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        abs.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

/// An engine with the standard runbook sandbox but no bindings.
fn sandbox(limits: &Limits, script: &Script, project: &Project, sources: &SourceMap) -> Engine {
    let mut engine = Engine::new_raw();
    for package in [
        LanguageCorePackage::new().as_shared_module(),
        ArithmeticPackage::new().as_shared_module(),
        LogicPackage::new().as_shared_module(),
        BasicStringPackage::new().as_shared_module(),
        MoreStringPackage::new().as_shared_module(),
        BasicArrayPackage::new().as_shared_module(),
        BasicMapPackage::new().as_shared_module(),
        BasicIteratorPackage::new().as_shared_module(),
        BasicFnPackage::new().as_shared_module(),
        BasicMathPackage::new().as_shared_module(),
    ] {
        engine.register_global_module(package);
    }
    limits.apply(&mut engine);
    engine.set_module_resolver(SandboxedResolver::new(
        &script.dir(),
        &project.stdlib_dir(),
        sources.clone(),
    ));
    engine
}

/// A runbook compiled and ready to run.
pub struct Prepared {
    engine: Engine,
    ast: AST,
    sources: SourceMap,
    limits: Limits,
    name: String,
    hooks: crate::bindings::Hooks,
}

/// What `on_failure` / `on_success` hooks receive about the run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The runbook file.
    pub runbook: String,
    /// Its title.
    pub title: String,
    /// The run id.
    pub run_id: String,
    /// `ok`, `failed` or `interrupted`.
    pub status: String,
    /// The step that failed, if one did.
    pub failed_step: Option<String>,
    /// The error message, for a failed run.
    pub error: Option<String>,
    /// Wall-clock duration.
    pub duration_ms: u64,
    /// Steps that ended, in order.
    pub steps: Vec<crate::context::StepTiming>,
    /// Contacts from the metadata.
    pub contacts: Vec<metadata::Contact>,
    /// Escalation path from the metadata.
    pub escalation: Vec<String>,
}

impl RunSummary {
    fn to_map(&self) -> Map {
        let text = |s: &Option<String>| s.clone().map(Dynamic::from).unwrap_or(Dynamic::UNIT);
        let mut m = Map::new();
        m.insert("runbook".into(), self.runbook.clone().into());
        m.insert("title".into(), self.title.clone().into());
        m.insert("run_id".into(), self.run_id.clone().into());
        m.insert("status".into(), self.status.clone().into());
        m.insert("failed_step".into(), text(&self.failed_step));
        m.insert("error".into(), text(&self.error));
        m.insert("duration_ms".into(), (self.duration_ms as rhai::INT).into());
        let steps: rhai::Array = self
            .steps
            .iter()
            .map(|s| {
                let mut step = Map::new();
                step.insert("name".into(), s.name.clone().into());
                step.insert(
                    "status".into(),
                    format!("{:?}", s.status).to_lowercase().into(),
                );
                step.insert(
                    "duration_ms".into(),
                    (s.duration.as_millis() as rhai::INT).into(),
                );
                Dynamic::from_map(step)
            })
            .collect();
        m.insert("steps".into(), steps.into());
        let contacts: rhai::Array = self
            .contacts
            .iter()
            .map(|c| {
                let mut contact = Map::new();
                contact.insert("role".into(), c.role.clone().into());
                contact.insert("name".into(), c.name.clone().into());
                contact.insert("reach".into(), c.reach.clone().into());
                Dynamic::from_map(contact)
            })
            .collect();
        m.insert("contacts".into(), contacts.into());
        let escalation: rhai::Array = self.escalation.iter().cloned().map(Dynamic::from).collect();
        m.insert("escalation".into(), escalation.into());
        m
    }
}

/// Builds the full engine for `context` and compiles `script`.
pub fn prepare(script: &Script, project: &Project, context: Rc<RunContext>) -> Result<Prepared> {
    let sources = SourceMap::default();
    sources.insert(&script.name, &script.text);
    let limits = project.config.limits.clone();
    let mut engine = sandbox(&limits, script, project, &sources);
    let hooks = crate::bindings::register(&mut engine, context.clone());
    let printer = context.clone();
    engine.on_print(move |text| printer.log("info", text));
    let debugger = context.clone();
    engine.on_debug(move |text, _, _| debugger.log("info", text));
    let checker = context;
    engine.on_progress(move |operations| {
        if operations % 1024 != 0 {
            return None;
        }
        checker.checkpoint().err().map(Dynamic::from)
    });
    let ast = compile(&engine, script, &sources, &limits)?;
    Ok(Prepared {
        engine,
        ast,
        sources,
        limits,
        name: script.name.clone(),
        hooks,
    })
}

fn compile(engine: &Engine, script: &Script, sources: &SourceMap, limits: &Limits) -> Result<AST> {
    let mut ast = engine.compile(&script.text).map_err(|e| {
        let err: Box<EvalAltResult> = e.into();
        Diagnostics {
            main_source: &script.name,
            sources,
            limits,
        }
        .convert(&err)
    })?;
    ast.set_source(script.name.as_str());
    Ok(ast)
}

impl Prepared {
    /// Runs the script to the end.
    pub fn run(&self) -> Result<()> {
        self.engine
            .run_ast(&self.ast)
            .map_err(|e| self.diagnose(&e))
    }

    /// Runs the `on_success` or `on_failure` hooks (by the summary's status); returns one
    /// message per hook that failed. Hook failures never change the run's outcome.
    pub fn run_hooks(&self, summary: &RunSummary) -> Vec<String> {
        let hooks = if summary.status == "ok" {
            self.hooks.on_success.borrow().clone()
        } else {
            self.hooks.on_failure.borrow().clone()
        };
        let map = summary.to_map();
        hooks
            .iter()
            .filter_map(|hook| {
                hook.call::<Dynamic>(&self.engine, &self.ast, (Dynamic::from_map(map.clone()),))
                    .err()
                    .map(|e| self.diagnose(&e).to_string())
            })
            .collect()
    }

    fn diagnose(&self, err: &EvalAltResult) -> Error {
        Diagnostics {
            main_source: &self.name,
            sources: &self.sources,
            limits: &self.limits,
        }
        .convert(err)
    }
}

/// A runbook as the playbook shows it: its metadata and its steps in order.
#[derive(Debug, Clone)]
pub struct Outline {
    /// The validated metadata (with the `//!` doc comment).
    pub meta: RunbookMeta,
    /// The steps, in the order the script declares them.
    pub steps: Vec<crate::context::OutlinedStep>,
}

/// Runs `script` in the offline plan mode ([`crate::context::gate::Mode::Plan`]): every
/// `step(...)` is recorded with its options and its body is NOT run; code outside steps runs, but
/// the effect gate simulates every action (reads included), `env()` / `secret()` give
/// placeholders and `param()` gives the declared defaults (a placeholder for required ones).
/// Nothing touches files, the network or the environment, so the outline is deterministic.
/// Steps inside functions of imported modules appear in call order; steps nested inside another
/// step's body do not (that body is not run).
pub fn outline(script: &Script, project: &Project) -> Result<Outline> {
    use crate::context::secrets::{Secret, PLACEHOLDER_SECRET};
    use crate::context::ParamValue;

    let meta = read_metadata(script, project)?;
    let params = meta
        .params
        .iter()
        .map(|p| {
            let value = if p.secret {
                ParamValue::Secret(Secret::new(&p.name, PLACEHOLDER_SECRET))
            } else {
                ParamValue::Plain(
                    p.default
                        .clone()
                        .unwrap_or_else(|| serde_json::Value::String(format!("<{}>", p.name))),
                )
            };
            (p.name.clone(), value)
        })
        .collect();
    let context = Rc::new(RunContext::offline_plan(project.root.clone(), params));
    let prepared = prepare(script, project, context.clone())?;
    prepared.run().map_err(|e| {
        Error::usage(format!(
            "{}: the offline outline (steps not run, placeholders for env/secret) failed: {}",
            script.name,
            e.message()
        ))
        .with_hint(
            "code outside step(...) must not depend on real results: move host calls into steps",
        )
    })?;
    Ok(Outline {
        meta,
        steps: context.outline(),
    })
}

/// Marker token: metadata was captured, stop evaluating.
#[derive(Clone)]
struct MetadataFound;

/// Reads a runbook's metadata without running it: the script is evaluated in an engine where
/// only `runbook(...)` exists, and evaluation stops as soon as it is called. Anything else before
/// it (other than imports and plain expressions) is an error.
pub fn read_metadata(script: &Script, project: &Project) -> Result<RunbookMeta> {
    let sources = SourceMap::default();
    sources.insert(&script.name, &script.text);
    let limits = Limits {
        max_operations: 100_000,
        ..project.config.limits.clone()
    };
    let mut engine = sandbox(&limits, script, project, &sources);
    let captured: Rc<RefCell<Option<Map>>> = Rc::default();
    let sink = captured.clone();
    engine.register_fn(
        "runbook",
        move |metadata: Map| -> std::result::Result<(), Box<EvalAltResult>> {
            *sink.borrow_mut() = Some(metadata);
            Err(Box::new(EvalAltResult::ErrorTerminated(
                Dynamic::from(MetadataFound),
                Position::NONE,
            )))
        },
    );
    let ast = compile(&engine, script, &sources, &limits)?;
    let outcome = engine.run_ast(&ast);
    let map = captured.borrow_mut().take();
    match (map, outcome) {
        (Some(map), _) => {
            RunbookMeta::from_map(&map, ast.doc()).map_err(|e| e.context(&script.name))
        }
        (None, Ok(())) => Err(no_declaration(script)),
        (None, Err(_)) if !script.text.contains("runbook(") => Err(no_declaration(script)),
        (None, Err(err)) => {
            let inner = Diagnostics {
                main_source: &script.name,
                sources: &sources,
                limits: &limits,
            }
            .convert(&err);
            Err(Error::usage(format!(
                "{}: runbook(#{{...}}) must come first (only imports may precede it), and its map must be literal values\n{}",
                script.name,
                inner.message()
            )))
        }
    }
}

fn no_declaration(script: &Script) -> Error {
    Error::usage(format!(
        "{}: no runbook(#{{ title: ... }}) declaration",
        script.name
    ))
    .with_hint("start the script with runbook(#{ title: \"What this procedure does\" })")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outline_records_steps_without_running_them_or_reading_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("runbook.toml"), "").unwrap();
        let path = dir.path().join("r.rhai");
        std::fs::write(
            &path,
            r#"runbook(#{ title: "R", params: #{ who: "ops", need: (), pw: #{ secret: true, value: () } } });
let url = env("RUNBOOK_TEST_SURELY_UNSET");
if url != "${RUNBOOK_TEST_SURELY_UNSET}" { throw "env is not a placeholder"; }
if param("who") != "ops" || param("need") != "<need>" { throw "params are not defaults"; }
let k = key(secret("RUNBOOK_TEST_KEY"));
let first = step("First", #{ timeout: "5m", fallback: "by hand" }, || write_file("x.txt", "x"));
if first.len() != 0 { throw "a planned step returns an empty map"; }
for i in 0..2 { step(`Loop ${i}`, || throw "never run"); }
write_file("top.txt", "x");"#,
        )
        .unwrap();
        let project = Project::discover(&path).unwrap();
        let outline = outline(&Script::load(&path).unwrap(), &project).unwrap();
        let names: Vec<&str> = outline.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["First", "Loop 0", "Loop 1"]);
        assert_eq!(outline.steps[0].spec.fallback.as_deref(), Some("by hand"));
        assert_eq!(
            outline.steps[0].spec.timeout,
            Some(std::time::Duration::from_secs(300))
        );
        assert_eq!(outline.steps[2].index, 3);
        assert!(!dir.path().join("x.txt").exists());
        assert!(!dir.path().join("top.txt").exists());
    }
}
