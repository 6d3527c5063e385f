//! Several Pollux replicas sharing one real `redis-server` (`--state`): a conversation and a
//! Gemini 3 tool loop move between replicas, and Redis going away mid-run costs only what
//! needs it, with recovery once it is back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mock_gemini::{MockGemini, Scenario};
use pollux_server::Config;
use serde_json::{json, Value};

use crate::support::{client, sample, Error, ServerThread};

type TestResult = Result<(), Error>;

/// A `redis-server` of its own on a free loopback port, without persistence; killed by PID.
pub(crate) struct Redis {
    child: Child,
    pub(crate) port: u16,
}

impl Redis {
    pub(crate) fn start() -> Result<Redis, Error> {
        // redis-server takes no `--port 0`: take a free port from the OS, then hand it over.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        Redis::start_on(port)
    }

    /// Starts on `port`; returns once it says it accepts connections.
    pub(crate) fn start_on(port: u16) -> Result<Redis, Error> {
        Redis::start_with(port, &[])
    }

    /// [`Redis::start_on`] with more arguments for redis-server.
    pub(crate) fn start_with(port: u16, extra: &[&str]) -> Result<Redis, Error> {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(extra)
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("redis-server (apt-get install redis-server): {e}"))?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("Ready to accept connections") {
                    let _ = tx.send(());
                }
            }
        });
        let mut redis = Redis { child, port };
        if rx.recv_timeout(Duration::from_secs(10)).is_err() {
            redis.stop();
            return Err("redis-server did not start".into());
        }
        Ok(redis)
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One Pollux replica in front of `mock`, sharing state through `redis`.
pub(crate) fn replica_config(mock: &MockGemini, redis_url: &str) -> Config {
    let mut config = Config::defaults();
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.upstream = mock.base_url();
    config.api_key = Some("test-key".to_owned());
    config.workers = 1;
    config.max_retries = 0;
    config.state = Some(redis_url.to_owned());
    // Generous for a loaded test machine; the default is 50 ms.
    config.state_timeout_ms = 1000;
    config
}

fn replica(mock: &MockGemini, redis: &Redis) -> Result<ServerThread, Error> {
    let config = replica_config(mock, &redis.url());
    ServerThread::spawn(move || pollux_server::bind(config))
}

/// Creates a stored response on `server` and reads it back there: the shared store works.
async fn stored_and_read_back(server: &ServerThread, input: &str) -> TestResult {
    let (status, created) = post(
        server,
        "/v1/responses",
        &json!({"model": "gemini-2.5-flash", "input": input}),
    )
    .await?;
    assert_eq!(status, 200, "{created}");
    let mut resp = client()
        .get(format!(
            "http://{}/v1/responses/{}",
            server.addr,
            created["id"].as_str().unwrap()
        ))
        .send()
        .await?;
    assert_eq!(resp.status(), 200, "{:?}", resp.body().await?);
    Ok(())
}

pub(crate) async fn post(
    server: &ServerThread,
    path: &str,
    body: &Value,
) -> Result<(u16, Value), Error> {
    let mut resp = client()
        .post(format!("http://{}{path}", server.addr))
        .send_json(body)
        .await?;
    let status = resp.status().as_u16();
    let bytes = resp.body().limit(16 << 20).await?;
    Ok((status, serde_json::from_slice(&bytes)?))
}

pub(crate) async fn state_errors(server: &ServerThread) -> Result<f64, Error> {
    let mut resp = client()
        .get(format!("http://{}/metrics", server.addr))
        .send()
        .await?;
    let text = String::from_utf8(resp.body().await?.to_vec())?;
    sample(&text, "pollux_state_errors_total").ok_or_else(|| "no pollux_state_errors_total".into())
}

#[actix_rt::test]
async fn a_conversation_started_on_one_replica_continues_on_another() -> TestResult {
    let redis = Redis::start()?;
    let mock = MockGemini::start()?;
    let (one, two) = (replica(&mock, &redis)?, replica(&mock, &redis)?);
    mock.push(Scenario::text("Hello, Ada."));
    mock.push(Scenario::text("Your name is Ada."));
    let (status, first) = post(
        &one,
        "/v1/responses",
        &json!({"model": "gemini-2.5-flash", "input": "My name is Ada."}),
    )
    .await?;
    assert_eq!(status, 200, "{first}");
    let id = first["id"].as_str().unwrap();

    let (status, second) = post(
        &two,
        "/v1/responses",
        &json!({"model": "gemini-2.5-flash", "input": "What is my name?", "previous_response_id": id}),
    )
    .await?;
    assert_eq!(status, 200, "{second}");
    let sent = mock.requests()[1].json()?;
    let texts: Vec<&str> = sent["contents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(
        texts,
        ["My name is Ada.", "Hello, Ada.", "What is my name?"],
        "replica two sent replica one's history: {sent}"
    );
    // Readable and deletable from either replica; deleted reads "was deleted" on both.
    let mut resp = client()
        .delete(format!("http://{}/v1/responses/{id}", two.addr))
        .send()
        .await?;
    assert_eq!(resp.status(), 200, "{:?}", resp.body().await?);
    let mut resp = client()
        .get(format!("http://{}/v1/responses/{id}", one.addr))
        .send()
        .await?;
    assert_eq!(resp.status(), 404);
    let body: Value = serde_json::from_slice(&resp.body().await?)?;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("was deleted"),
        "{body}"
    );
    assert_eq!(state_errors(&one).await?, 0.0);
    Ok(())
}

