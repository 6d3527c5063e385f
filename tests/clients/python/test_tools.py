"""Tool calling: a parallel tool loop, streamed tool calls accumulated by the SDK, and a
Gemini 3 agent loop whose thought signatures must survive the round trip, whether the client
keeps `extra_content` or strips it."""

from __future__ import annotations

import json

import openai
import pytest

from conftest import calls, text


@pytest.fixture
def client(either_client):
    """Each test here runs against the Gemini API and against Vertex AI (run.sh's two Pollux)."""
    return either_client

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TOOLS = [WEATHER_TOOL, TIME_TOOL]
PARIS = {"city": "Paris", "unit": "celsius"}
TOKYO = {"city": "Tokyo", "unit": "celsius"}


def fake_tool(name: str, args: dict) -> str:
    if name == "get_weather":
        return json.dumps({"city": args["city"], "temperature": 21, "sky": "sunny"})
    return json.dumps({"city": args["city"], "time": "14:05"})


def call_summary(message):
    return [(c.type, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls]


def test_parallel_tool_loop(client, mock):
    mock.push(
        calls(("get_weather", PARIS), ("get_weather", TOKYO)),
        text("Paris: 21 °C and sunny. Tokyo: 21 °C and sunny."),
    )
    messages = [{"role": "user", "content": "Weather in Paris and Tokyo?"}]
    first = client.chat.completions.create(
        model="gemini-2.5-flash", messages=messages, tools=TOOLS, tool_choice="auto")
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert call_summary(choice.message) == [
        ("function", "get_weather", PARIS),
        ("function", "get_weather", TOKYO),
    ]
    ids = [c.id for c in choice.message.tool_calls]
    assert all(ids) and len(set(ids)) == 2, f"distinct tool call ids: {ids}"

    # The assistant message goes back as the SDK returned it (a pydantic model).
    messages.append(choice.message)
    for call in choice.message.tool_calls:
        messages.append({
            "role": "tool",
            "tool_call_id": call.id,
            "content": fake_tool(call.function.name, json.loads(call.function.arguments)),
        })
    second = client.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content.startswith("Paris: 21 °C")

    first_up, second_up = mock.bodies()
    declared = [d["name"] for t in first_up["tools"] for d in t["functionDeclarations"]]
    assert declared == ["get_weather", "get_time"]
    contents = second_up["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    model_calls = [p["functionCall"] for p in contents[1]["parts"]]
    assert [(c["name"], c["args"]) for c in model_calls] == [
        ("get_weather", PARIS), ("get_weather", TOKYO)]
    responses = [p["functionResponse"] for p in contents[2]["parts"]]
    assert [r["name"] for r in responses] == ["get_weather", "get_weather"]
    assert [r["response"]["city"] for r in responses] == ["Paris", "Tokyo"]


def test_tool_choice_required_and_named(client, mock):
    mock.push(calls(("get_time", {"city": "Lima"})), calls(("get_time", {"city": "Oslo"})))
    client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "time?"}],
        tools=TOOLS, tool_choice="required")
    named = client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "time?"}],
        tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert call_summary(named.choices[0].message) == [("function", "get_time", {"city": "Oslo"})]
    required, forced = (b["toolConfig"]["functionCallingConfig"] for b in mock.bodies())
    assert required["mode"] == "ANY"
    assert forced == {"mode": "ANY", "allowedFunctionNames": ["get_time"]}


def test_streamed_tool_calls_equal_non_streamed(client, mock):
    scenario = calls(("get_weather", PARIS), ("get_time", {"city": "Paris"}))
    mock.push(scenario, scenario)
    messages = [{"role": "user", "content": "Weather and time in Paris?"}]
    plain = client.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=TOOLS)

    done_events = []
    with client.chat.completions.stream(
            model="gemini-2.5-flash", messages=messages, tools=TOOLS) as stream:
        for ev in stream:
            if ev.type == "tool_calls.function.arguments.done":
                done_events.append((ev.index, ev.name, json.loads(ev.arguments)))
        streamed = stream.get_final_completion()

    assert plain.choices[0].finish_reason == "tool_calls"
    assert streamed.choices[0].finish_reason == "tool_calls"
    assert call_summary(streamed.choices[0].message) == call_summary(plain.choices[0].message)
    assert done_events == [
        (0, "get_weather", PARIS),
        (1, "get_time", {"city": "Paris"}),
    ]
    ids = [c.id for c in streamed.choices[0].message.tool_calls]
    assert all(ids) and len(set(ids)) == 2


