/* aug_ensembles - finite-width ensembles: CNNs trained with full rot90 augmentation against C4 GCNNs
 * trained without it (the finite-width side of docs/conventions.md §2).
 *
 * A small Fashion-MNIST training set (the first N training images of K classes, 28 x 28 average-pooled
 * to 7 x 7, standardised by one global mean and deviation, targets one-hot minus 1/K). Two ensembles per
 * width, trained by full-batch gradient descent (tests/finite_net.h) with the same eta and steps:
 *   CNN   conv-relu-conv-relu-gap-dense on the fully augmented set (4 N images, labels copied);
 *   GCNN  lift(n=4)-relu-gconv-relu-gpool-dense, the C4 GCNN of the same depth and windows, on the N
 *         upright images.
 * With the loss 1/(2 n K) sum (f - y)^2 over the n training points both follow, at infinite width, the
 * same NTK mean mu_t (the augmentation theorem at equal t and eta, §2), so the two ensemble means must
 * approach each other as M grows and, off the manifold too, as the width grows.
 *
 * Evaluation inputs: (a) test images of the trained classes, (b) off-manifold inputs: Gaussian noise
 * images N(0, 1) (the standardised scale) and test images of classes never trained on.
 *
 * Distances are root-mean-square over the inputs of the L2 norm over the K outputs. Per member three
 * versions of its output, all with the same expectation E f_t (E f_0 = 0 exactly: the readout weights
 * are symmetric), so the ensemble means estimate the same thing with different noise:
 *   raw   f_t;
 *   cent  f_t - f_0 (removes f_0(x), but after fitting carries -mu_t[f_0(X)] from the training set);
 *   cv    f_t - f_0 + mu_t[f_0(X)], the linearised initialisation term f_0(x) - mu_t[f_0(X)](x) as a
 *         control variate (mu_t the infinite-width NTK mean of the member's own network and training
 *         set): to first order this removes all the initialisation noise.
 * For each M the members are split into MTOT / M disjoint groups; the table gives, averaged over the
 * groups, d_* between the two ensemble means of each version, and e_* each ensemble mean (raw, cv)
 * against entk's NTK mean mu_t[Y] of its own network (entk_predict_mean at t = steps, lr = eta, no
 * regulariser; mu_t is the f_0 = 0 prediction, tests/test_train.c).
 * The systematic difference S between the CNN and GCNN ensemble means is estimated from all MTOT members
 * of each ensemble (cv outputs) with the noise of the finite means removed:
 *   S^2 = mean_x sum_j [(cbar - gbar)^2 - v_c / MTOT - v_g / MTOT]   (v the members' unbiased variances),
 * an unbiased estimate of the squared distance of the infinite ensembles, with a jackknife error bar
 * (one CNN and one GCNN member left out at a time); the same with v_g = 0 against mu_t gives each
 * ensemble's own systematic distance from the infinite-width prediction.
 *
 *   bin/aug_ensembles [DATA_DIR [N [K [WIDTHS [MTOT [STEPS [CSV]]]]]]]
 *
 * Defaults: data/fashion-mnist-subset, N = 16, K = 2 (classes T-shirt, trouser, and bag for K = 3;
 * untrained: sneaker, ankle boot), WIDTHS = 4,8,16 (up to 4, comma-separated), MTOT = 128 (a power of 2),
 * STEPS = 1000, no CSV. eta = ETA_FRAC N K / lambda_max(Theta_GCNN(X, X)) (power iteration), the same
 * for both networks. Members run in parallel with OpenMP (OMP_NUM_THREADS); `make experiment-ens` runs
 * the defaults and writes out/ens/.
 */
#define ENTK_IMPLEMENTATION
#include "entk_cn.h"
#include "../tests/finite_net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRAM "aug_ensembles"
#include "fashion_common.h"

#define S_IMG 7
#define P_IMG (S_IMG * S_IMG)
#define POOL 4
#define N_TEST 100
#define N_NOISE 50
#define N_UNSEEN 50
#define ETA_FRAC 1.0
#define N_SETS 3

