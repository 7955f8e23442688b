// Depthwise convolution (see ckernels.h), three ways, chosen by plane size, stride and kernel width
// (swk_depthwise_conv):
// - phases: over the stride phases of each channel (conv_phases.h), every tap one contiguous
//   multiply-add over the whole output plane. (The per-line loop this replaced ran MobileNetV2's
//   stride-2 layers at 3–4 GFLOP/s: `swiftlet bench … --profile`, docs/BENCHMARKS.md.) Each
//   channel pays for its split, a run padded to 32 positions and a copy out, which a 7×7 or
//   14×14 plane never amortizes (1.75–7 GFLOP/s on MobileNetV2's last stages).
// - lanes: 8 consecutive planes (channels, running on into the next image) side by side in a
//   vector, interleaved in and out through 8×8 transposes; each tap is one vector multiply-add
//   per output position, whatever the plane's size. Kernels 3 columns wide at column stride 1 or
//   2 (MobileNetV2's) go a row at a time (row_run): each input vector loaded once per kernel
//   row, the sums transposed straight into the output planes.
// - strided rows (with AVX2): kernels 3 columns wide at column stride 2 on rows of 56+ outputs,
//   a left pad of at most 1 and no output reading the right pad, one plane at a time straight
//   from its rows, 8 outputs a vector, each tap's columns picked out of two loads by one shuffle.
//   The interleave into lanes reads 4 input values per output at stride 2 and took 40% of the
//   lanes path's time on MobileNetV2's 112×112 stride-2 layer (perf).
#include "ckernels.h"
#include "conv_phases.h"
#include "depthwise_rows.h"
#include "transpose8.h"
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))

/// Positions computed per step of the vector loop (four sums of 8); the flat run is a multiple of it.
/// LANES: planes side by side in the other path's vectors.
enum { STEP = 32, LANES = 8 };

/// Floats the taps' offsets take at the start of scratch (int64 each, padded so the phases
/// that follow stay 32-byte aligned).
static int64_t offset_floats(const swk_conv_geometry *g) {
    return ((int64_t)g->kernel_h * g->kernel_w * 2 + 7) / 8 * 8;
}

/// Floats the planes-in-lanes path takes: the interleaved padded input, the taps' and the
/// bias's lanes, the interleaved output (which row_runs, writing the planes directly, leaves
/// unused; it still counts toward use_lanes' bounds, which were measured with it).
static int64_t lanes_floats(const swk_conv_geometry *g) {
    const int64_t taps = (int64_t)g->kernel_h * g->kernel_w;
    return (conv_padded_rows(g) * conv_padded_columns(g) + taps + 1 + g->out_h * g->out_w) * LANES;
}

/// Whether row_runs takes a geometry: kernels 3 columns wide, undilated across, at column stride 1
/// or 2 (all of MobileNetV2's).
static int takes_row_runs(const swk_conv_geometry *g) {
    return g->kernel_w == 3 && g->dilation_w == 1 && (g->stride_w == 1 || g->stride_w == 2);
}

/// Planes in lanes while that path's scratch (8 planes' interleaved input and output) stays within
/// 160 KiB, a third of L2, and at any stride past 1 or on row_runs (with AVX2) up to 4 MiB
/// (224×224 at stride 2 takes 2 MiB; past that, the phase path's scratch of one plane keeps a huge
/// image's memory down); the phase path otherwise. Measured on MobileNetV2's depthwise layers
/// (bench/kernels/depthwise_timing.c, phases time over lanes time, two runs): 7×7 and 14×14
/// planes 1.19–2.67×, 28×28 1.02–1.09× (stride 1) and 1.66–2.26× (stride 2), 56×56 stride 2
/// (126 KiB) 1.31–1.67×. (With AVX2, 3-wide kernels at column stride 2 on rows of 56+ outputs now
/// take the strided rows before this is asked: takes_strided_rows.) At stride 2 past the bound
/// lanes won too: 112×112 0.99–1.25× that day
/// and 1.20–1.41× in three runs of a later one (in the model, onnxruntime's layer took 0.38 ms to
/// our 0.83 on phases), 224×224 1.69–1.86×, 80×80 1.48–1.54×, 160×160 with 16 channels
/// 0.99–1.12×: splitting a large plane into phases moves it through memory twice more. Past the
/// bound at stride 1, 56×56 (203 KiB) ran 0.77–0.83× and 112×112 0.61–0.64× until row_runs and
/// the interleave's transposes from memory; since then 1.15–1.20× and 1.10–1.14× (fifteenth
/// measurement).
static int use_lanes(const swk_conv_geometry *g) {
    const int64_t bytes = lanes_floats(g) * (int64_t)sizeof(float);
    const int large_pays = g->stride_h > 1 || g->stride_w > 1 || (swk_has_avx2() && takes_row_runs(g));
    return bytes <= 160 * 1024 || (large_pays && bytes <= 4 << 20);
}

