// Depthwise convolution (see ckernels.h). Each channel's padded input is first split into its
// stride phases: phase (rv, rh) holds padded rows rv, rv+sh, … and columns rh, rh+sw, …. Kernel
// tap (i, j) then reads phase ((i·dh) mod sh, (j·dw) mod sw) at a fixed offset from the output
// position, for every stride and dilation. Taking the output plane as one flat run of
// out_h × phase_width positions (the columns past out_w are computed and dropped), every tap is a
// contiguous multiply-add over the whole plane: no bounds test, no gather, and small planes
// (7×7, 14×14) still give the vector loop long runs. (The per-line loop this replaces ran
// MobileNetV2's stride-2 layers at 3–4 GFLOP/s: `swiftlet bench … --profile`, docs/BENCHMARKS.md.)
#include "ckernels.h"
#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))

/// Positions computed per step of the vector loop; the flat run is padded to a multiple of it.
enum { STEP = 32 };

typedef struct {
    int64_t phase_h, phase_w;  // rows and columns of one phase plane
    int64_t plane;             // floats per phase plane
    int64_t run;               // flat output positions computed: out_h · phase_w, rounded up to STEP
} layout;

static layout layout_of(const swk_depthwise_geometry *g) {
    // Only the padded rows and columns some output reads: the last tap of the last output.
    const int64_t rows = (g->out_h - 1) * g->stride_h + (int64_t)(g->kernel_h - 1) * g->dilation_h + 1;
    const int64_t columns = (g->out_w - 1) * g->stride_w + (int64_t)(g->kernel_w - 1) * g->dilation_w + 1;
    layout l;
    l.phase_h = (rows + g->stride_h - 1) / g->stride_h;
    l.phase_w = (columns + g->stride_w - 1) / g->stride_w;
    l.plane = l.phase_h * l.phase_w;
    l.run = (g->out_h * l.phase_w + STEP - 1) / STEP * STEP;
    return l;
}

/// Floats the taps' offsets take at the start of scratch (int64 each, padded so the phases
/// that follow stay 32-byte aligned).
static int64_t offset_floats(const swk_depthwise_geometry *g) {
    return ((int64_t)g->kernel_h * g->kernel_w * 2 + 7) / 8 * 8;
}

int64_t swk_depthwise_scratch_floats(const swk_depthwise_geometry *g) {
    const layout l = layout_of(g);
    // The offsets, the phases, slack for the padded run's reads past the last phase (a tap's
    // column offset is < phase_w), then the flat output run; rounded to 64 bytes, so threads'
    // scratches laid end to end keep the alignment and never share a cache line.
    const int64_t floats = offset_floats(g) + (int64_t)g->stride_h * g->stride_w * l.plane + l.phase_w + STEP + l.run;
    return (floats + 15) / 16 * 16;
}

/// ⌈a / b⌉ for b > 0 and any a.
static int64_t ceil_div(int64_t a, int64_t b) { return a > 0 ? (a + b - 1) / b : -((-a) / b); }

/// Writes every phase of one padded channel (zeros where the padding is).
static void split_phases(const swk_depthwise_geometry *g, const layout *l, const float *x, float *phases) {
    const int sh = g->stride_h, sw = g->stride_w;
    for (int rv = 0; rv < sh; rv++) {
        for (int rh = 0; rh < sw; rh++) {
            float *phase = phases + ((int64_t)rv * sw + rh) * l->plane;
            // Phase column b reads image column b·sw + rh − pad_left: inside for first ≤ b < end.
            int64_t first = ceil_div(g->pad_left - rh, sw), end = ceil_div(g->width + g->pad_left - rh, sw);
            first = first < 0 ? 0 : (first > l->phase_w ? l->phase_w : first);
            end = end < first ? first : (end > l->phase_w ? l->phase_w : end);
            for (int64_t a = 0; a < l->phase_h; a++) {
                float *line = phase + a * l->phase_w;
                const int64_t row = a * sh + rv - g->pad_top;
                // Plain loops, not memset/memcpy: lines are often a few floats long (7, 14, 28),
                // where a call costs more than the copy; the loops vectorize.
                if (row < 0 || row >= g->height) {
                    for (int64_t b = 0; b < l->phase_w; b++) line[b] = 0;
                    continue;
                }
                const float *source = x + row * g->width + rh - g->pad_left;
                for (int64_t b = 0; b < first; b++) line[b] = 0;
                // Strides 1 and 2 spelled out so the compiler sees a constant stride.
                if (sw == 1) {
                    for (int64_t b = first; b < end; b++) line[b] = source[b];
                } else if (sw == 2) {
                    for (int64_t b = first; b < end; b++) line[b] = source[2 * b];
                } else {
                    for (int64_t b = first; b < end; b++) line[b] = source[b * sw];
                }
                for (int64_t b = end; b < l->phase_w; b++) line[b] = 0;
            }
        }
    }
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

void swk_depthwise_conv(const swk_depthwise_geometry *g, int64_t channels, int64_t p_begin, int64_t p_end, const float *x,
                        const float *w, const float *bias, float lo, float hi, float *scratch, float *y) {
    const layout l = layout_of(g);
    const int64_t taps = (int64_t)g->kernel_h * g->kernel_w;
    const int64_t phase_count = (int64_t)g->stride_h * g->stride_w;
    int64_t *offsets = (int64_t *)scratch;
    float *phases = scratch + offset_floats(g), *out = phases + phase_count * l.plane + l.phase_w + STEP;
    // The padded run reads up to STEP + phase_w floats past the phases: zeros, so no NaN or
    // subnormal in a dropped column can slow the arithmetic.
    memset(phases + phase_count * l.plane, 0, (size_t)(l.phase_w + STEP) * sizeof(float));
    for (int i = 0; i < g->kernel_h; i++) {
        for (int j = 0; j < g->kernel_w; j++) {
            const int64_t down = (int64_t)i * g->dilation_h, across = (int64_t)j * g->dilation_w;
            const int64_t phase = (down % g->stride_h) * g->stride_w + across % g->stride_w;
            offsets[(int64_t)i * g->kernel_w + j] = phase * l.plane + (down / g->stride_h) * l.phase_w + across / g->stride_w;
        }
    }
    const int avx2 = swk_has_avx2();
    for (int64_t p = p_begin; p < p_end; p++) {
        const int64_t c = p % channels;
        split_phases(g, &l, x + p * g->height * g->width, phases);
        const float b = bias ? bias[c] : 0;
        if (avx2) accumulate_avx2(phases, offsets, w + c * taps, taps, b, lo, hi, l.run, out);
        else accumulate_portable(phases, offsets, w + c * taps, taps, b, lo, hi, l.run, out);
        float *target = y + p * g->out_h * g->out_w;
        for (int64_t oh = 0; oh < g->out_h; oh++) {
            for (int64_t ow = 0; ow < g->out_w; ow++) target[oh * g->out_w + ow] = out[oh * l.phase_w + ow];
        }
    }
}
