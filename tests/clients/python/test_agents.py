"""The OpenAI Agents SDK (`openai-agents`) on Pollux through `OpenAIChatCompletionsModel`: an
agent with one function tool runs to completion, plain and streamed, and on a Gemini 3 model
whose thought signatures must come back unchanged.

Tracing is disabled: the SDK would otherwise export traces to OpenAI.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import openai
from agents import (
    Agent,
    MessageOutputItem,
    ModelSettings,
    OpenAIChatCompletionsModel,
    Runner,
    ToolCallItem,
    ToolCallOutputItem,
    function_tool,
    set_tracing_disabled,
)

from conftest import POLLUX_URL, calls, text

set_tracing_disabled(True)

FLASH = "gemini-2.5-flash"
GEMINI3 = "gemini-3-pro-preview"
INSTRUCTIONS = "You answer questions about the weather. Use the tool."
QUESTION = "What is the weather in Paris?"
ANSWER = "It is 21 °C and sunny in Paris."

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


TOOL_RESULT = {"city": "Paris", "temperature": 21, "unit": "celsius", "sky": "sunny"}
ARGS = {"city": "Paris", "unit": "celsius"}


def run_agent(model: str, streamed: bool = False):
    """Run the weather agent against Pollux; returns (result, stream events, request bodies
    the SDK sent to Pollux)."""
    sent: list[dict] = []

    async def record(request: httpx.Request) -> None:
        sent.append(json.loads(await request.aread()))

    async def main():
        http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [record]})
        client = openai.AsyncOpenAI(base_url=POLLUX_URL, api_key="test-key", max_retries=0,
                                    timeout=20, http_client=http)
        agent = Agent(
            name="weather",
            instructions=INSTRUCTIONS,
            tools=[get_weather],
            model=OpenAIChatCompletionsModel(model=model, openai_client=client),
            # Usage in streams is asked for explicitly: the SDK does so by itself only when
            # the client points at OpenAI.
            model_settings=ModelSettings(include_usage=True if streamed else None),
        )
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


def check_run(result, sent, upstream):
    assert result.final_output == ANSWER
    # The tool really ran, once, with the arguments Gemini chose.
    assert TOOL_RUNS == [ARGS]

    kinds = [type(item) for item in result.new_items]
    assert kinds == [ToolCallItem, ToolCallOutputItem, MessageOutputItem]
    call_item, output_item, _ = result.new_items
    assert call_item.raw_item.name == "get_weather"
    assert json.loads(call_item.raw_item.arguments) == ARGS
    assert json.loads(output_item.output) == TOOL_RESULT

    usage = result.context_wrapper.usage
    assert usage.requests == 2
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens

    # The SDK made two chat completions; the second carries the call and its result.
    assert len(sent) == 2
    assert [m["role"] for m in sent[1]["messages"]] == ["system", "user", "assistant", "tool"]

    # Upstream: the instructions as systemInstruction, the tool declared, then the call and its
    # functionResponse in the second request.
    assert len(upstream) == 2
    first, second = upstream
    assert first["systemInstruction"]["parts"] == [{"text": INSTRUCTIONS}]
    (declaration,) = first["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "get_weather"
    assert set(declaration["parametersJsonSchema"]["properties"]) == {"city", "unit"}
    model_turn, result_turn = second["contents"][1:]
    assert model_turn["role"] == "model"
    assert [p["functionCall"]["name"] for p in model_turn["parts"]] == ["get_weather"]
    assert model_turn["parts"][0]["functionCall"]["args"] == ARGS
    assert result_turn["role"] == "user"
    (response_part,) = result_turn["parts"]
    assert response_part["functionResponse"]["name"] == "get_weather"
    assert response_part["functionResponse"]["response"] == TOOL_RESULT


def test_agent_with_function_tool_runs_to_completion(mock):
    mock.push(calls(("get_weather", ARGS)), text(ANSWER))
    result, _, sent = run_agent(FLASH)
    check_run(result, sent, mock.bodies())
    assert not sent[0].get("stream")


def test_streamed_agent_run(mock):
    mock.push(calls(("get_weather", ARGS)), text("It is 21 °C ", "and sunny in Paris."))
    result, events, sent = run_agent(FLASH, streamed=True)
    check_run(result, sent, mock.bodies())
    assert all(body.get("stream") for body in sent)
    assert all(body["stream_options"] == {"include_usage": True} for body in sent)

    deltas = [e.data.delta for e in events
              if e.type == "raw_response_event" and e.data.type == "response.output_text.delta"]
    assert "".join(deltas) == ANSWER
    items = [e.name for e in events if e.type == "run_item_stream_event"]
    assert items == ["tool_called", "tool_output", "message_output_created"]


def test_gemini3_agent_keeps_thought_signature(mock):
    sig = base64.b64encode(b"scripted-signature:agents").decode()
    mock.push(
        {"kind": "answer", "chunks": [[{"functionCall": {"name": "get_weather", "args": ARGS},
                                        "thoughtSignature": sig}]]},
        text(ANSWER),
    )
    result, _, sent = run_agent(GEMINI3)
    check_run(result, sent, mock.bodies())
    # The Agents SDK keeps Google's extra_content for models named gemini*, so the signature
    # comes back through the client; Gemini receives the one it issued.
    (assistant,) = [m for m in sent[1]["messages"] if m["role"] == "assistant"]
    assert assistant["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": sig}}
    model_turn = mock.bodies()[1]["contents"][1]
    assert model_turn["parts"][0]["thoughtSignature"] == sig
