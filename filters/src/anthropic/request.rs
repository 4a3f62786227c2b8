//! OpenAI chat request -> Anthropic Messages request (`POST /v1/messages`).
//!
//! Reference: <https://platform.claude.com/docs/en/api/messages>. Behaviour follows LiteLLM's
//! `AnthropicConfig` (`llms/anthropic/chat/transformation.py`: `get_supported_openai_params`,
//! `map_openai_params`, `translate_system_message`, `transform_request`) and its prompt factory
//! (`anthropic_messages_pt`, `convert_to_anthropic_tool_invoke`, `convert_to_anthropic_tool_result`).
//!
//! Large values (message text, base64 images, tool schemas) are never decoded: they are borrowed from the
//! client body as raw JSON and written out byte for byte, so a multi-megabyte vision request costs one copy.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::wire::JSON_TOOL_NAME;
use super::PROVIDER;
use crate::openai::RequestView;
use crate::{RequestOptions, TranslateError};

/// `max_tokens` when neither the client nor a known model family says more: LiteLLM's
/// `DEFAULT_ANTHROPIC_CHAT_MAX_TOKENS` (Anthropic requires the member).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// What LiteLLM adds to a thinking budget when the client gave no `max_tokens` (its `DEFAULT_MAX_TOKENS`
/// in `update_optional_params_with_thinking_tokens`): Anthropic wants `max_tokens > budget_tokens`.
pub const THINKING_HEADROOM: u64 = 4096;

/// The default `max_tokens` per model family: the model's documented maximum output, as LiteLLM's newer
/// releases send (`get_max_tokens(model)` from its model map), first match wins; an unknown model gets
/// [`DEFAULT_MAX_TOKENS`], which every Claude model accepts.
///
/// Claude 3.7 Sonnet is 64000, its maximum without the `output-128k` beta header (LiteLLM's map says 128000,
/// which Anthropic refuses without that header).
const MAX_OUTPUT_BY_FAMILY: &[(&str, u64)] = &[
    ("claude-opus-4-6", 128_000),
    ("claude-opus-4-5", 64_000),
    ("claude-opus-4-1", 32_000),
    ("claude-opus-4", 32_000),
    ("claude-4-opus", 32_000),
    ("claude-sonnet-4", 64_000),
    ("claude-4-sonnet", 64_000),
    ("claude-haiku-4", 64_000),
    ("claude-3-7-sonnet", 64_000),
    ("claude-3-5-sonnet", 8_192),
    ("claude-3-5-haiku", 8_192),
    ("claude-3-", 4_096),
];

/// The `max_tokens` sent when the client gives none and thinking has no budget to size it by.
pub fn default_max_tokens(model: &str) -> u64 {
    MAX_OUTPUT_BY_FAMILY
        .iter()
        .find(|(family, _)| model.contains(family))
        .map_or(DEFAULT_MAX_TOKENS, |&(_, tokens)| tokens)
}

/// Whether `model` can think: LiteLLM offers `thinking`/`reasoning_effort` only where its model map says
/// `supports_reasoning` (Claude 3.7 and every Claude 4). Older families are named here; an unknown (newer)
/// model is assumed to think, so a new release works without a table change.
pub fn supports_reasoning(model: &str) -> bool {
    let older = model.contains("claude-3-") && !model.contains("claude-3-7");
    !(older || model.contains("claude-2") || model.contains("claude-instant"))
}

/// LiteLLM's `reasoning_effort` -> thinking budget (`_map_reasoning_effort` with its
/// `DEFAULT_REASONING_EFFORT_*_THINKING_BUDGET` constants; `minimal` is raised to Anthropic's 1024 minimum).
/// `None` for `"none"` (no thinking); `Err` for a value LiteLLM also refuses.
pub fn thinking_budget(effort: &str) -> Result<Option<u64>, TranslateError> {
    match effort {
        "none" => Ok(None),
        "minimal" | "low" => Ok(Some(1024)),
        "medium" => Ok(Some(2048)),
        "high" => Ok(Some(4096)),
        _ => Err(TranslateError::WrongType {
            field: "reasoning_effort",
            expected: "one of \"none\", \"minimal\", \"low\", \"medium\", \"high\"",
        }),
    }
}

/// What the translator does with each top-level member of an OpenAI chat request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// Mapped onto an Anthropic member (`max_tokens`, `stop_sequences`, `tools`, `thinking`, ...).
    Mapped,
    /// Read elsewhere or meaningless to Anthropic, dropped without a word: `model` (replaced),
    /// `stream_options` (the gateway reads `include_usage`), `max_retries`, and LiteLLM proxy members
    /// (`metadata` after its `user_id`, `tags`, `fallbacks`, `num_retries`, `mock_response`, ...). LiteLLM
    /// skips `user`, `stream_options`, `stream`, `max_retries` and `n: 1` the same way (`_check_valid_arg`).
    Ignored,
    /// An OpenAI parameter Anthropic has no equivalent for: refused (`UnsupportedParam`, 400) unless
    /// `drop_params`, as LiteLLM's `UnsupportedParamsError`.
    Unsupported,
    /// Not an OpenAI parameter: passed through to Anthropic unchanged, as LiteLLM passes provider-specific
    /// members (`top_k`, `cache_control`, `context_management`, `container`, `mcp_servers`, ...). Anthropic
    /// answers 400 for a member it does not know, so nothing is silently lost.
    Passthrough,
}

/// The parameter table, written once (LiteLLM `AnthropicConfig.get_supported_openai_params`: stream, stop,
/// temperature, top_p, max_tokens, max_completion_tokens, tools, tool_choice, parallel_tool_calls,
/// response_format, user, web_search_options, thinking, reasoning_effort; `extra_headers` is the gateway's).
pub fn param(key: &str) -> Param {
    match key {
        "messages"
        | "max_tokens"
        | "max_completion_tokens"
        | "temperature"
        | "top_p"
        | "stop"
        | "stream"
        | "tools"
        | "tool_choice"
        | "parallel_tool_calls"
        | "response_format"
        | "user"
        | "metadata"
        | "thinking"
        | "reasoning_effort"
        | "web_search_options" => Param::Mapped,
        "model"
        | "stream_options"
        | "max_retries"
        | "extra_headers"
        | "litellm_metadata"
        | "tags"
        | "fallbacks"
        | "context_window_fallback_dict"
        | "num_retries"
        | "timeout"
        | "request_timeout"
        | "mock_response"
        | "mock_testing_fallbacks"
        | "caching"
        | "cache"
        | "no-log"
        | "guardrails"
        | "drop_params"
        | "additional_drop_params"
        | "allowed_openai_params" => Param::Ignored,
        "n" | "frequency_penalty" | "presence_penalty" | "logit_bias" | "logprobs" | "top_logprobs" | "seed"
        | "functions" | "function_call" | "modalities" | "audio" | "prediction" | "service_tier" | "store"
        | "verbosity" | "prompt_cache_key" | "safety_identifier" => Param::Unsupported,
        _ => Param::Passthrough,
    }
}

