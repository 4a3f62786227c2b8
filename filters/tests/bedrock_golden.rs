//! Golden tests of the Bedrock translator: every folder under `tests/fixtures/bedrock/` is one case.
//!
//! A case has some of: `openai.request.json` -> `provider.request.json` (the request translation),
//! `provider.response.json` -> `openai.response.json` (the answer), `provider.error.json` ->
//! `openai.error.json` (an error answer), `provider.stream.bin` -> `openai.stream.sse` (the stream: exact
//! eventstream frames; compared event by event as JSON values, and the same output for every split of the
//! input into two pieces and for byte-by-byte feeding). `case.json` says what the translation needs:
//! `endpoint` (`chat` | `embeddings`), `upstream_model`, `drop_params`, `include_usage`, `encoding_format`,
//! `error_status` and `error_type` (the `x-amzn-ErrorType` header), `stream_error_status` (a stream that
//! ends in an exception), `usage` (what the answer bills). `provider.stream.events.json` is the readable
//! source of `provider.stream.bin` (headers and payload of each frame); the test checks they agree, and
//! `TOLLGATE_BLESS=1` rewrites the `.bin` from it.
//!
//! Meta is fixed: `id: "chatcmpl-test"`, `created: 1700000000`, `model`: the case's group name (the
//! `model` of its `openai.request.json`).

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failed fixture read should panic loudly")]

use std::fs;
use std::path::{Path, PathBuf};

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use serde_json::value::RawValue;
use serde_json::Value;
use tollgate_filters::bedrock::{self, EmbeddingFormat};
use tollgate_filters::framing::sse::SseDecoder;
use tollgate_filters::openai::RequestView;
use tollgate_filters::{
    translate_request, translate_response, Endpoint, Provider, RequestOptions, ResponseMeta, StreamTranslator,
    TranslateError,
};

const ID: &str = "chatcmpl-test";
const CREATED: u64 = 1_700_000_000;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bedrock")
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> =
        fs::read_dir(fixtures()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    assert!(cases.len() >= 8, "expected at least 8 Bedrock fixture cases, found {}", cases.len());
    cases
}

/// What a case needs besides its files.
#[derive(serde::Deserialize, Default)]
struct Case {
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    upstream_model: Option<String>,
    #[serde(default)]
    drop_params: bool,
    #[serde(default)]
    include_usage: bool,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    error_status: Option<u16>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    stream_error_status: Option<u16>,
    #[serde(default)]
    usage: Option<Value>,
}

fn read(dir: &Path, name: &str) -> Option<Vec<u8>> {
    fs::read(dir.join(name)).ok()
}

fn json(bytes: &[u8], what: &str) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{what} is not JSON: {e}"))
}

fn case(dir: &Path) -> Case {
    read(dir, "case.json").map(|b| serde_json::from_slice(&b).unwrap()).unwrap_or_default()
}

fn group(dir: &Path) -> String {
    let request = read(dir, "openai.request.json").expect("every case has openai.request.json");
    json(&request, "openai.request.json")["model"].as_str().expect("a model").to_owned()
}

fn endpoint(case: &Case) -> Endpoint {
    match case.endpoint.as_deref() {
        Some("embeddings") => Endpoint::Embeddings,
        _ => Endpoint::ChatCompletions,
    }
}

#[test]
fn requests_translate_to_the_fixture() {
    for dir in cases() {
        let (Some(openai), Some(expected)) = (read(&dir, "openai.request.json"), read(&dir, "provider.request.json"))
        else {
            continue;
        };
        let case = case(&dir);
        let view = RequestView::parse(&openai).unwrap();
        let model = case.upstream_model.as_deref().expect("case.json names the upstream_model");
        let opts = RequestOptions { drop_params: case.drop_params };
        let body = translate_request(Provider::Bedrock, endpoint(&case), &view, model, &opts)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert_eq!(json(&body, "translated request"), json(&expected, "provider.request.json"), "{}", dir.display());
    }
}

#[test]
fn responses_translate_to_the_fixture() {
    for dir in cases() {
        let (Some(provider), Some(expected)) =
            (read(&dir, "provider.response.json"), read(&dir, "openai.response.json"))
        else {
            continue;
        };
        let case = case(&dir);
        let model = group(&dir);
        let meta = ResponseMeta { id: ID, created: CREATED, model: &model };
        let (body, usage) = match case.encoding_format.as_deref() {
            Some("base64") => {
                let (body, usage) = bedrock::embeddings_response(&provider, &meta, EmbeddingFormat::Base64).unwrap();
                (body, Some(usage))
            }
            _ => translate_response(Provider::Bedrock, endpoint(&case), &provider, &meta)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display())),
        };
        assert_eq!(json(&body, "translated answer"), json(&expected, "openai.response.json"), "{}", dir.display());
        if let Some(want) = &case.usage {
            let usage = usage.expect("a translated provider always reports usage");
            assert_eq!(&usage.to_openai(), want, "{}: billed usage", dir.display());
        }
    }
}

