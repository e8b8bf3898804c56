//! The original report's `plot_attention` figure: one panel per word, titled with the word,
//! showing the photo with that word's attention map upsampled over it in a colour map (grayscale,
//! as the report's, by default).

use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::mono_font::iso_8859_1::FONT_10X20;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::text::{Alignment, Baseline, Text, TextStyleBuilder};
use glimpse_model::Caption;
use glimpse_model::preprocess::resize_rgb;
use image::{Rgb, RgbImage};

use crate::colormap::Colormap;

/// Figure layout and look.
#[derive(Debug, Clone, Copy)]
pub struct FigureStyle {
    /// Width of each panel's photo in pixels (the longer side is capped at
    /// [`MAX_PANEL_SIDE`]).
    pub panel_width: u32,
    /// Opacity of the attention map over the photo (the original report uses 0.7).
    pub alpha: f32,
    pub colormap: Colormap,
}

impl Default for FigureStyle {
    fn default() -> Self {
        FigureStyle {
            panel_width: 224,
            alpha: 0.7,
            colormap: Colormap::default(),
        }
    }
}

const TITLE_HEIGHT: u32 = 28;
const GAP: u32 = 8;

/// Longest side of a panel's photo. Panels keep the photo's aspect ratio, so without a cap a
/// 1×20000 photo made a 224-wide panel 4.5 million pixels high, and the figure gigabytes.
pub const MAX_PANEL_SIDE: u32 = 512;

/// The `(width, height)` of each panel for a `width × height` photo: `panel_width` wide unless
/// that makes the panel taller than [`MAX_PANEL_SIDE`], in which case it is that tall; never
/// less than one pixel either way.
pub fn panel_size(photo: (u32, u32), panel_width: u32) -> (u32, u32) {
    let (w, h) = (photo.0.max(1) as f64, photo.1.max(1) as f64);
    let panel_w = panel_width.clamp(1, MAX_PANEL_SIDE);
    let panel_h = (h * panel_w as f64 / w).round();
    if panel_h <= MAX_PANEL_SIDE as f64 {
        return (panel_w, (panel_h as u32).max(1));
    }
    let narrow = (w * MAX_PANEL_SIDE as f64 / h).round() as u32;
    (narrow.max(1), MAX_PANEL_SIDE)
}

/// `photo` at the size of a panel of `panel_width` ([`panel_size`]): all a figure takes of it,
/// and a figure of this photo is the same as of the original.
pub fn panel_photo(photo: &RgbImage, panel_width: u32) -> RgbImage {
    let (width, height) = panel_size(photo.dimensions(), panel_width);
    resize_rgb(photo, width, height)
}

/// The `Software` text chunk that marks a figure PNG as written by `glimpse caption`, which
/// replaces only such a file (a user's own file of a figure's name was replaced: hostile round
/// 22). It follows the header, as the encoder writes text chunks given before the header.
const SOFTWARE: (&str, &str) = ("Software", "glimpse caption");

/// `figure` as a PNG file marked as a Glimpse figure ([`is_figure_png`]).
pub fn figure_png(figure: &RgbImage) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, figure.width(), figure.height());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.add_text_chunk(SOFTWARE.0.into(), SOFTWARE.1.into())?;
    let mut writer = encoder.write_header()?;
    writer.write_image_data(figure.as_raw())?;
    writer.finish()?;
    Ok(bytes)
}

