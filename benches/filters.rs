//! Criterion benches of the pure filters: the per-request body rewrite and the SSE decoder.
//!
//! Run: `cargo bench --bench filters` (smoke test: `cargo bench --bench filters -- --test`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tollgate_filters::framing::sse::{self, SseDecoder};
use tollgate_filters::openai::RequestView;

/// A chat request of about `target` bytes: a system prompt, a few turns, tools, and a last user message
/// padded to the size (a 1 MB body is what a vision request with an inline image looks like).
fn chat_body(target: usize) -> Vec<u8> {
    let head = r#"{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant. Answer briefly and cite sources when you can."},{"role":"user","content":"What is the capital of France?"},{"role":"assistant","content":"Paris."},{"role":"user","content":""#;
    let tail = r#""}],"temperature":0.7,"max_tokens":512,"stream":false,"user":"user-1234","tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],"metadata":{"trace":"abc123"}}"#;
    let fill = target.saturating_sub(head.len() + tail.len());
    let text: String = "And what about Germany? ".chars().cycle().take(fill).collect();
    format!("{head}{text}{tail}").into_bytes()
}

/// An OpenAI chat stream of `events` content chunks, the last one `[DONE]`.
fn chat_stream(events: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..events - 1 {
        let chunk = format!(
            r#"{{"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{{"index":0,"delta":{{"content":" word{i}"}},"logprobs":null,"finish_reason":null}}]}}"#
        );
        sse::write_data(&mut out, chunk.as_bytes());
    }
    out.extend_from_slice(sse::DONE);
    out
}

fn rewrite(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_and_write_with_model");
    for (name, size) in [("1KB", 1024), ("1MB", 1024 * 1024)] {
        let body = chat_body(size);
        let mut out = Vec::with_capacity(body.len() + 64);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &body, |b, body| {
            b.iter(|| {
                let Ok(view) = RequestView::parse(black_box(body)) else { panic!("the bench body must parse") };
                view.write_with_model(black_box("llama-3.1-70b-versatile"), &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();
}

fn decode_sse(c: &mut Criterion) {
    let stream = chat_stream(20);
    let mut group = c.benchmark_group("sse_decode_20_events");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    // One chunk, and the small chunks a provider really sends (events straddle them).
    for chunk_size in [stream.len(), 128] {
        group.bench_with_input(BenchmarkId::new("chunk", chunk_size), &stream, |b, stream| {
            let mut events = Vec::with_capacity(32);
            b.iter(|| {
                events.clear();
                let mut decoder = SseDecoder::new(64 * 1024);
                for chunk in stream.chunks(chunk_size) {
                    if decoder.push(black_box(chunk), &mut events).is_err() {
                        panic!("the bench stream must decode");
                    }
                }
                if decoder.finish(&mut events).is_err() {
                    panic!("the bench stream must decode");
                }
                assert_eq!(events.len(), 20);
                black_box(events.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, rewrite, decode_sse);
criterion_main!(benches);
