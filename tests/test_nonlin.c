/* Nonlinearity maps against independent computations: the quadrature map (ENTK_NL_CUSTOM) against
 * every closed form, the GELU closed form against the quadrature and a 1-D Simpson integral, symmetry,
 * degenerate covariances, argument checks. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <float.h>
#include "testutil.h"

#define SQRT2PI 2.5066282746310002
static double relu(double x, void *u) { (void)u; return x > 0 ? x : 0; }
/* phi'(0) = 1/2 (the symmetric derivative): the closed forms take the limit, which at zero variance
 * is E[phi'(0) phi'(v)] with phi'(0) = 1/2 */
static double drelu(double x, void *u) { (void)u; return x > 0 ? 1 : x < 0 ? 0 : 0.5; }
static double leaky(double x, void *u) { return x >= 0 ? x : *(double *)u * x; }
static double dleaky(double x, void *u) { double a = *(double *)u; return x > 0 ? 1 : x < 0 ? a : 0.5 * (1 + a); }
static double erf_(double x, void *u) { (void)u; return erf(x); }
static double derf(double x, void *u) { (void)u; return 2 / sqrt(M_PI) * exp(-x * x); }
static double Phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static double gelu(double x, void *u) { (void)u; return x * Phi(x); }
static double dgelu(double x, void *u) { (void)u; return Phi(x) + x * exp(-0.5 * x * x) / SQRT2PI; }
static double sin_(double x, void *u) { (void)u; return sin(x); }
static double dsin(double x, void *u) { (void)u; return cos(x); }

typedef struct { entk_nonlin_kind kind; entk_scalar_fn phi, dphi; const char *name; } nl_case;
static double leaky_a = 0.2;
static const nl_case cases[] = {
    {ENTK_NL_RELU, relu, drelu, "relu"},     {ENTK_NL_LEAKY_RELU, leaky, dleaky, "leaky_relu"},
    {ENTK_NL_ERF, erf_, derf, "erf"},        {ENTK_NL_GELU, gelu, dgelu, "gelu"},
    {ENTK_NL_SIN, sin_, dsin, "sin"},
};

/* closed form and quadrature at one point */
static void both(const nl_case *nc, int order, double a, double b, double c, double *t, double *d, double *tq,
                 double *dq) {
    entk_nonlin f;
    double one = 1.0;
    memset(&f, 0, sizeof f);
    f.kind = nc->kind;
    f.a = leaky_a;
    cr_assert_eq(entk_nonlin_map(&f, 1, &a, 0, &b, 0, &c, &one, t, d), ENTK_OK);
    f.kind = ENTK_NL_CUSTOM;
    f.phi = nc->phi;
    f.dphi = nc->dphi;
    f.user = &leaky_a;
    f.order = order;
    cr_assert_eq(entk_nonlin_map(&f, 1, &a, 0, &b, 0, &c, &one, tq, dq), ENTK_OK);
}

/* random covariances with variances in [0, vmax], |rho| <= 0.999 (at rho = +-1 rounding of k12 moves the
 * closed forms' Tdot by ~1e-9, an infinitely ill-conditioned point that the exact boundary points below
 * cover instead), plus exact boundaries, zero and tiny variances */
static double worst_vs_closed(const nl_case *nc, int order, double vmax, int npts) {
    static const double fixed[][3] = {{1, 1, 1},   {4, 1, -2}, {0.25, 4, 1}, {0, 2, 0}, {2, 0, 0},
                                      {0, 0, 0},   {1e-300, 1e-300, 1e-300}, {1e-300, 2, 0}, {1, 1, 0},
                                      {3, 3, -3}, {2, 0.5, 0}};
    tu_rng r = {7};
    double worst = 0;
    int i, nf = (int)(sizeof fixed / sizeof fixed[0]);
    for (i = 0; i < npts + nf; ++i) {
        double a, b, c, t, d, tq, dq, e1, e2;
        if (i < nf) {
            a = fixed[i][0]; b = fixed[i][1]; c = fixed[i][2];
        } else {
            a = vmax * tu_unif(&r); b = vmax * tu_unif(&r);
            c = 0.999 * (2 * tu_unif(&r) - 1) * sqrt(a * b);
        }
        both(nc, order, a, b, c, &t, &d, &tq, &dq);
        cr_assert(isfinite(tq) && isfinite(dq), "%s: non-finite quadrature at (%g, %g, %g)", nc->name, a, b, c);
        e1 = fabs(t - tq) / fmax(1.0, fabs(t));
        e2 = fabs(d - dq) / fmax(1.0, fabs(d));
        if (e1 > worst) worst = e1;
        if (e2 > worst) worst = e2;
    }
    return worst;
}

