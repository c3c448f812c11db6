//! Host builds end to end: `ox build HOSTS --host NAME` evaluates the
//! NixOS-style modules in `nix/modules` (with ox's own lib), renders the
//! toplevel and registers it in a scratch store; activation's loader
//! reads the result; `ox diff` and `ox option` work on it; bad hosts fail
//! before anything reaches the store. Fixtures: tests/system/hosts/.

use std::path::{Path, PathBuf};
use std::process::Command;

use ox_testhost::testsupport::{ox_command, repo, text};

fn hosts_dir() -> PathBuf {
    repo().join("tests/system/hosts")
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn ox(store_root: &Path, args: &[&str]) -> Run {
    // OX_TEST_NIX: another <ox> tree, e.g. one whose lib is nixpkgs' own
    let nix = std::env::var_os("OX_TEST_NIX")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("nix"));
    let mut c = ox_command(Path::new(env!("CARGO_BIN_EXE_ox")));
    c.args(args);
    if args[0] != "diff" {
        c.arg("-I").arg(format!("ox={}", nix.display()));
    }
    let out = c
        .current_dir(hosts_dir())
        .env("OX_STORE_ROOT", store_root)
        .env("OX_STATE_DIR", store_root.join("state"))
        .output()
        .expect("running ox");
    Run {
        ok: out.status.success(),
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
    }
}

/// Builds `host`, returns (logical store path, physical path).
fn build(root: &Path, host: &str, link: &Path) -> (String, PathBuf) {
    let r = ox(
        root,
        &[
            "build",
            "hosts.nix",
            "--host",
            host,
            "--out-link",
            link.to_str().unwrap(),
        ],
    );
    assert!(r.ok, "building {host} failed:\n{}", r.stderr);
    let logical = r.stdout.lines().last().unwrap().trim().to_string();
    // named after networking.hostName (srv2 is a variant of srv)
    let name = host.trim_end_matches('2');
    assert!(
        logical.ends_with(&format!("-ox-system-{name}")),
        "{logical}"
    );
    let physical = root.join(logical.trim_start_matches('/'));
    assert!(physical.join("activation.json").is_file());
    assert_eq!(std::fs::read_link(link).unwrap().to_str().unwrap(), logical);
    (logical, physical)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn store_names(root: &Path) -> Vec<String> {
    let d = root.join("ox/store");
    let mut v: Vec<String> = std::fs::read_dir(&d)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn server_toplevel_has_etc_units_and_a_plan_activation_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (_, t) = build(root, "srv", &root.join("result"));

    // units as NixOS renders them, with job scripts in their own paths
    let web = read(&t.join("etc/systemd/system/web.service"));
    assert!(web.starts_with("[Unit]\nAfter=network.target\nX-Restart-Triggers=/ox/store/"));
    assert!(web.contains(
        "[Service]\nExecStart=/usr/bin/git daemon --base-path=/srv/git\nRestart=on-failure\n"
    ));
    assert!(web.ends_with("\n[Install]\nWantedBy=multi-user.target\n"));
    assert_eq!(
        std::fs::read_link(t.join("etc/systemd/system/multi-user.target.wants/web.service"))
            .unwrap()
            .to_str(),
        Some("../web.service")
    );
    let backup = read(&t.join("etc/systemd/system/backup.service"));
    let exec = backup
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let script = root.join(exec.trim().trim_start_matches('/'));
    assert_eq!(
        read(&script),
        "#!/bin/bash\nset -e\n\necho \"backing up (v1)\"\n\n"
    );
    let timer = read(&t.join("etc/systemd/system/backup.timer"));
    assert!(timer.contains("[Timer]\nOnCalendar=*-*-* 03:15:00\n"));

    // generated /etc files
    assert_eq!(read(&t.join("etc/hostname")), "srv\n");
    assert!(read(&t.join("etc/hosts")).contains("127.0.1.1 srv.lan srv\n"));
    assert!(read(&t.join("etc/fstab")).contains(
        "/dev/disk/by-label/root / ext4 defaults 0 1\n/dev/mapper/data /srv xfs noatime 0 2\n"
    ));
    assert_eq!(
        read(&t.join("etc/crypttab")),
        "data /dev/vdb /etc/keys/data.key luks\n"
    );
    assert_eq!(
        read(&t.join("etc/motd")),
        read(&hosts_dir().join("files/motd"))
    );
    let sshd = read(&t.join("etc/ssh/sshd_config"));
    assert!(sshd.contains("Port 22\nPort 2222\n") && sshd.contains("PasswordAuthentication no\n"));
    // sshd must read the keys activation writes to authorized_keys.d
    assert!(
        sshd.contains(
            "\nAuthorizedKeysFile %h/.ssh/authorized_keys /etc/ssh/authorized_keys.d/%u\n"
        ),
        "{sshd}"
    );
    assert!(read(&t.join("etc/sudoers.d/ox")).contains("%wheel ALL=(ALL:ALL) NOPASSWD: ALL"));

    // the plan, through activation's own loader
    let top = ox_activate::plan::Toplevel::load(&t).expect("activation loads the toplevel");
    let p = &top.plan;
    assert_eq!(p.host_name, "srv");
    assert!(!p.mutable_users);
    let names: Vec<&str> = p.packages.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["git", "htop", "openssh-server", "sudo"]);
    assert!(p.packages.iter().all(|x| x.version.is_some()));
    let ops = p.users.iter().find(|u| u.name == "ops").unwrap();
    assert_eq!(ops.group, "users");
    assert_eq!(ops.extra_groups, ["wheel"]);
    assert_eq!(ops.authorized_keys.len(), 1);
    assert!(p.groups.iter().any(|g| g.name == "wheel"));
    assert_eq!(p.tmpfiles, ["d /srv/git 0755 root root -"]);
    let sudoers = p.etc.iter().find(|e| e.target == "sudoers.d/ox").unwrap();
    assert_eq!(sudoers.mode, "0440");
    // sops-nix options → the secrets list (ox-sops' manifest entries),
    // the encrypted file copied to the store
    let m = p.secrets.0.as_ref().expect("a secrets manifest");
    let secrets = &m.secrets;
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    assert_eq!(secrets[0].name, "db/password");
    assert_eq!(secrets[0].owner.as_deref(), Some("backup"));
    assert_eq!(secrets[0].restart_units[0], "backup.service");
    let sops_file = &secrets[0].sops_file;
    assert!(sops_file.starts_with("/ox/store/") && sops_file.ends_with("-secrets.yaml"));
    assert_eq!(
        m.templates[0].content,
        format!(
            "PASSWORD=<SOPS:{}:PLACEHOLDER>\n",
            "4c4bafe61f052e13a786eaf8b0a7ee0af7c39c5ccade2b24c9fbea4914962b9d"
        )
    );
    // the toplevel's references are valid store paths
    let m: serde_json::Value = serde_json::from_str(&read(&t.join("ox-system.json"))).unwrap();
    assert_eq!(m["stateVersion"], "25.05");
    for r in m["references"].as_array().unwrap() {
        assert!(root
            .join(r.as_str().unwrap().trim_start_matches('/'))
            .exists());
    }
}

