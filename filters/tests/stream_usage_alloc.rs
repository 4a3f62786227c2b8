//! Reading a passthrough stream's usage and counting the text it passes on allocates nothing: an event with
//! a full usage object, or with content, tool-call arguments and escapes in its choices, costs the same
//! allocations as one with `"usage": null` and no choices (those the restamper made before usage was read:
//! the decoded event and its parsed view). The one exception is measured too: skipping a nested member the
//! scan does not read (`logprobs`) costs serde_json one small allocation for its nesting stack.
//! Counted per thread by a wrapping global allocator, so tests running in parallel do not disturb each other.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tollgate_filters::openai::StreamRestamper;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting allocations and reallocations made by the current thread.
struct Counting;

// SAFETY: every call is forwarded unchanged to `System`; the counter is a const-initialised thread local,
// which needs no allocation to reach.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: `ptr` came from `System` through this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// The allocations of pushing `event` (one complete SSE event) to a restamper that has seen it before, so
/// buffers reused between events are already grown.
fn cost(restamper: &mut StreamRestamper, out: &mut Vec<u8>, event: &str) -> u64 {
    restamper.push(event.as_bytes(), out).unwrap();
    out.clear();
    allocations(|| restamper.push(event.as_bytes(), out).unwrap())
}

#[test]
fn reading_usage_and_text_allocates_nothing_more() {
    // The same members in the same order, so the parsed view costs the same.
    // Nested like the others (serde_json's view of an event pays for its nesting stack once nested), with
    // nothing to read.
    let plain = "data: {\"id\":\"c\",\"model\":\"x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":null}],\"usage\":null}\n\n";
    let content = "data: {\"id\":\"c\",\"model\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\\u00e9 \\\"q\\\"\\n\",\"reasoning_content\":\"hm\",\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}]},\"finish_reason\":null,\"logprobs\":null}],\"usage\":null}\n\n";
    // The same with log probabilities: a nested member the scan skips.
    let logprobs = content.replace("\"logprobs\":null", "\"logprobs\":{\"content\":[{\"token\":\"x\"}]}");
    let usage = "data: {\"id\":\"c\",\"model\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15,\"prompt_tokens_details\":{\"cached_tokens\":4,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":1,\"accepted_prediction_tokens\":0},\"cache_creation_input_tokens\":2}}\n\n";
    for client_usage in [true, false] {
        let mut restamper = StreamRestamper::new("group", client_usage, 1 << 20);
        let mut out = Vec::with_capacity(1 << 16);
        // Warm every buffer with the largest event first.
        for event in [logprobs.as_str(), content, usage, plain] {
            restamper.push(event.as_bytes(), &mut out).unwrap();
        }
        let base = cost(&mut restamper, &mut out, plain);
        assert!(base > 0, "the counting allocator is not counting");
        assert_eq!(cost(&mut restamper, &mut out, content), base, "content, client usage {client_usage}");
        assert_eq!(cost(&mut restamper, &mut out, usage), base, "usage, client usage {client_usage}");
        // The view of the event already pays serde_json's nesting stack for `choices`; the scan pays it again.
        assert_eq!(cost(&mut restamper, &mut out, &logprobs), base + 1, "logprobs, client usage {client_usage}");
        assert!(restamper.usage().is_some());
        assert!(restamper.produced_estimate().completion_tokens > 0);
    }
}
