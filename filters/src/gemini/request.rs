//! OpenAI request -> Gemini request: `/chat/completions` -> `GenerateContentRequest`, `/embeddings` ->
//! `batchEmbedContents` (AI Studio) or `:predict` (Vertex AI).
//!
//! Parameters follow LiteLLM's `VertexGeminiConfig.get_supported_openai_params` / `map_openai_params`
//! (`litellm/llms/vertex_ai/gemini/vertex_and_google_ai_studio_gemini.py`) and its message conversion
//! (`litellm/llms/vertex_ai/gemini/transformation.py`, `_gemini_convert_messages_with_history`):
//!
//! | OpenAI | Gemini |
//! |---|---|
//! | `system` / `developer` messages (anywhere) | `systemInstruction.parts[].text`, one part per message |
//! | `user` / `assistant` | `contents[]` with role `user` / `model`, consecutive turns of one role merged |
//! | `tool` (and legacy `function`) messages | `functionResponse` parts in a `user` turn, named after the call they answer |
//! | `assistant.tool_calls` | `functionCall` parts (`args` = the parsed `arguments`) |
//! | `tools[].function`, legacy `functions` | one `Tool` with `functionDeclarations` (schema rewritten, see `schema`) |
//! | `tool_choice` `auto` / `none` / `required` / `{function}` | `toolConfig.functionCallingConfig.mode` `AUTO` / `NONE` / `ANY` / `ANY` + `allowedFunctionNames` |
//! | `temperature`, `top_p`, `top_k`, `seed` | `generationConfig.temperature`, `topP`, `topK`, `seed` |
//! | `max_tokens`, `max_completion_tokens` | `generationConfig.maxOutputTokens` |
//! | `n` | `generationConfig.candidateCount` (left out for `n: 1`, Gemini's default) |
//! | `stop` | `generationConfig.stopSequences` |
//! | `presence_penalty`, `frequency_penalty` | `presencePenalty`, `frequencyPenalty` (silently dropped for Gemini 3, as LiteLLM does) |
//! | `logprobs`, `top_logprobs` | `responseLogprobs`, `logprobs` |
//! | `response_format` | `responseMimeType` + `responseJsonSchema` (Gemini 2+) or `responseSchema` (older) |
//! | `reasoning_effort`, `thinking` | `generationConfig.thinkingConfig` (see [`thinking_for_effort`]) |
//! | `web_search_options` | a `googleSearch` tool |
//! | `safety_settings`, `cached_content` (LiteLLM's provider params) | `safetySettings`, `cachedContent` |
//!
//! Ignored as harmless (they steer the gateway or OpenAI's own platform, not the answer): `stream` and
//! `stream_options` (the URL and the gateway decide), `user`, `metadata`, `store`, `service_tier`,
//! `prompt_cache_key`, `safety_identifier`, `parallel_tool_calls: true`. Anything else is refused with
//! [`TranslateError::UnsupportedParam`] unless `drop_params` (LiteLLM's `UnsupportedParamsError`).

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::ids;
use super::json;
use super::schema::{self, Schema};
use super::wire::{
    BatchEmbedRequest, Blob, ChatRequest, Content, ContentPartIn, EmbedContent, EmbedContentRequest, Empty, FileData,
    FileIn, FunctionCallOut, FunctionCallingConfig, FunctionDeclaration, FunctionDefIn, FunctionIn,
    FunctionResponseOut, FunctionResult, GenerationConfig, ImageUrlIn, Message, Part, StopSequences, SystemInstruction,
    TextPart, ThinkingConfig, Tool, ToolConfig, ToolIn, VertexInstance, VertexParameters, VertexPredictRequest,
};
use super::PROVIDER;
use crate::openai::RequestView;
use crate::{RequestOptions, TranslateError};

/// Refuses `param`, or accepts dropping it when the deployment says `drop_params`.
fn refuse(param: &str, opts: &RequestOptions) -> Result<(), TranslateError> {
    if opts.drop_params {
        return Ok(());
    }
    Err(TranslateError::UnsupportedParam { provider: PROVIDER, param: param.to_owned() })
}

/// A client value of the wrong shape.
fn wrong(field: &'static str, expected: &'static str) -> TranslateError {
    TranslateError::WrongType { field, expected }
}

/// A numeric parameter, passed through as the client wrote it.
fn number<'a>(field: &'static str, raw: &'a RawValue) -> Result<&'a RawValue, TranslateError> {
    if json::is_number(raw) {
        return Ok(raw);
    }
    Err(wrong(field, "a number"))
}

