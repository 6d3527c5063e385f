"""Less travelled paths a real client takes: several choices, stop sequences, safety blocks,
a client that walks away from a stream, legacy `functions`, tool names Gemini would refuse,
and parallel Gemini 3 calls streamed."""

from __future__ import annotations

import json
import time

import openai
import pytest

from conftest import calls, response, text

MESSAGES = [{"role": "user", "content": "hi"}]


def test_n_choices(client, mock):
    usage = {"promptTokenCount": 2, "candidatesTokenCount": 4, "totalTokenCount": 6}
    body = response([{"text": "first"}], usage)
    body["candidates"].append({
        "content": {"role": "model", "parts": [{"text": "second"}]},
        "finishReason": "STOP", "index": 1})
    mock.push({"kind": "json", "status": 200, "body": body})
    completion = client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, n=2)
    assert [(c.index, c.message.content) for c in completion.choices] == [(0, "first"), (1, "second")]
    assert mock.bodies()[0]["generationConfig"]["candidateCount"] == 2


def test_stop_sequences_and_sampling_parameters(client, mock):
    mock.push(text("1, 2, 3"))
    raw = client.chat.completions.with_raw_response.create(
        model="gemini-2.5-flash", messages=MESSAGES, stop=["END", "\n\n"], top_p=0.5,
        seed=7, presence_penalty=0.5, frequency_penalty=0.25)
    assert raw.parse().choices[0].message.content == "1, 2, 3"
    dropped = {p.strip() for p in raw.headers["x-pollux-dropped-params"].split(",")}
    assert dropped == {"presence_penalty", "frequency_penalty"}
    config = mock.bodies()[0]["generationConfig"]
    assert config["stopSequences"] == ["END", "\n\n"]
    assert (config["topP"], config["seed"]) == (0.5, 7)
    # Gemini 2.5 answers "Penalty is not enabled"; docs/mapping.md says Pollux drops them.
    assert "presencePenalty" not in config and "frequencyPenalty" not in config


def test_safety_finish_is_content_filter(client, mock):
    usage = {"promptTokenCount": 3, "totalTokenCount": 3}
    mock.push({"kind": "json", "status": 200, "body": {
        "candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]}],
        "usageMetadata": usage}})
    completion = client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES)
    assert completion.choices[0].finish_reason == "content_filter"


def test_client_leaving_a_stream_cancels_the_upstream_stream(client, mock):
    first = {"candidates": [{"content": {"role": "model", "parts": [{"text": "first"}]}, "index": 0}]}
    mock.push({"kind": "stream", "steps": [{"event": first}, {"delay_ms": 20000}, {"event": first}]})
    stream = client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, stream=True)
    chunk = next(iter(stream))
    assert chunk.choices[0].delta.content == "first"
    stream.close()
    deadline = time.monotonic() + 3
    while mock.stats()["cancelled_streams"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = mock.stats()
    assert stats["cancelled_streams"] == 1, stats
    assert stats["open_streams"] == 0, stats


def test_legacy_functions_and_function_call(client, mock):
    mock.push(calls(("lookup", {"q": "pollux"})), text("Pollux is a star."))
    functions = [{"name": "lookup", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}]
    messages = [{"role": "user", "content": "What is Pollux?"}]
    first = client.chat.completions.create(
        model="gemini-2.5-flash", messages=messages, functions=functions, function_call="auto")
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "function_call"
    assert message.function_call.name == "lookup"
    assert json.loads(message.function_call.arguments) == {"q": "pollux"}
    messages += [
        {"role": "assistant", "content": None, "function_call": {
            "name": "lookup", "arguments": message.function_call.arguments}},
        {"role": "function", "name": "lookup", "content": "Pollux: the brightest star in Gemini."},
    ]
    second = client.chat.completions.create(
        model="gemini-2.5-flash", messages=messages, functions=functions)
    assert second.choices[0].message.content == "Pollux is a star."
    contents = mock.bodies()[1]["contents"]
    assert contents[-1]["parts"][0]["functionResponse"]["name"] == "lookup"


def test_tool_name_gemini_would_refuse_round_trips(client, mock):
    # Gemini names must start with a letter or underscore; OpenAI's may start with a digit.
    # Pollux declares a safe name upstream and must map Gemini's call back to the client's.
    name = "2fa-lookup"
    tool = {"type": "function", "function": {"name": name, "parameters": {
        "type": "object", "properties": {"user": {"type": "string"}}}}}
    mock.push(text("probe"))
    client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, tools=[tool])
    (declared,) = [d["name"] for t in mock.bodies()[0]["tools"] for d in t["functionDeclarations"]]
    assert declared[0].isalpha() or declared[0] == "_", declared

    mock.reset()
    mock.push(calls((declared, {"user": "ada"})))
    completion = client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, tools=[tool])
    (call,) = completion.choices[0].message.tool_calls
    assert call.function.name == name
    assert json.loads(call.function.arguments) == {"user": "ada"}


