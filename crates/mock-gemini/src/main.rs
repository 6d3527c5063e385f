//! The `mock-gemini` binary: runs the fake Gemini upstream until SIGTERM or ctrl-c, for
//! scripts, Python client tests (scripted over `/_mock/*`) and load benchmarks.
//!
//! Prints exactly one line, `mock-gemini listening on http://127.0.0.1:PORT`, once it accepts
//! connections, so a script can read the port.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use mock_gemini::{MockConfig, MockGemini};

/// A scriptable fake Gemini API upstream.
#[derive(Debug, Parser)]
#[command(name = "mock-gemini", version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Delay before every model answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Delay between streamed events, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Skip validating request bodies against the Gemini schema (content rules still apply).
    #[arg(long)]
    no_validate: bool,
    /// Do not keep requests in memory (for long load runs); counters still count.
    #[arg(long)]
    no_record: bool,
    /// The API key treated as invalid.
    #[arg(long, default_value = "invalid-key")]
    invalid_key: String,
    /// actix worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    let config = MockConfig {
        listen: args.listen,
        workers: args.workers,
        validate: !args.no_validate,
        invalid_key: args.invalid_key,
        delay_ms: args.delay_ms,
        chunk_delay_ms: args.chunk_delay_ms,
        record: !args.no_record,
        ..MockConfig::default()
    };
    let mock = match MockGemini::start_with(config) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("mock-gemini: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "mock-gemini listening on {}", mock.base_url())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(out);
    if let Err(e) = actix_rt::System::new().block_on(wait_for_shutdown()) {
        eprintln!("mock-gemini: cannot wait for signals: {e}");
    }
    mock.stop();
    ExitCode::SUCCESS
}

#[cfg(unix)]
async fn wait_for_shutdown() -> std::io::Result<()> {
    use actix_rt::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = actix_rt::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_shutdown() -> std::io::Result<()> {
    actix_rt::signal::ctrl_c().await
}
