//! Bedrock ConverseStream (AWS binary eventstream) -> OpenAI `chat.completion.chunk` SSE events.
//! Reference: <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStreamOutput.html>.
//!
//! Each frame's `:event-type` names the event and its JSON payload is the event's body (plus a `p` member of
//! random padding, ignored):
//!
//! | Bedrock event | OpenAI chunk |
//! |---|---|
//! | `messageStart` `{role}` | the first chunk: `delta: {"role": "assistant", "content": ""}` |
//! | `contentBlockStart` `{contentBlockIndex, start: {toolUse: {toolUseId, name}}}` | `delta.tool_calls: [{index, id, type, function: {name, arguments: ""}}]` |
//! | `contentBlockDelta` `{delta: {text}}` | `delta.content` |
//! | `contentBlockDelta` `{delta: {toolUse: {input}}}` | `delta.tool_calls: [{index, function: {arguments}}]` |
//! | `contentBlockDelta` `{delta: {reasoningContent: {text}}}` | `delta.reasoning_content` (LiteLLM's name; signatures dropped, lossy) |
//! | `contentBlockStop` | nothing, or `arguments: "{}"` for a tool call that got no input (LiteLLM does the same) |
//! | `messageStop` `{stopReason}` | the final chunk: `delta: {}`, `finish_reason` ([`super::mapping::finish_reason`]) |
//! | `metadata` `{usage, metrics}` | the usage chunk (`choices: []`) before `[DONE]`, with `include_usage` |
//! | `:message-type: exception` (`throttlingException`, ...) | `Err(ProviderStreamError)` with the exception's status |
//!
//! Tool calls are tracked per content block: Bedrock numbers every block of the message
//! (`contentBlockIndex`), OpenAI numbers tool calls only (`index` 0, 1, ...), and Bedrock sends a call's id
//! and name once, in its `contentBlockStart`. A `toolUse` delta for a block that never started as a tool
//! is a provider error. Other events and block kinds (citations, images) are skipped.
//!
//! LiteLLM's JSON mode (`response_format` sent as the forced `json_tool_call` tool): that tool's input
//! deltas are written as `content`, and its `tool_use` stop reason as `stop`.

use std::borrow::Cow;

use serde::Deserialize;

use crate::framing::eventstream::{EventStreamDecoder, EventStreamError, Frame, MAX_FRAME_BYTES};
use crate::framing::sse::DONE;
use crate::framing::FramingError;
use crate::usage::Produced;
use crate::{ResponseMeta, TranslateError, Usage};

use super::mapping::{error_kind, finish_reason, TokenUsage};
use super::request::JSON_TOOL_NAME;

/// Most tool calls tracked in one stream (a bound on per-stream state, far above any real answer).
const MAX_TOOL_CALLS: usize = 1024;

/// The provider's stream, turned into OpenAI `chat.completion.chunk` SSE events.
#[derive(Debug)]
pub struct Stream {
    /// `data: {"id":..,"object":"chat.completion.chunk","created":..,"model":..,` (no `system_fingerprint`: OpenAI's schema types it a string, Bedrock has none)
    /// rendered once; every chunk starts with it.
    head: Vec<u8>,
    include_usage: bool,
    decoder: EventStreamDecoder,
    /// Frames of the current push, reused across pushes.
    frames: Vec<Frame>,
    /// The role chunk has been written.
    started: bool,
    /// The chunk with `finish_reason` has been written.
    finished: bool,
    /// A content block was closed (`contentBlockStop`): a stream that ends after one, without
    /// `messageStop`, still ends cleanly, as LiteLLM takes it (the `multi_turn` fixture).
    block_stopped: bool,
    /// `data: [DONE]` has been written: nothing more is.
    done: bool,
    usage: Option<Usage>,
    /// The text passed on, for charging a stream cut short (Bedrock says the usage only in `metadata`, last).
    produced: Produced,
    /// Tool-call content blocks: (Bedrock block index, OpenAI tool call index, got any input).
    tools: Vec<ToolBlock>,
    /// The content block of LiteLLM's JSON-mode tool, whose input is the answer's content.
    json_block: Option<u64>,
}