/* Measured worst (|diff| / max(1, |value|)) over 150 points, variances <= 3, order 64 (default):
 * relu, leaky, gelu, sin <= 1e-13, erf 5e-10. The requirement is 1e-8. */
Test(quadrature, matches_every_closed_form_to_1em8_at_default_order) {
    int k;
    for (k = 0; k < (int)(sizeof cases / sizeof cases[0]); ++k) {
        double w = worst_vs_closed(&cases[k], 0, 3.0, 150);
        fprintf(stderr, "quadrature %-10s default order: worst %.3g\n", cases[k].name, w);
        cr_expect(w <= 1e-8, "%s: quadrature vs closed form %.3g > 1e-8", cases[k].name, w);
    }
}

/* ReLU and leaky ReLU are integrated exactly in the radial variable, so the angular Gauss-Legendre
 * order alone sets the error: measured 2e-8 at order 5, 1e-10 at 6, 4e-13 at 7, 1e-15 at 8, so order 6
 * is the lowest that reaches 1e-8 (erf needs about 48 at variances <= 3). */
Test(quadrature, relu_reaches_1em8_at_order_6) {
    double w6 = worst_vs_closed(&cases[0], 6, 3.0, 200), w8 = worst_vs_closed(&cases[0], 8, 3.0, 200);
    double w4 = worst_vs_closed(&cases[0], 4, 3.0, 200);
    fprintf(stderr, "relu order 4: %.3g, order 6: %.3g, order 8: %.3g\n", w4, w6, w8);
    cr_expect(w6 <= 1e-8, "relu order 6: %.3g", w6);
    cr_expect(w8 <= 1e-13, "relu order 8: %.3g", w8);
    cr_expect(w4 > 1e-8, "order 4 should not reach 1e-8 (else the stated minimum order is wrong): %.3g", w4);
    w6 = worst_vs_closed(&cases[1], 6, 3.0, 200);
    cr_expect(w6 <= 1e-8, "leaky order 6: %.3g", w6);
}

/* GELU's closed form (derived in entk.h) against the quadrature over a wider range of variances, with
 * the highest order. */
Test(gelu, closed_form_matches_quadrature_at_many_points) {
    double w = worst_vs_closed(&cases[3], 128, 10.0, 150);
    fprintf(stderr, "gelu vs order-128 quadrature, variances <= 10: %.3g\n", w);
    cr_expect(w <= 1e-10, "gelu: %.3g", w);
}

/* At k11 = k22 = k12 = v the pair is (u, u): T = E[u^2 Phi(u)^2], Tdot = E[phi'(u)^2], a 1-D integral
 * done here by composite Simpson, independent of the 2-D quadrature. */
Test(gelu, diagonal_matches_1d_simpson) {
    static const double vs[] = {0.01, 0.3, 1.0, 2.5, 7.0};
    int k;
    for (k = 0; k < 5; ++k) {
        const double v = vs[k], sd = sqrt(v), h = 24.0 * sd / 20000;
        double st = 0, sdt = 0, t, d, one = 1.0;
        entk_nonlin f;
        int i;
        for (i = 0; i <= 20000; ++i) {
            double x = -12.0 * sd + i * h, w = (i == 0 || i == 20000) ? 1 : (i % 2 ? 4 : 2);
            double dens = exp(-0.5 * x * x / v) / (sd * SQRT2PI), g = gelu(x, NULL), dg = dgelu(x, NULL);
            st += w * g * g * dens;
            sdt += w * dg * dg * dens;
        }
        st *= h / 3;
        sdt *= h / 3;
        memset(&f, 0, sizeof f);
        f.kind = ENTK_NL_GELU;
        cr_assert_eq(entk_nonlin_map(&f, 1, &v, 0, &v, 0, &v, &one, &t, &d), ENTK_OK);
        cr_expect(fabs(t - st) <= 1e-11 * fmax(1, st), "v=%g: T %.17g vs Simpson %.17g", v, t, st);
        cr_expect(fabs(d - sdt) <= 1e-11 * fmax(1, sdt), "v=%g: Tdot %.17g vs Simpson %.17g", v, d, sdt);
    }
}

/* T(k11, k22, k12) = T(k22, k11, k12) on every path (the formula is symmetric; the operation order is
 * not, so within 2 ULPs of the value's scale sqrt(k11 k22) + |k12|). */
