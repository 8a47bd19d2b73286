//! Inner loops of the dense engine: adding weight rows into the delay buffer and advancing
//! noiseless neurons with an exponential synapse.
//!
//! The neuron loop has one portable body, which x86-64 builds also compile for AVX2 and for
//! AVX-512. The row addition has a portable version and hand-written AVX2 and AVX-512 versions.
//! Every version does the same IEEE operations on every element in the same order. Widening `f32` to `f64` is
//! exact, and Rust never fuses a multiplication and an addition into an FMA, so every version
//! gives the same bits. The tests at the bottom compare each version with the portable one.

use std::ops::Range;

/// Largest number of weight rows added in one pass over the targets.
pub(crate) const MAX_GROUP: usize = 8;

/// Instruction set of the inner loops, picked when a simulation is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// Baseline instructions of the target (SSE2 on x86-64).
    Portable,
    /// AVX2 (256-bit vectors).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512 F, VL, BW and DQ (512-bit vectors).
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Isa {
    /// Returns the widest instruction set that this CPU supports.
    pub(crate) fn detect() -> Isa {
        Isa::available().last().copied().unwrap_or(Isa::Portable)
    }

    /// Returns every instruction set that this CPU supports, narrowest first.
    pub(crate) fn available() -> Vec<Isa> {
        #[allow(unused_mut)]
        let mut isas = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                isas.push(Isa::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512dq")
            {
                isas.push(Isa::Avx512);
            }
        }
        isas
    }

    /// Adds `rows` (each as long as `targets`) to `targets`, in order.
    pub(crate) fn add_rows(self, targets: &mut [f64], rows: &[&[f32]]) {
        for row in rows {
            assert_eq!(
                row.len(),
                targets.len(),
                "a weight row is as long as its targets"
            );
        }
        match self {
            Isa::Portable => add_rows_portable(targets, rows),
            // SAFETY: `Isa::available` lists `Avx2` only after detecting AVX2.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::add_rows_avx2(targets, rows) },
            // SAFETY: `Isa::available` lists `Avx512` only after detecting AVX-512 F.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::add_rows_avx512(targets, rows) },
        }
    }

    /// Advances `neurons` by one step; returns whether any of them fired.
    pub(crate) fn advance_exponential(
        self,
        constants: &ExponentialConstants,
        neurons: ExponentialNeurons<'_>,
    ) -> bool {
        match self {
            Isa::Portable => advance_exponential_body(constants, neurons),
            // SAFETY: `Isa::available` lists `Avx2` only after detecting AVX2.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::advance_exponential_avx2(constants, neurons) },
            // SAFETY: `Isa::available` lists `Avx512` only after detecting AVX-512 F, VL, BW
            // and DQ.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::advance_exponential_avx512(constants, neurons) },
        }
    }
}

/// Per-population constants of one step of a noiseless neuron with an exponential synapse.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ExponentialConstants {
    /// Jump of `I_syn` per unit of arriving weight.
    pub input_scale: f64,
    /// `exp(-dt / tau_syn)`.
    pub syn_decay: f64,
    /// `exp(-dt / tau_m)`.
    pub v_decay: f64,
    /// Gain from `I_syn` at the start of the step to `V` at its end.
    pub v_from_syn: f64,
    pub v_threshold: f64,
    pub v_reset: f64,
    pub refractory_steps: u32,
}

/// Per-neuron state of a contiguous range of neurons, all slices of one length.
pub(crate) struct ExponentialNeurons<'s> {
    pub potentials: &'s mut [f64],
    pub synaptic_currents: &'s mut [f64],
    pub refractory_left: &'s mut [u32],
    /// `v_drive * (bias + I_inj + b_i)`: the gain of the constant drive over one step.
    pub drive_gains: &'s [f64],
    /// Input arriving in this step; set to 0 once added.
    pub arrivals: &'s mut [f64],
    /// Set to 1 for each neuron that fired in this step, else 0.
    pub fired: &'s mut [u8],
}

