//! OpenAI chat and embeddings requests -> Cohere v2 `/v2/chat` and `/v2/embed` bodies.
//!
//! Which OpenAI parameters map follows LiteLLM's `CohereV2ChatConfig.get_supported_openai_params`
//! (`litellm/llms/cohere/chat/v2_transformation.py`: `stream`, `temperature`, `max_tokens`,
//! `max_completion_tokens`, `top_p`, `frequency_penalty`, `presence_penalty`, `stop`, `n`, `tools`,
//! `tool_choice`, `seed`), plus `response_format`, which Cohere v2 takes natively. Where we differ from
//! LiteLLM it is said at the parameter:
//!
//! | OpenAI | Cohere | |
//! |---|---|---|
//! | `temperature`, `seed`, `frequency_penalty`, `presence_penalty` | same name | value copied as sent |
//! | `top_p` | `p` | |
//! | `max_tokens`, `max_completion_tokens` | `max_tokens` | `max_completion_tokens` wins, as in LiteLLM |
//! | `stop` (string or list) | `stop_sequences` (list) | |
//! | `tools` | `tools` | `strict` on any function -> `strict_tools: true` |
//! | `tool_choice` | `tool_choice` | `none` -> `NONE`, `required` -> `REQUIRED`, a named function -> `REQUIRED` with only that tool |
//! | `response_format` | `response_format` | `json_schema` -> `json_object` + its `schema` |
//! | `stream` | `stream` | only `true` is sent |
//! | `n: 1`, `user`, `stream_options`, `metadata`, `store`, `service_tier`, `parallel_tool_calls: true`, `logprobs: false` | - | harmless, dropped |
//! | `n > 1`, `logprobs: true`, `top_logprobs`, `logit_bias`, `parallel_tool_calls: false`, `functions`, `function_call`, `audio`, `modalities`, `prediction`, `reasoning_effort`, `web_search_options`, `verbosity` | - | refused (`UnsupportedParam`) unless `drop_params` |
//! | anything else (`k`, `safety_mode`, `documents`, `citation_options`, `thinking`, ...) | same name | passed on: LiteLLM sends provider-specific params as they are |

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::{decode_str, is_array, is_empty_string, is_null, is_string, write_raw, write_str};
use super::PROVIDER;
use crate::openai::RequestView;
use crate::{RequestOptions, TranslateError};

/// LiteLLM's `COHERE_DEFAULT_EMBEDDING_INPUT_TYPE`: Cohere's v3+ embed models require an `input_type`.
const DEFAULT_INPUT_TYPE: &str = "search_document";