/// The /etc files a stock Debian host has: the list the modules use
/// (nix/modules/misc/debian-etc.nix) and, when the test hosts' bookworm
/// rootfs is cached on this machine, the files really in it.
fn debian_etc_files() -> (Vec<String>, Option<Vec<String>>) {
    let list: Vec<String> = read(&repo().join("nix/modules/misc/debian-etc.nix"))
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix('"')?
                .strip_suffix('"')
                .map(String::from)
        })
        .collect();
    let etc = Path::new("/var/cache/ox-test/bookworm-v1/etc");
    let rootfs = etc.is_dir().then(|| {
        let mut v = Vec::new();
        let mut stack = vec![etc.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let ft = e.file_type().unwrap();
                if ft.is_dir() {
                    stack.push(e.path());
                } else {
                    v.push(e.path().strip_prefix(etc).unwrap().display().to_string());
                }
            }
        }
        v
    });
    (list, rootfs)
}

#[test]
fn files_debian_ships_are_backed_up_not_refused() {
    let (list, rootfs) = debian_etc_files();
    assert!(list.iter().any(|f| f == "motd") && list.iter().any(|f| f == "issue"));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (_, t) = build(root, "srv", &root.join("result"));
    let plan: serde_json::Value = serde_json::from_str(&read(&t.join("activation.json"))).unwrap();
    let etc = plan["etc"].as_array().unwrap();
    let conflict = |target: &str| {
        etc.iter()
            .find(|e| e["target"] == target)
            .unwrap_or_else(|| panic!("no /etc/{target} in the plan"))["onConflict"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // environment.etc.motd without onConflict: Debian's copy is moved aside
    assert_eq!(conflict("motd"), "backup");
    // a file Debian does not ship keeps the default "error"
    assert_eq!(conflict("ox/version"), "error");
    assert_eq!(conflict("ssh/sshd_config"), "replace");
    // no entry the modules produce may refuse the first switch on a
    // stock host because Debian already has the file
    let mut shipped: Vec<&String> = list.iter().collect();
    if let Some(r) = &rootfs {
        shipped.extend(r.iter());
    } else {
        eprintln!("note: no cached bookworm rootfs; checking against the list only");
    }
    for e in etc {
        let target = e["target"].as_str().unwrap();
        if shipped.iter().any(|f| f.as_str() == target) {
            assert_ne!(
                e["onConflict"], "error",
                "/etc/{target} is shipped by Debian but the plan says onConflict = error"
            );
        }
    }
    // the list covers the rootfs, except the files deliberately left out
    if let Some(r) = rootfs {
        const NEVER: [&str; 14] = [
            "passwd",
            "passwd-",
            "group",
            "group-",
            "shadow",
            "shadow-",
            "gshadow",
            "gshadow-",
            ".pwd.lock",
            "machine-id",
            "mtab",
            "ld.so.cache",
            "subuid",
            "subgid",
        ];
        for f in r {
            let skipped = NEVER.contains(&f.as_str())
                || f == "resolv.conf"
                || f.starts_with("alternatives/")
                || f.starts_with("sv/ssh/.meta/")
                || (f.starts_with("rc") && f.as_bytes().get(3) == Some(&b'.'));
            assert!(
                skipped || list.contains(&f),
                "/etc/{f} is in the bookworm rootfs but not in nix/modules/misc/debian-etc.nix"
            );
        }
    }
}

#[test]
fn desktop_home_manager_with_gconfig() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (_, t) = build(root, "desk", &root.join("result"));
    let unit = read(&t.join("home/manu/.config/systemd/user/emacs-daemon.service"));
    assert_eq!(
        unit,
        "[Install]\nWantedBy=graphical-session.target\n\n[Service]\nExecStart=/usr/bin/emacs --fg-daemon\nRestart=on-failure\nType=notify\n\n[Unit]\nAfter=graphical-session.target\nDescription=Emacs Daemon\n"
    );
    assert!(t
        .join("home/manu/.config/systemd/user/graphical-session.target.wants/emacs-daemon.service")
        .symlink_metadata()
        .is_ok());
    assert_eq!(
        read(&t.join("etc/crypttab")),
        "games /dev/disk/by-uuid/0292b609 /etc/luks-keys/games.key luks\n"
    );
    // store-built packages: built during `ox build`, linked into
    // ~/.local/bin and /etc/ox/sw/bin (which /etc/profile.d/ox.sh adds to PATH)
    for (link, name) in [
        ("home/manu/.local/bin/emacsedit", "emacsedit"),
        ("etc/ox/sw/bin/hello-ox", "hello-ox"),
    ] {
        let target = std::fs::read_link(t.join(link)).unwrap();
        let target = target.to_str().unwrap();
        assert!(
            target.starts_with("/ox/store/") && target.ends_with(&format!("/bin/{name}")),
            "{target}"
        );
        assert!(
            root.join(target.trim_start_matches('/')).is_file(),
            "{target} not built"
        );
    }
    assert!(read(&t.join("etc/profile.d/ox.sh")).contains("/etc/ox/sw/bin:$PATH"));

    let top = ox_activate::plan::Toplevel::load(&t).unwrap();
    let home = &top.plan.home[0];
    assert_eq!(home.user, "manu");
    let order: Vec<&str> = home.activation.iter().map(|a| a.name.as_str()).collect();
    let pos = |n: &str| order.iter().position(|x| *x == n).unwrap();
    assert!(pos("writeBoundary") < pos("emacs-config"), "{order:?}");
    assert_eq!(home.session_variables["EDITOR"], "emacsclient");
    assert!(top.plan.packages.iter().any(|p| p.name == "emacs"));
    // nixpkgs.overlays reach the package set
    let htop = top.plan.packages.iter().find(|p| p.name == "htop").unwrap();
    assert_eq!(htop.version.as_deref(), Some("3.2.2-2+local1"));
}

#[test]
fn same_inputs_same_path_and_diff_shows_the_change() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (a, pa) = build(root, "srv", &root.join("r1"));
    let (a2, _) = build(root, "srv", &root.join("r2"));
    assert_eq!(a, a2);
    let (b, pb) = build(root, "srv2", &root.join("r3"));
    assert_ne!(a, b);

    let r = ox(root, &["diff", pa.to_str().unwrap(), pb.to_str().unwrap()]);
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains("Packages:\n  + curl\n"), "{}", r.stdout);
    assert!(r.stdout.contains("~ system/backup.service"), "{}", r.stdout);
    assert!(
        r.stdout.contains("-v1\n") && r.stdout.contains("+v2\n"),
        "{}",
        r.stdout
    );
    // inside the changed job script of backup.service
    assert!(r.stdout.contains("in bin/backup-start:"), "{}", r.stdout);
    assert!(
        r.stdout.contains("-echo \"backing up (v1)\"")
            && r.stdout.contains("+echo \"backing up (v2)\""),
        "{}",
        r.stdout
    );
    let r = ox(
        root,
        &["diff", "--json", pa.to_str().unwrap(), pb.to_str().unwrap()],
    );
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["packages"]["added"][0], "curl");
    assert_eq!(j["etc"]["changed"][0]["path"], "ox/version");
}

