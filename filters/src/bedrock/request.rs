//! OpenAI chat request -> Bedrock Converse request (`POST /model/{modelId}/converse` and `/converse-stream`;
//! both take the same body). Reference: <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html>.
//!
//! Parameters follow LiteLLM's `AmazonConverseConfig` (`litellm/llms/bedrock/chat/converse_transformation.py`,
//! `get_supported_openai_params` / `map_openai_params`) and its `_check_valid_arg` in `litellm/utils.py`:
//!
//! | OpenAI | Bedrock | note |
//! |---|---|---|
//! | `messages` (system / developer) | `system: [{text}, {cachePoint}]` | every system message, in order |
//! | `messages` (user, tool) | `{"role":"user"}` turns | consecutive user and tool messages are merged (Bedrock wants turns to alternate) |
//! | `messages` (assistant) | `{"role":"assistant"}` turns | text, then `toolUse` for each tool call, ids kept |
//! | `max_tokens`, `max_completion_tokens` | `inferenceConfig.maxTokens` | the later member wins, as in LiteLLM's loop |
//! | `temperature`, `top_p` | `inferenceConfig.temperature`, `.topP` | numbers passed byte for byte |
//! | `stop` | `inferenceConfig.stopSequences` | a string becomes a list; an empty string is dropped (Converse refuses it) |
//! | `tools` | `toolConfig.tools[].toolSpec` | `parameters` -> `inputSchema.json`; `cache_control` -> a `cachePoint` after the tool |
//! | `tool_choice` | `toolConfig.toolChoice` | `auto` -> `{auto}`, `required` -> `{any}`, a function -> `{tool:{name}}`; `none` is refused unless `drop_params` |
//! | `response_format` | a forced tool `json_tool_call` | LiteLLM's JSON mode; the answer's tool input comes back as `content` |
//! | `reasoning_effort`, `thinking` | `additionalModelRequestFields.thinking` | Anthropic models only (LiteLLM's budgets 1024/2048/4096) |
//! | `top_k` | `additionalModelRequestFields.top_k` (Anthropic) / `.inferenceConfig.topK` (Nova) | other models: dropped, as LiteLLM |
//! | `service_tier` | `serviceTier: {type}` | `auto` -> `default` |
//! | `guardrailConfig`, `performanceConfig`, `requestMetadata`, `additionalModelRequestFields` | the same | Bedrock's own members, passed through |
//! | `stream`, `stream_options`, `user`, `n: 1`, `metadata` | - | harmless: ignored, as LiteLLM (the path says stream or not) |
//! | `n` > 1, `seed`, `frequency_penalty`, `presence_penalty`, `logit_bias`, `logprobs`, `top_logprobs`, `parallel_tool_calls`, `functions`, `function_call`, `modalities`, `audio`, `prediction`, `web_search_options` | - | refused with `UnsupportedParam` unless `drop_params` |
//!
//! Deliberately not copied from LiteLLM: it fetches http(s) image URLs itself and sends the bytes (a pure
//! translator cannot, and Bedrock cannot fetch URLs), so such an image is refused unless `drop_params`;
//! it rewrites tool names Bedrock would refuse and keeps a process-wide map to restore them (not pure:
//! names go as sent and Bedrock's 400 says which is wrong); it forwards unknown members into
//! `additionalModelRequestFields` (here they are ignored, so a typo cannot turn into a provider 400); and
//! it keeps a per-model table of which models take `tools` / `tool_choice` (here Bedrock's own 400 answers).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::openai::RequestView;
use crate::{RequestOptions, TranslateError};

use super::PROVIDER;

/// The tool LiteLLM's JSON mode forces for `response_format` (`RESPONSE_FORMAT_TOOL_NAME`); its input is
/// the JSON answer, turned back into `content` by the response and stream translators.
pub const JSON_TOOL_NAME: &str = "json_tool_call";

/// LiteLLM's `DEFAULT_MAX_TOKENS`, added to a thinking budget when the client set no `max_tokens`.
const DEFAULT_MAX_TOKENS: u64 = 4096;

/// The input schema of a tool that declares no `parameters`, and of `response_format: json_object`.
const EMPTY_OBJECT_SCHEMA: &str = r#"{"type":"object","properties":{}}"#;

