/* The `entk` command line: results equal the library's, and every bad input gets one line on stderr
 * naming the problem and a non-zero exit (never a crash). Runs bin/entk from the repository root, or
 * the program TU_ENTK_CLI names (a path relative to the root: the Makefile's sanitized variant runs
 * build/asan/entk). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* AddressSanitizer reserves terabytes of shadow address space at start-up, so a sanitized program
 * cannot start at all under `ulimit -v`: the cases that limit the address space run the plain
 * bin/entk in the sanitized variant (the same code, built by every `make test`). */
#if defined(__SANITIZE_ADDRESS__)
#define PT_CLI(pre) (strstr(pre, "ulimit -v") ? "bin/entk" : TU_ENTK_CLI)
#else
#define PT_CLI(pre) TU_ENTK_CLI
#endif

#include "progtest.h"
#include "entk_cn.h"
#include "entk_so3.h"

static void put_bytes(const char *name, const void *bytes, size_t len) {
    char p[128];
    FILE *f;
    pt_path(p, sizeof p, name);
    f = fopen(p, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

static double X[12 * 5], Z[4 * 5], Y[12 * 2], IMG[3 * 2 * 5 * 5];

static void setup(void) {
    double img[2 * 1 * 4 * 4], two[2] = {1, 2}, big[2] = {1, 2};
    size_t sx[2] = {12, 5}, sz[2] = {4, 5}, sy[2] = {12, 2}, s2[1] = {2}, simg[4] = {2, 1, 4, 4};
    unsigned char buf[256];
    size_t len;
    tu_rng r = {42};
    pt_setup("cli", TU_ENTK_CLI);
    tu_fill_normal(&r, X, 12 * 5);
    tu_fill_normal(&r, Z, 4 * 5);
    tu_fill_normal(&r, Y, 12 * 2);
    tu_fill_normal(&r, img, 32);
    pt_put("x.npy", X, 2, sx);
    pt_put("z.npy", Z, 2, sz);
    pt_put("y.npy", Y, 2, sy);
    pt_put("y1.npy", Y, 1, sx);
    pt_put("img.npy", img, 4, simg);
    {
        static double sph[2 * 1 * 6 * 5];
        size_t ssph[4] = {2, 1, 6, 5};
        tu_fill_normal(&r, sph, 60);
        pt_put("sph.npy", sph, 4, ssph);
    }
    {
        size_t sq[4] = {3, 2, 5, 5};
        tu_fill_normal(&r, IMG, 3 * 2 * 5 * 5);
        size_t rect[4] = {2, 2, 5, 3};
        pt_put("sq.npy", IMG, 4, sq);
        pt_put("rect.npy", IMG, 4, rect);
    }
    put_bytes("junk.npy", "hello", 5);
    /* a valid file whose second value is then patched to NaN, and one cut short */
    cr_assert_eq(entk_npy_write_mem(two, 1, s2, buf, sizeof buf, &len), ENTK_OK);
    memcpy(buf + len - 8, "\x00\x00\x00\x00\x00\x00\xf8\x7f", 8);
    put_bytes("nan.npy", buf, len);
    put_bytes("short.npy", buf, len - 3);
    (void)big;
}


TestSuite(cli, .init = setup, .fini = pt_teardown);

Test(cli, kernel_files_equal_library_results) {
    entk_arch a;
    entk_array k, t, kx;
    double K[12 * 4], T[12 * 4], Ks[12 * 12];
    char err[512];
    cr_assert_eq(pt_run("kernel --arch 'dense(sw=1.2,sb=0.3) relu dense' --x1 x.npy --x2 z.npy --nngp k.npy --ntk t.npy --threads 2",
                        err, sizeof err), 0, "%s", err);
    cr_assert_eq(pt_run("kernel --arch 'dense(sw=1.2,sb=0.3) relu dense' --x1 x.npy --nngp kx.npy", err, sizeof err), 0, "%s", err);
    cr_assert_eq(entk_arch_parse("dense(sw=1.2,sb=0.3) relu dense", &a, NULL, 0), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, X, 12, Z, 4, 5, K, 4, T, 4, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, X, 12, NULL, 0, 5, Ks, 12, NULL, 0, 1), ENTK_OK);
    pt_get("k.npy", &k);
    pt_get("t.npy", &t);
    pt_get("kx.npy", &kx);
    cr_assert_eq(k.ndim, 2);
    cr_assert_eq(k.shape[0], 12);
    cr_assert_eq(k.shape[1], 4);
    /* the CLI runs the run-time-dispatched path; this binary may be the scalar or no-SLEEF
     * variant, so the two agree to rounding (bit-exact in the default variant). */
    cr_assert_leq(tu_rel_frob(k.data, K, 48), 1e-13);
    cr_assert_leq(tu_rel_frob(t.data, T, 48), 1e-13);
    cr_assert_eq(kx.shape[1], 12);
    cr_assert_leq(tu_rel_frob(kx.data, Ks, 144), 1e-13);
    entk_array_free(&k);
    entk_array_free(&t);
    entk_array_free(&kx);
}

/* The library's side of the predict runs on x.npy (X, 12 inputs) and z.npy (Z, 4): "dense relu dense"
 * NNGP and NTK kernels, the NNGP's test diagonal; kk and kt point into the struct. */
typedef struct {
    double Ktr[144], Ttr[144], Kte[48], Tte[48], Kd[4];
    entk_kernels kk, kt;
} lib_kern;
static void lib_kernels(lib_kern *l) {
    entk_arch a;
    cr_assert_eq(entk_arch_parse("dense relu dense", &a, NULL, 0), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, X, 12, NULL, 0, 5, l->Ktr, 12, l->Ttr, 12, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, Z, 4, X, 12, 5, l->Kte, 12, l->Tte, 12, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_diag(&a, Z, 4, 5, l->Kd, NULL), ENTK_OK);
    memset(&l->kk, 0, sizeof l->kk);
    l->kk.n = 12; l->kk.m = 4; l->kk.train = l->Ktr; l->kk.ld_train = 12; l->kk.test_train = l->Kte;
    l->kk.ld_test_train = 12; l->kk.test_diag = l->Kd;
    l->kt = l->kk;
    l->kt.train = l->Ttr; l->kt.test_train = l->Tte; l->kt.test_diag = NULL;
}

Test(cli, predict_equals_library_predictor) {
    lib_kern lk;
    entk_array p, v;
    entk_predict_opts o = entk_predict_opts_default();
    double mean[8], var[4];
    char err[512];
    cr_assert_eq(pt_run("predict --arch 'dense relu dense' --train-x x.npy --train-y y.npy --test-x z.npy --out p.npy "
                        "--time 3 --lr 0.5 --diag-reg 0.01 --variance v.npy", err, sizeof err), 0, "%s", err);
    cr_assert(strstr(err, "relative") != NULL, "the regulariser's kind is reported: %s", err);
    lib_kernels(&lk);
    o.t = 3; o.lr = 0.5; o.diag_reg = 0.01;
    cr_assert_eq(entk_predict_ntk_ensemble(&lk.kk, &lk.kt, 2, Y, 2, &o, mean, 2, var, NULL, 0, NULL), ENTK_OK);
    pt_get("p.npy", &p);
    pt_get("v.npy", &v);
    cr_assert_eq(p.shape[0], 4);
    cr_assert_eq(p.shape[1], 2);
    cr_assert_eq(v.ndim, 1);
    cr_assert_leq(tu_rel_frob(p.data, mean, 8), 1e-10);
    cr_assert_leq(tu_rel_frob(v.data, var, 4), 1e-10);
    entk_array_free(&p);
    entk_array_free(&v);
    /* a 1-D target vector counts as one column */
    cr_assert_eq(pt_run("predict --arch 'dense relu dense' --train-x x.npy --train-y y1.npy --test-x z.npy --out p1.npy --kernel nngp",
                        err, sizeof err), 0, "%s", err);
    pt_get("p1.npy", &p);
    cr_assert_eq(p.ndim, 2);
    cr_assert_eq(p.shape[1], 1);
    entk_array_free(&p);
}

static void expect_error(const char *pre, const char *args, int code, const char *needle, int last_line_only);

/* --standardize (conventions §3): the library's predictor on targets in training mean/std units, mapped
 * back; the variance in target units, one column per target (one value per test input for 1-D
 * targets). Targets shifted by 1e6 and scaled by 1e-3 give the same prediction up to that map. */
Test(cli, predict_standardize) {
    lib_kern lk;
    entk_array p, v, p2;
    entk_predict_opts o = entk_predict_opts_default();
    double mean[8], var[4], ys[24], ym[2], ysc[2], Y2[24];
    char err[512];
    size_t sy[2] = {12, 2};
    int i, j;
    cr_assert_eq(pt_run("predict --arch 'dense relu dense' --train-x x.npy --train-y y.npy --test-x z.npy --out p.npy "
                        "--time 3 --diag-reg 0.01 --variance v.npy --standardize", err, sizeof err), 0, "%s", err);
    cr_assert(strstr(err, "standardized") != NULL, "%s", err);
    lib_kernels(&lk);
    o.t = 3; o.diag_reg = 0.01;
    cr_assert_eq(entk_targets_standardize(Y, 12, 2, 2, ys, 2, ym, ysc), ENTK_OK);
    cr_assert_eq(entk_predict_ntk_ensemble(&lk.kk, &lk.kt, 2, ys, 2, &o, mean, 2, var, NULL, 0, NULL), ENTK_OK);
    pt_get("p.npy", &p);
    pt_get("v.npy", &v);
    cr_assert(p.ndim == 2 && p.shape[0] == 4 && p.shape[1] == 2);
    cr_assert(v.ndim == 2 && v.shape[0] == 4 && v.shape[1] == 2, "the variance has one column per target");
    for (i = 0; i < 4; ++i)
        for (j = 0; j < 2; ++j) {
            cr_expect_float_eq(p.data[i * 2 + j], ym[j] + ysc[j] * mean[i * 2 + j], 1e-12);
            cr_expect_float_eq(v.data[i * 2 + j], ysc[j] * ysc[j] * var[i], 1e-12 * ysc[j] * ysc[j] * var[i] + 1e-300);
        }
    /* affine targets: y' = 1e6 + 1e-3 y gives p' = 1e6 + 1e-3 p */
    for (i = 0; i < 24; ++i) Y2[i] = 1e6 + 1e-3 * Y[i];
    pt_put("y2.npy", Y2, 2, sy);
    cr_assert_eq(pt_run("predict --arch 'dense relu dense' --train-x x.npy --train-y y2.npy --test-x z.npy --out p2.npy "
                        "--time 3 --diag-reg 0.01 --standardize", err, sizeof err), 0, "%s", err);
    pt_get("p2.npy", &p2);
    for (i = 0; i < 8; ++i) cr_expect_float_eq(p2.data[i], 1e6 + 1e-3 * p.data[i], 1e-9);
    entk_array_free(&p);
    entk_array_free(&v);
    entk_array_free(&p2);
    /* 1-D targets: a 1-D variance */
    cr_assert_eq(pt_run("predict --arch 'dense relu dense' --train-x x.npy --train-y y1.npy --test-x z.npy --out p1.npy "
                        "--kernel nngp --variance v1.npy --standardize", err, sizeof err), 0, "%s", err);
    pt_get("v1.npy", &v);
    cr_assert(v.ndim == 1 && v.shape[0] == 4);
    entk_array_free(&v);
    expect_error("", "kernel --arch dense --x1 x.npy --ntk o.npy --standardize", 2,
                 "'--standardize' does not apply to 'entk kernel'", 0);
}

Test(cli, info_names_the_path) {
    char cmd[256];
    FILE *f;
    char out[512];
    size_t n;
    snprintf(cmd, sizeof cmd, TU_ENTK_CLI " info");
    f = popen(cmd, "r");
    cr_assert(f);
    n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    cr_assert_eq(pclose(f), 0);
    /* the CLI is built with run-time dispatch, whatever this test binary's variant is */
    cr_assert(strstr(out, "simd: avx2") || strstr(out, "simd: avx512") || strstr(out, "simd: neon") ||
                  strstr(out, "simd: scalar"), "%s", out);
    cr_assert(strstr(out, "sleef: ") != NULL, "%s", out);
    cr_assert(strstr(out, ENTK_VERSION_STRING) != NULL, "%s", out);
}

/* Each bad invocation: exit code, one line on stderr, and a word that names the problem. */
Test(cli, bad_inputs_get_one_line_and_nonzero_exit) {
    static const struct { const char *args; int code; const char *needle; } bad[] = {
        {"kernel --arch 'dense relux' --x1 x.npy --ntk o.npy", 1, "relux"},
        {"kernel --arch 'dense(sw=x)' --x1 x.npy --ntk o.npy", 1, "'x'"},
        {"kernel --arch dense --x1 junk.npy --ntk o.npy", 1, "junk.npy"},
        {"kernel --arch dense --x1 nan.npy --ntk o.npy", 1, "NaN"},
        {"kernel --arch dense --x1 short.npy --ntk o.npy", 1, "truncated"},
        {"kernel --arch dense --x1 missing.npy --ntk o.npy", 1, "missing.npy"},
        {"kernel --arch dense --x1 x.npy --x2 img.npy --ntk o.npy", 1, "--x2"},
        {"kernel --arch relu --x1 x.npy --ntk o.npy", 1, "dense"},
        {"kernel --arch dense --x1 x.npy --ntk no/such/dir/o.npy", 1, "o.npy"},
        {"kernel --arch dense --x1 x.npy", 2, "--ntk"},
        {"kernel --x1 x.npy --ntk o.npy", 2, "--arch"},
        {"kernel --arch dense --x1 x.npy --ntk o.npy --threads 0", 2, "--threads"},
        {"kernel --arch dense --x1 x.npy --ntk o.npy --frob 1", 2, "--frob"},
        {"kernel --arch dense --x1", 2, "--x1"},
        {"predict --arch dense --train-x x.npy --train-y z.npy --test-x z.npy --out p.npy", 1, "--train-y"},
        {"predict --arch dense --train-x x.npy --train-y y.npy --test-x z.npy --out p.npy --kernel rbf", 2, "rbf"},
        {"predict --arch dense --train-x x.npy --train-y y.npy --test-x z.npy --out p.npy --time -1", 2, "--time"},
        {"predict --arch dense --train-x x.npy --train-y y.npy --test-x z.npy --out p.npy --lr 0", 2, "--lr"},
        {"predict --arch dense --train-x x.npy --train-y y.npy --test-x z.npy --out p.npy --diag-reg abc", 2, "abc"},
        {"predict --arch dense --train-x x.npy --train-y nan.npy --test-x z.npy --out p.npy", 1, "NaN"},
        {"predict --arch dense --train-x x.npy --test-x z.npy --out p.npy", 2, "--train-y"},
        {"frobnicate", 2, "frobnicate"},
        {"kernel --arch 'conv relu dense' --x1 sq.npy --ntk o.npy", 1, "layer 3 'dense'"},
        {"kernel --arch 'conv(q=7) relu gap dense' --x1 sq.npy --ntk o.npy", 1, "window 7 larger"},
        {"kernel --arch 'conv relu gap dense' --x1 x.npy --ntk o.npy", 1, "N x C x H x W"},
        {"kernel --arch 'conv relu gap dense' --orbit c4 --x1 rect.npy --ntk o.npy", 1, "square"},
        {"kernel --arch 'dense relu dense' --orbit c4 --x1 x.npy --ntk o.npy", 2, "--orbit"},
        {"kernel --arch 'conv relu gap dense' --orbit c5 --x1 sq.npy --ntk o.npy", 2, "c5"},
        {"kernel --arch 's2lift(L=4) relu so3pool dense' --x1 x.npy --ntk o.npy", 1, "spherical inputs"},
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        char err[1024];
        int rc = pt_run(bad[i].args, err, sizeof err);
        char *nl = strchr(err, '\n');
        cr_expect_eq(rc, bad[i].code, "'%s' exited %d: %s", bad[i].args, rc, err);
        cr_expect(nl != NULL && nl[1] == 0, "'%s' must print exactly one line: [%s]", bad[i].args, err);
        cr_expect(strstr(err, bad[i].needle) != NULL, "'%s' -> '%s' lacks '%s'", bad[i].args, err, bad[i].needle);
        cr_expect(strncmp(err, "entk: ", 6) == 0, "'%s' -> '%s'", bad[i].args, err);
    }
}

/* An invalid architecture: the library's reason, naming the layer, as the one line (entk_arch_check
 * for the layer rules, entk_cn_check_shape for those that need the size of the inputs). */
Test(cli, invalid_architectures_print_the_reason_naming_the_layer) {
    static const struct { const char *args, *line; } bad[] = {
        {"kernel --arch 'relu dense' --x1 x.npy --ntk o.npy",
         "entk: --arch: layer 1 'relu': an MLP starts with a dense layer"},
        {"kernel --arch 'dense relu gap' --x1 sq.npy --ntk o.npy",
         "entk: --arch: layer 1 'dense': an image architecture starts with conv or lift"},
        {"kernel --arch 'conv relu dense' --x1 sq.npy --ntk o.npy",
         "entk: --arch: layer 3 'dense': a dense layer needs scalars: reduce the maps with gap, gpool or flatten before it"},
        {"kernel --arch 'conv(pad=same) relu' --x1 sq.npy --ntk o.npy",
         "entk: --arch: layer 2 'relu': the architecture ends without a reduction to scalars (gap, gpool or flatten)"},
        {"kernel --arch 'conv gap conv' --x1 sq.npy --ntk o.npy",
         "entk: --arch: layer 3 'conv': only dense layers and nonlinearities may follow the reduction (layer 2 'gap')"},
        {"kernel --arch 'conv gconv gap' --x1 sq.npy --ntk o.npy",
         "entk: --arch: layer 2 'gconv': gconv must follow a lift"},
        {"kernel --arch 'lift(n=4) rotpool gconv gpool' --x1 sq.npy --ntk o.npy",
         "entk: --arch: layer 3 'gconv': gconv must follow a lift (layer 2 'rotpool' pooled the group away)"},
        {"kernel --arch 'lift(n=4) relu conv gpool' --x1 sq.npy --ntk o.npy",
         "entk: --arch: layer 3 'conv': conv needs pixel maps, but layer 1 'lift' lifted them to a group of 4 elements: "
         "use gconv, or rotpool first"},
        {"kernel --arch 'lift(n=4) lift gpool' --x1 sq.npy --ntk o.npy",
         "entk: --arch: layer 2 'lift': the maps are already lifted (layer 1 'lift'): rotpool before lifting again"},
        {"kernel --arch 'conv rotpool gap' --x1 sq.npy --ntk o.npy",
         "entk: --arch: layer 2 'rotpool': rotpool must follow a lift (the maps are not lifted)"},
        {"kernel --arch 'so3conv relu so3pool dense' --x1 x.npy --ntk o.npy",
         "entk: --arch: layer 1 'so3conv': an SO(3) architecture starts with s2lift"},
        {"kernel --arch 's2lift relu s2lift so3pool' --x1 x.npy --ntk o.npy",
         "entk: --arch: layer 3 's2lift': s2lift must be the first layer (the maps are already on SO(3): use so3conv)"},
        {"kernel --arch 's2lift(L=3,Lout=4) so3pool' --x1 x.npy --ntk o.npy",
         "entk: --arch: layer 1 's2lift': Lout=4 exceeds the input band limit L=3"},
        {"kernel --arch 's2lift(Lout=3,B=2) so3pool' --x1 x.npy --ntk o.npy",
         "entk: --arch: layer 1 's2lift': B=2 must be at least the band limit 3 (B >= L)"},
        {"kernel --arch 's2lift(L=3,B=4) erf so3conv(L=5) so3pool' --x1 x.npy --ntk o.npy",
         "entk: --arch: layer 3 'so3conv': L=5 exceeds the band limit 4 of the grid it reads"},
        {"kernel --arch 's2lift gap' --x1 x.npy --ntk o.npy",
         "entk: --arch: layer 2 'gap': an image layer in an SO(3) network"},
        {"kernel --arch 's2lift erf dense' --x1 x.npy --ntk o.npy",
         "entk: --arch: layer 3 'dense': a dense layer needs scalars: reduce the maps with so3pool before it"},
        {"kernel --arch 's2lift erf' --x1 x.npy --ntk o.npy",
         "entk: --arch: layer 2 'erf': the architecture ends without a reduction to scalars (so3pool)"},
        {"kernel --arch 'atomsum' --x1 x.npy --ntk o.npy",
         "entk: --arch: layer 1 'atomsum': atomsum needs an atom network before it"},
        {"kernel --arch 'dense atomsum relu' --x1 x.npy --ntk o.npy",
         "entk: --arch: layer 2 'atomsum': atomsum must be the last layer, after an MLP or SO(3) atom network"},
        {"kernel --arch 'conv gap atomsum' --x1 x.npy --ntk o.npy",
         "entk: --arch: layer 1 'conv': an image layer in an atom network (atomsum takes an MLP or SO(3) atom network)"},
        {"kernel --arch 's2lift(L=4) erf so3pool' --x1 sph.npy --ntk o.npy",
         "entk: --x1: layer 1 's2lift': L=4, but the inputs are sampled on the grid of band limit 3 (6 x 5)"},
        {"kernel --arch 's2lift(Lout=4) so3pool' --x1 sph.npy --ntk o.npy",
         "entk: --x1: layer 1 's2lift': Lout=4 exceeds the band limit 3 of the grid it reads"},
        {"kernel --arch 's2lift erf so3pool' --x1 x.npy --ntk o.npy",
         "entk: --x1: SO(3) layers need N x C x 2L x (2L - 1) spherical inputs, got 2 axes"},
        {"kernel --arch 's2lift erf so3pool' --x1 sq.npy --ntk o.npy",
         "entk: --x1: spherical signals are C x 2L x (2L - 1) samples with L from 1 to 64, not 5 x 5"},
        {"kernel --arch 's2lift erf so3pool atomsum' --x1 sph.npy --ntk o.npy",
         "entk: --x1: an SO(3) atom network needs N x A x C x 2L x (2L - 1) molecules, got 4 axes"},
        /* the rules that need the inputs' size, on the input that breaks them */
        {"kernel --arch 'conv(q=7) relu gap dense' --x1 sq.npy --ntk o.npy",
         "entk: --x1: layer 1 'conv': window 7 larger than the 5 x 5 input"},
        {"kernel --arch 'conv relu conv(q=5) gap' --x1 sq.npy --ntk o.npy",
         "entk: --x1: layer 3 'conv': window 5 larger than the 3 x 3 input"},
        {"kernel --arch 'conv(pad=same) avgpool(p=6) gap' --x1 sq.npy --ntk o.npy",
         "entk: --x1: layer 2 'avgpool': pool 6 larger than the 5 x 5 input"},
        {"kernel --arch 'conv relu gap dense' --orbit c4 --x1 rect.npy --ntk o.npy",
         "entk: --x1: orbit averages rotate the images: they must be square, not 5 x 3"},
        {"predict --arch 'conv(q=7) relu gap' --train-x sq.npy --train-y y.npy --test-x sq.npy --out p.npy",
         "entk: --train-x: layer 1 'conv': window 7 larger than the 5 x 5 input"},
        {"predict --arch 'conv gconv gap' --train-x sq.npy --train-y y.npy --test-x sq.npy --out p.npy",
         "entk: --arch: layer 2 'gconv': gconv must follow a lift"},
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        char err[1024], want[600];
        int rc = pt_run(bad[i].args, err, sizeof err);
        snprintf(want, sizeof want, "%s\n", bad[i].line);
        cr_expect_eq(rc, 1, "'%s' exited %d: %s", bad[i].args, rc, err);
        cr_expect_str_eq(err, want, "'%s'", bad[i].args);
    }
}

/* predict --variance on images: the test diagonal is entk_cn_diag's (orbit: entk_cn_diag_orbit's). */
Test(cli, image_variance_uses_the_library_diagonal) {
    const char *arch = "conv(pad=circular) relu conv(pad=circular) relu gap dense";
    char err[512];
    entk_array v1, v2;
    double y3[3] = {1, -1, 0.5};
    size_t s3[1] = {3};
    pt_put("y3.npy", y3, 1, s3);
    cr_assert_eq(pt_run("predict --arch 'conv(pad=circular) relu conv(pad=circular) relu gap dense' --train-x sq.npy "
                        "--train-y y3.npy --test-x sq.npy --out p1.npy --kernel nngp --diag-reg 0.1 --variance v1.npy",
                        err, sizeof err), 0, "%s", err);
    cr_assert_eq(pt_run("predict --arch 'conv(pad=circular) relu conv(pad=circular) relu gap dense' --train-x sq.npy "
                        "--train-y y3.npy --test-x sq.npy --out p2.npy --kernel nngp --diag-reg 0.1 --variance v2.npy "
                        "--orbit d4 --threads 2", err, sizeof err), 0, "%s", err);
    pt_get("v1.npy", &v1);
    pt_get("v2.npy", &v2);
    cr_assert_eq(v1.ndim, 1);
    cr_assert_eq(v1.shape[0], 3);
    cr_assert_eq(v2.shape[0], 3);
    {   /* the same posterior variance from the library's kernels */
        entk_arch a;
        entk_kernels kk;
        entk_predict_opts po = entk_predict_opts_default();
        entk_predict_info info;
        double K[9], Kd[3], mean[3], var[3];
        int o;
        cr_assert_eq(entk_arch_parse(arch, &a, NULL, 0), ENTK_OK);
        for (o = 0; o < 2; ++o) {
            entk_orbit orb = o ? ENTK_ORBIT_D4 : ENTK_ORBIT_NONE;
            cr_assert_eq(entk_cn_kernel_orbit(&a, orb, IMG, 3, NULL, 0, 2, 5, 5, K, 3, NULL, 0, 1), ENTK_OK);
            cr_assert_eq(entk_cn_diag_orbit(&a, orb, IMG, 3, 2, 5, 5, Kd, NULL, 1), ENTK_OK);
            memset(&kk, 0, sizeof kk);
            kk.n = kk.m = 3;
            kk.train = kk.test_train = K;
            kk.ld_train = kk.ld_test_train = 3;
            kk.test_diag = Kd;
            po.diag_reg = 0.1;
            cr_assert_eq(entk_predict_nngp(&kk, 1, y3, 1, &po, mean, 1, var, NULL, 0, &info), ENTK_OK);
            cr_assert_leq(tu_rel_frob(o ? v2.data : v1.data, var, 3), 1e-12, "orbit %d", o);
        }
    }
    entk_array_free(&v1);
    entk_array_free(&v2);
}

/* Image architectures: the CLI equals entk_cn_kernel, and --orbit c4 on a circular CNN equals the C4 GCNN. */
Test(cli, image_kernels_and_orbit_average) {
    const char *gcnn = "lift(n=4,q=3,pad=circular) relu gconv(pad=circular) relu gpool dense";
    entk_arch a;
    entk_array t, to;
    double T[9];
    char err[512];
    cr_assert_eq(pt_run("kernel --arch 'lift(n=4,q=3,pad=circular) relu gconv(pad=circular) relu gpool dense' "
                        "--x1 sq.npy --ntk t.npy", err, sizeof err), 0, "%s", err);
    cr_assert_eq(pt_run("kernel --arch 'conv(pad=circular) relu conv(pad=circular) relu gap dense' --orbit c4 "
                        "--x1 sq.npy --ntk to.npy --threads 2", err, sizeof err), 0, "%s", err);
    cr_assert_eq(entk_arch_parse(gcnn, &a, NULL, 0), ENTK_OK);
    cr_assert_eq(entk_cn_kernel(&a, IMG, 3, NULL, 0, 2, 5, 5, NULL, 0, T, 3, 1), ENTK_OK);
    pt_get("t.npy", &t);
    pt_get("to.npy", &to);
    cr_assert_leq(tu_rel_frob(t.data, T, 9), 1e-13);
    cr_assert_leq(tu_rel_frob(to.data, T, 9), 1e-12);
    entk_array_free(&t);
    entk_array_free(&to);
}

/* The bytes of a file in dir (malloc'd, *len set). */
static unsigned char *slurp(const char *name, size_t *len) {
    char p[128];
    unsigned char *b;
    long n;
    FILE *f;
    pt_path(p, sizeof p, name);
    f = fopen(p, "rb");
    cr_assert(f, "%s missing", name);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 1);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void expect_same_bytes(const char *a, const char *b) {
    size_t la, lb;
    unsigned char *x = slurp(a, &la), *y = slurp(b, &lb);
    cr_expect(la == lb && memcmp(x, y, la) == 0, "%s and %s differ", a, b);
    free(x);
    free(y);
}

/* Exit code, exactly one line (the last: a runtime's own warning may come first where noted), starting
 * "entk: " and holding needle; never a signal. */
static void expect_error(const char *pre, const char *args, int code, const char *needle, int last_line_only) {
    char err[2048];
    int rc = pt_run_with(pre, args, err, sizeof err);
    char *line = err, *nl;
    if (last_line_only) {
        size_t n = strlen(err);
        while (n > 1 && err[n - 2] != '\n') --n;
        line = err + (n ? n - 1 : 0);
        if (*line == '\n') ++line;
    }
    nl = strchr(line, '\n');
    cr_expect_eq(rc, code, "'%s %s' exited %d: %s", pre, args, rc, err);
    cr_expect(nl != NULL && nl[1] == 0, "'%s %s' must print exactly one line: [%s]", pre, args, err);
    cr_expect(strncmp(line, "entk: ", 6) == 0, "'%s %s' -> '%s'", pre, args, err);
    cr_expect(strstr(line, needle) != NULL, "'%s %s' -> '%s' lacks '%s'", pre, args, err, needle);
}

/* Results never depend on the thread count: --threads 1, 2, 3 and OMP_NUM_THREADS give the same bytes. */
Test(cli, outputs_bit_identical_for_any_thread_count) {
    static const char *const archs[] = {"'dense(sw=1.2,sb=0.3) erf dense relu dense'",
                                        "'lift(n=4,q=3,pad=circular) relu gconv(pad=same) relu gpool dense'"};
    static const char *const inputs[] = {"--x1 x.npy --x2 z.npy", "--x1 sq.npy"};
    int a, t;
    for (a = 0; a < 2; ++a) {
        char args[512], err[512];
        for (t = 1; t <= 3; ++t) {
            snprintf(args, sizeof args, "kernel --arch %s %s --nngp k%d.npy --ntk t%d.npy --threads %d", archs[a],
                     inputs[a], t, t, t);
            cr_assert_eq(pt_run(args, err, sizeof err), 0, "%s: %s", args, err);
        }
        snprintf(args, sizeof args, "kernel --arch %s %s --nngp k4.npy --ntk t4.npy", archs[a], inputs[a]);
        cr_assert_eq(pt_run_with("OMP_NUM_THREADS=2", args, err, sizeof err), 0, "%s: %s", args, err);
        for (t = 2; t <= 4; ++t) {
            char k1[16] = "k1.npy", t1[16] = "t1.npy", kt[16], tt[16];
            snprintf(kt, sizeof kt, "k%d.npy", t);
            snprintf(tt, sizeof tt, "t%d.npy", t);
            expect_same_bytes(k1, kt);
            expect_same_bytes(t1, tt);
        }
    }
    {
        char err[512];
        cr_assert_eq(pt_run_with("OMP_NUM_THREADS=3", "predict --arch 'dense relu dense' --train-x x.npy --train-y y.npy "
                                 "--test-x z.npy --out p3.npy --variance v3.npy", err, sizeof err), 0, "%s", err);
        cr_assert_eq(pt_run("predict --arch 'dense relu dense' --train-x x.npy --train-y y.npy "
                            "--test-x z.npy --out p1.npy --variance v1.npy --threads 1", err, sizeof err), 0, "%s", err);
    }
    expect_same_bytes("p1.npy", "p3.npy");
    expect_same_bytes("v1.npy", "v3.npy");
}

/* More threads than the system can start (here: stacks beyond ulimit -v) is one line, not the OpenMP
 * runtime's message or a signal; OMP_NUM_THREADS is read the same way; bad values are usage errors. */
Test(cli, thread_counts_the_system_cannot_give) {
    const char *k = "kernel --arch 'dense relu dense' --x1 x.npy --ntk o.npy";
    char args[256];
    expect_error("ulimit -v 400000;", "kernel --arch 'dense relu dense' --x1 x.npy --ntk o.npy --threads 1024", 1,
                 "--threads 1024: the system can start only", 0);
    expect_error("ulimit -v 400000; OMP_NUM_THREADS=1000", k, 1, "OMP_NUM_THREADS 1000", 0);
    expect_error("ulimit -v 400000;", "predict --arch dense --train-x x.npy --train-y y.npy --test-x z.npy --out p.npy "
                 "--threads 1000", 1, "--threads 1000", 0);
    expect_error("OMP_NUM_THREADS=100000", k, 2, "OMP_NUM_THREADS: '100000'", 0);
    expect_error("OMP_NUM_THREADS=0", k, 2, "OMP_NUM_THREADS: '0'", 1);   /* libgomp warns first */
    expect_error("OMP_NUM_THREADS=abc", k, 2, "OMP_NUM_THREADS: 'abc'", 1);
    snprintf(args, sizeof args, "%s --threads 1025", k);
    expect_error("", args, 2, "from 1 to 1024", 0);
    snprintf(args, sizeof args, "%s --threads 2x", k);
    expect_error("", args, 2, "'2x'", 0);
    /* worker stacks too small for the image kernels died of SIGSEGV (OMP_STACKSIZE=16K, ulimit -s) */
    expect_error("OMP_STACKSIZE=16K", "kernel --arch 'conv relu gap dense' --x1 sq.npy --ntk o.npy --threads 2", 1,
                 "--threads 2: worker threads would get 16.0 KiB of stack (OMP_STACKSIZE)", 0);
    expect_error("OMP_STACKSIZE=16K", "kernel --arch 'conv relu gap dense' --x1 sq.npy --ntk o.npy", 1,
                 "OMP_STACKSIZE: worker threads", 0);
    expect_error("ulimit -s 100;", "kernel --arch 'conv relu gap dense' --x1 sq.npy --ntk o.npy --threads 2", 1,
                 "(ulimit -s)", 0);
    cr_assert_eq(pt_run_with("ulimit -s 100;", "kernel --arch 'conv relu gap dense' --x1 sq.npy --ntk o.npy", args,
                             sizeof args), 0, "the default falls back to one thread: %s", args);
    /* the default (the cores) under a limit runs with what can be started; OMP_NUM_THREADS lists work */
    cr_assert_eq(pt_run_with("ulimit -v 400000;", k, args, sizeof args), 0, "%s", args);
    cr_assert_eq(pt_run_with("OMP_NUM_THREADS=2,1", k, args, sizeof args), 0, "%s", args);
    cr_assert_eq(pt_run_with("OMP_NUM_THREADS=", k, args, sizeof args), 0, "%s", args);
}

/* Outputs larger than the memory at hand are refused before allocating (no OOM kill). */
Test(cli, outputs_beyond_available_memory_are_refused) {
    static double big[20000 * 2];
    size_t sb[2] = {20000, 2}, i;
    char err[512];
    for (i = 0; i < 40000; ++i) big[i] = (double)(i % 13) - 6;
    pt_put("big.npy", big, 2, sb);
    /* 20000^2 doubles = 3.2 GB per output */
    expect_error("ulimit -v 1000000;", "kernel --arch dense --x1 big.npy --nngp k.npy --ntk t.npy", 1, "RLIMIT_AS", 0);
    expect_error("", "kernel --arch dense --x1 big.npy --nngp k.npy --max-memory 1G", 1, "1 output of 20000 x 20000", 0);
    expect_error("", "kernel --arch dense --x1 x.npy --ntk k.npy --max-memory 1K", 1, "--max-memory", 0);
    expect_error("ulimit -v 1000000;", "predict --arch dense --train-x big.npy --train-y big.npy --test-x big.npy "
                 "--out p.npy", 1, "predict: needs", 0);
    cr_assert_eq(pt_run("kernel --arch dense --x1 x.npy --ntk k.npy --max-memory 4K", err, sizeof err), 0, "%s", err);
    cr_assert_eq(pt_run("kernel --arch dense --x1 x.npy --ntk k.npy --max-memory 8GiB", err, sizeof err), 0, "%s", err);
    cr_assert_eq(pt_run("kernel --arch dense --x1 x.npy --ntk k.npy --max-memory 1.5m", err, sizeof err), 0, "%s", err);
    expect_error("", "kernel --arch dense --x1 x.npy --ntk k.npy --max-memory 12X", 2, "'12X'", 0);
    expect_error("", "kernel --arch dense --x1 x.npy --ntk k.npy --max-memory 0", 2, "less than one byte", 0);
    expect_error("", "kernel --arch dense --x1 x.npy --ntk k.npy --max-memory 1e30G", 2, "address", 0);
    expect_error("", "kernel --arch dense --x1 x.npy --ntk k.npy --max-memory nan", 2, "'nan'", 0);
}

/* Control bytes and broken UTF-8 from the command line are escaped as \\xNN in the one-line errors,
 * and an echoed string is cut to a bounded length. */
Test(cli, error_lines_escape_control_bytes_and_cap_echoes) {
    char err[4096], args[1024];
    int i, rc;
    expect_error("", "kernel --arch \"dense$(printf '\\033')[31m\" --x1 x.npy --ntk o.npy", 1, "\\x1B", 0);
    expect_error("", "kernel --arch dense --x1 \"$(printf 'a\\001b\\303(\\302\\233.npy')\" --ntk o.npy", 1,
                 "a\\x01b\\xC3(\\xC2\\x9B.npy", 0);
    expect_error("", "kernel --arch dense --x1 x.npy --ntk o.npy --orbit \"$(printf 'c\\n4')\"", 2, "c\\x0A4", 0);
    /* well-formed UTF-8 passes unchanged */
    expect_error("", "kernel --arch dense --x1 x.npy --ntk o.npy --orbit 'é4'", 2, "'é4'", 0);
    snprintf(args, sizeof args, "kernel --arch dense --ntk o.npy --x1 ");
    for (i = 0; i < 600; ++i) strcat(args, "a");
    expect_error("", args, 1, "aaaa...", 0);
    rc = pt_run(args, err, sizeof err);
    cr_expect_eq(rc, 1);
    cr_expect_lt(strlen(err), 500u, "the line is capped: %zu bytes", strlen(err));
    for (i = 0; err[i]; ++i) cr_expect((unsigned char)err[i] >= 0x20 || err[i] == '\n', "raw control byte in %s", err);
    /* found by fuzz/fuzz_cli.c: 200 bytes 0xFF in a value escaped to 800 and the cut line was 3 bytes
     * over its cap; the parser now cuts the token, so the layer is still named */
    rc = pt_run("kernel --ntk o.npy --x1 x.npy --arch \"lift(n=4=$(for i in $(seq 200); do printf '\\377'; done)) relu\"",
                err, sizeof err);
    cr_expect_eq(rc, 1, "%s", err);
    cr_expect(strstr(err, "\\xFF\\xFF...' for n in layer 'lift'") != NULL, "%s", err);
    cr_expect_leq(strlen(err), 6u + 480u + 1u, "%zu bytes: %s", strlen(err), err);
}

Test(cli, duplicate_architecture_key_is_an_error) {
    expect_error("", "kernel --arch 'dense(sw=1,sw=2) relu dense' --x1 x.npy --ntk o.npy", 1, "'sw' given twice", 0);
    expect_error("", "kernel --arch 'conv(q=3,pad=same,pad=valid) relu gap dense' --x1 sq.npy --ntk o.npy", 1,
                 "'pad' given twice in layer 'conv'", 0);
}

/* Two outputs naming one file, or an output naming an input, in any spelling: an error, not a lost result. */
Test(cli, outputs_must_be_distinct_files) {
    char err[512];
    {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "cd %s && ln -s x.npy lx.npy && ln x.npy hx.npy", pt_dir);
        cr_assert_eq(system(cmd), 0);
    }
    expect_error("", "kernel --arch dense --x1 x.npy --nngp k.npy --ntk k.npy", 2, "--nngp and --ntk name the same file", 0);
    expect_error("", "kernel --arch dense --x1 x.npy --nngp k.npy --ntk ./k.npy", 2, "same file", 0);
    expect_error("", "kernel --arch dense --x1 x.npy --nngp \"$PWD/k.npy\" --ntk ../$(basename $PWD)/k.npy", 2, "same file", 0);
    cr_assert_eq(pt_run("kernel --arch dense --x1 x.npy --nngp k.npy", err, sizeof err), 0, "%s", err);
    expect_error("", "kernel --arch dense --x1 x.npy --nngp k.npy --ntk ./k.npy", 2, "same file", 0); /* existing */
    expect_error("", "kernel --arch dense --x1 x.npy --ntk x.npy", 2, "--ntk and --x1", 0);
    expect_error("", "kernel --arch dense --x1 x.npy --x2 z.npy --nngp ./z.npy", 2, "--nngp and --x2", 0);
    expect_error("", "kernel --arch dense --x1 x.npy --ntk lx.npy", 2, "overwrite an input", 0);
    expect_error("", "kernel --arch dense --x1 hx.npy --ntk x.npy", 2, "overwrite an input", 0);
    expect_error("", "predict --arch dense --train-x x.npy --train-y y.npy --test-x z.npy --out p.npy --variance ./p.npy",
                 2, "--out and --variance", 0);
    expect_error("", "predict --arch dense --train-x x.npy --train-y y.npy --test-x z.npy --out y.npy", 2,
                 "--out and --train-y", 0);
    /* one input twice is fine */
    cr_assert_eq(pt_run("kernel --arch dense --x1 x.npy --x2 ./x.npy --ntk k2.npy", err, sizeof err), 0, "%s", err);
}

