//! Chaos bench: three replicas of the release `aisha` binary on one PostgreSQL database and one
//! Redis, behind a random-routing HTTP proxy, while users talk to the bot and things break:
//! replica A is killed (-9) and started again, replica B is killed for good, Redis is stopped for
//! 10 s, the database connections are cut for 10 s, and the sandbox Telegram answers some sends
//! with an injected 429 or 502. At the end one more replica is killed while it uploads a result
//! with nothing else going on (the "quiet" kill).
//!
//! What runs where: the sandbox Telegram (rate limits on), the fake fal (tests/it/fake_fal.rs),
//! the routing proxy (the replicas' PUBLIC_URL and the webhook URL) and a TCP proxy in front of
//! PostgreSQL (so the bench can cut it) run in this process; Redis is a `redis-server` of its own
//! on a free port; the replicas are child processes, each with its own folder.
//!
//! Per run it prints one block: updates and provider callbacks sent; generations completed /
//! failed; results delivered (every completed generation's photo in its chat) and doubles, each
//! matched to a push that was in flight on a killed replica; refunds (once per failed job, none
//! for completed ones); balance = sum(ledger) per user; Telegram 429s, injected vs. rate-limit
//! ones; kill → delivery delays; peak RSS per replica process. It exits non-zero when an
//! invariant fails.
//!
//! `CARGO_TARGET_DIR=... cargo bench --bench chaos` (it builds the release binary first);
//! `CHAOS_RUNS=3` for three runs. Needs PostgreSQL (AISHA_TEST_PG_URL, default
//! postgres://postgres@127.0.0.1:5432/postgres) and `redis-server` on PATH. Each run makes and
//! drops a database `aisha_chaos_<random>` and takes about 3 minutes (at most 5).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fmt::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{ExitCode, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use aisha::{
    domain::{Coins, UserId},
    ledger::{self, Kind},
    sandbox::{Sandbox, SandboxConfig},
};
use anyhow::{Context, bail, ensure};
use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, OriginalUri, State},
    http::{HeaderMap, HeaderName, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine;
use chrono::{DateTime, Utc};
use entity::{avatar, balance, delivery, generation, user};
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    process::{Child, Command},
    task::JoinSet,
};
use tokio_util::sync::{CancellationToken, DropGuard};

#[path = "../tests/it/fake_fal.rs"]
#[allow(unused_imports)]
mod fake_fal;

use fake_fal::{FakeFal, Mode};

const TOKEN: &str = "9:CHAOS";
const SECRET: &str = "chaos_secret";
/// Users driven in parallel during the load phase.
const USERS: i64 = 12;
const FIRST_USER: i64 = 9001;
/// The first this many users train an avatar before they generate.
const AVATAR_USERS: i64 = 3;
/// The user of the quiet kill at the end.
const QUIET_USER: i64 = 9100;
const GRANT: i64 = 2000;
/// Users start generations for this long; the faults happen inside it.
const LOAD: Duration = Duration::from_secs(100);
const MAX_GENERATIONS: u32 = 8;
/// Between two actions of one user: Telegram allows one message per second in a chat, and the
/// bot's replies come right after each action.
const PACE: Duration = Duration::from_millis(1100);
/// How long fake fal "renders" before it calls back.
const FAL_DELAY_MS: u64 = 2000;
/// Fault timeline, from the start of the load phase.
const KILL_A_AT: Duration = Duration::from_secs(20);
const KILL_B_AT: Duration = Duration::from_secs(38);
const REDIS_STOP_AT: Duration = Duration::from_secs(55);
const PG_CUT_AT: Duration = Duration::from_secs(78);
const OUTAGE: Duration = Duration::from_secs(10);
/// When the provider starts failing every job, and for how long.
const PROVIDER_FAILS_AT: Duration = Duration::from_secs(67);
const PROVIDER_FAILURE: Duration = Duration::from_secs(8);
/// Injected Bot API faults, one pair this often during the load phase.
const FAULT_EVERY: Duration = Duration::from_secs(6);
/// A run that takes longer is stopped and counted as failed.
const RUN_LIMIT: Duration = Duration::from_secs(290);
/// Kill → delivery target.
const DELIVERY_TARGET: Duration = Duration::from_secs(15);
/// The proxy retries a provider callback that failed (a dead replica, a 5xx) for this long, as
/// fal retries its webhooks; fake fal itself sends each callback once and waits 30 s.
const CALLBACK_RETRY: Duration = Duration::from_secs(25);

type Res<T> = anyhow::Result<T>;

fn main() -> ExitCode {
    let runs: u32 = std::env::var("CHAOS_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let started = Instant::now();
    let binary = match build_release() {
        Ok(binary) => binary,
        Err(e) => {
            eprintln!("chaos: could not build the release binary: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut failed = 0;
    for run in 1..=runs {
        let began = Instant::now();
        let outcome = runtime.block_on(run_once(&binary, run));
        match outcome {
            Ok(report) => {
                println!("{}", report.text);
                if !report.failures.is_empty() {
                    failed += 1;
                }
            }
            Err(e) => {
                println!(
                    "=== chaos run {run}: ABORTED after {:.0?}: {e:#}",
                    began.elapsed()
                );
                failed += 1;
            }
        }
    }
    println!(
        "chaos: {runs} run(s), {failed} failed, total wall time {:.1?}",
        started.elapsed()
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `cargo build --release --bin aisha`; the binary's path.
fn build_release() -> Res<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    eprintln!("chaos: cargo build --release --bin aisha");
    let mut command = std::process::Command::new(cargo);
    command
        .args(["build", "--release", "--bin", "aisha"])
        .current_dir(manifest);
    // What cargo set for running this bench (our package's name, version, manifest) is not
    // the build's environment: build scripts that watch such variables (ring) would rebuild.
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
            ]
            .contains(&name.as_ref())
        {
            command.env_remove(&key);
        }
    }
    let status = command.status().context("running cargo")?;
    ensure!(status.success(), "cargo build failed: {status}");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| manifest.join("target"), PathBuf::from);
    let target = if target.is_relative() {
        manifest.join(target)
    } else {
        target
    };
    let binary = target.join("release").join("aisha");
    ensure!(binary.exists(), "no binary at {}", binary.display());
    Ok(binary)
}

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A field of /proc/<pid>/status in KiB (0 when the process is gone).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL behind a TCP proxy that can be cut.

struct PgProxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    /// Cancelled to close every proxied connection; replaced by a fresh one.
    epoch: Arc<Mutex<CancellationToken>>,
    refused: Arc<AtomicU64>,
    stop: CancellationToken,
}

impl PgProxy {
    async fn start(upstream: String, stop: CancellationToken) -> Res<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let proxy = Self {
            addr: listener.local_addr()?,
            cut: Arc::default(),
            epoch: Arc::new(Mutex::new(stop.child_token())),
            refused: Arc::default(),
            stop: stop.clone(),
        };
        let (cut, epoch, refused) = (
            proxy.cut.clone(),
            proxy.epoch.clone(),
            proxy.refused.clone(),
        );
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut inbound, _)) = accepted else {
                    continue;
                };
                if cut.load(Ordering::SeqCst) {
                    refused.fetch_add(1, Ordering::Relaxed);
                    drop(inbound);
                    continue;
                }
                let token = epoch.lock().expect("epoch lock").clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        () = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        Ok(proxy)
    }

    /// Closes every proxied connection and refuses new ones until [`Self::restore`].
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let mut epoch = self.epoch.lock().expect("epoch lock");
        epoch.cancel();
        *epoch = self.stop.child_token();
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// Redis: a server of our own.

struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    starts: u32,
}

impl RedisServer {
    async fn start(&mut self) -> Res<()> {
        self.starts += 1;
        let log = std::fs::File::create(self.dir.join(format!("redis-{}.log", self.starts)))?;
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .current_dir(&self.dir)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .context("starting redis-server (is it installed?)")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !redis_ping(self.port).await {
            ensure!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}

async fn redis_ping(port: u16) -> bool {
    let ping = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut buf = [0u8; 16];
        let n = stream.read(&mut buf).await?;
        std::io::Result::Ok(buf[..n].starts_with(b"+PONG"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), ping).await,
        Ok(Ok(true))
    )
}

// ---------------------------------------------------------------------------------------------
// The routing proxy: PUBLIC_URL of every replica and the sandbox's webhook URL.

#[derive(Clone, Default)]
struct Lb(Arc<LbInner>);

#[derive(Default)]
struct LbInner {
    http: reqwest::Client,
    /// Live replicas: (name, base URL).
    backends: Mutex<Vec<(String, String)>>,
    requests: AtomicU64,
    /// Requests that found a replica gone (connection refused) and went to another.
    connect_retries: AtomicU64,
    /// Provider callbacks tried again after a 5xx or a broken connection.
    callback_retries: AtomicU64,
    /// Answered 502 (no replica took it).
    bad_gateway: AtomicU64,
}

impl Lb {
    fn add(&self, name: &str, url: &str) {
        let mut backends = self.0.backends.lock().expect("lb lock");
        backends.retain(|(n, _)| n != name);
        backends.push((name.to_owned(), url.to_owned()));
    }

