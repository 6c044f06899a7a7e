//! Training an avatar: charged once (key `training:<avatar id>`) in the same transaction that
//! moves the draft to `training`; then the archive, its signed URL and the submit. The provider's
//! webhook settles it: ready (the LoRA stored, main if the user had none, "🎉" pushed through the
//! outbox) or failed (refunded once by key, the user told). A training whose callback never
//! comes is asked about once at its deadline. Never a placeholder success.

use crate::domain::Coins;
use chrono::{DateTime, Duration, Utc};
use entity::avatar;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, TransactionTrait, sea_query::Expr,
};

use super::archive;
use crate::domain::AvatarStatus;
use crate::{
    delivery::Push,
    domain::{AvatarId, UserId},
    i18n::{Lang, Texts},
    jobs::{self, FailReason, JobId, Overdue, PipelineError, Submitting, deadline::Checked},
    ledger::{self, Charge, Kind},
    provider::{ProviderError, TrainingOutcome, TrainingRequest, TrainingStatus},
    state::AppState,
    telegram::{
        callback::{AvatarAction, Callback, GenerationAction},
        keyboards::push_row as row,
    },
};

/// How starting a training went.
#[derive(Debug, PartialEq, Eq)]
pub enum Started {
    Started(Box<avatar::Model>),
    /// Not a draft of the user's with enough photos (trained already, a double tap, gone).
    NotReady,
    TooFewPhotos(u64),
    Insufficient {
        need: i64,
        have: i64,
    },
    /// The user already has `avatar.max_trainings_in_flight` trainings running.
    Busy {
        max: u32,
    },
}

/// Charges and moves the draft to `training` in one transaction. Submitting follows (`submit`).
pub async fn start(
    state: &AppState,
    user_id: i64,
    avatar_id: i64,
) -> Result<Started, PipelineError> {
    let settings = &state.settings;
    let txn = state.db.begin().await?;
    // The row lock orders this against photo uploads and a second tap (SQLite has one writer).
    let mut find = avatar::Entity::find_by_id(avatar_id).filter(avatar::Column::UserId.eq(user_id));
    if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        find = find.lock_exclusive();
    }
    let Some(draft) = find.one(&txn).await? else {
        return Ok(Started::NotReady);
    };
    if draft.status != AvatarStatus::Draft {
        return Ok(Started::NotReady);
    }
    let photos = super::photo_count(&txn, avatar_id).await?;
    if photos < u64::from(settings.avatar.min_photos) {
        return Ok(Started::TooFewPhotos(photos));
    }
    let cost = settings.prices.avatar_training;
    let charged = ledger::charge(
        &txn,
        UserId(user_id),
        Coins(cost),
        Kind::AvatarTraining,
        Some(&format!("avatar:{avatar_id}")),
        &format!("training:{avatar_id}"),
    )
    .await?;
    if let Charge::Insufficient { balance } = charged {
        txn.rollback().await?;
        return Ok(Started::Insufficient {
            need: cost,
            have: balance,
        });
    }
    // Counted after the charge, which holds the user's balance row until commit: two starts at
    // once (on any replicas) see each other.
    let max = settings.avatar.max_trainings_in_flight;
    let training = avatar::Entity::find()
        .filter(avatar::Column::UserId.eq(user_id))
        .filter(avatar::Column::Status.eq(AvatarStatus::Training))
        .count(&txn)
        .await?;
    if training >= u64::from(max) {
        txn.rollback().await?;
        return Ok(Started::Busy { max });
    }
    let gender = match draft.gender.as_deref() {
        Some("male") => super::Gender::Male,
        _ => super::Gender::Female,
    };
    let now = Utc::now();
    // Until submitted, the deadline is the submit's (see `jobs::SUBMIT_GRACE`).
    let deadline = now + jobs::SUBMIT_GRACE;
    let updated = avatar::Entity::update_many()
        .col_expr(avatar::Column::Status, Expr::val(AvatarStatus::Training))
        .col_expr(
            avatar::Column::TriggerPhrase,
            Expr::val(super::new_trigger(gender)),
        )
        .col_expr(avatar::Column::Cost, Expr::val(cost))
        .col_expr(avatar::Column::Provider, Expr::val(state.provider.name()))
        .col_expr(
            avatar::Column::Model,
            Expr::val(state.provider.trainer_model()),
        )
        .col_expr(avatar::Column::TrainingStartedAt, Expr::val(now))
        .col_expr(avatar::Column::DeadlineAt, Expr::val(deadline))
        .col_expr(avatar::Column::UpdatedAt, Expr::val(now))
        .filter(avatar::Column::Id.eq(avatar_id))
        .filter(avatar::Column::Status.eq(AvatarStatus::Draft))
        .exec_with_returning(&txn)
        .await?;
    let Some(avatar) = updated.into_iter().next() else {
        txn.rollback().await?;
        return Ok(Started::NotReady);
    };
    txn.commit().await?;
    state
        .deadlines
        .watch(JobId::Training(AvatarId(avatar.id)), deadline)
        .await;
    Ok(Started::Started(Box::new(avatar)))
}

