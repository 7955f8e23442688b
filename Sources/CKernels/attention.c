// One attention head's two products (see ckernels.h): scores = scale · Q·Kᵀ and context = P·V.
// OpenBLAS's sgemm took them at 32–35 GFLOP/s in MiniLM-L6 (d = 32, 128 keys, 64-row blocks): each
// call packs K or V again, and the products are too small for its packing to pay. Here a head's
// K and V are packed once, K transposed into [size][keys] and V into [keys][size] with both
// padded to 16 floats, so every register tile (up to 6 rows × 16 columns, 12 sums) reads one
// contiguous 64-byte line of packed keys or values per step of the sum.
#include "ckernels.h"
#include "transpose8.h"
#include <string.h>

#define TILE 16
#define TILE_ROWS 6

static int64_t padded(int64_t count) { return (count + TILE - 1) / TILE * TILE; }

int64_t swk_attention_scores_stride(int64_t keys) { return padded(keys); }

int64_t swk_attention_packed_floats(int64_t keys, int64_t size) { return size * padded(keys) + keys * padded(size); }

/// Keys first_key ≤ j < keys of K [keys, size] (row stride `stride`) transposed into keys_t
/// [size][ld], and zero from `keys` to ld.
static void transpose_keys_portable(const float *k, int64_t stride, int64_t first_key, int64_t keys, int64_t size, int64_t ld,
                                    float *keys_t) {
    for (int64_t d = 0; d < size; d++) {
        float *line = keys_t + d * ld;
        for (int64_t j = first_key; j < keys; j++) line[j] = k[j * stride + d];
        memset(line + keys, 0, (size_t)(ld - keys) * sizeof(float));
    }
}

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/// transpose_keys_portable, 8 keys × 8 dimensions at a time (the scalar loop took 5.5 µs of a
/// MiniLM head's ~50; this takes 1); the last keys short of 8 and the padding by the portable loop.
AVX2 static void transpose_keys_avx2(const float *k, int64_t stride, int64_t first_key, int64_t keys, int64_t size, int64_t ld,
                                     float *keys_t) {
    const int64_t whole_keys = first_key + (keys - first_key) / 8 * 8, whole_dims = size / 8 * 8;
    for (int64_t j0 = first_key; j0 < whole_keys; j0 += 8) {
        for (int64_t d0 = 0; d0 < whole_dims; d0 += 8) {
            __m256 v[8];
            for (int t = 0; t < 8; t++) v[t] = _mm256_loadu_ps(k + (j0 + t) * stride + d0);
            swk_transpose8(v);
            for (int t = 0; t < 8; t++) _mm256_storeu_ps(keys_t + (d0 + t) * ld + j0, v[t]);
        }
        for (int64_t d = whole_dims; d < size; d++)
            for (int64_t j = j0; j < j0 + 8; j++) keys_t[d * ld + j] = k[j * stride + d];
    }
    transpose_keys_portable(k, stride, whole_keys, keys, size, ld, keys_t);
}

void swk_attention_pack_head(const float *k, const float *v, int64_t stride, int64_t keys, int64_t size, float *packed) {
    const int64_t key_ld = padded(keys), value_ld = padded(size);
    (swk_has_avx2() ? transpose_keys_avx2 : transpose_keys_portable)(k, stride, 0, keys, size, key_ld, packed);
    float *values = packed + size * key_ld;
    for (int64_t j = 0; j < keys; j++) {
        memcpy(values + j * value_ld, v + j * stride, (size_t)size * sizeof(float));
        memset(values + j * value_ld + size, 0, (size_t)(value_ld - size) * sizeof(float));
    }
}

/// R rows (a constant at every call site, so the loops unroll and `acc` lives in registers) × 16
/// columns of scale · A·B: A's rows from a with stride a_ld, B's lines of 16 from b with stride
/// b_ld. The tile goes to out (stride out_ld), only its first `width` columns when fewer than 16.
/// In plain C for the portable path (four SSE vectors a row: 25 GFLOP/s at MiniLM's shapes, where
/// a row-at-a-time loop gave 15).
INLINE void tile_portable(const int R, const float *a, int64_t a_ld, int64_t depth, const float *b, int64_t b_ld, float scale,
                          float *out, int64_t out_ld, int64_t width) {
    float acc[TILE_ROWS][TILE] = {{0}};
    for (int64_t t = 0; t < depth; t++) {
        const float *line = b + t * b_ld;
        for (int r = 0; r < R; r++) {
            const float x = a[r * a_ld + t];
            for (int c = 0; c < TILE; c++) acc[r][c] += x * line[c];
        }
    }
    const int64_t kept = width < TILE ? width : TILE;
    for (int r = 0; r < R; r++)
        for (int64_t c = 0; c < kept; c++) out[r * out_ld + c] = acc[r][c] * scale;
}

