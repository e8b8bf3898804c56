use super::bits::Bits;
use super::block::AcBand;
use super::huffman::Huffman;
use super::*;
use image::{DynamicImage, ImageFormat, RgbImage};
use std::io::Cursor;

/// No pixel budget: the tests' images are small.
const MAX: u64 = u64::MAX;

/// Pillow's progressive fixtures: 64×48 4:2:0; 33×17 4:2:0 with restarts (scans of one
/// component hold fewer blocks than the MCUs); 37×21 grey with restarts.
const PROGRESSIVE: [&str; 3] = [
    "progressive.jpg",
    "progressive_restart.jpg",
    "progressive_grey.jpg",
];

/// The walk that refuses to judge a file with data left over: a whole file it calls complete
/// was read to its every bit.
fn exact(bytes: &[u8]) -> Option<bool> {
    walk(bytes, MAX, Leftover::Refused)
}

/// A fixture made by Pillow (libjpeg) in `tests/fixtures/make_torch_fixtures.py`.
fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../tests/fixtures/images/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).unwrap()
}

/// Where each scan's coded data starts and ends (its next marker, restarts skipped).
fn scan_data(whole: &[u8]) -> Vec<(usize, usize)> {
    let mut scans = Vec::new();
    let mut pos = 2;
    while let Some((marker, after)) = marker_at(whole, pos) {
        if marker == 0xD9 {
            break;
        }
        pos = after + usize::from(u16::from_be_bytes([whole[after], whole[after + 1]]));
        if marker == 0xDA {
            let start = pos;
            while whole[pos] != 0xFF || matches!(whole[pos + 1], 0x00 | 0xD0..=0xD7) {
                pos += 1;
            }
            scans.push((start, pos));
        }
    }
    scans
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7 + y) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8])
    });
    let mut bytes = Vec::new();
    DynamicImage::ImageRgb8(image)
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
        .unwrap();
    bytes
}

#[test]
fn a_jpeg_is_truncated_when_no_end_marker_follows_its_scans() {
    let whole = jpeg(64, 48);
    assert!(!ends_inside_a_scan(&whole));
    assert!(ends_inside_a_scan(&whole[..whole.len() - 2]));
    assert!(ends_inside_a_scan(&whole[..whole.len() / 2]));
    // A thumbnail in an APP1 segment (as EXIF keeps one) has its own end marker: skipped.
    let thumbnail = jpeg(8, 8);
    let app1 = [
        &[0xFF, 0xE1][..],
        &u16::try_from(thumbnail.len() + 2).unwrap().to_be_bytes(),
        &thumbnail,
    ]
    .concat();
    let with_thumbnail = [&whole[..2], &app1, &whole[2..]].concat();
    assert!(!ends_inside_a_scan(&with_thumbnail));
    assert!(ends_inside_a_scan(&with_thumbnail[..with_thumbnail.len() - 2]));
    // No scan at all is a broken header, reported by the decoder, not truncation.
    assert!(!ends_inside_a_scan(&[0xFF, 0xD8, 0x00]));
    assert!(!ends_inside_a_scan(&whole[..20]));
}

#[test]
fn data_cut_short_is_found_even_with_a_new_end_marker() {
    for (width, height) in [(64, 48), (333, 127), (8, 8), (1, 1)] {
        let whole = jpeg(width, height);
        assert_eq!(exact(&whole), Some(false), "{width}×{height}");
        assert!(!jpeg_is_truncated(&whole, MAX));
        let scan = whole.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
        // Every cut inside the scan data, each given an end marker again.
        let data_start = scan + 2 + usize::from(u16::from_be_bytes([whole[scan + 2], whole[scan + 3]]));
        let mut missed = Vec::new();
        for cut in data_start..whole.len() - 2 {
            let mut cut_eoi = whole[..cut].to_vec();
            cut_eoi.extend_from_slice(&[0xFF, 0xD9]);
            if data_is_short(&cut_eoi, MAX) != Some(true) {
                missed.push(cut);
            }
        }
        // Only the last byte may be padding (the encoder pads the final byte with 1 bits).
        assert!(
            missed.len() <= 1,
            "{width}×{height}: cuts not found: {missed:?} of {}..{}",
            data_start,
            whole.len() - 2
        );
    }
}

