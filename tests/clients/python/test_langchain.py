"""LangChain (`langchain-openai` `ChatOpenAI`) pointed at Pollux: invoke, stream, a tool loop
through `bind_tools` on a Gemini 3 model, and `with_structured_output` by each method.

LangChain rebuilds assistant messages from its own `AIMessage.tool_calls` (name, args, id), so
the `extra_content` carrying Gemini 3 thought signatures never comes back: the tool loop passes
only because Pollux remembers the signature it issued for each tool call id. The tests record
what LangChain really sent (an httpx event hook) to show that it is so.
"""

from __future__ import annotations

import asyncio
import json
from typing import Literal

import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from conftest import (LOOP_ANSWER, LOOP_CALLS, LOOP_TOOLS, POLLUX_URL, SEED_USAGE, SERVER_KEY,
                      TOOL_RUNS, add_up, assert_calls_sent_bare, assert_loop_signatures,
                      assert_seed_usage, assert_stream_usage, calls, function_responses,
                      gemini_error, push_tool_loop, response, run_tool_loop, signature, text)

FLASH = "gemini-2.5-flash"
GEMINI3 = "gemini-3-pro-preview"


# --- invoke and stream --------------------------------------------------------------------------


def test_invoke(chat, mock):
    mock.push({"kind": "json", "body": response([{"text": "Bonjour !"}], SEED_USAGE)})
    reply = chat().invoke([
        SystemMessage("Answer in French."),
        HumanMessage("Say hello."),
    ])
    assert isinstance(reply, AIMessage)
    assert reply.content == "Bonjour !"
    assert reply.tool_calls == []
    assert reply.response_metadata["finish_reason"] == "stop"
    assert reply.response_metadata["model_name"] == FLASH
    assert_seed_usage(reply.usage_metadata)

    (upstream,) = mock.requests()
    assert upstream["path"] == f"/v1beta/models/{FLASH}:generateContent"
    assert upstream["headers"]["x-goog-api-key"] == SERVER_KEY
    body = upstream["json"]
    assert body["systemInstruction"]["parts"] == [{"text": "Answer in French."}]
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Say hello."}]}]


def test_stream_chunks_concatenate(chat, mock):
    pieces = ["The quick ", "brown fox ", "jumps."]
    mock.push(text(*pieces))
    chunks = list(chat(stream_usage=True).stream("Tell me about the fox."))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    texts = [c.content for c in chunks if c.content]
    assert texts == pieces, "one LangChain chunk per Gemini event"
    whole = add_up(chunks)
    assert whole.content == "The quick brown fox jumps."
    assert whole.response_metadata["finish_reason"] == "stop"
    assert_stream_usage(whole.usage_metadata)

    (upstream,) = mock.requests()
    assert upstream["path"] == f"/v1beta/models/{FLASH}:streamGenerateContent"


def test_async_astream(mock):
    # The async path builds its own AsyncOpenAI client.
    mock.push(text("Un, ", "deux, ", "trois."))

    async def main():
        llm = ChatOpenAI(model=FLASH, base_url=POLLUX_URL, api_key="test-key", max_retries=0,
                         timeout=20, stream_usage=True)
        return [c async for c in llm.astream("Count to three in French.")]

    chunks = asyncio.run(main())
    assert "".join(c.content for c in chunks) == "Un, deux, trois."
    assert sum((c.usage_metadata or {}).get("total_tokens", 0) for c in chunks) > 0


def test_rate_limit_raises_openai_error(chat, mock):
    mock.push(gemini_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for this model."))
    with pytest.raises(openai.RateLimitError) as info:
        chat().invoke("Hello?")
    assert info.value.status_code == 429


# --- bind_tools and a Gemini 3 tool loop ---------------------------------------------------------

@pytest.mark.parametrize("streamed", [False, True], ids=["invoke", "stream"])
def test_gemini3_tool_loop_keeps_signatures(chat, mock, sent, streamed):
    sig1, sig2 = signature("weather"), signature("time")
    push_tool_loop(mock, sig1, sig2)
    llm = chat(GEMINI3).bind_tools(list(LOOP_TOOLS.values()))
    turns, final = run_tool_loop(llm, streamed)
    for ai, call in turns:
        assert ai.response_metadata["finish_reason"] == "tool_calls"
        assert call["id"]
    assert final.content == LOOP_ANSWER
    assert final.tool_calls == []
    assert TOOL_RUNS == LOOP_CALLS

    # LangChain sent the assistant tool calls back without extra_content ...
    assert len(sent.bodies) == 3
    assert_calls_sent_bare(sent.bodies[1:])
    # ... yet Gemini received the original signatures, not the skip value.
    bodies = assert_loop_signatures(mock, sig1, sig2)
    assert [(r["name"], r["response"]) for r in function_responses(bodies[2])] == [
        ("get_weather", {"city": "Paris", "temperature_c": 21, "sky": "sunny"}),
        ("get_time", {"city": "Paris", "time": "14:05"}),
    ]


# --- with_structured_output ----------------------------------------------------------------------


class Weather(BaseModel):
    """The weather in a city."""

    city: str
    temperature_c: int
    sky: Literal["sunny", "cloudy", "rainy"]


PARIS = {"city": "Paris", "temperature_c": 21, "sky": "sunny"}


@pytest.mark.parametrize("method", [None, "json_schema", "function_calling", "json_mode"])
def test_with_structured_output(chat, mock, sent, method):
    kwargs = {} if method is None else {"method": method}
    if method == "function_calling":
        mock.push(calls(("Weather", PARIS)))
    else:
        raw = json.dumps(PARIS)
        mock.push(text(raw[:15], raw[15:]))
    structured = chat().with_structured_output(Weather, **kwargs)
    result = structured.invoke("Describe the weather in Paris as JSON: city, temperature_c, sky.")
    assert result == Weather(**PARIS)

    (body,) = mock.bodies()
    config = body.get("generationConfig", {})
    if method == "function_calling":
        (declaration,) = body["tools"][0]["functionDeclarations"]
        assert declaration["name"] == "Weather"
        assert set(declaration["parametersJsonSchema"]["properties"]) == {
            "city", "temperature_c", "sky"}
        assert body["toolConfig"]["functionCallingConfig"] == {
            "mode": "ANY", "allowedFunctionNames": ["Weather"]}
        assert "responseMimeType" not in config
    elif method == "json_mode":
        assert sent.bodies[0]["response_format"] == {"type": "json_object"}
        assert config["responseMimeType"] == "application/json"
    else:
        # ChatOpenAI's default method is json_schema.
        assert sent.bodies[0]["response_format"]["type"] == "json_schema"
        assert config["responseMimeType"] == "application/json"
        schema = config["responseJsonSchema"]
        assert set(schema["properties"]) == {"city", "temperature_c", "sky"}
        assert schema["properties"]["sky"]["enum"] == ["sunny", "cloudy", "rainy"]
        assert "tools" not in body


def test_structured_output_include_raw(chat, mock):
    mock.push(calls(("Weather", PARIS)))
    structured = chat().with_structured_output(Weather, method="function_calling", include_raw=True)
    out = structured.invoke("Weather in Paris?")
    assert out["parsed"] == Weather(**PARIS)
    assert out["parsing_error"] is None
    assert isinstance(out["raw"], AIMessage)
    assert [(c["name"], c["args"]) for c in out["raw"].tool_calls] == [("Weather", PARIS)]
