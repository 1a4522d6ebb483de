/* Kernel predictors (docs/conventions.md §3) against direct formulas computed here independently: a naive
 * Gauss-Jordan inverse, the matrix exponential by scaling-and-squaring Taylor series, and the series
 * K^-1 (I - e^{-cK}) = c sum_j (-cK)^j / (j+1)! which needs no inverse at all. */
#include <criterion/criterion.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include "testutil.h"

/* ---- oracles (n x n, contiguous) ------------------------------------------------------------- */

static void mm(size_t n, size_t k, size_t m, const double *a, const double *b, double *c) {
    size_t i, j, p;
    for (i = 0; i < n; ++i)
        for (j = 0; j < m; ++j) {
            long double s = 0;
            for (p = 0; p < k; ++p) s += (long double)a[i * k + p] * b[p * m + j];
            c[i * m + j] = (double)s;
        }
}

static void transpose(size_t r, size_t c, const double *a, double *t) {
    size_t i, j;
    for (i = 0; i < r; ++i)
        for (j = 0; j < c; ++j) t[j * r + i] = a[i * c + j];
}

/* Gauss-Jordan with partial pivoting in long double. */
static void gj_inverse(size_t n, const double *a, double *inv) {
    long double *w = malloc(2 * n * n * sizeof *w);
    size_t i, j, k, piv;
    cr_assert(w != NULL);
    for (i = 0; i < n; ++i)
        for (j = 0; j < 2 * n; ++j) w[i * 2 * n + j] = j < n ? a[i * n + j] : (j - n == i);
    for (k = 0; k < n; ++k) {
        long double pv;
        piv = k;
        for (i = k + 1; i < n; ++i)
            if (fabsl(w[i * 2 * n + k]) > fabsl(w[piv * 2 * n + k])) piv = i;
        for (j = 0; j < 2 * n; ++j) {
            long double t = w[k * 2 * n + j];
            w[k * 2 * n + j] = w[piv * 2 * n + j];
            w[piv * 2 * n + j] = t;
        }
        pv = w[k * 2 * n + k];
        for (j = 0; j < 2 * n; ++j) w[k * 2 * n + j] /= pv;
        for (i = 0; i < n; ++i)
            if (i != k) {
                long double f = w[i * 2 * n + k];
                for (j = 0; j < 2 * n; ++j) w[i * 2 * n + j] -= f * w[k * 2 * n + j];
            }
    }
    for (i = 0; i < n; ++i)
        for (j = 0; j < n; ++j) inv[i * n + j] = (double)w[i * 2 * n + n + j];
    free(w);
}

/* exp(-a) by scaling and squaring with a 30-term Taylor series. */
static void expm_neg(size_t n, const double *a, double *e) {
    double *s = tu_xalloc(n * n), *term = tu_xalloc(n * n), *tmp = tu_xalloc(n * n), nrm = 0;
    size_t i, j, sq = 0;
    int t;
    for (i = 0; i < n * n; ++i) nrm = fmax(nrm, fabs(a[i]) * (double)n);
    while (nrm > 0.25) { nrm /= 2; ++sq; }
    for (i = 0; i < n * n; ++i) s[i] = -a[i] / ldexp(1.0, (int)sq);
    for (i = 0; i < n; ++i)
        for (j = 0; j < n; ++j) e[i * n + j] = term[i * n + j] = (i == j);
    for (t = 1; t <= 30; ++t) {
        mm(n, n, n, term, s, tmp);
        for (i = 0; i < n * n; ++i) { term[i] = tmp[i] / t; e[i] += term[i]; }
    }
    for (; sq > 0; --sq) {
        mm(n, n, n, e, e, tmp);
        memcpy(e, tmp, n * n * sizeof *e);
    }
    free(s); free(term); free(tmp);
}

/* P = K^-1 (I - e^{-cK}) by the inverse-free series c sum_j (-cK)^j/(j+1)!  (for ||cK|| <~ 5). */
static void gd_series(size_t n, const double *k, double c, double *p) {
    double *term = tu_xalloc(n * n), *tmp = tu_xalloc(n * n), *mk = tu_xalloc(n * n);
    size_t i, j;
    int t;
    for (i = 0; i < n * n; ++i) mk[i] = -c * k[i];
    for (i = 0; i < n; ++i)
        for (j = 0; j < n; ++j) p[i * n + j] = term[i * n + j] = (i == j);
    for (t = 1; t < 80; ++t) {
        mm(n, n, n, term, mk, tmp);
        for (i = 0; i < n * n; ++i) { term[i] = tmp[i] / (t + 1); p[i] += term[i]; }
    }
    for (i = 0; i < n * n; ++i) p[i] *= c;
    free(term); free(tmp); free(mk);
}

/* P = K^-1 (I - e^{-cK}) via the Gauss-Jordan inverse and the Taylor exponential (any c). */
static void gd_direct(size_t n, const double *k, double c, double *p) {
    double *inv = tu_xalloc(n * n), *e = tu_xalloc(n * n), *ck = tu_xalloc(n * n);
    size_t i;
    for (i = 0; i < n * n; ++i) ck[i] = c * k[i];
    gj_inverse(n, k, inv);
    expm_neg(n, ck, e);
    for (i = 0; i < n * n; ++i) e[i] = (i % (n + 1) == 0) - e[i];
    mm(n, n, n, inv, e, p);
    free(inv); free(e); free(ck);
}

/* ---- kernels from the MLP engine on random inputs -------------------------------------------- */

typedef struct {
    size_t n, m;
    double *kall, *tall; /* (n+m) x (n+m) NNGP and NTK over [train; test] */
    double *ktr, *ttr;   /* n x n, contiguous copies (with regulariser added by the test if needed) */
    double *ktd, *ttd;   /* m x n */
    double *ktt;         /* m x m */
    double *y;           /* n x k */
    size_t k;
} fixture;

static void fixture_make(fixture *f, size_t n, size_t m, size_t k, uint64_t seed) {
    entk_arch a;
    char err[128];
    tu_rng r = {seed};
    const size_t N = n + m, d = 6;
    double *x = tu_xalloc(N * d);
    size_t i, j;
    f->n = n; f->m = m; f->k = k;
    cr_assert_eq(entk_arch_parse("dense(sw=1.4,sb=0.3) relu dense(sw=1.4,sb=0.3) relu dense(sw=1.2,sb=0.2)", &a, err,
                                 sizeof err), ENTK_OK);
    tu_fill_normal(&r, x, N * d);
    f->kall = tu_xalloc(N * N); f->tall = tu_xalloc(N * N);
    /* pair by pair through entk_scalar_chain (entk_mlp_kernel on this base disagrees with it, see the
     * report), after the first dense layer computed here */
    for (i = 0; i < N; ++i)
        for (j = 0; j < N; ++j) {
            const double w2 = a.layer[0].sw * a.layer[0].sw, b2 = a.layer[0].sb * a.layer[0].sb;
            double xi, xj, xx, k11, k22, k12, t11, t22, t12;
            tu_dots(x, d, i, j, &xi, &xj, &xx);
            t11 = k11 = w2 * xi / (double)d + b2;
            t22 = k22 = w2 * xj / (double)d + b2;
            t12 = k12 = w2 * xx / (double)d + b2;
            cr_assert_eq(entk_scalar_chain(a.layer + 1, a.n_layers - 1, &k11, &t11, &k22, &t22, &k12, &t12), ENTK_OK);
            f->kall[i * N + j] = k12;
            f->tall[i * N + j] = t12;
        }
    f->ktr = tu_xalloc(n * n); f->ttr = tu_xalloc(n * n); f->ktd = tu_xalloc(m * n + 1); f->ttd = tu_xalloc(m * n + 1);
    f->ktt = tu_xalloc(m * m + 1); f->y = tu_xalloc(n * k);
    for (i = 0; i < n; ++i)
        for (j = 0; j < n; ++j) { f->ktr[i * n + j] = f->kall[i * N + j]; f->ttr[i * n + j] = f->tall[i * N + j]; }
    for (i = 0; i < m; ++i)
        for (j = 0; j < n; ++j) { f->ktd[i * n + j] = f->kall[(n + i) * N + j]; f->ttd[i * n + j] = f->tall[(n + i) * N + j]; }
    for (i = 0; i < m; ++i)
        for (j = 0; j < m; ++j) f->ktt[i * m + j] = f->kall[(n + i) * N + n + j];
    tu_fill_normal(&r, f->y, n * k);
    free(x);
}

