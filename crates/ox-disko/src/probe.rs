//! What is on the machine now: signatures on block devices (`blkid -p`,
//! which reads the device itself and needs no udev), the kernel's
//! partitions (`/sys/class/block`), mounts, active swap, and whether
//! device-mapper and a file system type are available.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Signatures `blkid -p` found on one device.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct Signature {
    /// `TYPE` (ext4, vfat, swap, btrfs, crypto_LUKS, …), if any.
    pub fs: Option<String>,
    /// `PTTYPE` (gpt, dos, PMBR) of a partition table, if any.
    pub table: Option<String>,
    pub label: Option<String>,
    pub uuid: Option<String>,
}

impl Signature {
    pub fn is_empty(&self) -> bool {
        self.fs.is_none() && self.table.is_none()
    }
}

/// One partition of a disk as the partition table lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct TablePartition {
    pub node: String,
    pub label: String,
}

pub fn signature(dev: &str) -> Signature {
    let mut s = Signature::default();
    let Ok(out) = Command::new("blkid")
        .args(["-p", "-o", "export", dev])
        .output()
    else {
        return s;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = Some(v.to_string());
        match k {
            "TYPE" => s.fs = v,
            "PTTYPE" => s.table = v,
            "LABEL" => s.label = v,
            "UUID" => s.uuid = v,
            _ => {}
        }
    }
    s
}

