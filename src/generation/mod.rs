//! The generation pipeline: create and charge, submit with our webhook URL, settle on the
//! provider's callback (or on the one deadline check), and queue the push to the chat.
//!
//! Nothing waits for a provider: a generation is a row; its outcome arrives at
//! `POST /webhooks/{provider}/{id}` (see `http::provider_webhook`), and the delivery outbox pushes
//! the result. Every state change is a conditional update on `status = 'pending'`, so duplicate
//! callbacks, a callback racing the deadline check, or two replicas settle a generation once.

pub mod flow;
pub mod messages;

use crate::domain::Coins;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use entity::{avatar, delivery as delivery_row, generation, generation_image};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, TransactionTrait, sea_query::Expr,
};
use url::Url;

pub use crate::jobs::{FailReason, PipelineError};

use crate::{
    delivery::{self, Push},
    domain::UserId,
    domain::{GenerationId, GenerationStatus},
    i18n::Lang,
    jobs::{self, JobId, Overdue, Submitting, deadline::Checked},
    ledger::{self, Charge, Kind},
    provider::{AspectRatio, JobRequest, Outcome, ProviderImage, Status},
    state::AppState,
};

pub use crate::domain::MAX_IMAGES;

/// What the user asked for.
#[derive(Debug)]
pub struct NewGeneration<'a> {
    pub user_id: i64,
    pub chat_id: i64,
    pub lang: Lang,
    pub avatar: Option<&'a avatar::Model>,
    /// As the user wrote it (validated by the caller).
    pub prompt: &'a str,
    pub aspect: AspectRatio,
    pub num_images: u8,
    /// The message that becomes the progress message, when it already exists.
    pub progress_message_id: Option<i64>,
    pub regenerated_from: Option<i64>,
    /// Unique per starting request (a callback query id): a redelivery finds its generation.
    pub start_key: Option<String>,
    /// A `[[styles]]` id; `None`: the prompt as written.
    pub style: Option<&'a str>,
    /// What the model gets in place of `prompt` (its translation, or the ✨ improved prompt).
    pub prompt_en: Option<&'a str>,
}

#[derive(Debug)]
pub enum Created {
    Charged(Box<generation::Model>),
    /// This request started one already (a redelivered update): nothing new, nothing charged.
    Again(Box<generation::Model>),
    Insufficient {
        need: i64,
        have: i64,
    },
    /// The user already has `generation.max_in_flight` generations running.
    Busy {
        max: u32,
    },
}

#[must_use]
pub fn lang_code(lang: Lang) -> &'static str {
    match lang {
        Lang::Ru => "ru",
        Lang::En => "en",
    }
}

#[must_use]
pub fn lang_of(generation: &generation::Model) -> Lang {
    Lang::from_code(Some(&generation.lang))
}

/// The prompt the provider gets: the user's words, with the avatar's trigger phrase in front
/// exactly once (built from the stored original every time, so repeats never grow it).
#[must_use]
pub fn provider_prompt(prompt: &str, trigger: Option<&str>) -> String {
    let prompt = prompt.trim();
    match trigger.map(str::trim).filter(|t| !t.is_empty()) {
        // Already written by the user as the first word: don't say it twice.
        Some(t)
            if prompt.strip_prefix(t).is_some_and(|rest| {
                rest.chars()
                    .next()
                    .is_none_or(|c| !c.is_alphanumeric() && c != '_')
            }) =>
        {
            prompt.to_owned()
        }
        Some(t) => format!("{t} {prompt}"),
        None => prompt.to_owned(),
    }
}

