//! OpenAI's wire format, the hub of every translation: a zero-copy view of a client's request body that
//! keeps every member byte for byte, and the `{"error": {...}}` body every client sees.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::TranslateError;

pub mod embeddings;
mod restamp;
pub use restamp::{restamp_response, StreamRestamper};

/// The `usage` of an OpenAI answer body (`None` when absent or not an object).
pub fn usage_of(body: &[u8]) -> Option<crate::Usage> {
    let view = RequestView::parse(body).ok()?;
    let usage = view.get("usage")?;
    serde_json::from_str::<WireUsage>(usage.get()).ok().map(|w| w.to_usage())
}

/// OpenAI's `usage` object as providers send it; read borrowed (no allocation), unknown members skipped.
///
/// `cache_creation_input_tokens` and `cache_read_input_tokens` are what LiteLLM (and Anthropic-compatible
/// servers behind an OpenAI API) add; they are parts of `prompt_tokens`, as `prompt_tokens_details.cached_tokens`
/// is.
#[derive(serde::Deserialize)]
pub(crate) struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    pub(crate) total_tokens: Option<u64>,
    prompt_tokens_details: Option<WireDetails>,
    completion_tokens_details: Option<WireDetails>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

/// `prompt_tokens_details` / `completion_tokens_details`.
#[derive(serde::Deserialize)]
struct WireDetails {
    cached_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
}

impl WireUsage {
    /// The usage in [`crate::Usage`]'s terms (absent counts are 0; absent details stay `None`).
    pub(crate) fn to_usage(&self) -> crate::Usage {
        crate::Usage {
            prompt_tokens: self.prompt_tokens.unwrap_or(0),
            completion_tokens: self.completion_tokens.unwrap_or(0),
            cached_tokens: self
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .or(self.cache_read_input_tokens),
            cache_creation_tokens: self.cache_creation_input_tokens,
            reasoning_tokens: self.completion_tokens_details.as_ref().and_then(|d| d.reasoning_tokens),
        }
    }
}

#[cfg(test)]
mod tests;

/// Past this many members, duplicate keys are found through an index instead of a scan, so a hostile body
/// with thousands of members costs O(n log n), not O(n²).
const INDEX_AFTER: usize = 16;

/// LiteLLM's per-request router settings (its `ROUTING_KEYS` and the router kwargs its SDK owns): read by the
/// gateway from a client's body, never sent to a provider.
pub const ROUTING_KEYS: &[&str] = &[
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "context_window_fallback_dict",
    "num_retries",
    "max_retries",
    "timeout",
    "request_timeout",
    "disable_fallbacks",
    "specific_deployment",
    "model_group_retry_policy",
    "mock_testing_fallbacks",
    "router_settings_override",
];

/// A client's JSON object body, parsed once into its top-level members in order; values stay borrowed raw JSON.
///
/// Duplicate keys keep the last value at the first key's position (what `serde_json::Value` with
/// `preserve_order` does), so the view and any later full parse agree on what the client asked for.
#[derive(Debug)]
pub struct RequestView<'a> {
    members: Vec<Member<'a>>,
    /// Key -> position in `members`; built only for large objects (see [`INDEX_AFTER`]).
    index: Option<BTreeMap<Cow<'a, str>, usize>>,
    model: ModelField<'a>,
    body_len: usize,
}

/// One top-level member: the key decoded (escapes resolved), the value as it was sent.
#[derive(Debug)]
struct Member<'a> {
    key: Cow<'a, str>,
    value: &'a RawValue,
}

/// The `model` member, decoded at parse time because routing needs it on every request.
#[derive(Debug)]
enum ModelField<'a> {
    Absent,
    NotAString,
    Str(Cow<'a, str>),
}

