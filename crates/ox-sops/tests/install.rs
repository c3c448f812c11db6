//! `install`: secrets into a fresh generation with owners and modes,
//! templates rendered, changes reported, the symlink switched atomically,
//! and nothing written (and no plaintext printed) when something fails.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use ox_sops::install::{install, placeholder, Secret, Spec, Template};
use ox_sops::{EncryptOptions, Format};

const PASSWORD: &str = "db-pw-Zq81xx";
const API_KEY: &str = "pdns-key-Kk42yy";
const NEW_KEY: &str = "pdns-key-NEW77";

struct Env {
    /// On /dev/shm: a tmpfs, like /run.
    dir: tempfile::TempDir,
    key: PathBuf,
    recipient: String,
    sops_file: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::Builder::new()
        .prefix("ox-sops-install")
        .tempdir_in("/dev/shm")
        .expect("/dev/shm (tmpfs)");
    let (secret, recipient) = ox_sops::keygen();
    let key = dir.path().join("keys.txt");
    std::fs::write(&key, format!("{secret}\n")).unwrap();
    let sops_file = dir.path().join("secrets.yaml");
    let e = Env {
        dir,
        key,
        recipient,
        sops_file,
    };
    e.write_secrets(API_KEY);
    e
}

impl Env {
    fn write_secrets(&self, api_key: &str) {
        let plain = format!(
            "db:\n    password: {PASSWORD}\npowerdns:\n    api-key: {api_key}\nport: 5432\n"
        );
        let enc = ox_sops::encrypt(
            plain.as_bytes(),
            Format::Yaml,
            &EncryptOptions {
                key_groups: vec![vec![self.recipient.clone()]],
                ..Default::default()
            },
        )
        .unwrap();
        std::fs::write(&self.sops_file, enc).unwrap();
    }

    fn secret(&self, name: &str, key: &str) -> Secret {
        Secret {
            name: name.into(),
            sops_file: self.sops_file.clone(),
            key: key.into(),
            format: Format::Yaml,
            owner: None,
            group: None,
            mode: 0o400,
            path: None,
            restart_units: vec![],
            reload_units: vec![],
        }
    }

    fn spec(&self, secrets: Vec<Secret>, templates: Vec<Template>) -> Spec {
        let mut s = Spec::new(secrets, templates);
        s.ssh_key_paths = vec![self.dir.path().join("no-such-ssh-key")];
        s.age_key_file = Some(self.key.clone());
        s.mount_point = self.dir.path().join("secrets.d");
        s.symlink = self.dir.path().join("secrets");
        s.mount_tmpfs = false;
        s
    }

    fn link(&self) -> PathBuf {
        std::fs::read_link(self.dir.path().join("secrets")).unwrap()
    }
}

fn pdns_template() -> Template {
    Template {
        name: "pdns.env".into(),
        content: format!(
            "PDNS_API_KEY={}\nOTHER=x\n",
            placeholder("powerdns/api-key")
        ),
        owner: Some("nobody".into()),
        group: Some("nogroup".into()),
        mode: 0o400,
        path: None,
        restart_units: vec!["pdns.service".into()],
        reload_units: vec![],
    }
}

fn standard(e: &Env) -> Spec {
    let mut pw = e.secret("db/password", "db/password");
    pw.owner = Some("nobody".into());
    pw.mode = 0o440;
    pw.path = Some(e.dir.path().join("etc/db-password"));
    e.spec(
        vec![pw, e.secret("powerdns/api-key", "powerdns/api-key")],
        vec![pdns_template()],
    )
}

#[test]
fn installs_with_owners_modes_templates_and_links() {
    let e = env();
    let r = install(&standard(&e)).unwrap();
    assert_eq!(e.link(), e.dir.path().join("secrets.d/1"));
    assert_eq!(r.generation, e.dir.path().join("secrets.d/1"));
    let root = e.dir.path().join("secrets");
    let pw = root.join("db/password");
    assert_eq!(std::fs::read_to_string(&pw).unwrap(), PASSWORD);
    let m = std::fs::metadata(&pw).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o440);
    let nobody = ox_user("nobody");
    assert_eq!(m.uid(), nobody.0);
    assert_eq!(
        m.gid(),
        nobody.1,
        "group defaults to the owner's primary group"
    );
    let ak = std::fs::metadata(root.join("powerdns/api-key")).unwrap();
    assert_eq!((ak.uid(), ak.mode() & 0o7777), (0, 0o400));
    // the seed's PowerDNS pattern
    let t = root.join("rendered/pdns.env");
    assert_eq!(
        std::fs::read_to_string(&t).unwrap(),
        format!("PDNS_API_KEY={API_KEY}\nOTHER=x\n")
    );
    assert_eq!(std::fs::metadata(&t).unwrap().mode() & 0o7777, 0o400);
    // the custom path is a symlink through /run/secrets
    let l = e.dir.path().join("etc/db-password");
    assert_eq!(std::fs::read_link(&l).unwrap(), root.join("db/password"));
    assert_eq!(std::fs::read_to_string(&l).unwrap(), PASSWORD);
    let dir_mode = std::fs::metadata(e.dir.path().join("secrets.d/1"))
        .unwrap()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o751);
    let mut added = r.added.clone();
    added.sort();
    assert_eq!(
        added,
        ["db/password", "powerdns/api-key", "rendered/pdns.env"]
    );
    assert!(r.changed.is_empty() && r.removed.is_empty());
    assert_eq!(r.restart_units, ["pdns.service"]);
    // no plaintext in the report
    let dbg = format!("{r:?}");
    assert!(!dbg.contains(PASSWORD) && !dbg.contains(API_KEY));
}

