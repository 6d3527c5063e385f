"""The `openai` SDK on Pollux's stored responses (issue 16): `store` defaults to true, as on
OpenAI, so every response a test creates can be read back (`responses.retrieve`), deleted
(`responses.delete`), listed by its input items (`responses.input_items.list`, paged), continued
by `previous_response_id` and referred to by `item_reference`; `responses.input_tokens.count`
counts a request's input through Gemini's `countTokens`.

The Gemini 3 chain runs with mock-gemini's signature checks on: each turn sends only the new
function output and the id of the turn before, so the thought signatures Gemini issued can only
come back from what Pollux kept, and the mock's recorded requests must show those very
signatures, never the documented skip value.

Background responses (`background: true`: answered at once, polled with `retrieve`, stopped
with `responses.cancel`, streamed and resumed with `starting_after`) are at the end.
"""

from __future__ import annotations

import json
import time

import openai
import pytest

from conftest import (
    POLLUX_URL,
    function_responses,
    signature,
    signatures_sent,
    signed_call,
    text,
)

FLASH = "gemini-2.5-flash"
GEMINI3 = "gemini-3-pro-preview"
SKIP_VALIDATOR = "skip_thought_signature_validator"

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
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
PARIS = {"city": "Paris"}
WEATHER = {"city": "Paris", "temperature": 21, "sky": "sunny"}
TIME = {"city": "Paris", "time": "14:05"}
FINAL = "It is 14:05 and sunny in Paris."


def contents_text(body: dict) -> list[tuple[str, str]]:
    """(role, joined text) of each upstream content that has text."""
    out = []
    for c in body["contents"]:
        joined = "".join(p.get("text", "") for p in c["parts"])
        if joined:
            out.append((c["role"], joined))
    return out


# --- retrieve and delete -------------------------------------------------------------------------


def test_retrieve_returns_what_create_returned(client, mock):
    mock.push(text("Bonjour ", "!"))
    created = client.responses.create(model=FLASH, instructions="Answer in French.",
                                      input="Say hello.", metadata={"case": "retrieve"})
    assert created.status == "completed"
    assert created.store is not False, "store defaults to true"

    got = client.responses.retrieve(created.id)
    assert got.model_dump() == created.model_dump()
    assert got.output_text == "Bonjour !"
    assert got.metadata == {"case": "retrieve"}
    # Reading a stored response does not call Gemini.
    assert len(mock.requests()) == 1


def test_retrieve_returns_what_the_stream_ended_with(client, mock):
    mock.push(text("one ", "two ", "three"))
    with client.responses.create(model=FLASH, input="Count.", stream=True) as stream:
        events = list(stream)
    assert events[-1].type == "response.completed"
    final = events[-1].response
    got = client.responses.retrieve(final.id)
    assert got.model_dump() == final.model_dump()
    assert got.output_text == "one two three"


def test_delete_then_retrieve_is_not_found(client, mock):
    mock.push(text("Short-lived."))
    created = client.responses.create(model=FLASH, input="Hi.")

    raw = client.responses.with_raw_response.delete(created.id)
    assert raw.status_code == 200
    assert json.loads(raw.text) == {"id": created.id, "object": "response", "deleted": True}

    with pytest.raises(openai.NotFoundError) as info:
        client.responses.retrieve(created.id)
    assert info.value.status_code == 404
    assert created.id in info.value.message and "deleted" in info.value.message
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list(created.id)


def test_delete_returns_none_in_the_sdk(client, mock):
    mock.push(text("Gone soon."))
    created = client.responses.create(model=FLASH, input="Hi.")
    assert client.responses.delete(created.id) is None
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_store_false_is_never_found(client, mock):
    mock.push(text("Not kept."))
    created = client.responses.create(model=FLASH, input="Hi.", store=False)
    assert created.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model=FLASH, input="Again.", previous_response_id=created.id)
    assert info.value.param == "previous_response_id"
    assert len(mock.requests()) == 1


def test_unknown_id_is_404(client, mock):
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.retrieve("resp_doesnotexist")
    assert info.value.status_code == 404
    assert "resp_doesnotexist" in info.value.message


# --- input items ---------------------------------------------------------------------------------

MESSAGES = [
    {"role": "developer", "content": "Be terse."},
    {"role": "user", "content": "One?"},
    {"type": "message", "role": "assistant",
     "content": [{"type": "output_text", "text": "1", "annotations": []}]},
    {"role": "user", "content": "Two?"},
    {"type": "message", "role": "assistant",
     "content": [{"type": "output_text", "text": "2", "annotations": []}]},
    {"role": "user", "content": [{"type": "input_text", "text": "Three?"}]},
]