/// Whether the strided rows take a geometry (with AVX2): kernels 3 columns wide, undilated across, at
/// column stride 2, a left pad of at most 1 (column −1 is made in registers), no output reading the
/// right pad (every load stays inside its row), and rows of 56+ outputs. Taken from rows of 8 (a
/// row's last 8 are one vector, overlapping the one before), an earlier rule ran MobileNetV2's
/// rows of 28 and 14 slower than lanes (`swiftlet bench … --profile`, one thread, binaries
/// alternated: 0.22 → 0.25 and 0.086 → 0.104 ms), where rows of 56 gain (0.676–0.679 →
/// 0.600–0.617; docs/BENCHMARKS.md, eighteenth measurement).
static int takes_strided_rows(const swk_conv_geometry *g) {
    return g->kernel_w == 3 && g->dilation_w == 1 && g->stride_w == 2 && g->pad_left <= 1 && g->out_w >= 56 &&
           2 * g->out_w - g->pad_left + 1 <= g->width;
}

/// Floats the phase path takes: the taps' offsets, the phases, their slack, then the flat output run.
static int64_t phases_floats(const swk_conv_geometry *g) {
    const conv_layout l = conv_layout_of(g, STEP);
    return offset_floats(g) + (int64_t)g->stride_h * g->stride_w * l.plane + conv_slack_floats(&l) + l.run;
}

int64_t swk_depthwise_scratch_floats(const swk_conv_geometry *g) {
    // Rounded to 64 bytes, so threads' scratches laid end to end keep the alignment and never
    // share a cache line.
    if (swk_has_avx2() && takes_strided_rows(g)) return 0;
    return ((use_lanes(g) ? lanes_floats(g) : phases_floats(g)) + 15) / 16 * 16;
}

/// out[t] = clamp(bias + Σ_tap weights[tap] · phases[offsets[tap] + t]) for t < run.
static void accumulate_portable(const float *phases, const int64_t *offsets, const float *weights, int64_t taps, float bias,
                                float lo, float hi, int64_t run, float *out) {
    for (int64_t t = 0; t < run; t++) out[t] = bias;
    for (int64_t tap = 0; tap < taps; tap++) {
        const float w = weights[tap], *source = phases + offsets[tap];
        for (int64_t t = 0; t < run; t++) out[t] += w * source[t];
    }
    for (int64_t t = 0; t < run; t++) out[t] = conv_clamp(out[t], lo, hi);
}

AVX2 static void accumulate_avx2(const float *phases, const int64_t *offsets, const float *weights, int64_t taps, float bias,
                                 float lo, float hi, int64_t run, float *out) {
    const __m256 low = _mm256_set1_ps(lo), high = _mm256_set1_ps(hi);
    for (int64_t t = 0; t < run; t += STEP) {
        // Four independent sums hide the multiply-add latency.
        __m256 a0 = _mm256_set1_ps(bias), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t tap = 0; tap < taps; tap++) {
            const __m256 w = _mm256_broadcast_ss(weights + tap);
            const float *s = phases + offsets[tap] + t;
            a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(s), a0);
            a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(s + 8), a1);
            a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(s + 16), a2);
            a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(s + 24), a3);
        }
        // max(low, v) then min(high, ·) return v when v is NaN (the second operand): NaN passes.
        _mm256_storeu_ps(out + t, _mm256_min_ps(high, _mm256_max_ps(low, a0)));
        _mm256_storeu_ps(out + t + 8, _mm256_min_ps(high, _mm256_max_ps(low, a1)));
        _mm256_storeu_ps(out + t + 16, _mm256_min_ps(high, _mm256_max_ps(low, a2)));
        _mm256_storeu_ps(out + t + 24, _mm256_min_ps(high, _mm256_max_ps(low, a3)));
    }
}