#[test]
fn bad_hosts_fail_before_anything_is_built() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cases: [(&str, &[&str]); 5] = [
        (
            "bad-shape",
            &["host `bad-shape` in", "is not an evaluated host: expected what"],
        ),
        (
            "bad-conflict",
            &[
                "The option `systemd.services.web.serviceConfig.User' has conflicting definition values:",
                "bad-conflict.nix:4",
                "bad-conflict-other.nix:2",
            ],
        ),
        (
            "bad-assert",
            &[
                "host `bad-assert`: failed assertions:",
                "users.users.nogroup.group is unset",
            ],
        ),
        (
            "bad-type",
            &[
                "systemd.services.web.wantedBy",
                "is not of type `list of string'",
                "bad-type.nix:3",
            ],
        ),
        (
            "bad-option",
            &[
                "The option `services.opensshd' does not exist",
                "bad-option.nix",
                "Did you mean `services.openssh'?",
            ],
        ),
    ];
    for (host, wants) in cases {
        let r = ox(
            root,
            &["build", "hosts.nix", "--host", host, "--no-out-link"],
        );
        assert!(!r.ok, "{host} built");
        for w in wants {
            assert!(
                r.stderr.contains(w),
                "{host}: missing {w:?} in\n{}",
                r.stderr
            );
        }
    }
    assert!(
        !store_names(root).iter().any(|n| n.contains("ox-system")),
        "{:?}",
        store_names(root)
    );
    let r = ox(root, &["build", "hosts.nix", "--host", "nope"]);
    assert!(
        r.stderr.contains("host `nope` is not defined"),
        "{}",
        r.stderr
    );
}

