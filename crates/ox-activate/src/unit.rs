//! Unit files and the restart/reload rules of NixOS's
//! switch-to-configuration-ng, applied to the units ox manages.

use std::collections::BTreeMap;
use std::path::Path;

/// section → key → values (in order; an empty assignment clears).
pub type Ini = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// Parse a unit file's text into an [`Ini`], applying systemd's rules
/// for comments, line continuations and empty assignments.
pub fn parse_into(ini: &mut Ini, text: &str) {
    let mut section = String::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = if pending.is_empty() {
            raw.trim().to_string()
        } else {
            format!("{} {}", pending, raw.trim())
        };
        if let Some(stripped) = line.strip_suffix('\\') {
            pending = stripped.trim_end().to_string();
            continue;
        }
        pending.clear();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].to_string();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        let vals = ini
            .entry(section.clone())
            .or_default()
            .entry(k)
            .or_default();
        if v.is_empty() {
            vals.clear();
        } else {
            vals.push(v);
        }
    }
}

/// Load unit `name` from a unit directory, with its `name.d/*.conf`
/// drop-ins; a template instance falls back to its template. `None` if
/// missing or masked (a link to /dev/null).
pub fn load(dir: &Path, name: &str) -> Option<Ini> {
    let mut path = dir.join(name);
    if !path.exists() {
        // foo@bar.service → foo@.service
        let (stem, ext) = name.rsplit_once('.')?;
        let (tmpl, _) = stem.split_once('@')?;
        path = dir.join(format!("{tmpl}@.{ext}"));
    }
    if std::fs::canonicalize(&path).ok()? == Path::new("/dev/null") {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let mut ini = Ini::new();
    parse_into(&mut ini, &text);
    add_dropins(&mut ini, dir, name);
    Some(ini)
}

/// Only the `name.d/*.conf` drop-ins of a unit whose main file is not
/// in `dir` (a stock unit the generation overrides).
pub fn load_dropins(dir: &Path, name: &str) -> Ini {
    let mut ini = Ini::new();
    add_dropins(&mut ini, dir, name);
    ini
}

fn add_dropins(ini: &mut Ini, dir: &Path, name: &str) {
    let mut dropins: Vec<_> = std::fs::read_dir(dir.join(format!("{name}.d")))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    dropins.sort();
    for d in dropins {
        if let Ok(t) = std::fs::read_to_string(&d) {
            parse_into(ini, &t);
        }
    }
}

pub fn get<'a>(ini: &'a Ini, section: &str, key: &str) -> Option<&'a str> {
    ini.get(section)?.get(key)?.last().map(|s| s.as_str())
}

pub fn is_true(v: Option<&str>) -> bool {
    matches!(v, Some("1" | "yes" | "true" | "on"))
}
fn is_false(v: Option<&str>) -> bool {
    matches!(v, Some("0" | "no" | "false" | "off"))
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Diff {
    Equal,
    /// Only reloadable keys changed.
    Reload,
    Restart,
}

/// `[Unit]` keys whose change needs neither restart nor reload.
const IGNORED_UNIT_KEYS: &[&str] = &[
    "Description",
    "Documentation",
    "OnFailure",
    "OnSuccess",
    "OnFailureJobMode",
    "IgnoreOnIsolate",
    "StopWhenUnneeded",
    "RefuseManualStart",
    "RefuseManualStop",
    "AllowIsolate",
    "CollectMode",
    "SourcePath",
];

/// Compare two versions of a unit like switch-to-configuration-ng's
/// `compare_units`: `[Install]` is ignored, a few `[Unit]` keys are
/// cosmetic, and a change limited to `X-Reload-Triggers`, `ExecReload`
/// (added or changed) or a mount's `Options` only needs a reload.
pub fn compare(old: &Ini, new: &Ini) -> Diff {
    let mut reload = false;
    let empty = BTreeMap::new();
    let sections: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for sec in sections {
        if sec == "Install" {
            continue;
        }
        let o = old.get(sec).unwrap_or(&empty);
        let n = new.get(sec).unwrap_or(&empty);
        let keys: std::collections::BTreeSet<&String> = o.keys().chain(n.keys()).collect();
        for k in keys {
            let (ov, nv) = (o.get(k), n.get(k));
            let norm = |v: Option<&Vec<String>>| v.filter(|v| !v.is_empty()).cloned();
            let (ov, nv) = (norm(ov), norm(nv));
            if ov == nv {
                continue;
            }
            if sec == "Unit" && IGNORED_UNIT_KEYS.contains(&k.as_str()) {
                continue;
            }
            if sec == "Unit" && k == "X-Reload-Triggers" {
                reload = true;
                continue;
            }
            if sec == "Service" && k == "ExecReload" {
                if nv.is_none() {
                    // removing ExecReload changes nothing in the running service
                    continue;
                }
                reload = true;
                continue;
            }
            if sec == "Mount" && k == "Options" {
                reload = true;
                continue;
            }
            return Diff::Restart;
        }
    }
    if reload {
        Diff::Reload
    } else {
        Diff::Equal
    }
}

/// What to do with one active unit whose definition changed or
/// disappeared.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Action {
    Nothing,
    Reload,
    Restart,
    /// Stop before activation (with the old definition), start after.
    StopStart,
    /// Changed, but the unit asks not to be restarted.
    Skip,
    Stop,
    Start,
}

