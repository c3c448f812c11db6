//! Debian packages pinned to exact versions, through apt. ox removes
//! only packages it installed itself and that no generation in use
//! (the new one, the booted one) declares.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::plan::Package;
use crate::{run, Error, Paths};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PkgPlan {
    /// Not installed, or installed at another version.
    pub install: Vec<Package>,
    /// Installed by ox, declared by no generation in use.
    pub remove: Vec<String>,
    /// Of `install`, those that were absent (ox will own them).
    pub new_owned: Vec<Package>,
}

impl PkgPlan {
    pub fn is_empty(&self) -> bool {
        self.install.is_empty() && self.remove.is_empty()
    }
}

/// Installed packages (name → version) per dpkg.
pub fn installed(p: &Paths) -> Result<BTreeMap<String, String>, Error> {
    let mut cmd = Command::new("dpkg-query");
    if !p.is_live() {
        cmd.arg(format!("--admindir={}", p.at("/var/lib/dpkg").display()));
    }
    cmd.args(["-W", "-f", "${Package}\t${Version}\t${db:Status-Abbrev}\n"]);
    let out = run(&mut cmd)?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            // "ii " = installed; "rc " (config files only) is not
            (f.len() == 3 && f[2].starts_with("ii")).then(|| (f[0].to_string(), f[1].to_string()))
        })
        .collect())
}

pub fn plan(
    declared: &[Package],
    also_in_use: &[Package],
    installed: &BTreeMap<String, String>,
    owned: &BTreeMap<String, String>,
) -> PkgPlan {
    let mut pp = PkgPlan::default();
    for pkg in declared {
        match installed.get(&pkg.name) {
            Some(_) if pkg.version.is_none() => {}
            Some(v) if Some(v) == pkg.version.as_ref() => {}
            Some(_) => pp.install.push(pkg.clone()),
            None => {
                pp.install.push(pkg.clone());
                pp.new_owned.push(pkg.clone());
            }
        }
    }
    let keep: BTreeSet<&String> = declared
        .iter()
        .chain(also_in_use)
        .map(|p| &p.name)
        .collect();
    for name in owned.keys() {
        if !keep.contains(name) && installed.contains_key(name) {
            pp.remove.push(name.clone());
        }
    }
    pp
}

pub fn apply(p: &Paths, pp: &PkgPlan, owned: &mut BTreeMap<String, String>) -> Result<(), Error> {
    if pp.is_empty() {
        return Ok(());
    }
    if !p.is_live() {
        return Err(Error::Other(
            "packages cannot be installed or removed under --root (apt needs the running system)"
                .into(),
        ));
    }
    let apt = |args: &[String]| {
        run(Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["-y", "-q", "-o", "Dpkg::Options::=--force-confold"])
            .args(args))
    };
    if !pp.install.is_empty() {
        let mut a: Vec<String> = vec![
            "install".into(),
            "--no-install-recommends".into(),
            "--allow-downgrades".into(),
        ];
        a.extend(pp.install.iter().map(|p| match &p.version {
            Some(v) => format!("{}={v}", p.name),
            None => p.name.clone(),
        }));
        if apt(&a).is_err() {
            // the pinned version may be newer than the package lists
            apt(&["update".to_string()])?;
            apt(&a)?;
        }
        for pkg in &pp.new_owned {
            owned.insert(pkg.name.clone(), pkg.version.clone().unwrap_or_default());
        }
        for pkg in &pp.install {
            if let (Some(v), Some(want)) = (owned.get_mut(&pkg.name), &pkg.version) {
                v.clone_from(want);
            }
        }
    }
    if !pp.remove.is_empty() {
        let mut a: Vec<String> = vec!["remove".into()];
        a.extend(pp.remove.iter().cloned());
        apt(&a)?;
        for n in &pp.remove {
            owned.remove(n);
        }
    }
    Ok(())
}

pub fn describe(pp: &PkgPlan) -> Vec<String> {
    let mut v: Vec<String> = pp
        .install
        .iter()
        .map(|p| match &p.version {
            Some(v) => format!("install package {}={v}", p.name),
            None => format!("install package {}", p.name),
        })
        .collect();
    v.extend(
        pp.remove
            .iter()
            .map(|n| format!("remove package {n} (installed by ox, no longer declared)")),
    );
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(n: &str, v: &str) -> Package {
        Package {
            name: n.into(),
            version: Some(v.into()),
            sha256: None,
        }
    }

    #[test]
    fn only_what_ox_installed_is_removed() {
        let installed: BTreeMap<String, String> = [
            ("git", "1:2.39"),
            ("curl", "7.88"),
            ("jq", "1.6"),
            ("htop", "3.2"),
            ("vim", "9.0"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let owned: BTreeMap<String, String> = [("jq", "1.6"), ("htop", "3.2"), ("gone", "1")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        // git pinned at another version, tmux missing; curl and vim are
        // the admin's; htop is still declared by the booted generation
        let pp = plan(
            &[pkg("git", "1:2.40"), pkg("tmux", "3.3")],
            &[pkg("htop", "3.2")],
            &installed,
            &owned,
        );
        assert_eq!(pp.install, vec![pkg("git", "1:2.40"), pkg("tmux", "3.3")]);
        assert_eq!(pp.new_owned, vec![pkg("tmux", "3.3")]);
        assert_eq!(pp.remove, vec!["jq".to_string()]);
        let same = plan(&[pkg("git", "1:2.39")], &[], &installed, &BTreeMap::new());
        assert!(same.is_empty());
        // unpinned: only installed when missing
        let any = |n: &str| Package {
            name: n.into(),
            version: None,
            sha256: None,
        };
        let pp = plan(
            &[any("git"), any("tmux")],
            &[],
            &installed,
            &BTreeMap::new(),
        );
        assert_eq!(pp.install, vec![any("tmux")]);
    }
}
