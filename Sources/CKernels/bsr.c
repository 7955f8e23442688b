// Block-sparse × dense (see ckernels.h). The loop runs along M with X transposed, so one stored
// weight is broadcast and multiplied into a whole vector of rows (XNNPACK's SpMM layout): each
// weight is read once per M-chunk, and the accumulators for up to 4 output rows × 24 M stay in
// registers across every stored block of the block row.
#include "ckernels.h"
#include <immintrin.h>
#include <string.h>

static void bsr_portable(int64_t block_rows, int r, int c, const int32_t *row_pointers, const int32_t *column_indices,
                         const float *values, const float *xt, int64_t mp, float *yt) {
    for (int64_t b = 0; b < block_rows; b++) {
        for (int i = 0; i < r; i++) {
            float *out = yt + (b * r + i) * mp;
            memset(out, 0, (size_t)mp * sizeof(float));
            for (int32_t s = row_pointers[b]; s < row_pointers[b + 1]; s++) {
                for (int j = 0; j < c; j++) {
                    const float w = values[((int64_t)s * r + i) * c + j];
                    const float *x = xt + ((int64_t)column_indices[s] * c + j) * mp;
                    for (int64_t m = 0; m < mp; m++) out[m] += w * x[m];
                }
            }
        }
    }
}

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/// Rows row0 … row0+G−1 of block row b, M columns m0 … m0+8·V−1. C, G and V are constants at
/// every call site, so the loops unroll and `acc` lives in registers.
AVX2 INLINE void group(const int C, const int G, const int V, int r, int64_t start, int64_t end, const int32_t *cols,
                       const float *values, int row0, const float *xt, int64_t mp, int64_t m0, float *out) {
    __m256 acc[4][6];
    for (int g = 0; g < G; g++)
        for (int v = 0; v < V; v++) acc[g][v] = _mm256_setzero_ps();
    for (int64_t s = start; s < end; s++) {
        const float *w = values + s * r * C + (int64_t)row0 * C;
        const float *x = xt + (int64_t)cols[s] * C * mp + m0;
        for (int j = 0; j < C; j++) {
            for (int g = 0; g < G; g++) {
                const __m256 weight = _mm256_broadcast_ss(w + g * C + j);
                for (int v = 0; v < V; v++) acc[g][v] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(x + j * mp + v * 8), acc[g][v]);
            }
        }
    }
    for (int g = 0; g < G; g++)
        for (int v = 0; v < V; v++) _mm256_storeu_ps(out + g * mp + v * 8, acc[g][v]);
}

/// All M columns of G rows: full chunks of V vectors, then single vectors.
AVX2 INLINE void rows_of_group(const int C, const int G, const int V, int r, int64_t start, int64_t end, const int32_t *cols,
                               const float *values, int row0, const float *xt, int64_t mp, float *out) {
    int64_t m0 = 0;
    for (; m0 + 8 * V <= mp; m0 += 8 * V) group(C, G, V, r, start, end, cols, values, row0, xt, mp, m0, out + m0);
    for (; m0 < mp; m0 += 8) group(C, G, 1, r, start, end, cols, values, row0, xt, mp, m0, out + m0);
}

/// Specializes on the group height (vectors per chunk chosen so accumulators + loads fit 16 registers).
AVX2 INLINE void rows_by_height(const int C, int G, int r, int64_t start, int64_t end, const int32_t *cols, const float *values,
                                int row0, const float *xt, int64_t mp, float *out) {
    switch (G) {
    case 1: rows_of_group(C, 1, 6, r, start, end, cols, values, row0, xt, mp, out); break;
    case 2: rows_of_group(C, 2, 4, r, start, end, cols, values, row0, xt, mp, out); break;
    case 3: rows_of_group(C, 3, 3, r, start, end, cols, values, row0, xt, mp, out); break;
    default: rows_of_group(C, 4, 3, r, start, end, cols, values, row0, xt, mp, out); break;
    }
}

AVX2 static void block_row(int r, int c, int64_t b, const int32_t *row_pointers, const int32_t *cols, const float *values,
                           const float *xt, int64_t mp, float *yt) {
    const int64_t start = row_pointers[b], end = row_pointers[b + 1];
    for (int row0 = 0; row0 < r; row0 += 4) {
        const int G = r - row0 < 4 ? r - row0 : 4;
        float *out = yt + (b * r + row0) * mp;
        switch (c) {  // the common block widths unrolled; any other width loops
        case 1: rows_by_height(1, G, r, start, end, cols, values, row0, xt, mp, out); break;
        case 2: rows_by_height(2, G, r, start, end, cols, values, row0, xt, mp, out); break;
        case 4: rows_by_height(4, G, r, start, end, cols, values, row0, xt, mp, out); break;
        case 8: rows_by_height(8, G, r, start, end, cols, values, row0, xt, mp, out); break;
        case 16: rows_by_height(16, G, r, start, end, cols, values, row0, xt, mp, out); break;
        default: rows_by_height(c, G, r, start, end, cols, values, row0, xt, mp, out); break;
        }
    }
}

void swk_bsr_times_dense(int64_t block_rows, int r, int c, const int32_t *row_pointers, const int32_t *column_indices,
                         const float *values, const float *xt, int64_t mp, float *yt) {
    if (!swk_has_avx2()) {
        bsr_portable(block_rows, r, c, row_pointers, column_indices, values, xt, mp, yt);
        return;
    }
    for (int64_t b = 0; b < block_rows; b++) block_row(r, c, b, row_pointers, column_indices, values, xt, mp, yt);
}
