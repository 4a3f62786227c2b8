//! Unit tests of the Cohere translator: the mapping tables, parameter refusal and dropping, and the stream's
//! edge cases that the golden fixtures do not show.

#![expect(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

use serde_json::{json, Value};

use super::json::write_base64;
use super::{
    embeddings_response, encoding_format, error, finish_reason, path, request, response, EncodingFormat, Stream,
};
use crate::framing::sse::DONE;
use crate::openai::RequestView;
use crate::{Endpoint, RequestOptions, ResponseMeta, TranslateError};

const META: ResponseMeta<'static> = ResponseMeta { id: "chatcmpl-1", created: 1_700_000_000, model: "group" };
const KEEP: RequestOptions = RequestOptions { drop_params: false };
const DROP: RequestOptions = RequestOptions { drop_params: true };

/// The Cohere chat body for an OpenAI body (given as JSON).
fn chat(body: &Value, opts: &RequestOptions) -> Result<Value, TranslateError> {
    let bytes = body.to_string().into_bytes();
    let view = RequestView::parse(&bytes)?;
    let out = request(Endpoint::ChatCompletions, &view, "command-a-03-2025", opts)?;
    Ok(serde_json::from_slice(&out).unwrap())
}

/// A minimal chat body with `extra` members added.
fn with(extra: Value) -> Value {
    let mut body = json!({"model": "group", "messages": [{"role": "user", "content": "Hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn refused_param(result: Result<Value, TranslateError>) -> String {
    match result {
        Err(TranslateError::UnsupportedParam { provider: "cohere", param }) => param,
        other => panic!("expected UnsupportedParam, got {other:?}"),
    }
}

#[test]
fn finish_reason_table() {
    assert_eq!(finish_reason(Some("COMPLETE"), false), "stop");
    assert_eq!(finish_reason(Some("STOP_SEQUENCE"), false), "stop");
    assert_eq!(finish_reason(Some("MAX_TOKENS"), false), "length");
    assert_eq!(finish_reason(Some("TOOL_CALL"), true), "tool_calls");
    assert_eq!(finish_reason(Some("TOOL_CALL"), false), "tool_calls");
    // Lossy, as LiteLLM: OpenAI has no error reason (streams report these as errors instead).
    assert_eq!(finish_reason(Some("ERROR"), false), "stop");
    assert_eq!(finish_reason(Some("TIMEOUT"), false), "stop");
    assert_eq!(finish_reason(Some("SOMETHING_NEW"), false), "stop");
    assert_eq!(finish_reason(None, false), "stop");
    // A tool-calling turn Cohere closes with COMPLETE still tells the client to run its tools.
    assert_eq!(finish_reason(Some("COMPLETE"), true), "tool_calls");
    assert_eq!(finish_reason(None, true), "tool_calls");
    // A truncated tool call is still a truncation.
    assert_eq!(finish_reason(Some("MAX_TOKENS"), true), "length");
}

/// The usage of a chat answer with `usage` as given.
fn usage_of_answer(usage: Value) -> crate::Usage {
    let body = json!({"id": "x", "finish_reason": "COMPLETE", "message": {"role": "assistant", "content": [{"type": "text", "text": "ok"}]}, "usage": usage});
    response(Endpoint::ChatCompletions, body.to_string().as_bytes(), &META).unwrap().1
}

#[test]
fn usage_is_tokens_not_billed_units_and_cached_tokens_are_read() {
    let usage = usage_of_answer(
        json!({"billed_units": {"input_tokens": 5, "output_tokens": 3}, "tokens": {"input_tokens": 70, "output_tokens": 4}, "cached_tokens": 64}),
    );
    assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens), (70, 4, Some(64)));
    assert_eq!(usage.cache_creation_tokens, None);
    assert_eq!(usage.reasoning_tokens, None);
}

#[test]
fn usage_falls_back_to_billed_units_and_says_nothing_of_a_cache_cohere_did_not_mention() {
    let usage = usage_of_answer(json!({"billed_units": {"input_tokens": 5.0, "output_tokens": 3}}));
    assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens), (5, 3, None));
    let usage = usage_of_answer(json!({}));
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (0, 0));
}

