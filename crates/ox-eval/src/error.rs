//! Evaluation errors with source spans, and their rendering
//! (`file:line:col`, the source line with a caret, a hint, and the
//! "while evaluating" trace).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

/// A source file known to the evaluator. Files are registered once and
/// never removed, so a `FileId` stays valid for the whole process.
pub struct SourceFile {
    /// Path of the file, or `«string»` / `«repl»` for inline code.
    pub name: String,
    pub text: Rc<str>,
    line_starts: Vec<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId(pub u32);

thread_local! {
    static SOURCES: RefCell<Vec<Rc<SourceFile>>> = const { RefCell::new(Vec::new()) };
}

pub fn add_source(name: String, text: Rc<str>) -> FileId {
    let mut line_starts = vec![0u32];
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            line_starts.push(i as u32 + 1);
        }
    }
    SOURCES.with(|s| {
        let mut s = s.borrow_mut();
        s.push(Rc::new(SourceFile {
            name,
            text,
            line_starts,
        }));
        FileId(s.len() as u32 - 1)
    })
}

pub fn source(id: FileId) -> Option<Rc<SourceFile>> {
    SOURCES.with(|s| s.borrow().get(id.0 as usize).cloned())
}

/// A byte range in a registered source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// 1-based line and column of the start.
    pub fn line_col(&self) -> Option<(usize, usize)> {
        let f = source(self.file)?;
        let line = match f.line_starts.binary_search(&self.start) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let ls = f.line_starts[line] as usize;
        let start = (self.start as usize).min(f.text.len());
        let col = f
            .text
            .get(ls..start)
            .map(|t| t.chars().count())
            .unwrap_or(0)
            + 1;
        Some((line + 1, col))
    }
    pub fn file_name(&self) -> String {
        source(self.file)
            .map(|f| f.name.clone())
            .unwrap_or_else(|| "«unknown»".into())
    }
    /// `file:line:col`
    pub fn location(&self) -> String {
        let name = display_name(&self.file_name());
        match self.line_col() {
            Some((l, c)) => format!("{}:{}:{}", name, l, c),
            None => name,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// `throw`: catchable by `tryEval`.
    Throw,
    /// A failed `assert`: catchable by `tryEval`.
    Assert,
    /// `abort`: never catchable.
    Abort,
    InfiniteRecursion,
    StackOverflow,
    Type,
    Parse,
    Other,
}

#[derive(Clone, Debug)]
pub struct Frame {
    pub msg: String,
    pub span: Option<Span>,
}

#[derive(Clone, Debug)]
pub struct EvalError {
    pub kind: ErrorKind,
    pub msg: String,
    pub span: Option<Span>,
    pub hint: Option<String>,
    pub trace: Vec<Frame>,
}

pub type Result<T, E = Box<EvalError>> = std::result::Result<T, E>;

impl EvalError {
    pub fn new(kind: ErrorKind, msg: impl Into<String>, span: Option<Span>) -> Box<EvalError> {
        Box::new(EvalError {
            kind,
            msg: msg.into(),
            span,
            hint: None,
            trace: Vec::new(),
        })
    }
    pub fn is_catchable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throw | ErrorKind::Assert)
    }
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for EvalError {}

pub fn err<T>(kind: ErrorKind, msg: impl Into<String>, span: Span) -> Result<T> {
    Err(EvalError::new(kind, msg, Some(span)))
}

pub fn type_err<T>(msg: impl Into<String>, span: Span) -> Result<T> {
    err(ErrorKind::Type, msg, span)
}

/// Add a trace frame to an error as it propagates outwards.
pub trait AddContext<T> {
    fn context(self, f: impl FnOnce() -> (String, Option<Span>)) -> Result<T>;
}

impl<T> AddContext<T> for Result<T> {
    #[inline]
    fn context(self, f: impl FnOnce() -> (String, Option<Span>)) -> Result<T> {
        match self {
            Ok(v) => Ok(v),
            Err(mut e) => {
                // Keep traces bounded: deep recursions would otherwise
                // build enormous traces nobody reads.
                if e.trace.len() < 64 {
                    let (msg, span) = f();
                    e.trace.push(Frame { msg, span });
                }
                Err(e)
            }
        }
    }
}

