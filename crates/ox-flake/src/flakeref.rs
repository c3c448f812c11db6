//! Flake references: the URL-like strings and attribute sets that name an
//! input (`path:./x`, `git+file:///r?ref=v1`, `github:o/r/ref`,
//! `file:///a.tar.gz`, `ox`), held as Nix's fetcher attributes so they
//! serialise into `flake.lock` exactly as C++ Nix writes them.

use std::collections::BTreeMap;
use std::path::Path;

use crate::Error;

/// One fetcher attribute value (Nix allows strings, integers, Booleans).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attr {
    Str(String),
    Int(u64),
    Bool(bool),
}

/// Fetcher attributes, sorted by name as Nix's `std::map` is.
pub type Attrs = BTreeMap<String, Attr>;

/// A flake reference as fetcher attributes (`type` plus per-type keys,
/// and `dir` for a flake in a subdirectory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlakeRef {
    pub attrs: Attrs,
}

/// Integer-valued attributes; everything else in a URL query is a string.
const INT_ATTRS: &[&str] = &["lastModified", "revCount"];

impl FlakeRef {
    pub fn new(kind: &str) -> FlakeRef {
        let mut attrs = Attrs::new();
        attrs.insert("type".into(), Attr::Str(kind.into()));
        FlakeRef { attrs }
    }

    pub fn with(mut self, k: &str, v: impl Into<String>) -> FlakeRef {
        self.attrs.insert(k.into(), Attr::Str(v.into()));
        self
    }

    pub fn set(&mut self, k: &str, v: Attr) {
        self.attrs.insert(k.into(), v);
    }

    pub fn kind(&self) -> &str {
        self.str("type").unwrap_or("")
    }

