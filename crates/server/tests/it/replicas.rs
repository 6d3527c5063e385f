//! Three Pollux replicas sharing one real `redis-server` (`--state`) behind a real nginx
//! (round-robin, keep-alive upstreams) in front of mock-gemini: a Gemini 3 tool loop with
//! every turn on another replica, a key cooldown one replica saw honoured by the others, a
//! conversation and a background response moving between replicas; then the faults: Redis
//! slowed, a replica killed mid-stream, and a rolling restart under load.
//!
//! nginx runs in the foreground without a master process (`daemon off; master_process off;`),
//! on a free loopback port, with a config generated per test in a directory of its own; it is
//! stopped by PID when the test ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mock_gemini::{MockGemini, Scenario, StreamStep};
use pollux_server::Config;
use serde_json::{json, Value};

use crate::shared::{replica_config as config, state_errors, Redis};
use crate::support::{assert_openai, assert_responses, client, text_event, Error, ServerThread};

type TestResult = Result<(), Error>;

/// How long a test waits for something another process does (a mark mirrored, a port open).
const PATIENCE: Duration = Duration::from_secs(10);

fn free_port() -> Result<u16, Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// nginx in front of `replicas`, on a free loopback port. Each answer names the replica that
/// served it in `x-upstream` (nginx's `$upstream_addr`).
struct Nginx {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Nginx {
    fn start(replicas: &[SocketAddr]) -> Result<Nginx, Error> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("pollux-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let servers: String = replicas
            .iter()
            // max_fails=0: a replica that refused a connection (restarting) is tried again on
            // the next request instead of being left out for fail_timeout.
            .map(|a| format!("        server {a} max_fails=0;\n"))
            .collect();
        let d = dir.display();
        let conf = format!(
            "daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream pollux {{
{servers}        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://pollux;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            # The client's Host, which Pollux's Host check knows (not the upstream's name).
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_read_timeout 30s;
            # A replica that closes or refuses a connection (a rolling restart) costs the
            # client nothing: the request goes to the next replica. non_idempotent: POSTs
            # too, as Pollux's requests are (a replica draining never half-runs one).
            proxy_next_upstream error timeout non_idempotent;
            proxy_next_upstream_tries 3;
            add_header x-upstream $upstream_addr always;
        }}
    }}
}}
"
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        // Debian puts it in /usr/sbin, which a non-root PATH may lack.
        let binary = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("nginx");
        let child = Command::new(binary)
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("nginx (apt-get install nginx): {e}"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut nginx = Nginx { child, addr, dir };
        let start = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if start.elapsed() > PATIENCE || nginx.child.try_wait()?.is_some() {
                let log = std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default();
                return Err(format!("nginx did not start: {log}").into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(nginx)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn replica(config: Config) -> Result<ServerThread, Error> {
    ServerThread::spawn(move || pollux_server::bind(config))
}

fn three(mock: &MockGemini, redis: &Redis) -> Result<Vec<ServerThread>, Error> {
    (0..3)
        .map(|_| replica(config(mock, &redis.url())))
        .collect()
}

/// POSTs `body` to `url`: the status, the replica nginx chose (`x-upstream`), the body.
async fn post(url: &str, body: &Value) -> Result<(u16, String, Value), Error> {
    let mut resp = client().post(url).send_json(body).await?;
    let status = resp.status().as_u16();
    let upstream = resp
        .headers()
        .get("x-upstream")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = resp.body().limit(16 << 20).await?;
    Ok((status, upstream, serde_json::from_slice(&bytes)?))
}

async fn get(url: &str) -> Result<(u16, Value), Error> {
    let mut resp = client().get(url).send().await?;
    let status = resp.status().as_u16();
    let bytes = resp.body().limit(16 << 20).await?;
    Ok((status, serde_json::from_slice(&bytes)?))
}

/// Waits (bounded) until `replica`'s `/readyz` shows `cooling` keys cooling down.
async fn until_cooling(replica: &ServerThread, cooling: u64) -> TestResult {
    let start = Instant::now();
    loop {
        let (_, ready) = get(&format!("http://{}/readyz", replica.addr)).await?;
        if ready["keys"]["cooling"] == cooling {
            return Ok(());
        }
        if start.elapsed() > PATIENCE {
            return Err(format!("{} never showed {cooling} cooling: {ready}", replica.addr).into());
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Redis, mock-gemini and three replicas sharing both: the start of most tests here. Bind
/// the three in this order, so the replicas stop first and Redis last.
fn three_on_redis() -> Result<(Redis, MockGemini, Vec<ServerThread>), Error> {
    let redis = Redis::start()?;
    let mock = MockGemini::start()?;
    let replicas = three(&mock, &redis)?;
    Ok((redis, mock, replicas))
}

/// Creates a background response with `input` on the replica at `addr`, asserts it was
/// accepted, and returns its id: where every background test starts.
async fn start_background(addr: SocketAddr, input: &str) -> Result<String, Error> {
    let (status, _, queued) = post(
        &format!("http://{addr}/v1/responses"),
        &json!({"model": "gemini-2.5-flash", "input": input, "background": true}),
    )
    .await?;
    assert_eq!(status, 200, "{queued}");
    Ok(queued["id"].as_str().unwrap().to_owned())
}

/// Retrieves response `id` from the replica at `addr`, asserting 200: a poll.
async fn poll(addr: SocketAddr, id: &str) -> Result<Value, Error> {
    let (status, polled) = get(&format!("http://{addr}/v1/responses/{id}")).await?;
    assert_eq!(status, 200, "{polled}");
    Ok(polled)
}

/// Cancels response `id` on the replica at `addr`, asserting 200, and returns the answer.
async fn cancel(addr: SocketAddr, id: &str) -> Result<Value, Error> {
    let (status, _, answer) = post(
        &format!("http://{addr}/v1/responses/{id}/cancel"),
        &json!({}),
    )
    .await?;
    assert_eq!(status, 200, "{answer}");
    Ok(answer)
}

/// GETs the event stream of background response `id` from the replica at `addr`, from after
/// event `starting_after` when given: how a client follows or resumes a run.
fn follow(addr: SocketAddr, id: &str, starting_after: Option<u64>) -> awc::SendClientRequest {
    let url = match starting_after {
        Some(n) => format!("http://{addr}/v1/responses/{id}?stream=true&starting_after={n}"),
        None => format!("http://{addr}/v1/responses/{id}?stream=true"),
    };
    awc::Client::builder()
        .timeout(PATIENCE)
        .finish()
        .get(url)
        .send()
}

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
}

#[actix_rt::test]
async fn a_gemini3_tool_loop_moves_across_three_replicas_behind_nginx() -> TestResult {
    let (_redis, mock, replicas) = three_on_redis()?;
    let nginx = Nginx::start(&replicas.iter().map(|r| r.addr).collect::<Vec<_>>())?;
    let url = nginx.url("/v1/chat/completions");
    mock.push(Scenario::function_call(
        "get_weather",
        json!({"city": "Paris"}),
    ));
    mock.push(Scenario::function_call(
        "get_weather",
        json!({"city": "London"}),
    ));
    mock.push(Scenario::text("21° in Paris, 15° in London."));

    let mut messages = vec![json!({"role": "user", "content": "Weather in Paris and London?"})];
    let mut served = BTreeSet::new();
    let mut signatures = Vec::new();
    for (turn, result) in ["21", "15", ""].iter().enumerate() {
        let body = json!({"model": "gemini-3-pro-preview", "messages": messages, "tools": weather_tools()});
        let (status, upstream, out) = post(&url, &body).await?;
        assert_eq!(status, 200, "turn {turn}: {out}");
        assert_openai("CreateChatCompletionResponse", &out);
        served.insert(upstream);
        if result.is_empty() {
            assert_eq!(
                out["choices"][0]["message"]["content"],
                "21° in Paris, 15° in London."
            );
            break;
        }
        let mut call = out["choices"][0]["message"]["tool_calls"][0].clone();
        signatures.push(
            call["extra_content"]["google"]["thought_signature"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        // What LangChain's `bind_tools` sends back: the call without `extra_content`.
        call.as_object_mut().unwrap().remove("extra_content");
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call.clone()]}));
        messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": result}));
    }
    assert_eq!(served.len(), 3, "every turn on another replica: {served:?}");
    // mock-gemini refuses a Gemini 3 history whose calls lack their signatures; the last
    // request carried both, as Gemini issued them.
    let sent = mock.requests()[2].json()?;
    let sent_signatures: Vec<&str> = sent["contents"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["parts"].as_array().unwrap())
        .filter(|p| p.get("functionCall").is_some())
        .filter_map(|p| p["thoughtSignature"].as_str())
        .collect();
    assert_eq!(sent_signatures, signatures, "{sent}");
    Ok(())
}

#[actix_rt::test]
async fn a_key_cooling_down_on_one_replica_is_left_alone_by_the_others() -> TestResult {
    let redis = Redis::start()?;
    let mock = MockGemini::start()?;
    let pool = ["AIzaKeyOne0000000000000000", "AIzaKeyTwo0000000000000000"];
    let pooled = |mock: &MockGemini| {
        let mut c = config(mock, &redis.url());
        c.api_key = None;
        c.api_keys = pool.iter().map(|k| k.to_string()).collect();
        c
    };
    let replicas: Vec<ServerThread> = (0..3)
        .map(|_| replica(pooled(&mock)))
        .collect::<Result<_, _>>()?;
    let nginx = Nginx::start(&replicas.iter().map(|r| r.addr).collect::<Vec<_>>())?;
    let chat =
        json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]});

    // Replica 1 tries the conversation's key first (key affinity picks it), gets a 429 with
    // a RetryInfo of 2 s, and answers with the other key: the first is the hot one.
    mock.push(Scenario::rate_limited(2));
    let (status, _, out) = post(
        &format!("http://{}/v1/chat/completions", replicas[0].addr),
        &chat,
    )
    .await?;
    assert_eq!(status, 200, "{out}");
    let keys_of = |mock: &MockGemini| -> Vec<String> {
        mock.requests()
            .iter()
            .map(|r| r.headers.get("x-goog-api-key").cloned().unwrap_or_default())
            .collect()
    };
    let first = keys_of(&mock);
    assert_eq!(first.len(), 2, "{first:?}");
    let (hot, cool) = (first[0].as_str(), first[1].as_str());
    assert!(
        hot != cool && pool.contains(&hot) && pool.contains(&cool),
        "{first:?}"
    );
    for r in &replicas {
        until_cooling(r, 1).await?;
    }
    // Every replica, through nginx, several times each: never the hot key.
    for _ in 0..6 {
        let (status, _, out) = post(&nginx.url("/v1/chat/completions"), &chat).await?;
        assert_eq!(status, 200, "{out}");
    }
    let used = keys_of(&mock);
    assert_eq!(used.len(), 8);
    assert!(
        used[2..].iter().all(|k| k == cool),
        "the hot key was used while cooling: {used:?}"
    );
    // Once the cooldown is over, the key is back everywhere.
    until_cooling(&replicas[2], 0).await?;
    for _ in 0..2 {
        let (status, _, _) = post(
            &format!("http://{}/v1/chat/completions", replicas[2].addr),
            &chat,
        )
        .await?;
        assert_eq!(status, 200);
    }
    assert!(keys_of(&mock)[8..].iter().any(|k| k == hot));
    // Only fingerprints went to Redis, never a key.
    let dump = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "--scan"])
        .output();
    if let Ok(dump) = dump {
        let names = String::from_utf8_lossy(&dump.stdout).into_owned();
        assert!(!names.contains(hot) && !names.contains(cool), "{names}");
    }
    Ok(())
}

