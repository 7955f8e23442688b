// Pattern-sparse convolution (see ckernels.h): each kept kernel contributes only its pattern's
// taps, each a contiguous multiply-add over the stride phases of its input channel
// (conv_phases.h). The sums of 64 output positions stay in registers across every kept kernel
// and tap of an output channel; positions are taken a step at a time, every output channel in
// turn, so the rows of the input channels the step reads stay in L2 across output channels (one
// step or four per tile measured the same). The loop is bound by those L2 reads, not by the
// multiply-adds: each loaded vector meets one weight (docs/BENCHMARKS.md).
#include "ckernels.h"
#include "conv_phases.h"
#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))

/// Positions computed per step of the vector loop (eight sums of 8); the flat run is a multiple of it.
enum { STEP = 64 };

int64_t swk_pattern_phase_floats(const swk_conv_geometry *g) {
    const conv_layout l = conv_layout_of(g, STEP);
    return ((int64_t)g->stride_h * g->stride_w * l.plane + 15) / 16 * 16;  // 64-byte aligned channels
}

int64_t swk_pattern_phases_floats(const swk_conv_geometry *g, int64_t channels) {
    const conv_layout l = conv_layout_of(g, STEP);
    return channels * swk_pattern_phase_floats(g) + conv_slack_floats(&l);
}

void swk_pattern_split(const swk_conv_geometry *g, const float *x, int64_t channels, int64_t c_begin, int64_t c_end,
                       float *phases) {
    const conv_layout l = conv_layout_of(g, STEP);
    const int64_t per = swk_pattern_phase_floats(g), written = (int64_t)g->stride_h * g->stride_w * l.plane;
    for (int64_t c = c_begin; c < c_end; c++) {
        conv_split_phases(g, &l, x + c * g->height * g->width, phases + c * per);
        // Dropped positions read the gap up to the next channel: zero, like the slack.
        memset(phases + c * per + written, 0, (size_t)(per - written) * sizeof(float));
    }
    if (c_end == channels) memset(phases + channels * per, 0, (size_t)conv_slack_floats(&l) * sizeof(float));
}

/// Floats the offsets take at the start of scratch: every tap's, then every pattern entry's
/// (int64 each), padded to 64 bytes.
static int64_t offset_floats(const swk_conv_geometry *g, int64_t pattern_entries) {
    return (((int64_t)g->kernel_h * g->kernel_w + pattern_entries) * 2 + 15) / 16 * 16;
}

int64_t swk_pattern_conv_scratch_floats(const swk_conv_geometry *g, int64_t pattern_entries, int64_t out_channels) {
    const conv_layout l = conv_layout_of(g, STEP);
    return offset_floats(g, pattern_entries) + (out_channels * l.run + 15) / 16 * 16;
}

/// out[t] = clamp(bias + Σ over output channel m's kept kernels s and their pattern's taps e of
/// values[s, e] · phases[channel(s)·per + offsets[pattern(s), e] + t]) for t0 ≤ t < t0 + STEP,
/// where offsets[p, e] is where pattern p's tap e reads (conv_tap_offsets of its position).
static void step_portable(const swk_pattern_weights *w, int64_t m, const float *phases, int64_t per, const int64_t *offsets,
                          float bias, float lo, float hi, int64_t t0, float *out) {
    const int64_t t1 = t0 + STEP;
    const int e_count = w->entries;
    for (int64_t t = t0; t < t1; t++) out[t] = bias;
    for (int32_t s = w->kernel_pointers[m]; s < w->kernel_pointers[m + 1]; s++) {
        const float *base = phases + w->channels[s] * per;
        const int64_t *pattern = offsets + (int64_t)w->pattern_ids[s] * e_count;
        for (int e = 0; e < e_count; e++) {
            const float weight = w->values[(int64_t)s * e_count + e], *source = base + pattern[e];
            for (int64_t t = t0; t < t1; t++) out[t] += weight * source[t];
        }
    }
    for (int64_t t = t0; t < t1; t++) out[t] = conv_clamp(out[t], lo, hi);
}

/// step_portable in eight vector sums, so each tap's offset and weight loads serve eight
/// multiply-adds (four sums of 32 positions ran 0.60–0.84× dense at the patterns' 5/9
/// sparsity, eight 0.69–1.23× over three runs: docs/BENCHMARKS.md).
AVX2 static void step_avx2(const swk_pattern_weights *w, int64_t m, const float *phases, int64_t per, const int64_t *offsets,
                           float bias, float lo, float hi, int64_t t, float *out) {
    const int e_count = w->entries;
    const int32_t begin = w->kernel_pointers[m], end = w->kernel_pointers[m + 1];
    const __m256 low = _mm256_set1_ps(lo), high = _mm256_set1_ps(hi);
    __m256 acc[8];
    for (int v = 0; v < 8; v++) acc[v] = _mm256_set1_ps(bias);
    for (int32_t s = begin; s < end; s++) {
        const float *base = phases + w->channels[s] * per + t, *values = w->values + (int64_t)s * e_count;
        const int64_t *pattern = offsets + (int64_t)w->pattern_ids[s] * e_count;
        for (int e = 0; e < e_count; e++) {
            const __m256 weight = _mm256_broadcast_ss(values + e);
            const float *source = base + pattern[e];
            for (int v = 0; v < 8; v++) acc[v] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(source + 8 * v), acc[v]);
        }
    }
    // max(low, v) then min(high, ·) return v when v is NaN (the second operand): NaN passes.
    for (int v = 0; v < 8; v++) _mm256_storeu_ps(out + t + 8 * v, _mm256_min_ps(high, _mm256_max_ps(low, acc[v])));
}

void swk_pattern_conv(const swk_conv_geometry *g, const swk_pattern_weights *w, int64_t m_begin, int64_t m_end,
                      const float *phases, const float *bias, float lo, float hi, float *scratch, float *y) {
    const conv_layout l = conv_layout_of(g, STEP);
    const int64_t per = swk_pattern_phase_floats(g);
    int64_t *tap = (int64_t *)scratch, *offsets = tap + (int64_t)g->kernel_h * g->kernel_w;
    float *out = scratch + offset_floats(g, (int64_t)w->pattern_count * w->entries);
    conv_tap_offsets(g, &l, tap);
    for (int64_t i = 0; i < (int64_t)w->pattern_count * w->entries; i++) offsets[i] = tap[w->patterns[i]];
    const int avx2 = swk_has_avx2();
    for (int64_t t = 0; t < l.run; t += STEP) {
        for (int64_t m = m_begin; m < m_end; m++) {
            const float *group = phases + (m / w->out_per_group) * w->in_per_group * per;
            (avx2 ? step_avx2 : step_portable)(w, m, group, per, offsets, bias ? bias[m] : 0.0f, lo, hi, t,
                                               out + (m - m_begin) * l.run);
        }
    }
    for (int64_t m = m_begin; m < m_end; m++) conv_copy_out(g, &l, out + (m - m_begin) * l.run, y + m * g->out_h * g->out_w);
}
