// A convolution with nothing unfolded: a tile of up to 6 output positions × 16 output channels
// keeps its 12 sums of 8 in registers over the whole reduction (or a range of its channels);
// each step broadcasts the input pixel that one tap of one channel reads for each position (any stride: every position
// has its own window start, and a tap is a fixed offset from it) and multiplies it by that
// tap's 16 weights, one 64-byte line of W packed once as [M/16][C·kH·kW][16]. Where a tap can
// fall in the padding the input is first copied, channel by channel, into a zero-padded plane;
// a 1×1 layer onto a small plane reads a copy laid out tile by tile (TILED_MAX_POSITIONS).
// The sums are finished (bias, a fused residual, clamp) and scattered into the NCHW output once
// per tile. MLAS's NCHW convolution does much the same. On ResNet-18's 3×3 and 7×7 layers it took 0.79-1.00 of
// the time of conv_panels.c, which unfolds the input 16 positions at a time and reads W in place
// (docs/BENCHMARKS.md, eleventh measurement; bench/kernels/conv_panels_timing.c). It also takes
// 1×1 layers of one group onto at most 196 output positions that pointwise_conv.c leaves,
// strided or not (thirteenth and fourteenth measurements); 3×3 stride-1 ones with 64+ channels
// go to winograd_conv.c.
#include "ckernels.h"
#include "conv_phases.h"  // conv_padded_rows/columns, conv_clamp
#include "direct_tile.h"
#include <string.h>

enum { TILE_POSITIONS = DIRECT_TILE_POSITIONS, TILE_CHANNELS = DIRECT_TILE_CHANNELS };

int64_t swk_conv_direct_packed_floats(int64_t out_channels, int64_t depth) {
    return (out_channels + TILE_CHANNELS - 1) / TILE_CHANNELS * TILE_CHANNELS * depth;
}

void conv_pack_channel_blocks(const float *w, int64_t out_channels, int64_t depth, int block_channels, float *packed) {
    for (int64_t block = 0; block < (out_channels + block_channels - 1) / block_channels; block++)
        for (int64_t t = 0; t < depth; t++)
            for (int64_t c = 0; c < block_channels; c++) {
                const int64_t m = block * block_channels + c;
                packed[(block * depth + t) * block_channels + c] = m < out_channels ? w[m * depth + t] : 0.0f;
            }
}

void swk_conv_direct_pack(const float *w, int64_t out_channels, int64_t depth, float *packed) {
    conv_pack_channel_blocks(w, out_channels, depth, TILE_CHANNELS, packed);
}

/// A plane's output positions dealt out evenly over the fewest tiles of at most 6: the first
/// `longer` tiles take one more than `shortest`. 7×7's 49 positions go 6, 6, 6, 6, 5, 5, 5, 5, 5,
/// where 6 each had computed 54 (ninth tile: 1 position, 6 computed).
typedef struct {
    int64_t tiles, shortest, longer;
} position_deal;

static position_deal deal_of(int64_t plane) {
    position_deal deal = {(plane + TILE_POSITIONS - 1) / TILE_POSITIONS, 0, 0};
    if (deal.tiles) deal.shortest = plane / deal.tiles, deal.longer = plane % deal.tiles;
    return deal;
}

/// Position tile j's first position and its count of positions.
static int64_t deal_first(position_deal deal, int64_t j) { return j * deal.shortest + (j < deal.longer ? j : deal.longer); }
static int deal_count(position_deal deal, int64_t j) { return (int)(deal.shortest + (j < deal.longer)); }

/// Where each position of a tile starting at position `first` reads its window from, for `positions`
/// positions; a tile of fewer than 6 repeats its last position (which only the portable tile
/// computes). One division a tile, the other positions stepping along the row: a division per
/// position cost more than the tile's sums on short reductions (fourteenth measurement).
static void window_starts(const swk_conv_geometry *g, int64_t row, int64_t first, int positions,
                          int64_t at[TILE_POSITIONS]) {
    int64_t oh = first / g->out_w, ow = first % g->out_w;
    for (int r = 0; r < TILE_POSITIONS; r++) {
        at[r] = oh * g->stride_h * row + ow * g->stride_w;
        if (r + 1 < positions && ++ow == g->out_w) ow = 0, oh++;
    }
}

