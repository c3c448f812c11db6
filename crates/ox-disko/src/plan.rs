//! Layout + mode + what is on the machine now → an ordered list of
//! steps. Nothing here changes the machine; [`crate::run`] does.
//!
//! Order (docs/disko.md): destroy (unmount what is under the root,
//! swapoff, close LUKS, wipe partitions then the disk, drop the kernel's
//! partitions) → format, disk by disk, depth first (table, partitions in
//! priority order, wait for their nodes, then each partition's content;
//! LUKS is formatted and opened before what it holds) → mount (open
//! LUKS, mount parents before children by mountpoint depth, swapon).
//! Unmount is the mount list reversed, then swapoff and LUKS close.

use std::collections::BTreeSet;
use std::path::Path;

use crate::layout::{partition_node, Btrfs, Content, Disk, Layout, Luks};
use crate::probe::{DiskState, Signature};
use crate::Error;

/// disko's modes: any of destroy, format, mount in that order, or
/// unmount alone. Legacy names: `disko` / `zap_create_mount` =
/// destroy,format,mount, `create` = format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mode {
    pub destroy: bool,
    pub format: bool,
    pub mount: bool,
    pub unmount: bool,
}

impl std::str::FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Mode, Error> {
        let bad = || {
            Error::Mode(format!(
                "unknown mode `{s}` (expected destroy,format,mount, format,mount, destroy, format, mount or unmount)"
            ))
        };
        let mut m = Mode::default();
        match s {
            "disko" | "zap_create_mount" => return "destroy,format,mount".parse(),
            "create" => return "format".parse(),
            "unmount" => {
                m.unmount = true;
                return Ok(m);
            }
            _ => {}
        }
        let mut last = 0;
        for part in s.split(',') {
            let (rank, flag) = match part.trim() {
                "destroy" => (1, &mut m.destroy),
                "format" => (2, &mut m.format),
                "mount" => (3, &mut m.mount),
                _ => return Err(bad()),
            };
            if rank <= last {
                return Err(bad());
            }
            last = rank;
            *flag = true;
        }
        Ok(m)
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.unmount {
            return f.write_str("unmount");
        }
        let mut v = Vec::new();
        for (on, n) in [
            (self.destroy, "destroy"),
            (self.format, "format"),
            (self.mount, "mount"),
        ] {
            if on {
                v.push(n);
            }
        }
        f.write_str(&v.join(","))
    }
}

/// A condition checked when the step runs (disko's `… ||` guards), so a
/// re-run skips what is already done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Guard {
    Always,
    UnlessMounted(String),
    IfMounted(String),
    UnlessExists(String),
    IfExists(String),
    UnlessSwapActive(String),
    IfSwapActive(String),
    /// Skip when this command succeeds.
    UnlessCmd(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Run(Vec<String>),
    Mkdir(String),
    /// Tell the kernel about a new partition table (`partx`; there may be
    /// no udev) and wait until these nodes exist.
    WaitPartitions {
        disk: String,
        nodes: Vec<String>,
    },
    /// Stop unless the kernel has device-mapper (opening LUKS needs it).
    RequireDeviceMapper {
        name: String,
        device: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// stdin from /dev/null
    None,
    /// this file's content with trailing newlines dropped (a LUKS passphrase)
    TrimmedFile(String),
    /// the terminal: cryptsetup asks for a passphrase
    Terminal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Destroy,
    Format,
    Mount,
    Unmount,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Destroy => "destroy",
            Phase::Format => "format",
            Phase::Mount => "mount",
            Phase::Unmount => "unmount",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub phase: Phase,
    pub action: Action,
    pub guard: Guard,
    pub input: Input,
    /// A failure is not an error (e.g. `partx -d` with no partitions).
    pub may_fail: bool,
}

/// A disk that mode destroy wipes, and what is on it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wipe {
    pub disk: String,
    pub device: String,
    pub holds: String,
}

/// One mount, in mount order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The device as the running plan sees it (`/dev/loop3p2`).
    pub device: String,
    pub mountpoint: String,
    /// `<root><mountpoint>`
    pub target: String,
    pub fs_type: String,
    pub options: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub mode: Mode,
    pub root: String,
    pub steps: Vec<Step>,
    pub wipes: Vec<Wipe>,
    pub mounts: Vec<Mount>,
    /// Disks whose device does not exist here: the plan can be shown but
    /// not run.
    pub missing: Vec<(String, String)>,
    /// Mounts (mountpoint, type) this kernel cannot do: the plan can be
    /// shown but not run.
    pub unmountable: Vec<(String, String)>,
    /// Mounts below the root from devices outside the layout (target,
    /// source): never unmounted or mounted over.
    pub foreign: Vec<(String, String)>,
}

