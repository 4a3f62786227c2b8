//! A client-side SSE reader that timestamps each event as it arrives, so tests can tell a stream
//! that was forwarded event by event from one that was buffered and sent at the end.

use std::pin::Pin;
use std::time::Instant;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

/// Events longer than this mean the reader is not seeing event boundaries: fail instead of growing.
const MAX_EVENT_BYTES: usize = 8 << 20;

/// One `data:` event and when it reached the client.
#[derive(Clone, Debug)]
pub struct SseEvent {
    /// When the event's last byte arrived.
    pub at: Instant,
    /// The `data:` payload (several `data:` lines joined with `\n`).
    pub data: String,
}

impl SseEvent {
    /// The payload as JSON, if it is JSON (`[DONE]` is not).
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.data).ok()
    }
}

/// Reads a `text/event-stream` response event by event.
pub struct SseEvents {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buf: Vec<u8>,
    /// Set when the body failed before it ended cleanly.
    pub error: Option<String>,
}

impl SseEvents {
    /// Wraps a response whose body is an event stream.
    pub fn new(resp: reqwest::Response) -> SseEvents {
        SseEvents { body: Box::pin(resp.bytes_stream()), buf: Vec::new(), error: None }
    }

    /// The next event with a `data:` field, or `None` at the end of the body (or on an error,
    /// recorded in `error`).
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(data) = self.take_event() {
                if data.is_empty() {
                    continue; // a comment or keep-alive: no data field
                }
                return Some(SseEvent { at: Instant::now(), data });
            }
            match self.body.next().await {
                Some(Ok(chunk)) => {
                    self.buf.extend_from_slice(&chunk);
                    assert!(self.buf.len() <= MAX_EVENT_BYTES, "no event boundary in {} bytes", self.buf.len());
                }
                Some(Err(e)) => {
                    self.error = Some(e.to_string());
                    return None;
                }
                None => {
                    let rest = String::from_utf8_lossy(&self.buf).trim().to_string();
                    assert!(rest.is_empty(), "stream ended inside an event (no blank line after it): {rest:?}");
                    return None;
                }
            }
        }
    }

    /// Reads to the end (bounded by the caller's deadline).
    pub async fn collect(mut self) -> (Vec<SseEvent>, Option<String>) {
        let mut events = Vec::new();
        while let Some(ev) = self.next_event().await {
            events.push(ev);
        }
        (events, self.error)
    }

    /// Removes one complete event from the buffer and returns its data (empty if it had none).
    fn take_event(&mut self) -> Option<String> {
        let (end, sep) = find_boundary(&self.buf)?;
        let raw: Vec<u8> = self.buf.drain(..end + sep).collect();
        let text = String::from_utf8_lossy(&raw[..end]).replace("\r\n", "\n");
        let data: Vec<&str> =
            text.lines().filter_map(|l| l.strip_prefix("data:")).map(|d| d.strip_prefix(' ').unwrap_or(d)).collect();
        Some(data.join("\n"))
    }
}

/// Position and length of the first blank-line separator (`\n\n` or `\r\n\r\n`).
fn find_boundary(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2));
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| (p, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// Reads a whole event stream: every data event and the body error, if any.
pub async fn read_sse(resp: reqwest::Response) -> (Vec<SseEvent>, Option<String>) {
    SseEvents::new(resp).collect().await
}
