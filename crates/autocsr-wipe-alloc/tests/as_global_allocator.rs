//! `WipeOnFree` as this test binary's real global allocator: every block that reaches the
//! system allocator's `free` from anywhere in the process (std, the test harness, this
//! test) must be all zeros, and the system allocator's `realloc` must never be called.
#![allow(
    unsafe_code,
    reason = "an inner GlobalAlloc that inspects freed blocks"
)]
#![allow(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use autocsr_wipe_alloc::WipeOnFree;

static FREED: AtomicUsize = AtomicUsize::new(0);
static FREED_DIRTY: AtomicUsize = AtomicUsize::new(0);
static INNER_REALLOCS: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting freed blocks that still hold a non-zero byte.
struct Inspecting;

unsafe impl GlobalAlloc for Inspecting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let bytes = unsafe { std::slice::from_raw_parts(block, layout.size()) };
        FREED.fetch_add(1, Ordering::Relaxed);
        if bytes.iter().any(|&b| b != 0) {
            FREED_DIRTY.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.dealloc(block, layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        INNER_REALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(block, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: WipeOnFree<Inspecting> = WipeOnFree::new(Inspecting);

#[test]
fn nothing_reaches_the_system_allocator_unwiped() {
    let before = FREED.load(Ordering::Relaxed);
    // Growth by doubling (realloc), shrinking, maps that rehash, strings built piecewise.
    let mut secret = String::new();
    for i in 0..10_000 {
        secret.push_str("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC");
        secret.push(char::from(b'a' + u8::try_from(i % 26).unwrap()));
    }
    secret.shrink_to_fit();
    let mut map = HashMap::new();
    let mut tree = BTreeMap::new();
    for i in 0..5_000u32 {
        map.insert(i, vec![0x5Au8; (i % 300) as usize + 1]);
        tree.insert(format!("key-{i}"), i.to_be_bytes().repeat(7));
    }
    let boxed: Box<[u8]> = vec![0xC3; 1 << 20].into_boxed_slice();
    drop((secret, map, tree, boxed));

    assert!(FREED.load(Ordering::Relaxed) - before > 10_000);
    assert_eq!(FREED_DIRTY.load(Ordering::Relaxed), 0);
    assert_eq!(INNER_REALLOCS.load(Ordering::Relaxed), 0);
}