/* Numbers: a subnormal is a number (strtod's ERANGE on underflow is not an error); overflow and NaN are
 * named as such. */
Test(cli, number_options_say_what_is_wrong) {
    char err[512];
    const char *p = "predict --arch dense --train-x x.npy --train-y y.npy --test-x z.npy --out p.npy";
    char args[512];
    snprintf(args, sizeof args, "%s --time 1e-310", p);
    cr_assert_eq(pt_run(args, err, sizeof err), 0, "%s", err);
    snprintf(args, sizeof args, "%s --time 4.9e-324 --lr 1e-320 --diag-reg 1e-315", p);
    cr_assert_eq(pt_run(args, err, sizeof err), 0, "%s", err);
    snprintf(args, sizeof args, "%s --time inf", p);
    cr_assert_eq(pt_run(args, err, sizeof err), 0, "%s", err);
    snprintf(args, sizeof args, "%s --time 1e999", p);
    expect_error("", args, 2, "beyond the range of a double", 0);
    snprintf(args, sizeof args, "%s --lr -1e999", p);
    expect_error("", args, 2, "beyond the range", 0);
    snprintf(args, sizeof args, "%s --diag-reg nan", p);
    expect_error("", args, 2, "is NaN", 0);
    snprintf(args, sizeof args, "%s --time -1e-310", p);
    expect_error("", args, 2, "negative", 0);
    snprintf(args, sizeof args, "%s --lr 3x", p);
    expect_error("", args, 2, "'3x' is not a number", 0);
}

