//! Runtime values. A `Value` is either in weak head normal form or a
//! `Thunk` that has not been forced yet; lists and attribute sets hold
//! `Value`s, so their elements stay lazy until someone looks at them.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::rc::Rc;

use crate::compile::{Expr, LambdaDef};
use crate::error::Span;

/// Attribute and variable names: interned, so copying one is free and
/// equal names are usually the same pointer. The interner only grows;
/// the set of names a program uses is small next to its values.
pub type Sym = &'static str;

thread_local! {
    // Fx, not SipHash: the compiler interns every identifier it meets.
    static INTERNER: RefCell<rustc_hash::FxHashSet<&'static str>> =
        RefCell::new(rustc_hash::FxHashSet::default());
}

/// Intern a name.
pub fn sym(s: &str) -> Sym {
    INTERNER.with(|i| {
        let mut i = i.borrow_mut();
        if let Some(x) = i.get(s) {
            return *x;
        }
        let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
        i.insert(leaked);
        leaked
    })
}

/// The string context: store paths (and derivation outputs) a string
/// refers to. `None` for the common, context-free case.
pub type Context = Option<Rc<BTreeSet<String>>>;

#[derive(Clone, Debug, PartialEq)]
pub struct NixString {
    pub s: String,
    pub ctx: Context,
}

impl NixString {
    pub fn plain(s: impl Into<String>) -> NixString {
        NixString {
            s: s.into(),
            ctx: None,
        }
    }
}

pub fn merge_ctx(a: &Context, b: &Context) -> Context {
    match (a, b) {
        (None, None) => None,
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (Some(x), Some(y)) => {
            if Rc::ptr_eq(x, y) {
                return Some(x.clone());
            }
            let mut s = (**x).clone();
            s.extend(y.iter().cloned());
            Some(Rc::new(s))
        }
    }
}

pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<NixString>),
    Path(Rc<String>),
    Attrs(Rc<Attrs>),
    List(Rc<ListVec>),
    Lambda(Rc<Closure>),
    PrimOp(Rc<PrimOp>),
    PrimOpApp(Rc<PrimOpApp>),
    Thunk(Thunk),
}

impl Clone for Value {
    /// Written out so that it inlines: most clones are of integers,
    /// booleans or one reference count.
    #[inline]
    fn clone(&self) -> Value {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(i) => Value::Int(*i),
            Value::Float(f) => Value::Float(*f),
            Value::Str(s) => Value::Str(s.clone()),
            Value::Path(p) => Value::Path(p.clone()),
            Value::Attrs(a) => Value::Attrs(a.clone()),
            Value::List(l) => Value::List(l.clone()),
            Value::Lambda(c) => Value::Lambda(c.clone()),
            Value::PrimOp(p) => Value::PrimOp(p.clone()),
            Value::PrimOpApp(p) => Value::PrimOpApp(p.clone()),
            Value::Thunk(t) => Value::Thunk(t.clone()),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.type_name())
    }
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(Rc::new(NixString::plain(s)))
    }
    pub fn str_ctx(s: impl Into<String>, ctx: Context) -> Value {
        Value::Str(Rc::new(NixString { s: s.into(), ctx }))
    }
    pub fn list(v: Vec<Value>) -> Value {
        Value::List(Rc::new(ListVec::from(v)))
    }
    pub fn attrs(a: Attrs) -> Value {
        Value::Attrs(Rc::new(a))
    }

    /// Nix's `builtins.typeOf` name.
    pub fn type_of(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Path(_) => "path",
            Value::Attrs(_) => "set",
            Value::List(_) => "list",
            Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_) => "lambda",
            Value::Thunk(_) => "thunk",
        }
    }

    /// The phrase Nix uses in type errors ("an integer", "a set", …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a Boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Path(_) => "a path",
            Value::Attrs(_) => "a set",
            Value::List(_) => "a list",
            Value::Lambda(_) => "a function",
            Value::PrimOp(_) => "a built-in function",
            Value::PrimOpApp(_) => "a partially applied built-in function",
            Value::Thunk(_) => "a thunk",
        }
    }

    pub fn is_function(&self) -> bool {
        matches!(
            self,
            Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_)
        )
    }
}

/// An attribute set, sorted by name so lookups are binary searches and
/// iteration order is Nix's (lexicographic by name).
///
/// `big // small` does not copy `big`: the result is a layer (`own`, the
/// new attributes) over a shared `base`. Lookups search the layers top
/// down; the first call to `entries()` flattens once and caches. Layers
/// grow geometrically towards the bottom (see `update`), so a chain has
/// O(log n) layers and a fold of `acc // { … }` copies little.
#[derive(Clone, Default)]
pub struct Attrs {
    /// Dropped by `Drop for Attrs` (on a grown stack when deep).
    own: std::mem::ManuallyDrop<Vec<(Sym, Value)>>,
    /// What only some sets need, boxed so that a set is 48 bytes (its
    /// allocation 64; a module evaluation holds tens of thousands of small
    /// sets): a `//` layer's base (set when it is built), or a big set's
    /// lookup count and name index (set on its first indexed lookup).
    extra: std::cell::OnceCell<Box<Extra>>,
    /// Where each attribute was defined, for `unsafeGetAttrPos` and errors.
    pub positions: Option<Positions>,
}

impl Drop for Attrs {
    /// A set's values may hold the only handles to further sets (a fold
    /// of `acc: x: { a = acc; }` nests a million deep): free them on a
    /// stack with room.
    fn drop(&mut self) {
        let own = &mut self.own;
        // SAFETY: `own` is dropped only here, once.
        deep_drop(move || unsafe { std::mem::ManuallyDrop::drop(own) });
    }
}

#[derive(Clone)]
enum Extra {
    Layer(Layer),
    Big(BigIndex),
}

