/* docs/conventions.md §2: kernel regression with a CNN's NTK on the fully augmented training set (every rotation, and
 * flip for D4, of every training image, labels copied) gives the same mean prediction, at t = inf and at
 * finite t, as kernel regression with the GCNN's NTK on the plain training set, when the GCNN gets the
 * absolute regulariser c/|G| for the CNN's c. The augmented Gram matrix is computed directly from the
 * augmented images (no symmetry shortcut), so this is an independent check of the theorem. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include "testutil.h"
#include "entk_cn.h"

#define C_ 2
#define S_ 5 /* images S_ x S_ */
#define NTR 6
#define NTE 4
#define K_ 3
#define IMG (C_ * S_ * S_)

/* all |G| transforms of each of n images (tu_img_rot90, tu_img_mirror): out is (|G| n) x IMG, group
 * element major */
static int orbit(const double *x, int n, int flips, double *out) {
    int g, i, G = flips ? 8 : 4;
    for (i = 0; i < n; ++i) {
        double cur[IMG];
        memcpy(cur, x + i * IMG, sizeof cur);
        for (g = 0; g < G; ++g) {
            double tmp[IMG];
            if (g == 4) { tu_img_mirror(x + i * IMG, C_, S_, S_, tmp); memcpy(cur, tmp, sizeof cur); }
            memcpy(out + ((size_t)g * n + i) * IMG, cur, sizeof cur);
            tu_img_rot90(cur, C_, S_, tmp);
            memcpy(cur, tmp, sizeof cur);
        }
    }
    return G;
}

static void predict(const double *ktr, size_t n, const double *kte, size_t m, const double *y, double reg,
                    double t, double *out) {
    entk_kernels kk;
    entk_predict_opts o = entk_predict_opts_default();
    memset(&kk, 0, sizeof kk);
    kk.n = n; kk.m = m; kk.train = ktr; kk.ld_train = n; kk.test_train = kte; kk.ld_test_train = n;
    o.diag_reg = reg;
    o.diag_reg_absolute = 1;
    o.t = t;
    o.jitter = ENTK_JITTER_NONE;
    cr_assert_eq(entk_predict_mean(&kk, K_, y, K_, &o, out, K_, NULL), ENTK_OK);
}

static void check_theorem(const char *cnn_text, const char *gcnn_text, int flips) {
    entk_arch cnn, gcnn;
    tu_rng r = {7};
    double x[NTR * IMG], z[NTE * IMG], y[NTR * K_], *xa, *ya, *ka, *kza, kg[NTR * NTR], kzg[NTE * NTR];
    const double c = 1e-3, times[] = {INFINITY, 0.5, 5.0, 50.0};
    int G, g, ti;
    size_t na;
    cr_assert_eq(entk_arch_parse(cnn_text, &cnn, NULL, 0), ENTK_OK);
    cr_assert_eq(entk_arch_parse(gcnn_text, &gcnn, NULL, 0), ENTK_OK);
    tu_fill_normal(&r, x, NTR * IMG);
    tu_fill_normal(&r, z, NTE * IMG);
    tu_fill_normal(&r, y, NTR * K_);
    xa = malloc(8 * NTR * IMG * sizeof *xa);
    ya = malloc(8 * NTR * K_ * sizeof *ya);
    G = orbit(x, NTR, flips, xa);
    na = (size_t)G * NTR;
    for (g = 0; g < G; ++g) memcpy(ya + (size_t)g * NTR * K_, y, sizeof y);
    ka = malloc(na * na * sizeof *ka);
    kza = malloc(NTE * na * sizeof *kza);
    cr_assert_eq(entk_cn_kernel(&cnn, xa, na, NULL, 0, C_, S_, S_, NULL, 0, ka, na, 2), ENTK_OK);
    cr_assert_eq(entk_cn_kernel(&cnn, z, NTE, xa, na, C_, S_, S_, NULL, 0, kza, na, 2), ENTK_OK);
    cr_assert_eq(entk_cn_kernel(&gcnn, x, NTR, NULL, 0, C_, S_, S_, NULL, 0, kg, NTR, 2), ENTK_OK);
    cr_assert_eq(entk_cn_kernel(&gcnn, z, NTE, x, NTR, C_, S_, S_, NULL, 0, kzg, NTR, 2), ENTK_OK);
    for (ti = 0; ti < (int)(sizeof times / sizeof times[0]); ++ti) {
        double pa[NTE * K_], pg[NTE * K_], pcnn[NTE * K_];
        predict(ka, na, kza, NTE, ya, c, times[ti], pa);
        predict(kg, NTR, kzg, NTE, y, c / G, times[ti], pg);
        cr_assert_leq(tu_rel_frob(pa, pg, NTE * K_), 1e-9, "t = %g: augmented CNN %g vs GCNN", times[ti],
                      tu_rel_frob(pa, pg, NTE * K_));
        /* and the identity is not trivial: the CNN without augmentation predicts differently */
        {
            double kc[NTR * NTR], kzc[NTE * NTR];
            entk_cn_kernel(&cnn, x, NTR, NULL, 0, C_, S_, S_, NULL, 0, kc, NTR, 1);
            entk_cn_kernel(&cnn, z, NTE, x, NTR, C_, S_, S_, NULL, 0, kzc, NTR, 1);
            predict(kc, NTR, kzc, NTE, y, c, times[ti], pcnn);
            cr_assert_geq(tu_rel_frob(pcnn, pg, NTE * K_), 1e-3);
        }
    }
    free(xa);
    free(ya);
    free(ka);
    free(kza);
}

Test(augment, c4_augmented_cnn_regression_equals_gcnn_regression) {
    check_theorem("conv(q=3,pad=circular,sw=1.3,sb=0.2) relu conv(q=3,pad=circular,sw=1.3) relu gap dense",
                  "lift(n=4,q=3,pad=circular,sw=1.3,sb=0.2) relu gconv(q=3,pad=circular,sw=1.3) relu gpool dense", 0);
}

Test(augment, c4_with_erf_and_support_id) {
    check_theorem("conv(q=3,pad=circular) erf conv(q=3,pad=circular) erf gap dense(sb=0.1)",
                  "lift(n=4,q=3,pad=circular) erf gconv(q=3,pad=circular,support=id) erf gpool dense(sb=0.1)", 0);
}

Test(augment, d4_augmented_cnn_regression_equals_p4m_gcnn_regression) {
    check_theorem("conv(q=3,pad=circular) relu conv(q=3,pad=circular) relu gap dense",
                  "lift(n=4,flip=1,q=3,pad=circular) relu gconv(q=3,pad=circular) relu gpool dense", 1);
}
