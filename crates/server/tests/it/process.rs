//! The real `pollux` binary as a process: graceful shutdown on SIGTERM, streams in flight
//! finishing within `--shutdown-grace-secs` and cut after it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mock_gemini::{MockGemini, Scenario, StreamStep};

use crate::support::{client, final_event, stream_chat, text_event};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The `pollux` binary, started against `mock`; returns it with the address it printed.
pub(crate) fn spawn_pollux(
    mock: &MockGemini,
    grace_secs: u64,
) -> Result<(Child, SocketAddr), Box<dyn std::error::Error>> {
    let (child, addr, _) = spawn_pollux_logging(mock, grace_secs, "info")?;
    Ok((child, addr))
}

/// [`spawn_pollux`] with `RUST_LOG` set to `rust_log`, also returning every line it writes
/// to stderr (the channel closes when the process does).
pub(crate) fn spawn_pollux_logging(
    mock: &MockGemini,
    grace_secs: u64,
    rust_log: &str,
) -> Result<(Child, SocketAddr, std::sync::mpsc::Receiver<String>), Box<dyn std::error::Error>> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pollux"))
        .args(["--listen", "127.0.0.1:0", "--workers", "1"])
        .args(["--upstream", &mock.base_url(), "--api-key", "test-key"])
        .args(["--shutdown-grace-secs", &grace_secs.to_string()])
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://").nth(1) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
            }
            let _ = lines_tx.send(line);
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(20))?.parse()?;
    Ok((child, addr, lines))
}

pub(crate) fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[actix_rt::test]
async fn sigterm_lets_streams_in_flight_finish_then_exits_0() -> TestResult {
    let mock = MockGemini::start()?;
    let (mut child, addr) = spawn_pollux(&mock, 10)?;
    let mut steps = vec![text_event("before")];
    for _ in 0..6 {
        steps.push(StreamStep::Delay(250));
        steps.push(text_event("during"));
    }
    steps.push(final_event("after"));
    mock.push(Scenario::stream(steps));

    let http = client();
    let mut resp = http
        .post(format!("http://{addr}/v1/chat/completions"))
        .insert_header(("connection", "close"))
        .send_json(&stream_chat("hi"))
        .await?;
    assert_eq!(resp.status(), 200);
    let first = resp.next().await.ok_or("stream ended")??;
    assert!(!first.is_empty());

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    assert!(killed.success());
    let signalled = Instant::now();

    // New connections are refused while the stream in flight carries on.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert!(
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err(),
        "still accepting after SIGTERM"
    );
    let mut rest = first.to_vec();
    while let Some(chunk) = resp.next().await {
        rest.extend_from_slice(&chunk?);
    }
    let text = String::from_utf8(rest)?;
    assert!(text.contains("after"), "{text}");
    assert!(
        text.ends_with("data: [DONE]\n\n"),
        "the stream completed: {text}"
    );
    drop(resp);
    drop(http);

    let status = wait_exit(&mut child, Duration::from_secs(10));
    if status.is_none() {
        let _ = child.kill();
    }
    let status = status.ok_or("pollux did not exit within the grace period")?;
    assert!(status.success(), "{status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
    Ok(())
}

#[actix_rt::test]
async fn sigterm_cuts_streams_that_outlive_the_grace_period() -> TestResult {
    let mock = MockGemini::start()?;
    let (mut child, addr) = spawn_pollux(&mock, 1)?;
    mock.push(Scenario::stream(vec![
        text_event("forever"),
        StreamStep::Hang,
    ]));
    let mut resp = client()
        .post(format!("http://{addr}/v1/chat/completions"))
        .send_json(&stream_chat("hi"))
        .await?;
    assert_eq!(resp.status(), 200);
    let _ = resp.next().await.ok_or("stream ended")??;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let status = wait_exit(&mut child, Duration::from_secs(8));
    if status.is_none() {
        let _ = child.kill();
    }
    let status = status.ok_or("pollux did not exit after its grace period")?;
    assert!(status.success(), "{status:?}");
    // The upstream saw its stream dropped.
    let deadline = Instant::now() + Duration::from_secs(5);
    while mock.open_streams() > 0 && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(mock.open_streams(), 0);
    Ok(())
}
