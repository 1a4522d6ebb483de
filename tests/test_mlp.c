/* MLP kernels (entk_mlp_kernel, entk_mlp_diag, entk_scalar_chain): Monte-Carlo finite-width networks,
 * closed forms written independently here, API identities and error statuses. */
/* finite_net.h uses entk's internal GEMM, so this file takes its own static copy of the implementation
 * (tests/impl.c still holds the extern one) */
#define ENTK_STATIC
#define ENTK_IMPLEMENTATION
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include "testutil.h"
#include "finite_net.h"


/* n inputs of dimension d, not normalised: coordinates of different scales, plus an offset */
static void make_inputs(double *x, size_t n, size_t d, uint64_t seed) {
    tu_rng r = {seed};
    size_t i, k;
    for (i = 0; i < n; ++i)
        for (k = 0; k < d; ++k) x[i * d + k] = (0.4 + 0.3 * (double)((i + k) % 4)) * tu_normal(&r) + 0.2;
}

/* ---- Monte Carlo: finite networks of width 1024 over 100 seeds converge to the analytic kernels ---- */

static void mc_check(const char *arch_s, uint64_t seed) {
    enum { N = 5, D = 10 };
    const size_t width = 1024, nout = 256;
    const int seeds = 100;
    entk_arch a = tu_parse(arch_s);
    double x[N * D], k[N * N], t[N * N], km[N * N], tm[N * N], ek, et;
    make_inputs(x, N, D, seed);
    cr_assert_eq(entk_mlp_kernel(&a, x, N, NULL, 0, D, k, N, t, N, 1), ENTK_OK);
    cr_assert_eq(fnet_mc(&a, x, N, D, 1, 1, width, nout, seeds, seed * 1000, km, tm), 0);
    ek = tu_rel_frob(km, k, N * N);
    et = tu_rel_frob(tm, t, N * N);
    cr_log_info("%s: width %zu, %d seeds: NNGP rel err %.4f, NTK rel err %.4f", arch_s, width, seeds, ek, et);
    cr_assert_leq(ek, 0.04, "%s: NNGP rel Frobenius error %g", arch_s, ek);
    cr_assert_leq(et, 0.04, "%s: NTK rel Frobenius error %g", arch_s, et);
}

Test(mlp_mc, relu_three_dense_layers_with_bias, .timeout = 120) {
    mc_check("dense(sw=1.5,sb=0.2) relu dense(sw=1.4,sb=0.3) relu dense(sw=1.2,sb=0.1)", 11);
}

Test(mlp_mc, erf_two_dense_layers, .timeout = 120) {
    mc_check("dense(sw=1.3,sb=0.2) erf dense(sw=1.1,sb=0.1)", 12);
}

Test(mlp_mc, leaky_relu_two_dense_layers, .timeout = 120) {
    mc_check("dense(sw=1.2,sb=0.5) leaky_relu(a=0.2) dense(sw=0.9,sb=0.3)", 13);
}

/* ---- the finite network's NTK contraction equals J J^T by central differences over every parameter ---- */

static void fd_check(const char *arch_s, size_t d, size_t width) {
    enum { N = 3 };
    entk_arch a = tu_parse(arch_s);
    fnet net;
    double x[N * 16], t[N * N], jj[N * N], f[N * 2];
    cr_assert_leq(d, 16);
    make_inputs(x, N, d, 5);
    cr_assert_eq(fnet_build(&net, &a, d, 1, 1, width, 2), 0);
    fnet_draw(&net, 77);
    cr_assert_eq(fnet_eval(&net, x, N, f, t), 0);
    cr_assert_null(fnet_param(&net, fnet_nparams(&net)));
    cr_assert_eq(fnet_fd_ntk(&net, x, N, jj), 0);
    cr_assert_leq(tu_rel_frob(t, jj, N * N), 1e-7, "%s: NTK vs J J^T: %g", arch_s, tu_rel_frob(t, jj, N * N));
    fnet_free(&net);
}

