// The layout changes around the sparse product: the sparse loop runs along M (rows of X), so it
// wants X and Y transposed; these copies are O(M·K) and O(M·N) against its O(M·nnz).
#include "ckernels.h"
#include <string.h>

void swk_transpose_pad(const float *x, int64_t rows, int64_t k_total, int64_t k_padded, int64_t mp, float *xt) {
    // Tiles of 8×8 keep both the reads and the writes within a few cache lines.
    memset(xt + k_total * mp, 0, (size_t)((k_padded - k_total) * mp) * sizeof(float));
    for (int64_t k0 = 0; k0 < k_total; k0 += 8) {
        int64_t k1 = k0 + 8 < k_total ? k0 + 8 : k_total;
        for (int64_t m0 = 0; m0 < mp; m0 += 8) {
            for (int64_t k = k0; k < k1; k++) {
                float *out = xt + k * mp;
                for (int64_t m = m0; m < m0 + 8; m++) out[m] = m < rows ? x[m * k_total + k] : 0.0f;
            }
        }
    }
}

void swk_transpose_bias(const float *yt, int64_t mp, int64_t rows, int64_t n, const float *bias, float *y) {
    for (int64_t m0 = 0; m0 < rows; m0 += 8) {
        int64_t m1 = m0 + 8 < rows ? m0 + 8 : rows;
        for (int64_t j0 = 0; j0 < n; j0 += 8) {
            int64_t j1 = j0 + 8 < n ? j0 + 8 : n;
            for (int64_t m = m0; m < m1; m++) {
                for (int64_t j = j0; j < j1; j++) y[m * n + j] = yt[j * mp + m] + (bias ? bias[j] : 0.0f);
            }
        }
    }
}
