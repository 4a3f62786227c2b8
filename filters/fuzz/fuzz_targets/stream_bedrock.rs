//! The Bedrock ConverseStream translator (through `StreamTranslator`): the same output and outcome at any
//! chunk boundary, a stream the eventstream framing refuses at the limit (corrupt, cut, or a frame over the
//! limit) never accepted, and output that is whole OpenAI chunks of this answer ending in one `[DONE]`
//! (see `common::check_translator`).
//!
//! Raw bytes rarely get past the frames' CRCs, so with flags bit 2 the body is text that is framed here
//! (valid CRCs), one frame a line: `eventType payload`, or `!exceptionType payload` for an exception; the
//! fuzzer then reaches the translation of the events themselves.
#![no_main]

#[path = "common.rs"]
mod common;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use libfuzzer_sys::fuzz_target;
use tollgate_filters::Provider;

/// One frame per line of `text`, encoded as Bedrock sends them.
fn frames(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let (kind, line) = match line.strip_prefix(b"!") {
            Some(rest) => ("exception", rest),
            None => ("event", line),
        };
        let space = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
        let name = String::from_utf8_lossy(&line[..space]).into_owned();
        let payload = line.get(space + 1..).unwrap_or_default().to_vec();
        let message = Message::new(payload)
            .add_header(Header::new(format!(":{kind}-type"), HeaderValue::String(name.into())))
            .add_header(Header::new(":content-type", HeaderValue::String("application/json".into())))
            .add_header(Header::new(":message-type", HeaderValue::String(kind.into())));
        if write_message_to(&message, &mut out).is_err() {
            break;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some(plan) = common::plan(data) else { return };
    if plan.flags & 4 == 4 {
        let stream = frames(plan.body);
        common::check_translator_on(Provider::Bedrock, &plan, &stream, common::eventstream_refuses);
    } else {
        common::check_translator_on(Provider::Bedrock, &plan, plan.body, common::eventstream_refuses);
    }
});