static void fixture_free(fixture *f) {
    free(f->kall); free(f->tall); free(f->ktr); free(f->ttr); free(f->ktd); free(f->ttd); free(f->ktt); free(f->y);
}

/* The blocks as the library reads them: straight out of the big (n+m)^2 matrices, ld = n + m. */
static entk_kernels blocks(const fixture *f, int ntk) {
    const size_t N = f->n + f->m;
    const double *all = ntk ? f->tall : f->kall;
    entk_kernels b;
    b.n = f->n; b.m = f->m;
    b.train = all; b.ld_train = N;
    b.test_train = all + f->n * N; b.ld_test_train = N;
    b.test_diag = NULL;
    b.test_test = all + f->n * N + f->n; b.ld_test_test = N;
    return b;
}

static double trace(size_t n, const double *a) {
    double t = 0;
    size_t i;
    for (i = 0; i < n; ++i) t += a[i * n + i];
    return t;
}

static void add_diag(size_t n, double *a, double v) {
    size_t i;
    for (i = 0; i < n; ++i) a[i * n + i] += v;
}

/* mean oracle: test_train * P * Y */
static void mean_oracle(const fixture *f, const double *td, const double *p, double *out) {
    double *py = tu_xalloc(f->n * f->k);
    mm(f->n, f->n, f->k, p, f->y, py);
    mm(f->m, f->n, f->k, td, py, out);
    free(py);
}

/* ---- tests ------------------------------------------------------------------------------------ */

Test(predict, ntk_mean_at_infinity_equals_direct_inverse) {
    fixture f;
    entk_kernels th;
    entk_predict_opts o = entk_predict_opts_default();
    entk_predict_info info;
    double *treg, *inv, *want, *got;
    fixture_make(&f, 40, 9, 3, 101);
    th = blocks(&f, 1);
    o.diag_reg = 1e-3;
    treg = tu_xalloc(40 * 40); inv = tu_xalloc(40 * 40); want = tu_xalloc(9 * 3); got = tu_xalloc(9 * 3);
    memcpy(treg, f.ttr, 40 * 40 * sizeof *treg);
    add_diag(40, treg, 1e-3 * trace(40, f.ttr) / 40);
    gj_inverse(40, treg, inv);
    mean_oracle(&f, f.ttd, inv, want);
    cr_assert_eq(entk_predict_mean(&th, 3, f.y, 3, &o, got, 3, &info), ENTK_OK);
    cr_assert(tu_rel_frob(got, want, 27) < 1e-10, "rel err %.3g", tu_rel_frob(got, want, 27));
    cr_assert(fabs(info.reg - 1e-3 * trace(40, f.ttr) / 40) <= 1e-15 * info.reg);
    cr_assert_eq(info.jitter, 0.0);
    cr_assert_eq(info.used_eigen, 0);
    free(treg); free(inv); free(want); free(got);
    fixture_free(&f);
}

/* Relative lambda equals absolute lambda tr/n exactly; an absolute lambda differs. */
Test(predict, relative_and_absolute_regulariser) {
    fixture f;
    entk_kernels th;
    entk_predict_opts o = entk_predict_opts_default();
    entk_predict_info i1, i2, i3;
    double a[8 * 2], b[8 * 2], c[8 * 2];
    fixture_make(&f, 30, 8, 2, 102);
    th = blocks(&f, 1);
    o.diag_reg = 0.05;
    cr_assert_eq(entk_predict_mean(&th, 2, f.y, 2, &o, a, 2, &i1), ENTK_OK);
    o.diag_reg_absolute = 1;
    o.diag_reg = 0.05 * trace(30, f.ttr) / 30;
    cr_assert_eq(entk_predict_mean(&th, 2, f.y, 2, &o, b, 2, &i2), ENTK_OK);
    o.diag_reg = 0.05;
    cr_assert_eq(entk_predict_mean(&th, 2, f.y, 2, &o, c, 2, &i3), ENTK_OK);
    cr_assert(tu_rel_frob(a, b, 16) < 1e-13);
    cr_assert(fabs(i1.reg - i2.reg) <= 1e-15 * i2.reg);
    cr_assert_eq(i3.reg, 0.05);
    cr_assert(trace(30, f.ttr) / 30 > 1.5, "tr/n must differ from 1 for the check below to mean anything");
    cr_assert(tu_rel_frob(a, c, 16) > 1e-6);
    fixture_free(&f);
}

/* Finite t against both oracles: the inverse-free series (moderate c) and GJ + expm (large c). */
Test(predict, ntk_mean_finite_t_equals_direct_formula) {
    fixture f;
    entk_kernels th;
    entk_predict_opts o = entk_predict_opts_default();
    entk_predict_info info;
    const double ts[] = {0.3, 3.0, 30.0, 3000.0};
    double *treg, *p, *want, *got, lmax_bound;
    size_t i;
    fixture_make(&f, 35, 7, 2, 103);
    th = blocks(&f, 1);
    o.diag_reg = 1e-2;
    treg = tu_xalloc(35 * 35); p = tu_xalloc(35 * 35); want = tu_xalloc(14); got = tu_xalloc(14);
    memcpy(treg, f.ttr, 35 * 35 * sizeof *treg);
    add_diag(35, treg, 1e-2 * trace(35, f.ttr) / 35);
    lmax_bound = 0;
    for (i = 0; i < 35 * 35; ++i) lmax_bound = fmax(lmax_bound, fabs(treg[i]) * 35);
    for (i = 0; i < sizeof ts / sizeof ts[0]; ++i) {
        const double c = ts[i] * 0.7 / (35.0 * 2.0);
        o.t = ts[i];
        o.lr = 0.7;
        if (c * lmax_bound < 5) gd_series(35, treg, c, p);
        else gd_direct(35, treg, c, p);
        mean_oracle(&f, f.ttd, p, want);
        cr_assert_eq(entk_predict_mean(&th, 2, f.y, 2, &o, got, 2, &info), ENTK_OK);
        cr_assert_eq(info.used_eigen, 1);
        cr_assert(tu_rel_frob(got, want, 14) < 1e-9, "t=%g: rel err %.3g", ts[i], tu_rel_frob(got, want, 14));
    }
    free(treg); free(p); free(want); free(got);
    fixture_free(&f);
}

/* On the training inputs mu_t - mu_inf = -Theta Theta_reg^-1 e^{-c Theta_reg} Y, whose norm is
 * sum_i (l_i/(l_i+r))^2 e^{-2 c l_i} |v_i^T Y|^2: strictly decreasing in t. On test inputs only the
 * limit holds (the norm of a sum of decaying vectors need not be monotone). */
