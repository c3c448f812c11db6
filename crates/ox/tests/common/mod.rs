//! What the root-only disk tests (`disko.rs`, `install_remote.rs`)
//! share: shell helpers, loop devices that clean up after themselves,
//! and a scratch work dir whose mounts are undone on drop. Each test
//! binary uses a part of it, hence `dead_code` is allowed here.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ox_testhost::testsupport::{expect_ok, ox_command, repo, text, Scratch};

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| text(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

pub fn on_path(b: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(b).exists()))
        .unwrap_or(false)
}

/// True (with a SKIP line) when one of `tools` is not on PATH.
pub fn lacks_a_tool(tools: &[&str]) -> bool {
    match tools.iter().find(|b| !on_path(b)) {
        Some(b) => {
            eprintln!("SKIP: {b} is missing (scripts/deps installs it)");
            true
        }
        None => false,
    }
}

pub fn sh(cmd: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .output()
        .expect("sh")
}

pub fn sh_ok(cmd: &str) -> String {
    let o = sh(cmd);
    assert!(
        o.status.success(),
        "`{cmd}` failed: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// Mount targets in this mount namespace whose source and target
/// satisfy `f`, deepest first.
pub fn mounts_where(f: impl Fn(&str, &str) -> bool) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<String> = info
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let target = left.split(' ').nth(4)?.to_string();
            let source = right.split(' ').nth(1)?.to_string();
            f(&source, &target).then_some(target)
        })
        .collect();
    v.sort_by_key(|t| std::cmp::Reverse(t.len()));
    v
}

/// Mount targets at or below `dir`, deepest first.
pub fn mounts_below(dir: &str) -> Vec<String> {
    mounts_where(|_, t| t == dir || t.starts_with(&format!("{dir}/")))
}

/// Unmounts each target, lazily where a plain unmount fails.
fn unmount_all(targets: Vec<String>) {
    for t in targets {
        if !sh(&format!("umount '{t}'")).status.success() {
            let _ = sh(&format!("umount -l '{t}'"));
        }
    }
}

pub fn blkid(dev: &str, tag: &str) -> String {
    text(&sh(&format!("blkid -p -o value -s {tag} {dev}")).stdout)
        .trim()
        .to_string()
}

/// An image file on a loop device of its own. On drop: whatever is
/// mounted or swapped on from it is undone, the device detached, and the
/// image's scratch dir (if the disk made one) removed.
pub struct LoopDisk {
    pub img: PathBuf,
    pub dev: String,
    // dropped after the device is detached (Drop::drop runs first)
    _dir: Option<Scratch>,
}

impl LoopDisk {
    /// A sparse image of `size_mb` in a scratch dir of its own.
    pub fn new(tag: &str, size_mb: u64) -> LoopDisk {
        let dir = Scratch::new(&format!("disk-{tag}"));
        let mut d = LoopDisk::create(&dir.join("disk.img"), size_mb);
        d._dir = Some(dir);
        d
    }

    /// A sparse image of `size_mb` at `img`.
    pub fn create(img: &Path, size_mb: u64) -> LoopDisk {
        let f = std::fs::File::create(img).unwrap();
        f.set_len(size_mb << 20).unwrap();
        LoopDisk::attach(img)
    }

    /// An existing image, attached as it is.
    pub fn attach(img: &Path) -> LoopDisk {
        let dev = sh_ok(&format!("losetup -f --show {}", img.display()))
            .trim()
            .to_string();
        LoopDisk {
            img: img.to_path_buf(),
            dev,
            _dir: None,
        }
    }

    pub fn part(&self, n: u32) -> String {
        format!("{}p{n}", self.dev)
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let dev = self.dev.clone();
        let ours = |src: &str| src == dev || src.starts_with(&format!("{dev}p"));
        unmount_all(mounts_where(|src, _| ours(src)));
        let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
        for l in swaps.lines().skip(1) {
            if let Some(d) = l.split_whitespace().next() {
                if ours(d) {
                    let _ = sh(&format!("swapoff {d}"));
                }
            }
        }
        let _ = sh(&format!("partx -d {dev}"));
        let _ = sh(&format!("losetup -d {dev}"));
    }
}

