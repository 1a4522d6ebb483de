/* Harmonic analysis of entk_so3.h: Wigner d, D and real Delta, real spherical harmonics, the
 * Driscoll-Healy grids and quadrature, the S^2 and SO(3) transforms and the rotation of S^2
 * coefficients, each against an independent formula or identity (docs/conventions.md §1.5). */
#include <criterion/criterion.h>
#include <complex.h>
#include <stdlib.h>
#include "testutil.h"
#include "entk_so3.h"

#define PI 3.14159265358979323846

static size_t off(int l) { return (size_t)l * (size_t)(4 * l * l - 1) / 3; }
static double *dalloc(size_t n) {
    double *p = (double *)malloc((n ? n : 1) * sizeof *p);
    cr_assert(p);
    return p;
}

/* ---- references: explicit Wigner sum in long double, rotation matrices, Euler angles ---------- */

static long double lfact(int n) {
    long double r = 1;
    int i;
    for (i = 2; i <= n; ++i) r *= i;
    return r;
}
/* d^l_{mn}(b) = sum_k (-1)^{m-n+k} sqrt((l+m)!(l-m)!(l+n)!(l-n)!) / ((l+n-k)! k! (m-n+k)! (l-m-k)!)
 *               cos(b/2)^{2l+n-m-2k} sin(b/2)^{m-n+2k} */
static long double d_explicit(int l, int m, int n, long double b) {
    const long double c = cosl(b / 2), s = sinl(b / 2);
    const long double pre = sqrtl(lfact(l + m) * lfact(l - m) * lfact(l + n) * lfact(l - n));
    long double sum = 0;
    int k;
    for (k = 0; k <= 2 * l; ++k) {
        long double t;
        if (l + n - k < 0 || m - n + k < 0 || l - m - k < 0) continue;
        t = pre / (lfact(l + n - k) * lfact(k) * lfact(m - n + k) * lfact(l - m - k));
        t *= powl(c, 2 * l + n - m - 2 * k) * powl(s, m - n + 2 * k);
        sum += ((m - n + k) & 1) ? -t : t;
    }
    return sum;
}

typedef struct { double r[3][3]; } rot3;
static rot3 rz(double a) {
    rot3 R = {{{cos(a), -sin(a), 0}, {sin(a), cos(a), 0}, {0, 0, 1}}};
    return R;
}
static rot3 ry(double b) {
    rot3 R = {{{cos(b), 0, sin(b)}, {0, 1, 0}, {-sin(b), 0, cos(b)}}};
    return R;
}
static rot3 mul(rot3 A, rot3 B) {
    rot3 C;
    int i, j, k;
    for (i = 0; i < 3; ++i)
        for (j = 0; j < 3; ++j) {
            C.r[i][j] = 0;
            for (k = 0; k < 3; ++k) C.r[i][j] += A.r[i][k] * B.r[k][j];
        }
    return C;
}
static rot3 euler(double a, double b, double g) { return mul(rz(a), mul(ry(b), rz(g))); }
/* ZYZ angles of R (beta strictly inside (0, pi)) */
static void angles(rot3 R, double *a, double *b, double *g) {
    *b = atan2(sqrt(R.r[0][2] * R.r[0][2] + R.r[1][2] * R.r[1][2]), R.r[2][2]);
    *a = atan2(R.r[1][2], R.r[0][2]);
    *g = atan2(R.r[2][1], -R.r[2][0]);
}
/* R^T v */
static void apply_inv(rot3 R, const double v[3], double out[3]) {
    int i;
    for (i = 0; i < 3; ++i) out[i] = R.r[0][i] * v[0] + R.r[1][i] * v[1] + R.r[2][i] * v[2];
}
static void sph(const double v[3], double *th, double *ph) {
    *th = atan2(sqrt(v[0] * v[0] + v[1] * v[1]), v[2]);
    *ph = atan2(v[1], v[0]);
}
static void rand_euler(tu_rng *r, double *a, double *b, double *g) {
    *a = 2 * PI * tu_unif(r);
    *b = 0.05 + (PI - 0.1) * tu_unif(r);
    *g = 2 * PI * tu_unif(r);
}

/* ---- Wigner d -------------------------------------------------------------------------------- */

/* max over l in [l0, l1] of max |sum_n d_mn d_m'n - delta_mm'| */
static double unitarity(const double *d, int l0, int l1) {
    double e = 0;
    int l, m, p, n;
    for (l = l0; l <= l1; ++l) {
        const double *b = d + off(l);
        const int w = 2 * l + 1;
        for (m = 0; m < w; ++m)
            for (p = m; p < w; ++p) {
                double s = 0;
                for (n = 0; n < w; ++n) s += b[m * w + n] * b[p * w + n];
                s -= m == p;
                if (!(fabs(s) <= e)) e = fabs(s);
            }
    }
    return e;
}

Test(wigner_d, unitarity_to_l64) {
    static const double betas[] = {0.0, 1e-9, 1e-3, 0.3, 1.0, PI / 2, 2.5, PI - 1e-7, PI, -0.7, 7.0};
    double *d = dalloc(entk_so3_packed_len(65));
    size_t i;
    for (i = 0; i < sizeof betas / sizeof *betas; ++i) {
        double e;
        cr_assert_eq(entk_so3_wigner_d(65, betas[i], d), ENTK_OK);
        e = unitarity(d, 0, 64);
        cr_assert(e <= 1e-12, "beta %g: unitarity error %g", betas[i], e);
    }
    free(d);
}

Test(wigner_d, unitarity_to_l128) {
    static const double betas[] = {1e-6, 1.0, PI - 1e-4};
    double *d = dalloc(entk_so3_packed_len(129));
    size_t i;
    for (i = 0; i < sizeof betas / sizeof *betas; ++i) {
        double e;
        cr_assert_eq(entk_so3_wigner_d(129, betas[i], d), ENTK_OK);
        e = unitarity(d, 120, 128);
        cr_assert(e <= 1e-12, "beta %g: unitarity error %g at l 120..128", betas[i], e);
    }
    free(d);
}

