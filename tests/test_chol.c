/* Linear algebra: blocked Cholesky (LAPACK residual, exact failing minor, SIMD paths against the
 * scalar oracle), substitutions, the symmetric eigensolver. */
#include <criterion/criterion.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include "testutil.h"

/* Random orthogonal n x n (row-major, ld n): modified Gram-Schmidt, twice, on a Gaussian matrix. */
static void rand_orthogonal(tu_rng *r, size_t n, double *q) {
    size_t i, j, k;
    int pass;
    tu_fill_normal(r, q, n * n);
    for (pass = 0; pass < 2; ++pass)
        for (i = 0; i < n; ++i) { /* rows are the vectors */
            double nr = 0;
            for (j = 0; j < i; ++j) {
                double d = 0;
                for (k = 0; k < n; ++k) d += q[i * n + k] * q[j * n + k];
                for (k = 0; k < n; ++k) q[i * n + k] -= d * q[j * n + k];
            }
            for (k = 0; k < n; ++k) nr += q[i * n + k] * q[i * n + k];
            nr = sqrt(nr);
            for (k = 0; k < n; ++k) q[i * n + k] /= nr;
        }
}

/* a (ld lda) = Q^T diag(lam) Q with Q from rand_orthogonal: eigenvalues exactly lam (to rounding). */
static void spectrum_matrix(tu_rng *r, size_t n, const double *lam, double *a, size_t lda) {
    double *q = tu_xalloc(n * n);
    size_t i, j, k;
    rand_orthogonal(r, n, q);
    for (i = 0; i < n; ++i)
        for (j = 0; j <= i; ++j) {
            double s = 0;
            for (k = 0; k < n; ++k) s += q[k * n + i] * lam[k] * q[k * n + j];
            a[i * lda + j] = a[j * lda + i] = s;
        }
    free(q);
}

static const size_t sizes[] = {0,  1,  2,  3,  4,  5,  6,  7,   8,   9,   12,  15,  16,  17,  23,  24,
                                25, 31, 32, 33, 47, 48, 63, 64,  65,  95,  96,  97,  127, 128, 129, 191,
                                192, 193, 255, 256, 257, 300, 383, 384, 385, 511, 512, 513, 600};

/* Every size around the micro-kernel (4, 6, 8), recursion (16, 32), MC (96), KC and NB (256)
 * boundaries; lda > n; the strict upper triangle must come back bit-identical. */
Test(cholesky, lapack_residual_many_sizes) {
    tu_rng r = {11};
    size_t s;
    for (s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
        const size_t n = sizes[s], lda = n + 3;
        double *a = tu_xalloc(n * lda + 1), *l = tu_xalloc(n * lda + 1);
        size_t info = 99, i, j;
        cr_assert_eq(tu_spd(&r, n, a, lda), 0);
        for (i = 0; i < n; ++i)
            for (j = i + 1; j < lda; ++j) a[i * lda + j] = (j < n) ? -7.25 - (double)(i + j) : 0;
        memcpy(l, a, (n * lda + 1) * sizeof *a);
        cr_assert_eq(entk_cholesky(n, l, lda, &info), ENTK_OK, "n=%zu", n);
        cr_assert_eq(info, 0);
        for (i = 0; i < n; ++i)
            for (j = i + 1; j < n; ++j) cr_assert_eq(l[i * lda + j], a[i * lda + j], "upper touched n=%zu", n);
        for (i = 0; i < n; ++i) cr_assert(l[i * lda + i] > 0);
        {
            /* tu_chol_residual reads only the lower triangle of a, which still holds A */
            const double res = tu_chol_residual(n, a, lda, l, lda);
            cr_assert(res < 30.0, "n=%zu residual %.3g", n, res);
        }
        free(a);
        free(l);
    }
}

/* Condition numbers 1e8 and 1e13 (eigenvalues log-spaced): Cholesky is backward stable regardless. */
Test(cholesky, lapack_residual_ill_conditioned) {
    tu_rng r = {12};
    const size_t ns[] = {130, 300};
    const double conds[] = {1e8, 1e13};
    size_t a_i, c_i, i;
    for (a_i = 0; a_i < 2; ++a_i)
        for (c_i = 0; c_i < 2; ++c_i) {
            const size_t n = ns[a_i];
            double *lam = tu_xalloc(n), *a = tu_xalloc(n * n), *l = tu_xalloc(n * n), res;
            size_t info;
            for (i = 0; i < n; ++i) lam[i] = pow(conds[c_i], -(double)i / (double)(n - 1));
            spectrum_matrix(&r, n, lam, a, n);
            memcpy(l, a, n * n * sizeof *a);
            cr_assert_eq(entk_cholesky(n, l, n, &info), ENTK_OK, "n=%zu cond=%g info=%zu", n, conds[c_i], info);
            res = tu_chol_residual(n, a, n, l, n);
            cr_assert(res < 30.0, "n=%zu cond=%g residual %.3g", n, conds[c_i], res);
            free(lam); free(a); free(l);
        }
}

