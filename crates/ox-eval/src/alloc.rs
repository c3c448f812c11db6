//! The global allocator ox installs: mimalloc, called the plain way.
//!
//! The `mimalloc` crate's `MiMalloc` passes every request through
//! `mi_malloc_aligned(size, align)`. With the bundled mimalloc v3 that
//! only takes the fast path while the current page of the size class has
//! a free block with the right alignment; otherwise it over-allocates
//! `size + align - 1` bytes from the next size class. For the evaluator's
//! 48-byte thunks that meant 64-byte blocks and a slow path on most
//! allocations. Rust's alignments up to 8 are what plain `mi_malloc`
//! guarantees anyway, so those requests go straight to it.
//!
//! In front of mimalloc, the thread that calls [`configure`] (the one
//! that evaluates) keeps freed small blocks on free lists of its own, one
//! per 8-byte size class up to 512 bytes (and one per 16-byte class for
//! 16-byte-aligned requests). Rust passes the size to `dealloc`, so a
//! free is a push (mimalloc's `mi_free` first finds the block's page from
//! its address: ~21 instructions) and an allocation of a class with freed
//! blocks a pop of the block freed last — the one most likely still in
//! the cache, which is where most of the gain is (docs/perf.md: 16 % less
//! time at 1000 hosts for 1 % fewer instructions). Evaluation frees and
//! allocates the same few sizes (thunks, frames, sets, their entries) all
//! the time. Every block on a list is still a live mimalloc block, so any
//! thread may hand it to `mi_free` later; the lists only ever hold as
//! many blocks of a class as were once in use at the same time (memory
//! freed in one class is not reused for another: modules.nix peaks at
//! 204 instead of 183 MiB).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// mimalloc as a `#[global_allocator]`.
pub struct MiAlloc;

/// mimalloc aligns every block to at least one machine word.
const WORD: usize = std::mem::size_of::<usize>();

/// mimalloc's `MI_SMALL_SIZE_MAX` (128 words): `mi_malloc_small` takes
/// sizes up to this.
const SMALL_MAX: usize = 128 * WORD;

/// Blocks up to this size go through the free lists.
const POOL_MAX: usize = 512;
/// Size classes of the free lists: 8, 16, …, `POOL_MAX` bytes (index 0
/// unused: Rust never allocates zero bytes through the global allocator).
const CLASSES: usize = POOL_MAX / WORD + 1;
/// Requests aligned to 16 bytes (hash tables: their control bytes are
/// read 16 at a time) have lists of their own, after the word-aligned
/// ones, of blocks that mimalloc aligned so: a word-aligned block never
/// serves them.
const ALIGN16: usize = 16;

/// The free lists of one thread: `heads[i]` is the last freed block of
/// list `i` (see `class`), whose first word points to the one freed
/// before it.
struct Pool {
    on: Cell<bool>,
    heads: [Cell<*mut u8>; 2 * CLASSES],
}

thread_local! {
    // Const-initialised and without `Drop`: no lazy initialisation, no
    // destructor registration (which would allocate), a plain TLS access.
    static POOL: Pool = const {
        Pool {
            on: Cell::new(false),
            heads: [const { Cell::new(std::ptr::null_mut()) }; 2 * CLASSES],
        }
    };
}

/// The free list of a request that the lists serve, if any: for
/// word-aligned requests the size in words, for 16-byte-aligned ones
/// `CLASSES` plus the size in words rounded up to an even number (so
/// that every block of the class can be 16-byte aligned).
#[inline]
fn class(layout: Layout) -> Option<usize> {
    if layout.size() > POOL_MAX {
        return None;
    }
    if layout.align() <= WORD {
        Some(layout.size().div_ceil(WORD))
    } else if layout.align() == ALIGN16 {
        Some(CLASSES + layout.size().div_ceil(ALIGN16) * (ALIGN16 / WORD))
    } else {
        None
    }
}

impl MiAlloc {
    /// Pop a block from this thread's list `c`, if it has one.
    #[inline]
    fn pop(c: usize) -> *mut u8 {
        POOL.with(|p| {
            if !p.on.get() {
                return std::ptr::null_mut();
            }
            let h = p.heads[c].get();
            if !h.is_null() {
                // SAFETY: a block on the list holds the next one in its
                // first word (written by `push`), and is at least a word.
                p.heads[c].set(unsafe { *(h as *mut *mut u8) });
            }
            h
        })
    }

