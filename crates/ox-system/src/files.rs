//! `/etc` entries: the user's `environment.etc`, and the files NixOS
//! generates from other options (hostname, hosts, fstab, crypttab,
//! timezone, locale, console, profile, tmpfiles), plus the users and
//! groups of the activation plan.

use std::path::Path;

use crate::config::{EtcEntry, FileSystem, HostConfig};
use crate::plan::{Group, OnConflict, User};
use crate::{show_attr, Ctx, Error, Node};

fn check_mode(mode: &str, option: &str) -> Result<(), Error> {
    let octal = mode.len() == 4 && mode.chars().all(|c| ('0'..='7').contains(&c));
    if mode == "symlink" || mode == "direct-symlink" || octal {
        Ok(())
    } else {
        Err(Error::Invalid {
            option: option.to_string(),
            expected: "\"symlink\" or an octal mode like \"0644\"".into(),
            found: format!("{mode:?}"),
        })
    }
}

fn check_on_conflict(v: &str, option: &str) -> Result<OnConflict, Error> {
    OnConflict::from_name(v).ok_or_else(|| Error::Invalid {
        option: option.to_string(),
        expected: "one of \"error\", \"backup\", \"replace\"".into(),
        found: format!("{v:?}"),
    })
}

/// A uid or gid as activation.json holds it (`None`: allocate).
fn id(option: String, v: Option<i64>) -> Result<Option<u32>, Error> {
    v.map(|i| {
        u32::try_from(i).map_err(|_| Error::Invalid {
            option,
            expected: "a number from 0 to 4294967295".into(),
            found: i.to_string(),
        })
    })
    .transpose()
}

/// Puts `source` at `dest` in the toplevel: a store path is linked (it
/// is a reference of the toplevel), a local file or directory copied.
pub(crate) fn place_source(
    tree: &mut crate::Tree,
    store_dir: &str,
    dest: &str,
    source: &str,
    option: &str,
) -> Result<(), Error> {
    let p = Path::new(source);
    if !p.is_absolute() {
        return Err(Error::Invalid {
            option: option.to_string(),
            expected: "an absolute path".into(),
            found: format!("{source:?}"),
        });
    }
    let store_prefix = format!("{}/", store_dir.trim_end_matches('/'));
    if let Some(rest) = source.strip_prefix(&store_prefix) {
        // A file of a flake's (or fetcher's) source tree, `./file` in a
        // flake: the evaluator gives such paths no string context, so a
        // link would leave the toplevel without a reference to the tree
        // (a deploy would copy a dangling link). Copy it in, as a local
        // file outside the store is.
        let in_source_tree = rest
            .split('/')
            .next()
            .is_some_and(|name| name.ends_with("-source"));
        if in_source_tree && rest.contains('/') && p.exists() {
            return tree.copy_from(dest, p, option);
        }
        return tree.symlink(dest, source, option);
    }
    if !p.exists() {
        return Err(Error::Invalid {
            option: option.to_string(),
            expected: "an existing file or directory".into(),
            found: format!("{source:?}, which does not exist"),
        });
    }
    tree.copy_from(dest, p, option)
}

pub(crate) fn user_etc(cx: &mut Ctx) -> Result<(), Error> {
    for (name, e) in &cx.cfg.environment.etc {
        let option = format!("environment.etc.{}", show_attr(name));
        if !e.enable {
            continue;
        }
        // crypttab text is merged with boot.initrd.luks.devices below
        if etc_target(name, e) == "crypttab" && !cx.cfg.boot.initrd.luks.devices.is_empty() {
            continue;
        }
        add_user_etc(cx, name, e, &option)?;
    }
    Ok(())
}

fn etc_target(name: &str, e: &EtcEntry) -> String {
    crate::tree::normalize(e.target.as_deref().unwrap_or(name)).unwrap_or_default()
}

