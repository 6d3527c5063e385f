"""Gemini's built-in tools through the openai SDK: code execution on chat (asked for in
`extra_body.google.tools`) and the Responses API's `code_interpreter`, answered with what each
SDK keeps: fenced blocks plus `extra_content` on chat, `code_interpreter_call` items on
Responses."""

from __future__ import annotations

import openai

CODE = "print(2 + 3)"


def code_answer() -> dict:
    """Gemini's code-execution parts: text, the code, its result, the conclusion."""
    return {"kind": "answer", "chunks": [
        [{"text": "Let me run it."}],
        [{"executableCode": {"language": "PYTHON", "code": CODE}}],
        [{"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "5\n"}}],
        [{"text": "It is 5."}],
    ]}


def test_chat_code_execution(client: openai.OpenAI, mock):
    mock.push(code_answer())
    out = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "What is 2 + 3? Run code."}],
        extra_body={"google": {"tools": [{"code_execution": {}}]}},
    )
    message = out.choices[0].message
    assert message.content == (
        "Let me run it.\n```python\nprint(2 + 3)\n```\n```output\n5\n```\nIt is 5."
    )
    steps = message.model_extra["extra_content"]["google"]["code_execution"]
    assert steps == [
        {"type": "executable_code", "language": "PYTHON", "code": CODE},
        {"type": "code_execution_result", "outcome": "OUTCOME_OK", "output": "5\n"},
    ]
    (sent,) = mock.requests()
    assert sent["json"]["tools"] == [{"codeExecution": {}}]


def test_responses_code_interpreter(client: openai.OpenAI, mock):
    mock.push(code_answer())
    out = client.responses.create(
        model="gemini-2.5-flash",
        input="What is 2 + 3? Run code.",
        tools=[{"type": "code_interpreter", "container": {"type": "auto"}}],
    )
    calls = [item for item in out.output if item.type == "code_interpreter_call"]
    assert len(calls) == 1
    assert calls[0].code == CODE
    assert calls[0].status == "completed"
    assert calls[0].outputs[0].type == "logs"
    assert calls[0].outputs[0].logs == "5\n"
    assert out.output_text.endswith("It is 5.")
