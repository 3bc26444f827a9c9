//! The VPS snapshot namespace (issue 6): `vps(provider, opts)` and the handle's methods
//! `snapshots`, `snapshot`, `prune`, `snapshot_and_prune`, `restore` and `boot_verify`, over the
//! host layer in [`crate::host::snapshot`] (Hetzner Cloud, Contabo, local qcow2 images).
//!
//! Snapshots reach scripts as plain maps `#{ id, name, created, status, ours, size_gb }`, so a
//! step that returns one is journaled and handed back on `--resume`. Every primitive goes
//! through the effect gate; plans name exactly which snapshots are taken, deleted and kept.

use std::cell::RefCell;
use std::rc::Rc;

use rhai::{Array, Dynamic, EvalAltResult, FnPtr, Map, NativeCallContext};

use crate::bindings::options::Options;
use crate::bindings::{describe, to_rhai};
use crate::context::secrets::Secret;
use crate::context::RunContext;
use crate::error::{Error, Result};
use crate::host::snapshot::contabo::{self, ContaboClient};
use crate::host::snapshot::hetzner::{self, HetznerClient};
use crate::host::snapshot::qemu::QemuImage;
use crate::host::snapshot::{plan_prune, BootedCopy, Provider, Snapshot, SnapshotStatus};

/// Which provider a handle talks to (plans differ: a Contabo rollback deletes newer snapshots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpsKind {
    /// Hetzner Cloud.
    Hetzner,
    /// Contabo.
    Contabo,
    /// A local qcow2 image.
    Qemu,
}

/// A VPS (or disk image) whose snapshots a script manages, from `vps(provider, opts)`.
#[derive(Clone)]
pub struct Vps {
    kind: VpsKind,
    provider: Rc<dyn Provider>,
}

impl Vps {
    /// What this is, e.g. `hetzner server web-1` (never a credential).
    pub fn describe(&self) -> String {
        self.provider.describe()
    }
}

/// A snapshot as the script sees it.
pub fn snapshot_map(s: &Snapshot) -> Map {
    let mut m = Map::new();
    m.insert("id".into(), s.id.clone().into());
    m.insert("name".into(), s.name.clone().into());
    m.insert("created".into(), s.created.to_rfc3339().into());
    m.insert("status".into(), status_text(&s.status).into());
    m.insert("ours".into(), s.ours.into());
    m.insert(
        "size_gb".into(),
        match s.size_gb {
            Some(gb) => Dynamic::from_float(gb),
            None => Dynamic::UNIT,
        },
    );
    m
}

fn status_text(status: &SnapshotStatus) -> String {
    match status {
        SnapshotStatus::Creating => "creating".into(),
        SnapshotStatus::Available => "available".into(),
        SnapshotStatus::Failed => "failed".into(),
        SnapshotStatus::Unknown(s) => s.clone(),
    }
}

fn maps(list: &[Snapshot]) -> Array {
    list.iter().map(|s| snapshot_map(s).into()).collect()
}

/// `1234 "weekly" (2026-12-04 03:00 UTC)`, for plans.
fn brief(s: &Snapshot) -> String {
    let when = s.created.format("%Y-%m-%d %H:%M UTC");
    if s.name == s.id || s.name.is_empty() {
        format!("{} ({when})", s.id)
    } else {
        format!("{} \"{}\" ({when})", s.id, s.name)
    }
}

fn briefs(list: &[Snapshot]) -> String {
    if list.is_empty() {
        "none".into()
    } else {
        list.iter().map(brief).collect::<Vec<_>>().join(", ")
    }
}

/// The id a script refers to: a snapshot map (from `snapshots()` / `snapshot()`), an id string
/// or a number.
pub fn snapshot_id_of(value: &Dynamic) -> Result<String> {
    if let Some(map) = value.read_lock::<Map>() {
        if let Some(id) = map.get("id").filter(|v| v.is_string() || v.is_int()) {
            return Ok(id.to_string());
        }
    } else if value.is_string() || value.is_int() {
        return Ok(value.to_string());
    }
    Err(Error::usage(
        "expected a snapshot (the map returned by vps.snapshots() / vps.snapshot()) or its id",
    ))
}

