// Int8 × int8 → int32 matrix product for Int8Linear (see ckernels.h). AVX2 has no int8 dot
// product without VNNI; codes widened to int16 meet vpmaddwd, which multiplies 16 pairs and adds
// neighbours into 8 int32 lanes — exact, since |code| ≤ 127 keeps every pair sum far inside int32.
//
// Two shapes of loop. Many rows (a GEMM): W is packed, per call and 16 output columns at a time,
// into a panel that holds for each pair of K positions the 16 columns' two codes side by side;
// a pair of X codes (one int32) is broadcast against it, so each vpmaddwd yields 8 columns' sums
// with no horizontal reduction, 6 rows × 16 columns of sums stay in registers across all of K,
// and the panel (≤ 24 KB for K = 1536) stays in L1 while the rows of X stream past it. Few rows
// (matrix-vector): packing would cost as much as the product, so each output is a dot product
// over W's own rows, summed horizontally at the end.
#pragma STDC FP_CONTRACT OFF  // y = sum·scale + bias rounded twice, as the reference kernel does
#include "ckernels.h"
#include <immintrin.h>
#include <string.h>

static inline float output(int32_t sum, float x_scale, float w_scale, const float *bias, int64_t j) {
    const float scaled = (float)sum * (x_scale * w_scale);
    return bias ? scaled + bias[j] : scaled;
}

static void int8_portable(int64_t rows, int64_t j_begin, int64_t j_end, int64_t n, int64_t k_total, const int16_t *xq,
                          int64_t kp, const float *x_scale, const int8_t *w, const float *w_scale, const float *bias, float *y) {
    for (int64_t m = 0; m < rows; m++) {
        for (int64_t j = j_begin; j < j_end; j++) {
            int32_t sum = 0;
            for (int64_t k = 0; k < k_total; k++) sum += (int32_t)xq[m * kp + k] * w[j * k_total + k];
            y[m * n + j] = output(sum, x_scale[m], w_scale[j], bias, j);
        }
    }
}

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

AVX2 INLINE int32_t horizontal_sum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/// MR rows of X × NR rows of W (constants at each call: the accumulators stay in registers).
AVX2 INLINE void tile(const int MR, const int NR, int64_t m0, int64_t j0, int64_t n, int64_t k_total, const int16_t *xq,
                      int64_t kp, const float *x_scale, const int8_t *w, const float *w_scale, const float *bias, float *y) {
    __m256i acc[4][3];
    for (int a = 0; a < MR; a++)
        for (int b = 0; b < NR; b++) acc[a][b] = _mm256_setzero_si256();
    const int64_t k16 = k_total & ~(int64_t)15;
    for (int64_t k = 0; k < k16; k += 16) {
        __m256i wv[3];
        for (int b = 0; b < NR; b++)
            wv[b] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + (j0 + b) * k_total + k)));
        for (int a = 0; a < MR; a++) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + (m0 + a) * kp + k));
            for (int b = 0; b < NR; b++) acc[a][b] = _mm256_add_epi32(acc[a][b], _mm256_madd_epi16(xv, wv[b]));
        }
    }
    for (int a = 0; a < MR; a++) {
        for (int b = 0; b < NR; b++) {
            int32_t sum = horizontal_sum(acc[a][b]);
            for (int64_t k = k16; k < k_total; k++) sum += (int32_t)xq[(m0 + a) * kp + k] * w[(j0 + b) * k_total + k];
            y[(m0 + a) * n + j0 + b] = output(sum, x_scale[m0 + a], w_scale[j0 + b], bias, j0 + b);
        }
    }
}

AVX2 static void int8_avx2(int64_t rows, int64_t j_begin, int64_t j_end, int64_t n, int64_t k_total, const int16_t *xq,
                           int64_t kp, const float *x_scale, const int8_t *w, const float *w_scale, const float *bias, float *y) {
    // Four rows of X (a few KB) stay in L1 while all of W streams past them from L2.
    const int64_t j3 = j_end - (j_end - j_begin) % 3;
    int64_t m0 = 0;
    for (; m0 + 4 <= rows; m0 += 4) {
        for (int64_t j0 = j_begin; j0 < j3; j0 += 3) tile(4, 3, m0, j0, n, k_total, xq, kp, x_scale, w, w_scale, bias, y);
        for (int64_t j0 = j3; j0 < j_end; j0++) tile(4, 1, m0, j0, n, k_total, xq, kp, x_scale, w, w_scale, bias, y);
    }
    for (; m0 < rows; m0++) {
        for (int64_t j0 = j_begin; j0 < j3; j0 += 3) tile(1, 3, m0, j0, n, k_total, xq, kp, x_scale, w, w_scale, bias, y);
        for (int64_t j0 = j3; j0 < j_end; j0++) tile(1, 1, m0, j0, n, k_total, xq, kp, x_scale, w, w_scale, bias, y);
    }
}

