//! Anthropic's Messages stream (SSE, `event:` + `data:` lines) -> OpenAI `chat.completion.chunk` events.
//!
//! Reference: <https://platform.claude.com/docs/en/build-with-claude/streaming>. The event flow is
//! `message_start`, then per content block `content_block_start`, `content_block_delta`*,
//! `content_block_stop`, then `message_delta` (stop reason, cumulative usage) and `message_stop`; `ping`
//! may come anywhere and `error` ends a stream that already answered 200.
//!
//! | Anthropic event | OpenAI chunk (`choices[0].delta`) |
//! |---|---|
//! | `message_start` | `{"role":"assistant","content":""}`; its usage is kept |
//! | `content_block_start` text | `{"content": text}` when the block starts with text |
//! | `content_block_start` tool_use | `{"tool_calls":[{"index","id","type":"function","function":{"name","arguments":""}}]}` |
//! | `content_block_start` redacted_thinking | `{"thinking_blocks":[{"type":"redacted_thinking","data"}]}` |
//! | `text_delta` | `{"content": text}` |
//! | `input_json_delta` | `{"tool_calls":[{"index","function":{"arguments": piece}}]}` (empty pieces skipped) |
//! | `thinking_delta` | `{"reasoning_content": text, "thinking_blocks":[{"type":"thinking","thinking": text,"signature":null}]}` |
//! | `signature_delta` | `{"reasoning_content":"", "thinking_blocks":[{"type":"thinking","thinking":"","signature": sig}]}` |
//! | `content_block_stop` | `{"tool_calls":[{"index","function":{"arguments":"{}"}}]}` for a tool call that had no arguments |
//! | `message_delta` | kept: stop reason and usage |
//! | `message_stop` | `{}` with `finish_reason`; then, with `include_usage`, `{"choices":[],"usage":{...}}` |
//! | `ping`, `citations_delta`, server tool blocks, unknown events | nothing (lossy for citations, as LiteLLM keeps them only in `provider_specific_fields`) |
//! | `error` | `Err(ProviderStreamError)` with the status of its `error.type` |
//!
//! The thinking deltas carry `thinking_blocks` as LiteLLM's (`ModelResponseIterator`), so a client that
//! sends them back on the next turn keeps the signature Anthropic checks.
//!
//! A `tool_use` named `json_tool_call` is the answer to `response_format` (see the request translator): its
//! input pieces are streamed as `content`, as LiteLLM's `_handle_json_mode_chunk` does, and the turn ends
//! with `stop` rather than `tool_calls` when it was the only tool.

use super::error::status_of_type;
use super::wire::{finish_reason, ContentBlock, Delta, Event, WireUsage};
use crate::framing::sse::{SseDecoder, SseEvent, DONE};
use crate::usage::Produced;
use crate::{ResponseMeta, TranslateError, Usage};

/// The most one SSE event may buffer before the stream is refused (`Stream::new`; the gateway can choose
/// another bound with [`Stream::with_max_event_bytes`]). Anthropic's largest events are single text or JSON
/// deltas and `redacted_thinking` starts, far below this.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

/// The most content blocks one answer may open; past it the stream is refused rather than tracked without
/// bound (answers have a handful).
pub const MAX_BLOCKS: usize = 4096;

/// What a content block is, tracked per block `index` from its `content_block_start` (tool call ids and
/// names arrive only there; the deltas name just the index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    /// A client tool call: its OpenAI `index` (counting tool calls, not blocks) and whether any argument
    /// piece was sent.
    Tool {
        call: u32,
        has_arguments: bool,
    },
    /// The `response_format` answer, streamed as content.
    JsonTool,
    /// Server tools and their results, and block types added later: nothing is sent.
    Other,
}

/// The state machine of one Anthropic stream.
#[derive(Debug)]
pub struct Stream {
    decoder: SseDecoder,
    /// Reused between pushes so decoding does not allocate a list per chunk.
    events: Vec<SseEvent>,
    /// `{"id":..,"object":"chat.completion.chunk","created":..,"model":..,"choices":[{"index":0,"delta":`
    chunk_head: Vec<u8>,
    /// `{"id":..,"object":"chat.completion.chunk","created":..,"model":..,"choices":[],"usage":`
    usage_head: Vec<u8>,
    include_usage: bool,
    blocks: Vec<(u64, Block)>,
    tool_calls: u32,
    json_answered: bool,
    usage: Option<WireUsage>,
    /// `message_delta` said the usage: the counts are the answer's, not `message_start`'s opening ones.
    usage_final: bool,
    /// The text passed on, for charging a stream cut short.
    produced: Produced,
    stop_reason: Option<&'static str>,
    /// The role chunk was written.
    started: bool,
    /// The finish chunk (and usage chunk) were written.
    ended: bool,
    /// `data: [DONE]` was written.
    done: bool,
}

