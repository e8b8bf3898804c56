//! BLEU-1..4, ROUGE-L and CIDEr-D against pycocoevalcap 1.2 itself, on 250 images × 5
//! references (tests/fixtures/make_metric_fixtures.py): corpus and per-image scores agree to 1e-6.

use glimpse_metrics::{Bleu, Cider, RougeL, tokenize};

#[test]
fn scores_equal_pycocoevalcap() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/metrics/coco_caption.json"
    );
    let fixture: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let images = fixture["images"].as_array().unwrap();
    assert!(images.len() >= 200);
    let (mut bleu, mut rouge, mut cider) = (Bleu::new(), RougeL::new(), Cider::new());
    for image in images {
        let candidate = tokenize(image["candidate"].as_str().unwrap());
        let references: Vec<Vec<String>> = image["references"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| tokenize(r.as_str().unwrap()))
            .collect();
        assert_eq!(references.len(), 5);
        bleu.add(&candidate, &references);
        rouge.add(&candidate, &references);
        cider.add(&candidate, &references);
    }
    let bleu = bleu.scores();
    let (cider_corpus, cider_per) = cider.scores();
    let expected = &fixture["corpus"];
    let close = |name: &str, ours: f64, theirs: &serde_json::Value| {
        let theirs = theirs.as_f64().unwrap();
        assert!(
            (ours - theirs).abs() < 1e-6,
            "{name}: ours {ours}, pycocoevalcap {theirs}"
        );
    };
    for k in 0..4 {
        let name = format!("Bleu_{}", k + 1);
        close(&name, bleu.corpus[k], &expected[&name]);
    }
    close("ROUGE_L", rouge.corpus(), &expected["ROUGE_L"]);
    close("CIDEr", cider_corpus, &expected["CIDEr"]);
    for (i, image) in images.iter().enumerate() {
        let scores = &image["scores"];
        for k in 0..4 {
            close(
                &format!("image {i} Bleu_{}", k + 1),
                bleu.per_candidate[i][k],
                &scores[format!("Bleu_{}", k + 1)],
            );
        }
        close(
            &format!("image {i} ROUGE_L"),
            rouge.per_candidate()[i],
            &scores["ROUGE_L"],
        );
        close(&format!("image {i} CIDEr"), cider_per[i], &scores["CIDEr"]);
    }
}
