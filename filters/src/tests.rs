//! Tests of the crate root: provider names and their properties, model splitting, the translate seam.

use crate::openai::RequestView;
use crate::{
    split_model, translate_request, AuthStyle, Endpoint, Provider, RequestOptions, StreamTranslator, TranslateError,
    Translation, Usage,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn every_prefix_round_trips() {
    for provider in Provider::ALL {
        assert_eq!(Provider::from_prefix(provider.prefix()), Some(provider), "{provider:?}");
    }
}

#[test]
fn all_lists_each_provider_once() {
    let distinct: std::collections::HashSet<_> = Provider::ALL.iter().collect();
    assert_eq!(distinct.len(), Provider::ALL.len());
}

#[test]
fn cohere_chat_is_cohere() {
    assert_eq!(Provider::from_prefix("cohere_chat"), Some(Provider::Cohere));
    assert_eq!(Provider::Cohere.prefix(), "cohere");
}

#[test]
fn unknown_and_near_miss_prefixes_are_refused() {
    for prefix in ["", "OpenAI", "vertex_ai_beta", "together-ai", "azure_ai", "huggingface", "openai "] {
        assert_eq!(Provider::from_prefix(prefix), None, "{prefix:?}");
    }
}

#[test]
fn split_model_splits_at_the_first_slash_only() -> TestResult {
    assert_eq!(split_model("openai/gpt-4o")?, (Provider::OpenAI, "gpt-4o"));
    assert_eq!(split_model("openai/org/model")?, (Provider::OpenAI, "org/model"));
    assert_eq!(split_model("together_ai/meta-llama/Llama-3-70b")?, (Provider::TogetherAi, "meta-llama/Llama-3-70b"));
    assert_eq!(split_model("cohere_chat/command-r")?, (Provider::Cohere, "command-r"));
    assert_eq!(
        split_model("bedrock/anthropic.claude-3-haiku-20240307-v1:0")?,
        (Provider::Bedrock, "anthropic.claude-3-haiku-20240307-v1:0")
    );
    Ok(())
}

#[test]
fn split_model_names_the_unknown_prefix() {
    let err = split_model("nosuch/model");
    assert!(matches!(&err, Err(TranslateError::UnknownProvider(p)) if p == "nosuch"), "{err:?}");
}

#[test]
fn split_model_without_prefix_names_the_whole_model() {
    let err = split_model("gpt-4o");
    assert!(matches!(&err, Err(TranslateError::UnknownProvider(p)) if p == "gpt-4o"), "{err:?}");
}

#[test]
fn only_native_api_providers_are_translated() {
    let translated = [Provider::Anthropic, Provider::Gemini, Provider::VertexAi, Provider::Bedrock, Provider::Cohere];
    for provider in Provider::ALL {
        let expected = if translated.contains(&provider) { Translation::Translated } else { Translation::Passthrough };
        assert_eq!(provider.translation(), expected, "{provider:?}");
    }
}

#[test]
fn default_api_bases_match_litellm() {
    let expected = [
        (Provider::OpenAI, Some("https://api.openai.com/v1")),
        (Provider::TextCompletionOpenAI, Some("https://api.openai.com/v1")),
        (Provider::Azure, None),
        (Provider::HostedVllm, None),
        (Provider::Ollama, Some("http://localhost:11434/v1")),
        (Provider::OllamaChat, Some("http://localhost:11434/v1")),
        (Provider::Groq, Some("https://api.groq.com/openai/v1")),
        (Provider::Mistral, Some("https://api.mistral.ai/v1")),
        (Provider::DeepSeek, Some("https://api.deepseek.com/beta")),
        (Provider::TogetherAi, Some("https://api.together.ai/v1")),
        (Provider::Perplexity, Some("https://api.perplexity.ai")),
        (Provider::OpenRouter, Some("https://openrouter.ai/api/v1")),
        (Provider::FireworksAi, Some("https://api.fireworks.ai/inference/v1")),
        (Provider::Xai, Some("https://api.x.ai/v1")),
        (Provider::Anthropic, Some("https://api.anthropic.com")),
        (Provider::Gemini, Some("https://generativelanguage.googleapis.com/v1beta")),
        (Provider::Cohere, Some("https://api.cohere.com")),
    ];
    for (provider, base) in expected {
        assert_eq!(provider.default_api_base(), base, "{provider:?}");
    }
}

#[test]
fn default_api_bases_have_no_trailing_slash() {
    for provider in Provider::ALL {
        if let Some(base) = provider.default_api_base() {
            assert!(!base.ends_with('/'), "{provider:?}: {base}");
            assert!(base.starts_with("https://") || base.starts_with("http://localhost"), "{base}");
        }
    }
}

#[test]
fn auth_styles_match_each_provider() {
    assert_eq!(Provider::OpenAI.auth(), AuthStyle::Bearer);
    assert_eq!(Provider::Azure.auth(), AuthStyle::Header("api-key"));
    assert_eq!(Provider::Anthropic.auth(), AuthStyle::Header("x-api-key"));
    assert_eq!(Provider::Gemini.auth(), AuthStyle::Header("x-goog-api-key"));
    assert_eq!(Provider::Bedrock.auth(), AuthStyle::SigV4);
    assert_eq!(Provider::VertexAi.auth(), AuthStyle::Bearer);
    assert_eq!(Provider::Ollama.auth(), AuthStyle::Bearer);
    assert_eq!(Provider::HostedVllm.auth(), AuthStyle::Bearer);
    assert_eq!(Provider::Groq.auth(), AuthStyle::Bearer);
}

#[test]
fn endpoint_paths() {
    assert_eq!(Endpoint::ChatCompletions.path(), "/chat/completions");
    assert_eq!(Endpoint::Completions.path(), "/completions");
    assert_eq!(Endpoint::Embeddings.path(), "/embeddings");
}

#[test]
fn error_messages_name_the_field() {
    assert_eq!(TranslateError::MissingField("model").to_string(), "missing required field `model`");
    assert_eq!(
        TranslateError::WrongType { field: "stream", expected: "a boolean" }.to_string(),
        "field `stream` must be a boolean"
    );
    assert_eq!(TranslateError::InvalidJson("eof".into()).to_string(), "invalid JSON body: eof");
    let unsupported = TranslateError::Unsupported { provider: "anthropic", what: "/embeddings requests".into() };
    assert_eq!(unsupported.to_string(), "provider `anthropic` is not served yet for /embeddings requests");
}

#[test]
fn passthrough_replaces_only_the_model() -> TestResult {
    let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.70}"#;
    let view = RequestView::parse(body)?;
    for provider in Provider::ALL.into_iter().filter(|p| p.translation() == Translation::Passthrough) {
        let out =
            translate_request(provider, Endpoint::ChatCompletions, &view, "llama3:8b", &RequestOptions::default())?;
        assert_eq!(
            out, br#"{"model":"llama3:8b","messages":[{"role":"user","content":"hi"}],"temperature":0.70}"#,
            "{provider:?}"
        );
    }
    Ok(())
}

