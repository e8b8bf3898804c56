//! Reading past one block's codes in each kind of scan (Annex F for sequential, G.1.2 for
//! progressive): what is read, never what it means, except the nonzero history a refinement
//! needs. Each returns `None` for codes no encoder writes.

use std::ops::RangeInclusive;

use super::bits::Bits;
use super::huffman::Huffman;

/// A sequential block: a DC difference and up to 63 AC coefficients.
pub(super) fn sequential(bits: &mut Bits, dc: &Huffman, ac: &Huffman) -> Option<()> {
    dc_first(bits, dc)?;
    let mut k = 1;
    while k < 64 {
        let run_size = ac.decode(bits)?;
        let (run, size) = (run_size >> 4, run_size & 15);
        if size == 0 {
            if run != 15 {
                break; // end of block
            }
            k += 16;
        } else {
            bits.get(u32::from(size));
            k += usize::from(run) + 1;
        }
    }
    Some(())
}

/// A DC difference: its size, then that many bits.
pub(super) fn dc_first(bits: &mut Bits, dc: &Huffman) -> Option<()> {
    let size = dc.decode(bits)?;
    if size > 16 {
        return None;
    }
    bits.get(u32::from(size));
    Some(())
}

/// The first scan of an AC band: coefficients as (zero run, size) codes, or a run of blocks
/// with nothing left in the band (`end_of_band`, counting blocks still to skip after this one).
pub(super) fn ac_first(
    bits: &mut Bits,
    ac: &Huffman,
    band: RangeInclusive<usize>,
    end_of_band: &mut u32,
    nonzero: &mut u64,
) -> Option<()> {
    if *end_of_band > 0 {
        *end_of_band -= 1;
        return Some(());
    }
    let (mut k, end) = (*band.start(), *band.end());
    while k <= end {
        let run_size = ac.decode(bits)?;
        let (run, size) = (u32::from(run_size >> 4), u32::from(run_size & 15));
        if size == 0 {
            if run < 15 {
                *end_of_band = (1 << run) - 1 + bits.get(run);
                break;
            }
            k += 16;
        } else {
            k += run as usize;
            if k > end {
                return None;
            }
            bits.get(size);
            *nonzero |= 1 << k;
            k += 1;
        }
    }
    Some(())
}

/// A refinement scan of an AC band: a correction bit for each coefficient already nonzero, and
/// newly nonzero coefficients (±1) placed by counting zero ones (G.1.2.3).
pub(super) fn ac_refine(
    bits: &mut Bits,
    ac: &Huffman,
    band: RangeInclusive<usize>,
    end_of_band: &mut u32,
    nonzero: &mut u64,
) -> Option<()> {
    let (mut k, end) = (*band.start(), *band.end());
    while *end_of_band == 0 && k <= end {
        let run_size = ac.decode(bits)?;
        let (mut run, size) = (run_size >> 4, run_size & 15);
        if size == 0 && run < 15 {
            // This block is the first of the run.
            *end_of_band = (1 << run) + bits.get(u32::from(run));
            break;
        }
        if size > 1 {
            return None;
        }
        bits.get(u32::from(size)); // the new coefficient's sign
        // Past nonzero coefficients (a correction bit each) and `run` zero ones: k stops on
        // the zero coefficient that becomes nonzero (or, for 16 zeros, the 16th).
        while k <= end {
            if *nonzero & (1 << k) != 0 {
                bits.get(1);
            } else if run == 0 {
                break;
            } else {
                run -= 1;
            }
            k += 1;
        }
        if size == 1 {
            if k > end {
                return None;
            }
            *nonzero |= 1 << k;
        }
        k += 1;
    }
    if *end_of_band > 0 {
        // Nothing new in the rest of the band: only correction bits.
        for k in k..=end {
            if *nonzero & (1 << k) != 0 {
                bits.get(1);
            }
        }
        *end_of_band -= 1;
    }
    Some(())
}
