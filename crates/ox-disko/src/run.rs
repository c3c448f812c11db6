//! Running a plan: the destroy confirmation, then each step in order,
//! guards checked at run time, every command echoed (`+ cmd`) as it
//! starts. The first failing step stops the run.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::plan::{Action, Guard, Input, Plan, Step};
use crate::probe;
use crate::Error;

/// Before anything changes: a plan that wipes disks runs only with
/// `yes` (`--yes-wipe-all-disks`) or when `ask` (an interactive
/// confirmation: the user typed `yes`) agrees. Missing devices stop it too.
pub fn check_allowed(
    plan: &Plan,
    yes: bool,
    ask: Option<&mut dyn FnMut(&str) -> bool>,
) -> Result<(), Error> {
    if let Some((name, dev)) = plan.missing.first() {
        return Err(Error::DeviceMissing {
            disk: name.clone(),
            device: dev.clone(),
        });
    }
    if let Some((mp, t)) = plan.unmountable.first() {
        return Err(Error::CannotMount {
            mountpoint: mp.clone(),
            fs_type: t.clone(),
        });
    }
    if let Some((t, src)) = plan.foreign.first() {
        return Err(Error::ForeignMount {
            root: plan.root.clone(),
            target: t.clone(),
            from: src.clone(),
        });
    }
    if plan.wipes.is_empty() || yes {
        return Ok(());
    }
    let mut list = String::new();
    for w in &plan.wipes {
        list.push_str(&format!(
            "  {} (disk `{}`): {}\n",
            w.device, w.disk, w.holds
        ));
    }
    if let Some(ask) = ask {
        let q = format!(
            "mode {} will ERASE these disks:\n{list}Type `yes` to wipe them: ",
            plan.mode
        );
        if ask(&q) {
            return Ok(());
        }
    }
    Err(Error::WipeNotConfirmed(list))
}

/// Runs every step. `out` gets each command line before it runs.
pub fn run(plan: &Plan, out: &mut dyn FnMut(&str)) -> Result<(), Error> {
    for st in &plan.steps {
        if !guard_allows(&st.guard) {
            continue;
        }
        out(&format!("+ {}", st.render()));
        run_step(st)?;
    }
    Ok(())
}

fn guard_allows(g: &Guard) -> bool {
    match g {
        Guard::Always => true,
        Guard::UnlessMounted(t) => !probe::is_mounted(t),
        Guard::IfMounted(t) => probe::is_mounted(t),
        Guard::UnlessExists(p) => !Path::new(p).exists(),
        Guard::IfExists(p) => Path::new(p).exists(),
        Guard::UnlessSwapActive(d) => !probe::swap_active(d),
        Guard::IfSwapActive(d) => probe::swap_active(d),
        Guard::UnlessCmd(c) => !Command::new(&c[0])
            .args(&c[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
    }
}

fn run_step(st: &Step) -> Result<(), Error> {
    match &st.action {
        Action::Mkdir(p) => std::fs::create_dir_all(p).map_err(|e| Error::Io {
            path: p.clone(),
            source: e,
        }),
        Action::RequireDeviceMapper { name, device } => {
            if probe::has_device_mapper() && Path::new("/dev/mapper/control").exists() {
                Ok(())
            } else {
                Err(Error::NoDeviceMapper {
                    name: name.clone(),
                    device: device.clone(),
                })
            }
        }
        Action::WaitPartitions { disk, nodes } => wait_partitions(disk, nodes),
        Action::Run(a) => {
            let r = exec(a, &st.input);
            match r {
                Err(e) if !st.may_fail => Err(e),
                _ => Ok(()),
            }
        }
    }
}

fn exec(a: &[String], input: &Input) -> Result<(), Error> {
    let cmdline = a
        .iter()
        .map(|x| crate::plan::quote(x))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new(&a[0]);
    cmd.args(&a[1..])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut feed = None;
    match input {
        Input::None => {
            cmd.stdin(Stdio::null());
        }
        Input::Terminal => {
            if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                return Err(Error::NeedsKey { cmd: cmdline });
            }
            cmd.stdin(Stdio::inherit()).stderr(Stdio::inherit());
        }
        Input::TrimmedFile(f) => {
            let text = std::fs::read(f).map_err(|e| Error::Io {
                path: f.clone(),
                source: e,
            })?;
            let mut end = text.len();
            while end > 0 && (text[end - 1] == b'\n' || text[end - 1] == b'\r') {
                end -= 1;
            }
            feed = Some(text[..end].to_vec());
            cmd.stdin(Stdio::piped());
        }
    }
    let mut child = cmd.spawn().map_err(|e| Error::Step {
        cmd: cmdline.clone(),
        status: format!("cannot start: {e}"),
        output: String::new(),
    })?;
    if let Some(bytes) = feed {
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(&bytes);
        }
    }
    let o = child.wait_with_output().map_err(|e| Error::Step {
        cmd: cmdline.clone(),
        status: e.to_string(),
        output: String::new(),
    })?;
    if o.status.success() {
        return Ok(());
    }
    Err(Error::Step {
        cmd: cmdline,
        status: o.status.to_string(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    })
}

/// The kernel learns about new partitions from `partx` (BLKPG) when
/// nothing rescans for it (loop devices, no udev); then the nodes appear
/// in devtmpfs. With udev running, also let it create its links.
fn wait_partitions(disk: &str, nodes: &[String]) -> Result<(), Error> {
    let quiet = |args: &[&str]| {
        let _ = Command::new(args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    let started = Instant::now();
    loop {
        if nodes.iter().all(|n| Path::new(n).exists()) {
            if Path::new("/run/udev/control").exists() {
                quiet(&["udevadm", "settle", "--timeout=30"]);
            }
            return Ok(());
        }
        quiet(&["partx", "-a", disk]);
        quiet(&["partx", "-u", disk]);
        if started.elapsed() > Duration::from_secs(20) {
            let missing: Vec<&str> = nodes
                .iter()
                .filter(|n| !Path::new(n).exists())
                .map(|s| s.as_str())
                .collect();
            return Err(Error::Step {
                cmd: format!("partx -a {disk}"),
                status: "timed out after 20 s".into(),
                output: format!("partition nodes did not appear: {}", missing.join(" ")),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