/* A = U D U^T with U unit lower triangular: the leading minor of order j is d_0 ... d_{j-1}. With
 * d_k < 0 and all others > 0, minors 1..k are positive and minor k+1 is negative: info = k+1, and
 * the leading k x k block of the factor is U sqrt(D). */
Test(cholesky, reports_exact_failing_minor) {
    tu_rng r = {13};
    const size_t cases[][2] = {{1, 0}, {5, 0}, {5, 4}, {40, 17}, {70, 31}, {70, 32}, {70, 33},
                               {300, 100}, {300, 255}, {300, 256}, {300, 257}, {520, 511}, {520, 519}};
    size_t c, i, j, p;
    for (c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        const size_t n = cases[c][0], kf = cases[c][1];
        double *u = tu_xalloc(n * n), *d = tu_xalloc(n), *a = tu_xalloc(n * n);
        size_t info = 0;
        for (i = 0; i < n; ++i) {
            for (j = 0; j < n; ++j) u[i * n + j] = j < i ? 0.3 * tu_normal(&r) / sqrt((double)n) : (i == j);
            d[i] = i == kf ? -0.5 : 1.0 + tu_unif(&r);
        }
        for (i = 0; i < n; ++i)
            for (j = 0; j <= i; ++j) {
                double s = 0;
                for (p = 0; p <= j; ++p) s += u[i * n + p] * d[p] * u[j * n + p];
                a[i * n + j] = a[j * n + i] = s;
            }
        cr_assert_eq(entk_cholesky(n, a, n, &info), ENTK_ERR_NOT_PD, "n=%zu k=%zu", n, kf);
        cr_assert_eq(info, kf + 1, "n=%zu: info %zu, expected %zu", n, info, kf + 1);
        for (j = 0; j < kf; ++j)
            for (i = j; i < kf; ++i)
                cr_assert(fabs(a[i * n + j] - u[i * n + j] * sqrt(d[j])) < 1e-12, "L(%zu,%zu)", i, j);
        free(u); free(d); free(a);
    }
}

/* A zero leading entry and a singular-by-construction matrix (all ones: pivot 2 is exactly 0). */
Test(cholesky, zero_pivot_is_not_pd) {
    double z[4] = {0, 0, 0, 1}, ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    size_t info = 0;
    cr_assert_eq(entk_cholesky(2, z, 2, &info), ENTK_ERR_NOT_PD);
    cr_assert_eq(info, 1);
    cr_assert_eq(entk_cholesky(3, ones, 3, &info), ENTK_ERR_NOT_PD);
    cr_assert_eq(info, 2);
}

Test(cholesky, rejects_nonfinite_and_bad_args) {
    tu_rng r = {14};
    const size_t n = 50;
    double *a = tu_xalloc(n * n), *b = tu_xalloc(n * n);
    size_t info = 7;
    cr_assert_eq(tu_spd(&r, n, a, n), 0);
    memcpy(b, a, n * n * sizeof *a);
    b[30 * n + 12] = NAN;
    cr_assert_eq(entk_cholesky(n, b, n, &info), ENTK_ERR_NONFINITE);
    cr_assert_eq(info, 0);
    cr_assert_eq(b[0], a[0], "nothing written before the scan");
    b[30 * n + 12] = a[30 * n + 12];
    b[49 * n + 49] = INFINITY;
    cr_assert_eq(entk_cholesky(n, b, n, &info), ENTK_ERR_NONFINITE);
    memcpy(b, a, n * n * sizeof *a);
    b[3 * n + 40] = NAN; /* strict upper triangle: never read */
    cr_assert_eq(entk_cholesky(n, b, n, &info), ENTK_OK);
    cr_assert(isnan(b[3 * n + 40]));
    cr_assert_eq(entk_cholesky(n, a, n - 1, &info), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_cholesky(n, NULL, n, &info), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_cholesky(0, NULL, 0, &info), ENTK_OK);
    cr_assert_eq(entk_cholesky(3, a, SIZE_MAX / 2, &info), ENTK_ERR_OVERFLOW);
    free(a); free(b);
}

