//! `pollux-bench`: the end-to-end load benchmark of `docs/benchmarks.md`.
//!
//! In one invocation it starts `mock-gemini` (the upstream, answering instantly, then with a
//! fixed delay, then holding streams open), starts `pollux` in front of it on one worker
//! pinned to its own core (and LiteLLM's proxy with `--litellm`), and sends the same request
//! mix to the mock directly (the floor: the Gemini request Pollux would send) and through each
//! adapter, to Pollux both as a chat request and as the equivalent Responses request (which
//! translates to the same Gemini request). It prints, side by side, latency at one request at a time and at a fixed rate
//! (open loop), time to first token, requests/s at saturation, CPU seconds per 1,000 requests
//! and resident memory idle and with many open streams, with what each adapter adds to the
//! direct run, and what Pollux's own work costs per Responses request against per chat
//! request. All traffic stays on loopback; every child process is stopped by its PID.

mod http;
mod idle;
mod load;
mod procs;
mod relay;
mod report;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use pollux_translate::openai::chat::ChatCompletionRequest;
use pollux_translate::openai::responses::CreateResponse;
use pollux_translate::{responses, to_gemini, RequestOptions};

use crate::http::Request;
use crate::load::{HeldStreams, Samples};
use crate::procs::{Launcher, Server};
use crate::report::{Table, Value};

/// The 1.5 KB chat the translate micro-benchmarks use too.
const CHAT: &str = include_str!("../../translate/benches/data/chat_1_5kb.json");
/// The same conversation as a Responses request (`instructions` and five input items).
const RESPONSES: &str = include_str!("../../translate/benches/data/responses_1_5kb.json");
const MODEL: &str = "gemini-2.5-flash";

/// Descriptors an adapter needs besides its two sockets per stream (stdio, epoll, eventfds,
/// the listener, log files): what the open-stream round leaves free of the open-files limit.
const FD_RESERVE: usize = 64;

/// Requests per target per turn in the interleaved one-at-a-time measurement.
const SERIAL_BLOCK: usize = 250;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("timed out")]
    Timeout,
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("{0}")]
    Start(String),
    #[error("workload: {0}")]
    Workload(String),
}

/// End-to-end load benchmark: mock-gemini directly versus through Pollux (and LiteLLM).
#[derive(Debug, Parser)]
#[command(name = "pollux-bench", version, about)]
struct Args {
    /// The pollux binary (default: next to this one).
    #[arg(long)]
    pollux: Option<PathBuf>,
    /// The mock-gemini binary (default: next to this one).
    #[arg(long)]
    mock: Option<PathBuf>,
    /// LiteLLM's `litellm` executable: also run every load through its proxy.
    #[arg(long)]
    litellm: Option<PathBuf>,
    /// Requests measured one at a time, per target and kind, with the instant mock.
    #[arg(long, default_value_t = 2000)]
    serial: usize,
    /// The mock's fixed delay before answering, in the second round.
    #[arg(long, default_value_t = 10)]
    delay_ms: u64,
    /// Requests per second in the open-loop runs.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Seconds of each open-loop and saturation run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Connections in the saturation run.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Open-stream levels for the memory run (cumulative).
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    streams: Vec<usize>,
    /// A short run (a fifth of the counts and times) to check the setup.
    #[arg(long)]
    quick: bool,
    /// Run only these rounds (instant, delayed, streams); all by default.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The core the adapter is pinned to (the generator and the mock run on core 0); `0`
    /// puts everything on one core, which removes cross-core wake-ups from the comparison.
    #[arg(long, default_value_t = 1)]
    adapter_core: u32,
    /// Do not pin processes to cores.
    #[arg(long)]
    no_pin: bool,
    /// Where child processes' logs go.
    #[arg(long, default_value = "target/bench-logs")]
    log_dir: PathBuf,
    /// Leave CPU idle states as the machine has them. By default the run holds
    /// `/dev/cpu_dma_latency` at 0 (as `cyclictest` and tuned's latency-performance profile
    /// do), so idle cores poll instead of halting and a vCPU's wake-up is not counted as
    /// adapter latency.
    #[arg(long)]
    default_idle: bool,
    /// Leave out the `relay` column (a byte-copying TCP relay: the floor of any adapter).
    #[arg(long)]
    no_relay: bool,
    /// Leave out the two `pollux responses` columns (the same Pollux, sent the Responses
    /// request, stored and with `store: false`).
    #[arg(long)]
    no_responses: bool,
    /// Only send `--serial` plain requests one at a time to this running Pollux, then
    /// print their latency and exit (drives `scripts/instructions.sh`; starts nothing).
    #[arg(long)]
    drive: Option<SocketAddr>,
    /// With `--drive`: which API's request to send.
    #[arg(long, value_enum, default_value_t = Api::Chat, requires = "drive")]
    api: Api,
    /// With `--drive`: send the streamed request instead of the plain one.
    #[arg(long, requires = "drive")]
    stream: bool,
    /// Run as the relay, forwarding to this address (used by the benchmark itself).
    #[arg(long, hide = true, requires = "relay_listen")]
    relay_to: Option<SocketAddr>,
    /// The relay's listening address (used by the benchmark itself).
    #[arg(long, hide = true, requires = "relay_to")]
    relay_listen: Option<SocketAddr>,
}