#[test]
fn params_cohere_cannot_take_are_refused_by_name() {
    for (param, value) in [
        ("logit_bias", json!({"50256": -100})),
        ("top_logprobs", json!(2)),
        ("functions", json!([{"name": "f"}])),
        ("function_call", json!("auto")),
        ("reasoning_effort", json!("low")),
        ("audio", json!({"voice": "alloy"})),
        ("modalities", json!(["text", "audio"])),
        ("prediction", json!({"type": "content", "content": "x"})),
        ("web_search_options", json!({})),
        ("n", json!(2)),
        ("logprobs", json!(true)),
        ("parallel_tool_calls", json!(false)),
    ] {
        let body = with(json!({ param: value }));
        assert_eq!(refused_param(chat(&body, &KEEP)), param, "{param}");
        let dropped = chat(&body, &DROP).unwrap();
        assert!(dropped.get(param).is_none(), "{param} is dropped with drop_params");
        assert_eq!(dropped["messages"], json!([{"role": "user", "content": "Hi"}]));
    }
}

#[test]
fn harmless_params_are_dropped_without_drop_params() {
    let body = with(json!({"user": "u", "n": 1, "stream_options": {"include_usage": true}, "metadata": {"a": "b"},
        "store": false, "service_tier": "auto", "logprobs": false, "parallel_tool_calls": true, "stream": false,
        "temperature": null, "max_tokens": null}));
    let out = chat(&body, &KEEP).unwrap();
    assert_eq!(out, json!({"model": "command-a-03-2025", "messages": [{"role": "user", "content": "Hi"}]}));
}

#[test]
fn tool_choice_maps_to_cohere_values() {
    let tools = json!([
        {"type": "function", "function": {"name": "a", "parameters": {"type": "object", "properties": {}}}},
        {"type": "function", "function": {"name": "b", "parameters": {"type": "object", "properties": {}}}}
    ]);
    let out = chat(&with(json!({"tools": tools, "tool_choice": "none"})), &KEEP).unwrap();
    assert_eq!(out["tool_choice"], "NONE");
    let out = chat(&with(json!({"tools": tools, "tool_choice": "auto"})), &KEEP).unwrap();
    assert!(out.get("tool_choice").is_none());
    let out = chat(&with(json!({"tools": tools, "tool_choice": "required"})), &KEEP).unwrap();
    assert_eq!(out["tool_choice"], "REQUIRED");
    assert_eq!(out["tools"].as_array().unwrap().len(), 2);
    // A named function: only that tool is offered, and a call is required.
    let named = json!({"type": "function", "function": {"name": "b"}});
    let out = chat(&with(json!({"tools": tools, "tool_choice": named})), &KEEP).unwrap();
    assert_eq!(out["tool_choice"], "REQUIRED");
    assert_eq!(out["tools"], json!([tools[1]]));
    let unknown = json!({"type": "function", "function": {"name": "c"}});
    assert!(matches!(
        chat(&with(json!({"tools": tools, "tool_choice": unknown})), &KEEP),
        Err(TranslateError::WrongType { field: "tool_choice", .. })
    ));
    // Nothing to forbid without tools.
    let out = chat(&with(json!({"tool_choice": "none"})), &KEEP).unwrap();
    assert!(out.get("tool_choice").is_none());
    assert!(matches!(
        chat(&with(json!({"tool_choice": "sometimes"})), &KEEP),
        Err(TranslateError::WrongType { field: "tool_choice", .. })
    ));
}

#[test]
fn non_function_tools_are_refused_or_dropped() {
    let tools = json!([{"type": "custom", "custom": {"name": "x"}}, {"type": "function", "function": {"name": "a"}}]);
    assert_eq!(refused_param(chat(&with(json!({"tools": tools})), &KEEP)), "tools[0].type");
    let out = chat(&with(json!({"tools": tools})), &DROP).unwrap();
    assert_eq!(
        out["tools"],
        json!([{"type": "function", "function": {"name": "a", "parameters": {"type": "object", "properties": {}}}}])
    );
    assert!(out.get("strict_tools").is_none());
}

