//! `ox activate --root DIR` and the generation commands on a plain
//! directory (no systemd needed): profiles, rollback, gc, --ask.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use ox_activate::fixture::Fixture;
use ox_testhost::testsupport::Scratch;

struct Root {
    dir: Scratch,
}

fn root(tag: &str) -> Option<Root> {
    // SAFETY: plain syscall.
    if unsafe { libc_geteuid() } != 0 {
        eprintln!("SKIP: useradd --root needs root");
        return None;
    }
    let dir = Scratch::new(&format!("root-{tag}"));
    for d in ["root/etc", "store"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    for f in ["passwd", "group", "shadow", "gshadow", "login.defs"] {
        let _ = std::fs::copy(Path::new("/etc").join(f), dir.join("root/etc").join(f));
    }
    Some(Root { dir })
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

impl Root {
    fn put(&self, f: &Fixture) -> String {
        let store = self.dir.join("store");
        store
            .join(f.write(&store).unwrap())
            .to_string_lossy()
            .into_owned()
    }
    fn r(&self) -> String {
        self.dir.join("root").to_string_lossy().into_owned()
    }
    fn ox(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut c = Command::new(env!("CARGO_BIN_EXE_ox"))
            .args(args)
            .args(["--root", &self.r()])
            .env("OX_ASSUME_TTY", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let o = self.ox(args, "");
        let s = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "ox {args:?}: {s}");
        s
    }
    fn link(&self, p: &str) -> String {
        std::fs::read_link(self.dir.join("root").join(p))
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

fn gen(n: u32) -> Fixture {
    Fixture::new("r").etc("greeting", &format!("gen {n}\n"))
}

#[test]
fn generations_rollback_gc_and_ask() {
    let Some(r) = root("g") else { return };
    let ts: Vec<String> = (1..=4).map(|n| r.put(&gen(n))).collect();

    // --ask: "n" changes nothing, "y" switches
    let o = r.ox(&["switch", &ts[0], "--ask"], "n\n");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("would create /etc/greeting"), "{err}");
    assert!(!r.dir.join("root/etc/greeting").exists() && r.link("etc/greeting").is_empty());
    let o = r.ox(&["switch", &ts[0], "--ask"], "y\n");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(r.link("etc/greeting"), "/etc/ox-static/greeting");
    assert_eq!(r.link("etc/ox-static"), format!("{}/etc", ts[0]));

    // ox switch shows the diff against the running generation first
    let out = r.ok(&["switch", &ts[1]]);
    let diff_at = out.find("-gen 1").expect("diff of /etc/greeting shown");
    assert!(out[diff_at..].contains("+gen 2"), "{out}");
    assert!(diff_at < out.find("done:").unwrap(), "{out}");
    for t in &ts[2..] {
        r.ok(&["switch", t]);
    }
    // `test` activates without a new generation; `boot` only moves the default
    r.ok(&["test", &ts[0]]);
    assert_eq!(r.link("run/ox/current-system"), ts[0]);
    assert_eq!(r.link("ox/var/profiles/system"), "system-4-link");
    // like a Nix profile: a toplevel that is not the default gets a new number
    r.ok(&["boot", &ts[2]]);
    assert_eq!(r.link("ox/var/profiles/system"), "system-5-link");
    assert_eq!(
        r.link("run/ox/current-system"),
        ts[0],
        "boot must not activate"
    );
    r.ok(&["switch", &ts[3]]);
    assert_eq!(r.link("ox/var/profiles/system"), "system-6-link");
    r.ok(&["switch", &ts[3]]);
    assert_eq!(
        r.link("ox/var/profiles/system"),
        "system-6-link",
        "same toplevel, same generation"
    );

    let list = r.ok(&["generations"]);
    assert_eq!(
        list.lines().filter(|l| l.contains("ox-system-r")).count(),
        6,
        "{list}"
    );
    assert!(
        list.lines().nth(5).unwrap().contains("(current, default)"),
        "{list}"
    );

    r.ok(&["rollback"]);
    assert_eq!(r.link("etc/ox-static"), format!("{}/etc", ts[2]));
    assert_eq!(r.link("ox/var/profiles/system"), "system-5-link");
    r.ok(&["rollback", "--to", "1"]);
    assert_eq!(r.link("ox/var/profiles/system"), "system-1-link");
    assert_eq!(r.link("etc/ox-static"), format!("{}/etc", ts[0]));
    let o = r.ox(&["rollback", "--to", "9"], "");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("generation 9 does not exist"));

    // gc --keep 1: generation 1 is current and default, 6 is the newest
    let numbers = || ox_activate::profile::numbers(&ox_activate::Paths::new(&r.dir.join("root")));
    let out = r.ok(&["gc", "--keep", "1", "--dry-run"]);
    assert!(
        out.contains("would remove generation 2") && out.contains("would remove generation 5"),
        "{out}"
    );
    assert_eq!(numbers(), vec![1, 2, 3, 4, 5, 6]);
    r.ok(&["gc", "--keep", "1"]);
    assert_eq!(numbers(), vec![1, 6]);
    // --keep-since keeps young generations whatever --keep says
    r.ok(&["switch", &ts[1]]);
    let old = r.dir.join("root/ox/var/profiles/system-6-link");
    assert!(Command::new("touch")
        .args(["-h", "-d", "3 days ago"])
        .arg(&old)
        .status()
        .unwrap()
        .success());
    r.ok(&["gc", "--keep", "0", "--keep-since", "2d"]);
    assert_eq!(numbers(), vec![1, 7]);
}

#[test]
fn bad_toplevels_are_refused_clearly() {
    let Some(r) = root("b") else { return };
    let o = r.ox(&["switch", "/nonexistent-toplevel"], "");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/nonexistent-toplevel/activation.json") && err.contains("ox toplevel"),
        "{err}"
    );
    let t = r.put(&Fixture::new("r").etc_with(
        "bad",
        "x",
        "rw-r--r--",
        "root",
        "root",
        ox_activate::plan::OnConflict::Error,
    ));
    let o = r.ox(&["switch", &t], "");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("etc.`bad`.mode") && err.contains("octal"),
        "{err}"
    );
    let t = r.put(&Fixture::new("r").etc_with(
        "owned",
        "x",
        "0600",
        "nosuchuser",
        "root",
        ox_activate::plan::OnConflict::Error,
    ));
    let o = r.ox(&["switch", &t], "");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("user `nosuchuser`"), "{err}");
    assert!(!r.dir.join("root/ox/var/profiles/system").exists());
}

