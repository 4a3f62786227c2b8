//! LiteLLM's response `model`: the proxy answers with the name the client asked for (the model group),
//! not the provider's model id, in JSON answers and in every chunk of a stream (LiteLLM 1.81.7+,
//! `_override_openai_response_model` and `_restamp_streaming_chunk_model`).
//!
//! Lossy on purpose, as LiteLLM is: the provider's own model id (e.g. `gpt-4o-mini-2024-07-18`) is not
//! passed on. An answer that is not a JSON object, or a stream event whose data is neither JSON nor
//! `[DONE]`, is not what an OpenAI-compatible API promises: [`restamp_response`] and
//! [`StreamRestamper::push`] say so with [`TranslateError::ProviderBody`], so the gateway can treat it as
//! the provider's failure instead of relaying it as a success.

use std::fmt;

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::{RequestView, WireUsage};
use crate::framing::sse::{self, SseDecoder, SseEvent};
use crate::usage::{Produced, Usage};
use crate::TranslateError;

/// A non-streamed answer of an OpenAI-compatible provider, parsed once: `body` with its top-level `model`
/// set to `model` (as it is when it has no `model`) and its usage. `Err` when it is not a JSON object.
pub fn restamp_response(body: &[u8], model: &str) -> Result<(Vec<u8>, Option<Usage>), TranslateError> {
    let view = RequestView::parse(body).map_err(|_| {
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        TranslateError::ProviderBody(format!("the answer is not a JSON object: {shown:?}"))
    })?;
    let usage = view.get("usage").and_then(|u| serde_json::from_str::<WireUsage>(u.get()).ok()).map(|w| w.to_usage());
    if view.get("model").is_none() {
        return Ok((body.to_vec(), usage));
    }
    let mut out = Vec::with_capacity(body.len() + 32);
    view.write_with_model(model, &mut out);
    Ok((out, usage))
}

/// Restamps `model` in every event of an OpenAI SSE stream, accepting any chunk boundary, and reads the
/// stream's usage on the way.
///
/// The request sent upstream always asks for the usage (`stream_options.include_usage`, see
/// [`RequestView::write_with_model_and_usage`]); when the client did not, the usage-only chunk (`choices`
/// empty, `usage` set) is read but not passed on. Owns its cross-chunk state (the decoder's partial event)
/// and reuses its buffers between chunks.
#[derive(Debug)]
pub struct StreamRestamper {
    decoder: SseDecoder,
    model: String,
    events: Vec<SseEvent>,
    /// One restamped event, reused between events (up to `framing::KEEP_CAPACITY`).
    line: Vec<u8>,
    /// The client asked for the usage chunk.
    client_usage: bool,
    usage: Option<Usage>,
    /// The provider's own `total_tokens`, when it said one.
    total_tokens: Option<u64>,
    /// The usage came at the end of the answer (a usage-only chunk, or with a `finish_reason`), not as the
    /// running count some servers put on every chunk.
    usage_final: bool,
    produced: Produced,
    /// The provider said its answer is over: `data: [DONE]`, or a choice with a `finish_reason`.
    complete: bool,
}

impl StreamRestamper {
    /// A restamper writing `model` into every chunk; `client_usage` is the client's
    /// `stream_options.include_usage`; one event may hold at most `max_event_bytes`.
    pub fn new(model: &str, client_usage: bool, max_event_bytes: usize) -> Self {
        StreamRestamper {
            decoder: SseDecoder::new(max_event_bytes),
            model: model.to_string(),
            events: Vec::new(),
            line: Vec::new(),
            client_usage,
            usage: None,
            total_tokens: None,
            usage_final: false,
            produced: Produced::default(),
            complete: false,
        }
    }

    /// The provider's `usage.total_tokens` (or prompt + completion when it gave no total), once a usage has
    /// gone by.
    pub fn total_tokens(&self) -> Option<u64> {
        self.total_tokens.or(self.usage.map(|u| u.total_tokens()))
    }

    /// The last usage the provider sent (OpenAI sends it once, last, in the usage-only chunk).
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// The usage to charge: the provider's when it came at the end of the answer, else an estimate (lossy)
    /// from the text passed on so far (see [`Produced::charge`]).
    pub fn produced_estimate(&self) -> Usage {
        self.produced.charge(self.usage, self.usage_final)
    }

    /// Whether the provider said its answer is over (`data: [DONE]` or a `finish_reason`); a stream that
    /// ends without either was cut short.
    pub fn complete(&self) -> bool {
        self.complete
    }

