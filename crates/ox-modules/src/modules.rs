//! `lib.evalModules`, natively: module collection (imports,
//! disabledModules, keys), the lazy per-node merge of declarations and
//! definitions, property handling (mkIf, mkMerge, mkOverride, mkOrder),
//! option evaluation and the `config` fixpoint.
//!
//! Laziness follows nixpkgs: the attribute names of `config` at a level
//! are the names declared there, each value is a thunk; whether a name is
//! an option or a nested set is decided when that value is forced; the
//! definitions at a level are grouped (which forces the structure, not
//! the values, of every module's `config` there) when the first child
//! asks for them.

use std::cell::{Cell, OnceCell, RefCell};

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use smallvec::{smallvec, SmallVec};
use std::path::Path;
use std::rc::{Rc, Weak};

use ox_eval::error::{AddContext, ErrorKind, EvalError, Span};
use ox_eval::value::{sym, Attrs, Positions, Sym, Thunk};
use ox_eval::{Eval, Result, Value};

use crate::share;
use crate::types;
use crate::util::*;

thread_local! {
    /// The `lib` the current evaluation was started from (submodule
    /// types start nested evaluations with it).
    pub static LIB: RefCell<Value> = const { RefCell::new(Value::Null) };
    /// Options whose values are being computed, outermost first (for
    /// infinite-recursion reports).
    static OPT_STACK: RefCell<Vec<Rc<Opt>>> = const { RefCell::new(Vec::new()) };
}

pub const UNKNOWN_FILE: &str = "<unknown-file>";

pub fn current_lib() -> Value {
    LIB.with(|l| l.borrow().clone())
}

// ----------------------------------------------------------------------
// Evaluation state

/// One evaluation. Ownership runs one way so that no reference cycle
/// keeps an evaluation alive: the result and every node of the option
/// tree own the `Sys`; the `Sys` owns its modules and points at its root
/// only weakly (rebuilding it if it was dropped); the module arguments
/// (`config`, `options`, `_module.args` formals), which live in the
/// environments of the modules' thunks, reach it through a `Handle`.
pub struct Sys {
    lib: Value,
    special: Rc<Attrs>,
    prefix: Loc,
    class: Option<String>,
    /// The arguments evalModules was called with (for extendModules).
    orig: Rc<Attrs>,
    base_args: OnceCell<Value>,
    modules: OnceCell<Rc<Vec<Rc<Module>>>>,
    root: RefCell<Weak<Node>>,
    handle: Rc<Handle>,
    /// Set while `config` is being built (a module whose structure needs
    /// `config` to build it is an infinite recursion).
    building: Cell<bool>,
    /// Whether `config` has a freeform part (known once it was built).
    freeform: Cell<bool>,
    /// `_module.freeformType` is known to be null.
    no_freeform: Cell<bool>,
    /// `plain_module_defs`, once known.
    module_defs: OnceCell<Option<Rc<PlainModuleDefs>>>,
    /// `lib_arg`, once known.
    lib_arg: OnceCell<Option<Value>>,
    /// The address of the internal module's `_module` definition (its
    /// `args` are `extendModules` and `moduleType` only).
    internal_args: Cell<usize>,
}

/// The definitions of `_module`, each a plain set (see
/// `Sys::plain_module_defs`).
type PlainModuleDefs = SmallVec<[(RawDef, Rc<Attrs>); 4]>;

/// What the module arguments hold instead of the evaluation: the `Sys`
/// weakly, and the `config`/`options` sets weakly. Once the `Sys` is
/// gone (nothing in the option tree is unforced any more), a thunk that
/// still reads `config` gets a set that is still alive (whose values are
/// then computed), or — when the caller kept none of them — a new
/// evaluation of the same arguments (pure, so the same values; counted
/// by `rebuilds`).
struct Handle {
    sys: Weak<Sys>,
    lib: Value,
    orig: Rc<Attrs>,
    /// `config` with `_module`.
    config: WeakMemo,
    /// The result's `config` (without `_module`).
    result: WeakMemo,
    options: WeakMemo,
    rebuilt: RefCell<Option<Rc<Sys>>>,
}

thread_local! {
    /// The names of the module arguments, sorted.
    static ARG_NAMES: [Sym; 6] = {
        let n = [
            sym("_class"),
            sym("_prefix"),
            sym("config"),
            sym("lib"),
            sym("options"),
            sym("specialArgs"),
        ];
        debug_assert!(n.windows(2).all(|w| w[0] < w[1]));
        n
    };
    /// The loaded module of `types::is_name_default_module` (first of the
    /// top-level modules of an evaluation).
    static NAME_DEFAULT: RefCell<Option<Rc<Module>>> = const { RefCell::new(None) };
    /// The last `config` sets built from a result's `config` (see
    /// `Sys::config_set`).
    static KEPT_CONFIG: RefCell<[Option<Value>; 2]> = const { RefCell::new([None, None]) };
}

thread_local! {
    static REBUILDS: Cell<usize> = const { Cell::new(0) };
}

/// How many evaluations were rebuilt because a thunk read `config` after
/// its evaluation had been dropped (see `Handle`).
pub fn rebuilds() -> usize {
    REBUILDS.with(|r| r.get())
}

impl Handle {
    fn live(&self, ev: &mut Eval) -> Result<Rc<Sys>> {
        if let Some(s) = self.sys.upgrade() {
            return Ok(s);
        }
        if let Some(s) = self.rebuilt.borrow().as_ref() {
            return Ok(s.clone());
        }
        REBUILDS.with(|r| r.set(r.get() + 1));
        let s = Sys::new(ev, self.lib.clone(), self.orig.clone(), None)?;
        *self.rebuilt.borrow_mut() = Some(s.clone());
        Ok(s)
    }

    /// The module argument `config`.
    fn config(self: &Rc<Self>, ev: &mut Eval) -> Result<Value> {
        if let Some(s) = self.sys.upgrade() {
            return s.config_set(ev);
        }
        if let Some(c) = self.config.get() {
            return Ok(c);
        }
        if let Some(r) = self.result.get() {
            // The result lacks `_module`: rebuild only if it is read.
            let me = self.clone();
            let m = lazy(move |ev| {
                let c = me.live(ev)?.config_set(ev)?;
                let c = force_attrs(ev, &c, "config")?;
                ev.force(c.get("_module").cloned().unwrap_or(Value::Null))
            });
            let Value::Attrs(ra) = &r else {
                return Ok(r);
            };
            return Ok(Value::attrs(Attrs::update(
                ra,
                &Attrs::from_sorted(vec![(sym("_module"), m)]),
            )));
        }
        self.live(ev)?.config_set(ev)
    }

    /// The module argument `options`.
    fn options(self: &Rc<Self>, ev: &mut Eval) -> Result<Value> {
        if self.sys.upgrade().is_none() {
            if let Some(o) = self.options.get() {
                return Ok(o);
            }
        }
        self.live(ev)?.options_set(ev)
    }
}

pub struct Module {
    pub file: Rc<str>,
    pub key: Rc<str>,
    pub class: Option<String>,
    pub disabled: Vec<Value>,
    pub imports: Vec<Value>,
    pub options: Value,
    pub configs: Vec<Value>,
}

#[derive(Clone)]
pub enum Wrap {
    If(Value),
    Override(Value),
}

/// A definition before properties are discharged.
#[derive(Clone)]
pub struct RawDef {
    pub file: Rc<str>,
    pub pos: Option<Span>,
    pub value: Value,
    pub wraps: Rc<Vec<Wrap>>,
}

thread_local! {
    static NO_WRAPS: Rc<Vec<Wrap>> = Rc::new(Vec::new());
    /// An option's `default`: an `mkOptionDefault` definition.
    static DEFAULT_WRAPS: Rc<Vec<Wrap>> = Rc::new(vec![Wrap::Override(Value::Int(1500))]);
}

thread_local! {
    static EMPTY_ATTRS: Value = attrs(vec![]);
}

/// `{ }` (shared).
fn empty_attrs() -> Value {
    EMPTY_ATTRS.with(|e| e.clone())
}

fn strings(v: &[Rc<str>]) -> Vec<String> {
    v.iter().map(|f| f.to_string()).collect()
}

/// Loaded modules by key: a few (a submodule element's) scanned, many
/// hashed.
enum KeyIndex {
    Few(SmallVec<[(Rc<str>, usize); 8]>),
    Many(HashMap<Rc<str>, usize>),
}

impl KeyIndex {
    fn with_capacity(n: usize) -> KeyIndex {
        if n <= 8 {
            KeyIndex::Few(SmallVec::new())
        } else {
            KeyIndex::Many(HashMap::with_capacity_and_hasher(n, Default::default()))
        }
    }

    fn get(&self, k: &str) -> Option<usize> {
        match self {
            KeyIndex::Few(v) => v.iter().find(|(x, _)| **x == *k).map(|(_, i)| *i),
            KeyIndex::Many(m) => m.get(k).copied(),
        }
    }

    fn insert(&mut self, k: Rc<str>, i: usize) {
        match self {
            KeyIndex::Few(v) if v.len() < 8 => v.push((k, i)),
            KeyIndex::Few(v) => {
                let mut m: HashMap<Rc<str>, usize> = v.drain(..).collect();
                m.insert(k, i);
                *self = KeyIndex::Many(m);
            }
            KeyIndex::Many(m) => {
                m.insert(k, i);
            }
        }
    }
}

/// nixpkgs' key of an anonymous module: `PARENT:anon-N` (without
/// `format!`, which showed in profiles: every submodule element has five).
fn anon_key(parent: &str, n: usize) -> Rc<str> {
    let mut digits = [0u8; 20];
    let (mut i, mut n) = (digits.len(), n);
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = std::str::from_utf8(&digits[i..]).unwrap_or("0");
    // (built on the stack when short: one allocation, the `Rc`'s)
    let mut buf = [0u8; 96];
    let len = parent.len() + ":anon-".len() + digits.len();
    if len <= buf.len() {
        let mut at = 0;
        for part in [parent, ":anon-", digits] {
            buf[at..at + part.len()].copy_from_slice(part.as_bytes());
            at += part.len();
        }
        if let Ok(k) = std::str::from_utf8(&buf[..len]) {
            return k.into();
        }
    }
    let mut k = String::with_capacity(len);
    k.push_str(parent);
    k.push_str(":anon-");
    k.push_str(digits);
    k.into()
}

/// `a.position(k)` for `k`, the `i`-th of `a.entries()`: a set written
/// as a literal has its attributes in the literal's order, so that is the
/// `i`-th binding's position, without searching for it (once per
/// declared and per defined name).
pub(crate) fn entry_position(a: &Attrs, i: usize, k: &Sym) -> Option<Span> {
    if let Some(Positions::Def(d)) = &a.positions {
        if let Some(b) = d.statics.get(i) {
            if std::ptr::eq(b.name, *k) && d.statics.len() == a.entries().len() {
                return Some(b.span);
            }
        }
    }
    a.position(k)
}

/// `loc ++ [name]` in one allocation.
pub fn loc_with(loc: &[Sym], name: Sym) -> Loc {
    let mut l = Vec::with_capacity(loc.len() + 1);
    l.extend_from_slice(loc);
    l.push(name);
    l
}

/// One module's definition `args` of `_module.args`: its attribute `n`,
/// if any, pushed as a definition of that argument (positioned at `n`,
/// else at `fallback`). `false` when `args` is not a plain set (a
/// `mkIf`/`mkMerge` or other wrapped value), which the fast path leaves
/// to the general one.
fn arg_def(
    ev: &mut Eval,
    args: &Value,
    n: Sym,
    file: &Rc<str>,
    fallback: Option<Span>,
    defs: &mut Vec<RawDef>,
) -> Result<bool> {
    let v = ev.force(args.clone())?;
    let Value::Attrs(a) = &v else {
        return Ok(false);
    };
    if type_tag_force(ev, &v)?.is_some() {
        return Ok(false);
    }
    if let Some(x) = a.get(n) {
        defs.push(RawDef {
            file: file.clone(),
            pos: a.position(n).or(fallback),
            value: x.clone(),
            wraps: no_wraps(),
        });
    }
    Ok(true)
}

/// The (shared) empty list of properties of a plain definition.
pub fn no_wraps() -> Rc<Vec<Wrap>> {
    NO_WRAPS.with(|w| w.clone())
}

impl RawDef {
    pub fn plain(d: &Def) -> RawDef {
        RawDef {
            file: d.file.clone(),
            pos: d.pos,
            value: d.value.clone(),
            wraps: no_wraps(),
        }
    }
}

// ----------------------------------------------------------------------
// Entry point

/// `evalModules` with nixpkgs' arguments.
pub fn eval_modules(ev: &mut Eval, lib: Value, args: Value, _in_sub: bool) -> Result<Value> {
    LIB.with(|l| *l.borrow_mut() = lib.clone());
    let a = force_attrs(ev, &args, "the argument of lib.evalModules")?;
    for (k, _) in a.entries() {
        if !matches!(
            *k,
            "modules" | "specialArgs" | "prefix" | "class" | "args" | "check"
        ) {
            return throw(format!(
                "lib.evalModules: unexpected argument `{}'; expected modules, specialArgs, prefix or class",
                k
            ));
        }
    }
    Ok(Sys::new(ev, lib, a, None)?.result())
}

/// A submodule's `config`: what `(evalModules args).config` gives, for
/// `args` built by the submodule type with `prefix` = `loc`, without the
/// result set around it (nothing else of it is read) and without reading
/// the prefix back from its list.
pub fn eval_sub_config(ev: &mut Eval, lib: Value, args: Value, loc: &[Sym]) -> Result<Value> {
    LIB.with(|l| *l.borrow_mut() = lib.clone());
    let a = force_attrs(ev, &args, "the argument of lib.evalModules")?;
    Sys::new(ev, lib, a, Some(loc.to_vec()))?.result_config(ev)
}