Test(predict, finite_t_approaches_infinity_monotonically) {
    fixture f;
    entk_kernels th, tt;
    entk_predict_opts o = entk_predict_opts_default();
    double *inf_tr, *inf_te, *cur, prev = INFINITY, err = 0;
    double t;
    fixture_make(&f, 30, 6, 2, 104);
    th = blocks(&f, 1);
    tt = th; /* test = train: every test block is the train block */
    tt.m = 30;
    tt.test_train = th.train;
    tt.test_test = th.train;
    o.diag_reg = 1e-3;
    inf_tr = tu_xalloc(60); inf_te = tu_xalloc(12); cur = tu_xalloc(60);
    cr_assert_eq(entk_predict_mean(&tt, 2, f.y, 2, &o, inf_tr, 2, NULL), ENTK_OK);
    cr_assert_eq(entk_predict_mean(&th, 2, f.y, 2, &o, inf_te, 2, NULL), ENTK_OK);
    for (t = 1e-2; t < 1e9; t *= 4) {
        o.t = t;
        cr_assert_eq(entk_predict_mean(&tt, 2, f.y, 2, &o, cur, 2, NULL), ENTK_OK);
        err = tu_rel_frob(cur, inf_tr, 60);
        cr_assert(err < prev || err < 1e-12, "t=%g: %.6g !< %.6g", t, err, prev);
        prev = err;
    }
    cr_assert(err < 1e-9, "t=%g still %.3g away", t, err);
    o.t = 1e12;
    cr_assert_eq(entk_predict_mean(&th, 2, f.y, 2, &o, cur, 2, NULL), ENTK_OK);
    cr_assert(tu_rel_frob(cur, inf_te, 12) < 1e-8, "test points: %.3g", tu_rel_frob(cur, inf_te, 12));
    free(inf_tr); free(inf_te); free(cur);
    fixture_free(&f);
}

/* t = 0: exactly 0. Small t: mu ~ (lr t / (n k)) Theta(x, X) Y to first order. */
Test(predict, t_to_zero_gives_zero_and_first_order) {
    fixture f;
    entk_kernels th;
    entk_predict_opts o = entk_predict_opts_default();
    double got[5 * 2], lin[5 * 2];
    size_t i;
    fixture_make(&f, 25, 5, 2, 105);
    th = blocks(&f, 1);
    o.t = 0;
    cr_assert_eq(entk_predict_mean(&th, 2, f.y, 2, &o, got, 2, NULL), ENTK_OK);
    for (i = 0; i < 10; ++i) cr_assert_eq(got[i], 0.0);
    o.t = 1e-6;
    o.lr = 2.0;
    cr_assert_eq(entk_predict_mean(&th, 2, f.y, 2, &o, got, 2, NULL), ENTK_OK);
    mm(5, 25, 2, f.ttd, f.y, lin);
    for (i = 0; i < 10; ++i) lin[i] *= 2.0 * 1e-6 / 50.0;
    cr_assert(tu_rel_frob(got, lin, 10) < 1e-5, "%.3g", tu_rel_frob(got, lin, 10));
    fixture_free(&f);
}

/* A rank-3 linear kernel (d = 3 < n) without regulariser: finite t still works (the factor is c at
 * zero eigenvalues, not 0/0) and equals the inverse-free series. */
Test(predict, singular_kernel_finite_t_does_not_blow_up) {
    const size_t n = 20, m = 4, d = 3;
    tu_rng r = {106};
    double x[24 * 3], kk[24 * 24], tr[20 * 20], td[4 * 20], y[20], p[20 * 20], want[4], got[4], py[20];
    entk_kernels b;
    entk_predict_opts o = entk_predict_opts_default();
    entk_predict_info info;
    size_t i, j, q;
    tu_fill_normal(&r, x, (n + m) * d);
    for (i = 0; i < n + m; ++i)
        for (j = 0; j < n + m; ++j) {
            double s = 0;
            for (q = 0; q < d; ++q) s += x[i * d + q] * x[j * d + q];
            kk[i * (n + m) + j] = s / (double)d;
        }
    for (i = 0; i < n; ++i) for (j = 0; j < n; ++j) tr[i * n + j] = kk[i * (n + m) + j];
    for (i = 0; i < m; ++i) for (j = 0; j < n; ++j) td[i * n + j] = kk[(n + i) * (n + m) + j];
    tu_fill_normal(&r, y, n);
    b.n = n; b.m = m; b.train = tr; b.ld_train = n; b.test_train = td; b.ld_test_train = n;
    b.test_diag = NULL; b.test_test = NULL; b.ld_test_test = 0;
    o.t = 6.0; /* c l_max ~ 4: the series oracle stays accurate */
    cr_assert_eq(entk_predict_mean(&b, 1, y, 1, &o, got, 1, &info), ENTK_OK);
    cr_assert(fabs(info.min_eig) < 1e-12, "min eig %.3g", info.min_eig);
    gd_series(n, tr, 6.0 / n, p);
    mm(n, n, 1, p, y, py);
    mm(m, n, 1, td, py, want);
    cr_assert(tu_rel_frob(got, want, m) < 1e-9, "%.3g", tu_rel_frob(got, want, m));
}

/* NNGP at t = inf: mean, variance and covariance against K_td K_reg^-1 (.) with GJ. */
Test(predict, nngp_posterior_equals_direct_formula) {
    fixture f;
    entk_kernels kb;
    entk_predict_opts o = entk_predict_opts_default();
    const size_t n = 30, m = 8, k = 2;
    double *kreg, *inv, *want_mean, *mean, *var, *cov, *tmp, *kdt, *want_cov;
    size_t i;
    fixture_make(&f, n, m, k, 107);
    kb = blocks(&f, 0);
    o.diag_reg = 1e-4;
    kreg = tu_xalloc(n * n); inv = tu_xalloc(n * n); want_mean = tu_xalloc(m * k); mean = tu_xalloc(m * k); var = tu_xalloc(m);
    cov = tu_xalloc(m * m); tmp = tu_xalloc(n * m); kdt = tu_xalloc(n * m); want_cov = tu_xalloc(m * m);
    memcpy(kreg, f.ktr, n * n * sizeof *kreg);
    add_diag(n, kreg, 1e-4 * trace(n, f.ktr) / n);
    gj_inverse(n, kreg, inv);
    mean_oracle(&f, f.ktd, inv, want_mean);
    transpose(m, n, f.ktd, kdt);
    mm(n, n, m, inv, kdt, tmp);
    mm(m, n, m, f.ktd, tmp, want_cov);
    for (i = 0; i < m * m; ++i) want_cov[i] = f.ktt[i] - want_cov[i];
    cr_assert_eq(entk_predict_nngp(&kb, k, f.y, k, &o, mean, k, var, cov, m, NULL), ENTK_OK);
    cr_assert(tu_rel_frob(mean, want_mean, m * k) < 1e-10);
    cr_assert(tu_rel_frob(cov, want_cov, m * m) < 1e-8, "%.3g", tu_rel_frob(cov, want_cov, m * m));
    for (i = 0; i < m; ++i) {
        cr_assert(var[i] >= 0);
        cr_assert(fabs(var[i] - want_cov[i * m + i]) < 1e-8 * f.ktt[i * m + i]);
        cr_assert(fabs(cov[i * m + i] - var[i]) < 1e-10 * f.ktt[i * m + i]);
    }
    /* test_diag alone is enough for the variances */
    kb.test_test = NULL;
    {
        double *diag = tu_xalloc(m), *var2 = tu_xalloc(m);
        for (i = 0; i < m; ++i) diag[i] = f.ktt[i * m + i];
        kb.test_diag = diag;
        cr_assert_eq(entk_predict_nngp(&kb, k, NULL, 0, &o, NULL, 0, var2, NULL, 0, NULL), ENTK_OK);
        for (i = 0; i < m; ++i) cr_assert(fabs(var2[i] - var[i]) <= 1e-12 * f.ktt[i * m + i]);
        cr_assert_eq(entk_predict_nngp(&kb, k, NULL, 0, &o, NULL, 0, var2, cov, m, NULL), ENTK_ERR_INVALID_ARG);
        free(diag); free(var2);
    }
    free(kreg); free(inv); free(want_mean); free(mean); free(var); free(cov); free(tmp); free(kdt); free(want_cov);
    fixture_free(&f);
}