/// A content block that is a tool call.
#[derive(Debug, Clone, Copy)]
struct ToolBlock {
    block: u64,
    index: usize,
    has_input: bool,
}

impl Stream {
    /// A translator for one stream.
    pub fn new(meta: &ResponseMeta<'_>, include_usage: bool) -> Self {
        Stream::with_max_frame_bytes(meta, include_usage, MAX_FRAME_BYTES)
    }

    /// A translator that refuses a frame declaring more than `max_frame_bytes` (AWS's own limit still applies).
    pub fn with_max_frame_bytes(meta: &ResponseMeta<'_>, include_usage: bool, max_frame_bytes: usize) -> Self {
        let mut head = Vec::with_capacity(128 + meta.id.len() + meta.model.len());
        head.extend_from_slice(b"data: {\"id\":");
        write_json_str(&mut head, meta.id);
        head.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        head.extend_from_slice(meta.created.to_string().as_bytes());
        head.extend_from_slice(b",\"model\":");
        write_json_str(&mut head, meta.model);
        head.push(b',');
        Stream {
            head,
            include_usage,
            decoder: EventStreamDecoder::new(max_frame_bytes.min(MAX_FRAME_BYTES)),
            frames: Vec::with_capacity(8),
            started: false,
            finished: false,
            block_stopped: false,
            done: false,
            usage: None,
            produced: Produced::default(),
            tools: Vec::new(),
            json_block: None,
        }
    }

