//! Criterion benches of the Gemini / Vertex AI translator: a typical chat request and its answer (target:
//! both together at most 10 µs), and stream translation per event (target: at most 2 µs per event).
//!
//! Run: `cargo bench --bench translate_gemini -- --warm-up-time 1 --measurement-time 3`
//! (smoke test: `cargo bench --bench translate_gemini -- --test`).
//!
//! The bodies are the golden fixtures' (`filters/tests/fixtures/gemini/`, requests made compact as clients
//! send them): `typical` is the `system` case, `tools` the `streamed_tools` case (see `chat`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tollgate_filters::openai::RequestView;
use tollgate_filters::{
    translate_request, translate_response, Endpoint, Provider, RequestOptions, ResponseMeta, StreamTranslator,
};

const TOOLS_REQUEST: &[u8] = include_bytes!("../filters/tests/fixtures/gemini/streamed_tools/openai.request.json");
const TOOLS_RESPONSE: &[u8] = include_bytes!("../filters/tests/fixtures/gemini/streamed_tools/provider.response.json");
const TOOLS_STREAM: &[u8] = include_bytes!("../filters/tests/fixtures/gemini/streamed_tools/provider.stream.sse");
const CHAT_REQUEST: &[u8] = include_bytes!("../filters/tests/fixtures/gemini/system/openai.request.json");
const CHAT_RESPONSE: &[u8] = include_bytes!("../filters/tests/fixtures/gemini/system/provider.response.json");
const META: ResponseMeta<'static> =
    ResponseMeta { id: "chatcmpl-bench", created: 1_700_000_000, model: "gemini-flash" };
const UPSTREAM: &str = "gemini-2.5-flash";

/// A fixture body as a client sends it: compact JSON (the fixtures are pretty-printed for reading).
fn compact(pretty: &[u8]) -> Vec<u8> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(pretty) else { panic!("the fixture must be JSON") };
    value.to_string().into_bytes()
}

fn chat(c: &mut Criterion) {
    let opts = RequestOptions::default();
    // `typical`: a system prompt, a question and sampling parameters; `tools`: five turns with two tools
    // (schemas rewritten), a replayed signed call and two tool results, answered with text and two calls.
    for (name, request, response) in
        [("typical", compact(CHAT_REQUEST), CHAT_RESPONSE), ("tools", compact(TOOLS_REQUEST), TOOLS_RESPONSE)]
    {
        let mut group = c.benchmark_group(format!("gemini_chat_{name}"));
        group.bench_function("request", |b| {
            b.iter(|| {
                let Ok(view) = RequestView::parse(black_box(&request)) else { panic!("the bench request must parse") };
                let Ok(body) = translate_request(Provider::Gemini, Endpoint::ChatCompletions, &view, UPSTREAM, &opts)
                else {
                    panic!("the bench request must translate")
                };
                black_box(body.len())
            })
        });
        group.bench_function("response", |b| {
            b.iter(|| {
                let Ok((body, usage)) =
                    translate_response(Provider::Gemini, Endpoint::ChatCompletions, black_box(response), &META)
                else {
                    panic!("the bench answer must translate")
                };
                black_box((body.len(), usage))
            })
        });
        group.bench_function("request_and_response", |b| {
            b.iter(|| {
                let Ok(view) = RequestView::parse(black_box(&request)) else { panic!("the bench request must parse") };
                let Ok(body) = translate_request(Provider::Gemini, Endpoint::ChatCompletions, &view, UPSTREAM, &opts)
                else {
                    panic!("the bench request must translate")
                };
                let Ok((answer, _)) =
                    translate_response(Provider::Gemini, Endpoint::ChatCompletions, black_box(response), &META)
                else {
                    panic!("the bench answer must translate")
                };
                black_box(body.len() + answer.len())
            })
        });
        group.finish();
    }
}

/// A text stream as Gemini sends it with `alt=sse`: `events` chunks of a word each, the last with
/// `finishReason` and the final usage.
fn text_stream(events: usize) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..events {
        let last = i + 1 == events;
        out.push_str(&format!(
            "data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"text\": \" word{i}\"}}],\"role\": \"model\"}}{}}}],\"usageMetadata\": {{\"promptTokenCount\": 12,\"candidatesTokenCount\": {},\"totalTokenCount\": {}}},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"mZkhaOvfF5mD1MkPjbqK0Qc\"}}\r\n\r\n",
            if last { ",\"finishReason\": \"STOP\"" } else { "" },
            i + 1,
            i + 13,
        ));
    }
    out.into_bytes()
}

/// How many SSE events a Gemini stream holds.
fn count_events(stream: &[u8]) -> u64 {
    stream.windows(4).filter(|w| w == b"\r\n\r\n").count() as u64
}

fn stream(c: &mut Criterion) {
    let text = text_stream(100);
    let mut group = c.benchmark_group("gemini_stream_per_event");
    for (name, stream) in [("text_100_events", text.as_slice()), ("tools_2_events", TOOLS_STREAM)] {
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
                    let mut translator = StreamTranslator::new(Provider::Gemini, &META, true, 1 << 20);
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
