//! Anthropic `Message` -> OpenAI `chat.completion`.
//!
//! Reference: <https://platform.claude.com/docs/en/api/messages>. Behaviour follows LiteLLM's
//! `AnthropicConfig.transform_parsed_response` / `extract_response_content`: text blocks joined into
//! `content`, `tool_use` blocks into `tool_calls` with Anthropic's ids, `thinking` blocks into
//! `reasoning_content` (their text) and `thinking_blocks` (the blocks with their signatures or encrypted data, so
//! a client can send them back on the next turn).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::wire::{finish_reason, ContentBlock, Message};
use crate::{ResponseMeta, TranslateError, Usage};

/// Translates a non-stream answer.
///
/// Dropped (lossy, as LiteLLM keeps them only in its `provider_specific_fields`): `citations`, Anthropic's
/// server tools (`server_tool_use` and their `*_tool_result` blocks: Anthropic ran them, so they are not
/// calls for the client), `stop_sequence`, `container`, Anthropic's own `id` and `model`.
pub fn chat(body: &[u8], meta: &ResponseMeta<'_>) -> Result<(Vec<u8>, Usage), TranslateError> {
    let message: Message<'_> = serde_json::from_slice(body).map_err(|e| TranslateError::ProviderBody(e.to_string()))?;

    let mut texts: Vec<&RawValue> = Vec::new();
    let mut thinking: Vec<&RawValue> = Vec::new();
    let mut thinking_blocks: Vec<ThinkingBlock<'_>> = Vec::new();
    let mut tool_calls: Vec<ToolCall<'_>> = Vec::new();
    let mut json_answers: Vec<&RawValue> = Vec::new();
    for block in &message.content {
        match block.kind {
            "text" => texts.extend(block.text),
            "thinking" => {
                thinking.extend(block.thinking);
                thinking_blocks.push(ThinkingBlock {
                    kind: "thinking",
                    thinking: block.thinking,
                    signature: block.signature,
                    data: None,
                });
            }
            "redacted_thinking" => thinking_blocks.push(ThinkingBlock {
                kind: "redacted_thinking",
                thinking: None,
                signature: None,
                data: block.data,
            }),
            "tool_use" if block.is_json_tool() => json_answers.extend(block.input),
            "tool_use" => tool_calls.push(tool_call(block)?),
            // Server tools, their results, and block types added after this was written.
            _ => {}
        }
    }

    let mut finish = finish_reason(message.stop_reason);
    let mut content = Text::join(&texts)?;
    if let Some(&json) = json_answers.first() {
        // The answer to `response_format` (see the request translator): its input is the JSON the client
        // asked for, and goes to `content`. Alone, it replaces the text and the turn is a plain `stop`, as
        // LiteLLM's `_resolve_json_mode_non_streaming`; next to real tool calls it is appended to the text.
        let answer = json_answer(json);
        if tool_calls.is_empty() {
            content = Some(Text::Json(TextJson(compact(answer.get()))));
            finish = "stop";
        } else {
            let mut joined = content.map(|t| t.into_string()).transpose()?.unwrap_or_default();
            joined.push_str(&compact(answer.get()));
            content = Some(Text::Owned(joined));
        }
    }
    let reasoning_content = if thinking_blocks.is_empty() {
        None
    } else {
        Some(Text::join(&thinking)?.unwrap_or(Text::Owned(String::new())))
    };

    let usage = message.usage.unwrap_or_default().to_usage();
    let completion = Completion {
        id: meta.id,
        object: "chat.completion",
        created: meta.created,
        model: meta.model,
        choices: [Choice {
            index: 0,
            message: OutMessage {
                role: "assistant",
                refusal: None,
                content,
                tool_calls,
                reasoning_content,
                thinking_blocks: if thinking_blocks.is_empty() { None } else { Some(thinking_blocks) },
            },
            logprobs: None,
            finish_reason: finish,
        }],
        usage: usage.to_openai(),
    };
    let mut out = Vec::with_capacity(body.len() + 256);
    serde_json::to_writer(&mut out, &completion).map_err(|e| TranslateError::ProviderBody(e.to_string()))?;
    Ok((out, usage))
}

