"""Virtual keys as an application team meets them: an admin makes keys, teams, users and end-users with
LiteLLM's admin API (over the SDK's own HTTP client, `openai.DefaultHttpxClient`, since the SDK has no
admin methods), then the
official OpenAI SDK calls the gateway with those keys: allowed and refused models, budgets, blocked and
deleted keys, and the cost header of every answer.

The models are LiteLLM `mock_response` deployments priced at 0.001 USD per token; the mock usage is
10 prompt + 20 completion tokens, so every call costs 0.03 USD.

Run: `.venv/bin/python -m pytest -q tests/sdk/test_keys.py` from the repository root.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from conftest import MASTER_KEY, START_ATTEMPTS, Gateway, _start_gateway

CALL_COST = 0.03

CONFIG = f"""model_list:
  - model_name: priced
    litellm_params: {{model: openai/gpt-4o-mini, mock_response: "hello from tollgate", input_cost_per_token: 0.001, output_cost_per_token: 0.001}}
  - model_name: premium
    litellm_params: {{model: openai/gpt-4o, mock_response: "premium answer", input_cost_per_token: 0.001, output_cost_per_token: 0.001}}
general_settings:
  master_key: {MASTER_KEY}
"""


@pytest.fixture(scope="module")
def keys_gateway(gateway_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway on the embedded store (SQLite under its state dir)."""
    workdir = tmp_path_factory.mktemp("keys")
    config = workdir / "config.yaml"
    config.write_text(CONFIG)
    gw = None
    for attempt in range(START_ATTEMPTS):
        gw = _start_gateway(gateway_binary, config, workdir, attempt)
        if gw.proc.poll() is None:
            break
    assert gw is not None and gw.proc.poll() is None, f"gateway did not start:\n{gw.stderr() if gw else ''}"
    yield gw
    gw.stop()


@pytest.fixture
def admin(keys_gateway: Gateway) -> Iterator[Any]:
    """An httpx client with the master key on the gateway's root (the admin API has no /v1 prefix)."""
    base = keys_gateway.base_url.removesuffix("/v1")
    with openai.DefaultHttpxClient(
        base_url=base, headers={"Authorization": f"Bearer {MASTER_KEY}"}, trust_env=False, timeout=15.0
    ) as c:
        yield c


# What one call to `priced` costs: (10 + 20) tokens at 0.001 USD.
CALL_COST = 0.03


def sdk(gw: Gateway, key: str) -> openai.OpenAI:
    """The official SDK with a virtual key, no retries."""
    return openai.OpenAI(
        base_url=gw.base_url,
        api_key=key,
        max_retries=0,
        timeout=15.0,
        http_client=openai.DefaultHttpxClient(trust_env=False),
    )


def ok(resp: Any) -> dict:
    assert resp.status_code == 200, f"{resp.request.url} answered {resp.status_code}: {resp.text}"
    return resp.json()