impl Sys {
    /// `prefix`: the prefix when the caller has it (otherwise read from
    /// the arguments).
    fn new(ev: &mut Eval, lib: Value, a: Rc<Attrs>, prefix: Option<Loc>) -> Result<Rc<Sys>> {
        let special = match a.get("specialArgs") {
            Some(v) => force_attrs(ev, v, "the specialArgs of lib.evalModules")?,
            None => Rc::new(Attrs::new()),
        };
        let prefix = match (prefix, a.get("prefix")) {
            (Some(p), _) => p,
            (None, Some(v)) => loc_from_value(ev, v)?,
            (None, None) => Vec::new(),
        };
        let class = match a.get("class") {
            Some(v) => match ev.force(v.clone())? {
                Value::Null => None,
                v => Some(force_str(ev, &v, "the class of lib.evalModules")?),
            },
            None => None,
        };
        Ok(Rc::new_cyclic(|weak| Sys {
            lib: lib.clone(),
            special,
            prefix,
            class,
            orig: a.clone(),
            base_args: OnceCell::new(),
            modules: OnceCell::new(),
            root: RefCell::new(Weak::new()),
            handle: Rc::new(Handle {
                sys: weak.clone(),
                lib,
                orig: a,
                config: WeakMemo::default(),
                result: WeakMemo::default(),
                options: WeakMemo::default(),
                rebuilt: RefCell::new(None),
            }),
            building: Cell::new(false),
            freeform: Cell::new(true),
            no_freeform: Cell::new(false),
            module_defs: OnceCell::new(),
            lib_arg: OnceCell::new(),
            internal_args: Cell::new(0),
        }))
    }

    /// The result's `config` (without `_module`).
    fn result_config(self: &Rc<Self>, ev: &mut Eval) -> Result<Value> {
        // Keep the option tree while checking and building.
        let root = self.root(ev)?;
        self.check_unmatched(ev)?;
        let entries: Vec<(Sym, Value)> = if self.freeform_type(ev)?.is_none() {
            self.freeform.set(false);
            // the declared names but `_module`: `config` itself
            // (with `_module`) is built only if a module reads it
            // after this set is gone
            root.config_entries(ev, Some("_module"))?
        } else {
            let c = self.config_set(ev)?;
            let c = force_attrs(ev, &c, "config")?;
            c.entries()
                .iter()
                .filter(|(k, _)| *k != "_module")
                .cloned()
                .collect()
        };
        let r = Value::attrs(Attrs::from_sorted(entries));
        self.handle.result.set(&r);
        Ok(r)
    }

    fn result(self: &Rc<Self>) -> Value {
        let s1 = self.clone();
        let config = lazy(move |ev| s1.result_config(ev));
        let s2 = self.clone();
        let options = lazy(move |ev| {
            let _root = s2.root(ev)?;
            s2.check_unmatched(ev)?;
            s2.options_set(ev)
        });
        let s3 = self.clone();
        let module = lazy(move |ev| {
            let _root = s3.root(ev)?;
            s3.check_unmatched(ev)?;
            let c = s3.config_set(ev)?;
            let c = force_attrs(ev, &c, "config")?;
            ev.force(c.get("_module").cloned().unwrap_or(Value::Null))
        });
        let extend = papp(
            "extendModules",
            3,
            prim_extend,
            vec![self.lib.clone(), Value::Attrs(self.orig.clone())],
        );
        let ty = self.module_type_lazy();
        attrs(vec![
            ("_type", s("configuration")),
            ("config", config),
            ("options", options),
            ("_module", module),
            ("class", self.class.clone().map(s).unwrap_or(Value::Null)),
            ("extendModules", extend),
            ("type", ty),
        ])
    }

    /// `type` (= `submoduleWith { modules; specialArgs; class; }`),
    /// built when used, from data only (no reference to the `Sys`).
    fn module_type_lazy(&self) -> Value {
        module_type_of(&self.orig, &self.special, &self.class)
    }

    /// `config` (with `_module`), memoised weakly: the set holds thunks
    /// that own the option tree, which owns the `Sys`.
    fn config_set(self: &Rc<Self>, ev: &mut Eval) -> Result<Value> {
        if let Some(v) = self.handle.config.get() {
            return Ok(v);
        }
        // Nothing keeps this set (a memo would close a cycle), so it is
        // rebuilt on most reads of `config` from a module: while the
        // caller holds the result's `config`, add `_module` to it instead
        // of building a set of every declared name.
        if let (Some(Value::Attrs(r)), false) = (self.handle.result.get(), self.freeform.get()) {
            let me = self.clone();
            let m = lazy(move |ev| match me.root(ev)?.child(ev, sym("_module"))? {
                Child::Node(n) => n.config_attrs(ev),
                Child::Opt(o) => ev.force(o.value.clone()),
            });
            let c = Value::attrs(Attrs::update(
                &r,
                &Attrs::from_sorted(vec![(key("_module"), m)]),
            ));
            self.handle.config.set(&c);
            // Kept by the last two evaluations that built one, so that the
            // next reads (~70 per host of the benchmark) find it in the
            // memo: an evaluation stays alive a little longer, no cycle.
            KEPT_CONFIG.with(|k| {
                let mut k = k.borrow_mut();
                k.swap(0, 1);
                k[0] = Some(c.clone());
            });
            return Ok(c);
        }
        if self.building.replace(true) {
            return Err(EvalError::new(
                ErrorKind::InfiniteRecursion,
                format!(
                    "infinite recursion encountered: the structure of `config'{} depends on `config'",
                    if self.prefix.is_empty() {
                        String::new()
                    } else {
                        format!(" at `{}'", show_option(&self.prefix))
                    }
                ),
                None,
            ));
        }
        let r = self.build_config(ev);
        self.building.set(false);
        let v = r?;
        self.handle.config.set(&v);
        Ok(v)
    }

    fn build_config(self: &Rc<Self>, ev: &mut Eval) -> Result<Value> {
        let root = self.root(ev)?;
        let declared = root.config_attrs(ev)?;
        let ft = self.freeform_type(ev)?;
        self.freeform.set(ft.is_some());
        match ft {
            None => Ok(declared),
            Some(ft) => {
                let un = root.unmatched(ev)?;
                let defs: Vec<RawDef> = un
                    .into_iter()
                    .map(|(path, d)| RawDef {
                        value: set_attr_by_path(&path, d.value.clone()),
                        ..d
                    })
                    .collect();
                let free = match merge_definitions(ev, &self.prefix, &ft, &defs)? {
                    Some(v) => v,
                    None => attrs(vec![]),
                };
                recursive_update(ev, free, declared)
            }
        }
    }

    /// The definitions of `_module` when only the internal module
    /// declares `_module` and every definition of it is a plain set
    /// without properties (the rule: the internal module's and a
    /// submodule's `name`): `_module.check`, `freeformType` and `args.<n>`
    /// are then read from them without building the `_module` node (its
    /// indexes cost as much as a small submodule's options).
    /// `None`: the general way.
    fn plain_module_defs(self: &Rc<Self>, ev: &mut Eval) -> Result<Option<Rc<PlainModuleDefs>>> {
        if let Some(m) = self.module_defs.get() {
            return Ok(m.clone());
        }
        let root = self.root(ev)?;
        let internal = match root.decl_index(ev)?.get("_module").map(|d| d.as_slice()) {
            Some([(_, d, _)]) => is_internal_decl("_module", d),
            _ => false,
        };
        let r = if internal {
            let dx = root.def_index(ev)?;
            let mut out = PlainModuleDefs::new();
            for d in dx.get("_module").map(|v| v.as_slice()).unwrap_or_default() {
                if !d.wraps.is_empty() {
                    out.clear();
                    break;
                }
                // what the `_module` node's `def_index` does first, with
                // its context for errors
                let plain = (|| {
                    let v = ev.force(d.value.clone())?;
                    Ok(match &v {
                        Value::Attrs(a) if type_tag_force(ev, &v)?.is_none() => Some(a.clone()),
                        _ => None,
                    })
                })()
                .context(|| {
                    (
                        format!(
                            "while evaluating definitions from `{}' at `{}':",
                            d.file,
                            show_option(&loc_with(&self.prefix, "_module"))
                        ),
                        d.pos,
                    )
                })?;
                match plain {
                    Some(a) => out.push((d.clone(), a)),
                    None => {
                        out.clear();
                        break;
                    }
                }
            }
            (!out.is_empty()).then(|| Rc::new(out))
        } else {
            None
        };
        let _ = self.module_defs.set(r.clone());
        Ok(r)
    }

    /// `config._module.<name>`, read from the option tree (building
    /// `config` sets for it cost as much as the rest of a small
    /// submodule evaluation).
    fn module_option(self: &Rc<Self>, ev: &mut Eval, name: &'static str) -> Result<Option<Value>> {
        // Only the internal module declares it and nothing defines it:
        // its default.
        if let Some(defs) = self.plain_module_defs(ev)? {
            // (these sets have a name or two: a scan, not a search)
            if defs
                .iter()
                .all(|(_, a)| a.entries().iter().all(|(k, _)| *k != name))
            {
                if let Some(v) = internal_default_of(name) {
                    return Ok(Some(v));
                }
            }
        }
        let root = self.root(ev)?;
        if !root.decl_index(ev)?.contains("_module") {
            return Ok(None);
        }
        let m = match root.child(ev, key("_module"))? {
            Child::Node(m) => m,
            Child::Opt(o) => {
                let v = ev.force(o.value.clone())?;
                let a = force_attrs(ev, &v, "config._module")?;
                return match a.get(name) {
                    Some(v) => Ok(Some(ev.force(v.clone())?)),
                    None => Ok(None),
                };
            }
        };
        let di = m.decl_index(ev)?;
        let Some(decls) = di.get(name) else {
            return Ok(None);
        };
        // Only the internal module declares it and nothing defines it (the
        // common case, twice per submodule element): its default, without
        // building the option.
        if let [(_, d, _)] = decls.as_slice() {
            if let Some(v) = internal_default(name, d) {
                if !m.def_index(ev)?.contains_key(name) {
                    return Ok(Some(v));
                }
            }
        }
        match m.child(ev, key(name))? {
            Child::Opt(o) => Ok(Some(ev.force(o.value.clone())?)),
            Child::Node(n) => Ok(Some(n.config_attrs(ev)?)),
        }
    }

    /// `config._module.args.<n>` without building `_module.args` (every
    /// submodule element reads its `name` this way): when only the
    /// internal module declares it and every definition of it is a plain
    /// set, its attribute `n` is merged as `lazyAttrsOf raw` merges one
    /// attribute. `None`: take the general way (also for errors).
    fn module_arg_fast(self: &Rc<Self>, ev: &mut Eval, n: Sym) -> Result<Option<Value>> {
        if let Some(mdefs) = self.plain_module_defs(ev)? {
            // the definitions of `_module.args` as the `_module` node's
            // `def_index` would give them
            let mut defs = Vec::new();
            for (d, a) in mdefs.iter() {
                if Rc::as_ptr(a) as *const u8 as usize == self.internal_args.get()
                    && !matches!(n, "extendModules" | "moduleType")
                {
                    // the internal module's: only those two
                    continue;
                }
                let Some(args) = a.get("args") else { continue };
                let pos = a.position("args").or(d.pos);
                if !arg_def(ev, args, n, &d.file, pos, &mut defs)? {
                    return Ok(None);
                }
            }
            return self.merge_module_arg(ev, n, &defs);
        }
        let root = self.root(ev)?;
        if !root.decl_index(ev)?.contains("_module") {
            return Ok(None);
        }
        let Child::Node(m) = root.child(ev, key("_module"))? else {
            return Ok(None);
        };
        let di = m.decl_index(ev)?;
        match di.get("args").map(|d| d.as_slice()) {
            Some([(_, d, _)]) if is_internal_decl("args", d) => {}
            _ => return Ok(None),
        }
        let dx = m.def_index(ev)?;
        let mut defs = Vec::new();
        for d in dx.get("args").map(|v| v.as_slice()).unwrap_or_default() {
            if !d.wraps.is_empty() || !arg_def(ev, &d.value, n, &d.file, d.pos, &mut defs)? {
                return Ok(None);
            }
        }
        self.merge_module_arg(ev, n, &defs)
    }

    /// `_module.args.<n>` merged from its definitions as `lazyAttrsOf raw`
    /// merges one attribute.
    fn merge_module_arg(
        self: &Rc<Self>,
        ev: &mut Eval,
        n: Sym,
        defs: &[RawDef],
    ) -> Result<Option<Value>> {
        if defs.is_empty() {
            return Ok(None);
        }
        let mut loc = self.prefix.clone();
        loc.extend([key("_module"), key("args"), n]);
        let raw = RAW_TYPE.with(|t| t.get_or_init(types::raw).clone());
        match merge_definitions(ev, &loc, &raw, defs)? {
            Some(v) => Ok(Some(ev.force(v)?)),
            None => Ok(None),
        }
    }

    fn freeform_type(self: &Rc<Self>, ev: &mut Eval) -> Result<Option<Value>> {
        // (known absent: asked two or three times per evaluation; a type
        // is not kept, it might hold the evaluation)
        if self.no_freeform.get() {
            return Ok(None);
        }
        match self.module_option(ev, "freeformType")? {
            None | Some(Value::Null) => {
                self.no_freeform.set(true);
                Ok(None)
            }
            Some(t) => Ok(Some(t)),
        }
    }

    fn module_check(self: &Rc<Self>, ev: &mut Eval) -> Result<bool> {
        match self.module_option(ev, "check")? {
            Some(v) => force_bool(ev, &v, "config._module.check"),
            None => Ok(true),
        }
    }

