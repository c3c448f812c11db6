//! Installing a host's secrets at activation, the way sops-nix's
//! `sops-install-secrets` does.
//!
//! [`install`] takes the secrets and templates of a host plus its
//! identities and:
//! 1. decrypts every sops file (each once), extracts every secret and
//!    renders every template, resolves every owner and group — any
//!    failure here (missing key, undecryptable file, tampered MAC, unknown
//!    user) is returned **before anything is written**;
//! 2. writes a fresh generation directory `<mount_point>/<N>` (N = the
//!    current generation + 1) on a RAM-backed filesystem: secrets at
//!    `<N>/<name>`, templates at `<N>/rendered/<name>`, each created with
//!    its final owner, group and mode before any byte is written;
//! 3. compares each file with the previous generation to report what was
//!    added, changed or removed (names only, never values);
//! 4. atomically repoints `symlink` (`/run/secrets`) to the new
//!    generation (a symlink created beside it, then `rename(2)`), creates
//!    the symlinks of secrets with a custom `path`, and prunes old
//!    generations.
//!
//! Placeholders in template content are [`placeholder`]`(secret name)`:
//! `<SOPS:` + lowercase hex SHA-256 of the name + `:PLACEHOLDER>`, the
//! same string sops-nix's `sops.placeholder.<name>` holds.

use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::keys::Identities;
use crate::store::Format;
use crate::tree::Value;
use crate::{Decrypted, Error, PathSeg};

/// One secret (sops-nix `sops.secrets.<name>`).
#[derive(Clone, Debug)]
pub struct Secret {
    /// File name below the generation directory; may contain `/`.
    pub name: String,
    pub sops_file: PathBuf,
    /// `/`-separated key inside a YAML/JSON file; `""` = the whole file.
    /// Ignored for binary, dotenv and INI files (the whole file).
    pub key: String,
    pub format: Format,
    /// User name or numeric uid; `None` = root.
    pub owner: Option<String>,
    /// Group name or numeric gid; `None` = the owner's primary group.
    pub group: Option<String>,
    /// Permission bits, e.g. `0o400`.
    pub mode: u32,
    /// Where the secret should also be reachable (a symlink to
    /// `<symlink>/<name>`); `None` = only the default place.
    pub path: Option<PathBuf>,
    /// systemd units to restart / reload when this secret is new or changed.
    pub restart_units: Vec<String>,
    pub reload_units: Vec<String>,
}

/// One template (sops-nix `sops.templates.<name>`): `content` with
/// placeholders, rendered to `<generation>/rendered/<name>`.
#[derive(Clone, Debug)]
pub struct Template {
    pub name: String,
    pub content: String,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: u32,
    pub path: Option<PathBuf>,
    pub restart_units: Vec<String>,
    pub reload_units: Vec<String>,
}

/// Everything [`install`] needs.
#[derive(Clone, Debug)]
pub struct Spec {
    pub secrets: Vec<Secret>,
    pub templates: Vec<Template>,
    /// OpenSSH private keys used as identities (sops-nix
    /// `age.sshKeyPaths`, default `/etc/ssh/ssh_host_ed25519_key`);
    /// missing files are skipped.
    pub ssh_key_paths: Vec<PathBuf>,
    /// An age key file (sops-nix `age.keyFile`); must exist when set.
    pub age_key_file: Option<PathBuf>,
    /// Where generations live, e.g. `/run/secrets.d`.
    pub mount_point: PathBuf,
    /// The symlink to the current generation, e.g. `/run/secrets`.
    pub symlink: PathBuf,
    /// Mount a tmpfs (mode 0751, nodev, nosuid, noexec) on `mount_point`
    /// unless a tmpfs/ramfs is already mounted exactly there. Needs root.
    /// Without it, a mount point that is not on a tmpfs/ramfs is refused.
    pub mount_tmpfs: bool,
    /// Generations to keep, including the new one (at least 1).
    pub keep_generations: usize,
    /// Treat every owner and group as root (secrets needed before users
    /// exist, sops-nix `neededForUsers`).
    pub ignore_passwd: bool,
}

