// 1×1 stride-1 convolutions (batch 1, one thread), three ways with the bias and ReLU6: the
// OpenBLAS sgemm + epilogue pass, pointwise_conv.c's register tiles (X read in place as B's
// lines, W's rows as A's, the epilogue fused), and conv_direct.c's tiles (W packed once, up to
// 6 positions × 16 output channels a tile, the input read in place, the epilogue fused). Every
// distinct 1×1 shape of torchvision's MobileNetV2, then ResNet-50-like ones on larger planes.
// BLASKernels.takesPointwise and takesDirect pick by these. Prints medians of RUNS runs per layer,
// the three alternating, and the largest difference from sgemm's output (relative to its
// largest magnitude).
//
//     clang -O2 -o /tmp/pointwise_timing bench/kernels/pointwise_timing.c -ISources/CKernels/include -lopenblas -lm \
//       && OPENBLAS_NUM_THREADS=1 /tmp/pointwise_timing
#include "../../Sources/CKernels/pointwise_conv.c"
#include "../../Sources/CKernels/conv_direct.c"
#include "../../Sources/CKernels/cpu_features.c"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

enum { RUNS = 31, WAYS = 3 };

static float *random_floats(int64_t count) {
    float *values = aligned_alloc(64, (size_t)((count * 4 + 63) / 64 * 64 + 64));  // the direct tiles load W aligned
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 200 - 100) * 0.01f;
    return values;
}

static void blas_path(const float *w, int m, int c, const float *x, int plane, const float *bias, float *y) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, plane, c, 1, w, c, x, plane, 0, y, plane);
    for (int i = 0; i < m; i++)
        for (int p = 0; p < plane; p++) {
            const float v = y[i * plane + p] + bias[i];
            y[i * plane + p] = v < 0 ? 0 : (v > 6 ? 6 : v);
        }
}

int main(void) {
    const int layers[][3] = {  // (in channels, out channels, side)
        {32, 16, 112}, {16, 96, 112}, {96, 24, 56}, {24, 144, 56}, {144, 24, 56}, {144, 32, 28}, {32, 192, 28},
        {192, 32, 28}, {192, 64, 14}, {64, 384, 14}, {384, 64, 14}, {384, 96, 14}, {96, 576, 14}, {576, 96, 14},
        {576, 160, 7}, {160, 960, 7}, {960, 160, 7}, {960, 320, 7}, {320, 1280, 7},
        {256, 64, 56}, {64, 256, 56}, {512, 128, 28}, {1024, 256, 14}, {2048, 512, 7}, {192, 2048, 56}};
    printf("| C→M | side | sgemm + epilogue ms | pointwise tiles / sgemm | direct tiles / sgemm | max rel. difference |\n"
           "|---|---:|---:|---:|---:|---:|\n");
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int c = layers[l][0], m = layers[l][1], side = layers[l][2], plane = side * side;
        const swk_conv_geometry g = {side, side, side, side, 1, 1, 1, 1, 0, 0, 1, 1};
        float *w = random_floats((int64_t)m * c), *x = random_floats((int64_t)c * plane), *bias = random_floats(m);
        float *y[WAYS];
        for (int way = 0; way < WAYS; way++) y[way] = random_floats((int64_t)m * plane);
        float *packed = random_floats(swk_conv_direct_packed_floats(m, c));
        int64_t tap;
        swk_conv_direct_taps(&g, &tap);
        swk_conv_direct_pack(w, m, c, packed);
        const int64_t tiles = swk_conv_direct_tiles(&g, m);
        double times[WAYS][RUNS];
        for (int r = 0; r < RUNS; r++)
            for (int pass = 0; pass < WAYS; pass++) {
                const int way = (pass + r) % WAYS;  // rotate which goes first
                const double t = now();
                if (way == 0) blas_path(w, m, c, x, plane, bias, y[0]);
                else if (way == 1) swk_pointwise_conv(w, m, c, 0, c, x, plane, 0, plane, bias, NULL, 0, 6, y[1]);
                else swk_conv_direct(&g, x, c, 0, c, &tap, packed, m, 0, tiles, bias, NULL, 0, 6, y[2]);
                times[way][r] = now() - t;
            }
        for (int way = 0; way < WAYS; way++) qsort(times[way], RUNS, sizeof(double), ascending);
        double scale = 0, diff = 0;
        for (int64_t i = 0; i < (int64_t)m * plane; i++) {
            scale = fmax(scale, fabs(y[0][i]));
            diff = fmax(diff, fmax(fabs(y[0][i] - y[1][i]), fabs(y[0][i] - y[2][i])));
        }
        const double sgemm = times[0][RUNS / 2];
        printf("| %d→%d | %d | %.3f | %.2f | %.2f | %.1e |\n", c, m, side, sgemm * 1e3, times[1][RUNS / 2] / sgemm,
               times[2][RUNS / 2] / sgemm, diff / scale);
        free(w), free(x), free(bias), free(packed);
        for (int way = 0; way < WAYS; way++) free(y[way]);
    }
    return 0;
}
