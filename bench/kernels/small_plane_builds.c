// Two builds of conv_small_plane.c in one process, on the digits CNN's layers at batch 360 and a
// few other small planes (one thread, every image of the batch through one call each, as
// SmallPlaneConvKernel.swift makes them): each layer's two builds alternate, and the medians of
// 61 come out with their ratio and whether the outputs agree bit for bit. For a change measured
// where the machine's drift (docs/BENCHMARKS.md) would swamp two separate runs. Build A is the
// base revision's file, B the working tree's, each compiled with its external names given a
// suffix; each makes its own table:
//
//     rm -rf /tmp/base && mkdir /tmp/base && git archive HEAD Sources/CKernels | tar -x -C /tmp/base
//     for build in a:/tmp/base/ b:; do n=${build%%:*} root=${build#*:}; clang -O2 -c -o /tmp/small_plane_$n.o \
//       ${root}Sources/CKernels/conv_small_plane.c -I${root}Sources/CKernels/include $(for s in swk_conv_small_plane \
//       swk_conv_small_plane_table swk_conv_small_plane_table_size swk_conv_small_plane_scratch_floats; \
//       do echo -D$s=${s}_$n; done); done
//     clang -O2 -o /tmp/small_plane_builds bench/kernels/small_plane_builds.c /tmp/small_plane_a.o \
//       /tmp/small_plane_b.o Sources/CKernels/cpu_features.c -ISources/CKernels/include -lm && /tmp/small_plane_builds
#include "ckernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "timing.h"

typedef void small_plane(const swk_conv_geometry *, const int32_t *, const float *, int64_t, const float *, int64_t,
                         const float *, const float *, float, float, float *, float *);
typedef int64_t table_size(const swk_conv_geometry *);
typedef void make_table(const swk_conv_geometry *, int32_t *);
typedef int64_t scratch_floats(const swk_conv_geometry *, int64_t);
small_plane swk_conv_small_plane_a, swk_conv_small_plane_b;
table_size swk_conv_small_plane_table_size_a, swk_conv_small_plane_table_size_b;
make_table swk_conv_small_plane_table_a, swk_conv_small_plane_table_b;
scratch_floats swk_conv_small_plane_scratch_floats_a, swk_conv_small_plane_scratch_floats_b;

enum { RUNS = 61 };

static float *random_floats(int64_t count) {
    float *values = aligned_alloc(64, (size_t)((count * 4 + 63) / 64 * 64 + 64));
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 200 - 100) * 0.01f;
    return values;
}

int main(void) {
    const int layers[][6] = {  // (batch, in channels, out channels, input side, kernel, stride), pad kernel / 2
        {360, 1, 8, 8, 3, 1}, {360, 8, 16, 4, 3, 1}, {32, 8, 16, 4, 3, 1}, {64, 8, 16, 6, 3, 1}, {64, 16, 8, 7, 3, 1},
        {64, 6, 16, 14, 5, 1}, {64, 16, 24, 14, 3, 2}};
    printf("| images | C→M | input side | kernel, stride | A ms | B ms | B / A | same outputs |\n"
           "|---:|---|---:|---:|---:|---:|---:|---|\n");
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int n = layers[l][0], c = layers[l][1], m = layers[l][2], in_side = layers[l][3], k = layers[l][4],
                  st = layers[l][5];
        const int pad = k / 2, side = (in_side + 2 * pad - k) / st + 1;  // side: the output's
        const swk_conv_geometry g = {in_side, in_side, side, side, k, k, st, st, pad, pad, 1, 1};
        const int64_t in_image = (int64_t)c * in_side * in_side, out_image = (int64_t)m * side * side;
        float *w = random_floats((int64_t)m * c * k * k), *x = random_floats(n * in_image), *bias = random_floats(m);
        float *y[2] = {random_floats(n * out_image), random_floats(n * out_image)};
        table_size *const sizes[2] = {swk_conv_small_plane_table_size_a, swk_conv_small_plane_table_size_b};
        make_table *const tables[2] = {swk_conv_small_plane_table_a, swk_conv_small_plane_table_b};
        scratch_floats *const scratches[2] = {swk_conv_small_plane_scratch_floats_a, swk_conv_small_plane_scratch_floats_b};
        small_plane *const builds[2] = {swk_conv_small_plane_a, swk_conv_small_plane_b};
        int32_t *table[2];
        float *scratch[2];
        for (int build = 0; build < 2; build++) {
            table[build] = malloc(sizeof(int32_t) * (size_t)sizes[build](&g));
            tables[build](&g, table[build]);
            scratch[build] = random_floats(scratches[build](&g, c));
        }
        double times[2][RUNS];
        for (int r = 0; r < RUNS; r++)
            for (int pass = 0; pass < 2; pass++) {
                const int build = (pass + r) % 2;  // alternate which goes first
                const double t = now();
                for (int image = 0; image < n; image++)
                    builds[build](&g, table[build], x + image * in_image, c, w, m, bias, NULL, 0, 6, scratch[build],
                                  y[build] + image * out_image);
                times[build][r] = now() - t;
            }
        for (int build = 0; build < 2; build++) qsort(times[build], RUNS, sizeof(double), ascending);
        const double a = times[0][RUNS / 2], b = times[1][RUNS / 2];
        const int same = memcmp(y[0], y[1], sizeof(float) * (size_t)(n * out_image)) == 0;
        printf("| %d | %d→%d | %d | %d×%d, %d | %.3f | %.3f | %.3f | %s |\n", n, c, m, in_side, k, k, st, a * 1e3,
               b * 1e3, b / a, same ? "yes" : "no");
        for (int build = 0; build < 2; build++) free(table[build]), free(scratch[build]), free(y[build]);
        free(w), free(x), free(bias);
    }
    return 0;
}
