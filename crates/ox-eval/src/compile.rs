//! Lowering of the `rnix` syntax tree into ox's IR.
//!
//! Variables are resolved here, once, into `(depth, slot)` pairs of the
//! runtime environment chain, so evaluation never looks names up in maps.
//! Nix's scoping rule is applied statically: any lexical binding (`let`,
//! `rec`, lambda arguments, the builtins base scope) wins over `with`;
//! only names no lexical scope binds are looked up dynamically in the
//! enclosing `with` namespaces, innermost first. Undefined variables are
//! reported at compile time, as Nix does.
//!
//! Compiled code is leaked (`&'static`): parsed files stay alive for the
//! whole evaluation anyway (imports are cached), and it lets thunks point
//! at code without reference counting.
//!
//! The lowering reads rnix's green tree directly (`N`), not its typed
//! `ast` API: the red tree behind that API allocated a cursor per node
//! visited and cost more than parsing. The accessors on `N` mirror the
//! `ast` ones they replace, so both read the same children.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use rnix::ast::{self, InterpolPart};
use rnix::SyntaxKind::{self, *};
use rowan::ast::AstNode as _;
use rowan::{GreenNodeData, GreenTokenData};
use rustc_hash::FxHashMap;

use crate::error::{ErrorKind, EvalError, FileId, Result, Span};
use crate::value::{name_prefix, sym, Sym, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Concat,
    Update,
    Eq,
    NotEq,
    Less,
    LessEq,
    More,
    MoreEq,
    And,
    Or,
    Impl,
    PipeRight,
    PipeLeft,
}

pub enum AttrKey {
    Static(Sym),
    Dynamic(Expr),
}

pub enum StrPart {
    Lit(Rc<str>),
    Expr(Expr),
}

pub enum Expr {
    Const(Value),
    /// A selection resolved at compile time (`builtins.map`): evaluates
    /// like a constant but is still lazy, so printing shows `<CODE>`.
    Folded(Value, Span),
    Var {
        depth: u32,
        idx: u32,
        span: Span,
    },
    WithVar {
        name: Sym,
        withs: Box<[u32]>,
        span: Span,
    },
    Str {
        parts: Vec<StrPart>,
        span: Span,
    },
    Path {
        parts: Vec<StrPart>,
        base: Rc<str>,
        span: Span,
    },
    Attrs(Box<AttrsDef>),
    List(Vec<Expr>),
    Select {
        e: Box<Expr>,
        path: Vec<AttrKey>,
        default: Option<Box<Expr>>,
        span: Span,
    },
    HasAttr {
        e: Box<Expr>,
        path: Vec<AttrKey>,
        span: Span,
    },
    Lambda(Box<LambdaDef>),
    Apply {
        f: Box<Expr>,
        arg: Box<Expr>,
        span: Span,
    },
    /// `builtins.f a b` with exactly `f`'s arity of arguments, resolved at
    /// compile time: calls the primop directly, without building the
    /// partial applications in between.
    PrimCall {
        op: Rc<crate::value::PrimOp>,
        args: Vec<Expr>,
        span: Span,
        /// For `bitAnd`/`bitOr`/`bitXor`, which force both arguments in
        /// order: the operation on two integers, computed in place.
        int_op: Option<fn(i64, i64) -> i64>,
    },
    /// `f a b …` (two or more arguments), each with its application's
    /// span: curried lambdas are entered without building the closures
    /// in between.
    Call {
        f: Box<Expr>,
        args: Vec<(Expr, Span)>,
        span: Span,
    },
    Let {
        binds: Vec<Binding>,
        body: Box<Expr>,
    },
    With {
        ns: Box<Expr>,
        body: Box<Expr>,
        span: Span,
    },
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        else_: Box<Expr>,
        span: Span,
    },
    Assert {
        cond: Box<Expr>,
        body: Box<Expr>,
        text: String,
        span: Span,
    },
    BinOp {
        op: BinOp,
        l: Box<Expr>,
        r: Box<Expr>,
        span: Span,
        /// Arithmetic or a comparison on variables and integer constants:
        /// the evaluator tries it in place on evaluated integers first.
        int: bool,
    },
    Not(Box<Expr>, Span),
    Neg(Box<Expr>, Span),
    CurPos(Span),
}

impl Expr {
    pub fn span(&self) -> Option<Span> {
        match self {
            Expr::Const(_) | Expr::List(_) | Expr::Let { .. } => None,
            Expr::Var { span, .. }
            | Expr::WithVar { span, .. }
            | Expr::Str { span, .. }
            | Expr::Path { span, .. }
            | Expr::Select { span, .. }
            | Expr::HasAttr { span, .. }
            | Expr::Apply { span, .. }
            | Expr::PrimCall { span, .. }
            | Expr::Call { span, .. }
            | Expr::With { span, .. }
            | Expr::If { span, .. }
            | Expr::Assert { span, .. }
            | Expr::BinOp { span, .. }
            | Expr::Not(_, span)
            | Expr::Neg(_, span)
            | Expr::CurPos(span)
            | Expr::Folded(_, span) => Some(*span),
            Expr::Attrs(a) => Some(a.span),
            Expr::Lambda(l) => Some(l.span),
        }
    }
}

/// One binding of a `let` or a `rec` set: evaluated in the new scope,
/// or (for `inherit x`) in the enclosing one.
pub struct Binding {
    pub name: Sym,
    pub value: Expr,
    pub inherited: bool,
    pub span: Span,
}

pub struct AttrsDef {
    pub rec: bool,
    /// Static attributes, sorted by name. For `rec` sets, attribute `i`
    /// also lives in slot `i` of the set's environment.
    pub statics: Vec<Binding>,
    pub dynamics: Vec<(Expr, Expr, Span)>,
    pub span: Span,
    /// The statics' positions by name address, shared by every set this
    /// literal builds (a big set's index, see `Attrs::get`): built once
    /// per literal, not once per evaluation of it.
    pub(crate) index: std::cell::OnceCell<Box<crate::value::NameIndex>>,
}

pub struct LambdaDef {
    pub name: std::cell::RefCell<Option<Sym>>,
    /// The plain argument (`x: …`) or the `@` binding.
    pub arg: Option<Sym>,
    pub formals: Option<Formals>,
    pub body: Expr,
    pub span: Span,
    /// The size of the frame a call builds: for a plain lambda, the
    /// number of lambdas in its curried chain (`a: b: c: body` has one
    /// frame of three slots); for formals, the formals plus the `@` name.
    pub nslots: u32,
    /// A plain lambda's slot in its chain's frame. A closure of a lambda
    /// with `pos > 0` (a partial application) holds the chain's frame with
    /// slots `0..pos` bound; calling it copies them into a new frame.
    pub pos: u32,
    /// A plain-argument lambda whose body forces its argument whenever it
    /// returns: a caller may then evaluate a cheap, infallible argument
    /// (`n - 1` on an evaluated integer) instead of allocating a thunk,
    /// since nothing can observe the difference.
    pub strict_arg: bool,
    /// For a plain lambda whose body, before doing anything else, forces
    /// one of its frame's slots (`x: bitAnd x 255`, `p: if p.deps == [] …`,
    /// `lhs: rhs: lhs // …`): that slot and the variable's position. A
    /// caller may evaluate that argument itself instead of allocating a
    /// thunk the body would force at once (see `Eval::eager_arg` for why
    /// errors stay the same). When it is this lambda's own slot,
    /// `strict_arg` holds too.
    pub first_forced: Option<(u32, Span)>,
    /// The body as integer arithmetic (see `ArithBody`), when it is.
    pub arith: Option<Box<ArithBody>>,
    /// The body is an integer operator whose operands are integer
    /// operators, `if`s, variables and integer constants
    /// (`acc + (if bitAnd x 1 == 0 then x else 0 - x)`): a call with
    /// evaluated integer arguments computes it in place (`fast_val`).
    pub int_body: bool,
}