/// Whether `start` (a file's first bytes, [`FIGURE_MARK_BYTES`] of them) begins a PNG that
/// [`figure_png`] wrote: the signature, a header chunk (13 bytes of fields and a CRC), then the
/// text chunk.
pub fn is_figure_png(start: &[u8]) -> bool {
    let text = [SOFTWARE.0.as_bytes(), b"\0", SOFTWARE.1.as_bytes()].concat();
    let chunk = [&(text.len() as u32).to_be_bytes()[..], b"tEXt", &text].concat();
    start.get(..16) == Some(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR")
        && start
            .get(HEADER_END..)
            .is_some_and(|rest| rest.starts_with(&chunk))
}

/// Where a PNG's header chunk ends: the signature, then its length, type, 13 bytes and CRC.
const HEADER_END: usize = 8 + 4 + 4 + 13 + 4;

/// How many bytes [`is_figure_png`] reads.
pub const FIGURE_MARK_BYTES: usize = HEADER_END + 8 + SOFTWARE.0.len() + 1 + SOFTWARE.1.len();

/// Bilinear upsampling of a `[rows, cols]` grid to `width × height` pixels, sampling cell
/// centres (PyTorch's `align_corners=False`), so each cell's value sits over its part of the photo.
/// A map that does not hold `rows × cols` values upsamples to zeros.
pub fn upsample_bilinear(map: &[f32], grid: [usize; 2], width: u32, height: u32) -> Vec<f32> {
    let [rows, cols] = grid;
    let pixels = width as usize * height as usize;
    if rows == 0 || cols == 0 || rows.checked_mul(cols) != Some(map.len()) {
        return vec![0.0; pixels];
    }
    let mut out = Vec::with_capacity(pixels);
    let coord = |i: u32, out_len: u32, in_len: usize| -> (usize, usize, f32) {
        let x = ((i as f32 + 0.5) * in_len as f32 / out_len as f32 - 0.5).max(0.0);
        let x0 = (x.floor() as usize).min(in_len - 1);
        let x1 = (x0 + 1).min(in_len - 1);
        (x0, x1, x - x0 as f32)
    };
    for y in 0..height {
        let (r0, r1, fy) = coord(y, height, rows);
        for x in 0..width {
            let (c0, c1, fx) = coord(x, width, cols);
            let top = map[r0 * cols + c0] * (1.0 - fx) + map[r0 * cols + c1] * fx;
            let bottom = map[r1 * cols + c0] * (1.0 - fx) + map[r1 * cols + c1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

/// One panel: the photo with the attention map, stretched from its minimum to its maximum as
/// matplotlib's `imshow` does, coloured by `style.colormap` and blended over it at
/// `style.alpha`.
pub fn overlay(photo: &RgbImage, attention: &[f32], grid: [usize; 2], style: FigureStyle) -> RgbImage {
    let (width, height) = photo.dimensions();
    let map = upsample_bilinear(attention, grid, width, height);
    let (lo, hi) = attention
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let mut out = photo.clone();
    let alpha = style.alpha;
    for (pixel, value) in out.pixels_mut().zip(map) {
        let colour = style.colormap.colour((value - lo) / span);
        for c in 0..3 {
            pixel[c] = (alpha * colour[c] + (1.0 - alpha) * pixel[c] as f32).round() as u8;
        }
    }
    out
}

/// The whole figure for one caption: panels in a near-square grid, each titled with its word.
pub fn attention_figure(photo: &RgbImage, caption: &Caption, style: FigureStyle) -> RgbImage {
    let photo = panel_photo(photo, style.panel_width);
    let (panel_w, panel_h) = photo.dimensions();
    let n = caption.tokens.len().max(1) as u32;
    let cols = (n as f64).sqrt().ceil() as u32;
    let rows = n.div_ceil(cols);
    let cell_w = panel_w + GAP;
    let cell_h = panel_h + TITLE_HEIGHT + GAP;
    let mut figure = RgbImage::from_pixel(cols * cell_w + GAP, rows * cell_h + GAP, Rgb([255, 255, 255]));
    if caption.tokens.is_empty() {
        image::imageops::overlay(&mut figure, &photo, GAP as i64, (GAP + TITLE_HEIGHT) as i64);
        draw_title(&mut figure, "(no words)", GAP + panel_w / 2, GAP);
        return figure;
    }
    for (i, (word, attention)) in caption.tokens.iter().zip(&caption.attention).enumerate() {
        let (col, row) = (i as u32 % cols, i as u32 / cols);
        let (x, y) = (GAP + col * cell_w, GAP + row * cell_h);
        let panel = overlay(&photo, attention, caption.grid, style);
        image::imageops::overlay(&mut figure, &panel, x as i64, (y + TITLE_HEIGHT) as i64);
        draw_title(&mut figure, word, x + panel_w / 2, y);
    }
    figure
}

/// Draws `text` centred on `centre_x`, with its top at `top`.
fn draw_title(image: &mut RgbImage, text: &str, centre_x: u32, top: u32) {
    let style = MonoTextStyle::new(&FONT_10X20, Rgb888::BLACK);
    let layout = TextStyleBuilder::new()
        .alignment(Alignment::Center)
        .baseline(Baseline::Top)
        .build();
    let mut target = ImageTarget(image);
    let _ = Text::with_text_style(text, Point::new(centre_x as i32, top as i32 + 4), style, layout)
        .draw(&mut target);
}

/// Lets embedded-graphics draw into an `RgbImage`, clipping at its edges.
struct ImageTarget<'a>(&'a mut RgbImage);

impl OriginDimensions for ImageTarget<'_> {
    fn size(&self) -> Size {
        Size::new(self.0.width(), self.0.height())
    }
}

impl DrawTarget for ImageTarget<'_> {
    type Color = Rgb888;
    type Error = std::convert::Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Rgb888>>>(&mut self, pixels: I) -> Result<(), Self::Error> {
        let (w, h) = self.0.dimensions();
        for Pixel(point, color) in pixels {
            if point.x >= 0 && point.y >= 0 && (point.x as u32) < w && (point.y as u32) < h {
                self.0.put_pixel(
                    point.x as u32,
                    point.y as u32,
                    Rgb([color.r(), color.g(), color.b()]),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A figure's PNG reads back as the figure, marked as Glimpse's; other PNGs are not.
    #[test]
    fn figure_pngs_are_marked_and_told_from_others() {
        let figure = RgbImage::from_fn(5, 3, |x, y| Rgb([x as u8 * 40, y as u8 * 80, 7]));
        let bytes = figure_png(&figure).unwrap();
        assert!(is_figure_png(&bytes[..FIGURE_MARK_BYTES]));
        assert_eq!(image::load_from_memory(&bytes).unwrap().to_rgb8(), figure);
        let mut plain = Vec::new();
        figure
            .write_to(&mut std::io::Cursor::new(&mut plain), image::ImageFormat::Png)
            .unwrap();
        assert!(!is_figure_png(&plain));
        assert!(!is_figure_png(b"my own notes"));
    }

    #[test]
    fn upsampling_keeps_a_uniform_map_uniform_and_interpolates_between_cells() {
        let up = upsample_bilinear(&[0.25; 4], [2, 2], 8, 6);
        assert!(up.iter().all(|&v| (v - 0.25).abs() < 1e-7));
        // Two cells side by side: the outer quarters keep their cell's value, the middle blends.
        let up = upsample_bilinear(&[0.0, 1.0], [1, 2], 8, 1);
        assert_eq!(up[0], 0.0);
        assert_eq!(up[7], 1.0);
        assert!(up[3] > 0.0 && up[3] < 0.5 && up[4] > 0.5 && up[4] < 1.0, "{up:?}");
    }

    #[test]
    fn overlay_whitens_where_attention_peaks() {
        let photo = RgbImage::from_pixel(20, 20, Rgb([0, 0, 0]));
        let mut attention = vec![0.0; 4];
        attention[3] = 1.0; // bottom-right cell
        let panel = overlay(&photo, &attention, [2, 2], FigureStyle::default());
        assert_eq!(panel.get_pixel(19, 19)[0], 179); // 0.7 × 255
        assert_eq!(panel.get_pixel(0, 0)[0], 0);
    }

    #[test]
    fn overlay_takes_the_colour_maps_own_colours() {
        let photo = RgbImage::from_pixel(20, 20, Rgb([0, 0, 0]));
        let attention = [0.0, 0.0, 0.0, 1.0];
        for colormap in [Colormap::Inferno, Colormap::Viridis] {
            let style = FigureStyle {
                alpha: 1.0,
                colormap,
                ..FigureStyle::default()
            };
            let panel = overlay(&photo, &attention, [2, 2], style);
            let table = colormap.table().unwrap();
            assert_eq!(panel.get_pixel(19, 19).0, table[255], "{}", colormap.name());
            assert_eq!(panel.get_pixel(0, 0).0, table[0], "{}", colormap.name());
        }
    }

    /// Titles cover Latin-1: "café" is drawn with its é, not the `?` an ASCII font falls back to.
    #[test]
    fn titles_draw_latin_1_letters() {
        let title = |text: &str| {
            let mut image = RgbImage::from_pixel(60, 28, Rgb([255, 255, 255]));
            draw_title(&mut image, text, 30, 0);
            image
        };
        assert_ne!(title("café"), title("caf?"));
        assert_ne!(title("naïve"), title("na?ve"));
        assert_ne!(title("é"), title(" "));
    }

    #[test]
    fn figure_has_a_titled_panel_per_word() {
        let caption = Caption {
            tokens: vec!["a".into(), "dog".into(), "runs".into()],
            token_ids: vec![4, 5, 6],
            attention: vec![vec![0.25; 4]; 3],
            alternatives: Vec::new(),
            grid: [2, 2],
            log_prob: -1.0,
            finished: true,
        };
        let photo = RgbImage::from_pixel(100, 50, Rgb([128, 128, 128]));
        let figure = attention_figure(
            &photo,
            &caption,
            FigureStyle {
                panel_width: 100,
                alpha: 0.5,
                ..FigureStyle::default()
            },
        );
        // 3 words → 2 columns × 2 rows of 100×50 panels with titles.
        assert_eq!(figure.dimensions(), (2 * 108 + 8, 2 * (50 + 28 + 8) + 8));
        // Some title pixels are black.
        let title_row = (8..8 + 28).flat_map(|y| (8..108).map(move |x| (x, y)));
        assert!(title_row.into_iter().any(|(x, y)| figure.get_pixel(x, y)[0] == 0));
    }

    #[test]
    fn panels_of_extreme_photos_stay_small() {
        assert_eq!(panel_size((100, 50), 100), (100, 50));
        assert_eq!(panel_size((224, 224), 224), (224, 224));
        // 1×20000: the panel would be 224 × 4,480,000.
        assert_eq!(panel_size((1, 20000), 224), (1, MAX_PANEL_SIDE));
        assert_eq!(panel_size((20000, 1), 224), (224, 1));
        assert_eq!(panel_size((300, 1000), 4000), (154, MAX_PANEL_SIDE));
        let caption = Caption {
            tokens: vec!["tall".into()],
            token_ids: vec![4],
            attention: vec![vec![1.0]],
            alternatives: Vec::new(),
            grid: [1, 1],
            log_prob: -1.0,
            finished: true,
        };
        let photo = RgbImage::from_pixel(1, 20000, Rgb([9, 9, 9]));
        let figure = attention_figure(&photo, &caption, FigureStyle::default());
        assert_eq!(
            figure.dimensions(),
            (1 + 2 * GAP, MAX_PANEL_SIDE + TITLE_HEIGHT + 2 * GAP)
        );
    }

    #[test]
    fn a_map_that_does_not_fit_its_grid_upsamples_to_zeros() {
        assert_eq!(upsample_bilinear(&[1.0; 3], [2, 2], 2, 1), vec![0.0, 0.0]);
        assert_eq!(upsample_bilinear(&[], [0, 0], 1, 1), vec![0.0]);
    }
}
