//! `ox disko` and `ox install` on real loop devices (root only; each
//! test makes and detaches its own devices, Drop guards clean up even on
//! failure). This machine has no udev (partition nodes come from
//! `partx`), no device-mapper (LUKS can be formatted, not opened) and no
//! vfat in the kernel (formatted, not mounted): the tests check those
//! limits are reported, and the full path where the kernel allows it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// None (and a SKIP line) when the machine cannot run these tests.
fn skip() -> bool {
    if !is_root() {
        eprintln!("SKIP: loop devices need root");
        return true;
    }
    for b in [
        "losetup",
        "sgdisk",
        "partx",
        "mkfs.ext4",
        "mkfs.vfat",
        "mkfs.btrfs",
        "mkswap",
        "cryptsetup",
        "blkid",
        "wipefs",
    ] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(b).exists()))
            .unwrap_or(false);
        if !found {
            eprintln!("SKIP: {b} is missing (scripts/deps installs it)");
            return true;
        }
    }
    false
}

fn sh(cmd: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .output()
        .expect("sh")
}

fn sh_ok(cmd: &str) -> String {
    let o = sh(cmd);
    assert!(
        o.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Mount targets in this mount namespace whose source satisfies `f`.
fn mounts_where(f: impl Fn(&str, &str) -> bool) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<String> = text
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

/// A sparse image file on a loop device of its own.
struct Loop {
    dir: PathBuf,
    dev: String,
}

impl Loop {
    fn new(tag: &str, size_mb: u64) -> Loop {
        let dir = std::env::temp_dir().join(format!("ox-disko-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let img = dir.join("disk.img");
        let f = std::fs::File::create(&img).unwrap();
        f.set_len(size_mb << 20).unwrap();
        let dev = sh_ok(&format!("losetup -f --show {}", img.display()))
            .trim()
            .to_string();
        Loop { dir, dev }
    }
    fn part(&self, n: u32) -> String {
        format!("{}p{n}", self.dev)
    }
    fn img(&self) -> PathBuf {
        self.dir.join("disk.img")
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let dev = self.dev.clone();
        let ours = |src: &str| src == dev || src.starts_with(&format!("{dev}p"));
        for t in mounts_where(|src, _| ours(src)) {
            if !sh(&format!("umount '{t}'")).status.success() {
                let _ = sh(&format!("umount -l '{t}'"));
            }
        }
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
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A scratch directory: the root mountpoint, a fleet, a store. On drop,
/// everything mounted below it is unmounted first.
struct Work {
    dir: PathBuf,
}

impl Work {
    fn new(tag: &str) -> Work {
        let dir = std::env::temp_dir().join(format!("ox-diskow-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root")).unwrap();
        if is_root() {
            // `/` is a private mount here (no systemd), so a mount
            // namespace another process creates meanwhile (`ip netns
            // exec`, nspawn, other engineers' tests) keeps copies of our
            // mounts after we unmount them, and the disk stays busy
            // ("apparently in use" from mkfs). Below a shared mount,
            // our unmounts reach those copies.
            let d = dir.display();
            sh_ok(&format!("mount --bind {d} {d} && mount --make-rshared {d}"));
        }
        Work { dir }
    }
    fn root(&self) -> String {
        self.dir.join("root").to_string_lossy().into_owned()
    }
    fn fleet(&self, host: &str) -> PathBuf {
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
    fn ox(&self, args: &[&str]) -> Output {
        let nix = repo().join("nix");
        Command::new(env!("CARGO_BIN_EXE_ox"))
            .args(args)
            .current_dir(self.dir.join("fleet"))
            .env("OX_NIX_DIR", &nix)
            .env("OX_STORE_ROOT", self.dir.join("store"))
            .env("NO_COLOR", "1")
            .env_remove("OX_STORE_DIR")
            .stdin(Stdio::null())
            .output()
            .expect("run ox")
    }
    fn ox_ok(&self, args: &[&str]) -> String {
        let o = self.ox(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "ox {args:?} failed:\n{text}");
        text
    }
    fn disko(&self, mode: &str, extra: &[&str]) -> Output {
        let root = self.root();
        let mut a = vec![
            "disko",
            "--flake",
            ".#t",
            "--mode",
            mode,
            "--root-mountpoint",
            &root,
        ];
        a.extend_from_slice(extra);
        self.ox(&a)
    }
    fn disko_ok(&self, mode: &str, extra: &[&str]) -> String {
        let o = self.disko(mode, extra);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "ox disko --mode {mode} failed:\n{text}");
        text
    }
    /// `ox ARGS` on a terminal (`script` gives it a pty) that types `input`.
    fn ox_tty(&self, args: &[&str], input: &str) -> (bool, String) {
        use std::io::Write;
        let nix = repo().join("nix");
        let cmd = std::iter::once(env!("CARGO_BIN_EXE_ox"))
            .chain(args.iter().copied())
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut c = Command::new("script")
            .args(["-q", "-e", "-c", &cmd, "/dev/null"])
            .current_dir(self.dir.join("fleet"))
            .env("OX_NIX_DIR", &nix)
            .env("OX_STORE_ROOT", self.dir.join("store"))
            .env("NO_COLOR", "1")
            .env_remove("OX_STORE_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run script");
        // the question comes after evaluation; typed-ahead input waits in the pty
        c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    }
    /// A host option as JSON.
    fn eval_json(&self, path: &str) -> serde_json::Value {
        let out = self.ox_ok(&[
            "eval",
            "--json",
            "--strict",
            "--flake",
            &format!(".#oxConfigurations.t.config.{path}"),
        ]);
        let line = out
            .lines()
            .find(|l| l.starts_with(['{', '[', '"']))
            .unwrap();
        serde_json::from_str(line).unwrap()
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        let d = self.dir.to_string_lossy().into_owned();
        for t in mounts_where(|_, t| t.starts_with(&d)) {
            if !sh(&format!("umount '{t}'")).status.success() {
                let _ = sh(&format!("umount -l '{t}'"));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Make the kernel forget a disk's partitions, as after a reboot. Just
/// after an unmount the partition can be busy for a moment (another
/// test's process briefly holding a copy of the mount table), so retry;
/// on failure, name who holds it.
fn forget_partitions(dev: &str) {
    let mut last = String::new();
    for _ in 0..20 {
        let o = sh(&format!("partx -d {dev}"));
        if o.status.success() {
            return;
        }
        last = String::from_utf8_lossy(&o.stderr).into_owned();
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let who = sh(&format!(
        "set -x; grep -l '{dev}' /proc/[0-9]*/mountinfo; ls -l /proc/[0-9]*/fd 2>/dev/null | grep '{dev}'; \
         ls /sys/class/block/ | grep '{d}'; ls /sys/class/block/{d}p*/holders; cat /proc/swaps; \
         blkid -p {dev}p1 {dev}p2",
        d = dev.trim_start_matches("/dev/")
    ));
    panic!(
        "partx -d {dev} kept failing: {last}\n{}{}",
        String::from_utf8_lossy(&who.stdout),
        String::from_utf8_lossy(&who.stderr)
    );
}

fn blkid(dev: &str, tag: &str) -> String {
    sh(&format!("blkid -p -o value -s {tag} {dev}"))
        .stdout
        .iter()
        .map(|&b| b as char)
        .collect::<String>()
        .trim()
        .to_string()
}

/// (label, type GUID) of each partition, in table order.
fn gpt_parts(dev: &str) -> Vec<(String, String)> {
    let v: serde_json::Value =
        serde_json::from_str(&sh_ok(&format!("sfdisk --json {dev}"))).unwrap();
    v["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// `path` resolved as if `root` were `/` (absolute symlinks stay inside).
fn in_root(root: &str, path: &str) -> PathBuf {
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

fn kernel_has(fs: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().last() == Some(fs))
}

/// `findmnt` fields of what is mounted at `target` (exactly there).
fn findmnt(target: &str) -> Option<(String, String, String)> {
    let o = sh(&format!(
        "findmnt -n -r -o SOURCE,FSTYPE,OPTIONS --mountpoint '{target}'"
    ));
    let s = String::from_utf8_lossy(&o.stdout).into_owned();
    let line = s.lines().next()?;
    let mut it = line.split(' ');
    Some((
        it.next()?.to_string(),
        it.next()?.to_string(),
        it.next()?.to_string(),
    ))
}

#[test]
fn gpt_with_esp_ext4_root_and_swap() {
    if skip() {
        return;
    }
    let disk = Loop::new("esp", 200);
    let w = Work::new("esp");
    w.fleet(&format!(
        r#"{{ ... }}: {{
  disko.devices.disk.main = {{
    device = "{dev}";
    content = {{
      type = "gpt";
      partitions = {{
        ESP = {{ size = "64M"; type = "EF00"; content = {{ type = "filesystem"; format = "vfat"; mountpoint = "/boot"; mountOptions = [ "umask=0077" ]; }}; }};
        swap = {{ size = "32M"; content = {{ type = "swap"; }}; }};
        root = {{ size = "100%"; content = {{ type = "filesystem"; format = "ext4"; extraArgs = [ "-L" "rootfs" ]; mountpoint = "/"; mountOptions = [ "noatime" ]; }}; }};
      }};
    }};
  }};
}}
"#,
        dev = disk.dev
    ));
    // dry run: exactly the commands, in order, and nothing happens
    let dry = w.disko_ok("destroy,format,mount", &["--dry-run"]);
    let sg = dry.find("sgdisk --clear").expect(&dry);
    let p1 = dry
        .find(&format!(
            "--new=1:0:+64M --change-name=1:disk-main-ESP --typecode=1:EF00 {}",
            disk.dev
        ))
        .expect(&dry);
    let mk = dry
        .find(&format!("mkfs.vfat {}", disk.part(1)))
        .expect(&dry);
    assert!(sg < p1 && p1 < mk, "{dry}");
    assert!(
        dry.contains(&format!("mkfs.ext4 -L rootfs {}", disk.part(3))),
        "{dry}"
    );
    assert!(dry.contains(&format!("mkswap {}", disk.part(2))), "{dry}");
    assert_eq!(blkid(&disk.dev, "PTTYPE"), "", "dry-run changed the disk");

    let out = w.disko_ok("destroy,format", &["--yes-wipe-all-disks"]);
    assert!(out.contains("+ sgdisk --clear"), "{out}");
    assert_eq!(
        gpt_parts(&disk.dev),
        vec![
            (
                "disk-main-ESP".into(),
                "C12A7328-F81F-11D2-BA4B-00A0C93EC93B".into()
            ),
            (
                "disk-main-swap".into(),
                "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F".into()
            ),
            (
                "disk-main-root".into(),
                "0FC63DAF-8483-4772-8E79-3D69D8477DE4".into()
            ),
        ]
    );
    assert_eq!(blkid(&disk.dev, "PTTYPE"), "gpt");
    assert_eq!(blkid(&disk.part(1), "TYPE"), "vfat");
    assert_eq!(blkid(&disk.part(2), "TYPE"), "swap");
    assert_eq!(blkid(&disk.part(3), "TYPE"), "ext4");
    assert_eq!(blkid(&disk.part(3), "LABEL"), "rootfs");

    // the config derived from the layout
    let fs = w.eval_json("fileSystems");
    assert_eq!(fs["/"]["device"], "/dev/disk/by-partlabel/disk-main-root");
    assert_eq!(fs["/"]["fsType"], "ext4");
    assert_eq!(fs["/"]["options"], serde_json::json!(["noatime"]));
    assert_eq!(
        fs["/boot"]["device"],
        "/dev/disk/by-partlabel/disk-main-ESP"
    );
    assert_eq!(fs["/boot"]["fsType"], "vfat");
    assert_eq!(fs["/boot"]["options"], serde_json::json!(["umask=0077"]));
    let sw = w.eval_json("swapDevices");
    assert_eq!(sw[0]["device"], "/dev/disk/by-partlabel/disk-main-swap");

    // a second format finds everything in place: no mkfs, no sgdisk
    let again = w.disko_ok("format", &[]);
    assert!(
        !again.contains("mkfs") && !again.contains("sgdisk"),
        "{again}"
    );

    let root = w.root();
    if kernel_has("vfat") {
        w.disko_ok("mount", &[]);
        let (src, t, opts) = findmnt(&root).unwrap();
        assert_eq!((src.as_str(), t.as_str()), (disk.part(3).as_str(), "ext4"));
        assert!(opts.contains("noatime"), "{opts}");
        let (src, t, opts) = findmnt(&format!("{root}/boot")).unwrap();
        assert_eq!((src.as_str(), t.as_str()), (disk.part(1).as_str(), "vfat"));
        assert!(opts.contains("fmask=0077"), "{opts}");
        let swaps = std::fs::read_to_string("/proc/swaps").unwrap();
        assert!(swaps.contains(&disk.part(2)), "{swaps}");
        w.disko_ok("unmount", &[]);
        assert!(findmnt(&root).is_none());
    } else {
        // this kernel cannot mount vfat: refused before mounting anything
        let o = w.disko("mount", &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(err.contains("/boot") && err.contains("vfat"), "{err}");
        assert!(
            findmnt(&root).is_none(),
            "/ was mounted although /boot cannot be"
        );
        let swaps = std::fs::read_to_string("/proc/swaps").unwrap();
        assert!(!swaps.contains(&disk.part(2)), "{swaps}");
    }
}

#[test]
fn btrfs_subvolumes_mount_parents_first_and_rerun_is_idempotent() {
    if skip() {
        return;
    }
    let disk = Loop::new("btrfs", 400);
    let w = Work::new("btrfs");
    w.fleet(&format!(
        r#"{{ ... }}: {{
  disko.devices.disk.main = {{
    device = "{dev}";
    content = {{
      type = "gpt";
      partitions = {{
        boot = {{ size = "48M"; content = {{ type = "filesystem"; format = "ext4"; mountpoint = "/boot"; }}; }};
        root = {{ size = "100%"; content = {{
          type = "btrfs";
          # no -f: a stale btrfs signature would make mkfs.btrfs refuse
          subvolumes = {{
            # btrfs applies compress= to the whole file system at its first mount
            "/root" = {{ mountpoint = "/"; mountOptions = [ "compress=zstd" ]; }};
            "/home" = {{ mountpoint = "/home"; mountOptions = [ "compress=zstd" ]; }};
            "/nix" = {{ mountpoint = "/nix"; mountOptions = [ "compress=zstd" "noatime" ]; }};
            "/home/alice" = {{ }};
          }};
        }}; }};
      }};
    }};
  }};
  disko.devices.nodev."/tmp" = {{ fsType = "tmpfs"; mountOptions = [ "size=16M" "mode=755" ]; }};
}}
"#,
        dev = disk.dev
    ));
    let root = w.root();
    let out = w.disko_ok("destroy,format,mount", &["--yes-wipe-all-disks"]);
    // parents before children: / first, then /boot /home /nix
    let pos = |mp: &str| {
        out.lines()
            .position(|l| {
                l.starts_with("+") && l.contains("mount -t") && l.ends_with(&format!(" {mp}"))
            })
            .unwrap_or_else(|| panic!("no mount of {mp} in:\n{out}"))
    };
    let r = pos(&root);
    for c in ["boot", "home", "nix"] {
        assert!(r < pos(&format!("{root}/{c}")), "{out}");
    }
    assert_eq!(blkid(&disk.part(2), "TYPE"), "btrfs");
    let (src, t, opts) = findmnt(&root).unwrap();
    assert_eq!(t, "btrfs");
    assert!(
        src.starts_with(&disk.part(2)) && src.ends_with("[/root]"),
        "{src}"
    );
    assert!(opts.contains("subvol=/root"), "{opts}");
    let (src, _, opts) = findmnt(&format!("{root}/home")).unwrap();
    assert!(src.ends_with("[/home]"), "{src}");
    assert!(
        opts.contains("compress=zstd") && opts.contains("subvol=/home"),
        "{opts}"
    );
    let (_, _, opts) = findmnt(&format!("{root}/nix")).unwrap();
    assert!(
        opts.contains("noatime") && opts.contains("compress=zstd"),
        "{opts}"
    );
    let (src, t, _) = findmnt(&format!("{root}/boot")).unwrap();
    assert_eq!((src.as_str(), t.as_str()), (disk.part(1).as_str(), "ext4"));
    let subs = sh_ok(&format!("btrfs subvolume list {root}"));
    for s in ["path root", "path home", "path nix", "path home/alice"] {
        assert!(subs.lines().any(|l| l.ends_with(s)), "{s} missing:\n{subs}");
    }

    // fileSystems derived from the layout = what is mounted
    let fs = w.eval_json("fileSystems");
    let fs = fs.as_object().unwrap();
    assert_eq!(
        fs.keys().cloned().collect::<Vec<_>>(),
        vec!["/", "/boot", "/home", "/nix", "/tmp"]
    );
    let (src, t, opts) = findmnt(&format!("{root}/tmp")).unwrap();
    assert_eq!((src.as_str(), t.as_str()), ("none", "tmpfs"));
    assert!(
        opts.contains("size=16384k") && opts.contains("mode=755"),
        "{opts}"
    );
    assert_eq!(fs["/tmp"]["fsType"], "tmpfs");
    for (mp, e) in fs.iter().filter(|(mp, _)| *mp != "/tmp") {
        let target = if mp == "/" {
            root.clone()
        } else {
            format!("{root}{mp}")
        };
        let (src, t, opts) = findmnt(&target).unwrap();
        let label = e["device"]
            .as_str()
            .unwrap()
            .strip_prefix("/dev/disk/by-partlabel/")
            .unwrap()
            .to_string();
        let node = src.split('[').next().unwrap();
        assert_eq!(blkid(node, "PART_ENTRY_NAME"), label, "{mp}");
        assert_eq!(e["fsType"], t.as_str(), "{mp}");
        for o in e["options"].as_array().unwrap() {
            let o = o.as_str().unwrap();
            if o != "defaults" {
                // the kernel shows compress=zstd as compress=zstd:3
                assert!(
                    opts.split(',')
                        .any(|x| x == o || x.starts_with(&format!("{o}:"))),
                    "{mp}: {o} not in {opts}"
                );
            }
        }
    }

    // re-run: nothing formatted again, data kept
    std::fs::write(format!("{root}/home/keep"), "data").unwrap();
    let again = w.disko_ok("format,mount", &[]);
    assert!(
        !again.contains("mkfs") && !again.contains("subvolume create"),
        "{again}"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{root}/home/keep")).unwrap(),
        "data"
    );

    // destroy while mounted: unmounts, wipes, starts over
    let out = w.disko_ok("destroy,format,mount", &["--yes-wipe-all-disks"]);
    assert!(out.contains(&format!("umount {root}/home")), "{out}");
    assert!(out.contains("mkfs.btrfs"), "{out}");
    assert!(!Path::new(&format!("{root}/home/keep")).exists());
    assert!(findmnt(&format!("{root}/home")).is_some());

    w.disko_ok("unmount", &[]);
    for mp in ["", "/boot", "/home", "/nix", "/tmp"] {
        assert!(
            findmnt(&format!("{root}{mp}")).is_none(),
            "{mp} still mounted"
        );
    }
    // as after a reboot into an installer: the kernel does not know the
    // partitions yet; mount mode adds them and mounts the same tree
    forget_partitions(&disk.dev);
    assert!(!Path::new(&disk.part(2)).exists());
    let out = w.disko_ok("mount", &[]);
    assert!(!out.contains("mkfs") && !out.contains("sgdisk"), "{out}");
    assert!(findmnt(&format!("{root}/home")).is_some(), "{out}");
    w.disko_ok("unmount", &[]);
    // destroy when the kernel does not know the partitions: they are
    // added and wiped, so mkfs.btrfs (without -f) finds no old signature
    forget_partitions(&disk.dev);
    let out = w.disko_ok("destroy,format,mount", &["--yes-wipe-all-disks"]);
    assert!(
        out.contains(&format!("wipefs --all --force {}", disk.part(2))),
        "{out}"
    );
    assert!(findmnt(&format!("{root}/nix")).is_some(), "{out}");
    w.disko_ok("unmount", &[]);
}

#[test]
fn luks_header_is_written_and_the_open_is_planned() {
    if skip() {
        return;
    }
    let disk = Loop::new("luks", 120);
    let w = Work::new("luks");
    let pw = w.dir.join("pw");
    std::fs::write(&pw, "correct horse\n").unwrap();
    w.fleet(&format!(
        r#"{{ ... }}: {{
  disko.devices.disk.main = {{
    device = "{dev}";
    content = {{
      type = "gpt";
      partitions.crypt = {{ size = "100%"; content = {{
        type = "luks";
        name = "oxtest-{pid}";
        passwordFile = "{pw}";
        extraFormatArgs = [ "--pbkdf" "pbkdf2" "--pbkdf-force-iterations" "1000" ];
        settings.allowDiscards = true;
        content = {{ type = "filesystem"; format = "ext4"; mountpoint = "/"; }};
      }}; }};
    }};
  }};
}}
"#,
        dev = disk.dev,
        pid = std::process::id(),
        pw = pw.display()
    ));
    let name = format!("oxtest-{}", std::process::id());
    let node = disk.part(1);
    let dry = w.disko_ok("destroy,format,mount", &["--dry-run"]);
    let fmt = dry
        .find(&format!("cryptsetup -q luksFormat {node} --pbkdf pbkdf2"))
        .expect(&dry);
    let open_line = format!(
        "printf %s \"$(cat {})\" | cryptsetup open {node} {name} --allow-discards --key-file -",
        pw.display()
    );
    let open = dry.find(&open_line).expect(&dry);
    let mkfs = dry
        .find(&format!("mkfs.ext4 /dev/mapper/{name}"))
        .expect(&dry);
    let mount = dry
        .find(&format!(
            "mount -t ext4 -o defaults,X-mount.mkdir /dev/mapper/{name} {}",
            w.root()
        ))
        .expect(&dry);
    assert!(fmt < open && open < mkfs && mkfs < mount, "{dry}");

    let luks = w.eval_json("boot.initrd.luks.devices")[&name].clone();
    assert_eq!(luks["device"], "/dev/disk/by-partlabel/disk-main-crypt");
    assert_eq!(luks["allowDiscards"], true);
    let fs = w.eval_json("fileSystems");
    assert_eq!(fs["/"]["device"], format!("/dev/mapper/{name}"));

    let o = w.disko("destroy,format,mount", &["--yes-wipe-all-disks"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let dm = std::fs::read_to_string("/proc/misc")
        .unwrap_or_default()
        .contains("device-mapper");
    if dm {
        assert!(o.status.success(), "{err}");
        let _ = sh(&format!("umount {}; cryptsetup close {name}", w.root()));
    } else {
        assert!(!o.status.success());
        assert!(
            err.contains("no device-mapper") && err.contains(&name),
            "{err}"
        );
        assert!(!err.contains("+ cryptsetup open"), "tried to open:\n{err}");
    }
    // the header is there and takes the passphrase without its newline
    sh_ok(&format!("cryptsetup isLuks {node}"));
    let dump = sh_ok(&format!("cryptsetup luksDump {node}"));
    assert!(
        dump.contains("Version:") && dump.contains("pbkdf2"),
        "{dump}"
    );
    sh_ok(&format!(
        "printf %s 'correct horse' | cryptsetup open --test-passphrase --key-file - {node}"
    ));
    assert!(!sh(&format!(
        "printf '%s\\n' 'correct horse' | cryptsetup open --test-passphrase --key-file - {node}"
    ))
    .status
    .success());
}

#[test]
fn a_disk_with_a_filesystem_is_not_wiped_without_the_flag() {
    if skip() {
        return;
    }
    let disk = Loop::new("keep", 64);
    let w = Work::new("keep");
    sh_ok(&format!("mkfs.ext4 -q -L precious {}", disk.dev));
    let hash = || sh_ok(&format!("sha256sum {}", disk.img().display()));
    let before = hash();
    w.fleet(&format!(
        r#"{{ ... }}: {{
  disko.devices.disk.main = {{
    device = "{dev}";
    content = {{ type = "gpt"; partitions.root = {{ size = "100%"; content = {{ type = "filesystem"; format = "ext4"; mountpoint = "/"; }}; }}; }};
  }};
}}
"#,
        dev = disk.dev
    ));
    // destroy without --yes-wipe-all-disks, no terminal to ask on
    let o = w.disko("destroy,format,mount", &[]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains(&disk.dev) && err.contains("ext4") && err.contains("precious"),
        "{err}"
    );
    assert!(err.contains("--yes-wipe-all-disks"), "{err}");
    // format alone does not wipe either: the disk is not this layout's
    let o = w.disko("format,mount", &[]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("refusing to format")
            && err.contains(&disk.dev)
            && err.contains("ext4 file system"),
        "{err}"
    );
    assert_eq!(hash(), before, "the disk changed");
    assert_eq!(blkid(&disk.dev, "LABEL"), "precious");
    assert!(findmnt(&w.root()).is_none());
}

#[test]
fn install_puts_the_system_into_a_loop_backed_root() {
    if skip() {
        return;
    }
    if let Some(why) = ox_testhost::unavailable() {
        eprintln!("SKIP: no Debian base rootfs: {why}");
        return;
    }
    let base = ox_testhost::base_rootfs().expect("base rootfs");
    let disk = Loop::new("inst", 1024);
    let w = Work::new("inst");
    w.fleet(&format!(
        r#"{{ ... }}: {{
  networking.hostName = "newbox";
  environment.etc."ox-installed".text = "installed by ox\n";
  users.users.alice = {{ isNormalUser = true; }};
  disko.devices.disk.main = {{
    device = "{dev}";
    content = {{
      type = "gpt";
      partitions = {{
        boot = {{ size = "64M"; content = {{ type = "filesystem"; format = "ext4"; mountpoint = "/boot"; }}; }};
        root = {{ size = "100%"; content = {{ type = "filesystem"; format = "ext4"; mountpoint = "/"; }}; }};
      }};
    }};
  }};
}}
"#,
        dev = disk.dev
    ));
    let root = w.root();
    // an extra file (as a host key would be): mode kept, owned by root
    let extra = w.dir.join("extra");
    std::fs::create_dir_all(extra.join("etc/ssh")).unwrap();
    let key = extra.join("etc/ssh/ssh_host_ed25519_key");
    std::fs::write(&key, "not really a key\n").unwrap();
    sh_ok(&format!(
        "chmod 600 {} && chown 1234:1234 {}",
        key.display(),
        key.display()
    ));
    let out = w.ox_ok(&[
        "install",
        "--flake",
        ".#t",
        "--root",
        &root,
        "--yes-wipe-all-disks",
        "--base",
        &base.to_string_lossy(),
        "--extra-files",
        &extra.to_string_lossy(),
    ]);
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let k = format!("{root}/etc/ssh/ssh_host_ed25519_key");
        assert_eq!(std::fs::read_to_string(&k).unwrap(), "not really a key\n");
        let m = std::fs::metadata(&k).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o600);
        assert_eq!((m.uid(), m.gid()), (0, 0));
        assert_eq!(
            std::fs::metadata(&root).unwrap().permissions().mode() & 0o7777,
            0o755
        );
    }
    let top = out
        .lines()
        .rev()
        .find(|l| l.starts_with("/ox/store/"))
        .unwrap_or_else(|| panic!("no toplevel printed:\n{out}"))
        .to_string();
    assert!(top.ends_with("-ox-system-newbox"), "{top}");
    // the disks
    let (src, t, _) = findmnt(&root).unwrap();
    assert_eq!((src.as_str(), t.as_str()), (disk.part(2).as_str(), "ext4"));
    assert_eq!(findmnt(&format!("{root}/boot")).unwrap().0, disk.part(1));
    // the store paths, registered in the new root's store
    assert!(Path::new(&format!("{root}{top}/activation.json")).exists());
    let db = format!("{root}/ox/var/db/db.sqlite");
    assert!(Path::new(&db).exists() || Path::new(&format!("{root}/ox/var")).exists());
    let gens = w.ox_ok(&["generations", "--json", "--root", &root]);
    let gens: serde_json::Value = serde_json::from_str(&gens[gens.find('[').unwrap_or(0)..])
        .unwrap_or_else(|e| panic!("{e}: {gens}"));
    assert_eq!(gens[0]["number"], 1, "{gens}");
    assert_eq!(
        std::fs::read_link(format!("{root}/ox/var/profiles/system-1-link")).unwrap(),
        PathBuf::from(&top)
    );
    assert_eq!(
        std::fs::read_link(format!("{root}/ox/var/profiles/system")).unwrap(),
        PathBuf::from("system-1-link")
    );
    // /etc: through the flip link into the new store
    assert_eq!(
        std::fs::read_link(format!("{root}/etc/ox-static")).unwrap(),
        PathBuf::from(format!("{top}/etc"))
    );
    assert_eq!(
        std::fs::read_to_string(format!("{root}{top}/etc/ox-installed")).unwrap(),
        "installed by ox\n"
    );
    assert_eq!(
        std::fs::read_link(format!("{root}/etc/ox-installed")).unwrap(),
        PathBuf::from("/etc/ox-static/ox-installed")
    );
    assert_eq!(
        std::fs::read_to_string(in_root(&root, "/etc/hostname"))
            .unwrap()
            .trim(),
        "newbox"
    );
    let passwd = std::fs::read_to_string(format!("{root}/etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("alice:")), "{passwd}");
    assert_eq!(
        std::fs::read_to_string(in_root(&root, "/etc/ox-installed")).unwrap(),
        "installed by ox\n"
    );
    let fstab = std::fs::read_to_string(in_root(&root, "/etc/fstab")).unwrap();
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
    // nothing claims to be running in the new root: the first boot does
    assert!(!Path::new(&format!("{root}/run/ox/current-system")).exists());
    // again, onto the mounted disks (mode mount): nothing to copy, the
    // same generation
    let again = w.ox_ok(&[
        "install", "--flake", ".#t", "--root", &root, "--mode", "mount",
    ]);
    assert!(again.contains("copied 0 store path(s)"), "{again}");
    assert!(
        !again.contains("mkfs") && !again.contains("wipefs"),
        "{again}"
    );
    let gens = w.ox_ok(&["generations", "--json", "--root", &root]);
    let gens: serde_json::Value =
        serde_json::from_str(&gens[gens.find('[').unwrap_or(0)..]).unwrap();
    assert_eq!(gens.as_array().map(|a| a.len()), Some(1), "{gens}");
    // nothing of this leaked into the machine's own /ox/store
    assert!(
        !Path::new(&top).exists(),
        "{top} is in the machine's own store"
    );
}

#[test]
fn destroy_asks_on_a_terminal() {
    if skip() {
        return;
    }
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIP: no `script` (util-linux) to make a terminal");
        return;
    }
    let disk = Loop::new("ask", 64);
    let w = Work::new("ask");
    sh_ok(&format!("mkfs.ext4 -q -L precious {}", disk.dev));
    let hash = || sh_ok(&format!("sha256sum {}", disk.img().display()));
    let before = hash();
    w.fleet(&format!(
        r#"{{ ... }}: {{
  disko.devices.disk.main = {{
    device = "{dev}";
    content = {{ type = "gpt"; partitions.root = {{ size = "100%"; content = {{ type = "filesystem"; format = "ext4"; mountpoint = "/"; }}; }}; }};
  }};
}}
"#,
        dev = disk.dev
    ));
    let root = w.root();
    let args = [
        "disko",
        "--flake",
        ".#t",
        "--mode",
        "destroy,format",
        "--root-mountpoint",
        &root,
    ];
    // anything but `yes` declines
    let (ok, out) = w.ox_tty(&args, "y\n");
    assert!(!ok, "{out}");
    assert!(
        out.contains("will ERASE") && out.contains(&disk.dev) && out.contains("precious"),
        "{out}"
    );
    assert_eq!(hash(), before, "the disk changed after declining");
    let (ok, out) = w.ox_tty(&args, "yes\n");
    assert!(ok, "{out}");
    assert_eq!(blkid(&disk.dev, "PTTYPE"), "gpt");
    assert_eq!(blkid(&disk.part(1), "TYPE"), "ext4");
}

#[test]
fn layout_mistakes_name_the_file_line_option_and_expected_type() {
    // evaluation only: no root, no devices
    let w = Work::new("typo");
    w.fleet(
        r#"{ ... }: {
  disko.devices.disk.main = {
    device = "/dev/ox-test-nonexistent";
    content = { type = "gpt"; partitions.root = { size = "half"; content = { type = "filesystem"; format = "ext4"; mountpoint = "/"; }; }; };
  };
}
"#,
    );
    let o = w.disko("destroy,format,mount", &["--dry-run"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success());
    assert!(
        err.contains("disko.devices.disk.main.content.partitions.root.size")
            && err.contains("string matching the pattern")
            && err.contains("hosts/t/default.nix:4:"),
        "{err}"
    );
    // a field of another content type: an assertion naming the path
    w.fleet(
        r#"{ ... }: {
  disko.devices.disk.main = {
    device = "/dev/ox-test-nonexistent";
    content = { type = "gpt"; partitions.root = { size = "100%"; content = { type = "btrfs"; format = "ext4"; mountpoint = "/"; }; }; };
  };
}
"#,
    );
    let o = w.disko("destroy,format,mount", &["--dry-run"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success());
    assert!(
        err.contains("disko.devices.disk.main.content.partitions.root.content: `format` is only used with type = \"filesystem\" (this is type = \"btrfs\")"),
        "{err}"
    );
    // an unknown content type: the enum's values
    w.fleet(
        r#"{ ... }: {
  disko.devices.disk.main = {
    device = "/dev/ox-test-nonexistent";
    content = { type = "gpt"; partitions.root = { size = "100%"; content = { type = "zfs"; }; }; };
  };
}
"#,
    );
    let o = w.disko("mount", &["--dry-run"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success());
    assert!(
        err.contains("partitions.root.content.type") && err.contains("\"luks\""),
        "{err}"
    );
    // and a good layout on a missing device: the plan, with a note
    w.fleet(
        r#"{ ... }: {
  disko.devices.disk.main = {
    device = "/dev/ox-test-nonexistent";
    content = { type = "filesystem"; format = "xfs"; mountpoint = "/srv"; };
  };
}
"#,
    );
    let out = w.ox_ok(&[
        "disko",
        "--flake",
        ".#t",
        "--mode",
        "format,mount",
        "--dry-run",
        "--root-mountpoint",
        &w.root(),
    ]);
    assert!(
        out.contains("# note: disk `main`: /dev/ox-test-nonexistent does not exist"),
        "{out}"
    );
    assert!(out.contains("mkfs.xfs /dev/ox-test-nonexistent"), "{out}");
    let o = w.disko("format,mount", &[]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !o.status.success() && err.contains("does not exist on this machine"),
        "{err}"
    );
}

#[test]
fn the_derived_config_is_a_default_the_host_can_override() {
    // evaluation only: no root, no devices
    let w = Work::new("override");
    w.fleet(
        r#"{ ... }: {
  disko.devices.disk.main = {
    device = "/dev/ox-test-nonexistent";
    content = { type = "gpt"; partitions = {
      swap = { size = "1G"; content = { type = "swap"; }; };
      root = { size = "100%"; content = { type = "luks"; name = "cr"; settings.allowDiscards = true;
        content = { type = "filesystem"; format = "ext4"; mountpoint = "/"; }; }; };
    }; };
  };
  # the host's own definitions win over the layout's
  fileSystems."/".options = [ "noatime" "errors=remount-ro" ];
  boot.initrd.luks.devices.cr.allowDiscards = false;
  swapDevices = [ { device = "/swapfile"; } ];
}
"#,
    );
    let fs = w.eval_json("fileSystems");
    assert_eq!(fs["/"]["device"], "/dev/mapper/cr");
    assert_eq!(fs["/"]["fsType"], "ext4");
    assert_eq!(
        fs["/"]["options"],
        serde_json::json!(["noatime", "errors=remount-ro"])
    );
    let luks = w.eval_json("boot.initrd.luks.devices");
    assert_eq!(
        luks["cr"]["device"],
        "/dev/disk/by-partlabel/disk-main-root"
    );
    assert_eq!(luks["cr"]["allowDiscards"], false);
    let sw = w.eval_json("swapDevices");
    assert_eq!(sw.as_array().unwrap().len(), 1, "{sw}");
    assert_eq!(sw[0]["device"], "/swapfile");
}

/// An existing image file attached for inspection; detached on drop.
struct Attached {
    dev: String,
    mnt: PathBuf,
}

impl Attached {
    fn new(img: &Path, mnt: PathBuf) -> Attached {
        let dev = sh_ok(&format!("losetup -f --show {}", img.display()))
            .trim()
            .to_string();
        let _ = sh(&format!("partx -a {dev}"));
        std::fs::create_dir_all(&mnt).unwrap();
        Attached { dev, mnt }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = sh(&format!("umount {}", self.mnt.display()));
        let _ = sh(&format!("partx -d {}", self.dev));
        let _ = sh(&format!("losetup -d {}", self.dev));
    }
}

#[test]
fn install_into_disk_images() {
    if skip() {
        return;
    }
    if let Some(why) = ox_testhost::unavailable() {
        eprintln!("SKIP: no Debian base rootfs: {why}");
        return;
    }
    let tarball = PathBuf::from("/var/cache/ox-test/bookworm-v1.tar.zst");
    let base = if tarball.exists() {
        tarball
    } else {
        ox_testhost::base_rootfs().expect("base rootfs")
    };
    let w = Work::new("img");
    w.fleet(
        r#"{ ... }: {
  networking.hostName = "imgbox";
  disko.devices.disk.main = {
    device = "/dev/disk/by-id/this-disk-is-not-here";
    imageName = "imgbox-main";
    imageSize = "900M";
    content = {
      type = "gpt";
      partitions = {
        ESP = { size = "32M"; type = "EF00"; content = { type = "filesystem"; format = "vfat"; }; };
        root = { size = "100%"; content = { type = "filesystem"; format = "ext4"; mountpoint = "/"; extraArgs = [ "-L" "imgroot" ]; }; };
      };
    };
  };
}
"#,
    );
    let images = w.dir.join("images");
    let root = w.root();
    let out = w.ox_ok(&[
        "install",
        "--flake",
        ".#t",
        "--root",
        &root,
        "--images",
        &images.to_string_lossy(),
        "--base",
        &base.to_string_lossy(),
    ]);
    let top = out
        .lines()
        .rev()
        .find(|l| l.starts_with("/ox/store/"))
        .unwrap_or_else(|| panic!("no toplevel printed:\n{out}"))
        .to_string();
    let img = images.join("imgbox-main.raw");
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 900 << 20);
    // released: nothing mounted, no loop device left on the image
    assert!(findmnt(&root).is_none(), "{out}");
    let loops = sh_ok("losetup -a");
    assert!(!loops.contains(&img.display().to_string()), "{loops}");
    // the image holds the table and the installed system
    let labels: Vec<String> = gpt_parts(&img.to_string_lossy())
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    assert_eq!(labels, vec!["disk-main-ESP", "disk-main-root"]);
    let a = Attached::new(&img, w.dir.join("inspect"));
    assert_eq!(blkid(&format!("{}p1", a.dev), "TYPE"), "vfat");
    assert_eq!(blkid(&format!("{}p2", a.dev), "LABEL"), "imgroot");
    sh_ok(&format!("mount -o ro {}p2 {}", a.dev, a.mnt.display()));
    let m = a.mnt.to_string_lossy().into_owned();
    assert!(Path::new(&format!("{m}{top}/activation.json")).exists());
    assert_eq!(
        std::fs::read_link(format!("{m}/ox/var/profiles/system-1-link")).unwrap(),
        PathBuf::from(&top)
    );
    assert_eq!(
        std::fs::read_to_string(in_root(&m, "/etc/hostname"))
            .unwrap()
            .trim(),
        "imgbox"
    );
    // an existing image is never overwritten
    let o = w.ox(&[
        "install",
        "--flake",
        ".#t",
        "--root",
        &root,
        "--images",
        &images.to_string_lossy(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !o.status.success() && err.contains("exists already"),
        "{err}"
    );
    // ox disko --images: just the formatted image
    let only = w.dir.join("only");
    let out = w.ox_ok(&[
        "disko",
        "--flake",
        ".#t",
        "--mode",
        "format",
        "--images",
        &only.to_string_lossy(),
    ]);
    let img2 = only.join("imgbox-main.raw");
    assert!(
        out.contains(&format!("disk `main` → {}", img2.display())),
        "{out}"
    );
    assert_eq!(gpt_parts(&img2.to_string_lossy()).len(), 2);
    assert!(!sh_ok("losetup -a").contains(&img2.display().to_string()));
}

#[test]
fn install_builds_first_and_a_broken_host_wipes_nothing() {
    if skip() {
        return;
    }
    let disk = Loop::new("broken", 64);
    let w = Work::new("broken");
    sh_ok(&format!("mkfs.ext4 -q -L precious {}", disk.dev));
    let hash = || sh_ok(&format!("sha256sum {}", disk.img().display()));
    let before = hash();
    // the layout evaluates; the system does not (a type error only the
    // build reaches)
    w.fleet(&format!(
        r#"{{ ... }}: {{
  environment.etc.motd = {{ text = "hi"; mode = 644; }};
  disko.devices.disk.main = {{
    device = "{dev}";
    content = {{ type = "filesystem"; format = "ext4"; mountpoint = "/"; }};
  }};
}}
"#,
        dev = disk.dev
    ));
    let root = w.root();
    let o = w.ox(&[
        "install",
        "--flake",
        ".#t",
        "--root",
        &root,
        "--yes-wipe-all-disks",
    ]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("building"), "{err}");
    assert!(!err.contains("+ wipefs"), "{err}");
    assert_eq!(
        hash(),
        before,
        "the disk changed although the host does not build"
    );
    assert!(findmnt(&root).is_none());
}

