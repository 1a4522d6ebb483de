/* entk-mpi kernel (cli/entk_mpi.c) under `mpirun -np 1, 2, 4` on this machine (oversubscribed; as
 * root with --allow-run-as-root): the files equal the in-memory `entk kernel` files byte for byte; a
 * journal of a killed single-process run resumes with 2 ranks, and a job with one rank killed by
 * SIGKILL resumes with 4, byte for byte. Every mpirun runs under `timeout -s KILL`; the OMPI_MCA_*
 * settings are made here only. Without mpicc/mpirun (TU_HAVE_MPI=0, from the Makefile) the binary says
 * so in one "entk-skip:" line and exits 0 (scripts/run-tests.sh counts it as skipped). */
#define _DEFAULT_SOURCE /* usleep */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "testutil.h"

#ifndef TU_HAVE_MPI
#define TU_HAVE_MPI 0
#endif

__attribute__((constructor)) static void skip_without_mpi(void) {
    if (TU_HAVE_MPI && access("bin/entk-mpi", X_OK) == 0) return;
    printf("entk-skip: %s: no MPI test run\n", TU_HAVE_MPI ? "bin/entk-mpi missing (make mpi)" :
           "mpicc or mpirun not found (Debian: openmpi-bin libopenmpi-dev)");
    fflush(stdout);
    exit(0);
}

static char dir[64];
/* --oversubscribe: 4 ranks on 2 cores; --allow-run-as-root when root */
static char mpirun[256];

static void path_of(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", dir, name); }

static void put(const char *name, const double *data, int ndim, const size_t *shape) {
    char p[128];
    path_of(p, sizeof p, name);
    cr_assert_eq(entk_npy_write_file(p, data, ndim, shape), ENTK_OK);
}

/* Run a shell command in dir; exit status, stderr in err. */
static int sh(const char *fmt, ...) {
    char cmd[2048], args[1800];
    va_list ap;
    int rc;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd %s && %s 2>stderr.txt >/dev/null", dir, args);
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

static const char *err_text(void) {
    static char buf[4096];
    char p[128];
    FILE *f;
    size_t n = 0;
    path_of(p, sizeof p, "stderr.txt");
    if ((f = fopen(p, "rb"))) {
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
    }
    buf[n] = 0;
    return buf;
}

static int same(const char *a, const char *b) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cmp -s %s/%s %s/%s", dir, a, dir, b);
    return system(cmd) == 0;
}

static void setup(void) {
    static double img[30 * 6 * 6], x[40 * 3], z[9 * 3];
    size_t si[4] = {30, 1, 6, 6}, sx[2] = {40, 3}, sz[2] = {9, 3};
    char cmd[128];
    tu_rng r = {11};
    snprintf(dir, sizeof dir, "build/mpi-test-%ld", (long)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    cr_assert_eq(system(cmd), 0);
    tu_fill_normal(&r, img, sizeof img / sizeof *img);
    tu_fill_normal(&r, x, sizeof x / sizeof *x);
    tu_fill_normal(&r, z, sizeof z / sizeof *z);
    put("img.npy", img, 4, si);
    put("x.npy", x, 2, sx);
    put("z.npy", z, 2, sz);
    snprintf(mpirun, sizeof mpirun,
             "OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_orte_base_help_aggregate=0 timeout -s KILL 60 mpirun --oversubscribe %s", getuid() == 0 ? "--allow-run-as-root" : "");
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) cr_log_warn("could not remove %s", dir);
}

TestSuite(mpi, .init = setup, .fini = teardown);

#define GCNN "'lift(n=4,q=3,pad=circular) relu gconv(pad=circular) relu gconv(pad=circular) relu gpool dense'"
#define MLP "'dense(sw=1.3,sb=0.2) relu dense'"

Test(mpi, ranks_1_2_4_bit_identical_to_one_process, .timeout = 200) {
    static const int np[] = {1, 2, 4};
    size_t i;
    cr_assert_eq(sh("../../bin/entk kernel --arch " GCNN " --x1 img.npy --nngp k.npy --ntk t.npy"), 0, "%s", err_text());
    cr_assert_eq(sh("../../bin/entk kernel --arch " MLP " --x1 x.npy --x2 z.npy --nngp kx.npy --ntk tx.npy"), 0, "%s",
                 err_text());
    for (i = 0; i < sizeof np / sizeof *np; ++i) {
        cr_assert_eq(sh("rm -f m*.npy*; %s -np %d ../../bin/entk-mpi kernel --arch " GCNN
                        " --x1 img.npy --nngp mk.npy --ntk mt.npy --tile 3 --threads 1", mpirun, np[i]), 0, "np %d: %s",
                     np[i], err_text());
        cr_assert(strstr(err_text(), "entk-mpi: 55 tiles over"), "%s", err_text());
        cr_assert(same("k.npy", "mk.npy"), "np %d: NNGP differs from one process", np[i]);
        cr_assert(same("t.npy", "mt.npy"), "np %d: NTK differs from one process", np[i]);
        if (np[i] != 4) continue; /* (each mpirun costs a second or two of start-up here) */
        cr_assert_eq(sh("%s -np %d ../../bin/entk-mpi kernel --arch " MLP " --x1 x.npy --x2 z.npy --nngp mkx.npy "
                        "--ntk mtx.npy --tile 4 --threads 1", mpirun, np[i]), 0, "np %d: %s", np[i], err_text());
        cr_assert(same("kx.npy", "mkx.npy"), "np %d: NNGP with --x2 differs", np[i]);
        cr_assert(same("tx.npy", "mtx.npy"), "np %d: NTK with --x2 differs", np[i]);
    }
}

static size_t records(void) {
    char p[128];
    FILE *f;
    size_t n = 0;
    int ch;
    path_of(p, sizeof p, "rk.npy.journal");
    if (!(f = fopen(p, "rb"))) return 0;
    while ((ch = fgetc(f)) != EOF) n += ch == 'T';
    fclose(f);
    return n;
}

/* Start cmd (in dir) and wait until the journal holds at least want records; its pid, or -1 if it
 * finished first. */
static pid_t start_until(const char *cmd, size_t want) {
    char line[2048];
    pid_t pid;
    int status;
    struct timespec t0, t;
    snprintf(line, sizeof line, "cd %s && exec env %s 2>/dev/null", dir, cmd);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (waitpid(pid, &status, WNOHANG) == pid) return -1;
        if (records() >= want) return pid;
        clock_gettime(CLOCK_MONOTONIC, &t);
        cr_assert_lt(t.tv_sec - t0.tv_sec, 60, "no progress");
        usleep(300);
    }
}