Test(wigner_d, explicit_sum_small_l) {
    static const double betas[] = {0.0, 1e-5, 0.4, 1.3, PI / 2, 2.2, 3.0, PI};
    double *d = dalloc(entk_so3_packed_len(11));
    size_t i;
    int l, m, n;
    for (i = 0; i < sizeof betas / sizeof *betas; ++i) {
        cr_assert_eq(entk_so3_wigner_d(11, betas[i], d), ENTK_OK);
        for (l = 0; l <= 10; ++l)
            for (m = -l; m <= l; ++m)
                for (n = -l; n <= l; ++n) {
                    const double v = d[off(l) + (size_t)((m + l) * (2 * l + 1) + n + l)];
                    const double ref = (double)d_explicit(l, m, n, betas[i]);
                    cr_assert(fabs(v - ref) <= 1e-13, "beta %g d^%d_%d,%d = %.17g, explicit %.17g", betas[i], l, m,
                              n, v, ref);
                }
    }
    free(d);
}

Test(wigner_d, closed_forms_l1_l2) {
    double d[35];
    const double b = 0.83, c = cos(b), s = sin(b);
#define D(l, m, n) d[off(l) + (size_t)(((m) + (l)) * (2 * (l) + 1) + (n) + (l))]
    cr_assert_eq(entk_so3_wigner_d(3, b, d), ENTK_OK);
    cr_assert_float_eq(D(0, 0, 0), 1.0, 1e-15);
    cr_assert_float_eq(D(1, 1, 1), (1 + c) / 2, 1e-15);
    cr_assert_float_eq(D(1, 1, 0), -s / sqrt(2.0), 1e-15);
    cr_assert_float_eq(D(1, 0, 1), s / sqrt(2.0), 1e-15);
    cr_assert_float_eq(D(1, 1, -1), (1 - c) / 2, 1e-15);
    cr_assert_float_eq(D(1, 0, 0), c, 1e-15);
    cr_assert_float_eq(D(1, -1, 0), s / sqrt(2.0), 1e-15);
    cr_assert_float_eq(D(2, 2, 2), (1 + c) * (1 + c) / 4, 1e-15);
    cr_assert_float_eq(D(2, 2, 1), -(1 + c) * s / 2, 1e-15);
    cr_assert_float_eq(D(2, 2, 0), sqrt(3.0 / 8.0) * s * s, 1e-15);
    cr_assert_float_eq(D(2, 2, -1), -(1 - c) * s / 2, 1e-15);
    cr_assert_float_eq(D(2, 2, -2), (1 - c) * (1 - c) / 4, 1e-15);
    cr_assert_float_eq(D(2, 1, 1), (1 + c) * (2 * c - 1) / 2, 1e-15);
    cr_assert_float_eq(D(2, 1, 0), -sqrt(1.5) * s * c, 1e-15);
    cr_assert_float_eq(D(2, 1, -1), (1 - c) * (2 * c + 1) / 2, 1e-15);
    cr_assert_float_eq(D(2, 0, 0), (3 * c * c - 1) / 2, 1e-15);
    /* the symmetries d_mn = (-1)^{m-n} d_nm = d_{-n,-m} on the whole l = 2 block */
    {
        int m, n;
        for (m = -2; m <= 2; ++m)
            for (n = -2; n <= 2; ++n) {
                cr_assert_float_eq(D(2, m, n), (((m - n) & 1) ? -1 : 1) * D(2, n, m), 1e-15);
                cr_assert_float_eq(D(2, m, n), D(2, -n, -m), 1e-15);
            }
    }
#undef D
}

/* ---- complex D ------------------------------------------------------------------------------- */

typedef struct { double *re, *im; } cmat;
static double complex Dat(cmat M, int l, int m, int n) {
    const size_t e = off(l) + (size_t)((m + l) * (2 * l + 1) + n + l);
    return M.re[e] + I * M.im[e];
}

Test(wigner_D, unitary_and_homomorphism) {
    const int L = 13;
    const size_t P = entk_so3_packed_len(L);
    cmat A = {dalloc(P), dalloc(P)}, Bm = {dalloc(P), dalloc(P)}, C = {dalloc(P), dalloc(P)};
    tu_rng r = {11};
    int it, l, m, n, k;
    double eu = 0, eh = 0;
    for (it = 0; it < 20; ++it) {
        double a1, b1, g1, a2, b2, g2, a, b, g;
        rand_euler(&r, &a1, &b1, &g1);
        rand_euler(&r, &a2, &b2, &g2);
        angles(mul(euler(a1, b1, g1), euler(a2, b2, g2)), &a, &b, &g);
        cr_assert_eq(entk_so3_wigner_D(L, a1, b1, g1, A.re, A.im), ENTK_OK);
        cr_assert_eq(entk_so3_wigner_D(L, a2, b2, g2, Bm.re, Bm.im), ENTK_OK);
        cr_assert_eq(entk_so3_wigner_D(L, a, b, g, C.re, C.im), ENTK_OK);
        for (l = 0; l < L; ++l)
            for (m = -l; m <= l; ++m)
                for (n = -l; n <= l; ++n) {
                    double complex s = 0, u = 0;
                    for (k = -l; k <= l; ++k) {
                        s += Dat(A, l, m, k) * Dat(Bm, l, k, n);
                        u += Dat(A, l, m, k) * conj(Dat(A, l, n, k));
                    }
                    u -= m == n;
                    if (cabs(s - Dat(C, l, m, n)) > eh) eh = cabs(s - Dat(C, l, m, n));
                    if (cabs(u) > eu) eu = cabs(u);
                }
    }
    cr_assert(eu <= 1e-12, "unitarity error %g", eu);
    cr_assert(eh <= 1e-12, "homomorphism error %g", eh);
    /* the phases: D^1_{10}(a, b, g) = e^{-i a} d^1_{10}(b) */
    cr_assert_eq(entk_so3_wigner_D(2, 0.4, 0.9, -1.1, A.re, A.im), ENTK_OK);
    cr_assert(cabs(Dat(A, 1, 1, 0) - cexp(-0.4 * I) * (-sin(0.9) / sqrt(2.0))) < 1e-15);
    cr_assert(cabs(Dat(A, 1, 0, -1) - cexp(-1.1 * I) * (-sin(0.9) / sqrt(2.0))) < 1e-15);
    free(A.re); free(A.im); free(Bm.re); free(Bm.im); free(C.re); free(C.im);
}

/* ---- real harmonics and real Delta ---------------------------------------------------------- */