/// A lambda body that is integer arithmetic on variables and integer
/// constants (`a + b * 3`, `bitAnd x 255`), possibly applied to by a
/// variable (`m (a + b * 3 + d)`), as postfix code in the evaluator's
/// order (left operand, right operand, operation). A call runs the code
/// on the frame it built when every variable is an evaluated integer
/// (instead of a level of `eval` per operator), and can tell which
/// argument the body forces first (`Eval::eval_call`).
pub struct ArithBody {
    pub code: Box<[AOp]>,
    /// `m (…)`: the applied variable (depth, slot) and the application's
    /// span.
    pub applied: Option<(u32, u32, Span)>,
}

/// One step of `ArithBody::code`, on a stack of integers.
#[derive(Clone, Copy)]
pub enum AOp {
    Var {
        depth: u32,
        idx: u32,
        span: Span,
    },
    /// `… + x` (`Var`, `Add`): the variable added to the top.
    AddVar {
        depth: u32,
        idx: u32,
        span: Span,
    },
    /// `… + x * c` (`Var`, `Int`, `Mul`, `Add`).
    AddMulVar {
        depth: u32,
        idx: u32,
        span: Span,
        c: i64,
    },
    Int(i64),
    /// `+ - * /` (checked: an overflow or a division by zero stops the
    /// code, and the general path reports it).
    Add,
    Sub,
    Mul,
    Div,
    /// `bitAnd`/`bitOr`/`bitXor`.
    Prim(fn(i64, i64) -> i64),
}

/// The evaluation stack `ArithBody::code` may need at most.
pub const ARITH_STACK: usize = 8;

impl LambdaDef {
    /// `x: x` (or the last lambda of a chain returning its own argument).
    #[inline]
    pub fn is_identity(&self) -> bool {
        self.formals.is_none()
            && matches!(self.body, Expr::Var { depth: 0, idx, .. } if idx == self.pos)
    }
    /// The number of plain lambdas in the curried chain starting here.
    fn chain_len(&self) -> u32 {
        let mut n = 1;
        let mut d = self;
        while let Expr::Lambda(inner) = &d.body {
            if inner.pos == 0 {
                break;
            }
            n += 1;
            d = inner;
        }
        n
    }

    /// Whether a call of this plain lambda runs its body (it is the last
    /// of its chain) rather than returning the next lambda of the chain.
    #[inline]
    pub fn is_last(&self) -> bool {
        self.pos + 1 >= self.nslots
    }
}

type FormalEntries = Vec<(Sym, Option<Expr>)>;

pub struct Formals {
    /// In slot order.
    pub entries: Vec<(Sym, Option<Expr>)>,
    pub ellipsis: bool,
}

enum Scope {
    /// Slots by interned name (the name's address).
    Static(FxHashMap<usize, u32>),
    With,
}

/// Names of the global (base-scope) bindings and their values.
pub type Globals = HashMap<Sym, Value>;

pub struct Compiler<'g> {
    scopes: Vec<Scope>,
    file: FileId,
    /// Directory relative paths are resolved against.
    dir: Rc<str>,
    globals: &'g Globals,
    /// Interned identifiers by green token address (`ident`).
    idents: FxHashMap<usize, Sym>,
}

fn perr(msg: impl Into<String>, span: Span) -> Box<EvalError> {
    EvalError::new(ErrorKind::Parse, msg, Some(span))
}

/// Lexically normalise an absolute path the way Nix's `canonPath` does:
/// drop `.` and empty components, resolve `..`, no trailing slash.
pub fn canon_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut s = String::with_capacity(p.len());
    for c in &parts {
        s.push('/');
        s.push_str(c);
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

/// Make `p` absolute relative to `base`, canonically.
pub fn abs_path(p: &str, base: &str) -> String {
    if p.starts_with('/') {
        canon_path(p)
    } else {
        canon_path(&format!("{}/{}", base, p))
    }
}

pub fn dir_of(path: &Path) -> String {
    let parent = path.parent().unwrap_or(Path::new("/"));
    // `..` must be resolved, not dropped: `/a/b/../../c/f.nix` is in `/c`.
    if parent.is_absolute() {
        return canon_path(&parent.to_string_lossy());
    }
    let mut out = PathBuf::new();
    for c in parent.components() {
        if let Component::Normal(_) | Component::RootDir = c {
            out.push(c)
        }
    }
    out.to_string_lossy().into_owned()
}

/// A node of rnix's green tree with its absolute text offset.
///
/// The compiler walks the green tree directly: rowan's red tree (what
/// rnix's typed `ast` API is made of) allocates a cursor for every node
/// visited and recomputes offsets, which cost more than the lowering
/// itself. The accessors below mirror rnix's `ast` accessors (the n-th
/// child node that is an expression, the first token of a kind, …).
#[derive(Clone, Copy)]
struct N<'a> {
    g: &'a GreenNodeData,
    off: u32,
}

#[derive(Clone, Copy)]
struct Tok<'a> {
    g: &'a GreenTokenData,
    off: u32,
}

fn kind_of(raw: rowan::SyntaxKind) -> SyntaxKind {
    <rnix::NixLanguage as rowan::Language>::kind_from_raw(raw)
}

/// Node kinds rnix's `ast::Expr` casts from.
fn is_expr(k: SyntaxKind) -> bool {
    matches!(
        k,
        NODE_APPLY
            | NODE_ASSERT
            | NODE_ERROR
            | NODE_IF_ELSE
            | NODE_SELECT
            | NODE_STRING
            | NODE_PATH_ABS
            | NODE_PATH_REL
            | NODE_PATH_HOME
            | NODE_PATH_SEARCH
            | NODE_LITERAL
            | NODE_LAMBDA
            | NODE_LEGACY_LET
            | NODE_LET_IN
            | NODE_LIST
            | NODE_BIN_OP
            | NODE_PAREN
            | NODE_ROOT
            | NODE_ATTR_SET
            | NODE_UNARY_OP
            | NODE_IDENT
            | NODE_WITH
            | NODE_HAS_ATTR
            | NODE_CUR_POS
    )
}

/// Node kinds rnix's `ast::Attr` casts from.
fn is_attr(k: SyntaxKind) -> bool {
    matches!(k, NODE_IDENT | NODE_DYNAMIC | NODE_STRING)
}

impl<'a> N<'a> {
    fn kind(self) -> SyntaxKind {
        kind_of(self.g.kind())
    }

    fn range(self) -> (u32, u32) {
        (self.off, self.off + u32::from(self.g.text_len()))
    }

    fn children(self) -> impl Iterator<Item = rowan::NodeOrToken<N<'a>, Tok<'a>>> {
        let mut off = self.off;
        self.g.children().map(move |c| {
            let start = off;
            match c {
                rowan::NodeOrToken::Node(g) => {
                    off += u32::from(g.text_len());
                    rowan::NodeOrToken::Node(N { g, off: start })
                }
                rowan::NodeOrToken::Token(g) => {
                    off += u32::from(g.text_len());
                    rowan::NodeOrToken::Token(Tok { g, off: start })
                }
            }
        })
    }