#[actix_rt::test]
async fn a_conversation_from_replica_one_continues_on_replica_three() -> TestResult {
    let (_redis, mock, replicas) = three_on_redis()?;
    mock.push(Scenario::text("Hello, Ada."));
    mock.push(Scenario::text("Your name is Ada."));
    let (status, _, first) = post(
        &format!("http://{}/v1/responses", replicas[0].addr),
        &json!({"model": "gemini-2.5-flash", "input": "My name is Ada."}),
    )
    .await?;
    assert_eq!(status, 200, "{first}");
    let (status, _, second) = post(
        &format!("http://{}/v1/responses", replicas[2].addr),
        &json!({"model": "gemini-2.5-flash", "input": "What is my name?",
            "previous_response_id": first["id"]}),
    )
    .await?;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["previous_response_id"], first["id"]);
    let sent = mock.requests()[1].json()?;
    assert_eq!(sent["contents"].as_array().unwrap().len(), 3, "{sent}");
    assert_eq!(sent["contents"][1]["parts"][0]["text"], "Hello, Ada.");
    Ok(())
}

#[actix_rt::test]
async fn a_background_response_is_polled_and_cancelled_through_other_replicas() -> TestResult {
    let (_redis, mock, replicas) = three_on_redis()?;
    // Gemini starts answering, then goes quiet: the run stays in progress until cancelled.
    mock.push(Scenario::stream(vec![
        text_event("Thinking"),
        StreamStep::Hang,
    ]));
    let id = start_background(replicas[0].addr, "A long essay.").await?;

    let polled = poll(replicas[1].addr, &id).await?;
    assert!(
        matches!(polled["status"].as_str(), Some("queued" | "in_progress")),
        "{polled}"
    );

    let cancelled = cancel(replicas[2].addr, &id).await?;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");

    // The run on replica 1 stopped: following its events there ends (it would hang on
    // Gemini's silence otherwise).
    let mut resp = follow(replicas[0].addr, &id, None).await?;
    assert_eq!(resp.status(), 200);
    let ended = actix_rt::time::timeout(PATIENCE, async {
        while let Some(chunk) = resp.next().await {
            chunk?;
        }
        Ok::<_, Error>(())
    })
    .await;
    assert!(
        matches!(ended, Ok(Ok(()))),
        "the run on replica 1 was not stopped"
    );
    for r in &replicas {
        let polled = poll(r.addr, &id).await?;
        assert_eq!(polled["status"], "cancelled", "{polled}");
    }
    assert_eq!(state_errors(&replicas[0]).await?, 0.0);
    Ok(())
}