Test(real_sh, closed_forms) {
    static const double pts[][2] = {{0.0, 0.0}, {0.7, 2.1}, {PI / 2, -0.4}, {2.9, 5.5}, {PI, 1.0}};
    double y[9];
    size_t i;
    for (i = 0; i < sizeof pts / sizeof *pts; ++i) {
        const double th = pts[i][0], ph = pts[i][1];
        const double x = sin(th) * cos(ph), yy = sin(th) * sin(ph), z = cos(th);
        const double c1 = sqrt(3 / (4 * PI)), c2 = 0.5 * sqrt(15 / PI);
        cr_assert_eq(entk_so3_real_sh(3, th, ph, y), ENTK_OK);
        cr_assert_float_eq(y[0], 0.5 / sqrt(PI), 1e-15);
        cr_assert_float_eq(y[1], c1 * yy, 1e-15);
        cr_assert_float_eq(y[2], c1 * z, 1e-15);
        cr_assert_float_eq(y[3], c1 * x, 1e-15);
        cr_assert_float_eq(y[4], c2 * x * yy, 1e-15);
        cr_assert_float_eq(y[5], c2 * yy * z, 1e-15);
        cr_assert_float_eq(y[6], 0.25 * sqrt(5 / PI) * (3 * z * z - 1), 1e-15);
        cr_assert_float_eq(y[7], c2 * x * z, 1e-15);
        cr_assert_float_eq(y[8], 0.5 * c2 * (x * x - yy * yy), 1e-15);
    }
}

/* Gram matrix of the real harmonics l < L by the DH quadrature on the grid of band limit B */
static double sh_gram_error(int L, int B) {
    const int nt = 2 * B, np = 2 * B - 1, N = L * L;
    double *th = dalloc((size_t)nt), *ph = dalloc((size_t)np), *w = dalloc((size_t)nt), *y = dalloc((size_t)N);
    double *G = dalloc((size_t)N * N), e = 0;
    int j, k, a, b;
    cr_assert_eq(entk_so3_s2_nodes(B, th, ph), ENTK_OK);
    cr_assert_eq(entk_so3_s2_weights(B, w), ENTK_OK);
    memset(G, 0, (size_t)N * N * sizeof *G);
    for (j = 0; j < nt; ++j)
        for (k = 0; k < np; ++k) {
            cr_assert_eq(entk_so3_real_sh(L, th[j], ph[k], y), ENTK_OK);
            for (a = 0; a < N; ++a)
                for (b = 0; b < N; ++b) G[a * N + b] += w[j] * y[a] * y[b];
        }
    for (a = 0; a < N; ++a)
        for (b = 0; b < N; ++b) {
            const double v = fabs(G[a * N + b] - (a == b));
            if (!(v <= e)) e = v;
        }
    free(th); free(ph); free(w); free(y); free(G);
    return e;
}

Test(real_sh, orthonormal_by_dh_quadrature) {
    double e;
    e = sh_gram_error(12, 12);
    cr_assert(e <= 1e-13, "L = B = 12: Gram error %g", e);
    e = sh_gram_error(7, 11);
    cr_assert(e <= 1e-13, "L = 7, B = 11: Gram error %g", e);
    e = sh_gram_error(1, 1);
    cr_assert(e <= 1e-13, "L = B = 1: Gram error %g", e);
    /* one degree beyond the grid's band limit the quadrature is no longer exact */
    e = sh_gram_error(9, 8);
    cr_assert(e > 1e-6, "L = 9 on the B = 8 grid should alias, error %g", e);
}

/* the real basis: Yr_m = ((-1)^m Y^m + Y^-m)/sqrt2, Yr_-m = ((-1)^m Y^m - Y^-m)/(i sqrt2) (m > 0) with
 * Condon-Shortley complex Y; Delta = conj(U) D U^T. An independent route to Delta from D. */
static double complex Ucoef(int a, int m) {
    const double r = 1 / sqrt(2.0);
    const int mu = a < 0 ? -a : a;
    const double sg = (mu & 1) ? -1 : 1;
    if (a == 0) return m == 0;
    if (m == mu) return a > 0 ? sg * r : sg * r / I;
    if (m == -mu) return a > 0 ? r : -r / I;
    return 0;
}

Test(real_wigner, equals_basis_change_of_D) {
    const int L = 9;
    const size_t P = entk_so3_packed_len(L);
    cmat D = {dalloc(P), dalloc(P)};
    double *del = dalloc(P), e = 0;
    tu_rng r = {5};
    int it, l, a, b, p, q;
    for (it = 0; it < 5; ++it) {
        double al, be, ga;
        rand_euler(&r, &al, &be, &ga);
        cr_assert_eq(entk_so3_wigner_D(L, al, be, ga, D.re, D.im), ENTK_OK);
        cr_assert_eq(entk_so3_real_wigner(L, al, be, ga, del), ENTK_OK);
        for (l = 0; l < L; ++l)
            for (a = -l; a <= l; ++a)
                for (b = -l; b <= l; ++b) {
                    double complex s = 0;
                    for (p = -l; p <= l; ++p)
                        for (q = -l; q <= l; ++q) s += conj(Ucoef(a, p)) * Dat(D, l, p, q) * Ucoef(b, q);
                    s -= del[off(l) + (size_t)((a + l) * (2 * l + 1) + b + l)];
                    if (cabs(s) > e) e = cabs(s);
                }
    }
    cr_assert(e <= 1e-13, "Delta vs conj(U) D U^T: %g", e);
    free(D.re); free(D.im); free(del);
}

Test(real_wigner, definition_at_random_points) {
    const int L = 12;
    double *del = dalloc(entk_so3_packed_len(L)), y[144], yr[144], e = 0;
    tu_rng r = {7};
    int it, l, m, n;
    for (it = 0; it < 30; ++it) {
        double al, be, ga, th, ph, v[3], u[3], th2, ph2;
        rot3 R;
        rand_euler(&r, &al, &be, &ga);
        R = euler(al, be, ga);
        th = acos(2 * tu_unif(&r) - 1);
        ph = 2 * PI * tu_unif(&r);
        v[0] = sin(th) * cos(ph); v[1] = sin(th) * sin(ph); v[2] = cos(th);
        apply_inv(R, v, u);
        sph(u, &th2, &ph2);
        cr_assert_eq(entk_so3_real_wigner(L, al, be, ga, del), ENTK_OK);
        cr_assert_eq(entk_so3_real_sh(L, th, ph, y), ENTK_OK);
        cr_assert_eq(entk_so3_real_sh(L, th2, ph2, yr), ENTK_OK);
        for (l = 0; l < L; ++l)
            for (m = -l; m <= l; ++m) {
                double s = 0;
                for (n = -l; n <= l; ++n) s += del[off(l) + (size_t)((n + l) * (2 * l + 1) + m + l)] * y[l * l + l + n];
                if (fabs(s - yr[l * l + l + m]) > e) e = fabs(s - yr[l * l + l + m]);
            }
    }
    cr_assert(e <= 1e-12, "Y(R^-1 y) - sum Delta Y(y): %g", e);
    free(del);
}