/* Without regulariser the posterior interpolates: mean = Y and variance 0 at the training inputs. */
Test(predict, nngp_variance_zero_at_training_points) {
    fixture f;
    entk_kernels kb;
    entk_predict_opts o = entk_predict_opts_default();
    entk_predict_info info;
    const size_t n = 20;
    double *mean = tu_xalloc(n), *var = tu_xalloc(n), *diag = tu_xalloc(n), kmax = 0;
    size_t i;
    fixture_make(&f, n, 3, 1, 108);
    kb = blocks(&f, 0);
    kb.m = n;
    kb.test_train = kb.train;
    kb.test_test = NULL;
    for (i = 0; i < n; ++i) { diag[i] = f.ktr[i * n + i]; kmax = fmax(kmax, diag[i]); }
    kb.test_diag = diag;
    o.jitter = ENTK_JITTER_NONE;
    cr_assert_eq(entk_predict_nngp(&kb, 1, f.y, 1, &o, mean, 1, var, NULL, 0, &info), ENTK_OK);
    for (i = 0; i < n; ++i) {
        cr_assert(var[i] >= 0.0);
        cr_assert(var[i] < 1e-9 * kmax, "var[%zu] = %.3g", i, var[i]);
        cr_assert(fabs(mean[i] - f.y[i]) < 1e-7, "mean[%zu] %.17g vs %.17g", i, mean[i], f.y[i]);
    }
    free(mean); free(var); free(diag);
    fixture_free(&f);
}

/* NNGP at finite t (readout-only training): mean with P(t), cov with P(2t), series oracle. */
Test(predict, nngp_finite_t_equals_direct_formula) {
    fixture f;
    entk_kernels kb;
    entk_predict_opts o = entk_predict_opts_default();
    const size_t n = 25, m = 6, k = 1;
    double *p, *p2, *want, *mean, *cov, *kdt, *tmp, *wc, *var;
    size_t i;
    fixture_make(&f, n, m, k, 109);
    kb = blocks(&f, 0);
    o.t = 2.0;
    p = tu_xalloc(n * n); p2 = tu_xalloc(n * n); want = tu_xalloc(m); mean = tu_xalloc(m); cov = tu_xalloc(m * m);
    kdt = tu_xalloc(n * m); tmp = tu_xalloc(n * m); wc = tu_xalloc(m * m); var = tu_xalloc(m);
    gd_series(n, f.ktr, 2.0 / n, p);
    gd_series(n, f.ktr, 4.0 / n, p2);
    mean_oracle(&f, f.ktd, p, want);
    transpose(m, n, f.ktd, kdt);
    mm(n, n, m, p2, kdt, tmp);
    mm(m, n, m, f.ktd, tmp, wc);
    for (i = 0; i < m * m; ++i) wc[i] = f.ktt[i] - wc[i];
    cr_assert_eq(entk_predict_nngp(&kb, k, f.y, k, &o, mean, k, var, cov, m, NULL), ENTK_OK);
    cr_assert(tu_rel_frob(mean, want, m) < 1e-10, "%.3g", tu_rel_frob(mean, want, m));
    cr_assert(tu_rel_frob(cov, wc, m * m) < 1e-10, "%.3g", tu_rel_frob(cov, wc, m * m));
    for (i = 0; i < m; ++i) cr_assert(fabs(var[i] - wc[i * m + i]) < 1e-12 * f.ktt[i * m + i]);
    free(p); free(p2); free(want); free(mean); free(cov); free(kdt); free(tmp); free(wc); free(var);
    fixture_free(&f);
}

/* Lee et al. 2019 ensemble: cov = K_tt + A K A^T - A K_dt - K_td A^T, A = Theta_td P(t). */
static void ensemble_oracle(const fixture *f, const double *p, double *mean, double *cov) {
    const size_t n = f->n, m = f->m;
    double *a = tu_xalloc(m * n), *at = tu_xalloc(n * m), *kat = tu_xalloc(n * m), *akat = tu_xalloc(m * m), *kdt = tu_xalloc(n * m),
           *akdt = tu_xalloc(m * m);
    size_t i, j;
    mm(m, n, n, f->ttd, p, a);
    mm(m, n, f->k, a, f->y, mean);
    transpose(m, n, a, at);
    mm(n, n, m, f->ktr, at, kat);
    mm(m, n, m, a, kat, akat);
    transpose(m, n, f->ktd, kdt);
    mm(m, n, m, a, kdt, akdt);
    for (i = 0; i < m; ++i)
        for (j = 0; j < m; ++j) cov[i * m + j] = f->ktt[i * m + j] + akat[i * m + j] - akdt[i * m + j] - akdt[j * m + i];
    free(a); free(at); free(kat); free(akat); free(kdt); free(akdt);
}

Test(predict, ntk_ensemble_equals_direct_formula) {
    fixture f;
    entk_kernels kb, tb;
    entk_predict_opts o = entk_predict_opts_default();
    const size_t n = 28, m = 7, k = 2;
    const double ts[] = {1.0, 20.0, INFINITY};
    double *treg, *p, *wm, *wc, *mean, *cov, *var;
    size_t s, i;
    fixture_make(&f, n, m, k, 110);
    kb = blocks(&f, 0);
    tb = blocks(&f, 1);
    o.diag_reg = 1e-3;
    treg = tu_xalloc(n * n); p = tu_xalloc(n * n); wm = tu_xalloc(m * k); wc = tu_xalloc(m * m); mean = tu_xalloc(m * k);
    cov = tu_xalloc(m * m); var = tu_xalloc(m);
    memcpy(treg, f.ttr, n * n * sizeof *treg);
    add_diag(n, treg, 1e-3 * trace(n, f.ttr) / n);
    for (s = 0; s < 3; ++s) {
        o.t = ts[s];
        if (isinf(ts[s])) gj_inverse(n, treg, p);
        else gd_direct(n, treg, ts[s] / (double)(n * k), p);
        ensemble_oracle(&f, p, wm, wc);
        cr_assert_eq(entk_predict_ntk_ensemble(&kb, &tb, k, f.y, k, &o, mean, k, var, cov, m, NULL), ENTK_OK);
        cr_assert(tu_rel_frob(mean, wm, m * k) < 1e-9, "t=%g mean %.3g", ts[s], tu_rel_frob(mean, wm, m * k));
        cr_assert(tu_rel_frob(cov, wc, m * m) < 1e-8, "t=%g cov %.3g", ts[s], tu_rel_frob(cov, wc, m * m));
        for (i = 0; i < m; ++i) cr_assert(fabs(var[i] - wc[i * m + i]) < 1e-8 * f.ktt[i * m + i], "t=%g var", ts[s]);
    }
    /* the mean alone needs no K */
    {
        double *m2 = tu_xalloc(m * k);
        cr_assert_eq(entk_predict_ntk_ensemble(NULL, &tb, k, f.y, k, &o, m2, k, NULL, NULL, 0, NULL), ENTK_OK);
        cr_assert(tu_rel_frob(m2, mean, m * k) < 1e-15);
        cr_assert_eq(entk_predict_ntk_ensemble(NULL, &tb, k, f.y, k, &o, m2, k, var, NULL, 0, NULL), ENTK_ERR_INVALID_ARG);
        free(m2);
    }
    /* t = 0: the prior (mean 0, cov K_tt) */
    o.t = 0;
    cr_assert_eq(entk_predict_ntk_ensemble(&kb, &tb, k, f.y, k, &o, mean, k, var, cov, m, NULL), ENTK_OK);
    for (i = 0; i < m * k; ++i) cr_assert_eq(mean[i], 0.0);
    cr_assert(tu_rel_frob(cov, f.ktt, m * m) < 1e-15);
    free(treg); free(p); free(wm); free(wc); free(mean); free(cov); free(var);
    fixture_free(&f);
}

/* Fully trained, unregularised ensemble on its own training inputs: A = I, so mean = Y and
 * cov = K + K - K - K = 0. */