/* Every available path against the scalar oracle on the same matrices: both are backward stable, so
 * on matrices with condition ~ 1e2 the factors agree to 1e-12 relative (max norm), and each path's
 * own residual is < 30. */
Test(cholesky, simd_paths_agree_with_scalar) {
    const entk_simd paths[] = {ENTK_SIMD_AVX2, ENTK_SIMD_NEON, ENTK_SIMD_AVX512};
    const size_t ns[] = {1, 7, 33, 97, 257, 400};
    const entk_simd saved = entk_simd_path();
    tu_rng r = {15};
    size_t s, p, i;
    int ran = 0;
    for (s = 0; s < sizeof ns / sizeof ns[0]; ++s) {
        const size_t n = ns[s];
        double *a = tu_xalloc(n * n), *ls = tu_xalloc(n * n), *lv = tu_xalloc(n * n);
        cr_assert_eq(tu_spd(&r, n, a, n), 0);
        memcpy(ls, a, n * n * sizeof *a);
        cr_assert_eq(entk_simd_set(ENTK_SIMD_SCALAR), ENTK_OK);
        cr_assert_eq(entk_cholesky(n, ls, n, NULL), ENTK_OK);
        for (p = 0; p < sizeof paths / sizeof paths[0]; ++p) {
            double worst = 0, big = 0, res;
            size_t j;
            if (entk_simd_set(paths[p]) != ENTK_OK) continue;
            ++ran;
            memcpy(lv, a, n * n * sizeof *a);
            cr_assert_eq(entk_cholesky(n, lv, n, NULL), ENTK_OK);
            for (i = 0; i < n; ++i)
                for (j = 0; j <= i; ++j) {
                    const double d = fabs(lv[i * n + j] - ls[i * n + j]);
                    if (d > worst) worst = d;
                    if (fabs(ls[i * n + j]) > big) big = fabs(ls[i * n + j]);
                }
            cr_assert(worst <= 1e-12 * big, "path %d n=%zu: max diff %.3g", (int)paths[p], n, worst / big);
            res = tu_chol_residual(n, a, n, lv, n);
            cr_assert(res < 30.0, "path %d n=%zu residual %.3g", (int)paths[p], n, res);
        }
        free(a); free(ls); free(lv);
    }
    entk_simd_set(saved);
#if defined(__x86_64__) && !defined(ENTK_NO_SIMD)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) cr_assert(ran > 0, "AVX2 path never ran");
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        cr_assert(ran > (int)(sizeof ns / sizeof ns[0]), "AVX-512 path never ran");
#endif
}

/* The AVX-512 micro-kernel (12 x 16) computes every entry of C with the same fma chain as the AVX2 one
 * (6 x 8), and the rest of the Cholesky (TRSM leaves, base cases, blocking) is shared, so the factors,
 * the solves and the products are identical bit for bit, on sizes around every tile (6, 8, 12, 16),
 * recursion (16, 32), MC (96), KC and NB (256) boundary, with lda > n; plus a non-PD matrix fails at the
 * same minor with the same partial factor. Skipped (with a message) where AVX-512 is not available. */
