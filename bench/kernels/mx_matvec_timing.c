// The MX matrix-vector kernel alone (no session), M = 1, 384 → 1536, per element format: the
// decode throughput behind mx_matvec.c (docs/BENCHMARKS.md, second round). Codes are random but
// keep E4M3/E5M2 away from their NaN/Inf codes, as quantized weights do.
//
//     clang -O2 -o /tmp/mx_matvec_timing bench/kernels/mx_matvec_timing.c -ISources/CKernels/include -lm && /tmp/mx_matvec_timing
#include "../../Sources/CKernels/mx_matvec.c"
#include "../../Sources/CKernels/cpu_features.c"
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

int main(void) {
    const int n = 1536, k = 384;
    const char *names[] = {"mxfp8-e4m3", "mxfp8-e5m2", "mxfp6-e2m3", "mxfp6-e3m2", "mxfp4", "mxint8"};
    float table[256] = {0}, *x = malloc(sizeof(float) * k), *y = malloc(sizeof(float) * n);
    for (int i = 0; i < k; i++) x[i] = (float)rand() / (float)RAND_MAX;
    for (int element = SWK_MXFP8_E4M3; element <= SWK_MXINT8; element++) {
        const int row_bytes = k * element_bits(element) / 8;
        uint8_t *codes = malloc((size_t)(n * row_bytes)), *scales = malloc((size_t)(n * k / 32));
        srand(1);
        for (int i = 0; i < n * row_bytes; i++) codes[i] = (uint8_t)((rand() & 0x9F) | 0x20);  // exponent MSB clear
        for (int i = 0; i < n * k / 32; i++) scales[i] = (uint8_t)(120 + rand() % 8);
        double best = 1e9;
        for (int r = 0; r < 3000; r++) {
            double t = now();
            swk_mx_matvec(element, 1, 0, n, n, k, codes, row_bytes, scales, table, x, NULL, y);
            if ((t = now() - t) < best) best = t;
        }
        printf("%-11s %6.1f µs, %5.2f weights/ns\n", names[element], best * 1e6, (double)n * k / best / 1e9);
        free(codes), free(scales);
    }
    free(x), free(y);
    return 0;
}