pub struct Style {
    pub color: bool,
}

impl Style {
    fn red(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[31;1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn dim(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[2m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// File names in diagnostics are shown relative to the working
/// directory when the file is below it (`hosts/itw/default.nix:3:5`).
pub fn display_name(name: &str) -> String {
    if let Ok(cwd) = std::env::current_dir() {
        let cwd = cwd.to_string_lossy();
        if let Some(rest) = name.strip_prefix(&*cwd).and_then(|r| r.strip_prefix('/')) {
            return rest.to_string();
        }
    }
    name.to_string()
}

/// Longest source line shown whole in a snippet, in characters.
const LINE_WINDOW: usize = 160;

fn render_snippet(out: &mut String, span: Span, style: &Style) {
    let Some(f) = source(span.file) else { return };
    let Some((line, col)) = span.line_col() else {
        return;
    };
    let _ = writeln!(
        out,
        "       at {}:{}:{}:",
        style.bold(&display_name(&f.name)),
        line,
        col
    );
    let text = &f.text;
    let ls = f.line_starts[line - 1] as usize;
    let le = f
        .line_starts
        .get(line)
        .map(|x| *x as usize - 1)
        .unwrap_or(text.len());
    let src_line = text.get(ls..le).unwrap_or("").trim_end_matches('\r');
    let width = line.to_string().len().max(3);
    let mut start_col = col - 1;
    let span_len = if (span.end as usize) <= le {
        text.get(span.start as usize..span.end as usize)
            .map(|s| s.chars().count())
            .unwrap_or(1)
    } else {
        src_line.chars().count().saturating_sub(start_col)
    }
    .max(1);
    // A generated file can have a line of megabytes: show a window of it
    // around the caret, marked with `…` where it is cut.
    let shown: String;
    let mut src_line = src_line;
    let n_chars = src_line.chars().count();
    if n_chars > LINE_WINDOW {
        let from = start_col.saturating_sub(LINE_WINDOW / 3);
        let to = (from + LINE_WINDOW).min(n_chars);
        let mut w = String::new();
        if from > 0 {
            w.push('…');
        }
        w.extend(src_line.chars().skip(from).take(to - from));
        if to < n_chars {
            w.push('…');
        }
        start_col = start_col - from + usize::from(from > 0);
        shown = w;
        src_line = &shown;
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "       {:>width$}| {}", line, src_line);
    // underline the span on this line (at least one caret)
    let pad: String = src_line
        .chars()
        .take(start_col)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let _ = writeln!(
        out,
        "       {:>width$}| {}{}",
        "",
        pad,
        style.red(&"^".repeat(span_len.min(200)))
    );
}

/// Render an error the way users read it: message, location, source
/// snippet with a caret, hint, then the trace from innermost outwards.
pub fn render(e: &EvalError, color: bool) -> String {
    let style = Style { color };
    let mut out = String::new();
    let _ = writeln!(out, "{} {}", style.red("error:"), e.msg);
    if let Some(span) = e.span {
        let _ = writeln!(out);
        render_snippet(&mut out, span, &style);
    }
    if let Some(h) = &e.hint {
        let _ = writeln!(out, "       {}", h);
    }
    let mut last: Option<(String, Option<Span>)> = None;
    let mut shown = 0;
    for fr in &e.trace {
        // Collapse identical consecutive frames (deep recursion).
        if last.as_ref() == Some(&(fr.msg.clone(), fr.span)) {
            continue;
        }
        last = Some((fr.msg.clone(), fr.span));
        shown += 1;
        if shown > 12 {
            let _ = writeln!(out, "{}", style.dim("       … (more frames omitted)"));
            break;
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "       {} {}", style.dim("…"), fr.msg);
        if let Some(span) = fr.span {
            let _ = writeln!(out);
            render_snippet(&mut out, span, &style);
        }
    }
    out
}