/// The OpenAI API a request to Pollux goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Api {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/responses`, stored (OpenAI's default, which most SDK clients keep).
    Responses,
    /// `POST /v1/responses` with `store: false` (as Codex sends it): translation only.
    ResponsesUnstored,
}

/// The request mix, as each kind of target receives it.
struct Workload {
    openai_plain: Vec<u8>,
    openai_stream: Vec<u8>,
    responses_plain: Vec<u8>,
    responses_stream: Vec<u8>,
    /// The Responses bodies with `store: false`.
    unstored_plain: Vec<u8>,
    unstored_stream: Vec<u8>,
    gemini: Vec<u8>,
}

impl Workload {
    /// The bodies, after checking that the chat and the Responses request translate to the
    /// same Gemini body: the floor (direct, relay) is that one body for both, and the
    /// comparison of the two APIs is only fair if Pollux sends Gemini the same request.
    fn new() -> Result<Workload, BenchError> {
        let bad = |e: &dyn std::fmt::Display| BenchError::Workload(e.to_string());
        let chat = ChatCompletionRequest::from_slice(CHAT.as_bytes()).map_err(|e| bad(&e))?;
        // The floor gets exactly the body Pollux sends upstream.
        let translated = to_gemini(chat, &RequestOptions::new(MODEL)).map_err(|e| bad(&e))?;
        let gemini = serde_json::to_vec(&translated.body).map_err(|e| bad(&e))?;
        let resp = CreateResponse::from_slice(RESPONSES.as_bytes()).map_err(|e| bad(&e))?;
        let translated =
            responses::to_gemini(resp, MODEL, &RequestOptions::new(MODEL)).map_err(|e| bad(&e))?;
        let from_responses = serde_json::to_vec(&translated.body).map_err(|e| bad(&e))?;
        if from_responses != gemini {
            return Err(BenchError::Workload(format!(
                "the Responses request translates to another Gemini body than the chat request:\n  chat:      {}\n  responses: {}",
                String::from_utf8_lossy(&gemini),
                String::from_utf8_lossy(&from_responses)
            )));
        }
        Ok(Workload {
            openai_plain: CHAT.trim_end().as_bytes().to_vec(),
            openai_stream: with_fields(CHAT, &[("stream", true)])?,
            responses_plain: RESPONSES.trim_end().as_bytes().to_vec(),
            responses_stream: with_fields(RESPONSES, &[("stream", true)])?,
            unstored_plain: with_fields(RESPONSES, &[("store", false)])?,
            unstored_stream: with_fields(RESPONSES, &[("store", false), ("stream", true)])?,
            gemini,
        })
    }

    /// The plain and the streamed body for `api`.
    fn bodies(&self, api: Api) -> (&[u8], &[u8]) {
        match api {
            Api::Chat => (&self.openai_plain, &self.openai_stream),
            Api::Responses => (&self.responses_plain, &self.responses_stream),
            Api::ResponsesUnstored => (&self.unstored_plain, &self.unstored_stream),
        }
    }
}