Test(cholesky, avx512_equals_avx2_bit_for_bit) {
    const size_t ns[] = {1, 5, 11, 12, 13, 16, 17, 24, 31, 33, 47, 95, 97, 191, 255, 256, 257, 300, 513, 700};
    const entk_simd saved = entk_simd_path();
    tu_rng r = {16};
    size_t s;
    if (entk_simd_set(ENTK_SIMD_AVX2) != ENTK_OK || entk_simd_set(ENTK_SIMD_AVX512) != ENTK_OK) {
        entk_simd_set(saved);
        cr_skip_test("this build or CPU lacks AVX2 or AVX-512F/DQ/VL");
    }
    for (s = 0; s < sizeof ns / sizeof ns[0]; ++s) {
        const size_t n = ns[s], lda = n + 5, k = 1 + n % 23, nb = n * lda;
        double *a = tu_xalloc(nb), *l2 = tu_xalloc(nb), *l5 = tu_xalloc(nb);
        double *b = tu_xalloc(n * k), *x2 = tu_xalloc(n * k), *x5 = tu_xalloc(n * k);
        size_t i2 = 7, i5 = 9;
        cr_assert_eq(tu_spd(&r, n, a, lda), 0);
        tu_fill_normal(&r, b, n * k);
        memcpy(l2, a, nb * sizeof *a); memcpy(l5, a, nb * sizeof *a);
        memcpy(x2, b, n * k * sizeof *b); memcpy(x5, b, n * k * sizeof *b);
        entk_simd_set(ENTK_SIMD_AVX2);
        cr_assert_eq(entk_cholesky(n, l2, lda, &i2), ENTK_OK);
        cr_assert_eq(entk_chol_solve(n, l2, lda, k, x2, k), ENTK_OK);
        entk_simd_set(ENTK_SIMD_AVX512);
        cr_assert_eq(entk_cholesky(n, l5, lda, &i5), ENTK_OK);
        cr_assert_eq(entk_chol_solve(n, l5, lda, k, x5, k), ENTK_OK);
        cr_assert(memcmp(l2, l5, nb * sizeof *a) == 0, "n=%zu: the factors differ", n);
        cr_assert(memcmp(x2, x5, n * k * sizeof *b) == 0, "n=%zu: the solves differ", n);
        cr_assert(i2 == 0 && i5 == 0);
        if (n > 20) { /* not PD: minors 1..f are those of A, minor f + 1 has a negative pivot */
            const size_t f = n - 4;
            memcpy(l2, a, nb * sizeof *a);
            l2[f * lda + f] = -1.0;
            memcpy(l5, l2, nb * sizeof *a);
            entk_simd_set(ENTK_SIMD_AVX2);
            cr_assert_eq(entk_cholesky(n, l2, lda, &i2), ENTK_ERR_NOT_PD);
            entk_simd_set(ENTK_SIMD_AVX512);
            cr_assert_eq(entk_cholesky(n, l5, lda, &i5), ENTK_ERR_NOT_PD);
            cr_assert(i2 == f + 1 && i5 == f + 1, "n=%zu: info %zu and %zu, expected %zu", n, i2, i5, f + 1);
            cr_assert(memcmp(l2, l5, nb * sizeof *a) == 0, "n=%zu: the partial factors differ", n);
        }
        free(a); free(l2); free(l5); free(b); free(x2); free(x5);
    }
    entk_simd_set(saved);
}

/* ---- substitutions ---------------------------------------------------------------------------- */

/* ||L X - B||_max / (||L||_max ||X||_max n eps) for the forward (trans = 0) or backward (trans = 1)
 * system, computed directly. */
static double subst_residual(size_t n, const double *l, size_t k, const double *x, size_t ldx,
                             const double *b, size_t ldb, int trans) {
    double worst = 0, ln = 0, xn = 0;
    size_t i, j, c;
    for (i = 0; i < n; ++i)
        for (j = 0; j <= i; ++j) ln = fmax(ln, fabs(l[i * n + j]));
    for (i = 0; i < n; ++i)
        for (c = 0; c < k; ++c) xn = fmax(xn, fabs(x[i * ldx + c]));
    for (i = 0; i < n; ++i)
        for (c = 0; c < k; ++c) {
            double s = 0;
            if (!trans) for (j = 0; j <= i; ++j) s += l[i * n + j] * x[j * ldx + c];
            else for (j = i; j < n; ++j) s += l[j * n + i] * x[j * ldx + c];
            worst = fmax(worst, fabs(s - b[i * ldb + c]));
        }
    return worst / (ln * xn * (double)n * DBL_EPSILON);
}

Test(solve, forward_and_backward_against_direct_products) {
    const size_t ns[] = {1, 2, 5, 63, 64, 65, 130, 200}, ks[] = {1, 3, 8, 17, 40};
    tu_rng r = {21};
    size_t a, b, i, j;
    for (a = 0; a < sizeof ns / sizeof ns[0]; ++a)
        for (b = 0; b < sizeof ks / sizeof ks[0]; ++b) {
            const size_t n = ns[a], k = ks[b], ldb = k + 2;
            double *l = tu_xalloc(n * n), *rhs = tu_xalloc(n * ldb), *x = tu_xalloc(n * ldb);
            int trans;
            for (i = 0; i < n; ++i)
                for (j = 0; j < n; ++j)
                    l[i * n + j] = j < i ? tu_normal(&r) / sqrt((double)n) : (j == i ? 1.0 + tu_unif(&r) : 99.0);
            tu_fill_normal(&r, rhs, n * ldb);
            for (trans = 0; trans < 2; ++trans) {
                double res;
                memcpy(x, rhs, n * ldb * sizeof *x);
                cr_assert_eq(trans ? entk_chol_backward(n, l, n, k, x, ldb) : entk_chol_forward(n, l, n, k, x, ldb),
                             ENTK_OK);
                res = subst_residual(n, l, k, x, ldb, rhs, ldb, trans);
                cr_assert(res < 10.0, "n=%zu k=%zu trans=%d residual %.3g", n, k, trans, res);
                for (i = 0; i < n; ++i) /* padding columns untouched */
                    for (j = k; j < ldb; ++j) cr_assert_eq(x[i * ldb + j], rhs[i * ldb + j]);
            }
            free(l); free(rhs); free(x);
        }
}

