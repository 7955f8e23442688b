// Int8 × int8 → int32 matrix product for Int8Linear (see ckernels.h). AVX2 has no int8 dot
// product without VNNI; codes widened to int16 meet vpmaddwd, which multiplies 16 pairs and adds
// neighbours into 8 int32 lanes — exact, since |code| ≤ 127 keeps every pair sum far inside int32.
// Weights stay int8 in memory (their bytes are the point) and are widened as they are loaded.
#pragma STDC FP_CONTRACT OFF  // y = sum·scale + bias rounded twice, as the reference kernel does
#include "ckernels.h"
#include <immintrin.h>

static inline float output(int32_t sum, float x_scale, float w_scale, const float *bias, int64_t j) {
    const float scaled = (float)sum * (x_scale * w_scale);
    return bias ? scaled + bias[j] : scaled;
}

static void int8_portable(int64_t rows, int64_t n, int64_t k_total, const int16_t *xq, int64_t kp, const float *x_scale,
                          const int8_t *w, const float *w_scale, const float *bias, float *y) {
    for (int64_t m = 0; m < rows; m++) {
        for (int64_t j = 0; j < n; j++) {
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

AVX2 static void int8_avx2(int64_t rows, int64_t n, int64_t k_total, const int16_t *xq, int64_t kp, const float *x_scale,
                           const int8_t *w, const float *w_scale, const float *bias, float *y) {
    // Four rows of X (a few KB) stay in L1 while all of W streams past them from L2.
    const int64_t n3 = n - n % 3;
    int64_t m0 = 0;
    for (; m0 + 4 <= rows; m0 += 4) {
        for (int64_t j0 = 0; j0 < n3; j0 += 3) tile(4, 3, m0, j0, n, k_total, xq, kp, x_scale, w, w_scale, bias, y);
        for (int64_t j0 = n3; j0 < n; j0++) tile(4, 1, m0, j0, n, k_total, xq, kp, x_scale, w, w_scale, bias, y);
    }
    for (; m0 < rows; m0++) {
        for (int64_t j0 = 0; j0 < n3; j0 += 3) tile(1, 3, m0, j0, n, k_total, xq, kp, x_scale, w, w_scale, bias, y);
        for (int64_t j0 = n3; j0 < n; j0++) tile(1, 1, m0, j0, n, k_total, xq, kp, x_scale, w, w_scale, bias, y);
    }
}

void swk_int8_gemm(int64_t rows, int64_t n, int64_t k_total, const int16_t *xq, int64_t kp, const float *x_scale,
                   const int8_t *w, const float *w_scale, const float *bias, float *y) {
    if (swk_has_avx2()) int8_avx2(rows, n, k_total, xq, kp, x_scale, w, w_scale, bias, y);
    else int8_portable(rows, n, k_total, xq, kp, x_scale, w, w_scale, bias, y);
}
