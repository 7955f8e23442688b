// One MiniLM-L6 attention layer's heads (12 heads, d = 32, batch 1) at a sequence length, one
// thread: attention.c's packed head and register tiles against the OpenBLAS sgemm pair the CPU
// backend used before, both with swk_softmax in between (docs/BENCHMARKS.md, sixth measurement).
// Prints medians of 40 runs and the largest difference between the two outputs.
//
//     clang -O2 -o /tmp/attention_timing bench/kernels/attention_timing.c -ISources/CKernels/include -lopenblas -lm \
//       && /tmp/attention_timing 128 32
#include "../../Sources/CKernels/attention.c"
#include "../../Sources/CKernels/cpu_features.c"
#include "../../Sources/CKernels/fast_math.c"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

enum { HEADS = 12, RUNS = 40 };

static float *random_floats(int64_t count) {
    float *values = malloc(sizeof(float) * (size_t)count);
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 200 - 100) * 0.01f;
    return values;
}

int main(int argc, char **argv) {
    const int seq = argc > 1 ? atoi(argv[1]) : 128, block = argc > 2 ? atoi(argv[2]) : 32, size = 32;
    const int stride = HEADS * size;
    const float scale = 1.0f / sqrtf((float)size);
    openblas_set_num_threads(1);
    float *q = random_floats((int64_t)seq * stride), *k = random_floats((int64_t)seq * stride);
    float *v = random_floats((int64_t)seq * stride);
    float *y_blas = malloc(sizeof(float) * (size_t)(seq * stride)), *y_own = malloc(sizeof(float) * (size_t)(seq * stride));
    const int64_t ld = swk_attention_scores_stride(seq);
    float *scores = malloc(sizeof(float) * (size_t)(block * ld));
    float *packed = malloc(sizeof(float) * (size_t)swk_attention_packed_floats(seq, size));
    double blas[RUNS], own[RUNS];
    for (int run = 0; run < RUNS; run++) {
        double start = now();
        for (int h = 0; h < HEADS; h++) {
            for (int first = 0; first < seq; first += block) {
                const int rows = seq - first < block ? seq - first : block;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, seq, size, scale, q + first * stride + h * size, stride,
                            k + h * size, stride, 0, scores, seq);
                for (int r = 0; r < rows; r++) swk_softmax(scores + r * seq, seq);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, size, seq, 1, scores, seq, v + h * size, stride, 0,
                            y_blas + first * stride + h * size, stride);
            }
        }
        blas[run] = now() - start;
        start = now();
        for (int h = 0; h < HEADS; h++) {
            swk_attention_pack_head(k + h * size, v + h * size, stride, seq, size, packed);
            for (int first = 0; first < seq; first += block) {
                const int rows = seq - first < block ? seq - first : block;
                swk_attention_scores(q + first * stride + h * size, stride, rows, packed, seq, size, scale, scores);
                for (int r = 0; r < rows; r++) swk_softmax(scores + r * ld, seq);
                swk_attention_context(scores, rows, packed, seq, size, y_own + first * stride + h * size, stride);
            }
        }
        own[run] = now() - start;
    }
    double largest = 0;
    for (int64_t i = 0; i < (int64_t)seq * stride; i++) largest = fmax(largest, fabs((double)y_blas[i] - y_own[i]));
    qsort(blas, RUNS, sizeof(double), ascending);
    qsort(own, RUNS, sizeof(double), ascending);
    printf("seq %d, %d-row blocks: OpenBLAS %.3f ms, attention.c %.3f ms per layer (medians); max |difference| %.1e\n", seq, block,
           blas[RUNS / 2] * 1e3, own[RUNS / 2] * 1e3, largest);
    return 0;
}
