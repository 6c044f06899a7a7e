//! Russian texts (the default language).

use super::{AvatarShown, Texts, clip, escape, ru_plural};
use crate::{gallery::Period, generation::FailReason, ledger::Kind};

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
        ("generate", "Создать изображение"),
        ("gallery", "Моя галерея"),
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

    gen_intro: |avatar| {
        format!(
            "🎨 <b>Новое изображение</b>\n\n🎭 Аватар: <b>{}</b>\n\n✏️ Опишите одним сообщением, \
             что изобразить (5–500 символов). Например: <i>в костюме астронавта на фоне Луны</i>",
            escape(avatar)
        )
    },
    gen_intro_no_avatar: "🎨 <b>Новое изображение</b>\n\nУ вас пока нет готового аватара, поэтому \
        картинку нарисует базовая модель — без вашего лица. Чтобы появляться на изображениях самим, \
        создайте аватар в разделе «🎭 Мои аватары».\n\n✏️ Опишите одним сообщением, что изобразить \
        (5–500 символов). Например: <i>уютный домик в горах на закате</i>",
    gen_intro_base: "🎨 <b>Новое изображение</b>\n\n🎭 Без аватара: картинку нарисует базовая модель.\n\n\
        ✏️ Опишите одним сообщением, что изобразить (5–500 символов).",
    btn_other_avatar: "🎭 Выбрать аватар",
    gen_pick_avatar: "🎭 <b>С каким аватаром рисовать?</b>",
    btn_no_avatar: "🚫 Без аватара",
    gen_prompt_length: |len| {
        format!(
            "✏️ Описание должно быть от 5 до 500 символов, а в вашем {len}. Отправьте его ещё раз."
        )
    },
    gen_choose_aspect: |prompt, avatar| {
        format!(
            "📝 <b>Промпт:</b> {}\n🎭 {}\n\n📐 Выберите формат:",
            escape(&clip(prompt, 300)),
            avatar.map_or_else(|| "Без аватара".to_owned(), escape)
        )
    },
    gen_choose_count: |prompt, avatar, aspect, price, balance| {
        format!(
            "📝 <b>Промпт:</b> {}\n🎭 {}\n📐 Формат: {aspect}\n\n🖼️ Сколько изображений? \
             Одно стоит {}, на балансе {}.",
            escape(&clip(prompt, 300)),
            avatar.map_or_else(|| "Без аватара".to_owned(), escape),
            (RU.coins)(price),
            (RU.coins)(balance)
        )
    },
    btn_count: |n, cost| format!("{n} — {}", (RU.coins)(cost)),
    btn_back: "⬅️ Назад",
    gen_expired: "Эта генерация уже запущена или устарела. Начните новую: 🎨",
    gen_started: |p| {
        let (n, aspect) = (p.images, p.aspect);
        let title = if p.again {
            "🔄 <b>Повторная генерация запущена</b>"
        } else {
            "🔄 <b>Генерация запущена</b>"
        };
        let wait = p.typical.map_or_else(
            || "Обычно это занимает до пары минут.".to_owned(),
            |s| format!("Обычно это занимает около {}.", ru_duration(s)),
        );
        format!(
            "{title}\n\n📝 {}\n🎭 {}\n📐 {aspect} · {n} {}\n\n⏱ {wait} Результат придёт в этот чат сам.",
            escape(&clip(p.prompt, 300)),
            p.avatar.map_or_else(|| "Без аватара".to_owned(), escape),
            ru_plural(i64::from(n), "изображение", "изображения", "изображений")
        )
    },
    btn_status: "📊 Статус",
    gen_caption: |prompt, avatar, aspect, w, h| {
        format!(
            "✨ <b>Готово!</b>\n\n📝 {}\n🎭 {}\n📐 {aspect} · {w}×{h}",
            escape(&clip(prompt, 300)),
            avatar.map_or_else(|| "Без аватара".to_owned(), |a| escape(&clip(a, 50)))
        )
    },
    gen_album_done: |n| {
        format!(
            "✨ Готово: {n} {}. Что дальше?",
            ru_plural(n as i64, "изображение", "изображения", "изображений")
        )
    },
    btn_repeat: "🔄 Повторить еще раз",
    btn_to_gallery: "🖼️ В галерею",
    btn_new_generation: "🎨 Новая генерация",
    gen_failed: |reason, coins| {
        format!(
            "❌ <b>Генерация не удалась</b>\n\nПричина: {}\n💰 {} возвращены на баланс.",
            escape(&clip(reason, 200)),
            (RU.coins)(coins)
        )
    },
    fail_reason: |reason| match reason {
        FailReason::Provider(detail) => {
            format!("сервис изображений вернул ошибку ({})", clip(detail, 120))
        }
        FailReason::Submit => "сервис изображений сейчас недоступен".to_owned(),
        FailReason::Timeout => "сервис изображений не ответил вовремя".to_owned(),
        FailReason::Image => "не удалось получить готовое изображение".to_owned(),
    },
    btn_retry: "🔄 Повторить",
    status_pending: |elapsed, typical| {
        let typical = typical.map_or_else(String::new, |s| {
            format!("\nОбычно: около {}", ru_duration(s))
        });
        format!(
            "⏳ Генерация идёт\nПрошло: {}{typical}",
            ru_duration(elapsed)
        )
    },
    status_failed: |reason, coins| {
        format!(
            "❌ Генерация не удалась: {}\n💰 {} возвращены.",
            clip(reason, 100),
            (RU.coins)(coins)
        )
    },
    status_delivering: "✅ Готово! Изображение уже отправляется в чат.",
    status_not_found: "❌ Генерация не найдена.",
    avatar_unavailable: "🎭 Аватар этой генерации удалён или ещё не готов. Выберите другой: 🎨",
    regen_busy: "⏳ Уже запускаю — результат придёт в чат.",
    gallery_empty: "🖼️ <b>Галерея пуста</b>\n\nЗдесь будут все ваши изображения. Создайте первое: 🎨",
    gallery_caption: |c| {
        format!(
            "🖼️ <b>Изображение {} из {}</b>{}\n\n📝 {}\n🎭 {}\n📐 {} · {}×{}\n📅 {}{}",
            c.position,
            c.count,
            if c.favorite { " ❤️" } else { "" },
            escape(&clip(c.prompt, 300)),
            c.avatar
                .map_or_else(|| "Без аватара".to_owned(), |a| escape(&clip(a, 50))),
            c.aspect,
            c.width,
            c.height,
            c.date,
            c.filter.map_or_else(String::new, |f| format!("\n🔍 {f}"))
        )
    },
    btn_gallery_repeat: "🔄 Повторить",
    btn_prompt: "📋 Промпт",
    btn_delete: "🗑️ Удалить",
    btn_confirm_delete: "✅ Да, удалить",
    gallery_prompt: |prompt| format!("📋 <b>Промпт</b>\n\n<code>{}</code>", escape(prompt)),
    gallery_delete_confirm: "🗑️ <b>Удалить это изображение?</b>\n\nЕго нельзя будет вернуть.",
    gallery_deleted: "🗑️ Изображение удалено",
    favorite_added: "❤️ В избранном",
    favorite_removed: "🤍 Убрано из избранного",
    image_not_found: "❌ Изображение не найдено.",
    btn_stats: "📊 Статистика",
    gallery_stats: |s| {
        let period = match (&s.first, &s.last) {
            (Some(first), Some(last)) => format!("\n📅 Первая: {first}, последняя: {last}"),
            _ => String::new(),
        };
        format!(
            "📊 <b>Статистика</b>\n\n🖼️ Изображений: {}\n❤️ В избранном: {}\n\
             🎨 Генераций: {} готово, {} в работе, {} не удалось\n💰 Потрачено: {}\n\
             🎭 Аватаров использовано: {}{period}",
            s.images,
            s.favorites,
            s.completed,
            s.pending,
            s.failed,
            (RU.coins)(s.coins_spent),
            s.avatars_used
        )
    },
    btn_filters: "🔍 Фильтры",
    btn_filter_reset: "♻️ Сбросить",
    btn_filter_show: |n| format!("👀 Показать ({n})"),
    btn_filter_favorites: "❤️ Только избранное",
    btn_filter_avatar: |a| match a {
        AvatarShown::Any => "🎭 Аватар: все".to_owned(),
        AvatarShown::Base => "🎭 Аватар: без аватара".to_owned(),
        AvatarShown::Named(name) => format!("🎭 Аватар: {}", clip(name, 30)),
    },
    btn_filter_any_avatar: "🎭 Все аватары",
    btn_filter_base: "🚫 Без аватара",
    btn_filter_any_aspect: "📐 Любой",
    period_name: |p| match p {
        Period::All => "Всё время",
        Period::Today => "Сегодня",
        Period::Week => "Неделя",
        Period::Month => "Месяц",
    },
    filter_screen: |f, n| {
        format!(
            "🔍 <b>Фильтры галереи</b>\n\nСейчас: {}\n🖼️ Подходит изображений: {n}\n\n\
             Выберите, что показывать, и нажмите «Показать».",
            (RU.filter_summary)(f)
        )
    },
    filter_pick_avatar: "🎭 <b>Изображения какого аватара показать?</b>",
    filter_summary: |f| {
        if !f.active() {
            return "все изображения".to_owned();
        }
        let mut parts = Vec::new();
        if f.favorites {
            parts.push("❤️ избранное".to_owned());
        }
        match f.avatar {
            AvatarShown::Any => {}
            AvatarShown::Base => parts.push("🎭 без аватара".to_owned()),
            AvatarShown::Named(name) => parts.push(format!("🎭 {}", escape(&clip(name, 30)))),
        }
        match f.period {
            Period::All => {}
            Period::Today => parts.push("📅 сегодня".to_owned()),
            Period::Week => parts.push("📅 за неделю".to_owned()),
            Period::Month => parts.push("📅 за месяц".to_owned()),
        }
        if let Some(aspect) = f.aspect {
            parts.push(format!("📐 {aspect}"));
        }
        parts.join(" · ")
    },
    gallery_filter_empty: |summary| {
        format!(
            "🔍 <b>Ничего не найдено</b>\n\nФильтр: {summary}\n\nИзмените фильтр или сбросьте его."
        )
    },
    filter_reset_done: "♻️ Фильтр сброшен",
    filter_avatar_gone: "❌ Аватар не найден.",
};

/// "40 с", "2 мин", "1 мин 30 с".
fn ru_duration(secs: u64) -> String {
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s} с"),
        (m, 0) => format!("{m} мин"),
        (m, s) => format!("{m} мин {s} с"),
    }
}