/// The chat body for `POST /v2/chat`.
pub(super) fn chat(view: &RequestView<'_>, model: &str, opts: &RequestOptions) -> Result<Vec<u8>, TranslateError> {
    let Some(messages) = view.get("messages") else {
        return Err(TranslateError::MissingField("messages"));
    };
    let mut body = Body::new(view.body_len() + 128, model);
    body.key("messages");
    write_messages(messages, opts, &mut body.out)?;

    let choice = ToolChoice::read(view.get("tool_choice"))?;
    let mut max_tokens = None;
    let mut passthrough = Vec::new();
    for (key, raw) in view.members() {
        if is_null(raw) {
            // A `null` is "not set" for every OpenAI parameter; Cohere refuses some nulls, so none is sent.
            continue;
        }
        match key {
            "model" | "messages" | "tool_choice" => {}
            "stream" => {
                if view.stream()? {
                    body.key("stream");
                    body.out.extend_from_slice(b"true");
                }
            }
            "temperature" | "seed" | "frequency_penalty" | "presence_penalty" => body.raw(key, raw),
            "top_p" => body.raw("p", raw),
            // LiteLLM: `max_tokens` is used only when `max_completion_tokens` is not given.
            "max_tokens" => {
                max_tokens.get_or_insert(raw);
            }
            "max_completion_tokens" => max_tokens = Some(raw),
            "stop" => {
                body.key("stop_sequences");
                write_stop(raw, &mut body.out)?;
            }
            "tools" => write_tools(raw, &choice, opts, &mut body)?,
            "response_format" => {
                body.key("response_format");
                write_response_format(raw, &mut body.out)?;
            }
            "n" => {
                // LiteLLM maps `n` to `num_generations`, which only Cohere's v1 API had.
                if raw.get() != "1" {
                    refuse("n", opts)?;
                }
            }
            "parallel_tool_calls" => {
                // Cohere may always call several tools at once: `true` is what it does anyway.
                if raw.get() != "true" {
                    refuse(key, opts)?;
                }
            }
            "logprobs" => {
                // Cohere has `logprobs`, but answers them in its own shape, which is not translated.
                if raw.get() != "false" {
                    refuse(key, opts)?;
                }
            }
            // Said to the gateway, not to the model (`stream_options` is read by the gateway for usage).
            "user" | "stream_options" | "metadata" | "store" | "service_tier" => {}
            "top_logprobs" | "logit_bias" | "functions" | "function_call" | "audio" | "modalities" | "prediction"
            | "reasoning_effort" | "web_search_options" | "verbosity" => refuse(key, opts)?,
            _ => passthrough.push((key, raw)),
        }
    }
    if let Some(raw) = max_tokens {
        body.raw("max_tokens", raw);
    }
    if body.has_tools {
        match &choice {
            ToolChoice::Absent | ToolChoice::Auto => {}
            ToolChoice::None => body.string("tool_choice", "NONE"),
            ToolChoice::Required | ToolChoice::Named(_) => body.string("tool_choice", "REQUIRED"),
        }
    } else {
        match &choice {
            // Nothing to forbid or to choose from: "none" without tools asks for nothing.
            ToolChoice::Absent | ToolChoice::Auto | ToolChoice::None => {}
            // Cohere answers that `tools` must be given, which is what the client should hear.
            ToolChoice::Required => body.string("tool_choice", "REQUIRED"),
            ToolChoice::Named(_) => {
                return Err(TranslateError::WrongType {
                    field: "tool_choice",
                    expected: "the name of a function given in `tools`",
                })
            }
        }
    }
    // Provider-specific members last, and never over a member we wrote (`p` and `top_p`, ...).
    for (key, raw) in passthrough {
        if !body.wrote(key) {
            body.raw(key, raw);
        }
    }
    Ok(body.finish())
}

/// What OpenAI's `encoding_format` asks of an embeddings answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodingFormat {
    /// Arrays of numbers (OpenAI's default).
    #[default]
    Float,
    /// Each vector as base64 of its little-endian `f32`s.
    Base64,
}

/// The client's `encoding_format` (absent or `null` is `Float`).
pub fn encoding_format(view: &RequestView<'_>) -> Result<EncodingFormat, TranslateError> {
    let wrong = TranslateError::WrongType { field: "encoding_format", expected: "\"float\" or \"base64\"" };
    let Some(raw) = view.get("encoding_format").filter(|raw| !is_null(raw)) else {
        return Ok(EncodingFormat::Float);
    };
    match decode_str(raw).as_deref() {
        Some("float") => Ok(EncodingFormat::Float),
        Some("base64") => Ok(EncodingFormat::Base64),
        _ => Err(wrong),
    }
}

