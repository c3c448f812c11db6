//! The interpreter: evaluation of compiled IR to weak head normal form,
//! forcing of thunks, function application, operators and coercions.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::rc::Rc;

use crate::compile::{self, AttrKey, AttrsDef, BinOp, Binding, Expr, Globals, LambdaDef, StrPart};
use crate::error::{err, type_err, AddContext, ErrorKind, EvalError, Result, Span};
use crate::value::*;

/// How deep evaluation may nest before we call it a runaway recursion.
/// The native stack grows on the heap (`stacker`), so this bounds memory,
/// not the thread's stack.
pub const MAX_DEPTH: usize = 200_000;

/// Settings that change what an evaluation may see.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Pure mode (the default): no `getEnv`, no `currentTime`, …
    pub pure: bool,
    /// `-I` entries and `NIX_PATH`, as (prefix, path) pairs.
    pub search_path: Vec<(String, String)>,
    /// Where store paths live (used for path computation).
    pub store_dir: String,
    pub system: String,
    /// Restricted evaluation (flakes): when set, files may only be read
    /// or copied from under these directories; everything else fails
    /// like Nix's "access to absolute path … is forbidden".
    pub allowed_paths: Option<Vec<String>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            pure: true,
            search_path: Vec::new(),
            store_dir: "/nix/store".into(),
            system: "x86_64-linux".into(),
            allowed_paths: None,
        }
    }
}

/// Receives `builtins.trace` output and warnings.
pub type TraceHook = Box<dyn FnMut(&str)>;

pub struct Eval {
    pub settings: Settings,
    pub globals: Globals,
    /// Imported files by path bytes: hashing a `Path` walks its
    /// components (~900 instructions for a module's path), and the paths
    /// imported are canonical already (a spelling that differs only
    /// misses the cache and parses again, with the same result).
    pub(crate) import_cache: rustc_hash::FxHashMap<std::ffi::OsString, Value>,
    depth: usize,
    /// Derivations instantiated so far: drvPath -> ATerm text.
    pub drvs: HashMap<String, crate::store::DrvRecord>,
    /// Modulo hashes of those derivations, for hashing dependents.
    pub(crate) drv_hashes: ox_store::DrvHashCache,
    /// Source paths already hashed: (path, name, recursive) -> store path.
    pub(crate) path_cache: HashMap<String, String>,
    /// Files written by `toFile` / copied paths: store path -> source.
    pub store_writes: HashMap<String, crate::StoreObject>,
    /// Messages from `builtins.trace`/warnings (printed to stderr).
    pub trace_hook: Option<TraceHook>,
    pub(crate) regex_cache: HashMap<String, regex::Regex>,
    /// The value `builtins.builtins` refers to (see `builtins::add_builtin`).
    pub(crate) builtins_cell: Rc<std::cell::RefCell<Option<Value>>>,
    /// Scratch buffer for building dynamic attribute names.
    name_buf: String,
    /// Names built by `"lit${toString i}"` for small non-negative
    /// integers: per string expression (by address), a table indexed by
    /// the integer, so that a selection like `s."a${toString i}"` in a
    /// loop finds its interned name by an index (a sequential walk over
    /// the table) instead of formatting and interning a string each time.
    int_names: IntNames,
}

/// See `Eval::int_names`.
#[derive(Default)]
struct IntNames {
    /// (string expression address, names by integer)
    sites: Vec<(usize, Vec<Option<Sym>>)>,
    /// The site used last (loops use one site again and again).
    last: usize,
}

impl IntNames {
    /// Integers below this get a slot (a table is at most 1 MiB).
    const MAX: i64 = 1 << 16;
    /// Sites beyond this many are not cached.
    const SITES: usize = 256;

    #[inline]
    fn get(&mut self, site: usize, i: i64) -> Option<Sym> {
        if !(0..Self::MAX).contains(&i) {
            return None;
        }
        let t = match self.sites.get(self.last) {
            Some((s, t)) if *s == site => t,
            _ => {
                let k = self.sites.iter().position(|(s, _)| *s == site)?;
                self.last = k;
                &self.sites[k].1
            }
        };
        t.get(i as usize).copied().flatten()
    }

    fn insert(&mut self, site: usize, i: i64, name: Sym) {
        if !(0..Self::MAX).contains(&i) {
            return;
        }
        let k = match self.sites.iter().position(|(s, _)| *s == site) {
            Some(k) => k,
            None if self.sites.len() < Self::SITES => {
                self.sites.push((site, Vec::new()));
                self.sites.len() - 1
            }
            None => return,
        };
        let t = &mut self.sites[k].1;
        if t.len() <= i as usize {
            t.resize(i as usize + 1, None);
        }
        t[i as usize] = Some(name);
        self.last = k;
    }
}

pub(crate) fn span_or(s: Option<Span>, d: Span) -> Span {
    s.unwrap_or(d)
}

impl Eval {
    pub fn new(settings: Settings) -> Eval {
        let mut ev = Eval {
            settings,
            globals: HashMap::new(),
            import_cache: Default::default(),
            depth: 0,
            drvs: HashMap::new(),
            path_cache: HashMap::new(),
            drv_hashes: ox_store::DrvHashCache::new(),
            store_writes: HashMap::new(),
            trace_hook: None,
            regex_cache: HashMap::new(),
            builtins_cell: Rc::new(std::cell::RefCell::new(None)),
            name_buf: String::new(),
            int_names: Default::default(),
        };
        crate::builtins::install(&mut ev);
        ev
    }

    // ---------------------------------------------------------------
    // Entry points

    pub fn eval_string(&mut self, text: &str, name: &str, dir: &str) -> Result<Value> {
        let e = compile::parse_and_compile(text.into(), name.into(), dir, &self.globals, None)?;
        let env = Env::new(Vec::new(), None);
        self.eval(e, &env)
    }

    /// Add `builtins.<name>`: the extension point for crates built on the
    /// evaluator (see `builtins::add_builtin`).
    pub fn add_builtin(&mut self, name: &str, v: Value) {
        crate::builtins::add_builtin(self, name, v)
    }

    pub fn eval_file(&mut self, path: &Path) -> Result<Value> {
        let v = self.import_path(path, None)?;
        self.force(v)
    }

    /// `import path`, cached per resolved file.
    pub fn import_path(&mut self, path: &Path, span: Option<Span>) -> Result<Value> {
        // A file imported before needs no `stat` (module systems import
        // the same files once per evaluation).
        if let Some(v) = self.import_cache.get(path.as_os_str()) {
            return Ok(v.clone());
        }
        let mut p = path.to_path_buf();
        if p.is_dir() {
            p.push("default.nix");
        }
        if let Some(v) = self.import_cache.get(p.as_os_str()) {
            return Ok(v.clone());
        }
        let text = std::fs::read_to_string(&p).map_err(|e| {
            EvalError::new(
                ErrorKind::Other,
                format!(
                    "cannot read '{}': {}",
                    p.display(),
                    crate::builtins::io_msg(&e)
                ),
                span,
            )
        })?;
        let dir = compile::dir_of(&p);
        let e = compile::parse_and_compile(
            text.into(),
            p.to_string_lossy().into_owned(),
            &dir,
            &self.globals,
            None,
        )?;
        let env = Env::new(Vec::new(), None);
        let v = Value::Thunk(Thunk::new(e, env));
        self.import_cache.insert(p.into_os_string(), v.clone());
        Ok(v)
    }

    // ---------------------------------------------------------------
    // Forcing

    #[inline]
    pub fn force(&mut self, v: Value) -> Result<Value> {
        match v {
            Value::Thunk(t) => self.force_thunk(&t),
            v => Ok(v),
        }
    }

    pub fn force_thunk(&mut self, t: &Thunk) -> Result<Value> {
        if let Some(v) = t.done_ref() {
            return Ok(v.clone());
        }
        self.force_pending(t)
    }

    #[inline(never)]
    fn force_pending(&mut self, t: &Thunk) -> Result<Value> {
        let st = t.replace(ThunkState::Blackhole);
        if let ThunkState::Volatile(f) = &st {
            return self.force_volatile(t, f.clone(), st);
        }
        let r = match &st {
            ThunkState::Pending(e, env) => self.eval(e, env),
            // a lambda (or a thunk of one: `genList (i: …) n`) is called
            // through a reference
            ThunkState::Apply(f, a) => match f.done_ref() {
                // `map (x: x) l`: the identity gives its argument back
                Some(Value::Lambda(c)) if c.def.is_identity() && !matches!(a, Value::Thunk(_)) => {
                    Ok(a.clone())
                }
                Some(Value::Lambda(c)) => self.call_lambda(c, a.clone(), None),
                _ => self.call(Value::Thunk(f.clone()), a.clone(), None),
            },
            ThunkState::Native(f) => f(self),
            // an unforced `genList (i: i)` element (`int_now` is the usual way)
            ThunkState::Int(i) => Ok(Value::Int(*i)),
            ThunkState::Blackhole => Err(EvalError::new(
                ErrorKind::InfiniteRecursion,
                "infinite recursion encountered",
                None,
            )),
            ThunkState::Done(_) | ThunkState::Volatile(_) => {
                unreachable!("checked by force_thunk / above")
            }
        };
        match r {
            Ok(v) => {
                t.set_done(v.clone());
                Ok(v)
            }
            Err(e) => {
                // Restore so that a later attempt (e.g. after tryEval)
                // re-evaluates instead of reporting infinite recursion.
                if !matches!(st, ThunkState::Blackhole) {
                    t.replace(st);
                }
                Err(e)
            }
        }
    }

    /// A volatile thunk stays as it is and runs its function each time.
    fn force_volatile(&mut self, t: &Thunk, f: Rc<NativeFn>, st: ThunkState) -> Result<Value> {
        t.replace(st);
        f(self)
    }

    /// Force deeply (for `--strict`, `deepSeq`, `toJSON`…).
    pub fn force_deep(&mut self, v: Value) -> Result<Value> {
        // Values already forced deeply (by address): shared values and
        // cycles are visited once. A hash set: this is one lookup per set
        // and list of a possibly large value.
        let mut seen = rustc_hash::FxHashSet::default();
        self.force_deep_inner(v, &mut seen)
    }

    fn force_deep_inner(
        &mut self,
        v: Value,
        seen: &mut rustc_hash::FxHashSet<usize>,
    ) -> Result<Value> {
        let v = self.force(v)?;
        self.force_deep_ref(&v, seen)?;
        Ok(v)
    }
    /// Force what `v` holds; an evaluated thunk is read through a borrow
    /// (no reference-count traffic per visited value).
    fn force_deep_ref(&mut self, v: &Value, seen: &mut rustc_hash::FxHashSet<usize>) -> Result<()> {
        let forced;
        let v = match v {
            Value::Thunk(t) => match t.done_ref() {
                Some(d) => d,
                None => {
                    forced = self.force(v.clone())?;
                    &forced
                }
            },
            v => v,
        };
        match v {
            Value::Attrs(a) if seen.insert(Rc::as_ptr(a) as *const u8 as usize) => {
                stacker::maybe_grow(64 * 1024, 1024 * 1024, || {
                    for (k, x) in a.entries().iter() {
                        self.force_deep_ref(x, seen).context(|| {
                            (
                                format!("while evaluating the attribute '{}'", k),
                                a.position(k),
                            )
                        })?;
                    }
                    Ok::<(), Box<EvalError>>(())
                })
            }
            Value::List(l) if seen.insert(Rc::as_ptr(l) as *const u8 as usize) => {
                stacker::maybe_grow(64 * 1024, 1024 * 1024, || {
                    for x in l.iter() {
                        self.force_deep_ref(x, seen)?;
                    }
                    Ok::<(), Box<EvalError>>(())
                })
            }
            _ => Ok(()),
        }
    }

    /// Turn an expression into a value without evaluating it, unless it
    /// is trivially a value already (constants, variables): this is what
    /// makes `nix-instantiate --eval` print `<CODE>` for the same things.
    #[inline]
    pub(crate) fn thunk(&self, e: &'static Expr, env: &Env) -> Value {
        match e {
            Expr::Const(v) => v.clone(),
            Expr::Var { depth, idx, .. } => env.lookup(*depth, *idx),
            _ => Value::Thunk(Thunk::new(e, env.clone())),
        }
    }

