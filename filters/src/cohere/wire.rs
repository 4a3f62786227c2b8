//! Cohere v2's answer shapes as borrowed serde types: the chat answer, stream events, embed answer, errors.
//!
//! Strings that are only copied into the OpenAI answer are kept as raw JSON (`&RawValue`), so a text delta
//! goes from Cohere's bytes to the client's without being decoded and re-escaped. Unknown members are
//! ignored, so fields Cohere adds later do not break the translation.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

/// `POST /v2/chat` answer (`V2ChatResponse`).
#[derive(Debug, Deserialize)]
pub(super) struct ChatResponse<'a> {
    /// `COMPLETE`, `STOP_SEQUENCE`, `MAX_TOKENS`, `TOOL_CALL`, `ERROR` (and `TIMEOUT` in older answers).
    #[serde(borrow, default)]
    pub finish_reason: Option<Cow<'a, str>>,
    /// The assistant's message.
    #[serde(borrow)]
    pub message: Option<AssistantMessage<'a>>,
    /// Token counts.
    #[serde(default)]
    pub usage: Option<WireUsage>,
}

/// `message` of a chat answer (`AssistantMessageResponse`).
#[derive(Debug, Deserialize)]
pub(super) struct AssistantMessage<'a> {
    /// Content blocks: `{"type":"text","text"}` and `{"type":"thinking","thinking"}`.
    #[serde(borrow, default)]
    pub content: Option<Vec<ContentBlock<'a>>>,
    /// The tool calls, already in OpenAI's shape.
    #[serde(borrow, default)]
    pub tool_calls: Option<Vec<ToolCall<'a>>>,
    /// The text the model writes before calling tools.
    #[serde(borrow, default)]
    pub tool_plan: Option<Cow<'a, str>>,
}

/// One content block of an answer.
#[derive(Debug, Deserialize)]
pub(super) struct ContentBlock<'a> {
    /// `text` or `thinking`.
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    /// The text of a `text` block.
    #[serde(borrow, default)]
    pub text: Option<Cow<'a, str>>,
    /// The reasoning of a `thinking` block.
    #[serde(borrow, default)]
    pub thinking: Option<Cow<'a, str>>,
}

/// A tool call of an answer (`ToolCallV2`).
#[derive(Debug, Deserialize)]
pub(super) struct ToolCall<'a> {
    /// The call's id, a JSON string.
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    /// Name and arguments.
    #[serde(borrow, default)]
    pub function: Option<ToolFunction<'a>>,
}

/// `function` of a tool call or of a `tool-call-start`/`tool-call-delta` event.
#[derive(Debug, Deserialize)]
pub(super) struct ToolFunction<'a> {
    /// The function's name, a JSON string.
    #[serde(borrow, default)]
    pub name: Option<&'a RawValue>,
    /// The arguments as a JSON string (a JSON text inside a string, as OpenAI has them).
    #[serde(borrow, default)]
    pub arguments: Option<&'a RawValue>,
}

/// `usage` of an answer or of `message-end`.
///
/// Counts are floats in Cohere's schema (`UsageTokens`), so they are read as numbers of any kind.
#[derive(Debug, Default, Deserialize)]
pub(super) struct WireUsage {
    /// What Cohere bills: leaves out tokens Cohere adds itself.
    #[serde(default)]
    pub billed_units: Option<Units>,
    /// Every token the model read and wrote.
    #[serde(default)]
    pub tokens: Option<Units>,
    /// Prompt tokens that hit Cohere's inference cache (part of `tokens.input_tokens`).
    #[serde(default)]
    pub cached_tokens: Option<f64>,
}

/// `{"input_tokens","output_tokens"}` of `tokens` or `billed_units`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Units {
    /// Prompt side.
    #[serde(default)]
    pub input_tokens: Option<f64>,
    /// Completion side.
    #[serde(default)]
    pub output_tokens: Option<f64>,
}

/// Any stream event, before its `delta` is read according to its `type`.
#[derive(Debug, Deserialize)]
pub(super) struct Event<'a> {
    /// `message-start`, `content-delta`, ... (absent in an error body sent as an event).
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    /// The content block or tool call the event belongs to.
    #[serde(default)]
    pub index: Option<u64>,
    /// The event's payload; its shape depends on `type`.
    #[serde(borrow, default)]
    pub delta: Option<&'a RawValue>,
    /// Set when the event is an error body (`{"message": "..."}`) rather than a typed event.
    #[serde(borrow, default)]
    pub message: Option<Cow<'a, str>>,
}

