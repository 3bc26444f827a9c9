//! The files namespace: `write_file`, `read_file`, `file_exists`, `remove_file`, confined to the
//! project folder.

use rhai::plugin::*;

/// File primitives confined to the project folder.
#[export_module]
pub mod files_api {
    use rhai::{Map, NativeCallContext};

    use crate::bindings::{run_context, to_rhai};
    use crate::context::gate::Effect;
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
        let exists = workdir.exists(path).map_err(to_rhai)?;
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
                || written(path, bytes),
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
        context
            .effect(Effect::Read, &format!("read {path}"), String::new, || {
                workdir.read(path)
            })
            .map_err(to_rhai)
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
        Workdir::new(context.workdir())
            .exists(path)
            .map_err(to_rhai)
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
        let exists = workdir.exists(path).map_err(to_rhai)?;
        context
            .effect(
                Effect::Destructive,
                &format!("remove {path}"),
                || exists,
                || workdir.remove(path),
            )
            .map_err(to_rhai)
    }
}
