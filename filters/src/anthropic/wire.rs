//! Anthropic's Messages API answers as they arrive on the wire (borrowed, zero-copy where the bytes allow),
//! and the two tables that decide what a customer sees and is billed: `stop_reason` -> `finish_reason` and
//! `usage` -> [`Usage`].
//!
//! Reference: <https://platform.claude.com/docs/en/api/messages> (the `Message` object) and
//! <https://platform.claude.com/docs/en/build-with-claude/streaming> (the events). Anthropic's versioning
//! policy allows new content block types, delta types, event types and stop reasons to appear: every enum
//! here is read from a string, and an unknown value is tolerated where it is met, never a parse error.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::Usage;

/// The name LiteLLM gives the forced tool that carries `response_format` (its `RESPONSE_FORMAT_TOOL_NAME`);
/// a `tool_use` of this name in an answer is the JSON the client asked for, not a tool call.
pub const JSON_TOOL_NAME: &str = "json_tool_call";

/// A non-stream answer (`"type": "message"`); only the members the translation reads.
#[derive(Debug, Deserialize)]
pub(super) struct Message<'a> {
    #[serde(borrow, default)]
    pub content: Vec<ContentBlock<'a>>,
    #[serde(borrow, default)]
    pub stop_reason: Option<&'a str>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
}

/// One content block of an answer, or the `content_block` of a `content_block_start` event.
///
/// String members stay raw JSON (`&RawValue`, quotes and escapes included) so text and tool input are
/// copied to the client byte for byte, never decoded and re-encoded.
#[derive(Debug, Deserialize)]
pub(super) struct ContentBlock<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: &'a str,
    /// `text` blocks.
    #[serde(borrow, default)]
    pub text: Option<&'a RawValue>,
    /// `tool_use` blocks: the id the client must answer with (`tool_call_id`).
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    /// `tool_use` blocks: the tool's name; raw JSON string, borrowed when it has no escapes.
    #[serde(borrow, default)]
    pub name: Option<&'a RawValue>,
    /// `tool_use` blocks: the arguments object.
    #[serde(borrow, default)]
    pub input: Option<&'a RawValue>,
    /// `thinking` blocks.
    #[serde(borrow, default)]
    pub thinking: Option<&'a RawValue>,
    /// `thinking` blocks: the signature a later turn must send back.
    #[serde(borrow, default)]
    pub signature: Option<&'a RawValue>,
    /// `redacted_thinking` blocks: the encrypted reasoning a later turn must send back.
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
}

impl ContentBlock<'_> {
    /// Whether this is the forced tool that carries `response_format` (see [`JSON_TOOL_NAME`]).
    pub fn is_json_tool(&self) -> bool {
        self.kind == "tool_use" && self.name.is_some_and(|n| n.get() == "\"json_tool_call\"")
    }
}

/// One stream event (`data:` of an SSE event); `type` names it, the other members depend on it.
#[derive(Debug, Deserialize)]
pub(super) struct Event<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: &'a str,
    /// `content_block_*` events: the block's position in the answer's `content`.
    #[serde(default)]
    pub index: Option<u64>,
    /// `message_start`.
    #[serde(borrow, default)]
    pub message: Option<StartMessage<'a>>,
    /// `content_block_start`.
    #[serde(borrow, default)]
    pub content_block: Option<ContentBlock<'a>>,
    /// `content_block_delta` and `message_delta` (two shapes; both read through one struct).
    #[serde(borrow, default)]
    pub delta: Option<Delta<'a>>,
    /// `message_delta`: cumulative usage.
    #[serde(default)]
    pub usage: Option<WireUsage>,
    /// `error`.
    #[serde(borrow, default)]
    pub error: Option<ErrorDetail<'a>>,
}

/// The `message` of `message_start`: only its usage is read (id and model come from `ResponseMeta`).
#[derive(Debug, Deserialize)]
pub(super) struct StartMessage<'a> {
    #[serde(default)]
    pub usage: Option<WireUsage>,
    #[serde(borrow, default)]
    pub stop_reason: Option<&'a str>,
}

/// A `content_block_delta`'s `delta` or a `message_delta`'s `delta`.
#[derive(Debug, Deserialize)]
pub(super) struct Delta<'a> {
    /// `text_delta`, `input_json_delta`, `thinking_delta`, `signature_delta`, `citations_delta`; absent in
    /// `message_delta`.
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<&'a str>,
    #[serde(borrow, default)]
    pub text: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub partial_json: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub thinking: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub signature: Option<&'a RawValue>,
    /// `message_delta` only.
    #[serde(borrow, default)]
    pub stop_reason: Option<&'a str>,
}

