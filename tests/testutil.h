/* Shared helpers for the Criterion test binaries, tests/finite_net.h and tests/aarch64_check.c (a
 * plain C99 program: everything outside the `#ifdef cr_assert_eq` part at the end is pedantic C99 and
 * needs no Criterion). */
#ifndef ENTK_TESTUTIL_H
#define ENTK_TESTUTIL_H
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
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
/* Box-Muller with both values used (the finite networks' weights): the second is kept in *spare while
 * *have is 1. u is drawn in (0, 1), so log(u) is finite. */
static inline double tu_normal_pair(tu_rng *r, double *spare, int *have) {
    double u, v, q;
    if (*have) { *have = 0; return *spare; }
    u = ((double)(tu_next(r) >> 11) + 0.5) * 0x1.0p-53;
    v = tu_unif(r);
    q = sqrt(-2.0 * log(u));
    *spare = q * sin(6.283185307179586 * v);
    *have = 1;
    return q * cos(6.283185307179586 * v);
}

/* phi(x) of entk's built-in nonlinearities (not the custom one), and phi'(x) into *d: the finite
 * networks' pointwise layers. */
static inline double tu_phi(const entk_nonlin *nl, double x, double *d) {
    switch (nl->kind) {
    case ENTK_NL_RELU: *d = x > 0 ? 1.0 : 0.0; return x > 0 ? x : 0.0;
    case ENTK_NL_ERF: *d = 1.1283791670955126 * exp(-x * x); return erf(x);
    case ENTK_NL_LEAKY_RELU: *d = x >= 0 ? 1.0 : nl->a; return x >= 0 ? x : nl->a * x;
    case ENTK_NL_GELU: {
        const double cdf = 0.5 * erfc(-x * 0.7071067811865476);
        *d = cdf + x * 0.3989422804014327 * exp(-0.5 * x * x);
        return x * cdf;
    }
    case ENTK_NL_SIN: *d = cos(x); return sin(x);
    default: *d = 1.0; return x;
    }
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
/* |a - b| / |b| (|b| below 1e-300 counts as 1e-300) */
static inline double tu_rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-300); }

/* the dot products x_i.x_i, x_j.x_j and x_i.x_j of rows i and j of x (n x d, row-major) */
static inline void tu_dots(const double *x, size_t d, size_t i, size_t j, double *ii, double *jj, double *ij) {
    size_t m;
    *ii = *jj = *ij = 0;
    for (m = 0; m < d; ++m) {
        *ii += x[i * d + m] * x[i * d + m];
        *jj += x[j * d + m] * x[j * d + m];
        *ij += x[i * d + m] * x[j * d + m];
    }
}

/* ---- image transforms of C x H x W images (channels first), independent of the library ----
 * rot90 (N x N): y(i, j) = x(j, N - 1 - i), np.rot90's anticlockwise quarter turn (docs/conventions.md
 * §1.4); mirror: y(i, j) = x(i, W - 1 - j), np.fliplr; shift: y((i + di) mod H, (j + dj) mod W) = x(i, j). */
static inline void tu_img_rot90(const double *x, size_t C, size_t N, double *y) {
    size_t c, i, j;
    for (c = 0; c < C; ++c)
        for (i = 0; i < N; ++i)
            for (j = 0; j < N; ++j) y[(c * N + i) * N + j] = x[(c * N + j) * N + (N - 1 - i)];
}
static inline void tu_img_mirror(const double *x, size_t C, size_t H, size_t W, double *y) {
    size_t c, i, j;
    for (c = 0; c < C; ++c)
        for (i = 0; i < H; ++i)
            for (j = 0; j < W; ++j) y[(c * H + i) * W + j] = x[(c * H + i) * W + (W - 1 - j)];
}
static inline void tu_img_shift(const double *x, size_t C, size_t H, size_t W, size_t di, size_t dj, double *y) {
    size_t c, i, j;
    for (c = 0; c < C; ++c)
        for (i = 0; i < H; ++i)
            for (j = 0; j < W; ++j) y[(c * H + (i + di) % H) * W + (j + dj) % W] = x[(c * H + i) * W + j];
}

/* ---- Cholesky fixtures (tests/test_chol.c, tests/aarch64_check.c) ---- */

/* a (n x n, ld lda) = G G^T / n + 0.1 I, G Gaussian from r: SPD with eigenvalues >= 0.1. Returns 0, or
 * -1 without memory. */
static inline int tu_spd(tu_rng *r, size_t n, double *a, size_t lda) {
    double *g = (double *)malloc((n * n + 1) * sizeof *g);
    size_t i, j, k;
    if (!g) return -1;
    tu_fill_normal(r, g, n * n);
    for (i = 0; i < n; ++i)
        for (j = 0; j <= i; ++j) {
            double s = 0;
            for (k = 0; k < n; ++k) s += g[i * n + k] * g[j * n + k];
            a[i * lda + j] = a[j * lda + i] = s / (double)n + (i == j ? 0.1 : 0.0);
        }
    free(g);
    return 0;
}