/// `delta` of `content-start`/`content-delta`/`tool-plan-delta`/`tool-call-start`/`tool-call-delta`.
#[derive(Debug, Deserialize)]
pub(super) struct MessageDelta<'a> {
    /// `{"message": {...}}`.
    #[serde(borrow, default)]
    pub message: Option<DeltaMessage<'a>>,
}

/// `delta.message` of those events.
#[derive(Debug, Deserialize)]
pub(super) struct DeltaMessage<'a> {
    /// `content-delta`: `{"text"}` or `{"thinking"}`.
    #[serde(borrow, default)]
    pub content: Option<DeltaContent<'a>>,
    /// `tool-plan-delta`: the next piece of the tool plan, a JSON string.
    #[serde(borrow, default)]
    pub tool_plan: Option<&'a RawValue>,
    /// `tool-call-start`: `{"id","type","function":{"name","arguments"}}`; `tool-call-delta`:
    /// `{"function":{"arguments"}}`.
    #[serde(borrow, default)]
    pub tool_calls: Option<DeltaToolCall<'a>>,
}

/// `delta.message.content` of `content-start`/`content-delta`.
#[derive(Debug, Deserialize)]
pub(super) struct DeltaContent<'a> {
    /// A piece of answer text, a JSON string.
    #[serde(borrow, default)]
    pub text: Option<&'a RawValue>,
    /// A piece of reasoning, a JSON string.
    #[serde(borrow, default)]
    pub thinking: Option<&'a RawValue>,
}

/// `delta.message.tool_calls` of `tool-call-start`/`tool-call-delta` (one call, not a list).
#[derive(Debug, Deserialize)]
pub(super) struct DeltaToolCall<'a> {
    /// The call's id (start only), a JSON string.
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    /// Name (start only) and a piece of the arguments.
    #[serde(borrow, default)]
    pub function: Option<ToolFunction<'a>>,
}

/// `delta` of `message-end`.
#[derive(Debug, Deserialize)]
pub(super) struct EndDelta<'a> {
    /// Why the generation stopped.
    #[serde(borrow, default)]
    pub finish_reason: Option<Cow<'a, str>>,
    /// The stream's token counts.
    #[serde(default)]
    pub usage: Option<WireUsage>,
    /// Cohere's message when the generation failed.
    #[serde(borrow, default)]
    pub error: Option<Cow<'a, str>>,
}

/// `POST /v2/embed` answer (`EmbedByTypeResponse`).
#[derive(Debug, Deserialize)]
pub(super) struct EmbedResponse<'a> {
    /// `{"float": [[...], ...]}` (v2); a bare `[[...]]` list is taken as floats too (v1's `embeddings_floats`).
    #[serde(borrow)]
    pub embeddings: Option<&'a RawValue>,
    /// `{"billed_units": {"input_tokens"}}`.
    #[serde(default)]
    pub meta: Option<EmbedMeta>,
}

/// `meta` of an embed answer.
#[derive(Debug, Default, Deserialize)]
pub(super) struct EmbedMeta {
    /// What Cohere bills for the call.
    #[serde(default)]
    pub billed_units: Option<Units>,
    /// Every token embedded, when Cohere says it.
    #[serde(default)]
    pub tokens: Option<Units>,
}

/// `embeddings` of a v2 embed answer: one list of vectors per requested type; only floats are asked for.
#[derive(Debug, Deserialize)]
pub(super) struct EmbeddingsByType<'a> {
    /// One vector per input, in input order.
    #[serde(borrow, default)]
    pub float: Option<Vec<&'a RawValue>>,
}

/// Cohere's error body: `{"message": "..."}`, sometimes with an `id`.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorBody<'a> {
    /// What went wrong.
    #[serde(borrow, default)]
    pub message: Option<Cow<'a, str>>,
}

/// A token count from Cohere's float-typed counts: rounded, negative and non-finite values as 0.
pub(super) fn count(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        // Lossless for any count below 2^53, far above any token count.
        value.round() as u64
    } else {
        0
    }
}