    fn nodes(self) -> impl Iterator<Item = N<'a>> {
        self.children().filter_map(|c| c.into_node())
    }

    fn tokens(self) -> impl Iterator<Item = Tok<'a>> {
        self.children().filter_map(|c| c.into_token())
    }

    /// The `i`-th child node that is an expression.
    fn nth_expr(self, i: usize) -> Option<N<'a>> {
        self.nodes().filter(|n| is_expr(n.kind())).nth(i)
    }

    /// The first two child expressions.
    fn exprs2(self) -> (Option<N<'a>>, Option<N<'a>>) {
        let mut it = self.nodes().filter(|n| is_expr(n.kind()));
        let a = it.next();
        (a, it.next())
    }

    fn child(self, k: SyntaxKind) -> Option<N<'a>> {
        self.nodes().find(|n| n.kind() == k)
    }

    fn token(self, k: SyntaxKind) -> Option<Tok<'a>> {
        self.tokens().find(|t| t.kind() == k)
    }

    /// The node's source text. Iterative: a left-nested operator chain
    /// (`1 + 1 + … + 1`) is as deep as it is long.
    fn push_text(self, out: &mut String) {
        let mut stack = vec![self.g.children()];
        while let Some(top) = stack.last_mut() {
            match top.next() {
                Some(rowan::NodeOrToken::Node(n)) => stack.push(n.children()),
                Some(rowan::NodeOrToken::Token(t)) => out.push_str(t.text()),
                None => {
                    stack.pop();
                }
            }
        }
    }

    fn text(self) -> String {
        let mut s = String::with_capacity(u32::from(self.g.text_len()) as usize);
        self.push_text(&mut s);
        s
    }

    /// rnix's typed view of this subtree (a red tree rooted here), for the
    /// few constructs whose rules are rnix's own (string normalisation).
    /// Its offsets are relative to `self.off`.
    fn red(self) -> rnix::SyntaxNode {
        rnix::SyntaxNode::new_root(self.g.to_owned())
    }
}

impl<'a> Tok<'a> {
    fn kind(self) -> SyntaxKind {
        kind_of(self.g.kind())
    }

    fn text(self) -> &'a str {
        self.g.text()
    }

    fn range(self) -> (u32, u32) {
        (self.off, self.off + u32::from(self.g.text_len()))
    }
}

/// The text of a string without interpolations or escapes (`"foo"`),
/// which is its value: the common case, read without rnix's normaliser.
fn plain_str<'a>(n: N<'a>) -> Option<&'a str> {
    let mut toks = n.children();
    match toks.next()? {
        rowan::NodeOrToken::Token(t) if t.kind() == TOKEN_STRING_START && t.text() == "\"" => {}
        _ => return None,
    }
    let mut text = "";
    for c in toks {
        match c {
            rowan::NodeOrToken::Token(t) if t.kind() == TOKEN_STRING_CONTENT && text.is_empty() => {
                if t.text().contains('\\') {
                    return None;
                }
                text = t.text();
            }
            rowan::NodeOrToken::Token(t) if t.kind() == TOKEN_STRING_END => return Some(text),
            _ => return None,
        }
    }
    None
}

/// Whether a string node has no `${…}` parts.
fn str_is_literal(n: N) -> bool {
    !n.nodes().any(|c| c.kind() == NODE_INTERPOL)
}