#[test]
fn every_single_bit_flip_gives_an_answer() {
    // Headers, tables and data alike: no panic, no endless walk, whatever a byte says.
    let whole = jpeg(40, 24);
    for i in 0..whole.len() {
        for bit in 0..8 {
            let mut flipped = whole.clone();
            flipped[i] ^= 1 << bit;
            let _ = jpeg_is_truncated(&flipped, MAX);
        }
    }
}

#[test]
fn restart_intervals_are_followed_with_or_without_fill_bytes() {
    let whole = fixture("restart.jpg");
    let restarts: Vec<usize> = (0..whole.len() - 1)
        .filter(|&i| whole[i] == 0xFF && (0xD0..=0xD7).contains(&whole[i + 1]))
        .collect();
    assert_eq!(
        restarts.len(),
        3,
        "the fixture has a restart every 3 of its 12 MCUs"
    );
    assert_eq!(exact(&whole), Some(false));
    // Fill bytes (FF FF …) may come before any marker, restarts included.
    let mut filled = whole.clone();
    for &at in restarts.iter().rev() {
        filled.splice(at..at, [0xFF, 0xFF]);
    }
    assert_eq!(exact(&filled), Some(false));
    assert!(image::load_from_memory(&filled).is_ok());
    // Cut right after a restart marker, or just before one, and given an end marker.
    for cut in [restarts[1] + 2, restarts[2] - 1] {
        let cut_eoi = [&whole[..cut], &[0xFF, 0xD9][..]].concat();
        assert_eq!(data_is_short(&cut_eoi, MAX), Some(true), "cut at {cut}");
    }
}

#[test]
fn data_after_the_end_marker_is_not_read() {
    // A motion photo keeps a video after the image; its bytes may contain FF DA.
    let mut motion = jpeg(64, 48);
    motion.extend_from_slice(&[0x00, 0x00, 0x00, 0x18, b'f', b't', b'y', b'p', 0xFF, 0xDA, 0x12]);
    assert!(!ends_inside_a_scan(&motion));
    assert_eq!(data_is_short(&motion, MAX), Some(false));
    assert!(!jpeg_is_truncated(&motion, MAX));
}

/// The file cut at 60% of its data (and given a new end marker when `eoi`).
fn cut_at_60_percent(whole: &[u8], eoi: bool) -> Vec<u8> {
    let end: &[u8] = if eoi { &[0xFF, 0xD9] } else { &[] };
    [&whole[..whole.len() * 6 / 10], end].concat()
}

