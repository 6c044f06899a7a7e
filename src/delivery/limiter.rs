//! Telegram's sending limits, kept by the worker: one message per chat per interval and a cap on
//! messages per second overall. Callers wait their turn instead of collecting 429s.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

pub struct Limiter {
    per_chat: Duration,
    per_second: usize,
    state: Mutex<State>,
}

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
    pub fn new(per_chat: Duration, per_second: u32) -> Self {
        Self {
            per_chat,
            per_second: per_second.max(1) as usize,
            state: Mutex::new(State::default()),
        }
    }

    /// Waits until a message to `chat` is within both limits, and books it.
    pub async fn acquire(&self, chat: i64) {
        loop {
            let wait = self.try_book(chat, Instant::now());
            match wait {
                None => return,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// A send to `chat` just finished: Telegram counts it from now (an upload can take longer
    /// than the interval), so the chat's next turn starts from here.
    pub fn sent(&self, chat: i64) {
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

    #[test]
    fn one_per_chat_per_interval_and_a_global_cap() {
        let l = Limiter::new(Duration::from_secs(1), 3);
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