/// A scratch directory (root mountpoint `root/`, a fleet `fleet/`, a
/// store `store/`) that, as root, is bind-mounted on itself and made
/// rshared: `/` is a private mount here (no systemd), so a mount
/// namespace another process creates meanwhile (`ip netns exec`, nspawn,
/// other tests) keeps copies of our mounts after we unmount them and the
/// disk stays busy ("apparently in use" from mkfs); below a shared
/// mount, our unmounts reach those copies (docs/disko.md "Mount
/// propagation"). Everything mounted below it is unmounted on drop.
pub struct Work {
    pub dir: Scratch,
}

impl Work {
    /// Under the system's temp dir.
    pub fn new(tag: &str) -> Work {
        Work::under(&std::env::temp_dir(), tag)
    }

    pub fn under(base: &Path, tag: &str) -> Work {
        let dir = Scratch::under(base, tag);
        if is_root() {
            let d = dir.display();
            sh_ok(&format!("mount --bind {d} {d} && mount --make-rshared {d}"));
        }
        std::fs::create_dir_all(dir.join("root")).unwrap();
        Work { dir }
    }

    pub fn root(&self) -> String {
        self.dir.join("root").to_string_lossy().into_owned()
    }

    /// A flake with one host `t` whose module is `host`.
    pub fn fleet(&self, host: &str) -> PathBuf {
        let f = self.dir.join("fleet");
        std::fs::create_dir_all(f.join("hosts/t")).unwrap();
        std::fs::write(
            f.join("flake.nix"),
            "{\n  outputs = { self, ox }: {\n    oxConfigurations.t = ox.lib.oxSystem { system = \"x86_64-linux\"; modules = [ ./hosts/t ]; };\n  };\n}\n",
        )
        .unwrap();
        std::fs::write(f.join("hosts/t/default.nix"), host).unwrap();
        f
    }

    /// `ox ARGS` in the fleet, with the work dir's store.
    pub fn ox(&self, args: &[&str]) -> Output {
        ox_command(Path::new(env!("CARGO_BIN_EXE_ox")))
            .args(args)
            .current_dir(self.dir.join("fleet"))
            .env("OX_NIX_DIR", repo().join("nix"))
            .env("OX_STORE_ROOT", self.dir.join("store"))
            .stdin(Stdio::null())
            .output()
            .expect("run ox")
    }

    /// `ox ARGS`, which must succeed: its stdout and stderr.
    pub fn ox_ok(&self, args: &[&str]) -> String {
        expect_ok(&format!("ox {args:?}"), &self.ox(args))
    }

    /// `ox ARGS` on a terminal (`script` gives it a pty) that types
    /// `input`: whether it succeeded, and what it printed.
    pub fn ox_tty(&self, args: &[&str], input: &str) -> (bool, String) {
        use std::io::Write;
        let cmd = std::iter::once(env!("CARGO_BIN_EXE_ox"))
            .chain(args.iter().copied())
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut c = ox_command(Path::new("script"))
            .args(["-q", "-e", "-c", &cmd, "/dev/null"])
            .current_dir(self.dir.join("fleet"))
            .env("OX_NIX_DIR", repo().join("nix"))
            .env("OX_STORE_ROOT", self.dir.join("store"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run script");
        // the question comes after evaluation (and, remotely, the build
        // and the connection); typed-ahead input waits in the pty
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        (
            o.status.success(),
            format!("{}{}", text(&o.stdout), text(&o.stderr)),
        )
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        unmount_all(mounts_below(&self.dir.to_string_lossy()));
    }
}

/// `path` resolved as if `root` were `/` (absolute symlinks stay inside).
pub fn in_root(root: &str, path: &str) -> PathBuf {
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .rev()
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            cur.pop();
            continue;
        }
        cur.push(c);
        let real = PathBuf::from(format!("{root}/{}", cur.join("/")));
        if let Ok(t) = std::fs::read_link(&real) {
            hops += 1;
            assert!(hops < 40, "symlink loop at {}", real.display());
            cur.pop();
            let t = t.to_string_lossy().into_owned();
            if t.starts_with('/') {
                cur.clear();
            }
            todo.extend(
                t.split('/')
                    .filter(|c| !c.is_empty() && *c != ".")
                    .map(str::to_string)
                    .rev(),
            );
        }
    }
    PathBuf::from(format!("{root}/{}", cur.join("/")))
}