/// A `Secret` option; a plain string is refused.
fn secret_option(what: &str, map: &Map, key: &str) -> Result<Option<Secret>> {
    match map.get(key).filter(|v| !v.is_unit()) {
        None => Ok(None),
        Some(v) => v
            .read_lock::<Secret>()
            .map(|s| Some(s.clone()))
            .ok_or_else(|| {
                Error::usage(format!(
                    "{what}: option `{key}` must come from secret(\"NAME\"), not from the script text"
                ))
                .with_hint("put the value in .env or the environment and write secret(\"NAME\")")
            }),
    }
}

fn required<T>(what: &str, key: &str, value: Option<T>) -> Result<T> {
    value.ok_or_else(|| Error::usage(format!("{what}: option `{key}` is required")))
}

/// Decodes `vps(provider, opts)` into a handle. Opening calls no API.
pub fn open(context: &RunContext, provider: &str, options: Map) -> Result<Vps> {
    let what = format!("vps(\"{provider}\")");
    match provider {
        "hetzner" => {
            let opts = Options::new(&what, options.clone(), &["token", "server", "api"])?;
            let token = required(&what, "token", secret_option(&what, &options, "token")?)?;
            let server = match options.get("server").filter(|v| !v.is_unit()) {
                Some(v) if v.is_int() => v.to_string(),
                _ => required(&what, "server", opts.string("server")?)?,
            };
            let api = opts
                .string("api")?
                .unwrap_or_else(|| hetzner::DEFAULT_BASE_URL.into());
            Ok(Vps {
                kind: VpsKind::Hetzner,
                provider: Rc::new(HetznerClient::new(&api, token, &server)?),
            })
        }
        "contabo" => {
            let opts = Options::new(
                &what,
                options.clone(),
                &[
                    "client_id",
                    "client_secret",
                    "user",
                    "password",
                    "instance",
                    "prefix",
                    "api",
                    "auth_url",
                ],
            )?;
            let client_secret = required(
                &what,
                "client_secret",
                secret_option(&what, &options, "client_secret")?,
            )?;
            let password = required(
                &what,
                "password",
                secret_option(&what, &options, "password")?,
            )?;
            let client = ContaboClient::new(
                &opts
                    .string("api")?
                    .unwrap_or_else(|| contabo::DEFAULT_API_BASE.into()),
                &opts
                    .string("auth_url")?
                    .unwrap_or_else(|| contabo::DEFAULT_AUTH_URL.into()),
                &required(&what, "client_id", opts.string("client_id")?)?,
                client_secret,
                &required(&what, "user", opts.string("user")?)?,
                password,
                required(&what, "instance", opts.int("instance")?)?,
                &opts.string("prefix")?.unwrap_or_else(|| "rb-".into()),
            )?;
            Ok(Vps {
                kind: VpsKind::Contabo,
                provider: Rc::new(client),
            })
        }
        "qemu" => {
            let opts = Options::new(&what, options, &["image"])?;
            let image = required(&what, "image", opts.string("image")?)?;
            let path = crate::bindings::storage::script_path(context, &image);
            Ok(Vps {
                kind: VpsKind::Qemu,
                provider: Rc::new(QemuImage::new(path)),
            })
        }
        other => Err(Error::usage(format!("vps: unknown provider \"{other}\""))
            .with_hint("use \"hetzner\", \"contabo\" or \"qemu\"")),
    }
}

