//! Unit tests of the Bedrock translator: the mapping tables, parameter refusal and dropping, images,
//! embeddings limits, errors, the URL path, and stream edge cases the fixtures do not cover.

#![expect(clippy::unwrap_used, reason = "test code")]

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use serde_json::{json, Value};

use super::mapping::{error_kind, finish_reason, TokenUsage};
use super::{embeddings, error, error_with_type, path, request, EmbeddingFormat, Stream};
use crate::framing::FramingError;
use crate::openai::RequestView;
use crate::{Endpoint, RequestOptions, ResponseMeta, TranslateError, Usage};

const CLAUDE: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
const STRICT: RequestOptions = RequestOptions { drop_params: false };
const DROP: RequestOptions = RequestOptions { drop_params: true };
const META: ResponseMeta<'static> = ResponseMeta { id: "chatcmpl-1", created: 1, model: "g" };

fn chat(body: Value, opts: &RequestOptions) -> Result<Value, TranslateError> {
    chat_for(CLAUDE, body, opts)
}

fn chat_for(model: &str, body: Value, opts: &RequestOptions) -> Result<Value, TranslateError> {
    let bytes = serde_json::to_vec(&body).unwrap();
    let view = RequestView::parse(&bytes).unwrap();
    let out = request(Endpoint::ChatCompletions, &view, model, opts)?;
    Ok(serde_json::from_slice(&out).unwrap())
}

fn user(text: &str) -> Value {
    json!([{ "role": "user", "content": text }])
}

fn refused_param(result: Result<Value, TranslateError>) -> String {
    match result {
        Err(TranslateError::UnsupportedParam { provider: "bedrock", param }) => param,
        other => panic!("expected UnsupportedParam, got {other:?}"),
    }
}

#[test]
fn finish_reasons_follow_the_table() {
    for (bedrock, openai) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("something_new", "stop"),
    ] {
        assert_eq!(finish_reason(bedrock), openai, "{bedrock}");
    }
}

#[test]
fn usage_adds_cache_tokens_to_the_prompt_and_keeps_none_apart_from_zero() {
    let with_cache: TokenUsage = serde_json::from_value(json!({
        "inputTokens": 10, "outputTokens": 5, "totalTokens": 115, "cacheReadInputTokens": 100, "cacheWriteInputTokens": 0
    }))
    .unwrap();
    let usage = with_cache.to_usage();
    assert_eq!(
        usage,
        Usage {
            prompt_tokens: 110,
            completion_tokens: 5,
            cached_tokens: Some(100),
            cache_creation_tokens: Some(0),
            reasoning_tokens: None
        }
    );
    assert_eq!(usage.total_tokens(), 115, "the sum is Bedrock's totalTokens");
    let plain: TokenUsage = serde_json::from_value(json!({"inputTokens": 3, "outputTokens": 4})).unwrap();
    assert_eq!(plain.to_usage(), Usage { prompt_tokens: 3, completion_tokens: 4, ..Usage::default() });
}

#[test]
fn error_names_map_to_status_and_type() {
    for (name, status, kind) in [
        ("ValidationException", 400, "invalid_request_error"),
        ("validationException", 400, "invalid_request_error"),
        ("AccessDeniedException:http://internal.amazon.com/coral/com.amazon.bedrock/", 403, "authentication_error"),
        ("UnrecognizedClientException", 403, "authentication_error"),
        ("ExpiredTokenException", 403, "authentication_error"),
        ("ResourceNotFoundException", 404, "invalid_request_error"),
        ("ModelTimeoutException", 408, "api_error"),
        ("modelStreamErrorException", 424, "api_error"),
        ("ThrottlingException", 429, "rate_limit_error"),
        ("ModelNotReadyException", 429, "rate_limit_error"),
        ("ServiceQuotaExceededException", 429, "rate_limit_error"),
        ("internalServerException", 500, "api_error"),
        ("ServiceUnavailableException", 503, "api_error"),
        ("com.amazon.coral.service#ThrottlingException", 429, "rate_limit_error"),
    ] {
        assert_eq!(error_kind(name), Some((status, kind)), "{name}");
    }
    assert_eq!(error_kind("NoSuchThing"), None);
}