#[test]
fn openai_values_win_over_cohere_members_of_the_same_name() {
    let bytes =
        with(json!({"top_p": 0.5, "p": 0.9, "stop": ["x"], "stop_sequences": ["y"], "k": 3})).to_string().into_bytes();
    let view = RequestView::parse(&bytes).unwrap();
    let out = request(Endpoint::ChatCompletions, &view, "m", &KEEP).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert_eq!(text.matches("\"p\":").count(), 1, "{text}");
    assert_eq!(text.matches("\"stop_sequences\":").count(), 1, "{text}");
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        (out["p"].clone(), out["stop_sequences"].clone(), out["k"].clone()),
        (json!(0.5), json!(["x"]), json!(3))
    );
}

#[test]
fn cohere_members_pass_through_when_no_openai_value_is_given() {
    let out =
        chat(&with(json!({"p": 0.9, "documents": ["doc"], "citation_options": {"mode": "FAST"}})), &KEEP).unwrap();
    assert_eq!((out["p"].clone(), out["documents"].clone()), (json!(0.9), json!(["doc"])));
    assert_eq!(out["citation_options"], json!({"mode": "FAST"}));
}

#[test]
fn content_parts_cohere_cannot_read_are_refused_or_dropped() {
    let audio = json!({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}});
    let body =
        json!({"model": "g", "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}, audio]}]});
    assert_eq!(refused_param(chat(&body, &KEEP)), "messages[0].content[1]: input_audio");
    let out = chat(&body, &DROP).unwrap();
    assert_eq!(out["messages"], json!([{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]));
    // The dropped part may come first: no stray comma.
    let body =
        json!({"model": "g", "messages": [{"role": "user", "content": [audio, {"type": "text", "text": "Hi"}]}]});
    let out = chat(&body, &DROP).unwrap();
    assert_eq!(out["messages"], json!([{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]));
}

#[test]
fn legacy_function_messages_are_refused_or_dropped() {
    let body = json!({"model": "g", "messages": [{"role": "function", "name": "f", "content": "1"}, {"role": "user", "content": "Hi"}]});
    assert_eq!(refused_param(chat(&body, &KEEP)), "messages[0].role: function");
    assert_eq!(chat(&body, &DROP).unwrap()["messages"], json!([{"role": "user", "content": "Hi"}]));
}

#[test]
fn malformed_messages_are_named() {
    assert!(matches!(chat(&json!({"model": "g"}), &KEEP), Err(TranslateError::MissingField("messages"))));
    assert!(matches!(
        chat(&json!({"model": "g", "messages": "Hi"}), &KEEP),
        Err(TranslateError::WrongType { field: "messages", .. })
    ));
    assert!(matches!(
        chat(&json!({"model": "g", "messages": [{"role": "tool", "content": "1"}]}), &KEEP),
        Err(TranslateError::WrongType { field: "messages", .. })
    ));
    assert!(matches!(
        chat(&json!({"model": "g", "messages": [{"role": "wizard", "content": "1"}]}), &KEEP),
        Err(TranslateError::WrongType { field: "messages", .. })
    ));
    assert!(matches!(chat(&with(json!({"stop": 5})), &KEEP), Err(TranslateError::WrongType { field: "stop", .. })));
    assert!(matches!(
        chat(&with(json!({"response_format": {"type": "xml"}})), &KEEP),
        Err(TranslateError::WrongType { field: "response_format", .. })
    ));
}

#[test]
fn an_assistant_turn_with_text_parts_and_tool_calls_becomes_one_tool_plan() {
    let call = json!({"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}});
    let body = json!({"model": "g", "messages": [
        {"role": "assistant", "content": [{"type": "text", "text": "I will "}, {"type": "text", "text": "call f."}], "tool_calls": [call]},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "1"}]}
    ]});
    let out = chat(&body, &KEEP).unwrap();
    assert_eq!(
        out["messages"],
        json!([
            {"role": "assistant", "tool_plan": "I will call f.", "tool_calls": [call]},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "1"}]}
        ])
    );
}

