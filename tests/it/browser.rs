//! The playground in a real browser: the `aisha` binary started the way a newcomer starts it (no
//! configuration, no token, from an empty folder), headless Chromium driven through WebDriver
//! (Debian's `chromium` and `chromium-driver`; `.ci/run` installs them), and a person's clicks.
//!
//! The flow: a new user from the page's form, /start (the development welcome bonus pays for
//! everything), 🎨 → prompt → 9:16 → 1 image until the picture shows; 🔄 for a second picture;
//! the gallery card's ➡️ edits the card in place; an album of 10 photos fills an avatar draft; a
//! Stars invoice is paid with its Pay button; callback answers show as a toast or, as alerts, a
//! modal.
//! A screenshot is saved to `$CARGO_TARGET_TMPDIR/playground.png` (`docs/playground.png` is one).

use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::avatars::photo;

const WAIT: Duration = Duration::from_secs(40);

fn chromedriver() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([std::path::PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Starts `aisha` in `dir` with nothing configured but a free port and a quick local provider;
/// returns the process and the address its log says to open.
async fn start_aisha(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aisha"))
        .current_dir(dir)
        .env_clear()
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("AISHA_LOCAL_PROVIDER__DELAY_MS", "300")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the aisha binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = tokio::sync::oneshot::channel();
    // Reads the log to the end (a full pipe would stall the bot), handing over the first address.
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut tx = Some(tx);
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(at) = line.find("http://localhost:") {
                let url: String = line[at..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != ')')
                    .collect();
                if let Some(tx) = tx.take() {
                    let _ = tx.send(url);
                }
            }
        }
    });
    let url = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("the log names the address to open within 30 s")
        .expect("the log names the address to open");
    (child, url.trim_end_matches('/').to_owned())
}

async fn start_chromedriver(path: &std::path::Path) -> (Child, String) {
    let port = free_port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let ready = Instant::now() + Duration::from_secs(20);
    loop {
        let status = http.get(format!("{url}/status")).send().await;
        if status.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < ready, "chromedriver did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, url)
}

async fn browser(driver: &str) -> Client {
    let mut options = json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
        "--disable-dev-shm-usage", "--window-size=1400,1000", "--lang=en-US"]});
    if std::path::Path::new("/usr/bin/chromium").is_file() {
        options["binary"] = json!("/usr/bin/chromium");
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("a WebDriver session")
}

