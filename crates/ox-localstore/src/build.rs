//! Realising derivations: deciding what must be built, running builds in
//! parallel (at most `jobs` at once, each only after its inputs), and
//! turning each builder's outputs into valid store paths.
//!
//! Builders write their outputs into a scratch copy of the store
//! directory; the outputs are scanned for references (hash parts of the
//! input closure and of the derivation's own outputs), normalised,
//! fsynced, renamed into the store and registered. A killed build leaves
//! only a scratch directory, never a valid path.
//!
//! Two kinds of builder: `builtin:ox-*` run in-process (see
//! docs/store.md), anything else runs as a process in a bubblewrap
//! sandbox (own user, mount, pid, network, ipc and uts namespaces) that
//! sees only the input closure, its build directory, a writable store
//! view for its outputs, and the host directories the derivation
//! declares in `__impureHostDeps`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs;
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};

use ox_store::{Derivation, DerivationOutput, FileIngestionMethod, Hash, StorePath};

use crate::store::{PendingPath, Result, Store};
use crate::{fsutil, StoreError};

/// Host directories a process builder may declare in `__impureHostDeps`
/// (the impure toolchain); everything else on the host stays invisible.
pub const ALLOWED_HOST_DEPS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32"];

/// Something that happened during [`Store::realise`], for progress displays.
#[derive(Clone, Debug)]
pub enum BuildEvent {
    /// How many derivations will be built.
    Planned {
        to_build: usize,
    },
    Started {
        drv: String,
    },
    Finished {
        drv: String,
        ok: bool,
    },
}

pub struct BuildOptions<'a> {
    /// Builds run at the same time.
    pub jobs: usize,
    /// Rebuild the requested derivations even if valid and compare.
    pub check: bool,
    pub events: Option<&'a (dyn Fn(BuildEvent) + Send + Sync + 'a)>,
    /// The bubblewrap binary (default: `bwrap` on `PATH`).
    pub bwrap: Option<PathBuf>,
}

impl Default for BuildOptions<'_> {
    fn default() -> Self {
        BuildOptions {
            jobs: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            check: false,
            events: None,
            bwrap: None,
        }
    }
}

/// An output that rebuilt to different contents (`--check`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NonReproducible {
    pub drv: String,
    pub output: String,
    pub path: String,
    pub registered: String,
    pub rebuilt: String,
}

#[derive(Debug, Default)]
pub struct BuildOutcome {
    /// For each requested derivation, its output paths.
    pub outputs: BTreeMap<StorePath, BTreeMap<String, StorePath>>,
    /// Derivations actually built (not already valid).
    pub built: Vec<StorePath>,
    pub non_reproducible: Vec<NonReproducible>,
}

fn drv_err(store: &Store, drv: &StorePath, msg: impl Into<String>) -> StoreError {
    StoreError::Drv {
        drv: store.print(drv),
        msg: msg.into(),
    }
}

struct Sched {
    ready: VecDeque<StorePath>,
    waiting_on: HashMap<StorePath, usize>,
    running: usize,
    left: usize,
    error: Option<StoreError>,
    non_repro: Vec<NonReproducible>,
    built: Vec<StorePath>,
}

impl Store {
    /// Reads and parses a `.drv` file from the store.
    pub fn load_drv(&self, drv: &StorePath) -> Result<Derivation> {
        if !drv.is_derivation() {
            return Err(drv_err(self, drv, "not a .drv store path"));
        }
        let text = fs::read_to_string(self.real_path(drv)).map_err(|e| StoreError::Io {
            what: format!("reading {}", self.print(drv)),
            source: e,
        })?;
        Derivation::parse(&self.dir, &text).map_err(|e| drv_err(self, drv, e.to_string()))
    }

