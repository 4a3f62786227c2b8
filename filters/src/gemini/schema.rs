//! JSON Schema (what OpenAI tools and `response_format` carry) -> Gemini's `Schema` (a subset of OpenAPI 3.0),
//! as LiteLLM's `_build_vertex_schema` does it (`litellm/llms/vertex_ai/common_utils.py`).
//!
//! Gemini refuses a function declaration or `responseSchema` holding a member it does not know
//! (`Invalid JSON payload received. Unknown name "additionalProperties"`), so the schema is rewritten:
//! - `$ref` to `#/$defs/X` or `#/definitions/X` is replaced by the definition (Gemini's `Schema` has no
//!   references); a reference cycle deeper than [`MAX_DEPTH`] is refused.
//! - `type: ["string", "null"]`, and `anyOf`/`oneOf` with a `{"type": "null"}` branch, become
//!   `nullable: true`; a union left with one branch (and a one-branch `allOf`) is inlined. `oneOf` is sent as
//!   `anyOf` (lossy: "exactly one" becomes "at least one"); an `allOf` of several is dropped (lossy).
//! - `const: v` becomes `enum: [v]`; `items: {}` becomes `items: {"type": "object"}`; a schema with
//!   `properties` and no `type` gets `type: "object"`.
//! - Every member outside Gemini's `Schema` fields is dropped (lossy: `additionalProperties`, `$schema`,
//!   `strict`, `examples`, `exclusiveMinimum`, `uniqueItems`, `patternProperties`, ... constrain nothing on
//!   Gemini's side).
//! - For `responseSchema` only, `propertyOrdering` is set from the order of `properties`, since Gemini
//!   otherwise answers with the keys sorted alphabetically.
//!
//! [`Schema`] reads a schema only as deep as the rewrite needs: sub-schemas (`properties`, `items`,
//! `anyOf`, ...) are trees that keep member order, every other value (descriptions, `enum`, `required`,
//! defaults) stays the raw JSON text the client sent and is written back byte for byte. That keeps the
//! rewrite to one parse and no re-escaping of the bulk of a schema.

use crate::openai::Key;
use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::value::RawValue;

use super::json;

/// How deep `$ref` resolution and nesting may go before a schema is refused as cyclic or hostile.
pub const MAX_DEPTH: usize = 32;

/// Whether `key` is a member of Gemini's `Schema` object (LiteLLM's `Schema` TypedDict in
/// `types/llms/vertex_ai.py`); a `match`, which compiles to a length switch and a few compares per key.
fn is_schema_field(key: &str) -> bool {
    matches!(
        key,
        "type"
            | "format"
            | "title"
            | "description"
            | "nullable"
            | "default"
            | "items"
            | "minItems"
            | "maxItems"
            | "enum"
            | "properties"
            | "propertyOrdering"
            | "required"
            | "minProperties"
            | "maxProperties"
            | "minimum"
            | "maximum"
            | "minLength"
            | "maxLength"
            | "pattern"
            | "example"
            | "anyOf"
    )
}

/// A JSON Schema: an object whose sub-schemas are parsed and whose other members stay raw, or a boolean.
#[derive(Debug, Clone)]
pub enum Schema<'a> {
    /// A schema object, members in their original order.
    Object(Vec<(Cow<'a, str>, Member<'a>)>),
    /// `true` (anything) or `false` (nothing).
    Bool(bool),
}

