//! `ox pkgs`: pin Debian packages in the lock (`ox.lock`) that
//! `import <ox/pkgs> { debianLock = ./ox.lock; }` reads. The work is
//! `ox_build::debian`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct PkgsArgs {
    /// The lock file.
    #[arg(long, default_value = "ox.lock", global = true)]
    pub lock: PathBuf,
    #[command(subcommand)]
    pub cmd: PkgsCommand,
}

#[derive(Subcommand, Debug)]
pub enum PkgsCommand {
    /// Pin packages at apt's candidate version (or from local .deb files).
    Add {
        /// Package names, resolved with apt-cache / apt-get download.
        names: Vec<String>,
        /// Take the package from this .deb file instead of apt.
        #[arg(long = "deb", value_name = "FILE")]
        debs: Vec<PathBuf>,
    },
    /// Remove packages from the lock.
    Remove { names: Vec<String> },
    /// List the pinned packages.
    List,
}

pub fn run(a: PkgsArgs) -> Result<ExitCode, String> {
    use ox_build::debian;
    let e = |e: ox_build::BuildError| format!("error: {e}\n");
    let mut lock = debian::read_lock(&a.lock).map_err(e)?;
    match a.cmd {
        PkgsCommand::Add { names, debs } => {
            if names.is_empty() && debs.is_empty() {
                return Err("error: name packages to add (or --deb FILE)\n".into());
            }
            for d in &debs {
                let (n, entry) = debian::entry_from_deb(d).map_err(e)?;
                eprintln!("{n} {}", entry["version"].as_str().unwrap_or("?"));
                lock.insert(n, entry);
            }
            for n in &names {
                let (n, entry) = debian::entry_from_apt(n).map_err(e)?;
                eprintln!("{n} {}", entry["version"].as_str().unwrap_or("?"));
                lock.insert(n, entry);
            }
            debian::write_lock(&a.lock, &lock).map_err(e)?;
        }
        PkgsCommand::Remove { names } => {
            for n in &names {
                if lock.remove(n).is_none() {
                    return Err(format!("error: '{n}' is not in {}\n", a.lock.display()));
                }
            }
            debian::write_lock(&a.lock, &lock).map_err(e)?;
        }
        PkgsCommand::List => {
            for (n, v) in &lock {
                println!("{n} {}", v["version"].as_str().unwrap_or("?"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
