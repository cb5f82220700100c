//! The only module of the crate that uses `unsafe`: a `GlobalAlloc` must.
#![allow(
    unsafe_code,
    reason = "a GlobalAlloc implementation; each block says why it is sound"
)]

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{Ordering, compiler_fence};
use core::{cmp, ptr};

/// Wraps an allocator so that every block is overwritten with zeros before it goes back.
///
/// - `dealloc` zeroes the whole block (`layout.size()` bytes), then frees it.
/// - `realloc` never lets the inner allocator resize: it allocates a new block, copies,
///   then zeroes and frees the old one. (An inner `realloc` may move the block, or give
///   back a shrunk tail, and free those bytes without zeroing them.)
/// - `alloc` and `alloc_zeroed` are the inner allocator's.
///
/// What it does not wipe: memory that is never freed (statics, leaked blocks, buffers
/// still alive at exit), the stack, CPU registers, and memory that C code (SQLite, libc)
/// allocates with `malloc` directly rather than through Rust's global allocator.
///
/// # Examples
///
/// The binary's allocator, one line in `main.rs`:
///
/// ```
/// use std::alloc::System;
/// use autocsr_wipe_alloc::WipeOnFree;
///
/// #[global_allocator]
/// static ALLOCATOR: WipeOnFree<System> = WipeOnFree::new(System);
///
/// let secret = String::from("hunter2 and friends");
/// drop(secret); // its bytes are zeros before the system allocator sees them again
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct WipeOnFree<A> {
    inner: A,
}

impl<A> WipeOnFree<A> {
    /// Wraps `inner`, usually `std::alloc::System`.
    #[must_use]
    pub const fn new(inner: A) -> Self {
        Self { inner }
    }
}

