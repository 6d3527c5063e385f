"""The routes around chat that SDKs call: `models.list()` / `models.retrieve()` and
`embeddings.create()` (whose default `encoding_format` in the Python SDK is base64)."""

from __future__ import annotations

import math

import openai
import pytest


def test_models_list_and_retrieve(client, mock):
    ids = [m.id for m in client.models.list()]
    assert "gemini-2.5-flash" in ids and "gemini-embedding-001" in ids
    assert all(not i.startswith("models/") for i in ids)
    assert "gemini-2.5-flash-preview-tts" not in ids, "models that neither chat nor embed are hidden"
    model = client.models.retrieve("gemini-2.5-pro")
    assert (model.id, model.object, model.owned_by) == ("gemini-2.5-pro", "model", "google")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gemini-0-nonexistent")


def test_embeddings_single_and_batch(client, mock):
    one = client.embeddings.create(model="gemini-embedding-001", input="hello world")
    assert one.object == "list"
    (item,) = one.data
    assert item.index == 0
    assert len(item.embedding) > 8
    assert all(isinstance(x, float) for x in item.embedding)

    texts = ["hello world", "goodbye", "hello world"]
    batch = client.embeddings.create(model="gemini-embedding-001", input=texts, dimensions=16)
    assert [d.index for d in batch.data] == [0, 1, 2]
    assert all(len(d.embedding) == 16 for d in batch.data)
    # The mock's vectors are deterministic per text: order is kept.
    assert batch.data[0].embedding == batch.data[2].embedding != batch.data[1].embedding
    norm = math.sqrt(sum(x * x for x in batch.data[1].embedding))
    assert abs(norm - 1.0) < 1e-3

    sent = [r for r in mock.requests() if r["rpc"] in ("embedContent", "batchEmbedContents")]
    assert [r["rpc"] for r in sent] == ["embedContent", "batchEmbedContents"]
    assert sent[1]["json"]["requests"][0]["outputDimensionality"] == 16


def test_embeddings_float_encoding(client, mock):
    out = client.embeddings.create(
        model="gemini-embedding-001", input="x", encoding_format="float", dimensions=8)
    assert len(out.data[0].embedding) == 8