#[test]
fn option_shows_value_type_declaration_and_definition() {
    let tmp = tempfile::tempdir().unwrap();
    let r = ox(
        tmp.path(),
        &["option", "--host", "srv", "services.openssh.ports"],
    );
    assert!(r.ok, "{}", r.stderr);
    let o = &r.stdout;
    assert!(o.contains("Value:\n  [\n    22,\n    2222\n  ]\n"), "{o}");
    assert!(o.contains("Type: list of 16 bit unsigned integer"), "{o}");
    assert!(o.contains("nix/modules/services/openssh.nix:"), "{o}");
    // every definition with file:line (the line of `ports = …` in the fixture)
    let src = std::fs::read_to_string(hosts_dir().join("srv.nix")).unwrap();
    let line = src
        .lines()
        .position(|l| l.trim_start().starts_with("ports = [ 22 2222 ]"))
        .expect("srv.nix defines services.openssh.ports")
        + 1;
    assert!(
        o.contains(&format!("srv.nix:{line} (priority 100):\n")),
        "{o}"
    );
    let r = ox(
        tmp.path(),
        &[
            "option",
            "--host",
            "srv",
            "--json",
            "systemd.services.backup.startAt",
        ],
    );
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["value"]["value"][0], "*-*-* 03:15:00");
    assert_eq!(j["parent"], "systemd.services");
    let r = ox(
        tmp.path(),
        &["option", "--host", "srv", "networking.hostNam"],
    );
    assert!(!r.ok);
    assert!(r.stderr.contains("Did you mean hostName?"), "{}", r.stderr);
}

