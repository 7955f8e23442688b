// The depthwise lanes path's row runs (depthwise_conv.c) for a caller that lays 8 channels'
// padded input in vector lanes itself, [padded row][padded column][8] with zeros in the padding:
// expand_depthwise.c, whose expansion writes its sums there instead of into planes the path would
// interleave. Internal to CKernels.
#ifndef SWIFTLET_DEPTHWISE_ROWS_H
#define SWIFTLET_DEPTHWISE_ROWS_H
#include "ckernels.h"

/// Whether the row runs take a geometry as swk_depthwise_conv would run it on lanes (with AVX2;
/// kernels 3 columns wide, undilated across, at column stride 1 or 2, not taken by the strided
/// rows, and the lanes' scratch in bounds).
int depthwise_rows_take(const swk_conv_geometry *g);

/// Floats of one group's lanes: conv_padded_rows · conv_padded_columns · 8.
int64_t depthwise_rows_lanes_floats(const swk_conv_geometry *g);

/// Floats of scratch depthwise_rows takes besides the lanes (the taps and bias in lanes).
int64_t depthwise_rows_scratch_floats(const swk_conv_geometry *g);

/// Channels first_channel … first_channel + 7 of swk_depthwise_conv (w [C, kH, kW], bias NULL or
/// [C], clamp as there) from their lanes into y, the plane of channel first_channel; bit for bit
/// what swk_depthwise_conv's lanes path writes.
void depthwise_rows(const swk_conv_geometry *g, const float *lanes, int64_t first_channel, const float *w, const float *bias,
                    float lo, float hi, float *scratch, float *y);

#endif
