//! `ox disko` (a host's declared disk layout → plan → run, crate
//! ox-disko) and `ox install` (disko, then the host's system into the
//! new root: closure copied into `<root>/ox/store`, generation 1,
//! /etc). docs/disko.md.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use clap::Args;
use ox_disko::{Layout, Mode};
use ox_localstore::{PendingPath, Store, StoreConfig};
use ox_store::StorePath;

#[derive(Args, Debug)]
pub struct DiskoArgs {
    /// The host, `REF#HOST` (its flake's oxConfigurations).
    #[arg(long, value_name = "REF#HOST", required_unless_present = "layout_json")]
    pub flake: Option<String>,
    /// Internal (`ox install --target`): the evaluated layout as JSON,
    /// from a file or `-` (stdin), instead of evaluating a flake here.
    #[arg(long, hide = true, value_name = "FILE", conflicts_with = "flake")]
    pub layout_json: Option<PathBuf>,
    /// Internal: the host's name for messages, with --layout-json.
    #[arg(long, hide = true, default_value = "host")]
    pub layout_host: String,
    /// destroy,format,mount | format,mount | format | mount | unmount | destroy
    #[arg(long, default_value = "mount")]
    pub mode: String,
    /// Print exactly the commands the mode would run, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where the layout's mountpoints go.
    #[arg(long, value_name = "DIR", default_value = "/mnt")]
    pub root_mountpoint: PathBuf,
    /// Let mode destroy erase the disks without asking.
    #[arg(long)]
    pub yes_wipe_all_disks: bool,
    /// Make disk images instead: `DIR/<imageName>.raw` of each disk's
    /// `imageSize`, on loop devices detached at the end.
    #[arg(long, value_name = "DIR", conflicts_with = "dry_run")]
    pub images: Option<PathBuf>,
    /// Add a search path entry (`PATH` or `PREFIX=PATH`).
    #[arg(short = 'I', long = "include")]
    pub include: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// The host to install, `REF#HOST`.
    #[arg(
        long,
        value_name = "REF#HOST",
        required_unless_present = "internal_activate"
    )]
    pub flake: Option<String>,
    /// The new system's root (the layout is mounted here).
    #[arg(long, value_name = "DIR", default_value = "/mnt")]
    pub root: PathBuf,
    /// The disko mode run first (`mount` reuses disks formatted before).
    #[arg(long, default_value = "destroy,format,mount")]
    pub mode: String,
    /// Let mode destroy erase the disks without asking.
    #[arg(long)]
    pub yes_wipe_all_disks: bool,
    /// A Debian base system to unpack into the new root first: a
    /// directory or a tarball (e.g. from `debootstrap --make-tarball` or
    /// `tar -C rootfs -cf base.tar .`).
    #[arg(long, value_name = "DIR|TARBALL")]
    pub base: Option<PathBuf>,
    /// Install into disk images instead of disks: `DIR/<imageName>.raw`
    /// of each disk's `imageSize`, unmounted and detached at the end.
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Add a search path entry (`PATH` or `PREFIX=PATH`).
    #[arg(short = 'I', long = "include")]
    pub include: Vec<String>,
    /// Internal: the activation step, in a process of its own (it
    /// changes its mount namespace).
    #[arg(long, hide = true, value_name = "TOPLEVEL")]
    pub internal_activate: Option<PathBuf>,
    /// Internal: the new root's physical store directory.
    #[arg(long, hide = true, value_name = "DIR")]
    pub internal_store: Option<PathBuf>,
    /// Install onto another machine over SSH (`[user@]host[:port]`,
    /// e.g. a rescue system): the host is built here, the disks are
    /// partitioned there, the closure is copied into the new root.
    #[arg(long, value_name = "[USER@]HOST[:PORT]")]
    pub target: Option<String>,
    /// A directory whose contents are copied into the new root (owner
    /// root, modes kept), e.g. `etc/ssh/ssh_host_ed25519_key` so the
    /// host's sops secrets decrypt at the first boot.
    #[arg(long, value_name = "DIR")]
    pub extra_files: Option<PathBuf>,
    /// With --target: an ssh `-o` option (`Key=Value`), repeatable.
    #[arg(long = "ssh-option", value_name = "KEY=VALUE", requires = "target")]
    pub ssh_option: Vec<String>,
    /// With --target: build, connect and print the disk plan the target
    /// would run; change nothing there.
    #[arg(long, requires = "target")]
    pub dry_run: bool,
    /// With --target: leave the new root mounted at the end.
    #[arg(long, requires = "target")]
    pub no_unmount: bool,
    /// With --target: print the report as JSON on stdout.
    #[arg(long, requires = "target")]
    pub json: bool,
}

