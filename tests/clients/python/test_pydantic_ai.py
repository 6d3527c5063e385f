"""pydantic-ai (`pydantic-ai-slim[openai]`) on Pollux in its default form,
`Agent("openai:<model>")`: in pydantic-ai 2.x the `openai:` prefix resolves to
`OpenAIResponsesModel`, i.e. the Responses API, and the provider reads OPENAI_BASE_URL and
OPENAI_API_KEY, which run.sh points at Pollux. A Gemini 3 agent with one tool runs to its
answer, plain and streamed; Gemini gets its thought signature back.
"""

from __future__ import annotations

import asyncio
import json
import os

import httpx
import openai
from pydantic_ai import Agent
from pydantic_ai.messages import ToolCallPart, ToolReturnPart
from pydantic_ai.models.openai import OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider

from conftest import POLLUX_URL, function_responses, signature, signatures_sent, signed_call, text

GEMINI3 = "gemini-3-pro-preview"
ARGS = {"city": "Paris"}
ANSWER = "It is 21 °C and sunny in Paris."
TOOL_RESULT = {"city": "Paris", "temperature_c": 21, "sky": "sunny"}


def weather_agent(model) -> tuple[Agent, list[str]]:
    runs: list[str] = []
    agent = Agent(model, instructions="Answer weather questions with the tool.")

    @agent.tool_plain
    def get_weather(city: str) -> dict:
        """Current weather for a city."""
        runs.append(city)
        return {"city": city, "temperature_c": 21, "sky": "sunny"}

    return agent, runs


def check_upstream(bodies, sig):
    assert len(bodies) == 2
    first, second = bodies
    assert first["systemInstruction"]["parts"] == [{"text": "Answer weather questions with the tool."}]
    (declaration,) = first["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "get_weather"
    model_turn = next(c for c in second["contents"] if c["role"] == "model")
    assert model_turn["parts"][0]["functionCall"] == {"name": "get_weather", "args": ARGS}
    assert signatures_sent(second) == [sig], "Gemini gets back the signature it issued"
    (result,) = function_responses(second)
    assert result["name"] == "get_weather"
    assert json.dumps(result["response"]).find("sunny") > 0, result


def test_default_openai_prefix_is_the_responses_model():
    assert os.environ["OPENAI_BASE_URL"] == POLLUX_URL
    agent, _ = weather_agent(f"openai:{GEMINI3}")
    assert isinstance(agent.model, OpenAIResponsesModel)
    assert agent.model.model_name == GEMINI3
    assert agent.model.base_url.rstrip("/") == POLLUX_URL.rstrip("/")


def test_agent_run_with_tool(mock):
    sig = signature("pydantic-ai")
    mock.push(signed_call("get_weather", ARGS, sig), text(ANSWER))
    agent, runs = weather_agent(f"openai:{GEMINI3}")
    result = agent.run_sync("What is the weather in Paris?")
    assert result.output == ANSWER
    assert runs == ["Paris"]
    parts = [p for m in result.all_messages() for p in m.parts]
    (call,) = [p for p in parts if isinstance(p, ToolCallPart)]
    assert call.tool_name == "get_weather" and call.args_as_dict() == ARGS
    (ret,) = [p for p in parts if isinstance(p, ToolReturnPart)]
    assert ret.tool_call_id == call.tool_call_id
    assert ret.content == TOOL_RESULT
    usage = result.usage
    assert usage.requests == 2
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    check_upstream(mock.bodies(), sig)


def test_agent_run_stream_with_tool(mock):
    # The same Responses model, with a recording client, to show what pydantic-ai sends.
    sig = signature("pydantic-ai-stream")
    mock.push(signed_call("get_weather", ARGS, sig), text("It is 21 °C ", "and sunny in Paris."))
    sent: list[dict] = []

    async def record(request: httpx.Request) -> None:
        sent.append(json.loads(await request.aread()))

    async def main():
        http = httpx.AsyncClient(event_hooks={"request": [record]}, timeout=20)
        client = openai.AsyncOpenAI(base_url=POLLUX_URL, api_key="test-key", max_retries=0,
                                    http_client=http)
        model = OpenAIResponsesModel(GEMINI3, provider=OpenAIProvider(openai_client=client))
        agent, runs = weather_agent(model)
        async with agent.run_stream("What is the weather in Paris?") as run:
            pieces = [t async for t in run.stream_text(delta=True)]
        await http.aclose()
        return pieces, runs

    pieces, runs = asyncio.run(main())
    assert "".join(pieces) == ANSWER
    assert runs == ["Paris"]
    assert len(sent) == 2
    assert all(b.get("stream") is True for b in sent)
    assert all("previous_response_id" not in b for b in sent)
    types = [i.get("type", "message") for i in sent[1]["input"]]
    assert "function_call" in types and "function_call_output" in types, types
    check_upstream(mock.bodies(), sig)