Test(real_wigner, orthogonal_homomorphism_inverse_l1) {
    const int L = 16;
    const size_t P = entk_so3_packed_len(L);
    double *A = dalloc(P), *Bm = dalloc(P), *C = dalloc(P), *Ai = dalloc(P), eo = 0, eh = 0, ei = 0;
    tu_rng r = {3};
    int it, l, m, n, k;
    for (it = 0; it < 10; ++it) {
        double a1, b1, g1, a2, b2, g2, a, b, g;
        rand_euler(&r, &a1, &b1, &g1);
        rand_euler(&r, &a2, &b2, &g2);
        angles(mul(euler(a1, b1, g1), euler(a2, b2, g2)), &a, &b, &g);
        cr_assert_eq(entk_so3_real_wigner(L, a1, b1, g1, A), ENTK_OK);
        cr_assert_eq(entk_so3_real_wigner(L, a2, b2, g2, Bm), ENTK_OK);
        cr_assert_eq(entk_so3_real_wigner(L, a, b, g, C), ENTK_OK);
        cr_assert_eq(entk_so3_real_wigner(L, -g1, -b1, -a1, Ai), ENTK_OK); /* R1^-1 */
        for (l = 0; l < L; ++l) {
            const int w = 2 * l + 1;
            const double *a_ = A + off(l), *b_ = Bm + off(l), *c_ = C + off(l), *ai = Ai + off(l);
            for (m = 0; m < w; ++m)
                for (n = 0; n < w; ++n) {
                    double s = 0, o = 0;
                    for (k = 0; k < w; ++k) {
                        s += a_[m * w + k] * b_[k * w + n];
                        o += a_[m * w + k] * a_[n * w + k];
                    }
                    o -= m == n;
                    if (fabs(s - c_[m * w + n]) > eh) eh = fabs(s - c_[m * w + n]);
                    if (fabs(o) > eo) eo = fabs(o);
                    if (fabs(ai[m * w + n] - a_[n * w + m]) > ei) ei = fabs(ai[m * w + n] - a_[n * w + m]);
                }
        }
        /* l = 1 is R itself in the order (y, z, x) */
        {
            static const int ax[3] = {1, 2, 0};
            const rot3 R = euler(a1, b1, g1);
            for (m = 0; m < 3; ++m)
                for (n = 0; n < 3; ++n) cr_assert_float_eq(A[off(1) + (size_t)(m * 3 + n)], R.r[ax[m]][ax[n]], 1e-14);
        }
    }
    cr_assert(eo <= 1e-12, "orthogonality %g", eo);
    cr_assert(eh <= 1e-12, "homomorphism %g", eh);
    cr_assert(ei <= 1e-12, "Delta(R^-1) = Delta(R)^T: %g", ei);
    free(A); free(Bm); free(C); free(Ai);
}

/* ---- grids and quadrature ------------------------------------------------------------------- */

Test(grid, nodes_and_weight_sums) {
    double th[16], ph[15], w[16], s = 0;
    int j;
    cr_assert_eq(entk_so3_s2_nodes(8, th, ph), ENTK_OK);
    for (j = 0; j < 16; ++j) cr_assert_float_eq(th[j], PI * (2 * j + 1) / 32, 1e-15);
    for (j = 0; j < 15; ++j) cr_assert_float_eq(ph[j], 2 * PI * j / 15, 1e-15);
    cr_assert_eq(entk_so3_so3_nodes(8, NULL, ph), ENTK_OK);
    cr_assert_float_eq(ph[14], 2 * PI * 14 / 15, 1e-15);
    cr_assert_eq(entk_so3_s2_weights(8, w), ENTK_OK);
    for (j = 0; j < 16; ++j) { s += 15 * w[j]; cr_assert(w[j] > 0); cr_assert_float_eq(w[j], w[15 - j], 1e-16); }
    cr_assert(fabs(s - 4 * PI) <= 1e-14 * 4 * PI, "S2 weights sum %.17g", s);
    cr_assert_eq(entk_so3_so3_weights(8, w), ENTK_OK);
    for (s = 0, j = 0; j < 16; ++j) s += 15 * 15 * w[j];
    cr_assert(fabs(s - 8 * PI * PI) <= 1e-14 * 8 * PI * PI, "SO3 weights sum %.17g", s);
}

/* sum_j w_j P_k(cos theta_j) = integral of P_k sin = 2 delta_k0 for k < 2L; not for k = 2L */
Test(grid, exact_on_legendre_below_2L) {
    static const int Ls[] = {1, 2, 5, 16, 33};
    size_t i;
    for (i = 0; i < sizeof Ls / sizeof *Ls; ++i) {
        const int L = Ls[i];
        double w[66], th[66];
        int k, j;
        cr_assert_eq(entk_so3_s2_weights(L, w), ENTK_OK);
        cr_assert_eq(entk_so3_s2_nodes(L, th, NULL), ENTK_OK);
        for (j = 0; j < 2 * L; ++j) w[j] *= (2 * L - 1) / (2 * PI); /* per-theta weights, sum 2 */
        for (k = 0; k <= 2 * L; ++k) {
            double s = 0;
            for (j = 0; j < 2 * L; ++j) {
                const double x = cos(th[j]);
                double p0 = 1, p1 = x, p = k == 0 ? 1 : x;
                int n;
                for (n = 2; n <= k; ++n) { p = ((2 * n - 1) * x * p1 - (n - 1) * p0) / n; p0 = p1; p1 = p; }
                s += w[j] * p;
            }
            if (k < 2 * L)
                cr_assert(fabs(s - (k == 0 ? 2 : 0)) <= 1e-13, "L %d: P_%d sum %g", L, k, s);
            else
                cr_assert(fabs(s) > 1e-8, "L %d: P_%d should not be integrated exactly (%g)", L, k, s);
        }
    }
}