    /// Feeds a chunk of the provider's stream (any boundary); complete OpenAI events go to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        let mut frames = std::mem::take(&mut self.frames);
        let decoded = self.decoder.push(chunk, &mut frames).map_err(framing_error);
        // Frames decoded before a framing error are still translated, so the client gets what came whole.
        let mut result = Ok(());
        for frame in frames.drain(..) {
            result = self.frame(&frame, out);
            if result.is_err() {
                break;
            }
        }
        frames.clear();
        self.frames = frames;
        result.and(decoded)
    }

    /// Ends the stream: writes what is left and the final `data: [DONE]`.
    ///
    /// A stream that stopped without `messageStop` still ends cleanly (`finish_reason: "stop"`); one that
    /// stopped inside a frame is an error (the connection was cut mid-event).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        self.decoder.finish().map_err(framing_error)?;
        if !self.finished {
            self.start(out);
            // Lossy: without `messageStop` the reason is unknown; `stop` is what LiteLLM defaults to.
            self.write_finish(out, "stop");
        }
        if self.include_usage {
            if let Some(usage) = self.usage {
                out.extend_from_slice(&self.head);
                out.extend_from_slice(b"\"choices\":[],\"usage\":");
                out.extend_from_slice(usage.to_openai().to_string().as_bytes());
                out.extend_from_slice(b"}\n\n");
            }
            // No usage chunk when Bedrock never said the usage: no numbers are made up.
        }
        out.extend_from_slice(DONE);
        self.done = true;
        Ok(())
    }

    /// Whether the stream reached an end: `messageStop`, or at least a closed content block (as LiteLLM,
    /// which ends such a stream with `stop`). A stream that ends inside its first block was cut short.
    pub fn complete(&self) -> bool {
        self.finished || self.block_stopped
    }

    /// The stream's usage, once the provider has said it.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// What to charge: the usage of `metadata` once it came (Bedrock sends it once, at the end), else an
    /// estimate (lossy) from the text passed on, with no prompt tokens (see [`Produced::charge`]).
    pub fn produced_estimate(&self) -> Usage {
        self.produced.charge(self.usage, true)
    }

    /// Translates one frame.
    fn frame(&mut self, frame: &Frame, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        match frame.message_type() {
            Some("event") | None => {}
            Some("exception") => return Err(exception(frame)),
            Some(_) => {
                // `:message-type: error` carries the error in headers (`:error-code`, `:error-message`).
                let code = frame.header(":error-code").unwrap_or("error");
                let message = frame.header(":error-message").unwrap_or("the provider reported an error");
                let status = error_kind(code).map_or(500, |(status, _)| status);
                return Err(TranslateError::ProviderStreamError { status, message: format!("{code}: {message}") });
            }
        }
        let payload = frame.payload();
        match frame.event_type() {
            Some("messageStart") => self.start(out),
            Some("contentBlockStart") => {
                let event: BlockStart<'_> = parse(payload)?;
                let Some(tool) = event.start.and_then(|s| s.tool_use) else {
                    return Ok(());
                };
                self.start(out);
                if tool.name == JSON_TOOL_NAME {
                    self.json_block = Some(event.content_block_index);
                    return Ok(());
                }
                if self.tools.len() >= MAX_TOOL_CALLS {
                    return Err(TranslateError::ProviderBody(format!("more than {MAX_TOOL_CALLS} tool calls")));
                }
                let index = self.tools.len();
                self.tools.push(ToolBlock { block: event.content_block_index, index, has_input: false });
                self.open_chunk(out);
                out.extend_from_slice(b"{\"tool_calls\":[{\"index\":");
                write_usize(out, index);
                out.extend_from_slice(b",\"id\":");
                write_json_str(out, &tool.tool_use_id);
                out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
                write_json_str(out, &tool.name);
                out.extend_from_slice(b",\"arguments\":\"\"}}]}");
                self.close_chunk(out, None);
            }
            Some("contentBlockDelta") => {
                let event: BlockDelta<'_> = parse(payload)?;
                let delta = event.delta;
                if let Some(text) = delta.text {
                    self.content(out, "content", &text);
                } else if let Some(tool) = delta.tool_use {
                    if self.json_block == Some(event.content_block_index) {
                        self.content(out, "content", &tool.input);
                        return Ok(());
                    }
                    let Some(block) = self.tools.iter_mut().find(|t| t.block == event.content_block_index) else {
                        return Err(TranslateError::ProviderBody(format!(
                            "tool input for content block {} that did not start as a tool call",
                            event.content_block_index
                        )));
                    };
                    if tool.input.is_empty() {
                        // Bedrock often opens with an empty piece; an empty delta says nothing.
                        return Ok(());
                    }
                    block.has_input = true;
                    let index = block.index;
                    self.produced.add_text(&tool.input);
                    self.tool_arguments(out, index, &tool.input);
                } else if let Some(text) = delta.reasoning_content.and_then(|r| r.text) {
                    self.content(out, "reasoning_content", &text);
                }
            }
            Some("contentBlockStop") => {
                let event: BlockStop = parse(payload)?;
                self.block_stopped = true;
                let Some(block) = self.tools.iter().find(|t| t.block == event.content_block_index) else {
                    return Ok(());
                };
                if !block.has_input {
                    // A call without input still needs valid JSON arguments (LiteLLM sends `{}` too).
                    let index = block.index;
                    self.tool_arguments(out, index, "{}");
                }
            }
            Some("messageStop") => {
                let event: MessageStop<'_> = parse(payload)?;
                self.start(out);
                let mut reason = finish_reason(&event.stop_reason);
                if self.json_block.is_some() && self.tools.is_empty() && reason == "tool_calls" {
                    // JSON mode answered through its tool: to the client that is a plain answer.
                    reason = "stop";
                }
                if !self.finished {
                    self.write_finish(out, reason);
                }
            }
            Some("metadata") => {
                let event: Metadata = parse(payload)?;
                if let Some(usage) = event.usage {
                    self.usage = Some(usage.to_usage());
                }
            }
            // Events added after this was written carry nothing a chunk could say.
            _ => {}
        }
        Ok(())
    }

    /// Writes the role chunk once, before anything else.
    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        self.open_chunk(out);
        out.extend_from_slice(b"{\"role\":\"assistant\",\"content\":\"\"}");
        self.close_chunk(out, None);
    }

    /// A chunk whose delta is one string member (`content`, `reasoning_content`); empty strings are skipped.
    fn content(&mut self, out: &mut Vec<u8>, member: &str, text: &str) {
        if text.is_empty() {
            return;
        }
        self.produced.add_text(text);
        self.start(out);
        self.open_chunk(out);
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(member.as_bytes());
        out.extend_from_slice(b"\":");
        write_json_str(out, text);
        out.push(b'}');
        self.close_chunk(out, None);
    }

    /// A chunk with a piece of a tool call's arguments.
    fn tool_arguments(&mut self, out: &mut Vec<u8>, index: usize, arguments: &str) {
        self.open_chunk(out);
        out.extend_from_slice(b"{\"tool_calls\":[{\"index\":");
        write_usize(out, index);
        out.extend_from_slice(b",\"function\":{\"arguments\":");
        write_json_str(out, arguments);
        out.extend_from_slice(b"}}]}");
        self.close_chunk(out, None);
    }

    /// The chunk with `finish_reason`, written once.
    fn write_finish(&mut self, out: &mut Vec<u8>, reason: &str) {
        self.finished = true;
        self.open_chunk(out);
        out.extend_from_slice(b"{}");
        self.close_chunk(out, Some(reason));
    }

    /// Everything of a chunk before its delta object.
    fn open_chunk(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        out.extend_from_slice(b"\"choices\":[{\"index\":0,\"delta\":");
    }

    /// Everything of a chunk after its delta object.
    fn close_chunk(&self, out: &mut Vec<u8>, finish_reason: Option<&str>) {
        out.extend_from_slice(b",\"logprobs\":null,\"finish_reason\":");
        match finish_reason {
            Some(reason) => write_json_str(out, reason),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b"}]");
        if self.include_usage {
            // OpenAI's chunks say `"usage": null` until the usage chunk when usage was asked for.
            out.extend_from_slice(b",\"usage\":null");
        }
        out.extend_from_slice(b"}\n\n");
    }
}