impl<'a> RequestView<'a> {
    /// Parses a client body; a non-object gives `NotAnObject`, malformed JSON `InvalidJson`.
    pub fn parse(body: &'a [u8]) -> Result<Self, TranslateError> {
        let first = body.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        if first != Some(&b'{') {
            // Tell "valid JSON, wrong shape" from "not JSON" so the client gets the useful message.
            return match serde_json::from_slice::<IgnoredAny>(body) {
                Ok(_) => Err(TranslateError::NotAnObject),
                Err(e) => Err(TranslateError::InvalidJson(e.to_string())),
            };
        }
        // UTF-8 checked once for the whole body (fast for ASCII), so the parser checks neither each key nor
        // each raw value again; a body that is not UTF-8 goes through the byte parser for its error message.
        let parsed = match std::str::from_utf8(body) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(body),
        };
        let Members { members, index } = parsed.map_err(|e| TranslateError::InvalidJson(e.to_string()))?;
        let mut view = RequestView { members, index, model: ModelField::Absent, body_len: body.len() };
        view.model = match view.get("model") {
            None => ModelField::Absent,
            // OpenAI answers `"model": null` like a missing model.
            Some(raw) if raw.get() == "null" => ModelField::Absent,
            Some(raw) => match serde_json::from_str::<Key<'a>>(raw.get()) {
                Ok(Key(model)) => ModelField::Str(model),
                Err(_) => ModelField::NotAString,
            },
        };
        Ok(view)
    }

    /// The raw JSON of a top-level member, exactly as the client sent it.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        let position = match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.members.iter().position(|m| m.key == key),
        };
        position.and_then(|i| self.members.get(i)).map(|m| m.value)
    }

    /// The requested model (escapes resolved).
    pub fn model(&self) -> Result<&str, TranslateError> {
        match &self.model {
            ModelField::Str(model) => Ok(model),
            ModelField::Absent => Err(TranslateError::MissingField("model")),
            ModelField::NotAString => Err(TranslateError::WrongType { field: "model", expected: "a string" }),
        }
    }

    /// Whether the client asked for a stream; absent or null is `false`.
    pub fn stream(&self) -> Result<bool, TranslateError> {
        let Some(raw) = self.get("stream") else {
            return Ok(false);
        };
        match serde_json::from_str::<Option<bool>>(raw.get()) {
            Ok(stream) => Ok(stream.unwrap_or(false)),
            Err(_) => Err(TranslateError::WrongType { field: "stream", expected: "a boolean" }),
        }
    }

    /// The client's `stream_options.include_usage`; `false` when absent, null or not a boolean.
    pub fn include_usage(&self) -> bool {
        let Some(options) = self.get("stream_options").and_then(|raw| RequestView::parse(raw.get().as_bytes()).ok())
        else {
            return false;
        };
        options.get("include_usage").is_some_and(|raw| raw.get() == "true")
    }

    /// The most completion tokens the client allows: `max_tokens` or `max_completion_tokens`, the larger when
    /// both are set; `None` when neither is a non-negative integer.
    pub fn max_tokens(&self) -> Option<u64> {
        let read = |key| self.get(key).and_then(|raw| serde_json::from_str::<Option<u64>>(raw.get()).ok().flatten());
        match (read("max_tokens"), read("max_completion_tokens")) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// The length in bytes of the body the view was parsed from.
    pub fn body_len(&self) -> usize {
        self.body_len
    }

    /// How many distinct top-level members the body has.
    pub fn len_members(&self) -> usize {
        self.members.len()
    }

    /// The members in their original order: decoded key, raw value.
    pub fn members(&self) -> impl Iterator<Item = (&str, &'a RawValue)> + '_ {
        self.members.iter().map(|m| (m.key.as_ref(), m.value))
    }

    /// Writes the object back with `model` set to `model` into `out` (cleared first); one pass, no re-parse.
    ///
    /// Members keep their original order and their values byte for byte; keys are re-escaped canonically.
    /// A body without `model` gets it as its last member. Whitespace between members is not kept.
    pub fn write_with_model(&self, model: &str, out: &mut Vec<u8>) {
        self.write_rewritten(model, false, false, out);
    }

    /// The body for an OpenAI-compatible provider: [`Self::write_with_model`] (with the usage asked for when
    /// `include_usage`, see [`Self::write_with_model_and_usage`]) and without LiteLLM's per-request router
    /// settings ([`ROUTING_KEYS`]), which are the gateway's and never reach a provider (as in LiteLLM).
    pub fn write_request(&self, model: &str, include_usage: bool, out: &mut Vec<u8>) {
        self.write_rewritten(model, include_usage, true, out);
    }

    /// [`Self::write_with_model`], and `stream_options.include_usage` set to `true`, in the same pass.
    ///
    /// For a stream sent upstream, so the provider always says the usage (the client may not have asked; the
    /// stream translator then drops the usage chunk). Other members of `stream_options` are kept byte for byte
    /// and `include_usage` keeps its position; a missing or null `stream_options` becomes
    /// `{"include_usage":true}` (the last member when missing). A `stream_options` that is not an object is
    /// left as it is, for the provider to refuse as it would have.
    pub fn write_with_model_and_usage(&self, model: &str, out: &mut Vec<u8>) {
        self.write_rewritten(model, true, false, out);
    }

    fn write_rewritten(&self, model: &str, include_usage: bool, strip_routing: bool, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(self.body_len + model.len() + if include_usage { 48 } else { 16 });
        out.push(b'{');
        let mut wrote_model = false;
        let mut wrote_options = false;
        let mut first = true;
        for member in &self.members {
            if strip_routing && ROUTING_KEYS.contains(&member.key.as_ref()) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            write_json_str(out, &member.key);
            out.push(b':');
            if member.key == "model" {
                write_json_str(out, model);
                wrote_model = true;
            } else if include_usage && member.key == "stream_options" {
                write_stream_options(member.value, out);
                wrote_options = true;
            } else {
                out.extend_from_slice(member.value.get().as_bytes());
            }
        }
        if !wrote_model {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(b"\"model\":");
            write_json_str(out, model);
        }
        if include_usage && !wrote_options {
            out.extend_from_slice(b",\"stream_options\":{\"include_usage\":true}");
        }
        out.push(b'}');
    }
}

/// Writes a client's `stream_options` with `include_usage` set to `true` (see
/// [`RequestView::write_with_model_and_usage`]); parses only this small member, never the body again.
fn write_stream_options(raw: &RawValue, out: &mut Vec<u8>) {
    if raw.get() == "null" {
        out.extend_from_slice(b"{\"include_usage\":true}");
        return;
    }
    let Ok(options) = RequestView::parse(raw.get().as_bytes()) else {
        // Not an object: the provider judges it, as it would have without us.
        out.extend_from_slice(raw.get().as_bytes());
        return;
    };
    out.push(b'{');
    let mut wrote = false;
    for (i, (key, value)) in options.members().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, key);
        out.push(b':');
        if key == "include_usage" {
            out.extend_from_slice(b"true");
            wrote = true;
        } else {
            out.extend_from_slice(value.get().as_bytes());
        }
    }
    if !wrote {
        if options.len_members() > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"\"include_usage\":true");
    }
    out.push(b'}');
}