    fn check_unmatched(self: &Rc<Self>, ev: &mut Eval) -> Result<()> {
        if !self.module_check(ev)? || self.freeform_type(ev)?.is_some() {
            return Ok(());
        }
        let root = self.root(ev)?;
        let un = root.unmatched(ev)?;
        if let Some((path, d)) = un.into_iter().next() {
            let mut loc = self.prefix.clone();
            loc.extend(path.iter().cloned());
            let shown = show_defs(
                ev,
                &[Def {
                    file: d.file.clone(),
                    pos: d.pos,
                    value: d.value.clone(),
                }],
            );
            let mut msg = format!(
                "The option `{}' does not exist. Definition values:{}",
                show_option(&loc),
                shown
            );
            // Suggestions: declared names next to the unknown one.
            let parent = &path[..path.len() - 1];
            let cands = root.declared_names_at(ev, parent)?;
            let last = path.last().cloned().unwrap_or_default();
            let sugg = suggestions(last, &cands);
            let only_internal = root
                .declared_names_at(ev, &[])?
                .iter()
                .all(|n| n == "_module");
            if only_internal && self.prefix.is_empty() {
                msg.push_str("\n\nIt seems as if you're trying to declare an option by placing it into `config' rather than `options'!");
            } else if only_internal {
                msg.push_str(&format!(
                    "\n\nHowever there are no options defined in `{}'. Are you sure you've declared your options properly? This can happen if you e.g. declared your options in `types.submodule' under `config' rather than `options'.",
                    show_option(&self.prefix)
                ));
            } else if !sugg.is_empty() {
                let full: Vec<String> = sugg
                    .iter()
                    .map(|n| {
                        let mut l = self.prefix.clone();
                        l.extend(parent.iter().cloned());
                        l.push(sym(n));
                        show_option(&l)
                    })
                    .collect();
                msg.push_str(&format!("\n\nDid you mean {}?", or_list(&full)));
            }
            return Err(EvalError::new(ErrorKind::Throw, msg, d.pos));
        }
        Ok(())
    }

    fn options_set(self: &Rc<Self>, ev: &mut Eval) -> Result<Value> {
        if let Some(v) = self.handle.options.get() {
            return Ok(v);
        }
        let v = self.root(ev)?.options_attrs(ev)?;
        self.handle.options.set(&v);
        Ok(v)
    }

    /// `{ lib, config, options, specialArgs, _class, _prefix } // specialArgs`
    fn base_args(self: &Rc<Self>, _ev: &mut Eval) -> Result<Value> {
        if let Some(v) = self.base_args.get() {
            return Ok(v.clone());
        }
        // Volatile: a memoised set would own the evaluation.
        let h = self.handle.clone();
        let config = Thunk::volatile(move |ev| h.config(ev));
        let h = self.handle.clone();
        let options = Thunk::volatile(move |ev| h.options(ev));
        let prefix = match self.orig.get("prefix") {
            // the list evalModules was given, when it was one
            Some(p @ Value::List(_)) => p.clone(),
            // (the prefix of a submodule element: rarely read)
            Some(p @ Value::Thunk(_)) => p.clone(),
            _ => loc_to_value(&self.prefix),
        };
        let class = self.class.clone().map(s).unwrap_or(Value::Null);
        let special = Value::Attrs(self.special.clone());
        // (names interned once, in sorted order)
        let [k_class, k_prefix, k_config, k_lib, k_options, k_special] = ARG_NAMES.with(|n| *n);
        let mut e: Vec<(Sym, Value)> = Vec::with_capacity(6 + self.special.entries().len());
        e.extend([
            (k_class, class),
            (k_prefix, prefix),
            (k_config, config),
            (k_lib, self.lib.clone()),
            (k_options, options),
            (k_special, special),
        ]);
        let v = if self.special.is_empty() {
            Value::attrs(Attrs::from_sorted(e))
        } else {
            e.extend(self.special.entries().iter().cloned());
            attrs_sym(e)
        };
        let _ = self.base_args.set(v.clone());
        Ok(v)
    }

    /// The `lib` module functions are called with.
    fn lib_arg(self: &Rc<Self>, ev: &mut Eval) -> Result<Option<Value>> {
        if let Some(l) = self.lib_arg.get() {
            return Ok(l.clone());
        }
        let base = self.base_args(ev)?;
        let a = force_attrs(ev, &base, "module arguments")?;
        let l = match a.get("lib") {
            Some(l) => Some(ev.force(l.clone())?),
            None => None,
        };
        let _ = self.lib_arg.set(l.clone());
        Ok(l)
    }

    /// Call a function module with its arguments; formals that are not
    /// given come from `config._module.args`, lazily.
    fn apply_module_args(self: &Rc<Self>, ev: &mut Eval, key: &Rc<str>, f: Value) -> Result<Value> {
        let base = self.base_args(ev)?;
        let base_a = force_attrs(ev, &base, "module arguments")?;
        let formals: &[(Sym, _)] = match &f {
            Value::Lambda(c) => c
                .def
                .formals
                .as_ref()
                .map(|f| &f.entries[..])
                .unwrap_or_default(),
            _ => &[],
        };
        let mut extra: Vec<(Sym, Value)> = Vec::new();
        for &(n, _) in formals {
            // (a handful of names, mostly found by address: a scan)
            if base_a
                .entries()
                .iter()
                .any(|(k, _)| std::ptr::eq(*k, n) || *k == n)
            {
                continue;
            }
            let h = self.handle.clone();
            let key = key.clone();
            extra.push((
                n,
                lazy(move |ev| {
                    if let Some(sys) = h.sys.upgrade() {
                        if let Some(v) = sys.module_arg_fast(ev, n)? {
                            return Ok(v);
                        }
                    }
                    let cfg = h.config(ev)?;
                    let r = (|| {
                        let c = force_attrs(ev, &cfg, "config")?;
                        let m = force_attrs(ev, c.get("_module").unwrap_or(&Value::Null), "config._module")?;
                        let a = force_attrs(ev, m.get("args").unwrap_or(&Value::Null), "config._module.args")?;
                        match a.get(n) {
                            Some(v) => ev.force(v.clone()),
                            None => throw(format!(
                                "The module argument `{}' is not provided: it is neither a specialArg nor defined in `_module.args' (requested by module `{}')",
                                n, key
                            )),
                        }
                    })();
                    r.context(|| {
                        (
                            format!("while evaluating the module argument `{}' in \"{}\":", n, key),
                            None,
                        )
                    })
                }),
            ));
        }
        let arg = if extra.is_empty() {
            base
        } else {
            Value::attrs(Attrs::update(&base_a, &Attrs::from_unsorted(extra)))
        };
        ev.call(f, arg, None)
    }

    // ------------------------------------------------------------------
    // Module collection

    fn load(
        self: &Rc<Self>,
        ev: &mut Eval,
        parent_file: &str,
        // (the parent's key and the module's position: its key, if it
        // needs one)
        (parent_key, pos): (&str, usize),
        m: Value,
    ) -> Result<Rc<Module>> {
        let m = ev.force(m)?;
        match &m {
            Value::Path(_) | Value::Str(_) => {
                let file = force_str(ev, &m, "a module path")?;
                let v = ev.import_path(Path::new(&file), None)?;
                let v = ev.force(v)?;
                let key = intern_file(&file);
                let (v, func) = if v.is_function() {
                    (self.apply_module_args(ev, &key, v.clone())?, Some(v))
                } else {
                    (v, None)
                };
                self.unify(ev, &file, key, v, func.as_ref())
                    .context(|| (format!("while evaluating the module `{}'", file), None))
            }
            v if v.is_function() => {
                let fallback_key = anon_key(parent_key, pos);
                let r = self.apply_module_args(ev, &fallback_key, m.clone())?;
                self.unify(ev, parent_file, fallback_key, r, Some(&m))
            }
            Value::Attrs(_) => match type_tag_force(ev, &m)?.as_deref() {
                None | Some("module") => {
                    self.unify(ev, parent_file, anon_key(parent_key, pos), m.clone(), None)
                }
                Some("if") | Some("override") => self.unify(
                    ev,
                    parent_file,
                    anon_key(parent_key, pos),
                    attrs(vec![("config", m.clone())]),
                    None,
                ),
                Some(t) => throw(format!(
                    "Expected a module, but found a value of type \"{}\". A module is typically loaded by adding it to the `imports = [ ... ];` attribute of an existing module, or in the `modules = [ ... ];` argument of various functions. Please make sure that each of the list items is a module, and not a different kind of value.\n(in `{}')",
                    t, parent_file
                )),
            },
            Value::List(_) => throw(format!(
                "Module imports can't be nested lists. Perhaps you meant to remove one level of lists? Definitions: {}",
                parent_file
            )),
            o => throw(format!(
                "A module in `{}' is {}, but a module must be a path, a function or an attribute set",
                parent_file,
                o.type_name()
            )),
        }
    }

    fn unify(
        self: &Rc<Self>,
        ev: &mut Eval,
        file: &str,
        key: Rc<str>,
        m: Value,
        // the function `m` came from
        func: Option<&Value>,
    ) -> Result<Rc<Module>> {
        let a = force_attrs(ev, &m, "a module")?;
        // One pass over the names (lookups one by one showed in profiles:
        // every submodule element collects five modules).
        let (mut f_file, mut f_key, mut f_class, mut f_disabled) = (None, None, None, None);
        let (mut f_imports, mut f_require, mut f_options, mut f_config) = (None, None, None, None);
        let (mut f_meta, mut f_freeform, mut other) = (None, None, false);
        for (k, v) in a.entries() {
            match *k {
                "_file" => f_file = Some(v),
                "key" => f_key = Some(v),
                "_class" => f_class = Some(v),
                "disabledModules" => f_disabled = Some(v),
                "imports" => f_imports = Some(v),
                "require" => f_require = Some(v),
                "options" => f_options = Some(v),
                "config" => f_config = Some(v),
                "meta" => f_meta = Some(v),
                "freeformType" => f_freeform = Some(v),
                _ => other = true,
            }
        }
        let file: Rc<str> = match f_file {
            // (interned: declaration indexes are keyed by its address)
            Some(f) => intern_file(&force_str(ev, f, "`_file' of a module")?),
            // (a path module's key is its file: one string for both)
            None if *key == *file => key.clone(),
            None => intern_file(file),
        };
        let key = match f_key {
            Some(k) => force_str(ev, k, "`key' of a module")?.into(),
            None => key,
        };
        let class = match f_class {
            Some(c) => match ev.force(c.clone())? {
                Value::Null => None,
                c => Some(force_str(ev, &c, "`_class' of a module")?),
            },
            None => None,
        };
        let list_of = |ev: &mut Eval, v: Option<&Value>, n: &str| -> Result<Vec<Value>> {
            match v {
                Some(v) => Ok(
                    force_list_with(ev, v, || format!("`{}' of module `{}'", n, file))?.to_vec(),
                ),
                None => Ok(Vec::new()),
            }
        };
        let disabled = list_of(ev, f_disabled, "disabledModules")?;
        let mut configs = Vec::new();
        let explicit = f_config.is_some() || f_options.is_some();
        let (imports, options) = if explicit {
            if other || f_require.is_some() {
                let allowed = |k: &str| {
                    matches!(
                        k,
                        "_class"
                            | "_file"
                            | "key"
                            | "disabledModules"
                            | "imports"
                            | "options"
                            | "config"
                            | "meta"
                            | "freeformType"
                    )
                };
                let bad: Vec<&str> = a
                    .entries()
                    .iter()
                    .map(|(k, _)| *k)
                    .filter(|k| !allowed(k))
                    .collect();
                let k = bad[0];
                return Err(EvalError::new(
                    ErrorKind::Throw,
                    format!(
                        "Module `{}' has an unsupported attribute `{}'. This is caused by introducing a top-level `config' or `options' attribute. Add configuration attributes immediately on the top level instead, or move all of them (namely: {}) into the explicit `config' attribute.",
                        key,
                        k,
                        bad.join(" ")
                    ),
                    a.position(k),
                ));
            }
            if let Some(c) = f_config {
                configs.push(c.clone());
            }
            if let Some(mt) = f_meta {
                configs.push(attrs(vec![("meta", mt.clone())]));
            }
            let options = match (f_options, func) {
                // what of them is the same for every call, from the first
                // call (see `share`)
                (Some(o), Some(f)) => match self.lib_arg(ev)? {
                    Some(lib) => share::options(ev, f, &lib, o)?,
                    None => o.clone(),
                },
                (Some(o), None) => o.clone(),
                (None, _) => empty_attrs(),
            };
            (list_of(ev, f_imports, "imports")?, options)
        } else {
            let mut imports = list_of(ev, f_require, "require")?;
            imports.extend(list_of(ev, f_imports, "imports")?);
            let special = f_file.is_some()
                || f_key.is_some()
                || f_class.is_some()
                || f_disabled.is_some()
                || f_require.is_some()
                || f_imports.is_some()
                || f_freeform.is_some();
            if special {
                let rest: Vec<(Sym, Value)> = a
                    .entries()
                    .iter()
                    .filter(|(k, _)| {
                        !matches!(
                            *k,
                            "_class"
                                | "_file"
                                | "key"
                                | "disabledModules"
                                | "require"
                                | "imports"
                                | "freeformType"
                        )
                    })
                    .cloned()
                    .collect();
                let mut c = Attrs::from_sorted(rest);
                c.positions = a.positions.clone();
                configs.push(Value::attrs(c));
            } else {
                // the whole set is configuration: no copy
                configs.push(Value::Attrs(a.clone()));
            }
            (imports, empty_attrs())
        };
        if let Some(ft) = f_freeform {
            configs.push(attrs(vec![(
                "_module",
                attrs(vec![("freeformType", ft.clone())]),
            )]));
        }
        Ok(Rc::new(Module {
            file,
            key,
            class,
            disabled,
            imports,
            options,
            configs,
        }))
    }