/// OpenAI parameters Converse has no equivalent for: refused unless `drop_params` (LiteLLM's list is the
/// complement of `get_supported_openai_params`).
const REFUSED: &[&str] = &[
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "parallel_tool_calls",
    "functions",
    "function_call",
    "modalities",
    "audio",
    "prediction",
    "web_search_options",
];

/// Image formats Converse takes (LiteLLM's `get_supported_image_types`).
const IMAGE_FORMATS: &[&str] = &["png", "jpeg", "gif", "webp"];

/// The Converse request body for an OpenAI chat request.
pub fn chat(view: &RequestView<'_>, model: &str, opts: &RequestOptions) -> Result<Vec<u8>, TranslateError> {
    let mut req = ConverseRequest::default();
    // Thinking budgets from `reasoning_effort` and from an explicit `thinking` object.
    let (mut effort_budget, mut thinking_budget): (Option<u64>, Option<u64>) = (None, None);
    let mut json_tool: Option<ToolSpec<'_>> = None;
    let anthropic = model.contains("anthropic") || model.starts_with("arn:");

    for (key, raw) in view.members() {
        if raw.get() == "null" {
            // LiteLLM only looks at parameters that are set: `null` is "not sent".
            continue;
        }
        match key {
            "messages" => messages(raw, &mut req, opts)?,
            "max_tokens" | "max_completion_tokens" => req.inference_config.max_tokens = Some(Cow::Borrowed(raw)),
            "temperature" => req.inference_config.temperature = Some(raw),
            "top_p" => req.inference_config.top_p = Some(raw),
            "stop" => req.inference_config.stop_sequences = stop_sequences(raw)?,
            "tools" => tools(raw, &mut req, opts)?,
            "tool_choice" => req.tool_choice = tool_choice(raw, opts)?,
            "response_format" => json_tool = response_format(raw)?,
            // LiteLLM offers thinking on reasoning models only; of those we know Anthropic's form.
            "reasoning_effort" | "thinking" if !anthropic => refuse(key, opts)?,
            "reasoning_effort" => effort_budget = reasoning_budget(raw)?,
            "thinking" => {
                let thinking = parse::<Value>(raw, "thinking", "an object")?;
                thinking_budget = thinking.get("budget_tokens").and_then(Value::as_u64);
                req.additional.insert("thinking".to_owned(), thinking);
            }
            "top_k" if anthropic => {
                req.additional.insert("top_k".to_owned(), parse::<Value>(raw, "top_k", "a number")?);
            }
            "top_k" if model.contains("amazon.nova") => {
                let top_k = parse::<Value>(raw, "top_k", "a number")?;
                req.additional.insert("inferenceConfig".to_owned(), serde_json::json!({ "topK": top_k }));
            }
            // LiteLLM's `_handle_top_k_value` drops `top_k` for every other model.
            "top_k" => {}
            "service_tier" => req.service_tier = service_tier(raw),
            "guardrailConfig" => req.guardrail_config = Some(raw),
            "performanceConfig" => req.performance_config = Some(raw),
            "requestMetadata" => req.request_metadata = Some(raw),
            "additionalModelRequestFields" => {
                let fields = parse::<Map<String, Value>>(raw, "additionalModelRequestFields", "an object")?;
                req.additional.extend(fields);
            }
            // `n: 1` is what LangChain sends by default; LiteLLM skips it.
            "n" if raw.get().trim() != "1" => refuse("n", opts)?,
            "n" => {}
            _ if REFUSED.contains(&key) => refuse(key, opts)?,
            // `model` is in the path, `stream` chooses the path; `stream_options` and `user` are harmless
            // (LiteLLM's `_check_valid_arg` skips them); anything else is not an OpenAI parameter we know.
            _ => {}
        }
    }
    if view.get("messages").is_none_or(|m| m.get() == "null") {
        return Err(TranslateError::MissingField("messages"));
    }

    if let (Some(budget), None) = (effort_budget, thinking_budget) {
        let thinking = serde_json::json!({ "type": "enabled", "budget_tokens": budget });
        req.additional.insert("thinking".to_owned(), thinking);
        thinking_budget = Some(budget);
    }
    if let Some(budget) = thinking_budget {
        if req.inference_config.max_tokens.is_none() {
            // Anthropic needs max_tokens above the budget: LiteLLM's `update_optional_params_with_thinking_tokens`.
            let max = RawValue::from_string((budget + DEFAULT_MAX_TOKENS).to_string())
                .map_err(|e| TranslateError::InvalidJson(e.to_string()))?;
            req.inference_config.max_tokens = Some(Cow::Owned(max));
        }
    }

    if let Some(spec) = json_tool {
        // LiteLLM forces the tool only where `tool_choice` is supported (Anthropic, Mistral) and not while
        // thinking (Anthropic refuses forced tools then); elsewhere the model is asked to use it.
        let forced = (anthropic || model.contains("mistral")) && thinking_budget.is_none();
        if forced {
            req.tool_choice = Some(serde_json::json!({ "tool": { "name": JSON_TOOL_NAME } }));
        }
        req.tools.push(ToolEntry::ToolSpec(spec));
    }
    if !req.tools.is_empty() {
        // Converse refuses `toolChoice` without tools; LiteLLM sends it only with tools too.
        let tools = std::mem::take(&mut req.tools);
        req.tool_config = Some(ToolConfig { tools, tool_choice: req.tool_choice.take() });
    }
    serde_json::to_vec(&req).map_err(|e| TranslateError::InvalidJson(e.to_string()))
}

