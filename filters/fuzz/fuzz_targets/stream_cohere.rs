//! The Cohere stream translator (through `StreamTranslator`): the same output and outcome at any chunk
//! boundary, an SSE event over the limit refused, and output that is whole OpenAI chunks of this answer
//! ending in one `[DONE]` (see `common::check_translator`).
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use tollgate_filters::Provider;

fuzz_target!(|data: &[u8]| {
    common::check_translator(Provider::Cohere, data, common::sse_over_limit);
});