#[test]
fn error_bodies_become_openai_errors() {
    let (status, body) =
        error(400, br#"{"message":"The model returned the following errors: messages: field required"}"#);
    assert_eq!(status, 400);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "400");
    assert_eq!(body["error"]["param"], Value::Null);
    assert_eq!(body["error"]["message"], "The model returned the following errors: messages: field required");

    // The front door's `Message`, named by the header.
    let (status, body) = error_with_type(
        403,
        Some("UnrecognizedClientException"),
        br#"{"Message":"The security token included in the request is invalid."}"#,
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, body["error"]["type"].as_str()), (403, Some("authentication_error")));
    assert_eq!(
        body["error"]["message"],
        "UnrecognizedClientException: The security token included in the request is invalid."
    );

    // Named by `__type` in the body when the header is not at hand.
    let (_, body) = error(429, br#"{"__type":"ThrottlingException","message":"slow down"}"#);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");

    // Not JSON at all (a load balancer's page): the text is the message.
    let (status, body) = error(502, b"<html>Bad Gateway</html>");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, body["error"]["type"].as_str()), (502, Some("api_error")));
    assert_eq!(body["error"]["message"], "<html>Bad Gateway</html>");

    // Already OpenAI-shaped: passed on as it is.
    let shaped = br#"{"error":{"message":"m","type":"t","param":null,"code":"c"}}"#;
    assert_eq!(error(418, shaped), (418, shaped.to_vec()));
}

#[test]
fn unsupported_params_are_refused_by_name_or_dropped() {
    for (param, value) in [
        ("seed", json!(7)),
        ("frequency_penalty", json!(0.5)),
        ("presence_penalty", json!(0.5)),
        ("logit_bias", json!({"50256": -100})),
        ("logprobs", json!(true)),
        ("top_logprobs", json!(2)),
        ("parallel_tool_calls", json!(false)),
        ("n", json!(2)),
    ] {
        let mut body = json!({"model": "g", "messages": user("hi")});
        body[param] = value;
        assert_eq!(refused_param(chat(body.clone(), &STRICT)), param);
        let dropped = chat(body, &DROP).unwrap();
        assert_eq!(dropped, json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}), "{param}");
    }
}

#[test]
fn harmless_params_and_nulls_are_ignored() {
    let body = json!({
        "model": "g", "messages": user("hi"), "user": "u", "n": 1, "stream": true,
        "stream_options": {"include_usage": true}, "seed": null, "metadata": {"trace": "x"}, "temperature": null
    });
    assert_eq!(chat(body, &STRICT).unwrap(), json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}));
}

#[test]
fn tool_choice_values_map_like_litellm() {
    let tools = json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    for (choice, expected) in [
        (json!("auto"), json!({"auto": {}})),
        (json!("required"), json!({"any": {}})),
        (json!({"type": "function", "function": {"name": "f"}}), json!({"tool": {"name": "f"}})),
    ] {
        let body = json!({"model": "g", "messages": user("hi"), "tools": tools, "tool_choice": choice});
        assert_eq!(chat(body, &STRICT).unwrap()["toolConfig"]["toolChoice"], expected);
    }
    let none = json!({"model": "g", "messages": user("hi"), "tools": tools, "tool_choice": "none"});
    assert_eq!(refused_param(chat(none.clone(), &STRICT)), "tool_choice=none");
    let dropped = chat(none, &DROP).unwrap();
    assert_eq!(dropped["toolConfig"].get("toolChoice"), None);
    // Without tools there is no toolConfig at all (Converse refuses a choice without tools).
    let alone = json!({"model": "g", "messages": user("hi"), "tool_choice": "auto"});
    assert_eq!(chat(alone, &STRICT).unwrap().get("toolConfig"), None);
}

#[test]
fn http_image_urls_are_refused_unless_dropped() {
    let body = json!({"model": "g", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    ]}]});
    let param = refused_param(chat(body.clone(), &STRICT));
    assert!(param.starts_with("image_url"), "{param}");
    let dropped = chat(body, &DROP).unwrap();
    assert_eq!(dropped["messages"][0]["content"], json!([{"text": "what is this?"}]));
}