/* Options: each command takes only its own, each at most once, and a value is never the next option. */
Test(cli, options_are_checked_per_command) {
    const char *p = "predict --arch dense --train-x x.npy --train-y y.npy --test-x z.npy --out p.npy";
    char args[512];
    expect_error("", "info --frob", 2, "'--frob'", 0);
    expect_error("", "info --arch dense", 2, "info takes no options", 0);
    expect_error("", "info extra", 2, "'extra'", 0);
    expect_error("", "kernel --arch dense --x1 x.npy --ntk o.npy --time 3", 2, "'--time' does not apply to 'entk kernel'", 0);
    expect_error("", "kernel --arch dense --x1 x.npy --ntk o.npy --kernel nngp", 2, "'--kernel' does not apply", 0);
    snprintf(args, sizeof args, "%s --x1 x.npy", p);
    expect_error("", args, 2, "'--x1' does not apply to 'entk predict'", 0);
    expect_error("", "kernel --arch dense --x1 x.npy --x1 z.npy --ntk o.npy", 2, "'--x1' given twice", 0);
    snprintf(args, sizeof args, "%s --diag-reg-absolute --diag-reg-absolute", p);
    expect_error("", args, 2, "'--diag-reg-absolute' given twice", 0);
    snprintf(args, sizeof args, "%s --time 1 --time 2", p);
    expect_error("", args, 2, "'--time' given twice", 0);
    expect_error("", "kernel --arch dense --x1 --ntk o.npy", 2, "'--x1' needs a value, not the option '--ntk'", 0);
    expect_error("", "kernel --arch dense --x1 x.npy --ntk o.npy stray", 2, "unexpected argument 'stray'", 0);
    expect_error("", "kernel --arch dense --x1 x.npy --ntk o.npy --max-memory", 2, "'--max-memory' needs a value", 0);
}