def test_admin_round_trip_then_the_sdk_uses_the_key(keys_gateway: Gateway, admin: Any) -> None:
    made = ok(admin.post("/key/generate", json={"models": ["priced"], "key_alias": "sdk-key", "max_budget": 10}))
    key = made["key"]
    assert key.startswith("sk-")
    assert made["models"] == ["priced"]
    assert made["max_budget"] == 10

    info = ok(admin.get("/key/info", params={"key": key}))
    assert info["info"]["key_alias"] == "sdk-key"
    listed = ok(admin.get("/key/list"))
    assert listed["total_count"] >= 1

    client = sdk(keys_gateway, key)
    raw = client.chat.completions.with_raw_response.create(
        model="priced", messages=[{"role": "user", "content": "hi"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "hello from tollgate"
    assert completion.model == "priced"
    assert float(raw.headers["x-litellm-response-cost"]) == pytest.approx(CALL_COST)

    chunks = list(
        client.chat.completions.create(
            model="priced", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello from tollgate"
    assert all(c.usage is None for c in chunks), "usage chunk sent although the client did not ask"

    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.chat.completions.create(model="premium", messages=[{"role": "user", "content": "hi"}])
    assert denied.value.status_code == 403

    ok(admin.post("/key/update", json={"key": key, "models": ["priced", "premium"]}))
    answer = client.chat.completions.create(model="premium", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "premium answer"

    ok(admin.post("/key/block", json={"key": key}))
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="priced", messages=[{"role": "user", "content": "hi"}])
    ok(admin.post("/key/unblock", json={"key": key}))
    client.chat.completions.create(model="priced", messages=[{"role": "user", "content": "hi"}])

    ok(admin.post("/key/delete", json={"keys": [key]}))
    with pytest.raises(openai.AuthenticationError) as gone:
        client.chat.completions.create(model="priced", messages=[{"role": "user", "content": "hi"}])
    assert gone.value.status_code == 401


def test_budgets_of_key_team_and_end_user_refuse_with_422(keys_gateway: Gateway, admin: Any) -> None:
    # LiteLLM's answer: 422 budget_exceeded, which the SDK raises at once (it retries 429s on its own).
    two_calls = ok(admin.post("/key/generate", json={"max_budget": 2 * CALL_COST}))["key"]
    # The SDK's default retries: a 422 is not retried.
    client = sdk(keys_gateway, two_calls).with_options(max_retries=2)
    served = 0
    with pytest.raises(openai.UnprocessableEntityError) as spent:
        for _ in range(5):
            client.chat.completions.create(model="priced", messages=[{"role": "user", "content": "hi"}])
            served += 1
    assert 1 <= served <= 3, served
    error = spent.value.body
    assert spent.value.status_code == 422
    assert error["type"] == "budget_exceeded", error
    assert error["message"].startswith("Budget has been exceeded! Key="), error

    team = ok(admin.post("/team/new", json={"team_alias": "sdk-team", "max_budget": 0}))
    team_id = team["team_id"]
    assert ok(admin.get("/team/info", params={"team_id": team_id}))["team_id"] == team_id
    member = ok(admin.post("/key/generate", json={"team_id": team_id}))["key"]
    with pytest.raises(openai.UnprocessableEntityError) as team_spent:
        sdk(keys_gateway, member).chat.completions.create(
            model="priced", messages=[{"role": "user", "content": "hi"}]
        )
    assert team_spent.value.body["message"].startswith(f"Budget has been exceeded! Team={team_id}")

    ok(admin.post("/customer/new", json={"user_id": "sdk-end-user", "max_budget": 0}))
    free = ok(admin.post("/key/generate", json={}))["key"]
    with pytest.raises(openai.UnprocessableEntityError) as end_user_spent:
        sdk(keys_gateway, free).chat.completions.create(
            model="priced", messages=[{"role": "user", "content": "hi"}], user="sdk-end-user"
        )
    assert end_user_spent.value.body["message"].startswith("ExceededBudget: End User=sdk-end-user")
    # Another end-user of the same key is not affected.
    sdk(keys_gateway, free).chat.completions.create(
        model="priced", messages=[{"role": "user", "content": "hi"}], user="someone-else"
    )

    user = ok(admin.post("/user/new", json={"user_id": "sdk-user", "max_budget": 5}))
    assert user["user_id"] == "sdk-user"
    assert ok(admin.get("/user/info", params={"user_id": "sdk-user"}))["user_id"] == "sdk-user"


def test_a_key_cannot_administer(keys_gateway: Gateway, admin: Any) -> None:
    key = ok(admin.post("/key/generate", json={}))["key"]
    base = keys_gateway.base_url.removesuffix("/v1")
    with openai.DefaultHttpxClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, trust_env=False, timeout=15.0
    ) as c:
        own = c.get("/key/info")
        assert own.status_code == 200, own.text
        refused = c.post("/key/generate", json={})
        assert refused.status_code in (401, 403), refused.text
        assert set(refused.json()["error"]) >= {"message", "type", "param", "code"}
