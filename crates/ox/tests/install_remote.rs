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
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ox_testhost::testsupport::{ox_command, text, Scratch};

mod common;
use common::{
    assert_installed_as_generation_1, base_tarball, blkid, installable_host, is_root, lacks_a_tool,
    mounts_below, sh, sh_ok, LoopDisk, Work,
};

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
    lacks_a_tool(&[
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
    ])
}

fn sha_head(img: &Path) -> String {
    sh_ok(&format!("head -c 4M {} | sha256sum", img.display()))
}

impl Work {
    /// `ox ARGS` with owned arguments.
    fn ox_args(&self, args: &[String]) -> std::process::Output {
        self.ox(&args.iter().map(String::as_str).collect::<Vec<_>>())
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

    /// `ox install` of host `t` onto this rescue system into `root`:
    /// `extra` arguments, then the ssh options that reach it.
    fn install_args(&self, root: &str, extra: &[&str]) -> Vec<String> {
        let target = format!("root@{}", self.ip);
        let mut a: Vec<String> = [
            "install", "--flake", ".#t", "--target", &target, "--root", root,
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
        a.extend(self.ssh_options());
        a
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

/// The host to install: its root file system labelled `farroot`.
fn host_config(dev: &str, extra: &str) -> String {
    installable_host(
        "faraway",
        "installed over ssh",
        dev,
        r#" extraArgs = [ "-L" "farroot" ];"#,
        extra,
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
#[test]
fn install_over_ssh_partitions_copies_and_installs_generation_1() {
    if skip() {
        return;
    }
    let Some(base) = base_tarball() else { return };
    let w = Work::under(Path::new("/var/tmp"), "inst-remote");
    let disk = LoopDisk::create(&w.dir.join("disk.img"), 1024);
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
    let args = rescue.install_args(
        &root,
        &[
            "--yes-wipe-all-disks",
            "--base",
            &base.to_string_lossy(),
            "--extra-files",
            &extra.to_string_lossy(),
            "--json",
        ],
    );
    let t = Instant::now();
    let o = w.ox_args(&args);
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
    assert_installed_as_generation_1(&c, &top, "faraway", "installed over ssh");
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
    let o = w.ox_args(&again);
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
        let a: Vec<&str> = std::iter::once("--dry-run")
            .chain(extra_args.iter().map(String::as_str))
            .collect();
        let o = w.ox_args(&rescue.install_args(&root, &a));
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
    let w = Work::under(Path::new("/var/tmp"), "inst-refuse");
    let disk = LoopDisk::create(&w.dir.join("disk.img"), 200);
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
    let base_args = rescue.install_args(&root, &[]);
    // a dry run prints the target's plan and changes nothing
    let o = w.ox_args(&rescue.install_args(&root, &["--dry-run"]));
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
    let o = w.ox_args(&base_args);
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
    let o = w.ox_args(&rescue.install_args(&root, &["--yes-wipe-all-disks"]));
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
