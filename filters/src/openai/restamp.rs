//! LiteLLM's response `model`: the proxy answers with the name the client asked for (the model group),
//! not the provider's model id, in JSON answers and in every chunk of a stream (LiteLLM 1.81.7+,
//! `_override_openai_response_model` and `_restamp_streaming_chunk_model`).
//!
//! Lossy on purpose, as LiteLLM is: the provider's own model id (e.g. `gpt-4o-mini-2024-07-18`) is not
//! passed on. Bodies that are not JSON objects, and events that are not, are passed on unchanged.

use super::RequestView;
use crate::framing::sse::{self, SseDecoder, SseEvent};
use crate::framing::FramingError;

/// Writes `body` with its top-level `model` set to `model` into `out`; `false` (and `out` untouched) when
/// the body is not a JSON object or has no `model`, so the caller passes it on as it is.
pub fn restamp_model(body: &[u8], model: &str, out: &mut Vec<u8>) -> bool {
    let Ok(view) = RequestView::parse(body) else {
        return false;
    };
    if view.get("model").is_none() {
        return false;
    }
    view.write_with_model(model, out);
    true
}

/// Restamps `model` in every event of an OpenAI SSE stream, accepting any chunk boundary.
///
/// Owns its cross-chunk state (the decoder's partial event) and reuses its buffers between chunks.
#[derive(Debug)]
pub struct StreamRestamper {
    decoder: SseDecoder,
    model: String,
    events: Vec<SseEvent>,
    total_tokens: Option<u64>,
}

impl StreamRestamper {
    /// A restamper writing `model` into every chunk; one event may hold at most `max_event_bytes`.
    pub fn new(model: &str, max_event_bytes: usize) -> Self {
        StreamRestamper {
            decoder: SseDecoder::new(max_event_bytes),
            model: model.to_string(),
            events: Vec::new(),
            total_tokens: None,
        }
    }

    /// `usage.total_tokens` of the stream's usage chunk, once one has gone by (OpenAI sends it last when
    /// `stream_options.include_usage` is set).
    pub fn total_tokens(&self) -> Option<u64> {
        self.total_tokens
    }

    /// Feeds a chunk of the provider's stream; the complete events in it are appended to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), FramingError> {
        let decoded = self.decoder.push(chunk, &mut self.events);
        // Events decoded before a framing error are still passed on: what the client gets up to the error
        // must not depend on where the chunks ended.
        self.drain(out);
        decoded
    }

    /// Ends the stream: a last event without its blank line is still delivered.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), FramingError> {
        let decoded = self.decoder.finish(&mut self.events);
        self.drain(out);
        decoded
    }

    fn drain(&mut self, out: &mut Vec<u8>) {
        for event in self.events.drain(..) {
            if let Some(name) = &event.event {
                out.extend_from_slice(b"event: ");
                out.extend_from_slice(name.as_bytes());
                out.push(b'\n');
            }
            if event.is_done() {
                out.extend_from_slice(sse::DONE);
                continue;
            }
            let mut line = Vec::with_capacity(event.data.len() + 16);
            let Ok(view) = RequestView::parse(event.data.as_bytes()) else {
                sse::write_data(out, event.data.as_bytes());
                continue;
            };
            if let Some(usage) = view.get("usage").filter(|u| u.get() != "null") {
                if let Ok(u) = serde_json::from_str::<Usage>(usage.get()) {
                    self.total_tokens = u.total_tokens.or(self.total_tokens);
                }
            }
            if view.get("model").is_some() {
                view.write_with_model(&self.model, &mut line);
                sse::write_data(out, &line);
            } else {
                sse::write_data(out, event.data.as_bytes());
            }
        }
    }
}

/// The part of a usage object the stream keeps.
#[derive(serde::Deserialize)]
struct Usage {
    total_tokens: Option<u64>,
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
        let body = br#"{"id":"x","model":"gpt-4o-2024-08-06","usage":{"total_tokens":3}}"#;
        let mut out = Vec::new();
        assert!(restamp_model(body, "my-gpt", &mut out));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "my-gpt");
        assert_eq!(v["usage"]["total_tokens"], 3);
    }

    #[test]
    fn keeps_the_usage_chunk_total() {
        let stream = "data: {\"model\":\"x\",\"usage\":null}\n\ndata: {\"model\":\"x\",\"choices\":[],\"usage\":{\"total_tokens\":42}}\n\n";
        let mut r = StreamRestamper::new("m", 1 << 20);
        let mut out = Vec::new();
        r.push(stream.as_bytes(), &mut out).unwrap();
        assert_eq!(r.total_tokens(), Some(42));
    }

    #[test]
    fn leaves_non_objects_alone() {
        let mut out = Vec::new();
        assert!(!restamp_model(b"[1,2]", "m", &mut out));
        assert!(!restamp_model(b"{\"a\":1}", "m", &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn every_split_gives_the_same_stream() {
        let whole = {
            let mut r = StreamRestamper::new("my-gpt", 1 << 20);
            let mut out = Vec::new();
            r.push(STREAM.as_bytes(), &mut out).unwrap();
            r.finish(&mut out).unwrap();
            out
        };
        let ev = events(&whole);
        assert_eq!(ev.len(), 3);
        assert_eq!(StreamRestamper::new("m", 1024).total_tokens(), None);
        assert_eq!(ev[2], "[DONE]");
        for e in &ev[..2] {
            let v: Value = serde_json::from_str(e).unwrap();
            assert_eq!(v["model"], "my-gpt");
        }
        for split in 0..STREAM.len() {
            let mut r = StreamRestamper::new("my-gpt", 1 << 20);
            let mut out = Vec::new();
            r.push(&STREAM.as_bytes()[..split], &mut out).unwrap();
            r.push(&STREAM.as_bytes()[split..], &mut out).unwrap();
            r.finish(&mut out).unwrap();
            assert_eq!(out, whole, "split at {split}");
        }
    }
}
