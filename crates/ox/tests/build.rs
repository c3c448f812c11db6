//! `ox build` and `ox store` end to end, each test in its own fresh store
//! root (`--store-root`), so they run in parallel and never touch /ox.
//!
//! - `tests/build/<case>.nix` + `<case>.exp`: the built output trees
//!   (data-driven; `OX_BLESS=1` rewrites the .exp files), built in two
//!   fresh roots that must agree byte for byte, and whose paths must be
//!   the ones C++ Nix computes (`nix-instantiate`, skipped without it
//!   unless `CI` is set).
//! - sandbox: no network, no undeclared paths, no writes outside `$out`.
//! - a killed build leaves no valid path; `--check`; gc and roots.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ox_testhost::testsupport::{repo, Scratch};

/// A fresh store root and working directory, deleted on drop.
struct Root {
    dir: Scratch,
}

impl Root {
    fn new(tag: &str) -> Root {
        let dir = Scratch::new(&format!("build-test-{tag}"));
        fs::create_dir_all(dir.join("work")).unwrap();
        Root { dir }
    }
    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }
    fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    /// Physical location of a logical store path.
    fn real(&self, logical: &str) -> PathBuf {
        self.root().join(logical.trim_start_matches('/'))
    }
    fn ox(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run ox")
    }
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ox"));
        let (first, rest) = args.split_first().expect("a subcommand");
        c.arg(first);
        if *first == "store" {
            c.arg(rest[0]).arg("--store-root").arg(self.root());
            c.args(&rest[1..]);
        } else if *first == "eval" || *first == "pkgs" {
            c.args(rest);
        } else {
            c.arg("--store-root").arg(self.root()).args(rest);
        }
        c.current_dir(self.work())
            .env("NO_COLOR", "1")
            .env_remove("NIX_PATH")
            .env_remove("OX_STORE_DIR")
            .env_remove("OX_STATE_DIR")
            .env_remove("OX_STORE_ROOT");
        c
    }
    fn build(&self, args: &[&str]) -> Vec<String> {
        let mut a = vec!["build", "-I"];
        let inc = format!("ox={}", repo().join("nix").display());
        a.push(&inc);
        a.extend_from_slice(args);
        let o = self.ox(&a);
        assert!(
            o.status.success(),
            "ox {:?} failed:\n{}",
            a,
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|s| s.to_string())
            .collect()
    }
}

/// A listing of a tree: type, mode, relative path, and contents or link
/// target, in name order.
fn render(p: &Path, rel: &str, out: &mut String) {
    let md = fs::symlink_metadata(p).unwrap();
    let mode = md.permissions().mode() & 0o777;
    if md.file_type().is_symlink() {
        out.push_str(&format!(
            "link {rel} -> {}\n",
            fs::read_link(p).unwrap().display()
        ));
    } else if md.is_dir() {
        out.push_str(&format!("dir  {mode:o} {rel}\n"));
        let mut names: Vec<_> = fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for n in names {
            let r = format!("{rel}/{}", n.to_string_lossy());
            render(&p.join(&n), &r, out);
        }
    } else {
        let data = fs::read(p).unwrap();
        out.push_str(&format!("file {mode:o} {rel}\n"));
        for l in String::from_utf8_lossy(&data).lines() {
            out.push_str(&format!("  | {l}\n"));
        }
    }
}

fn have_nix() -> bool {
    let ok = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "nix-instantiate is required under CI"
        );
        eprintln!("SKIP: nix-instantiate not found; oracle comparison not run");
    }
    ok
}

/// Out paths C++ Nix computes for `expr` with store dir /ox/store.
fn nix_out_paths(work: &Path, expr: &str) -> Vec<String> {
    let state = work.join("nix-state");
    fs::create_dir_all(&state).unwrap();
    let o = Command::new("nix-instantiate")
        .args(["--readonly-mode", "--eval", "--strict", "--json", "-I"])
        .arg(format!("ox={}", repo().join("nix").display()))
        .arg("-E")
        .arg(expr)
        .current_dir(work)
        .env("NIX_STORE_DIR", "/ox/store")
        .env("NIX_STATE_DIR", &state)
        .env("NIX_LOG_DIR", state.join("log"))
        .env_remove("NIX_PATH")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "nix-instantiate: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = String::from_utf8(o.stdout).unwrap();
    s.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .filter(|x| !x.is_empty())
        .map(|x| x.trim_matches('"').to_string())
        .collect()
}

