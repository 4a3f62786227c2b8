//! Gemini answer -> OpenAI answer: `GenerateContentResponse` -> `chat.completion`, and the embeddings
//! answers (`batchEmbedContents`, Vertex `:predict`) -> OpenAI's embedding list.
//!
//! Per candidate (one per `n`), the OpenAI choice is:
//! - `message.content`: the text parts joined; `null` when there are none.
//! - `message.reasoning_content` (LiteLLM's field): the `thought: true` parts joined, when there are any.
//! - `message.tool_calls`: one per `functionCall` part, ids as described in `ids`, `arguments` the `args`
//!   object minified (LiteLLM: `json.dumps(args)`).
//! - `finish_reason`: `tool_calls` when the candidate called a tool, else [`super::finish_reason`].
//! - `logprobs`: from `logprobsResult` when asked for.
//!
//! A prompt blocked before any candidate (`promptFeedback.blockReason`) gives one choice with `content:
//! null` and `finish_reason: "content_filter"` (LiteLLM's `_handle_blocked_response`).
//!
//! Lossy (dropped): safety ratings, citations, grounding metadata, `thoughtSignature` on text parts, code
//! execution parts, and inline media in answers (image/audio output is not translated).

use super::ids;
use super::json;
use super::wire::{
    BatchEmbedResponse, Candidate, GenerateContentResponse, LogprobCandidate, LogprobsResult, PartOut,
    VertexPredictResponse,
};
use super::{finish_reason, usage_of, write_usage};
use crate::{ResponseMeta, TranslateError, Usage};

/// How embeddings are written: OpenAI's `encoding_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmbeddingEncoding {
    /// Arrays of numbers (the default).
    #[default]
    Float,
    /// Base64 of the little-endian `f32` values, as OpenAI answers `encoding_format: "base64"`.
    Base64,
}

/// `GenerateContentResponse` -> `chat.completion`.
pub(crate) fn chat(body: &[u8], meta: &ResponseMeta<'_>) -> Result<(Vec<u8>, Usage), TranslateError> {
    // Checked once as a whole, so the parser does not check every string again.
    let text = std::str::from_utf8(body).map_err(|e| TranslateError::ProviderBody(format!("not UTF-8: {e}")))?;
    let answer: GenerateContentResponse<'_> = serde_json::from_str(text)
        .map_err(|e| TranslateError::ProviderBody(format!("not a Gemini GenerateContentResponse: {e}")))?;
    if let Some(error) = &answer.error {
        let message = error.message.as_deref().unwrap_or("Gemini answered with an error");
        return Err(TranslateError::ProviderBody(message.to_owned()));
    }
    let usage = answer.usage_metadata.as_ref().map(usage_of).unwrap_or_default();
    let mut out = Vec::with_capacity(body.len() / 2 + 256);
    out.extend_from_slice(b"{\"id\":");
    json::write_str(&mut out, meta.id);
    out.extend_from_slice(b",\"object\":\"chat.completion\",\"created\":");
    json::write_u64(&mut out, meta.created);
    out.extend_from_slice(b",\"model\":");
    json::write_str(&mut out, meta.model);
    out.extend_from_slice(b",\"choices\":[");
    if answer.candidates.is_empty() {
        // No candidate: the prompt was blocked (or Gemini said nothing at all).
        let blocked = answer.prompt_feedback.as_ref().is_some_and(|f| f.block_reason.is_some());
        let reason = if blocked { "content_filter" } else { "stop" };
        out.extend_from_slice(
            b"{\"index\":0,\"message\":{\"role\":\"assistant\",\"refusal\":null,\"content\":null},\"logprobs\":null,",
        );
        out.extend_from_slice(b"\"finish_reason\":");
        json::write_str(&mut out, reason);
        out.push(b'}');
    }
    let base = ids::call_id_base(meta.id);
    let mut next_call = 0u64;
    for (position, candidate) in answer.candidates.iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        // Proto JSON leaves out `index: 0`; in a whole answer the position is the fallback.
        let index = candidate.index.unwrap_or(position);
        write_choice(&mut out, candidate, index, &base, &mut next_call);
    }
    out.extend_from_slice(b"],\"usage\":");
    write_usage(&mut out, &usage);
    out.push(b'}');
    Ok((out, usage))
}

