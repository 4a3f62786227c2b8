//! Tests of the request view (parse once, rewrite `model`, keep everything else) and the error body.

use serde_json::{json, Value};

use super::{error_body, write_json_str, RequestView, INDEX_AFTER};
use crate::TranslateError;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The body a view writes back with `model`, parsed as a value.
fn rewritten(body: &[u8], model: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let view = RequestView::parse(body)?;
    let mut out = Vec::new();
    view.write_with_model(model, &mut out);
    Ok(serde_json::from_slice(&out)?)
}

#[test]
fn members_keep_their_order_and_raw_bytes() -> TestResult {
    let body = br#" { "model" : "gpt-4o", "temperature": 1.0e0 , "messages": [ {"role":"user"} ], "n":1 } "#;
    let view = RequestView::parse(body)?;
    let members: Vec<_> = view.members().map(|(k, v)| (k.to_owned(), v.get().to_owned())).collect();
    assert_eq!(
        members,
        [
            ("model".to_owned(), r#""gpt-4o""#.to_owned()),
            ("temperature".to_owned(), "1.0e0".to_owned()),
            ("messages".to_owned(), r#"[ {"role":"user"} ]"#.to_owned()),
            ("n".to_owned(), "1".to_owned()),
        ]
    );
    assert_eq!(view.len_members(), 4);
    assert_eq!(view.get("temperature").map(|v| v.get()), Some("1.0e0"));
    assert!(view.get("missing").is_none());
    Ok(())
}

#[test]
fn rewrite_keeps_values_byte_for_byte() -> TestResult {
    let body = br#"{"temperature":1.0e0,"model":"gpt-4o","messages":[ {"content":"caf\u00e9 \"q\""} ],"x":null}"#;
    let view = RequestView::parse(body)?;
    let mut out = vec![b'j', b'u', b'n', b'k'];
    view.write_with_model("openai/gpt-4o-mini", &mut out);
    assert_eq!(
        out,
        br#"{"temperature":1.0e0,"model":"openai/gpt-4o-mini","messages":[ {"content":"caf\u00e9 \"q\""} ],"x":null}"#
    );
    Ok(())
}

#[test]
fn rewrite_equals_the_client_body_with_model_replaced() -> TestResult {
    let body = br#"{"model":"a","messages":[{"role":"user","content":"hi"}],"stream":true,"tools":[{"type":"function"}],"metadata":{"k":"v"}}"#;
    let mut expected: Value = serde_json::from_slice(body)?;
    expected["model"] = json!("b \"quoted\" \u{1} \n é");
    assert_eq!(rewritten(body, "b \"quoted\" \u{1} \n é")?, expected);
    Ok(())
}

#[test]
fn rewrite_adds_a_missing_model_last() -> TestResult {
    let view = RequestView::parse(br#"{"input":"x"}"#)?;
    let mut out = Vec::new();
    view.write_with_model("m", &mut out);
    assert_eq!(out, br#"{"input":"x","model":"m"}"#);
    let view = RequestView::parse(b"{}")?;
    view.write_with_model("m", &mut out);
    assert_eq!(out, br#"{"model":"m"}"#);
    Ok(())
}

#[test]
fn escaped_keys_are_decoded_and_rewritten() -> TestResult {
    let body = br#"{"mo\u0064el":"gpt-4o","a\"b":1}"#;
    let view = RequestView::parse(body)?;
    assert_eq!(view.model()?, "gpt-4o");
    assert_eq!(view.get("a\"b").map(|v| v.get()), Some("1"));
    assert_eq!(rewritten(body, "x")?, json!({ "model": "x", "a\"b": 1 }));
    Ok(())
}

#[test]
fn non_object_bodies_are_not_an_object() {
    for body in [&b"[1,2]"[..], b"\"text\"", b"null", b"42", b"true", b" \n[]"] {
        let err = RequestView::parse(body);
        assert!(matches!(err, Err(TranslateError::NotAnObject)), "{:?}: {err:?}", String::from_utf8_lossy(body));
    }
}

#[test]
fn malformed_bodies_are_invalid_json() {
    for body in [&b""[..], b"   ", b"{", b"{\"model\":}", b"{\"a\":1,}", b"{} {}", b"{\"a\":1} x", b"[1,", b"\xff"] {
        let err = RequestView::parse(body);
        assert!(matches!(err, Err(TranslateError::InvalidJson(_))), "{:?}: {err:?}", String::from_utf8_lossy(body));
    }
}

#[test]
fn invalid_utf8_inside_a_value_is_invalid_json() {
    let err = RequestView::parse(b"{\"model\":\"a\",\"x\":\"\xc3\x28\"}");
    assert!(matches!(err, Err(TranslateError::InvalidJson(_))), "{err:?}");
}

#[test]
fn duplicate_keys_keep_the_last_value() -> TestResult {
    let body = br#"{"model":"first","n":1,"model":"second"}"#;
    let view = RequestView::parse(body)?;
    assert_eq!(view.model()?, "second");
    assert_eq!(view.len_members(), 2);
    // Same answer as a full parse.
    let full: Value = serde_json::from_slice(body)?;
    assert_eq!(full["model"], "second");
    let mut out = Vec::new();
    view.write_with_model("m", &mut out);
    assert_eq!(out, br#"{"model":"m","n":1}"#);
    Ok(())
}

#[test]
fn duplicate_keys_in_large_objects_keep_the_last_value() -> TestResult {
    let mut body = String::from("{");
    for i in 0..(INDEX_AFTER * 4) {
        body.push_str(&format!("\"k{i}\":{i},"));
    }
    body.push_str("\"k0\":\"again\",\"k50\":[50],\"model\":\"m\"}");
    let view = RequestView::parse(body.as_bytes())?;
    assert_eq!(view.len_members(), INDEX_AFTER * 4 + 1);
    assert_eq!(view.get("k0").map(|v| v.get()), Some("\"again\""));
    assert_eq!(view.get("k50").map(|v| v.get()), Some("[50]"));
    assert_eq!(view.get("k63").map(|v| v.get()), Some("63"));
    assert_eq!(view.model()?, "m");
    let mut expected: Value = serde_json::from_str(&body)?;
    expected["model"] = json!("n");
    assert_eq!(rewritten(body.as_bytes(), "n")?, expected);
    Ok(())
}

#[test]
fn model_errors_name_the_field() -> TestResult {
    let missing = RequestView::parse(br#"{"messages":[]}"#)?;
    assert!(matches!(missing.model(), Err(TranslateError::MissingField("model"))));
    let null = RequestView::parse(br#"{"model":null}"#)?;
    assert!(matches!(null.model(), Err(TranslateError::MissingField("model"))));
    for body in [&br#"{"model":4}"#[..], br#"{"model":["a"]}"#, br#"{"model":{"a":1}}"#, br#"{"model":true}"#] {
        let view = RequestView::parse(body)?;
        assert!(
            matches!(view.model(), Err(TranslateError::WrongType { field: "model", expected: "a string" })),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    Ok(())
}

#[test]
fn model_with_escapes_is_decoded() -> TestResult {
    let view = RequestView::parse(br#"{"model":"caf\u00e9\/x"}"#)?;
    assert_eq!(view.model()?, "café/x");
    Ok(())
}

#[test]
fn stream_defaults_to_false_and_rejects_non_booleans() -> TestResult {
    assert!(!RequestView::parse(b"{}")?.stream()?);
    assert!(!RequestView::parse(br#"{"stream":null}"#)?.stream()?);
    assert!(!RequestView::parse(br#"{"stream":false}"#)?.stream()?);
    assert!(RequestView::parse(br#"{"stream": true }"#)?.stream()?);
    for body in [&br#"{"stream":"true"}"#[..], br#"{"stream":1}"#, br#"{"stream":{}}"#] {
        let err = RequestView::parse(body)?.stream();
        assert!(matches!(err, Err(TranslateError::WrongType { field: "stream", expected: "a boolean" })), "{err:?}");
    }
    Ok(())
}

#[test]
fn keys_without_escapes_are_borrowed() -> TestResult {
    let body = br#"{"model":"gpt-4o","messages":[]}"#;
    let view = RequestView::parse(body)?;
    let range = body.as_ptr_range();
    for (key, _) in view.members() {
        assert!(range.contains(&key.as_ptr()), "{key} was copied");
    }
    assert!(range.contains(&view.model()?.as_ptr()), "model was copied");
    Ok(())
}

#[test]
fn string_escaping_matches_serde_json() -> TestResult {
    let mut cases: Vec<String> = (0u8..0x80).map(|b| format!("a{}b", char::from(b))).collect();
    cases.extend(["".into(), "é ü \u{2028} \u{1F600}".into(), "\\\"\\".into(), "\u{7f}\u{0}".into()]);
    // Every byte that needs escaping at every position of a 20-byte string: the eight-byte steps and the
    // tail of the no-escape check both see it.
    for b in (0u8..0x20).chain([b'"', b'\\']) {
        for at in 0..20 {
            let mut bytes = vec![b'x'; 20];
            bytes[at] = b;
            cases.push(String::from_utf8(bytes)?);
        }
    }
    cases.extend(["abcdefgh".into(), "abcdefghijklmnopq\u{80}é".into()]);
    for case in cases {
        let mut ours = Vec::new();
        write_json_str(&mut ours, &case);
        assert_eq!(ours, serde_json::to_vec(&case)?, "{case:?}");
    }
    Ok(())
}

#[test]
fn error_body_has_openai_shape() -> TestResult {
    let body = error_body("bad \"model\"\n", "invalid_request_error", Some("model"), Some("400"));
    let value: Value = serde_json::from_slice(&body)?;
    assert_eq!(
        value,
        json!({ "error": {
            "message": "bad \"model\"\n",
            "type": "invalid_request_error",
            "param": "model",
            "code": "400",
        }})
    );
    Ok(())
}

#[test]
fn error_body_nulls_absent_param_and_code() -> TestResult {
    let value: Value = serde_json::from_slice(&error_body("m", "t", None, None))?;
    assert_eq!(value, json!({ "error": { "message": "m", "type": "t", "param": null, "code": null } }));
    Ok(())
}

/// serde_json skips a raw value without recursing, so nesting cannot overflow the stack here; the value is
/// the upstream's to judge (a later full parse of it has serde_json's own depth limit).
#[test]
fn deep_nesting_does_not_overflow_the_stack() -> TestResult {
    let depth = 100_000;
    let body = [&b"{\"model\":\"m\",\"a\":"[..], &b"[".repeat(depth), &b"]".repeat(depth), b"}"].concat();
    let view = RequestView::parse(&body)?;
    assert_eq!(view.get("a").map(|v| v.get().len()), Some(2 * depth));
    let array = [b"[".repeat(depth), b"]".repeat(depth)].concat();
    assert!(RequestView::parse(&array).is_err());
    Ok(())
}

/// The body `write_with_model_and_usage` writes.
fn with_usage(body: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let view = RequestView::parse(body)?;
    let mut out = b"junk".to_vec();
    view.write_with_model_and_usage("m", &mut out);
    Ok(out)
}

#[test]
fn stream_usage_is_added_in_the_same_pass_as_the_model() -> TestResult {
    assert_eq!(
        with_usage(br#"{"model":"a","stream":true,"messages":[ 1 ]}"#)?,
        br#"{"model":"m","stream":true,"messages":[ 1 ],"stream_options":{"include_usage":true}}"#
    );
    assert_eq!(
        with_usage(br#"{"stream":true,"stream_options":null}"#)?,
        br#"{"stream":true,"stream_options":{"include_usage":true},"model":"m"}"#
    );
    assert_eq!(with_usage(b"{}")?, br#"{"model":"m","stream_options":{"include_usage":true}}"#);
    Ok(())
}

#[test]
fn stream_usage_keeps_the_clients_other_stream_options() -> TestResult {
    assert_eq!(
        with_usage(
            br#"{"model":"a","stream_options":{"continuous_usage_stats": 1.0e0 ,"include_usage":false,"x":[ ]}}"#
        )?,
        br#"{"model":"m","stream_options":{"continuous_usage_stats":1.0e0,"include_usage":true,"x":[ ]}}"#
    );
    assert_eq!(
        with_usage(br#"{"model":"a","stream_options":{"x":{"include_usage":false}}}"#)?,
        br#"{"model":"m","stream_options":{"x":{"include_usage":false},"include_usage":true}}"#
    );
    assert_eq!(
        with_usage(br#"{"model":"a","stream_options":{ }}"#)?,
        br#"{"model":"m","stream_options":{"include_usage":true}}"#
    );
    // Not an object: left for the provider to refuse.
    assert_eq!(with_usage(br#"{"model":"a","stream_options":"yes"}"#)?, br#"{"model":"m","stream_options":"yes"}"#);
    Ok(())
}

#[test]
fn include_usage_reads_stream_options() -> TestResult {
    assert!(RequestView::parse(br#"{"stream_options":{"include_usage":true}}"#)?.include_usage());
    for body in [
        &b"{}"[..],
        br#"{"stream_options":null}"#,
        br#"{"stream_options":{}}"#,
        br#"{"stream_options":{"include_usage":false}}"#,
        br#"{"stream_options":{"include_usage":null}}"#,
        br#"{"stream_options":{"include_usage":"true"}}"#,
        br#"{"stream_options":[true]}"#,
    ] {
        assert!(!RequestView::parse(body)?.include_usage(), "{}", String::from_utf8_lossy(body));
    }
    Ok(())
}

#[test]
fn max_tokens_takes_either_name_and_the_larger_of_both() -> TestResult {
    let max = |body: &[u8]| RequestView::parse(body).map(|v| v.max_tokens());
    assert_eq!(max(br#"{"max_tokens":100}"#)?, Some(100));
    assert_eq!(max(br#"{"max_completion_tokens":200}"#)?, Some(200));
    assert_eq!(max(br#"{"max_tokens":300,"max_completion_tokens":200}"#)?, Some(300));
    assert_eq!(max(br#"{"max_tokens":null,"max_completion_tokens":50}"#)?, Some(50));
    for body in [&b"{}"[..], br#"{"max_tokens":null}"#, br#"{"max_tokens":-1}"#, br#"{"max_tokens":"10"}"#] {
        assert_eq!(max(body)?, None, "{}", String::from_utf8_lossy(body));
    }
    Ok(())
}

#[test]
fn optional_strings_borrow_unless_escaped() -> TestResult {
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default, deserialize_with = "super::opt_str")]
        plain: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, default, deserialize_with = "super::opt_str")]
        escaped: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, default, deserialize_with = "super::opt_str")]
        null: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, default, deserialize_with = "super::opt_str")]
        absent: Option<std::borrow::Cow<'a, str>>,
    }
    let probe: Probe<'_> = serde_json::from_str(r#"{"plain": "get_weather", "escaped": "a\"b", "null": null}"#)?;
    assert!(matches!(probe.plain, Some(std::borrow::Cow::Borrowed("get_weather"))));
    assert_eq!(probe.escaped.as_deref(), Some("a\"b"));
    assert!(probe.null.is_none() && probe.absent.is_none());
    assert!(serde_json::from_str::<Probe<'_>>(r#"{"plain": 1}"#).is_err());
    Ok(())
}

#[test]
fn litellms_router_settings_in_a_body_never_reach_the_provider() -> TestResult {
    let body = br#"{"fallbacks":["b"],"model":"g","num_retries":2,"messages":[],"timeout":5,"context_window_fallback_dict":{"g":"big"},"user":"u"}"#;
    let view = RequestView::parse(body)?;
    let mut out = Vec::new();
    view.write_request("upstream", false, &mut out);
    assert_eq!(String::from_utf8(out.clone())?, r#"{"model":"upstream","messages":[],"user":"u"}"#);
    view.write_request("upstream", true, &mut out);
    let v: serde_json::Value = serde_json::from_slice(&out)?;
    assert_eq!(v["stream_options"], serde_json::json!({"include_usage": true}));
    // Only routing members: the body is just the model.
    let view = RequestView::parse(br#"{"fallbacks":[]}"#)?;
    view.write_request("m", false, &mut out);
    assert_eq!(out, br#"{"model":"m"}"#);
    Ok(())
}
