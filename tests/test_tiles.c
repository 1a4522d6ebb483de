/* Tiled, journaled, resumable Gram matrices (`entk kernel --tile/--resume/--rows/--cols`,
 * cli/entk_tiles.h): the files equal the in-memory `entk kernel` files byte for byte for every tile
 * size (ragged edges, N = 1), for MLP, CNN and C4-GCNN (and SO(3), molecules), symmetric and with
 * --x2, NNGP and NTK; blocks
 * equal the corresponding entries; a run killed by SIGKILL at random moments and resumed equals an
 * uninterrupted one byte for byte; a Gram larger than the address-space limit of the process
 * completes; mismatched journals and bad options are one-line errors. Runs bin/entk (TU_ENTK_CLI) from
 * the repository root; built in one variant only (Makefile: TILES_VARIANT). */
#define _DEFAULT_SOURCE /* usleep */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "progtest.h"

static void ok(const char *fmt, ...) {
    char args[1024], err[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    cr_assert_eq(pt_run(args, err, sizeof err), 0, "entk %s: %s", args, err);
}

static void rm(const char *names) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd %s && rm -f %s", pt_dir, names);
    cr_assert_eq(system(cmd), 0);
}

static void setup(void) {
    static double sph[5 * 6 * 5], sph2[3 * 6 * 5], mol[6 * 3 * 4];
    size_t ssph[4] = {5, 1, 6, 5}, ssph2[4] = {3, 1, 6, 5}, smol[3] = {6, 3, 4};
    static double x[13 * 5], z[6 * 5], img[7 * 1 * 5 * 5], imz[4 * 1 * 5 * 5], one[5], img30[30 * 6 * 6], huge[2200 * 2];
    size_t sx[2] = {13, 5}, sz[2] = {6, 5}, si[4] = {7, 1, 5, 5}, siz[4] = {4, 1, 5, 5}, s1[2] = {1, 5};
    size_t s30[4] = {30, 1, 6, 6}, sh[2] = {2200, 2};
    tu_rng r = {7};
    pt_setup("tiles", TU_ENTK_CLI);
    tu_fill_normal(&r, x, sizeof x / sizeof *x);
    tu_fill_normal(&r, z, sizeof z / sizeof *z);
    tu_fill_normal(&r, img, sizeof img / sizeof *img);
    tu_fill_normal(&r, imz, sizeof imz / sizeof *imz);
    tu_fill_normal(&r, one, 5);
    tu_fill_normal(&r, img30, sizeof img30 / sizeof *img30);
    tu_fill_normal(&r, huge, sizeof huge / sizeof *huge);
    pt_put("x.npy", x, 2, sx);
    pt_put("z.npy", z, 2, sz);
    pt_put("img.npy", img, 4, si);
    pt_put("imz.npy", imz, 4, siz);
    pt_put("one.npy", one, 2, s1);
    pt_put("img30.npy", img30, 4, s30);
    tu_fill_normal(&r, sph, sizeof sph / sizeof *sph);
    tu_fill_normal(&r, sph2, sizeof sph2 / sizeof *sph2);
    tu_fill_normal(&r, mol, sizeof mol / sizeof *mol);
    pt_put("sph.npy", sph, 4, ssph);
    pt_put("sph2.npy", sph2, 4, ssph2);
    pt_put("mol.npy", mol, 3, smol);
    pt_put("huge.npy", huge, 2, sh);
    x[3] += 1e-9; /* the same shape, other values */
    pt_put("x_other.npy", x, 2, sx);
}

TestSuite(tiles, .init = setup, .fini = pt_teardown);

#define MLP "'dense(sw=1.4,sb=0.2) relu dense erf dense'"
#define CNN "'conv(q=3,pad=circular) relu conv(q=3) relu gap dense'"
#define GCNN "'lift(n=4,q=3,pad=circular) relu gconv(pad=circular) relu gpool dense'"

/* Tile sizes 1, 2, 3, 5, N and N + 2 (ragged edges, one tile, a tile larger than the Gram)
 * against the in-memory files. */
