/* Finite-width SO(3) networks (tests/finite_so3.h) against the infinite-width kernels: the layers'
 * normalisation against the oracle (tests/so3_oracle.h) exactly, the empirical NTK against finite
 * differences, and the Monte-Carlo NNGP and NTK converging to entk_so3_kernel's as the width grows. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include "testutil.h"
#include "so3_oracle.h"
#include "finite_so3.h"

/* band-limited inputs (tests/so3_oracle.h), asserted */
static double *inputs(tu_rng *r, size_t n, size_t C, int L) {
    double *x = so3o_inputs(r, n, C, L, 0.5, NULL);
    cr_assert(x != NULL);
    return x;
}

/* The exact covariance of a finite layer over its weights, by linearity: the layer's outputs with the
 * weights set to one basis vector at a time (biases 0), multiplied pairwise and summed, plus sb^2. It
 * must equal the oracle's kernel on the grid pairs: s2lift of two inputs, and so3conv of two arbitrary
 * (not band-limited) functions on the grid of band limit 3 with tau = (1/C) sum_c f_c(h) g_c(h'). */
Test(so3_mc, layer_normalisation_equals_the_oracle) {
    const size_t C = 2;
    const int L = 3;
    tu_rng r = {41};
    double *x = inputs(&r, 2, C, L), a[2][18], *work, *coef, *out1, *out2, *K, *KO, worst = 0, scale = 0;
    entk_arch arch = tu_parse("s2lift(B=3,sw=1.3,sb=0.4) erf so3conv(L=3,B=4,sw=1.2,sb=0.3) so3pool dense");
    fso3 net;
    so3o_pts g3, g4;
    size_t i, j, k, G3, G4, c;
    cr_assert_eq(fso3_build(&net, &arch, C, L, 2, 1), 0);
    cr_assert_eq(so3o_pts_grid(&g3, 3, 3), ENTK_OK);
    cr_assert_eq(so3o_pts_grid(&g4, 4, 4), ENTK_OK);
    G3 = g3.n;
    G4 = g4.n;
    cr_assert_eq(net.layer[0].gout, G3);
    cr_assert_eq(net.layer[2].gout, G4);
    work = tu_xalloc(net.work_len);
    coef = tu_xalloc(net.cmax);
    out1 = tu_xalloc(2 * G4);
    out2 = tu_xalloc(2 * G4);
    K = tu_xalloc(G4 * G4);
    KO = tu_xalloc(G4 * G4);
    /* s2lift: the finite layer's coefficients by entk_so3_plan_sht; the oracle's by its own quadrature */
    {
        fso3_layer *fl = &net.layer[0];
        double ao[2][18];
        for (k = 0; k < 2; ++k)
            for (c = 0; c < C; ++c)
                cr_assert_eq(entk_so3_plan_sht(&fl->an, x + (k * C + c) * 30, a[k] + c * 9, work), ENTK_OK);
        cr_assert_eq(so3o_s2_coef(L, L, C, x, ao[0]), ENTK_OK);
        cr_assert_eq(so3o_s2_coef(L, L, C, x + C * 30, ao[1]), ENTK_OK);
        memset(K, 0, G3 * G3 * sizeof *K);
        memset(fl->b, 0, fl->cout * sizeof *fl->b);
        for (i = 0; i < C * 9; ++i) { /* the weights of output 0 */
            memset(fl->w, 0, fl->nw * sizeof *fl->w);
            fl->w[i] = 1;
            cr_assert_eq(fso3_lift_apply(fl, a[0], out1, coef, work), 0);
            cr_assert_eq(fso3_lift_apply(fl, a[1], out2, coef, work), 0);
            for (j = 0; j < G3; ++j)
                for (k = 0; k < G3; ++k) K[j * G3 + k] += out1[j] * out2[k];
        }
        cr_assert_eq(so3o_lift(&g3, &g3, C, L, ao[0], ao[1], fl->sw, fl->sb, KO), ENTK_OK);
        for (j = 0; j < G3 * G3; ++j) {
            K[j] += fl->sb * fl->sb;
            worst = fmax(worst, fabs(K[j] - KO[j]));
            scale = fmax(scale, fabs(KO[j]));
        }
        cr_log_info("s2lift: finite layer's covariance vs oracle: %.3g (|K| <= %.3g)", worst, scale);
        cr_expect_leq(worst, 1e-12 * scale);
    }
    /* so3conv on arbitrary functions f_c, g_c (2 channels) on the grid of band limit 3 */
    {
        fso3_layer *fl = &net.layer[2];
        const size_t P = fl->ncf, cin = fl->cin;
        double *f = tu_normal_alloc(2 * cin * G3, 3), *cf = tu_xalloc(2 * cin * P), *tau = tu_xalloc(G3 * G3);
        cr_assert_eq(cin, 2);
        for (k = 0; k < 2; ++k)
            for (c = 0; c < cin; ++c)
                cr_assert_eq(entk_so3_plan_fft(&fl->an, f + (k * cin + c) * G3, cf + (k * cin + c) * P, work), ENTK_OK);
        memset(K, 0, G4 * G4 * sizeof *K);
        memset(fl->b, 0, fl->cout * sizeof *fl->b);
        for (i = 0; i < cin * P; ++i) {
            memset(fl->w, 0, fl->nw * sizeof *fl->w);
            fl->w[i] = 1;
            cr_assert_eq(fso3_conv_apply(fl, cf, out1, coef, work), 0);
            cr_assert_eq(fso3_conv_apply(fl, cf + cin * P, out2, coef, work), 0);
            for (j = 0; j < G4; ++j)
                for (k = 0; k < G4; ++k) K[j * G4 + k] += out1[j] * out2[k];
        }
        for (j = 0; j < G3; ++j)
            for (k = 0; k < G3; ++k) {
                double s = 0;
                for (c = 0; c < cin; ++c) s += f[c * G3 + j] * f[(cin + c) * G3 + k];
                tau[j * G3 + k] = s / (double)cin;
            }
        cr_assert_eq(so3o_conv(&g3, tau, 3, fl->sw, fl->sb, &g4, &g4, KO), ENTK_OK);
        worst = scale = 0;
        for (j = 0; j < G4 * G4; ++j) {
            K[j] += fl->sb * fl->sb;
            worst = fmax(worst, fabs(K[j] - KO[j]));
            scale = fmax(scale, fabs(KO[j]));
        }
        cr_log_info("so3conv: finite layer's covariance vs oracle: %.3g (|K| <= %.3g)", worst, scale);
        cr_expect_leq(worst, 1e-12 * scale);
        free(f);
        free(cf);
        free(tau);
    }
    fso3_free(&net);
    so3o_pts_free(&g3);
    so3o_pts_free(&g4);
    free(x);
    free(work);
    free(coef);
    free(out1);
    free(out2);
    free(K);
    free(KO);
}

