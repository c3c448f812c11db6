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

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// mimalloc as a `#[global_allocator]`.
pub struct MiAlloc;

/// mimalloc aligns every block to at least one machine word.
const WORD: usize = std::mem::size_of::<usize>();

/// mimalloc's `MI_SMALL_SIZE_MAX` (128 words): `mi_malloc_small` takes
/// sizes up to this.
const SMALL_MAX: usize = 128 * WORD;

// SAFETY: forwards to mimalloc, which satisfies the `GlobalAlloc` contract
// for sizes and alignments as documented above.
unsafe impl GlobalAlloc for MiAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
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
        if layout.align() <= WORD {
            mi::mi_zalloc(layout.size()) as *mut u8
        } else {
            mi::mi_zalloc_aligned(layout.size(), layout.align()) as *mut u8
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr as *mut c_void)
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
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

/// Tune mimalloc for evaluation; call once at startup, before allocating
/// much. Evaluation churns through memory in waves; returning pages to
/// the OS after 10 ms (mimalloc's default) makes the kernel zero them
/// again and again. Freed pages are kept for a second instead. An
/// explicit `MIMALLOC_PURGE_DELAY` in the environment wins.
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: plain integer option setter of the C allocator.
        unsafe { mi::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    }
}
