//! Golden fixtures of the Cohere translator: every case folder under `tests/fixtures/cohere/` is run through
//! the crate's seam (`translate_request`, `translate_response`, `translate_error`, `StreamTranslator`) and
//! compared as JSON values, both directions; every stream is fed whole, split in two at every byte and fed
//! one byte at a time, and must give the same bytes each way.
//!
//! A case folder holds any of: `openai.request.json` -> `provider.request.json`; `provider.response.json` ->
//! `openai.response.json` (with `provider.status`/`openai.status` it is an error answer);
//! `provider.stream.sse` -> `openai.stream.sse` (with `openai.stream.error.json` the stream ends in an error
//! event); and a `README.md` naming the Cohere reference page it was written from.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed expectation is a panic that says why"
)]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tollgate_filters::framing::sse::SseDecoder;
use tollgate_filters::openai::RequestView;
use tollgate_filters::{
    cohere, translate_error, translate_request, translate_response, Endpoint, Provider, RequestOptions, ResponseMeta,
    StreamTranslator, TranslateError,
};

const ID: &str = "chatcmpl-test";
const CREATED: u64 = 1_700_000_000;
const MAX_EVENT_BYTES: usize = 1 << 20;

/// One fixture folder.
struct Case {
    dir: PathBuf,
    name: String,
}

impl Case {
    fn file(&self, name: &str) -> Option<Vec<u8>> {
        fs::read(self.dir.join(name)).ok()
    }

    fn json(&self, name: &str) -> Option<Value> {
        self.file(name).map(|bytes| {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}/{name} is not JSON: {e}", self.name))
        })
    }

    fn request(&self) -> Value {
        self.json("openai.request.json")
            .unwrap_or_else(|| panic!("{}: every case has an openai.request.json", self.name))
    }

    /// The model group the client asked for: what every answer names as its `model`.
    fn group(&self) -> String {
        self.request()["model"].as_str().expect("openai.request.json has a string `model`").to_owned()
    }

    fn endpoint(&self) -> Endpoint {
        if self.request().get("input").is_some() {
            Endpoint::Embeddings
        } else {
            Endpoint::ChatCompletions
        }
    }

    fn include_usage(&self) -> bool {
        self.request()["stream_options"]["include_usage"].as_bool().unwrap_or(false)
    }
}

fn cases() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cohere");
    let mut cases: Vec<Case> = fs::read_dir(&root)
        .expect("the cohere fixtures folder exists")
        .map(|entry| entry.expect("a readable folder entry").path())
        .filter(|path| path.is_dir())
        .map(|dir| Case { name: dir.file_name().unwrap().to_string_lossy().into_owned(), dir })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

#[test]
fn fixtures_cover_every_required_case() {
    let names: Vec<String> = cases().into_iter().map(|c| c.name).collect();
    for required in
        ["text", "system", "multi_turn", "tools", "streamed_tools", "images", "usage_cache", "errors", "stream_error"]
    {
        assert!(names.iter().any(|n| n == required), "missing fixture case `{required}` in {names:?}");
    }
    assert!(names.len() >= 8);
}

#[test]
fn every_case_names_the_cohere_reference_it_was_written_from() {
    for case in cases() {
        let readme = case.file("README.md").unwrap_or_else(|| panic!("{}: README.md missing", case.name));
        let readme = String::from_utf8(readme).unwrap();
        assert!(readme.contains("https://docs.cohere.com/"), "{}: README.md names no Cohere reference page", case.name);
    }
}

#[test]
fn openai_requests_become_the_cohere_body() {
    let mut checked = 0;
    for case in cases() {
        let Some(expected) = case.json("provider.request.json") else { continue };
        let body = case.file("openai.request.json").unwrap();
        let view = RequestView::parse(&body).unwrap();
        let upstream = expected["model"].as_str().expect("provider.request.json has a `model`");
        let translated =
            translate_request(Provider::Cohere, case.endpoint(), &view, upstream, &RequestOptions::default())
                .unwrap_or_else(|e| panic!("{}: request refused: {e}", case.name));
        let actual: Value = serde_json::from_slice(&translated).unwrap_or_else(|e| {
            panic!("{}: the translated request is not JSON ({e}): {}", case.name, String::from_utf8_lossy(&translated))
        });
        assert_eq!(actual, expected, "{}: request", case.name);
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} request fixtures");
}

#[test]
fn cohere_answers_become_openai_answers() {
    let mut checked = 0;
    for case in cases() {
        if case.file("provider.status").is_some() {
            continue;
        }
        let Some(body) = case.file("provider.response.json") else { continue };
        let expected =
            case.json("openai.response.json").expect("an openai.response.json next to provider.response.json");
        let group = case.group();
        let meta = ResponseMeta { id: ID, created: CREATED, model: &group };
        let endpoint = case.endpoint();
        let (translated, usage) = if endpoint == Endpoint::Embeddings {
            let request = case.file("openai.request.json").unwrap();
            let format = cohere::encoding_format(&RequestView::parse(&request).unwrap()).unwrap();
            cohere::embeddings_response(&body, &meta, format).map(|(b, u)| (b, Some(u)))
        } else {
            translate_response(Provider::Cohere, endpoint, &body, &meta)
        }
        .unwrap_or_else(|e| panic!("{}: answer refused: {e}", case.name));
        let actual: Value = serde_json::from_slice(&translated).unwrap_or_else(|e| {
            panic!("{}: the answer is not JSON ({e}): {}", case.name, String::from_utf8_lossy(&translated))
        });
        assert_eq!(actual, expected, "{}: answer", case.name);
        // The usage handed to the gateway is the one the client sees.
        let usage = usage.expect("translated providers always report usage");
        assert_eq!(expected["usage"]["prompt_tokens"], usage.prompt_tokens, "{}: prompt tokens", case.name);
        assert_eq!(expected["usage"]["total_tokens"], usage.total_tokens(), "{}: total tokens", case.name);
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} answer fixtures");
}