def texts(items) -> list[tuple[str, str]]:
    return [(i.role, i.content[0].text) for i in items]


EXPECTED_ASC = [("developer", "Be terse."), ("user", "One?"), ("assistant", "1"),
                ("user", "Two?"), ("assistant", "2"), ("user", "Three?")]


def test_input_items_list_orders(client, mock):
    mock.push(text("3"))
    created = client.responses.create(model=FLASH, input=MESSAGES)

    page = client.responses.input_items.list(created.id)
    # OpenAI's default order is newest first.
    assert texts(page.data) == EXPECTED_ASC[::-1]
    assert page.has_more is False
    assert all(i.type == "message" and i.id for i in page.data)
    assert len({i.id for i in page.data}) == len(MESSAGES)
    assert page.first_id == page.data[0].id and page.last_id == page.data[-1].id

    asc = client.responses.input_items.list(created.id, order="asc")
    assert texts(asc.data) == EXPECTED_ASC
    assert [i.id for i in asc.data] == [i.id for i in page.data][::-1]
    # The output is not an input item.
    assert created.output[0].id not in {i.id for i in asc.data}


def test_input_items_pagination_limit_after_and_auto_paging(client, mock):
    mock.push(text("3"))
    created = client.responses.create(model=FLASH, input=MESSAGES)

    first = client.responses.input_items.list(created.id, limit=4, order="asc")
    assert texts(first.data) == EXPECTED_ASC[:4]
    assert first.has_more is True
    assert first.has_next_page()
    second = first.get_next_page()
    assert texts(second.data) == EXPECTED_ASC[4:]
    assert second.has_more is False
    assert not second.has_next_page()

    after = client.responses.input_items.list(created.id, order="asc", after=first.data[1].id,
                                              limit=2)
    assert texts(after.data) == EXPECTED_ASC[2:4]
    assert after.has_more is True

    # Auto-paging: iterating the page fetches the rest, two at a time.
    sent: list[str] = []
    http = openai.DefaultHttpxClient(event_hooks={"request": [lambda r: sent.append(str(r.url))]})
    with openai.OpenAI(base_url=POLLUX_URL, api_key="sk-ignored", max_retries=0, timeout=20,
                       http_client=http) as c:
        items = list(c.responses.input_items.list(created.id, limit=2))
    assert texts(items) == EXPECTED_ASC[::-1]
    assert len(sent) == 3, sent
    assert all("limit=2" in u for u in sent)
    assert "after=" not in sent[0] and all("after=" in u for u in sent[1:])


def test_input_items_of_a_function_call_output(client, mock):
    sig = signature("input-items-fc")
    mock.push(signed_call("get_weather", PARIS, sig), text("Sunny."))
    first = client.responses.create(model=GEMINI3, input="Weather in Paris?", tools=TOOLS)
    (call,) = [o for o in first.output if o.type == "function_call"]
    output = {"type": "function_call_output", "call_id": call.call_id,
              "output": json.dumps(WEATHER)}
    second = client.responses.create(model=GEMINI3, previous_response_id=first.id,
                                     input=[output], tools=TOOLS)
    (item,) = client.responses.input_items.list(second.id).data
    assert item.type == "function_call_output"
    assert item.call_id == call.call_id
    assert json.loads(item.output) == WEATHER
    assert item.id


def test_bad_input_items_parameters_are_400(client, mock):
    mock.push(text("ok"))
    created = client.responses.create(model=FLASH, input="Hi.")
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.input_items.list(created.id, limit=0)
    assert info.value.param == "limit"
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.input_items.list(created.id, after="msg_nowhere")
    assert info.value.param == "after"


# --- previous_response_id ------------------------------------------------------------------------


