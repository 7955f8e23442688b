// max_pool.c's AVX2 path against its portable one (the SSE2-vectorized loops every MaxPool ran
// before the AVX2 path existed) on ResNet-18's stem pool and smaller shapes, one thread, one
// process: medians of RUNS runs each, and whether the two outputs are bitwise equal (NaN, −∞ and
// signed zeros placed in the input). The numbers behind docs/BENCHMARKS.md's fourteenth measurement.
//
//     clang -O2 -o /tmp/max_pool_timing bench/kernels/max_pool_timing.c -ISources/CKernels/include -lm && /tmp/max_pool_timing
#include "../../Sources/CKernels/max_pool.c"
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

enum { RUNS = 101 };

/// Which path swk_max_pool takes: this harness's switch in place of cpu_features.c's CPUID check.
static int avx2_path;
int swk_has_avx2(void) { return avx2_path; }

int main(void) {
    // (planes, side, kernel, stride, pad)
    const int cases[][5] = {{64, 112, 3, 2, 1}, {32, 56, 3, 2, 1}, {8, 67, 3, 2, 1}, {8, 30, 3, 1, 1}, {8, 30, 5, 3, 2},
                           {2880, 8, 2, 2, 0}};  // the last: the digits CNN's pool at batch 360
    printf("| planes × side² | kernel/stride/pad | portable ms | AVX2 ms | AVX2 / portable | equal |\n"
           "|---|---|---:|---:|---:|---|\n");
    for (size_t l = 0; l < sizeof cases / sizeof cases[0]; l++) {
        const int planes = cases[l][0], side = cases[l][1], k = cases[l][2], s = cases[l][3], pad = cases[l][4];
        const int out = (side + 2 * pad - k) / s + 1;
        const swk_pool_geometry g = {side, side, out, out, k, k, s, s, pad, pad};
        const int64_t in_floats = (int64_t)planes * side * side, out_floats = (int64_t)planes * out * out;
        float *x = malloc(sizeof(float) * (size_t)in_floats), *y[2];
        for (int64_t i = 0; i < in_floats; i++) x[i] = (float)(rand() % 2000 - 1000) * 0.01f;
        x[5] = x[in_floats - 1] = NAN, x[in_floats / 2] = -INFINITY;
        x[7] = 0.0f, x[8] = -0.0f, x[9] = -0.0f;  // ties of signed zeros: the paths must keep the same one
        float *scratch = malloc(sizeof(float) * (size_t)swk_max_pool_scratch_floats(&g));
        double times[2][RUNS];
        for (int path = 0; path < 2; path++) y[path] = malloc(sizeof(float) * (size_t)out_floats);
        for (int r = 0; r < RUNS; r++)
            for (avx2_path = 0; avx2_path < 2; avx2_path++) {
                const double t = now();
                swk_max_pool(&g, 0, planes, x, scratch, y[avx2_path]);
                times[avx2_path][r] = now() - t;
            }
        for (int path = 0; path < 2; path++) qsort(times[path], RUNS, sizeof(double), ascending);
        const double portable = times[0][RUNS / 2], avx2 = times[1][RUNS / 2];
        printf("| %d × %d² | %d×%d/%d/%d | %.4f | %.4f | %.2f | %s |\n", planes, side, k, k, s, pad, portable * 1e3, avx2 * 1e3,
               avx2 / portable, memcmp(y[0], y[1], sizeof(float) * (size_t)out_floats) ? "NO" : "yes");
        free(x), free(scratch), free(y[0]), free(y[1]);
    }
    return 0;
}