/// The parameters of a chat request, gathered in one pass over the body before anything is built.
#[derive(Default)]
struct Params<'a> {
    messages: Option<&'a RawValue>,
    tools: Option<&'a RawValue>,
    functions: Option<&'a RawValue>,
    tool_choice: Option<&'a RawValue>,
    parallel_tool_calls: Option<&'a RawValue>,
    response_format: Option<&'a RawValue>,
    reasoning_effort: Option<&'a RawValue>,
    thinking: Option<&'a RawValue>,
    web_search: bool,
    safety_settings: Option<&'a RawValue>,
    cached_content: Option<Cow<'a, str>>,
    max_tokens: Option<&'a RawValue>,
    max_completion_tokens: Option<&'a RawValue>,
}

/// `/chat/completions` -> `GenerateContentRequest` for `model` (the upstream model, as in the URL).
pub(crate) fn chat(view: &RequestView<'_>, model: &str, opts: &RequestOptions) -> Result<Vec<u8>, TranslateError> {
    let mut p = Params::default();
    let mut gen = GenerationConfig::default();
    let gemini_3 = model.contains("gemini-3");
    for (key, raw) in view.members() {
        // OpenAI clients send `null` for "not set".
        if json::is_null(raw) {
            continue;
        }
        match key {
            "model" | "stream" | "stream_options" => {}
            "messages" => p.messages = Some(raw),
            "temperature" => gen.temperature = Some(number("temperature", raw)?),
            "top_p" => gen.top_p = Some(number("top_p", raw)?),
            "top_k" => gen.top_k = Some(number("top_k", raw)?),
            "max_tokens" => p.max_tokens = Some(number("max_tokens", raw)?),
            "max_completion_tokens" => p.max_completion_tokens = Some(number("max_completion_tokens", raw)?),
            "n" => {
                // `n: 1` is Gemini's default; leaving it out keeps the body minimal.
                if number("n", raw)?.get() != "1" {
                    gen.candidate_count = Some(raw);
                }
            }
            "stop" => {
                gen.stop_sequences = Some(match json::str_of(raw) {
                    Some(one) => StopSequences::One([one]),
                    None if raw.get().starts_with('[') => StopSequences::Many(raw),
                    None => return Err(wrong("stop", "a string or an array of strings")),
                });
            }
            "seed" => gen.seed = Some(number("seed", raw)?),
            // LiteLLM drops the penalties silently for Gemini 3, which refuses them.
            "presence_penalty" if gemini_3 => {}
            "frequency_penalty" if gemini_3 => {}
            "presence_penalty" => gen.presence_penalty = Some(number("presence_penalty", raw)?),
            "frequency_penalty" => gen.frequency_penalty = Some(number("frequency_penalty", raw)?),
            "logprobs" => match raw.get() {
                "true" => gen.response_logprobs = Some(true),
                "false" => {}
                _ => return Err(wrong("logprobs", "a boolean")),
            },
            "top_logprobs" => gen.logprobs = Some(number("top_logprobs", raw)?),
            "tools" => p.tools = Some(raw),
            "functions" => p.functions = Some(raw),
            "tool_choice" => p.tool_choice = Some(raw),
            "parallel_tool_calls" => p.parallel_tool_calls = Some(raw),
            "response_format" => p.response_format = Some(raw),
            "reasoning_effort" => p.reasoning_effort = Some(raw),
            "thinking" => p.thinking = Some(raw),
            "web_search_options" => p.web_search = true,
            "safety_settings" | "safetySettings" => p.safety_settings = Some(raw),
            "cached_content" | "cachedContent" => {
                p.cached_content = Some(json::str_of(raw).ok_or(wrong("cached_content", "a string"))?);
            }
            // Only text out: image and audio answers are not translated (see the module doc of `gemini`).
            "modalities" => {
                let modalities: Vec<Cow<'_, str>> =
                    serde_json::from_str(raw.get()).map_err(|_| wrong("modalities", "an array of strings"))?;
                if modalities.iter().any(|m| m != "text") {
                    refuse("modalities", opts)?;
                }
            }
            // Harmless: they steer the gateway or OpenAI's platform, not the answer (module doc).
            "user" | "metadata" | "store" | "service_tier" | "prompt_cache_key" | "safety_identifier" => {}
            other => refuse(other, opts)?,
        }
    }
    gen.max_output_tokens = p.max_completion_tokens.or(p.max_tokens);

    let Some(messages_raw) = p.messages else {
        return Err(TranslateError::MissingField("messages"));
    };
    let messages: Vec<Message<'_>> =
        serde_json::from_str(messages_raw.get()).map_err(|_| wrong("messages", "an array of chat messages"))?;
    let (system_instruction, contents) = convert_messages(messages, gemini_3)?;

    let declarations = function_declarations(p.tools, p.functions, opts)?;
    let mut tools = Vec::new();
    let declaration_count = declarations.0.len();
    if !declarations.0.is_empty() {
        tools.push(Tool::Functions { function_declarations: declarations.0 });
    }
    tools.extend(declarations.1);
    if p.web_search {
        tools.push(Tool::GoogleSearch { google_search: Empty {} });
    }

    // Gemini refuses a function-calling config without declarations, so a lone `tool_choice` is left out.
    let tool_config = match p.tool_choice {
        Some(raw) if declaration_count > 0 => tool_config(raw, opts)?,
        _ => None,
    };
    if let Some(raw) = p.parallel_tool_calls {
        match raw.get() {
            "true" => {}
            // Gemini cannot be told to call one function at a time; LiteLLM refuses it with several tools.
            "false" if declaration_count > 1 => refuse("parallel_tool_calls", opts)?,
            "false" => {}
            _ => return Err(wrong("parallel_tool_calls", "a boolean")),
        }
    }
    if let Some(raw) = p.response_format {
        response_format(raw, model, &mut gen, opts)?;
    }
    if let Some(raw) = p.reasoning_effort {
        let effort = match json::str_of(raw) {
            Some(effort) => effort,
            // The OpenAI Agents SDK sends `{"effort": "high", "summary": "auto"}`.
            None => effort_of_object(raw)?,
        };
        gen.thinking_config = Some(thinking_for_effort(&effort, model)?);
    }
    if let Some(raw) = p.thinking {
        gen.thinking_config = Some(thinking_for_anthropic_param(raw, model)?);
    }

    let body = ChatRequest {
        contents,
        system_instruction,
        tools,
        tool_config,
        safety_settings: p.safety_settings,
        generation_config: gen,
        cached_content: p.cached_content,
    };
    // Gemini's body is about the size of OpenAI's: one allocation, no regrowth.
    let mut out = Vec::with_capacity(view.body_len() + 256);
    body.write(&mut out);
    Ok(out)
}