/// The top-level members as the visitor collects them.
struct Members<'a> {
    members: Vec<Member<'a>>,
    index: Option<BTreeMap<Cow<'a, str>, usize>>,
}

impl<'a> Members<'a> {
    /// Adds a member; a repeated key overwrites the earlier value in place.
    fn insert(&mut self, key: Cow<'a, str>, value: &'a RawValue) {
        let position = match &self.index {
            Some(index) => index.get(&key).copied(),
            None => self.members.iter().position(|m| m.key == key),
        };
        if let Some(member) = position.and_then(|i| self.members.get_mut(i)) {
            member.value = value;
            return;
        }
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.members.len());
        }
        self.members.push(Member { key, value });
        if self.index.is_none() && self.members.len() > INDEX_AFTER {
            let index = self.members.iter().enumerate().map(|(i, m)| (m.key.clone(), i)).collect();
            self.index = Some(index);
        }
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// Collects an object's members without touching their values.
struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Members { members: Vec::with_capacity(map.size_hint().unwrap_or(8)), index: None };
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            members.insert(key, value);
        }
        Ok(members)
    }
}

/// A JSON string borrowed from the body when it has no escapes, decoded into an owned string when it has.
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// For `#[serde(deserialize_with)]` on an `Option<Cow<str>>` field: serde's own `Option<Cow<str>>` copies every
/// string even under `#[serde(borrow)]` (the borrow applies only to a bare `Cow`); this borrows from the body
/// when the string has no escapes, as [`Key`] does. Null and absent (with `default`) are `None`.
pub(crate) fn opt_str<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    Ok(Option::<Key<'de>>::deserialize(deserializer)?.map(|Key(s)| s))
}

/// Builds a [`Key`]; serde's own `Cow<str>` always copies, which is what this avoids.
struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

/// Writes `s` as a JSON string literal, escaped exactly as serde_json escapes it (the one escaper every
/// translator writes strings with).
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_json_str_body(out, s);
    out.push(b'"');
}

/// Writes `s` escaped for the inside of a JSON string literal, without the quotes, so pieces of one
/// string can be written one after the other.
pub fn write_json_str_body(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    // Most strings (names, keys, prose) need no escape: checked eight bytes at a time, then one copy,
    // instead of a branch and a push per byte.
    if !needs_escape(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Whether any byte of `bytes` must be escaped in a JSON string: a control character, `"` or `\\`.
///
/// Eight bytes per step with the "has a zero byte" bit trick (as serde_json's own scanner): a byte below
/// 0x20 borrows when 0x20 is subtracted, and `"` / `\\` become zero bytes when xored with their own value.
/// Only the yes/no answer is used, which the trick gives exactly.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        let control = v.wrapping_sub(ONES * 0x20) & !v;
        let quote = v ^ (ONES * u64::from(b'"'));
        let quote = quote.wrapping_sub(ONES) & !quote;
        let backslash = v ^ (ONES * u64::from(b'\\'));
        let backslash = backslash.wrapping_sub(ONES) & !backslash;
        if (control | quote | backslash) & HIGH != 0 {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// OpenAI's error body: `{"error":{"message","type","param","code"}}`, `param`/`code` null when `None`.
pub fn error_body(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Vec<u8> {
    let body = serde_json::json!({
        "error": { "message": message, "type": kind, "param": param, "code": code }
    });
    body.to_string().into_bytes()
}