#[test]
fn image_formats_and_shapes() {
    let image = |url: &str| json!({"model": "g", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": url}]}]});
    // A bare-string `image_url` (LiteLLM takes it) and an upper-case MIME subtype.
    let out = chat(image("data:image/WEBP;base64,UklGRg=="), &STRICT).unwrap();
    assert_eq!(out["messages"][0]["content"][0], json!({"image": {"format": "webp", "source": {"bytes": "UklGRg=="}}}));
    assert!(chat(image("data:image/tiff;base64,AAAA"), &STRICT).is_err());
    assert!(chat(image("data:image/png,notbase64"), &STRICT).is_err());
}

#[test]
fn other_content_parts_are_refused_unless_dropped() {
    let body = json!({"model": "g", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "listen"}, {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    ]}]});
    assert!(refused_param(chat(body.clone(), &STRICT)).contains("parts other than text"));
    assert_eq!(chat(body, &DROP).unwrap()["messages"][0]["content"], json!([{"text": "listen"}]));
}

#[test]
fn tool_call_arguments_must_be_a_json_object() {
    let with_args = |arguments: &str| {
        json!({"model": "g", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": "t1", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
        ]})
    };
    let out = chat(with_args(""), &STRICT).unwrap();
    assert_eq!(out["messages"][1]["content"][0]["toolUse"]["input"], json!({}));
    assert_eq!(
        out["messages"][2]["content"][0]["toolResult"]["content"],
        json!([{"text": "a"}, {"text": "b"}]),
        "every text part of a tool result"
    );
    assert!(matches!(chat(with_args("[1]"), &STRICT), Err(TranslateError::WrongType { field: "messages", .. })));
    assert!(matches!(chat(with_args("{oops"), &STRICT), Err(TranslateError::WrongType { field: "messages", .. })));
}

#[test]
fn unknown_roles_and_missing_messages_are_client_errors() {
    let bad_role = json!({"model": "g", "messages": [{"role": "function", "name": "f", "content": "x"}]});
    assert!(matches!(chat(bad_role, &STRICT), Err(TranslateError::WrongType { field: "messages", .. })));
    assert!(matches!(chat(json!({"model": "g"}), &STRICT), Err(TranslateError::MissingField("messages"))));
    let null = json!({"model": "g", "messages": null});
    assert!(matches!(chat(null, &STRICT), Err(TranslateError::MissingField("messages"))));
    let no_id = json!({"model": "g", "messages": [{"role": "tool", "content": "x"}]});
    assert!(matches!(chat(no_id, &STRICT), Err(TranslateError::WrongType { field: "messages", .. })));
}

#[test]
fn reasoning_effort_becomes_a_thinking_budget_on_anthropic_models_only() {
    let body = json!({"model": "g", "messages": user("think"), "reasoning_effort": "medium"});
    let out = chat(body.clone(), &STRICT).unwrap();
    assert_eq!(out["additionalModelRequestFields"]["thinking"], json!({"type": "enabled", "budget_tokens": 2048}));
    assert_eq!(out["inferenceConfig"]["maxTokens"], json!(2048 + 4096), "max_tokens above the budget");
    let with_max = json!({"model": "g", "messages": user("think"), "reasoning_effort": "low", "max_tokens": 9000});
    assert_eq!(chat(with_max, &STRICT).unwrap()["inferenceConfig"]["maxTokens"], json!(9000));
    assert_eq!(refused_param(chat_for("meta.llama3-1-8b-instruct-v1:0", body, &STRICT)), "reasoning_effort");
}

#[test]
fn top_k_goes_where_each_family_takes_it() {
    let body = json!({"model": "g", "messages": user("x"), "top_k": 40});
    assert_eq!(chat(body.clone(), &STRICT).unwrap()["additionalModelRequestFields"], json!({"top_k": 40}));
    let nova = chat_for("amazon.nova-pro-v1:0", body.clone(), &STRICT).unwrap();
    assert_eq!(nova["additionalModelRequestFields"], json!({"inferenceConfig": {"topK": 40}}));
    let llama = chat_for("meta.llama3-1-8b-instruct-v1:0", body, &STRICT).unwrap();
    assert_eq!(llama.get("additionalModelRequestFields"), None);
}