#[test]
fn stray_bytes_before_a_marker_are_skipped_as_the_decoder_skips_them() {
    // A byte or two before a segment (the decoder takes them) once stopped the walk and the
    // end-marker check alike, so a file cut after them was captioned without a warning.
    for name in ["restart.jpg", "progressive.jpg"] {
        let whole = fixture(name);
        for marker in [0xC4, 0xDA] {
            let at = whole.windows(2).position(|w| w == [0xFF, marker]).unwrap();
            // `FF 00` is no marker to the decoder, whatever follows it.
            for stray in [
                &[0x00][..],
                &[0xAB, 0xCD],
                &[0xFF, 0x00, 0xD9],
                &[0xFF, 0x00, 0xC4],
            ] {
                let strayed = [&whole[..at], stray, &whole[at..]].concat();
                assert!(image::load_from_memory(&strayed).is_ok(), "{name}");
                assert_eq!(data_is_short(&strayed, MAX), Some(false), "{name} {stray:?}");
                assert!(!jpeg_is_truncated(&strayed, MAX), "{name} {stray:?}");
                for eoi in [false, true] {
                    let cut = cut_at_60_percent(&strayed, eoi);
                    assert!(
                        jpeg_is_truncated(&cut, MAX),
                        "{name} {stray:?} cut, end marker {eoi}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_sequential_scan_codes_every_coefficient_whatever_its_band_says() {
    // libjpeg warns and decodes such a scan whole; so does zune-jpeg, and the walk follows it.
    let whole = fixture("restart.jpg");
    let scan = whole.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let band = scan + 5 + 2 * usize::from(whole[scan + 4]);
    for (offset, value) in [(0, 5), (1, 0), (2, 0x11)] {
        let mut odd = whole.clone();
        odd[band + offset] = value;
        assert!(image::load_from_memory(&odd).is_ok());
        assert_eq!(exact(&odd), Some(false), "Ss, Se, Ah·16+Al [{offset}] = {value}");
        assert!(jpeg_is_truncated(&cut_at_60_percent(&odd, true), MAX));
    }
}

#[test]
fn repeated_component_ids_are_not_judged() {
    let mut whole = jpeg(16, 16);
    let frame = whole.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    // The second and third components take the first one's id (1).
    whole[frame + 2 + 2 + 6 + 3] = whole[frame + 2 + 2 + 6];
    whole[frame + 2 + 2 + 6 + 6] = whole[frame + 2 + 2 + 6];
    assert_eq!(data_is_short(&whole, MAX), None);
}

#[test]
fn progressive_data_cut_short_is_found_inside_a_scan_or_between_two() {
    for name in PROGRESSIVE {
        let whole = fixture(name);
        assert_eq!(exact(&whole), Some(false), "{name}");
        let scans = scan_data(&whole);
        assert!(
            scans.len() >= 6,
            "{name}: libjpeg's script has DC, AC and refinement scans"
        );
        let mut missed = Vec::new();
        for &(start, end) in &scans {
            // Cut anywhere in the scan's data, or right after it (the scans after are gone).
            for cut in start..=end {
                let cut_eoi = [&whole[..cut], &[0xFF, 0xD9][..]].concat();
                if cut < whole.len() - 2 && data_is_short(&cut_eoi, MAX) != Some(true) {
                    missed.push(cut);
                }
            }
        }
        // Only a scan's last byte may be all padding (the encoder pads it with 1 bits).
        assert!(
            missed
                .iter()
                .all(|&cut| scans.iter().any(|&(_, end)| cut == end - 1)),
            "{name}: cuts not found: {missed:?} in scans {scans:?}"
        );
    }
}

#[test]
fn a_progressive_file_needs_every_bit_of_every_coefficient() {
    let whole = fixture("progressive.jpg");
    let scans = scan_data(&whole);
    // Drop the last scan (its header and data) only: the others are whole and say nothing wrong.
    let (_, last_end) = *scans.last().unwrap();
    let header = whole[..last_end]
        .windows(2)
        .rposition(|w| w == [0xFF, 0xDA])
        .unwrap();
    let without_last = [&whole[..header], &whole[last_end..]].concat();
    assert_eq!(data_is_short(&without_last, MAX), Some(true));
    assert!(
        image::load_from_memory(&without_last).is_ok(),
        "the decoder takes it silently"
    );
    // The trade-off: an encoder may stop short of the last bits on purpose (`cjpeg -scans`
    // with a script of its own; no encoder's default does). Such a file is coarser than its
    // format allows, as a cut one is, and is warned about too.
    assert_eq!(
        data_is_short(&one_block_progressive(&[[0, 0, 1], [1, 63, 1]]), MAX),
        Some(true)
    );
}

#[test]
fn a_file_missing_only_its_end_marker_had_nothing_filled_in() {
    for whole in [jpeg(64, 48), fixture("restart.jpg"), fixture("progressive.jpg")] {
        let unended = &whole[..whole.len() - 2];
        assert_eq!(exact(unended), Some(false));
        assert!(!jpeg_is_truncated(unended, MAX));
        // Had the decoder refused it, its error would say the file stops early.
        assert!(jpeg_is_cut(unended, MAX));
        assert!(!jpeg_is_cut(&whole, MAX));
        // Cut inside fill bytes before the end marker: nothing is missing either.
        let filled = [unended, &[0xFF, 0xFF]].concat();
        assert_eq!(data_is_short(&filled, MAX), Some(false));
    }
    // A progressive file that ends after a scan, with scans still to come, is short.
    let progressive = fixture("progressive.jpg");
    let (_, first_end) = scan_data(&progressive)[0];
    assert_eq!(data_is_short(&progressive[..first_end], MAX), Some(true));
}

#[test]
fn progressive_scans_the_standard_forbids_are_not_judged() {
    let whole = fixture("progressive.jpg");
    let first = whole.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let count = usize::from(whole[first + 4]);
    let band = first + 5 + 2 * count;
    // The first scan (DC of every component, Al = 1) made a refinement (Ah = 2, Al = 1) with
    // nothing to refine, then an AC band over three components.
    let mut refine_first = whole.clone();
    refine_first[band + 2] = 0x21;
    assert_eq!(data_is_short(&refine_first, MAX), None);
    let mut interleaved_ac = whole.clone();
    interleaved_ac[band + 1] = 5;
    interleaved_ac[band] = 1;
    assert_eq!(data_is_short(&interleaved_ac, MAX), None);
}

#[test]
fn a_frame_over_the_pixel_budget_is_not_walked() {
    let whole = fixture("progressive.jpg");
    assert_eq!(data_is_short(&whole, 64 * 48), Some(false));
    assert_eq!(data_is_short(&whole, 64 * 48 - 1), None);
}

#[test]
fn every_single_bit_flip_of_a_progressive_file_gives_an_answer() {
    for name in PROGRESSIVE {
        let whole = fixture(name);
        for i in 0..whole.len() {
            for bit in 0..8 {
                let mut flipped = whole.clone();
                flipped[i] ^= 1 << bit;
                let _ = jpeg_is_truncated(&flipped, MAX);
            }
        }
    }
}

/// An 8×8 grey progressive JPEG with the given scans (Ss, Se, Ah·16 + Al), each one byte of
/// data: every DC difference 0, every AC band empty (one-code tables, code 0).
fn one_block_progressive(scans: &[[u8; 3]]) -> Vec<u8> {
    let mut jpeg = vec![0xFF, 0xD8];
    jpeg.extend_from_slice(&[0xFF, 0xC2, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0]);
    let mut one_code = [0u8; 16];
    one_code[0] = 1;
    for class in [0x00, 0x10] {
        jpeg.extend_from_slice(&[0xFF, 0xC4, 0, 20, class]);
        jpeg.extend_from_slice(&one_code);
        jpeg.push(0); // the symbol: DC size 0, or AC end of band
    }
    for scan in scans {
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0x00]);
        jpeg.extend_from_slice(scan);
        jpeg.push(0x00);
    }
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

#[test]
fn scans_past_the_visit_budget_are_not_walked() {
    assert_eq!(
        data_is_short(&one_block_progressive(&[[0, 0, 0], [1, 63, 0]]), MAX),
        Some(false)
    );
    assert_eq!(
        data_is_short(&one_block_progressive(&[[0, 0, 0]]), MAX),
        Some(true)
    );
    // Every coefficient coded from bit 13 down, one scan a bit: 64 × 14 scans of one block.
    let mut scans = vec![[0, 0, 13]];
    scans.extend((1..=13).rev().map(|high| [0, 0, high << 4 | (high - 1)]));
    for k in 1..64 {
        scans.push([k, k, 13]);
        scans.extend((1..=13).rev().map(|high| [k, k, high << 4 | (high - 1)]));
    }
    assert_eq!(scans.len(), 64 * 14);
    assert_eq!(
        data_is_short(&one_block_progressive(&scans[..64]), MAX),
        Some(true)
    );
    assert_eq!(data_is_short(&one_block_progressive(&scans), MAX), None);
}

#[test]
fn a_second_frame_or_a_fifth_component_is_not_judged() {
    let whole = one_block_progressive(&[[0, 0, 0], [1, 63, 0]]);
    let (head, frame, rest) = (&whole[..2], &whole[2..15], &whole[15..]);
    assert_eq!(data_is_short(&[head, frame, frame, rest].concat(), MAX), None);
    // The frame with `count` components, ids 1, 2, …: only the first is ever scanned.
    let with_components = |count: u8| {
        let mut frame = vec![0xFF, 0xC2, 0, 8 + 3 * count, 8, 0, 8, 0, 8, count];
        for id in 1..=count {
            frame.extend_from_slice(&[id, 0x11, 0]);
        }
        [head, &frame, rest].concat()
    };
    assert_eq!(data_is_short(&with_components(1), MAX), Some(false));
    assert_eq!(data_is_short(&with_components(4), MAX), Some(true));
    assert_eq!(data_is_short(&with_components(5), MAX), None);
}

/// Bits from a string of 0s and 1s, then the sentinel byte A5 (to show where reading stopped),
/// then zeros.
fn bit_bytes(bits: &str) -> Vec<u8> {
    let bits: Vec<u8> = bits
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| b - b'0')
        .collect();
    let mut bytes: Vec<u8> = bits
        .chunks(8)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0, |byte, (i, &bit)| byte | bit << (7 - i))
        })
        .collect();
    assert_eq!(bits.len() % 8, 0, "whole bytes, so the sentinel is byte-aligned");
    bytes.extend_from_slice(&[0xA5, 0, 0, 0, 0, 0, 0, 0]);
    bytes
}

