//! systemd units rendered as NixOS renders them (nixos/lib/systemd-lib.nix:
//! `serviceToUnit`, `timerToUnit`, … and `generateUnits`), byte for byte
//! where Debian does not force a difference (job scripts use /bin/bash;
//! there is no default PATH of Nix store paths).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::{Scalar, Unit};
use crate::{Ctx, Error};

/// The unit kinds NixOS has options for, with their section name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Service,
    Timer,
    Socket,
    Path,
    Target,
    Slice,
}

impl Kind {
    pub fn suffix(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::Timer => "timer",
            Kind::Socket => "socket",
            Kind::Path => "path",
            Kind::Target => "target",
            Kind::Slice => "slice",
        }
    }
    fn option(self) -> &'static str {
        match self {
            Kind::Service => "services",
            Kind::Timer => "timers",
            Kind::Socket => "sockets",
            Kind::Path => "paths",
            Kind::Target => "targets",
            Kind::Slice => "slices",
        }
    }
}

/// Nix's `toString` of a unit option value, as `toOption` uses it.
fn to_option(v: &Value, option: &str) -> Result<String, Error> {
    Ok(match v {
        Value::Bool(true) => "true".into(),
        Value::Bool(false) => "false".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        Value::Array(a) => {
            // toString of a list: elements joined by spaces
            let parts: Result<Vec<String>, Error> =
                a.iter().map(|x| to_option(x, option)).collect();
            parts?.join(" ")
        }
        Value::Object(_) => {
            return Err(Error::Invalid {
                option: option.to_string(),
                expected: "a systemd option value (string, integer, boolean or list)".into(),
                found: "an attribute set".into(),
            })
        }
    })
}

/// `attrsToSection`: one `Key=value` line per value, lists repeat the key.
pub fn attrs_to_section(attrs: &BTreeMap<String, Value>, option: &str) -> Result<String, Error> {
    let mut out = String::new();
    for (k, v) in attrs {
        let opt = format!("{option}.{k}");
        match v {
            Value::Array(items) => {
                for x in items {
                    out.push_str(&format!("{k}={}\n", to_option(x, &opt)?));
                }
            }
            // null values are how a module removes a key (mkForce null)
            Value::Null => {}
            v => out.push_str(&format!("{k}={}\n", to_option(v, &opt)?)),
        }
    }
    Ok(out)
}

fn triggers_text(triggers: &[Value]) -> String {
    fn flat(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| flat(x, out)),
            Value::String(s) => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            Value::Bool(true) => out.push("1".into()),
            Value::Bool(false) | Value::Null => out.push(String::new()),
            Value::Object(o) => out.push(
                o.get("outPath")
                    .and_then(|p| p.as_str())
                    .unwrap_or_default()
                    .to_string(),
            ),
        }
    }
    let mut parts = Vec::new();
    triggers.iter().for_each(|t| flat(t, &mut parts));
    parts.join(" ")
}

/// Adds `value` under `key` to a unit section the way two definitions of
/// a `unitOption` merge: lists concatenate, equal scalars are one value,
/// different scalars conflict.
fn merge_key(
    section: &mut BTreeMap<String, Value>,
    key: &str,
    value: Value,
    option: &str,
) -> Result<(), Error> {
    match section.get_mut(key) {
        None => {
            section.insert(key.to_string(), value);
        }
        Some(old) if *old == value => {}
        Some(Value::Array(old)) => match value {
            Value::Array(new) => old.extend(new),
            v => old.push(v),
        },
        Some(old) => match value {
            Value::Array(mut new) => {
                new.insert(0, old.clone());
                *old = Value::Array(new);
            }
            v => {
                return Err(Error::Invalid {
                    option: format!("{option}.{key}"),
                    expected: "a single value (it has conflicting definitions)".into(),
                    found: format!("{old} and {v}"),
                })
            }
        },
    }
    Ok(())
}

