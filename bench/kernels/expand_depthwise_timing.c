// A design not yet in Sources, measured: a MobileNetV2 block's 1×1 expansion and 3×3 depthwise
// layer as one kernel, whose expansion tiles (16 output channels × up to 6 positions, the
// channels in vector lanes, conv_direct.c's orientation) store their clamped sums straight into
// the depthwise lanes path's padded input, two groups of 8 channels per panel, which row_runs then
// reads. Neither the expansion's output planes nor the depthwise path's interleave (8×8
// transposes) exist. Against the two kernels the CPU backend runs now: pointwise_conv.c (or
// conv_direct.c on planes under 196 positions, as PointwiseConvKernel.takesPointwise picks) and
// depthwise_conv.c. One thread, every block shape of MobileNetV2 whose depthwise layer takes the
// lanes path, inputs evicted from cache before each run (as the layer before would leave them
// in L3 at best), both ways alternating, medians of 41; the outputs must agree bit for bit (the
// same sums in the same order).
//
//     clang -O2 -o /tmp/expand_depthwise_timing bench/kernels/expand_depthwise_timing.c -ISources/CKernels/include -lm \
//       && /tmp/expand_depthwise_timing
#include "../../Sources/CKernels/pointwise_conv.c"
#include "../../Sources/CKernels/conv_direct.c"
#include "../../Sources/CKernels/depthwise_conv.c"  // last: its AVX2 macro would rename pointwise_conv.c's parameter
#include "../../Sources/CKernels/conv_phases.c"
#include "../../Sources/CKernels/cpu_features.c"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

enum { RUNS = 41, PANEL = 16, TILE = 6 };

static float *random_floats(int64_t count) {
    float *values = aligned_alloc(64, (size_t)((count * 4 + 63) / 64 * 64 + 64));
    for (int64_t i = 0; i < count; i++) values[i] = (float)(rand() % 200 - 100) * 0.01f;
    return values;
}

/// R (a constant) consecutive positions from p0 of one 16-channel panel: the clamped sums of
/// channels 0-7 stored at lanes0 + offsets[r], of channels 8-15 at lanes1 + offsets[r].
AVX2 INLINE void expansion_tile(const int R, const float *x, int64_t plane, int64_t channels, const float *panel,
                                const float *bias, float lo, float hi, const int64_t offsets[TILE], float *lanes0,
                                float *lanes1) {
    __m256 s00 = _mm256_setzero_ps(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00,
           s40 = s00, s41 = s00, s50 = s00, s51 = s00;
    for (int64_t k = 0; k < channels; k++, panel += PANEL, x += plane) {
        const __m256 w0 = _mm256_load_ps(panel), w1 = _mm256_load_ps(panel + 8);
        // The empty asm keeps each broadcast below the multiply-adds before it, as conv_direct.c's
        // tile does, so the 12 sums stay in registers.
#define STEP(N, S0, S1)                                                                                                 \
    if (R > N) {                                                                                                        \
        const __m256 v = _mm256_broadcast_ss(x + N);                                                                    \
        S0 = _mm256_fmadd_ps(v, w0, S0), S1 = _mm256_fmadd_ps(v, w1, S1);                                               \
        __asm__ volatile("" : "+x"(S0), "+x"(S1)::"memory");                                                            \
    }
        STEP(0, s00, s01) STEP(1, s10, s11) STEP(2, s20, s21) STEP(3, s30, s31) STEP(4, s40, s41) STEP(5, s50, s51)
#undef STEP
    }
    const __m256 sums[TILE][2] = {{s00, s01}, {s10, s11}, {s20, s21}, {s30, s31}, {s40, s41}, {s50, s51}};
    const __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8), low = _mm256_set1_ps(lo), high = _mm256_set1_ps(hi);
    for (int r = 0; r < R; r++) {
        _mm256_storeu_ps(lanes0 + offsets[r], _mm256_min_ps(high, _mm256_max_ps(low, _mm256_add_ps(sums[r][0], b0))));
        _mm256_storeu_ps(lanes1 + offsets[r], _mm256_min_ps(high, _mm256_max_ps(low, _mm256_add_ps(sums[r][1], b1))));
    }
}

