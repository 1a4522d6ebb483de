/* Training finite networks (tests/finite_net.h): the backward pass against finite differences of the
 * loss, one gradient step against the network's own empirical NTK, wide networks trained by gradient
 * descent against entk's NTK mean prediction mu_t (docs/conventions.md §3), exact C4 invariance of a
 * GCNN during training, and ensembles independent of the thread count. */
/* finite_net.h uses entk's internal GEMM, so this file takes its own static copy of the implementation
 * (tests/impl.c still holds the extern one) */
#define ENTK_STATIC
#define ENTK_IMPLEMENTATION
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include "testutil.h"
#include "finite_net.h"
#include "entk_cn.h"
#ifdef _OPENMP
#include <omp.h>
#endif

static void fill(double *x, size_t n, double scale, double offset, uint64_t seed) {
    tu_rng r = {seed};
    size_t i;
    for (i = 0; i < n; ++i) x[i] = scale * tu_normal(&r) + offset;
}

/* frac N k / tr Theta^(X, X): eta lambda / (N k) <= frac for every eigenvalue lambda of the network's
 * empirical NTK at initialisation */
static double eta_for(const fnet *net, const double *x, size_t N, double frac) {
    double *f = malloc(N * net->nout * sizeof(double)), *t = malloc(N * N * sizeof(double)), tr = 0;
    size_t i;
    cr_assert(f && t);
    cr_assert_eq(fnet_eval(net, x, N, f, t), 0);
    for (i = 0; i < N; ++i) tr += t[i * N + i];
    free(f); free(t);
    return frac * (double)(N * net->nout) / tr;
}

/* ---- the gradient of the loss equals central finite differences over every parameter ---- */

static void grad_check(const char *arch_s, size_t C, size_t H, size_t W, size_t width) {
    enum { N = 3, K = 2 };
    const double e = 1e-5;
    entk_arch a = tu_parse(arch_s);
    fnet net;
    size_t np, i;
    double *x, y[N * K], *g, *gfd, loss, lp, lm;
    x = malloc(N * C * H * W * sizeof *x);
    cr_assert(x);
    fill(x, N * C * H * W, 1.0, 0.3, 5);
    fill(y, N * K, 1.0, 0.0, 6);
    cr_assert_eq(fnet_build(&net, &a, C, H, W, width, K), 0, "%s", arch_s);
    fnet_draw(&net, 17);
    np = fnet_nparams(&net);
    g = malloc(np * sizeof *g);
    gfd = malloc(np * sizeof *gfd);
    cr_assert(g && gfd);
    cr_assert_eq(fnet_loss_grad(&net, x, N, y, K, g, &loss), 0);
    for (i = 0; i < np; ++i) {
        double *w = fnet_param(&net, i), v = *w;
        *w = v + e;
        cr_assert_eq(fnet_loss_grad(&net, x, N, y, K, NULL, &lp), 0);
        *w = v - e;
        cr_assert_eq(fnet_loss_grad(&net, x, N, y, K, NULL, &lm), 0);
        *w = v;
        gfd[i] = (lp - lm) / (2 * e);
    }
    cr_assert_gt(loss, 0.05, "%s: loss %g", arch_s, loss);
    cr_assert_leq(tu_rel_frob(g, gfd, np), 1e-6, "%s: gradient vs finite differences: rel %g (%zu params)", arch_s,
                  tu_rel_frob(g, gfd, np), np);
    printf("# grad %-90s %4zu params: rel err %.2e\n", arch_s, np, tu_rel_frob(g, gfd, np));
    free(x); free(g); free(gfd);
    fnet_free(&net);
}

Test(train, mlp_gradient_equals_finite_differences) {
    grad_check("dense(sw=1.3,sb=0.2) relu dense(sw=1.1,sb=0.3) erf dense(sw=0.9,sb=0.1)", 5, 1, 1, 6);
    grad_check("dense(sw=1.2,sb=0.4) gelu dense(sb=0.2) sin dense(sw=1.4,sb=0.3) leaky_relu(a=0.2) dense(sb=0.5)", 3,
               1, 1, 5);
}

Test(train, cnn_gradient_equals_finite_differences) {
    grad_check("conv(q=3,pad=circular,sw=1.3,sb=0.2) relu conv(q=3,pad=circular,sw=1.2,sb=0.3) relu gap "
               "dense(sw=0.9,sb=0.1)", 2, 5, 5, 4);
    /* zero padding (taps of -1), shrinking outputs, avgpool and flatten */
    grad_check("conv(q=3,pad=same,sw=1.1,sb=0.2) gelu avgpool(p=2) conv(q=3,pad=valid,sb=0.4) erf flatten "
               "dense(sw=1.2,sb=0.1)", 1, 6, 6, 3);
}