/// Harmless values of otherwise unsupported parameters: they ask for what Anthropic does anyway. `n: 1` is
/// LiteLLM's exception (LangChain always sends it); `logprobs: false` asks for nothing (LiteLLM would
/// refuse it; we do not, as it cannot change the answer).
fn harmless(key: &str, raw: &RawValue) -> bool {
    matches!((key, raw.get()), ("n", "1") | ("logprobs", "false"))
}

/// Translates a chat request; `model` is the upstream model id.
pub fn chat(view: &RequestView<'_>, model: &str, opts: &RequestOptions) -> Result<Vec<u8>, TranslateError> {
    let mut p = Params::default();
    for (key, raw) in view.members() {
        // OpenAI treats an explicit null as "not given"; so do we, for every member.
        if raw.get() == "null" {
            continue;
        }
        match param(key) {
            Param::Mapped => p.set(key, raw),
            Param::Ignored => {}
            Param::Unsupported if harmless(key, raw) || opts.drop_params => {}
            Param::Unsupported => return Err(unsupported(key)),
            Param::Passthrough => p.passthrough.push((key, raw)),
        }
    }
    let Some(messages) = p.messages else {
        return Err(TranslateError::MissingField("messages"));
    };

    let mut conversation = Conversation::default();
    conversation.read(messages, opts)?;
    let Conversation { mut turns, system, has_tool_blocks, .. } = conversation;
    if turns.is_empty() {
        return Err(TranslateError::WrongType {
            field: "messages",
            expected: "a list with at least one message that is not a system message",
        });
    }
    strip_final_assistant_whitespace(&mut turns);

    let reasoning = reasoning(&mut p, model, opts)?;
    let max_tokens = match (p.max_completion_tokens, p.max_tokens) {
        (Some(raw), _) => max_tokens(raw, "max_completion_tokens")?,
        (None, Some(raw)) => max_tokens(raw, "max_tokens")?,
        (None, None) => match reasoning.budget {
            Some(budget) => budget + THINKING_HEADROOM,
            None => default_max_tokens(model),
        },
    };

    let mut tools = match p.tools {
        Some(raw) => read_tools(raw, opts)?,
        None => Vec::new(),
    };
    let mut tool_choice = match p.tool_choice {
        Some(raw) => read_tool_choice(raw)?,
        None => None,
    };
    if let Some(parallel) = p.parallel_tool_calls {
        apply_parallel_tool_calls(parallel, &mut tool_choice)?;
    }
    if let Some(raw) = p.response_format {
        if let Some(schema) = read_response_format(raw)? {
            tools.push(Tool::Custom(CustomTool {
                name: Str::Borrowed(JSON_TOOL_NAME),
                description: None,
                input_schema: schema,
                cache_control: None,
            }));
            // Anthropic refuses a forced tool while thinking; LiteLLM then leaves tool_choice to the model.
            if !reasoning.on {
                tool_choice = Some(ToolChoice {
                    kind: "tool",
                    name: Some(Str::Borrowed(JSON_TOOL_NAME)),
                    disable_parallel_tool_use: None,
                });
            }
        }
    }
    if let Some(raw) = p.web_search_options {
        tools.push(Tool::WebSearch(read_web_search(raw)?));
    }
    if has_tool_blocks && tools.is_empty() {
        // Anthropic refuses tool_use/tool_result blocks in a request without tools; LiteLLM adds this one
        // (`add_dummy_tool`) so a conversation that used tools can continue without them.
        tools.push(Tool::Custom(CustomTool {
            name: Str::Borrowed("dummy_tool"),
            description: Some(Str::Borrowed("This is a dummy tool call")),
            input_schema: Json::Owned(empty_object_schema()?),
            cache_control: None,
        }));
    }

    let mut stop_sequences = Vec::new();
    if let Some(raw) = p.stop {
        read_stop(raw, opts, &mut stop_sequences)?;
    }
    let metadata = read_user_id(p.user, p.metadata)?.map(|user_id| Metadata { user_id });

    let body = Body {
        model,
        messages: turns,
        system,
        max_tokens,
        temperature: p.temperature,
        top_p: p.top_p,
        stop_sequences,
        stream: view.stream()?,
        tools,
        tool_choice,
        thinking: reasoning.thinking,
        metadata,
    };
    let mut out = Vec::with_capacity(view.body_len() + 256);
    serde_json::to_writer(&mut out, &body).map_err(|e| TranslateError::ProviderBody(e.to_string()))?;
    if !p.passthrough.is_empty() && out.last() == Some(&b'}') {
        out.pop();
        for (key, raw) in p.passthrough {
            out.push(b',');
            serde_json::to_writer(&mut out, key).map_err(|e| TranslateError::ProviderBody(e.to_string()))?;
            out.push(b':');
            out.extend_from_slice(raw.get().as_bytes());
        }
        out.push(b'}');
    }
    Ok(out)
}

fn unsupported(key: &str) -> TranslateError {
    TranslateError::UnsupportedParam { provider: PROVIDER, param: key.to_owned() }
}

/// What the request asks of Claude's extended thinking.
struct Reasoning<'a> {
    thinking: Option<Thinking<'a>>,
    /// The thinking budget, which sizes `max_tokens` when the client gives none.
    budget: Option<u64>,
    /// Thinking is on (Anthropic then refuses a forced `tool_choice`).
    on: bool,
}

