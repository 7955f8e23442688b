// 2-D max pooling (see ckernels.h), one output row at a time in two passes: the rows under the
// window are reduced into one line (contiguous, any window height), then the line is reduced
// across each window's columns. The line carries −∞ where the padding is, so neither pass tests
// bounds per element. On AVX2 both passes run on 8 floats at a time, the second for strides 1 and
// 2 (a stride-2 window's columns are the even floats of 16, taken with two shuffles). The loops
// they replace, which the compiler vectorized for SSE2 only around a scalar strided copy, took
// 0.70 ms for ResNet-18's 3×3/2 MaxPool on 64×112×112, onnxruntime 0.14 (docs/BENCHMARKS.md,
// fourteenth measurement); they remain the portable path.
#include "ckernels.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))

/// The larger of two values, NaN winning (numpy.max's rule, as the reference kernel does).
static inline float max_nan(float best, float v) { return (v > best || v != v) ? v : best; }

/// max_nan on 8 lanes, bit for bit: maxps(v, best) is v where v > best and best otherwise (on a
/// tie, so +0 against −0 keeps best as max_nan does, and where either is NaN); the blend then
/// takes v where v is NaN.
AVX2 static inline __m256 max_nan8(__m256 best, __m256 v) {
    return _mm256_blendv_ps(_mm256_max_ps(v, best), v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

/// at[0], at[2], …, at[14]: the 8 windows' column at stride 2.
AVX2 static inline __m256 evens8(const float *at) {
    const __m256 pairs = _mm256_shuffle_ps(_mm256_loadu_ps(at), _mm256_loadu_ps(at + 8), _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(pairs), _MM_SHUFFLE(3, 1, 2, 0)));
}

/// Floats of the line: every column some window of the row reads.
static int64_t line_floats(const swk_pool_geometry *g) { return (g->out_w - 1) * g->stride_w + g->kernel_w; }

int64_t swk_max_pool_scratch_floats(const swk_pool_geometry *g) {
    // One float past the line: the stride-2 pass loads 16 floats for 8 windows' 15, and its last
    // load can end there. Rounded to 64 bytes: threads' lines laid end to end never share a line.
    return (line_floats(g) + 1 + 15) / 16 * 16;
}

/// line[j] = the max_nan of rows[r·width + j] over r < count (≥ 1), for j < n.
static void reduce_rows_portable(const float *rows, int64_t width, int64_t count, int64_t n, float *line) {
    memcpy(line, rows, sizeof(float) * (size_t)n);
    for (int64_t r = 1; r < count; r++)
        for (int64_t j = 0; j < n; j++) line[j] = max_nan(line[j], rows[r * width + j]);
}

AVX2 static void reduce_rows_avx2(const float *rows, int64_t width, int64_t count, int64_t n, float *line) {
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 best = _mm256_loadu_ps(rows + j);
        for (int64_t r = 1; r < count; r++) best = max_nan8(best, _mm256_loadu_ps(rows + r * width + j));
        _mm256_storeu_ps(line + j, best);
    }
    if (j < n) reduce_rows_portable(rows + j, width, count, n - j, line + j);
}

/// target[ow] = the max_nan of line[ow·sw + k] over k < kw, for ow_begin ≤ ow < out_w: one pass
/// per k, strides 1 and 2 spelled out so the compiler sees a constant stride and vectorizes.
static void reduce_columns_portable(const float *line, int sw, int kw, int64_t ow_begin, int64_t out_w, float *target) {
    for (int64_t ow = ow_begin; ow < out_w; ow++) target[ow] = line[ow * sw];
    for (int k = 1; k < kw; k++) {
        const float *column = line + k;
        if (sw == 1) {
            for (int64_t ow = ow_begin; ow < out_w; ow++) target[ow] = max_nan(target[ow], column[ow]);
        } else if (sw == 2) {
            for (int64_t ow = ow_begin; ow < out_w; ow++) target[ow] = max_nan(target[ow], column[2 * ow]);
        } else {
            for (int64_t ow = ow_begin; ow < out_w; ow++) target[ow] = max_nan(target[ow], column[ow * sw]);
        }
    }
}

AVX2 static void reduce_columns_avx2(const float *line, int sw, int kw, int64_t out_w, float *target) {
    int64_t ow = 0;
    if (sw == 1) {
        for (; ow + 8 <= out_w; ow += 8) {
            __m256 best = _mm256_loadu_ps(line + ow);
            for (int k = 1; k < kw; k++) best = max_nan8(best, _mm256_loadu_ps(line + ow + k));
            _mm256_storeu_ps(target + ow, best);
        }
    } else if (sw == 2) {
        for (; ow + 8 <= out_w; ow += 8) {
            __m256 best = evens8(line + 2 * ow);
            for (int k = 1; k < kw; k++) best = max_nan8(best, evens8(line + 2 * ow + k));
            _mm256_storeu_ps(target + ow, best);
        }
    }
    reduce_columns_portable(line, sw, kw, ow, out_w, target);
}

void swk_max_pool(const swk_pool_geometry *g, int64_t p_begin, int64_t p_end, const float *x, float *scratch, float *y) {
    const int64_t span = line_floats(g), scratch_floats = swk_max_pool_scratch_floats(g);
    const int sw = g->stride_w, kw = g->kernel_w, avx2 = swk_has_avx2();
    // Line position j holds image column j − pad_left: inside the image for first ≤ j < end.
    int64_t first = g->pad_left, end = g->pad_left + g->width;
    if (end > span) end = span;
    if (first > end) first = end;
    float *line = scratch, *inside = line + first;
    for (int64_t j = 0; j < first; j++) line[j] = -INFINITY;
    for (int64_t j = end; j < scratch_floats; j++) line[j] = -INFINITY;
    for (int64_t p = p_begin; p < p_end; p++) {
        const float *plane = x + p * g->height * g->width;
        float *out = y + p * g->out_h * g->out_w;
        for (int64_t oh = 0; oh < g->out_h; oh++) {
            int64_t low = oh * g->stride_h - g->pad_top, high = low + g->kernel_h;
            if (low < 0) low = 0;
            if (high > g->height) high = g->height;
            if (low < high) {
                (avx2 ? reduce_rows_avx2 : reduce_rows_portable)(plane + low * g->width, g->width, high - low, end - first, inside);
            } else {  // a window wholly in the padding
                for (int64_t j = first; j < end; j++) line[j] = -INFINITY;
            }
            if (avx2) reduce_columns_avx2(line, sw, kw, g->out_w, out + oh * g->out_w);
            else reduce_columns_portable(line, sw, kw, 0, g->out_w, out + oh * g->out_w);
        }
    }
}
