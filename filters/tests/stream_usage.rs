//! Stream usage over every fixture stream of every translated provider (`tests/fixtures/*/*/provider.stream.*`)
//! and over their OpenAI outputs fed back through the OpenAI passthrough:
//!
//! - a whole stream is charged what the provider said: `produced_estimate()` equals the usage chunk the
//!   fixture's OpenAI stream carries, whenever it carries one;
//! - a stream cut anywhere is charged at least the text it passed on (about 4 bytes a token), so a client that
//!   hangs up early is not a free call;
//! - the passthrough reads the usage chunk and drops it exactly when the client did not ask for it.
#![expect(clippy::unwrap_used, reason = "a failing fixture should stop the test with its path")]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tollgate_filters::framing::sse::SseDecoder;
use tollgate_filters::openai::usage_of;
use tollgate_filters::{Provider, ResponseMeta, StreamTranslator, Usage};

const META: ResponseMeta<'static> = ResponseMeta { id: "chatcmpl-test", created: 1_700_000_000, model: "group" };

/// Every fixture case with a provider stream: (provider, case folder, the provider's stream bytes).
fn streams() -> Vec<(Provider, PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut found = Vec::new();
    for (dir, provider) in [
        ("anthropic", Provider::Anthropic),
        ("gemini", Provider::Gemini),
        ("bedrock", Provider::Bedrock),
        ("cohere", Provider::Cohere),
    ] {
        let mut cases: Vec<PathBuf> = fs::read_dir(root.join(dir)).unwrap().map(|e| e.unwrap().path()).collect();
        cases.sort();
        for case in cases {
            for name in ["provider.stream.sse", "provider.stream.bin"] {
                if let Ok(bytes) = fs::read(case.join(name)) {
                    found.push((provider, case.clone(), bytes));
                }
            }
        }
    }
    assert!(found.len() >= 30, "expected at least 30 fixture streams, found {}", found.len());
    found
}

/// The data of every event of an SSE byte stream.
fn events(sse: &[u8]) -> Vec<String> {
    let mut decoder = SseDecoder::new(1 << 24);
    let mut events = Vec::new();
    decoder.push(sse, &mut events).unwrap();
    decoder.finish(&mut events).unwrap();
    events.into_iter().map(|e| e.data).collect()
}

/// The usage chunk (`choices: []` with a `usage`) of an OpenAI stream, if it has one.
fn usage_chunk(sse: &[u8]) -> Option<Usage> {
    events(sse).iter().filter(|d| d.as_str() != "[DONE]").find_map(|data| {
        let v: Value = serde_json::from_str(data).unwrap();
        let usage_only = v["choices"].as_array().is_some_and(Vec::is_empty) && v["usage"].is_object();
        usage_only.then(|| usage_of(data.as_bytes())).flatten()
    })
}

/// The decoded bytes of generated text an OpenAI stream carries: content, reasoning, tool-call arguments
/// (except the `{}` translators write for a call that got no arguments, which the provider did not generate).
fn text_bytes(sse: &[u8]) -> u64 {
    let mut bytes = 0;
    for data in events(sse).iter().filter(|d| d.as_str() != "[DONE]") {
        let v: Value = serde_json::from_str(data).unwrap();
        for choice in v["choices"].as_array().into_iter().flatten() {
            let delta = &choice["delta"];
            for text in [&delta["content"], &delta["reasoning_content"], &choice["text"]] {
                bytes += text.as_str().map_or(0, str::len);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let arguments = call["function"]["arguments"].as_str().unwrap_or("");
                if arguments != "{}" {
                    bytes += arguments.len();
                }
            }
        }
    }
    bytes as u64
}

/// Feeds `input` to a fresh translator; `finish` only when `finish` is set. Errors end the feed (fixtures
/// of provider errors are part of the set).
fn feed(provider: Provider, client_usage: bool, input: &[u8], finish: bool) -> (StreamTranslator, Vec<u8>) {
    let mut translator = StreamTranslator::new(provider, &META, client_usage, 1 << 24);
    let mut out = Vec::new();
    if translator.push(input, &mut out).is_ok() && finish {
        let _ = translator.finish(&mut out);
    }
    (translator, out)
}

#[test]
fn a_whole_stream_is_charged_the_usage_the_provider_said() {
    let mut checked = 0;
    for (provider, case, input) in streams() {
        let (translator, out) = feed(provider, true, &input, true);
        if let Some(said) = usage_chunk(&out) {
            assert_eq!(translator.produced_estimate(), said, "{}", case.display());
            assert_eq!(translator.usage(), Some(said), "{}", case.display());
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} fixture streams carried a usage chunk");
}

#[test]
fn a_stream_cut_anywhere_is_charged_at_least_the_text_it_passed_on() {
    for (provider, case, input) in streams() {
        let step = (input.len() / 40).max(1);
        for cut in (0..=input.len()).step_by(step) {
            let (translator, out) = feed(provider, false, &input[..cut], false);
            let estimate = translator.produced_estimate();
            let passed_on = text_bytes(&out);
            assert!(
                estimate.completion_tokens * 4 >= passed_on,
                "{} cut at {cut}: {estimate:?} for {passed_on} bytes of text",
                case.display()
            );
            if let Some(said) = translator.usage() {
                assert!(estimate.prompt_tokens == said.prompt_tokens, "{} cut at {cut}", case.display());
            }
        }
    }
}

#[test]
fn the_passthrough_charges_the_openai_streams_like_their_providers() {
    let mut checked = 0;
    for (provider, case, input) in streams() {
        let (_, openai) = feed(provider, true, &input, true);
        let Some(said) = usage_chunk(&openai) else { continue };
        for client_usage in [true, false] {
            let (translator, out) = feed(Provider::OpenAI, client_usage, &openai, true);
            assert_eq!(translator.usage(), Some(said), "{}", case.display());
            assert_eq!(translator.produced_estimate(), said, "{}", case.display());
            assert_eq!(usage_chunk(&out).is_some(), client_usage, "{} client usage {client_usage}", case.display());
            // Nothing else is dropped.
            assert_eq!(events(&out).len() + usize::from(!client_usage), events(&openai).len(), "{}", case.display());
        }
        // Cut before its usage chunk, the passthrough estimates from the text as the translator did.
        let cut = openai.windows(13).position(|w| w == b"\"choices\":[]," || w == b"\"choices\":[]}");
        if let Some(cut) = cut.and_then(|at| openai[..at].iter().rposition(|&b| b == b'\n')) {
            let (translator, out) = feed(Provider::OpenAI, false, &openai[..cut], false);
            assert!(translator.produced_estimate().completion_tokens * 4 >= text_bytes(&out), "{}", case.display());
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} fixture streams carried a usage chunk");
}
