//! The update intake under fuzzing, black-box: mutations of the committed corpus of real updates
//! (`tests/corpus/updates.json`) and arbitrary bodies are posted to the running app, which must
//! never answer 5xx (only an outage may) and must stay up. `AISHA_FUZZ_CASES` sets how many
//! bodies (default 150, a bounded run for CI); `AISHA_FUZZ_CASES=20000 cargo test --test it fuzz`
//! is the long run.

use proptest::{
    prelude::*,
    strategy::{Strategy, ValueTree},
    test_runner::TestRunner,
};
use serde_json::Value;

use crate::{
    both_storages,
    helpers::{SECRET, Storage, TestApp},
};

both_storages!(mutated_updates_never_get_5xx);

fn corpus() -> Vec<Value> {
    serde_json::from_str(include_str!("../corpus/updates.json")).expect("the corpus is JSON")
}

/// One change to an update's JSON.
#[derive(Clone, Debug)]
enum Mutation {
    /// The value at a path (picked by index among all paths) replaced.
    Replace(usize, Value),
    /// The key at a path removed.
    Remove(usize),
    /// A string at a path given control characters, odd Unicode or a huge length.
    Garble(usize, String),
    /// The body cut at a byte.
    Truncate(usize),
}

fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        "\\PC{0,40}".prop_map(Value::from),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(serde_json::json!({ "id": -1, "type": "private" })),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), odd_value()).prop_map(|(at, v)| Mutation::Replace(at, v)),
        any::<usize>().prop_map(Mutation::Remove),
        (
            any::<usize>(),
            prop_oneof![
                "[\\x00-\\x1f\\x7f]{1,8}",
                "\\PC{0,12}\\x00\\PC{0,12}",
                Just("\u{202e}\u{200b}\u{feff}".to_owned()),
                Just("<b>&amp;</i>".to_owned()),
                Just("я".repeat(5000)),
            ]
        )
            .prop_map(|(at, s)| Mutation::Garble(at, s)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

/// Every JSON pointer in `value` (objects' keys and arrays' items, all levels).
fn paths(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (k, v) in fields {
                let path = format!("{at}/{k}");
                out.push(path.clone());
                paths(v, &path, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let path = format!("{at}/{i}");
                out.push(path.clone());
                paths(v, &path, out);
            }
        }
        _ => {}
    }
}

fn apply(update: &Value, change: &Mutation) -> Vec<u8> {
    let mut value = update.clone();
    let mut all = Vec::new();
    paths(&value, "", &mut all);
    let pick = |n: usize| all[n % all.len()].clone();
    match change {
        Mutation::Replace(at, v) => {
            if let Some(slot) = value.pointer_mut(&pick(*at)) {
                *slot = v.clone();
            }
        }
        Mutation::Remove(at) => {
            let path = pick(*at);
            let (parent, key) = path.rsplit_once('/').unwrap_or(("", ""));
            match value.pointer_mut(parent) {
                Some(Value::Object(fields)) => _ = fields.remove(key),
                Some(Value::Array(items)) => {
                    if let Ok(i) = key.parse::<usize>()
                        && i < items.len()
                    {
                        items.remove(i);
                    }
                }
                _ => {}
            }
        }
        Mutation::Garble(at, s) => {
            if let Some(slot) = value.pointer_mut(&pick(*at)) {
                *slot = Value::from(s.clone());
            }
        }
        Mutation::Truncate(at) => {
            let body = value.to_string().into_bytes();
            return body[..at % body.len()].to_vec();
        }
    }
    value.to_string().into_bytes()
}

async fn mutated_updates_never_get_5xx(storage: Storage) {
    let Some(app) = TestApp::spawn(storage).await else {
        return;
    };
    let cases: usize = std::env::var("AISHA_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(150);
    let corpus = corpus();
    let mut runner = TestRunner::deterministic();
    let strategy = (any::<usize>(), mutation(), any::<u32>());
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for n in 0..cases {
        let (pick, change, _) = strategy.new_tree(&mut runner).expect("a case").current();
        let mut update = corpus[pick % corpus.len()].clone();
        // Distinct update ids, so every case is handled (not taken for a duplicate).
        update["update_id"] = Value::from(900_000_000 + n as u64);
        let body = apply(&update, &change);
        let response = app
            .post_webhook(String::from_utf8_lossy(&body).into_owned(), Some(SECRET))
            .await;
        let status = response.status().as_u16();
        *by_status.entry(status).or_default() += 1;
        assert!(
            status < 500,
            "{change:?} on {update} answered {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    println!("{cases} mutated updates: {by_status:?}");
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "the app is still up"
    );
    app.stop().await;
}
