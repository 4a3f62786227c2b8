//! Golden tests of the Gemini / Vertex AI translator: every folder of `tests/fixtures/gemini/` is one case,
//! compared as JSON values in both directions, and every stream is also fed split at every byte boundary
//! and one byte at a time.
//!
//! A case folder holds `openai.request.json` -> `provider.request.json`; `provider.response.json` ->
//! `openai.response.json` (an error answer when `provider.status` exists: then `openai.status` is the
//! status the client gets); `provider.stream.sse` -> `openai.stream.sse`, or up to the provider's error
//! event and `openai.stream.error.json` (`{"status", "message"}`). `upstream_model.txt` names the model in
//! the provider's URL (default [`DEFAULT_UPSTREAM`]). The answer's `model` is the request's (the model
//! group the client asked for), `id` and `created` are fixed.

#![expect(clippy::unwrap_used, reason = "tests fail loudly on broken fixtures")]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tollgate_filters::framing::sse::SseDecoder;
use tollgate_filters::openai::RequestView;
use tollgate_filters::{
    translate_error, translate_request, translate_response, Endpoint, Provider, RequestOptions, ResponseMeta,
    StreamTranslator, TranslateError,
};

/// The upstream model of a case without `upstream_model.txt`.
const DEFAULT_UPSTREAM: &str = "gemini-2.5-flash";

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemini");
    let mut dirs: Vec<PathBuf> =
        fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    assert!(dirs.len() >= 8, "expected at least 8 Gemini fixture cases in {}", root.display());
    dirs
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()))
}

fn json(dir: &Path, name: &str) -> Value {
    serde_json::from_slice(&read(dir, name)).unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()))
}

fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// The case's client request and what follows from it.
struct Case {
    dir: PathBuf,
    request: Value,
    group: String,
    upstream: String,
    endpoint: Endpoint,
    include_usage: bool,
}

impl Case {
    fn load(dir: PathBuf) -> Case {
        let request = json(&dir, "openai.request.json");
        let group = request["model"].as_str().unwrap().to_owned();
        let upstream = fs::read_to_string(dir.join("upstream_model.txt"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| DEFAULT_UPSTREAM.to_owned());
        let endpoint = if request.get("input").is_some() { Endpoint::Embeddings } else { Endpoint::ChatCompletions };
        let include_usage = request["stream_options"]["include_usage"].as_bool().unwrap_or(false);
        Case { dir, request, group, upstream, endpoint, include_usage }
    }

    fn meta(&self) -> ResponseMeta<'_> {
        ResponseMeta { id: "chatcmpl-test", created: 1_700_000_000, model: &self.group }
    }
}

