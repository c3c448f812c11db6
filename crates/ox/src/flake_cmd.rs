//! `ox flake lock|update|metadata|show` and `ox eval --flake REF#ATTR`.
//! The work is in `ox-flake`; this file parses options and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ox_eval::Value;
use ox_flake::{Error, LockMode, Session, Settings};

#[derive(Args, Debug, Clone, Default)]
pub struct Common {
    /// Search path entry; `-I ox=DIR` names ox's nix/ tree (the `ox` input).
    #[arg(short = 'I', long = "include", global = true)]
    pub include: Vec<String>,
    /// Store directory for fetched sources (default: $OX_STORE_DIR, or
    /// /ox/store for root).
    #[arg(long = "store", global = true)]
    pub store: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct FlakeArgs {
    #[command(subcommand)]
    pub cmd: FlakeCmd,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Subcommand, Debug)]
pub enum FlakeCmd {
    /// Create or complete flake.lock (unchanged inputs keep their pins).
    Lock {
        /// The flake directory (default: the current directory).
        flake: Option<String>,
    },
    /// Re-resolve the named inputs (all if none) and print what changed.
    Update {
        /// Input paths such as `hyprland` or `hy3/hyprland`.
        inputs: Vec<String>,
        /// The flake directory (default: the current directory).
        #[arg(long)]
        flake: Option<String>,
    },
    /// Show the flake's locked reference and its input graph.
    Metadata {
        flake: Option<String>,
        /// Print JSON (like `nix flake metadata --json`).
        #[arg(long)]
        json: bool,
    },
    /// Show the flake's outputs as a tree.
    Show { flake: Option<String> },
}

/// ox's nix/ tree: `-I ox=DIR` or `ox=DIR` in NIX_PATH, else the tree
/// embedded in this binary (materialised once per content hash).
pub fn ox_nix_dir(include: &[String]) -> Option<PathBuf> {
    for (prefix, path) in crate::eval_cmd::search_path(include) {
        if prefix == "ox" {
            return Some(PathBuf::from(path));
        }
    }
    ox_modules::nixdir::ox_nix_dir().ok()
}

/// Registers fetched flake sources as valid paths of the on-disk store.
struct LocalPlacer(ox_localstore::Store);

