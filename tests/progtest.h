/* Shared machinery of the tests that run the programs (test_cli, test_ooc, test_tiles, test_mpi_kernel,
 * test_mpi_predict): bin/entk or bin/entk-mpi is run by the shell on .npy files in a scratch directory,
 * and the exit code, stderr and the files it wrote are checked. Criterion only; include after
 * <criterion/criterion.h> or on its own (it includes it and testutil.h).
 *
 * Directory: one per test binary, build/<name>-test-<pid> below the repository root (the binaries run
 * from the root), made by pt_setup(name, program) in the suite's .init and removed with everything in
 * it by pt_teardown() in .fini. pt_dir holds its path; file names given to the helpers are relative to
 * it, and commands run in it, so they reach the programs as ../../bin/entk.
 *
 * Errors: every command run by pt_sh() (and the pt_run_with() built on it) has its stdout discarded and
 * its stderr written to pt_dir/stderr.txt, replaced by the next command; pt_err_text() and pt_stderr()
 * read it back. Exit codes are the shell's: the program's exit status, 128 + the signal if it was killed.
 *
 * Also here: the mpirun command line (pt_mpirun), the journal count of tiled runs, and the Gram-file
 * problems of entk predict --train-gram with the library's mean to compare against (pt_gram_problem,
 * pt_reference_mean, pt_assert_close, pt_put_singular_gram).
 *
 * Configuration (define before the include):
 *   TU_ENTK_CLI   the program pt_run_with() runs, relative to the root (default "bin/entk")
 *   PT_CLI(pre)   the program for a command after the shell fragment pre (default TU_ENTK_CLI)
 *   PT_MPI        define it in a test of bin/entk-mpi: the binary then skips itself without MPI
 *   TU_HAVE_MPI   0 when the Makefile found no mpicc or mpirun (also skips); unset: not known
 */
#ifndef ENTK_PROGTEST_H
#define ENTK_PROGTEST_H
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testutil.h"

#ifndef TU_ENTK_CLI
#define TU_ENTK_CLI "bin/entk"
#endif
#ifndef PT_CLI
#define PT_CLI(pre) TU_ENTK_CLI
#endif
#define TU_ENTK_MPI "bin/entk-mpi"

/* the scratch directory of this binary, relative to the repository root */
static char pt_dir[64];