/* integral of f g for random f, g of band limit L equals the coefficient dot product: S^2 and SO(3) */
Test(grid, exact_on_products_of_band_limited) {
    tu_rng r = {21};
    {
        const int L = 9, N = L * L, nt = 2 * L, np = 2 * L - 1;
        double a[81], b[81], y[81], th[18], ph[17], w[18], q = 0, ex = 0;
        int j, k, i;
        tu_fill_normal(&r, a, N);
        tu_fill_normal(&r, b, N);
        for (i = 0; i < N; ++i) ex += a[i] * b[i];
        entk_so3_s2_nodes(L, th, ph);
        entk_so3_s2_weights(L, w);
        for (j = 0; j < nt; ++j)
            for (k = 0; k < np; ++k) {
                double f = 0, g = 0;
                entk_so3_real_sh(L, th[j], ph[k], y);
                for (i = 0; i < N; ++i) { f += a[i] * y[i]; g += b[i] * y[i]; }
                q += w[j] * f * g;
            }
        cr_assert(fabs(q - ex) <= 1e-13 * fabs(ex), "S2: %.17g vs %.17g", q, ex);
    }
    {
        const int L = 4, B = 4, n = 2 * B - 1;
        const size_t P = entk_so3_packed_len(L);
        double c1[84], c2[84], del[84], be[8], al[7], w[8], q = 0, ex = 0;
        int j, k, m, l;
        size_t e;
        tu_fill_normal(&r, c1, P);
        tu_fill_normal(&r, c2, P);
        for (l = 0; l < L; ++l)
            for (e = off(l); e < off(l + 1); ++e) ex += 8 * PI * PI / (2 * l + 1) * c1[e] * c2[e];
        entk_so3_so3_nodes(B, be, al);
        entk_so3_so3_weights(B, w);
        for (j = 0; j < 2 * B; ++j)
            for (k = 0; k < n; ++k)
                for (m = 0; m < n; ++m) {
                    double f = 0, g = 0;
                    entk_so3_real_wigner(L, al[k], be[j], al[m], del);
                    for (e = 0; e < P; ++e) { f += c1[e] * del[e]; g += c2[e] * del[e]; }
                    q += w[j] * f * g;
                }
        cr_assert(fabs(q - ex) <= 1e-13 * fabs(ex), "SO3: %.17g vs %.17g", q, ex);
    }
}

/* ---- transforms ----------------------------------------------------------------------------- */

typedef struct { int L, B; } lb;
static const lb sizes_s2[] = {{1, 1}, {1, 3}, {2, 2}, {4, 4}, {4, 8}, {6, 12}, {16, 16}, {10, 17}};
static const lb sizes_so3[] = {{1, 1}, {1, 2}, {2, 2}, {3, 3}, {4, 8}, {6, 12}, {8, 9}};

static void make_plan(int kinds, int L, int B, entk_so3_plan *p, double **mem, double **work) {
    size_t pl, wl;
    cr_assert_eq(entk_so3_plan_size(kinds, L, B, &pl, &wl), ENTK_OK);
    *mem = dalloc(pl);
    *work = dalloc(wl);
    cr_assert_eq(entk_so3_plan_init(p, kinds, L, B, *mem), ENTK_OK);
    cr_assert_eq(p->work_len, wl);
}

Test(sht, round_trip_and_direct_synthesis) {
    size_t i;
    for (i = 0; i < sizeof sizes_s2 / sizeof *sizes_s2; ++i) {
        const int L = sizes_s2[i].L, B = sizes_s2[i].B, nt = 2 * B, np = 2 * B - 1, N = L * L;
        entk_so3_plan p;
        double *mem, *work, *a = dalloc((size_t)N), *back = dalloc((size_t)N), *f = dalloc((size_t)nt * np);
        double *y = dalloc((size_t)N), *th = dalloc((size_t)nt), *ph = dalloc((size_t)np), e = 0;
        tu_rng r = {100 + i};
        int j, k, t;
        make_plan(ENTK_SO3_PLAN_S2, L, B, &p, &mem, &work);
        tu_fill_normal(&r, a, (size_t)N);
        cr_assert_eq(entk_so3_plan_isht(&p, a, f, work), ENTK_OK);
        /* synthesis = the expansion evaluated at the nodes */
        entk_so3_s2_nodes(B, th, ph);
        for (j = 0; j < nt; ++j)
            for (k = 0; k < np; ++k) {
                double s = 0;
                entk_so3_real_sh(L, th[j], ph[k], y);
                for (t = 0; t < N; ++t) s += a[t] * y[t];
                if (fabs(s - f[j * np + k]) > e) e = fabs(s - f[j * np + k]);
            }
        cr_assert(e <= 1e-12, "L %d B %d: isht vs direct %g", L, B, e);
        cr_assert_eq(entk_so3_plan_sht(&p, f, back, work), ENTK_OK);
        e = tu_max_abs_diff(back, a, (size_t)N);
        cr_assert(e <= 1e-12, "L %d B %d: round trip %g", L, B, e);
        free(mem); free(work); free(a); free(back); free(f); free(y); free(th); free(ph);
    }
}

/* analysing a band-limit-B signal keeps its first L^2 coefficients exactly; one-call = plan forms */
Test(sht, truncation_and_one_call_forms) {
    const int B = 9, L = 5, nt = 2 * B, np = 2 * B - 1;
    entk_so3_plan p;
    double *mem, *work, a[81], lo[25], lo2[25], f[18 * 17], f2[18 * 17], *w1;
    size_t len;
    tu_rng r = {9};
    make_plan(ENTK_SO3_PLAN_S2, B, B, &p, &mem, &work);
    tu_fill_normal(&r, a, 81);
    cr_assert_eq(entk_so3_plan_isht(&p, a, f, work), ENTK_OK);
    cr_assert_eq(entk_so3_sht_work_size(B, L, &len), ENTK_OK);
    w1 = dalloc(len);
    cr_assert_eq(entk_so3_sht(B, L, f, lo, w1), ENTK_OK);
    cr_assert(tu_max_abs_diff(lo, a, 25) <= 1e-12);
    /* the plan form with (L, B) gives the same bits */
    free(mem); free(work);
    make_plan(ENTK_SO3_PLAN_S2, L, B, &p, &mem, &work);
    cr_assert_eq(entk_so3_plan_sht(&p, f, lo2, work), ENTK_OK);
    cr_assert(memcmp(lo, lo2, sizeof lo) == 0);
    cr_assert_eq(entk_so3_isht(L, B, lo, f, w1), ENTK_OK);
    cr_assert_eq(entk_so3_plan_isht(&p, lo, f2, work), ENTK_OK);
    cr_assert(memcmp(f, f2, (size_t)nt * np * sizeof *f) == 0);
    free(mem); free(work); free(w1);
}