#[test]
fn errors_translate_to_the_fixture() {
    let mut seen = 0;
    for dir in cases() {
        let (Some(provider), Some(expected)) = (read(&dir, "provider.error.json"), read(&dir, "openai.error.json"))
        else {
            continue;
        };
        let case = case(&dir);
        let status = case.error_status.expect("case.json names error_status");
        let (out_status, body) = bedrock::error_with_type(status, case.error_type.as_deref(), &provider);
        assert_eq!(out_status, status, "{}", dir.display());
        assert_eq!(json(&body, "translated error"), json(&expected, "openai.error.json"), "{}", dir.display());
        seen += 1;
    }
    assert!(seen > 0, "no error case");
}

/// One frame of `provider.stream.events.json`: headers in wire order, payload as written.
#[derive(serde::Deserialize)]
struct EventSpec {
    headers: Vec<(String, String)>,
    payload: Box<RawValue>,
}

/// The eventstream bytes of the readable events (the crate's encoder computes both CRCs).
fn encode(events: &[EventSpec]) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        let mut message = Message::new(event.payload.get().as_bytes().to_vec());
        for (name, value) in &event.headers {
            message = message.add_header(Header::new(name.clone(), HeaderValue::String(value.clone().into())));
        }
        write_message_to(&message, &mut out).unwrap();
    }
    out
}

#[test]
fn stream_fixtures_are_the_encoding_of_their_events() {
    let bless = std::env::var_os("TOLLGATE_BLESS").is_some();
    for dir in cases() {
        let Some(events) = read(&dir, "provider.stream.events.json") else {
            continue;
        };
        let events: Vec<EventSpec> = serde_json::from_slice(&events).unwrap();
        let bytes = encode(&events);
        if bless {
            fs::write(dir.join("provider.stream.bin"), &bytes).unwrap();
        }
        assert_eq!(read(&dir, "provider.stream.bin"), Some(bytes), "{}: run with TOLLGATE_BLESS=1", dir.display());
    }
}

/// The stream translated with the input cut into `pieces`; the output and how it ended.
fn run_stream(case: &Case, model: &str, pieces: &[&[u8]]) -> (Vec<u8>, Result<(), String>) {
    let meta = ResponseMeta { id: ID, created: CREATED, model };
    let mut translator = StreamTranslator::new(Provider::Bedrock, &meta, case.include_usage, 1 << 20);
    let mut out = Vec::new();
    for piece in pieces {
        if let Err(e) = translator.push(piece, &mut out) {
            return (out, Err(describe(&e)));
        }
    }
    let end = translator.finish(&mut out).map_err(|e| describe(&e));
    (out, end)
}

fn describe(e: &TranslateError) -> String {
    match e {
        TranslateError::ProviderStreamError { status, .. } => format!("provider stream error {status}"),
        other => other.to_string(),
    }
}

/// SSE events as comparable values: JSON data parsed, `[DONE]` kept as a string.
fn events(sse: &[u8]) -> Vec<Value> {
    let mut decoder = SseDecoder::new(1 << 20);
    let mut events = Vec::new();
    decoder.push(sse, &mut events).unwrap();
    decoder.finish(&mut events).unwrap();
    events
        .into_iter()
        .map(|e| if e.is_done() { Value::String(e.data) } else { json(e.data.as_bytes(), "an SSE event") })
        .collect()
}

#[test]
fn streams_translate_to_the_fixture_at_every_chunk_boundary() {
    let mut seen = 0;
    for dir in cases() {
        let (Some(stream), Some(expected)) = (read(&dir, "provider.stream.bin"), read(&dir, "openai.stream.sse"))
        else {
            continue;
        };
        seen += 1;
        let case = case(&dir);
        let model = group(&dir);
        let (whole, end) = run_stream(&case, &model, &[&stream]);
        assert_eq!(events(&whole), events(&expected), "{}", dir.display());
        match case.stream_error_status {
            Some(status) => assert_eq!(end, Err(format!("provider stream error {status}")), "{}", dir.display()),
            None => {
                assert_eq!(end, Ok(()), "{}", dir.display());
                let done = whole.windows(6).filter(|w| w == b"[DONE]").count();
                assert_eq!(done, 1, "{}: exactly one [DONE]", dir.display());
            }
        }
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            let split = run_stream(&case, &model, &[a, b]);
            assert_eq!(split, (whole.clone(), end.clone()), "{}: split at {cut}", dir.display());
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(run_stream(&case, &model, &bytes), (whole, end), "{}: byte by byte", dir.display());
    }
    assert!(seen >= 4, "expected several stream cases, found {seen}");
}