/// The host's normalised layout, after its assertions passed.
fn host_layout(flake: &str, include: &[String]) -> Result<(String, Layout), String> {
    host_layout_json(flake, include).map(|(h, l, _)| (h, l))
}

/// [`host_layout`] plus the layout's JSON (what `ox install --target`
/// ships to the target, which does not evaluate anything).
pub(crate) fn host_layout_json(
    flake: &str,
    include: &[String],
) -> Result<(String, Layout, serde_json::Value), String> {
    let (mut he, host) = crate::host_cmd::HostEval::open_flake(flake, include)?;
    let host = host
        .ok_or_else(|| format!("error: --flake {flake}: name the host after `#` (REF#HOST)\n"))?;
    he.check_host(&host)?;
    let checks = he.apply_json(
        &host,
        "h: map (a: a.message) (builtins.filter (a: !a.assertion) h.config.assertions)",
    )?;
    let failed: Vec<&str> = checks
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str())
        .collect();
    if !failed.is_empty() {
        let mut s = format!("error: host `{host}`: failed assertions:\n");
        for m in failed {
            s.push_str(&format!("- {}\n", m.trim_end()));
        }
        return Err(s);
    }
    let v = he.apply_json(&host, "h: h.config.system.build.diskoLayout")?;
    let layout =
        Layout::from_json(v.clone()).map_err(|e| format!("error: host `{host}`: {e}\n"))?;
    Ok((host, layout, v))
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