/* The empirical NTK by the Jacobian contraction against J J^T from central differences over every
 * parameter, through every layer kind. */
Test(so3_mc, empirical_ntk_equals_finite_differences) {
    const size_t C = 2, N = 3;
    const int L = 2;
    tu_rng r = {43};
    double *x = inputs(&r, N, C, L), f[3], fp[3], fm[3], ntk[9], jj[9], *g;
    entk_arch arch = tu_parse("s2lift(B=3,sb=0.2) erf so3conv(L=2,B=3,sb=0.3) gelu so3pool dense(sb=0.2) erf dense(sb=0.1)");
    fso3 net;
    size_t np, i, a, b;
    const double e = 1e-5;
    double worst = 0, scale = 0;
    cr_assert_eq(fso3_build(&net, &arch, C, L, 3, 1), 0);
    fso3_draw(&net, 7);
    np = fso3_nparams(&net);
    g = tu_xalloc(np * N);
    cr_assert_eq(fso3_eval(&net, x, N, f, ntk), 0);
    for (i = 0; i < np; ++i) {
        double *w = fso3_param(&net, i), v = *w;
        *w = v + e;
        cr_assert_eq(fso3_eval(&net, x, N, fp, NULL), 0);
        *w = v - e;
        cr_assert_eq(fso3_eval(&net, x, N, fm, NULL), 0);
        *w = v;
        for (a = 0; a < N; ++a) g[i * N + a] = (fp[a] - fm[a]) / (2 * e);
    }
    memset(jj, 0, sizeof jj);
    for (i = 0; i < np; ++i)
        for (a = 0; a < N; ++a)
            for (b = 0; b < N; ++b) jj[a * N + b] += g[i * N + a] * g[i * N + b];
    for (a = 0; a < N * N; ++a) {
        worst = fmax(worst, fabs(ntk[a] - jj[a]));
        scale = fmax(scale, fabs(jj[a]));
    }
    cr_log_info("empirical NTK vs finite differences (%zu parameters): %.3g (|NTK| <= %.3g)", np, worst, scale);
    cr_expect_leq(worst, 1e-7 * scale);
    fso3_free(&net);
    free(g);
    free(x);
}

/* Monte Carlo over seeds at widths 16, 64, 256 against entk_so3_kernel: per entry the seed mean
 * within 4 standard errors (from the per-seed spread), and the root-mean-square relative error of
 * single networks (over seeds, Frobenius over the N x N entries) falling with the width. */
