//! Criterion benches of the Bedrock translator: a typical chat request and its answer (target: both together
//! at most 10 µs), and ConverseStream translation per event, eventstream decoding included (target: at most
//! 2 µs per event).
//!
//! Run: `cargo bench --bench translate_bedrock -- --warm-up-time 1 --measurement-time 3`
//! (smoke test: `cargo bench --bench translate_bedrock -- --test`).
//!
//! The bodies are the golden fixtures' (`filters/tests/fixtures/bedrock/`): a tool-calling request with a
//! tool result in its history and its text + tool-use answer; the streams are a 13-frame tool-calling stream
//! and a text stream of many deltas built from fixture-shaped frames.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tollgate_filters::openai::RequestView;
use tollgate_filters::{
    translate_request, translate_response, Endpoint, Provider, RequestOptions, ResponseMeta, StreamTranslator,
};

const REQUEST: &[u8] = include_bytes!("../filters/tests/fixtures/bedrock/tools/openai.request.json");
const RESPONSE: &[u8] = include_bytes!("../filters/tests/fixtures/bedrock/tools/provider.response.json");
const TOOLS_STREAM: &[u8] = include_bytes!("../filters/tests/fixtures/bedrock/streamed_tools/provider.stream.bin");
const TEXT_STREAM: &[u8] = include_bytes!("../filters/tests/fixtures/bedrock/text/provider.stream.bin");
const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
const META: ResponseMeta<'static> =
    ResponseMeta { id: "chatcmpl-bench", created: 1_700_000_000, model: "claude-bedrock" };

/// Frames of an eventstream, split at frame boundaries (the total length is the first 4 bytes of each).
fn frames(stream: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = stream;
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

/// A long text stream: the text fixture's start, its second frame (a text delta) 200 times, then its end.
fn long_text_stream() -> (Vec<u8>, usize) {
    let f = frames(TEXT_STREAM);
    let mut out = f[0].to_vec();
    for _ in 0..200 {
        out.extend_from_slice(f[1]);
    }
    for frame in &f[3..] {
        out.extend_from_slice(frame);
    }
    (out, 1 + 200 + f.len() - 3)
}

fn chat(c: &mut Criterion) {
    let mut group = c.benchmark_group("bedrock_chat");
    let opts = RequestOptions::default();
    group.bench_function("request", |b| {
        b.iter(|| {
            let Ok(view) = RequestView::parse(black_box(REQUEST)) else { panic!("the bench request must parse") };
            let Ok(body) = translate_request(Provider::Bedrock, Endpoint::ChatCompletions, &view, MODEL, &opts) else {
                panic!("the bench request must translate")
            };
            black_box(body.len())
        })
    });
    group.bench_function("response", |b| {
        b.iter(|| {
            let Ok((body, usage)) =
                translate_response(Provider::Bedrock, Endpoint::ChatCompletions, black_box(RESPONSE), &META)
            else {
                panic!("the bench answer must translate")
            };
            black_box((body.len(), usage))
        })
    });
    group.bench_function("request_and_response", |b| {
        b.iter(|| {
            let Ok(view) = RequestView::parse(black_box(REQUEST)) else { panic!("the bench request must parse") };
            let Ok(body) = translate_request(Provider::Bedrock, Endpoint::ChatCompletions, &view, MODEL, &opts) else {
                panic!("the bench request must translate")
            };
            let Ok((answer, _)) =
                translate_response(Provider::Bedrock, Endpoint::ChatCompletions, black_box(RESPONSE), &META)
            else {
                panic!("the bench answer must translate")
            };
            black_box(body.len() + answer.len())
        })
    });
    group.finish();
}

fn stream(c: &mut Criterion) {
    let mut group = c.benchmark_group("bedrock_stream");
    let (long, long_events) = long_text_stream();
    for (name, input, events) in [
        ("tools_13_events", TOOLS_STREAM.to_vec(), frames(TOOLS_STREAM).len()),
        ("text_many_events", long, long_events),
    ] {
        // Throughput in events: criterion's time per element is the time per event.
        group.throughput(Throughput::Elements(events as u64));
        // Whole, and in 256-byte network chunks (frames straddle them).
        for chunk in [input.len(), 256] {
            group.bench_with_input(BenchmarkId::new(name, format!("chunk_{chunk}")), &input, |b, input| {
                let mut out = Vec::with_capacity(64 * 1024);
                b.iter(|| {
                    out.clear();
                    let mut translator = StreamTranslator::new(Provider::Bedrock, &META, true, 1 << 20);
                    for piece in input.chunks(chunk) {
                        let Ok(()) = translator.push(black_box(piece), &mut out) else {
                            panic!("the bench stream must translate")
                        };
                    }
                    let Ok(()) = translator.finish(&mut out) else { panic!("the bench stream must end") };
                    black_box(out.len())
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, chat, stream);
criterion_main!(benches);
