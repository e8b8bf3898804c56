//! Caption files, `{"image file name": "caption"}` (what `glimpse eval` writes as
//! `captions.json` and `glimpse compare` scores), read as files from strangers: a regular file of
//! at most [`caps::CAPTIONS`] bytes, one object, each image once, each caption no longer than a
//! dataset's references may be.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::{Result, anyhow};
use glimpse_data::dataset::MAX_CAPTION_BYTES;
use glimpse_files::{caps, read_regular_to_string, shown, terminal_safe};
use glimpse_model::error::excerpt;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// The captions of a file, by image name.
pub fn read_captions(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = read_regular_to_string(path, caps::CAPTIONS, "caption file")?;
    // A byte-order mark, as some Windows editors write, is not part of the JSON.
    let json = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let captions = deserializer
        .deserialize_map(CaptionsVisitor)
        .and_then(|captions| deserializer.end().map(|()| captions))
        .map_err(|e| {
            // serde_json ends its message with the position, which leads this one.
            let message = e.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m);
            anyhow!(
                "{}:{}:{}: expected a JSON object {{\"image\": \"caption\"}}: {message}",
                shown(path),
                e.line(),
                e.column()
            )
        })?;
    Ok(captions)
}

/// Builds the map, refusing an image named twice (serde's map would keep the last silently) and
/// a caption over [`MAX_CAPTION_BYTES`].
struct CaptionsVisitor;

impl<'de> Visitor<'de> for CaptionsVisitor {
    type Value = BTreeMap<String, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of image names and captions")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut captions = BTreeMap::new();
        while let Some((image, caption)) = map.next_entry::<String, String>()? {
            if caption.len() > MAX_CAPTION_BYTES {
                return Err(de::Error::custom(format!(
                    "the caption of `{}` has {} bytes, over the {} a caption may have",
                    terminal_safe(&excerpt(&image)),
                    caption.len(),
                    caps::human(MAX_CAPTION_BYTES as u64)
                )));
            }
            if captions.contains_key(&image) {
                return Err(de::Error::custom(format!(
                    "`{}` has two captions",
                    terminal_safe(&excerpt(&image))
                )));
            }
            captions.insert(image, caption);
        }
        Ok(captions)
    }
}