/// Refuses an OpenAI parameter Converse cannot take, unless the deployment drops such parameters.
fn refuse(param: &str, opts: &RequestOptions) -> Result<(), TranslateError> {
    if opts.drop_params {
        return Ok(());
    }
    Err(TranslateError::UnsupportedParam { provider: PROVIDER, param: param.to_owned() })
}

/// Parses a member into `T`, or says what it should have been.
fn parse<'a, T: Deserialize<'a>>(
    raw: &'a RawValue,
    field: &'static str,
    expected: &'static str,
) -> Result<T, TranslateError> {
    serde_json::from_str(raw.get()).map_err(|_| TranslateError::WrongType { field, expected })
}

/// A JSON string, borrowed from the body when it has no escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// `stop`: a string or a list of strings.
fn stop_sequences(raw: &RawValue) -> Result<Option<Vec<Cow<'_, str>>>, TranslateError> {
    const EXPECTED: &str = "a string or an array of strings";
    if raw.get().starts_with('[') {
        let list: Vec<Text<'_>> = parse(raw, "stop", EXPECTED)?;
        return Ok(Some(list.into_iter().map(|t| t.0).collect()));
    }
    let Text(stop) = parse(raw, "stop", EXPECTED)?;
    // Converse refuses an empty stop sequence; LiteLLM drops it.
    Ok((!stop.is_empty()).then(|| vec![stop]))
}

/// `reasoning_effort` -> a thinking budget (LiteLLM's `AnthropicConfig._map_reasoning_effort`).
fn reasoning_budget(raw: &RawValue) -> Result<Option<u64>, TranslateError> {
    let Text(effort) = parse(raw, "reasoning_effort", "a string")?;
    Ok(match effort.as_ref() {
        "low" | "minimal" => Some(1024),
        "medium" => Some(2048),
        "high" => Some(4096),
        // `none` asks for no thinking.
        _ => None,
    })
}

/// `service_tier` -> `serviceTier` (LiteLLM: `auto` is `default`; unknown tiers are dropped).
fn service_tier(raw: &RawValue) -> Option<Value> {
    let Ok(Text(tier)) = serde_json::from_str::<Text<'_>>(raw.get()) else {
        return None;
    };
    let tier = if tier == "auto" { "default" } else { tier.as_ref() };
    ["default", "flex", "priority"].contains(&tier).then(|| serde_json::json!({ "type": tier }))
}