    /// Feeds a chunk of the provider's stream; the complete events in it are appended to `out`. An event
    /// whose data is neither JSON nor `[DONE]` is not what an OpenAI-compatible API sends: an error.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let decoded = self.decoder.push(chunk, &mut self.events);
        // Events decoded before a framing error are still passed on: what the client gets up to the error
        // must not depend on where the chunks ended.
        self.drain(out)?;
        decoded.map_err(TranslateError::from)
    }

    /// Ends the stream: a last event without its blank line is still delivered.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let decoded = self.decoder.finish(&mut self.events);
        self.drain(out)?;
        // The provider's stream ended: the last usage it sent is all it will say.
        self.usage_final = self.usage.is_some();
        decoded.map_err(TranslateError::from)
    }

    fn drain(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let mut events = std::mem::take(&mut self.events);
        let mut result = Ok(());
        for event in events.drain(..) {
            if result.is_ok() {
                result = self.event(&event, out);
            }
        }
        self.events = events;
        result
    }

    fn event(&mut self, event: &SseEvent, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let write_name = |out: &mut Vec<u8>| {
            if let Some(name) = &event.event {
                out.extend_from_slice(b"event: ");
                out.extend_from_slice(name.as_bytes());
                out.push(b'\n');
            }
        };
        if event.is_done() {
            self.complete = true;
            write_name(out);
            out.extend_from_slice(sse::DONE);
            return Ok(());
        }
        if event.data.is_empty() {
            // An empty `data:` (a keep-alive some servers send) is passed on as it came.
            write_name(out);
            sse::write_data(out, b"");
            return Ok(());
        }
        let Ok(view) = RequestView::parse(event.data.as_bytes()) else {
            let shown = String::from_utf8_lossy(&event.data.as_bytes()[..event.data.len().min(80)]).into_owned();
            return Err(TranslateError::ProviderBody(format!("a stream event is not JSON: {shown:?}")));
        };
        // No `choices` member counts as an empty one: such a chunk has no choice to pass on either.
        let scan = match view.get("choices") {
            None => Some(ChoicesScan::default()),
            Some(raw) => serde_json::from_str::<ChoicesScan>(raw.get()).ok(),
        };
        if let Some(scan) = &scan {
            self.produced.add_bytes(scan.text_bytes);
            self.complete |= scan.finished;
        }
        let mut usage_only = false;
        if let Some(raw) = view.get("usage").filter(|u| u.get() != "null") {
            if let Ok(wire) = serde_json::from_str::<WireUsage>(raw.get()) {
                self.usage = Some(wire.to_usage());
                self.total_tokens = wire.total_tokens;
                usage_only = scan.as_ref().is_some_and(|s| s.choices == 0);
                // A usage beside a choice that has not finished is a running count (vLLM's
                // `continuous_usage_stats`), not the answer's.
                self.usage_final = scan.as_ref().is_some_and(|s| s.choices == 0 || s.finished);
            }
        }
        if usage_only && !self.client_usage {
            // The client did not ask for it (we did, for the bill): read, not passed on.
            return Ok(());
        }
        write_name(out);
        if view.get("model").is_some() {
            view.write_with_model(&self.model, &mut self.line);
            sse::write_data(out, &self.line);
            // Reused for the next event, unless this one was large.
            crate::framing::recycle(&mut self.line);
        } else {
            sse::write_data(out, event.data.as_bytes());
        }
        Ok(())
    }
}

/// What a chunk's `choices` says, read without allocating: how many choices, the bytes of generated text
/// in them (`delta.content`, `delta.reasoning_content`, `delta.reasoning`, `delta.refusal`, tool-call and
/// function-call `arguments`, and the legacy completions' `text`), and whether one has a `finish_reason`.
///
/// Strings stay borrowed raw JSON; the one allocation left is serde_json's nesting stack when a choice
/// carries a nested member the scan skips (`logprobs`), which `tests/stream_usage_alloc.rs` measures.
#[derive(Debug, Default)]
struct ChoicesScan {
    choices: u64,
    text_bytes: u64,
    finished: bool,
}

impl<'de> Deserialize<'de> for ChoicesScan {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ChoicesVisitor)
    }
}

struct ChoicesVisitor;