#[test]
fn requests_translate_to_the_golden_provider_requests() {
    for dir in cases() {
        let case = Case::load(dir);
        let body = serde_json::to_vec(&case.request).unwrap();
        let view = RequestView::parse(&body).unwrap();
        let got = translate_request(Provider::Gemini, case.endpoint, &view, &case.upstream, &RequestOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", name(&case.dir)));
        let got: Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(got, json(&case.dir, "provider.request.json"), "{}: provider request", name(&case.dir));
        // Vertex AI takes the same chat body; its embeddings go to `:predict` with their own body.
        let vertex =
            translate_request(Provider::VertexAi, case.endpoint, &view, &case.upstream, &Default::default()).unwrap();
        let vertex: Value = serde_json::from_slice(&vertex).unwrap();
        if case.endpoint == Endpoint::Embeddings {
            assert!(vertex["instances"].is_array(), "{}: vertex :predict body {vertex}", name(&case.dir));
        } else {
            assert_eq!(vertex, got, "{}: vertex body", name(&case.dir));
        }
    }
}

#[test]
fn responses_translate_to_the_golden_openai_responses() {
    for dir in cases() {
        let case = Case::load(dir);
        let body = read(&case.dir, "provider.response.json");
        if let Ok(status) = fs::read_to_string(case.dir.join("provider.status")) {
            let (got_status, got) = translate_error(Provider::Gemini, status.trim().parse().unwrap(), &body);
            let want_status: u16 = fs::read_to_string(case.dir.join("openai.status")).unwrap().trim().parse().unwrap();
            assert_eq!(got_status, want_status, "{}: error status", name(&case.dir));
            let got: Value = serde_json::from_slice(&got).unwrap();
            assert_eq!(got, json(&case.dir, "openai.response.json"), "{}: error body", name(&case.dir));
            continue;
        }
        let (got, usage) = translate_response(Provider::Gemini, case.endpoint, &body, &case.meta())
            .unwrap_or_else(|e| panic!("{}: {e}", name(&case.dir)));
        let got: Value = serde_json::from_slice(&got).unwrap();
        let want = json(&case.dir, "openai.response.json");
        assert_eq!(got, want, "{}: openai response", name(&case.dir));
        // The usage the gateway bills is the one the client sees.
        let usage = usage.unwrap();
        assert_eq!(want["usage"]["prompt_tokens"], usage.prompt_tokens, "{}: billed prompt", name(&case.dir));
        if case.endpoint == Endpoint::ChatCompletions {
            assert_eq!(want["usage"], usage.to_openai(), "{}: billed usage", name(&case.dir));
        }
    }
}

/// What a stream translation gave: the output, and the provider's error if it ended with one.
struct Run {
    out: Vec<u8>,
    error: Option<(u16, String)>,
}

fn run_stream(case: &Case, pieces: &[&[u8]]) -> Run {
    let mut translator = StreamTranslator::new(Provider::Gemini, &case.meta(), case.include_usage, 1 << 20);
    let mut out = Vec::new();
    for piece in pieces {
        if let Err(e) = translator.push(piece, &mut out) {
            return Run { out, error: Some(stream_error(e)) };
        }
    }
    match translator.finish(&mut out) {
        Ok(()) => Run { out, error: None },
        Err(e) => Run { out, error: Some(stream_error(e)) },
    }
}

fn stream_error(e: TranslateError) -> (u16, String) {
    match e {
        TranslateError::ProviderStreamError { status, message } => (status, message),
        other => panic!("unexpected stream error: {other}"),
    }
}

/// The events of an OpenAI SSE stream: each `data` as a JSON value, `[DONE]` as the string "[DONE]".
fn events(bytes: &[u8]) -> Vec<Value> {
    let mut decoder = SseDecoder::new(1 << 20);
    let mut events = Vec::new();
    decoder.push(bytes, &mut events).unwrap();
    decoder.finish(&mut events).unwrap();
    events
        .into_iter()
        .map(|e| if e.is_done() { Value::from("[DONE]") } else { serde_json::from_str(&e.data).unwrap() })
        .collect()
}

fn stream_cases() -> Vec<(Case, Vec<u8>)> {
    cases()
        .into_iter()
        .filter(|d| d.join("provider.stream.sse").exists())
        .map(|d| {
            let wire = read(&d, "provider.stream.sse");
            (Case::load(d), wire)
        })
        .collect()
}

#[test]
fn streams_translate_to_the_golden_openai_streams() {
    let cases = stream_cases();
    assert!(cases.len() >= 5);
    for (case, wire) in cases {
        let run = run_stream(&case, &[&wire]);
        let got = events(&run.out);
        assert_eq!(got, events(&read(&case.dir, "openai.stream.sse")), "{}: openai stream", name(&case.dir));
        match run.error {
            Some((status, message)) => {
                let want = json(&case.dir, "openai.stream.error.json");
                assert_eq!(
                    (Value::from(status), Value::from(message)),
                    (want["status"].clone(), want["message"].clone())
                );
            }
            None => {
                assert!(!case.dir.join("openai.stream.error.json").exists(), "{}: expected an error", name(&case.dir));
                let done = got.iter().filter(|e| e.as_str() == Some("[DONE]")).count();
                assert_eq!(done, 1, "{}: exactly one [DONE]", name(&case.dir));
                assert_eq!(got.last(), Some(&Value::from("[DONE]")), "{}: [DONE] last", name(&case.dir));
                assert!(run.out.ends_with(b"data: [DONE]\n\n"));
            }
        }
        // Every chunk carries the answer's id, created, model and object.
        for chunk in got.iter().filter(|e| e.is_object()) {
            assert_eq!(chunk["id"], "chatcmpl-test");
            assert_eq!(chunk["created"], 1_700_000_000);
            assert_eq!(chunk["model"], case.group.as_str());
            assert_eq!(chunk["object"], "chat.completion.chunk");
        }
    }
}

#[test]
fn streams_split_at_every_byte_boundary_give_the_same_output() {
    for (case, wire) in stream_cases() {
        let whole = run_stream(&case, &[&wire]);
        for at in 0..=wire.len() {
            let (a, b) = wire.split_at(at);
            let split = run_stream(&case, &[a, b]);
            assert_eq!(split.out, whole.out, "{}: split at {at}", name(&case.dir));
            assert_eq!(split.error, whole.error, "{}: split at {at}", name(&case.dir));
        }
    }
}

#[test]
fn streams_fed_one_byte_at_a_time_give_the_same_output() {
    for (case, wire) in stream_cases() {
        let whole = run_stream(&case, &[&wire]);
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        let single = run_stream(&case, &bytes);
        assert_eq!(single.out, whole.out, "{}: byte by byte", name(&case.dir));
        assert_eq!(single.error, whole.error, "{}: byte by byte", name(&case.dir));
    }
}

/// Development aid: `GEMINI_BLESS=1 cargo test -p tollgate-filters --test gemini_golden bless` writes the
/// OpenAI side of the cases that lack it (to be read and checked by hand before committing).
#[test]
fn bless() {
    if std::env::var_os("GEMINI_BLESS").is_none() {
        return;
    }
    for dir in cases() {
        let case = Case::load(dir);
        if !case.dir.join("openai.response.json").exists() && !case.dir.join("provider.status").exists() {
            let body = read(&case.dir, "provider.response.json");
            let (got, _) = translate_response(Provider::Gemini, case.endpoint, &body, &case.meta()).unwrap();
            let value: Value = serde_json::from_slice(&got).unwrap();
            fs::write(case.dir.join("openai.response.json"), serde_json::to_string_pretty(&value).unwrap() + "\n")
                .unwrap();
        }
        if case.dir.join("provider.stream.sse").exists() && !case.dir.join("openai.stream.sse").exists() {
            let wire = read(&case.dir, "provider.stream.sse");
            let run = run_stream(&case, &[&wire]);
            fs::write(case.dir.join("openai.stream.sse"), run.out).unwrap();
        }
    }
}
