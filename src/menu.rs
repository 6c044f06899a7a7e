//! The main menu, /start and help.

use crate::domain::Coins;
use teloxide::types::{CallbackQuery, Message};

use crate::{
    dialogue,
    ledger::{self, Kind},
    telegram::{callback::MenuAction, ctx::Ctx, error::HandlerError, keyboards, ui},
};

/// `/start`: the user is registered by now; credit the welcome bonus (once: its key is the
/// user's id) and greet them with the main menu.
pub async fn start(ctx: &Ctx<'_>) -> Result<(), HandlerError> {
    let bonus = ctx.state.settings.prices.welcome_bonus;
    let mut credited = 0;
    if bonus > 0 {
        let credit = ledger::credit(
            &ctx.state.db,
            ctx.user_id(),
            Coins(bonus),
            Kind::Welcome,
            None,
            &format!("welcome:{}", ctx.user.id),
        )
        .await?;
        if credit.fresh {
            credited = bonus;
        }
    }
    let text = (ctx.t().welcome)(&ctx.user.first_name, credited);
    ui::send(ctx.bot(), ctx.chat, &text, keyboards::main_menu(ctx.t())).await?;
    Ok(())
}

/// The main menu, in place of `origin` when there is one.
pub async fn show(ctx: &Ctx<'_>, origin: Option<&Message>) -> Result<(), HandlerError> {
    let t = ctx.t();
    ui::show(
        ctx.bot(),
        ctx.chat,
        origin,
        t.main_menu,
        keyboards::main_menu(t),
    )
    .await?;
    Ok(())
}

/// What the bot does and its commands.
pub async fn help(ctx: &Ctx<'_>, origin: Option<&Message>) -> Result<(), HandlerError> {
    let t = ctx.t();
    ui::show(
        ctx.bot(),
        ctx.chat,
        origin,
        t.help,
        keyboards::back_to_menu(t),
    )
    .await?;
    Ok(())
}

/// A message the bot has no use for: a hint and the way back to the menu.
pub async fn unknown_text(ctx: &Ctx<'_>) -> Result<(), HandlerError> {
    let t = ctx.t();
    ui::send(
        ctx.bot(),
        ctx.chat,
        t.unknown_text,
        keyboards::back_to_menu(t),
    )
    .await?;
    Ok(())
}

/// The menu's buttons (see `MenuAction`).
pub async fn on_callback(
    ctx: &Ctx<'_>,
    query: &CallbackQuery,
    origin: Option<&Message>,
    action: MenuAction,
) -> Result<(), HandlerError> {
    ui::answer(ctx.bot(), query, None, false).await;
    match action {
        MenuAction::Main => {
            // Leaving for the menu abandons any input the bot was waiting for.
            dialogue::clear(&ctx.state.db, ctx.telegram_id()).await?;
            show(ctx, origin).await
        }
        MenuAction::Help => help(ctx, origin).await,
    }
}
