//! Gemini's `streamGenerateContent?alt=sse` -> OpenAI `chat.completion.chunk` events.
//!
//! Gemini's stream is Server-Sent Events, `data: <GenerateContentResponse>\r\n\r\n`, each event a whole
//! partial answer: text parts carry the new text only, function calls arrive whole (name and all `args` in
//! one part), `finishReason` comes with the last content, and `usageMetadata` is cumulative (the last one
//! counts). There is no end-of-stream marker. Errors after the 200 arrive as `data: {"error": {...}}`.
//!
//! The state machine, per choice (candidate `index`, up to [`MAX_CHOICES`]):
//! 1. first event of the choice: a chunk with `delta: {"role": "assistant", "content": ""}`;
//! 2. each text part: a `content` delta (thought parts: a `reasoning_content` delta), in order;
//! 3. each function call: a delta with the call's `index` (per choice), `id` (see `ids`), `type` and
//!    `function.name` with empty `arguments`, then a delta with the whole minified `arguments`;
//! 4. `finishReason`: a chunk with an empty delta and the mapped `finish_reason` (`tool_calls` when the
//!    choice called a tool); anything Gemini sends for a finished choice afterwards is ignored.
//!
//! At [`Stream::finish`]: the usage chunk (`choices: []`) when the client asked for it and Gemini gave
//! usage, then exactly one `data: [DONE]`. A stream that ends before a `finishReason` ends cleanly all the
//! same, without a made-up `finish_reason` (the client sees the choice unfinished, which it was).
//!
//! Cross-chunk state is the SSE decoder's partial event (bounded by `max_event_bytes`) and the per-choice
//! counters; every output byte depends only on complete events, so any chunking gives the same output.

use std::mem;

use super::ids;
use super::json;
use super::response::{write_arguments, write_logprobs};
use super::wire::{Candidate, GenerateContentResponse, LogprobsResult};
use super::{error::stream_error, finish_reason, usage_of, write_usage};
use crate::framing::sse::{self, SseDecoder, SseEvent};
use crate::usage::Produced;
use crate::{ResponseMeta, TranslateError, Usage};

/// The most choices a stream may have (Gemini's `candidateCount` is at most 8).
pub const MAX_CHOICES: usize = 8;

/// The event size limit when the caller gives none: a Gemini event holds a whole part, and an inline
/// image part can be several megabytes of base64.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// Where one choice of the stream is.
#[derive(Debug, Clone, Copy, Default)]
struct ChoiceState {
    /// The role chunk has been written.
    started: bool,
    /// The `finish_reason` chunk has been written.
    finished: bool,
    /// Tool calls written so far (the next call's `index`).
    tool_calls: u64,
}

/// Gemini's SSE stream, turned into OpenAI `chat.completion.chunk` SSE events.
#[derive(Debug)]
pub struct Stream {
    decoder: SseDecoder,
    /// Reused between pushes: the events one chunk completes.
    events: Vec<SseEvent>,
    /// `{"id":..,"object":"chat.completion.chunk","created":..,"model":..,"choices":[`, written once.
    prefix: Vec<u8>,
    /// `call_<id>_`: the ids of the stream's tool calls.
    call_id_base: String,
    include_usage: bool,
    choices: Vec<ChoiceState>,
    /// Tool calls written across all choices (ids stay unique in the answer).
    next_call: u64,
    usage: Option<Usage>,
    /// The provider's stream ended ([`Self::finish`]): its last usage is the answer's, not a running count
    /// (a `finishReason` does not say it: with `candidateCount` each candidate finishes on its own).
    usage_final: bool,
    /// The text passed on, for charging a stream cut short.
    produced: Produced,
    /// `[DONE]` has been written.
    done: bool,
}

impl Stream {
    /// A translator for one stream, with the default event size limit.
    pub fn new(meta: &ResponseMeta<'_>, include_usage: bool) -> Self {
        Self::with_limit(meta, include_usage, DEFAULT_MAX_EVENT_BYTES)
    }