static void tiles_equal(const char *arch, const char *x1, const char *x2, const char *extra, size_t n) {
    const size_t sizes[] = {1, 2, 3, n < 5 ? n : 5, n, n + 2};
    char x2opt[64];
    size_t i;
    snprintf(x2opt, sizeof x2opt, x2 ? "--x2 %s" : "", x2);
    rm("k.npy t.npy kt.npy tt.npy kt.npy.journal");
    ok("kernel --arch %s --x1 %s %s %s --nngp k.npy --ntk t.npy --threads 2", arch, x1, x2opt, extra);
    for (i = 0; i < sizeof sizes / sizeof *sizes; ++i) {
        const size_t t = sizes[i];
        if (i && t == sizes[i - 1]) continue;
        ok("kernel --arch %s --x1 %s %s %s --nngp kt.npy --ntk tt.npy --tile %zu --threads 1", arch, x1, x2opt, extra, t);
        cr_assert(pt_same("k.npy", "kt.npy"), "%s x1 %s x2 %s %s: NNGP with --tile %zu differs", arch, x1, x2opt, extra,
                  t);
        cr_assert(pt_same("t.npy", "tt.npy"), "%s x1 %s x2 %s %s: NTK with --tile %zu differs", arch, x1, x2opt, extra,
                  t);
    }
    /* each output alone (the MLP's NTK-only path keeps a scratch K) */
    ok("kernel --arch %s --x1 %s %s %s --ntk tt.npy --tile 3 --threads 1", arch, x1, x2opt, extra);
    cr_assert(pt_same("t.npy", "tt.npy"), "%s: NTK alone with --tile 3 differs", arch);
    ok("kernel --arch %s --x1 %s %s %s --nngp kt.npy --tile 4 --threads 1", arch, x1, x2opt, extra);
    cr_assert(pt_same("k.npy", "kt.npy"), "%s: NNGP alone with --tile 4 differs", arch);
}

Test(tiles, mlp_every_tile_size_bit_identical) {
    tiles_equal(MLP, "x.npy", NULL, "", 13);
    tiles_equal(MLP, "x.npy", "z.npy", "", 13);
}

Test(tiles, cnn_every_tile_size_bit_identical) {
    tiles_equal(CNN, "img.npy", NULL, "", 7);
    tiles_equal(CNN, "img.npy", "imz.npy", "", 7);
}

Test(tiles, gcnn_every_tile_size_bit_identical) {
    tiles_equal(GCNN, "img.npy", NULL, "", 7);
    tiles_equal(GCNN, "img.npy", "imz.npy", "", 7);
    tiles_equal(GCNN, "img.npy", NULL, "--orbit c4", 7);
}

/* --rows/--cols blocks: the entries of the whole Gram, bit for bit, above, below and across the
 * diagonal of a symmetric Gram, and with --x2. */
static void block_equal(const char *arch, const char *x1, const char *x2, size_t a, size_t b, size_t c, size_t d,
                        size_t tile) {
    entk_array k, t, kb, tb;
    char x2opt[64];
    size_t i, j;
    snprintf(x2opt, sizeof x2opt, x2 ? "--x2 %s" : "", x2);
    rm("k.npy t.npy kb.npy tb.npy kb.npy.journal");
    ok("kernel --arch %s --x1 %s %s --nngp k.npy --ntk t.npy", arch, x1, x2opt);
    ok("kernel --arch %s --x1 %s %s --nngp kb.npy --ntk tb.npy --rows %zu:%zu --cols %zu:%zu --tile %zu --threads 1", arch, x1,
       x2opt, a, b, c, d, tile);
    pt_get("k.npy", &k);
    pt_get("t.npy", &t);
    pt_get("kb.npy", &kb);
    pt_get("tb.npy", &tb);
    cr_assert_eq(kb.shape[0], b - a);
    cr_assert_eq(kb.shape[1], d - c);
    for (i = a; i < b; ++i)
        for (j = c; j < d; ++j) {
            const double *ke = &k.data[i * k.shape[1] + j], *te = &t.data[i * t.shape[1] + j];
            cr_assert(!memcmp(ke, &kb.data[(i - a) * (d - c) + j - c], 8), "%s: K(%zu, %zu) of the block differs", arch, i, j);
            cr_assert(!memcmp(te, &tb.data[(i - a) * (d - c) + j - c], 8), "%s: Theta(%zu, %zu) of the block differs", arch,
                      i, j);
        }
    entk_array_free(&k);
    entk_array_free(&t);
    entk_array_free(&kb);
    entk_array_free(&tb);
}

