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
pub use restamp::{restamp_model, StreamRestamper};

/// The `usage` of an OpenAI answer body (`None` when absent or not an object).
pub fn usage_of(body: &[u8]) -> Option<crate::Usage> {
    #[derive(serde::Deserialize)]
    struct Details {
        cached_tokens: Option<u64>,
        reasoning_tokens: Option<u64>,
    }
    #[derive(serde::Deserialize)]
    struct Wire {
        prompt_tokens: Option<u64>,
        completion_tokens: Option<u64>,
        prompt_tokens_details: Option<Details>,
        completion_tokens_details: Option<Details>,
    }
    let view = RequestView::parse(body).ok()?;
    let usage = view.get("usage")?;
    let w: Wire = serde_json::from_str(usage.get()).ok()?;
    Some(crate::Usage {
        prompt_tokens: w.prompt_tokens.unwrap_or(0),
        completion_tokens: w.completion_tokens.unwrap_or(0),
        cached_tokens: w.prompt_tokens_details.and_then(|d| d.cached_tokens),
        cache_creation_tokens: None,
        reasoning_tokens: w.completion_tokens_details.and_then(|d| d.reasoning_tokens),
    })
}

#[cfg(test)]
mod tests;

/// Past this many members, duplicate keys are found through an index instead of a scan, so a hostile body
/// with thousands of members costs O(n log n), not O(n²).
const INDEX_AFTER: usize = 16;

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
        let Members { members, index } =
            serde_json::from_slice(body).map_err(|e| TranslateError::InvalidJson(e.to_string()))?;
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
        out.clear();
        out.reserve(self.body_len + model.len() + 16);
        out.push(b'{');
        let mut wrote_model = false;
        for (i, member) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_str(out, &member.key);
            out.push(b':');
            if member.key == "model" {
                write_json_str(out, model);
                wrote_model = true;
            } else {
                out.extend_from_slice(member.value.get().as_bytes());
            }
        }
        if !wrote_model {
            if !self.members.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"model\":");
            write_json_str(out, model);
        }
        out.push(b'}');
    }
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

/// OpenAI's error body: `{"error":{"message","type","param","code"}}`, `param`/`code` null when `None`.
pub fn error_body(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Vec<u8> {
    let body = serde_json::json!({
        "error": { "message": message, "type": kind, "param": param, "code": code }
    });
    body.to_string().into_bytes()
}
