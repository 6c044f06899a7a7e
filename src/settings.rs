//! ⚙️ Settings (menu button and /settings): the language the bot speaks (over Telegram's), the
//! format and number of images a generation starts from, and quick mode. Stored on the user's
//! row, applied from the next screen on: the screen itself redraws with the new values (and in
//! the new language).

use entity::user;
use teloxide::types::{CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message};

use crate::{
    domain::MAX_IMAGES,
    i18n::Texts,
    provider::AspectRatio,
    telegram::{
        callback::{Callback, LanguageChoice, MenuAction, SettingsAction},
        ctx::Ctx,
        error::HandlerError,
        keyboards::button,
        ui,
    },
    users::{self, Setting, default_aspect, default_count, lang_of},
};

fn language_label(t: &Texts, user: &user::Model) -> String {
    match LanguageChoice::of(user.language.as_deref()) {
        LanguageChoice::Telegram => t.lang_telegram.to_owned(),
        LanguageChoice::Ru => "Русский".to_owned(),
        LanguageChoice::En => "English".to_owned(),
    }
}

fn format_label(t: &Texts, user: &user::Model) -> String {
    default_aspect(user).map_or_else(
        || t.ask_every_time.to_owned(),
        |(_, a)| a.label().to_owned(),
    )
}

fn count_label(t: &Texts, user: &user::Model) -> String {
    default_count(user).map_or_else(|| t.ask_every_time.to_owned(), t.images)
}

fn action(a: SettingsAction) -> Callback {
    Callback::Settings(a)
}

/// The settings screen for `user` in `t`'s language, each button showing its current value.
fn screen(t: &Texts, user: &user::Model) -> (String, InlineKeyboardMarkup) {
    let (lang, format, count) = (
        language_label(t, user),
        format_label(t, user),
        count_label(t, user),
    );
    let text = (t.settings)(&lang, &format, &count, user.quick_mode);
    let kb = InlineKeyboardMarkup::new([
        vec![button(
            &(t.btn_set_language)(&lang),
            action(SettingsAction::Languages),
        )],
        vec![button(
            &(t.btn_set_format)(&format),
            action(SettingsAction::Formats),
        )],
        vec![button(
            &(t.btn_set_count)(&count),
            action(SettingsAction::Counts),
        )],
        vec![button(
            &(t.btn_set_quick)(user.quick_mode),
            action(SettingsAction::Quick),
        )],
        vec![button(t.btn_main_menu, Callback::Menu(MenuAction::Main))],
    ]);
    (text, kb)
}

/// ✓ before the current choice.
fn marked(label: &str, current: bool) -> String {
    if current {
        format!("✓ {label}")
    } else {
        label.to_owned()
    }
}

fn back(t: &Texts) -> Vec<InlineKeyboardButton> {
    vec![button(t.btn_back, action(SettingsAction::Open))]
}

/// ⚙️ as the user's row has it now.
pub async fn show(ctx: &Ctx<'_>, origin: Option<&Message>) -> Result<(), HandlerError> {
    let (text, kb) = screen(ctx.t(), &ctx.user);
    ui::show(ctx.bot(), ctx.chat, origin, &text, kb).await?;
    Ok(())
}

pub async fn on_callback(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    action: SettingsAction,
) -> Result<(), HandlerError> {
    ui::answer(ctx.bot(), query, None, false).await;
    let t = ctx.t();
    let user = &ctx.user;
    let setting = match action {
        SettingsAction::Open => return show(ctx, origin).await,
        SettingsAction::Languages => {
            let current = LanguageChoice::of(user.language.as_deref());
            let label = |c: LanguageChoice| match c {
                LanguageChoice::Telegram => t.lang_telegram,
                LanguageChoice::Ru => "🇷🇺 Русский",
                LanguageChoice::En => "🇬🇧 English",
            };
            let rows = LanguageChoice::ALL.iter().map(|c| {
                vec![button(
                    &marked(label(*c), *c == current),
                    self::action(SettingsAction::Language(*c)),
                )]
            });
            let kb = InlineKeyboardMarkup::new(rows.chain([back(t)]));
            ui::show(ctx.bot(), ctx.chat, origin, t.settings_languages, kb).await?;
            return Ok(());
        }
        SettingsAction::Formats => {
            let current = default_aspect(user).map(|(i, _)| i);
            let formats: Vec<InlineKeyboardButton> = AspectRatio::ALL
                .iter()
                .enumerate()
                .filter_map(|(i, a)| {
                    let i = u8::try_from(i).ok()?;
                    Some(button(
                        &marked(a.label(), current == Some(i)),
                        self::action(SettingsAction::Format(Some(i))),
                    ))
                })
                .collect();
            let ask = button(
                &marked(t.ask_every_time, current.is_none()),
                self::action(SettingsAction::Format(None)),
            );
            let kb = InlineKeyboardMarkup::new([
                formats[..3].to_vec(),
                formats[3..].to_vec(),
                vec![ask],
                back(t),
            ]);
            ui::show(ctx.bot(), ctx.chat, origin, t.settings_formats, kb).await?;
            return Ok(());
        }
        SettingsAction::Counts => {
            let current = default_count(user);
            let counts: Vec<InlineKeyboardButton> = (1..=MAX_IMAGES)
                .map(|n| {
                    button(
                        &marked(&n.to_string(), current == Some(n)),
                        self::action(SettingsAction::Count(Some(n))),
                    )
                })
                .collect();
            let ask = button(
                &marked(t.ask_every_time, current.is_none()),
                self::action(SettingsAction::Count(None)),
            );
            let kb = InlineKeyboardMarkup::new([counts, vec![ask], back(t)]);
            ui::show(ctx.bot(), ctx.chat, origin, t.settings_counts, kb).await?;
            return Ok(());
        }
        SettingsAction::Language(choice) => Setting::Language(choice.code()),
        SettingsAction::Format(index) => {
            match index {
                Some(i) if usize::from(i) >= AspectRatio::ALL.len() => return Ok(()),
                _ => {}
            }
            Setting::DefaultAspect(index.map(i16::from))
        }
        SettingsAction::Count(n) => {
            if n.is_some_and(|n| !(1..=MAX_IMAGES).contains(&n)) {
                return Ok(());
            }
            Setting::DefaultCount(n.map(i16::from))
        }
        SettingsAction::Quick => Setting::QuickMode(!user.quick_mode),
    };
    let Some(user) = users::set(&ctx.state.db, user.id, setting).await? else {
        return Ok(());
    };
    // Redrawn from the row as stored, in the language it now asks for.
    let (text, kb) = screen(lang_of(&user).texts(), &user);
    ui::show(ctx.bot(), ctx.chat, origin, &text, kb).await?;
    Ok(())
}