/// The embed body for `POST /v2/embed`.
///
/// `embedding_types` is always `["float"]`: `encoding_format: "base64"` is made from the floats by
/// [`super::embeddings_response`], byte for byte what OpenAI sends. LiteLLM instead forwards it as Cohere's
/// own `base64` type, whose encoding Cohere does not document.
pub(super) fn embed(view: &RequestView<'_>, model: &str, _opts: &RequestOptions) -> Result<Vec<u8>, TranslateError> {
    let wrong = TranslateError::WrongType { field: "input", expected: "a string or an array of strings" };
    let Some(input) = view.get("input") else {
        return Err(TranslateError::MissingField("input"));
    };
    // Checked here so a bad value is a 400 before anything is sent.
    encoding_format(view)?;
    let mut body = Body::new(view.body_len() + 96, model);
    body.key("texts");
    if is_string(input) {
        body.out.push(b'[');
        write_raw(&mut body.out, input);
        body.out.push(b']');
    } else {
        // Token arrays (`[[1, 2]]`, `[1, 2]`) cannot be embedded by Cohere, which takes text only.
        let items: Vec<&RawValue> = serde_json::from_str(input.get()).map_err(|_| wrong)?;
        if !items.iter().all(|item| is_string(item)) {
            return Err(TranslateError::WrongType { field: "input", expected: "a string or an array of strings" });
        }
        write_raw(&mut body.out, input);
    }
    match view.get("input_type").filter(|raw| !is_null(raw)) {
        // Cohere's own parameter, sent by clients that know it (LiteLLM passes it on too).
        Some(raw) => body.raw("input_type", raw),
        None => body.string("input_type", DEFAULT_INPUT_TYPE),
    }
    body.key("embedding_types");
    body.out.extend_from_slice(b"[\"float\"]");
    for (key, raw) in view.members() {
        if is_null(raw) {
            continue;
        }
        match key {
            "model" | "input" | "input_type" | "encoding_format" | "user" | "embedding_types" => {}
            "dimensions" => body.raw("output_dimension", raw),
            _ if body.wrote(key) => {}
            _ => body.raw(key, raw),
        }
    }
    Ok(body.finish())
}

/// A body being written: `{"model":...` and then `,"key":value` members.
struct Body {
    out: Vec<u8>,
    /// Which of [`KNOWN_KEYS`] are written (bit `i` for `KNOWN_KEYS[i]`), so provider-specific members
    /// never duplicate one.
    written: u32,
    /// At least one tool was written.
    has_tools: bool,
}

impl Body {
    fn new(capacity: usize, model: &str) -> Self {
        let mut out = Vec::with_capacity(capacity);
        out.extend_from_slice(b"{\"model\":");
        write_str(&mut out, model);
        Body { out, written: 1, has_tools: false }
    }

    /// Starts a member: `,"key":`.
    fn key(&mut self, key: &str) {
        self.out.push(b',');
        write_str(&mut self.out, key);
        self.out.push(b':');
        if let Some(i) = KNOWN_KEYS.iter().position(|k| *k == key) {
            self.written |= 1 << i;
        }
    }

    /// Whether `key` is one of ours and is written.
    fn wrote(&self, key: &str) -> bool {
        KNOWN_KEYS.iter().position(|k| *k == key).is_some_and(|i| self.written & (1 << i) != 0)
    }

    /// A member whose value is copied as the client sent it.
    fn raw(&mut self, key: &str, raw: &RawValue) {
        self.key(key);
        write_raw(&mut self.out, raw);
    }

    /// A member with a string value.
    fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        write_str(&mut self.out, value);
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

/// Every member this module writes itself (at most 32); a client member of the same name is not passed on
/// again. `model` comes first: [`Body::new`] writes it.
const KNOWN_KEYS: &[&str] = &[
    "model",
    "messages",
    "stream",
    "temperature",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "p",
    "max_tokens",
    "stop_sequences",
    "tools",
    "strict_tools",
    "tool_choice",
    "response_format",
    "texts",
    "input_type",
    "embedding_types",
    "output_dimension",
];

/// `UnsupportedParam` for `param`, or nothing with `drop_params` (the parameter is then left out).
fn refuse(param: &str, opts: &RequestOptions) -> Result<(), TranslateError> {
    if opts.drop_params {
        return Ok(());
    }
    Err(TranslateError::UnsupportedParam { provider: PROVIDER, param: param.to_owned() })
}

/// OpenAI's `tool_choice`.
enum ToolChoice<'a> {
    Absent,
    Auto,
    None,
    Required,
    /// `{"type":"function","function":{"name":...}}`.
    Named(Cow<'a, str>),
}

impl<'a> ToolChoice<'a> {
    fn read(raw: Option<&'a RawValue>) -> Result<Self, TranslateError> {
        let wrong = TranslateError::WrongType {
            field: "tool_choice",
            expected: "\"auto\", \"none\", \"required\" or {\"type\":\"function\",\"function\":{\"name\":...}}",
        };
        let Some(raw) = raw.filter(|raw| !is_null(raw)) else {
            return Ok(ToolChoice::Absent);
        };
        if is_string(raw) {
            // Cohere's own upper-case values are taken too, for clients written against Cohere.
            return match decode_str(raw).as_deref() {
                Some("auto") => Ok(ToolChoice::Auto),
                Some("none" | "NONE") => Ok(ToolChoice::None),
                Some("required" | "REQUIRED") => Ok(ToolChoice::Required),
                _ => Err(wrong),
            };
        }
        #[derive(Deserialize)]
        struct Named<'a> {
            #[serde(borrow)]
            function: NamedFunction<'a>,
        }
        #[derive(Deserialize)]
        struct NamedFunction<'a> {
            #[serde(borrow)]
            name: Cow<'a, str>,
        }
        let named: Named<'a> = serde_json::from_str(raw.get()).map_err(|_| wrong)?;
        Ok(ToolChoice::Named(named.function.name))
    }
}

