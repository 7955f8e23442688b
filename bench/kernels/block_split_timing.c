// One MobileNetV2 block on a 14×14 plane (1×1 expansion 96→576, 3×3 depthwise, 1×1 projection
// 576→96: conv_direct.c and depthwise_conv.c) run over and over on two threads through
// thread_pool.c, as a session at two threads runs it, to see what the split of each layer costs
// the next one. The expansion splits its output channels and the depthwise layer its planes;
// the projection either splits its output channels (every thread reads all 576 input channels)
// or its input channels (each thread sums the 288 its core's depthwise share wrote, then
// swk_conv_add_partials finishes half the outputs). Prints each layer's median time per call
// (docs/BENCHMARKS.md, sixteenth measurement).
//
//     clang -O2 -ISources/CKernels/include -o /tmp/block_split_timing bench/kernels/block_split_timing.c -lpthread -lm \
//       && /tmp/block_split_timing
#include "../../Sources/CKernels/conv_direct.c"
#include "../../Sources/CKernels/conv_partials.c"
#include "../../Sources/CKernels/conv_phases.c"
#include "../../Sources/CKernels/cpu_features.c"
#include "../../Sources/CKernels/depthwise_conv.c"
#include "../../Sources/CKernels/thread_pool.c"
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

enum { SIDE = 14, PLANE = SIDE * SIDE, NARROW = 96, WIDE = 576, PARTS = 2, RUNS = 300 };

static float *random_floats(int64_t count) {
    float *values = aligned_alloc(64, (size_t)(count + 16) * sizeof(float));
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 200 - 100) * 0.001f;
    return values;
}

static const swk_conv_geometry pointwise = {SIDE, SIDE, SIDE, SIDE, 1, 1, 1, 1, 0, 0, 1, 1};
static const swk_conv_geometry depthwise = {SIDE, SIDE, SIDE, SIDE, 3, 3, 1, 1, 1, 1, 1, 1};
static float *x, *expanded, *filtered, *y, *partial, *expand_w, *project_w, *depthwise_w, *scratch;
static int64_t tap, scratch_floats;

static void expand(void *context, int part) {
    (void)context;
    const int64_t tiles = swk_conv_direct_tiles(&pointwise, WIDE);
    swk_conv_direct(&pointwise, x, NARROW, 0, NARROW, &tap, expand_w, WIDE, tiles * part / PARTS, tiles * (part + 1) / PARTS,
                    NULL, NULL, 0, 6, expanded);
}

static void filter(void *context, int part) {
    (void)context;
    swk_depthwise_conv(&depthwise, WIDE, WIDE * part / PARTS, WIDE * (part + 1) / PARTS, expanded, depthwise_w, NULL, 0, 6,
                       scratch + part * scratch_floats, filtered);
}

static void project_by_outputs(void *context, int part) {
    (void)context;
    const int64_t tiles = swk_conv_direct_tiles(&pointwise, NARROW);
    swk_conv_direct(&pointwise, filtered, WIDE, 0, WIDE, &tap, project_w, NARROW, tiles * part / PARTS,
                    tiles * (part + 1) / PARTS, NULL, NULL, -INFINITY, INFINITY, y);
}

static void project_by_inputs(void *context, int part) {
    (void)context;
    swk_conv_direct(&pointwise, filtered, WIDE, WIDE * part / PARTS, WIDE * (part + 1) / PARTS, &tap, project_w, NARROW, 0,
                    swk_conv_direct_tiles(&pointwise, NARROW), NULL, NULL, -INFINITY, INFINITY, part ? partial : y);
}

static void finish(void *context, int part) {
    (void)context;
    swk_conv_add_partials(PLANE, NARROW, NARROW * part / PARTS, NARROW * (part + 1) / PARTS, partial, 1, NULL, NULL,
                          -INFINITY, INFINITY, y);
}

static void run_block(int by_inputs) {
    static double times[3][RUNS];
    for (int run = 0; run < RUNS; run++) {
        double start = now();
        swk_pool_run(PARTS, expand, NULL);
        times[0][run] = now() - start, start = now();
        swk_pool_run(PARTS, filter, NULL);
        times[1][run] = now() - start, start = now();
        if (by_inputs) {
            swk_pool_run(PARTS, project_by_inputs, NULL);
            swk_pool_run(PARTS, finish, NULL);
        } else {
            swk_pool_run(PARTS, project_by_outputs, NULL);
        }
        times[2][run] = now() - start;
    }
    for (int layer = 0; layer < 3; layer++) qsort(times[layer], RUNS, sizeof(double), ascending);
    printf("projection split by %s channels: expansion %.3f ms, depthwise %.3f ms, projection %.3f ms\n",
           by_inputs ? "input " : "output", times[0][RUNS / 2] * 1e3, times[1][RUNS / 2] * 1e3, times[2][RUNS / 2] * 1e3);
}

int main(void) {
    x = random_floats(NARROW * PLANE), expanded = random_floats(WIDE * PLANE), filtered = random_floats(WIDE * PLANE);
    y = random_floats(NARROW * PLANE), partial = random_floats(NARROW * PLANE), depthwise_w = random_floats(WIDE * 9);
    float *w = random_floats(WIDE * NARROW);
    expand_w = random_floats(swk_conv_direct_packed_floats(WIDE, NARROW));
    project_w = random_floats(swk_conv_direct_packed_floats(NARROW, WIDE));
    swk_conv_direct_pack(w, WIDE, NARROW, expand_w);
    swk_conv_direct_pack(w, NARROW, WIDE, project_w);
    swk_conv_direct_taps(&pointwise, &tap);
    scratch_floats = swk_depthwise_scratch_floats(&depthwise);
    scratch = random_floats(PARTS * scratch_floats);
    for (int round = 0; round < 2; round++) run_block(0), run_block(1);
    return 0;
}