/// `{"effort": "..."}` -> the effort.
fn effort_of_object(raw: &RawValue) -> Result<Cow<'_, str>, TranslateError> {
    #[derive(serde::Deserialize)]
    struct Effort<'a> {
        #[serde(borrow)]
        effort: Cow<'a, str>,
    }
    let parsed: Effort<'_> = serde_json::from_str(raw.get())
        .map_err(|_| wrong("reasoning_effort", "a string or an object with `effort`"))?;
    Ok(parsed.effort)
}

/// The signature Google documents for replaying a function call whose real signature is lost (LiteLLM's
/// `DUMMY_THOUGHT_SIGNATURE`: base64 of `skip_thought_signature_validator`).
const DUMMY_THOUGHT_SIGNATURE: &str = "c2tpcF90aG91Z2h0X3NpZ25hdHVyZV92YWxpZGF0b3I=";

/// The system instruction and the turns of a conversation (see the module doc's table).
///
/// `gemini_3`: Gemini 3 refuses a replayed function call without its thought signature (400,
/// `MISSING_THOUGHT_SIGNATURE`), as happens when the ids were made by another gateway or a client rewrote
/// them; the first call of such a turn then carries Google's documented dummy signature, as LiteLLM does.
fn convert_messages(
    messages: Vec<Message<'_>>,
    gemini_3: bool,
) -> Result<(Option<SystemInstruction<'_>>, Vec<Content<'_>>), TranslateError> {
    let mut system: Vec<Part<'_>> = Vec::new();
    let mut contents: Vec<Content<'_>> = Vec::with_capacity(messages.len());
    // Tool-call ids seen so far and the function each names: a tool result is sent under that name,
    // since Gemini matches results to calls by name (it has no call ids).
    let mut calls: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
    for message in messages {
        match message.role.as_ref() {
            "system" | "developer" => {
                if let Some(text) = text_of(message.content)? {
                    if !text.is_empty() {
                        system.push(Part::Text { text });
                    }
                }
            }
            "user" => {
                let parts = user_parts(message.content)?;
                push_turn(&mut contents, "user", parts);
            }
            "assistant" => {
                let mut parts = Vec::new();
                // Assistant content: text only (LiteLLM); `reasoning_content` and `thinking_blocks` a
                // client echoes back are not replayed (lossy: Gemini keeps its own thought signatures).
                if let Some(text) = text_of(message.content)? {
                    if !text.is_empty() {
                        parts.push(Part::Text { text });
                    }
                }
                for call in message.tool_calls.into_iter().flatten() {
                    let id = call.id.unwrap_or_default();
                    let signature = ids::signature_of(&id);
                    calls.push((id.clone(), call.function.name.clone()));
                    parts.push(function_call_part(call.function, signature)?);
                }
                if let Some(function) = message.function_call {
                    parts.push(function_call_part(function, None)?);
                }
                if gemini_3 {
                    add_missing_signature(&mut parts);
                }
                push_turn(&mut contents, "model", parts);
            }
            "tool" | "function" => {
                let by_id = message
                    .tool_call_id
                    .as_deref()
                    .and_then(|id| calls.iter().rev().find(|(call_id, _)| call_id == id))
                    .map(|(_, name)| name.clone());
                let Some(name) = by_id.or(message.name) else {
                    return Err(wrong(
                        "messages",
                        "tool messages whose `tool_call_id` names a call of an earlier assistant message",
                    ));
                };
                let result = function_result(text_of(message.content)?.unwrap_or_default());
                let part = Part::FunctionResponse { function_response: FunctionResponseOut { name, response: result } };
                push_turn(&mut contents, "user", vec![part]);
            }
            _ => {
                return Err(wrong(
                    "messages",
                    "messages whose role is system, developer, user, assistant, tool or function",
                ))
            }
        }
    }
    let system = (!system.is_empty()).then_some(SystemInstruction { parts: system });
    Ok((system, contents))
}