/// What the planner asks about the machine (a trait so tests can plan
/// against made-up disks).
pub trait Env {
    fn exists(&self, dev: &str) -> bool;
    fn disk(&self, dev: &str) -> DiskState;
    fn canonical(&self, dev: &str) -> String;
    fn kernel_partitions(&self, dev: &str) -> Vec<String>;
    fn mounts(&self) -> Vec<(String, String)>;
    fn swap_active(&self, dev: &str) -> bool;
    fn mapper_exists(&self, name: &str) -> bool;
    fn can_mount(&self, fs_type: &str) -> bool;
}

/// The real machine.
pub struct System;

impl Env for System {
    fn exists(&self, dev: &str) -> bool {
        std::fs::metadata(dev).is_ok()
    }
    fn disk(&self, dev: &str) -> DiskState {
        crate::probe::disk_state(dev)
    }
    fn canonical(&self, dev: &str) -> String {
        crate::probe::canonical(dev)
    }
    fn kernel_partitions(&self, dev: &str) -> Vec<String> {
        crate::probe::kernel_partitions(dev)
    }
    fn mounts(&self) -> Vec<(String, String)> {
        crate::probe::mounts()
    }
    fn swap_active(&self, dev: &str) -> bool {
        crate::probe::swap_active(dev)
    }
    fn mapper_exists(&self, name: &str) -> bool {
        Path::new("/dev/mapper").join(name).exists()
    }
    fn can_mount(&self, fs_type: &str) -> bool {
        crate::probe::can_mount(fs_type)
    }
}

/// Where btrfs top levels are mounted to create subvolumes.
const TOP_DIR: &str = "/run/ox-disko";

fn s(x: &str) -> String {
    x.to_string()
}

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

/// `<root>` + `/home` → `<root>/home`; `/` → `<root>`.
pub fn under_root(root: &str, mp: &str) -> String {
    let r = root.trim_end_matches('/');
    let m = mp.trim_matches('/');
    match (r.is_empty(), m.is_empty()) {
        (true, true) => "/".into(),
        (true, false) => format!("/{m}"),
        (false, true) => r.to_string(),
        (false, false) => format!("{r}/{m}"),
    }
}

fn depth(mp: &str) -> usize {
    mp.split('/').filter(|c| !c.is_empty()).count()
}

/// blkid's TYPE for what a layout's `format` makes.
fn blkid_type(format: &str) -> &str {
    match format {
        "fat" | "fat12" | "fat16" | "fat32" | "msdos" | "vfat" => "vfat",
        other => other,
    }
}

/// What is known about a device before the format phase touches it.
#[derive(Clone, Debug)]
enum Known {
    /// Created by this plan: empty.
    Fresh,
    /// Probed now.
    Sig(Signature),
    /// Not visible yet (inside a LUKS device that is not open): guard at
    /// run time.
    Unknown,
}

struct Planner<'a> {
    env: &'a dyn Env,
    plan: Plan,
}