    fn outputs_valid(&self, drv: &Derivation) -> Result<bool> {
        for o in drv.outputs.values() {
            match o.path() {
                Some(p) if self.is_valid(p)? => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Builds the given derivations (and whatever they need that is not
    /// valid yet). Returns their output paths.
    pub fn realise(&self, drvs: &[StorePath], opts: &BuildOptions) -> Result<BuildOutcome> {
        let _gc_guard = self.build_lock()?;
        // Plan: load every derivation that has to be built.
        let mut loaded: HashMap<StorePath, Derivation> = HashMap::new();
        let mut needed: BTreeSet<StorePath> = BTreeSet::new();
        let mut todo: Vec<(StorePath, bool)> = drvs.iter().map(|d| (d.clone(), true)).collect();
        let mut seen = BTreeSet::new();
        while let Some((d, top)) = todo.pop() {
            if !seen.insert(d.clone()) {
                continue;
            }
            if !self.is_valid(&d)? {
                return Err(drv_err(self, &d, "the .drv file is not in the store"));
            }
            let drv = self.load_drv(&d)?;
            let valid = self.outputs_valid(&drv)?;
            if !valid || (top && opts.check) {
                for s in &drv.input_srcs {
                    if !self.is_valid(s)? {
                        return Err(drv_err(
                            self,
                            &d,
                            format!("input '{}' is not valid", self.print(s)),
                        ));
                    }
                }
                for i in drv.input_drvs.keys() {
                    todo.push((i.clone(), false));
                }
                needed.insert(d.clone());
            }
            loaded.insert(d, drv);
        }
        let mut outcome = BuildOutcome::default();
        for d in drvs {
            let drv = &loaded[d];
            let mut outs = BTreeMap::new();
            for (name, o) in &drv.outputs {
                match o.path() {
                    Some(p) => {
                        outs.insert(name.clone(), p.clone());
                    }
                    None => {
                        return Err(drv_err(
                            self,
                            d,
                            format!("output '{name}' has no fixed path (floating content-addressed outputs are not supported)"),
                        ))
                    }
                }
            }
            outcome.outputs.insert(d.clone(), outs);
        }
        if let Some(ev) = opts.events {
            ev(BuildEvent::Planned {
                to_build: needed.len(),
            });
        }
        if needed.is_empty() {
            return Ok(outcome);
        }
        // Dependency counts among what is needed.
        let mut dependents: HashMap<StorePath, Vec<StorePath>> = HashMap::new();
        let mut waiting_on = HashMap::new();
        let mut ready = VecDeque::new();
        for d in &needed {
            let deps: Vec<&StorePath> = loaded[d]
                .input_drvs
                .keys()
                .filter(|i| needed.contains(*i))
                .collect();
            for i in &deps {
                dependents.entry((*i).clone()).or_default().push(d.clone());
            }
            if deps.is_empty() {
                ready.push_back(d.clone());
            } else {
                waiting_on.insert(d.clone(), deps.len());
            }
        }
        let top: BTreeSet<&StorePath> = drvs.iter().collect();
        let sched = Mutex::new(Sched {
            ready,
            waiting_on,
            running: 0,
            left: needed.len(),
            error: None,
            non_repro: Vec::new(),
            built: Vec::new(),
        });
        let cv = Condvar::new();
        let jobs = opts.jobs.max(1).min(needed.len());
        std::thread::scope(|s| {
            for _ in 0..jobs {
                s.spawn(|| loop {
                    let next = {
                        let mut st = sched.lock().unwrap_or_else(|p| p.into_inner());
                        loop {
                            if st.error.is_some() || st.left == 0 {
                                break None;
                            }
                            if let Some(d) = st.ready.pop_front() {
                                st.running += 1;
                                let mut batch = vec![d];
                                // In-process builds are cheap and wait mostly
                                // for the disk: take every ready one and make
                                // them durable together.
                                if is_builtin(&loaded[&batch[0]]) {
                                    let mut rest = VecDeque::new();
                                    while let Some(x) = st.ready.pop_front() {
                                        if batch.len() < MAX_BATCH && is_builtin(&loaded[&x]) {
                                            batch.push(x);
                                        } else {
                                            rest.push_back(x);
                                        }
                                    }
                                    st.ready = rest;
                                }
                                break Some(batch);
                            }
                            if st.running == 0 {
                                // Nothing ready, nothing running: a cycle.
                                st.error =
                                    Some(StoreError::Config("derivation graph has a cycle".into()));
                                break None;
                            }
                            st = cv.wait(st).unwrap_or_else(|p| p.into_inner());
                        }
                    };
                    let Some(batch) = next else {
                        cv.notify_all();
                        return;
                    };
                    if let Some(ev) = opts.events {
                        for d in &batch {
                            ev(BuildEvent::Started { drv: self.print(d) });
                        }
                    }
                    let results: Vec<(StorePath, Result<Vec<NonReproducible>>)> =
                        if is_builtin(&loaded[&batch[0]]) {
                            match self.build_builtin_batch(&batch, &loaded, &top, opts) {
                                Ok(r) => r,
                                Err(e) => {
                                    let mut v: Vec<_> = batch[1..]
                                        .iter()
                                        .map(|d| (d.clone(), Err(drv_err(self, d, "batch failed"))))
                                        .collect();
                                    v.insert(0, (batch[0].clone(), Err(e)));
                                    v
                                }
                            }
                        } else {
                            let d = &batch[0];
                            let check = opts.check && top.contains(d);
                            vec![(
                                d.clone(),
                                self.build_one(d, &loaded[d], &loaded, check, opts),
                            )]
                        };
                    if let Some(ev) = opts.events {
                        for (d, r) in &results {
                            ev(BuildEvent::Finished {
                                drv: self.print(d),
                                ok: r.is_ok(),
                            });
                        }
                    }
                    let mut st = sched.lock().unwrap_or_else(|p| p.into_inner());
                    st.running -= 1;
                    for (d, r) in results {
                        st.left -= 1;
                        match r {
                            Ok(nr) => {
                                st.non_repro.extend(nr);
                                st.built.push(d.clone());
                                for dep in dependents.get(&d).into_iter().flatten() {
                                    let n = st.waiting_on.get_mut(dep).map(|n| {
                                        *n -= 1;
                                        *n
                                    });
                                    if n == Some(0) {
                                        st.waiting_on.remove(dep);
                                        st.ready.push_back(dep.clone());
                                    }
                                }
                            }
                            Err(e) => {
                                if st.error.is_none() {
                                    st.error = Some(e);
                                }
                            }
                        }
                    }
                    cv.notify_all();
                });
            }
        });
        let st = sched.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = st.error {
            return Err(e);
        }
        outcome.built = st.built;
        outcome.non_reproducible = st.non_repro;
        Ok(outcome)
    }

    fn outputs_of(
        &self,
        drv_path: &StorePath,
        drv: &Derivation,
    ) -> Result<Vec<(String, StorePath)>> {
        let mut outputs = Vec::new();
        for (name, o) in &drv.outputs {
            let p = o
                .path()
                .ok_or_else(|| drv_err(self, drv_path, format!("output '{name}' has no path")))?;
            outputs.push((name.clone(), p.clone()));
        }
        Ok(outputs)
    }

    /// The closure of a derivation's inputs: its sources and the used
    /// outputs of its input derivations.
    fn input_closure(
        &self,
        drv_path: &StorePath,
        drv: &Derivation,
        loaded: &HashMap<StorePath, Derivation>,
    ) -> Result<BTreeSet<StorePath>> {
        let mut inputs: Vec<StorePath> = drv.input_srcs.iter().cloned().collect();
        for (i, outs) in &drv.input_drvs {
            let idrv = match loaded.get(i) {
                Some(d) => d.clone(),
                None => self.load_drv(i)?,
            };
            for o in outs {
                let p = idrv.outputs.get(o).and_then(|x| x.path()).ok_or_else(|| {
                    drv_err(
                        self,
                        drv_path,
                        format!("input '{}' has no output '{o}'", self.print(i)),
                    )
                })?;
                inputs.push(p.clone());
            }
        }
        self.closure(&inputs)
    }

    fn lock_all(&self, paths: &mut Vec<StorePath>) -> Result<Vec<crate::FileLock>> {
        // One global order, so two processes never wait on each other.
        paths.sort();
        paths.dedup();
        paths.iter().map(|p| self.lock_path(p)).collect()
    }

    /// Builds one derivation whose inputs are all valid.
    fn build_one(
        &self,
        drv_path: &StorePath,
        drv: &Derivation,
        loaded: &HashMap<StorePath, Derivation>,
        check: bool,
        opts: &BuildOptions,
    ) -> Result<Vec<NonReproducible>> {
        let outputs = self.outputs_of(drv_path, drv)?;
        let _locks = self.lock_all(&mut outputs.iter().map(|(_, p)| p.clone()).collect())?;
        if !check && self.outputs_valid(drv)? {
            return Ok(Vec::new());
        }
        let closure = self.input_closure(drv_path, drv, loaded)?;
        let scratch = self.scratch_dir(drv_path.name().trim_end_matches(".drv"))?;
        let store_view = scratch.join("store");
        let r = fs::create_dir(&store_view)
            .map_err(|e| StoreError::Io {
                what: format!("creating {}", store_view.display()),
                source: e,
            })
            .and_then(|_| {
                self.build_in(
                    drv_path,
                    drv,
                    &outputs,
                    &closure,
                    &scratch,
                    &store_view,
                    check,
                    opts,
                )
            })
            .and_then(|(pending, nars, nr)| {
                if !pending.is_empty() {
                    self.register_known(pending, nars, false)?;
                }
                Ok(nr)
            });
        let _ = fsutil::remove_tree(&scratch);
        r
    }

    /// Builds in-process derivations whose inputs are all valid, in one
    /// scratch directory, and registers all their outputs together (one
    /// filesystem sync, one transaction). A failing derivation fails
    /// alone; the others still become valid.
    fn build_builtin_batch(
        &self,
        batch: &[StorePath],
        loaded: &HashMap<StorePath, Derivation>,
        top: &BTreeSet<&StorePath>,
        opts: &BuildOptions,
    ) -> Result<Vec<(StorePath, Result<Vec<NonReproducible>>)>> {
        // In-process derivations are only ever built in batches, so one
        // lock for all batches keeps two processes from building the same
        // output (per-path lock files would cost a file creation each).
        let _lock = self.global_lock("builtins")?;
        let scratch = self.scratch_dir("batch")?;
        let store_view = scratch.join("store");
        let r = (|| {
            fs::create_dir(&store_view).map_err(|e| StoreError::Io {
                what: format!("creating {}", store_view.display()),
                source: e,
            })?;
            let mut results = Vec::new();
            let mut pending_all = Vec::new();
            let mut nars_all = Vec::new();
            for d in batch {
                let drv = &loaded[d];
                let check = opts.check && top.contains(d);
                if !check && self.outputs_valid(drv)? {
                    results.push((d.clone(), Ok(Vec::new())));
                    continue;
                }
                let r = self.outputs_of(d, drv).and_then(|outputs| {
                    let closure = self.input_closure(d, drv, loaded)?;
                    self.build_in(
                        d,
                        drv,
                        &outputs,
                        &closure,
                        &scratch,
                        &store_view,
                        check,
                        opts,
                    )
                });
                match r {
                    Ok((pending, nars, nr)) => {
                        pending_all.extend(pending);
                        nars_all.extend(nars);
                        results.push((d.clone(), Ok(nr)));
                    }
                    Err(e) => results.push((d.clone(), Err(e))),
                }
            }
            if !pending_all.is_empty() {
                self.register_known(pending_all, nars_all, true)?;
            }
            Ok(results)
        })();
        let _ = fsutil::remove_tree(&scratch);
        r
    }

    /// Runs the builder and collects its outputs (not yet registered).
    #[allow(clippy::too_many_arguments)]
    fn build_in(
        &self,
        drv_path: &StorePath,
        drv: &Derivation,
        outputs: &[(String, StorePath)],
        closure: &BTreeSet<StorePath>,
        scratch: &Path,
        store_view: &Path,
        check: bool,
        opts: &BuildOptions,
    ) -> Result<Built> {
        let io = |what: String| move |e| StoreError::Io { what, source: e };
        let log_path = self.log_path(drv_path);
        if let Some(b) = drv.builder.strip_prefix("builtin:") {
            let r = crate::build::builtins::run(self, b, drv, outputs, closure, store_view);
            let _ = fs::write(
                &log_path,
                match &r {
                    Ok(()) => format!("builtin:{b}: ok\n"),
                    Err(e) => format!("builtin:{b}: {e}\n"),
                },
            );
            r.map_err(|msg| StoreError::BuildFailed {
                drv: self.print(drv_path),
                msg,
                log: log_path.display().to_string(),
            })?;
        } else {
            self.run_sandboxed(drv_path, drv, closure, scratch, &log_path, opts)?;
        }
        // Collect the outputs.
        let mut candidates: Vec<StorePath> = closure.iter().cloned().collect();
        candidates.extend(outputs.iter().map(|(_, p)| p.clone()));
        let mut pending = Vec::new();
        let mut nars = Vec::new();
        let mut non_repro = Vec::new();
        for (name, p) in outputs {
            let tmp = store_view.join(p.base_name());
            if fs::symlink_metadata(&tmp).is_err() {
                return Err(StoreError::BuildFailed {
                    drv: self.print(drv_path),
                    msg: format!(
                        "builder did not produce output '{name}' ({})",
                        self.print(p)
                    ),
                    log: log_path.display().to_string(),
                });
            }
            if let Some(DerivationOutput::Fixed { method, hash, .. }) = drv.outputs.get(name) {
                let got = match method {
                    FileIngestionMethod::Recursive => ox_store::nar_hash(&tmp, hash.algo())
                        .map(|n| n.hash)
                        .map_err(|e| drv_err(self, drv_path, e.to_string()))?,
                    FileIngestionMethod::Flat => Hash::of_file(hash.algo(), &tmp)
                        .map_err(io(format!("hashing {}", tmp.display())))?,
                };
                if got != *hash {
                    return Err(StoreError::BuildFailed {
                        drv: self.print(drv_path),
                        msg: format!(
                            "hash mismatch in fixed-output derivation: specified {}, got {}",
                            hash.to_sri(),
                            got.to_sri()
                        ),
                        log: log_path.display().to_string(),
                    });
                }
            }
            let (nar_hash, nar_size, refs) = crate::refs::scan_path(&tmp, &candidates)
                .map_err(|e| drv_err(self, drv_path, e.to_string()))?;
            if check {
                if let Some(info) = self.path_info(p)? {
                    if info.nar_hash != nar_hash {
                        non_repro.push(NonReproducible {
                            drv: self.print(drv_path),
                            output: name.clone(),
                            path: self.print(p),
                            registered: info.nar_hash.to_sri(),
                            rebuilt: nar_hash.to_sri(),
                        });
                    }
                    continue;
                }
            }
            let ca = match drv.outputs.get(name) {
                Some(DerivationOutput::Fixed { method, hash, .. }) => Some(format!(
                    "fixed:{}{}",
                    method.prefix(),
                    hash.to_string_as(ox_store::HashFormat::Base32, true)
                )),
                _ => None,
            };
            pending.push(PendingPath {
                tmp,
                path: p.clone(),
                references: refs,
                deriver: Some(drv_path.clone()),
                ca,
            });
            nars.push(Some(ox_store::NarInfo {
                hash: nar_hash,
                size: nar_size,
            }));
        }
        Ok((pending, nars, non_repro))
    }

    fn run_sandboxed(
        &self,
        drv_path: &StorePath,
        drv: &Derivation,
        closure: &BTreeSet<StorePath>,
        scratch: &Path,
        log_path: &Path,
        opts: &BuildOptions,
    ) -> Result<()> {
        let io = |what: String| move |e| StoreError::Io { what, source: e };
        let host_system = format!("{}-linux", std::env::consts::ARCH);
        if drv.system != host_system {
            return Err(drv_err(
                self,
                drv_path,
                format!(
                    "a '{}' builder cannot run on this '{}' machine",
                    drv.system, host_system
                ),
            ));
        }
        let bwrap = match &opts.bwrap {
            Some(b) => b.clone(),
            None => find_in_path("bwrap").ok_or_else(|| {
                drv_err(
                    self,
                    drv_path,
                    "process builders need bubblewrap (`bwrap`); install it (scripts/deps)",
                )
            })?,
        };
        let build_dir = scratch.join("build");
        let etc = scratch.join("etc");
        fs::create_dir(&build_dir).map_err(io(format!("creating {}", build_dir.display())))?;
        fs::create_dir(&etc).map_err(io(format!("creating {}", etc.display())))?;
        let files = [
            (
                "passwd",
                "root:x:0:0:Nix build user:/build:/noshell\nnixbld:x:1000:100:Nix build user:/build:/noshell\nnobody:x:65534:65534:Nobody:/:/noshell\n",
            ),
            ("group", "root:x:0:\nnixbld:!:100:\nnogroup:x:65534:\n"),
            ("hosts", "127.0.0.1 localhost\n::1 localhost\n"),
        ];
        for (n, c) in files {
            fs::write(etc.join(n), c).map_err(io(format!("writing {n}")))?;
        }
        // The environment, as Nix sets it up before the derivation's own.
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in [
            ("PATH", "/path-not-set"),
            ("HOME", "/homeless-shelter"),
            ("NIX_BUILD_TOP", "/build"),
            ("TMPDIR", "/build"),
            ("TEMPDIR", "/build"),
            ("TMP", "/build"),
            ("TEMP", "/build"),
            ("PWD", "/build"),
            ("NIX_LOG_FD", "2"),
            ("TERM", "xterm-256color"),
            ("NIX_BUILD_CORES", "1"),
        ] {
            env.insert(k.into(), v.into());
        }
        env.insert("NIX_STORE".into(), self.dir.as_str().into());
        let pass_as_file: BTreeSet<&str> = drv
            .env
            .get("passAsFile")
            .map(|s| s.split_whitespace().collect())
            .unwrap_or_default();
        for (k, v) in &drv.env {
            if pass_as_file.contains(k.as_str()) {
                let fname = format!(
                    ".attr-{}",
                    Hash::digest(ox_store::HashAlgo::Sha256, k.as_bytes()).to_base32()
                );
                fs::write(build_dir.join(&fname), v).map_err(io(format!("writing {fname}")))?;
                env.insert(format!("{k}Path"), format!("/build/{fname}"));
            } else {
                env.insert(k.clone(), v.clone());
            }
        }
        let mut cmd = Command::new(bwrap);
        cmd.env_clear().envs(&env);
        let a = |cmd: &mut Command, xs: &[&str]| {
            cmd.args(xs);
        };
        a(
            &mut cmd,
            &[
                "--unshare-all",
                "--unshare-user",
                "--uid",
                "1000",
                "--gid",
                "100",
                "--hostname",
                "localhost",
                "--die-with-parent",
                "--new-session",
                "--proc",
                "/proc",
                "--dev",
                "/dev",
            ],
        );
        cmd.arg("--bind")
            .arg(scratch.join("store"))
            .arg(self.dir.as_str());
        for p in closure {
            cmd.arg("--ro-bind")
                .arg(self.real_path(p))
                .arg(self.print(p));
        }
        cmd.arg("--bind").arg(&build_dir).arg("/build");
        for n in ["passwd", "group", "hosts"] {
            cmd.arg("--ro-bind")
                .arg(etc.join(n))
                .arg(format!("/etc/{n}"));
        }
        for dep in drv
            .env
            .get("__impureHostDeps")
            .map(|s| s.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            let ok = ALLOWED_HOST_DEPS
                .iter()
                .any(|a| dep == *a || dep.starts_with(&format!("{a}/")));
            if !ok {
                return Err(drv_err(
                    self,
                    drv_path,
                    format!(
                        "__impureHostDeps entry '{dep}' is not allowed (allowed: {})",
                        ALLOWED_HOST_DEPS.join(", ")
                    ),
                ));
            }
            cmd.args(["--ro-bind-try", dep, dep]);
        }
        cmd.args(["--remount-ro", "/", "--chdir", "/build", "--"]);
        cmd.arg(&drv.builder).args(&drv.args);
        let log = fs::File::create(log_path)
            .map_err(io(format!("creating log {}", log_path.display())))?;
        let log2 = log
            .try_clone()
            .map_err(io(format!("opening log {}", log_path.display())))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        let status = cmd
            .status()
            .map_err(io(format!("running bwrap for {}", self.print(drv_path))))?;
        if !status.success() {
            let tail = tail_lines(log_path, 15);
            return Err(StoreError::BuildFailed {
                drv: self.print(drv_path),
                msg: format!(
                    "{}{}",
                    match status.code() {
                        Some(c) => format!("exit code {c}"),
                        None => "killed by a signal".into(),
                    },
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!("; last log lines:\n{tail}")
                    }
                ),
                log: log_path.display().to_string(),
            });
        }
        Ok(())
    }
}

/// A build's outputs waiting for registration, their NAR hashes, and
/// (for `--check`) the outputs that differed.
type Built = (
    Vec<PendingPath>,
    Vec<Option<ox_store::NarInfo>>,
    Vec<NonReproducible>,
);

/// Most in-process derivations registered in one batch.
const MAX_BATCH: usize = 512;

fn is_builtin(drv: &Derivation) -> bool {
    drv.builder.starts_with("builtin:")
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| {
            fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

fn tail_lines(p: &Path, n: usize) -> String {
    let Ok(f) = fs::File::open(p) else {
        return String::new();
    };
    let lines: Vec<String> = std::io::BufReader::new(f)
        .lines()
        .map_while(|l| l.ok())
        .collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].iter().map(|l| format!("  {l}\n")).collect()
}

pub mod builtins;
