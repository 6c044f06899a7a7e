//! Russian texts (the default language).

use super::{AvatarShown, NAME_CHARS, Texts, clip, escape, ru_plural};
use crate::domain::{FailReason, LedgerKind as Kind, Period, PhotoRefusal as Refusal};

pub static RU: Texts = Texts {
    welcome: |name, bonus| {
        let gift = if bonus > 0 {
            format!(
                "🎁 На ваш счёт зачислено <b>{bonus} {}</b>: хватит, чтобы обучить аватар и \
                 попробовать несколько картинок.\n\n",
                ru_plural(bonus, "монета", "монеты", "монет")
            )
        } else {
            String::new()
        };
        format!(
            "👋 Привет, <b>{}</b>!\n\nЯ Aisha: по вашим фото я обучу персональный AI-аватар и \
             нарисую с ним любые сцены по описанию.\n\n{gift}🏠 <b>Главное меню</b>\n\nВыберите действие:",
            escape(&clip(name, NAME_CHARS))
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
    action_failed: "⚠️ Не получилось выполнить это действие, ничего не изменено. Попробуйте ещё раз или откройте /start.",
    coming_soon: "🚧 Скоро! Этот раздел ещё в разработке.",
    btn_create_image: "🎨 Создать изображение",
    btn_avatars: "🎭 Мои аватары",
    btn_gallery: "🖼️ Моя галерея",
    btn_balance: "💰 Баланс",
    btn_help: "❓ Помощь",
    btn_settings: "⚙️ Настройки",
    settings: |lang, format, count, quick| {
        format!(
            "⚙️ <b>Настройки</b>\n\n🌐 Язык: {lang}\n📐 Формат: {format}\n🖼️ Изображений: {count}\n\
             ⚡ Быстрый режим: {}\n\nВ быстром режиме генерация начинается сразу после описания — \
             с вашим форматом, числом изображений и основным аватаром.",
            if quick { "вкл" } else { "выкл" }
        )
    },
    btn_set_language: |v| format!("🌐 Язык: {v}"),
    btn_set_format: |v| format!("📐 Формат: {v}"),
    btn_set_count: |v| format!("🖼️ Изображений: {v}"),
    btn_set_quick: |on| format!("⚡ Быстрый режим: {}", if on { "вкл" } else { "выкл" }),
    settings_languages: "🌐 <b>Язык</b>\n\nНа каком языке мне говорить?",
    settings_formats: "📐 <b>Формат</b>\n\nС какого формата начинать новые изображения?",
    settings_counts: "🖼️ <b>Изображений</b>\n\nСколько изображений делать за одну генерацию?",
    lang_telegram: "как в Telegram",
    ask_every_time: "спрашивать каждый раз",
    images: |n| {
        format!(
            "{n} {}",
            ru_plural(i64::from(n), "изображение", "изображения", "изображений")
        )
    },
    btn_main_menu: "🔙 Главное меню",
    commands: &[
        ("start", "Главное меню"),
        ("generate", "Создать изображение"),
        ("gallery", "Моя галерея"),
        ("balance", "Баланс и пополнение"),
        ("settings", "Язык, формат, быстрый режим"),
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
    gen_quick_note: "⚡ Быстрый режим: формат и число изображений из ⚙️ Настроек.",
    btn_style: |name| format!("🎨 Стиль: {name}"),
    style_none: "без стиля",
    gen_choose_style: |prompt| {
        format!(
            "🎨 <b>Стиль</b>\n\n📝 {}\n\nСтиль дополнит ваше описание для модели: свет, объектив, \
             настроение. Выберите стиль или оставьте описание как есть.",
            escape(&clip(prompt, 300))
        )
    },
    gen_intro_photo: "\n\n📷 Или пришлите фото — я составлю описание по нему.",
    btn_photo_prompt: "📷 Описание по фото",
    photo_prompt_hint: "📷 Пришлите фото: я опишу его как промпт, а вы подтвердите или напишете свой.",
    photo_prompt_ready: |prompt| {
        format!(
            "📷 <b>Описание по фото:</b>\n\n<code>{}</code>\n\nИспользовать его? Или отправьте своё \
             описание текстом (это можно скопировать и поправить).",
            escape(prompt)
        )
    },
    btn_use_prompt: "✅ Использовать",
    btn_improve: "✨ Улучшить",
    gen_improved: |mine, improved| {
        format!(
            "✨ <b>Улучшенный промпт</b>\n\n{}\n\n📝 <b>Ваш:</b> {}\n\nМодель получит тот, что вы выберете.",
            escape(&clip(improved, 1000)),
            escape(&clip(mine, 300))
        )
    },
    btn_use_improved: "✅ Взять улучшенный",
    btn_keep_mine: "✍️ Оставить мой",
    gen_improved_in_use: |improved| {
        format!(
            "✨ <b>Улучшенный промпт:</b> <i>{}</i>",
            escape(&clip(improved, 300))
        )
    },
    llm_translate_failed: "⚠️ Не удалось перевести описание для модели — рисую по вашему тексту как есть.",
    llm_improve_failed: "⚠️ Не удалось улучшить описание сейчас. Ваше остаётся как есть.",
    llm_describe_failed: "⚠️ Не удалось описать фото. Напишите, что изобразить, текстом.",
    llm_cap_reached: "⚠️ Помощь с описаниями на сегодня исчерпана (завтра снова будет) — рисую по вашему тексту как есть.",
    llm_cap_improve: "⚠️ Помощь с описаниями на сегодня исчерпана (завтра снова будет). Ваше описание остаётся как есть.",
    llm_cap_photo: "⚠️ Помощь с описаниями на сегодня исчерпана (завтра снова будет). Напишите, что изобразить, текстом.",
    gen_busy: |max| {
        format!(
            "⏳ В работе уже {max} {}: больше одновременно нельзя. Дождитесь результата — и запускайте следующую. Монеты не списаны.",
            super::ru_plural(i64::from(max), "генерация", "генерации", "генераций")
        )
    },
    training_busy: |max| {
        match max {
        1 => "⏳ Один аватар уже обучается. Дождитесь, пока он будет готов, — и запускайте следующий. Монеты не списаны.".to_owned(),
        n => format!("⏳ Уже обучается аватаров: {n}, это предел. Дождитесь готовности одного из них. Монеты не списаны."),
    }
    },
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
    gen_caption: |c| {
        format!(
            "✨ <b>Готово!</b>\n\n📝 {}\n🎭 {}\n📐 {} · {}×{}{}",
            escape(&clip(c.prompt, 300)),
            c.avatar
                .map_or_else(|| "Без аватара".to_owned(), |a| escape(&clip(a, 50))),
            c.aspect,
            c.width,
            c.height,
            super::style_line(c.style),
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
    regen_started: "🔄 Повторная генерация запущена",
    gallery_empty: "🖼️ <b>Галерея пуста</b>\n\nЗдесь будут все ваши изображения. Создайте первое: 🎨",
    gallery_caption: |c| {
        format!(
            "🖼️ <b>Изображение {} из {}</b>{}\n\n📝 {}\n🎭 {}\n📐 {} · {}×{}\n📅 {}{}{}",
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
            super::style_line(c.style),
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
    btn_filter_style: |s| match s {
        None => "🎨 Стиль: все".to_owned(),
        Some(label) => format!("🎨 Стиль: {}", clip(label, 30)),
    },
    btn_filter_any_style: "🎨 Все стили",
    filter_pick_style: "🎨 <b>Изображения какого стиля показать?</b>",
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
        if let Some(style) = f.style {
            parts.push(format!("🎨 {}", escape(&clip(style, 30))));
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
    btn_my_avatars: "🎭 Мои аватары",
    btn_create_avatar: "➕ Создать аватар",
    btn_continue_upload: "📸 Продолжить загрузку",
    btn_rename: "✏️ Переименовать",
    btn_make_main: "⭐ Сделать основным",
    btn_male: "👨 Мужской",
    btn_female: "👩 Женский",
    btn_done: "✅ Готово",
    btn_delete_photo: "🗑️ Удалить фото",
    btn_view_photos: |n| format!("👀 Посмотреть фото ({n})"),
    btn_start_training: |price| format!("✅ Начать обучение — {}", (RU.coins)(price)),
    avatars_empty: "🎭 <b>Аватары</b>\n\nУ вас пока нет аватаров. Аватар — это ваша личная модель: \
        загрузите 10–20 своих фото, и бот научится рисовать вас.",
    avatar_card: |a| {
        let status = match a.status {
            "ready" => "✅ Готов".to_owned(),
            "training" => format!("⏳ Обучается ({} мин)", a.training_minutes.max(0)),
            "failed" => "❌ Обучение не удалось".to_owned(),
            _ => format!("📝 Черновик: {} из {} фото", a.photos, a.min_photos),
        };
        format!(
            "🎭 <b>{}</b>{}\n\n{status}\n📅 Создан: {}\n\nАватар {} из {}",
            escape(a.name),
            if a.main { " ⭐" } else { "" },
            a.created,
            a.position,
            a.count
        )
    },
    avatar_ask_name: "🎭 <b>Новый аватар</b>\n\nКак его назвать? Напишите имя (2–50 символов).",
    avatar_name_length: |n| {
        format!(
            "❌ В имени {n} {}, а нужно от 2 до 50. Попробуйте ещё раз.",
            ru_plural(n as i64, "символ", "символа", "символов")
        )
    },
    avatar_ask_gender: |name| {
        format!(
            "🎭 <b>{}</b>\n\nКто на фото? Это поможет модели.",
            escape(name)
        )
    },
    avatar_upload_status: |s| {
        let next = if s.count >= u64::from(s.min) {
            format!(
                "Можно начинать обучение: {}. У вас: {}.",
                (RU.coins)(s.price),
                (RU.coins)(s.balance)
            )
        } else {
            format!("Нужно ещё минимум {}.", u64::from(s.min) - s.count)
        };
        format!(
            "📸 <b>Фото для аватара «{}»</b>\n\nЗагружено: <b>{} из {}</b> (нужно {}–{}).\n{next}\n\n\
             Присылайте фото или файлы JPEG/PNG/WEBP до 20 МБ, где хорошо видно лицо, \
             сторона не меньше 512 px, без повторов.",
            escape(s.name),
            s.count,
            s.max,
            s.min,
            s.max
        )
    },
    avatar_photo_caption: |i, n| format!("📸 Фото {i} из {n}"),
    photo_refused: |why, limits| match why {
        Refusal::NotImage => "❌ Это не изображение. Нужны JPEG, PNG или WEBP.".to_owned(),
        Refusal::TooBig => format!(
            "❌ Файл больше {} МБ.",
            limits.max_photo_bytes / (1024 * 1024)
        ),
        Refusal::TooSmall { width, height } => format!(
            "❌ Фото {width}×{height}: меньшая сторона должна быть не меньше {} px.",
            limits.min_side
        ),
        Refusal::Duplicate => "❌ Это фото уже загружено.".to_owned(),
        Refusal::Full => format!(
            "❌ Уже загружено {} фото — это максимум. Можно начинать обучение.",
            limits.max_photos
        ),
    },
    photo_not_expected: "📸 Сейчас фото не ждём. Чтобы создать аватар: 🎭 Мои аватары → ➕ Создать аватар.",
    photo_not_image_hint: "📸 Пришлите фото (или файл JPEG/PNG/WEBP).",
    avatar_not_found: "❌ Аватар не найден.",
    avatar_busy_training: "⏳ Аватар обучается — это действие будет доступно после обучения.",
    avatar_expired: "⌛ Этот шаг уже пройден. Откройте 🎭 Мои аватары.",
    avatar_delete_confirm: |name| {
        format!(
            "🗑️ <b>Удалить аватар «{}»?</b>\n\nИзображения в галерее останутся.",
            escape(name)
        )
    },
    avatar_deleted: "🗑️ Аватар удалён",
    avatar_main_set: |name| format!("⭐ Основной аватар: {}", clip(name, 50)),
    avatar_ask_rename: |name| format!("✏️ Новое имя для «{}»? (2–50 символов)", escape(name)),
    avatar_renamed: |name| format!("✏️ Теперь аватар называется «{}».", escape(name)),
    avatar_training_started: |name, minutes| {
        format!(
            "⏳ <b>Обучение аватара «{}» началось</b>\n\nОбычно это занимает до {minutes} мин. \
             Когда аватар будет готов, я напишу сюда.",
            escape(name)
        )
    },
    training_started_answer: "⏳ Обучение началось",
    avatar_too_few: |n, min| format!("📸 Загружено {n} фото, нужно минимум {min}."),
    avatar_ready: |name| {
        format!(
            "🎉 <b>Ваш аватар готов!</b>\n\n«{}» обучен — создайте первое изображение с ним.",
            escape(name)
        )
    },
    avatar_failed: |name, coins| {
        format!(
            "❌ <b>Обучение аватара «{}» не удалось.</b>\n\n💰 {} возвращены на баланс. \
             Попробуйте создать аватар ещё раз, с другими фото.",
            escape(name),
            (RU.coins)(coins)
        )
    },
};

/// "40 с", "2 мин", "1 мин 30 с".
fn ru_duration(secs: u64) -> String {
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s} с"),
        (m, 0) => format!("{m} мин"),
        (m, s) => format!("{m} мин {s} с"),
    }
}
