//! The key-value store behaves the same on Redis and in process.

use std::time::Duration;

use aisha::kv::KvStore;

use crate::{
    both_storages,
    helpers::{Storage, kv_for},
};

both_storages!(kv_semantics, kv_lock_has_one_winner);

async fn kv_semantics(storage: Storage) {
    let Some(kv) = kv_for(storage).await else {
        return;
    };
    let ttl = Duration::from_secs(60);
    assert!(kv.set_nx("a", "1", ttl).await.unwrap());
    assert!(!kv.set_nx("a", "2", ttl).await.unwrap());
    assert_eq!(kv.get("a").await.unwrap().as_deref(), Some("1"));
    kv.set("a", "3", ttl).await.unwrap();
    assert!(!kv.del_if_eq("a", "1").await.unwrap(), "wrong value: kept");
    assert!(kv.del_if_eq("a", "3").await.unwrap());
    assert_eq!(kv.get("a").await.unwrap(), None);
    assert_eq!(kv.incr("n", ttl).await.unwrap(), 1);
    assert_eq!(kv.incr("n", ttl).await.unwrap(), 2);
    kv.set("short", "x", Duration::from_millis(50))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(kv.get("short").await.unwrap(), None, "expired");
}

async fn kv_lock_has_one_winner(storage: Storage) {
    let Some(kv) = kv_for(storage).await else {
        return;
    };
    let attempts = (0..10).map(|_| kv.try_lock("job", Duration::from_secs(30)));
    let mut won: Vec<_> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter_map(|r| r.unwrap())
        .collect();
    assert_eq!(won.len(), 1, "exactly one holder");
    assert!(
        kv.try_lock("job", Duration::from_secs(30))
            .await
            .unwrap()
            .is_none()
    );
    assert!(kv.unlock(won.remove(0)).await.unwrap());
    let again = kv.try_lock("job", Duration::from_secs(30)).await.unwrap();
    assert!(again.is_some(), "free after release");
}