// ---------------------------------------------------------------------------------- faults

/// A TCP proxy on a free loopback port to `target` that holds every chunk, in both
/// directions, for `delay` before passing it on: a slow Redis. Its threads end with their
/// connections; the listener's when the test process does.
fn slow_proxy(target: SocketAddr, delay: Duration) -> Result<SocketAddr, Error> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let Ok(server) = TcpStream::connect(target) else {
                continue;
            };
            for (mut from, mut to) in [
                (client.try_clone(), server.try_clone()),
                (server.try_clone(), client.try_clone()),
            ]
            .into_iter()
            .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
            {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 << 10];
                    while let Ok(n @ 1..) = from.read(&mut buf) {
                        std::thread::sleep(delay);
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    Ok(addr)
}

#[actix_rt::test]
async fn a_slow_redis_costs_a_request_at_most_the_operation_timeout() -> TestResult {
    let redis = Redis::start()?;
    let mock = MockGemini::start()?;
    let proxy = slow_proxy(
        SocketAddr::from(([127, 0, 0, 1], redis.port)),
        Duration::from_secs(2),
    )?;
    let mut c = config(&mock, &format!("redis://{proxy}/0"));
    c.state_timeout_ms = 100;
    let one = replica(c)?;
    // Each stores a response: one shared-state write, which Redis answers 4 s later.
    for _ in 0..3 {
        let started = Instant::now();
        let (status, _, out) = post(
            &format!("http://{}/v1/responses", one.addr),
            &json!({"model": "gemini-2.5-flash", "input": "hi"}),
        )
        .await?;
        let took = started.elapsed();
        assert_eq!(status, 200, "{out}");
        assert!(
            took < Duration::from_millis(1500),
            "a 100 ms operation timeout, but the request took {took:?}"
        );
    }
    assert!(state_errors(&one).await? >= 3.0);
    let (_, ready) = get(&format!("http://{}/readyz", one.addr)).await?;
    assert_eq!(
        ready["state"],
        json!({"kind": "redis", "reachable": false}),
        "{ready}"
    );
    Ok(())
}