/// For `big // small`: what lies below `own`.
#[derive(Clone)]
struct Layer {
    base: Rc<Attrs>,
    /// How many layers are below this one (a bottom set has 0).
    layers: u32,
    flat: std::cell::OnceCell<Vec<(Sym, Value)>>,
    /// Lookups through the layers so far: a set selected often (`lib`,
    /// built as `a // b // c // …`) is flattened once and then indexed
    /// like a big set, instead of a binary search per layer.
    lookups: std::cell::Cell<u32>,
    index: std::cell::OnceCell<Box<NameIndex>>,
}

/// Lookups through a layered set before it is flattened.
const FLATTEN_AFTER: u32 = 16;

/// For a big set without layers.
#[derive(Clone)]
struct BigIndex {
    /// Selections from `own` so far, to decide when an index pays.
    lookups: std::cell::Cell<u32>,
    /// `own`'s positions by name address, built once the set has been
    /// searched often (a 10,000-attribute `rec` set selected by every
    /// element of a fold): a hash probe instead of ~14 comparisons.
    index: std::cell::OnceCell<Box<NameIndex>>,
}

/// A safety net: the size rule in `update` keeps chains far shorter.
const MAX_LAYERS: u32 = 48;

/// Attribute positions. Sets written in source point at their compiled
/// definition, so evaluating a set literal allocates nothing for them.
#[derive(Clone)]
pub enum Positions {
    Def(&'static crate::compile::AttrsDef),
    Table(Rc<Vec<(Sym, Span)>>),
}

/// Name order (byte-wise, as `str::cmp`), cheaper for attribute names:
/// interned names compare by pointer when equal, and names that differ
/// early (most do) are decided inline instead of by a `memcmp` call.
#[inline]
pub fn cmp_name(a: &str, b: &str) -> std::cmp::Ordering {
    if std::ptr::eq(a, b) {
        return std::cmp::Ordering::Equal;
    }
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let n = x.len().min(y.len());
    for i in 0..n.min(8) {
        if x[i] != y[i] {
            return x[i].cmp(&y[i]);
        }
    }
    if n > 8 {
        return x[8..].cmp(&y[8..]);
    }
    x.len().cmp(&y.len())
}

pub(crate) type NameIndex = rustc_hash::FxHashMap<usize, u32>;

/// Sets smaller than this are never indexed: a binary search is as fast.
const INDEX_MIN: usize = 32;

fn build_index(v: &[(Sym, Value)]) -> Box<NameIndex> {
    let mut ix = NameIndex::with_capacity_and_hasher(v.len(), Default::default());
    for (i, (k, _)) in v.iter().enumerate() {
        ix.insert(k.as_ptr() as usize, i as u32);
    }
    Box::new(ix)
}

/// A name's first eight bytes, zero-padded, as a big-endian integer:
/// sorting by `(name_prefix(k), k)` gives the names' byte order, with
/// most comparisons decided by one integer comparison.
pub(crate) fn name_prefix(s: &str) -> u64 {
    let mut b = [0u8; 8];
    let n = s.len().min(8);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    u64::from_be_bytes(b)
}

fn search<'a>(v: &'a [(Sym, Value)], name: &str) -> Option<&'a Value> {
    // A plain bisection that stops at the first equal name (interned
    // names are equal by address): std's `binary_search_by` always runs
    // to the end, one comparison more on most hits.
    let (mut lo, mut hi) = (0, v.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        // SAFETY: lo <= mid < hi <= v.len()
        let (k, x) = unsafe { v.get_unchecked(mid) };
        match cmp_name(k, name) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(x),
        }
    }
    None
}

/// `search` through an index by name address (`build_index` of these
/// entries, or of entries with the same names in the same order): a hit
/// counts only if the entry's name is the very string looked up (address
/// and length: a name that merely starts at the same address is another
/// one); a miss or a name that is not interned falls back to the binary
/// search, so the index never changes a result.
#[inline(always)]
fn search_indexed<'a>(ix: &NameIndex, v: &'a [(Sym, Value)], name: &str) -> Option<&'a Value> {
    if let Some(&i) = ix.get(&(name.as_ptr() as usize)) {
        if let Some((k, x)) = v.get(i as usize) {
            if std::ptr::eq(k.as_ptr(), name.as_ptr()) && k.len() == name.len() {
                return Some(x);
            }
        }
    }
    search(v, name)
}