/// A 1×1 layer onto at most this many positions reads a copy of its input laid out by tile:
/// [position tile][channel][TILED_STRIDE], each tile's (up to 6) input pixels of one channel side
/// by side. Read in place, each step's 6 broadcasts came from a line a plane past the last step's;
/// from the copy, both of the tile's streams are sequential. MobileNetV2's 1×1 layers onto 7×7
/// took 0.75-0.95 of their time with the copy made inside the timing, bit for bit the same
/// outputs; in a prototype those onto 14×14 took 1.12-1.31, and they keep reading in place
/// (bench/kernels/direct_builds.c, docs/BENCHMARKS.md, twenty-first measurement).
enum { TILED_MAX_POSITIONS = 64, TILED_STRIDE = 8 };

/// Where the kernel reads the input: the image itself when no tap falls outside it (no padding),
/// a zero-padded copy of each channel where one does, or for a 1×1 layer onto a small plane the
/// copy by tile.
typedef struct {
    int in_place, tiled;
    int64_t row, plane;  // floats from one input row to the next, and from one channel to the next
} direct_input;

static direct_input input_of(const swk_conv_geometry *g) {
    const int64_t rows = conv_padded_rows(g), columns = conv_padded_columns(g);
    direct_input in;
    const int unpadded = g->pad_top == 0 && g->pad_left == 0 && rows <= g->height && columns <= g->width;
    in.tiled = unpadded && g->kernel_h == 1 && g->kernel_w == 1 && g->out_h * g->out_w <= TILED_MAX_POSITIONS;
    in.in_place = unpadded && !in.tiled;
    in.row = unpadded ? g->width : columns;
    in.plane = in.tiled      ? TILED_STRIDE
               : in.in_place ? g->height * g->width
                             : (rows * columns + 15) / 16 * 16;  // 64-byte aligned channels
    return in;
}

int64_t swk_conv_direct_padded_floats(const swk_conv_geometry *g, int64_t channels) {
    const direct_input in = input_of(g);
    if (in.tiled) return deal_of(g->out_h * g->out_w).tiles * channels * TILED_STRIDE;
    return in.in_place ? 0 : channels * in.plane;
}

/// Channels c_begin ..< c_end of the copy by tile (see TILED_MAX_POSITIONS).
static void copy_tiled(const swk_conv_geometry *g, const float *x, int64_t channels, int64_t c_begin, int64_t c_end,
                       float *copy) {
    const position_deal deal = deal_of(g->out_h * g->out_w);
    const int64_t in_plane = g->height * g->width;
    for (int64_t j = 0; j < deal.tiles; j++) {
        const int positions = deal_count(deal, j);
        int64_t at[TILE_POSITIONS];
        window_starts(g, g->width, deal_first(deal, j), positions, at);
        float *out = copy + (j * channels + c_begin) * TILED_STRIDE;
        for (int64_t c = c_begin; c < c_end; c++, out += TILED_STRIDE)
            for (int r = 0; r < positions; r++) out[r] = x[c * in_plane + at[r]];
    }
}

void swk_conv_direct_pad(const swk_conv_geometry *g, const float *x, int64_t channels, int64_t c_begin, int64_t c_end,
                         float *padded) {
    const direct_input in = input_of(g);
    if (in.tiled) {
        copy_tiled(g, x, channels, c_begin, c_end, padded);
        return;
    }
    const int64_t rows = conv_padded_rows(g);
    for (int64_t c = c_begin; c < c_end; c++) {
        const float *plane = x + c * g->height * g->width;
        float *out = padded + c * in.plane;
        for (int64_t r = 0; r < rows; r++, out += in.row) {
            const int64_t h = r - g->pad_top;
            if (h < 0 || h >= g->height) {
                memset(out, 0, sizeof(float) * (size_t)in.row);
                continue;
            }
            // Columns pad_left ..< pad_left + width hold the row, clipped to the padded width
            // (which a large pad can exceed on its own).
            const int64_t lead = g->pad_left < in.row ? g->pad_left : in.row;
            const int64_t kept = g->width < in.row - lead ? g->width : in.row - lead;
            memset(out, 0, sizeof(float) * (size_t)lead);
            memcpy(out + lead, plane + h * g->width, sizeof(float) * (size_t)kept);
            memset(out + lead + kept, 0, sizeof(float) * (size_t)(in.row - lead - kept));
        }
    }
}

int64_t swk_conv_direct_tiles(const swk_conv_geometry *g, int64_t out_channels) {
    return (out_channels + TILE_CHANNELS - 1) / TILE_CHANNELS * deal_of(g->out_h * g->out_w).tiles;
}

