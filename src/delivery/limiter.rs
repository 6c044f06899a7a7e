//! Telegram's sending limits, kept by the worker: one message per chat per interval and a cap on
//! messages per second overall. Callers wait their turn instead of collecting 429s.
//!
//! The limits are the bot's, whichever replica sends: with Redis the budget is kept there, by
//! one atomic script per send (a GCRA without burst for the overall rate, a next-turn time per chat, both on
//! Redis's clock, so replicas' clocks don't matter). Without Redis, or while it can't be
//! reached, each process keeps its own (one process: exact; several during a Redis outage: a
//! few 429s, which the worker obeys).

use crate::kv::Kv;

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

pub struct Limiter {
    per_chat: Duration,
    per_second: usize,
    state: Mutex<State>,
    /// The bot's scope of the shared store (Redis when configured).
    shared: Kv,
}

/// Books a send to a chat under both limits, or says how many milliseconds to wait.
/// KEYS: the chat's next-turn key, the overall GCRA key. ARGV: the chat hold (ms, until the
/// send is reported done), the emission interval (ms), the burst tolerance (ms).
const BOOK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local chat_next = tonumber(redis.call('GET', KEYS[1]) or '0')
if chat_next > now then return chat_next - now end
local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
if tat < now then tat = now end
local wait = tat - tonumber(ARGV[3]) - now
if wait > 0 then return wait end
local next_tat = tat + tonumber(ARGV[2])
redis.call('SET', KEYS[2], next_tat, 'PX', next_tat - now + 1000)
redis.call('SET', KEYS[1], now + tonumber(ARGV[1]), 'PX', tonumber(ARGV[1]) + 1000)
return 0
";

/// A send to the chat finished: its next turn is one interval from now. KEYS: the chat's key.
/// ARGV: the interval (ms).
const SENT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], now + tonumber(ARGV[1]), 'PX', tonumber(ARGV[1]) + 1000)
return 0
";

/// Holds a chat's turn while an update from it is handled (its replies go out at once and count
/// against the chat's limit): the later of the current turn and now + ARGV[1] ms.
const HOLD_TURN: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local hold = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if hold > cur then redis.call('SET', KEYS[1], hold, 'PX', tonumber(ARGV[1]) + 1000) end
return 0
";

/// How long a chat's turn is held for a send that has not been reported done (an upload under
/// way); a process that dies mid-send frees the chat after this.
const HOLD: Duration = Duration::from_secs(5);

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    /// When each chat may get its next message.
    chats: HashMap<i64, Instant>,
    /// Sends in the last second, oldest first.
    recent: VecDeque<Instant>,
}

impl Limiter {
    #[must_use]
    pub fn new(per_chat: Duration, per_second: u32, shared: Kv) -> Self {
        Self {
            per_chat,
            per_second: per_second.max(1) as usize,
            state: Mutex::new(State::default()),
            shared,
        }
    }

    fn millis(d: Duration) -> i64 {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }

