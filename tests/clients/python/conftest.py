"""Fixtures for the Python client suites: the `openai` SDK (test_responses.py for the Responses
API), LangChain (`langchain-openai`, test_langchain*.py), the OpenAI Agents SDK
(`openai-agents`, test_agents*.py) and pydantic-ai (`pydantic-ai-slim`, test_pydantic_ai.py).

`tests/clients/run.sh` starts mock-gemini and two Pollux processes and passes their addresses
in the environment: MOCK_URL, POLLUX_URL (Pollux with GEMINI_API_KEY set), POLLUX_NOKEY_URL
(Pollux forwarding each client's bearer key), POLLUX_VERTEX_URL (Pollux with --upstream
vertex; the chat, tools and streaming tests that take `either_client` run against it too).
Every test starts from a reset mock, scripts
the Gemini answers it needs through the mock's HTTP control API, and may read back what
Pollux sent upstream.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.request
from importlib.metadata import version
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

MOCK_URL = os.environ.get("MOCK_URL", "")
POLLUX_URL = os.environ.get("POLLUX_URL", "")
POLLUX_NOKEY_URL = os.environ.get("POLLUX_NOKEY_URL", "")
# Pollux with --upstream vertex (project proj-1, us-central1, tokens from the mock).
POLLUX_VERTEX_URL = os.environ.get("POLLUX_VERTEX_URL", "")

# The key Pollux is started with (run.sh), i.e. what the mock must receive.
SERVER_KEY = "test-key"


class Mock:
    """The mock-gemini control API: scenarios in, recorded upstream requests out."""

    def __init__(self, base: str) -> None:
        self.base = base

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def reset(self) -> None:
        self._call("POST", "/_mock/reset", {})

    def push(self, *scenarios: dict[str, Any]) -> None:
        """Queue scenarios, answered in order by the next model requests."""
        self._call("POST", "/_mock/scenarios", list(scenarios))

    def requests(self) -> list[dict[str, Any]]:
        """Every upstream request so far, each with its body parsed into `json`."""
        out = self._call("GET", "/_mock/requests")
        for r in out:
            try:
                r["json"] = json.loads(r["body"]) if r["body"] else None
            except ValueError:
                r["json"] = None
        return out

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_mock/stats")

    def bodies(self) -> list[dict[str, Any]]:
        return [r["json"] for r in self.requests()]


# --- scenario builders (JSON form documented in crates/mock-gemini/src/scenario.rs) ---------


def text(*pieces: str, finish_reason: str = "STOP") -> dict[str, Any]:
    """A text answer; streamed, one event per piece."""
    return {
        "kind": "answer",
        "chunks": [[{"text": p}] for p in pieces],
        "finish_reason": finish_reason,
    }


def calls(*named_args: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """Parallel function calls; streamed, one event per call as Gemini sends them."""
    return {
        "kind": "answer",
        "chunks": [[{"functionCall": {"name": n, "args": a}}] for n, a in named_args],
    }


def gemini_error(status: int, code: str, message: str, details: list | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if details:
        error["details"] = details
    return {"kind": "json", "status": status, "body": {"error": error}}


def response(parts: list[dict[str, Any]], usage: dict[str, Any], finish: str = "STOP") -> dict[str, Any]:
    """One whole `GenerateContentResponse` body."""
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": finish,
                "index": 0,
            }
        ],
        "usageMetadata": usage,
    }


def signature(label: str) -> str:
    """A scripted Gemini 3 thought signature (opaque base64, as Gemini's are)."""
    return base64.b64encode(f"scripted-signature:{label}".encode()).decode()


def signed_call(name: str, args: dict[str, Any], sig: str) -> dict[str, Any]:
    """A Gemini 3 function call answer carrying the signature `sig`, which the mock remembers
    as issued and checks when it comes back."""
    return {"kind": "answer", "chunks": [[{"functionCall": {"name": name, "args": args},
                                           "thoughtSignature": sig}]]}


def signatures_sent(body: dict[str, Any]) -> list[str | None]:
    """The thoughtSignature of every model functionCall part of an upstream body, in order."""
    return [
        p.get("thoughtSignature")
        for c in body["contents"] if c["role"] == "model"
        for p in c["parts"] if "functionCall" in p
    ]


def function_responses(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every functionResponse part of an upstream body, in order."""
    return [p["functionResponse"] for c in body["contents"] for p in c["parts"]
            if "functionResponse" in p]


# The seed document's usage: Gemini counts thoughts apart from candidates; OpenAI's
# completion_tokens include them.
SEED_USAGE = {
    "promptTokenCount": 5,
    "candidatesTokenCount": 153,
    "thoughtsTokenCount": 869,
    "totalTokenCount": 1027,
}


def assert_seed_usage(usage: dict[str, Any]) -> None:
    """SEED_USAGE as LangChain reports it: Gemini counts thoughts apart, OpenAI's completion
    tokens (LangChain's output) include them, as reasoning."""
    assert usage["input_tokens"] == 5
    assert usage["output_tokens"] == 153 + 869
    assert usage["total_tokens"] == 1027
    assert usage["output_token_details"]["reasoning"] == 869


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _servers_configured() -> None:
    if not (MOCK_URL and POLLUX_URL and POLLUX_NOKEY_URL and POLLUX_VERTEX_URL):
        pytest.exit("run these tests through tests/clients/run.sh (MOCK_URL/POLLUX_URL unset)", 2)


@pytest.fixture
def mock() -> Mock:
    m = Mock(MOCK_URL)
    m.reset()
    return m


@pytest.fixture
def client() -> openai.OpenAI:
    with openai.OpenAI(base_url=POLLUX_URL, api_key="sk-ignored", max_retries=0, timeout=20) as c:
        yield c


@pytest.fixture(params=["gemini-api", "vertex"])
def either_client(request) -> openai.OpenAI:
    """A client of the Pollux in front of the Gemini API, then of the one in front of Vertex AI."""
    url = POLLUX_VERTEX_URL if request.param == "vertex" else POLLUX_URL
    with openai.OpenAI(base_url=url, api_key="sk-ignored", max_retries=0, timeout=20) as c:
        yield c


def model_path(client: openai.OpenAI, model: str, method: str) -> str:
    """The upstream path of a model call made through `client`'s Pollux."""
    if str(client.base_url).rstrip("/") == POLLUX_VERTEX_URL.rstrip("/"):
        return f"/v1/projects/proj-1/locations/us-central1/publishers/google/models/{model}:{method}"
    return f"/v1beta/models/{model}:{method}"


def assert_upstream_auth(client: openai.OpenAI, sent: dict[str, Any]) -> None:
    """The Gemini API gets the server key; Vertex AI a bearer token and no key."""
    if str(client.base_url).rstrip("/") == POLLUX_VERTEX_URL.rstrip("/"):
        assert sent["headers"]["authorization"].startswith("Bearer mock-vertex-token-")
        assert "x-goog-api-key" not in sent["headers"]
    else:
        assert sent["headers"]["x-goog-api-key"] == SERVER_KEY


@pytest.fixture
def aclient() -> openai.AsyncOpenAI:
    # Each async test drives its own event loop with asyncio.run; the client is made per test.
    return openai.AsyncOpenAI(base_url=POLLUX_URL, api_key="sk-ignored", max_retries=0, timeout=20)


@pytest.fixture
def nokey_url() -> str:
    return POLLUX_NOKEY_URL


# --- LangChain (test_langchain*.py) ------------------------------------------------------------
# The chat and Responses modules drive the same ChatOpenAI, the replicas module the same tool
# loop: one copy here keeps the three asserting the same thing the same way.


class Recorder:
    """The paths and JSON bodies LangChain posted to Pollux (what the client really sends)."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> None:
        self.paths.append(request.url.path)
        self.bodies.append(json.loads(request.read()))


@pytest.fixture
def sent() -> Recorder:
    return Recorder()


@pytest.fixture
def chat(request, sent):
    """`chat(model, **kwargs)`: a ChatOpenAI on Pollux whose requests are recorded in `sent`.
    The test module's `CHAT_DEFAULTS` apply to each (`use_responses_api=True` for the
    Responses API module), so the modules differ only in what they say they differ in."""
    defaults = getattr(request.module, "CHAT_DEFAULTS", {})
    clients: list[httpx.Client] = []

    def make(model: str = "gemini-2.5-flash", **kwargs) -> ChatOpenAI:
        http = httpx.Client(event_hooks={"request": [sent]}, timeout=20)
        clients.append(http)
        return ChatOpenAI(model=model, base_url=POLLUX_URL, api_key="test-key", max_retries=0,
                          timeout=20, http_client=http, **defaults, **kwargs)

    yield make
    for http in clients:
        http.close()


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


# The LangChain tool loop: its tools by name, the calls Gemini makes in order, its last word.
LOOP_TOOLS = {"get_weather": get_weather, "get_time": get_time}
LOOP_CALLS = [("get_weather", {"city": "Paris"}), ("get_time", {"city": "Paris"})]
LOOP_ANSWER = "It is 14:05 and sunny in Paris."
LOOP_QUESTION = "What is the weather and the time in Paris?"


def push_tool_loop(mock: Mock, sig1: str, sig2: str) -> None:
    """Scripts the loop's three Gemini 3 turns: the two signed calls of LOOP_CALLS, then
    LOOP_ANSWER; and clears TOOL_RUNS so the test sees only its own tool runs."""
    (name1, args1), (name2, args2) = LOOP_CALLS
    mock.push(signed_call(name1, args1, sig1), signed_call(name2, args2, sig2), text(LOOP_ANSWER))
    TOOL_RUNS.clear()


def add_up(chunks):
    """The chunks of a LangChain stream added into one message, the way LangChain merges them."""
    whole = None
    for chunk in chunks:
        whole = chunk if whole is None else whole + chunk
    return whole


def assert_stream_usage(usage: dict[str, Any] | None) -> None:
    """A streamed answer's added-up usage: present, some input, and a total that adds up."""
    assert usage is not None
    assert usage["input_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def step(llm, messages: list, streamed: bool):
    """One model turn of a LangChain loop: `invoke`, or `stream` with the chunks added up."""
    return add_up(llm.stream(messages)) if streamed else llm.invoke(messages)


def run_tool_loop(llm, streamed: bool) -> tuple[list[tuple[Any, dict]], Any]:
    """Drives the loop from LOOP_QUESTION to its end, running each call of LOOP_CALLS as it
    comes; returns each turn's AI message with the call it made, and the final message."""
    messages = [HumanMessage(LOOP_QUESTION)]
    turns = []
    for name, args in LOOP_CALLS:
        ai = step(llm, messages, streamed)
        turns.append((ai, run_tool_call(ai, messages, name, args)))
    return turns, step(llm, messages, streamed)


def run_tool_call(ai, messages: list, name: str, args: dict) -> dict:
    """Asserts `ai` made the one call `name(args)`, runs that tool of LOOP_TOOLS, and appends
    the call and its ToolMessage to `messages`: one turn of the loop on the client side."""
    (call,) = ai.tool_calls
    assert (call["name"], call["args"]) == (name, args)
    messages.append(ai)
    result = LOOP_TOOLS[name].invoke(call)
    assert isinstance(result, ToolMessage) and result.tool_call_id == call["id"]
    messages.append(result)
    return call


def assert_calls_sent_bare(bodies: list[dict]) -> None:
    """LangChain rebuilds assistant messages from its own tool calls: none carries the
    `extra_content` where Pollux put each call's thought signature."""
    for body in bodies:
        for m in body["messages"]:
            for c in m.get("tool_calls") or []:
                assert "extra_content" not in c, c


def assert_loop_signatures(mock: Mock, sig1: str, sig2: str) -> list[dict]:
    """Gemini got the loop's three requests, the later two with the signatures it issued (the
    mock refuses a Gemini 3 history without them); returns the upstream bodies."""
    bodies = mock.bodies()
    assert len(bodies) == 3
    assert signatures_sent(bodies[1]) == [sig1]
    assert signatures_sent(bodies[2]) == [sig1, sig2]
    return bodies


# --- counts for run.sh's summary -------------------------------------------------------------

# The client library each test module drives (its distribution name); every other module
# drives the `openai` SDK. run.sh prints one summary line per client.
CLIENT_OF_MODULE = {
    "test_langchain.py": "langchain-openai",
    "test_langchain_responses.py": "langchain-openai",
    "test_langchain_replicas.py": "langchain-openai",
    "test_agents.py": "openai-agents",
    "test_agents_responses.py": "openai-agents",
    "test_pydantic_ai.py": "pydantic-ai-slim",
}
CLIENTS = ["openai", *dict.fromkeys(CLIENT_OF_MODULE.values())]


def client_of(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return CLIENT_OF_MODULE.get(module, "openai")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write `client version passed failed skipped xfailed` per client to $CLIENT_COUNTS."""
    path = os.environ.get("CLIENT_COUNTS")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if not path or reporter is None:
        return
    counts = {name: {"passed": 0, "failed": 0, "skipped": 0, "xfailed": 0} for name in CLIENTS}
    outcome_of = {"passed": "passed", "xpassed": "passed", "failed": "failed", "error": "failed",
                  "skipped": "skipped", "xfailed": "xfailed"}
    for stat, outcome in outcome_of.items():
        for report in reporter.stats.get(stat, []):
            counts[client_of(getattr(report, "nodeid", ""))][outcome] += 1
    with open(path, "w") as f:
        for name, c in counts.items():
            numbers = " ".join(str(c[k]) for k in ("passed", "failed", "skipped", "xfailed"))
            f.write(f"{name} {version(name)} {numbers}\n")
