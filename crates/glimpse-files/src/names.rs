//! Output file names that never collide: two photos `a/cat.jpg` and `b/cat.png` must not
//! write the same `cat.attention.png`.

use std::collections::HashSet;

/// One name per stem, in order: a stem's first use keeps it, later ones get `-2`, `-3`, … (the
/// first number not taken, so a real `cat-2` is never overwritten either). Names are compared
/// ignoring case, because macOS and Windows file systems do. An empty stem becomes `image`.
pub fn unique_names<S: AsRef<str>>(stems: impl IntoIterator<Item = S>) -> Vec<String> {
    let mut taken = HashSet::new();
    let mut names = Vec::new();
    for stem in stems {
        let stem = match stem.as_ref() {
            "" => "image",
            stem => stem,
        };
        let mut name = stem.to_string();
        let mut number = 1u64;
        while !taken.insert(name.to_lowercase()) {
            number += 1;
            name = format!("{stem}-{number}");
        }
        names.push(name);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_stems_are_numbered() {
        assert_eq!(
            unique_names(["cat", "dog", "cat", "cat"]),
            ["cat", "dog", "cat-2", "cat-3"]
        );
    }

    #[test]
    fn numbered_names_never_collide_with_real_ones() {
        assert_eq!(unique_names(["cat", "cat", "cat-2"]), ["cat", "cat-2", "cat-2-2"]);
        assert_eq!(unique_names(["Cat", "cat", ""]), ["Cat", "cat-2", "image"]);
    }
}