/* chol_solve: A X = B for SPD A, checked by multiplying back with A; 1e-10 relative for cond ~ 1e2. */
/* More right-hand sides than one GEMM column panel (NC = 4096) and more rows than one substitution
 * block: the GEMM's jc loop and the blocked left-looking updates both run. */
Test(solve, many_right_hand_sides) {
    const size_t n = 70, k = 4100;
    tu_rng r = {23};
    double *l = tu_xalloc(n * n), *rhs = tu_xalloc(n * k), *x = tu_xalloc(n * k);
    size_t i, j;
    int trans;
    for (i = 0; i < n; ++i)
        for (j = 0; j < n; ++j) l[i * n + j] = j < i ? tu_normal(&r) / sqrt((double)n) : (j == i ? 1.0 + tu_unif(&r) : 0.0);
    tu_fill_normal(&r, rhs, n * k);
    for (trans = 0; trans < 2; ++trans) {
        double res;
        memcpy(x, rhs, n * k * sizeof *x);
        cr_assert_eq(trans ? entk_chol_backward(n, l, n, k, x, k) : entk_chol_forward(n, l, n, k, x, k), ENTK_OK);
        res = subst_residual(n, l, k, x, k, rhs, k, trans);
        cr_assert(res < 10.0, "trans=%d residual %.3g", trans, res);
    }
    free(l); free(rhs); free(x);
}

/* Each vector path's substitutions against the scalar path's (same inputs): 1e-12 relative. */
Test(solve, simd_paths_agree_with_scalar) {
    const entk_simd paths[] = {ENTK_SIMD_AVX2, ENTK_SIMD_NEON, ENTK_SIMD_AVX512};
    const entk_simd saved = entk_simd_path();
    const size_t n = 150, k = 13;
    tu_rng r = {24};
    double *l = tu_xalloc(n * n), *rhs = tu_xalloc(n * k), *xs = tu_xalloc(n * k), *xv = tu_xalloc(n * k);
    size_t i, j, p;
    for (i = 0; i < n; ++i)
        for (j = 0; j < n; ++j) l[i * n + j] = j < i ? tu_normal(&r) / sqrt((double)n) : (j == i ? 1.0 + tu_unif(&r) : 0.0);
    tu_fill_normal(&r, rhs, n * k);
    memcpy(xs, rhs, n * k * sizeof *xs);
    cr_assert_eq(entk_simd_set(ENTK_SIMD_SCALAR), ENTK_OK);
    cr_assert_eq(entk_chol_solve(n, l, n, k, xs, k), ENTK_OK);
    for (p = 0; p < sizeof paths / sizeof paths[0]; ++p) {
        if (entk_simd_set(paths[p]) != ENTK_OK) continue;
        memcpy(xv, rhs, n * k * sizeof *xv);
        cr_assert_eq(entk_chol_solve(n, l, n, k, xv, k), ENTK_OK);
        cr_assert(tu_rel_frob(xv, xs, n * k) < 1e-12, "path %d: %.3g", (int)paths[p], tu_rel_frob(xv, xs, n * k));
    }
    entk_simd_set(saved);
    free(l); free(rhs); free(xs); free(xv);
}