/// The job a generation row describes: the prompt for the model (the stored English one, else
/// the user's words) dressed in its style (once), the avatar's trigger in front.
#[must_use]
pub fn job_for(
    generation: &generation::Model,
    avatar: Option<&avatar::Model>,
    settings: &crate::config::Settings,
) -> JobRequest {
    let style = generation
        .style
        .as_deref()
        .and_then(|id| settings.style(id));
    if generation.style.is_some() && style.is_none() {
        tracing::warn!(generation = generation.id, style = ?generation.style,
            "the generation's style is no longer configured: the prompt goes as written");
    }
    let words = generation
        .prompt_en
        .as_deref()
        .unwrap_or(&generation.prompt);
    let prompt = style.map_or_else(|| words.to_owned(), |s| s.apply(words));
    JobRequest {
        prompt: provider_prompt(&prompt, avatar.and_then(|a| a.trigger_phrase.as_deref())),
        lora_url: avatar.and_then(|a| a.lora_url.clone()),
        aspect: AspectRatio::parse(&generation.aspect).unwrap_or(AspectRatio::Square),
        num_images: u8::try_from(generation.num_images).unwrap_or(1),
        seed: u64::try_from(generation.seed).unwrap_or(0),
        guidance_scale: style.and_then(|s| s.guidance_scale),
        num_inference_steps: style.and_then(|s| s.num_inference_steps),
    }
}

