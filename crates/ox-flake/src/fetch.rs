//! Fetchers: turn a (possibly unlocked) flake reference into a source
//! tree in the store plus the locked reference that pins it. Kinds:
//! `path`, `git` (local repositories, through the `git` command), `tarball`
//! and `file` (local `file://` URLs, or HTTP(S)), `github` (HTTPS; a clear
//! error without network unless the locked tree is already in the store),
//! and ox's built-in `ox` input.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::flakeref::{Attr, FlakeRef};
use crate::store::{newest_mtime, SourceStore};
use crate::Error;

/// A fetched source.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub locked: FlakeRef,
    /// Whether it was asked for by a locked reference (with narHash).
    pub pinned: bool,
    /// The store path of the whole source tree.
    pub src: PathBuf,
}

impl Fetched {
    /// Where `flake.nix` is (the `dir` subdirectory, if any).
    pub fn flake_dir(&self) -> PathBuf {
        match self.locked.dir() {
            Some(d) => self.src.join(d),
            None => self.src.clone(),
        }
    }
}

/// Where and how to fetch.
#[derive(Clone, Debug)]
pub struct FetchSettings {
    /// `https://api.github.com` (tests point it at a loopback server).
    pub github_api: String,
    /// `https://github.com`, for archive downloads.
    pub github_base: String,
    /// The running ox's `nix/` tree (the built-in `ox` input).
    pub ox_nix_dir: Option<PathBuf>,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            github_api: "https://api.github.com".into(),
            github_base: "https://github.com".into(),
            ox_nix_dir: None,
        }
    }
}

/// The version recorded for the built-in `ox` input.
pub const OX_VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct Fetcher {
    pub store: SourceStore,
    pub settings: FetchSettings,
    cache: HashMap<String, Fetched>,
}

impl Fetcher {
    pub fn new(store: SourceStore, settings: FetchSettings) -> Fetcher {
        Fetcher {
            store,
            settings,
            cache: HashMap::new(),
        }
    }

    /// Forget what unlocked references resolved to, so a new lock sees
    /// upstream changes (locked ones stay cached: they cannot change).
    pub fn forget_unlocked(&mut self) {
        self.cache.retain(|_, f| f.pinned);
    }

    /// Fetch `r`. A relative `path:` is resolved inside `parent` (the
    /// directory of the flake declaring it, in the store). A locked
    /// reference (with `narHash`) is taken from the store when present
    /// and its hash is checked after fetching otherwise.
    pub fn fetch(&mut self, r: &FlakeRef, parent: Option<&Path>) -> Result<Fetched, Error> {
        let key = format!(
            "{}\0{}",
            r.to_url(),
            parent.map(|p| p.display().to_string()).unwrap_or_default()
        );
        if let Some(f) = self.cache.get(&key) {
            return Ok(f.clone());
        }
        // A locked source already in the store needs no fetching.
        if let (Some(nh), false) = (r.str("narHash"), r.kind() == "ox") {
            if let Some(p) = self.store.lookup(nh)? {
                let f = Fetched {
                    locked: r.clone(),
                    src: p,
                    pinned: true,
                };
                self.cache.insert(key, f.clone());
                return Ok(f);
            }
        }
        let f = match r.kind() {
            "indirect" => match r.str("id") {
                Some("ox") => self.fetch_ox()?,
                Some(id) => {
                    return Err(Error::Fetch {
                        input: r.to_url(),
                        why: format!(
                            "cannot find flake 'flake:{}' in the flake registry: ox's registry has only the built-in 'ox'; give a full reference such as github:OWNER/{} or path:…",
                            id, id
                        ),
                    })
                }
                None => unreachable!("indirect references always have an id"),
            },
            "ox" => self.fetch_ox()?,
            "path" => self.fetch_path(r, parent)?,
            "git" => self.fetch_git(r)?,
            "tarball" | "file" => self.fetch_url(r)?,
            "github" => self.fetch_github(r)?,
            k => {
                return Err(Error::Fetch {
                    input: r.to_url(),
                    why: format!("unsupported input type '{}'", k),
                })
            }
        };
        if let Some(want) = r.str("narHash") {
            let got = f.locked.str("narHash").unwrap_or("");
            if r.kind() != "ox" && got != want {
                return Err(Error::Fetch {
                    input: r.to_url(),
                    why: format!(
                        "NAR hash mismatch: the lock file expects {} but the source now has {}; run `ox flake update` for this input if the change is intended",
                        want, got
                    ),
                });
            }
        }
        let f = Fetched {
            pinned: r.str("narHash").is_some() && r.kind() != "ox",
            ..f
        };
        self.cache.insert(key, f.clone());
        Ok(f)
    }

