//! Unit tests of the Gemini translator: the mapping tables, parameter refusal and dropping, schema
//! rewriting, thinking budgets, tool-call ids, errors, embeddings and the stream state machine's edges.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use serde_json::{json, Value};

use super::*;
use crate::openai::RequestView;
use crate::{Endpoint, RequestOptions, ResponseMeta, TranslateError, Usage};

const META: ResponseMeta<'static> = ResponseMeta { id: "chatcmpl-abc", created: 1_700_000_000, model: "group" };

fn chat(body: Value, model: &str, drop_params: bool) -> Result<Value, TranslateError> {
    let bytes = serde_json::to_vec(&body).unwrap();
    let view = RequestView::parse(&bytes).unwrap();
    let out = request(Endpoint::ChatCompletions, &view, model, &RequestOptions { drop_params })?;
    Ok(serde_json::from_slice(&out).unwrap())
}

fn user(extra: Value) -> Value {
    let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn answer(body: Value) -> Value {
    let (out, _) = response(Endpoint::ChatCompletions, &serde_json::to_vec(&body).unwrap(), &META).unwrap();
    serde_json::from_slice(&out).unwrap()
}

fn stream_all(wire: &str, include_usage: bool) -> (String, Result<(), TranslateError>) {
    let mut s = Stream::new(&META, include_usage);
    let mut out = Vec::new();
    let result = s.push(wire.as_bytes(), &mut out).and_then(|()| s.finish(&mut out));
    (String::from_utf8(out).unwrap(), result)
}

#[test]
fn finish_reason_table_maps_every_documented_value() {
    assert_eq!(finish_reason("STOP"), "stop");
    assert_eq!(finish_reason("MAX_TOKENS"), "length");
    for filtered in [
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "LANGUAGE",
        "OTHER",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "IMAGE_OTHER",
        "NO_IMAGE",
        "ESCALATION",
    ] {
        assert_eq!(finish_reason(filtered), "content_filter", "{filtered}");
    }
    for stop in ["FINISH_REASON_UNSPECIFIED", "MALFORMED_FUNCTION_CALL", "TOO_MANY_TOOL_CALLS", "SOMETHING_NEW"] {
        assert_eq!(finish_reason(stop), "stop", "{stop}");
    }
}

#[test]
fn usage_adds_thoughts_to_the_completion_unless_candidates_already_count_them() {
    let m = wire::UsageMetadata {
        prompt_token_count: Some(100),
        candidates_token_count: Some(10),
        total_token_count: Some(140),
        cached_content_token_count: Some(64),
        thoughts_token_count: Some(30),
    };
    let u = usage_of(&m);
    assert_eq!((u.prompt_tokens, u.completion_tokens, u.total_tokens()), (100, 40, 140));
    assert_eq!((u.cached_tokens, u.reasoning_tokens, u.cache_creation_tokens), (Some(64), Some(30), None));
    // Older Vertex answers: candidates include thoughts, prompt + candidates == total.
    let inclusive = wire::UsageMetadata { total_token_count: Some(110), ..m };
    assert_eq!(usage_of(&inclusive).completion_tokens, 10);
    // Nothing said: zeros and `None`, not made-up details.
    let u = usage_of(&wire::UsageMetadata::default());
    assert_eq!((u.prompt_tokens, u.completion_tokens, u.cached_tokens, u.reasoning_tokens), (0, 0, None, None));
}

#[test]
fn unknown_params_are_refused_by_name_unless_drop_params() {
    let body = user(json!({"logit_bias": {"50256": -100}}));
    match chat(body.clone(), "gemini-2.5-flash", false) {
        Err(TranslateError::UnsupportedParam { provider, param }) => {
            assert_eq!((provider, param.as_str()), ("gemini", "logit_bias"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let dropped = chat(body, "gemini-2.5-flash", true).unwrap();
    assert_eq!(dropped, json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}));
}

#[test]
fn harmless_params_and_nulls_are_ignored() {
    let body = user(json!({
        "user": "u", "metadata": {"a": "b"}, "store": false, "stream": true, "stream_options": {"include_usage": true},
        "service_tier": "auto", "temperature": null, "n": 1, "parallel_tool_calls": true
    }));
    assert_eq!(
        chat(body, "gemini-2.5-flash", false).unwrap(),
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    );
}

#[test]
fn media_modalities_and_audio_are_refused_text_modality_is_fine() {
    assert!(chat(user(json!({"modalities": ["text"]})), "m", false).is_ok());
    assert!(matches!(
        chat(user(json!({"modalities": ["text", "audio"]})), "m", false),
        Err(TranslateError::UnsupportedParam { .. })
    ));
    assert!(matches!(
        chat(user(json!({"audio": {"voice": "alloy"}})), "m", false),
        Err(TranslateError::UnsupportedParam { .. })
    ));
}

#[test]
fn parallel_tool_calls_false_with_several_tools_is_refused_unless_dropped() {
    let tool = |n: &str| json!({"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}});
    let body = user(json!({"tools": [tool("a"), tool("b")], "parallel_tool_calls": false}));
    assert!(matches!(chat(body.clone(), "m", false), Err(TranslateError::UnsupportedParam { .. })));
    assert!(chat(body, "m", true).is_ok());
    // One tool cannot be called in parallel anyway.
    assert!(chat(user(json!({"tools": [tool("a")], "parallel_tool_calls": false})), "m", false).is_ok());
}

#[test]
fn tool_choice_maps_to_function_calling_modes() {
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    for (choice, mode) in [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")] {
        let out = chat(user(json!({"tools": tools, "tool_choice": choice})), "m", false).unwrap();
        assert_eq!(out["toolConfig"], json!({"functionCallingConfig": {"mode": mode}}));
    }
    // A lone tool_choice (no tools) is left out: Gemini refuses a calling config without declarations.
    let out = chat(user(json!({"tool_choice": "required"})), "m", false).unwrap();
    assert!(out.get("toolConfig").is_none());
    assert!(matches!(
        chat(user(json!({"tools": tools, "tool_choice": "sometimes"})), "m", false),
        Err(TranslateError::UnsupportedParam { .. })
    ));
}

#[test]
fn response_format_uses_json_schema_on_gemini_2_and_the_openapi_subset_before() {
    let schema = json!({"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}},
        "additionalProperties": false});
    let rf = json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}});
    let new = chat(user(rf.clone()), "gemini-2.0-flash", false).unwrap();
    assert_eq!(new["generationConfig"]["responseJsonSchema"], schema);
    // Raw text: `json!` would sort the properties, and their order is what `propertyOrdering` keeps.
    let raw = r#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_schema",
        "json_schema": {"name": "x", "schema": {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}},
        "additionalProperties": false}}}}"#;
    let view = RequestView::parse(raw.as_bytes()).unwrap();
    let old = request(Endpoint::ChatCompletions, &view, "gemini-1.5-pro", &RequestOptions::default()).unwrap();
    let old: Value = serde_json::from_slice(&old).unwrap();
    assert_eq!(
        old["generationConfig"]["responseSchema"],
        json!({"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}}, "propertyOrdering": ["b", "a"]})
    );
    assert_eq!(old["generationConfig"]["responseMimeType"], "application/json");
    let obj = chat(user(json!({"response_format": {"type": "json_object"}})), "m", false).unwrap();
    assert_eq!(obj["generationConfig"], json!({"responseMimeType": "application/json"}));
}

#[test]
fn response_json_schema_support_follows_litellms_pattern() {
    for yes in ["gemini-2.0-flash", "gemini-2.5-pro-preview-06-05", "publishers/google/gemini-3-pro", "gemini-10.0-x"] {
        assert!(supports_response_json_schema(yes), "{yes}");
    }
    for no in ["gemini-1.5-pro", "gemini-pro", "gemini-exp-1206", "gemma-2"] {
        assert!(!supports_response_json_schema(no), "{no}");
    }
}

#[test]
fn reasoning_effort_maps_to_litellms_budgets_and_levels() {
    let budget = |e: &str, m: &str| thinking_for_effort(e, m).unwrap();
    assert_eq!(budget("low", "gemini-2.5-flash").thinking_budget, Some(1024));
    assert_eq!(budget("medium", "gemini-2.5-flash").thinking_budget, Some(2048));
    assert_eq!(budget("high", "gemini-2.5-pro").thinking_budget, Some(4096));
    assert_eq!(budget("minimal", "gemini-2.5-flash").thinking_budget, Some(1));
    assert_eq!(budget("minimal", "gemini-2.5-flash-lite").thinking_budget, Some(512));
    assert_eq!(budget("minimal", "gemini-2.5-pro").thinking_budget, Some(128));
    let off = budget("none", "gemini-2.5-flash");
    assert_eq!((off.thinking_budget, off.include_thoughts), (Some(0), false));
    let g3 = budget("medium", "gemini-3-pro-preview");
    assert_eq!((g3.thinking_level, g3.thinking_budget, g3.include_thoughts), (Some("high"), None, true));
    assert_eq!(budget("medium", "gemini-3-flash-preview").thinking_level, Some("medium"));
    assert_eq!(budget("minimal", "gemini-3-flash-preview").thinking_level, Some("minimal"));
    assert_eq!(budget("none", "gemini-3-pro-preview").thinking_level, Some("low"));
    assert!(thinking_for_effort("extreme", "gemini-2.5-flash").is_err());
    // The Agents SDK's object form.
    let out = chat(user(json!({"reasoning_effort": {"effort": "high", "summary": "auto"}})), "gemini-2.5-flash", false)
        .unwrap();
    assert_eq!(out["generationConfig"]["thinkingConfig"], json!({"thinkingBudget": 4096, "includeThoughts": true}));
    let out =
        chat(user(json!({"thinking": {"type": "enabled", "budget_tokens": 300}})), "gemini-2.5-flash", false).unwrap();
    assert_eq!(out["generationConfig"]["thinkingConfig"], json!({"thinkingBudget": 300, "includeThoughts": true}));
}

#[test]
fn penalties_are_dropped_silently_for_gemini_3() {
    let body = user(json!({"presence_penalty": 0.5, "frequency_penalty": 0.5}));
    assert!(chat(body.clone(), "gemini-3-pro-preview", false).unwrap().get("generationConfig").is_none());
    assert_eq!(chat(body, "gemini-2.5-pro", false).unwrap()["generationConfig"]["presencePenalty"], 0.5);
}

#[test]
fn wrong_shapes_are_named() {
    assert!(matches!(
        chat(user(json!({"temperature": "hot"})), "m", false),
        Err(TranslateError::WrongType { field: "temperature", .. })
    ));
    let no_messages = json!({"model": "m"});
    assert!(matches!(chat(no_messages, "m", false), Err(TranslateError::MissingField("messages"))));
    let bad_role = json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]});
    assert!(matches!(chat(bad_role, "m", false), Err(TranslateError::WrongType { field: "messages", .. })));
    let orphan = json!({"model": "m", "messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]});
    assert!(matches!(chat(orphan, "m", false), Err(TranslateError::WrongType { field: "messages", .. })));
    let bad_args = json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]});
    assert!(matches!(chat(bad_args, "m", false), Err(TranslateError::WrongType { field: "messages", .. })));
}

