"""Streamed chat completions through the gateway: what the SDK's stream iterator delivers, and when."""

from __future__ import annotations

import json

import openai

from conftest import MOCK_TEXT, WEATHER_TOOL, only_chat_request
from fake_provider import FakeProvider


def collect(chunks) -> tuple[str, list[str], list]:
    """The streamed text, every finish_reason seen, and the chunks."""
    text, finishes, seen = [], [], []
    for chunk in chunks:
        seen.append(chunk)
        for choice in chunk.choices:
            if choice.delta.content:
                text.append(choice.delta.content)
            if choice.finish_reason is not None:
                finishes.append(choice.finish_reason)
    return "".join(text), finishes, seen


def test_stream_deltas_add_up_to_the_answer(client: openai.OpenAI, provider: FakeProvider) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "one two three four"}],
        stream=True,
    )
    with stream:
        text, finishes, chunks = collect(stream)

    assert text == "echo: one two three four"
    assert finishes == ["stop"]
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    sent = only_chat_request(provider)
    assert sent.body["stream"] is True
    assert sent.body["model"] == "gpt-4o-mini"


def test_stream_ends_with_done_event(client: openai.OpenAI, provider: FakeProvider) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "to the end"}], stream=True
    ) as resp:
        assert resp.headers.get("content-type", "").startswith("text/event-stream")
        data = [line[len("data:"):].strip() for line in resp.iter_lines() if line.startswith("data:")]

    assert data, "no events"
    assert data[-1] == "[DONE]"
    assert data.count("[DONE]") == 1
    for event in data[:-1]:
        assert json.loads(event)["object"] == "chat.completion.chunk"


def test_stream_usage_chunk_when_asked(client: openai.OpenAI, provider: FakeProvider) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "count me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    with stream:
        text, finishes, chunks = collect(stream)

    assert text == "echo: count me"
    assert finishes == ["stop"]
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1
    assert with_usage[0].usage.completion_tokens == 3
    assert with_usage[0].usage.prompt_tokens == 2


def test_stream_first_words_arrive_before_provider_finishes(
    client: openai.OpenAI, provider: FakeProvider
) -> None:
    hold = provider.hold_next_stream()
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "early bird words"}], stream=True
    )
    with stream:
        it = iter(stream)
        first_text = ""
        for chunk in it:
            if chunk.choices and chunk.choices[0].delta.content:
                first_text = chunk.choices[0].delta.content
                break
        # The provider is still holding the rest of its answer: the gateway forwarded the first word early.
        released_early = not hold.done.is_set()
        hold.release.set()
        rest, finishes, _ = collect(it)

    assert first_text == "echo:"
    assert released_early and hold.released_by_test, "first delta only arrived after the provider finished"
    assert first_text + rest == "echo: early bird words"
    assert finishes == ["stop"]


def test_streamed_tool_call_is_assembled(client: openai.OpenAI, provider: FakeProvider) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "weather in Oslo"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    ids, names, args, finishes = [], [], [], []
    with stream:
        for chunk in stream:
            for choice in chunk.choices:
                for tc in choice.delta.tool_calls or []:
                    assert tc.index == 0
                    if tc.id:
                        ids.append(tc.id)
                    if tc.function and tc.function.name:
                        names.append(tc.function.name)
                    if tc.function and tc.function.arguments:
                        args.append(tc.function.arguments)
                if choice.finish_reason is not None:
                    finishes.append(choice.finish_reason)

    assert ids == ["call_fake_1"]
    assert names == ["get_weather"]
    assert json.loads("".join(args)) == {"query": "weather in Oslo"}
    assert finishes == ["tool_calls"]


async def test_async_stream_deltas_add_up(aclient: openai.AsyncOpenAI, provider: FakeProvider) -> None:
    stream = await aclient.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "async words flow"}], stream=True
    )
    text, finishes = [], []
    async with stream:
        async for chunk in stream:
            for choice in chunk.choices:
                if choice.delta.content:
                    text.append(choice.delta.content)
                if choice.finish_reason is not None:
                    finishes.append(choice.finish_reason)

    assert "".join(text) == "echo: async words flow"
    assert finishes == ["stop"]


def test_mock_response_streams_without_provider(client: openai.OpenAI, provider: FakeProvider) -> None:
    stream = client.chat.completions.create(
        model="mocked", messages=[{"role": "user", "content": "stream a mock"}], stream=True
    )
    with stream:
        text, finishes, _ = collect(stream)

    assert text == MOCK_TEXT
    assert finishes == ["stop"]
    assert provider.requests == []
