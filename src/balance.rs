//! The 💰 balance screen (menu button and /balance) and the "not enough coins" reply every paid
//! action uses.

use chrono::{Datelike, FixedOffset, Offset, Timelike, Utc};
use entity::ledger as entry;
use teloxide::types::{CallbackQuery, InlineKeyboardMarkup, Message};

use crate::{
    dialogue,
    i18n::Texts,
    ledger::{self, Kind},
    telegram::{callback::BalanceAction, ctx::Ctx, error::HandlerError, keyboards, ui},
};

/// How many ledger entries the screen lists.
const HISTORY: u64 = 10;

/// Coins, prices, the last entries in plain words, and ⭐ / 🎁 / 🔙.
pub async fn show(ctx: &Ctx<'_>, origin: Option<&Message>) -> Result<(), HandlerError> {
    let db = &ctx.state.db;
    let coins = ledger::balance(db, ctx.user_id()).await?;
    let history = ledger::history(db, ctx.user_id(), HISTORY).await?;
    let t = ctx.t();
    let prices = &ctx.state.settings.prices;
    let offset = ctx.state.settings.ui.utc_offset_minutes;
    let mut text = (t.balance)(coins, prices.generation_per_image, prices.avatar_training);
    text.push_str("\n\n");
    text.push_str(t.history_title);
    if history.is_empty() {
        text.push('\n');
        text.push_str(t.history_empty);
    }
    for e in &history {
        text.push('\n');
        text.push_str(&history_line(t, e, offset));
    }
    ui::show(ctx.bot(), ctx.chat, origin, &text, keyboards::balance(t)).await?;
    Ok(())
}

/// "−5 генерация · 12 ноя 14:03".
#[must_use]
pub fn history_line(t: &Texts, e: &entry::Model, utc_offset_minutes: i32) -> String {
    let sign = if e.amount < 0 { '−' } else { '+' };
    let kind = Kind::parse(&e.kind).map_or(e.kind.as_str(), t.ledger_kind);
    // The offset is validated at start-up; UTC is the fallback for an impossible one.
    let zone = FixedOffset::east_opt(utc_offset_minutes * 60).unwrap_or(Utc.fix());
    let at = e.created_at.with_timezone(&zone);
    let month = t.months.get(at.month0() as usize).copied().unwrap_or("");
    let amount = format!("{sign}{}", e.amount.unsigned_abs());
    (t.history_entry)(&amount, kind, at.day(), month, at.hour(), at.minute())
}

/// "❌ Недостаточно средств. Требуется: X, у вас: Y" with a ⭐ top-up button.
#[must_use]
pub fn insufficient(t: &Texts, need: i64, have: i64) -> (String, InlineKeyboardMarkup) {
    ((t.insufficient)(need, have), keyboards::insufficient(t))
}

/// The balance screen's buttons (see `BalanceAction`).
pub async fn on_callback(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    action: BalanceAction,
) -> Result<(), HandlerError> {
    match action {
        BalanceAction::Show => ui::answer(ctx.bot(), query, None, false).await,
        BalanceAction::CancelInput => {
            ui::answer(ctx.bot(), query, Some(ctx.t().input_cancelled), false).await;
            dialogue::clear(&ctx.state.db, ctx.telegram_id()).await?;
        }
    }
    show(ctx, origin).await
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::{
        i18n::{EN, RU},
        telegram::callback::{Callback, PaymentsAction},
    };

    fn entry(amount: i64, kind: &str) -> entry::Model {
        entry::Model {
            id: 1,
            user_id: 1,
            amount,
            kind: kind.into(),
            reference: None,
            idempotency_key: "k".into(),
            balance_after: 0,
            created_at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 12, 11, 3, 0)
                .unwrap(),
        }
    }

    #[test]
    fn history_reads_as_plain_words() {
        assert_eq!(
            history_line(&RU, &entry(-5, "generation"), 180),
            "−5 генерация · 12 ноя 14:03"
        );
        assert_eq!(
            history_line(&EN, &entry(100, "topup"), 0),
            "+100 top-up ⭐ · 12 Nov 11:03"
        );
    }

    #[test]
    fn insufficient_offers_a_top_up() {
        let (text, keyboard) = insufficient(&RU, 5, 2);
        assert_eq!(text, "❌ Недостаточно средств. Требуется: 5, у вас: 2");
        let first = &keyboard.inline_keyboard[0][0];
        assert_eq!(
            first.kind,
            teloxide::types::InlineKeyboardButtonKind::CallbackData(
                Callback::Payments(PaymentsAction::Packages).encode()
            )
        );
    }
}
