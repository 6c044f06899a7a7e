//! The local provider's renderer: a real PNG of the requested size, drawn from the prompt and
//! seed alone (same inputs, same bytes), so the whole product runs offline and tests can tell
//! images apart. It paints a three-colour gradient with soft rings, not a picture of the prompt.

use sha2::{Digest, Sha256};

/// The largest side the renderer accepts (the biggest aspect-ratio size is 1024).
pub const MAX_SIDE: u32 = 2048;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("size {0}x{1} is outside 1..={MAX_SIDE}")]
    Size(u32, u32),
    #[error("png: {0}")]
    Png(#[from] png::EncodingError),
}

/// Renders `width` × `height` RGB pixels and encodes them as PNG.
pub fn render_png(
    prompt: &str,
    seed: u64,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, RenderError> {
    if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
        return Err(RenderError::Size(width, height));
    }
    let digest = Sha256::new()
        .chain_update(prompt.as_bytes())
        .chain_update(seed.to_le_bytes())
        .finalize();
    let colour = |i: usize| [digest[i], digest[i + 1], digest[i + 2]].map(f32::from);
    let (a, b, c) = (colour(0), colour(3), colour(6));
    // Ring centre and spacing also come from the hash.
    let cx = f32::from(digest[9]) / 255.0 * width as f32;
    let cy = f32::from(digest[10]) / 255.0 * height as f32;
    let spacing = 24.0 + f32::from(digest[11]) / 4.0;

    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        let v = y as f32 / height.max(2).saturating_sub(1) as f32;
        for x in 0..width {
            let u = x as f32 / width.max(2).saturating_sub(1) as f32;
            let distance = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
            let ring = 0.5 + 0.5 * (distance / spacing).sin();
            for ch in 0..3 {
                let gradient = a[ch] * (1.0 - u) * (1.0 - v) + b[ch] * u + c[ch] * v * (1.0 - u);
                let value = gradient * (0.75 + 0.25 * ring);
                // Clamped to 0..=255 first, so the cast cannot truncate.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                pixels.push(value.clamp(0.0, 255.0) as u8);
            }
        }
    }

    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::AspectRatio;

    fn size_of(png_bytes: &[u8]) -> (u32, u32) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let reader = decoder.read_info().expect("a valid PNG");
        (reader.info().width, reader.info().height)
    }

    #[test]
    fn renders_every_aspect_ratio_at_its_exact_size() {
        for ratio in AspectRatio::ALL {
            let (w, h) = ratio.size();
            let bytes = render_png("a cat astronaut", 7, w, h).unwrap();
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
            assert_eq!(size_of(&bytes), (w, h), "{ratio:?}");
        }
    }

    #[test]
    fn same_inputs_same_bytes_other_inputs_other_bytes() {
        let one = render_png("a cat", 1, 64, 48).unwrap();
        assert_eq!(one, render_png("a cat", 1, 64, 48).unwrap());
        assert_ne!(one, render_png("a cat", 2, 64, 48).unwrap());
        assert_ne!(one, render_png("a dog", 1, 64, 48).unwrap());
    }

    #[test]
    fn refuses_absurd_sizes() {
        assert!(matches!(
            render_png("x", 1, 0, 10),
            Err(RenderError::Size(0, 10))
        ));
        assert!(matches!(
            render_png("x", 1, 10, MAX_SIDE + 1),
            Err(RenderError::Size(..))
        ));
    }
}
