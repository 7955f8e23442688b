// ResNet-18's convolutions that are not 1×1 stride 1 (and MobileNetV2's stem), batch 1, one
// thread: im2col + OpenBLAS sgemm + a bias/ReLU pass (BLASKernels.conv's path for the shapes no
// CKernels convolution takes) against conv_panels.c (unfolded panels, W read in place, bias and
// ReLU fused) and conv_direct.c (input pixels broadcast against W packed beforehand, timed with
// its zero-padded copy of the input). Prints medians of RUNS runs per layer, each path's GFLOP/s
// and the largest difference between the outputs (relative to the output's largest magnitude).
//
//     clang -O2 -o /tmp/conv_panels_timing bench/kernels/conv_panels_timing.c -ISources/CKernels/include -lopenblas -lm \
//       && OPENBLAS_NUM_THREADS=1 /tmp/conv_panels_timing
#include "../../Sources/CKernels/conv_panels.c"
#include "../../Sources/CKernels/conv_direct.c"
#include "../../Sources/CKernels/cpu_features.c"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

enum { RUNS = 21 };

static float *random_floats(int64_t count) {
    float *values = aligned_alloc(64, (size_t)((count * 4 + 63) / 64 * 64));
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 200 - 100) * 0.01f;
    return values;
}

/// The unfolded matrix [C·kH·kW, positions], one output row at a time (BLASKernels.im2col's loops).
static void im2col(const swk_conv_geometry *g, const float *x, int64_t channels, float *columns) {
    for (int64_t c = 0; c < channels; c++)
        for (int i = 0; i < g->kernel_h; i++)
            for (int j = 0; j < g->kernel_w; j++, columns += g->out_h * g->out_w) {
                const int64_t offset = (int64_t)j * g->dilation_w - g->pad_left, sw = g->stride_w;
                int64_t begin = offset >= 0 ? 0 : (-offset + sw - 1) / sw;
                int64_t end = g->width - offset <= 0 ? 0 : (g->width - offset + sw - 1) / sw;
                end = end > g->out_w ? g->out_w : end;
                for (int64_t oh = 0; oh < g->out_h; oh++) {
                    float *line = columns + oh * g->out_w;
                    const int64_t ih = oh * g->stride_h - g->pad_top + (int64_t)i * g->dilation_h;
                    if (ih < 0 || ih >= g->height) {
                        for (int64_t ow = 0; ow < g->out_w; ow++) line[ow] = 0;
                        continue;
                    }
                    const float *source = x + (c * g->height + ih) * g->width + offset;
                    for (int64_t ow = 0; ow < begin; ow++) line[ow] = 0;
                    for (int64_t ow = begin; ow < end; ow++) line[ow] = source[ow * sw];
                    for (int64_t ow = end; ow < g->out_w; ow++) line[ow] = 0;
                }
            }
}

static void blas_path(const swk_conv_geometry *g, const float *x, int64_t c, const float *w, int64_t m,
                      const float *bias, float *columns, float *y) {
    const int64_t positions = g->out_h * g->out_w, depth = c * g->kernel_h * g->kernel_w;
    im2col(g, x, c, columns);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)positions, (int)depth, 1, w, (int)depth, columns,
                (int)positions, 0, y, (int)positions);
    for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < positions; p++) {
            const float v = y[i * positions + p] + bias[i];
            y[i * positions + p] = v < 0 ? 0 : v;
        }
}

int main(void) {
    // (in channels, out channels, input side, kernel, stride, pad)
    const int layers[][6] = {{3, 64, 224, 7, 2, 3},   {64, 64, 56, 3, 1, 1},   {64, 128, 56, 3, 2, 1},
                             {128, 128, 28, 3, 1, 1}, {64, 128, 56, 1, 2, 0},  {128, 256, 28, 3, 2, 1},
                             {256, 256, 14, 3, 1, 1}, {128, 256, 28, 1, 2, 0}, {256, 512, 14, 3, 2, 1},
                             {512, 512, 7, 3, 1, 1},  {256, 512, 14, 1, 2, 0}, {3, 32, 224, 3, 2, 1}};
    printf("| C→M | side | kernel/stride | sgemm path ms | GFLOP/s | panels ms | GFLOP/s | panels / sgemm | direct ms | "
           "GFLOP/s | direct / sgemm | max rel. difference |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int c = layers[l][0], m = layers[l][1], side = layers[l][2], k = layers[l][3], s = layers[l][4],
                  pad = layers[l][5];
        const int out = (side + 2 * pad - k) / s + 1;
        const swk_conv_geometry g = {side, side, out, out, k, k, s, s, pad, pad, 1, 1};
        const int64_t positions = (int64_t)out * out, depth = (int64_t)c * k * k;
        float *x = random_floats((int64_t)c * side * side), *w = random_floats(m * depth), *bias = random_floats(m);
        const int64_t panel_count = swk_conv_panel_count(&g);
        float *columns = random_floats(depth * positions);
        float *panels = random_floats(swk_conv_panels_scratch_floats(&g, c, panel_count));
        float *y0 = random_floats(m * positions), *y1 = random_floats(m * positions), *y2 = random_floats(m * positions);
        float *padded = random_floats(swk_conv_direct_padded_floats(&g, c) + 1);  // + 1: no empty allocation
        float *packed = random_floats(swk_conv_direct_packed_floats(m, depth));
        int64_t taps[49];  // the largest kernel here is 7×7
        swk_conv_direct_taps(&g, taps);
        swk_conv_direct_pack(w, m, depth, packed);
        const int64_t tiles = swk_conv_direct_tiles(&g, m);
        double t0[RUNS], t1[RUNS], t2[RUNS];
        for (int r = 0; r < RUNS; r++) {
            double t = now();
            blas_path(&g, x, c, w, m, bias, columns, y0);
            t0[r] = now() - t;
            t = now();
            swk_conv_panels(&g, x, c, w, m, 0, panel_count, bias, NULL, 0, INFINITY, panels, y1);
            t1[r] = now() - t;
            t = now();
            const int in_place = swk_conv_direct_padded_floats(&g, c) == 0;
            if (!in_place) swk_conv_direct_pad(&g, x, c, 0, c, padded);
            swk_conv_direct(&g, in_place ? x : padded, c, 0, c, taps, packed, m, 0, tiles, bias, NULL, 0, INFINITY, y2);
            t2[r] = now() - t;
        }
        qsort(t0, RUNS, sizeof(double), ascending), qsort(t1, RUNS, sizeof(double), ascending);
        qsort(t2, RUNS, sizeof(double), ascending);
        double scale = 0, diff = 0;
        for (int64_t i = 0; i < m * positions; i++) {
            scale = fmax(scale, fabs(y0[i]));
            diff = fmax(diff, fmax(fabs(y0[i] - y1[i]), fabs(y0[i] - y2[i])));
        }
        const double flops = 2.0 * m * depth * positions, a = t0[RUNS / 2], b = t1[RUNS / 2], d = t2[RUNS / 2];
        printf("| %d→%d | %d | %d×%d/%d | %.3f | %.1f | %.3f | %.1f | %.2f | %.3f | %.1f | %.2f | %.1e |\n", c, m, side, k,
               k, s, a * 1e3, flops / a * 1e-9, b * 1e3, flops / b * 1e-9, b / a, d * 1e3, flops / d * 1e-9, d / a,
               diff / scale);
        free(x), free(w), free(bias), free(columns), free(panels), free(y0), free(y1), free(y2), free(padded), free(packed);
    }
    return 0;
}