/// `thinking` (passed as it is, and it wins) or `reasoning_effort` (LiteLLM's budgets) -> Anthropic's
/// `thinking`; refused, or dropped with `drop_params`, for a model that cannot think.
fn reasoning<'a>(p: &mut Params<'a>, model: &str, opts: &RequestOptions) -> Result<Reasoning<'a>, TranslateError> {
    if (p.thinking.is_some() || p.reasoning_effort.is_some()) && !supports_reasoning(model) {
        if !opts.drop_params {
            return Err(unsupported(if p.thinking.is_some() { "thinking" } else { "reasoning_effort" }));
        }
        p.thinking = None;
        p.reasoning_effort = None;
    }
    match (p.thinking, p.reasoning_effort) {
        (Some(raw), _) => {
            let parsed = serde_json::from_str::<InThinking<'_>>(raw.get()).ok();
            let on = parsed.as_ref().is_some_and(|t| t.kind.as_deref() != Some("disabled"));
            let budget = parsed.and_then(|t| t.budget_tokens);
            Ok(Reasoning { thinking: Some(Thinking::Raw(raw)), budget, on })
        }
        (None, Some(raw)) => {
            let effort = decode_str(raw, "reasoning_effort", "a string")?;
            let budget = thinking_budget(&effort)?;
            let thinking =
                budget.map(|budget_tokens| Thinking::Enabled(EnabledThinking { kind: "enabled", budget_tokens }));
            Ok(Reasoning { thinking, budget, on: budget.is_some() })
        }
        (None, None) => Ok(Reasoning { thinking: None, budget: None, on: false }),
    }
}

/// `parallel_tool_calls` -> `disable_parallel_tool_use` (the inverse) on the tool choice, `auto` when the
/// client gave none; left off `none`, which allows no tool at all (LiteLLM `_map_tool_choice`).
fn apply_parallel_tool_calls(raw: &RawValue, tool_choice: &mut Option<ToolChoice<'_>>) -> Result<(), TranslateError> {
    let parallel = match raw.get() {
        "true" => true,
        "false" => false,
        _ => return Err(TranslateError::WrongType { field: "parallel_tool_calls", expected: "a boolean" }),
    };
    match tool_choice {
        Some(choice) if choice.kind == "none" => {}
        Some(choice) => choice.disable_parallel_tool_use = Some(!parallel),
        None => {
            *tool_choice = Some(ToolChoice { kind: "auto", name: None, disable_parallel_tool_use: Some(!parallel) })
        }
    }
    Ok(())
}

/// The members [`chat`] maps, as the client sent them.
#[derive(Default)]
struct Params<'a> {
    messages: Option<&'a RawValue>,
    max_tokens: Option<&'a RawValue>,
    max_completion_tokens: Option<&'a RawValue>,
    temperature: Option<&'a RawValue>,
    top_p: Option<&'a RawValue>,
    stop: Option<&'a RawValue>,
    tools: Option<&'a RawValue>,
    tool_choice: Option<&'a RawValue>,
    parallel_tool_calls: Option<&'a RawValue>,
    response_format: Option<&'a RawValue>,
    user: Option<&'a RawValue>,
    metadata: Option<&'a RawValue>,
    thinking: Option<&'a RawValue>,
    reasoning_effort: Option<&'a RawValue>,
    web_search_options: Option<&'a RawValue>,
    passthrough: Vec<(&'a str, &'a RawValue)>,
}

impl<'a> Params<'a> {
    fn set(&mut self, key: &str, raw: &'a RawValue) {
        let slot = match key {
            "messages" => &mut self.messages,
            "max_tokens" => &mut self.max_tokens,
            "max_completion_tokens" => &mut self.max_completion_tokens,
            "temperature" => &mut self.temperature,
            "top_p" => &mut self.top_p,
            "stop" => &mut self.stop,
            "tools" => &mut self.tools,
            "tool_choice" => &mut self.tool_choice,
            "parallel_tool_calls" => &mut self.parallel_tool_calls,
            "response_format" => &mut self.response_format,
            "user" => &mut self.user,
            "metadata" => &mut self.metadata,
            "thinking" => &mut self.thinking,
            "reasoning_effort" => &mut self.reasoning_effort,
            "web_search_options" => &mut self.web_search_options,
            // `stream` is read through `RequestView::stream`.
            _ => return,
        };
        *slot = Some(raw);
    }
}

// ---------------------------------------------------------------------------------------------------------
// The Anthropic body.
// ---------------------------------------------------------------------------------------------------------

/// The request body (members Anthropic takes; passthrough members are appended after serialization).
#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: Vec<Turn<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<Block<'a>>,
    max_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop_sequences: Vec<&'a RawValue>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<ToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Thinking<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
}

/// A JSON string: raw from the client (escapes kept), borrowed unescaped text, or decoded text.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Str<'a> {
    Raw(&'a RawValue),
    Borrowed(&'a str),
    Owned(String),
}

impl Str<'_> {
    /// The text (a raw value decoded; raw values are checked to be strings when they are made).
    fn text(&self) -> Cow<'_, str> {
        match self {
            Str::Raw(raw) => decode_raw_str(raw).unwrap_or(Cow::Borrowed("")),
            Str::Borrowed(s) => Cow::Borrowed(s),
            Str::Owned(s) => Cow::Borrowed(s),
        }
    }
}

/// Any JSON value: raw from the client, or made here.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Json<'a> {
    Raw(&'a RawValue),
    Owned(Box<RawValue>),
}

/// One message of Anthropic's alternating `user`/`assistant` list.
#[derive(Debug, Serialize)]
struct Turn<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