/* LAPACK's measure ||L L^T - A||_1 / (n ||A||_1 eps) for a factor l (ld ldl) of the symmetric a (ld
 * lda), reading only lower triangles; 0 for n = 0, INFINITY without memory. */
static inline double tu_chol_residual(size_t n, const double *a, size_t lda, const double *l, size_t ldl) {
    double *col = (double *)calloc(2 * n + 1, sizeof *col), *acol = col + n, worst = 0, anorm = 0;
    size_t i, j, k;
    if (!col) return INFINITY;
    for (i = 0; i < n; ++i)
        for (j = 0; j <= i; ++j) {
            double s = 0, aij = a[i * lda + j], d;
            for (k = 0; k <= j; ++k) s += l[i * ldl + k] * l[j * ldl + k];
            d = fabs(s - aij);
            col[j] += d;
            acol[j] += fabs(aij);
            if (i != j) { col[i] += d; acol[i] += fabs(aij); }
        }
    for (j = 0; j < n; ++j) {
        if (col[j] > worst) worst = col[j];
        if (acol[j] > anorm) anorm = acol[j];
    }
    free(col);
    return n ? worst / ((double)n * anorm * DBL_EPSILON) : 0.0;
}

/* ---- nonlinearity-map path checks (tests/test_simd.c and tests/aarch64_check.c share them) ----
 * Error unit: |x - y| / (2^-52 max(|y|, S)), i.e. ULPs of the larger of the oracle value y and the
 * map's natural scale S at that point. S is the size of the terms the formula adds: where they cancel
 * (ReLU's T and Tdot near k12 = -sqrt(k11 k22), sin's sinh near k12 = 0) ULPs of the tiny result are
 * meaningless and the error is measured against S; elsewhere (S <= |y|) it is plain ULPs. */
typedef struct {
    entk_nonlin_kind kind;
    double a;            /* leaky slope */
    const char *name;
    double budget_t;     /* scaled-ULP budgets for T and Tdot * theta */
    double budget_d;
} tu_map_case;

/* Budgets: the worst case measured over tu_map_compare and tu_map_edges on AVX2 (x86-64 glibc libm
 * oracle) and NEON (qemu, aarch64 glibc) was, T / Tdot: relu 0.69 / 1.06, leaky 0.28 / 0.86,
 * erf 1.54 / 0 (Tdot has no transcendental: same operations), gelu 0.19 / 0.78, sin 0.81 / 1.86; each
 * budget is set just above that. Sin's Tdot budget is 2.5 since sin became e^{c-m} (2 - x) / 2 with
 * x = -expm1(-2c) (exact at tiny scales; measured 2.13 on AVX2: exp's and expm1's errors add). Expected: SLEEF u10 and glibc are each within 1 ULP, so atan2/exp
 * may differ by up to 2 ULPs and the arithmetic after them adds rounding of its own. */
static const tu_map_case tu_map_cases[] = {
    {ENTK_NL_IDENTITY, 0.0, "identity", 0.0, 0.0},
    {ENTK_NL_RELU, 0.0, "relu", 1.0, 1.5},
    {ENTK_NL_LEAKY_RELU, 0.2, "leaky_relu", 0.5, 1.0},
    {ENTK_NL_ERF, 0.0, "erf", 2.0, 0.5},
    {ENTK_NL_GELU, 0.0, "gelu", 0.5, 1.0},
    {ENTK_NL_SIN, 0.0, "sin", 1.0, 2.5},
};
#define TU_N_MAP_CASES ((int)(sizeof tu_map_cases / sizeof tu_map_cases[0]))

static inline double tu_map_scale(const tu_map_case *mc, double a, double b, double c, double th,
                                  int want_d) {
    double g = sqrt(a) * sqrt(b), m = 0.5 * a + 0.5 * b; /* no overflow at extreme scales */
    (void)c;
    switch (mc->kind) {
    case ENTK_NL_RELU: return want_d ? 0.5 * fabs(th) : g;
    case ENTK_NL_LEAKY_RELU: return want_d ? 0.5 * (1 + mc->a * mc->a + 2 * fabs(mc->a)) * fabs(th)
                                           : (1 + fabs(mc->a)) * (1 + fabs(mc->a)) * g;
    case ENTK_NL_GELU: return want_d ? fabs(th) : g + fabs(c);
    case ENTK_NL_SIN: return want_d ? 0.0 : exp(fabs(c) - m);
    default: return 0.0;
    }
}

static inline double tu_map_err(double x, double y, double scale) {
    double d = fabs(x - y), u = fabs(y) > scale ? fabs(y) : scale;
    if (x == y) return 0.0;
    if (x != x || y != y || d == INFINITY) return INFINITY;
    if (u == 0.0) return INFINITY;
    return d / (u * 0x1.0p-52);
}