/// A JSON request body with boolean fields added (appended, so the rest stays as written).
fn with_fields(body: &str, fields: &[(&str, bool)]) -> Result<Vec<u8>, BenchError> {
    let bad = |e: &dyn std::fmt::Display| BenchError::Workload(e.to_string());
    let mut value: serde_json::Value = serde_json::from_str(body).map_err(|e| bad(&e))?;
    if let Some(obj) = value.as_object_mut() {
        for (name, v) in fields {
            obj.insert((*name).into(), (*v).into());
        }
    }
    serde_json::to_vec(&value).map_err(|e| bad(&e))
}

/// One thing measured: the mock itself, or an adapter in front of it.
struct Target<'a> {
    name: &'static str,
    server: &'a Server,
    plain: Request,
    stream: Request,
}

impl<'a> Target<'a> {
    /// The mock itself (`direct`), or the relay in front of it: both get the Gemini body.
    fn gemini(name: &'static str, server: &'a Server, w: &Workload) -> Target<'a> {
        let key = ["x-goog-api-key: bench-key".to_owned()];
        Target {
            name,
            server,
            plain: Request::post_json(
                server.addr,
                &format!("/v1beta/models/{MODEL}:generateContent"),
                &key,
                &w.gemini,
            ),
            stream: Request::post_json(
                server.addr,
                &format!("/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"),
                &key,
                &w.gemini,
            ),
        }
    }

    /// An adapter sent the `api` request.
    fn adapter(name: &'static str, server: &'a Server, w: &Workload, api: Api) -> Target<'a> {
        let (plain, stream) = w.bodies(api);
        Target {
            name,
            server,
            plain: api_request(server.addr, api, plain),
            stream: api_request(server.addr, api, stream),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr
    }
}

struct Plan {
    serial: usize,
    serial_delayed: usize,
    rate: u32,
    run: Duration,
    connections: usize,
    streams: Vec<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pollux-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), BenchError> {
    if let (Some(to), Some(listen)) = (args.relay_to, args.relay_listen) {
        return Ok(relay::run(listen, to)?);
    }
    if let Some(addr) = args.drive {
        return drive(addr, args.api, args.stream, args.serial);
    }
    // Held until the run ends (and released by the kernel however this process exits).
    let idle = idle::IdleState::acquire(!args.default_idle);
    let here = std::env::current_exe()?
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = !args.no_pin && cores >= 2 && procs::have_taskset();
    // The generator and the mock share core 0; the adapter gets core 1 to itself.
    if pin && !procs::pin_self(0) {
        eprintln!("pollux-bench: could not pin to core 0; running unpinned");
    }
    let launcher = Launcher {
        mock_bin: args
            .mock
            .clone()
            .unwrap_or_else(|| here.join("mock-gemini")),
        pollux_bin: args.pollux.clone().unwrap_or_else(|| here.join("pollux")),
        relay_bin: (!args.no_relay).then(std::env::current_exe).transpose()?,
        litellm_bin: args.litellm.clone(),
        adapter_core: pin.then_some(args.adapter_core),
        log_dir: args.log_dir.clone(),
        responses: !args.no_responses,
    };
    let scale = if args.quick { 5 } else { 1 };
    let plan = Plan {
        serial: (args.serial / scale).max(50),
        serial_delayed: (args.serial * 10 / args.delay_ms.max(1) as usize / 10 / scale)
            .clamp(50, 500),
        rate: args.rate,
        run: Duration::from_secs(args.seconds.max(1)) / scale as u32,
        connections: args.connections,
        streams: args.streams.clone(),
    };
    let workload = Workload::new()?;
    println!(
        "pollux-bench: {} cores, {}; {}; pollux {}; request: {} B chat, {} B Responses (Gemini body {} B)",
        cores,
        if !pin {
            "unpinned".to_owned()
        } else {
            format!(
                "generator + mock on core 0, adapter on core {}",
                args.adapter_core
            )
        },
        idle.describe(),
        launcher.pollux_bin.display(),
        workload.openai_plain.len(),
        workload.responses_plain.len(),
        workload.gemini.len(),
    );
    // Other work on the machine shows up in the tails: say how busy it was.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!("load average before the run: {}", load.join(" "));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let wanted = |round: &str| args.only.is_empty() || args.only.iter().any(|o| o == round);
        let rounds = async {
            if wanted("instant") {
                instant_round(&launcher, &plan, &workload).await?;
            }
            if wanted("delayed") {
                delayed_round(&launcher, &plan, &workload, args.delay_ms).await?;
            }
            if wanted("streams") {
                streams_round(&launcher, &plan, &workload).await?;
            }
            Ok(())
        };
        // On ctrl-c or SIGTERM the rounds are dropped, and with them every child process.
        tokio::select! {
            r = rounds => r,
            () = interrupted() => Err(BenchError::Start("interrupted; stopped every child process".into())),
        }
    })
}