impl ox_flake::store::Placer for LocalPlacer {
    fn place(
        &self,
        tmp: &std::path::Path,
        dest: &std::path::Path,
        nar_hash: &ox_store::Hash,
    ) -> Result<(), String> {
        let path = self
            .0
            .parse(&dest.to_string_lossy())
            .map_err(|e| e.to_string())?;
        // Parallel processes (`ox build --all`, `ox deploy`) copy the same
        // flake source at once: under the path's lock, a copy someone else
        // registered meanwhile is kept (registering again would replace
        // the tree while they read it).
        let _lock = self.0.lock_path(&path).map_err(|e| e.to_string())?;
        if self.0.is_valid(&path).map_err(|e| e.to_string())? {
            return Ok(());
        }
        let ca = format!(
            "fixed:{}{}",
            ox_store::FileIngestionMethod::Recursive.prefix(),
            nar_hash.to_string_as(ox_store::HashFormat::Base32, true)
        );
        self.0
            .register(vec![ox_localstore::PendingPath {
                tmp: tmp.to_path_buf(),
                path,
                references: Default::default(),
                deriver: None,
                ca: Some(ca),
            }])
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    fn is_valid(&self, dest: &std::path::Path) -> bool {
        self.0
            .parse(&dest.to_string_lossy())
            .and_then(|p| self.0.is_valid(&p))
            .unwrap_or(false)
    }
}

/// A flake session. With `--store DIR`, sources go to a plain directory;
/// otherwise into ox's on-disk store (registered, so builds can refer to
/// them) when it is at its real location, else the default directory.
pub fn session(common: &Common) -> Result<Session, String> {
    let mut s = Settings::from_env(ox_nix_dir(&common.include));
    s.eval_hook = Some(ox_modules::install);
    if let Some(st) = &common.store {
        s.store_dir = st.clone();
    } else if let Ok(store) = ox_localstore::Store::open(ox_localstore::StoreConfig::from_env()) {
        // The evaluator reads flake files at their store paths, so the
        // store must be at its logical location (no OX_STORE_ROOT).
        if store.real_store_dir() == std::path::Path::new(store.dir.as_str()) {
            s.store_dir = PathBuf::from(store.dir.as_str());
            s.placer = Some(std::rc::Rc::new(LocalPlacer(store)));
        }
    }
    Session::new(s).map_err(fail)
}

fn fail(e: Error) -> String {
    format!("error: {}\n", e)
}

fn dir_of(flake: &Option<String>) -> Result<PathBuf, String> {
    let t = ox_flake::parse_target(flake.as_deref(), "").map_err(fail)?;
    Ok(t.dir)
}

pub fn run(a: FlakeArgs) -> Result<ExitCode, String> {
    let mut s = session(&a.common)?;
    match a.cmd {
        FlakeCmd::Lock { flake } => {
            let dir = dir_of(&flake)?;
            let f =
                ox_flake::lock_flake(&mut s, &dir, &[], false, LockMode::Write).map_err(fail)?;
            report_changes(&f);
        }
        FlakeCmd::Update { inputs, flake } => {
            let dir = dir_of(&flake)?;
            let all = inputs.is_empty();
            let f =
                ox_flake::lock_flake(&mut s, &dir, &inputs, all, LockMode::Write).map_err(fail)?;
            if !report_changes(&f) {
                println!("flake.lock is up to date: nothing changed");
            }
        }
        FlakeCmd::Metadata { flake, json } => {
            let dir = dir_of(&flake)?;
            let f =
                ox_flake::lock_flake(&mut s, &dir, &[], false, LockMode::NoWrite).map_err(fail)?;
            if json {
                println!("{}", f.metadata_json());
            } else {
                print!("{}", metadata_text(&f));
            }
        }
        FlakeCmd::Show { flake } => {
            let dir = dir_of(&flake)?;
            let f =
                ox_flake::lock_flake(&mut s, &dir, &[], false, LockMode::Write).map_err(fail)?;
            let v = ox_flake::flake_value(&mut s, &f).map_err(fail)?;
            let out = show(&mut s, &f, v).map_err(fail)?;
            print!("{}", out);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Print the lock changes to stderr (as Nix does); true if any.
fn report_changes(f: &ox_flake::Flake) -> bool {
    if !f.lock_changed() {
        return false;
    }
    let verb = if f.old_lock.is_some() {
        "updating"
    } else {
        "creating"
    };
    let lines = ox_flake::describe_changes(f.old_lock.as_ref(), &f.lock);
    println!("{} lock file '{}':", verb, f.lock_path().display());
    for l in &lines {
        println!("{}", l);
    }
    true
}

fn metadata_text(f: &ox_flake::Flake) -> String {
    let mut out = String::new();
    let original = original_url(f);
    out.push_str(&format!("Resolved URL:  {}\n", original));
    out.push_str(&format!("Locked URL:    {}\n", f.locked_ref.to_url()));
    if let Some(d) = &f.description {
        out.push_str(&format!("Description:   {}\n", d));
    }
    out.push_str(&format!("Path:          {}\n", f.root.src.display()));
    if let Some(r) = &f.root.rev {
        out.push_str(&format!("Revision:      {}\n", r));
    }
    if let Some(c) = f.root.rev_count {
        out.push_str(&format!("Revisions:     {}\n", c));
    }
    if let Some(t) = f.root.last_modified {
        let d = ox_flake::call::date_string(t);
        out.push_str(&format!(
            "Last modified: {}-{}-{} {}:{}:{}\n",
            &d[0..4],
            &d[4..6],
            &d[6..8],
            &d[8..10],
            &d[10..12],
            &d[12..14]
        ));
    }
    out.push_str("Inputs:\n");
    tree(&f.lock, &f.lock.root, "", &mut out, 0);
    out
}

fn tree(lock: &ox_flake::LockFile, key: &str, prefix: &str, out: &mut String, depth: usize) {
    let Some(n) = lock.nodes.get(key) else { return };
    let count = n.inputs.len();
    for (i, (name, e)) in n.inputs.iter().enumerate() {
        let last = i + 1 == count;
        let (branch, cont) = if last {
            ("└───", "    ")
        } else {
            ("├───", "│   ")
        };
        match e {
            ox_flake::Edge::Node(k) => {
                let url = lock
                    .nodes
                    .get(k)
                    .and_then(|c| c.locked.as_ref())
                    .map(|r| r.to_url())
                    .unwrap_or_default();
                out.push_str(&format!("{}{}{}: {}\n", prefix, branch, name, url));
                if depth < 16 {
                    tree(lock, k, &format!("{}{}", prefix, cont), out, depth + 1);
                }
            }
            ox_flake::Edge::Follows(p) => {
                out.push_str(&format!(
                    "{}{}{} follows input '{}'\n",
                    prefix,
                    branch,
                    name,
                    p.join("/")
                ));
            }
        }
    }
}

fn original_url(f: &ox_flake::Flake) -> String {
    f.original_ref().to_url()
}

/// The outputs as a tree; leaves are described without building them.
fn show(s: &mut Session, f: &ox_flake::Flake, v: Value) -> Result<String, Error> {
    let mut out = format!("{}\n", original_url(f));
    let outputs = ox_flake::select(s, v, &["outputs"])?;
    let Value::Attrs(top) = outputs else {
        return Ok(out);
    };
    let names: Vec<String> = top.entries().iter().map(|(k, _)| k.to_string()).collect();
    for (i, name) in names.iter().enumerate() {
        let last = i + 1 == names.len();
        let (b, c) = if last {
            ("└───", "    ")
        } else {
            ("├───", "│   ")
        };
        out.push_str(&format!("{}{}\n", b, name));
        let val = top.get(name).cloned().unwrap_or(Value::Null);
        let kind = match name.as_str() {
            "oxConfigurations" | "nixosConfigurations" => "ox system configuration",
            "overlays" => "overlay",
            "nixosModules" | "oxModules" => "module",
            "lib" => "library",
            _ => "",
        };
        let v = match s.ev.force(val) {
            Ok(v) => v,
            Err(e) => {
                out.push_str(&format!("{}└───error: {}\n", c, e.msg));
                continue;
            }
        };
        if kind == "library" {
            continue;
        }
        if let Value::Attrs(a) = &v {
            let subs: Vec<String> = a.entries().iter().map(|(k, _)| k.to_string()).collect();
            let per_system = matches!(
                name.as_str(),
                "packages" | "legacyPackages" | "apps" | "checks" | "devShells"
            );
            for (j, sub) in subs.iter().enumerate() {
                let last2 = j + 1 == subs.len();
                let (b2, c2) = if last2 {
                    ("└───", "    ")
                } else {
                    ("├───", "│   ")
                };
                if per_system {
                    out.push_str(&format!("{}{}{}\n", c, b2, sub));
                    if let Some(Ok(Value::Attrs(pk))) = a.get(sub).cloned().map(|x| s.ev.force(x)) {
                        let pn: Vec<String> =
                            pk.entries().iter().map(|(k, _)| k.to_string()).collect();
                        for (k, p) in pn.iter().enumerate() {
                            let b3 = if k + 1 == pn.len() {
                                "└───"
                            } else {
                                "├───"
                            };
                            out.push_str(&format!("{}{}{}{}: package\n", c, c2, b3, p));
                        }
                    }
                } else if kind.is_empty() {
                    out.push_str(&format!("{}{}{}\n", c, b2, sub));
                } else {
                    out.push_str(&format!("{}{}{}: {}\n", c, b2, sub, kind));
                }
            }
        }
    }
    Ok(out)
}

/// `ox eval --flake REF#ATTR`: evaluate one output of a flake.
pub fn eval_flake(
    target: &str,
    common: &Common,
    json: bool,
    strict: bool,
    apply: Option<&str>,
) -> Result<ExitCode, String> {
    let mut s = session(common)?;
    let (r, attr) = match target.split_once('#') {
        Some((r, a)) => (r.to_string(), a.to_string()),
        None => (target.to_string(), String::new()),
    };
    let dir = dir_of(&Some(r))?;
    let f = ox_flake::lock_flake(&mut s, &dir, &[], false, LockMode::Write).map_err(fail)?;
    let v = ox_flake::flake_value(&mut s, &f).map_err(fail)?;
    let path: Vec<&str> = attr.split('.').filter(|p| !p.is_empty()).collect();
    let v = ox_flake::select(&mut s, v, &path).map_err(fail)?;
    let color = crate::stderr_color();
    let render = |e: Box<ox_eval::EvalError>| ox_eval::render(&e, color);
    let v = match apply {
        Some(expr) => {
            let f = s.ev.eval_string(expr, "«apply»", "/").map_err(render)?;
            let r = s.ev.call(f, v, None).map_err(render)?;
            s.ev.force(r).map_err(render)?
        }
        None => v,
    };
    let span = ox_eval::error::Span {
        file: ox_eval::error::FileId(u32::MAX),
        start: 0,
        end: 0,
    };
    let out = if json {
        ox_eval::print::to_json(&mut s.ev, v, false, span).map_err(render)?
    } else {
        let v = if strict {
            s.ev.force_deep(v).map_err(render)?
        } else {
            v
        };
        ox_eval::print::print_value(&v)
    };
    println!("{}", out);
    Ok(ExitCode::SUCCESS)
}

/// For `ox build` / `ox switch` / `ox option`: resolve `--flake REF#HOST`
/// (REF defaults to the current directory, HOST to this machine's name)
/// into a session and the locked flake's outputs; the host's evaluated
/// system is `r.host_value(&mut session)` (`oxConfigurations.<host>`).
/// With `store_dir`, flake sources go to that plain directory (tests);
/// otherwise into ox's on-disk store. The lock file is written when it
/// changed, as `nix build` does.
#[allow(dead_code)] // called by the host commands once they take --flake
pub fn resolve_host(
    target: Option<&str>,
    include: &[String],
    store_dir: Option<PathBuf>,
) -> Result<(Session, ox_flake::Resolved), String> {
    let common = Common {
        include: include.to_vec(),
        store: store_dir,
    };
    let mut s = session(&common)?;
    let r = ox_flake::resolve(&mut s, target, LockMode::Write).map_err(fail)?;
    Ok((s, r))
}
