/* CLI golden outputs: the .npy files `entk kernel` and `entk predict` write for a fixed list of commands
 * (every image layer kind, padding, group and reduction, the in-cache path on small images and the
 * tiled/fused sweeps on large ones, the c4 and d4 orbit options, MLPs, and the predictors at t = inf and
 * finite t, with NNGP variance), compared bit for bit with values recorded in the repository by an
 * earlier build of the CLI. The library-level goldens (test_golden.c) pin the kernels; this file pins
 * what a user of the program sees: parsing, dispatch, file writing and the predictors on top.
 *
 * The CLI dispatches at run time, so the expected values depend on the path `entk info` reports
 * ("simd: avx2+sleef" -> avx2): one file per path, tests/golden/cli_<path>.txt. A path without a file
 * fails. Inputs come from a fixed seed and are written by this test.
 *
 * Normal runs only compare. To record (only when the outputs are meant to change):
 *     ENTK_GOLDEN_RECORD=1 build/default/test_cli_golden
 * from the repository root. ENTK_GOLDEN_CLI names another program to run and record (e.g. a CLI built
 * from an older commit, to prove that a refactor left every output unchanged).
 *
 * Format: '#' comments, then per command a line "cmd <i> <arguments>" and, per output file, a line
 * "<file> <d0>x<d1>.. <values as IEEE-754 bit patterns in 16 hex digits>". */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testutil.h"
#include "entk_cn.h"

#ifndef TU_ENTK_CLI
#define TU_ENTK_CLI "bin/entk"
#endif

typedef struct {
    const char *args; /* after the program name; files relative to the scratch directory */
    const char *outs; /* the output files to compare, space separated */
} cg_cmd;

#define CG_PAIR(arch, x1, x2, extra)                                                                      \
    {"kernel --arch '" arch "' --x1 " x1 " --nngp k.npy --ntk t.npy --threads 2" extra, "k.npy t.npy"},    \
    {"kernel --arch '" arch "' --x1 " x1 " --x2 " x2 " --nngp k.npy --ntk t.npy" extra, "k.npy t.npy"}

static const cg_cmd cg_cmds[] = {
    /* small images (in-cache path): conv with every padding, avgpool, the reductions, dense heads */
    CG_PAIR("conv(q=3,pad=valid) relu avgpool(p=2) conv(q=1,sb=0.1) erf gap", "a.npy", "b.npy", ""),
    CG_PAIR("conv(q=3,pad=same,sb=0.2) erf conv(q=5,pad=circular) gelu flatten dense relu dense(sb=0.3)", "a.npy",
            "b.npy", ""),
    /* groups: lift n = 2, 4, flip, gconv support all / id, rotpool then conv, gpool */
    CG_PAIR("lift(n=4,flip=1,q=3,pad=same) relu gconv(q=3,pad=circular,support=id) leaky_relu(a=0.2) rotpool "
            "conv(q=3,pad=same) relu gap dense",
            "a.npy", "b.npy", ""),
    CG_PAIR("lift(n=2,q=3,pad=valid) erf gconv(q=1) identity gpool dense(sw=1.2,sb=0.1) relu dense", "a.npy", "b.npy",
            ""),
    /* the orbit option */
    CG_PAIR("conv(q=3,pad=circular) relu conv(q=3,pad=circular) relu gap dense", "a.npy", "b.npy", " --orbit c4"),
    CG_PAIR("conv(q=3,pad=same) relu avgpool(p=2) flatten dense", "a.npy", "b.npy", " --orbit d4"),
    /* large images: the tiled and fused conv chains, the row path of a GCNN */
    CG_PAIR("conv(q=3,pad=same) relu conv(q=3,pad=same) erf conv(q=3,pad=same) relu gap", "big.npy", "big1.npy", ""),
    CG_PAIR("lift(n=4,q=3,pad=same) relu gconv(q=3,pad=same) relu gpool dense", "big.npy", "big1.npy", ""),
    /* MLPs (trailing axes flattened) */
    CG_PAIR("dense(sw=1.2,sb=0.3) leaky_relu(a=0.1) dense erf dense gelu dense", "x.npy", "z.npy", ""),
    CG_PAIR("dense relu dense", "a.npy", "b.npy", ""),
    /* predictors */
    {"predict --arch 'dense relu dense' --train-x x.npy --train-y y.npy --test-x z.npy --out p.npy", "p.npy"},
    {"predict --arch 'dense(sb=0.1) erf dense' --kernel nngp --diag-reg 1e-3 --train-x x.npy --train-y y.npy "
     "--test-x z.npy --out p.npy --variance v.npy",
     "p.npy v.npy"},
    {"predict --arch 'dense relu dense' --time 5 --lr 0.5 --diag-reg 0.01 --diag-reg-absolute --train-x x.npy "
     "--train-y y.npy --test-x z.npy --out p.npy --variance v.npy",
     "p.npy v.npy"},
    {"predict --arch 'conv(q=3,pad=circular) relu gap dense' --orbit c4 --time 10 --train-x a.npy --train-y ya.npy "
     "--test-x b.npy --out p.npy --variance v.npy",
     "p.npy v.npy"},
};
#define CG_NCMD ((int)(sizeof cg_cmds / sizeof cg_cmds[0]))