void swk_conv_direct_taps(const swk_conv_geometry *g, int64_t *taps) {
    const direct_input in = input_of(g);
    for (int i = 0; i < g->kernel_h; i++)
        for (int j = 0; j < g->kernel_w; j++)
            taps[i * g->kernel_w + j] = (int64_t)i * g->dilation_h * in.row + (int64_t)j * g->dilation_w;
}

/// tile[r][c] = clamp(bias[c] + Σ over channels k and taps i of input[k·plane + taps[i] + at[r]] ·
/// panel[(k·kk + i)·16 + c]), the 16 channels of one block at the tile's positions r.
static void tile_portable(const float *input, int64_t plane, int64_t channels, const int64_t *taps, int64_t kk,
                          const int64_t at[TILE_POSITIONS], const float *panel, const float *bias, float lo, float hi,
                          float tile[TILE_POSITIONS][TILE_CHANNELS]) {
    float acc[TILE_POSITIONS][TILE_CHANNELS] = {{0}};
    for (int64_t k = 0; k < channels; k++, input += plane)
        for (int64_t i = 0; i < kk; i++, panel += TILE_CHANNELS) {
            const float *a = input + taps[i];
            for (int r = 0; r < TILE_POSITIONS; r++)
                for (int c = 0; c < TILE_CHANNELS; c++) acc[r][c] += a[at[r]] * panel[c];
        }
    for (int r = 0; r < TILE_POSITIONS; r++)
        for (int c = 0; c < TILE_CHANNELS; c++) tile[r][c] = conv_clamp(acc[r][c] + (bias ? bias[c] : 0.0f), lo, hi);
}

/// A tile of all 16 channels and 5 or 6 positions into its NCHW places: out[c·plane + r] =
/// clamp(tile[r][c] + residual[c·plane + r]) (no residual: clamp(tile[r][c])), as conv_clamp
/// clamps (lo = −∞, hi = +∞ for none), through 4×4 transposes, 4 channels at a time: one 4-float
/// and one 2- or 1-float store per channel instead of 5-6 scalar ones. The scalar scatter was 6%
/// of ResNet-18's stem and 22% of a 1×1 stride-2 layer with 64 input channels (fourteenth
/// measurement); this one took the stem to 0.98 of the old time, the 1×1 stride-2 layers with 64
/// and 128 input channels to 0.92-0.97 (256: 0.99-1.04) and MobileNetV2's 1×1 layers with 64-96
/// input channels on 14×14 to 0.94-1.00 (fifteenth measurement, the old kernel timed alongside,
/// bit for bit the same outputs).
GEMM_AVX2 static void scatter_tile_avx2(const float tile[TILE_POSITIONS][TILE_CHANNELS], int positions, int64_t plane,
                                        const float *residual, float lo, float hi, float *out) {
    const __m128 low = _mm_set1_ps(lo), high = _mm_set1_ps(hi);
    for (int c = 0; c < TILE_CHANNELS; c += 4) {
        __m128 r0 = _mm_load_ps(tile[0] + c), r1 = _mm_load_ps(tile[1] + c), r2 = _mm_load_ps(tile[2] + c),
               r3 = _mm_load_ps(tile[3] + c);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);  // r[k]: channel c + k at positions 0-3
        // (5 positions: the tile wrote no row 5, and row 4 stands in, its lanes never stored)
        const __m128 r4 = _mm_load_ps(tile[4] + c), r5 = positions == 6 ? _mm_load_ps(tile[5] + c) : r4;
        const __m128 t01 = _mm_unpacklo_ps(r4, r5), t23 = _mm_unpackhi_ps(r4, r5);
        // channel c + k at positions 4-5, in the low half
        const __m128 head[4] = {r0, r1, r2, r3}, tail[4] = {t01, _mm_movehl_ps(t01, t01), t23, _mm_movehl_ps(t23, t23)};
        for (int k = 0; k < 4; k++) {
            float *o = out + (c + k) * plane;
            __m128 first = head[k], last = tail[k];
            if (residual) {
                const float *z = residual + (c + k) * plane;
                first = _mm_add_ps(first, _mm_loadu_ps(z));
                last = _mm_add_ps(last, positions == 6 ? _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(z + 4))
                                                       : _mm_load_ss(z + 4));
            }
            // max(lo, v) then min(hi, ·) return v when v is NaN: NaN passes, as conv_clamp does.
            _mm_storeu_ps(o, _mm_min_ps(high, _mm_max_ps(low, first)));
            last = _mm_min_ps(high, _mm_max_ps(low, last));
            if (positions == 6) _mm_storel_pi((__m64 *)(o + 4), last);
            else _mm_store_ss(o + 4, last);
        }
    }
}