    /// Put a block of list `c`'s size (at least) on that list; false
    /// when this thread keeps no lists.
    #[inline]
    fn push(c: usize, ptr: *mut u8) -> bool {
        POOL.with(|p| {
            if !p.on.get() {
                return false;
            }
            // SAFETY: the block is freed by our caller and at least a word
            // long and word-aligned; nobody else reads it any more.
            unsafe { *(ptr as *mut *mut u8) = p.heads[c].get() };
            p.heads[c].set(ptr);
            true
        })
    }
}

// SAFETY: forwards to mimalloc, which satisfies the `GlobalAlloc` contract
// for sizes and alignments as documented above; blocks on the free lists
// are live mimalloc blocks of their class's full size and alignment
// (every block freed with a class's layout was allocated by `alloc` for
// that class: `alloc_zeroed` and `realloc` go through it), handed out
// once each.
unsafe impl GlobalAlloc for MiAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(c) = class(layout) {
            let p = MiAlloc::pop(c);
            if !p.is_null() {
                return p;
            }
            // the class's full size, so that the block can serve any
            // request of its class once freed
            if c < CLASSES {
                return mi::mi_malloc_small(c * WORD) as *mut u8;
            }
            return mi::mi_malloc_aligned((c - CLASSES) * WORD, ALIGN16) as *mut u8;
        }
        if layout.align() <= WORD {
            if layout.size() <= SMALL_MAX {
                // the small-size fast path inlined, without `mi_malloc`'s
                // out-of-line size dispatch (thunks, frames, sets)
                return mi::mi_malloc_small(layout.size()) as *mut u8;
            }
            mi::mi_malloc(layout.size()) as *mut u8
        } else {
            mi::mi_malloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if class(layout).is_some() {
            // a block of the class's full size (see `realloc`)
            let p = self.alloc(layout);
            if !p.is_null() {
                // SAFETY: the block is live and at least this long.
                unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
            }
            return p;
        }
        if layout.align() <= WORD {
            mi::mi_zalloc(layout.size()) as *mut u8
        } else {
            mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(c) = class(layout) {
            if MiAlloc::push(c, ptr) {
                return;
            }
        }
        mi::mi_free(ptr as *mut c_void)
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if let Some(c) = class(layout) {
            // SAFETY: `new_size` is non-zero and, rounded up to the
            // alignment, does not overflow (the caller's contract).
            let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            if class(new) == Some(c) {
                return ptr;
            }
            let q = self.alloc(new);
            if !q.is_null() {
                // SAFETY: both blocks are live and at least this long.
                unsafe { std::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size)) };
                self.dealloc(ptr, layout);
            }
            return q;
        }
        // SAFETY: as above.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if class(new).is_some() {
            // Shrinking into the lists' range: a block of the class's full
            // size, as every block that is freed onto a list must be
            // (mimalloc might keep or pick a block that is only as long
            // as asked, or for 16-byte alignment not a multiple of 16).
            let q = self.alloc(new);
            if !q.is_null() {
                // SAFETY: both blocks are live and at least this long.
                unsafe { std::ptr::copy_nonoverlapping(ptr, q, new_size) };
                self.dealloc(ptr, layout);
            }
            return q;
        }
        if layout.align() <= WORD {
            mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
        } else {
            mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
        }
    }
}

/// mimalloc's `mi_option_purge_delay` (15 in the bundled v2 and v3
/// headers; the Rust bindings do not name it).
const MI_OPTION_PURGE_DELAY: mi::mi_option_t = 15;