/// Gives the first function call of a model turn the dummy signature when no call of the turn has one.
fn add_missing_signature(parts: &mut [Part<'_>]) {
    let mut calls = parts.iter_mut().filter_map(|p| match p {
        Part::FunctionCall { thought_signature, .. } => Some(thought_signature),
        _ => None,
    });
    let Some(first) = calls.next() else {
        return;
    };
    if first.is_none() && calls.all(|s| s.is_none()) {
        *first = Some(Cow::Borrowed(DUMMY_THOUGHT_SIGNATURE));
    }
}

/// Appends parts to the conversation, merging them into the last turn when it has the same role
/// (Gemini wants turns to alternate).
fn push_turn<'a>(contents: &mut Vec<Content<'a>>, role: &'static str, parts: Vec<Part<'a>>) {
    if parts.is_empty() {
        return;
    }
    match contents.last_mut() {
        Some(last) if last.role == role => last.parts.extend(parts),
        _ => contents.push(Content { role, parts }),
    }
}

/// The text of a `content` that is a string or an array of text parts (non-text parts are skipped, as
/// LiteLLM does for system and tool messages); `None` when absent.
fn text_of(content: Option<&RawValue>) -> Result<Option<Cow<'_, str>>, TranslateError> {
    let Some(raw) = content else {
        return Ok(None);
    };
    if let Some(text) = json::str_of(raw) {
        return Ok(Some(text));
    }
    let parts: Vec<ContentPartIn<'_>> =
        serde_json::from_str(raw.get()).map_err(|_| wrong("messages", "message content that is a string or parts"))?;
    let mut texts = parts.into_iter().filter(|p| p.kind == "text").filter_map(|p| p.text);
    let Some(first) = texts.next() else {
        return Ok(Some(Cow::Borrowed("")));
    };
    let mut joined = first;
    for text in texts {
        joined.to_mut().push_str(&text);
    }
    Ok(Some(joined))
}

/// The parts of a user message: text, images, audio and files.
fn user_parts(content: Option<&RawValue>) -> Result<Vec<Part<'_>>, TranslateError> {
    let Some(raw) = content else {
        return Ok(Vec::new());
    };
    if let Some(text) = json::str_of(raw) {
        return Ok(if text.is_empty() { Vec::new() } else { vec![Part::Text { text }] });
    }
    let items: Vec<ContentPartIn<'_>> =
        serde_json::from_str(raw.get()).map_err(|_| wrong("messages", "message content that is a string or parts"))?;
    let mut parts = Vec::with_capacity(items.len());
    for item in items {
        match item.kind.as_ref() {
            "text" => {
                if let Some(text) = item.text.filter(|t| !t.is_empty()) {
                    parts.push(Part::Text { text });
                }
            }
            "image_url" => {
                let Some(raw_url) = item.image_url else {
                    return Err(wrong("messages", "image_url parts with an `image_url`"));
                };
                let (url, format) = match json::str_of(raw_url) {
                    Some(url) => (url, None),
                    None => {
                        let obj: ImageUrlIn<'_> = serde_json::from_str(raw_url.get())
                            .map_err(|_| wrong("messages", "image_url parts with a `url`"))?;
                        (obj.url, obj.format)
                    }
                };
                parts.push(media_part(url, format, Some("image/jpeg"))?);
            }
            "input_audio" => {
                let Some(audio) = item.input_audio else {
                    return Err(wrong("messages", "input_audio parts with `data` and `format`"));
                };
                let mime_type = Cow::Owned(format!("audio/{}", audio.format));
                parts.push(Part::InlineData { inline_data: Blob { mime_type, data: audio.data } });
            }
            "file" => {
                let Some(FileIn { file_data, file_id, format }) = item.file else {
                    return Err(wrong("messages", "file parts with a `file`"));
                };
                let Some(source) = file_data.or(file_id) else {
                    return Err(wrong("messages", "file parts with `file_data` or `file_id`"));
                };
                parts.push(media_part(source, format, None)?);
            }
            _ => return Err(wrong("messages", "content parts of type text, image_url, input_audio or file")),
        }
    }
    Ok(parts)
}

