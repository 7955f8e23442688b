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
    // 16 floats past the line: the AVX2 column pass takes a row's last windows 8 at a time too,
    // loading up to 15 floats past the line (16 for 8 stride-2 windows) and storing only the
    // windows there are. Rounded to 64 bytes: threads' lines laid end to end never share a line.
    return (line_floats(g) + 16 + 15) / 16 * 16;
}

/// line[j] = the max_nan of rows[r·width + j] over r < count (≥ 1), for j < n.
static void reduce_rows_portable(const float *rows, int64_t width, int64_t count, int64_t n, float *line) {
    memcpy(line, rows, sizeof(float) * (size_t)n);
    for (int64_t r = 1; r < count; r++)
        for (int64_t j = 0; j < n; j++) line[j] = max_nan(line[j], rows[r * width + j]);
}

/// Lanes i < n of a mask for masked loads (n ≥ 1; 8 or more: all).
AVX2 static inline __m256i lanes8(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n < 8 ? (int)n : 8), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// reduce_rows_portable on 8 columns at a time, the last fewer than 8 too (small planes' rows are
/// a vector or less: the digits CNN's 8×8): masked loads, −∞ in the lanes past n, and a whole
/// store, which leaves past n the −∞ the line holds there. (A masked store, which the column
/// pass then read back, ran the digits CNN's MaxPool no faster than the scalar loops; perf put
/// most of its time on the loads after it.)
AVX2 static inline void reduce_rows_avx2(const float *rows, int64_t width, int64_t count, int64_t n, float *line) {
    const __m256 padding = _mm256_set1_ps(-INFINITY);
    for (int64_t j = 0; j < n; j += 8) {
        const __m256i mask = lanes8(n - j);
        __m256 best = _mm256_maskload_ps(rows + j, mask);
        for (int64_t r = 1; r < count; r++) best = max_nan8(best, _mm256_maskload_ps(rows + r * width + j, mask));
        _mm256_storeu_ps(line + j, _mm256_blendv_ps(padding, best, _mm256_castsi256_ps(mask)));
    }
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

/// reduce_columns_portable for strides 1 and 2 on 8 windows at a time, the row's last fewer than 8
/// too (their loads reach into the scratch past the line). `room`: floats from target that may be
/// written (the rest of the call's planes), so a last block stores whole where the next row will
/// overwrite what it stores too much, and only at the end of the call goes through the stack.
AVX2 static inline void reduce_columns_avx2(const float *line, int sw, int kw, int64_t out_w, float *target,
                                           int64_t room) {
    if (sw > 2) {
        reduce_columns_portable(line, sw, kw, 0, out_w, target);
        return;
    }
    for (int64_t ow = 0; ow < out_w; ow += 8) {
        const float *at = line + sw * ow;
        __m256 best = sw == 1 ? _mm256_loadu_ps(at) : evens8(at);
        for (int k = 1; k < kw; k++) best = max_nan8(best, sw == 1 ? _mm256_loadu_ps(at + k) : evens8(at + k));
        if (room - ow >= 8) {
            _mm256_storeu_ps(target + ow, best);
        } else {
            float last[8];
            _mm256_storeu_ps(last, best);
            for (int64_t i = 0; i < out_w - ow; i++) target[ow + i] = last[i];
        }
    }
}

/// The planes p_begin ..< p_end, each output row through the line. One body for both paths: on
/// the AVX2 one the row and column passes inline into the loop over rows (called through a
/// pointer a row at a time, they cost the digits CNN's 2880 planes of 8×8 more than their work).
static inline __attribute__((always_inline)) void pool_planes(const swk_pool_geometry *g, int64_t p_begin,
                                                              int64_t p_end, const float *x, float *scratch, float *y,
                                                              const int avx2) {
    const int64_t span = line_floats(g), scratch_floats = swk_max_pool_scratch_floats(g);
    const int sw = g->stride_w, kw = g->kernel_w;
    // Line position j holds image column j − pad_left: inside the image for first ≤ j < end.
    int64_t first = g->pad_left, end = g->pad_left + g->width;
    if (end > span) end = span;
    if (first > end) first = end;
    float *line = scratch, *inside = line + first, *const end_of_call = y + p_end * g->out_h * g->out_w;
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
                if (avx2) reduce_rows_avx2(plane + low * g->width, g->width, high - low, end - first, inside);
                else reduce_rows_portable(plane + low * g->width, g->width, high - low, end - first, inside);
            } else {  // a window wholly in the padding
                for (int64_t j = first; j < end; j++) line[j] = -INFINITY;
            }
            float *target = out + oh * g->out_w;
            if (avx2) reduce_columns_avx2(line, sw, kw, g->out_w, target, end_of_call - target);
            else reduce_columns_portable(line, sw, kw, 0, g->out_w, target);
        }
    }
}

AVX2 static void pool_planes_avx2(const swk_pool_geometry *g, int64_t p_begin, int64_t p_end, const float *x,
                                  float *scratch, float *y) {
    pool_planes(g, p_begin, p_end, x, scratch, y, 1);
}

static void pool_planes_portable(const swk_pool_geometry *g, int64_t p_begin, int64_t p_end, const float *x,
                                 float *scratch, float *y) {
    pool_planes(g, p_begin, p_end, x, scratch, y, 0);
}

void swk_max_pool(const swk_pool_geometry *g, int64_t p_begin, int64_t p_end, const float *x, float *scratch, float *y) {
    (swk_has_avx2() ? pool_planes_avx2 : pool_planes_portable)(g, p_begin, p_end, x, scratch, y);
}