fn add_user_etc(cx: &mut Ctx, name: &str, e: &EtcEntry, option: &str) -> Result<(), Error> {
    check_mode(&e.mode, &format!("{option}.mode"))?;
    let on_conflict = check_on_conflict(&e.on_conflict, &format!("{option}.onConflict"))?;
    let target = crate::tree::normalize(e.target.as_deref().unwrap_or(name)).ok_or_else(|| {
        Error::Invalid {
            option: format!("{option}.target"),
            expected: "a path below /etc without `..`".into(),
            found: format!("{:?}", e.target.as_deref().unwrap_or(name)),
        }
    })?;
    let dest = format!("etc/{target}");
    match (&e.text, &e.source) {
        (Some(text), _) => cx.tree.insert(
            &dest,
            Node::File {
                data: text.clone().into_bytes(),
                executable: false,
            },
            option,
        )?,
        (None, Some(src)) => place_source(
            &mut cx.tree,
            &cx.store_dir,
            &dest,
            src,
            &format!("{option}.source"),
        )?,
        (None, None) => {
            return Err(Error::Invalid {
                option: option.to_string(),
                expected: "`text` or `source` to be set".into(),
                found: "neither".into(),
            })
        }
    }
    let mode = if e.mode == "direct-symlink" {
        "symlink".to_string()
    } else {
        e.mode.clone()
    };
    let owner = |name: &str, id: Option<i64>| match id {
        Some(i) => format!("+{i}"),
        None => name.to_string(),
    };
    cx.etc.insert(
        target.clone(),
        crate::plan::EtcEntry {
            target: target.clone(),
            source: dest,
            mode,
            user: owner(&e.user, e.uid),
            group: owner(&e.group, e.gid),
            on_conflict,
        },
    );
    Ok(())
}

/// Adds a generated file unless the user defined that target; these
/// files exist on every Debian system, so an unmanaged copy is backed
/// up rather than stopping the switch.
fn gen_file(cx: &mut Ctx, target: &str, text: String, option: &str) -> Result<(), Error> {
    if cx.etc.contains_key(target) {
        return Ok(());
    }
    cx.etc_entry(
        target,
        Node::File {
            data: text.into_bytes(),
            executable: false,
        },
        option,
        OnConflict::Backup,
    )
}

/// `/etc/fstab` escaping of spaces and tabs.
fn fstab_escape(s: &str) -> String {
    s.replace(' ', "\\040").replace('\t', "\\011")
}

/// NixOS's `fsToSkipCheck` (filesystems.nix): no fsck pass for these.
fn skip_check(fs: &FileSystem, check_journaling: bool) -> bool {
    const NO_FSCK: [&str; 20] = [
        "none",
        "auto",
        "overlay",
        "iso9660",
        "bindfs",
        "udf",
        "btrfs",
        "zfs",
        "tmpfs",
        "bcachefs",
        "nfs",
        "nfs4",
        "nilfs2",
        "vboxsf",
        "squashfs",
        "glusterfs",
        "apfs",
        "9p",
        "cifs",
        "prl_fs",
    ];
    const JOURNALING: [&str; 6] = ["ext3", "ext4", "reiserfs", "xfs", "jfs", "f2fs"];
    fs.no_check
        || fs.device.as_deref() == Some("none")
        || NO_FSCK.contains(&fs.fs_type.as_str())
        || fs.fs_type == "vmhgfs"
        || (!check_journaling && JOURNALING.contains(&fs.fs_type.as_str()))
        || fs.options.iter().any(|o| o == "bind")
}

