//! Criterion benches of the Anthropic translator: a typical chat request plus its answer (target <= 10 us
//! together), and stream translation per event (target <= 2 us/event).
//!
//! Run: `cargo bench --bench translate_anthropic -- --warm-up-time 1 --measurement-time 3`
//! (smoke test: `cargo bench --bench translate_anthropic -- --test`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tollgate_filters::openai::RequestView;
use tollgate_filters::{
    translate_request, translate_response, Endpoint, Provider, RequestOptions, ResponseMeta, StreamTranslator,
};

const UPSTREAM: &str = "claude-sonnet-4-5-20250929";
const META: ResponseMeta<'static> =
    ResponseMeta { id: "chatcmpl-bench", created: 1_700_000_000, model: "claude-sonnet" };

/// A system prompt, a few turns with a tool call and its result, two tools, sampling parameters.
const REQUEST: &str = r#"{"model":"claude-sonnet","messages":[{"role":"system","content":"You are a helpful assistant. Answer briefly and cite sources when you can."},{"role":"user","content":"What is the weather in Paris?"},{"role":"assistant","content":null,"tool_calls":[{"id":"toolu_01A09q90qw90lq917835lq9","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"toolu_01A09q90qw90lq917835lq9","content":"18C, sunny"},{"role":"assistant","content":"It is 18C and sunny in Paris."},{"role":"user","content":"And what about Berlin and Rome? Please compare them."}],"temperature":0.7,"max_tokens":512,"user":"user-1234","tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},{"type":"function","function":{"name":"get_time","description":"Local time in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],"tool_choice":"auto"}"#;

/// Its answer: text, two tool calls, usage with cache reads.
const RESPONSE: &str = r#"{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Let me check both cities."},{"type":"tool_use","id":"toolu_01B","name":"get_weather","input":{"city":"Berlin"}},{"type":"tool_use","id":"toolu_01C","name":"get_weather","input":{"city":"Rome"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":412,"cache_creation_input_tokens":0,"cache_read_input_tokens":1800,"output_tokens":96,"service_tier":"standard"}}"#;

/// An Anthropic stream of `deltas` text deltas plus its framing events; returns the bytes and the event count.
fn stream(deltas: usize) -> (Vec<u8>, usize) {
    let mut s = String::new();
    s.push_str("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n");
    s.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    s.push_str("event: ping\ndata: {\"type\": \"ping\"}\n\n");
    for i in 0..deltas {
        s.push_str(&format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\" word{i} and\"}}}}\n\n"
        ));
    }
    s.push_str("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
    s.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":120}}\n\n");
    s.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    (s.into_bytes(), deltas + 6)
}

fn request_and_response(c: &mut Criterion) {
    let mut group = c.benchmark_group("anthropic_chat");
    let opts = RequestOptions::default();
    group.bench_function("request", |b| {
        b.iter(|| {
            let Ok(view) = RequestView::parse(black_box(REQUEST.as_bytes())) else {
                panic!("the bench body must parse")
            };
            let Ok(body) = translate_request(Provider::Anthropic, Endpoint::ChatCompletions, &view, UPSTREAM, &opts)
            else {
                panic!("the bench body must translate")
            };
            black_box(body.len())
        })
    });
    // The gateway parses the client body once (for routing) before any translator runs.
    let Ok(parsed) = RequestView::parse(REQUEST.as_bytes()) else { panic!("the bench body must parse") };
    group.bench_function("request_from_parsed_view", |b| {
        b.iter(|| {
            let Ok(body) =
                translate_request(Provider::Anthropic, Endpoint::ChatCompletions, black_box(&parsed), UPSTREAM, &opts)
            else {
                panic!("the bench body must translate")
            };
            black_box(body.len())
        })
    });
    group.bench_function("response", |b| {
        b.iter(|| {
            let Ok((body, usage)) = translate_response(
                Provider::Anthropic,
                Endpoint::ChatCompletions,
                black_box(RESPONSE.as_bytes()),
                &META,
            ) else {
                panic!("the bench answer must translate")
            };
            black_box((body.len(), usage))
        })
    });
    group.bench_function("request_plus_response", |b| {
        b.iter(|| {
            let Ok(view) = RequestView::parse(black_box(REQUEST.as_bytes())) else {
                panic!("the bench body must parse")
            };
            let Ok(body) = translate_request(Provider::Anthropic, Endpoint::ChatCompletions, &view, UPSTREAM, &opts)
            else {
                panic!("the bench body must translate")
            };
            let Ok((answer, _)) = translate_response(
                Provider::Anthropic,
                Endpoint::ChatCompletions,
                black_box(RESPONSE.as_bytes()),
                &META,
            ) else {
                panic!("the bench answer must translate")
            };
            black_box((body.len(), answer.len()))
        })
    });
    group.finish();
}

fn stream_per_event(c: &mut Criterion) {
    let (bytes, events) = stream(100);
    let mut group = c.benchmark_group("anthropic_stream");
    group.throughput(Throughput::Elements(events as u64));
    // One chunk, and the small chunks a provider really sends (events straddle them).
    for chunk_size in [bytes.len(), 128] {
        group.bench_with_input(BenchmarkId::new("chunk", chunk_size), &bytes, |b, bytes| {
            let mut out = Vec::with_capacity(bytes.len() * 2);
            b.iter(|| {
                out.clear();
                let mut translator = StreamTranslator::new(Provider::Anthropic, &META, true, 1 << 20);
                for chunk in bytes.chunks(chunk_size) {
                    if translator.push(black_box(chunk), &mut out).is_err() {
                        panic!("the bench stream must translate");
                    }
                }
                if translator.finish(&mut out).is_err() {
                    panic!("the bench stream must finish");
                }
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, request_and_response, stream_per_event);
criterion_main!(benches);
