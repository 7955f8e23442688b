// MX weight-only matrix-vector product (see ckernels.h): at M = 1 the product is bound by the
// weight bytes read, so it reads the packed codes directly (4–8 bits a weight, not 32).
#include "ckernels.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

enum { BLOCK = 32, MAX_ROWS = 8 };

/// Element e of a packed row (LSB-first, `bits` wide).
static inline unsigned code_at(const uint8_t *row, int bits, int64_t e) {
    const int64_t bit = e * bits;
    const unsigned word = row[bit >> 3] | ((bit & 7) + bits > 8 ? (unsigned)row[(bit >> 3) + 1] << 8 : 0u);
    return (word >> (bit & 7)) & ((1u << bits) - 1);
}

/// Codes first … first+count−1 of a packed row, as table values.
static inline void decode_block(const uint8_t *row, int bits, int64_t first, int count, const float *table, float *out) {
    for (int i = 0; i < count; i++) out[i] = table[code_at(row, bits, first + i)];
}

static float block_scale(uint8_t code) { return code == 0xFF ? NAN : ldexpf(1.0f, (int)code - 127); }

static void mx_portable(int64_t rows, int64_t n, int64_t k_total, int bits, const uint8_t *codes, int64_t row_bytes,
                   const uint8_t *scales, const float *table, const float *x, const float *bias, float *y) {
    const int64_t blocks = (k_total + BLOCK - 1) / BLOCK;
    for (int64_t m0 = 0; m0 < rows; m0 += MAX_ROWS) {
        const int mr = rows - m0 < MAX_ROWS ? (int)(rows - m0) : MAX_ROWS;
        for (int64_t j = 0; j < n; j++) {
            float sums[MAX_ROWS] = {0};
            for (int64_t b = 0; b < blocks; b++) {
                const int64_t first = b * BLOCK;
                const int count = k_total - first < BLOCK ? (int)(k_total - first) : BLOCK;
                float w[BLOCK];
                decode_block(codes + j * row_bytes, bits, first, count, table, w);
                const float scale = block_scale(scales[j * blocks + b]);
                for (int m = 0; m < mr; m++) {
                    const float *xr = x + (m0 + m) * k_total + first;
                    float partial = 0;
                    for (int i = 0; i < count; i++) partial += w[i] * xr[i];
                    sums[m] += partial * scale;
                }
            }
            for (int m = 0; m < mr; m++) y[(m0 + m) * n + j] = sums[m] + (bias ? bias[j] : 0.0f);
        }
    }
}

#define AVX2 __attribute__((target("avx2,fma")))

/// The 32 codes of a whole block as bytes (8-bit: as stored; 4-bit: nibbles split, low first).
AVX2 static inline __m256i block_codes(const uint8_t *row, int bits, int64_t b) {
    if (bits == 8) return _mm256_loadu_si256((const __m256i *)(row + b * BLOCK));
    if (bits == 4) {
        const __m128i packed = _mm_loadu_si128((const __m128i *)(row + b * BLOCK / 2));
        const __m128i low = _mm_and_si128(packed, _mm_set1_epi8(15)), high = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(15));
        return _mm256_set_m128i(_mm_unpackhi_epi8(low, high), _mm_unpacklo_epi8(low, high));
    }
    uint8_t unpacked[BLOCK];
    for (int i = 0; i < BLOCK; i++) unpacked[i] = (uint8_t)code_at(row, bits, b * BLOCK + i);
    return _mm256_loadu_si256((const __m256i *)unpacked);
}

AVX2 static inline float horizontal_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// Whole blocks through table gathers, 8 codes at a time; a short last block by the portable loop.
AVX2 static void mx_avx2(int64_t rows, int64_t n, int64_t k_total, int bits, const uint8_t *codes, int64_t row_bytes,
                         const uint8_t *scales, const float *table, const float *x, const float *bias, float *y) {
    const int64_t blocks = (k_total + BLOCK - 1) / BLOCK, whole = k_total / BLOCK;
    for (int64_t m0 = 0; m0 < rows; m0 += MAX_ROWS) {
        const int mr = rows - m0 < MAX_ROWS ? (int)(rows - m0) : MAX_ROWS;
        for (int64_t j = 0; j < n; j++) {
            const uint8_t *row = codes + j * row_bytes;
            __m256 sums[MAX_ROWS];
            for (int m = 0; m < mr; m++) sums[m] = _mm256_setzero_ps();
            for (int64_t b = 0; b < whole; b++) {
                const __m256i all = block_codes(row, bits, b);
                const __m128i halves[2] = {_mm256_castsi256_si128(all), _mm256_extracti128_si256(all, 1)};
                __m256 w[4];
                for (int q = 0; q < 4; q++) {
                    const __m128i eight = q & 1 ? _mm_srli_si128(halves[q >> 1], 8) : halves[q >> 1];
                    w[q] = _mm256_i32gather_ps(table, _mm256_cvtepu8_epi32(eight), 4);
                }
                const __m256 scale = _mm256_set1_ps(block_scale(scales[j * blocks + b]));
                for (int m = 0; m < mr; m++) {
                    const float *xr = x + (m0 + m) * k_total + b * BLOCK;
                    __m256 partial = _mm256_mul_ps(w[0], _mm256_loadu_ps(xr));
                    for (int q = 1; q < 4; q++) partial = _mm256_fmadd_ps(w[q], _mm256_loadu_ps(xr + 8 * q), partial);
                    sums[m] = _mm256_fmadd_ps(partial, scale, sums[m]);
                }
            }
            for (int m = 0; m < mr; m++) {
                float sum = horizontal_sum(sums[m]);
                if (whole < blocks) {
                    const int64_t first = whole * BLOCK;
                    const int count = (int)(k_total - first);
                    float w[BLOCK], partial = 0;
                    decode_block(row, bits, first, count, table, w);
                    for (int i = 0; i < count; i++) partial += w[i] * x[(m0 + m) * k_total + first + i];
                    sum += partial * block_scale(scales[j * blocks + whole]);
                }
                y[(m0 + m) * n + j] = sum + (bias ? bias[j] : 0.0f);
            }
        }
    }
}

void swk_mx_matvec(int64_t rows, int64_t n, int64_t k_total, int bits, const uint8_t *codes, int64_t row_bytes,
                   const uint8_t *scales, const float *table, const float *x, const float *bias, float *y) {
    if (swk_has_avx2()) mx_avx2(rows, n, k_total, bits, codes, row_bytes, scales, table, x, bias, y);
    else mx_portable(rows, n, k_total, bits, codes, row_bytes, scales, table, x, bias, y);
}