/// Decodes `#{ keep_last: N }` (N ≥ 1).
fn keep_last(what: &str, policy: Map) -> Result<usize> {
    let opts = Options::new(what, policy, &["keep_last"])?;
    match opts.int("keep_last")? {
        None => Err(Error::usage(format!("{what}: `keep_last` is required"))
            .with_hint("e.g. #{ keep_last: 4 } keeps the newest 4 snapshots runbook made")),
        Some(n) if n < 1 => Err(
            Error::usage(format!("{what}: `keep_last` must be at least 1"))
                .with_hint("keeping 0 would delete every snapshot runbook made, the newest too"),
        ),
        Some(n) => Ok(n as usize),
    }
}

/// Ours and available, not in `doomed`: what retention keeps.
fn kept(all: &[Snapshot], doomed: &[Snapshot]) -> Vec<Snapshot> {
    all.iter()
        .filter(|s| s.ours && s.status == SnapshotStatus::Available)
        .filter(|s| !doomed.iter().any(|d| d.id == s.id))
        .cloned()
        .collect()
}

fn untouched(all: &[Snapshot]) -> usize {
    all.iter()
        .filter(|s| !(s.ours && s.status == SnapshotStatus::Available))
        .count()
}

/// The id of the snapshot a dry-run hands back in place of one it did not take.
pub const DRY_RUN_ID: &str = "(dry-run: not created)";

/// The snapshot map a dry-run hands back in place of one it did not take.
fn simulated_snapshot(description: &str) -> Map {
    snapshot_map(&Snapshot {
        id: DRY_RUN_ID.into(),
        name: description.into(),
        created: chrono::Utc::now(),
        status: SnapshotStatus::Available,
        ours: true,
        size_gb: None,
    })
}

fn limit_note(vps: &Vps) -> &'static str {
    if vps.kind == VpsKind::Contabo {
        " (if the plan's snapshot limit is reached, our oldest snapshot is deleted first)"
    } else {
        ""
    }
}

/// `snapshot(description)`.
pub fn take(context: &RunContext, vps: &Vps, description: &str) -> Result<Map> {
    let action = format!(
        "take a snapshot \"{description}\" of {} and wait until it is available{}",
        vps.describe(),
        limit_note(vps)
    );
    context.effect(
        crate::context::gate::Effect::Write,
        &action,
        || simulated_snapshot(description),
        || {
            let s = vps
                .provider
                .create_snapshot(description, &context.control())?;
            if s.status != SnapshotStatus::Available {
                return Err(Error::failed(format!(
                    "{}: the new snapshot {} is {}, not available",
                    vps.describe(),
                    s.id,
                    status_text(&s.status)
                )));
            }
            Ok(snapshot_map(&s))
        },
    )
}

fn prune_result(deleted: &[Snapshot], kept: &[Snapshot]) -> Map {
    let mut m = Map::new();
    m.insert("deleted".into(), maps(deleted).into());
    m.insert("kept".into(), maps(kept).into());
    m
}

/// `prune(#{ keep_last })`.
pub fn prune(context: &RunContext, vps: &Vps, policy: Map) -> Result<Map> {
    use crate::context::gate::Effect;
    let keep = keep_last("prune policy", policy)?;
    let all = context.effect(Effect::Read, "list snapshots", Vec::new, || {
        vps.provider.list_snapshots(&context.control())
    })?;
    let doomed = plan_prune(&all, keep);
    let keep_list = kept(&all, &doomed);
    if doomed.is_empty() {
        context.log(
            "info",
            &format!(
                "prune {}: nothing to delete ({} of ours kept)",
                vps.describe(),
                keep_list.len()
            ),
        );
        return Ok(prune_result(&[], &keep_list));
    }
    let action = format!(
        "delete {} snapshot(s) of {}: {}; keeping the newest {} of ours: {}; {} other snapshot(s) (not ours, or not available) left alone",
        doomed.len(),
        vps.describe(),
        briefs(&doomed),
        keep_list.len(),
        briefs(&keep_list),
        untouched(&all)
    );
    context.effect(
        Effect::Destructive,
        &action,
        || prune_result(&doomed, &keep_list),
        || {
            let control = context.control();
            let mut deleted = Vec::new();
            let mut failures = Vec::new();
            for s in &doomed {
                control.check()?;
                match vps.provider.delete_snapshot(&s.id, &control) {
                    Ok(()) => deleted.push(s.clone()),
                    Err(e) => failures.push(format!("{}: {}", s.id, e.message())),
                }
            }
            if !failures.is_empty() {
                return Err(Error::failed(format!(
                    "{}: pruning failed for {} (deleted: {})",
                    vps.describe(),
                    failures.join("; "),
                    briefs(&deleted)
                ))
                .with_hint("run the prune again, or delete those snapshots by hand"));
            }
            Ok(prune_result(&deleted, &keep_list))
        },
    )
}

