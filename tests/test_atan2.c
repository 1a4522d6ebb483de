/* entk's own atan2 (entk__atan2_scalar / _avx2 / _neon in entk.h) against long-double atan2l: random
 * ratios over the whole circle, every exponent range, and the special values. The private kernels are
 * reached through a static copy of the implementation (ENTK_STATIC). */
/* the static copy leaves most of the library unused in this file */
#pragma GCC diagnostic ignored "-Wunused-function"
#define ENTK_STATIC
#define ENTK_IMPLEMENTATION
#include <criterion/criterion.h>
#include <float.h>
#include <stdio.h>
#include "testutil.h"

/* |v - ref| in ULPs of the double nearest ref (ref the long-double oracle; x86 long double has 11 more
 * bits than double, so the oracle's own error is ~2^-11 ULP). */
static double ulp_err(double v, long double ref) {
    double rd = (double)ref;
    int e;
    if (v == rd) return 0.0;
    if (v != v || rd != rd) return INFINITY;
    frexp(rd, &e);
    return (double)(fabsl((long double)v - ref) / ldexpl(1.0L, e - 53 < -1074 ? -1074 : e - 53));
}

enum { NR = 1 << 20 };
static double ys[NR], xs[NR], out[NR];

/* inputs: mode 0 uniform in the square, 1 magnitudes 2^[-100, 100), 2 2^[-1000, 1000) (the wide path beyond 2^+-960), 3 near the piece
 * boundaries and |y| ~ |x| (reflections) */
static void fill(tu_rng *r, size_t n) {
    size_t i;
    for (i = 0; i < n; ++i) {
        unsigned m = (unsigned)(tu_next(r) % 4);
        double u = tu_unif(r), v = tu_unif(r);
        if (m == 0) { ys[i] = 2 * u - 1; xs[i] = 2 * v - 1; }
        else if (m == 1) { ys[i] = ldexp(2 * u - 1, (int)(tu_next(r) % 200) - 100); xs[i] = ldexp(2 * v - 1, (int)(tu_next(r) % 200) - 100); }
        else if (m == 2) { ys[i] = ldexp(2 * u - 1, (int)(tu_next(r) % 2000) - 1000); xs[i] = ldexp(2 * v - 1, (int)(tu_next(r) % 2000) - 1000); }
        else {
            static const double b[] = {0.1, 0x1.36a08355c63dcp-2, 0x1.11ab7190834ecp-1, 0x1.a43002ae42850p-1, 1.0};
            double x = 2 * v - 1;
            ys[i] = x * b[tu_next(r) % 5] * (1 + (u - 0.5) * 1e-6);
            xs[i] = x;
            if (tu_next(r) & 1) { double t = ys[i]; ys[i] = xs[i]; xs[i] = t; }
        }
    }
}

typedef void (*at_fn)(size_t n, const double *y, const double *x, double *o);
static void run_scalar(size_t n, const double *y, const double *x, double *o) {
    size_t i;
    for (i = 0; i < n; ++i) o[i] = entk__atan2_scalar(y[i], x[i]);
}

/* max ULP error over NR random inputs (results >= 2^-1000: below that the last bits of the reduction
 * fall into subnormals, see the bound checked separately) */
static double worst_random(at_fn f, double *worst_y, double *worst_x) {
    tu_rng r = {99};
    size_t i;
    double w = 0;
    fill(&r, NR);
    f(NR, ys, xs, out);
    for (i = 0; i < NR; ++i) {
        long double ref = atan2l(ys[i], xs[i]);
        double e = ulp_err(out[i], ref);
        if (fabsl(ref) < 0x1p-1000L) continue;
        if (e > w) { w = e; *worst_y = ys[i]; *worst_x = xs[i]; }
    }
    return w;
}

/* the special values, and scale invariance at the ends of the range */
static int specials(at_fn f) {
    static const double v[][2] = {
        {0, 0}, {0, -0.0}, {-0.0, 0}, {-0.0, -0.0}, {1, 0}, {-1, 0}, {1, -0.0}, {0, 1}, {0, -1}, {-0.0, -1},
        {1, 1}, {-1, -1}, {1, -1}, {1e-300, 1e-300}, {1e300, -1e300}, {1e-310, 3e-320}, {1e308, 1e-308},
        {1.7e308, 1.7e308}, {4.9e-324, 4.9e-324}, {4.9e-324, -1.0}, {3, 1e-320}, {INFINITY, INFINITY},
        {INFINITY, 1}, {1, INFINITY}, {-1, -INFINITY}, {-INFINITY, 2}, {NAN, 1}, {1, NAN}};
    enum { NV = sizeof v / sizeof v[0] };
    double y[NV], x[NV], o[NV];
    int i, fails = 0;
    for (i = 0; i < NV; ++i) { y[i] = v[i][0]; x[i] = v[i][1]; }
    f(NV, y, x, o);
    for (i = 0; i < NV; ++i) {
        double ref = atan2(y[i], x[i]);
        int ok = (ref != ref) ? (o[i] != o[i]) : (ulp_err(o[i], atan2l(y[i], x[i])) <= 0.5001 &&
                                                  signbit(o[i]) == signbit(ref));
        if (!ok) { ++fails; fprintf(stderr, "atan2(%a, %a) = %a, libm %a\n", y[i], x[i], o[i], ref); }
    }
    /* atan2(l y, l x) = atan2(y, x) for powers of two l across the exponent range */
    for (i = 0; i < 200; ++i) {
        double yy[2] = {0.3 + 0.001 * i, -0.7}, xx[2] = {-0.45, 0.2 + 0.003 * i}, a0[2], a1[2], sy[2], sx[2];
        int e = -1000 + 10 * i, k;
        f(2, yy, xx, a0);
        for (k = 0; k < 2; ++k) { sy[k] = ldexp(yy[k], e); sx[k] = ldexp(xx[k], e); }
        f(2, sy, sx, a1);
        if (a0[0] != a1[0] || a0[1] != a1[1]) ++fails;
    }
    return fails;
}