/* Random valid covariances: k11, k22 in [0, 3] (sometimes exactly 0), k12 = rho sqrt(k11 k22) with
 * rho in [-1, 1] (sometimes exactly +-1). */
static inline void tu_map_inputs(tu_rng *r, size_t n, double *a, double *b, double *c, double *th) {
    size_t i;
    for (i = 0; i < n; ++i) {
        double rho = 2 * tu_unif(r) - 1;
        unsigned sel = (unsigned)(tu_next(r) % 16);
        a[i] = 3 * tu_unif(r);
        b[i] = 3 * tu_unif(r);
        if (sel == 0) a[i] = 0;
        if (sel == 1) b[i] = 0;
        if (sel == 2) rho = 1;
        if (sel == 3) rho = -1;
        c[i] = rho * sqrt(a[i] * b[i]);
        th[i] = tu_normal(r);
    }
}

/* Scale about one lane in five out of every map's fast range (entk.h, "the maps at every scale"):
 * k11, k22 by 2^2p, 2^2q (p, q in [-510, 510]) or by 1e300 and 1e-300 (either way round), k12 by the
 * geometric mean; so vector blocks with an extreme lane take the slow path in the loop and the tail. */
static inline void tu_map_extreme(tu_rng *r, size_t n, double *a, double *b, double *c) {
    size_t i;
    for (i = 0; i < n; ++i) {
        unsigned sel = (unsigned)(tu_next(r) % 10);
        double sa = 1, sb = 1;
        if (sel == 0 || sel == 1) {
            sa = ldexp(1.0, 2 * ((int)(tu_next(r) % 1021) - 510));
            sb = ldexp(1.0, 2 * ((int)(tu_next(r) % 1021) - 510));
        } else if (sel == 2) {
            unsigned k = (unsigned)(tu_next(r) % 4);
            sa = k & 1 ? 1e300 : 1e-300;
            sb = k & 2 ? 1e300 : 1e-300;
        } else {
            continue;
        }
        a[i] *= sa;
        b[i] *= sb;
        c[i] *= sqrt(sa) * sqrt(sb);
    }
}

/* Path `path` against the scalar oracle for one map: lengths 0..67, inc11/inc22 in {0,1}, theta NULL or
 * not, out of place and in place; extreme != 0 mixes in lanes of tu_map_extreme. Returns the number of
 * failures (budget exceeded or non-finite) and the worst scaled-ULP errors seen. */
static inline int tu_map_compare_ex(entk_simd path, const tu_map_case *mc, int extreme, double *worst_t,
                                    double *worst_d) {
    enum { N = 67 };
    double a[N + 1], b[N + 1], c[N + 1], th[N + 1], t0[N + 1], d0[N + 1], t1[N + 1], d1[N + 1];
    size_t n;
    int fails = 0, inc, wth, inpl;
    entk_nonlin f;
    memset(&f, 0, sizeof f);
    f.kind = mc->kind;
    f.a = mc->a;
    *worst_t = *worst_d = 0;
    for (n = 0; n <= N; ++n)
        for (inc = 0; inc < 4; ++inc)
            for (wth = 0; wth < 2; ++wth)
                for (inpl = 0; inpl < 2; ++inpl) {
                    tu_rng r;
                    size_t i, i1 = (size_t)(inc & 1), i2 = (size_t)(inc >> 1);
                    r.s = 1000003u * n + 17u * (unsigned)inc + 7u;
                    tu_map_inputs(&r, N, a, b, c, th);
                    if (extreme) tu_map_extreme(&r, N, a, b, c);
                    if (!i1 || !i2) /* a broadcast variance with the others: keep |k12| <= sqrt(k11 k22) */
                        for (i = 0; i < n; ++i) {
                            double lim = sqrt(a[i * i1]) * sqrt(b[i * i2]);
                            if (fabs(c[i]) > lim) c[i] = c[i] > 0 ? lim : -lim;
                        }
                    if (entk_simd_set(ENTK_SIMD_SCALAR) != ENTK_OK) return fails + 1;
                    if (entk_nonlin_map(&f, n, a, i1, b, i2, c, wth ? th : NULL, t0, wth ? d0 : NULL))
                        return fails + 1;
                    if (entk_simd_set(path) != ENTK_OK) return fails + 1;
                    t1[n] = d1[n] = 12345.0; /* sentinel: nothing past n is written */
                    if (inpl) {
                        memcpy(t1, c, n * sizeof *c);
                        memcpy(d1, th, n * sizeof *th);
                        if (entk_nonlin_map(&f, n, a, i1, b, i2, t1, wth ? d1 : NULL, t1, wth ? d1 : NULL))
                            return fails + 1;
                    } else if (entk_nonlin_map(&f, n, a, i1, b, i2, c, wth ? th : NULL, t1,
                                               wth ? d1 : NULL)) {
                        return fails + 1;
                    }
                    if (t1[n] != 12345.0 || d1[n] != 12345.0) ++fails;
                    for (i = 0; i < n; ++i) {
                        double aa = a[i * i1], bb = b[i * i2];
                        double et = tu_map_err(t1[i], t0[i], tu_map_scale(mc, aa, bb, c[i], th[i], 0));
                        if (et > *worst_t) *worst_t = et;
                        if (et > mc->budget_t || !isfinite(t1[i])) ++fails;
                        if (wth) {
                            double ed = tu_map_err(d1[i], d0[i], tu_map_scale(mc, aa, bb, c[i], th[i], 1));
                            if (ed > *worst_d) *worst_d = ed;
                            if (ed > mc->budget_d || !isfinite(d1[i])) ++fails;
                        }
                    }
                }
    return fails;
}

