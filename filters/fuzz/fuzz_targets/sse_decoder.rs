//! The SSE decoder: the same events and outcome at any chunk boundary; no line longer than the limit (and a
//! field name) is ever accepted (an oversize event is an error, not growth); no event larger than the limit comes out;
//! and what comes out, written back with the encoder, decodes to the same events.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use tollgate_filters::framing::sse::write_data;

fuzz_target!(|data: &[u8]| {
    let Some(plan) = common::plan(data) else { return };
    let limit = plan.event_limit(1, 2, 1 << 20);
    let whole = common::sse_decode(limit, &[plan.body]);
    let split = common::sse_decode(limit, &common::pieces(plan.body, plan.seed));
    assert_eq!(whole, split, "random chunk boundaries changed the events");
    if plan.body.len() <= common::BYTEWISE_MAX {
        let bytes: Vec<&[u8]> = plan.body.chunks(1).collect();
        assert_eq!(whole, common::sse_decode(limit, &bytes), "byte-by-byte feeding changed the events");
    }
    let (events, end) = whole;
    // A line may exceed the limit by a field name (`event: `, 7 bytes) and no more.
    if common::longest_line(plan.body) > limit + 7 {
        assert!(end.is_err(), "a line longer than the {limit}-byte limit and a field name was accepted");
    }
    for event in &events {
        let size = event.data.len() + event.event.as_ref().map_or(0, String::len);
        assert!(size <= limit, "an event of {size} bytes passed the {limit}-byte limit");
        assert!(event.event.as_deref() != Some(""), "an empty event name is the default type, None");
    }
    if end.is_ok() {
        let mut encoded = Vec::new();
        for event in &events {
            if let Some(name) = &event.event {
                encoded.extend_from_slice(b"event: ");
                encoded.extend_from_slice(name.as_bytes());
                encoded.push(b'\n');
            }
            write_data(&mut encoded, event.data.as_bytes());
        }
        let again = common::sse_decode(usize::MAX, &[&encoded]);
        assert_eq!(again, (events, Ok(())), "encode then decode changed the events");
    }
});
