"""LangChain (`langchain-openai` `ChatOpenAI`) pointed at Pollux: invoke, stream, a tool loop
through `bind_tools` on a Gemini 3 model, and `with_structured_output` by each method.

LangChain rebuilds assistant messages from its own `AIMessage.tool_calls` (name, args, id), so
the `extra_content` carrying Gemini 3 thought signatures never comes back: the tool loop passes
only because Pollux remembers the signature it issued for each tool call id. The tests record
what LangChain really sent (an httpx event hook) to show that it is so.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Literal

import httpx
import openai
import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from conftest import POLLUX_URL, SEED_USAGE, SERVER_KEY, calls, gemini_error, response, text

FLASH = "gemini-2.5-flash"
GEMINI3 = "gemini-3-pro-preview"


class Recorder:
    """The JSON bodies LangChain posted to Pollux (what the client really sends)."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> None:
        self.bodies.append(json.loads(request.read()))


@pytest.fixture
def sent() -> Recorder:
    return Recorder()


@pytest.fixture
def chat(sent):
    """`chat(model, **kwargs)`: a ChatOpenAI on Pollux whose requests are recorded in `sent`."""
    clients: list[httpx.Client] = []

    def make(model: str = FLASH, **kwargs) -> ChatOpenAI:
        http = httpx.Client(event_hooks={"request": [sent]}, timeout=20)
        clients.append(http)
        return ChatOpenAI(model=model, base_url=POLLUX_URL, api_key="test-key", max_retries=0,
                          timeout=20, http_client=http, **kwargs)

    yield make
    for http in clients:
        http.close()


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
    # Gemini counts thoughts apart; OpenAI's completion tokens (LangChain's output) include them.
    assert reply.usage_metadata["input_tokens"] == 5
    assert reply.usage_metadata["output_tokens"] == 153 + 869
    assert reply.usage_metadata["total_tokens"] == 1027
    assert reply.usage_metadata["output_token_details"]["reasoning"] == 869

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
    whole = chunks[0]
    for c in chunks[1:]:
        whole += c
    assert whole.content == "The quick brown fox jumps."
    assert whole.response_metadata["finish_reason"] == "stop"
    assert whole.usage_metadata is not None
    assert whole.usage_metadata["input_tokens"] > 0
    assert whole.usage_metadata["total_tokens"] == (
        whole.usage_metadata["input_tokens"] + whole.usage_metadata["output_tokens"])

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


def signature(label: str) -> str:
    return base64.b64encode(f"scripted-signature:{label}".encode()).decode()


def signed_call(name: str, args: dict, sig: str) -> dict:
    """A Gemini 3 function call answer carrying the signature `sig` (remembered by the mock)."""
    return {"kind": "answer", "chunks": [[{"functionCall": {"name": name, "args": args},
                                           "thoughtSignature": sig}]]}


def signatures_sent(body: dict) -> list[str | None]:
    """The thoughtSignature of every model functionCall part, in order."""
    return [
        p.get("thoughtSignature")
        for c in body["contents"] if c["role"] == "model"
        for p in c["parts"] if "functionCall" in p
    ]


@pytest.mark.parametrize("streamed", [False, True], ids=["invoke", "stream"])
def test_gemini3_tool_loop_keeps_signatures(chat, mock, sent, streamed):
    sig1, sig2 = signature("weather"), signature("time")
    mock.push(
        signed_call("get_weather", {"city": "Paris"}, sig1),
        signed_call("get_time", {"city": "Paris"}, sig2),
        text("It is 14:05 and sunny in Paris."),
    )
    TOOL_RUNS.clear()
    tools = {"get_weather": get_weather, "get_time": get_time}
    llm = chat(GEMINI3).bind_tools(list(tools.values()))
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
        assert ai.response_metadata["finish_reason"] == "tool_calls"
        (call,) = ai.tool_calls
        assert (call["name"], call["args"]) == (name, args)
        assert call["id"]
        messages.append(ai)
        result = tools[name].invoke(call)
        assert isinstance(result, ToolMessage) and result.tool_call_id == call["id"]
        messages.append(result)
    final = step()
    assert final.content == "It is 14:05 and sunny in Paris."
    assert final.tool_calls == []
    assert TOOL_RUNS == expected

    # LangChain sent the assistant tool calls back without extra_content ...
    assert len(sent.bodies) == 3
    for body in sent.bodies[1:]:
        for m in body["messages"]:
            for c in m.get("tool_calls") or []:
                assert "extra_content" not in c, c
    # ... yet Gemini received the original signatures, not the skip value.
    bodies = mock.bodies()
    assert len(bodies) == 3
    assert signatures_sent(bodies[1]) == [sig1]
    assert signatures_sent(bodies[2]) == [sig1, sig2]
    responses = [p["functionResponse"] for c in bodies[2]["contents"] for p in c["parts"]
                 if "functionResponse" in p]
    assert [(r["name"], r["response"]) for r in responses] == [
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
