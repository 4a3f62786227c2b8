//! Cohere's v2 chat stream -> OpenAI `chat.completion.chunk` SSE events.
//!
//! Cohere streams Server-Sent Events, `event: <type>` and `data: {"type": "<type>", ...}`
//! (<https://docs.cohere.com/reference/chat-stream>, <https://docs.cohere.com/v2/docs/streaming>):
//!
//! | Cohere event | OpenAI chunk |
//! |---|---|
//! | `message-start` | `delta: {"role":"assistant","content":""}` (the first chunk) |
//! | `content-delta` (`text`) | `delta: {"content": ...}` |
//! | `content-delta` (`thinking`) | `delta: {"reasoning_content": ...}` |
//! | `tool-plan-delta` | `delta: {"content": ...}` (the text said before calling tools, as in answers) |
//! | `tool-call-start` | `delta: {"tool_calls":[{"index","id","type":"function","function":{"name","arguments"}}]}` |
//! | `tool-call-delta` | `delta: {"tool_calls":[{"index","function":{"arguments"}}]}` |
//! | `message-end` | `delta: {}` with `finish_reason` (see [`super::finish_reason`]), then the usage chunk (`choices: []`) when `include_usage` |
//! | `message-end` with `finish_reason` `ERROR`/`TIMEOUT` or an `error` | `Err(ProviderStreamError)` (500 / 504) |
//! | `{"message": "..."}` without `type` (an error body) | `Err(ProviderStreamError)` (500) |
//! | `content-start`, `content-end`, `tool-call-end`, `citation-start`, `citation-end`, `debug`, unknown types, `data: [DONE]` | nothing |
//!
//! [`Stream::finish`] writes the one `data: [DONE]`. A stream that ends without `message-end` still ends
//! cleanly with `[DONE]`, but without a made-up `finish_reason` or usage.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::json::{is_empty_string, is_null, write_raw, write_str, write_u64};
use super::response::{finish_reason, usage_of, write_usage};
use super::wire::{DeltaToolCall, EndDelta, Event, MessageDelta};
use crate::framing::sse::{SseDecoder, SseEvent, DONE};
use crate::usage::Produced;
use crate::{ResponseMeta, TranslateError, Usage};

/// The most one Cohere event may buffer by default: deltas are a few hundred bytes; a `citation-start` carrying its
/// documents is the largest event Cohere sends.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// The most tool calls one stream may open; past it the stream is refused rather than tracked.
pub const MAX_TOOL_CALLS: usize = 1024;

/// Where a stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing written yet.
    Fresh,
    /// The role chunk is written.
    Started,
    /// `message-end` is translated: later events are ignored.
    Finished,
    /// An error was returned: nothing more is written.
    Failed,
    /// `[DONE]` is written.
    Done,
}

/// The provider's stream, turned into OpenAI `chat.completion.chunk` SSE events.
///
/// Owns its cross-chunk state: the SSE decoder's partial event (at most [`MAX_EVENT_BYTES`] by default) and the
/// OpenAI index of every tool call, kept per call in the order the calls started.
#[derive(Debug)]
pub struct Stream {
    decoder: SseDecoder,
    /// Decoded events, reused between pushes.
    events: Vec<SseEvent>,
    /// `{"id":...,"object":"chat.completion.chunk","created":...,"model":...,"choices":[`: every chunk's start.
    head: Vec<u8>,
    include_usage: bool,
    phase: Phase,
    /// Cohere's `index` of each tool call, at the OpenAI index the call was given.
    tools: Vec<Option<u64>>,
    /// The OpenAI index of the call the last `tool-call-start` opened (deltas may leave `index` out).
    current_tool: Option<usize>,
    usage: Option<Usage>,
    /// The text passed on, for charging a stream cut short (Cohere says the usage only in `message-end`).
    produced: Produced,
}

impl Stream {
    /// A translator for one stream; `include_usage` adds the usage chunk before `[DONE]`.
    pub fn new(meta: &ResponseMeta<'_>, include_usage: bool) -> Self {
        Stream::with_max_event_bytes(meta, include_usage, MAX_EVENT_BYTES)
    }