/// A content block.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Block<'a> {
    Text(TextBlock<'a>),
    Media(MediaBlock<'a>),
    ToolUse(ToolUseBlock<'a>),
    ToolResult(ToolResultBlock<'a>),
    /// Blocks already in Anthropic's shape (thinking blocks sent back, `document` parts), passed as they are.
    Raw(&'a RawValue),
}

#[derive(Debug, Serialize)]
struct TextBlock<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: Str<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a RawValue>,
}

impl<'a> TextBlock<'a> {
    fn new(text: Str<'a>, cache_control: Option<&'a RawValue>) -> Self {
        TextBlock { kind: "text", text, cache_control }
    }
}

/// An `image` or `document` block.
#[derive(Debug, Serialize)]
struct MediaBlock<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    source: Source<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a RawValue>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Source<'a> {
    Base64 {
        #[serde(rename = "type")]
        kind: &'static str,
        media_type: Str<'a>,
        data: Str<'a>,
    },
    Url {
        #[serde(rename = "type")]
        kind: &'static str,
        url: Str<'a>,
    },
}

#[derive(Debug, Serialize)]
struct ToolUseBlock<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: Str<'a>,
    name: Str<'a>,
    input: Json<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a RawValue>,
}

#[derive(Debug, Serialize)]
struct ToolResultBlock<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    tool_use_id: Str<'a>,
    content: ToolResultContent<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a RawValue>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum ToolResultContent<'a> {
    Text(Str<'a>),
    Blocks(Vec<Block<'a>>),
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Tool<'a> {
    Custom(CustomTool<'a>),
    WebSearch(WebSearchTool<'a>),
    /// Tools already in Anthropic's shape (`input_schema`) and Anthropic's hosted tools (`bash_*`, ...).
    Raw(&'a RawValue),
}

#[derive(Debug, Serialize)]
struct CustomTool<'a> {
    name: Str<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<Str<'a>>,
    input_schema: Json<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a RawValue>,
}

#[derive(Debug, Serialize)]
struct WebSearchTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_uses: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_location: Option<UserLocation<'a>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct UserLocation<'a> {
    #[serde(rename = "type", default = "approximate")]
    kind: Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    city: Option<&'a RawValue>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    country: Option<&'a RawValue>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    region: Option<&'a RawValue>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    timezone: Option<&'a RawValue>,
}

fn approximate() -> Cow<'static, str> {
    Cow::Borrowed("approximate")
}

#[derive(Debug, Serialize)]
struct ToolChoice<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Thinking<'a> {
    /// The client's own `thinking` object, passed as it is (LiteLLM does the same).
    Raw(&'a RawValue),
    Enabled(EnabledThinking),
}

#[derive(Debug, Serialize)]
struct EnabledThinking {
    #[serde(rename = "type")]
    kind: &'static str,
    budget_tokens: u64,
}

#[derive(Debug, Serialize)]
struct Metadata<'a> {
    user_id: Str<'a>,
}

// ---------------------------------------------------------------------------------------------------------
// Messages.
// ---------------------------------------------------------------------------------------------------------

/// An OpenAI message, members borrowed raw.
#[derive(Deserialize)]
struct InMessage<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<InToolCall<'a>>>,
    #[serde(borrow, default)]
    tool_call_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_control: Option<&'a RawValue>,
    /// LiteLLM's extension: the thinking blocks of an earlier answer, sent back as they came.
    #[serde(borrow, default)]
    thinking_blocks: Option<Vec<&'a RawValue>>,
    /// The legacy single call of an assistant message.
    #[serde(borrow, default)]
    function_call: Option<InFunction<'a>>,
}

#[derive(Deserialize)]
struct InToolCall<'a> {
    #[serde(borrow)]
    id: &'a RawValue,
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    function: InFunction<'a>,
    #[serde(borrow, default)]
    cache_control: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct InFunction<'a> {
    #[serde(borrow)]
    name: &'a RawValue,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
}

/// One part of an array `content`.
#[derive(Deserialize)]
struct InPart<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<&'a RawValue>,
    #[serde(borrow, default)]
    image_url: Option<&'a RawValue>,
    #[serde(borrow, default)]
    file: Option<InFile<'a>>,
    #[serde(borrow, default)]
    thinking: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_control: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct InImageUrl<'a> {
    #[serde(borrow)]
    url: &'a RawValue,
    /// LiteLLM's extension: the media type, when the URL does not say it.
    #[serde(borrow, default)]
    format: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct InFile<'a> {
    #[serde(borrow, default)]
    file_data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    file_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    format: Option<&'a RawValue>,
}

const MESSAGES_SHAPE: TranslateError =
    TranslateError::WrongType { field: "messages", expected: "a list of chat messages with OpenAI's shape" };

/// The conversation as Anthropic wants it: the system prompt apart, `user`/`assistant` strictly alternating.
#[derive(Default)]
struct Conversation<'a> {
    turns: Vec<Turn<'a>>,
    system: Vec<Block<'a>>,
    /// A `tool_use` or `tool_result` block was written (Anthropic then requires `tools`).
    has_tool_blocks: bool,
    /// The synthetic id of the last legacy `function_call`, for the `function` message that answers it.
    last_function_call: Option<String>,
}

impl<'a> Conversation<'a> {
    fn read(&mut self, messages: &'a RawValue, opts: &RequestOptions) -> Result<(), TranslateError> {
        let messages: Vec<InMessage<'a>> = serde_json::from_str(messages.get()).map_err(|_| MESSAGES_SHAPE)?;
        for (position, message) in messages.into_iter().enumerate() {
            match message.role.as_ref() {
                // Every system/developer message goes to the top-level `system`, wherever it stood (lossy:
                // its position in the conversation; LiteLLM hoists them the same way, `developer` included).
                "system" | "developer" => self.system_message(&message)?,
                "user" => self.user_message(&message, opts)?,
                "assistant" => self.assistant_message(message, position)?,
                "tool" | "function" => self.tool_message(&message)?,
                _ => {
                    return Err(TranslateError::WrongType {
                        field: "messages",
                        expected: "messages whose role is system, developer, user, assistant, tool or function",
                    })
                }
            }
        }
        Ok(())
    }

    /// Appends a block to the last turn when it has `role`, else starts a turn: consecutive messages of
    /// one role (and tool results, which are `user` content) merge, as Anthropic requires alternation.
    fn push(&mut self, role: &'static str, block: Block<'a>) {
        match self.turns.last_mut() {
            Some(turn) if turn.role == role => turn.content.push(block),
            _ => self.turns.push(Turn { role, content: vec![block] }),
        }
    }

    fn system_message(&mut self, message: &InMessage<'a>) -> Result<(), TranslateError> {
        let Some(content) = message.content else { return Ok(()) };
        if content.get().starts_with('"') {
            // Anthropic refuses empty text blocks; LiteLLM skips them.
            if content.get() != "\"\"" {
                self.system.push(Block::Text(TextBlock::new(Str::Raw(content), message.cache_control)));
            }
            return Ok(());
        }
        for part in parts(content)? {
            if part.kind != "text" {
                return Err(TranslateError::WrongType { field: "messages", expected: "system content that is text" });
            }
            let text = part_text(&part)?;
            if text.get() != "\"\"" {
                self.system.push(Block::Text(TextBlock::new(Str::Raw(text), part.cache_control)));
            }
        }
        Ok(())
    }

    fn user_message(&mut self, message: &InMessage<'a>, opts: &RequestOptions) -> Result<(), TranslateError> {
        let Some(content) = message.content else { return Ok(()) };
        if content.get().starts_with('"') {
            // The message's own `cache_control` (LiteLLM's extension) goes on its one text block.
            self.push("user", Block::Text(TextBlock::new(Str::Raw(content), message.cache_control)));
            return Ok(());
        }
        for raw_part in raw_parts(content)? {
            let part: InPart<'a> = serde_json::from_str(raw_part.get()).map_err(|_| MESSAGES_SHAPE)?;
            if let Some(block) = user_part(&part, raw_part, opts)? {
                self.push("user", block);
            }
        }
        Ok(())
    }