/// Packs the photos and submits the training. Never fails the update: the coins are taken and
/// the deadline is set, so whatever goes wrong here ends as a failure with a refund.
pub async fn submit(state: &AppState, avatar: &avatar::Model) {
    if let Err(e) = try_submit(state, avatar).await {
        tracing::error!(avatar = avatar.id, error = %e, "after training submit: left to the deadline check");
    }
}

async fn try_submit(state: &AppState, avatar: &avatar::Model) -> Result<(), PipelineError> {
    let id = JobId::Training(AvatarId(avatar.id));
    Submitting::start(&state.kv.db, &state.replica, id).await;
    let submitted = hand_over(state, avatar).await;
    Submitting::finish(&state.kv.db, id).await;
    match submitted {
        Ok(request_id) => {
            let deadline = Utc::now()
                + Duration::seconds(
                    i64::try_from(state.settings.avatar.training_deadline_secs).unwrap_or(3600),
                );
            jobs::submitted::<avatar::Entity, _>(&state.db, avatar.id, &request_id, deadline)
                .await?;
            state.deadlines.watch(id, deadline).await;
        }
        Err(e) => {
            tracing::warn!(avatar = avatar.id, error = %e, "training submit failed");
            fail(state, avatar.id, &FailReason::Submit, None).await?;
        }
    }
    Ok(())
}

/// Packs the photos and hands the training to the provider; its request id.
async fn hand_over(state: &AppState, avatar: &avatar::Model) -> Result<String, ProviderError> {
    let photos = super::photos(&state.db, avatar.id)
        .await
        .map_err(|e| ProviderError::Unavailable(format!("database: {e}")))?;
    // Built here once so a photo Telegram can't give back fails now, not at the trainer; any
    // replica the trainer reaches builds its own copy the same way.
    let archive_ok = match archive::pack(state, avatar.id, &photos).await {
        Ok(_) => true,
        Err(e) => {
            tracing::error!(avatar = avatar.id, error = %e, "could not pack the photos");
            false
        }
    };
    match (
        archive_ok,
        archive::url(state, avatar.id),
        state.signer.webhook_url(
            &state.settings.public_url,
            state.provider.name(),
            JobId::Training(AvatarId(avatar.id)),
        ),
    ) {
        (true, Some(images), Some(webhook)) => {
            let job = TrainingRequest {
                images_url: images.to_string(),
                trigger: avatar.trigger_phrase.clone().unwrap_or_default(),
                steps: state.settings.fal.training_steps,
            };
            state.provider.submit_training(&job, &webhook).await
        }
        _ => Err(ProviderError::Rejected {
            status: 0,
            detail: "the photos could not be packed or PUBLIC_URL makes no URL".into(),
        }),
    }
}

/// What settling a training did.
#[derive(Debug, PartialEq, Eq)]
pub enum Settled {
    Ready,
    Failed,
    /// Settled before (a duplicate callback) or gone: nothing changed.
    AlreadySettled,
}

fn texts(avatar: &avatar::Model) -> &'static Texts {
    Lang::from_code(avatar.lang.as_deref()).texts()
}