Test(tiles, blocks_are_the_entries_of_the_whole_gram) {
    block_equal(MLP, "x.npy", NULL, 2, 11, 5, 13, 3);  /* across the diagonal */
    block_equal(MLP, "x.npy", NULL, 9, 13, 0, 6, 2);   /* below */
    block_equal(MLP, "x.npy", NULL, 0, 4, 7, 13, 5);   /* above */
    block_equal(MLP, "x.npy", NULL, 3, 4, 3, 4, 1);    /* one diagonal entry */
    block_equal(MLP, "x.npy", "z.npy", 4, 13, 1, 5, 2);
    block_equal(GCNN, "img.npy", NULL, 1, 6, 0, 7, 2);
    block_equal(CNN, "img.npy", "imz.npy", 2, 5, 1, 4, 2);
}

Test(tiles, one_input) {
    tiles_equal(MLP, "one.npy", NULL, "", 1);
    block_equal(GCNN, "img.npy", "imz.npy", 3, 4, 0, 4, 1); /* one row */
    rm("k.npy kt.npy kt.npy.journal");
    ok("kernel --arch " GCNN " --x1 img.npy --nngp k.npy");
    ok("kernel --arch " GCNN " --x1 img.npy --nngp kt.npy --rows 0:7 --cols 0:7 --tile 3"); /* the whole block */
    cr_assert(pt_same("k.npy", "kt.npy"));
}

/* The SO(3) and molecule domains go through the same block driver: bit for bit too. */
Test(tiles, so3_and_molecules_bit_identical) {
    tiles_equal("'s2lift erf so3conv erf so3pool dense'", "sph.npy", NULL, "", 5);
    tiles_equal("'s2lift erf so3conv erf so3pool dense'", "sph.npy", "sph2.npy", "", 5);
    tiles_equal("'dense erf dense atomsum'", "mol.npy", NULL, "", 6);
}

/* On a terminal (script(1) gives one), a progress line counts the tiles, with an ETA, and ends "done". */
Test(tiles, progress_line_on_a_terminal) {
    char err[256], cmd[512];
    FILE *f;
    size_t n;
    static char out[65536];
    if (system("command -v script >/dev/null 2>&1") != 0) {
        cr_log_warn("no script(1): progress line not checked");
        return;
    }
    snprintf(cmd, sizeof cmd, "cd %s && script -qec \"../../%s kernel --arch 'dense relu dense' --x1 x.npy --nngp p.npy "
             "--tile 2\" /dev/null > pty.txt", pt_dir, TU_ENTK_CLI);
    cr_assert_eq(system(cmd), 0);
    snprintf(err, sizeof err, "%s/pty.txt", pt_dir);
    f = fopen(err, "rb");
    cr_assert(f);
    n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    fclose(f);
    cr_assert(strstr(out, "entk: kernel tiles 0/28 (  0%), ETA --"), "%s", out);
    cr_assert(strstr(out, "entk: kernel tiles 1/28 (  4%), ETA "), "%s", out);
    cr_assert(strstr(out, "entk: kernel tiles 28/28 (100%), done"), "%s", out);
}

static size_t journal_records(void) { return pt_journal_records("rk.npy.journal"); }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* SIGKILL at random moments, then --resume: the files equal an uninterrupted run's. Each kill waits
 * until the journal holds a random number of records (so it lands inside the run, whatever the
 * machine's speed), then a random 0 to 3 ms more (inside a tile's computation, writes, sync or record). */