    pub fn str(&self, k: &str) -> Option<&str> {
        match self.attrs.get(k) {
            Some(Attr::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub fn int(&self, k: &str) -> Option<u64> {
        match self.attrs.get(k) {
            Some(Attr::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// The subdirectory holding `flake.nix` (`?dir=`), if any.
    pub fn dir(&self) -> Option<&str> {
        self.str("dir").filter(|d| !d.is_empty())
    }

    /// A relative `path:` reference (resolved against the flake that
    /// declares it).
    pub fn is_relative_path(&self) -> bool {
        self.kind() == "path" && self.str("path").is_some_and(|p| !p.starts_with('/'))
    }

    /// Parse a flake reference string as written in `inputs.x.url` or on
    /// the command line.
    pub fn parse(s: &str) -> Result<FlakeRef, Error> {
        let bad = |why: &str| Error::BadRef {
            reference: s.to_string(),
            why: why.to_string(),
        };
        let (base, query) = match s.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (s, None),
        };
        let mut r = if let Some(p) = base.strip_prefix("path:") {
            if p.is_empty() {
                return Err(bad("a path: reference needs a path"));
            }
            FlakeRef::new("path").with("path", p)
        } else if let Some(rest) = base.strip_prefix("git+") {
            if !rest.contains("://") {
                return Err(bad("a git+ reference needs a URL such as git+file:///repo"));
            }
            FlakeRef::new("git").with("url", rest)
        } else if let Some(rest) = base.strip_prefix("tarball+") {
            FlakeRef::new("tarball").with("url", rest)
        } else if let Some(rest) = base.strip_prefix("file+") {
            FlakeRef::new("file").with("url", rest)
        } else if let Some(rest) = base.strip_prefix("github:") {
            let parts: Vec<&str> = rest.split('/').collect();
            if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
                return Err(bad("expected github:OWNER/REPO or github:OWNER/REPO/REF"));
            }
            let mut r = FlakeRef::new("github")
                .with("owner", parts[0])
                .with("repo", parts[1]);
            if let Some(x) = parts.get(2) {
                if is_rev(x) {
                    r = r.with("rev", *x);
                } else {
                    r = r.with("ref", *x);
                }
            }
            r
        } else if base.starts_with("file://")
            || base.starts_with("http://")
            || base.starts_with("https://")
        {
            if is_archive(base) {
                FlakeRef::new("tarball").with("url", base)
            } else {
                FlakeRef::new("file").with("url", base)
            }
        } else if base.starts_with('/') {
            // As in Nix: an absolute path inside a git work tree means
            // that repository (committed state), with `dir` for a subdir.
            let mut root = Path::new(base);
            loop {
                if root.join(".git").exists() {
                    let sub = Path::new(base)
                        .strip_prefix(root)
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let mut r =
                        FlakeRef::new("git").with("url", format!("file://{}", root.display()));
                    if !sub.is_empty() {
                        r = r.with("dir", sub);
                    }
                    return Ok(r);
                }
                match root.parent() {
                    Some(p) => root = p,
                    None => break,
                }
            }
            return Ok(FlakeRef::new("path").with("path", base));
        } else if base.starts_with('.') {
            return Ok(FlakeRef::new("path").with("path", base));
        } else if let Some(id) = base.strip_prefix("flake:").or(Some(base)) {
            let (id, r) = match id.split_once('/') {
                Some((i, r)) => (i, Some(r)),
                None => (id, None),
            };
            if !is_id(id) {
                return Err(bad("not a flake reference (expected path:…, git+…, github:…, a file:// or https:// URL, or a registry name such as ox)"));
            }
            let mut f = FlakeRef::new("indirect").with("id", id);
            if let Some(r) = r {
                f = f.with(if is_rev(r) { "rev" } else { "ref" }, r);
            }
            f
        } else {
            unreachable!("the last branch always matches")
        };
        if let Some(q) = query {
            for kv in q.split('&').filter(|x| !x.is_empty()) {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                let v = percent_decode(v);
                let known = match r.kind() {
                    "git" => {
                        ["ref", "rev", "dir", "narHash", "lastModified", "revCount"].contains(&k)
                    }
                    "github" | "indirect" => {
                        ["ref", "rev", "dir", "narHash", "lastModified"].contains(&k)
                    }
                    _ => ["dir", "narHash", "lastModified", "rev", "revCount"].contains(&k),
                };
                if !known {
                    return Err(bad(&format!(
                        "unsupported parameter '{}' for a {} reference",
                        k,
                        r.kind()
                    )));
                }
                if INT_ATTRS.contains(&k) {
                    let n = v
                        .parse::<u64>()
                        .map_err(|_| bad(&format!("'{}' must be an integer", k)))?;
                    r.set(k, Attr::Int(n));
                } else {
                    r.set(k, Attr::Str(v));
                }
            }
        }
        Ok(r)
    }

    /// Build a reference from an attribute-set input (`{ type = "git";
    /// url = …; }`), already converted to fetcher attributes.
    pub fn from_attrs(attrs: Attrs) -> Result<FlakeRef, Error> {
        let r = FlakeRef { attrs };
        let need = |k: &str| -> Result<(), Error> {
            if r.str(k).is_none() {
                return Err(Error::BadRef {
                    reference: r.to_url(),
                    why: format!("a '{}' input needs the attribute '{}'", r.kind(), k),
                });
            }
            Ok(())
        };
        match r.kind() {
            "path" => need("path")?,
            "git" | "tarball" | "file" => need("url")?,
            "github" => {
                need("owner")?;
                need("repo")?
            }
            "indirect" => need("id")?,
            "" => {
                return Err(Error::BadRef {
                    reference: "{ … }".into(),
                    why: "an attribute-set input needs 'type' (or use 'url')".into(),
                })
            }
            k => {
                return Err(Error::BadRef {
                    reference: r.to_url(),
                    why: format!(
                        "unsupported input type '{}' (ox supports path, git, tarball, file, github and the ox input)",
                        k
                    ),
                })
            }
        }
        Ok(r)
    }

    /// The reference as a URL string, for messages and `ox flake metadata`.
    pub fn to_url(&self) -> String {
        let mut skip: Vec<&str> = vec!["type"];
        let base = match self.kind() {
            "path" => {
                skip.push("path");
                format!("path:{}", self.str("path").unwrap_or(""))
            }
            "git" => {
                skip.push("url");
                format!("git+{}", self.str("url").unwrap_or(""))
            }
            "tarball" | "file" => {
                skip.push("url");
                let u = self.str("url").unwrap_or("");
                let natural = (self.kind() == "tarball") == is_archive(u);
                if natural {
                    u.to_string()
                } else {
                    format!("{}+{}", self.kind(), u)
                }
            }
            "github" => {
                skip.extend(["owner", "repo", "ref", "rev"]);
                let mut s = format!(
                    "github:{}/{}",
                    self.str("owner").unwrap_or(""),
                    self.str("repo").unwrap_or("")
                );
                if let Some(x) = self.str("rev").or(self.str("ref")) {
                    s.push('/');
                    s.push_str(x);
                }
                s
            }
            "indirect" => {
                skip.extend(["id", "ref", "rev"]);
                let mut s = self.str("id").unwrap_or("").to_string();
                if let Some(x) = self.str("rev").or(self.str("ref")) {
                    s.push('/');
                    s.push_str(x);
                }
                s
            }
            "ox" => {
                skip.extend(["version"]);
                format!("ox/{}", self.str("version").unwrap_or("?"))
            }
            k => format!("{}:", k),
        };
        let q: Vec<String> = self
            .attrs
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .map(|(k, v)| match v {
                Attr::Str(s) => format!("{}={}", k, s),
                Attr::Int(i) => format!("{}={}", k, i),
                Attr::Bool(b) => format!("{}={}", k, if *b { 1 } else { 0 }),
            })
            .collect();
        if q.is_empty() {
            base
        } else {
            format!("{}?{}", base, q.join("&"))
        }
    }

    /// JSON object with sorted keys, as in `flake.lock`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (k, v) in &self.attrs {
            let j = match v {
                Attr::Str(s) => serde_json::Value::String(s.clone()),
                Attr::Int(i) => serde_json::Value::from(*i),
                Attr::Bool(b) => serde_json::Value::Bool(*b),
            };
            m.insert(k.clone(), j);
        }
        serde_json::Value::Object(m)
    }

    pub fn from_json(v: &serde_json::Value) -> Result<FlakeRef, String> {
        let obj = v.as_object().ok_or("expected an object")?;
        let mut attrs = Attrs::new();
        for (k, v) in obj {
            let a = match v {
                serde_json::Value::String(s) => Attr::Str(s.clone()),
                serde_json::Value::Bool(b) => Attr::Bool(*b),
                serde_json::Value::Number(n) => Attr::Int(
                    n.as_u64()
                        .ok_or_else(|| format!("'{}' is not a natural number", k))?,
                ),
                _ => return Err(format!("attribute '{}' has an unsupported type", k)),
            };
            attrs.insert(k.clone(), a);
        }
        if !attrs.contains_key("type") {
            return Err("missing 'type'".into());
        }
        Ok(FlakeRef { attrs })
    }

    /// For a `path:` reference: the directory it names, with a relative
    /// path resolved against `base`.
    pub fn local_path(&self, base: Option<&Path>) -> Option<std::path::PathBuf> {
        let p = self.str("path")?;
        if p.starts_with('/') {
            return Some(p.into());
        }
        base.map(|b| b.join(p))
    }
}

fn is_rev(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_id(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphabetic())
        && c.all(|x| x.is_ascii_alphanumeric() || x == '-' || x == '_')
}

/// Archive extensions Nix unpacks as tarballs.
pub fn is_archive(url: &str) -> bool {
    let u = url.split(['?', '#']).next().unwrap_or(url);
    [
        ".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2", ".tar.zst", ".zip",
    ]
    .iter()
    .any(|e| u.ends_with(e))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kinds() {
        let r = FlakeRef::parse("git+file:///r?ref=v1").unwrap();
        assert_eq!(r.kind(), "git");
        assert_eq!(r.str("url"), Some("file:///r"));
        assert_eq!(r.str("ref"), Some("v1"));
        let r = FlakeRef::parse("github:o/r/main").unwrap();
        assert_eq!(r.to_url(), "github:o/r/main");
        let r = FlakeRef::parse("file:///a/b.tar.gz").unwrap();
        assert_eq!(r.kind(), "tarball");
        let r = FlakeRef::parse("file:///a/b.txt").unwrap();
        assert_eq!(r.kind(), "file");
        let r = FlakeRef::parse("ox").unwrap();
        assert_eq!(r.kind(), "indirect");
        assert_eq!(r.str("id"), Some("ox"));
        assert!(FlakeRef::parse("path:./x").unwrap().is_relative_path());
        assert!(FlakeRef::parse("git+file:///r?bogus=1").is_err());
        assert!(FlakeRef::parse("github:o").is_err());
        assert!(FlakeRef::parse("9x").is_err());
    }
}
