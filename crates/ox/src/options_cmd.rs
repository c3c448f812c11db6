//! `ox options`: the documentation of every visible option of a module
//! set, as NixOS's options.json or as Markdown.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ox_eval::render;

#[derive(Args, Debug, Default)]
pub struct OptionsArgs {
    /// A file evaluating to an `evalModules` result, a module or a list of
    /// modules.
    pub file: Option<PathBuf>,
    /// An expression instead of a file.
    #[arg(short = 'E', long = "expr")]
    pub expr: Option<String>,
    /// Render Markdown instead of JSON.
    #[arg(long)]
    pub markdown: bool,
    /// Add a search path entry (`PATH` or `PREFIX=PATH`).
    #[arg(short = 'I', long = "include")]
    pub include: Vec<String>,
}

pub fn run(a: OptionsArgs) -> Result<ExitCode, String> {
    let mut ev = crate::eval_cmd::make_eval(&a.include, false);
    let color = crate::stderr_color();
    let fail = |e: Box<ox_eval::EvalError>| render(&e, color);
    let cwd = std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "/".into());
    let v = match (&a.expr, &a.file) {
        (Some(e), _) => ev.eval_string(e, "«string»", &cwd).map_err(fail)?,
        (None, Some(f)) => {
            let f = if f.is_absolute() {
                f.clone()
            } else {
                PathBuf::from(&cwd).join(f)
            };
            ev.eval_file(&f).map_err(fail)?
        }
        (None, None) => return Err("ox options: give a FILE or -E EXPR\n".into()),
    };
    let lib = ev
        .eval_string("import <ox/lib>", "«ox options»", &cwd)
        .map_err(fail)?;
    let json = ox_modules::docs::options_json(&mut ev, lib, v).map_err(fail)?;
    if a.markdown {
        print!("{}", ox_modules::docs::options_markdown(&json));
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?
        );
    }
    Ok(ExitCode::SUCCESS)
}