/// One entry of OpenAI's `tools`.
#[derive(Deserialize)]
struct Tool<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    function: Option<FunctionDef<'a>>,
}

/// A function tool's definition.
#[derive(Deserialize)]
struct FunctionDef<'a> {
    #[serde(borrow)]
    name: &'a RawValue,
    #[serde(borrow, default)]
    description: Option<&'a RawValue>,
    #[serde(borrow, default)]
    parameters: Option<&'a RawValue>,
    #[serde(default)]
    strict: Option<bool>,
}

/// Writes `,"tools":[...]` (and `strict_tools`) when any function tool is left after `tool_choice`.
///
/// Cohere has no way to force one named tool; offering only that tool with `REQUIRED` is the same
/// constraint. Cohere's strictness is per request: `strict: true` on any function makes all strict.
fn write_tools(
    raw: &RawValue,
    choice: &ToolChoice<'_>,
    opts: &RequestOptions,
    body: &mut Body,
) -> Result<(), TranslateError> {
    let tools: Vec<Tool<'_>> = serde_json::from_str(raw.get())
        .map_err(|_| TranslateError::WrongType { field: "tools", expected: "an array of function tools" })?;
    let mut out = Vec::with_capacity(raw.get().len() + 16);
    let mut strict = false;
    let mut named_found = false;
    for (i, tool) in tools.iter().enumerate() {
        if tool.kind.as_deref().is_some_and(|kind| kind != "function") {
            refuse(&format!("tools[{i}].type"), opts)?;
            continue;
        }
        let Some(function) = &tool.function else {
            return Err(TranslateError::WrongType { field: "tools", expected: "an array of function tools" });
        };
        if let ToolChoice::Named(wanted) = choice {
            if decode_str(function.name).as_deref() != Some(wanted.as_ref()) {
                continue;
            }
            named_found = true;
        }
        strict |= function.strict == Some(true);
        out.push(if out.is_empty() { b'[' } else { b',' });
        out.extend_from_slice(b"{\"type\":\"function\",\"function\":{\"name\":");
        write_raw(&mut out, function.name);
        if let Some(description) = function.description.filter(|d| !is_null(d)) {
            out.extend_from_slice(b",\"description\":");
            write_raw(&mut out, description);
        }
        out.extend_from_slice(b",\"parameters\":");
        match function.parameters.filter(|p| !is_null(p)) {
            Some(parameters) => write_raw(&mut out, parameters),
            // OpenAI: leaving `parameters` out defines a function without parameters.
            None => out.extend_from_slice(b"{\"type\":\"object\",\"properties\":{}}"),
        }
        out.extend_from_slice(b"}}");
    }
    if matches!(choice, ToolChoice::Named(_)) && !named_found {
        return Err(TranslateError::WrongType {
            field: "tool_choice",
            expected: "the name of a function given in `tools`",
        });
    }
    if out.is_empty() {
        return Ok(());
    }
    out.push(b']');
    body.key("tools");
    body.out.extend_from_slice(&out);
    body.has_tools = true;
    if strict {
        body.key("strict_tools");
        body.out.extend_from_slice(b"true");
    }
    Ok(())
}

