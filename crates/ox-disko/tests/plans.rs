//! Data-driven planning tests: each `tests/plans/<case>.json` names a
//! layout (`layouts/*.json`, made by `nix/modules/tasks/disko.nix`), a
//! mode, a root and a made-up machine; `<case>.out` is the rendered
//! plan (or `error: …`). `OX_BLESS=1` rewrites the `.out` files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ox_disko::plan::Env;
use ox_disko::probe::DiskState;

#[derive(serde::Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct FakeEnv {
    disks: BTreeMap<String, DiskState>,
    kernel_partitions: BTreeMap<String, Vec<String>>,
    mounts: Vec<(String, String)>,
    swaps: BTreeSet<String>,
    mappers: BTreeSet<String>,
    cannot_mount: BTreeSet<String>,
}

impl Env for FakeEnv {
    fn exists(&self, dev: &str) -> bool {
        self.disks.get(dev).is_some_and(|d| d.exists)
    }
    fn disk(&self, dev: &str) -> DiskState {
        self.disks.get(dev).cloned().unwrap_or_default()
    }
    fn canonical(&self, dev: &str) -> String {
        dev.to_string()
    }
    fn kernel_partitions(&self, dev: &str) -> Vec<String> {
        self.kernel_partitions.get(dev).cloned().unwrap_or_default()
    }
    fn mounts(&self) -> Vec<(String, String)> {
        self.mounts.clone()
    }
    fn swap_active(&self, dev: &str) -> bool {
        self.swaps.contains(dev)
    }
    fn mapper_exists(&self, name: &str) -> bool {
        self.mappers.contains(name)
    }
    fn can_mount(&self, fs_type: &str) -> bool {
        !self.cannot_mount.contains(fs_type)
    }
}

#[derive(serde::Deserialize)]
struct Case {
    layout: String,
    mode: String,
    #[serde(default = "default_root")]
    root: String,
    #[serde(default)]
    env: FakeEnv,
    /// Also check `run::check_allowed` with `--yes-wipe-all-disks` = this.
    #[serde(default)]
    yes: Option<bool>,
}

fn default_root() -> String {
    "/mnt".into()
}

fn render(case: &Case, dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("layouts").join(&case.layout)).unwrap();
    let layout = ox_disko::Layout::from_json(serde_json::from_str(&text).unwrap()).unwrap();
    let mode: ox_disko::Mode = match case.mode.parse() {
        Ok(m) => m,
        Err(e) => return format!("error: {e}\n"),
    };
    match ox_disko::plan(&layout, mode, &case.root, &case.env) {
        Ok(p) => {
            let mut out = p.render();
            if let Some(yes) = case.yes {
                match ox_disko::run::check_allowed(&p, yes, None) {
                    Ok(()) => out.push_str("# allowed to run\n"),
                    Err(e) => out.push_str(&format!("# not allowed: {e}\n")),
                }
            }
            out
        }
        Err(e) => format!("error: {e}\n"),
    }
}

#[test]
fn plans() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plans");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    assert!(names.len() >= 8, "cases missing in {}", dir.display());
    let bless = std::env::var_os("OX_BLESS").is_some();
    let mut failed = Vec::new();
    for p in names {
        let case: Case = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let got = render(&case, &dir);
        let out = p.with_extension("out");
        if bless {
            std::fs::write(&out, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&out).unwrap_or_default();
        if got != want {
            failed.push(format!(
                "{}:\n--- want\n{want}--- got\n{got}",
                p.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn modes() {
    use ox_disko::Mode;
    let m = |s: &str| s.parse::<Mode>().map(|m| m.to_string());
    assert_eq!(m("destroy,format,mount").unwrap(), "destroy,format,mount");
    assert_eq!(m("disko").unwrap(), "destroy,format,mount");
    assert_eq!(m("zap_create_mount").unwrap(), "destroy,format,mount");
    assert_eq!(m("create").unwrap(), "format");
    assert_eq!(m("format,mount").unwrap(), "format,mount");
    assert_eq!(m("unmount").unwrap(), "unmount");
    assert!(m("mount,format").is_err(), "out of order");
    assert!(m("format,format").is_err());
    assert!(m("wipe")
        .unwrap_err()
        .to_string()
        .contains("unknown mode `wipe`"));
}

#[test]
fn partition_nodes() {
    use ox_disko::layout::partition_node;
    assert_eq!(partition_node("/dev/sda", 2), "/dev/sda2");
    assert_eq!(partition_node("/dev/nvme0n1", 1), "/dev/nvme0n1p1");
    assert_eq!(partition_node("/dev/loop7", 3), "/dev/loop7p3");
    assert_eq!(
        partition_node("/dev/disk/by-id/ata-X", 1),
        "/dev/disk/by-id/ata-X-part1"
    );
}