impl Spec {
    /// The defaults sops-nix uses: `/run/secrets.d`, `/run/secrets`, the
    /// host ed25519 key, keep one generation, mount a tmpfs.
    pub fn new(secrets: Vec<Secret>, templates: Vec<Template>) -> Spec {
        Spec {
            secrets,
            templates,
            ssh_key_paths: vec![PathBuf::from("/etc/ssh/ssh_host_ed25519_key")],
            age_key_file: None,
            mount_point: PathBuf::from("/run/secrets.d"),
            symlink: PathBuf::from("/run/secrets"),
            mount_tmpfs: true,
            keep_generations: 1,
            ignore_passwd: false,
        }
    }

    /// The identities of this spec.
    pub fn identities(&self) -> Result<Identities, Error> {
        let mut ids = Identities::new();
        for p in &self.ssh_key_paths {
            if p.exists() {
                ids.add_ssh_key_file(p)?;
            }
        }
        if let Some(k) = &self.age_key_file {
            ids.add_age_key_file(k)?;
        }
        if ids.is_empty() {
            return Err(Error::Install(format!(
                "no identity to decrypt secrets with: none of the ssh keys ({}) exists and no age key file is set",
                self.ssh_key_paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(ids)
    }
}

/// What [`install`] did. Names only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The new generation directory.
    pub generation: PathBuf,
    /// Secret names / `rendered/<template name>` that are new…
    pub added: Vec<String>,
    /// …whose content, owner, group or mode changed…
    pub changed: Vec<String>,
    /// …or that the previous generation had and this one has not.
    pub removed: Vec<String>,
    /// The `restart_units` / `reload_units` of added and changed
    /// secrets and templates, sorted, without duplicates.
    pub restart_units: Vec<String>,
    pub reload_units: Vec<String>,
}

impl Report {
    /// Whether the secret or template file `name` is new or changed
    /// (what decides restartUnits/reloadUnits).
    pub fn is_changed(&self, name: &str) -> bool {
        self.added.iter().chain(&self.changed).any(|n| n == name)
    }
}

/// sops-nix's placeholder for secret `name`.
pub fn placeholder(name: &str) -> String {
    format!(
        "<SOPS:{}:PLACEHOLDER>",
        hex::encode(Sha256::digest(name.as_bytes()))
    )
}

/// Parse an octal mode string like `"0400"`.
pub fn parse_mode(s: &str) -> Result<u32, Error> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| Error::Install(format!("invalid mode '{s}': expected octal like 0400")))
}

fn ierr(msg: impl Into<String>) -> Error {
    Error::Install(msg.into())
}

fn check_name(kind: &str, name: &str) -> Result<(), Error> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(ierr(format!(
            "{kind} '{name}': the name must be a relative path without '.', '..' or empty components"
        )));
    }
    Ok(())
}

/// The value of `secret` in its decrypted file.
fn extract(secret: &Secret, d: &Decrypted) -> Result<Vec<u8>, Error> {
    let whole = secret.key.is_empty()
        || matches!(secret.format, Format::Binary | Format::Dotenv | Format::Ini);
    if whole {
        return d.plaintext();
    }
    let path: Vec<PathSeg> = secret
        .key
        .split('/')
        .map(|k| PathSeg::Key(k.to_string()))
        .collect();
    let v = d.extract(&path).map_err(|_| {
        ierr(format!(
            "secret '{}': key '{}' not found in {}",
            secret.name,
            secret.key,
            secret.sops_file.display()
        ))
    })?;
    match v {
        Value::Str(s) => Ok(s.clone().into_bytes()),
        Value::Bytes(b) => Ok(b.clone()),
        _ => Err(ierr(format!(
            "secret '{}': the value of key '{}' in {} is not a string",
            secret.name,
            secret.key,
            secret.sops_file.display()
        ))),
    }
}

