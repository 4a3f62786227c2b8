//! Golden tests of the Anthropic translator: every folder under `tests/fixtures/anthropic/` is one case,
//! compared as JSON values in both directions, and every fixture stream is fed whole, split in two at every
//! byte, and one byte at a time, which must all give the same bytes.
//!
//! A case may hold: `openai.request.json` -> `provider.request.json`; `provider.response.json` ->
//! `openai.response.json`; `provider.stream.sse` -> `openai.stream.sse` (and `openai.stream.error.json` when
//! the stream ends in an error event); `provider.error.json` -> `openai.error.json` (`{"status", "body"}`).
//! `ResponseMeta` is fixed: id `chatcmpl-test`, created 1700000000, model = the request's `model` (the model
//! group the client asked for).
#![expect(clippy::unwrap_used, reason = "a failing fixture should stop the test with its path")]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tollgate_filters::framing::sse::SseDecoder;
use tollgate_filters::openai::RequestView;
use tollgate_filters::{
    anthropic, translate_error, translate_request, translate_response, Endpoint, Provider, RequestOptions,
    ResponseMeta, StreamTranslator, TranslateError,
};

const ID: &str = "chatcmpl-test";
const CREATED: u64 = 1_700_000_000;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/anthropic");
    let mut cases: Vec<PathBuf> =
        fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    assert!(cases.len() >= 8, "expected at least 8 anthropic fixture cases in {}", root.display());
    cases
}

fn read(case: &Path, name: &str) -> Option<Vec<u8>> {
    fs::read(case.join(name)).ok()
}

fn json(case: &Path, name: &str) -> Option<Value> {
    read(case, name).map(|bytes| {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}/{name} is not JSON: {e}", case.display()))
    })
}

