//! A small key-value store for what replicas must share and what may expire: update
//! de-duplication, short locks, counters.
//!
//! Redis (deadpool-redis) when `REDIS_URL` is set; otherwise an in-process map with the same
//! semantics, which is only correct for a single instance. Both bound their memory: Redis by TTLs,
//! the in-process map by TTLs plus a maximum number of entries.
//!
//! Every key lives in one of two scopes ([`KvScopes`]), so nothing outlives or crosses what it
//! describes (several deployments may share one Redis and one `cache.key_prefix`):
//! - the bot's, `<prefix>bot:<bot id>:` — facts about Telegram traffic, true whatever database
//!   is behind the bot: update de-duplication marks, the wrong-promo-code counter per Telegram
//!   user;
//! - the database's, `<prefix>bot:<bot id>:db:<database identity>:` — anything that names a row
//!   (locks and flags keyed by user, generation or avatar ids, deadline broadcasts). The identity
//!   is made with the schema and stored in it, so a new or another database never reads these.
//!
//! No database fact that money or ownership rests on is cached at all: the user's row (and with
//! it their id) is read from the database on every update (see `users`).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use deadpool_redis::{
    Pool, Runtime, Timeouts,
    redis::{self, AsyncCommands},
};

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("redis pool: {0}")]
    Pool(#[from] deadpool_redis::PoolError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis configuration: {0}")]
    Config(String),
}

/// Follows `channel` (a full name, see [`Kv::channel`]) on the Redis at `url` until `stop`,
/// handing each message to `on_message`. After a lost connection it subscribes again (once a
/// second) and then calls `on_resubscribed`, so the caller can catch up on what it missed.
pub async fn listen<M, R, F>(
    url: &str,
    channel: &str,
    stop: &CancellationToken,
    mut on_message: M,
    mut on_resubscribed: R,
) where
    M: FnMut(&str),
    R: FnMut() -> F,
    F: Future<Output = ()>,
{
    let mut first = true;
    loop {
        if !first {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        let subscribed = async {
            let client = redis::Client::open(url)?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        }
        .await;
        let mut pubsub = match subscribed {
            Ok(p) => p,
            Err(e) => {
                if first {
                    tracing::warn!(error = %e, channel, "cannot subscribe to Redis; retrying");
                }
                first = false;
                continue;
            }
        };
        if !first {
            on_resubscribed().await;
        }
        first = false;
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                message = messages.next() => match message {
                    Some(message) => {
                        if let Ok(text) = message.get_payload::<String>() {
                            on_message(&text);
                        }
                    }
                    None => break,
                },
            }
        }
    }
}

/// The operations every backend offers. Keys are given without the instance prefix.
pub trait KvStore: Send + Sync {
    /// Sets `key` only if it is absent; true when this call set it.
    fn set_nx(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, KvError>> + Send;
    fn set(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), KvError>> + Send;
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<String>, KvError>> + Send;
    fn del(&self, key: &str) -> impl Future<Output = Result<(), KvError>> + Send;
    /// Deletes `key` only while it still holds `expected` (releasing a lock one still owns).
    fn del_if_eq(
        &self,
        key: &str,
        expected: &str,
    ) -> impl Future<Output = Result<bool, KvError>> + Send;
    /// Increments a counter; `ttl` starts when the counter is created.
    fn incr(&self, key: &str, ttl: Duration) -> impl Future<Output = Result<i64, KvError>> + Send;
    fn ping(&self) -> impl Future<Output = Result<(), KvError>> + Send;
}

/// The configured backend, with the instance's key prefix applied.
#[derive(Clone)]
pub struct Kv {
    prefix: Arc<str>,
    backend: Backend,
}

impl std::fmt::Debug for Kv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kv")
            .field("prefix", &self.prefix)
            .field("redis", &self.is_redis())
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Backend {
    Redis(Pool),
    Memory(Arc<MemoryKv>),
}

impl Kv {
    /// Builds the pool lazily: a Redis that is down shows in `/readyz`, it does not stop start-up.
    pub fn from_settings(settings: &Settings) -> Result<Self, KvError> {
        let backend = match &settings.redis_url {
            Some(url) => {
                let mut cfg = deadpool_redis::Config::from_url(url.expose());
                let timeout = Some(Duration::from_secs(settings.database.acquire_timeout_secs));
                cfg.pool = Some(deadpool_redis::PoolConfig {
                    max_size: 32,
                    timeouts: Timeouts {
                        wait: timeout,
                        create: timeout,
                        recycle: timeout,
                    },
                    ..Default::default()
                });
                let pool = cfg
                    .create_pool(Some(Runtime::Tokio1))
                    .map_err(|e| KvError::Config(e.to_string()))?;
                Backend::Redis(pool)
            }
            None => Backend::Memory(Arc::new(MemoryKv::new(
                settings.cache.in_process_max_entries,
            ))),
        };
        Ok(Self {
            prefix: settings.cache.key_prefix.as_str().into(),
            backend,
        })
    }

