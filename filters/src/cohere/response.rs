//! Cohere v2 answers -> OpenAI answers: the chat answer, the finish-reason table, usage, embeddings.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::json::{is_array, write_base64, write_raw, write_str, write_u64};
use super::request::EncodingFormat;
use super::wire::{self, ChatResponse, EmbedResponse, EmbeddingsByType, WireUsage};
use crate::{ResponseMeta, TranslateError, Usage};

/// Cohere's `finish_reason` -> OpenAI's: the one table, used by answers and streams.
///
/// | Cohere | OpenAI | why |
/// |---|---|---|
/// | `COMPLETE` | `stop`; `tool_calls` when tool calls were made | Cohere may end a tool-calling turn with `COMPLETE`, and OpenAI clients run tools only on `tool_calls` |
/// | `STOP_SEQUENCE` | `stop` | |
/// | `MAX_TOKENS` | `length` | |
/// | `TOOL_CALL` | `tool_calls` | |
/// | `ERROR`, `TIMEOUT` | `stop` | lossy, as LiteLLM's `map_finish_reason`: OpenAI has no error reason. In a stream they are an error event instead (see [`super::Stream`]) |
/// | absent or unknown | `stop` (`tool_calls` when tool calls were made) | |
pub fn finish_reason(cohere: Option<&str>, made_tool_calls: bool) -> &'static str {
    match cohere {
        Some("MAX_TOKENS") => "length",
        Some("TOOL_CALL") => "tool_calls",
        _ if made_tool_calls => "tool_calls",
        // `COMPLETE`, `STOP_SEQUENCE`; lossy for `ERROR`, `TIMEOUT`, unknown and absent reasons.
        _ => "stop",
    }
}

/// Cohere's `usage` in OpenAI's terms (the Cohere row of the table in [`crate::usage`]).
///
/// `tokens` counts every token the model read and wrote, `billed_units` only what Cohere charges (it
/// leaves out tokens Cohere adds to the prompt itself). OpenAI's usage, like LiteLLM's, is the former;
/// `billed_units` is used only when `tokens` is missing. `cached_tokens` is part of the input tokens.
pub(super) fn usage_of(usage: Option<&WireUsage>) -> Usage {
    let tokens = usage.and_then(|u| u.tokens.as_ref());
    let billed = usage.and_then(|u| u.billed_units.as_ref());
    let prompt = tokens.and_then(|t| t.input_tokens).or_else(|| billed.and_then(|b| b.input_tokens));
    let completion = tokens.and_then(|t| t.output_tokens).or_else(|| billed.and_then(|b| b.output_tokens));
    Usage {
        prompt_tokens: prompt.map_or(0, wire::count),
        completion_tokens: completion.map_or(0, wire::count),
        cached_tokens: usage.and_then(|u| u.cached_tokens).map(wire::count),
        cache_creation_tokens: None,
        reasoning_tokens: None,
    }
}

/// A `chat.completion` for a `/v2/chat` answer.
pub(super) fn chat(body: &[u8], meta: &ResponseMeta<'_>) -> Result<(Vec<u8>, Usage), TranslateError> {
    let answer: ChatResponse<'_> = serde_json::from_str(utf8(body)?)
        .map_err(|e| TranslateError::ProviderBody(format!("cohere chat answer: {e}")))?;
    let Some(message) = answer.message else {
        return Err(TranslateError::ProviderBody("cohere chat answer without `message`".to_owned()));
    };
    let blocks = message.content.as_deref().unwrap_or_default();
    let calls = message.tool_calls.as_deref().unwrap_or_default();
    let text = join(blocks.iter().filter(|b| b.kind.as_deref() != Some("thinking")).filter_map(|b| b.text.as_ref()));
    let thinking = join(blocks.iter().filter_map(|b| b.thinking.as_ref()));
    let plan = message.tool_plan.filter(|p| !p.is_empty());
    // The tool plan is the text said before calling tools, which is `content` in OpenAI's message
    // (and goes back as `tool_plan` in the next request). Lossy: a plan next to answer text is dropped.
    let content = match (text, plan) {
        (Some(text), _) if !text.is_empty() => Some(text),
        (_, Some(plan)) => Some(plan),
        (_, None) if !calls.is_empty() => None,
        (text, None) => text,
    };
    let usage = usage_of(answer.usage.as_ref());

    let mut out = Vec::with_capacity(body.len() + 256);
    out.extend_from_slice(b"{\"id\":");
    write_str(&mut out, meta.id);
    out.extend_from_slice(b",\"object\":\"chat.completion\",\"created\":");
    write_u64(&mut out, meta.created);
    out.extend_from_slice(b",\"model\":");
    write_str(&mut out, meta.model);
    // `refusal` is required in OpenAI's schema; Cohere has no refusal of its own.
    out.extend_from_slice(
        b",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"refusal\":null,\"content\":",
    );
    match &content {
        Some(content) => write_str(&mut out, content),
        None => out.extend_from_slice(b"null"),
    }
    if let Some(thinking) = &thinking {
        // LiteLLM's name for a model's reasoning text.
        out.extend_from_slice(b",\"reasoning_content\":");
        write_str(&mut out, thinking);
    }
    if !calls.is_empty() {
        out.extend_from_slice(b",\"tool_calls\":[");
        for (i, call) in calls.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let function = call.function.as_ref();
            out.extend_from_slice(b"{\"id\":");
            write_raw_or(&mut out, call.id, b"\"\"");
            out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
            write_raw_or(&mut out, function.and_then(|f| f.name), b"\"\"");
            out.extend_from_slice(b",\"arguments\":");
            write_raw_or(&mut out, function.and_then(|f| f.arguments), b"\"{}\"");
            out.extend_from_slice(b"}}");
        }
        out.push(b']');
    }
    out.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":\"");
    out.extend_from_slice(finish_reason(answer.finish_reason.as_deref(), !calls.is_empty()).as_bytes());
    out.extend_from_slice(b"\"}],\"usage\":");
    write_usage(&mut out, &usage)?;
    out.push(b'}');
    Ok((out, usage))
}