static void mc_case(const char *text, int want_ntk, int exact) {
    const size_t C = 2, N = 3, nout = 512, widths[3] = {16, 64, 256};
    const int L = 3, seeds = 32;
    tu_rng r = {47};
    double *x = inputs(&r, N, C, L), K[9], T[9], f[3 * 512], t[9], ks[32][9], ts[32][9];
    entk_arch arch = tu_parse(text);
    double rms_k[3], rms_t[3];
    size_t wi, a, b, j;
    int s;
    cr_assert_eq(entk_so3_kernel(&arch, x, N, NULL, 0, C, L, K, N, T, N, 1), ENTK_OK);
    fprintf(stderr, "so3 MC %s (%d seeds, %zu readout units)\n  width  err(mean) K  max|z| K  rms err K", text, seeds,
            nout);
    if (want_ntk) fprintf(stderr, "   err(mean) Th  max|z| Th  rms err Th");
    fprintf(stderr, "\n");
    for (wi = 0; wi < 3; ++wi) {
        fso3 net;
        double mk[9] = {0}, mt[9] = {0}, zk = 0, zt = 0, ek, et;
        cr_assert_eq(fso3_build(&net, &arch, C, L, widths[wi], nout), 0);
        rms_k[wi] = rms_t[wi] = 0;
        for (s = 0; s < seeds; ++s) {
            fso3_draw(&net, 1000 * (uint64_t)wi + (uint64_t)s);
            cr_assert_eq(fso3_eval(&net, x, N, f, want_ntk ? t : NULL), 0);
            for (a = 0; a < N; ++a)
                for (b = 0; b < N; ++b) {
                    double acc = 0;
                    for (j = 0; j < nout; ++j) acc += f[a * nout + j] * f[b * nout + j];
                    ks[s][a * N + b] = acc / (double)nout;
                    if (want_ntk) ts[s][a * N + b] = t[a * N + b];
                }
            rms_k[wi] += pow(tu_rel_frob(ks[s], K, N * N), 2) / seeds;
            if (want_ntk) rms_t[wi] += pow(tu_rel_frob(ts[s], T, N * N), 2) / seeds;
            for (a = 0; a < N * N; ++a) {
                mk[a] += ks[s][a] / seeds;
                if (want_ntk) mt[a] += ts[s][a] / seeds;
            }
        }
        rms_k[wi] = sqrt(rms_k[wi]);
        rms_t[wi] = sqrt(rms_t[wi]);
        for (a = 0; a < N * N; ++a) {
            double vk = 0, vt = 0, sek, set;
            for (s = 0; s < seeds; ++s) {
                vk += (ks[s][a] - mk[a]) * (ks[s][a] - mk[a]);
                if (want_ntk) vt += (ts[s][a] - mt[a]) * (ts[s][a] - mt[a]);
            }
            sek = sqrt(vk / (seeds - 1) / seeds);
            set = sqrt(vt / (seeds - 1) / seeds);
            zk = fmax(zk, fabs(mk[a] - K[a]) / sek);
            if (want_ntk) zt = fmax(zt, fabs(mt[a] - T[a]) / set);
            if (exact || wi == 2) {
                cr_expect_leq(fabs(mk[a] - K[a]), 4 * sek, "%s width %zu entry %zu: K mean %.6g vs %.6g (SE %.3g)", text,
                              widths[wi], a, mk[a], K[a], sek);
                if (want_ntk)
                    cr_expect_leq(fabs(mt[a] - T[a]), 4 * set, "%s width %zu entry %zu: Theta mean %.6g vs %.6g (SE %.3g)",
                                  text, widths[wi], a, mt[a], T[a], set);
            }
        }
        ek = tu_rel_frob(mk, K, N * N);
        et = tu_rel_frob(mt, T, N * N);
        fprintf(stderr, "  %5zu   %.3e   %6.2f     %.3e", widths[wi], ek, zk, rms_k[wi]);
        if (want_ntk) fprintf(stderr, "     %.3e    %6.2f     %.3e", et, zt, rms_t[wi]);
        fprintf(stderr, "\n");
        fso3_free(&net);
    }
    for (wi = 1; wi < 3; ++wi) {
        cr_expect_lt(rms_k[wi], rms_k[wi - 1], "%s: the rms K error does not fall from width %zu to %zu", text,
                     widths[wi - 1], widths[wi]);
        if (want_ntk)
            cr_expect_lt(rms_t[wi], rms_t[wi - 1], "%s: the rms Theta error does not fall from width %zu to %zu", text,
                         widths[wi - 1], widths[wi]);
    }
    free(x);
}

/* One hidden nonlinearity: the finite network's NNGP is unbiased at every width (the s2lift outputs are
 * exactly Gaussian), so the 4-SE bound holds at every width; its expectation is the oracle's double
 * quadrature over grid pairs, within ~1e-8 of the compressed value at B = 5 (tests/test_so3_oracle.c). */
Test(so3_mc, nngp_and_ntk_converge_one_nonlinearity, .timeout = 120) {
    mc_case("s2lift(B=5) erf so3conv(L=3,B=5,sb=0.2) so3pool dense(sb=0.1)", 1, 1);
}

/* Two nonlinearities and a scalar tail (a hidden dense layer with a bias): biased by O(1/width), the
 * 4-SE bound at width 256 only. */
Test(so3_mc, nngp_and_ntk_converge_deeper, .timeout = 120) {
    mc_case("s2lift(B=5) relu so3conv(L=3,B=5) gelu so3pool dense(sb=0.1) erf dense", 1, 0);
}