/// An AC table: EOB `0`, (run 0, size 1) `10`, ZRL `110`, an EOB run of 2–3 blocks `1110`,
/// (run 1, size 1) `1111`.
fn refinement_table() -> Huffman {
    let mut counts = [0u8; 16];
    counts[..4].copy_from_slice(&[1, 1, 1, 2]);
    Huffman::new(&counts, &[0x00, 0x01, 0xF0, 0x10, 0x11]).unwrap()
}

#[test]
fn a_refinement_reads_a_correction_bit_for_each_nonzero_coefficient() {
    let ac = refinement_table();
    // Nonzero at 1 and 3; (run 1, size 1): sign, correction bits for 1 and 3 (passed on the
    // way), the new coefficient on 4 (the second zero one); then end of band.
    let bytes = bit_bytes("1111 1 0 1 0");
    let mut bits = Bits::new(&bytes, 0);
    let mut band = AcBand::new(&ac, &(1..=63));
    let mut nonzero = 1 << 1 | 1 << 3;
    band.refine(&mut bits, &mut nonzero).unwrap();
    assert_eq!((nonzero, band.end_of_band), (1 << 1 | 1 << 3 | 1 << 4, 0));
    assert_eq!(bits.get(8), 0xA5);
    // ZRL passes 16 zero coefficients (and the nonzero one at 2, reading its bit), places none.
    let bytes = bit_bytes("110 1 0 111");
    let mut bits = Bits::new(&bytes, 0);
    let mut nonzero = 1 << 2;
    band.refine(&mut bits, &mut nonzero).unwrap();
    assert_eq!((nonzero, band.end_of_band), (1 << 2, 0));
    assert_eq!(bits.get(3), 0b111, "the band ended right after the ZRL's EOB");
    assert_eq!(bits.get(8), 0xA5);
}