static inline int tu_map_compare(entk_simd path, const tu_map_case *mc, double *worst_t, double *worst_d) {
    return tu_map_compare_ex(path, mc, 0, worst_t, worst_d);
}

/* Edge cases, 24 points processed as one vector call (so they go through the vector loop, not only the
 * tail): exact and rounded boundaries k12 = +-sqrt(k11 k22), zero variances, tiny (1e-300) and huge
 * (1e150) variances, k12 = 0. Every output finite and within the budget of the oracle. */
static inline int tu_map_edges(entk_simd path, const tu_map_case *mc, double *worst_t, double *worst_d) {
    enum { N = 24 };
    const double r6 = sqrt(6.0);
    double a[N] = {1, 1, 2, 2, 2, 2, 0, 0, 0, 3, 0, 1e-300, 1e-300, 1e-300, 1e150, 1e150, 1e150, 1e150,
                   2, 1e-300, 1e150, 5, 0.5, 1};
    double b[N] = {1, 1, 3, 3, 3, 3, 2, 0, 0, 0, 0, 1e-300, 1e-300, 2, 1e150, 1e150, 3e149, 1e150,
                   2, 1e-300, 1e150, 5, 0.5, 4};
    double c[N] = {1, -1, 0, 0, 0, 0, 0, 0, 1e-17, 0, -0.0, 1e-300, -1e-300, 0, 1e150, -1e150, 0, 3e149,
                   0, 0, 0, 5, -0.5, 2};
    double th[N], t0[N], d0[N], t1[N], d1[N];
    int i, fails = 0;
    entk_nonlin f;
    memset(&f, 0, sizeof f);
    f.kind = mc->kind;
    f.a = mc->a;
    c[2] = r6; c[3] = -r6;
    c[4] = nextafter(r6, 10); c[5] = -nextafter(r6, 10);   /* just outside the boundary (rounding) */
    c[18] = nextafter(2.0, 3);
    for (i = 0; i < N; ++i) th[i] = 1.0 + 0.25 * i;
    *worst_t = *worst_d = 0;
    if (entk_simd_set(ENTK_SIMD_SCALAR) || entk_nonlin_map(&f, N, a, 1, b, 1, c, th, t0, d0)) return 1;
    if (entk_simd_set(path) || entk_nonlin_map(&f, N, a, 1, b, 1, c, th, t1, d1)) return 1;
    for (i = 0; i < N; ++i) {
        double et = tu_map_err(t1[i], t0[i], tu_map_scale(mc, a[i], b[i], c[i], th[i], 0));
        double ed = tu_map_err(d1[i], d0[i], tu_map_scale(mc, a[i], b[i], c[i], th[i], 1));
        if (!isfinite(t0[i]) || !isfinite(d0[i]) || !isfinite(t1[i]) || !isfinite(d1[i])) ++fails;
        if (et > *worst_t) *worst_t = et;
        if (ed > *worst_d) *worst_d = ed;
        if (et > mc->budget_t || ed > mc->budget_d) ++fails;
    }
    return fails;
}
/* Dot products of the MLP first layer (a dense-only architecture gives K = x . x' / d) on `path`
 * against the scalar path and a long-double oracle, for n1 = 1..9 (every row-block size), n2 = 1..7,
 * d = 1..19 (every tail), with x2 given and x2 = NULL (upper triangle). Bound: both paths are within
 * (d + 2) eps sum_k |x_k x'_k| / d of the exact value (d products and sums, then the division), so
 * they are within twice that of each other. *worst = the largest error / bound seen. */