Test(fft, round_trip_and_direct_synthesis) {
    size_t i;
    for (i = 0; i < sizeof sizes_so3 / sizeof *sizes_so3; ++i) {
        const int L = sizes_so3[i].L, B = sizes_so3[i].B, n = 2 * B - 1;
        const size_t P = entk_so3_packed_len(L), nf = (size_t)(2 * B) * n * n;
        entk_so3_plan p;
        double *mem, *work, *c = dalloc(P), *back = dalloc(P), *f = dalloc(nf), *del = dalloc(P), e = 0;
        double be[24], al[23];
        tu_rng r = {200 + i};
        int j, k, m;
        make_plan(ENTK_SO3_PLAN_SO3, L, B, &p, &mem, &work);
        tu_fill_normal(&r, c, P);
        cr_assert_eq(entk_so3_plan_ifft(&p, c, f, work), ENTK_OK);
        /* synthesis = sum c Delta(R) at the nodes (every node for small grids, a sample else) */
        entk_so3_so3_nodes(B, be, al);
        for (j = 0; j < 2 * B; ++j)
            for (k = 0; k < n; ++k)
                for (m = 0; m < n; ++m) {
                    double s = 0;
                    size_t t;
                    if (B > 4 && (j * 7 + k * 3 + m) % 11) continue;
                    entk_so3_real_wigner(L, al[k], be[j], al[m], del);
                    for (t = 0; t < P; ++t) s += c[t] * del[t];
                    s -= f[((size_t)j * n + k) * n + m];
                    if (fabs(s) > e) e = fabs(s);
                }
        cr_assert(e <= 1e-12, "L %d B %d: ifft vs direct %g", L, B, e);
        cr_assert_eq(entk_so3_plan_fft(&p, f, back, work), ENTK_OK);
        e = tu_max_abs_diff(back, c, P);
        cr_assert(e <= 1e-12, "L %d B %d: round trip %g", L, B, e);
        free(mem); free(work); free(c); free(back); free(f); free(del);
    }
}

Test(fft, truncation_and_one_call_forms) {
    const int B = 7, L = 4, n = 2 * B - 1;
    const size_t P = entk_so3_packed_len(B), PL = entk_so3_packed_len(L), nf = (size_t)(2 * B) * n * n;
    entk_so3_plan p;
    double *mem, *work, *c = dalloc(P), *lo = dalloc(PL), *lo2 = dalloc(PL), *f = dalloc(nf), *f2 = dalloc(nf), *w1;
    size_t len;
    tu_rng r = {31};
    make_plan(ENTK_SO3_PLAN_SO3 | ENTK_SO3_PLAN_S2, B, B, &p, &mem, &work);
    tu_fill_normal(&r, c, P);
    cr_assert_eq(entk_so3_plan_ifft(&p, c, f, work), ENTK_OK);
    cr_assert_eq(entk_so3_fft_work_size(B, L, &len), ENTK_OK);
    w1 = dalloc(len);
    cr_assert_eq(entk_so3_fft(B, L, f, lo, w1), ENTK_OK);
    cr_assert(tu_max_abs_diff(lo, c, PL) <= 1e-12, "truncated analysis %g", tu_max_abs_diff(lo, c, PL));
    free(mem); free(work);
    make_plan(ENTK_SO3_PLAN_SO3, L, B, &p, &mem, &work);
    cr_assert_eq(entk_so3_plan_fft(&p, f, lo2, work), ENTK_OK);
    cr_assert(memcmp(lo, lo2, PL * sizeof *lo) == 0);
    cr_assert_eq(entk_so3_ifft(L, B, lo, f, w1), ENTK_OK);
    cr_assert_eq(entk_so3_plan_ifft(&p, lo, f2, work), ENTK_OK);
    cr_assert(memcmp(f, f2, nf * sizeof *f) == 0);
    free(mem); free(work); free(w1); free(c); free(lo); free(lo2); free(f); free(f2);
}

/* ---- rotation of S^2 signals ---------------------------------------------------------------- */

Test(rotate_sh, equals_resampling_at_rotated_points) {
    const int L = 10, N = L * L, B = 12, nt = 2 * B, np = 2 * B - 1;
    entk_so3_plan p;
    double *mem, *work, a[100], ar[100], ai[100], y[100], *del = dalloc(entk_so3_packed_len(L));
    double *f = dalloc((size_t)nt * np), th[24], ph[23], e = 0, ei = 0;
    tu_rng r = {41};
    int it, j, k, t;
    make_plan(ENTK_SO3_PLAN_S2, L, B, &p, &mem, &work);
    entk_so3_s2_nodes(B, th, ph);
    for (it = 0; it < 4; ++it) {
        double al, be, ga;
        rot3 R;
        rand_euler(&r, &al, &be, &ga);
        R = euler(al, be, ga);
        tu_fill_normal(&r, a, (size_t)N);
        cr_assert_eq(entk_so3_real_wigner(L, al, be, ga, del), ENTK_OK);
        cr_assert_eq(entk_so3_rotate_sh(L, del, a, ar), ENTK_OK);
        cr_assert_eq(entk_so3_plan_isht(&p, ar, f, work), ENTK_OK);
        for (j = 0; j < nt; ++j)
            for (k = 0; k < np; ++k) {
                double v[3], u[3], t2, p2, s = 0;
                v[0] = sin(th[j]) * cos(ph[k]); v[1] = sin(th[j]) * sin(ph[k]); v[2] = cos(th[j]);
                apply_inv(R, v, u);
                sph(u, &t2, &p2);
                entk_so3_real_sh(L, t2, p2, y);
                for (t = 0; t < N; ++t) s += a[t] * y[t];
                if (fabs(s - f[j * np + k]) > e) e = fabs(s - f[j * np + k]);
            }
        /* in place, and back by R^-1 */
        memcpy(ai, ar, sizeof ar);
        cr_assert_eq(entk_so3_real_wigner(L, -ga, -be, -al, del), ENTK_OK);
        cr_assert_eq(entk_so3_rotate_sh(L, del, ai, ai), ENTK_OK);
        if (tu_max_abs_diff(ai, a, (size_t)N) > ei) ei = tu_max_abs_diff(ai, a, (size_t)N);
    }
    cr_assert(e <= 1e-12, "rotated synthesis vs f(R^-1 y): %g", e);
    cr_assert(ei <= 1e-12, "rotation by R then R^-1: %g", ei);
    free(mem); free(work); free(del); free(f);
}