/// What `ox install` (local or over ssh) leaves in `root` for a host
/// named `hostname` with a user alice and `/etc/ox-installed` holding
/// `installed` and a newline (`installable_host`): `top` in the new root's store as generation 1, `/etc`
/// through the flip link, a root partition named by label in fstab, and
/// the activation left to the first boot (nothing claims to be running).
pub fn assert_installed_as_generation_1(root: &str, top: &str, hostname: &str, installed: &str) {
    assert!(
        Path::new(&format!("{root}{top}/activation.json")).exists(),
        "the toplevel is not in the new root's store"
    );
    assert_eq!(
        std::fs::read_link(format!("{root}/ox/var/profiles/system-1-link")).unwrap(),
        PathBuf::from(top)
    );
    assert_eq!(
        std::fs::read_link(format!("{root}/ox/var/profiles/system")).unwrap(),
        PathBuf::from("system-1-link")
    );
    assert_eq!(
        std::fs::read_link(format!("{root}/etc/ox-static")).unwrap(),
        PathBuf::from(format!("{top}/etc"))
    );
    assert_eq!(
        std::fs::read_to_string(in_root(root, "/etc/hostname"))
            .unwrap()
            .trim(),
        hostname
    );
    let passwd = std::fs::read_to_string(format!("{root}/etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("alice:")), "{passwd}");
    assert_eq!(
        std::fs::read_to_string(in_root(root, "/etc/ox-installed")).unwrap(),
        format!("{installed}\n")
    );
    let fstab = std::fs::read_to_string(in_root(root, "/etc/fstab")).unwrap();
    assert!(
        fstab.contains("/dev/disk/by-partlabel/disk-main-root"),
        "{fstab}"
    );
    let unit =
        std::fs::read_to_string(format!("{root}/etc/systemd/system/ox-boot.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/ox activate --boot-time"),
        "{unit}"
    );
    assert!(Path::new(&format!("{root}/usr/local/bin/ox")).exists());
    assert!(!Path::new(&format!("{root}/run/ox/current-system")).exists());
}

/// The host `assert_installed_as_generation_1` checks: named `hostname`,
/// a user alice, `/etc/ox-installed` holding `installed` and a newline,
/// and on the disk `dev` an ext4 `/boot` and an ext4 root (`root_attrs`:
/// more attributes of the root file system); `extra`: more of the
/// host's module.
pub fn installable_host(
    hostname: &str,
    installed: &str,
    dev: &str,
    root_attrs: &str,
    extra: &str,
) -> String {
    format!(
        r#"{{ ... }}: {{
  {extra}
  networking.hostName = "{hostname}";
  environment.etc."ox-installed".text = "{installed}\n";
  users.users.alice = {{ isNormalUser = true; }};
  disko.devices.disk.main = {{
    device = "{dev}";
    content = {{
      type = "gpt";
      partitions = {{
        boot = {{ size = "64M"; content = {{ type = "filesystem"; format = "ext4"; mountpoint = "/boot"; }}; }};
        root = {{ size = "100%"; content = {{ type = "filesystem"; format = "ext4"; mountpoint = "/";{root_attrs} }}; }};
      }};
    }};
  }};
}}
"#
    )
}

/// The Debian base rootfs `ox install --base` takes; None (with a SKIP
/// line) where this machine has none.
pub fn base_rootfs() -> Option<PathBuf> {
    if let Some(why) = ox_testhost::unavailable() {
        eprintln!("SKIP: no Debian base rootfs: {why}");
        return None;
    }
    Some(ox_testhost::base_rootfs().expect("base rootfs"))
}

/// The base as its cached tarball where there is one, else the rootfs.
pub fn base_tarball() -> Option<PathBuf> {
    let dir = base_rootfs()?;
    let tar = dir.with_extension("tar.zst");
    Some(if tar.exists() { tar } else { dir })
}
