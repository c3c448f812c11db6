//! Disk provisioning with disko's model: a host's declared layout
//! (`disko.devices`, normalised by `nix/modules/tasks/disko.nix` into
//! `config.system.build.diskoLayout`) becomes an ordered plan of
//! commands — wipe, partition (sgdisk), wait for partition nodes
//! (partx), mkfs / mkswap / luksFormat, btrfs subvolumes, LUKS open,
//! mounts parents-first, swapon — which is shown (`--dry-run`) or run.
//!
//! Owns: the layout's JSON shape ([`layout`]), probing block devices
//! ([`probe`]), planning with disko's modes ([`plan`]) and running with
//! the destroy confirmation ([`run`]). It must not know about Nix
//! evaluation, the store or activation: its input is the layout JSON
//! and a mode, its output is changed disks and mounts under a root.

pub mod images;
pub mod layout;
pub mod plan;
pub mod probe;
pub mod run;

pub use layout::Layout;
pub use plan::{plan, Mode, Plan, System};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the disk layout (config.system.build.diskoLayout) is not what ox-disko expects: {0}")]
    Layout(String),
    #[error("{0}")]
    Mode(String),
    #[error("the host declares no disks (set disko.devices.disk.<name>)")]
    NoDisks,
    #[error("disk `{disk}`: {device} does not exist on this machine")]
    DeviceMissing { disk: String, device: String },
    #[error("refusing to wipe these disks without confirmation (pass --yes-wipe-all-disks, or run on a terminal and type `yes`); nothing was changed:\n{0}")]
    WipeNotConfirmed(String),
    #[error("refusing to format {device} (disk `{disk}`): it already holds {holds}, but the layout wants {wants}; nothing was changed. To erase it use --mode destroy,format,mount with --yes-wipe-all-disks")]
    Refused {
        disk: String,
        device: String,
        holds: String,
        wants: String,
    },
    #[error("{at}: {device} holds {has}, but the layout wants {wants}; refusing to format over it (nothing was changed). Use mode destroy to wipe the disk first")]
    WrongContent {
        at: String,
        device: String,
        has: String,
        wants: String,
    },
    #[error("disk `{disk}` is in use: {device} is mounted at {target} (outside the root); unmount it first")]
    InUse {
        disk: String,
        device: String,
        target: String,
    },
    #[error("{target} (at or below the root {root}) is mounted from {from}, which is not one of the layout's devices; refusing to unmount it or mount over it (nothing was changed). Choose another --root-mountpoint or unmount it")]
    ForeignMount {
        root: String,
        target: String,
        from: String,
    },
    #[error("cannot mount {mountpoint}: this kernel has no `{fs_type}` file system support (not in /proc/filesystems, no module to load); nothing was changed")]
    CannotMount { mountpoint: String, fs_type: String },
    #[error("cannot open {device} as /dev/mapper/{name}: this kernel has no device-mapper (/proc/misc, /dev/mapper/control). The LUKS header is written; opening it (and formatting or mounting what it holds) needs a machine with dm-crypt")]
    NoDeviceMapper { name: String, device: String },
    #[error("`{cmd}` asks for a LUKS passphrase, but there is no terminal; set passwordFile or settings.keyFile")]
    NeedsKey { cmd: String },
    #[error("`{cmd}` failed ({status}){}", if .output.trim().is_empty() { String::new() } else { format!(":\n{}", .output.trim_end()) })]
    Step {
        cmd: String,
        status: String,
        output: String,
    },
    #[error(
        "disk `{disk}`: the image {file} exists already; remove it (ox does not overwrite images)"
    )]
    ImageExists { disk: String, file: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}
