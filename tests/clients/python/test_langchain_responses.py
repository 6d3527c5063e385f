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
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from conftest import (
    POLLUX_URL,
    SEED_USAGE,
    function_responses,
    response,
    signature,
    signatures_sent,
    signed_call,
    text,
)

FLASH = "gemini-2.5-flash"
GEMINI3 = "gemini-3-pro-preview"


class Recorder:
    """The JSON bodies LangChain posted to Pollux (what the client really sends)."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> None:
        self.paths.append(request.url.path)
        self.bodies.append(json.loads(request.read()))


@pytest.fixture
def sent() -> Recorder:
    return Recorder()


@pytest.fixture
def chat(sent):
    """`chat(model, **kwargs)`: a Responses ChatOpenAI on Pollux, recorded in `sent`."""
    clients: list[httpx.Client] = []

    def make(model: str = FLASH, **kwargs) -> ChatOpenAI:
        http = httpx.Client(event_hooks={"request": [sent]}, timeout=20)
        clients.append(http)
        return ChatOpenAI(model=model, base_url=POLLUX_URL, api_key="test-key", max_retries=0,
                          timeout=20, http_client=http, use_responses_api=True, **kwargs)

    yield make
    for http in clients:
        http.close()


def test_invoke(chat, mock, sent):
    mock.push({"kind": "json", "body": response([{"text": "Bonjour !"}], SEED_USAGE)})
    reply = chat().invoke([SystemMessage("Answer in French."), HumanMessage("Say hello.")])
    assert isinstance(reply, AIMessage)
    assert reply.text == "Bonjour !"
    assert reply.tool_calls == []
    assert reply.response_metadata["id"].startswith("resp_")
    assert reply.response_metadata["status"] == "completed"
    assert reply.response_metadata["model_name"] == FLASH
    assert reply.usage_metadata["input_tokens"] == 5
    assert reply.usage_metadata["output_tokens"] == 153 + 869
    assert reply.usage_metadata["total_tokens"] == 1027
    assert reply.usage_metadata["output_token_details"]["reasoning"] == 869

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
    whole = chunks[0]
    for c in chunks[1:]:
        whole += c
    assert whole.text == "The quick brown fox jumps."
    assert whole.usage_metadata is not None
    assert whole.usage_metadata["input_tokens"] > 0
    assert whole.usage_metadata["total_tokens"] == (
        whole.usage_metadata["input_tokens"] + whole.usage_metadata["output_tokens"])
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


TOOL_RUNS: list[tuple[str, dict]] = []


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    TOOL_RUNS.append(("get_weather", {"city": city}))
    return json.dumps({"city": city, "temperature_c": 21, "sky": "sunny"})


@tool
def get_time(city: str) -> str:
    """Local time in a city."""
    TOOL_RUNS.append(("get_time", {"city": city}))
    return json.dumps({"city": city, "time": "14:05"})


@pytest.mark.parametrize("streamed,stateless", [(False, False), (True, False), (True, True)],
                         ids=["invoke", "stream", "stream-store-false-encrypted"])
def test_gemini3_bound_tool_loop(chat, mock, sent, streamed, stateless):
    sig1, sig2 = signature(f"lc-weather-{streamed}-{stateless}"), signature(f"lc-time-{streamed}-{stateless}")
    mock.push(
        signed_call("get_weather", {"city": "Paris"}, sig1),
        signed_call("get_time", {"city": "Paris"}, sig2),
        text("It is 14:05 and sunny in Paris."),
    )
    TOOL_RUNS.clear()
    tools = {"get_weather": get_weather, "get_time": get_time}
    kwargs = {"store": False, "include": ["reasoning.encrypted_content"]} if stateless else {}
    llm = chat(GEMINI3, **kwargs).bind_tools(list(tools.values()))
    messages = [HumanMessage("What is the weather and the time in Paris?")]

    def step():
        if not streamed:
            return llm.invoke(messages)
        whole = None
        for chunk in llm.stream(messages):
            whole = chunk if whole is None else whole + chunk
        return whole

    expected = [("get_weather", {"city": "Paris"}), ("get_time", {"city": "Paris"})]
    for name, args in expected:
        ai = step()
        (call,) = ai.tool_calls
        assert (call["name"], call["args"]) == (name, args)
        assert call["id"]
        messages.append(ai)
        result = tools[name].invoke(call)
        assert isinstance(result, ToolMessage) and result.tool_call_id == call["id"]
        messages.append(result)
    final = step()
    assert final.text == "It is 14:05 and sunny in Paris."
    assert final.tool_calls == []
    assert TOOL_RUNS == expected

    assert len(sent.bodies) == 3
    assert all("previous_response_id" not in b for b in sent.bodies)
    replayed = [i.get("type") for i in sent.bodies[2]["input"]]
    assert replayed.count("function_call") == 2 and replayed.count("function_call_output") == 2
    if stateless:
        reasoning = [i for i in sent.bodies[2]["input"] if i.get("type") == "reasoning"]
        assert len(reasoning) == 2 and all(r.get("encrypted_content") for r in reasoning)

    bodies = mock.bodies()
    assert len(bodies) == 3
    assert signatures_sent(bodies[1]) == [sig1]
    assert signatures_sent(bodies[2]) == [sig1, sig2]
    assert [(r["name"], r["response"]) for r in function_responses(bodies[2])] == [
        ("get_weather", {"city": "Paris", "temperature_c": 21, "sky": "sunny"}),
        ("get_time", {"city": "Paris", "time": "14:05"}),
    ]
