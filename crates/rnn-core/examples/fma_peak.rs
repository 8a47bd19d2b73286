//! Measures the peak rate of `f32` fused multiply-adds on one core, the arithmetic floor
//! against which `cargo xtask bench train` sets the iteration times of `latch_bptt`.
//!
//! Twelve independent chains of register-to-register multiply-adds, enough to keep two FMA
//! units busy at a latency of up to 6 cycles, run in 512-bit (AVX-512F) and in 256-bit
//! (AVX2 with FMA) registers, or as plain loops on other CPUs. The faster width counts, and
//! the best of five runs is printed as one JSON line:
//! `{"tool": "fma-peak", "kernel": ..., "f32_fma_per_s": ...}`. Where both widths reach the
//! same rate (AMD Zen 4 runs 512-bit operations on 256-bit units), either `kernel` may be
//! reported. Run it alone on an idle core, as the benchmark harness does.
//!
//! ```text
//! cargo run -p rnn-core --release --example fma_peak
//! ```

use std::time::Instant;

/// Independent accumulator chains per run.
const CHAINS: usize = 12;
/// Rounds of `CHAINS` multiply-adds per run: 6.1e9 multiply-adds in 512-bit registers,
/// about 0.1 s at 5.9e10 per second (AMD EPYC Zen 4, one core).
const ROUNDS: usize = 32_000_000;
/// Runs, of which the fastest counts.
const RUNS: usize = 5;

/// Returns the best rate over [`RUNS`] runs of `run`, which performs `ROUNDS * CHAINS`
/// vector multiply-adds of `width` lanes each.
fn best_rate(width: usize, run: impl Fn() -> f32) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..RUNS {
        let start = Instant::now();
        std::hint::black_box(run());
        let seconds = start.elapsed().as_secs_f64();
        best = best.max((ROUNDS * CHAINS * width) as f64 / seconds);
    }
    best
}

/// Runs the chains in 512-bit registers and returns their sum.
///
/// # Safety
/// The CPU must support avx512f.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chains_avx512() -> f32 {
    use std::arch::x86_64::*;
    let factor = _mm512_set1_ps(0.999_999);
    let offset = _mm512_set1_ps(1e-7);
    let mut acc = [_mm512_set1_ps(1.0); CHAINS];
    for _ in 0..ROUNDS {
        for a in acc.iter_mut() {
            *a = _mm512_fmadd_ps(*a, factor, offset);
        }
    }
    acc.iter().map(|&a| _mm512_reduce_add_ps(a)).sum()
}

/// Runs the chains in 256-bit registers and returns their sum.
///
/// # Safety
/// The CPU must support avx2 and fma.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chains_avx2() -> f32 {
    use std::arch::x86_64::*;
    let factor = _mm256_set1_ps(0.999_999);
    let offset = _mm256_set1_ps(1e-7);
    let mut acc = [_mm256_set1_ps(1.0); CHAINS];
    for _ in 0..ROUNDS {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, factor, offset);
        }
    }
    let mut lanes = [0.0f32; 8];
    let mut sum = 0.0;
    for a in acc {
        _mm256_storeu_ps(lanes.as_mut_ptr(), a);
        sum += lanes.iter().sum::<f32>();
    }
    sum
}

/// Runs the chains as plain loops over 8 lanes, a multiply and an add each, and returns
/// their sum.
fn chains_portable() -> f32 {
    let mut acc = [[1.0f32; 8]; CHAINS];
    for _ in 0..ROUNDS {
        for a in acc.iter_mut() {
            for lane in a.iter_mut() {
                *lane = *lane * 0.999_999 + 1e-7;
            }
        }
    }
    acc.iter().flatten().sum()
}

fn main() {
    let mut measured: Option<(&str, f64)> = None;
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU reports avx512f.
            measured = Some(("avx512f", best_rate(16, || unsafe { chains_avx512() })));
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU reports avx2 and fma.
            let rate = best_rate(8, || unsafe { chains_avx2() });
            if measured.is_none_or(|(_, best)| rate > best) {
                measured = Some(("avx2+fma", rate));
            }
        }
    }
    let (kernel, rate) = measured.unwrap_or_else(|| ("portable", best_rate(8, chains_portable)));
    let line = serde_json::json!({
        "tool": "fma-peak",
        "kernel": kernel,
        "f32_fma_per_s": rate,
    });
    println!("{line}");
}