#[actix_rt::test]
async fn a_replica_killed_mid_stream_ends_that_stream_only() -> TestResult {
    let redis = Redis::start()?;
    let mock = MockGemini::start()?;
    let mut replicas: Vec<Option<ServerThread>> =
        three(&mock, &redis)?.into_iter().map(Some).collect();
    let addrs: Vec<SocketAddr> = replicas.iter().flatten().map(|r| r.addr).collect();
    let nginx = Nginx::start(&addrs)?;
    mock.push(Scenario::stream(vec![
        text_event("Once upon"),
        StreamStep::Hang,
    ]));
    let mut resp = client()
        .post(nginx.url("/v1/chat/completions"))
        .send_json(&json!({"model": "gemini-2.5-flash", "stream": true,
            "messages": [{"role": "user", "content": "A story."}]}))
        .await?;
    assert_eq!(resp.status(), 200);
    let serving: SocketAddr = resp
        .headers()
        .get("x-upstream")
        .and_then(|v| v.to_str().ok())
        .ok_or("no x-upstream")?
        .parse()?;
    let first = resp.next().await.ok_or("stream ended")??;
    assert!(String::from_utf8_lossy(&first).contains("Once upon"));

    // Killed: stopped without a grace period, its connections dropped.
    let index = addrs.iter().position(|a| *a == serving).unwrap();
    drop(replicas[index].take());
    let ended = actix_rt::time::timeout(PATIENCE, async {
        let mut rest = Vec::new();
        while let Some(chunk) = resp.next().await {
            match chunk {
                Ok(bytes) => rest.extend_from_slice(&bytes),
                Err(_) => return rest,
            }
        }
        rest
    })
    .await
    .map_err(|_| "the client's stream did not end when its replica died")?;
    let rest = String::from_utf8_lossy(&ended);
    assert!(
        !rest.contains("[DONE]"),
        "a stream cut short does not end as if complete: {rest}"
    );

    // The others serve on, through nginx and directly.
    for _ in 0..4 {
        let (status, upstream, out) = post(
            &nginx.url("/v1/chat/completions"),
            &json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await?;
        assert_eq!(status, 200, "{out}");
        assert!(!upstream.ends_with(&serving.to_string()), "{upstream}");
    }
    for r in replicas.iter().flatten() {
        let (status, _) = get(&format!("http://{}/readyz", r.addr)).await?;
        assert_eq!(status, 200);
    }
    Ok(())
}

/// The `pollux` binary on `port`, sharing `redis`, draining for up to 10 s on SIGTERM;
/// returns once it listens.
fn spawn_binary(mock: &MockGemini, redis: &Redis, port: u16) -> Result<Child, Error> {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_pollux"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--workers", "1"])
        .args(["--upstream", &mock.base_url(), "--api-key", "test-key"])
        .args(["--state", &redis.url(), "--state-timeout-ms", "1000"])
        .args(["--shutdown-grace-secs", "10"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("listening on http://") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(());
                }
            }
        }
    });
    if rx.recv_timeout(Duration::from_secs(20)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        return Err("pollux did not start".into());
    }
    Ok(child)
}