impl Ctx<'_> {
    /// The `[Unit]` section: `unitConfig` plus what NixOS derives from the
    /// list options (systemd-lib.nix `unitConfig`).
    fn unit_section(&mut self, name: &str, u: &Unit, option: &str) -> Result<String, Error> {
        let mut sec = u.unit_config.clone();
        let opt = format!("{option}.unitConfig");
        let lists: [(&str, &Vec<String>); 9] = [
            ("Requires", &u.requires),
            ("Wants", &u.wants),
            ("Upholds", &u.upholds),
            ("After", &u.after),
            ("Before", &u.before),
            ("BindsTo", &u.binds_to),
            ("PartOf", &u.part_of),
            ("Conflicts", &u.conflicts),
            ("Requisite", &u.requisite),
        ];
        for (k, l) in lists {
            if !l.is_empty() {
                merge_key(&mut sec, k, Value::String(l.join(" ")), &opt)?;
            }
        }
        if !u.restart_triggers.is_empty() {
            let p = self.add_text_path(
                &format!("X-Restart-Triggers-{name}"),
                triggers_text(&u.restart_triggers),
            )?;
            merge_key(&mut sec, "X-Restart-Triggers", Value::String(p), &opt)?;
        }
        if !u.reload_triggers.is_empty() {
            let p = self.add_text_path(
                &format!("X-Reload-Triggers-{name}"),
                triggers_text(&u.reload_triggers),
            )?;
            merge_key(&mut sec, "X-Reload-Triggers", Value::String(p), &opt)?;
        }
        if !u.description.is_empty() {
            merge_key(
                &mut sec,
                "Description",
                Value::String(u.description.clone()),
                &opt,
            )?;
        }
        for (k, l) in [
            ("Documentation", &u.documentation),
            ("OnFailure", &u.on_failure),
            ("OnSuccess", &u.on_success),
        ] {
            if !l.is_empty() {
                merge_key(&mut sec, k, Value::String(l.join(" ")), &opt)?;
            }
        }
        if let Some(v) = &u.start_limit_interval_sec {
            merge_key(
                &mut sec,
                "StartLimitIntervalSec",
                Value::String(v.to_string()),
                &opt,
            )?;
        }
        if let Some(v) = &u.start_limit_burst {
            merge_key(
                &mut sec,
                "StartLimitBurst",
                Value::String(v.to_string()),
                &opt,
            )?;
        }
        attrs_to_section(&sec, &opt)
    }

    /// `makeJobScript`: a script in its own store path, `bin/<name>`.
    fn job_script(&mut self, name: &str, text: &str) -> Result<String, Error> {
        let script_name = name.replace('\\', "-").replace('@', "_");
        let body = format!("#!/bin/bash\nset -e\n\n{text}\n");
        let mut t = crate::tree::Tree::new();
        t.insert(
            &format!("bin/{script_name}"),
            crate::tree::Node::File {
                data: body.into_bytes(),
                executable: true,
            },
            "job script",
        )?;
        let p = self.add_tree_path(&format!("unit-script-{script_name}"), t)?;
        Ok(format!("{p}/bin/{script_name}"))
    }

    fn service_text(&mut self, name: &str, u: &Unit, option: &str) -> Result<String, Error> {
        let mut sc = u.service_config.clone();
        let sopt = format!("{option}.serviceConfig");
        let scripts: [(&str, &str, &str, bool); 6] = [
            ("pre-start", &u.pre_start, "ExecStartPre", true),
            ("start", &u.script, "ExecStart", false),
            ("post-start", &u.post_start, "ExecStartPost", true),
            ("reload", &u.reload, "ExecReload", false),
            ("pre-stop", &u.pre_stop, "ExecStop", false),
            ("post-stop", &u.post_stop, "ExecStopPost", false),
        ];
        for (suffix, text, key, is_list) in scripts {
            if text.is_empty() {
                continue;
            }
            let mut exe = self.job_script(&format!("{name}-{suffix}"), text)?;
            if key == "ExecStart" {
                // NixOS appends scriptArgs after a space, even when empty
                exe = format!("{exe} {}", u.script_args);
            }
            let v = if is_list {
                Value::Array(vec![Value::String(exe)])
            } else {
                Value::String(exe)
            };
            merge_key(&mut sc, key, v, &sopt)?;
        }

        let mut env: BTreeMap<String, Option<String>> = self
            .cfg
            .systemd
            .global_environment
            .iter()
            .map(|(k, v)| (k.clone(), v.as_ref().map(Scalar::to_string)))
            .collect();
        for (k, v) in &u.environment {
            env.insert(k.clone(), v.as_ref().map(Scalar::to_string));
        }
        if !u.path.is_empty() && !u.environment.contains_key("PATH") {
            // makeBinPath path : makeSearchPathOutput "bin" "sbin" path, then
            // Debian's default PATH (NixOS appends coreutils & co instead)
            let mut parts: Vec<String> = u.path.iter().map(|p| format!("{p}/bin")).collect();
            parts.extend(u.path.iter().map(|p| format!("{p}/sbin")));
            parts.push(DEBIAN_PATH.to_string());
            env.insert("PATH".into(), Some(parts.join(":")));
        }

        let mut s = String::from("[Service]\n");
        for (k, v) in &env {
            if let Some(v) = v {
                let kv = serde_json::to_string(&format!("{k}={v}")).unwrap_or_default();
                s.push_str(&format!("Environment={kv}\n"));
            }
        }
        if u.reload_if_changed {
            s.push_str("X-ReloadIfChanged=true\n");
        } else if !u.restart_if_changed {
            s.push_str("X-RestartIfChanged=false\n");
        }
        if !u.stop_if_changed {
            s.push_str("X-StopIfChanged=false\n");
        }
        if u.not_socket_activated {
            s.push_str("X-NotSocketActivated=true\n");
        }
        s.push_str(&attrs_to_section(&sc, &sopt)?);
        Ok(s)
    }

    fn unit_text(
        &mut self,
        kind: Kind,
        name: &str,
        u: &Unit,
        option: &str,
    ) -> Result<String, Error> {
        let unit = self.unit_section(name, u, option)?;
        let head = format!("[Unit]\n{unit}\n");
        if kind == Kind::Target {
            // targetToUnit has no [Install] section
            return Ok(head);
        }
        let body = match kind {
            Kind::Service => self.service_text(name, u, option)?,
            Kind::Timer => format!(
                "[Timer]\n{}\n",
                attrs_to_section(&u.timer_config, &format!("{option}.timerConfig"))?
            ),
            Kind::Path => format!(
                "[Path]\n{}\n",
                attrs_to_section(&u.path_config, &format!("{option}.pathConfig"))?
            ),
            Kind::Slice => format!(
                "[Slice]\n{}\n",
                attrs_to_section(&u.slice_config, &format!("{option}.sliceConfig"))?
            ),
            Kind::Socket => format!(
                "[Socket]\n{}\n{}\n{}\n",
                attrs_to_section(&u.socket_config, &format!("{option}.socketConfig"))?,
                u.listen_streams
                    .iter()
                    .map(|s| format!("ListenStream={s}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                u.listen_datagrams
                    .iter()
                    .map(|s| format!("ListenDatagram={s}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            Kind::Target => unreachable!("handled above"),
        };
        let mut text = head + &body;
        if !u.wanted_by.is_empty() {
            text.push_str(&format!(
                "\n[Install]\nWantedBy={}\n",
                u.wanted_by.join(" ")
            ));
        }
        Ok(text)
    }

    /// Renders one set of units (`systemd.services`, …) into `dir`
    /// (`etc/systemd/system` or `etc/systemd/user`), with the `.wants`,
    /// `.requires`, `.upholds` links and aliases of `generateUnits`.
    pub(crate) fn render_units(
        &mut self,
        kind: Kind,
        units: &BTreeMap<String, Unit>,
        scope: &str,
    ) -> Result<(), Error> {
        let dir = format!("systemd/{scope}");
        let prefix = if scope == "user" {
            "systemd.user"
        } else {
            "systemd"
        };
        for (name, u) in units {
            let option = format!("{prefix}.{}.{}", kind.option(), crate::show_attr(name));
            if name.is_empty() || name.contains('/') {
                return Err(Error::Invalid {
                    option,
                    expected: "a unit name without `/`".into(),
                    found: format!("{name:?}"),
                });
            }
            let unit_name = format!("{name}.{}", kind.suffix());
            let dropin = match u.override_strategy.as_deref() {
                None | Some("asDropinIfExists") => false,
                Some("asDropin") => true,
                Some(other) => {
                    return Err(Error::Invalid {
                        option: format!("{option}.overrideStrategy"),
                        expected: "\"asDropinIfExists\" or \"asDropin\"".into(),
                        found: format!("{other:?}"),
                    })
                }
            };
            // a drop-in extends the unit Debian ships (generateUnits'
            // `<unit>.d/overrides.conf`); ox has no upstream unit set to
            // detect "if exists", so that case is a full unit
            let target = if dropin {
                format!("{dir}/{unit_name}.d/overrides.conf")
            } else {
                format!("{dir}/{unit_name}")
            };
            if u.enable {
                let text = self.unit_text(kind, name, u, &option)?;
                self.etc_file(&target, text.into_bytes(), &option)?;
            } else {
                // makeUnit links disabled units to /dev/null (masked)
                self.etc_symlink(&target, "/dev/null", &option)?;
            }
            for alias in &u.aliases {
                self.etc_symlink(&format!("{dir}/{alias}"), &unit_name, &option)?;
            }
            for (list, suffix) in [
                (&u.wanted_by, "wants"),
                (&u.upheld_by, "upholds"),
                (&u.required_by, "requires"),
            ] {
                for t in list {
                    self.etc_symlink(
                        &format!("{dir}/{t}.{suffix}/{unit_name}"),
                        &format!("../{unit_name}"),
                        &option,
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// What PATH a Debian service gets after its `path` entries.
pub const DEBIAN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `startAt` → a timer per service (nixos/modules/system/boot/systemd.nix):
/// `wantedBy = [ "timers.target" ]; timerConfig.OnCalendar = startAt;`,
/// merged into a timer of the same name if the config has one.
pub fn timers_with_start_at(
    services: &BTreeMap<String, Unit>,
    timers: &BTreeMap<String, Unit>,
) -> BTreeMap<String, Unit> {
    let mut out = timers.clone();
    for (name, s) in services {
        let at = s.start_at.list();
        if !s.enable || at.is_empty() {
            continue;
        }
        let t = out.entry(name.clone()).or_default();
        if !t.wanted_by.iter().any(|w| w == "timers.target") {
            t.wanted_by.push("timers.target".into());
        }
        let v = if at.len() == 1 {
            Value::String(at[0].clone())
        } else {
            Value::Array(at.into_iter().map(Value::String).collect())
        };
        t.timer_config.entry("OnCalendar".into()).or_insert(v);
    }
    out
}
