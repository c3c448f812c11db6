//! `ox store …`: inspect and maintain the local store (verify, gc,
//! path-info, add, roots). The store itself is `ox_localstore`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ox_localstore::Store;
use ox_store::StorePath;

#[derive(Args, Debug)]
pub struct StoreArgs {
    /// Physical root under which the store lives (default `OX_STORE_ROOT` or `/`).
    #[arg(long = "store-root", value_name = "DIR", global = true)]
    pub store_root: Option<PathBuf>,
    #[command(subcommand)]
    pub cmd: StoreCommand,
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Re-hash every valid path and report those whose contents changed.
    Verify,
    /// Delete every path that no root (result links, profiles, gcroots) reaches.
    Gc {
        /// Only print what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show NAR hash, size and references of store paths (or result links).
    PathInfo {
        /// Show the whole closure of the given paths.
        #[arg(short = 'r', long)]
        closure: bool,
        /// Show NAR sizes (and the closure size with --closure).
        #[arg(short = 's', long)]
        size: bool,
        /// Store paths, paths inside the store, or symlinks to them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Add files or directories to the store (recursive sha256, like `nix-store --add`).
    Add {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List the GC roots.
    Roots,
}

fn resolve(store: &Store, p: &Path) -> Result<StorePath, String> {
    let mut cur = p.to_path_buf();
    for _ in 0..16 {
        let s = cur.to_string_lossy().into_owned();
        if let Ok(sp) = store.parse(&s) {
            return Ok(sp);
        }
        match std::fs::read_link(&cur) {
            Ok(t) if t.is_absolute() => cur = t,
            Ok(t) => cur = cur.parent().unwrap_or(Path::new("/")).join(t),
            Err(_) => break,
        }
    }
    Err(format!(
        "error: '{}' is not in the store ({}) and is no symlink to it\n",
        p.display(),
        store.dir
    ))
}

fn human(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut f = n as f64;
    let mut i = 0;
    while f >= 1024.0 && i + 1 < U.len() {
        f /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{f:.1} {}", U[i])
    }
}

pub fn run(a: StoreArgs) -> Result<ExitCode, String> {
    let store = crate::build_cmd::open_store(a.store_root.as_ref())?;
    let e = |e: ox_localstore::StoreError| format!("error: {e}\n");
    match a.cmd {
        StoreCommand::Verify => {
            let bad = store.verify().map_err(e)?;
            let n = store.all_valid().map_err(e)?.len();
            for b in &bad {
                eprintln!("error: path '{}' is corrupt: {}", b.path, b.problem);
            }
            if bad.is_empty() {
                eprintln!("verified {n} paths, all intact");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("{} of {n} paths are corrupt", bad.len());
                Ok(ExitCode::FAILURE)
            }
        }
        StoreCommand::Gc { dry_run } => {
            let r = store.gc(dry_run).map_err(e)?;
            for d in &r.deleted {
                println!("{d}");
            }
            for u in &r.unregistered {
                eprintln!(
                    "warning: '{u}' is in the store directory but not registered; left alone"
                );
            }
            eprintln!(
                "{} roots, {} live paths; {} {} paths{}",
                r.roots,
                r.live,
                if dry_run { "would delete" } else { "deleted" },
                r.deleted.len(),
                if dry_run {
                    String::new()
                } else {
                    format!(", {} freed", human(r.freed))
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        StoreCommand::PathInfo {
            closure,
            size,
            paths,
        } => {
            let mut sps = Vec::new();
            for p in &paths {
                let sp = resolve(&store, p)?;
                if !store.is_valid(&sp).map_err(e)? {
                    return Err(format!("error: path '{}' is not valid\n", store.print(&sp)));
                }
                sps.push(sp);
            }
            let list: Vec<StorePath> = if closure {
                store.closure(&sps).map_err(e)?.into_iter().collect()
            } else {
                sps
            };
            let mut total = 0;
            for p in &list {
                let info = store
                    .path_info(p)
                    .map_err(e)?
                    .ok_or_else(|| format!("error: path '{}' is not valid\n", store.print(p)))?;
                total += info.nar_size;
                let mut line = store.print(p);
                if size {
                    line.push_str(&format!("\t{}", human(info.nar_size)));
                }
                line.push_str(&format!("\t{}", info.nar_hash.to_sri()));
                if !size && !closure {
                    for r in &info.references {
                        line.push_str(&format!("\n  -> {}", store.print(r)));
                    }
                }
                println!("{line}");
            }
            if size && closure {
                println!("closure size: {} ({} paths)", human(total), list.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        StoreCommand::Add { paths } => {
            for p in &paths {
                let sp = store.add_path(p, None).map_err(e)?;
                println!("{}", store.print(&sp));
            }
            Ok(ExitCode::SUCCESS)
        }
        StoreCommand::Roots => {
            for (link, target) in store.roots().map_err(e)? {
                println!("{link} -> {}", store.print(&target));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