/* ---- entk featurize (entk_so3.h, docs/conventions.md §1.5, §5.5) ------------------------------- */

static const char featurize_xyz[] =
    "3\r\nenergy=-76.4197 note=\"made up\"\r\nO 0 0 0.1173\r\nH 0 0.7572 -0.4692\r\nH 0 -0.7572 -0.4692\r\n"
    "2\nenergy=-100.4278\nF 0 0 0.0929\nH 0 0 -0.8361 extra columns\n"
    "5\nenergy=-40.5184\nC 0 0 0\nH 0.6291 0.6291 0.6291\nH -0.6291 -0.6291 0.6291\nH -0.6291 0.6291 -0.6291\n"
    "H 0.6291 -0.6291 -0.6291\n\n";

static void put_text(const char *name, const char *text) { put_bytes(name, text, strlen(text)); }

/* The CLI's X and E are the library's, bit for bit, with the shapes of §5.5. */
static void featurize_matches(int L, const int *powers, int npowers, const char *args) {
    entk_so3_molecules m;
    entk_array x, e;
    char err[2048];
    size_t C, len;
    double *want;
    cr_assert_eq(entk_so3_xyz_parse(featurize_xyz, sizeof featurize_xyz - 1, &m, err, sizeof err), ENTK_OK, "%s", err);
    cr_assert_eq(pt_run(args, err, sizeof err), 0, "%s: %s", args, err);
    cr_assert(strstr(err, "entk: featurized 3 molecules (at most 5 atoms)") != NULL, "%s", err);
    pt_get("fx.npy", &x);
    pt_get("fe.npy", &e);
    cr_assert_eq(entk_so3_featurize_size(&m, L, npowers, &C, &len), ENTK_OK);
    want = malloc(len * sizeof *want);
    cr_assert_eq(entk_so3_featurize(&m, L, powers, npowers, want, len), ENTK_OK);
    cr_assert_eq(x.ndim, 5);
    cr_assert_eq(x.shape[0], 3);
    cr_assert_eq(x.shape[1], 5);
    cr_assert_eq(x.shape[2], C);
    cr_assert_eq(x.shape[3], (size_t)(2 * L));
    cr_assert_eq(x.shape[4], (size_t)(2 * L - 1));
    cr_assert_eq(x.size, len);
    cr_assert_eq(memcmp(x.data, want, len * sizeof *want), 0);
    cr_assert_eq(e.ndim, 1);
    cr_assert_eq(e.shape[0], 3);
    cr_assert_eq(memcmp(e.data, m.energy, 3 * sizeof *e.data), 0);
    free(want);
    entk_array_free(&x);
    entk_array_free(&e);
    entk_so3_molecules_free(&m);
}