Test(train, gcnn_gradient_equals_finite_differences) {
    grad_check("lift(n=4,q=3,pad=circular,sw=1.3,sb=0.2) relu gconv(q=3,pad=circular,sw=1.2,sb=0.3) relu gpool "
               "dense(sw=0.9,sb=0.1)", 2, 4, 4, 3);
    grad_check("lift(n=2,q=3,pad=same,sb=0.5) erf gconv(q=3,pad=same,support=id,sw=1.4) gelu rotpool flatten "
               "dense(sb=0.2)", 1, 5, 4, 3);
}

/* ---- the im2col blocks: several inputs per block, one, or all give the same outputs and gradient to
 * rounding (the weight gradient adds the blocks in order) ---- */

static void block_check(const char *arch_s, size_t C, size_t S, size_t width) {
    enum { N = 7, K = 3 };
    entk_arch a = tu_parse(arch_s);
    size_t caps[3], per;
    fnet net;
    size_t np, i;
    double *x = malloc(N * C * S * S * sizeof(double)), y[N * K], f[4][N * K], *g[4], l[4];
    int c;
    cr_assert(x);
    fill(x, N * C * S * S, 1.0, 0.2, 81);
    fill(y, N * K, 1.0, 0.0, 82);
    cr_assert_eq(fnet_build(&net, &a, C, S, S, width, K), 0);
    fnet_draw(&net, 3);
    np = fnet_nparams(&net);
    per = net.layer[0].pout * net.layer[0].ntap * net.layer[0].cin; /* doubles per input of layer 0's im2col */
    caps[0] = 0;       /* one input per block */
    caps[1] = 2 * per; /* 2 + 2 + 2 + 1 */
    caps[2] = 3 * per; /* 3 + 3 + 1 */
    cr_assert_geq(fnet__block(&net.layer[0], N, net.colcap), N, "the default takes all %d inputs at once", N);
    for (c = 0; c < 4; ++c) {
        if (c > 0) net.colcap = caps[c - 1];
        cr_assert(g[c] = malloc(np * sizeof(double)));
        cr_assert_eq(fnet_eval(&net, x, N, f[c], NULL), 0);
        cr_assert_eq(fnet_loss_grad(&net, x, N, y, K, g[c], &l[c]), 0);
    }
    for (c = 1; c < 4; ++c) {
        for (i = 0; i < N * K; ++i)
            cr_assert_float_eq(f[c][i], f[0][i], 1e-14 * (1 + fabs(f[0][i])), "%s cap %zu: output %zu", arch_s,
                               caps[c - 1], i);
        cr_assert_float_eq(l[c], l[0], 1e-14 * l[0], "%s cap %zu: loss", arch_s, caps[c - 1]);
        cr_assert_leq(tu_rel_frob(g[c], g[0], np), 1e-13, "%s cap %zu: gradient rel %g", arch_s, caps[c - 1],
                      tu_rel_frob(g[c], g[0], np));
    }
    for (c = 0; c < 4; ++c) free(g[c]);
    free(x);
    fnet_free(&net);
}

Test(train, im2col_blocks_change_only_rounding) {
    block_check("conv(q=3,pad=same,sb=0.2) relu conv(q=3,pad=valid,sb=0.1) erf gap dense(sb=0.3)", 2, 6, 4);
    block_check("lift(n=4,q=3,pad=circular,sb=0.2) relu gconv(q=3,pad=circular) relu gpool dense(sb=0.1)", 1, 5, 3);
}

/* ---- one gradient step: f_1(x) - f_0(x) = -(eta / (N k)) sum_i Theta^(x, x_i) (f_0(x_i) - y_i) + O(eta^2) ----
 * k = 1, so Theta^ (the network's empirical NTK of output 0, fnet_eval) is the whole kernel. The error
 * of the first-order prediction must fall like eta^2: a factor 4 when eta halves. Smooth nonlinearities:
 * a ReLU kink crossed during the step would break the Taylor expansion. */