#define INLINE static inline __attribute__((always_inline))

/// Output positions first … first+Q−1 of the flat out_h × out_w plane (Q a constant at each call,
/// so `acc` stays in registers: Q independent sums hide the multiply-add latency), for up to 8
/// planes in lanes.
INLINE void lanes_positions(const int Q, const swk_conv_geometry *g, const float *in, int64_t columns, const float *weights,
                            const float *bias, float lo, float hi, int64_t first, float *out) {
    float acc[8][LANES];
    const float *corner[8];
    // One division for the first position; the others step along its row and wrap onto the
    // next (a division per position was a fifth of the time on 14×14 planes).
    int64_t oh = first / g->out_w, ow = first % g->out_w;
    for (int q = 0; q < Q; q++, ow++) {
        if (ow == g->out_w) ow = 0, oh++;
        corner[q] = in + (oh * g->stride_h * columns + ow * g->stride_w) * LANES;
        for (int lane = 0; lane < LANES; lane++) acc[q][lane] = bias[lane];
    }
    for (int i = 0; i < g->kernel_h; i++) {
        for (int j = 0; j < g->kernel_w; j++) {
            const float *tap = weights + ((int64_t)i * g->kernel_w + j) * LANES;
            const int64_t offset = ((int64_t)i * g->dilation_h * columns + (int64_t)j * g->dilation_w) * LANES;
            for (int q = 0; q < Q; q++)
                for (int lane = 0; lane < LANES; lane++) acc[q][lane] += tap[lane] * corner[q][offset + lane];
        }
    }
    for (int q = 0; q < Q; q++) {
        float *cell = out + (first + q) * LANES;
        for (int lane = 0; lane < LANES; lane++) cell[lane] = conv_clamp(acc[q][lane], lo, hi);
    }
}

/// in[(r·columns + col)·8 + lane] = plane `lane`'s value under padded (r, col), for lanes < count,
/// image rows < last_row and columns < last_column; the rest of `in` stays as it was. x is the
/// first plane; planes are height·width floats apart.
static void interleave_portable(const swk_conv_geometry *g, int64_t count, const float *x, int64_t last_row,
                                int64_t last_column, int64_t columns, float *in) {
    for (int64_t lane = 0; lane < count; lane++) {
        for (int64_t ih = 0; ih < last_row; ih++) {
            float *cell = in + ((ih + g->pad_top) * columns + g->pad_left) * LANES + lane;
            const float *source = x + lane * g->height * g->width + ih * g->width;
            for (int64_t iw = 0; iw < last_column; iw++) cell[iw * LANES] = source[iw];
        }
    }
}

/// interleave_portable, 8 columns × 8 planes at a time through an 8×8 transpose. A whole block (8
/// planes, 8 columns) is transposed straight from memory (swk_transpose8_load: 0.84-0.94 of
/// swk_transpose8's time on 28×28 to 112×112 planes at stride 2, where the input is 4 times the
/// output; no steady change at stride 1; fifteenth measurement). A row's last columns short of 8
/// come through masked loads (a scalar loop over the 6 of a 14×14 plane had taken a sixth of the
/// path's time; perf on bench/kernels/depthwise_timing.c's shapes). no_builtin: clang turned the 8
/// stores of a whole block, 256 contiguous bytes, into a spill of the vectors and a call to
/// memcpy, 14% of the path's time on 112×112 planes.
AVX2 __attribute__((no_builtin("memcpy"))) static void interleave_avx2(const swk_conv_geometry *g, int64_t count,
                                                                       const float *x, int64_t last_row, int64_t last_column,
                                                                       int64_t columns, float *in) {
    const int64_t plane = g->height * g->width;
    for (int64_t ih = 0; ih < last_row; ih++) {
        float *line = in + ((ih + g->pad_top) * columns + g->pad_left) * LANES;
        const float *source = x + ih * g->width;
        // Floats of each plane after this row's end: a block short of 8 columns may read into
        // them (the next rows), storing only its own columns.
        const int64_t after = (g->height - ih) * g->width - last_column;
        for (int64_t iw = 0; iw < last_column; iw += 8) {
            const int64_t kept = last_column - iw < 8 ? last_column - iw : 8;
            __m256 v[8];
            // The usual block: 8 planes, 8 columns loaded whole. A row's last block of fewer (7×7,
            // 14×14 and 28×28 planes) is loaded whole too where the plane goes on past it: with
            // masked loads the interleave took 61% of the 14×14 stride-2 layer's time (perf), and
            // these layers took 0.77-0.95 of the time without them (depthwise_timing.c,
            // seventeenth measurement).
            if (count == LANES && (kept == 8 || after >= 8 - kept)) {
                swk_transpose8_load(source + iw, plane, v);
                for (int k = 0; k < kept; k++) _mm256_storeu_ps(line + (iw + k) * LANES, v[k]);
                continue;
            }
            const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)kept), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            // A masked load reads nothing past `kept`, but costs far more than a plain one (a third
            // of the path's time on 112×112 planes when every block took one).
            for (int lane = 0; lane < 8; lane++)
                v[lane] = lane >= count ? _mm256_setzero_ps()
                          : kept == 8   ? _mm256_loadu_ps(source + lane * plane + iw)
                                        : _mm256_maskload_ps(source + lane * plane + iw, mask);
            swk_transpose8(v);
            for (int k = 0; k < kept; k++) _mm256_storeu_ps(line + (iw + k) * LANES, v[k]);
        }
    }
}