    /// The imports closure, de-duplicated by key, minus disabled modules,
    /// in nixpkgs' (breadth-first) order.
    fn modules(self: &Rc<Self>, ev: &mut Eval) -> Result<Rc<Vec<Rc<Module>>>> {
        if let Some(m) = self.modules.get() {
            return Ok(m.clone());
        }
        let top = match self.orig.get("modules") {
            Some(v) => Some(force_list(ev, v, "the modules of lib.evalModules")?),
            None => None,
        };
        let top: &[Value] = top.as_deref().map(|l| &l[..]).unwrap_or_default();
        // Modules by index, their imports as indices (keys are looked up
        // once per module, not copied around).
        let mut loaded: Vec<(Rc<Module>, Vec<usize>)> = Vec::with_capacity(top.len() + 1);
        let mut index = KeyIndex::with_capacity(top.len() + 1);
        // (parent file, fallback key, value) -> (index, newly loaded)
        let load_one = |this: &Rc<Sys>,
                        ev: &mut Eval,
                        loaded: &mut Vec<(Rc<Module>, Vec<usize>)>,
                        index: &mut KeyIndex,
                        pf: &str,
                        fk: (&str, usize),
                        v: Value|
         -> Result<(usize, bool)> {
            let v = ev.force(v)?;
            if let Value::Path(p) = &v {
                if let Some(i) = index.get(p.as_str()) {
                    return Ok((i, false));
                }
            }
            let m = match (&v, fk) {
                // the first module of every submodule evaluation, loaded
                // once (the same value, file and key each time)
                (Value::Attrs(a), ("", 1)) if types::is_name_default_module(a) => {
                    match NAME_DEFAULT.with(|c| c.borrow().clone()) {
                        Some(m) => m,
                        None => {
                            let m = this.load(ev, pf, fk, v)?;
                            NAME_DEFAULT.with(|c| *c.borrow_mut() = Some(m.clone()));
                            m
                        }
                    }
                }
                _ => this.load(ev, pf, fk, v)?,
            };
            if let Some(i) = index.get(&m.key) {
                return Ok((i, false));
            }
            index.insert(m.key.clone(), loaded.len());
            loaded.push((m, Vec::new()));
            Ok((loaded.len() - 1, true))
        };
        // (a submodule element has a handful: inline)
        let mut top_keys: SmallVec<[usize; 8]> = SmallVec::new();
        let mut stack: SmallVec<[usize; 8]> = SmallVec::new();
        for (i, m) in top.iter().cloned().enumerate() {
            let (k, new) = load_one(
                self,
                ev,
                &mut loaded,
                &mut index,
                UNKNOWN_FILE,
                ("", i + 1),
                m,
            )?;
            top_keys.push(k);
            if new {
                stack.push(k);
            }
        }
        // The internal module, last of the top-level ones (built as a
        // `Module` directly: it is the same shape every time).
        let internal = self.internal_module();
        let k = match index.get(&internal.key) {
            Some(i) => i,
            None => {
                index.insert(internal.key.clone(), loaded.len());
                loaded.push((internal, Vec::new()));
                loaded.len() - 1
            }
        };
        top_keys.push(k);
        while let Some(k) = stack.pop() {
            let m = loaded[k].0.clone();
            let mut kids = Vec::new();
            for (n, imp) in m.imports.iter().enumerate() {
                let (ck, new) = load_one(
                    self,
                    ev,
                    &mut loaded,
                    &mut index,
                    &m.file,
                    (&m.key, n + 1),
                    imp.clone(),
                )
                .context(|| {
                    (
                        format!("while loading the imports of module `{}'", m.key),
                        None,
                    )
                })?;
                kids.push(ck);
                if new {
                    stack.push(ck);
                }
            }
            loaded[k].1 = kids;
        }
        // disabledModules
        let mut disabled: HashSet<String> = HashSet::default();
        let modules_path = match self.special.get("modulesPath") {
            Some(p) => Some(force_str(ev, p, "specialArgs.modulesPath")?),
            None => None,
        };
        for (m, _) in &loaded {
            for d in &m.disabled {
                let d = ev.force(d.clone())?;
                let k = match &d {
                    Value::Str(x) if x.s.starts_with('/') => x.s.clone(),
                    Value::Str(x) => match &modules_path {
                        Some(mp) => format!("{}/{}", mp, x.s),
                        None => x.s.clone(),
                    },
                    Value::Path(p) => (**p).clone(),
                    Value::Attrs(a) => match a.get("key") {
                        Some(k) => force_str(ev, k, "the key of a disabled module")?,
                        None => return throw(format!(
                            "Module `{}' contains a disabledModules item that is an attribute set, presumably a module, that does not have a `key' attribute. This means that the module system doesn't have any means to identify the module that should be disabled. Make sure that you've put the correct value in disabledModules: a string path relative to modulesPath, a path value, or an attribute set with a `key' attribute.",
                            m.file
                        )),
                    },
                    o => return throw(format!(
                        "Module `{}' contains a disabledModules item that is {}, not a path, string or attribute set",
                        m.file,
                        o.type_name()
                    )),
                };
                disabled.insert(k);
            }
        }
        let mut out = Vec::with_capacity(loaded.len());
        let mut seen: SmallVec<[bool; 16]> = smallvec![false; loaded.len()];
        // (breadth first: a list read from the front)
        let mut queue: SmallVec<[usize; 16]> = top_keys.into_iter().collect();
        let mut next = 0;
        while let Some(&k) = queue.get(next) {
            next += 1;
            if seen[k] || (!disabled.is_empty() && disabled.contains(&*loaded[k].0.key)) {
                continue;
            }
            seen[k] = true;
            let (m, kids) = &loaded[k];
            if let (Some(mc), Some(c)) = (&m.class, &self.class) {
                if mc != c {
                    return throw(format!(
                        "The module `{}' (class: {:?}) cannot be imported into a module evaluation that expects class {:?}.",
                        m.file, mc, c
                    ));
                }
            }
            out.push(m.clone());
            queue.extend(kids.iter().copied());
        }
        let r = Rc::new(out);
        let _ = self.modules.set(r.clone());
        Ok(r)
    }

    /// nixpkgs' internal module: the `_module.*` options.
    fn internal_module(self: &Rc<Self>) -> Rc<Module> {
        // The declarations are the same for every evaluation: build them
        // once (submodule-heavy configurations evaluate thousands).
        let options = INTERNAL_OPTIONS.with(|c| c.get_or_init(internal_options).clone());
        // `args` and `specialArgs` are built when read (rarely: a
        // submodule's `name` is found without them, `module_arg_fast`);
        // from data only, no reference to the `Sys`.
        let (lib, orig, special) = (self.lib.clone(), self.orig.clone(), self.special.clone());
        let (special2, class) = (self.special.clone(), self.class.clone());
        let args = lazy(move |_| {
            // (built here: most evaluations never read it)
            let module_type = module_type_of(&orig, &special2, &class);
            let extend = papp(
                "extendModules",
                3,
                prim_extend,
                vec![lib.clone(), Value::Attrs(orig.clone())],
            );
            Ok(attrs(vec![
                ("extendModules", extend),
                ("moduleType", module_type),
            ]))
        });
        let special_args = lazy(move |_| {
            Ok(attrs(vec![
                ("_type", s("override")),
                ("priority", Value::Int(1500)),
                ("content", Value::Attrs(special.clone())),
            ]))
        });
        let module = attrs(vec![("args", args), ("specialArgs", special_args)]);
        if let Value::Attrs(m) = &module {
            self.internal_args.set(Rc::as_ptr(m) as *const u8 as usize);
        }
        let config = attrs(vec![("_module", module)]);
        let file = INTERNAL_FILE.with(|f| f.clone());
        Rc::new(Module {
            key: file.clone(),
            file,
            class: None,
            disabled: Vec::new(),
            imports: Vec::new(),
            options,
            configs: vec![config],
        })
    }

    fn root(self: &Rc<Self>, ev: &mut Eval) -> Result<Rc<Node>> {
        if let Some(r) = self.root.borrow().upgrade() {
            return Ok(r);
        }
        let mods = self.modules(ev)?;
        let mut decls = Vec::with_capacity(mods.len());
        let mut defs = Vec::with_capacity(mods.len() + 2);
        // Later modules first, as nixpkgs (`reverseList modules`).
        for m in mods.iter().rev() {
            decls.push((m.file.clone(), m.options.clone()));
            for c in &m.configs {
                defs.push(RawDef {
                    file: m.file.clone(),
                    pos: None,
                    value: c.clone(),
                    wraps: no_wraps(),
                });
            }
        }
        let n = Rc::new(Node::new(
            self.clone(),
            self.prefix.clone(),
            decls.into(),
            defs,
        ));
        *self.root.borrow_mut() = Rc::downgrade(&n);
        Ok(n)
    }
}

/// `type` of an evaluation (= `submoduleWith { modules; specialArgs;
/// class; }`), built when used, from data only (no reference to the
/// `Sys`).
fn module_type_of(orig: &Attrs, special: &Rc<Attrs>, class: &Option<String>) -> Value {
    let modules = orig.get("modules").cloned().unwrap_or(Value::list(vec![]));
    let special = Value::Attrs(special.clone());
    let class = class.clone().map(s).unwrap_or(Value::Null);
    lazy(move |_| {
        Ok(types::submodule_with(
            modules.clone(),
            special.clone(),
            class.clone(),
            false,
            None,
        ))
    })
}

fn prim_extend(ev: &mut Eval, a: &[Value], _span: Span) -> Result<Value> {
    let lib = a[0].clone();
    let orig = force_attrs(ev, &a[1], "evalModules arguments")?;
    let ext = force_attrs(ev, &a[2], "the argument of extendModules")?;
    let mut e: Vec<(Sym, Value)> = orig.entries().to_vec();
    let get_list = |ev: &mut Eval, a: &Attrs| -> Result<Vec<Value>> {
        match a.get("modules") {
            Some(v) => Ok(force_list(ev, v, "modules")?.to_vec()),
            None => Ok(Vec::new()),
        }
    };
    let mut mods = get_list(ev, &orig)?;
    mods.extend(get_list(ev, &ext)?);
    e.retain(|(k, _)| !matches!(*k, "modules" | "specialArgs" | "prefix"));
    e.push((key("modules"), Value::list(mods)));
    let sa = match (orig.get("specialArgs"), ext.get("specialArgs")) {
        (Some(x), Some(y)) => {
            let x = force_attrs(ev, x, "specialArgs")?;
            let y = force_attrs(ev, y, "specialArgs")?;
            Value::attrs(Attrs::update(&x, &y))
        }
        (Some(x), None) | (None, Some(x)) => x.clone(),
        (None, None) => attrs(vec![]),
    };
    e.push((key("specialArgs"), sa));
    if let Some(p) = ext.get("prefix").or(orig.get("prefix")) {
        e.push((key("prefix"), p.clone()));
    }
    eval_modules(ev, lib, attrs_sym(e), false)
}

// ----------------------------------------------------------------------
// Nodes of the option tree

/// A memo that does not own its value: a node's `config` set holds
/// thunks that own the node, so owning the set would make a cycle that
/// is never freed. Rebuilding a dropped set is cheap (option values are
/// memoised in `Opt::value`, children in `Node::kids`).
#[derive(Default)]
pub struct WeakMemo(RefCell<std::rc::Weak<Attrs>>);

impl WeakMemo {
    fn get(&self) -> Option<Value> {
        self.0.borrow().upgrade().map(Value::Attrs)
    }
    fn set(&self, v: &Value) {
        if let Value::Attrs(a) = v {
            *self.0.borrow_mut() = Rc::downgrade(a);
        }
    }
}

pub struct Node {
    /// Owned, so that thunks reading `config` while any part of the tree
    /// is alive find their evaluation (see `Sys`).
    sys: Rc<Sys>,
    /// Full location (prefix included).
    loc: Loc,
    /// (declaring file, `options` subtree); shared with the declaration
    /// index this node's parent was built from.
    decls: Rc<[(Rc<str>, Value)]>,
    defs: Vec<RawDef>,
    decl_index: OnceCell<Rc<DeclIndex>>,
    def_index: OnceCell<Rc<DefIndex>>,
    /// Children by the index of their name in `decl_index().names`.
    kids: OnceCell<Box<[OnceCell<Child>]>>,
    /// `decls` are known to be stable (see `stable`).
    stable: bool,
    config: WeakMemo,
    options: WeakMemo,
}

/// A declaration: its module's file, the `options` subtree, its position.
type Decl = (Rc<str>, Value, Option<Span>);

/// Definitions (mostly one: inline).
type Defs = SmallVec<[RawDef; 1]>;

/// Definitions at a node by name.
type DefIndex = HashMap<Sym, Defs>;

/// The declarations at a node by name. It depends only on the `options`
/// sets it was built from, so it is shared by every node built from the
/// same sets (`decl_index_for`): with shared declarations (`share.rs`),
/// every host's `bench.m07` node, every submodule element's `enable`.
struct DeclIndex {
    /// Sorted.
    names: Vec<Sym>,
    // (one declaration per name is the rule: inline)
    decls: Vec<SmallVec<[Decl; 1]>>,
    /// What each name is (known when it is first built).
    kinds: Vec<OnceCell<Kind>>,
    /// Whether every declaration of a name is an attribute of a stable
    /// set (so its value is stable when it is a set).
    from_stable: Vec<bool>,
    /// Built from stable sets (see `stable`), so cached and shared; the
    /// subtrees of its names are stable too.
    stable: bool,
}

/// What a declared name is, from its declarations alone.
#[derive(Clone)]
enum Kind {
    Opt(Rc<OptDecl>),
    /// A subtree's declarations, and whether they are stable.
    Node(Rc<[(Rc<str>, Value)]>, bool),
}