/// Applies a provider's verdict on a training.
pub async fn settle(
    state: &AppState,
    avatar_id: i64,
    outcome: TrainingOutcome,
) -> Result<Settled, PipelineError> {
    let (request_id, lora_url, config_url) = match outcome {
        TrainingOutcome::Completed {
            request_id,
            lora_url,
            config_url,
        } => (request_id, lora_url, config_url),
        TrainingOutcome::Failed { request_id, error } => {
            return fail(
                state,
                avatar_id,
                &FailReason::Provider(error),
                Some(&request_id),
            )
            .await;
        }
    };
    let now = Utc::now();
    let txn = state.db.begin().await?;
    let settled = jobs::settle::<avatar::Entity, _>(
        &txn,
        avatar_id,
        AvatarStatus::Training.as_str(),
        Some(&request_id),
        vec![
            (avatar::Column::Status, Expr::val(AvatarStatus::Ready)),
            (avatar::Column::LoraUrl, Expr::val(lora_url)),
            (avatar::Column::LoraConfigUrl, Expr::val(config_url)),
            (avatar::Column::TrainedAt, Expr::val(now)),
            (avatar::Column::UpdatedAt, Expr::val(now)),
        ],
    )
    .await?;
    let Some(avatar) = settled else {
        txn.rollback().await?;
        return Ok(Settled::AlreadySettled);
    };
    // The first ready avatar becomes the main one.
    let has_main = avatar::Entity::find()
        .select_only()
        .column(avatar::Column::Id)
        .filter(avatar::Column::UserId.eq(avatar.user_id))
        .filter(avatar::Column::IsMain.eq(true))
        .into_tuple::<i64>()
        .one(&txn)
        .await?
        .is_some();
    if !has_main {
        avatar::Entity::update_many()
            .col_expr(avatar::Column::IsMain, Expr::val(true))
            .filter(avatar::Column::Id.eq(avatar.id))
            .exec(&txn)
            .await?;
    }
    let t = texts(&avatar);
    let push = Push::Text {
        text: (t.avatar_ready)(&avatar.name),
        buttons: vec![row(&[
            (
                t.btn_create_image,
                Callback::Generation(GenerationAction::Avatar(AvatarId(avatar.id))),
            ),
            (t.btn_my_avatars, Callback::Avatar(AvatarAction::List)),
        ])],
        replaces: None,
    };
    announce(state, txn, &avatar, &push).await?;
    cleanup(state, &avatar).await;
    Ok(Settled::Ready)
}

/// Queues the training's message with the change it reports; the deadline stops watching it.
async fn announce(
    state: &AppState,
    txn: sea_orm::DatabaseTransaction,
    avatar: &avatar::Model,
    push: &Push,
) -> Result<(), PipelineError> {
    let job = JobId::Training(AvatarId(avatar.id));
    state.announce(txn, job, avatar.chat_id, push).await
}

/// Fails a training: refund once (by key), record why, tell the user. With the provider's
/// `request_id` (a failure callback), only the job it names is failed.
pub async fn fail(
    state: &AppState,
    avatar_id: i64,
    reason: &FailReason,
    request_id: Option<&str>,
) -> Result<Settled, PipelineError> {
    let txn = state.db.begin().await?;
    let settled = jobs::settle::<avatar::Entity, _>(
        &txn,
        avatar_id,
        AvatarStatus::Training.as_str(),
        request_id,
        vec![
            (avatar::Column::Status, Expr::val(AvatarStatus::Failed)),
            (
                avatar::Column::Error,
                Expr::val(reason.encode().chars().take(300).collect::<String>()),
            ),
            (avatar::Column::UpdatedAt, Expr::val(Utc::now())),
        ],
    )
    .await?;
    let Some(avatar) = settled else {
        txn.rollback().await?;
        return Ok(Settled::AlreadySettled);
    };
    let cost = avatar.cost.unwrap_or(0);
    jobs::refund(
        &txn,
        JobId::Training(AvatarId(avatar.id)),
        avatar.user_id,
        cost,
    )
    .await?;
    let t = texts(&avatar);
    let push = Push::Text {
        text: (t.avatar_failed)(&avatar.name, cost),
        buttons: vec![row(&[(
            t.btn_my_avatars,
            Callback::Avatar(AvatarAction::List),
        )])],
        replaces: None,
    };
    announce(state, txn, &avatar, &push).await?;
    cleanup(state, &avatar).await;
    Ok(Settled::Failed)
}