/// `snapshot_and_prune(description, #{ keep_last })`.
pub fn snapshot_and_prune(
    context: &RunContext,
    vps: &Vps,
    description: &str,
    policy: Map,
) -> Result<Map> {
    use crate::context::gate::Effect;
    let keep = keep_last("snapshot_and_prune policy", policy)?;
    let all = context.effect(Effect::Read, "list snapshots", Vec::new, || {
        vps.provider.list_snapshots(&context.control())
    })?;
    // The new snapshot will be the newest of ours, so `keep - 1` of the existing ones stay.
    let doomed = plan_prune(&all, keep - 1);
    let keep_list = kept(&all, &doomed);
    let take = format!(
        "take a snapshot \"{description}\" of {} and wait until it is available{}",
        vps.describe(),
        limit_note(vps)
    );
    let (effect, action) = if doomed.is_empty() {
        (
            Effect::Write,
            format!(
                "{take}; nothing to prune (keeping it and {} more of ours)",
                keep_list.len()
            ),
        )
    } else {
        (
            Effect::Destructive,
            format!(
                "{take}; only once it is available, delete {} snapshot(s): {}; keeping it and the newest {} more of ours: {}; {} other snapshot(s) (not ours, or not available) left alone",
                doomed.len(),
                briefs(&doomed),
                keep_list.len(),
                briefs(&keep_list),
                untouched(&all)
            ),
        )
    };
    let allowed: Vec<String> = doomed.iter().map(|s| s.id.clone()).collect();
    let result = |created: Map, pruned: &[Snapshot]| {
        let mut m = Map::new();
        m.insert("created".into(), created.into());
        m.insert("pruned".into(), maps(pruned).into());
        m
    };
    context.effect(
        effect,
        &action,
        || result(simulated_snapshot(description), &doomed),
        || {
            let run = crate::host::snapshot::snapshot_and_prune_within(
                vps.provider.as_ref(),
                description,
                keep,
                Some(&allowed),
                &context.control(),
            )?;
            Ok(result(snapshot_map(&run.created), &run.pruned))
        },
    )
}

