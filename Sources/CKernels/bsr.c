// Block-sparse (BSR) linear layer, y = x·Wᵀ + bias (see ckernels.h).
// The loop runs along M (XNNPACK's SpMM layout): one stored weight is broadcast and multiplied
// into a vector of rows of x, so each weight is read once per chunk of rows, and the sums of up
// to 4 output columns × the chunk stay in registers across a whole block row. x is taken one
// chunk of rows at a time and transposed into a panel that stays in cache while every block row
// reads it; the chunk's sums collect in a tile that is transposed into y with the bias added.
#include "ckernels.h"
#include "transpose8.h"
#include <string.h>

/// Rows of x per chunk, by block height, as measured (docs/BENCHMARKS.md): at R ≥ 4 a group's
/// 4 rows × 2 vectors of sums, a panel row of 16 floats being one cache line (24 floats, every
/// other row split over two lines, ran 1.4× slower); at R = 1 one row × 6 vectors, since a
/// single output row shares each loaded x vector with nothing else (16 rows ran 1.25–1.85× slower);
/// R = 2 and 3 in between.
int64_t swk_bsr_chunk_rows(int r) {
    switch (r) {
    case 1: return 48;
    case 2: case 3: return 32;
    default: return 16;
    }
}

static float row_scale(const swk_bsr_matrix *w, int64_t row) {
    // Rows past N (padding of the last block row) are computed but never written to y: any scale will do.
    return w->scales && row < w->n ? w->scales[row] : 1.0f;
}

static float stored_weight(const swk_bsr_matrix *w, int64_t index) {
    return w->scales ? (float)w->codes[index] : w->values[index];
}

/// panel[k·ld + i] = x[(m0 + i)·k_total + k] for i < rows; zero for rows ≤ i < width and k ≥ k_total.
static void pack_scalar(const float *x, int64_t m0, int64_t rows, int64_t width, int64_t k_total, int64_t k_begin,
                        int64_t k_end, int64_t ld, float *panel) {
    for (int64_t k = k_begin; k < k_end; k++)
        for (int64_t i = 0; i < width; i++) panel[k * ld + i] = i < rows && k < k_total ? x[(m0 + i) * k_total + k] : 0.0f;
}

/// y[i·n + j] = tile[(j − j_first)·ld + i] + bias[j] for i < rows, j_begin ≤ j < j_end; the tile
/// starts at column j_first.
static void unpack_scalar(const float *tile, int64_t ld, int64_t rows, int64_t j_first, int64_t j_begin, int64_t j_end,
                          int64_t n, const float *bias, float *y) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = j_begin; j < j_end; j++) y[i * n + j] = tile[(j - j_first) * ld + i] + (bias ? bias[j] : 0.0f);
}

static void chunk_portable(const swk_bsr_matrix *w, const float *x, int64_t m0, int64_t rows, int64_t ld, int64_t b0,
                           int64_t b1, const float *bias, float *y, float *panel, float *tile) {
    const int r = w->r, c = w->c;
    pack_scalar(x, m0, rows, rows, w->k, 0, (w->k + c - 1) / c * c, ld, panel);
    for (int64_t b = b0; b < b1; b++) {
        for (int i = 0; i < r; i++) {
            float *out = tile + ((b - b0) * r + i) * ld;
            memset(out, 0, (size_t)rows * sizeof(float));
            for (int32_t s = w->row_pointers[b]; s < w->row_pointers[b + 1]; s++) {
                for (int j = 0; j < c; j++) {
                    const float weight = stored_weight(w, ((int64_t)s * r + i) * c + j);
                    const float *xs = panel + ((int64_t)w->column_indices[s] * c + j) * ld;
                    for (int64_t m = 0; m < rows; m++) out[m] += weight * xs[m];
                }
            }
            const float scale = row_scale(w, b * r + i);
            for (int64_t m = 0; m < rows; m++) out[m] *= scale;
        }
    }
    unpack_scalar(tile, ld, rows, b0 * r, b0 * r, b1 * r < w->n ? b1 * r : w->n, w->n, bias, y + m0 * w->n);
}

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/// pack_scalar, 8×8 tiles at a time.
AVX2 static void pack(const float *x, int64_t m0, int64_t rows, int64_t width, int64_t k_total, int64_t k_padded,
                      int64_t ld, float *panel) {
    int64_t k0 = 0;
    for (; k0 + 8 <= k_total; k0 += 8) {
        for (int64_t i0 = 0; i0 < width; i0 += 8) {
            __m256 v[8];
            for (int t = 0; t < 8; t++)
                v[t] = i0 + t < rows ? _mm256_loadu_ps(x + (m0 + i0 + t) * k_total + k0) : _mm256_setzero_ps();
            swk_transpose8(v);
            for (int t = 0; t < 8; t++) _mm256_storeu_ps(panel + (k0 + t) * ld + i0, v[t]);
        }
    }
    pack_scalar(x, m0, rows, width, k_total, k0, k_padded, ld, panel);
}

/// unpack_scalar from j_first, 8×8 tiles at a time (the tile holds whole vectors of rows, so
/// reading past `rows` stays inside it).
AVX2 static void unpack(const float *tile, int64_t ld, int64_t rows, int64_t j_first, int64_t j_end, int64_t n,
                        const float *bias, float *y) {
    int64_t j0 = j_first;
    for (; j0 + 8 <= j_end; j0 += 8) {
        const __m256 b = bias ? _mm256_loadu_ps(bias + j0) : _mm256_setzero_ps();
        for (int64_t i0 = 0; i0 < rows; i0 += 8) {
            __m256 v[8];
            for (int t = 0; t < 8; t++) v[t] = _mm256_loadu_ps(tile + (j0 - j_first + t) * ld + i0);
            swk_transpose8(v);
            for (int t = 0; t < 8 && i0 + t < rows; t++) _mm256_storeu_ps(y + (i0 + t) * n + j0, _mm256_add_ps(v[t], b));
        }
    }
    unpack_scalar(tile, ld, rows, j_first, j0, j_end, n, bias, y);
}

