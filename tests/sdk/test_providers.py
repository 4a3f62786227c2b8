"""The translated providers as the official OpenAI SDK sees them through the gateway.

For each provider folder of `filters/tests/fixtures/` (Anthropic, Bedrock, Cohere, Gemini: whichever exist),
a fake provider replays the fixture's bytes (`replay_provider.py`) behind a gateway configured with the
case's model group, and the SDK asks for: a non-streamed chat (the text, finish reason and usage the SDK
parses equal `openai.response.json`'s), a streamed chat (the deltas joined equal the text of
`openai.stream.sse`), a tool call (the `tool_calls` the SDK parses, arguments as JSON) and a streamed tool
call (the deltas accumulated per call index). Each test also checks what the provider got: its path, its
auth (never the master key) and a body equal to `provider.request.json` as a JSON value.

Run: `.venv/bin/python -m pytest -q tests/sdk/test_providers.py` from the repository root.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from conftest import MASTER_KEY, START_ATTEMPTS, Gateway, _start_gateway
from replay_provider import LITELLM_PREFIX, FixtureCase, ReplayProvider, cases_of, provider_folders

PROVIDER_KEY = "sk-replay-provider-key"
AWS_KEY_ID = "AKIDREPLAYEXAMPLE7Q2"
AWS_SECRET = "replay/K7MDENG+bPxRfiCYEXAMPLEKEYsecret"
AWS_REGION = "eu-west-3"

# What each test needs from a case, and the case names tried first.
KINDS = {
    "chat": ("text", "system", "multi_turn"),
    "stream": ("text", "text_stream", "system", "multi_turn"),
    "tools": ("tools",),
    "streamed_tools": ("streamed_tools",),
}


# --- choosing cases --------------------------------------------------------------------------------------


def _message(case: FixtureCase) -> dict[str, Any] | None:
    answer = case.openai_response()
    if not answer or not answer.get("choices"):
        return None
    return answer["choices"][0].get("message")


def _deltas(case: FixtureCase) -> list[dict[str, Any]]:
    events = case.openai_stream() or []
    return [c["delta"] for e in events if isinstance(e, dict) for c in e.get("choices", []) if "delta" in c]


def _fits(case: FixtureCase, kind: str) -> bool:
    if case.is_embeddings:
        return False
    if kind in ("chat", "tools"):
        answer = case.provider_answer()
        message = _message(case)
        if answer is None or answer.status != 200 or message is None:
            return False
        if kind == "tools":
            return bool(message.get("tool_calls"))
        return isinstance(message.get("content"), str) and bool(message["content"]) and not message.get("tool_calls")
    if case.provider_stream() is None or case.openai_stream() is None or case.stream_fails():
        return False
    calls = any(d.get("tool_calls") for d in _deltas(case))
    if kind == "streamed_tools":
        return calls
    return not calls and bool("".join(d.get("content") or "" for d in _deltas(case)))


def pick(folder: str, kind: str) -> FixtureCase | None:
    """The case of `folder` this kind of test replays: a preferred name first, else the first that fits."""
    # Vertex AI cases need an OAuth token endpoint: tests/providers.rs replays them.
    cases = [c for c in cases_of(folder) if c.wire != "vertex_ai"]
    by_name = {c.name: c for c in cases}
    preferred = [by_name[n] for n in KINDS[kind] if n in by_name]
    for case in preferred + cases:
        if _fits(case, kind):
            return case
    return None


def params(kind: str) -> list[Any]:
    """One parameter per provider folder: its case, or the folder's name when none fits (the test fails)."""
    folders = [f for f in provider_folders() if f in LITELLM_PREFIX]
    return [pytest.param(pick(f, kind) or f, id=f) for f in folders] or [pytest.param(None, id="no-fixtures")]


# --- the replay provider and the gateway -----------------------------------------------------------------


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayProvider]:
    """The module's replay provider."""
    fake = ReplayProvider().start()
    yield fake
    fake.stop()


def config_yaml(case: FixtureCase, origin: str) -> str:
    """One group named as the case's request, its deployment on the replay provider, no retries."""
    q = json.dumps
    # `api_base` as LiteLLM's docs write it: Gemini's carries the API version, Cohere's is the whole
    # endpoint URL (these cases are chats), the others are the host.
    base = {"gemini": f"{origin}/v1beta", "cohere": f"{origin}/v2/chat"}.get(case.wire, origin)
    params = [
        f"model: {q(LITELLM_PREFIX[case.wire] + '/' + case.upstream_model())}",
        f"api_base: {q(base)}",
        "num_retries: 0",
    ]
    if case.wire == "bedrock":
        params += [
            f"aws_access_key_id: {q(AWS_KEY_ID)}",
            f"aws_secret_access_key: {q(AWS_SECRET)}",
            f"aws_region_name: {q(AWS_REGION)}",
        ]
    else:
        params.append(f"api_key: {q(PROVIDER_KEY)}")
    lines = "".join(f"      {p}\n" for p in params)
    return (
        f"model_list:\n  - model_name: {q(case.group)}\n    litellm_params:\n{lines}"
        f"general_settings:\n  master_key: {MASTER_KEY}\n"
    )