static inline int tu_dots_compare(entk_simd path, double *worst) {
    enum { NMAX = 9, DMAX = 19 };
    double x1[NMAX * DMAX], x2[NMAX * DMAX], k0[NMAX * NMAX], k1[NMAX * NMAX];
    size_t n1, n2, d, i, j, l;
    int fails = 0, sym;
    entk_arch arch;
    tu_rng r = {99};
    *worst = 0;
    if (entk_arch_parse("dense", &arch, NULL, 0)) return 1;
    for (d = 1; d <= DMAX; ++d)
        for (n1 = 1; n1 <= NMAX; ++n1)
            for (n2 = 1; n2 <= 7; ++n2)
                for (sym = 0; sym < 2; ++sym) {
                    const size_t m = sym ? n1 : n2;
                    const double *y = sym ? x1 : x2;
                    tu_fill_normal(&r, x1, n1 * d);
                    tu_fill_normal(&r, x2, n2 * d);
                    if (entk_simd_set(ENTK_SIMD_SCALAR) ||
                        entk_mlp_kernel(&arch, x1, n1, sym ? NULL : x2, n2, d, k0, m, NULL, 0, 1))
                        return fails + 1;
                    if (entk_simd_set(path) ||
                        entk_mlp_kernel(&arch, x1, n1, sym ? NULL : x2, n2, d, k1, m, NULL, 0, 1))
                        return fails + 1;
                    for (i = 0; i < n1; ++i)
                        for (j = 0; j < m; ++j) {
                            long double ex = 0;
                            double mag = 0, bound, e0, e1, e01;
                            for (l = 0; l < d; ++l) {
                                ex += (long double)x1[i * d + l] * y[j * d + l];
                                mag += fabs(x1[i * d + l] * y[j * d + l]);
                            }
                            ex /= (long double)d;
                            bound = (double)(d + 2) * 0x1.0p-53 * mag / (double)d;
                            e0 = fabs((double)((long double)k0[i * m + j] - ex)) / bound;
                            e1 = fabs((double)((long double)k1[i * m + j] - ex)) / bound;
                            e01 = fabs(k1[i * m + j] - k0[i * m + j]) / (2 * bound);
                            if (e1 > *worst) *worst = e1;
                            if (e01 > *worst) *worst = e01;
                            if (!(e0 <= 1 && e1 <= 1 && e01 <= 1)) ++fails;
                        }
                }
    return fails;
}

#ifdef ENTK_IMPLEMENTATION_DONE
#include <stdio.h>
#include <stdlib.h>
/* Private kernels are visible (the file carries the implementation): the row kernels of one path
 * (entk.h 9.5) against the scalar table's, bit for bit (all are plain adds and unfused multiplies, so
 * the paths promise the same bits), on lengths 0..67 (every vector body and tail) and at 4 offsets
 * from a malloc'd base (the AVX2 stream kernel aligns its stores). Each output buffer holds a sentinel
 * pattern outside [off, off + n), which must survive. affine and addto run in place: their outputs
 * are also inputs. Returns the number of failures and describes the first in msg. Shared by
 * tests/test_dispatch.c and tests/aarch64_check.c. */
enum { TU_RK_N = 67, TU_RK_OFF = 4, TU_RK_LEN = TU_RK_OFF + TU_RK_N + 3 };
static const uint64_t tu_rk_sentinel = 0x7ff4dead5eed1234u; /* a signalling-NaN pattern no kernel writes */

static inline void tu_rk_fill(double *buf, size_t off, const double *src, size_t n) {
    size_t i;
    for (i = 0; i < TU_RK_LEN; ++i) memcpy(buf + i, &tu_rk_sentinel, sizeof tu_rk_sentinel);
    if (src) memcpy(buf + off, src, n * sizeof *src);
}

static inline long tu_rk_check(const char *what, const double *want, const double *got, size_t off, size_t n,
                               char *msg, size_t msglen, long fails) {
    size_t i;
    if (memcmp(want + off, got + off, n * sizeof *got) != 0 && !fails++)
        snprintf(msg, msglen, "%s, n = %zu, offset %zu: differs from scalar", what, n, off);
    for (i = 0; i < TU_RK_LEN; ++i) {
        if (i >= off && i < off + n) continue;
        if (memcmp(got + i, &tu_rk_sentinel, sizeof tu_rk_sentinel) != 0 ||
            memcmp(want + i, &tu_rk_sentinel, sizeof tu_rk_sentinel) != 0) {
            if (!fails++)
                snprintf(msg, msglen, "%s, n = %zu, offset %zu: element %zu outside the output was written",
                         what, n, off, i);
            break;
        }
    }
    return fails;
}

/* lincomb (y += A^T-style linear combinations of rows, entk_so3.h's DFTs) of one path against the
 * scalar table's, bit for bit, and the scalar kernel against the sums it promises (to (k + 2) eps of
 * |y| plus the sum of |terms|: the rounding of k - 1 adds and the final one, and of the reference): m = 0..9 output rows (every 4-row block and remainder), k = 0..5 input rows, lengths
 * 0..67, coefficients by column (acs = 1) and by row (ars = 1), rows of x and y with gaps holding
 * sentinels, which must survive (as must y where k = 0). Returns the number of failures. */