static double step_error(const entk_arch *a, size_t C, size_t H, size_t W, size_t width, const double *xall,
                         size_t N, size_t Nt, const double *y, double eta, double *first) {
    const size_t Na = N + Nt;
    fnet net;
    double *f0 = malloc(Na * sizeof(double)), *f1 = malloc(Na * sizeof(double)), *t = malloc(Na * Na * sizeof(double));
    double err = 0, d1 = 0;
    size_t p, i;
    cr_assert(f0 && f1 && t);
    cr_assert_eq(fnet_build(&net, a, C, H, W, width, 1), 0);
    fnet_draw(&net, 41);
    cr_assert_eq(fnet_eval(&net, xall, Na, f0, t), 0);
    cr_assert_eq(fnet_train(&net, xall, N, y, 1, eta, 1, NULL, NULL, NULL), 0); /* the first N inputs train */
    cr_assert_eq(fnet_eval(&net, xall, Na, f1, NULL), 0);
    for (p = 0; p < Na; ++p) {
        double pred = 0;
        for (i = 0; i < N; ++i) pred -= eta / (double)N * t[p * Na + i] * (f0[i] - y[i]);
        if (fabs(f1[p] - f0[p] - pred) > err) err = fabs(f1[p] - f0[p] - pred);
        if (fabs(pred) > d1) d1 = fabs(pred);
    }
    *first = d1;
    free(f0); free(f1); free(t);
    fnet_free(&net);
    return err;
}

static void step_check(const char *arch_s, size_t C, size_t H, size_t W, size_t width, double eta) {
    enum { N = 4, NT = 3 };
    entk_arch a = tu_parse(arch_s);
    const size_t d = C * H * W;
    double *x = malloc((N + NT) * d * sizeof(double)), y[N], e1, e2, d1, d2;
    cr_assert(x);
    fill(x, (N + NT) * d, 1.0, 0.2, 7);
    fill(y, N, 1.0, 0.0, 8);
    e1 = step_error(&a, C, H, W, width, x, N, NT, y, eta, &d1);
    e2 = step_error(&a, C, H, W, width, x, N, NT, y, eta / 2, &d2);
    printf("# step %-75s eta %g: |df| %.3e, 2nd-order err %.3e; eta/2: %.3e, %.3e (ratio %.3f)\n", arch_s, eta, d1,
           e1, d2, e2, e2 / e1);
    cr_assert_lt(e1, 0.05 * d1, "%s: first-order term %g does not dominate the error %g", arch_s, d1, e1);
    cr_assert_gt(e2 / e1, 0.2, "%s: error %g at eta, %g at eta/2", arch_s, e1, e2);
    cr_assert_lt(e2 / e1, 0.3, "%s: error %g at eta, %g at eta/2 (want ~1/4)", arch_s, e1, e2);
    free(x);
}

Test(train, one_step_follows_empirical_ntk) {
    step_check("dense(sw=1.2,sb=0.2) erf dense(sw=1.3,sb=0.1) gelu dense(sb=0.3)", 6, 1, 1, 64, 0.2);
    step_check("conv(q=3,pad=circular,sw=1.2,sb=0.2) erf conv(q=3,pad=circular,sb=0.1) gelu gap dense(sb=0.3)", 1, 5,
               5, 16, 0.2);
    step_check("lift(n=4,q=3,pad=circular,sb=0.2) erf gconv(q=3,pad=circular,sw=1.2) gelu gpool dense(sb=0.1)", 1, 5,
               5, 8, 0.2);
}

/* ---- wide networks trained by gradient descent follow the NTK mean prediction ----
 * A network linearised in its parameters evolves as f_t(x) = f_0(x) + Theta(x, X) Theta^-1 (I - e^{-c
 * Theta}) (Y - f_0(X)), c = eta t / (N k); entk's mu_t is the f_0 = 0 case (the ensemble mean, E f_0 =
 * 0). So each network is compared with f_0(x) + mu_t[Y - f_0(X)](x), entk_predict_mean with the
 * analytic NTK on the residual targets. The difference comes from Theta^ != Theta and the change of
 * Theta^ during training, both O(1/sqrt(width)), and from gradient descent's steps against gradient
 * flow (eta Theta / (N k) <= 0.2 here, which bounds it by about 0.3 / steps of the residual, 1e-3). */

