//! The sandboxed module resolver behind `import "name"`.
//!
//! A module name resolves, in order, from the runbook's own folder, the project's `stdlib/`
//! folder, and the modules embedded in the binary — so a team can override a shipped module by
//! dropping a file of the same name next to its runbooks, without recompiling. Absolute paths,
//! `..` and `.` components, backslashes and symlinks leading out of a search folder are refused:
//! a runbook cannot load code from outside its project. (Rhai's own `FileModuleResolver` lets all
//! of those through.)

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

type SharedModule = Shared<Module>;

use crate::engine::embedded;

/// Source texts by source name, so errors anywhere can show the offending line.
#[derive(Clone, Default)]
pub struct SourceMap {
    texts: Rc<RefCell<HashMap<String, String>>>,
}

impl SourceMap {
    /// Remembers the text of the source called `name`.
    pub fn insert(&self, name: &str, text: &str) {
        self.texts
            .borrow_mut()
            .insert(name.to_string(), text.to_string());
    }

    /// Line `line` (1-based) of source `name`.
    pub fn line(&self, name: &str, line: usize) -> Option<String> {
        let texts = self.texts.borrow();
        texts
            .get(name)?
            .lines()
            .nth(line.checked_sub(1)?)
            .map(str::to_string)
    }
}

/// Resolves `import` names inside the project only.
pub struct SandboxedResolver {
    dirs: Vec<PathBuf>,
    sources: SourceMap,
    cache: RefCell<HashMap<String, SharedModule>>,
}

impl SandboxedResolver {
    /// Searches `runbook_dir`, then `stdlib_dir`, then the embedded modules.
    pub fn new(runbook_dir: &Path, stdlib_dir: &Path, sources: SourceMap) -> Self {
        SandboxedResolver {
            dirs: vec![runbook_dir.to_path_buf(), stdlib_dir.to_path_buf()],
            sources,
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// Finds a module's source: (source name, text).
    fn find(&self, relative: &str) -> Result<Option<(String, String)>, String> {
        for dir in &self.dirs {
            let candidate = dir.join(relative);
            if !candidate.is_file() {
                continue;
            }
            let (Ok(real), Ok(root)) = (candidate.canonicalize(), dir.canonicalize()) else {
                continue;
            };
            if !real.starts_with(&root) {
                return Err(format!(
                    "{} leads outside {} (through a link); refused",
                    candidate.display(),
                    dir.display()
                ));
            }
            let text = std::fs::read_to_string(&real)
                .map_err(|e| format!("cannot read {}: {e}", candidate.display()))?;
            return Ok(Some((candidate.display().to_string(), text)));
        }
        Ok(embedded::module(relative)
            .map(|text| (format!("<embedded>/{relative}"), text.to_string())))
    }
}

/// Checks an import name and returns the relative file path it stands for (`name.rhai`).
pub fn module_file_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("an empty module name".into());
    }
    if name.contains('\\') {
        return Err(format!("module \"{name}\": use `/` between folders"));
    }
    if name.starts_with('/') || name.contains(':') {
        return Err(format!(
            "module \"{name}\": absolute paths are not allowed; name a module relative to the runbook folder or stdlib/"
        ));
    }
    for part in name.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(format!(
                "module \"{name}\": `..`, `.` and empty path parts are not allowed; modules come from the runbook folder, stdlib/ or the built-in library"
            ));
        }
        if !part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "module \"{name}\": only letters, digits, `-`, `_`, `.` and `/` are allowed"
            ));
        }
    }
    Ok(if name.ends_with(".rhai") {
        name.to_string()
    } else {
        format!("{name}.rhai")
    })
}

impl ModuleResolver for SandboxedResolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        let refuse = |msg: String| Box::new(EvalAltResult::ErrorRuntime(msg.into(), pos));
        let relative = module_file_name(path).map_err(refuse)?;
        if let Some(module) = self.cache.borrow().get(&relative) {
            return Ok(module.clone());
        }
        let Some((source_name, text)) = self.find(&relative).map_err(refuse)? else {
            return Err(Box::new(EvalAltResult::ErrorModuleNotFound(
                path.to_string(),
                pos,
            )));
        };
        self.sources.insert(&source_name, &text);
        let in_module = |err: Box<EvalAltResult>| {
            Box::new(EvalAltResult::ErrorInModule(source_name.clone(), err, pos))
        };
        let mut ast = engine.compile(&text).map_err(|e| in_module(e.into()))?;
        ast.set_source(source_name.as_str());
        let module: SharedModule = Module::eval_ast_as_new(Scope::new(), &ast, engine)
            .map_err(in_module)?
            .into();
        self.cache.borrow_mut().insert(relative, module.clone());
        Ok(module)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_names_are_refused() {
        for bad in [
            "../x",
            "/etc/passwd",
            "a/../../b",
            "C:/x",
            "a\\b",
            "./a",
            "",
            "a//b",
        ] {
            assert!(module_file_name(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(module_file_name("lib/backup").unwrap(), "lib/backup.rhai");
        assert_eq!(module_file_name("common.rhai").unwrap(), "common.rhai");
    }
}
