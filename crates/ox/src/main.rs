//! The `ox` command line. It parses arguments and renders results and
//! diagnostics; the work itself lives in the library crates (the
//! pipeline: flake → eval → modules → build → activate/deploy).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Evaluation allocates many small, short-lived objects and some large
// attribute-set copies; mimalloc handles both far better than glibc
// (called directly: see `ox_eval::alloc` for why not through `MiMalloc`).
#[global_allocator]
static GLOBAL: ox_eval::alloc::MiAlloc = ox_eval::alloc::MiAlloc;

mod activate_cmd;
mod build_cmd;
mod deploy_cmd;
mod disko_cmd;
mod eval_cmd;
mod flake_cmd;
mod host_cmd;
mod install_keys;
mod install_remote_cmd;
mod option_cmd;
mod options_cmd;
mod pkgs_cmd;
mod repl;
mod secrets_check;
mod secrets_cmd;
mod store_cmd;

#[derive(Parser)]
#[command(
    name = "ox",
    version,
    about = "A fleet of Linux machines as a pure function of one git repository"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate a Nix expression, like `nix-instantiate --eval`.
    Eval(eval_cmd::EvalArgs),
    /// Document every visible option of a module set (options.json or Markdown).
    Options(options_cmd::OptionsArgs),
    /// Lock, update and inspect flakes (flake.lock in Nix's format).
    Flake(flake_cmd::FlakeArgs),
    /// An interactive Nix read-eval-print loop.
    Repl(repl::ReplArgs),
    /// sops-compatible secrets and age keys.
    Secrets(secrets_cmd::SecretsArgs),
    /// Build derivations into the store, like `nix-build`.
    Build(build_cmd::BuildArgs),
    /// Inspect and maintain the store (verify, gc, path-info, add, roots).
    Store(store_cmd::StoreArgs),
    /// Pin Debian packages in the lock that `pkgs` reads (ox.lock).
    Pkgs(pkgs_cmd::PkgsArgs),
    /// Make this host match a built toplevel (switch, test, boot, dry-activate).
    Activate(activate_cmd::ActivateArgs),
    /// Activate a toplevel and make it the boot default.
    Switch(activate_cmd::SwitchArgs),
    /// Activate a toplevel now, without making it the boot default.
    Test(activate_cmd::SwitchArgs),
    /// Make a toplevel the boot default, activated at the next boot.
    Boot(activate_cmd::SwitchArgs),
    /// Print exactly what switching to a toplevel would change.
    DryActivate(activate_cmd::DryArgs),
    /// List the system generations.
    Generations(activate_cmd::GenerationsArgs),
    /// Switch back to the previous (or a given) generation.
    Rollback(activate_cmd::RollbackArgs),
    /// Remove old generations (never the current or booted one).
    Gc(activate_cmd::GcArgs),
    /// Compare two built toplevels (packages, /etc, units, users, size).
    Diff(host_cmd::DiffArgs),
    /// Build hosts of a flake and deploy them over SSH, with rollback.
    Deploy(deploy_cmd::DeployArgs),
    /// The remote half of `ox deploy` (run over SSH by the deployer).
    #[command(hide = true)]
    DeployRemote(deploy_cmd::RemoteArgs),
    /// Show an option of a host: value, type, description, declarations, definitions.
    Option(option_cmd::OptionArgs),
    /// Partition, format and mount a host's declared disks (disko's modes).
    Disko(disko_cmd::DiskoArgs),
    /// Install a host onto new disks: disko, then its system into the new root.
    Install(disko_cmd::InstallArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    ox_eval::alloc::configure();
    let cli = Cli::parse();
    let r = match cli.cmd {
        Command::Eval(a) => eval_cmd::run(a),
        Command::Repl(a) => repl::run(a),
        Command::Options(a) => options_cmd::run(a),
        Command::Secrets(a) => secrets_cmd::run(a),
        Command::Flake(a) => flake_cmd::run(a),
        Command::Build(a) => build_cmd::run(a),
        Command::Store(a) => store_cmd::run(a),
        Command::Pkgs(a) => pkgs_cmd::run(a),
        Command::Activate(a) => activate_cmd::activate(a),
        Command::Switch(a) => activate_cmd::switch(a),
        Command::Test(a) => activate_cmd::test(a),
        Command::Boot(a) => activate_cmd::boot(a),
        Command::DryActivate(a) => activate_cmd::dry_activate(a),
        Command::Generations(a) => activate_cmd::generations(a),
        Command::Rollback(a) => activate_cmd::rollback(a),
        Command::Gc(a) => activate_cmd::gc(a),
        Command::Diff(a) => host_cmd::diff(a),
        Command::Option(a) => option_cmd::run(a),
        Command::Deploy(a) => deploy_cmd::run(a),
        Command::DeployRemote(a) => deploy_cmd::remote(a),
        Command::Disko(a) => disko_cmd::run(a),
        Command::Install(a) => disko_cmd::install(a),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "ox", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    };
    match r {
        Ok(code) => code,
        Err(msg) => {
            eprint!("{}", msg);
            ExitCode::FAILURE
        }
    }
}

/// Whether diagnostics on stderr may use colour.
pub fn stderr_color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}
