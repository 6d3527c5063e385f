"""Structured outputs: `chat.completions.parse()` with a Pydantic model, and JSON mode."""

from __future__ import annotations

import json

from pydantic import BaseModel

from conftest import text


class CalendarEvent(BaseModel):
    name: str
    date: str
    participants: list[str]


EVENT = {"name": "Science fair", "date": "Friday", "participants": ["Alice", "Bob"]}


def test_parse_with_pydantic_model(client, mock):
    # Gemini writes the JSON text in pieces; a plain answer joins them.
    raw = json.dumps(EVENT)
    mock.push(text(raw[:20], raw[20:]))
    completion = client.chat.completions.parse(
        model="gemini-2.5-flash",
        messages=[
            {"role": "system", "content": "Extract the event information."},
            {"role": "user", "content": "Alice and Bob are going to a science fair on Friday."},
        ],
        response_format=CalendarEvent,
    )
    message = completion.choices[0].message
    assert message.parsed == CalendarEvent(**EVENT)
    assert message.refusal is None

    config = mock.bodies()[0]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseJsonSchema"]
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"name", "date", "participants"}
    assert schema["required"] == ["name", "date", "participants"]


def test_parse_streamed_with_pydantic_model(client, mock):
    raw = json.dumps(EVENT)
    mock.push(text(raw[:10], raw[10:30], raw[30:]))
    with client.chat.completions.stream(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Alice and Bob: science fair, Friday."}],
        response_format=CalendarEvent,
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == CalendarEvent(**EVENT)


def test_json_object_mode(client, mock):
    mock.push(text('{"ok": true}'))
    completion = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "Reply with a JSON object."}],
        response_format={"type": "json_object"},
    )
    assert json.loads(completion.choices[0].message.content) == {"ok": True}
    config = mock.bodies()[0]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert "responseJsonSchema" not in config