/// Advances neurons by one step: input joins `I_syn`, then `V` integrates from the start-of-step
/// `I_syn`, then a neuron at or above threshold fires and resets, and a refractory neuron
/// stays at reset. The loop has no branches, so the compiler vectorises it.
#[inline(always)]
fn advance_exponential_body(c: &ExponentialConstants, neurons: ExponentialNeurons<'_>) -> bool {
    let len = neurons.potentials.len();
    let potentials = &mut neurons.potentials[..len];
    let currents = &mut neurons.synaptic_currents[..len];
    let refractory = &mut neurons.refractory_left[..len];
    let drive_gains = &neurons.drive_gains[..len];
    let arrivals = &mut neurons.arrivals[..len];
    let fired = &mut neurons.fired[..len];
    let mut any_fired = false;
    for i in 0..len {
        // Arriving input joins the synaptic current before integration.
        let syn_start = currents[i] + c.input_scale * arrivals[i];
        arrivals[i] = 0.0;
        currents[i] = c.syn_decay * syn_start;

        // Exact membrane step, threshold test and reset. The non-short-circuit `&` and `|`
        // keep every load unconditional, because a masked store followed by a masked load of
        // the same address stalls the vector loop.
        let v_end = c.v_decay * potentials[i] + drive_gains[i] + c.v_from_syn * syn_start;
        let left = refractory[i];
        let fire = (left == 0) & (v_end >= c.v_threshold);
        potentials[i] = if (left > 0) | fire { c.v_reset } else { v_end };
        refractory[i] = if fire {
            c.refractory_steps
        } else {
            left.saturating_sub(1)
        };
        fired[i] = u8::from(fire);
        any_fired |= fire;
    }
    any_fired
}

/// Adds rows to `targets` in groups of at most [`MAX_GROUP`]. Each target is loaded once per
/// group, gets the group's rows added in order (`f32` widened exactly to `f64`) and is stored
/// once. That rounds exactly as adding one row at a time does.
fn add_rows_portable(targets: &mut [f64], rows: &[&[f32]]) {
    for group in rows.chunks(MAX_GROUP) {
        for (i, target) in targets.iter_mut().enumerate() {
            let mut sum = *target;
            for row in group {
                sum += f64::from(row[i]);
            }
            *target = sum;
        }
    }
}

/// Appends `first_neuron + k` for every nonzero `fired[k]`, ascending.
pub(crate) fn push_fired(fired: &[u8], first_neuron: usize, spikes: &mut Vec<u32>) {
    // Spikes are rare: test eight neurons with one 64-bit word.
    let mut chunks = fired.chunks_exact(8);
    let mut chunk_start = first_neuron;
    for chunk in chunks.by_ref() {
        let mut word = u64::from_le_bytes(chunk.try_into().expect("chunks of eight bytes"));
        while word != 0 {
            // Byte `k` of the chunk is bits `8k..8k + 8` of the little-endian word.
            let byte = word.trailing_zeros() as usize / 8;
            spikes.push((chunk_start + byte) as u32);
            word &= !(0xff << (8 * byte));
        }
        chunk_start += 8;
    }
    for (k, &f) in chunks.remainder().iter().enumerate() {
        if f != 0 {
            spikes.push((chunk_start + k) as u32);
        }
    }
}

