//! The files namespace: `write_file`, `read_file`, `file_exists`, `remove_file`, confined to the
//! project folder.
//!
//! In a dry-run, planned writes and removals are remembered, so a later read in the same run
//! sees what the plan would have left there instead of failing or reading stale data.

use rhai::plugin::*;

/// File primitives confined to the project folder.
#[export_module]
pub mod files_api {
    use rhai::{Map, NativeCallContext};

    use crate::bindings::{run_context, to_rhai};
    use crate::context::gate::Effect;
    use crate::error::Error;
    use crate::host::files::Workdir;

    type Res<T> = Result<T, Box<rhai::EvalAltResult>>;

    fn written(path: &str, bytes: u64) -> Map {
        let mut map = Map::new();
        map.insert("path".into(), path.into());
        map.insert("bytes".into(), (bytes as rhai::INT).into());
        map
    }

    /// Writes `text` to `path` (relative to the project folder), creating folders as needed.
    /// Returns `#{ path, bytes }`.
    ///
    /// **Effect:** Write for a new file; Destructive when it replaces an existing one.
    ///
    /// ```rhai
    /// write_file("out/restored-at.txt", `restored ${set.id}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn write_file(call: NativeCallContext, path: &str, text: &str) -> Res<Map> {
        let context = run_context(&call)?;
        let workdir = Workdir::new(context.workdir());
        let full = workdir.resolve(path).map_err(to_rhai)?;
        let exists = match context.planned_file(&full) {
            Some(planned) => planned.is_some(),
            None => full.exists(),
        };
        let bytes = text.len() as u64;
        let (effect, action) = if exists {
            (
                Effect::Destructive,
                format!("overwrite {path} with {bytes} bytes"),
            )
        } else {
            (Effect::Write, format!("write {bytes} bytes to {path}"))
        };
        context
            .effect(
                effect,
                &action,
                || {
                    context.plan_file(&full, Some(text.to_string()));
                    written(path, bytes)
                },
                || workdir.write(path, text).map(|n| written(path, n)),
            )
            .map_err(to_rhai)
    }

    /// Reads the text file `path` (relative to the project folder).
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let marker = read_file("out/restored-at.txt");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn read_file(call: NativeCallContext, path: &str) -> Res<String> {
        let context = run_context(&call)?;
        let workdir = Workdir::new(context.workdir());
        let full = workdir.resolve(path).map_err(to_rhai)?;
        match context.planned_file(&full) {
            Some(Some(text)) => Ok(text),
            Some(None) => Err(to_rhai(Error::failed(format!(
                "reading {path}: the plan removes it earlier in this dry-run"
            )))),
            None => context
                .effect(Effect::Read, &format!("read {path}"), String::new, || {
                    workdir.read(path)
                })
                .map_err(to_rhai),
        }
    }

    /// Whether `path` (relative to the project folder) exists.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// if file_exists("out/lock") { warn("a lock file is present"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn file_exists(call: NativeCallContext, path: &str) -> Res<bool> {
        let context = run_context(&call)?;
        let full = Workdir::new(context.workdir())
            .resolve(path)
            .map_err(to_rhai)?;
        Ok(match context.planned_file(&full) {
            Some(planned) => planned.is_some(),
            None => context
                .effect(
                    Effect::Read,
                    &format!("look for {path}"),
                    || false,
                    || Ok(full.exists()),
                )
                .map_err(to_rhai)?,
        })
    }

    /// Compares two folder trees byte for byte (names, kinds, contents, link targets). Returns
    /// `#{ same, differences }`, where `differences` lists what differs, one line each. Paths are
    /// relative to the project folder or absolute; both trees are only read.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let diff = compare_dirs("/srv/mt5", "out/drill/restored");
    /// if !diff.same { throw `restore differs: ${diff.differences}`; }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn compare_dirs(call: NativeCallContext, left: &str, right: &str) -> Res<Map> {
        let context = run_context(&call)?;
        let resolve = |p: &str| {
            let p = std::path::PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                context.workdir().join(p)
            }
        };
        let differences = context
            .effect(
                Effect::Read,
                &format!("compare {left} with {right}"),
                Vec::new,
                || crate::host::files::compare_trees(&resolve(left), &resolve(right)),
            )
            .map_err(to_rhai)?;
        let mut map = Map::new();
        map.insert("same".into(), differences.is_empty().into());
        map.insert(
            "differences".into(),
            differences
                .into_iter()
                .map(rhai::Dynamic::from)
                .collect::<rhai::Array>()
                .into(),
        );
        Ok(map)
    }

    /// Removes the file `path` (relative to the project folder). Returns whether it existed.
    ///
    /// **Effect:** Destructive.
    ///
    /// ```rhai
    /// remove_file("out/old-marker.txt");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn remove_file(call: NativeCallContext, path: &str) -> Res<bool> {
        let context = run_context(&call)?;
        let workdir = Workdir::new(context.workdir());
        let full = workdir.resolve(path).map_err(to_rhai)?;
        let exists = match context.planned_file(&full) {
            Some(planned) => planned.is_some(),
            None => full.exists(),
        };
        context
            .effect(
                Effect::Destructive,
                &format!("remove {path}"),
                || {
                    context.plan_file(&full, None);
                    exists
                },
                || workdir.remove(path),
            )
            .map_err(to_rhai)
    }
}