/// One candidate as an OpenAI choice.
fn write_choice(out: &mut Vec<u8>, candidate: &Candidate<'_>, index: usize, base: &str, next_call: &mut u64) {
    let parts: &[PartOut<'_>] = candidate.content.as_ref().map_or(&[], |c| c.parts.as_slice());
    out.extend_from_slice(b"{\"index\":");
    json::write_u64(out, index as u64);
    // `refusal` is required in OpenAI's schema; Gemini has no refusal of its own.
    out.extend_from_slice(b",\"message\":{\"role\":\"assistant\",\"refusal\":null,\"content\":");
    write_joined(out, parts, false);
    if parts.iter().any(|p| p.thought == Some(true) && p.text.as_deref().is_some_and(|t| !t.is_empty())) {
        out.extend_from_slice(b",\"reasoning_content\":");
        write_joined(out, parts, true);
    }
    let mut calls = 0;
    for part in parts {
        let Some(call) = &part.function_call else {
            continue;
        };
        out.extend_from_slice(if calls == 0 { b",\"tool_calls\":[" } else { b"," });
        out.extend_from_slice(b"{\"id\":");
        ids::write_call_id(out, base, *next_call, call.id.as_deref(), part.thought_signature.as_deref());
        out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
        json::write_str(out, &call.name);
        out.extend_from_slice(b",\"arguments\":");
        write_arguments(out, call.args.map(|a| a.get()));
        out.extend_from_slice(b"}}");
        calls += 1;
        *next_call += 1;
    }
    if calls > 0 {
        out.push(b']');
    }
    out.extend_from_slice(b"},\"logprobs\":");
    match &candidate.logprobs_result {
        Some(result) => write_logprobs(out, result),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"finish_reason\":");
    let reason =
        if calls > 0 { "tool_calls" } else { candidate.finish_reason.as_deref().map_or("stop", finish_reason) };
    json::write_str(out, reason);
    out.push(b'}');
}

/// The text parts (or the thought parts) joined into one JSON string; `null` when there are none.
fn write_joined(out: &mut Vec<u8>, parts: &[PartOut<'_>], thoughts: bool) {
    let mut texts = parts
        .iter()
        .filter(|p| p.thought.unwrap_or(false) == thoughts && p.function_call.is_none())
        .filter_map(|p| p.text.as_deref())
        .peekable();
    if texts.peek().is_none() {
        out.extend_from_slice(b"null");
        return;
    }
    out.push(b'"');
    for text in texts {
        json::write_str_body(out, text);
    }
    out.push(b'"');
}

/// `args` (a JSON object) as OpenAI's `arguments` string, minified; `"{}"` when absent.
pub(crate) fn write_arguments(out: &mut Vec<u8>, args: Option<&str>) {
    match args {
        Some(raw) => json::write_minified_as_str(out, raw),
        None => out.extend_from_slice(b"\"{}\""),
    }
}

/// `logprobsResult` as OpenAI's `logprobs`: `{"content": [{"token", "logprob", "bytes", "top_logprobs"}],
/// "refusal": null}` (`refusal` is required by OpenAI's schema).
pub(crate) fn write_logprobs(out: &mut Vec<u8>, result: &LogprobsResult<'_>) {
    out.extend_from_slice(b"{\"content\":[");
    for (i, chosen) in result.chosen_candidates.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_token_logprob(out, chosen);
        out.extend_from_slice(b",\"top_logprobs\":[");
        let top = result.top_candidates.get(i).map_or(&[][..], |t| t.candidates.as_slice());
        for (j, alternative) in top.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            write_token_logprob(out, alternative);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"],\"refusal\":null}");
}

/// `{"token": ..., "logprob": ..., "bytes": [...]` (left open); proto JSON leaves out a log probability of
/// 0. `bytes` (the token's UTF-8 bytes, as OpenAI gives them) is required by OpenAI's schema.
fn write_token_logprob(out: &mut Vec<u8>, candidate: &LogprobCandidate<'_>) {
    out.extend_from_slice(b"{\"token\":");
    json::write_str(out, &candidate.token);
    out.extend_from_slice(b",\"logprob\":");
    match candidate.log_probability {
        Some(raw) if json::is_number(raw) => out.extend_from_slice(raw.get().as_bytes()),
        _ => out.extend_from_slice(b"0.0"),
    }
    out.extend_from_slice(b",\"bytes\":[");
    for (i, b) in candidate.token.as_bytes().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::write_u64(out, u64::from(*b));
    }
    out.push(b']');
}