/// Decide for an active unit (`old` = definition now running, `new` =
/// the new generation's, `None` when removed or masked).
pub fn decide(name: &str, old: Option<&Ini>, new: Option<&Ini>) -> Action {
    let Some(new) = new else {
        return match old {
            Some(o) if is_false(get(o, "Unit", "X-StopOnRemoval")) => Action::Nothing,
            _ => Action::Stop,
        };
    };
    let ty = name.rsplit('.').next().unwrap_or("");
    if ty == "target" {
        if ["suspend.target", "hibernate.target", "hybrid-sleep.target"].contains(&name)
            || is_true(get(new, "Unit", "RefuseManualStart"))
            || is_true(get(new, "Unit", "X-OnlyManualStart"))
        {
            return Action::Nothing;
        }
        if is_true(get(new, "Unit", "X-StopOnReconfiguration")) {
            return Action::StopStart;
        }
        return Action::Start;
    }
    let Some(old) = old else {
        // newly managed and already active: leave it running as it is
        return Action::Restart;
    };
    match compare(old, new) {
        Diff::Equal => Action::Nothing,
        Diff::Reload => Action::Reload,
        Diff::Restart => modified(name, ty, new),
    }
}

fn modified(name: &str, ty: &str, new: &Ini) -> Action {
    if ty == "path" || ty == "slice" || ty == "socket" {
        return Action::Nothing;
    }
    if [
        "sysinit.target",
        "basic.target",
        "multi-user.target",
        "graphical.target",
    ]
    .contains(&name)
    {
        return Action::Nothing;
    }
    if ty == "mount" {
        return if name == "-.mount" || name == "ox.mount" {
            Action::Reload
        } else {
            Action::Restart
        };
    }
    let svc = |k| get(new, "Service", k).or_else(|| get(new, "Unit", k));
    if is_true(svc("X-ReloadIfChanged")) {
        return Action::Reload;
    }
    if is_false(svc("X-RestartIfChanged"))
        || is_true(get(new, "Unit", "RefuseManualStop"))
        || is_true(get(new, "Unit", "X-OnlyManualStart"))
    {
        return Action::Skip;
    }
    if ty != "service" || is_false(svc("X-StopIfChanged")) {
        return Action::Restart;
    }
    Action::StopStart
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ini(s: &str) -> Ini {
        let mut i = Ini::new();
        parse_into(&mut i, s);
        i
    }

    const BASE: &str = "[Unit]\nDescription=web\n[Service]\nExecStart=/bin/web\n[Install]\nWantedBy=multi-user.target\n";

    #[test]
    fn compare_rules() {
        let b = ini(BASE);
        assert_eq!(compare(&b, &ini(BASE)), Diff::Equal);
        // cosmetic [Unit] keys and [Install] never matter
        assert_eq!(
            compare(
                &b,
                &ini(&BASE.replace("Description=web", "Description=other"))
            ),
            Diff::Equal
        );
        assert_eq!(
            compare(&b, &ini(&BASE.replace("multi-user", "graphical"))),
            Diff::Equal
        );
        assert_eq!(
            compare(
                &b,
                &ini(&format!(
                    "{BASE}[Service]\nExecReload=/bin/kill -HUP $MAINPID\n"
                ))
            ),
            Diff::Reload
        );
        assert_eq!(
            compare(&b, &ini(&BASE.replace("/bin/web", "/bin/web2"))),
            Diff::Restart
        );
        // removing ExecReload is a no-op
        let with = ini(&format!("{BASE}[Service]\nExecReload=/bin/true\n"));
        assert_eq!(compare(&with, &b), Diff::Equal);
        // an empty assignment clears the key
        assert_eq!(
            compare(
                &b,
                &ini(&format!(
                    "{BASE}[Service]\nExecStart=\nExecStart=/bin/web\n"
                ))
            ),
            Diff::Equal
        );
        // restartTriggers / reloadTriggers (store paths of the values)
        let trig = |k: &str, v: &str| ini(&format!("{BASE}[Unit]\n{k}={v}\n"));
        assert_eq!(
            compare(
                &trig("X-Restart-Triggers", "/ox/store/a"),
                &trig("X-Restart-Triggers", "/ox/store/b")
            ),
            Diff::Restart
        );
        assert_eq!(
            compare(
                &trig("X-Reload-Triggers", "/ox/store/a"),
                &trig("X-Reload-Triggers", "/ox/store/b")
            ),
            Diff::Reload
        );
        // drop-ins count like the main file
        let mut with_dropin = ini(BASE);
        parse_into(&mut with_dropin, "[Service]\nEnvironment=A=1\n");
        assert_eq!(compare(&b, &with_dropin), Diff::Restart);
        // continuation lines are joined
        assert_eq!(
            compare(
                &ini("[Service]\nExecStart=/bin/a \\\n  b\n"),
                &ini("[Service]\nExecStart=/bin/a b\n")
            ),
            Diff::Equal
        );
    }

    #[test]
    fn decide_rules() {
        let b = ini(BASE);
        let changed = BASE.replace("/bin/web", "/bin/web2");
        assert_eq!(
            decide("web.service", Some(&b), Some(&ini(&changed))),
            Action::StopStart
        );
        let n = ini(&format!("{changed}[Service]\nX-RestartIfChanged=false\n"));
        assert_eq!(decide("web.service", Some(&b), Some(&n)), Action::Skip);
        let n = ini(&format!("{changed}[Service]\nX-ReloadIfChanged=true\n"));
        assert_eq!(decide("web.service", Some(&b), Some(&n)), Action::Reload);
        let n = ini(&format!("{changed}[Service]\nX-StopIfChanged=false\n"));
        assert_eq!(decide("web.service", Some(&b), Some(&n)), Action::Restart);
        assert_eq!(decide("web.service", Some(&b), None), Action::Stop);
        let keep = ini(&format!("{BASE}[Unit]\nX-StopOnRemoval=false\n"));
        assert_eq!(decide("web.service", Some(&keep), None), Action::Nothing);
        assert_eq!(
            decide("web.timer", Some(&b), Some(&ini(&changed))),
            Action::Restart
        );
        assert_eq!(
            decide("web.socket", Some(&b), Some(&ini(&changed))),
            Action::Nothing
        );
        assert_eq!(decide("x.target", Some(&b), Some(&b)), Action::Start);
        assert_eq!(
            decide("suspend.target", Some(&b), Some(&b)),
            Action::Nothing
        );
        assert_eq!(
            decide("multi-user.target", Some(&b), Some(&ini(&changed))),
            Action::Start
        );
    }
}
