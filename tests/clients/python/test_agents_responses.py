"""The OpenAI Agents SDK (`openai-agents`) on Pollux with its default model class,
`OpenAIResponsesModel` (the Responses API, no chat wrapper): the agent names only a model, and
the SDK's default client points at Pollux. A weather agent with one function tool runs to
completion on a Gemini 3 model, plain and streamed; its thought signatures must reach Gemini
unchanged.

By default the SDK sends neither `store` nor `previous_response_id`: it replays every item of
the run (reasoning items included) as `input`, so Pollux restores each signature from its
cache by `call_id`. With `store=False` and `include=["reasoning.encrypted_content"]` (the
stateless form) the signature travels in the reasoning item. With
`auto_previous_response_id=True` / `previous_response_id=` (server-managed conversation) the SDK
sends only the new items and the last response's id, and Pollux rebuilds the conversation,
signatures included, from the responses it stored.

Tracing is disabled: the SDK would otherwise export traces to OpenAI.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest
from agents import (
    Agent,
    MessageOutputItem,
    ModelSettings,
    ReasoningItem,
    Runner,
    ToolCallItem,
    ToolCallOutputItem,
    function_tool,
    set_default_openai_api,
    set_default_openai_client,
    set_tracing_disabled,
)
from agents.models.openai_responses import OpenAIResponsesModel

from conftest import POLLUX_URL, signature, signatures_sent, signed_call, text

set_tracing_disabled(True)

GEMINI3 = "gemini-3-pro-preview"
INSTRUCTIONS = "You answer questions about the weather. Use the tool."
QUESTION = "What is the weather in Paris?"
ANSWER = "It is 21 °C and sunny in Paris."
ARGS = {"city": "Paris", "unit": "celsius"}
TOOL_RESULT = {"city": "Paris", "temperature": 21, "unit": "celsius", "sky": "sunny"}

TOOL_RUNS: list[dict[str, Any]] = []


@function_tool
def get_weather(city: str, unit: str) -> str:
    """Current weather for a city.

    Args:
        city: The city.
        unit: "celsius" or "fahrenheit".
    """
    TOOL_RUNS.append({"city": city, "unit": unit})
    return json.dumps({"city": city, "temperature": 21, "unit": unit, "sky": "sunny"})


def run_agent(streamed: bool = False, settings: ModelSettings | None = None):
    """Run the weather agent through the SDK's defaults; returns (result, stream events,
    request bodies the SDK sent to Pollux)."""
    sent: list[dict] = []

    async def record(request: httpx.Request) -> None:
        sent.append(json.loads(await request.aread()))

    async def main():
        http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [record]})
        client = openai.AsyncOpenAI(base_url=POLLUX_URL, api_key="test-key", max_retries=0,
                                    timeout=20, http_client=http)
        # The SDK's default client and API; each test makes its own client (one event loop
        # per asyncio.run).
        set_default_openai_client(client, use_for_tracing=False)
        set_default_openai_api("responses")
        agent = Agent(name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                      model=GEMINI3, model_settings=settings or ModelSettings())
        events = []
        try:
            if streamed:
                run = Runner.run_streamed(agent, QUESTION)
                async for event in run.stream_events():
                    events.append(event)
                return run, events
            return await Runner.run(agent, QUESTION), events
        finally:
            await client.close()

    TOOL_RUNS.clear()
    return (*asyncio.run(main()), sent)


def check_run(result, sent, upstream, sig):
    assert result.final_output == ANSWER
    assert TOOL_RUNS == [ARGS]

    kinds = [type(item) for item in result.new_items if not isinstance(item, ReasoningItem)]
    assert kinds == [ToolCallItem, ToolCallOutputItem, MessageOutputItem]
    call_item = next(i for i in result.new_items if isinstance(i, ToolCallItem))
    output_item = next(i for i in result.new_items if isinstance(i, ToolCallOutputItem))
    assert call_item.raw_item.type == "function_call"
    assert call_item.raw_item.name == "get_weather"
    assert json.loads(call_item.raw_item.arguments) == ARGS
    assert json.loads(output_item.output) == TOOL_RESULT
    assert result.raw_responses[0].response_id.startswith("resp_")

    usage = result.context_wrapper.usage
    assert usage.requests == 2
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens

    # Two Responses requests, the second replaying the call and its output; stateless.
    assert len(sent) == 2
    for body in sent:
        assert body["model"] == GEMINI3
        assert body["instructions"] == INSTRUCTIONS
        assert "previous_response_id" not in body, "the SDK chained responses by id"
        assert "messages" not in body
    types = [item.get("type", "message") for item in sent[1]["input"]]
    assert [t for t in types if t != "reasoning"] == ["message", "function_call",
                                                       "function_call_output"]

    assert len(upstream) == 2
    first, second = upstream
    assert first["systemInstruction"]["parts"] == [{"text": INSTRUCTIONS}]
    (declaration,) = first["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "get_weather"
    assert set(declaration["parametersJsonSchema"]["properties"]) == {"city", "unit"}
    model_turn = next(c for c in second["contents"] if c["role"] == "model")
    assert model_turn["parts"][0]["functionCall"] == {"name": "get_weather", "args": ARGS}
    assert signatures_sent(second) == [sig], "Gemini gets back the signature it issued"
    response_part = second["contents"][-1]["parts"][0]["functionResponse"]
    assert response_part["name"] == "get_weather"
    assert response_part["response"] == TOOL_RESULT


def test_default_model_is_the_responses_model(mock):
    async def main():
        client = openai.AsyncOpenAI(base_url=POLLUX_URL, api_key="test-key")
        set_default_openai_client(client, use_for_tracing=False)
        set_default_openai_api("responses")
        from agents.models.multi_provider import MultiProvider
        model = MultiProvider().get_model(GEMINI3)
        await client.close()
        return model

    assert isinstance(asyncio.run(main()), OpenAIResponsesModel)


def test_agent_run_with_function_tool(mock):
    sig = signature("agents-responses")
    mock.push(signed_call("get_weather", ARGS, sig), text(ANSWER))
    result, _, sent = run_agent()
    check_run(result, sent, mock.bodies(), sig)
    assert not any(body.get("stream") for body in sent)
    # SDK defaults: nothing asks Pollux to store anything or to return encrypted reasoning.
    assert all("store" not in body for body in sent), [b.get("store") for b in sent]


@pytest.mark.parametrize("stateless", [False, True], ids=["defaults", "store-false-encrypted"])
def test_agent_run_streamed(mock, stateless):
    sig = signature(f"agents-responses-stream-{stateless}")
    mock.push(signed_call("get_weather", ARGS, sig), text("It is 21 °C ", "and sunny in Paris."))
    settings = (ModelSettings(store=False, response_include=["reasoning.encrypted_content"])
                if stateless else None)
    result, events, sent = run_agent(streamed=True, settings=settings)
    check_run(result, sent, mock.bodies(), sig)
    assert all(body.get("stream") for body in sent)
    if stateless:
        assert all(body["store"] is False for body in sent)
        assert all(body["include"] == ["reasoning.encrypted_content"] for body in sent)
        reasoning = [i for i in sent[1]["input"] if i.get("type") == "reasoning"]
        assert reasoning and reasoning[0].get("encrypted_content"), sent[1]["input"]

    raw = [e.data for e in events if e.type == "raw_response_event"]
    numbers = [d.sequence_number for d in raw]
    # Two responses, each numbered from its own start.
    starts = [i for i, d in enumerate(raw) if d.type == "response.created"]
    assert len(starts) == 2
    for a, b in zip(starts, starts[1:] + [len(raw)]):
        seq = numbers[a:b]
        assert all(x < y for x, y in zip(seq, seq[1:])), seq
    deltas = [d.delta for d in raw if d.type == "response.output_text.delta"]
    assert "".join(deltas) == ANSWER
    items = [e.name for e in events if e.type == "run_item_stream_event"
             and e.name != "reasoning_item_created"]
    assert items == ["tool_called", "tool_output", "message_output_created"]


# --- server-managed conversation: previous_response_id ------------------------------------------


def run_chained(turns: list[str], streamed: bool):
    """Run the weather agent once per user turn, each run continuing the last response by id:
    the first with `auto_previous_response_id=True` (its tool step already chains), the
    others with `previous_response_id=` the previous run's `last_response_id`. Returns the
    results and the request bodies the SDK sent to Pollux."""
    sent: list[dict] = []

    async def record(request: httpx.Request) -> None:
        sent.append(json.loads(await request.aread()))

    async def main():
        http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [record]})
        client = openai.AsyncOpenAI(base_url=POLLUX_URL, api_key="test-key", max_retries=0,
                                    timeout=20, http_client=http)
        set_default_openai_client(client, use_for_tracing=False)
        set_default_openai_api("responses")
        agent = Agent(name="weather", instructions=INSTRUCTIONS, tools=[get_weather],
                      model=GEMINI3)
        results = []
        try:
            for question in turns:
                chain = ({"previous_response_id": results[-1].last_response_id} if results
                         else {"auto_previous_response_id": True})
                if streamed:
                    run = Runner.run_streamed(agent, question, **chain)
                    async for _ in run.stream_events():
                        pass
                    results.append(run)
                else:
                    results.append(await Runner.run(agent, question, **chain))
            return results
        finally:
            await client.close()

    TOOL_RUNS.clear()
    return asyncio.run(main()), sent


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
def test_agent_runs_chained_by_previous_response_id(mock, streamed):
    sig = signature(f"agents-previous-response-id-{streamed}")
    mock.push(signed_call("get_weather", ARGS, sig), text(ANSWER), text("You are welcome."))
    (first, second), sent = run_chained([QUESTION, "Thanks!"], streamed)

    assert first.final_output == ANSWER
    assert second.final_output == "You are welcome."
    assert TOOL_RUNS == [ARGS]
    ids = [r.response_id for r in first.raw_responses + second.raw_responses]
    assert all(i and i.startswith("resp_") for i in ids) and len(set(ids)) == 3
    assert first.last_response_id == ids[1] and second.last_response_id == ids[2]

    # The SDK sends only what is new and the id of the response before it.
    assert len(sent) == 3
    assert [b.get("previous_response_id") for b in sent] == [None, ids[0], ids[1]]
    assert all(b.get("store") is not False for b in sent)
    assert [i.get("role") for i in sent[0]["input"]] == ["user"]
    assert [i.get("type") for i in sent[1]["input"]] == ["function_call_output"]
    assert [(i.get("role"), i.get("content")) for i in sent[2]["input"]] == [("user", "Thanks!")]

    # Gemini gets the whole conversation each time, rebuilt by Pollux from what it stored,
    # with the signature it issued on the call.
    upstream = mock.bodies()
    assert len(upstream) == 3
    assert signatures_sent(upstream[1]) == [sig]
    assert signatures_sent(upstream[2]) == [sig]
    assert "skip_thought_signature_validator" not in json.dumps(upstream)
    roles = [c["role"] for c in upstream[2]["contents"]]
    assert roles == ["user", "model", "user", "model", "user"]
    assert upstream[2]["contents"][0]["parts"] == [{"text": QUESTION}]
    assert upstream[2]["contents"][2]["parts"][0]["functionResponse"]["response"] == TOOL_RESULT
    assert upstream[2]["contents"][3]["parts"] == [{"text": ANSWER}]
    assert upstream[2]["contents"][4]["parts"] == [{"text": "Thanks!"}]
    # The agent's instructions are sent again each request (they do not carry over).
    assert all(b["systemInstruction"]["parts"] == [{"text": INSTRUCTIONS}] for b in upstream)