    /// `thunk` for an environment whose own slots are still being filled:
    /// a variable of that same frame must stay a real thunk.
    #[inline]
    fn thunk_unfilled(&self, e: &'static Expr, env: &Env) -> Value {
        match e {
            Expr::Var { depth: 0, .. } => Value::Thunk(Thunk::new(e, env.clone())),
            _ => self.thunk(e, env),
        }
    }

    // ---------------------------------------------------------------
    // Evaluation

    pub fn eval(&mut self, e: &'static Expr, env: &Env) -> Result<Value> {
        // Fast paths that need neither stack nor depth accounting.
        match e {
            Expr::Const(v) | Expr::Folded(v, _) if !matches!(v, Value::Thunk(_)) => {
                return Ok(v.clone())
            }
            Expr::Var { depth, idx, span } => {
                // Borrowed, not cloned: the frame outlives this call and
                // its slots never change.
                return match env.lookup_ref(*depth, *idx) {
                    Value::Thunk(t) => match t.done_ref() {
                        Some(v) => Ok(v.clone()),
                        None => self.force_var(t, *span),
                    },
                    v => Ok(v.clone()),
                };
            }
            _ => {}
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.depth -= 1;
            return Err(EvalError::new(
                ErrorKind::StackOverflow,
                "stack overflow (possible infinite recursion)",
                e.span(),
            ));
        }
        // Checking the remaining native stack costs a thread-local read;
        // every 32nd level is enough with a 1 MiB red zone (a level is a few
        // KiB of native frames at most).
        let r = if self.depth & 31 == 0 {
            stacker::maybe_grow(1024 * 1024, 8 * 1024 * 1024, || self.eval_inner(e, env))
        } else {
            self.eval_inner(e, env)
        };
        self.depth -= 1;
        r
    }

    /// An operand that may be a selection (`acc + s.${k}`): evaluated by
    /// `eval_select` without a level of `eval` of its own (its base and
    /// attribute are evaluated through `eval`); anything else by `eval`.
    #[inline(never)]
    fn other_operand(&mut self, e: &'static Expr, env: &Env) -> Result<Value> {
        match e {
            Expr::Select {
                e: base,
                path,
                default,
                span,
            } => self.eval_select(base, path, default.as_deref(), *span, env),
            _ => self.eval(e, env),
        }
    }

    /// A variable's value, forced: the shared arm of `quick` and
    /// `operand`.
    #[inline(always)]
    fn var_value(&mut self, env: &Env, depth: u32, idx: u32, span: Span) -> Result<Value> {
        match env.lookup_ref(depth, idx) {
            Value::Thunk(t) => match t.done_ref() {
                Some(v) => Ok(v.clone()),
                None => self.force_var(t, span),
            },
            v => Ok(v.clone()),
        }
    }

    /// `eval`, with variables and constants read here: `eval`'s entry
    /// (one big function, many registers saved) is paid only for other
    /// expressions. For operands that are usually variables (a
    /// selection's base, a called function, `toString`'s argument).
    #[inline(always)]
    fn quick(&mut self, e: &'static Expr, env: &Env) -> Result<Value> {
        match e {
            Expr::Var { depth, idx, span } => self.var_value(env, *depth, *idx, *span),
            _ => self.eval(e, env),
        }
    }

    /// `eval` for an operand: a variable or constant (most operands) is
    /// read here, without entering `eval` (whose entry is costly: it is
    /// one big function); anything else goes to `eval`.
    #[inline(always)]
    fn operand(&mut self, e: &'static Expr, env: &Env) -> Result<Value> {
        match e {
            Expr::Var { depth, idx, span } => self.var_value(env, *depth, *idx, *span),
            Expr::Const(v) if !matches!(v, Value::Thunk(_)) => Ok(v.clone()),
            // `b * 3` in `a + b * 3`: computed here when it can be
            Expr::BinOp { int: true, .. } => match cheap(e, env) {
                Some(v) => Ok(v),
                None => self.eval(e, env),
            },
            _ => self.eval(e, env),
        }
    }

    /// The argument of a call of a lambda with formals, which forces it
    /// before anything else: evaluated now instead of through a thunk that
    /// nothing else could see (no allocation, same errors). Variables and
    /// constants are passed as they are, as `thunk` does.
    #[inline]
    fn formals_arg(&mut self, arg: &'static Expr, env: &Env) -> Result<Value> {
        match arg {
            Expr::Var { .. } | Expr::Const(_) => Ok(self.thunk(arg, env)),
            _ => self.eval(arg, env),
        }
    }

    /// The argument of a call of a plain lambda whose body forces it
    /// before anything else (`LambdaDef::first_forced`, at `vspan`),
    /// evaluated now instead of through a thunk. Nothing can tell: the
    /// thunk would be forced at once, by nothing but this call; an error
    /// gets what the body would have given it (the position of the forced
    /// variable for an infinite recursion without one, then the call's
    /// "while calling" line). Variables and constants are passed as they
    /// are.
    #[inline(never)]
    fn eager_arg(
        &mut self,
        def: &'static LambdaDef,
        arg: &'static Expr,
        env: &Env,
        vspan: Span,
        span: Span,
    ) -> Result<Value> {
        match arg {
            Expr::Var { .. } | Expr::Const(_) => Ok(self.thunk(arg, env)),
            _ => self
                .eval(arg, env)
                .map_err(|mut er| {
                    if er.kind == ErrorKind::InfiniteRecursion && er.span.is_none() {
                        er.span = Some(vspan);
                    }
                    er
                })
                .context(|| (calling(def), Some(span))),
        }
    }

    /// An argument that the body of `def` (arithmetic, see `arith_next`)
    /// forces before doing anything that could fail or be seen, evaluated
    /// at the call instead of through a thunk. An error gets what it would
    /// have got through the body: the forced variable's position for an
    /// infinite recursion without one, the applied lambda's "while
    /// calling" line (`m (… + d)`), then the call's.
    #[inline(never)]
    fn arith_arg(
        &mut self,
        def: &'static LambdaDef,
        next: ArithNext,
        arg: &'static Expr,
        env: &Env,
        span: Span,
    ) -> Result<Value> {
        let r = self.eval(arg, env).map_err(|mut er| {
            if er.kind == ErrorKind::InfiniteRecursion && er.span.is_none() {
                er.span = Some(next.vspan);
            }
            er
        });
        match next.applied {
            Some((f, aspan)) => r
                .context(|| (calling(f), Some(aspan)))
                .context(|| (calling(def), Some(span))),
            None => r.context(|| (calling(def), Some(span))),
        }
    }