static double ntk_track_error(const char *arch_s, size_t C, size_t H, size_t W, size_t width, int seeds, int steps) {
    enum { N = 8, NT = 4, K = 2, Na = N + NT };
    entk_arch a = tu_parse(arch_s);
    const size_t d = C * H * W;
    double *x = malloc(Na * d * sizeof(double)), y[N * K], th[Na * N], f0[Na * K], ft[Na * K], res[N * K];
    double mu[Na * K], tr = 0, eta, num = 0, den = 0;
    entk_kernels kern;
    entk_predict_opts o = entk_predict_opts_default();
    size_t i, j;
    int s;
    cr_assert(x);
    fill(x, Na * d, 0.6, 0.1, 21);
    fill(y, N * K, 1.0, 0.0, 22);
    /* Theta(X ∪ X', X): rows all inputs, columns the N training inputs */
    if (H == 1 && W == 1) cr_assert_eq(entk_mlp_kernel(&a, x, Na, x, N, d, NULL, 0, th, N, 1), ENTK_OK);
    else cr_assert_eq(entk_cn_kernel(&a, x, Na, x, N, C, H, W, NULL, 0, th, N, 1), ENTK_OK);
    for (i = 0; i < N; ++i) tr += th[i * N + i];
    eta = 0.2 * (double)(N * K) / tr; /* eta lambda_max / (N k) <= 0.2 */
    kern.n = N; kern.m = Na;
    kern.train = th; kern.ld_train = N;
    kern.test_train = th; kern.ld_test_train = N;
    kern.test_diag = NULL; kern.test_test = NULL; kern.ld_test_test = 0;
    o.t = steps;
    o.lr = eta;
    for (s = 0; s < seeds; ++s) {
        fnet net;
        cr_assert_eq(fnet_build(&net, &a, C, H, W, width, K), 0);
        fnet_draw(&net, 1000 + (uint64_t)s);
        cr_assert_eq(fnet_eval(&net, x, Na, f0, NULL), 0);
        cr_assert_eq(fnet_train(&net, x, N, y, K, eta, steps, NULL, NULL, NULL), 0);
        cr_assert_eq(fnet_eval(&net, x, Na, ft, NULL), 0);
        for (i = 0; i < N * K; ++i) res[i] = y[i] - f0[i];
        cr_assert_eq(entk_predict_mean(&kern, K, res, K, &o, mu, K, NULL), ENTK_OK);
        for (i = 0; i < Na; ++i)
            for (j = 0; j < K; ++j) {
                const double pred = f0[i * K + j] + mu[i * K + j], dev = ft[i * K + j] - f0[i * K + j];
                num += (ft[i * K + j] - pred) * (ft[i * K + j] - pred);
                den += dev * dev;
            }
        fnet_free(&net);
    }
    free(x);
    return sqrt(num / den); /* relative to the change training made */
}

Test(train, wide_mlps_follow_ntk_mean_prediction, .timeout = 120) {
    const char *arch_s = "dense(sw=1.3,sb=0.2) relu dense(sw=1.2,sb=0.1) relu dense(sb=0.2)";
    const int steps = 300;
    const double e1 = ntk_track_error(arch_s, 5, 1, 1, 128, 3, steps), e4 = ntk_track_error(arch_s, 5, 1, 1, 512, 3, steps);
    printf("# mu_t tracking (%s, %d steps): rel err %.4f at width 128, %.4f at width 512 (ratio %.3f; 1/sqrt "
           "scaling: 0.5)\n", arch_s, steps, e1, e4, e4 / e1);
    /* tolerance 2 / sqrt(width): twice the measured error (0.085 at 128, 0.040 at 512) */
    cr_assert_leq(e1, 2.0 / sqrt(128.0), "error %g at width 128", e1);
    cr_assert_leq(e4, 2.0 / sqrt(512.0), "error %g at width 512", e4);
    cr_assert_lt(e4, 0.75 * e1, "error %g at width 512 against %g at 128", e4, e1);
}

Test(train, wide_cnns_follow_ntk_mean_prediction, .timeout = 120) {
    const char *arch_s = "conv(q=3,pad=circular,sw=1.3,sb=0.2) relu conv(q=3,pad=circular,sb=0.1) relu gap dense(sb=0.2)";
    const int steps = 300;
    const double e1 = ntk_track_error(arch_s, 1, 4, 4, 32, 3, steps), e4 = ntk_track_error(arch_s, 1, 4, 4, 128, 3, steps);
    printf("# mu_t tracking (%s, 1x4x4, %d steps): rel err %.4f at width 32, %.4f at width 128 (ratio %.3f)\n", arch_s,
           steps, e1, e4, e4 / e1);
    cr_assert_leq(e1, 2.0 / sqrt(32.0), "error %g at width 32", e1);
    cr_assert_leq(e4, 2.0 / sqrt(128.0), "error %g at width 128", e4);
    cr_assert_lt(e4, 0.75 * e1, "error %g at width 128 against %g at 32", e4, e1);
}

