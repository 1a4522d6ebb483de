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
#define PT_MPI /* skip without MPI */
#include "progtest.h"

static void setup(void) {
    static double img[30 * 6 * 6], x[40 * 3], z[9 * 3];
    size_t si[4] = {30, 1, 6, 6}, sx[2] = {40, 3}, sz[2] = {9, 3};
    tu_rng r = {11};
    pt_setup("mpi", NULL);
    tu_fill_normal(&r, img, sizeof img / sizeof *img);
    tu_fill_normal(&r, x, sizeof x / sizeof *x);
    tu_fill_normal(&r, z, sizeof z / sizeof *z);
    pt_put("img.npy", img, 4, si);
    pt_put("x.npy", x, 2, sx);
    pt_put("z.npy", z, 2, sz);
}

TestSuite(mpi, .init = setup, .fini = pt_teardown);

#define GCNN "'lift(n=4,q=3,pad=circular) relu gconv(pad=circular) relu gconv(pad=circular) relu gpool dense'"
#define MLP "'dense(sw=1.3,sb=0.2) relu dense'"

Test(mpi, ranks_1_2_4_bit_identical_to_one_process, .timeout = 200) {
    static const int np[] = {1, 2, 4};
    size_t i;
    cr_assert_eq(pt_sh("../../bin/entk kernel --arch " GCNN " --x1 img.npy --nngp k.npy --ntk t.npy"), 0, "%s",
                 pt_err_text());
    cr_assert_eq(pt_sh("../../bin/entk kernel --arch " MLP " --x1 x.npy --x2 z.npy --nngp kx.npy --ntk tx.npy"), 0,
                 "%s", pt_err_text());
    for (i = 0; i < sizeof np / sizeof *np; ++i) {
        cr_assert_eq(pt_sh("rm -f m*.npy*; %s -np %d ../../bin/entk-mpi kernel --arch " GCNN
                           " --x1 img.npy --nngp mk.npy --ntk mt.npy --tile 3 --threads 1", pt_mpirun(), np[i]), 0,
                     "np %d: %s", np[i], pt_err_text());
        cr_assert(strstr(pt_err_text(), "entk-mpi: 55 tiles over"), "%s", pt_err_text());
        cr_assert(pt_same("k.npy", "mk.npy"), "np %d: NNGP differs from one process", np[i]);
        cr_assert(pt_same("t.npy", "mt.npy"), "np %d: NTK differs from one process", np[i]);
        if (np[i] != 4) continue; /* (each mpirun costs a second or two of start-up here) */
        cr_assert_eq(pt_sh("%s -np %d ../../bin/entk-mpi kernel --arch " MLP " --x1 x.npy --x2 z.npy --nngp mkx.npy "
                           "--ntk mtx.npy --tile 4 --threads 1", pt_mpirun(), np[i]), 0, "np %d: %s", np[i],
                     pt_err_text());
        cr_assert(pt_same("kx.npy", "mkx.npy"), "np %d: NNGP with --x2 differs", np[i]);
        cr_assert(pt_same("tx.npy", "mtx.npy"), "np %d: NTK with --x2 differs", np[i]);
    }
}

static size_t records(void) { return pt_journal_records("rk.npy.journal"); }

/* Start cmd (in pt_dir) and wait until the journal holds at least want records; its pid, or -1 if it
 * finished first. */
static pid_t start_until(const char *cmd, size_t want) {
    char line[2048];
    pid_t pid;
    int status;
    struct timespec t0, t;
    snprintf(line, sizeof line, "cd %s && exec env %s 2>/dev/null", pt_dir, cmd);
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
    cr_assert_eq(pt_sh("../../bin/entk kernel --arch " GCNN " --x1 img.npy --nngp k.npy --ntk t.npy"), 0, "%s",
                 pt_err_text());
    /* one process, killed; then 2 ranks resume its journal */
    snprintf(cmd, sizeof cmd, "../../bin/entk %s", args);
    pid = start_until(cmd, 12);
    cr_assert_gt(pid, 0, "the run ended before the kill");
    kill(pid, SIGKILL);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    n = records();
    cr_assert(n >= 12 && n < 55, "%zu records", n);
    cr_assert_eq(pt_sh("%s -np 2 ../../bin/entk-mpi %s --resume", pt_mpirun(), args), 0, "%s", pt_err_text());
    cr_assert(strstr(pt_err_text(), "done before"), "%s", pt_err_text());
    cr_assert(pt_same("k.npy", "rk.npy") && pt_same("t.npy", "rt.npy"),
              "a single-process journal resumed on 2 ranks differs");
    /* 2 ranks, one of them killed by SIGKILL (mpirun then ends the job); then 4 ranks resume */
    cr_assert_eq(pt_sh("rm -f rk.npy* rt.npy"), 0);
    snprintf(cmd, sizeof cmd, "%s -np 2 ../../bin/entk-mpi %s", pt_mpirun(), args);
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
    cr_assert_eq(pt_sh("%s -np 4 ../../bin/entk-mpi %s --resume", pt_mpirun(), args), 0, "%s", pt_err_text());
    cr_assert(pt_same("k.npy", "rk.npy") && pt_same("t.npy", "rt.npy"), "a 2-rank journal resumed on 4 ranks differs");
    /* and a single process resumes a finished MPI journal: nothing to do, nothing changed */
    cr_assert_eq(pt_sh("../../bin/entk %s --resume", args), 0, "%s", pt_err_text());
    cr_assert(pt_same("k.npy", "rk.npy"));
}

Test(mpi, bad_usage_is_one_line_from_rank_0, .timeout = 100) {
    const char *e;
    cr_assert_eq(pt_sh("%s -np 2 ../../bin/entk-mpi kernel --arch " MLP " --x1 x.npy --nngp b.npy --tile 0", pt_mpirun()),
                 2);
    e = pt_err_text();
    cr_assert(strstr(e, "entk-mpi: --tile: '0' is not a tile size"), "%s", e);
    {
        /* the message once (rank 1 is quiet) */
        const char *p = strstr(e, "entk-mpi: --tile");
        cr_assert(p && !strstr(p + 1, "entk-mpi: --tile"), "the message is repeated: %s", e);
    }
}
