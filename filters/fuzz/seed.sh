#!/usr/bin/env bash
# Seeds corpus/<target>/ from the stream fixtures under filters/tests/fixtures/<provider>/<case>/.
# Every seed is a fixture behind the 4-byte header the targets read (flags, knob, seed u16 LE; see
# fuzz_targets/common.rs): once with flags 0 (large limit) and once with flags 3 (small limit, include_usage).
# Idempotent: seeds are named after their case, so running it again rewrites the same files.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../tests/fixtures

seed() { # target, name, file
    mkdir -p "corpus/$1"
    { printf '\x00\x00\x07\x00'; cat "$3"; } >"corpus/$1/$2"
    { printf '\x03\xff\x2a\x01'; cat "$3"; } >"corpus/$1/$2.small"
}

shopt -s nullglob
for provider in anthropic gemini cohere; do
    for file in "$fixtures/$provider"/*/provider.stream.sse; do
        case=$(basename "$(dirname "$file")")
        seed "stream_$provider" "$case" "$file"
        seed sse_decoder "$provider-$case" "$file"
    done
done
for file in "$fixtures"/bedrock/*/provider.stream.bin; do
    case=$(basename "$(dirname "$file")")
    seed stream_bedrock "$case" "$file"
    seed eventstream_decoder "$case" "$file"
done
# The same Bedrock events as text for stream_bedrock's framing mode (flags bit 2), one `type payload` a line
# (`!type payload` for an exception), from provider.stream.events.json (one event a line, type header first).
for file in "$fixtures"/bedrock/*/provider.stream.events.json; do
    case=$(basename "$(dirname "$file")")
    {
        printf '\x04\x00\x03\x00'
        sed -nE -e 's/^\{"headers":\[\[":event-type","([^"]*)"\].*\],"payload":(.*)\},?$/\1 \2/p' \
            -e 's/^\{"headers":\[\[":exception-type","([^"]*)"\].*\],"payload":(.*)\},?$/!\1 \2/p' "$file"
    } >"corpus/stream_bedrock/$case.text"
done
# The OpenAI side of every case is an OpenAI stream: the passthrough's input, and more SSE for the decoder.
for file in "$fixtures"/*/*/openai.stream.sse; do
    case=$(basename "$(dirname "$(dirname "$file")")")-$(basename "$(dirname "$file")")
    seed stream_openai "$case" "$file"
    seed sse_decoder "openai-$case" "$file"
done
# Frames built by the eventstream target's own encoder mode (flags bit 1): one small and one mixed stream.
mkdir -p corpus/eventstream_decoder
printf '\x02\x00\x05\x00\x35messagehello, world{"x":1}' >corpus/eventstream_decoder/built-1
printf '\x02\x00\x09\x00\x13ab{"contentBlockDelta":1}\xf2contentBlockStop' >corpus/eventstream_decoder/built-2
for target in sse_decoder eventstream_decoder stream_openai stream_anthropic stream_gemini stream_bedrock stream_cohere; do
    echo "corpus/$target: $(find "corpus/$target" -type f | wc -l) seeds"
done