fn cstr(s: &str) -> Option<CString> {
    CString::new(s).ok()
}

fn lookup_user(name: &str) -> Option<(u32, u32)> {
    if let Ok(uid) = name.parse::<u32>() {
        return Some((uid, primary_gid(uid).unwrap_or(0)));
    }
    let c = cstr(name)?;
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16384];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the duration of the call.
    let r = unsafe {
        libc::getpwnam_r(
            c.as_ptr(),
            &mut pw,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut out,
        )
    };
    (r == 0 && !out.is_null()).then_some((pw.pw_uid, pw.pw_gid))
}

fn primary_gid(uid: u32) -> Option<u32> {
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16384];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: as above.
    let r = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut out) };
    (r == 0 && !out.is_null()).then_some(pw.pw_gid)
}

fn lookup_group(name: &str) -> Option<u32> {
    if let Ok(gid) = name.parse::<u32>() {
        return Some(gid);
    }
    let c = cstr(name)?;
    let mut gr: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16384];
    let mut out: *mut libc::group = std::ptr::null_mut();
    // SAFETY: as above.
    let r = unsafe {
        libc::getgrnam_r(
            c.as_ptr(),
            &mut gr,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut out,
        )
    };
    (r == 0 && !out.is_null()).then_some(gr.gr_gid)
}

/// An owner or group that does not exist on this host (yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing<'a> {
    User(&'a str),
    Group(&'a str),
}

/// Whether a missing owner or group will exist by the time [`install`]
/// runs (activation creates the users and groups it declares first).
pub type WillExist<'a> = &'a dyn Fn(Missing<'_>) -> bool;

/// The uid/gid of an owner that does not exist yet: it never matches a
/// file's, so a dry run counts the file as changed, as the install
/// after the owner's creation will.
const PENDING: u32 = u32::MAX;

fn resolve_ids(
    what: &str,
    owner: &Option<String>,
    group: &Option<String>,
    ignore: bool,
    will_exist: Option<WillExist>,
) -> Result<(u32, u32), Error> {
    if ignore {
        return Ok((0, 0));
    }
    let pending = |m: Missing| will_exist.is_some_and(|f| f(m));
    let unknown = |kind: &str, name: &str| {
        let why = if will_exist.is_some() {
            " (it neither exists on the host nor is declared)"
        } else {
            ""
        };
        ierr(format!("{what}: unknown {kind} '{name}'{why}"))
    };
    let (uid, primary) = match owner {
        None => (0, 0),
        Some(o) => match lookup_user(o) {
            Some(ids) => ids,
            None if pending(Missing::User(o)) => (PENDING, PENDING),
            None => return Err(unknown("user", o)),
        },
    };
    let gid = match group {
        None => primary,
        Some(g) => match lookup_group(g) {
            Some(gid) => gid,
            None if pending(Missing::Group(g)) => PENDING,
            None => return Err(unknown("group", g)),
        },
    };
    Ok((uid, gid))
}

/// A file to write into the generation.
struct Planned {
    rel: String,
    restart: Vec<String>,
    reload: Vec<String>,
    bytes: Vec<u8>,
    uid: u32,
    gid: u32,
    mode: u32,
    link: Option<PathBuf>,
}

/// Whether `p` is on a tmpfs or ramfs: where plaintext may be written
/// (memory only, never a disk).
pub fn is_ram_fs(p: &Path) -> bool {
    let Ok(c) = CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out-buffer.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return false;
    }
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    matches!(st.f_type as i64, TMPFS_MAGIC | RAMFS_MAGIC)
}

/// Whether `p` is the root of a mount (its device differs from its
/// parent's).
fn is_mount_point(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(m), Some(parent)) = (std::fs::metadata(p), p.parent()) else {
        return false;
    };
    std::fs::metadata(parent).is_ok_and(|pm| pm.dev() != m.dev())
}

