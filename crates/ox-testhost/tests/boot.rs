//! The harness itself: two hosts boot real systemd side by side, run
//! commands, keep their changes to themselves, and vanish on drop.

use ox_testhost::{Host, HostOpts};

#[test]
fn two_hosts_boot_and_vanish() {
    if let Some(why) = ox_testhost::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    let a = Host::boot(HostOpts::default()).expect("boot a");
    let b = Host::boot(HostOpts::default()).expect("boot b");
    assert_eq!(a.sh_ok("cat /proc/1/comm").unwrap().trim(), "systemd");
    // commands enter the guest through its PID 1, nothing else
    assert!(ox_testhost::is_guest_init(a.leader()));
    assert!(ox_testhost::is_guest_init(b.leader()));
    assert_eq!(
        a.sh_ok("stat -fc %T /sys/fs/cgroup").unwrap().trim(),
        "cgroup2fs"
    );
    a.sh_ok("useradd -m probe && touch /etc/only-in-a").unwrap();
    assert!(a.path("/etc/only-in-a").exists());
    assert!(!b.path("/etc/only-in-a").exists());
    assert!(b.sh("getent passwd probe").unwrap().stdout.is_empty());
    // a transient service really runs under the guest's systemd
    a.sh_ok("systemd-run --unit=probe-svc sleep 300").unwrap();
    assert_eq!(a.unit_state("probe-svc.service"), "active");
    let dir = a.root().parent().unwrap().to_path_buf();
    drop(a);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert_eq!(b.unit_state("probe-svc.service"), "inactive");
}

/// Leader detection must not take a process that is merely called
/// `systemd` (nspawn's short-lived children are, around their exec)
/// for the guest's init: only PID 1 of its own pid namespace counts.
#[test]
fn a_process_named_systemd_is_not_a_guest_init() {
    let dir = std::env::temp_dir().join(format!("oxt-leader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("systemd");
    let _ = std::fs::remove_file(&fake);
    std::os::unix::fs::symlink("/bin/sleep", &fake).unwrap();
    let mut child = std::process::Command::new(&fake).arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    // wait for the exec (comm changes with it), up to 5 s
    let mut named = false;
    for _ in 0..500 {
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "systemd")
        {
            named = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let verdict = ox_testhost::is_guest_init(pid);
    let found = ox_testhost::find_guest_init(std::process::id() as i32);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(named, "the stand-in never ran as `systemd`");
    assert!(
        !verdict,
        "a child called systemd was taken for a guest init"
    );
    assert_eq!(found, None);
    // and this test process is no container's init either
    assert!(!ox_testhost::is_guest_init(std::process::id() as i32));
}

/// The deploy tests' shape: a host in its own network namespace on a
/// bridge, reachable over SSH with a generated key.
#[test]
fn ssh_host_in_a_network_namespace() {
    if let Some(why) = ox_testhost::unavailable() {
        eprintln!("SKIP: {why}");
        return;
    }
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("oxt-ssh-{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("id");
    assert!(std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap()
        .success());
    // an address block of its own per test process
    let net = 100 + (pid % 100);
    let ns = ox_testhost::Netns::create(
        &format!("oxt-{pid}"),
        &format!("oxtbr{}", pid % 100000),
        &format!("10.233.{net}.1/24"),
        &format!("10.233.{net}.10/24"),
        &format!("10.233.{net}.1"),
    )
    .expect("netns");
    let host = Host::boot(HostOpts {
        network: ox_testhost::Network::Namespace(ns.path()),
        root_authorized_keys: Some(std::fs::read_to_string(key.with_extension("pub")).unwrap()),
        ..HostOpts::default()
    })
    .expect("boot");
    let mut ok = false;
    for _ in 0..50 {
        let o = std::process::Command::new("ssh")
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=2",
                "-i",
            ])
            .arg(&key)
            .arg(format!("root@10.233.{net}.10"))
            .arg("hostname")
            .output()
            .unwrap();
        if o.status.success() {
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), host.name());
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(ok, "no ssh login");
    drop(host);
    drop(ns);
    let _ = std::process::Command::new("ip")
        .args(["link", "del", &format!("oxtbr{}", pid % 100000)])
        .status();
    let _ = std::fs::remove_dir_all(&dir);
}