#[test]
fn build_cases_match_expected_trees_two_roots_and_nix() {
    let dir = repo().join("tests/build");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nix"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    let bless = std::env::var_os("OX_BLESS").is_some();
    let nix = have_nix();
    let mut failures = Vec::new();
    for case in &cases {
        let file = case.to_string_lossy().into_owned();
        let (a, b) = (Root::new("case-a"), Root::new("case-b"));
        let pa = a.build(&["--no-out-link", &file]);
        let pb = b.build(&["--no-out-link", &file]);
        assert_eq!(pa, pb, "{file}: paths differ between two fresh roots");
        let mut ta = String::new();
        let mut tb = String::new();
        for p in &pa {
            ta.push_str(&format!("== {p}\n"));
            render(&a.real(p), ".", &mut ta);
            tb.push_str(&format!("== {p}\n"));
            render(&b.real(p), ".", &mut tb);
        }
        assert_eq!(ta, tb, "{file}: bytes differ between two fresh roots");
        if nix {
            let expr = format!(
                "let v = import {file}; in map (d: d.outPath) (if builtins.isList v then v else if v.type or null == \"derivation\" then [ v ] else builtins.attrValues v)"
            );
            let want = nix_out_paths(&a.work(), &expr);
            assert_eq!(pa, want, "{file}: paths differ from C++ Nix");
            // The .drv files ox wrote are the ones Nix would write.
            let drvs = nix_out_paths(&a.work(), &expr.replace("d.outPath", "d.drvPath"));
            for d in drvs {
                let info = a.ox(&["store", "path-info", &d]);
                assert!(info.status.success(), "{file}: {d} not in ox's store");
            }
        }
        let exp = case.with_extension("exp");
        if bless {
            fs::write(&exp, &ta).unwrap();
        } else {
            let want = fs::read_to_string(&exp).unwrap_or_default();
            if want != ta {
                failures.push(format!("{file}:\n--- expected\n{want}\n--- got\n{ta}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn tcp_listener() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    (l, port)
}

/// A process derivation running `script` with the host toolchain.
fn run_command(name: &str, script: &str) -> String {
    format!(
        "(import <ox/pkgs> {{}}).runCommand \"{name}\" {{}} ''\n{}\n''",
        script.replace("''", "'''")
    )
}

#[test]
fn sandbox_has_no_network() {
    let r = Root::new("net");
    let (l, port) = tcp_listener();
    // The builder succeeds either way and reports what happened, so a
    // refused connection cannot be confused with a broken builder.
    let expr = run_command(
        "net",
        &format!(
            "if (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; then echo connected > $out; else echo blocked > $out; fi\nip=$(cat /proc/net/dev | grep -c : || true); echo \"interfaces $ip\" >> $out"
        ),
    );
    let out = r.build(&["--no-out-link", "-E", &expr]);
    let text = fs::read_to_string(r.real(&out[0])).unwrap();
    assert!(text.starts_with("blocked\n"), "{text}");
    // Only the loopback device exists in the build's network namespace.
    assert!(text.contains("interfaces 1"), "{text}");
    assert!(l.accept().is_err(), "the listener saw a connection");
}

#[test]
fn sandbox_cannot_read_undeclared_paths() {
    let r = Root::new("read");
    let secret = r.dir.join("secret.txt");
    fs::write(&secret, "s3cret").unwrap();
    // A valid store path that is not an input of the derivation.
    let added = r.ox(&["store", "add", secret.to_str().unwrap()]);
    assert!(added.status.success());
    let store_secret = String::from_utf8_lossy(&added.stdout).trim().to_string();
    assert!(r.real(&store_secret).exists());
    let expr = run_command(
        "read",
        &format!(
            "for p in {} {store_secret} /etc/shadow /root /home; do if cat $p >/dev/null 2>&1 || ls $p >/dev/null 2>&1; then echo \"read $p\"; else echo \"denied $p\"; fi; done > $out",
            secret.display()
        ),
    );
    let out = r.build(&["--no-out-link", "-E", &expr]);
    let text = fs::read_to_string(r.real(&out[0])).unwrap();
    assert!(!text.contains("read "), "{text}");
    assert_eq!(text.matches("denied ").count(), 5, "{text}");
    // Declared as an input (string context) the same path is readable.
    let expr2 = format!(
        "let p = builtins.storePath \"{store_secret}\"; in {}",
        run_command("read2", "cat ${p} > $out")
    );
    let o = r.ox(&[
        "build",
        "-I",
        &format!("ox={}", repo().join("nix").display()),
        "--no-out-link",
        "-E",
        &expr2,
    ]);
    if o.status.success() {
        let p = String::from_utf8_lossy(&o.stdout).trim().to_string();
        assert_eq!(fs::read_to_string(r.real(&p)).unwrap(), "s3cret");
    } else {
        // builtins.storePath is impure in pure evaluation; fine.
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("storePath"), "{e}");
    }
}

#[test]
fn sandbox_cannot_write_outside_out() {
    let r = Root::new("write");
    let input = r.build(&[
        "--no-out-link",
        "-E",
        "(import <ox/pkgs> {}).writeText \"in\" \"x\"",
    ]);
    let expr = format!(
        "let i = (import <ox/pkgs> {{}}).writeText \"in\" \"x\"; in {}",
        run_command(
            "write",
            "mkdir $out\nfor p in /usr/ox-evil /bin/ox-evil /ox-evil ${i}-evil /etc/ox-evil; do if echo x > $p 2>/dev/null; then echo \"wrote $p\" >> $out/log; else echo \"denied $p\" >> $out/log; fi; done\nif echo x >> ${i} 2>/dev/null; then echo wrote-input >> $out/log; fi"
        )
    );
    let out = r.build(&["--no-out-link", "-E", &expr]);
    let log = fs::read_to_string(r.real(&out[0]).join("log")).unwrap();
    for p in ["/usr/ox-evil", "/bin/ox-evil", "/ox-evil", "/etc/ox-evil"] {
        assert!(log.contains(&format!("denied {p}")), "{log}");
        assert!(!Path::new(p).exists(), "{p} appeared on the host");
    }
    assert!(!log.contains("wrote-input"), "{log}");
    // Whatever the builder left next to $out in its store view is gone.
    let evil = format!("{}-evil", input[0]);
    assert!(!r.real(&evil).exists());
    assert_eq!(fs::read_to_string(r.real(&input[0])).unwrap(), "x");
}

#[test]
fn killed_build_leaves_no_valid_path() {
    let r = Root::new("kill");
    let expr = run_command(
        "slow",
        "mkdir $out\necho partial > $out/a\nsleep 600\necho done > $out/b",
    );
    let inc = format!("ox={}", repo().join("nix").display());
    let mut child = r
        .cmd(&["build", "-I", &inc, "--no-out-link", "-E", &expr])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the builder has written part of its output.
    let store = r.root().join("ox/store");
    let t0 = Instant::now();
    let partial = loop {
        let found = fs::read_dir(&store).ok().and_then(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(".ox-tmp-"))
                .find_map(|e| {
                    fs::read_dir(e.path().join("store")).ok().and_then(|s| {
                        s.flatten()
                            .find(|x| x.path().join("a").exists())
                            .map(|x| x.file_name().to_string_lossy().into_owned())
                    })
                })
        });
        if let Some(f) = found {
            break f;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the builder never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let out_path = format!("/ox/store/{partial}");
    // Not valid, not at its final name.
    let info = r.ox(&["store", "path-info", &out_path]);
    assert!(!info.status.success());
    assert!(!r.real(&out_path).exists());
    // The sandboxed builder died with its parent.
    std::thread::sleep(Duration::from_millis(300));
    let ps = Command::new("pgrep").args(["-f", "sleep 600"]).output();
    if let Ok(ps) = ps {
        let pids = String::from_utf8_lossy(&ps.stdout).trim().to_string();
        let ours: Vec<&str> = pids
            .lines()
            .filter(|pid| {
                fs::read_to_string(format!("/proc/{pid}/environ"))
                    .map(|e| e.contains(&partial))
                    .unwrap_or(false)
            })
            .collect();
        assert!(ours.is_empty(), "builder still running: {ours:?}");
    }
    // The store still works, and gc removes the scratch left-overs.
    let ok = r.build(&[
        "--no-out-link",
        "-E",
        "(import <ox/pkgs> {}).writeText \"after\" \"fine\"",
    ]);
    assert_eq!(fs::read_to_string(r.real(&ok[0])).unwrap(), "fine");
    let gc = r.ox(&["store", "gc"]);
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    let left: Vec<_> = fs::read_dir(&store)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".ox-tmp-"))
        .collect();
    assert!(left.is_empty());
}

#[test]
fn check_reports_non_reproducible_outputs() {
    let r = Root::new("check");
    let inc = format!("ox={}", repo().join("nix").display());
    let stable = run_command("stable", "echo same > $out");
    let random = run_command("random", "head -c 16 /dev/urandom | od -x > $out");
    r.build(&["--no-out-link", "-E", &stable]);
    r.build(&["--no-out-link", "-E", &random]);
    let o = r.ox(&["build", "-I", &inc, "--check", "-E", &stable]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = r.ox(&["build", "-I", &inc, "--check", "-E", &random]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("may not be deterministic"), "{e}");
}

#[test]
fn gc_keeps_what_roots_reach() {
    let r = Root::new("gc");
    let expr = "let p = import <ox/pkgs> {}; a = p.writeText \"a\" \"A\"; in p.writeText \"b\" \"see ${a}\"";
    let kept = r.build(&["-E", expr]);
    let loose = r.build(&[
        "--no-out-link",
        "-E",
        "(import <ox/pkgs> {}).writeText \"loose\" \"L\"",
    ]);
    assert_eq!(
        fs::read_link(r.work().join("result")).unwrap(),
        PathBuf::from(&kept[0])
    );
    // A generation under the profiles directory is a root too.
    let gen = r.build(&[
        "--no-out-link",
        "-E",
        "(import <ox/pkgs> {}).writeText \"gen\" \"G\"",
    ]);
    let profiles = r.root().join("ox/var/profiles");
    std::os::unix::fs::symlink(&gen[0], profiles.join("system-1-link")).unwrap();
    std::os::unix::fs::symlink("system-1-link", profiles.join("system")).unwrap();

    let o = r.ox(&["store", "gc"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(r.real(&kept[0]).exists());
    assert!(r.real(&gen[0]).exists());
    assert!(!r.real(&loose[0]).exists());
    // b's reference a survives with it.
    let info = r.ox(&["store", "path-info", "-r", "result"]);
    assert!(info.status.success());
    let listed = String::from_utf8_lossy(&info.stdout);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    for l in listed.lines() {
        let p = l.split('\t').next().unwrap();
        assert!(r.real(p).exists(), "{p} was collected");
    }
    // Dropping the result link frees b and a.
    fs::remove_file(r.work().join("result")).unwrap();
    let o = r.ox(&["store", "gc"]);
    assert!(o.status.success());
    assert!(!r.real(&kept[0]).exists());
    assert!(r.real(&gen[0]).exists());
    let v = r.ox(&["store", "verify"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}

#[test]
fn verify_reports_corruption() {
    let r = Root::new("verify");
    let p = r.build(&[
        "--no-out-link",
        "-E",
        "(import <ox/pkgs> {}).writeTextDir \"etc/x.conf\" \"good\"",
    ]);
    let f = r.real(&p[0]).join("etc/x.conf");
    fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&f, "evil").unwrap();
    let v = r.ox(&["store", "verify"]);
    assert!(!v.status.success());
    let e = String::from_utf8_lossy(&v.stderr);
    assert!(e.contains(&p[0]) && e.contains("corrupt"), "{e}");
}

#[test]
fn formats_types_check_option_values() {
    let r = Root::new("types");
    let inc = format!("ox={}", repo().join("nix").display());
    let file = repo().join("tests/pkgs/formats-types.nix");
    let o = r.ox(&["eval", "--strict", "-I", &inc, file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "{ ini = { s = { a = 1; b = \"x\"; }; }; json = { a = [ 1 { b = null; } ]; c = \"s\"; }; kv = { a = [ \"1\" \"2\" ]; b = true; }; merged = { a = 1; b = 2; }; toml = { a = { b = [ 1 2 ]; }; }; }\n"
    );
    // A list in an INI section without listsAsDuplicateKeys is a type error.
    let bad = "let pkgs = import <ox/pkgs> {}; lib = pkgs.lib; in (lib.evalModules { modules = [ { options.x = lib.mkOption { type = (pkgs.formats.ini {}).type; }; config.x.s.a = [ 1 ]; } ]; }).config.x";
    let o = r.ox(&["eval", "--strict", "-I", &inc, "-E", bad]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("is not of type"), "{e}");
}

/// Builds a tiny .deb with dpkg-deb (no network, no apt).
fn make_deb(dir: &Path, name: &str, version: &str) -> PathBuf {
    let pkg = dir.join(format!("{name}-pkg"));
    fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
    fs::create_dir_all(pkg.join("usr/bin")).unwrap();
    fs::create_dir_all(pkg.join("usr/share/doc").join(name)).unwrap();
    fs::write(
        pkg.join("DEBIAN/control"),
        format!("Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: ox tests <ox@example.invalid>\nDescription: test package\n"),
    )
    .unwrap();
    fs::write(pkg.join("usr/bin").join(name), "#!/bin/sh\necho tool\n").unwrap();
    fs::set_permissions(
        pkg.join("usr/bin").join(name),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fs::write(pkg.join("usr/share/doc").join(name).join("README"), "r\n").unwrap();
    let deb = dir.join(format!("{name}.deb"));
    let o = Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&pkg)
        .arg(&deb)
        .output()
        .expect("dpkg-deb");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    deb
}

#[test]
fn debian_packages_from_the_lock() {
    let r = Root::new("deb");
    let deb = make_deb(&r.dir, "oxtool", "1:2.0~rc1-3");
    let o = r.ox(&["pkgs", "add", "--deb", deb.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lock = fs::read_to_string(r.work().join("ox.lock")).unwrap();
    assert!(lock.contains("\"version\": \"1:2.0~rc1-3\""), "{lock}");
    assert!(lock.contains("\"/usr/bin/oxtool\""), "{lock}");
    let expr = "let pkgs = import <ox/pkgs> { debianLock = ./ox.lock; }; in pkgs.writeText \"uses\" \"${pkgs.oxtool}/bin/oxtool ${pkgs.oxtool.debian.version}\"";
    let out = r.build(&["--no-out-link", "-E", expr]);
    let text = fs::read_to_string(r.real(&out[0])).unwrap();
    let pkg_path = text.split("/bin/oxtool").next().unwrap().to_string();
    assert!(pkg_path.ends_with("-oxtool-1_2.0_rc1-3"), "{text}");
    assert!(text.ends_with(" 1:2.0~rc1-3"), "{text}");
    let real = r.real(&pkg_path);
    assert_eq!(
        fs::read_link(real.join("bin/oxtool")).unwrap(),
        PathBuf::from("/usr/bin/oxtool")
    );
    assert_eq!(
        fs::read_link(real.join("share/doc/oxtool/README")).unwrap(),
        PathBuf::from("/usr/share/doc/oxtool/README")
    );
    let sha = lock
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"sha256\": \""))
        .unwrap()
        .trim_end_matches("\",");
    assert_eq!(
        fs::read_to_string(real.join("nix-support/debian-package")).unwrap(),
        format!("oxtool 1:2.0~rc1-3 {sha}\n")
    );
    // A package missing from the lock is an evaluation error naming it.
    let o = r.ox(&[
        "build",
        "-I",
        &format!("ox={}", repo().join("nix").display()),
        "-E",
        "(import <ox/pkgs> { debianLock = ./ox.lock; }).oxtoool",
    ]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("attribute 'oxtoool' missing"), "{e}");
    assert!(e.contains("Did you mean oxtool?"), "{e}");
}

#[test]
fn unknown_apt_packages_get_suggestions() {
    if Command::new("apt-cache").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "apt-cache needed under CI"
        );
        return;
    }
    let r = Root::new("apt");
    let o = r.ox(&["pkgs", "add", "coreutlis"]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("'coreutlis' is not a package apt knows"), "{e}");
    assert!(e.contains("coreutils"), "{e}");
    assert!(!r.work().join("ox.lock").exists());
}

#[test]
fn concurrent_builds_of_the_same_paths_agree() {
    let r = Root::new("concurrent");
    let inc = format!("ox={}", repo().join("nix").display());
    let expr = "let p = import <ox/pkgs> {}; in map (i: p.runCommand \"c-${toString i}\" {} \"sleep 0.2; echo ${toString i} > $out\") [ 1 2 3 4 ] ++ [ (p.writeText \"t\" \"t\") ]";
    let children: Vec<_> = (0..3)
        .map(|_| {
            r.cmd(&["build", "-I", &inc, "--no-out-link", "-E", expr])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for o in &outs {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.stdout, outs[0].stdout);
    }
    let v = r.ox(&["store", "verify"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
}

#[test]
fn failures_name_the_derivation_and_show_the_log() {
    let r = Root::new("fail");
    let inc = format!("ox={}", repo().join("nix").display());
    // A process builder failing: exit code and the log's last lines.
    let o = r.ox(&[
        "build",
        "-I",
        &inc,
        "-E",
        &run_command("boom", "echo 'something went boom' >&2; exit 3"),
    ]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("boom.drv' failed: exit code 3"), "{e}");
    assert!(e.contains("something went boom"), "{e}");
    // An in-process builder failing in a batch fails alone: the other
    // derivations of the batch become valid.
    let expr = "let p = import <ox/pkgs> {}; in [ (p.writeText \"ok-1\" \"1\") (p.replaceVars (builtins.toFile \"t\" \"@x@ @y@\") { x = \"X\"; }) (p.writeText \"ok-2\" \"2\") ]";
    let o = r.ox(&["build", "-I", &inc, "--no-out-link", "-E", expr]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("@y@") && e.contains("was not replaced"), "{e}");
    // Building them alone now builds nothing: they were registered.
    let o = r.ox(&[
        "build",
        "-I",
        &inc,
        "--no-out-link",
        "-E",
        "let p = import <ox/pkgs> {}; in [ (p.writeText \"ok-1\" \"1\") (p.writeText \"ok-2\" \"2\") ]",
    ]);
    assert!(o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!e.contains("building"), "{e}");
    for p in String::from_utf8_lossy(&o.stdout).lines() {
        assert!(r.real(p).exists());
    }
}

#[test]
fn functions_are_called_with_defaults_and_args() {
    let r = Root::new("fn");
    let f = r.work().join("f.nix");
    fs::write(
        &f,
        "{ n ? 2, s ? \"x\" }: (import <ox/pkgs> {}).writeText \"f-${toString n}-${s}\" s",
    )
    .unwrap();
    let a = r.build(&["--no-out-link", "f.nix"]);
    assert!(a[0].ends_with("-f-2-x"), "{a:?}");
    let b = r.build(&[
        "--no-out-link",
        "f.nix",
        "--arg",
        "n",
        "3",
        "--argstr",
        "s",
        "y",
    ]);
    assert!(b[0].ends_with("-f-3-y"), "{b:?}");
}

#[test]
fn builtin_builders_cannot_escape_their_inputs() {
    let r = Root::new("escape");
    let inc = format!("ox={}", repo().join("nix").display());
    for expr in [
        "let p = import <ox/pkgs> {}; in p.copyPath \"x\" \"${p.writeText \"a\" \"a\"}/../../../../etc/passwd\"",
        "let p = import <ox/pkgs> {}; in p.copyPath \"x\" \"/etc/passwd\"",
        "let p = import <ox/pkgs> {}; in p.linkFarm \"x\" [ { name = \"../escape\"; path = \"/etc\"; } ]",
    ] {
        let o = r.ox(&["build", "-I", &inc, "--no-out-link", "-E", expr]);
        assert!(!o.status.success(), "{expr} built");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            e.contains("must not contain")
                || e.contains("is not in the store")
                || e.contains("must be a relative path"),
            "{e}"
        );
    }
    assert!(!r.root().join("ox/escape").exists());
}

#[test]
fn drv_paths_build_directly() {
    let r = Root::new("drvpath");
    // Instantiate by building once, then find the .drv in the store.
    let out = r.build(&[
        "--no-out-link",
        "-E",
        "(import <ox/pkgs> {}).writeText \"d\" \"d\"",
    ]);
    let store = r.root().join("ox/store");
    let drv = fs::read_dir(&store)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with("-d.drv"))
        .unwrap();
    let drv = format!("/ox/store/{drv}");
    // Collect the output (no root), then build it from the .drv alone.
    let o = r.ox(&["store", "gc"]);
    assert!(o.status.success());
    assert!(!r.real(&out[0]).exists());
    let o = r.ox(&["build", "--no-out-link", &drv]);
    assert!(
        !o.status.success(),
        "the .drv was collected too, so this must fail"
    );
    let out = r.build(&["-E", "(import <ox/pkgs> {}).writeText \"d\" \"d\""]);
    let o = r.ox(&["build", "-o", "again", &drv]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), out[0]);
    assert_eq!(
        fs::read_link(r.work().join("again")).unwrap(),
        PathBuf::from(&out[0])
    );
}