impl<'de> Visitor<'de> for ChoicesVisitor {
    type Value = ChoicesScan;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of choices")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut scan = ChoicesScan::default();
        while let Some(choice) = seq.next_element::<Choice<'de>>()? {
            scan.choices += 1;
            scan.finished |= choice.finish_reason.is_some();
            scan.text_bytes += str_bytes(choice.text);
            if let Some(delta) = choice.delta {
                scan.text_bytes += str_bytes(delta.content)
                    + str_bytes(delta.reasoning_content)
                    + str_bytes(delta.reasoning)
                    + str_bytes(delta.refusal)
                    + delta.tool_calls.map_or(0, |t| t.0)
                    + delta.function_call.map_or(0, |f| str_bytes(f.arguments));
            }
        }
        Ok(scan)
    }
}

/// One choice of a chunk, its strings kept raw and borrowed.
#[derive(serde::Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    delta: Option<ChoiceDelta<'a>>,
    #[serde(borrow, default)]
    text: Option<&'a RawValue>,
    #[serde(borrow, default)]
    finish_reason: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct ChoiceDelta<'a> {
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    reasoning_content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    reasoning: Option<&'a RawValue>,
    #[serde(borrow, default)]
    refusal: Option<&'a RawValue>,
    #[serde(default)]
    tool_calls: Option<ToolCallsScan>,
    #[serde(borrow, default)]
    function_call: Option<FunctionScan<'a>>,
}

/// The bytes of `function.arguments` over a `tool_calls` array, read without allocating.
struct ToolCallsScan(u64);

impl<'de> Deserialize<'de> for ToolCallsScan {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ToolCallsVisitor)
    }
}

struct ToolCallsVisitor;

impl<'de> Visitor<'de> for ToolCallsVisitor {
    type Value = ToolCallsScan;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of tool calls")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut bytes = 0;
        while let Some(call) = seq.next_element::<ToolCallScan<'de>>()? {
            bytes += call.function.map_or(0, |f| str_bytes(f.arguments));
        }
        Ok(ToolCallsScan(bytes))
    }
}

#[derive(serde::Deserialize)]
struct ToolCallScan<'a> {
    #[serde(borrow, default)]
    function: Option<FunctionScan<'a>>,
}

#[derive(serde::Deserialize)]
struct FunctionScan<'a> {
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
}

