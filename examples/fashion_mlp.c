/* Infinite-width MLP on Fashion-MNIST: NTK gradient-descent predictions at several training times
 * and at t = inf, and the NNGP posterior mean, as test accuracy.
 *
 *   bin/fashion_mlp [DATA_DIR [N_TRAIN [N_TEST]]]
 *
 * DATA_DIR holds train_x.npy (N x 1 x 28 x 28 uint8), train_y.npy, test_x.npy, test_y.npy, as written
 * by scripts/fashion_mnist.py; default data/fashion-mnist-subset (2000 + 1000 images, shipped).
 */
#define _POSIX_C_SOURCE 200809L
#define ENTK_IMPLEMENTATION
#include "entk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROGRAM "fashion_mlp"
#include "fashion_common.h"

/* Pixels to [0,1], centred by the training mean image, scaled so the mean squared norm per
 * coordinate of the training set is 1 (the first layer then sees unit variance). */
static void preprocess(double *tr, size_t ntr, double *te, size_t nte, size_t d) {
    double *mu = xmalloc(d), ss = 0, scale;
    size_t i, j;
    for (j = 0; j < d; ++j) mu[j] = 0;
    for (i = 0; i < ntr; ++i)
        for (j = 0; j < d; ++j) mu[j] += tr[i * d + j] / 255.0;
    for (j = 0; j < d; ++j) mu[j] /= (double)ntr;
    for (i = 0; i < ntr; ++i)
        for (j = 0; j < d; ++j) { tr[i * d + j] = tr[i * d + j] / 255.0 - mu[j]; ss += tr[i * d + j] * tr[i * d + j]; }
    for (i = 0; i < nte; ++i)
        for (j = 0; j < d; ++j) te[i * d + j] = te[i * d + j] / 255.0 - mu[j];
    scale = 1.0 / sqrt(ss / (double)(ntr * d));
    for (i = 0; i < ntr * d; ++i) tr[i] *= scale;
    for (i = 0; i < nte * d; ++i) te[i] *= scale;
    free(mu);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "data/fashion-mnist-subset";
    const char *arch_text = "dense(sw=1.4142,sb=0.1) relu dense(sw=1.4142,sb=0.1) relu dense(sw=1.4142,sb=0.1)";
    /* Times in units of the slowest-but-relevant mode: c = lr t / (n k); printed as t. */
    static const double times[] = {1e2, 1e3, 1e4, 1e5, 1e6, INFINITY};
    entk_array xtr, ytr, xte, yte;
    entk_arch arch;
    entk_kernels kk, kt;
    entk_predict_opts po = entk_predict_opts_default();
    entk_predict_info info;
    char err[256];
    size_t n, m, d, ti;
    double *y, *Ktr, *Kte, *Ttr, *Tte, *pred, t0;
    entk_status st;

    load(dir, "train_x.npy", &xtr);
    load(dir, "train_y.npy", &ytr);
    load(dir, "test_x.npy", &xte);
    load(dir, "test_y.npy", &yte);
    n = xtr.shape[0];
    m = xte.shape[0];
    if (argc > 2 && (size_t)atol(argv[2]) < n) n = (size_t)atol(argv[2]);
    if (argc > 3 && (size_t)atol(argv[3]) < m) m = (size_t)atol(argv[3]);
    d = xtr.size / xtr.shape[0];
    preprocess(xtr.data, n, xte.data, m, d);
    if ((st = entk_arch_parse(arch_text, &arch, err, sizeof err))) fail("arch", st, err);

    y = onehot(ytr.data, n);

    Ktr = xmalloc(n * n); Ttr = xmalloc(n * n); Kte = xmalloc(m * n); Tte = xmalloc(m * n);
    pred = xmalloc(m * N_CLASSES);
    t0 = now();
    if ((st = entk_mlp_kernel(&arch, xtr.data, n, NULL, 0, d, Ktr, n, Ttr, n, 2))) fail("train kernel", st, NULL);
    if ((st = entk_mlp_kernel(&arch, xte.data, m, xtr.data, n, d, Kte, n, Tte, n, 2))) fail("test kernel", st, NULL);
    printf("Fashion-MNIST, infinite-width MLP  %s\n", arch_text);
    printf("%zu training and %zu test images (%s); kernels in %.2f s on the %s path\n\n", n, m, dir,
           now() - t0, entk_simd_name());

    memset(&kk, 0, sizeof kk);
    kk.n = n; kk.m = m;
    kk.train = Ktr; kk.ld_train = n; kk.test_train = Kte; kk.ld_test_train = n;
    kt = kk;
    kt.train = Ttr; kt.test_train = Tte;
    po.diag_reg = 1e-4; /* relative to the mean diagonal */

    printf("%12s  %12s  %12s\n", "time t", "NTK acc", "NNGP acc");
    for (ti = 0; ti < sizeof times / sizeof times[0]; ++ti) {
        double a_ntk, a_nngp;
        po.t = times[ti];
        if ((st = entk_predict_mean(&kt, N_CLASSES, y, N_CLASSES, &po, pred, N_CLASSES, &info))) fail("ntk", st, NULL);
        a_ntk = accuracy(pred, yte.data, m);
        if ((st = entk_predict_nngp(&kk, N_CLASSES, y, N_CLASSES, &po, pred, N_CLASSES, NULL, NULL, 0, &info)))
            fail("nngp", st, NULL);
        a_nngp = accuracy(pred, yte.data, m);
        if (isinf(times[ti])) printf("%12s  %11.1f%%  %11.1f%%\n", "inf", 100 * a_ntk, 100 * a_nngp);
        else printf("%12g  %11.1f%%  %11.1f%%\n", times[ti], 100 * a_ntk, 100 * a_nngp);
    }
    printf("\n(diag_reg 1e-4 relative to the mean diagonal; lr 1; targets one-hot minus 1/10)\n");
    free(y); free(Ktr); free(Ttr); free(Kte); free(Tte); free(pred);
    entk_array_free(&xtr); entk_array_free(&ytr); entk_array_free(&xte); entk_array_free(&yte);
    return 0;
}