/// Merge two sorted entry lists; on equal names the right one wins.
fn merge(a: &[(Sym, Value)], b: &[(Sym, Value)]) -> Vec<(Sym, Value)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    if b.len() * 8 < a.len() {
        // few additions: binary-search each and copy the runs between
        let mut from = 0;
        for (k, v) in b.iter() {
            match a[from..].binary_search_by(|(x, _)| cmp_name(x, k)) {
                Ok(i) => {
                    out.extend_from_slice(&a[from..from + i]);
                    out.push((*k, v.clone()));
                    from += i + 1;
                }
                Err(i) => {
                    out.extend_from_slice(&a[from..from + i]);
                    out.push((*k, v.clone()));
                    from += i;
                }
            }
        }
        out.extend_from_slice(&a[from..]);
        return out;
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match cmp_name(a[i].0, b[j].0) {
            std::cmp::Ordering::Less => {
                out.push(a[i].clone());
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j].clone());
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(b[j].clone());
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

impl Attrs {
    pub fn new() -> Attrs {
        Attrs::default()
    }
    /// Build from unsorted entries; later duplicates win.
    pub fn from_unsorted(mut entries: Vec<(Sym, Value)>) -> Attrs {
        // stable: duplicates stay in their order, so the last one wins
        entries.sort_by(|a, b| cmp_name(a.0, b.0));
        // Keep the last of duplicates in place (no second vector): `w` is
        // the last entry kept so far.
        let mut w = 0;
        for r in 1..entries.len() {
            if entries[r].0 != entries[w].0 {
                w += 1;
            }
            entries.swap(w, r);
        }
        entries.truncate(w + 1);
        Attrs::from_sorted(entries)
    }
    /// Build from entries known to be sorted and unique.
    pub fn from_sorted(entries: Vec<(Sym, Value)>) -> Attrs {
        Attrs {
            own: std::mem::ManuallyDrop::new(entries),
            extra: Default::default(),
            positions: None,
        }
    }
    /// All attributes, sorted by name.
    #[inline]
    pub fn entries(&self) -> &[(Sym, Value)] {
        match self.layer() {
            None => &self.own,
            Some(l) => l.flat.get_or_init(|| self.flatten()),
        }
    }
    #[inline]
    fn layer(&self) -> Option<&Layer> {
        match self.extra.get().map(|b| &**b) {
            Some(Extra::Layer(l)) => Some(l),
            _ => None,
        }
    }
    fn base(&self) -> Option<&Rc<Attrs>> {
        self.layer().map(|l| &l.base)
    }
    /// The flattened entries of a layer, once computed.
    fn flat(&self) -> Option<&Vec<(Sym, Value)>> {
        self.layer().and_then(|l| l.flat.get())
    }
    fn layers(&self) -> u32 {
        self.layer().map_or(0, |l| l.layers)
    }

    /// Combine the layers' (small) additions first, then merge them into
    /// the bottom set once: one pass over the big set, not one per layer.
    fn flatten(&self) -> Vec<(Sym, Value)> {
        let mut overlays: Vec<&[(Sym, Value)]> = Vec::new();
        let mut a = self;
        let bottom: &[(Sym, Value)] = loop {
            if let Some(f) = a.flat() {
                break f;
            }
            match a.base() {
                None => break &a.own,
                Some(b) => {
                    overlays.push(&a.own);
                    a = b;
                }
            }
        };
        let mut combined: Vec<(Sym, Value)> = Vec::new();
        for o in overlays.iter().rev() {
            combined = merge(&combined, o);
        }
        merge(bottom, &combined)
    }
    #[inline]
    pub fn len(&self) -> usize {
        self.entries().len()
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.layer().is_none() && self.own.is_empty()
    }
    pub fn get(&self, name: &str) -> Option<&Value> {
        if let Some(l) = self.layer() {
            return self.get_layered(l, name);
        }
        if self.own.len() >= INDEX_MIN {
            return self.get_indexed(name);
        }
        search(&self.own, name)
    }
    /// `get` on a `//` layer: search the layers top down until the set has
    /// been looked up often, then flatten it once and, when it is big,
    /// index the flat entries by name address (as `get_indexed`).
    fn get_layered<'a>(&'a self, l: &'a Layer, name: &str) -> Option<&'a Value> {
        if let Some(f) = l.flat.get() {
            if let Some(ix) = l.index.get() {
                return search_indexed(ix, f, name);
            }
            if f.len() >= INDEX_MIN {
                let n = l.lookups.get() + 1;
                l.lookups.set(n);
                if n as usize >= FLATTEN_AFTER as usize + 8 + f.len() / 16 {
                    let _ = l.index.set(build_index(f));
                }
            }
            return search(f, name);
        }
        let n = l.lookups.get() + 1;
        l.lookups.set(n);
        if n >= FLATTEN_AFTER {
            return search(self.entries(), name);
        }
        let mut a = self;
        loop {
            if let Some(v) = search(&a.own, name) {
                return Some(v);
            }
            match a.layer() {
                Some(l) => {
                    a = &l.base;
                    match a.layer() {
                        // the bottom set: its own index when it is big
                        None => return a.get(name),
                        Some(l) => {
                            if let Some(f) = l.flat.get() {
                                return search(f, name);
                            }
                        }
                    }
                }
                None => return None,
            }
        }
    }
    /// `get` on a big set without layers: through an index by name
    /// address (`search_indexed`) once the set has been looked up often.
    fn get_indexed(&self, name: &str) -> Option<&Value> {
        let own = &self.own;
        let extra = self.extra.get_or_init(|| {
            Box::new(Extra::Big(BigIndex {
                lookups: Default::default(),
                index: Default::default(),
            }))
        });
        let Extra::Big(big) = &**extra else {
            // only sets without a layer get here
            return search(own, name);
        };
        match big.index.get() {
            Some(ix) => search_indexed(ix, own, name),
            None => {
                // A set built by a literal without dynamic attributes has
                // the literal's statics as its entries, in order: the
                // literal's index serves every set it builds.
                let def = self.def_index();
                if let Some(ix) = def.and_then(|d| d.index.get()) {
                    return search_indexed(ix, own, name);
                }
                // Index after a sixteenth of the set's size in lookups:
                // the build (~40 instructions an entry) then costs about
                // as much as the searches so far (~14 steps of ~50).
                let n = big.lookups.get() + 1;
                big.lookups.set(n);
                if n as usize >= 8 + own.len() / 16 {
                    match def {
                        Some(d) => {
                            let _ = d.index.set(build_index(own));
                        }
                        None => {
                            let _ = big.index.set(build_index(own));
                        }
                    }
                }
                search(own, name)
            }
        }
    }
    /// The literal whose statics are exactly this set's entries (a set
    /// without layers built by `eval_attrs` from a literal without
    /// dynamic attributes), whose name index it may share.
    fn def_index(&self) -> Option<&'static crate::compile::AttrsDef> {
        match &self.positions {
            Some(Positions::Def(d))
                if d.dynamics.is_empty() && d.statics.len() == self.own.len() =>
            {
                // Equal lengths mean equal names: a set that merely kept
                // the literal's positions (`update` merging `this // other`
                // keeps `other`'s) holds at least the literal's names.
                Some(d)
            }
            _ => None,
        }
    }
    #[inline]
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    pub fn position(&self, name: &str) -> Option<Span> {
        // A layer (`big // small`) has the positions of its own
        // attributes; the others come from the set below it.
        if let Some(b) = self.base() {
            if search(&self.own, name).is_none() {
                return b.position(name);
            }
        }
        match self.positions.as_ref()? {
            Positions::Table(t) => t.iter().find(|(k, _)| &**k == name).map(|(_, s)| *s),
            Positions::Def(d) => match d.statics.binary_search_by(|b| (*b.name).cmp(name)) {
                Ok(i) => Some(d.statics[i].span),
                // a dynamic attribute: its set is the best we know
                Err(_) => self.contains(name).then_some(d.span),
            },
        }
    }
    /// `this // other`
    ///
    /// The result is a new top layer over `this`, kept log-structured: the
    /// new entries absorb the layers below them that are less than twice
    /// their size (and the bottom set too, when that is small). Each layer
    /// is then more than twice the size of the one above it, so a chain
    /// has O(log n) layers and a fold of `acc // { … }` copies each entry
    /// O(log n) times instead of once per step. Shared layers are never
    /// modified: `this` stays valid for everyone else holding it.
    pub fn update(this: &Rc<Attrs>, other: &Attrs) -> Attrs {
        // Positions are for diagnostics only: keep one side's table
        // (the right one wins) rather than paying O(n) on every `//`.
        let positions = other.positions.clone().or_else(|| this.positions.clone());
        let mut top: Vec<(Sym, Value)> = other.entries().to_vec();
        let mut below: &Rc<Attrs> = this;
        loop {
            let bottom = below.layer().is_none() || below.flat().is_some();
            if bottom {
                let entries = below.entries();
                if entries.len() <= 2 * top.len() {
                    return Attrs {
                        own: std::mem::ManuallyDrop::new(merge(entries, &top)),
                        positions,
                        extra: Default::default(),
                    };
                }
                break;
            }
            if below.own.len() > 2 * top.len() {
                break;
            }
            top = merge(&below.own, &top);
            below = below.base().expect("checked above");
        }
        if below.layers() >= MAX_LAYERS {
            return Attrs {
                own: std::mem::ManuallyDrop::new(merge(below.entries(), &top)),
                positions,
                extra: Default::default(),
            };
        }
        Attrs {
            own: std::mem::ManuallyDrop::new(top),
            extra: std::cell::OnceCell::from(Box::new(Extra::Layer(Layer {
                base: below.clone(),
                layers: below.layers() + 1,
                flat: Default::default(),
                lookups: Default::default(),
                index: Default::default(),
            }))),
            positions,
        }
    }
}

