// MiniLM-L6's 36 linear layers (6 × four 384→384, 384→1536, 1536→384; 42.5 MB of weights, more
// than the 32 MB L3, so each run reads W from memory as the model does) at M rows, one thread:
// OpenBLAS sgemm (cblas_sgemv at M = 1), which packs W on every call, against packed_linear.c on
// panels packed once. Prints the median of 15 passes over all 36 layers and the largest
// difference between the outputs (relative to the output's largest magnitude).
//
//     clang -O2 -o /tmp/packed_linear_timing bench/kernels/packed_linear_timing.c -ISources/CKernels/include -lopenblas -lm \
//       && OPENBLAS_NUM_THREADS=1 /tmp/packed_linear_timing 1 16 128 1024
#include "../../Sources/CKernels/packed_linear.c"
#include "../../Sources/CKernels/cpu_features.c"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

enum { LAYERS = 36, RUNS = 15 };

static float *random_floats(int64_t count) {
    float *values = aligned_alloc(64, (size_t)((count * 4 + 63) / 64 * 64));
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 200 - 100) * 0.01f;
    return values;
}

int main(int argc, char **argv) {
    const int shapes[6][2] = {{384, 384}, {384, 384}, {384, 384}, {384, 384}, {384, 1536}, {1536, 384}};
    float *w[LAYERS], *panels[LAYERS], *bias[LAYERS];
    int k[LAYERS], n[LAYERS];
    double flops_per_row = 0;
    for (int l = 0; l < LAYERS; l++) {
        k[l] = shapes[l % 6][0], n[l] = shapes[l % 6][1];
        w[l] = random_floats((int64_t)k[l] * n[l]);
        bias[l] = random_floats(n[l]);
        panels[l] = aligned_alloc(64, (size_t)swk_linear_panels_count(k[l], n[l]) * sizeof(float));
        swk_linear_pack(w[l], k[l], n[l], 0, panels[l]);
        flops_per_row += 2.0 * k[l] * n[l];
    }
    printf("| M | sgemm ms | GFLOP/s | packed panels ms | GFLOP/s | panels / sgemm | max rel. difference |\n"
           "|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int a = 1; a < argc; a++) {
        const int m = atoi(argv[a]);
        float *x = random_floats((int64_t)m * 1536), *y = random_floats((int64_t)m * 1536),
              *y2 = random_floats((int64_t)m * 1536);
        double blas[RUNS], packed[RUNS], difference = 0, largest = 0;
        for (int r = 0; r < RUNS; r++) {
            double start = now();
            for (int l = 0; l < LAYERS; l++) {  // what LinearKernel.swift did: rows start as the bias
                for (int i = 0; i < m; i++) memcpy(y + (int64_t)i * n[l], bias[l], sizeof(float) * (size_t)n[l]);
                if (m == 1) cblas_sgemv(CblasRowMajor, CblasTrans, k[l], n[l], 1, w[l], n[l], x, 1, 1, y, 1);
                else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n[l], k[l], 1, x, k[l], w[l], n[l], 1, y, n[l]);
            }
            blas[r] = now() - start;
            start = now();
            for (int l = 0; l < LAYERS; l++) swk_linear_packed(x, m, k[l], panels[l], n[l], 0, n[l], bias[l], y2);
            packed[r] = now() - start;
        }
        for (int64_t i = 0; i < (int64_t)m * 384; i++) {  // the last layer's output (N = 384)
            difference = fmax(difference, fabs(y[i] - y2[i]));
            largest = fmax(largest, fabs(y[i]));
        }
        qsort(blas, RUNS, sizeof(double), ascending);
        qsort(packed, RUNS, sizeof(double), ascending);
        const double b = blas[RUNS / 2], p = packed[RUNS / 2], flops = flops_per_row * m;
        printf("| %d | %.3f | %.1f | %.3f | %.1f | %.2f | %.1e |\n", m, b * 1e3, flops / b * 1e-9, p * 1e3,
               flops / p * 1e-9, p / b, difference / largest);
        free(x), free(y), free(y2);
    }
}
