// A MobileNetV2 block's 1×1 expansion and the depthwise layer after it, as one kernel (see
// ckernels.h). Separately, the expansion writes its output planes and the depthwise lanes path
// copies every 8 of them back into vector lanes through 8×8 transposes before its multiply-adds;
// that copy and the transposes out were 0.38–0.73 of the depthwise layers' time. Here the
// expansion runs conv_direct.c's tiles (direct_tile.h: 16 output channels × up to 6 positions,
// the channels in the vector lanes), whose rows are already the lanes' layout and are stored
// straight into the padded input the row runs read (depthwise_rows.h): no expanded planes, no
// interleave. The sums run in the two kernels' order, so the outputs are theirs bit for bit but
// for the sign of a zero or a NaN (with no bias the tile adds +0, and the kernels' adds may pass
// on the other operand's NaN). Where it pays: swk_expand_depthwise_takes.
#include "ckernels.h"
#include "conv_phases.h"
#include "depthwise_rows.h"
#include "direct_tile.h"
#include <string.h>

enum { PANEL = DIRECT_TILE_CHANNELS, TILE = DIRECT_TILE_POSITIONS, LANES = 8 };

/// Planes of at most 28×28: on MobileNetV2's 56×56 blocks (a 24-channel reduction) the fused
/// kernel took 1.03–1.10 of the two kernels' time in the model (`swiftlet bench … --profile`, one
/// thread, both builds alternated, the quiet rounds) and 1.01–1.05 in
/// bench/kernels/expand_depthwise_timing.c, on 28×28 0.97–1.06 and 0.96–0.99, on 14×14 and 7×7
/// 0.87–0.95 and 0.83–0.92 (docs/BENCHMARKS.md, nineteenth measurement): the pointwise tiles'
/// 16-position lines reuse more of what they load than 6 positions do, which the saved copies
/// outweigh only on small planes.
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

/// One panel's expansion into the two lanes: the plane's positions 6 at a time, each stored at its
/// padded place (every image row and column has one: the depthwise geometry reads them all, or
/// the position is never read and its place is past the padded extent, so it is skipped).
GEMM_AVX2 static void expand_panel(const swk_conv_geometry *g, const float *x, int64_t channels, const float *panel,
                                   const float *bias, float lo, float hi, float *lanes0, float *lanes1) {
    const int64_t plane = g->height * g->width, rows = conv_padded_rows(g), columns = conv_padded_columns(g);
    const int64_t one_tap = 0, spare = rows * columns * LANES;
    for (int64_t p0 = 0; p0 < plane; p0 += TILE) {
        const int R = plane - p0 < TILE ? (int)(plane - p0) : TILE;
        // A tile short of 6 repeats its last position (as conv_direct.c's do), which it does not compute.
        int64_t at[TILE];
        float *places[TILE][2];
        for (int r = 0; r < TILE; r++) {
            at[r] = p0 + (r < R ? r : R - 1);
            const int64_t row = at[r] / g->width + g->pad_top, column = at[r] % g->width + g->pad_left;
            const int64_t offset = row < rows && column < columns ? (row * columns + column) * LANES : spare;
            places[r][0] = lanes0 + offset, places[r][1] = lanes1 + offset;
        }
        direct_tile_avx2(R, x, plane, channels, &one_tap, 1, 0, at, panel, bias, lo, hi, places);
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