    /// A translator for one stream that refuses an event larger than `max_event_bytes`.
    pub fn with_limit(meta: &ResponseMeta<'_>, include_usage: bool, max_event_bytes: usize) -> Self {
        let mut prefix = Vec::with_capacity(96 + meta.id.len() + meta.model.len());
        prefix.extend_from_slice(b"{\"id\":");
        json::write_str(&mut prefix, meta.id);
        prefix.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        json::write_u64(&mut prefix, meta.created);
        prefix.extend_from_slice(b",\"model\":");
        json::write_str(&mut prefix, meta.model);
        prefix.extend_from_slice(b",\"choices\":[");
        Stream {
            decoder: SseDecoder::new(max_event_bytes),
            events: Vec::with_capacity(4),
            prefix,
            call_id_base: ids::call_id_base(meta.id),
            include_usage,
            choices: Vec::with_capacity(1),
            next_call: 0,
            usage: None,
            usage_final: false,
            produced: Produced::default(),
            done: false,
        }
    }

    /// Feeds a chunk of the provider's stream (any boundary); complete OpenAI events go to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.done {
            // Nothing may follow `[DONE]`.
            return Ok(());
        }
        let mut events = mem::take(&mut self.events);
        let decoded = self.decoder.push(chunk, &mut events).map_err(TranslateError::from);
        // Events decoded before a framing error are still translated: what the client gets up to the error
        // must not depend on where the chunks ended.
        let result = self.translate(&events, out).and(decoded);
        events.clear();
        self.events = events;
        result
    }

    /// Ends the stream: writes what is left, the usage chunk if asked for, and the one `data: [DONE]`.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        let mut events = mem::take(&mut self.events);
        let decoded = self.decoder.finish(&mut events).map_err(TranslateError::from);
        let result = self.translate(&events, out).and(decoded);
        events.clear();
        self.events = events;
        result?;
        self.usage_final = true;
        if self.include_usage {
            // Only a usage Gemini stated: zeros would be a made-up bill.
            if let Some(usage) = self.usage {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&self.prefix);
                out.extend_from_slice(b"],\"usage\":");
                write_usage(out, &usage);
                out.extend_from_slice(b"}\n\n");
            }
        }
        out.extend_from_slice(sse::DONE);
        self.done = true;
        Ok(())
    }

    /// Whether every candidate got its `finishReason` (a stream without one was cut short).
    pub fn complete(&self) -> bool {
        !self.choices.is_empty() && self.choices.iter().all(|c| c.finished)
    }

    /// The stream's usage, once the provider has said it.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// What to charge: the last usage once the stream ended, else an estimate (lossy): the running counts so
    /// far, completion raised to the text passed on (see [`Produced::charge`]).
    pub fn produced_estimate(&self) -> Usage {
        self.produced.charge(self.usage, self.usage_final)
    }

    /// Translates complete events.
    fn translate(&mut self, events: &[SseEvent], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        for event in events {
            self.event(&event.data, out)?;
        }
        Ok(())
    }

    /// One `GenerateContentResponse` chunk.
    fn event(&mut self, data: &str, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let data = data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let chunk: GenerateContentResponse<'_> = serde_json::from_str(data)
            .map_err(|e| TranslateError::ProviderBody(format!("a Gemini stream event is not JSON: {e}")))?;
        if let Some(error) = &chunk.error {
            return Err(stream_error(error));
        }
        if let Some(metadata) = &chunk.usage_metadata {
            // Vertex's early chunks carry `usageMetadata` without counts; only counts replace counts.
            if metadata.prompt_token_count.is_some() || metadata.candidates_token_count.is_some() {
                self.usage = Some(usage_of(metadata));
            }
        }
        if chunk.candidates.is_empty() {
            if chunk.prompt_feedback.as_ref().is_some_and(|f| f.block_reason.is_some()) {
                // The prompt was blocked: one choice, no content, `content_filter` (as LiteLLM streams it).
                let state = self.state(0)?;
                if !state.finished {
                    self.start(0, out);
                    self.write_finish(0, "content_filter", out);
                }
            }
            return Ok(());
        }
        for candidate in &chunk.candidates {
            self.candidate(candidate, out)?;
        }
        Ok(())
    }

    /// The state of choice `index`, created on first use.
    fn state(&mut self, index: usize) -> Result<ChoiceState, TranslateError> {
        if index >= MAX_CHOICES {
            return Err(TranslateError::ProviderBody(format!(
                "a Gemini stream event names candidate {index}; at most {MAX_CHOICES} are expected"
            )));
        }
        if self.choices.len() <= index {
            self.choices.resize(index + 1, ChoiceState::default());
        }
        Ok(self.choices[index])
    }

    /// One candidate of a chunk: its deltas, then its finish.
    fn candidate(&mut self, candidate: &Candidate<'_>, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        // Proto JSON leaves out `index: 0`.
        let index = candidate.index.unwrap_or(0);
        if self.state(index)?.finished {
            return Ok(());
        }
        self.start(index, out);
        let mut logprobs = candidate.logprobs_result.as_ref();
        let parts = candidate.content.as_ref().map_or(&[][..], |c| c.parts.as_slice());
        for part in parts {
            if let Some(call) = &part.function_call {
                let n = self.choices[index].tool_calls;
                self.choices[index].tool_calls += 1;
                // First delta: index, id, type, name, empty arguments (as OpenAI opens a call).
                self.open(index, out);
                out.extend_from_slice(b"{\"tool_calls\":[{\"index\":");
                json::write_u64(out, n);
                out.extend_from_slice(b",\"id\":");
                let signature = part.thought_signature.as_deref();
                ids::write_call_id(out, &self.call_id_base, self.next_call, call.id.as_deref(), signature);
                out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
                json::write_str(out, &call.name);
                out.extend_from_slice(b",\"arguments\":\"\"}}]}");
                close(out, None, None);
                self.next_call += 1;
                // Second delta: the arguments, whole (Gemini sends a call's arguments in one piece).
                self.open(index, out);
                out.extend_from_slice(b"{\"tool_calls\":[{\"index\":");
                json::write_u64(out, n);
                out.extend_from_slice(b",\"function\":{\"arguments\":");
                self.produced.add_text(call.args.map_or("", |a| a.get()));
                write_arguments(out, call.args.map(|a| a.get()));
                out.extend_from_slice(b"}}]}");
                close(out, None, None);
                continue;
            }
            let Some(text) = part.text.as_deref().filter(|t| !t.is_empty()) else {
                // An empty text part carrying only a `thoughtSignature`: nothing to show (lossy, see
                // `response`).
                continue;
            };
            self.produced.add_text(text);
            self.open(index, out);
            if part.thought == Some(true) {
                out.extend_from_slice(b"{\"reasoning_content\":");
                json::write_str(out, text);
                out.push(b'}');
                close(out, None, None);
            } else {
                out.extend_from_slice(b"{\"content\":");
                json::write_str(out, text);
                out.push(b'}');
                // The chunk's log probabilities go with its first content delta.
                close(out, logprobs.take(), None);
            }
        }
        if let Some(reason) = candidate.finish_reason.as_deref() {
            let reason = if self.choices[index].tool_calls > 0 { "tool_calls" } else { finish_reason(reason) };
            self.write_finish(index, reason, out);
        }
        Ok(())
    }

    /// The role chunk, once per choice.
    fn start(&mut self, index: usize, out: &mut Vec<u8>) {
        if self.choices[index].started {
            return;
        }
        self.choices[index].started = true;
        self.open(index, out);
        out.extend_from_slice(b"{\"role\":\"assistant\",\"content\":\"\"}");
        close(out, None, None);
    }

    /// The finish chunk of a choice.
    fn write_finish(&mut self, index: usize, reason: &str, out: &mut Vec<u8>) {
        self.choices[index].finished = true;
        self.open(index, out);
        out.extend_from_slice(b"{}");
        close(out, None, Some(reason));
    }

    /// Opens a chunk event up to the choice's `delta` value.
    fn open(&self, index: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(b"{\"index\":");
        json::write_u64(out, index as u64);
        out.extend_from_slice(b",\"delta\":");
    }
}

/// Closes a chunk event after its delta: `logprobs`, `finish_reason`, the end of the event.
fn close(out: &mut Vec<u8>, logprobs: Option<&LogprobsResult<'_>>, finish: Option<&str>) {
    out.extend_from_slice(b",\"logprobs\":");
    match logprobs {
        Some(result) => write_logprobs(out, result),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"finish_reason\":");
    match finish {
        Some(reason) => json::write_str(out, reason),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b"}]}\n\n");
}
