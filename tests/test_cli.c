/* The `entk` command line: results equal the library's, and every bad input gets one line on stderr
 * naming the problem and a non-zero exit (never a crash). Runs bin/entk from the repository root, or
 * the program TU_ENTK_CLI names (a path relative to the root: the Makefile's sanitized variant runs
 * build/asan/entk). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testutil.h"
#include "entk_cn.h"

#ifndef TU_ENTK_CLI
#define TU_ENTK_CLI "bin/entk"
#endif

static char dir[64];

static void path_of(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", dir, name); }

static void put(const char *name, const double *data, int ndim, const size_t *shape) {
    char p[128];
    path_of(p, sizeof p, name);
    cr_assert_eq(entk_npy_write_file(p, data, ndim, shape), ENTK_OK);
}

static void put_bytes(const char *name, const void *bytes, size_t len) {
    char p[128];
    FILE *f;
    path_of(p, sizeof p, name);
    f = fopen(p, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

static void get(const char *name, entk_array *a) {
    char p[128], err[128];
    path_of(p, sizeof p, name);
    cr_assert_eq(entk_npy_read_file(p, a, err, sizeof err), ENTK_OK, "%s: %s", name, err);
}

/* Run the CLI with args (a shell fragment; file names relative to dir). Returns the exit code
 * (128 + signal if killed) and stderr in err. */
static int run(const char *args, char *err, size_t errlen) {
    char cmd[2048], errpath[128];
    FILE *f;
    size_t n;
    int rc;
    path_of(errpath, sizeof errpath, "stderr.txt");
    snprintf(cmd, sizeof cmd, "cd %s && ../../" TU_ENTK_CLI " %s >/dev/null 2>stderr.txt", dir, args);
    rc = system(cmd);
    f = fopen(errpath, "rb");
    cr_assert(f);
    n = fread(err, 1, errlen - 1, f);
    err[n] = 0;
    fclose(f);
    if (WIFSIGNALED(rc)) return 128 + WTERMSIG(rc);
    return WEXITSTATUS(rc);
}

static double X[12 * 5], Z[4 * 5], Y[12 * 2], IMG[3 * 2 * 5 * 5];

static void setup(void) {
    double img[2 * 1 * 4 * 4], two[2] = {1, 2}, big[2] = {1, 2};
    size_t sx[2] = {12, 5}, sz[2] = {4, 5}, sy[2] = {12, 2}, s2[1] = {2}, simg[4] = {2, 1, 4, 4};
    unsigned char buf[256];
    size_t len;
    tu_rng r = {42};
    cr_assert(access(TU_ENTK_CLI, X_OK) == 0, TU_ENTK_CLI " missing: run from the repository root after make");
    snprintf(dir, sizeof dir, "build/cli-test-%ld", (long)getpid());
    snprintf((char *)buf, sizeof buf, "mkdir -p %s", dir);
    cr_assert_eq(system((char *)buf), 0);
    tu_fill_normal(&r, X, 12 * 5);
    tu_fill_normal(&r, Z, 4 * 5);
    tu_fill_normal(&r, Y, 12 * 2);
    tu_fill_normal(&r, img, 32);
    put("x.npy", X, 2, sx);
    put("z.npy", Z, 2, sz);
    put("y.npy", Y, 2, sy);
    put("y1.npy", Y, 1, sx);
    put("img.npy", img, 4, simg);
    {
        size_t sq[4] = {3, 2, 5, 5};
        tu_fill_normal(&r, IMG, 3 * 2 * 5 * 5);
        size_t rect[4] = {2, 2, 5, 3};
        put("sq.npy", IMG, 4, sq);
        put("rect.npy", IMG, 4, rect);
    }
    put_bytes("junk.npy", "hello", 5);
    /* a valid file whose second value is then patched to NaN, and one cut short */
    cr_assert_eq(entk_npy_write_mem(two, 1, s2, buf, sizeof buf, &len), ENTK_OK);
    memcpy(buf + len - 8, "\x00\x00\x00\x00\x00\x00\xf8\x7f", 8);
    put_bytes("nan.npy", buf, len);
    put_bytes("short.npy", buf, len - 3);
    (void)big;
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) cr_log_warn("could not remove %s", dir);
}

TestSuite(cli, .init = setup, .fini = teardown);

Test(cli, kernel_files_equal_library_results) {
    entk_arch a;
    entk_array k, t, kx;
    double K[12 * 4], T[12 * 4], Ks[12 * 12];
    char err[512];
    cr_assert_eq(run("kernel --arch 'dense(sw=1.2,sb=0.3) relu dense' --x1 x.npy --x2 z.npy --nngp k.npy --ntk t.npy --threads 2",
                     err, sizeof err), 0, "%s", err);
    cr_assert_eq(run("kernel --arch 'dense(sw=1.2,sb=0.3) relu dense' --x1 x.npy --nngp kx.npy", err, sizeof err), 0, "%s", err);
    cr_assert_eq(entk_arch_parse("dense(sw=1.2,sb=0.3) relu dense", &a, NULL, 0), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, X, 12, Z, 4, 5, K, 4, T, 4, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, X, 12, NULL, 0, 5, Ks, 12, NULL, 0, 1), ENTK_OK);
    get("k.npy", &k);
    get("t.npy", &t);
    get("kx.npy", &kx);
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