def test_previous_response_id_text_chain(client, mock):
    mock.push(text("Paris."), text("About 2.1 million."))
    first = client.responses.create(model=FLASH, instructions="Be brief.",
                                    input="Capital of France?")
    second = client.responses.create(model=FLASH, previous_response_id=first.id,
                                     input="Its population?")
    assert second.previous_response_id == first.id
    assert second.output_text == "About 2.1 million."
    assert second.instructions is None

    one, two = mock.bodies()
    assert one["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    # Instructions do not carry over (OpenAI's rule); the conversation does.
    assert "systemInstruction" not in two
    assert contents_text(two) == [("user", "Capital of France?"), ("model", "Paris."),
                                  ("user", "Its population?")]


def run_chain(client, mock, *, streamed: bool):
    """Three turns chained by `previous_response_id` on Gemini 3: get_weather, get_time, the
    answer. Each turn after the first sends only its function output."""
    sigs = [signature(f"chain-weather-{streamed}"), signature(f"chain-time-{streamed}")]
    mock.push(
        signed_call("get_weather", PARIS, sigs[0]),
        signed_call("get_time", PARIS, sigs[1]),
        text("It is 14:05 ", "and sunny in Paris."),
    )
    previous = None
    input_: list | str = "Weather and time in Paris?"
    responses = []
    for step in range(3):
        params = {"model": GEMINI3, "input": input_, "tools": TOOLS}
        if previous:
            params["previous_response_id"] = previous
        if streamed:
            with client.responses.stream(**params) as s:
                events = list(s)
                resp = s.get_final_response()
            numbers = [e.sequence_number for e in events]
            assert numbers == sorted(set(numbers)), numbers
            assert events[-1].type == "response.completed"
        else:
            resp = client.responses.create(**params)
        assert resp.status == "completed"
        assert resp.previous_response_id == previous
        responses.append(resp)
        if step == 2:
            break
        (call,) = [o for o in resp.output if o.type == "function_call"]
        # Nothing of the signature reaches the client without `include`.
        assert all(o.encrypted_content is None for o in resp.output if o.type == "reasoning")
        result = WEATHER if call.name == "get_weather" else TIME
        input_ = [{"type": "function_call_output", "call_id": call.call_id,
                   "output": json.dumps(result)}]
        previous = resp.id
    return sigs, responses, mock.bodies()


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
def test_gemini3_three_turn_chain_by_previous_response_id(client, mock, streamed):
    sigs, responses, bodies = run_chain(client, mock, streamed=streamed)
    assert responses[2].output_text == FINAL
    assert [r.output[-1].type for r in responses] == ["function_call", "function_call", "message"]

    assert len(bodies) == 3
    # The whole conversation goes to Gemini each turn, rebuilt from the store, each call with
    # the signature Gemini issued (the mock checked it and would have answered 400).
    assert signatures_sent(bodies[1]) == sigs[:1]
    assert signatures_sent(bodies[2]) == sigs
    assert SKIP_VALIDATOR not in json.dumps(bodies)
    assert [c["role"] for c in bodies[2]["contents"]] == ["user", "model", "user", "model", "user"]
    assert bodies[2]["contents"][0]["parts"] == [{"text": "Weather and time in Paris?"}]
    assert [(r["name"], r["response"]) for r in function_responses(bodies[2])] == [
        ("get_weather", WEATHER), ("get_time", TIME)]

    # The stored last turn reads back as it was returned.
    assert client.responses.retrieve(responses[2].id).output_text == FINAL


def test_unknown_previous_response_id_is_404(client, mock):
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model=FLASH, input="Hello again.",
                                previous_response_id="resp_0123456789abcdef")
    err = info.value
    assert err.status_code == 404
    assert err.param == "previous_response_id"
    assert "resp_0123456789abcdef" in err.message
    assert mock.requests() == []


def test_deleted_previous_response_id_is_404_that_says_so(client, mock):
    mock.push(text("First."))
    first = client.responses.create(model=FLASH, input="Hi.")
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model=FLASH, input="Next.", previous_response_id=first.id)
    assert info.value.param == "previous_response_id"
    assert "deleted" in info.value.message
    assert len(mock.requests()) == 1


def test_item_reference_resolves_to_the_stored_item(client, mock):
    mock.push(text("Paris."), text("2.1 million."))
    first = client.responses.create(model=FLASH, input="Capital of France?", store=True)
    (message,) = first.output
    user_item = client.responses.input_items.list(first.id).data[0]
    second = client.responses.create(model=FLASH, input=[
        {"type": "item_reference", "id": user_item.id},
        {"type": "item_reference", "id": message.id},
        {"role": "user", "content": "Its population?"},
    ])
    assert second.output_text == "2.1 million."
    assert contents_text(mock.bodies()[1]) == [
        ("user", "Capital of France?"), ("model", "Paris."), ("user", "Its population?")]

    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model=FLASH, input=[{"type": "item_reference", "id": "msg_nope"}])
    assert info.value.param == "input[0]"