/* ---- a C4 GCNN with circular padding and gpool is invariant under rot90 at every training step ----
 * Lift and gconv permute their outputs exactly under a rotated input (each output is the same sum of
 * the same products, and entk's GEMM rounds every row alike); gpool then adds the permuted positions
 * in another order, so the outputs agree to rounding, not bit for bit: 1e-12 relative. */

typedef struct {
    const double *xe;
    size_t ne, k;
    double worst, first, last;
    int calls;
} inv_ctx;

static int inv_step(const fnet *net, int step, double loss, void *user) {
    inv_ctx *c = (inv_ctx *)user;
    double f[16 * 2];
    size_t i, r, j;
    (void)step;
    cr_assert_leq(4 * c->ne * c->k, 32);
    cr_assert_eq(fnet_eval(net, c->xe, 4 * c->ne, f, NULL), 0);
    for (r = 1; r < 4; ++r)
        for (i = 0; i < c->ne; ++i)
            for (j = 0; j < c->k; ++j) {
                const double a = f[i * c->k + j], b = f[(r * c->ne + i) * c->k + j];
                const double dv = fabs(a - b) / (1 + fabs(a));
                cr_assert_leq(dv, 1e-12, "step %d image %zu rot %zu output %zu: %.17g vs %.17g", step, i, r, j, a, b);
                if (dv > c->worst) c->worst = dv;
            }
    if (c->calls == 0) c->first = loss;
    c->last = loss;
    c->calls++;
    return 0;
}

Test(train, gcnn_rot90_invariant_at_every_step) {
    enum { N = 6, NE = 3, K = 2, S = 5, STEPS = 150 };
    entk_arch a = tu_parse("lift(n=4,q=3,pad=circular,sw=1.2,sb=0.1) relu gconv(q=3,pad=circular,sb=0.2) relu "
                           "gpool dense(sb=0.1)");
    double x[N * S * S], y[N * K], xe[4 * NE * S * S], loss[STEPS + 1];
    fnet net;
    inv_ctx c;
    size_t i, r;
    fill(x, N * S * S, 1.0, 0.2, 31);
    fill(y, N * K, 1.0, 0.0, 32);
    fill(xe, NE * S * S, 1.0, 0.2, 33);
    for (r = 1; r < 4; ++r)
        for (i = 0; i < NE; ++i) tu_img_rot90(xe + ((r - 1) * NE + i) * S * S, 1, S, xe + (r * NE + i) * S * S);
    cr_assert_gt(tu_max_abs_diff(xe, xe + NE * S * S, NE * S * S), 0.1, "the rotated images must differ");
    cr_assert_eq(fnet_build(&net, &a, 1, S, S, 8, K), 0);
    fnet_draw(&net, 5);
    memset(&c, 0, sizeof c);
    c.xe = xe; c.ne = NE; c.k = K;
    cr_assert_eq(fnet_train(&net, x, N, y, K, eta_for(&net, x, N, 0.5), STEPS, loss, inv_step, &c), 0);
    cr_assert_eq(c.calls, STEPS + 1);
    cr_assert_eq(c.first, loss[0]);
    cr_assert_eq(c.last, loss[STEPS]);
    cr_assert_lt(loss[STEPS], 0.5 * loss[0], "training must move the weights: loss %g -> %g", loss[0], loss[STEPS]);
    printf("# gcnn rot90: %d steps, loss %.4f -> %.4f, largest relative difference %.2e\n", STEPS, loss[0],
           loss[STEPS], c.worst);
    fnet_free(&net);
}

/* ---- training fits: a CNN drives the loss far below that of predicting 0 ---- */

Test(train, cnn_fits_its_training_set) {
    enum { N = 8, K = 3, S = 6, STEPS = 1000 };
    entk_arch a = tu_parse("conv(q=3,pad=circular,sb=0.1) relu conv(q=3,pad=circular) relu gap dense");
    double x[N * S * S], y[N * K], loss[STEPS + 1], zero = 0;
    fnet net;
    size_t i;
    fill(x, N * S * S, 1.0, 0.2, 51);
    fill(y, N * K, 1.0, 0.0, 52);
    for (i = 0; i < N * K; ++i) zero += y[i] * y[i] / (2.0 * N * K);
    cr_assert_eq(fnet_build(&net, &a, 1, S, S, 16, K), 0);
    fnet_draw(&net, 9);
    cr_assert_eq(fnet_train(&net, x, N, y, K, eta_for(&net, x, N, 1.0), STEPS, loss, NULL, NULL), 0);
    printf("# cnn fit: loss %.4f -> %.2e after %d steps (zero predictor %.4f)\n", loss[0], loss[STEPS], STEPS, zero);
    cr_assert_lt(loss[STEPS], 0.01 * zero, "loss %g, zero predictor %g", loss[STEPS], zero);
    fnet_free(&net);
}