enum PendingVal<'a> {
    Ast(N<'a>),
    Nested(Box<Pending<'a>>, Span),
    Inherit(Sym, Span),
    InheritFrom(N<'a>, Sym, Span),
}

/// The static attributes of a set being collected, in definition order,
/// with an index by interned name once there are more than a few (a
/// `BTreeMap` keyed by strings cost a `memcmp` per comparison). Sorted by
/// name once, when compiled.
struct Statics<'a> {
    entries: Vec<(Sym, PendingVal<'a>, Span)>,
    index: FxHashMap<usize, usize>,
}

/// Above this many entries, names are found through the index.
const STATICS_SCAN: usize = 8;

fn key(s: Sym) -> usize {
    s.as_ptr() as usize
}

impl<'a> Statics<'a> {
    fn new() -> Self {
        Statics {
            entries: Vec::new(),
            index: FxHashMap::default(),
        }
    }

    fn find(&self, name: Sym) -> Option<usize> {
        if self.entries.len() <= STATICS_SCAN {
            self.entries
                .iter()
                .position(|(k, _, _)| key(k) == key(name))
        } else {
            self.index.get(&key(name)).copied()
        }
    }

    fn get_mut(&mut self, name: Sym) -> Option<(&mut PendingVal<'a>, Span)> {
        let i = self.find(name)?;
        let (_, v, s) = &mut self.entries[i];
        Some((v, *s))
    }

    /// Add a name that is not there yet.
    fn insert(&mut self, name: Sym, v: PendingVal<'a>, span: Span) {
        let i = self.entries.len();
        self.entries.push((name, v, span));
        if i == STATICS_SCAN {
            for (j, (k, _, _)) in self.entries.iter().enumerate() {
                self.index.insert(key(k), j);
            }
        } else if i > STATICS_SCAN {
            self.index.insert(key(name), i);
        }
    }

    fn into_sorted(self) -> Vec<(Sym, PendingVal<'a>, Span)> {
        let mut v = self.entries;
        if v.len() > STATICS_SCAN * 4 {
            // Big sets: compare names by their first eight bytes as one
            // integer (the byte order of zero-padded prefixes agrees with
            // the names' order whenever they differ), whole only on ties.
            v.sort_by_cached_key(|e| (name_prefix(e.0), e.0));
        } else {
            v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        }
        v
    }
}

struct Pending<'a> {
    rec: bool,
    statics: Statics<'a>,
    dynamics: Vec<(N<'a>, PendingVal<'a>, Span)>,
}

impl<'a> Pending<'a> {
    fn new(rec: bool) -> Self {
        Pending {
            rec,
            statics: Statics::new(),
            dynamics: Vec::new(),
        }
    }
}

impl<'g> Compiler<'g> {
    pub fn new(file: FileId, dir: &str, globals: &'g Globals) -> Compiler<'g> {
        Compiler {
            scopes: Vec::new(),
            file,
            dir: dir.into(),
            globals,
            idents: FxHashMap::default(),
        }
    }

    /// Start with an extra static scope (used by `scopedImport`), whose
    /// values the caller puts into the root environment, in this order.
    pub fn with_root_scope(mut self, names: &[Sym]) -> Self {
        self.scopes.push(Scope::Static(slot_map(names.iter())));
        self
    }

    fn span(&self, (start, end): (u32, u32)) -> Span {
        Span {
            file: self.file,
            start,
            end,
        }
    }

    /// An identifier's name, interned. rowan shares equal tokens, so the
    /// name is looked up by the token's address: hashing the text into
    /// the interner for every occurrence cost a seventh of compiling.
    fn ident(&mut self, i: N) -> Sym {
        let Some(t) = i.token(TOKEN_IDENT) else {
            return sym(&i.text());
        };
        let k = t.g as *const GreenTokenData as usize;
        if let Some(&s) = self.idents.get(&k) {
            return s;
        }
        let s = sym(t.text());
        self.idents.insert(k, s);
        s
    }

    fn node_span(&self, n: N) -> Span {
        self.span(n.range())
    }

    fn compile_root(&mut self, root: N) -> Result<Expr> {
        match root.nth_expr(0) {
            Some(e) => self.expr(e),
            None => Err(perr(
                "syntax error, unexpected end of file",
                self.node_span(root),
            )),
        }
    }

    fn resolve(&self, name: Sym, span: Span) -> Result<Expr> {
        let mut withs = Vec::new();
        for (depth, scope) in self.scopes.iter().rev().enumerate() {
            match scope {
                Scope::Static(m) => {
                    if let Some(&idx) = m.get(&key(name)) {
                        return Ok(Expr::Var {
                            depth: depth as u32,
                            idx,
                            span,
                        });
                    }
                }
                Scope::With => withs.push(depth as u32),
            }
        }
        if let Some(v) = self.globals.get(name) {
            return Ok(Expr::Const(v.clone()));
        }
        if withs.is_empty() {
            return Err(perr(format!("undefined variable '{}'", name), span));
        }
        Ok(Expr::WithVar {
            name,
            withs: withs.into_boxed_slice(),
            span,
        })
    }

    fn bx(&mut self, e: Option<N>, parent: N) -> Result<Box<Expr>> {
        Ok(Box::new(self.opt(e, parent)?))
    }

    fn opt(&mut self, e: Option<N>, parent: N) -> Result<Expr> {
        match e {
            Some(e) => self.expr(e),
            None => Err(perr("syntax error", self.node_span(parent))),
        }
    }

    fn expr(&mut self, e: N) -> Result<Expr> {
        // Deeply nested source (e.g. long `++` chains) must not blow the
        // native stack while lowering.
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.expr_inner(e))
    }

    fn expr_inner(&mut self, n: N) -> Result<Expr> {
        let span = self.node_span(n);
        Ok(match n.kind() {
            NODE_PAREN | NODE_ROOT => return self.opt(n.nth_expr(0), n),
            NODE_LITERAL => {
                let Some(t) = n
                    .tokens()
                    .find(|t| matches!(t.kind(), TOKEN_INTEGER | TOKEN_FLOAT | TOKEN_URI))
                else {
                    return Err(perr("syntax error", span));
                };
                match t.kind() {
                    TOKEN_INTEGER => match t.text().parse::<i64>() {
                        Ok(v) => Expr::Const(Value::Int(v)),
                        Err(_) => {
                            return Err(perr(format!("invalid integer '{}'", t.text()), span))
                        }
                    },
                    TOKEN_FLOAT => match t.text().parse::<f64>() {
                        Ok(v) if v.is_finite() => Expr::Const(Value::Float(v)),
                        _ => return Err(perr(format!("invalid float '{}'", t.text()), span)),
                    },
                    _ => Expr::Const(Value::str(t.text())),
                }
            }
            NODE_IDENT => {
                let name = self.ident(n);
                self.resolve(name, span)?
            }
            NODE_STRING => {
                let parts = self.str_parts(n)?;
                match parts.as_slice() {
                    [] => Expr::Const(Value::str("")),
                    [StrPart::Lit(l)] => Expr::Const(Value::str(&**l)),
                    _ => Expr::Str { parts, span },
                }
            }
            NODE_PATH_ABS | NODE_PATH_REL | NODE_PATH_HOME | NODE_PATH_SEARCH => {
                self.path(n, span)?
            }
            NODE_LIST => {
                let mut items = Vec::new();
                for it in n.nodes().filter(|c| is_expr(c.kind())) {
                    items.push(self.expr(it)?);
                }
                Expr::List(items)
            }
            NODE_ATTR_SET => {
                let rec = n.token(TOKEN_REC).is_some();
                let p = self.collect(n, rec)?;
                self.attrs(p, span)?
            }
            NODE_LEGACY_LET => {
                // `let { …; body = e; }` is `(rec { … }).body`
                let p = self.collect(n, true)?;
                let a = self.attrs(p, span)?;
                Expr::Select {
                    e: Box::new(a),
                    path: vec![AttrKey::Static("body")],
                    default: None,
                    span,
                }
            }
            NODE_LET_IN => {
                let p = self.collect(n, true)?;
                if let Some((_, _, s)) = p.dynamics.first() {
                    return Err(perr("dynamic attributes not allowed in let", *s));
                }
                let statics = p.statics.into_sorted();
                self.scopes
                    .push(Scope::Static(slot_map(statics.iter().map(|(k, _, _)| k))));
                let binds = self.bindings(statics, true);
                let body = binds.and_then(|b| Ok((b, self.bx(n.nth_expr(0), n)?)));
                self.scopes.pop();
                let (binds, body) = body?;
                Expr::Let { binds, body }
            }
            NODE_SELECT => {
                let (e, default) = n.exprs2();
                let e = self.bx(e, n)?;
                let path = self.attrpath(n.child(NODE_ATTRPATH), n)?;
                // `builtins.foo` is a constant: resolve it now.
                if let (Expr::Const(Value::Attrs(a)), [AttrKey::Static(k)]) = (&*e, path.as_slice())
                {
                    if let Some(v) = a.get(k) {
                        if !matches!(v, Value::Thunk(_)) {
                            return Ok(Expr::Folded(v.clone(), span));
                        }
                    }
                }
                let default = match default {
                    Some(d) => Some(Box::new(self.expr(d)?)),
                    None => None,
                };
                Expr::Select {
                    e,
                    path,
                    default,
                    span,
                }
            }
            NODE_HAS_ATTR => {
                let e = self.bx(n.nth_expr(0), n)?;
                let path = self.attrpath(n.child(NODE_ATTRPATH), n)?;
                Expr::HasAttr { e, path, span }
            }
            NODE_LAMBDA => Expr::Lambda(Box::new(self.lambda(n, span)?)),
            NODE_APPLY => {
                let (f, arg) = n.exprs2();
                let f = self.bx(f, n)?;
                let arg = self.bx(arg, n)?;
                prim_call(Expr::Apply { f, arg, span })
            }
            NODE_WITH => {
                let (ns, body) = n.exprs2();
                let ns = self.bx(ns, n)?;
                self.scopes.push(Scope::With);
                let body = self.bx(body, n);
                self.scopes.pop();
                Expr::With {
                    ns,
                    body: body?,
                    span,
                }
            }
            NODE_IF_ELSE => {
                let mut it = n.nodes().filter(|c| is_expr(c.kind()));
                let (c, t, e) = (it.next(), it.next(), it.next());
                Expr::If {
                    cond: self.bx(c, n)?,
                    then: self.bx(t, n)?,
                    else_: self.bx(e, n)?,
                    span,
                }
            }
            NODE_ASSERT => {
                let (cond, body) = n.exprs2();
                let text = cond.map(|c| c.text()).unwrap_or_default();
                let cspan = cond.map(|c| self.node_span(c)).unwrap_or(span);
                Expr::Assert {
                    cond: self.bx(cond, n)?,
                    body: self.bx(body, n)?,
                    text,
                    span: cspan,
                }
            }
            NODE_UNARY_OP => {
                let inner = self.bx(n.nth_expr(0), n)?;
                match n
                    .tokens()
                    .find_map(|t| ast::UnaryOpKind::from_kind(t.kind()))
                {
                    Some(ast::UnaryOpKind::Invert) => Expr::Not(inner, span),
                    Some(ast::UnaryOpKind::Negate) => Expr::Neg(inner, span),
                    None => return Err(perr("syntax error", span)),
                }
            }
            NODE_BIN_OP => {
                let Some((op, tok)) = n
                    .tokens()
                    .find_map(|t| ast::BinOpKind::from_kind(t.kind()).map(|k| (k, t)))
                else {
                    return Err(perr("syntax error", span));
                };
                use ast::BinOpKind as K;
                let op = match op {
                    K::Concat => BinOp::Concat,
                    K::Update => BinOp::Update,
                    K::Add => BinOp::Add,
                    K::Sub => BinOp::Sub,
                    K::Mul => BinOp::Mul,
                    K::Div => BinOp::Div,
                    K::And => BinOp::And,
                    K::Equal => BinOp::Eq,
                    K::Implication => BinOp::Impl,
                    K::Less => BinOp::Less,
                    K::LessOrEq => BinOp::LessEq,
                    K::More => BinOp::More,
                    K::MoreOrEq => BinOp::MoreEq,
                    K::NotEqual => BinOp::NotEq,
                    K::Or => BinOp::Or,
                    K::PipeRight => BinOp::PipeRight,
                    K::PipeLeft => BinOp::PipeLeft,
                };
                // Errors of an operator point at the operator itself.
                let op_span = self.span(tok.range());
                let (l, r) = n.exprs2();
                let l = self.bx(l, n)?;
                let r = self.bx(r, n)?;
                let simple = |x: &Expr| matches!(x, Expr::Var { .. } | Expr::Const(Value::Int(_)));
                let int = int_binop(op) && simple(&l) && simple(&r);
                Expr::BinOp {
                    op,
                    l,
                    r,
                    span: op_span,
                    int,
                }
            }
            NODE_CUR_POS => Expr::CurPos(span),
            // NODE_ERROR, and anything that is not an expression.
            _ => return Err(perr("syntax error", span)),
        })
    }

    fn str_parts(&mut self, n: N) -> Result<Vec<StrPart>> {
        if let Some(t) = plain_str(n) {
            return Ok(if t.is_empty() {
                Vec::new()
            } else {
                vec![StrPart::Lit(t.into())]
            });
        }
        // Indented strings and escapes: rnix's normaliser, on a red tree
        // of this string alone.
        let Some(s) = ast::Str::cast(n.red()) else {
            return Err(perr("syntax error", self.node_span(n)));
        };
        let mut parts = Vec::new();
        for p in s.normalized_parts() {
            match p {
                InterpolPart::Literal(l) => {
                    if !l.is_empty() {
                        parts.push(StrPart::Lit(l.into()))
                    }
                }
                InterpolPart::Interpolation(i) => {
                    let e = self.red_expr(n.off, i.expr(), i.syntax())?;
                    parts.push(StrPart::Expr(e));
                }
            }
        }
        Ok(parts)
    }

    /// Compile an expression found through a red tree rooted at `base`
    /// (`N::red`), or report a syntax error at its parent.
    fn red_expr(
        &mut self,
        base: u32,
        e: Option<ast::Expr>,
        parent: &rnix::SyntaxNode,
    ) -> Result<Expr> {
        let at = |r: rnix::TextRange| (base + u32::from(r.start()), base + u32::from(r.end()));
        match e {
            Some(e) => {
                let s = e.syntax();
                let (off, _) = at(s.text_range());
                self.expr(N { g: s.green(), off })
            }
            None => Err(perr("syntax error", self.span(at(parent.text_range())))),
        }
    }

    fn path(&mut self, n: N, span: Span) -> Result<Expr> {
        let kind = n.kind();
        if kind == NODE_PATH_SEARCH {
            let text = n.text();
            let inner = text
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string();
            // `<x>` is `__findFile __nixPath "x"`, resolved like any
            // variable so that a user's binding can override it.
            let find = self.resolve(sym("__findFile"), span)?;
            let np = self.resolve(sym("__nixPath"), span)?;
            return Ok(Expr::Apply {
                f: Box::new(Expr::Apply {
                    f: Box::new(find),
                    arg: Box::new(np),
                    span,
                }),
                arg: Box::new(Expr::Const(Value::str(inner))),
                span,
            });
        }
        let mut out: Vec<StrPart> = Vec::new();
        for (i, p) in n.children().enumerate() {
            match p {
                rowan::NodeOrToken::Token(t) => {
                    let mut t = t.text().to_string();
                    if i == 0 && kind == NODE_PATH_HOME {
                        let home = std::env::var("HOME").unwrap_or_default();
                        t = format!("{}{}", home, &t[1..]);
                    }
                    out.push(StrPart::Lit(t.into()))
                }
                rowan::NodeOrToken::Node(ip) => {
                    let e = self.opt(ip.nth_expr(0), ip)?;
                    out.push(StrPart::Expr(e))
                }
            }
        }
        if let [StrPart::Lit(l)] = out.as_slice() {
            if l.len() > 1 && l.ends_with('/') {
                return Err(perr(format!("path '{}' has a trailing slash", l), span));
            }
            return Ok(Expr::Const(Value::Path(abs_path(l, &self.dir).into())));
        }
        Ok(Expr::Path {
            parts: out,
            base: self.dir.clone(),
            span,
        })
    }

    fn attrpath(&mut self, p: Option<N>, parent: N) -> Result<Vec<AttrKey>> {
        let Some(p) = p else {
            return Err(perr("syntax error", self.node_span(parent)));
        };
        let mut out = Vec::new();
        for a in p.nodes().filter(|a| is_attr(a.kind())) {
            out.push(match self.attr_name(a)? {
                Ok(s) => AttrKey::Static(s),
                Err(e) => AttrKey::Dynamic(self.expr(e)?),
            });
        }
        Ok(out)
    }

    /// The name of a string without interpolations.
    fn literal_str_name(&self, s: N) -> Result<Sym> {
        if let Some(t) = plain_str(s) {
            return Ok(sym(t));
        }
        let Some(st) = ast::Str::cast(s.red()) else {
            return Err(perr("syntax error", self.node_span(s)));
        };
        let mut name = String::new();
        for p in st.normalized_parts() {
            if let InterpolPart::Literal(l) = p {
                name.push_str(&l)
            }
        }
        Ok(sym(&name))
    }

    /// A static name, or the expression computing a dynamic one.
    fn attr_name<'a>(&mut self, a: N<'a>) -> Result<std::result::Result<Sym, N<'a>>> {
        Ok(match a.kind() {
            NODE_IDENT => Ok(self.ident(a)),
            NODE_STRING if str_is_literal(a) => Ok(self.literal_str_name(a)?),
            NODE_STRING => Err(a),
            _ => match a.nth_expr(0) {
                // `${"name"}` with a plain string is a static name (as in
                // Nix's parser)
                Some(s) if s.kind() == NODE_STRING && str_is_literal(s) => {
                    Ok(self.literal_str_name(s)?)
                }
                Some(e) => Err(e),
                None => return Err(perr("syntax error", self.node_span(a))),
            },
        })
    }

    /// Gather the entries of a set or `let`, merging nested attribute
    /// paths (`a.b = 1; a.c = 2;`) into one tree, as Nix's parser does.
    fn collect<'a>(&mut self, node: N<'a>, rec: bool) -> Result<Pending<'a>> {
        let mut p = Pending::new(rec);
        let mut attrs: Vec<N<'a>> = Vec::new();
        for entry in node.nodes() {
            match entry.kind() {
                NODE_INHERIT => {
                    let from = entry.child(NODE_INHERIT_FROM).and_then(|f| f.nth_expr(0));
                    for a in entry.nodes().filter(|a| is_attr(a.kind())) {
                        let aspan = self.node_span(a);
                        let name = match self.attr_name(a)? {
                            Ok(n) => n,
                            Err(_) => {
                                return Err(perr(
                                    "dynamic attributes not allowed in inherit",
                                    aspan,
                                ))
                            }
                        };
                        let v = match from {
                            Some(f) => PendingVal::InheritFrom(f, name, aspan),
                            None => PendingVal::Inherit(name, aspan),
                        };
                        if let Some((_, prev)) = p.statics.get_mut(name) {
                            return Err(dup_attr(name, aspan, prev));
                        }
                        p.statics.insert(name, v, aspan);
                    }
                }
                NODE_ATTRPATH_VALUE => {
                    let aspan = self.node_span(entry);
                    let Some(path) = entry.child(NODE_ATTRPATH) else {
                        return Err(perr("syntax error", aspan));
                    };
                    let Some(value) = entry.nth_expr(0) else {
                        return Err(perr("syntax error", aspan));
                    };
                    attrs.clear();
                    attrs.extend(path.nodes().filter(|a| is_attr(a.kind())));
                    self.insert_path(&mut p, &attrs, value, aspan)?;
                }
                _ => {}
            }
        }
        Ok(p)
    }

    fn insert_path<'a>(
        &mut self,
        p: &mut Pending<'a>,
        path: &[N<'a>],
        value: N<'a>,
        span: Span,
    ) -> Result<()> {
        let Some((&first, rest)) = path.split_first() else {
            return Err(perr("syntax error", span));
        };
        let fspan = self.node_span(first);
        match self.attr_name(first)? {
            Err(dyn_expr) => {
                if rest.is_empty() {
                    p.dynamics.push((dyn_expr, PendingVal::Ast(value), fspan));
                } else {
                    let mut inner = Pending::new(false);
                    self.insert_path(&mut inner, rest, value, span)?;
                    p.dynamics
                        .push((dyn_expr, PendingVal::Nested(Box::new(inner), fspan), fspan));
                }
            }
            Ok(name) => {
                if rest.is_empty() {
                    if let Some((existing, prev)) = p.statics.get_mut(name) {
                        // `a.b = 1; a = { c = 2; };` merges when the new
                        // value is a literal set and `a` was built from paths.
                        if let PendingVal::Nested(inner, _) = existing {
                            if value.kind() == NODE_ATTR_SET && value.token(TOKEN_REC).is_none() {
                                let extra = self.collect(value, false)?;
                                merge_pending(inner, extra, name)?;
                                return Ok(());
                            }
                        }
                        return Err(dup_attr(name, fspan, prev));
                    }
                    p.statics.insert(name, PendingVal::Ast(value), fspan);
                } else {
                    match p.statics.get_mut(name) {
                        None => {
                            let mut inner = Pending::new(false);
                            self.insert_path(&mut inner, rest, value, span)?;
                            p.statics.insert(
                                name,
                                PendingVal::Nested(Box::new(inner), fspan),
                                fspan,
                            );
                        }
                        Some((existing, prev)) => match existing {
                            PendingVal::Nested(inner, _) => {
                                self.insert_path(inner, rest, value, span)?;
                            }
                            PendingVal::Ast(set) if set.kind() == NODE_ATTR_SET => {
                                let set = *set;
                                let mut inner =
                                    self.collect(set, set.token(TOKEN_REC).is_some())?;
                                self.insert_path(&mut inner, rest, value, span)?;
                                *existing = PendingVal::Nested(Box::new(inner), prev);
                            }
                            _ => return Err(dup_attr(name, fspan, prev)),
                        },
                    }
                }
            }
        }
        Ok(())
    }

    fn attrs(&mut self, p: Pending, span: Span) -> Result<Expr> {
        let rec = p.rec;
        let statics = p.statics.into_sorted();
        if rec {
            self.scopes
                .push(Scope::Static(slot_map(statics.iter().map(|(k, _, _)| k))));
        }
        let r = (|| -> Result<Expr> {
            let statics = self.bindings(statics, rec)?;
            let mut dynamics = Vec::new();
            for (name, val, dspan) in p.dynamics {
                let n = self.expr(name)?;
                let v = self.pending_val(val, false)?;
                dynamics.push((n, v, dspan));
            }
            if dynamics.is_empty() {
                if let Some(v) = constant_set(&statics) {
                    return Ok(Expr::Folded(v, span));
                }
            }
            Ok(Expr::Attrs(Box::new(AttrsDef {
                rec,
                statics,
                dynamics,
                span,
                index: Default::default(),
            })))
        })();
        if rec {
            self.scopes.pop();
        }
        r
    }

    /// Compile bindings in the current scope. Inherited names are compiled
    /// in the enclosing scope when the current one is the binding scope
    /// itself (rec/let): the evaluator evaluates them in the parent env.
    fn bindings(
        &mut self,
        statics: Vec<(Sym, PendingVal, Span)>,
        in_binding_scope: bool,
    ) -> Result<Vec<Binding>> {
        let mut out = Vec::with_capacity(statics.len());
        for (name, val, span) in statics {
            let inherited = in_binding_scope && matches!(val, PendingVal::Inherit(..));
            let value = self.pending_val(val, in_binding_scope)?;
            if let Expr::Lambda(l) = &value {
                *l.name.borrow_mut() = Some(name);
            }
            out.push(Binding {
                name,
                value,
                inherited,
                span,
            });
        }
        Ok(out)
    }

    fn pending_val(&mut self, v: PendingVal, in_binding_scope: bool) -> Result<Expr> {
        match v {
            PendingVal::Ast(e) => self.expr(e),
            PendingVal::Nested(p, span) => self.attrs(*p, span),
            PendingVal::Inherit(name, span) => {
                // `inherit x;` never refers to the binding being defined:
                // resolve in the enclosing scope if we are inside a rec/let.
                let top = if in_binding_scope {
                    self.scopes.pop()
                } else {
                    None
                };
                let r = self.resolve(name, span);
                if let Some(t) = top {
                    self.scopes.push(t);
                }
                r
            }
            PendingVal::InheritFrom(from, name, span) => {
                let e = self.expr(from)?;
                Ok(Expr::Select {
                    e: Box::new(e),
                    path: vec![AttrKey::Static(name)],
                    default: None,
                    span,
                })
            }
        }
    }

    /// A plain lambda at position `pos` of a curried chain `a: b: c: body`
    /// whose scope is on top: the whole chain binds its arguments in one
    /// frame (slot `pos` is this lambda's argument), so applying it to all
    /// of them builds one frame, not one per argument.
    fn chain_lambda(&mut self, l: N, span: Span, pos: u32) -> Result<LambdaDef> {
        let name: Sym = match l
            .nodes()
            .find(|c| matches!(c.kind(), NODE_IDENT_PARAM | NODE_PATTERN))
        {
            Some(ip) if ip.kind() == NODE_IDENT_PARAM => ip
                .child(NODE_IDENT)
                .map(|i| self.ident(i))
                .unwrap_or_else(|| sym("")),
            _ => return Err(perr("syntax error", span)),
        };
        if let Some(Scope::Static(m)) = self.scopes.last_mut() {
            // a later argument of the same name shadows an earlier one
            m.insert(key(name), pos);
        }
        let mut body_n = l.nth_expr(0);
        while let Some(p) = body_n.filter(|p| p.kind() == NODE_PAREN) {
            body_n = p.nth_expr(0);
        }
        let body = match body_n {
            Some(inner)
                if inner.kind() == NODE_LAMBDA
                    && inner
                        .nodes()
                        .find(|c| matches!(c.kind(), NODE_IDENT_PARAM | NODE_PATTERN))
                        .is_some_and(|p| p.kind() == NODE_IDENT_PARAM) =>
            {
                let ispan = self.node_span(inner);
                let d = stacker::maybe_grow(64 * 1024, 1024 * 1024, || {
                    self.chain_lambda(inner, ispan, pos + 1)
                })?;
                Expr::Lambda(Box::new(d))
            }
            Some(e) => self.expr(e)?,
            None => return Err(perr("syntax error", self.node_span(l))),
        };
        Ok(LambdaDef {
            name: Default::default(),
            arg: Some(name),
            formals: None,
            strict_arg: forces(&body, 0, pos),
            first_forced: first_forced(&body, 0),
            arith: arith_body(&body),
            int_body: int_body(&body),
            body,
            span,
            nslots: 1,
            pos,
        })
    }

    fn lambda(&mut self, l: N, span: Span) -> Result<LambdaDef> {
        let Some(param) = l
            .nodes()
            .find(|c| matches!(c.kind(), NODE_IDENT_PARAM | NODE_PATTERN))
        else {
            return Err(perr("syntax error", span));
        };
        if param.kind() == NODE_IDENT_PARAM {
            self.scopes.push(Scope::Static(FxHashMap::default()));
            let r = self.chain_lambda(l, span, 0);
            self.scopes.pop();
            let mut def = r?;
            // every lambda of the chain gets the frame size
            let n = def.chain_len();
            let mut d = &mut def;
            loop {
                d.nslots = n;
                match &mut d.body {
                    Expr::Lambda(inner) if inner.pos > 0 => d = inner,
                    _ => break,
                }
            }
            return Ok(def);
        }
        let pat = param;
        let mut names: Vec<(Sym, Option<N>, Span)> = Vec::new();
        for ent in pat.nodes().filter(|c| c.kind() == NODE_PAT_ENTRY) {
            let default = ent.nth_expr(1);
            let n: Sym = ent
                .child(NODE_IDENT)
                .map(|i| self.ident(i))
                .unwrap_or_else(|| sym(""));
            let espan = self.node_span(ent);
            if names.iter().any(|(m, _, _)| *m == n) {
                return Err(perr(
                    format!("duplicate formal function argument '{}'", n),
                    espan,
                ));
            }
            names.push((n, default, espan));
        }
        let at: Option<Sym> = pat
            .child(NODE_PAT_BIND)
            .and_then(|b| b.child(NODE_IDENT))
            .map(|i| self.ident(i));
        if let Some(a) = &at {
            if names.iter().any(|(m, _, _)| m == a) {
                return Err(perr(
                    format!("duplicate formal function argument '{}'", a),
                    span,
                ));
            }
        }
        let mut m = FxHashMap::default();
        for (i, (n, _, _)) in names.iter().enumerate() {
            m.insert(key(n), i as u32);
        }
        if let Some(a) = at {
            m.insert(key(a), names.len() as u32);
        }
        let nslots = names.len() as u32 + at.is_some() as u32;
        self.scopes.push(Scope::Static(m));
        let r = (|| -> Result<(FormalEntries, Expr)> {
            let mut entries = Vec::new();
            for (n, d, _) in names {
                let d = match d {
                    Some(d) => Some(self.expr(d)?),
                    None => None,
                };
                entries.push((n, d));
            }
            let body = self.opt(l.nth_expr(0), l)?;
            Ok((entries, body))
        })();
        self.scopes.pop();
        let (entries, body) = r?;
        Ok(LambdaDef {
            name: Default::default(),
            arg: at,
            formals: Some(Formals {
                entries,
                ellipsis: pat.token(TOKEN_ELLIPSIS).is_some(),
            }),
            body,
            span,
            nslots,
            strict_arg: false,
            first_forced: None,
            arith: None,
            int_body: false,
            pos: 0,
        })
    }
}

