//! What a generation says when it settles: the result (photo caption, album text, buttons) or
//! the failure notice, rendered into an outbox [`Push`] in the user's language.

use entity::generation;

use crate::{
    config::StyleSettings,
    delivery::{Buttons, Push, PushImage},
    domain::GenerationId,
    generation::{FailReason, lang_of},
    i18n::Caption,
    provider::{AspectRatio, ProviderImage},
    telegram::{
        callback::{Callback, GalleryAction, GenerationAction, MenuAction},
        keyboards::push_row as row,
    },
};

/// Under a result: 🔄 again, 🖼️ gallery, 🎨 new, 🔙 menu.
#[must_use]
pub fn result_buttons(generation: &generation::Model) -> Buttons {
    let t = lang_of(generation).texts();
    vec![
        row(&[(
            t.btn_repeat,
            Callback::Generation(GenerationAction::Regenerate(GenerationId(generation.id))),
        )]),
        row(&[
            (t.btn_to_gallery, Callback::Gallery(GalleryAction::Open)),
            (
                t.btn_new_generation,
                Callback::Generation(GenerationAction::Open),
            ),
        ]),
        row(&[(t.btn_main_menu, Callback::Menu(MenuAction::Main))]),
    ]
}

/// The caption of a generation's result.
#[must_use]
pub fn caption(
    generation: &generation::Model,
    style: Option<&StyleSettings>,
    width: u32,
    height: u32,
) -> String {
    let t = lang_of(generation).texts();
    let style = style.map(|s| s.label(&generation.lang));
    (t.gen_caption)(&Caption {
        prompt: &generation.prompt,
        avatar: generation.avatar_name.as_deref(),
        style: style.as_deref(),
        aspect: &generation.aspect,
        width,
        height,
    })
}

/// A generation's result: its images with caption and buttons, replacing the progress message.
#[must_use]
pub fn result(
    generation: &generation::Model,
    style: Option<&StyleSettings>,
    images: &[ProviderImage],
) -> Push {
    let t = lang_of(generation).texts();
    let (w, h) = images
        .first()
        .and_then(|i| Some((i.width?, i.height?)))
        .or_else(|| AspectRatio::parse(&generation.aspect).map(|a| a.size()))
        .unwrap_or((0, 0));
    Push::Images {
        generation_id: generation.id,
        caption: caption(generation, style, w, h),
        images: images
            .iter()
            .enumerate()
            .map(|(i, image)| PushImage {
                position: i32::try_from(i).unwrap_or(0),
                url: image.url.clone(),
            })
            .collect(),
        album_text: (t.gen_album_done)(images.len()),
        buttons: result_buttons(generation),
        replaces: generation.progress_message_id,
    }
}

/// A generation's failure notice (the coins are back), replacing the progress message.
#[must_use]
pub fn failure(generation: &generation::Model, reason: &FailReason) -> Push {
    let t = lang_of(generation).texts();
    Push::Text {
        text: (t.gen_failed)(&(t.fail_reason)(reason), generation.cost),
        buttons: vec![
            row(&[(
                t.btn_retry,
                Callback::Generation(GenerationAction::Regenerate(GenerationId(generation.id))),
            )]),
            row(&[(t.btn_main_menu, Callback::Menu(MenuAction::Main))]),
        ],
        replaces: generation.progress_message_id,
    }
}