/// `response_format` -> LiteLLM's JSON-mode tool (`None` for `text`, which asks for nothing).
fn response_format(raw: &RawValue) -> Result<Option<ToolSpec<'_>>, TranslateError> {
    #[derive(Deserialize)]
    struct Format<'a> {
        #[serde(rename = "type", borrow)]
        kind: Cow<'a, str>,
        #[serde(borrow, default)]
        json_schema: Option<JsonSchema<'a>>,
        #[serde(borrow, default)]
        response_schema: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct JsonSchema<'a> {
        #[serde(borrow, default)]
        schema: Option<&'a RawValue>,
        #[serde(borrow, default)]
        description: Option<Cow<'a, str>>,
    }
    let format: Format<'_> = parse(raw, "response_format", "an object with a `type`")?;
    if format.kind == "text" {
        return Ok(None);
    }
    let (schema, description) = match format.json_schema {
        Some(js) => (js.schema, js.description),
        None => (format.response_schema, None),
    };
    let schema = match schema {
        Some(schema) => schema,
        None => empty_schema()?,
    };
    Ok(Some(ToolSpec { name: Cow::Borrowed(JSON_TOOL_NAME), description, input_schema: InputSchema { json: schema } }))
}

/// The `{"type":"object","properties":{}}` schema as raw JSON.
fn empty_schema() -> Result<&'static RawValue, TranslateError> {
    serde_json::from_str(EMPTY_OBJECT_SCHEMA).map_err(|e| TranslateError::InvalidJson(e.to_string()))
}

/// `tools` -> `toolConfig.tools`.
fn tools<'a>(raw: &'a RawValue, req: &mut ConverseRequest<'a>, opts: &RequestOptions) -> Result<(), TranslateError> {
    #[derive(Deserialize)]
    struct Tool<'a> {
        #[serde(rename = "type", borrow, default)]
        kind: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        function: Option<Function<'a>>,
        #[serde(borrow, default)]
        cache_control: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct Function<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(borrow, default)]
        description: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        parameters: Option<&'a RawValue>,
    }
    let list: Vec<Tool<'a>> = parse(raw, "tools", "an array of function tools")?;
    for tool in list {
        let (Some("function") | None, Some(function)) = (tool.kind.as_deref(), tool.function) else {
            // Converse has function tools only (LiteLLM's computer-use passthrough is Anthropic-specific).
            refuse("tools (only `type: function` tools)", opts)?;
            continue;
        };
        let json = match function.parameters {
            Some(p) if p.get() != "null" => p,
            _ => empty_schema()?,
        };
        // Converse refuses an empty description; an absent one is fine.
        let description = function.description.filter(|d| !d.is_empty());
        req.tools.push(ToolEntry::ToolSpec(ToolSpec {
            name: function.name,
            description,
            input_schema: InputSchema { json },
        }));
        if tool.cache_control.is_some() {
            req.tools.push(ToolEntry::CachePoint(CachePoint::DEFAULT));
        }
    }
    Ok(())
}

/// `tool_choice` -> `toolConfig.toolChoice` (LiteLLM's `map_tool_choice_values`).
fn tool_choice(raw: &RawValue, opts: &RequestOptions) -> Result<Option<Value>, TranslateError> {
    #[derive(Deserialize)]
    struct Named<'a> {
        #[serde(borrow, default)]
        function: Option<NamedFunction<'a>>,
    }
    #[derive(Deserialize)]
    struct NamedFunction<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
    }
    const EXPECTED: &str = "`auto`, `required`, `none` or a function choice";
    if raw.get().starts_with('{') {
        let named: Named<'_> = parse(raw, "tool_choice", EXPECTED)?;
        let Some(function) = named.function else {
            return Err(TranslateError::WrongType { field: "tool_choice", expected: EXPECTED });
        };
        return Ok(Some(serde_json::json!({ "tool": { "name": function.name } })));
    }
    let Text(choice) = parse(raw, "tool_choice", EXPECTED)?;
    match choice.as_ref() {
        "auto" => Ok(Some(serde_json::json!({ "auto": {} }))),
        "required" => Ok(Some(serde_json::json!({ "any": {} }))),
        // Converse cannot forbid tools once they are declared; LiteLLM refuses or drops `none` the same way.
        "none" => refuse("tool_choice=none", opts).map(|()| None),
        _ => Err(TranslateError::WrongType { field: "tool_choice", expected: EXPECTED }),
    }
}

/// One OpenAI message, every member optional except the role; values stay borrowed.
#[derive(Deserialize)]
struct InMessage<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<InToolCall<'a>>>,
    #[serde(borrow, default)]
    tool_call_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    cache_control: Option<&'a RawValue>,
}