    fn assistant_message(&mut self, message: InMessage<'a>, position: usize) -> Result<(), TranslateError> {
        // Thinking blocks first: Anthropic refuses an assistant turn with tool_use whose thinking follows it.
        for block in message.thinking_blocks.iter().flatten() {
            self.push("assistant", Block::Raw(block));
        }
        if let Some(content) = message.content {
            if content.get().starts_with('"') {
                // Empty text is skipped: Anthropic refuses empty text blocks (so does LiteLLM).
                if content.get() != "\"\"" {
                    self.push("assistant", Block::Text(TextBlock::new(Str::Raw(content), message.cache_control)));
                }
            } else {
                for raw_part in raw_parts(content)? {
                    let part: InPart<'a> = serde_json::from_str(raw_part.get()).map_err(|_| MESSAGES_SHAPE)?;
                    match part.kind.as_ref() {
                        "text" => {
                            let text = part_text(&part)?;
                            if text.get() != "\"\"" {
                                self.push("assistant", Block::Text(TextBlock::new(Str::Raw(text), part.cache_control)));
                            }
                        }
                        "thinking" if part.thinking.is_some_and(|t| t.get() != "\"\"") => {
                            self.push("assistant", Block::Raw(raw_part))
                        }
                        "redacted_thinking" => self.push("assistant", Block::Raw(raw_part)),
                        // Lossy: `refusal` parts and unknown part types have no Anthropic block; LiteLLM
                        // drops them too.
                        _ => {}
                    }
                }
            }
        }
        for call in message.tool_calls.into_iter().flatten() {
            // Only `function` calls exist in chat completions; LiteLLM skips anything else.
            if call.kind.as_deref().is_some_and(|k| k != "function") {
                continue;
            }
            let block = ToolUseBlock {
                kind: "tool_use",
                id: Str::Raw(string(call.id, "messages", "tool call ids that are strings")?),
                name: Str::Raw(string(call.function.name, "messages", "tool call names that are strings")?),
                input: tool_input(call.function.arguments)?,
                cache_control: call.cache_control,
            };
            self.has_tool_blocks = true;
            self.push("assistant", Block::ToolUse(block));
        }
        if let Some(call) = message.function_call {
            // The legacy `function_call` has no id; LiteLLM makes a random one, a pure translator cannot,
            // so the id is derived from the message's position (stable for the same conversation).
            let id = format!("toolu_function_call_{position}");
            let block = ToolUseBlock {
                kind: "tool_use",
                id: Str::Owned(id.clone()),
                name: Str::Raw(string(call.name, "messages", "function call names that are strings")?),
                input: tool_input(call.arguments)?,
                cache_control: None,
            };
            self.last_function_call = Some(id);
            self.has_tool_blocks = true;
            self.push("assistant", Block::ToolUse(block));
        }
        Ok(())
    }

    fn tool_message(&mut self, message: &InMessage<'a>) -> Result<(), TranslateError> {
        let tool_use_id = match (message.tool_call_id, message.role.as_ref()) {
            (Some(id), _) => Str::Raw(string(id, "messages", "a tool_call_id that is a string")?),
            (None, "function") => match &self.last_function_call {
                Some(id) => Str::Owned(id.clone()),
                None => return Err(MESSAGES_SHAPE),
            },
            (None, _) => {
                return Err(TranslateError::WrongType {
                    field: "messages",
                    expected: "tool messages with a tool_call_id",
                })
            }
        };
        let content = match message.content {
            None => ToolResultContent::Text(Str::Borrowed("")),
            Some(raw) if raw.get().starts_with('"') => ToolResultContent::Text(Str::Raw(raw)),
            Some(raw) => {
                let mut blocks = Vec::new();
                for part in parts(raw)? {
                    match part.kind.as_ref() {
                        "text" => blocks.push(Block::Text(TextBlock::new(Str::Raw(part_text(&part)?), None))),
                        "image_url" => blocks.push(image_block(&part)?),
                        // Lossy: other part types have no place in a tool_result (LiteLLM drops them too).
                        _ => {}
                    }
                }
                ToolResultContent::Blocks(blocks)
            }
        };
        let block = ToolResultBlock { kind: "tool_result", tool_use_id, content, cache_control: message.cache_control };
        self.has_tool_blocks = true;
        self.push("user", Block::ToolResult(block));
        Ok(())
    }
}

/// The parts of an array `content`.
fn parts<'a>(content: &'a RawValue) -> Result<Vec<InPart<'a>>, TranslateError> {
    serde_json::from_str(content.get()).map_err(|_| MESSAGES_SHAPE)
}

/// The parts of an array `content`, raw.
fn raw_parts(content: &RawValue) -> Result<Vec<&RawValue>, TranslateError> {
    serde_json::from_str(content.get()).map_err(|_| MESSAGES_SHAPE)
}

/// A user content part as a block; `None` for a part dropped under `drop_params`.
fn user_part<'a>(
    part: &InPart<'a>,
    raw_part: &'a RawValue,
    opts: &RequestOptions,
) -> Result<Option<Block<'a>>, TranslateError> {
    match part.kind.as_ref() {
        "text" => Ok(Some(Block::Text(TextBlock::new(Str::Raw(part_text(part)?), part.cache_control)))),
        "image_url" => image_block(part).map(Some),
        "file" => file_block(part, opts),
        // Already Anthropic's shape (LiteLLM passes `document` parts as they are).
        "document" => Ok(Some(Block::Raw(raw_part))),
        other => {
            // `input_audio` and anything new: Anthropic has no such block. LiteLLM silently skips them; we
            // refuse unless `drop_params`, so a client never gets an answer to a question it did not ask.
            if opts.drop_params {
                Ok(None)
            } else {
                Err(unsupported(&format!("messages[].content[].type={other}")))
            }
        }
    }
}

fn part_text<'a>(part: &InPart<'a>) -> Result<&'a RawValue, TranslateError> {
    match part.text {
        Some(text) => string(text, "messages", "text parts whose text is a string"),
        None => Err(TranslateError::WrongType { field: "messages", expected: "text parts with a text" }),
    }
}

/// `image_url` -> an `image` block (or a `document` block for a PDF data URL, as LiteLLM).
///
/// Lossy: `image_url.detail` has no Anthropic equivalent and is dropped (so does LiteLLM).
fn image_block<'a>(part: &InPart<'a>) -> Result<Block<'a>, TranslateError> {
    let Some(image_url) = part.image_url else {
        return Err(TranslateError::WrongType { field: "messages", expected: "image_url parts with an image_url" });
    };
    let (url, format) = if image_url.get().starts_with('"') {
        (image_url, None)
    } else {
        let parsed: InImageUrl<'a> = serde_json::from_str(image_url.get()).map_err(|_| MESSAGES_SHAPE)?;
        (parsed.url, parsed.format)
    };
    let (source, pdf) = media_source(url, format)?;
    let kind = if pdf { "document" } else { "image" };
    Ok(Block::Media(MediaBlock { kind, source, cache_control: part.cache_control }))
}