enum { PANEL = 16, PACKED_MR = 6 };

/// Columns j0 … j_end−1 (at most 16) of W as pairs along K: panel[(q·16 + c)·2 + i] = w[j0 + c, 2q + i],
/// zero past K and past j_end.
static void pack_panel(int64_t j0, int64_t j_end, int64_t k_total, int64_t kp, const int8_t *w, int8_t *panel) {
    memset(panel, 0, (size_t)(kp * PANEL));
    const int64_t pairs = k_total / 2;
    for (int64_t c = 0; c < j_end - j0; c++) {
        const int8_t *row = w + (j0 + c) * k_total;
        for (int64_t q = 0; q < pairs; q++) memcpy(panel + (q * PANEL + c) * 2, row + 2 * q, 2);  // one 16-bit move
        if (k_total & 1) panel[(pairs * PANEL + c) * 2] = row[k_total - 1];
    }
}

/// MR rows of X (from m0) × the panel's 16 columns; stores columns j0 … j_end−1 of those rows.
AVX2 INLINE void packed_tile(const int MR, int64_t m0, int64_t j0, int64_t j_end, int64_t n, const int16_t *xq, int64_t kp,
                             const float *x_scale, const int8_t *panel, const float *w_scale, const float *bias, float *y) {
    __m256i acc[PACKED_MR][2];
    for (int a = 0; a < MR; a++) acc[a][0] = acc[a][1] = _mm256_setzero_si256();
    const int16_t *x = xq + m0 * kp;
    for (int64_t q = 0; q < kp / 2; q++) {
        const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(panel + q * 2 * PANEL)));
        const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(panel + q * 2 * PANEL + PANEL)));
        for (int a = 0; a < MR; a++) {
            int32_t pair;
            memcpy(&pair, x + a * kp + 2 * q, sizeof pair);
            const __m256i xv = _mm256_set1_epi32(pair);
            acc[a][0] = _mm256_add_epi32(acc[a][0], _mm256_madd_epi16(xv, w0));
            acc[a][1] = _mm256_add_epi32(acc[a][1], _mm256_madd_epi16(xv, w1));
        }
    }
    for (int a = 0; a < MR; a++) {
        float *yr = y + (m0 + a) * n + j0;
        if (j_end - j0 == PANEL) {
            // sum · (x_scale · w_scale) + bias, each step rounded as the scalar `output` does.
            const __m256 xs = _mm256_set1_ps(x_scale[m0 + a]);
            for (int h = 0; h < 2; h++) {
                __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[a][h]), _mm256_mul_ps(xs, _mm256_loadu_ps(w_scale + j0 + 8 * h)));
                if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j0 + 8 * h));
                _mm256_storeu_ps(yr + 8 * h, v);
            }
        } else {
            int32_t sums[PANEL];
            _mm256_storeu_si256((__m256i *)sums, acc[a][0]);
            _mm256_storeu_si256((__m256i *)(sums + 8), acc[a][1]);
            for (int64_t c = 0; c < j_end - j0; c++) yr[c] = output(sums[c], x_scale[m0 + a], w_scale[j0 + c], bias, j0 + c);
        }
    }
}

AVX2 static void int8_packed(int64_t rows, int64_t j_begin, int64_t j_end, int64_t n, int64_t k_total, const int16_t *xq,
                             int64_t kp, const float *x_scale, const int8_t *w, const float *w_scale, const float *bias,
                             int8_t *panel, float *y) {
    for (int64_t j0 = j_begin; j0 < j_end; j0 += PANEL) {
        const int64_t j1 = j0 + PANEL < j_end ? j0 + PANEL : j_end;
        pack_panel(j0, j1, k_total, kp, w, panel);
        int64_t m0 = 0;
        for (; m0 + PACKED_MR <= rows; m0 += PACKED_MR) packed_tile(PACKED_MR, m0, j0, j1, n, xq, kp, x_scale, panel, w_scale, bias, y);
        for (; m0 < rows; m0++) packed_tile(1, m0, j0, j1, n, xq, kp, x_scale, panel, w_scale, bias, y);
    }
}

void swk_int8_gemm(int64_t rows, int64_t j_begin, int64_t j_end, int64_t n, int64_t k_total, const int16_t *xq, int64_t kp,
                   const float *x_scale, const int8_t *w, const float *w_scale, const float *bias, int8_t *panel, float *y) {
    if (!swk_has_avx2()) int8_portable(rows, j_begin, j_end, n, k_total, xq, kp, x_scale, w, w_scale, bias, y);
    else if (rows >= SWK_INT8_PACKED_ROWS) int8_packed(rows, j_begin, j_end, n, k_total, xq, kp, x_scale, w, w_scale, bias, panel, y);
    else int8_avx2(rows, j_begin, j_end, n, k_total, xq, kp, x_scale, w, w_scale, bias, y);
}
