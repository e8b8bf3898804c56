//! BLEU-1..4, ROUGE-L and CIDEr-D over 5,000 candidates × 5 references (caption-like sentences
//! from a fixed grammar), as `glimpse eval` computes them for a COCO-sized test split.
//!
//! ```text
//! cargo bench -p glimpse-metrics --bench metrics
//! ```

use std::time::Instant;

use glimpse_metrics::{Bleu, Cider, RougeL, tokenize};

const SUBJECTS: [&str; 8] = [
    "a man",
    "a woman",
    "two dogs",
    "a brown dog",
    "a little girl",
    "three men",
    "a skier",
    "a black cat",
];
const VERBS: [&str; 8] = [
    "is running",
    "sits",
    "is jumping",
    "plays",
    "walks",
    "is riding a bike",
    "is climbing",
    "looks at the camera",
];
const PLACES: [&str; 8] = [
    "on the grass",
    "in the snow",
    "on a beach",
    "in a park",
    "on a street",
    "in a field",
    "down a hill",
    "near the water",
];

fn main() {
    let mut state = 42u64;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % n
    };
    let mut sentence = || format!("{} {} {}", SUBJECTS[next(8)], VERBS[next(8)], PLACES[next(8)]);
    let data: Vec<(Vec<String>, Vec<Vec<String>>)> = (0..5000)
        .map(|_| {
            (
                tokenize(&sentence()),
                (0..5).map(|_| tokenize(&sentence())).collect(),
            )
        })
        .collect();
    let start = Instant::now();
    let (mut bleu, mut rouge, mut cider) = (Bleu::new(), RougeL::new(), Cider::new());
    for (candidate, references) in &data {
        bleu.add(candidate, references);
        rouge.add(candidate, references);
        cider.add(candidate, references);
    }
    let b = bleu.scores();
    let (c, _) = cider.scores();
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "5000 candidates × 5 references: BLEU-1..4 + ROUGE-L + CIDEr-D in {:.3} s (Bleu_4 {:.4}, ROUGE_L {:.4}, CIDEr {:.4})",
        seconds,
        b.corpus[3],
        rouge.corpus(),
        c
    );
}