fn ox_user(name: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let l = passwd
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap();
    let f: Vec<&str> = l.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

#[test]
fn reports_changes_and_prunes_generations() {
    let e = env();
    let spec = standard(&e);
    install(&spec).unwrap();
    // same values: a new generation, nothing changed, the old one pruned
    let r = install(&spec).unwrap();
    assert_eq!(e.link(), e.dir.path().join("secrets.d/2"));
    assert!(
        r.added.is_empty() && r.changed.is_empty() && r.removed.is_empty(),
        "{r:?}"
    );
    assert!(r.restart_units.is_empty());
    assert!(!e.dir.path().join("secrets.d/1").exists());
    // a changed value: the secret and the template using it changed
    e.write_secrets(NEW_KEY);
    let r = install(&spec).unwrap();
    let mut changed = r.changed.clone();
    changed.sort();
    assert_eq!(changed, ["powerdns/api-key", "rendered/pdns.env"]);
    assert!(r.is_changed("rendered/pdns.env") && !r.is_changed("db/password"));
    assert_eq!(r.restart_units, ["pdns.service"]);
    assert_eq!(
        std::fs::read_to_string(e.dir.path().join("secrets/powerdns/api-key")).unwrap(),
        NEW_KEY
    );
    // a mode change counts as a change; a dropped secret is reported removed
    let mut spec2 = spec.clone();
    spec2.secrets.retain(|s| s.name != "powerdns/api-key");
    spec2.secrets[0].mode = 0o400;
    spec2.templates.clear();
    let r = install(&spec2).unwrap();
    assert_eq!(r.changed, ["db/password"]);
    let mut removed = r.removed.clone();
    removed.sort();
    assert_eq!(removed, ["powerdns/api-key", "rendered/pdns.env"]);
    // keep_generations = 2 keeps the previous one
    let mut spec3 = spec2.clone();
    spec3.keep_generations = 2;
    install(&spec3).unwrap();
    let mut gens: Vec<String> = std::fs::read_dir(e.dir.path().join("secrets.d"))
        .unwrap()
        .map(|d| d.unwrap().file_name().into_string().unwrap())
        .collect();
    gens.sort();
    assert_eq!(gens, ["4", "5"]);
}

/// Every failure: an error before anything is written, naming the
/// problem but never a secret value.
#[test]
fn failures_write_nothing_and_leak_nothing() {
    let e = env();
    install(&standard(&e)).unwrap();
    let before = e.link();
    let check = |spec: Spec, expect: &str| {
        let err = install(&spec).expect_err("must fail");
        let msg = format!("{err} / {err:?}");
        assert!(msg.contains(expect), "{msg}");
        for v in [PASSWORD, API_KEY, NEW_KEY] {
            assert!(!msg.contains(v), "plaintext in error: {msg}");
        }
        assert_eq!(e.link(), before, "symlink moved");
        assert!(
            !e.dir.path().join("secrets.d/2").exists(),
            "generation written"
        );
    };
    // a key that is not in the file
    let mut s = standard(&e);
    s.secrets.push(e.secret("missing", "db/nope"));
    check(s, "key 'db/nope' not found");
    // a key that is not a string
    let mut s = standard(&e);
    s.secrets.push(e.secret("port", "port"));
    check(s, "is not a string");
    // a map is not a string either (and its content must not leak)
    let mut s = standard(&e);
    s.secrets.push(e.secret("db-all", "db"));
    check(s, "is not a string");
    // no identity can open the file
    let mut s = standard(&e);
    let (other, _) = ox_sops::keygen();
    let other_key = e.dir.path().join("other.txt");
    std::fs::write(&other_key, other).unwrap();
    s.age_key_file = Some(other_key);
    check(s, "no identity can decrypt");
    // a tampered file
    let good = std::fs::read_to_string(&e.sops_file).unwrap();
    let port_line = good.lines().find(|l| l.starts_with("port:")).unwrap();
    let swapped = good.replace(port_line, &port_line.replace("port:", "port_unencrypted:"));
    let bad = e.dir.path().join("tampered.yaml");
    std::fs::write(&bad, swapped).unwrap();
    let mut s = standard(&e);
    let mut t = e.secret("t", "db/password");
    t.sops_file = bad;
    s.secrets.push(t);
    check(s, "tampered.yaml");
    // an unknown owner
    let mut s = standard(&e);
    s.secrets[1].owner = Some("no-such-user-ox".into());
    check(s, "unknown user 'no-such-user-ox'");
    // a name escaping the directory
    let mut s = standard(&e);
    s.secrets[1].name = "../escape".into();
    check(s, "must be a relative path");
    // no identity at all
    let mut s = standard(&e);
    s.age_key_file = None;
    check(s, "no identity");
}

#[test]
fn refuses_disk_and_mounts_tmpfs() {
    let e = env();
    // a directory on a real disk (the target dir is not a tmpfs)
    let disk = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut s = standard(&e);
    s.mount_point = disk.path().join("secrets.d");
    s.symlink = disk.path().join("secrets");
    let err = install(&s).expect_err("disk must be refused");
    assert!(err.to_string().contains("not on a tmpfs"), "{err}");
    // with mount_tmpfs (root only) a tmpfs is mounted there
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test needs root (CI runs as root)"
    );
    s.mount_tmpfs = true;
    struct Umount(PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _g = Umount(s.mount_point.clone());
    install(&s).unwrap();
    // a second install reuses the mount (no tmpfs stacked on top)
    install(&s).unwrap();
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let mp = s.mount_point.to_string_lossy().into_owned();
    let n = mounts
        .lines()
        .filter(|l| l.contains(&format!(" {mp} tmpfs ")))
        .count();
    assert_eq!(n, 1, "expected one tmpfs at {mp}");
    assert!(disk.path().join("secrets.d/2").exists());
    assert_eq!(
        std::fs::read_to_string(disk.path().join("secrets/db/password")).unwrap(),
        PASSWORD
    );
}

#[test]
fn check_needs_no_key() {
    let e = env();
    let spec = standard(&e);
    let mut no_key = spec.clone();
    no_key.age_key_file = None;
    ox_sops::install::check(&no_key).unwrap();
    let mut s = no_key.clone();
    s.secrets.push(e.secret("x", "db/missing"));
    let err = ox_sops::install::check(&s).unwrap_err();
    assert!(
        err.to_string().contains("key 'db/missing' not found"),
        "{err}"
    );
    let mut s = no_key.clone();
    s.secrets.push(e.secret("port", "port"));
    let err = ox_sops::install::check(&s).unwrap_err();
    assert!(err.to_string().contains("not an encrypted string"), "{err}");
    let mut s = no_key;
    let mut j = e.secret("j", "a");
    j.format = Format::Json;
    s.secrets.push(j);
    assert!(ox_sops::install::check(&s).is_err());
}

#[test]
fn dry_run_reports_without_writing() {
    let e = env();
    let spec = standard(&e);
    let r = ox_sops::install::dry_run(&spec).unwrap();
    assert_eq!(r.added.len(), 3);
    assert!(!e.dir.path().join("secrets").exists(), "dry run wrote");
    assert!(!e.dir.path().join("secrets.d").exists(), "dry run wrote");
    install(&spec).unwrap();
    e.write_secrets(NEW_KEY);
    let r = ox_sops::install::dry_run(&spec).unwrap();
    let mut changed = r.changed.clone();
    changed.sort();
    assert_eq!(changed, ["powerdns/api-key", "rendered/pdns.env"]);
    assert_eq!(r.restart_units, ["pdns.service"]);
    assert_eq!(e.link(), e.dir.path().join("secrets.d/1"));
    assert!(!e.dir.path().join("secrets.d/2").exists());
    // and fails like install does
    let mut bad = spec.clone();
    bad.secrets.push(e.secret("x", "db/missing"));
    assert!(ox_sops::install::dry_run(&bad).is_err());
}

/// Activation's dry run: owners it will create count as existing (their
/// files as changed), values come back for its users step, and
/// `uninstall` takes away what `install` put in place.
#[test]
fn dry_run_with_pending_owners_then_uninstall() {
    use ox_sops::install::{dry_run_with, uninstall, Missing};
    let e = env();
    let mut spec = standard(&e);
    install(&spec).unwrap();
    spec.secrets[1].owner = Some("no-such-user-ox".into());
    let name = spec.secrets[1].name.clone();
    let err = dry_run_with(&spec, Some(&|_: Missing| false)).unwrap_err();
    assert!(
        err.to_string().contains(
            "unknown user 'no-such-user-ox' (it neither exists on the host nor is declared)"
        ),
        "{err}"
    );
    let pending = |m: Missing| m == Missing::User("no-such-user-ox");
    let (r, values) = dry_run_with(&spec, Some(&pending)).unwrap();
    assert_eq!(r.changed, [name.as_str()], "{r:?}");
    assert!(r.added.is_empty() && r.removed.is_empty(), "{r:?}");
    let shown = format!("{values:?}");
    assert!(shown.contains(&name) && !shown.contains(NEW_KEY), "{shown}");
    assert_eq!(
        values.get(&name).unwrap(),
        std::fs::read(e.link().join(&name)).unwrap()
    );
    let mut names = uninstall(&spec, true).unwrap();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        e.dir.path().join("secrets").exists(),
        "dry uninstall removed"
    );
    assert_eq!(uninstall(&spec, false).unwrap().len(), 3);
    assert!(!e.dir.path().join("secrets").exists());
    assert!(!e.dir.path().join("secrets.d/1").exists());
    assert!(uninstall(&spec, false).unwrap().is_empty());
}