# --- input token counting ------------------------------------------------------------------------


def test_input_tokens_count(client, mock):
    question = "How many tokens are in this question, more or less?"
    counted = client.responses.input_tokens.count(model=FLASH, instructions="Be brief.",
                                                  input=question, tools=TOOLS)
    assert counted.object == "response.input_tokens"
    assert isinstance(counted.input_tokens, int) and counted.input_tokens > 0
    (upstream,) = mock.requests()
    assert upstream["path"] == f"/v1beta/models/{FLASH}:countTokens"
    inner = upstream["json"]["generateContentRequest"]
    assert inner["model"] == f"models/{FLASH}"
    assert inner["contents"] == [{"role": "user", "parts": [{"text": question}]}]
    assert inner["systemInstruction"]["parts"] == [{"text": "Be brief."}]

    # The same input generated: Gemini's prompt count is what countTokens said.
    mock.push(text("Twelve."))
    resp = client.responses.create(model=FLASH, instructions="Be brief.", input=question,
                                   tools=TOOLS)
    assert resp.usage.input_tokens == counted.input_tokens


def test_input_tokens_count_with_previous_response_id(client, mock):
    mock.push(text("Paris is the capital of France, on the Seine."))
    first = client.responses.create(model=FLASH, input="Capital of France?")
    alone = client.responses.input_tokens.count(model=FLASH, input="And of Italy?")
    chained = client.responses.input_tokens.count(model=FLASH, input="And of Italy?",
                                                  previous_response_id=first.id)
    assert chained.input_tokens > alone.input_tokens
    counted = mock.bodies()[2]["generateContentRequest"]
    assert contents_text(counted) == [
        ("user", "Capital of France?"), ("model", "Paris is the capital of France, on the Seine."),
        ("user", "And of Italy?")]

    mock.push(text("Rome."))
    second = client.responses.create(model=FLASH, input="And of Italy?",
                                     previous_response_id=first.id)
    assert second.usage.input_tokens == chained.input_tokens

    with pytest.raises(openai.NotFoundError) as info:
        client.responses.input_tokens.count(model=FLASH, input="x",
                                            previous_response_id="resp_unknown")
    assert info.value.param == "previous_response_id"


# --- background ----------------------------------------------------------------------------------

RUNNING = ("queued", "in_progress")