#[actix_rt::test]
async fn a_gemini3_tool_loop_gets_its_signature_on_another_replica() -> TestResult {
    let redis = Redis::start()?;
    let mock = MockGemini::start()?;
    let (one, two) = (replica(&mock, &redis)?, replica(&mock, &redis)?);
    mock.push(Scenario::function_call(
        "get_weather",
        json!({"city": "Paris"}),
    ));
    mock.push(Scenario::text("21° in Paris."));
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let question = json!({"role": "user", "content": "Weather in Paris?"});
    let (status, out) = post(
        &one,
        "/v1/chat/completions",
        &json!({"model": "gemini-3-pro-preview", "messages": [question], "tools": tools}),
    )
    .await?;
    assert_eq!(status, 200, "{out}");
    let mut call = out["choices"][0]["message"]["tool_calls"][0].clone();
    let signature = call["extra_content"]["google"]["thought_signature"]
        .as_str()
        .unwrap()
        .to_owned();
    // LangChain's `bind_tools` drops `extra_content`; the turn lands on the other replica.
    call.as_object_mut().unwrap().remove("extra_content");
    let (status, out) = post(
        &two,
        "/v1/chat/completions",
        &json!({"model": "gemini-3-pro-preview", "tools": tools, "messages": [question,
            {"role": "assistant", "content": null, "tool_calls": [call.clone()]},
            {"role": "tool", "tool_call_id": call["id"], "content": "21"}]}),
    )
    .await?;
    assert_eq!(status, 200, "{out}");
    let sent = mock.requests()[1].json()?;
    let sent_signature = &sent["contents"][1]["parts"][0]["thoughtSignature"];
    assert_ne!(sent_signature, "skip_thought_signature_validator");
    assert_eq!(sent_signature, &json!(signature), "{sent}");
    Ok(())
}

#[actix_rt::test]
async fn redis_lost_mid_run_costs_only_what_needs_it_and_recovers() -> TestResult {
    let mut redis = Redis::start()?;
    let port = redis.port;
    let mock = MockGemini::start()?;
    let one = replica(&mock, &redis)?;
    for _ in 0..4 {
        mock.push(Scenario::text("fine"));
    }
    let chat =
        json!({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _) = post(&one, "/v1/chat/completions", &chat).await?;
    assert_eq!(status, 200);
    let (status, first) = post(
        &one,
        "/v1/responses",
        &json!({"model": "gemini-2.5-flash", "input": "hi"}),
    )
    .await?;
    assert_eq!(status, 200, "{first}");
    assert_eq!(state_errors(&one).await?, 0.0);

    redis.stop();
    // Nothing stored involved: served as before.
    let (status, out) = post(&one, "/v1/chat/completions", &chat).await?;
    assert_eq!(status, 200, "{out}");
    // A response is still answered (it just is not stored), and the failure counts.
    let (status, out) = post(
        &one,
        "/v1/responses",
        &json!({"model": "gemini-2.5-flash", "input": "hi"}),
    )
    .await?;
    assert_eq!(status, 200, "{out}");
    assert!(state_errors(&one).await? >= 1.0);
    // What needs the shared store says so: 503, before any upstream call.
    let before = mock.requests().len();
    let (status, out) = post(
        &one,
        "/v1/responses",
        &json!({"model": "gemini-2.5-flash", "input": "more", "previous_response_id": first["id"]}),
    )
    .await?;
    assert_eq!(status, 503, "{out}");
    assert_eq!(out["error"]["code"], "store_unavailable");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shared response store is unreachable"),
        "{out}"
    );
    assert_eq!(mock.requests().len(), before);

    // Back (empty: no persistence), and Pollux uses it again without a restart.
    let _redis = Redis::start_on(port)?;
    stored_and_read_back(&one, "again").await
}

#[actix_rt::test]
async fn the_redis_password_comes_from_a_file() -> TestResult {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let redis = Redis::start_with(port, &["--requirepass", "s3cret-from-file"])?;
    let mock = MockGemini::start()?;
    let file = std::env::temp_dir().join(format!("pollux-redis-password-{port}"));
    std::fs::write(&file, "s3cret-from-file\n")?;
    let mut config = replica_config(&mock, &redis.url());
    config.state_password_file = Some(file.clone());
    let one = ServerThread::spawn(move || pollux_server::bind(config))?;
    stored_and_read_back(&one, "hi").await?;
    assert_eq!(state_errors(&one).await?, 0.0);
    let _ = std::fs::remove_file(&file);

    // A file that cannot be read stops start-up with a message naming it.
    let mut config = Config::defaults();
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.state = Some(redis.url());
    config.state_password_file = Some(file.clone());
    let refused = ServerThread::spawn(move || pollux_server::bind(config));
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("--state-password-file") && message.contains("cannot read"),
        "{message}"
    );
    Ok(())
}

