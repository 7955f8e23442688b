// Two builds of winograd_conv.c in one process, on ResNet-18's 3×3 stride-1 layers and two odd
// shapes (one image, one thread): the input transform (swk_winograd_input) and then the products
// with the output transform (swk_winograd_conv over every panel and block of 64 output channels,
// with bias, Z and a clamp as ResNet-18's second layer of a block runs them), each build with U
// packed by its own swk_winograd_pack from the same W, and with its own V. Three sets of W are cycled, so that U comes
// from memory as in a model's run, and the calls alternate between the builds; the medians of 31
// come out with their ratios and whether V and y agree bit for bit. Build A is the base
// revision's file, B the working tree's; each is compiled with its external names given a suffix:
//
//     rm -rf /tmp/base && mkdir /tmp/base && git archive HEAD Sources/CKernels | tar -x -C /tmp/base
//     for build in a:/tmp/base/ b:; do n=${build%%:*} root=${build#*:}; clang -O2 -c -o /tmp/winograd_$n.o \
//       ${root}Sources/CKernels/winograd_conv.c -I${root}Sources/CKernels/include $(for s in swk_winograd_input \
//       swk_winograd_conv swk_winograd_pack swk_winograd_panels swk_winograd_transformed_floats \
//       swk_winograd_packed_floats swk_winograd_scratch_floats; do echo -D$s=${s}_$n; done); done
//     clang -O2 -o /tmp/winograd_builds bench/kernels/winograd_builds.c /tmp/winograd_a.o /tmp/winograd_b.o \
//       Sources/CKernels/cpu_features.c -ISources/CKernels/include -lm && /tmp/winograd_builds
#include "ckernels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "timing.h"

typedef void input(const swk_conv_geometry *, const float *, int64_t, int64_t, int64_t, float *);
typedef void pack(const float *, int64_t, int64_t, float *);
typedef void conv(const swk_conv_geometry *, const float *, int64_t, const float *, int64_t, int64_t, int64_t, int64_t,
                  const float *, const float *, float, float, float *, float *);
input swk_winograd_input_a, swk_winograd_input_b;
pack swk_winograd_pack_a, swk_winograd_pack_b;
conv swk_winograd_conv_a, swk_winograd_conv_b;
int64_t swk_winograd_transformed_floats_b(const swk_conv_geometry *, int64_t);
int64_t swk_winograd_packed_floats_b(int64_t, int64_t);
int64_t swk_winograd_panels_b(const swk_conv_geometry *);
int64_t swk_winograd_scratch_floats_b(int64_t);

enum { RUNS = 31, SETS = 3, BLOCK = SWK_WINOGRAD_CHANNEL_BLOCK };

static float *random_floats(int64_t count) {
    float *values = aligned_alloc(64, (size_t)((count * 4 + 63) / 64 * 64 + 64));
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 200 - 100) * 0.01f;
    return values;
}

static double median(double *times) {
    qsort(times, RUNS, sizeof(double), ascending);
    return times[RUNS / 2];
}

int main(void) {
    const int layers[][2] = {{64, 56}, {128, 28}, {256, 14}, {512, 7}, {64, 55}, {100, 9}};  // (channels, side)
    printf("| channels | side | input A ms | input B ms | B / A | same V | conv A ms | conv B ms | B / A | same y |\n"
           "|---:|---:|---:|---:|---:|---|---:|---:|---:|---|\n");
    input *const inputs[2] = {swk_winograd_input_a, swk_winograd_input_b};
    pack *const packs[2] = {swk_winograd_pack_a, swk_winograd_pack_b};
    conv *const convs[2] = {swk_winograd_conv_a, swk_winograd_conv_b};
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const int c = layers[l][0], side = layers[l][1];
        const swk_conv_geometry g = {side, side, side, side, 3, 3, 1, 1, 1, 1, 1, 1};
        const int64_t floats = swk_winograd_transformed_floats_b(&g, c), plane = (int64_t)side * side;
        const int64_t panels = swk_winograd_panels_b(&g), packed_floats = swk_winograd_packed_floats_b(c, c);
        float *x = random_floats(c * plane), *bias = random_floats(c), *z = random_floats(c * plane);
        float *scratch = random_floats(swk_winograd_scratch_floats_b(BLOCK)), *v[2], *y[2], *u[2][SETS];
        for (int build = 0; build < 2; build++) v[build] = random_floats(floats), y[build] = random_floats(c * plane);
        for (int set = 0; set < SETS; set++) {
            float *w = random_floats((int64_t)c * c * 9);
            for (int build = 0; build < 2; build++) {
                u[build][set] = random_floats(packed_floats);
                packs[build](w, c, c, u[build][set]);
            }
            free(w);
        }
        double input_times[2][RUNS], conv_times[2][RUNS];
        for (int r = 0; r < RUNS; r++)
            for (int pass = 0; pass < 2; pass++) {
                const int build = (pass + r) % 2;  // alternate which goes first
                double t = now();
                inputs[build](&g, x, c, 0, c, v[build]);
                input_times[build][r] = now() - t;
                t = now();
                for (int set = 0; set < SETS; set++)
                    for (int64_t p = 0; p < panels; p++)
                        for (int m = 0; m < c; m += BLOCK)
                            convs[build](&g, v[build], c, u[build][set], c, p, m, m + BLOCK < c ? m + BLOCK : c, bias, z, 0.0f,
                                         INFINITY, scratch, y[build]);
                conv_times[build][r] = (now() - t) / SETS;
            }
        const double ia = median(input_times[0]), ib = median(input_times[1]);
        const double ca = median(conv_times[0]), cb = median(conv_times[1]);
        printf("| %d | %d | %.3f | %.3f | %.2f | %s | %.3f | %.3f | %.2f | %s |\n", c, side, ia * 1e3, ib * 1e3, ib / ia,
               memcmp(v[0], v[1], sizeof(float) * (size_t)floats) ? "no" : "yes", ca * 1e3, cb * 1e3, cb / ca,
               memcmp(y[0], y[1], sizeof(float) * (size_t)(c * plane)) ? "no" : "yes");
        free(x), free(bias), free(z), free(scratch);
        for (int build = 0; build < 2; build++) {
            free(v[build]), free(y[build]);
            for (int set = 0; set < SETS; set++) free(u[build][set]);
        }
    }
    return 0;
}
