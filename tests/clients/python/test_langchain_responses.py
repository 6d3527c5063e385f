"""LangChain (`langchain-openai` `ChatOpenAI(use_responses_api=True)`) on Pollux's Responses
API: invoke, stream, and a tool loop through `bind_tools` on a Gemini 3 model.

LangChain rebuilds each request's `input` from its own messages. With the default `store`
(unset) it replays reasoning items by id without `encrypted_content`, so Pollux restores the
thought signatures from its cache by `call_id`; with `store=False` and
`include=["reasoning.encrypted_content"]` it replays the reasoning items whole and the
signatures travel in them. The tests record what LangChain really sent (an httpx event hook).
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from conftest import (LOOP_ANSWER, LOOP_CALLS, LOOP_TOOLS, POLLUX_URL, SEED_USAGE, TOOL_RUNS,
                      add_up, assert_loop_signatures, assert_seed_usage, assert_stream_usage,
                      function_responses, push_tool_loop, response, run_tool_loop, signature, text)

FLASH = "gemini-2.5-flash"
GEMINI3 = "gemini-3-pro-preview"
# Every `chat` fixture model of this module speaks the Responses API.
CHAT_DEFAULTS = {"use_responses_api": True}


def test_invoke(chat, mock, sent):
    mock.push({"kind": "json", "body": response([{"text": "Bonjour !"}], SEED_USAGE)})
    reply = chat().invoke([SystemMessage("Answer in French."), HumanMessage("Say hello.")])
    assert isinstance(reply, AIMessage)
    assert reply.text == "Bonjour !"
    assert reply.tool_calls == []
    assert reply.response_metadata["id"].startswith("resp_")
    assert reply.response_metadata["status"] == "completed"
    assert reply.response_metadata["model_name"] == FLASH
    assert_seed_usage(reply.usage_metadata)

    assert sent.paths == ["/v1/responses"]
    assert "input" in sent.bodies[0] and "messages" not in sent.bodies[0]
    (upstream,) = mock.bodies()
    assert upstream["systemInstruction"]["parts"] == [{"text": "Answer in French."}]
    assert upstream["contents"] == [{"role": "user", "parts": [{"text": "Say hello."}]}]


def test_stream_chunks_concatenate(chat, mock, sent):
    pieces = ["The quick ", "brown fox ", "jumps."]
    mock.push(text(*pieces))
    chunks = list(chat().stream("Tell me about the fox."))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    texts = [c.text for c in chunks if c.text]
    assert texts == pieces, "one LangChain chunk per Gemini event"
    whole = add_up(chunks)
    assert whole.text == "The quick brown fox jumps."
    assert_stream_usage(whole.usage_metadata)
    assert sent.bodies[0]["stream"] is True
    (upstream,) = mock.requests()
    assert upstream["path"] == f"/v1beta/models/{FLASH}:streamGenerateContent"


def test_async_astream(mock):
    mock.push(text("Un, ", "deux, ", "trois."))

    async def main():
        # An httpx client of this event loop: LangChain's default async client is shared
        # per settings, across the event loops of earlier tests.
        async with httpx.AsyncClient(timeout=20) as http:
            llm = ChatOpenAI(model=FLASH, base_url=POLLUX_URL, api_key="test-key", max_retries=0,
                             timeout=20, use_responses_api=True, http_async_client=http)
            return [c async for c in llm.astream("Count to three in French.")]

    chunks = asyncio.run(main())
    assert "".join(c.text for c in chunks) == "Un, deux, trois."
    assert sum((c.usage_metadata or {}).get("total_tokens", 0) for c in chunks) > 0


@pytest.mark.parametrize("streamed,stateless", [(False, False), (True, False), (True, True)],
                         ids=["invoke", "stream", "stream-store-false-encrypted"])
def test_gemini3_bound_tool_loop(chat, mock, sent, streamed, stateless):
    sig1, sig2 = signature(f"lc-weather-{streamed}-{stateless}"), signature(f"lc-time-{streamed}-{stateless}")
    push_tool_loop(mock, sig1, sig2)
    kwargs = {"store": False, "include": ["reasoning.encrypted_content"]} if stateless else {}
    llm = chat(GEMINI3, **kwargs).bind_tools(list(LOOP_TOOLS.values()))
    turns, final = run_tool_loop(llm, streamed)
    for _, call in turns:
        assert call["id"]
    assert final.text == LOOP_ANSWER
    assert final.tool_calls == []
    assert TOOL_RUNS == LOOP_CALLS

    assert len(sent.bodies) == 3
    assert all("previous_response_id" not in b for b in sent.bodies)
    replayed = [i.get("type") for i in sent.bodies[2]["input"]]
    assert replayed.count("function_call") == 2 and replayed.count("function_call_output") == 2
    if stateless:
        reasoning = [i for i in sent.bodies[2]["input"] if i.get("type") == "reasoning"]
        assert len(reasoning) == 2 and all(r.get("encrypted_content") for r in reasoning)

    bodies = assert_loop_signatures(mock, sig1, sig2)
    assert [(r["name"], r["response"]) for r in function_responses(bodies[2])] == [
        ("get_weather", {"city": "Paris", "temperature_c": 21, "sky": "sunny"}),
        ("get_time", {"city": "Paris", "time": "14:05"}),
    ]