def test_pydantic_function_tool_parsed_arguments(client, mock):
    from pydantic import BaseModel

    class GetWeather(BaseModel):
        city: str
        unit: str

    mock.push(calls(("GetWeather", PARIS)))
    completion = client.chat.completions.parse(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[openai.pydantic_function_tool(GetWeather)],
    )
    (call,) = completion.choices[0].message.tool_calls
    assert call.function.name == "GetWeather"
    assert call.function.parsed_arguments == GetWeather(city="Paris", unit="celsius")


# --- Gemini 3: thought signatures -------------------------------------------------------------

GEMINI3 = "gemini-3-pro-preview"


def run_agent_loop(client, mock, keep_extra_content: bool, stream: bool = False):
    """Three model steps: get_weather, then get_time, then the answer. Returns the
    signatures the client saw per step and the upstream bodies."""
    mock.push(
        calls(("get_weather", PARIS)),
        calls(("get_time", {"city": "Paris"})),
        text("It is 14:05 and sunny in Paris."),
    )
    messages = [{"role": "user", "content": "Weather and time in Paris?"}]
    seen = []
    for step in range(3):
        if stream:
            with client.chat.completions.stream(model=GEMINI3, messages=messages, tools=TOOLS) as s:
                completion = s.get_final_completion()
        else:
            completion = client.chat.completions.create(model=GEMINI3, messages=messages, tools=TOOLS)
        message = completion.choices[0].message
        if step == 2:
            assert completion.choices[0].finish_reason == "stop"
            assert message.content == "It is 14:05 and sunny in Paris."
            break
        assert completion.choices[0].finish_reason == "tool_calls"
        (call,) = message.tool_calls
        extra = call.model_extra.get("extra_content") or {}
        signature = extra.get("google", {}).get("thought_signature")
        assert signature, f"step {step}: the tool call carries no thought signature: {call}"
        seen.append(signature)

        as_dict = message.model_dump(exclude_none=True)
        if keep_extra_content:
            assert as_dict["tool_calls"][0]["extra_content"]["google"]["thought_signature"] == signature
        else:
            for c in as_dict["tool_calls"]:
                c.pop("extra_content", None)
        messages.append(as_dict)
        messages.append({
            "role": "tool",
            "tool_call_id": call.id,
            "content": fake_tool(call.function.name, json.loads(call.function.arguments)),
        })
    return seen, mock.bodies()


def signatures_sent(body):
    """The thoughtSignature of every model functionCall part, in order."""
    return [
        p.get("thoughtSignature")
        for c in body["contents"] if c["role"] == "model"
        for p in c["parts"] if "functionCall" in p
    ]


@pytest.mark.parametrize("keep", [True, False], ids=["keep-extra-content", "strip-extra-content"])
def test_gemini3_agent_loop(client, mock, keep):
    seen, bodies = run_agent_loop(client, mock, keep_extra_content=keep)
    assert len(bodies) == 3
    # Each request hands back exactly the signatures Gemini issued, never the skip value.
    assert signatures_sent(bodies[1]) == seen[:1]
    assert signatures_sent(bodies[2]) == seen[:2]


def test_gemini3_agent_loop_streamed_and_stripped(client, mock):
    seen, bodies = run_agent_loop(client, mock, keep_extra_content=False, stream=True)
    assert signatures_sent(bodies[2]) == seen[:2]


def test_gemini3_altered_signature_is_refused(client, mock):
    mock.push(calls(("get_weather", PARIS)))
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model=GEMINI3, messages=messages, tools=TOOLS)
    as_dict = first.choices[0].message.model_dump(exclude_none=True)
    google = as_dict["tool_calls"][0]["extra_content"]["google"]
    google["thought_signature"] = "A" + google["thought_signature"][1:]
    messages += [as_dict, {"role": "tool", "tool_call_id": as_dict["tool_calls"][0]["id"],
                           "content": fake_tool("get_weather", PARIS)}]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=GEMINI3, messages=messages, tools=TOOLS)
    assert "thought signature" in info.value.message.lower()