pub fn plan(layout: &Layout, mode: Mode, root: &str, env: &dyn Env) -> Result<Plan, Error> {
    if layout.disks.is_empty() && layout.nodev.is_empty() {
        return Err(Error::NoDisks);
    }
    let mut p = Planner {
        env,
        plan: Plan {
            mode,
            root: root.to_string(),
            ..Plan::default()
        },
    };
    let mut disks: Vec<&Disk> = layout.disks.iter().collect();
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    let mut seen = BTreeSet::new();
    for d in &disks {
        let dev = env.canonical(&d.device);
        if !seen.insert(dev.clone()) {
            return Err(Error::Layout(format!(
                "disk `{}`: device {} is used by two disks",
                d.name, d.device
            )));
        }
        if !env.exists(&d.device) {
            p.plan.missing.push((d.name.clone(), d.device.clone()));
        }
    }
    // every mount, with the devices the running plan uses
    let mut mounts = Vec::new();
    let mut swaps = Vec::new();
    let mut lukses = Vec::new();
    for d in &disks {
        let dev = env.canonical(&d.device);
        if let Some(c) = &d.content {
            collect(c, &dev, root, &mut mounts, &mut swaps, &mut lukses);
        }
    }
    for n in &layout.nodev {
        mounts.push(Mount {
            device: n.device.clone(),
            mountpoint: n.mountpoint.clone(),
            target: under_root(root, &n.mountpoint),
            fs_type: n.fs_type.clone(),
            options: n.mount_options.clone(),
        });
    }
    mounts.sort_by(|a: &Mount, b: &Mount| {
        (depth(&a.mountpoint), &a.mountpoint).cmp(&(depth(&b.mountpoint), &b.mountpoint))
    });
    p.plan.mounts = mounts.clone();
    if mode.destroy || mode.mount {
        // never unmount or mount over something that is not ours
        let r = root.trim_end_matches('/');
        for (src, t) in env.mounts() {
            let below = !r.is_empty() && (t == r || t.starts_with(&format!("{r}/")));
            let nodev_here = mounts.iter().any(|m| {
                m.target == t
                    && layout
                        .nodev
                        .iter()
                        .any(|n| n.device == src && n.mountpoint == m.mountpoint)
            });
            if below
                && !nodev_here
                && !p.is_ours(&src, &disks, &lukses)
                && !t.starts_with(&format!("{TOP_DIR}/"))
            {
                p.plan.foreign.push((t.clone(), src.clone()));
            }
        }
    }

    if mode.unmount {
        for m in mounts.iter().rev() {
            p.push(
                Phase::Unmount,
                Action::Run(argv(&["umount", &m.target])),
                Guard::IfMounted(m.target.clone()),
            );
        }
        for (dev, _) in &swaps {
            p.push(
                Phase::Unmount,
                Action::Run(argv(&["swapoff", dev])),
                Guard::IfSwapActive(dev.clone()),
            );
        }
        for l in lukses.iter().rev() {
            p.push(
                Phase::Unmount,
                Action::Run(argv(&["cryptsetup", "close", &l.name])),
                Guard::IfExists(format!("/dev/mapper/{}", l.name)),
            );
        }
        return Ok(p.plan);
    }
    if mode.mount {
        // refused before anything changes (run::check_allowed), not
        // half-way through mounting
        for m in &mounts {
            if !env.can_mount(&m.fs_type) {
                p.plan
                    .unmountable
                    .push((m.mountpoint.clone(), m.fs_type.clone()));
            }
        }
    }
    if mode.destroy {
        p.destroy(&disks, &lukses, &layout.nodev)?;
    }
    if mode.format {
        for d in &disks {
            p.format_disk(d, mode.destroy)?;
        }
    }
    if mode.mount {
        if !mode.format {
            // partitions of a disk attached since (a loop device, no
            // udev) are unknown to the kernel until partx adds them
            for d in &disks {
                if let Some(Content::Gpt(g)) = &d.content {
                    let dev = env.canonical(&d.device);
                    let nodes = g
                        .partitions
                        .iter()
                        .map(|part| partition_node(&dev, part.index))
                        .collect();
                    p.push(
                        Phase::Mount,
                        Action::WaitPartitions { disk: dev, nodes },
                        Guard::Always,
                    );
                }
            }
        }
        for l in &lukses {
            p.open_luks(Phase::Mount, l);
        }
        for m in &mounts {
            let mut opts = m.options.clone();
            opts.push("X-mount.mkdir".into());
            p.push(
                Phase::Mount,
                Action::Run(vec![
                    s("mount"),
                    s("-t"),
                    m.fs_type.clone(),
                    s("-o"),
                    opts.join(","),
                    m.device.clone(),
                    m.target.clone(),
                ]),
                Guard::UnlessMounted(m.target.clone()),
            );
        }
        for (dev, sw) in &swaps {
            let mut a = vec![s("swapon")];
            if let Some(pr) = sw.priority {
                a.push(s("-p"));
                a.push(pr.to_string());
            }
            if let Some(d) = &sw.discard_policy {
                a.push(format!("--discard={d}"));
            }
            a.push(dev.clone());
            p.push(
                Phase::Mount,
                Action::Run(a),
                Guard::UnlessSwapActive(dev.clone()),
            );
        }
    }
    Ok(p.plan)
}