/// An exception frame as the error the gateway turns into a final SSE error event.
fn exception(frame: &Frame) -> TranslateError {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default, alias = "Message")]
        message: Option<String>,
    }
    let kind = frame.exception_type().unwrap_or("exception");
    // The documented statuses of ConverseStreamOutput's exceptions; unknown ones are the provider's fault.
    let status = error_kind(kind).map_or(500, |(status, _)| status);
    let message = match serde_json::from_slice::<Body>(frame.payload()) {
        Ok(Body { message: Some(m) }) => m,
        _ => String::from_utf8_lossy(frame.payload()).into_owned(),
    };
    TranslateError::ProviderStreamError { status, message: format!("{kind}: {message}") }
}

/// A framing failure as the crate's error: too large is `Framing`, anything else a body we cannot read.
fn framing_error(e: EventStreamError) -> TranslateError {
    match e {
        EventStreamError::FrameTooLarge { limit, .. } => TranslateError::Framing(FramingError::EventTooLarge(limit)),
        other => TranslateError::ProviderBody(other.to_string()),
    }
}

fn parse<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, TranslateError> {
    serde_json::from_slice(payload).map_err(|e| TranslateError::ProviderBody(format!("a ConverseStream event: {e}")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStart<'a> {
    #[serde(default)]
    content_block_index: u64,
    #[serde(borrow, default)]
    start: Option<StartBody<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBody<'a> {
    #[serde(borrow, default)]
    tool_use: Option<ToolStart<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolStart<'a> {
    #[serde(borrow)]
    tool_use_id: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockDelta<'a> {
    #[serde(default)]
    content_block_index: u64,
    #[serde(borrow)]
    delta: DeltaBody<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeltaBody<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tool_use: Option<ToolDelta<'a>>,
    #[serde(borrow, default)]
    reasoning_content: Option<ReasoningDelta<'a>>,
}

#[derive(Deserialize)]
struct ToolDelta<'a> {
    #[serde(borrow)]
    input: Cow<'a, str>,
}

#[derive(Deserialize)]
struct ReasoningDelta<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStop {
    #[serde(default)]
    content_block_index: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageStop<'a> {
    #[serde(borrow)]
    stop_reason: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    usage: Option<TokenUsage>,
}

/// Writes a number in decimal without an allocation.
fn write_usize(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Writes `s` as a JSON string literal, escaped as serde_json escapes it.
fn write_json_str(out: &mut Vec<u8>, s: &str) {
    crate::openai::write_json_str(out, s);
}
