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