static const int trained_classes[3] = {0, 1, 8}; /* T-shirt, trouser, bag */
static const int unseen_classes[2] = {7, 9};     /* sneaker, ankle boot */
static const char *const set_name[N_SETS] = {"test", "noise", "unseen"};

static const char *const cnn_text =
    "conv(q=3,pad=circular,sw=1.4142,sb=0.1) relu conv(q=3,pad=circular,sw=1.4142,sb=0.1) relu gap dense";
static const char *const gcnn_text =
    "lift(n=4,q=3,pad=circular,sw=1.4142,sb=0.1) relu gconv(q=3,pad=circular,sw=1.4142,sb=0.1) relu gpool dense";

/* image k of a (28 x 28 uint8) average-pooled to 7 x 7, in [0, 1] */
static void pool_image(const entk_array *a, size_t k, double *out) {
    int i, j, u, v;
    for (i = 0; i < S_IMG; ++i)
        for (j = 0; j < S_IMG; ++j) {
            double acc = 0;
            for (u = 0; u < POOL; ++u)
                for (v = 0; v < POOL; ++v) acc += a->data[k * 784 + (size_t)(i * POOL + u) * 28 + (size_t)(j * POOL + v)];
            out[i * S_IMG + j] = acc / (255.0 * POOL * POOL);
        }
}

/* the first n images of a whose label is one of the ncl classes cl (in order of the file) into x;
 * lab gets the class's index in cl. Returns the number found (<= n). */
static size_t pick(const entk_array *a, const entk_array *labels, const int *cl, int ncl, size_t n, double *x,
                   int *lab) {
    size_t i, got = 0;
    int c;
    for (i = 0; i < labels->shape[0] && got < n; ++i)
        for (c = 0; c < ncl; ++c)
            if ((int)labels->data[i] == cl[c]) {
                pool_image(a, i, x + got * P_IMG);
                if (lab) lab[got] = c;
                got++;
                break;
            }
    return got;
}

/* NTK mean mu_t of targets z (n x k) from the kernel blocks tr (n x n) and te (m x n) */
static void mu_t(const double *tr, const double *te, size_t n, size_t m, size_t k, const double *z, double eta,
                 int steps, double *out) {
    entk_kernels kk;
    entk_predict_opts o = entk_predict_opts_default();
    entk_status st;
    memset(&kk, 0, sizeof kk);
    kk.n = n; kk.m = m; kk.train = tr; kk.ld_train = n; kk.test_train = te; kk.ld_test_train = n;
    o.t = steps;
    o.lr = eta; /* no regulariser: gradient descent on the plain MSE loss */
    if ((st = entk_predict_mean(&kk, k, z, k, &o, out, k, NULL))) fail("entk_predict_mean", st, NULL);
}

/* largest eigenvalue of the symmetric PSD n x n matrix a (power iteration) */
static double top_eig(const double *a, size_t n) {
    double *v = xmalloc(n), *w = xmalloc(n), l = 0;
    size_t i, j;
    int it;
    for (i = 0; i < n; ++i) v[i] = 1.0 / sqrt((double)n);
    for (it = 0; it < 500; ++it) {
        double nw = 0;
        for (i = 0; i < n; ++i) {
            w[i] = 0;
            for (j = 0; j < n; ++j) w[i] += a[i * n + j] * v[j];
            nw += w[i] * w[i];
        }
        nw = sqrt(nw);
        l = nw;
        for (i = 0; i < n; ++i) v[i] = w[i] / nw;
    }
    free(v);
    free(w);
    return l;
}

