//! The OpenAI-compatible passthrough (`StreamTranslator::Passthrough`, the `StreamRestamper`): the same
//! output and outcome at any chunk boundary, an SSE event over the limit refused, and output that is the
//! provider's events one for one: the same event names, `[DONE]` kept, `model` of every JSON object that has
//! one set to the client's model with every other member unchanged, anything else passed on as it was;
//! without the client's `include_usage`, the same minus usage-only chunks (`choices` empty or absent, a
//! `usage`), which the gateway asked the provider for and reads but does not pass on.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tollgate_filters::Provider;

fuzz_target!(|data: &[u8]| {
    let Some(plan) = common::plan(data) else { return };
    let limit = plan.event_limit(16, 4, 1 << 20);
    let translate = |pieces: &[&[u8]]| common::translate(Provider::OpenAI, plan.include_usage(), limit, pieces);
    let whole = translate(&[plan.body]);
    assert_eq!(whole, translate(&common::pieces(plan.body, plan.seed)), "random chunk boundaries changed the output");
    if plan.body.len() <= common::BYTEWISE_MAX {
        let bytes: Vec<&[u8]> = plan.body.chunks(1).collect();
        assert_eq!(whole, translate(&bytes), "byte-by-byte feeding changed the output");
    }
    let (out, end) = whole;
    if !plan.include_usage() {
        let (full, full_end) = common::translate(Provider::OpenAI, true, limit, &[plan.body]);
        assert_eq!(end.is_err(), full_end.is_err(), "{end:?} / {full_end:?}");
        let (kept, _) = common::sse_decode(usize::MAX, &[&out]);
        let (all, _) = common::sse_decode(usize::MAX, &[&full]);
        let mut next = 0;
        for event in &all {
            match kept.get(next) {
                Some(k) if k.event == event.event && k.data == event.data => next += 1,
                _ => assert!(usage_only(&event.data), "a chunk other than the usage chunk was dropped: {event:?}"),
            }
        }
        assert_eq!(next, kept.len(), "events were made up");
        return;
    }
    // What the provider sent, as the same decoder reads it: the passthrough fails exactly when it does, or
    // at the first event whose data is neither a JSON object, `[DONE]` nor empty (not what an
    // OpenAI-compatible API sends), having passed on the events before it.
    let (sent, sent_end) = common::sse_decode(limit, &[plan.body]);
    // (Read by the same parser the passthrough uses.)
    let is_garbage = |data: &str| {
        !data.is_empty() && data != "[DONE]" && tollgate_filters::openai::RequestView::parse(data.as_bytes()).is_err()
    };
    let garbage = sent.iter().position(|e| is_garbage(&e.data));
    let sent = &sent[..garbage.unwrap_or(sent.len())];
    assert_eq!(end.is_err(), sent_end.is_err() || garbage.is_some(), "{end:?} / {sent_end:?} / {garbage:?}");
    common::strict_blocks(&out);
    let (got, got_end) = common::sse_decode(usize::MAX, &[&out]);
    assert_eq!(got_end, Ok(()));
    assert_eq!(got.len(), sent.len(), "events were dropped or made up");
    for (sent, got) in sent.iter().zip(&got) {
        assert_eq!(sent.event, got.event);
        let original = serde_json::from_str::<Value>(&sent.data).ok();
        match original {
            Some(Value::Object(mut want)) if want.contains_key("model") => {
                let Ok(Value::Object(mut have)) = serde_json::from_str::<Value>(&got.data) else {
                    panic!("a JSON chunk came out as {:?}", got.data);
                };
                assert_eq!(have.remove("model"), Some(Value::from(common::MODEL)), "model not restamped");
                want.remove("model");
                assert_eq!(have, want, "members other than model changed");
            }
            _ => assert_eq!(sent.data, got.data, "an event without a model changed"),
        }
    }
});

/// A chunk that only carries the usage: a JSON object with a non-null `usage` and no choice.
fn usage_only(data: &str) -> bool {
    let Ok(Value::Object(chunk)) = serde_json::from_str::<Value>(data) else { return false };
    let no_choice = match chunk.get("choices") {
        None => true,
        Some(Value::Array(choices)) => choices.is_empty(),
        Some(_) => false,
    };
    no_choice && chunk.get("usage").is_some_and(|u| !u.is_null())
}
