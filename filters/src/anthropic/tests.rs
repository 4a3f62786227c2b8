//! Unit tests of the Anthropic translator: the mapping tables, parameter refusal and dropping, and the edges
//! the golden fixtures do not walk.

use serde_json::{json, Value};

use super::response::compact;
use super::*;
use crate::openai::RequestView;
use crate::{Endpoint, RequestOptions, ResponseMeta, TranslateError, Usage};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const MODEL: &str = "claude-sonnet-4-5-20250929";
const META: ResponseMeta<'static> = ResponseMeta { id: "chatcmpl-1", created: 1_700_000_000, model: "claude" };
const DROP: RequestOptions = RequestOptions { drop_params: true };

fn translate_with(body: Value, model: &str, opts: &RequestOptions) -> Result<Value, TranslateError> {
    let bytes = serde_json::to_vec(&body).map_err(|e| TranslateError::InvalidJson(e.to_string()))?;
    let view = RequestView::parse(&bytes)?;
    let out = request(Endpoint::ChatCompletions, &view, model, opts)?;
    serde_json::from_slice(&out).map_err(|e| TranslateError::ProviderBody(e.to_string()))
}

fn translate(body: Value) -> Result<Value, TranslateError> {
    translate_with(body, MODEL, &RequestOptions::default())
}