/* rms over the m inputs of the L2 norm over k outputs of a - b */
static double dist(const double *a, const double *b, size_t m, size_t k) {
    double s = 0;
    size_t i;
    for (i = 0; i < m * k; ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
    return sqrt(s / (double)m);
}

/* mean over members m0 .. m0 + M - 1 of e (Mt x ne x k), rows r0 .. r0 + m */
static void group_mean(const double *e, int m0, int M, size_t ne, size_t r0, size_t m, size_t k, double *out) {
    size_t i;
    int j;
    memset(out, 0, m * k * sizeof *out);
    for (j = m0; j < m0 + M; ++j)
        for (i = 0; i < m * k; ++i) out[i] += e[((size_t)j * ne + r0) * k + i] / M;
}

/* S^2 between two ensembles c, g (Mt x ne x k each; rows r0 .. r0 + m) without the noise of their
 * means, from all members but member `skip` (-1: none) of each: mean_x sum_j [(cbar - gbar)^2 - v_c / M
 * - v_g / M], v the members' unbiased variances. With g NULL, the same against the fixed values mu
 * (m x k; v_g = 0): the systematic distance of one ensemble from mu. */
static double sys2(const double *c, const double *g, const double *mu, size_t ne, int Mt, size_t r0, size_t m,
                   size_t k, int skip) {
    double tot = 0;
    size_t i;
    int j;
    const int M = skip >= 0 ? Mt - 1 : Mt;
    for (i = 0; i < m * k; ++i) {
        double sc = 0, qc = 0, sg = 0, qg = 0, mc, mg, vc, vg;
        for (j = 0; j < Mt; ++j) {
            double u, w;
            if (j == skip) continue;
            u = c[((size_t)j * ne + r0) * k + i];
            w = g ? g[((size_t)j * ne + r0) * k + i] : 0;
            sc += u; qc += u * u; sg += w; qg += w * w;
        }
        mc = sc / M;
        mg = g ? sg / M : mu[i];
        vc = (qc - M * mc * mc) / (M - 1);
        vg = g ? (qg - M * mg * mg) / (M - 1) : 0;
        tot += (mc - mg) * (mc - mg) - vc / M - vg / M;
    }
    return tot / (double)m;
}

/* sys2 from all members and its jackknife error (one member of each ensemble left out at a time) */
static void sys2_jack(const double *c, const double *g, const double *mu, size_t ne, int Mt, size_t r0, size_t m,
                      size_t k, double *val, double *err) {
    double jm = 0, jv = 0, *jk = xmalloc((size_t)Mt);
    int j;
    *val = sys2(c, g, mu, ne, Mt, r0, m, k, -1);
    for (j = 0; j < Mt; ++j) {
        jk[j] = sys2(c, g, mu, ne, Mt, r0, m, k, j);
        jm += jk[j] / Mt;
    }
    for (j = 0; j < Mt; ++j) jv += (jk[j] - jm) * (jk[j] - jm);
    *err = sqrt(jv * (Mt - 1) / Mt);
    free(jk);
}

/* one line of a systematic distance: the value with its error when resolved (> 1 sigma), else a bound */
static void print_sys(const char *what, double s2, double err) {
    const double S = sqrt(fmax(s2, 0));
    if (s2 > err)
        printf("  %-22s S^2 = %10.3e +- %.2e   S = %.4f +- %.4f\n", what, s2, err, S, err / (2 * S));
    else
        printf("  %-22s S^2 = %10.3e +- %.2e   S < %.4f (1 sigma)\n", what, s2, err, sqrt(fmax(s2, 0) + err));
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "data/fashion-mnist-subset";
    const size_t N = argc > 2 ? (size_t)atol(argv[2]) : 16;
    const size_t K = argc > 3 ? (size_t)atol(argv[3]) : 2;
    const char *wlist = argc > 4 ? argv[4] : "4,8,16";
    const int Mt = argc > 5 ? atoi(argv[5]) : 128;
    const int steps = argc > 6 ? atoi(argv[6]) : 1000;
    const char *csv = argc > 7 ? argv[7] : NULL;
    size_t widths[4];
    int nw = 0;
    const size_t NE = N_TEST + N_NOISE + N_UNSEEN, NA = 4 * N;
    const size_t set_off[N_SETS] = {0, N_TEST, N_TEST + N_NOISE}, set_n[N_SETS] = {N_TEST, N_NOISE, N_UNSEEN};
    entk_array xtr_raw, ytr, xte_raw, yte;
    entk_arch cnn, gcnn;
    char err[256];
    int *lab, wi, M, r;
    size_t i, j;
    double *x, *xa, *xe, *y, *ya, *xc, *xg, *Tc, *Tg, *mu_c, *mu_g, mean = 0, sd = 0, eta, lmax, loss0 = 0, t_all;
    FILE *out = NULL;
    entk_status st;
    tu_rng rng = {20261202};

    {
        const char *c = wlist;
        char *end;
        while (nw < 4 && *c) {
            long v = strtol(c, &end, 10);
            if (end == c || v < 1) break;
            widths[nw++] = (size_t)v;
            c = *end == ',' ? end + 1 : end;
        }
        if (*c) nw = 0;
    }
    if (N < 2 || K < 2 || K > 3 || Mt < 4 || (Mt & (Mt - 1)) || steps < 1 || nw < 1) {
        fprintf(stderr, "usage: %s [DATA_DIR [N [K (2|3) [WIDTHS (e.g. 16,32) [MTOT (power of 2, >= 4) [STEPS "
                "[CSV]]]]]]]\n", argv[0]);
        return 2;
    }
    load(dir, "train_x.npy", &xtr_raw);
    load(dir, "train_y.npy", &ytr);
    load(dir, "test_x.npy", &xte_raw);
    load(dir, "test_y.npy", &yte);
    if ((st = entk_arch_parse(cnn_text, &cnn, err, sizeof err))) fail("cnn arch", st, err);
    if ((st = entk_arch_parse(gcnn_text, &gcnn, err, sizeof err))) fail("gcnn arch", st, err);

    /* data: training images, the augmented set (group element major), evaluation inputs */
    x = xmalloc(N * P_IMG);
    lab = (int *)malloc(N * sizeof *lab);
    xe = xmalloc(NE * P_IMG);
    if (!lab) fail("memory", ENTK_ERR_NOMEM, NULL);
    if (pick(&xtr_raw, &ytr, trained_classes, (int)K, N, x, lab) != N) fail("too few training images", ENTK_ERR_INVALID_ARG, NULL);
    if (pick(&xte_raw, &yte, trained_classes, (int)K, N_TEST, xe, NULL) != N_TEST ||
        pick(&xte_raw, &yte, unseen_classes, 2, N_UNSEEN, xe + (N_TEST + N_NOISE) * P_IMG, NULL) != N_UNSEEN)
        fail("too few test images", ENTK_ERR_INVALID_ARG, NULL);
    for (i = 0; i < N * P_IMG; ++i) mean += x[i];
    mean /= (double)(N * P_IMG);
    for (i = 0; i < N * P_IMG; ++i) sd += (x[i] - mean) * (x[i] - mean);
    sd = sqrt(sd / (double)(N * P_IMG)); /* one global mean and deviation: rotation invariant */
    for (i = 0; i < N * P_IMG; ++i) x[i] = (x[i] - mean) / sd;
    for (i = 0; i < NE * P_IMG; ++i) xe[i] = (xe[i] - mean) / sd;
    for (i = 0; i < N_NOISE * P_IMG; ++i) xe[N_TEST * P_IMG + i] = tu_normal(&rng);
    xa = xmalloc(NA * P_IMG);
    memcpy(xa, x, N * P_IMG * sizeof *x);
    for (r = 1; r < 4; ++r)
        for (i = 0; i < N; ++i) tu_img_rot90(xa + ((r - 1) * N + i) * P_IMG, 1, S_IMG, xa + (r * N + i) * P_IMG);
    y = xmalloc(N * K);
    ya = xmalloc(NA * K);
    for (i = 0; i < N; ++i)
        for (j = 0; j < K; ++j) y[i * K + j] = (j == (size_t)lab[i]) - 1.0 / (double)K;
    for (r = 0; r < 4; ++r) memcpy(ya + r * N * K, y, N * K * sizeof *y);
    for (i = 0; i < N * K; ++i) loss0 += y[i] * y[i] / (2.0 * (double)(N * K));
    /* the networks' evaluation inputs: their own training inputs first, then the NE evaluation inputs */
    xc = xmalloc((NA + NE) * P_IMG);
    xg = xmalloc((N + NE) * P_IMG);
    memcpy(xc, xa, NA * P_IMG * sizeof *xa);
    memcpy(xc + NA * P_IMG, xe, NE * P_IMG * sizeof *xe);
    memcpy(xg, x, N * P_IMG * sizeof *x);
    memcpy(xg + N * P_IMG, xe, NE * P_IMG * sizeof *xe);

    /* infinite-width NTKs: Theta(inputs, training inputs) of each network */
    t_all = now();
    Tc = xmalloc((NA + NE) * NA);
    Tg = xmalloc((N + NE) * N);
    if ((st = entk_cn_kernel(&cnn, xc, NA + NE, xa, NA, 1, S_IMG, S_IMG, NULL, 0, Tc, NA, 2))) fail("cnn kernel", st, NULL);
    if ((st = entk_cn_kernel(&gcnn, xg, N + NE, x, N, 1, S_IMG, S_IMG, NULL, 0, Tg, N, 2))) fail("gcnn kernel", st, NULL);
    lmax = top_eig(Tg, N);
    eta = ETA_FRAC * (double)(N * K) / lmax;
    /* mu_t[Y] of both, and the augmentation theorem at this t: they agree to rounding */
    mu_c = xmalloc((NA + NE) * K);
    mu_g = xmalloc((N + NE) * K);
    mu_t(Tc, Tc + NA * NA, NA, NE, K, ya, eta, steps, mu_c);
    mu_t(Tg, Tg + N * N, N, NE, K, y, eta, steps, mu_g);
    printf("Augmented-CNN vs C4-GCNN ensembles on Fashion-MNIST: N = %zu training images of %zu classes (4N = %zu "
           "augmented), %dx%d pixels;\n  CNN:  %s\n  GCNN: %s\n", N, K, NA, S_IMG, S_IMG, cnn_text, gcnn_text);
    printf("eta = %.4g (%.2f N K / lambda_max(Theta_GCNN(X,X))), %d steps (c = eta t / (N K) = %.3g), M up to %d, widths "
           "%s; %s path\n", eta, ETA_FRAC, steps, eta * steps / (double)(N * K), Mt, wlist, entk_simd_name());
    printf("evaluation: %d test images (trained classes), %d Gaussian-noise images, %d images of untrained classes\n",
           N_TEST, N_NOISE, N_UNSEEN);
    {
        double md = 0, lt = 0, *mtr = xmalloc(N * K);
        for (i = 0; i < NE * K; ++i) md = fmax(md, fabs(mu_c[i] - mu_g[i]));
        mu_t(Tg, Tg, N, N, K, y, eta, steps, mtr);
        for (i = 0; i < N * K; ++i) lt += (mtr[i] - y[i]) * (mtr[i] - y[i]) / (2.0 * (double)(N * K));
        printf("infinite width: max |mu_t(CNN, augmented) - mu_t(GCNN)| = %.2e on the evaluation inputs "
               "(augmentation theorem);\n  training loss of mu_t %.4g against %.4g for predicting 0\n", md, lt, loss0);
        free(mtr);
    }
    fflush(stdout);

    if (csv) {
        out = fopen(csv, "w");
        if (!out) { fprintf(stderr, "%s: cannot write %s\n", PROGRAM, csv); return 1; }
        fprintf(out, "width,M,groups,set,d_raw,d_cent,d_cv,e_cnn,e_gcnn,e_cnn_cv,e_gcnn_cv,sys2,sys2_err,bias2_cnn,bias2_cnn_err,bias2_gcnn,bias2_gcnn_err,loss_cnn,loss_gcnn\n");
    }
    for (wi = 0; wi < nw; ++wi) {
        const size_t W = widths[wi], nec = NA + NE, neg = N + NE, MK = (size_t)Mt * K;
        double *cf0 = xmalloc((size_t)Mt * nec * K), *cft = xmalloc((size_t)Mt * nec * K);
        double *gf0 = xmalloc((size_t)Mt * neg * K), *gft = xmalloc((size_t)Mt * neg * K);
        double *cl = xmalloc((size_t)Mt * (size_t)(steps + 1)), *gl = xmalloc((size_t)Mt * (size_t)(steps + 1));
        double *ev[2][3], *a = xmalloc(NE * K), *b = xmalloc(NE * K), *zc = xmalloc(NA * MK), *zg = xmalloc(N * MK);
        double *pc = xmalloc(NE * MK), *pg = xmalloc(NE * MK), lc0 = 0, lct = 0, lg0 = 0, lgt = 0;
        double sys[N_SETS], sys_err[N_SETS], bias[2][N_SETS], bias_err[2][N_SETS], tw = now();
        int m, s, v;
        if (fnet_train_ensemble(&cnn, 1, S_IMG, S_IMG, W, xa, NA, ya, K, eta, steps, Mt, 1000, xc, nec, cf0, cft, cl) ||
            fnet_train_ensemble(&gcnn, 1, S_IMG, S_IMG, W, x, N, y, K, eta, steps, Mt, 5000, xg, neg, gf0, gft, gl))
            fail("fnet_train_ensemble", ENTK_ERR_NOMEM, NULL);
        tw = now() - tw;
        for (m = 0; m < Mt; ++m) {
            lc0 += cl[(size_t)m * (size_t)(steps + 1)] / Mt;
            lct += cl[(size_t)m * (size_t)(steps + 1) + (size_t)steps] / Mt;
            lg0 += gl[(size_t)m * (size_t)(steps + 1)] / Mt;
            lgt += gl[(size_t)m * (size_t)(steps + 1) + (size_t)steps] / Mt;
        }
        /* mu_t[f_0(X)] of every member at once: its Mt K target columns, lr scaled by Mt so that c = eta t
         * / (n K) stays that of K columns */
        for (m = 0; m < Mt; ++m)
            for (i = 0; i < NA; ++i)
                for (j = 0; j < K; ++j) zc[i * MK + (size_t)m * K + j] = cf0[((size_t)m * nec + i) * K + j];
        for (m = 0; m < Mt; ++m)
            for (i = 0; i < N; ++i)
                for (j = 0; j < K; ++j) zg[i * MK + (size_t)m * K + j] = gf0[((size_t)m * neg + i) * K + j];
        mu_t(Tc, Tc + NA * NA, NA, NE, MK, zc, eta * Mt, steps, pc);
        mu_t(Tg, Tg + N * N, N, NE, MK, zg, eta * Mt, steps, pg);
        /* per member on the NE evaluation inputs: ev[net][0] raw f_t, [1] centred f_t - f_0, [2] with the
         * control variate f_t - f_0 + mu_t[f_0(X)] (E f_0 = 0 exactly, so all three have mean E f_t) */
        for (v = 0; v < 2; ++v) {
            const double *f0 = v ? gf0 : cf0, *ft = v ? gft : cft, *p = v ? pg : pc;
            const size_t ne = v ? neg : nec, n0 = v ? N : NA;
            for (r = 0; r < 3; ++r) ev[v][r] = xmalloc((size_t)Mt * NE * K);
            for (m = 0; m < Mt; ++m)
                for (i = 0; i < NE; ++i)
                    for (j = 0; j < K; ++j) {
                        const size_t src = ((size_t)m * ne + n0 + i) * K + j, dst = ((size_t)m * NE + i) * K + j;
                        ev[v][0][dst] = ft[src];
                        ev[v][1][dst] = ft[src] - f0[src];
                        ev[v][2][dst] = ft[src] - f0[src] + p[i * MK + (size_t)m * K + j];
                    }
        }
        printf("\n== width %zu: %d + %d members trained in %.1f s\n", W, Mt, Mt, tw);
        printf("mean training loss: CNN (augmented) %.4g -> %.4g, GCNN %.4g -> %.4g; predicting 0: %.4g\n", lc0, lct,
               lg0, lgt, loss0);
        /* the systematic parts from all members (control-variate outputs), jackknife errors: CNN vs
         * GCNN, and each against its mu_t */
        for (s = 0; s < N_SETS; ++s) {
            const size_t o = set_off[s], n = set_n[s];
            sys2_jack(ev[0][2], ev[1][2], NULL, NE, Mt, o, n, K, &sys[s], &sys_err[s]);
            sys2_jack(ev[0][2], NULL, mu_c + o * K, NE, Mt, o, n, K, &bias[0][s], &bias_err[0][s]);
            sys2_jack(ev[1][2], NULL, mu_g + o * K, NE, Mt, o, n, K, &bias[1][s], &bias_err[1][s]);
        }
        printf("%5s %6s %-7s %9s %9s %9s %9s %9s %9s %9s\n", "M", "groups", "set", "d_raw", "d_cent", "d_cv",
               "e_cnn", "e_gcnn", "e_cnn_cv", "e_gcnn_cv");
        for (M = 1; M <= Mt; M *= 2) {
            const int ng = Mt / M;
            double d[3][N_SETS] = {{0}}, e[2][2][N_SETS] = {{{0}}};
            int g;
            for (g = 0; g < ng; ++g)
                for (s = 0; s < N_SETS; ++s) {
                    const size_t o = set_off[s], n = set_n[s];
                    for (r = 0; r < 3; ++r) {
                        group_mean(ev[0][r], g * M, M, NE, o, n, K, a);
                        group_mean(ev[1][r], g * M, M, NE, o, n, K, b);
                        d[r][s] += dist(a, b, n, K) / ng;
                        if (r == 1) continue;
                        e[0][r / 2][s] += dist(a, mu_c + o * K, n, K) / ng;
                        e[1][r / 2][s] += dist(b, mu_g + o * K, n, K) / ng;
                    }
                }
            for (s = 0; s < N_SETS; ++s) {
                printf("%5d %6d %-7s %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f\n", M, ng, set_name[s], d[0][s], d[1][s],
                       d[2][s], e[0][0][s], e[1][0][s], e[0][1][s], e[1][1][s]);
                if (out)
                    fprintf(out, "%zu,%d,%d,%s,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n",
                            W, M, ng, set_name[s], d[0][s], d[1][s], d[2][s], e[0][0][s], e[1][0][s], e[0][1][s],
                            e[1][1][s], sys[s], sys_err[s], bias[0][s], bias_err[0][s], bias[1][s],
                            bias_err[1][s], lct, lgt);
            }
        }
        printf("systematic distances (control-variate outputs, the noise of the finite means removed, all %d + %d "
               "members, jackknife errors):\n", Mt, Mt);
        for (s = 0; s < N_SETS; ++s) {
            group_mean(ev[1][0], 0, Mt, NE, set_off[s], set_n[s], K, b);
            memset(a, 0, set_n[s] * K * sizeof *a);
            printf(" %s (|GCNN mean| = %.4f):\n", set_name[s], dist(b, a, set_n[s], K));
            print_sys("CNN vs GCNN", sys[s], sys_err[s]);
            print_sys("CNN vs mu_t", bias[0][s], bias_err[0][s]);
            print_sys("GCNN vs mu_t", bias[1][s], bias_err[1][s]);
        }
        fflush(stdout);
        for (v = 0; v < 2; ++v)
            for (r = 0; r < 3; ++r) free(ev[v][r]);
        free(cf0); free(cft); free(gf0); free(gft); free(cl); free(gl); free(a); free(b); free(zc); free(zg);
        free(pc); free(pg);
    }
    printf("\ntotal %.1f s\n", now() - t_all);
    if (out) fclose(out);
    free(x); free(lab); free(xe); free(xa); free(y); free(ya); free(xc); free(xg); free(Tc); free(Tg);
    free(mu_c); free(mu_g);
    entk_array_free(&xtr_raw); entk_array_free(&ytr); entk_array_free(&xte_raw); entk_array_free(&yte);
    return 0;
}