/// `stop` -> `stop_sequences`: a single string becomes a one-element list.
fn write_stop(raw: &RawValue, out: &mut Vec<u8>) -> Result<(), TranslateError> {
    if is_string(raw) {
        out.push(b'[');
        write_raw(out, raw);
        out.push(b']');
        return Ok(());
    }
    if !is_array(raw) {
        return Err(TranslateError::WrongType { field: "stop", expected: "a string or an array of strings" });
    }
    write_raw(out, raw);
    Ok(())
}

/// `response_format`: `text` and `json_object` are Cohere's own; `json_schema` becomes `json_object` with
/// the schema. Lossy: the schema's `name`, `description` and `strict` have no Cohere field (Cohere always
/// follows a given schema).
fn write_response_format(raw: &RawValue, out: &mut Vec<u8>) -> Result<(), TranslateError> {
    #[derive(Deserialize)]
    struct Format<'a> {
        #[serde(borrow, default)]
        json_schema: Option<Schema<'a>>,
    }
    #[derive(Deserialize)]
    struct Schema<'a> {
        #[serde(borrow, default)]
        schema: Option<&'a RawValue>,
    }
    let wrong = || TranslateError::WrongType {
        field: "response_format",
        expected: "{\"type\": \"text\"}, {\"type\": \"json_object\"} or {\"type\": \"json_schema\", ...}",
    };
    // `json_object` is copied whole: Cohere's own `{"type":"json_object","json_schema":{...}}` is the same.
    #[derive(Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
    }
    let kind: Kind<'_> = serde_json::from_str(raw.get()).map_err(|_| wrong())?;
    match kind.kind.as_ref() {
        "text" => out.extend_from_slice(b"{\"type\":\"text\"}"),
        "json_object" => write_raw(out, raw),
        "json_schema" => {
            let wrong = TranslateError::WrongType { field: "response_format", expected: "a `json_schema` object" };
            let format: Format<'_> = serde_json::from_str(raw.get()).map_err(|_| wrong)?;
            out.extend_from_slice(b"{\"type\":\"json_object\"");
            if let Some(schema) = format.json_schema.and_then(|s| s.schema).filter(|s| !is_null(s)) {
                out.extend_from_slice(b",\"json_schema\":");
                write_raw(out, schema);
            }
            out.push(b'}');
        }
        _ => return Err(wrong()),
    }
    Ok(())
}

/// One OpenAI message.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<InToolCall<'a>>>,
    #[serde(borrow, default)]
    tool_call_id: Option<&'a RawValue>,
}

/// A tool call of an assistant message, replayed to the model.
#[derive(Deserialize)]
struct InToolCall<'a> {
    #[serde(borrow)]
    id: &'a RawValue,
    #[serde(borrow)]
    function: InFunction<'a>,
}

/// The function of a replayed tool call.
#[derive(Deserialize)]
struct InFunction<'a> {
    #[serde(borrow)]
    name: &'a RawValue,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
}

/// One part of a content array.
#[derive(Deserialize)]
struct Part<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<&'a RawValue>,
    #[serde(borrow, default)]
    image_url: Option<&'a RawValue>,
    #[serde(borrow, default)]
    refusal: Option<&'a RawValue>,
}

/// `image_url` of an image part.
#[derive(Deserialize)]
struct ImageUrl<'a> {
    #[serde(borrow)]
    url: &'a RawValue,
    #[serde(borrow, default)]
    detail: Option<&'a RawValue>,
}