/// Walks the tree: mounts, swap devices and LUKS devices (depth first),
/// with the device nodes the plan uses.
fn collect(
    c: &Content,
    dev: &str,
    root: &str,
    mounts: &mut Vec<Mount>,
    swaps: &mut Vec<(String, crate::layout::Swap)>,
    lukses: &mut Vec<LuksAt>,
) {
    match c {
        Content::Gpt(g) => {
            for part in &g.partitions {
                if let Some(pc) = &part.content {
                    collect(
                        pc,
                        &partition_node(dev, part.index),
                        root,
                        mounts,
                        swaps,
                        lukses,
                    );
                }
            }
        }
        Content::Filesystem(f) => {
            if let Some(mp) = &f.mountpoint {
                mounts.push(Mount {
                    device: dev.into(),
                    mountpoint: mp.clone(),
                    target: under_root(root, mp),
                    fs_type: f.format.clone(),
                    options: f.mount_options.clone(),
                });
            }
        }
        Content::Btrfs(b) => {
            if let Some(mp) = &b.mountpoint {
                mounts.push(Mount {
                    device: dev.into(),
                    mountpoint: mp.clone(),
                    target: under_root(root, mp),
                    fs_type: "btrfs".into(),
                    options: b.mount_options.clone(),
                });
            }
            for sv in &b.subvolumes {
                if let Some(mp) = &sv.mountpoint {
                    let mut options = sv.mount_options.clone();
                    options.push(format!("subvol={}", sv.name));
                    mounts.push(Mount {
                        device: dev.into(),
                        mountpoint: mp.clone(),
                        target: under_root(root, mp),
                        fs_type: "btrfs".into(),
                        options,
                    });
                }
            }
        }
        Content::Swap(sw) => {
            if !sw.random_encryption {
                swaps.push((dev.to_string(), sw.clone()));
            }
        }
        Content::Luks(l) => {
            lukses.push(LuksAt {
                device: dev.to_string(),
                name: l.name.clone(),
                luks: l.clone(),
            });
            if let Some(inner) = &l.content {
                collect(
                    inner,
                    &format!("/dev/mapper/{}", l.name),
                    root,
                    mounts,
                    swaps,
                    lukses,
                );
            }
        }
    }
}

#[derive(Clone, Debug)]
struct LuksAt {
    device: String,
    name: String,
    luks: Luks,
}

impl LuksAt {
    /// `--key-file K` (or `-` with the passphrase on stdin), or nothing:
    /// cryptsetup asks on the terminal.
    fn key(&self) -> (Vec<String>, Input) {
        if let Some(k) = &self.luks.key_file {
            (vec![s("--key-file"), k.clone()], Input::None)
        } else if let Some(pw) = &self.luks.password_file {
            (
                vec![s("--key-file"), s("-")],
                Input::TrimmedFile(pw.clone()),
            )
        } else {
            (vec![], Input::Terminal)
        }
    }
}

