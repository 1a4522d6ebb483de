/* `entk-mpi predict` (cli/entk_mpi.c): ScaLAPACK's distributed Cholesky over 1, 2 and 4 ranks gives the
 * mean of the library's entk_predict_mean (entk predict --train-gram) to 1e-8, for block sizes that
 * leave ragged edges, ranks without blocks and n = 1; bad uses are one line from rank 0. Runs
 * bin/entk-mpi under mpirun from the repository root; where either is missing (no OpenMPI: make mpi
 * was not possible) the binary prints one entk-skip line and exits 0. Every mpirun is wrapped in
 * timeout -s KILL; it is told to oversubscribe (2 cores here, 4 ranks) and, as root, allowed to run. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testutil.h"

#define TU_ENTK_MPI "bin/entk-mpi"

__attribute__((constructor)) static void skip_without_mpi(void) {
    if (access(TU_ENTK_MPI, X_OK) == 0 && system("command -v mpirun >/dev/null 2>&1") == 0) return;
    printf("entk-skip: no %s or no mpirun (OpenMPI and ScaLAPACK: sh scripts/deps.sh test, then make mpi)\n",
           TU_ENTK_MPI);
    fflush(stdout);
    exit(0);
}

static char dir[64];

static void path_of(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", dir, name); }

static void put(const char *name, const double *data, int ndim, const size_t *shape) {
    char p[128];
    path_of(p, sizeof p, name);
    cr_assert_eq(entk_npy_write_file(p, data, ndim, shape), ENTK_OK);
}

static void get(const char *name, entk_array *a) {
    char p[128], err[128];
    path_of(p, sizeof p, name);
    cr_assert_eq(entk_npy_read_file(p, a, err, sizeof err), ENTK_OK, "%s: %s", name, err);
}

/* mpirun -np np bin/entk-mpi args (file names relative to dir); exit code; the program's stderr lines
 * (those starting "entk-mpi:", not mpirun's own report) in err. */
static int mpi_run(int np, const char *args, char *err, size_t errlen) {
    char cmd[2048], errpath[128], line[1024];
    FILE *f;
    size_t n = 0;
    int rc;
    path_of(errpath, sizeof errpath, "stderr.txt");
    snprintf(cmd, sizeof cmd,
             "cd %s && OMPI_MCA_btl=self,vader OPENBLAS_NUM_THREADS=1 timeout -s KILL 60 mpirun --oversubscribe %s -np %d "
             "../../%s %s >/dev/null 2>stderr.txt", dir, geteuid() == 0 ? "--allow-run-as-root" : "", np, TU_ENTK_MPI,
             args);
    rc = system(cmd);
    f = fopen(errpath, "rb");
    cr_assert(f);
    err[0] = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "entk-mpi:", 9) && n + strlen(line) < errlen) {
            strcpy(err + n, line);
            n += strlen(line);
        }
    fclose(f);
    return WIFSIGNALED(rc) ? 128 + WTERMSIG(rc) : WEXITSTATUS(rc);
}

static void setup(void) {
    char cmd[128];
    snprintf(dir, sizeof dir, "build/mpi-test-%ld", (long)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) cr_log_warn("could not remove %s", dir);
}

TestSuite(mpi, .init = setup, .fini = teardown, .timeout = 120);

/* An NNGP Gram (ReLU MLP) of n training and m test inputs and targets, as ktr.npy, kte.npy, y.npy;
 * ref gets the library's t = inf mean with relative diag_reg reg. */
static void make_problem(size_t n, size_t m, size_t k, unsigned seed, double reg, double *ref) {
    entk_arch a;
    entk_kernels kk;
    entk_predict_opts po = entk_predict_opts_default();
    char err[128];
    const size_t d = 3;
    double *x = malloc((n + m) * d * sizeof *x), *ktr = malloc(n * n * sizeof *ktr), *kte = malloc(m * n * sizeof *kte),
           *y = malloc(n * k * sizeof *y);
    size_t s2[2] = {n, n}, st[2] = {m, n}, sy[2] = {n, k};
    tu_rng r = {seed};
    cr_assert(x && ktr && kte && y);
    cr_assert_eq(entk_arch_parse("dense(sw=1.5,sb=0.2) relu dense", &a, err, sizeof err), ENTK_OK);
    tu_fill_normal(&r, x, (n + m) * d);
    tu_fill_normal(&r, y, n * k);
    cr_assert_eq(entk_mlp_kernel(&a, x, n, NULL, 0, d, ktr, n, NULL, 0, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, x + n * d, m, x, n, d, kte, n, NULL, 0, 1), ENTK_OK);
    put("ktr.npy", ktr, 2, s2);
    put("kte.npy", kte, 2, st);
    put("y.npy", y, 2, sy);
    memset(&kk, 0, sizeof kk);
    kk.n = n;
    kk.m = m;
    kk.train = ktr;
    kk.ld_train = n;
    kk.test_train = kte;
    kk.ld_test_train = n;
    po.diag_reg = reg;
    cr_assert_eq(entk_predict_mean(&kk, k, y, k, &po, ref, k, NULL), ENTK_OK);
    free(x);
    free(ktr);
    free(kte);
    free(y);
}