/* ---- ensembles: bit for bit independent of the thread count, and each member = fnet_train alone ---- */

Test(train, ensemble_independent_of_thread_count) {
    enum { N = 5, NE = 3, K = 2, S = 5, M = 4, STEPS = 6 };
    entk_arch a = tu_parse("conv(q=3,pad=circular,sb=0.1) relu conv(q=3,pad=same) relu gap dense(sb=0.2)");
    double x[N * S * S], y[N * K], xe[NE * S * S];
    double f0[2][M * NE * K], ft[2][M * NE * K], lo[2][M * (STEPS + 1)], f[NE * K], l1[STEPS + 1];
    fnet net;
    int t, m;
    fill(x, N * S * S, 1.0, 0.2, 61);
    fill(y, N * K, 1.0, 0.0, 62);
    fill(xe, NE * S * S, 1.0, 0.2, 63);
    for (t = 0; t < 2; ++t) {
#ifdef _OPENMP
        omp_set_num_threads(t == 0 ? 1 : 3);
#endif
        cr_assert_eq(fnet_train_ensemble(&a, 1, S, S, 6, x, N, y, K, 1.5, STEPS, M, 100, xe, NE, f0[t], ft[t], lo[t]),
                     0);
    }
    cr_assert_eq(memcmp(f0[0], f0[1], sizeof f0[0]), 0);
    cr_assert_eq(memcmp(ft[0], ft[1], sizeof ft[0]), 0);
    cr_assert_eq(memcmp(lo[0], lo[1], sizeof lo[0]), 0);
    for (m = 0; m < M; ++m) {
        cr_assert_eq(fnet_build(&net, &a, 1, S, S, 6, K), 0);
        fnet_draw(&net, 100 + (uint64_t)m);
        cr_assert_eq(fnet_train(&net, x, N, y, K, 1.5, STEPS, l1, NULL, NULL), 0);
        cr_assert_eq(fnet_eval(&net, xe, NE, f, NULL), 0);
        cr_assert_eq(memcmp(f, ft[0] + m * NE * K, sizeof f), 0, "member %d", m);
        cr_assert_eq(memcmp(l1, lo[0] + m * (STEPS + 1), sizeof l1), 0, "member %d", m);
        cr_assert_neq(memcmp(f0[0] + m * NE * K, ft[0] + m * NE * K, sizeof f), 0, "member %d did not train", m);
        fnet_free(&net);
    }
}

/* ---- contracts ---- */

static int stop_at_3(const fnet *net, int step, double loss, void *user) {
    (void)net; (void)loss;
    *(int *)user = step;
    return step == 3;
}

Test(train, contracts) {
    entk_arch a = tu_parse("dense relu dense");
    double x[4 * 3], y[4 * 2], g[64], l;
    fnet net;
    int last = -1;
    fill(x, 12, 1.0, 0.0, 71);
    fill(y, 8, 1.0, 0.0, 72);
    cr_assert_eq(fnet_build(&net, &a, 3, 1, 1, 4, 2), 0);
    cr_assert_leq(fnet_nparams(&net), 64);
    fnet_draw(&net, 1);
    cr_assert_eq(fnet_loss_grad(&net, x, 4, y, 1, g, &l), -1, "k != nout");
    cr_assert_eq(fnet_train(&net, x, 4, y, 1, 0.1, 5, NULL, NULL, NULL), -1, "k != nout");
    cr_assert_eq(fnet_train(&net, x, 4, y, 2, NAN, 5, NULL, NULL, NULL), -1, "eta NaN");
    cr_assert_eq(fnet_train(&net, x, 4, y, 2, 0.1, -1, NULL, NULL, NULL), -1, "steps < 0");
    cr_assert_eq(fnet_train(&net, x, 4, y, 2, 0.1, 10, NULL, stop_at_3, &last), 1);
    cr_assert_eq(last, 3);
    fnet_free(&net);
}