/// The value of one member of a schema object.
#[derive(Debug, Clone)]
pub enum Member<'a> {
    /// `items`: a sub-schema.
    Schema(Schema<'a>),
    /// `properties`, `$defs`, `definitions`: named sub-schemas.
    Named(Vec<(Cow<'a, str>, Schema<'a>)>),
    /// `anyOf`, `oneOf`, `allOf`: sub-schemas.
    List(Vec<Schema<'a>>),
    /// Any other member, as the client sent it.
    Raw(&'a RawValue),
    /// A boolean made by the rewrite (`nullable`).
    Bool(bool),
    /// A string made by the rewrite (`type`).
    Str(Cow<'a, str>),
    /// An array of raw values made by the rewrite (`enum: [const]`).
    RawList(Vec<&'a RawValue>),
    /// An array of strings made by the rewrite (`propertyOrdering`).
    Names(Vec<Cow<'a, str>>),
}

impl<'a> Schema<'a> {
    /// Parses a schema from JSON text.
    pub fn parse(text: &'a str) -> Result<Schema<'a>, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The member `key`, if this is an object that has it.
    fn get(&self, key: &str) -> Option<&Member<'a>> {
        match self {
            Schema::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Schema::Bool(_) => None,
        }
    }

    /// Whether this is `{"type": "null", ...}`.
    fn is_null_type(&self) -> bool {
        matches!(self.get("type"), Some(Member::Raw(raw)) if json::str_of(raw).as_deref() == Some("null"))
    }
}

/// Why a schema could not be rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaError {
    /// A `$ref` that does not point into `$defs`/`definitions`, or names nothing there.
    UnresolvedRef(String),
    /// References or nesting deeper than [`MAX_DEPTH`] (a recursive schema).
    TooDeep,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaError::UnresolvedRef(r) => write!(f, "the schema reference {r:?} cannot be resolved"),
            SchemaError::TooDeep => write!(f, "the schema nests or recurses deeper than {MAX_DEPTH} levels"),
        }
    }
}

/// Rewrites a JSON Schema into Gemini's `Schema`; `ordering` adds `propertyOrdering` (for `responseSchema`).
pub fn to_gemini(schema: Schema<'_>, ordering: bool) -> Result<Schema<'_>, SchemaError> {
    let Schema::Object(mut members) = schema else {
        return Ok(schema);
    };
    // Definitions live at the root; they are taken out so they are not sent, and resolved on use.
    let mut defs = Vec::new();
    members.retain_mut(|(k, v)| {
        if k == "$defs" || k == "definitions" {
            if let Member::Named(d) = std::mem::replace(v, Member::Bool(false)) {
                defs.extend(d);
            }
            return false;
        }
        true
    });
    clean(Schema::Object(members), &defs, 0, ordering)
}

/// Rewrites one schema object (see the module doc).
fn clean<'a>(
    schema: Schema<'a>,
    defs: &[(Cow<'a, str>, Schema<'a>)],
    depth: usize,
    ordering: bool,
) -> Result<Schema<'a>, SchemaError> {
    if depth > MAX_DEPTH {
        return Err(SchemaError::TooDeep);
    }
    let Schema::Object(members) = schema else {
        return Ok(schema);
    };
    let mut nullable = false;
    let mut inline: Option<Schema<'a>> = None;
    // Each member gives at most one member back, so the result is collected in place: the parsed
    // vector's allocation is reused instead of a new one per schema object.
    let mut failed = None;
    let mut out: Vec<(Cow<'a, str>, Member<'a>)> = members
        .into_iter()
        .filter_map(|(key, value)| {
            if failed.is_some() {
                return None;
            }
            clean_member(key, value, defs, depth, ordering, &mut nullable, &mut inline).unwrap_or_else(|e| {
                failed = Some(e);
                None
            })
        })
        .collect();
    if let Some(e) = failed {
        return Err(e);
    }
    // A `$ref` or a one-branch union: the target's members, under what the referring schema said itself.
    if let Some(Schema::Object(target)) = inline {
        for (k, v) in target {
            if !out.iter().any(|(existing, _)| *existing == k) {
                out.push((k, v));
            }
        }
    }
    if nullable && !out.iter().any(|(k, _)| k == "nullable") {
        out.push((Cow::Borrowed("nullable"), Member::Bool(true)));
    }
    let has_properties = out.iter().any(|(k, _)| k == "properties");
    if has_properties && !out.iter().any(|(k, _)| k == "type" || k == "anyOf") {
        out.push((Cow::Borrowed("type"), Member::Str(Cow::Borrowed("object"))));
    }
    if ordering && !out.iter().any(|(k, _)| k == "propertyOrdering") {
        let names = out.iter().find_map(|(k, v)| match (k.as_ref(), v) {
            ("properties", Member::Named(props)) if !props.is_empty() => {
                Some(props.iter().map(|(name, _)| name.clone()).collect::<Vec<_>>())
            }
            _ => None,
        });
        if let Some(names) = names {
            out.push((Cow::Borrowed("propertyOrdering"), Member::Names(names)));
        }
    }
    Ok(Schema::Object(out))
}

/// One member of a schema object, rewritten (see the module doc): `None` when it is dropped or only sets
/// `nullable` / `inline` (the target of a `$ref` or of a one-branch union, merged in by [`clean`]).
fn clean_member<'a>(
    key: Cow<'a, str>,
    value: Member<'a>,
    defs: &[(Cow<'a, str>, Schema<'a>)],
    depth: usize,
    ordering: bool,
    nullable: &mut bool,
    inline: &mut Option<Schema<'a>>,
) -> Result<Option<(Cow<'a, str>, Member<'a>)>, SchemaError> {
    match (key.as_ref(), value) {
        ("$ref", Member::Raw(raw)) => {
            let target = json::str_of(raw).unwrap_or_default();
            let name = target.strip_prefix("#/$defs/").or_else(|| target.strip_prefix("#/definitions/"));
            let Some(def) = name.and_then(|n| defs.iter().find(|(k, _)| k == n)).map(|(_, d)| d.clone()) else {
                return Err(SchemaError::UnresolvedRef(target.into_owned()));
            };
            *inline = Some(clean(def, defs, depth + 1, ordering)?);
        }
        ("type", Member::Raw(raw)) if raw.get().starts_with('[') => {
            let types: Vec<Cow<'a, str>> = serde_json::from_str::<Vec<&'a RawValue>>(raw.get())
                .ok()
                .and_then(|items| items.into_iter().map(json::str_of).collect())
                .unwrap_or_default();
            let mut kept: Vec<Cow<'a, str>> = Vec::with_capacity(types.len());
            for t in types {
                if t == "null" {
                    *nullable = true;
                } else {
                    kept.push(t);
                }
            }
            if kept.len() == 1 {
                return Ok(kept.pop().map(|t| (key, Member::Str(t))));
            } else if kept.len() > 1 {
                // Several types: a union of single-typed schemas (Gemini's `type` is one value).
                let branches =
                    kept.into_iter().map(|t| Schema::Object(vec![(Cow::Borrowed("type"), Member::Str(t))])).collect();
                return Ok(Some((Cow::Borrowed("anyOf"), Member::List(branches))));
            }
        }
        ("type", Member::Raw(raw)) if json::str_of(raw).as_deref() == Some("null") => *nullable = true,
        ("anyOf" | "oneOf", Member::List(branches)) => {
            let mut kept = Vec::with_capacity(branches.len());
            for branch in branches {
                if branch.is_null_type() {
                    *nullable = true;
                    continue;
                }
                kept.push(clean(branch, defs, depth + 1, ordering)?);
            }
            if kept.len() == 1 {
                *inline = kept.pop();
            } else if !kept.is_empty() {
                return Ok(Some((Cow::Borrowed("anyOf"), Member::List(kept))));
            }
        }
        // pydantic writes a described reference as `{"allOf": [{"$ref": ...}], "description": ...}`.
        ("allOf", Member::List(mut branches)) if branches.len() == 1 => {
            *inline = branches.pop().map(|b| clean(b, defs, depth + 1, ordering)).transpose()?;
        }
        ("properties", Member::Named(props)) => {
            // Collected in place: the parsed vector's allocation is reused.
            let cleaned = props
                .into_iter()
                .map(|(name, prop)| Ok((name, clean(prop, defs, depth + 1, ordering)?)))
                .collect::<Result<Vec<_>, SchemaError>>()?;
            return Ok(Some((key, Member::Named(cleaned))));
        }
        ("items", Member::Schema(items)) => {
            let items = match items {
                Schema::Object(m) if m.is_empty() => {
                    Schema::Object(vec![(Cow::Borrowed("type"), Member::Str(Cow::Borrowed("object")))])
                }
                other => clean(other, defs, depth + 1, ordering)?,
            };
            return Ok(Some((key, Member::Schema(items))));
        }
        ("const", Member::Raw(raw)) => return Ok(Some((Cow::Borrowed("enum"), Member::RawList(vec![raw])))),
        (k, value @ Member::Raw(_)) if is_schema_field(k) => return Ok(Some((key, value))),
        // Outside Gemini's Schema, or of a shape Gemini does not take: dropped (see the module doc).
        _ => {}
    }
    Ok(None)
}