/// The JSON of a `response_format` answer: the tool input, or its `values` when that is its only member
/// (LiteLLM's `_convert_tool_response_to_message` unwraps `values` whenever present, which would drop the
/// other members of a schema that has one called `values`; we unwrap only the lone wrapper).
pub(super) fn json_answer(input: &RawValue) -> &RawValue {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wrapper<'a> {
        #[serde(borrow)]
        values: &'a RawValue,
    }
    match serde_json::from_str::<Wrapper<'_>>(input.get()) {
        Ok(wrapper) if wrapper.values.get() != "null" => wrapper.values,
        _ => input,
    }
}

fn tool_call<'a>(block: &ContentBlock<'a>) -> Result<ToolCall<'a>, TranslateError> {
    let (Some(id), Some(name)) = (block.id, block.name) else {
        return Err(TranslateError::ProviderBody("a tool_use block without id or name".to_owned()));
    };
    Ok(ToolCall {
        id,
        kind: "function",
        // Anthropic's input object, compact (LiteLLM re-serializes it with `json.dumps`, which puts a space
        // after `,` and `:`; both are the same JSON).
        function: Function { name, arguments: compact(block.input.map_or("{}", RawValue::get)) },
    })
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: serde_json::Value,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: OutMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    /// Required by OpenAI's schema; Anthropic's refusals are a `stop_reason`, so always `null`.
    refusal: Option<()>,
    /// `null` when the answer has no text (only tool calls), as OpenAI and LiteLLM answer.
    content: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_blocks: Option<Vec<ThinkingBlock<'a>>>,
}

/// A `thinking` or `redacted_thinking` block as Anthropic sent it (`type` and the members a later turn must
/// send back), LiteLLM's `thinking_blocks`.
#[derive(Serialize)]
struct ThinkingBlock<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
}

#[derive(Serialize)]
pub(super) struct ToolCall<'a> {
    id: &'a RawValue,
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'a RawValue,
    /// A string holding the arguments' JSON text.
    arguments: Cow<'a, str>,
}

/// A string member of the answer.
#[derive(Serialize)]
#[serde(untagged)]
enum Text<'a> {
    /// One raw JSON string from Anthropic, copied as it is.
    Raw(&'a RawValue),
    /// Several strings decoded and joined.
    Owned(String),
    /// JSON text carried as a string (`response_format` answers).
    Json(TextJson<'a>),
}

impl<'a> Text<'a> {
    /// The strings joined with nothing between them (LiteLLM concatenates text blocks the same way);
    /// `None` when there are none.
    fn join(parts: &[&'a RawValue]) -> Result<Option<Text<'a>>, TranslateError> {
        match parts {
            [] => Ok(None),
            [one] => Ok(Some(Text::Raw(one))),
            many => {
                let mut joined = String::new();
                for part in many {
                    joined.push_str(&decode(part)?);
                }
                Ok(Some(Text::Owned(joined)))
            }
        }
    }

    fn into_string(self) -> Result<String, TranslateError> {
        match self {
            Text::Raw(raw) => decode(raw),
            Text::Owned(s) => Ok(s),
            Text::Json(json) => Ok(json.0.into_owned()),
        }
    }
}

/// JSON text carried as a JSON string.
#[derive(Serialize)]
#[serde(transparent)]
struct TextJson<'a>(Cow<'a, str>);

/// `json` without whitespace between tokens; borrowed when it has none (Anthropic's answers are compact,
/// so this is a scan, not a copy). Whitespace inside strings is kept.
pub(super) fn compact(json: &str) -> Cow<'_, str> {
    let mut in_string = false;
    let mut escaped = false;
    let mut first_space = None;
    for (i, b) in json.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            first_space = Some(i);
            break;
        }
    }
    let Some(start) = first_space else { return Cow::Borrowed(json) };
    let mut out = String::with_capacity(json.len());
    out.push_str(&json[..start]);
    for c in json[start..].chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            out.push(c);
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn decode(raw: &RawValue) -> Result<String, TranslateError> {
    serde_json::from_str::<String>(raw.get()).map_err(|e| TranslateError::ProviderBody(e.to_string()))
}