Test(predict, ntk_ensemble_interpolates_training_points) {
    fixture f;
    entk_kernels kb, tb;
    const size_t n = 18;
    double *mean = tu_xalloc(n), *var = tu_xalloc(n), kmax = 0;
    size_t i;
    fixture_make(&f, n, 2, 1, 111);
    kb = blocks(&f, 0);
    tb = blocks(&f, 1);
    kb.m = tb.m = n;
    kb.test_train = kb.train;
    tb.test_train = tb.train;
    kb.test_test = kb.train;
    tb.test_test = tb.train;
    for (i = 0; i < n; ++i) kmax = fmax(kmax, f.ktr[i * n + i]);
    cr_assert_eq(entk_predict_ntk_ensemble(&kb, &tb, 1, f.y, 1, NULL, mean, 1, var, NULL, 0, NULL), ENTK_OK);
    for (i = 0; i < n; ++i) {
        cr_assert(fabs(mean[i] - f.y[i]) < 1e-7);
        cr_assert(var[i] >= 0 && var[i] < 1e-7 * kmax, "var[%zu] = %.3g", i, var[i]);
    }
    free(mean); free(var);
    fixture_free(&f);
}

/* J (all ones) is singular with pivot 2 exactly 0: one jitter step (1e-10 x mean diagonal) fixes it.
 * J - 3e-7 I is indefinite: jitters 1e-10..1e-7 fail, 1e-6 succeeds (5 jittered attempts).
 * J - 0.5 I exceeds the cap after the 9 attempts 1e-10..1e-2. */
Test(predict, jitter_escalation_reports_jitter) {
    const size_t n = 12;
    double tr[12 * 12], td[2 * 12], y[12], mean[2], want[2], inv[12 * 12], reg[12 * 12], py[12];
    entk_kernels b;
    entk_predict_opts o = entk_predict_opts_default();
    entk_predict_info info;
    tu_rng r = {112};
    size_t i, j;
    for (i = 0; i < n * n; ++i) tr[i] = 1.0;
    tu_fill_normal(&r, td, 2 * n);
    tu_fill_normal(&r, y, n);
    b.n = n; b.m = 2; b.train = tr; b.ld_train = n; b.test_train = td; b.ld_test_train = n;
    b.test_diag = NULL; b.test_test = NULL; b.ld_test_test = 0;
    o.jitter = ENTK_JITTER_NONE;
    cr_assert_eq(entk_predict_mean(&b, 1, y, 1, &o, mean, 1, &info), ENTK_ERR_NOT_PD);
    cr_assert_eq(info.not_pd_order, 2);
    o.jitter = ENTK_JITTER_ESCALATE;
    cr_assert_eq(entk_predict_mean(&b, 1, y, 1, &o, mean, 1, &info), ENTK_OK);
    cr_assert_eq(info.jitter, 1e-10);
    cr_assert_eq(info.jitter_tries, 1);
    cr_assert_eq(info.not_pd_order, 2);
    cr_assert(isfinite(mean[0]) && isfinite(mean[1]));
    memcpy(reg, tr, sizeof reg);
    add_diag(n, reg, info.jitter);
    gj_inverse(n, reg, inv);
    mm(n, n, 1, inv, y, py);
    mm(2, n, 1, td, py, want);
    cr_assert(tu_rel_frob(mean, want, 2) < 1e-4, "%.3g", tu_rel_frob(mean, want, 2));

    for (i = 0; i < n; ++i) tr[i * n + i] = 1.0 - 3e-7;
    cr_assert_eq(entk_predict_mean(&b, 1, y, 1, &o, mean, 1, &info), ENTK_OK);
    cr_assert_eq(info.jitter_tries, 5);
    cr_assert(fabs(info.jitter - 1e-6 * (1.0 - 3e-7)) < 1e-20, "jitter %.17g", info.jitter);

    for (i = 0; i < n; ++i)
        for (j = 0; j < n; ++j) tr[i * n + j] = 1.0 - (i == j ? 0.5 : 0.0);
    cr_assert_eq(entk_predict_mean(&b, 1, y, 1, &o, mean, 1, &info), ENTK_ERR_NOT_PD);
    cr_assert_eq(info.jitter, 0.0);
    cr_assert_eq(info.jitter_tries, 9);
}

Test(predict, rejects_nonfinite_inputs_and_outputs) {
    fixture f;
    entk_kernels kb, tb;
    entk_predict_opts o = entk_predict_opts_default();
    const size_t n = 15, m = 4, N = 19;
    double mean[4], var[4], save;
    fixture_make(&f, n, m, 1, 113);
    kb = blocks(&f, 0);
    tb = blocks(&f, 1);
    save = f.kall[5 * N + 2];
    f.kall[5 * N + 2] = NAN; /* train, lower */
    cr_assert_eq(entk_predict_nngp(&kb, 1, f.y, 1, &o, mean, 1, NULL, NULL, 0, NULL), ENTK_ERR_NONFINITE);
    cr_assert_eq(entk_predict_ntk_ensemble(&kb, &tb, 1, f.y, 1, &o, mean, 1, var, NULL, 0, NULL), ENTK_ERR_NONFINITE);
    f.kall[5 * N + 2] = save;
    save = f.tall[(n + 2) * N + 7];
    f.tall[(n + 2) * N + 7] = INFINITY; /* test x train */
    cr_assert_eq(entk_predict_mean(&tb, 1, f.y, 1, &o, mean, 1, NULL), ENTK_ERR_NONFINITE);
    f.tall[(n + 2) * N + 7] = save;
    f.y[3] = NAN;
    cr_assert_eq(entk_predict_mean(&tb, 1, f.y, 1, &o, mean, 1, NULL), ENTK_ERR_NONFINITE);
    f.y[3] = 0.5;
    save = f.kall[(n + 1) * N + n + 1];
    f.kall[(n + 1) * N + n + 1] = NAN; /* test x test */
    cr_assert_eq(entk_predict_nngp(&kb, 1, f.y, 1, &o, mean, 1, var, NULL, 0, NULL), ENTK_ERR_NONFINITE);
    f.kall[(n + 1) * N + n + 1] = save;
    cr_assert_eq(entk_predict_nngp(&kb, 1, f.y, 1, &o, mean, 1, var, NULL, 0, NULL), ENTK_OK);
    /* bad options */
    o.t = NAN;
    cr_assert_eq(entk_predict_mean(&tb, 1, f.y, 1, &o, mean, 1, NULL), ENTK_ERR_INVALID_ARG);
    o.t = -1;
    cr_assert_eq(entk_predict_mean(&tb, 1, f.y, 1, &o, mean, 1, NULL), ENTK_ERR_INVALID_ARG);
    o = entk_predict_opts_default();
    o.lr = 0;
    cr_assert_eq(entk_predict_mean(&tb, 1, f.y, 1, &o, mean, 1, NULL), ENTK_ERR_INVALID_ARG);
    o = entk_predict_opts_default();
    o.diag_reg = -1;
    cr_assert_eq(entk_predict_mean(&tb, 1, f.y, 1, &o, mean, 1, NULL), ENTK_ERR_INVALID_ARG);
    fixture_free(&f);
    {
        /* finite inputs, overflowing result: 1e300 * 1e300 / 1e-300 */
        double tr[1] = {1e-300}, td[1] = {1e300}, y[1] = {1e300}, out[1];
        entk_kernels b;
        b.n = 1; b.m = 1; b.train = tr; b.ld_train = 1; b.test_train = td; b.ld_test_train = 1;
        b.test_diag = NULL; b.test_test = NULL; b.ld_test_test = 0;
        cr_assert_eq(entk_predict_mean(&b, 1, y, 1, NULL, out, 1, NULL), ENTK_ERR_NONFINITE);
    }
}

/* Finite-t NNGP variance never exceeds the prior and decreases in t (P(2t) grows in the PSD order). */
Test(predict, nngp_variance_between_zero_and_prior) {
    fixture f;
    entk_kernels kb;
    entk_predict_opts o = entk_predict_opts_default();
    double var[6], prev[6];
    double t;
    size_t i;
    fixture_make(&f, 20, 6, 1, 114);
    kb = blocks(&f, 0);
    for (i = 0; i < 6; ++i) prev[i] = f.ktt[i * 6 + i];
    for (t = 0.01; t < 1e7; t *= 10) {
        o.t = t;
        cr_assert_eq(entk_predict_nngp(&kb, 1, NULL, 0, &o, NULL, 0, var, NULL, 0, NULL), ENTK_OK);
        for (i = 0; i < 6; ++i) {
            cr_assert(var[i] >= 0 && var[i] <= prev[i] * (1 + 1e-12), "t=%g i=%zu %.17g > %.17g", t, i, var[i], prev[i]);
            prev[i] = var[i];
        }
    }
    fixture_free(&f);
}