Test(finite_net, mlp_ntk_equals_finite_difference_jacobian_product) {
    fd_check("dense(sw=1.5,sb=0.2) erf dense(sb=0.3) relu dense(sw=0.8,sb=0.1)", 6, 4);
    fd_check("dense(sb=0.7) gelu dense(sw=1.3,sb=0.2) sin dense", 5, 5);
    fd_check("dense(sw=2) leaky_relu(a=0.3) dense(sb=1) identity dense(sb=0.5)", 7, 3);
}

/* ---- exact identities ---- */

/* One dense layer: Theta = K = sw^2 x.x'/d + sb^2. */
Test(mlp, single_dense_layer_ntk_equals_nngp_equals_linear_kernel) {
    enum { N = 4, M = 3, D = 9 };
    const double sw = 1.7, sb = 0.4;
    entk_arch a = tu_parse("dense(sw=1.7,sb=0.4)");
    double x[N * D], y[M * D], k[N * M], t[N * M];
    size_t i, j, c;
    make_inputs(x, N, D, 21);
    make_inputs(y, M, D, 22);
    cr_assert_eq(entk_mlp_kernel(&a, x, N, y, M, D, k, M, t, M, 1), ENTK_OK);
    for (i = 0; i < N; ++i)
        for (j = 0; j < M; ++j) {
            double dot = 0, want;
            for (c = 0; c < D; ++c) dot += x[i * D + c] * y[j * D + c];
            want = sw * sw * dot / D + sb * sb;
            cr_assert_eq(t[i * M + j], k[i * M + j], "NTK != NNGP at (%zu,%zu)", i, j);
            cr_assert_float_eq(k[i * M + j], want, 1e-13 * (fabs(want) + 1), "(%zu,%zu): %.17g vs %.17g", i, j,
                               k[i * M + j], want);
        }
}

/* Two-layer relu network from the arc-cosine kernel (Cho & Saul), written with acos here:
 * K2 = c^2 sqrt(k11 k22) (sin th + (pi - th) cos th) / (2 pi) + e^2, cos th = k12 / sqrt(k11 k22),
 * Theta2 = K2 + c^2 Theta1 (pi - th) / (2 pi), Theta1 = K1 = a^2 x.x'/d + b^2. */
Test(mlp, two_layer_relu_matches_arc_cosine_closed_form) {
    enum { N = 5, D = 7 };
    const double aw = 1.3, ab = 0.25, cw = 1.6, cb = 0.35;
    entk_arch a = tu_parse("dense(sw=1.3,sb=0.25) relu dense(sw=1.6,sb=0.35)");
    double x[N * D], k[N * N], t[N * N], k1[N * N];
    size_t i, j, c;
    make_inputs(x, N, D, 31);
    cr_assert_eq(entk_mlp_kernel(&a, x, N, NULL, 0, D, k, N, t, N, 1), ENTK_OK);
    for (i = 0; i < N; ++i)
        for (j = 0; j < N; ++j) {
            double dot = 0;
            for (c = 0; c < D; ++c) dot += x[i * D + c] * x[j * D + c];
            k1[i * N + j] = aw * aw * dot / D + ab * ab;
        }
    for (i = 0; i < N; ++i)
        for (j = 0; j < N; ++j) {
            const double nrm = sqrt(k1[i * N + i] * k1[j * N + j]);
            double cth = k1[i * N + j] / nrm, th, wk, wt;
            if (cth > 1) cth = 1;
            if (cth < -1) cth = -1;
            th = i == j ? 0.0 : acos(cth); /* acos is ill-conditioned at 1; the diagonal angle is 0 */
            wk = cw * cw * nrm * (sin(th) + (M_PI - th) * cos(th)) / (2 * M_PI) + cb * cb;
            wt = wk + cw * cw * k1[i * N + j] * (M_PI - th) / (2 * M_PI);
            cr_assert_float_eq(k[i * N + j], wk, 1e-12 * fabs(wk), "K(%zu,%zu) %.17g vs %.17g", i, j,
                               k[i * N + j], wk);
            cr_assert_float_eq(t[i * N + j], wt, 1e-12 * fabs(wt), "Theta(%zu,%zu) %.17g vs %.17g", i,
                               j, t[i * N + j], wt);
        }
}

