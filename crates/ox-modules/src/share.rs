//! Option declarations shared between evaluations of the same module.
//!
//! A fleet evaluates the same module functions once per host (and a
//! submodule's function once per element). The `options` of such a
//! function are mostly the same for every call: `mkOption { type =
//! types.port; default = 2000; }` reads nothing of the call but `lib`.
//! When the code of `options` (or of some of its attributes) refers to
//! nothing of the call but `lib` — no other argument (`config`, `name`,
//! `options`, specialArgs), no `let` binding or `with` that does — its
//! value is the same for every call with the same `lib`, so the value of
//! the first call is used again (and the option declarations, their
//! types and the submodule functions in them are the same objects).
//!
//! This module owns that analysis of a module function's compiled code
//! (ox-eval's `Expr`, read-only) and the cache. It must not know about
//! the option tree. The analysis is conservative: anything it does not
//! understand (a `rec` set, a dynamic attribute name, a plain `args:`
//! function) is evaluated per call, as before.
//!
//! One difference can be observed: a `builtins.trace` in the shared part
//! prints once, not once per call.

use std::cell::RefCell;
use std::rc::Rc;

use rustc_hash::FxHashMap as HashMap;

use ox_eval::compile::{AttrKey, Binding, Expr, LambdaDef, StrPart};
use ox_eval::value::{Attrs, Sym};
use ox_eval::{Eval, Result, Value};

use crate::util::force_attrs;

/// What of an expression is the same for every call of its function.
#[derive(Debug, PartialEq)]
pub enum Plan {
    /// Evaluated per call.
    Fresh,
    /// Shared.
    Shared,
    /// A set literal (not `rec`, static names) some of whose attributes
    /// are shared (in name order, as the literal's attributes).
    Set(Vec<(Sym, Plan)>),
}

