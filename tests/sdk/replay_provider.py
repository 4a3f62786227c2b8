"""A fake provider that replays the translators' golden fixtures byte for byte, for the SDK suite.

The fixtures live in `filters/tests/fixtures/<provider>/<case>/` (`openai.request.json`,
`provider.request.json`, `provider.response.json`, `provider.stream.sse` or Bedrock's `provider.stream.bin`,
`openai.response.json`, `openai.stream.sse`, ...). `FixtureCase` reads one case folder; `ReplayProvider`
answers the gateway's call with the case's provider bytes, as the real provider would: stream or not
decided from the request (Bedrock's and Gemini's stream methods are in the path, Anthropic's and Cohere's
in the body's `stream`), JSON with a Content-Length, streams chunked and flushed in small pieces so chunk
boundaries fall inside events. Every request is recorded (path, headers, body bytes). Vertex AI cases
(`gemini/vertex_*`) are left to the Rust replay (`tests/providers.rs`), which also serves their OAuth
token endpoint.

The Rust twin of this module is `tests/common/replay.rs`; both read the same files the same way.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "filters" / "tests" / "fixtures"
# The upstream model of a Gemini case without `upstream_model.txt` (the Gemini golden test's default).
GEMINI_DEFAULT_UPSTREAM = "gemini-2.5-flash"
# Bytes per write of a replayed stream, and the pause between writes (pacing, not a wait for anything).
STREAM_PIECE = 11
PIECE_PAUSE_S = 0.001

# The LiteLLM prefix, stream content type and JSON content type of each provider API ("wire").
LITELLM_PREFIX = {
    "anthropic": "anthropic",
    "bedrock": "bedrock",
    "cohere": "cohere",
    "gemini": "gemini",
    "vertex_ai": "vertex_ai",
}
STREAM_CONTENT_TYPE = {
    "anthropic": "text/event-stream; charset=utf-8",
    "bedrock": "application/vnd.amazon.eventstream",
    "cohere": "text/event-stream",
    "gemini": "text/event-stream",
    "vertex_ai": "text/event-stream",
}


def wire_of(folder: str, case: str) -> str | None:
    """The provider API of a case: Gemini's folder holds the Vertex AI cases too, named `vertex_*`."""
    if folder == "gemini" and case.startswith("vertex"):
        return "vertex_ai"
    return folder if folder in LITELLM_PREFIX else None


def provider_folders() -> list[str]:
    """The provider folders that exist right now."""
    if not FIXTURES.is_dir():
        return []
    return sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def sse_data(raw: bytes) -> list[Any]:
    """The `data:` payloads of an SSE body: JSON values, `[DONE]` as the string "[DONE]"."""
    events = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")]
        if not data:
            continue
        text = "\n".join(data)
        events.append(text if text == "[DONE]" else json.loads(text))
    return events


@dataclass(frozen=True)
class ProviderAnswer:
    """The provider's answer to a request that is not a stream."""

    status: int
    body: bytes
    # Bedrock names its error in the `x-amzn-ErrorType` header.
    error_type: str | None = None


@dataclass(frozen=True)
class FixtureCase:
    """One case folder of the fixtures."""

    folder: str
    name: str

    @property
    def dir(self) -> Path:
        return FIXTURES / self.folder / self.name

    @property
    def label(self) -> str:
        return f"{self.folder}/{self.name}"

    @property
    def wire(self) -> str:
        wire = wire_of(self.folder, self.name)
        assert wire is not None, f"{self.label}: a provider API no replay knows"
        return wire

    def file(self, name: str) -> bytes | None:
        path = self.dir / name
        return path.read_bytes() if path.is_file() else None

    def json(self, name: str) -> Any:
        raw = self.file(name)
        return None if raw is None else json.loads(raw)

    @property
    def case_json(self) -> dict[str, Any]:
        return self.json("case.json") or {}

    @property
    def request(self) -> dict[str, Any] | None:
        return self.json("openai.request.json")

    @property
    def group(self) -> str:
        assert self.request is not None, f"{self.label}: no openai.request.json"
        return self.request["model"]

    @property
    def is_embeddings(self) -> bool:
        return "input" in (self.request or {}) or self.case_json.get("endpoint") == "embeddings"

    def upstream_model(self) -> str:
        """The model the provider is asked for, found where each golden test finds it."""
        if "upstream_model" in self.case_json:
            return self.case_json["upstream_model"]
        txt = self.file("upstream_model.txt")
        if txt is not None:
            return txt.decode().strip()
        if self.wire in ("gemini", "vertex_ai"):
            return GEMINI_DEFAULT_UPSTREAM
        return self.json("provider.request.json")["model"]

    def provider_stream(self) -> bytes | None:
        return self.file("provider.stream.sse") or self.file("provider.stream.bin")

    def provider_answer(self) -> ProviderAnswer | None:
        """The provider's error if the case has one, else `provider.response.json` with 200."""
        status = self.file("provider.status")
        if status is not None:
            body = self.file("provider.response.json")
            return None if body is None else ProviderAnswer(int(status.decode().strip()), body)
        raw = self.file("provider.error.json")
        if raw is not None:
            if "error_status" in self.case_json:
                return ProviderAnswer(self.case_json["error_status"], raw, self.case_json.get("error_type"))
            wrapped = json.loads(raw)
            return ProviderAnswer(wrapped["status"], json.dumps(wrapped["body"]).encode())
        body = self.file("provider.response.json")
        return None if body is None else ProviderAnswer(200, body)

    def openai_response(self) -> dict[str, Any] | None:
        """The client's successful answer (`None` for an error case)."""
        if self.file("openai.status") is not None or self.file("openai.error.json") is not None:
            return None
        return self.json("openai.response.json")

    def openai_stream(self) -> list[Any] | None:
        raw = self.file("openai.stream.sse")
        return None if raw is None else sse_data(raw)

    def stream_fails(self) -> bool:
        return self.file("openai.stream.error.json") is not None or "stream_error_status" in self.case_json