    fn fetch_ox(&mut self) -> Result<Fetched, Error> {
        let Some(dir) = self.settings.ox_nix_dir.clone() else {
            return Err(Error::Fetch {
                input: "ox".into(),
                why: "the built-in ox input needs ox's nix/ tree (lib, modules, pkgs), and none is configured (search path entry 'ox', e.g. -I ox=<repo>/nix)".into(),
            });
        };
        if !dir.is_dir() {
            return Err(Error::Fetch {
                input: "ox".into(),
                why: format!("ox's nix/ tree '{}' is not a directory", dir.display()),
            });
        }
        let added = self.store.add_tree(&dir, None)?;
        let locked = FlakeRef::new("ox")
            .with("narHash", added.nar_hash.to_sri())
            .with("version", OX_VERSION);
        Ok(Fetched {
            locked,
            src: added.path,
            pinned: false,
        })
    }

    fn fetch_path(&mut self, r: &FlakeRef, parent: Option<&Path>) -> Result<Fetched, Error> {
        let p = r.str("path").unwrap_or("");
        let dir = if p.starts_with('/') {
            PathBuf::from(p)
        } else {
            let Some(parent) = parent else {
                return Err(Error::Fetch {
                    input: r.to_url(),
                    why: "a relative path input is only allowed inside a flake".into(),
                });
            };
            let joined = normalize(&parent.join(p));
            if !joined.starts_with(normalize(parent)) {
                return Err(Error::Fetch {
                    input: r.to_url(),
                    why: format!(
                        "relative path '{}' points outside of its parent flake's source '{}'",
                        p,
                        parent.display()
                    ),
                });
            }
            joined
        };
        if std::fs::symlink_metadata(&dir).is_err() {
            return Err(Error::Fetch {
                input: r.to_url(),
                why: format!("path '{}' does not exist", dir.display()),
            });
        }
        let last_modified = newest_mtime(&dir)?;
        let added = self.store.add_tree(&dir, None)?;
        let mut locked = FlakeRef::new("path").with("path", p);
        if let Some(d) = r.dir() {
            locked = locked.with("dir", d);
        }
        locked.set("lastModified", Attr::Int(last_modified));
        locked.set("narHash", Attr::Str(added.nar_hash.to_sri()));
        Ok(Fetched {
            locked,
            src: added.path,
            pinned: false,
        })
    }