/// `--drive`: `n` requests, one at a time, to a Pollux someone else started.
fn drive(addr: SocketAddr, api: Api, stream: bool, n: usize) -> Result<(), BenchError> {
    let w = Workload::new()?;
    let (plain, streamed) = w.bodies(api);
    let req = api_request(addr, api, if stream { streamed } else { plain });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let s = local.block_on(&rt, load::serial(addr, &req, n, 0))?;
    let p50 = match report::percentile_us(&s.total, 0.5) {
        Value::Num(us) => format!("{us:.1} µs"),
        Value::Missing => "-".to_owned(),
    };
    println!("{} requests, {} failed, p50 {p50}", s.ok(), s.errors);
    if s.errors > 0 {
        return Err(BenchError::Protocol(format!(
            "{} requests failed",
            s.errors
        )));
    }
    Ok(())
}

#[cfg(unix)]
async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn interrupted() {
    let _ = tokio::signal::ctrl_c().await;
}

/// An OpenAI request to an adapter at `addr`, with the bench's bearer key.
fn api_request(addr: SocketAddr, api: Api, body: &[u8]) -> Request {
    let auth = [format!("Authorization: Bearer {}", procs::ADAPTER_KEY)];
    let path = match api {
        Api::Chat => "/v1/chat/completions",
        Api::Responses | Api::ResponsesUnstored => "/v1/responses",
    };
    Request::post_json(addr, path, &auth, body)
}

/// Column names: what [`dialect_table`] looks for.
const RELAY: &str = "relay";
const POLLUX: &str = "pollux";
const POLLUX_RESPONSES: &str = "pollux responses";
const POLLUX_UNSTORED: &str = "pollux resp. store:false";

/// The processes of one round; dropping it stops them all.
struct Fleet {
    mock: Server,
    relay: Option<Server>,
    pollux: Server,
    litellm: Option<Server>,
    /// Whether the round measures Pollux's Responses endpoint too.
    responses: bool,
}

impl Fleet {
    /// The mock with the given delays and every adapter in front of it. The relay and the
    /// Responses column only in a `latency` round: the open-stream round leaves them out (the
    /// relay's memory says nothing, and a second column of one process would measure memory
    /// the first one's streams left behind).
    fn start(
        l: &Launcher,
        delay_ms: u64,
        chunk_delay_ms: u64,
        latency: bool,
    ) -> Result<Fleet, BenchError> {
        let mock = l.mock(delay_ms, chunk_delay_ms)?;
        let relay = if latency { l.relay(mock.addr)? } else { None };
        let pollux = l.pollux(mock.addr)?;
        let litellm = l.litellm(mock.addr)?;
        Ok(Fleet {
            mock,
            relay,
            pollux,
            litellm,
            responses: latency && l.responses,
        })
    }

    /// The columns: direct, relay, Pollux (chat), Pollux (Responses), LiteLLM.
    fn targets(&self, w: &Workload) -> Vec<Target<'_>> {
        let mut out = vec![Target::gemini("direct", &self.mock, w)];
        if let Some(r) = &self.relay {
            out.push(Target::gemini(RELAY, r, w));
        }
        out.push(Target::adapter(POLLUX, &self.pollux, w, Api::Chat));
        if self.responses {
            out.push(Target::adapter(
                POLLUX_RESPONSES,
                &self.pollux,
                w,
                Api::Responses,
            ));
            out.push(Target::adapter(
                POLLUX_UNSTORED,
                &self.pollux,
                w,
                Api::ResponsesUnstored,
            ));
        }
        if let Some(l) = &self.litellm {
            out.push(Target::adapter("litellm", l, w, Api::Chat));
        }
        out
    }

    /// Stops the adapters before the mock they talk to.
    fn stop(self) {
        let Fleet {
            mock,
            relay,
            pollux,
            litellm,
            responses: _,
        } = self;
        for s in [litellm, Some(pollux), relay, Some(mock)]
            .into_iter()
            .flatten()
        {
            s.stop();
        }
    }
}

