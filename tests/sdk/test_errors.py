"""Errors through the gateway: each reaches the SDK as the exception class a user catches."""

from __future__ import annotations

import openai
import pytest

from conftest import CLIENT_TIMEOUT, Gateway
from fake_provider import FakeProvider

HELLO = [{"role": "user", "content": "hello"}]


def test_wrong_key_is_authentication_error(gateway: Gateway, provider: FakeProvider) -> None:
    with openai.OpenAI(
        base_url=gateway.base_url,
        api_key="sk-not-the-master-key",
        max_retries=0,
        timeout=CLIENT_TIMEOUT,
        http_client=openai.DefaultHttpxClient(trust_env=False, timeout=CLIENT_TIMEOUT),
    ) as wrong:
        with pytest.raises(openai.AuthenticationError) as err:
            wrong.chat.completions.create(model="gpt-4o-mini", messages=HELLO)

    assert err.value.status_code == 401
    assert provider.requests == []


def test_unknown_model_error_names_the_model(client: openai.OpenAI, provider: FakeProvider) -> None:
    with pytest.raises((openai.BadRequestError, openai.NotFoundError)) as err:
        client.chat.completions.create(model="no-such-model-xyz", messages=HELLO)

    assert "no-such-model-xyz" in err.value.message
    assert provider.requests == []


def test_provider_429_is_rate_limit_error(client: openai.OpenAI, provider: FakeProvider) -> None:
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="rate-limited", messages=HELLO)

    assert err.value.status_code == 429
    sent = [r for r in provider.requests if r.path == "/v1/chat/completions"]
    assert sent and all(r.body["model"] == "fail-429" for r in sent)


def test_provider_400_is_bad_request_error(client: openai.OpenAI, provider: FakeProvider) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="bad-request", messages=HELLO)

    assert err.value.status_code == 400
    # A 400 is the caller's fault: retrying it elsewhere cannot help, so the provider sees it once.
    assert len(provider.requests) == 1


def test_provider_404_is_not_found_error(client: openai.OpenAI, provider: FakeProvider) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="missing-upstream", messages=HELLO)

    assert err.value.status_code == 404


async def test_async_provider_429_is_rate_limit_error(
    aclient: openai.AsyncOpenAI, provider: FakeProvider
) -> None:
    with pytest.raises(openai.RateLimitError):
        await aclient.chat.completions.create(model="rate-limited", messages=HELLO)


def test_streamed_request_to_failing_provider_raises_before_any_chunk(
    client: openai.OpenAI, provider: FakeProvider
) -> None:
    with pytest.raises(openai.RateLimitError):
        stream = client.chat.completions.create(model="rate-limited", messages=HELLO, stream=True)
        for _ in stream:
            pass
