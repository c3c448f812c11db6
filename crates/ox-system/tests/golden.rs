//! Golden tests: `tests/system/<case>/config.json` (an evaluated host
//! config, `@CASE@` standing for the case directory) rendered must equal
//! `tests/system/<case>/expected/` — the toplevel under `toplevel/`, each
//! extra store path under `extra/<base name>`. Bad configs in
//! `tests/system/errors/<name>.json` must fail with `<name>.err`.
//! `OX_BLESS=1` rewrites the expected trees (review the diff!).

use std::path::{Path, PathBuf};

use ox_system::{render, Extra, Node, Options, Tree};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/system")
}

fn opts() -> Options {
    Options {
        store_dir: "/ox/store".into(),
        ox_version: "0.0.0-test".into(),
        system: "x86_64-linux".into(),
        references: Default::default(),
        store_root: "/".into(),
    }
}

fn load(case: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(case.join("config.json")).unwrap();
    let text = text.replace("@CASE@", &case.display().to_string());
    serde_json::from_str(&text).unwrap()
}

/// The expected tree: toplevel plus extras, as one tree.
fn rendered_tree(case: &Path) -> Tree {
    // store-built packages of a case live below <case>/store
    let o = Options {
        store_root: case.join("store"),
        ..opts()
    };
    let r = render(&load(case), &o).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
    let mut all = Tree::new();
    for (p, n) in &r.toplevel.entries {
        all.insert(&format!("toplevel/{p}"), n.clone(), "t")
            .unwrap();
    }
    for (p, e) in &r.extra {
        let base = p.rsplit('/').next().unwrap();
        match e {
            Extra::File { data, executable } => all
                .insert(
                    &format!("extra/{base}"),
                    Node::File {
                        data: data.clone(),
                        executable: *executable,
                    },
                    "t",
                )
                .unwrap(),
            Extra::Dir(t) => {
                for (q, n) in &t.entries {
                    all.insert(&format!("extra/{base}/{q}"), n.clone(), "t")
                        .unwrap();
                }
            }
        }
    }
    let top = r.toplevel_path("/ox/store").unwrap();
    all.file("toplevel-path", format!("{top}\n"), "t").unwrap();
    all
}

fn show(n: &Node) -> String {
    match n {
        Node::File { data, executable } => format!(
            "{}{}",
            if *executable { "(executable) " } else { "" },
            String::from_utf8_lossy(data)
        ),
        Node::Symlink(t) => format!("symlink -> {t}"),
    }
}

#[test]
fn golden_cases() {
    let bless = std::env::var_os("OX_BLESS").is_some();
    let mut n = 0;
    let mut failures = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(cases_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("config.json").exists())
        .collect();
    dirs.sort();
    for case in dirs {
        n += 1;
        let got = rendered_tree(&case);
        let exp_dir = case.join("expected");
        if bless {
            let _ = std::fs::remove_dir_all(&exp_dir);
            got.write_to(&exp_dir).unwrap();
            // keep the checkout writable
            let _ = std::process::Command::new("chmod")
                .arg("-R")
                .arg("u+w")
                .arg(&exp_dir)
                .status();
            continue;
        }
        let want = Tree::read_from(&exp_dir).unwrap();
        for (p, n) in &got.entries {
            match want.entries.get(p) {
                None => failures.push(format!("{}: unexpected {p}:\n{}", case.display(), show(n))),
                Some(w) if w != n => failures.push(format!(
                    "{}: {p} differs\n--- expected\n{}\n--- got\n{}",
                    case.display(),
                    show(w),
                    show(n)
                )),
                _ => {}
            }
        }
        for p in want.entries.keys() {
            if !got.entries.contains_key(p) {
                failures.push(format!("{}: missing {p}", case.display()));
            }
        }
    }
    assert!(n >= 2, "no golden cases found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn bad_configs_fail_with_option_and_expectation() {
    let dir = cases_dir().join("errors");
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        n += 1;
        let cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        let want = std::fs::read_to_string(p.with_extension("err")).unwrap();
        match render(&cfg, &opts()) {
            Ok(_) => panic!("{}: rendered, expected an error", p.display()),
            Err(e) => assert_eq!(e.to_string(), want.trim_end(), "{}", p.display()),
        }
    }
    assert!(n >= 5);
}