/// The fused block: expansion (packed by swk_conv_direct_pack, out_channels a multiple of 16,
/// clamp [0, 6]) then depthwise (3×3 weights wd, bias bd, clamp [0, 6]) into y's planes. Every
/// input row is read by some output (true of MobileNetV2's layers), so every image pixel has a
/// place in the padded lanes; scratch holds two of them and the lanes' weights and bias.
AVX2 static void expand_depthwise(const swk_conv_geometry *g, const float *x, int64_t channels, int64_t out_channels,
                                  const float *packed, const float *bias, const float *wd, const float *bd, float *scratch,
                                  float *y) {
    const int64_t rows = conv_padded_rows(g), columns = conv_padded_columns(g), plane = g->height * g->width;
    const int64_t lanes_floats = rows * columns * LANES, out_plane = g->out_h * g->out_w;
    float *lanes[2] = {scratch, scratch + lanes_floats}, *weights = scratch + 2 * lanes_floats, *lane_bias = weights + 9 * LANES;
    memset(scratch, 0, sizeof(float) * (size_t)(2 * lanes_floats));  // the padding stays zero
    for (int64_t panel = 0; panel < out_channels / PANEL; panel++) {
        const float *w = packed + panel * channels * PANEL, *b = bias + panel * PANEL;
        for (int64_t p0 = 0; p0 < plane; p0 += TILE) {
            const int R = plane - p0 < TILE ? (int)(plane - p0) : TILE;
            int64_t offsets[TILE];
            for (int r = 0; r < R; r++)
                offsets[r] = (((p0 + r) / g->width + g->pad_top) * columns + (p0 + r) % g->width + g->pad_left) * LANES;
            switch (R) {
#define TILE_OF(N)                                                                                                      \
    case N: expansion_tile(N, x + p0, plane, channels, w, b, 0, 6, offsets, lanes[0], lanes[1]); break;
                TILE_OF(1) TILE_OF(2) TILE_OF(3) TILE_OF(4) TILE_OF(5)
                default: expansion_tile(6, x + p0, plane, channels, w, b, 0, 6, offsets, lanes[0], lanes[1]); break;
#undef TILE_OF
            }
        }
        for (int half = 0; half < 2; half++) {
            const int64_t first = panel * PANEL + half * LANES;
            for (int tap = 0; tap < 9; tap++)
                for (int lane = 0; lane < LANES; lane++) weights[tap * LANES + lane] = wd[(first + lane) * 9 + tap];
            for (int lane = 0; lane < LANES; lane++) lane_bias[lane] = bd[first + lane];
            row_runs_avx2(g, lanes[half], columns, weights, lane_bias, 0, 6, LANES, y + first * out_plane);
        }
    }
}

int main(void) {
    if (!swk_has_avx2()) return puts("needs AVX2"), 0;
    const int blocks[][4] = {  // (input channels, expanded channels, side, depthwise stride)
        {24, 144, 56, 1}, {24, 144, 56, 2}, {32, 192, 28, 1}, {32, 192, 28, 2},
        {64, 384, 14, 1}, {96, 576, 14, 1}, {96, 576, 14, 2}, {160, 960, 7, 1}};
    char *evict = calloc(24u << 20, 1);
    double total[2] = {0, 0};
    printf("| block | side | stride | separate ms | fused ms | fused / separate | same outputs |\n"
           "|---|---:|---:|---:|---:|---:|---|\n");
    for (size_t l = 0; l < sizeof blocks / sizeof blocks[0]; l++) {
        const int c = blocks[l][0], e = blocks[l][1], side = blocks[l][2], stride = blocks[l][3];
        const int out = (side - 1) / stride + 1, plane = side * side;
        const swk_conv_geometry pointwise = {side, side, side, side, 1, 1, 1, 1, 0, 0, 1, 1};
        const swk_conv_geometry g = {side, side, out, out, 3, 3, stride, stride, 1, 1, 1, 1};
        float *x = random_floats((int64_t)c * plane), *we = random_floats((int64_t)e * c), *be = random_floats(e);
        float *expanded = random_floats((int64_t)e * plane), *wd = random_floats(e * 9L), *bd = random_floats(e);
        float *y[2] = {random_floats((int64_t)e * out * out), random_floats((int64_t)e * out * out)};
        float *packed = random_floats(swk_conv_direct_packed_floats(e, c));
        swk_conv_direct_pack(we, e, c, packed);
        int64_t tap;
        swk_conv_direct_taps(&pointwise, &tap);
        float *scratch = random_floats(swk_depthwise_scratch_floats(&g));
        float *fused_scratch = random_floats(2 * conv_padded_rows(&g) * conv_padded_columns(&g) * LANES + 10 * LANES);
        const int takes_pointwise = c <= 192 && plane >= 196;
        double times[2][RUNS];
        for (int r = 0; r < RUNS; r++)
            for (int pass = 0; pass < 2; pass++) {
                const int fused = (pass + r) % 2;
                for (size_t i = 0; i < (24u << 20); i += 64) evict[i]++;
                const double t = now();
                if (fused) {
                    expand_depthwise(&g, x, c, e, packed, be, wd, bd, fused_scratch, y[1]);
                } else {
                    if (takes_pointwise) swk_pointwise_conv(we, e, c, 0, c, x, plane, 0, plane, be, NULL, 0, 6, expanded);
                    else swk_conv_direct(&pointwise, x, c, 0, c, &tap, packed, e, 0, swk_conv_direct_tiles(&pointwise, e), be,
                                         NULL, 0, 6, expanded);
                    swk_depthwise_conv(&g, e, 0, e, expanded, wd, bd, 0, 6, scratch, y[0]);
                }
                times[fused][r] = now() - t;
            }
        for (int way = 0; way < 2; way++) qsort(times[way], RUNS, sizeof(double), ascending), total[way] += times[way][RUNS / 2];
        printf("| %d→%d | %d | %d | %.3f | %.3f | %.2f | %s |\n", c, e, side, stride, times[0][RUNS / 2] * 1e3,
               times[1][RUNS / 2] * 1e3, times[1][RUNS / 2] / times[0][RUNS / 2],
               memcmp(y[0], y[1], sizeof(float) * (size_t)e * out * out) ? "no" : "yes");
        free(x), free(we), free(be), free(expanded), free(wd), free(bd), free(y[0]), free(y[1]), free(packed), free(scratch),
            free(fused_scratch);
    }
    printf("\nall shapes once each: separate %.3f ms, fused %.3f ms\n", total[0] * 1e3, total[1] * 1e3);
    free(evict);
    return 0;
}