/// Whether a cleaned `parameters` schema is an object without properties (Gemini refuses those:
/// "properties: should be non-empty for OBJECT type"), so the declaration is sent without parameters.
pub fn is_empty_object(schema: &Schema<'_>) -> bool {
    let Schema::Object(members) = schema else {
        return false;
    };
    let props_empty = match schema.get("properties") {
        None => true,
        Some(Member::Named(p)) => p.is_empty(),
        Some(_) => false,
    };
    props_empty && members.iter().all(|(k, _)| matches!(k.as_ref(), "type" | "properties" | "required" | "title"))
}

impl<'de: 'a, 'a> Deserialize<'de> for Schema<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SchemaVisitor)
    }
}

/// Builds a [`Schema`]: sub-schema members recursively, the others as raw values.
struct SchemaVisitor;

impl<'de> Visitor<'de> for SchemaVisitor {
    type Value = Schema<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON schema (an object or a boolean)")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Schema::Bool(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members: Vec<(Cow<'de, str>, Member<'de>)> = Vec::with_capacity(map.size_hint().unwrap_or(4));
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let value = match key.as_ref() {
                "properties" | "$defs" | "definitions" => Member::Named(map.next_value::<Named<'de>>()?.0),
                "items" => match map.next_value::<ItemsValue<'de>>()? {
                    ItemsValue(Ok(schema)) => Member::Schema(schema),
                    // Tuple `items: [...]` (draft 4-7): kept raw, and dropped by the rewrite.
                    ItemsValue(Err(raw)) => Member::Raw(raw),
                },
                "anyOf" | "oneOf" | "allOf" => Member::List(map.next_value::<Vec<Schema<'de>>>()?),
                _ => Member::Raw(map.next_value::<&'de RawValue>()?),
            };
            // A repeated key keeps the last value at the first position, as serde_json's Value does.
            if let Some(slot) = members.iter_mut().find(|(k, _)| *k == key) {
                slot.1 = value;
            } else {
                members.push((key, value));
            }
        }
        Ok(Schema::Object(members))
    }
}