#[test]
fn same_config_same_path_and_a_change_changes_it() {
    let case = cases_dir().join("server");
    let cfg = load(&case);
    let a = render(&cfg, &opts())
        .unwrap()
        .toplevel_path("/ox/store")
        .unwrap();
    let b = render(&cfg, &opts())
        .unwrap()
        .toplevel_path("/ox/store")
        .unwrap();
    assert_eq!(a, b);
    let mut cfg2 = cfg.clone();
    cfg2["systemd"]["services"]["backup"]["script"] = "restic backup /srv".into();
    let c = render(&cfg2, &opts())
        .unwrap()
        .toplevel_path("/ox/store")
        .unwrap();
    assert_ne!(
        a, c,
        "a changed job script must change the toplevel (via its reference)"
    );
}

/// Writes a rendered toplevel and its extra paths below `root` (a
/// stand-in store; the real one is ox-localstore's, used by `ox build`).
fn install(r: &ox_system::Rendered, root: &Path) -> String {
    let on_disk = |p: &str| root.join(p.trim_start_matches('/'));
    for (p, e) in &r.extra {
        let d = on_disk(p);
        if !d.exists() {
            std::fs::create_dir_all(d.parent().unwrap()).unwrap();
            e.write_to(&d).unwrap();
        }
    }
    let top = r.toplevel_path("/ox/store").unwrap();
    r.toplevel.write_to(&on_disk(&top)).unwrap();
    top
}

#[test]
fn diff_of_two_toplevels() {
    let root = tempfile::tempdir().unwrap();
    let case = cases_dir().join("server");
    let cfg = load(&case);
    let r1 = render(&cfg, &opts()).unwrap();
    let p1 = install(&r1, root.path());
    let mut cfg2 = cfg.clone();
    cfg2["networking"]["hostName"] = "brunnen".into();
    cfg2["environment"]["systemPackages"][1]["version"] = "1:2.47.0-1".into();
    cfg2["environment"]["systemPackages"][2] =
        serde_json::json!({ "name": "curl", "version": "7.88.1-10+deb12u15" });
    cfg2["users"]["users"]["alice"]["extraGroups"] = serde_json::json!(["wheel", "audio"]);
    cfg2["systemd"]["services"]["pdns"]["serviceConfig"]["Restart"] = "always".into();
    cfg2["environment"]["etc"]["ssh/sshd_config"]["text"] =
        "Port 2222\nPasswordAuthentication no\n".into();
    cfg2["secrets"] = serde_json::json!({
        "secrets": [{ "name": "db/password", "key": "db/password", "format": "yaml", "mode": "0400",
                      "sopsFile": "/ox/store/00000000000000000000000000000000-s.yaml" }],
        "templates": [], "secretsMountPoint": "/run/secrets.d", "symlinkPath": "/run/secrets",
        "keepGenerations": 1, "sshKeyPaths": ["/etc/ssh/ssh_host_ed25519_key"], "useTmpfs": true
    });
    let r2 = render(&cfg2, &opts()).unwrap();
    let p2 = install(&r2, root.path());
    assert_ne!(p1, p2);
    let on_disk = |p: &str| root.path().join(p.trim_start_matches('/'));
    assert!(on_disk(&p1).join("activation.json").is_file());
    for e in r1.extra.keys() {
        assert!(on_disk(e).exists(), "{e} not installed");
    }
    let d = ox_system::diff::diff(&on_disk(&p1), &on_disk(&p2)).unwrap();
    assert_eq!(d.packages.added, vec!["curl"]);
    assert_eq!(d.packages.removed, vec!["sudo"]);
    assert_eq!(d.packages.changed[0].name, "git");
    assert_eq!(d.units.changed.len(), 1);
    assert_eq!(d.units.changed[0].path, "system/pdns.service");
    assert!(d.units.changed[0]
        .diff
        .contains("-Restart=on-failure\n+Restart=always"));
    assert_eq!(d.etc.changed.len(), 1);
    assert!(d.etc.changed[0].diff.contains("-Port 22\n+Port 2222"));
    assert_eq!(d.users.changed[0].name, "alice");
    assert_eq!(d.secrets.added, vec!["db/password"]);
    let text = d.render(false);
    assert!(
        text.contains("~ git 1:2.39.5-0+deb12u2 -> 1:2.47.0-1"),
        "{text}"
    );
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["packages"]["added"][0], "curl");
}