fn chat(extra: Value) -> Value {
    let mut body = json!({"model": "claude", "messages": [{"role": "user", "content": "Hi"}]});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

fn respond(body: Value) -> Result<(Value, Usage), TranslateError> {
    let bytes = serde_json::to_vec(&body).map_err(|e| TranslateError::InvalidJson(e.to_string()))?;
    let (out, usage) = response(Endpoint::ChatCompletions, &bytes, &META)?;
    Ok((serde_json::from_slice(&out).map_err(|e| TranslateError::ProviderBody(e.to_string()))?, usage))
}

fn stream_all(events: &str, include_usage: bool) -> Result<String, TranslateError> {
    let mut stream = Stream::new(&META, include_usage);
    let mut out = Vec::new();
    stream.push(events.as_bytes(), &mut out)?;
    stream.finish(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

// ------------------------------------------------------------------------------------------- tables

#[test]
fn finish_reason_table() {
    let rows = [
        (Some("end_turn"), "stop"),
        (Some("stop_sequence"), "stop"),
        (Some("max_tokens"), "length"),
        (Some("model_context_window_exceeded"), "length"),
        (Some("compaction"), "length"),
        (Some("tool_use"), "tool_calls"),
        (Some("refusal"), "content_filter"),
        (Some("pause_turn"), "stop"),
        (Some("something_new"), "stop"),
        (None, "stop"),
    ];
    for (stop_reason, expected) in rows {
        assert_eq!(finish_reason(stop_reason), expected, "{stop_reason:?}");
    }
}

#[test]
fn usage_table_adds_cache_reads_and_writes_to_the_prompt() {
    let wire = WireUsage {
        input_tokens: Some(12),
        output_tokens: Some(30),
        cache_read_input_tokens: Some(1800),
        cache_creation_input_tokens: Some(200),
    };
    assert_eq!(
        wire.to_usage(),
        Usage {
            prompt_tokens: 2012,
            completion_tokens: 30,
            cached_tokens: Some(1800),
            cache_creation_tokens: Some(200),
            reasoning_tokens: None,
        }
    );
}

#[test]
fn usage_unsaid_is_none_and_said_zero_is_some_zero() {
    let unsaid = WireUsage { input_tokens: Some(5), output_tokens: Some(1), ..WireUsage::default() }.to_usage();
    assert_eq!((unsaid.cached_tokens, unsaid.cache_creation_tokens), (None, None));
    assert!(unsaid.to_openai().get("prompt_tokens_details").is_none());
    let zero = WireUsage { cache_read_input_tokens: Some(0), ..WireUsage::default() }.to_usage();
    assert_eq!(zero.cached_tokens, Some(0));
}

#[test]
fn later_usage_overrides_only_what_it_says() {
    let start = WireUsage {
        input_tokens: Some(10),
        output_tokens: Some(1),
        cache_read_input_tokens: Some(3),
        cache_creation_input_tokens: Some(0),
    };
    let delta = WireUsage { output_tokens: Some(42), ..WireUsage::default() };
    assert_eq!(start.merge(delta), WireUsage { output_tokens: Some(42), ..start });
}

#[test]
fn error_status_table() {
    for (status, expected) in
        [(400, 400), (401, 401), (403, 403), (404, 404), (413, 400), (429, 429), (500, 500), (529, 500)]
    {
        assert_eq!(client_status(status), expected, "{status}");
    }
    let types = [
        ("invalid_request_error", 400),
        ("authentication_error", 401),
        ("billing_error", 402),
        ("permission_error", 403),
        ("not_found_error", 404),
        ("request_too_large", 400),
        ("rate_limit_error", 429),
        ("api_error", 500),
        ("timeout_error", 504),
        ("overloaded_error", 500),
        ("brand_new_error", 500),
    ];
    for (kind, expected) in types {
        assert_eq!(status_of_type(kind), expected, "{kind}");
    }
    let openai = [(429, "rate_limit_error"), (401, "authentication_error"), (403, "authentication_error")];
    for (status, expected) in openai {
        assert_eq!(openai_type(status), expected);
    }
    assert_eq!(openai_type(400), "invalid_request_error");
    assert_eq!(openai_type(404), "invalid_request_error");
    assert_eq!(openai_type(500), "api_error");
}

#[test]
fn errors_keep_anthropics_message() -> TestResult {
    let body = br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
    let (status, out) = error(401, body);
    assert_eq!(status, 401);
    let value: Value = serde_json::from_slice(&out)?;
    assert_eq!(
        value,
        json!({"error": {"message": "invalid x-api-key", "type": "authentication_error", "param": null, "code": "401"}})
    );
    Ok(())
}

#[test]
fn errors_that_are_not_anthropics_shape_are_wrapped() -> TestResult {
    let (status, out) = error(502, b"<html>bad gateway</html>");
    assert_eq!(status, 502);
    let value: Value = serde_json::from_slice(&out)?;
    assert_eq!(value["error"]["type"], "api_error");
    assert_eq!(value["error"]["code"], "502");
    let (status, _) = error(529, b"not json");
    assert_eq!(status, 500);
    Ok(())
}

#[test]
fn an_error_body_with_a_success_status_is_judged_by_its_type() -> TestResult {
    let (status, out) = error(200, br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#);
    assert_eq!(status, 429);
    let value: Value = serde_json::from_slice(&out)?;
    assert_eq!(value["error"]["type"], "rate_limit_error");
    Ok(())
}

#[test]
fn default_max_tokens_per_family() {
    let rows = [
        ("claude-3-haiku-20240307", 4096),
        ("claude-3-opus-20240229", 4096),
        ("claude-3-5-sonnet-20241022", 8192),
        ("claude-3-5-haiku-20241022", 8192),
        ("claude-3-7-sonnet-20250219", 64_000),
        ("claude-sonnet-4-20250514", 64_000),
        ("claude-opus-4-20250514", 32_000),
        ("claude-opus-4-1-20250805", 32_000),
        ("claude-opus-4-5-20251101", 64_000),
        ("claude-opus-4-6", 128_000),
        ("claude-haiku-4-5-20251001", 64_000),
        ("claude-sonnet-4-5-20250929", 64_000),
        ("some-future-model", DEFAULT_MAX_TOKENS),
    ];
    for (model, expected) in rows {
        assert_eq!(default_max_tokens(model), expected, "{model}");
    }
}

#[test]
fn reasoning_effort_budgets() -> TestResult {
    assert_eq!(thinking_budget("none")?, None);
    assert_eq!(thinking_budget("minimal")?, Some(1024));
    assert_eq!(thinking_budget("low")?, Some(1024));
    assert_eq!(thinking_budget("medium")?, Some(2048));
    assert_eq!(thinking_budget("high")?, Some(4096));
    assert!(matches!(thinking_budget("ultra"), Err(TranslateError::WrongType { field: "reasoning_effort", .. })));
    Ok(())
}

#[test]
fn parameter_table() {
    for key in ["messages", "max_tokens", "stop", "tools", "tool_choice", "response_format", "reasoning_effort"] {
        assert_eq!(param(key), Param::Mapped, "{key}");
    }
    for key in ["model", "stream_options", "max_retries", "fallbacks", "mock_response"] {
        assert_eq!(param(key), Param::Ignored, "{key}");
    }
    for key in ["n", "frequency_penalty", "presence_penalty", "logit_bias", "seed", "logprobs", "functions"] {
        assert_eq!(param(key), Param::Unsupported, "{key}");
    }
    for key in ["top_k", "cache_control", "container", "anything_else"] {
        assert_eq!(param(key), Param::Passthrough, "{key}");
    }
}

#[test]
fn user_ids_that_are_emails_or_phone_numbers_are_not_sent() {
    assert!(valid_user_id("user-1234"));
    assert!(valid_user_id("9f1c2a"));
    assert!(!valid_user_id("ada@example.com"));
    assert!(!valid_user_id("+1 (555) 123-4567"));
    assert!(!valid_user_id("5551234567"));
    assert!(valid_user_id("ada@localhost"));
}

// ------------------------------------------------------------------------------------------- params

#[test]
fn unsupported_openai_params_are_refused_naming_them() {
    for (key, value) in [
        ("frequency_penalty", json!(0.5)),
        ("presence_penalty", json!(0.1)),
        ("logit_bias", json!({"50256": -100})),
        ("seed", json!(7)),
        ("n", json!(2)),
        ("logprobs", json!(true)),
        ("functions", json!([])),
    ] {
        let err = translate(chat(json!({ key: value })));
        assert!(
            matches!(&err, Err(TranslateError::UnsupportedParam { provider: "anthropic", param }) if param == key),
            "{key}: {err:?}"
        );
    }
}

#[test]
fn unsupported_openai_params_are_dropped_with_drop_params() -> TestResult {
    let body = chat(json!({"frequency_penalty": 0.5, "seed": 7, "n": 3, "logit_bias": {"1": 2}}));
    let out = translate_with(body, MODEL, &DROP)?;
    for key in ["frequency_penalty", "seed", "n", "logit_bias"] {
        assert!(out.get(key).is_none(), "{key} was sent");
    }
    Ok(())
}

#[test]
fn harmless_values_pass_without_drop_params() -> TestResult {
    let out =
        translate(chat(json!({"n": 1, "logprobs": false, "stream_options": {"include_usage": true}, "seed": null})))?;
    for key in ["n", "logprobs", "stream_options", "seed"] {
        assert!(out.get(key).is_none(), "{key} was sent");
    }
    Ok(())
}

#[test]
fn provider_specific_members_pass_through() -> TestResult {
    let out = translate(chat(json!({"top_k": 5, "cache_control": {"type": "ephemeral"}, "service_tier": null})))?;
    assert_eq!(out["top_k"], 5);
    assert_eq!(out["cache_control"], json!({"type": "ephemeral"}));
    assert!(out.get("service_tier").is_none());
    Ok(())
}

#[test]
fn thinking_on_a_model_that_cannot_think_is_refused_or_dropped() -> TestResult {
    let body = chat(json!({"reasoning_effort": "high"}));
    let err = translate_with(body.clone(), "claude-3-5-haiku-20241022", &RequestOptions::default());
    assert!(
        matches!(&err, Err(TranslateError::UnsupportedParam { param, .. }) if param == "reasoning_effort"),
        "{err:?}"
    );
    let out = translate_with(body, "claude-3-5-haiku-20241022", &DROP)?;
    assert!(out.get("thinking").is_none());
    assert_eq!(out["max_tokens"], 8192);
    Ok(())
}

#[test]
fn explicit_thinking_passes_as_given_and_sizes_max_tokens() -> TestResult {
    let out =
        translate(chat(json!({"thinking": {"type": "enabled", "budget_tokens": 10000}, "reasoning_effort": "low"})))?;
    assert_eq!(out["thinking"], json!({"type": "enabled", "budget_tokens": 10000}));
    assert_eq!(out["max_tokens"], 10000 + THINKING_HEADROOM);
    let out = translate(chat(json!({"reasoning_effort": "high", "max_tokens": 9000})))?;
    assert_eq!(out["thinking"], json!({"type": "enabled", "budget_tokens": 4096}));
    assert_eq!(out["max_tokens"], 9000);
    let out = translate(chat(json!({"reasoning_effort": "none"})))?;
    assert!(out.get("thinking").is_none());
    Ok(())
}

#[test]
fn max_tokens_must_be_a_positive_number() -> TestResult {
    let out = translate(chat(json!({"max_tokens": 99.6})))?;
    assert_eq!(out["max_tokens"], 100);
    let err = translate(chat(json!({"max_tokens": "many"})));
    assert!(matches!(err, Err(TranslateError::WrongType { field: "max_tokens", .. })), "{err:?}");
    let err = translate(chat(json!({"max_completion_tokens": -1})));
    assert!(matches!(err, Err(TranslateError::WrongType { field: "max_completion_tokens", .. })), "{err:?}");
    Ok(())
}

#[test]
fn tool_choice_mapping() -> TestResult {
    let tools =
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]);
    let rows = [
        (json!("auto"), json!({"type": "auto"})),
        (json!("required"), json!({"type": "any"})),
        (json!("none"), json!({"type": "none"})),
        (json!({"type": "function", "function": {"name": "f"}}), json!({"type": "tool", "name": "f"})),
        (json!({"type": "required"}), json!({"type": "any"})),
    ];
    for (choice, expected) in rows {
        let out = translate(chat(json!({"tools": tools, "tool_choice": choice})))?;
        assert_eq!(out["tool_choice"], expected);
    }
    let out = translate(chat(json!({"tools": tools, "parallel_tool_calls": true})))?;
    assert_eq!(out["tool_choice"], json!({"type": "auto", "disable_parallel_tool_use": false}));
    let out = translate(chat(json!({"tools": tools, "tool_choice": "none", "parallel_tool_calls": false})))?;
    assert_eq!(out["tool_choice"], json!({"type": "none"}));
    let err = translate(chat(json!({"tools": tools, "tool_choice": "sometimes"})));
    assert!(matches!(err, Err(TranslateError::WrongType { field: "tool_choice", .. })), "{err:?}");
    Ok(())
}

#[test]
fn tool_schemas_are_made_objects() -> TestResult {
    let tools = json!([
        {"type": "function", "function": {"name": "a", "parameters": {"properties": {"x": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "b", "description": null}},
        {"name": "c", "input_schema": {"type": "object"}},
        {"type": "bash_20250124", "name": "bash"},
    ]);
    let out = translate(chat(json!({ "tools": tools })))?;
    assert_eq!(
        out["tools"],
        json!([
            {"name": "a", "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}}},
            {"name": "b", "input_schema": {"type": "object", "properties": {}}},
            {"name": "c", "input_schema": {"type": "object"}},
            {"type": "bash_20250124", "name": "bash"},
        ])
    );
    let err = translate(chat(json!({"tools": [{"type": "retrieval"}]})));
    assert!(matches!(&err, Err(TranslateError::UnsupportedParam { param, .. }) if param == "tools[].type=retrieval"));
    let out = translate_with(chat(json!({"tools": [{"type": "retrieval"}]})), MODEL, &DROP)?;
    assert!(out.get("tools").is_none());
    Ok(())
}

#[test]
fn a_conversation_with_tool_calls_but_no_tools_gets_the_dummy_tool() -> TestResult {
    let out = translate(json!({"model": "m", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "done"},
    ]}))?;
    assert_eq!(
        out["tools"],
        json!([{"name": "dummy_tool", "description": "This is a dummy tool call", "input_schema": {"type": "object", "properties": {}}}])
    );
    Ok(())
}

#[test]
fn legacy_function_calls_pair_by_position() -> TestResult {
    let out = translate(json!({"model": "m", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": null, "function_call": {"name": "f", "arguments": "{\"a\":1}"}},
        {"role": "function", "name": "f", "content": "ok"},
    ]}))?;
    assert_eq!(
        out["messages"][1]["content"][0],
        json!({"type": "tool_use", "id": "toolu_function_call_1", "name": "f", "input": {"a": 1}})
    );
    assert_eq!(
        out["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "toolu_function_call_1", "content": "ok"})
    );
    Ok(())
}

#[test]
fn stop_sequences_and_whitespace() -> TestResult {
    let out = translate(chat(json!({"stop": ["END", " "]})))?;
    assert_eq!(out["stop_sequences"], json!(["END", " "]));
    let out = translate_with(chat(json!({"stop": ["END", " \n"]})), MODEL, &DROP)?;
    assert_eq!(out["stop_sequences"], json!(["END"]));
    let out = translate_with(chat(json!({"stop": "\t"})), MODEL, &DROP)?;
    assert!(out.get("stop_sequences").is_none());
    Ok(())
}

#[test]
fn metadata_user_id_wins_over_user_and_emails_are_not_sent() -> TestResult {
    let out = translate(chat(json!({"user": "u-1", "metadata": {"user_id": "u-2", "tags": ["x"]}})))?;
    assert_eq!(out["metadata"], json!({"user_id": "u-2"}));
    let out = translate(chat(json!({"user": "ada@example.com"})))?;
    assert!(out.get("metadata").is_none());
    Ok(())
}

#[test]
fn response_format_variants() -> TestResult {
    let out = translate(chat(json!({"response_format": {"type": "text"}})))?;
    assert!(out.get("tools").is_none() && out.get("tool_choice").is_none());
    let out = translate(chat(json!({"response_format": {"type": "json_object"}})))?;
    assert_eq!(
        out["tools"],
        json!([{"name": "json_tool_call", "input_schema": {"type": "object", "additionalProperties": true, "properties": {}}}])
    );
    assert_eq!(out["tool_choice"], json!({"type": "tool", "name": "json_tool_call"}));
    // Anthropic refuses a forced tool while thinking.
    let out = translate(chat(json!({"response_format": {"type": "json_object"}, "reasoning_effort": "low"})))?;
    assert!(out.get("tool_choice").is_none());
    let err = translate(chat(json!({"response_format": {"type": "yaml"}})));
    assert!(matches!(err, Err(TranslateError::WrongType { field: "response_format", .. })), "{err:?}");
    Ok(())
}

#[test]
fn web_search_options_become_the_hosted_tool() -> TestResult {
    let options = json!({"search_context_size": "medium", "user_location": {"type": "approximate", "approximate": {"city": "Paris", "country": "FR"}}});
    let out = translate(chat(json!({ "web_search_options": options })))?;
    assert_eq!(
        out["tools"],
        json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 5,
                "user_location": {"type": "approximate", "city": "Paris", "country": "FR"}}])
    );
    Ok(())
}