/// `Clone` and `Drop` for a handle to a counted box of ours (`Env`,
/// `Thunk`): a non-atomic strong count in the header, no weak count, and
/// the type's own `free` (which knows the layout) when it reaches zero.
macro_rules! counted_handle {
    ($t:ident) => {
        impl Clone for $t {
            #[inline]
            fn clone(&self) -> $t {
                let h = self.header();
                h.strong.set(h.strong.get() + 1);
                $t(self.0)
            }
        }

        impl Drop for $t {
            #[inline]
            fn drop(&mut self) {
                let h = self.header();
                let n = h.strong.get() - 1;
                h.strong.set(n);
                if n == 0 {
                    self.free();
                }
            }
        }
    };
}

/// A runtime environment frame: the values bound by one `let`, `rec`,
/// lambda call (one frame for a whole curried chain) or `with` (which
/// stores its namespace in slot 0).
///
/// A reference-counted handle to one allocation holding a header (count,
/// length, capacity, parent) and the slots inline: a frame of any size is
/// one allocation (a `Rc` of a `SmallVec` was two once it had more than
/// one slot), and reading a slot needs no inline-or-spilled branch.
///
/// The slots are pushed once, right after the frame is created (its
/// thunks need the frame itself), before anything reads them; after that
/// they never change, except through `slots_mut` on a frame nobody else
/// holds. That is why reads can hand out plain references.
pub struct Env(std::ptr::NonNull<EnvBox>);

#[repr(C)]
struct EnvBox {
    strong: std::cell::Cell<usize>,
    len: std::cell::Cell<u32>,
    cap: u32,
    parent: Option<Env>,
    // followed by `cap` slots of `Value`
}

const SLOTS_OFFSET: usize = std::mem::size_of::<EnvBox>();
const _: () = assert!(SLOTS_OFFSET.is_multiple_of(std::mem::align_of::<Value>()));

/// Slots given to `Env::new` (most frames are built from one or two).
pub type Slots = smallvec::SmallVec<[Value; 1]>;

impl Env {
    fn layout(cap: usize) -> std::alloc::Layout {
        let size = SLOTS_OFFSET + cap * std::mem::size_of::<Value>();
        std::alloc::Layout::from_size_align(size, std::mem::align_of::<EnvBox>())
            .expect("frame layout")
    }

    /// An empty frame with room for `cap` slots, to be filled by `push`.
    #[inline]
    pub fn with_capacity(cap: usize, parent: Option<Env>) -> Env {
        let cap32 = u32::try_from(cap).expect("frame size");
        let layout = Env::layout(cap);
        // SAFETY: the layout has a non-zero size (the header).
        let p = unsafe { std::alloc::alloc(layout) } as *mut EnvBox;
        let Some(p) = std::ptr::NonNull::new(p) else {
            std::alloc::handle_alloc_error(layout)
        };
        // SAFETY: freshly allocated, sized for the header.
        unsafe {
            p.as_ptr().write(EnvBox {
                strong: std::cell::Cell::new(1),
                len: std::cell::Cell::new(0),
                cap: cap32,
                parent,
            })
        };
        Env(p)
    }

