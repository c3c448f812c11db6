//! `ox repl`: placeholder until the REPL lands.

use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct ReplArgs {
    /// Files to load at start (like `:l`).
    pub files: Vec<std::path::PathBuf>,
}

pub fn run(_a: ReplArgs) -> Result<ExitCode, String> {
    Err("ox repl is not implemented yet\n".into())
}
