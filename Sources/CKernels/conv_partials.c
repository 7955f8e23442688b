// The last step of a convolution whose reduction the threads split by input channels
// (DirectConvChannelSplit.swift, PointwiseConvKernel.swift): each thread summed its channels over
// every output, the first into y and the others into partial outputs; this adds them up and
// applies what the kernels' epilogues would have (see ckernels.h).
#include "ckernels.h"
#include "conv_phases.h"  // conv_clamp
#include <stddef.h>

void swk_conv_add_partials(int64_t plane, int64_t out_channels, int64_t c_begin, int64_t c_end, const float *partials,
                           int64_t count, const float *bias, const float *residual, float lo, float hi, float *y) {
    for (int64_t c = c_begin; c < c_end; c++) {
        float *out = y + c * plane;
        for (int64_t i = 0; i < count; i++) {
            const float *partial = partials + (i * out_channels + c) * plane;
            for (int64_t p = 0; p < plane; p++) out[p] += partial[p];
        }
        const float b = bias ? bias[c] : 0.0f;
        const float *z = residual ? residual + c * plane : NULL;
        for (int64_t p = 0; p < plane; p++) {
            float v = bias ? out[p] + b : out[p];  // no bias: no +0 to turn a −0 sum into +0
            if (z) v += z[p];
            out[p] = conv_clamp(v, lo, hi);
        }
    }
}
