/* Rotated Fashion-MNIST: train on upright images, test on images turned by random multiples of 90
 * degrees. Learning curves of three infinite-width predictors (NTK, t = inf):
 *   CNN      conv-relu-conv-relu-gap-dense, trained on the upright images;
 *   CNN+aug  the same CNN trained on the fully rot90-augmented set (4 N images, labels copied);
 *   GCNN     the C4 group-equivariant CNN with the same depth, windows and scales (lift, gconv, gpool).
 * docs/conventions.md §2: CNN+aug and GCNN give the same predictions (the demo prints the largest difference), and the
 * GCNN is exactly invariant, so its accuracy on rotated test images equals that on upright ones.
 *
 *   bin/rotated_fashion [DATA_DIR [N_MAX [N_TEST [POOL [CSV]]]]]
 *
 * DATA_DIR as for fashion_mlp (default data/fashion-mnist-subset); N_MAX the largest training size
 * (default 1000); N_TEST rotated test images (default 300); POOL the average-pooling factor applied to
 * the 28 x 28 images (default 4: 7 x 7 images keep the demo to minutes on 2 cores); CSV an output file
 * for the learning curves (default none).
 */
#define _POSIX_C_SOURCE 200809L
#define ENTK_IMPLEMENTATION
#include "entk_cn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROGRAM "rotated_fashion"
#include "fashion_common.h"

static const char *const cnn_text =
    "conv(q=3,pad=circular,sw=1.4142,sb=0.1) relu conv(q=3,pad=circular,sw=1.4142,sb=0.1) relu gap dense";
static const char *const gcnn_text =
    "lift(n=4,q=3,pad=circular,sw=1.4142,sb=0.1) relu gconv(q=3,pad=circular,sw=1.4142,sb=0.1) relu gpool dense";

/* rot90 anticlockwise of an s x s image, r times */
static void rotate(const double *in, double *out, int s, int r) {
    double *tmp = xmalloc((size_t)s * s), *cur = xmalloc((size_t)s * s);
    int i, j, k;
    memcpy(cur, in, (size_t)s * s * sizeof *cur);
    for (k = 0; k < r; ++k) {
        for (i = 0; i < s; ++i)
            for (j = 0; j < s; ++j) tmp[i * s + j] = cur[j * s + (s - 1 - i)];
        memcpy(cur, tmp, (size_t)s * s * sizeof *cur);
    }
    memcpy(out, cur, (size_t)s * s * sizeof *cur);
    free(tmp);
    free(cur);
}

/* 28 x 28 uint8 images -> pooled s x s, standardised by one global mean and deviation (a per-pixel
 * mean image would not be rotation invariant). */
static double *prepare(const entk_array *a, size_t n, int pool, int *s_out, double *mean, double *sd, int fit) {
    int s = 28 / pool, i, j, u, v;
    size_t k;
    double *x = xmalloc(n * (size_t)s * s);
    for (k = 0; k < n; ++k)
        for (i = 0; i < s; ++i)
            for (j = 0; j < s; ++j) {
                double acc = 0;
                for (u = 0; u < pool; ++u)
                    for (v = 0; v < pool; ++v) acc += a->data[k * 784 + (size_t)(i * pool + u) * 28 + (size_t)(j * pool + v)];
                x[(k * s + i) * s + j] = acc / (255.0 * pool * pool);
            }
    if (fit) {
        double m = 0, q = 0;
        for (k = 0; k < n * s * s; ++k) m += x[k];
        m /= (double)(n * s * s);
        for (k = 0; k < n * s * s; ++k) q += (x[k] - m) * (x[k] - m);
        *mean = m;
        *sd = sqrt(q / (double)(n * s * s));
    }
    for (k = 0; k < n * s * s; ++k) x[k] = (x[k] - *mean) / *sd;
    *s_out = s;
    return x;
}

/* NTK mean at t = inf on the first n training points of an ld-wide train block and a test block. */
static void predict(const double *ktr, size_t ldtr, size_t n, const double *kte, size_t ldte, size_t m,
                    const double *y, double reg, double *out) {
    entk_kernels kk;
    entk_predict_opts o = entk_predict_opts_default();
    entk_predict_info info;
    entk_status st;
    memset(&kk, 0, sizeof kk);
    kk.n = n; kk.m = m; kk.train = ktr; kk.ld_train = ldtr; kk.test_train = kte; kk.ld_test_train = ldte;
    o.diag_reg = reg;
    o.diag_reg_absolute = 1;
    o.jitter = ENTK_JITTER_NONE; /* the comparison needs the exact regulariser */
    if ((st = entk_predict_mean(&kk, N_CLASSES, y, N_CLASSES, &o, out, N_CLASSES, &info))) fail("predict", st, NULL);
}