#[test]
fn bedrock_native_members_pass_through() {
    let body = json!({
        "model": "g", "messages": user("x"), "service_tier": "auto",
        "guardrailConfig": {"guardrailIdentifier": "gr-1", "guardrailVersion": "1"},
        "performanceConfig": {"latency": "optimized"}, "requestMetadata": {"team": "a"},
        "additionalModelRequestFields": {"anthropic_beta": ["x"]}
    });
    let out = chat(body, &STRICT).unwrap();
    assert_eq!(out["serviceTier"], json!({"type": "default"}));
    assert_eq!(out["guardrailConfig"]["guardrailIdentifier"], "gr-1");
    assert_eq!(out["performanceConfig"], json!({"latency": "optimized"}));
    assert_eq!(out["requestMetadata"], json!({"team": "a"}));
    assert_eq!(out["additionalModelRequestFields"], json!({"anthropic_beta": ["x"]}));
}

#[test]
fn json_object_mode_uses_an_open_schema_and_is_not_forced_on_other_models() {
    let body = json!({"model": "g", "messages": user("x"), "response_format": {"type": "json_object"}});
    let out = chat_for("meta.llama3-1-70b-instruct-v1:0", body.clone(), &STRICT).unwrap();
    assert_eq!(
        out["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "json_tool_call", "inputSchema": {"json": {"type": "object", "properties": {}}}}}]})
    );
    let text = json!({"model": "g", "messages": user("x"), "response_format": {"type": "text"}});
    assert_eq!(chat(text, &STRICT).unwrap().get("toolConfig"), None);
}

#[test]
fn completions_are_not_served() {
    let bytes = br#"{"model":"g","prompt":"x"}"#;
    let view = RequestView::parse(bytes).unwrap();
    assert!(matches!(
        request(Endpoint::Completions, &view, CLAUDE, &STRICT),
        Err(TranslateError::Unsupported { provider: "bedrock", .. })
    ));
}

#[test]
fn paths_percent_encode_the_model_id() {
    assert_eq!(
        path(Endpoint::ChatCompletions, "anthropic.claude-3-haiku-20240307-v1:0", false).unwrap(),
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
    assert_eq!(
        path(Endpoint::ChatCompletions, "us.amazon.nova-pro-v1:0", true).unwrap(),
        "/model/us.amazon.nova-pro-v1%3A0/converse-stream"
    );
    assert_eq!(
        path(Endpoint::Embeddings, "arn:aws:bedrock:us-east-1:123:application-inference-profile/abc", false).unwrap(),
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Aapplication-inference-profile%2Fabc/invoke"
    );
    assert!(path(Endpoint::Completions, "m", false).is_err());
}

fn embed(model: &str, body: Value, opts: &RequestOptions) -> Result<Value, TranslateError> {
    let bytes = serde_json::to_vec(&body).unwrap();
    let view = RequestView::parse(&bytes).unwrap();
    let out = request(Endpoint::Embeddings, &view, model, opts)?;
    Ok(serde_json::from_slice(&out).unwrap())
}

#[test]
fn titan_takes_one_input_per_call_and_says_so() {
    let batch = json!({"model": "e", "input": ["a", "b"]});
    match embed("amazon.titan-embed-text-v2:0", batch, &DROP) {
        Err(TranslateError::WrongType { field: "input", expected }) => {
            assert!(expected.contains("one input per call"), "{expected}")
        }
        other => panic!("expected a 400 naming the limitation, got {other:?}"),
    }
    // A list of one is one input.
    let one = embed("amazon.titan-embed-text-v2:0", json!({"model": "e", "input": ["a"]}), &STRICT).unwrap();
    assert_eq!(one, json!({"inputText": "a"}));
}

#[test]
fn embedding_parameters_per_family() {
    let with_dims = json!({"model": "e", "input": "a", "dimensions": 512});
    assert_eq!(refused_param(embed("amazon.titan-embed-text-v1", with_dims.clone(), &STRICT)), "dimensions");
    assert_eq!(embed("amazon.titan-embed-text-v1", with_dims.clone(), &DROP).unwrap(), json!({"inputText": "a"}));
    assert_eq!(
        embed("amazon.titan-embed-image-v1", with_dims.clone(), &STRICT).unwrap(),
        json!({"inputText": "a", "embeddingConfig": {"outputEmbeddingLength": 512}})
    );
    let cohere = json!({"model": "e", "input": ["a"], "input_type": "search_query", "dimensions": 256});
    assert_eq!(
        embed("cohere.embed-v4:0", cohere, &STRICT).unwrap(),
        json!({"texts": ["a"], "input_type": "search_query", "output_dimension": 256})
    );
    let tokens = json!({"model": "e", "input": [1, 2, 3]});
    assert!(matches!(
        embed("cohere.embed-english-v3", tokens, &STRICT),
        Err(TranslateError::WrongType { field: "input", .. })
    ));
    let format = json!({"model": "e", "input": "a", "encoding_format": "int8"});
    assert!(matches!(
        embed("cohere.embed-english-v3", format, &STRICT),
        Err(TranslateError::WrongType { field: "encoding_format", .. })
    ));
    assert!(matches!(embed("amazon.nova-embed", with_dims, &STRICT), Err(TranslateError::Unsupported { .. })));
}

#[test]
fn embeddings_answers_in_every_shape_and_format() {
    let titan = br#"{"embedding":[0.5,-0.25],"inputTextTokenCount":3}"#;
    let (body, usage) = embeddings::response(titan, &META, EmbeddingFormat::Base64).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["data"][0]["embedding"], "AAAAPwAAgL4=");
    assert_eq!(usage.prompt_tokens, 3);
    let by_type = br#"{"embeddings":{"float":[[1.0,0.0]]},"response_type":"embeddings_by_type"}"#;
    let (body, _) = embeddings::response(by_type, &META, EmbeddingFormat::Float).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["data"][0], json!({"object": "embedding", "index": 0, "embedding": [1.0, 0.0]}));
    assert!(matches!(embeddings::response(b"{}", &META, EmbeddingFormat::Float), Err(TranslateError::ProviderBody(_))));
    let view = RequestView::parse(br#"{"encoding_format":"base64"}"#).unwrap();
    assert_eq!(EmbeddingFormat::of(&view).unwrap(), EmbeddingFormat::Base64);
}

#[test]
fn a_response_without_a_message_or_usage_still_translates() {
    let body = br#"{"output":{},"stopReason":"guardrail_intervened"}"#;
    let (out, usage) = super::response(Endpoint::ChatCompletions, body, &META).unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["choices"][0]["message"], json!({"role": "assistant", "refusal": null, "content": null}));
    assert_eq!(out["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(usage, Usage::default());
    let reasoning = br#"{"output":{"message":{"role":"assistant","content":[
        {"reasoningContent":{"reasoningText":{"text":"hmm","signature":"sig"}}},{"text":"42"}]}},
        "stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":2,"totalTokens":3}}"#;
    let (out, _) = super::response(Endpoint::ChatCompletions, reasoning, &META).unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        out["choices"][0]["message"],
        json!({"role": "assistant", "refusal": null, "content": "42", "reasoning_content": "hmm"})
    );
    assert!(matches!(
        super::response(Endpoint::ChatCompletions, b"not json", &META),
        Err(TranslateError::ProviderBody(_))
    ));
}