#[actix_rt::test]
async fn a_tls_redis_is_reached_through_rediss() -> TestResult {
    let free = || -> Result<u16, Error> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port())
    };
    let (port, tls_port) = (free()?, free()?);
    // A certificate authority and a server certificate it signed, made for this test:
    // redis-server serves TLS on `tls_port`; its plain port is only for reading back.
    let dir = std::env::temp_dir().join(format!("pollux-redis-tls-{tls_port}"));
    std::fs::create_dir_all(&dir)?;
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let (cert, key, csr, ext) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("cert.csr"),
        dir.join("ext.cnf"),
    );
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )?;
    let openssl = |args: &[&std::ffi::OsStr]| -> TestResult {
        let made = Command::new("openssl")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("openssl (apt-get install openssl): {e}"))?;
        assert!(made.success(), "openssl {args:?} failed");
        Ok(())
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    openssl(&[
        os("req"),
        os("-x509"),
        os("-newkey"),
        os("rsa:2048"),
        os("-nodes"),
        os("-days"),
        os("1"),
        os("-subj"),
        os("/CN=pollux-test-ca"),
        os("-keyout"),
        ca_key.as_os_str(),
        os("-out"),
        ca.as_os_str(),
    ])?;
    openssl(&[
        os("req"),
        os("-newkey"),
        os("rsa:2048"),
        os("-nodes"),
        os("-subj"),
        os("/CN=127.0.0.1"),
        os("-keyout"),
        key.as_os_str(),
        os("-out"),
        csr.as_os_str(),
    ])?;
    openssl(&[
        os("x509"),
        os("-req"),
        os("-days"),
        os("1"),
        os("-in"),
        csr.as_os_str(),
        os("-CA"),
        ca.as_os_str(),
        os("-CAkey"),
        ca_key.as_os_str(),
        os("-CAcreateserial"),
        os("-extfile"),
        ext.as_os_str(),
        os("-out"),
        cert.as_os_str(),
    ])?;
    let (cert_arg, key_arg, ca_arg) = (
        cert.display().to_string(),
        key.display().to_string(),
        ca.display().to_string(),
    );
    let redis = Redis::start_with(
        port,
        &[
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &cert_arg,
            "--tls-key-file",
            &key_arg,
            "--tls-ca-cert-file",
            &ca_arg,
            "--tls-auth-clients",
            "no",
        ],
    )?;
    let mock = MockGemini::start()?;
    let url = format!("rediss://127.0.0.1:{tls_port}/0");
    let trusting = |mock: &MockGemini| {
        let mut config = replica_config(mock, &url);
        config.state_ca_file = Some(ca.clone());
        config
    };
    let one = ServerThread::spawn({
        let config = trusting(&mock);
        move || pollux_server::bind(config)
    })?;
    let two = ServerThread::spawn({
        let config = trusting(&mock);
        move || pollux_server::bind(config)
    })?;
    mock.push(Scenario::text("over TLS"));
    let (status, created) = post(
        &one,
        "/v1/responses",
        &json!({"model": "gemini-2.5-flash", "input": "hello"}),
    )
    .await?;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap();
    // The other replica finds it: it went through the TLS port into Redis.
    let mut resp = client()
        .get(format!("http://{}/v1/responses/{id}", two.addr))
        .send()
        .await?;
    assert_eq!(resp.status(), 200, "{:?}", resp.body().await?);
    let keys = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "--scan"])
        .output()?;
    let keys = String::from_utf8_lossy(&keys.stdout).into_owned();
    assert!(keys.contains(id), "{keys}");
    assert_eq!(state_errors(&one).await?, 0.0);
    assert_eq!(state_errors(&two).await?, 0.0);

    // Without the CA file the certificate is checked against public roots and refused:
    // that replica serves from its own process and counts the failures.
    let untrusting = ServerThread::spawn({
        let config = replica_config(&mock, &url);
        move || pollux_server::bind(config)
    })?;
    mock.push(Scenario::text("not shared"));
    let (status, created) = post(
        &untrusting,
        "/v1/responses",
        &json!({"model": "gemini-2.5-flash", "input": "hello"}),
    )
    .await?;
    assert_eq!(status, 200, "{created}");
    assert!(state_errors(&untrusting).await? > 0.0);
    let mut resp = client()
        .get(format!(
            "http://{}/v1/responses/{}",
            one.addr,
            created["id"].as_str().unwrap()
        ))
        .send()
        .await?;
    assert_eq!(resp.status(), 404, "{:?}", resp.body().await?);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