/* Gram matrix of n inputs in a padded layout (ld > n) for the API identities below */
#define GN 37
#define GD 13
#define GLD 41
static const char *const api_arch = "dense(sw=1.4,sb=0.3) erf dense(sw=1.2,sb=0.1) relu dense(sw=0.9,sb=0.2)";

Test(mlp, symmetric_call_equals_general_call) {
    entk_arch a = tu_parse(api_arch);
    static double x[GN * GD], k1[GN * GLD], t1[GN * GLD], k2[GN * GLD], t2[GN * GLD];
    size_t i, j;
    make_inputs(x, GN, GD, 41);
    cr_assert_eq(entk_mlp_kernel(&a, x, GN, NULL, 0, GD, k1, GLD, t1, GLD, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, x, GN, x, GN, GD, k2, GLD, t2, GLD, 1), ENTK_OK);
    for (i = 0; i < GN; ++i)
        for (j = 0; j < GN; ++j) {
            cr_assert_float_eq(k1[i * GLD + j], k2[i * GLD + j], 1e-14 * fabs(k2[i * GLD + j]), "K(%zu,%zu)", i, j);
            cr_assert_float_eq(t1[i * GLD + j], t2[i * GLD + j], 1e-14 * fabs(t2[i * GLD + j]), "T(%zu,%zu)", i, j);
            cr_assert_eq(k1[i * GLD + j], k1[j * GLD + i], "symmetric result not symmetric");
            cr_assert_eq(t1[i * GLD + j], t1[j * GLD + i], "symmetric result not symmetric");
        }
}

Test(mlp, nngp_only_and_ntk_only_equal_full_call) {
    entk_arch a = tu_parse(api_arch);
    enum { M = 11 };
    static double x[GN * GD], y[M * GD], k[GN * M], t[GN * M], ko[GN * M], to[GN * M];
    make_inputs(x, GN, GD, 51);
    make_inputs(y, M, GD, 52);
    cr_assert_eq(entk_mlp_kernel(&a, x, GN, y, M, GD, k, M, t, M, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, x, GN, y, M, GD, ko, M, NULL, 0, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, x, GN, y, M, GD, NULL, 0, to, M, 1), ENTK_OK);
    cr_assert_arr_eq(k, ko, sizeof k);
    cr_assert_arr_eq(t, to, sizeof t);
}

Test(mlp, symmetric_ntk_only_equals_full_call) {
    entk_arch a = tu_parse(api_arch);
    static double x[GN * GD], k[GN * GN], t[GN * GN], ko[GN * GN], to[GN * GN];
    make_inputs(x, GN, GD, 53);
    cr_assert_eq(entk_mlp_kernel(&a, x, GN, NULL, 0, GD, k, GN, t, GN, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, x, GN, NULL, 0, GD, ko, GN, NULL, 0, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, x, GN, NULL, 0, GD, NULL, 0, to, GN, 1), ENTK_OK);
    cr_assert_arr_eq(k, ko, sizeof k);
    cr_assert_arr_eq(t, to, sizeof t);
}

Test(mlp, two_threads_bit_identical_to_one) {
    entk_arch a = tu_parse(api_arch);
    enum { M = 29 };
    static double x[GN * GD], y[M * GD], k1[GN * GN], t1[GN * GN], k2[GN * GN], t2[GN * GN];
    static double c1[GN * M], d1[GN * M], c2[GN * M], d2[GN * M];
    make_inputs(x, GN, GD, 61);
    make_inputs(y, M, GD, 62);
    cr_assert_eq(entk_mlp_kernel(&a, x, GN, NULL, 0, GD, k1, GN, t1, GN, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, x, GN, NULL, 0, GD, k2, GN, t2, GN, 2), ENTK_OK);
    cr_assert_arr_eq(k1, k2, sizeof k1);
    cr_assert_arr_eq(t1, t2, sizeof t1);
    cr_assert_eq(entk_mlp_kernel(&a, x, GN, y, M, GD, c1, M, d1, M, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, x, GN, y, M, GD, c2, M, d2, M, 2), ENTK_OK);
    cr_assert_arr_eq(c1, c2, sizeof c1);
    cr_assert_arr_eq(d1, d2, sizeof d1);
}

