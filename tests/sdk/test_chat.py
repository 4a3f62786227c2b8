"""Non-streamed chat completions through the gateway, as the official OpenAI SDK sees them."""

from __future__ import annotations

import json

import openai

from conftest import MASTER_KEY, MOCK_TEXT, PROVIDER_KEY, WEATHER_TOOL, only_chat_request
from fake_provider import FakeProvider


def test_chat_answer_comes_back_from_provider(client: openai.OpenAI, provider: FakeProvider) -> None:
    resp = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello there"},
        ],
    )

    assert resp.choices[0].message.content == "echo: hello there"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.object == "chat.completion"
    # The provider's usage reaches the client as it was counted.
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (2, 3, 5)
    sent = only_chat_request(provider)
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.body["messages"][-1] == {"role": "user", "content": "hello there"}


def test_provider_gets_provider_key_never_master_key(client: openai.OpenAI, provider: FakeProvider) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "keys?"}])

    sent = only_chat_request(provider)
    assert sent.headers.get("authorization") == f"Bearer {PROVIDER_KEY}"
    leaked = {k: v for k, v in sent.headers.items() if MASTER_KEY in v}
    assert leaked == {}, f"master key reached the provider in headers {leaked}"
    assert MASTER_KEY not in json.dumps(sent.body)


async def test_async_chat_answer_comes_back(aclient: openai.AsyncOpenAI, provider: FakeProvider) -> None:
    resp = await aclient.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "async hello"}]
    )

    assert resp.choices[0].message.content == "echo: async hello"
    assert only_chat_request(provider).body["model"] == "gpt-4o-mini"


def test_tool_call_round_trip(client: openai.OpenAI, provider: FakeProvider) -> None:
    messages: list[dict] = [{"role": "user", "content": "weather in Paris"}]

    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])

    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.id == "call_fake_1"
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"query": "weather in Paris"}
    assert only_chat_request(provider).body["tools"] == [WEATHER_TOOL]

    provider.reset()
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"})
    second = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])

    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "tool said: sunny, 21C"
    history = only_chat_request(provider).body["messages"]
    assert history[1]["tool_calls"][0]["id"] == "call_fake_1"
    assert history[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert history[2] == {"role": "tool", "tool_call_id": "call_fake_1", "content": "sunny, 21C"}


def test_mock_response_answers_without_provider(client: openai.OpenAI, provider: FakeProvider) -> None:
    resp = client.chat.completions.create(model="mocked", messages=[{"role": "user", "content": "anyone?"}])

    assert resp.choices[0].message.content == MOCK_TEXT
    assert resp.choices[0].finish_reason == "stop"
    assert provider.requests == []


def test_raw_response_carries_litellm_headers(client: openai.OpenAI, provider: FakeProvider) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "headers please"}]
    )

    assert raw.status_code == 200
    assert raw.headers.get("x-litellm-call-id")
    assert raw.headers.get("x-litellm-model-id")
    assert raw.headers.get("x-litellm-model-group") == "gpt-4o-mini"
    overhead = raw.headers.get("x-litellm-overhead-duration-ms")
    assert overhead is not None, f"no x-litellm-overhead-duration-ms in {dict(raw.headers)}"
    assert float(overhead) >= 0.0
    assert raw.parse().choices[0].message.content == "echo: headers please"


def test_each_call_gets_its_own_call_id(client: openai.OpenAI, provider: FakeProvider) -> None:
    ids = [
        client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"call {i}"}]
        ).headers.get("x-litellm-call-id")
        for i in range(2)
    ]

    assert all(ids), ids
    assert ids[0] != ids[1]