/// A `file` part -> a `document` block: `file_data` (a base64 data URL) or an http(s) `file_id`.
fn file_block<'a>(part: &InPart<'a>, opts: &RequestOptions) -> Result<Option<Block<'a>>, TranslateError> {
    let Some(file) = &part.file else {
        return Err(TranslateError::WrongType { field: "messages", expected: "file parts with a file" });
    };
    let url = match (file.file_data, file.file_id) {
        (Some(data), _) => data,
        (None, Some(id)) if decode_raw_str(id).is_some_and(|id| id.starts_with("http")) => id,
        _ => {
            // Anthropic's Files API ids need a beta header the gateway does not send.
            if opts.drop_params {
                return Ok(None);
            }
            return Err(unsupported("messages[].content[].file.file_id"));
        }
    };
    let (source, _) = media_source(url, file.format)?;
    Ok(Some(Block::Media(MediaBlock { kind: "document", source, cache_control: part.cache_control })))
}

/// A URL -> an Anthropic `source`: `data:<media>;base64,<data>` -> `base64`, `http(s)://` -> `url`.
/// The second value says whether the media type is a PDF.
fn media_source<'a>(url: &'a RawValue, format: Option<&'a RawValue>) -> Result<(Source<'a>, bool), TranslateError> {
    const BAD_URL: TranslateError = TranslateError::WrongType {
        field: "messages",
        expected: "image URLs that are http(s):// or data:<media type>;base64,<data>",
    };
    let url = string(url, "messages", "image URLs that are strings")?;
    let text = decode_raw_str(url).ok_or(BAD_URL)?;
    if text.starts_with("https://") || text.starts_with("http://") {
        return Ok((Source::Url { kind: "url", url: Str::Raw(url) }, false));
    }
    let format = match format {
        Some(raw) => Some(decode_str(raw, "messages", "an image format that is a string")?),
        None => None,
    };
    // Borrowed when the URL had no escapes (the common case): a multi-megabyte image is not copied.
    let (media_type, data, pdf) = match text {
        Cow::Borrowed(text) => {
            let (media, data) = split_data_url(text).ok_or(BAD_URL)?;
            let media = match &format {
                Some(f) => Str::Owned(f.to_string()),
                None => Str::Borrowed(media),
            };
            let pdf = media.text() == "application/pdf";
            (media, Str::Borrowed(data), pdf)
        }
        Cow::Owned(text) => {
            let (media, data) = split_data_url(&text).ok_or(BAD_URL)?;
            let media = format.map_or_else(|| media.to_owned(), |f| f.into_owned());
            let pdf = media == "application/pdf";
            (Str::Owned(media), Str::Owned(data.to_owned()), pdf)
        }
    };
    Ok((Source::Base64 { kind: "base64", media_type, data }, pdf))
}

/// `data:image/png;base64,AAAA` -> (`image/png`, `AAAA`); `None` unless base64 (Anthropic takes no other).
fn split_data_url(url: &str) -> Option<(&str, &str)> {
    let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
    let mut meta_parts = meta.split(';');
    let media = meta_parts.next()?;
    if media.is_empty() || !meta_parts.any(|p| p == "base64") {
        return None;
    }
    Some((media, data))
}

/// Tool call `arguments` (a string holding JSON) -> the `input` object.
fn tool_input<'a>(arguments: Option<&'a RawValue>) -> Result<Json<'a>, TranslateError> {
    const BAD_ARGUMENTS: TranslateError =
        TranslateError::WrongType { field: "messages", expected: "tool call arguments that hold JSON" };
    let Some(raw) = arguments.filter(|raw| raw.get() != "null") else {
        return Ok(Json::Owned(empty_object()?));
    };
    if raw.get().starts_with('{') {
        // Some clients send the object itself rather than a string.
        return Ok(Json::Raw(raw));
    }
    let text = decode_str(raw, "messages", "tool call arguments that are strings")?;
    if text.trim().is_empty() {
        // LiteLLM sends `{}` for empty legacy arguments; Anthropic wants an object.
        return Ok(Json::Owned(empty_object()?));
    }
    serde_json::from_str::<Box<RawValue>>(&text).map(Json::Owned).map_err(|_| BAD_ARGUMENTS)
}

