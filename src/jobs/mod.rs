//! Provider jobs, whichever feature owns them (a generation, an avatar's training): the one
//! state machine they share.
//!
//! A job is a row that is charged, then submitted with our webhook URL; the provider's signed
//! callback (or the one check at its deadline) settles it exactly once. Every move is a
//! conditional update on the status it leaves, so duplicate callbacks, a callback racing the
//! deadline check, or two replicas settle a job once; a failure is refunded once, by key.
//! The features decide what a settled job means (images stored, an avatar made main) and what
//! the user is told; this module knows neither.

pub mod deadline;
pub mod estimate;

use crate::domain::Coins;
use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::{Expr, Func, SimpleExpr},
};
use sha2::Sha256;
use url::Url;

pub use crate::domain::FailReason;
use crate::{
    config::Secret,
    domain::{AvatarId, GenerationId, UserId},
    kv::{Kv, KvStore},
    ledger::{self, Kind, LedgerError},
    provider::ProviderError,
    replica::Replica,
};

/// Which job: the feature's row it lives in, by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobId {
    Generation(GenerationId),
    /// An avatar's training.
    Training(AvatarId),
}

impl JobId {
    /// A short text form, for broadcasts and lock names.
    #[must_use]
    pub fn encode(self) -> String {
        match self {
            Self::Generation(id) => id.to_string(),
            Self::Training(id) => format!("t{id}"),
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.strip_prefix('t') {
            Some(id) => id.parse().ok().map(|id| Self::Training(AvatarId(id))),
            None => s.parse().ok().map(|id| Self::Generation(GenerationId(id))),
        }
    }

    /// What ledger entries and outbox rows about this job are named after.
    #[must_use]
    pub fn reference(self) -> String {
        match self {
            Self::Generation(id) => format!("generation:{id}"),
            Self::Training(id) => format!("avatar:{id}"),
        }
    }

    /// The idempotency key of the job's refund.
    #[must_use]
    pub fn refund_key(self) -> String {
        match self {
            Self::Generation(id) => format!("refund:generation:{id}"),
            Self::Training(id) => format!("refund:training:{id}"),
        }
    }

    /// The outbox key of the job's one message (its result or its failure notice).
    #[must_use]
    pub fn delivery_key(self) -> String {
        match self {
            Self::Generation(id) => format!("generation:{id}"),
            Self::Training(id) => format!("training:{id}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

pub type HmacSha256 = Hmac<Sha256>;

/// Makes and checks what proves a URL is ours: the tokens in our webhook URLs and the
/// signatures of archive URLs. Each message names its purpose, so none stands for another.
#[derive(Clone, Debug)]
pub struct Signer {
    key: std::sync::Arc<Secret>,
}

impl Signer {
    /// `key`: the provider webhook secret (or the Telegram one when none is set).
    #[must_use]
    pub fn new(key: Secret) -> Self {
        Self {
            key: std::sync::Arc::new(key),
        }
    }

    /// An HMAC of `message` under the key.
    #[must_use]
    pub fn mac(&self, message: &str) -> HmacSha256 {
        // HMAC takes keys of any length, so the fallback (a zero key) is never used.
        let mut mac = HmacSha256::new_from_slice(self.key.expose().as_bytes())
            .unwrap_or_else(|_| HmacSha256::new(&Default::default()));
        mac.update(message.as_bytes());
        mac
    }

    fn webhook_mac(&self, provider: &str, job: JobId) -> HmacSha256 {
        self.mac(&match job {
            JobId::Generation(id) => format!("provider-webhook:{provider}:{id}"),
            JobId::Training(id) => format!("training-webhook:{provider}:{id}"),
        })
    }

    /// The token in a job's webhook URL: only we can make it, and it is good for that one job,
    /// so a callback the provider signed for someone else's job can't be aimed at ours.
    #[must_use]
    pub fn webhook_token(&self, provider: &str, job: JobId) -> String {
        hex::encode(self.webhook_mac(provider, job).finalize().into_bytes())
    }

    /// Checks a token from a webhook URL (in constant time).
    #[must_use]
    pub fn webhook_token_ok(&self, provider: &str, job: JobId, token: &str) -> bool {
        hex::decode(token)
            .is_ok_and(|bytes| self.webhook_mac(provider, job).verify_slice(&bytes).is_ok())
    }

    /// Our webhook URL for a job: the id in the path lets a callback that beats the submit
    /// response find its job; the token proves the URL came from us.
    #[must_use]
    pub fn webhook_url(&self, public_url: &Url, provider: &str, job: JobId) -> Option<Url> {
        let base = public_url.as_str().trim_end_matches('/');
        let token = self.webhook_token(provider, job);
        let path = match job {
            JobId::Generation(id) => format!("{provider}/{id}"),
            JobId::Training(id) => format!("{provider}/avatars/{id}"),
        };
        Url::parse(&format!("{base}/webhooks/{path}/{token}")).ok()
    }
}

/// A table whose rows are provider jobs: the columns the state machine reads and writes.
pub trait JobTable: EntityTrait {
    const ID: Self::Column;
    const STATUS: Self::Column;
    const REQUEST_ID: Self::Column;
    const DEADLINE_AT: Self::Column;
}

impl JobTable for entity::generation::Entity {
    const ID: Self::Column = entity::generation::Column::Id;
    const STATUS: Self::Column = entity::generation::Column::Status;
    const REQUEST_ID: Self::Column = entity::generation::Column::RequestId;
    const DEADLINE_AT: Self::Column = entity::generation::Column::DeadlineAt;
}

impl JobTable for entity::avatar::Entity {
    const ID: Self::Column = entity::avatar::Column::Id;
    const STATUS: Self::Column = entity::avatar::Column::Status;
    const REQUEST_ID: Self::Column = entity::avatar::Column::RequestId;
    const DEADLINE_AT: Self::Column = entity::avatar::Column::DeadlineAt;
}

/// A paid job's first deadline: by then the provider must have it. The submit runs right after
/// the charge on the replica that took it; if that process dies first, whichever replica's
/// deadline timer fires next submits it (see [`Submitting`]). Once submitted, the deadline
/// moves to the provider's (`generation.deadline_secs`, `avatar.training_deadline_secs`).
pub const SUBMIT_GRACE: chrono::Duration = chrono::Duration::seconds(10);

/// Who is submitting a job right now: a short mark in the database's key scope holding the
/// replica id, so a deadline check that finds a job without a request id can tell a submit
/// still under way (leave it) from one whose process died (submit it again).
pub struct Submitting;

impl Submitting {
    /// Long enough for the provider's answer; a dead holder is recognised by its replica's
    /// liveness, not by this.
    const TTL: std::time::Duration = std::time::Duration::from_secs(120);

    fn key(job: JobId) -> String {
        format!("submitting:{}", job.encode())
    }

    /// This process submits `job` now.
    pub async fn start(kv: &Kv, replica: &Replica, job: JobId) {
        if let Err(e) = kv.set(&Self::key(job), replica.id(), Self::TTL).await {
            tracing::warn!(?job, error = %e, "could not mark a submit as under way");
        }
    }

    pub async fn finish(kv: &Kv, job: JobId) {
        if let Err(e) = kv.del(&Self::key(job)).await {
            tracing::debug!(?job, error = %e, "could not clear a submit mark (it expires)");
        }
    }

    /// Whether a live process is submitting `job`. An unreachable store counts as "yes": the
    /// check is asked again later rather than risking a second provider job.
    pub async fn under_way(kv: &Kv, replica: &Replica, job: JobId) -> bool {
        match kv.get(&Self::key(job)).await {
            Ok(Some(holder)) => replica.alive(&holder).await.unwrap_or(true),
            Ok(None) => false,
            Err(_) => true,
        }
    }
}

/// `request_id` unless the row has one already (a callback may beat the submit's answer).
fn keep_request_id<T: JobTable>(request_id: &str) -> SimpleExpr {
    Func::coalesce([Expr::col(T::REQUEST_ID), Expr::val(request_id)]).into()
}

/// Records the provider's id for a submitted job (keeping one a callback stored first) and its
/// deadline for the provider's callback, in one statement.
pub async fn submitted<T: JobTable, C: ConnectionTrait>(
    db: &C,
    id: i64,
    request_id: &str,
    deadline: chrono::DateTime<chrono::Utc>,
) -> Result<(), DbErr> {
    T::update_many()
        .col_expr(T::REQUEST_ID, keep_request_id::<T>(request_id))
        .col_expr(T::DEADLINE_AT, Expr::val(deadline))
        .filter(T::ID.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The one move out of `from`: `sets` applied in a single conditional update, only while the
/// job is still `from` (and, given the provider's `request_id`, only when it names this job or
/// the job has none yet; it is then recorded). `None`: the job had moved on already (a
/// duplicate callback, the deadline check, another replica): nothing changed.
pub async fn settle<T, C>(
    db: &C,
    id: i64,
    from: &str,
    request_id: Option<&str>,
    sets: Vec<(T::Column, SimpleExpr)>,
) -> Result<Option<T::Model>, DbErr>
where
    T: JobTable,
    C: ConnectionTrait,
    T::Model: sea_orm::FromQueryResult + Send + Sync,
{
    let mut update = T::update_many();
    for (column, value) in sets {
        update = update.col_expr(column, value);
    }
    if let Some(request_id) = request_id {
        update = update
            .col_expr(T::REQUEST_ID, keep_request_id::<T>(request_id))
            .filter(
                Condition::any()
                    .add(T::REQUEST_ID.is_null())
                    .add(T::REQUEST_ID.eq(request_id)),
            );
    }
    let updated = update
        .filter(T::ID.eq(id))
        .filter(T::STATUS.eq(from))
        .exec_with_returning(db)
        .await?;
    Ok(updated.into_iter().next())
}

/// Returns a failed job's coins to its owner; the job's refund key makes a second call a no-op.
pub async fn refund<C>(db: &C, job: JobId, user_id: i64, cost: i64) -> Result<(), PipelineError>
where
    C: ConnectionTrait + TransactionTrait,
{
    if cost <= 0 {
        return Ok(());
    }
    ledger::credit(
        db,
        UserId(user_id),
        Coins(cost),
        Kind::Refund,
        Some(&job.reference()),
        &job.refund_key(),
    )
    .await?;
    Ok(())
}

/// What to do with a job whose deadline passed, from the provider's one answer about it.
#[derive(Debug, PartialEq, Eq)]
pub enum Overdue<O> {
    /// The provider has the result: settle as if the callback had come.
    Settle(O),
    /// Still running, unknown or refused: the job fails (and is refunded).
    Fail(FailReason),
    /// The provider could not be reached: ask again a little later.
    AskAgain,
}

/// Decides an overdue job. `answer` is the provider's status (`Ok(None)`: still running);
/// `retries` is how often it was unreachable before.
#[must_use]
pub fn overdue<O>(
    job: JobId,
    answer: Result<Option<O>, ProviderError>,
    retries: u32,
) -> Overdue<O> {
    match answer {
        Ok(Some(outcome)) => Overdue::Settle(outcome),
        Ok(None) => Overdue::Fail(FailReason::Timeout),
        Err(ProviderError::Unavailable(e)) if deadline::may_retry(retries) => {
            tracing::warn!(?job, error = %e, "provider unreachable at a deadline; asking again later");
            Overdue::AskAgain
        }
        Err(e) => {
            tracing::warn!(?job, error = %e, "deadline check: giving up");
            Overdue::Fail(FailReason::Timeout)
        }
    }
}
