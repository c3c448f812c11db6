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

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use rnix::ast::AstNode;
use rnix::ast::{self, AstToken, HasEntry, InterpolPart};
use rnix::SyntaxKind;
use rowan::ast::AstNode as _;

use crate::error::{ErrorKind, EvalError, FileId, Result, Span};
use crate::value::{sym, Sym, Value};

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
}

impl LambdaDef {
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
    Static(HashMap<Sym, u32>),
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

enum PendingVal {
    Ast(ast::Expr),
    Nested(Box<Pending>, Span),
    Inherit(Sym, Span),
    InheritFrom(ast::Expr, Sym, Span),
}

struct Pending {
    rec: bool,
    statics: BTreeMap<Sym, (PendingVal, Span)>,
    dynamics: Vec<(ast::Expr, PendingVal, Span)>,
}

impl<'g> Compiler<'g> {
    pub fn new(file: FileId, dir: &str, globals: &'g Globals) -> Compiler<'g> {
        Compiler {
            scopes: Vec::new(),
            file,
            dir: dir.into(),
            globals,
        }
    }

    /// Start with an extra static scope (used by `scopedImport`), whose
    /// values the caller puts into the root environment, in this order.
    pub fn with_root_scope(mut self, names: &[Sym]) -> Self {
        self.scopes.push(Scope::Static(slot_map(names.iter())));
        self
    }

    fn span(&self, r: rnix::TextRange) -> Span {
        Span {
            file: self.file,
            start: r.start().into(),
            end: r.end().into(),
        }
    }

    fn node_span(&self, n: &impl AstNode) -> Span {
        self.span(n.syntax().text_range())
    }

    pub fn compile_root(&mut self, root: &ast::Root) -> Result<Expr> {
        match root.expr() {
            Some(e) => self.expr(e),
            None => Err(perr(
                "syntax error, unexpected end of file",
                self.span(root.syntax().text_range()),
            )),
        }
    }

    fn resolve(&self, name: &str, span: Span) -> Result<Expr> {
        let mut withs = Vec::new();
        for (depth, scope) in self.scopes.iter().rev().enumerate() {
            match scope {
                Scope::Static(m) => {
                    if let Some(&idx) = m.get(name) {
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
            name: sym(name),
            withs: withs.into_boxed_slice(),
            span,
        })
    }

    fn bx(&mut self, e: Option<ast::Expr>, parent: &impl AstNode) -> Result<Box<Expr>> {
        Ok(Box::new(self.opt(e, parent)?))
    }

    fn opt(&mut self, e: Option<ast::Expr>, parent: &impl AstNode) -> Result<Expr> {
        match e {
            Some(e) => self.expr(e),
            None => Err(perr("syntax error", self.node_span(parent))),
        }
    }

    pub fn expr(&mut self, e: ast::Expr) -> Result<Expr> {
        // Deeply nested source (e.g. long `++` chains) must not blow the
        // native stack while lowering.
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.expr_inner(e))
    }

    fn expr_inner(&mut self, e: ast::Expr) -> Result<Expr> {
        let span = self.node_span(&e);
        Ok(match e {
            ast::Expr::Paren(p) => return self.opt(p.expr(), &p),
            ast::Expr::Root(r) => return self.opt(r.expr(), &r),
            ast::Expr::Error(_) => return Err(perr("syntax error", span)),
            ast::Expr::Literal(l) => match l.kind() {
                ast::LiteralKind::Integer(i) => match i.value() {
                    Ok(v) => Expr::Const(Value::Int(v)),
                    Err(_) => {
                        return Err(perr(
                            format!("invalid integer '{}'", i.syntax().text()),
                            span,
                        ))
                    }
                },
                ast::LiteralKind::Float(f) => match f.value() {
                    Ok(v) if v.is_finite() => Expr::Const(Value::Float(v)),
                    _ => return Err(perr(format!("invalid float '{}'", f.syntax().text()), span)),
                },
                ast::LiteralKind::Uri(u) => Expr::Const(Value::str(u.syntax().text())),
            },
            ast::Expr::Ident(id) => {
                let name = ident_sym(&id);
                self.resolve(name, span)?
            }
            ast::Expr::Str(s) => {
                let parts = self.str_parts(&s)?;
                match parts.as_slice() {
                    [] => Expr::Const(Value::str("")),
                    [StrPart::Lit(l)] => Expr::Const(Value::str(&**l)),
                    _ => Expr::Str { parts, span },
                }
            }
            ast::Expr::PathAbs(_)
            | ast::Expr::PathRel(_)
            | ast::Expr::PathHome(_)
            | ast::Expr::PathSearch(_) => self.path(e, span)?,
            ast::Expr::List(l) => {
                let mut items = Vec::new();
                for it in l.items() {
                    items.push(self.expr(it)?);
                }
                Expr::List(items)
            }
            ast::Expr::AttrSet(a) => {
                let rec = a.rec_token().is_some();
                let p = self.collect(&a, rec)?;
                self.attrs(p, span)?
            }
            ast::Expr::LegacyLet(l) => {
                // `let { …; body = e; }` is `(rec { … }).body`
                let p = self.collect(&l, true)?;
                let a = self.attrs(p, span)?;
                Expr::Select {
                    e: Box::new(a),
                    path: vec![AttrKey::Static("body")],
                    default: None,
                    span,
                }
            }
            ast::Expr::LetIn(l) => {
                let p = self.collect(&l, true)?;
                if let Some((_, _, s)) = p.dynamics.first() {
                    return Err(perr("dynamic attributes not allowed in let", *s));
                }
                self.scopes.push(Scope::Static(slot_map(p.statics.keys())));
                let binds = self.bindings(p.statics, true);
                let body = binds.and_then(|b| Ok((b, self.bx(l.body(), &l)?)));
                self.scopes.pop();
                let (binds, body) = body?;
                Expr::Let { binds, body }
            }
            ast::Expr::Select(s) => {
                let e = self.bx(s.expr(), &s)?;
                let path = self.attrpath(s.attrpath(), &s)?;
                // `builtins.foo` is a constant: resolve it now.
                if let (Expr::Const(Value::Attrs(a)), [AttrKey::Static(k)]) = (&*e, path.as_slice())
                {
                    if let Some(v) = a.get(k) {
                        if !matches!(v, Value::Thunk(_)) {
                            return Ok(Expr::Folded(v.clone(), span));
                        }
                    }
                }
                let default = match s.default_expr() {
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
            ast::Expr::HasAttr(h) => {
                let e = self.bx(h.expr(), &h)?;
                let path = self.attrpath(h.attrpath(), &h)?;
                Expr::HasAttr { e, path, span }
            }
            ast::Expr::Lambda(l) => Expr::Lambda(Box::new(self.lambda(&l, span)?)),
            ast::Expr::Apply(a) => {
                let f = self.bx(a.lambda(), &a)?;
                let arg = self.bx(a.argument(), &a)?;
                prim_call(Expr::Apply { f, arg, span })
            }
            ast::Expr::With(w) => {
                let ns = self.bx(w.namespace(), &w)?;
                self.scopes.push(Scope::With);
                let body = self.bx(w.body(), &w);
                self.scopes.pop();
                Expr::With {
                    ns,
                    body: body?,
                    span,
                }
            }
            ast::Expr::IfElse(i) => Expr::If {
                cond: self.bx(i.condition(), &i)?,
                then: self.bx(i.body(), &i)?,
                else_: self.bx(i.else_body(), &i)?,
                span,
            },
            ast::Expr::Assert(a) => {
                let text = a
                    .condition()
                    .map(|c| c.syntax().text().to_string())
                    .unwrap_or_default();
                let cspan = a.condition().map(|c| self.node_span(&c)).unwrap_or(span);
                Expr::Assert {
                    cond: self.bx(a.condition(), &a)?,
                    body: self.bx(a.body(), &a)?,
                    text,
                    span: cspan,
                }
            }
            ast::Expr::UnaryOp(u) => {
                let inner = self.bx(u.expr(), &u)?;
                match u.operator() {
                    Some(ast::UnaryOpKind::Invert) => Expr::Not(inner, span),
                    Some(ast::UnaryOpKind::Negate) => Expr::Neg(inner, span),
                    None => return Err(perr("syntax error", span)),
                }
            }
            ast::Expr::BinOp(b) => {
                let op = match b.operator() {
                    Some(op) => op,
                    None => return Err(perr("syntax error", span)),
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
                let op_span = b
                    .syntax()
                    .children_with_tokens()
                    .find(|t| ast::BinOpKind::from_kind(t.kind()).is_some())
                    .map(|t| self.span(t.text_range()))
                    .unwrap_or(span);
                Expr::BinOp {
                    op,
                    l: self.bx(b.lhs(), &b)?,
                    r: self.bx(b.rhs(), &b)?,
                    span: op_span,
                }
            }
            ast::Expr::CurPos(_) => Expr::CurPos(span),
        })
    }

    fn str_parts(&mut self, s: &ast::Str) -> Result<Vec<StrPart>> {
        let mut parts = Vec::new();
        for p in s.normalized_parts() {
            match p {
                InterpolPart::Literal(l) => {
                    if !l.is_empty() {
                        parts.push(StrPart::Lit(l.into()))
                    }
                }
                InterpolPart::Interpolation(i) => {
                    let e = self.opt(i.expr(), &i)?;
                    parts.push(StrPart::Expr(e));
                }
            }
        }
        Ok(parts)
    }

    fn path(&mut self, e: ast::Expr, span: Span) -> Result<Expr> {
        let (parts, kind) = match &e {
            ast::Expr::PathAbs(p) => (p.parts(), 'a'),
            ast::Expr::PathRel(p) => (p.parts(), 'r'),
            ast::Expr::PathHome(p) => (p.parts(), 'h'),
            ast::Expr::PathSearch(p) => {
                let text = p.syntax().text().to_string();
                let inner = text
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string();
                // `<x>` is `__findFile __nixPath "x"`, resolved like any
                // variable so that a user's binding can override it.
                let find = self.resolve("__findFile", span)?;
                let np = self.resolve("__nixPath", span)?;
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
            _ => unreachable!("path() called on a non-path"),
        };
        let mut out: Vec<StrPart> = Vec::new();
        for (i, p) in parts.into_iter().enumerate() {
            match p {
                InterpolPart::Literal(l) => {
                    let mut t = l.text().to_string();
                    if i == 0 && kind == 'h' {
                        let home = std::env::var("HOME").unwrap_or_default();
                        t = format!("{}{}", home, &t[1..]);
                    }
                    out.push(StrPart::Lit(t.into()))
                }
                InterpolPart::Interpolation(ip) => {
                    let e = self.opt(ip.expr(), &ip)?;
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

    fn attrpath(
        &mut self,
        p: Option<ast::Attrpath>,
        parent: &impl AstNode,
    ) -> Result<Vec<AttrKey>> {
        let Some(p) = p else {
            return Err(perr("syntax error", self.node_span(parent)));
        };
        let mut out = Vec::new();
        for a in p.attrs() {
            out.push(match self.attr_name(&a)? {
                Ok(s) => AttrKey::Static(s),
                Err(e) => AttrKey::Dynamic(self.expr(e)?),
            });
        }
        Ok(out)
    }

    /// A static name, or the expression computing a dynamic one.
    fn attr_name(&mut self, a: &ast::Attr) -> Result<std::result::Result<Sym, ast::Expr>> {
        Ok(match a {
            ast::Attr::Ident(i) => Ok(ident_sym(i)),
            ast::Attr::Str(s) => {
                let parts = s.normalized_parts();
                if parts.iter().all(|p| matches!(p, InterpolPart::Literal(_))) {
                    let mut name = String::new();
                    for p in parts {
                        if let InterpolPart::Literal(l) = p {
                            name.push_str(&l)
                        }
                    }
                    Ok(sym(&name))
                } else {
                    Err(ast::Expr::Str(s.clone()))
                }
            }
            ast::Attr::Dynamic(d) => match d.expr() {
                // `${"name"}` with a plain string is a static name (as in
                // Nix's parser)
                Some(ast::Expr::Str(s))
                    if s.normalized_parts()
                        .iter()
                        .all(|p| matches!(p, InterpolPart::Literal(_))) =>
                {
                    let mut name = String::new();
                    for p in s.normalized_parts() {
                        if let InterpolPart::Literal(l) = p {
                            name.push_str(&l)
                        }
                    }
                    Ok(sym(&name))
                }
                Some(e) => Err(e),
                None => return Err(perr("syntax error", self.node_span(d))),
            },
        })
    }

    /// Gather the entries of a set or `let`, merging nested attribute
    /// paths (`a.b = 1; a.c = 2;`) into one tree, as Nix's parser does.
    fn collect(&mut self, node: &impl HasEntry, rec: bool) -> Result<Pending> {
        let mut p = Pending {
            rec,
            statics: BTreeMap::new(),
            dynamics: Vec::new(),
        };
        for entry in node.entries() {
            match entry {
                ast::Entry::Inherit(inh) => {
                    let from = inh.from().and_then(|f| f.expr());
                    for a in inh.attrs() {
                        let aspan = self.node_span(&a);
                        let name = match self.attr_name(&a)? {
                            Ok(n) => n,
                            Err(_) => {
                                return Err(perr(
                                    "dynamic attributes not allowed in inherit",
                                    aspan,
                                ))
                            }
                        };
                        let v = match &from {
                            Some(f) => PendingVal::InheritFrom(f.clone(), name, aspan),
                            None => PendingVal::Inherit(name, aspan),
                        };
                        if let Some((_, prev)) = p.statics.get(&name) {
                            return Err(dup_attr(name, aspan, *prev));
                        }
                        p.statics.insert(name, (v, aspan));
                    }
                }
                ast::Entry::AttrpathValue(apv) => {
                    let aspan = self.node_span(&apv);
                    let Some(path) = apv.attrpath() else {
                        return Err(perr("syntax error", aspan));
                    };
                    let Some(value) = apv.value() else {
                        return Err(perr("syntax error", aspan));
                    };
                    let attrs: Vec<ast::Attr> = path.attrs().collect();
                    self.insert_path(&mut p, &attrs, value, aspan)?;
                }
            }
        }
        Ok(p)
    }

    fn insert_path(
        &mut self,
        p: &mut Pending,
        path: &[ast::Attr],
        value: ast::Expr,
        span: Span,
    ) -> Result<()> {
        let Some((first, rest)) = path.split_first() else {
            return Err(perr("syntax error", span));
        };
        let fspan = self.node_span(first);
        match self.attr_name(first)? {
            Err(dyn_expr) => {
                if rest.is_empty() {
                    p.dynamics.push((dyn_expr, PendingVal::Ast(value), fspan));
                } else {
                    let mut inner = Pending {
                        rec: false,
                        statics: BTreeMap::new(),
                        dynamics: Vec::new(),
                    };
                    self.insert_path(&mut inner, rest, value, span)?;
                    p.dynamics
                        .push((dyn_expr, PendingVal::Nested(Box::new(inner), fspan), fspan));
                }
            }
            Ok(name) => {
                if rest.is_empty() {
                    if let Some((existing, prev)) = p.statics.get_mut(&name) {
                        // `a.b = 1; a = { c = 2; };` merges when the new
                        // value is a literal set and `a` was built from paths.
                        if let (PendingVal::Nested(inner, _), ast::Expr::AttrSet(set)) =
                            (&mut *existing, &value)
                        {
                            if set.rec_token().is_none() {
                                let extra = self.collect(set, false)?;
                                merge_pending(inner, extra, name)?;
                                return Ok(());
                            }
                        }
                        return Err(dup_attr(name, fspan, *prev));
                    }
                    p.statics.insert(name, (PendingVal::Ast(value), fspan));
                } else {
                    let entry = p.statics.get_mut(&name);
                    match entry {
                        None => {
                            let mut inner = Pending {
                                rec: false,
                                statics: BTreeMap::new(),
                                dynamics: Vec::new(),
                            };
                            self.insert_path(&mut inner, rest, value, span)?;
                            p.statics
                                .insert(name, (PendingVal::Nested(Box::new(inner), fspan), fspan));
                        }
                        Some((existing, prev)) => {
                            let prev = *prev;
                            match existing {
                                PendingVal::Nested(inner, _) => {
                                    self.insert_path(inner, rest, value, span)?;
                                }
                                PendingVal::Ast(ast::Expr::AttrSet(set)) => {
                                    let set = set.clone();
                                    let mut inner =
                                        self.collect(&set, set.rec_token().is_some())?;
                                    self.insert_path(&mut inner, rest, value, span)?;
                                    *existing = PendingVal::Nested(Box::new(inner), prev);
                                }
                                _ => return Err(dup_attr(name, fspan, prev)),
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn attrs(&mut self, p: Pending, span: Span) -> Result<Expr> {
        let rec = p.rec;
        if rec {
            self.scopes.push(Scope::Static(slot_map(p.statics.keys())));
        }
        let r = (|| -> Result<Expr> {
            let statics = self.bindings(p.statics, rec)?;
            let mut dynamics = Vec::new();
            for (name, val, dspan) in p.dynamics {
                let n = self.expr(name)?;
                let v = self.pending_val(val, false)?;
                dynamics.push((n, v, dspan));
            }
            Ok(Expr::Attrs(Box::new(AttrsDef {
                rec,
                statics,
                dynamics,
                span,
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
        statics: BTreeMap<Sym, (PendingVal, Span)>,
        in_binding_scope: bool,
    ) -> Result<Vec<Binding>> {
        let mut out = Vec::with_capacity(statics.len());
        for (name, (val, span)) in statics {
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
    fn chain_lambda(&mut self, l: &ast::Lambda, span: Span, pos: u32) -> Result<LambdaDef> {
        let name: Sym = match l.param() {
            Some(ast::Param::IdentParam(ip)) => {
                ip.ident().map(|i| ident_sym(&i)).unwrap_or_else(|| sym(""))
            }
            _ => return Err(perr("syntax error", span)),
        };
        if let Some(Scope::Static(m)) = self.scopes.last_mut() {
            // a later argument of the same name shadows an earlier one
            m.insert(name, pos);
        }
        let mut body_ast = l.body();
        while let Some(ast::Expr::Paren(p)) = &body_ast {
            body_ast = p.expr();
        }
        let body = match body_ast {
            Some(ast::Expr::Lambda(inner))
                if matches!(inner.param(), Some(ast::Param::IdentParam(_))) =>
            {
                let ispan = self.node_span(&inner);
                let d = stacker::maybe_grow(64 * 1024, 1024 * 1024, || {
                    self.chain_lambda(&inner, ispan, pos + 1)
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
            body,
            span,
            nslots: 1,
            pos,
        })
    }

    fn lambda(&mut self, l: &ast::Lambda, span: Span) -> Result<LambdaDef> {
        let Some(param) = l.param() else {
            return Err(perr("syntax error", span));
        };
        match param {
            ast::Param::IdentParam(_) => {
                self.scopes.push(Scope::Static(HashMap::new()));
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
                Ok(def)
            }
            ast::Param::Pattern(pat) => {
                let mut names: Vec<(Sym, Option<ast::Expr>, Span)> = Vec::new();
                for ent in pat.pat_entries() {
                    let n: Sym = ent
                        .ident()
                        .map(|i| ident_sym(&i))
                        .unwrap_or_else(|| sym(""));
                    let espan = self.node_span(&ent);
                    if names.iter().any(|(m, _, _)| *m == n) {
                        return Err(perr(
                            format!("duplicate formal function argument '{}'", n),
                            espan,
                        ));
                    }
                    names.push((n, ent.default(), espan));
                }
                let at: Option<Sym> = pat
                    .pat_bind()
                    .and_then(|b| b.ident())
                    .map(|i| ident_sym(&i));
                if let Some(a) = &at {
                    if names.iter().any(|(m, _, _)| m == a) {
                        return Err(perr(
                            format!("duplicate formal function argument '{}'", a),
                            span,
                        ));
                    }
                }
                let mut m = HashMap::new();
                for (i, (n, _, _)) in names.iter().enumerate() {
                    m.insert(*n, i as u32);
                }
                if let Some(a) = &at {
                    m.insert(*a, names.len() as u32);
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
                    let body = self.opt(l.body(), l)?;
                    Ok((entries, body))
                })();
                self.scopes.pop();
                let (entries, body) = r?;
                Ok(LambdaDef {
                    name: Default::default(),
                    arg: at,
                    formals: Some(Formals {
                        entries,
                        ellipsis: pat.ellipsis_token().is_some(),
                    }),
                    body,
                    span,
                    nslots,
                    strict_arg: false,
                    pos: 0,
                })
            }
        }
    }
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
        _ => false,
    }
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

fn slot_map<'a>(names: impl Iterator<Item = &'a Sym>) -> HashMap<Sym, u32> {
    names.enumerate().map(|(i, k)| (*k, i as u32)).collect()
}

fn merge_pending(into: &mut Pending, extra: Pending, outer: &str) -> Result<()> {
    for (k, (v, s)) in extra.statics {
        if let Some((_, prev)) = into.statics.get(&k) {
            return Err(dup_attr(&format!("{}.{}", outer, k), s, *prev));
        }
        into.statics.insert(k, (v, s));
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

/// An identifier's name, interned. Read from its token: formatting the
/// node's `SyntaxText` went through `fmt` and cost a tenth of compiling.
fn ident_sym(i: &ast::Ident) -> Sym {
    match i.ident_token() {
        Some(t) => sym(t.text()),
        None => sym(&i.syntax().text().to_string()),
    }
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
    if let Some(e) = parse.errors().first() {
        return Err(parse_error(e, file, text.len()));
    }
    let root = parse.tree();
    let mut c = Compiler::new(file, dir, globals);
    if let Some(names) = root_scope {
        c = c.with_root_scope(names);
    }
    let e = c.compile_root(&root)?;
    Ok(Box::leak(Box::new(e)))
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