    /// A translator that refuses (`Framing(EventTooLarge)`) an SSE event larger than `max_event_bytes`.
    pub fn with_max_event_bytes(meta: &ResponseMeta<'_>, include_usage: bool, max_event_bytes: usize) -> Self {
        let mut head = Vec::with_capacity(meta.id.len() + meta.model.len() + 96);
        head.extend_from_slice(b"{\"id\":");
        write_str(&mut head, meta.id);
        head.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        write_u64(&mut head, meta.created);
        head.extend_from_slice(b",\"model\":");
        write_str(&mut head, meta.model);
        head.extend_from_slice(b",\"choices\":[");
        Stream {
            decoder: SseDecoder::new(max_event_bytes),
            events: Vec::with_capacity(8),
            head,
            include_usage,
            phase: Phase::Fresh,
            tools: Vec::new(),
            current_tool: None,
            usage: None,
            produced: Produced::default(),
        }
    }

    /// Feeds a chunk of the provider's stream (any boundary); complete OpenAI events go to `out`.
    ///
    /// After an error, or after `[DONE]`, input is ignored.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if matches!(self.phase, Phase::Failed | Phase::Done) {
            return Ok(());
        }
        let decoded = self.decoder.push(chunk, &mut self.events);
        // Events decoded before a framing error are still translated: what the client gets up to the error
        // must not depend on where the chunks ended.
        self.drain(out)?;
        if let Err(e) = decoded {
            self.phase = Phase::Failed;
            return Err(e.into());
        }
        Ok(())
    }

    /// Ends the stream: writes what is left and the final `data: [DONE]` (once; nothing after an error).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if matches!(self.phase, Phase::Failed | Phase::Done) {
            return Ok(());
        }
        let decoded = self.decoder.finish(&mut self.events);
        self.drain(out)?;
        if let Err(e) = decoded {
            self.phase = Phase::Failed;
            return Err(e.into());
        }
        out.extend_from_slice(DONE);
        self.phase = Phase::Done;
        Ok(())
    }

    /// Whether `message-end` came (a stream without it was cut short).
    pub fn complete(&self) -> bool {
        matches!(self.phase, Phase::Finished | Phase::Done)
    }

    /// The stream's usage, once the provider has said it (`message-end`).
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// What to charge: the usage of `message-end` once it came, else an estimate (lossy) from the text
    /// passed on, with no prompt tokens (see [`Produced::charge`]).
    pub fn produced_estimate(&self) -> Usage {
        self.produced.charge(self.usage, true)
    }

    /// Translates the decoded events; the first error fails the stream.
    fn drain(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let mut events = std::mem::take(&mut self.events);
        let mut result = Ok(());
        for event in &events {
            if let Err(e) = self.event(event, out) {
                self.phase = Phase::Failed;
                result = Err(e);
                break;
            }
        }
        events.clear();
        self.events = events;
        result
    }

    /// Translates one event.
    fn event(&mut self, event: &SseEvent, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.phase != Phase::Fresh && self.phase != Phase::Started {
            return Ok(());
        }
        // Cohere's SDKs skip an OpenAI-style `[DONE]`; our own is written by `finish`.
        if event.data.is_empty() || event.is_done() {
            return Ok(());
        }
        let parsed: Event<'_> = serde_json::from_str(&event.data)
            .map_err(|e| TranslateError::ProviderBody(format!("cohere stream event: {e}")))?;
        let Some(kind) = parsed.kind.as_deref() else {
            return match parsed.message {
                // An error body sent down the stream.
                Some(message) => {
                    Err(TranslateError::ProviderStreamError { status: 500, message: message.into_owned() })
                }
                None => Ok(()),
            };
        };
        match kind {
            "message-start" => {
                self.start(out);
                Ok(())
            }
            "content-delta" => self.content_delta(parsed.delta, out),
            "tool-plan-delta" => self.tool_plan_delta(parsed.delta, out),
            "tool-call-start" => self.tool_call_start(parsed.index, parsed.delta, out),
            "tool-call-delta" => self.tool_call_delta(parsed.index, parsed.delta, out),
            "message-end" => self.message_end(parsed.delta, out),
            // `content-start`, `content-end`, `tool-call-end`: framing only; `citation-start`,
            // `citation-end`: OpenAI has no field for them; `debug` and types added later: nothing to say.
            _ => Ok(()),
        }
    }

    /// The first chunk, `{"role":"assistant","content":""}`, once.
    fn start(&mut self, out: &mut Vec<u8>) {
        if self.phase == Phase::Fresh {
            self.chunk(out, None, |out| out.extend_from_slice(b"{\"role\":\"assistant\",\"content\":\"\"}"));
            self.phase = Phase::Started;
        }
    }

    /// `content-delta`: a piece of text or of reasoning.
    fn content_delta(&mut self, delta: Option<&RawValue>, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let Some(content) = parse_delta::<MessageDelta<'_>>(delta)?.and_then(|d| d.message).and_then(|m| m.content)
        else {
            return Ok(());
        };
        if let Some(text) = content.text.filter(|t| has_text(t)) {
            self.text(out, b"content", text);
        }
        if let Some(thinking) = content.thinking.filter(|t| has_text(t)) {
            // LiteLLM's name for reasoning in a delta.
            self.text(out, b"reasoning_content", thinking);
        }
        Ok(())
    }

    /// `tool-plan-delta`: the text said before calling tools, as content (the same as in answers).
    fn tool_plan_delta(&mut self, delta: Option<&RawValue>, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let plan = parse_delta::<MessageDelta<'_>>(delta)?.and_then(|d| d.message).and_then(|m| m.tool_plan);
        if let Some(plan) = plan.filter(|p| has_text(p)) {
            self.text(out, b"content", plan);
        }
        Ok(())
    }

    /// `tool-call-start`: a new call, with its id and name in the first delta of its OpenAI index.
    fn tool_call_start(
        &mut self,
        cohere_index: Option<u64>,
        delta: Option<&RawValue>,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        let Some(call) = tool_call(delta)? else {
            return Ok(());
        };
        if self.tools.len() >= MAX_TOOL_CALLS {
            return Err(TranslateError::ProviderBody(format!(
                "cohere stream opened more than {MAX_TOOL_CALLS} tool calls"
            )));
        }
        let index = self.tools.len();
        self.tools.push(cohere_index);
        self.current_tool = Some(index);
        let function = call.function.as_ref();
        if let Some(arguments) = function.and_then(|f| f.arguments).filter(|a| has_text(a)) {
            self.produced.add_raw_json_str(arguments.get());
        }
        self.start(out);
        self.chunk(out, None, |out| {
            out.extend_from_slice(b"{\"tool_calls\":[{\"index\":");
            write_u64(out, index as u64);
            out.extend_from_slice(b",\"id\":");
            write_string_or_empty(out, call.id);
            out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
            write_string_or_empty(out, function.and_then(|f| f.name));
            out.extend_from_slice(b",\"arguments\":");
            write_string_or_empty(out, function.and_then(|f| f.arguments));
            out.extend_from_slice(b"}}]}");
        });
        Ok(())
    }

    /// `tool-call-delta`: a piece of a call's arguments, under the OpenAI index its start was given.
    fn tool_call_delta(
        &mut self,
        cohere_index: Option<u64>,
        delta: Option<&RawValue>,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        let Some(call) = tool_call(delta)? else {
            return Ok(());
        };
        let Some(arguments) = call.function.and_then(|f| f.arguments).filter(|a| has_text(a)) else {
            return Ok(());
        };
        let by_index = cohere_index.and_then(|ci| self.tools.iter().position(|t| *t == Some(ci)));
        let Some(index) = by_index.or(self.current_tool) else {
            // Without its start the call has no id, which an OpenAI client needs to answer it.
            return Err(TranslateError::ProviderBody(
                "cohere stream: tool-call-delta before any tool-call-start".into(),
            ));
        };
        self.produced.add_raw_json_str(arguments.get());
        self.chunk(out, None, |out| {
            out.extend_from_slice(b"{\"tool_calls\":[{\"index\":");
            write_u64(out, index as u64);
            out.extend_from_slice(b",\"function\":{\"arguments\":");
            write_raw(out, arguments);
            out.extend_from_slice(b"}}]}");
        });
        Ok(())
    }

    /// `message-end`: the finish chunk and, with `include_usage`, the usage chunk; or the stream's error.
    fn message_end(&mut self, delta: Option<&RawValue>, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let end = parse_delta::<EndDelta<'_>>(delta)?;
        let reason = end.as_ref().and_then(|e| e.finish_reason.as_deref());
        let error = end.as_ref().and_then(|e| e.error.as_deref()).filter(|e| !e.is_empty());
        if error.is_some() || matches!(reason, Some("ERROR" | "TIMEOUT")) {
            let status = if reason == Some("TIMEOUT") { 504 } else { 500 };
            let message = match error {
                Some(error) => error.to_owned(),
                None => format!("cohere ended the stream with finish_reason {}", reason.unwrap_or_default()),
            };
            return Err(TranslateError::ProviderStreamError { status, message });
        }
        if let Some(wire) = end.as_ref().and_then(|e| e.usage.as_ref()) {
            self.usage = Some(usage_of(Some(wire)));
        }
        self.start(out);
        let finish = finish_reason(reason, !self.tools.is_empty());
        self.chunk(out, Some(finish), |out| out.extend_from_slice(b"{}"));
        if self.include_usage {
            // OpenAI always sends this chunk when asked; a stream without usage reports zeros.
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(&self.head);
            out.extend_from_slice(b"],\"usage\":");
            write_usage(out, &self.usage.unwrap_or_default())?;
            out.extend_from_slice(b"}\n\n");
        }
        self.phase = Phase::Finished;
        Ok(())
    }

    /// A chunk whose delta is one string member (`content`, `reasoning_content`), the value copied raw.
    fn text(&mut self, out: &mut Vec<u8>, member: &[u8], text: &RawValue) {
        self.produced.add_raw_json_str(text.get());
        self.start(out);
        self.chunk(out, None, |out| {
            out.extend_from_slice(b"{\"");
            out.extend_from_slice(member);
            out.extend_from_slice(b"\":");
            write_raw(out, text);
            out.push(b'}');
        });
    }

    /// One `data: {...}\n\n` event: `head`, one choice with the delta `delta` writes, and `"usage":null`
    /// when the client asked for usage (as OpenAI's chunks carry it).
    fn chunk(&self, out: &mut Vec<u8>, finish: Option<&str>, delta: impl FnOnce(&mut Vec<u8>)) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&self.head);
        out.extend_from_slice(b"{\"index\":0,\"delta\":");
        delta(out);
        out.extend_from_slice(b",\"logprobs\":null,\"finish_reason\":");
        match finish {
            Some(reason) => write_str(out, reason),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b"}]");
        if self.include_usage {
            out.extend_from_slice(b",\"usage\":null");
        }
        out.extend_from_slice(b"}\n\n");
    }
}