fn sigterm_and_wait(child: &mut Child) -> Result<(), Error> {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    assert!(sent.success());
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            assert!(status.success(), "{status:?}");
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("pollux did not exit after SIGTERM".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[actix_rt::test]
async fn a_rolling_restart_under_load_fails_no_request() -> TestResult {
    let redis = Redis::start()?;
    let mock = MockGemini::start()?;
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect::<Result<_, _>>()?;
    let mut children: Vec<Child> = ports
        .iter()
        .map(|p| spawn_binary(&mock, &redis, *p))
        .collect::<Result<_, _>>()?;
    let addrs: Vec<SocketAddr> = ports
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    let nginx = Nginx::start(&addrs)?;
    // Answers take 100 ms, so requests are in flight whenever a replica is told to stop.
    mock.push_all((0..400).map(|_| Scenario::text("ok").delayed(100)));

    // Bounded load through nginx on a thread of its own: two clients in turn, until the
    // restarts are over (at most 300 requests).
    let done = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let load = {
        let (done, sent) = (done.clone(), sent.clone());
        let url = nginx.url("/v1/chat/completions");
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let one = |url: String| async move {
                    let body = json!({"model": "gemini-2.5-flash",
                        "messages": [{"role": "user", "content": "hi"}]});
                    match post(&url, &body).await {
                        Ok((200, _, _)) => None,
                        Ok((status, upstream, out)) => {
                            Some(format!("{status} from {upstream}: {out}"))
                        }
                        Err(e) => Some(e.to_string()),
                    }
                };
                let mut failures = Vec::new();
                while !done.load(Ordering::SeqCst) && sent.load(Ordering::SeqCst) < 300 {
                    let (a, b) =
                        futures_util::future::join(one(url.clone()), one(url.clone())).await;
                    sent.fetch_add(2, Ordering::SeqCst);
                    failures.extend(a.into_iter().chain(b));
                }
                failures
            })
        })
    };
    // One replica at a time: SIGTERM (it drains what it is serving), wait for it to exit,
    // start it again on its port, wait until it listens, go on to the next.
    let restart = (|| -> TestResult {
        for (child, port) in children.iter_mut().zip(&ports) {
            let before = sent.load(Ordering::SeqCst);
            let start = Instant::now();
            // Some load reaches this replica before it goes.
            while sent.load(Ordering::SeqCst) < before + 6 && start.elapsed() < PATIENCE {
                std::thread::sleep(Duration::from_millis(10));
            }
            sigterm_and_wait(child)?;
            *child = spawn_binary(&mock, &redis, *port)?;
        }
        Ok(())
    })();
    done.store(true, Ordering::SeqCst);
    let failures = load.join().map_err(|_| "the load thread panicked")?;
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    restart?;
    let total = sent.load(Ordering::SeqCst);
    assert!(total >= 18, "too little load to mean anything: {total}");
    assert!(
        failures.is_empty(),
        "{} of {total} failed, first: {:?}",
        failures.len(),
        failures.iter().take(3).collect::<Vec<_>>()
    );
    drop(addrs);
    Ok(())
}