/// y[lane·positions + p] = out[p·8 + lane] for lanes < count and first ≤ p < positions.
static void deinterleave_portable(const float *out, int64_t first, int64_t positions, int64_t count, float *y) {
    for (int64_t lane = 0; lane < count; lane++)
        for (int64_t p = first; p < positions; p++) y[lane * positions + p] = out[p * LANES + lane];
}

/// deinterleave_portable, 8 positions × 8 planes at a time through an 8×8 transpose (the
/// positions short of 8 by the portable loop).
AVX2 static void deinterleave_avx2(const float *out, int64_t first, int64_t positions, int64_t count, float *y) {
    const int64_t whole = first + (positions - first) / 8 * 8;
    for (int64_t p = first; p < whole; p += 8) {
        __m256 v[8];
        for (int k = 0; k < 8; k++) v[k] = _mm256_loadu_ps(out + (p + k) * LANES);
        swk_transpose8_store(v, y + p, positions, count, 8);
    }
    deinterleave_portable(out, whole, positions, count, y);
}

/// Output row oh's positions ow … ow+Q−1 (Q ≤ 8) of a kernel 3 columns wide, undilated across,
/// at column stride SW (Q and SW constants at each call) for 8 planes in lanes, each written
/// straight to its plane of y through an 8×8 transpose (lanes < count). Along a kernel row, every
/// input vector is loaded once and multiplied into each sum whose window covers it (3 at stride
/// 1): lanes_positions loads one per tap and position, and on 14×14 planes spent half the path's
/// time in those loads and their addresses (perf). The sums take their taps in lanes_positions'
/// order, so the two agree bit for bit.
AVX2 INLINE void row_run(const int Q, const int SW, const swk_conv_geometry *g, const float *in, int64_t columns,
                         const float *weights, const float *bias, float lo, float hi, int64_t count, int64_t oh, int64_t ow,
                         float *y) {
    __m256 acc[8];
    for (int q = 0; q < Q; q++) acc[q] = _mm256_loadu_ps(bias);
    for (int i = 0; i < g->kernel_h; i++) {
        const float *row = in + ((oh * g->stride_h + (int64_t)i * g->dilation_h) * columns + ow * SW) * LANES;
        const __m256 w[3] = {_mm256_loadu_ps(weights + (i * 3) * LANES), _mm256_loadu_ps(weights + (i * 3 + 1) * LANES),
                             _mm256_loadu_ps(weights + (i * 3 + 2) * LANES)};
#pragma clang loop unroll(full)
        for (int c = 0; c < (Q - 1) * SW + 3; c++) {
            const __m256 x = _mm256_loadu_ps(row + c * LANES);
            // Column c is tap j of position (c − j) / SW.
#pragma clang loop unroll(full)
            for (int j = 0; j < 3; j++)
                if (c >= j && (c - j) % SW == 0 && (c - j) / SW < Q) acc[(c - j) / SW] = _mm256_fmadd_ps(w[j], x, acc[(c - j) / SW]);
        }
    }
    const __m256 low = _mm256_set1_ps(lo), high = _mm256_set1_ps(hi);
    __m256 v[8];
    for (int q = 0; q < 8; q++)  // max then min pass NaN, as conv_clamp does
        v[q] = q < Q ? _mm256_min_ps(high, _mm256_max_ps(low, acc[q])) : _mm256_setzero_ps();
    swk_transpose8_store(v, y + oh * g->out_w + ow, g->out_h * g->out_w, count, Q);
}