/// A frame of the environment between the module function's call and its
/// `options` attribute.
enum Frame {
    /// The function's own frame; the slot of its `lib` formal.
    Lambda(Option<u32>),
    Let(&'static [Binding]),
    With(&'static Expr),
}

struct Analysis {
    /// Outermost (the call) first.
    frames: Vec<Frame>,
    /// `let` bindings (frame, slot) and `with` namespaces (frame,
    /// u32::MAX): whether they are the same for every call. A binding
    /// still being analysed counts as not shared (a cycle of bindings is
    /// then, conservatively, per call).
    memo: HashMap<(usize, u32), Option<bool>>,
}

impl Analysis {
    /// Whether `e` — evaluated below `local` frames of its own, inside the
    /// first `upto` frames of `self.frames` — is the same for every call.
    fn shared(&mut self, e: &'static Expr, local: u32, upto: usize) -> bool {
        match e {
            Expr::Const(_) | Expr::Folded(..) | Expr::CurPos(_) => true,
            Expr::Var { depth, idx, .. } => {
                *depth < local || self.var_shared((*depth - local) as usize, *idx, upto)
            }
            Expr::WithVar { withs, .. } => withs
                .iter()
                .all(|w| *w < local || self.with_shared((*w - local) as usize, upto)),
            Expr::Str { parts, .. } | Expr::Path { parts, .. } => parts.iter().all(|p| match p {
                StrPart::Lit(_) => true,
                StrPart::Expr(x) => self.shared(x, local, upto),
            }),
            Expr::Attrs(a) => {
                let inner = if a.rec { local + 1 } else { local };
                a.statics.iter().all(|b| {
                    let l = if b.inherited { local } else { inner };
                    self.shared(&b.value, l, upto)
                }) && a
                    .dynamics
                    .iter()
                    .all(|(n, v, _)| self.shared(n, inner, upto) && self.shared(v, inner, upto))
            }
            Expr::List(xs) => xs.iter().all(|x| self.shared(x, local, upto)),
            Expr::Select {
                e, path, default, ..
            } => {
                self.shared(e, local, upto)
                    && self.keys_shared(path, local, upto)
                    && default.as_ref().is_none_or(|d| self.shared(d, local, upto))
            }
            Expr::HasAttr { e, path, .. } => {
                self.shared(e, local, upto) && self.keys_shared(path, local, upto)
            }
            Expr::Lambda(l) => self.lambda_shared(l, local, upto),
            Expr::Apply { f, arg, .. } => {
                self.shared(f, local, upto) && self.shared(arg, local, upto)
            }
            Expr::PrimCall { args, .. } => args.iter().all(|x| self.shared(x, local, upto)),
            Expr::Call { f, args, .. } => {
                self.shared(f, local, upto) && args.iter().all(|(x, _)| self.shared(x, local, upto))
            }
            Expr::Let { binds, body } => {
                binds.iter().all(|b| {
                    let l = if b.inherited { local } else { local + 1 };
                    self.shared(&b.value, l, upto)
                }) && self.shared(body, local + 1, upto)
            }
            Expr::With { ns, body, .. } => {
                self.shared(ns, local, upto) && self.shared(body, local + 1, upto)
            }
            Expr::If {
                cond, then, else_, ..
            } => {
                self.shared(cond, local, upto)
                    && self.shared(then, local, upto)
                    && self.shared(else_, local, upto)
            }
            Expr::Assert { cond, body, .. } => {
                self.shared(cond, local, upto) && self.shared(body, local, upto)
            }
            Expr::BinOp { l, r, .. } => self.shared(l, local, upto) && self.shared(r, local, upto),
            Expr::Not(x, _) | Expr::Neg(x, _) => self.shared(x, local, upto),
        }
    }

    fn keys_shared(&mut self, path: &'static [AttrKey], local: u32, upto: usize) -> bool {
        path.iter().all(|k| match k {
            AttrKey::Static(_) => true,
            AttrKey::Dynamic(x) => self.shared(x, local, upto),
        })
    }

    fn lambda_shared(&mut self, l: &'static LambdaDef, local: u32, upto: usize) -> bool {
        // A plain lambda after the first of a curried chain (`a: b: …`,
        // `pos > 0`) binds its argument in the chain's frame: no frame
        // of its own.
        let inner = if l.formals.is_none() && l.pos > 0 {
            local
        } else {
            local + 1
        };
        let defaults = match &l.formals {
            Some(f) => f
                .entries
                .iter()
                .all(|(_, d)| d.as_ref().is_none_or(|d| self.shared(d, inner, upto))),
            None => true,
        };
        defaults && self.shared(&l.body, inner, upto)
    }

    /// Variable `idx` of the frame `k` frames out from the first `upto`.
    fn var_shared(&mut self, k: usize, idx: u32, upto: usize) -> bool {
        if k >= upto {
            // the function's own environment: the same for every call
            return true;
        }
        let j = upto - 1 - k;
        match self.frames[j] {
            Frame::Lambda(lib) => lib == Some(idx),
            Frame::Let(binds) => {
                if let Some(r) = self.memo.get(&(j, idx)) {
                    return r.unwrap_or(false);
                }
                self.memo.insert((j, idx), None);
                let r = match binds.get(idx as usize) {
                    // `inherit x;` is evaluated in the frame around
                    Some(b) if b.inherited => self.shared(&b.value, 0, j),
                    Some(b) => self.shared(&b.value, 0, j + 1),
                    None => false,
                };
                self.memo.insert((j, idx), Some(r));
                r
            }
            Frame::With(_) => false,
        }
    }

    /// The namespace of the `with` frame `k` frames out from the first
    /// `upto`.
    fn with_shared(&mut self, k: usize, upto: usize) -> bool {
        if k >= upto {
            return true;
        }
        let j = upto - 1 - k;
        let Frame::With(ns) = self.frames[j] else {
            return false;
        };
        if let Some(r) = self.memo.get(&(j, u32::MAX)) {
            return r.unwrap_or(false);
        }
        self.memo.insert((j, u32::MAX), None);
        let r = self.shared(ns, 0, j);
        self.memo.insert((j, u32::MAX), Some(r));
        r
    }

    fn plan(&mut self, e: &'static Expr, upto: usize) -> Plan {
        if self.shared(e, 0, upto) {
            return Plan::Shared;
        }
        match e {
            Expr::Attrs(a) if !a.rec && a.dynamics.is_empty() => {
                let parts: Vec<(Sym, Plan)> = a
                    .statics
                    .iter()
                    .map(|b| (b.name, self.plan(&b.value, upto)))
                    .collect();
                if parts.iter().all(|(_, p)| *p == Plan::Fresh) {
                    Plan::Fresh
                } else {
                    Plan::Set(parts)
                }
            }
            _ => Plan::Fresh,
        }
    }
}

/// The plan for the `options` of a module function: its body is `let`s and
/// `with`s around a set literal with an `options` attribute.
pub fn analyze(def: &'static LambdaDef) -> Plan {
    let Some(formals) = &def.formals else {
        return Plan::Fresh;
    };
    let lib = formals
        .entries
        .iter()
        .position(|(n, _)| *n == "lib")
        .map(|i| i as u32);
    let mut frames = vec![Frame::Lambda(lib)];
    let mut e = &def.body;
    let set = loop {
        match e {
            Expr::Let { binds, body } => {
                frames.push(Frame::Let(binds));
                e = body;
            }
            Expr::With { ns, body, .. } => {
                frames.push(Frame::With(ns));
                e = body;
            }
            Expr::Attrs(a) if !a.rec && a.dynamics.is_empty() => break a,
            _ => return Plan::Fresh,
        }
    };
    let Some(opts) = set.statics.iter().find(|b| b.name == "options") else {
        return Plan::Fresh;
    };
    let upto = frames.len();
    let mut a = Analysis {
        frames,
        memo: HashMap::default(),
    };
    a.plan(&opts.value, upto)
}

struct Entry {
    /// Kept so that the addresses in the key stay theirs.
    _function: Value,
    _lib: Value,
    /// The first call's `options`.
    options: Value,
}

thread_local! {
    /// Plans by function code.
    static PLANS: RefCell<HashMap<usize, Rc<Plan>>> = RefCell::new(HashMap::default());
    /// The first call's `options` by (code, environment, `lib`).
    static SHARED: RefCell<HashMap<(usize, usize, usize), Rc<Entry>>> =
        RefCell::new(HashMap::default());
}

thread_local! {
    /// Option sets handed out as shared (by address), kept: an address
    /// here is that set's for as long as it is here. Declaration indexes
    /// built from such sets are cached (`modules::decl_index_for`).
    static STABLE: RefCell<HashMap<usize, Rc<Attrs>>> = RefCell::new(HashMap::default());
}

/// Whether `a` is a set of option declarations that share handed out as
/// the same for every call (or one registered with `register`).
pub fn is_stable(a: &Rc<Attrs>) -> bool {
    STABLE.with(|s| s.borrow().contains_key(&(Rc::as_ptr(a) as usize)))
}

/// Registers `v` (a set, or an evaluated thunk of one) as stable.
pub fn register(v: &Value) {
    let a = match v {
        Value::Attrs(a) => a,
        Value::Thunk(t) => match t.done_ref() {
            Some(Value::Attrs(a)) => a,
            _ => return,
        },
        _ => return,
    };
    STABLE.with(|s| {
        let mut s = s.borrow_mut();
        let k = Rc::as_ptr(a) as usize;
        if !s.contains_key(&k) {
            // (bounded, as the cache whose values these are)
            if s.len() >= 4 * MAX_ENTRIES {
                s.clear();
            }
            s.insert(k, a.clone());
        }
    });
}

/// Bound on the cache: functions created per evaluation (a submodule's,
/// when the options around it are not shared) would otherwise pile up.
const MAX_ENTRIES: usize = 4096;

/// The `options` of module `m` = `f args` for the call's `lib`: the first
/// call's value for what is the same for every call, `fresh` (this call's)
/// for the rest.
pub fn options(ev: &mut Eval, f: &Value, lib: &Value, fresh: &Value) -> Result<Value> {
    let (Value::Lambda(c), Value::Attrs(l)) = (f, lib) else {
        return Ok(fresh.clone());
    };
    let def = c.def as *const LambdaDef as usize;
    let plan = PLANS.with(|p| {
        p.borrow_mut()
            .entry(def)
            .or_insert_with(|| Rc::new(analyze(c.def)))
            .clone()
    });
    if *plan == Plan::Fresh {
        return Ok(fresh.clone());
    }
    let k = (def, c.env.addr(), Rc::as_ptr(l) as usize);
    let cached = SHARED.with(|s| s.borrow().get(&k).cloned());
    match cached {
        Some(e) => combine(ev, &plan, &e.options, fresh),
        None => {
            SHARED.with(|s| {
                let mut s = s.borrow_mut();
                if s.len() >= MAX_ENTRIES {
                    s.clear();
                }
                s.insert(
                    k,
                    Rc::new(Entry {
                        _function: f.clone(),
                        _lib: lib.clone(),
                        options: fresh.clone(),
                    }),
                );
            });
            Ok(fresh.clone())
        }
    }
}

/// `fresh` with its shared parts taken from `cached` (both values of the
/// same code; set literals, so forcing them evaluates nothing else).
fn combine(ev: &mut Eval, plan: &Plan, cached: &Value, fresh: &Value) -> Result<Value> {
    match plan {
        Plan::Fresh => Ok(fresh.clone()),
        Plan::Shared => {
            register(cached);
            Ok(cached.clone())
        }
        Plan::Set(parts) => {
            let c = force_attrs(ev, cached, "options")?;
            let f = force_attrs(ev, fresh, "options")?;
            let (ce, fe) = (c.entries(), f.entries());
            // Both are the literal's attributes in its order, as `parts`
            // (the rule): pair them up without looking names up.
            if ce.len() == parts.len()
                && fe.len() == parts.len()
                && parts
                    .iter()
                    .zip(ce.iter().zip(fe))
                    .all(|((p, _), ((c, _), (f, _)))| std::ptr::eq(*p, *c) && std::ptr::eq(*p, *f))
            {
                let mut e: Vec<(Sym, Value)> = Vec::with_capacity(fe.len());
                for ((k, p), ((_, cv), (_, fv))) in parts.iter().zip(ce.iter().zip(fe)) {
                    e.push((*k, combine(ev, p, cv, fv)?));
                }
                let mut a = Attrs::from_sorted(e);
                a.positions = f.positions.clone();
                return Ok(Value::attrs(a));
            }
            let mut e: Vec<(Sym, Value)> = Vec::with_capacity(f.entries().len());
            for (k, v) in f.entries() {
                let p = parts.iter().find(|(n, _)| n == k).map(|(_, p)| p);
                let x = match (p, c.get(k)) {
                    (Some(p), Some(cv)) => combine(ev, p, cv, v)?,
                    _ => v.clone(),
                };
                e.push((*k, x));
            }
            let mut a = Attrs::from_sorted(e);
            a.positions = f.positions.clone();
            Ok(Value::attrs(a))
        }
    }
}