    /// The body of `def` (`ArithBody`) run on `frame` when its variables
    /// are evaluated integers and nothing overflows; `None` means "evaluate
    /// the body": nothing has been evaluated or reported then. The applied
    /// lambda of `m (…)` is called as the body's application would call
    /// it (an evaluated plain lambda, given the computed integer).
    #[inline(never)]
    fn arith_call<'a>(
        &mut self,
        def: &'static LambdaDef,
        ab: &'static compile::ArithBody,
        var: &impl Fn(u32, u32) -> Option<&'a Value>,
        span: Span,
        start: Option<ArithState>,
    ) -> Option<Result<Value>> {
        let f = match ab.applied {
            // as the application would: a lambda that forces its
            // argument gets the value (`cheap`), any other a thunk
            Some((d, i, _)) => match var(d, i).map(done_or) {
                Some(Value::Lambda(c)) if c.def.formals.is_none() && c.def.strict_arg => Some(c),
                _ => return None,
            },
            None => None,
        };
        let mut st = start.unwrap_or_default();
        let Arith::Int(x) = run_arith(&ab.code, u32::MAX, var, &mut st) else {
            return None;
        };
        Some(match (f, ab.applied) {
            (Some(c), Some((_, _, aspan))) => {
                let arg = Value::Int(x);
                // `m`'s own body computed in place when it can be, as
                // `call_lambda` would (`x: bitAnd x 1048575`)
                if cheap_shape(&c.def.body) {
                    let var = |d: u32, i: u32| unbuilt_var(c, &[&arg], d, i);
                    if let Some(v) = cheap_in(&c.def.body, &var) {
                        return Some(Ok(v));
                    }
                }
                self.call_lambda(c, arg, Some(aspan))
                    .context(|| (calling(def), Some(span)))
            }
            _ => Ok(Value::Int(x)),
        })
    }

    /// A call of a whole chain `a: b: …: body` (not a partial application)
    /// whose body is arithmetic (`LambdaDef::arith`): the arguments are
    /// bound in a vector on the stack, and a frame is built only if the
    /// body has to be evaluated (its variables are not all evaluated
    /// integers, or something overflows). Arguments are bound as
    /// `eval_call` binds them.
    #[inline(never)]
    fn arith_chain_call(
        &mut self,
        c: &Closure,
        def: &'static LambdaDef,
        ab: &'static compile::ArithBody,
        args: &'static [(Expr, Span)],
        env: &Env,
        span: Span,
    ) -> Result<Value> {
        // variables and constants are borrowed (no count traffic unless
        // a frame has to be built)
        let mut vals: smallvec::SmallVec<[ArgVal; 4]> = smallvec::SmallVec::new();
        let mut ast = Some(ArithState::default());
        for (j, (a, _)) in args.iter().enumerate() {
            let v = match (def.first_forced, a) {
                (Some((k, vspan)), _) if k as usize == j => {
                    ArgVal::Own(self.eager_arg(def, a, env, vspan, span)?)
                }
                (_, Expr::Var { depth, idx, .. }) => ArgVal::Ref(env.lookup_ref(*depth, *idx)),
                (_, Expr::Const(v)) => ArgVal::Ref(v),
                _ if ast.is_some() => {
                    let var = |d: u32, i: u32| -> Option<&Value> {
                        if d == 0 {
                            vals.get(i as usize).map(ArgVal::get)
                        } else {
                            Some(c.env.lookup_ref(d - 1, i))
                        }
                    };
                    match ast
                        .as_mut()
                        .and_then(|st| arith_next(ab, j as u32, &var, st))
                    {
                        Some(next) => ArgVal::Own(self.arith_arg(def, next, a, env, span)?),
                        None => {
                            ast = None;
                            ArgVal::Own(self.thunk(a, env))
                        }
                    }
                }
                _ => ArgVal::Own(self.thunk(a, env)),
            };
            vals.push(v);
        }
        let var = |d: u32, i: u32| -> Option<&Value> {
            if d == 0 {
                vals.get(i as usize).map(ArgVal::get)
            } else {
                Some(c.env.lookup_ref(d - 1, i))
            }
        };
        if let Some(r) = self.arith_call(def, ab, &var, span, ast) {
            return r;
        }
        let frame = Env::with_capacity(def.nslots as usize, Some(c.env.clone()));
        for v in vals {
            frame.push(match v {
                ArgVal::Ref(r) => r.clone(),
                ArgVal::Own(v) => v,
            });
        }
        self.enter(def, frame, def, Some(span))
    }

    #[inline(never)]
    fn force_var(&mut self, t: &Thunk, span: Span) -> Result<Value> {
        self.force_pending(t).map_err(|mut er| {
            if er.kind == ErrorKind::InfiniteRecursion && er.span.is_none() {
                er.span = Some(span);
            }
            er
        })
    }

    #[inline(always)]
    fn eval_inner(&mut self, e: &'static Expr, env: &Env) -> Result<Value> {
        // A loop for tail positions (the branches of `if`): evaluating the
        // chosen branch needs no new level of `eval`.
        let mut e = e;
        loop {
            return match e {
                Expr::Const(v) | Expr::Folded(v, _) => self.force(v.clone()),
                Expr::Var { depth, idx, span } => match env.lookup_ref(*depth, *idx) {
                    Value::Thunk(t) => match t.done_ref() {
                        Some(v) => Ok(v.clone()),
                        None => self.force_var(t, *span),
                    },
                    v => Ok(v.clone()),
                },
                Expr::WithVar { name, withs, span } => {
                    for d in withs.iter() {
                        let ns = env.ancestor(*d).slots()[0].clone();
                        let ns = self.force(ns)?;
                        let Value::Attrs(a) = &ns else {
                            return type_err(
                                format!("value is {} while a set was expected", ns.type_name()),
                                *span,
                            );
                        };
                        if let Some(v) = a.get(name) {
                            let v = v.clone();
                            return self.force(v);
                        }
                    }
                    err(
                        ErrorKind::Other,
                        format!("undefined variable '{}'", name),
                        *span,
                    )
                }
                Expr::Str { parts, span } => {
                    let mut s = String::new();
                    let ctx = self.str_parts_into(parts, *span, env, &mut s)?;
                    Ok(Value::str_ctx(s, ctx))
                }
                Expr::Path { parts, base, span } => {
                    let mut s = String::new();
                    for p in parts {
                        match p {
                            StrPart::Lit(l) => s.push_str(l),
                            StrPart::Expr(x) => {
                                let v = self.eval(x, env)?;
                                let ns = self.coerce_to_string(
                                    v,
                                    span_or(x.span(), *span),
                                    false,
                                    false,
                                )?;
                                if ns.ctx.is_some() {
                                    return err(
                                    ErrorKind::Other,
                                    "a string that refers to a store path cannot be appended to a path",
                                    *span,
                                );
                                }
                                s.push_str(&ns.s);
                            }
                        }
                    }
                    Ok(Value::Path(compile::abs_path(&s, base).into()))
                }
                Expr::List(items) => Ok(Value::list(
                    items.iter().map(|x| self.thunk(x, env)).collect(),
                )),
                Expr::Attrs(def) => self.eval_attrs(def, env),
                Expr::Select {
                    e,
                    path,
                    default,
                    span,
                } => self.eval_select(e, path, default.as_deref(), *span, env),
                Expr::HasAttr { e, path, span } => {
                    let mut v = self.eval(e, env)?;
                    for (i, k) in path.iter().enumerate() {
                        let name = self.attr_key(k, env, *span)?;
                        let Some(name) = name else {
                            return Ok(Value::Bool(false));
                        };
                        let Value::Attrs(a) = &v else {
                            return Ok(Value::Bool(false));
                        };
                        match a.get(name) {
                            // the last attribute's value is not forced
                            Some(x) if i + 1 < path.len() => {
                                let x = x.clone();
                                v = self.force(x)?;
                            }
                            Some(_) => {}
                            None => return Ok(Value::Bool(false)),
                        }
                    }
                    Ok(Value::Bool(true))
                }
                Expr::Lambda(def) => Ok(Value::Lambda(Rc::new(Closure {
                    def,
                    env: env.clone(),
                }))),
                Expr::Apply { f, arg, span } => {
                    // `g x` with `g` a variable bound to a lambda: call it
                    // through a reference into the frame, without cloning it.
                    // A function that is a variable's value (or a constant,
                    // `builtins.length`) is called through a reference,
                    // without cloning it: a lambda, or a builtin of one
                    // argument (`length xs`, `isAttrs v`).
                    let head = match &**f {
                        Expr::Var { depth, idx, .. } => Some(done_or(env.lookup_ref(*depth, *idx))),
                        Expr::Folded(v, _) | Expr::Const(v) => Some(v),
                        _ => None,
                    };
                    match head {
                        Some(Value::Lambda(c)) => {
                            if let Expr::Attrs(lit) = &**arg {
                                if let Some(r) = self.call_formals_literal(c, lit, env, *span) {
                                    return r;
                                }
                            }
                            let av = if c.def.formals.is_some() {
                                self.formals_arg(arg, env)?
                            } else if c.def.strict_arg {
                                match cheap(arg, env) {
                                    Some(v) => v,
                                    None => match c.def.first_forced {
                                        Some((k, vspan)) if k == c.def.pos => {
                                            self.eager_arg(c.def, arg, env, vspan, *span)?
                                        }
                                        _ => self.thunk(arg, env),
                                    },
                                }
                            } else {
                                self.thunk(arg, env)
                            };
                            return self.call_lambda(c, av, Some(*span));
                        }
                        Some(Value::PrimOp(op)) if op.arity == 1 => {
                            let pf = op.f;
                            let av = self.thunk(arg, env);
                            return pf(self, std::slice::from_ref(&av), *span);
                        }
                        _ => {}
                    }
                    let fv = self.eval(f, env)?;
                    if let (Value::Lambda(c), Expr::Attrs(lit)) = (&fv, &**arg) {
                        if let Some(r) = self.call_formals_literal(c, lit, env, *span) {
                            return r;
                        }
                    }
                    let av = match &fv {
                        Value::Lambda(c) if c.def.formals.is_some() => {
                            self.formals_arg(arg, env)?
                        }
                        Value::Lambda(c) if c.def.strict_arg => match cheap(arg, env) {
                            Some(v) => v,
                            None => self.thunk(arg, env),
                        },
                        _ => self.thunk(arg, env),
                    };
                    self.call(fv, av, Some(*span))
                }
                Expr::PrimCall {
                    op,
                    args,
                    span,
                    int_op,
                } => match (int_op, args.as_slice()) {
                    (Some(f), [a, b]) => self.int_prim(*f, op, a, b, *span, env),
                    _ => self.prim_call(op, args, *span, env),
                },
                Expr::Call { f, args, .. } => self.eval_call(f, args, env),
                Expr::Let { binds, body } => {
                    let new = self.bind_env(binds, env);
                    self.eval(body, &new)
                }
                Expr::With { ns, body, span: _ } => {
                    let nsv = self.thunk(ns, env);
                    let new = Env::one(nsv, Some(env.clone()));
                    self.eval(body, &new)
                }
                Expr::If {
                    cond,
                    then,
                    else_,
                    span,
                } => {
                    // A comparison of evaluated integers is computed in place.
                    let c = match &**cond {
                        Expr::BinOp {
                            op,
                            l,
                            r,
                            span: bspan,
                            int,
                        } => match if *int { cheap(cond, env) } else { None } {
                            Some(Value::Bool(b)) => b,
                            Some(v) => self.bool_of(&v, cond, *span)?,
                            None => {
                                let v = self.eval_binop(*op, l, r, *bspan, env)?;
                                self.bool_of(&v, cond, *span)?
                            }
                        },
                        _ => {
                            let v = self.eval(cond, env)?;
                            self.bool_of(&v, cond, *span)?
                        }
                    };
                    e = if c { then } else { else_ };
                    continue;
                }
                Expr::Assert {
                    cond,
                    body,
                    text,
                    span,
                } => {
                    let c = self.eval(cond, env)?;
                    if self.expect_bool(&c, *span)? {
                        self.eval(body, env)
                    } else {
                        err(
                            ErrorKind::Assert,
                            format!("assertion '{}' failed", text),
                            *span,
                        )
                    }
                }
                Expr::BinOp {
                    op,
                    l,
                    r,
                    span,
                    int,
                } => {
                    if *int {
                        if let Some(v) = cheap(e, env) {
                            return Ok(v);
                        }
                    }
                    self.eval_binop(*op, l, r, *span, env)
                }
                Expr::Not(x, span) => {
                    let v = self.eval(x, env)?;
                    Ok(Value::Bool(!self.bool_of(&v, x, *span)?))
                }
                Expr::Neg(x, span) => {
                    let v = self.eval(x, env)?;
                    match v {
                        Value::Int(i) => match 0i64.checked_sub(i) {
                            Some(r) => Ok(Value::Int(r)),
                            None => err(
                                ErrorKind::Other,
                                format!("integer overflow in subtracting 0 - {}", i),
                                *span,
                            ),
                        },
                        Value::Float(f) => Ok(Value::Float(0.0 - f)),
                        v => type_err(
                            format!(
                            "cannot negate {}: value is {} while an integer or float was expected",
                            v.type_name(),
                            v.type_name()
                        ),
                            *span,
                        ),
                    }
                }
                Expr::CurPos(span) => {
                    let (line, col) = span.line_col().unwrap_or((0, 0));
                    Ok(Value::attrs(Attrs::from_sorted(vec![
                        ("column", Value::Int(col as i64)),
                        ("file", Value::str(span.file_name())),
                        ("line", Value::Int(line as i64)),
                    ])))
                }
            };
        }
    }

    /// `bitAnd`/`bitOr`/`bitXor` applied to both arguments. The primop
    /// forces both first, in order, so they are evaluated directly: no
    /// thunks, no argument vector. Out of line (see `prim_call`).
    #[inline(never)]
    fn int_prim(
        &mut self,
        f: fn(i64, i64) -> i64,
        op: &PrimOp,
        a: &'static Expr,
        b: &'static Expr,
        span: Span,
        env: &Env,
    ) -> Result<Value> {
        let x = self.operand(a, env)?;
        let y = self.operand(b, env)?;
        if let (Value::Int(x), Value::Int(y)) = (&x, &y) {
            return Ok(Value::Int(f(*x, *y)));
        }
        // the primop reports the type error
        (op.f)(self, &[x, y], span)
    }

    /// A saturated primop call: the arguments are thunked into a vector on
    /// the stack (not a heap vector per call). Out of line, so that `eval`'s
    /// own stack frame stays small.
    #[inline(never)]
    fn prim_call(
        &mut self,
        op: &PrimOp,
        args: &'static [Expr],
        span: Span,
        env: &Env,
    ) -> Result<Value> {
        let mut argv = PrimArgs::new();
        for x in args {
            argv.push(self.thunk(x, env));
        }
        (op.f)(self, &argv, span)
    }

    /// Create the environment of a `let` (or `rec` set) and its thunks.
    fn bind_env(&mut self, binds: &'static [Binding], env: &Env) -> Env {
        let new = Env::with_capacity(binds.len(), Some(env.clone()));
        for b in binds {
            new.push(if b.inherited {
                self.thunk(&b.value, env)
            } else {
                self.thunk_unfilled(&b.value, &new)
            });
        }
        new
    }

    fn eval_attrs(&mut self, def: &'static AttrsDef, env: &Env) -> Result<Value> {
        let cap = def.statics.len() + def.dynamics.len();
        let mut entries: Vec<(Sym, Value)> = Vec::with_capacity(cap);
        let rec_env;
        let scope: &Env = if def.rec {
            rec_env = self.bind_env(&def.statics, env);
            entries.extend(
                def.statics
                    .iter()
                    .zip(rec_env.slots())
                    .map(|(b, v)| (b.name, v.clone())),
            );
            &rec_env
        } else {
            entries.extend(
                def.statics
                    .iter()
                    .map(|b| (b.name, self.thunk(&b.value, env))),
            );
            env
        };
        // Dynamic attributes are appended to the same vector, which is
        // sorted once at the end (no intermediate set, no second copy).
        let nstatic = entries.len();
        for (n, v, span) in &def.dynamics {
            let Some(name) = self.dyn_name(n, scope, *span)? else {
                continue;
            };
            let (statics, extra) = entries.split_at(nstatic);
            if statics.binary_search_by(|(k, _)| cmp_name(k, name)).is_ok()
                || extra.iter().any(|(k, _)| *k == name)
            {
                return err(
                    ErrorKind::Other,
                    format!("dynamic attribute '{}' already defined", name),
                    *span,
                );
            }
            entries.push((name, self.thunk(v, scope)));
        }
        if entries.len() > nstatic {
            // names are unique (checked above), so any sort will do
            entries.sort_by(|a, b| cmp_name(a.0, b.0));
        }
        let mut attrs = Attrs::from_sorted(entries);
        attrs.positions = Some(Positions::Def(def));
        Ok(Value::attrs(attrs))
    }

    /// Append the parts of an interpolated string to `s`; returns their
    /// context.
    fn str_parts_into(
        &mut self,
        parts: &'static [StrPart],
        span: Span,
        env: &Env,
        s: &mut String,
    ) -> Result<Context> {
        let mut ctx: Context = None;
        for p in parts {
            match p {
                StrPart::Lit(l) => s.push_str(l),
                StrPart::Expr(x) => {
                    let v = match to_string_arg(x, env) {
                        // `"a${toString i}"`: the argument is forced as
                        // the primop would (evaluated directly: a thunk
                        // of it could not be seen by anyone else), and an
                        // integer is written straight into the buffer (no
                        // string value).
                        Some((f, arg, aspan)) => match self.quick(arg, env)? {
                            Value::Int(i) => {
                                push_int(s, i);
                                continue;
                            }
                            a => f(self, &[a], aspan)?,
                        },
                        None => self.eval(x, env)?,
                    };
                    // strings are appended in place, not copied first
                    if let Value::Str(ns) = &v {
                        s.push_str(&ns.s);
                        if ns.ctx.is_some() {
                            ctx = merge_ctx(&ctx, &ns.ctx);
                        }
                        continue;
                    }
                    let ns = self
                        .coerce_to_string(v, span_or(x.span(), span), false, true)
                        .context(|| {
                            (
                                "while evaluating a string interpolation".to_string(),
                                x.span(),
                            )
                        })?;
                    s.push_str(&ns.s);
                    ctx = merge_ctx(&ctx, &ns.ctx);
                }
            }
        }
        Ok(ctx)
    }

    /// The name a dynamic attribute expression evaluates to (`None` for
    /// `null`). An interpolated name (`"a${toString i}"`) is built in a
    /// reused buffer and interned, without allocating a string value.
    fn dyn_name(&mut self, e: &'static Expr, env: &Env, span: Span) -> Result<Option<Sym>> {
        if let Expr::Str { parts, span: sspan } = e {
            if let Some(r) = self.int_name(parts, env) {
                return r.map(Some);
            }
            let mut buf = std::mem::take(&mut self.name_buf);
            buf.clear();
            let r = self.str_parts_into(parts, *sspan, env, &mut buf);
            let out = r.map(|_| Some(sym(&buf)));
            self.name_buf = buf;
            return out;
        }
        let v = self.eval(e, env)?;
        if matches!(v, Value::Null) {
            return Ok(None);
        }
        let s = self.expect_string(&v, span)?;
        Ok(Some(sym(&s.s)))
    }

    /// `dyn_name` for `"lit${toString x}"` and `"${toString x}"` (with
    /// `toString` the builtin): `x` is evaluated as `str_parts_into`
    /// would, and an integer's name comes from `int_names`. `None` when
    /// the string has another shape (nothing was evaluated then).
    fn int_name(&mut self, parts: &'static [StrPart], env: &Env) -> Option<Result<Sym>> {
        let (lit, x): (&str, &'static Expr) = match parts {
            [StrPart::Lit(l), StrPart::Expr(x)] => (l, x),
            [StrPart::Expr(x)] => ("", x),
            _ => return None,
        };
        let (f, arg, aspan) = to_string_arg(x, env)?;
        let v = match self.quick(arg, env) {
            Ok(v) => v,
            Err(e) => return Some(Err(e)),
        };
        if let Value::Int(i) = v {
            let site = parts.as_ptr() as usize;
            if let Some(s) = self.int_names.get(site, i) {
                return Some(Ok(s));
            }
            let mut buf = std::mem::take(&mut self.name_buf);
            buf.clear();
            buf.push_str(lit);
            push_int(&mut buf, i);
            let s = sym(&buf);
            self.name_buf = buf;
            self.int_names.insert(site, i, s);
            return Some(Ok(s));
        }
        // not an integer: what `str_parts_into` does with the result
        let r = f(self, &[v], aspan).and_then(|r| {
            let mut buf = std::mem::take(&mut self.name_buf);
            buf.clear();
            buf.push_str(lit);
            let out = match &r {
                Value::Str(ns) => {
                    buf.push_str(&ns.s);
                    Ok(sym(&buf))
                }
                _ => self
                    .coerce_to_string(r.clone(), span_or(x.span(), aspan), false, true)
                    .context(|| {
                        (
                            "while evaluating a string interpolation".to_string(),
                            x.span(),
                        )
                    })
                    .map(|ns| {
                        buf.push_str(&ns.s);
                        sym(&buf)
                    }),
            };
            self.name_buf = buf;
            out
        });
        Some(r)
    }

    fn attr_key(&mut self, k: &'static AttrKey, env: &Env, span: Span) -> Result<Option<Sym>> {
        match k {
            AttrKey::Static(s) => Ok(Some(*s)),
            AttrKey::Dynamic(e) => self.dyn_name(e, env, span_or(e.span(), span)),
        }
    }

    #[inline(never)]
    fn eval_select(
        &mut self,
        e: &'static Expr,
        path: &'static [AttrKey],
        default: Option<&'static Expr>,
        span: Span,
        env: &Env,
    ) -> Result<Value> {
        let mut v = self.quick(e, env)?;
        for (i, k) in path.iter().enumerate() {
            let name = match self.attr_key(k, env, span)? {
                Some(n) => n,
                None => {
                    return type_err("value is null while a string was expected", span);
                }
            };
            // The attribute, read through a borrow of the set: an
            // evaluated value is cloned out directly, a pending thunk is
            // forced after the borrow ends.
            let pending = match &v {
                Value::Attrs(a) => match a.get(name) {
                    Some(Value::Thunk(t)) => match t.done_ref() {
                        Some(x) => Ok(x.clone()),
                        None => match t.folded() {
                            // a constant set literal's value: stored, no
                            // evaluation (`g.x2.v` with `g.x2.v = 2;`)
                            Some(x) => {
                                t.replace(ThunkState::Done(x.clone()));
                                Ok(x.clone())
                            }
                            None => Err(t.clone()),
                        },
                    },
                    Some(x) => Ok(x.clone()),
                    None => {
                        if let Some(d) = default {
                            return self.eval(d, env);
                        }
                        let mut er = EvalError::new(
                            ErrorKind::Other,
                            format!("attribute '{}' missing", name),
                            Some(span),
                        );
                        er.hint = did_you_mean(name, a.entries().iter().map(|(k, _)| &**k));
                        return Err(er);
                    }
                },
                other => {
                    if let Some(d) = default {
                        return self.eval(d, env);
                    }
                    return type_err(
                        format!(
                            "value is {} while a set was expected (selecting attribute '{}')",
                            other.type_name(),
                            name
                        ),
                        span,
                    );
                }
            };
            v = match pending {
                Ok(x) => x,
                Err(t) => self.force_pending(&t).context(|| {
                    (
                        format!(
                            "while evaluating the attribute '{}'",
                            path_string(path, i, name)
                        ),
                        // the selection site (the user's code); the definition
                        // may be deep in a library
                        Some(span),
                    )
                })?,
            };
        }
        Ok(v)
    }

    // ---------------------------------------------------------------
    // Function application

    pub fn call(&mut self, f: Value, arg: Value, span: Option<Span>) -> Result<Value> {
        let f = self.force(f)?;
        match f {
            Value::Lambda(c) => self.call_lambda(&c, arg, span),
            Value::PrimOp(op) => {
                if op.arity == 1 {
                    (op.f)(
                        self,
                        std::slice::from_ref(&arg),
                        span.unwrap_or_else(op_span),
                    )
                } else {
                    Ok(Value::PrimOpApp(Rc::new(PrimOpApp {
                        op,
                        args: vec![arg],
                    })))
                }
            }
            Value::PrimOpApp(app) => {
                if app.args.len() + 1 == app.op.arity {
                    let mut args = PrimArgs::new();
                    for x in app.args.iter() {
                        args.push(x.clone());
                    }
                    args.push(arg);
                    (app.op.f)(self, &args, span.unwrap_or_else(op_span))
                } else {
                    let mut args = app.args.clone();
                    args.push(arg);
                    Ok(Value::PrimOpApp(Rc::new(PrimOpApp {
                        op: app.op.clone(),
                        args,
                    })))
                }
            }
            Value::Attrs(a) if a.contains("__functor") => {
                let functor = a.get("__functor").cloned().unwrap_or(Value::Null);
                let g = self.call(functor, Value::Attrs(a.clone()), span)?;
                self.call(g, arg, span)
            }
            other => {
                let msg = format!(
                    "attempt to call something which is not a function but {}",
                    other.type_name()
                );
                Err(EvalError::new(ErrorKind::Type, msg, span))
            }
        }
    }

    /// Apply a function to several arguments.
    pub fn call_n(&mut self, f: Value, args: Vec<Value>, span: Option<Span>) -> Result<Value> {
        if let [a, b] = args.as_slice() {
            return self.call2(f, a.clone(), b.clone(), span);
        }
        let mut f = f;
        for a in args {
            f = self.call(f, a, span)?;
        }
        Ok(f)
    }

    /// `f x` for loops that call the same function again and again
    /// (`filter`, `all`, `groupBy`, …): the frame of a plain lambda is kept
    /// in `frames` and refilled by the next call when nothing captured it.
    pub fn call_in(
        &mut self,
        frames: &mut Frames,
        f: &Value,
        arg: Value,
        span: Option<Span>,
    ) -> Result<Value> {
        let Value::Lambda(c) = f else {
            // `all isAttrs xs`: a builtin of one argument is called directly
            if let Value::PrimOp(op) = f {
                if op.arity == 1 {
                    return (op.f)(
                        self,
                        std::slice::from_ref(&arg),
                        span.unwrap_or_else(op_span),
                    );
                }
            }
            return self.call(f.clone(), arg, span);
        };
        let def: &'static LambdaDef = c.def;
        if def.formals.is_some()
            || !def.is_last()
            || matches!(def.body, Expr::Var { .. })
            || cheap_shape(&def.body)
        {
            return self.call_lambda(c, arg, span);
        }
        let k = def.pos as usize;
        let env = match frames.take(&c.env) {
            Some(mut e) => {
                e.slots_mut().expect("checked by take")[k] = arg;
                e
            }
            None => {
                let e = new_frame(c, k + 1);
                e.push(arg);
                frames.owner = Some(c.env.clone());
                e
            }
        };
        let r = self.eval(&def.body, &env).context(|| (calling(def), span));
        frames.frame = Some(env);
        r
    }

    /// `f a b` for loops that call the same function again and again
    /// (`foldl'`, `sort`): the frame of a curried `a: b: body` is kept in
    /// `frames` and refilled by the next call when nothing captured it
    /// (an allocation and a free less per call).
    pub fn call2_in(
        &mut self,
        frames: &mut Frames,
        f: &Value,
        a: Value,
        b: Value,
        span: Option<Span>,
    ) -> Result<Value> {
        let Value::Lambda(c) = f else {
            return self.call2(f.clone(), a, b, span);
        };
        let outer: &'static LambdaDef = c.def;
        let inner = match (&outer.formals, &outer.body) {
            (None, Expr::Lambda(inner)) if inner.pos > 0 && inner.is_last() => inner,
            _ => return self.call2(f.clone(), a, b, span),
        };
        if inner.int_body {
            // computed in place when every variable it reaches is an
            // integer; otherwise the frame below (see `fast_val`)
            let var = |d: u32, i: u32| unbuilt_var(c, &[&a, &b], d, i);
            if let Some(v) = fast_val(&inner.body, &var) {
                return Ok(v);
            }
        }
        if cheap_shape(&inner.body) {
            return self.call2(f.clone(), a, b, span);
        }
        let k = outer.pos as usize;
        let env = match frames.take(&c.env) {
            Some(mut e) => {
                let s = e.slots_mut().expect("checked by take");
                s[k] = a;
                s[k + 1] = b;
                e
            }
            None => {
                let e = new_frame(c, k + 2);
                e.push(a);
                e.push(b);
                frames.owner = Some(c.env.clone());
                e
            }
        };
        let r = self
            .eval(&inner.body, &env)
            .context(|| (calling(outer), span));
        frames.frame = Some(env);
        r
    }

    /// `f a b`. For the common curried `a: b: body` it binds both
    /// arguments in one frame, without the intermediate closure
    /// (`foldl'`, `sort`, `mapAttrs` callbacks).
    pub fn call2(&mut self, f: Value, a: Value, b: Value, span: Option<Span>) -> Result<Value> {
        let f = self.force(f)?;
        if let Value::Lambda(c) = &f {
            let outer: &'static LambdaDef = c.def;
            if let (None, Expr::Lambda(inner)) = (&outer.formals, &outer.body) {
                if inner.pos > 0 {
                    let inner: &'static LambdaDef = inner;
                    if inner.is_last() && cheap_shape(&inner.body) {
                        // A comparison or arithmetic on the arguments (a sort
                        // comparator) is computed without building a frame.
                        let var = |d: u32, i: u32| unbuilt_var(c, &[&a, &b], d, i);
                        if let Some(v) = cheap_in(&inner.body, &var) {
                            return Ok(v);
                        }
                    }
                    let e = new_frame(c, outer.pos as usize + 2);
                    e.push(a);
                    e.push(b);
                    return self.enter(inner, e, outer, span);
                }
            }
        }
        let g = self.call(f, a, span)?;
        self.call(g, b, span)
    }

    /// Run the body of `def`, the last lambda whose argument `frame`
    /// binds; or, when its chain takes more arguments, return the partial
    /// application (the next lambda over `frame`). Errors name `ctx`.
    #[inline]
    fn enter(
        &mut self,
        def: &'static LambdaDef,
        frame: Env,
        ctx: &'static LambdaDef,
        span: Option<Span>,
    ) -> Result<Value> {
        if def.is_last() {
            return self
                .eval(&def.body, &frame)
                .context(|| (calling(ctx), span));
        }
        let Expr::Lambda(next) = &def.body else {
            unreachable!("a lambda that is not the last of its chain has the next as its body")
        };
        Ok(Value::Lambda(Rc::new(Closure {
            def: next,
            env: frame,
        })))
    }

    /// `f a b …`: like nested `Apply`s, but a curried chain of
    /// formals-less lambdas binds its arguments in one frame without
    /// allocating the intermediate closures.
    #[inline(never)]
    fn eval_call(
        &mut self,
        f: &'static Expr,
        args: &'static [(Expr, Span)],
        env: &Env,
    ) -> Result<Value> {
        let mut fv = self.quick(f, env)?;
        let mut i = 0;
        while i < args.len() {
            let c = match &fv {
                Value::Lambda(c) if c.def.formals.is_none() => c,
                Value::Lambda(c) => {
                    let (a, span) = &args[i];
                    let c = c.clone();
                    let av = self.formals_arg(a, env)?;
                    fv = self.call_lambda(&c, av, Some(*span))?;
                    i += 1;
                    continue;
                }
                // A builtin reached through a variable (`inherit (builtins)
                // all;`) and given all its arguments: called directly, without
                // building its partial applications.
                Value::PrimOp(op) if args.len() - i >= op.arity => {
                    let n = op.arity;
                    let op = op.clone();
                    let mut argv = PrimArgs::new();
                    for (a, _) in &args[i..i + n] {
                        argv.push(self.thunk(a, env));
                    }
                    i += n;
                    fv = (op.f)(self, &argv, args[i - 1].1)?;
                    continue;
                }
                Value::PrimOpApp(app) if app.args.len() + (args.len() - i) >= app.op.arity => {
                    let n = app.op.arity - app.args.len();
                    let app = app.clone();
                    let mut argv = PrimArgs::new();
                    for x in app.args.iter() {
                        argv.push(x.clone());
                    }
                    for (a, _) in &args[i..i + n] {
                        argv.push(self.thunk(a, env));
                    }
                    i += n;
                    fv = (app.op.f)(self, &argv, args[i - 1].1)?;
                    continue;
                }
                _ => {
                    let (a, span) = &args[i];
                    let av = self.thunk(a, env);
                    fv = self.call(fv, av, Some(*span))?;
                    i += 1;
                    continue;
                }
            };
            let first: &'static LambdaDef = c.def;
            let take = ((first.nslots - first.pos) as usize).min(args.len() - i);
            if first.pos == 0 && take == first.nslots as usize {
                if let Some(last) = chain_last(first) {
                    if let Some(ab) = &last.arith {
                        let c = c.clone();
                        let span = args[i + take - 1].1;
                        fv = self.arith_chain_call(&c, last, ab, &args[i..i + take], env, span)?;
                        i += take;
                        continue;
                    }
                }
            }
            // the last lambda bound by this call
            let mut def = first;
            for _ in 1..take {
                let Expr::Lambda(next) = &def.body else {
                    unreachable!("chain lambdas nest")
                };
                def = next;
            }
            let span = args[i + take - 1].1;
            // the slot the body forces first, when this call runs the body
            let eager = match def.first_forced {
                Some((k, vspan)) if def.is_last() && k >= first.pos => Some((k, vspan)),
                _ => None,
            };
            let frame = new_frame(c, first.pos as usize + take);
            for (j, (a, _)) in args[i..i + take].iter().enumerate() {
                let v = match eager {
                    Some((k, vspan)) if k as usize == first.pos as usize + j => {
                        self.eager_arg(def, a, env, vspan, span)?
                    }
                    _ => self.thunk(a, env),
                };
                frame.push(v);
            }
            i += take;
            fv = self.enter(def, frame, def, Some(span))?;
        }
        Ok(fv)
    }

    fn call_lambda(&mut self, c: &Rc<Closure>, arg: Value, span: Option<Span>) -> Result<Value> {
        let def: &'static LambdaDef = c.def;
        let env = match &def.formals {
            None => {
                // `x: x` (genList's identity) and `_: v` read one variable:
                // no frame needed
                if let Expr::Var {
                    depth,
                    idx,
                    span: vspan,
                } = &def.body
                {
                    let v = if *depth == 0 && *idx == def.pos {
                        arg
                    } else {
                        unbuilt_var(c, &[&arg], *depth, *idx).clone()
                    };
                    return match v {
                        Value::Thunk(t) => match t.done_ref() {
                            Some(v) => Ok(v.clone()),
                            None => self.force_var(&t, *vspan).context(|| (calling(def), span)),
                        },
                        v => Ok(v),
                    };
                }
                if cheap_shape(&def.body) {
                    // `x: x > 3` and the like need no frame
                    let var = |d: u32, i: u32| unbuilt_var(c, &[&arg], d, i);
                    if let Some(v) = cheap_in(&def.body, &var) {
                        return Ok(v);
                    }
                }
                if def.nslots == 1 {
                    Env::one(arg, Some(c.env.clone()))
                } else {
                    let e = new_frame(c, def.pos as usize + 1);
                    e.push(arg);
                    e
                }
            }
            Some(formals) => self.formals_frame(c, formals, arg, span)?,
        };
        self.eval(&def.body, &env).context(|| (calling(def), span))
    }

    /// The frame of a call of a lambda with formals: the argument set's
    /// attributes bound to the formals (defaults, missing and unexpected
    /// arguments checked). Out of line: `call_lambda`'s plain path stays
    /// small.
    #[inline(never)]
    fn formals_frame(
        &mut self,
        c: &Rc<Closure>,
        formals: &'static compile::Formals,
        arg: Value,
        span: Option<Span>,
    ) -> Result<Env> {
        let def: &'static LambdaDef = c.def;
        let argv = self.force(arg.clone())?;
        let Value::Attrs(a) = &argv else {
            return Err(EvalError::new(
                ErrorKind::Type,
                format!(
                    "value is {} while a set was expected (as the argument of {})",
                    argv.type_name(),
                    lambda_name(def)
                ),
                span,
            ));
        };
        let env = Env::with_capacity(def.nslots as usize, Some(c.env.clone()));
        let used = self.formals_into(def, formals, ArgSet::Set(a), &env, span)?;
        if !formals.ellipsis && used < a.len() {
            for (k, _) in a.entries().iter() {
                if !formals.entries.iter().any(|(n, _)| n == k) {
                    let mut e = EvalError::new(
                        ErrorKind::Type,
                        format!(
                            "{} called with unexpected argument '{}'",
                            lambda_name(def),
                            k
                        ),
                        span,
                    );
                    e.hint = did_you_mean(
                        k,
                        formals
                            .entries
                            .iter()
                            .map(|(n, _)| &**n)
                            .filter(|n| !a.contains(n)),
                    )
                    .or_else(|| {
                        Some(format!(
                            "the function is defined at {}",
                            def.span.location()
                        ))
                    });
                    return Err(e);
                }
            }
        }
        if def.arg.is_some() {
            env.push(arg);
        }
        Ok(env)
    }

    // ---------------------------------------------------------------
    // Operators

    fn eval_binop(
        &mut self,
        op: BinOp,
        l: &'static Expr,
        r: &'static Expr,
        span: Span,
        env: &Env,
    ) -> Result<Value> {
        if matches!(
            op,
            BinOp::And | BinOp::Or | BinOp::Impl | BinOp::PipeRight | BinOp::PipeLeft
        ) {
            return self.eval_logic(op, l, r, span, env);
        }
        let a = self.operand(l, env)?;
        // `acc + s.${k}`: the selection without a level of `eval` (tested
        // here: one more arm in `operand` makes its match a jump table)
        let b = if let Expr::Select { .. } = r {
            self.other_operand(r, env)?
        } else {
            self.operand(r, env)?
        };
        // integer fast path
        if let (Value::Int(x), Value::Int(y)) = (&a, &b) {
            if let Some(v) = int_op(op, *x, *y) {
                return Ok(v);
            }
        }
        self.binop_values(op, a, b, span)
    }

    /// `&&`, `||`, `->` and the pipe operators (short-circuiting, or an
    /// error): out of `eval_binop`, whose other operators are hot.
    #[inline(never)]
    fn eval_logic(
        &mut self,
        op: BinOp,
        l: &'static Expr,
        r: &'static Expr,
        span: Span,
        env: &Env,
    ) -> Result<Value> {
        match op {
            BinOp::And => {
                let a = self.operand(l, env)?;
                if !self.bool_of(&a, l, span)? {
                    return Ok(Value::Bool(false));
                }
                let b = self.operand(r, env)?;
                Ok(Value::Bool(self.bool_of(&b, r, span)?))
            }
            BinOp::Or => {
                let a = self.operand(l, env)?;
                if self.bool_of(&a, l, span)? {
                    return Ok(Value::Bool(true));
                }
                let b = self.operand(r, env)?;
                Ok(Value::Bool(self.bool_of(&b, r, span)?))
            }
            BinOp::Impl => {
                let a = self.operand(l, env)?;
                if !self.bool_of(&a, l, span)? {
                    return Ok(Value::Bool(true));
                }
                let b = self.operand(r, env)?;
                Ok(Value::Bool(self.bool_of(&b, r, span)?))
            }
            BinOp::PipeRight | BinOp::PipeLeft => err(
                ErrorKind::Parse,
                "the pipe operators are not supported (experimental feature 'pipe-operators')",
                span,
            ),
            _ => unreachable!("eval_binop handles the other operators"),
        }
    }

    pub fn binop_values(&mut self, op: BinOp, a: Value, b: Value, span: Span) -> Result<Value> {
        match op {
            BinOp::Add => self.add(a, b, span),
            BinOp::Sub | BinOp::Mul | BinOp::Div => self.arith(op, a, b, span),
            BinOp::Concat => {
                let la = self.expect_list(&a, span)?;
                let lb = self.expect_list(&b, span)?;
                if lb.is_empty() {
                    return Ok(Value::List(la));
                }
                if la.is_empty() {
                    return Ok(Value::List(lb));
                }
                let mut v = Vec::with_capacity(la.len() + lb.len());
                v.extend(la.iter().cloned());
                v.extend(lb.iter().cloned());
                Ok(Value::list(v))
            }
            BinOp::Update => {
                let aa = self.expect_attrs(&a, span)?;
                let ab = self.expect_attrs(&b, span)?;
                if ab.is_empty() {
                    return Ok(Value::Attrs(aa));
                }
                if aa.is_empty() {
                    return Ok(Value::Attrs(ab));
                }
                Ok(Value::attrs(Attrs::update(&aa, &ab)))
            }
            BinOp::Eq => Ok(Value::Bool(self.equal(a, b, span)?)),
            BinOp::NotEq => Ok(Value::Bool(!self.equal(a, b, span)?)),
            BinOp::Less => Ok(Value::Bool(self.less_than(a, b, span)?)),
            BinOp::MoreEq => Ok(Value::Bool(!self.less_than(a, b, span)?)),
            BinOp::More => Ok(Value::Bool(self.less_than(b, a, span)?)),
            BinOp::LessEq => Ok(Value::Bool(!self.less_than(b, a, span)?)),
            _ => unreachable!("short-circuit operators are handled in eval_binop"),
        }
    }

    pub fn arith(&mut self, op: BinOp, a: Value, b: Value, span: Span) -> Result<Value> {
        let (verb, prep) = match op {
            BinOp::Sub => ("subtract", "from"),
            BinOp::Mul => ("multiply", "with"),
            _ => ("divide", "by"),
        };
        match (&a, &b) {
            (Value::Int(x), Value::Int(y)) => {
                let r = match op {
                    BinOp::Sub => x.checked_sub(*y),
                    BinOp::Mul => x.checked_mul(*y),
                    _ => {
                        if *y == 0 {
                            return err(ErrorKind::Other, "division by zero", span);
                        }
                        x.checked_div(*y)
                    }
                };
                match r {
                    Some(r) => Ok(Value::Int(r)),
                    None => {
                        let sym = match op {
                            BinOp::Sub => "-",
                            BinOp::Mul => "*",
                            _ => "/",
                        };
                        err(
                            ErrorKind::Other,
                            format!(
                                "integer overflow in {}ing {} {} {}",
                                verb_ing(verb),
                                x,
                                sym,
                                y
                            ),
                            span,
                        )
                    }
                }
            }
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                let x = as_f64(&a);
                let y = as_f64(&b);
                Ok(Value::Float(match op {
                    BinOp::Sub => x - y,
                    BinOp::Mul => x * y,
                    _ => {
                        if y == 0.0 {
                            return err(ErrorKind::Other, "division by zero", span);
                        }
                        x / y
                    }
                }))
            }
            (Value::Int(_) | Value::Float(_), other) | (other, _) => {
                let _ = prep;
                type_err(
                    format!(
                        "cannot {} {}: value is {} while an integer or float was expected",
                        verb,
                        if matches!(a, Value::Int(_) | Value::Float(_)) {
                            format!("{} {} {}", a.type_name(), prep, other.type_name())
                        } else {
                            format!("{} {} {}", other.type_name(), prep, b.type_name())
                        },
                        other.type_name()
                    ),
                    span,
                )
            }
        }
    }

    /// `+`: numbers add; a path on the left makes a path; otherwise
    /// strings concatenate (copying paths to the store).
    pub fn add(&mut self, a: Value, b: Value, span: Span) -> Result<Value> {
        match (&a, &b) {
            (Value::Str(x), Value::Str(y)) => {
                let mut s = String::with_capacity(x.s.len() + y.s.len());
                s.push_str(&x.s);
                s.push_str(&y.s);
                Ok(Value::str_ctx(s, merge_ctx(&x.ctx, &y.ctx)))
            }
            (Value::Int(x), Value::Int(y)) => match x.checked_add(*y) {
                Some(r) => Ok(Value::Int(r)),
                None => err(
                    ErrorKind::Other,
                    format!("integer overflow in adding {} + {}", x, y),
                    span,
                ),
            },
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                Ok(Value::Float(as_f64(&a) + as_f64(&b)))
            }
            (Value::Int(_) | Value::Float(_), other) => type_err(
                format!("cannot add {} to {}", other.type_name(), a.type_name()),
                span,
            ),
            (Value::Path(p), _) => {
                let s = self.coerce_to_string(b, span, false, false)?;
                if s.ctx.is_some() {
                    return err(
                        ErrorKind::Other,
                        "a string that refers to a store path cannot be appended to a path",
                        span,
                    );
                }
                Ok(Value::Path(
                    compile::canon_path(&format!("{}{}", p, s.s)).into(),
                ))
            }
            (Value::Null | Value::Bool(_) | Value::List(_) | Value::Lambda(_), _)
            | (Value::PrimOp(_) | Value::PrimOpApp(_), _) => type_err(
                format!("cannot add {} to {}", b.type_name(), a.type_name()),
                span,
            ),
            _ => {
                let sa = self.coerce_to_string(a, span, false, true)?;
                let sb = self.coerce_to_string(b, span, false, true)?;
                let mut s = String::with_capacity(sa.s.len() + sb.s.len());
                s.push_str(&sa.s);
                s.push_str(&sb.s);
                Ok(Value::str_ctx(s, merge_ctx(&sa.ctx, &sb.ctx)))
            }
        }
    }

    pub fn equal(&mut self, a: Value, b: Value, span: Span) -> Result<bool> {
        let a = self.force(a)?;
        let b = self.force(b)?;
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.equal_forced(a, b, span))
    }

    fn equal_forced(&mut self, a: Value, b: Value, span: Span) -> Result<bool> {
        Ok(match (&a, &b) {
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                as_f64(&a) == as_f64(&b)
            }
            (Value::Str(x), Value::Str(y)) => x.s == y.s,
            (Value::Path(x), Value::Path(y)) => x == y,
            (Value::Null, Value::Null) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::List(x), Value::List(y)) => {
                if Rc::ptr_eq(x, y) {
                    return Ok(true);
                }
                if x.len() != y.len() {
                    return Ok(false);
                }
                for (p, q) in x.iter().zip(y.iter()) {
                    if !same_value(p, q) && !self.equal(p.clone(), q.clone(), span)? {
                        return Ok(false);
                    }
                }
                true
            }
            (Value::Attrs(x), Value::Attrs(y)) => {
                if Rc::ptr_eq(x, y) {
                    return Ok(true);
                }
                // Derivations compare by output path.
                if self.is_derivation(x)? && self.is_derivation(y)? {
                    if let (Some(p), Some(q)) = (x.get("outPath"), y.get("outPath")) {
                        return self.equal(p.clone(), q.clone(), span);
                    }
                }
                if x.len() != y.len() {
                    return Ok(false);
                }
                for ((k1, v1), (k2, v2)) in x.entries().iter().zip(y.entries().iter()) {
                    if k1 != k2 {
                        return Ok(false);
                    }
                    if !same_value(v1, v2) && !self.equal(v1.clone(), v2.clone(), span)? {
                        return Ok(false);
                    }
                }
                true
            }
            _ => false,
        })
    }

    pub fn is_derivation(&mut self, a: &Attrs) -> Result<bool> {
        match a.get("type") {
            Some(t) => {
                let t = self.force(t.clone())?;
                Ok(matches!(&t, Value::Str(s) if s.s == "derivation"))
            }
            None => Ok(false),
        }
    }

    pub fn less_than(&mut self, a: Value, b: Value, span: Span) -> Result<bool> {
        let a = self.force(a)?;
        let b = self.force(b)?;
        match (&a, &b) {
            (Value::Int(x), Value::Int(y)) => Ok(x < y),
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                Ok(as_f64(&a) < as_f64(&b))
            }
            (Value::Str(x), Value::Str(y)) => Ok(x.s < y.s),
            (Value::Path(x), Value::Path(y)) => Ok(x < y),
            (Value::List(x), Value::List(y)) => {
                for (p, q) in x.iter().zip(y.iter()) {
                    if !self.equal(p.clone(), q.clone(), span)? {
                        return self.less_than(p.clone(), q.clone(), span);
                    }
                }
                Ok(x.len() < y.len())
            }
            _ => type_err(
                format!("cannot compare {} with {}", a.type_name(), b.type_name()),
                span,
            ),
        }
    }

    // ---------------------------------------------------------------
    // Type expectations and coercions

    /// `expect_bool` for the value of `e`, whose span (or else `dflt`)
    /// an error names: computed only on that error path.
    #[inline]
    fn bool_of(&mut self, v: &Value, e: &Expr, dflt: Span) -> Result<bool> {
        match v {
            Value::Bool(b) => Ok(*b),
            _ => self.expect_bool(v, span_or(e.span(), dflt)),
        }
    }

    pub fn expect_bool(&mut self, v: &Value, span: Span) -> Result<bool> {
        if let Value::Bool(b) = v {
            return Ok(*b);
        }
        match self.force(v.clone())? {
            Value::Bool(b) => Ok(b),
            o => type_err(
                format!("value is {} while a Boolean was expected", o.type_name()),
                span,
            ),
        }
    }
    pub fn expect_int(&mut self, v: &Value, span: Span) -> Result<i64> {
        match self.force(v.clone())? {
            Value::Int(i) => Ok(i),
            o => type_err(
                format!("value is {} while an integer was expected", o.type_name()),
                span,
            ),
        }
    }
    pub fn expect_attrs(&mut self, v: &Value, span: Span) -> Result<Rc<Attrs>> {
        match self.force(v.clone())? {
            Value::Attrs(a) => Ok(a),
            o => type_err(
                format!("value is {} while a set was expected", o.type_name()),
                span,
            ),
        }
    }
    pub fn expect_list(&mut self, v: &Value, span: Span) -> Result<Rc<ListVec>> {
        match self.force(v.clone())? {
            Value::List(l) => Ok(l),
            o => type_err(
                format!("value is {} while a list was expected", o.type_name()),
                span,
            ),
        }
    }
    pub fn expect_function(&mut self, v: &Value, span: Span) -> Result<Value> {
        let v = self.force(v.clone())?;
        match &v {
            Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_) => Ok(v),
            Value::Attrs(a) if a.contains("__functor") => Ok(v),
            o => type_err(
                format!("value is {} while a function was expected", o.type_name()),
                span,
            ),
        }
    }
    /// A string value (not coerced).
    pub fn expect_string(&mut self, v: &Value, span: Span) -> Result<Rc<NixString>> {
        match self.force(v.clone())? {
            Value::Str(s) => Ok(s),
            o => type_err(
                format!("value is {} while a string was expected", o.type_name()),
                span,
            ),
        }
    }

    /// Nix's `coerceToString`. `more` enables the extra coercions of
    /// `toString` (numbers, booleans, null, lists); `copy` copies paths
    /// to the store (as string interpolation does).
    pub fn coerce_to_string(
        &mut self,
        v: Value,
        span: Span,
        more: bool,
        copy: bool,
    ) -> Result<NixString> {
        let v = self.force(v)?;
        match &v {
            Value::Str(s) => Ok((**s).clone()),
            Value::Path(p) => {
                if copy {
                    let sp = self.copy_path_to_store(p, span)?;
                    let mut set = BTreeSet::new();
                    set.insert(sp.clone());
                    Ok(NixString {
                        s: sp,
                        ctx: Some(Rc::new(set)),
                    })
                } else {
                    Ok(NixString::plain(&**p))
                }
            }
            Value::Attrs(a) => {
                if let Some(f) = a.get("__toString") {
                    let f = f.clone();
                    let r = self.call(f, v.clone(), Some(span))?;
                    return self.coerce_to_string(r, span, more, copy);
                }
                if let Some(o) = a.get("outPath") {
                    let o = o.clone();
                    return self.coerce_to_string(o, span, more, copy);
                }
                type_err("cannot coerce a set to a string", span)
            }
            Value::Int(i) if more => Ok(NixString::plain(i.to_string())),
            Value::Float(f) if more => Ok(NixString::plain(format!("{:.6}", f))),
            Value::Bool(b) if more => Ok(NixString::plain(if *b { "1" } else { "" })),
            Value::Null if more => Ok(NixString::plain("")),
            Value::List(l) if more => {
                let mut s = String::new();
                let mut ctx: Context = None;
                let n = l.len();
                for (i, x) in l.iter().enumerate() {
                    let x = self.force(x.clone())?;
                    let is_empty_list = matches!(&x, Value::List(y) if y.is_empty());
                    let e = self.coerce_to_string(x, span, more, copy)?;
                    s.push_str(&e.s);
                    ctx = merge_ctx(&ctx, &e.ctx);
                    if i + 1 < n && !is_empty_list {
                        s.push(' ');
                    }
                }
                Ok(NixString { s, ctx })
            }
            o => type_err(format!("cannot coerce {} to a string", o.type_name()), span),
        }
    }

    /// `coerceToPath`: a path value, or a string starting with `/`.
    pub fn coerce_to_path(&mut self, v: Value, span: Span) -> Result<(String, Context)> {
        let s = self.coerce_to_string(v, span, false, false)?;
        if !s.s.starts_with('/') {
            return err(
                ErrorKind::Other,
                format!("string '{}' doesn't represent an absolute path", s.s),
                span,
            );
        }
        self.check_access(&s.s, span)?;
        Ok((s.s, s.ctx))
    }

    /// Fails when restricted evaluation does not allow reading `path`.
    pub fn check_access(&self, path: &str, span: Span) -> Result<()> {
        let Some(allowed) = &self.settings.allowed_paths else {
            return Ok(());
        };
        let p = crate::compile::canon_path(path);
        let inside = allowed.iter().any(|a| {
            let a = a.trim_end_matches('/');
            p == a || (p.starts_with(a) && p.as_bytes().get(a.len()) == Some(&b'/'))
        });
        if inside {
            return Ok(());
        }
        err(
            ErrorKind::Other,
            format!(
                "access to absolute path '{}' is forbidden in pure evaluation mode (a flake may only read its own files and its locked inputs)",
                p
            ),
            span,
        )
    }

    pub fn copy_path_to_store(&mut self, p: &str, span: Span) -> Result<String> {
        crate::store::add_path(self, p, None, true, None, span)
    }

    pub fn trace(&mut self, msg: &str) {
        match &mut self.trace_hook {
            Some(h) => h(msg),
            None => eprintln!("{}", msg),
        }
    }

    // ---------------------------------------------------------------
    // Formals

    /// Push the slots of `formals` (in slot order) onto the new frame
    /// `env`, taken from the argument set or their defaults (evaluated in
    /// `env`); fails on a missing required argument. Returns how many came
    /// from the set.
    fn formals_into(
        &mut self,
        def: &'static LambdaDef,
        formals: &'static compile::Formals,
        arg: ArgSet,
        env: &Env,
        span: Option<Span>,
    ) -> Result<usize> {
        let mut used = 0;
        for (name, default) in &formals.entries {
            let given = match &arg {
                ArgSet::Set(a) => a.get(name).cloned(),
                ArgSet::Literal(lit, outer) => lit
                    .statics
                    .binary_search_by(|b| (*b.name).cmp(name))
                    .ok()
                    .map(|i| self.thunk(&lit.statics[i].value, outer)),
            };
            match given {
                Some(v) => {
                    used += 1;
                    env.push(v)
                }
                None => match default {
                    Some(d) => env.push(self.thunk_unfilled(d, env)),
                    None => {
                        let mut e = EvalError::new(
                            ErrorKind::Type,
                            format!(
                                "{} called without required argument '{}'",
                                lambda_name(def),
                                name
                            ),
                            span.or(Some(def.span)),
                        );
                        e.hint = Some(format!(
                            "the function is defined at {}",
                            def.span.location()
                        ));
                        return Err(e);
                    }
                },
            }
        }
        Ok(used)
    }

    /// `f { a = …; b = …; }` with `f` a lambda with formals and no `@`
    /// binding: the set can never be seen, so the frame is filled straight
    /// from the literal's bindings (the thunks the set would hold) without
    /// building it (module functions called as `m { config = self; }`).
    /// `None` when this does not apply or the call is an error about
    /// unexpected attributes: the general path then reports it.
    fn call_formals_literal(
        &mut self,
        c: &Rc<Closure>,
        lit: &'static AttrsDef,
        env: &Env,
        span: Span,
    ) -> Option<Result<Value>> {
        let def: &'static LambdaDef = c.def;
        let formals = def.formals.as_ref()?;
        if def.arg.is_some() || lit.rec || !lit.dynamics.is_empty() {
            return None;
        }
        if !formals.ellipsis
            && !lit
                .statics
                .iter()
                .all(|b| formals.entries.iter().any(|(n, _)| *n == b.name))
        {
            return None;
        }
        // the frame call_lambda builds for formals
        let new = Env::with_capacity(def.nslots as usize, Some(c.env.clone()));
        let lit = ArgSet::Literal(lit, env);
        if let Err(e) = self.formals_into(def, formals, lit, &new, Some(span)) {
            return Some(Err(e));
        }
        Some(
            self.eval(&def.body, &new)
                .context(|| (calling(def), Some(span))),
        )
    }
}

