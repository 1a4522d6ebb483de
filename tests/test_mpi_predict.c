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
#include <unistd.h>
#define PT_MPI /* skip without MPI */
#include "progtest.h"

/* mpirun -np np bin/entk-mpi args (file names relative to pt_dir); exit code; the program's stderr lines
 * (those starting "entk-mpi:", not mpirun's own report) in err. */
static int mpi_run(int np, const char *args, char *err, size_t errlen) {
    char errpath[128], line[1024];
    FILE *f;
    size_t n = 0;
    int rc = pt_sh("%s -np %d ../../%s %s", pt_mpirun(), np, TU_ENTK_MPI, args);
    pt_path(errpath, sizeof errpath, "stderr.txt");
    f = fopen(errpath, "rb");
    cr_assert(f);
    err[0] = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "entk-mpi:", 9) && n + strlen(line) < errlen) {
            strcpy(err + n, line);
            n += strlen(line);
        }
    fclose(f);
    return rc;
}

static void setup(void) { pt_setup("mpi", NULL); }

TestSuite(mpi, .init = setup, .fini = pt_teardown, .timeout = 120);

/* An NNGP Gram (ReLU MLP) of n training and m test inputs and targets, as ktr.npy, kte.npy, y.npy;
 * ref gets the library's t = inf mean with relative diag_reg reg. */
static void make_problem(size_t n, size_t m, size_t k, unsigned seed, double reg, double *ref) {
    double *ktr, *kte, *y;
    pt_gram_problem(n, m, 3, k, seed, &ktr, &kte, &y);
    pt_reference_mean(ktr, kte, y, n, m, k, reg, ref);
    free(ktr);
    free(kte);
    free(y);
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
        pt_get("ktr.npy", &g);
        pt_path(p, sizeof p, "ktrf.npy");
        tu_put_fortran(p, g.data, n, n);
        entk_array_free(&g);
        pt_get("kte.npy", &g);
        pt_path(p, sizeof p, "ktef.npy");
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
        pt_get("p.npy", &out);
        cr_assert_eq(out.shape[0], m);
        cr_assert_eq(out.shape[1], k);
        snprintf(what, sizeof what, "-np %d %s", runs[i].np, runs[i].block);
        pt_assert_close(out.data, ref, m * k, what);
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
                              "--train-y y.npy --out q.npy --standardize 2>/dev/null", pt_dir);
    cr_assert_eq(system(cmd), 0, "bin/entk predict --train-gram failed");
    cr_assert_eq(mpi_run(2, "predict --train-gram ktr.npy --test-gram kte.npy --train-y y.npy --out p.npy "
                            "--standardize", err, sizeof err), 0, "%s", err);
    pt_get("p.npy", &a);
    pt_get("q.npy", &b);
    pt_assert_close(a.data, b.data, 3 * 2, "n = 1, standardized");
    entk_array_free(&a);
    entk_array_free(&b);
}

/* A singular Gram (rank 3) needs jitter: 2 ranks escalate as entk predict does, to the same jitter after
 * the same failed tries (the retry re-reads every rank's blocks) */
Test(mpi, jitter_escalates_as_entk_predict) {
    char err[1024], cmd[512], mem[512], *q, *e;
    FILE *f;
    pt_put_singular_gram();
    snprintf(cmd, sizeof cmd, "cd %s && ../../bin/entk predict --train-gram ks.npy --test-gram ts.npy "
                              "--train-y ys.npy --out q.npy 2>&1", pt_dir);
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
    char err[1024];
    int rc = pt_sh("timeout -s KILL 60 ../../%s %s", TU_ENTK_MPI, args);
    cr_assert(pt_stderr(err, sizeof err), "no stderr.txt");
    cr_assert_eq(rc, code, "%s: exit %d, stderr: %s", args, rc, err);
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
    pt_put("neg.npy", neg, 2, s4);
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