fn io(p: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(p, e)
}

fn chown(p: &Path, uid: u32, gid: u32) -> Result<(), Error> {
    let c = CString::new(p.as_os_str().as_bytes()).map_err(|_| ierr("path contains NUL"))?;
    // SAFETY: valid C string.
    if unsafe { libc::lchown(c.as_ptr(), uid, gid) } != 0 {
        return Err(Error::io(p, std::io::Error::last_os_error()));
    }
    Ok(())
}

fn mount_tmpfs(dir: &Path) -> Result<(), Error> {
    let target = CString::new(dir.as_os_str().as_bytes()).map_err(|_| ierr("path contains NUL"))?;
    let src = CString::new("none").unwrap_or_default();
    let fstype = CString::new("tmpfs").unwrap_or_default();
    let data = CString::new("mode=0751").unwrap_or_default();
    // SAFETY: valid C strings for every argument.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NODEV | libc::MS_NOSUID | libc::MS_NOEXEC,
            data.as_ptr().cast(),
        )
    };
    if r != 0 {
        return Err(Error::Install(format!(
            "cannot mount a tmpfs on {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// The generation `symlink` points to, if it is one of ours.
fn current_generation(spec: &Spec) -> Option<(PathBuf, u64)> {
    let target = std::fs::read_link(&spec.symlink).ok()?;
    let target = if target.is_absolute() {
        target
    } else {
        spec.symlink.parent()?.join(target)
    };
    if target.parent()? != spec.mount_point {
        return None;
    }
    let n = target.file_name()?.to_str()?.parse().ok()?;
    Some((target, n))
}

fn existing_generations(dir: &Path) -> Vec<u64> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Replace `link` by a symlink to `target`, atomically.
fn symlink_atomic(target: &Path, link: &Path) -> Result<(), Error> {
    let parent = link.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    if let Ok(m) = std::fs::symlink_metadata(link) {
        if m.is_dir() {
            // a leftover real directory (e.g. from another tool): only
            // an empty one may go
            std::fs::remove_dir(link).map_err(|e| {
                ierr(format!(
                    "{} is a directory, not a symlink, and cannot be replaced: {e}",
                    link.display()
                ))
            })?;
        }
    }
    let name = link
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.ox-tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(io(&tmp))?;
    std::fs::rename(&tmp, link).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(link, e)
    })
}

fn write_generation(gen: &Path, files: &[Planned], keys_gid: u32) -> Result<(), Error> {
    let mut db = std::fs::DirBuilder::new();
    db.mode(0o751);
    db.create(gen).map_err(io(gen))?;
    chown(gen, 0, keys_gid)?;
    for f in files {
        let p = gen.join(&f.rel);
        // parent directories 0751 root:keys, like sops-nix
        let mut dir = gen.to_path_buf();
        if let Some(parent) = Path::new(&f.rel).parent() {
            for c in parent.components() {
                dir.push(c);
                if !dir.exists() {
                    db.create(&dir).map_err(io(&dir))?;
                    chown(&dir, 0, keys_gid)?;
                }
            }
        }
        // created with no permissions; owner and mode set before the
        // content is written, so the plaintext is never readable by others
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o000)
            .open(&p)
            .map_err(io(&p))?;
        chown(&p, f.uid, f.gid)?;
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(f.mode))
            .map_err(io(&p))?;
        file.write_all(&f.bytes).map_err(io(&p))?;
        file.sync_all().map_err(io(&p))?;
    }
    Ok(())
}

fn file_state(p: &Path) -> Option<(Vec<u8>, u32, u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p).ok()?;
    if !m.is_file() {
        return None;
    }
    Some((std::fs::read(p).ok()?, m.uid(), m.gid(), m.mode() & 0o7777))
}