/// `restore(snapshot_or_id)`.
pub fn restore(context: &RunContext, vps: &Vps, snapshot: &Dynamic) -> Result<Map> {
    use crate::context::gate::Effect;
    let id = snapshot_id_of(snapshot)?;
    let all = context.effect(Effect::Read, "list snapshots", Vec::new, || {
        vps.provider.list_snapshots(&context.control())
    })?;
    let target = all.iter().find(|s| s.id == id).cloned();
    let named = match &target {
        Some(s) => brief(s),
        // In a dry-run, the snapshot an earlier step would have taken.
        None if id == DRY_RUN_ID => "the one this run takes first".to_string(),
        // Hetzner lists only the snapshots runbook labelled; one made by hand is still usable.
        None if vps.kind == VpsKind::Hetzner => format!("{id} (not made by runbook)"),
        None => {
            return Err(
                Error::failed(format!("{} has no snapshot {id}", vps.describe()))
                    .with_hint("list them with vps.snapshots() and pass one of those"),
            )
        }
    };
    let action = match vps.kind {
        VpsKind::Hetzner => format!(
            "rebuild {} from snapshot {named}: the server's disk is overwritten",
            vps.describe()
        ),
        VpsKind::Contabo => {
            let newer: Vec<Snapshot> = match &target {
                Some(t) => all
                    .iter()
                    .filter(|s| s.created > t.created)
                    .cloned()
                    .collect(),
                None => Vec::new(),
            };
            format!(
                "roll {} back to snapshot {named}: the disk is overwritten, and Contabo deletes every newer snapshot ({})",
                vps.describe(),
                briefs(&newer)
            )
        }
        VpsKind::Qemu => format!(
            "apply snapshot {named} to {}: the image's current contents are replaced",
            vps.describe()
        ),
    };
    let value = || match &target {
        Some(s) => snapshot_map(s),
        None => {
            let mut m = Map::new();
            m.insert("id".into(), id.clone().into());
            m
        }
    };
    context.effect(Effect::Destructive, &action, value, || {
        vps.provider.restore_snapshot(&id, &context.control())?;
        Ok(value())
    })
}

/// `boot_verify(snapshot_or_id, check)`.
pub fn boot_verify(
    call: &NativeCallContext,
    context: &RunContext,
    vps: &Vps,
    snapshot: &Dynamic,
    check: &FnPtr,
) -> std::result::Result<bool, Box<EvalAltResult>> {
    use crate::context::gate::Effect;
    let id = snapshot_id_of(snapshot).map_err(to_rhai)?;
    if !vps.provider.boots_copies() {
        return Err(to_rhai(
            Error::usage(format!(
                "{} cannot boot a copy of a snapshot",
                vps.describe()
            ))
            .with_hint("boot verification needs Hetzner; verify this snapshot by restoring it into a scratch machine instead"),
        ));
    }
    let action = format!(
        "boot a temporary copy of {} from snapshot {id}, run the check against it, then delete the copy (the check is not run in a dry-run)",
        vps.describe()
    );
    // A script error raised by the check, kept as it is to re-raise once the copy is gone.
    let raised: RefCell<Option<Box<EvalAltResult>>> = RefCell::new(None);
    let outcome = context.effect(
        Effect::Write,
        &action,
        || true,
        || {
            crate::host::snapshot::boot_verify(
                vps.provider.as_ref(),
                &id,
                |copy: &BootedCopy| {
                    let mut arg = Map::new();
                    arg.insert("id".into(), copy.id.clone().into());
                    arg.insert(
                        "address".into(),
                        copy.address
                            .clone()
                            .map(Dynamic::from)
                            .unwrap_or(Dynamic::UNIT),
                    );
                    match check.call_within_context::<Dynamic>(call, (arg,)) {
                        Ok(v) => v.as_bool().map_err(|t| {
                            Error::usage(format!(
                                "boot_verify: the check must return true or false, not {t}"
                            ))
                        }),
                        Err(err) => {
                            let message = describe(&err);
                            *raised.borrow_mut() = Some(err);
                            Err(Error::failed(format!("the boot check failed: {message}")))
                        }
                    }
                },
                &context.control(),
            )
        },
    );
    match outcome {
        Ok(verdict) => Ok(verdict),
        Err(e) => {
            let leftover = e.message().contains("could not be deleted");
            match raised.into_inner() {
                Some(err) if !leftover => Err(err),
                _ => Err(to_rhai(e)),
            }
        }
    }
}

/// VPS snapshots: Hetzner Cloud, Contabo and local qcow2 images.
#[rhai::plugin::export_module]
pub mod vps_api {
    use rhai::{Array, Dynamic, FnPtr, Map, NativeCallContext};

    use crate::bindings::{run_context, to_rhai};

    type Res<T> = Result<T, Box<rhai::EvalAltResult>>;