/// `items`: a schema, or (draft 4-7 tuples) an array kept raw.
struct ItemsValue<'a>(Result<Schema<'a>, &'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for ItemsValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(deserializer)?;
        if raw.get().starts_with('[') {
            return Ok(ItemsValue(Err(raw)));
        }
        Schema::parse(raw.get()).map(|s| ItemsValue(Ok(s))).map_err(serde::de::Error::custom)
    }
}

/// `properties` / `$defs`: name -> schema, in order.
struct Named<'a>(Vec<(Cow<'a, str>, Schema<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Named<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(NamedVisitor)
    }
}

/// Builds [`Named`].
struct NamedVisitor;

impl<'de> Visitor<'de> for NamedVisitor {
    type Value = Named<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of named schemas")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut named = Vec::with_capacity(map.size_hint().unwrap_or(4));
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            named.push((key, map.next_value::<Schema<'de>>()?));
        }
        Ok(Named(named))
    }
}

impl Schema<'_> {
    /// Writes the schema as JSON straight into `out`: what its `Serialize` writes, without going through a
    /// `Serializer` (raw members are copied byte for byte).
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match self {
            Schema::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Schema::Object(members) => {
                out.push(b'{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json::write_str(out, k);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

impl Member<'_> {
    /// Writes the member's value as JSON (see [`Schema::write`]).
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Member::Schema(schema) => schema.write(out),
            Member::Named(named) => {
                out.push(b'{');
                for (i, (k, v)) in named.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json::write_str(out, k);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
            Member::List(list) => {
                out.push(b'[');
                for (i, item) in list.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            Member::Raw(raw) => out.extend_from_slice(raw.get().as_bytes()),
            Member::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Member::Str(s) => json::write_str(out, s),
            Member::RawList(items) => {
                out.push(b'[');
                for (i, raw) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(raw.get().as_bytes());
                }
                out.push(b']');
            }
            Member::Names(names) => {
                out.push(b'[');
                for (i, name) in names.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json::write_str(out, name);
                }
                out.push(b']');
            }
        }
    }
}

impl Serialize for Schema<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Schema::Bool(b) => serializer.serialize_bool(*b),
            Schema::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

impl Serialize for Member<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Member::Schema(schema) => schema.serialize(serializer),
            Member::Named(named) => {
                let mut map = serializer.serialize_map(Some(named.len()))?;
                for (k, v) in named {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
            Member::List(list) => {
                let mut seq = serializer.serialize_seq(Some(list.len()))?;
                for item in list {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Member::Raw(raw) => raw.serialize(serializer),
            Member::Bool(b) => serializer.serialize_bool(*b),
            Member::Str(s) => serializer.serialize_str(s),
            Member::RawList(items) => items.serialize(serializer),
            Member::Names(names) => names.serialize(serializer),
        }
    }
}