/// An event's `delta` read as `T`; `None` when the event has none.
fn parse_delta<'a, T: Deserialize<'a>>(delta: Option<&'a RawValue>) -> Result<Option<T>, TranslateError> {
    let Some(delta) = delta.filter(|d| !is_null(d)) else {
        return Ok(None);
    };
    serde_json::from_str(delta.get())
        .map(Some)
        .map_err(|e| TranslateError::ProviderBody(format!("cohere stream event delta: {e}")))
}

/// `delta.message.tool_calls` of a tool-call event.
fn tool_call(delta: Option<&RawValue>) -> Result<Option<DeltaToolCall<'_>>, TranslateError> {
    Ok(parse_delta::<MessageDelta<'_>>(delta)?.and_then(|d| d.message).and_then(|m| m.tool_calls))
}

/// Whether a raw value is a non-empty string (an empty delta is not worth a chunk).
fn has_text(raw: &RawValue) -> bool {
    super::json::is_string(raw) && !is_empty_string(raw)
}

/// Writes a raw JSON string, or `""` when it is absent or not a string.
fn write_string_or_empty(out: &mut Vec<u8>, raw: Option<&RawValue>) {
    match raw.filter(|r| super::json::is_string(r)) {
        Some(raw) => write_raw(out, raw),
        None => out.extend_from_slice(b"\"\""),
    }
}
