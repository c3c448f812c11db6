//! `ox repl`: an interactive read-eval-print loop with line editing,
//! history, `name = expr` bindings, `:l FILE`, `:p EXPR`, `:t EXPR` and
//! tab completion of variable and attribute names.

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use clap::Args;
use ox_eval::value::{Env, Sym, Thunk};
use ox_eval::{render, Eval, Value};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::Helper;

#[derive(Args, Debug)]
pub struct ReplArgs {
    /// Files to load at start (like `:l`).
    pub files: Vec<PathBuf>,
    /// Add a search path entry (`PATH` or `PREFIX=PATH`).
    #[arg(short = 'I', long = "include")]
    pub include: Vec<String>,
    /// Allow impure builtins.
    #[arg(long)]
    pub impure: bool,
}

/// The REPL's state: the evaluator and the variables defined so far.
pub struct Session {
    pub ev: Eval,
    pub scope: Vec<(Sym, Value)>,
    pub cwd: String,
}

pub enum Output {
    Text(String),
    Quit,
}

impl Session {
    pub fn new(ev: Eval) -> Session {
        let cwd = std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/".into());
        Session {
            ev,
            scope: Vec::new(),
            cwd,
        }
    }

    fn bind(&mut self, name: &str, v: Value) {
        self.scope.retain(|(k, _)| &**k != name);
        self.scope.push((ox_eval::value::sym(name), v));
    }

    /// Evaluate `src` with the REPL's variables in scope (they shadow
    /// builtins, like a `let` around the input would).
    pub fn eval(&mut self, src: &str) -> ox_eval::Result<Value> {
        let v = self.suspend(src)?;
        self.ev.force(v)
    }

    /// Compile `src` in the REPL scope without evaluating it.
    fn suspend(&mut self, src: &str) -> ox_eval::Result<Value> {
        let names: Vec<Sym> = self.scope.iter().map(|(k, _)| *k).collect();
        let values: Vec<Value> = self.scope.iter().map(|(_, v)| v.clone()).collect();
        let e = ox_eval::compile::parse_and_compile(
            src.into(),
            "«repl»".into(),
            &self.cwd,
            &self.ev.globals,
            Some(&names),
        )?;
        let env = Env::new(values, None);
        Ok(Value::Thunk(Thunk::new(e, env)))
    }

    fn load_file(&mut self, path: &str) -> Result<usize, String> {
        let p = if path.starts_with('/') {
            PathBuf::from(path)
        } else {
            PathBuf::from(&self.cwd).join(path)
        };
        let v = self
            .ev
            .eval_file(&p)
            .map_err(|e| render(&e, crate::stderr_color()))?;
        match v {
            Value::Attrs(a) => {
                for (k, x) in a.entries().iter() {
                    self.bind(k, x.clone());
                }
                Ok(a.len())
            }
            other => Err(format!(
                "error: {} evaluates to {}, but :l needs a set\n",
                path,
                other.type_name()
            )),
        }
    }

    /// Handle one line of input.
    pub fn line(&mut self, line: &str) -> Output {
        let line = line.trim();
        if line.is_empty() {
            return Output::Text(String::new());
        }
        let color = crate::stderr_color();
        if let Some(rest) = line.strip_prefix(':') {
            let (cmd, arg) = rest.split_once(' ').unwrap_or((rest, ""));
            let arg = arg.trim();
            return match cmd {
                "q" | "quit" => Output::Quit,
                "?" | "help" => Output::Text(HELP.into()),
                "l" | "load" => match self.load_file(arg) {
                    Ok(n) => Output::Text(format!("Added {} variables.\n", n)),
                    Err(e) => Output::Text(e),
                },
                "p" | "print" => match self.eval(arg).and_then(|v| self.ev.force_deep(v)) {
                    Ok(v) => Output::Text(format!("{}\n", ox_eval::print::print_value(&v))),
                    Err(e) => Output::Text(render(&e, color)),
                },
                "t" | "type" => match self.eval(arg) {
                    Ok(v) => Output::Text(format!("{}\n", v.type_name())),
                    Err(e) => Output::Text(render(&e, color)),
                },
                _ => Output::Text(format!("unknown command ':{}'; :? lists commands\n", cmd)),
            };
        }
        // `name = expr` defines a variable (lazily, like the nix repl).
        if let Some((name, expr)) = split_binding(line) {
            match self.suspend(expr) {
                Ok(v) => {
                    self.bind(name, v);
                    return Output::Text(String::new());
                }
                Err(e) => return Output::Text(render(&e, color)),
            }
        }
        match self.eval(line) {
            Ok(v) => Output::Text(format!("{}\n", ox_eval::print::print_value(&v))),
            Err(e) => Output::Text(render(&e, color)),
        }
    }