#[test]
fn message_shape_errors_name_messages() {
    let err = translate(json!({"model": "m"}));
    assert!(matches!(err, Err(TranslateError::MissingField("messages"))), "{err:?}");
    let err = translate(json!({"model": "m", "messages": [{"role": "system", "content": "only"}]}));
    assert!(matches!(err, Err(TranslateError::WrongType { field: "messages", .. })), "{err:?}");
    let err = translate(json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}));
    assert!(matches!(err, Err(TranslateError::WrongType { field: "messages", .. })), "{err:?}");
    let err = translate(json!({"model": "m", "messages": "hello"}));
    assert!(matches!(err, Err(TranslateError::WrongType { field: "messages", .. })), "{err:?}");
    let err = translate(json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}));
    assert!(matches!(err, Err(TranslateError::WrongType { field: "messages", .. })), "{err:?}");
}

#[test]
fn image_urls_must_be_http_or_base64_data() -> TestResult {
    let image = |url: &str| json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]});
    for bad in ["ftp://x/cat.png", "data:image/png,rawbytes", "data:;base64,AAAA", "file:///etc/passwd"] {
        let err = translate(image(bad));
        assert!(matches!(err, Err(TranslateError::WrongType { field: "messages", .. })), "{bad}: {err:?}");
    }
    // An escaped slash is still a data URL, decoded before it is split.
    let body = br#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image\/gif;base64,R0lG","format":"image/gif"}}]}]}"#;
    let view = RequestView::parse(body)?;
    let out: Value =
        serde_json::from_slice(&request(Endpoint::ChatCompletions, &view, MODEL, &RequestOptions::default())?)?;
    assert_eq!(
        out["messages"][0]["content"][0],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lG"}})
    );
    Ok(())
}