/// One part of a list `content`.
#[derive(Deserialize)]
struct InPart<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    image_url: Option<&'a RawValue>,
    #[serde(borrow, default)]
    cache_control: Option<&'a RawValue>,
}

/// An assistant's tool call.
#[derive(Deserialize)]
struct InToolCall<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    function: InFunctionCall<'a>,
}

/// The function of an assistant's tool call; `arguments` is JSON inside a string.
#[derive(Deserialize)]
struct InFunctionCall<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<Cow<'a, str>>,
}

/// A message's `content`: absent, a string, or a list of parts.
enum Content<'a> {
    None,
    Text(Cow<'a, str>),
    Parts(Vec<InPart<'a>>),
}

const MESSAGES_EXPECTED: &str = "an array of messages with role system, developer, user, assistant or tool";
const CONTENT_EXPECTED: &str = "messages whose content is a string or an array of content parts";

fn content<'a>(raw: Option<&'a RawValue>) -> Result<Content<'a>, TranslateError> {
    let Some(raw) = raw else {
        return Ok(Content::None);
    };
    match raw.get().as_bytes().first() {
        Some(b'"') => Ok(Content::Text(parse::<Text<'a>>(raw, "messages", CONTENT_EXPECTED)?.0)),
        Some(b'[') => Ok(Content::Parts(parse(raw, "messages", CONTENT_EXPECTED)?)),
        Some(b'n') => Ok(Content::None),
        _ => Err(TranslateError::WrongType { field: "messages", expected: CONTENT_EXPECTED }),
    }
}

/// `messages` -> `system` and alternating `messages` turns.
fn messages<'a>(raw: &'a RawValue, req: &mut ConverseRequest<'a>, opts: &RequestOptions) -> Result<(), TranslateError> {
    let list: Vec<InMessage<'a>> = parse(raw, "messages", MESSAGES_EXPECTED)?;
    for message in list {
        let cache = message.cache_control.is_some();
        match message.role.as_ref() {
            // `developer` is OpenAI's newer name for `system`.
            "system" | "developer" => {
                match content(message.content)? {
                    Content::Text(text) if !text.is_empty() => {
                        req.system.push(Block::Text(text));
                        if cache {
                            req.system.push(Block::CachePoint(CachePoint::DEFAULT));
                        }
                    }
                    Content::Parts(parts) => {
                        for part in parts {
                            let Some(text) = part.text.filter(|t| part.kind == "text" && !t.is_empty()) else {
                                // Converse's system blocks are text only.
                                continue;
                            };
                            req.system.push(Block::Text(text));
                            if part.cache_control.is_some() {
                                req.system.push(Block::CachePoint(CachePoint::DEFAULT));
                            }
                        }
                    }
                    // An empty system prompt says nothing; Converse refuses blank text blocks.
                    Content::Text(_) | Content::None => {}
                }
            }
            "user" => {
                let mut blocks = Vec::new();
                match content(message.content)? {
                    Content::Text(text) => blocks.push(Block::Text(text)),
                    Content::Parts(parts) => user_parts(parts, &mut blocks, opts)?,
                    Content::None => {}
                }
                push_cache_point(&mut blocks, cache);
                push_turn(&mut req.messages, "user", blocks);
            }
            "tool" => {
                let Some(id) = message.tool_call_id else {
                    return Err(TranslateError::WrongType {
                        field: "messages",
                        expected: "tool messages with a `tool_call_id`",
                    });
                };
                let mut result = Vec::new();
                match content(message.content)? {
                    Content::Text(text) => result.push(ToolResultContent::Text(text)),
                    Content::Parts(parts) => {
                        // Tool results are text here, as in LiteLLM; other parts have no toolResult form.
                        result.extend(parts.into_iter().filter_map(|p| p.text).map(ToolResultContent::Text));
                    }
                    Content::None => {}
                }
                if result.is_empty() {
                    // Converse wants at least one content block in a tool result.
                    result.push(ToolResultContent::Text(Cow::Borrowed("")));
                }
                let mut blocks = vec![Block::ToolResult(ToolResult { tool_use_id: id, content: result })];
                push_cache_point(&mut blocks, cache);
                push_turn(&mut req.messages, "user", blocks);
            }
            "assistant" => {
                let mut blocks = Vec::new();
                match content(message.content)? {
                    // LiteLLM skips empty assistant text; Converse refuses blank text blocks.
                    Content::Text(text) if !text.is_empty() => blocks.push(Block::Text(text)),
                    Content::Parts(parts) => {
                        for part in parts {
                            // Assistant history is text; anything else (refusals, audio) has no Converse form.
                            if let Some(text) = part.text.filter(|t| part.kind == "text" && !t.is_empty()) {
                                blocks.push(Block::Text(text));
                                if part.cache_control.is_some() {
                                    blocks.push(Block::CachePoint(CachePoint::DEFAULT));
                                }
                            }
                        }
                    }
                    Content::Text(_) | Content::None => {}
                }
                for call in message.tool_calls.unwrap_or_default() {
                    blocks.push(Block::ToolUse(ToolUse {
                        tool_use_id: call.id,
                        name: call.function.name,
                        input: tool_input(call.function.arguments)?,
                    }));
                }
                push_cache_point(&mut blocks, cache);
                push_turn(&mut req.messages, "assistant", blocks);
            }
            _ => return Err(TranslateError::WrongType { field: "messages", expected: MESSAGES_EXPECTED }),
        }
    }
    Ok(())
}

