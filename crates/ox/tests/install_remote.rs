//! `ox install --target root@IP` against a "rescue system": an sshd of
//! the test's own in a fresh network namespace on this machine's
//! filesystem (docs: test-hosts.md §4 Variant A), so the remote side can
//! use a loop device the test creates. sshd is started with `nsenter
//! --net` (not `ip netns exec`, which also unshares the mount
//! namespace), so what the remote mounts is visible here. The remote
//! ox uses the new root's store (`<root>/ox/store`), never this
//! machine's: the build goes to a store of the test's own, and the test
//! checks that every path arrived through the copy. Root only; Drop
//! guards unmount, detach, kill sshd and delete the namespace.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ox_testhost::testsupport::{ox_command, repo, text, Scratch};

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| text(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn on_path(b: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(b).exists()))
        .unwrap_or(false)
}

/// True (with a SKIP line) when this machine cannot run these tests.
fn skip() -> bool {
    if !is_root() {
        eprintln!("SKIP: loop devices and network namespaces need root");
        return true;
    }
    if !Path::new("/usr/sbin/sshd").exists() {
        eprintln!("SKIP: /usr/sbin/sshd is missing (scripts/deps installs openssh-server)");
        return true;
    }
    for b in [
        "losetup",
        "sgdisk",
        "partx",
        "mkfs.ext4",
        "blkid",
        "wipefs",
        "ssh",
        "ssh-keygen",
        "nsenter",
        "ip",
    ] {
        if !on_path(b) {
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
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// Mount targets at or below `dir`, deepest first.
fn mounts_below(dir: &str) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|t| t == dir || t.starts_with(&format!("{dir}/")))
        .collect();
    v.sort_by_key(|t| std::cmp::Reverse(t.len()));
    v
}

fn blkid(dev: &str, tag: &str) -> String {
    text(&sh(&format!("blkid -p -o value -s {tag} {dev}")).stdout)
        .trim()
        .to_string()
}

fn sha_head(img: &Path) -> String {
    sh_ok(&format!("head -c 4M {} | sha256sum", img.display()))
}

/// A sparse image on a loop device of its own.
struct Loop {
    img: PathBuf,
    dev: String,
}

impl Loop {
    fn new(dir: &Path, size_mb: u64) -> Loop {
        let img = dir.join("disk.img");
        let f = std::fs::File::create(&img).unwrap();
        f.set_len(size_mb << 20).unwrap();
        let dev = sh_ok(&format!("losetup -f --show {}", img.display()))
            .trim()
            .to_string();
        Loop { img, dev }
    }
    fn part(&self, n: u32) -> String {
        format!("{}p{n}", self.dev)
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let dev = &self.dev;
        let mut ts: Vec<String> = info
            .lines()
            .filter_map(|l| {
                let (left, right) = l.split_once(" - ")?;
                let src = right.split(' ').nth(1)?;
                (src == dev || src.starts_with(&format!("{dev}p")))
                    .then(|| left.split(' ').nth(4).map(str::to_string))?
            })
            .collect();
        ts.sort_by_key(|t| std::cmp::Reverse(t.len()));
        for t in ts {
            if !sh(&format!("umount '{t}'")).status.success() {
                let _ = sh(&format!("umount -l '{t}'"));
            }
        }
        let _ = sh(&format!("partx -d {dev}"));
        let _ = sh(&format!("losetup -d {dev}"));
    }
}

/// A scratch directory bind-mounted on itself and made rshared: mounts
/// below it made by any namespace's copy are undone by our unmounts
/// (docs/disko.md "Mount propagation"). Unmounts everything below on drop.
struct Work {
    dir: Scratch,
}

impl Work {
    fn new(tag: &str) -> Work {
        let dir = Scratch::under(Path::new("/var/tmp"), tag);
        let d = dir.display();
        sh_ok(&format!("mount --bind {d} {d} && mount --make-rshared {d}"));
        std::fs::create_dir_all(dir.join("root")).unwrap();
        Work { dir }
    }
    fn root(&self) -> String {
        self.dir.join("root").to_string_lossy().into_owned()
    }
    fn fleet(&self, host: &str) {
        let f = self.dir.join("fleet");
        std::fs::create_dir_all(f.join("hosts/t")).unwrap();
        std::fs::write(
            f.join("flake.nix"),
            "{\n  outputs = { self, ox }: {\n    oxConfigurations.t = ox.lib.oxSystem { system = \"x86_64-linux\"; modules = [ ./hosts/t ]; };\n  };\n}\n",
        )
        .unwrap();
        std::fs::write(f.join("hosts/t/default.nix"), host).unwrap();
    }
    fn ox(&self, args: &[&str]) -> Output {
        ox_command(Path::new(env!("CARGO_BIN_EXE_ox")))
            .args(args)
            .current_dir(self.dir.join("fleet"))
            .env("OX_NIX_DIR", repo().join("nix"))
            .env("OX_STORE_ROOT", self.dir.join("store"))
            .stdin(Stdio::null())
            .output()
            .expect("run ox")
    }
}

impl Work {
    /// `ox ARGS` on a terminal (`script`), with `input` typed ahead.
    fn ox_tty(&self, args: &[&str], input: &str) -> (bool, String) {
        use std::io::Write;
        let cmd = std::iter::once(env!("CARGO_BIN_EXE_ox"))
            .chain(args.iter().copied())
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut c = Command::new("script")
            .args(["-q", "-e", "-c", &cmd, "/dev/null"])
            .current_dir(self.dir.join("fleet"))
            .env("OX_NIX_DIR", repo().join("nix"))
            .env("OX_STORE_ROOT", self.dir.join("store"))
            .env("NO_COLOR", "1")
            .env_remove("OX_STORE_DIR")
            .env_remove("NIX_PATH")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run script");
        // the question comes after the build and the connection;
        // typed-ahead input waits in the pty
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
        for t in mounts_below(&self.dir.to_string_lossy()) {
            if !sh(&format!("umount '{t}'")).status.success() {
                let _ = sh(&format!("umount -l '{t}'"));
            }
        }
    }
}

/// The rescue system: a network namespace on a bridge of its own, and
/// sshd in it (own host key, one authorized client key, `UsePAM no`).
struct Rescue {
    ip: String,
    keys: Scratch,
    sshd: Option<Child>,
    // dropped after sshd is killed (fields drop in order)
    _ns: Option<ox_testhost::Netns>,
    bridge: String,
}

impl Rescue {
    fn start() -> Rescue {
        static N: AtomicUsize = AtomicUsize::new(0);
        let k = N.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let net = (pid as usize * 7 + k * 31) % 250 + 1;
        let bridge = format!("oxibr{}{k}", pid % 10000);
        let name = format!("oxi-{}-{k}", pid % 100000);
        let ip = format!("10.236.{net}.10");
        let mut r = Rescue {
            ip: ip.clone(),
            keys: Scratch::new("rescue-keys"),
            sshd: None,
            _ns: None,
            bridge: bridge.clone(),
        };
        r._ns = Some(
            ox_testhost::Netns::create(
                &name,
                &bridge,
                &format!("10.236.{net}.1/24"),
                &format!("{ip}/24"),
                &format!("10.236.{net}.1"),
            )
            .expect("network namespace"),
        );
        let d = r.keys.path().to_path_buf();
        sh_ok(&format!(
            "ssh-keygen -q -t ed25519 -N '' -f {d}/host_key && ssh-keygen -q -t ed25519 -N '' -f {d}/client && cp {d}/client.pub {d}/authorized_keys && mkdir -p /run/sshd",
            d = d.display()
        ));
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        std::fs::write(d.join("known_hosts"), format!("{ip} {host_pub}")).unwrap();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "ListenAddress {ip}\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
                 UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PidFile {d}/sshd.pid\n",
                d = d.display()
            ),
        )
        .unwrap();
        // nsenter --net: the network namespace only; the mount namespace
        // stays this machine's, so the remote's mounts are ours to check
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{name}"))
            .args(["/usr/sbin/sshd", "-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .expect("start sshd");
        r.sshd = Some(child);
        let until = Instant::now() + Duration::from_secs(10);
        let addr: std::net::SocketAddr = format!("{ip}:22").parse().unwrap();
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < until,
                "sshd did not come up: {}",
                std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    fn ssh_options(&self) -> Vec<String> {
        let d = self.keys.path().display();
        [
            format!("IdentityFile={d}/client"),
            "IdentitiesOnly=yes".into(),
            format!("UserKnownHostsFile={d}/known_hosts"),
            "StrictHostKeyChecking=yes".into(),
        ]
        .into_iter()
        .flat_map(|o| ["--ssh-option".to_string(), o])
        .collect()
    }
}

impl Drop for Rescue {
    fn drop(&mut self) {
        if let Some(mut c) = self.sshd.take() {
            // the listener we started, by its own pid; its sessions end
            // with it (the connection is gone)
            let _ = c.kill();
            let _ = c.wait();
        }
        self._ns = None;
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
    }
}

fn host_config(dev: &str, extra: &str) -> String {
    format!(
        r#"{{ ... }}: {{
  {extra}
  networking.hostName = "faraway";
  environment.etc."ox-installed".text = "installed over ssh\n";
  users.users.alice = {{ isNormalUser = true; }};
  disko.devices.disk.main = {{
    device = "{dev}";
    content = {{
      type = "gpt";
      partitions = {{
        boot = {{ size = "64M"; content = {{ type = "filesystem"; format = "ext4"; mountpoint = "/boot"; }}; }};
        root = {{ size = "100%"; content = {{ type = "filesystem"; format = "ext4"; mountpoint = "/"; extraArgs = [ "-L" "farroot" ]; }}; }};
      }};
    }};
  }};
}}
"#
    )
}