pub fn fstab(cfg: &HostConfig) -> Result<String, Error> {
    let mut fss: Vec<(String, &FileSystem)> = cfg
        .file_systems
        .iter()
        .map(|(k, v)| (v.mount_point.clone().unwrap_or_else(|| k.clone()), v))
        .collect();
    // utils.fsBefore: a mount point before the ones below it, and before
    // a bind mount whose device is below it
    let before = |a: &(String, &FileSystem), b: &(String, &FileSystem)| {
        let under =
            |x: &str, y: &str| y == x || y.starts_with(&format!("{}/", x.trim_end_matches('/')));
        under(&a.0, &b.0)
            || (b.1.options.iter().any(|o| o == "bind")
                && b.1.device.as_deref().is_some_and(|d| under(&a.0, d)))
    };
    fss = crate::dag::toposort(fss, &|a, b| a.0 != b.0 && before(a, b)).map_err(|cycle| {
        Error::Invalid {
            option: "fileSystems".into(),
            expected: "mount points without a dependency cycle".into(),
            found: cycle
                .iter()
                .map(|c| c.0.clone())
                .collect::<Vec<_>>()
                .join(" -> "),
        }
    })?;
    // Debian's initramfs checks journaling filesystems like NixOS's
    // boot.initrd.checkJournalingFS (default true)
    let check_journaling = cfg.boot.initrd.check_journaling_fs.unwrap_or(true);
    let mut out = String::from(
        "# This file is generated by ox. Do not edit!\n\
         #\n\
         # To make changes, edit the fileSystems and swapDevices options\n\
         # of this host's configuration.\n\
         #\n\
         # <file system> <mount point>   <type>  <options>       <dump>  <pass>\n\
         \n\
         # Filesystems.\n",
    );
    for (mp, fs) in &fss {
        let option = format!("fileSystems.{}", show_attr(mp));
        let dev = match (&fs.device, &fs.label) {
            (Some(d), _) => fstab_escape(d),
            (None, Some(l)) => format!("/dev/disk/by-label/{}", fstab_escape(l)),
            (None, None) => {
                return Err(Error::Invalid {
                    option: format!("{option}.device"),
                    expected: "a device or a label for the mount point".into(),
                    found: "neither".into(),
                })
            }
        };
        if !mp.starts_with('/') {
            return Err(Error::Invalid {
                option: format!("{option}.mountPoint"),
                expected: "an absolute path".into(),
                found: format!("{mp:?}"),
            });
        }
        let pass = if skip_check(fs, check_journaling) {
            "0"
        } else if mp == "/" {
            "1"
        } else {
            "2"
        };
        out.push_str(&format!(
            "{dev} {} {} {} 0 {pass}\n",
            fstab_escape(mp),
            fs.fs_type,
            fstab_escape(&fs.options.join(","))
        ));
    }
    out.push_str("\n# Swap devices.\n");
    for (i, sw) in cfg.swap_devices.iter().enumerate() {
        let dev = match (&sw.device, &sw.label) {
            (Some(d), _) => d.clone(),
            (None, Some(l)) => format!("/dev/disk/by-label/{l}"),
            (None, None) => {
                return Err(Error::Invalid {
                    option: format!("swapDevices.[{i}].device"),
                    expected: "a device or a label".into(),
                    found: "neither".into(),
                })
            }
        };
        let mut opts = sw.options.clone();
        if let Some(p) = sw.priority {
            opts.push(format!("pri={p}"));
        }
        if let Some(d) = &sw.discard_policy {
            opts.push(if d == "both" {
                "discard".to_string()
            } else {
                format!("discard={d}")
            });
        }
        out.push_str(&format!("{dev} none swap {}\n", opts.join(",")));
    }
    Ok(out)
}

