"""A fake OpenAI-compatible provider that the gateway calls in the SDK suite.

It owns the upstream side of every test: it answers `/v1/chat/completions` (plain, streamed, tool calls),
`/v1/completions` and `/v1/embeddings` in OpenAI's shapes, fails on purpose for the models `fail-429`,
`fail-400` and `fail-404`, and records every request (path, headers, JSON body) so a test can say what
the gateway sent.

It speaks HTTP/1.1 with keep-alive, as real providers do: plain answers carry a Content-Length, streams
use chunked transfer encoding and are written and flushed one server-sent event at a time, so a gateway
that buffers a stream is caught by `hold_next_stream`.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# How long a held stream waits for the test to release it before it gives up and finishes anyway.
HOLD_LIMIT_S = 10.0


@dataclass(frozen=True)
class Recorded:
    """One request as the fake provider received it."""

    method: str
    path: str
    # Header names are lower-cased; a repeated header keeps its last value.
    headers: dict[str, str]
    body: Any


class StreamHold:
    """Lets a test hold a stream open after its first word, to prove the gateway forwards it early."""

    def __init__(self) -> None:
        self.release = threading.Event()
        # Set by the provider: True when the test released the stream, False when the hold timed out.
        self.released_by_test: bool | None = None
        self.done = threading.Event()


class FakeProvider:
    """The fake provider: a ThreadingHTTPServer on 127.0.0.1, port 0, served from a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._hold: StreamHold | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-provider", daemon=True)

    @property
    def port(self) -> int:
        """The port the provider listens on."""
        return self._server.server_address[1]

    @property
    def api_base(self) -> str:
        """The `api_base` a config gives deployments that call this provider."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeProvider:
        """Starts serving; the socket is already bound, so requests are accepted from here on."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and closes the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        """Forgets recorded requests and any pending hold (each test starts from a clean record)."""
        with self._lock:
            self._requests.clear()
            self._hold = None

    @property
    def requests(self) -> list[Recorded]:
        """Every request received since the last reset, in arrival order."""
        with self._lock:
            return list(self._requests)

    def hold_next_stream(self) -> StreamHold:
        """Makes the next streamed chat answer pause after its first word until `release` is set."""
        hold = StreamHold()
        with self._lock:
            self._hold = hold
        return hold

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self._requests.append(rec)

    def _take_hold(self) -> StreamHold | None:
        with self._lock:
            hold, self._hold = self._hold, None
            return hold


# --- answers -------------------------------------------------------------------------------------------

# Models that make the provider fail, with the status and OpenAI error body it answers.
FAILURES: dict[str, tuple[int, dict[str, Any]]] = {
    "fail-429": (
        429,
        {
            "error": {
                "message": "Rate limit reached for fail-429 (fake provider)",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        },
    ),
    "fail-400": (
        400,
        {
            "error": {
                "message": "Invalid value for 'messages' (fake provider rejects fail-400)",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "invalid_value",
            }
        },
    ),
    "fail-404": (
        404,
        {
            "error": {
                "message": "The model `fail-404` does not exist or you do not have access to it.",
                "type": "invalid_request_error",
                "param": None,
                "code": "model_not_found",
            }
        },
    ),
}


def embedding_for(text: str, index: int) -> list[float]:
    """The vector the provider returns for one input: values exact in float32, so base64 round-trips."""
    return [0.5, -0.25, float(index), float(len(text))]


def _text_of(content: Any) -> str:
    """A message's text, whether `content` is a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _last_message(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages") or []
    return messages[-1] if messages else {}


def _last_user_text(body: dict[str, Any]) -> str:
    for msg in reversed(body.get("messages") or []):
        if msg.get("role") == "user":
            return _text_of(msg.get("content"))
    return ""


def _usage(prompt: str, completion: str) -> dict[str, int]:
    p, c = len(prompt.split()), len(completion.split())
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _wants_tool_call(body: dict[str, Any]) -> bool:
    """Tools were offered and the conversation does not end with a tool's result."""
    return bool(body.get("tools")) and _last_message(body).get("role") != "tool"


def _answer_text(body: dict[str, Any]) -> str:
    """What the assistant says: the tool's result after a tool call, else the echo of the user."""
    last = _last_message(body)
    if last.get("role") == "tool":
        return "tool said: " + _text_of(last.get("content"))
    return "echo: " + _last_user_text(body)


def _tool_call(body: dict[str, Any]) -> dict[str, Any]:
    """A call of the first offered tool, with the user's text as its argument."""
    name = body["tools"][0]["function"]["name"]
    return {
        "id": "call_fake_1",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps({"query": _last_user_text(body)})},
    }