/* ---- kernel scale, singular kernels, termination ------------------------------------------------ */

static double max_abs(const double *a, size_t n) {
    double m = 0;
    size_t i;
    for (i = 0; i < n; ++i) m = fmax(m, fabs(a[i]));
    return m;
}

/* Kernels scaled by s (train, test x train, test x test alike). Stated values: the t = inf mean is
 * scale invariant, mu(s Theta) = mu(Theta); at finite t, mu_t(s Theta, lr / s) = mu_t(Theta, lr)
 * (c l is unchanged); NNGP and ensemble variances scale by s. For s a power of 4 all of it holds bit
 * for bit (the factorisations run on the same exactly rescaled matrix). Before the fix, s = 1e-300
 * could spin in the jitter loop and finite t factorised noise (squares underflow in the reduction). */
Test(predict, kernel_scale_invariance_1em300_to_1e300) {
    const double scales[] = {1e-300, 1e-200, 1e200, 1e300, 0x1p-600, 0x1p+600};
    const size_t n = 30, m = 6, k = 2, N = 36;
    fixture f;
    entk_predict_opts o = entk_predict_opts_default();
    double mu0[12], mut0[12], var0[6], evar0[6], mu[12], var[6], ecov[36], ecov0[36];
    double *ks = tu_xalloc(N * N), *ts = tu_xalloc(N * N);
    entk_kernels kb, tb, kbs, tbs;
    size_t s, i;
    fixture_make(&f, n, m, k, 201);
    kb = blocks(&f, 0);
    tb = blocks(&f, 1);
    cr_assert_eq(entk_predict_mean(&tb, k, f.y, k, &o, mu0, k, NULL), ENTK_OK);
    cr_assert_eq(entk_predict_nngp(&kb, k, NULL, 0, &o, NULL, 0, var0, NULL, 0, NULL), ENTK_OK);
    o.t = 50.0;
    cr_assert_eq(entk_predict_mean(&tb, k, f.y, k, &o, mut0, k, NULL), ENTK_OK);
    cr_assert_eq(entk_predict_ntk_ensemble(&kb, &tb, k, f.y, k, &o, NULL, 0, evar0, ecov0, m, NULL), ENTK_OK);
    for (s = 0; s < sizeof scales / sizeof scales[0]; ++s) {
        const double sc = scales[s];
        const int exact = s >= 4;
        entk_predict_info info;
        for (i = 0; i < N * N; ++i) { ks[i] = f.kall[i] * sc; ts[i] = f.tall[i] * sc; }
        kbs = kb; tbs = tb;
        kbs.train = ks; kbs.test_train = ks + n * N; kbs.test_test = ks + n * N + n;
        tbs.train = ts; tbs.test_train = ts + n * N; tbs.test_test = ts + n * N + n;
        o = entk_predict_opts_default();
        cr_assert_eq(entk_predict_mean(&tbs, k, f.y, k, &o, mu, k, &info), ENTK_OK, "s=%g", sc);
        cr_assert(exact ? memcmp(mu, mu0, sizeof mu) == 0 : tu_rel_frob(mu, mu0, m * k) < 1e-12, "s=%g: %.3g", sc,
                  tu_rel_frob(mu, mu0, m * k));
        cr_assert_eq(info.jitter_tries, 0);
        cr_assert_eq(entk_predict_nngp(&kbs, k, NULL, 0, &o, NULL, 0, var, NULL, 0, NULL), ENTK_OK, "s=%g", sc);
        for (i = 0; i < m; ++i) cr_assert(fabs(var[i] / sc - var0[i]) <= 1e-9 * f.ktt[i * m + i], "s=%g var", sc);
        o.t = 50.0;
        o.lr = 1.0 / sc;
        cr_assert_eq(entk_predict_mean(&tbs, k, f.y, k, &o, mu, k, &info), ENTK_OK, "s=%g", sc);
        cr_assert(exact ? memcmp(mu, mut0, sizeof mu) == 0 : tu_rel_frob(mu, mut0, m * k) < 1e-12, "s=%g t=50: %.3g",
                  sc, tu_rel_frob(mu, mut0, m * k));
        cr_assert(fabs(info.min_eig / sc) < 1e3 && info.min_eig > 0, "min eig %.3g", info.min_eig);
        cr_assert_eq(entk_predict_ntk_ensemble(&kbs, &tbs, k, f.y, k, &o, NULL, 0, var, ecov, m, NULL), ENTK_OK);
        for (i = 0; i < m * m; ++i) ecov[i] /= sc;
        cr_assert(tu_rel_frob(ecov, ecov0, m * m) < 1e-9, "s=%g cov %.3g", sc, tu_rel_frob(ecov, ecov0, m * m));
    }
    free(ks); free(ts);
    fixture_free(&f);
}

/* J (all ones) scaled to 1e-320, a subnormal: the old loop's first jitter 1e-10 x 1e-320 underflowed
 * to 0 and it retried the same failing factorisation forever. Now: one jitter step as for J, and the
 * prediction of J's (subnormal inputs carry ~11 bits, so to 1e-2). */
Test(predict, jitter_terminates_on_subnormal_kernel) {
    const size_t n = 12;
    double tr[12 * 12], td[2 * 12], tds[2 * 12], y[12], mean[2], want[2];
    entk_kernels b;
    entk_predict_opts o = entk_predict_opts_default();
    entk_predict_info info;
    tu_rng r = {202};
    size_t i;
    for (i = 0; i < n * n; ++i) tr[i] = 1.0;
    tu_fill_normal(&r, td, 2 * n);
    tu_fill_normal(&r, y, n);
    b.n = n; b.m = 2; b.train = tr; b.ld_train = n; b.test_train = td; b.ld_test_train = n;
    b.test_diag = NULL; b.test_test = NULL; b.ld_test_test = 0;
    cr_assert_eq(entk_predict_mean(&b, 1, y, 1, &o, want, 1, &info), ENTK_OK);
    for (i = 0; i < n * n; ++i) tr[i] = 1e-320;
    for (i = 0; i < 2 * n; ++i) tds[i] = td[i] * 1e-320;
    b.test_train = tds;
    cr_assert_eq(entk_predict_mean(&b, 1, y, 1, &o, mean, 1, &info), ENTK_OK);
    cr_assert_eq(info.jitter_tries, 1);
    cr_assert_eq(info.jitter_rel, 1e-10);
    cr_assert(info.jitter <= 1e-320, "jitter %.3g", info.jitter); /* 1e-330 underflows: jitter_rel says it */
    cr_assert(tu_rel_frob(mean, want, 2) < 1e-2, "%.3g", tu_rel_frob(mean, want, 2));
    /* the step count is bounded whatever jitter_start / jitter_max: J - 0.5 I needs jitter 0.5 */
    for (i = 0; i < n * n; ++i) tr[i] = (i % (n + 1) == 0) ? 0.5 : 1.0;
    b.test_train = td;
    o.jitter_start = 1e-300;
    o.jitter_max = 1e300;
    cr_assert_eq(entk_predict_mean(&b, 1, y, 1, &o, mean, 1, &info), ENTK_OK);
    cr_assert_eq(info.jitter_tries, 32);
    cr_assert_eq(info.jitter_rel, 1e300); /* the 32nd try is jitter_max itself */
    o.jitter_start = 4.9e-324; /* the smallest subnormal: the floor DBL_MIN applies */
    o.jitter_max = 1e-2;
    cr_assert_eq(entk_predict_mean(&b, 1, y, 1, &o, mean, 1, &info), ENTK_ERR_NOT_PD);
    cr_assert(info.jitter_tries <= 32 && info.jitter_tries > 0, "%d tries", info.jitter_tries);
    cr_assert_eq(info.jitter, 0.0);
}

