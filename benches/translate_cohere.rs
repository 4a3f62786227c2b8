//! Criterion benches of the Cohere translator: a typical chat request and its answer (target: both together
//! at most 10 µs), and stream translation per event (target: at most 2 µs per event).
//!
//! Run: `cargo bench --bench translate_cohere -- --warm-up-time 1 --measurement-time 3`
//! (smoke test: `cargo bench --bench translate_cohere -- --test`).
//!
//! The bodies are the golden fixtures' (`filters/tests/fixtures/cohere/`): a multi-turn tool-calling request
//! with two tools, and its two-tool-call answer.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tollgate_filters::openai::RequestView;
use tollgate_filters::{
    translate_request, translate_response, Endpoint, Provider, RequestOptions, ResponseMeta, StreamTranslator,
};

const REQUEST: &[u8] = include_bytes!("../filters/tests/fixtures/cohere/tools/openai.request.json");
const RESPONSE: &[u8] = include_bytes!("../filters/tests/fixtures/cohere/tools/provider.response.json");
const TOOLS_STREAM: &[u8] = include_bytes!("../filters/tests/fixtures/cohere/streamed_tools/provider.stream.sse");
const META: ResponseMeta<'static> = ResponseMeta { id: "chatcmpl-bench", created: 1_700_000_000, model: "command-a" };

fn chat(c: &mut Criterion) {
    let mut group = c.benchmark_group("cohere_chat");
    let opts = RequestOptions::default();
    group.bench_function("request", |b| {
        b.iter(|| {
            let Ok(view) = RequestView::parse(black_box(REQUEST)) else { panic!("the bench request must parse") };
            let Ok(body) =
                translate_request(Provider::Cohere, Endpoint::ChatCompletions, &view, "command-a-03-2025", &opts)
            else {
                panic!("the bench request must translate")
            };
            black_box(body.len())
        })
    });
    group.bench_function("response", |b| {
        b.iter(|| {
            let Ok((body, usage)) =
                translate_response(Provider::Cohere, Endpoint::ChatCompletions, black_box(RESPONSE), &META)
            else {
                panic!("the bench answer must translate")
            };
            black_box((body.len(), usage))
        })
    });
    group.bench_function("request_and_response", |b| {
        b.iter(|| {
            let Ok(view) = RequestView::parse(black_box(REQUEST)) else { panic!("the bench request must parse") };
            let Ok(body) =
                translate_request(Provider::Cohere, Endpoint::ChatCompletions, &view, "command-a-03-2025", &opts)
            else {
                panic!("the bench request must translate")
            };
            let Ok((answer, _)) =
                translate_response(Provider::Cohere, Endpoint::ChatCompletions, black_box(RESPONSE), &META)
            else {
                panic!("the bench answer must translate")
            };
            black_box(body.len() + answer.len())
        })
    });
    group.finish();
}

/// A text stream as Cohere sends it: start events, `deltas` content deltas of a word each, end events.
fn text_stream(deltas: usize) -> Vec<u8> {
    let mut out = String::new();
    out.push_str("event: message-start\ndata: {\"id\":\"29f14a5a-11de-4cae-9800-25e4747408ea\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}\n\n");
    out.push_str("event: content-start\ndata: {\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"type\":\"text\",\"text\":\"\"}}}}\n\n");
    for i in 0..deltas {
        out.push_str(&format!(
            "event: content-delta\ndata: {{\"type\":\"content-delta\",\"index\":0,\"delta\":{{\"message\":{{\"content\":{{\"text\":\" word{i}\"}}}}}}}}\n\n"
        ));
    }
    out.push_str("event: content-end\ndata: {\"type\":\"content-end\",\"index\":0}\n\n");
    out.push_str("event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":{\"billed_units\":{\"input_tokens\":5,\"output_tokens\":100},\"tokens\":{\"input_tokens\":71,\"output_tokens\":100}}}}\n\n");
    out.into_bytes()
}

/// How many SSE events a Cohere stream holds.
fn count_events(stream: &[u8]) -> u64 {
    stream.windows(2).filter(|w| w == b"\n\n").count() as u64
}

fn stream(c: &mut Criterion) {
    let text = text_stream(100);
    let mut group = c.benchmark_group("cohere_stream_per_event");
    for (name, stream) in [("text_104_events", text.as_slice()), ("tools_13_events", TOOLS_STREAM)] {
        group.throughput(Throughput::Elements(count_events(stream)));
        // One chunk, and the small chunks a network really delivers (events straddle them).
        for chunk_size in [stream.len(), 128] {
            let id = BenchmarkId::new(
                name,
                if chunk_size == stream.len() { "whole".to_owned() } else { format!("chunks_of_{chunk_size}") },
            );
            group.bench_with_input(id, stream, |b, stream| {
                let mut out = Vec::with_capacity(64 * 1024);
                b.iter(|| {
                    out.clear();
                    let mut translator = StreamTranslator::new(Provider::Cohere, &META, true, 1 << 20);
                    for chunk in stream.chunks(chunk_size) {
                        if translator.push(black_box(chunk), &mut out).is_err() {
                            panic!("the bench stream must translate");
                        }
                    }
                    if translator.finish(&mut out).is_err() {
                        panic!("the bench stream must translate");
                    }
                    black_box(out.len())
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, chat, stream);
criterion_main!(benches);