/// Identity of element values: Nix compares nested elements by pointer
/// first, which makes `[ f ] == [ f ]` true for a function `f`.
/// An integer operand that is already evaluated; `var` reads variables.
#[inline]
fn ready_int<'a>(e: &Expr, var: &impl Fn(u32, u32) -> &'a Value) -> Option<i64> {
    match e {
        Expr::Const(Value::Int(i)) => Some(*i),
        Expr::Var { depth, idx, .. } => match var(*depth, *idx) {
            Value::Int(i) => Some(*i),
            Value::Thunk(t) => match t.done_ref() {
                Some(Value::Int(i)) => Some(*i),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// Evaluate integer arithmetic or comparison on evaluated operands, if
/// it cannot fail (no overflow); `None` means "evaluate it normally" (or
/// "make a thunk", for a strict argument).
#[inline]
fn cheap(e: &Expr, env: &Env) -> Option<Value> {
    cheap_in(e, &|d, i| env.lookup_ref(d, i))
}

/// `cheap` with variables read through `var` (a frame that was not built).
#[inline]
fn cheap_in<'a>(e: &Expr, var: &impl Fn(u32, u32) -> &'a Value) -> Option<Value> {
    // the compiler marked the operators this can compute (`int`)
    let Expr::BinOp {
        op,
        l,
        r,
        int: true,
        ..
    } = e
    else {
        return cheap_prim(e, var);
    };
    let x = ready_int(l, var)?;
    let y = ready_int(r, var)?;
    int_op(*op, x, y)
}

/// The value of an `int_body` (or an operand of one) when every variable
/// it reaches is an integer (or a boolean for an `if`'s condition), with
/// no overflow or division by zero; `None` sends the caller to the
/// general path. It evaluates in the evaluator's order and its only
/// effect is forcing `genList (i: i)` elements (`Thunk::int_now`), each
/// at the point where the general path would force it first: so after a
/// `None`, running the body from the start forces nothing earlier than
/// it would have, and reports any error exactly as before.
fn fast_val<'a>(e: &Expr, var: &impl Fn(u32, u32) -> &'a Value) -> Option<Value> {
    match e {
        Expr::BinOp { op, .. } if is_cmp(*op) => fast_bool(e, var).map(Value::Bool),
        _ => fast_int(e, var).map(Value::Int),
    }
}

#[inline(always)]
fn is_cmp(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Less | BinOp::LessEq | BinOp::More | BinOp::MoreEq | BinOp::Eq | BinOp::NotEq
    )
}

/// `fast_val` of an operand that must be an integer.
fn fast_int<'a>(e: &Expr, var: &impl Fn(u32, u32) -> &'a Value) -> Option<i64> {
    match e {
        Expr::Var { depth, idx, .. } => match var(*depth, *idx) {
            Value::Int(i) => Some(*i),
            Value::Thunk(t) => t.int_now(),
            _ => None,
        },
        Expr::Const(Value::Int(i)) => Some(*i),
        Expr::BinOp { op, l, r, .. } => {
            let x = fast_int(l, var)?;
            let y = fast_int(r, var)?;
            match op {
                BinOp::Add => x.checked_add(y),
                BinOp::Sub => x.checked_sub(y),
                BinOp::Mul => x.checked_mul(y),
                BinOp::Div => x.checked_div(y),
                _ => None,
            }
        }
        Expr::PrimCall {
            args,
            int_op: Some(f),
            ..
        } if args.len() == 2 => {
            let x = fast_int(&args[0], var)?;
            let y = fast_int(&args[1], var)?;
            Some(f(x, y))
        }
        Expr::If {
            cond, then, else_, ..
        } => {
            if fast_bool(cond, var)? {
                fast_int(then, var)
            } else {
                fast_int(else_, var)
            }
        }
        _ => None,
    }
}

