//! The normalised layout `nix/modules/tasks/disko.nix` exports as
//! `config.system.build.diskoLayout` (JSON). Every node already carries
//! its stable device path (by-partlabel, /dev/mapper) and defaults.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Layout {
    pub disks: Vec<Disk>,
    /// File systems without a device (tmpfs …).
    #[serde(default)]
    pub nodev: Vec<Nodev>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Nodev {
    pub fs_type: String,
    pub device: String,
    pub mountpoint: String,
    pub mount_options: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Disk {
    pub name: String,
    pub device: String,
    pub destroy: bool,
    #[serde(default)]
    pub image_name: Option<String>,
    #[serde(default)]
    pub image_size: Option<String>,
    pub content: Option<Content>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Content {
    Gpt(Gpt),
    Filesystem(Filesystem),
    Btrfs(Btrfs),
    Swap(Swap),
    Luks(Luks),
}

#[derive(Clone, Debug, Deserialize)]
pub struct Gpt {
    #[serde(rename = "where")]
    pub at: String,
    pub partitions: Vec<Partition>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Partition {
    /// 1-based number in creation (priority) order.
    pub index: u32,
    pub name: String,
    pub start: String,
    pub end: String,
    pub typecode: String,
    pub label: String,
    pub uuid: Option<String>,
    /// The stable path a booted system uses (`/dev/disk/by-partlabel/…`).
    pub device: String,
    pub content: Option<Box<Content>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filesystem {
    #[serde(rename = "where")]
    pub at: String,
    pub format: String,
    pub mountpoint: Option<String>,
    pub mount_options: Vec<String>,
    pub extra_args: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Btrfs {
    #[serde(rename = "where")]
    pub at: String,
    pub mountpoint: Option<String>,
    pub mount_options: Vec<String>,
    pub extra_args: Vec<String>,
    pub subvolumes: Vec<Subvolume>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subvolume {
    pub name: String,
    pub mountpoint: Option<String>,
    pub mount_options: Vec<String>,
    pub extra_args: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Swap {
    #[serde(rename = "where")]
    pub at: String,
    pub priority: Option<i64>,
    pub discard_policy: Option<String>,
    pub random_encryption: bool,
    pub extra_args: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Luks {
    #[serde(rename = "where")]
    pub at: String,
    pub name: String,
    pub password_file: Option<String>,
    pub key_file: Option<String>,
    pub additional_key_files: Vec<String>,
    pub extra_format_args: Vec<String>,
    pub extra_open_args: Vec<String>,
    #[serde(default)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    pub content: Option<Box<Content>>,
}

impl Layout {
    pub fn from_json(v: serde_json::Value) -> Result<Layout, crate::Error> {
        serde_json::from_value(v).map_err(|e| crate::Error::Layout(e.to_string()))
    }
}

/// The kernel's node for partition `n` of `disk`: `/dev/sda` → `/dev/sda1`,
/// `/dev/nvme0n1`, `/dev/loop3` → `…p1` (names ending in a digit get `p`).
pub fn partition_node(disk: &str, n: u32) -> String {
    if disk.starts_with("/dev/disk/by-") {
        // udev's links for partitions of a by-id/by-path link
        return format!("{disk}-part{n}");
    }
    if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p{n}")
    } else {
        format!("{disk}{n}")
    }
}