/* Progress with 2 threads: whichever thread finishes the last block, the callback's last report is
 * done == total (once), the done values never decrease, and two reports never overlap. */
Test(mlp, progress_reports_total_with_two_threads) {
    entk_arch a = tu_parse(api_arch);
    enum { N = 23 };
    static double x[N * GD], k[N * N], t[N * N];
    int rep;
    make_inputs(x, N, GD, 63);
    for (rep = 0; rep < 40; ++rep) {
        tu_prog_rec r;
        memset(&r, 0, sizeof r);
        entk_set_progress(tu_prog_cb, &r);
        if (rep % 2) cr_assert_eq(entk_mlp_kernel(&a, x, N, NULL, 0, GD, k, N, t, N, 2), ENTK_OK);
        else cr_assert_eq(entk_mlp_kernel(&a, x, N, x, 10, GD, k, 10, NULL, 0, 2), ENTK_OK);
        entk_set_progress(NULL, NULL);
        cr_assert_eq(r.bad, 0u, "run %d: a report out of order, out of range or concurrent", rep);
        cr_assert_eq(r.total, (size_t)N, "run %d", rep);
        cr_assert_eq(r.last, r.total, "run %d: last report %zu of %zu", rep, r.last, r.total);
        cr_assert_eq(r.finals, 1u, "run %d: total reported %zu times", rep, r.finals);
    }
}

Test(mlp, diag_equals_gram_diagonal) {
    entk_arch a = tu_parse(api_arch);
    static double x[GN * GD], k[GN * GN], t[GN * GN], kd[GN], td[GN];
    size_t i;
    make_inputs(x, GN, GD, 71);
    cr_assert_eq(entk_mlp_kernel(&a, x, GN, NULL, 0, GD, k, GN, t, GN, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_diag(&a, x, GN, GD, kd, td), ENTK_OK);
    for (i = 0; i < GN; ++i) {
        cr_assert_float_eq(kd[i], k[i * GN + i], 1e-14 * fabs(kd[i]), "K diag %zu", i);
        cr_assert_float_eq(td[i], t[i * GN + i], 1e-14 * fabs(td[i]), "Theta diag %zu", i);
    }
    cr_assert_eq(entk_mlp_diag(&a, x, GN, GD, NULL, td), ENTK_OK);
    cr_assert_eq(entk_mlp_diag(&a, x, GN, GD, kd, NULL), ENTK_OK);
}

/* The chain after the first layer, started from the first layer's kernels computed here by hand,
 * reproduces every Gram entry (the image and SO(3) headers rely on this after pooling). */
Test(mlp, scalar_chain_equals_gram_entries) {
    entk_arch a = tu_parse(api_arch);
    enum { N = 6 };
    double x[N * GD], k[N * N], t[N * N];
    const double w2 = 1.4 * 1.4, b2 = 0.3 * 0.3;
    size_t i, j;
    make_inputs(x, N, GD, 81);
    cr_assert_eq(entk_mlp_kernel(&a, x, N, NULL, 0, GD, k, N, t, N, 1), ENTK_OK);
    for (i = 0; i < N; ++i)
        for (j = 0; j < N; ++j) {
            double d11, d22, d12, k11, t11, k22, t22, k12, t12;
            tu_dots(x, GD, i, j, &d11, &d22, &d12);
            k11 = t11 = w2 * d11 / GD + b2;
            k22 = t22 = w2 * d22 / GD + b2;
            k12 = t12 = w2 * d12 / GD + b2;
            cr_assert_eq(entk_scalar_chain(a.layer + 1, a.n_layers - 1, &k11, &t11, &k22, &t22, &k12, &t12), ENTK_OK);
            cr_assert_float_eq(k12, k[i * N + j], 1e-13 * fabs(k12), "K(%zu,%zu) %.17g vs %.17g", i, j, k12,
                               k[i * N + j]);
            cr_assert_float_eq(t12, t[i * N + j], 1e-13 * fabs(t12), "Theta(%zu,%zu) %.17g vs %.17g", i, j, t12,
                               t[i * N + j]);
            cr_assert_float_eq(k11, k[i * N + i], 1e-13 * fabs(k11), "K(%zu,%zu)", i, i);
            cr_assert_float_eq(t22, t[j * N + j], 1e-13 * fabs(t22), "Theta(%zu,%zu)", j, j);
        }
}

/* ---- errors ---- */

Test(mlp_errors, nonfinite_inputs) {
    entk_arch a = tu_parse(api_arch);
    double x[3 * 4] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, y[2 * 4] = {1, 0, 0, 1, 0, 1, 1, 0}, k[6], t[6];
    double bad[] = {NAN, INFINITY, -INFINITY};
    size_t b;
    for (b = 0; b < 3; ++b) {
        x[7] = bad[b];
        cr_assert_eq(entk_mlp_kernel(&a, x, 3, NULL, 0, 4, k, 3, NULL, 0, 1), ENTK_ERR_NONFINITE);
        cr_assert_eq(entk_mlp_kernel(&a, x, 3, y, 2, 4, k, 2, t, 2, 1), ENTK_ERR_NONFINITE);
        cr_assert_eq(entk_mlp_diag(&a, x, 3, 4, k, t), ENTK_ERR_NONFINITE);
        x[7] = 8;
        y[5] = bad[b];
        cr_assert_eq(entk_mlp_kernel(&a, x, 3, y, 2, 4, k, 2, t, 2, 1), ENTK_ERR_NONFINITE);
        y[5] = 1;
    }
    cr_assert_eq(entk_mlp_kernel(&a, x, 3, y, 2, 4, k, 2, t, 2, 1), ENTK_OK);
}

Test(mlp_errors, first_layer_not_dense_or_non_mlp_layer) {
    double x[4] = {1, 2, 3, 4}, k[1];
    static const char *const bad[] = {"relu dense", "conv dense", "dense gap dense", "dense relu lift dense"};
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        entk_arch a = tu_parse(bad[i]);
        cr_assert_eq(entk_mlp_kernel(&a, x, 1, NULL, 0, 4, k, 1, NULL, 0, 1), ENTK_ERR_ARCH, "%s", bad[i]);
        cr_assert_eq(entk_mlp_diag(&a, x, 1, 4, k, NULL), ENTK_ERR_ARCH, "%s", bad[i]);
    }
}