/// `hosts/t/db.yaml`, a sops file encrypted for the age recipient of
/// the ssh public key `pubkey`.
fn encrypt_for(w: &Work, pubkey: &Path) {
    let dir = w.dir.join("fleet/hosts/t");
    std::fs::write(dir.join("db.yaml"), "db: hunter2\n").unwrap();
    let run = |args: &[&str]| {
        let o = ox_command(Path::new(env!("CARGO_BIN_EXE_ox")))
            .arg("secrets")
            .args(args)
            .current_dir(&dir)
            .env("HOME", w.dir.path())
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_RECIPIENTS")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "ox secrets {args:?}: {}",
            text(&o.stderr)
        );
        text(&o.stdout).trim().to_string()
    };
    let recipient = run(&["ssh-to-age", "-i", &pubkey.to_string_lossy()]);
    assert!(recipient.starts_with("age1"), "{recipient}");
    run(&["encrypt", "-i", "--age", &recipient, "db.yaml"]);
}

/// The base system: the test harness's bookworm tarball (zstd), or the
/// unpacked directory.
fn base() -> Option<PathBuf> {
    if let Some(why) = ox_testhost::unavailable() {
        eprintln!("SKIP: no Debian base rootfs: {why}");
        return None;
    }
    let dir = ox_testhost::base_rootfs().expect("base rootfs");
    let tar = dir.with_extension("tar.zst");
    Some(if tar.exists() { tar } else { dir })
}