/// A set literal whose attributes are all plain constants (`{ v = 2; }`,
/// `{ }`): built once, here, and shared by every evaluation. It stays a
/// `Folded` expression, so a set holding it still gets a thunk (printed
/// `<CODE>` until forced), as with a fresh set. Only scalars qualify:
/// their equality is structural, so sharing the set is unobservable.
fn constant_set(statics: &[Binding]) -> Option<Value> {
    let mut entries = Vec::with_capacity(statics.len());
    for b in statics {
        match &b.value {
            Expr::Const(
                v @ (Value::Null
                | Value::Bool(_)
                | Value::Int(_)
                | Value::Float(_)
                | Value::Str(_)
                | Value::Path(_)),
            ) => entries.push((b.name, v.clone())),
            _ => return None,
        }
    }
    let positions = statics.iter().map(|b| (b.name, b.span)).collect();
    let mut a = crate::value::Attrs::from_sorted(entries);
    a.positions = Some(crate::value::Positions::Table(Rc::new(positions)));
    Some(Value::attrs(a))
}

/// Slot numbers of a binding scope: the names in order.
/// Whether evaluating `e` to weak head normal form (without error)
/// always forces the variable at (`depth`, `idx`). Conservative: `false`
/// when unsure.
fn forces(e: &Expr, depth: u32, idx: u32) -> bool {
    match e {
        Expr::Var {
            depth: d, idx: i, ..
        } => *d == depth && *i == idx,
        Expr::If {
            cond, then, else_, ..
        } => forces(cond, depth, idx) || (forces(then, depth, idx) && forces(else_, depth, idx)),
        Expr::Assert { cond, body, .. } => forces(cond, depth, idx) || forces(body, depth, idx),
        Expr::BinOp { op, l, r, .. } => match op {
            BinOp::And | BinOp::Or | BinOp::Impl => forces(l, depth, idx),
            BinOp::PipeRight | BinOp::PipeLeft => false,
            _ => forces(l, depth, idx) || forces(r, depth, idx),
        },
        Expr::Not(x, _) | Expr::Neg(x, _) => forces(x, depth, idx),
        Expr::Apply { f, .. } | Expr::Call { f, .. } => forces(f, depth, idx),
        Expr::Select { e, .. } | Expr::HasAttr { e, .. } => forces(e, depth, idx),
        Expr::Let { body, .. } | Expr::With { body, .. } => forces(body, depth + 1, idx),
        // `bitAnd x 255` in place forces both arguments
        Expr::PrimCall {
            args,
            int_op: Some(_),
            ..
        } => args.iter().any(|a| forces(a, depth, idx)),
        _ => false,
    }
}

