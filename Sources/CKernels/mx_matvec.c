// MX weight-only matrix-vector product (see ckernels.h): at M = 1 the product is bound by the
// weight bytes read, so it reads the packed codes directly (4–8 bits a weight, not 32).
//
// The AVX2 path decodes in registers, with no table lookups (gathers cost ~2.5 cycles a weight,
// slower than streaming fp32): every MX float element is a small IEEE float, so its bits, moved
// into place, are an fp16 — sign to bit 15, exponent and mantissa ending at bit 9 − mantissa
// bits — that `vcvtph2ps` widens exactly (fp16 subnormals included). Such an fp16 is the element
// times 2^(bias_elem − 15); that power of two is undone per block with the shared scale.
// MXINT8 codes are sign-extended and converted as integers (element = code · 2⁻⁶).
#include "ckernels.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

enum { BLOCK = 32, MAX_ROWS = 8 };

static int element_bits(swk_mx_element element) {
    switch (element) {
    case SWK_MXFP6_E2M3: case SWK_MXFP6_E3M2: return 6;
    case SWK_MXFP4_E2M1: return 4;
    default: return 8;
    }
}

/// Element e of a packed row (LSB-first, `bits` wide).
static inline unsigned code_at(const uint8_t *row, int bits, int64_t e) {
    const int64_t bit = e * bits;
    const unsigned word = row[bit >> 3] | ((bit & 7) + bits > 8 ? (unsigned)row[(bit >> 3) + 1] << 8 : 0u);
    return (word >> (bit & 7)) & ((1u << bits) - 1);
}

/// 2^(code − 127), NaN for 0xFF (E8M0); code 0 is the subnormal 2⁻¹²⁷.
static inline float block_scale(uint8_t code) {
    union { uint32_t bits; float value; } scale = {code == 0xFF ? 0x7FC00000u : code == 0 ? 0x00400000u : (uint32_t)code << 23};
    return scale.value;
}

/// Σ over codes first … first+count−1 of one row: x[i] · table[code] (the block's dot product before its scale).
static float table_dot(const uint8_t *row, int bits, int64_t first, int count, const float *table, const float *x) {
    float partial = 0;
    for (int i = 0; i < count; i++) partial += table[code_at(row, bits, first + i)] * x[i];
    return partial;
}

static void mx_portable(int64_t rows, int64_t j_begin, int64_t j_end, int64_t n, int64_t k_total, int bits,
                        const uint8_t *codes, int64_t row_bytes, const uint8_t *scales, const float *table,
                        const float *x, const float *bias, float *y) {
    const int64_t blocks = (k_total + BLOCK - 1) / BLOCK;
    for (int64_t m = 0; m < rows; m++) {
        for (int64_t j = j_begin; j < j_end; j++) {
            float sum = 0;
            for (int64_t b = 0; b < blocks; b++) {
                const int64_t first = b * BLOCK;
                const int count = k_total - first < BLOCK ? (int)(k_total - first) : BLOCK;
                sum += table_dot(codes + j * row_bytes, bits, first, count, table, x + m * k_total + first) *
                       block_scale(scales[j * blocks + b]);
            }
            y[m * n + j] = sum + (bias ? bias[j] : 0.0f);
        }
    }
}

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

/// How a block's two halves of 16 codes reach 16-bit lanes with each code's top bit at bit 15:
/// a 16-byte load at `offset` (inside the block's own bytes: 32 for 8-bit, 24 for FP6, 16 for
/// FP4), a byte shuffle that puts the two bytes holding lane i's code into lane i, and a multiply
/// by a power of two that shifts the code up (8-bit codes go straight to the high byte).
typedef struct {
    __m256i shuffle[2], multiplier[2];
    int offset[2];
} code_layout;

