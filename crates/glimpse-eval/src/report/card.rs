//! One image's card in the report: the photo, its references, every model's caption and
//! scores, and the attention figures of the models that have attention.

use std::fmt::Write as _;

use image::imageops::FilterType;

use super::html::{data_uri_jpeg, escape, load_photo};
use super::{ReportImage, ReportModel, model_color};
use crate::figure::{FigureStyle, attention_figure};

/// Width of the photo on the card, in pixels.
const PHOTO_WIDTH: u32 = 224;
/// References listed on a card; more are counted (one image's 4 million references once made
/// a 170 MB page).
const REFERENCES_SHOWN: usize = 20;

/// Appends the card of `image`, the `index`th of the split.
pub(super) fn image_card(page: &mut String, image: &ReportImage<'_>, index: usize, models: &[ReportModel]) {
    let photo = load_photo(image.path, 640);
    let _ = write!(page, r#"<section class="card"><div>"#);
    if let Some(photo) = &photo {
        let small = image::imageops::resize(
            photo,
            PHOTO_WIDTH,
            (PHOTO_WIDTH * photo.height() / photo.width().max(1)).max(1),
            FilterType::Triangle,
        );
        let _ = write!(
            page,
            r#"<img class="photo" src="{}" alt="{}">"#,
            data_uri_jpeg(&small),
            escape(image.name)
        );
    }
    let _ = write!(
        page,
        "<div>{}</div></div><div><strong>References</strong><ul>",
        escape(image.name)
    );
    for reference in image.references.iter().take(REFERENCES_SHOWN) {
        let _ = write!(page, "<li>{}</li>", escape(reference));
    }
    if image.references.len() > REFERENCES_SHOWN {
        let more = image.references.len() - REFERENCES_SHOWN;
        let _ = write!(page, "<li>… and {more} more</li>");
    }
    page.push_str("</ul>");
    captions(page, index, models);
    page.push_str("</div>");
    if let Some(photo) = &photo {
        attention_figures(page, photo, index, models);
    }
    page.push_str("</section>");
}

/// Every model's caption of the image, with its scores.
fn captions(page: &mut String, index: usize, models: &[ReportModel]) {
    for (k, model) in models.iter().enumerate() {
        let caption = &model.captions[index];
        let scores: Vec<String> = caption
            .scores
            .iter()
            .map(|(n, v)| format!("{n} {v:.3}"))
            .collect();
        let _ = write!(
            page,
            r#"<p><span class="swatch" style="background:{}"></span><strong>{}</strong>: {}<br><span class="scores">{}</span></p>"#,
            model_color(k),
            escape(&model.name),
            escape(&caption.text),
            escape(&scores.join(", "))
        );
    }
}

/// The attention figure of each model that has attention for the image.
fn attention_figures(page: &mut String, photo: &image::RgbImage, index: usize, models: &[ReportModel]) {
    for model in models {
        if let Some(attention) = &model.captions[index].attention {
            let figure = attention_figure(photo, attention, FigureStyle::default());
            let _ = write!(
                page,
                r#"<img class="figure" src="{}" alt="attention of {} for every word">"#,
                data_uri_jpeg(&figure),
                escape(&model.name)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn card(references: usize) -> String {
        let references: Vec<String> = (0..references).map(|i| format!("caption {i}")).collect();
        let image = ReportImage {
            name: "a.jpg",
            path: Path::new("/nonexistent/a.jpg"),
            references: &references,
        };
        let mut page = String::new();
        image_card(&mut page, &image, 0, &[]);
        page
    }

    #[test]
    fn a_card_lists_the_first_references_and_counts_the_rest() {
        let page = card(REFERENCES_SHOWN + 5);
        assert_eq!(page.matches("<li>").count(), REFERENCES_SHOWN + 1);
        assert!(page.contains(&format!("<li>caption {}</li>", REFERENCES_SHOWN - 1)));
        assert!(!page.contains(&format!("caption {REFERENCES_SHOWN}<")));
        assert!(page.contains("<li>… and 5 more</li>"));
        let page = card(REFERENCES_SHOWN);
        assert_eq!(page.matches("<li>").count(), REFERENCES_SHOWN);
        assert!(!page.contains("more</li>"));
    }
}