/// The variable of the frame at `depth` (its slot and position) that
/// evaluating `e` forces as the first thing it does (before evaluating
/// anything else or building any value), following the evaluator's order:
/// an operator's left operand, a condition, a selection's base, an
/// application's function, a `let`'s body. `None` when unsure.
fn first_forced(e: &Expr, depth: u32) -> Option<(u32, Span)> {
    match e {
        Expr::Var {
            depth: d,
            idx,
            span,
        } => (*d == depth).then_some((*idx, *span)),
        Expr::BinOp { op, l, .. } => match op {
            BinOp::PipeRight | BinOp::PipeLeft => None,
            _ => first_forced(l, depth),
        },
        Expr::If { cond, .. } | Expr::Assert { cond, .. } => first_forced(cond, depth),
        Expr::Not(x, _) | Expr::Neg(x, _) => first_forced(x, depth),
        Expr::Apply { f, .. } | Expr::Call { f, .. } => first_forced(f, depth),
        Expr::Select { e, .. } | Expr::HasAttr { e, .. } => first_forced(e, depth),
        Expr::PrimCall {
            args,
            int_op: Some(_),
            ..
        } => first_forced(&args[0], depth),
        Expr::Let { body, .. } => first_forced(body, depth + 1),
        _ => None,
    }
}