impl DeclIndex {
    fn find(&self, name: &str) -> Option<usize> {
        if self.names.len() <= 8 {
            // (names are interned: mostly equal by address, so a short
            // scan of addresses first)
            if let Some(i) = self.names.iter().position(|n| std::ptr::eq(*n, name)) {
                return Some(i);
            }
        }
        let (mut lo, mut hi) = (0, self.names.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match ox_eval::value::cmp_name(self.names[mid], name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    fn get(&self, name: &str) -> Option<&SmallVec<[Decl; 1]>> {
        self.find(name).map(|i| &self.decls[i])
    }

    fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }
}

/// Key of a declaration index: the addresses of the non-empty `options`
/// sets and of their files, in order.
type DeclKey = SmallVec<[(usize, usize); 4]>;

/// A cached declaration index and what it was built from (kept, so that
/// the addresses in its key stay theirs).
type DeclEntry = (Rc<DeclIndex>, Vec<(Rc<str>, Rc<Attrs>)>);

thread_local! {
    static DECL_CACHE: RefCell<HashMap<DeclKey, DeclEntry>> = RefCell::new(HashMap::default());
}

/// Key of a declared name's kind: its declarations' (forced) option
/// sets, files and positions.
type KindKey = SmallVec<[(usize, usize, Option<Span>); 1]>;

/// A cached kind and the sets its key has the addresses of.
type KindEntry = (Kind, SmallVec<[(Rc<str>, Rc<Attrs>); 1]>);

thread_local! {
    static KIND_CACHE: RefCell<HashMap<KindKey, KindEntry>> = RefCell::new(HashMap::default());
}

/// Whether `a` is a set of declarations that stays what it is at its
/// address for as long as a cache keeps it: one that `share` hands out
/// as the same for every call, or the internal module's.
fn stable(a: &Rc<Attrs>) -> bool {
    share::is_stable(a)
        || INTERNAL_OPTIONS.with(|c| matches!(c.get(), Some(Value::Attrs(o)) if Rc::ptr_eq(o, a)))
}

/// `kind_of`, from the cache when the same (stable) declarations were
/// seen before: a submodule element's declaration index is its own when
/// one of its options reads `name`, but most options are shared.
/// The kind's subtree is stable when its declarations are.
fn kind_cached(ev: &mut Eval, loc: &[Sym], decls: &[Decl], from_stable: bool) -> Result<Kind> {
    let mut sets: SmallVec<[(Rc<str>, Rc<Attrs>); 1]> = SmallVec::new();
    let mut key = KindKey::new();
    for (f, v, pos) in decls {
        // (what `kind_of` forces first)
        match ev.force(v.clone())? {
            Value::Attrs(a) if from_stable || stable(&a) => {
                key.push((
                    Rc::as_ptr(&a) as *const u8 as usize,
                    Rc::as_ptr(f) as *const u8 as usize,
                    *pos,
                ));
                sets.push((f.clone(), a));
            }
            _ => return kind_of(ev, loc, decls, false),
        }
    }
    if let Some(k) = KIND_CACHE.with(|c| c.borrow().get(&key).map(|e| e.0.clone())) {
        return Ok(k);
    }
    let k = kind_of(ev, loc, decls, true)?;
    KIND_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= 4096 {
            c.clear();
        }
        c.insert(key, (k.clone(), sets));
    });
    Ok(k)
}

/// Interned module file names (one `Rc<str>` per file: declaration
/// indexes are keyed by their address).
fn intern_file(f: &str) -> Rc<str> {
    thread_local! {
        static FILES: RefCell<HashMap<Box<str>, Rc<str>>> = RefCell::new(HashMap::default());
    }
    FILES.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(r) = c.get(f) {
            return r.clone();
        }
        if c.len() >= 4096 {
            c.clear();
        }
        let r: Rc<str> = f.into();
        c.insert(f.into(), r.clone());
        r
    })
}

/// The declaration index of `decls` at `loc`: from the cache when they
/// are stable (`stable_decls`: known to be) and were indexed before.
fn decl_index_for(
    ev: &mut Eval,
    loc: &[Sym],
    decls: &[(Rc<str>, Value)],
    stable_decls: bool,
) -> Result<Rc<DeclIndex>> {
    let mut sets: SmallVec<[(Rc<str>, Rc<Attrs>); 4]> = SmallVec::new();
    for (f, v) in decls {
        let a = force_attrs_with(ev, v, || {
            format!("the options of module `{}' at `{}'", f, show_option(loc))
        })?;
        if !a.is_empty() {
            sets.push((f.clone(), a));
        }
    }
    let is_stable = stable_decls || sets.iter().all(|(_, a)| stable(a));
    let key: DeclKey = if is_stable {
        sets.iter()
            .map(|(f, a)| {
                (
                    Rc::as_ptr(a) as *const u8 as usize,
                    Rc::as_ptr(f) as *const u8 as usize,
                )
            })
            .collect()
    } else {
        DeclKey::new()
    };
    if is_stable {
        if let Some(d) = DECL_CACHE.with(|c| c.borrow().get(&key).map(|e| e.0.clone())) {
            return Ok(d);
        }
    }
    let n: usize = sets.iter().map(|(_, a)| a.entries().len()).sum();
    let (names, decls, from_stable) = if sets.len() <= 4 {
        // A few sets (a node's own, a submodule element's function and
        // the internal module): their names are sorted, so merge them.
        let mut names: Vec<Sym> = Vec::with_capacity(n);
        let mut decls: Vec<SmallVec<[Decl; 1]>> = Vec::with_capacity(n);
        let mut from_stable: Vec<bool> = Vec::with_capacity(n);
        let st: SmallVec<[bool; 4]> = sets.iter().map(|(_, a)| is_stable || stable(a)).collect();
        let mut at: SmallVec<[usize; 4]> = smallvec![0; sets.len()];
        loop {
            // the least name at the cursors
            let mut least: Option<Sym> = None;
            for (j, (_, a)) in sets.iter().enumerate() {
                if let Some((k, _)) = a.entries().get(at[j]) {
                    if least.is_none_or(|l| ox_eval::value::cmp_name(k, l).is_lt()) {
                        least = Some(*k);
                    }
                }
            }
            let Some(k) = least else { break };
            let mut ds: SmallVec<[Decl; 1]> = SmallVec::new();
            let mut all_st = true;
            for (j, (f, a)) in sets.iter().enumerate() {
                let i = at[j];
                if let Some((k2, x)) = a.entries().get(i) {
                    if ox_eval::value::cmp_name(k2, k).is_eq() {
                        ds.push((f.clone(), x.clone(), entry_position(a, i, k2)));
                        all_st &= st[j];
                        at[j] += 1;
                    }
                }
            }
            names.push(k);
            decls.push(ds);
            from_stable.push(all_st);
        }
        (names, decls, from_stable)
    } else {
        let mut by_name: HashMap<Sym, (SmallVec<[Decl; 1]>, bool)> =
            HashMap::with_capacity_and_hasher(n, Default::default());
        let mut names = Vec::with_capacity(n);
        for (f, a) in &sets {
            let st = is_stable || stable(a);
            for (i, (k, x)) in a.entries().iter().enumerate() {
                let e = by_name.entry(*k).or_insert_with(|| (SmallVec::new(), true));
                if e.0.is_empty() {
                    names.push(*k);
                }
                e.0.push((f.clone(), x.clone(), entry_position(a, i, k)));
                e.1 &= st;
            }
        }
        names.sort();
        let (decls, from_stable): (Vec<SmallVec<[Decl; 1]>>, Vec<bool>) = names
            .iter()
            .map(|n| by_name.remove(n).unwrap_or_default())
            .unzip();
        (names, decls, from_stable)
    };
    let kinds = names.iter().map(|_| OnceCell::new()).collect();
    let d = Rc::new(DeclIndex {
        names,
        decls,
        kinds,
        from_stable,
        stable: is_stable,
    });
    if is_stable {
        DECL_CACHE.with(|c| {
            let mut c = c.borrow_mut();
            // (bounded: what it keeps alive is dropped when it is full)
            if c.len() >= 1024 {
                c.clear();
            }
            c.insert(key, (d.clone(), sets.into_vec()));
        });
    }
    Ok(d)
}

#[derive(Clone)]
enum Child {
    Opt(Rc<Opt>),
    Node(Rc<Node>),
}

fn is_option(ev: &mut Eval, v: &Value) -> Result<bool> {
    let v = ev.force(v.clone())?;
    Ok(type_tag_force(ev, &v)?.as_deref() == Some("option"))
}

/// What the declarations of `loc` make it: an option (their merged
/// declaration) or a subtree.
fn kind_of(ev: &mut Eval, loc: &[Sym], decls: &[Decl], stable: bool) -> Result<Kind> {
    let mut opts: SmallVec<[Decl; 1]> = SmallVec::new();
    let mut trees: SmallVec<[Decl; 1]> = SmallVec::new();
    for (m, v, pos) in decls {
        if is_option(ev, v)? {
            opts.push((m.clone(), v.clone(), *pos));
        } else {
            trees.push((m.clone(), v.clone(), *pos));
        }
    }
    if opts.is_empty() {
        return Ok(Kind::Node(
            trees.into_iter().map(|(m, v, _)| (m, v)).collect(),
            stable,
        ));
    }
    if !trees.is_empty() {
        // Sub-options next to a submodule option become part of
        // that submodule, as in nixpkgs.
        let (om, ov, _) = &opts[0];
        let oa = force_attrs(ev, ov, "an option")?;
        let is_sub = match oa.get("type") {
            Some(t) => types::is_submodule(ev, t)?,
            None => false,
        };
        if !is_sub {
            let tdesc = match oa.get("type") {
                Some(t) => types::description(ev, t)?,
                None => "unspecified value".into(),
            };
            let mut lines = String::new();
            for (m, v, _) in &trees {
                let a = force_attrs(ev, v, "options")?;
                for (k, _) in a.entries() {
                    let mut l = loc.to_vec();
                    l.push(*k);
                    lines.push_str(&format!(
                        "\n - option(s) with prefix `{}' in module `{}'",
                        show_option(&l),
                        m
                    ));
                }
            }
            return throw(format!(
                "The option `{}' in module `{}' would be a parent of the following options, but its type `{}' does not support nested options.{}",
                show_option(loc),
                om,
                tdesc,
                lines
            ));
        }
        let extra: Vec<Value> = trees
            .iter()
            .map(|(m, v, _)| attrs(vec![("_file", s(&**m)), ("options", v.clone())]))
            .collect();
        opts.push((
            om.clone(),
            attrs(vec![
                ("_type", s("option")),
                (
                    "type",
                    types::submodule_with(
                        Value::list(extra),
                        attrs(vec![]),
                        Value::Null,
                        true,
                        None,
                    ),
                ),
            ]),
            None,
        ));
    }
    Ok(Kind::Opt(OptDecl::new(ev, loc, &opts)?))
}

impl Node {
    fn new(sys: Rc<Sys>, loc: Loc, decls: Rc<[(Rc<str>, Value)]>, defs: Vec<RawDef>) -> Node {
        Node {
            sys,
            loc,
            decls,
            defs,
            decl_index: OnceCell::new(),
            def_index: OnceCell::new(),
            kids: OnceCell::new(),
            stable: false,
            config: WeakMemo::default(),
            options: WeakMemo::default(),
        }
    }

    fn decl_index(self: &Rc<Self>, ev: &mut Eval) -> Result<Rc<DeclIndex>> {
        if let Some(d) = self.decl_index.get() {
            return Ok(d.clone());
        }
        let d = decl_index_for(ev, &self.loc, &self.decls, self.stable)?;
        let _ = self.decl_index.set(d.clone());
        Ok(d)
    }

    fn def_index(self: &Rc<Self>, ev: &mut Eval) -> Result<Rc<DefIndex>> {
        if let Some(d) = self.def_index.get() {
            return Ok(d.clone());
        }
        let mut idx: DefIndex = HashMap::default();
        for d in &self.defs {
            if idx.capacity() == 0 {
                // (the first set's names: mostly all of them)
                if let Value::Attrs(a) = &d.value {
                    idx.reserve(a.entries().len());
                }
            }
            let mut pushed = SmallVec::new();
            push_down(ev, d.value.clone(), &d.wraps, &mut pushed).context(|| {
                (
                    format!(
                        "while evaluating definitions from `{}' at `{}':",
                        d.file,
                        show_option(&self.loc)
                    ),
                    d.pos,
                )
            })?;
            for (a, wraps) in pushed {
                for (i, (k, v)) in a.entries().iter().enumerate() {
                    idx.entry(*k).or_default().push(RawDef {
                        file: d.file.clone(),
                        pos: entry_position(&a, i, k).or(d.pos),
                        value: v.clone(),
                        wraps: wraps.clone(),
                    });
                }
            }
        }
        let r = Rc::new(idx);
        let _ = self.def_index.set(r.clone());
        Ok(r)
    }

    fn child(self: &Rc<Self>, ev: &mut Eval, name: Sym) -> Result<Child> {
        let di = self.decl_index(ev)?;
        match di.find(name) {
            Some(i) => self.child_at(ev, &di, i),
            None => {
                // not declared here: an empty subtree (not kept)
                let defs: Vec<RawDef> = self
                    .def_index(ev)?
                    .get(name)
                    .map(|d| d.to_vec())
                    .unwrap_or_default();
                Ok(Child::Node(Rc::new(Node::new(
                    self.sys.clone(),
                    loc_with(&self.loc, name),
                    Rc::new([]),
                    defs,
                ))))
            }
        }
    }

    /// The child named `di.names[i]`.
    fn child_at(self: &Rc<Self>, ev: &mut Eval, di: &Rc<DeclIndex>, i: usize) -> Result<Child> {
        let kids = self
            .kids
            .get_or_init(|| di.names.iter().map(|_| OnceCell::new()).collect());
        if let Some(c) = kids[i].get() {
            return Ok(c.clone());
        }
        let name = di.names[i];
        let loc = loc_with(&self.loc, name);
        let kind = match di.kinds[i].get() {
            Some(k) => k,
            None => {
                let k = if di.stable {
                    // (cached with the index)
                    kind_of(ev, &loc, &di.decls[i], true)?
                } else {
                    kind_cached(ev, &loc, &di.decls[i], di.from_stable[i])?
                };
                let _ = di.kinds[i].set(k);
                di.kinds[i].get().expect("just set")
            }
        };
        let defs: Vec<RawDef> = self
            .def_index(ev)?
            .get(name)
            .map(|d| d.to_vec())
            .unwrap_or_default();
        let c = match kind {
            Kind::Opt(d) => Child::Opt(Opt::new(loc, d.clone(), defs)),
            Kind::Node(decls, stable) => {
                let mut n = Node::new(self.sys.clone(), loc, decls.clone(), defs);
                n.stable = *stable;
                Child::Node(Rc::new(n))
            }
        };
        // (a child that read itself while it was built: the first one)
        let _ = kids[i].set(c);
        Ok(kids[i].get().expect("just set").clone())
    }

