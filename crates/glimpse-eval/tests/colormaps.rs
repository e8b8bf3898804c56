//! The colour maps are matplotlib's own: every entry of inferno and viridis equals matplotlib's
//! table (`tests/fixtures/colormaps.json`, written from matplotlib by
//! `tests/fixtures/make_colormap_fixtures.py`).

use glimpse_eval::colormap::Colormap;

#[test]
fn tables_are_matplotlibs() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/colormaps.json");
    let fixture: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for map in [Colormap::Inferno, Colormap::Viridis] {
        let want: Vec<[u8; 3]> = serde_json::from_value(fixture[map.name()].clone()).unwrap();
        assert_eq!(want.len(), 256);
        assert_eq!(map.table().unwrap().to_vec(), want, "{}", map.name());
    }
}
