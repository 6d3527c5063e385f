"""The `openai` SDK's Responses API (`client.responses`) on Pollux: `create`, `stream`, `parse`
with a Pydantic model, function and custom tools, errors, and Gemini 3 tool loops whose thought
signatures must come back to Gemini unchanged.

A stateless client (`store=False`, the whole input replayed each turn, as Codex CLI sends)
keeps each signature in the `encrypted_content` of the reasoning item before the call when it
asks for `include=["reasoning.encrypted_content"]`; without `include`, Pollux restores it from
its per-process cache by `call_id`. The tests script their own signatures so that they can
tell the one Gemini issued from the documented skip value, which the mock also accepts.

Expectations come from OpenAI's spec (shared/reference/openai-responses.openapi.json) and
issue 15.
"""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel

from conftest import (
    SEED_USAGE,
    calls,
    function_responses,
    response,
    signature,
    signatures_sent,
    signed_call,
    text,
)

FLASH = "gemini-2.5-flash"
GEMINI3 = "gemini-3-pro-preview"
ENCRYPTED = ["reasoning.encrypted_content"]

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
    "strict": True,
}
TIME_TOOL = {
    "type": "function",
    "name": "get_time",
    "description": "Local time in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}
TOOLS = [WEATHER_TOOL, TIME_TOOL]
PARIS = {"city": "Paris", "unit": "celsius"}
PARIS_TIME = {"city": "Paris"}
FINAL = "It is 14:05 and sunny in Paris."


def fake_tool(name: str, args: dict) -> str:
    if name == "get_weather":
        return json.dumps({"city": args["city"], "temperature": 21, "sky": "sunny"})
    return json.dumps({"city": args["city"], "time": "14:05"})


def assert_message_item(item, expected_text: str) -> None:
    assert item.type == "message"
    assert item.id.startswith("msg_"), item.id
    assert item.role == "assistant"
    assert item.status == "completed"
    (part,) = item.content
    assert part.type == "output_text"
    assert part.text == expected_text
    assert part.annotations == []


def assert_sequence_numbers(events) -> None:
    numbers = [e.sequence_number for e in events]
    assert all(isinstance(n, int) for n in numbers), numbers
    assert all(a < b for a, b in zip(numbers, numbers[1:])), f"not strictly increasing: {numbers}"


# --- create and stream ---------------------------------------------------------------------------


def test_create_plain(client, mock):
    mock.push({"kind": "json", "body": response([{"text": "Bonjour !"}], SEED_USAGE)})
    resp = client.responses.create(
        model=FLASH, instructions="Answer in French.", input="Say hello.")

    assert resp.id.startswith("resp_"), resp.id
    assert resp.object == "response"
    assert resp.status == "completed"
    assert resp.model == FLASH
    assert isinstance(resp.created_at, (int, float)) and resp.created_at > 0
    assert resp.error is None
    assert resp.incomplete_details is None
    assert resp.instructions == "Answer in French."
    assert resp.output_text == "Bonjour !"
    (item,) = resp.output
    assert_message_item(item, "Bonjour !")

    # Gemini counts thoughts apart from candidates; OpenAI's output tokens include them.
    usage = resp.usage
    assert usage.input_tokens == 5
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens == 153 + 869
    assert usage.output_tokens_details.reasoning_tokens == 869
    assert usage.total_tokens == 1027

    (upstream,) = mock.requests()
    assert upstream["path"] == f"/v1beta/models/{FLASH}:generateContent"
    body = upstream["json"]
    assert body["systemInstruction"]["parts"] == [{"text": "Answer in French."}]
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Say hello."}]}]


def test_create_with_message_items(client, mock):
    mock.push(text("Four."))
    resp = client.responses.create(model=FLASH, input=[
        {"role": "developer", "content": "Be terse."},
        {"role": "user", "content": [{"type": "input_text", "text": "2+2?"}]},
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "Four.", "annotations": []}]},
        {"role": "user", "content": "And 2+2 again?"},
    ])
    assert resp.output_text == "Four."
    (body,) = mock.bodies()
    assert body["systemInstruction"]["parts"] == [{"text": "Be terse."}]
    assert [(c["role"], [p["text"] for p in c["parts"]]) for c in body["contents"]] == [
        ("user", ["2+2?"]), ("model", ["Four."]), ("user", ["And 2+2 again?"])]


