// Stride phases of a padded input plane, shared by the convolutions that multiply shifted copies
// of it (depthwise_conv.c, pattern_conv.c, conv_shallow.c), and W's blocks of output channels
// (conv_direct.c, conv_shallow.c). Phase (rv, rh) holds padded rows rv, rv+sh, … and columns rh,
// rh+sw, …; kernel tap (i, j) then reads phase ((i·dh) mod sh, (j·dw) mod sw) at a
// fixed offset from the output position, for every stride and dilation. Taking the output plane
// as one flat run of out_h × phase_width positions (the columns past out_w are computed and
// dropped), every tap is a contiguous multiply-add over the whole plane: no bounds test, no
// gather, and small planes (7×7, 14×14) still give the vector loop long runs (pattern_conv.c sums
// many input channels into each run; depthwise_conv.c, with one channel per run, puts small planes
// in vector lanes instead). Internal to CKernels.
#ifndef SWIFTLET_CONV_PHASES_H
#define SWIFTLET_CONV_PHASES_H
#include "ckernels.h"

typedef struct {
    int64_t phase_h, phase_w;  // rows and columns of one phase plane
    int64_t plane;             // floats per phase plane
    int64_t step;              // positions one step of the caller's vector loop computes
    int64_t run;               // flat output positions computed: out_h · phase_w, rounded up to `step`
} conv_layout;

/// The fused clamp of the plane-wise convolutions: NaN passes through, as FusedClamp does
/// (comparisons with NaN are false).
static inline float conv_clamp(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

/// The padded rows and columns some output reads (up to the last tap of the last output).
static inline int64_t conv_padded_rows(const swk_conv_geometry *g) {
    return (g->out_h - 1) * g->stride_h + (int64_t)(g->kernel_h - 1) * g->dilation_h + 1;
}
static inline int64_t conv_padded_columns(const swk_conv_geometry *g) {
    return (g->out_w - 1) * g->stride_w + (int64_t)(g->kernel_w - 1) * g->dilation_w + 1;
}

/// The layout for a vector loop computing `step` positions at a time (32 for depthwise, 64 for
/// pattern-sparse: a larger step would pad a small plane's run with more dropped positions).
conv_layout conv_layout_of(const swk_conv_geometry *g, int64_t step);

/// Slack the padded run reads past the last phase plane (a tap's column offset is < phase_w):
/// keep it zero, so no NaN or subnormal in a dropped column can slow the arithmetic.
static inline int64_t conv_slack_floats(const conv_layout *l) { return l->phase_w + l->step; }

/// offsets[i·kernel_w + j]: where tap (i, j) reads, relative to the output position, in the
/// phases of one channel (stride_h · stride_w planes of l->plane floats, laid end to end).
void conv_tap_offsets(const swk_conv_geometry *g, const conv_layout *l, int64_t *offsets);

/// Writes every phase of one padded channel plane x (zeros where the padding is).
void conv_split_phases(const swk_conv_geometry *g, const conv_layout *l, const float *x, float *phases);

/// y[oh·out_w + ow] = out[oh·phase_w + ow]: the run's computed positions that are outputs.
void conv_copy_out(const swk_conv_geometry *g, const conv_layout *l, const float *out, float *y);

/// W [out_channels, depth] in blocks of `block_channels` output channels, [blocks][depth][block_channels]
/// (channels past out_channels zero): the layout of the kernels that broadcast or load one tap's
/// weights for a block of channels at a time (conv_direct.c's 16, conv_shallow.c's 4).
void conv_pack_channel_blocks(const float *w, int64_t out_channels, int64_t depth, int block_channels, float *packed);

#endif