/// The model group the client asked for, which every answer carries.
fn group(case: &Path) -> String {
    json(case, "openai.request.json")
        .and_then(|r| r["model"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "claude-sonnet".to_owned())
}

fn include_usage(case: &Path) -> bool {
    json(case, "openai.request.json").is_some_and(|r| r["stream_options"]["include_usage"] == Value::Bool(true))
}

#[test]
fn every_case_has_a_readme_naming_the_reference() {
    for case in cases() {
        let readme = String::from_utf8(read(&case, "README.md").unwrap()).unwrap();
        assert!(readme.contains("https://platform.claude.com/docs/"), "{}: README names no reference", case.display());
    }
}

#[test]
fn requests_translate_to_the_provider_body() {
    let mut checked = 0;
    for case in cases() {
        let (Some(request), Some(expected)) =
            (read(&case, "openai.request.json"), json(&case, "provider.request.json"))
        else {
            continue;
        };
        let view = RequestView::parse(&request).unwrap();
        let upstream = expected["model"].as_str().unwrap();
        let body = translate_request(
            Provider::Anthropic,
            Endpoint::ChatCompletions,
            &view,
            upstream,
            &RequestOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        let actual: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(actual, expected, "{}: provider request", case.display());
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} request cases");
}

#[test]
fn responses_translate_to_the_openai_answer() {
    let mut checked = 0;
    for case in cases() {
        let (Some(body), Some(expected)) = (read(&case, "provider.response.json"), json(&case, "openai.response.json"))
        else {
            continue;
        };
        let model = group(&case);
        let meta = ResponseMeta { id: ID, created: CREATED, model: &model };
        let (out, usage) = translate_response(Provider::Anthropic, Endpoint::ChatCompletions, &body, &meta)
            .unwrap_or_else(|e| panic!("{}: {e}", case.display()));
        let actual: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(actual, expected, "{}: openai response", case.display());
        let usage = usage.unwrap();
        assert_eq!(usage.to_openai(), expected["usage"], "{}: usage", case.display());
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} response cases");
}

#[test]
fn errors_translate_to_openai_errors() {
    let mut checked = 0;
    for case in cases() {
        let (Some(provider), Some(expected)) = (json(&case, "provider.error.json"), json(&case, "openai.error.json"))
        else {
            continue;
        };
        let status = u16::try_from(provider["status"].as_u64().unwrap()).unwrap();
        let body = serde_json::to_vec(&provider["body"]).unwrap();
        let (out_status, out) = translate_error(Provider::Anthropic, status, &body);
        assert_eq!(u64::from(out_status), expected["status"].as_u64().unwrap(), "{}: status", case.display());
        let actual: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(actual, expected["body"], "{}: error body", case.display());
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} error cases");
}

/// What a stream gave: the bytes written and how it ended.
#[derive(Debug, PartialEq)]
struct Outcome {
    out: Vec<u8>,
    error: Option<(u16, String)>,
}

/// Feeds `pieces` in order, then `finish` unless a piece failed.
fn run_stream(case: &Path, pieces: &[&[u8]]) -> Outcome {
    let model = group(case);
    let meta = ResponseMeta { id: ID, created: CREATED, model: &model };
    let mut stream = StreamTranslator::new(Provider::Anthropic, &meta, include_usage(case), 1 << 20);
    let mut out = Vec::new();
    for piece in pieces {
        if let Err(e) = stream.push(piece, &mut out) {
            return Outcome { out, error: Some(stream_error(e)) };
        }
    }
    match stream.finish(&mut out) {
        Ok(()) => Outcome { out, error: None },
        Err(e) => Outcome { out, error: Some(stream_error(e)) },
    }
}

fn stream_error(e: TranslateError) -> (u16, String) {
    match e {
        TranslateError::ProviderStreamError { status, message } => (status, message),
        other => panic!("unexpected stream error: {other}"),
    }
}

/// The `data:` payloads of an SSE body, each as a JSON value (`[DONE]` as the string `"[DONE]"`).
fn sse_values(bytes: &[u8]) -> Vec<Value> {
    let mut decoder = SseDecoder::new(1 << 20);
    let mut events = Vec::new();
    decoder.push(bytes, &mut events).unwrap();
    decoder.finish(&mut events).unwrap();
    events
        .iter()
        .map(|e| if e.is_done() { Value::from("[DONE]") } else { serde_json::from_str(&e.data).unwrap() })
        .collect()
}

#[test]
fn streams_translate_to_openai_chunks() {
    let mut checked = 0;
    for case in cases() {
        let (Some(stream), Some(expected)) = (read(&case, "provider.stream.sse"), read(&case, "openai.stream.sse"))
        else {
            continue;
        };
        let outcome = run_stream(&case, &[&stream]);
        let actual = sse_values(&outcome.out);
        let expected_values = sse_values(&expected);
        assert_eq!(
            actual.len(),
            expected_values.len(),
            "{}: event count\n{}",
            case.display(),
            String::from_utf8_lossy(&outcome.out)
        );
        for (i, (a, e)) in actual.iter().zip(&expected_values).enumerate() {
            assert_eq!(a, e, "{}: event {i}", case.display());
        }
        // Every event is one `data:` line and a blank line; [DONE] exactly once, last, unless it failed.
        let text = String::from_utf8(outcome.out.clone()).unwrap();
        assert!(
            text.split("\n\n").filter(|e| !e.is_empty()).all(|e| e.starts_with("data: ") && !e.contains('\n')),
            "{}",
            case.display()
        );
        match json(&case, "openai.stream.error.json") {
            Some(error) => {
                let (status, message) =
                    outcome.error.unwrap_or_else(|| panic!("{}: the stream did not fail", case.display()));
                assert_eq!(u64::from(status), error["status"].as_u64().unwrap(), "{}", case.display());
                assert_eq!(message, error["message"].as_str().unwrap(), "{}", case.display());
                assert_eq!(text.matches("[DONE]").count(), 0, "{}", case.display());
            }
            None => {
                assert_eq!(outcome.error, None, "{}", case.display());
                assert_eq!(text.matches("data: [DONE]\n\n").count(), 1, "{}", case.display());
                assert!(text.ends_with("data: [DONE]\n\n"), "{}", case.display());
            }
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} stream cases");
}

#[test]
fn streams_give_the_same_bytes_at_every_chunk_boundary() {
    for case in cases() {
        let Some(stream) = read(&case, "provider.stream.sse") else { continue };
        let whole = run_stream(&case, &[&stream]);
        for split in 0..=stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(run_stream(&case, &[a, b]), whole, "{}: split at byte {split}", case.display());
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(run_stream(&case, &bytes), whole, "{}: one byte at a time", case.display());
    }
}

#[test]
fn finish_writes_done_once() {
    let meta = ResponseMeta { id: ID, created: CREATED, model: "claude-sonnet" };
    let mut stream = anthropic::Stream::new(&meta, false);
    let mut out = Vec::new();
    stream.finish(&mut out).unwrap();
    stream.finish(&mut out).unwrap();
    assert_eq!(out, b"data: [DONE]\n\n");
}