Test(cli, predict_equals_library_predictor) {
    entk_arch a;
    entk_array p, v;
    entk_kernels kk, kt;
    entk_predict_opts o = entk_predict_opts_default();
    double Ktr[144], Ttr[144], Kte[48], Tte[48], Kd[4], mean[8], var[4];
    char err[512];
    cr_assert_eq(run("predict --arch 'dense relu dense' --train-x x.npy --train-y y.npy --test-x z.npy --out p.npy "
                     "--time 3 --lr 0.5 --diag-reg 0.01 --variance v.npy", err, sizeof err), 0, "%s", err);
    cr_assert(strstr(err, "relative") != NULL, "the regulariser's kind is reported: %s", err);
    entk_arch_parse("dense relu dense", &a, NULL, 0);
    entk_mlp_kernel(&a, X, 12, NULL, 0, 5, Ktr, 12, Ttr, 12, 1);
    entk_mlp_kernel(&a, Z, 4, X, 12, 5, Kte, 12, Tte, 12, 1);
    entk_mlp_diag(&a, Z, 4, 5, Kd, NULL);
    memset(&kk, 0, sizeof kk);
    kk.n = 12; kk.m = 4; kk.train = Ktr; kk.ld_train = 12; kk.test_train = Kte; kk.ld_test_train = 12;
    kk.test_diag = Kd;
    kt = kk;
    kt.train = Ttr; kt.test_train = Tte; kt.test_diag = NULL;
    o.t = 3; o.lr = 0.5; o.diag_reg = 0.01;
    cr_assert_eq(entk_predict_ntk_ensemble(&kk, &kt, 2, Y, 2, &o, mean, 2, var, NULL, 0, NULL), ENTK_OK);
    get("p.npy", &p);
    get("v.npy", &v);
    cr_assert_eq(p.shape[0], 4);
    cr_assert_eq(p.shape[1], 2);
    cr_assert_eq(v.ndim, 1);
    cr_assert_leq(tu_rel_frob(p.data, mean, 8), 1e-10);
    cr_assert_leq(tu_rel_frob(v.data, var, 4), 1e-10);
    entk_array_free(&p);
    entk_array_free(&v);
    /* a 1-D target vector counts as one column */
    cr_assert_eq(run("predict --arch 'dense relu dense' --train-x x.npy --train-y y1.npy --test-x z.npy --out p1.npy --kernel nngp",
                     err, sizeof err), 0, "%s", err);
    get("p1.npy", &p);
    cr_assert_eq(p.ndim, 2);
    cr_assert_eq(p.shape[1], 1);
    entk_array_free(&p);
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
    cr_assert(strstr(out, "simd: avx2") || strstr(out, "simd: neon") || strstr(out, "simd: scalar"), "%s", out);
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
        {"kernel --arch 'conv relu dense' --x1 sq.npy --ntk o.npy", 1, "image architecture"},
        {"kernel --arch 'conv(q=7) relu gap dense' --x1 sq.npy --ntk o.npy", 1, "too small"},
        {"kernel --arch 'conv relu gap dense' --x1 x.npy --ntk o.npy", 1, "N x C x H x W"},
        {"kernel --arch 'conv relu gap dense' --orbit c4 --x1 rect.npy --ntk o.npy", 1, "square"},
        {"kernel --arch 'dense relu dense' --orbit c4 --x1 x.npy --ntk o.npy", 2, "--orbit"},
        {"kernel --arch 'conv relu gap dense' --orbit c5 --x1 sq.npy --ntk o.npy", 2, "c5"},
        {"kernel --arch 's2lift(L=4) relu so3pool dense' --x1 x.npy --ntk o.npy", 1, "s2lift"},
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        char err[1024];
        int rc = run(bad[i].args, err, sizeof err);
        char *nl = strchr(err, '\n');
        cr_expect_eq(rc, bad[i].code, "'%s' exited %d: %s", bad[i].args, rc, err);
        cr_expect(nl != NULL && nl[1] == 0, "'%s' must print exactly one line: [%s]", bad[i].args, err);
        cr_expect(strstr(err, bad[i].needle) != NULL, "'%s' -> '%s' lacks '%s'", bad[i].args, err, bad[i].needle);
        cr_expect(strncmp(err, "entk: ", 6) == 0, "'%s' -> '%s'", bad[i].args, err);
    }
}

/* Image architectures: the CLI equals entk_cn_kernel, and --orbit c4 on a circular CNN equals the C4 GCNN. */
Test(cli, image_kernels_and_orbit_average) {
    const char *gcnn = "lift(n=4,q=3,pad=circular) relu gconv(pad=circular) relu gpool dense";
    entk_arch a;
    entk_array t, to;
    double T[9];
    char err[512];
    cr_assert_eq(run("kernel --arch 'lift(n=4,q=3,pad=circular) relu gconv(pad=circular) relu gpool dense' "
                     "--x1 sq.npy --ntk t.npy", err, sizeof err), 0, "%s", err);
    cr_assert_eq(run("kernel --arch 'conv(pad=circular) relu conv(pad=circular) relu gap dense' --orbit c4 "
                     "--x1 sq.npy --ntk to.npy --threads 2", err, sizeof err), 0, "%s", err);
    cr_assert_eq(entk_arch_parse(gcnn, &a, NULL, 0), ENTK_OK);
    cr_assert_eq(entk_cn_kernel(&a, IMG, 3, NULL, 0, 2, 5, 5, NULL, 0, T, 3, 1), ENTK_OK);
    get("t.npy", &t);
    get("to.npy", &to);
    cr_assert_leq(tu_rel_frob(t.data, T, 9), 1e-13);
    cr_assert_leq(tu_rel_frob(to.data, T, 9), 1e-12);
    entk_array_free(&t);
    entk_array_free(&to);
}