/// A path inside `root`, following absolute symlinks inside it.
fn in_root(root: &str, p: &str) -> PathBuf {
    let mut cur = PathBuf::from(p);
    for _ in 0..40 {
        let mut acc = PathBuf::from("/");
        let mut redirected = None;
        for c in cur.components().skip(1) {
            acc.push(c);
            let real = Path::new(root).join(acc.strip_prefix("/").unwrap());
            if let Ok(t) = std::fs::read_link(&real) {
                let t = if t.is_absolute() {
                    t
                } else {
                    acc.parent().unwrap().join(t)
                };
                let rest = cur.strip_prefix(&acc).unwrap().to_path_buf();
                redirected = Some(t.join(rest));
                break;
            }
        }
        match redirected {
            Some(n) => cur = n,
            None => return Path::new(root).join(cur.strip_prefix("/").unwrap()),
        }
    }
    panic!("symlink loop at {p}")
}

#[test]
fn install_over_ssh_partitions_copies_and_installs_generation_1() {
    if skip() {
        return;
    }
    let Some(base) = base() else { return };
    let w = Work::new("inst-remote");
    let disk = Loop::new(&w.dir, 1024);
    // the extra files: the host's ssh host key, private; the host's sops
    // secret is encrypted for it (sops-nix's default identity)
    let extra = w.dir.join("extra");
    std::fs::create_dir_all(extra.join("etc/ssh")).unwrap();
    sh_ok(&format!(
        "ssh-keygen -q -t ed25519 -N '' -C faraway -f {}/etc/ssh/ssh_host_ed25519_key",
        extra.display()
    ));
    w.fleet(&host_config(
        &disk.dev,
        r#"sops.secrets.db = { sopsFile = ./db.yaml; key = "db"; };"#,
    ));
    encrypt_for(&w, &extra.join("etc/ssh/ssh_host_ed25519_key.pub"));
    let rescue = Rescue::start();
    let key = extra.join("etc/ssh/ssh_host_ed25519_key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let key_text = std::fs::read(&key).unwrap();
    let root = w.root();
    let target = format!("root@{}", rescue.ip);
    let mut args: Vec<String> = [
        "install",
        "--flake",
        ".#t",
        "--target",
        &target,
        "--root",
        &root,
        "--yes-wipe-all-disks",
        "--base",
        &base.to_string_lossy(),
        "--extra-files",
        &extra.to_string_lossy(),
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(rescue.ssh_options());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let t = Instant::now();
    let o = w.ox(&argv);
    let secs = t.elapsed().as_secs_f64();
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(
        o.status.success(),
        "ox install --target failed:\n{out}\n{err}"
    );
    eprintln!("ox install --target took {secs:.1} s\n{err}");
    let rep: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(rep["status"], "installed", "{rep}");
    assert_eq!(rep["target"], target.as_str(), "{rep}");
    let top = rep["toplevel"].as_str().unwrap().to_string();
    assert!(top.ends_with("-ox-system-faraway"), "{top}");
    // the phases, as they ran
    for p in [
        "[1/7] building",
        "[2/7] connecting",
        "[3/7] disks on",
        "[5/7] copying the closure",
        "[6/7] installing generation 1",
        "[7/7] unmounting",
    ] {
        assert!(err.contains(p), "no `{p}` in:\n{err}");
    }
    assert!(err.contains("sgdisk") && err.contains("mkfs.ext4"), "{err}");
    // every path of the closure went through the copy: the new root's
    // store started empty, and this machine's store never had them (the
    // build went to the test's own store)
    let closure = rep["closurePaths"].as_u64().unwrap();
    assert!(closure >= 1, "{rep}");
    assert_eq!(rep["copiedPaths"].as_u64(), Some(closure), "{rep}");
    assert!(rep["copiedBytes"].as_u64().unwrap() > 0, "{rep}");
    assert!(
        !Path::new(&top).exists(),
        "{top} is in this machine's /ox/store"
    );
    assert_eq!(rep["generation"], 1, "{rep}");
    assert_eq!(rep["extraFiles"], 2, "{rep}");
    assert_eq!(rep["warnings"], serde_json::json!([]), "{rep}");
    assert_eq!(rep["unmounted"], true, "{rep}");
    assert!(rep["oxCopied"].is_boolean(), "{rep}");
    // unmounted at the end
    assert!(mounts_below(&root).is_empty(), "{:?}", mounts_below(&root));
    // the disk, from outside: gpt labels and file systems
    sh(&format!(
        "partx -a {} 2>/dev/null; partx -u {}",
        disk.dev, disk.dev
    ));
    assert_eq!(blkid(&disk.part(1), "PART_ENTRY_NAME"), "disk-main-boot");
    assert_eq!(blkid(&disk.part(2), "PART_ENTRY_NAME"), "disk-main-root");
    assert_eq!(blkid(&disk.part(1), "TYPE"), "ext4");
    assert_eq!(blkid(&disk.part(2), "TYPE"), "ext4");
    assert_eq!(blkid(&disk.part(2), "LABEL"), "farroot");
    // mounted read-only here: what the first boot will find
    let chk = w.dir.join("check");
    std::fs::create_dir_all(&chk).unwrap();
    let c = chk.to_string_lossy().into_owned();
    sh_ok(&format!("mount -o ro {} {c}", disk.part(2)));
    assert!(
        Path::new(&format!("{c}{top}/activation.json")).exists(),
        "the toplevel is not in the new root's store"
    );
    let in_store = std::fs::read_dir(format!("{c}/ox/store"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .map(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .unwrap_or(false)
        })
        .count() as u64;
    assert_eq!(in_store, closure, "paths in {c}/ox/store");
    assert!(Path::new(&format!("{c}/ox/var")).is_dir());
    assert_eq!(
        std::fs::read_link(format!("{c}/ox/var/profiles/system-1-link")).unwrap(),
        PathBuf::from(&top)
    );
    assert_eq!(
        std::fs::read_link(format!("{c}/ox/var/profiles/system")).unwrap(),
        PathBuf::from("system-1-link")
    );
    assert_eq!(
        std::fs::read_link(format!("{c}/etc/ox-static")).unwrap(),
        PathBuf::from(format!("{top}/etc"))
    );
    assert_eq!(
        std::fs::read_to_string(in_root(&c, "/etc/hostname"))
            .unwrap()
            .trim(),
        "faraway"
    );
    assert_eq!(
        std::fs::read_to_string(in_root(&c, "/etc/ox-installed")).unwrap(),
        "installed over ssh\n"
    );
    let passwd = std::fs::read_to_string(format!("{c}/etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("alice:")), "{passwd}");
    assert!(std::fs::read_to_string(in_root(&c, "/etc/fstab"))
        .unwrap()
        .contains("/dev/disk/by-partlabel/disk-main-root"));
    let unit = std::fs::read_to_string(format!("{c}/etc/systemd/system/ox-boot.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/ox"), "{unit}");
    assert!(Path::new(&format!("{c}/usr/local/bin/ox")).exists());
    assert!(!Path::new(&format!("{c}/run/ox/current-system")).exists());
    // the extra file: same bytes, mode 0600, owned by root
    let kp = format!("{c}/etc/ssh/ssh_host_ed25519_key");
    assert_eq!(std::fs::read(&kp).unwrap(), key_text);
    let m = std::fs::metadata(&kp).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o600);
    assert_eq!((m.uid(), m.gid()), (0, 0));
    // the root directory itself kept the base's mode
    assert_eq!(
        std::fs::metadata(&c).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    sh_ok(&format!("umount {c}"));

    // again with mode mount (the disks as they are): mounts them, finds
    // every path already there, keeps generation 1, reuses the ox binary
    let mut again = args.clone();
    let i = again
        .iter()
        .position(|a| a == "--yes-wipe-all-disks")
        .unwrap();
    again.splice(i..i + 1, ["--mode".to_string(), "mount".to_string()]);
    // the base is there already
    let b = again.iter().position(|a| a == "--base").unwrap();
    again.drain(b..b + 2);
    // the text summary this time, and the toplevel on stdout
    again.retain(|a| a != "--json");
    let argv: Vec<&str> = again.iter().map(String::as_str).collect();
    let o = w.ox(&argv);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}\n{err}");
    eprintln!("{err}");
    assert_eq!(out.trim(), top);
    assert!(
        err.contains(&format!("`t` on {target}: installed in")),
        "{err}"
    );
    assert!(
        err.contains(&format!("store: 0 of {closure} closure path(s) copied")),
        "{err}"
    );
    assert!(!err.contains("ox binary copied"), "{err}");
    assert!(err.contains("generation 1; unmounted"), "{err}");
    assert!(!err.contains("mkfs") && !err.contains("wipefs"), "{err}");
    assert!(err.contains("mount -t ext4"), "{err}");
    assert_eq!(blkid(&disk.part(2), "LABEL"), "farroot");

    // the key check: another key in --extra-files, or none, is warned
    // about before anything happens (a dry run here)
    let other = w.dir.join("other");
    std::fs::create_dir_all(other.join("etc/ssh")).unwrap();
    sh_ok(&format!(
        "ssh-keygen -q -t ed25519 -N '' -f {}/etc/ssh/ssh_host_ed25519_key",
        other.display()
    ));
    for (extra_args, expect) in [
        (
            vec![
                "--extra-files".to_string(),
                other.to_string_lossy().into_owned(),
            ],
            "will not decrypt at the first boot",
        ),
        (vec![], "no --extra-files was given"),
    ] {
        let mut a: Vec<String> = [
            "install",
            "--flake",
            ".#t",
            "--target",
            &target,
            "--root",
            &root,
            "--dry-run",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra_args);
        a.extend(rescue.ssh_options());
        let argv: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = w.ox(&argv);
        let err = text(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(err.contains("warning: ") && err.contains(expect), "{err}");
        assert!(
            err.contains("db.yaml") || err.contains("/etc/ssh/ssh_host_ed25519_key"),
            "{err}"
        );
    }
    assert!(mounts_below(&root).is_empty());
}

#[test]
fn a_disk_with_data_is_refused_and_an_unreachable_target_changes_nothing() {
    if skip() {
        return;
    }
    let w = Work::new("inst-refuse");
    let disk = Loop::new(&w.dir, 200);
    sh_ok(&format!("mkfs.ext4 -q -L precious {}", disk.dev));
    let before = sha_head(&disk.img);
    w.fleet(&host_config(&disk.dev, ""));
    let root = w.root();

    // nothing listens there: fails at the connection, after the build,
    // before anything on any machine changed
    let o = w.ox(&[
        "install",
        "--flake",
        ".#t",
        "--target",
        "root@127.0.0.1:1",
        "--root",
        &root,
        "--yes-wipe-all-disks",
        "--ssh-option",
        "ConnectTimeout=3",
        "--json",
    ]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("cannot connect"), "{err}");
    assert!(err.contains("root@127.0.0.1:1"), "{err}");
    assert!(!err.contains("[3/7]"), "{err}");
    // --json: the report of a failure too
    let rep: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(rep["status"], "failed", "{rep}");
    assert!(
        rep["reason"].as_str().unwrap().contains("cannot connect"),
        "{rep}"
    );
    assert_eq!(rep["copiedPaths"], 0, "{rep}");
    assert_eq!(sha_head(&disk.img), before);

    let rescue = Rescue::start();
    let target = format!("root@{}", rescue.ip);
    let mut base_args: Vec<String> = [
        "install", "--flake", ".#t", "--target", &target, "--root", &root,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    base_args.extend(rescue.ssh_options());
    // a dry run prints the target's plan and changes nothing
    let mut a = base_args.clone();
    a.push("--dry-run".into());
    let argv: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = w.ox(&argv);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains(&format!("wipefs --all --force {}", disk.dev)),
        "{out}"
    );
    assert!(out.contains("sgdisk"), "{out}");
    assert!(err.contains("dry-run"), "{err}");
    assert_eq!(sha_head(&disk.img), before);
    // without --yes-wipe-all-disks: refused on the target, naming it,
    // the device and what is on it
    let argv: Vec<&str> = base_args.iter().map(String::as_str).collect();
    let o = w.ox(&argv);
    let err = text(&o.stderr);
    eprintln!("refused:\n{err}");
    assert!(!o.status.success(), "{err}");
    assert!(err.contains(&target), "{err}");
    assert!(err.contains(&disk.dev), "{err}");
    assert!(err.contains("ext4") && err.contains("precious"), "{err}");
    assert!(!err.contains("[4/7]"), "{err}");
    assert_eq!(sha_head(&disk.img), before);
    assert_eq!(blkid(&disk.dev, "LABEL"), "precious");
    assert!(mounts_below(&root).is_empty());

    // a host that does not build: stops before connecting, even with
    // the flag
    w.fleet(&host_config(
        &disk.dev,
        r#"environment.etc.motd = { text = "hi"; mode = 644; };"#,
    ));
    let mut a = base_args.clone();
    a.push("--yes-wipe-all-disks".into());
    let argv: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = w.ox(&argv);
    let err = text(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("building") && err.contains("failed"), "{err}");
    assert!(!err.contains("[2/7]"), "{err}");
    assert_eq!(sha_head(&disk.img), before);

    // on a terminal the question is asked here (the target has none):
    // anything but `yes` declines, `yes` wipes and goes on (to stop at
    // the missing base: no --base was given)
    w.fleet(&host_config(&disk.dev, ""));
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIP (terminal part): no `script` (util-linux)");
        return;
    }
    let argv: Vec<&str> = base_args.iter().map(String::as_str).collect();
    let (ok, out) = w.ox_tty(&argv, "y\n");
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("on {target}, this will ERASE"))
            && out.contains(&disk.dev)
            && out.contains("precious"),
        "{out}"
    );
    assert!(!out.contains("[4/7]"), "{out}");
    assert_eq!(
        sha_head(&disk.img),
        before,
        "the disk changed after declining"
    );
    let (ok, out) = w.ox_tty(&argv, "yes\n");
    assert!(!ok, "{out}");
    assert!(out.contains("mkfs.ext4"), "{out}");
    assert!(out.contains("has no base system"), "{out}");
    assert_eq!(blkid(&disk.dev, "PTTYPE"), "gpt");
    assert_eq!(blkid(&disk.part(2), "LABEL"), "farroot");
}