/// `fast_val` of an operand that must be a boolean (an `if`'s condition).
fn fast_bool<'a>(e: &Expr, var: &impl Fn(u32, u32) -> &'a Value) -> Option<bool> {
    match e {
        Expr::Var { depth, idx, .. } => match done_or(var(*depth, *idx)) {
            Value::Bool(b) => Some(*b),
            _ => None,
        },
        Expr::BinOp { op, l, r, .. } if is_cmp(*op) => {
            let x = fast_int(l, var)?;
            let y = fast_int(r, var)?;
            Some(match op {
                BinOp::Less => x < y,
                BinOp::LessEq => x <= y,
                BinOp::More => x > y,
                BinOp::MoreEq => x >= y,
                BinOp::Eq => x == y,
                _ => x != y,
            })
        }
        Expr::If {
            cond, then, else_, ..
        } => {
            if fast_bool(cond, var)? {
                fast_bool(then, var)
            } else {
                fast_bool(else_, var)
            }
        }
        _ => None,
    }
}

/// An arithmetic or comparison operator on two integers, when it cannot
/// fail: `None` on overflow, division by zero or any other operator, for
/// the general path to compute or report.
#[inline(always)]
fn int_op(op: BinOp, x: i64, y: i64) -> Option<Value> {
    Some(match op {
        BinOp::Add => Value::Int(x.checked_add(y)?),
        BinOp::Sub => Value::Int(x.checked_sub(y)?),
        BinOp::Mul => Value::Int(x.checked_mul(y)?),
        BinOp::Div => Value::Int(x.checked_div(y)?),
        BinOp::Less => Value::Bool(x < y),
        BinOp::LessEq => Value::Bool(x <= y),
        BinOp::More => Value::Bool(x > y),
        BinOp::Eq => Value::Bool(x == y),
        BinOp::NotEq => Value::Bool(x != y),
        BinOp::MoreEq => Value::Bool(x >= y),
        _ => return None,
    })
}