Test(cli, featurize_writes_what_the_library_gives) {
    static const int p13[2] = {1, 3};
    put_bytes("mol.xyz", featurize_xyz, sizeof featurize_xyz - 1);
    featurize_matches(3, NULL, 0, "featurize --xyz mol.xyz --L 3 --out fx.npy --energies fe.npy");
    featurize_matches(2, p13, 2, "featurize --powers 1,3 --energies fe.npy --out fx.npy --L 2 --xyz mol.xyz --max-memory 1G");
}

Test(cli, featurize_help_and_usage) {
    char cmd[512], buf[8192], p[128];
    FILE *f;
    size_t n;
    pt_path(p, sizeof p, "help.txt");
    snprintf(cmd, sizeof cmd, "%s featurize --help > %s && %s --help >> %s", TU_ENTK_CLI, p, TU_ENTK_CLI, p);
    cr_assert_eq(system(cmd), 0);
    f = fopen(p, "rb");
    cr_assert(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    cr_expect(strstr(buf, "usage: entk featurize --xyz IN.xyz --L L --out X.npy") != NULL);
    cr_expect(strstr(buf, "one-hot") != NULL);
    cr_expect(strstr(buf, "w(c) = ((1 + c)/2)^(L-1)") != NULL);
    cr_expect(strstr(buf, "theta_j = pi (2j+1)/(4L)") != NULL);
    cr_expect(strstr(buf, "N x A_max x C x 2L x (2L-1)") != NULL);
    cr_expect(strstr(buf, "       entk featurize --xyz IN.xyz") != NULL); /* in the general usage */
}

/* name occurs in text as a word: after a space, '(' or newline and before a space, '(', ',', ':' or newline */
static int has_word(const char *text, const char *name) {
    size_t n = strlen(name);
    const char *p;
    for (p = strstr(text, name); p; p = strstr(p + 1, name))
        if ((p == text || p[-1] == ' ' || p[-1] == '(' || p[-1] == '\n') && strchr(" (,\n:", p[n])) return 1;
    return 0;
}

/* entk --help covers every option of the table in docs/conventions.md §5.5 (entk-mpi's --block is in
 * its own usage) and every layer the parser knows, by the library's own names */
Test(cli, help_names_every_option_and_layer) {
    static char help[16384], opts[4096];
    char cmd[512], p[128];
    const char *o;
    FILE *f;
    size_t n;
    int kind, nl, count = 0;
    pt_path(p, sizeof p, "help.txt");
    snprintf(cmd, sizeof cmd, "%s --help > %s", TU_ENTK_CLI, p);
    cr_assert_eq(system(cmd), 0);
    f = fopen(p, "rb");
    cr_assert(f);
    n = fread(help, 1, sizeof help - 1, f);
    help[n] = 0;
    fclose(f);
    f = popen("sed -n '/^\\*\\*Options\\*\\*/,/^Numbers are read/p' docs/conventions.md | grep '^| `--' "
              "| grep -o -- '--[A-Za-z0-9-]*' | sort -u | tr '\\n' ' '", "r");
    cr_assert(f);
    n = fread(opts, 1, sizeof opts - 1, f);
    opts[n] = 0;
    cr_assert_eq(pclose(f), 0);
    for (o = opts; *o;) {
        char name[64];
        size_t len = strcspn(o, " ");
        cr_assert(len > 2 && len < sizeof name, "option list: %s", opts);
        memcpy(name, o, len);
        name[len] = 0;
        o += len + (o[len] == ' ');
        if (!strcmp(name, "--block")) continue;
        cr_expect(has_word(help, name), "--help lacks %s", name);
        ++count;
    }
    cr_expect_geq(count, 30, "options found in docs/conventions.md: %s", opts);
    for (kind = ENTK_LAYER_DENSE; kind <= ENTK_LAYER_ATOMSUM; ++kind) {
        entk_layer l = entk_layer_default((entk_layer_kind)kind);
        if (kind != ENTK_LAYER_NONLIN) {
            cr_expect(has_word(help, entk_layer_name(&l)), "--help lacks the layer %s", entk_layer_name(&l));
            continue;
        }
        for (nl = ENTK_NL_IDENTITY; nl < ENTK_NL_CUSTOM; ++nl) {
            l.nl.kind = (entk_nonlin_kind)nl;
            cr_expect(has_word(help, entk_layer_name(&l)), "--help lacks the layer %s", entk_layer_name(&l));
        }
    }
}

Test(cli, featurize_bad_input_gets_one_line) {
    const char *const ok = "--out fx.npy --L 3";
    char args[512];
    put_bytes("mol.xyz", featurize_xyz, sizeof featurize_xyz - 1);
    put_text("cl.xyz", "3\nenergy=1\nO 0 0 0\nH 1 0 0\nCl 0 1 0\n");
    put_text("noe.xyz", "1\nwater\nH 0 0 0\n");
    put_text("trunc.xyz", "3\nenergy=1\nO 0 0 0\nH 1 0 0\n");
    put_text("same.xyz", "2\nenergy=1\nO 0 0 0\nO 0 0 0\n");
    /* bad input: exit 1, naming the file and the line */
    snprintf(args, sizeof args, "featurize --xyz cl.xyz %s", ok);
    expect_error("", args, 1, "--xyz cl.xyz: line 5: unknown element 'Cl' (H, C, N, O, F)", 0);
    snprintf(args, sizeof args, "featurize --xyz noe.xyz %s", ok);
    expect_error("", args, 1, "--xyz noe.xyz: line 2: no energy= on the comment line", 0);
    snprintf(args, sizeof args, "featurize --xyz trunc.xyz %s", ok);
    expect_error("", args, 1, "line 5: the file ends after 2 of the 3 atoms", 0);
    snprintf(args, sizeof args, "featurize --xyz same.xyz %s", ok);
    expect_error("", args, 1, "line 4: atom 2 is 0 Angstrom from atom 1 (line 3)", 0);
    snprintf(args, sizeof args, "featurize --xyz none.xyz %s", ok);
    expect_error("", args, 1, "--xyz none.xyz: cannot open 'none.xyz'", 0);
    expect_error("", "featurize --xyz /dev/zero --out fx.npy --L 3", 1, "NUL byte", 0);
    expect_error("", "featurize --xyz mol.xyz --L 3 --out nodir/fx.npy", 1, "--out nodir/fx.npy: cannot write", 0);
    expect_error("", "featurize --xyz mol.xyz --L 1024 --out fx.npy --max-memory 1M", 1, "needs", 0);
    /* bad usage: exit 2 */
    expect_error("", "featurize --xyz mol.xyz --out fx.npy", 2, "featurize: --xyz, --L and --out are required", 0);
    expect_error("", "featurize --xyz mol.xyz --L 0 --out fx.npy", 2, "--L: '0' is not an integer from 1 to 1024", 0);
    expect_error("", "featurize --xyz mol.xyz --L 1025 --out fx.npy", 2, "--L: '1025'", 0);
    expect_error("", "featurize --xyz mol.xyz --L 2.5 --out fx.npy", 2, "--L: '2.5'", 0);
    expect_error("", "featurize --xyz mol.xyz --L ' 3' --out fx.npy", 2, "--L: ' 3'", 0);
    expect_error("", "featurize --xyz mol.xyz --L 3 --out fx.npy --powers 1,,2", 2, "--powers: '1,,2' is not a list", 0);
    expect_error("", "featurize --xyz mol.xyz --L 3 --out fx.npy --powers 2,2", 2, "--powers: '2,2'", 0);
    expect_error("", "featurize --xyz mol.xyz --L 3 --out fx.npy --powers 0", 2, "--powers: '0'", 0);
    expect_error("", "featurize --xyz mol.xyz --L 3 --out fx.npy --powers 13", 2, "--powers: '13'", 0);
    expect_error("", "featurize --xyz mol.xyz --L 3 --out fx.npy --powers 1,2,3,4,5,6,7,8,9", 2, "at most 8", 0);
    expect_error("", "featurize --xyz mol.xyz --L 3 --out fx.npy --powers 1,", 2, "--powers: '1,'", 0);
    expect_error("", "featurize --xyz mol.xyz --L 3 --out fx.npy --threads 2", 2,
                 "'--threads' does not apply to 'entk featurize'", 0);
    expect_error("", "featurize --xyz mol.xyz --L 3 --out fx.npy --arch dense", 2, "'--arch' does not apply", 0);
    expect_error("", "kernel --arch dense --x1 x.npy --ntk o.npy --L 3", 2, "'--L' does not apply to 'entk kernel'", 0);
    expect_error("", "featurize --xyz mol.xyz --L 3 --L 4 --out fx.npy", 2, "'--L' given twice", 0);
    expect_error("", "featurize --xyz mol.xyz --L 3 --out mol.xyz", 2, "--out and --xyz name the same file", 0);
    expect_error("", "featurize --xyz mol.xyz --L 3 --out fx.npy --energies ./fx.npy", 2,
                 "--out and --energies name the same file", 0);
    expect_error("", "featurize --xyz mol.xyz --L 3 --out fx.npy stray", 2, "unexpected argument 'stray'", 0);
    expect_error("", "frobnicate", 2, "unknown command 'frobnicate' (kernel, predict, featurize, info)", 0);
}

/* SO(3) and molecule kernels through the CLI (entk kernel, entk predict --standardize on featurised
 * molecules) equal the library's: bit for bit in the default variant, to rounding in the others (the
 * CLI runs the dispatched path). */
Test(cli, so3_and_molecule_kernels_equal_the_library) {
    static const char *const archs[] = {"s2lift(sw=0.1) erf so3conv erf so3pool dense atomsum",
                                        "dense(sw=0.5) erf dense atomsum"};
    char err[512], args[512];
    entk_array mx, k, t, sph, p;
    size_t i, v, n;
    put_bytes("mol.xyz", featurize_xyz, sizeof featurize_xyz - 1);
    cr_assert_eq(pt_run("featurize --xyz mol.xyz --L 3 --out mx.npy --energies me.npy", err, sizeof err), 0, "%s", err);
    pt_get("mx.npy", &mx);
    cr_assert_eq(mx.ndim, 5);
    n = mx.shape[0];
    for (v = 0; v < 2; ++v) {
        entk_arch a;
        double K[9], T[9];
        cr_assert(n <= 3);
        snprintf(args, sizeof args, "kernel --arch '%s' --x1 mx.npy --nngp mk.npy --ntk mt.npy", archs[v]);
        cr_assert_eq(pt_run(args, err, sizeof err), 0, "%s: %s", archs[v], err);
        cr_assert_eq(entk_arch_parse(archs[v], &a, NULL, 0), ENTK_OK);
        cr_assert_eq(entk_so3_molecule_kernel(&a, mx.data, n, mx.shape[1], NULL, 0, 0, mx.shape[2], mx.shape[3],
                                              mx.shape[4], K, n, T, n, 1), ENTK_OK);
        pt_get("mk.npy", &k);
        pt_get("mt.npy", &t);
        cr_assert(k.shape[0] == n && k.shape[1] == n);
        cr_assert_leq(tu_rel_frob(k.data, K, n * n), 1e-13, "%s", archs[v]);
        cr_assert_leq(tu_rel_frob(t.data, T, n * n), 1e-13, "%s", archs[v]);
        entk_array_free(&k);
        entk_array_free(&t);
        /* regression on the molecules' energies, standardised */
        snprintf(args, sizeof args, "predict --arch '%s' --train-x mx.npy --train-y me.npy --test-x mx.npy "
                 "--out mp.npy --standardize --diag-reg 1e-6 --variance mv.npy", archs[v]);
        cr_assert_eq(pt_run(args, err, sizeof err), 0, "%s: %s", archs[v], err);
        pt_get("mp.npy", &p);
        cr_assert(p.shape[0] == n && p.shape[1] == 1);
        for (i = 0; i < n; ++i) cr_assert(isfinite(p.data[i]));
        entk_array_free(&p);
    }
    entk_array_free(&mx);
    /* spherical signals (sph.npy: 2 x 1 x 6 x 5) */
    {
        entk_arch a;
        double K[4];
        cr_assert_eq(pt_run("kernel --arch 's2lift erf so3conv erf so3pool dense' --x1 sph.npy --nngp sk.npy", err,
                            sizeof err), 0, "%s", err);
        pt_get("sph.npy", &sph);
        cr_assert_eq(entk_arch_parse("s2lift erf so3conv erf so3pool dense", &a, NULL, 0), ENTK_OK);
        cr_assert_eq(entk_so3_kernel(&a, sph.data, 2, NULL, 0, 1, 3, K, 2, NULL, 0, 1), ENTK_OK);
        pt_get("sk.npy", &k);
        cr_assert_leq(tu_rel_frob(k.data, K, 4), 1e-13);
        entk_array_free(&k);
        entk_array_free(&sph);
    }
}
