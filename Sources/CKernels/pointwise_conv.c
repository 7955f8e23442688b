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

GEMM_PRODUCT(pointwise_avx2, GEMM_AVX2, gemm_tile_avx2)
GEMM_PRODUCT(pointwise_portable, , gemm_tile_portable)

void swk_pointwise_conv(const float *w, int64_t out_channels, int64_t in_channels, const float *x, int64_t plane,
                        int64_t p_begin, int64_t p_end, const float *bias, const float *residual, float lo, float hi,
                        float *y) {
    if (p_end <= p_begin) return;
    const gemm_epilogue e = {1.0f, bias, lo, hi, NULL, 0, residual ? residual + p_begin : NULL, plane};
    (swk_has_avx2() ? pointwise_avx2 : pointwise_portable)(w, in_channels, out_channels, in_channels, x + p_begin, plane,
                                                           p_end - p_begin, &e, y + p_begin, plane);
}