/// A rollback killed at any point: afterwards /etc and the profile agree
/// (both on the old or both on the new generation) and no generation
/// link is lost.
#[test]
fn killed_rollback_keeps_every_generation() {
    let Some(r) = root("k") else { return };
    let t1 = r.put(&gen(1));
    let t2 = r.put(&gen(2));
    r.ok(&["switch", &t1]);
    r.ok(&["switch", &t2]);
    for point in [
        "prepared",
        "users",
        "stopped",
        "flip-journaled",
        "flipped",
        "etc",
        "profile-link",
        "done",
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_ox"))
            .args(["rollback", "--root", &r.r()])
            .env("OX_ACTIVATE_FAULT", point)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{point}: the fault did not fire");
        r.ok(&["activate", "--recover"]);
        let numbers = ox_activate::profile::numbers(&ox_activate::Paths::new(&r.dir.join("root")));
        assert_eq!(numbers, vec![1, 2], "{point}: a generation link was lost");
        let state = (r.link("etc/ox-static"), r.link("ox/var/profiles/system"));
        let old = (format!("{t2}/etc"), "system-2-link".to_string());
        let new = (format!("{t1}/etc"), "system-1-link".to_string());
        assert!(state == old || state == new, "{point}: {state:?}");
        eprintln!(
            "rollback killed at {point}: {}",
            if state == new { "finished" } else { "undone" }
        );
        r.ok(&["rollback", "--to", "2"]);
    }
}

#[test]
fn switch_needs_a_toplevel_or_a_buildable_flake() {
    let Some(r) = root("f") else { return };
    let o = r.ox(&["switch"], "");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("TOPLEVEL"));
    // building is delegated to `ox build --flake`; its failure stops here
    let o = r.ox(&["switch", "--flake", "/nonexistent#nohost"], "");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.trim_end().ends_with("nothing was activated"), "{err}");
    assert!(!r.dir.join("root/ox/var/profiles").exists());
}

/// The very first activation killed before the flip: the host is left
/// as it was, except that the users it created are locked.
#[test]
fn killed_first_activation_is_undone() {
    let Some(r) = root("1") else { return };
    let t = r.put(&gen(1).normal_user("firstuser"));
    let o = Command::new(env!("CARGO_BIN_EXE_ox"))
        .args(["switch", &t, "--root", &r.r()])
        .env("OX_ACTIVATE_FAULT", "users")
        .output()
        .unwrap();
    assert!(!o.status.success());
    r.ok(&["activate", "--recover"]);
    assert!(r.link("etc/ox-static").is_empty());
    assert!(r.link("etc/greeting").is_empty());
    assert!(!r.dir.join("root/ox/var/profiles/system").exists());
    let shadow = std::fs::read_to_string(r.dir.join("root/etc/shadow")).unwrap();
    let line = shadow
        .lines()
        .find(|l| l.starts_with("firstuser:"))
        .expect("user kept");
    assert_eq!(line.split(':').nth(7), Some("1"), "not locked: {line}");
    // and the next switch goes through and unlocks it
    r.ok(&["switch", &t]);
    let shadow = std::fs::read_to_string(r.dir.join("root/etc/shadow")).unwrap();
    let line = shadow
        .lines()
        .find(|l| l.starts_with("firstuser:"))
        .unwrap();
    assert_eq!(line.split(':').nth(7), Some(""), "{line}");
}

/// `mutableUsers`: a declared password is applied on creation; later it
/// is enforced only when users are immutable.
#[test]
fn declared_passwords_follow_mutable_users() {
    let Some(r) = root("p") else { return };
    let hash = |h: &str| {
        let mut f = gen(1).user(ox_activate::plan::User {
            name: "pwuser".into(),
            is_normal_user: true,
            group: "users".into(),
            hashed_password: Some(h.into()),
            ..Default::default()
        });
        f = f.etc("pw", h);
        f
    };
    let shadow_pw = || {
        let s = std::fs::read_to_string(r.dir.join("root/etc/shadow")).unwrap();
        s.lines()
            .find(|l| l.starts_with("pwuser:"))
            .and_then(|l| l.split(':').nth(1))
            .unwrap()
            .to_string()
    };
    r.ok(&["switch", &r.put(&hash("$6$one"))]);
    assert_eq!(shadow_pw(), "$6$one");
    // the user changes it; a mutable config does not put it back
    r.ok(&["switch", &r.put(&hash("$6$two"))]);
    assert_eq!(shadow_pw(), "$6$one");
    let t = r.put(&hash("$6$three"));
    let p = std::path::Path::new(&t).join("activation.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["mutableUsers"] = false.into();
    std::fs::write(&p, v.to_string()).unwrap();
    r.ok(&["switch", &t]);
    assert_eq!(shadow_pw(), "$6$three");
}