def chat_completion(body: dict[str, Any], seq: int) -> dict[str, Any]:
    """A non-streamed chat.completion for the request."""
    if _wants_tool_call(body):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [_tool_call(body)],
        }
        finish = "tool_calls"
        text = ""
    else:
        text = _answer_text(body)
        message = {"role": "assistant", "content": text, "refusal": None}
        finish = "stop"
    return {
        "id": f"chatcmpl-fake-{seq}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", ""),
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _usage(_last_user_text(body), text),
    }


def chat_chunks(body: dict[str, Any], seq: int) -> list[dict[str, Any]]:
    """The chat.completion.chunk events of a streamed answer: role, one per word, finish, usage."""
    base = {
        "id": f"chatcmpl-fake-{seq}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", ""),
        "system_fingerprint": "fp_fake",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    text = ""
    if _wants_tool_call(body):
        call = _tool_call(body)
        args = call["function"]["arguments"]
        half = len(args) // 2
        # The id and name come once, the arguments in pieces: as OpenAI streams them.
        chunks.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        for piece in (args[:half], args[half:]):
            chunks.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
        finish = "tool_calls"
    else:
        text = _answer_text(body)
        for i, word in enumerate(text.split(" ")):
            chunks.append(chunk({"content": word if i == 0 else " " + word}))
        finish = "stop"
    chunks.append(chunk({}, finish))
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": _usage(_last_user_text(body), text)})
    return chunks


def text_completion(body: dict[str, Any], seq: int) -> dict[str, Any]:
    """A text_completion for `/v1/completions`: one choice per prompt, each echoing it."""
    prompt = body.get("prompt", "")
    prompts = prompt if isinstance(prompt, list) else [prompt]
    choices = [
        {"text": "echo: " + str(p), "index": i, "logprobs": None, "finish_reason": "stop"}
        for i, p in enumerate(prompts)
    ]
    joined = " ".join(str(p) for p in prompts)
    return {
        "id": f"cmpl-fake-{seq}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": body.get("model", ""),
        "choices": choices,
        "usage": _usage(joined, " ".join(c["text"] for c in choices)),
    }


def embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """An embedding list: float lists, or base64 of little-endian float32 when `encoding_format=base64`."""
    raw = body.get("input", "")
    inputs = raw if isinstance(raw, list) and raw and isinstance(raw[0], (str, list)) else [raw]
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for i, item in enumerate(inputs):
        text = item if isinstance(item, str) else " ".join(str(t) for t in item)
        vec = embedding_for(text, i)
        emb: Any = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode() if as_base64 else vec
        data.append({"object": "embedding", "index": i, "embedding": emb})
    tokens = sum(len(str(x).split()) for x in inputs)
    return {
        "object": "list",
        "data": data,
        "model": body.get("model", ""),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# --- HTTP ----------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # An idle keep-alive connection is closed after this, so no handler thread lingers forever.
    timeout = 30

    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Quiet: the record of requests is the log."""

    @property
    def fake(self) -> FakeProvider:
        return self.server.fake  # type: ignore[attr-defined]

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers, up to the blank line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_stream(self, events: list[dict[str, Any]]) -> None:
        hold = self.fake._take_hold()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        payloads = [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]
        for i, payload in enumerate(payloads):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
            self.wfile.flush()
            # Hold after the role chunk and the first word have gone out.
            if hold is not None and i == 1:
                hold.released_by_test = hold.release.wait(HOLD_LIMIT_S)
                hold.done.set()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._read_body()
        self.fake._record(Recorded("GET", self.path, {k.lower(): v for k, v in self.headers.items()}, None))
        self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fake._record(Recorded("POST", self.path, headers, body))
        seq = len(self.fake.requests)
        path = self.path.split("?", 1)[0]

        if not isinstance(body, dict):
            self._send_json(400, {"error": {"message": "body is not a JSON object", "type": "invalid_request_error"}})
            return
        failure = FAILURES.get(str(body.get("model", "")))
        if failure is not None:
            self._send_json(*failure)
            return
        if path == "/v1/chat/completions":
            if body.get("stream"):
                self._send_stream(chat_chunks(body, seq))
            else:
                self._send_json(200, chat_completion(body, seq))
        elif path == "/v1/completions":
            self._send_json(200, text_completion(body, seq))
        elif path == "/v1/embeddings":
            self._send_json(200, embeddings(body))
        else:
            self._send_json(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})