/* An all-zero training kernel (and test x train block, as a PSD joint kernel must have): the data
 * say nothing. t = inf: ENTK_ERR_NOT_PD without jitter; with it one try at 1e-10 (absolute: the
 * matrix has no scale) and mean exactly 0, NNGP variance exactly the prior. Finite t, any t up to
 * 1e300: every eigenvalue is a null eigenvalue, mean exactly 0. */
Test(predict, zero_train_kernel) {
    const size_t n = 5;
    double tr[25] = {0}, td[15] = {0}, diag[3] = {2, 3, 4}, y[5] = {1, -2, 3, 0.5, 7}, mean[3], var[3];
    const double ts[] = {1.0, 1e100, 1e300};
    entk_kernels b;
    entk_predict_opts o = entk_predict_opts_default();
    entk_predict_info info;
    size_t i, s;
    b.n = n; b.m = 3; b.train = tr; b.ld_train = n; b.test_train = td; b.ld_test_train = n;
    b.test_diag = diag; b.test_test = NULL; b.ld_test_test = 0;
    o.jitter = ENTK_JITTER_NONE;
    cr_assert_eq(entk_predict_mean(&b, 1, y, 1, &o, mean, 1, &info), ENTK_ERR_NOT_PD);
    cr_assert_eq(info.not_pd_order, 1);
    o.jitter = ENTK_JITTER_ESCALATE;
    cr_assert_eq(entk_predict_nngp(&b, 1, y, 1, &o, mean, 1, var, NULL, 0, &info), ENTK_OK);
    cr_assert_eq(info.jitter_tries, 1);
    cr_assert_eq(info.jitter, 1e-10);
    for (i = 0; i < 3; ++i) {
        cr_assert_eq(mean[i], 0.0);
        cr_assert_eq(var[i], diag[i]);
    }
    for (s = 0; s < 3; ++s) {
        o.t = ts[s];
        cr_assert_eq(entk_predict_nngp(&b, 1, y, 1, &o, mean, 1, var, NULL, 0, &info), ENTK_OK);
        cr_assert_eq(info.null_eigs, n);
        for (i = 0; i < 3; ++i) {
            cr_assert_eq(mean[i], 0.0);
            cr_assert_eq(var[i], diag[i]);
        }
    }
}

/* Theta on 12 distinct points; 8 of them duplicated (n = 20, same targets): Theta(X, X) has rank 12,
 * an exactly 8-dimensional null space. Stated values, all against the deduplicated problem at t = inf
 * (12 points, nonsingular, plain Cholesky): at t = 1e20 .. 1e300 the finite-t mean, NNGP mean and
 * variance, and the NTK-ensemble mean and covariance equal it to 1e-10 (the factor is 1/l on the
 * range, 0 on the null space: the pseudo-inverse solution, which the duplicated problem shares with
 * the deduplicated one). At every t = 10^j, j = -3..300, |mu_t| <= 2 max(|mu_inf|, |Y|). t = inf
 * without jitter: ENTK_ERR_NOT_PD at the first duplicate; with it the reported jitter, and the
 * mean to 1e-8. Before the fix mu_t grew like t (1e83 at t = 1e100). */
Test(predict, duplicated_points_singular_kernel) {
    const size_t n0 = 12, m = 5, k = 2, n = 20, N0 = 17;
    const size_t dup[8] = {0, 3, 4, 5, 7, 9, 10, 11};
    fixture f;
    entk_kernels k0, t0, kd, td;
    entk_predict_opts o = entk_predict_opts_default();
    entk_predict_info info;
    size_t idx[20], i, j, c;
    double *kall = tu_xalloc((n + m) * (n + m)), *tall = tu_xalloc((n + m) * (n + m)), *y = tu_xalloc(n * k);
    double mu0[10], var0[5], emu0[10], ecov0[25], mu[10], var[5], ecov[25], scale;
    double t;
    fixture_make(&f, n0, m, k, 203);
    k0 = blocks(&f, 0);
    t0 = blocks(&f, 1);
    /* row map of the duplicated problem: 12 originals, 8 copies, then the m test points */
    for (i = 0; i < n0; ++i) idx[i] = i;
    for (i = 0; i < 8; ++i) idx[n0 + i] = dup[i];
    for (i = 0; i < n + m; ++i)
        for (j = 0; j < n + m; ++j) {
            const size_t a = i < n ? idx[i] : n0 + (i - n), b = j < n ? idx[j] : n0 + (j - n);
            kall[i * (n + m) + j] = f.kall[a * N0 + b];
            tall[i * (n + m) + j] = f.tall[a * N0 + b];
        }
    for (i = 0; i < n; ++i)
        for (c = 0; c < k; ++c) y[i * k + c] = f.y[idx[i] * k + c];
    kd.n = td.n = n; kd.m = td.m = m;
    kd.train = kall; td.train = tall; kd.ld_train = td.ld_train = n + m;
    kd.test_train = kall + n * (n + m); td.test_train = tall + n * (n + m);
    kd.ld_test_train = td.ld_test_train = n + m;
    kd.test_diag = td.test_diag = NULL;
    kd.test_test = kall + n * (n + m) + n; td.test_test = tall + n * (n + m) + n;
    kd.ld_test_test = td.ld_test_test = n + m;
    /* the deduplicated oracle */
    o.jitter = ENTK_JITTER_NONE;
    cr_assert_eq(entk_predict_mean(&t0, k, f.y, k, &o, mu0, k, &info), ENTK_OK);
    cr_assert_eq(entk_predict_nngp(&k0, k, NULL, 0, &o, NULL, 0, var0, NULL, 0, NULL), ENTK_OK);
    cr_assert_eq(entk_predict_ntk_ensemble(&k0, &t0, k, f.y, k, &o, emu0, k, NULL, ecov0, m, NULL), ENTK_OK);
    scale = fmax(max_abs(mu0, m * k), max_abs(f.y, n0 * k));
    /* t = inf on the singular problem */
    cr_assert_eq(entk_predict_mean(&td, k, y, k, &o, mu, k, &info), ENTK_ERR_NOT_PD);
    cr_assert_eq(info.not_pd_order, 13, "order %zu", info.not_pd_order);
    o.jitter = ENTK_JITTER_ESCALATE;
    cr_assert_eq(entk_predict_mean(&td, k, y, k, &o, mu, k, &info), ENTK_OK);
    cr_assert(info.jitter > 0 && info.jitter_tries >= 1, "jitter %.3g", info.jitter);
    cr_assert(tu_rel_frob(mu, mu0, m * k) < 1e-8, "t=inf jittered: %.3g", tu_rel_frob(mu, mu0, m * k));
    /* finite t, huge: the pseudo-inverse solution */
    for (t = 1e20; t < 1e301; t *= 1e40) {
        o.t = t;
        cr_assert_eq(entk_predict_mean(&td, k, y, k, &o, mu, k, &info), ENTK_OK);
        cr_assert_eq(info.null_eigs, 8);
        cr_assert(tu_rel_frob(mu, mu0, m * k) < 1e-10, "t=%g: %.3g", t, tu_rel_frob(mu, mu0, m * k));
        cr_assert_eq(entk_predict_nngp(&kd, k, NULL, 0, &o, NULL, 0, var, NULL, 0, NULL), ENTK_OK);
        for (i = 0; i < m; ++i) cr_assert(fabs(var[i] - var0[i]) < 1e-10 * f.ktt[i * m + i], "t=%g var", t);
        cr_assert_eq(entk_predict_ntk_ensemble(&kd, &td, k, y, k, &o, mu, k, NULL, ecov, m, NULL), ENTK_OK);
        cr_assert(tu_rel_frob(mu, emu0, m * k) < 1e-10, "t=%g ensemble mean", t);
        cr_assert(tu_max_abs_diff(ecov, ecov0, m * m) < 1e-10 * max_abs(f.ktt, m * m), "t=%g ensemble cov %.3g", t,
                  tu_max_abs_diff(ecov, ecov0, m * m));
    }
    for (t = 1e-3; t < 1e301; t *= 10) {
        o.t = t;
        cr_assert_eq(entk_predict_mean(&td, k, y, k, &o, mu, k, NULL), ENTK_OK);
        cr_assert(max_abs(mu, m * k) <= 2 * scale, "t=%g: |mu| = %.3g", t, max_abs(mu, m * k));
        cr_assert_eq(entk_predict_ntk_ensemble(&kd, &td, k, y, k, &o, mu, k, var, NULL, 0, NULL), ENTK_OK);
        cr_assert(max_abs(mu, m * k) <= 2 * scale, "t=%g: ensemble |mu| = %.3g", t, max_abs(mu, m * k));
        for (i = 0; i < m; ++i) cr_assert(var[i] <= 2 * max_abs(f.ktt, m * m), "t=%g var %.3g", t, var[i]);
    }
    free(kall); free(tall); free(y);
    fixture_free(&f);
}