Test(mlp_errors, leading_dimension_too_small) {
    entk_arch a = tu_parse(api_arch);
    double x[3 * 2] = {1, 2, 3, 4, 5, 6}, k[9], t[9];
    cr_assert_eq(entk_mlp_kernel(&a, x, 3, NULL, 0, 2, k, 2, t, 3, 1), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_mlp_kernel(&a, x, 3, NULL, 0, 2, k, 3, t, 2, 1), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_mlp_kernel(&a, x, 3, x, 2, 2, k, 1, NULL, 0, 1), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_mlp_kernel(&a, x, 3, NULL, 0, 2, k, 3, t, 3, 1), ENTK_OK);
}

Test(mlp_errors, size_overflow) {
    entk_arch a = tu_parse(api_arch);
    double x[4] = {0}, k[4];
    /* never read: the size check comes first */
    cr_assert_eq(entk_mlp_kernel(&a, x, SIZE_MAX / 2, x, 1, 3, k, 1, NULL, 0, 1), ENTK_ERR_OVERFLOW);
    cr_assert_eq(entk_mlp_kernel(&a, x, 1, x, SIZE_MAX / 4 + 1, 8, k, SIZE_MAX, NULL, 0, 1), ENTK_ERR_OVERFLOW);
    cr_assert_eq(entk_mlp_diag(&a, x, SIZE_MAX / 2, 3, k, NULL), ENTK_ERR_OVERFLOW);
}