    /// A frame holding `slots`.
    pub fn new(slots: impl Into<Slots>, parent: Option<Env>) -> Env {
        let slots: Slots = slots.into();
        let e = Env::with_capacity(slots.len(), parent);
        for v in slots {
            e.push(v);
        }
        e
    }

    /// A frame of one slot (a call of a one-argument lambda).
    #[inline]
    pub fn one(v: Value, parent: Option<Env>) -> Env {
        let e = Env::with_capacity(1, parent);
        e.push(v);
        e
    }

    #[inline]
    fn header(&self) -> &EnvBox {
        // SAFETY: the allocation lives as long as any handle.
        unsafe { self.0.as_ref() }
    }

    #[inline]
    fn slot_ptr(&self) -> *mut Value {
        // SAFETY: the slots follow the header in the same allocation.
        unsafe { (self.0.as_ptr() as *mut u8).add(SLOTS_OFFSET) as *mut Value }
    }

    /// Append a slot. Only valid while the frame is being filled (right
    /// after `with_capacity`, before any slot is read): `Eval` creates a
    /// frame, makes the thunks that point at it, and pushes them.
    #[inline]
    pub(crate) fn push(&self, v: Value) {
        let h = self.header();
        let n = h.len.get();
        assert!(n < h.cap, "frame overfilled");
        // SAFETY: slot `n` is within the capacity and not yet initialised;
        // no reference to it exists (slots are read only up to `len`).
        unsafe { self.slot_ptr().add(n as usize).write(v) };
        h.len.set(n + 1);
    }

    /// The frame's slots.
    #[inline]
    pub fn slots(&self) -> &[Value] {
        // SAFETY: the first `len` slots are initialised, and only change
        // through `slots_mut` (which needs the only handle, mutably).
        unsafe { std::slice::from_raw_parts(self.slot_ptr(), self.header().len.get() as usize) }
    }

    /// The slots of a frame nobody else holds (see `Frames`).
    #[inline]
    pub(crate) fn slots_mut(&mut self) -> Option<&mut [Value]> {
        let h = self.header();
        if h.strong.get() != 1 {
            return None;
        }
        let n = h.len.get() as usize;
        // SAFETY: this is the only handle, borrowed mutably.
        Some(unsafe { std::slice::from_raw_parts_mut(self.slot_ptr(), n) })
    }

    /// Whether this is the only handle to the frame.
    #[inline]
    pub(crate) fn is_unique(&self) -> bool {
        self.header().strong.get() == 1
    }

    #[inline]
    pub fn parent(&self) -> Option<&Env> {
        self.header().parent.as_ref()
    }

    pub fn ptr_eq(a: &Env, b: &Env) -> bool {
        a.0 == b.0
    }

    /// The frame's address, for caches keyed by identity (which must keep
    /// the frame alive while the key is in use).
    pub fn addr(&self) -> usize {
        self.0.as_ptr() as usize
    }

    #[inline]
    pub fn lookup(&self, depth: u32, idx: u32) -> Value {
        self.lookup_ref(depth, idx).clone()
    }
    /// The value of variable `(depth, idx)`, borrowed from its frame.
    #[inline]
    pub fn lookup_ref(&self, depth: u32, idx: u32) -> &Value {
        &self.ancestor(depth).slots()[idx as usize]
    }
    #[inline]
    pub fn ancestor(&self, depth: u32) -> &Env {
        let mut e = self;
        for _ in 0..depth {
            // The compiler only emits depths that exist.
            e = e.parent().expect("env depth");
        }
        e
    }
}

counted_handle!(Env);

impl Env {
    #[inline(never)]
    fn free(&mut self) {
        let (len, cap) = {
            let h = self.header();
            (h.len.get() as usize, h.cap as usize)
        };
        let (p, slots) = (self.0.as_ptr(), self.slot_ptr());
        // SAFETY: the last handle is going away: drop the slots and the
        // header (its parent) in place, then free the allocation.
        deep_drop(move || unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(slots, len));
            std::ptr::drop_in_place(p);
            std::alloc::dealloc(p as *mut u8, Env::layout(cap));
        })
    }
}

/// Run a drop that may recurse deeply (the last handle of a frame or
/// thunk going away frees what only it held: a 1,000,000-long chain of
/// sets, closures or thunks built by a fold is freed recursively) on a
/// stack that has room, growing it on the heap as evaluation does.
///
/// The stack is measured only every `DROP_CHECK` nested drops (the check
/// costs ~20 instructions, and most drops are shallow); the red zone is
/// sized for that many levels.
#[inline]
fn deep_drop(f: impl FnOnce()) {
    let d = DROP_DEPTH.get();
    if d < DROP_CHECK {
        DROP_DEPTH.set(d + 1);
        f();
    } else {
        DROP_DEPTH.set(0);
        stacker::maybe_grow(512 * 1024, 2 * 1024 * 1024, f);
    }
    DROP_DEPTH.set(d);
}

const DROP_CHECK: u32 = 128;