impl Planner<'_> {
    fn push(&mut self, phase: Phase, action: Action, guard: Guard) {
        self.plan.steps.push(Step {
            phase,
            action,
            guard,
            input: Input::None,
            may_fail: false,
        });
    }

    fn push_step(&mut self, step: Step) {
        self.plan.steps.push(step);
    }

    /// Whether a mount source is one of the layout's devices (a disk, a
    /// partition the kernel knows, an opened LUKS mapping).
    fn is_ours(&self, src: &str, disks: &[&Disk], lukses: &[LuksAt]) -> bool {
        let src = self.env.canonical(src);
        disks.iter().any(|d| {
            let dev = self.env.canonical(&d.device);
            src == dev || self.env.kernel_partitions(&dev).contains(&src)
        }) || lukses.iter().any(|l| {
            src == format!("/dev/mapper/{}", l.name)
                || src == self.env.canonical(&format!("/dev/mapper/{}", l.name))
        })
    }

    fn destroy(
        &mut self,
        disks: &[&Disk],
        lukses: &[LuksAt],
        nodev: &[crate::layout::Nodev],
    ) -> Result<(), Error> {
        let root = self.plan.root.clone();
        let mounts = self.env.mounts();
        let under = |t: &str| {
            let r = root.trim_end_matches('/');
            !r.is_empty() && (t == r || t.starts_with(&format!("{r}/")))
        };
        // unmount what the layout's devices have mounted below the root,
        // deepest first (foreign mounts there are refused in plan())
        let mut ours: Vec<String> = mounts
            .iter()
            .filter(|(src, t)| {
                under(t)
                    && (self.is_ours(src, disks, lukses)
                        || nodev
                            .iter()
                            .any(|n| n.device == *src && under_root(&root, &n.mountpoint) == *t))
            })
            .map(|(_, t)| t.clone())
            .collect();
        ours.sort_by_key(|t| std::cmp::Reverse((depth(t), t.clone())));
        ours.dedup();
        let wiped: Vec<&&Disk> = disks.iter().filter(|d| d.destroy).collect();
        for d in &wiped {
            let dev = self.env.canonical(&d.device);
            let mut nodes = self.env.kernel_partitions(&dev);
            nodes.push(dev.clone());
            for (src, t) in &mounts {
                let src = self.env.canonical(src);
                if nodes.contains(&src) && !under(t) {
                    return Err(Error::InUse {
                        disk: d.name.clone(),
                        device: src,
                        target: t.clone(),
                    });
                }
            }
        }
        for t in &ours {
            self.push(
                Phase::Destroy,
                Action::Run(argv(&["umount", t])),
                Guard::IfMounted(t.clone()),
            );
        }
        for l in lukses.iter().rev() {
            if self.env.mapper_exists(&l.name) {
                self.push(
                    Phase::Destroy,
                    Action::Run(argv(&["cryptsetup", "close", &l.name])),
                    Guard::IfExists(format!("/dev/mapper/{}", l.name)),
                );
            }
        }
        for d in wiped {
            let dev = self.env.canonical(&d.device);
            let state = self.env.disk(&dev);
            let mut parts = self.env.kernel_partitions(&dev);
            // partitions the table lists but the kernel does not know
            // (no udev, a disk attached since): make them known, so their
            // signatures are wiped too; a stale one would make the next
            // mkfs.btrfs / mkfs.xfs refuse (or blkid misreport)
            let unknown: Vec<String> = state
                .table
                .iter()
                .map(|t| t.node.clone())
                .filter(|n| !n.is_empty() && !parts.contains(n))
                .collect();
            if !unknown.is_empty() {
                self.push(
                    Phase::Destroy,
                    Action::WaitPartitions {
                        disk: dev.clone(),
                        nodes: unknown.clone(),
                    },
                    Guard::Always,
                );
                parts.extend(unknown);
                parts.sort();
            }
            if !state.exists {
                self.plan.wipes.push(Wipe {
                    disk: d.name.clone(),
                    device: d.device.clone(),
                    holds: "(the device does not exist here)".into(),
                });
            } else {
                self.plan.wipes.push(Wipe {
                    disk: d.name.clone(),
                    device: dev.clone(),
                    holds: state.describe(),
                });
            }
            for part in &parts {
                if self.env.swap_active(part) {
                    self.push(
                        Phase::Destroy,
                        Action::Run(argv(&["swapoff", part])),
                        Guard::IfSwapActive(part.clone()),
                    );
                }
            }
            for part in &parts {
                self.push(
                    Phase::Destroy,
                    Action::Run(argv(&["wipefs", "--all", "--force", part])),
                    Guard::Always,
                );
            }
            self.push(
                Phase::Destroy,
                Action::Run(argv(&["wipefs", "--all", "--force", &dev])),
                Guard::Always,
            );
            // the protective MBR's boot code is not a signature wipefs knows
            self.push(
                Phase::Destroy,
                Action::Run(vec![
                    s("dd"),
                    s("if=/dev/zero"),
                    format!("of={dev}"),
                    s("bs=440"),
                    s("count=1"),
                    s("conv=notrunc"),
                    s("status=none"),
                ]),
                Guard::Always,
            );
            if !parts.is_empty() {
                self.push_step(Step {
                    phase: Phase::Destroy,
                    action: Action::Run(argv(&["partx", "-d", &dev])),
                    guard: Guard::Always,
                    input: Input::None,
                    may_fail: true,
                });
            }
        }
        Ok(())
    }

    fn format_disk(&mut self, d: &Disk, destroyed: bool) -> Result<(), Error> {
        let Some(c) = &d.content else {
            return Ok(());
        };
        let dev = self.env.canonical(&d.device);
        let state = self.env.disk(&dev);
        let fresh = (destroyed && d.destroy) || !state.exists || state.signature.is_empty();
        let refuse = |wants: &str| Error::Refused {
            disk: d.name.clone(),
            device: dev.clone(),
            holds: state.describe(),
            wants: wants.to_string(),
        };
        match c {
            Content::Gpt(g) => {
                let nodes: Vec<String> = g
                    .partitions
                    .iter()
                    .map(|p| partition_node(&dev, p.index))
                    .collect();
                let labels: Vec<&str> = g.partitions.iter().map(|p| p.label.as_str()).collect();
                let ours = !fresh
                    && state.signature.table.as_deref() == Some("gpt")
                    && state.signature.fs.is_none()
                    && state.table.len() == labels.len()
                    && state
                        .table
                        .iter()
                        .map(|t| t.label.as_str())
                        .eq(labels.iter().copied());
                if !fresh && !ours {
                    return Err(refuse(&format!(
                        "a gpt partition table with {} partition(s) ({})",
                        labels.len(),
                        labels.join(", ")
                    )));
                }
                if fresh {
                    self.push(
                        Phase::Format,
                        Action::Run(argv(&["sgdisk", "--clear", &dev])),
                        Guard::Always,
                    );
                    for part in &g.partitions {
                        let i = part.index;
                        let mut a = vec![
                            s("sgdisk"),
                            s("--align-end"),
                            format!("--new={i}:{}:{}", part.start, part.end),
                            format!("--change-name={i}:{}", part.label),
                            format!("--typecode={i}:{}", part.typecode),
                        ];
                        if let Some(u) = &part.uuid {
                            a.push(format!("--partition-guid={i}:{u}"));
                        }
                        a.push(dev.clone());
                        self.push(Phase::Format, Action::Run(a), Guard::Always);
                    }
                }
                self.push(
                    Phase::Format,
                    Action::WaitPartitions {
                        disk: dev.clone(),
                        nodes: nodes.clone(),
                    },
                    Guard::Always,
                );
                for (part, node) in g.partitions.iter().zip(&nodes) {
                    if let Some(pc) = &part.content {
                        let known = if fresh {
                            Known::Fresh
                        } else {
                            match state.parts.get(node) {
                                Some(sig) => Known::Sig(sig.clone()),
                                None => Known::Unknown,
                            }
                        };
                        self.format_content(pc, node, known)?;
                    }
                }
            }
            other => {
                if !fresh && state.signature.table.is_some() {
                    return Err(refuse(&describe_content(other)));
                }
                let known = if fresh {
                    Known::Fresh
                } else {
                    Known::Sig(state.signature.clone())
                };
                self.format_content(other, &dev, known)?;
            }
        }
        Ok(())
    }

    fn format_content(&mut self, c: &Content, dev: &str, known: Known) -> Result<(), Error> {
        let (want, at) = match c {
            Content::Gpt(_) => unreachable!("the module allows gpt only on disks"),
            Content::Filesystem(f) => (blkid_type(&f.format).to_string(), &f.at),
            Content::Btrfs(b) => ("btrfs".to_string(), &b.at),
            Content::Swap(sw) => ("swap".to_string(), &sw.at),
            Content::Luks(l) => ("crypto_LUKS".to_string(), &l.at),
        };
        // create it? (Unknown: decided at run time by blkid)
        let guard = match &known {
            Known::Fresh => Some(Guard::Always),
            Known::Unknown => Some(Guard::UnlessCmd(argv(&["blkid", "-p", dev]))),
            Known::Sig(sig) => match &sig.fs {
                None => Some(Guard::Always),
                Some(t) if *t == want => None,
                Some(t) => {
                    return Err(Error::WrongContent {
                        at: at.clone(),
                        device: dev.to_string(),
                        has: t.clone(),
                        wants: want,
                    })
                }
            },
        };
        match c {
            Content::Gpt(_) => {}
            Content::Filesystem(f) => {
                if let Some(g) = guard {
                    let mut a = vec![format!("mkfs.{}", f.format)];
                    a.extend(f.extra_args.iter().cloned());
                    a.push(dev.into());
                    self.push(Phase::Format, Action::Run(a), g);
                }
            }
            Content::Swap(sw) => {
                if sw.random_encryption {
                    return Ok(());
                }
                if let Some(g) = guard {
                    let mut a = vec![s("mkswap")];
                    a.extend(sw.extra_args.iter().cloned());
                    a.push(dev.into());
                    self.push(Phase::Format, Action::Run(a), g);
                }
            }
            Content::Btrfs(b) => {
                if let Some(g) = guard {
                    let mut a = vec![s("mkfs.btrfs")];
                    a.extend(b.extra_args.iter().cloned());
                    a.push(dev.into());
                    self.push(Phase::Format, Action::Run(a), g);
                }
                self.subvolumes(b, dev);
            }
            Content::Luks(l) => {
                let at = LuksAt {
                    device: dev.to_string(),
                    name: l.name.clone(),
                    luks: l.clone(),
                };
                let (key, input) = at.key();
                let formatted_now = guard.is_some();
                if let Some(g) = guard {
                    let mut a = argv(&["cryptsetup", "-q", "luksFormat", dev]);
                    a.extend(l.extra_format_args.iter().cloned());
                    a.extend(key.iter().cloned());
                    self.push_step(Step {
                        phase: Phase::Format,
                        action: Action::Run(a),
                        guard: g,
                        input: input.clone(),
                        may_fail: false,
                    });
                    for k in &l.additional_key_files {
                        let mut a = argv(&["cryptsetup", "luksAddKey", dev, k]);
                        a.extend(key.iter().cloned());
                        self.push_step(Step {
                            phase: Phase::Format,
                            action: Action::Run(a),
                            guard: Guard::Always,
                            input: input.clone(),
                            may_fail: false,
                        });
                    }
                }
                if let Some(inner) = &l.content {
                    self.open_luks(Phase::Format, &at);
                    let inner_known = if formatted_now && matches!(known, Known::Fresh) {
                        Known::Fresh
                    } else if formatted_now {
                        // formatted now, but only at run time (guarded)
                        Known::Unknown
                    } else if self.env.mapper_exists(&l.name) {
                        Known::Sig(crate::probe::signature(&format!("/dev/mapper/{}", l.name)))
                    } else {
                        Known::Unknown
                    };
                    self.format_content(inner, &format!("/dev/mapper/{}", l.name), inner_known)?;
                }
            }
        }
        Ok(())
    }

    fn subvolumes(&mut self, b: &Btrfs, dev: &str) {
        if b.subvolumes.is_empty() {
            return;
        }
        let tmp = format!(
            "{TOP_DIR}/top-{}",
            dev.trim_start_matches('/').replace('/', "-")
        );
        self.push(Phase::Format, Action::Mkdir(tmp.clone()), Guard::Always);
        if !self.plan.steps.iter().any(
            |st| matches!(&st.action, Action::Run(a) if a.iter().any(|x| x == "--make-rshared")),
        ) {
            // A shared mount: where / is private (no systemd), a mount
            // namespace created meanwhile by any other process keeps a
            // copy of the top-level mount after we unmount it, which
            // keeps the file system alive with this mount's options
            // (and the disk busy). Unmounts below a shared mount reach
            // such copies.
            self.push(
                Phase::Format,
                Action::Run(argv(&["mount", "--bind", TOP_DIR, TOP_DIR])),
                Guard::UnlessMounted(TOP_DIR.into()),
            );
            self.push(
                Phase::Format,
                Action::Run(argv(&["mount", "--make-rshared", TOP_DIR])),
                Guard::Always,
            );
        }
        self.push(
            Phase::Format,
            Action::Run(vec![
                s("mount"),
                s("-t"),
                s("btrfs"),
                s("-o"),
                s("subvol=/"),
                dev.into(),
                tmp.clone(),
            ]),
            Guard::UnlessMounted(tmp.clone()),
        );
        for sv in &b.subvolumes {
            let rel = sv.name.trim_matches('/');
            let path = format!("{tmp}/{rel}");
            if let Some((parent, _)) = rel.rsplit_once('/') {
                self.push(
                    Phase::Format,
                    Action::Mkdir(format!("{tmp}/{parent}")),
                    Guard::Always,
                );
            }
            let mut a = argv(&["btrfs", "subvolume", "create"]);
            a.extend(sv.extra_args.iter().cloned());
            a.push(path.clone());
            self.push(
                Phase::Format,
                Action::Run(a),
                Guard::UnlessCmd(argv(&["btrfs", "subvolume", "show", &path])),
            );
        }
        self.push(
            Phase::Format,
            Action::Run(argv(&["umount", &tmp])),
            Guard::IfMounted(tmp.clone()),
        );
    }

    fn open_luks(&mut self, phase: Phase, l: &LuksAt) {
        let mapper = format!("/dev/mapper/{}", l.name);
        // an open mapping is never opened again, in this run or a later one
        if self.plan.steps.iter().any(
            |s| matches!(&s.action, Action::RequireDeviceMapper { name, .. } if *name == l.name),
        ) {
            return;
        }
        self.push(
            phase,
            Action::RequireDeviceMapper {
                name: l.name.clone(),
                device: l.device.clone(),
            },
            Guard::UnlessExists(mapper.clone()),
        );
        let (key, input) = l.key();
        let mut a = argv(&["cryptsetup", "open", &l.device, &l.name]);
        if l.luks.settings.get("allowDiscards") == Some(&serde_json::Value::Bool(true)) {
            a.push(s("--allow-discards"));
        }
        if l.luks.settings.get("bypassWorkqueues") == Some(&serde_json::Value::Bool(true)) {
            a.push(s("--perf-no_read_workqueue"));
            a.push(s("--perf-no_write_workqueue"));
        }
        a.extend(l.luks.extra_open_args.iter().cloned());
        a.extend(key);
        self.push_step(Step {
            phase,
            action: Action::Run(a),
            guard: Guard::UnlessExists(mapper),
            input,
            may_fail: false,
        });
    }
}