@pytest.fixture
def gateway(
    case: FixtureCase | str | None, replay: ReplayProvider, gateway_binary: Path, tmp_path: Path
) -> Iterator[Gateway]:
    """A gateway for this test's case (replacing the suite's shared one), ready, killed at the end."""
    if not isinstance(case, FixtureCase):
        pytest.fail(f"no fixture case of {case!r} fits this test (see KINDS in test_providers.py)", pytrace=False)
    replay.serve(case)
    config = tmp_path / "config.yaml"
    config.write_text(config_yaml(case, replay.origin))
    gw = None
    for attempt in range(START_ATTEMPTS):
        gw = _start_gateway(gateway_binary, config, tmp_path, attempt)
        if gw.proc.poll() is None:
            break
        if "address already in use" not in gw.stderr().lower() or attempt == START_ATTEMPTS - 1:
            pytest.fail(f"gateway exited before it was ready\n{gw.stderr()}", pytrace=False)
    assert gw is not None
    yield gw
    gw.stop()


# --- what the provider got --------------------------------------------------------------------------------


def _percent_encode(segment: str) -> str:
    unreserved = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
    return "".join(ch if ch in unreserved else "".join(f"%{b:02X}" for b in ch.encode()) for ch in segment)


def expected_path(case: FixtureCase, stream: bool) -> str:
    """The provider path as each provider's API reference writes it."""
    model = case.upstream_model()
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return {
        "anthropic": "/v1/messages",
        "cohere": "/v2/chat",
        "gemini": f"/v1beta/models/{model}:{method}",
        "bedrock": f"/model/{_percent_encode(model)}/{'converse-stream' if stream else 'converse'}",
    }[case.wire]


def check_provider_request(case: FixtureCase, replay: ReplayProvider, stream: bool) -> None:
    """One request at the provider: its path, its auth, its body as the fixture has it."""
    reqs = replay.requests
    assert len(reqs) == 1, f"{case.label}: the provider got {[r.path for r in reqs]}"
    req = reqs[0]
    assert req.path == expected_path(case, stream), case.label
    leaked = {k: v for k, v in req.headers.items() if MASTER_KEY in v}
    assert leaked == {}, f"{case.label}: the master key reached the provider in {leaked}"
    wire, headers = case.wire, req.headers
    if wire == "anthropic":
        assert headers.get("x-api-key") == PROVIDER_KEY
        assert headers.get("anthropic-version") == "2023-06-01"
    elif wire == "gemini":
        assert headers.get("x-goog-api-key") == PROVIDER_KEY
    elif wire == "cohere":
        assert headers.get("authorization") == f"Bearer {PROVIDER_KEY}"
    elif wire == "bedrock":
        auth = headers.get("authorization", "")
        date = headers.get("x-amz-date", "")
        scope = f"{AWS_KEY_ID}/{date[:8]}/{AWS_REGION}/bedrock/aws4_request"
        assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders="), auth
        assert "Signature=" in auth and AWS_SECRET not in auth, auth
    got, want = req.json(), case.json("provider.request.json")
    if wire in ("anthropic", "cohere"):
        # These two read `stream` from the body; the others from the path checked above.
        asked = got.get("stream") is True
        assert asked == stream, f"{case.label}: stream={got.get('stream')!r} in the provider's body"
    # The SDK may ask the other way than the fixture did: `stream` is checked above, the rest must match.
    got.pop("stream", None)
    want.pop("stream", None)
    assert got == want, f"{case.label}: the provider's body differs from provider.request.json"


# --- asking through the SDK -------------------------------------------------------------------------------


def ask(client: openai.OpenAI, case: FixtureCase, stream: bool) -> Any:
    """The case's request through the SDK: model and messages as arguments, every other field as is."""
    body = dict(case.request or {})
    body.pop("stream", None)
    if not stream:
        body.pop("stream_options", None)
    model, messages = body.pop("model"), body.pop("messages")
    return client.chat.completions.create(model=model, messages=messages, stream=stream, extra_body=body)


def call_id(got_id: str, answer_id: str, fixture_answer_id: str) -> str:
    """A tool-call id made from the answer's id (Gemini's `call_<id>_<n>`) rewritten to the fixture's."""
    stem = lambda i: f"call_{i.removeprefix('chatcmpl-')}_"  # noqa: E731 - a one-line local helper
    return got_id.replace(stem(answer_id), stem(fixture_answer_id))


