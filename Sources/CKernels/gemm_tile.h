// Register tiles of a product A·B with its epilogue, shared by the kernels whose products are too
// small or too oddly shaped for OpenBLAS's packing to pay (attention.c: one head's Q·Kᵀ and P·V;
// pointwise_conv.c: a 1×1 convolution of one image), or whose B was packed beforehand
// (packed_linear.c: a linear layer's weights, once; conv_panels.c: an image's unfolded input, 16
// positions at a time). A tile is up to 6 rows × 16 columns: 12 FMA
// sums in registers, each step of the sum reading one 16-float line of B (row stride b_ld) and
// broadcasting one element of each row of A. The tiles read B as it lies and pack nothing, so the
// callers keep B's lines short (16 floats) and its rows few enough to stay in cache across A's
// row tiles.
// Internal to CKernels.
#ifndef SWIFTLET_GEMM_TILE_H
#define SWIFTLET_GEMM_TILE_H
#include "ckernels.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define GEMM_TILE 16
#define GEMM_TILE_ROWS 6

/// out = clamp(scale · sum + bias[row] + column_bias[column] + residual[row · residual_ld +
/// column]), each term added in that order: either bias may be NULL (a convolution's is per row,
/// a linear layer's per column; none sets both), and so may the residual (a convolution's fused
/// Add, laid out like out); clamp(v) = v < lo ? lo : (v > hi ? hi : v), so NaN passes through
/// (lo = −∞, hi = +∞ for none). With `accumulate` the sum starts from out's values instead of
/// zero, so a long reduction can be taken in blocks (conv_panels.c: every block but the last
/// stores its partial sums with scale 1, no bias, no residual, no clamp).
typedef struct {
    float scale;
    const float *bias;
    float lo, hi;
    const float *column_bias;
    int accumulate;
    const float *residual;
    int64_t residual_ld;
} gemm_epilogue;

static inline float gemm_finish(float sum, const gemm_epilogue *e, int row, int64_t column) {
    float v = e->bias ? sum * e->scale + e->bias[row] : sum * e->scale;
    if (e->column_bias) v += e->column_bias[column];
    if (e->residual) v += e->residual[row * e->residual_ld + column];
    return v < e->lo ? e->lo : (v > e->hi ? e->hi : v);
}