AVX2 static code_layout layout_for(int bits) {
    code_layout layout;
    for (int half = 0; half < 2; half++) {
        const int offset = bits == 8 ? 16 * half : bits == 6 ? 8 * half : 0;
        int8_t shuffle[32];
        int16_t multiplier[16];
        for (int lane = 0; lane < 16; lane++) {
            const int bit = (16 * half + lane) * bits, byte = bit / 8 - offset, shift = bit % 8;
            // vpshufb works within each 128-bit half; the load is broadcast to both, so byte
            // indices are the same in either. −128 writes a zero byte.
            if (bits == 8) {
                shuffle[2 * lane] = -128;
                shuffle[2 * lane + 1] = (int8_t)byte;
                multiplier[lane] = 1;
            } else {
                shuffle[2 * lane] = (int8_t)byte;
                shuffle[2 * lane + 1] = byte + 1 < 16 ? (int8_t)(byte + 1) : -128;  // past the load: never needed
                multiplier[lane] = (int16_t)(1 << (16 - bits - shift));
            }
        }
        layout.offset[half] = offset;
        layout.shuffle[half] = _mm256_loadu_si256((const __m256i *)shuffle);
        layout.multiplier[half] = _mm256_loadu_si256((const __m256i *)multiplier);
    }
    return layout;
}

/// 16 codes of a float format as fp16 bit patterns: the top-aligned code shifted right
/// arithmetically so its exponent ends at bit 10 (the sign stays at 15 and the copies the shift
/// makes of it are masked off). E4M3's NaN (S.1111.111) would land on a finite fp16:
/// `decode_block` sends blocks holding one to the table instead.
AVX2 INLINE __m256i fp16_codes(const swk_mx_element element, const uint8_t *block, const code_layout *layout, int half) {
    const __m256i bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(block + layout->offset[half])));
    __m256i top = _mm256_shuffle_epi8(bytes, layout->shuffle[half]);
    if (element_bits(element) != 8) top = _mm256_mullo_epi16(top, layout->multiplier[half]);
    switch (element) {
    case SWK_MXFP8_E5M2: return top;
    case SWK_MXFP8_E4M3: return _mm256_and_si256(_mm256_srai_epi16(top, 1), _mm256_set1_epi16((short)0xBF80));
    case SWK_MXFP6_E2M3: return _mm256_and_si256(_mm256_srai_epi16(top, 3), _mm256_set1_epi16((short)0x8F80));
    case SWK_MXFP6_E3M2: return _mm256_and_si256(_mm256_srai_epi16(top, 2), _mm256_set1_epi16((short)0x9F00));
    default: return _mm256_and_si256(_mm256_srai_epi16(top, 3), _mm256_set1_epi16((short)0x8E00));  // E2M1
    }
}

/// What an fp16 from `fp16_codes` (or an MXINT8 code as an integer) must be multiplied by to be
/// the element's value: 2^(15 − bias_elem), or 2⁻⁶ for MXINT8.
static float element_factor(swk_mx_element element) {
    switch (element) {
    case SWK_MXFP8_E4M3: return 256.0f;
    case SWK_MXFP8_E5M2: return 1.0f;
    case SWK_MXFP6_E3M2: return 4096.0f;
    case SWK_MXINT8: return 1.0f / 64;
    default: return 16384.0f;  // E2M3, E2M1 (bias 1)
    }
}

/// A whole block's 32 codes as floats (element values up to `element_factor`).
AVX2 INLINE void decode_block(const swk_mx_element element, const uint8_t *block, const code_layout *layout,
                              const float *table, __m256 w[4]) {
    if (element == SWK_MXFP8_E4M3) {
        // One test per block, not a fix-up per code: quantizers never write E4M3's NaN code.
        const __m256i codes = _mm256_loadu_si256((const __m256i *)block);
        const __m256i nan = _mm256_cmpeq_epi8(_mm256_and_si256(codes, _mm256_set1_epi8(0x7F)), _mm256_set1_epi8(0x7F));
        if (__builtin_expect(!_mm256_testz_si256(nan, nan), 0)) {
            float values[BLOCK];
            for (int i = 0; i < BLOCK; i++) values[i] = table[block[i]] / 256.0f;  // as the fp16s are: element_factor undoes it
            for (int q = 0; q < 4; q++) w[q] = _mm256_loadu_ps(values + 8 * q);
            return;
        }
    }
    if (element == SWK_MXINT8) {
        for (int q = 0; q < 4; q++)
            w[q] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(block + 8 * q))));
        return;
    }
    for (int half = 0; half < 2; half++) {
        const __m256i h = fp16_codes(element, block, layout, half);
        w[2 * half] = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
        w[2 * half + 1] = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
    }
}