/// Returns the runs of consecutive `items` for which `same(previous, next)` holds, as ranges.
pub(crate) fn runs_of<T>(items: &[T], same: impl Fn(&T, &T) -> bool) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    for (k, item) in items.iter().enumerate() {
        match runs.last_mut() {
            Some(run) if same(&items[k - 1], item) => run.end = k + 1,
            _ => runs.push(k..k + 1),
        }
    }
    runs
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m256d, __m512d, _mm256_add_pd, _mm256_cvtps_pd, _mm256_loadu_pd, _mm256_storeu_pd,
        _mm512_add_pd, _mm512_cvtps_pd, _mm512_loadu_pd, _mm512_storeu_pd, _mm_loadu_ps,
        _mm_prefetch, _MM_HINT_T0,
    };

    use super::{
        add_rows_portable, advance_exponential_body, ExponentialConstants, ExponentialNeurons,
        MAX_GROUP,
    };

    /// Distance, in `f32` elements (1 KiB), at which the AVX-512 row addition prefetches each
    /// row ahead of the elements it adds. Rows start at unrelated addresses, and Intel's
    /// hardware prefetchers do not cross 4 KiB pages. On a loaded Sapphire Rapids core, the
    /// 10 000 neuron reference workload ran about 20% faster with this distance than without
    /// prefetching, and 128 or 512 elements were slower.
    const PREFETCH_ELEMENTS: usize = 256;

    /// Runs the portable neuron loop compiled for AVX2.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn advance_exponential_avx2(
        constants: &ExponentialConstants,
        neurons: ExponentialNeurons<'_>,
    ) -> bool {
        advance_exponential_body(constants, neurons)
    }

    /// Runs the portable neuron loop compiled for AVX-512.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F, VL, BW and DQ.
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq")]
    pub(super) unsafe fn advance_exponential_avx512(
        constants: &ExponentialConstants,
        neurons: ExponentialNeurons<'_>,
    ) -> bool {
        advance_exponential_body(constants, neurons)
    }

    /// Adds rows with 256-bit vectors, eight targets per iteration.
    ///
    /// # Safety
    /// The CPU must support AVX2, and every row must be as long as `targets`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn add_rows_avx2(targets: &mut [f64], rows: &[&[f32]]) {
        let len = targets.len();
        let n_vector = len - len % 8;
        for group in rows.chunks(MAX_GROUP) {
            let target = targets.as_mut_ptr();
            for start in (0..n_vector).step_by(8) {
                // SAFETY: `start + 8 <= len`, and `targets` and every row have `len` elements.
                unsafe {
                    let mut low: __m256d = _mm256_loadu_pd(target.add(start));
                    let mut high: __m256d = _mm256_loadu_pd(target.add(start + 4));
                    for row in group {
                        let weights = row.as_ptr().add(start);
                        low = _mm256_add_pd(low, _mm256_cvtps_pd(_mm_loadu_ps(weights)));
                        high = _mm256_add_pd(high, _mm256_cvtps_pd(_mm_loadu_ps(weights.add(4))));
                    }
                    _mm256_storeu_pd(target.add(start), low);
                    _mm256_storeu_pd(target.add(start + 4), high);
                }
            }
            let tails: [&[f32]; MAX_GROUP] = std::array::from_fn(|g| match group.get(g) {
                Some(row) => &row[n_vector..],
                None => &[],
            });
            add_rows_portable(&mut targets[n_vector..], &tails[..group.len()]);
        }
    }

    /// Adds rows with 512-bit vectors, sixteen targets per iteration, prefetching every row
    /// [`PREFETCH_ELEMENTS`] ahead.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F, and every row must be as long as `targets`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn add_rows_avx512(targets: &mut [f64], rows: &[&[f32]]) {
        let len = targets.len();
        let n_vector = len - len % 16;
        let n_prefetched = n_vector.saturating_sub(PREFETCH_ELEMENTS) / 16 * 16;
        for group in rows.chunks(MAX_GROUP) {
            let mut pointers = [std::ptr::null::<f32>(); MAX_GROUP];
            for (pointer, row) in pointers.iter_mut().zip(group) {
                *pointer = row.as_ptr();
            }
            let pointers = &pointers[..group.len()];
            // SAFETY: both ranges end at or before `n_vector`, which is at most `len`.
            unsafe {
                add_rows_range_avx512::<true>(targets, pointers, 0..n_prefetched);
                add_rows_range_avx512::<false>(targets, pointers, n_prefetched..n_vector);
            }
            let tails: [&[f32]; MAX_GROUP] = std::array::from_fn(|g| match group.get(g) {
                Some(row) => &row[n_vector..],
                None => &[],
            });
            add_rows_portable(&mut targets[n_vector..], &tails[..group.len()]);
        }
    }

    /// Adds the rows starting at `rows` to `targets[range]`, sixteen elements at a time.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F. `range.end <= targets.len()`, every row has at least
    /// `targets.len()` elements, and `range.len()` is a multiple of 16.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn add_rows_range_avx512<const PREFETCH: bool>(
        targets: &mut [f64],
        rows: &[*const f32],
        range: std::ops::Range<usize>,
    ) {
        let target = targets.as_mut_ptr();
        for start in range.step_by(16) {
            // SAFETY: `start + 16 <= range.end`, within `targets` and every row. The
            // prefetched address is within the row when `PREFETCH` is set, and a prefetch
            // never faults.
            unsafe {
                let mut low: __m512d = _mm512_loadu_pd(target.add(start));
                let mut high: __m512d = _mm512_loadu_pd(target.add(start + 8));
                for &row in rows {
                    let weights = row.add(start);
                    if PREFETCH {
                        let ahead = weights.add(PREFETCH_ELEMENTS);
                        _mm_prefetch::<_MM_HINT_T0>(ahead.cast::<i8>());
                    }
                    let low_weights = std::arch::x86_64::_mm256_loadu_ps(weights);
                    let high_weights = std::arch::x86_64::_mm256_loadu_ps(weights.add(8));
                    low = _mm512_add_pd(low, _mm512_cvtps_pd(low_weights));
                    high = _mm512_add_pd(high, _mm512_cvtps_pd(high_weights));
                }
                _mm512_storeu_pd(target.add(start), low);
                _mm512_storeu_pd(target.add(start + 8), high);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_rows(n_rows: usize, len: usize) -> Vec<Vec<f32>> {
        (0..n_rows)
            .map(|r| {
                (0..len)
                    .map(|i| ((i * 7 + r * 13) % 23) as f32 * 0.37 - 4.1)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn add_rows_same_bits_for_every_isa() {
        // Every group size from 0 to 19 rows (up to three groups) and lengths around the
        // vector widths and the prefetch distance: each instruction set gives the bits of
        // adding one row at a time in `f64`.
        for len in [0, 1, 7, 8, 15, 16, 17, 37, 255, 256, 272, 300, 1000] {
            let rows = test_rows(19, len);
            let start: Vec<f64> = (0..len).map(|i| 1.0 / (i as f64 + 1.0)).collect();
            for n_rows in 0..rows.len() {
                let group: Vec<&[f32]> = rows[..n_rows].iter().map(Vec::as_slice).collect();
                let mut one_by_one = start.clone();
                for row in &group {
                    for (target, &w) in one_by_one.iter_mut().zip(*row) {
                        *target += f64::from(w);
                    }
                }
                for isa in Isa::available() {
                    let mut targets = start.clone();
                    isa.add_rows(&mut targets, &group);
                    assert_eq!(targets, one_by_one, "{isa:?}, {n_rows} rows of {len}");
                }
            }
        }
    }

    #[test]
    fn advance_exponential_same_bits_for_every_isa() {
        // 37 neurons (vector bodies and a remainder) near threshold, some refractory, over
        // 1000 steps with input arriving every third step: every instruction set gives the
        // same potentials, currents, refractory counts and spikes as the portable loop.
        let constants = ExponentialConstants {
            input_scale: 1.0,
            syn_decay: (-0.1f64 / 5.0).exp(),
            v_decay: (-0.1f64 / 20.0).exp(),
            v_from_syn: 0.004_9,
            v_threshold: 20.0,
            v_reset: 0.0,
            refractory_steps: 20,
        };
        let n = 37;
        let drive_gains: Vec<f64> = (0..n).map(|i| 0.2 + 0.005 * i as f64).collect();
        let run = |isa: Isa| {
            let mut potentials: Vec<f64> = (0..n).map(|i| (i as f64 * 0.53) % 20.0).collect();
            let mut currents = vec![0.0; n];
            let mut refractory: Vec<u32> = (0..n as u32).map(|i| i % 4).collect();
            let mut fired = vec![0u8; n];
            let mut spikes = Vec::new();
            for step in 0..1000 {
                let mut arrivals: Vec<f64> = (0..n)
                    .map(|i| {
                        if step % 3 == 0 {
                            (i % 5) as f64 - 1.7
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let any = isa.advance_exponential(
                    &constants,
                    ExponentialNeurons {
                        potentials: &mut potentials,
                        synaptic_currents: &mut currents,
                        refractory_left: &mut refractory,
                        drive_gains: &drive_gains,
                        arrivals: &mut arrivals,
                        fired: &mut fired,
                    },
                );
                assert!(
                    arrivals.iter().all(|&a| a == 0.0),
                    "{isa:?}: arrivals cleared"
                );
                assert_eq!(any, fired.contains(&1), "{isa:?}: any fired");
                push_fired(&fired, step * 1000, &mut spikes);
            }
            (potentials, currents, refractory, spikes)
        };
        let portable = run(Isa::Portable);
        assert!(portable.3.len() > 200, "{} spikes", portable.3.len());
        for isa in Isa::available() {
            assert_eq!(run(isa), portable, "{isa:?}");
        }
    }

    #[test]
    fn push_fired_lists_set_flags_in_order() {
        // Flags at both ends, several in one eight-byte word, and in the remainder.
        let mut fired = vec![0u8; 21];
        for k in [0, 3, 4, 7, 8, 15, 19, 20] {
            fired[k] = 1;
        }
        let mut spikes = vec![99];
        push_fired(&fired, 100, &mut spikes);
        assert_eq!(spikes, vec![99, 100, 103, 104, 107, 108, 115, 119, 120]);
    }

    #[test]
    fn runs_of_groups_equal_neighbours() {
        assert_eq!(runs_of::<u8>(&[], |a, b| a == b), vec![]);
        assert_eq!(
            runs_of(&[1, 1, 2, 2, 2, 1], |a, b| a == b),
            vec![0..2, 2..5, 5..6]
        );
    }
}