thread_local! {
    /// Nested `deep_drop`s since the stack was last measured.
    static DROP_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A list's elements. A newtype around the vector only so that freeing
/// it goes through `deep_drop`: `foldl' (acc: x: [ acc ])` nests lists a
/// million deep with nothing else between them, and the compiler's drop
/// glue would recurse once per level on the machine stack.
#[derive(Default)]
pub struct ListVec(std::mem::ManuallyDrop<Vec<Value>>);

impl From<Vec<Value>> for ListVec {
    #[inline]
    fn from(v: Vec<Value>) -> ListVec {
        ListVec(std::mem::ManuallyDrop::new(v))
    }
}

impl Clone for ListVec {
    fn clone(&self) -> ListVec {
        ListVec::from((*self.0).clone())
    }
}

impl std::ops::Deref for ListVec {
    type Target = Vec<Value>;
    #[inline]
    fn deref(&self) -> &Vec<Value> {
        &self.0
    }
}

impl std::ops::DerefMut for ListVec {
    #[inline]
    fn deref_mut(&mut self) -> &mut Vec<Value> {
        &mut self.0
    }
}

impl Drop for ListVec {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let v = &mut self.0;
        // SAFETY: the vector is dropped only here, once.
        deep_drop(move || unsafe { std::mem::ManuallyDrop::drop(v) });
    }
}

pub struct Closure {
    pub def: &'static LambdaDef,
    pub env: Env,
}

pub type PrimFn = fn(&mut crate::eval::Eval, &[Value], Span) -> crate::error::Result<Value>;

pub struct PrimOp {
    pub name: &'static str,
    pub arity: usize,
    pub f: PrimFn,
}

pub struct PrimOpApp {
    pub op: Rc<PrimOp>,
    pub args: Vec<Value>,
}

pub type NativeFn = dyn Fn(&mut crate::eval::Eval) -> crate::error::Result<Value>;

/// A suspended computation, shared so that it is evaluated at most once.
///
/// A counted handle to one 32-byte allocation: a strong count and the
/// state (24 bytes). Not an `Rc`: nothing takes weak references to
/// thunks, and `Rc`'s weak count made every thunk 48 bytes — the
/// 3,000,000 elements of `genList (i: i) 3000000` took 144 MiB, now
/// 96 MiB (mimalloc has a 32-byte size class).
pub struct Thunk(std::ptr::NonNull<ThunkBox>);

struct ThunkBox {
    strong: std::cell::Cell<usize>,
    /// Not a `RefCell`: the state is only ever read by cloning out of it
    /// or replaced whole (`force_thunk`), never borrowed across an
    /// evaluation, so a borrow flag would buy nothing.
    state: std::cell::UnsafeCell<ThunkState>,
}

