/* Shared helpers for the Criterion test binaries. */
#ifndef ENTK_TESTUTIL_H
#define ENTK_TESTUTIL_H
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "entk.h"

/* splitmix64: deterministic, seedable */
typedef struct { uint64_t s; } tu_rng;
static inline uint64_t tu_next(tu_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline double tu_unif(tu_rng *r) { return (double)(tu_next(r) >> 11) * 0x1.0p-53; }
static inline double tu_normal(tu_rng *r) {
    double u = tu_unif(r), v = tu_unif(r);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}
static inline void tu_fill_normal(tu_rng *r, double *x, size_t n) {
    size_t i;
    for (i = 0; i < n; ++i) x[i] = tu_normal(r);
}

/* ||a - b||_F / ||b||_F */
static inline double tu_rel_frob(const double *a, const double *b, size_t n) {
    double num = 0, den = 0;
    size_t i;
    for (i = 0; i < n; ++i) { num += (a[i] - b[i]) * (a[i] - b[i]); den += b[i] * b[i]; }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}
static inline double tu_max_abs_diff(const double *a, const double *b, size_t n) {
    double m = 0;
    size_t i;
    for (i = 0; i < n; ++i) { double d = fabs(a[i] - b[i]); if (d > m || d != d) m = d != d ? INFINITY : d; }
    return m;
}

/* distance in units in the last place between two finite doubles (same sign handling via ordering) */
static inline double tu_ulps(double a, double b) {
    int64_t ia, ib;
    if (a == b) return 0;
    if (a != a || b != b) return INFINITY;
    memcpy(&ia, &a, 8); memcpy(&ib, &b, 8);
    if (ia < 0) ia = INT64_MIN - ia;
    if (ib < 0) ib = INT64_MIN - ib;
    return fabs((double)ia - (double)ib);
}
#endif