/// See `LambdaDef::arith`.
/// Whether `e` is an `int_body`: the top is an operator that forces its
/// operands (so an `if` below it returns nothing unforced).
fn int_body(e: &Expr) -> bool {
    match e {
        Expr::BinOp { op, l, r, .. } => int_binop(*op) && int_operand(l) && int_operand(r),
        Expr::PrimCall {
            args,
            int_op: Some(_),
            ..
        } => args.len() == 2 && args.iter().all(int_operand),
        _ => false,
    }
}

/// The operators `fast_val` computes: both operands always evaluated,
/// left first (no `&&`/`||`, which may skip the right one).
pub(crate) fn int_binop(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Add
            | BinOp::Sub
            | BinOp::Mul
            | BinOp::Div
            | BinOp::Less
            | BinOp::LessEq
            | BinOp::More
            | BinOp::MoreEq
            | BinOp::Eq
            | BinOp::NotEq
    )
}

fn int_operand(e: &Expr) -> bool {
    match e {
        Expr::Var { .. } | Expr::Const(Value::Int(_)) => true,
        Expr::If {
            cond, then, else_, ..
        } => int_operand(cond) && int_operand(then) && int_operand(else_),
        _ => int_body(e),
    }
}

fn arith_body(e: &Expr) -> Option<Box<ArithBody>> {
    let (tree, applied) = match e {
        Expr::Apply { f, arg, span } => match &**f {
            Expr::Var { depth, idx, .. } => (&**arg, Some((*depth, *idx, *span))),
            _ => return None,
        },
        e => (e, None),
    };
    // only operators are worth it (a variable or constant body has its
    // own fast paths)
    if !matches!(
        tree,
        Expr::BinOp { .. }
            | Expr::PrimCall {
                int_op: Some(_),
                ..
            }
    ) {
        return None;
    }
    let mut code = Vec::new();
    arith_code(tree, &mut code, 0)?;
    let code = fuse_arith(&code);
    Some(Box::new(ArithBody {
        code: code.into_boxed_slice(),
        applied,
    }))
}

/// Fuse the common sequences `x +` and `x c * +` (a variable, or a
/// variable times a constant, added to what is below) into one step each:
/// the same operations in the same order, fewer dispatches.
fn fuse_arith(code: &[AOp]) -> Vec<AOp> {
    let mut out = Vec::with_capacity(code.len());
    let mut i = 0;
    while i < code.len() {
        match code[i..] {
            [AOp::Var { depth, idx, span }, AOp::Int(c), AOp::Mul, AOp::Add, ..] => {
                out.push(AOp::AddMulVar {
                    depth,
                    idx,
                    span,
                    c,
                });
                i += 4;
            }
            [AOp::Var { depth, idx, span }, AOp::Add, ..] => {
                out.push(AOp::AddVar { depth, idx, span });
                i += 2;
            }
            _ => {
                out.push(code[i]);
                i += 1;
            }
        }
    }
    out
}

