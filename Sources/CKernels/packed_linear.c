// A linear layer Y [M, N] = X [M, K] · W [K, N] + bias with W packed once, when a session first
// plans the layer, into panels of 16 columns: panel j holds W[t][16j ..< 16j + 16] for
// t = 0 ..< K, one 64-byte line after another (columns past N are zeros). The register tiles
// (gemm_tile.h) then read each panel as B with row stride 16, front to back, and add the bias in
// their epilogue.
//
// Why: OpenBLAS's sgemm copies W into its own packed buffer on every call, which costs most at
// few rows. MiniLM's 36 products at M = 16 took 10.9 ms through sgemm and 8.1 on panels packed
// once (bench/kernels/packed_linear_timing.c, W cycled through the model's 42.5 MB as in a run;
// docs/BENCHMARKS.md, ninth measurement). From M = 128 on the two are within this machine's
// drift, and at M = 1024 on two threads the panels lost (MiniLM b8 s128: 263–269 ms against
// 243–248 with sgemm), so LinearKernel.swift sends M ≥ 512 rows to sgemm.
#include "ckernels.h"
#include "gemm_tile.h"

GEMM_PRODUCT(packed_linear_avx2, GEMM_AVX2, gemm_tile_avx2)
GEMM_PRODUCT(packed_linear_portable, , gemm_tile_portable)

int64_t swk_linear_panels_count(int64_t k, int64_t n) { return (n + GEMM_TILE - 1) / GEMM_TILE * GEMM_TILE * k; }

void swk_linear_pack(const float *w, int64_t k, int64_t n, int transposed, float *panels) {
    for (int64_t c0 = 0; c0 < n; c0 += GEMM_TILE) {
        const int64_t width = n - c0 < GEMM_TILE ? n - c0 : GEMM_TILE;
        float *panel = panels + c0 * k;
        for (int64_t t = 0; t < k; t++) {
            if (transposed) {
                for (int64_t c = 0; c < width; c++) panel[t * GEMM_TILE + c] = w[(c0 + c) * k + t];
            } else {
                memcpy(panel + t * GEMM_TILE, w + t * n + c0, sizeof(float) * (size_t)width);
            }
            memset(panel + t * GEMM_TILE + width, 0, sizeof(float) * (size_t)(GEMM_TILE - width));
        }
    }
}

void swk_linear_packed(const float *x, int64_t m, int64_t k, const float *panels, int64_t n, int64_t column_begin,
                       int64_t column_end, const float *bias, float *y) {
    const gemm_product_function product = swk_has_avx2() ? packed_linear_avx2 : packed_linear_portable;
    for (int64_t c0 = column_begin; c0 < column_end; c0 += GEMM_TILE) {
        const int64_t width = column_end - c0 < GEMM_TILE ? column_end - c0 : GEMM_TILE;
        const gemm_epilogue e = {1.0f, NULL, -INFINITY, INFINITY, bias ? bias + c0 : NULL};
        product(x, k, m, k, panels + c0 * k, GEMM_TILE, width, &e, y + c0, n);
    }
}