    /// Completion candidates for the word ending at the end of `prefix`.
    pub fn complete(&mut self, prefix: &str) -> (usize, Vec<String>) {
        let start = prefix
            .rfind(|c: char| !(c.is_alphanumeric() || "_'-.".contains(c)))
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &prefix[start..];
        if let Some(dot) = word.rfind('.') {
            let (base, partial) = (&word[..dot], &word[dot + 1..]);
            let Ok(v) = self.eval(base) else {
                return (start, Vec::new());
            };
            if let Value::Attrs(a) = v {
                let c = a
                    .entries()
                    .iter()
                    .filter(|(k, _)| k.starts_with(partial))
                    .map(|(k, _)| format!("{}.{}", base, k))
                    .collect();
                return (start, c);
            }
            return (start, Vec::new());
        }
        let mut c: Vec<String> = self
            .scope
            .iter()
            .map(|(k, _)| k.to_string())
            .chain(self.ev.globals.keys().map(|k| k.to_string()))
            .filter(|k| k.starts_with(word) && !k.starts_with("__"))
            .collect();
        c.sort();
        c.dedup();
        (start, c)
    }
}

/// `name = expr` (but not `a == b`).
fn split_binding(line: &str) -> Option<(&str, &str)> {
    let i = line.find('=')?;
    if line[i + 1..].starts_with('=') {
        return None;
    }
    let name = line[..i].trim();
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '\'')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_');
    if ok {
        Some((name, line[i + 1..].trim()))
    } else {
        None
    }
}

const HELP: &str = "\
The following commands are available:

  <expr>        Evaluate and print expression
  <x> = <expr>  Bind expression to variable
  :l <path>     Load a Nix file (a set) and add its attributes to scope
  :p <expr>     Evaluate and print expression recursively
  :t <expr>     Describe the type of the result of an expression
  :q            Exit the REPL
";

struct ReplHelper(Rc<RefCell<Session>>);

impl Completer for ReplHelper {
    type Candidate = Pair;
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, c) = self.0.borrow_mut().complete(&line[..pos]);
        Ok((
            start,
            c.into_iter()
                .map(|s| Pair {
                    display: s.clone(),
                    replacement: s,
                })
                .collect(),
        ))
    }
}
impl Hinter for ReplHelper {
    type Hint = String;
}
impl Highlighter for ReplHelper {}
impl Validator for ReplHelper {}
impl Helper for ReplHelper {}

pub fn run(a: ReplArgs) -> Result<ExitCode, String> {
    let ev = crate::eval_cmd::make_eval(&a.include, a.impure);
    let session = Rc::new(RefCell::new(Session::new(ev)));
    for f in &a.files {
        let r = session.borrow_mut().load_file(&f.to_string_lossy());
        match r {
            Ok(n) => println!("Added {} variables.", n),
            Err(e) => eprint!("{}", e),
        }
    }
    let mut rl = rustyline::Editor::<ReplHelper, rustyline::history::DefaultHistory>::new()
        .map_err(|e| format!("error: cannot start the line editor: {}\n", e))?;
    rl.set_helper(Some(ReplHelper(session.clone())));
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ox_repl_history"));
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    println!("ox repl — :? for help");
    loop {
        match rl.readline("ox-repl> ") {
            Ok(line) => {
                let _ = rl.add_history_entry(line.as_str());
                let out = session.borrow_mut().line(&line);
                match out {
                    Output::Quit => break,
                    Output::Text(t) => print!("{}", t),
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(format!("error: {}\n", e)),
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new(Eval::new(ox_eval::Settings::default()))
    }

    fn text(o: Output) -> String {
        match o {
            Output::Text(t) => t,
            Output::Quit => "<quit>".into(),
        }
    }

    #[test]
    fn evaluates_binds_and_prints() {
        let mut s = session();
        assert_eq!(text(s.line("1 + 2")), "3\n");
        assert_eq!(text(s.line("x = { a.b = 1; c = throw \"lazy\"; }")), "");
        assert_eq!(text(s.line("x.a.b + 1")), "2\n");
        assert_eq!(text(s.line(":t x")), "a set\n");
        assert_eq!(text(s.line(":p x.a")), "{ b = 1; }\n");
        assert!(text(s.line("x.c")).contains("lazy"));
        assert_eq!(text(s.line(":q")), "<quit>");
    }

    #[test]
    fn completes_variables_and_attributes() {
        let mut s = session();
        s.line("config = { networking = { hostName = \"a\"; hosts = {}; }; }");
        let (start, c) = s.complete("config.networking.ho");
        assert_eq!(start, 0);
        assert_eq!(
            c,
            vec!["config.networking.hostName", "config.networking.hosts"]
        );
        let (_, c) = s.complete("conf");
        assert_eq!(c, vec!["config"]);
        let (start, c) = s.complete("1 + builtins.attrNa");
        assert_eq!(start, 4);
        assert_eq!(c, vec!["builtins.attrNames"]);
    }

    #[test]
    fn loads_a_file() {
        let dir = std::env::temp_dir().join(format!("ox-repl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("vars.nix");
        std::fs::write(&f, "{ answer = 42; greet = n: \"hi ${n}\"; }").unwrap();
        let mut s = session();
        assert_eq!(
            text(s.line(&format!(":l {}", f.display()))),
            "Added 2 variables.\n"
        );
        assert_eq!(text(s.line("greet \"ox\"")), "\"hi ox\"\n");
        assert_eq!(text(s.line("answer")), "42\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