impl Stream {
    /// A translator for one stream; `include_usage` adds the usage chunk before `[DONE]`.
    pub fn new(meta: &ResponseMeta<'_>, include_usage: bool) -> Self {
        Stream::with_max_event_bytes(meta, include_usage, DEFAULT_MAX_EVENT_BYTES)
    }

    /// A translator that refuses (`Framing(EventTooLarge)`) an SSE event larger than `max_event_bytes`.
    pub fn with_max_event_bytes(meta: &ResponseMeta<'_>, include_usage: bool, max_event_bytes: usize) -> Self {
        let head = |tail: &str| {
            let mut head = Vec::with_capacity(96 + meta.id.len() + meta.model.len());
            head.extend_from_slice(b"{\"id\":");
            push_json_str(&mut head, meta.id);
            head.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
            head.extend_from_slice(meta.created.to_string().as_bytes());
            head.extend_from_slice(b",\"model\":");
            push_json_str(&mut head, meta.model);
            head.extend_from_slice(tail.as_bytes());
            head
        };
        Stream {
            decoder: SseDecoder::new(max_event_bytes),
            events: Vec::with_capacity(8),
            chunk_head: head(",\"choices\":[{\"index\":0,\"delta\":"),
            usage_head: head(",\"choices\":[],\"usage\":"),
            include_usage,
            blocks: Vec::new(),
            tool_calls: 0,
            json_answered: false,
            usage: None,
            usage_final: false,
            produced: Produced::default(),
            stop_reason: None,
            started: false,
            ended: false,
            done: false,
        }
    }