#[test]
fn install_with_packages_the_base_lacks_defers_activation_to_the_first_boot() {
    if skip() {
        return;
    }
    if let Some(why) = ox_testhost::unavailable() {
        eprintln!("SKIP: no Debian base rootfs: {why}");
        return;
    }
    let base = ox_testhost::base_rootfs().expect("base rootfs");
    let w = Work::new("pkgs");
    let fleet = w.fleet(
        r#"{ pkgs, ... }: {
  networking.hostName = "pkgbox";
  environment.systemPackages = [ pkgs.hello ];
  disko.devices.disk.main = {
    device = "/dev/disk/by-id/not-here";
    imageSize = "700M";
    content = { type = "filesystem"; format = "ext4"; mountpoint = "/"; };
  };
}
"#,
    );
    std::fs::write(
        fleet.join("ox.lock"),
        r#"{
  "formatVersion": 1,
  "packages": {
    "hello": {
      "version": "2.10-3",
      "architecture": "amd64",
      "sha256": "0000000000000000000000000000000000000000000000000000000000000000",
      "files": [ "/usr/bin/hello" ]
    }
  }
}
"#,
    )
    .unwrap();
    let images = w.dir.join("images");
    let root = w.root();
    let out = w.ox_ok(&[
        "install",
        "--flake",
        ".#t",
        "--root",
        &root,
        "--images",
        &images.to_string_lossy(),
        "--base",
        &base.to_string_lossy(),
    ]);
    assert!(
        out.contains("1 Debian package(s) the base does not have (hello=2.10-3)"),
        "{out}"
    );
    let top = out
        .lines()
        .rev()
        .find(|l| l.starts_with("/ox/store/"))
        .unwrap_or_else(|| panic!("no toplevel printed:\n{out}"))
        .to_string();
    let a = Attached::new(&images.join("main.raw"), w.dir.join("inspect"));
    sh_ok(&format!("mount -o ro {} {}", a.dev, a.mnt.display()));
    let m = a.mnt.to_string_lossy().into_owned();
    // the boot default, not activated: no /etc flip link yet
    assert_eq!(
        std::fs::read_link(format!("{m}/ox/var/profiles/system-1-link")).unwrap(),
        PathBuf::from(&top)
    );
    assert!(std::fs::symlink_metadata(format!("{m}/etc/ox-static")).is_err());
    let unit = std::fs::read_to_string(format!("{m}/etc/systemd/system/ox-boot.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/ox activate --boot-time"),
        "{unit}"
    );
    assert!(std::fs::symlink_metadata(format!(
        "{m}/etc/systemd/system/sysinit.target.wants/ox-boot.service"
    ))
    .is_ok());
}