#[test]
fn cohere_errors_become_openai_errors() {
    let mut checked = 0;
    for case in cases() {
        let Some(status) = case.file("provider.status") else { continue };
        let status: u16 = String::from_utf8(status).unwrap().trim().parse().unwrap();
        let expected_status: u16 =
            String::from_utf8(case.file("openai.status").expect("openai.status")).unwrap().trim().parse().unwrap();
        let body = case.file("provider.response.json").unwrap();
        let (out_status, out) = translate_error(Provider::Cohere, status, &body);
        assert_eq!(out_status, expected_status, "{}: status", case.name);
        let actual: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(actual, case.json("openai.response.json").unwrap(), "{}: error body", case.name);
        checked += 1;
    }
    assert!(checked >= 1);
}

/// What a stream run produced: the bytes written, and how it ended.
struct Run {
    out: Vec<u8>,
    end: Result<(), TranslateError>,
}

/// Feeds `pieces` to a fresh translator, then `finish` (unless a piece failed).
fn run<'a>(case: &Case, pieces: impl IntoIterator<Item = &'a [u8]>) -> Run {
    let group = case.group();
    let meta = ResponseMeta { id: ID, created: CREATED, model: &group };
    let mut translator = StreamTranslator::new(Provider::Cohere, &meta, case.include_usage(), MAX_EVENT_BYTES);
    let mut out = Vec::new();
    for piece in pieces {
        if let Err(e) = translator.push(piece, &mut out) {
            return Run { out, end: Err(e) };
        }
    }
    let end = translator.finish(&mut out);
    Run { out, end }
}

/// The events of an SSE body: `[DONE]` as a string, every other payload as JSON.
fn events(name: &str, sse: &[u8]) -> Vec<Value> {
    let mut decoder = SseDecoder::new(MAX_EVENT_BYTES);
    let mut events = Vec::new();
    decoder.push(sse, &mut events).unwrap();
    decoder.finish(&mut events).unwrap();
    events
        .into_iter()
        .map(|event| {
            assert_eq!(event.event, None, "{name}: OpenAI events have no `event:` field");
            if event.is_done() {
                Value::String("[DONE]".into())
            } else {
                serde_json::from_str(&event.data)
                    .unwrap_or_else(|e| panic!("{name}: event is not JSON ({e}): {}", event.data))
            }
        })
        .collect()
}

/// Checks a run against the case's expectations.
fn check(case: &Case, run: &Run, how: &str) {
    let expected = case.file("openai.stream.sse").expect("openai.stream.sse next to provider.stream.sse");
    let actual = events(&case.name, &run.out);
    let expected = events(&case.name, &expected);
    assert_eq!(
        actual.len(),
        expected.len(),
        "{} ({how}): event count\n{}",
        case.name,
        String::from_utf8_lossy(&run.out)
    );
    for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
        assert_eq!(a, e, "{} ({how}): event {i}", case.name);
    }
    let dones = actual.iter().filter(|e| e.as_str() == Some("[DONE]")).count();
    match case.json("openai.stream.error.json") {
        None => {
            assert!(run.end.is_ok(), "{} ({how}): {:?}", case.name, run.end);
            assert_eq!(dones, 1, "{} ({how}): exactly one [DONE]", case.name);
            assert!(run.out.ends_with(b"data: [DONE]\n\n"), "{} ({how}): [DONE] comes last", case.name);
        }
        Some(error) => {
            let Err(TranslateError::ProviderStreamError { status, message }) = &run.end else {
                panic!("{} ({how}): expected a provider stream error, got {:?}", case.name, run.end);
            };
            assert_eq!(u64::from(*status), error["status"].as_u64().unwrap(), "{} ({how}): status", case.name);
            assert_eq!(message, error["message"].as_str().unwrap(), "{} ({how}): message", case.name);
            assert_eq!(dones, 0, "{} ({how}): no [DONE] after an error", case.name);
        }
    }
    // Every chunk is stamped with the meta passed in, never with Cohere's ids.
    for event in actual.iter().filter(|e| e.is_object()) {
        assert_eq!(event["id"], ID, "{}: id", case.name);
        assert_eq!(event["created"], CREATED, "{}: created", case.name);
        assert_eq!(event["model"], case.group().as_str(), "{}: model", case.name);
        assert_eq!(event["object"], "chat.completion.chunk", "{}: object", case.name);
    }
}

#[test]
fn cohere_streams_become_openai_chunks() {
    let mut checked = 0;
    for case in cases() {
        let Some(stream) = case.file("provider.stream.sse") else { continue };
        check(&case, &run(&case, [stream.as_slice()]), "whole");
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} stream fixtures");
}

#[test]
fn streams_give_the_same_bytes_at_every_chunk_boundary() {
    for case in cases() {
        let Some(stream) = case.file("provider.stream.sse") else { continue };
        let whole = run(&case, [stream.as_slice()]);
        for split in 0..=stream.len() {
            let (a, b) = stream.split_at(split);
            let parts = run(&case, [a, b]);
            assert_eq!(parts.out, whole.out, "{}: split at byte {split}", case.name);
            assert_eq!(format!("{:?}", parts.end), format!("{:?}", whole.end), "{}: split at byte {split}", case.name);
        }
        let bytes = run(&case, stream.chunks(1));
        assert_eq!(bytes.out, whole.out, "{}: one byte at a time", case.name);
        assert_eq!(format!("{:?}", bytes.end), format!("{:?}", whole.end), "{}: one byte at a time", case.name);
        check(&case, &bytes, "one byte at a time");
    }
}