/// A media reference as a part: a base64 data URL becomes `inline_data`, a `gs://` or `http(s)://` URL
/// `file_data` (as LiteLLM's `_process_gemini_image`). The MIME type is the client's `format`, else the
/// URL's extension, else `fallback`.
///
/// Lossy where LiteLLM is not: for an `https` URL with no telling extension LiteLLM downloads the image
/// and inlines it; a pure translator cannot, so the URL is sent as `file_data` with `fallback`
/// (`image/jpeg` for `image_url` parts), which Gemini reads for the common image types.
fn media_part<'a>(
    url: Cow<'a, str>,
    format: Option<Cow<'a, str>>,
    fallback: Option<&'static str>,
) -> Result<Part<'a>, TranslateError> {
    if url.starts_with("data:") {
        let Some(comma) = url.find(',') else {
            return Err(wrong("messages", "data URLs of the form data:<type>;base64,<data>"));
        };
        let meta = &url[5..comma];
        let Some(mime_end) = meta.find(";base64") else {
            return Err(wrong("messages", "base64 data URLs (data:<type>;base64,<data>)"));
        };
        let mime_type = format.unwrap_or_else(|| sub(&url, 5..5 + mime_end));
        let data = sub(&url, comma + 1..url.len());
        return Ok(Part::InlineData { inline_data: Blob { mime_type, data } });
    }
    if !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with("gs://")) {
        return Err(wrong("messages", "media URLs that are data:, http(s):// or gs:// URLs"));
    }
    let Some(mime_type) =
        format.or_else(|| mime_from_extension(&url).map(Cow::Borrowed)).or(fallback.map(Cow::Borrowed))
    else {
        return Err(wrong("messages", "file URLs with a known extension, or a `format` giving the MIME type"));
    };
    Ok(Part::FileData { file_data: FileData { mime_type, file_uri: url } })
}

/// A slice of a `Cow`, still borrowed from the body when the `Cow` was.
fn sub<'a>(s: &Cow<'a, str>, range: std::ops::Range<usize>) -> Cow<'a, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(&b[range]),
        Cow::Owned(o) => Cow::Owned(o[range].to_owned()),
    }
}

/// The MIME type of a URL's extension (LiteLLM's `_get_image_mime_type_from_url`, plus GIF and HEIC).
pub(crate) fn mime_from_extension(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    let mime = match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "mp4" => "video/mp4",
        "mov" => "video/mov",
        "mpeg" | "mpg" => "video/mpeg",
        "avi" => "video/avi",
        "wmv" => "video/wmv",
        "mpegps" => "video/mpegps",
        "flv" => "video/flv",
        "mp3" => "audio/mp3",
        "wav" => "audio/wav",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        _ => return None,
    };
    Some(mime)
}

/// An assistant's call replayed as a `functionCall` part; empty arguments are `{}`.
fn function_call_part<'a>(
    function: FunctionIn<'a>,
    signature: Option<Cow<'a, str>>,
) -> Result<Part<'a>, TranslateError> {
    let args = match trimmed(function.arguments.unwrap_or_default()) {
        args if args.is_empty() => Cow::Borrowed("{}"),
        args if args.starts_with('{') && serde_json::from_str::<IgnoredAny>(&args).is_ok() => args,
        _ => return Err(wrong("messages", "tool calls whose `arguments` are a JSON object")),
    };
    Ok(Part::FunctionCall {
        function_call: FunctionCallOut { name: function.name, args },
        thought_signature: signature,
    })
}

