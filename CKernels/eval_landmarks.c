/* Landmark evaluation: per-sample NME, AUC / failure rate, the CED curve. */
#include "internal.h"

#define LK_CHECK(cond, pos) do { if (!(cond)) return -(pos); } while (0)

/* The normalizer of one sample from its target landmarks t [k, 2]. */
static double landmark_normalizer(const float *t, size_t k, losskit_landmark_norm norm, size_t left, size_t right,
                                  size_t eye_points) {
    switch (norm) {
    case LOSSKIT_NORM_INTER_OCULAR:
        return hypot((double)t[2 * left] - t[2 * right], (double)t[2 * left + 1] - t[2 * right + 1]);
    case LOSSKIT_NORM_INTER_PUPIL: {
        double lx = 0, ly = 0, rx = 0, ry = 0;
        for (size_t e = 0; e < eye_points; e++) {
            lx += t[2 * (left + e)];
            ly += t[2 * (left + e) + 1];
            rx += t[2 * (right + e)];
            ry += t[2 * (right + e) + 1];
        }
        return hypot((lx - rx) / (double)eye_points, (ly - ry) / (double)eye_points);
    }
    case LOSSKIT_NORM_BBOX_DIAGONAL:
    case LOSSKIT_NORM_BBOX_AREA: {
        double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
        bool nan = false;
        for (size_t p = 0; p < k; p++) {
            double x = t[2 * p], y = t[2 * p + 1];
            nan |= isnan(x) || isnan(y);
            x0 = x < x0 ? x : x0;
            x1 = x > x1 ? x : x1;
            y0 = y < y0 ? y : y0;
            y1 = y > y1 ? y : y1;
        }
        if (nan) return NAN;
        double w = x1 - x0, h = y1 - y0;
        return norm == LOSSKIT_NORM_BBOX_DIAGONAL ? hypot(w, h) : sqrt(w * h);
    }
    }
    return NAN;
}

int losskit_landmark_nme(const float *pred, const float *target, size_t n, size_t k, losskit_landmark_norm norm,
                         size_t left, size_t right, size_t eye_points, double *nme) {
    size_t nk, nk2;
    LK_CHECK(lk_mul_ok(n, k, &nk) && lk_mul_ok(nk, 2, &nk2) && nk2 <= LK_MAX_FLOATS, 4);
    LK_CHECK(k >= 1, 4);
    LK_CHECK(pred != NULL || nk2 == 0, 1);
    LK_CHECK(target != NULL || nk2 == 0, 2);
    LK_CHECK(norm >= LOSSKIT_NORM_INTER_OCULAR && norm <= LOSSKIT_NORM_BBOX_AREA, 5);
    bool eyes = norm == LOSSKIT_NORM_INTER_OCULAR || norm == LOSSKIT_NORM_INTER_PUPIL;
    size_t span = norm == LOSSKIT_NORM_INTER_PUPIL ? eye_points : 1;
    LK_CHECK(!eyes || (left < k && span <= k - left), 6);
    LK_CHECK(!eyes || (right < k && span <= k - right), 7);
    LK_CHECK(norm != LOSSKIT_NORM_INTER_PUPIL || eye_points >= 1, 8);
    LK_CHECK(nme != NULL || n == 0, 9);
    for (size_t s = 0; s < n; s++) {
        const float *p = pred + s * k * 2, *t = target + s * k * 2;
        double sum = 0.0;
        for (size_t l = 0; l < k; l++) sum += hypot((double)p[2 * l] - t[2 * l], (double)p[2 * l + 1] - t[2 * l + 1]);
        nme[s] = sum / (double)k / landmark_normalizer(t, k, norm, left, right, eye_points);
    }
    return LOSSKIT_OK;
}

int losskit_landmark_summary(const double *nme, size_t n, double threshold, double *mean, double *auc,
                             double *failure) {
    LK_CHECK(nme != NULL || n == 0, 1);
    LK_CHECK(threshold > 0.0 && isfinite(threshold), 3);
    double sum = 0.0, area = 0.0;
    size_t failed = 0;
    for (size_t s = 0; s < n; s++) {
        double v = nme[s];
        sum += v;
        if (!(v <= threshold)) failed++;
        else area += threshold - v;
    }
    if (mean) *mean = n ? sum / (double)n : NAN;
    if (auc) *auc = n ? area / (double)n / threshold : NAN;
    if (failure) *failure = n ? (double)failed / (double)n : NAN;
    return LOSSKIT_OK;
}

int losskit_landmark_ced(const double *nme, size_t n, double threshold, size_t points, double *ced) {
    LK_CHECK(nme != NULL || n == 0, 1);
    LK_CHECK(threshold > 0.0 && isfinite(threshold), 3);
    LK_CHECK(points >= 2, 4);
    LK_CHECK(ced != NULL, 5);
    for (size_t i = 0; i < points; i++) {
        double t = threshold * (double)i / (double)(points - 1);
        size_t below = 0;
        for (size_t s = 0; s < n; s++) below += nme[s] <= t;
        ced[i] = n ? (double)below / (double)n : NAN;
    }
    return LOSSKIT_OK;
}