enum { TU_LC_M = 9, TU_LC_K = 5, TU_LC_LDY = TU_RK_N + 3, TU_LC_LDX = TU_RK_N + 1 };
static inline long tu_lincomb_compare(const entk__kernels *s, const entk__kernels *v, char *msg, size_t msglen,
                                      long fails) {
    const size_t ylen = TU_LC_M * TU_LC_LDY;
    double *ys = malloc(ylen * sizeof *ys), *yv = malloc(ylen * sizeof *yv), *y0 = malloc(ylen * sizeof *y0);
    double *x = malloc(TU_LC_K * TU_LC_LDX * sizeof *x), a[TU_LC_M * TU_LC_K];
    size_t m, k, n, i, j, p;
    int byrow;
    tu_rng r = {123};
    tu_fill_normal(&r, x, TU_LC_K * TU_LC_LDX);
    tu_fill_normal(&r, a, TU_LC_M * TU_LC_K);
    for (i = 0; i < TU_LC_K * TU_LC_LDX; ++i) x[i] *= 1.0 + 1e3 * tu_unif(&r); /* mixed scales */
    for (i = 0; i < ylen; ++i) y0[i] = tu_unif(&r) - 0.5;
    for (m = 0; m <= TU_LC_M; ++m)
        for (k = 0; k <= TU_LC_K; ++k)
            for (n = 0; n <= TU_RK_N; ++n)
                for (byrow = 0; byrow < 2; ++byrow) {
                    const size_t ars = byrow ? 1 : TU_LC_K, acs = byrow ? TU_LC_M : 1;
                    for (i = 0; i < ylen; ++i) {
                        const int out = i % TU_LC_LDY >= n || i / TU_LC_LDY >= m;
                        if (out) memcpy(ys + i, &tu_rk_sentinel, sizeof tu_rk_sentinel);
                        else ys[i] = y0[i];
                    }
                    memcpy(yv, ys, ylen * sizeof *ys);
                    s->lincomb(m, k, a, ars, acs, x, TU_LC_LDX, ys, TU_LC_LDY, n);
                    v->lincomb(m, k, a, ars, acs, x, TU_LC_LDX, yv, TU_LC_LDY, n);
                    if (memcmp(ys, yv, ylen * sizeof *ys) != 0 && !fails++)
                        snprintf(msg, msglen, "lincomb m = %zu, k = %zu, n = %zu%s: differs from scalar", m, k, n,
                                 byrow ? " (coefficients by row)" : "");
                    for (i = 0; i < ylen; ++i) {
                        const size_t row = i / TU_LC_LDY, col = i % TU_LC_LDY;
                        if (row >= m || col >= n) {
                            if (memcmp(ys + i, &tu_rk_sentinel, sizeof tu_rk_sentinel) != 0 && !fails++)
                                snprintf(msg, msglen, "lincomb m = %zu, k = %zu, n = %zu: element %zu written", m, k,
                                         n, i);
                            continue;
                        }
                        {
                            double want = 0, mag = 0;
                            for (p = 0; p < k; ++p) {
                                const double t = a[row * ars + p * acs] * x[p * TU_LC_LDX + col];
                                want += t;
                                mag += fabs(t);
                            }
                            j = k == 0 ? ys[i] != y0[i] : fabs(ys[i] - (y0[i] + want)) >
                                                      (double)(k + 2) * DBL_EPSILON * (mag + fabs(y0[i]));
                            if (j && !fails++)
                                snprintf(msg, msglen, "lincomb m = %zu, k = %zu, n = %zu: (%zu, %zu) is %.17g, not %.17g",
                                         m, k, n, row, col, ys[i], y0[i] + want);
                        }
                    }
                }
    free(ys); free(yv); free(y0); free(x);
    return fails;
}