/// `cheap_in` for `bitAnd x 255` (which cannot fail on integers); out of
/// line, to keep the operator path (sort comparators) short.
#[inline(never)]
fn cheap_prim<'a>(e: &Expr, var: &impl Fn(u32, u32) -> &'a Value) -> Option<Value> {
    let Expr::PrimCall {
        args,
        int_op: Some(f),
        ..
    } = e
    else {
        return None;
    };
    let [a, b] = args.as_slice() else {
        return None;
    };
    Some(Value::Int(f(ready_int(a, var)?, ready_int(b, var)?)))
}

/// `f a b` without cloning or building frames, when `f` is a curried
/// lambda whose body is an integer operator on variables that can be
/// computed directly (a sort comparator); `None` means "use `call2`".
#[inline]
pub(crate) fn cheap_call2(f: &Value, a: &Value, b: &Value) -> Option<Value> {
    let Value::Lambda(c) = f else {
        return None;
    };
    let inner = match (&c.def.formals, &c.def.body) {
        (None, Expr::Lambda(inner)) if inner.pos > 0 && inner.is_last() => inner,
        _ => return None,
    };
    if !cheap_shape(&inner.body) {
        return None;
    }
    cheap_in(&inner.body, &|d, i| unbuilt_var(c, &[a, b], d, i))
}