static char cg_dir[64];

static void cg_put(const char *name, tu_rng *r, int ndim, const size_t *shape) {
    char p[128];
    size_t n = 1, i;
    double *v;
    for (i = 0; i < (size_t)ndim; ++i) n *= shape[i];
    v = malloc(n * sizeof *v);
    cr_assert(v);
    tu_fill_normal(r, v, n);
    snprintf(p, sizeof p, "%s/%s", cg_dir, name);
    cr_assert_eq(entk_npy_write_file(p, v, ndim, shape), ENTK_OK);
    free(v);
}

static const char *cg_cli(void) {
    const char *c = getenv("ENTK_GOLDEN_CLI");
    return c && *c ? c : TU_ENTK_CLI;
}

/* The path the CLI reports on this machine ("simd: avx2+sleef" -> "avx2"). */
static void cg_path(char *buf, size_t len) {
    char cmd[512], line[256];
    FILE *f;
    buf[0] = 0;
    snprintf(cmd, sizeof cmd, "%s%s info", cg_cli()[0] == '/' ? "" : "./", cg_cli());
    f = popen(cmd, "r");
    cr_assert(f, "cannot run %s", cmd);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "simd: ", 6) == 0) {
            size_t n = strcspn(line + 6, "+ \n");
            snprintf(buf, len, "%.*s", (int)n, line + 6);
        }
    cr_assert_eq(pclose(f), 0, "%s failed", cmd);
    cr_assert(buf[0], "%s printed no simd line", cmd);
}

static void cg_setup(void) {
    char cmd[128];
    tu_rng r = {20261201};
    const size_t sa[4] = {3, 2, 6, 6}, sb[4] = {2, 2, 6, 6}, sg[4] = {2, 1, 20, 20}, sg1[4] = {1, 1, 20, 20};
    const size_t sx[3] = {9, 2, 3}, sz[3] = {4, 2, 3}, sy[2] = {9, 2}, sya[1] = {3};
    cr_assert(access(cg_cli(), X_OK) == 0, "%s missing: run from the repository root after make", cg_cli());
    snprintf(cg_dir, sizeof cg_dir, "build/cli-golden-%ld", (long)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p %s", cg_dir);
    cr_assert_eq(system(cmd), 0);
    cg_put("a.npy", &r, 4, sa);
    cg_put("b.npy", &r, 4, sb);
    cg_put("big.npy", &r, 4, sg);
    cg_put("big1.npy", &r, 4, sg1);
    cg_put("x.npy", &r, 3, sx);
    cg_put("z.npy", &r, 3, sz);
    cg_put("y.npy", &r, 2, sy);
    cg_put("ya.npy", &r, 1, sya);
}

static void cg_teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", cg_dir);
    if (system(cmd) != 0) cr_log_warn("could not remove %s", cg_dir);
}

