//! What a kernel applies to each output as it stores it.

use super::lanes::F32x4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epilogue {
    /// `y`.
    Identity,
    /// `min(max(y, 0), 6)`, NaN kept (as burn's `relu` then `clamp_max`).
    Relu6,
}

impl Epilogue {
    #[inline(always)]
    pub fn scalar(self, y: f32) -> f32 {
        match self {
            Epilogue::Identity => y,
            Epilogue::Relu6 => relu6(y),
        }
    }

    #[inline(always)]
    pub fn lanes(self, y: F32x4) -> F32x4 {
        match self {
            Epilogue::Identity => y,
            Epilogue::Relu6 => y.relu6(),
        }
    }
}

/// `min(max(y, 0), 6)` with NaN kept (`f32::max` would turn NaN into 0); `if` rather than
/// `clamp`, which asserts its bounds and keeps a loop from vectorising.
#[allow(clippy::manual_clamp)]
#[inline(always)]
pub fn relu6(y: f32) -> f32 {
    if y < 0.0 {
        0.0
    } else if y > 6.0 {
        6.0
    } else {
        y
    }
}