/* ---- arguments ------------------------------------------------------------------------------ */

Test(args, bad_arguments) {
    double buf[4096], y[16], w[8];
    entk_so3_plan p;
    size_t pl, wl;
    double *mem, *work, f[8 * 7], a[16];
    cr_assert_eq(entk_so3_packed_len(0), 0);
    cr_assert_eq(entk_so3_packed_len(3), 35);
    cr_assert_eq(entk_so3_wigner_d(0, 0.1, buf), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_wigner_d(513, 0.1, buf), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_wigner_d(3, 0.1, NULL), ENTK_ERR_INVALID_ARG);
    buf[0] = 42;
    cr_assert_eq(entk_so3_wigner_d(3, NAN, buf), ENTK_ERR_NONFINITE);
    cr_assert_eq(buf[0], 42);
    cr_assert_eq(entk_so3_wigner_d(3, INFINITY, buf), ENTK_ERR_NONFINITE);
    cr_assert_eq(entk_so3_wigner_D(3, 0, NAN, 0, buf, buf + 100), ENTK_ERR_NONFINITE);
    cr_assert_eq(entk_so3_wigner_D(3, 0, 1, 0, buf, buf), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_wigner_D(3, 0, 1, 0, buf, NULL), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_real_wigner(3, -INFINITY, 1, 0, buf), ENTK_ERR_NONFINITE);
    cr_assert_eq(entk_so3_real_wigner(-1, 0, 1, 0, buf), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_real_sh(4, 0.3, NAN, y), ENTK_ERR_NONFINITE);
    cr_assert_eq(entk_so3_real_sh(4, 0.3, 0.1, NULL), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_s2_weights(0, w), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_so3_weights(4, NULL), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_s2_nodes(600, NULL, NULL), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_plan_size(ENTK_SO3_PLAN_S2, 5, 4, &pl, &wl), ENTK_ERR_INVALID_ARG); /* B < L */
    cr_assert_eq(entk_so3_plan_size(0, 4, 4, &pl, &wl), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_plan_size(4, 4, 4, &pl, &wl), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_plan_size(ENTK_SO3_PLAN_SO3, 4, 513, &pl, &wl), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_plan_size(ENTK_SO3_PLAN_S2, 4, 4, NULL, NULL), ENTK_OK);
    cr_assert_eq(entk_so3_plan_init(NULL, ENTK_SO3_PLAN_S2, 4, 4, buf), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_plan_init(&p, ENTK_SO3_PLAN_S2, 4, 4, NULL), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_sht_work_size(4, 4, NULL), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_fft_work_size(3, 4, &pl), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_rotate_sh(4, NULL, a, a), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_rotate_sh(0, buf, a, a), ENTK_ERR_INVALID_ARG);
    make_plan(ENTK_SO3_PLAN_S2, 4, 4, &p, &mem, &work);
    cr_assert_eq(entk_so3_plan_fft(&p, f, a, work), ENTK_ERR_INVALID_ARG); /* no SO3 tables */
    cr_assert_eq(entk_so3_plan_ifft(&p, a, f, work), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_plan_sht(NULL, f, a, work), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_plan_sht(&p, f, a, NULL), ENTK_ERR_INVALID_ARG);
    memset(f, 0, sizeof f);
    f[17] = NAN;
    a[0] = 42;
    cr_assert_eq(entk_so3_plan_sht(&p, f, a, work), ENTK_ERR_NONFINITE);
    cr_assert_eq(a[0], 42);
    f[17] = INFINITY;
    cr_assert_eq(entk_so3_plan_sht(&p, f, a, work), ENTK_ERR_NONFINITE);
    memset(a, 0, sizeof a);
    a[3] = NAN;
    f[0] = 42;
    cr_assert_eq(entk_so3_plan_isht(&p, a, f, work), ENTK_ERR_NONFINITE);
    cr_assert_eq(f[0], 42);
    /* finite input whose synthesis overflows */
    a[3] = 0;
    a[0] = a[2] = a[6] = a[12] = 1.7e308; /* the zonal harmonics add up to ~2 near the poles */
    cr_assert_eq(entk_so3_plan_isht(&p, a, f, work), ENTK_ERR_RANGE);
    cr_assert_eq(entk_so3_sht(4, 4, f, a, NULL), ENTK_ERR_INVALID_ARG);
    free(mem); free(work);
    make_plan(ENTK_SO3_PLAN_SO3, 2, 2, &p, &mem, &work);
    cr_assert_eq(entk_so3_plan_sht(&p, f, a, work), ENTK_ERR_INVALID_ARG); /* no S2 tables */
    {
        double g[4 * 3 * 3] = {0}, c[10];
        g[5] = NAN;
        cr_assert_eq(entk_so3_plan_fft(&p, g, c, work), ENTK_ERR_NONFINITE);
        memset(c, 0, sizeof c);
        c[9] = INFINITY;
        cr_assert_eq(entk_so3_plan_ifft(&p, c, g, work), ENTK_ERR_NONFINITE);
    }
    free(mem); free(work);
}

/* ---- high degrees --------------------------------------------------------------------------- */

/* addition theorem: sum_m Y_lm(u) Y_lm(v) = (2l+1)/(4 pi) P_l(u.v), for all l < 512, points near the
 * poles included (u = v: sum_m Y_lm^2 = (2l+1)/(4 pi)). Errors are relative to the degree's scale
 * (2l+1)/(4 pi). Away from the poles the recurrence in l loses ~l eps; at cos(theta) = +-1 its two
 * solutions merge and coefficient roundings add up to ~l^2 eps/2 (measured 1.2e-11 at l = 511 next to
 * the south pole), hence the two budgets. */