    /// A VPS or disk image whose snapshots a runbook manages. Opened with `vps(provider, opts)`.
    pub type Vps = super::Vps;

    /// A handle on the snapshots of one server. `provider` is `"hetzner"`, `"contabo"` or
    /// `"qemu"`; credentials are accepted only as `secret("NAME")` values, and unknown options
    /// are errors naming the option. Options:
    ///
    /// - `"hetzner"`: `token` (secret), `server` (name or numeric id), `api` (default
    ///   `https://api.hetzner.cloud/v1`).
    /// - `"contabo"`: `client_id`, `client_secret` (secret), `user`, `password` (secret),
    ///   `instance` (number), `prefix` (marks our snapshots' names; default `"rb-"`), `api`,
    ///   `auth_url`.
    /// - `"qemu"`: `image` (a qcow2 file; relative paths are relative to the project folder).
    ///
    /// Only snapshots runbook made ("ours") are ever pruned: Hetzner labels them, Contabo names
    /// them with the prefix, qemu tags them `runbook-…`.
    ///
    /// **Effect:** none; opening calls no API.
    ///
    /// ```rhai
    /// let server = vps("hetzner", #{ token: secret("HCLOUD_TOKEN"), server: "mt5-prod" });
    /// ```
    #[rhai_fn(name = "vps", return_raw)]
    pub fn vps(call: NativeCallContext, provider: &str, options: Map) -> Res<Vps> {
        let context = run_context(&call)?;
        // Opening contacts nothing; like `storage(...)` it passes the effect gate, and an
        // offline plan (`runbook doc`, placeholder settings such as a provider name from
        // `env()`) gets a placeholder server, whose every use the gate simulates too.
        let mut placeholder = Map::new();
        placeholder.insert("image".into(), "offline-plan.qcow2".into());
        context
            .effect(
                crate::context::gate::Effect::Read,
                &format!("open the {provider} server"),
                || super::open(&context, "qemu", placeholder),
                || Ok(super::open(&context, provider, options)),
            )
            .and_then(|server| server)
            .map_err(to_rhai)
    }

    /// `Vps(hetzner server mt5-prod)`: the provider and server, never a credential.
    #[rhai_fn(global, name = "to_string", name = "to_debug", pure)]
    pub fn vps_to_string(vps: &mut Vps) -> String {
        format!("Vps({})", vps.describe())
    }

    /// The server's snapshots, newest first, as maps `#{ id, name, created, status, ours,
    /// size_gb }` (`status`: `creating`, `available` or `failed`; `ours`: made by runbook).
    /// Hetzner lists only the snapshots runbook made.
    ///
    /// **Effect:** Read (runs in a dry-run too).
    ///
    /// ```rhai
    /// for s in server.snapshots() { log(`${s.id} ${s.name} ${s.created}`); }
    /// ```
    #[rhai_fn(global, name = "snapshots", return_raw)]
    pub fn snapshots(call: NativeCallContext, vps: &mut Vps) -> Res<Array> {
        let context = run_context(&call)?;
        let action = format!("list the snapshots of {}", vps.describe());
        context
            .effect(
                crate::context::gate::Effect::Read,
                &action,
                Array::new,
                || {
                    Ok(super::maps(
                        &vps.provider.list_snapshots(&context.control())?,
                    ))
                },
            )
            .map_err(to_rhai)
    }

    /// Takes a snapshot marked as ours, waits until it is available (showing progress), and
    /// returns its map. On Contabo, when the plan's snapshot limit is reached, our oldest snapshot
    /// is deleted first (never a foreign one).
    ///
    /// **Effect:** Write. A dry-run returns a map with `id: "(dry-run: not created)"`.
    ///
    /// ```rhai
    /// let snap = step("Snapshot", || server.snapshot("before upgrade"));
    /// ```
    #[rhai_fn(global, name = "snapshot", return_raw)]
    pub fn snapshot(call: NativeCallContext, vps: &mut Vps, description: &str) -> Res<Map> {
        let context = run_context(&call)?;
        super::take(&context, vps, description).map_err(to_rhai)
    }

