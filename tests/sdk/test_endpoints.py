"""The other OpenAI endpoints through the gateway: text completions, embeddings and the model list."""

from __future__ import annotations

import openai

from conftest import GROUPS
from fake_provider import FakeProvider, embedding_for


def test_text_completion_echoes_prompt(client: openai.OpenAI, provider: FakeProvider) -> None:
    resp = client.completions.create(model="gpt-4o-mini", prompt="complete me", max_tokens=8)

    assert resp.object == "text_completion"
    assert resp.choices[0].text == "echo: complete me"
    assert resp.choices[0].finish_reason == "stop"
    sent = [r for r in provider.requests if r.path == "/v1/completions"]
    assert len(sent) == 1
    assert sent[0].body["model"] == "gpt-4o-mini"
    assert sent[0].body["prompt"] == "complete me"


def test_embeddings_as_floats(client: openai.OpenAI, provider: FakeProvider) -> None:
    resp = client.embeddings.create(
        model="text-embedding-3-small", input=["first", "second one"], encoding_format="float"
    )

    assert [d.index for d in resp.data] == [0, 1]
    assert resp.data[0].embedding == embedding_for("first", 0)
    assert resp.data[1].embedding == embedding_for("second one", 1)
    sent = [r for r in provider.requests if r.path == "/v1/embeddings"]
    assert len(sent) == 1
    assert sent[0].body["model"] == "text-embedding-3-small"
    assert sent[0].body["encoding_format"] == "float"


def test_embeddings_sdk_default_base64_decodes(client: openai.OpenAI, provider: FakeProvider) -> None:
    # The SDK asks for base64 unless told otherwise, and decodes it back to floats.
    resp = client.embeddings.create(model="text-embedding-3-small", input="just one")

    assert len(resp.data) == 1
    assert resp.data[0].embedding == embedding_for("just one", 0)
    sent = [r for r in provider.requests if r.path == "/v1/embeddings"]
    assert len(sent) == 1
    assert sent[0].body["encoding_format"] == "base64"


def test_model_list_names_every_group(client: openai.OpenAI, provider: FakeProvider) -> None:
    models = client.models.list()

    ids = [m.id for m in models]
    assert set(GROUPS) <= set(ids), f"missing {set(GROUPS) - set(ids)} from {ids}"
    assert all(m.object == "model" for m in models)
    assert provider.requests == []