def test_stream_events_and_final_response(client, mock):
    pieces = ["The quick ", "brown fox ", "jumps."]
    mock.push(text(*pieces))
    with client.responses.stream(model=FLASH, input="Tell me about the fox.") as stream:
        events = list(stream)
        final = stream.get_final_response()

    assert_sequence_numbers(events)
    kinds = [e.type for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * len(pieces),
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ], kinds
    created, in_progress = events[0].response, events[1].response
    assert created.id.startswith("resp_") and in_progress.id == created.id == final.id
    assert created.status == "in_progress" and created.output == []
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert [d.delta for d in deltas] == pieces, "one delta per Gemini event"
    item_id = events[2].item.id
    assert item_id.startswith("msg_")
    assert all(d.item_id == item_id and d.output_index == 0 and d.content_index == 0
               for d in deltas)
    done = next(e for e in events if e.type == "response.output_text.done")
    assert done.text == "The quick brown fox jumps."

    assert final.status == "completed"
    assert final.output_text == "The quick brown fox jumps."
    (item,) = final.output
    assert_message_item(item, "The quick brown fox jumps.")
    assert item.id == item_id
    assert final.usage.input_tokens > 0
    assert final.usage.total_tokens == final.usage.input_tokens + final.usage.output_tokens

    (upstream,) = mock.requests()
    assert upstream["path"] == f"/v1beta/models/{FLASH}:streamGenerateContent"


def test_create_stream_true_matches_unstreamed(client, mock):
    mock.push(text("Hello ", "there."), text("Hello ", "there."))
    plain = client.responses.create(model=FLASH, input="Greet me.")
    events = list(client.responses.create(model=FLASH, input="Greet me.", stream=True))
    assert_sequence_numbers(events)
    assert events[0].type == "response.created"
    terminal = events[-1]
    assert terminal.type == "response.completed"
    assert [e.type for e in events].count("response.completed") == 1
    streamed = terminal.response
    assert streamed.output_text == plain.output_text == "Hello there."
    # The terminal response equals what the same request returns unstreamed (ids aside).
    assert [(o.type, o.content[0].text) for o in streamed.output] == [
        (o.type, o.content[0].text) for o in plain.output]
    assert streamed.usage == plain.usage


def test_second_turn_replays_the_message_item(client, mock):
    mock.push(text("Paris."), text("About 2.1 million."))
    input_ = [{"role": "user", "content": "Capital of France?"}]
    first = client.responses.create(model=FLASH, input=input_, store=False)
    # The output message goes back whole, as the SDK returned it (id, status, annotations).
    input_ += [o.model_dump(exclude_none=True) for o in first.output]
    input_.append({"role": "user", "content": "Its population?"})
    second = client.responses.create(model=FLASH, input=input_, store=False)
    assert second.output_text == "About 2.1 million."
    contents = mock.bodies()[1]["contents"]
    assert [(c["role"], [p["text"] for p in c["parts"]]) for c in contents] == [
        ("user", ["Capital of France?"]), ("model", ["Paris."]), ("user", ["Its population?"])]