/// Anthropic refuses a final assistant turn (a prefill) that ends in whitespace; LiteLLM strips the
/// trailing whitespace of its text blocks.
fn strip_final_assistant_whitespace(turns: &mut [Turn<'_>]) {
    let Some(last) = turns.last_mut().filter(|t| t.role == "assistant") else { return };
    for block in &mut last.content {
        if let Block::Text(text_block) = block {
            let text = text_block.text.text();
            if text.len() != text.trim_end().len() {
                let trimmed = text.trim_end().to_owned();
                text_block.text = Str::Owned(trimmed);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Parameters.
// ---------------------------------------------------------------------------------------------------------

fn max_tokens(raw: &RawValue, field: &'static str) -> Result<u64, TranslateError> {
    let wrong = TranslateError::WrongType { field, expected: "a positive integer" };
    let number: serde_json::Number = serde_json::from_str(raw.get()).map_err(|_| wrong)?;
    if let Some(n) = number.as_u64() {
        return Ok(n);
    }
    // LiteLLM rounds a float (`max(1, int(round(value)))`).
    match number.as_f64() {
        Some(f) if f > 0.0 && f.is_finite() => Ok((f.round() as u64).max(1)),
        _ => Err(TranslateError::WrongType { field, expected: "a positive integer" }),
    }
}

/// `stop` (a string or a list) -> `stop_sequences`. With `drop_params`, whitespace-only sequences (which
/// Anthropic refuses) are dropped, as LiteLLM's `_map_stop_sequences`.
fn read_stop<'a>(raw: &'a RawValue, opts: &RequestOptions, out: &mut Vec<&'a RawValue>) -> Result<(), TranslateError> {
    const WRONG: TranslateError =
        TranslateError::WrongType { field: "stop", expected: "a string or a list of strings" };
    let list: Vec<&'a RawValue> =
        if raw.get().starts_with('"') { vec![raw] } else { serde_json::from_str(raw.get()).map_err(|_| WRONG)? };
    for item in list {
        let text = decode_raw_str(item).ok_or(WRONG)?;
        if opts.drop_params && text.trim().is_empty() {
            continue;
        }
        out.push(item);
    }
    Ok(())
}

#[derive(Deserialize)]
struct InTool<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    function: Option<InFunctionDef<'a>>,
    #[serde(borrow, default)]
    input_schema: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_control: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct InFunctionDef<'a> {
    #[serde(borrow)]
    name: &'a RawValue,
    #[serde(borrow, default)]
    description: Option<&'a RawValue>,
    #[serde(borrow, default)]
    parameters: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_control: Option<&'a RawValue>,
}

/// Anthropic's hosted tools, passed through when a client sends them in Anthropic's shape (LiteLLM's
/// `ANTHROPIC_HOSTED_TOOLS` and `computer_*`).
const HOSTED_TOOL_PREFIXES: &[&str] =
    &["web_search", "web_fetch", "bash", "text_editor", "code_execution", "computer_", "memory", "tool_search"];

/// `tools` -> Anthropic tools: `{name, description, input_schema, cache_control}` per function.
///
/// Lossy: `function.strict` is dropped (LiteLLM drops it too; Anthropic's `strict` needs a beta header).
fn read_tools<'a>(raw: &'a RawValue, opts: &RequestOptions) -> Result<Vec<Tool<'a>>, TranslateError> {
    const WRONG: TranslateError = TranslateError::WrongType { field: "tools", expected: "a list of tools" };
    let list: Vec<InTool<'a>> = serde_json::from_str(raw.get()).map_err(|_| WRONG)?;
    // Tools passed as they are need their raw JSON; the list is read raw a second time only when one does.
    let mut raw_list: Option<Vec<&'a RawValue>> = None;
    let mut tools = Vec::with_capacity(list.len());
    for (position, tool) in list.into_iter().enumerate() {
        let kind = tool.kind.as_deref().unwrap_or("function");
        let pass_as_is = tool.input_schema.is_some() || HOSTED_TOOL_PREFIXES.iter().any(|p| kind.starts_with(p));
        if pass_as_is {
            // Anthropic's own shape (LiteLLM's `_map_tools` passes these as they are) or a hosted tool.
            if raw_list.is_none() {
                raw_list = Some(serde_json::from_str(raw.get()).map_err(|_| WRONG)?);
            }
            let raw_tool = raw_list.as_ref().and_then(|l| l.get(position).copied()).ok_or(WRONG)?;
            tools.push(Tool::Raw(raw_tool));
        } else if kind == "function" || kind == "custom" {
            let Some(function) = tool.function else {
                return Err(TranslateError::WrongType { field: "tools", expected: "function tools with a function" });
            };
            tools.push(Tool::Custom(CustomTool {
                name: Str::Raw(string(function.name, "tools", "tool names that are strings")?),
                description: function.description.filter(|d| d.get() != "null").map(Str::Raw),
                input_schema: input_schema(function.parameters)?,
                cache_control: tool.cache_control.or(function.cache_control),
            }));
        } else if !opts.drop_params {
            return Err(unsupported(&format!("tools[].type={kind}")));
        }
    }
    Ok(tools)
}

#[derive(Deserialize)]
struct SchemaHead<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a RawValue>,
}

/// `parameters` -> `input_schema`. Anthropic requires `"type": "object"`; a schema without it (or absent)
/// is made one, as LiteLLM's `_map_tool_helper` does.
fn input_schema<'a>(parameters: Option<&'a RawValue>) -> Result<Json<'a>, TranslateError> {
    let Some(raw) = parameters.filter(|p| p.get() != "null") else {
        return Ok(Json::Owned(empty_object_schema()?));
    };
    let head: SchemaHead<'a> = serde_json::from_str(raw.get()).map_err(|_| TranslateError::WrongType {
        field: "tools",
        expected: "parameters that are a JSON schema object",
    })?;
    if head.kind.is_some_and(|k| k.get() == "\"object\"") {
        return Ok(Json::Raw(raw));
    }
    let mut schema: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw.get()).map_err(|_| {
        TranslateError::WrongType { field: "tools", expected: "parameters that are a JSON schema object" }
    })?;
    schema.insert("type".to_owned(), serde_json::Value::from("object"));
    schema.entry("properties").or_insert_with(|| serde_json::json!({}));
    let text = serde_json::to_string(&schema).map_err(|e| TranslateError::ProviderBody(e.to_string()))?;
    RawValue::from_string(text).map(Json::Owned).map_err(|e| TranslateError::ProviderBody(e.to_string()))
}

#[derive(Deserialize)]
struct InToolChoice<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    function: Option<InToolChoiceFunction<'a>>,
}

#[derive(Deserialize)]
struct InToolChoiceFunction<'a> {
    #[serde(borrow)]
    name: &'a RawValue,
}

/// `tool_choice` -> Anthropic's: `auto` -> `auto`, `required` -> `any`, `none` -> `none`,
/// `{"type":"function","function":{"name":N}}` -> `{"type":"tool","name":N}` (LiteLLM `_map_tool_choice`).
fn read_tool_choice<'a>(raw: &'a RawValue) -> Result<Option<ToolChoice<'a>>, TranslateError> {
    const WRONG: TranslateError = TranslateError::WrongType {
        field: "tool_choice",
        expected: "\"auto\", \"none\", \"required\" or {\"type\":\"function\",\"function\":{\"name\":...}}",
    };
    let simple = |kind: &str| -> Result<ToolChoice<'a>, TranslateError> {
        let kind = match kind {
            "auto" => "auto",
            "required" | "any" => "any",
            "none" => "none",
            _ => return Err(WRONG),
        };
        Ok(ToolChoice { kind, name: None, disable_parallel_tool_use: None })
    };
    if raw.get().starts_with('"') {
        let kind = decode_raw_str(raw).ok_or(WRONG)?;
        return simple(&kind).map(Some);
    }
    let choice: InToolChoice<'a> = serde_json::from_str(raw.get()).map_err(|_| WRONG)?;
    match (choice.function, choice.kind.as_deref()) {
        (Some(function), _) => Ok(Some(ToolChoice {
            kind: "tool",
            name: Some(Str::Raw(string(function.name, "tool_choice", "a function name that is a string")?)),
            disable_parallel_tool_use: None,
        })),
        (None, Some(kind)) => simple(kind).map(Some),
        (None, None) => Err(WRONG),
    }
}

#[derive(Deserialize)]
struct InResponseFormat<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    json_schema: Option<InJsonSchema<'a>>,
    /// LiteLLM's extension (Vertex style).
    #[serde(borrow, default)]
    response_schema: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct InJsonSchema<'a> {
    #[serde(borrow, default)]
    schema: Option<&'a RawValue>,
}