pub(crate) fn ask_yes(q: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("{q}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    line.trim() == "yes"
}

/// Plans and (unless dry) runs one mode on the host's layout.
fn disko(
    host: &str,
    layout: &Layout,
    mode: &str,
    root: &Path,
    dry: bool,
    yes: bool,
) -> Result<(), String> {
    let mode: Mode = mode.parse().map_err(|e| format!("error: {e}\n"))?;
    let root_s = absolute(root).to_string_lossy().into_owned();
    let plan = ox_disko::plan(layout, mode, &root_s, &ox_disko::System)
        .map_err(|e| format!("error: host `{host}`: {e}\n"))?;
    if dry {
        print!("{}", plan.render());
        return Ok(());
    }
    let mut ask = |q: &str| ask_yes(q);
    ox_disko::run::check_allowed(&plan, yes, Some(&mut ask))
        .map_err(|e| format!("error: host `{host}`: {e}\n"))?;
    ox_disko::run::run(&plan, &mut |l| eprintln!("{l}"))
        .map_err(|e| format!("error: host `{host}`: {e}\n"))?;
    if plan.mode.mount {
        eprintln!(
            "ox disko: `{host}`: {} file system(s) mounted under {root_s}",
            plan.mounts.len()
        );
    } else if plan.mode.unmount {
        eprintln!("ox disko: `{host}`: unmounted everything under {root_s}");
    }
    Ok(())
}

pub fn run(a: DiskoArgs) -> Result<ExitCode, String> {
    let (host, layout) = match (&a.flake, &a.layout_json) {
        (Some(f), _) => host_layout(f, &a.include)?,
        (None, Some(file)) => {
            let text = if file == Path::new("-") {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .map_err(|e| format!("error: reading the layout from stdin: {e}\n"))?;
                s
            } else {
                std::fs::read_to_string(file)
                    .map_err(|e| format!("error: {}: {e}\n", file.display()))?
            };
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("error: the layout is not JSON: {e}\n"))?;
            let layout = Layout::from_json(v)
                .map_err(|e| format!("error: host `{}`: {e}\n", a.layout_host))?;
            (a.layout_host.clone(), layout)
        }
        (None, None) => return Err("error: ox disko needs --flake REF#HOST\n".into()),
    };
    if let Some(dir) = &a.images {
        let (layout, mut images) = ox_disko::images::Images::attach(&layout, dir)
            .map_err(|e| format!("error: host `{host}`: {e}\n"))?;
        // fresh, empty files: nothing to confirm
        let r = disko(&host, &layout, &a.mode, &a.root_mountpoint, false, true);
        images.release(Some(&mut |l| eprintln!("{l}")));
        r?;
        for (disk, _, file) in &images_list(&layout, dir) {
            eprintln!("ox disko: disk `{disk}` → {}", file.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    disko(
        &host,
        &layout,
        &a.mode,
        &a.root_mountpoint,
        a.dry_run,
        a.yes_wipe_all_disks,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// (disk, device, image file) of each disk, for messages.
fn images_list(layout: &Layout, dir: &Path) -> Vec<(String, String, PathBuf)> {
    layout
        .disks
        .iter()
        .map(|d| {
            let name = d.image_name.clone().unwrap_or_else(|| d.name.clone());
            (
                d.name.clone(),
                d.device.clone(),
                dir.join(format!("{name}.raw")),
            )
        })
        .collect()
}

/// Copies `top`'s closure from `src` into `dst` (same logical store
/// directory), registering each path with its references and content
/// address; paths `dst` already has are skipped. Returns how many were
/// copied.
fn copy_closure(src: &Store, dst: &Store, top: &StorePath) -> Result<usize, String> {
    let e = |e: ox_localstore::StoreError| format!("error: {e}\n");
    let closure = src.closure(std::slice::from_ref(top)).map_err(e)?;
    let scratch = dst.scratch_dir("install").map_err(e)?;
    let result = (|| {
        let mut pending = Vec::new();
        for (i, p) in closure.iter().enumerate() {
            if dst.is_valid(p).map_err(e)? {
                continue;
            }
            let info = src
                .path_info(p)
                .map_err(e)?
                .ok_or_else(|| format!("error: {} is not valid in the store\n", src.print(p)))?;
            let tmp = scratch.join(i.to_string());
            ox_localstore::fsutil::copy_tree(&src.real_path(p), &tmp)
                .map_err(|err| format!("error: copying {}: {err}\n", src.print(p)))?;
            pending.push(PendingPath {
                tmp,
                path: p.clone(),
                references: info.references,
                deriver: info.deriver,
                ca: info.ca,
            });
        }
        let n = pending.len();
        if n > 0 {
            dst.register(pending).map_err(e)?;
        }
        Ok(n)
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// `extra/*` → `root/*`, owned by root, modes kept; the root directory
/// itself keeps its own mode. The same tar pipe as `ox install --target`.
fn copy_extra_files(extra: &Path, root: &Path) -> Result<(), String> {
    let sh = "tar --owner=0 --group=0 --numeric-owner -C \"$1\" -cf - . | tar --numeric-owner -x -p --no-overwrite-dir -f - -C \"$2\"";
    let o = Command::new("bash")
        .args(["-o", "pipefail", "-c", sh, "sh"])
        .arg(extra)
        .arg(root)
        .output()
        .map_err(|e| format!("error: running tar: {e}\n"))?;
    if !o.status.success() {
        return Err(format!(
            "error: copying the extra files {} into {}: {}\n",
            extra.display(),
            root.display(),
            String::from_utf8_lossy(&o.stderr).trim_end()
        ));
    }
    Ok(())
}

fn unpack_base(base: &Path, root: &Path) -> Result<(), String> {
    let mut c = if base.is_dir() {
        let mut c = Command::new("cp");
        c.arg("-a")
            .arg(format!("{}/.", base.display()))
            .arg(format!("{}/", root.display()));
        c
    } else {
        let mut c = Command::new("tar");
        c.arg("--numeric-owner")
            .arg("-xf")
            .arg(base)
            .arg("-C")
            .arg(root);
        c
    };
    let o = c
        .output()
        .map_err(|e| format!("error: unpacking {}: {e}\n", base.display()))?;
    if !o.status.success() {
        return Err(format!(
            "error: unpacking the base system {} into {} failed: {}\n",
            base.display(),
            root.display(),
            String::from_utf8_lossy(&o.stderr).trim_end()
        ));
    }
    Ok(())
}

pub fn install(a: InstallArgs) -> Result<ExitCode, String> {
    let root = absolute(&a.root);
    if let (Some(top), Some(store)) = (&a.internal_activate, &a.internal_store) {
        return activate_in_new_root(top, store, &root);
    }
    if a.target.is_some() {
        return crate::install_remote_cmd::run(a);
    }
    if root == Path::new("/") {
        return Err("error: ox install --root /: the new system's root must be a separate mountpoint (e.g. /mnt), not the running system\n".into());
    }
    let Some(flake) = a.flake.clone() else {
        return Err("error: ox install needs --flake REF#HOST\n".into());
    };
    let (host, layout) = host_layout(&flake, &a.include)?;
    if let Some(b) = &a.base {
        if !b.exists() {
            return Err(format!(
                "error: the base system {} does not exist\n",
                b.display()
            ));
        }
    }
    // 1. the system, built here before any disk is touched: a host that
    // does not build wipes nothing
    if let Some(x) = &a.extra_files {
        if !x.is_dir() {
            return Err(format!(
                "error: --extra-files {}: expected a directory (its contents go to / of the new system)\n",
                x.display()
            ));
        }
    }
    eprintln!("ox install: building `{host}`");
    let top = crate::activate_cmd::build_host(&flake)?;
    {
        let store = crate::build_cmd::open_store(None)?;
        let real = store
            .real_path_of_str(&top.to_string_lossy())
            .unwrap_or_else(|| top.clone());
        for w in crate::install_keys::check(&store, &real, a.extra_files.as_deref()) {
            eprintln!("warning: {w}");
        }
    }
    // 2. disks (or images of them, released when this returns)
    let mut images = None;
    let (layout, yes) = match &a.images {
        Some(dir) => {
            let (l, i) = ox_disko::images::Images::attach(&layout, dir)
                .map_err(|e| format!("error: host `{host}`: {e}\n"))?;
            images = Some(i);
            (l, true)
        }
        None => (layout, a.yes_wipe_all_disks),
    };
    eprintln!("ox install: disks of `{host}` (mode {})", a.mode);
    disko(&host, &layout, &a.mode, &root, false, yes)?;
    // 3. a Debian base
    if let Some(b) = &a.base {
        eprintln!("ox install: unpacking the base system {}", b.display());
        unpack_base(b, &root)?;
    }
    if let Some(x) = &a.extra_files {
        eprintln!("ox install: copying the extra files {}", x.display());
        copy_extra_files(x, &root)?;
    }
    if !root.join("etc/passwd").exists() {
        return Err(format!(
            "error: {} has no base system (no /etc/passwd): pass --base DIR|TARBALL (e.g. a debootstrap'd Debian); the disks are formatted and mounted, nothing else was installed\n",
            root.display()
        ));
    }
    let src = crate::build_cmd::open_store(None)?;
    let top_sp = src
        .parse(&top.to_string_lossy())
        .map_err(|e| format!("error: {e}\n"))?;
    let dst = Store::open(StoreConfig::with_root(&root, src.dir.as_str()))
        .map_err(|e| format!("error: opening the store under {}: {e}\n", root.display()))?;
    let n = copy_closure(&src, &dst, &top_sp)?;
    eprintln!(
        "ox install: copied {n} store path(s) into {}",
        dst.real_store_dir().display()
    );
    // 4. ox itself, for ox-boot.service and later switches
    let exe = std::env::current_exe().map_err(|e| format!("error: {e}\n"))?;
    let ox_in_root = root.join("usr/local/bin/ox");
    std::fs::create_dir_all(root.join("usr/local/bin"))
        .and_then(|_| std::fs::copy(&exe, &ox_in_root).map(|_| ()))
        .map_err(|e| format!("error: copying ox to {}: {e}\n", ox_in_root.display()))?;
    // 5. generation 1 and /etc: activation with --root, in a child
    // process that sees the new root's store at the logical store
    // directory, so every link activation makes (/etc/ox-static, the
    // profile) is what the booted system will see
    let st = Command::new(&exe)
        .arg("install")
        .arg("--internal-activate")
        .arg(&top)
        .arg("--internal-store")
        .arg(dst.real_store_dir())
        .arg("--root")
        .arg(&root)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("error: cannot run {}: {e}\n", exe.display()))?;
    if !st.success() {
        return Err(format!(
            "error: activating {} in {} failed ({st}); the store paths are copied, the disks stay mounted\n",
            top.display(),
            root.display()
        ));
    }
    let gens = ox_activate::profile::list(&ox_activate::Paths::new(&root));
    let n = gens.last().map(|g| g.number).unwrap_or(1);
    eprintln!(
        "ox install: `{host}` is installed in {} as generation {n} ({}); ox-boot.service activates it at the first boot. No boot loader was installed (see docs/disko.md)",
        root.display(),
        top.display()
    );
    // the new root's store database is open: close it before unmounting
    drop(dst);
    if let Some(mut i) = images {
        i.release(Some(&mut |l| eprintln!("{l}")));
        if let Some(dir) = &a.images {
            for (disk, _, file) in images_list(&layout, dir) {
                eprintln!("ox install: disk `{disk}` → {}", file.display());
            }
        }
    }
    println!("{}", top.display());
    Ok(ExitCode::SUCCESS)
}

/// Whether `a` is `b` or a directory above it.
fn is_ancestor(a: &str, b: &Path) -> bool {
    let a = Path::new(a);
    b.starts_with(a)
}

/// The activation step of `ox install`, in its own process: a mount
/// namespace of its own (a slave of the host's) where the new root's store is bind-mounted on the
/// logical store directory. Copies of unrelated mounts are detached
/// first, so this namespace never keeps another file system busy (a
/// disk being unmounted elsewhere meanwhile).
fn activate_in_new_root(top: &Path, store: &Path, root: &Path) -> Result<ExitCode, String> {
    let logical = PathBuf::from(
        top.parent()
            .ok_or_else(|| format!("error: {} is not a store path\n", top.display()))?,
    );
    let exe = std::env::current_exe().map_err(|e| format!("error: {e}\n"))?;
    let os_err = |what: &str| format!("error: {what}: {}\n", std::io::Error::last_os_error());
    let cstr = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("error: {} contains a NUL byte\n", p.display()))
    };
    // SAFETY: plain syscalls on this process's own mount namespace.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(os_err("unshare(CLONE_NEWNS)"));
        }
        let slash = cstr(Path::new("/"))?;
        if libc::mount(
            std::ptr::null(),
            slash.as_ptr(),
            std::ptr::null(),
            // slave: unmounts elsewhere still reach this namespace's
            // copies (where / is shared); nothing propagates back
            libc::MS_REC | libc::MS_SLAVE,
            std::ptr::null(),
        ) != 0
        {
            return Err(os_err("making / a slave mount"));
        }
    }
    let keep = |t: &str| -> bool {
        t == "/"
            || ["/proc", "/sys", "/dev", "/run"]
                .iter()
                .any(|p| t == *p || t.starts_with(&format!("{p}/")))
            || Path::new(t).starts_with(root)
            || [root, logical.as_path(), exe.as_path(), store]
                .iter()
                .any(|p| is_ancestor(t, p))
    };
    let mut drop: Vec<String> = ox_disko::probe::mounts()
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| !keep(t))
        .collect();
    drop.sort_by_key(|t| std::cmp::Reverse(t.len()));
    drop.dedup();
    for t in drop {
        if let Ok(c) = cstr(Path::new(&t)) {
            // SAFETY: detaching a mount in this private namespace only.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
    std::fs::create_dir_all(&logical)
        .map_err(|e| format!("error: creating {}: {e}\n", logical.display()))?;
    let (src, dst) = (cstr(store)?, cstr(&logical)?);
    // SAFETY: bind mount inside this private namespace.
    if unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    } != 0
    {
        return Err(os_err(&format!(
            "bind-mounting {} on {}",
            store.display(),
            logical.display()
        )));
    }
    // apt cannot install into an alternate root: with Debian packages
    // the base lacks, generation 1 only becomes the boot default and
    // ox-boot.service activates it (packages included) at the first boot
    let t = ox_activate::plan::Toplevel::load(top).map_err(|e| format!("error: {e}\n"))?;
    let paths = ox_activate::Paths::new(root);
    let installed = ox_activate::packages::installed(&paths).unwrap_or_default();
    let missing =
        ox_activate::packages::plan(&t.plan.packages, &[], &installed, &Default::default()).install;
    let action = if missing.is_empty() {
        ox_activate::Action::Switch
    } else {
        let names: Vec<String> = missing
            .iter()
            .map(|p| match &p.version {
                Some(v) => format!("{}={v}", p.name),
                None => p.name.clone(),
            })
            .collect();
        eprintln!(
            "ox install: the host declares {} Debian package(s) the base does not have ({}); apt cannot install them into {}. Generation 1 becomes the boot default only: /etc, users and packages are activated by ox-boot.service at the first boot (which needs the network then)",
            names.len(),
            names.join(", "),
            root.display()
        );
        ox_activate::Action::Boot
    };
    let opts = ox_activate::Options {
        root: root.to_path_buf(),
        toplevel: top.to_path_buf(),
        action,
        generation: None,
    };
    let r = ox_activate::activate(&opts, &mut |l| eprintln!("{l}")).map_err(|e| {
        format!(
            "error: activating {} in {}: {e}\n",
            top.display(),
            root.display()
        )
    })?;
    for w in &r.warnings {
        // units not being started is the point of an install
        if !w.starts_with("--root: systemd units") {
            eprintln!("warning: {w}");
        }
    }
    // activation recorded the generation as running in <root>/run/ox;
    // that is for a live system (the booted one gets a fresh /run and
    // ox-boot.service records it there)
    let _ = std::fs::remove_dir_all(root.join("run/ox"));
    let unit = root.join("etc/systemd/system/ox-boot.service");
    std::fs::write(
        &unit,
        ox_activate::engine::boot_unit_text(Path::new("/usr/local/bin/ox")),
    )
    .map_err(|e| format!("error: {}: {e}\n", unit.display()))?;
    Ok(ExitCode::SUCCESS)
}