/* The pid of a child of pid (a rank of this mpirun), or -1. */
static pid_t child_of(pid_t pid) {
    char p[64];
    FILE *f;
    long c = -1;
    snprintf(p, sizeof p, "/proc/%ld/task/%ld/children", (long)pid, (long)pid);
    if ((f = fopen(p, "r"))) {
        if (fscanf(f, "%ld", &c) != 1) c = -1;
        fclose(f);
    }
    return (pid_t)c;
}

Test(mpi, resumes_with_any_number_of_ranks, .timeout = 200) {
    const char *args = "kernel --arch " GCNN " --x1 img.npy --nngp rk.npy --ntk rt.npy --tile 3 --threads 1";
    char cmd[1024];
    pid_t pid, rank;
    int status;
    size_t n;
    cr_assert_eq(sh("../../bin/entk kernel --arch " GCNN " --x1 img.npy --nngp k.npy --ntk t.npy"), 0, "%s", err_text());
    /* one process, killed; then 2 ranks resume its journal */
    snprintf(cmd, sizeof cmd, "../../bin/entk %s", args);
    pid = start_until(cmd, 12);
    cr_assert_gt(pid, 0, "the run ended before the kill");
    kill(pid, SIGKILL);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    n = records();
    cr_assert(n >= 12 && n < 55, "%zu records", n);
    cr_assert_eq(sh("%s -np 2 ../../bin/entk-mpi %s --resume", mpirun, args), 0, "%s", err_text());
    cr_assert(strstr(err_text(), "done before"), "%s", err_text());
    cr_assert(same("k.npy", "rk.npy") && same("t.npy", "rt.npy"), "a single-process journal resumed on 2 ranks differs");
    /* 2 ranks, one of them killed by SIGKILL (mpirun then ends the job); then 4 ranks resume */
    cr_assert_eq(sh("rm -f rk.npy* rt.npy"), 0);
    snprintf(cmd, sizeof cmd, "%s -np 2 ../../bin/entk-mpi %s", mpirun, args);
    pid = start_until(cmd, 10);
    cr_assert_gt(pid, 0, "the job ended before the kill");
    rank = -1;
    {
        /* sh -c exec'd env, then timeout, which runs mpirun, which starts the ranks */
        pid_t p = pid;
        int depth;
        for (depth = 0; depth < 4 && (rank = child_of(p)) > 0; ++depth) {
            char comm[64], path[64];
            FILE *f;
            snprintf(path, sizeof path, "/proc/%ld/comm", (long)rank);
            comm[0] = 0;
            if ((f = fopen(path, "r"))) {
                if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
                fclose(f);
            }
            if (!strncmp(comm, "entk-mpi", 8)) break;
            p = rank;
        }
    }
    cr_assert_gt(rank, 0, "no rank found under the mpirun");
    kill(rank, SIGKILL);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(!(WIFEXITED(status) && WEXITSTATUS(status) == 0), "the job must fail when a rank is killed");
    n = records();
    cr_log_info("job killed with %zu of 55 tiles recorded", n);
    cr_assert_eq(sh("%s -np 4 ../../bin/entk-mpi %s --resume", mpirun, args), 0, "%s", err_text());
    cr_assert(same("k.npy", "rk.npy") && same("t.npy", "rt.npy"), "a 2-rank journal resumed on 4 ranks differs");
    /* and a single process resumes a finished MPI journal: nothing to do, nothing changed */
    cr_assert_eq(sh("../../bin/entk %s --resume", args), 0, "%s", err_text());
    cr_assert(same("k.npy", "rk.npy"));
}

Test(mpi, bad_usage_is_one_line_from_rank_0, .timeout = 100) {
    const char *e;
    cr_assert_eq(sh("%s -np 2 ../../bin/entk-mpi kernel --arch " MLP " --x1 x.npy --nngp b.npy --tile 0", mpirun), 2);
    e = err_text();
    cr_assert(strstr(e, "entk-mpi: --tile: '0' is not a tile size"), "%s", e);
    {
        /* the message once (rank 1 is quiet) */
        const char *p = strstr(e, "entk-mpi: --tile");
        cr_assert(p && !strstr(p + 1, "entk-mpi: --tile"), "the message is repeated: %s", e);
    }
}
