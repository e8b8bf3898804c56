//! Numbers a file supplies, written back compactly: an edited checkpoint's `1.7976e308` seconds
//! were printed as 309 digits on the terminal, in `metrics.csv` and in a model card.

/// Past this size (and below its inverse) a number is written in scientific notation.
const PLAIN_UP_TO: f64 = 1e15;

/// `value` exactly (the shortest text that reads back as the same `f64`), in scientific
/// notation when plain digits would run past 15 places: `0.25`, `1200`, `1.7e308`, `3e-9`.
pub fn number_text(value: f64) -> String {
    if needs_exponent(value) {
        format!("{value:e}")
    } else {
        value.to_string()
    }
}

/// `value` rounded to `decimals` places, in scientific notation with as many decimals when
/// plain digits would run past 15 places: `0.2513`, `1.8000e308`.
pub fn rounded_text(value: f64, decimals: usize) -> String {
    if needs_exponent(value) {
        format!("{value:.decimals$e}")
    } else {
        format!("{value:.decimals$}")
    }
}

fn needs_exponent(value: f64) -> bool {
    let size = value.abs();
    size.is_finite() && size != 0.0 && !(1.0 / PLAIN_UP_TO..PLAIN_UP_TO).contains(&size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_and_tiny_numbers_are_short_and_exact() {
        for value in [
            f64::MAX,
            -1e308,
            1.7e308 / 2.0,
            1e15,
            3e-9,
            -f64::MIN_POSITIVE,
            5e-324,
        ] {
            let text = number_text(value);
            assert!(text.len() <= 24, "{text}");
            assert_eq!(text.parse::<f64>().unwrap(), value, "{text}");
        }
        assert_eq!(number_text(-1e308), "-1e308");
    }

    #[test]
    fn ordinary_numbers_are_written_plainly() {
        assert_eq!(number_text(0.25), "0.25");
        assert_eq!(number_text(1200.0), "1200");
        assert_eq!(number_text(0.0), "0");
        assert_eq!(number_text(-0.001), "-0.001");
        assert_eq!(number_text(f64::NAN), "NaN");
        assert_eq!(rounded_text(0.25134, 4), "0.2513");
        assert_eq!(rounded_text(999_999.5, 0), "1000000");
    }

    #[test]
    fn rounded_huge_numbers_keep_their_decimals_in_the_mantissa() {
        assert_eq!(rounded_text(1.7e308, 4), "1.7000e308");
        assert_eq!(rounded_text(-2.6e20, 0), "-3e20");
    }
}
