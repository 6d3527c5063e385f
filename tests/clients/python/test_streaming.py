"""Streamed chat completions: the SDK's `stream()` helper, plain `stream=True` iteration with
usage, the async client, and failures before and after the 200."""

from __future__ import annotations

import asyncio

import openai
import pytest

from conftest import SEED_USAGE, assert_upstream_auth, model_path, text


@pytest.fixture
def client(either_client):
    """Each test here runs against the Gemini API and against Vertex AI (run.sh's two Pollux)."""
    return either_client

MESSAGES = [{"role": "user", "content": "Say hello."}]


def event(parts, usage, finish=None):
    candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"event": {"candidates": [candidate], "usageMetadata": usage}}


def seed_stream():
    """Three events, thoughts first; the last carries the seed document's usage."""
    early = {"promptTokenCount": 5, "totalTokenCount": 5}
    return {
        "kind": "stream",
        "steps": [
            event([{"text": "Planning a greeting.", "thought": True}], early),
            event([{"text": "Hel"}], early),
            event([{"text": "lo wörld 🌍"}], SEED_USAGE, finish="STOP"),
        ],
    }


def test_stream_helper_and_final_completion(client, mock):
    mock.push(text("Hel", "lo, ", "wörld 🌍"))
    deltas = []
    with client.chat.completions.stream(model="gemini-2.5-flash", messages=MESSAGES) as stream:
        for ev in stream:
            if ev.type == "content.delta":
                deltas.append(ev.delta)
        final = stream.get_final_completion()
    assert "".join(deltas) == "Hello, wörld 🌍"
    assert final.choices[0].message.content == "Hello, wörld 🌍"
    assert final.choices[0].message.role == "assistant"
    assert final.choices[0].finish_reason == "stop"
    assert final.model == "gemini-2.5-flash"
    (sent,) = mock.requests()
    assert sent["path"] == model_path(client, "gemini-2.5-flash", "streamGenerateContent")
    assert_upstream_auth(client, sent)
    assert sent["query"] == "alt=sse"


def test_stream_true_with_include_usage(client, mock):
    mock.push(seed_stream())
    stream = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks, "no chunk arrived"
    assert len({c.id for c in chunks}) == 1, "one id for the whole stream"
    assert all(c.object == "chat.completion.chunk" for c in chunks)

    # The usage chunk is last and has no choices; every other chunk has no usage.
    *body, last = chunks
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (
        5, 1022, 1027)
    assert last.usage.completion_tokens_details.reasoning_tokens == 869
    assert all(c.usage is None for c in body)

    roles = [c.choices[0].delta.role for c in body if c.choices[0].delta.role]
    assert roles == ["assistant"], "role only in the first chunk"
    content = "".join(c.choices[0].delta.content or "" for c in body)
    assert content == "Hello wörld 🌍"
    finishes = [c.choices[0].finish_reason for c in body if c.choices[0].finish_reason]
    assert finishes == ["stop"]


def test_stream_without_include_usage_has_no_usage_chunk(client, mock):
    mock.push(text("a", "b"))
    chunks = list(client.chat.completions.create(
        model="gemini-2.5-flash", messages=MESSAGES, stream=True))
    assert all(c.usage is None for c in chunks)
    assert all(len(c.choices) == 1 for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "ab"


def test_stream_helper_usage_in_final_completion(client, mock):
    mock.push(seed_stream())
    with client.chat.completions.stream(
        model="gemini-2.5-flash",
        messages=MESSAGES,
        stream_options={"include_usage": True},
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello wörld 🌍"
    assert final.usage.total_tokens == 1027
    assert final.usage.completion_tokens == 1022


def test_async_stream(aclient, mock):
    mock.push(text("one ", "two ", "three"))

    async def main():
        async with aclient as c:
            pieces = []
            stream = await c.chat.completions.create(
                model="gemini-2.5-flash", messages=MESSAGES, stream=True,
                stream_options={"include_usage": True})
            usage = None
            async for chunk in stream:
                if chunk.choices:
                    pieces.append(chunk.choices[0].delta.content or "")
                if chunk.usage:
                    usage = chunk.usage
            async with c.chat.completions.stream(
                    model="gemini-2.5-flash", messages=MESSAGES) as s:
                final = await s.get_final_completion()
            return "".join(pieces), usage, final

    mock_second = text("async ", "helper")
    mock.push(mock_second)
    content, usage, final = asyncio.run(main())
    assert content == "one two three"
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert final.choices[0].message.content == "async helper"
    assert final.choices[0].finish_reason == "stop"


def test_stream_error_before_first_event_is_an_http_error(client, mock):
    mock.push({"kind": "json", "status": 503, "body": {"error": {
        "code": 503, "message": "The model is overloaded. Please try again later.",
        "status": "UNAVAILABLE"}}})
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, stream=True)
    assert info.value.status_code == 503  # Gemini's status, kept
    assert "overloaded" in info.value.message


def test_stream_failure_after_200_raises_in_band_error(client, mock):
    mock.push({
        "kind": "answer",
        "chunks": [[{"text": "Partial "}], [{"text": "answer"}]],
        "fail": {"error": {"code": 500, "message": "An internal error has occurred.",
                           "status": "INTERNAL"}},
    })
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(
                model="gemini-2.5-flash", messages=MESSAGES, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Partial answer"
    assert "internal error" in str(info.value).lower()
