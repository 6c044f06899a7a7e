//! Russian texts (the default language).

use super::{Texts, escape, ru_plural};
use crate::ledger::Kind;

pub static RU: Texts = Texts {
    welcome: |name| {
        format!(
            "👋 Привет, <b>{}</b>!\n\nЯ Aisha: по вашим фото я обучу персональный AI-аватар и \
             нарисую с ним любые сцены по описанию.\n\n🏠 <b>Главное меню</b>\n\nВыберите действие:",
            escape(name)
        )
    },
    main_menu: "🏠 <b>Главное меню</b>\n\nВыберите действие:",
    help: "❓ <b>Помощь</b>\n\n\
           Aisha обучает персональный AI-аватар по вашим фотографиям и рисует с ним изображения \
           по текстовому описанию.\n\n\
           🎭 <b>Аватар</b> — загрузите 10–20 своих фото, и Aisha обучит модель, похожую на вас.\n\
           🎨 <b>Изображение</b> — опишите сцену и выберите формат: готовая картинка придёт в чат.\n\
           🖼️ <b>Галерея</b> — все ваши изображения; 🔄 повторит любое одним нажатием.\n\
           💰 <b>Баланс</b> — работа оплачивается монетами, пополнение через Telegram Stars.\n\n\
           <b>Команды</b>\n/start — главное меню\n/help — эта справка",
    unknown_callback: "❌ Неизвестная команда. Используйте кнопки меню.",
    unknown_text: "🤔 Я понимаю кнопки и команды. Откройте главное меню 👇",
    coming_soon: "🚧 Скоро! Этот раздел ещё в разработке.",
    btn_create_image: "🎨 Создать изображение",
    btn_avatars: "🎭 Мои аватары",
    btn_gallery: "🖼️ Моя галерея",
    btn_balance: "💰 Баланс",
    btn_help: "❓ Помощь",
    btn_main_menu: "🔙 Главное меню",
    commands: &[
        ("start", "Главное меню"),
        ("balance", "Баланс и пополнение"),
        ("help", "Что умеет Aisha"),
    ],

    coins: |n| format!("{n} {}", ru_plural(n, "монета", "монеты", "монет")),
    balance: |coins, image, avatar| {
        format!(
            "💰 <b>Баланс: {}</b>\n\nЦены:\n🎨 изображение — {}\n🎭 обучение аватара — {}",
            (RU.coins)(coins),
            (RU.coins)(image),
            (RU.coins)(avatar)
        )
    },
    history_title: "<b>Последние операции</b>",
    history_empty: "Операций пока не было.",
    ledger_kind: |kind| match kind {
        Kind::Welcome => "приветственный бонус",
        Kind::Generation => "генерация",
        Kind::AvatarTraining => "обучение аватара",
        Kind::Refund => "возврат",
        Kind::TopUp => "пополнение ⭐",
        Kind::StarsRefund => "возврат Stars",
        Kind::Promo => "промокод",
        Kind::Grant => "начисление",
    },
    months: [
        "янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек",
    ],
    history_entry: |amount, kind, day, month, hour, minute| {
        format!("{amount} {kind} · {day} {month} {hour:02}:{minute:02}")
    },
    insufficient: |need, have| format!("❌ Недостаточно средств. Требуется: {need}, у вас: {have}"),
    btn_top_up: "⭐ Пополнить",
    btn_promo: "🎁 Промокод",
    btn_cancel: "✖️ Отмена",

    top_up: "⭐ <b>Пополнение через Telegram Stars</b>\n\nВыберите пакет:",
    package: |stars, coins| format!("{stars} ⭐ → {}", (RU.coins)(coins)),
    invoice_title: |coins| format!("{} для Aisha", (RU.coins)(coins)),
    invoice_description: |stars, coins| {
        format!(
            "Пополнение баланса Aisha: {} за {stars} ⭐. Монеты придут сразу после оплаты.",
            (RU.coins)(coins)
        )
    },
    invoice_invalid: "Этот счёт больше не действителен. Откройте «⭐ Пополнить» заново.",
    payment_received: |coins, balance| {
        format!(
            "✅ Оплата прошла: +{}\n💰 Баланс: {}",
            (RU.coins)(coins),
            (RU.coins)(balance)
        )
    },

    payment_unmatched: "⚠️ Оплата получена, но не совпала ни с одним счётом: монеты не начислены. Мы вернём ваши Stars — напишите в поддержку, если этого не произошло.",

    promo_prompt: "🎁 Введите промокод одним сообщением:",
    promo_redeemed: |coins, balance| {
        format!(
            "🎁 Промокод активирован: +{}\n💰 Баланс: {}",
            (RU.coins)(coins),
            (RU.coins)(balance)
        )
    },
    promo_unknown: "❌ Такого промокода нет. Проверьте написание и отправьте ещё раз или нажмите «Отмена».",
    promo_expired: "⌛ Срок действия этого промокода истёк.",
    promo_exhausted: "😔 Этот промокод уже использовали максимальное число раз.",
    promo_already_used: "ℹ️ Вы уже активировали этот промокод.",
    promo_too_many: "🚫 Слишком много неверных кодов. Попробуйте снова через час.",
    input_cancelled: "Ввод отменён.",
};
