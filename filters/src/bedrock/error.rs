//! Bedrock's error answers -> OpenAI's `{"error": {"message", "type", "param", "code"}}`.
//!
//! Bedrock (restJson1) answers an error with its HTTP status, the error's name in the `x-amzn-ErrorType`
//! header (`ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/`) and a body
//! `{"message": "..."}` (`{"Message": "..."}` from the AWS front door for signature and token errors; some
//! front ends add `__type`). Reference: <https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html#API_runtime_Converse_Errors>.
//! The status is kept (the gateway's retry rules read it); the OpenAI `type` comes from the error's name
//! when we know it ([`super::mapping::error_kind`]), else from the status.

use serde::Deserialize;

use crate::openai::error_body;

use super::mapping::{error_kind, error_type_for_status};

/// Longest provider message passed on, in characters.
const MAX_MESSAGE_CHARS: usize = 2000;

/// An OpenAI-shaped error (status, body) for a Bedrock error answer whose name is unknown.
pub fn error(status: u16, body: &[u8]) -> (u16, Vec<u8>) {
    error_with_type(status, None, body)
}

/// An OpenAI-shaped error (status, body) for a Bedrock error answer, with the value of its
/// `x-amzn-ErrorType` header when the caller has it.
pub fn error_with_type(status: u16, error_type: Option<&str>, body: &[u8]) -> (u16, Vec<u8>) {
    #[derive(Deserialize)]
    struct Wire {
        #[serde(default, alias = "Message")]
        message: Option<String>,
        #[serde(default, rename = "__type")]
        kind: Option<String>,
        #[serde(default)]
        error: Option<serde_json::Value>,
    }
    let wire = serde_json::from_slice::<Wire>(body).ok();
    if wire.as_ref().is_some_and(|w| w.error.as_ref().is_some_and(serde_json::Value::is_object)) {
        // Already OpenAI-shaped (an OpenAI-compatible proxy in front of Bedrock): passed on as is.
        return (status, body.to_vec());
    }
    let (message, body_kind) = match wire {
        Some(w) => (w.message, w.kind),
        None => (None, None),
    };
    let name = error_type.or(body_kind.as_deref());
    let known = name.and_then(error_kind);
    // A non-error status with an error body (should not happen) gets the status the error's name implies.
    let status = match known {
        Some((named, _)) if status < 400 => named,
        _ => status,
    };
    let kind = known.map_or_else(|| error_type_for_status(status), |(_, kind)| kind);
    let message = match message {
        Some(m) => m,
        None => String::from_utf8_lossy(body).into_owned(),
    };
    let mut message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    if message.is_empty() {
        message = format!("Bedrock answered {status}");
    }
    let name = name.map(|n| n.split(':').next().unwrap_or(n).trim()).filter(|n| !n.is_empty());
    let message = match name {
        // The name says what failed (`ThrottlingException`), which the message alone often does not.
        Some(name) => format!("{name}: {message}"),
        None => message,
    };
    (status, error_body(&message, kind, None, Some(&status.to_string())))
}