/// `{"type": "error", "error": {"type": ..., "message": ...}}`, as an error answer's body and as a stream event.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorBody<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: &'a str,
    #[serde(borrow)]
    pub error: ErrorDetail<'a>,
}

/// The inner `error` object.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorDetail<'a> {
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    pub message: Option<std::borrow::Cow<'a, str>>,
}

/// Anthropic's `usage`; every count optional because `message_delta` may carry only `output_tokens`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub struct WireUsage {
    /// Input tokens neither read from nor written to the cache.
    #[serde(default)]
    pub input_tokens: Option<u64>,
    /// Output tokens, thinking included.
    #[serde(default)]
    pub output_tokens: Option<u64>,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    /// Input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
}

impl WireUsage {
    /// `later`'s counts where it gives them, ours where it does not (a stream's `message_delta` over its
    /// `message_start`: Anthropic documents `message_delta` usage as cumulative).
    pub fn merge(self, later: WireUsage) -> WireUsage {
        WireUsage {
            input_tokens: later.input_tokens.or(self.input_tokens),
            output_tokens: later.output_tokens.or(self.output_tokens),
            cache_read_input_tokens: later.cache_read_input_tokens.or(self.cache_read_input_tokens),
            cache_creation_input_tokens: later.cache_creation_input_tokens.or(self.cache_creation_input_tokens),
        }
    }

    /// The usage table, written once (the Anthropic row of [`crate::usage`]'s table):
    ///
    /// | OpenAI / [`Usage`] | Anthropic |
    /// |---|---|
    /// | `prompt_tokens` | `input_tokens` + `cache_read_input_tokens` + `cache_creation_input_tokens` |
    /// | `completion_tokens` | `output_tokens` (thinking included) |
    /// | `cached_tokens` (`prompt_tokens_details.cached_tokens`, `cache_read_input_tokens`) | `cache_read_input_tokens` |
    /// | `cache_creation_tokens` (`cache_creation_input_tokens`) | `cache_creation_input_tokens` |
    /// | `reasoning_tokens` | `None`: Anthropic does not split thinking out of `output_tokens` |
    ///
    /// Anthropic's `input_tokens` counts only the uncached part of the prompt, so the three input counts
    /// are disjoint and their sum is the whole prompt, as LiteLLM reports it (`AnthropicConfig.calculate_usage`:
    /// `prompt_tokens += cache_creation_input_tokens`, `prompt_tokens += cache_read_input_tokens`).
    /// Lossy: LiteLLM estimates `reasoning_tokens` by running a tokenizer over the thinking text; a pure
    /// translator has no tokenizer, so we leave it unsaid (`None`) rather than guess. The 5-minute / 1-hour
    /// split of cache writes (`cache_creation`) is not carried either.
    pub fn to_usage(self) -> Usage {
        let read = self.cache_read_input_tokens;
        let written = self.cache_creation_input_tokens;
        Usage {
            prompt_tokens: self
                .input_tokens
                .unwrap_or(0)
                .saturating_add(read.unwrap_or(0))
                .saturating_add(written.unwrap_or(0)),
            completion_tokens: self.output_tokens.unwrap_or(0),
            cached_tokens: read,
            cache_creation_tokens: written,
            reasoning_tokens: None,
        }
    }
}

/// The finish-reason table, written once: Anthropic's `stop_reason` -> OpenAI's `finish_reason`.
///
/// | `stop_reason` | `finish_reason` | note |
/// |---|---|---|
/// | `end_turn` | `stop` | |
/// | `stop_sequence` | `stop` | lossy: which sequence matched (`stop_sequence`) has no OpenAI field |
/// | `max_tokens` | `length` | |
/// | `model_context_window_exceeded` | `length` | LiteLLM has no row and defaults to `stop`; the answer was cut by a limit, which is what `length` tells a client |
/// | `tool_use` | `tool_calls` | |
/// | `refusal` | `content_filter` | |
/// | `compaction` | `length` | as LiteLLM |
/// | `pause_turn` | `stop` | LiteLLM's default for a reason it has no row for; the client may send the turn back to continue |
/// | anything else / absent | `stop` | LiteLLM's default (`map_finish_reason`) |
///
/// Source: LiteLLM `litellm_core_utils/core_helpers.py` `_FINISH_REASON_MAP`.
pub fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded" | "compaction") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        // end_turn, stop_sequence, pause_turn, unknown and absent.
        _ => "stop",
    }
}