static void assert_close(const double *a, const double *b, size_t len, const char *what) {
    double big = 0, tol;
    size_t i;
    for (i = 0; i < len; ++i) big = fmax(big, fabs(b[i]));
    tol = 1e-8 * big;
    for (i = 0; i < len; ++i)
        cr_assert(fabs(a[i] - b[i]) <= tol, "%s: entry %zu: %.17g vs %.17g (tolerance %.3g)", what, i, a[i], b[i], tol);
}

Test(mpi, ranks_and_blocks_equal_library) {
    /* 1 rank; 2 ranks (1 x 2 grid) and 4 (2 x 2) with blocks of 5 rows: ragged last blocks, 37 = 7 x 5 + 2;
     * the 4-rank run reads Fortran-order copies of the Grams */
    static const struct { int np; const char *block, *files; } runs[] = {
        {1, "", "ktr.npy --test-gram kte.npy"}, {2, "--block 5", "ktr.npy --test-gram kte.npy"},
        {4, "--block 5", "ktrf.npy --test-gram ktef.npy"}};
    const size_t n = 37, m = 6, k = 2;
    double ref[6 * 2];
    size_t i;
    make_problem(n, m, k, 21, 1e-3, ref);
    {
        entk_array g;
        char p[128];
        get("ktr.npy", &g);
        path_of(p, sizeof p, "ktrf.npy");
        tu_put_fortran(p, g.data, n, n);
        entk_array_free(&g);
        get("kte.npy", &g);
        path_of(p, sizeof p, "ktef.npy");
        tu_put_fortran(p, g.data, m, n);
        entk_array_free(&g);
    }
    for (i = 0; i < sizeof runs / sizeof runs[0]; ++i) {
        char args[512], err[1024], what[64];
        entk_array out;
        snprintf(args, sizeof args, "predict --train-gram %s --train-y y.npy --out p.npy --diag-reg 1e-3 %s",
                 runs[i].files, runs[i].block);
        cr_assert_eq(mpi_run(runs[i].np, args, err, sizeof err), 0, "-np %d %s: %s", runs[i].np, args, err);
        cr_assert(strstr(err, "by ScaLAPACK on"), "%s", err);
        get("p.npy", &out);
        cr_assert_eq(out.shape[0], m);
        cr_assert_eq(out.shape[1], k);
        snprintf(what, sizeof what, "-np %d %s", runs[i].np, runs[i].block);
        assert_close(out.data, ref, m * k, what);
        entk_array_free(&out);
    }
}

/* n = 1 on 2 ranks (one of them holds no block), with --standardize: as entk predict maps it */
Test(mpi, one_point_standardized) {
    double ref[3 * 2];
    char err[1024], cmd[512];
    entk_array a, b;
    make_problem(1, 3, 2, 4, 0.0, ref);
    snprintf(cmd, sizeof cmd, "cd %s && ../../bin/entk predict --train-gram ktr.npy --test-gram kte.npy "
                              "--train-y y.npy --out q.npy --standardize 2>/dev/null", dir);
    cr_assert_eq(system(cmd), 0, "bin/entk predict --train-gram failed");
    cr_assert_eq(mpi_run(2, "predict --train-gram ktr.npy --test-gram kte.npy --train-y y.npy --out p.npy "
                            "--standardize", err, sizeof err), 0, "%s", err);
    get("p.npy", &a);
    get("q.npy", &b);
    assert_close(a.data, b.data, 3 * 2, "n = 1, standardized");
    entk_array_free(&a);
    entk_array_free(&b);
}

/* A singular Gram (rank 3) needs jitter: 2 ranks escalate as entk predict does, to the same jitter after
 * the same failed tries (the retry re-reads every rank's blocks) */
