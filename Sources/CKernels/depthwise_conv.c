// Depthwise convolution (see ckernels.h) over the stride phases of each channel (conv_phases.h):
// every tap one contiguous multiply-add over the whole output plane. (The per-line loop this
// replaced ran MobileNetV2's stride-2 layers at 3–4 GFLOP/s: `swiftlet bench … --profile`,
// docs/BENCHMARKS.md.)
#include "ckernels.h"
#include "conv_phases.h"
#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))

/// Positions computed per step of the vector loop (four sums of 8); the flat run is a multiple of it.
enum { STEP = 32 };

/// Floats the taps' offsets take at the start of scratch (int64 each, padded so the phases
/// that follow stay 32-byte aligned).
static int64_t offset_floats(const swk_conv_geometry *g) {
    return ((int64_t)g->kernel_h * g->kernel_w * 2 + 7) / 8 * 8;
}

int64_t swk_depthwise_scratch_floats(const swk_conv_geometry *g) {
    const conv_layout l = conv_layout_of(g, STEP);
    // The offsets, the phases, their slack, then the flat output run; rounded to 64 bytes, so
    // threads' scratches laid end to end keep the alignment and never share a cache line.
    const int64_t floats = offset_floats(g) + (int64_t)g->stride_h * g->stride_w * l.plane + conv_slack_floats(&l) + l.run;
    return (floats + 15) / 16 * 16;
}

/// out[t] = clamp(bias + Σ_tap weights[tap] · phases[offsets[tap] + t]) for t < run.
static void accumulate_portable(const float *phases, const int64_t *offsets, const float *weights, int64_t taps, float bias,
                                float lo, float hi, int64_t run, float *out) {
    for (int64_t t = 0; t < run; t++) out[t] = bias;
    for (int64_t tap = 0; tap < taps; tap++) {
        const float w = weights[tap], *source = phases + offsets[tap];
        for (int64_t t = 0; t < run; t++) out[t] += w * source[t];
    }
    // NaN passes through, as FusedClamp does: comparisons with NaN are false.
    for (int64_t t = 0; t < run; t++) out[t] = out[t] < lo ? lo : (out[t] > hi ? hi : out[t]);
}

AVX2 static void accumulate_avx2(const float *phases, const int64_t *offsets, const float *weights, int64_t taps, float bias,
                                 float lo, float hi, int64_t run, float *out) {
    const __m256 low = _mm256_set1_ps(lo), high = _mm256_set1_ps(hi);
    for (int64_t t = 0; t < run; t += STEP) {
        // Four independent sums hide the multiply-add latency.
        __m256 a0 = _mm256_set1_ps(bias), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t tap = 0; tap < taps; tap++) {
            const __m256 w = _mm256_broadcast_ss(weights + tap);
            const float *s = phases + offsets[tap] + t;
            a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(s), a0);
            a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(s + 8), a1);
            a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(s + 16), a2);
            a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(s + 24), a3);
        }
        // max(low, v) then min(high, ·) return v when v is NaN (the second operand): NaN passes.
        _mm256_storeu_ps(out + t, _mm256_min_ps(high, _mm256_max_ps(low, a0)));
        _mm256_storeu_ps(out + t + 8, _mm256_min_ps(high, _mm256_max_ps(low, a1)));
        _mm256_storeu_ps(out + t + 16, _mm256_min_ps(high, _mm256_max_ps(low, a2)));
        _mm256_storeu_ps(out + t + 24, _mm256_min_ps(high, _mm256_max_ps(low, a3)));
    }
}

void swk_depthwise_conv(const swk_conv_geometry *g, int64_t channels, int64_t p_begin, int64_t p_end, const float *x,
                        const float *w, const float *bias, float lo, float hi, float *scratch, float *y) {
    const conv_layout l = conv_layout_of(g, STEP);
    const int64_t taps = (int64_t)g->kernel_h * g->kernel_w;
    const int64_t phase_count = (int64_t)g->stride_h * g->stride_w;
    int64_t *offsets = (int64_t *)scratch;
    float *phases = scratch + offset_floats(g), *out = phases + phase_count * l.plane + conv_slack_floats(&l);
    memset(phases + phase_count * l.plane, 0, (size_t)conv_slack_floats(&l) * sizeof(float));
    conv_tap_offsets(g, &l, offsets);
    const int avx2 = swk_has_avx2();
    for (int64_t p = p_begin; p < p_end; p++) {
        const int64_t c = p % channels;
        conv_split_phases(g, &l, x + p * g->height * g->width, phases);
        const float b = bias ? bias[c] : 0;
        if (avx2) accumulate_avx2(phases, offsets, w + c * taps, taps, b, lo, hi, l.run, out);
        else accumulate_portable(phases, offsets, w + c * taps, taps, b, lo, hi, l.run, out);
        conv_copy_out(g, &l, out, y + p * g->out_h * g->out_w);
    }
}
