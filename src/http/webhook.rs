//! `POST /telegram/webhook`: Telegram's updates.
//!
//! [`guard`] runs before the body is read: it checks the secret in constant time and takes one of
//! `server.max_updates_in_flight` permits, answering 503 + Retry-After when none is free. So
//! memory is bounded by permits × body limit, whatever arrives. The update is acknowledged only
//! after it was handled: a crash loses nothing, Telegram simply redelivers. Duplicate
//! `update_id`s are handled once.
//!
//! The "processing" mark names the process handling the update ([`crate::replica`]): a
//! redelivery finding the mark of a process that died mid-update (its liveness key expired,
//! within seconds) takes the update over. The handling runs in a task of its own that renews the
//! mark while it runs: a request cut off by the timeout or a caller that went away cancels only
//! the waiting, never the handling, and a redelivery meanwhile is asked to come back. A handler
//! may still run twice for one update (a process killed mid-way), so handlers keep their side
//! effects idempotent (money moves carry idempotency keys).

use std::time::Duration;

use std::sync::Arc;

use axum::{
    Extension,
    body::Bytes,
    extract::{Request, State},
    http::HeaderMap,
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::Value;
use subtle::ConstantTimeEq;
use teloxide::types::{Update, UpdateKind};
use tokio::sync::OwnedSemaphorePermit;

use crate::{
    dead_letters, dispatch,
    http::error::ApiError,
    kv::{KvError, KvStore},
    state::AppState,
    telegram::{
        error::{HandlerError, Outcome},
        setup::ALLOWED_UPDATES,
    },
};

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Set by `aisha replay-dead-letters` (with the secret): the update is handled again even though
/// it was answered before.
pub const REPLAY_HEADER: &str = "x-aisha-replay";

const PROCESSING: &str = "processing";
const DONE: &str = "done";

/// Authenticates and bounds the work before anything else happens.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(state.webhook_secret.expose().as_bytes())) {
        metrics::counter!("telegram_updates_rejected_total", "reason" => "secret").increment(1);
        return ApiError::Unauthorized.into_response();
    }
    let Ok(permit) = state.updates_in_flight.clone().try_acquire_owned() else {
        metrics::counter!("telegram_updates_rejected_total", "reason" => "saturated").increment(1);
        return ApiError::Busy(state.settings.server.retry_after_secs).into_response();
    };
    // Shared with the task that handles the update: the permit is held until both the request
    // and the handling are over (the handling outlives a caller that went away).
    let permit = InFlight(Arc::new(permit));
    let mut request = request;
    request.extensions_mut().insert(permit.clone());
    let response = next.run(request).await;
    drop(permit);
    response
}