/* Runs command i and appends its record lines ("cmd ..." then one line per output) to out. */
static void cg_run(int i, FILE *out) {
    char cmd[2048], name[64];
    const char *o = cg_cmds[i].outs;
    int rc;
    snprintf(cmd, sizeof cmd, "cd %s && rm -f k.npy t.npy p.npy v.npy && %s%s %s >/dev/null 2>stderr.txt", cg_dir,
             cg_cli()[0] == '/' ? "" : "../../", cg_cli(), cg_cmds[i].args);
    rc = system(cmd);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "command %d failed: %s", i, cg_cmds[i].args);
    fprintf(out, "cmd %d %s\n", i, cg_cmds[i].args);
    while (sscanf(o, "%63s", name) == 1) {
        char p[160], err[128];
        entk_array a;
        size_t j, n = 1;
        snprintf(p, sizeof p, "%s/%s", cg_dir, name);
        cr_assert_eq(entk_npy_read_file(p, &a, err, sizeof err), ENTK_OK, "command %d, %s: %s", i, name, err);
        fprintf(out, "%s ", name);
        for (j = 0; j < (size_t)a.ndim; ++j) {
            fprintf(out, "%s%zu", j ? "x" : "", a.shape[j]);
            n *= a.shape[j];
        }
        for (j = 0; j < n; ++j) {
            uint64_t u;
            memcpy(&u, &a.data[j], 8);
            fprintf(out, " %016llx", (unsigned long long)u);
        }
        fputc('\n', out);
        entk_array_free(&a);
        o += strlen(name);
        while (*o == ' ') ++o;
    }
}

TestSuite(cli_golden, .init = cg_setup, .fini = cg_teardown, .timeout = 600);

Test(cli_golden, outputs_match_recorded_values) {
    const char *rec = getenv("ENTK_GOLDEN_RECORD");
    char path[32], fn[256], *got = NULL, *want = NULL;
    size_t glen = 0, wlen = 0;
    FILE *g;
    int i;
    cg_path(path, sizeof path);
    snprintf(fn, sizeof fn, "tests/golden/cli_%s.txt", path);
    g = open_memstream(&got, &glen);
    cr_assert(g);
    for (i = 0; i < CG_NCMD; ++i) cg_run(i, g);
    cr_assert_eq(fclose(g), 0);
    if (rec && *rec && strcmp(rec, "0") != 0) {
        FILE *f = fopen(fn, "w");
        cr_assert(f, "cannot write %s", fn);
        fprintf(f, "# entk CLI golden outputs, SIMD path %s, %d commands (tests/test_cli_golden.c describes the "
                   "format).\n# Recorded with ENTK_GOLDEN_RECORD=1 build/default/test_cli_golden; do not edit by hand.\n",
                path, CG_NCMD);
        fputs(got, f);
        cr_assert_eq(fclose(f), 0, "write error on %s", fn);
    } else {
        FILE *f = fopen(fn, "r");
        FILE *w;
        char line[1 << 16];
        const char *gp, *wp;
        cr_assert(f, "no CLI golden file %s for the %s path (ENTK_GOLDEN_RECORD=1 records)", fn, path);
        w = open_memstream(&want, &wlen);
        cr_assert(w);
        while (fgets(line, sizeof line, f))
            if (line[0] != '#') fputs(line, w);
        fclose(f);
        cr_assert_eq(fclose(w), 0);
        /* compare line by line, naming the first command that differs */
        for (gp = got, wp = want; *gp || *wp;) {
            const size_t gl = strcspn(gp, "\n"), wl = strcspn(wp, "\n");
            if (gl != wl || memcmp(gp, wp, gl) != 0) {
                cr_assert_fail("%s: output differs from the recorded one at\n  got:  %.120s\n  want: %.120s", fn, gp,
                               wp);
            }
            gp += gl + (gp[gl] == '\n');
            wp += wl + (wp[wl] == '\n');
        }
    }
    free(got);
    free(want);
}