/// After training: the archive and every photo but the first (the cover) leave storage.
/// Best effort: a leftover file is only disk space.
async fn cleanup(state: &AppState, avatar: &avatar::Model) {
    archive::remove(state, avatar.id).await;
    let photos = match super::photos(&state.db, avatar.id).await {
        Ok(photos) => photos,
        Err(e) => {
            tracing::warn!(avatar = avatar.id, error = %e, "could not list photos to clean up");
            return;
        }
    };
    // The first photo Telegram has as a photo (shown by file_id), else the first one.
    let Some(keep) = photos
        .iter()
        .position(|p| p.telegram_file_id.is_some())
        .or((!photos.is_empty()).then_some(0))
    else {
        return;
    };
    let cover = &photos[keep];
    let rest: Vec<_> = photos.iter().filter(|p| p.id != cover.id).collect();
    let kept = avatar::Entity::update_many()
        .col_expr(
            avatar::Column::CoverFileId,
            Expr::val(cover.telegram_file_id.clone()),
        )
        .col_expr(
            avatar::Column::CoverPath,
            Expr::val(cover.file_path.clone()),
        )
        .filter(avatar::Column::Id.eq(avatar.id))
        .exec(&state.db)
        .await;
    if let Err(e) = kept {
        tracing::warn!(avatar = avatar.id, error = %e, "could not keep the cover");
        return;
    }
    let ids: Vec<i64> = rest.iter().map(|p| p.id).collect();
    if let Err(e) = entity::avatar_photo::Entity::delete_many()
        .filter(entity::avatar_photo::Column::Id.is_in(ids))
        .exec(&state.db)
        .await
    {
        tracing::warn!(avatar = avatar.id, error = %e, "could not forget the trained photos");
        return;
    }
    let root = &state.settings.avatar.photos_dir;
    for photo in rest {
        if let Err(e) = tokio::fs::remove_file(root.join(&photo.file_path)).await {
            tracing::warn!(avatar = avatar.id, error = %e, "could not remove a trained photo");
        }
    }
}

/// The deadline passed without a callback: the provider is asked once.
pub async fn check(
    state: &AppState,
    avatar_id: i64,
    retries: u32,
) -> Result<Checked, PipelineError> {
    let Some(avatar) = avatar::Entity::find_by_id(avatar_id).one(&state.db).await? else {
        return Ok(Checked::Done);
    };
    if avatar.status != AvatarStatus::Training {
        return Ok(Checked::Done);
    }
    if let Some(at) = avatar.deadline_at.filter(|at| *at > Utc::now()) {
        return Ok(Checked::Later(at));
    }
    let Some(request_id) = avatar.request_id.as_deref() else {
        // Paid but not submitted: the process that took it died before the provider had it
        // (or is still waiting for the provider's answer: then ask again later).
        if Submitting::under_way(
            &state.kv.db,
            &state.replica,
            JobId::Training(AvatarId(avatar_id)),
        )
        .await
        {
            return Ok(Checked::AskAgain);
        }
        tracing::info!(
            avatar = avatar_id,
            "submitting a paid training its replica left behind"
        );
        submit(state, &avatar).await;
        return Ok(Checked::Done);
    };
    let model = avatar.model.as_deref().unwrap_or_default();
    let answer =
        state
            .provider
            .training_status(model, request_id)
            .await
            .map(|status| match status {
                TrainingStatus::Done(outcome) => Some(outcome),
                TrainingStatus::Pending => None,
            });
    match jobs::overdue(JobId::Training(AvatarId(avatar_id)), answer, retries) {
        Overdue::Settle(outcome) => {
            settle(state, avatar_id, outcome).await?;
        }
        Overdue::Fail(reason) => {
            fail(state, avatar_id, &reason, None).await?;
        }
        Overdue::AskAgain => return Ok(Checked::AskAgain),
    }
    Ok(Checked::Done)
}

/// Trainings waiting for their provider, with their deadlines (for the deadline timer).
pub async fn pending(db: &DatabaseConnection) -> Result<Vec<(JobId, DateTime<Utc>)>, DbErr> {
    let training: Vec<(i64, Option<DateTime<Utc>>)> = avatar::Entity::find()
        .select_only()
        .column(avatar::Column::Id)
        .column(avatar::Column::DeadlineAt)
        .filter(avatar::Column::Status.eq(AvatarStatus::Training))
        .into_tuple()
        .all(db)
        .await?;
    Ok(training
        .into_iter()
        .map(|(id, at)| (JobId::Training(AvatarId(id)), at.unwrap_or_else(Utc::now)))
        .collect())
}