/* buf = pt_dir/name */
static inline void pt_path(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", pt_dir, name); }

/* Make build/<name>-test-<pid>; program (or NULL) must be executable first. For a TestSuite's .init. */
static inline void pt_setup(const char *name, const char *program) {
    char cmd[128];
    if (program) cr_assert(access(program, X_OK) == 0, "%s missing: run from the repository root after make", program);
    snprintf(pt_dir, sizeof pt_dir, "build/%s-test-%ld", name, (long)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p %s", pt_dir);
    cr_assert_eq(system(cmd), 0);
}

/* Remove the directory and its files (a warning, not a failure, if that fails). For a TestSuite's .fini. */
static inline void pt_teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", pt_dir);
    if (system(cmd) != 0) cr_log_warn("could not remove %s", pt_dir);
}

/* Write data (C order, shape[0..ndim)) as the .npy file name. */
static inline void pt_put(const char *name, const double *data, int ndim, const size_t *shape) {
    char p[128];
    pt_path(p, sizeof p, name);
    cr_assert_eq(entk_npy_write_file(p, data, ndim, shape), ENTK_OK);
}

/* Read the .npy file name into a (free with entk_array_free). */
static inline void pt_get(const char *name, entk_array *a) {
    char p[128], err[128];
    pt_path(p, sizeof p, name);
    cr_assert_eq(entk_npy_read_file(p, a, err, sizeof err), ENTK_OK, "%s: %s", name, err);
}

/* The Gram-file problems of entk predict --train-gram: an NNGP Gram of n training and m (may be 0) test
 * inputs (a ReLU MLP on d features), targets y (n x k); written as ktr.npy, kte.npy, y.npy. Returns the
 * arrays (malloc'd; free them) for the library's reference. */
static inline void pt_gram_problem(size_t n, size_t m, size_t d, size_t k, unsigned seed, double **ktr, double **kte,
                                   double **y) {
    entk_arch a;
    char err[128];
    double *x = malloc((n + m) * d * sizeof *x);
    size_t s2[2] = {n, n}, st[2] = {m, n}, sy[2] = {n, k};
    tu_rng r = {seed};
    cr_assert_eq(entk_arch_parse("dense(sw=1.5,sb=0.2) relu dense", &a, err, sizeof err), ENTK_OK);
    *ktr = malloc(n * n * sizeof **ktr);
    *kte = malloc((m ? m : 1) * n * sizeof **kte);
    *y = malloc(n * k * sizeof **y);
    cr_assert(x && *ktr && *kte && *y);
    tu_fill_normal(&r, x, (n + m) * d);
    tu_fill_normal(&r, *y, n * k);
    cr_assert_eq(entk_mlp_kernel(&a, x, n, NULL, 0, d, *ktr, n, NULL, 0, 1), ENTK_OK);
    if (m) cr_assert_eq(entk_mlp_kernel(&a, x + n * d, m, x, n, d, *kte, n, NULL, 0, 1), ENTK_OK);
    pt_put("ktr.npy", *ktr, 2, s2);
    pt_put("kte.npy", *kte, 2, st);
    pt_put("y.npy", *y, 2, sy);
    free(x);
}

/* The library's t = inf mean (m x k) of that problem with diag_reg (relative) reg. */
static inline void pt_reference_mean(const double *ktr, const double *kte, const double *y, size_t n, size_t m, size_t k,
                                     double reg, double *mean) {
    entk_kernels kk;
    entk_predict_opts po = entk_predict_opts_default();
    memset(&kk, 0, sizeof kk);
    kk.n = n;
    kk.m = m;
    kk.train = ktr;
    kk.ld_train = n;
    kk.test_train = kte;
    kk.ld_test_train = n;
    po.diag_reg = reg;
    cr_assert_eq(entk_predict_mean(&kk, k, y, k, &po, mean, k, NULL), ENTK_OK);
}

static inline double pt_max_abs(const double *a, size_t len) {
    double m = 0;
    size_t i;
    for (i = 0; i < len; ++i) m = fmax(m, fabs(a[i]));
    return m;
}

/* |a - b| <= 1e-8 max |b| entrywise */
static inline void pt_assert_close(const double *a, const double *b, size_t len, const char *what) {
    const double tol = 1e-8 * pt_max_abs(b, len);
    size_t i;
    for (i = 0; i < len; ++i)
        cr_assert(fabs(a[i] - b[i]) <= tol, "%s: entry %zu: %.17g vs %.17g (tolerance %.3g)", what, i, a[i], b[i], tol);
}

/* The jitter tests' problem: ks.npy, a singular train Gram (rank 3: X X^T of 30 points in 3 dimensions,
 * seed 99), ts.npy (2 x 30, half its first two rows) and ys.npy (30 targets). */
static inline void pt_put_singular_gram(void) {
    const size_t n = 30, d = 3, m = 2;
    double x[30 * 3], k[30 * 30], t[2 * 30], y[30];
    size_t i, j, p, s2[2] = {n, n}, st[2] = {m, n}, s1[1] = {n};
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
    pt_put("ks.npy", k, 2, s2);
    pt_put("ts.npy", t, 2, st);
    pt_put("ys.npy", y, 1, s1);
}

/* The first errlen - 1 bytes of the last command's stderr in err (NUL-terminated); 0 if stderr.txt is
 * not there (err is then ""), else 1. */
static inline int pt_stderr(char *err, size_t errlen) {
    char p[128];
    FILE *f;
    size_t n = 0;
    pt_path(p, sizeof p, "stderr.txt");
    err[0] = 0;
    if (!(f = fopen(p, "rb"))) return 0;
    n = fread(err, 1, errlen - 1, f);
    err[n] = 0;
    fclose(f);
    return 1;
}

/* The last command's stderr (up to 4095 bytes; a static buffer, overwritten by the next call). */
static inline const char *pt_err_text(void) {
    static char buf[4096];
    pt_stderr(buf, sizeof buf);
    return buf;
}

/* Run the printf-formatted shell command in pt_dir, stdout to /dev/null, stderr to stderr.txt; its exit
 * code (128 + signal if killed). */
static inline int pt_sh(const char *fmt, ...) {
    char cmd[2048], args[1800];
    va_list ap;
    int rc;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd %s && %s >/dev/null 2>stderr.txt", pt_dir, args);
    rc = system(cmd);
    return WIFSIGNALED(rc) ? 128 + WTERMSIG(rc) : WEXITSTATUS(rc);
}

/* Run the CLI (PT_CLI(pre), TU_ENTK_CLI unless redefined) with args (a shell fragment; file names
 * relative to pt_dir) after the shell fragment pre (limits, environment). Its exit code (128 + signal if
 * killed); its stderr in err. */
static inline int pt_run_with(const char *pre, const char *args, char *err, size_t errlen) {
    int rc = pt_sh("%s ../../%s %s", pre, PT_CLI(pre), args);
    cr_assert(pt_stderr(err, errlen), "no stderr.txt in %s", pt_dir);
    return rc;
}

static inline int pt_run(const char *args, char *err, size_t errlen) { return pt_run_with("", args, err, errlen); }

/* The two files in pt_dir are equal byte for byte. */
static inline int pt_same(const char *a, const char *b) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cmp -s %s/%s %s/%s", pt_dir, a, pt_dir, b);
    return system(cmd) == 0;
}