Test(mlp_errors, zero_inputs_ok_and_null_arguments) {
    entk_arch a = tu_parse(api_arch);
    double x[4] = {1, 2, 3, 4}, k[4];
    cr_assert_eq(entk_mlp_kernel(&a, NULL, 0, NULL, 0, 4, k, 1, NULL, 0, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, x, 1, x, 0, 4, k, 1, NULL, 0, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, NULL, 0, x, 1, 4, NULL, 0, NULL, 0, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_diag(&a, NULL, 0, 4, k, NULL), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(NULL, x, 1, NULL, 0, 4, k, 1, NULL, 0, 1), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_mlp_kernel(&a, x, 1, NULL, 0, 4, NULL, 1, NULL, 1, 1), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_mlp_kernel(&a, x, 1, NULL, 0, 0, k, 1, NULL, 0, 1), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_scalar_chain(a.layer, 1, NULL, k, k, k, k, k), ENTK_ERR_INVALID_ARG);
}

/* ---- kernels at extreme input scales (ENTK_ERR_RANGE) -------------------------------------------- */

/* A relu net without biases is homogeneous: inputs scaled by c give c^2 times the kernels (NNGP and NTK),
 * here for c = 1e-150 and 1e150 (first-layer values ~1e-300 and ~1e300, beyond the maps' fast ranges),
 * to 1e-14 relative. Inputs scaled by 1e200 (x . x' ~ 1e400) give ENTK_ERR_RANGE from the Gram, the
 * diagonal and the scalar chain, never OK with Inf. */
Test(mlp_scale, relu_net_is_homogeneous_and_overflow_is_range) {
    enum { N = 5, D = 7 };
    entk_arch a = tu_parse("dense(sw=1.3) relu dense(sw=0.8) leaky_relu(a=0.1) dense(sw=1.1) relu dense");
    double x[N * D], xs[N * D], k0[N * N], t0[N * N], k1[N * N], t1[N * N], dg[N], dt[N];
    static const double cs[] = {1e-150, 1e150};
    int s, i;
    make_inputs(x, N, D, 3);
    cr_assert_eq(entk_mlp_kernel(&a, x, N, NULL, 0, D, k0, N, t0, N, 1), ENTK_OK);
    for (s = 0; s < 2; ++s) {
        for (i = 0; i < N * D; ++i) xs[i] = cs[s] * x[i];
        cr_assert_eq(entk_mlp_kernel(&a, xs, N, NULL, 0, D, k1, N, t1, N, 1), ENTK_OK);
        tu_expect_degree2(cs[s], k0, t0, k1, t1, N * N);
    }
    for (i = 0; i < N * D; ++i) xs[i] = 1e200 * x[i];
    cr_expect_eq(entk_mlp_kernel(&a, xs, N, NULL, 0, D, k1, N, t1, N, 1), ENTK_ERR_RANGE);
    cr_expect_eq(entk_mlp_kernel(&a, xs, N, x, N, D, k1, N, NULL, 0, 2), ENTK_ERR_RANGE);
    cr_expect_eq(entk_mlp_diag(&a, xs, N, D, dg, dt), ENTK_ERR_RANGE);
    { /* sw large enough to overflow a later layer from moderate inputs */
        entk_arch big = tu_parse("dense relu dense(sw=1e160) relu dense");
        cr_expect_eq(entk_mlp_kernel(&big, x, N, NULL, 0, D, k1, N, t1, N, 1), ENTK_ERR_RANGE);
    }
    { /* the scalar chain: an overflowing dense layer, and non-finite values coming in */
        entk_layer l[2];
        double k11 = 1e300, t11 = 1e300, k22 = 1e300, t22 = 1e300, k12 = 1e300, t12 = 1e300;
        l[0] = entk_layer_default(ENTK_LAYER_DENSE);
        l[0].sw = 1e10;
        l[1] = entk_layer_default(ENTK_LAYER_NONLIN);
        l[1].nl.kind = ENTK_NL_ERF;
        cr_expect_eq(entk_scalar_chain(l, 2, &k11, &t11, &k22, &t22, &k12, &t12), ENTK_ERR_RANGE);
        k11 = INFINITY; t11 = k22 = t22 = k12 = t12 = 1;
        cr_expect_eq(entk_scalar_chain(l + 1, 1, &k11, &t11, &k22, &t22, &k12, &t12), ENTK_ERR_RANGE);
    }
}

/* An erf net at extreme scales against the derived limits. dense erf dense with K1 = s^2 x.x'/d:
 * s = 1e150: K1 ~ 1e300 and T = (2/pi) atan2(2 k12, sqrt(1 + 2(k11 + k22) + 4(k11 k22 - k12^2))) ->
 * (2/pi) asin(rho), rho = x.x' / (|x| |x'|), so K = (2/pi) asin(rho) off the diagonal (corrections
 * ~ 1/K1 ~ 1e-300) and Theta = K + Tdot K1 -> (2/pi) (asin(rho) + rho / sqrt(1 - rho^2)).
 * s = 1e-150: T = (4/pi) k12 (1 + O(K1)), Tdot = 4/pi, so K = (4/pi) K1 and Theta = (8/pi) K1. */
Test(mlp_scale, erf_net_matches_its_limits_at_extreme_scales) {
    enum { N = 4, D = 6 };
    entk_arch a = tu_parse("dense erf dense");
    double x[N * D], xs[N * D], k[N * N], t[N * N];
    int i, j, l;
    make_inputs(x, N, D, 11);
    for (i = 0; i < N * D; ++i) xs[i] = 1e150 * x[i];
    cr_assert_eq(entk_mlp_kernel(&a, xs, N, NULL, 0, D, k, N, t, N, 1), ENTK_OK);
    for (i = 0; i < N; ++i)
        for (j = 0; j < N; ++j) {
            double xx, yy, xy, rho, ek, et;
            tu_dots(x, D, (size_t)i, (size_t)j, &xx, &yy, &xy);
            rho = xy / sqrt(xx * yy);
            if (i == j) { /* rho = 1: K -> 1 (1 - O(1e-150)); Theta grows like sqrt(K1) */
                cr_expect(fabs(k[i * N + j] - 1) <= 1e-14, "diag %d: %.17g", i, k[i * N + j]);
                cr_expect(isfinite(t[i * N + j]), "diag NTK %d", i);
                continue;
            }
            ek = 2 / M_PI * asin(rho);
            et = 2 / M_PI * (asin(rho) + rho / sqrt(1 - rho * rho));
            cr_expect(fabs(k[i * N + j] - ek) <= 1e-13, "(%d, %d): K %.17g vs limit %.17g", i, j, k[i * N + j], ek);
            cr_expect(fabs(t[i * N + j] - et) <= 1e-13 * fabs(et), "(%d, %d): NTK %.17g vs limit %.17g", i, j,
                      t[i * N + j], et);
        }
    for (i = 0; i < N * D; ++i) xs[i] = 1e-150 * x[i];
    cr_assert_eq(entk_mlp_kernel(&a, xs, N, NULL, 0, D, k, N, t, N, 1), ENTK_OK);
    for (i = 0; i < N; ++i)
        for (j = 0; j < N; ++j) {
            double k1 = 0;
            for (l = 0; l < D; ++l) k1 += xs[i * D + l] * xs[j * D + l];
            k1 /= D;
            cr_expect(fabs(k[i * N + j] - 4 / M_PI * k1) <= 1e-14 * fabs(4 / M_PI * k1), "(%d, %d): K %.17g vs %.17g", i,
                      j, k[i * N + j], 4 / M_PI * k1);
            cr_expect(fabs(t[i * N + j] - 8 / M_PI * k1) <= 1e-14 * fabs(8 / M_PI * k1), "(%d, %d): NTK %.17g vs %.17g",
                      i, j, t[i * N + j], 8 / M_PI * k1);
        }
}

/* Deep nets stay finite and match an independent recursion (the closed forms in long double, written
 * here). ReLU with sw^2 = 2, sb = 0 preserves the diagonal: K(x, x) = |x|^2 / d at every depth (a stated
 * value; sw = sqrt(2) rounds, so 2 (1 + 2^-52)-ish per layer: 1e-13 over 100 layers). Depth 100 through
 * entk_scalar_chain (any number of layers), depth 63 through entk_mlp_kernel (ENTK_MAX_LAYERS = 128). */
static void relu_ld_step(long double *k11, long double *k22, long double *k12, long double *t12) {
    long double s = sqrtl(fmaxl(*k11 * *k22 - *k12 * *k12, 0)), th = atan2l(s, *k12), pi = (long double)M_PI;
    long double tdot = (pi - th) / (2 * pi);
    *k12 = (s + (pi - th) * *k12) / (2 * pi);
    *t12 *= tdot;
    *k11 /= 2;
    *k22 /= 2;
}
Test(mlp_scale, deep_relu_nets_match_an_independent_recursion) {
    enum { DEPTH = 100, N = 3, D = 5 };
    static entk_layer l[2 * DEPTH];
    double x[N * D];
    int i, j, m;
    make_inputs(x, N, D, 21);
    for (i = 0; i < DEPTH; ++i) {
        l[2 * i] = entk_layer_default(ENTK_LAYER_NONLIN);
        l[2 * i].nl.kind = ENTK_NL_RELU;
        l[2 * i + 1] = entk_layer_default(ENTK_LAYER_DENSE);
        l[2 * i + 1].sw = sqrt(2.0);
    }
    for (i = 0; i < N; ++i)
        for (j = 0; j < N; ++j) {
            double k11, k22, k12, t11, t22, t12;
            long double a = 0, b = 0, c = 0, tc;
            tu_dots(x, D, (size_t)i, (size_t)j, &k11, &k22, &k12);
            k11 /= D; k22 /= D; k12 /= D;
            t11 = k11; t22 = k22; t12 = k12;
            a = k11; b = k22; c = k12; tc = k12;
            cr_assert_eq(entk_scalar_chain(l, 2 * DEPTH, &k11, &t11, &k22, &t22, &k12, &t12), ENTK_OK);
            for (m = 0; m < DEPTH; ++m) {
                relu_ld_step(&a, &b, &c, &tc);
                a *= 2; b *= 2; c *= 2;
                tc = c + 2 * tc;
            }
            cr_expect(isfinite(k12) && isfinite(t12), "(%d, %d) not finite", i, j);
            cr_expect(fabsl(k11 - a) <= 1e-13L * a && fabsl(k22 - b) <= 1e-13L * b, "diag %.17g vs %.17Lg", k11, a);
            cr_expect(fabsl(k12 - c) <= 1e-13L * a, "(%d, %d): K %.17g vs recursion %.17Lg", i, j, k12, c);
            cr_expect(fabsl(t12 - tc) <= 1e-12L * fabsl(tc), "(%d, %d): NTK %.17g vs recursion %.17Lg", i, j, t12, tc);
            { /* the stated value: the diagonal is |x|^2 / d at depth 100 */
                double v = 0;
                for (m = 0; m < D; ++m) v += x[i * D + m] * x[i * D + m];
                cr_expect(fabs(k11 - v / D) <= 1e-13 * v / D, "diag %.17g vs |x|^2/d %.17g", k11, v / D);
            }
        }
    { /* depth 63 through the Gram driver (dense + 63 x (relu dense)), every path the scalar chain's values */
        entk_arch a;
        double kk[N * N], tt[N * N];
        a.n_layers = 127;
        a.layer[0] = entk_layer_default(ENTK_LAYER_DENSE);
        for (i = 1; i < 127; ++i) a.layer[i] = l[i - 1];
        cr_assert_eq(entk_mlp_kernel(&a, x, N, NULL, 0, D, kk, N, tt, N, 1), ENTK_OK);
        for (i = 0; i < N; ++i)
            for (j = 0; j < N; ++j) {
                double k11, k22, k12, t11, t22, t12;
                tu_dots(x, D, (size_t)i, (size_t)j, &k11, &k22, &k12);
            k11 /= D; k22 /= D; k12 /= D;
                t11 = k11; t22 = k22; t12 = k12;
                cr_assert_eq(entk_scalar_chain(l, 126, &k11, &t11, &k22, &t22, &k12, &t12), ENTK_OK);
                cr_expect(fabs(kk[i * N + j] - k12) <= 1e-13 * k11 && fabs(tt[i * N + j] - t12) <= 1e-12 * fabs(t12),
                          "(%d, %d): %.17g vs %.17g, %.17g vs %.17g", i, j, kk[i * N + j], k12, tt[i * N + j], t12);
            }
    }
}
