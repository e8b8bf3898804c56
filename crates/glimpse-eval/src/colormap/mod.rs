//! The colour maps attention is drawn in: matplotlib's `inferno` and `viridis` (their real
//! 256-entry tables, generated from matplotlib by `tests/fixtures/make_colormap_fixtures.py`, as
//! the page's `web/colormaps.js` is) and grayscale, which the original report's figure used.

mod tables;

/// A colour map for attention weights scaled to [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Colormap {
    /// Black to white, matplotlib's `gray` (the original report's figure).
    #[default]
    Gray,
    Inferno,
    Viridis,
}

impl Colormap {
    pub const ALL: [Colormap; 3] = [Colormap::Gray, Colormap::Inferno, Colormap::Viridis];

    pub fn name(self) -> &'static str {
        match self {
            Colormap::Gray => "gray",
            Colormap::Inferno => "inferno",
            Colormap::Viridis => "viridis",
        }
    }

    /// The colour of `t` (clamped to [0, 1]) as 8-bit RGB values in f32: grayscale is
    /// continuous, a table picks its entry as matplotlib's `Colormap(t)` does,
    /// `min(⌊256·t⌋, 255)`.
    pub fn colour(self, t: f32) -> [f32; 3] {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        let table = match self {
            Colormap::Gray => return [t * 255.0; 3],
            Colormap::Inferno => &tables::INFERNO,
            Colormap::Viridis => &tables::VIRIDIS,
        };
        table[((t * 256.0) as usize).min(255)].map(f32::from)
    }

    /// The 256 entries of a table map (`None` for grayscale).
    pub fn table(self) -> Option<&'static [[u8; 3]; 256]> {
        match self {
            Colormap::Gray => None,
            Colormap::Inferno => Some(&tables::INFERNO),
            Colormap::Viridis => Some(&tables::VIRIDIS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_picked_as_matplotlib_picks_them() {
        let inferno = Colormap::Inferno.table().unwrap();
        assert_eq!(Colormap::Inferno.colour(0.0), inferno[0].map(f32::from));
        assert_eq!(Colormap::Inferno.colour(1.0), inferno[255].map(f32::from));
        assert_eq!(Colormap::Inferno.colour(0.5), inferno[128].map(f32::from));
        assert_eq!(
            Colormap::Inferno.colour(127.9 / 256.0),
            inferno[127].map(f32::from)
        );
        assert_eq!(Colormap::Viridis.colour(f32::NAN), Colormap::Viridis.colour(0.0));
        assert_eq!(Colormap::Gray.colour(0.5), [127.5; 3]);
        assert_eq!(Colormap::Gray.colour(2.0), [255.0; 3]);
    }
}