/// Where the formals of a call take their values from: an evaluated set,
/// or the bindings of a set literal that is never built (with the frame
/// its thunks are evaluated in).
enum ArgSet<'a> {
    Set(&'a Attrs),
    Literal(&'static AttrsDef, &'a Env),
}

/// The slots (and parent) of a new frame for calling the plain closure
/// `c`, with room for `cap` slots: a partial application's bound
/// arguments are copied from its frame, since it may be applied again.
#[inline]
fn new_frame(c: &Closure, cap: usize) -> Env {
    let k = c.def.pos as usize;
    if k == 0 {
        return Env::with_capacity(cap, Some(c.env.clone()));
    }
    let e = Env::with_capacity(cap, c.env.parent().cloned());
    for v in &c.env.slots()[..k] {
        e.push(v.clone());
    }
    e
}

/// Variable (`d`, `i`) of the frame a call of the plain closure `c` with
/// `args` would build, read without building it.
#[inline]
fn unbuilt_var<'a>(c: &'a Closure, args: &[&'a Value], d: u32, i: u32) -> &'a Value {
    let k = c.def.pos;
    if d > 0 {
        // the frame's parent is the closure's frame, or for a partial
        // application the parent of the frame it shares a chain with
        return c.env.lookup_ref(if k == 0 { d - 1 } else { d }, i);
    }
    if i < k {
        &c.env.slots()[i as usize]
    } else {
        args[(i - k) as usize]
    }
}

/// An argument of `Eval::arith_chain_call`: a variable's or constant's
/// value borrowed, or a value of its own.
enum ArgVal<'a> {
    Ref(&'a Value),
    Own(Value),
}

impl ArgVal<'_> {
    #[inline]
    fn get(&self) -> &Value {
        match self {
            ArgVal::Ref(r) => r,
            ArgVal::Own(v) => v,
        }
    }
}