/// Rows row0 … row0+G−1 of block row b over V vectors of the chunk; Q: the stored values are
/// int8 codes. G, V and Q are constants at every call site, so the loops unroll and `acc` lives
/// in registers.
AVX2 INLINE void group(const int G, const int V, const int Q, const swk_bsr_matrix *w, int64_t b, int row0,
                       const float *panel, int64_t ld, float *out) {
    // Fields in locals: the compiler cannot tell that the stores below leave *w alone.
    const int r = w->r, c = w->c;
    const int32_t *cols = w->column_indices;
    const float *values = w->values;
    const int8_t *codes = w->codes;
    const int64_t start = w->row_pointers[b], end = w->row_pointers[b + 1];
    __m256 acc[4][6];
    for (int g = 0; g < G; g++)
        for (int v = 0; v < V; v++) acc[g][v] = _mm256_setzero_ps();
    for (int64_t s = start; s < end; s++) {
        const int64_t first = (s * r + row0) * c;
        const float *x = panel + (int64_t)cols[s] * c * ld;
        for (int j = 0; j < c; j++) {
            for (int g = 0; g < G; g++) {
                // A code converts to float exactly; its row's scale multiplies the finished sum.
                const __m256 weight = Q ? _mm256_set1_ps((float)codes[first + g * c + j])
                                        : _mm256_broadcast_ss(values + first + g * c + j);
                for (int v = 0; v < V; v++) acc[g][v] = _mm256_fmadd_ps(weight, _mm256_loadu_ps(x + j * ld + v * 8), acc[g][v]);
            }
        }
    }
    for (int g = 0; g < G; g++) {
        const __m256 scale = _mm256_set1_ps(row_scale(w, b * r + row0 + g));
        for (int v = 0; v < V; v++) _mm256_storeu_ps(out + g * ld + v * 8, Q ? _mm256_mul_ps(acc[g][v], scale) : acc[g][v]);
    }
}

/// `group` for float (q = 0) or int8 (q = 1) values and V vectors, one instance per pair.
#define CASE(G, V)                                                  \
    case 2 * V: group(G, V, 0, w, b, row0, panel, ld, out); break; \
    case 2 * V + 1: group(G, V, 1, w, b, row0, panel, ld, out); break;

/// One function per group height, with an instance for each chunk width that height meets:
/// swk_bsr_chunk_rows gives 6 vectors only to R = 1, 4 to R = 2 and 3, and 2 to R ≥ 4 (whose
/// last group may be 1–3 rows high); a short last chunk has fewer.
#define GROUP_OF_HEIGHT(G, CASES)                                                                            \
    AVX2 static void group##G(int vectors, const swk_bsr_matrix *w, int64_t b, int row0, const float *panel, \
                              int64_t ld, float *out) {                                                      \
        switch (vectors * 2 + (w->scales != NULL)) { CASES }                                                 \
    }
GROUP_OF_HEIGHT(1, CASE(1, 1) CASE(1, 2) CASE(1, 3) CASE(1, 4) CASE(1, 5) CASE(1, 6))
GROUP_OF_HEIGHT(2, CASE(2, 1) CASE(2, 2) CASE(2, 3) CASE(2, 4))
GROUP_OF_HEIGHT(3, CASE(3, 1) CASE(3, 2) CASE(3, 3) CASE(3, 4))
GROUP_OF_HEIGHT(4, CASE(4, 1) CASE(4, 2))

AVX2 static void chunk_avx2(const swk_bsr_matrix *w, const float *x, int64_t m0, int64_t rows, int64_t ld, int64_t b0,
                            int64_t b1, const float *bias, float *y, float *panel, float *tile) {
    const int r = w->r, c = w->c, vectors = (int)((rows + 7) / 8);
    pack(x, m0, rows, vectors * 8, w->k, (w->k + c - 1) / c * c, ld, panel);
    for (int64_t b = b0; b < b1; b++) {
        for (int row0 = 0; row0 < r; row0 += 4) {
            float *out = tile + ((b - b0) * r + row0) * ld;
            switch (r - row0) {
            case 1: group1(vectors, w, b, row0, panel, ld, out); break;
            case 2: group2(vectors, w, b, row0, panel, ld, out); break;
            case 3: group3(vectors, w, b, row0, panel, ld, out); break;
            default: group4(vectors, w, b, row0, panel, ld, out); break;
            }
        }
    }
    unpack(tile, ld, rows, b0 * r, b1 * r < w->n ? b1 * r : w->n, w->n, bias, y + m0 * w->n);
}

int64_t swk_bsr_linear_scratch_floats(int64_t k, int r, int c, int64_t block_rows) {
    return ((k + c - 1) / c * c + block_rows * r) * swk_bsr_chunk_rows(r);
}

void swk_bsr_linear(const swk_bsr_matrix *w, const float *x, int64_t m, int64_t b0, int64_t b1, const float *bias, float *y,
                    float *scratch) {
    const int64_t ld = swk_bsr_chunk_rows(w->r);
    float *panel = scratch, *tile = scratch + (w->k + w->c - 1) / w->c * w->c * ld;
    const int avx2 = swk_has_avx2();
    for (int64_t m0 = 0; m0 < m; m0 += ld) {
        const int64_t rows = m - m0 < ld ? m - m0 : ld;
        (avx2 ? chunk_avx2 : chunk_portable)(w, x, m0, rows, ld, b0, b1, bias, y, panel, tile);
    }
}