#[test]
fn audio_parts_are_refused_or_dropped() -> TestResult {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "listen"},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
    ]}]});
    let err = translate(body.clone());
    assert!(
        matches!(&err, Err(TranslateError::UnsupportedParam { param, .. }) if param.contains("input_audio")),
        "{err:?}"
    );
    let out = translate_with(body, MODEL, &DROP)?;
    assert_eq!(out["messages"][0]["content"], json!([{"type": "text", "text": "listen"}]));
    Ok(())
}

#[test]
fn only_chat_completions_are_served() -> TestResult {
    let view = RequestView::parse(br#"{"model":"m","input":"x"}"#)?;
    for endpoint in [Endpoint::Embeddings, Endpoint::Completions] {
        let err = request(endpoint, &view, MODEL, &RequestOptions::default());
        assert!(matches!(err, Err(TranslateError::Unsupported { provider: "anthropic", .. })), "{err:?}");
        let err = response(endpoint, b"{}", &META);
        assert!(matches!(err, Err(TranslateError::Unsupported { provider: "anthropic", .. })), "{err:?}");
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------- responses

#[test]
fn a_tool_only_answer_has_null_content() -> TestResult {
    let (out, _) = respond(json!({"type": "message", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
        {"type": "tool_use", "id": "toolu_2", "name": "g", "input": {"a": [1, 2]}},
    ], "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 2}}))?;
    let message = &out["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null);
    assert_eq!(message["tool_calls"][0]["function"], json!({"name": "f", "arguments": "{}"}));
    assert_eq!(message["tool_calls"][1]["function"], json!({"name": "g", "arguments": "{\"a\":[1,2]}"}));
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    Ok(())
}

#[test]
fn a_json_answer_next_to_tool_calls_is_appended_to_the_text() -> TestResult {
    let (out, _) = respond(json!({"type": "message", "content": [
        {"type": "text", "text": "Here: "},
        {"type": "tool_use", "id": "toolu_j", "name": "json_tool_call", "input": {"values": {"x": 1}}},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
    ], "stop_reason": "tool_use", "usage": {}}))?;
    let message = &out["choices"][0]["message"];
    assert_eq!(message["content"], "Here: {\"x\":1}");
    assert_eq!(message["tool_calls"].as_array().map(Vec::len), Some(1));
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    Ok(())
}

#[test]
fn server_tool_blocks_and_citations_are_not_tool_calls() -> TestResult {
    let (out, _) = respond(json!({"type": "message", "content": [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "x"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        {"type": "text", "text": "Found it.", "citations": [{"type": "web_search_result_location"}]},
    ], "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}}))?;
    let message = &out["choices"][0]["message"];
    assert_eq!(message["content"], "Found it.");
    assert!(message.get("tool_calls").is_none());
    Ok(())
}

#[test]
fn unreadable_answers_are_provider_body_errors() {
    for body in [&b"not json"[..], br#"{"content": "text"}"#, br#"{"content": [{"text": "no type"}]}"#] {
        let err = response(Endpoint::ChatCompletions, body, &META);
        assert!(matches!(err, Err(TranslateError::ProviderBody(_))), "{err:?}");
    }
}

#[test]
fn compact_removes_whitespace_outside_strings_only() {
    assert_eq!(compact(r#"{"a":1}"#), r#"{"a":1}"#);
    assert_eq!(compact("{ \"a b\" : [1, 2],\n\t\"c\\\" d\": \" x \" }"), "{\"a b\":[1,2],\"c\\\" d\":\" x \"}");
    assert!(matches!(compact(r#"{"a":"b c"}"#), std::borrow::Cow::Borrowed(_)));
}

// ------------------------------------------------------------------------------------------- streams

#[test]
fn a_stream_of_pings_ends_with_done_only() -> TestResult {
    let out = stream_all("event: ping\ndata: {\"type\":\"ping\"}\n\n", true)?;
    assert_eq!(out, "data: [DONE]\n\n");
    Ok(())
}

#[test]
fn events_after_message_stop_and_unknown_events_are_ignored() -> TestResult {
    let events = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
        "event: brand_new\ndata: {\"type\":\"brand_new\",\"x\":1}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"mystery\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"mystery_delta\"}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"refusal\"},\"usage\":{\"output_tokens\":2}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"late\"}}\n\n",
    );
    let out = stream_all(events, false)?;
    assert!(!out.contains("late"), "{out}");
    assert_eq!(out.matches("\"finish_reason\":\"content_filter\"").count(), 1, "{out}");
    assert_eq!(out.matches("data: ").count(), 3, "{out}");
    Ok(())
}

#[test]
fn a_tool_block_that_starts_with_its_input_sends_it_as_the_first_piece() -> TestResult {
    let events = concat!(
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{\"a\":1}}}\n\n",
        "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    );
    let out = stream_all(events, false)?;
    assert!(out.contains(r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]}"#), "{out}");
    assert!(!out.contains(r#""arguments":"{}""#), "{out}");
    Ok(())
}

#[test]
fn usage_is_known_from_message_start() -> TestResult {
    let mut stream = Stream::new(&META, false);
    let mut out = Vec::new();
    assert_eq!(stream.usage(), None);
    stream.push(b"data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":7,\"cache_read_input_tokens\":3,\"output_tokens\":1}}}\n\n", &mut out)?;
    assert_eq!(stream.usage().map(|u| (u.prompt_tokens, u.completion_tokens)), Some((10, 1)));
    stream.push(b"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n", &mut out)?;
    assert_eq!(stream.usage().map(|u| u.total_tokens()), Some(19));
    Ok(())
}

#[test]
fn an_oversized_event_is_refused() {
    let meta = META;
    let mut stream = Stream::with_max_event_bytes(&meta, false, 64);
    let mut out = Vec::new();
    let big = format!("data: {{\"type\":\"ping\",\"pad\":\"{}\"}}\n\n", "x".repeat(100));
    let err = stream.push(big.as_bytes(), &mut out);
    assert!(matches!(err, Err(TranslateError::Framing(_))), "{err:?}");
}

#[test]
fn malformed_events_are_provider_body_errors() {
    let mut stream = Stream::new(&META, false);
    let mut out = Vec::new();
    let err = stream.push(b"data: {not json}\n\n", &mut out);
    assert!(matches!(err, Err(TranslateError::ProviderBody(_))), "{err:?}");
}

#[test]
fn a_stream_error_event_carries_its_status() {
    let mut stream = Stream::new(&META, false);
    let mut out = Vec::new();
    let err = stream.push(
        b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow\"}}\n\n",
        &mut out,
    );
    assert!(
        matches!(&err, Err(TranslateError::ProviderStreamError { status: 429, message }) if message == "slow"),
        "{err:?}"
    );
}

/// Found by fuzzing (`stream_cohere`, the same sum here): counts near `u64::MAX` saturate instead of wrapping.
#[test]
fn huge_usage_counts_saturate() {
    let wire = WireUsage {
        input_tokens: Some(u64::MAX),
        output_tokens: Some(3),
        cache_read_input_tokens: Some(2),
        cache_creation_input_tokens: Some(1),
    };
    let usage = wire.to_usage();
    assert_eq!((usage.prompt_tokens, usage.total_tokens()), (u64::MAX, u64::MAX));
}