async fn instant_round(l: &Launcher, plan: &Plan, w: &Workload) -> Result<(), BenchError> {
    let fleet = Fleet::start(l, 0, 0, true)?;
    let targets = fleet.targets(w);
    let mut table = round_table("mock answers instantly", &targets);
    idle_rss_row(&mut table, &targets);
    let lat = latency_rows(&mut table, &targets, plan.serial, plan.rate, plan.run).await?;
    let mut rps = Vec::new();
    let mut cpu = Vec::new();
    let mut util = Vec::new();
    let mut errors = Vec::new();
    for t in &targets {
        quiesce(&targets).await;
        let _ = load::serial(t.addr(), &t.plain, 0, 200).await;
        let before = t.server.cpu_seconds()?;
        let s = load::saturate(t.addr(), &t.plain, plan.connections, plan.run).await;
        let used = t.server.cpu_seconds()? - before;
        rps.push(Value::num(s.ok() as f64 / s.wall.as_secs_f64()));
        cpu.push(per_thousand(used, s.ok()));
        util.push(Value::num(100.0 * used / s.wall.as_secs_f64()));
        errors.push(Value::num(s.errors as f64));
    }
    table.row(
        &format!("requests/s at saturation ({} conns)", plan.connections),
        rps,
        report::Compare::Ratio,
    );
    table.row("  errors", errors, report::Compare::None);
    table.row(
        "  CPU-s per 1,000 requests (target process)",
        cpu.clone(),
        report::Compare::Ratio,
    );
    table.row(
        "  target CPU use (% of one core)",
        util,
        report::Compare::None,
    );
    table.row(
        "RSS after the runs (MB)",
        targets.iter().map(|t| rss_mb(t.server)).collect(),
        report::Compare::Ratio,
    );
    table.print();
    if let Some(t) = dialect_table(&targets, &lat, Some(&cpu)) {
        t.print();
    }
    drop(targets);
    fleet.stop();
    Ok(())
}

async fn delayed_round(
    l: &Launcher,
    plan: &Plan,
    w: &Workload,
    delay_ms: u64,
) -> Result<(), BenchError> {
    let fleet = Fleet::start(l, delay_ms, 0, true)?;
    let targets = fleet.targets(w);
    let mut table = round_table(&format!("mock answers after {delay_ms} ms"), &targets);
    let lat = latency_rows(
        &mut table,
        &targets,
        plan.serial_delayed,
        plan.rate,
        plan.run,
    )
    .await?;
    table.print();
    if let Some(t) = dialect_table(&targets, &lat, None) {
        t.print();
    }
    drop(targets);
    fleet.stop();
    Ok(())
}