#[test]
fn build_all_builds_the_good_hosts_and_names_the_bad_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let link = root.join("res");
    let r = ox(
        root,
        &["build", "hosts.nix", "--all", "-o", link.to_str().unwrap()],
    );
    assert!(!r.ok);
    assert!(
        r.stderr.contains(
            "error: failed to build: bad-assert, bad-conflict, bad-option, bad-shape, bad-type\n"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("srv: built in"), "{}", r.stderr);
    for h in ["srv", "srv2", "desk", "svc"] {
        let l = root.join(format!("res-{h}"));
        let target = std::fs::read_link(&l).unwrap_or_else(|e| panic!("{}: {e}", l.display()));
        assert!(
            r.stdout.contains(&format!("{h} {}", target.display())),
            "{}",
            r.stdout
        );
    }
}

#[test]
fn flake_hosts_build_with_ox_lib_ox_system() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    // a copy: locking writes flake.lock next to flake.nix
    let flake = tmp.path().join("flake");
    std::fs::create_dir_all(&flake).unwrap();
    for f in ["flake.nix", "host.nix"] {
        std::fs::copy(repo().join("tests/system/flake").join(f), flake.join(f)).unwrap();
    }
    let target = format!("{}#alpha", flake.display());
    let link = tmp.path().join("res");
    let r = ox(
        &root,
        &["build", "--flake", &target, "-o", link.to_str().unwrap()],
    );
    assert!(r.ok, "{}", r.stderr);
    let logical = r.stdout.lines().last().unwrap().trim().to_string();
    assert!(logical.ends_with("-ox-system-alpha"), "{logical}");
    let t = root.join(logical.trim_start_matches('/'));
    assert_eq!(read(&t.join("etc/ox/role")), "web\n");
    assert!(t.join("etc/systemd/system/web.service").is_file());

    let r = ox(
        &root,
        &[
            "build",
            "--flake",
            flake.to_str().unwrap(),
            "--all",
            "-o",
            link.to_str().unwrap(),
        ],
    );
    assert!(r.ok, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("alpha {logical}")),
        "{}",
        r.stdout
    );
    let beta = std::fs::read_link(tmp.path().join("res-beta")).unwrap();
    let tb = root.join(beta.to_str().unwrap().trim_start_matches('/'));
    assert_eq!(read(&tb.join("etc/ox/role")), "db\n");
}

#[test]
fn example_fleet_builds_every_host_from_its_flake() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    // a copy: locking writes flake.lock next to flake.nix
    let fleet = tmp.path().join("homelab");
    let cp = Command::new("cp")
        .arg("-a")
        .arg(repo().join("examples/homelab"))
        .arg(&fleet)
        .status()
        .unwrap();
    assert!(cp.success());
    let r = ox(
        &root,
        &[
            "build",
            "--flake",
            fleet.to_str().unwrap(),
            "--all",
            "--no-out-link",
        ],
    );
    assert!(r.ok, "{}\n{}", r.stdout, r.stderr);
    let built: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(built.len(), 12, "{}", r.stdout);
    // the seed's itw: LUKS root from ox.boot.cryptPart plus the games
    // volume from environment.etc.crypttab, in one /etc/crypttab
    let itw = built.iter().find(|l| l.starts_with("itw ")).unwrap();
    let t = root.join(itw.split_once(' ').unwrap().1.trim_start_matches('/'));
    let crypttab = read(&t.join("etc/crypttab"));
    assert!(
        crypttab.starts_with("crypt /dev/disk/by-label/crypt-root none luks\ngames "),
        "{crypttab}"
    );
    // schere: the PowerDNS secret and its template in the plan
    let schere = built.iter().find(|l| l.starts_with("schere ")).unwrap();
    let t = root.join(schere.split_once(' ').unwrap().1.trim_start_matches('/'));
    let plan: serde_json::Value = serde_json::from_str(&read(&t.join("activation.json"))).unwrap();
    let names: Vec<&str> = plan["secrets"]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    // the fleet-wide admin password hash and schere's own API key
    assert_eq!(names, ["ops/password-hash", "powerdns/api-key"]);
    assert_eq!(plan["secrets"]["templates"][0]["owner"], "pdns");
    // every host's packages come from the fleet's committed ox.lock
    // (lib.oxSystem reads it), at the locked versions
    let lock: serde_json::Value = serde_json::from_str(&read(&fleet.join("ox.lock"))).unwrap();
    let mut seen = 0;
    for line in &built {
        let t = root.join(line.split_once(' ').unwrap().1.trim_start_matches('/'));
        let plan: serde_json::Value =
            serde_json::from_str(&read(&t.join("activation.json"))).unwrap();
        for p in plan["packages"].as_array().unwrap() {
            let name = p["name"].as_str().unwrap();
            let locked = &lock["packages"][name]["version"];
            assert!(locked.is_string(), "{line}: {name} is not in ox.lock");
            assert_eq!(&p["version"], locked, "{line}: {name}");
            seen += 1;
        }
    }
    assert!(seen > 12, "{seen}");
    // the emacs daemon runs the locked emacs-gtk through its store path
    let unit = read(
        &root
            .join(itw.split_once(' ').unwrap().1.trim_start_matches('/'))
            .join("home/manu/.config/systemd/user/emacs-daemon.service"),
    );
    let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert!(
        exec.starts_with("ExecStart=/ox/store/") && exec.contains("-emacs-gtk-"),
        "{unit}"
    );
    assert!(exec.ends_with("/bin/emacs-gtk --fg-daemon"), "{unit}");
}

