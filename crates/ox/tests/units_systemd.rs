//! The units ox renders, run by a real systemd: host `svc` of
//! tests/system/hosts is built into a scratch store, the store is copied
//! into a Debian bookworm container (ox-testhost), the toplevel's unit
//! entries are linked into /etc/systemd/system as activation links them,
//! and systemd must accept (`systemd-analyze verify`) and run them: job
//! scripts with their environment and PATH, pre/post steps, a `startAt`
//! timer, a socket-activated template, a target, a masked unit, and a
//! `pkgs.writeShellScript` ExecStart reading a `pkgs.writeText` /etc file
//! (both built by the store's builders during `ox build`).

use std::path::Path;
use std::process::Command;

use ox_testhost::testsupport::{expect_ok, ox_command, ox_search_path, repo};
use ox_testhost::{Host, HostOpts};

#[test]
fn rendered_units_run_under_real_systemd() {
    if let Some(why) = ox_testhost::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let out = ox_command(Path::new(env!("CARGO_BIN_EXE_ox")))
        .args(["build", "hosts.nix", "--host", "svc", "--no-out-link"])
        .args(ox_search_path())
        .current_dir(repo().join("tests/system/hosts"))
        .env("OX_STORE_ROOT", root)
        .env("OX_STATE_DIR", root.join("state"))
        .output()
        .unwrap();
    expect_ok("ox build", &out);
    let top = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(top.starts_with("/ox/store/"), "{top}");

    // ox-testhost sometimes takes a transient nspawn child for the
    // container leader and then waits for nothing (reported); retry
    let mut host = None;
    let mut errors = Vec::new();
    for _ in 0..3 {
        match Host::boot(HostOpts {
            prefix: "oxunits".into(),
            boot_timeout: Some(std::time::Duration::from_secs(30)),
            ..Default::default()
        }) {
            Ok(h) => {
                host = Some(h);
                break;
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let host = host.unwrap_or_else(|| panic!("boot failed 3 times: {errors:?}"));

    // the scratch store becomes the guest's /ox/store
    let guest_store = host.path("/ox/store");
    std::fs::create_dir_all(&guest_store).unwrap();
    let cp = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", root.join("ox/store").display()))
        .arg(&guest_store)
        .status()
        .unwrap();
    assert!(cp.success());

    // link every unit entry as activation does (mode "symlink")
    let plan: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            root.join(top.trim_start_matches('/'))
                .join("activation.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut script = String::from("set -e\n");
    for e in plan["etc"].as_array().unwrap() {
        let t = e["target"].as_str().unwrap();
        if t.starts_with("systemd/system/") || t == "greeting" {
            script.push_str(&format!(
                "mkdir -p \"$(dirname /etc/{t})\"; ln -sfn '{top}/etc/{t}' '/etc/{t}'\n"
            ));
        }
    }
    script.push_str("systemctl daemon-reload\n");
    host.sh_ok(&script).expect("linking units");

    let verify = host
        .sh("cd /etc/systemd/system && systemd-analyze verify hello.service tick.service tick.timer echo.socket fleet.target 2>&1")
        .unwrap();
    let vout = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "systemd-analyze verify:\n{vout}");

    // a script service with preStart/postStart, environment and PATH
    host.sh_ok("systemctl start fleet.target").unwrap();
    assert_eq!(host.unit_state("hello.service"), "active");
    assert_eq!(
        host.sh_ok("cat /run/hello/out").unwrap(),
        "hi \"there\" from hello-start\n"
    );
    let path = host.sh_ok("cat /run/hello/path").unwrap();
    assert!(
        path.starts_with("/usr/bin:/usr/sbin:/usr/local/sbin:"),
        "{path}"
    );
    // (/run is the guest's tmpfs, not visible through host.path)
    host.sh_ok("test -e /run/hello/post")
        .expect("postStart ran");
    assert_eq!(
        host.sh_ok("systemctl is-enabled hello.service")
            .unwrap()
            .trim(),
        "enabled"
    );

    // startAt: the timer is installed and its service runs
    host.sh_ok("systemctl start tick.timer && systemctl start tick.service")
        .unwrap();
    assert_eq!(host.unit_state("tick.timer"), "active");
    assert_eq!(host.sh_ok("cat /run/tick").unwrap(), "tick\n");

    // socket activation of the echo@ template
    host.sh_ok("systemctl start echo.socket").unwrap();
    let echoed = host
        .sh_ok("exec 3<>/dev/tcp/127.0.0.1/7777; echo ping >&3; read -t 5 line <&3; echo \"$line\"")
        .unwrap();
    assert_eq!(echoed.trim(), "ping");

    // a unit and an /etc file that are store paths built from the config
    host.sh_ok("systemctl start greet.service").unwrap();
    assert_eq!(host.sh_ok("cat /run/greet").unwrap(), "built by ox\n");

    // enable = false masks the unit
    let masked = host.sh("systemctl is-enabled masked.service").unwrap();
    assert_eq!(String::from_utf8_lossy(&masked.stdout).trim(), "masked");
}