/// R rows (a constant at every call site, so the loops unroll) × min(width, 16) columns:
/// out[r·out_ld + c] = finish(Σ_t a[r·a_ld + t] · b[t·b_ld + c]), the sum starting from
/// out[r·out_ld + c] with e->accumulate. Reads no column of B at or past
/// `width`. In plain C for the portable path (four SSE vectors a row: 25 GFLOP/s at MiniLM's
/// attention shapes, where a row-at-a-time loop gave 15).
static inline __attribute__((always_inline)) void gemm_tile_portable(const int R, const float *a, int64_t a_ld, int64_t depth,
                                                                    const float *b, int64_t b_ld, int64_t width,
                                                                    const gemm_epilogue *e, float *out, int64_t out_ld) {
    const int64_t kept = width < GEMM_TILE ? width : GEMM_TILE;
    float acc[GEMM_TILE_ROWS][GEMM_TILE] = {{0}};
    if (e->accumulate)
        for (int r = 0; r < R; r++)
            for (int64_t c = 0; c < kept; c++) acc[r][c] = out[r * out_ld + c];
    if (width >= GEMM_TILE) {
        for (int64_t t = 0; t < depth; t++) {
            const float *line = b + t * b_ld;
            for (int r = 0; r < R; r++) {
                const float x = a[r * a_ld + t];
                for (int c = 0; c < GEMM_TILE; c++) acc[r][c] += x * line[c];
            }
        }
    } else {
        for (int64_t t = 0; t < depth; t++) {
            const float *line = b + t * b_ld;
            for (int r = 0; r < R; r++) {
                const float x = a[r * a_ld + t];
                for (int64_t c = 0; c < width; c++) acc[r][c] += x * line[c];
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int64_t c = 0; c < kept; c++) out[r * out_ld + c] = gemm_finish(acc[r][c], e, r, c);
}

#define GEMM_AVX2 __attribute__((target("avx2,fma")))

/// Lanes i < n of a mask for masked loads and stores (n may be ≤ 0 or ≥ 8).
GEMM_AVX2 static inline __m256i gemm_lanes(int64_t n) {
    const int clamped = n < 0 ? 0 : n > 8 ? 8 : (int)n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(clamped), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// One tile with its accumulators in registers; `full` (a constant at each call site) reads and
/// writes whole lines, else masked loads and stores touch only the first `width` columns (a
/// masked load does not fault past them). H (a constant too) is the vectors of 8 columns the tile
/// spans: 1 for a width of at most 8, which then takes half the multiply-adds (the last panel of
/// Winograd's 49 tiles on a 14×14 plane holds one).
GEMM_AVX2 static inline __attribute__((always_inline)) void gemm_tile_avx2_lines(const int R, const int full, const int H,
                                                                                const float *a,
                                                                                int64_t a_ld, int64_t depth, const float *b,
                                                                                int64_t b_ld, int64_t width,
                                                                                const gemm_epilogue *e, float *out,
                                                                                int64_t out_ld) {
    const __m256i low = gemm_lanes(width), high = gemm_lanes(width - 8);
    __m256 acc[GEMM_TILE_ROWS][2];
    for (int r = 0; r < R; r++) {
        if (e->accumulate) {
            acc[r][0] = full ? _mm256_loadu_ps(out + r * out_ld) : _mm256_maskload_ps(out + r * out_ld, low);
            if (H == 2)
                acc[r][1] = full ? _mm256_loadu_ps(out + r * out_ld + 8) : _mm256_maskload_ps(out + r * out_ld + 8, high);
        } else {
            acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        }
    }
    for (int64_t t = 0; t < depth; t++) {
        const float *line = b + t * b_ld;
        const __m256 b0 = full ? _mm256_loadu_ps(line) : _mm256_maskload_ps(line, low);
        const __m256 b1 = H == 1 ? b0 : full ? _mm256_loadu_ps(line + 8) : _mm256_maskload_ps(line + 8, high);
        for (int r = 0; r < R; r++) {
            const __m256 x = _mm256_broadcast_ss(a + r * a_ld + t);
            acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
            if (H == 2) acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
        }
    }
    const __m256 scale = _mm256_set1_ps(e->scale), lo = _mm256_set1_ps(e->lo), hi = _mm256_set1_ps(e->hi);
    const int clamped = e->lo > -INFINITY || e->hi < INFINITY;
    __m256 column_bias[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    if (e->column_bias) {
        column_bias[0] = full ? _mm256_loadu_ps(e->column_bias) : _mm256_maskload_ps(e->column_bias, low);
        if (H == 2)
            column_bias[1] = full ? _mm256_loadu_ps(e->column_bias + 8) : _mm256_maskload_ps(e->column_bias + 8, high);
    }
    for (int r = 0; r < R; r++) {
        const __m256 bias = _mm256_set1_ps(e->bias ? e->bias[r] : 0.0f);
        __m256 v[2];
        for (int h = 0; h < H; h++) {
            // With no bias, a product alone: adding +0 would turn a −0 sum into +0.
            v[h] = e->bias ? _mm256_fmadd_ps(acc[r][h], scale, bias) : _mm256_mul_ps(acc[r][h], scale);
            // Separate adds, as gemm_finish does: both paths round alike.
            if (e->column_bias) v[h] = _mm256_add_ps(v[h], column_bias[h]);
            if (e->residual) {
                const float *z = e->residual + r * e->residual_ld + h * 8;
                v[h] = _mm256_add_ps(v[h], full ? _mm256_loadu_ps(z) : _mm256_maskload_ps(z, h ? high : low));
            }
            // max(lo, v) and min(hi, ·) return their second operand when it is NaN: NaN passes.
            if (clamped) v[h] = _mm256_min_ps(hi, _mm256_max_ps(lo, v[h]));
        }
        if (full) {
            _mm256_storeu_ps(out + r * out_ld, v[0]);
            if (H == 2) _mm256_storeu_ps(out + r * out_ld + 8, v[1]);
        } else {
            _mm256_maskstore_ps(out + r * out_ld, low, v[0]);
            if (H == 2) _mm256_maskstore_ps(out + r * out_ld + 8, high, v[1]);
        }
    }
}

/// gemm_tile_portable in AVX2 intrinsics: compiled for AVX2, the portable C reached 77-80
/// GFLOP/s on attention's scores, this 89-93 (a C harness, best of 50).
GEMM_AVX2 static inline __attribute__((always_inline)) void gemm_tile_avx2(const int R, const float *a, int64_t a_ld,
                                                                          int64_t depth, const float *b, int64_t b_ld,
                                                                          int64_t width, const gemm_epilogue *e, float *out,
                                                                          int64_t out_ld) {
    if (width >= GEMM_TILE) gemm_tile_avx2_lines(R, 1, 2, a, a_ld, depth, b, b_ld, width, e, out, out_ld);
    else if (width > 8) gemm_tile_avx2_lines(R, 0, 2, a, a_ld, depth, b, b_ld, width, e, out, out_ld);
    else if (width == 8) gemm_tile_avx2_lines(R, 1, 1, a, a_ld, depth, b, b_ld, width, e, out, out_ld);
    else gemm_tile_avx2_lines(R, 0, 1, a, a_ld, depth, b, b_ld, width, e, out, out_ld);
}

/// out[r·out_ld + c] = finish(Σ_t a[r·a_ld + t]·b[t·b_ld + c]) (from out's value with
/// e->accumulate) for r < rows, c < width, in
/// tiles of up to 6 rows × 16 columns, columns outermost (each 16-column line of B is read for
/// every row tile while it is in cache); one function per path.
typedef void (*gemm_product_function)(const float *a, int64_t a_ld, int64_t rows, int64_t depth, const float *b,
                                      int64_t b_ld, int64_t width, const gemm_epilogue *e, float *out, int64_t out_ld);
#define GEMM_PRODUCT(NAME, ATTRIBUTES, TILE_FUNCTION)                                                                   \
    ATTRIBUTES static void NAME(const float *a, int64_t a_ld, int64_t rows, int64_t depth, const float *b, int64_t b_ld, \
                                int64_t width, const gemm_epilogue *e, float *out, int64_t out_ld) {                     \
        for (int64_t c0 = 0; c0 < width; c0 += GEMM_TILE) {                                                             \
            const int64_t w = width - c0;                                                                               \
            for (int64_t r0 = 0; r0 < rows; r0 += GEMM_TILE_ROWS) {                                                     \
                const float *ar = a + r0 * a_ld;                                                                        \
                float *o = out + r0 * out_ld + c0;                                                                      \
                const gemm_epilogue rows_e = {e->scale, e->bias ? e->bias + r0 : NULL, e->lo, e->hi,                    \
                                             e->column_bias ? e->column_bias + c0 : NULL, e->accumulate,                \
                                             e->residual ? e->residual + r0 * e->residual_ld + c0 : NULL,               \
                                             e->residual_ld};                                                           \
                switch (rows - r0 < GEMM_TILE_ROWS ? rows - r0 : GEMM_TILE_ROWS) {                                      \
                case 1: TILE_FUNCTION(1, ar, a_ld, depth, b + c0, b_ld, w, &rows_e, o, out_ld); break;                  \
                case 2: TILE_FUNCTION(2, ar, a_ld, depth, b + c0, b_ld, w, &rows_e, o, out_ld); break;                  \
                case 3: TILE_FUNCTION(3, ar, a_ld, depth, b + c0, b_ld, w, &rows_e, o, out_ld); break;                  \
                case 4: TILE_FUNCTION(4, ar, a_ld, depth, b + c0, b_ld, w, &rows_e, o, out_ld); break;                  \
                case 5: TILE_FUNCTION(5, ar, a_ld, depth, b + c0, b_ld, w, &rows_e, o, out_ld); break;                  \
                default: TILE_FUNCTION(6, ar, a_ld, depth, b + c0, b_ld, w, &rows_e, o, out_ld); break;                 \
                }                                                                                                       \
            }                                                                                                           \
        }                                                                                                               \
    }

#endif