/// One of `server.max_updates_in_flight`, held by the request and by its handling task.
#[derive(Clone)]
pub struct InFlight(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// The update is handled in a task of its own, to the end, whatever the connection does: a
/// caller that disconnects (or the request timeout) cancels only the waiting for the answer,
/// never the handling halfway (a callback answered but its screen never edited).
pub async fn telegram(
    State(state): State<AppState>,
    in_flight: Option<Extension<InFlight>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let permit = in_flight.map(|Extension(permit)| permit);
    let replay = headers.contains_key(REPLAY_HEADER);
    let (task_state, kept) = (state.clone(), body.clone());
    let handling = tokio::spawn(async move {
        let _permit = permit;
        receive(task_state, body, replay).await
    });
    match handling.await {
        Ok(answer) => answer,
        // A bug, not an outage: a redelivery would panic the same way. Kept, marked done,
        // answered.
        Err(panicked) => {
            tracing::error!(error = %panicked, "handling an update panicked");
            let update_id = serde_json::from_slice::<Value>(&kept)
                .ok()
                .and_then(|v| v.get("update_id").and_then(Value::as_i64));
            dead_letter(&state, update_id, &kept, "the handler panicked", "panicked").await?;
            if let Some(id) = update_id {
                let ttl = Duration::from_secs(state.settings.cache.update_dedupe_ttl_secs);
                if let Err(e) = state.kv.bot.set(&format!("update:{id}"), DONE, ttl).await {
                    tracing::warn!(error = %e, "could not mark the update as done");
                }
            }
            Ok(StatusCode::OK)
        }
    }
}

async fn receive(state: AppState, body: Bytes, replay: bool) -> Result<StatusCode, ApiError> {
    let update = match parse(&body) {
        Intake::Update(update) => *update,
        Intake::Ignored(kind) => {
            metrics::counter!("telegram_updates_ignored_total").increment(1);
            tracing::debug!(
                kind,
                "an update of a kind the bot does not handle: acknowledged"
            );
            return Ok(StatusCode::OK);
        }
        Intake::Poison { update_id, error } => {
            dead_letter(&state, update_id, &body, &error, "unparsable").await?;
            return Ok(StatusCode::OK);
        }
    };
    let retry_after = state.settings.server.retry_after_secs;

    let key = format!("update:{}", update.id.0);
    // Long enough to outlive the request timeout, short enough that an update whose handler
    // crashed is picked up again by Telegram's next redelivery.
    let processing_ttl = Duration::from_secs(
        state
            .settings
            .server
            .request_timeout_secs
            .saturating_mul(2)
            .saturating_add(5),
    );
    if replay {
        // A dead letter sent again by the operator: its "done" mark is forgotten.
        if let Some(DONE) = state
            .kv
            .bot
            .get(&key)
            .await
            .map_err(|e| unavailable(&e, retry_after))?
            .as_deref()
        {
            state
                .kv
                .bot
                .del(&key)
                .await
                .map_err(|e| unavailable(&e, retry_after))?;
        }
    }
    match take(&state, &key, processing_ttl)
        .await
        .map_err(|e| unavailable(&e, retry_after))?
    {
        Taken::Mine => {}
        Taken::Done => {
            metrics::counter!("telegram_updates_duplicate_total").increment(1);
            return Ok(StatusCode::OK);
        }
        // The first delivery is still being handled and may yet fail: ask for a redelivery
        // rather than acknowledging something that might be lost.
        Taken::Elsewhere => {
            metrics::counter!("telegram_updates_duplicate_total").increment(1);
            return Err(ApiError::Busy(retry_after));
        }
    }
    metrics::counter!("telegram_updates_total", "kind" => dispatch::kind_label(&update))
        .increment(1);

    let pays = carries_payment(&update);
    let kept = update.clone();
    // The handling may outlast the request (it is not cancelled with it): the mark is renewed
    // while it runs, so a redelivery never starts a second copy.
    let renewer = {
        let (kv, key) = (state.kv.bot.clone(), key.clone());
        let mark = format!("{PROCESSING}:{}", state.replica.id());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(processing_ttl / 3).await;
                if let Err(e) = kv.set(&key, &mark, processing_ttl).await {
                    tracing::warn!(error = %e, "could not renew the update's mark");
                }
            }
        })
    };
    let handled = handle(&state, update).await;
    renewer.abort();
    let _ = renewer.await;
    if let Err(err) = handled {
        let token = state.bot.token();
        let outcome = match err.outcome() {
            // Stars were taken: a payment whose record the database refuses is never dropped.
            // It stays with Telegram (redelivered) and in the error log until someone fixes it.
            Outcome::Permanent if pays && (err.is_integrity_violation() || err.is_data_error()) => {
                Outcome::Transient
            }
            outcome => outcome,
        };
        match outcome {
            Outcome::Permanent => {
                tracing::warn!(error = %err.redacted(token), "update ended with a permanent error");
                // Kept for a replay after a fix. The user is told, unless Telegram itself refused
                // (they blocked the bot, the chat is gone) or the integrity path told them.
                let id = i64::from(kept.id.0);
                dead_letter(&state, Some(id), &body, &err.redacted(token), "failed").await?;
                if !err.is_integrity_violation() && !matches!(err, HandlerError::Telegram(_)) {
                    dispatch::report_failure(&state, &kept).await;
                }
            }
            outcome => {
                // Forget the attempt so the redelivery is handled.
                if let Err(e) = state.kv.bot.del(&key).await {
                    tracing::warn!(error = %e, "could not release the update key");
                }
                let retry_after = match outcome {
                    Outcome::RetryAfter(secs) => secs,
                    _ => retry_after,
                };
                return Err(ApiError::Unavailable {
                    reason: err.redacted(token),
                    retry_after,
                });
            }
        }
    }
    let dedupe_ttl = Duration::from_secs(state.settings.cache.update_dedupe_ttl_secs);
    if let Err(e) = state.kv.bot.set(&key, DONE, dedupe_ttl).await {
        // Handled already; failing now would make Telegram deliver it a second time.
        tracing::warn!(error = %e, "could not mark the update as done");
    }
    Ok(StatusCode::OK)
}

/// Who handles an update.
enum Taken {
    /// This request: the mark is ours.
    Mine,
    /// Handled already.
    Done,
    /// Being handled by a process that is alive (this one, or another replica).
    Elsewhere,
}