def poll(client, response_id: str, until=lambda r: r.status not in RUNNING, timeout: float = 10):
    """retrieve until `until(response)` holds; every status seen, and the last response."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        resp = client.responses.retrieve(response_id)
        if not seen or seen[-1] != resp.status:
            seen.append(resp.status)
        if until(resp):
            return seen, resp
        assert time.monotonic() < deadline, f"still {resp.status} after {timeout} s"
        time.sleep(0.02)


def wait_mock(mock, until, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, mock.stats()
        time.sleep(0.02)


def slow_stream(pieces: list[str], delay_ms: int) -> dict:
    """A scripted Gemini stream: one event per piece, `delay_ms` before each after the first,
    the last with STOP and usage."""
    steps: list = []
    for i, piece in enumerate(pieces):
        if i:
            steps.append({"delay_ms": delay_ms})
        candidate = {"content": {"role": "model", "parts": [{"text": piece}]}, "index": 0}
        event: dict = {"candidates": [candidate]}
        if i == len(pieces) - 1:
            candidate["finishReason"] = "STOP"
            event["usageMetadata"] = {"promptTokenCount": 4, "candidatesTokenCount": 6,
                                      "totalTokenCount": 10}
        steps.append({"event": event})
    return {"kind": "stream", "steps": steps}


def test_background_create_then_poll_until_completed(client, mock):
    mock.push(slow_stream(["Done ", "in the ", "background."], 100))
    created = client.responses.create(model=FLASH, input="Work on this.", background=True)
    assert created.id.startswith("resp_")
    assert created.background is True
    assert created.status in RUNNING
    assert created.output == []

    seen, final = poll(client, created.id)
    assert final.status == "completed"
    assert seen[-1] == "completed" and set(seen[:-1]) <= set(RUNNING), seen
    assert final.output_text == "Done in the background."
    assert final.background is True
    assert final.usage.input_tokens == 4
    assert len(mock.requests()) == 1
    # A finished background response is stored like any other.
    assert client.responses.retrieve(created.id).model_dump() == final.model_dump()
    assert texts(client.responses.input_items.list(created.id).data) == [("user", "Work on this.")]
    # And continued like any other.
    mock.push(text("Continued."))
    after = client.responses.create(model=FLASH, input="Go on.", previous_response_id=created.id)
    assert after.output_text == "Continued."
    assert contents_text(mock.bodies()[1]) == [
        ("user", "Work on this."), ("model", "Done in the background."), ("user", "Go on.")]


def test_background_cancel_stops_the_upstream_request(client, mock):
    mock.push(slow_stream(["Thinking ", "very ", "slowly."], 30_000))
    created = client.responses.create(model=FLASH, input="Take your time.", background=True)
    assert created.status in RUNNING
    # Cancel once Gemini is answering: the upstream stream is open.
    wait_mock(mock, lambda: mock.stats()["open_streams"] == 1)

    cancelled = client.responses.cancel(created.id)
    assert cancelled.id == created.id
    assert cancelled.status == "cancelled"
    assert client.responses.retrieve(created.id).status == "cancelled"
    # Pollux dropped the upstream request rather than waiting out the 30 s stream.
    wait_mock(mock, lambda: mock.stats()["cancelled_streams"] == 1)
    assert mock.stats()["open_streams"] == 0
    # Cancelling again answers the same cancelled response.
    assert client.responses.cancel(created.id).status == "cancelled"


def test_background_stream_resumes_with_starting_after(client, mock):
    pieces = ["one ", "two ", "three"]
    mock.push(slow_stream(pieces, 200))
    first_part = []
    stream = client.responses.create(model=FLASH, input="Count slowly.", background=True,
                                     stream=True)
    with stream:
        for event in stream:
            first_part.append(event)
            if event.type == "response.output_text.delta":
                break  # The connection drops after the first delta.
    created = first_part[0]
    assert created.type == "response.created"
    assert created.response.background is True
    response_id = created.response.id
    last_seen = first_part[-1].sequence_number

    resumed = list(client.responses.retrieve(response_id, stream=True,
                                             starting_after=last_seen))
    assert resumed, "no events after the reconnect"
    numbers = [e.sequence_number for e in first_part + resumed]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), numbers
    assert resumed[-1].type == "response.completed"
    deltas = [e.delta for e in first_part + resumed if e.type == "response.output_text.delta"]
    assert deltas == pieces
    assert resumed[-1].response.output_text == "one two three"

    # Leaving the first stream did not cancel the background response.
    _, final = poll(client, response_id)
    assert final.status == "completed"
    assert final.output_text == "one two three"

    # The SDK's stream helper resumes the same way.
    with client.responses.stream(response_id=response_id, starting_after=last_seen) as s:
        again = list(s)
    assert [e.sequence_number for e in again] == [e.sequence_number for e in resumed]


def test_background_stream_cancelled_while_streaming(client, mock):
    mock.push(slow_stream(["Thinking ", "very ", "slowly."], 30_000))
    events = []
    started = time.monotonic()
    with client.responses.create(model=FLASH, input="Take your time.", background=True,
                                 stream=True) as stream:
        for event in stream:
            events.append(event)
            if event.type == "response.output_text.delta":
                cancelled = client.responses.cancel(events[0].response.id)
                assert cancelled.status == "cancelled"
    # The stream the client holds ends at the cancel, not after the scripted 30 s.
    assert time.monotonic() - started < 10
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(numbers))), numbers
    assert [d.delta for d in events if d.type == "response.output_text.delta"] == ["Thinking "]
    assert not any(e.type == "response.completed" for e in events)
    response_id = events[0].response.id
    assert client.responses.retrieve(response_id).status == "cancelled"
    wait_mock(mock, lambda: mock.stats()["cancelled_streams"] == 1)


def test_resuming_a_stream_that_does_not_exist(client, mock):
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_unknown", stream=True, starting_after=3)
    # A stored response that was not run in the background has no stream to resume.
    mock.push(text("Plain."))
    created = client.responses.create(model=FLASH, input="Hi.")
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.retrieve(created.id, stream=True)
    assert info.value.param == "stream"


def test_cancel_of_a_response_not_in_background_is_400(client, mock):
    mock.push(text("Already done."))
    created = client.responses.create(model=FLASH, input="Hi.")
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.cancel(created.id)
    assert "background" in info.value.message
    with pytest.raises(openai.NotFoundError):
        client.responses.cancel("resp_unknown")