/// Inserts the generation and charges for it (key `generation:<id>`), inside the caller's
/// transaction: when coins are short the caller rolls back and nothing remains.
pub async fn create<C>(
    db: &C,
    state: &AppState,
    new: NewGeneration<'_>,
) -> Result<Created, PipelineError>
where
    C: ConnectionTrait + TransactionTrait,
{
    if let Some(key) = &new.start_key {
        let earlier = generation::Entity::find()
            .filter(generation::Column::StartKey.eq(key.as_str()))
            .one(db)
            .await?;
        if let Some(earlier) = earlier {
            return Ok(Created::Again(Box::new(earlier)));
        }
    }
    let cost = state.settings.prices.generation_per_image * i64::from(new.num_images);
    let now = Utc::now();
    // Until submitted, the deadline is the submit's (see `jobs::SUBMIT_GRACE`).
    let deadline = now + jobs::SUBMIT_GRACE;
    // fal takes 32-bit seeds; so does everything else.
    let seed = i64::from(rand::random::<u32>());
    let job = JobRequest {
        prompt: String::new(),
        lora_url: new.avatar.and_then(|a| a.lora_url.clone()),
        aspect: new.aspect,
        num_images: new.num_images,
        seed: 0,
        guidance_scale: None,
        num_inference_steps: None,
    };
    let row = generation::ActiveModel {
        user_id: Set(new.user_id),
        chat_id: Set(new.chat_id),
        lang: Set(lang_code(new.lang).to_owned()),
        avatar_id: Set(new.avatar.map(|a| a.id)),
        avatar_name: Set(new.avatar.map(|a| a.name.clone())),
        prompt: Set(new.prompt.trim().to_owned()),
        aspect: Set(new.aspect.label().to_owned()),
        num_images: Set(i32::from(new.num_images)),
        seed: Set(seed),
        cost: Set(cost),
        provider: Set(state.provider.name().to_owned()),
        model: Set(state.provider.model_for(&job)),
        request_id: Set(None),
        status: Set(GenerationStatus::Pending.into()),
        error: Set(None),
        progress_message_id: Set(new.progress_message_id),
        regenerated_from: Set(new.regenerated_from),
        deadline_at: Set(deadline),
        created_at: Set(now),
        completed_at: Set(None),
        start_key: Set(new.start_key),
        style: Set(new.style.map(str::to_owned)),
        prompt_en: Set(new
            .prompt_en
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let key = format!("generation:{}", row.id);
    match ledger::charge(
        db,
        UserId(new.user_id),
        Coins(cost),
        Kind::Generation,
        Some(&key),
        &key,
    )
    .await?
    {
        Charge::Charged { .. } => {
            // Counted after the charge: the charge holds the user's balance row until commit,
            // so two starts at once (on any replicas) count each other.
            let max = state.settings.generation.max_in_flight;
            let running = generation::Entity::find()
                .filter(generation::Column::UserId.eq(new.user_id))
                .filter(generation::Column::Status.eq(GenerationStatus::Pending))
                .count(db)
                .await?;
            if running > u64::from(max) {
                return Ok(Created::Busy { max });
            }
            Ok(Created::Charged(Box::new(row)))
        }
        Charge::Insufficient { balance } => Ok(Created::Insufficient {
            need: cost,
            have: balance,
        }),
    }
}

fn deadline_secs(state: &AppState) -> i64 {
    i64::try_from(state.settings.generation.deadline_secs).unwrap_or(600)
}

/// Our webhook URL for a generation (see [`jobs::Signer::webhook_url`]).
#[must_use]
pub fn webhook_url(state: &AppState, generation_id: i64) -> Option<Url> {
    state.signer.webhook_url(
        &state.settings.public_url,
        state.provider.name(),
        JobId::Generation(GenerationId(generation_id)),
    )
}

/// Records the message that shows a generation's progress (when it was sent after the row was
/// made), so the result replaces it. Cosmetic: a failure is only logged.
pub async fn set_progress_message(state: &AppState, generation_id: i64, message_id: i64) {
    let updated = generation::Entity::update_many()
        .col_expr(generation::Column::ProgressMessageId, Expr::val(message_id))
        .filter(generation::Column::Id.eq(generation_id))
        .exec(&state.db)
        .await;
    if let Err(e) = updated {
        tracing::warn!(generation = generation_id, error = %e, "could not record the progress message");
    }
}

/// Hands a created (and committed) generation to the provider. When the provider can't take
/// it, the generation fails: coins back, the user told. Never fails itself: the generation is
/// paid for and its deadline is set, so whatever goes wrong here is settled by the callback or
/// by the deadline check, never by the user's retry.
pub async fn submit(
    state: &AppState,
    generation: &generation::Model,
    avatar: Option<&avatar::Model>,
) {
    if let Err(e) = try_submit(state, generation, avatar).await {
        tracing::error!(generation = generation.id, error = %e, "after submit: left to the deadline check");
    }
}

async fn try_submit(
    state: &AppState,
    generation: &generation::Model,
    avatar: Option<&avatar::Model>,
) -> Result<(), PipelineError> {
    let job = job_for(generation, avatar, &state.settings);
    let id = JobId::Generation(GenerationId(generation.id));
    Submitting::start(&state.kv.db, &state.replica, id).await;
    let submitted = match webhook_url(state, generation.id) {
        Some(url) => state.provider.submit(&job, &url).await,
        None => Err(crate::provider::ProviderError::Rejected {
            status: 0,
            detail: "PUBLIC_URL does not make a webhook URL".into(),
        }),
    };
    Submitting::finish(&state.kv.db, id).await;
    match submitted {
        Ok(request_id) => {
            let deadline = Utc::now() + ChronoDuration::seconds(deadline_secs(state));
            jobs::submitted::<generation::Entity, _>(
                &state.db,
                generation.id,
                &request_id,
                deadline,
            )
            .await?;
            state.deadlines.watch(id, deadline).await;
            Ok(())
        }
        Err(e) => {
            tracing::warn!(generation = generation.id, error = %e, "submit failed");
            fail(state, generation.id, &FailReason::Submit, None).await?;
            Ok(())
        }
    }
}

/// What settling a generation did.
#[derive(Debug, PartialEq, Eq)]
pub enum Settled {
    Completed,
    Failed,
    /// It was settled before (a duplicate callback): nothing changed.
    AlreadySettled,
}

/// Applies a provider outcome: in one transaction the images are stored, the generation
/// completes and its push is queued (or it fails, is refunded once and the notice is queued).
pub async fn settle(
    state: &AppState,
    generation_id: i64,
    outcome: Outcome,
) -> Result<Settled, PipelineError> {
    let (request_id, images) = match outcome {
        Outcome::Completed { request_id, images } => (request_id, images),
        Outcome::Failed { error, request_id } => {
            return fail(
                state,
                generation_id,
                &FailReason::Provider(error),
                Some(&request_id),
            )
            .await;
        }
    };
    let now = Utc::now();
    let txn = state.db.begin().await?;
    let settled = jobs::settle::<generation::Entity, _>(
        &txn,
        generation_id,
        GenerationStatus::Pending.as_str(),
        Some(&request_id),
        vec![
            (
                generation::Column::Status,
                Expr::val(GenerationStatus::Completed),
            ),
            (generation::Column::CompletedAt, Expr::val(now)),
        ],
    )
    .await?;
    let Some(generation) = settled else {
        txn.rollback().await?;
        return Ok(Settled::AlreadySettled);
    };
    let images: Vec<ProviderImage> = images.into_iter().take(10).collect();
    let (fallback_w, fallback_h) = AspectRatio::parse(&generation.aspect)
        .unwrap_or(AspectRatio::Square)
        .size();
    let rows = images
        .iter()
        .enumerate()
        .map(|(i, image)| generation_image::ActiveModel {
            generation_id: Set(generation.id),
            position: Set(i32::try_from(i).unwrap_or(0)),
            provider_url: Set(image.url.clone()),
            width: Set(to_i32(image.width.unwrap_or(fallback_w))),
            height: Set(to_i32(image.height.unwrap_or(fallback_h))),
            file_path: Set(None),
            telegram_file_id: Set(None),
            created_at: Set(now),
            is_favorite: Set(false),
            ..Default::default()
        });
    generation_image::Entity::insert_many(rows)
        .exec_without_returning(&txn)
        .await?;
    let style = generation
        .style
        .as_deref()
        .and_then(|id| state.settings.style(id));
    let push = messages::result(&generation, style, &images);
    announce(state, txn, &generation, &push).await?;
    state
        .estimate
        .record((now - generation.created_at).num_seconds());
    Ok(Settled::Completed)
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

async fn announce(
    state: &AppState,
    txn: sea_orm::DatabaseTransaction,
    generation: &generation::Model,
    push: &Push,
) -> Result<(), PipelineError> {
    let job = JobId::Generation(GenerationId(generation.id));
    state
        .announce(txn, job, Some(generation.chat_id), push)
        .await
}

/// The outbox key of a generation's push (its result or its failure notice: one of the two).
#[must_use]
pub fn delivery_key(generation_id: i64) -> String {
    JobId::Generation(GenerationId(generation_id)).delivery_key()
}

/// Fails a pending generation: refund (once, by key), record why, queue the notice. With the
/// provider's `request_id` (a failure callback), only the job it names is failed.
pub async fn fail(
    state: &AppState,
    generation_id: i64,
    reason: &FailReason,
    request_id: Option<&str>,
) -> Result<Settled, PipelineError> {
    let txn = state.db.begin().await?;
    let settled = jobs::settle::<generation::Entity, _>(
        &txn,
        generation_id,
        GenerationStatus::Pending.as_str(),
        request_id,
        vec![
            (
                generation::Column::Status,
                Expr::val(GenerationStatus::Failed),
            ),
            (generation::Column::Error, Expr::val(reason.encode())),
            (generation::Column::CompletedAt, Expr::val(Utc::now())),
        ],
    )
    .await?;
    let Some(generation) = settled else {
        txn.rollback().await?;
        return Ok(Settled::AlreadySettled);
    };
    refund(&txn, &generation).await?;
    let push = messages::failure(&generation, reason);
    announce(state, txn, &generation, &push).await?;
    Ok(Settled::Failed)
}

/// Returns a generation's coins; its key makes a second call a no-op.
async fn refund<C>(db: &C, generation: &generation::Model) -> Result<(), PipelineError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let job = JobId::Generation(GenerationId(generation.id));
    jobs::refund(db, job, generation.user_id, generation.cost).await
}

/// A completed generation whose images turned out to be unfetchable: it becomes failed and is
/// refunded, and its outbox row now carries the failure notice instead of the photos.
pub async fn fail_undeliverable(
    state: &AppState,
    delivery: &delivery_row::Model,
    generation_id: i64,
) -> Result<Option<Push>, PipelineError> {
    let txn = state.db.begin().await?;
    let settled = jobs::settle::<generation::Entity, _>(
        &txn,
        generation_id,
        GenerationStatus::Completed.as_str(),
        None,
        vec![
            (
                generation::Column::Status,
                Expr::val(GenerationStatus::Failed),
            ),
            (
                generation::Column::Error,
                Expr::val(FailReason::Image.encode()),
            ),
        ],
    )
    .await?;
    let Some(generation) = settled else {
        txn.rollback().await?;
        return Ok(None);
    };
    refund(&txn, &generation).await?;
    let push = messages::failure(&generation, &FailReason::Image);
    delivery::replace_payload(&txn, delivery.id, &push).await?;
    txn.commit().await?;
    Ok(Some(push))
}

/// The deadline passed without a callback: the provider is asked once.
pub async fn check(state: &AppState, id: i64, retries: u32) -> Result<Checked, PipelineError> {
    let Some(generation) = generation::Entity::find_by_id(id).one(&state.db).await? else {
        return Ok(Checked::Done);
    };
    if generation.status != GenerationStatus::Pending {
        return Ok(Checked::Done);
    }
    if generation.deadline_at > Utc::now() {
        return Ok(Checked::Later(generation.deadline_at));
    }
    let Some(request_id) = generation.request_id.as_deref() else {
        // Paid but not submitted: the process that took it died before the provider had it
        // (or is still waiting for the provider's answer: then ask again later).
        let job = JobId::Generation(GenerationId(id));
        if Submitting::under_way(&state.kv.db, &state.replica, job).await {
            return Ok(Checked::AskAgain);
        }
        tracing::info!(
            generation = id,
            "submitting a paid generation its replica left behind"
        );
        let avatar = match generation.avatar_id {
            Some(avatar_id) => {
                entity::avatar::Entity::find_by_id(avatar_id)
                    .one(&state.db)
                    .await?
            }
            None => None,
        };
        submit(state, &generation, avatar.as_ref()).await;
        return Ok(Checked::Done);
    };
    let answer = state
        .provider
        .status(&generation.model, request_id)
        .await
        .map(|status| match status {
            Status::Done(outcome) => Some(outcome),
            Status::Pending => None,
        });
    match jobs::overdue(JobId::Generation(GenerationId(id)), answer, retries) {
        Overdue::Settle(outcome) => {
            settle(state, id, outcome).await?;
        }
        Overdue::Fail(reason) => {
            fail(state, id, &reason, None).await?;
        }
        Overdue::AskAgain => return Ok(Checked::AskAgain),
    }
    Ok(Checked::Done)
}

/// Generations waiting for their provider, with their deadlines (for the deadline timer).
pub async fn pending(db: &DatabaseConnection) -> Result<Vec<(JobId, DateTime<Utc>)>, DbErr> {
    let pending: Vec<(i64, DateTime<Utc>)> = generation::Entity::find()
        .select_only()
        .column(generation::Column::Id)
        .column(generation::Column::DeadlineAt)
        .filter(generation::Column::Status.eq(GenerationStatus::Pending))
        .into_tuple()
        .all(db)
        .await?;
    Ok(pending
        .into_iter()
        .map(|(id, at)| (JobId::Generation(GenerationId(id)), at))
        .collect())
}

/// A user's own generation (others' ids read as missing).
pub async fn find_owned<C: ConnectionTrait>(
    db: &C,
    user: UserId,
    generation: GenerationId,
) -> Result<Option<generation::Model>, DbErr> {
    let (user_id, generation_id) = (user.0, generation.0);
    generation::Entity::find_by_id(generation_id)
        .filter(generation::Column::UserId.eq(user_id))
        .one(db)
        .await
}

/// What the delivery worker calls when a result's images can't be fetched for good.
#[derive(Debug)]
pub struct UnusableImages(pub AppState);

#[async_trait::async_trait]
impl crate::delivery::UnusableImages for UnusableImages {
    async fn replace(
        &self,
        row: &delivery_row::Model,
        generation_id: i64,
    ) -> Result<Option<Push>, String> {
        fail_undeliverable(&self.0, row, generation_id)
            .await
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::provider_prompt;

    #[test]
    fn the_trigger_phrase_goes_in_front_once() {
        assert_eq!(provider_prompt(" a cat ", Some("TOK")), "TOK a cat");
        assert_eq!(provider_prompt("TOK in a hat", Some("TOK")), "TOK in a hat");
        assert_eq!(provider_prompt("TOK, smiling", Some("TOK")), "TOK, smiling");
        assert_eq!(
            provider_prompt("TOKyo at night", Some("TOK")),
            "TOK TOKyo at night"
        );
        assert_eq!(provider_prompt("a cat", None), "a cat");
        assert_eq!(provider_prompt("a cat", Some("  ")), "a cat");
    }
}