Test(gelu, symmetric_in_the_two_variances) {
    double a[64], b[64], c[64], th[64], t1[64], t2[64], d1[64], d2[64];
    tu_rng r = {3};
    entk_nonlin f;
    int i, p;
    memset(&f, 0, sizeof f);
    f.kind = ENTK_NL_GELU;
    tu_map_inputs(&r, 64, a, b, c, th);
    for (p = 0; p <= ENTK_SIMD_AVX512; ++p) {
        if (entk_simd_set((entk_simd)p) != ENTK_OK) continue;
        cr_assert_eq(entk_nonlin_map(&f, 64, a, 1, b, 1, c, th, t1, d1), ENTK_OK);
        cr_assert_eq(entk_nonlin_map(&f, 64, b, 1, a, 1, c, th, t2, d2), ENTK_OK);
        for (i = 0; i < 64; ++i) {
            double s = sqrt(a[i] * b[i]) + fabs(c[i]);
            cr_expect(tu_map_err(t1[i], t2[i], s) <= 2, "path %d: T(%g,%g,%g) %.17g vs %.17g", p, a[i], b[i], c[i], t1[i], t2[i]);
            cr_expect(tu_map_err(d1[i], d2[i], fabs(th[i])) <= 2, "path %d: Tdot %.17g vs %.17g", p, d1[i], d2[i]);
        }
    }
    entk_simd_set(ENTK_SIMD_SCALAR);
}

/* Degenerate covariances with a phi that is neither odd nor even nor homogeneous: finite everywhere,
 * and at k11 = 0 the pair factorises, T = phi(0) E[phi(v)], checked against a Simpson integral. */