def cases_of(folder: str) -> list[FixtureCase]:
    """Every case of a provider folder that has a client request, sorted by name."""
    root = FIXTURES / folder
    if not root.is_dir():
        return []
    return [
        FixtureCase(folder, p.name)
        for p in sorted(root.iterdir())
        if p.is_dir() and (p / "openai.request.json").is_file()
    ]


@dataclass(frozen=True)
class Recorded:
    """One request as the replay provider received it."""

    method: str
    path: str
    # Header names lower-cased.
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ReplayProvider:
    """The replay provider: a ThreadingHTTPServer on 127.0.0.1, port 0, serving the current case."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._case: FixtureCase | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.replay = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="replay-provider", daemon=True)

    @property
    def origin(self) -> str:
        """`http://127.0.0.1:PORT`, the `api_base` of a replayed deployment."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ReplayProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def serve(self, case: FixtureCase) -> None:
        """Replays `case` from now on, with an empty record."""
        with self._lock:
            self._case = case
            self._requests.clear()

    @property
    def case(self) -> FixtureCase | None:
        with self._lock:
            return self._case

    @property
    def requests(self) -> list[Recorded]:
        """Every request received since the case was set."""
        with self._lock:
            return list(self._requests)

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self._requests.append(rec)


def _asks_for_stream(wire: str, path: str, body: bytes) -> bool:
    if wire == "bedrock":
        return "/converse-stream" in path
    if wire in ("gemini", "vertex_ai"):
        return ":streamGenerateContent" in path
    try:
        return json.loads(body).get("stream") is True
    except (ValueError, AttributeError):
        return False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # the suite reads requests from the record, not from stderr

    def do_POST(self) -> None:  # noqa: N802 - the base class's name
        replay: ReplayProvider = self.server.replay  # type: ignore[attr-defined]
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        replay._record(Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        case = replay.case
        if case is None:
            self._send(501, "text/plain", b"the replay provider serves no case", {})
            return
        wire = case.wire
        extra = {"x-amzn-RequestId": "4c1b6a9e-replay"} if wire == "bedrock" else {}
        if _asks_for_stream(wire, self.path, body):
            stream = case.provider_stream()
            if stream is None:
                self._send(501, "text/plain", f"{case.label} has no provider stream".encode(), {})
                return
            self._send_chunked(STREAM_CONTENT_TYPE[wire], stream, {**extra, "Cache-Control": "no-cache"})
            return
        answer = case.provider_answer()
        if answer is None:
            self._send(501, "text/plain", f"{case.label} has no provider answer".encode(), {})
            return
        if answer.error_type:
            extra["x-amzn-ErrorType"] = answer.error_type
        content_type = "application/json; charset=UTF-8" if wire in ("gemini", "vertex_ai") else "application/json"
        self._send(answer.status, content_type, answer.body, extra)

    def _send(self, status: int, content_type: str, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_chunked(self, content_type: str, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            for at in range(0, len(body), STREAM_PIECE):
                piece = body[at : at + STREAM_PIECE]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                time.sleep(PIECE_PAUSE_S)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