#[test]
fn passthrough_streams_always_ask_for_usage() -> TestResult {
    let body = br#"{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false},"prompt":"hi"}"#;
    let view = RequestView::parse(body)?;
    for provider in Provider::ALL.into_iter().filter(|p| p.translation() == Translation::Passthrough) {
        for endpoint in [Endpoint::ChatCompletions, Endpoint::Completions] {
            let out = translate_request(provider, endpoint, &view, "up", &RequestOptions::default())?;
            let expected: &[u8] = if provider.accepts_stream_options() {
                br#"{"model":"up","stream":true,"stream_options":{"include_usage":true},"prompt":"hi"}"#
            } else {
                br#"{"model":"up","stream":true,"stream_options":{"include_usage":false},"prompt":"hi"}"#
            };
            assert_eq!(out, expected, "{provider:?} {endpoint:?}");
        }
        // Embeddings do not stream: only the model changes.
        let out = translate_request(provider, Endpoint::Embeddings, &view, "up", &RequestOptions::default())?;
        assert_eq!(out, br#"{"model":"up","stream":true,"stream_options":{"include_usage":false},"prompt":"hi"}"#);
    }
    Ok(())
}

#[test]
fn providers_that_refuse_stream_options_are_not_sent_them() -> TestResult {
    // Mistral answers 422 `extra_forbidden` to `stream_options`; Perplexity does not document it.
    for provider in [Provider::Mistral, Provider::Perplexity] {
        assert!(!provider.accepts_stream_options(), "{provider:?}");
        let view = RequestView::parse(br#"{"model":"a","stream":true,"messages":[]}"#)?;
        let out = translate_request(provider, Endpoint::ChatCompletions, &view, "b", &RequestOptions::default())?;
        assert_eq!(out, br#"{"model":"b","stream":true,"messages":[]}"#);
    }
    let asked = Provider::ALL.into_iter().filter(|p| p.accepts_stream_options()).count();
    assert_eq!(asked, 12, "every other OpenAI-compatible provider is asked");
    assert!(Provider::ALL.iter().all(|p| p.translation() == Translation::Passthrough || !p.accepts_stream_options()));
    Ok(())
}

#[test]
fn passthrough_non_streams_are_unchanged_but_the_model() -> TestResult {
    for body in [
        &br#"{"model":"gpt-4o","stream":false,"stream_options":{"include_usage":false},"messages":[]}"#[..],
        br#"{"model":"gpt-4o","stream":null,"messages":[]}"#,
        br#"{"model":"gpt-4o","stream":"yes","messages":[]}"#,
    ] {
        let view = RequestView::parse(body)?;
        let out = translate_request(Provider::OpenAI, Endpoint::ChatCompletions, &view, "gpt-4o", &Default::default())?;
        assert_eq!(out, body, "{}", String::from_utf8_lossy(body));
    }
    Ok(())
}

const META: crate::ResponseMeta<'static> = crate::ResponseMeta { id: "chatcmpl-1", created: 1, model: "group" };

#[test]
fn an_anthropic_stream_cut_after_message_start_keeps_its_prompt_count() -> TestResult {
    let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"stop_reason\":null,\"usage\":{\"input_tokens\":10,\"output_tokens\":1,\"cache_read_input_tokens\":3}}}\n\n\
        event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello, world! How are you?\"}}\n\n";
    let end = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
        event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":5}}\n\n";
    let mut stream = StreamTranslator::new(Provider::Anthropic, &META, false, 1 << 20);
    let mut out = Vec::new();
    stream.push(start.as_bytes(), &mut out)?;
    let said = Usage { prompt_tokens: 13, completion_tokens: 1, cached_tokens: Some(3), ..Usage::default() };
    assert_eq!(stream.usage(), Some(said));
    // Cut here: `message_start`'s prompt, and 26 bytes of text -> 7 tokens, not its opening `output_tokens: 1`.
    assert_eq!(stream.produced_estimate(), Usage { completion_tokens: 7, ..said });
    // `message_delta` says the answer's count: that is the bill, even below the estimate.
    stream.push(end.as_bytes(), &mut out)?;
    assert_eq!(stream.produced_estimate(), Usage { completion_tokens: 5, ..said });
    assert_eq!(stream.total_tokens(), Some(18));
    Ok(())
}

#[test]
fn a_gemini_stream_is_estimated_until_it_ends() -> TestResult {
    let chunk = |text: &str, count: u64| {
        format!("data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"{text}\"}}],\"role\":\"model\"}},\"index\":0}}],\"usageMetadata\":{{\"promptTokenCount\":8,\"candidatesTokenCount\":{count}}}}}\n\n")
    };
    let mut stream = StreamTranslator::new(Provider::Gemini, &META, false, 1 << 20);
    let mut out = Vec::new();
    stream.push(chunk("Hello, world! How are you?", 2).as_bytes(), &mut out)?;
    assert_eq!(stream.produced_estimate(), Usage { prompt_tokens: 8, completion_tokens: 7, ..Usage::default() });
    stream.push(chunk("!", 6).as_bytes(), &mut out)?;
    stream.finish(&mut out)?;
    assert_eq!(stream.produced_estimate(), Usage { prompt_tokens: 8, completion_tokens: 6, ..Usage::default() });
    Ok(())
}

#[test]
fn a_cohere_stream_without_usage_is_charged_its_text() -> TestResult {
    let input = "event: message-start\ndata: {\"id\":\"m\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}\n\n\
        event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hello, world! How are you?\"}}}}\n\n";
    let mut stream = StreamTranslator::new(Provider::Cohere, &META, false, 1 << 20);
    let mut out = Vec::new();
    stream.push(input.as_bytes(), &mut out)?;
    assert_eq!(stream.usage(), None);
    assert_eq!(stream.produced_estimate(), Usage { completion_tokens: 7, ..Usage::default() });
    Ok(())
}

#[test]
fn the_passthrough_translator_drops_the_usage_chunk_the_client_did_not_ask_for() -> TestResult {
    let input = "data: {\"model\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}],\"usage\":null}\n\n\
        data: {\"model\":\"x\",\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":1,\"total_tokens\":5}}\n\n\
        data: [DONE]\n\n";
    for client_usage in [true, false] {
        let mut stream = StreamTranslator::new(Provider::Groq, &META, client_usage, 1 << 20);
        let mut out = Vec::new();
        stream.push(input.as_bytes(), &mut out)?;
        stream.finish(&mut out)?;
        let text = String::from_utf8(out)?;
        assert_eq!(text.contains("\"choices\":[]"), client_usage, "{text}");
        assert!(text.contains("\"model\":\"group\"") && text.ends_with("data: [DONE]\n\n"), "{text}");
        let said = Usage { prompt_tokens: 4, completion_tokens: 1, ..Usage::default() };
        assert_eq!((stream.usage(), stream.produced_estimate(), stream.total_tokens()), (Some(said), said, Some(5)));
    }
    Ok(())
}

/// A stream fixture of `tests/fixtures/`.
fn stream_fixture(path: &str) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    std::fs::read(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fixture's stream up to and with its first event.
fn first_event(stream: &[u8]) -> &[u8] {
    let end = stream.windows(2).position(|w| w == b"\n\n").map_or(stream.len(), |i| i + 2);
    &stream[..end]
}

/// Runs a stream through `StreamTranslator` as the gateway does: stop at the first error, else finish.
fn run_stream(provider: Provider, limit: usize, pieces: &[&[u8]]) -> (Vec<u8>, Result<(), String>) {
    let meta = crate::ResponseMeta { id: "chatcmpl-1", created: 1, model: "m" };
    let mut translator = crate::StreamTranslator::new(provider, &meta, false, limit);
    let mut out = Vec::new();
    for piece in pieces {
        if let Err(e) = translator.push(piece, &mut out) {
            return (out, Err(e.to_string()));
        }
    }
    let end = translator.finish(&mut out).map_err(|e| e.to_string());
    (out, end)
}

/// Found by the `stream_gemini` / `stream_cohere` fuzz targets: `StreamTranslator::new` dropped
/// `max_event_bytes` for Gemini, Cohere and Bedrock (16 MiB, 1 MiB and 16 MiB whatever the gateway asked).
#[test]
fn every_translator_refuses_an_event_over_the_limit_it_was_given() {
    let oversize = [b"data: ".as_slice(), &[b'x'; 200], b"\n\n"].concat();
    for provider in [Provider::OpenAI, Provider::Anthropic, Provider::Gemini, Provider::VertexAi, Provider::Cohere] {
        let (_, end) = run_stream(provider, 64, &[&oversize]);
        assert!(end.is_err_and(|e| e.contains("exceeded 64 bytes")), "{provider:?}");
    }
    let bedrock = stream_fixture("bedrock/text/provider.stream.bin");
    assert!(run_stream(Provider::Bedrock, 64, &[&bedrock]).1.is_err_and(|e| e.contains("exceeded 64 bytes")));
    assert_eq!(run_stream(Provider::Bedrock, 1 << 20, &[&bedrock]).1, Ok(()));
}

/// Found by the `stream_anthropic` fuzz target: events decoded in the same chunk as a framing error were
/// dropped, so the client got them when the chunk ended between the two and not when it did not.
#[test]
fn events_before_a_framing_error_are_translated_wherever_chunks_end() {
    let oversize = [b"data: ".as_slice(), &[b'x'; 5000], b"\n\n"].concat();
    for (provider, fixture) in [
        (Provider::OpenAI, "anthropic/text/openai.stream.sse"),
        (Provider::Anthropic, "anthropic/text/provider.stream.sse"),
        (Provider::Gemini, "gemini/text/provider.stream.sse"),
        (Provider::Cohere, "cohere/text_stream/provider.stream.sse"),
    ] {
        let stream = stream_fixture(fixture);
        let first = first_event(&stream);
        let whole = run_stream(provider, 4096, &[&[first, &oversize].concat()]);
        let split = run_stream(provider, 4096, &[first, &oversize]);
        assert!(!split.0.is_empty() && split.1.is_err(), "{provider:?}: {split:?}");
        assert_eq!(whole, split, "{provider:?}");
    }
}