Test(real_sh, addition_theorem_to_l511) {
    static const double pts[][4] = {{1e-7, 0.3, 1e-7, 0.3}, {0.4, 1.0, 0.4, 1.0}, {PI - 1e-6, 2.0, PI - 1e-6, 2.0},
                                    {0.9, 0.2, 1.3, -2.1}, {2.5, 4.0, 0.05, 1.0}, {PI / 2, 0.0, 1e-3, 3.0}};
    const int L = 512;
    double *y1 = dalloc((size_t)L * L), *y2 = dalloc((size_t)L * L), e128 = 0, e = 0;
    size_t i;
    int l, m;
    for (i = 0; i < sizeof pts / sizeof *pts; ++i) {
        const double *q = pts[i];
        const long double ct = cosl(q[0]) * cosl(q[2]) + sinl(q[0]) * sinl(q[2]) * cosl(q[1] - q[3]);
        long double p0 = 1, p1 = ct, p = 1;
        cr_assert_eq(entk_so3_real_sh(L, q[0], q[1], y1), ENTK_OK);
        cr_assert_eq(entk_so3_real_sh(L, q[2], q[3], y2), ENTK_OK);
        for (l = 0; l < L; ++l) {
            long double s = 0;
            double r;
            if (l == 1) p = ct;
            else if (l > 1) { p = ((2 * l - 1) * ct * p1 - (l - 1) * p0) / l; p0 = p1; p1 = p; }
            for (m = -l; m <= l; ++m) s += (long double)y1[l * l + l + m] * y2[l * l + l + m];
            r = (double)(fabsl(s - (2 * l + 1) / (4 * PI) * p) / ((2 * l + 1) / (4 * PI)));
            if (!(r <= e)) e = r;
            if (l <= 128 && !(r <= e128)) e128 = r;
        }
    }
    cr_assert(e128 <= 1e-12, "addition theorem error at l <= 128: %g", e128);
    cr_assert(e <= 3e-11, "addition theorem error at l <= 511: %g", e);
    free(y1); free(y2);
}

Test(real_wigner, orthogonal_at_l128) {
    const int L = 129;
    double *D = dalloc(entk_so3_packed_len(L)), e = 0;
    int l, m, n, k;
    cr_assert_eq(entk_so3_real_wigner(L, 0.7, 2.9, -1.9, D), ENTK_OK);
    for (l = 124; l < L; ++l) {
        const int w = 2 * l + 1;
        const double *b = D + off(l);
        for (m = 0; m < w; ++m)
            for (n = m; n < w; ++n) {
                double s = 0;
                for (k = 0; k < w; ++k) s += b[m * w + k] * b[n * w + k];
                s -= m == n;
                if (!(fabs(s) <= e)) e = fabs(s);
            }
    }
    cr_assert(e <= 1e-12, "Delta orthogonality at l 124..128: %g", e);
    free(D);
}

/* ---- SIMD paths ------------------------------------------------------------------------------ */

/* the transforms on every compiled path agree with the scalar path to rounding */
Test(paths, transforms_match_scalar) {
    static const entk_simd paths[] = {ENTK_SIMD_AVX2, ENTK_SIMD_NEON, ENTK_SIMD_AVX512};
    const int L = 6, B = 9, n = 2 * B - 1;
    const size_t P = entk_so3_packed_len(L), nf = (size_t)(2 * B) * n * n;
    const entk_simd orig = entk_simd_path();
    entk_so3_plan p;
    double *mem, *work, *c = dalloc(P), *f0 = dalloc(nf), *f1 = dalloc(nf), *c0 = dalloc(P), *c1 = dalloc(P);
    double a[36], g0[18 * 17], g1[18 * 17], a0[36], a1[36];
    tu_rng r = {77};
    size_t i;
    int tested = 0;
    make_plan(ENTK_SO3_PLAN_S2 | ENTK_SO3_PLAN_SO3, L, B, &p, &mem, &work);
    tu_fill_normal(&r, c, P);
    tu_fill_normal(&r, a, 36);
    cr_assert_eq(entk_simd_set(ENTK_SIMD_SCALAR), ENTK_OK);
    cr_assert_eq(entk_so3_plan_ifft(&p, c, f0, work), ENTK_OK);
    cr_assert_eq(entk_so3_plan_fft(&p, f0, c0, work), ENTK_OK);
    cr_assert_eq(entk_so3_plan_isht(&p, a, g0, work), ENTK_OK);
    cr_assert_eq(entk_so3_plan_sht(&p, g0, a0, work), ENTK_OK);
    for (i = 0; i < sizeof paths / sizeof *paths; ++i) {
        if (entk_simd_set(paths[i]) != ENTK_OK) continue;
        ++tested;
        cr_assert_eq(entk_so3_plan_ifft(&p, c, f1, work), ENTK_OK);
        cr_assert_eq(entk_so3_plan_fft(&p, f0, c1, work), ENTK_OK);
        cr_assert_eq(entk_so3_plan_isht(&p, a, g1, work), ENTK_OK);
        cr_assert_eq(entk_so3_plan_sht(&p, g0, a1, work), ENTK_OK);
        cr_assert(tu_max_abs_diff(f1, f0, nf) <= 1e-13, "%s ifft %g", entk_simd_name(), tu_max_abs_diff(f1, f0, nf));
        cr_assert(tu_max_abs_diff(c1, c0, P) <= 1e-14, "%s fft %g", entk_simd_name(), tu_max_abs_diff(c1, c0, P));
        cr_assert(tu_max_abs_diff(g1, g0, 18 * 17) <= 1e-13, "%s isht", entk_simd_name());
        cr_assert(tu_max_abs_diff(a1, a0, 36) <= 1e-14, "%s sht", entk_simd_name());
    }
    cr_assert_eq(entk_simd_set(orig), ENTK_OK);
    cr_assert(tu_max_abs_diff(c0, c, P) <= 1e-12);
    (void)tested; /* 0 on a build or CPU without a vector path (the scalar results are still checked) */
    free(mem); free(work); free(c); free(f0); free(f1); free(c0); free(c1);
}