Test(solve, chol_solve_inverts_spd) {
    const size_t ns[] = {1, 10, 64, 150, 333};
    tu_rng r = {22};
    size_t s, i, j, c;
    for (s = 0; s < sizeof ns / sizeof ns[0]; ++s) {
        const size_t n = ns[s], k = 5;
        double *a = tu_xalloc(n * n), *l = tu_xalloc(n * n), *b = tu_xalloc(n * k), *x = tu_xalloc(n * k), *ax = tu_xalloc(n * k);
        cr_assert_eq(tu_spd(&r, n, a, n), 0);
        memcpy(l, a, n * n * sizeof *a);
        cr_assert_eq(entk_cholesky(n, l, n, NULL), ENTK_OK);
        tu_fill_normal(&r, b, n * k);
        memcpy(x, b, n * k * sizeof *x);
        cr_assert_eq(entk_chol_solve(n, l, n, k, x, k), ENTK_OK);
        for (i = 0; i < n; ++i)
            for (c = 0; c < k; ++c) {
                double t = 0;
                for (j = 0; j < n; ++j) t += a[i * n + j] * x[j * k + c];
                ax[i * k + c] = t;
            }
        cr_assert(tu_rel_frob(ax, b, n * k) < 1e-10, "n=%zu: %.3g", n, tu_rel_frob(ax, b, n * k));
        free(a); free(l); free(b); free(x); free(ax);
    }
}

Test(solve, rejects_singular_factor_and_bad_args) {
    double l[4] = {1, 0, 2, 0}, b[2] = {1, 1};
    cr_assert_eq(entk_chol_forward(2, l, 2, 1, b, 1), ENTK_ERR_INVALID_ARG);
    l[3] = NAN;
    cr_assert_eq(entk_chol_backward(2, l, 2, 1, b, 1), ENTK_ERR_INVALID_ARG);
    l[3] = 1;
    cr_assert_eq(entk_chol_solve(2, l, 1, 1, b, 1), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_chol_solve(2, l, 2, 2, b, 1), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_chol_solve(2, l, 2, 1, b, 1), ENTK_OK);
    /* [[1,0],[2,1]] [[1,2],[0,1]] = [[1,2],[2,5]]; [[1,2],[2,5]] (3, -1) = (1, 1) */
    cr_assert(fabs(b[0] - 3.0) < 1e-15 && fabs(b[1] + 1.0) < 1e-15, "%g %g", b[0], b[1]);
    cr_assert_eq(entk_chol_solve(0, NULL, 0, 3, NULL, 0), ENTK_OK);
}

/* ---- eigensolver ------------------------------------------------------------------------------ */

static void eig_check(size_t n, const double *a, const double *w, const double *v, double *res, double *orth) {
    double r2 = 0, o2 = 0, an = 0;
    size_t i, j, k;
    for (i = 0; i < n; ++i)
        for (j = 0; j < n; ++j) {
            double s = 0, o = 0;
            for (k = 0; k < n; ++k) {
                s += a[i * n + k] * v[k * n + j];
                o += v[k * n + i] * v[k * n + j];
            }
            s -= v[i * n + j] * w[j];
            o -= (i == j);
            r2 += s * s;
            o2 += o * o;
            an += a[i * n + j] * a[i * n + j];
        }
    *res = an > 0 ? sqrt(r2 / an) : sqrt(r2);
    *orth = sqrt(o2);
}

Test(eigen, residual_orthogonality_and_order_random) {
    const size_t ns[] = {1, 2, 3, 4, 10, 57, 200};
    tu_rng r = {31};
    size_t s, i, j;
    for (s = 0; s < sizeof ns / sizeof ns[0]; ++s) {
        const size_t n = ns[s];
        double *a = tu_xalloc(n * n), *w = tu_xalloc(n), *w2 = tu_xalloc(n), *v = tu_xalloc(n * n), res, orth;
        for (i = 0; i < n; ++i)
            for (j = 0; j <= i; ++j) a[i * n + j] = a[j * n + i] = tu_normal(&r);
        cr_assert_eq(entk_syev(n, a, n, w, v, n), ENTK_OK, "n=%zu", n);
        for (i = 1; i < n; ++i) cr_assert(w[i - 1] <= w[i], "not ascending at %zu", i);
        eig_check(n, a, w, v, &res, &orth);
        cr_assert(res < 50 * (double)n * DBL_EPSILON, "n=%zu ||AV-VL||/||A|| = %.3g", n, res);
        cr_assert(orth < 50 * (double)n * DBL_EPSILON, "n=%zu ||V^TV-I|| = %.3g", n, orth);
        cr_assert_eq(entk_syev(n, a, n, w2, NULL, 0), ENTK_OK);
        for (i = 0; i < n; ++i) cr_assert(fabs(w2[i] - w[i]) <= 1e-12 * fabs(w[n - 1] - w[0]) + 1e-300);
        free(a); free(w); free(w2); free(v);
    }
}