/// Runs `script` until it returns something other than null/false; returns that.
async fn until(c: &Client, what: &str, script: &str, args: Vec<Value>) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = c.execute(script, args.clone()).await.expect("script runs");
        if !(v.is_null() || v == json!(false)) {
            return v;
        }
        if Instant::now() > deadline {
            let shot = c.screenshot().await.unwrap_or_default();
            let path = format!("{}/playground-failed.png", env!("CARGO_TARGET_TMPDIR"));
            let _ = std::fs::write(&path, shot);
            panic!("timed out waiting for {what} (screenshot: {path})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The texts of the bot's messages on the page, oldest first.
const BOT_TEXTS: &str = "return [...document.querySelectorAll('#messages .msg:not(.me) .bubble')]\
    .map(b => b.innerText);";

/// Waits for a bot message containing `text`.
async fn bot_says(c: &Client, text: &str) {
    let script = "return [...document.querySelectorAll('#messages .msg:not(.me) .bubble')]\
        .some(b => b.innerText.includes(arguments[0]));";
    until(
        c,
        &format!("the bot to say {text:?}"),
        script,
        vec![json!(text)],
    )
    .await;
}

/// Clicks the newest inline button whose label contains `label`.
async fn tap(c: &Client, label: &str) {
    tap_in(c, "", label).await;
}

/// Clicks the newest button labelled with `label` under the message whose page key is `key`
/// (any message when `key` is empty).
async fn tap_in(c: &Client, key: &str, label: &str) {
    let message = if key.is_empty() {
        String::new()
    } else {
        format!("//div[@data-key='{key}']")
    };
    let xpath = format!(
        "({message}//div[contains(@class,'kb')]//button[contains(normalize-space(.), '{label}')])[last()]"
    );
    let deadline = Instant::now() + WAIT;
    let button = loop {
        match c.find(Locator::XPath(&xpath)).await {
            Ok(b) if b.is_enabled().await.unwrap_or(false) => break b,
            _ if Instant::now() > deadline => panic!("no button {label:?} on the page"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    button.click().await.expect("click");
}

/// Types into the composer and presses ➤.
async fn say(c: &Client, text: &str) {
    let input = c.find(Locator::Css("#text")).await.expect("composer");
    input.send_keys(text).await.expect("type");
    c.find(Locator::Css("#send"))
        .await
        .expect("send button")
        .click()
        .await
        .expect("send");
}

/// At least `arguments[0]` loaded pictures in the chat (a broken image has no natural width).
const PHOTOS: &str = "const p = [...document.querySelectorAll('#messages img.photo')]\
    .filter(i => i.complete && i.naturalWidth > 0).map(i => i.getAttribute('src'));\
    return p.length >= arguments[0] ? p : null;";

#[tokio::test]
async fn a_person_uses_the_bot_in_a_browser() {
    let Some(driver_path) = chromedriver() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromedriver (.ci/run installs chromium-driver)"
        );
        eprintln!("SKIPPED: no chromedriver (apt-get install chromium chromium-driver)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_aisha, url) = start_aisha(dir.path()).await;
    assert!(url.starts_with("http://localhost:"), "{url}");
    let (_driver, driver_url) = start_chromedriver(&driver_path).await;
    let c = browser(&driver_url).await;
    c.goto(&format!("{url}/")).await.expect("open the page");
    until(
        &c,
        "the live connection",
        "return document.querySelector('#live.on') !== null;",
        vec![],
    )
    .await;

    // A new English-speaking user from the form.
    c.find(Locator::Css("#new-id"))
        .await
        .expect("id")
        .send_keys("42")
        .await
        .expect("id");
    c.find(Locator::Css("#new-name"))
        .await
        .expect("name")
        .send_keys("Alex")
        .await
        .expect("name");
    c.execute("document.querySelector('#new-lang').value = 'en';", vec![])
        .await
        .expect("lang");
    c.find(Locator::Css("#new-user button"))
        .await
        .expect("add")
        .click()
        .await
        .expect("add");
    until(
        &c,
        "user 42 selected",
        "return document.querySelector('#user-list li.current[data-user=\"42\"]') !== null;",
        vec![],
    )
    .await;

    // /start: the menu, with the welcome bonus said out loud.
    say(&c, "/start").await;
    bot_says(&c, "Main menu").await;
    bot_says(&c, "300 coins").await;

    // 🎨 → prompt → 9:16 → 1 image → the picture in the chat.
    tap(&c, "Create image").await;
    bot_says(&c, "New image").await;
    say(&c, "a red fox in a snowy forest").await;
    bot_says(&c, "Choose a format").await;
    tap(&c, "9:16").await;
    bot_says(&c, "How many images").await;
    tap(&c, "1 — 5 coins").await;
    let photos = until(&c, "the first picture", PHOTOS, vec![json!(1)]).await;
    assert_eq!(photos.as_array().map(Vec::len), Some(1), "{photos}");

    // 🔄 under the result: a second picture, one tap, and a toast that says it started.
    tap(&c, "🔄").await;
    until(
        &c,
        "the toast",
        "const t = document.querySelector('#toast');\
        return !t.hidden && t.innerText.includes('Repeat generation started');",
        vec![],
    )
    .await;
    until(&c, "the second picture", PHOTOS, vec![json!(2)]).await;

    // The gallery card's ➡️ edits the card in place: same message, another picture.
    say(&c, "/gallery").await;
    let card = "const m = [...document.querySelectorAll('#messages .msg:not(.me)')]\
        .filter(m => m.querySelector('img.photo') && m.innerText.includes('➡'));\
        if (!m.length) return null; const last = m[m.length - 1];\
        return [last.dataset.key, last.querySelector('img.photo').getAttribute('src'), \
        document.querySelectorAll('#messages .msg').length];";
    let before = until(&c, "a gallery card with ➡️", card, vec![]).await;
    tap(&c, "➡").await;
    let changed = "const m = [...document.querySelectorAll('#messages .msg')]\
        .find(m => m.dataset.key === arguments[0]); const img = m && m.querySelector('img.photo');\
        return img && img.complete && img.naturalWidth > 0 && img.getAttribute('src') !== arguments[1]\
        ? [img.getAttribute('src'), document.querySelectorAll('#messages .msg').length] : null;";
    let after = until(
        &c,
        "the card to show the other picture",
        changed,
        vec![before[0].clone(), before[1].clone()],
    )
    .await;
    assert_eq!(
        after[1], before[2],
        "➡️ edits the card; it sends nothing new"
    );
    let shot = c.screenshot().await.expect("screenshot");
    std::fs::write(
        format!("{}/playground.png", env!("CARGO_TARGET_TMPDIR")),
        &shot,
    )
    .expect("save the screenshot");

    // An avatar: name, gender, then an album of ten photos picked in the page at once.
    say(&c, "/start").await;
    tap(&c, "My avatars").await;
    tap(&c, "Create avatar").await;
    bot_says(&c, "What should it be called").await;
    say(&c, "Alex").await;
    tap(&c, "Male").await;
    bot_says(&c, "Uploaded: 0 of 20").await;
    let mut paths = Vec::new();
    for seed in 0..10 {
        let path = dir.path().join(format!("face{seed}.png"));
        std::fs::write(&path, photo(seed + 1)).expect("write a photo");
        paths.push(path.display().to_string());
    }
    let files = c.find(Locator::Css("#files")).await.expect("file input");
    files
        .send_keys(&paths.join("\n"))
        .await
        .expect("pick ten photos");
    until(
        &c,
        "ten photos in the chat as one album",
        "return document.querySelectorAll('#messages .msg.me .photos.n10 img').length === 10;",
        vec![],
    )
    .await;
    bot_says(&c, "Uploaded: 10 of 20").await;

    // A button of a conversation the user has left: Telegram's alert, as a modal.
    say(&c, "/generate").await;
    say(&c, "a lighthouse in a storm").await;
    let formats = "const m = [...document.querySelectorAll('#messages .msg:not(.me)')]\
        .filter(m => m.innerText.includes('lighthouse') && m.innerText.includes('9:16'));\
        return m.length ? m[m.length - 1].dataset.key : null;";
    let key = until(&c, "the format buttons", formats, vec![]).await;
    say(&c, "/start").await;
    bot_says(&c, "Main menu").await;
    tap_in(&c, key.as_str().expect("key"), "9:16").await;
    until(
        &c,
        "the alert",
        "const m = document.querySelector('#modal');\
        return !m.hidden && m.innerText.includes('out of date');",
        vec![],
    )
    .await;
    c.find(Locator::Css("#modal-ok"))
        .await
        .expect("OK")
        .click()
        .await
        .expect("OK");
    until(
        &c,
        "the alert to close",
        "return document.querySelector('#modal').hidden;",
        vec![],
    )
    .await;

    // Stars: a package, the invoice in the chat, its Pay button, the coins.
    say(&c, "/balance").await;
    tap(&c, "Top up").await;
    tap(&c, "→ 100 coins").await;
    let pay = until(
        &c,
        "an invoice with a Pay button",
        "return document.querySelector('#messages .pay') !== null;",
        vec![],
    )
    .await;
    assert_eq!(pay, json!(true));
    c.find(Locator::Css("#messages .pay"))
        .await
        .expect("Pay")
        .click()
        .await
        .expect("pay");
    bot_says(&c, "Payment received: +100 coins").await;
    until(&c, "the payment's service message", "return [...document.querySelectorAll('#messages .service')].some(s => s.innerText.includes('50 paid'));", vec![]).await;
    let texts = c.execute(BOT_TEXTS, vec![]).await.expect("texts");
    let _ = c.close().await;

    let db = Database::connect(format!(
        "sqlite://{}/data/aisha.db?mode=ro",
        dir.path().display()
    ))
    .await
    .expect("the bot's database in the folder it was started from");
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "select a.status, count(p.id) as photos from avatars a \
             join avatar_photos p on p.avatar_id = a.id group by a.id",
        ))
        .await
        .expect("query")
        .expect("an avatar draft");
    let status: String = row.try_get("", "status").expect("status");
    let photos: i64 = row.try_get("", "photos").expect("photos");
    assert_eq!((status.as_str(), photos), ("draft", 10), "{texts}");
}