/// Marks the update as being handled by this process. A mark left by a process that is gone
/// (killed mid-update) is taken over at once rather than after its TTL, so Telegram's next
/// redelivery is handled.
async fn take(state: &AppState, key: &str, ttl: Duration) -> Result<Taken, KvError> {
    let mark = format!("{PROCESSING}:{}", state.replica.id());
    if state.kv.bot.set_nx(key, &mark, ttl).await? {
        return Ok(Taken::Mine);
    }
    let Some(seen) = state.kv.bot.get(key).await? else {
        // Released meanwhile (the handler failed): this delivery may take it.
        return Ok(if state.kv.bot.set_nx(key, &mark, ttl).await? {
            Taken::Mine
        } else {
            Taken::Elsewhere
        });
    };
    if seen == DONE {
        return Ok(Taken::Done);
    }
    let owner = seen
        .strip_prefix(PROCESSING)
        .and_then(|rest| rest.strip_prefix(':'));
    match owner {
        Some(owner) if !state.replica.alive(owner).await? => {
            // Only if the mark is still the dead process's: two redeliveries can't both win.
            if state.kv.bot.del_if_eq(key, &seen).await?
                && state.kv.bot.set_nx(key, &mark, ttl).await?
            {
                tracing::info!(replica = owner, "taking over an update whose handler died");
                metrics::counter!("telegram_updates_taken_over_total").increment(1);
                Ok(Taken::Mine)
            } else {
                Ok(Taken::Elsewhere)
            }
        }
        _ => Ok(Taken::Elsewhere),
    }
}

/// Handles the update; when the database refuses its data (a constraint), tries once more from
/// the start (the user's row is read again, so a row deleted or replaced meanwhile is fixed by
/// then), and if it is refused again tells the user: such an update is answered, not redelivered
/// for a day.
async fn handle(state: &AppState, update: Update) -> Result<(), HandlerError> {
    let first = dispatch::handle(state, update.clone()).await;
    let Err(err) = first else {
        return Ok(());
    };
    if !err.is_integrity_violation() || carries_payment(&update) {
        return Err(err);
    }
    let token = state.bot.token();
    tracing::warn!(error = %err.redacted(token), "the database refused an update's data; trying once more");
    metrics::counter!("telegram_updates_retried_total", "reason" => "integrity").increment(1);
    let second = dispatch::handle(state, update.clone()).await;
    if let Err(err) = &second
        && err.is_integrity_violation()
    {
        tracing::error!(error = %err.redacted(token), "the database refused an update's data twice; answered, not retried");
        metrics::counter!("telegram_updates_failed_total", "reason" => "integrity").increment(1);
        dispatch::report_failure(state, &update).await;
    }
    second
}

/// A successful Stars payment: money already moved on Telegram's side.
fn carries_payment(update: &Update) -> bool {
    matches!(&update.kind, UpdateKind::Message(m) if m.successful_payment().is_some())
}

/// Keeps an update that can never be handled as it is, counts it, and lets it be answered 200
/// (Telegram would otherwise redeliver it for a day). Only failing to keep it is an outage.
async fn dead_letter(
    state: &AppState,
    update_id: Option<i64>,
    body: &[u8],
    error: &str,
    reason: &'static str,
) -> Result<(), ApiError> {
    tracing::warn!(update_id, reason, error, "update kept as a dead letter");
    metrics::counter!("telegram_updates_dead_lettered_total", "reason" => reason).increment(1);
    let keep = state.settings.telegram.dead_letters_max;
    dead_letters::record(&state.db, update_id, body, error, keep)
        .await
        .map_err(|e| ApiError::Unavailable {
            reason: format!("could not keep a dead letter: {e}"),
            retry_after: state.settings.server.retry_after_secs,
        })
}

/// What an authenticated body is.
enum Intake {
    /// A kind the bot handles, read by teloxide.
    Update(Box<Update>),
    /// A kind the bot does not subscribe to (or a newer one): acknowledged and never parsed,
    /// so no parser of a kind we don't use can fail (or panic) on it.
    Ignored(String),
    /// Can never be handled as it is: a dead letter.
    Poison {
        update_id: Option<i64>,
        error: String,
    },
}