#[test]
fn completions_are_not_served_and_paths_are_cohere_v2() {
    let bytes = br#"{"model":"g","prompt":"Hi"}"#;
    let view = RequestView::parse(bytes).unwrap();
    assert!(matches!(
        request(Endpoint::Completions, &view, "m", &KEEP),
        Err(TranslateError::Unsupported { provider: "cohere", .. })
    ));
    assert!(matches!(response(Endpoint::Completions, b"{}", &META), Err(TranslateError::Unsupported { .. })));
    assert_eq!(path(Endpoint::ChatCompletions), Some("/v2/chat"));
    assert_eq!(path(Endpoint::Embeddings), Some("/v2/embed"));
    assert_eq!(path(Endpoint::Completions), None);
}

#[test]
fn an_answer_with_only_tool_calls_has_null_content() {
    let body = json!({"id": "x", "finish_reason": "COMPLETE", "message": {"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}});
    let (out, _) = response(Endpoint::ChatCompletions, body.to_string().as_bytes(), &META).unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    assert!(matches!(
        response(Endpoint::ChatCompletions, b"{\"id\":\"x\"}", &META),
        Err(TranslateError::ProviderBody(_))
    ));
    assert!(matches!(response(Endpoint::ChatCompletions, b"not json", &META), Err(TranslateError::ProviderBody(_))));
}

/// `(status, type, message)` of the OpenAI error for a Cohere error answer.
fn openai_error(status: u16, body: &str) -> (u16, String, String) {
    let (status, out) = error(status, body.as_bytes());
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["error"]["code"], status.to_string());
    assert!(out["error"]["param"].is_null());
    (status, out["error"]["type"].as_str().unwrap().to_owned(), out["error"]["message"].as_str().unwrap().to_owned())
}

#[test]
fn error_status_and_type_table() {
    let body = r#"{"id":"e1","message":"boom"}"#;
    for (status, expected_status, kind) in [
        (400, 400, "invalid_request_error"),
        (401, 401, "authentication_error"),
        (402, 402, "invalid_request_error"),
        (403, 403, "authentication_error"),
        (404, 404, "invalid_request_error"),
        (422, 422, "invalid_request_error"),
        (429, 429, "rate_limit_error"),
        (498, 401, "authentication_error"),
        (499, 499, "invalid_request_error"),
        (500, 500, "api_error"),
        (501, 501, "api_error"),
        (503, 503, "api_error"),
        (504, 504, "api_error"),
    ] {
        assert_eq!(openai_error(status, body), (expected_status, kind.to_owned(), "boom".to_owned()), "{status}");
    }
}

#[test]
fn error_bodies_that_are_not_cohere_json_are_still_openai_shaped() {
    let (status, kind, message) = openai_error(502, "<html>Bad Gateway</html>");
    assert_eq!((status, kind.as_str()), (502, "api_error"));
    assert!(message.contains("Bad Gateway"), "{message}");
    // Already OpenAI-shaped (a proxy in front of Cohere): kept as it is.
    let shaped = r#"{"error":{"message":"m","type":"t","param":null,"code":"c"}}"#;
    assert_eq!(error(400, shaped.as_bytes()), (400, shaped.as_bytes().to_vec()));
}

/// Runs a whole Cohere stream: the output and how `push` then `finish` ended.
fn stream(input: &str, include_usage: bool) -> (String, Result<(), TranslateError>) {
    let mut s = Stream::new(&META, include_usage);
    let mut out = Vec::new();
    let end = s.push(input.as_bytes(), &mut out).and_then(|()| s.finish(&mut out));
    (String::from_utf8(out).unwrap(), end)
}

const START: &str = "event: message-start\ndata: {\"id\":\"m\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\",\"content\":[]}}}\n\n";
const DELTA: &str = "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hi\"}}}}\n\n";
const END: &str = "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":{\"tokens\":{\"input_tokens\":3,\"output_tokens\":1}}}}\n\n";

#[test]
fn finish_writes_done_once_and_later_input_is_ignored() {
    let mut s = Stream::new(&META, false);
    let mut out = Vec::new();
    s.push(format!("{START}{DELTA}{END}").as_bytes(), &mut out).unwrap();
    s.finish(&mut out).unwrap();
    s.finish(&mut out).unwrap();
    s.push(DELTA.as_bytes(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.matches("[DONE]").count(), 1);
    assert!(text.ends_with(std::str::from_utf8(DONE).unwrap()));
    assert_eq!(text.matches("\"content\":\"Hi\"").count(), 1);
    assert_eq!(s.usage().map(|u| u.total_tokens()), Some(4));
}

#[test]
fn a_stream_cut_before_message_end_still_ends_with_done_and_nothing_made_up() {
    let (text, end) = stream(&format!("{START}{DELTA}"), true);
    end.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert_eq!(text.matches("[DONE]").count(), 1);
    assert!(!text.contains("\"finish_reason\":\"stop\""), "{text}");
    assert!(!text.contains("\"choices\":[]"), "no usage chunk without usage: {text}");
    // Nothing at all from Cohere: still one clean end.
    let (text, end) = stream("", false);
    end.unwrap();
    assert_eq!(text.as_bytes(), DONE);
}

#[test]
fn a_last_event_without_its_blank_line_is_still_translated() {
    let (text, end) = stream(&format!("{START}{DELTA}{}", END.trim_end()), false);
    end.unwrap();
    assert!(text.contains("\"finish_reason\":\"stop\""), "{text}");
}

/// The provider stream error a stream ends with.
fn stream_error(input: &str) -> (u16, String, String) {
    let (text, end) = stream(input, false);
    match end {
        Err(TranslateError::ProviderStreamError { status, message }) => (status, message, text),
        other => panic!("expected a provider stream error, got {other:?}: {text}"),
    }
}

#[test]
fn error_finishes_and_error_bodies_are_stream_errors() {
    let timeout = "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"TIMEOUT\"}}\n\n";
    let (status, message, text) = stream_error(&format!("{START}{DELTA}{timeout}"));
    assert_eq!((status, message.as_str()), (504, "cohere ended the stream with finish_reason TIMEOUT"));
    assert!(text.contains("\"content\":\"Hi\""), "what came before the error is kept: {text}");
    assert!(!text.contains("[DONE]"));
    let error_only = "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"error\":\"overloaded\"}}\n\n";
    assert_eq!(stream_error(&format!("{START}{error_only}")).0, 500);
    let body = "data: {\"id\":\"e\",\"message\":\"too many tokens\"}\n\n";
    let (status, message, _) = stream_error(&format!("{START}{body}"));
    assert_eq!((status, message.as_str()), (500, "too many tokens"));
}

#[test]
fn after_an_error_nothing_more_is_written() {
    let mut s = Stream::new(&META, false);
    let mut out = Vec::new();
    let error = "data: {\"message\":\"boom\"}\n\n";
    assert!(s.push(format!("{START}{error}{DELTA}").as_bytes(), &mut out).is_err());
    let written = out.len();
    s.push(DELTA.as_bytes(), &mut out).unwrap();
    s.finish(&mut out).unwrap();
    assert_eq!(out.len(), written);
}

#[test]
fn broken_streams_are_provider_body_errors() {
    let (_, end) = stream("data: {not json}\n\n", false);
    assert!(matches!(end, Err(TranslateError::ProviderBody(_))), "{end:?}");
    let orphan = "data: {\"type\":\"tool-call-delta\",\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"{}\"}}}}}\n\n";
    let (_, end) = stream(&format!("{START}{orphan}"), false);
    assert!(matches!(end, Err(TranslateError::ProviderBody(_))), "{end:?}");
}

#[test]
fn an_event_past_the_limit_fails_the_stream() {
    let mut s = Stream::new(&META, false);
    let mut out = Vec::new();
    let huge = format!("data: {{\"type\":\"content-delta\",\"x\":\"{}", "a".repeat(super::stream::MAX_EVENT_BYTES + 1));
    assert!(matches!(s.push(huge.as_bytes(), &mut out), Err(TranslateError::Framing(_))));
}

#[test]
fn unknown_and_framing_events_write_nothing() {
    let noise = "event: debug\ndata: {\"type\":\"debug\",\"prompt\":\"x\"}\n\n\
                 event: citation-start\ndata: {\"type\":\"citation-start\",\"index\":0,\"delta\":{\"message\":{\"citations\":{\"start\":0,\"end\":2,\"text\":\"Hi\",\"sources\":[]}}}}\n\n\
                 event: citation-end\ndata: {\"type\":\"citation-end\",\"index\":0}\n\n\
                 event: something-new\ndata: {\"type\":\"something-new\"}\n\n\
                 : a comment\n\n";
    let (with_noise, _) = stream(&format!("{START}{DELTA}{noise}{END}"), false);
    let (without, _) = stream(&format!("{START}{DELTA}{END}"), false);
    assert_eq!(with_noise, without);
}

#[test]
fn tool_call_deltas_without_index_go_to_the_last_started_call() {
    let start = "data: {\"type\":\"tool-call-start\",\"delta\":{\"message\":{\"tool_calls\":{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}}}}\n\n";
    let delta = "data: {\"type\":\"tool-call-delta\",\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"{}\"}}}}}\n\n";
    let end = "data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\n\n";
    let (text, result) = stream(&format!("{START}{start}{delta}{end}"), false);
    result.unwrap();
    assert!(text.contains("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]}"), "{text}");
    // Cohere's COMPLETE after tool calls still tells the client to run them.
    assert!(text.contains("\"finish_reason\":\"tool_calls\""), "{text}");
}

#[test]
fn the_usage_chunk_reports_zeros_when_cohere_gave_no_usage() {
    let end = "data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}\n\n";
    let (text, result) = stream(&format!("{START}{end}"), true);
    result.unwrap();
    assert!(
        text.contains("\"choices\":[],\"usage\":{\"completion_tokens\":0,\"prompt_tokens\":0,\"total_tokens\":0}"),
        "{text}"
    );
}

#[test]
fn embeddings_refuse_token_input_and_unknown_encodings() {
    for input in [json!([1, 2, 3]), json!([[1, 2]]), json!(5)] {
        let bytes = json!({"model": "e", "input": input}).to_string().into_bytes();
        let view = RequestView::parse(&bytes).unwrap();
        assert!(matches!(
            request(Endpoint::Embeddings, &view, "m", &KEEP),
            Err(TranslateError::WrongType { field: "input", .. })
        ));
    }
    let bytes = br#"{"model":"e","input":"x","encoding_format":"int8"}"#;
    let view = RequestView::parse(bytes).unwrap();
    assert!(matches!(encoding_format(&view), Err(TranslateError::WrongType { field: "encoding_format", .. })));
    assert!(matches!(request(Endpoint::Embeddings, &view, "m", &KEEP), Err(TranslateError::WrongType { .. })));
    let view = RequestView::parse(br#"{"model":"e","input":"x"}"#).unwrap();
    assert_eq!(encoding_format(&view).unwrap(), EncodingFormat::Float);
}

#[test]
fn base64_embeddings_are_little_endian_f32() {
    let body = br#"{"embeddings":{"float":[[1.0,-2.0]]},"meta":{"billed_units":{"input_tokens":1}}}"#;
    let (out, usage) = embeddings_response(body, &META, EncodingFormat::Base64).unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    // 1.0f32 = 00 00 80 3f, -2.0f32 = 00 00 00 c0.
    assert_eq!(out["data"][0]["embedding"], "AACAPwAAAMA=");
    assert_eq!(usage.prompt_tokens, 1);
    // The float answer through the seam, and a bare list as v1 answered.
    let (out, _) = response(Endpoint::Embeddings, br#"{"embeddings":[[0.5]]}"#, &META).unwrap();
    let out: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(out["data"][0]["embedding"], json!([0.5]));
    assert!(matches!(
        embeddings_response(br#"{"embeddings":{"int8":[[1]]}}"#, &META, EncodingFormat::Float),
        Err(TranslateError::ProviderBody(_))
    ));
}

#[test]
fn base64_matches_rfc_4648_vectors() {
    for (input, expected) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        let mut out = Vec::new();
        write_base64(&mut out, input.as_bytes());
        assert_eq!(String::from_utf8(out).unwrap(), expected, "{input}");
    }
}