    /// The declared part of `config` at this node.
    fn config_attrs(self: &Rc<Self>, ev: &mut Eval) -> Result<Value> {
        if let Some(v) = self.config.get() {
            return Ok(v.clone());
        }
        let e = self.config_entries(ev, None)?;
        let v = Value::attrs(Attrs::from_sorted(e));
        self.config.set(&v);
        Ok(v)
    }

    /// The entries of `config` here (sorted), one thunk per declared name
    /// but `skip`.
    fn config_entries(
        self: &Rc<Self>,
        ev: &mut Eval,
        skip: Option<&str>,
    ) -> Result<Vec<(Sym, Value)>> {
        let di = self.decl_index(ev)?;
        let mut e = Vec::with_capacity(di.names.len());
        for (i, n) in di.names.iter().enumerate() {
            if skip == Some(*n) {
                continue;
            }
            let me = self.clone();
            let d = di.clone();
            e.push((
                *n,
                lazy(move |ev| match me.child_at(ev, &d, i)? {
                    Child::Opt(o) => ev.force(o.value.clone()),
                    Child::Node(c) => c.config_attrs(ev),
                }),
            ));
        }
        Ok(e)
    }

    fn options_attrs(self: &Rc<Self>, ev: &mut Eval) -> Result<Value> {
        if let Some(v) = self.options.get() {
            return Ok(v.clone());
        }
        let di = self.decl_index(ev)?;
        let mut e = Vec::with_capacity(di.names.len());
        for (i, n) in di.names.iter().enumerate() {
            let me = self.clone();
            let d = di.clone();
            e.push((
                *n,
                lazy(move |ev| match me.child_at(ev, &d, i)? {
                    Child::Opt(o) => o.option_attrs(ev),
                    Child::Node(c) => c.options_attrs(ev),
                }),
            ));
        }
        let v = Value::attrs(Attrs::from_sorted(e));
        self.options.set(&v);
        Ok(v)
    }

    /// Definitions with no matching declaration, as (relative path, def).
    fn unmatched(self: &Rc<Self>, ev: &mut Eval) -> Result<Vec<(Loc, RawDef)>> {
        let di = self.decl_index(ev)?;
        let defs = self.def_index(ev)?;
        let mut names: Vec<&Sym> = defs.keys().collect();
        names.sort();
        let mut out = Vec::new();
        for n in names {
            if *n == "_module" && self.loc.len() == self.sys.prefix.len() {
                // Definitions of the internal options only: nothing
                // unmatched, without building the `_module` node.
                if let Some(pd) = self.sys.plain_module_defs(ev)? {
                    let internal =
                        |k: &str| matches!(k, "args" | "check" | "freeformType" | "specialArgs");
                    if pd
                        .iter()
                        .all(|(_, a)| a.entries().iter().all(|(k, _)| internal(k)))
                    {
                        continue;
                    }
                }
            }
            if let Some(i) = di.find(n) {
                // (the node or option is built here once, for the check
                // and for `config`; `_module` of a plain evaluation is
                // not, above)
                let c = self.child_at(ev, &di, i)?;
                if let Child::Node(c) = c {
                    out.extend(c.unmatched(ev)?);
                }
            } else {
                // relative to the evaluation's root
                let mut p = self.loc[self.sys.prefix.len()..].to_vec();
                p.push(*n);
                for d in &defs[*n] {
                    out.push((p.clone(), d.clone()));
                }
            }
        }
        Ok(out)
    }

    fn declared_names_at(self: &Rc<Self>, ev: &mut Eval, path: &[Sym]) -> Result<Vec<String>> {
        let mut n = self.clone();
        for p in path {
            match n.child(ev, sym(p))? {
                Child::Node(c) => n = c,
                Child::Opt(_) => return Ok(Vec::new()),
            }
        }
        Ok(n.decl_index(ev)?
            .names
            .iter()
            .map(|s| s.to_string())
            .collect())
    }
}

/// nixpkgs' `pushDownProperties`: mkMerge is flattened, mkIf and
/// mkOverride around a set are pushed into its attributes (without
/// forcing the condition).
fn push_down(ev: &mut Eval, v: Value, wraps: &Rc<Vec<Wrap>>, out: &mut Pushed) -> Result<()> {
    let v = ev.force(v)?;
    let a = match &v {
        Value::Attrs(a) => a.clone(),
        o => {
            return throw(format!(
                "A definition is {} where an attribute set of option definitions was expected",
                o.type_name()
            ))
        }
    };
    match type_tag_force(ev, &v)?.as_deref() {
        Some("merge") => {
            let l = force_list(
                ev,
                a.get("contents").unwrap_or(&Value::Null),
                "mkMerge contents",
            )?;
            for x in l.iter() {
                push_down(ev, x.clone(), wraps, out)?;
            }
        }
        Some("if") => {
            let mut w = (**wraps).clone();
            w.push(Wrap::If(a.get("condition").cloned().unwrap_or(Value::Null)));
            push_down(
                ev,
                a.get("content").cloned().unwrap_or(Value::Null),
                &Rc::new(w),
                out,
            )?;
        }
        Some("override") => {
            let mut w = (**wraps).clone();
            w.push(Wrap::Override(
                a.get("priority").cloned().unwrap_or(Value::Int(100)),
            ));
            push_down(
                ev,
                a.get("content").cloned().unwrap_or(Value::Null),
                &Rc::new(w),
                out,
            )?;
        }
        _ => out.push((a, wraps.clone())),
    }
    Ok(())
}

// ----------------------------------------------------------------------
// Options

/// An option's declarations, merged: what it is apart from its
/// location and definitions (shared by every option built from the same
/// declarations, see `DeclIndex`).
pub struct OptDecl {
    /// mkOption sets, merged.
    decl: Rc<Attrs>,
    /// Its `default`, `apply` and `readOnly` (read once: lookups showed
    /// in profiles).
    default: Option<Value>,
    /// `default` as an `mkOptionDefault` definition.
    default_def: Option<RawDef>,
    apply: Option<Value>,
    read_only: Option<Value>,
    /// Shared with the declaring modules.
    decl_files: SmallVec<[Rc<str>; 1]>,
    decl_pos: SmallVec<[Option<Span>; 1]>,
    ty: Value,
    /// `ty`'s `check` and forced `merge`, once known.
    fns: OnceCell<(Value, Value)>,
}

pub struct Opt {
    loc: Loc,
    d: Rc<OptDecl>,
    raw: Vec<RawDef>,
    value: Value,
    merged: OnceCell<Merged>,
    attrs: WeakMemo,
}

pub struct Merged {
    // (mostly one definition: inline)
    pub defs: SmallVec<[Def; 1]>,
    /// Definitions with their `mkOrder` priority (`None` for the default).
    pub order: SmallVec<[Option<i64>; 1]>,
    pub highest: i64,
}

/// The attributes `lib.mkOption` takes (an option declaration has these
/// and `_type`).
pub(crate) const MK_OPTION_ARGS: &[&str] = &[
    "default",
    "defaultText",
    "example",
    "description",
    "relatedPackages",
    "type",
    "apply",
    "internal",
    "visible",
    "readOnly",
];