fn describe_content(c: &Content) -> String {
    match c {
        Content::Gpt(g) => format!("a gpt table with {} partition(s)", g.partitions.len()),
        Content::Filesystem(f) => format!(
            "{} {} file system",
            if f.format.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            },
            f.format
        ),
        Content::Btrfs(_) => "a btrfs file system".into(),
        Content::Swap(_) => "swap".into(),
        Content::Luks(_) => "a LUKS container".into(),
    }
}

/// Shell quoting for display (the runner never uses a shell).
pub fn quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+%@".contains(c))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

fn join(v: &[String]) -> String {
    v.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

impl Step {
    /// The step as one shell line (what `--dry-run` prints).
    pub fn render(&self) -> String {
        let body = match &self.action {
            Action::Run(a) => {
                let cmd = join(a);
                match &self.input {
                    Input::TrimmedFile(f) => format!("printf %s \"$(cat {})\" | {cmd}", quote(f)),
                    _ => cmd,
                }
            }
            Action::Mkdir(p) => format!("mkdir -p {}", quote(p)),
            Action::WaitPartitions { disk, nodes } => format!(
                "partx -a {d} || :; partx -u {d} || :  # wait for {}",
                nodes.join(" "),
                d = quote(disk)
            ),
            Action::RequireDeviceMapper { name, device } => format!(
                "test -e /dev/mapper/control  # device-mapper is needed to open {device} as {name}"
            ),
        };
        let body = if self.may_fail {
            format!("{body} || :")
        } else {
            body
        };
        match &self.guard {
            Guard::Always => body,
            Guard::UnlessMounted(t) => format!("findmnt {} >/dev/null || {body}", quote(t)),
            Guard::IfMounted(t) => format!("! findmnt {} >/dev/null || {body}", quote(t)),
            Guard::UnlessExists(p) => format!("test -e {} || {body}", quote(p)),
            Guard::IfExists(p) => format!("! test -e {} || {body}", quote(p)),
            Guard::UnlessSwapActive(d) => {
                format!("grep -q '^{d} ' /proc/swaps || {body}")
            }
            Guard::IfSwapActive(d) => format!("! grep -q '^{d} ' /proc/swaps || {body}"),
            Guard::UnlessCmd(c) => format!("{} >/dev/null 2>&1 || {body}", join(c)),
        }
    }
}

impl Plan {
    /// The whole plan as a shell script, by phase.
    pub fn render(&self) -> String {
        let mut out = format!(
            "# ox disko: mode {}, root {}\n",
            self.mode,
            if self.root.is_empty() {
                "/"
            } else {
                &self.root
            }
        );
        for (name, dev) in &self.missing {
            out.push_str(&format!(
                "# note: disk `{name}`: {dev} does not exist on this machine\n"
            ));
        }
        for (mp, t) in &self.unmountable {
            out.push_str(&format!(
                "# note: this kernel cannot mount {t} (for {mp}): the plan cannot run here\n"
            ));
        }
        for (t, src) in &self.foreign {
            out.push_str(&format!(
                "# note: {t} is mounted from {src}, which is not in the layout: the plan cannot run with this root\n"
            ));
        }
        for w in &self.wipes {
            out.push_str(&format!(
                "# destroy wipes disk `{}` ({}), which holds {}\n",
                w.disk, w.device, w.holds
            ));
        }
        let mut last = None;
        for st in &self.steps {
            if last != Some(st.phase) {
                out.push_str(&format!("# --- {} ---\n", st.phase.as_str()));
                last = Some(st.phase);
            }
            out.push_str(&st.render());
            out.push('\n');
        }
        if self.steps.is_empty() {
            out.push_str("# nothing to do\n");
        }
        out
    }
}