#[actix_rt::test]
async fn after_redis_comes_back_marks_are_shared_again_without_a_restart() -> TestResult {
    let mut redis = Redis::start()?;
    let port = redis.port;
    let mock = MockGemini::start()?;
    let (hot, cool) = ("AIzaHotKey0000000000000000", "AIzaCoolKey000000000000000");
    let pooled = || {
        let mut c = config(&mock, &redis.url());
        c.api_key = None;
        c.api_keys = vec![hot.to_owned(), cool.to_owned()];
        c
    };
    let (one, two) = (replica(pooled())?, replica(pooled())?);
    let chat =
        json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]});

    redis.stop();
    // Chat needs no Redis: served as before.
    let (status, _, out) = post(&format!("http://{}/v1/chat/completions", one.addr), &chat).await?;
    assert_eq!(status, 200, "{out}");
    drop(redis);
    let _redis = Redis::start_on(port)?;

    // Replica 1 uses Redis again once its connection is remade (on a next operation).
    let start = Instant::now();
    loop {
        let (status, _, created) = post(
            &format!("http://{}/v1/responses", one.addr),
            &json!({"model": "gemini-2.5-flash", "input": "hi"}),
        )
        .await?;
        assert_eq!(status, 200, "{created}");
        let id = created["id"].as_str().unwrap();
        let (status, _) = get(&format!("http://{}/v1/responses/{id}", two.addr)).await?;
        if status == 200 {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "Redis never used again");
    }
    // A 429 on replica 1 reaches replica 2, whose subscription was made anew.
    let before = mock.requests().len();
    mock.push(Scenario::rate_limited(30));
    let (status, _, out) = post(&format!("http://{}/v1/chat/completions", one.addr), &chat).await?;
    assert_eq!(status, 200, "{out}");
    let tried: Vec<String> = mock.requests()[before..]
        .iter()
        .map(|r| r.headers.get("x-goog-api-key").cloned().unwrap_or_default())
        .collect();
    assert_eq!(tried.len(), 2, "{tried:?}");
    until_cooling(&one, 1).await?;
    until_cooling(&two, 1).await?;
    Ok(())
}