/* The number of tile records ('T') in the journal pt_dir/name of a tiled run; 0 if it is not there. */
static inline size_t pt_journal_records(const char *name) {
    char p[128];
    FILE *f;
    size_t n = 0;
    int ch;
    pt_path(p, sizeof p, name);
    if (!(f = fopen(p, "rb"))) return 0;
    while ((ch = fgetc(f)) != EOF) n += ch == 'T';
    fclose(f);
    return n;
}

/* The start of every mpirun command line, to be followed by -np N and the program: killed after 60 s
 * (a hung job fails the test instead of the suite's timeout); oversubscribed (4 ranks on 2 cores), as
 * root allowed to run; shared memory between the ranks, mpirun's help messages unaggregated, one BLAS
 * thread a rank. The OMPI_MCA_* settings are made here only. */
static inline const char *pt_mpirun(void) {
    static char line[320];
    if (!line[0])
        snprintf(line, sizeof line,
                 "OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_orte_base_help_aggregate=0 OMPI_MCA_btl=self,vader "
                 "OPENBLAS_NUM_THREADS=1 timeout -s KILL 60 mpirun --oversubscribe %s",
                 geteuid() == 0 ? "--allow-run-as-root" : "");
    return line;
}

#ifdef PT_MPI
#ifndef TU_HAVE_MPI
#define TU_HAVE_MPI 1 /* not known: the run-time checks decide */
#endif
/* The one MPI skip rule: without mpicc/mpirun at build time (TU_HAVE_MPI 0), bin/entk-mpi or mpirun on
 * the PATH, the binary prints one "entk-skip:" line (scripts/run-tests.sh counts it as skipped) and
 * exits 0 before Criterion starts. */
__attribute__((constructor)) static void pt_skip_without_mpi(void) {
    const char *why = NULL;
    if (!TU_HAVE_MPI)
        why = "mpicc or mpirun not found (Debian: openmpi-bin libopenmpi-dev)";
    else if (access(TU_ENTK_MPI, X_OK) != 0)
        why = TU_ENTK_MPI " missing (OpenMPI and ScaLAPACK: sh scripts/deps.sh test, then make mpi)";
    else if (system("command -v mpirun >/dev/null 2>&1") != 0)
        why = "mpirun not on the PATH (Debian: openmpi-bin)";
    if (!why) return;
    printf("entk-skip: %s: no MPI test run\n", why);
    fflush(stdout);
    exit(0);
}
#endif /* PT_MPI */

#endif /* ENTK_PROGTEST_H */