void swk_conv_direct(const swk_conv_geometry *g, const float *input, int64_t channels, int64_t c_begin, int64_t c_end,
                     const int64_t *taps, const float *packed, int64_t out_channels, int64_t tile_begin, int64_t tile_end,
                     const float *bias, const float *residual, float lo, float hi, float *y) {
    const direct_input in = input_of(g);
    if (tile_begin >= tile_end) return;  // also the empty plane's, whose tile count of 0 divides below
    const int64_t kk = (int64_t)g->kernel_h * g->kernel_w, depth = channels * kk, plane = g->out_h * g->out_w;
    // The call's channels: the tiles sum them from their first, in the input and in each panel.
    input += c_begin * in.plane;
    packed += c_begin * kk * TILE_CHANNELS;
    const int64_t summed = c_end - c_begin;
    const position_deal deal = deal_of(plane);
    // The copy by tile holds each tile's channels side by side: one tile's run of them to the next.
    const int64_t tile_stride = channels * TILED_STRIDE;
    const int avx2 = swk_has_avx2(), rows_of_3 = taps_in_rows_of_3(taps, kk);
    float tile[TILE_POSITIONS][TILE_CHANNELS] __attribute__((aligned(64)));
    float *const rows[TILE_POSITIONS][2] = {{tile[0], tile[0] + 8}, {tile[1], tile[1] + 8}, {tile[2], tile[2] + 8},
                                            {tile[3], tile[3] + 8}, {tile[4], tile[4] + 8}, {tile[5], tile[5] + 8}};
    float block_bias[TILE_CHANNELS];
    for (int64_t unit = tile_begin; unit < tile_end; unit++) {
        const int64_t block = unit / deal.tiles, j = unit % deal.tiles, first = deal_first(deal, j);
        const int positions = deal_count(deal, j);
        const int64_t m0 = block * TILE_CHANNELS;
        const int64_t kept = out_channels - m0 < TILE_CHANNELS ? out_channels - m0 : TILE_CHANNELS;
        const float *tile_bias = bias;
        if (bias) {  // the last block's channels past out_channels read a bias of 0
            for (int64_t c = 0; c < TILE_CHANNELS; c++) block_bias[c] = c < kept ? bias[m0 + c] : 0.0f;
            tile_bias = block_bias;
        }
        // Where each position reads: in the copy by tile, the tile's own run at offsets 0 ..< 6
        // (the last repeated, as window_starts does).
        int64_t at[TILE_POSITIONS];
        const float *tile_input = input;
        if (in.tiled) {
            for (int r = 0; r < TILE_POSITIONS; r++) at[r] = r < positions ? r : positions - 1;
            tile_input += j * tile_stride;
        } else {
            window_starts(g, in.row, first, positions, at);
        }
        // With a residual the tile stops at sum + bias: Z is added, then the clamp applied, as the
        // tile is scattered, channel by channel (each a run of positions in y and Z).
        const float *panel = packed + block * depth * TILE_CHANNELS;
        const float tile_lo = residual ? -INFINITY : lo, tile_hi = residual ? INFINITY : hi;
        if (avx2)
            direct_tile_avx2(positions, tile_input, in.plane, summed, taps, kk, rows_of_3, at, panel, tile_bias, tile_lo,
                             tile_hi, rows);
        else tile_portable(tile_input, in.plane, summed, taps, kk, at, panel, tile_bias, tile_lo, tile_hi, tile);
        float *out = y + m0 * plane + first;
        if (avx2 && positions >= 5 && kept == TILE_CHANNELS) {
            const float *z = residual ? residual + m0 * plane + first : NULL;
            scatter_tile_avx2(tile, positions, plane, z, z ? lo : -INFINITY, z ? hi : INFINITY, out);
        } else if (residual) {
            const float *z = residual + m0 * plane + first;
            for (int64_t c = 0; c < kept; c++)
                for (int r = 0; r < positions; r++) out[c * plane + r] = conv_clamp(tile[r][c] + z[c * plane + r], lo, hi);
        } else {
            for (int64_t c = 0; c < kept; c++)
                for (int r = 0; r < positions; r++) out[c * plane + r] = tile[r][c];
        }
    }
}
