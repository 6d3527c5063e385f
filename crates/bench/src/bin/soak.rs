//! Soak test: many mixed requests through a real `pollux` process in front of an in-process
//! `mock-gemini`, reporting the resident memory of `pollux` (RSS) after warm-up and at the
//! end, and checking that nothing is left open. Run through `scripts/soak.sh`; not in CI.
//!
//! ```sh
//! cargo build --release -p pollux-server --bin pollux
//! cargo run --release -p pollux-bench --bin pollux-soak -- target/release/pollux 100000
//! ```
//!
//! The mix (by request number): 55% plain chat, 25% streamed chat, 5% streams the client
//! drops after the first chunk, 5% upstream errors (a queued Gemini 503 or 429), 5% client
//! errors (bad JSON, never sent upstream), 5% `GET /metrics`. Linux only (RSS comes from
//! `/proc`).

use std::cell::Cell;
use std::net::TcpListener;
use std::process::{Child, Command, ExitCode, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mock_gemini::{MockConfig, MockGemini, Scenario};
use serde_json::json;

type Error = Box<dyn std::error::Error>;

/// Requests in flight at once.
const CONCURRENCY: usize = 32;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(bin), total) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse().ok()).unwrap_or(100_000),
    ) else {
        eprintln!("usage: pollux-soak <path to pollux> [requests]");
        return ExitCode::from(2);
    };
    match actix_rt::System::new().block_on(run(bin, total)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("pollux-soak: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Kills the child on every exit path.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "no VmRSS in /proc status".into())
}

async fn run(bin: &str, total: usize) -> Result<bool, Error> {
    let mock = MockGemini::start_with(MockConfig {
        workers: 2,
        validate: false,
        record: false,
        ..MockConfig::default()
    })?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let child = Command::new(bin)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--workers", "2"])
        .args(["--upstream", &mock.base_url(), "--api-key", "soak-key"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    let child = Killed(child);
    let pid = child.0.id();
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .connector(awc::Connector::new().limit(CONCURRENCY * 2))
        .finish();

    // Wait for the server.
    let ready_by = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/metrics")).send().await.is_err() {
        if Instant::now() > ready_by {
            return Err("pollux did not start".into());
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }

    let warmup = (total / 10).max(1);
    let next = Rc::new(Cell::new(0usize));
    let failures = Rc::new(Cell::new(0usize));
    let started = Instant::now();
    let mut rss_after_warmup = None;
    let mut done = 0;
    for (phase_end, label) in [(warmup, "warm-up"), (total, "soak")] {
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENCY {
            let (next, failures, client, base) =
                (next.clone(), failures.clone(), client.clone(), base.clone());
            let mock_queue = mock.base_url();
            tasks.push(actix_rt::spawn(async move {
                loop {
                    let i = next.get();
                    if i >= phase_end {
                        break;
                    }
                    next.set(i + 1);
                    if let Err(e) = one(&client, &base, &mock_queue, i).await {
                        failures.set(failures.get() + 1);
                        if failures.get() <= 5 {
                            eprintln!("request {i} failed: {e}");
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        let rss = rss_kib(pid)?;
        println!(
            "{label}: {} requests in {:.1}s, pollux RSS {rss} KiB",
            phase_end - done,
            started.elapsed().as_secs_f64()
        );
        done = phase_end;
        if rss_after_warmup.is_none() {
            rss_after_warmup = Some(rss);
        }
    }

    // Let dropped streams settle, then check nothing is left open.
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    let mut resp = client.get(format!("{base}/metrics")).send().await?;
    let text = String::from_utf8(resp.body().limit(1 << 20).await?.to_vec())?;
    let gauge = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_owned))
            .unwrap_or_else(|| "?".to_owned())
    };
    let open = gauge("pollux_open_streams");
    let in_flight = gauge("pollux_upstream_in_flight");
    let end_rss = rss_kib(pid)?;
    let start_rss = rss_after_warmup.unwrap_or(end_rss);
    let drift = end_rss as f64 - start_rss as f64;
    println!(
        "requests: {total}, failures: {}, {:.0} req/s",
        failures.get(),
        total as f64 / started.elapsed().as_secs_f64()
    );
    println!(
        "pollux RSS after warm-up {start_rss} KiB, at end {end_rss} KiB, drift {drift:+.0} KiB ({:+.1}%)",
        100.0 * drift / start_rss.max(1) as f64
    );
    println!("open streams {open}, upstream in flight {in_flight}");
    for line in text.lines().filter(|l| {
        l.starts_with("pollux_requests_total")
            || l.starts_with("pollux_upstream_latency_seconds_count")
    }) {
        println!("  {line}");
    }
    Ok(failures.get() == 0 && open == "0" && in_flight == "0")
}

/// One request of the mix; `Err` only for what should never happen.
async fn one(client: &awc::Client, base: &str, mock: &str, i: usize) -> Result<(), Error> {
    let url = format!("{base}/v1/chat/completions");
    let chat = json!({"model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": format!("soak request {i}")}]});
    let mut stream_chat = chat.clone();
    stream_chat["stream"] = json!(true);
    let expect = |ok: bool, what: &str| -> Result<(), Error> {
        if ok {
            Ok(())
        } else {
            Err(what.to_owned().into())
        }
    };
    match i % 20 {
        0..=10 => {
            let mut r = client.post(&url).send_json(&chat).await?;
            let body = r.body().await?;
            expect(
                r.status() == 200 || r.status() == 429 || r.status() == 502,
                "plain status",
            )?;
            expect(!body.is_empty(), "plain body")
        }
        11..=15 => {
            let mut r = client.post(&url).send_json(&stream_chat).await?;
            let body = r.body().limit(1 << 20).await?;
            if r.status() == 200 {
                expect(
                    body.ends_with(b"data: [DONE]\n\n")
                        || body.windows(8).any(|w| w == b"\"error\":"),
                    "stream end",
                )
            } else {
                Ok(())
            }
        }
        16 => {
            let mut r = client.post(&url).send_json(&stream_chat).await?;
            let _ = r.next().await;
            Ok(())
        }
        17 => {
            // Queued on the mock: some other request may take it; either way it is a mix.
            let scenario = if i % 40 == 17 {
                Scenario::error(503, "UNAVAILABLE", "The model is overloaded.")
            } else {
                Scenario::rate_limited(1)
            };
            let mut q = client
                .post(format!("{mock}/_mock/scenarios"))
                .send_json(&scenario)
                .await?;
            let _ = q.body().await?;
            let mut r = client.post(&url).send_json(&chat).await?;
            let _ = r.body().await?;
            Ok(())
        }
        18 => {
            let mut r = client
                .post(&url)
                .insert_header(("content-type", "application/json"))
                .send_body("{not json")
                .await?;
            let _ = r.body().await?;
            expect(r.status() == 400, "bad JSON is 400")
        }
        _ => {
            let mut r = client.get(format!("{base}/metrics")).send().await?;
            let _ = r.body().limit(1 << 20).await?;
            expect(r.status() == 200, "metrics")
        }
    }
}