/// `text` without its surrounding whitespace, the client's string kept (no copy) when there is none: the
/// exact text a parsed `RawValue` of it would hold, once it is checked to be JSON.
fn trimmed(text: Cow<'_, str>) -> Cow<'_, str> {
    if text.trim().len() == text.len() {
        return text;
    }
    match text {
        Cow::Borrowed(b) => Cow::Borrowed(b.trim()),
        Cow::Owned(o) => Cow::Owned(o.trim().to_owned()),
    }
}

/// A tool's answer: a JSON object as is, anything else as `{"content": text}`.
fn function_result(text: Cow<'_, str>) -> FunctionResult<'_> {
    if text.trim_start().starts_with('{') && serde_json::from_str::<IgnoredAny>(&text).is_ok() {
        return FunctionResult::Object(trimmed(text));
    }
    FunctionResult::Text { content: text }
}

/// Function declarations from `tools` and legacy `functions`, and the other tools (Gemini-native ones
/// sent as is, web search as `googleSearch`).
fn function_declarations<'a>(
    tools: Option<&'a RawValue>,
    functions: Option<&'a RawValue>,
    opts: &RequestOptions,
) -> Result<(Vec<FunctionDeclaration<'a>>, Vec<Tool<'a>>), TranslateError> {
    let mut declarations = Vec::new();
    let mut others = Vec::new();
    if let Some(raw) = tools {
        let items: Vec<ToolIn<'a>> =
            serde_json::from_str(raw.get()).map_err(|_| wrong("tools", "an array of tools"))?;
        // Only a Gemini-native tool needs its raw text: read the array as raw values once, if there is one.
        let mut raw_items: Option<Vec<&'a RawValue>> = None;
        for (i, tool) in items.into_iter().enumerate() {
            match (tool.kind.as_deref(), tool.function) {
                (Some("function") | None, Some(function)) => declarations.push(declaration(function)?),
                // LiteLLM maps OpenAI's web search tools to Google Search grounding.
                (Some("web_search" | "web_search_preview"), _) => {
                    others.push(Tool::GoogleSearch { google_search: Empty {} })
                }
                // A Gemini-native tool (`{"codeExecution": {}}`, `{"googleSearch": {}}`): LiteLLM lets
                // these through; they have exactly one member and no `type`.
                (None, None) => {
                    if raw_items.is_none() {
                        raw_items =
                            Some(serde_json::from_str(raw.get()).map_err(|_| wrong("tools", "an array of tools"))?);
                    }
                    match raw_items.as_ref().and_then(|r| r.get(i)).copied() {
                        Some(item) if is_single_member_object(item) => others.push(Tool::Native(item)),
                        _ => refuse("tools", opts)?,
                    }
                }
                _ => refuse("tools", opts)?,
            }
        }
    }
    if let Some(raw) = functions {
        let items: Vec<FunctionDefIn<'_>> =
            serde_json::from_str(raw.get()).map_err(|_| wrong("functions", "an array of function definitions"))?;
        for function in items {
            declarations.push(declaration(function)?);
        }
    }
    Ok((declarations, others))
}

/// Whether `raw` is an object with exactly one member.
fn is_single_member_object(raw: &RawValue) -> bool {
    serde_json::from_str::<std::collections::BTreeMap<Cow<'_, str>, &RawValue>>(raw.get()).is_ok_and(|m| m.len() == 1)
}

/// One function definition -> a `FunctionDeclaration` with Gemini's schema subset.
fn declaration(function: FunctionDefIn<'_>) -> Result<FunctionDeclaration<'_>, TranslateError> {
    let parameters = match function.parameters {
        Some(node) => {
            let cleaned = schema::to_gemini(node, false)
                .map_err(|_| wrong("tools", "function parameters whose $refs resolve without recursion"))?;
            // An object without properties is refused by Gemini; a function without parameters is not.
            (!schema::is_empty_object(&cleaned)).then_some(cleaned)
        }
        _ => None,
    };
    Ok(FunctionDeclaration { name: function.name, description: function.description, parameters })
}

/// `tool_choice` -> `toolConfig` (LiteLLM's `map_tool_choice_values`).
fn tool_config<'a>(raw: &'a RawValue, opts: &RequestOptions) -> Result<Option<ToolConfig<'a>>, TranslateError> {
    #[derive(serde::Deserialize)]
    struct Named<'a> {
        #[serde(borrow)]
        function: FunctionName<'a>,
    }
    #[derive(serde::Deserialize)]
    struct FunctionName<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
    }
    let (mode, allowed) = match json::str_of(raw).as_deref() {
        Some("auto") => ("AUTO", None),
        Some("none") => ("NONE", None),
        Some("required") => ("ANY", None),
        Some(_) => {
            refuse("tool_choice", opts)?;
            return Ok(None);
        }
        None => match serde_json::from_str::<Named<'_>>(raw.get()) {
            Ok(named) => ("ANY", Some([named.function.name])),
            Err(_) => {
                refuse("tool_choice", opts)?;
                return Ok(None);
            }
        },
    };
    Ok(Some(ToolConfig { function_calling_config: FunctionCallingConfig { mode, allowed_function_names: allowed } }))
}