/// Reads a body without letting any input panic: the JSON first, then its kind, and only a kind
/// the bot handles goes to teloxide's parser, with control characters made spaces (a NUL is
/// refused by PostgreSQL; a space keeps every UTF-16 offset of the message's entities), behind
/// `catch_unwind` in case its parser still panics.
fn parse(body: &[u8]) -> Intake {
    let poison = |update_id, error: String| Intake::Poison { update_id, error };
    let mut value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => return poison(None, format!("body is not JSON: {e}")),
    };
    let update_id = value.get("update_id").and_then(Value::as_i64);
    // teloxide's parsers recurse per level (a reply's reply's ...): a stack overflow would
    // abort the process, past any catch_unwind. Real updates nest a dozen levels at most.
    if depth(&value) > MAX_DEPTH {
        return poison(update_id, format!("nested deeper than {MAX_DEPTH} levels"));
    }
    let Some(fields) = value.as_object() else {
        return poison(None, "body is not a JSON object".into());
    };
    if update_id.is_none() {
        return poison(None, "body has no integer update_id".into());
    }
    let kinds: Vec<String> = fields
        .keys()
        .filter(|k| k.as_str() != "update_id")
        .cloned()
        .collect();
    let [kind] = kinds.as_slice() else {
        return poison(
            update_id,
            format!("an update carries one kind, not {kinds:?}"),
        );
    };
    let kind = kind.clone();
    let handled = ALLOWED_UPDATES.iter().any(|allowed| {
        serde_json::to_value(allowed)
            .ok()
            .is_some_and(|name| name.as_str() == Some(kind.as_str()))
    });
    if !handled {
        return Intake::Ignored(kind.chars().take(40).collect());
    }
    // From bytes, not from the `Value`: teloxide's types borrow strings while they parse. The
    // body as sent, unless a control character had to be blanked (then re-encoded once).
    let reencoded;
    let clean: &[u8] = if blank_controls(&mut value) {
        let Ok(bytes) = serde_json::to_vec(&value) else {
            return poison(update_id, "body could not be re-encoded".into());
        };
        reencoded = bytes;
        &reencoded
    } else {
        body
    };
    let parsed = std::panic::catch_unwind(|| serde_json::from_slice::<Update>(clean));
    match parsed {
        Ok(Ok(update)) if !matches!(update.kind, UpdateKind::Error(_)) => {
            Intake::Update(Box::new(update))
        }
        Ok(Ok(_)) => poison(update_id, format!("malformed \"{kind}\"")),
        Ok(Err(e)) => poison(update_id, format!("malformed \"{kind}\": {e}")),
        Err(_) => poison(
            update_id,
            format!("the Update parser panicked on \"{kind}\""),
        ),
    }
}

/// How deep a body may nest.
const MAX_DEPTH: usize = 32;

/// The nesting depth of `value` (serde_json already refuses more than 128 levels).
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(fields) => 1 + fields.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Every control character in the strings of `value` but tab, newline and carriage return
/// made a space; true when any was.
fn blank_controls(value: &mut Value) -> bool {
    match value {
        Value::String(s) if s.chars().any(is_blanked) => {
            *s = s
                .chars()
                .map(|c| if is_blanked(c) { ' ' } else { c })
                .collect();
            true
        }
        // Every item is visited (no short-circuit): all of them are blanked.
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |any, v| blank_controls(v) | any),
        Value::Object(fields) => fields
            .values_mut()
            .fold(false, |any, v| blank_controls(v) | any),
        _ => false,
    }
}