/// The last lambda of the chain starting at `first` (whose body the call
/// of the whole chain runs).
#[inline]
fn chain_last(first: &'static LambdaDef) -> Option<&'static LambdaDef> {
    let mut d = first;
    while !d.is_last() {
        let Expr::Lambda(next) = &d.body else {
            return None;
        };
        d = next;
    }
    Some(d)
}

/// What `arith_next` found: the position of the variable the body forces
/// next, and the lambda applied to the arithmetic (with the application's
/// span), if the body has that form.
#[derive(Clone, Copy)]
struct ArithNext {
    vspan: Span,
    applied: Option<(&'static LambdaDef, Span)>,
}

/// Whether the arithmetic body `ab` of a chain's last lambda, with the
/// chain's slots before `k` bound (read through `var`, as variables of
/// the body's frame), would force slot `k` before anything else that
/// could fail or be observed: the arithmetic before it is on evaluated integers and does
/// not overflow, and the lambda it is applied to (if any) is an evaluated
/// plain lambda that forces its argument first. Then evaluating the
/// argument at the call is what the body would do first anyway.
///
/// `st` is where the code stopped for the previous argument (its state
/// then stays valid: the slots and evaluated values it read never change).
fn arith_next<'a>(
    ab: &'static compile::ArithBody,
    k: u32,
    var: &impl Fn(u32, u32) -> Option<&'a Value>,
    st: &mut ArithState,
) -> Option<ArithNext> {
    let applied = match ab.applied {
        Some((d, i, aspan)) => {
            let Value::Lambda(c) = done_or(var(d, i)?) else {
                return None;
            };
            let fd: &'static LambdaDef = c.def;
            if fd.formals.is_some()
                || !fd.strict_arg
                || !matches!(fd.first_forced, Some((p, _)) if p == fd.pos)
            {
                return None;
            }
            Some((fd, aspan))
        }
        None => None,
    };
    match run_arith(&ab.code, k, var, st) {
        Arith::Reached(vspan) => Some(ArithNext { vspan, applied }),
        _ => None,
    }
}

enum Arith {
    Int(i64),
    /// Slot `k` of the frame is forced here (a variable at this span).
    Reached(Span),
    Fail,
}

/// Run `ArithBody::code`: `Int` when every variable is an evaluated
/// integer and no operation overflows, `Reached` when the code gets to
/// slot `k` of the frame (depth 0) before either happens, else `Fail`.
/// Where `run_arith` stopped: the next step and the stack.
#[derive(Default, Clone, Copy)]
struct ArithState {
    pc: usize,
    n: usize,
    st: [i64; compile::ARITH_STACK],
}

#[inline]
fn run_arith<'a>(
    code: &[compile::AOp],
    k: u32,
    var: &impl Fn(u32, u32) -> Option<&'a Value>,
    state: &mut ArithState,
) -> Arith {
    use compile::AOp;
    // `n` stays below ARITH_STACK (the compiler checked the code), so
    // masking the index only drops bounds checks
    const M: usize = compile::ARITH_STACK - 1;
    let ArithState { pc, mut n, mut st } = *state;
    macro_rules! bin {
        ($f:expr) => {{
            let (x, y) = (st[(n.wrapping_sub(2)) & M], st[(n.wrapping_sub(1)) & M]);
            let Some(v) = $f(x, y) else {
                return Arith::Fail;
            };
            n -= 1;
            st[(n.wrapping_sub(1)) & M] = v;
        }};
    }
    let mut at = pc;
    while at < code.len() {
        // SAFETY: `at < code.len()`
        let op = unsafe { code.get_unchecked(at) };
        at += 1;
        match op {
            AOp::Var { depth, idx, span } => {
                if *depth == 0 && *idx == k {
                    *state = ArithState { pc: at - 1, n, st };
                    return Arith::Reached(*span);
                }
                let Some(Value::Int(i)) = var(*depth, *idx).map(done_or) else {
                    return Arith::Fail;
                };
                st[n & M] = *i;
                n += 1;
            }
            AOp::Int(i) => {
                st[n & M] = *i;
                n += 1;
            }
            AOp::AddVar { depth, idx, span }
            | AOp::AddMulVar {
                depth, idx, span, ..
            } => {
                if *depth == 0 && *idx == k {
                    *state = ArithState { pc: at - 1, n, st };
                    return Arith::Reached(*span);
                }
                let Some(Value::Int(x)) = var(*depth, *idx).map(done_or) else {
                    return Arith::Fail;
                };
                let y = match op {
                    AOp::AddMulVar { c, .. } => match x.checked_mul(*c) {
                        Some(y) => y,
                        None => return Arith::Fail,
                    },
                    _ => *x,
                };
                let top = &mut st[n.wrapping_sub(1) & M];
                match top.checked_add(y) {
                    Some(v) => *top = v,
                    None => return Arith::Fail,
                }
            }
            AOp::Add => bin!(i64::checked_add),
            AOp::Sub => bin!(i64::checked_sub),
            AOp::Mul => bin!(i64::checked_mul),
            AOp::Div => bin!(i64::checked_div),
            AOp::Prim(f) => bin!(|x, y| Some(f(x, y))),
        }
    }
    if n == 1 {
        Arith::Int(st[0])
    } else {
        Arith::Fail
    }
}

/// The arguments of a primop call, on the stack (pushed one by one:
/// `SmallVec`'s `extend`/`collect` cost ~90 instructions a call).
type PrimArgs = smallvec::SmallVec<[Value; 4]>;

/// A frame kept between calls of `Eval::call_in` / `Eval::call2_in`.
#[derive(Default)]
pub struct Frames {
    frame: Option<Env>,
    /// The closure environment the frame was built for (kept alive, so
    /// that a pointer comparison identifies it).
    owner: Option<Env>,
}

impl Frames {
    /// The previous call's frame, when nothing captured it and it was
    /// built for a closure over `env` (so its other slots are right).
    fn take(&mut self, env: &Env) -> Option<Env> {
        let f = self.frame.take()?;
        let same = self.owner.as_ref().is_some_and(|o| Env::ptr_eq(o, env));
        (same && f.is_unique()).then_some(f)
    }
}

/// Whether `cheap` may succeed on `e`: an operator on variables and
/// integer constants.
#[inline]
fn cheap_shape(e: &Expr) -> bool {
    let simple = |x: &Expr| matches!(x, Expr::Var { .. } | Expr::Const(Value::Int(_)));
    match e {
        Expr::BinOp { int, .. } => *int,
        Expr::PrimCall {
            args,
            int_op: Some(_),
            ..
        } => args.iter().all(simple),
        _ => false,
    }
}

/// A value, or the value of an evaluated thunk.
#[inline]
fn done_or(v: &Value) -> &Value {
    match v {
        Value::Thunk(t) => t.done_ref().unwrap_or(v),
        _ => v,
    }
}

/// `toString arg` with `toString` the primop, resolved at compile time or
/// held by a variable: the primop's function, the argument and the
/// application's span.
#[inline(always)]
fn to_string_arg(x: &'static Expr, env: &Env) -> Option<(PrimFn, &'static Expr, Span)> {
    let Expr::Apply { f, arg, span } = x else {
        return None;
    };
    let op = match &**f {
        Expr::Const(Value::PrimOp(op)) | Expr::Folded(Value::PrimOp(op), _) => op,
        // `inherit (builtins) toString;`: a variable holding the primop
        Expr::Var { depth, idx, .. } => match env.lookup_ref(*depth, *idx) {
            Value::PrimOp(op) => op,
            Value::Thunk(t) => match t.done_ref() {
                Some(Value::PrimOp(op)) => op,
                _ => return None,
            },
            _ => return None,
        },
        _ => return None,
    };
    (op.name == "toString" && op.arity == 1).then_some((op.f, &**arg, *span))
}

/// An integer in decimal, as `toString` writes it (two digits a step).
#[inline(always)]
fn push_int(s: &mut String, i: i64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut buf = [0u8; 20];
    let mut n = i.unsigned_abs();
    let mut p = buf.len();
    while n >= 100 {
        let d = (n % 100) as usize * 2;
        n /= 100;
        p -= 2;
        buf[p..p + 2].copy_from_slice(&PAIRS[d..d + 2]);
    }
    if n >= 10 {
        let d = n as usize * 2;
        p -= 2;
        buf[p..p + 2].copy_from_slice(&PAIRS[d..d + 2]);
    } else {
        p -= 1;
        buf[p] = b'0' + n as u8;
    }
    if i < 0 {
        s.push('-');
    }
    // only ASCII digits were written
    s.push_str(std::str::from_utf8(&buf[p..]).unwrap_or_default());
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Thunk(x), Value::Thunk(y)) => Thunk::ptr_eq(x, y),
        (Value::Lambda(x), Value::Lambda(y)) => Rc::ptr_eq(x, y),
        (Value::PrimOp(x), Value::PrimOp(y)) => Rc::ptr_eq(x, y),
        _ => false,
    }
}

fn verb_ing(v: &str) -> String {
    match v {
        "subtract" => "subtract".into(),
        "multiply" => "multiply".into(),
        _ => "divid".into(),
    }
}

fn op_span() -> Span {
    Span {
        file: crate::error::FileId(u32::MAX),
        start: 0,
        end: 0,
    }
}

pub fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => 0.0,
    }
}

/// The trace line of a call: "while calling 'f'".
fn calling(def: &LambdaDef) -> String {
    match &*def.name.borrow() {
        Some(n) => format!("while calling '{}'", n),
        None => "while calling a function".to_string(),
    }
}

fn lambda_name(def: &LambdaDef) -> String {
    match &*def.name.borrow() {
        Some(n) => format!("function '{}'", n),
        None => "anonymous function".to_string(),
    }
}

fn path_string(path: &[AttrKey], upto: usize, last: &str) -> String {
    let mut s = String::new();
    for k in &path[..upto] {
        if let AttrKey::Static(n) = k {
            s.push_str(n);
        } else {
            s.push_str("${…}");
        }
        s.push('.');
    }
    s.push_str(last);
    s
}

/// "Did you mean …?" from the closest names by edit distance.
pub fn did_you_mean<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut scored: Vec<(usize, &str)> = candidates
        .map(|c| (levenshtein(name, c), c))
        .filter(|(d, c)| *d <= 2.max(name.len().min(c.len()) / 3))
        .collect();
    scored.sort();
    scored.dedup();
    let best: Vec<&str> = scored.iter().take(3).map(|(_, c)| *c).collect();
    match best.len() {
        0 => None,
        1 => Some(format!("Did you mean {}?", best[0])),
        _ => Some(format!(
            "Did you mean one of {} or {}?",
            best[..best.len() - 1].join(", "),
            best[best.len() - 1]
        )),
    }
}

pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = if a[i - 1] == b[j - 1] { 0 } else { 1 };
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}
