// One attention head's two products (see ckernels.h): scores = scale · Q·Kᵀ and context = P·V.
// OpenBLAS's sgemm took them at 32–35 GFLOP/s in MiniLM-L6 (d = 32, 128 keys, 64-row blocks): each
// call packs K or V again, and the products are too small for its packing to pay. Here a head's
// K and V are packed once, K transposed into [size][keys] and V into [keys][size] with both
// padded to 16 floats, so every register tile (gemm_tile.h: up to 6 rows × 16 columns, 12 sums)
// reads one contiguous 64-byte line of packed keys or values per step of the sum.
#include "ckernels.h"
#include "gemm_tile.h"
#include "transpose8.h"
#include <string.h>

static int64_t padded(int64_t count) { return (count + GEMM_TILE - 1) / GEMM_TILE * GEMM_TILE; }

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

GEMM_PRODUCT(product_avx2, GEMM_AVX2, gemm_tile_avx2)
GEMM_PRODUCT(product_portable, , gemm_tile_portable)

static void product(const float *a, int64_t a_ld, int64_t rows, int64_t depth, const float *b, int64_t b_ld, int64_t width,
                    float scale, float *out, int64_t out_ld) {
    const gemm_epilogue e = {scale, NULL, -INFINITY, INFINITY};
    (swk_has_avx2() ? product_avx2 : product_portable)(a, a_ld, rows, depth, b, b_ld, width, &e, out, out_ld);
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