/// A tool call's `arguments` (JSON text in a string) as the `toolUse.input` object.
fn tool_input(arguments: Option<Cow<'_, str>>) -> Result<Box<RawValue>, TranslateError> {
    let arguments = arguments.unwrap_or_default();
    let arguments = if arguments.trim().is_empty() { "{}".to_owned() } else { arguments.into_owned() };
    let expected = "assistant tool calls whose `function.arguments` is a JSON object";
    if !arguments.trim_start().starts_with('{') {
        return Err(TranslateError::WrongType { field: "messages", expected });
    }
    RawValue::from_string(arguments).map_err(|_| TranslateError::WrongType { field: "messages", expected })
}

/// A user message's parts: text and images, each followed by its cache point.
fn user_parts<'a>(
    parts: Vec<InPart<'a>>,
    blocks: &mut Vec<Block<'a>>,
    opts: &RequestOptions,
) -> Result<(), TranslateError> {
    for part in parts {
        match part.kind.as_ref() {
            "text" => blocks.push(Block::Text(part.text.unwrap_or_default())),
            "image_url" => {
                let Some(image) = image(part.image_url, opts)? else {
                    // Dropped under `drop_params` (lossy: the model does not see this image).
                    continue;
                };
                blocks.push(Block::Image(image));
            }
            _ => {
                // Audio, files and other parts have no Converse form here; lossy when dropped.
                refuse("messages[].content[] parts other than text and image_url", opts)?;
                continue;
            }
        }
        if part.cache_control.is_some() {
            blocks.push(Block::CachePoint(CachePoint::DEFAULT));
        }
    }
    Ok(())
}

/// An `image_url` part as a Converse image; `None` when refused-but-dropped.
fn image<'a>(raw: Option<&'a RawValue>, opts: &RequestOptions) -> Result<Option<Image<'a>>, TranslateError> {
    #[derive(Deserialize)]
    struct Url<'a> {
        #[serde(borrow)]
        url: Cow<'a, str>,
    }
    const EXPECTED: &str = "image_url parts with a `url`";
    let Some(raw) = raw else {
        return Err(TranslateError::WrongType { field: "messages", expected: EXPECTED });
    };
    // LiteLLM also takes `image_url` as a bare string.
    let url = if raw.get().starts_with('"') {
        parse::<Text<'a>>(raw, "messages", EXPECTED)?.0
    } else {
        parse::<Url<'a>>(raw, "messages", EXPECTED)?.url
    };
    let Some((format, data)) = data_url(url) else {
        // Bedrock cannot fetch URLs, and a pure translator does not either: only inline images go.
        refuse("image_url with an http(s) URL (Bedrock takes base64 data URLs only)", opts)?;
        return Ok(None);
    };
    let Some(format) = IMAGE_FORMATS.iter().find(|f| **f == format) else {
        refuse("image_url of a type other than png, jpeg, gif or webp", opts)?;
        return Ok(None);
    };
    Ok(Some(Image { format, source: ImageSource { bytes: data } }))
}