fn list_files(root: &Path) -> Vec<String> {
    fn go(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => go(root, &p, out),
                Ok(t) if t.is_file() => {
                    if let Ok(r) = p.strip_prefix(root) {
                        out.push(r.to_string_lossy().into_owned());
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = vec![];
    go(root, root, &mut out);
    out.sort();
    out
}

/// Decrypt, render and install; see the module docs for the order of
/// operations and the guarantees.
pub fn install(spec: &Spec) -> Result<Report, Error> {
    let (files, keys_gid, _) = prepare(spec, None)?;
    write_and_switch(spec, &files, keys_gid)
}

/// What [`install`] would report, without writing anything (for
/// dry-activate): everything is decrypted, rendered and resolved, and
/// compared with the generation `symlink` points to now. `generation`
/// is the current one (empty if none).
pub fn dry_run(spec: &Spec) -> Result<Report, Error> {
    dry_run_with(spec, None).map(|(r, _)| r)
}

/// The secrets' values by name, from a dry run; memory only, and its
/// `Debug` shows names only.
pub struct Values(BTreeMap<String, Vec<u8>>);

impl Values {
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0.get(name).map(Vec::as_slice)
    }
}

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// [`dry_run`] for a caller that creates owners before installing:
/// an owner or group `will_exist` accepts need not exist yet (its files
/// count as changed). Also returns the secrets' values (activation
/// reads `neededForUsers` ones before they are installed).
pub fn dry_run_with(spec: &Spec, will_exist: Option<WillExist>) -> Result<(Report, Values), Error> {
    let (files, _, values) = prepare(spec, will_exist)?;
    let prev = current_generation(spec);
    let gen = prev.as_ref().map(|p| p.0.clone()).unwrap_or_default();
    let report = diff(&files, prev.as_ref().map(|p| p.0.as_path()), gen);
    Ok((report, Values(values)))
}

/// Removes what [`install`] put in place, as sops-nix does for an
/// empty manifest: the `symlink` and every generation below
/// `mount_point`. Returns the names the current generation held; with
/// `dry`, only lists them. A `symlink` that is not ours is left alone.
pub fn uninstall(spec: &Spec, dry: bool) -> Result<Vec<String>, Error> {
    let Some((current, _)) = current_generation(spec) else {
        return Ok(vec![]);
    };
    let names = list_files(&current);
    if dry {
        return Ok(names);
    }
    std::fs::remove_file(&spec.symlink).map_err(io(&spec.symlink))?;
    for g in existing_generations(&spec.mount_point) {
        let d = spec.mount_point.join(g.to_string());
        std::fs::remove_dir_all(&d).map_err(io(&d))?;
    }
    Ok(names)
}

/// Phase 1: everything that can fail without writing.
#[allow(clippy::type_complexity)]
fn prepare(
    spec: &Spec,
    will_exist: Option<WillExist>,
) -> Result<(Vec<Planned>, u32, BTreeMap<String, Vec<u8>>), Error> {
    let ids = spec.identities()?;
    let mut cache: HashMap<(PathBuf, &'static str), Decrypted> = HashMap::new();
    let mut values: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut files: Vec<Planned> = vec![];
    let mut seen = std::collections::HashSet::new();
    for s in &spec.secrets {
        check_name("secret", &s.name)?;
        if !seen.insert(s.name.clone()) || s.name == "rendered" || s.name.starts_with("rendered/") {
            return Err(ierr(format!(
                "secret '{}': duplicate or reserved name",
                s.name
            )));
        }
        let ck = (s.sops_file.clone(), s.format.name());
        if !cache.contains_key(&ck) {
            let d = crate::decrypt_file(&s.sops_file, Some(s.format), &ids)
                .map_err(|e| ierr(format!("secret '{}': {e}", s.name)))?;
            cache.insert(ck.clone(), d);
        }
        let bytes = extract(s, &cache[&ck])?;
        let (uid, gid) = resolve_ids(
            &format!("secret '{}'", s.name),
            &s.owner,
            &s.group,
            spec.ignore_passwd,
            will_exist,
        )?;
        values.insert(s.name.clone(), bytes.clone());
        files.push(Planned {
            restart: s.restart_units.clone(),
            reload: s.reload_units.clone(),
            rel: s.name.clone(),
            bytes,
            uid,
            gid,
            mode: s.mode,
            link: s.path.clone().filter(|p| *p != spec.symlink.join(&s.name)),
        });
    }
    let mut tseen = std::collections::HashSet::new();
    for t in &spec.templates {
        check_name("template", &t.name)?;
        if !tseen.insert(t.name.clone()) {
            return Err(ierr(format!("template '{}': duplicate name", t.name)));
        }
        let mut content = t.content.clone().into_bytes();
        for (name, v) in &values {
            content = replace_all(&content, placeholder(name).as_bytes(), v);
        }
        let (uid, gid) = resolve_ids(
            &format!("template '{}'", t.name),
            &t.owner,
            &t.group,
            spec.ignore_passwd,
            will_exist,
        )?;
        let rel = format!("rendered/{}", t.name);
        files.push(Planned {
            restart: t.restart_units.clone(),
            reload: t.reload_units.clone(),
            link: t.path.clone().filter(|p| *p != spec.symlink.join(&rel)),
            rel,
            bytes: content,
            uid,
            gid,
            mode: t.mode,
        });
    }
    let keys_gid = if spec.ignore_passwd {
        0
    } else {
        lookup_group("keys")
            .or_else(|| lookup_group("nogroup"))
            .unwrap_or(0)
    };
    Ok((files, keys_gid, values))
}

/// Phase 3: compare the planned files with generation `prev`.
fn diff(files: &[Planned], prev: Option<&Path>, generation: PathBuf) -> Report {
    let mut report = Report {
        generation,
        ..Default::default()
    };
    for f in files {
        let new = (f.bytes.clone(), f.uid, f.gid, f.mode);
        let differs = match prev.and_then(|p| file_state(&p.join(&f.rel))) {
            None => {
                report.added.push(f.rel.clone());
                true
            }
            Some(old) if old != new => {
                report.changed.push(f.rel.clone());
                true
            }
            Some(_) => false,
        };
        if differs {
            report.restart_units.extend(f.restart.iter().cloned());
            report.reload_units.extend(f.reload.iter().cloned());
        }
    }
    for l in [&mut report.restart_units, &mut report.reload_units] {
        l.sort();
        l.dedup();
    }
    if let Some(p) = prev {
        for rel in list_files(p) {
            if !files.iter().any(|f| f.rel == rel) {
                report.removed.push(rel);
            }
        }
    }
    report
}

/// Phases 2–4: write the generation, report, switch, link, prune.
fn write_and_switch(spec: &Spec, files: &[Planned], keys_gid: u32) -> Result<Report, Error> {
    // ---- phase 2: write the new generation
    let mut db = std::fs::DirBuilder::new();
    db.recursive(true).mode(0o751);
    db.create(&spec.mount_point)
        .map_err(io(&spec.mount_point))?;
    // its own mount (like sops-nix's ramfs): not merely somewhere under
    // /run, whose tmpfs other processes share and fill
    let own_mount = is_mount_point(&spec.mount_point);
    if spec.mount_tmpfs && !(own_mount && is_ram_fs(&spec.mount_point)) {
        mount_tmpfs(&spec.mount_point)?;
    }
    if !is_ram_fs(&spec.mount_point) {
        return Err(ierr(format!(
            "{} is not on a tmpfs or ramfs; refusing to write secrets to disk",
            spec.mount_point.display()
        )));
    }
    let prev = current_generation(spec);
    let next = existing_generations(&spec.mount_point)
        .into_iter()
        .chain(prev.as_ref().map(|p| p.1))
        .max()
        .unwrap_or(0)
        + 1;
    let gen = spec.mount_point.join(next.to_string());
    if let Err(e) = write_generation(&gen, files, keys_gid) {
        let _ = std::fs::remove_dir_all(&gen);
        return Err(e);
    }

    // ---- phase 3: what changed
    let report = diff(files, prev.as_ref().map(|p| p.0.as_path()), gen.clone());

    // ---- phase 4: switch, links, prune
    if let Err(e) = symlink_atomic(&gen, &spec.symlink) {
        let _ = std::fs::remove_dir_all(&gen);
        return Err(e);
    }
    for f in files {
        if let Some(link) = &f.link {
            let target = spec.symlink.join(&f.rel);
            symlink_atomic(&target, link)?;
            chown(link, f.uid, f.gid)?;
        }
    }
    let keep = spec.keep_generations.max(1) as u64;
    for g in existing_generations(&spec.mount_point) {
        if g + keep <= next {
            let _ = std::fs::remove_dir_all(spec.mount_point.join(g.to_string()));
        }
    }
    Ok(report)
}

fn replace_all(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() {
        return hay.to_vec();
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Build-time validation (sops-nix's `-check-mode=sopsfile`), without
/// any key: every sops file exists and is sops-encrypted in its format,
/// and every `key` exists and holds an encrypted string. Keys and types
/// are readable without decrypting.
pub fn check(spec: &Spec) -> Result<(), Error> {
    let mut loaded: HashMap<(PathBuf, &'static str), Vec<Value>> = HashMap::new();
    for s in &spec.secrets {
        check_name("secret", &s.name)?;
        let ck = (s.sops_file.clone(), s.format.name());
        if !loaded.contains_key(&ck) {
            let bytes = std::fs::read(&s.sops_file).map_err(io(&s.sops_file))?;
            let (branches, _) = crate::store::load_encrypted(s.format, &bytes).map_err(|e| {
                ierr(format!(
                    "secret '{}': {} is not a sops {} file: {e}",
                    s.name,
                    s.sops_file.display(),
                    s.format.name()
                ))
            })?;
            loaded.insert(ck.clone(), branches);
        }
        let whole =
            s.key.is_empty() || matches!(s.format, Format::Binary | Format::Dotenv | Format::Ini);
        if whole {
            continue;
        }
        let mut v = loaded[&ck].first();
        for k in s.key.split('/') {
            v = v.and_then(|v| v.get(k));
        }
        let not_found = || {
            ierr(format!(
                "secret '{}': key '{}' not found in {}",
                s.name,
                s.key,
                s.sops_file.display()
            ))
        };
        match v.ok_or_else(not_found)? {
            Value::Str(x) if x.is_empty() || x.ends_with(",type:str]") => {}
            _ => {
                return Err(ierr(format!(
                    "secret '{}': the value of key '{}' in {} is not an encrypted string",
                    s.name,
                    s.key,
                    s.sops_file.display()
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_form() {
        // sha256("powerdns/api-key"), as sops-nix computes it
        let p = placeholder("powerdns/api-key");
        assert!(p.starts_with("<SOPS:") && p.ends_with(":PLACEHOLDER>"));
        assert_eq!(p.len(), "<SOPS:".len() + 64 + ":PLACEHOLDER>".len());
        assert_eq!(
            placeholder("foo"),
            "<SOPS:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae:PLACEHOLDER>"
        );
    }

    #[test]
    fn modes_and_names() {
        assert_eq!(parse_mode("0400").unwrap(), 0o400);
        assert_eq!(parse_mode("640").unwrap(), 0o640);
        assert!(parse_mode("0800").is_err());
        assert!(check_name("secret", "a/b").is_ok());
        assert!(check_name("secret", "../x").is_err());
        assert!(check_name("secret", "/abs").is_err());
        assert_eq!(replace_all(b"a<P>b<P>", b"<P>", b"xy"), b"axybxy");
    }
}