    /// An in-process store, for tools and tests that need no sharing.
    #[must_use]
    pub fn in_memory(prefix: &str, max_entries: usize) -> Self {
        Self {
            prefix: prefix.into(),
            backend: Backend::Memory(Arc::new(MemoryKv::new(max_entries))),
        }
    }

    #[must_use]
    pub fn is_redis(&self) -> bool {
        matches!(self.backend, Backend::Redis(_))
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Publishes `message` to the other replicas on `channel` (under this instance's prefix).
    /// The in-process store has no other replicas: a no-op.
    pub async fn publish(&self, channel: &str, message: &str) -> Result<(), KvError> {
        match &self.backend {
            Backend::Redis(pool) => {
                let mut conn = pool.get().await?;
                let _: i64 = conn.publish(self.key(channel), message).await?;
                Ok(())
            }
            Backend::Memory(_) => Ok(()),
        }
    }

    /// Runs a Lua script atomically on Redis with `keys` (prefixed here) and integer `args`;
    /// `None` on the in-process store, which has nothing to share (callers keep the state
    /// themselves then).
    pub async fn eval(
        &self,
        script: &str,
        keys: &[&str],
        args: &[i64],
    ) -> Result<Option<i64>, KvError> {
        match &self.backend {
            Backend::Redis(pool) => {
                let mut conn = pool.get().await?;
                // Plain EVAL: the scripts are short, and Redis caches them by hash itself.
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(script).arg(keys.len());
                for key in keys {
                    cmd.arg(self.key(key));
                }
                for arg in args {
                    cmd.arg(*arg);
                }
                Ok(Some(cmd.query_async(&mut conn).await?))
            }
            Backend::Memory(_) => Ok(None),
        }
    }

    /// The full name of `channel`, for subscribers.
    #[must_use]
    pub fn channel(&self, channel: &str) -> String {
        self.key(channel)
    }

    /// The same store with `namespace` appended to the key prefix.
    #[must_use]
    pub fn scoped(&self, namespace: &str) -> Self {
        Self {
            prefix: format!("{}{namespace}", self.prefix).into(),
            backend: self.backend.clone(),
        }
    }

    /// The key prefix this handle writes under.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Every key under this handle's prefix (without it), by SCAN: for operators and tests.
    pub async fn keys(&self) -> Result<Vec<String>, KvError> {
        let pattern = format!("{}*", glob_escape(&self.prefix));
        let mut found = Vec::new();
        match &self.backend {
            Backend::Redis(pool) => {
                let mut conn = pool.get().await?;
                let mut cursor: u64 = 0;
                loop {
                    let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(500)
                        .query_async(&mut conn)
                        .await?;
                    found.extend(keys);
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
            Backend::Memory(m) => found = m.keys_with_prefix(&self.prefix),
        }
        found.sort();
        found.dedup();
        Ok(found
            .into_iter()
            .filter_map(|k| k.strip_prefix(&*self.prefix).map(str::to_owned))
            .collect())
    }

    /// Deletes every key under this handle's prefix and returns how many went. On Redis: SCAN
    /// (never KEYS, which blocks the server) in batches, each batch UNLINKed (freed in the
    /// background); keys outside the prefix — another deployment's, another app's — are never
    /// touched, and nothing like FLUSHDB is used.
    pub async fn drop_all(&self) -> Result<u64, KvError> {
        let keys = self.keys().await?;
        match &self.backend {
            Backend::Redis(pool) => {
                let mut conn = pool.get().await?;
                let mut dropped = 0;
                for batch in keys.chunks(500) {
                    let full: Vec<String> = batch.iter().map(|k| self.key(k)).collect();
                    let n: u64 = redis::cmd("UNLINK")
                        .arg(&full)
                        .query_async(&mut conn)
                        .await?;
                    dropped += n;
                }
                Ok(dropped)
            }
            Backend::Memory(m) => Ok(m.drop_prefix(&self.prefix)),
        }
    }
}

/// Escapes Redis glob characters, so a prefix matches only itself.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The store split by what its keys describe; see the module docs.
#[derive(Debug, Clone)]
pub struct KvScopes {
    /// Keys about the bot's Telegram traffic (update marks, per-Telegram-user counters).
    pub bot: Kv,
    /// Keys that name database rows: readable only with the database they were written against.
    pub db: Kv,
}

impl KvScopes {
    /// `bot_id` is the number before the colon of the bot token (public: it is the bot's user
    /// id); `database` is [`crate::db::identity`].
    #[must_use]
    pub fn new(base: &Kv, bot_id: u64, database: &str) -> Self {
        let bot = base.scoped(&format!("bot:{bot_id}:"));
        let db = Self::databases(base, bot_id).scoped(&format!("{database}:"));
        Self { bot, db }
    }

    /// The bot's database scopes, every database's together: what `aisha admin drop-cache`
    /// clears.
    #[must_use]
    pub fn databases(base: &Kv, bot_id: u64) -> Kv {
        base.scoped(&format!("bot:{bot_id}:db:"))
    }
}

/// A short lock: held until released or until its TTL runs out (a crashed holder cannot block
/// others for longer). Only the holder's token releases it.
#[derive(Debug)]
pub struct Lock {
    key: String,
    token: String,
}

impl Kv {
    /// Takes `name` for at most `ttl`; `None` when someone else holds it.
    pub async fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<Lock>, KvError> {
        let key = format!("lock:{name}");
        let token = format!("{:032x}", rand::random::<u128>());
        Ok(self
            .set_nx(&key, &token, ttl)
            .await?
            .then_some(Lock { key, token }))
    }

    /// Releases a lock; false when it had expired and someone else took it meanwhile.
    pub async fn unlock(&self, lock: Lock) -> Result<bool, KvError> {
        self.del_if_eq(&lock.key, &lock.token).await
    }
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl KvStore for Kv {
    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, KvError> {
        let key = self.key(key);
        match &self.backend {
            Backend::Redis(pool) => {
                let mut conn = pool.get().await?;
                let set: Option<String> = redis::cmd("SET")
                    .arg(&key)
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis(ttl))
                    .query_async(&mut conn)
                    .await?;
                Ok(set.is_some())
            }
            Backend::Memory(m) => Ok(m.set(key, value, ttl, true)),
        }
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), KvError> {
        let key = self.key(key);
        match &self.backend {
            Backend::Redis(pool) => {
                let mut conn = pool.get().await?;
                let () = conn.pset_ex(&key, value, millis(ttl)).await?;
                Ok(())
            }
            Backend::Memory(m) => {
                m.set(key, value, ttl, false);
                Ok(())
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        let key = self.key(key);
        match &self.backend {
            Backend::Redis(pool) => Ok(pool.get().await?.get(&key).await?),
            Backend::Memory(m) => Ok(m.get(&key)),
        }
    }

    async fn del(&self, key: &str) -> Result<(), KvError> {
        let key = self.key(key);
        match &self.backend {
            Backend::Redis(pool) => {
                let _: i64 = pool.get().await?.del(&key).await?;
                Ok(())
            }
            Backend::Memory(m) => {
                m.del(&key);
                Ok(())
            }
        }
    }

    async fn del_if_eq(&self, key: &str, expected: &str) -> Result<bool, KvError> {
        let key = self.key(key);
        match &self.backend {
            Backend::Redis(pool) => {
                let mut conn = pool.get().await?;
                let deleted: i64 = redis::cmd("EVAL")
                    .arg(
                        "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                         return redis.call('DEL', KEYS[1]) else return 0 end",
                    )
                    .arg(1)
                    .arg(&key)
                    .arg(expected)
                    .query_async(&mut conn)
                    .await?;
                Ok(deleted == 1)
            }
            Backend::Memory(m) => Ok(m.del_if_eq(&key, expected)),
        }
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, KvError> {
        let key = self.key(key);
        match &self.backend {
            Backend::Redis(pool) => {
                let mut conn = pool.get().await?;
                // PEXPIRE ... NX (Redis 7) sets the TTL only when the counter is new.
                let (count, _): (i64, i64) = redis::pipe()
                    .atomic()
                    .incr(&key, 1)
                    .cmd("PEXPIRE")
                    .arg(&key)
                    .arg(millis(ttl))
                    .arg("NX")
                    .query_async(&mut conn)
                    .await?;
                Ok(count)
            }
            Backend::Memory(m) => Ok(m.incr(key, ttl)),
        }
    }

    async fn ping(&self) -> Result<(), KvError> {
        match &self.backend {
            Backend::Redis(pool) => {
                let mut conn = pool.get().await?;
                let _: String = redis::cmd("PING").query_async(&mut conn).await?;
                Ok(())
            }
            Backend::Memory(_) => Ok(()),
        }
    }
}

/// The in-process backend: a map with two indexes, by expiry (to drop expired entries in order)
/// and by insertion (when full, the oldest entry goes: an old "done" mark rather than the
/// "processing" mark of an update being handled right now). Memory stays bounded under any load;
/// evictions are counted in `kv_evictions_total` and mean the bound is too small for the traffic.
///
/// Hand-written (about 80 lines) because it needs atomic set-if-absent, compare-and-delete and
/// counters with per-entry TTLs, which no small cache crate offers together.
struct MemoryKv {
    max_entries: usize,
    inner: Mutex<MemoryInner>,
}

struct Entry {
    value: String,
    expires: Instant,
    seq: u64,
}

#[derive(Default)]
struct MemoryInner {
    map: HashMap<String, Entry>,
    by_expiry: BTreeSet<(Instant, u64)>,
    by_insertion: BTreeMap<u64, String>,
    next_seq: u64,
}

impl MemoryInner {
    fn purge(&mut self, now: Instant) {
        while let Some(&(at, seq)) = self.by_expiry.first()
            && at <= now
        {
            self.by_expiry.pop_first();
            if let Some(key) = self.by_insertion.remove(&seq) {
                self.map.remove(&key);
            }
        }
    }

    fn remove(&mut self, key: &str) -> Option<String> {
        let entry = self.map.remove(key)?;
        self.by_expiry.remove(&(entry.expires, entry.seq));
        self.by_insertion.remove(&entry.seq);
        Some(entry.value)
    }

    fn insert(&mut self, key: String, value: String, expires: Instant, max: usize) {
        self.remove(&key);
        while self.map.len() >= max {
            let Some((_, oldest)) = self.by_insertion.first_key_value() else {
                break;
            };
            let oldest = oldest.clone();
            self.remove(&oldest);
            metrics::counter!("kv_evictions_total").increment(1);
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        self.by_expiry.insert((expires, seq));
        self.by_insertion.insert(seq, key.clone());
        self.map.insert(
            key,
            Entry {
                value,
                expires,
                seq,
            },
        );
    }
}

impl MemoryKv {
    fn new(max_entries: usize) -> Self {
        Self {
            max_entries: max_entries.max(1),
            inner: Mutex::new(MemoryInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A panic while holding this lock cannot leave the map half-updated in a way that
        // matters (worst case a stale entry), so recover instead of propagating the poison.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, key: String, value: &str, ttl: Duration, only_if_absent: bool) -> bool {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.purge(now);
        if only_if_absent && inner.map.contains_key(&key) {
            return false;
        }
        inner.insert(key, value.to_owned(), now + ttl, self.max_entries);
        true
    }

    fn get(&self, key: &str) -> Option<String> {
        let mut inner = self.lock();
        inner.purge(Instant::now());
        inner.map.get(key).map(|e| e.value.clone())
    }

    fn del(&self, key: &str) {
        self.lock().remove(key);
    }

    fn del_if_eq(&self, key: &str, expected: &str) -> bool {
        let mut inner = self.lock();
        inner.purge(Instant::now());
        if inner.map.get(key).is_some_and(|e| e.value == expected) {
            inner.remove(key);
            return true;
        }
        false
    }

    fn keys_with_prefix(&self, prefix: &str) -> Vec<String> {
        let mut inner = self.lock();
        inner.purge(Instant::now());
        inner
            .map
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    fn drop_prefix(&self, prefix: &str) -> u64 {
        let keys = self.keys_with_prefix(prefix);
        let mut inner = self.lock();
        for key in &keys {
            inner.remove(key);
        }
        u64::try_from(keys.len()).unwrap_or(u64::MAX)
    }

    fn incr(&self, key: String, ttl: Duration) -> i64 {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.purge(now);
        let (next, expires) = match inner.map.get(&key) {
            Some(e) => (
                e.value.parse::<i64>().unwrap_or(0).saturating_add(1),
                e.expires,
            ),
            None => (1, now + ttl),
        };
        inner.insert(key, next.to_string(), expires, self.max_entries);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_semantics_match_redis() {
        let kv = Kv::in_memory("t:", 10);
        let ttl = Duration::from_secs(60);
        assert!(kv.set_nx("a", "1", ttl).await.unwrap());
        assert!(!kv.set_nx("a", "2", ttl).await.unwrap());
        assert_eq!(kv.get("a").await.unwrap().as_deref(), Some("1"));
        kv.set("a", "3", ttl).await.unwrap();
        assert_eq!(kv.get("a").await.unwrap().as_deref(), Some("3"));
        kv.del("a").await.unwrap();
        assert_eq!(kv.get("a").await.unwrap(), None);
        assert_eq!(kv.incr("c", ttl).await.unwrap(), 1);
        assert_eq!(kv.incr("c", ttl).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn memory_entries_expire() {
        let kv = Kv::in_memory("t:", 10);
        assert!(
            kv.set_nx("a", "1", Duration::from_millis(20))
                .await
                .unwrap()
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(kv.get("a").await.unwrap(), None);
        assert!(kv.set_nx("a", "1", Duration::from_secs(1)).await.unwrap());
    }

    #[tokio::test]
    async fn scopes_never_read_each_other_and_drop_only_their_own() {
        let base = Kv::in_memory("p:", 100);
        let ttl = Duration::from_secs(60);
        let one = KvScopes::new(&base, 7, "aaa");
        let other_db = KvScopes::new(&base, 7, "bbb");
        let other_bot = KvScopes::new(&base, 8, "aaa");
        one.db.set("lock:x", "1", ttl).await.unwrap();
        one.bot.set("update:1", "done", ttl).await.unwrap();
        other_bot.db.set("lock:x", "2", ttl).await.unwrap();
        assert_eq!(other_db.db.get("lock:x").await.unwrap(), None);
        assert_eq!(
            other_db.bot.get("update:1").await.unwrap().as_deref(),
            Some("done")
        );
        assert_eq!(other_bot.bot.get("update:1").await.unwrap(), None);
        assert_eq!(one.db.prefix(), "p:bot:7:db:aaa:");
        // drop-cache for bot 7: its databases' keys go, its update marks and bot 8 stay.
        assert_eq!(KvScopes::databases(&base, 7).drop_all().await.unwrap(), 1);
        assert_eq!(one.db.get("lock:x").await.unwrap(), None);
        assert_eq!(
            one.bot.get("update:1").await.unwrap().as_deref(),
            Some("done")
        );
        assert_eq!(
            other_bot.db.get("lock:x").await.unwrap().as_deref(),
            Some("2")
        );
    }

    #[test]
    fn glob_characters_in_a_prefix_match_only_themselves() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn memory_stays_bounded_and_evicts_the_oldest() {
        let m = MemoryKv::new(100);
        let long = Duration::from_secs(3600);
        for i in 0..10_000 {
            m.set(format!("k{i}"), "done", long, true);
        }
        // A short-lived mark written last survives a flood of long-lived ones after it.
        m.set("processing".into(), "p", Duration::from_secs(60), true);
        for i in 10_000..10_050 {
            m.set(format!("k{i}"), "done", long, true);
        }
        let inner = m.lock();
        assert_eq!(inner.map.len(), 100);
        assert_eq!(inner.by_expiry.len(), 100);
        assert_eq!(inner.by_insertion.len(), 100);
        assert!(inner.map.contains_key("processing"));
        assert!(!inner.map.contains_key("k9000"));
    }
}