/// `response_format` -> the input schema of a forced tool named [`JSON_TOOL_NAME`] (`None` for `text`).
///
/// LiteLLM's way for every Claude model before 4.5 (`map_response_format_to_anthropic_tool`); for 4.5+ it
/// sends Anthropic's `output_format` instead, which needs a beta header (`structured-outputs-2025-11-13`)
/// the translator cannot set, so the forced tool is used for every model. The answer's tool call is turned
/// back into `content` (see the response and stream translators). `json_object` (no schema) gets a
/// free-form object schema, as LiteLLM's releases before its output_format work did.
fn read_response_format<'a>(raw: &'a RawValue) -> Result<Option<Json<'a>>, TranslateError> {
    let format: InResponseFormat<'a> = serde_json::from_str(raw.get()).map_err(|_| TranslateError::WrongType {
        field: "response_format",
        expected: "{\"type\": \"text\" | \"json_object\" | \"json_schema\", ...}",
    })?;
    let schema = match format.kind.as_ref() {
        "text" => return Ok(None),
        "json_object" | "json_schema" => format.response_schema.or(format.json_schema.and_then(|s| s.schema)),
        _ => {
            return Err(TranslateError::WrongType {
                field: "response_format",
                expected: "a type of \"text\", \"json_object\" or \"json_schema\"",
            })
        }
    };
    match schema.filter(|s| s.get() != "null") {
        Some(schema) => Ok(Some(Json::Raw(schema))),
        None => {
            let free =
                RawValue::from_string(r#"{"type":"object","additionalProperties":true,"properties":{}}"#.to_owned())
                    .map_err(|e| TranslateError::ProviderBody(e.to_string()))?;
            Ok(Some(Json::Owned(free)))
        }
    }
}

#[derive(Deserialize)]
struct InWebSearch<'a> {
    #[serde(borrow, default)]
    search_context_size: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user_location: Option<InUserLocation<'a>>,
}

#[derive(Deserialize)]
struct InUserLocation<'a> {
    #[serde(borrow, default)]
    approximate: Option<UserLocation<'a>>,
}

/// `web_search_options` -> Anthropic's hosted `web_search` tool (LiteLLM `map_web_search_tool`, with its
/// `ANTHROPIC_WEB_SEARCH_TOOL_MAX_USES`: low 1, medium 5, high 10).
fn read_web_search<'a>(raw: &'a RawValue) -> Result<WebSearchTool<'a>, TranslateError> {
    let options: InWebSearch<'a> = serde_json::from_str(raw.get())
        .map_err(|_| TranslateError::WrongType { field: "web_search_options", expected: "an object" })?;
    let max_uses = match options.search_context_size.as_deref() {
        Some("low") => Some(1),
        Some("medium") => Some(5),
        Some("high") => Some(10),
        _ => None,
    };
    let user_location = options.user_location.and_then(|l| l.approximate).map(|mut l| {
        l.kind = approximate();
        l
    });
    Ok(WebSearchTool { kind: "web_search_20250305", name: "web_search", max_uses, user_location })
}

#[derive(Deserialize)]
struct InMetadata<'a> {
    #[serde(borrow, default)]
    user_id: Option<&'a RawValue>,
}

/// `metadata.user_id` (LiteLLM reads it from the request metadata, and it wins) or `user` ->
/// Anthropic's `metadata.user_id`. Emails and phone numbers are never sent (Anthropic refuses them;
/// LiteLLM's `_valid_user_id`). The rest of `metadata` is LiteLLM's own and is not sent.
fn read_user_id<'a>(
    user: Option<&'a RawValue>,
    metadata: Option<&'a RawValue>,
) -> Result<Option<Str<'a>>, TranslateError> {
    let from_metadata = match metadata {
        Some(raw) if raw.get().starts_with('{') => {
            let parsed: InMetadata<'a> = serde_json::from_str(raw.get())
                .map_err(|_| TranslateError::WrongType { field: "metadata", expected: "an object" })?;
            parsed.user_id
        }
        _ => None,
    };
    for candidate in [from_metadata, user].into_iter().flatten() {
        if let Some(text) = decode_raw_str(candidate) {
            if valid_user_id(&text) {
                return Ok(Some(Str::Raw(candidate)));
            }
        }
    }
    Ok(None)
}

/// Not an email (`^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$`) and not a phone number
/// (`^\+?[\d\s\(\)-]{7,}`), LiteLLM's `_valid_user_id` patterns written out by hand.
pub fn valid_user_id(id: &str) -> bool {
    !(looks_like_email(id) || looks_like_phone(id))
}

fn looks_like_email(id: &str) -> bool {
    let Some((local, domain)) = id.split_once('@') else { return false };
    let local_ok = !local.is_empty() && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b));
    let Some((host, tld)) = domain.rsplit_once('.') else { return false };
    let host_ok = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b));
    let tld_ok = tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic());
    local_ok && host_ok && tld_ok
}

fn looks_like_phone(id: &str) -> bool {
    let rest = id.strip_prefix('+').unwrap_or(id);
    // Python's `re.match` anchors only at the start: seven allowed characters in a row from there suffice.
    rest.bytes().take_while(|b| b.is_ascii_digit() || b" \t\n\r\x0b\x0c()-".contains(b)).count() >= 7
}

#[derive(Deserialize)]
struct InThinking<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    budget_tokens: Option<u64>,
}

// ---------------------------------------------------------------------------------------------------------
// Raw JSON strings.
// ---------------------------------------------------------------------------------------------------------

/// `raw` when it is a JSON string, else `WrongType`.
fn string<'a>(raw: &'a RawValue, field: &'static str, expected: &'static str) -> Result<&'a RawValue, TranslateError> {
    if raw.get().starts_with('"') {
        Ok(raw)
    } else {
        Err(TranslateError::WrongType { field, expected })
    }
}

/// The text of a raw JSON string: borrowed when it has no escapes; `None` when it is not a string.
fn decode_raw_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

fn decode_str<'a>(
    raw: &'a RawValue,
    field: &'static str,
    expected: &'static str,
) -> Result<Cow<'a, str>, TranslateError> {
    decode_raw_str(raw).ok_or(TranslateError::WrongType { field, expected })
}

fn empty_object() -> Result<Box<RawValue>, TranslateError> {
    RawValue::from_string("{}".to_owned()).map_err(|e| TranslateError::ProviderBody(e.to_string()))
}

fn empty_object_schema() -> Result<Box<RawValue>, TranslateError> {
    RawValue::from_string(r#"{"type":"object","properties":{}}"#.to_owned())
        .map_err(|e| TranslateError::ProviderBody(e.to_string()))
}