/* No predictor returns ENTK_OK with NaN or Inf: non-finite inputs at finite t too, and results that
 * overflow from finite inputs on every path. */
Test(predict, nonfinite_never_ok) {
    double tr[4] = {2, 0, 1, 2}, td[2] = {1, 1}, y[2] = {1, 1}, dg[1] = {1}, mean[1], var[1];
    entk_kernels b;
    entk_predict_opts o = entk_predict_opts_default();
    const double ts[] = {INFINITY, 3.0};
    size_t s;
    b.n = 2; b.m = 1; b.train = tr; b.ld_train = 2; b.test_train = td; b.ld_test_train = 2;
    b.test_diag = dg; b.test_test = NULL; b.ld_test_test = 0;
    for (s = 0; s < 2; ++s) {
        o.t = ts[s];
        cr_assert_eq(entk_predict_mean(&b, 1, y, 1, &o, mean, 1, NULL), ENTK_OK);
        tr[2] = INFINITY; /* lower triangle */
        cr_assert_eq(entk_predict_mean(&b, 1, y, 1, &o, mean, 1, NULL), ENTK_ERR_NONFINITE);
        cr_assert_eq(entk_predict_nngp(&b, 1, NULL, 0, &o, NULL, 0, var, NULL, 0, NULL), ENTK_ERR_NONFINITE);
        cr_assert_eq(entk_predict_ntk_ensemble(&b, &b, 1, y, 1, &o, mean, 1, var, NULL, 0, NULL), ENTK_ERR_NONFINITE);
        tr[2] = 1;
        tr[1] = NAN; /* strict upper triangle: never read */
        cr_assert_eq(entk_predict_mean(&b, 1, y, 1, &o, mean, 1, NULL), ENTK_OK);
        tr[1] = 0;
        dg[0] = NAN;
        cr_assert_eq(entk_predict_nngp(&b, 1, NULL, 0, &o, NULL, 0, var, NULL, 0, NULL), ENTK_ERR_NONFINITE);
        dg[0] = 1;
        y[1] = -INFINITY;
        cr_assert_eq(entk_predict_ntk_ensemble(NULL, &b, 1, y, 1, &o, mean, 1, NULL, NULL, 0, NULL), ENTK_ERR_NONFINITE);
        y[1] = 1;
    }
    {
        /* finite inputs, overflowing results: 1e300 * 1e300 / 1e-300 (mean) and 1e300^2 / 1e-300 (var) */
        double t1[1] = {1e-300}, d1[1] = {1e300}, y1[1] = {1e300}, g1[1] = {1}, out[1];
        entk_kernels c;
        c.n = 1; c.m = 1; c.train = t1; c.ld_train = 1; c.test_train = d1; c.ld_test_train = 1;
        c.test_diag = g1; c.test_test = NULL; c.ld_test_test = 0;
        for (s = 0; s < 2; ++s) {
            o.t = s ? 1e300 : INFINITY;
            cr_assert_eq(entk_predict_mean(&c, 1, y1, 1, &o, out, 1, NULL), ENTK_ERR_NONFINITE, "t=%g", o.t);
            cr_assert_eq(entk_predict_nngp(&c, 1, NULL, 0, &o, NULL, 0, out, NULL, 0, NULL), ENTK_ERR_NONFINITE, "t=%g", o.t);
            cr_assert_eq(entk_predict_ntk_ensemble(&c, &c, 1, y1, 1, &o, out, 1, NULL, NULL, 0, NULL), ENTK_ERR_NONFINITE);
        }
    }
}

/* Standard units (conventions §3): the column means and population standard deviations, a constant
 * column only centred, in place, without overflow at 1e300, and non-finite targets refused. */
Test(predict, targets_standardize) {
    double y[4 * 3] = {1, 5, 1e300, 2, 5, -1e300, 3, 5, 1e300, 6, 5, -1e300}, out[12], mean[3], scale[3], yy[12];
    const double m0 = 3, s0 = sqrt(((1 - m0) * (1 - m0) + (2 - m0) * (2 - m0) + 0 + 9) / 4.0);
    int i;
    cr_assert_eq(entk_targets_standardize(y, 4, 3, 3, out, 3, mean, scale), ENTK_OK);
    cr_expect_float_eq(mean[0], m0, 1e-15);
    cr_expect_float_eq(scale[0], s0, 1e-15);
    cr_expect_eq(mean[1], 5.0);
    cr_expect_eq(scale[1], 1.0); /* constant: centred only */
    cr_expect_eq(mean[2], 0.0);
    cr_expect_float_eq(scale[2], 1e300, 1e285);
    for (i = 0; i < 4; ++i) {
        cr_expect_float_eq(out[i * 3], (y[i * 3] - m0) / s0, 1e-15);
        cr_expect_eq(out[i * 3 + 1], 0.0);
        cr_expect_float_eq(out[i * 3 + 2], i % 2 ? -1.0 : 1.0, 1e-15);
    }
    /* in place, and ld > k */
    memcpy(yy, y, sizeof y);
    cr_assert_eq(entk_targets_standardize(yy, 4, 3, 3, yy, 3, mean, scale), ENTK_OK);
    cr_expect(memcmp(yy, out, sizeof out) == 0);
    cr_assert_eq(entk_targets_standardize(y, 2, 2, 6, out, 4, mean, scale), ENTK_OK);
    cr_expect_float_eq(mean[0], 2.0, 1e-15); /* rows 0 and 2 of y: 1 and 3 */
    cr_expect_float_eq(scale[0], 1.0, 1e-15);
    cr_expect_float_eq(out[4], 1.0, 1e-15);
    /* one target: centred only */
    cr_assert_eq(entk_targets_standardize(y, 1, 1, 3, out, 1, mean, scale), ENTK_OK);
    cr_expect(out[0] == 0.0 && scale[0] == 1.0);
    /* +-DBL_MAX of both signs: the spread exceeds the range */
    {
        double big[2] = {DBL_MAX, -DBL_MAX};
        cr_expect_eq(entk_targets_standardize(big, 2, 1, 1, out, 1, mean, scale), ENTK_ERR_RANGE);
    }
    y[4] = NAN;
    cr_expect_eq(entk_targets_standardize(y, 4, 3, 3, out, 3, mean, scale), ENTK_ERR_NONFINITE);
    y[4] = INFINITY;
    cr_expect_eq(entk_targets_standardize(y, 4, 3, 3, out, 3, mean, scale), ENTK_ERR_NONFINITE);
    cr_expect_eq(entk_targets_standardize(NULL, 4, 3, 3, out, 3, mean, scale), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_targets_standardize(y, 0, 3, 3, out, 3, mean, scale), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_targets_standardize(y, 4, 3, 2, out, 3, mean, scale), ENTK_ERR_INVALID_ARG);
}