AVX2 INLINE float horizontal_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// Rows m0 … m0+MR−1 times output columns j0 … j0+JR−1 (MR and JR constants at every call, so
/// the sums stay in registers): each whole block is decoded once and multiplied into every row;
/// its dot products are scaled by the element factor, then by the block's scale (two steps, so
/// no product of the two can overflow). A short last block goes through the table. Two columns
/// at a time keep two independent chains of sums in flight and share each load of x.
AVX2 INLINE void mx_tile(const swk_mx_element element, const int MR, const int JR, int64_t m0, int64_t j0, int64_t n,
                         int64_t k_total, const uint8_t *codes, int64_t row_bytes, const uint8_t *scales,
                         const code_layout *layout, const float *table, const float *x, const float *bias, float *y) {
    const int bits = element_bits(element);
    const int64_t blocks = (k_total + BLOCK - 1) / BLOCK, whole = k_total / BLOCK;
    const __m256 factor = _mm256_set1_ps(element_factor(element));
    const float *xm = x + m0 * k_total;
    __m256 sums[MAX_ROWS / 2][2];
    for (int m = 0; m < MR; m++)
        for (int c = 0; c < JR; c++) sums[m][c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < whole; b++) {
        __m256 w[2][4], scale[2];
        for (int c = 0; c < JR; c++) {
            decode_block(element, codes + (j0 + c) * row_bytes + b * BLOCK * bits / 8, layout, table, w[c]);
            scale[c] = _mm256_set1_ps(block_scale(scales[(j0 + c) * blocks + b]));
        }
        for (int m = 0; m < MR; m++) {
            const float *xr = xm + m * k_total + b * BLOCK;
            const __m256 x0 = _mm256_loadu_ps(xr), x1 = _mm256_loadu_ps(xr + 8), x2 = _mm256_loadu_ps(xr + 16),
                         x3 = _mm256_loadu_ps(xr + 24);
            for (int c = 0; c < JR; c++) {
                const __m256 p01 = _mm256_fmadd_ps(w[c][1], x1, _mm256_mul_ps(w[c][0], x0));
                const __m256 p23 = _mm256_fmadd_ps(w[c][3], x3, _mm256_mul_ps(w[c][2], x2));
                sums[m][c] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_add_ps(p01, p23), factor), scale[c], sums[m][c]);
            }
        }
    }
    for (int m = 0; m < MR; m++) {
        for (int c = 0; c < JR; c++) {
            const int64_t j = j0 + c;
            float sum = horizontal_sum(sums[m][c]);
            if (whole < blocks) {
                const int64_t first = whole * BLOCK;
                sum += table_dot(codes + j * row_bytes, bits, first, (int)(k_total - first), table, xm + m * k_total + first) *
                       block_scale(scales[j * blocks + whole]);
            }
            y[(m0 + m) * n + j] = sum + (bias ? bias[j] : 0.0f);
        }
    }
}

/// Rows m0 … m0+MR−1 over columns j_begin … j_end−1, two columns at a time.
AVX2 INLINE void mx_rows(const swk_mx_element element, const int MR, int64_t m0, int64_t j_begin, int64_t j_end, int64_t n,
                         int64_t k_total, const uint8_t *codes, int64_t row_bytes, const uint8_t *scales,
                         const code_layout *layout, const float *table, const float *x, const float *bias, float *y) {
    int64_t j = j_begin;
    for (; j + 2 <= j_end; j += 2) mx_tile(element, MR, 2, m0, j, n, k_total, codes, row_bytes, scales, layout, table, x, bias, y);
    if (j < j_end) mx_tile(element, MR, 1, m0, j, n, k_total, codes, row_bytes, scales, layout, table, x, bias, y);
}

