// Pattern-sparse convolution (see ckernels.h): each kept kernel contributes only its pattern's
// taps, each a contiguous multiply-add over the stride phases of its input channel
// (conv_phases.h). The sums of 32 output positions stay in registers across every kept kernel
// and tap of an output channel; positions are taken a tile at a time, so the tile's rows of all
// input channels stay in cache while every output channel reads them.
#include "ckernels.h"
#include "conv_phases.h"
#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))

/// Output positions per tile.
enum { TILE = 8 * STEP };

int64_t swk_pattern_phase_floats(const swk_conv_geometry *g) {
    const conv_layout l = conv_layout_of(g);
    return ((int64_t)g->stride_h * g->stride_w * l.plane + 15) / 16 * 16;  // 64-byte aligned channels
}

int64_t swk_pattern_phases_floats(const swk_conv_geometry *g, int64_t channels) {
    const conv_layout l = conv_layout_of(g);
    return channels * swk_pattern_phase_floats(g) + conv_slack_floats(&l);
}

void swk_pattern_split(const swk_conv_geometry *g, const float *x, int64_t channels, int64_t c_begin, int64_t c_end,
                       float *phases) {
    const conv_layout l = conv_layout_of(g);
    const int64_t per = swk_pattern_phase_floats(g);
    for (int64_t c = c_begin; c < c_end; c++) conv_split_phases(g, &l, x + c * g->height * g->width, phases + c * per);
    if (c_end == channels) memset(phases + channels * per, 0, (size_t)conv_slack_floats(&l) * sizeof(float));
}

/// Floats the taps' offsets take at the start of scratch (int64 each, padded to 32 bytes).
static int64_t offset_floats(const swk_conv_geometry *g) {
    return ((int64_t)g->kernel_h * g->kernel_w * 2 + 7) / 8 * 8;
}

int64_t swk_pattern_conv_scratch_floats(const swk_conv_geometry *g, int64_t out_channels) {
    const conv_layout l = conv_layout_of(g);
    return (offset_floats(g) + out_channels * l.run + 15) / 16 * 16;
}

/// out[t] = clamp(bias + Σ over output channel m's kept kernels s and their pattern's taps e of
/// values[s, e] · phases[channel(s)·per + tap[pattern(s, e)] + t]) for t0 ≤ t < t1.
static void tile_portable(const swk_pattern_weights *w, int64_t m, const float *phases, int64_t per, const int64_t *tap,
                          float bias, float lo, float hi, int64_t t0, int64_t t1, float *out) {
    const int e_count = w->entries;
    for (int64_t t = t0; t < t1; t++) out[t] = bias;
    for (int32_t s = w->kernel_pointers[m]; s < w->kernel_pointers[m + 1]; s++) {
        const float *base = phases + w->channels[s] * per;
        const int32_t *pattern = w->patterns + (int64_t)w->pattern_ids[s] * e_count;
        for (int e = 0; e < e_count; e++) {
            const float weight = w->values[(int64_t)s * e_count + e], *source = base + tap[pattern[e]];
            for (int64_t t = t0; t < t1; t++) out[t] += weight * source[t];
        }
    }
    // NaN passes through, as FusedClamp does: comparisons with NaN are false.
    for (int64_t t = t0; t < t1; t++) out[t] = out[t] < lo ? lo : (out[t] > hi ? hi : out[t]);
}

AVX2 static void tile_avx2(const swk_pattern_weights *w, int64_t m, const float *phases, int64_t per, const int64_t *tap,
                           float bias, float lo, float hi, int64_t t0, int64_t t1, float *out) {
    const int e_count = w->entries;
    const int32_t begin = w->kernel_pointers[m], end = w->kernel_pointers[m + 1];
    const __m256 low = _mm256_set1_ps(lo), high = _mm256_set1_ps(hi);
    for (int64_t t = t0; t < t1; t += STEP) {
        // Four independent sums hide the multiply-add latency.
        __m256 a0 = _mm256_set1_ps(bias), a1 = a0, a2 = a0, a3 = a0;
        for (int32_t s = begin; s < end; s++) {
            const float *base = phases + w->channels[s] * per + t, *v = w->values + (int64_t)s * e_count;
            const int32_t *pattern = w->patterns + (int64_t)w->pattern_ids[s] * e_count;
            for (int e = 0; e < e_count; e++) {
                const __m256 weight = _mm256_broadcast_ss(v + e);
                const float *source = base + tap[pattern[e]];
                a0 = _mm256_fmadd_ps(weight, _mm256_loadu_ps(source), a0);
                a1 = _mm256_fmadd_ps(weight, _mm256_loadu_ps(source + 8), a1);
                a2 = _mm256_fmadd_ps(weight, _mm256_loadu_ps(source + 16), a2);
                a3 = _mm256_fmadd_ps(weight, _mm256_loadu_ps(source + 24), a3);
            }
        }
        // max(low, v) then min(high, ·) return v when v is NaN (the second operand): NaN passes.
        _mm256_storeu_ps(out + t, _mm256_min_ps(high, _mm256_max_ps(low, a0)));
        _mm256_storeu_ps(out + t + 8, _mm256_min_ps(high, _mm256_max_ps(low, a1)));
        _mm256_storeu_ps(out + t + 16, _mm256_min_ps(high, _mm256_max_ps(low, a2)));
        _mm256_storeu_ps(out + t + 24, _mm256_min_ps(high, _mm256_max_ps(low, a3)));
    }
}

void swk_pattern_conv(const swk_conv_geometry *g, const swk_pattern_weights *w, int64_t m_begin, int64_t m_end,
                      const float *phases, const float *bias, float lo, float hi, float *scratch, float *y) {
    const conv_layout l = conv_layout_of(g);
    const int64_t per = swk_pattern_phase_floats(g);
    int64_t *tap = (int64_t *)scratch;
    float *out = scratch + offset_floats(g);
    conv_tap_offsets(g, &l, tap);
    const int avx2 = swk_has_avx2();
    for (int64_t t0 = 0; t0 < l.run; t0 += TILE) {
        const int64_t t1 = t0 + TILE < l.run ? t0 + TILE : l.run;
        for (int64_t m = m_begin; m < m_end; m++) {
            const float *group = phases + (m / w->out_per_group) * w->in_per_group * per;
            (avx2 ? tile_avx2 : tile_portable)(w, m, group, per, tap, bias ? bias[m] : 0.0f, lo, hi, t0, t1,
                                               out + (m - m_begin) * l.run);
        }
    }
    for (int64_t m = m_begin; m < m_end; m++) conv_copy_out(g, &l, out + (m - m_begin) * l.run, y + m * g->out_h * g->out_w);
}