    /// Deletes our oldest available snapshots so that the newest `keep_last` of ours remain.
    /// Snapshots runbook did not make, and ones still being created or failed, are never deleted
    /// nor counted. Returns `#{ deleted, kept }` (arrays of snapshot maps). With nothing to
    /// delete it changes nothing and asks nothing.
    ///
    /// **Effect:** Destructive (the plan lists exactly which snapshots go and which stay).
    ///
    /// ```rhai
    /// server.prune(#{ keep_last: 4 });
    /// ```
    #[rhai_fn(global, name = "prune", return_raw)]
    pub fn prune(call: NativeCallContext, vps: &mut Vps, policy: Map) -> Res<Map> {
        let context = run_context(&call)?;
        super::prune(&context, vps, policy).map_err(to_rhai)
    }

    /// The weekly job in one call: takes a snapshot, waits until it is available, and only then
    /// deletes our oldest so that `keep_last` of ours (the new one included) remain. If the new
    /// snapshot fails, nothing is deleted. It deletes no snapshot that the plan (and the
    /// confirmation) did not name. Returns `#{ created, pruned }`.
    ///
    /// **Effect:** Write + Destructive, confirmed as one action (just Write when nothing would
    /// be pruned).
    ///
    /// ```rhai
    /// step("Weekly snapshot", || server.snapshot_and_prune("weekly", #{ keep_last: 4 }));
    /// ```
    #[rhai_fn(global, name = "snapshot_and_prune", return_raw)]
    pub fn snapshot_and_prune(
        call: NativeCallContext,
        vps: &mut Vps,
        description: &str,
        policy: Map,
    ) -> Res<Map> {
        let context = run_context(&call)?;
        super::snapshot_and_prune(&context, vps, description, policy).map_err(to_rhai)
    }

    /// Puts the server back to a snapshot (a snapshot map or its id): Hetzner rebuilds the
    /// server from it; Contabo rolls back, which **also deletes every newer snapshot**; qemu
    /// applies it to the image. Returns the snapshot's map.
    ///
    /// **Effect:** Destructive. The plan names the snapshot and, on Contabo, the newer snapshots
    /// that would be lost.
    ///
    /// ```rhai
    /// let newest = server.snapshots()[0];
    /// step("Restore VPS", || server.restore(newest));
    /// ```
    #[rhai_fn(global, name = "restore", return_raw)]
    pub fn restore(call: NativeCallContext, vps: &mut Vps, snapshot: Dynamic) -> Res<Map> {
        let context = run_context(&call)?;
        super::restore(&context, vps, &snapshot).map_err(to_rhai)
    }

    /// Boots a temporary copy of the server from a snapshot (a map or its id), calls `check`
    /// with `#{ id, address }` of the copy, and returns what `check` returns (`true` or
    /// `false`). The copy is always deleted afterwards: when the check passes, fails, throws,
    /// or the run is interrupted. Hetzner only. A dry-run does not call `check`; the plan says
    /// what would happen and `true` is returned.
    ///
    /// **Effect:** Write.
    ///
    /// ```rhai
    /// let ok = server.boot_verify(snap, |copy| {
    ///     log(`copy ${copy.id} is up at ${copy.address}`);
    ///     copy.address != ()      // put the real health checks of the copy here
    /// });
    /// ```
    #[rhai_fn(global, name = "boot_verify", return_raw)]
    pub fn boot_verify(
        call: NativeCallContext,
        vps: &mut Vps,
        snapshot: Dynamic,
        check: FnPtr,
    ) -> Res<bool> {
        let context = run_context(&call)?;
        super::boot_verify(&call, &context, vps, &snapshot, &check)
    }
}