static void gram(const entk_arch *a, const double *x1, size_t n1, const double *x2, size_t n2, int s,
                 double *t, size_t ldt, const char *what) {
    entk_status st = entk_cn_kernel(a, x1, n1, x2, n2, 1, (size_t)s, (size_t)s, NULL, 0, t, ldt, 2);
    if (st) fail(what, st, NULL);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "data/fashion-mnist-subset";
    size_t nmax = argc > 2 ? (size_t)atol(argv[2]) : 1000, m = argc > 3 ? (size_t)atol(argv[3]) : 300;
    int pool = argc > 4 ? atoi(argv[4]) : 4;
    const char *csv = argc > 5 ? argv[5] : NULL;
    static const size_t sizes[] = {50, 100, 200, 500, 1000, 2000, 5000};
    entk_array xtr_raw, ytr, xte_raw, yte;
    entk_arch cnn, gcnn;
    char err[256];
    int s, r;
    size_t i, j, si, P, na;
    double mean = 0, sd = 1, t0, tk[3];
    double *x, *z, *zr, *xr[4], *y, *ya, *K0, *B[4], *Kz[4], *G, *Gz, *Ka, *Kza, *p1, *p2, *p3;
    FILE *out = NULL;
    entk_status st;

    load(dir, "train_x.npy", &xtr_raw);
    load(dir, "train_y.npy", &ytr);
    load(dir, "test_x.npy", &xte_raw);
    load(dir, "test_y.npy", &yte);
    if (pool < 1 || 28 % pool) { fprintf(stderr, "rotated_fashion: POOL must divide 28\n"); return 1; }
    if (nmax > xtr_raw.shape[0]) nmax = xtr_raw.shape[0];
    if (m > xte_raw.shape[0]) m = xte_raw.shape[0];
    if ((st = entk_arch_parse(cnn_text, &cnn, err, sizeof err))) fail("cnn arch", st, err);
    if ((st = entk_arch_parse(gcnn_text, &gcnn, err, sizeof err))) fail("gcnn arch", st, err);

    x = prepare(&xtr_raw, nmax, pool, &s, &mean, &sd, 1);
    z = prepare(&xte_raw, m, pool, &s, &mean, &sd, 0);
    P = (size_t)s * s;
    /* the rotated test set: image i turned by a random multiple of 90 degrees (fixed seed) */
    zr = xmalloc(m * P);
    srand(20261126);
    for (i = 0; i < m; ++i) rotate(z + i * P, zr + i * P, s, rand() % 4);
    for (r = 0; r < 4; ++r) {
        xr[r] = xmalloc(nmax * P);
        for (i = 0; i < nmax; ++i) rotate(x + i * P, xr[r] + i * P, s, r);
    }
    y = onehot(ytr.data, nmax);

    printf("Rotated Fashion-MNIST: %zu upright training images, %zu test images turned by random multiples "
           "of 90 deg;\n%d x %d pixels (%dx%d average pooling), NTK regression at t = inf, %s path, 2 threads\n",
           nmax, m, s, s, pool, pool, entk_simd_name());
    printf("  CNN:  %s\n  GCNN: %s\n\n", cnn_text, gcnn_text);
    fflush(stdout);

    /* CNN blocks B[d] = Theta(x_i, R^d x_j): the augmented Gram block (g, h) is B[(h - g) mod 4]
     * because the circular CNN's kernel is invariant under rotating both inputs; B[3] = B[1]^T and B[2]
     * is symmetric for the same reason. Test blocks Kz[h] = Theta(z, R^h x). */
    t0 = now();
    K0 = xmalloc(nmax * nmax);
    B[0] = K0;
    gram(&cnn, x, nmax, NULL, 0, s, K0, nmax, "cnn train");
    Kz[0] = xmalloc(m * nmax);
    gram(&cnn, zr, m, x, nmax, s, Kz[0], nmax, "cnn test");
    tk[0] = now() - t0;
    t0 = now();
    for (r = 1; r < 3; ++r) {
        B[r] = xmalloc(nmax * nmax);
        gram(&cnn, x, nmax, xr[r], nmax, s, B[r], nmax, "cnn rotated train");
    }
    B[3] = xmalloc(nmax * nmax);
    for (i = 0; i < nmax; ++i)
        for (j = 0; j < nmax; ++j) B[3][i * nmax + j] = B[1][j * nmax + i];
    for (r = 1; r < 4; ++r) {
        Kz[r] = xmalloc(m * nmax);
        gram(&cnn, zr, m, xr[r], nmax, s, Kz[r], nmax, "cnn rotated test");
    }
    tk[1] = now() - t0;
    t0 = now();
    G = xmalloc(nmax * nmax);
    Gz = xmalloc(m * nmax);
    gram(&gcnn, x, nmax, NULL, 0, s, G, nmax, "gcnn train");
    gram(&gcnn, zr, m, x, nmax, s, Gz, nmax, "gcnn test");
    tk[2] = now() - t0;
    printf("kernels: CNN %.1f s, rotated-copy CNN blocks for augmentation %.1f s, GCNN %.1f s\n\n", tk[0],
           tk[1], tk[2]);

    if (csv) {
        out = fopen(csv, "w");
        if (!out) { fprintf(stderr, "rotated_fashion: cannot write %s\n", csv); return 1; }
        fprintf(out, "n_train,cnn,cnn_aug,gcnn,max_abs_diff_aug_gcnn\n");
    }
    printf("%8s  %9s  %9s  %9s   %s\n", "n_train", "CNN", "CNN+aug", "C4-GCNN", "max |CNN+aug - GCNN| prediction");
    ya = xmalloc(4 * nmax * N_CLASSES);
    Ka = xmalloc(16 * nmax * nmax);
    Kza = xmalloc(4 * m * nmax);
    p1 = xmalloc(m * N_CLASSES); p2 = xmalloc(m * N_CLASSES); p3 = xmalloc(m * N_CLASSES);
    for (si = 0; si < sizeof sizes / sizeof sizes[0] && sizes[si] <= nmax; ++si) {
        size_t n = sizes[si], g, h, k;
        double c = 0, diff = 0;
        for (i = 0; i < n; ++i) c += K0[i * nmax + i];
        c = 1e-4 * c / (double)n; /* absolute regulariser: 1e-4 of the CNN's mean diagonal */
        predict(K0, nmax, n, Kz[0], nmax, m, y, c, p1);
        /* the augmented set: 4 n images, group element major, labels copied */
        na = 4 * n;
        for (g = 0; g < 4; ++g) {
            memcpy(ya + g * n * N_CLASSES, y, n * N_CLASSES * sizeof *ya);
            for (h = 0; h < 4; ++h) {
                const double *blk = B[(h + 4 - g) % 4];
                for (i = 0; i < n; ++i)
                    memcpy(Ka + (g * n + i) * na + h * n, blk + i * nmax, n * sizeof *Ka);
            }
        }
        for (i = 0; i < m; ++i)
            for (h = 0; h < 4; ++h) memcpy(Kza + i * na + h * n, Kz[h] + i * nmax, n * sizeof *Kza);
        predict(Ka, na, na, Kza, na, m, ya, c, p2);
        predict(G, nmax, n, Gz, nmax, m, y, c / 4, p3);
        for (k = 0; k < m * N_CLASSES; ++k) diff = fmax(diff, fabs(p2[k] - p3[k]));
        printf("%8zu  %8.1f%%  %8.1f%%  %8.1f%%   %.2e\n", n, 100 * accuracy(p1, yte.data, m),
               100 * accuracy(p2, yte.data, m), 100 * accuracy(p3, yte.data, m), diff);
        if (out)
            fprintf(out, "%zu,%.6f,%.6f,%.6f,%.3e\n", n, accuracy(p1, yte.data, m), accuracy(p2, yte.data, m),
                    accuracy(p3, yte.data, m), diff);
        fflush(stdout);
    }
    if (out) fclose(out);
    printf("\n(absolute regulariser c = 1e-4 x mean CNN diagonal; the GCNN gets c/4, docs/conventions.md §2)\n");
    free(x); free(z); free(zr); free(y); free(ya); free(K0); free(G); free(Gz); free(Ka); free(Kza);
    free(p1); free(p2); free(p3);
    for (r = 0; r < 4; ++r) { free(xr[r]); free(Kz[r]); if (r) free(B[r]); }
    entk_array_free(&xtr_raw); entk_array_free(&ytr); entk_array_free(&xte_raw); entk_array_free(&yte);
    return 0;
}