Test(tiles, killed_and_resumed_equals_uninterrupted, .timeout = 120) {
    const char *args = "kernel --arch " GCNN " --x1 img30.npy --nngp rk.npy --ntk rt.npy --tile 3 --threads 1";
    char cmd[1024], err[512];
    unsigned seed = (unsigned)time(NULL);
    tu_rng r;
    int kill_no, mid = 0;
    const size_t total = 10 * 11 / 2; /* tiles on and above the diagonal */
    ok("kernel --arch " GCNN " --x1 img30.npy --nngp k.npy --ntk t.npy --threads 2"); /* in memory */
    cr_log_info("kill seed %u", seed);
    r.s = seed;
    snprintf(cmd, sizeof cmd, "cd %s && exec ../../%s %s %%s 2>/dev/null", pt_dir, TU_ENTK_CLI, args);
    for (kill_no = 0; kill_no < 5; ++kill_no) {
        char line[1200];
        pid_t pid;
        int status, exited = 0;
        const size_t before = journal_records();
        const size_t target = before + 1 + (size_t)(tu_unif(&r) * (double)(total - before) * 0.3);
        const double t0 = now();
        snprintf(line, sizeof line, cmd, kill_no ? "--resume" : "");
        pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            execl("/bin/sh", "sh", "-c", line, (char *)NULL);
            _exit(127);
        }
        while (!(exited = waitpid(pid, &status, WNOHANG) == pid) && (kill_no == 0 && now() - t0 < 0.05 ? 1
               : journal_records() < target) && now() - t0 < 60)
            usleep(500);
        if (!exited) {
            size_t n;
            usleep((useconds_t)(tu_unif(&r) * 3000));
            kill(pid, SIGKILL);
            cr_assert_eq(waitpid(pid, &status, 0), pid);
            exited = 1;
            n = journal_records();
            cr_log_info("kill %d at %zu of %zu tiles recorded (target %zu)", kill_no + 1, n, total, target);
            mid += WIFSIGNALED(status) && n > 0 && n < total;
        }
        if (!WIFSIGNALED(status))
            cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the run exited with %d", status);
    }
    cr_assert_geq(mid, 3, "at least three kills must land in the middle of the run (seed %u)", seed);
    /* a torn last record (a kill inside its write) is dropped */
    snprintf(cmd, sizeof cmd, "printf 'T 0000' >> %s/rk.npy.journal", pt_dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s --resume", args);
    cr_assert_eq(pt_run_with("", cmd, err, sizeof err), 0, "%s", err);
    cr_assert_eq(journal_records(), total);
    cr_assert(pt_same("k.npy", "rk.npy"), "the resumed NNGP differs from the uninterrupted one (seed %u)", seed);
    cr_assert(pt_same("t.npy", "rt.npy"), "the resumed NTK differs from the uninterrupted one (seed %u)", seed);
    /* resuming a finished run computes nothing and changes nothing */
    ok("%s --resume", args);
    cr_assert(pt_same("k.npy", "rk.npy"));
}

