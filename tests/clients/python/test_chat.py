"""Plain (non-streamed) chat completions through the sync and async clients."""

from __future__ import annotations

import asyncio

import openai

from conftest import SEED_USAGE, SERVER_KEY, assert_upstream_auth, model_path, response, text


def test_sync_plain_chat_content_finish_and_usage(either_client, mock):
    client = either_client
    mock.push({"kind": "json", "status": 200, "body": response(
        [{"text": "**Thinking**", "thought": True}, {"text": "Answer."}], SEED_USAGE)})
    completion = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Explain quantum mechanics."},
        ],
        temperature=0.7,
        max_tokens=256,
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "gemini-2.5-flash"
    choice = completion.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == "Answer."
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (5, 1022, 1027)
    assert usage.completion_tokens_details.reasoning_tokens == 869

    (sent,) = mock.requests()
    assert sent["path"] == model_path(client, "gemini-2.5-flash", "generateContent")
    assert_upstream_auth(client, sent)
    assert sent["json"]["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert sent["json"]["contents"] == [
        {"role": "user", "parts": [{"text": "Explain quantum mechanics."}]}
    ]
    config = sent["json"]["generationConfig"]
    assert (config["temperature"], config["maxOutputTokens"]) == (0.7, 256)


def test_async_plain_chat(aclient, mock):
    mock.push(text("Bonjour !"))

    async def main():
        async with aclient as c:
            return await c.chat.completions.create(
                model="gemini-2.5-flash",
                messages=[{"role": "user", "content": "Say hello in French."}],
            )

    completion = asyncio.run(main())
    assert completion.choices[0].message.content == "Bonjour !"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_async_concurrent_requests(aclient, mock):
    # No scenarios: the mock echoes the last user text, so each answer names its request.
    async def main():
        async with aclient as c:
            return await asyncio.gather(*[
                c.chat.completions.create(
                    model="gemini-2.5-flash",
                    messages=[{"role": "user", "content": f"request {i}"}],
                )
                for i in range(8)
            ])

    completions = asyncio.run(main())
    contents = [c.choices[0].message.content for c in completions]
    assert contents == [f"mock-gemini says: request {i}" for i in range(8)]
    assert len(mock.requests()) == 8


def test_length_finish_reason(client, mock):
    mock.push(text("Once upon a", finish_reason="MAX_TOKENS"))
    completion = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Tell a story."}],
        max_completion_tokens=3,
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == "Once upon a"
    assert mock.bodies()[0]["generationConfig"]["maxOutputTokens"] == 3


def test_models_prefix_and_multi_turn_history(client, mock):
    mock.push(text("Four."))
    completion = client.chat.completions.create(
        model="models/gemini-2.5-flash",
        messages=[
            {"role": "user", "content": "What is 1+1?"},
            {"role": "assistant", "content": "Two."},
            {"role": "user", "content": "And 2+2?"},
        ],
    )
    assert completion.choices[0].message.content == "Four."
    (sent,) = mock.requests()
    assert sent["model"] == "gemini-2.5-flash"
    assert [c["role"] for c in sent["json"]["contents"]] == ["user", "model", "user"]


def test_with_raw_response_headers(client, mock):
    mock.push(text("raw"))
    raw = client.chat.completions.with_raw_response.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "hi"}],
    )
    assert raw.http_response.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    completion = raw.parse()
    assert completion.choices[0].message.content == "raw"


def test_bearer_key_is_forwarded_when_server_has_none(nokey_url, mock):
    mock.push(text("forwarded"))
    with openai.OpenAI(base_url=nokey_url, api_key="client-gemini-key", max_retries=0) as c:
        completion = c.chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
        )
    assert completion.choices[0].message.content == "forwarded"
    (sent,) = mock.requests()
    assert sent["headers"]["x-goog-api-key"] == "client-gemini-key"
    assert "authorization" not in sent["headers"]
    assert "key=" not in sent["query"]


def test_server_key_wins_over_client_bearer(client, mock):
    mock.push(text("ok"))
    client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
    )
    (sent,) = mock.requests()
    assert sent["headers"]["x-goog-api-key"] == SERVER_KEY
    assert "sk-ignored" not in str(sent["headers"])