/// A message's `content`: a string, a list of parts, or nothing.
enum Content<'a> {
    Absent,
    /// A raw JSON string.
    Text(&'a RawValue),
    Parts(Vec<Part<'a>>),
}

impl<'a> Content<'a> {
    fn read(raw: Option<&'a RawValue>) -> Result<Self, TranslateError> {
        let Some(raw) = raw.filter(|raw| !is_null(raw)) else {
            return Ok(Content::Absent);
        };
        if is_string(raw) {
            return Ok(Content::Text(raw));
        }
        let parts = serde_json::from_str(raw.get()).map_err(|_| TranslateError::WrongType {
            field: "messages",
            expected: "messages whose content is a string or an array of content parts",
        })?;
        Ok(Content::Parts(parts))
    }
}

/// `messages` -> Cohere's `messages`, roles kept in order (`developer` is Cohere's `system`).
///
/// Lossy: a message's `name` has no Cohere field and is left out.
fn write_messages(raw: &RawValue, opts: &RequestOptions, out: &mut Vec<u8>) -> Result<(), TranslateError> {
    let messages: Vec<Message<'_>> = serde_json::from_str(raw.get())
        .map_err(|_| TranslateError::WrongType { field: "messages", expected: "an array of message objects" })?;
    out.push(b'[');
    let mut first = true;
    for (i, message) in messages.iter().enumerate() {
        let start = out.len();
        if !first {
            out.push(b',');
        }
        let written = match message.role.as_ref() {
            "system" | "developer" => write_system(message, out),
            "user" => write_user(i, message, opts, out),
            "assistant" => write_assistant(message, out),
            "tool" => write_tool(message, out),
            // OpenAI's deprecated function-calling messages: Cohere only knows tool messages.
            "function" => refuse(&format!("messages[{i}].role: function"), opts).map(|()| false),
            _ => Err(TranslateError::WrongType {
                field: "messages",
                expected: "messages with role system, developer, user, assistant or tool",
            }),
        }?;
        if written {
            first = false;
        } else {
            out.truncate(start);
        }
    }
    out.push(b']');
    Ok(())
}

/// `{"role":"system","content":...}`: a string, or text parts.
fn write_system(message: &Message<'_>, out: &mut Vec<u8>) -> Result<bool, TranslateError> {
    out.extend_from_slice(b"{\"role\":\"system\",\"content\":");
    match Content::read(message.content)? {
        Content::Absent => out.extend_from_slice(b"\"\""),
        Content::Text(text) => write_raw(out, text),
        Content::Parts(parts) => {
            out.push(b'[');
            for (j, part) in parts.iter().enumerate() {
                let (Some(text), "text") = (part.text, part.kind.as_ref()) else {
                    return Err(TranslateError::WrongType {
                        field: "messages",
                        expected: "system messages whose content parts are text",
                    });
                };
                if j > 0 {
                    out.push(b',');
                }
                write_text_part(out, text);
            }
            out.push(b']');
        }
    }
    out.push(b'}');
    Ok(true)
}

/// `{"role":"user","content":...}`: a string, or text and image parts.
fn write_user(
    i: usize,
    message: &Message<'_>,
    opts: &RequestOptions,
    out: &mut Vec<u8>,
) -> Result<bool, TranslateError> {
    out.extend_from_slice(b"{\"role\":\"user\",\"content\":");
    match Content::read(message.content)? {
        Content::Absent => out.extend_from_slice(b"\"\""),
        Content::Text(text) => write_raw(out, text),
        Content::Parts(parts) => {
            out.push(b'[');
            let mut first = true;
            for (j, part) in parts.iter().enumerate() {
                let sep = if first { None } else { Some(b',') };
                match (part.kind.as_ref(), part.text, part.image_url) {
                    ("text", Some(text), _) => {
                        out.extend(sep);
                        write_text_part(out, text);
                    }
                    ("image_url", _, Some(image)) => {
                        out.extend(sep);
                        write_image_part(out, image)?;
                    }
                    // `input_audio`, `file`, ...: Cohere's chat takes text and images only.
                    (kind, _, _) => {
                        refuse(&format!("messages[{i}].content[{j}]: {kind}"), opts)?;
                        continue;
                    }
                }
                first = false;
            }
            out.push(b']');
        }
    }
    out.push(b'}');
    Ok(true)
}

/// `{"type":"text","text":...}`.
fn write_text_part(out: &mut Vec<u8>, text: &RawValue) {
    out.extend_from_slice(b"{\"type\":\"text\",\"text\":");
    write_raw(out, text);
    out.push(b'}');
}

/// `{"type":"image_url","image_url":{"url","detail"}}`: Cohere takes base64 data URLs and web URLs, and
/// the same `detail` values (`auto`, `low`, `high`) as OpenAI.
fn write_image_part(out: &mut Vec<u8>, image: &RawValue) -> Result<(), TranslateError> {
    out.extend_from_slice(b"{\"type\":\"image_url\",\"image_url\":{\"url\":");
    if is_string(image) {
        // A bare URL string, which LiteLLM accepts too.
        write_raw(out, image);
    } else {
        let image: ImageUrl<'_> = serde_json::from_str(image.get()).map_err(|_| TranslateError::WrongType {
            field: "messages",
            expected: "image parts with an `image_url` object holding a `url`",
        })?;
        write_raw(out, image.url);
        if let Some(detail) = image.detail.filter(|d| !is_null(d)) {
            out.extend_from_slice(b",\"detail\":");
            write_raw(out, detail);
        }
    }
    out.extend_from_slice(b"}}");
    Ok(())
}