pub enum ThunkState {
    Pending(&'static Expr, Env),
    /// `f arg`, applied lazily (used by builtins such as `map`). The
    /// function is a thunk (one per `map`/`genList` call, shared by the
    /// elements) so that the state stays 24 bytes.
    Apply(Thunk, Value),
    /// The identity applied to an integer: an element of `genList (i: i)
    /// n` (no reference to the function to count, nothing to call).
    Int(i64),
    /// A native computation (used by builtins that produce lazy results).
    Native(Rc<NativeFn>),
    /// Recomputed on every force and never memoised (`Thunk::volatile`).
    Volatile(Rc<NativeFn>),
    Blackhole,
    Done(Value),
}

counted_handle!(Thunk);

impl Thunk {
    #[inline]
    fn alloc(st: ThunkState) -> Thunk {
        Thunk(std::ptr::NonNull::from(Box::leak(Box::new(ThunkBox {
            strong: std::cell::Cell::new(1),
            state: std::cell::UnsafeCell::new(st),
        }))))
    }
    #[inline]
    fn header(&self) -> &ThunkBox {
        // SAFETY: the allocation lives as long as any handle.
        unsafe { self.0.as_ref() }
    }
    #[inline(never)]
    fn free(&mut self) {
        let p = self.0.as_ptr();
        // SAFETY: the last handle is going away; the box was made by
        // `Box::new` in `alloc`. A scalar result owns nothing: the box is
        // freed without dropping its state (most thunks freed end so:
        // a `rec` set's integers, a `genList` element).
        unsafe {
            let shallow = match &*(*p).state.get() {
                ThunkState::Done(
                    Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_),
                ) => {
                    std::alloc::dealloc(p as *mut u8, std::alloc::Layout::new::<ThunkBox>());
                    return;
                }
                // dropping these frees no further values (a string), or
                // only releases a count (a set someone else holds, such
                // as a constant set literal's shared value): no deep drop
                ThunkState::Done(Value::Str(_) | Value::Path(_)) => true,
                ThunkState::Done(Value::Attrs(a)) => Rc::strong_count(a) > 1,
                _ => false,
            };
            if shallow {
                drop(Box::from_raw(p));
                return;
            }
        }
        let b = unsafe { Box::from_raw(p) };
        deep_drop(move || drop(b))
    }
    pub fn new(e: &'static Expr, env: Env) -> Thunk {
        Thunk::alloc(ThunkState::Pending(e, env))
    }
    /// `f` as a thunk, for `apply`: itself if it is one, else evaluated.
    pub fn of(f: Value) -> Thunk {
        match f {
            Value::Thunk(t) => t,
            v => Thunk::done(v),
        }
    }
    /// `f arg`, unevaluated (`f` from `Thunk::of`).
    pub fn apply(f: &Thunk, arg: Value) -> Value {
        Value::Thunk(Thunk::alloc(ThunkState::Apply(f.clone(), arg)))
    }
    pub fn native(
        f: impl Fn(&mut crate::eval::Eval) -> crate::error::Result<Value> + 'static,
    ) -> Value {
        Value::Thunk(Thunk::alloc(ThunkState::Native(Rc::new(f))))
    }
    /// A thunk that is already evaluated.
    pub fn done(v: Value) -> Thunk {
        Thunk::alloc(ThunkState::Done(v))
    }
    /// A thunk that runs `f` on every force and keeps no result: for a
    /// value that must not own what it computes, e.g. the module system's
    /// `config` argument, which reaches its evaluation through a weak
    /// reference (a memoised result would close a reference cycle).
    pub fn volatile(
        f: impl Fn(&mut crate::eval::Eval) -> crate::error::Result<Value> + 'static,
    ) -> Value {
        Value::Thunk(Thunk::alloc(ThunkState::Volatile(Rc::new(f))))
    }
    /// The evaluated value, borrowed. The reference is valid until the
    /// thunk is next replaced, which only `force_thunk` does and only for
    /// thunks that are not `Done`, so a `Done` value stays put.
    #[inline]
    pub fn done_ref(&self) -> Option<&Value> {
        // SAFETY: see above: a `Done` state is never overwritten.
        match unsafe { &*self.header().state.get() } {
            ThunkState::Done(v) => Some(v),
            _ => None,
        }
    }
    /// The value of a pending thunk of a constant (`Expr::Folded`, not
    /// itself a thunk): forcing it is storing that value.
    #[inline]
    pub(crate) fn folded(&self) -> Option<&'static Value> {
        // SAFETY: as `done_ref`; the expression is static.
        match unsafe { &*self.header().state.get() } {
            ThunkState::Pending(Expr::Folded(v, _), _) if !matches!(v, Value::Thunk(_)) => Some(v),
            _ => None,
        }
    }
    /// The integer of a thunk that is evaluated, or whose forcing cannot
    /// fail and does nothing but give an integer back: an element of
    /// `genList (i: i) n` (the identity applied to an integer), which is
    /// then stored as evaluated, exactly as forcing it would.
    #[inline]
    pub(crate) fn int_now(&self) -> Option<i64> {
        // SAFETY: as `done_ref`; an `Int` state owns nothing, so it is
        // overwritten without a drop.
        unsafe {
            let p = self.header().state.get();
            match &*p {
                ThunkState::Done(Value::Int(i)) => Some(*i),
                ThunkState::Int(i) => {
                    let i = *i;
                    std::ptr::write(p, ThunkState::Done(Value::Int(i)));
                    Some(i)
                }
                _ => None,
            }
        }
    }
    /// Whether this is the identity (`i: i`), evaluated or a pending
    /// lambda expression (whose forcing only makes the closure).
    pub(crate) fn is_identity(&self) -> bool {
        // SAFETY: as `done_ref`; nothing is replaced while it is read.
        match unsafe { &*self.header().state.get() } {
            ThunkState::Done(Value::Lambda(c)) => c.def.is_identity(),
            ThunkState::Pending(Expr::Lambda(d), _) => d.is_identity(),
            _ => false,
        }
    }
    /// `f i` for `genList`, lazily: an `Int` state when `f` is the
    /// evaluated identity (`i: i`).
    pub(crate) fn apply_int(f: &Thunk, identity: bool, i: i64) -> Value {
        Value::Thunk(Thunk::alloc(if identity {
            ThunkState::Int(i)
        } else {
            ThunkState::Apply(f.clone(), Value::Int(i))
        }))
    }
    pub fn is_done(&self) -> bool {
        self.done_ref().is_some()
    }
    pub fn done_value(&self) -> Option<Value> {
        self.done_ref().cloned()
    }
    /// Swap the state (for `force_thunk`).
    #[inline]
    pub(crate) fn replace(&self, st: ThunkState) -> ThunkState {
        // SAFETY: no reference into a non-`Done` state is ever held, and
        // callers never replace a `Done` state.
        unsafe { std::mem::replace(&mut *self.header().state.get(), st) }
    }
    /// Store the value of a thunk being forced (its state is `Blackhole`,
    /// which owns nothing: it is overwritten without being dropped).
    #[inline]
    pub(crate) fn set_done(&self, v: Value) {
        // SAFETY: as `replace`; the old state holds no resources.
        unsafe {
            let p = self.header().state.get();
            debug_assert!(matches!(*p, ThunkState::Blackhole));
            std::ptr::write(p, ThunkState::Done(v))
        }
    }
    pub fn ptr_eq(a: &Thunk, b: &Thunk) -> bool {
        a.0 == b.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn int(v: &Value) -> i64 {
        match v {
            Value::Int(i) => *i,
            _ => panic!("not an int"),
        }
    }

    /// `from_unsorted` sorts by name and keeps the last of duplicates,
    /// wherever they are; an empty or one-entry list stays as it is.
    #[test]
    fn from_unsorted_sorts_and_keeps_the_last_duplicate() {
        let names = ["b", "a", "c", "a", "b", "b", "d", "a", "e"];
        for n in 0..=names.len() {
            let entries: Vec<(Sym, Value)> = names[..n]
                .iter()
                .enumerate()
                .map(|(i, k)| (sym(k), Value::Int(i as i64)))
                .collect();
            let mut want: BTreeMap<&str, i64> = BTreeMap::new();
            for (i, k) in names[..n].iter().enumerate() {
                want.insert(k, i as i64);
            }
            let a = Attrs::from_unsorted(entries);
            let got: Vec<(&str, i64)> = a.entries().iter().map(|(k, v)| (*k, int(v))).collect();
            let want: Vec<(&str, i64)> = want.into_iter().collect();
            assert_eq!(got, want, "first {n} names");
        }
    }

    /// A big set answers the same before and after its name index is
    /// built: interned names, equal names that are not interned, names
    /// sharing a prefix's address, and misses.
    #[test]
    fn indexed_lookup_agrees_with_search() {
        let names: Vec<Sym> = (0..200).map(|i| sym(&format!("n{}", i * 3))).collect();
        let mut entries: Vec<(Sym, Value)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, Value::Int(i as i64)))
            .collect();
        entries.sort_by(|a, b| cmp_name(a.0, b.0));
        let a = Attrs::from_sorted(entries);
        let expect = |k: &str| -> Option<i64> {
            let i: i64 = k.strip_prefix('n')?.parse().ok()?;
            (i % 3 == 0 && i < 600 && k == format!("n{}", i)).then_some(i / 3)
        };
        for round in 0..3 {
            for i in 0..700 {
                let owned = format!("n{}", i);
                let interned = sym(&owned);
                for k in [owned.as_str(), interned, &interned[..interned.len() - 1]] {
                    assert_eq!(a.get(k).map(int), expect(k), "{} (round {})", k, round);
                }
            }
            let built = matches!(a.extra.get().map(|b| &**b), Some(Extra::Big(b)) if b.index.get().is_some());
            assert!(round == 0 || built, "index built");
        }
    }

    /// A `//` chain (like `lib`) answers the same while it is searched
    /// layer by layer, after it is flattened, and after the flat entries
    /// are indexed; the right side wins for names in both.
    #[test]
    fn layered_lookup_agrees_before_and_after_index() {
        let mk = |lo: i64, hi: i64, tag: i64| {
            let mut e: Vec<(Sym, Value)> = (lo..hi)
                .map(|i| (sym(&format!("k{}", i)), Value::Int(i * 10 + tag)))
                .collect();
            e.sort_by(|a, b| cmp_name(a.0, b.0));
            Rc::new(Attrs::from_sorted(e))
        };
        // bottom 0..100, then 90..95 and 200..203 on top: three layers
        let l1 = Rc::new(Attrs::update(&mk(0, 100, 0), &mk(90, 95, 1)));
        let l2 = Attrs::update(&l1, &mk(200, 203, 2));
        assert!(l2.layer().is_some(), "a layered set");
        let expect = |i: i64| -> Option<i64> {
            match i {
                200..=202 => Some(i * 10 + 2),
                90..=94 => Some(i * 10 + 1),
                0..=99 => Some(i * 10),
                _ => None,
            }
        };
        for round in 0..4 {
            for i in 0..260 {
                let owned = format!("k{}", i);
                let interned = sym(&owned);
                for k in [owned.as_str(), interned] {
                    assert_eq!(l2.get(k).map(int), expect(i), "{} (round {})", k, round);
                }
            }
        }
        let l = l2.layer().expect("layer");
        assert!(
            l.flat.get().is_some() && l.index.get().is_some(),
            "flattened and indexed"
        );
    }

    /// `//` chains (layered, shared, flattened at random points) agree with
    /// a plain map model, and updating never changes the operands.
    #[test]
    fn name_order_is_byte_order() {
        let names = [
            "",
            "a",
            "a1",
            "a10",
            "a2",
            "abcdefgh",
            "abcdefghi",
            "abcdefgh\u{0}",
            "abcdefgz",
            "abcdefghij1",
            "abcdefghij2",
            "b",
            "\u{e9}",
            "Z",
            "_",
            "a\u{0}",
        ];
        for x in names {
            for y in names {
                assert_eq!(cmp_name(x, y), x.cmp(y), "{:?} vs {:?}", x, y);
            }
        }
    }

    /// Sets are the most numerous objects of a module evaluation: what
    /// only some sets need lives behind `extra`, so a set allocation stays
    /// in mimalloc's 64-byte class (48 bytes + the count header).
    /// Thunks are the most numerous allocation (a `genList` element, every
    /// attribute of a `rec` set): 8 bytes of count and a 24-byte state
    /// fill mimalloc's 32-byte class.
    #[test]
    fn a_thunk_is_32_bytes() {
        assert_eq!(std::mem::size_of::<ThunkState>(), 24);
        assert_eq!(std::mem::size_of::<ThunkBox>(), 32);
        assert_eq!(std::mem::size_of::<Value>(), 16);
    }

    #[test]
    fn a_set_is_48_bytes() {
        assert_eq!(std::mem::size_of::<Attrs>(), 48);
    }

    #[test]
    fn layered_updates_match_a_map() {
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let names: Vec<Sym> = (0..300).map(|i| sym(&format!("n{}", i))).collect();
        // (set, model) pairs; new sets are built from random earlier ones
        let mut sets: Vec<(Rc<Attrs>, BTreeMap<Sym, i64>)> =
            vec![(Rc::new(Attrs::new()), BTreeMap::new())];
        for step in 0..3000 {
            let (base, model) = sets[rnd(sets.len() as u64) as usize].clone();
            let k = match rnd(10) {
                0 => 40 + rnd(200),
                1..=3 => 0,
                _ => 1 + rnd(6),
            };
            let mut m2: BTreeMap<Sym, i64> = BTreeMap::new();
            for _ in 0..k {
                m2.insert(names[rnd(names.len() as u64) as usize], step);
            }
            let other =
                Attrs::from_unsorted(m2.iter().map(|(k, v)| (*k, Value::Int(*v))).collect());
            let new = Rc::new(Attrs::update(&base, &other));
            let mut model2 = model.clone();
            model2.extend(m2);
            if rnd(7) == 0 {
                new.entries();
            }
            for n in names.iter().take(60) {
                assert_eq!(new.get(n).map(int), model2.get(n).copied(), "step {step}");
            }
            // the operand is unchanged
            let got: Vec<(Sym, i64)> = base.entries().iter().map(|(k, v)| (*k, int(v))).collect();
            let want: Vec<(Sym, i64)> = model.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(got, want, "step {step}");
            assert!(new.layers() <= 16, "step {step}: {} layers", new.layers());
            sets.push((new, model2));
        }
        for (s, m) in &sets {
            let got: Vec<(Sym, i64)> = s.entries().iter().map(|(k, v)| (*k, int(v))).collect();
            let want: Vec<(Sym, i64)> = m.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(got, want);
        }
    }
}
