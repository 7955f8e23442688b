// LayerNormalization rows, optionally after a residual add (SkipLayerNormalization), compiled for
// AVX2 + FMA and for the baseline. The reference kernel (Swift, which compiles for baseline
// x86-64) summed each row in one Double chain: MiniLM-L6's 13 SkipLayerNormalizations took
// 2.6–3.0 ms of a 46–48 ms run at b1 s128 (`swiftlet bench --profile`), ~10 cycles per element.
// Statistics stay in double, as the reference's, in eight running sums (one chain per lane).
#include "ckernels.h"
#include <math.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/// Σ (x − center), or Σ (x − center)² when `squared`, in double: eight running sums (one chain
/// per lane, so the loop vectorizes), then the tail. Inlined with constant `squared`.
INLINE double sum_of(const float *x, int64_t length, double center, int squared) {
    double partial[8] = {0}, sum = 0;
    int64_t i = 0;
    for (; i + 8 <= length; i += 8) {
        for (int lane = 0; lane < 8; lane++) {
            const double d = x[i + lane] - center;
            partial[lane] += squared ? d * d : d;
        }
    }
    for (; i < length; i++) {
        const double d = x[i] - center;
        sum += squared ? d * d : d;
    }
    for (int lane = 0; lane < 8; lane++) sum += partial[lane];
    return sum;
}

INLINE void layer_norm_rows(const float *x, const float *skip, int64_t row_begin, int64_t row_end, int64_t length,
                            float epsilon, const float *scale, const float *bias, float *y) {
    for (int64_t row = row_begin; row < row_end; row++) {
        const float *in = x + row * length;
        float *out = y + row * length;
        if (skip) {  // the sum goes into y and is normalized there (y may be x or skip)
            const float *residual = skip + row * length;
            for (int64_t i = 0; i < length; i++) out[i] = in[i] + residual[i];
            in = out;
        }
        const double mean = sum_of(in, length, 0, 0) / (double)length;
        const double squares = sum_of(in, length, mean, 1);
        const double inverse = 1 / sqrt(squares / (double)length + (double)epsilon);
        if (bias) {
            for (int64_t i = 0; i < length; i++) out[i] = (float)((in[i] - mean) * inverse) * scale[i] + bias[i];
        } else {
            for (int64_t i = 0; i < length; i++) out[i] = (float)((in[i] - mean) * inverse) * scale[i];
        }
    }
}

AVX2 static void layer_norm_avx2(const float *x, const float *skip, int64_t row_begin, int64_t row_end, int64_t length,
                                 float epsilon, const float *scale, const float *bias, float *y) {
    layer_norm_rows(x, skip, row_begin, row_end, length, epsilon, scale, bias, y);
}

void swk_layer_norm(const float *x, const float *skip, int64_t row_begin, int64_t row_end, int64_t length, float epsilon,
                    const float *scale, const float *bias, float *y) {
    if (swk_has_avx2()) {
        layer_norm_avx2(x, skip, row_begin, row_end, length, epsilon, scale, bias, y);
    } else {
        layer_norm_rows(x, skip, row_begin, row_end, length, epsilon, scale, bias, y);
    }
}