    /// Feeds a chunk of the provider's stream (any boundary); complete OpenAI events go to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let mut events = std::mem::take(&mut self.events);
        let decoded = self.decoder.push(chunk, &mut events);
        // Events decoded before a framing error are still translated: what the client gets up to the error
        // must not depend on where the chunks ended.
        let result = self.handle_all(&events, out).and(decoded.map_err(TranslateError::from));
        events.clear();
        self.events = events;
        result
    }

    /// Ends the stream: what is left, the finish chunk if the provider said why it stopped but the stream
    /// lost its `message_stop`, and `data: [DONE]` exactly once.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        let mut events = std::mem::take(&mut self.events);
        let decoded = self.decoder.finish(&mut events);
        let result = self.handle_all(&events, out).and(decoded.map_err(TranslateError::from));
        events.clear();
        self.events = events;
        result?;
        if self.stop_reason.is_some() {
            self.end(out)?;
        }
        out.extend_from_slice(DONE);
        self.done = true;
        Ok(())
    }

    /// Whether `message_delta` gave the answer's `stop_reason` (a stream without one was cut short).
    pub fn complete(&self) -> bool {
        self.stop_reason.is_some()
    }

    /// The stream's usage, once the provider has said it (`message_start`, then `message_delta`).
    pub fn usage(&self) -> Option<Usage> {
        self.usage.map(WireUsage::to_usage)
    }

    /// What to charge: the usage once `message_delta` said it, else an estimate (lossy): `message_start`'s
    /// prompt counts and the larger of its output count and the text passed on (see [`Produced::charge`]).
    pub fn produced_estimate(&self) -> Usage {
        self.produced.charge(self.usage(), self.usage_final)
    }

    fn handle_all(&mut self, events: &[SseEvent], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        for event in events {
            self.handle(event, out)?;
        }
        Ok(())
    }

    fn handle(&mut self, sse: &SseEvent, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.ended {
            // Nothing follows `message_stop`; a stray event after it is not passed on.
            return Ok(());
        }
        let event: Event<'_> =
            serde_json::from_str(&sse.data).map_err(|e| TranslateError::ProviderBody(format!("stream event: {e}")))?;
        match event.kind {
            "message_start" => {
                if let Some(message) = event.message {
                    self.add_usage(message.usage);
                    if message.stop_reason.is_some() {
                        self.stop_reason = Some(finish_reason(message.stop_reason));
                    }
                }
                self.start(out);
            }
            "content_block_start" => {
                let (Some(index), Some(block)) = (event.index, event.content_block) else {
                    return Err(TranslateError::ProviderBody("content_block_start without index or block".into()));
                };
                self.start(out);
                self.block_start(index, &block, out)?;
            }
            "content_block_delta" => {
                let (Some(index), Some(delta)) = (event.index, event.delta) else {
                    return Err(TranslateError::ProviderBody("content_block_delta without index or delta".into()));
                };
                self.start(out);
                self.block_delta(index, &delta, out);
            }
            "content_block_stop" => {
                if let Some(index) = event.index {
                    self.block_stop(index, out);
                }
            }
            "message_delta" => {
                self.usage_final |= event.usage.is_some();
                self.add_usage(event.usage);
                if let Some(delta) = event.delta {
                    self.stop_reason = Some(finish_reason(delta.stop_reason));
                }
            }
            "message_stop" => {
                self.start(out);
                self.end(out)?;
            }
            "error" => {
                let detail = event.error;
                let kind = detail.as_ref().and_then(|d| d.kind.as_deref()).unwrap_or("api_error");
                let message =
                    detail.as_ref().and_then(|d| d.message.as_deref()).unwrap_or("the provider failed mid-stream");
                return Err(TranslateError::ProviderStreamError {
                    status: status_of_type(kind),
                    message: message.to_owned(),
                });
            }
            // `ping` and event types added after this was written (Anthropic's versioning policy).
            _ => {}
        }
        Ok(())
    }

    fn add_usage(&mut self, usage: Option<WireUsage>) {
        if let Some(usage) = usage {
            self.usage = Some(self.usage.unwrap_or_default().merge(usage));
        }
    }

    fn block(&self, index: u64) -> Option<Block> {
        self.blocks.iter().rev().find(|(i, _)| *i == index).map(|&(_, b)| b)
    }

    fn set_block(&mut self, index: u64, block: Block) -> Result<(), TranslateError> {
        if let Some(slot) = self.blocks.iter_mut().rev().find(|(i, _)| *i == index) {
            slot.1 = block;
            return Ok(());
        }
        if self.blocks.len() >= MAX_BLOCKS {
            return Err(TranslateError::ProviderBody(format!("more than {MAX_BLOCKS} content blocks")));
        }
        self.blocks.push((index, block));
        Ok(())
    }

    fn block_start(&mut self, index: u64, block: &ContentBlock<'_>, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let state = match block.kind {
            "text" => {
                if let Some(text) = block.text.filter(|t| t.get() != "\"\"") {
                    self.produced.add_raw_json_str(text.get());
                    self.delta(out, &[b"{\"content\":", text.get().as_bytes(), b"}"]);
                }
                Block::Text
            }
            "thinking" => {
                if let Some(text) = block.thinking.filter(|t| t.get() != "\"\"") {
                    self.thinking_delta(out, text.get());
                }
                Block::Thinking
            }
            "redacted_thinking" => {
                if let Some(data) = block.data {
                    self.delta(
                        out,
                        &[
                            b"{\"thinking_blocks\":[{\"type\":\"redacted_thinking\",\"data\":",
                            data.get().as_bytes(),
                            b"}]}",
                        ],
                    );
                }
                Block::Other
            }
            "tool_use" if block.is_json_tool() => {
                self.json_answered = true;
                Block::JsonTool
            }
            "tool_use" => {
                let (Some(id), Some(name)) = (block.id, block.name) else {
                    return Err(TranslateError::ProviderBody("a tool_use block without id or name".into()));
                };
                let call = self.tool_calls;
                self.tool_calls += 1;
                let number = itoa(call);
                self.delta(
                    out,
                    &[
                        b"{\"tool_calls\":[{\"index\":",
                        number.as_bytes(),
                        b",\"id\":",
                        id.get().as_bytes(),
                        b",\"type\":\"function\",\"function\":{\"name\":",
                        name.get().as_bytes(),
                        b",\"arguments\":\"\"}}]}",
                    ],
                );
                // Streams start tool blocks with `"input": {}` and send the arguments as deltas; an input
                // that already holds something is sent as the first piece.
                let has_arguments = match block.input.map(|i| i.get()) {
                    Some(input) if input != "{}" => {
                        self.produced.add_text(input);
                        self.arguments(out, call, &json_string(input));
                        true
                    }
                    _ => false,
                };
                Block::Tool { call, has_arguments }
            }
            _ => Block::Other,
        };
        self.set_block(index, state)
    }

    fn block_delta(&mut self, index: u64, delta: &Delta<'_>, out: &mut Vec<u8>) {
        let block = self.block(index);
        match delta.kind {
            Some("text_delta") => {
                if let Some(text) = delta.text.filter(|t| t.get() != "\"\"") {
                    self.produced.add_raw_json_str(text.get());
                    self.delta(out, &[b"{\"content\":", text.get().as_bytes(), b"}"]);
                }
            }
            Some("input_json_delta") => {
                let Some(piece) = delta.partial_json.filter(|p| p.get() != "\"\"") else { return };
                if matches!(block, Some(Block::Tool { .. } | Block::JsonTool)) {
                    self.produced.add_raw_json_str(piece.get());
                }
                match block {
                    Some(Block::Tool { call, .. }) => {
                        self.arguments(out, call, piece.get());
                        let _ = self.set_block(index, Block::Tool { call, has_arguments: true });
                    }
                    Some(Block::JsonTool) => self.delta(out, &[b"{\"content\":", piece.get().as_bytes(), b"}"]),
                    // Arguments of a block we did not see start (or a server tool's): nobody to give them to.
                    _ => {}
                }
            }
            Some("thinking_delta") => {
                if let Some(text) = delta.thinking {
                    self.thinking_delta(out, text.get());
                }
            }
            Some("signature_delta") => {
                if let Some(signature) = delta.signature {
                    self.delta(
                        out,
                        &[
                            b"{\"reasoning_content\":\"\",\"thinking_blocks\":[{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":",
                            signature.get().as_bytes(),
                            b"}]}",
                        ],
                    );
                }
            }
            // `citations_delta` and delta types added later.
            _ => {}
        }
    }

    fn block_stop(&mut self, index: u64, out: &mut Vec<u8>) {
        if let Some(Block::Tool { call, has_arguments: false }) = self.block(index) {
            // A tool without parameters streams no argument piece; clients parse `arguments` as JSON, so they
            // get `{}` (LiteLLM's `check_empty_tool_call_args`).
            self.arguments(out, call, "\"{}\"");
            let _ = self.set_block(index, Block::Tool { call, has_arguments: true });
        }
    }

    /// The role chunk, once, before anything else.
    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.delta(out, &[b"{\"role\":\"assistant\",\"content\":\"\"}"]);
        }
    }

    /// The finish chunk and, with `include_usage`, the usage chunk; once.
    fn end(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.ended {
            return Ok(());
        }
        self.ended = true;
        let mut reason = self.stop_reason.unwrap_or("stop");
        if reason == "tool_calls" && self.json_answered && self.tool_calls == 0 {
            // The forced `response_format` tool was the only call: the client asked for content.
            reason = "stop";
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&self.chunk_head);
        out.extend_from_slice(b"{},\"logprobs\":null,\"finish_reason\":\"");
        out.extend_from_slice(reason.as_bytes());
        out.extend_from_slice(b"\"}]");
        if self.include_usage {
            out.extend_from_slice(b",\"usage\":null");
        }
        out.extend_from_slice(b"}\n\n");
        if self.include_usage {
            let usage = self.usage.unwrap_or_default().to_usage().to_openai();
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(&self.usage_head);
            serde_json::to_writer(&mut *out, &usage).map_err(|e| TranslateError::ProviderBody(e.to_string()))?;
            out.extend_from_slice(b"}\n\n");
        }
        Ok(())
    }

    fn thinking_delta(&mut self, out: &mut Vec<u8>, text: &str) {
        self.produced.add_raw_json_str(text);
        self.delta(
            out,
            &[
                b"{\"reasoning_content\":",
                text.as_bytes(),
                b",\"thinking_blocks\":[{\"type\":\"thinking\",\"thinking\":",
                text.as_bytes(),
                b",\"signature\":null}]}",
            ],
        );
    }

    /// An arguments piece; `piece` is a JSON string literal.
    fn arguments(&self, out: &mut Vec<u8>, call: u32, piece: &str) {
        let number = itoa(call);
        self.delta(
            out,
            &[
                b"{\"tool_calls\":[{\"index\":",
                number.as_bytes(),
                b",\"function\":{\"arguments\":",
                piece.as_bytes(),
                b"}}]}",
            ],
        );
    }

    /// One chunk whose `delta` is the concatenation of `delta` (JSON text; raw JSON strings from Anthropic
    /// hold no line breaks, so the chunk is one `data:` line).
    fn delta(&self, out: &mut Vec<u8>, delta: &[&[u8]]) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&self.chunk_head);
        for piece in delta {
            out.extend_from_slice(piece);
        }
        out.extend_from_slice(b",\"logprobs\":null,\"finish_reason\":null}]");
        if self.include_usage {
            // OpenAI sends `"usage": null` on every chunk but the last when usage is asked for.
            out.extend_from_slice(b",\"usage\":null");
        }
        out.extend_from_slice(b"}\n\n");
    }
}

/// A small decimal number without a heap allocation.
struct Digits {
    buf: [u8; 10],
    start: usize,
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa(mut n: u32) -> Digits {
    let mut buf = [0u8; 10];
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    Digits { buf, start }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    push_json_str(&mut out, s);
    String::from_utf8(out).unwrap_or_default()
}

fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(out, s);
}