fn is_blanked(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

fn unavailable(err: &KvError, retry_after: u64) -> ApiError {
    ApiError::Unavailable {
        reason: err.to_string(),
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::{Intake, parse};

    #[test]
    fn kinds_are_read_before_teloxide_parses() {
        let message = br#"{"update_id":5,"message":{"message_id":1,"date":1700000000,"chat":{"id":7,"type":"private","first_name":"A"},"from":{"id":7,"is_bot":false,"first_name":"A"},"text":"/start"}}"#;
        match parse(message) {
            Intake::Update(_) => {}
            Intake::Ignored(kind) => panic!("ignored {kind}"),
            Intake::Poison { error, .. } => panic!("poison: {error}"),
        }
        // Shapes whose parsers panic in teloxide-core 0.13: never parsed.
        for body in [
            r#"{"update_id":1,"poll_answer":{"poll_id":"P","option_ids":[]}}"#,
            r#"{"update_id":2,"message_reaction":{"chat":{"id":1,"type":"private"},"message_id":1,"date":0,"old_reaction":[],"new_reaction":[]}}"#,
        ] {
            assert!(
                matches!(parse(body.as_bytes()), Intake::Ignored(_)),
                "{body}"
            );
        }
        for (body, says) in [
            ("", "not JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"message":{}}"#, "update_id"),
            (r#"{"update_id":1}"#, "one kind"),
            (
                r#"{"update_id":1,"message":{},"callback_query":{}}"#,
                "one kind",
            ),
            (
                r#"{"update_id":1,"message":{"text":5}}"#,
                "malformed \"message\"",
            ),
        ] {
            match parse(body.as_bytes()) {
                Intake::Poison { error, .. } => assert!(error.contains(says), "{body}: {error}"),
                _ => panic!("{body} must be a dead letter"),
            }
        }
        // A chain of replies 120 deep is refused before teloxide's parser sees it.
        let mut deep = serde_json::json!({ "message_id": 1, "date": 0,
            "chat": { "id": 7, "type": "private" }, "text": "x" });
        for _ in 0..120 {
            deep = serde_json::json!({ "message_id": 1, "date": 0,
                "chat": { "id": 7, "type": "private" }, "text": "x", "reply_to_message": deep });
        }
        let body = serde_json::json!({ "update_id": 9, "message": deep }).to_string();
        match parse(body.as_bytes()) {
            Intake::Poison { error, .. } => assert!(error.contains("nested"), "{error}"),
            _ => panic!("too deep"),
        }
        // Control characters become spaces; UTF-16 offsets stay.
        let nul = br#"{"update_id":5,"message":{"message_id":1,"date":1700000000,"chat":{"id":7,"type":"private","first_name":"A\u0000B"},"from":{"id":7,"is_bot":false,"first_name":"A\u0000B"},"text":"x\u0007y\n"}}"#;
        let Intake::Update(update) = parse(nul) else {
            panic!("a NUL is blanked, not refused");
        };
        let teloxide::types::UpdateKind::Message(m) = update.kind else {
            panic!("a message");
        };
        assert_eq!(m.text(), Some("x y\n"));
        assert_eq!(m.from.map(|u| u.first_name), Some("A B".to_owned()));
    }

    /// Any JSON value: scalars, arrays and objects of a few levels, with any strings.
    fn json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| serde_json::json!(f)),
            "\\PC{0,20}".prop_map(serde_json::Value::from),
            "[\\x00-\\x1f]{0,4}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("message_id".to_owned()),
                        Just("date".to_owned()),
                        Just("chat".to_owned()),
                        Just("from".to_owned()),
                        Just("text".to_owned()),
                        Just("id".to_owned()),
                        Just("type".to_owned()),
                        Just("user".to_owned()),
                        Just("data".to_owned()),
                        "[a-z_]{1,12}",
                    ],
                    inner,
                    0..8,
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Arbitrary bytes never panic the intake.
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = parse(&body);
        }

        /// Arbitrary payloads under every kind of update (handled or not, including those whose
        /// teloxide parsers panic) never panic the intake.
        #[test]
        fn arbitrary_payloads_never_panic(
            kind in proptest::sample::select(vec![
                "message", "edited_message", "callback_query", "pre_checkout_query",
                "poll_answer", "message_reaction", "message_reaction_count", "chat_member",
                "my_chat_member", "inline_query", "poll", "chat_boost", "business_message",
            ]),
            id in proptest::prelude::any::<i64>(),
            payload in json(),
        ) {
            let body = serde_json::json!({ "update_id": id, kind: payload }).to_string();
            let _ = parse(body.as_bytes());
        }
    }

    /// Every update of the committed corpus reads as what its kind is: a handled kind as an
    /// Update, any other as ignored, none as a dead letter.
    #[test]
    fn the_corpus_reads_as_its_kinds() {
        let corpus: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../../tests/corpus/updates.json")).unwrap();
        let mut kinds = std::collections::BTreeSet::new();
        for update in &corpus {
            let body = update.to_string();
            let kind = update
                .as_object()
                .and_then(|o| o.keys().find(|k| *k != "update_id").cloned())
                .unwrap();
            let handled = matches!(
                kind.as_str(),
                "message" | "callback_query" | "pre_checkout_query"
            );
            match parse(body.as_bytes()) {
                Intake::Update(_) if handled => {}
                Intake::Ignored(_) if !handled => {}
                Intake::Poison { error, .. } => panic!("{kind}: {error}"),
                _ => panic!("{kind} read as the wrong thing"),
            }
            kinds.insert(kind);
        }
        assert_eq!(kinds.len(), 23, "every kind of the Bot API: {kinds:?}");
    }
}