fn is_opt_key(k: &str) -> bool {
    // (`MK_OPTION_ARGS` and `_type`, as one match: checked by a test)
    matches!(
        k,
        "_type"
            | "default"
            | "defaultText"
            | "example"
            | "description"
            | "relatedPackages"
            | "type"
            | "apply"
            | "internal"
            | "visible"
            | "readOnly"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn opt_keys_are_mk_option_args() {
        for k in super::MK_OPTION_ARGS.iter().chain(&["_type"]) {
            assert!(super::is_opt_key(k), "{}", k);
        }
        assert!(!super::is_opt_key("defaults"));
        assert!(!super::is_opt_key("types"));
    }
}

impl OptDecl {
    fn new(ev: &mut Eval, loc: &[Sym], decls: &[Decl]) -> Result<Rc<OptDecl>> {
        // mergeOptionDecls
        let mut merged: Vec<(Sym, Value)> = Vec::new();
        let mut ty: Option<Value> = None;
        let mut files: SmallVec<[Rc<str>; 1]> = SmallVec::new();
        let mut poss: SmallVec<[Option<Span>; 1]> = SmallVec::new();
        let mut decl_attrs: Option<Rc<Attrs>> = None;
        // One declaration with a type (the rule) is the merged declaration
        // as it is: no copy.
        let mut as_is: Option<Rc<Attrs>> = None;
        for (m, v, pos) in decls {
            let a = force_attrs(ev, v, "an option declaration")?;
            // One pass: unknown attributes, and what one declaration
            // taken as it is needs.
            let (mut a_ty, mut a_ro, mut a_int) = (None, None, None);
            for (k, x) in a.entries() {
                match *k {
                    "type" => a_ty = Some(x),
                    "readOnly" => a_ro = Some(x),
                    "internal" => a_int = Some(x),
                    _ => {}
                }
                if !is_opt_key(k) {
                    return Err(EvalError::new(
                        ErrorKind::Throw,
                        format!(
                            "The option `{}' in `{}' is declared with an unknown attribute `{}' (lib.mkOption accepts {})",
                            show_option(loc),
                            m,
                            k,
                            MK_OPTION_ARGS.join(", ")
                        ),
                        a.position(k).or(*pos),
                    ));
                }
            }
            let mut pos_here = *pos;
            if let (1, Some(t)) = (decls.len(), a_ty) {
                // (`readOnly`/`internal` must be Booleans, as below)
                for (k, x) in [("readOnly", a_ro), ("internal", a_int)] {
                    if let Some(x) = x {
                        force_bool(ev, x, k)?;
                    }
                }
                ty = Some(t.clone());
                as_is = Some(a.clone());
            }
            for (k, x) in a.entries().iter().filter(|_| as_is.is_none()) {
                match *k {
                    "_type" => {}
                    "type" => {
                        ty = Some(match ty {
                            None => x.clone(),
                            Some(t) => match types::merge_types(ev, &t, x)? {
                                Some(t) => t,
                                None => {
                                    return Err(EvalError::new(
                                        ErrorKind::Throw,
                                        format!(
                                            "The option `{}' in `{}' is already declared in {}.",
                                            show_option(loc),
                                            m,
                                            show_files(&strings(&files))
                                        ),
                                        a.position(k).or(*pos),
                                    ))
                                }
                            },
                        })
                    }
                    "default" | "example" | "description" | "apply" | "defaultText" => {
                        if merged.iter().any(|(n, _)| n == k) {
                            return Err(EvalError::new(
                                ErrorKind::Throw,
                                format!(
                                    "The option `{}' in `{}' is already declared in {}.",
                                    show_option(loc),
                                    m,
                                    show_files(&strings(&files))
                                ),
                                a.position(k).or(*pos),
                            ));
                        }
                        merged.push((*k, x.clone()));
                    }
                    "readOnly" | "internal" => {
                        let b = force_bool(ev, x, k)?;
                        if let Some(e) = merged.iter_mut().find(|(n, _)| n == k) {
                            if b {
                                e.1 = Value::Bool(true);
                            }
                        } else {
                            merged.push((*k, Value::Bool(b)));
                        }
                    }
                    _ => {
                        merged.retain(|(n, _)| n != k);
                        merged.push((*k, x.clone()));
                    }
                }
            }
            if pos_here.is_none() {
                pos_here = a.position("_type");
            }
            files.push(m.clone());
            poss.push(pos_here);
            decl_attrs.get_or_insert(a);
        }
        let ty = ty.unwrap_or_else(types::unspecified);
        let decl = match as_is {
            Some(a) => a,
            None => {
                merged.push((key("type"), ty.clone()));
                let mut decl = Attrs::from_unsorted(merged);
                // keep the first declaration's positions (for `default`)
                decl.positions = decl_attrs.as_ref().and_then(|a| a.positions.clone());
                Rc::new(decl)
            }
        };
        let (mut default, mut apply, mut read_only) = (None, None, None);
        for (k, v) in decl.entries() {
            match *k {
                "default" => default = Some(v.clone()),
                "apply" => apply = Some(v.clone()),
                "readOnly" => read_only = Some(v.clone()),
                _ => {}
            }
        }
        let first_file = files.first().cloned().unwrap_or_else(|| "".into());
        // The `default` as an `mkOptionDefault` definition.
        let default_def = default.as_ref().map(|v| RawDef {
            file: first_file.clone(),
            pos: decl_attrs.as_ref().and_then(|a| a.position("default")),
            value: v.clone(),
            wraps: DEFAULT_WRAPS.with(|w| w.clone()),
        });
        Ok(Rc::new(OptDecl {
            decl,
            default,
            default_def,
            apply,
            read_only,
            decl_files: files,
            decl_pos: poss,
            ty,
            fns: OnceCell::new(),
        }))
    }
}

impl Opt {
    fn new(loc: Loc, d: Rc<OptDecl>, raw: Vec<RawDef>) -> Rc<Opt> {
        Rc::new_cyclic(|weak: &std::rc::Weak<Opt>| {
            let w = weak.clone();
            // Weak, so that a computed option does not keep itself alive;
            // `Node::kids` owns the option.
            let value = lazy(move |ev| match w.upgrade() {
                Some(o) => o.compute_value(ev),
                None => throw("internal error: option state dropped"),
            });
            Opt {
                loc,
                d,
                raw,
                value,
                merged: OnceCell::new(),
                attrs: WeakMemo::default(),
            }
        })
    }

    fn read_only(&self, ev: &mut Eval) -> Result<bool> {
        match &self.d.read_only {
            Some(v) => force_bool(ev, v, "readOnly"),
            None => Ok(false),
        }
    }

    fn all_raw(&self) -> Vec<RawDef> {
        let mut v = Vec::with_capacity(self.raw.len() + 1);
        v.extend(self.d.default_def.iter().cloned());
        v.extend(self.raw.iter().cloned());
        v
    }

    fn merged(&self, ev: &mut Eval) -> Result<&Merged> {
        if let Some(m) = self.merged.get() {
            return Ok(m);
        }
        // (the default first, without a list of them all)
        let m = discharge_defs(ev, self.d.default_def.as_ref(), &self.raw)?;
        // (kept inline; a definition that read this option's metadata
        // while it was computed may have stored it first: the same)
        Ok(self.merged.get_or_init(|| m))
    }

    fn compute_value(self: &Rc<Self>, ev: &mut Eval) -> Result<Value> {
        OPT_STACK.with(|s| s.borrow_mut().push(self.clone()));
        let r = self.compute_value_inner(ev);
        // Names are only needed for an error: format them then.
        let chain: Vec<String> = OPT_STACK.with(|s| {
            let mut s = s.borrow_mut();
            let c = if r.is_err() {
                s.iter().map(|o| show_option(&o.loc)).collect()
            } else {
                Vec::new()
            };
            s.pop();
            c
        });
        r.map_err(|mut e| {
            let name = show_option(&self.loc);
            if e.kind == ErrorKind::InfiniteRecursion && e.msg == "infinite recursion encountered" {
                let shown: Vec<String> = chain.iter().map(|c| format!("`{}'", c)).collect();
                // The innermost frame names the attribute whose value was
                // already being computed; if it closes the chain of
                // options, report exactly that cycle.
                let reentered = e.trace.first().and_then(|f| {
                    f.msg
                        .strip_prefix("while evaluating the attribute '")
                        .and_then(|r| r.strip_suffix('\''))
                        .map(|s| s.to_string())
                });
                let start = reentered.as_ref().and_then(|attr| {
                    chain.iter().position(|c| {
                        c == attr || c.ends_with(&format!(".{}", attr))
                    })
                });
                if let Some(i) = start {
                    let mut cyc: Vec<String> = shown[i..].to_vec();
                    cyc.push(shown[i].clone());
                    e.msg = format!(
                        "infinite recursion encountered: the option {} depends on its own value:\n{}",
                        shown[i],
                        cyc.join(" -> ")
                    );
                } else {
                e.msg = format!(
                    "infinite recursion encountered while evaluating the option `{}'\noptions being evaluated (outermost first): {}\n(one of them depends on its own value, e.g. through `config')",
                    name,
                    shown.join(" -> ")
                );
                }
            }
            if e.trace.len() < 64 {
                e.trace.push(ox_eval::error::Frame {
                    msg: format!("while evaluating the option `{}':", name),
                    span: self.d.decl_pos.first().copied().flatten(),
                });
            }
            e
        })
    }

    fn compute_value_inner(self: &Rc<Self>, ev: &mut Eval) -> Result<Value> {
        let n_all = self.raw.len() + usize::from(self.d.default.is_some());
        if n_all > 1 && self.read_only(ev)? {
            let all = self.all_raw();
            let defs: Vec<Def> = all
                .iter()
                .map(|d| Def {
                    file: d.file.clone(),
                    pos: d.pos,
                    value: d.value.clone(),
                })
                .collect();
            let shown = show_defs(ev, &defs);
            return throw(format!(
                "The option `{}' is read-only, but it's set multiple times. Definition values:{}",
                show_option(&self.loc),
                shown
            ));
        }
        let m = self.merged(ev)?;
        if m.defs.is_empty() {
            let decl = self
                .d
                .decl_pos
                .first()
                .copied()
                .flatten()
                .map(|p| format!(" (declared at {})", p.location()))
                .unwrap_or_default();
            return throw(format!(
                "The option `{}' was accessed but has no value defined. Try setting the option.{}",
                show_option(&self.loc),
                decl
            ));
        }
        // (the type's functions kept with the declaration: a lookup by
        // the type's address otherwise)
        let (check, merge) = match self.d.fns.get() {
            Some(f) => f,
            None => {
                let f = check_merge_of(ev, &self.loc, &self.d.ty)?;
                let _ = self.d.fns.set(f);
                self.d.fns.get().expect("just set")
            }
        };
        let v = check_and_merge_fns(ev, &self.loc, &self.d.ty, check, merge, &m.defs)?;
        match &self.d.apply {
            Some(f) => {
                let r = ev.call(f.clone(), v, None)?;
                ev.force(r)
            }
            None => ev.force(v),
        }
    }

    /// `options.<path>`: the declaration plus value, definitions, …
    fn option_attrs(self: &Rc<Self>, _ev: &mut Eval) -> Result<Value> {
        if let Some(v) = self.attrs.get() {
            return Ok(v.clone());
        }
        let mut e: Vec<(Sym, Value)> = self.d.decl.entries().to_vec();
        e.retain(|(k, _)| *k != "_type");
        e.push((key("_type"), s("option")));
        e.push((key("value"), self.value.clone()));
        e.push((key("loc"), loc_to_value(&self.loc)));
        e.push((
            key("declarations"),
            Value::list(self.d.decl_files.iter().map(|f| s(&**f)).collect()),
        ));
        e.push((
            key("declarationPositions"),
            Value::list(
                self.d
                    .decl_files
                    .iter()
                    .zip(&self.d.decl_pos)
                    .map(|(f, p)| {
                        let (l, c) = p
                            .and_then(|p| p.line_col())
                            .map(|(l, c)| (Value::Int(l as i64), Value::Int(c as i64)))
                            .unwrap_or((Value::Null, Value::Null));
                        attrs(vec![("file", s(&**f)), ("line", l), ("column", c)])
                    })
                    .collect(),
            ),
        ));
        let lazy = |me: &Rc<Opt>, f: fn(&mut Eval, &Rc<Opt>, &Merged) -> Result<Value>| {
            let me = me.clone();
            lazy(move |ev| {
                let m = me.merged(ev)?;
                f(ev, &me, m)
            })
        };
        e.push((
            key("isDefined"),
            lazy(self, |_, _, m| Ok(Value::Bool(!m.defs.is_empty()))),
        ));
        e.push((
            key("highestPrio"),
            lazy(self, |_, _, m| Ok(Value::Int(m.highest))),
        ));
        e.push((
            key("definitions"),
            lazy(self, |_, _, m| {
                Ok(Value::list(
                    m.defs.iter().map(|d| d.value.clone()).collect(),
                ))
            }),
        ));
        e.push((
            key("files"),
            lazy(self, |_, _, m| {
                let mut seen = Vec::new();
                for d in &m.defs {
                    if !seen.contains(&d.file) {
                        seen.push(d.file.clone());
                    }
                }
                Ok(Value::list(seen.iter().map(|f| s(&**f)).collect()))
            }),
        ));
        e.push((
            key("definitionsWithLocations"),
            lazy(self, |_, _, m| {
                Ok(Value::list(
                    m.defs
                        .iter()
                        .zip(&m.order)
                        .map(|(d, o)| {
                            let mut x = vec![("file", s(&*d.file)), ("value", d.value.clone())];
                            // nixpkgs' shape plus where the definition is
                            // written; `positionFile` only when that is not
                            // `file` (a module that sets `_file`).
                            if let Some((p, (l, c))) =
                                d.pos.and_then(|p| p.line_col().map(|lc| (p, lc)))
                            {
                                x.push(("line", Value::Int(l as i64)));
                                x.push(("column", Value::Int(c as i64)));
                                let pf = p.file_name();
                                if pf != *d.file {
                                    x.push(("positionFile", s(&pf)));
                                }
                            }
                            if let Some(o) = o {
                                x.push(("priority", Value::Int(*o)));
                            }
                            attrs(x)
                        })
                        .collect(),
                ))
            }),
        ));
        e.push((
            key("__toString"),
            papp("__toString", 1, prim_opt_to_string, vec![]),
        ));
        let v = Value::attrs(Attrs::from_unsorted(e));
        self.attrs.set(&v);
        Ok(v)
    }
}

thread_local! {
    /// The internal module's file and key.
    static INTERNAL_FILE: Rc<str> = Rc::from("lib/modules.nix");
    static INTERNAL_OPTIONS: OnceCell<Value> = const { OnceCell::new() };
    static RAW_TYPE: OnceCell<Value> = const { OnceCell::new() };
    /// Addresses of the internal `_module.{check,freeformType,args}`
    /// declarations (alive as long as `INTERNAL_OPTIONS`).
    static INTERNAL_DECLS: OnceCell<[usize; 4]> = const { OnceCell::new() };
}

/// The default of the internal `_module.<name>` option if `decl` is that
/// option's declaration.
fn internal_default(name: &str, decl: &Value) -> Option<Value> {
    let v = internal_default_of(name)?;
    is_internal_decl(name, decl).then_some(v)
}

/// The default of the internal `_module.<name>` option (`check`,
/// `freeformType`).
fn internal_default_of(name: &str) -> Option<Value> {
    match name {
        "check" => Some(Value::Bool(true)),
        "freeformType" => Some(Value::Null),
        _ => None,
    }
}

/// Whether `decl` is the internal module's declaration of `_module.<name>`.
fn is_internal_decl(name: &str, decl: &Value) -> bool {
    let Value::Attrs(d) = decl else { return false };
    let i = match name {
        "check" => 0,
        "freeformType" => 1,
        "args" => 2,
        "_module" => 3,
        _ => return false,
    };
    INTERNAL_DECLS.with(|c| {
        let addrs = c.get_or_init(|| {
            let opts = INTERNAL_OPTIONS.with(|c| c.get_or_init(internal_options).clone());
            let Value::Attrs(o) = &opts else {
                return [0; 4];
            };
            let Some(Value::Attrs(m)) = o.get("_module") else {
                return [0; 4];
            };
            let addr = |n: &str| -> usize {
                match m.get(n) {
                    Some(Value::Attrs(x)) => Rc::as_ptr(x) as *const u8 as usize,
                    _ => 0,
                }
            };
            [
                addr("check"),
                addr("freeformType"),
                addr("args"),
                Rc::as_ptr(m) as *const u8 as usize,
            ]
        });
        addrs[i] == Rc::as_ptr(d) as *const u8 as usize
    })
}

fn prim_opt_to_string(ev: &mut Eval, a: &[Value], _span: Span) -> Result<Value> {
    let o = force_attrs(ev, &a[0], "an option")?;
    let loc = loc_from_value(ev, o.get("loc").unwrap_or(&Value::Null))?;
    Ok(s(show_option(&loc)))
}

// ----------------------------------------------------------------------
// Definitions: properties, priorities, order, check and merge

/// Sets of definitions with the properties around them (`push_down`).
type Pushed = SmallVec<[(Rc<Attrs>, Rc<Vec<Wrap>>); 2]>;

/// The results of discharging one definition (mostly one: inline).
type Slots = SmallVec<[Slot; 1]>;

/// One result of discharging a definition: a value at a priority, or an
/// `mkOverride` whose content is not forced yet.
enum Slot {
    Item(Def, i64, Option<i64>),
    Pending(RawDef, Value, i64, Option<i64>),
}

/// `dischargeProperties`, `filterOverrides` and `sortProperties`.
///
/// The content of an `mkOverride` (the option's `default` among them, an
/// `mkOptionDefault` definition) is forced only when no definition with a
/// higher priority exists, as in nixpkgs, where `filterOverrides` reads
/// only `priority`: `default = throw "…"` next to a definition never throws.
pub fn discharge_all(ev: &mut Eval, raw: &[RawDef]) -> Result<Merged> {
    discharge_defs(ev, None, raw)
}

/// `discharge_all` of `first` (if any) followed by `rest`.
fn discharge_defs(ev: &mut Eval, first: Option<&RawDef>, rest: &[RawDef]) -> Result<Merged> {
    let n = rest.len() + usize::from(first.is_some());
    let raw = || first.into_iter().chain(rest.iter());
    // The rule: one definition with no `mkIf` around it, which gives one
    // value (what the general way below gives, without its bookkeeping).
    if let (1, Some(d)) = (n, raw().next()) {
        if d.wraps.iter().all(|w| matches!(w, Wrap::Override(_))) {
            let mut prio = 100;
            for w in d.wraps.iter() {
                if let Wrap::Override(p) = w {
                    prio = int_of(ev, p)?;
                }
            }
            let mut local: Slots = SmallVec::new();
            discharge(ev, d, d.value.clone(), prio, None, &mut local)?;
            if let [Slot::Item(..)] = local.as_slice() {
                if let Some(Slot::Item(d, p, o)) = local.pop() {
                    return Ok(Merged {
                        defs: smallvec![d],
                        order: smallvec![o],
                        highest: p,
                    });
                }
            }
            // (anything else: the general way; what was forced is memoised)
        }
    }
    // Also the rule: an option's default (an `mkOptionDefault`) and one
    // definition without properties around it that gives one value of a
    // better priority: the default is never expanded, that value is left
    // (what the general way below gives, without its bookkeeping).
    if let (Some(dflt), [d]) = (first, rest) {
        if d.wraps.is_empty() && matches!(dflt.wraps.as_slice(), [Wrap::Override(_)]) {
            let dp = match dflt.wraps.first() {
                Some(Wrap::Override(p)) => int_of(ev, p)?,
                _ => 100,
            };
            let mut local: Slots = SmallVec::new();
            discharge(ev, d, d.value.clone(), 100, None, &mut local)?;
            if let [Slot::Item(_, p, _)] = local.as_slice() {
                if *p < dp {
                    if let Some(Slot::Item(d, p, o)) = local.pop() {
                        return Ok(Merged {
                            defs: smallvec![d],
                            order: smallvec![o],
                            highest: p,
                        });
                    }
                }
            }
            // (anything else: the general way; what was forced is memoised)
        }
    }
    // Slots keyed by their position in definition order (a pending slot's
    // results get its key plus their own index), so expanding them late
    // keeps the order of definitions.
    // (Inline keys: one heap allocation per definition showed in profiles.)
    let mut slots: Vec<(SmallVec<[u32; 4]>, Slot)> = Vec::with_capacity(n);
    for (i, d) in raw().enumerate() {
        let mut prio = None;
        let mut keep = true;
        for w in d.wraps.iter() {
            match w {
                Wrap::If(c) => {
                    if !cond(ev, c, d)? {
                        keep = false;
                        break;
                    }
                }
                Wrap::Override(p) => prio = Some(int_of(ev, p)?),
            }
        }
        if !keep {
            continue;
        }
        let mut local: Slots = SmallVec::new();
        match prio {
            Some(p) => local.push(Slot::Pending(d.clone(), d.value.clone(), p, None)),
            None => discharge(ev, d, d.value.clone(), 100, None, &mut local)?,
        }
        for (j, s) in local.into_iter().enumerate() {
            slots.push((smallvec![i as u32, j as u32], s));
        }
    }
    // Expand the pending override with the best priority while it can
    // still win (ties included: equal priorities are all kept).
    loop {
        let highest = slots
            .iter()
            .filter_map(|(_, s)| match s {
                Slot::Item(_, p, _) => Some(*p),
                Slot::Pending(..) => None,
            })
            .min()
            .unwrap_or(9999);
        let next = slots
            .iter()
            .enumerate()
            .filter_map(|(i, (_, s))| match s {
                Slot::Pending(_, _, p, _) if *p <= highest => Some((*p, i)),
                _ => None,
            })
            .min();
        let Some((_, i)) = next else { break };
        let (key, slot) = slots.remove(i);
        let Slot::Pending(d, v, p, order) = slot else {
            unreachable!("only pending slots are selected")
        };
        let mut local: Slots = SmallVec::new();
        discharge(ev, &d, v, p, order, &mut local)?;
        for (j, s) in local.into_iter().enumerate() {
            let mut k = key.clone();
            k.push(j as u32);
            slots.push((k, s));
        }
    }
    // The rule: one definition is left (no sorting, no intermediate lists).
    if let [(_, Slot::Item(..))] = slots.as_slice() {
        if let Some((_, Slot::Item(d, p, o))) = slots.pop() {
            return Ok(Merged {
                defs: smallvec![d],
                order: smallvec![o],
                highest: p,
            });
        }
    }
    slots.sort_by(|a, b| a.0.cmp(&b.0));
    let items: Vec<(Def, i64, Option<i64>)> = slots
        .into_iter()
        .filter_map(|(_, s)| match s {
            Slot::Item(d, p, o) => Some((d, p, o)),
            Slot::Pending(..) => None,
        })
        .collect();
    let highest = items.iter().map(|x| x.1).min().unwrap_or(9999);
    let mut kept: Vec<(Def, Option<i64>)> = items
        .into_iter()
        .filter(|x| x.1 == highest)
        .map(|x| (x.0, x.2))
        .collect();
    if kept.iter().any(|x| x.1.is_some()) {
        kept.sort_by_key(|x| x.1.unwrap_or(1000));
    }
    let (defs, order) = kept.into_iter().unzip();
    Ok(Merged {
        defs,
        order,
        highest,
    })
}

fn int_of(ev: &mut Eval, v: &Value) -> Result<i64> {
    // (mostly a value already: no clone, no call of the evaluator)
    if let Value::Int(i) = v {
        return Ok(*i);
    }
    match ev.force(v.clone())? {
        Value::Int(i) => Ok(i),
        o => throw(format!(
            "a priority must be an integer, not {}",
            o.type_name()
        )),
    }
}

fn cond(ev: &mut Eval, c: &Value, d: &RawDef) -> Result<bool> {
    match ev.force(c.clone())? {
        Value::Bool(b) => Ok(b),
        o => Err(EvalError::new(
            ErrorKind::Throw,
            format!(
                "‘mkIf’ called with a non-Boolean condition (it is {}), in a definition from `{}'",
                o.type_name(),
                d.file
            ),
            d.pos,
        )),
    }
}

fn discharge(
    ev: &mut Eval,
    d: &RawDef,
    v: Value,
    prio: i64,
    order: Option<i64>,
    out: &mut Slots,
) -> Result<()> {
    let v = ev.force(v)?;
    if let Value::Attrs(a) = &v {
        match type_tag_force(ev, &v)?.as_deref() {
            Some("merge") => {
                let l = force_list(
                    ev,
                    a.get("contents").unwrap_or(&Value::Null),
                    "mkMerge contents",
                )?;
                for x in l.iter() {
                    discharge(ev, d, x.clone(), prio, order, out)?;
                }
                return Ok(());
            }
            Some("if") => {
                if cond(ev, a.get("condition").unwrap_or(&Value::Null), d)? {
                    discharge(
                        ev,
                        d,
                        a.get("content").cloned().unwrap_or(Value::Null),
                        prio,
                        order,
                        out,
                    )?;
                }
                return Ok(());
            }
            Some("override") => {
                let p = int_of(ev, a.get("priority").unwrap_or(&Value::Int(100)))?;
                out.push(Slot::Pending(
                    d.clone(),
                    a.get("content").cloned().unwrap_or(Value::Null),
                    p,
                    order,
                ));
                return Ok(());
            }
            Some("order") => {
                let p = int_of(ev, a.get("priority").unwrap_or(&Value::Int(1000)))?;
                return discharge(
                    ev,
                    d,
                    a.get("content").cloned().unwrap_or(Value::Null),
                    prio,
                    Some(p),
                    out,
                );
            }
            Some("definition") => {
                let file = match a.get("file") {
                    Some(f) => force_str(ev, f, "mkDefinition file")?.into(),
                    None => d.file.clone(),
                };
                let d2 = RawDef {
                    file,
                    pos: None,
                    value: Value::Null,
                    wraps: d.wraps.clone(),
                };
                return discharge(
                    ev,
                    &d2,
                    a.get("value").cloned().unwrap_or(Value::Null),
                    prio,
                    order,
                    out,
                );
            }
            _ => {}
        }
    }
    out.push(Slot::Item(
        Def {
            file: d.file.clone(),
            pos: d.pos,
            value: v,
        },
        prio,
        order,
    ));
    Ok(())
}

thread_local! {
    /// `check` and `merge` (forced) of types by address (types are shared
    /// between options and, with `share`, between evaluations; two
    /// attribute lookups per option value showed in profiles). The type
    /// is kept, so that its address stays its own.
    static TYPE_FNS: RefCell<HashMap<usize, TypeFns>> = RefCell::new(HashMap::default());
}

/// A type (kept alive), its `check` and its forced `merge`.
type TypeFns = (Rc<Attrs>, Value, Value);

/// A type's `check` and its `merge`, forced.
fn type_fns(ev: &mut Eval, t: &Rc<Attrs>) -> Result<(Value, Value)> {
    let k = Rc::as_ptr(t) as *const u8 as usize;
    if let Some((_, c, m)) = TYPE_FNS.with(|c| c.borrow().get(&k).cloned()) {
        return Ok((c, m));
    }
    let check = t.get("check").cloned().unwrap_or(Value::Null);
    let merge = ev.force(t.get("merge").cloned().unwrap_or(Value::Null))?;
    TYPE_FNS.with(|c| {
        let mut c = c.borrow_mut();
        // (bounded: types built per evaluation would pile up)
        if c.len() >= 1024 {
            c.clear();
        }
        c.insert(k, (t.clone(), check.clone(), merge.clone()));
    });
    Ok((check, merge))
}

/// Type-check every definition, then merge them with the type.
pub fn check_and_merge(ev: &mut Eval, loc: &[Sym], ty: &Value, defs: &[Def]) -> Result<Value> {
    let (check, merge) = check_merge_of(ev, loc, ty)?;
    check_and_merge_fns(ev, loc, ty, &check, &merge, defs)
}

/// The `check` and forced `merge` of the type `ty` of `loc`.
fn check_merge_of(ev: &mut Eval, loc: &[Sym], ty: &Value) -> Result<(Value, Value)> {
    let t = force_attrs_with(ev, ty, || {
        format!("the type of option `{}'", show_option(loc))
    })?;
    type_fns(ev, &t)
}

/// `check_and_merge` with the type's `check` and `merge` at hand.
fn check_and_merge_fns(
    ev: &mut Eval,
    loc: &[Sym],
    ty: &Value,
    check: &Value,
    merge: &Value,
    defs: &[Def],
) -> Result<Value> {
    let mut bad = Vec::new();
    // An `either`'s v2 merge checks its definitions itself (and reports
    // nixpkgs' "TypeError: … is neither a value of type …").
    let is_either = types::either_parts_of_merge(merge).is_some();
    for d in defs.iter().filter(|_| !is_either) {
        let ok = ev.call(check.clone(), d.value.clone(), None)?;
        if !force_bool(ev, &ok, "the result of a type's check")? {
            bad.push(d.clone());
        }
    }
    if !bad.is_empty() {
        let desc = types::description(ev, ty)?;
        let shown = show_defs(ev, &bad);
        return Err(EvalError::new(
            ErrorKind::Throw,
            format!(
                "A definition for option `{}' is not of type `{}'. Definition values:{}",
                show_option(loc),
                desc,
                shown
            ),
            bad[0].pos,
        ));
    }
    match types::merge_v2_with(ev, merge, ty, loc, defs)? {
        Ok(v) => Ok(v),
        Err(head) => Err(EvalError::new(
            ErrorKind::Throw,
            format!(
                "A definition for option `{}' is not of type `{}'. TypeError: {}",
                show_option(loc),
                types::description(ev, ty)?,
                head
            ),
            defs.first().and_then(|d| d.pos),
        )),
    }
}

/// nixpkgs' `mergeDefinitions … .optionalValue`: `None` when nothing is
/// left after properties; the merged value is computed lazily.
pub fn merge_definitions(
    ev: &mut Eval,
    loc: &[Sym],
    ty: &Value,
    raw: &[RawDef],
) -> Result<Option<Value>> {
    merge_definitions_at(ev, loc.to_vec(), ty, raw)
}

/// `merge_definitions` with a location the caller no longer needs.
pub fn merge_definitions_at(
    ev: &mut Eval,
    loc: Loc,
    ty: &Value,
    raw: &[RawDef],
) -> Result<Option<Value>> {
    let m = discharge_all(ev, raw)?;
    if m.defs.is_empty() {
        return Ok(None);
    }
    let ty = ty.clone();
    Ok(Some(lazy(move |ev| {
        let v = check_and_merge(ev, &loc, &ty, &m.defs)?;
        ev.force(v)
    })))
}

fn set_attr_by_path(path: &[Sym], v: Value) -> Value {
    let mut v = v;
    for p in path.iter().rev() {
        v = attrs_sym(vec![(sym(p), v)]);
    }
    v
}

/// `recursiveUpdate lhs rhs` (rhs wins), lazily below the first level.
pub fn recursive_update(ev: &mut Eval, lhs: Value, rhs: Value) -> Result<Value> {
    let l = force_attrs(ev, &lhs, "recursiveUpdate")?;
    let r = force_attrs(ev, &rhs, "recursiveUpdate")?;
    let mut e: Vec<(Sym, Value)> = l.entries().to_vec();
    for (k, rv) in r.entries() {
        match l.get(k) {
            Some(lv) => {
                let (lv, rv) = (lv.clone(), rv.clone());
                let merged = lazy(move |ev| {
                    let a = ev.force(lv.clone())?;
                    let b = ev.force(rv.clone())?;
                    let both = matches!((&a, &b), (Value::Attrs(x), Value::Attrs(y)) if !is_drv(x) && !is_drv(y));
                    if both {
                        recursive_update(ev, a, b)
                    } else {
                        Ok(b)
                    }
                });
                e.retain(|(x, _)| x != k);
                e.push((*k, merged));
            }
            None => e.push((*k, rv.clone())),
        }
    }
    Ok(Value::attrs(Attrs::from_unsorted(e)))
}

fn is_drv(a: &Attrs) -> bool {
    matches!(a.get("type"), Some(Value::Str(s)) if s.s == "derivation")
}

/// nixpkgs' internal module: the `_module.*` options. `specialArgs` is
/// defined per evaluation (with the priority of a default).
fn internal_options() -> Value {
    let opt = |ty: Value, extra: Vec<(&'static str, Value)>| {
        let mut e = vec![
            ("_type", s("option")),
            ("type", ty),
            ("internal", Value::Bool(true)),
        ];
        e.extend(extra);
        attrs(e)
    };
    attrs(vec![(
        "_module",
        attrs(vec![
            (
                "args",
                opt(
                    types::lazy_attrs_of(types::raw()),
                    vec![("description", s("Additional arguments passed to each module in addition to ones like `lib`, `config`, and `pkgs`, `modulesPath`."))],
                ),
            ),
            (
                "check",
                opt(
                    types::bool_(),
                    vec![
                        ("default", Value::Bool(true)),
                        ("description", s("Whether to check whether all option definitions have matching declarations.")),
                    ],
                ),
            ),
            (
                "freeformType",
                opt(
                    types::null_or(types::option_type()),
                    vec![
                        ("default", Value::Null),
                        ("description", s("If set, merge all definitions that don't have an associated option together using this type.")),
                    ],
                ),
            ),
            (
                "specialArgs",
                opt(
                    types::raw(),
                    vec![
                        ("readOnly", Value::Bool(true)),
                        ("description", s("Externally provided module arguments that can't be modified from within a configuration, but can be used in module imports.")),
                    ],
                ),
            ),
        ]),
    )])
}
