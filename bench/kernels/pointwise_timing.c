// MobileNetV2's 1×1 convolutions (batch 1, one thread): pointwise_conv.c's register tiles with
// the bias and ReLU6 fused, against the OpenBLAS sgemm + epilogue pass the CPU backend used
// before. Prints medians of 30 runs per layer and the largest difference between the outputs
// (relative to the output's largest magnitude).
//
//     clang -O2 -o /tmp/pointwise_timing bench/kernels/pointwise_timing.c -ISources/CKernels/include -lopenblas -lm \
//       && /tmp/pointwise_timing
#include "../../Sources/CKernels/pointwise_conv.c"
#include "../../Sources/CKernels/cpu_features.c"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

enum { RUNS = 30 };

static float *random_floats(int64_t count) {
    float *values = malloc(sizeof(float) * (size_t)count);
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
    // (in channels, out channels, side): every distinct 1×1 shape of torchvision's MobileNetV2.
    const int layers[][3] = {{32, 16, 112}, {16, 96, 112}, {96, 24, 56}, {24, 144, 56}, {144, 24, 56}, {144, 32, 28},
                             {32, 192, 28}, {192, 32, 28}, {192, 64, 14}, {64, 384, 14}, {384, 64, 14}, {384, 96, 14},
                             {96, 576, 14}, {576, 96, 14}, {576, 160, 7}, {160, 960, 7}, {960, 160, 7}, {960, 320, 7},
                             {320, 1280, 7}};
    printf("| C→M | side | sgemm + epilogue ms | tiles ms | speedup | max rel. difference |\n|---|---|---|---|---|---|\n");
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int c = layers[l][0], m = layers[l][1], plane = layers[l][2] * layers[l][2];
        float *w = random_floats((int64_t)m * c), *x = random_floats((int64_t)c * plane), *bias = random_floats(m);
        float *y0 = malloc(sizeof(float) * (size_t)m * plane), *y1 = malloc(sizeof(float) * (size_t)m * plane);
        double t0[RUNS], t1[RUNS];
        for (int r = 0; r < RUNS; r++) {
            double t = now();
            blas_path(w, m, c, x, plane, bias, y0);
            t0[r] = now() - t;
            t = now();
            swk_pointwise_conv(w, m, c, x, plane, 0, plane, bias, NULL, 0, 6, y1);
            t1[r] = now() - t;
        }
        qsort(t0, RUNS, sizeof(double), ascending), qsort(t1, RUNS, sizeof(double), ascending);
        double scale = 0, diff = 0;
        for (int64_t i = 0; i < (int64_t)m * plane; i++) {
            scale = fmax(scale, fabs(y0[i]));
            diff = fmax(diff, fabs(y0[i] - y1[i]));
        }
        printf("| %d→%d | %d | %.3f | %.3f | %.2f× | %.1e |\n", c, m, layers[l][2], t0[RUNS / 2] * 1e3, t1[RUNS / 2] * 1e3,
               t0[RUNS / 2] / t1[RUNS / 2], diff / scale);
        free(w), free(x), free(bias), free(y0), free(y1);
    }
    return 0;
}
