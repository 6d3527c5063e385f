"""LangChain (`langchain-openai` `ChatOpenAI`) against three Pollux replicas sharing one real
`redis-server` (`--state`) behind a real nginx (round-robin, keep-alive upstreams): a
`bind_tools` loop on Gemini 3 with every turn on another replica (issue #17).

LangChain drops the `extra_content` that carries each call's thought signature, and
mock-gemini refuses a Gemini 3 history whose calls lack the signatures it issued: the loop
passes only because the replica that answered a turn shared the signatures in Redis and the
next replica found them there. nginx names the replica that served each answer in an
`x-upstream` header, which the test records.

The processes start on free loopback ports, in a directory of their own, and are stopped by
PID. redis-server and nginx come from the distribution's packages (`.ci/run` installs them):
missing, the test fails rather than skips.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from langchain_openai import ChatOpenAI

from conftest import (LOOP_ANSWER, LOOP_CALLS, LOOP_TOOLS, MOCK_URL, SERVER_KEY, TOOL_RUNS,
                      assert_calls_sent_bare, assert_loop_signatures, push_tool_loop, run_tool_loop,
                      signature)

GEMINI3 = "gemini-3-pro-preview"
POLLUX_BIN = os.environ.get("POLLUX_BIN", "")
PATIENCE = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(proc: subprocess.Popen, port: int, name: str, log: Path) -> None:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port}")


def binary(name: str, *dirs: str) -> str:
    """`name` on PATH or in `dirs` (Debian puts nginx in /usr/sbin, off a user's PATH)."""
    found = shutil.which(name) or next(
        (str(Path(d) / name) for d in dirs if (Path(d) / name).exists()), None)
    if not found:
        pytest.fail(f"{name} is not installed (apt-get install {name}; .ci/run does)")
    return found


def nginx_conf(work: Path, port: int, replicas: list[int]) -> str:
    """The config of crates/server/tests/it/replicas.rs: round-robin, keep-alive upstreams,
    the serving replica in `x-upstream`."""
    servers = "".join(f"        server 127.0.0.1:{p} max_fails=0;\n" for p in replicas)
    return f"""daemon off;
master_process off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    upstream pollux {{
{servers}        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://pollux;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_read_timeout 30s;
            add_header x-upstream $upstream_addr always;
        }}
    }}
}}
"""


@pytest.fixture
def replicas_url():
    """nginx's base URL (`.../v1`) in front of three Pollux replicas sharing a Redis."""
    if not POLLUX_BIN:
        pytest.fail("POLLUX_BIN unset: run these tests through tests/clients/run.sh")
    redis_bin = binary("redis-server", "/usr/bin", "/usr/sbin")
    nginx_bin = binary("nginx", "/usr/sbin", "/usr/local/sbin")
    work = Path(tempfile.mkdtemp(prefix="pollux-replicas-"))
    procs: list[subprocess.Popen] = []
    logs = []

    def start(name: str, args: list[str], port: int, env: dict | None = None) -> None:
        log = work / f"{name}.log"
        out = open(log, "wb")
        logs.append(out)
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL)
        procs.append(proc)
        wait_for_port(proc, port, name, log)

    try:
        redis_port = free_port()
        start("redis", [redis_bin, "--port", str(redis_port), "--bind", "127.0.0.1",
                        "--save", "", "--appendonly", "no"], redis_port)
        # Settings from the caller's environment (POLLUX_*, GEMINI_*) are not inherited.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("POLLUX_", "GEMINI_", "GOOGLE_", "VERTEX_"))}
        env["RUST_LOG"] = "info"
        ports = []
        for i in range(3):
            port = free_port()
            start(f"pollux-{i}", [POLLUX_BIN, "--listen", f"127.0.0.1:{port}",
                                  "--upstream", MOCK_URL, "--api-key", SERVER_KEY,
                                  "--max-retries", "0",
                                  "--state", f"redis://127.0.0.1:{redis_port}/0"], port, env)
            ports.append(port)
        nginx_port = free_port()
        conf = work / "nginx.conf"
        conf.write_text(nginx_conf(work, nginx_port, ports))
        start("nginx", [nginx_bin, "-p", str(work), "-e", str(work / "nginx-error.log"),
                        "-c", str(conf)], nginx_port)
        yield f"http://127.0.0.1:{nginx_port}/v1", {f"127.0.0.1:{p}" for p in ports}
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()
        for out in logs:
            out.close()
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("streamed", [False, True], ids=["invoke", "stream"])
def test_gemini3_tool_loop_with_every_turn_on_another_replica(replicas_url, mock, streamed):
    url, replicas = replicas_url
    sig1, sig2 = signature("weather-r"), signature("time-r")
    push_tool_loop(mock, sig1, sig2)
    served: list[str] = []
    sent: list[dict] = []

    def on_request(request: httpx.Request) -> None:
        sent.append(json.loads(request.read()))

    def on_response(response: httpx.Response) -> None:
        served.append(response.headers.get("x-upstream", ""))

    with httpx.Client(event_hooks={"request": [on_request], "response": [on_response]},
                      timeout=20) as http:
        llm = ChatOpenAI(model=GEMINI3, base_url=url, api_key="test-key", max_retries=0,
                         timeout=20, http_client=http)
        turns, final = run_tool_loop(llm.bind_tools(list(LOOP_TOOLS.values())), streamed)
    for ai, _ in turns:
        assert ai.response_metadata["finish_reason"] == "tool_calls"
    assert final.content == LOOP_ANSWER
    assert TOOL_RUNS == LOOP_CALLS

    # Three turns, three replicas: round-robin put each turn on another one.
    assert len(served) == 3, served
    assert set(served) == replicas, served
    # LangChain sent the calls back without extra_content ...
    assert_calls_sent_bare(sent[1:])
    # ... yet Gemini received the signatures it issued, each found in Redis by a replica
    # that did not issue it (the mock refuses a Gemini 3 history without them).
    assert_loop_signatures(mock, sig1, sig2)