/// `response_format` -> `responseMimeType` and a schema (LiteLLM's `apply_response_schema_transformation`).
fn response_format<'a>(
    raw: &'a RawValue,
    model: &str,
    gen: &mut GenerationConfig<'a>,
    opts: &RequestOptions,
) -> Result<(), TranslateError> {
    #[derive(serde::Deserialize)]
    struct Format<'a> {
        #[serde(borrow, rename = "type")]
        kind: Cow<'a, str>,
        #[serde(borrow, default)]
        json_schema: Option<JsonSchema<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct JsonSchema<'a> {
        #[serde(borrow, default)]
        schema: Option<&'a RawValue>,
    }
    let format: Format<'a> =
        serde_json::from_str(raw.get()).map_err(|_| wrong("response_format", "an object with a `type`"))?;
    match format.kind.as_ref() {
        "text" => gen.response_mime_type = Some("text/plain"),
        "json_object" => gen.response_mime_type = Some("application/json"),
        "json_schema" => {
            gen.response_mime_type = Some("application/json");
            let Some(schema) = format.json_schema.and_then(|j| j.schema) else {
                return Ok(());
            };
            if supports_response_json_schema(model) {
                // Gemini 2+ takes JSON Schema itself (`$ref`, `additionalProperties` included).
                gen.response_json_schema = Some(schema);
            } else {
                let node = Schema::parse(schema.get()).map_err(|_| wrong("response_format", "a JSON schema"))?;
                let cleaned = schema::to_gemini(node, true)
                    .map_err(|_| wrong("response_format", "a JSON schema whose $refs resolve without recursion"))?;
                gen.response_schema = Some(cleaned);
            }
        }
        _ => refuse("response_format", opts)?,
    }
    Ok(())
}

/// Whether the model takes `responseJsonSchema`: Gemini 2.0 and later (LiteLLM's
/// `supports_response_json_schema`, pattern `gemini-(?:[2-9]|[1-9]\d+)(?:\.|-)`).
pub fn supports_response_json_schema(model: &str) -> bool {
    let lower = model.to_ascii_lowercase();
    lower.match_indices("gemini-").any(|(at, m)| {
        let rest = &lower.as_bytes()[at + m.len()..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let version_ok = match rest.first() {
            Some(b'2'..=b'9') => digits >= 1,
            Some(b'1') => digits >= 2,
            _ => false,
        };
        version_ok && matches!(rest.get(digits), Some(b'.' | b'-'))
    })
}

/// `reasoning_effort` -> `thinkingConfig`, LiteLLM's table (`_map_reasoning_effort_to_thinking_budget` and
/// `..._to_thinking_level`, budgets from `litellm/constants.py`):
///
/// | effort | Gemini 2.5 and older: `thinkingBudget` | Gemini 3: `thinkingLevel` | `includeThoughts` |
/// |---|---|---|---|
/// | `minimal` | 1 (2.5 Flash), 512 (2.5 Flash Lite), 128 (2.5 Pro, others) | `minimal` (3 Flash), else `low` | true |
/// | `low` | 1024 | `low` | true |
/// | `medium` | 2048 | `medium` (3 Flash, 3.1 Pro), else `high` | true |
/// | `high` | 4096 | `high` | true |
/// | `none`, `disable` | 0 | `minimal` (3 Flash), else `low` (Gemini 3 cannot turn thinking off) | false |
pub fn thinking_for_effort(effort: &str, model: &str) -> Result<ThinkingConfig, TranslateError> {
    let lower = model.to_ascii_lowercase();
    let unknown = || wrong("reasoning_effort", "one of minimal, low, medium, high, none");
    if lower.contains("gemini-3") {
        let flash = lower.contains("gemini-3-flash") || lower.contains("gemini-3.1-flash");
        let pro_31 = lower.contains("gemini-3.1-pro-preview");
        let (level, include) = match effort {
            "minimal" if flash => ("minimal", true),
            "minimal" | "low" => ("low", true),
            "medium" if flash || pro_31 => ("medium", true),
            "medium" | "high" => ("high", true),
            "none" | "disable" if flash => ("minimal", false),
            "none" | "disable" => ("low", false),
            _ => return Err(unknown()),
        };
        return Ok(ThinkingConfig { thinking_budget: None, thinking_level: Some(level), include_thoughts: include });
    }
    let (budget, include) = match effort {
        "minimal" if lower.contains("gemini-2.5-flash-lite") => (512, true),
        "minimal" if lower.contains("gemini-2.5-pro") => (128, true),
        "minimal" if lower.contains("gemini-2.5-flash") => (1, true),
        "minimal" => (128, true),
        "low" => (1024, true),
        "medium" => (2048, true),
        "high" => (4096, true),
        "none" | "disable" => (0, false),
        _ => return Err(unknown()),
    };
    Ok(ThinkingConfig { thinking_budget: Some(budget), thinking_level: None, include_thoughts: include })
}

/// Anthropic's `thinking` (`{"type": "enabled", "budget_tokens": N}`), which LiteLLM also accepts for
/// Gemini (`_map_thinking_param`): a budget below Gemini 3, thoughts on or off from Gemini 3.
fn thinking_for_anthropic_param(raw: &RawValue, model: &str) -> Result<ThinkingConfig, TranslateError> {
    #[derive(serde::Deserialize)]
    struct Thinking<'a> {
        #[serde(borrow, rename = "type", default, deserialize_with = "crate::openai::opt_str")]
        kind: Option<Cow<'a, str>>,
        #[serde(default)]
        budget_tokens: Option<i64>,
    }
    let thinking: Thinking<'_> =
        serde_json::from_str(raw.get()).map_err(|_| wrong("thinking", "an object with `type` and `budget_tokens`"))?;
    let enabled = thinking.kind.as_deref() == Some("enabled");
    let budget = thinking.budget_tokens;
    if model.contains("gemini-3") {
        let include = enabled && budget.is_some_and(|b| b != 0);
        return Ok(ThinkingConfig { thinking_budget: None, thinking_level: None, include_thoughts: include });
    }
    Ok(ThinkingConfig { thinking_budget: budget, thinking_level: None, include_thoughts: enabled && budget != Some(0) })
}

