//! The processes under test: starting `mock-gemini`, `pollux`, the relay and (optionally)
//! LiteLLM's proxy on loopback, waiting until they accept connections, reading their CPU time
//! and resident memory from `/proc`, and stopping each one by its PID (also on drop, so an
//! error or panic in the benchmark never leaves a server behind).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::BenchError;

/// The bearer token the adapters are sent (LiteLLM's master key; Pollux ignores it because it
/// is started with its own Gemini key).
pub const ADAPTER_KEY: &str = "sk-bench-key";

/// A running server process.
pub struct Server {
    pub addr: SocketAddr,
    child: Child,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User plus system CPU seconds the process has used so far (all its threads).
    pub fn cpu_seconds(&self) -> Result<f64, BenchError> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .ok_or_else(|| BenchError::Protocol("unreadable /proc stat".into()))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // `rest` starts at field 3 (state), so field 14 is index 11.
        Ok((ticks(11) + ticks(12)) as f64 / clock_ticks())
    }

    /// Resident set size in bytes.
    pub fn rss_bytes(&self) -> Result<u64, BenchError> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| BenchError::Protocol("no VmRSS in /proc status".into()))?;
        Ok(kb * 1024)
    }

    /// Stops the process (SIGKILL to its PID) and reaps it.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How to start the servers.
pub struct Launcher {
    pub mock_bin: PathBuf,
    pub pollux_bin: PathBuf,
    /// This benchmark's own binary, run as the relay; `None` leaves the relay out.
    pub relay_bin: Option<PathBuf>,
    pub litellm_bin: Option<PathBuf>,
    /// Core to pin the measured adapter to, when `taskset` is available.
    pub adapter_core: Option<u32>,
    pub log_dir: PathBuf,
    /// Also send Pollux the Responses request, as a column of its own.
    pub responses: bool,
}