/// Tune mimalloc for evaluation and keep free lists on the calling thread
/// (the one that evaluates); call once at startup, before allocating
/// much. Evaluation churns through memory in waves; returning pages to
/// the OS after 10 ms (mimalloc's default) makes the kernel zero them
/// again and again. Freed pages are kept for a second instead. An
/// explicit `MIMALLOC_PURGE_DELAY` in the environment wins.
pub fn configure() {
    POOL.with(|p| p.on.set(true));
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: plain integer option setter of the C allocator.
        unsafe { mi::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, WORD).expect("layout")
    }

    /// The free lists on a thread that keeps them: a freed block of a
    /// class is the next one handed out for any size of that class,
    /// `realloc` keeps the contents across classes, other threads free
    /// such blocks to mimalloc, and big or over-aligned requests bypass
    /// the lists. Runs on a thread of its own, which turns the lists on.
    #[test]
    fn free_lists() {
        std::thread::spawn(|| {
            let a = MiAlloc;
            POOL.with(|p| p.on.set(true));
            unsafe {
                // LIFO reuse within a class (17..=24 bytes is one class)
                let x = a.alloc(layout(24));
                let y = a.alloc(layout(24));
                assert!(!x.is_null() && !y.is_null() && x != y);
                a.dealloc(x, layout(24));
                a.dealloc(y, layout(24));
                assert_eq!(a.alloc(layout(17)), y);
                assert_eq!(a.alloc(layout(20)), x);
                // another class does not get them
                a.dealloc(x, layout(20));
                let z = a.alloc(layout(32));
                assert_ne!(z, x);
                assert_eq!(a.alloc(layout(24)), x);
                // realloc: same class in place; across classes and out of
                // the lists' range with the contents kept
                for i in 0..24 {
                    *x.add(i) = i as u8;
                }
                assert_eq!(a.realloc(x, layout(24), 18), x);
                let big = a.realloc(x, layout(18), 100);
                let bigger = a.realloc(big, layout(100), 4000);
                for i in 0..18 {
                    assert_eq!(*bigger.add(i), i as u8);
                }
                let small = a.realloc(bigger, layout(4000), 10);
                for i in 0..10 {
                    assert_eq!(*small.add(i), i as u8);
                }
                a.dealloc(small, layout(10));
                // zeroed blocks come from the lists too, zeroed
                let d = a.alloc(layout(40));
                std::ptr::write_bytes(d, 0xff, 40);
                a.dealloc(d, layout(40));
                let z = a.alloc_zeroed(layout(33));
                assert_eq!(z, d);
                assert!((0..33).all(|i| *z.add(i) == 0));
                a.dealloc(z, layout(33));
                // shrinking a big 16-aligned block into the lists' range
                // gives a block of the full class, 16-aligned
                let l16 = |n| Layout::from_size_align(n, 16).expect("layout");
                let big = a.alloc(l16(1000));
                *big = 7;
                let s16 = a.realloc(big, l16(1000), 20);
                assert_eq!((*s16, s16 as usize % 16), (7, 0));
                a.dealloc(s16, l16(20));
                assert_eq!(a.alloc(l16(32)), s16);
                a.dealloc(s16, l16(32));
                // 16-byte-aligned requests: lists of their own, blocks
                // always aligned; a word-aligned free block is not used
                let l16 = |n| Layout::from_size_align(n, 16).expect("layout");
                let w = a.alloc(layout(24));
                a.dealloc(w, layout(24));
                let mut got = Vec::new();
                for n in [24, 20, 32, 17, 24] {
                    let p = a.alloc(l16(n));
                    assert_eq!(p as usize % 16, 0);
                    assert_ne!(p, w);
                    got.push((p, n));
                }
                let (p, n) = got[0];
                a.dealloc(p, l16(n));
                assert_eq!(a.alloc(l16(32)), p, "17..=32 bytes is one 16-aligned class");
                for (p, n) in got.into_iter().skip(1) {
                    a.dealloc(p, l16(n));
                }
                a.dealloc(p, l16(32));
                assert_eq!(a.alloc(layout(24)), w);
                a.dealloc(w, layout(24));
                // over-aligned and big requests bypass the lists
                let al = Layout::from_size_align(32, 64).expect("layout");
                let o = a.alloc(al);
                assert_eq!(o as usize % 64, 0);
                a.dealloc(o, al);
                let b = a.alloc(layout(POOL_MAX + 1));
                a.dealloc(b, layout(POOL_MAX + 1));
                let b = a.alloc(layout(POOL_MAX + 1));
                assert!(!b.is_null());
                a.dealloc(b, layout(POOL_MAX + 1));
                // a block from the lists freed on a thread without lists
                let w = a.alloc(layout(24)) as usize;
                std::thread::spawn(move || {
                    assert!(!POOL.with(|p| p.on.get()));
                    MiAlloc.dealloc(w as *mut u8, layout(24));
                })
                .join()
                .expect("freeing thread");
                a.dealloc(y, layout(24));
                a.dealloc(z, layout(32));
            }
        })
        .join()
        .expect("test thread");
    }
}
