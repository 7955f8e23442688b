// A pointwise (1×1, stride 1, unpadded) convolution of one image (see ckernels.h) is the product
// Y [M, plane] = W [M, C] · X [C, plane] with the bias and clamp after it. OpenBLAS's sgemm ran
// MobileNetV2's small reductions slowly (`swiftlet bench … --profile`, one thread): the 16→96
// expansion on 112×112 took 1.15 ms, 34 GFLOP/s, and the bias/ReLU6 pass then re-read its 4.8 MB
// of output. Here X's rows are read in place as B's 16-float lines (gemm_tile.h; X is already
// [C][plane]), W's rows as A's, and the epilogue is applied in registers before the single store.
// Long reductions and small planes go to conv_direct.c's tiles (up to 196 positions) or stay
// on sgemm (the CPU backend picks by shape; bench/kernels/pointwise_timing.c measured where).
#include "ckernels.h"
#include "gemm_tile.h"

/// Positions per block: each row tile (6 output channels) runs over a block before the next tile
/// starts, so it writes 6 runs of 512 floats. GEMM_PRODUCT's order puts the row tiles inside each
/// 16-position slab, so every slab wrote into all M output rows at once; on MobileNetV2's large
/// planes that order took up to 1.75× this one's time, the 16→96 expansion on 112×112 the most
/// (fifteenth measurement). Blocks of 256 to 4096 measured alike.
enum { BLOCK = 512 };

/// Y = W·X over positions p_begin ..< p_end in blocks. AVX2 picks the tile; BIASED and RESIDUAL
/// say whether bias and residual are given. All three are constants at each call, and the
/// epilogue is built here for each tile rather than passed in by pointer, so everything in it
/// but lo and hi folds into the tile: the same order run through GEMM_PRODUCT, which reads the
/// epilogue at run time, gained half as much on the 16→96 expansion (0.76-0.79 of the old time
/// against 0.56-0.58 with it folded).
static inline __attribute__((always_inline)) void pointwise_blocks(const int AVX2, const int BIASED, const int RESIDUAL,
                                                                   const float *w, int64_t out_channels, int64_t in_channels,
                                                                   int64_t c_begin, int64_t c_end, const float *x,
                                                                   int64_t plane, int64_t p_begin,
                                                                   int64_t p_end, const float *bias, const float *residual,
                                                                   float lo, float hi, float *y) {
    for (int64_t p0 = p_begin; p0 < p_end; p0 += BLOCK) {
        const int64_t block_end = p_end - p0 < BLOCK ? p_end : p0 + BLOCK;
        for (int64_t r0 = 0; r0 < out_channels; r0 += GEMM_TILE_ROWS) {
            const float *a = w + r0 * in_channels + c_begin;
            for (int64_t c0 = p0; c0 < block_end; c0 += GEMM_TILE) {
                const gemm_epilogue e = {1.0f, BIASED ? bias + r0 : NULL, lo, hi, NULL, 0,
                                         RESIDUAL ? residual + r0 * plane + c0 : NULL, plane};
                const float *b = x + c_begin * plane + c0;
                float *out = y + r0 * plane + c0;
                const int64_t width = block_end - c0;
#define TILE(R)                                                                                                         \
    (AVX2 ? gemm_tile_avx2 : gemm_tile_portable)(R, a, in_channels, c_end - c_begin, b, plane, width, &e, out, plane)
                switch (out_channels - r0 < GEMM_TILE_ROWS ? out_channels - r0 : GEMM_TILE_ROWS) {
                case 1: TILE(1); break;
                case 2: TILE(2); break;
                case 3: TILE(3); break;
                case 4: TILE(4); break;
                case 5: TILE(5); break;
                default: TILE(6); break;
                }
#undef TILE
            }
        }
    }
}

/// pointwise_blocks specialized on whether bias and residual are given.
static inline __attribute__((always_inline)) void pointwise_path(const int AVX2, const float *w, int64_t out_channels,
                                                                 int64_t in_channels, int64_t c_begin, int64_t c_end,
                                                                 const float *x, int64_t plane,
                                                                 int64_t p_begin, int64_t p_end, const float *bias,
                                                                 const float *residual, float lo, float hi, float *y) {
#define BLOCKS(BIASED, RESIDUAL)                                                                                        \
    pointwise_blocks(AVX2, BIASED, RESIDUAL, w, out_channels, in_channels, c_begin, c_end, x, plane, p_begin, p_end, bias, \
                     residual, lo, hi, y)
    if (bias && residual) BLOCKS(1, 1);
    else if (bias) BLOCKS(1, 0);
    else if (residual) BLOCKS(0, 1);
    else BLOCKS(0, 0);
#undef BLOCKS
}

GEMM_AVX2 static void pointwise_avx2(const float *w, int64_t out_channels, int64_t in_channels, int64_t c_begin,
                                     int64_t c_end, const float *x, int64_t plane, int64_t p_begin, int64_t p_end,
                                     const float *bias, const float *residual, float lo, float hi, float *y) {
    pointwise_path(1, w, out_channels, in_channels, c_begin, c_end, x, plane, p_begin, p_end, bias, residual, lo, hi, y);
}

static void pointwise_portable(const float *w, int64_t out_channels, int64_t in_channels, int64_t c_begin, int64_t c_end,
                               const float *x, int64_t plane, int64_t p_begin, int64_t p_end, const float *bias,
                               const float *residual, float lo, float hi, float *y) {
    pointwise_path(0, w, out_channels, in_channels, c_begin, c_end, x, plane, p_begin, p_end, bias, residual, lo, hi, y);
}

void swk_pointwise_conv(const float *w, int64_t out_channels, int64_t in_channels, int64_t c_begin, int64_t c_end,
                        const float *x, int64_t plane, int64_t p_begin, int64_t p_end, const float *bias,
                        const float *residual, float lo, float hi, float *y) {
    (swk_has_avx2() ? pointwise_avx2 : pointwise_portable)(w, out_channels, in_channels, c_begin, c_end, x, plane, p_begin,
                                                           p_end, bias, residual, lo, hi, y);
}