/// The inputs of an `/embeddings` request (strings only: token arrays cannot be turned back into text).
struct EmbeddingInput<'a> {
    texts: Vec<Cow<'a, str>>,
    dimensions: Option<&'a RawValue>,
    task_type: Option<Cow<'a, str>>,
}

/// Reads an `/embeddings` request; `encoding_format` is applied to the answer (see `response`).
fn embedding_input<'a>(view: &RequestView<'a>, opts: &RequestOptions) -> Result<EmbeddingInput<'a>, TranslateError> {
    let mut input = None;
    let mut dimensions = None;
    let mut task_type = None;
    for (key, raw) in view.members() {
        if json::is_null(raw) {
            continue;
        }
        match key {
            "model" | "encoding_format" | "user" => {}
            "input" => input = Some(raw),
            "dimensions" => dimensions = Some(number("dimensions", raw)?),
            // LiteLLM's `input_type` / `task_type` (RETRIEVAL_QUERY, RETRIEVAL_DOCUMENT, ...).
            "task_type" | "input_type" => task_type = json::str_of(raw),
            other => refuse(other, opts)?,
        }
    }
    let Some(raw) = input else {
        return Err(TranslateError::MissingField("input"));
    };
    let texts = match json::str_of(raw) {
        Some(one) => vec![one],
        None => {
            let many: Vec<Cow<'a, str>> = serde_json::from_str::<Vec<&'a RawValue>>(raw.get())
                .ok()
                .and_then(|items| items.into_iter().map(json::str_of).collect())
                .ok_or(wrong("input", "a string or an array of strings"))?;
            many
        }
    };
    Ok(EmbeddingInput { texts, dimensions, task_type })
}

/// `/embeddings` -> Google AI Studio's `batchEmbedContents` body (LiteLLM's
/// `transform_openai_input_gemini_content`): one request per input, model `models/<model>`.
pub(crate) fn embeddings(
    view: &RequestView<'_>,
    model: &str,
    opts: &RequestOptions,
) -> Result<Vec<u8>, TranslateError> {
    let input = embedding_input(view, opts)?;
    let path = if model.starts_with("models/") { model.to_owned() } else { format!("models/{model}") };
    let requests = input
        .texts
        .into_iter()
        .map(|text| EmbedContentRequest {
            model: &path,
            content: EmbedContent { parts: [TextPart { text }] },
            task_type: input.task_type.clone(),
            output_dimensionality: input.dimensions,
        })
        .collect();
    serde_json::to_vec(&BatchEmbedRequest { requests }).map_err(|e| TranslateError::InvalidJson(e.to_string()))
}

/// `/embeddings` -> Vertex AI's `:predict` body for text-embedding models (LiteLLM's
/// `VertexAITextEmbeddingConfig`): `{"instances": [{"content": ...}], "parameters": {...}}`.
pub fn vertex_embeddings(view: &RequestView<'_>, opts: &RequestOptions) -> Result<Vec<u8>, TranslateError> {
    let input = embedding_input(view, opts)?;
    let instances =
        input.texts.into_iter().map(|content| VertexInstance { content, task_type: input.task_type.clone() }).collect();
    let body =
        VertexPredictRequest { instances, parameters: VertexParameters { output_dimensionality: input.dimensions } };
    serde_json::to_vec(&body).map_err(|e| TranslateError::InvalidJson(e.to_string()))
}