static double softplus(double x, void *u) { (void)u; return x > 30 ? x : log1p(exp(x)); }
static double dsoftplus(double x, void *u) { (void)u; return 1 / (1 + exp(-x)); }
Test(quadrature, degenerate_variances_are_finite_and_factorise) {
    const double a[] = {0, 0, 1e-300, 2, 1e-300, 1, 2, 0, 0};
    const double b[] = {0, 2, 1e-300, 0, 3, 1, 2, 1.5, 1.5};
    const double c[] = {0, 0, 1e-300, 0, 0, -1, 2, 1e-17, 0};
    double t[9], d[9], th[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    entk_nonlin f;
    int i;
    memset(&f, 0, sizeof f);
    f.kind = ENTK_NL_CUSTOM;
    f.phi = softplus;
    f.dphi = dsoftplus;
    cr_assert_eq(entk_nonlin_map(&f, 9, a, 1, b, 1, c, th, t, d), ENTK_OK);
    for (i = 0; i < 9; ++i) cr_expect(isfinite(t[i]) && isfinite(d[i]), "point %d: %g %g", i, t[i], d[i]);
    cr_expect(fabs(t[0] - log(2.0) * log(2.0)) <= 1e-14, "both zero: %.17g", t[0]);
    cr_expect(fabs(d[0] - 0.25) <= 1e-14, "both zero: Tdot %.17g", d[0]);
    /* a k12 of rounding noise next to a zero variance is the boundary: same as k12 = 0 */
    cr_expect(fabs(t[7] - t[8]) <= 1e-14 && fabs(d[7] - d[8]) <= 1e-14, "%.17g vs %.17g", t[7], t[8]);
    { /* k11 = 0, k22 = 2: log 2 * E[softplus(v)], v ~ N(0, 2) */
        const double sd = sqrt(2.0), h = 24.0 * sd / 20000;
        double s = 0;
        int k;
        for (k = 0; k <= 20000; ++k) {
            double x = -12 * sd + k * h, w = (k == 0 || k == 20000) ? 1 : (k % 2 ? 4 : 2);
            s += w * softplus(x, NULL) * exp(-0.25 * x * x) / (sd * SQRT2PI);
        }
        s *= h / 3;
        cr_expect(fabs(t[1] - log(2.0) * s) <= 1e-10, "k11 = 0: %.17g vs %.17g", t[1], log(2.0) * s);
    }
}

Test(quadrature, rejects_bad_arguments) {
    entk_nonlin f;
    double x = 1, t;
    memset(&f, 0, sizeof f);
    f.kind = ENTK_NL_CUSTOM;
    cr_expect_eq(entk_nonlin_map(&f, 1, &x, 0, &x, 0, &x, NULL, &t, NULL), ENTK_ERR_INVALID_ARG);
    f.phi = relu;
    f.dphi = drelu;
    f.order = 129;
    cr_expect_eq(entk_nonlin_map(&f, 1, &x, 0, &x, 0, &x, NULL, &t, NULL), ENTK_ERR_INVALID_ARG);
    f.order = -1;
    cr_expect_eq(entk_nonlin_map(&f, 1, &x, 0, &x, 0, &x, NULL, &t, NULL), ENTK_ERR_INVALID_ARG);
    f.order = 128;
    cr_expect_eq(entk_nonlin_map(&f, 1, &x, 0, &x, 0, &x, NULL, &t, NULL), ENTK_OK);
    /* measured 4.6e-13 at order 128: rounding in the high-order Laguerre recurrence */
    cr_expect(fabs(t - 0.5) <= 1e-12, "E[relu(u)^2] at k = 1: %.17g", t);
}

/* ---- every scale (entk.h, "the maps at every scale") ---------------------------------------------
 * Each map on every path at k11, k22, k12 across the double range: the fast formula in range, the
 * scale-free slow path beyond it (the SIMD paths send such blocks to the scalar kernel). Points are
 * processed 13 at a time, so lanes go through the vector loop and the tail. */
static void map13(entk_nonlin_kind kind, double al, const double *a, const double *b, const double *c,
                  double *t, double *d) {
    static const double one[13] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    entk_nonlin f;
    memset(&f, 0, sizeof f);
    f.kind = kind;
    f.a = al;
    cr_assert_eq(entk_nonlin_map(&f, 13, a, 1, b, 1, c, one, t, d), ENTK_OK);
}
/* 13 base covariances with moderate variances: rho in (-1, 1), exactly +-1, and a zero variance */
static void base13(double *a, double *b, double *c) {
    tu_rng r = {41};
    int i;
    for (i = 0; i < 13; ++i) {
        double rho = i == 0 ? 1 : i == 1 ? -1 : 1.8 * tu_unif(&r) - 0.9;
        a[i] = 0.5 + 2.5 * tu_unif(&r);
        b[i] = 0.5 + 2.5 * tu_unif(&r);
        if (i == 2) a[i] = 0;
        if (i == 0 || i == 1) b[i] = a[i]; /* c = +-a exactly: the boundary without rounding */
        c[i] = i == 0 ? a[i] : i == 1 ? -a[i] : rho * sqrt(a[i] * b[i]);
    }
}

/* ReLU and leaky ReLU are homogeneous: T(l k11, m k22, sqrt(l m) k12) = sqrt(l m) T(k11, k22, k12), Tdot
 * unchanged. Powers of two l, m from 2^-1000 to 2^1000 (also l != m: 2^-1000 next to 2^1000) scale the
 * inputs exactly, so the identity holds to the map's ULP budget against the same path's unscaled value
 * (slow path against fast path: libm's atan2 against entk's on SIMD, both within 0.52 ULP). Non-powers
 * (1e-300, 1e300, 1e-150, 1e150) round the scaled inputs (|rho| <= 0.9 there, so that rounding moves
 * T by about an ULP): budget + 2. */
static void homogeneity(entk_nonlin_kind kind, double al, int ci) {
    static const int ex[][2] = {{-1000, -1000}, {1000, 1000}, {-1000, 1000}, {1000, -1000}, {-600, -600},
                                {600, 600},     {-500, 0},    {0, 700},      {-998, 2},     {-250, -250},
                                {250, 250},     {-1020, 1020}};
    static const double nx[][2] = {{1e-300, 1e-300}, {1e300, 1e300}, {1e-300, 1e300}, {1e300, 1e-300},
                                   {1e-150, 1e-150}, {1e150, 1e150}, {1e-150, 1e150}};
    const tu_map_case *mc = &tu_map_cases[ci];
    double a[13], b[13], c[13], t0[13], d0[13], a1[13], b1[13], c1[13], t1[13], d1[13], worst = 0;
    entk_simd p[TU_MAX_PATHS];
    int np = tu_paths(p), k, s, i;
    base13(a, b, c);
    for (k = 0; k < np; ++k) {
        entk_simd_set(p[k]);
        map13(kind, al, a, b, c, t0, d0);
        for (s = 0; s < (int)(sizeof ex / sizeof ex[0] + sizeof nx / sizeof nx[0]); ++s) {
            const int pw = s < (int)(sizeof ex / sizeof ex[0]);
            const double l = pw ? ldexp(1.0, ex[s][0]) : nx[s - 12][0], m = pw ? ldexp(1.0, ex[s][1]) : nx[s - 12][1];
            const double g = sqrt(l) * sqrt(m); /* exact for the powers of two (even exponents) */
            for (i = 0; i < 13; ++i) { a1[i] = l * a[i]; b1[i] = m * b[i]; c1[i] = g * c[i]; }
            map13(kind, al, a1, b1, c1, t1, d1);
            for (i = 0; i < 13; ++i) {
                const double bt = pw ? mc->budget_t : mc->budget_t + 2, bd = pw ? mc->budget_d : mc->budget_d + 2;
                const double sc = tu_map_scale(mc, a1[i], b1[i], c1[i], 1.0, 0);
                double et, ed;
                if (!pw && (i == 0 || i == 1)) continue; /* rounded inputs off the exact boundary */
                et = tu_map_err(t1[i], g * t0[i], sc);
                ed = tu_map_err(d1[i], d0[i], tu_map_scale(mc, a1[i], b1[i], c1[i], 1.0, 1));
                if (et > worst) worst = et;
                if (ed > worst) worst = ed;
                cr_expect(et <= bt && ed <= bd, "%s path %d scale (%g, %g) point %d: T %.17g vs %.17g (%.3g ulps), "
                          "Tdot %.17g vs %.17g (%.3g)", mc->name, (int)p[k], l, m, i, t1[i], g * t0[i], et, d1[i],
                          d0[i], ed);
            }
        }
    }
    fprintf(stderr, "%s homogeneity from 2^-1020 to 2^1020: worst %.3g scaled ulps\n", mc->name, worst);
    entk_simd_set(ENTK_SIMD_SCALAR);
}
Test(scale, relu_is_homogeneous_at_every_scale_on_every_path) { homogeneity(ENTK_NL_RELU, 0, 1); }
Test(scale, leaky_relu_is_homogeneous_at_every_scale_on_every_path) { homogeneity(ENTK_NL_LEAKY_RELU, 0.2, 2); }

/* Stated values at the boundaries, any scale: k11 = x^2, k22 = y^2, k12 = +-x y with x, y of few bits
 * (3 2^-510, 5 2^505, ...: every product exact, so k12 is exactly on the boundary). ReLU: T = k12 / 2,
 * Tdot = 1/2 at k12 = +sqrt(k11 k22); T = Tdot = 0 at -sqrt; a zero variance (k12 = 0) gives T = 0,
 * Tdot = 1/4 (angle pi/2). Leaky ReLU (slope a): (1 + a^2) k12 / 2 and (1 + a^2) / 2 at +; a k12 and a
 * at -; T = 0, Tdot = (1 + a)^2 / 4 at a zero variance. */
Test(scale, relu_and_leaky_boundary_and_zero_variance_values) {
    static const double sc[][2] = {{1, 1}, {0x1p-500, 0x1p-500}, {0x1p500, 0x1p500}, {0x1p-500, 0x1p500},
                                   {0x3p-510, 0x5p505}, {0x7p505, 0x3p500}, {0xbp-515, 0xdp-512}, {0x1p510, 0x1p-510}};
    const double al = 0.2;
    entk_simd p[TU_MAX_PATHS];
    int np = tu_paths(p), k, s, i, lk;
    for (k = 0; k < np; ++k) {
        entk_simd_set(p[k]);
        for (s = 0; s < 8; ++s)
            for (lk = 0; lk < 2; ++lk) {
                double a[13], b[13], c[13], t[13], d[13];
                const double x = sc[s][0], y = sc[s][1], l = x * x, m = y * y;
                const double q = lk ? 1 + al * al : 1;
                for (i = 0; i < 13; ++i) {
                    a[i] = l; b[i] = m;
                    c[i] = i % 3 == 0 ? x * y : i % 3 == 1 ? -x * y : 0;
                    if (i % 3 == 2) { if (i % 2) a[i] = 0; else b[i] = 0; }
                }
                map13(lk ? ENTK_NL_LEAKY_RELU : ENTK_NL_RELU, al, a, b, c, t, d);
                for (i = 0; i < 13; ++i) {
                    double et, ed;
                    if (i % 3 == 0) { et = q * c[i] / 2; ed = q / 2; }
                    else if (i % 3 == 1) { et = lk ? al * c[i] : 0; ed = lk ? al : 0; }
                    else { et = 0; ed = lk ? (1 + al) * (1 + al) / 4 : 0.25; }
                    cr_expect(tu_ulps(t[i], et) <= 2,
                              "%s path %d scale (%g, %g) point %d: T %.17g, stated %.17g", lk ? "leaky" : "relu",
                              (int)p[k], l, m, i, t[i], et);
                    cr_expect(tu_ulps(d[i], ed) <= 2, "%s path %d scale (%g, %g) point %d: "
                              "Tdot %.17g, stated %.17g", lk ? "leaky" : "relu", (int)p[k], l, m, i, d[i], ed);
                }
            }
    }
    entk_simd_set(ENTK_SIMD_SCALAR);
}

/* Long-double references (x87 extended on x86-64, 64-bit significand, exponent range 2^+-16384: no
 * overflow, no scaling) of the closed forms, with the products formed directly: the radicands grouped as
 * 1 + 2(k11 + k22) + 4(k11 k22 - k12^2) (erf) and 1 + k11 + k22 + (k11 k22 - k12^2) (gelu), equal to
 * (1 + 2k11)(1 + 2k22) - 4k12^2 and (1 + k11)(1 + k22) - k12^2, whose expanded forms cancel to nothing
 * at k11 = k22 = k12 ~ 1e150 even in long double. */
static void erf_ld(double a, double b, double c, long double *t, long double *d) {
    long double A = a, B = b, Cc = c;
    long double s = sqrtl(1 + 2 * (A + B) + 4 * (A * B - Cc * Cc));
    *t = 2 / (long double)M_PI * atan2l(2 * Cc, s);
    *d = 4 / (long double)M_PI / s;
}
static void gelu_ld(double a, double b, double c, long double *t, long double *d) {
    long double A = a, B = b, Cc = c, R2 = (1 + A) * (1 + B), D = 1 + A + B + (A * B - Cc * Cc), q = sqrtl(D);
    long double ang = atan2l(Cc, q), k = 1 / (2 * (long double)M_PI);
    *t = Cc / 4 + k * (Cc * ang + A * B * q / R2 + Cc * Cc / (R2 * q));
    *d = 0.25L + k * (ang + Cc * (1 / (1 + A) + 1 / (1 + B)) / q + Cc / (D * q));
}
/* |x - y| in ULPs of max(|y|, scale) */
static double rel_ld(double x, long double y, double scale) {
    long double u = fabsl(y) > scale ? fabsl(y) : scale;
    if (u == 0) return x == 0 ? 0 : INFINITY;
    return (double)(fabsl((long double)x - y) / u) / 0x1p-52;
}

/* erf and gelu (not homogeneous) against long double at extreme and mixed scales, |rho| <= 0.9 plus the
 * exact diagonal k11 = k22 = k12 (where the references are well conditioned), on every path: relative
 * error <= 4 ULPs wherever the value is a normal double (gelu's T: ULPs of max(|T|, sqrt(k11 k22) + |k12|),
 * the size of its terms, which cancel for negative k12 even at moderate scales, as in tu_map_scale). Limits stated: at tiny scales erf gives
 * T = (4/pi) k12 and Tdot = 4/pi, gelu T = k12/4 and Tdot = 1/4 (phi ~ x/2); at huge scales erf's
 * T -> (2/pi) asin(rho) and gelu -> ReLU (phi ~ relu). */
Test(scale, erf_and_gelu_match_long_double_at_every_scale) {
    static const double sc[][2] = {{1e-300, 1e-300}, {1e300, 1e300}, {1e-300, 1e300}, {1e300, 1e-300},
                                   {0x1p-1000, 0x1p1000}, {1e150, 1e150}, {1e-150, 1e150}, {1e200, 1e250},
                                   {1e307, 1e307}, {1e307, 1e-307}, {3, 1e300}, {1, 1}};
    entk_simd p[TU_MAX_PATHS];
    int np = tu_paths(p), k, s, i, g;
    double worst[2] = {0, 0};
    for (k = 0; k < np; ++k) {
        entk_simd_set(p[k]);
        for (s = 0; s < 12; ++s)
            for (g = 0; g < 2; ++g) {
                double a[13], b[13], c[13], t[13], d[13];
                tu_rng r = {77};
                for (i = 0; i < 13; ++i) {
                    double rho = 1.8 * tu_unif(&r) - 0.9;
                    a[i] = sc[s][0] * (0.5 + tu_unif(&r));
                    b[i] = sc[s][1] * (0.5 + tu_unif(&r));
                    c[i] = rho * sqrt(a[i]) * sqrt(b[i]);
                    if (i == 0) b[i] = c[i] = a[i]; /* the diagonal, exactly */
                }
                map13(g ? ENTK_NL_GELU : ENTK_NL_ERF, 0, a, b, c, t, d);
                for (i = 0; i < 13; ++i) {
                    long double rt, rd;
                    double et, ed;
                    if (g) gelu_ld(a[i], b[i], c[i], &rt, &rd);
                    else erf_ld(a[i], b[i], c[i], &rt, &rd);
                    et = fabsl(rt) < 0x1p-1022L ? 0 : rel_ld(t[i], rt, g ? sqrt(a[i]) * sqrt(b[i]) + fabs(c[i]) : 0);
                    ed = fabsl(rd) < 0x1p-1022L ? 0 : rel_ld(d[i], rd, 0);
                    if (et > worst[g]) worst[g] = et;
                    if (ed > worst[g]) worst[g] = ed;
                    cr_expect(isfinite(t[i]) && isfinite(d[i]) && et <= 4 && ed <= 4,
                              "%s path %d (%g, %g, %g): T %.17g vs %.17Lg (%.3g ulps), Tdot %.17g vs %.17Lg (%.3g)",
                              g ? "gelu" : "erf", (int)p[k], a[i], b[i], c[i], t[i], rt, et, d[i], rd, ed);
                }
            }
    }
    { /* the stated limits, scalar path */
        double a = 1e-300, b = 2e-300, c = 1e-300, t, d, one = 1;
        entk_nonlin f;
        memset(&f, 0, sizeof f);
        entk_simd_set(ENTK_SIMD_SCALAR);
        f.kind = ENTK_NL_ERF;
        entk_nonlin_map(&f, 1, &a, 0, &b, 0, &c, &one, &t, &d);
        cr_expect(tu_ulps(t, 4 / M_PI * c) <= 2 && tu_ulps(d, 4 / M_PI) <= 2, "erf tiny: %.17g %.17g", t, d);
        f.kind = ENTK_NL_GELU;
        entk_nonlin_map(&f, 1, &a, 0, &b, 0, &c, &one, &t, &d);
        cr_expect(tu_ulps(t, c / 4) <= 2 && tu_ulps(d, 0.25) <= 2, "gelu tiny: %.17g %.17g", t, d);
        a = 1e300; b = 4e300; c = 1e300; /* rho = 1/2 */
        f.kind = ENTK_NL_ERF;
        entk_nonlin_map(&f, 1, &a, 0, &b, 0, &c, &one, &t, &d);
        cr_expect(tu_ulps(t, 2 / M_PI * asin(0.5)) <= 2, "erf huge: %.17g vs %.17g", t, 2 / M_PI * asin(0.5));
        {
            double tr, dr;
            f.kind = ENTK_NL_RELU;
            entk_nonlin_map(&f, 1, &a, 0, &b, 0, &c, &one, &tr, &dr);
            f.kind = ENTK_NL_GELU;
            entk_nonlin_map(&f, 1, &a, 0, &b, 0, &c, &one, &t, &d);
            cr_expect(tu_ulps(t, tr) <= 4 && tu_ulps(d, dr) <= 4, "gelu huge vs relu: %.17g %.17g, %.17g %.17g", t, tr,
                      d, dr);
        }
    }
    fprintf(stderr, "erf vs long double, every scale: worst %.3g ulps; gelu %.3g\n", worst[0], worst[1]);
    entk_simd_set(ENTK_SIMD_SCALAR);
}

/* sin against long double (e^{-m} sinh(k12), e^{-m} cosh(k12)): relatively exact also where k12 is tiny
 * (the old e^{k12-m} - e^{-k12-m} gave 0 at 1e-300); stated values: T = k12, Tdot = 1 at tiny scales,
 * T = Tdot = 1/2 at k11 = k22 = k12 >= 20, T = Tdot = 0 (underflow) for 1e-300 next to 1e300. */
Test(scale, sin_matches_long_double_and_stated_values) {
    entk_simd p[TU_MAX_PATHS];
    int np = tu_paths(p), k, s, i;
    double worst = 0;
    for (k = 0; k < np; ++k) {
        entk_simd_set(p[k]);
        for (s = 0; s < 4; ++s) {
            static const double sc[] = {1e-300, 1e-150, 1e-20, 1};
            double a[13], b[13], c[13], t[13], d[13];
            tu_rng r = {5};
            for (i = 0; i < 13; ++i) {
                double rho = 1.8 * tu_unif(&r) - 0.9;
                a[i] = sc[s] * 10 * tu_unif(&r);
                b[i] = sc[s] * 10 * tu_unif(&r);
                c[i] = rho * sqrt(a[i]) * sqrt(b[i]);
            }
            map13(ENTK_NL_SIN, 0, a, b, c, t, d);
            for (i = 0; i < 13; ++i) {
                long double e = expl(-((long double)a[i] + b[i]) / 2), rt = e * sinhl(c[i]), rd = e * coshl(c[i]);
                /* exp's argument |k12| - m is rounded: its error e^{...} adds (|k12| + m) eps relative */
                double lim = 4 + (fabs(c[i]) + 0.5 * (a[i] + b[i]));
                double et = rel_ld(t[i], rt, 0), ed = rel_ld(d[i], rd, 0);
                if (c[i] == 0) et = t[i] == 0 ? 0 : INFINITY;
                if (et > worst) worst = et;
                if (ed > worst) worst = ed;
                cr_expect(et <= lim && ed <= lim, "sin path %d (%g, %g, %g): T %.17g vs %.17Lg (%.3g), Tdot %.17g vs "
                          "%.17Lg (%.3g)", (int)p[k], a[i], b[i], c[i], t[i], rt, et, d[i], rd, ed);
            }
        }
        {
            double a[13], b[13], c[13], t[13], d[13];
            for (i = 0; i < 13; ++i) {
                const int w = i % 4;
                a[i] = w == 0 ? 1e-300 : w == 1 ? 25.0 * (i + 1) : w == 2 ? 1e300 : 1e-300;
                b[i] = w == 3 ? 1e300 : a[i];
                c[i] = w == 3 ? 1 : (i & 1 ? 1 : -1) * a[i];
            }
            map13(ENTK_NL_SIN, 0, a, b, c, t, d);
            for (i = 0; i < 13; ++i) {
                const int w = i % 4;
                const double et = w == 0 ? c[i] : w == 3 ? 0 : (c[i] > 0 ? 0.5 : -0.5), ed = w == 0 ? 1 : w == 3 ? 0 : 0.5;
                cr_expect(tu_ulps(t[i], et) <= 1 && tu_ulps(d[i], ed) <= 1, "sin path %d (%g, %g, %g): %.17g %.17g, "
                          "stated %.17g %.17g", (int)p[k], a[i], b[i], c[i], t[i], d[i], et, ed);
            }
        }
    }
    fprintf(stderr, "sin vs long double: worst %.3g ulps (relative)\n", worst);
    entk_simd_set(ENTK_SIMD_SCALAR);
}

/* Zero variances give finite stated values on every path, next to moderate and extreme variances:
 * (0, v, 0): relu T = 0, Tdot = 1/4; erf T = 0, Tdot = (4/pi)/sqrt(1 + 2v); gelu T = 0, Tdot = 1/4
 * (phi'(0) E[phi'(v)] = 1/2 1/2); sin T = 0, Tdot = e^{-v/2}; identity T = 0, Tdot = 1. */
Test(scale, zero_variances_give_stated_values) {
    static const double vs[] = {0, 1e-300, 1e-150, 0.5, 2, 1e150, 1e300, DBL_MAX, 0x1p-1022, 7, 0, 1e308, 3};
    static const entk_nonlin_kind ks[] = {ENTK_NL_RELU, ENTK_NL_ERF, ENTK_NL_GELU, ENTK_NL_SIN, ENTK_NL_IDENTITY};
    entk_simd p[TU_MAX_PATHS];
    int np = tu_paths(p), k, m, i, sw;
    for (k = 0; k < np; ++k) {
        entk_simd_set(p[k]);
        for (m = 0; m < 5; ++m)
            for (sw = 0; sw < 2; ++sw) {
                double z[13], v[13], c[13], t[13], d[13];
                for (i = 0; i < 13; ++i) { z[i] = 0; v[i] = vs[i]; c[i] = 0; }
                if (sw) map13(ks[m], 0, v, z, c, t, d);
                else map13(ks[m], 0, z, v, c, t, d);
                for (i = 0; i < 13; ++i) {
                    double ed = ks[m] == ENTK_NL_ERF ? 4 / M_PI / sqrt(1 + 2 * v[i])
                              : ks[m] == ENTK_NL_SIN ? exp(-0.5 * v[i]) : ks[m] == ENTK_NL_IDENTITY ? 1 : 0.25;
                    if (ks[m] == ENTK_NL_ERF && v[i] > 1e300) ed = 4 / M_PI / (sqrt(2.0) * sqrt(v[i]));
                    cr_expect(t[i] == 0 && isfinite(d[i]) && (tu_ulps(d[i], ed) <= 2 || fabs(d[i] - ed) < 1e-300),
                              "kind %d path %d v = %g: T %.17g Tdot %.17g, stated 0, %.17g", (int)ks[m], (int)p[k],
                              v[i], t[i], d[i], ed);
                }
            }
    }
    entk_simd_set(ENTK_SIMD_SCALAR);
}