/// Every output row of 8 planes in lanes by row_run, 8 positions at a time and the row's last
/// ones in one shorter run. Column stride SW (1 or 2) is a constant at each call.
AVX2 INLINE void row_runs(const int SW, const swk_conv_geometry *g, const float *in, int64_t columns, const float *weights,
                          const float *bias, float lo, float hi, int64_t count, float *y) {
    for (int64_t oh = 0; oh < g->out_h; oh++) {
        int64_t ow = 0;
        for (; ow + 8 <= g->out_w; ow += 8) row_run(8, SW, g, in, columns, weights, bias, lo, hi, count, oh, ow, y);
        switch (g->out_w - ow) {
#define SHORT_RUN(N)                                                                                                    \
    case N: row_run(N, SW, g, in, columns, weights, bias, lo, hi, count, oh, ow, y); break;
            SHORT_RUN(1) SHORT_RUN(2) SHORT_RUN(3) SHORT_RUN(4) SHORT_RUN(5) SHORT_RUN(6) SHORT_RUN(7)
#undef SHORT_RUN
        default: break;
        }
    }
}

AVX2 static void row_runs_avx2(const swk_conv_geometry *g, const float *in, int64_t columns, const float *weights,
                               const float *bias, float lo, float hi, int64_t count, float *y) {
    if (g->stride_w == 1) row_runs(1, g, in, columns, weights, bias, lo, hi, count, y);
    else row_runs(2, g, in, columns, weights, bias, lo, hi, count, y);
}

/// The taps and bias of `count` ≤ 8 consecutive planes from `first_plane` in vector lanes:
/// weights[tap · 8 + lane], lane_bias[lane] for channel (first_plane + lane) mod channels, 0 past
/// `count`.
static void lane_weights(const swk_conv_geometry *g, int64_t count, int64_t first_plane, int64_t channels, const float *w,
                         const float *bias, float *weights, float *lane_bias) {
    const int64_t taps = (int64_t)g->kernel_h * g->kernel_w;
    for (int64_t lane = 0; lane < LANES; lane++) {
        const int64_t c = (first_plane + lane) % channels;
        for (int64_t tap = 0; tap < taps; tap++) weights[tap * LANES + lane] = lane < count ? w[c * taps + tap] : 0;
        lane_bias[lane] = lane < count && bias ? bias[c] : 0;
    }
}