// ------------------------------------------------------------- hot path and background runs

/// `INFO` of the Redis on `port`, in one section: `field:value` lines.
fn redis_info(port: u16, section: &str) -> Result<String, Error> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/0"))?;
    let mut conn = client.get_connection()?;
    Ok(redis::cmd("INFO").arg(section).query::<String>(&mut conn)?)
}

/// Commands Redis ran so far, by name (`INFO commandstats`), without `info` itself.
fn commands(port: u16) -> Result<std::collections::BTreeMap<String, u64>, Error> {
    let stats = redis_info(port, "commandstats")?;
    Ok(stats
        .lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .filter(|(name, _)| name != "info")
        .collect())
}

#[actix_rt::test]
async fn plain_chat_requests_make_no_redis_round_trip() -> TestResult {
    let redis = Redis::start()?;
    let mock = MockGemini::start()?;
    let mut c = config(&mock, &redis.url());
    c.api_key = None;
    c.api_keys = vec![
        "AIzaKeyOne0000000000000000".to_owned(),
        "AIzaKeyTwo0000000000000000".to_owned(),
    ];
    let one = replica(c)?;
    // The replica reads the shared key marks once, when its subscription is made (MGET):
    // after that, the marks come by pub/sub into the local mirror.
    let start = Instant::now();
    while !commands(redis.port)?.contains_key("mget") {
        assert!(start.elapsed() < PATIENCE, "{:?}", commands(redis.port)?);
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    let before = commands(redis.port)?;
    let url = format!("http://{}/v1/chat/completions", one.addr);
    for i in 0..20 {
        mock.push(Scenario::text("ok"));
        let stream = i % 2 == 1;
        let body = json!({"model": "gemini-2.5-flash", "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]});
        let mut resp = client().post(&url).send_json(&body).await?;
        assert_eq!(resp.status(), 200);
        let bytes = resp.body().limit(1 << 20).await?;
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("\"choices\""), "{text}");
        assert!(!stream || text.contains("[DONE]"), "{text}");
    }
    let after = commands(redis.port)?;
    assert_eq!(
        before, after,
        "20 plain chat requests (10 streamed) sent commands to Redis"
    );
    assert_eq!(mock.requests().len(), 20);
    Ok(())
}

#[actix_rt::test]
async fn a_background_stream_resumes_on_another_replica() -> TestResult {
    let (_redis, mock, replicas) = three_on_redis()?;
    // Gemini answers in three pieces, with pauses: the follower on replica 2 joins while the
    // run on replica 1 is still going.
    mock.push(Scenario::stream(vec![
        text_event("One, "),
        StreamStep::Delay(150),
        text_event("two, "),
        StreamStep::Delay(150),
        crate::support::final_event("three."),
    ]));
    let id = start_background(replicas[0].addr, "Count.").await?;
    let resume = |addr: SocketAddr, after: Option<u64>| {
        let request = follow(addr, &id, after);
        async move { crate::support::read_named(request.await?).await }
    };
    let (status, _, elsewhere) = resume(replicas[1].addr, Some(2)).await?;
    assert_eq!(status, 200, "{elsewhere:?}");
    for e in &elsewhere {
        assert_responses("ResponseStreamEvent", e);
    }
    // The same events as the replica running it has, from after number 2, to the end.
    let (status, _, local) = resume(replicas[0].addr, None).await?;
    assert_eq!(status, 200);
    assert_eq!(elsewhere, local[3..].to_vec());
    assert_eq!(elsewhere[0]["sequence_number"], 3);
    assert_eq!(elsewhere.last().unwrap()["type"], "response.completed");
    let text: String = elsewhere
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert!(text.ends_with("three."), "{text}");
    // From the start, on the third replica, after the run ended.
    let (status, _, all) = resume(replicas[2].addr, None).await?;
    assert_eq!(status, 200);
    assert_eq!(all, local);
    Ok(())
}

#[actix_rt::test]
async fn a_cancel_racing_the_end_of_a_run_leaves_one_final_status() -> TestResult {
    let (_redis, mock, replicas) = three_on_redis()?;
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..24u64 {
        // Gemini answers after 2 ms; the cancel goes to replica 2 after 0 to 115 ms: before,
        // while or after the run ends on replica 1 (a debug build takes tens of ms to run
        // one). A timed race, on purpose: each outcome must be consistent.
        mock.push(Scenario::text("done").delayed(2));
        let id = start_background(replicas[0].addr, "hi").await?;
        actix_rt::time::sleep(Duration::from_millis(round * 5)).await;
        let answer = cancel(replicas[1].addr, &id).await?;
        assert_responses("Response", &answer);
        let said = answer["status"].as_str().unwrap().to_owned();
        assert!(
            said == "cancelled" || said == "completed",
            "round {round}: {answer}"
        );
        // The run on replica 1 is over once its stream there ends.
        let resp = follow(replicas[0].addr, &id, None).await?;
        let (_, _, events) = crate::support::read_named(resp).await?;
        let completed = events.iter().any(|e| e["type"] == "response.completed");
        assert_eq!(
            completed,
            said == "completed",
            "round {round}: the cancel answered {said}, the run's stream says otherwise"
        );
        // Every replica reads the status the cancel answered, and keeps reading it.
        for _ in 0..2 {
            for r in &replicas {
                let polled = poll(r.addr, &id).await?;
                assert_eq!(polled["status"], said, "round {round}: {polled}");
            }
        }
        *outcomes.entry(said).or_default() += 1;
    }
    assert_eq!(outcomes.values().sum::<usize>(), 24, "{outcomes:?}");
    eprintln!("cancel races: {outcomes:?}");
    Ok(())
}

#[actix_rt::test]
async fn a_model_list_fetched_by_one_replica_serves_the_others() -> TestResult {
    let (_redis, mock, replicas) = three_on_redis()?;
    let lists = |mock: &MockGemini| {
        mock.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/models"))
            .count()
    };
    let mut seen = Vec::new();
    for r in &replicas {
        let (status, list) = get(&format!("http://{}/v1/models", r.addr)).await?;
        assert_eq!(status, 200, "{list}");
        assert_openai("ListModelsResponse", &list);
        seen.push(list);
    }
    assert_eq!(
        lists(&mock),
        1,
        "replicas 2 and 3 read the list replica 1 shared"
    );
    assert!(seen.iter().all(|l| *l == seen[0]), "{seen:?}");
    Ok(())
}
