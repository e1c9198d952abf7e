/* Row L2 normalization for the losses' `normalize` option, and its backward
 * (torch.nn.functional.normalize(x, dim=1), eps 1e-12). */
#include "internal.h"

#include <math.h>

/* out_i = x_i / max(|x_i|, 1e-12); norm[i] = that denominator, in double. */
void lk_normalize_rows(const float *x, size_t n, size_t d, float *out, double *norm) {
    for (size_t i = 0; i < n; i++) {
        const double s = sqrt(lk_squared_norm(x + i * d, d));
        const double denom = isnan(s) ? s : fmax(s, LK_NORMALIZE_EPS);
        norm[i] = denom;
        for (size_t k = 0; k < d; k++) out[i * d + k] = (float)(x[i * d + k] / denom);
    }
}

/* grad holds d/d x_hat on entry, d/d x on return (x the rows passed in,
 * norm from lk_normalize_rows). Where |x| > eps the Jacobian is
 * (I - x_hat x_hat^T) / |x|; at or under the clamp the denominator is a
 * constant, so the gradient is g / eps (as autograd through clamp_min).
 * In double, x_hat from x itself (not its float rounding). */
void lk_normalize_backward(const float *x, const double *norm, size_t n, size_t d, float *grad) {
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        float *g = grad + i * d;
        const double denom = norm[i];
        double dot = 0.0; /* x_hat . g */
        if (denom > LK_NORMALIZE_EPS)
            for (size_t k = 0; k < d; k++) dot += (double)xi[k] / denom * g[k];
        for (size_t k = 0; k < d; k++) g[k] = (float)(((double)g[k] - dot * ((double)xi[k] / denom)) / denom);
    }
}