/// `count` ≤ 8 consecutive planes (x and y at the first one; plane `first_plane` of the call, so
/// lane l is channel (first_plane + l) mod channels, possibly of the next image) with the planes in
/// vector lanes: the padded input interleaved [row][column][8], every tap one vector multiply-add
/// per output position. On small planes this replaces the phase path's per-channel work —
/// splitting, a run of a few dozen positions, copying out — with one pass per 8 planes.
/// `zeroed`: the caller has already zeroed the interleaved input once; the padding cells are
/// never written, and lanes past `count` keep the previous group's values, which weigh 0 and whose
/// outputs are dropped. AVX2_PATH (a constant at each call) picks the transposing copies, and
/// with them row_runs where it takes the kernel (which writes y itself and leaves `out` unused).
INLINE void lanes_loop(const int AVX2_PATH, const swk_conv_geometry *g, int64_t count, int64_t first_plane, int64_t channels,
                       int zeroed, const float *x, const float *w, const float *bias, float lo, float hi, float *scratch,
                       float *y) {
    const int64_t rows = conv_padded_rows(g), columns = conv_padded_columns(g);
    const int64_t taps = (int64_t)g->kernel_h * g->kernel_w, out_plane = g->out_h * g->out_w;
    float *in = scratch, *weights = in + rows * columns * LANES, *lane_bias = weights + taps * LANES;
    float *out = lane_bias + LANES;
    if (!zeroed) memset(in, 0, (size_t)(rows * columns * LANES) * sizeof(float));
    // The image rows and columns some output reads (the extent may stop short of the image).
    const int64_t last_row = rows - g->pad_top < g->height ? rows - g->pad_top : g->height;
    const int64_t last_column = columns - g->pad_left < g->width ? columns - g->pad_left : g->width;
    (AVX2_PATH ? interleave_avx2 : interleave_portable)(g, count, x, last_row, last_column, columns, in);
    lane_weights(g, count, first_plane, channels, w, bias, weights, lane_bias);
    if (AVX2_PATH && takes_row_runs(g)) {
        row_runs_avx2(g, in, columns, weights, lane_bias, lo, hi, count, y);
        return;
    }
    int64_t first = 0;
    for (; first + 8 <= out_plane; first += 8) lanes_positions(8, g, in, columns, weights, lane_bias, lo, hi, first, out);
    for (; first < out_plane; first++) lanes_positions(1, g, in, columns, weights, lane_bias, lo, hi, first, out);
    (AVX2_PATH ? deinterleave_avx2 : deinterleave_portable)(out, 0, out_plane, count, y);
}

AVX2 static void lanes_avx2(const swk_conv_geometry *g, int64_t count, int64_t first_plane, int64_t channels, int zeroed,
                            const float *x, const float *w, const float *bias, float lo, float hi, float *scratch, float *y) {
    lanes_loop(1, g, count, first_plane, channels, zeroed, x, w, bias, lo, hi, scratch, y);
}

static void lanes_portable(const swk_conv_geometry *g, int64_t count, int64_t first_plane, int64_t channels, int zeroed,
                           const float *x, const float *w, const float *bias, float lo, float hi, float *scratch, float *y) {
    lanes_loop(0, g, count, first_plane, channels, zeroed, x, w, bias, lo, hi, scratch, y);
}

/// swk_depthwise_conv with the planes in lanes, 8 consecutive planes at a time (across an image
/// boundary too: planes are laid end to end, so 3 channels of 64 images fill whole groups).
static void lanes_range(const swk_conv_geometry *g, int64_t channels, int64_t p_begin, int64_t p_end, const float *x,
                        const float *w, const float *bias, float lo, float hi, float *scratch, float *y) {
    const int64_t plane = g->height * g->width, out_plane = g->out_h * g->out_w;
    for (int64_t p = p_begin; p < p_end; p += LANES) {
        const int64_t count = p_end - p < LANES ? p_end - p : LANES;
        (swk_has_avx2() ? lanes_avx2 : lanes_portable)(g, count, p, channels, p != p_begin, x + p * plane, w, bias, lo, hi,
                                                       scratch, y + p * out_plane);
    }
}

