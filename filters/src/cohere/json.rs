//! Small JSON writing helpers: bodies are written straight into one buffer, raw client values copied as
//! they came, so a translation is one pass with no intermediate `serde_json::Value` tree.

use std::borrow::Cow;

use serde_json::value::RawValue;

/// Writes `s` as a JSON string literal, escaped as serde_json escapes it.
pub(super) fn write_str(out: &mut Vec<u8>, s: &str) {
    crate::openai::write_json_str(out, s);
}

/// Writes a raw JSON value as it came.
pub(super) fn write_raw(out: &mut Vec<u8>, raw: &RawValue) {
    out.extend_from_slice(raw.get().as_bytes());
}

/// Writes a decimal number.
pub(super) fn write_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Whether a raw value is `null`.
pub(super) fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// Whether a raw value is a JSON string.
pub(super) fn is_string(raw: &RawValue) -> bool {
    raw.get().starts_with('"')
}

/// Whether a raw value is a JSON array.
pub(super) fn is_array(raw: &RawValue) -> bool {
    raw.get().starts_with('[')
}

/// Whether a raw value is the empty string `""`.
pub(super) fn is_empty_string(raw: &RawValue) -> bool {
    raw.get() == "\"\""
}

/// The text of a raw JSON string (borrowed when it has no escapes); `None` when it is not a string.
pub(super) fn decode_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    #[derive(serde::Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    serde_json::from_str::<Text<'_>>(raw.get()).ok().map(|t| t.0)
}

/// Standard base64 with padding (RFC 4648 §4), what OpenAI's `encoding_format: "base64"` uses.
pub(super) fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sextet = |v: u32, shift: u32| ALPHABET[((v >> shift) & 0x3f) as usize];
    let mut chunks = bytes.chunks_exact(3);
    for c in &mut chunks {
        let v = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        out.extend_from_slice(&[sextet(v, 18), sextet(v, 12), sextet(v, 6), sextet(v, 0)]);
    }
    match *chunks.remainder() {
        [a] => {
            let v = u32::from(a) << 16;
            out.extend_from_slice(&[sextet(v, 18), sextet(v, 12), b'=', b'=']);
        }
        [a, b] => {
            let v = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[sextet(v, 18), sextet(v, 12), sextet(v, 6), b'=']);
        }
        _ => {}
    }
}