/// The bytes of a raw JSON string without its quotes (escapes as written; see [`Produced::add_raw_json_str`]).
fn str_bytes(raw: Option<&RawValue>) -> u64 {
    let mut produced = Produced::default();
    if let Some(raw) = raw {
        produced.add_raw_json_str(raw.get());
    }
    produced.bytes()
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use serde_json::Value;

    const STREAM: &str = "data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n\
        : keep-alive\n\n\
        data: {\"id\":\"c1\",\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n\
        data: [DONE]\n\n";

    fn events(out: &[u8]) -> Vec<String> {
        let mut d = SseDecoder::new(1 << 20);
        let mut ev = Vec::new();
        d.push(out, &mut ev).unwrap();
        d.finish(&mut ev).unwrap();
        ev.into_iter().map(|e| e.data).collect()
    }

    #[test]
    fn restamps_json_answer_and_keeps_the_rest() {
        let body = br#"{"id":"x","model":"gpt-4o-2024-08-06","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;
        let (out, usage) = restamp_response(body, "my-gpt").unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "my-gpt");
        assert_eq!(v["usage"]["total_tokens"], 3);
        assert_eq!(usage.map(|u| u.total_tokens()), Some(3));
    }

    #[test]
    fn keeps_the_usage_chunk_total() {
        let stream = "data: {\"model\":\"x\",\"usage\":null}\n\ndata: {\"model\":\"x\",\"choices\":[],\"usage\":{\"total_tokens\":42}}\n\n";
        let mut r = StreamRestamper::new("m", true, 1 << 20);
        let mut out = Vec::new();
        r.push(stream.as_bytes(), &mut out).unwrap();
        assert_eq!(r.total_tokens(), Some(42));
    }

    #[test]
    fn an_answer_that_is_not_an_object_is_an_error_and_one_without_model_is_kept() {
        assert!(matches!(restamp_response(b"[1,2]", "m"), Err(TranslateError::ProviderBody(_))));
        assert!(matches!(restamp_response(b"OK", "m"), Err(TranslateError::ProviderBody(_))));
        assert_eq!(restamp_response(b"{\"a\":1}", "m").unwrap().0, b"{\"a\":1}");
    }

    #[test]
    fn every_split_gives_the_same_stream() {
        let whole = {
            let mut r = StreamRestamper::new("my-gpt", true, 1 << 20);
            let mut out = Vec::new();
            r.push(STREAM.as_bytes(), &mut out).unwrap();
            r.finish(&mut out).unwrap();
            out
        };
        let ev = events(&whole);
        assert_eq!(ev.len(), 3);
        assert_eq!(StreamRestamper::new("m", true, 1024).total_tokens(), None);
        assert_eq!(ev[2], "[DONE]");
        for e in &ev[..2] {
            let v: Value = serde_json::from_str(e).unwrap();
            assert_eq!(v["model"], "my-gpt");
        }
        for split in 0..STREAM.len() {
            let mut r = StreamRestamper::new("my-gpt", true, 1 << 20);
            let mut out = Vec::new();
            r.push(&STREAM.as_bytes()[..split], &mut out).unwrap();
            r.push(&STREAM.as_bytes()[split..], &mut out).unwrap();
            r.finish(&mut out).unwrap();
            assert_eq!(out, whole, "split at {split}");
        }
    }

    /// A stream as OpenAI sends it when usage was asked for: `"usage": null` on every chunk, then a usage-only
    /// chunk (here with a named event, to check its `event:` line goes with it), then `[DONE]`.
    const USAGE_STREAM: &str = "data: {\"id\":\"c1\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n\
        data: {\"id\":\"c1\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello there\"},\"finish_reason\":null}],\"usage\":null}\n\n\
        data: {\"id\":\"c1\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n\
        event: usage\n\
        data: {\"id\":\"c1\",\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15,\"prompt_tokens_details\":{\"cached_tokens\":4,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":1},\"cache_creation_input_tokens\":2}}\n\n\
        data: [DONE]\n\n";

    fn run(stream: &str, client_usage: bool) -> (Vec<u8>, StreamRestamper) {
        let mut r = StreamRestamper::new("my-gpt", client_usage, 1 << 20);
        let mut out = Vec::new();
        r.push(stream.as_bytes(), &mut out).unwrap();
        r.finish(&mut out).unwrap();
        (out, r)
    }

    #[test]
    fn reads_the_whole_usage_object() {
        let (_, r) = run(USAGE_STREAM, true);
        let expected = Usage {
            prompt_tokens: 12,
            completion_tokens: 3,
            cached_tokens: Some(4),
            cache_creation_tokens: Some(2),
            reasoning_tokens: Some(1),
        };
        assert_eq!(r.usage(), Some(expected));
        assert_eq!(r.total_tokens(), Some(15));
        assert_eq!(r.produced_estimate(), expected);
    }

    #[test]
    fn litellm_cache_read_is_the_cached_count_when_details_are_absent() {
        let stream = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"cache_read_input_tokens\":5,\"prompt_tokens_details\":null}}\n\n";
        let (_, r) = run(stream, true);
        let usage = r.usage().unwrap();
        assert_eq!((usage.prompt_tokens, usage.cached_tokens, usage.cache_creation_tokens), (9, Some(5), None));
        // No `total_tokens`: prompt + completion.
        assert_eq!(r.total_tokens(), Some(10));
    }

    #[test]
    fn the_usage_chunk_is_dropped_exactly_when_the_client_did_not_ask() {
        let (with, _) = run(USAGE_STREAM, true);
        let (without, r) = run(USAGE_STREAM, false);
        assert_eq!(r.usage().map(|u| u.total_tokens()), Some(15), "read even when dropped");
        let with_ev = events(&with);
        let without_ev = events(&without);
        assert_eq!(with_ev.len(), 5);
        assert_eq!(without_ev.len(), 4);
        // Everything but the usage chunk is the same, `"usage": null` included.
        let mut expected = with_ev.clone();
        let usage_chunk = expected.remove(3);
        assert_eq!(without_ev, expected);
        let v: Value = serde_json::from_str(&usage_chunk).unwrap();
        assert_eq!(v["model"], "my-gpt");
        assert_eq!(v["usage"]["prompt_tokens_details"]["audio_tokens"], 0, "passed on as the provider sent it");
        // Its `event:` line goes with it; the other chunks keep `"usage": null`.
        let text = String::from_utf8(without).unwrap();
        assert!(!text.contains("event: usage"), "{text}");
        assert!(String::from_utf8(with).unwrap().contains("event: usage\ndata: "));
        assert_eq!(text.matches("\"usage\":null").count(), 3);
    }

    #[test]
    fn only_usage_only_chunks_are_dropped() {
        // A usage beside a choice (vLLM's continuous usage stats, some providers' last chunk) is not a usage
        // chunk: the choice must reach the client.
        let stream = "data: {\"model\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ab\"}}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}\n\n\
            data: {\"model\":\"x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n\
            data: {\"model\":\"x\",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n\
            data: [DONE]\n\n";
        let (out, _) = run(stream, false);
        let ev = events(&out);
        assert_eq!(ev.len(), 3, "{ev:?}");
        assert!(ev[0].contains("\"content\":\"ab\""));
        assert!(ev[1].contains("\"finish_reason\":\"stop\""));
        assert_eq!(ev[2], "[DONE]");
        let (out, _) = run(stream, true);
        assert_eq!(events(&out).len(), 4);
    }

    #[test]
    fn every_split_gives_the_same_stream_with_and_without_client_usage() {
        for client_usage in [true, false] {
            let (whole, r) = run(USAGE_STREAM, client_usage);
            let usage = r.usage();
            for split in 0..=USAGE_STREAM.len() {
                let mut r = StreamRestamper::new("my-gpt", client_usage, 1 << 20);
                let mut out = Vec::new();
                r.push(&USAGE_STREAM.as_bytes()[..split], &mut out).unwrap();
                r.push(&USAGE_STREAM.as_bytes()[split..], &mut out).unwrap();
                r.finish(&mut out).unwrap();
                assert_eq!(out, whole, "split at {split}, client usage {client_usage}");
                assert_eq!(r.usage(), usage, "split at {split}");
                assert_eq!(r.produced_estimate(), r.usage().unwrap(), "split at {split}");
            }
            // Byte by byte.
            let mut r = StreamRestamper::new("my-gpt", client_usage, 1 << 20);
            let mut out = Vec::new();
            for byte in USAGE_STREAM.as_bytes() {
                r.push(std::slice::from_ref(byte), &mut out).unwrap();
            }
            r.finish(&mut out).unwrap();
            assert_eq!(out, whole, "byte by byte, client usage {client_usage}");
        }
    }

    #[test]
    fn a_stream_cut_short_is_estimated_from_the_text_passed_on() {
        // 11 bytes of content, 7 of reasoning, 6 + 2 of tool arguments (`{\"a\"` as written: escapes count),
        // 6 of a refusal: 32 bytes -> 8 tokens; no prompt count was said.
        let stream = "data: {\"model\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello there\",\"reasoning_content\":\"thought\"}}],\"usage\":null}\n\n\
            data: {\"model\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}},{\"index\":1,\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n\
            data: {\"model\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"refusal\":\"no way\"}}]}\n\n";
        let mut r = StreamRestamper::new("m", false, 1 << 20);
        let mut out = Vec::new();
        r.push(stream.as_bytes(), &mut out).unwrap();
        assert_eq!(r.usage(), None);
        assert_eq!(r.produced_estimate(), Usage { completion_tokens: 8, ..Usage::default() });
        // A completions stream counts its `text`.
        let mut r = StreamRestamper::new("m", false, 1 << 20);
        r.push(b"data: {\"choices\":[{\"text\":\"12345\",\"index\":0}]}\n\n", &mut out).unwrap();
        assert_eq!(r.produced_estimate().completion_tokens, 2);
    }

    #[test]
    fn a_running_usage_is_raised_to_the_text_passed_on_until_the_answer_ends() {
        let running = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"0123456789abcdefghij\"}}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":1}}\n\n";
        let mut r = StreamRestamper::new("m", true, 1 << 20);
        let mut out = Vec::new();
        r.push(running.as_bytes(), &mut out).unwrap();
        assert_eq!(r.produced_estimate(), Usage { prompt_tokens: 7, completion_tokens: 5, ..Usage::default() });
        // The provider's end: its last usage is what it said, even below the estimate.
        r.finish(&mut out).unwrap();
        assert_eq!(r.produced_estimate(), Usage { prompt_tokens: 7, completion_tokens: 1, ..Usage::default() });
    }

    #[test]
    fn unreadable_choices_count_nothing_and_are_passed_on() {
        let stream = "data: {\"model\":\"x\",\"choices\":{\"odd\":true},\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\n";
        let (out, r) = run(stream, false);
        assert_eq!(events(&out).len(), 1, "not a usage-only chunk: passed on");
        assert_eq!(r.usage().map(|u| u.total_tokens()), Some(2));
    }
}