/// One eventstream frame with string headers.
fn frame(headers: &[(&str, &str)], payload: &str) -> Vec<u8> {
    let mut message = Message::new(payload.as_bytes().to_vec());
    for (name, value) in headers {
        message = message.add_header(Header::new(name.to_string(), HeaderValue::String(value.to_string().into())));
    }
    let mut out = Vec::new();
    write_message_to(&message, &mut out).unwrap();
    out
}

fn event(kind: &str, payload: Value) -> Vec<u8> {
    frame(
        &[(":event-type", kind), (":content-type", "application/json"), (":message-type", "event")],
        &payload.to_string(),
    )
}

#[test]
fn a_tool_delta_for_a_block_that_never_started_is_a_provider_error() {
    let mut stream = Stream::new(&META, false);
    let delta = event("contentBlockDelta", json!({"contentBlockIndex": 3, "delta": {"toolUse": {"input": "{}"}}}));
    assert!(matches!(stream.push(&delta, &mut Vec::new()), Err(TranslateError::ProviderBody(_))));
}

#[test]
fn in_stream_errors_carry_a_fitting_status() {
    for (kind, status) in [
        ("validationException", 400),
        ("modelStreamErrorException", 424),
        ("serviceUnavailableException", 503),
        ("weird", 500),
    ] {
        let exception = frame(
            &[(":exception-type", kind), (":content-type", "application/json"), (":message-type", "exception")],
            r#"{"message":"boom"}"#,
        );
        let mut stream = Stream::new(&META, false);
        match stream.push(&exception, &mut Vec::new()) {
            Err(TranslateError::ProviderStreamError { status: got, message }) => {
                assert_eq!(got, status, "{kind}");
                assert_eq!(message, format!("{kind}: boom"));
            }
            other => panic!("{kind}: {other:?}"),
        }
    }
    let error =
        frame(&[(":message-type", "error"), (":error-code", "ThrottlingException"), (":error-message", "slow")], "");
    let got = Stream::new(&META, false).push(&error, &mut Vec::new());
    assert!(matches!(got, Err(TranslateError::ProviderStreamError { status: 429, .. })), "{got:?}");
}