/// An assistant turn. With `tool_calls`, its text is Cohere's `tool_plan` (what the model said before
/// calling tools, as Cohere answers it); without, it is `content`.
fn write_assistant(message: &Message<'_>, out: &mut Vec<u8>) -> Result<bool, TranslateError> {
    out.extend_from_slice(b"{\"role\":\"assistant\"");
    let content = Content::read(message.content)?;
    let calls = message.tool_calls.as_deref().unwrap_or_default();
    if calls.is_empty() {
        match content {
            Content::Absent => {}
            Content::Text(text) => {
                out.extend_from_slice(b",\"content\":");
                write_raw(out, text);
            }
            Content::Parts(parts) => {
                out.extend_from_slice(b",\"content\":[");
                // `refusal` parts are what the assistant said: kept as text.
                let texts = parts.iter().filter_map(|p| p.text.or(p.refusal));
                for (j, text) in texts.enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    write_text_part(out, text);
                }
                out.push(b']');
            }
        }
        out.push(b'}');
        return Ok(true);
    }
    match content {
        Content::Absent => {}
        Content::Text(text) if is_empty_string(text) => {}
        Content::Text(text) => {
            out.extend_from_slice(b",\"tool_plan\":");
            write_raw(out, text);
        }
        Content::Parts(parts) => {
            let plan: String = parts.iter().filter_map(|p| p.text.or(p.refusal)).filter_map(decode_str).collect();
            if !plan.is_empty() {
                out.extend_from_slice(b",\"tool_plan\":");
                write_str(out, &plan);
            }
        }
    }
    out.extend_from_slice(b",\"tool_calls\":[");
    for (j, call) in calls.iter().enumerate() {
        if j > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"id\":");
        write_raw(out, call.id);
        out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
        write_raw(out, call.function.name);
        out.extend_from_slice(b",\"arguments\":");
        match call.function.arguments.filter(|a| !is_null(a)) {
            Some(arguments) => write_raw(out, arguments),
            None => out.extend_from_slice(b"\"{}\""),
        }
        out.extend_from_slice(b"}}");
    }
    out.extend_from_slice(b"]}");
    Ok(true)
}

/// `{"role":"tool","tool_call_id":...,"content":...}`: a string, or text parts.
fn write_tool(message: &Message<'_>, out: &mut Vec<u8>) -> Result<bool, TranslateError> {
    let Some(id) = message.tool_call_id.filter(|id| is_string(id)) else {
        return Err(TranslateError::WrongType { field: "messages", expected: "tool messages with a `tool_call_id`" });
    };
    out.extend_from_slice(b"{\"role\":\"tool\",\"tool_call_id\":");
    write_raw(out, id);
    out.extend_from_slice(b",\"content\":");
    match Content::read(message.content)? {
        Content::Absent => out.extend_from_slice(b"\"\""),
        Content::Text(text) => write_raw(out, text),
        Content::Parts(parts) => {
            out.push(b'[');
            for (j, text) in parts.iter().filter_map(|p| p.text).enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                write_text_part(out, text);
            }
            out.push(b']');
        }
    }
    out.push(b'}');
    Ok(true)
}