static int cmp_double(const void *x, const void *y) {
    const double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Q^T diag(lam) Q with chosen lam (negative, clustered, repeated, zero): eigenvalues recovered to
 * 1e-13 ||A||, also with only the lower triangle valid (the upper filled with garbage). */
Test(eigen, recovers_chosen_spectra) {
    tu_rng r = {32};
    const size_t n = 120;
    double *lam = tu_xalloc(n), *a = tu_xalloc(n * n), *w = tu_xalloc(n), *v = tu_xalloc(n * n), res, orth, amax = 0;
    size_t i, j, variant;
    for (variant = 0; variant < 3; ++variant) {
        for (i = 0; i < n; ++i) {
            if (variant == 0) lam[i] = (double)i - 40.5;                  /* spread, with negatives */
            else if (variant == 1) lam[i] = (i % 4 == 0) ? 2.0 : (i % 4 == 1 ? -1.0 : 1e-3 * (double)i); /* repeated */
            else lam[i] = i < 60 ? 0.0 : 1.0 + 1e-9 * (double)i;         /* zero block, tight cluster */
        }
        spectrum_matrix(&r, n, lam, a, n);
        qsort(lam, n, sizeof *lam, cmp_double);
        for (i = 0; i < n; ++i) amax = fmax(amax, fabs(lam[i]));
        {
            double *g = tu_xalloc(n * n);
            memcpy(g, a, n * n * sizeof *a);
            for (i = 0; i < n; ++i)
                for (j = i + 1; j < n; ++j) g[i * n + j] = 1e300; /* upper: never read */
            cr_assert_eq(entk_syev(n, g, n, w, v, n), ENTK_OK);
            free(g);
        }
        for (i = 0; i < n; ++i)
            cr_assert(fabs(w[i] - lam[i]) <= 1e-13 * amax * (double)n / 10, "variant %zu: w[%zu] = %.17g, want %.17g",
                      variant, i, w[i], lam[i]);
        eig_check(n, a, w, v, &res, &orth);
        cr_assert(res < 50 * (double)n * DBL_EPSILON && orth < 50 * (double)n * DBL_EPSILON, "variant %zu: %.3g %.3g",
                  variant, res, orth);
    }
    free(lam); free(a); free(w); free(v);
}

/* Diagonal and already tridiagonal input, the zero matrix, a 2 x 2 closed form. */
Test(eigen, special_matrices) {
    double d[9] = {3, 0, 0, 0, -1, 0, 0, 0, 2}, w[3], v[9], z[9] = {0}, res, orth;
    double t2[4] = {2, 1, 1, 2};
    double tri[16] = {2, -1, 0, 0, -1, 2, -1, 0, 0, -1, 2, -1, 0, 0, -1, 2};
    double w4[4], v4[16];
    size_t i;
    cr_assert_eq(entk_syev(3, d, 3, w, v, 3), ENTK_OK);
    cr_assert(w[0] == -1 && w[1] == 2 && w[2] == 3);
    eig_check(3, d, w, v, &res, &orth);
    cr_assert(res == 0 && orth == 0);
    cr_assert_eq(entk_syev(3, z, 3, w, v, 3), ENTK_OK);
    cr_assert(w[0] == 0 && w[2] == 0);
    cr_assert_eq(entk_syev(2, t2, 2, w, v, 2), ENTK_OK);
    cr_assert(fabs(w[0] - 1) < 1e-15 && fabs(w[1] - 3) < 1e-15);
    /* the 1-D Laplacian: 2 - 2 cos(k pi / 5) */
    cr_assert_eq(entk_syev(4, tri, 4, w4, v4, 4), ENTK_OK);
    for (i = 0; i < 4; ++i) cr_assert(fabs(w4[i] - (2 - 2 * cos((double)(i + 1) * 3.14159265358979323846 / 5))) < 1e-14);
}

Test(eigen, rejects_nonfinite_and_bad_args) {
    double a[4] = {1, 0, NAN, 1}, w[2], v[4];
    cr_assert_eq(entk_syev(2, a, 2, w, v, 2), ENTK_ERR_NONFINITE);
    a[2] = 0;
    a[1] = NAN; /* upper: not read */
    cr_assert_eq(entk_syev(2, a, 2, w, v, 2), ENTK_OK);
    cr_assert_eq(entk_syev(2, a, 1, w, v, 2), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_syev(2, a, 2, NULL, v, 2), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_syev(2, a, 2, w, v, 1), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_syev(0, NULL, 0, NULL, NULL, 0), ENTK_OK);
}

/* The rotation kernels of each path give the same spectrum and equally good vectors. */
Test(eigen, simd_paths_agree_with_scalar) {
    const entk_simd paths[] = {ENTK_SIMD_AVX2, ENTK_SIMD_NEON, ENTK_SIMD_AVX512};
    const entk_simd saved = entk_simd_path();
    const size_t n = 90;
    tu_rng r = {33};
    double *a = tu_xalloc(n * n), *ws = tu_xalloc(n), *w = tu_xalloc(n), *v = tu_xalloc(n * n), res, orth;
    size_t i, j, p;
    for (i = 0; i < n; ++i)
        for (j = 0; j <= i; ++j) a[i * n + j] = a[j * n + i] = tu_normal(&r);
    cr_assert_eq(entk_simd_set(ENTK_SIMD_SCALAR), ENTK_OK);
    cr_assert_eq(entk_syev(n, a, n, ws, v, n), ENTK_OK);
    for (p = 0; p < sizeof paths / sizeof paths[0]; ++p) {
        if (entk_simd_set(paths[p]) != ENTK_OK) continue;
        cr_assert_eq(entk_syev(n, a, n, w, v, n), ENTK_OK);
        for (i = 0; i < n; ++i) cr_assert(fabs(w[i] - ws[i]) < 1e-12 * fabs(ws[n - 1] - ws[0]));
        eig_check(n, a, w, v, &res, &orth);
        cr_assert(res < 50 * (double)n * DBL_EPSILON && orth < 50 * (double)n * DBL_EPSILON);
    }
    entk_simd_set(saved);
    free(a); free(ws); free(w); free(v);
}

/* entk_gemm, all four transpose cases, against the naive triple loop on odd shapes (every micro-kernel
 * edge), C accumulated into; the product sums in a different order, so to a few ulps of sum |a||b|. */
Test(gemm, all_transposes_against_naive) {
    static const size_t dims[][3] = {{1, 1, 1}, {7, 5, 3}, {13, 17, 29}, {40, 3, 65}};
    tu_rng r = {77};
    size_t d;
    for (d = 0; d < sizeof dims / sizeof dims[0]; ++d) {
        const size_t m = dims[d][0], n = dims[d][1], k = dims[d][2];
        double *a = malloc(m * k * sizeof *a), *b = malloc(k * n * sizeof *b), *c = malloc(m * n * sizeof *c),
               *c0 = malloc(m * n * sizeof *c0);
        int ta, tb;
        tu_fill_normal(&r, a, m * k);
        tu_fill_normal(&r, b, k * n);
        tu_fill_normal(&r, c0, m * n);
        for (ta = 0; ta < 2; ++ta)
            for (tb = 0; tb < 2; ++tb) {
                size_t i, j, p;
                memcpy(c, c0, m * n * sizeof *c);
                /* a stored m x k (ta 0) or k x m (ta 1) with the same values read as op(A) */
                cr_assert_eq(entk_gemm(m, n, k, -0.5, a, ta ? m : k, ta, b, tb ? k : n, tb, c, n), ENTK_OK);
                for (i = 0; i < m; ++i)
                    for (j = 0; j < n; ++j) {
                        double s = 0, bound = 0;
                        for (p = 0; p < k; ++p) {
                            const double x = ta ? a[p * m + i] : a[i * k + p], y = tb ? b[j * k + p] : b[p * n + j];
                            s += x * y;
                            bound += fabs(x * y);
                        }
                        cr_assert(fabs(c[i * n + j] - (c0[i * n + j] - 0.5 * s)) <= 8 * DBL_EPSILON * (bound + fabs(c0[i * n + j])),
                                  "%zu x %zu x %zu ta %d tb %d (%zu, %zu)", m, n, k, ta, tb, i, j);
                    }
            }
        cr_assert_eq(entk_gemm(0, n, k, 1.0, NULL, 1, 0, NULL, 1, 0, NULL, 1), ENTK_OK);
        cr_assert_eq(entk_gemm(m, n, k, 1.0, a, k - 1 + (k == 1), 0, b, n, 0, c, n), k == 1 ? ENTK_OK : ENTK_ERR_INVALID_ARG);
        cr_assert_eq(entk_gemm(m, n, k, NAN, a, k, 0, b, n, 0, c, n), ENTK_ERR_INVALID_ARG);
        free(a);
        free(b);
        free(c);
        free(c0);
    }
}