    fn fetch_git(&mut self, r: &FlakeRef) -> Result<Fetched, Error> {
        let url = r.str("url").unwrap_or("");
        let fail = |why: String| Error::Fetch {
            input: r.to_url(),
            why,
        };
        let Some(repo) = url.strip_prefix("file://") else {
            return Err(fail(format!(
                "fetching git repository '{}' needs the network; ox fetches git inputs from local repositories (git+file://) only",
                url
            )));
        };
        let repo = PathBuf::from(repo);
        if !repo.exists() {
            return Err(fail(format!(
                "repository '{}' does not exist",
                repo.display()
            )));
        }
        let (rref, rev) = match (r.str("ref"), r.str("rev")) {
            (_, Some(rev)) => {
                git(&repo, &["cat-file", "-e", &format!("{}^{{commit}}", rev)]).map_err(|e| {
                    fail(format!("revision {} is not in the repository: {}", rev, e))
                })?;
                // Like Nix 2.8, a bare rev is recorded with the default branch.
                let rf = match r.str("ref") {
                    Some(x) => Some(x.to_string()),
                    None => git(&repo, &["symbolic-ref", "--short", "HEAD"]).ok(),
                };
                (rf, rev.to_string())
            }
            (Some(rf), None) => {
                let rev = resolve_ref(&repo, rf).map_err(fail)?;
                (Some(rf.to_string()), rev)
            }
            (None, None) => {
                let head = git(&repo, &["symbolic-ref", "--short", "HEAD"])
                    .map_err(|e| fail(format!("cannot read HEAD: {}", e)))?;
                let rev = resolve_ref(&repo, &head).map_err(fail)?;
                (Some(head), rev)
            }
        };
        let last_modified: u64 = git(&repo, &["log", "-1", "--format=%ct", &rev])
            .map_err(fail)?
            .parse()
            .map_err(|_| fail("git log printed no commit time".into()))?;
        let rev_count: u64 = git(&repo, &["rev-list", "--count", &rev])
            .map_err(fail)?
            .parse()
            .map_err(|_| fail("git rev-list printed no count".into()))?;
        // The tree at `rev`, without .git, as `git archive` exports it.
        let out = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["archive", "--format=tar", &rev])
            .output()
            .map_err(|e| fail(format!("running git: {}", e)))?;
        if !out.status.success() {
            return Err(fail(format!(
                "git archive failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let tmp = self.store.temp_dir()?;
        std::fs::create_dir(&tmp).map_err(|e| Error::io("creating a temporary directory", e))?;
        let unpacked = unpack_tar(&out.stdout[..], &tmp)
            .map_err(|e| fail(format!("unpacking git archive: {}", e)));
        if let Err(e) = unpacked {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        let added = self.store.add_prepared(tmp)?;
        let mut locked = FlakeRef::new("git").with("url", url);
        if let Some(d) = r.dir() {
            locked = locked.with("dir", d);
        }
        if let Some(rf) = rref {
            locked = locked.with("ref", rf);
        }
        locked = locked
            .with("rev", rev)
            .with("narHash", added.nar_hash.to_sri());
        locked.set("lastModified", Attr::Int(last_modified));
        locked.set("revCount", Attr::Int(rev_count));
        Ok(Fetched {
            locked,
            src: added.path,
            pinned: false,
        })
    }

    fn fetch_url(&mut self, r: &FlakeRef) -> Result<Fetched, Error> {
        let url = r.str("url").unwrap_or("").to_string();
        let fail = |why: String| Error::Fetch {
            input: r.to_url(),
            why,
        };
        let data = download(&url).map_err(fail)?;
        let tmp = self.store.temp_dir()?;
        let res = (|| -> Result<(), String> {
            if r.kind() == "file" {
                std::fs::write(&tmp, &data).map_err(|e| e.to_string())?;
                return Ok(());
            }
            let unpack_dir = tmp.with_extension("unpack");
            std::fs::create_dir(&unpack_dir).map_err(|e| e.to_string())?;
            let r = unpack_archive(&data, &unpack_dir).and_then(|()| {
                // Like Nix: the archive's single top-level entry is the tree.
                let entries: Vec<_> = std::fs::read_dir(&unpack_dir)
                    .map_err(|e| e.to_string())?
                    .flatten()
                    .collect();
                if entries.len() != 1 {
                    return Err(format!(
                        "tarball contains {} top-level entries; exactly one (the source directory) was expected",
                        entries.len()
                    ));
                }
                std::fs::rename(entries[0].path(), &tmp).map_err(|e| e.to_string())
            });
            let _ = std::fs::remove_dir_all(&unpack_dir);
            r
        })();
        if let Err(e) = res {
            let _ = std::fs::remove_dir_all(&tmp).or_else(|_| std::fs::remove_file(&tmp));
            return Err(fail(e));
        }
        let added = self.store.add_prepared(tmp)?;
        let mut locked = FlakeRef::new(r.kind()).with("url", url);
        if let Some(d) = r.dir() {
            locked = locked.with("dir", d);
        }
        locked = locked.with("narHash", added.nar_hash.to_sri());
        Ok(Fetched {
            locked,
            src: added.path,
            pinned: false,
        })
    }

    fn fetch_github(&mut self, r: &FlakeRef) -> Result<Fetched, Error> {
        let owner = r.str("owner").unwrap_or("");
        let repo = r.str("repo").unwrap_or("");
        let fail = |why: String| Error::Fetch {
            input: r.to_url(),
            why,
        };
        let rev = match r.str("rev") {
            Some(rev) => rev.to_string(),
            None => {
                let rf = r.str("ref").unwrap_or("HEAD");
                let api = format!(
                    "{}/repos/{}/{}/commits/{}",
                    self.settings.github_api, owner, repo, rf
                );
                let body = download(&api).map_err(|e| {
                    fail(format!(
                        "cannot resolve '{}' and nothing for it is in the store ({}); github inputs need network access the first time, or a lock file whose narHash is already in the store",
                        rf, e
                    ))
                })?;
                let j: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| fail(format!("GitHub API answer is not JSON: {}", e)))?;
                j.get("sha")
                    .and_then(|s| s.as_str())
                    .ok_or_else(|| fail("GitHub API answer has no 'sha'".into()))?
                    .to_string()
            }
        };
        let archive = format!(
            "{}/{}/{}/archive/{}.tar.gz",
            self.settings.github_base, owner, repo, rev
        );
        let data = download(&archive).map_err(|e| {
            fail(format!(
                "cannot download revision {} and it is not in the store ({}); github inputs need network access the first time",
                rev, e
            ))
        })?;
        // Commit time from the archive's pax header comment, as GitHub
        // stores it; 0 when absent.
        let last_modified = github_commit_time(&data).unwrap_or(0);
        let tmp = self.store.temp_dir()?;
        let unpack_dir = tmp.with_extension("unpack");
        std::fs::create_dir(&unpack_dir)
            .map_err(|e| Error::io("creating a temporary directory", e))?;
        let res = unpack_archive(&data, &unpack_dir).and_then(|()| {
            let entries: Vec<_> = std::fs::read_dir(&unpack_dir)
                .map_err(|e| e.to_string())?
                .flatten()
                .collect();
            if entries.len() != 1 {
                return Err(format!(
                    "archive has {} top-level entries, expected one",
                    entries.len()
                ));
            }
            std::fs::rename(entries[0].path(), &tmp).map_err(|e| e.to_string())
        });
        let _ = std::fs::remove_dir_all(&unpack_dir);
        res.map_err(fail)?;
        let added = self.store.add_prepared(tmp)?;
        let mut locked = FlakeRef::new("github")
            .with("owner", owner)
            .with("repo", repo)
            .with("rev", rev)
            .with("narHash", added.nar_hash.to_sri());
        if let Some(d) = r.dir() {
            locked = locked.with("dir", d);
        }
        locked.set("lastModified", Attr::Int(last_modified));
        Ok(Fetched {
            locked,
            src: added.path,
            pinned: false,
        })
    }
}

/// `git -C repo args…`, trimmed stdout, or stderr as the error.
pub fn git(repo: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .map_err(|e| format!("running git: {}", e))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn resolve_ref(repo: &Path, rf: &str) -> Result<String, String> {
    for cand in [
        format!("refs/heads/{}", rf),
        format!("refs/tags/{}", rf),
        rf.to_string(),
    ] {
        if let Ok(rev) = git(
            repo,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{}^{{commit}}", cand),
            ],
        ) {
            if !rev.is_empty() {
                return Ok(rev);
            }
        }
    }
    Err(format!(
        "ref '{}' does not exist in '{}'",
        rf,
        repo.display()
    ))
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Read a `file://` URL, or download over HTTP(S).
fn download(url: &str) -> Result<Vec<u8>, String> {
    if let Some(p) = url.strip_prefix("file://") {
        return std::fs::read(p).map_err(|e| format!("reading '{}': {}", p, e));
    }
    crate::http::get(url)
}

fn unpack_archive(data: &[u8], dest: &Path) -> Result<(), String> {
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut gz = flate2::read::GzDecoder::new(data);
        let mut raw = Vec::new();
        gz.read_to_end(&mut raw)
            .map_err(|e| format!("gunzip: {}", e))?;
        unpack_tar(&raw[..], dest)
    } else if data.len() > 262 && &data[257..262] == b"ustar" {
        unpack_tar(data, dest)
    } else {
        Err("unsupported archive format (ox unpacks .tar and .tar.gz)".into())
    }
}

fn unpack_tar(data: &[u8], dest: &Path) -> Result<(), String> {
    let mut ar = tar::Archive::new(data);
    ar.set_preserve_permissions(true);
    ar.set_overwrite(true);
    for entry in ar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        if path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
            || path.is_absolute()
        {
            return Err(format!(
                "archive entry '{}' escapes the destination",
                path.display()
            ));
        }
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        entry
            .unpack_in(dest)
            .map_err(|e| format!("{}: {}", path.display(), e))?;
    }
    Ok(())
}

/// GitHub's tarballs carry the commit id in a pax global header; the
/// commit time is the mtime of the entries.
fn github_commit_time(data: &[u8]) -> Option<u64> {
    let mut gz = flate2::read::GzDecoder::new(data);
    let mut raw = Vec::new();
    gz.read_to_end(&mut raw).ok()?;
    let mut ar = tar::Archive::new(&raw[..]);
    let mut t = None;
    for e in ar.entries().ok()?.flatten() {
        if let Ok(m) = e.header().mtime() {
            t = Some(t.map_or(m, |x: u64| x.max(m)));
        }
    }
    t
}