#[test]
fn end_of_band_runs_span_blocks_in_first_and_refinement_scans() {
    let ac = refinement_table();
    // A refinement run of 2 blocks (EOB1, extra bit 0), both with nonzero 1 and 5: each reads
    // two correction bits and nothing else.
    let bytes = bit_bytes("1110 0 11 01 0000000");
    let mut bits = Bits::new(&bytes, 0);
    let mut band = AcBand::new(&ac, &(1..=63));
    for _ in 0..2 {
        let mut nonzero = 1 << 1 | 1 << 5;
        band.refine(&mut bits, &mut nonzero).unwrap();
        assert_eq!(nonzero, 1 << 1 | 1 << 5);
    }
    assert_eq!(band.end_of_band, 0);
    assert_eq!(bits.get(7), 0);
    assert_eq!(bits.get(8), 0xA5);
    // A first scan: EOB1 with extra bit 1 is a run of 3 blocks, this one and 2 more that read
    // nothing; the fourth reads a code again (EOB).
    let bytes = bit_bytes("1110 1 0 00");
    let mut bits = Bits::new(&bytes, 0);
    for left in [2, 1, 0, 0] {
        let mut nonzero = 0;
        band.first(&mut bits, &mut nonzero).unwrap();
        assert_eq!((band.end_of_band, nonzero), (left, 0));
    }
    assert_eq!(bits.get(2), 0);
    assert_eq!(bits.get(8), 0xA5);
}

#[test]
fn data_left_over_after_the_last_block_is_skipped() {
    // Some encoders pad a scan with whole blocks the frame does not need: no cut, no warning.
    let whole = jpeg(24, 16);
    let padded = [&whole[..whole.len() - 2], &[0x12, 0x34, 0x56, 0xFF, 0xD9][..]].concat();
    assert!(image::load_from_memory(&padded).is_ok());
    assert_eq!(data_is_short(&padded, MAX), Some(false));
    assert!(!jpeg_is_truncated(&padded, MAX));
    assert_eq!(exact(&padded), None);
}
