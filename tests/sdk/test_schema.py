"""Everything Tollgate writes in OpenAI's shape validates against OpenAI's published OpenAPI schema
(`../shared/openai-openapi.json`): every translated answer of the filters' golden fixtures (chat
completions, stream chunks, embeddings, errors), and what the gateway binary answers itself (a mock answer,
a stream, embeddings, its own errors).

Run: `.venv/bin/python -m pytest -q tests/sdk/test_schema.py` from the repository root.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest

from conftest import MASTER_KEY, Gateway

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT.parent / "shared" / "openai-openapi.json"
FIXTURES = ROOT / "filters" / "tests" / "fixtures"


def nullable(node: Any) -> Any:
    """The spec says `nullable: true` (OpenAPI 3.0's keyword, kept in this 3.1 document) where JSON Schema
    needs `null` allowed: rewritten so a validator reads it as the spec means it."""
    if isinstance(node, list):
        return [nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: nullable(v) for k, v in node.items()}
    if node.pop("nullable", False) is True:
        return {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture(scope="module")
def spec() -> dict:
    if not SPEC.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"OpenAI's schema is missing: {SPEC}")
        pytest.skip(f"OpenAI's schema is not at {SPEC}")
    spec = nullable(json.loads(SPEC.read_text()))
    # One named exception: a stream chunk's `finish_reason` is `null` until the last chunk in OpenAI's own
    # streams (and its SDK types it Optional), while the spec types it a string.
    choice = spec["components"]["schemas"]["CreateChatCompletionStreamResponse"]["properties"]["choices"]["items"]
    choice["properties"]["finish_reason"] = {"anyOf": [choice["properties"]["finish_reason"], {"type": "null"}]}
    # And an embedding is a base64 string when the request asks `encoding_format: base64` (OpenAI's API and
    # SDK do this; the spec types it an array of numbers only).
    embedding = spec["components"]["schemas"]["Embedding"]["properties"]
    embedding["embedding"] = {"anyOf": [embedding["embedding"], {"type": "string", "contentEncoding": "base64"}]}
    return spec


def check(spec: dict, schema: str, value: Any, where: str) -> None:
    """Validates `value` against `components.schemas.<schema>`, naming `where` on failure."""
    root = {"$ref": f"#/components/schemas/{schema}", "components": spec["components"]}
    errors = sorted(jsonschema.Draft202012Validator(root).iter_errors(value), key=lambda e: list(e.path))
    assert not errors, f"{where} is not a valid {schema}: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]
    )


def schema_of(value: dict) -> str:
    """Which schema an answer claims to be."""
    if "error" in value:
        return "ErrorResponse"
    return {
        "chat.completion": "CreateChatCompletionResponse",
        "chat.completion.chunk": "CreateChatCompletionStreamResponse",
        "list": "CreateEmbeddingResponse",
        "text_completion": "CreateCompletionResponse",
    }[value["object"]]


def sse_data(text: str) -> list[str]:
    """The `data:` payloads of an SSE body."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line[5:].lstrip(" ") for line in block.split("\n") if line.startswith("data:")]
        if lines:
            events.append("\n".join(lines))
    return events


def test_every_translated_golden_answer_validates(spec: dict) -> None:
    checked = 0
    for case in sorted(p for p in FIXTURES.glob("*/*") if p.is_dir()):
        answer = case / "openai.response.json"
        if answer.exists():
            value = json.loads(answer.read_text())
            check(spec, schema_of(value), value, str(answer.relative_to(ROOT)))
            checked += 1
        stream = case / "openai.stream.sse"
        if stream.exists():
            for i, data in enumerate(sse_data(stream.read_text())):
                if data == "[DONE]":
                    continue
                value = json.loads(data)
                check(spec, schema_of(value), value, f"{stream.relative_to(ROOT)} event {i}")
                checked += 1
    assert checked > 50, checked


def test_what_the_gateway_writes_itself_validates(spec: dict, gateway: Gateway) -> None:
    base = gateway.base_url
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    with openai.DefaultHttpxClient(base_url=base, headers=headers, timeout=15.0, trust_env=False) as c:
        models = c.get("/models").json()
        check(spec, "ListModelsResponse", models, "/v1/models")
        # `mocked` answers from its mock_response: a body the gateway writes itself.
        group = "mocked"
        assert group in [m["id"] for m in models["data"]], models
        chat = {"model": group, "messages": [{"role": "user", "content": "hi"}]}
        answer = c.post("/chat/completions", json=chat)
        assert answer.status_code == 200, answer.text
        check(spec, "CreateChatCompletionResponse", answer.json(), "a chat answer")
        streamed = c.post("/chat/completions", json={**chat, "stream": True})
        for i, data in enumerate(sse_data(streamed.text)):
            if data != "[DONE]":
                value = json.loads(data)
                check(spec, schema_of(value), value, f"stream event {i}")
        for path, body in [
            ("/chat/completions", {"model": "no-such-model", "messages": []}),
            ("/chat/completions", "not json"),
            ("/nothing", {}),
        ]:
            resp = c.post(path, content=body) if isinstance(body, str) else c.post(path, json=body)
            assert resp.status_code >= 400, resp.text
            check(spec, "ErrorResponse", resp.json(), f"{path} {resp.status_code}")
    with openai.DefaultHttpxClient(base_url=base, timeout=15.0, trust_env=False) as anonymous:
        unauthorized = anonymous.post("/chat/completions", json=chat)
        assert unauthorized.status_code == 401, unauthorized.text
        check(spec, "ErrorResponse", unauthorized.json(), "401")