    /// Waits until a message to `chat` is within both limits, and books it.
    pub async fn acquire(&self, chat: i64) {
        loop {
            let wait = match self.book_shared(chat).await {
                Some(wait) => wait,
                None => self.try_book(chat, Instant::now()),
            };
            match wait {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// Books on Redis: `Some(None)` booked, `Some(Some(wait))` not yet, `None` no shared
    /// budget (in-process store, or Redis unreachable).
    async fn book_shared(&self, chat: i64) -> Option<Option<Duration>> {
        // Evenly spaced, no burst, a little under the cap: at most `per_second` in any window of
        // one second, as Telegram counts.
        let per_second = u64::try_from(self.per_second).unwrap_or(1).max(1);
        let interval = Duration::from_millis(1000_u64.div_ceil(per_second) + 2);
        let tolerance = Duration::ZERO;
        let booked = self
            .shared
            .eval(
                BOOK,
                &[&format!("send:chat:{chat}"), "send:all"],
                &[
                    Self::millis(self.per_chat + HOLD),
                    Self::millis(interval),
                    Self::millis(tolerance),
                ],
            )
            .await;
        match booked {
            Ok(Some(0)) => Some(None),
            Ok(Some(ms)) => Some(Some(Duration::from_millis(ms.unsigned_abs()))),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "send budget: Redis unreachable; pacing in this process only");
                None
            }
        }
    }

    /// An update from `chat` is being handled: its replies are not paced (a user waits for
    /// them), but pushes to the chat wait until [`sent`](Self::sent) says it is over, plus the
    /// interval.
    pub async fn hold(&self, chat: i64) {
        let shared = self
            .shared
            .eval(
                HOLD_TURN,
                &[&format!("send:chat:{chat}")],
                &[Self::millis(self.per_chat + HOLD)],
            )
            .await;
        if let Err(e) = shared {
            tracing::debug!(error = %e, "send budget: Redis unreachable; pacing in this process only");
        }
        let until = Instant::now() + self.per_chat + HOLD;
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = st.chats.entry(chat).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// A send to `chat` just finished: Telegram counts it from now (an upload can take longer
    /// than the interval), so the chat's next turn starts from here.
    pub async fn sent(&self, chat: i64) {
        let shared = self
            .shared
            .eval(
                SENT,
                &[&format!("send:chat:{chat}")],
                &[Self::millis(self.per_chat)],
            )
            .await;
        if let Err(e) = shared {
            tracing::warn!(error = %e, "send budget: Redis unreachable; pacing in this process only");
        }
        let next = Instant::now() + self.per_chat;
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = st.chats.entry(chat).or_insert(next);
        *entry = (*entry).max(next);
    }

    /// Books a send now, or says how long to wait.
    fn try_book(&self, chat: i64, now: Instant) -> Option<Duration> {
        let second = Duration::from_secs(1);
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while st
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= second)
        {
            st.recent.pop_front();
        }
        let chat_wait = st
            .chats
            .get(&chat)
            .and_then(|next| next.checked_duration_since(now));
        let global_wait = (st.recent.len() >= self.per_second)
            .then(|| {
                st.recent
                    .front()
                    .map(|t| second.saturating_sub(now.duration_since(*t)))
            })
            .flatten();
        match chat_wait.into_iter().chain(global_wait).max() {
            Some(wait) if !wait.is_zero() => Some(wait),
            _ => {
                st.recent.push_back(now);
                if st.chats.len() > 10_000 {
                    st.chats.retain(|_, next| *next > now);
                }
                st.chats.insert(chat, now + self.per_chat);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_chat_being_answered_holds_its_pushes() {
        let l = Limiter::new(Duration::from_secs(1), 30, Kv::in_memory("t:", 10));
        l.hold(7).await;
        let t0 = Instant::now();
        assert!(
            l.try_book(7, t0).is_some(),
            "held while the update is handled"
        );
        assert_eq!(l.try_book(8, t0), None, "other chats go on");
        l.sent(7).await;
        let wait = l
            .try_book(7, Instant::now())
            .expect("a second after the replies");
        assert!(wait > Duration::from_millis(900), "{wait:?}");
    }

    #[test]
    fn one_per_chat_per_interval_and_a_global_cap() {
        let l = Limiter::new(Duration::from_secs(1), 3, Kv::in_memory("t:", 10));
        let t0 = Instant::now();
        assert_eq!(l.try_book(1, t0), None);
        let wait = l.try_book(1, t0 + Duration::from_millis(200)).unwrap();
        assert_eq!(wait, Duration::from_millis(800));
        assert_eq!(l.try_book(2, t0), None);
        assert_eq!(l.try_book(3, t0), None);
        // Three sends in this second: a fourth chat waits for the oldest to age out.
        assert_eq!(
            l.try_book(4, t0 + Duration::from_millis(100)),
            Some(Duration::from_millis(900))
        );
        assert_eq!(l.try_book(4, t0 + Duration::from_secs(1)), None);
        assert_eq!(l.try_book(1, t0 + Duration::from_secs(1)), None);
    }
}