def test_tool_message_with_text_parts_and_unicode_arguments(client, mock):
    args = {"city": "Zürich", "note": "naïve 😀 \"quoted\""}
    mock.push(calls(("get_weather", args)), text("Done."))
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "note": {"type": "string"}}}}}
    messages = [{"role": "user", "content": "Weather in Zürich?"}]
    first = client.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[tool])
    (call,) = first.choices[0].message.tool_calls
    assert json.loads(call.function.arguments) == args
    messages += [
        first.choices[0].message,
        {"role": "tool", "tool_call_id": call.id,
         "content": [{"type": "text", "text": "{\"temp\": 18}"}]},
    ]
    client.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[tool])
    sent = mock.bodies()[1]["contents"]
    assert sent[1]["parts"][0]["functionCall"]["args"] == args
    assert sent[2]["parts"][0]["functionResponse"]["response"] == {"temp": 18}


def test_gemini3_parallel_calls_streamed_then_stripped(client, mock):
    model = "gemini-3-pro-preview"
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}
    mock.push(calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})),
              text("Both sunny."))
    messages = [{"role": "user", "content": "Weather in Paris and Rome?"}]
    with client.chat.completions.stream(model=model, messages=messages, tools=[tool]) as s:
        first = s.get_final_completion()
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    assert [json.loads(c.function.arguments)["city"] for c in message.tool_calls] == ["Paris", "Rome"]
    as_dict = message.model_dump(exclude_none=True)
    signature = as_dict["tool_calls"][0]["extra_content"]["google"]["thought_signature"]
    for c in as_dict["tool_calls"]:
        c.pop("extra_content", None)
    messages.append(as_dict)
    for c in message.tool_calls:
        messages.append({"role": "tool", "tool_call_id": c.id, "content": "sunny"})
    second = client.chat.completions.create(model=model, messages=messages, tools=[tool])
    assert second.choices[0].message.content == "Both sunny."
    model_parts = mock.bodies()[1]["contents"][1]["parts"]
    assert model_parts[0]["thoughtSignature"] == signature
    assert "thoughtSignature" not in model_parts[1]


def test_reasoning_effort_maps_to_thinking_budget(client, mock):
    mock.push(text("Thought about it."))
    client.chat.completions.create(model="gemini-2.5-flash", messages=MESSAGES, reasoning_effort="low")
    thinking = mock.bodies()[0]["generationConfig"]["thinkingConfig"]
    assert thinking["thinkingBudget"] == 1024


def test_unknown_route_is_openai_shaped_404(client, mock):
    with pytest.raises(openai.NotFoundError) as info:
        client.completions.create(model="gemini-2.5-flash", prompt="legacy completions")
    body = info.value.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert mock.requests() == []


def test_developer_and_multiple_system_messages(client, mock):
    mock.push(text("ok"))
    client.chat.completions.create(model="gemini-2.5-flash", messages=[
        {"role": "developer", "content": "Answer in French."},
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": "hi"},
    ])
    body = mock.bodies()[0]
    texts = [p["text"] for p in body["systemInstruction"]["parts"]]
    assert texts == ["Answer in French.", "Be brief."]
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_tool_choice_none(client, mock):
    mock.push(text("No tools needed."))
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    completion = client.chat.completions.create(
        model="gemini-2.5-flash", messages=MESSAGES, tools=[tool], tool_choice="none")
    assert completion.choices[0].message.content == "No tools needed."
    assert mock.bodies()[0]["toolConfig"]["functionCallingConfig"]["mode"] == "NONE"


def test_empty_assistant_content_next_to_tool_calls(client, mock):
    # LangChain and others send content "" beside tool_calls; Gemini refuses empty text parts.
    mock.push(text("Done."))
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    client.chat.completions.create(model="gemini-2.5-flash", tools=[tool], messages=[
        {"role": "user", "content": "call f"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
    ])
    model_turn = mock.bodies()[0]["contents"][1]
    assert model_turn == {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}