Test(atan2, scalar_twin_within_half_ulp_of_atan2l) {
    double wy = 0, wx = 0, w = worst_random(run_scalar, &wy, &wx);
    fprintf(stderr, "scalar twin: max %.4f ULP at atan2(%a, %a)\n", w, wy, wx);
    /* measured 0.5215: the final rounding (0.5) plus the ~2^-60 left by the double-double reduction */
    cr_expect(w <= 0.53, "scalar twin %.4f ULP at atan2(%a, %a)", w, wy, wx);
    cr_expect_eq(specials(run_scalar), 0);
}

#if ENTK__HAVE_AVX2
/* The maps' atan2 (entk__fatan2_avx2: two pieces, no wide path) on its domain, max(|y|, |x|) in
 * [2^-501, 2^502] or both zero: within 0.59 ULP of atan2l, atan2(+-0, +-0) = +-pi/2 (the maps'
 * angle where s = k12 = 0), signed zeros as libm elsewhere, and the staged form (front of 8 vectors, then their backs) gives the
 * composed function's bits. */
static ENTK__AVX2 size_t staged_diff(size_t n, const double *y, const double *x, const double *ref) {
    __m256d wv[8][5];
    size_t i, diff = 0;
    int v, k;
    for (i = 0; i + 32 <= n; i += 32) { /* 8 fronts, then 8 backs */
        for (v = 0; v < 8; ++v)
            entk__fatan2_front_avx2(_mm256_loadu_pd(y + i + 4 * v), _mm256_loadu_pd(x + i + 4 * v), wv[v]);
        for (v = 0; v < 8; ++v) {
            double t4[4];
            _mm256_storeu_pd(t4, entk__fatan2_back_avx2(wv[v]));
            for (k = 0; k < 4; ++k) diff += t4[k] != ref[i + 4 * (size_t)v + (size_t)k];
        }
    }
    return diff;
}
Test(atan2, maps_atan2_avx2_accurate_on_its_domain) {
    static const double sv[][3] = { /* y, x, expected */
        {0, 0, 0x1.921fb54442d18p+0}, {0, -0.0, 0x1.921fb54442d18p+0}, {-0.0, 0, -0x1.921fb54442d18p+0},
        {1, 1, 0x1.921fb54442d18p-1}, {1, -1, 0x1.2d97c7f3321d2p+1}, {-1, -1, -0x1.2d97c7f3321d2p+1},
        {0, 1, 0}, {0, -1, 0x1.921fb54442d18p+1}, {1, 0, 0x1.921fb54442d18p+0}, {-0.0, 1, -0.0}};
    enum { NS = sizeof sv / sizeof sv[0] };
    tu_rng r = {11};
    double y[NS], x[NS], o[NS], w = 0, wy = 0, wx = 0;
    size_t i, diff = 0;
    if (!entk__cpu_has_avx2()) { cr_skip_test("no AVX2+FMA"); }
    for (i = 0; i < NR; ++i) { /* random directions, each scale in range, |y| ~ |x| and the piece boundary */
        unsigned m = (unsigned)(tu_next(&r) % 4);
        double u = 2 * tu_unif(&r) - 1, v = 2 * tu_unif(&r) - 1;
        int e = (int)(tu_next(&r) % 1000) - 500;
        if (m == 1) u = v * (1 + (tu_unif(&r) - 0.5) * 1e-9);
        if (m == 2) u = 0.5 * v * (1 + (tu_unif(&r) - 0.5) * 1e-9);
        if (m == 3) e = (int)(tu_next(&r) % 8) - 4;
        if (tu_next(&r) & 1) { double tt = u; u = v; v = tt; }
        ys[i] = ldexp(u, e);
        xs[i] = ldexp(v, e);
    }
    entk__fatan2_array_avx2(NR, ys, xs, out);
    for (i = 0; i < NR; ++i) {
        double e = ulp_err(out[i], atan2l(ys[i], xs[i]));
        if (e > w) { w = e; wy = ys[i]; wx = xs[i]; }
    }
    fprintf(stderr, "maps' atan2 avx2: max %.4f ULP at atan2(%a, %a)\n", w, wy, wx);
    /* measured 0.5806: the final rounding plus the polynomial tail's own rounding near |t| = 1/4 */
    cr_expect(w <= 0.59, "maps' atan2 %.4f ULP at atan2(%a, %a)", w, wy, wx);
    for (i = 0; i < NS; ++i) { y[i] = sv[i][0]; x[i] = sv[i][1]; }
    entk__fatan2_array_avx2(NS, y, x, o);
    for (i = 0; i < NS; ++i)
        cr_expect(o[i] == sv[i][2] && signbit(o[i]) == signbit(sv[i][2]), "atan2(%a, %a) = %a, want %a", y[i], x[i],
                  o[i], sv[i][2]);
    diff = staged_diff(4096, ys, xs, out);
    cr_expect_eq(diff, 0, "%zu staged results differ", diff);
}
#endif