/// Waits until no process of the round is busy any more (at most two minutes): an overloaded
/// adapter goes on working through requests its clients gave up on, on the core the next
/// target is measured on, and would take half of it from that measurement.
async fn quiesce(targets: &[Target<'_>]) {
    const LIMIT: Duration = Duration::from_secs(120);
    // Under 5% of a core over the interval counts as idle.
    const INTERVAL: Duration = Duration::from_millis(500);
    let busy = || -> f64 {
        targets
            .iter()
            .filter_map(|t| t.server.cpu_seconds().ok())
            .sum()
    };
    let began = Instant::now();
    let mut last = busy();
    while began.elapsed() < LIMIT {
        tokio::time::sleep(INTERVAL).await;
        let now = busy();
        if now - last < 0.05 * INTERVAL.as_secs_f64() {
            if began.elapsed() > Duration::from_secs(2) {
                eprintln!(
                    "pollux-bench: waited {:.0}s for the servers to go idle",
                    began.elapsed().as_secs_f64()
                );
            }
            return;
        }
        last = now;
    }
    eprintln!(
        "pollux-bench: the servers were still busy after {}s; measuring anyway",
        LIMIT.as_secs()
    );
}

/// What [`latency_rows`] measured, one entry per target.
struct Latencies {
    plain: Vec<Samples>,
    stream: Vec<Samples>,
    /// CPU-s per 1,000 requests in the open-loop run.
    open_cpu: Vec<Value>,
}

/// Serial and open-loop latency rows, and CPU per request at the fixed rate.
async fn latency_rows(
    table: &mut Table,
    targets: &[Target<'_>],
    serial: usize,
    rate: u32,
    run: Duration,
) -> Result<Latencies, BenchError> {
    let warmup = (serial / 10).max(20);
    // One at a time, interleaved: blocks of requests to each target in turn, so a change in
    // the machine's load during the run (other tenants of the VM) reaches every column
    // alike instead of the one measured at that moment.
    let mut plain = vec![Samples::default(); targets.len()];
    let mut stream = vec![Samples::default(); targets.len()];
    let blocks = serial.div_ceil(SERIAL_BLOCK).max(1);
    for block in 0..blocks {
        let n = SERIAL_BLOCK.min(serial - block * SERIAL_BLOCK);
        // The first block warms each process up; later ones only their new connection.
        let warm = if block == 0 { warmup } else { 10 };
        for (i, t) in targets.iter().enumerate() {
            quiesce(targets).await;
            plain[i].absorb(load::serial(t.addr(), &t.plain, n, warm).await?);
            stream[i].absorb(load::serial(t.addr(), &t.stream, n, warm).await?);
        }
    }
    let mut open = Vec::new();
    let mut open_cpu = Vec::new();
    for t in targets {
        quiesce(targets).await;
        let before = t.server.cpu_seconds()?;
        let s = load::open_loop(t.addr(), &t.plain, rate, run, 2000).await;
        open_cpu.push(per_thousand(t.server.cpu_seconds()? - before, s.ok()));
        open.push(s);
    }
    let lat = report::Compare::Added;
    let us = |v: &[Samples], f: fn(&Samples) -> &Vec<Duration>, q: f64| -> Vec<Value> {
        v.iter().map(|s| report::percentile_us(f(s), q)).collect()
    };
    fn total(s: &Samples) -> &Vec<Duration> {
        &s.total
    }
    fn first(s: &Samples) -> &Vec<Duration> {
        &s.first
    }
    fn overhead(s: &Samples) -> &Vec<Duration> {
        &s.overhead
    }
    table.row(
        &format!("one at a time, plain ({serial} req)  p50 µs"),
        us(&plain, total, 0.50),
        lat,
    );
    table.row("  p99 µs", us(&plain, total, 0.99), lat);
    table.row("  max µs", us(&plain, total, 1.0), lat);
    table.row(
        "  own time by Pollux's x-pollux-overhead-us p50 µs",
        us(&plain, overhead, 0.50),
        report::Compare::None,
    );
    outcome_rows(table, &plain);
    table.row(
        &format!("one at a time, stream ({serial} req)  TTFT p50 µs"),
        us(&stream, first, 0.50),
        lat,
    );
    table.row("  TTFT p99 µs", us(&stream, first, 0.99), lat);
    table.row("  whole stream p50 µs", us(&stream, total, 0.50), lat);
    table.row("  whole stream p99 µs", us(&stream, total, 0.99), lat);
    table.row(
        "  own time by Pollux's x-pollux-overhead-us p50 µs",
        us(&stream, overhead, 0.50),
        report::Compare::None,
    );
    outcome_rows(table, &stream);
    table.row(
        &format!(
            "open loop {rate} req/s for {}s, plain  p50 µs",
            run.as_secs_f64()
        ),
        us(&open, total, 0.50),
        lat,
    );
    table.row("  p99 µs", us(&open, total, 0.99), lat);
    table.row("  p99.9 µs", us(&open, total, 0.999), lat);
    table.row("  max µs", us(&open, total, 1.0), lat);
    table.row("  errors", errors(&open), report::Compare::None);
    table.row(
        "  generator timer lateness p99 µs (not counted above)",
        open.iter()
            .map(|s| report::percentile_us(&s.lag, 0.99))
            .collect(),
        report::Compare::None,
    );
    table.row(
        "  CPU-s per 1,000 requests (target process)",
        open_cpu.clone(),
        report::Compare::Ratio,
    );
    Ok(Latencies {
        plain,
        stream,
        open_cpu,
    })
}

/// Pollux's own cost per Responses request (stored, and with `store: false`) against per
/// chat request, from one round (the columns were measured interleaved, against one
/// process): the latency Pollux adds over the relay (the floor of any adapter), the overhead
/// Pollux reports itself, and its CPU per request. `None` when the round has no Responses
/// column.
fn dialect_table(
    targets: &[Target<'_>],
    lat: &Latencies,
    saturation_cpu: Option<&[Value]>,
) -> Option<Table> {
    let at = |name: &str| targets.iter().position(|t| t.name == name);
    let cols = [at(POLLUX)?, at(POLLUX_RESPONSES)?, at(POLLUX_UNSTORED)?];
    // Without the relay, the floor is the direct run.
    let floor = at(RELAY).unwrap_or(0);
    let floor_name = targets[floor].name;
    let p50 = |v: &[Duration]| report::percentile_us(v, 0.50);
    let added = |s: &[Samples], f: fn(&Samples) -> &[Duration]| -> Vec<Value> {
        let base = p50(f(&s[floor]));
        cols.iter()
            .map(|&i| match (p50(f(&s[i])), base) {
                (Value::Num(x), Value::Num(b)) => Value::num(x - b),
                _ => Value::Missing,
            })
            .collect()
    };
    let own = |s: &[Samples]| -> Vec<Value> { cols.iter().map(|&i| p50(&s[i].overhead)).collect() };
    let pick = |v: &[Value]| -> Vec<Value> { cols.iter().map(|&i| v[i]).collect() };
    let mut t = Table::new(
        &format!(
            "Pollux, Responses against chat (same process, same run; (xr) = ratio to chat; added = Pollux p50 − {floor_name} p50)"
        ),
        vec!["chat", "responses (stored)", "responses store:false"],
    );
    let ratio = report::Compare::Ratio;
    t.row(
        &format!("plain, added over {floor_name} p50 µs"),
        added(&lat.plain, |s| &s.total),
        ratio,
    );
    t.row("plain, x-pollux-overhead-us p50 µs", own(&lat.plain), ratio);
    t.row(
        &format!("stream TTFT, added over {floor_name} p50 µs"),
        added(&lat.stream, |s| &s.first),
        ratio,
    );
    t.row(
        &format!("whole stream, added over {floor_name} p50 µs"),
        added(&lat.stream, |s| &s.total),
        ratio,
    );
    t.row(
        "stream, x-pollux-overhead-us p50 µs",
        own(&lat.stream),
        ratio,
    );
    t.row(
        "CPU-s per 1,000 plain requests, open loop",
        pick(&lat.open_cpu),
        ratio,
    );
    if let Some(cpu) = saturation_cpu {
        t.row(
            "CPU-s per 1,000 plain requests, saturation",
            pick(cpu),
            ratio,
        );
    }
    Some(t)
}

async fn streams_round(l: &Launcher, plan: &Plan, w: &Workload) -> Result<(), BenchError> {
    if plan.streams.is_empty() {
        return Ok(());
    }
    // Each stream sends its first event and then waits ten minutes for the next: held open.
    let fleet = Fleet::start(l, 0, 600_000, false)?;
    let targets = fleet.targets(w);
    // Each stream through an adapter needs a socket in the generator, two in the adapter and
    // one in the mock, all in processes that share this process's limit.
    let fd_limit = procs::open_files_limit().unwrap_or(1024) as usize;
    let mut table = round_table(
        "open streams held after their first event (mock pauses 10 min between events)",
        &targets,
    );
    idle_rss_row(&mut table, &targets);
    for t in &targets {
        // Warm the process (plain requests: streams would be held), so the rows compare held
        // streams, not start-up.
        let _ = load::serial(t.addr(), &t.plain, 0, 50).await;
    }
    // A level that does not fit the open-files limit is measured at the largest that does,
    // and labelled so: two sockets per stream plus a few dozen descriptors of its own.
    let fits = fd_limit.saturating_sub(FD_RESERVE) / 2;
    let levels: Vec<usize> = plan.streams.iter().map(|&l| l.min(fits)).collect();
    for (&asked, &level) in plan.streams.iter().zip(&levels) {
        if level < asked {
            eprintln!(
                "pollux-bench: open-files limit {fd_limit} allows {level} streams, not {asked} (an adapter holds two sockets per stream; raise `ulimit -n`)"
            );
        }
    }
    let mut rows: Vec<LevelRows> = levels
        .iter()
        .map(|&level| LevelRows {
            level,
            rss: Vec::new(),
            failed: Vec::new(),
            ttft: Vec::new(),
        })
        .collect();
    for t in &targets {
        let mut held = HeldStreams::new();
        let began = Instant::now();
        for row in &mut rows {
            let level = row.level;
            let LevelRows {
                rss, failed, ttft, ..
            } = row;
            if 2 * level + FD_RESERVE > fd_limit {
                rss.push(Value::Missing);
                failed.push(Value::Missing);
                ttft.push(Value::Missing);
                continue;
            }
            let more = level.saturating_sub(held.open() + held.failed);
            held.first.clear();
            load::open_streams(
                t.addr(),
                &t.stream,
                more,
                64,
                &mut held,
                Duration::from_secs(120),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            rss.push(rss_mb(t.server));
            failed.push(Value::num(held.failed as f64));
            ttft.push(report::percentile_us(&held.first, 0.99));
        }
        eprintln!(
            "pollux-bench: {}: held {} streams ({} failed) in {:.1}s",
            t.name,
            held.open(),
            held.failed,
            began.elapsed().as_secs_f64()
        );
        held.close_all();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for LevelRows {
        level,
        rss,
        failed,
        ttft,
    } in rows
    {
        table.row(
            &format!("RSS with {level} open streams (MB)"),
            rss,
            report::Compare::Ratio,
        );
        table.row("  failed to open (so far)", failed, report::Compare::None);
        table.row("  TTFT p99 while opening µs", ttft, report::Compare::Added);
    }
    table.print();
    drop(targets);
    fleet.stop();
    Ok(())
}

/// The figures of one open-stream level, one value per target.
struct LevelRows {
    level: usize,
    rss: Vec<Value>,
    failed: Vec<Value>,
    ttft: Vec<Value>,
}

/// A round's table, one column per target.
fn round_table(title: &str, targets: &[Target<'_>]) -> Table {
    Table::new(title, targets.iter().map(|t| t.name).collect())
}

/// Resident memory of freshly started targets, before any request.
fn idle_rss_row(table: &mut Table, targets: &[Target<'_>]) {
    table.row(
        "RSS idle, freshly started (MB)",
        targets.iter().map(|t| rss_mb(t.server)).collect(),
        report::Compare::Ratio,
    );
}

fn rss_mb(s: &Server) -> Value {
    s.rss_bytes()
        .map_or(Value::Missing, |b| Value::num(b as f64 / (1024.0 * 1024.0)))
}

fn per_thousand(cpu_seconds: f64, requests: usize) -> Value {
    if requests == 0 {
        Value::Missing
    } else {
        Value::num(cpu_seconds * 1000.0 / requests as f64)
    }
}

/// The rows after a one-at-a-time measurement: requests slower than 40 ms (Nagle meeting a
/// delayed ACK), then failed requests.
fn outcome_rows(table: &mut Table, samples: &[Samples]) {
    let limit = Duration::from_millis(40);
    let slow = samples
        .iter()
        .map(|s| Value::num(s.total.iter().filter(|d| **d > limit).count() as f64))
        .collect();
    table.row("  > 40 ms (count)", slow, report::Compare::None);
    table.row("  errors", errors(samples), report::Compare::None);
}

fn errors(samples: &[Samples]) -> Vec<Value> {
    samples
        .iter()
        .map(|s| Value::num(s.errors as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The floor columns send one Gemini body for both APIs: `Workload::new` refuses to
    /// build unless the Responses request translates to the chat request's Gemini body.
    #[test]
    fn responses_request_translates_to_the_chat_requests_gemini_body() -> Result<(), BenchError> {
        let w = Workload::new()?;
        assert!(!w.gemini.is_empty());
        let plain = CreateResponse::from_slice(&w.responses_plain)
            .map_err(|e| BenchError::Workload(e.to_string()))?;
        let stream = CreateResponse::from_slice(&w.responses_stream)
            .map_err(|e| BenchError::Workload(e.to_string()))?;
        assert!(
            !plain.is_stream(),
            "the plain Responses body must not stream"
        );
        assert!(
            stream.is_stream(),
            "the streamed Responses body must say stream: true"
        );
        assert_eq!(
            plain.store, None,
            "the default body leaves store to OpenAI's default"
        );
        for body in [&w.unstored_plain, &w.unstored_stream] {
            let unstored = CreateResponse::from_slice(body)
                .map_err(|e| BenchError::Workload(e.to_string()))?;
            assert_eq!(unstored.store, Some(false));
        }
        Ok(())
    }
}