def accumulate(deltas: list[dict[str, Any]]) -> tuple[str, dict[int, dict[str, str]]]:
    """A stream's text and its tool calls by index (id and name from the first delta, arguments joined)."""
    text, calls = [], {}
    for delta in deltas:
        text.append(delta.get("content") or "")
        for call in delta.get("tool_calls") or []:
            acc = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
            fn = call.get("function") or {}
            acc["id"] = acc["id"] or call.get("id") or ""
            acc["name"] = acc["name"] or fn.get("name") or ""
            acc["arguments"] += fn.get("arguments") or ""
    return "".join(text), calls


def read_stream(stream: Any) -> list[Any]:
    with stream:
        return list(stream)


@pytest.mark.parametrize("case", params("chat"))
def test_chat_answer_is_the_fixtures(case: FixtureCase, client: openai.OpenAI, replay: ReplayProvider) -> None:
    resp = ask(client, case, stream=False)

    check_provider_request(case, replay, stream=False)
    want = case.openai_response()
    message = want["choices"][0]["message"]
    assert resp.object == "chat.completion"
    assert resp.model == case.group
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == message["content"]
    assert resp.choices[0].finish_reason == want["choices"][0]["finish_reason"]
    assert resp.usage is not None
    usage = (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens)
    assert usage == (want["usage"]["prompt_tokens"], want["usage"]["completion_tokens"], want["usage"]["total_tokens"])


@pytest.mark.parametrize("case", params("stream"))
def test_streamed_chat_deltas_join_to_the_fixtures_text(
    case: FixtureCase, client: openai.OpenAI, replay: ReplayProvider
) -> None:
    chunks = read_stream(ask(client, case, stream=True))

    check_provider_request(case, replay, stream=True)
    deltas = [c.choices[0].delta.model_dump(exclude_none=True) for c in chunks if c.choices]
    want_text, _ = accumulate(_deltas(case))
    got_text, calls = accumulate(deltas)
    assert got_text == want_text
    assert calls == {}
    assert len({c.id for c in chunks}) == 1, "every chunk of one answer carries the same id"
    assert {c.model for c in chunks} == {case.group}
    want_finish = [c["finish_reason"] for e in case.openai_stream() if isinstance(e, dict) for c in e["choices"]]
    got_finish = [c.finish_reason for chunk in chunks for c in chunk.choices]
    assert [f for f in got_finish if f] == [f for f in want_finish if f]


@pytest.mark.parametrize("case", params("tools"))
def test_tool_calls_are_parsed_by_the_sdk(case: FixtureCase, client: openai.OpenAI, replay: ReplayProvider) -> None:
    resp = ask(client, case, stream=False)

    check_provider_request(case, replay, stream=False)
    want = case.openai_response()
    want_calls = want["choices"][0]["message"]["tool_calls"]
    got_calls = resp.choices[0].message.tool_calls
    assert got_calls is not None, f"{case.label}: the SDK parsed no tool_calls"
    assert resp.choices[0].finish_reason == want["choices"][0]["finish_reason"]
    assert [(call_id(c.id, resp.id, want["id"]), c.type, c.function.name) for c in got_calls] == [
        (c["id"], c["type"], c["function"]["name"]) for c in want_calls
    ]
    assert [json.loads(c.function.arguments) for c in got_calls] == [
        json.loads(c["function"]["arguments"]) for c in want_calls
    ]
    assert resp.choices[0].message.content == want["choices"][0]["message"]["content"]


@pytest.mark.parametrize("case", params("streamed_tools"))
def test_streamed_tool_calls_add_up_in_the_sdk(
    case: FixtureCase, client: openai.OpenAI, replay: ReplayProvider
) -> None:
    chunks = read_stream(ask(client, case, stream=True))

    check_provider_request(case, replay, stream=True)
    got_text, got_calls = accumulate([c.choices[0].delta.model_dump(exclude_none=True) for c in chunks if c.choices])
    want_text, want_calls = accumulate(_deltas(case))
    fixture_id = next(e["id"] for e in case.openai_stream() if isinstance(e, dict))
    assert got_calls, f"{case.label}: no tool call deltas reached the SDK"
    for call in got_calls.values():
        call["id"] = call_id(call["id"], chunks[0].id, fixture_id)
    assert got_text == want_text
    assert {i: (c["id"], c["name"]) for i, c in got_calls.items()} == {
        i: (c["id"], c["name"]) for i, c in want_calls.items()
    }
    assert {i: json.loads(c["arguments"] or "null") for i, c in got_calls.items()} == {
        i: json.loads(c["arguments"] or "null") for i, c in want_calls.items()
    }
    want_finish = [c["finish_reason"] for e in case.openai_stream() if isinstance(e, dict) for c in e["choices"]]
    got_finish = [c.finish_reason for chunk in chunks for c in chunk.choices]
    assert [f for f in got_finish if f] == [f for f in want_finish if f]