/// Q ≤ 4 vectors of 8 outputs of row oh of one plane (Q a constant at each call: Q independent
/// sums hide the multiply-add latency), the q-th from output column x0 + 8q, the row's last at
/// out_w − 8 (overlapping the one before it, so its columns are computed twice, alike). Output k
/// of a vector reads columns 2k − pad_left + j: two loads of 8 from column 2·start − pad_left give
/// taps 0 and 1 as their even and odd floats (one shuffle each), two from one column on give tap 2
/// as their odd ones. A shuffle works within 128-bit halves, so the sums hold outputs in the order
/// 0 1 4 5 2 3 6 7, put back by one permute before the store. LEFT_PAD (a constant): x0 is 0
/// and pad_left 1, so the first vector's column −1 is made from the load one column on.
AVX2 INLINE void strided_vectors(const int Q, const int LEFT_PAD, const swk_conv_geometry *g, const float *plane,
                                 const float *w, float bias, float lo, float hi, int64_t oh, int64_t x0, float *out_row) {
    __m256 acc[4];
    int64_t start[4];
    for (int q = 0; q < Q; q++) {
        acc[q] = _mm256_set1_ps(bias);
        start[q] = x0 + 8 * q < g->out_w - 8 ? x0 + 8 * q : g->out_w - 8;
    }
    for (int i = 0; i < g->kernel_h; i++) {
        const int64_t ih = oh * g->stride_h - g->pad_top + (int64_t)i * g->dilation_h;
        const __m256 w0 = _mm256_broadcast_ss(w + i * 3), w1 = _mm256_broadcast_ss(w + i * 3 + 1),
                     w2 = _mm256_broadcast_ss(w + i * 3 + 2);
        if (ih < 0 || ih >= g->height) {
            // A pad row's zeros are still multiplied, as the other paths' padded copies are, so an
            // infinite weight gives NaN alike and the paths agree bit for bit.
            const __m256 zero = _mm256_setzero_ps();
            for (int q = 0; q < Q; q++)
                acc[q] = _mm256_fmadd_ps(w2, zero, _mm256_fmadd_ps(w1, zero, _mm256_fmadd_ps(w0, zero, acc[q])));
            continue;
        }
        const float *row = plane + ih * g->width;
#pragma clang loop unroll(full)
        for (int q = 0; q < Q; q++) {
            // One column on from the vector's first (column −1 under a left pad, never loaded).
            const float *on_one = row + 2 * start[q] - g->pad_left + 1;
            const __m256 next = _mm256_loadu_ps(on_one), on_nine = _mm256_loadu_ps(on_one + 8);
            const __m256 first = LEFT_PAD && q == 0 ? _mm256_blend_ps(_mm256_permutevar8x32_ps(next, _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6)),
                                                                      _mm256_setzero_ps(), 1)
                                                    : _mm256_loadu_ps(on_one - 1);
            const __m256 second = _mm256_loadu_ps(on_one + 7);
            acc[q] = _mm256_fmadd_ps(w0, _mm256_shuffle_ps(first, second, 0x88), acc[q]);
            acc[q] = _mm256_fmadd_ps(w1, _mm256_shuffle_ps(first, second, 0xDD), acc[q]);
            acc[q] = _mm256_fmadd_ps(w2, _mm256_shuffle_ps(next, on_nine, 0xDD), acc[q]);
        }
    }
    const __m256 low = _mm256_set1_ps(lo), high = _mm256_set1_ps(hi);
    for (int q = 0; q < Q; q++) {
        const __m256 v = _mm256_min_ps(high, _mm256_max_ps(low, acc[q]));  // max then min pass NaN
        _mm256_storeu_ps(out_row + start[q], _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), 0xD8)));
    }
}

/// strided_vectors with Q picked at run time: 3 or 4, as rows of 56+ outputs (7+ vectors) split.
AVX2 INLINE void strided_group(int64_t q, const int LEFT_PAD, const swk_conv_geometry *g, const float *plane,
                               const float *w, float bias, float lo, float hi, int64_t oh, int64_t x0, float *out_row) {
    if (q == 3) strided_vectors(3, LEFT_PAD, g, plane, w, bias, lo, hi, oh, x0, out_row);
    else strided_vectors(4, LEFT_PAD, g, plane, w, bias, lo, hi, oh, x0, out_row);
}

/// One plane by strided_vectors: each row's vectors in groups of up to 4, as even as they go (a
/// row of 9 takes 3 + 3 + 3, never 4 + 4 + 1, whose lone vector's one sum waits on its own
/// multiply-adds). Before each output row, the input rows the row two on reads first are
/// prefetched: without it a 224×224 plane ran 1.27–1.30× the lanes path's time, with it
/// 0.83–0.90 (scratch harness, medians of 31, three rounds).
AVX2 static void strided_plane(const swk_conv_geometry *g, const float *plane, const float *w, float bias, float lo,
                               float hi, float *y) {
    const int64_t vectors = (g->out_w + 7) / 8, groups = (vectors + 3) / 4;
    for (int64_t oh = 0; oh < g->out_h; oh++) {
        // Output row oh+1 reads rows up to `ahead` − 1; row oh+2 reads stride_h more.
        const int64_t ahead = (oh + 1) * g->stride_h - g->pad_top + (int64_t)(g->kernel_h - 1) * g->dilation_h + 1;
        for (int64_t r = ahead > 0 ? ahead : 0; r < ahead + g->stride_h && r < g->height; r++)
            for (int64_t col = 0; col < g->width; col += 16) _mm_prefetch((const char *)(plane + r * g->width + col), _MM_HINT_T0);
        float *out_row = y + oh * g->out_w;
        int64_t x0 = 0;
        for (int64_t k = 0; k < groups; k++) {
            const int64_t q = vectors / groups + (k < vectors % groups);
            if (k == 0 && g->pad_left) strided_group(q, 1, g, plane, w, bias, lo, hi, oh, x0, out_row);
            else strided_group(q, 0, g, plane, w, bias, lo, hi, oh, x0, out_row);
            x0 += 8 * q;
        }
    }
}