Test(tiles, resume_refuses_another_runs_journal) {
    static const struct { const char *args, *field; } cases[] = {
        {"--arch 'dense relu dense relu dense' --x1 x.npy --nngp j.npy --tile 3", "arch differs (--arch)"},
        {"--arch 'dense relu dense' --x1 x_other.npy --nngp j.npy --tile 3", "x1 differs (--x1 shape or values)"},
        {"--arch 'dense relu dense' --x1 x.npy --x2 z.npy --nngp j.npy --tile 3", "x2 differs"},
        {"--arch 'dense relu dense' --x1 x.npy --nngp j.npy --tile 4", "tile differs (--tile)"},
        {"--arch 'dense relu dense' --x1 x.npy --nngp j.npy --ntk jt.npy --tile 3", "outputs differ"},
        {"--arch 'dense relu dense' --x1 x.npy --nngp j.npy --tile 3 --rows 0:5", "rows differs (--rows)"},
    };
    char err[1024], cmd[256];
    size_t i;
    for (i = 0; i < sizeof cases / sizeof *cases; ++i) {
        rm("j.npy jt.npy j.npy.journal");
        ok("kernel --arch 'dense relu dense' --x1 x.npy --nngp j.npy --tile 3");
        snprintf(cmd, sizeof cmd, "kernel %s --resume", cases[i].args);
        cr_assert_eq(pt_run(cmd, err, sizeof err), 1, "%s: %s", cmd, err);
        cr_assert(strstr(err, "journal") && (strstr(err, cases[i].field) || !strcmp(cases[i].field, "outputs differ")),
                  "%s: %s", cmd, err);
        cr_assert(strchr(err, '\n') == strrchr(err, '\n'), "one line: %s", err);
    }
    /* an output that is not the file the journal describes */
    rm("j.npy j.npy.journal");
    ok("kernel --arch 'dense relu dense' --x1 x.npy --nngp j.npy --tile 3");
    snprintf(cmd, sizeof cmd, "truncate -s 100 %s/j.npy", pt_dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(pt_run("kernel --arch 'dense relu dense' --x1 x.npy --nngp j.npy --tile 3 --resume", err, sizeof err),
                 1);
    cr_assert(strstr(err, "is not the output its journal"), "%s", err);
    /* a damaged record before the last */
    rm("j.npy j.npy.journal");
    ok("kernel --arch 'dense relu dense' --x1 x.npy --nngp j.npy --tile 3");
    snprintf(cmd, sizeof cmd, "cd %s && sed -i '12s/^T /X /' j.npy.journal", pt_dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(pt_run("kernel --arch 'dense relu dense' --x1 x.npy --nngp j.npy --tile 3 --resume", err, sizeof err),
                 1);
    cr_assert(strstr(err, "damaged"), "%s", err);
    /* no journal: --resume starts afresh */
    rm("j.npy j.npy.journal k.npy");
    cr_assert_eq(pt_run("kernel --arch 'dense relu dense' --x1 x.npy --nngp j.npy --tile 3 --resume", err, sizeof err),
                 0);
    cr_assert(strstr(err, "starting afresh"), "%s", err);
    ok("kernel --arch 'dense relu dense' --x1 x.npy --nngp k.npy");
    cr_assert(pt_same("k.npy", "j.npy"));
}

Test(tiles, bad_options) {
    static const struct { const char *args, *msg; int code; } cases[] = {
        {"--tile 0", "--tile: '0' is not a tile size", 2},
        {"--tile -3", "--tile: '-3' is not a tile size", 2},
        {"--tile 2x", "--tile: '2x' is not a tile size", 2},
        {"--rows 5:2", "--rows: '5:2' is not a range a:b", 2},
        {"--rows 3", "--rows: '3' is not a range", 2},
        {"--rows :4", "--rows: ':4' is not a range", 2},
        {"--cols 1:", "--cols: '1:' is not a range", 2},
        {"--cols 1:2:3", "--cols: '1:2:3' is not a range", 2},
        {"--rows 0:14", "--rows: 0:14 goes beyond the 13 inputs of --x1", 2},
        {"--x2 z.npy --cols 2:7", "--cols: 2:7 goes beyond the 6 inputs of --x2", 2},
        {"--tile 3 --tile 4", "option '--tile' given twice", 2},
        {"--resume 1", "unexpected argument '1'", 2},
        {"--ntk b.npy.journal --tile 2", "the journal 'b.npy.journal' would overwrite --ntk", 2},
    };
    char cmd[512], err[1024];
    size_t i;
    for (i = 0; i < sizeof cases / sizeof *cases; ++i) {
        snprintf(cmd, sizeof cmd, "kernel --arch 'dense relu dense' --x1 x.npy --nngp b.npy %s", cases[i].args);
        cr_assert_eq(pt_run(cmd, err, sizeof err), cases[i].code, "%s: %s", cmd, err);
        cr_assert(strstr(err, cases[i].msg), "%s: %s", cmd, err);
        cr_assert(strchr(err, '\n') == strrchr(err, '\n'), "one line: %s", err);
    }
    cr_assert_eq(pt_run("predict --arch 'dense relu dense' --train-x x.npy --train-y x.npy --test-x x.npy --out p.npy "
                        "--tile 3", err, sizeof err), 2);
    cr_assert(strstr(err, "option '--tile' does not apply to 'entk predict'"), "%s", err);
}

/* A 2200 x 2200 output (38.7 MB) under a 29 MB address-space limit: in memory it is refused, tiled it
 * completes, and equals the in-memory file computed without the limit. */
Test(tiles, output_larger_than_the_address_space_limit) {
    char err[1024];
    struct stat sb;
    char p[128];
    cr_assert_eq(pt_run_with("ulimit -v 30000;", "kernel --arch 'dense relu dense' --x1 huge.npy --nngp hm.npy --threads 1",
                             err, sizeof err), 1);
    cr_assert(strstr(err, "RLIMIT_AS"), "%s", err);
    cr_assert_eq(pt_run_with("ulimit -v 30000;", "kernel --arch 'dense relu dense' --x1 huge.npy --nngp ht.npy --threads 1 "
                                                "--tile 500", err, sizeof err), 0, "%s", err);
    pt_path(p, sizeof p, "ht.npy");
    cr_assert_eq(stat(p, &sb), 0);
    cr_assert_gt(sb.st_size, 30000 * 1024);
    ok("kernel --arch 'dense relu dense' --x1 huge.npy --nngp hm.npy --threads 1");
    cr_assert(pt_same("hm.npy", "ht.npy"));
}