    fn remove(&self, name: &str) {
        self.0
            .backends
            .lock()
            .expect("lb lock")
            .retain(|(n, _)| n != name);
    }

    /// A random live replica not in `tried`.
    fn pick(&self, tried: &[String]) -> Option<String> {
        let backends = self.0.backends.lock().expect("lb lock");
        let left: Vec<&String> = backends
            .iter()
            .map(|(_, url)| url)
            .filter(|url| !tried.contains(url))
            .collect();
        if left.is_empty() {
            return None;
        }
        Some(left[rand::random_range(0..left.len())].clone())
    }

    async fn start(&self, stop: CancellationToken) -> Res<String> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = Router::new()
            .fallback(forward)
            .with_state(self.clone())
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        Ok(url)
    }
}

fn hop_by_hop(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::CONTENT_LENGTH,
        header::HOST,
        header::UPGRADE,
        header::TE,
        header::TRAILER,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Forwards the request to a random live replica. A replica that refuses the connection
/// (killed) is skipped for another. A provider callback is also tried again after a 5xx or a
/// connection broken mid-request, for up to [`CALLBACK_RETRY`]: fal retries its webhooks, fake
/// fal does not.
async fn forward(
    State(lb): State<Lb>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    lb.0.requests.fetch_add(1, Ordering::Relaxed);
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let callback = uri.path().starts_with("/webhooks/");
    let give_up = Instant::now()
        + if callback {
            CALLBACK_RETRY
        } else {
            Duration::from_secs(5)
        };
    let mut tried: Vec<String> = Vec::new();
    loop {
        let Some(target) = lb.pick(&tried) else {
            if Instant::now() >= give_up {
                lb.0.bad_gateway.fetch_add(1, Ordering::Relaxed);
                return (StatusCode::BAD_GATEWAY, "no live replica").into_response();
            }
            tried.clear();
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        };
        let mut request =
            lb.0.http
                .request(method.clone(), format!("{target}{path}"))
                .timeout(Duration::from_secs(60))
                .body(body.clone());
        for (name, value) in &headers {
            if !hop_by_hop(name) {
                request = request.header(name, value);
            }
        }
        match request.send().await {
            Ok(response) => {
                if callback && response.status().is_server_error() && Instant::now() < give_up {
                    lb.0.callback_retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    tried.clear();
                    continue;
                }
                let status = response.status();
                let mut out = HeaderMap::new();
                for (name, value) in response.headers() {
                    if !hop_by_hop(name) {
                        out.append(name.clone(), value.clone());
                    }
                }
                return match response.bytes().await {
                    Ok(bytes) => (status, out, bytes).into_response(),
                    Err(_) => {
                        lb.0.bad_gateway.fetch_add(1, Ordering::Relaxed);
                        (StatusCode::BAD_GATEWAY, "the replica broke off").into_response()
                    }
                };
            }
            Err(e) if e.is_connect() => {
                lb.0.connect_retries.fetch_add(1, Ordering::Relaxed);
                tried.push(target);
            }
            Err(_) if callback && Instant::now() < give_up => {
                lb.0.callback_retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                lb.0.bad_gateway.fetch_add(1, Ordering::Relaxed);
                return (StatusCode::BAD_GATEWAY, e.to_string()).into_response();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A tap between the replicas and the sandbox's Bot API: what each call was answered, exactly
// (an injected fault says so in its description; a rate-limit 429 does not).

/// Put in the description of every injected fault.
const INJECTED: &str = "(injected by chaos)";

struct TapCall {
    /// Seconds since the run started.
    at: f64,
    method: String,
    status: u16,
    injected: bool,
    chat: Option<i64>,
    /// The start of the text sent (JSON requests only).
    text: Option<String>,
}

#[derive(Clone)]
struct Tap {
    http: reqwest::Client,
    /// `http://127.0.0.1:<sandbox port>`
    target: String,
    started: Instant,
    calls: Arc<Mutex<Vec<TapCall>>>,
}

impl Tap {
    async fn start(
        target: String,
        started: Instant,
        stop: CancellationToken,
    ) -> Res<(Self, String)> {
        let tap = Self {
            http: reqwest::Client::new(),
            target,
            started,
            calls: Arc::default(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = Router::new()
            .fallback(tap_call)
            .with_state(tap.clone())
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        Ok((tap, url))
    }
}

/// `chat_id` of a Bot API request, JSON or multipart.
fn chat_of(body: &[u8]) -> Option<i64> {
    if let Ok(json) = serde_json::from_slice::<Value>(body) {
        return json["chat_id"].as_i64();
    }
    let marker = b"name=\"chat_id\"\r\n\r\n";
    let at = body.windows(marker.len()).position(|w| w == marker)? + marker.len();
    let digits: String = body[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'-')
        .map(|b| char::from(*b))
        .collect();
    digits.parse().ok()
}

async fn tap_call(
    State(tap): State<Tap>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let mut request = tap
        .http
        .request(method, format!("{}{path}", tap.target))
        .timeout(Duration::from_secs(120))
        .body(body.clone());
    for (name, value) in &headers {
        if !hop_by_hop(name) {
            request = request.header(name, value);
        }
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = response.status();
    let mut out = HeaderMap::new();
    for (name, value) in response.headers() {
        if !hop_by_hop(name) {
            out.append(name.clone(), value.clone());
        }
    }
    let Ok(bytes) = response.bytes().await else {
        return (StatusCode::BAD_GATEWAY, "the sandbox broke off").into_response();
    };
    if !uri.path().contains("/file/") {
        let injected = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v["description"].as_str().map(|d| d.contains(INJECTED)))
            .unwrap_or(false);
        let call = TapCall {
            at: secs(tap.started.elapsed()),
            method: uri.path().rsplit('/').next().unwrap_or("?").to_owned(),
            status: status.as_u16(),
            injected,
            chat: chat_of(&body),
            text: serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["text"].as_str().map(|t| t.chars().take(40).collect())),
        };
        tap.calls.lock().expect("tap lock").push(call);
    }
    (status, out, bytes).into_response()
}

// ---------------------------------------------------------------------------------------------
// Replica processes.

struct Replica {
    name: String,
    /// Kept across restarts: a restarted replica finds its images and photos again.
    dir: tempfile::TempDir,
    /// How many processes this replica has had.
    life: u32,
    url: String,
    child: Option<Child>,
    pid: u32,
    /// The process's replica id (`/readyz`), the `locked_by` of the rows it claims.
    id: String,
}

impl Replica {
    fn label(&self) -> String {
        format!("{}#{}", self.name, self.life)
    }

    fn log(&self, life: u32) -> PathBuf {
        self.dir.path().join(format!("replica-{life}.log"))
    }

    /// The last lines of every log of this replica.
    fn tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for life in 1..=self.life {
            let text = std::fs::read_to_string(self.log(life)).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let from = all.len().saturating_sub(lines);
            let _ = writeln!(
                out,
                "--- {}#{life} log ({} lines, last {}):",
                self.name,
                all.len(),
                all.len() - from
            );
            for line in &all[from..] {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }

    /// Lines with a panic or an ERROR in every log of this replica.
    fn alarms(&self) -> Vec<String> {
        let mut out = Vec::new();
        for life in 1..=self.life {
            let text = std::fs::read_to_string(self.log(life)).unwrap_or_default();
            for line in text.lines() {
                if line.contains("panicked") || line.contains("ERROR") {
                    out.push(format!("{}#{life}: {line}", self.name));
                }
            }
        }
        out
    }
}

/// Peak RSS (VmHWM) per process, sampled while they run and just before they are killed.
#[derive(Default)]
struct Rss {
    live: Mutex<Vec<(String, u32)>>,
    peak: Mutex<BTreeMap<String, u64>>,
}

impl Rss {
    fn sample(&self, label: &str, pid: u32) {
        let kib = status_kib(pid, "VmHWM:");
        let mut peak = self.peak.lock().expect("rss lock");
        let entry = peak.entry(label.to_owned()).or_default();
        *entry = (*entry).max(kib);
    }

    fn sample_all(&self) {
        let live = self.live.lock().expect("rss lock").clone();
        for (label, pid) in live {
            self.sample(&label, pid);
        }
    }
}

/// One kill: which rows the victim held, and when.
struct Kill {
    label: String,
    quiet: bool,
    at: Instant,
    at_utc: DateTime<Utc>,
    /// Pending `deliveries` rows locked by the victim: (id, dedupe_key).
    held: Vec<(i64, String)>,
}

// ---------------------------------------------------------------------------------------------
// The sandbox Telegram, as users see it.

#[derive(Default)]
struct TgStats {
    /// Updates posted to the webhook, redeliveries included.
    posted: AtomicU64,
    redelivered: AtomicU64,
    /// Webhook answers other than 200, by status ("transport" when none came).
    not_ok: Mutex<BTreeMap<String, u64>>,
}

#[derive(Clone)]
struct Tg {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/sandbox`
    sandbox: String,
    stats: Arc<TgStats>,
}

impl Tg {
    async fn post(&self, path: &str, body: &Value) -> Res<(StatusCode, Value)> {
        let response = self
            .http
            .post(format!("{}{path}", self.sandbox))
            .json(body)
            .send()
            .await
            .with_context(|| format!("sandbox {path}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("sandbox {path}: {status}"))?;
        Ok((status, body))
    }

    async fn get(&self, path: &str) -> Res<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.sandbox))
            .send()
            .await
            .with_context(|| format!("sandbox {path}"))?;
        response
            .json()
            .await
            .with_context(|| format!("sandbox {path}"))
    }

    /// Redelivers `update_id` like Telegram (with a short pause) until the bot answers 200.
    async fn until_taken(&self, update_id: i64, mut status: Option<u64>) -> Res<Vec<Value>> {
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut answers = vec![json!(status)];
        while status != Some(200) {
            let key = status.map_or_else(|| "transport".to_owned(), |s| s.to_string());
            *self
                .stats
                .not_ok
                .lock()
                .expect("stats lock")
                .entry(key)
                .or_default() += 1;
            ensure!(
                Instant::now() < deadline,
                "update {update_id} never answered 200 (last {status:?})"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (_, again) = self
                .post(&format!("/updates/{update_id}/redeliver"), &json!({}))
                .await?;
            self.stats.posted.fetch_add(1, Ordering::Relaxed);
            self.stats.redelivered.fetch_add(1, Ordering::Relaxed);
            status = again["webhook_status"].as_u64();
            answers.push(json!(status));
        }
        Ok(answers)
    }

    /// A user action (a message or a press) that posts one update, taken by the bot.
    async fn act(&self, path: &str, body: Value) -> Res<Value> {
        let (_, reply) = self.post(path, &body).await?;
        self.stats.posted.fetch_add(1, Ordering::Relaxed);
        let update_id = reply["update_id"]
            .as_i64()
            .with_context(|| format!("no update_id from {path}: {reply}"))?;
        let answers = self
            .until_taken(update_id, reply["webhook_status"].as_u64())
            .await?;
        let mut reply = reply;
        reply["answers"] = json!(answers);
        Ok(reply)
    }

    async fn say(&self, user: i64, text: &str) -> Res<Value> {
        self.act(&format!("/users/{user}/messages"), json!({ "text": text }))
            .await
    }

    async fn press(&self, user: i64, message_id: i64, data: &str) -> Res<Value> {
        self.act(
            &format!("/users/{user}/press"),
            json!({ "message_id": message_id, "callback_data": data }),
        )
        .await
    }

    /// An album: its updates arrive in parallel and spread across the replicas.
    async fn album(&self, user: i64, photos: &[Vec<u8>]) -> Res<()> {
        let files: Vec<Value> = photos
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                json!({ "kind": "photo", "file_name": format!("img{i}.png"),
                    "mime_type": "image/png",
                    "data": base64::engine::general_purpose::STANDARD.encode(bytes) })
            })
            .collect();
        let (_, sent) = self
            .post(&format!("/users/{user}/media"), &json!({ "files": files }))
            .await?;
        let updates = sent["updates"]
            .as_array()
            .with_context(|| format!("media: {sent}"))?;
        let mut taken = JoinSet::new();
        for update in updates {
            self.stats.posted.fetch_add(1, Ordering::Relaxed);
            let id = update["update_id"].as_i64().context("update_id")?;
            let status = update["webhook_status"].as_u64();
            let tg = self.clone();
            taken.spawn(async move { tg.until_taken(id, status).await.map(drop) });
        }
        while let Some(done) = taken.join_next().await {
            done??;
        }
        Ok(())
    }

    async fn bot_messages(&self, user: i64) -> Res<Vec<Value>> {
        let chat = self.get(&format!("/users/{user}/chat")).await?;
        Ok(chat["messages"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|m| m["from_bot"] == true)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The latest bot message with a button whose data is `data`, waiting up to `wait`.
    async fn with_button(&self, user: i64, data: &str, wait: Duration) -> Res<i64> {
        let deadline = Instant::now() + wait;
        loop {
            let found = self
                .bot_messages(user)
                .await?
                .into_iter()
                .rev()
                .find(|m| buttons(m).iter().any(|(_, d)| d == data));
            if let Some(m) = found {
                return m["message_id"].as_i64().context("message_id");
            }
            ensure!(
                Instant::now() < deadline,
                "user {user}: no message with the {data} button after {wait:?}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Result photos whose caption has `prompt`, once there are `n` (None after `wait`).
    async fn photos_of(
        &self,
        user: i64,
        prompt: &str,
        n: usize,
        wait: Duration,
    ) -> Res<Option<Vec<Value>>> {
        let deadline = Instant::now() + wait;
        loop {
            let found: Vec<Value> = self
                .bot_messages(user)
                .await?
                .into_iter()
                .filter(|m| {
                    !m["photo"].is_null()
                        && m["caption"].as_str().is_some_and(|c| c.contains(prompt))
                })
                .collect();
            if found.len() >= n {
                return Ok(Some(found));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    async fn fault(&self, fault: Value) -> Res<()> {
        let (status, body) = self.post("/faults", &fault).await?;
        ensure!(status.is_success(), "faults: {status} {body}");
        Ok(())
    }

    async fn calls(&self) -> Res<Vec<Value>> {
        let calls = self.get("/calls").await?;
        Ok(calls.as_array().cloned().unwrap_or_default())
    }
}

fn buttons(message: &Value) -> Vec<(String, String)> {
    message["buttons"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .map(|b| {
            (
                b["text"].as_str().unwrap_or_default().to_owned(),
                b["callback_data"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The generation a result photo belongs to, from its 🔄 button (`regenerate:<id>`).
fn result_generation(message: &Value) -> Option<i64> {
    buttons(message)
        .iter()
        .find_map(|(_, d)| d.strip_prefix("regenerate:")?.parse().ok())
}

/// A grey photo of 600×800, distinct per seed (as tests/it/avatars.rs makes them).
fn photo(seed: u32) -> Vec<u8> {
    let (width, height) = (600, 800);
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let pixels: Vec<u8> = (0..width * height)
        .map(|i| (i.wrapping_mul(seed.wrapping_add(7)) >> 5) as u8)
        .collect();
    let mut writer = encoder.write_header().expect("png header");
    writer.write_image_data(&pixels).expect("png data");
    writer.finish().expect("png end");
    out
}

// ---------------------------------------------------------------------------------------------
// Users.

#[derive(Default)]
struct UserLog {
    /// gen_go presses the bot took.
    starts: u64,
    /// 🔄 pressed twice at once on these generations.
    double_repeats: Vec<i64>,
    /// Extra deliveries of an update already taken.
    duplicate_updates: u64,
    /// Things that did not go as a user expects (a result that did not come in time, ...).
    notes: Vec<String>,
}

async fn pace() {
    tokio::time::sleep(PACE).await;
}

async fn user_id(db: &DatabaseConnection, telegram_id: i64) -> Res<i64> {
    Ok(user::Entity::find()
        .filter(user::Column::TelegramId.eq(telegram_id))
        .one(db)
        .await?
        .with_context(|| format!("no user row for {telegram_id}"))?
        .id)
}

/// 🎭 → ➕ → a name → 👩 → an album of ten → ✅, then waits for the avatar to be ready.
async fn train_avatar(tg: &Tg, db: &DatabaseConnection, user: i64, log: &mut UserLog) -> Res<()> {
    let menu = tg
        .with_button(user, "avatar_menu", Duration::from_secs(10))
        .await?;
    tg.press(user, menu, "avatar_menu").await?;
    pace().await;
    let list = tg
        .with_button(user, "av_new", Duration::from_secs(10))
        .await?;
    tg.press(user, list, "av_new").await?;
    pace().await;
    tg.say(user, &format!("Хаос {user}")).await?;
    pace().await;
    let ask = tg
        .with_button(user, "av_g:1", Duration::from_secs(10))
        .await?;
    tg.press(user, ask, "av_g:1").await?;
    let owner = user_id(db, user).await?;
    let draft = avatar::Entity::find()
        .filter(avatar::Column::UserId.eq(owner))
        .order_by_desc(avatar::Column::Id)
        .one(db)
        .await?
        .context("no draft avatar")?;
    pace().await;
    let base = u32::try_from(user).unwrap_or(1) * 16;
    let photos: Vec<Vec<u8>> = (0..10).map(|k| photo(base + k)).collect();
    tg.album(user, &photos).await?;
    let train = format!("av_train:{}", draft.id);
    let status = tg
        .with_button(user, &train, Duration::from_secs(60))
        .await?;
    pace().await;
    tg.press(user, status, &train).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = avatar::Entity::find_by_id(draft.id)
            .one(db)
            .await?
            .context("avatar gone")?;
        let told = delivery::Entity::find()
            .filter(delivery::Column::DedupeKey.eq(format!("training:{}", draft.id)))
            .filter(delivery::Column::Status.eq("done"))
            .one(db)
            .await?
            .is_some();
        // The user goes on once the bot has said so in the chat, not at the row's change.
        if (row.status == "ready" || row.status == "failed") && told {
            if row.status == "failed" {
                log.notes.push(format!("avatar {} failed", draft.id));
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            log.notes.push(format!(
                "avatar {} still {} after 60 s",
                draft.id, row.status
            ));
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The last `n` messages of a chat, short: who, id, text or caption, buttons.
async fn chat_tail(tg: &Tg, user: i64, n: usize) -> String {
    let Ok(chat) = tg.get(&format!("/users/{user}/chat")).await else {
        return "(chat unreadable)".into();
    };
    let all = chat["messages"].as_array().cloned().unwrap_or_default();
    all[all.len().saturating_sub(n)..]
        .iter()
        .map(|m| {
            let text = m["text"].as_str().or(m["caption"].as_str()).unwrap_or("");
            let text: String = text.chars().take(60).collect();
            let data: Vec<String> = buttons(m).into_iter().map(|(_, d)| d).collect();
            format!(
                "[{} #{} {}{text:?} {data:?}]",
                if m["from_bot"] == true { "bot" } else { "user" },
                m["message_id"],
                if m["photo"].is_null() { "" } else { "photo " },
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// /generate, the prompt, the square size, one image (counted in `starts` before it is
/// pressed). The gen_go press's reply.
async fn generate(tg: &Tg, user: i64, prompt: &str, starts: &mut u64) -> Res<Value> {
    tg.say(user, "/generate").await?;
    pace().await;
    let said = tg.say(user, prompt).await?;
    pace().await;
    let screen = tg
        .with_button(user, "gen_aspect:0", Duration::from_secs(15))
        .await
        .with_context(|| {
            format!(
                "the prompt (update {}) was answered {}",
                said["update_id"], said["answers"]
            )
        })?;
    tg.press(user, screen, "gen_aspect:0").await?;
    pace().await;
    *starts += 1;
    tg.press(user, screen, "gen_go:0:1").await
}

async fn user_task(
    tg: Tg,
    db: DatabaseConnection,
    tap: Tap,
    user: i64,
    load_end: Instant,
) -> (i64, UserLog, Res<()>) {
    let mut log = UserLog::default();
    let result = user_flow(&tg, &db, &tap, user, load_end, &mut log).await;
    (user, log, result)
}

async fn user_flow(
    tg: &Tg,
    db: &DatabaseConnection,
    tap: &Tap,
    user: i64,
    load_end: Instant,
    log: &mut UserLog,
) -> Res<()> {
    let index = user - FIRST_USER;
    // Spread the users' first actions over a few seconds.
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(index).unwrap_or(0) * 400,
    ))
    .await;
    if index < AVATAR_USERS {
        train_avatar(tg, db, user, log).await?;
        pace().await;
    }
    let mut n = 0;
    while n < MAX_GENERATIONS && Instant::now() < load_end {
        n += 1;
        let prompt = format!("chaos u{user} g{n:02} go");
        let go = match generate(tg, user, &prompt, &mut log.starts).await {
            Ok(go) => go,
            Err(e) => {
                let tail = chat_tail(tg, user, 5).await;
                let now = secs(tap.started.elapsed());
                let calls: Vec<String> = tap
                    .calls
                    .lock()
                    .expect("tap lock")
                    .iter()
                    .filter(|c| c.chat == Some(user) && c.at > now - 40.0)
                    .map(|c| {
                        format!(
                            "t={:.1} {} {}{}",
                            c.at,
                            c.method,
                            c.status,
                            if c.injected { " (injected)" } else { "" }
                        )
                    })
                    .collect();
                log.notes.push(format!(
                    "{prompt:?}: {e:#}; chat ends with: {tail}; Bot API calls to this chat in \
                     the last 40 s: {calls:?}"
                ));
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if index % 4 == 1 && n.is_multiple_of(3) {
            // Telegram delivers the same press twice more (it did not see our answer).
            let update = go["update_id"].as_i64().context("update_id")?;
            let again = format!("/updates/{update}/redeliver");
            let empty = json!({});
            let (a, b) = tokio::join!(tg.post(&again, &empty), tg.post(&again, &empty));
            for (_, reply) in [a?, b?] {
                tg.stats.posted.fetch_add(1, Ordering::Relaxed);
                log.duplicate_updates += 1;
                if reply["webhook_status"] != 200 {
                    log.notes.push(format!(
                        "duplicate of update {update} answered {}",
                        reply["webhook_status"]
                    ));
                }
            }
        }
        let Some(result) = tg
            .photos_of(user, &prompt, 1, Duration::from_secs(45))
            .await?
        else {
            log.notes
                .push(format!("no result for {prompt:?} within 45 s"));
            continue;
        };
        if index % 3 == 2 && n == 2 {
            // 🔄 twice at once on the result: one new generation.
            let photo = &result[0];
            let id = photo["message_id"].as_i64().context("message_id")?;
            let data = buttons(photo)
                .into_iter()
                .map(|(_, d)| d)
                .find(|d| d.starts_with("regenerate:"))
                .context("no 🔄 under the result")?;
            log.double_repeats.extend(result_generation(photo));
            pace().await;
            let (a, b) = tokio::join!(tg.press(user, id, &data), tg.press(user, id, &data));
            a?;
            b?;
            if tg
                .photos_of(user, &prompt, 2, Duration::from_secs(45))
                .await?
                .is_none()
            {
                log.notes
                    .push(format!("no repeated result for {prompt:?} within 45 s"));
            }
        }
        tokio::time::sleep(Duration::from_millis(rand::random_range(2500..7000))).await;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// One run.

/// Drops the run's database even when the run fails or panics.
struct DbGuard {
    admin: String,
    name: String,
    armed: bool,
}

impl DbGuard {
    async fn drop_now(&mut self) -> Res<()> {
        let admin = Database::connect(&self.admin).await?;
        admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .await?;
        let _ = admin.close().await;
        self.armed = false;
        Ok(())
    }
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Its own thread and runtime: this may run inside (or after) the bench's runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let conn = Database::connect(&admin).await?;
                conn.execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                ))
                .await?;
                anyhow::Ok(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("chaos: could not drop database {}", self.name);
        }
    }
}

/// Everything a run started. Dropping it kills the processes, stops the in-process servers,
/// removes the folders and drops the database.
struct World {
    run: u32,
    binary: PathBuf,
    started: Instant,
    tg: Tg,
    fal: FakeFal,
    lb: Lb,
    lb_url: String,
    pg: PgProxy,
    /// The bench's own connection (not through the cut-able proxy).
    db: DatabaseConnection,
    replica_db_url: String,
    prefix: String,
    replicas: Vec<Replica>,
    rss: Arc<Rss>,
    kills: Vec<Kill>,
    /// (what, from, to) since `started`.
    windows: Vec<(String, f64, f64)>,
    /// Injected faults by (method, code).
    injected: Arc<Mutex<BTreeMap<(String, u16), u64>>>,
    /// Every Bot API call of the replicas and its answer.
    tap: Tap,
    tap_url: String,
    redis: RedisServer,
    _stop: DropGuard,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
    db_guard: DbGuard,
}

impl World {
    async fn start(binary: &Path, run: u32) -> Res<Self> {
        let started = Instant::now();
        let stop = CancellationToken::new();
        let dir = tempfile::tempdir()?;
        let admin = std::env::var("AISHA_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("aisha_chaos_{}", unique());
        let conn = tokio::time::timeout(Duration::from_secs(5), Database::connect(&admin))
            .await
            .context("PostgreSQL: connect timed out")?
            .context("PostgreSQL: connect")?;
        conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await?;
        let _ = conn.close().await;
        let db_guard = DbGuard {
            admin: admin.clone(),
            name: name.clone(),
            armed: true,
        };
        let admin_url = url::Url::parse(&admin).context("AISHA_TEST_PG_URL")?;
        let upstream = format!(
            "{}:{}",
            admin_url.host_str().unwrap_or("127.0.0.1"),
            admin_url.port().unwrap_or(5432)
        );
        let pg = PgProxy::start(upstream, stop.clone()).await?;
        let mut direct = admin_url.clone();
        direct.set_path(&format!("/{name}"));
        let mut proxied = direct.clone();
        proxied.set_host(Some("127.0.0.1")).context("proxy host")?;
        proxied
            .set_port(Some(pg.addr.port()))
            .map_err(|()| anyhow::anyhow!("proxy port"))?;

        let mut redis = RedisServer {
            port: free_port()?,
            dir: dir.path().to_owned(),
            child: None,
            starts: 0,
        };
        redis.start().await?;

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let sandbox = format!("http://{}/sandbox", listener.local_addr()?);
        let (tap, tap_url) = Tap::start(
            format!("http://{}", listener.local_addr()?),
            started,
            stop.clone(),
        )
        .await?;
        let serving = Sandbox::new(SandboxConfig {
            token: TOKEN.into(),
            rate_limits: true,
        })
        .serve(listener, stop.clone().cancelled_owned());
        tokio::spawn(serving);

        let lb = Lb::default();
        let lb_url = lb.start(stop.clone()).await?;
        let fal = FakeFal::start().await;
        fal.set_mode(Mode::CallbackOk {
            delay_ms: FAL_DELAY_MS,
        });
        let db = Database::connect(direct.as_str()).await?;
        let tg = Tg {
            http: reqwest::Client::new(),
            sandbox,
            stats: Arc::default(),
        };
        let replicas = ["A", "B", "C"]
            .iter()
            .map(|n| {
                Ok(Replica {
                    name: (*n).to_owned(),
                    dir: tempfile::tempdir()?,
                    life: 0,
                    url: String::new(),
                    child: None,
                    pid: 0,
                    id: String::new(),
                })
            })
            .collect::<Res<Vec<_>>>()?;
        let world = Self {
            run,
            binary: binary.to_owned(),
            started,
            tg,
            fal,
            lb,
            lb_url,
            pg,
            db,
            replica_db_url: proxied.to_string(),
            prefix: format!("chaos:{}:", unique()),
            replicas,
            rss: Arc::default(),
            kills: Vec::new(),
            windows: Vec::new(),
            injected: Arc::default(),
            tap,
            tap_url,
            redis,
            _stop: stop.clone().drop_guard(),
            stop,
            _dir: dir,
            db_guard,
        };
        Ok(world)
    }

    fn since(&self) -> f64 {
        secs(self.started.elapsed())
    }

    /// Starts a new process of replica `i` (in its folder) and waits until it is ready.
    async fn spawn(&mut self, i: usize) -> Res<()> {
        let port = free_port()?;
        let replica = &mut self.replicas[i];
        replica.life += 1;
        let log = std::fs::File::create(replica.log(replica.life))?;
        let dir = replica.dir.path();
        let mut command = Command::new(&self.binary);
        command
            .env_clear()
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("PUBLIC_URL", &self.lb_url)
            .env("DATABASE_URL", &self.replica_db_url)
            .env(
                "REDIS_URL",
                format!("redis://127.0.0.1:{}", self.redis.port),
            )
            .env("TELEGRAM_BOT_TOKEN", TOKEN)
            .env("TELEGRAM_WEBHOOK_SECRET", SECRET)
            .env("TELEGRAM_API_URL", format!("{}/sandbox", self.tap_url))
            .env("AISHA_CACHE__KEY_PREFIX", &self.prefix)
            .env("AISHA_DELIVERY__IMAGES_DIR", dir.join("images"))
            .env("AISHA_AVATAR__PHOTOS_DIR", dir.join("avatars"))
            .env("IMAGE_PROVIDER", "fal")
            .env("FAL_KEY", FakeFal::KEY)
            .env("FAL_QUEUE_URL", self.fal.queue_url())
            .env(
                "AISHA_DELIVERY__IMAGE_ORIGINS",
                format!("[\"{}\"]", self.fal.queue_url()),
            )
            .env("FAL_JWKS_URL", self.fal.jwks_url())
            .env(
                "AISHA_CONFIG_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
            )
            // Production settings, with a smaller pool (three replicas share one PostgreSQL
            // with other users) and deadlines that fall inside a run: a callback fake fal
            // could not deliver is then found by asking the provider.
            .env("AISHA_ENV", "production")
            .env("AISHA_DATABASE__MAX_CONNECTIONS", "10")
            .env("AISHA_GENERATION__DEADLINE_SECS", "60")
            .env("AISHA_AVATAR__TRAINING_DEADLINE_SECS", "120")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let mut child = command.spawn().context("starting the aisha binary")?;
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        let id = loop {
            if let Ok(Some(exit)) = child.try_wait() {
                bail!(
                    "replica {} exited at start-up: {exit}\n{}",
                    replica.label(),
                    replica.tails(30)
                );
            }
            let ready = self.tg.http.get(format!("{url}/readyz")).send().await;
            if let Ok(response) = ready
                && response.status().is_success()
            {
                let body: Value = response.json().await?;
                break body["replica"]
                    .as_str()
                    .context("readyz without a replica id")?
                    .to_owned();
            }
            ensure!(
                Instant::now() < deadline,
                "replica {} not ready after 60 s\n{}",
                replica.label(),
                replica.tails(30)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        replica.pid = child.id().unwrap_or(0);
        replica.child = Some(child);
        replica.url = url;
        replica.id = id;
        self.rss
            .live
            .lock()
            .expect("rss lock")
            .push((replica.label(), replica.pid));
        self.lb.add(&replica.name, &replica.url);
        Ok(())
    }

    /// Pending outbox rows held by the process `replica_id`.
    async fn held_by(&self, replica_id: &str) -> Res<Vec<(i64, String)>> {
        Ok(delivery::Entity::find()
            .filter(delivery::Column::Status.eq("pending"))
            .filter(delivery::Column::LockedBy.eq(replica_id))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| (r.id, r.dedupe_key))
            .collect())
    }

    /// kill -9 of replica `i`; `restart` starts a new process in the same folder right away.
    async fn kill(&mut self, i: usize, quiet: bool, restart: bool) -> Res<()> {
        let (name, label, victim, pid) = {
            let r = &self.replicas[i];
            (r.name.clone(), r.label(), r.id.clone(), r.pid)
        };
        self.lb.remove(&name);
        let mut held = self.held_by(&victim).await?;
        self.rss.sample(&label, pid);
        self.rss
            .live
            .lock()
            .expect("rss lock")
            .retain(|(l, _)| *l != label);
        let at = Instant::now();
        let at_utc = Utc::now();
        if let Some(mut child) = self.replicas[i].child.take() {
            child.start_kill().context("SIGKILL")?;
            let _ = child.wait().await;
        }
        // Dead now: what it held stays held until another replica takes it over.
        for row in self.held_by(&victim).await? {
            if !held.contains(&row) {
                held.push(row);
            }
        }
        eprintln!(
            "chaos[{}] t={:.1}s kill -9 {label} (held {} pending rows){}",
            self.run,
            self.since(),
            held.len(),
            if restart { ", restarting" } else { "" }
        );
        self.kills.push(Kill {
            label,
            quiet,
            at,
            at_utc,
            held,
        });
        if restart {
            self.spawn(i).await?;
        }
        Ok(())
    }

    /// Under load: the next uploads hang for a few seconds; once the victim holds a push
    /// (at most 12 s later) it is killed.
    async fn kill_under_load(&mut self, i: usize, restart: bool) -> Res<()> {
        self.tg
            .fault(
                json!({ "method": "sendPhoto", "error_code": null, "delay_ms": 4000,
                "times": 3 }),
            )
            .await?;
        let victim = self.replicas[i].id.clone();
        let deadline = Instant::now() + Duration::from_secs(12);
        while Instant::now() < deadline && self.held_by(&victim).await?.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kill(i, false, restart).await
    }

    async fn grant(&self, telegram_id: i64, coins: i64) -> Res<()> {
        let id = user_id(&self.db, telegram_id).await?;
        ledger::credit(
            &self.db,
            UserId(id),
            Coins(coins),
            Kind::Grant,
            None,
            &format!("chaos-grant:{}", unique()),
        )
        .await?;
        Ok(())
    }

    /// Until no generation or training is running and the outbox is empty (false after `wait`).
    async fn settled(&self, wait: Duration) -> Res<bool> {
        let deadline = Instant::now() + wait;
        loop {
            let generations = generation::Entity::find()
                .filter(generation::Column::Status.eq("pending"))
                .all(&self.db)
                .await?
                .len();
            let trainings = avatar::Entity::find()
                .filter(avatar::Column::Status.eq("training"))
                .all(&self.db)
                .await?
                .len();
            let pushes = delivery::Entity::find()
                .filter(delivery::Column::Status.eq("pending"))
                .all(&self.db)
                .await?
                .len();
            if generations + trainings + pushes == 0 {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                eprintln!(
                    "chaos[{}] not settled: {generations} generations, {trainings} trainings, \
                     {pushes} pushes pending",
                    self.run
                );
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    fn log_tails(&self) -> String {
        self.replicas.iter().map(|r| r.tails(8)).collect()
    }

    /// Kills what is left, keeping each process's last RSS sample; drops the database.
    async fn shutdown(mut self) -> Res<()> {
        for replica in &mut self.replicas {
            if let Some(mut child) = replica.child.take() {
                self.rss.sample(&replica.label(), replica.pid);
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
        }
        self.redis.kill().await;
        self.stop.cancel();
        let _ = self.db.clone().close().await;
        self.db_guard.drop_now().await
    }
}

struct Report {
    text: String,
    failures: Vec<String>,
}

async fn run_once(binary: &Path, run: u32) -> Res<Report> {
    let mut world = World::start(binary, run).await?;
    let outcome = tokio::time::timeout(
        RUN_LIMIT.saturating_sub(world.started.elapsed()),
        scenario(&mut world),
    )
    .await;
    let result = match outcome {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(e)) => Err(e.context(world.log_tails())),
        Err(_) => Err(anyhow::anyhow!(
            "over the {RUN_LIMIT:?} limit\n{}",
            world.log_tails()
        )),
    };
    if let Err(e) = world.shutdown().await {
        eprintln!("chaos: cleanup: {e:#}");
    }
    result
}

async fn scenario(world: &mut World) -> Res<Report> {
    let run = world.run;
    for i in 0..world.replicas.len() {
        world.spawn(i).await?;
    }
    let (set, body) = world
        .tg
        .post(
            &format!("/bot{TOKEN}/setWebhook"),
            &json!({ "url": format!("{}/telegram/webhook", world.lb_url),
                "secret_token": SECRET }),
        )
        .await?;
    ensure!(set.is_success(), "setWebhook: {set} {body}");
    eprintln!(
        "chaos[{run}] t={:.1}s three replicas up: {}",
        world.since(),
        world
            .replicas
            .iter()
            .map(|r| format!("{}={}", r.name, r.id))
            .collect::<Vec<_>>()
            .join(" ")
    );

    // Background: peak RSS samples.
    let mut background = JoinSet::new();
    {
        let rss = world.rss.clone();
        background.spawn(async move {
            loop {
                rss.sample_all();
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    }

    let users: Vec<i64> = (FIRST_USER..FIRST_USER + USERS)
        .chain([QUIET_USER])
        .collect();
    for &u in &users {
        world.tg.say(u, "/start").await?;
        world.grant(u, GRANT).await?;
    }
    let calls_before = world.tap.calls.lock().expect("tap lock").len();

    // Load: users, injected Bot API faults, and the fault timeline.
    let load_start = Instant::now();
    let load_at = world.since();
    let load_end = load_start + LOAD;
    let mut users_set = JoinSet::new();
    for u in FIRST_USER..FIRST_USER + USERS {
        users_set.spawn(user_task(
            world.tg.clone(),
            world.db.clone(),
            world.tap.clone(),
            u,
            load_end,
        ));
    }
    {
        let (tg, injected) = (world.tg.clone(), world.injected.clone());
        background.spawn(async move {
            let mut round = 0u32;
            while Instant::now() + FAULT_EVERY < load_end {
                tokio::time::sleep(FAULT_EVERY).await;
                round += 1;
                let (m429, m502) = if round.is_multiple_of(2) {
                    ("sendPhoto", "sendMessage")
                } else {
                    ("sendMessage", "sendPhoto")
                };
                for (method, code) in [(m429, 429u16), (m502, 502)] {
                    let fault = if code == 429 {
                        json!({ "method": method, "error_code": code, "retry_after": 1,
                            "times": 1,
                            "description": format!("Too Many Requests: retry after 1 {INJECTED}") })
                    } else {
                        json!({ "method": method, "error_code": code, "times": 1,
                            "description": format!("Bad Gateway {INJECTED}") })
                    };
                    if tg.fault(fault).await.is_ok() {
                        *injected
                            .lock()
                            .expect("injected lock")
                            .entry((method.to_owned(), code))
                            .or_default() += 1;
                    }
                }
            }
        });
    }
    let at = |offset: Duration| tokio::time::sleep_until((load_start + offset).into());

    at(KILL_A_AT).await;
    world.kill_under_load(0, true).await?;
    at(KILL_B_AT).await;
    world.kill_under_load(1, false).await?;
    at(REDIS_STOP_AT).await;
    let from = world.since();
    world.redis.kill().await;
    eprintln!("chaos[{run}] t={from:.1}s Redis stopped");
    tokio::time::sleep(OUTAGE).await;
    world.redis.start().await?;
    let to = world.since();
    eprintln!("chaos[{run}] t={to:.1}s Redis started again");
    world.windows.push(("Redis down".into(), from, to));
    at(PG_CUT_AT).await;
    let from = world.since();
    world.pg.cut();
    eprintln!("chaos[{run}] t={from:.1}s PostgreSQL cut");
    tokio::time::sleep(OUTAGE).await;
    world.pg.restore();
    let to = world.since();
    eprintln!("chaos[{run}] t={to:.1}s PostgreSQL back");
    world.windows.push(("PostgreSQL cut".into(), from, to));
    // The provider fails every job for a while: those generations fail and must be refunded
    // exactly once (with everything else still going on).
    at(PROVIDER_FAILS_AT).await;
    let from = world.since();
    world.fal.set_mode(Mode::CallbackError {
        delay_ms: FAL_DELAY_MS,
        error: "chaos: the provider failed this job".into(),
    });
    eprintln!("chaos[{run}] t={from:.1}s the provider fails every job");
    tokio::time::sleep(PROVIDER_FAILURE).await;
    world.fal.set_mode(Mode::CallbackOk {
        delay_ms: FAL_DELAY_MS,
    });
    let to = world.since();
    eprintln!("chaos[{run}] t={to:.1}s the provider works again");
    world.windows.push(("provider failing".into(), from, to));

    let mut logs: BTreeMap<i64, UserLog> = BTreeMap::new();
    let mut user_errors = Vec::new();
    while let Some(done) = users_set.join_next().await {
        let (u, log, result) = done.context("a user task panicked")?;
        if let Err(e) = result {
            user_errors.push(format!("user {u}: {e:#}"));
        }
        logs.insert(u, log);
    }
    let load_secs = secs(load_start.elapsed());
    eprintln!(
        "chaos[{run}] t={:.1}s users done; waiting for the rest to settle",
        world.since()
    );
    let settled_load = world.settled(Duration::from_secs(60)).await?;

    // Injected faults nobody met are dropped, so the quiet kill meets only its own.
    let calls_load = world.tap.calls.lock().expect("tap lock").len();
    let sandbox_429s = world
        .tg
        .calls()
        .await?
        .iter()
        .filter(|c| c["error_code"] == 429)
        .count();
    let cleared = world
        .tg
        .http
        .delete(format!("{}/faults", world.tg.sandbox))
        .send()
        .await?;
    ensure!(
        cleared.status().is_success(),
        "clearing faults: {}",
        cleared.status()
    );

    // The quiet kill: one upload hangs, its sender is killed with nothing else going on.
    let quiet = quiet_kill(world).await;
    let settled_end = world.settled(Duration::from_secs(40)).await?;
    background.abort_all();

    // ---- The report.
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    let db = &world.db;
    let generations = generation::Entity::find().all(db).await?;
    let avatars = avatar::Entity::find().all(db).await?;
    let deliveries = delivery::Entity::find().all(db).await?;
    let ledger_rows = entity::ledger::Entity::find().all(db).await?;
    let balances = balance::Entity::find().all(db).await?;
    let user_rows = user::Entity::find().all(db).await?;
    let telegram_of: HashMap<i64, i64> = user_rows.iter().map(|u| (u.id, u.telegram_id)).collect();

    // Results in chats, by generation (each result photo carries regenerate:<its id>).
    let mut photos: HashMap<i64, usize> = HashMap::new();
    for &u in &users {
        for m in world.tg.bot_messages(u).await? {
            if !m["photo"].is_null()
                && let Some(id) = result_generation(&m)
            {
                *photos.entry(id).or_default() += 1;
            }
        }
    }
    let completed: Vec<&generation::Model> = generations
        .iter()
        .filter(|g| g.status == "completed")
        .collect();
    let failed: Vec<&generation::Model> = generations
        .iter()
        .filter(|g| g.status == "failed")
        .collect();
    let pending_generations = generations.len() - completed.len() - failed.len();
    let in_flight_at_kill: HashSet<&str> = world
        .kills
        .iter()
        .flat_map(|k| k.held.iter().map(|(_, key)| key.as_str()))
        .collect();
    let mut lost = Vec::new();
    let mut doubles_kill = Vec::new();
    let mut doubles_live = Vec::new();
    for g in &completed {
        let n = photos.get(&g.id).copied().unwrap_or(0);
        let key = format!("generation:{}", g.id);
        if n == 0 {
            lost.push(g.id);
        } else if n > 1 {
            if in_flight_at_kill.contains(key.as_str()) {
                doubles_kill.push(g.id);
            } else {
                doubles_live.push(g.id);
            }
        }
    }
    if !lost.is_empty() {
        failures.push(format!(
            "results lost (completed, no photo in the chat): {lost:?}"
        ));
    }
    if !doubles_live.is_empty() {
        let rows: Vec<String> = doubles_live
            .iter()
            .filter_map(|id| {
                let key = format!("generation:{id}");
                deliveries.iter().find(|d| d.dedupe_key == key).map(|d| {
                    format!(
                        "{key}: status {} attempts {} locked_by {:?} finished {:?} error {:?}",
                        d.status, d.attempts, d.locked_by, d.finished_at, d.last_error
                    )
                })
            })
            .collect();
        failures.push(format!(
            "doubles sent by a live process (not in flight on a killed replica): {doubles_live:?} \
             rows: {rows:?}"
        ));
    }
    if pending_generations > 0 {
        let stuck: Vec<i64> = generations
            .iter()
            .filter(|g| g.status == "pending")
            .map(|g| g.id)
            .collect();
        failures.push(format!("generations still pending at the end: {stuck:?}"));
    }
    let pending_pushes: Vec<String> = deliveries
        .iter()
        .filter(|d| d.status == "pending")
        .map(|d| {
            format!(
                "{} (attempts {}, locked_by {:?}, error {:?})",
                d.dedupe_key, d.attempts, d.locked_by, d.last_error
            )
        })
        .collect();
    if !pending_pushes.is_empty() {
        failures.push(format!("outbox rows still pending: {pending_pushes:?}"));
    }
    let given_up: Vec<String> = deliveries
        .iter()
        .filter(|d| d.status == "failed")
        .map(|d| format!("{} ({:?})", d.dedupe_key, d.last_error))
        .collect();
    if !given_up.is_empty() {
        failures.push(format!("outbox rows given up: {given_up:?}"));
    }

    // Refunds: once per failed job, never for a completed one.
    let mut refunds: HashMap<&str, Vec<i64>> = HashMap::new();
    for row in ledger_rows.iter().filter(|r| r.kind == "refund") {
        if let Some(reference) = row.reference.as_deref() {
            refunds.entry(reference).or_default().push(row.amount);
        }
    }
    let mut refund_problems = Vec::new();
    for g in &generations {
        let reference = format!("generation:{}", g.id);
        let got = refunds.get(reference.as_str()).cloned().unwrap_or_default();
        match g.status.as_str() {
            "failed" if got != [g.cost] => {
                refund_problems.push(format!(
                    "{reference} failed, refunds {got:?}, cost {}",
                    g.cost
                ));
            }
            "completed" | "pending" if !got.is_empty() => {
                refund_problems.push(format!("{reference} {}, refunds {got:?}", g.status));
            }
            _ => {}
        }
    }
    let trainings_failed = avatars.iter().filter(|a| a.status == "failed").count();
    let trainings_ready = avatars.iter().filter(|a| a.status == "ready").count();
    let trainings_stuck: Vec<i64> = avatars
        .iter()
        .filter(|a| a.status == "training")
        .map(|a| a.id)
        .collect();
    if !trainings_stuck.is_empty() {
        failures.push(format!(
            "trainings still running at the end: {trainings_stuck:?}"
        ));
    }
    for a in &avatars {
        let reference = format!("avatar:{}", a.id);
        let got = refunds.get(reference.as_str()).cloned().unwrap_or_default();
        let charged = ledger_rows
            .iter()
            .any(|r| r.idempotency_key == format!("training:{}", a.id));
        match a.status.as_str() {
            "failed" if charged && got.len() != 1 => {
                refund_problems.push(format!("{reference} failed, refunds {got:?}"));
            }
            "ready" | "training" if !got.is_empty() => {
                refund_problems.push(format!("{reference} {}, refunds {got:?}", a.status));
            }
            _ => {}
        }
    }
    let refunds_total: usize = refunds.values().map(Vec::len).sum();
    if !refund_problems.is_empty() {
        failures.push(format!("refunds wrong: {refund_problems:?}"));
    }

    // balance == sum(ledger) for every user.
    let mut sums: HashMap<i64, i64> = HashMap::new();
    for row in &ledger_rows {
        *sums.entry(row.user_id).or_default() += row.amount;
    }
    let coins: HashMap<i64, i64> = balances.iter().map(|b| (b.user_id, b.coins)).collect();
    let mut mismatched = Vec::new();
    for u in &user_rows {
        let (sum, have) = (
            sums.get(&u.id).copied().unwrap_or(0),
            coins.get(&u.id).copied().unwrap_or(0),
        );
        if sum != have {
            mismatched.push(format!(
                "user {} (telegram {}): balance {have}, ledger {sum}",
                u.id, u.telegram_id
            ));
        }
    }
    if !mismatched.is_empty() {
        failures.push(format!("balance != sum(ledger): {mismatched:?}"));
    }

    // One press, one generation: gen_go (pressed once, delivered up to three times) and 🔄
    // pressed twice at once.
    let mut starts_by_user: HashMap<i64, u64> = HashMap::new();
    let mut repeats_by_source: HashMap<i64, u64> = HashMap::new();
    for g in &generations {
        let telegram = telegram_of.get(&g.user_id).copied().unwrap_or(0);
        match g.regenerated_from {
            None => *starts_by_user.entry(telegram).or_default() += 1,
            Some(from) => *repeats_by_source.entry(from).or_default() += 1,
        }
    }
    let mut too_many = Vec::new();
    for (u, log) in &logs {
        let made = starts_by_user.get(u).copied().unwrap_or(0);
        if made > log.starts {
            too_many.push(format!(
                "user {u}: {made} generations from {} presses",
                log.starts
            ));
        }
        for source in &log.double_repeats {
            let made = repeats_by_source.get(source).copied().unwrap_or(0);
            if made > 1 {
                too_many.push(format!("🔄×2 on generation {source}: {made} repeats"));
            }
        }
    }
    if !too_many.is_empty() {
        failures.push(format!("more generations than presses: {too_many:?}"));
    }
    let quiet_starts = starts_by_user.get(&QUIET_USER).copied().unwrap_or(0);

    // 429s and 502s the replicas got from the Bot API (through the tap), injected or not.
    let (got429, got502, limit429): (Vec<String>, usize, Vec<String>) = {
        let calls = world.tap.calls.lock().expect("tap lock");
        let window = &calls[calls_before.min(calls.len())..calls_load.min(calls.len())];
        let show = |c: &TapCall| {
            format!(
                "t={:.1}s {} chat {} {:?}",
                c.at,
                c.method,
                c.chat.map_or_else(|| "?".into(), |c| c.to_string()),
                c.text.as_deref().unwrap_or("")
            )
        };
        (
            window
                .iter()
                .filter(|c| c.status == 429)
                .map(show)
                .collect(),
            window.iter().filter(|c| c.status == 502).count(),
            window
                .iter()
                .filter(|c| c.status == 429 && !c.injected)
                .map(show)
                .collect(),
        )
    };
    let met502 = {
        let calls = world.tap.calls.lock().expect("tap lock");
        calls[calls_before.min(calls.len())..calls_load.min(calls.len())]
            .iter()
            .filter(|c| c.status == 502 && c.injected)
            .count()
    };
    let injected = world.injected.lock().expect("injected lock").clone();
    let added = |code: u16| -> u64 {
        injected
            .iter()
            .filter(|((_, c), _)| *c == code)
            .map(|(_, n)| n)
            .sum()
    };
    let met429 = got429.len() - limit429.len();
    if !limit429.is_empty() {
        failures.push(format!(
            "{} rate-limit 429s from the sandbox (not injected): {limit429:?}",
            limit429.len()
        ));
    }

    // Kill → delivery.
    let mut kill_lines = Vec::new();
    let mut load_max: Option<f64> = None;
    for kill in world.kills.iter().filter(|k| !k.quiet) {
        let mut delays = Vec::new();
        for (id, key) in &kill.held {
            let row = deliveries.iter().find(|d| d.id == *id);
            match row.and_then(|d| d.finished_at) {
                Some(done) => {
                    let ms = (done - kill.at_utc).num_milliseconds();
                    delays.push(ms as f64 / 1000.0);
                }
                None => kill_lines.push(format!("    {}: {key} never finished", kill.label)),
            }
        }
        let max = delays.iter().copied().fold(f64::NAN, f64::max);
        if !max.is_nan() {
            load_max = Some(load_max.map_or(max, |m: f64| m.max(max)));
        }
        kill_lines.push(format!(
            "    {} at t={:.1}s: {} rows in flight, delivered after {}",
            kill.label,
            secs(kill.at.duration_since(world.started)),
            kill.held.len(),
            if delays.is_empty() {
                "-".to_owned()
            } else {
                delays
                    .iter()
                    .map(|d| format!("{d:.1}s"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        ));
    }
    if let Some(max) = load_max
        && max > secs(DELIVERY_TARGET)
    {
        warnings.push(format!(
            "a push held by a replica killed under load took {max:.1}s (target {DELIVERY_TARGET:?})"
        ));
    }
    let quiet_line = match &quiet {
        Ok(q) => {
            if q.delay > DELIVERY_TARGET {
                failures.push(format!(
                    "quiet kill: delivered {:.1}s after the kill (target {DELIVERY_TARGET:?})",
                    secs(q.delay)
                ));
            }
            if q.photos != 1 {
                failures.push(format!("quiet kill: {} photos of the result", q.photos));
            }
            format!(
                "{} killed while uploading; result in the chat {:.1}s later ({} photo)",
                q.victim,
                secs(q.delay),
                q.photos
            )
        }
        Err(e) => {
            failures.push(format!("quiet kill: {e:#}"));
            format!("failed: {e:#}")
        }
    };

    // Replica logs: panics are failures; errors are listed.
    let alarms: Vec<String> = world.replicas.iter().flat_map(Replica::alarms).collect();
    let panics: Vec<&String> = alarms.iter().filter(|l| l.contains("panicked")).collect();
    if !panics.is_empty() {
        failures.push(format!("panics in replica logs: {panics:?}"));
    }
    if !settled_load {
        warnings.push("the load phase had not settled 60 s after the users stopped".into());
    }
    if !settled_end {
        failures.push("not settled 40 s after the quiet kill".into());
    }

    let user_notes: Vec<String> = logs
        .iter()
        .flat_map(|(u, l)| l.notes.iter().map(move |n| format!("user {u}: {n}")))
        .collect();
    let starts: u64 = logs.values().map(|l| l.starts).sum();
    let dup_updates: u64 = logs.values().map(|l| l.duplicate_updates).sum();
    let double_repeats: usize = logs.values().map(|l| l.double_repeats.len()).sum();
    let stats = &world.tg.stats;
    let not_ok = stats.not_ok.lock().expect("stats lock").clone();
    let callbacks = world.fal.callbacks();
    let mut callback_answers: BTreeMap<u16, usize> = BTreeMap::new();
    for c in &callbacks {
        *callback_answers.entry(c.status).or_default() += 1;
    }
    let rss = world.rss.peak.lock().expect("rss lock").clone();
    let killed: HashSet<&str> = world.kills.iter().map(|k| k.label.as_str()).collect();

    let mut t = String::new();
    let _ = writeln!(
        t,
        "=== chaos run {run}: {} ===",
        if failures.is_empty() { "OK" } else { "FAILED" }
    );
    let _ = writeln!(
        t,
        "  scenario: {USERS} users ({AVATAR_USERS} train an avatar), load {load_secs:.0}s from t={load_at:.0}s, \
         3 replicas (AISHA_ENV=production), fal callback after {FAL_DELAY_MS} ms"
    );
    let _ = writeln!(
        t,
        "  faults: {}; {}",
        world
            .windows
            .iter()
            .map(|(w, a, b)| format!("{w} t={a:.0}..{b:.0}s"))
            .collect::<Vec<_>>()
            .join(", "),
        injected
            .iter()
            .map(|((m, c), n)| format!("{n}× {c} on {m}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        t,
        "  updates posted: {} ({} redeliveries after a non-200, {dup_updates} duplicate deliveries \
         of taken presses); non-200 answers: {not_ok:?}",
        stats.posted.load(Ordering::Relaxed),
        stats.redelivered.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        t,
        "  provider callbacks sent by fake fal: {} (final answers {callback_answers:?}); proxy: \
         {} requests, {} retried on another replica (refused), {} callback retries after 5xx, \
         {} answered 502; status queries to fal: {}; PG proxy refused {} connections",
        callbacks.len(),
        world.lb.0.requests.load(Ordering::Relaxed),
        world.lb.0.connect_retries.load(Ordering::Relaxed),
        world.lb.0.callback_retries.load(Ordering::Relaxed),
        world.lb.0.bad_gateway.load(Ordering::Relaxed),
        world.fal.status_calls(),
        world.pg.refused.load(Ordering::Relaxed),
    );
    let _ = writeln!(
        t,
        "  generations: {} ({starts} started by gen_go under load + {quiet_starts} quiet, \
         {} repeats after {double_repeats} double 🔄): {} completed, {} failed, {pending_generations} pending; \
         trainings: {} ({trainings_ready} ready, {trainings_failed} failed)",
        generations.len(),
        repeats_by_source.values().sum::<u64>(),
        completed.len(),
        failed.len(),
        avatars.iter().filter(|a| a.status != "draft").count(),
    );
    let _ = writeln!(
        t,
        "  results delivered: {}/{} in their chats, {} lost; doubles: {} ({} in flight on a killed \
         replica: {doubles_kill:?}, {} re-sent by a live process)",
        completed.len() - lost.len(),
        completed.len(),
        lost.len(),
        doubles_kill.len() + doubles_live.len(),
        doubles_kill.len(),
        doubles_live.len()
    );
    let _ = writeln!(
        t,
        "  refunds: {refunds_total} ledger rows for {} failed generations + {trainings_failed} \
         failed trainings: {}; balance == sum(ledger): {}/{} users",
        failed.len(),
        if refund_problems.is_empty() {
            "each once, none for completed"
        } else {
            "WRONG"
        },
        user_rows.len() - mismatched.len(),
        user_rows.len()
    );
    let _ = writeln!(
        t,
        "  Telegram 429s: {} ({met429} injected faults met, of {} added; {} rate-limit; the \
         sandbox's own log counts {sandbox_429s}); 502s: {got502} ({met502} injected met, of {})",
        got429.len(),
        added(429),
        limit429.len(),
        added(502)
    );
    let _ = writeln!(
        t,
        "  kill → delivery: under load max {}; quiet: {quiet_line}",
        load_max.map_or_else(
            || "- (no push in flight)".to_owned(),
            |m| format!("{m:.1}s")
        )
    );
    for line in &kill_lines {
        let _ = writeln!(t, "{line}");
    }
    let _ = writeln!(
        t,
        "  peak RSS (VmHWM): {}",
        rss.iter()
            .map(|(l, kib)| format!(
                "{l}{} {:.1} MiB",
                if killed.contains(l.as_str()) {
                    " (killed)"
                } else {
                    ""
                },
                *kib as f64 / 1024.0
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !alarms.is_empty() {
        let _ = writeln!(t, "  replica log ERROR lines: {}, by kind:", alarms.len());
        for (n, kind) in summarize(&alarms).iter().take(10) {
            let _ = writeln!(t, "    {n:>4}× {kind}");
        }
    }
    for w in &warnings {
        let _ = writeln!(t, "  warning: {w}");
    }
    let files: Vec<String> = world
        .replicas
        .iter()
        .map(|r| format!("{} {}", r.name, count_files(&r.dir.path().join("avatars"))))
        .collect();
    let _ = writeln!(
        t,
        "  avatar photo files left on replica disks ({trainings_ready} trained avatars keep one \
         cover each): {}",
        files.join(", ")
    );
    let _ = writeln!(
        t,
        "  user flow problems: {} (steps that did not get the screen a user waits for)",
        user_notes.len() + user_errors.len()
    );
    for n in user_notes.iter().chain(&user_errors) {
        let _ = writeln!(t, "  user flow: {n}");
    }
    for f in &failures {
        let _ = writeln!(t, "  INVARIANT FAILED: {f}");
    }
    if !failures.is_empty() {
        let _ = write!(t, "{}", world.log_tails());
    }
    let _ = write!(t, "  run wall time {:.0?}", world.started.elapsed());
    Ok(Report { text: t, failures })
}

/// Regular files under `dir`, recursively.
fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() { count_files(&path) } else { 1 }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Log lines grouped by what they say (colours, times, numbers and the replica dropped).
fn summarize(lines: &[String]) -> Vec<(usize, String)> {
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for line in lines {
        let mut plain = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        let text = plain
            .split_once("ERROR")
            .map_or(plain.as_str(), |(_, rest)| rest)
            .trim();
        let text = text.split(" latency=").next().unwrap_or(text);
        let kind: String = text
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .take(150)
            .collect();
        *kinds.entry(kind).or_default() += 1;
    }
    let mut kinds: Vec<(usize, String)> = kinds.into_iter().map(|(k, n)| (n, k)).collect();
    kinds.sort_by(|a, b| b.cmp(a));
    kinds
}

struct Quiet {
    victim: String,
    delay: Duration,
    photos: usize,
}

/// A sendPhoto that hangs for 8 s; the replica that claimed the push is killed during it with
/// no other traffic; kill → the result in the chat.
async fn quiet_kill(world: &mut World) -> Res<Quiet> {
    let user = QUIET_USER;
    world
        .tg
        .fault(json!({ "method": "sendPhoto", "error_code": null, "delay_ms": 8000, "times": 1 }))
        .await?;
    let prompt = "chaos quiet kill go";
    generate(&world.tg, user, prompt, &mut 0).await?;
    let owner = user_id(&world.db, user).await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let holder = loop {
        let generation = generation::Entity::find()
            .filter(generation::Column::UserId.eq(owner))
            .order_by_desc(generation::Column::Id)
            .one(&world.db)
            .await?;
        if let Some(g) = generation {
            let row = delivery::Entity::find()
                .filter(delivery::Column::DedupeKey.eq(format!("generation:{}", g.id)))
                .filter(delivery::Column::Status.eq("pending"))
                .filter(delivery::Column::LockedBy.is_not_null())
                .one(&world.db)
                .await?;
            if let Some(locked) = row.and_then(|r| r.locked_by) {
                break locked;
            }
        }
        ensure!(
            Instant::now() < deadline,
            "the quiet result was never claimed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let victim = world
        .replicas
        .iter()
        .position(|r| r.child.is_some() && r.id == holder)
        .with_context(|| format!("no live replica has the id {holder}"))?;
    // Inside the hanging upload (the image is downloaded first).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = world.tg.photos_of(user, prompt, 1, Duration::ZERO).await?;
    ensure!(before.is_none(), "the quiet result arrived before the kill");
    let label = world.replicas[victim].label();
    world.kill(victim, true, false).await?;
    let killed = world.kills.last().map(|k| k.at).context("kill record")?;
    let found = world
        .tg
        .photos_of(user, prompt, 1, Duration::from_secs(30))
        .await?;
    let delay = killed.elapsed();
    ensure!(
        found.is_some(),
        "the quiet result was not delivered within 30 s of the kill"
    );
    // Any second copy would come right away.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let photos = world
        .tg
        .photos_of(user, prompt, 1, Duration::ZERO)
        .await?
        .map_or(0, |p| p.len());
    Ok(Quiet {
        victim: label,
        delay,
        photos,
    })
}