/// tile_portable in AVX2 intrinsics: compiled for AVX2, tile_portable's C reached 77-80 GFLOP/s
/// on the scores, this 89-93 (a C harness, best of 50).
AVX2 INLINE void tile_avx2(const int R, const float *a, int64_t a_ld, int64_t depth, const float *b, int64_t b_ld, float scale,
                           float *out, int64_t out_ld, int64_t width) {
    __m256 acc[TILE_ROWS][2];
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t t = 0; t < depth; t++) {
        const __m256 b0 = _mm256_loadu_ps(b + t * b_ld), b1 = _mm256_loadu_ps(b + t * b_ld + 8);
        for (int r = 0; r < R; r++) {
            const __m256 x = _mm256_broadcast_ss(a + r * a_ld + t);
            acc[r][0] = _mm256_fmadd_ps(x, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(x, b1, acc[r][1]);
        }
    }
    const __m256 s = _mm256_set1_ps(scale);
    for (int r = 0; r < R; r++) {
        if (width >= TILE) {
            _mm256_storeu_ps(out + r * out_ld, _mm256_mul_ps(acc[r][0], s));
            _mm256_storeu_ps(out + r * out_ld + 8, _mm256_mul_ps(acc[r][1], s));
        } else {
            float line[TILE];
            _mm256_storeu_ps(line, _mm256_mul_ps(acc[r][0], s));
            _mm256_storeu_ps(line + 8, _mm256_mul_ps(acc[r][1], s));
            memcpy(out + r * out_ld, line, (size_t)width * sizeof(float));
        }
    }
}

/// out[r·out_ld + c] = scale · Σ_t a[r·a_ld + t]·b[t·b_ld + c] for r < rows, c < width, b's lines
/// padded to a multiple of 16 floats, in tiles of up to 6 rows × 16 columns; one function per path.
#define PRODUCT(NAME, ATTRIBUTES, TILE_FUNCTION)                                                                       \
    ATTRIBUTES static void NAME(const float *a, int64_t a_ld, int64_t rows, int64_t depth, const float *b, int64_t b_ld, \
                                int64_t width, float scale, float *out, int64_t out_ld) {                                \
        for (int64_t r0 = 0; r0 < rows; r0 += TILE_ROWS) {                                                              \
            const float *ar = a + r0 * a_ld;                                                                            \
            float *o = out + r0 * out_ld;                                                                               \
            for (int64_t c0 = 0; c0 < width; c0 += TILE) {                                                              \
                const int64_t w = width - c0;                                                                           \
                switch (rows - r0 < TILE_ROWS ? rows - r0 : TILE_ROWS) {                                                \
                case 1: TILE_FUNCTION(1, ar, a_ld, depth, b + c0, b_ld, scale, o + c0, out_ld, w); break;               \
                case 2: TILE_FUNCTION(2, ar, a_ld, depth, b + c0, b_ld, scale, o + c0, out_ld, w); break;               \
                case 3: TILE_FUNCTION(3, ar, a_ld, depth, b + c0, b_ld, scale, o + c0, out_ld, w); break;               \
                case 4: TILE_FUNCTION(4, ar, a_ld, depth, b + c0, b_ld, scale, o + c0, out_ld, w); break;               \
                case 5: TILE_FUNCTION(5, ar, a_ld, depth, b + c0, b_ld, scale, o + c0, out_ld, w); break;               \
                default: TILE_FUNCTION(6, ar, a_ld, depth, b + c0, b_ld, scale, o + c0, out_ld, w); break;              \
                }                                                                                                       \
            }                                                                                                           \
        }                                                                                                               \
    }
PRODUCT(product_avx2, AVX2, tile_avx2)
PRODUCT(product_portable, , tile_portable)

static void product(const float *a, int64_t a_ld, int64_t rows, int64_t depth, const float *b, int64_t b_ld, int64_t width,
                    float scale, float *out, int64_t out_ld) {
    (swk_has_avx2() ? product_avx2 : product_portable)(a, a_ld, rows, depth, b, b_ld, width, scale, out, out_ld);
}

void swk_attention_scores(const float *q, int64_t q_stride, int64_t rows, const float *packed, int64_t keys, int64_t size,
                          float scale, float *scores) {
    const int64_t ld = padded(keys);
    product(q, q_stride, rows, size, packed, ld, ld, scale, scores, ld);
}

void swk_attention_context(const float *scores, int64_t rows, const float *packed, int64_t keys, int64_t size, float *y,
                           int64_t y_stride) {
    const int64_t ld = padded(keys);
    product(scores, ld, rows, keys, packed + size * ld, padded(size), size, 1.0f, y, y_stride);
}
