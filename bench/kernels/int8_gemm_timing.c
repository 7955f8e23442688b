// The int8 GEMM kernel alone (no session, no activation quantization), at M = 128 on MiniLM's
// shapes: the numbers behind int8_gemm.c's packed panels (docs/BENCHMARKS.md, second round).
// clang, as SwiftPM builds the kernels (gcc 12 makes this kernel 3× slower: measured).
//
//     clang -O2 -o /tmp/int8_gemm_timing bench/kernels/int8_gemm_timing.c -ISources/CKernels/include && /tmp/int8_gemm_timing
#include "../../Sources/CKernels/int8_gemm.c"
#include "../../Sources/CKernels/cpu_features.c"
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

static void measure(int m, int k, int n) {
    const int kp = (k + 15) / 16 * 16;
    int16_t *xq = malloc(sizeof(int16_t) * (size_t)(m * kp));
    int8_t *w = malloc((size_t)(n * k)), *panel = malloc((size_t)(16 * kp));
    float *x_scale = malloc(sizeof(float) * (size_t)m), *w_scale = malloc(sizeof(float) * (size_t)n);
    float *bias = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)(m * n));
    srand(1);
    for (int i = 0; i < m * kp; i++) xq[i] = (int16_t)(rand() % 255 - 127);
    for (int i = 0; i < n * k; i++) w[i] = (int8_t)(rand() % 255 - 127);
    for (int i = 0; i < m; i++) x_scale[i] = 0.01f;
    for (int i = 0; i < n; i++) w_scale[i] = 0.02f, bias[i] = 1;
    double gemm = 1e9, packing = 1e9;
    for (int r = 0; r < 200; r++) {  // best of 200: the machine's quietest moment
        double t = now();
        swk_int8_gemm(m, 0, n, n, k, xq, kp, x_scale, w, w_scale, bias, panel, y);
        if ((t = now() - t) < gemm) gemm = t;
        t = now();
        for (int j = 0; j < n; j += 16) pack_panel(j, j + 16 < n ? j + 16 : n, k, kp, w, panel);
        if ((t = now() - t) < packing) packing = t;
    }
    printf("M %d, K %d → N %d: %.1f µs (%.1f G int-MAC/s), of which packing W %.1f µs\n", m, k, n, gemm * 1e6,
           (double)m * n * k / gemm / 1e9, packing * 1e6);
    free(xq), free(w), free(panel), free(x_scale), free(w_scale), free(bias), free(y);
}

int main(void) {
    measure(128, 384, 384);
    measure(128, 384, 1536);
    measure(128, 1536, 384);
    return 0;
}