/// swk_depthwise_conv by strided rows (needs no scratch).
AVX2 static void strided_range(const swk_conv_geometry *g, int64_t channels, int64_t p_begin, int64_t p_end, const float *x,
                               const float *w, const float *bias, float lo, float hi, float *scratch, float *y) {
    (void)scratch;
    const int64_t plane = g->height * g->width, out_plane = g->out_h * g->out_w, taps = (int64_t)g->kernel_h * 3;
    for (int64_t p = p_begin; p < p_end; p++) {
        const int64_t c = p % channels;
        strided_plane(g, x + p * plane, w + c * taps, bias ? bias[c] : 0, lo, hi, y + p * out_plane);
    }
}

/// swk_depthwise_conv over each channel's stride phases, one channel at a time.
static void phases_range(const swk_conv_geometry *g, int64_t channels, int64_t p_begin, int64_t p_end, const float *x,
                         const float *w, const float *bias, float lo, float hi, float *scratch, float *y) {
    const conv_layout l = conv_layout_of(g, STEP);
    const int64_t taps = (int64_t)g->kernel_h * g->kernel_w;
    const int64_t phase_count = (int64_t)g->stride_h * g->stride_w;
    int64_t *offsets = (int64_t *)scratch;
    float *phases = scratch + offset_floats(g), *out = phases + phase_count * l.plane + conv_slack_floats(&l);
    memset(phases + phase_count * l.plane, 0, (size_t)conv_slack_floats(&l) * sizeof(float));
    conv_tap_offsets(g, &l, offsets);
    const int avx2 = swk_has_avx2();
    for (int64_t p = p_begin; p < p_end; p++) {
        const int64_t c = p % channels;
        conv_split_phases(g, &l, x + p * g->height * g->width, phases);
        const float b = bias ? bias[c] : 0;
        if (avx2) accumulate_avx2(phases, offsets, w + c * taps, taps, b, lo, hi, l.run, out);
        else accumulate_portable(phases, offsets, w + c * taps, taps, b, lo, hi, l.run, out);
        conv_copy_out(g, &l, out, y + p * g->out_h * g->out_w);
    }
}

int depthwise_rows_take(const swk_conv_geometry *g) {
    return swk_has_avx2() && takes_row_runs(g) && !takes_strided_rows(g) && use_lanes(g);
}

int64_t depthwise_rows_lanes_floats(const swk_conv_geometry *g) {
    return conv_padded_rows(g) * conv_padded_columns(g) * LANES;
}

int64_t depthwise_rows_scratch_floats(const swk_conv_geometry *g) {
    return ((int64_t)g->kernel_h * g->kernel_w + 1) * LANES;
}

void depthwise_rows(const swk_conv_geometry *g, const float *lanes, int64_t first_channel, const float *w, const float *bias,
                    float lo, float hi, float *scratch, float *y) {
    float *weights = scratch, *lane_bias = scratch + (int64_t)g->kernel_h * g->kernel_w * LANES;
    lane_weights(g, LANES, first_channel, first_channel + LANES, w, bias, weights, lane_bias);
    row_runs_avx2(g, lanes, conv_padded_columns(g), weights, lane_bias, lo, hi, LANES, y);
}

void swk_depthwise_conv(const swk_conv_geometry *g, int64_t channels, int64_t p_begin, int64_t p_end, const float *x,
                        const float *w, const float *bias, float lo, float hi, float *scratch, float *y) {
    if (swk_has_avx2() && takes_strided_rows(g)) strided_range(g, channels, p_begin, p_end, x, w, bias, lo, hi, scratch, y);
    else (use_lanes(g) ? lanes_range : phases_range)(g, channels, p_begin, p_end, x, w, bias, lo, hi, scratch, y);
}