/// `/etc/crypttab` from `boot.initrd.luks.devices` (opened by Debian's
/// initramfs-tools/systemd-cryptsetup from crypttab), followed by the
/// text of `environment.etc.crypttab` if the config also sets it.
pub fn crypttab(cfg: &HostConfig) -> Option<String> {
    let devs = &cfg.boot.initrd.luks.devices;
    if devs.is_empty() {
        return None;
    }
    let mut out = String::new();
    for (name, d) in devs {
        let mut opts = vec!["luks".to_string()];
        if d.allow_discards {
            opts.push("discard".into());
        }
        if d.bypass_workqueues {
            opts.push("no-read-workqueue".into());
            opts.push("no-write-workqueue".into());
        }
        opts.extend(d.crypttab_extra_opts.iter().cloned());
        out.push_str(&format!(
            "{name} {} {} {}\n",
            d.device,
            d.key_file.as_deref().unwrap_or("none"),
            opts.join(",")
        ));
    }
    if let Some(e) = cfg.environment.etc.get("crypttab").filter(|e| e.enable) {
        if let Some(t) = &e.text {
            out.push_str(t);
        }
    }
    Some(out)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

pub(crate) fn generated(cx: &mut Ctx) -> Result<(), Error> {
    let cfg = cx.cfg;
    gen_file(
        cx,
        "hostname",
        format!("{}\n", cfg.networking.host_name),
        "networking.hostName",
    )?;

    // hosts: localhost lines, networking.hosts (sorted by address, empty
    // lists dropped), then extraHosts, as NixOS's hostFiles
    let mut hosts = String::from("127.0.0.1 localhost\n::1 localhost\n");
    for (ip, names) in &cfg.networking.hosts {
        if !names.is_empty() {
            hosts.push_str(&format!("{ip} {}\n", names.join(" ")));
        }
    }
    hosts.push_str(&cfg.networking.extra_hosts);
    gen_file(cx, "hosts", hosts, "networking.hosts")?;

    let has_fstab = !cfg.file_systems.is_empty() || !cfg.swap_devices.is_empty();
    if has_fstab {
        let text = fstab(cfg)?;
        gen_file(cx, "fstab", text, "fileSystems")?;
    }
    if let Some(text) = crypttab(cfg) {
        gen_file(cx, "crypttab", text, "boot.initrd.luks.devices")?;
    }

    if let Some(tz) = &cfg.time.time_zone {
        if tz.is_empty() || tz.contains("..") || tz.contains(char::is_whitespace) {
            return Err(Error::Invalid {
                option: "time.timeZone".into(),
                expected: "a zone name like \"Europe/Berlin\"".into(),
                found: format!("{tz:?}"),
            });
        }
        gen_file(cx, "timezone", format!("{tz}\n"), "time.timeZone")?;
        if !cx.etc.contains_key("localtime") {
            cx.etc_entry(
                "localtime",
                Node::Symlink(format!("/usr/share/zoneinfo/{tz}")),
                "time.timeZone",
                OnConflict::Backup,
            )?;
        }
    }

    // locale: Debian reads /etc/default/locale (pam_env) and generates
    // the locales listed in /etc/locale.gen
    let i18n = &cfg.i18n;
    let mut locale = format!("LANG={}\n", i18n.default_locale);
    for (k, v) in &i18n.extra_locale_settings {
        locale.push_str(&format!("{k}={v}\n"));
    }
    gen_file(cx, "default/locale", locale, "i18n.defaultLocale")?;
    let mut supported: Vec<String> = i18n.supported_locales.clone();
    if supported.is_empty() {
        let mut ls: Vec<&String> = std::iter::once(&i18n.default_locale)
            .chain(i18n.extra_locale_settings.values())
            .collect();
        ls.sort();
        ls.dedup();
        supported = ls
            .into_iter()
            .map(|l| format!("{l} {}", charset(l)))
            .collect();
    }
    gen_file(
        cx,
        "locale.gen",
        supported.iter().map(|l| format!("{l}\n")).collect(),
        "i18n.supportedLocales",
    )?;

    if cfg.console.key_map.is_some() || cfg.console.font.is_some() {
        let mut vc = String::new();
        if let Some(k) = &cfg.console.key_map {
            vc.push_str(&format!("KEYMAP={k}\n"));
        }
        if let Some(f) = &cfg.console.font {
            vc.push_str(&format!("FONT={f}\n"));
        }
        gen_file(cx, "vconsole.conf", vc, "console.keyMap")?;
    }

    let env = &cfg.environment;
    let mut sw_bin = false;
    for pkg in &env.store_packages {
        for b in cx.package_bins(pkg, "environment.systemPackages")? {
            cx.etc_symlink(
                &format!("ox/sw/bin/{b}"),
                &format!("{pkg}/bin/{b}"),
                "environment.systemPackages",
            )?;
            sw_bin = true;
        }
    }
    if !env.variables.is_empty()
        || !env.session_variables.is_empty()
        || !env.shell_aliases.is_empty()
        || sw_bin
    {
        let mut p = String::from("# Generated by ox from environment.variables, environment.sessionVariables\n# and environment.shellAliases. Do not edit.\n");
        let mut vars = env.session_variables.clone();
        // environment.variables wins over sessionVariables like NixOS,
        // where the shell init runs after pam_env
        vars.extend(env.variables.clone());
        for (k, v) in &vars {
            p.push_str(&format!("export {k}={}\n", shell_quote(&v.render())));
        }
        for (k, v) in &env.shell_aliases {
            if let Some(v) = v {
                p.push_str(&format!("alias -- {k}={}\n", shell_quote(v)));
            }
        }
        if sw_bin {
            // store-built packages of environment.systemPackages
            p.push_str("case \":$PATH:\" in *:/etc/ox/sw/bin:*) ;; *) export PATH=\"/etc/ox/sw/bin:$PATH\" ;; esac\n");
        }
        cx.etc_file("profile.d/ox.sh", p.into_bytes(), "environment.variables")?;
    }

    let rules = &cfg.systemd.tmpfiles.rules;
    if !rules.is_empty() {
        let mut t = String::from(
            "# This file is created automatically and should not be modified.\n# Please change the option `systemd.tmpfiles.rules' instead.\n",
        );
        t.push_str(&rules.join("\n"));
        t.push('\n');
        cx.etc_file(
            "tmpfiles.d/00-ox.conf",
            t.into_bytes(),
            "systemd.tmpfiles.rules",
        )?;
    }
    Ok(())
}

/// The charset part of a locale name for locale.gen ("en_US.UTF-8" → "UTF-8").
fn charset(locale: &str) -> &str {
    locale
        .split_once('.')
        .map(|(_, c)| c.split('@').next().unwrap_or(c))
        .unwrap_or("ISO-8859-1")
}

/// Users and groups of the activation plan, with NixOS's defaults for
/// normal and system users.
pub fn users(cfg: &HostConfig) -> Result<(Vec<User>, Vec<Group>), Error> {
    let mut users = Vec::new();
    for (key, u) in &cfg.users.users {
        let name = u.name.clone().unwrap_or_else(|| key.clone());
        let option = format!("users.users.{}", show_attr(key));
        if u.is_normal_user && u.is_system_user {
            return Err(Error::Invalid {
                option: format!("{option}.isNormalUser"),
                expected: "exactly one of isNormalUser and isSystemUser".into(),
                found: "both set".into(),
            });
        }
        let group = if u.group.is_empty() && u.is_normal_user {
            "users".to_string()
        } else {
            u.group.clone()
        };
        if group.is_empty() {
            return Err(Error::Invalid {
                option: format!("{option}.group"),
                expected: "a group name (system users need one)".into(),
                found: "\"\"".into(),
            });
        }
        let home = u
            .home
            .clone()
            .unwrap_or_else(|| User::default_home(&name, u.is_normal_user));
        let shell = u
            .shell
            .clone()
            .unwrap_or_else(|| User::default_shell(u.is_normal_user));
        users.push(User {
            name,
            uid: id(format!("{option}.uid"), u.uid)?,
            is_system_user: u.is_system_user,
            is_normal_user: u.is_normal_user,
            group,
            extra_groups: u.extra_groups.clone(),
            description: u.description.clone(),
            home: Some(home),
            create_home: u.create_home.unwrap_or(u.is_normal_user),
            shell: Some(shell),
            hashed_password: u.hashed_password.clone(),
            hashed_password_file: u.hashed_password_file.clone(),
            authorized_keys: u.openssh.authorized_keys.keys.clone(),
        });
    }
    users.sort_by(|a, b| a.name.cmp(&b.name));
    let mut groups: Vec<Group> = cfg
        .users
        .groups
        .iter()
        .map(|(k, g)| {
            let mut members = g.members.clone();
            members.sort();
            members.dedup();
            Ok(Group {
                name: g.name.clone().unwrap_or_else(|| k.clone()),
                gid: id(format!("users.groups.{}.gid", show_attr(k)), g.gid)?,
                members,
            })
        })
        .collect::<Result<_, Error>>()?;
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((users, groups))
}

#[cfg(test)]
mod tests {
    use super::place_source;
    use crate::{Node, Tree};

    /// A flake's `./file` (inside a `…-source` store path) is copied in;
    /// a built store path is linked; a store path not on disk is linked.
    #[test]
    fn flake_source_files_are_copied_built_paths_linked() {
        let t = tempfile::tempdir().unwrap();
        let store = t.path().join("store");
        let sd = store.to_string_lossy().into_owned();
        std::fs::create_dir_all(store.join("aaaa-source")).unwrap();
        std::fs::write(store.join("aaaa-source/motd"), "hi\n").unwrap();
        std::fs::create_dir_all(store.join("bbbb-motd")).unwrap();
        let mut tree = Tree::new();
        let src = format!("{sd}/aaaa-source/motd");
        place_source(&mut tree, &sd, "etc/a", &src, "a").unwrap();
        let built = format!("{sd}/bbbb-motd");
        place_source(&mut tree, &sd, "etc/b", &built, "b").unwrap();
        let gone = format!("{sd}/cccc-source/x");
        place_source(&mut tree, &sd, "etc/c", &gone, "c").unwrap();
        assert!(
            matches!(&tree.entries["etc/a"], Node::File { data, .. } if data == b"hi\n"),
            "{:?}",
            tree.entries["etc/a"]
        );
        assert!(matches!(&tree.entries["etc/b"], Node::Symlink(t) if *t == built));
        assert!(matches!(&tree.entries["etc/c"], Node::Symlink(t) if *t == gone));
    }
}