/// Append `e` as postfix code; `None` if it is not integer arithmetic on
/// variables and constants or needs more than `ARITH_STACK` entries
/// (`sp`: the stack height before it).
fn arith_code(e: &Expr, code: &mut Vec<AOp>, sp: usize) -> Option<()> {
    if sp >= ARITH_STACK || code.len() >= 64 {
        return None;
    }
    match e {
        Expr::Var { depth, idx, span } => code.push(AOp::Var {
            depth: *depth,
            idx: *idx,
            span: *span,
        }),
        Expr::Const(Value::Int(i)) => code.push(AOp::Int(*i)),
        Expr::BinOp { op, l, r, .. }
            if matches!(op, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div) =>
        {
            arith_code(l, code, sp)?;
            arith_code(r, code, sp + 1)?;
            code.push(match op {
                BinOp::Add => AOp::Add,
                BinOp::Sub => AOp::Sub,
                BinOp::Mul => AOp::Mul,
                _ => AOp::Div,
            });
        }
        Expr::PrimCall {
            int_op: Some(f),
            args,
            ..
        } if args.len() == 2 => {
            arith_code(&args[0], code, sp)?;
            arith_code(&args[1], code, sp + 1)?;
            code.push(AOp::Prim(*f));
        }
        _ => return None,
    }
    Some(())
}

/// Applications are compiled bottom-up (`f a b c` is `((f a) b) c`): gather
/// the spine of two or more arguments into one `Expr::Call` (extending a
/// `Call` already built for its head, so `h a b c d` is one call of four
/// arguments, not two calls of two), and turn a saturated application
/// of a compile-time-known primop into `Expr::PrimCall`. A single
/// application is returned unchanged.
fn prim_call(e: Expr) -> Expr {
    let Expr::Apply { f, arg, span } = e else {
        return e;
    };
    let (head, mut args) = match *f {
        Expr::Call { f, args, .. } => (f, args),
        Expr::Apply {
            f: g,
            arg: a,
            span: s,
        } => (g, vec![(*a, s)]),
        f => {
            return Expr::Apply {
                f: Box::new(f),
                arg,
                span,
            }
        }
    };
    args.push((*arg, span));
    let op = match &*head {
        Expr::Folded(Value::PrimOp(op), _) if op.arity == args.len() => op.clone(),
        _ => {
            return Expr::Call {
                f: head,
                args,
                span,
            }
        }
    };
    let int_op: Option<fn(i64, i64) -> i64> = match op.name {
        "bitAnd" => Some(|x, y| x & y),
        "bitOr" => Some(|x, y| x | y),
        "bitXor" => Some(|x, y| x ^ y),
        _ => None,
    };
    Expr::PrimCall {
        op,
        args: args.into_iter().map(|(a, _)| a).collect(),
        span,
        int_op,
    }
}

fn slot_map<'a>(names: impl Iterator<Item = &'a Sym>) -> FxHashMap<usize, u32> {
    names.enumerate().map(|(i, k)| (key(k), i as u32)).collect()
}

fn merge_pending<'a>(into: &mut Pending<'a>, extra: Pending<'a>, outer: &str) -> Result<()> {
    for (k, v, s) in extra.statics.into_sorted() {
        if let Some((_, prev)) = into.statics.get_mut(k) {
            return Err(dup_attr(&format!("{}.{}", outer, k), s, prev));
        }
        into.statics.insert(k, v, s);
    }
    into.dynamics.extend(extra.dynamics);
    Ok(())
}

fn dup_attr(name: &str, span: Span, prev: Span) -> Box<EvalError> {
    let mut e = perr(
        format!(
            "attribute '{}' already defined at {}",
            name,
            prev.location()
        ),
        span,
    );
    e.hint = Some(format!("first definition at {}", prev.location()));
    e
}

/// Parse `text` as Nix and compile it. `name` is used in error locations.
pub fn parse_and_compile(
    text: Rc<str>,
    name: String,
    dir: &str,
    globals: &Globals,
    root_scope: Option<&[Sym]>,
) -> Result<&'static Expr> {
    let file = crate::error::add_source(name, text.clone());
    let parse = rnix::Root::parse(&text);
    let compiled = (|| {
        if let Some(e) = parse.errors().first() {
            return Err(parse_error(e, file, text.len()));
        }
        let root = parse.syntax();
        let mut c = Compiler::new(file, dir, globals);
        if let Some(names) = root_scope {
            c = c.with_root_scope(names);
        }
        let e = c.compile_root(N {
            g: root.green(),
            off: 0,
        })?;
        Ok(&*Box::leak(Box::new(e)))
    })();
    drop_syntax_tree(parse, text.len());
    compiled
}

/// Free a parse tree on a stack with room for its depth. rowan frees a
/// tree recursively, one native frame per level, and left-associative
/// chains (`1 + 1 + …`, `f a a …`) nest one level per term without the
/// parser recursing: a 200,000-term chain aborted the process here. A
/// level needs at least two bytes of source and well under 128 bytes of
/// stack, so `len * 64` bytes always suffice; the extra stack is only
/// mapped when the current one has less than that left, and only the
/// depth actually reached is touched.
fn drop_syntax_tree(parse: rnix::Parse<rnix::Root>, len: usize) {
    let need = len.saturating_mul(64).max(64 * 1024);
    stacker::maybe_grow(need, need + 64 * 1024, move || drop(parse));
}

fn kind_name(k: &SyntaxKind) -> String {
    let s = format!("{:?}", k);
    s.trim_start_matches("TOKEN_")
        .trim_start_matches("NODE_")
        .to_lowercase()
        .replace('_', " ")
}

fn parse_error(e: &rnix::ParseError, file: FileId, len: usize) -> Box<EvalError> {
    use rnix::ParseError as P;
    let sp = |r: rnix::TextRange| Span {
        file,
        start: r.start().into(),
        end: r.end().into(),
    };
    let eof = Span {
        file,
        start: len as u32,
        end: len as u32,
    };
    let (msg, span) = match e {
        P::Unexpected(r) => ("syntax error, unexpected input".to_string(), sp(*r)),
        P::UnexpectedExtra(r) => ("syntax error, unexpected extra input".to_string(), sp(*r)),
        P::UnexpectedWanted(got, r, wanted) => (
            format!(
                "syntax error, unexpected {}, expected {}",
                kind_name(got),
                wanted
                    .iter()
                    .map(kind_name)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            sp(*r),
        ),
        P::UnexpectedDoubleBind(r) => ("syntax error, double @-binding".to_string(), sp(*r)),
        P::UnexpectedEOF => ("syntax error, unexpected end of file".to_string(), eof),
        P::UnexpectedEOFWanted(w) => (
            format!(
                "syntax error, unexpected end of file, expected {}",
                w.iter().map(kind_name).collect::<Vec<_>>().join(" or ")
            ),
            eof,
        ),
        P::DuplicatedArgs(r, n) => (
            format!("duplicate formal function argument '{}'", n),
            sp(*r),
        ),
        P::RecursionLimitExceeded => (
            "syntax error, expression nested too deeply".to_string(),
            eof,
        ),
        _ => ("syntax error".to_string(), eof),
    };
    EvalError::new(ErrorKind::Parse, msg, Some(span))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sorting by (prefix, name) gives the names' byte order, including
    /// names with NUL bytes, shared eight-byte prefixes and non-ASCII.
    #[test]
    fn prefix_order_is_name_order() {
        let mut names: Vec<String> = vec![
            "".into(),
            "a".into(),
            "a\0".into(),
            "a\0\0".into(),
            "a\u{1}".into(),
            "abcdefgh".into(),
            "abcdefgh\0".into(),
            "abcdefghi".into(),
            "abcdefgg".into(),
            "\u{e9}t\u{e9}".into(),
            "Z".into(),
        ];
        for i in 0..300 {
            names.push(format!("a{}", i * 7 % 1000));
            names.push(format!("service-number-{}", i));
        }
        let mut by_prefix: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        by_prefix.sort_by_cached_key(|s| (name_prefix(s), *s));
        let mut plain = by_prefix.clone();
        plain.sort();
        assert_eq!(by_prefix, plain);
    }
}
