// A MobileNetV2 block's 1×1 expansion and the depthwise layer after it, as one kernel (see
// ckernels.h). Separately, the expansion writes its output planes and the depthwise lanes path
// copies every 8 of them back into vector lanes through 8×8 transposes before its multiply-adds;
// that copy and the transposes out were 0.38–0.73 of the depthwise layers' time. Here the
// expansion's tiles hold 16 output channels × up to 6 positions with the channels in the vector
// lanes (conv_direct.c's orientation), so each tile's sums are already the lanes' layout and are
// stored straight into the padded input the row runs read (depthwise_rows.h): no expanded planes,
// no interleave. The sums run in the two kernels' order, so the outputs are theirs bit for bit
// (but for a NaN's sign: the two kernels' adds may pass on the other operand's NaN). bench/kernels/expand_depthwise_timing.c measured this design at 0.83–0.91 of the
// two kernels' time on MobileNetV2's 14×14 and 7×7 blocks and 0.95–1.00 on larger planes.
#include "ckernels.h"
#include "conv_phases.h"
#include "depthwise_rows.h"
#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/// Expanded channels per panel, and positions per tile: 6 × 2 sums of 8, two weight vectors and a
/// broadcast fill 15 of the 16 vector registers.
enum { PANEL = SWK_CONV_DIRECT_PANEL_CHANNELS, TILE = 6, LANES = 8 };

/// Planes of at most 28×28: on MobileNetV2's 56×56 blocks (a 24-channel reduction) the fused
/// kernel took 1.01–1.10 of the two kernels' time in the model (`swiftlet bench … --profile`, one
/// thread, both builds alternated, three rounds) and 1.01–1.05 in
/// bench/kernels/expand_depthwise_timing.c, on 28×28 0.97–1.01 and 0.96–0.99, on 14×14 and 7×7
/// 0.81–0.94 and 0.83–0.92: the pointwise tiles' 16-position lines reuse more of what they load
/// than 6 positions do, which the saved copies outweigh only on small planes.
enum { MAX_PLANE = 28 * 28 };

int swk_expand_depthwise_takes(const swk_conv_geometry *g, int64_t out_channels) {
    return out_channels % PANEL == 0 && g->height * g->width <= MAX_PLANE && depthwise_rows_take(g);
}

/// Each group's lanes with one spare cell at the end (where positions no output reads go), then
/// the row runs' taps and bias.
static int64_t group_floats(const swk_conv_geometry *g) { return depthwise_rows_lanes_floats(g) + LANES; }

int64_t swk_expand_depthwise_scratch_floats(const swk_conv_geometry *g) {
    // A multiple of 16 floats: one thread's scratch after another's starts on a new cache line.
    return (2 * group_floats(g) + depthwise_rows_scratch_floats(g) + 15) / 16 * 16;
}

/// R (a constant) consecutive positions of one panel: lanes[h] + offsets[r] = clamp(the sums of
/// channels 8h … 8h + 7 at position r + bias) for h = 0, 1. The sums run over the input channels
/// in order from 0, as swk_pointwise_conv's do, and take the bias the same way (none added when
/// NULL: adding +0 would turn a −0 sum into +0), so the two agree bit for bit.
AVX2 INLINE void expansion_tile(const int R, const float *x, int64_t plane, int64_t channels, const float *panel,
                                const float *bias, float lo, float hi, const int64_t offsets[TILE], float *lanes0,
                                float *lanes1) {
    __m256 s00 = _mm256_setzero_ps(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00,
           s40 = s00, s41 = s00, s50 = s00, s51 = s00;
    for (int64_t k = 0; k < channels; k++, panel += PANEL, x += plane) {
        const __m256 w0 = _mm256_load_ps(panel), w1 = _mm256_load_ps(panel + 8);
        // The empty asm keeps each broadcast below the multiply-adds before it, as conv_direct.c's
        // tile does: hoisted, the six broadcasts and 12 sums overflow the registers.
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
    const __m256 low = _mm256_set1_ps(lo), high = _mm256_set1_ps(hi);
    float *lanes[2] = {lanes0, lanes1};
    for (int h = 0; h < 2; h++) {
        const __m256 b = bias ? _mm256_loadu_ps(bias + 8 * h) : _mm256_setzero_ps();
        for (int r = 0; r < R; r++) {
            const __m256 v = bias ? _mm256_add_ps(sums[r][h], b) : sums[r][h];
            // max(lo, v) then min(hi, ·) return v when it is NaN: NaN passes.
            _mm256_storeu_ps(lanes[h] + offsets[r], _mm256_min_ps(high, _mm256_max_ps(low, v)));
        }
    }
}

/// One panel's expansion into the two lanes: the plane's positions 6 at a time, each stored at its
/// padded place (every image row and column has one: the depthwise geometry reads them all, or
/// the position is never read and its place is past the padded extent, so it is skipped).
AVX2 static void expand_panel(const swk_conv_geometry *g, const float *x, int64_t channels, const float *panel,
                              const float *bias, float lo, float hi, float *lanes0, float *lanes1) {
    const int64_t plane = g->height * g->width, rows = conv_padded_rows(g), columns = conv_padded_columns(g);
    for (int64_t p0 = 0; p0 < plane; p0 += TILE) {
        const int R = plane - p0 < TILE ? (int)(plane - p0) : TILE;
        int64_t offsets[TILE];
        for (int r = 0; r < R; r++) {
            const int64_t row = (p0 + r) / g->width + g->pad_top, column = (p0 + r) % g->width + g->pad_left;
            offsets[r] = row < rows && column < columns ? (row * columns + column) * LANES : rows * columns * LANES;  // spare
        }
        switch (R) {
#define TILE_OF(N)                                                                                                      \
    case N: expansion_tile(N, x + p0, plane, channels, panel, bias, lo, hi, offsets, lanes0, lanes1); break;
            TILE_OF(1) TILE_OF(2) TILE_OF(3) TILE_OF(4) TILE_OF(5)
#undef TILE_OF
            default: expansion_tile(TILE, x + p0, plane, channels, panel, bias, lo, hi, offsets, lanes0, lanes1); break;
        }
    }
}

void swk_expand_depthwise(const swk_conv_geometry *g, const float *x, int64_t channels, const float *packed,
                          const float *bias, float lo, float hi, const float *w, const float *w_bias, float w_lo, float w_hi,
                          int64_t panel_begin, int64_t panel_end, float *scratch, float *y) {
    const int64_t lanes_floats = group_floats(g), out_plane = g->out_h * g->out_w;
    float *lanes0 = scratch, *lanes1 = lanes0 + lanes_floats, *rows_scratch = lanes1 + lanes_floats;
    memset(scratch, 0, sizeof(float) * (size_t)(2 * lanes_floats));  // the padding stays zero
    for (int64_t p = panel_begin; p < panel_end; p++) {
        expand_panel(g, x, channels, packed + p * channels * PANEL, bias ? bias + p * PANEL : NULL, lo, hi, lanes0, lanes1);
        for (int h = 0; h < 2; h++) {
            const int64_t first = p * PANEL + h * LANES;
            depthwise_rows(g, h ? lanes1 : lanes0, first, w, w_bias, w_lo, w_hi, rows_scratch, y + first * out_plane);
        }
    }
}