/// Splits `data:image/png;base64,<data>` into (`png`, `<data>`); `jpg` is `jpeg`.
fn data_url(url: Cow<'_, str>) -> Option<(String, Cow<'_, str>)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, _) = rest.split_once(',')?;
    let mime = meta.strip_suffix(";base64")?;
    let subtype = mime.strip_prefix("image/")?.to_ascii_lowercase();
    let format = if subtype == "jpg" { "jpeg".to_owned() } else { subtype };
    let start = url.len() - (rest.len() - meta.len() - 1);
    let data = match url {
        Cow::Borrowed(s) => Cow::Borrowed(&s[start..]),
        Cow::Owned(s) => Cow::Owned(s[start..].to_owned()),
    };
    Some((format, data))
}

/// Appends a cache point for a message-level `cache_control`, unless the blocks already end with one.
fn push_cache_point(blocks: &mut Vec<Block<'_>>, cache: bool) {
    if cache && !blocks.is_empty() && !matches!(blocks.last(), Some(Block::CachePoint(_))) {
        blocks.push(Block::CachePoint(CachePoint::DEFAULT));
    }
}

/// Adds blocks as a turn, merged into the previous turn when it has the same role (Converse wants turns to
/// alternate, as LiteLLM's `_bedrock_converse_messages_pt` does).
fn push_turn<'a>(turns: &mut Vec<Turn<'a>>, role: &'static str, blocks: Vec<Block<'a>>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => turns.push(Turn { role, content: blocks }),
    }
}

/// The Converse request body (`messages`, `system`, `inferenceConfig`, `toolConfig`, ...).
#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct ConverseRequest<'a> {
    messages: Vec<Turn<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<Block<'a>>,
    #[serde(skip_serializing_if = "InferenceConfig::is_empty")]
    inference_config: InferenceConfig<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig<'a>>,
    #[serde(rename = "additionalModelRequestFields", skip_serializing_if = "Map::is_empty")]
    additional: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    guardrail_config: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    performance_config: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_metadata: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_tier: Option<Value>,
    /// Collected here, moved into `tool_config` at the end.
    #[serde(skip)]
    tools: Vec<ToolEntry<'a>>,
    #[serde(skip)]
    tool_choice: Option<Value>,
}

/// One turn of the conversation.
#[derive(Serialize)]
struct Turn<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

/// A content block (also a system block, which uses the `text` and `cachePoint` forms only).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum Block<'a> {
    Text(Cow<'a, str>),
    Image(Image<'a>),
    ToolUse(ToolUse<'a>),
    ToolResult(ToolResult<'a>),
    CachePoint(CachePoint),
}

#[derive(Serialize)]
struct Image<'a> {
    format: &'static str,
    source: ImageSource<'a>,
}

/// Converse's JSON takes the image bytes as base64: the data URL's payload goes as it is.
#[derive(Serialize)]
struct ImageSource<'a> {
    bytes: Cow<'a, str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolUse<'a> {
    tool_use_id: Cow<'a, str>,
    name: Cow<'a, str>,
    input: Box<RawValue>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolResult<'a> {
    tool_use_id: Cow<'a, str>,
    content: Vec<ToolResultContent<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum ToolResultContent<'a> {
    Text(Cow<'a, str>),
}

/// `{"type": "default"}`, the only cache point kind.
#[derive(Serialize)]
struct CachePoint {
    #[serde(rename = "type")]
    kind: &'static str,
}

impl CachePoint {
    const DEFAULT: CachePoint = CachePoint { kind: "default" };
}

#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct InferenceConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<Cow<'a, RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sequences: Option<Vec<Cow<'a, str>>>,
}

impl InferenceConfig<'_> {
    fn is_empty(&self) -> bool {
        self.max_tokens.is_none() && self.temperature.is_none() && self.top_p.is_none() && self.stop_sequences.is_none()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig<'a> {
    tools: Vec<ToolEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum ToolEntry<'a> {
    ToolSpec(ToolSpec<'a>),
    CachePoint(CachePoint),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolSpec<'a> {
    name: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<Cow<'a, str>>,
    input_schema: InputSchema<'a>,
}

#[derive(Serialize)]
struct InputSchema<'a> {
    json: &'a RawValue,
}
