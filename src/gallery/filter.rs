//! 🔍 Gallery filters: favourites only, one avatar (or none), a period, an aspect ratio, a style.
//!
//! Each user has at most one stored filter (`gallery_filters`; no row: everything), so it holds
//! across cards, messages and restarts. Buttons only say what to change; the screen is always
//! drawn from what is stored, so a stale button re-renders the current state.

use chrono::{FixedOffset, Utc};
use entity::{avatar, gallery_filter, generation, generation_image};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Set,
    sea_query::{OnConflict, Query, SelectStatement},
};
use teloxide::types::{CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message};

use super::When;
use crate::{
    domain::{AvatarId, GenerationStatus, Period},
    i18n::{AvatarShown, FilterView},
    provider::AspectRatio,
    telegram::{
        callback::{AvatarPick, Callback, GalleryAction},
        ctx::Ctx,
        error::HandlerError,
        keyboards::button,
        ui,
    },
};

/// What the gallery shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub favorites: bool,
    pub avatar: AvatarPick,
    pub period: Period,
    pub aspect: Option<AspectRatio>,
    /// A `[[styles]]` id.
    pub style: Option<String>,
}

impl Default for Filter {
    fn default() -> Self {
        Self {
            favorites: false,
            avatar: AvatarPick::Any,
            period: Period::All,
            aspect: None,
            style: None,
        }
    }
}

impl Filter {
    /// The user's stored filter (none stored: everything).
    pub async fn load<C: ConnectionTrait>(db: &C, user_id: i64) -> Result<Self, DbErr> {
        let Some(row) = gallery_filter::Entity::find_by_id(user_id).one(db).await? else {
            return Ok(Self::default());
        };
        let avatar = match (row.avatar_id, row.base_only) {
            (Some(id), _) => AvatarPick::Avatar(AvatarId(id)),
            (None, true) => AvatarPick::Base,
            (None, false) => AvatarPick::Any,
        };
        Ok(Self {
            favorites: row.favorites_only,
            avatar,
            period: Period::parse(&row.period),
            aspect: row.aspect.as_deref().and_then(AspectRatio::parse),
            style: row.style,
        })
    }