/// OpenAI's embeddings `list` for a `/v2/embed` answer, vectors as `format` asks.
///
/// Usage is Cohere's `meta.billed_units.input_tokens` (what LiteLLM reports), else `meta.tokens`.
/// `Base64` is standard base64 of each vector's little-endian `f32`s, as OpenAI encodes it; Cohere's
/// floats are narrowed to `f32` for it (lossless for the floats Cohere sends, which are `f32` values).
pub fn embeddings_response(
    body: &[u8],
    meta: &ResponseMeta<'_>,
    format: EncodingFormat,
) -> Result<(Vec<u8>, Usage), TranslateError> {
    let bad = |what: &str| TranslateError::ProviderBody(format!("cohere embed answer: {what}"));
    let answer: EmbedResponse<'_> = serde_json::from_str(utf8(body)?).map_err(|e| bad(&e.to_string()))?;
    let Some(embeddings) = answer.embeddings else {
        return Err(bad("no `embeddings`"));
    };
    let vectors: Vec<&RawValue> = if is_array(embeddings) {
        serde_json::from_str(embeddings.get()).map_err(|e| bad(&e.to_string()))?
    } else {
        let by_type: EmbeddingsByType<'_> = serde_json::from_str(embeddings.get()).map_err(|e| bad(&e.to_string()))?;
        by_type.float.ok_or_else(|| bad("no `float` embeddings"))?
    };
    let meta_units = answer.meta.as_ref();
    let tokens = meta_units
        .and_then(|m| m.billed_units.as_ref())
        .and_then(|b| b.input_tokens)
        .or_else(|| meta_units.and_then(|m| m.tokens.as_ref()).and_then(|t| t.input_tokens))
        .map_or(0, wire::count);

    let mut out = Vec::with_capacity(body.len() + 64 * vectors.len() + 128);
    out.extend_from_slice(b"{\"object\":\"list\",\"data\":[");
    let mut floats = Vec::new();
    let mut bytes = Vec::new();
    for (index, vector) in vectors.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"object\":\"embedding\",\"index\":");
        write_u64(&mut out, index as u64);
        out.extend_from_slice(b",\"embedding\":");
        match format {
            EncodingFormat::Float => write_raw(&mut out, vector),
            EncodingFormat::Base64 => {
                floats.clear();
                floats.extend(serde_json::from_str::<Vec<f64>>(vector.get()).map_err(|e| bad(&e.to_string()))?);
                bytes.clear();
                // Narrowing to f32 is the point: OpenAI's base64 vectors are f32.
                bytes.extend(floats.iter().flat_map(|&f| (f as f32).to_le_bytes()));
                out.push(b'"');
                write_base64(&mut out, &bytes);
                out.push(b'"');
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"model\":");
    write_str(&mut out, meta.model);
    out.extend_from_slice(b",\"usage\":{\"prompt_tokens\":");
    write_u64(&mut out, tokens);
    out.extend_from_slice(b",\"total_tokens\":");
    write_u64(&mut out, tokens);
    out.extend_from_slice(b"}}");
    let usage = Usage { prompt_tokens: tokens, ..Usage::default() };
    Ok((out, usage))
}

/// The body as text, checked once: parsing from `&str` then skips serde_json's per-string UTF-8 checks,
/// which cost more than one pass over the whole body.
fn utf8(body: &[u8]) -> Result<&str, TranslateError> {
    std::str::from_utf8(body).map_err(|e| TranslateError::ProviderBody(format!("cohere answer is not UTF-8: {e}")))
}

/// Writes OpenAI's `usage` object ([`Usage::to_openai`], the one definition of it) into `out`.
pub(super) fn write_usage(out: &mut Vec<u8>, usage: &Usage) -> Result<(), TranslateError> {
    // Straight into the buffer: `Value`'s `Display` goes through `fmt` and an extra `String`.
    serde_json::to_writer(out, &usage.to_openai()).map_err(|e| TranslateError::ProviderBody(e.to_string()))
}

/// Joins pieces of text; `None` when there are none.
fn join<'a>(mut pieces: impl Iterator<Item = &'a Cow<'a, str>>) -> Option<Cow<'a, str>> {
    let first = pieces.next()?;
    let mut joined: Cow<'a, str> = Cow::Borrowed(first.as_ref());
    for piece in pieces {
        joined.to_mut().push_str(piece);
    }
    Some(joined)
}

/// Writes a raw value, or `default` when it is absent or `null`.
fn write_raw_or(out: &mut Vec<u8>, raw: Option<&RawValue>, default: &[u8]) {
    match raw.filter(|r| !super::json::is_null(r)) {
        Some(raw) => write_raw(out, raw),
        None => out.extend_from_slice(default),
    }
}