#[test]
fn corrupt_or_oversized_frames_fail_the_stream() {
    let mut bad = event("messageStart", json!({"role": "assistant"}));
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(matches!(Stream::new(&META, false).push(&bad, &mut Vec::new()), Err(TranslateError::ProviderBody(_))));
    let total = (crate::framing::eventstream::MAX_FRAME_BYTES as u32) + 1;
    let mut prelude = total.to_be_bytes().to_vec();
    prelude.extend_from_slice(&0u32.to_be_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&prelude);
    prelude.extend_from_slice(&hasher.finalize().to_be_bytes());
    let got = Stream::new(&META, false).push(&prelude, &mut Vec::new());
    assert!(matches!(got, Err(TranslateError::Framing(FramingError::EventTooLarge(_)))), "{got:?}");
    // Cut mid-frame: `finish` says so instead of pretending the answer was whole.
    let whole = event("messageStart", json!({"role": "assistant"}));
    let mut stream = Stream::new(&META, false);
    stream.push(&whole[..whole.len() - 3], &mut Vec::new()).unwrap();
    assert!(matches!(stream.finish(&mut Vec::new()), Err(TranslateError::ProviderBody(_))));
}

#[test]
fn done_is_written_once_and_reasoning_is_streamed() {
    let mut stream = Stream::new(&META, true);
    let mut out = Vec::new();
    let mut input = event("messageStart", json!({"role": "assistant"}));
    input.extend(event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "let me think"}}}),
    ));
    input.extend(event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}),
    ));
    input.extend(event("somethingNew", json!({"x": 1})));
    stream.push(&input, &mut out).unwrap();
    stream.finish(&mut out).unwrap();
    stream.finish(&mut out).unwrap();
    stream.push(&input, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.matches("[DONE]").count(), 1);
    assert_eq!(text.matches("\"reasoning_content\":\"let me think\"").count(), 1);
    // Usage was never said: no usage chunk is made up.
    assert!(!text.contains("\"choices\":[]"));
    assert_eq!(stream.usage(), None);
}

/// Found by fuzzing (`stream_cohere`, the same sum here): counts near `u64::MAX` saturate instead of wrapping.
#[test]
fn huge_usage_counts_saturate() {
    let usage: TokenUsage = serde_json::from_value(json!({
        "inputTokens": u64::MAX, "outputTokens": 4, "cacheReadInputTokens": 2, "cacheWriteInputTokens": 1
    }))
    .unwrap();
    let usage = usage.to_usage();
    assert_eq!((usage.prompt_tokens, usage.total_tokens()), (u64::MAX, u64::MAX));
}