static inline long tu_row_kernels_compare(const entk__kernels *s, const entk__kernels *v, char *msg,
                                          size_t msglen) {
    double *in[4], *ws = malloc(TU_RK_LEN * sizeof *ws), *wv = malloc(TU_RK_LEN * sizeof *wv);
    double *ts = malloc(TU_RK_LEN * sizeof *ts), *tv = malloc(TU_RK_LEN * sizeof *tv);
    size_t n, off, i;
    long fails = 0;
    tu_rng r = {99};
    if (msglen) msg[0] = 0;
    for (i = 0; i < 4; ++i) {
        size_t j;
        in[i] = malloc(TU_RK_LEN * sizeof *in[i]);
        tu_fill_normal(&r, in[i], TU_RK_LEN);
        for (j = 0; j < TU_RK_LEN; ++j) in[i][j] *= 1.0 + 1e3 * tu_unif(&r); /* mixed scales: rounding shows */
    }
    for (n = 0; n <= TU_RK_N; ++n)
        for (off = 0; off < TU_RK_OFF; ++off) {
            const double *a = in[0] + off, *b = in[1] + off, *c = in[2] + off;
            /* affine with t, in place on k and t */
            tu_rk_fill(ws, off, a, n); tu_rk_fill(wv, off, a, n);
            tu_rk_fill(ts, off, b, n); tu_rk_fill(tv, off, b, n);
            s->affine(ws + off, ts + off, n, 1.7, 0.3);
            v->affine(wv + off, tv + off, n, 1.7, 0.3);
            fails = tu_rk_check("affine k", ws, wv, off, n, msg, msglen, fails);
            fails = tu_rk_check("affine t", ts, tv, off, n, msg, msglen, fails);
            /* affine without t */
            tu_rk_fill(ws, off, c, n); tu_rk_fill(wv, off, c, n);
            s->affine(ws + off, NULL, n, 0.9, 1.1);
            v->affine(wv + off, NULL, n, 0.9, 1.1);
            fails = tu_rk_check("affine (no t)", ws, wv, off, n, msg, msglen, fails);
            /* sum3 into a fresh output */
            tu_rk_fill(ws, off, NULL, n); tu_rk_fill(wv, off, NULL, n);
            s->sum3(a, b, c, ws + off, n);
            v->sum3(a, b, c, wv + off, n);
            fails = tu_rk_check("sum3", ws, wv, off, n, msg, msglen, fails);
            /* addto: the output is also the accumulator */
            tu_rk_fill(ws, off, in[3] + off, n); tu_rk_fill(wv, off, in[3] + off, n);
            s->addto(a, ws + off, n);
            v->addto(a, wv + off, n);
            fails = tu_rk_check("addto", ws, wv, off, n, msg, msglen, fails);
            /* stream (non-temporal where the path has it), then the fence; the result is a copy */
            tu_rk_fill(ws, off, NULL, n); tu_rk_fill(wv, off, NULL, n);
            s->stream(b, ws + off, n);
            s->fence();
            v->stream(b, wv + off, n);
            v->fence();
            fails = tu_rk_check("stream", ws, wv, off, n, msg, msglen, fails);
            if (memcmp(wv + off, b, n * sizeof *b) != 0 && !fails++)
                snprintf(msg, msglen, "stream, n = %zu, offset %zu: not a copy", n, off);
        }
    for (i = 0; i < 4; ++i) free(in[i]);
    free(ws); free(wv); free(ts); free(tv);
    return tu_lincomb_compare(s, v, msg, msglen, fails);
}
#endif /* ENTK_IMPLEMENTATION_DONE */

/* Write the rows x cols matrix a (row-major) as a Fortran-order .npy file, as np.save(np.asfortranarray(a))
 * would hold it: the entk writer's C-order file of a^T, with the header's order flag and shape patched
 * (the same lengths, so the data offset stays). Criterion binaries only (asserts). */
#ifdef cr_assert_eq
#include <stdio.h>
static inline void tu_put_fortran(const char *path, const double *a, size_t rows, size_t cols) {
    double *t = (double *)malloc(rows * cols * sizeof *t);
    size_t shape[2] = {cols, rows}, len, i, j;
    unsigned char *buf;
    char from[64], to[64], *p;
    FILE *f;
    cr_assert(t);
    for (i = 0; i < rows; ++i)
        for (j = 0; j < cols; ++j) t[j * rows + i] = a[i * cols + j];
    cr_assert_eq(entk_npy_write_mem(t, 2, shape, NULL, 0, &len), ENTK_OK);
    buf = (unsigned char *)malloc(len + 1);
    cr_assert(buf);
    cr_assert_eq(entk_npy_write_mem(t, 2, shape, buf, len, &len), ENTK_OK);
    buf[len] = 0;
    p = strstr((char *)buf + 10, "False");
    cr_assert(p);
    memcpy(p, "True ", 5);
    snprintf(from, sizeof from, "(%zu, %zu)", cols, rows);
    snprintf(to, sizeof to, "(%zu, %zu)", rows, cols);
    p = strstr((char *)buf + 10, from);
    cr_assert(p);
    memcpy(p, to, strlen(to));
    f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
    free(buf);
    free(t);
}
#endif

/* Parse an architecture the test relies on; a parse failure fails the test (Criterion binaries only). */
#ifdef cr_assert_eq
/* The avx2 and avx512 variants of the test matrix (-DENTK_VECTOR=1 / 3) force a path, which entk takes
 * as given (entk.h 9.2): on a CPU without it (AVX2+FMA; AVX-512F/DQ/VL with the OS enabling the ZMM
 * state) their tests would die of an illegal instruction. There each binary says so in one line
 * starting "entk-skip:" and exits 0 before Criterion starts; scripts/run-tests.sh counts it as skipped.
 * Where the CPU has the path, the default variant (run-time dispatch: AVX-512, else AVX2) already runs
 * one of the two, so that variant's binaries skip the same way (ENTK_TEST_FORCED_ALL=1 runs them). */