Test(mpi, jitter_escalates_as_entk_predict) {
    const size_t n = 30, d = 3, m = 2;
    double x[30 * 3], k[30 * 30], t[2 * 30], y[30];
    size_t i, j, p, s2[2] = {n, n}, st[2] = {m, n}, s1[1] = {n};
    char err[1024], cmd[512], mem[512], *q, *e;
    FILE *f;
    tu_rng r = {99};
    tu_fill_normal(&r, x, n * d);
    tu_fill_normal(&r, y, n);
    for (i = 0; i < n; ++i)
        for (j = 0; j < n; ++j) {
            double s = 0;
            for (p = 0; p < d; ++p) s += x[i * d + p] * x[j * d + p];
            k[i * n + j] = s;
        }
    for (i = 0; i < m * n; ++i) t[i] = 0.5 * k[i];
    put("ks.npy", k, 2, s2);
    put("ts.npy", t, 2, st);
    put("ys.npy", y, 1, s1);
    snprintf(cmd, sizeof cmd, "cd %s && ../../bin/entk predict --train-gram ks.npy --test-gram ts.npy "
                              "--train-y ys.npy --out q.npy 2>&1", dir);
    f = popen(cmd, "r");
    cr_assert(f);
    mem[fread(mem, 1, sizeof mem - 1, f)] = 0;
    cr_assert_eq(pclose(f), 0, "%s", mem);
    q = strstr(mem, "; jitter ");
    cr_assert(q && strstr(q, "failed Cholesky tries"), "no jitter in entk predict: %s", mem);
    cr_assert_eq(mpi_run(2, "predict --train-gram ks.npy --test-gram ts.npy --train-y ys.npy --out p.npy --block 4",
                         err, sizeof err), 0, "%s", err);
    e = strstr(err, "; jitter ");
    cr_assert(e && !strcmp(e, q), "entk-mpi: %s, entk: %s", e ? e : err, q);
}

/* bin/entk-mpi without mpirun: a one-rank job of its own (MPI singleton start), for the errors every
 * rank meets alike before any distributed work */
static void expect_error_single(const char *args, int code, const char *needle) {
    char cmd[1024], p[128], err[1024];
    FILE *f;
    size_t n;
    int rc;
    path_of(p, sizeof p, "stderr.txt");
    snprintf(cmd, sizeof cmd, "cd %s && timeout -s KILL 60 ../../%s %s >/dev/null 2>stderr.txt", dir, TU_ENTK_MPI, args);
    rc = system(cmd);
    f = fopen(p, "rb");
    cr_assert(f);
    n = fread(err, 1, sizeof err - 1, f);
    err[n] = 0;
    fclose(f);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == code, "%s: status %d, stderr: %s", args, rc, err);
    cr_assert(strstr(err, needle), "%s: expected '%s' in: %s", args, needle, err);
    cr_assert(!strncmp(err, "entk-mpi: ", 10) && strchr(err, '\n') == err + strlen(err) - 1, "%s: not one line: %s",
              args, err);
}

Test(mpi, bad_uses_are_one_line) {
    double ref[2], neg[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, -1};
    size_t s4[2] = {4, 4};
    char err[1024];
    int rc;
    make_problem(4, 2, 1, 2, 0.0, ref);
    put("neg.npy", neg, 2, s4);
    expect_error_single("frobnicate", 2, "unknown subcommand 'frobnicate' (kernel, predict)");
    expect_error_single("predict --train-gram ktr.npy --train-y y.npy --out p.npy", 2, "--test-gram");
    expect_error_single("predict --train-gram ktr.npy --test-gram kte.npy --train-y y.npy --out p.npy --time 3", 2,
                        "predict solves at t = inf only");
    expect_error_single("predict --train-gram ktr.npy --test-gram kte.npy --train-y y.npy --out p.npy --ooc", 2,
                        "option '--ooc' does not apply to 'entk-mpi predict'");
    expect_error_single("predict --train-gram ktr.npy --test-gram kte.npy --train-y y.npy --out p.npy --block 0", 2,
                        "--block: '0' is not a block size");
    /* met by every rank of a 2-rank job during the distributed factorisation: printed once */
    rc = mpi_run(2, "predict --train-gram neg.npy --test-gram kte.npy --train-y y.npy --out p.npy --block 1", err,
                 sizeof err);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
    cr_assert(strstr(err, "not positive definite (minor 4), even with jitter"), "%s", err);
    cr_assert(strchr(err, '\n') == err + strlen(err) - 1, "not one line: %s", err);
}