impl Launcher {
    /// Starts `mock-gemini` with the given delays (validation and recording off: a load run
    /// measures the adapter, not the mock's checks).
    pub fn mock(&self, delay_ms: u64, chunk_delay_ms: u64) -> Result<Server, BenchError> {
        let mut cmd = Command::new(&self.mock_bin);
        cmd.args(["--listen", "127.0.0.1:0", "--no-validate", "--no-record"])
            .args(["--delay-ms", &delay_ms.to_string()])
            .args(["--chunk-delay-ms", &chunk_delay_ms.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(self.log("mock-gemini")?);
        let mut child = spawn(cmd, "mock-gemini")?;
        let stdout = child.stdout.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            if let Some(out) = stdout {
                let _ = BufReader::new(out).read_line(&mut line);
            }
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.parse::<SocketAddr>().ok());
        let mut server = Server {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            child,
        };
        match addr {
            Some(addr) => {
                server.addr = addr;
                Ok(server)
            }
            None => Err(BenchError::Start(format!(
                "mock-gemini did not print its address (got {line:?})"
            ))),
        }
    }

    /// Starts Pollux on one worker, pinned to the adapter core, in front of `upstream`.
    pub fn pollux(&self, upstream: SocketAddr) -> Result<Server, BenchError> {
        let addr = free_port()?;
        let mut cmd = self.pinned(&self.pollux_bin);
        cmd.args(["--listen", &addr.to_string()])
            .args(["--upstream", &format!("http://{upstream}")])
            .args(["--api-key", "bench-key", "--workers", "1"])
            // The default admission limit (1,024 upstream requests at once) would refuse the
            // open-stream levels beyond it; an operator expecting that load raises it too.
            .args(["--max-concurrent-upstream", "100000"])
            .env_remove("GEMINI_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(self.log("pollux")?);
        let server = start(cmd, addr, Duration::from_secs(20), "pollux")?;
        Ok(server)
    }

    /// Starts the byte-copying relay (see `relay.rs`) in front of `upstream`, pinned like the
    /// adapters.
    pub fn relay(&self, upstream: SocketAddr) -> Result<Option<Server>, BenchError> {
        let Some(bin) = &self.relay_bin else {
            return Ok(None);
        };
        let addr = free_port()?;
        let mut cmd = self.pinned(bin);
        cmd.args(["--relay-listen", &addr.to_string()])
            .args(["--relay-to", &upstream.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(self.log("relay")?);
        let server = start(cmd, addr, Duration::from_secs(20), "relay")?;
        Ok(Some(server))
    }

    /// Starts LiteLLM's proxy (one uvicorn worker, pinned like Pollux) with a config that maps
    /// `gemini-2.5-flash` to its `gemini/` provider at `upstream` (LiteLLM appends
    /// `/models/...` to `api_base`, so the base carries `/v1beta`). Cooldowns are off so an
    /// overload does not turn into minutes of refused requests; the proxy refuses to start
    /// without a master key.
    pub fn litellm(&self, upstream: SocketAddr) -> Result<Option<Server>, BenchError> {
        let Some(bin) = &self.litellm_bin else {
            return Ok(None);
        };
        let addr = free_port()?;
        let config = self.log_dir.join(format!("litellm-{}.yaml", addr.port()));
        std::fs::write(
            &config,
            format!(
                "model_list:\n  - model_name: gemini-2.5-flash\n    litellm_params:\n      model: gemini/gemini-2.5-flash\n      api_base: http://{upstream}/v1beta\n      api_key: bench-key\nlitellm_settings:\n  telemetry: false\n  drop_params: true\nrouter_settings:\n  disable_cooldowns: true\ngeneral_settings:\n  master_key: {ADAPTER_KEY}\n"
            ),
        )?;
        let mut cmd = self.pinned(bin);
        cmd.args(["--config", &config.to_string_lossy()])
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(["--num_workers", "1"])
            .env("LITELLM_LOG", "ERROR")
            .env("LITELLM_TELEMETRY", "False")
            .env("NO_DOCS", "True")
            .stdin(Stdio::null())
            .stdout(self.log("litellm-stdout")?)
            .stderr(self.log("litellm")?);
        let server = start(cmd, addr, Duration::from_secs(180), "litellm")?;
        Ok(Some(server))
    }

    fn pinned(&self, bin: &Path) -> Command {
        match self.adapter_core {
            Some(core) => {
                let mut cmd = Command::new("taskset");
                cmd.args(["-c", &core.to_string()]).arg(bin);
                cmd
            }
            None => Command::new(bin),
        }
    }

    fn log(&self, name: &str) -> Result<Stdio, BenchError> {
        std::fs::create_dir_all(&self.log_dir)?;
        Ok(Stdio::from(File::create(
            self.log_dir.join(format!("{name}.log")),
        )?))
    }
}

/// Spawns `cmd`, a server that listens on `addr`, and waits up to `limit` until it does.
fn start(
    cmd: Command,
    addr: SocketAddr,
    limit: Duration,
    what: &str,
) -> Result<Server, BenchError> {
    let server = Server {
        addr,
        child: spawn(cmd, what)?,
    };
    wait_listening(addr, limit, what)?;
    Ok(server)
}

fn spawn(mut cmd: Command, what: &str) -> Result<Child, BenchError> {
    cmd.spawn()
        .map_err(|e| BenchError::Start(format!("cannot start {what}: {e}")))
}

/// A loopback address with a port that was free a moment ago.
fn free_port() -> Result<SocketAddr, BenchError> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

fn wait_listening(addr: SocketAddr, limit: Duration, what: &str) -> Result<(), BenchError> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(BenchError::Start(format!(
        "{what} did not listen on {addr} within {}s",
        limit.as_secs()
    )))
}

/// `sysconf(_SC_CLK_TCK)` without `unsafe`: ask `getconf`, fall back to Linux's usual 100.
pub fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// Whether `taskset` can be run.
pub fn have_taskset() -> bool {
    Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Pins this process (before it starts threads) to `core`; children inherit it.
pub fn pin_self(core: u32) -> bool {
    Command::new("taskset")
        .args(["-cp", &core.to_string(), &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The soft limit on open files of this process (children inherit it).
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