// SAFETY: every method hands the inner allocator exactly the layouts and pointers the
// `GlobalAlloc` contract allows: blocks are allocated and freed by `inner` with the layout
// they were allocated with, and `realloc` is built from `inner.alloc` + `inner.dealloc`
// with the same guarantees (on failure the old block is untouched and still owned by the
// caller). The only extra work is writing zeros into a block the caller gave up.
unsafe impl<A: GlobalAlloc> GlobalAlloc for WipeOnFree<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` (non-zero size) is passed on unchanged.
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `block` is a live allocation of `layout`, so its
        // `layout.size()` bytes are ours to write until it is freed on the next line.
        unsafe { zero(block, layout.size()) };
        // SAFETY: the caller's contract for `dealloc`, passed on unchanged.
        unsafe { self.inner.dealloc(block, layout) };
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // The caller guarantees `new_size` rounded up to the alignment does not overflow
        // `isize`, so this only fails if that contract was broken; then report failure.
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        // SAFETY: `new_size` is non-zero (the caller's contract for `realloc`).
        let moved = unsafe { self.inner.alloc(new_layout) };
        if moved.is_null() {
            // The old block stays valid and unchanged, as `realloc` must leave it.
            return moved;
        }
        let kept = cmp::min(layout.size(), new_size);
        // SAFETY: both blocks are live, distinct allocations of at least `kept` bytes.
        unsafe { ptr::copy_nonoverlapping(block, moved, kept) };
        // SAFETY: `block` is a live allocation of `layout` that the caller gives up.
        unsafe { self.dealloc(block, layout) };
        moved
    }
}

/// Writes `len` zero bytes at `block`, in a way the optimiser may not remove.
///
/// A plain `memset` just before `free` is a dead store that LLVM deletes. Where `asm!` is
/// stable, the zeros are written with `memset` (vectorised) and then the block's address
/// is handed to an empty assembly block that may read memory, so the stores must happen
/// first. Elsewhere, volatile stores word by word (about half the speed on x86-64).
///
/// # Safety
/// `block` must be valid for writes of `len` bytes.
#[cfg(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "arm",
    target_arch = "aarch64",
    target_arch = "riscv32",
    target_arch = "riscv64",
    target_arch = "loongarch64"
))]
unsafe fn zero(block: *mut u8, len: usize) {
    // SAFETY: the caller guarantees `block` is valid for writes of `len` bytes.
    unsafe { ptr::write_bytes(block, 0, len) };
    // SAFETY: the assembly is empty: it runs no instruction and changes no register,
    // flag, stack or memory. It only names `block`, which the compiler must then assume
    // it reads (no `nomem`), so the zeros above are written before it.
    unsafe {
        core::arch::asm!(
            "/* {0} */",
            in(reg) block,
            options(readonly, nostack, preserves_flags)
        );
    };
}

#[cfg(not(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "arm",
    target_arch = "aarch64",
    target_arch = "riscv32",
    target_arch = "riscv64",
    target_arch = "loongarch64"
)))]
use zero_volatile as zero;

/// Writes `len` zero bytes at `block` with volatile stores, word by word where aligned:
/// volatile stores may not be removed or merged away, on any architecture. The fence
/// keeps them ahead of the free.
///
/// # Safety
/// `block` must be valid for writes of `len` bytes.
#[cfg_attr(
    any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "arm",
        target_arch = "aarch64",
        target_arch = "riscv32",
        target_arch = "riscv64",
        target_arch = "loongarch64"
    ),
    allow(
        dead_code,
        reason = "the fallback of `zero`; tested on every architecture"
    )
)]
unsafe fn zero_volatile(block: *mut u8, len: usize) {
    const WORD: usize = size_of::<usize>();
    // `align_offset` may answer "cannot" (usize::MAX); `min` then makes it all bytes.
    let head = cmp::min(block.align_offset(align_of::<usize>()), len);
    let mut offset = 0;
    while offset < head {
        // SAFETY: `offset < len`, inside the block.
        unsafe { block.wrapping_add(offset).write_volatile(0) };
        offset += 1;
    }
    while len - offset >= WORD {
        // SAFETY: `offset + WORD <= len`, inside the block, and `block + offset` is
        // word-aligned (it is `head` past the alignment point, plus whole words).
        unsafe { block.wrapping_add(offset).cast::<usize>().write_volatile(0) };
        offset += WORD;
    }
    while offset < len {
        // SAFETY: `offset < len`, inside the block.
        unsafe { block.wrapping_add(offset).write_volatile(0) };
        offset += 1;
    }
    compiler_fence(Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::undocumented_unsafe_blocks,
        clippy::multiple_unsafe_ops_per_block
    )]

    use super::*;

    extern crate std;
    use std::alloc::System;
    use std::cell::RefCell;
    use std::vec::Vec;

    /// An inner allocator that records, for each block freed, whether every byte was zero.
    #[derive(Default)]
    struct Recorder {
        freed_dirty: RefCell<Vec<usize>>,
        inner_reallocs: RefCell<usize>,
    }

    unsafe impl GlobalAlloc for Recorder {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
            let bytes = unsafe { core::slice::from_raw_parts(block, layout.size()) };
            if bytes.iter().any(|&b| b != 0) {
                self.freed_dirty.borrow_mut().push(layout.size());
            }
            unsafe { System.dealloc(block, layout) }
        }
        unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            *self.inner_reallocs.borrow_mut() += 1;
            unsafe { System.realloc(block, layout, new_size) }
        }
    }

    /// A byte that differs between neighbours, so a copy at the wrong offset shows.
    fn pattern(i: usize) -> u8 {
        0xA5 ^ i.to_le_bytes()[0]
    }

    fn filled(alloc: &WipeOnFree<Recorder>, size: usize, align: usize) -> (*mut u8, Layout) {
        let layout = Layout::from_size_align(size, align).unwrap();
        let block = unsafe { alloc.alloc(layout) };
        assert!(!block.is_null());
        for i in 0..size {
            unsafe { block.add(i).write(pattern(i)) };
        }
        (block, layout)
    }

    #[test]
    fn every_freed_block_is_zero_at_any_size_and_alignment() {
        let alloc = WipeOnFree::new(Recorder::default());
        for align in [1, 2, 8, 16, 64, 4096] {
            for size in [1, 2, 7, 8, 9, 15, 17, 63, 64, 65, 1000, 4096, 70_000] {
                let (block, layout) = filled(&alloc, size, align);
                unsafe { alloc.dealloc(block, layout) };
            }
        }
        assert_eq!(*alloc.inner.freed_dirty.borrow(), Vec::<usize>::new());
    }

    #[test]
    fn an_unaligned_start_is_zeroed_up_to_the_last_byte_and_no_further() {
        // Wipe from an odd offset inside a block to exercise head, words and tail.
        let wipes: [unsafe fn(*mut u8, usize); 2] = [zero, zero_volatile];
        for wipe in wipes {
            let mut buffer = [0xFFu8; 100];
            for start in 0..9 {
                for len in 0..(100 - start) {
                    buffer.fill(0xFF);
                    unsafe { wipe(buffer.as_mut_ptr().add(start), len) };
                    assert!(buffer[..start].iter().all(|&b| b == 0xFF));
                    assert!(buffer[start..start + len].iter().all(|&b| b == 0));
                    assert!(buffer[start + len..].iter().all(|&b| b == 0xFF));
                }
            }
        }
    }

    #[test]
    fn realloc_keeps_the_contents_and_never_lets_the_inner_allocator_move_them() {
        let alloc = WipeOnFree::new(Recorder::default());
        for (old, new) in [(16, 4096), (4096, 16), (100, 101), (101, 100), (64, 64)] {
            let (block, layout) = filled(&alloc, old, 8);
            let moved = unsafe { alloc.realloc(block, layout, new) };
            assert!(!moved.is_null());
            for i in 0..old.min(new) {
                assert_eq!(unsafe { moved.add(i).read() }, pattern(i));
            }
            unsafe { alloc.dealloc(moved, Layout::from_size_align(new, 8).unwrap()) };
        }
        assert_eq!(*alloc.inner.inner_reallocs.borrow(), 0);
        assert_eq!(*alloc.inner.freed_dirty.borrow(), Vec::<usize>::new());
    }

    #[test]
    fn a_failed_realloc_leaves_the_old_block_as_it_was() {
        let alloc = WipeOnFree::new(Recorder::default());
        let (block, layout) = filled(&alloc, 32, 8);
        // Too large to allocate: the inner allocator returns null.
        let moved = unsafe { alloc.realloc(block, layout, isize::MAX as usize - 4096) };
        assert!(moved.is_null());
        for i in 0..32 {
            assert_eq!(unsafe { block.add(i).read() }, pattern(i));
        }
        unsafe { alloc.dealloc(block, layout) };
        assert_eq!(*alloc.inner.freed_dirty.borrow(), Vec::<usize>::new());
    }
}