#if defined(ENTK_VECTOR) && (ENTK_VECTOR == 1 || ENTK_VECTOR == 3)
#include <stdio.h>
__attribute__((constructor)) static void tu_skip_without_forced_path(void) {
    const char *all = getenv("ENTK_TEST_FORCED_ALL");
    const int has512 = entk_simd_set(ENTK_SIMD_AVX512) == ENTK_OK; /* asks the CPU and the OS */
    if (entk_simd_set((entk_simd)ENTK_VECTOR) != ENTK_OK)
        printf("entk-skip: this CPU or OS lacks %s, which this ENTK_VECTOR=%d build needs: no test run\n",
               ENTK_VECTOR == 3 ? "AVX-512F/DQ/VL" : "AVX2+FMA", ENTK_VECTOR);
    else if ((has512 ? 3 : 1) == ENTK_VECTOR && !(all && *all && strcmp(all, "0") != 0))
        printf("entk-skip: the default variant runs this path on this CPU (ENTK_TEST_FORCED_ALL=1 runs it "
               "anyway)\n");
    else
        return;
    fflush(stdout);
    exit(0);
}
#endif /* ENTK_VECTOR == 1 or 3 */
/* Every SIMD path this build and CPU can run, the scalar path first (at most TU_MAX_PATHS); leaves the
 * scalar path set. */
#define TU_MAX_PATHS 4
static inline int tu_paths(entk_simd *p) {
    int n = 0;
    p[n++] = ENTK_SIMD_SCALAR;
    if (entk_simd_set(ENTK_SIMD_AVX2) == ENTK_OK) p[n++] = ENTK_SIMD_AVX2;
    if (entk_simd_set(ENTK_SIMD_NEON) == ENTK_OK) p[n++] = ENTK_SIMD_NEON;
    if (entk_simd_set(ENTK_SIMD_AVX512) == ENTK_OK) p[n++] = ENTK_SIMD_AVX512;
    entk_simd_set(ENTK_SIMD_SCALAR);
    return n;
}

/* A progress callback that checks its reports (entk_set_progress): done values never decrease, stay in
 * 1..total, and two reports never overlap; it keeps the last done, the total and how often done ==
 * total was reported. */
typedef struct { size_t calls, last, total, bad, finals; int inside; } tu_prog_rec;
static inline void tu_prog_cb(void *user, size_t done, size_t total) {
    tu_prog_rec *r = (tu_prog_rec *)user;
    int in;
#ifdef _OPENMP
#pragma omp atomic capture
#endif
    in = ++r->inside;
    if (in != 1 || done < r->last || done > total || done == 0) ++r->bad;
    r->last = done;
    r->total = total;
    r->finals += done == total;
    ++r->calls;
#ifdef _OPENMP
#pragma omp atomic
#endif
    --r->inside;
}

/* n zeroed doubles (at least one); running out of memory fails the test */
static inline double *tu_xalloc(size_t n) {
    double *p = (double *)calloc(n ? n : 1, sizeof *p);
    cr_assert(p != NULL);
    return p;
}
/* n N(0, 1) values from the stream of seed, in a tu_xalloc array */
static inline double *tu_normal_alloc(size_t n, uint64_t seed) {
    tu_rng r;
    double *x = tu_xalloc(n);
    r.s = seed;
    tu_fill_normal(&r, x, n);
    return x;
}

/* Bias-free relu networks are homogeneous of degree 2: the kernels of c x are c^2 times those of x.
 * Expects k1 / c^2 = k0 and t1 / c^2 = t0 for each of the n entries, to 1e-14 relative. */
static inline void tu_expect_degree2(double c, const double *k0, const double *t0, const double *k1,
                                     const double *t1, size_t n) {
    size_t i;
    for (i = 0; i < n; ++i) {
        cr_expect(fabs(k1[i] / (c * c) - k0[i]) <= 1e-14 * fabs(k0[i]), "scale %g entry %zu: K %.17g vs %.17g", c, i,
                  k1[i] / (c * c), k0[i]);
        cr_expect(fabs(t1[i] / (c * c) - t0[i]) <= 1e-14 * fabs(t0[i]), "scale %g entry %zu: NTK %.17g vs %.17g", c,
                  i, t1[i] / (c * c), t0[i]);
    }
}

static inline entk_arch tu_parse(const char *s) {
    entk_arch a;
    char err[160];
    entk_status st = entk_arch_parse(s, &a, err, sizeof err);
    cr_assert_eq(st, ENTK_OK, "parse '%s': %s", s, err);
    return a;
}
#endif
#endif
