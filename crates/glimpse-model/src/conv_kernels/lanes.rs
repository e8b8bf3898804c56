//! Four f32 lanes: WebAssembly SIMD in the browser, a plain array elsewhere, which the compiler
//! vectorises. Both round the product and the sum separately, so they compute the same values;
//! except in the relaxed-SIMD module (feature `relaxed-simd`), whose `mul_add` is
//! `f32x4.relaxed_madd`: fused (rounded once) where the machine has FMA, as x86-64's and ARM's
//! browsers do.
//!
//! A function that calls the fused `mul_add` needs the target feature too, or the compiler
//! leaves each multiply-add as a call: each kernel function that multiplies-adds, and its
//! callers down to the kernel's entry, carry `target_feature(enable = "relaxed-simd")` in that
//! module.

#[cfg(target_arch = "wasm32")]
pub use wasm::F32x4;

#[cfg(not(target_arch = "wasm32"))]
pub use portable::F32x4;

#[cfg(target_arch = "wasm32")]
mod wasm {
    use core::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct F32x4(v128);

    impl F32x4 {
        #[inline(always)]
        pub fn zero() -> Self {
            F32x4(f32x4_splat(0.0))
        }

        #[inline(always)]
        pub fn splat(x: f32) -> Self {
            F32x4(f32x4_splat(x))
        }

        #[inline(always)]
        pub fn load(lanes: &[f32; 4]) -> Self {
            // SAFETY: `lanes` is 16 readable bytes; `v128_load` needs no alignment.
            F32x4(unsafe { v128_load(lanes.as_ptr().cast()) })
        }

        #[inline(always)]
        pub fn store(self, lanes: &mut [f32; 4]) {
            // SAFETY: `lanes` is 16 writable bytes; `v128_store` needs no alignment.
            unsafe { v128_store(lanes.as_mut_ptr().cast(), self.0) }
        }

        /// `self + a·b`, rounded twice.
        #[cfg(not(feature = "relaxed-simd"))]
        #[inline(always)]
        pub fn mul_add(self, a: Self, b: Self) -> Self {
            F32x4(f32x4_add(self.0, f32x4_mul(a.0, b.0)))
        }

        /// `self + a·b`, fused or rounded twice, as the engine's machine does it.
        #[cfg(feature = "relaxed-simd")]
        #[inline]
        #[target_feature(enable = "relaxed-simd")]
        pub fn mul_add(self, a: Self, b: Self) -> Self {
            F32x4(f32x4_relaxed_madd(a.0, b.0, self.0))
        }

        #[inline(always)]
        pub fn add(self, other: Self) -> Self {
            F32x4(f32x4_add(self.0, other.0))
        }

        /// `min(max(self, 0), 6)` lane by lane; WebAssembly's `min` and `max` keep NaN.
        #[inline(always)]
        pub fn relu6(self) -> Self {
            F32x4(f32x4_min(f32x4_max(self.0, f32x4_splat(0.0)), f32x4_splat(6.0)))
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod portable {
    #[derive(Clone, Copy)]
    pub struct F32x4([f32; 4]);

    impl F32x4 {
        #[inline(always)]
        pub fn zero() -> Self {
            F32x4([0.0; 4])
        }

        #[inline(always)]
        pub fn splat(x: f32) -> Self {
            F32x4([x; 4])
        }

        #[inline(always)]
        pub fn load(lanes: &[f32; 4]) -> Self {
            F32x4(*lanes)
        }

        #[inline(always)]
        pub fn store(self, lanes: &mut [f32; 4]) {
            *lanes = self.0;
        }

        /// `self + a·b`, rounded twice, as in WebAssembly.
        #[inline(always)]
        pub fn mul_add(self, a: Self, b: Self) -> Self {
            F32x4(std::array::from_fn(|lane| self.0[lane] + a.0[lane] * b.0[lane]))
        }

        #[inline(always)]
        pub fn add(self, other: Self) -> Self {
            F32x4(std::array::from_fn(|lane| self.0[lane] + other.0[lane]))
        }

        #[inline(always)]
        pub fn relu6(self) -> Self {
            F32x4(self.0.map(super::super::epilogue::relu6))
        }
    }
}