/// All rows, in chunks of 4, 2 and 1 (each chunk re-reads the weights, so the largest first).
AVX2 INLINE void mx_avx2(const swk_mx_element element, int64_t rows, int64_t j_begin, int64_t j_end, int64_t n,
                         int64_t k_total, const uint8_t *codes, int64_t row_bytes, const uint8_t *scales,
                         const float *table, const float *x, const float *bias, float *y) {
    const code_layout layout = layout_for(element_bits(element));
    for (int64_t m0 = 0; m0 < rows;) {
        const int64_t left = rows - m0;
        const int mr = left >= 4 ? 4 : left >= 2 ? 2 : 1;
        switch (mr) {
        case 4: mx_rows(element, 4, m0, j_begin, j_end, n, k_total, codes, row_bytes, scales, &layout, table, x, bias, y); break;
        case 2: mx_rows(element, 2, m0, j_begin, j_end, n, k_total, codes, row_bytes, scales, &layout, table, x, bias, y); break;
        default: mx_rows(element, 1, m0, j_begin, j_end, n, k_total, codes, row_bytes, scales, &layout, table, x, bias, y);
        }
        m0 += mr;
    }
}

/// One instance per element format, so each inner loop is compiled for its own constants.
#define MX_AVX2_FOR(name, element)                                                                                       \
    AVX2 static void name(int64_t rows, int64_t j_begin, int64_t j_end, int64_t n, int64_t k_total, const uint8_t *codes, \
                          int64_t row_bytes, const uint8_t *scales, const float *table, const float *x,                  \
                          const float *bias, float *y) {                                                                 \
        mx_avx2(element, rows, j_begin, j_end, n, k_total, codes, row_bytes, scales, table, x, bias, y);                 \
    }
MX_AVX2_FOR(mx_avx2_e4m3, SWK_MXFP8_E4M3)
MX_AVX2_FOR(mx_avx2_e5m2, SWK_MXFP8_E5M2)
MX_AVX2_FOR(mx_avx2_e2m3, SWK_MXFP6_E2M3)
MX_AVX2_FOR(mx_avx2_e3m2, SWK_MXFP6_E3M2)
MX_AVX2_FOR(mx_avx2_e2m1, SWK_MXFP4_E2M1)
MX_AVX2_FOR(mx_avx2_int8, SWK_MXINT8)

void swk_mx_matvec(swk_mx_element element, int64_t rows, int64_t j_begin, int64_t j_end, int64_t n, int64_t k_total,
                   const uint8_t *codes, int64_t row_bytes, const uint8_t *scales, const float *table, const float *x,
                   const float *bias, float *y) {
    if (!swk_has_avx2()) {
        mx_portable(rows, j_begin, j_end, n, k_total, element_bits(element), codes, row_bytes, scales, table, x, bias, y);
        return;
    }
    switch (element) {
    case SWK_MXFP8_E4M3: mx_avx2_e4m3(rows, j_begin, j_end, n, k_total, codes, row_bytes, scales, table, x, bias, y); break;
    case SWK_MXFP8_E5M2: mx_avx2_e5m2(rows, j_begin, j_end, n, k_total, codes, row_bytes, scales, table, x, bias, y); break;
    case SWK_MXFP6_E2M3: mx_avx2_e2m3(rows, j_begin, j_end, n, k_total, codes, row_bytes, scales, table, x, bias, y); break;
    case SWK_MXFP6_E3M2: mx_avx2_e3m2(rows, j_begin, j_end, n, k_total, codes, row_bytes, scales, table, x, bias, y); break;
    case SWK_MXFP4_E2M1: mx_avx2_e2m1(rows, j_begin, j_end, n, k_total, codes, row_bytes, scales, table, x, bias, y); break;
    case SWK_MXINT8: mx_avx2_int8(rows, j_begin, j_end, n, k_total, codes, row_bytes, scales, table, x, bias, y); break;
    }
}
