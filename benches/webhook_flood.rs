//! Floods `POST /telegram/webhook` and reports how the bot holds up: answers by status, time,
//! and the process's resident memory. Telegram (the sandbox) is made slow on purpose, so updates
//! pile up; the bot must shed them with 503 + Retry-After instead of queueing in memory.
//!
//! `cargo bench --bench webhook_flood` (optional args: updates per round, concurrency).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use aisha::{
    Application, Settings,
    sandbox::{Sandbox, SandboxConfig},
    telegram::setup,
};
use figment::{Figment, providers::Serialized};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "9:BENCH";
const SECRET: &str = "bench_secret";
const USER: i64 = 1;

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let per_round = args.first().copied().unwrap_or(20_000);
    let concurrency = args.get(1).copied().unwrap_or(256);

    let dir = tempfile::tempdir()?;
    let stop = CancellationToken::new();
    let sandbox_listener = TcpListener::bind("127.0.0.1:0").await?;
    let sandbox_url = format!("http://{}/sandbox", sandbox_listener.local_addr()?);
    let sandbox = Sandbox::new(SandboxConfig {
        token: TOKEN.into(),
        rate_limits: false,
    });
    tokio::spawn(sandbox.serve(sandbox_listener, stop.clone().cancelled_owned()));

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let settings = Settings::from_figment(
        Settings::files(&config, "development").merge(
            Figment::new()
                .merge(Serialized::default("public_url", &url))
                .merge(Serialized::default(
                    "database_url",
                    format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display()),
                ))
                .merge(Serialized::default("telegram_bot_token", TOKEN))
                .merge(Serialized::default("telegram_api_url", &sandbox_url))
                .merge(Serialized::default("telegram_webhook_secret", SECRET)),
        ),
    )?;
    let in_flight = settings.server.max_updates_in_flight;
    let app = Application::build_with_listener(settings.clone(), listener).await?;
    tokio::spawn(app.run_until_stopped(stop.clone().cancelled_owned()));
    setup::set_webhook(&settings).await?;

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    http.post(format!("{sandbox_url}/users/{USER}/messages"))
        .json(&json!({ "text": "hello" }))
        .send()
        .await?;
    // Telegram answers every sendMessage 100 ms late.
    http.post(format!("{sandbox_url}/faults"))
        .json(&json!({ "method": "sendMessage", "error_code": null, "delay_ms": 100, "times": 100_000_000 }))
        .send()
        .await?;

    println!(
        "webhook flood: {per_round} updates per round into one chat, {concurrency} concurrent senders, \
         max_updates_in_flight={in_flight}, sendMessage delayed 100 ms"
    );
    println!("start: VmRSS {} KiB", rss_kib("VmRSS:"));
    let next_id = Arc::new(AtomicUsize::new(1));
    for round in 1..=3 {
        let ok = Arc::new(AtomicUsize::new(0));
        let busy = Arc::new(AtomicUsize::new(0));
        let other = Arc::new(AtomicUsize::new(0));
        let remaining = Arc::new(AtomicUsize::new(per_round));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (http, url, next_id, remaining) = (
                http.clone(),
                url.clone(),
                next_id.clone(),
                remaining.clone(),
            );
            let (ok, busy, other) = (ok.clone(), busy.clone(), other.clone());
            tasks.push(tokio::spawn(async move {
                while remaining
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    let update = json!({
                        "update_id": id,
                        "message": {
                            "message_id": id, "date": 1_700_000_000,
                            "chat": { "id": USER, "type": "private", "first_name": "Flood" },
                            "from": { "id": USER, "is_bot": false, "first_name": "Flood" },
                            "text": "flood"
                        }
                    });
                    let status = http
                        .post(format!("{url}/telegram/webhook"))
                        .header("x-telegram-bot-api-secret-token", SECRET)
                        .json(&update)
                        .timeout(Duration::from_secs(30))
                        .send()
                        .await
                        .map(|r| r.status().as_u16());
                    match status {
                        Ok(200) => ok.fetch_add(1, Ordering::Relaxed),
                        Ok(503) => busy.fetch_add(1, Ordering::Relaxed),
                        _ => other.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "round {round}: {:.2} s, {:.0} req/s; 200: {}, 503: {}, other: {}; VmRSS {} KiB, VmHWM {} KiB",
            secs,
            per_round as f64 / secs,
            ok.load(Ordering::Relaxed),
            busy.load(Ordering::Relaxed),
            other.load(Ordering::Relaxed),
            rss_kib("VmRSS:"),
            rss_kib("VmHWM:"),
        );
    }
    stop.cancel();
    Ok(())
}