/// The partitions of a GPT/MBR table (`sfdisk --json`, read from the
/// device, so it works before the kernel knows the partitions).
pub fn table_partitions(disk: &str) -> Vec<TablePartition> {
    let Ok(out) = Command::new("sfdisk").args(["--json", disk]).output() else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return Vec::new();
    };
    v["partitiontable"]["partitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| TablePartition {
            node: p["node"].as_str().unwrap_or_default().to_string(),
            label: p["name"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

/// Partition nodes the kernel currently has for a disk
/// (`/sys/class/block/<disk>/<disk>…`), as /dev paths.
pub fn kernel_partitions(disk: &str) -> Vec<String> {
    let Ok(real) = std::fs::canonicalize(disk) else {
        return Vec::new();
    };
    let Some(name) = real.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let mut v: Vec<String> = std::fs::read_dir(Path::new("/sys/class/block").join(&name))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("partition").exists())
        .map(|e| format!("/dev/{}", e.file_name().to_string_lossy()))
        .collect();
    v.sort();
    v
}

/// Mounted file systems: (source device, target), from mountinfo.
pub fn mounts() -> Vec<(String, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let target = unescape(left.split(' ').nth(4)?);
            let source = unescape(right.split(' ').nth(1)?);
            Some((source, target))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(n) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(n as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Whether anything is mounted at `target`.
pub fn is_mounted(target: &str) -> bool {
    let t = target.trim_end_matches('/');
    let t = if t.is_empty() { "/" } else { t };
    mounts().iter().any(|(_, m)| m == t)
}

/// Active swap devices (`/proc/swaps`), canonicalised.
pub fn active_swaps() -> Vec<String> {
    std::fs::read_to_string("/proc/swaps")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

pub fn swap_active(dev: &str) -> bool {
    let real = canonical(dev);
    active_swaps().iter().any(|s| canonical(s) == real)
}

/// A device path with symlinks resolved (itself when it does not exist).
pub fn canonical(dev: &str) -> String {
    std::fs::canonicalize(dev)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| dev.to_string())
}

/// Whether the kernel has device-mapper (needed to open LUKS devices).
pub fn has_device_mapper() -> bool {
    std::fs::read_to_string("/proc/misc")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("device-mapper"))
}

/// Whether the kernel can mount `fstype` now, or could load a module
/// for it (a module tree for the running kernel exists).
pub fn can_mount(fstype: &str) -> bool {
    let fs = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if fs
        .lines()
        .any(|l| l.split_whitespace().last() == Some(fstype))
    {
        return true;
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let dir = Path::new("/lib/modules").join(release.trim());
    if !dir.join("modules.dep").exists() {
        return false;
    }
    // modules.dep names e.g. kernel/fs/fat/vfat.ko(.xz)
    let dep = std::fs::read_to_string(dir.join("modules.dep")).unwrap_or_default();
    let needle = format!("/{fstype}.ko");
    dep.lines()
        .any(|l| l.split(':').next().is_some_and(|m| m.contains(&needle)))
}

/// Everything the planner needs to know about one disk.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct DiskState {
    pub exists: bool,
    pub signature: Signature,
    pub table: Vec<TablePartition>,
    /// Signatures on the partitions the table lists, by node.
    pub parts: BTreeMap<String, Signature>,
}

pub fn disk_state(dev: &str) -> DiskState {
    if std::fs::metadata(dev).is_err() {
        return DiskState::default();
    }
    let signature = signature(dev);
    let table = if signature.table.is_some() {
        table_partitions(dev)
    } else {
        Vec::new()
    };
    let parts = table
        .iter()
        .filter(|p| Path::new(&p.node).exists())
        .map(|p| (p.node.clone(), self::signature(&p.node)))
        .collect();
    DiskState {
        exists: true,
        signature,
        table,
        parts,
    }
}

impl DiskState {
    /// "an ext4 file system (LABEL=data)", "a gpt partition table with
    /// 2 partitions (/dev/loop3p1 "disk-main-root": ext4, …)".
    pub fn describe(&self) -> String {
        let sig = |s: &Signature| -> String {
            let mut d = s.fs.clone().unwrap_or_else(|| "no file system".into());
            if let Some(l) = &s.label {
                d.push_str(&format!(" LABEL={l}"));
            }
            d
        };
        if let Some(t) = &self.signature.table {
            let mut d = format!(
                "{} {t} partition table with {} partition(s)",
                article(t),
                self.table.len()
            );
            if !self.table.is_empty() {
                let items: Vec<String> = self
                    .table
                    .iter()
                    .map(|p| {
                        let what = self
                            .parts
                            .get(&p.node)
                            .map(sig)
                            .unwrap_or_else(|| "not known to the kernel".into());
                        format!("{} \"{}\": {what}", p.node, p.label)
                    })
                    .collect();
                d.push_str(&format!(" ({})", items.join(", ")));
            }
            d
        } else if let Some(f) = &self.signature.fs {
            let mut d = format!("{} {f} file system", article(f));
            if let Some(l) = &self.signature.label {
                d.push_str(&format!(" (LABEL={l})"));
            }
            d
        } else {
            "nothing (no partition table or file system signature)".into()
        }
    }
}

/// "a" or "an" before a word (by its first letter, good enough for
/// file system and table names).
fn article(w: &str) -> &'static str {
    match w.chars().next() {
        Some(c) if "aeiouAEIOU".contains(c) => "an",
        _ => "a",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape(r"/mnt/with\040space"), "/mnt/with space");
        assert_eq!(unescape(r"/a\134b"), r"/a\b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape(r"/trailing\04"), r"/trailing\04");
    }

    #[test]
    fn descriptions_name_what_is_there() {
        let mut d = DiskState {
            exists: true,
            ..DiskState::default()
        };
        assert!(d.describe().starts_with("nothing"));
        d.signature.fs = Some("ext4".into());
        d.signature.label = Some("data".into());
        assert_eq!(d.describe(), "an ext4 file system (LABEL=data)");
        d.signature = Signature {
            table: Some("gpt".into()),
            ..Signature::default()
        };
        d.table = vec![TablePartition {
            node: "/dev/sdz1".into(),
            label: "root".into(),
        }];
        d.parts.insert(
            "/dev/sdz1".into(),
            Signature {
                fs: Some("xfs".into()),
                ..Signature::default()
            },
        );
        assert_eq!(
            d.describe(),
            "a gpt partition table with 1 partition(s) (/dev/sdz1 \"root\": xfs)"
        );
    }
}