/// Builds `host` of tests/system/hosts/locked.nix; (logical, physical).
fn build_locked(root: &Path, host: &str) -> (String, PathBuf) {
    let r = ox(
        root,
        &["build", "locked.nix", "--host", host, "--no-out-link"],
    );
    assert!(r.ok, "building {host} failed:\n{}", r.stderr);
    let logical = r.stdout.lines().last().unwrap().trim().to_string();
    let physical = root.join(logical.trim_start_matches('/'));
    (logical, physical)
}

#[test]
fn locked_debian_packages_are_store_paths_and_activation_lists_their_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let lock: serde_json::Value =
        serde_json::from_str(&read(&repo().join("examples/homelab/ox.lock"))).unwrap();
    let git = &lock["packages"]["git"];
    let version = git["version"].as_str().unwrap();
    assert!(version.starts_with("1:2."), "{version}");

    let (top, phys) = build_locked(root, "locked");
    let unit = read(&phys.join("etc/systemd/system/mirror.service"));
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or_else(|| panic!("no ExecStart in\n{unit}"));
    // "${pkgs.git}/bin/git": a store path named after the locked version
    let clean = version.replace([':', '~'], "_");
    let (git_out, rest) = exec.split_once("/bin/git ").unwrap();
    assert!(git_out.starts_with("/ox/store/"), "{exec}");
    assert!(git_out.ends_with(&format!("-git-{clean}")), "{exec}");
    assert_eq!(rest, "daemon --base-path=/srv/git");
    // built: bin/git links to the host's /usr/bin/git, and the identity
    // file records the lock's version and .deb hash
    let git_phys = root.join(git_out.trim_start_matches('/'));
    assert_eq!(
        std::fs::read_link(git_phys.join("bin/git")).unwrap(),
        Path::new("/usr/bin/git")
    );
    assert_eq!(
        read(&git_phys.join("nix-support/debian-package")).trim(),
        format!("git {version} {}", git["sha256"].as_str().unwrap())
    );
    // the toplevel refers to it
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&phys.join("ox-system.json"))).unwrap();
    let refs = manifest["references"].as_array().unwrap();
    assert!(refs.iter().any(|r| r == git_out), "{refs:?}");

    // activation.json: the locked versions, for a derivation and a name
    let plan: serde_json::Value =
        serde_json::from_str(&read(&phys.join("activation.json"))).unwrap();
    let pkgs = plan["packages"].as_array().unwrap();
    for name in ["git", "curl", "htop"] {
        let p = pkgs
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {pkgs:?}"));
        assert_eq!(p["version"], lock["packages"][name]["version"], "{name}");
        assert_eq!(p["sha256"], lock["packages"][name]["sha256"], "{name}");
    }

    // the same lock as a path gives the same system
    let (by_path, _) = build_locked(root, "byPath");
    assert_eq!(by_path, top);

    // another locked git version: another git path, another toplevel,
    // and activation installs that version
    let (bumped, bphys) = build_locked(root, "bumped");
    assert_ne!(bumped, top);
    let bunit = read(&bphys.join("etc/systemd/system/mirror.service"));
    assert!(
        bunit.contains("-git-1_2.39.5-0+deb12u99/bin/git daemon"),
        "{bunit}"
    );
    let bplan: serde_json::Value =
        serde_json::from_str(&read(&bphys.join("activation.json"))).unwrap();
    let bgit = bplan["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "git")
        .unwrap()
        .clone();
    assert_eq!(bgit["version"], "1:2.39.5-0+deb12u99");
}