def signed_text_scenario(text_: str, sig: str, streamed: bool) -> dict:
    """A Gemini 3 text answer signed as Gemini signs it: on the text part, or streamed, on an
    empty text part after the last piece."""
    usage = {"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 7}
    if not streamed:
        return {"kind": "json", "body": response([{"text": text_, "thoughtSignature": sig}], usage)}
    half = len(text_) // 2

    def event(parts, finish=None):
        candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        return {"event": {"candidates": [candidate], **({"usageMetadata": usage} if finish else {})}}

    return {"kind": "stream", "steps": [
        event([{"text": text_[:half]}]),
        event([{"text": text_[half:]}]),
        event([{"text": "", "thoughtSignature": sig}], "STOP"),
    ]}


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
def test_gemini3_text_signature_comes_back(client, mock, streamed):
    # Gemini 3 signs its text answers too; replayed with encrypted_content, the signature goes
    # back on that text part.
    sig = signature(f"text-part-{streamed}")
    mock.push(signed_text_scenario("Paris.", sig, streamed), text("About 2.1 million."))
    input_ = [{"role": "user", "content": "Capital of France?"}]
    params = {"model": GEMINI3, "store": False, "include": ENCRYPTED}
    if streamed:
        with client.responses.stream(input=input_, **params) as s:
            events = list(s)
            first = s.get_final_response()
        assert_sequence_numbers(events)
    else:
        first = client.responses.create(input=input_, **params)
    assert first.output_text == "Paris."
    # The reasoning item follows the message: streamed, a text part's signature may come only
    # after its last piece.
    assert [o.type for o in first.output] == ["message", "reasoning"]
    assert first.output[1].id.startswith("rs_") and first.output[1].encrypted_content
    input_ += [o.model_dump(exclude_none=True) for o in first.output]
    input_.append({"role": "user", "content": "Its population?"})
    client.responses.create(input=input_, **params)
    model_turn = mock.bodies()[1]["contents"][1]
    assert model_turn["role"] == "model"
    assert model_turn["parts"] == [{"text": "Paris.", "thoughtSignature": sig}]


# --- structured output ---------------------------------------------------------------------------


class CalendarEvent(BaseModel):
    name: str
    date: str
    participants: list[str]


EVENT = {"name": "Science fair", "date": "Friday", "participants": ["Alice", "Bob"]}


def test_parse_with_pydantic_model(client, mock):
    raw = json.dumps(EVENT)
    mock.push(text(raw[:20], raw[20:]))
    resp = client.responses.parse(
        model=FLASH,
        instructions="Extract the event information.",
        input="Alice and Bob are going to a science fair on Friday.",
        text_format=CalendarEvent,
    )
    assert resp.output_parsed == CalendarEvent(**EVENT)
    assert resp.output[0].content[0].parsed == CalendarEvent(**EVENT)

    config = mock.bodies()[0]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseJsonSchema"]
    assert set(schema["properties"]) == {"name", "date", "participants"}
    assert schema["required"] == ["name", "date", "participants"]


def test_stream_with_pydantic_text_format(client, mock):
    raw = json.dumps(EVENT)
    mock.push(text(raw[:10], raw[10:30], raw[30:]))
    with client.responses.stream(
        model=FLASH, input="Alice and Bob: science fair, Friday.", text_format=CalendarEvent,
    ) as stream:
        final = stream.get_final_response()
    assert final.output_parsed == CalendarEvent(**EVENT)


# --- tools ---------------------------------------------------------------------------------------


def test_parallel_function_calls_and_outputs(client, mock):
    tokyo = {"city": "Tokyo", "unit": "celsius"}
    mock.push(calls(("get_weather", PARIS), ("get_weather", tokyo)), text("Sunny in both."))
    first = client.responses.create(
        model=FLASH, input="Weather in Paris and Tokyo?", tools=TOOLS, tool_choice="auto")
    assert first.status == "completed"
    assert first.output_text == ""
    fcs = [o for o in first.output if o.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in fcs] == [
        ("get_weather", PARIS), ("get_weather", tokyo)]
    assert all(c.id.startswith("fc_") for c in fcs), [c.id for c in fcs]
    assert len({c.call_id for c in fcs}) == 2 and all(c.call_id for c in fcs)
    assert all(c.status == "completed" for c in fcs)

    replay = [{"role": "user", "content": "Weather in Paris and Tokyo?"}]
    replay += [o.model_dump(exclude_none=True) for o in first.output]
    replay += [{"type": "function_call_output", "call_id": c.call_id,
                "output": fake_tool(c.name, json.loads(c.arguments))} for c in fcs]
    second = client.responses.create(model=FLASH, input=replay, tools=TOOLS)
    assert second.output_text == "Sunny in both."

    first_up, second_up = mock.bodies()
    declared = [d["name"] for t in first_up["tools"] for d in t["functionDeclarations"]]
    assert declared == ["get_weather", "get_time"]
    assert first_up["toolConfig"]["functionCallingConfig"]["mode"] == "AUTO"
    assert [c["role"] for c in second_up["contents"]] == ["user", "model", "user"]
    assert [p["functionCall"]["args"] for p in second_up["contents"][1]["parts"]] == [PARIS, tokyo]
    assert [(r["name"], r["response"]["city"]) for r in function_responses(second_up)] == [
        ("get_weather", "Paris"), ("get_weather", "Tokyo")]


def test_tool_choice_required_and_named(client, mock):
    mock.push(calls(("get_time", PARIS_TIME)), calls(("get_time", {"city": "Oslo"})))
    client.responses.create(model=FLASH, input="time?", tools=TOOLS, tool_choice="required")
    named = client.responses.create(model=FLASH, input="time?", tools=TOOLS,
                                    tool_choice={"type": "function", "name": "get_time"})
    (call,) = named.output
    assert (call.type, call.name, json.loads(call.arguments)) == (
        "function_call", "get_time", {"city": "Oslo"})
    required, forced = (b["toolConfig"]["functionCallingConfig"] for b in mock.bodies())
    assert required["mode"] == "ANY"
    assert forced == {"mode": "ANY", "allowedFunctionNames": ["get_time"]}


PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"
APPLY_PATCH = {"type": "custom", "name": "apply_patch",
               "description": "Apply a patch in the V4A diff format."}


def test_custom_tool_call_round_trip(client, mock):
    sig = signature("custom-tool")
    mock.push(signed_call("apply_patch", {"input": PATCH}, sig), text("Patched."))
    input_ = [{"role": "user", "content": "Create hello.txt"}]
    first = client.responses.create(model=GEMINI3, input=input_, tools=[APPLY_PATCH],
                                    store=False, include=ENCRYPTED)
    (call,) = [o for o in first.output if o.type != "reasoning"]
    assert call.type == "custom_tool_call"
    assert call.name == "apply_patch"
    assert call.input == PATCH
    assert call.call_id

    input_ += [o.model_dump(exclude_none=True) for o in first.output]
    input_.append({"type": "custom_tool_call_output", "call_id": call.call_id, "output": "Done."})
    second = client.responses.create(model=GEMINI3, input=input_, tools=[APPLY_PATCH],
                                     store=False, include=ENCRYPTED)
    assert second.output_text == "Patched."

    first_up, second_up = mock.bodies()
    (declaration,) = first_up["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "apply_patch"
    schema = declaration.get("parametersJsonSchema") or declaration.get("parameters")
    assert schema["properties"]["input"]["type"] in ("string", "STRING")
    model_turn = second_up["contents"][1]
    assert model_turn["parts"][0]["functionCall"] == {"name": "apply_patch",
                                                      "args": {"input": PATCH}}
    assert signatures_sent(second_up) == [sig]
    assert [r["name"] for r in function_responses(second_up)] == ["apply_patch"]


# --- Gemini 3: thought signatures ----------------------------------------------------------------


def run_tool_loop(client, mock, *, include: bool, stream: bool = False, second_client=None):
    """Three model steps (get_weather, get_time, the answer), each request replaying the whole
    input so far: the user message, every output item of each response as the SDK returned
    it (reasoning items included) and the function outputs. Returns the scripted signatures,
    the responses and the upstream bodies."""
    sigs = [signature("weather"), signature("time")]
    mock.push(
        signed_call("get_weather", PARIS, sigs[0]),
        signed_call("get_time", PARIS_TIME, sigs[1]),
        text(FINAL),
    )
    input_: list = [{"role": "user", "content": "Weather and time in Paris?"}]
    extra = {"include": ENCRYPTED} if include else {}
    responses = []
    for step in range(3):
        c = second_client if (second_client is not None and step > 0) else client
        if stream:
            with c.responses.stream(model=GEMINI3, input=input_, tools=TOOLS, store=False,
                                    **extra) as s:
                events = list(s)
                resp = s.get_final_response()
            assert_sequence_numbers(events)
        else:
            resp = c.responses.create(model=GEMINI3, input=input_, tools=TOOLS, store=False,
                                      **extra)
        responses.append(resp)
        if step == 2:
            assert resp.status == "completed"
            assert resp.output_text == FINAL
            break
        fc = resp.output[-1]
        assert fc.type == "function_call", resp.output
        assert fc.id.startswith("fc_") and fc.call_id
        reasoning = [o for o in resp.output if o.type == "reasoning"]
        for r in reasoning:
            assert r.id.startswith("rs_"), r.id
        if include:
            # The signature travels in the reasoning item just before the call it signs.
            assert [o.type for o in resp.output] == ["reasoning", "function_call"], resp.output
            assert reasoning[0].encrypted_content, "include asked for encrypted_content"
        else:
            assert all(r.encrypted_content is None for r in reasoning), reasoning
        input_ += [o.model_dump(exclude_none=True) for o in resp.output]
        input_.append({"type": "function_call_output", "call_id": fc.call_id,
                       "output": fake_tool(fc.name, json.loads(fc.arguments))})
    return sigs, responses, mock.bodies()


def check_loop_upstream(sigs, bodies):
    assert len(bodies) == 3
    # Each request hands back exactly the signatures Gemini issued, never the skip value.
    assert signatures_sent(bodies[1]) == sigs[:1]
    assert signatures_sent(bodies[2]) == sigs
    assert [r["name"] for r in function_responses(bodies[2])] == ["get_weather", "get_time"]
    assert function_responses(bodies[2])[1]["response"] == {"city": "Paris", "time": "14:05"}


def test_gemini3_tool_loop_encrypted_content(client, mock):
    sigs, _, bodies = run_tool_loop(client, mock, include=True)
    check_loop_upstream(sigs, bodies)


def test_gemini3_tool_loop_without_include_uses_cache(client, mock):
    sigs, _, bodies = run_tool_loop(client, mock, include=False)
    check_loop_upstream(sigs, bodies)


def test_gemini3_tool_loop_streamed(client, mock):
    sigs, _, bodies = run_tool_loop(client, mock, include=True, stream=True)
    check_loop_upstream(sigs, bodies)


def test_gemini3_signature_survives_another_pollux_process(client, nokey_url, mock):
    # The second and third requests go to the other Pollux process, whose signature cache
    # never saw these calls: only encrypted_content can bring the signatures back.
    with openai.OpenAI(base_url=nokey_url, api_key="client-gemini-key", max_retries=0,
                       timeout=20) as other:
        sigs, _, bodies = run_tool_loop(client, mock, include=True, second_client=other)
    check_loop_upstream(sigs, bodies)


def test_gemini3_streamed_function_call_events(client, mock):
    sig = signature("stream-events")
    mock.push(signed_call("get_weather", PARIS, sig))
    with client.responses.stream(model=GEMINI3, input="Weather in Paris?", tools=TOOLS,
                                 store=False, include=ENCRYPTED) as s:
        events = list(s)
        final = s.get_final_response()
    assert_sequence_numbers(events)
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    added = [e.item.type for e in events if e.type == "response.output_item.added"]
    assert added == ["reasoning", "function_call"]
    fc_index = next(e.output_index for e in events if e.type == "response.output_item.added"
                    and e.item.type == "function_call")
    first_delta = kinds.index("response.function_call_arguments.delta")
    assert kinds.index("response.output_item.added") < first_delta
    args_done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert args_done.output_index == fc_index
    assert json.loads(args_done.arguments) == PARIS
    deltas = "".join(e.delta for e in events
                     if e.type == "response.function_call_arguments.delta")
    assert json.loads(deltas) == PARIS
    assert [o.type for o in final.output] == ["reasoning", "function_call"]
    assert final.output[0].encrypted_content


# --- errors --------------------------------------------------------------------------------------


def test_bad_input_is_400_naming_its_path(client, mock):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=FLASH, input=[{"role": "user", "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": "not a url"},
        ]}])
    err = info.value
    assert err.status_code == 400
    assert err.type == "invalid_request_error"
    assert err.param == "input[0].content[1].image_url"
    assert mock.requests() == []


def test_unknown_call_id_is_400(client, mock):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=FLASH, tools=TOOLS, input=[
            {"role": "user", "content": "Weather?"},
            {"type": "function_call_output", "call_id": "call_nowhere", "output": "{}"},
        ])
    assert info.value.param and info.value.param.startswith("input[1]"), info.value.param
    assert "call_nowhere" in info.value.message
    assert mock.requests() == []


def test_hosted_tool_gemini_cannot_serve_is_400(client, mock):
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=FLASH, input="Find it.",
                                tools=[{"type": "computer_use_preview", "display_width": 1024,
                                        "display_height": 768, "environment": "browser"}])
    assert "computer_use_preview" in info.value.message
    assert info.value.param and info.value.param.startswith("tools[0]"), info.value.param
    assert mock.requests() == []


def test_gemini_error_reaches_the_sdk(client, mock):
    mock.push({"kind": "json", "status": 429, "body": {"error": {
        "code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED"}}})
    with pytest.raises(openai.RateLimitError) as info:
        client.responses.create(model=FLASH, input="hi")
    assert info.value.status_code == 429