/// `batchEmbedContents` or Vertex `:predict` answer -> OpenAI's embedding list.
///
/// Usage: Vertex reports `statistics.token_count` per input, summed into `prompt_tokens`. Google AI Studio's
/// `batchEmbedContents` reports no tokens (LiteLLM counts them with a local tokenizer); we report its
/// `usageMetadata` when present and 0 otherwise (lossy: the gateway cannot bill such calls by tokens).
pub fn embeddings(
    body: &[u8],
    meta: &ResponseMeta<'_>,
    encoding: EmbeddingEncoding,
) -> Result<(Vec<u8>, Usage), TranslateError> {
    let bad = |e: serde_json::Error| TranslateError::ProviderBody(format!("not a Gemini embeddings answer: {e}"));
    let (values, prompt_tokens): (Vec<&str>, u64) = if is_vertex_predict(body) {
        let answer: VertexPredictResponse<'_> = serde_json::from_slice(body).map_err(bad)?;
        let tokens = answer
            .predictions
            .iter()
            .filter_map(|p| p.embeddings.statistics.as_ref().and_then(|s| s.token_count))
            .map(|t| t.max(0.0).round() as u64)
            .sum();
        (answer.predictions.iter().map(|p| p.embeddings.values.get()).collect(), tokens)
    } else {
        let answer: BatchEmbedResponse<'_> = serde_json::from_slice(body).map_err(bad)?;
        let tokens = answer.usage_metadata.and_then(|u| u.prompt_token_count).unwrap_or(0);
        (answer.embeddings.iter().map(|e| e.values.get()).collect(), tokens)
    };
    let usage = Usage { prompt_tokens, ..Usage::default() };
    let mut out = Vec::with_capacity(body.len() + 128);
    out.extend_from_slice(b"{\"object\":\"list\",\"data\":[");
    for (i, raw) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"object\":\"embedding\",\"index\":");
        json::write_u64(&mut out, i as u64);
        out.extend_from_slice(b",\"embedding\":");
        match encoding {
            EmbeddingEncoding::Float => json::minify_into(&mut out, raw),
            EmbeddingEncoding::Base64 => {
                let floats: Vec<f32> = serde_json::from_str(raw).map_err(bad)?;
                let bytes: Vec<u8> = floats.iter().flat_map(|f| f.to_le_bytes()).collect();
                out.push(b'"');
                json::base64_into(&mut out, &bytes);
                out.push(b'"');
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"model\":");
    json::write_str(&mut out, meta.model);
    out.extend_from_slice(b",\"usage\":{\"prompt_tokens\":");
    json::write_u64(&mut out, prompt_tokens);
    out.extend_from_slice(b",\"total_tokens\":");
    json::write_u64(&mut out, prompt_tokens);
    out.extend_from_slice(b"}}");
    Ok((out, usage))
}

/// Whether an embeddings answer is Vertex's `:predict` shape (`predictions`) rather than AI Studio's.
fn is_vertex_predict(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        predictions: Option<&'a serde_json::value::RawValue>,
    }
    serde_json::from_slice::<Probe<'_>>(body).is_ok_and(|p| p.predictions.is_some())
}