    /// Stores it; the empty filter is stored as no row.
    pub(super) async fn save<C: ConnectionTrait>(&self, db: &C, user_id: i64) -> Result<(), DbErr> {
        if *self == Self::default() {
            gallery_filter::Entity::delete_by_id(user_id)
                .exec(db)
                .await?;
            return Ok(());
        }
        let (avatar_id, base_only) = match self.avatar {
            AvatarPick::Any => (None, false),
            AvatarPick::Base => (None, true),
            AvatarPick::Avatar(id) => (Some(id), false),
        };
        let row = gallery_filter::ActiveModel {
            user_id: Set(user_id),
            favorites_only: Set(self.favorites),
            base_only: Set(base_only),
            avatar_id: Set(avatar_id.map(|id| id.0)),
            period: Set(self.period.key().to_owned()),
            aspect: Set(self.aspect.map(|a| a.label().to_owned())),
            updated_at: Set(Utc::now()),
            style: Set(self.style.clone()),
        };
        gallery_filter::Entity::insert(row)
            .on_conflict(
                OnConflict::column(gallery_filter::Column::UserId)
                    .update_columns([
                        gallery_filter::Column::FavoritesOnly,
                        gallery_filter::Column::BaseOnly,
                        gallery_filter::Column::AvatarId,
                        gallery_filter::Column::Period,
                        gallery_filter::Column::Aspect,
                        gallery_filter::Column::UpdatedAt,
                        gallery_filter::Column::Style,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        Ok(())
    }

    #[must_use]
    pub fn active(&self) -> bool {
        *self != Self::default()
    }
}

/// The user's delivered images (those with a Telegram file_id) that pass `filter`.
pub fn select(
    user_id: i64,
    filter: &Filter,
    now: When,
    zone: FixedOffset,
) -> Select<generation_image::Entity> {
    let mut generations: SelectStatement = Query::select()
        .column(generation::Column::Id)
        .from(generation::Entity)
        .and_where(generation::Column::UserId.eq(user_id))
        .and_where(generation::Column::Status.eq(GenerationStatus::Completed))
        .to_owned();
    match filter.avatar {
        AvatarPick::Any => {}
        AvatarPick::Base => {
            // Made without an avatar (not: with one deleted since).
            generations
                .and_where(generation::Column::AvatarId.is_null())
                .and_where(generation::Column::AvatarName.is_null());
        }
        AvatarPick::Avatar(id) => {
            generations.and_where(generation::Column::AvatarId.eq(id));
        }
    }
    if let Some(since) = filter.period.since(now, zone) {
        generations.and_where(generation::Column::CreatedAt.gte(since));
    }
    if let Some(aspect) = filter.aspect {
        generations.and_where(generation::Column::Aspect.eq(aspect.label()));
    }
    if let Some(style) = &filter.style {
        generations.and_where(generation::Column::Style.eq(style.as_str()));
    }
    let mut images = generation_image::Entity::find()
        .filter(generation_image::Column::GenerationId.in_subquery(generations))
        .filter(generation_image::Column::TelegramFileId.is_not_null());
    if filter.favorites {
        images = images.filter(generation_image::Column::IsFavorite.eq(true));
    }
    images
}

/// The avatar of the user's with this id, if it still exists.
async fn owned_avatar<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    id: i64,
) -> Result<Option<avatar::Model>, DbErr> {
    avatar::Entity::find_by_id(id)
        .filter(avatar::Column::UserId.eq(user_id))
        .one(db)
        .await
}

/// The filter and the avatar's name and style's label, ready for the texts.
#[derive(Debug)]
pub struct Shown {
    pub filter: Filter,
    name: Option<String>,
    style: Option<String>,
}

impl Shown {
    /// The user's stored filter; an avatar part whose avatar is gone is dropped (deleting the
    /// avatar clears it in the table too).
    pub async fn load(ctx: &Ctx<'_>) -> Result<Self, HandlerError> {
        let mut filter = Filter::load(&ctx.state.db, ctx.user.id).await?;
        let mut name = None;
        if let AvatarPick::Avatar(id) = filter.avatar {
            name = owned_avatar(&ctx.state.db, ctx.user.id, id.0)
                .await?
                .map(|a| a.name);
            if name.is_none() {
                filter.avatar = AvatarPick::Any;
            }
        }
        // A style no longer configured at all is dropped from the filter.
        let style = filter
            .style
            .as_deref()
            .and_then(|id| ctx.state.settings.style(id))
            .map(|s| s.label(crate::generation::lang_code(ctx.lang)));
        if style.is_none() {
            filter.style = None;
        }
        Ok(Self {
            filter,
            name,
            style,
        })
    }

    #[must_use]
    pub fn view(&self) -> FilterView<'_> {
        FilterView {
            favorites: self.filter.favorites,
            avatar: match (self.filter.avatar, &self.name) {
                (AvatarPick::Any, _) => AvatarShown::Any,
                (AvatarPick::Base, _) => AvatarShown::Base,
                (AvatarPick::Avatar(_), Some(name)) => AvatarShown::Named(name),
                (AvatarPick::Avatar(_), None) => AvatarShown::Any,
            },
            period: self.filter.period,
            aspect: self.filter.aspect.map(AspectRatio::label),
            style: self.style.as_deref(),
        }
    }
}

fn marked(on: bool, label: &str) -> String {
    if on {
        format!("✅ {label}")
    } else {
        label.to_owned()
    }
}

/// 🔍 The filter screen, drawn from the stored filter.
pub async fn show(ctx: &Ctx<'_>, origin: Option<&Message>) -> Result<(), HandlerError> {
    let t = ctx.t();
    let shown = Shown::load(ctx).await?;
    let filter = &shown.filter;
    let view = shown.view();
    let count = select(ctx.user.id, filter, Utc::now(), super::zone(ctx))
        .count(&ctx.state.db)
        .await?;
    let periods = Period::ALL
        .into_iter()
        .zip(0u8..)
        .map(|(p, i)| {
            button(
                &marked(p == filter.period, (t.period_name)(p)),
                Callback::Gallery(GalleryAction::FilterPeriod(i)),
            )
        })
        .collect();
    let aspects: Vec<InlineKeyboardButton> = std::iter::once(button(
        &marked(filter.aspect.is_none(), t.btn_filter_any_aspect),
        Callback::Gallery(GalleryAction::FilterAspect(0)),
    ))
    .chain(AspectRatio::ALL.into_iter().zip(1u8..).map(|(a, i)| {
        button(
            &marked(filter.aspect == Some(a), a.label()),
            Callback::Gallery(GalleryAction::FilterAspect(i)),
        )
    }))
    .collect();
    let mut rows = vec![
        vec![button(
            &format!(
                "{} {}",
                if filter.favorites { "✅" } else { "⬜" },
                t.btn_filter_favorites
            ),
            Callback::Gallery(GalleryAction::FilterFavorites),
        )],
        vec![button(
            &(t.btn_filter_avatar)(view.avatar),
            Callback::Gallery(GalleryAction::FilterAvatars),
        )],
    ];
    if !ctx.state.settings.styles.is_empty() {
        rows.push(vec![button(
            &(t.btn_filter_style)(view.style),
            Callback::Gallery(GalleryAction::FilterStyles),
        )]);
    }
    rows.push(periods);
    rows.extend(aspects.chunks(3).map(<[InlineKeyboardButton]>::to_vec));
    rows.push(vec![
        button(
            t.btn_filter_reset,
            Callback::Gallery(GalleryAction::FilterReset),
        ),
        button(
            &(t.btn_filter_show)(count),
            Callback::Gallery(GalleryAction::Card(0)),
        ),
    ]);
    let text = (t.filter_screen)(&view, count);
    Ok(ui::retext(
        ctx.bot(),
        ctx.chat,
        origin,
        &text,
        InlineKeyboardMarkup::new(rows),
    )
    .await?)
}

/// The avatars the user's gallery has images of, to filter by.
pub async fn pick_avatar(ctx: &Ctx<'_>, origin: Option<&Message>) -> Result<(), HandlerError> {
    let t = ctx.t();
    let db = &ctx.state.db;
    let filter = Filter::load(db, ctx.user.id).await?;
    let used = Query::select()
        .column(generation::Column::AvatarId)
        .from(generation::Entity)
        .and_where(generation::Column::UserId.eq(ctx.user.id))
        .and_where(generation::Column::Status.eq(GenerationStatus::Completed))
        .and_where(generation::Column::AvatarId.is_not_null())
        .to_owned();
    let mut avatars = avatar::Entity::find()
        .filter(avatar::Column::UserId.eq(ctx.user.id))
        .filter(avatar::Column::Id.in_subquery(used))
        .order_by_desc(avatar::Column::Id)
        .limit(20)
        .all(db)
        .await?;
    // The avatar the filter is set to is always listed (so it shows as chosen), even past the
    // twenty newest.
    if let AvatarPick::Avatar(id) = filter.avatar
        && !avatars.iter().any(|a| a.id == id.0)
        && let Some(active) = owned_avatar(db, ctx.user.id, id.0).await?
    {
        avatars.insert(0, active);
    }
    let mut rows = vec![vec![button(
        &marked(filter.avatar == AvatarPick::Any, t.btn_filter_any_avatar),
        Callback::Gallery(GalleryAction::FilterAvatar(AvatarPick::Any)),
    )]];
    rows.extend(avatars.iter().map(|a| {
        let pick = AvatarPick::Avatar(AvatarId(a.id));
        vec![button(
            &marked(filter.avatar == pick, &crate::i18n::clip(&a.name, 40)),
            Callback::Gallery(GalleryAction::FilterAvatar(pick)),
        )]
    }));
    rows.push(vec![button(
        &marked(filter.avatar == AvatarPick::Base, t.btn_filter_base),
        Callback::Gallery(GalleryAction::FilterAvatar(AvatarPick::Base)),
    )]);
    rows.push(vec![button(
        t.btn_back,
        Callback::Gallery(GalleryAction::Filters),
    )]);
    Ok(ui::retext(
        ctx.bot(),
        ctx.chat,
        origin,
        t.filter_pick_avatar,
        InlineKeyboardMarkup::new(rows),
    )
    .await?)
}

/// The styles to filter by: all configured ones (a switched-off style still has images).
pub async fn pick_style(ctx: &Ctx<'_>, origin: Option<&Message>) -> Result<(), HandlerError> {
    let t = ctx.t();
    let filter = Filter::load(&ctx.state.db, ctx.user.id).await?;
    let lang = crate::generation::lang_code(ctx.lang);
    let mut rows = vec![vec![button(
        &marked(filter.style.is_none(), t.btn_filter_any_style),
        Callback::Gallery(GalleryAction::FilterStyle(0)),
    )]];
    let styles: Vec<InlineKeyboardButton> = ctx
        .state
        .settings
        .styles
        .iter()
        .zip(1u8..)
        .map(|(s, i)| {
            button(
                &marked(
                    filter.style.as_deref() == Some(s.id.as_str()),
                    &s.label(lang),
                ),
                Callback::Gallery(GalleryAction::FilterStyle(i)),
            )
        })
        .collect();
    rows.extend(styles.chunks(2).map(<[InlineKeyboardButton]>::to_vec));
    rows.push(vec![button(
        t.btn_back,
        Callback::Gallery(GalleryAction::Filters),
    )]);
    Ok(ui::retext(
        ctx.bot(),
        ctx.chat,
        origin,
        t.filter_pick_style,
        InlineKeyboardMarkup::new(rows),
    )
    .await?)
}

/// A change from a filter button.
#[derive(Clone, Copy, Debug)]
pub enum Change {
    ToggleFavorites,
    Avatar(AvatarPick),
    Period(u8),
    Aspect(u8),
    Style(u8),
}

/// Applies one change and shows the filter screen again. Out-of-range indexes (old or forged
/// buttons) change nothing; another user's avatar id is refused.
pub async fn change(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    change: Change,
) -> Result<(), HandlerError> {
    let db = &ctx.state.db;
    let mut filter = Shown::load(ctx).await?.filter;
    let mut said = None;
    match change {
        Change::ToggleFavorites => filter.favorites = !filter.favorites,
        Change::Avatar(AvatarPick::Avatar(id))
            if owned_avatar(db, ctx.user.id, id.0).await?.is_none() =>
        {
            said = Some(ctx.t().filter_avatar_gone);
        }
        Change::Avatar(pick) => filter.avatar = pick,
        Change::Period(i) => {
            if let Some(p) = Period::ALL.get(usize::from(i)) {
                filter.period = *p;
            }
        }
        Change::Aspect(0) => filter.aspect = None,
        Change::Aspect(i) => {
            if let Some(a) = AspectRatio::ALL.get(usize::from(i) - 1) {
                filter.aspect = Some(*a);
            }
        }
        Change::Style(0) => filter.style = None,
        Change::Style(i) => {
            if let Some(s) = ctx.state.settings.styles.get(usize::from(i) - 1) {
                filter.style = Some(s.id.clone());
            }
        }
    }
    filter.save(db, ctx.user.id).await?;
    ui::answer(ctx.bot(), query, said, false).await;
    show(ctx, origin).await
}

/// ♻️ Drops the filter and shows the whole gallery.
pub async fn reset(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
) -> Result<(), HandlerError> {
    Filter::default().save(&ctx.state.db, ctx.user.id).await?;
    ui::answer(ctx.bot(), query, Some(ctx.t().filter_reset_done), false).await;
    super::show(ctx, origin, 0).await
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn periods_start_where_users_expect() {
        let moscow = FixedOffset::east_opt(3 * 3600).unwrap();
        // 22:30 UTC on the 24th is 01:30 on the 25th in Moscow: "today" began at 21:00 UTC.
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 22, 30, 0).unwrap();
        assert_eq!(
            Period::Today.since(now, moscow),
            Some(Utc.with_ymd_and_hms(2026, 11, 24, 21, 0, 0).unwrap())
        );
        assert_eq!(
            Period::Week.since(now, moscow),
            Some(Utc.with_ymd_and_hms(2026, 11, 17, 22, 30, 0).unwrap())
        );
        assert_eq!(
            Period::Month.since(now, moscow),
            Some(Utc.with_ymd_and_hms(2026, 10, 25, 22, 30, 0).unwrap())
        );
        assert_eq!(Period::All.since(now, moscow), None);
        for p in Period::ALL {
            assert_eq!(Period::parse(p.key()), p);
        }
        assert_eq!(Period::parse("forever"), Period::All);
    }
}
