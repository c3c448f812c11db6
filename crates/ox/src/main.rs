//! The `ox` command line. It parses arguments and renders results and
//! diagnostics; the work itself lives in the library crates (the
//! pipeline: flake → eval → modules → build → activate/deploy).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod eval_cmd;
mod repl;

#[derive(Parser)]
#[command(name = "ox", version, about = "A fleet of Linux machines as a pure function of one git repository")]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate a Nix expression, like `nix-instantiate --eval`.
    Eval(eval_cmd::EvalArgs),
    /// An interactive Nix read-eval-print loop.
    Repl(repl::ReplArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Command::Eval(a) => eval_cmd::run(a),
        Command::Repl(a) => repl::run(a),
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