#[test]
fn legacy_functions_and_function_messages_are_translated() {
    let body = json!({"model": "m", "functions": [{"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "number"}}}}],
        "messages": [{"role": "user", "content": "go"},
                     {"role": "assistant", "content": null, "function_call": {"name": "f", "arguments": ""}},
                     {"role": "function", "name": "f", "content": "42"}]});
    let out = chat(body, "m", false).unwrap();
    assert_eq!(out["tools"][0]["functionDeclarations"][0]["name"], "f");
    assert_eq!(out["contents"][1], json!({"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}));
    assert_eq!(
        out["contents"][2],
        json!({"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"content": "42"}}}]})
    );
}

#[test]
fn schema_refs_are_inlined_and_cycles_refused() {
    let params = json!({"type": "object", "$defs": {"Pt": {"type": "object", "properties": {"x": {"type": "number"}}}},
        "properties": {"a": {"$ref": "#/$defs/Pt", "description": "start"}, "tags": {"type": "array", "items": {}},
                       "kind": {"const": "k"}, "any": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}});
    let text = params.to_string();
    let cleaned =
        serde_json::to_value(schema::to_gemini(schema::Schema::parse(&text).unwrap(), false).unwrap()).unwrap();
    assert_eq!(
        cleaned,
        json!({"type": "object", "properties": {
            "a": {"description": "start", "type": "object", "properties": {"x": {"type": "number"}}},
            "tags": {"type": "array", "items": {"type": "object"}},
            "kind": {"enum": ["k"]},
            "any": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}})
    );
    let cyclic =
        json!({"$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}}, "$ref": "#/$defs/N"})
            .to_string();
    assert_eq!(
        schema::to_gemini(schema::Schema::parse(&cyclic).unwrap(), false).unwrap_err(),
        schema::SchemaError::TooDeep
    );
    let dangling = json!({"properties": {"a": {"$ref": "#/components/X"}}}).to_string();
    assert!(matches!(
        schema::to_gemini(schema::Schema::parse(&dangling).unwrap(), false),
        Err(schema::SchemaError::UnresolvedRef(_))
    ));
}

#[test]
fn tool_call_ids_are_deterministic_and_carry_signatures() {
    assert_eq!(call_id_base("chatcmpl-xyz"), "call_xyz_");
    assert_eq!(call_id_base("resp-1"), "call_resp-1_");
    let out = answer(json!({"candidates": [{"content": {"parts": [
        {"functionCall": {"name": "a", "args": {"q": 1}}, "thoughtSignature": "sig"},
        {"functionCall": {"name": "b"}},
        {"functionCall": {"id": "own-id", "name": "c", "args": {}}}]}, "finishReason": "STOP"}]}));
    let calls = &out["choices"][0]["message"]["tool_calls"];
    assert_eq!(calls[0]["id"], "call_abc_0__thought__sig");
    assert_eq!(calls[0]["function"]["arguments"], "{\"q\":1}");
    assert_eq!(calls[1]["id"], "call_abc_1");
    assert_eq!(calls[1]["function"]["arguments"], "{}");
    assert_eq!(calls[2]["id"], "own-id");
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn errors_map_to_openai_types_and_statuses() {
    let google = |code: u16, status: &str| {
        json!({"error": {"code": code, "message": format!("m{code}"), "status": status}}).to_string().into_bytes()
    };
    for (status, name, kind) in [
        (429, "RESOURCE_EXHAUSTED", "rate_limit_error"),
        (403, "PERMISSION_DENIED", "authentication_error"),
        (401, "UNAUTHENTICATED", "authentication_error"),
        (400, "INVALID_ARGUMENT", "invalid_request_error"),
        (404, "NOT_FOUND", "invalid_request_error"),
        (500, "INTERNAL", "api_error"),
        (503, "UNAVAILABLE", "api_error"),
    ] {
        let (got_status, body) = error(status, &google(status, name));
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(got_status, status);
        assert_eq!(
            body,
            json!({"error": {"message": format!("m{status}"), "type": kind, "param": null, "code": status.to_string()}})
        );
    }
    // Vertex wraps the error in an array for some calls.
    let wrapped = format!("[{}]", String::from_utf8(google(429, "RESOURCE_EXHAUSTED")).unwrap());
    let (_, body) = error(429, wrapped.as_bytes());
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["error"]["type"], "rate_limit_error");
    // Not Google's shape: the crate's generic wrapper.
    let (status, body) = error(502, b"<html>bad gateway</html>");
    assert_eq!(status, 502);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["error"]["type"], "api_error");
    assert_eq!(status_of_code_name("DEADLINE_EXCEEDED"), Some(504));
    assert_eq!(error_type(418), "invalid_request_error");
}

#[test]
fn stream_error_events_take_their_status_from_the_code_or_the_status_name() {
    let (out, result) = stream_all("data: {\"error\": {\"code\": 429, \"message\": \"slow down\"}}\r\n\r\n", false);
    assert!(out.is_empty());
    match result {
        Err(TranslateError::ProviderStreamError { status, message }) => {
            assert_eq!((status, message.as_str()), (429, "slow down"))
        }
        other => panic!("{other:?}"),
    }
    let (_, result) = stream_all("data: {\"error\": {\"message\": \"x\", \"status\": \"INTERNAL\"}}\n\n", false);
    assert!(matches!(result, Err(TranslateError::ProviderStreamError { status: 500, .. })));
    let (_, result) = stream_all("data: not json\n\n", false);
    assert!(matches!(result, Err(TranslateError::ProviderBody(_))));
}

#[test]
fn a_stream_that_ends_early_still_ends_with_one_done() {
    let (out, result) = stream_all("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi\"}]}}]}", true);
    result.unwrap();
    assert!(out.contains("\"content\":\"Hi\""), "{out}");
    assert_eq!(out.matches("data: [DONE]").count(), 1);
    assert!(!out.contains("finish_reason\":\""), "no made-up finish reason: {out}");
    // An empty stream: just [DONE].
    let (out, result) = stream_all("", true);
    result.unwrap();
    assert_eq!(out, "data: [DONE]\n\n");
    // finish twice and push after finish write nothing more.
    let mut s = Stream::new(&META, false);
    let mut out = Vec::new();
    s.finish(&mut out).unwrap();
    s.finish(&mut out).unwrap();
    s.push(b"data: {}\n\n", &mut out).unwrap();
    assert_eq!(out, b"data: [DONE]\n\n");
}

#[test]
fn stream_events_over_the_limit_are_refused() {
    let mut s = Stream::with_limit(&META, false, 64);
    let mut out = Vec::new();
    let big =
        format!("data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"text\": \"{}\"}}]}}}}]}}", "x".repeat(100));
    assert!(matches!(s.push(big.as_bytes(), &mut out), Err(TranslateError::Framing(_))));
    let mut s = Stream::new(&META, false);
    let out_of_range = "data: {\"candidates\": [{\"index\": 9, \"content\": {\"parts\": [{\"text\": \"x\"}]}}]}\n\n";
    assert!(matches!(s.push(out_of_range.as_bytes(), &mut out), Err(TranslateError::ProviderBody(_))));
}

#[test]
fn stream_content_after_a_finish_is_ignored_and_logprobs_ride_on_content() {
    let wire = concat!(
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"A\"}]}, \"finishReason\": \"STOP\",",
        " \"logprobsResult\": {\"chosenCandidates\": [{\"token\": \"A\", \"logProbability\": -0.5}]}}]}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"B\"}]}, \"finishReason\": \"STOP\"}]}\r\n\r\n",
    );
    let (out, result) = stream_all(wire, false);
    result.unwrap();
    assert!(!out.contains("\"B\""), "{out}");
    assert_eq!(out.matches("\"finish_reason\":\"stop\"").count(), 1);
    assert!(
        out.contains("\"logprobs\":{\"content\":[{\"token\":\"A\",\"logprob\":-0.5,\"bytes\":[65],\"top_logprobs\":[]}],\"refusal\":null}"),
        "{out}"
    );
}

#[test]
fn embeddings_can_be_written_as_base64_of_little_endian_f32() {
    let body = br#"{"embeddings": [{"values": [1.0, -2.5]}]}"#;
    let (out, _) = embeddings_response(body, &META, EmbeddingEncoding::Base64).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    // 1.0f32 = 00 00 80 3f, -2.5f32 = 00 00 20 c0.
    assert_eq!(v["data"][0]["embedding"], "AACAPwAAIMA=");
    let mut b = Vec::new();
    json::base64_into(&mut b, b"ab");
    assert_eq!(b, b"YWI=");
}

#[test]
fn vertex_embeddings_use_predict_with_token_statistics() {
    let bytes =
        serde_json::to_vec(&json!({"model": "m", "input": "hello", "dimensions": 8, "input_type": "RETRIEVAL_QUERY"}))
            .unwrap();
    let view = RequestView::parse(&bytes).unwrap();
    let body: Value =
        serde_json::from_slice(&vertex_embeddings_request(&view, &RequestOptions::default()).unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"instances": [{"content": "hello", "task_type": "RETRIEVAL_QUERY"}], "parameters": {"outputDimensionality": 8}})
    );
    let answer = br#"{"predictions": [{"embeddings": {"values": [0.5], "statistics": {"token_count": 3.0, "truncated": false}}}]}"#;
    let (out, usage) = response(Endpoint::Embeddings, answer, &META).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["data"][0]["embedding"], json!([0.5]));
    assert_eq!((usage.prompt_tokens, v["usage"]["total_tokens"].as_u64()), (3, Some(3)));
    // Token arrays cannot be turned back into text.
    let tokens = serde_json::to_vec(&json!({"model": "m", "input": [[1, 2]]})).unwrap();
    let view = RequestView::parse(&tokens).unwrap();
    assert!(matches!(
        request(Endpoint::Embeddings, &view, "m", &RequestOptions::default()),
        Err(TranslateError::WrongType { field: "input", .. })
    ));
}

#[test]
fn legacy_completions_are_not_served() {
    let bytes = br#"{"model": "m", "prompt": "x"}"#;
    let view = RequestView::parse(bytes).unwrap();
    assert!(matches!(
        request(Endpoint::Completions, &view, "m", &RequestOptions::default()),
        Err(TranslateError::Unsupported { .. })
    ));
}

#[test]
fn paths_follow_each_apis_url_layout() {
    assert_eq!(
        gemini_path("gemini-2.5-flash", Endpoint::ChatCompletions, true).as_deref(),
        Some("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    );
    assert_eq!(
        gemini_path("models/text-embedding-004", Endpoint::Embeddings, false).as_deref(),
        Some("/v1beta/models/text-embedding-004:batchEmbedContents")
    );
    assert_eq!(
        vertex_path("p", "europe-west4", "gemini-2.0-flash-001", Endpoint::ChatCompletions, false).as_deref(),
        Some("/v1/projects/p/locations/europe-west4/publishers/google/models/gemini-2.0-flash-001:generateContent")
    );
    assert_eq!(
        vertex_path("p", "us-central1", "4965075652664360960", Endpoint::ChatCompletions, true).as_deref(),
        Some("/v1/projects/p/locations/us-central1/endpoints/4965075652664360960:streamGenerateContent?alt=sse")
    );
    assert_eq!(vertex_host("global"), "aiplatform.googleapis.com");
    assert_eq!(vertex_host("us-east5"), "us-east5-aiplatform.googleapis.com");
    assert_eq!(gemini_path("m", Endpoint::Completions, false), None);
}

#[test]
fn minify_keeps_strings_and_drops_whitespace() {
    let mut out = Vec::new();
    json::minify_into(&mut out, "{ \"a b\" : [ 1 , \"x \\\" y\" ],\n \"c\": {} }");
    assert_eq!(String::from_utf8(out).unwrap(), "{\"a b\":[1,\"x \\\" y\"],\"c\":{}}");
}

#[test]
fn arguments_are_the_minified_json_as_a_string() {
    // Escapes of every kind, an escaped backslash before a closing quote, nesting, and whitespace
    // everywhere whitespace may be.
    let cases = [
        "{}",
        " {\n  \"city\" : \"Rome\",\n  \"unit\": \"celsius\"\n} ",
        r#"{"a b": [1, 2.5e3, -0, true, false, null], "c": {"d": {}}}"#,
        r#"{"q": "say \"hi\"", "path": "C:\\dir\\", "u": "\u00e9\n\t", "s": "/\/"}"#,
        r#"{"x":"\\"}"#,
        "{\"t\":\"é ü \u{1F600}\"}",
    ];
    for raw in cases {
        let mut out = Vec::new();
        json::write_minified_as_str(&mut out, raw);
        let text: String = serde_json::from_slice(&out).unwrap();
        let mut minified = Vec::new();
        json::minify_into(&mut minified, raw);
        assert_eq!(text.as_bytes(), minified.as_slice(), "{raw}");
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value, serde_json::from_str::<Value>(raw).unwrap(), "{raw}");
    }
}

#[test]
fn hand_written_usage_equals_usage_to_openai() {
    let cases = [
        Usage::default(),
        Usage { prompt_tokens: 5, completion_tokens: 7, ..Usage::default() },
        Usage {
            prompt_tokens: 100,
            completion_tokens: 40,
            cached_tokens: Some(64),
            reasoning_tokens: Some(30),
            ..Usage::default()
        },
        Usage {
            prompt_tokens: 1,
            completion_tokens: 2,
            cached_tokens: None,
            cache_creation_tokens: Some(3),
            reasoning_tokens: None,
        },
        Usage {
            prompt_tokens: 1,
            completion_tokens: 2,
            cached_tokens: Some(0),
            cache_creation_tokens: Some(3),
            reasoning_tokens: Some(0),
        },
    ];
    for usage in cases {
        let mut out = Vec::new();
        write_usage(&mut out, &usage);
        assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), usage.to_openai(), "{usage:?}");
    }
}

#[test]
fn gemini_3_replays_unsigned_calls_with_the_documented_dummy_signature() {
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_a", "content": "1"},
        {"role": "tool", "tool_call_id": "call_b", "content": "2"}]});
    let g3 = chat(body.clone(), "gemini-3-pro-preview", false).unwrap();
    let parts = &g3["contents"][1]["parts"];
    assert_eq!(parts[0]["thoughtSignature"], "c2tpcF90aG91Z2h0X3NpZ25hdHVyZV92YWxpZGF0b3I=");
    assert!(parts[1].get("thoughtSignature").is_none());
    // Older models take unsigned calls: nothing is added.
    let g25 = chat(body, "gemini-2.5-flash", false).unwrap();
    assert!(g25["contents"][1]["parts"][0].get("thoughtSignature").is_none());
}

/// Found by fuzzing (`stream_cohere`, the same sums here): counts near `u64::MAX` saturate instead of wrapping.
#[test]
fn huge_usage_counts_saturate() {
    let m = wire::UsageMetadata {
        prompt_token_count: Some(u64::MAX),
        candidates_token_count: Some(u64::MAX),
        total_token_count: Some(1),
        cached_content_token_count: None,
        thoughts_token_count: Some(7),
    };
    let u = usage_of(&m);
    assert_eq!((u.completion_tokens, u.total_tokens()), (u64::MAX, u64::MAX));
}
