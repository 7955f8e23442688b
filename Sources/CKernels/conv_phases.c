// Stride phases of a padded input plane (see conv_phases.h).
#include "conv_phases.h"

conv_layout conv_layout_of(const swk_conv_geometry *g, int64_t step) {
    const int64_t rows = conv_padded_rows(g), columns = conv_padded_columns(g);
    conv_layout l;
    l.phase_h = (rows + g->stride_h - 1) / g->stride_h;
    l.phase_w = (columns + g->stride_w - 1) / g->stride_w;
    l.plane = l.phase_h * l.phase_w;
    l.step = step;
    l.run = (g->out_h * l.phase_w + step - 1) / step * step;
    return l;
}

void conv_tap_offsets(const swk_conv_geometry *g, const conv_layout *l, int64_t *offsets) {
    for (int i = 0; i < g->kernel_h; i++) {
        for (int j = 0; j < g->kernel_w; j++) {
            const int64_t down = (int64_t)i * g->dilation_h, across = (int64_t)j * g->dilation_w;
            const int64_t phase = (down % g->stride_h) * g->stride_w + across % g->stride_w;
            offsets[(int64_t)i * g->kernel_w + j] = phase * l->plane + (down / g->stride_h) * l->phase_w + across / g->stride_w;
        }
    }
}

/// ⌈a / b⌉ for b > 0 and any a.
static int64_t ceil_div(int64_t a, int64_t b) { return a > 0 ? (a + b - 1) / b : -((-a) / b); }

void conv_split_phases(const swk_conv_geometry *g, const conv_layout *l, const float *x, float *phases) {
    const int sh = g->stride_h, sw = g->stride_w;
    for (int rv = 0; rv < sh; rv++) {
        for (int rh = 0; rh < sw; rh++) {
            float *phase = phases + ((int64_t)rv * sw + rh) * l->plane;
            // Phase column b reads image column b·sw + rh − pad_left: inside for first ≤ b < end.
            int64_t first = ceil_div(g->pad_left - rh, sw), end = ceil_div(g->width + g->pad_left - rh, sw);
            first = first < 0 ? 0 : (first > l->phase_w ? l->phase_w : first);
            end = end < first ? first : (end > l->phase_w ? l->phase_w : end);
            for (int64_t a = 0; a < l->phase_h; a++) {
                float *line = phase + a * l->phase_w;
                const int64_t row = a * sh + rv - g->pad_top;
                // Plain loops, not memset/memcpy: lines are often a few floats long (7, 14, 28),
                // where a call costs more than the copy; the loops vectorize.
                if (row < 0 || row >= g->height) {
                    for (int64_t b = 0; b < l->phase_w; b++) line[b] = 0;
                    continue;
                }
                const float *source = x + row * g->width + rh - g->pad_left;
                for (int64_t b = 0; b < first; b++) line[b] = 0;
                // Strides 1 and 2 spelled out so the compiler sees a constant stride.
                if (sw == 1) {
                    for (int64_t b = first; b < end; b++) line[b] = source[b];
                } else if (sw == 2) {
                    for (int64_t b = first; b < end; b++) line[b] = source[2 * b];
                } else {
                    for (int64_t b = first; b < end; b++) line[b] = source[b * sw];
                }
                for (int64_t b = end; b < l->phase_w; b++) line[b] = 0;
            }
        }
    }
}

void conv_copy_out(const swk_conv_geometry *g, const conv_layout *l, const float *out, float *y) {
    for (int64_t oh = 0; oh < g->out_h; oh++) {
        for (int64_t ow = 0; ow < g->out_w; ow++) y[oh * g->out_w + ow] = out[oh * l->phase_w + ow];
    }
}
