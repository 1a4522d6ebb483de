/* entk - command-line front end: NNGP/NTK kernels and kernel predictions on NumPy .npy files.
 *
 *   entk kernel  --arch ARCH --x1 A.npy [--x2 B.npy] [--nngp K.npy] [--ntk T.npy] [--threads N]
 *                [--orbit none|c4|d4] [--max-memory BYTES] [--tile R] [--resume] [--rows a:b] [--cols c:d]
 *   entk predict --arch ARCH --train-x X.npy --train-y Y.npy --test-x Z.npy --out P.npy
 *                [--kernel ntk|nngp] [--time T] [--lr ETA] [--diag-reg L] [--diag-reg-absolute]
 *                [--variance V.npy] [--standardize] [--threads N] [--orbit none|c4|d4]
 *                [--max-memory BYTES]
 *   entk predict --train-gram K.npy --test-gram T.npy --train-y Y.npy --out P.npy [--ooc] [--time T]
 *                [--lr ETA] [--diag-reg L] [--diag-reg-absolute] [--standardize] [--max-memory BYTES]
 *   entk featurize --xyz IN.xyz --L L --out X.npy [--energies E.npy] [--powers 1,2] [--max-memory BYTES]
 *   entk info
 *
 * Every error is one line on stderr naming the file, option or token, and a non-zero exit status
 * (1: bad input, computation failure or a resource the machine cannot give, 2: bad usage). See
 * README.md and docs/conventions.md §5.5.
 *
 * Built with -DENTK_CLI_FUZZ (fuzz/fuzz_cli.c includes this file), main() is left out and die()
 * longjmps back into entk_cli_main() after freeing everything the CLI allocated; the message is kept
 * in cli_msg instead of being printed, so the harness can check it is one clean line. Built with
 * -DENTK_CLI_NO_MAIN (cli/entk_mpi.c includes this file), main() is left out too: entk-mpi uses the
 * same option table, checks, loading, messages (cli_prog, cli_quiet, cli_exit_hook) and tiles
 * (cli/entk_tiles.h).
 */
#define _POSIX_C_SOURCE 200809L
#define ENTK_IMPLEMENTATION
#include "entk.h"
#include "entk_cn.h"
#include "entk_so3.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef ENTK_CLI_FUZZ
#include <setjmp.h>
#endif

/* The largest thread count the CLI accepts from --threads or OMP_NUM_THREADS (and the cap on the
 * default, the core count). Below it, the count is still probed against what the system can start. */
#ifndef ENTK_CLI_MAX_THREADS
#define ENTK_CLI_MAX_THREADS 1024
#endif
/* The least stack the CLI lets an OpenMP worker thread have (OMP_STACKSIZE or ulimit -s). */
#ifndef ENTK_CLI_MIN_STACK
#define ENTK_CLI_MIN_STACK (256 * 1024)
#endif
/* The largest --L of featurize (the library allows ENTK_SO3_FEAT_MAX_L; the fuzz harness caps it). */
#ifndef ENTK_CLI_MAX_L
#define ENTK_CLI_MAX_L ENTK_SO3_FEAT_MAX_L
#endif
#define CLI_STR2(x) #x
#define CLI_STR(x) CLI_STR2(x)

static const char *const usage_text =
    "usage: entk kernel  --arch ARCH --x1 A.npy [--x2 B.npy] [--nngp K.npy] [--ntk T.npy] [--threads N]\n"
    "                    [--orbit none|c4|d4] [--max-memory BYTES] [--tile R] [--resume] [--rows a:b] [--cols c:d]\n"
    "       entk predict --arch ARCH --train-x X.npy --train-y Y.npy --test-x Z.npy --out P.npy\n"
    "                    [--kernel ntk|nngp] [--time T] [--lr ETA] [--diag-reg L] [--diag-reg-absolute]\n"
    "                    [--variance V.npy] [--standardize] [--threads N] [--orbit none|c4|d4]\n"
    "                    [--max-memory BYTES]\n"
    "       entk predict --train-gram K.npy --test-gram T.npy --train-y Y.npy --out P.npy [--ooc] [--time T]\n"
    "                    [--lr ETA] [--diag-reg L] [--diag-reg-absolute] [--standardize] [--max-memory BYTES]\n"
    "       entk featurize --xyz IN.xyz --L L --out X.npy [--energies E.npy] [--powers 1,2] [--max-memory BYTES]\n"
    "       entk info                    (version, SIMD path, SLEEF, OpenMP)\n"
    "       entk help | -h | --help      (this text; entk featurize --help: featurize's own page)\n"
    "       entk --version\n"
    "ARCH: layers separated by spaces or commas, e.g. \"dense(sw=1.5,sb=0.1) relu dense\" (inputs N x d)\n"
    "      or \"lift(n=4,q=3,pad=circular) relu gconv(pad=circular) relu gpool dense\" (inputs N x C x H x W);\n"
    "      layer(key=value,...), names and keys case-sensitive (docs/conventions.md §5.2); (default):\n"
    "  dense(sw=1,sb=0)                 sw, sb: weight and bias scales, finite and >= 0\n"
    "  relu erf gelu sin identity       nonlinearities; leaky_relu(a=0.01): slope a below 0\n"
    "  conv(q=3,pad=valid,sw=1,sb=0)    q x q window, q odd 1 to 99; pad valid, same or circular\n"
    "  avgpool(p=2)                     p x p average pooling, p 1 to 1024\n"
    "  gap flatten                      reduce image maps to scalars: global average, or flatten\n"
    "  lift(n=1,flip=0,q=3,pad=valid,sw=1,sb=0)  lift to the group C_n (n 1, 2 or 4), D_n with flip=1\n"
    "  gconv(q=3,pad=valid,support=all,sw=1,sb=0)  group convolution after a lift; support all or id\n"
    "  gpool rotpool                    pool over the group: to scalars (gpool), or back to pixel maps\n"
    "  s2lift(L=input,Lout=L,B=default,sw=1,sb=0)  SO(3) lift of spherical signals (L, Lout, B 1 to 64)\n"
    "  so3conv(L=before,B=default,sw=1,sb=0)  SO(3) convolution; so3pool: pool SO(3) maps to scalars\n"
    "  atomsum                          sum over a molecule's atoms (inputs from entk featurize)\n";
/* the options (a second string: C99 promises string literals of 4095 bytes only) */
static const char *const usage_options =
    "--x1 A.npy, --x2 B.npy: kernel's inputs (x2 defaults to x1); --nngp K.npy, --ntk T.npy: its outputs,\n"
    "      N1 x N2 float64, at least one\n"
    "--train-x X.npy, --train-y Y.npy (N or N x k), --test-x Z.npy, --out P.npy (N_test x k): predict's\n"
    "      inputs, targets, test inputs and predictions\n"
    "--kernel ntk|nngp: NTK gradient-descent mean, or NNGP posterior (default ntk)\n"
    "--time T: training time, >= 0 or inf (default inf); --lr ETA: learning rate, > 0 (default 1)\n"
    "--diag-reg L: regulariser, >= 0, relative to the mean diagonal (default 0); --diag-reg-absolute:\n"
    "      L absolute\n"
    "--variance V.npy: also write the N_test predictive variances\n"
    "--orbit c4|d4: average the image kernel over rotations (and flips) of the second input (docs/conventions.md §2)\n"
    "--threads N: 1 to " CLI_STR(ENTK_CLI_MAX_THREADS) " (default: OMP_NUM_THREADS, else the available cores);"
    " results do not depend on it\n"
    "--max-memory BYTES: memory the run may use, e.g. 512M or 8G (default: what the machine has free)\n"
    "--tile R: kernel outputs written R x R entries at a time into files of full size (memory: a few tiles),\n"
    "      each finished tile recorded in the journal OUT.journal (OUT: the first output); default R 256 when\n"
    "      --resume, --rows or --cols is given without it\n"
    "--resume: go on from the journal of a killed run (the same command): only unfinished tiles are computed\n"
    "--rows a:b, --cols c:d: only the block x1[a:b] x x2[c:d] (0-based, b excluded), a (b-a) x (d-c) output\n"
    "--standardize: regression targets in training mean/std units, predictions mapped back (the variance\n"
    "      then in target units, one column per target)\n"
    "--train-gram, --test-gram: the mean from Gram files (entk kernel's outputs: K.npy n x n, T.npy m x n)\n"
    "      instead of --arch and inputs; --ooc: out of core at t = inf, the train Gram read in panels as wide as\n"
    "      --max-memory (or the free memory) allows and factored into a scratch file beside --out (n^2/2 doubles)\n"
    "featurize: molecules (XYZ, energy= in Hartree) to per-atom signals on the sphere: --xyz IN.xyz, band\n"
    "      limit --L (1 to " CLI_STR(ENTK_CLI_MAX_L) "), features --out X.npy, --energies E.npy, --powers P of the\n"
    "      distances (default 1,2); entk featurize --help\n"
    "Numbers: decimal, exponent or hexadecimal; BYTES: a number with an optional K, M, G, T or P (1024-based).\n"
    "Exit status: 0 success, 1 bad input or failed computation, 2 bad usage.\n";

static const char *const featurize_help =
    "usage: entk featurize --xyz IN.xyz --L L --out X.npy [--energies E.npy] [--powers 1,2] [--max-memory BYTES]\n"
    "Molecules to per-atom signals on the sphere (docs/conventions.md §1.5, §5.5).\n"
    "IN.xyz  blocks of: an atom count (1 to " CLI_STR(ENTK_SO3_XYZ_MAX_ATOMS) "); a comment line with energy=<Hartree>\n"
    "        (other key=value pairs and words ignored; values plain or \"double-quoted\"); one line\n"
    "        'El x y z' per atom, El one of H C N O F, x y z in Angstrom (more columns ignored).\n"
    "        Molecules may differ in size; LF or CRLF; blank lines only at the end of the file.\n"
    "--L     band limit, 1 to " CLI_STR(ENTK_CLI_MAX_L) ". Driscoll-Healy grid: theta_j = pi (2j+1)/(4L), j < 2L;\n"
    "        phi_k = 2 pi k/(2L-1), k < 2L-1; n = (sin theta cos phi, sin theta sin phi, cos theta);\n"
    "        a signal is 2L x (2L-1) samples [j][k].\n"
    "--powers P distinct integers p from 1 to " CLI_STR(ENTK_SO3_FEAT_MAX_POWER) ", at most " CLI_STR(ENTK_SO3_FEAT_MAX_POWERS) " (default 1,2).\n"
    "Channels of atom a, C = 5 + 5 P:\n"
    "  0..4         one-hot of a's element (H, C, N, O, F): 1 everywhere for its own, else 0\n"
    "  5 + e P + i  sum over the other atoms b of element e of Z_a Z_b |r_ab|^-p_i w(n . r_ab / |r_ab|),\n"
    "               r_ab = r_b - r_a, with the bump w(c) = ((1 + c)/2)^(L-1): a polynomial of degree L-1,\n"
    "               so every signal is band-limited (degrees l < L) and rotates with the molecule\n"
    "X.npy   N x A_max x C x 2L x (2L-1) float64 (A_max the largest molecule; the atoms a smaller\n"
    "        molecule lacks are all zero, which the kernels ignore)\n"
    "E.npy   the N energies in Hartree, float64\n";

/* ---- errors: one line, then exit ------------------------------------------------------------ */

#define CLI_MSG_MAX 480   /* bytes of an error message as printed (after escaping) */
#define CLI_SHOWN_MAX 64  /* bytes of one user-supplied string echoed into a message */

static char cli_msg[CLI_MSG_MAX + 1];
static int cli_quiet; /* entk-mpi: ranks other than 0 do not repeat rank 0's messages about the input */

/* Everything the CLI allocates is registered here, so that die() can free it when it does not exit
 * (the fuzz build); cli_release() frees it all. */
#define CLI_MAX_OWNED 16
static void *cli_owned[CLI_MAX_OWNED];
static entk_array cli_owned_arrays[8]; /* the loaded inputs themselves: they outlive any command's frame */
static int cli_n_owned, cli_n_owned_arrays;
static entk_so3_molecules cli_molecules; /* featurize's input */
static int cli_owned_fds[4] = {-1, -1, -1, -1}; /* Gram files read block by block, the --ooc factor file */
static double *cli_scratch;                      /* their read buffer (cli/entk_solve.h) */
static size_t cli_scratch_len;
static void tiles_close(void);           /* cli/entk_tiles.h: a tiled run's open files */

static void cli_release(void) {
    int i;
    for (i = 0; i < cli_n_owned; ++i) free(cli_owned[i]);
    for (i = 0; i < cli_n_owned_arrays; ++i) entk_array_free(&cli_owned_arrays[i]);
    entk_so3_molecules_free(&cli_molecules);
    for (i = 0; i < 4; ++i)
        if (cli_owned_fds[i] >= 0) {
            close(cli_owned_fds[i]);
            cli_owned_fds[i] = -1;
        }
    free(cli_scratch);
    cli_scratch = NULL;
    cli_scratch_len = 0;
    tiles_close();
    cli_n_owned = cli_n_owned_arrays = 0;
    entk_set_progress(NULL, NULL);
}

/* entk-mpi (cli/entk_mpi.c) reuses this file: cli_prog names the program in messages, cli_quiet keeps
 * ranks other than 0 from repeating an error every rank meets, and cli_exit_hook ends the MPI job. */
static const char *cli_prog = "entk";
static const char *cli_mpi_usage = "";
static int cli_quiet;
static void (*cli_exit_hook)(int code);

#ifdef ENTK_CLI_FUZZ
static jmp_buf cli_jmp;
static void cli_exit(int code) {
    if (cli_exit_hook) cli_exit_hook(code);
    cli_release();
    longjmp(cli_jmp, code + 1);
}
#else
static void cli_exit(int code) {
    if (cli_exit_hook) cli_exit_hook(code);
    exit(code);
}
#endif

/* Length of the well-formed UTF-8 sequence at s (1 to 4), or 0: a stray continuation byte, an
 * overlong form, a surrogate, a code point above U+10FFFF, a cut-off sequence, or a C1 control
 * (U+0080..U+009F, which terminals act on as they do on ASCII controls). */
static int utf8_len(const unsigned char *s) {
    unsigned char c = s[0];
    int n, i;
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) return (s[1] & 0xC0) == 0x80 && !(c == 0xC2 && s[1] < 0xA0) ? 2 : 0;
    n = c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
    if (!n) return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    for (i = 1; i < n; ++i)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return n;
}

/* Copy s into out (cap bytes with the NUL) as one printable line: control bytes, DEL and anything
 * that is not well-formed UTF-8 become \xNN; a message cut to fit ends in "...". */
static void escape_line(const char *s, char *out, size_t cap) {
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p) {
        int n = utf8_len(p);
        if (n == 1 && (*p < 0x20 || *p == 0x7F)) n = 0;
        if (o + (n ? (size_t)n : 4) + 4 > cap) {
            memcpy(out + o, "...", 4);
            return;
        }
        if (n) {
            memcpy(out + o, p, (size_t)n);
            o += (size_t)n;
            p += n;
        } else {
            snprintf(out + o, 5, "\\x%02X", *p);
            o += 4;
            ++p;
        }
    }
    out[o] = 0;
}

/* A user-supplied string for a message, cut to CLI_SHOWN_MAX bytes (at a character boundary, then
 * "..."): a file name or value is named, never echoed at any length. Escaping is die()'s. Four
 * rotating buffers, so one message may show up to four strings. */
static const char *shown(const char *s) {
    static char buf[4][CLI_SHOWN_MAX + 4];
    static int next;
    char *b = buf[next++ & 3];
    size_t n = strlen(s);
    if (n <= CLI_SHOWN_MAX) return s;
    n = CLI_SHOWN_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) --n;
    memcpy(b, s, n);
    memcpy(b + n, "...", 4);
    return b;
}

static void die(int code, const char *fmt, ...) {
    char raw[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    escape_line(raw, cli_msg, CLI_MSG_MAX + 1);
#ifndef ENTK_CLI_FUZZ
    if (!cli_quiet) fprintf(stderr, "%s: %s\n", cli_prog, cli_msg);
#endif
    cli_exit(code);
}

static void check(entk_status st, const char *what) {
    if (st != ENTK_OK) die(1, "%s: %s", what, entk_status_string(st));
}

/* ---- options --------------------------------------------------------------------------------
 * One table: name, whether it takes a value, the commands it applies to. An option given twice, one
 * that does not apply to the command, and a value that is itself an option name are errors (the last
 * one would otherwise swallow the next option silently). */

enum { CMD_KERNEL = 1, CMD_PREDICT = 2, CMD_FEATURIZE = 4, CMD_MPI_PREDICT = 8 };
enum {
    OPT_ARCH, OPT_X1, OPT_X2, OPT_NNGP, OPT_NTK, OPT_TRAIN_X, OPT_TRAIN_Y, OPT_TEST_X, OPT_OUT,
    OPT_VARIANCE, OPT_KERNEL, OPT_ORBIT, OPT_TIME, OPT_LR, OPT_DIAG_REG, OPT_DIAG_REG_ABS, OPT_THREADS,
    OPT_MAX_MEMORY, OPT_STANDARDIZE, OPT_XYZ, OPT_L, OPT_POWERS, OPT_ENERGIES, OPT_TRAIN_GRAM, OPT_TEST_GRAM,
    OPT_OOC, OPT_BLOCK, OPT_TILE, OPT_RESUME, OPT_ROWS, OPT_COLS, OPT_COUNT
};
/* Designated by enum value, so the table cannot fall out of step with the enum. */
static const struct { const char *name; int value, cmds; } cli_opt_table[OPT_COUNT] = {
    [OPT_ARCH] = {"--arch", 1, CMD_KERNEL | CMD_PREDICT},
    [OPT_X1] = {"--x1", 1, CMD_KERNEL},
    [OPT_X2] = {"--x2", 1, CMD_KERNEL},
    [OPT_NNGP] = {"--nngp", 1, CMD_KERNEL},
    [OPT_NTK] = {"--ntk", 1, CMD_KERNEL},
    [OPT_TRAIN_X] = {"--train-x", 1, CMD_PREDICT},
    [OPT_TRAIN_Y] = {"--train-y", 1, CMD_PREDICT | CMD_MPI_PREDICT},
    [OPT_TEST_X] = {"--test-x", 1, CMD_PREDICT},
    [OPT_OUT] = {"--out", 1, CMD_PREDICT | CMD_FEATURIZE | CMD_MPI_PREDICT},
    [OPT_VARIANCE] = {"--variance", 1, CMD_PREDICT},
    [OPT_KERNEL] = {"--kernel", 1, CMD_PREDICT},
    [OPT_ORBIT] = {"--orbit", 1, CMD_KERNEL | CMD_PREDICT},
    [OPT_TIME] = {"--time", 1, CMD_PREDICT | CMD_MPI_PREDICT},
    [OPT_LR] = {"--lr", 1, CMD_PREDICT},
    [OPT_DIAG_REG] = {"--diag-reg", 1, CMD_PREDICT | CMD_MPI_PREDICT},
    [OPT_DIAG_REG_ABS] = {"--diag-reg-absolute", 0, CMD_PREDICT | CMD_MPI_PREDICT},
    [OPT_THREADS] = {"--threads", 1, CMD_KERNEL | CMD_PREDICT},
    [OPT_MAX_MEMORY] = {"--max-memory", 1, CMD_KERNEL | CMD_PREDICT | CMD_FEATURIZE | CMD_MPI_PREDICT},
    [OPT_STANDARDIZE] = {"--standardize", 0, CMD_PREDICT | CMD_MPI_PREDICT},
    [OPT_XYZ] = {"--xyz", 1, CMD_FEATURIZE},
    [OPT_L] = {"--L", 1, CMD_FEATURIZE},
    [OPT_POWERS] = {"--powers", 1, CMD_FEATURIZE},
    [OPT_ENERGIES] = {"--energies", 1, CMD_FEATURIZE},
    [OPT_TRAIN_GRAM] = {"--train-gram", 1, CMD_PREDICT | CMD_MPI_PREDICT},
    [OPT_TEST_GRAM] = {"--test-gram", 1, CMD_PREDICT | CMD_MPI_PREDICT},
    [OPT_OOC] = {"--ooc", 0, CMD_PREDICT},
    [OPT_BLOCK] = {"--block", 1, CMD_MPI_PREDICT},
    [OPT_TILE] = {"--tile", 1, CMD_KERNEL},
    [OPT_RESUME] = {"--resume", 0, CMD_KERNEL},
    [OPT_ROWS] = {"--rows", 1, CMD_KERNEL},
    [OPT_COLS] = {"--cols", 1, CMD_KERNEL},
};

typedef struct cli_opts {
    const char *val[OPT_COUNT]; /* NULL: not given; "" for a flag that was given */
    double time, lr, diag_reg;
    int threads;                /* 0: not given */
    int block;                  /* entk-mpi: ScaLAPACK block size, 0: not given */
    size_t max_memory;          /* 0: not given */
    int L;                      /* featurize: 0: not given */
    int powers[ENTK_SO3_FEAT_MAX_POWERS], npowers; /* featurize: npowers 0: not given (1,2) */
    size_t tile;                /* kernel --tile: 0: not given */
    size_t rows[2], cols[2];    /* kernel --rows, --cols: [a, b) */
} cli_opts;

static void parse_range(const char *opt, const char *v, size_t *r); /* cli/entk_tiles.h */
static size_t parse_tile(const char *v);

static int opt_index(const char *a) {
    int k;
    for (k = 0; k < OPT_COUNT; ++k)
        if (cli_opt_table[k].name && !strcmp(a, cli_opt_table[k].name)) return k;
    return -1;
}

/* strtod with every failure named: not a number, NaN, beyond the double range. A value below the
 * normal range (strtod's ERANGE with a subnormal or zero result, e.g. 1e-310) is the nearest double
 * and is kept; the option's own range check decides whether it is allowed. */
static double parse_double(const char *opt, const char *v) {
    char *end;
    double x;
    errno = 0;
    x = strtod(v, &end);
    if (end == v || *end) die(2, "%s: '%s' is not a number", opt, shown(v));
    if (x != x) die(2, "%s: '%s' is NaN", opt, shown(v));
    if (errno == ERANGE && fabs(x) > 1) die(2, "%s: '%s' is beyond the range of a double (%g)", opt, shown(v), DBL_MAX);
    return x;
}

/* A thread count from 1 to ENTK_CLI_MAX_THREADS; surrounding blanks allowed, and for OMP_NUM_THREADS
 * (a list, one count per nesting level) the first entry is the one that counts. 0 if it is none. */
static int parse_count(const char *v, int list) {
    char *end;
    long x;
    errno = 0;
    x = strtol(v, &end, 10);
    if (end == v || errno || x < 1 || x > ENTK_CLI_MAX_THREADS) return 0;
    while (*end == ' ' || *end == '\t') ++end;
    if (list && *end == ',') {
        const char *r = end + 1;
        while (*r && (strchr("0123456789 \t,", *r))) ++r;
        if (*r) return 0;
        end = (char *)r;
    }
    return *end ? 0 : (int)x;
}

/* BYTES with an optional binary suffix: 1000000, 512K, 512M, 8G, 1.5T (K = 1024; a trailing B or iB
 * is allowed: 8GiB, 512MB). */
static size_t parse_bytes(const char *opt, const char *v) {
    static const char suffixes[] = "KMGTP";
    char *end;
    double x, mul = 1;
    const char *sfx;
    errno = 0;
    x = strtod(v, &end);
    if (end == v || x != x || isinf(x)) die(2, "%s: '%s' is not a byte count (e.g. 512M, 8G)", opt, shown(v));
    if (*end && (sfx = strchr(suffixes, *end & ~0x20)) != NULL) {
        mul = ldexp(1.0, 10 * (int)(sfx - suffixes + 1));
        ++end;
        if (*end == 'i') ++end;
        if (*end == 'B') ++end;
    } else if (*end == 'B') {
        ++end;
    }
    if (*end) die(2, "%s: '%s' is not a byte count (e.g. 512M, 8G)", opt, shown(v));
    x *= mul;
    if (!(x >= 1)) die(2, "%s: '%s' is less than one byte", opt, shown(v));
    if (x >= (double)SIZE_MAX) die(2, "%s: '%s' is more bytes than this machine can address", opt, shown(v));
    return (size_t)x;
}

/* An integer from lo to hi, the whole value (decimal, optional sign); -1 if it is none. */
static long parse_int(const char *v, long lo, long hi) {
    char *end;
    long x;
    errno = 0;
    if (!*v || strchr(" \t\n\v\f\r", v[0])) return -1;
    x = strtol(v, &end, 10);
    return (end == v || *end || errno || x < lo || x > hi) ? -1 : x;
}

/* --powers: a comma-separated list of distinct integers from 1 to ENTK_SO3_FEAT_MAX_POWER, at most
 * ENTK_SO3_FEAT_MAX_POWERS of them. */
static void parse_powers(const char *v, cli_opts *o) {
    const char *p = v;
    o->npowers = 0;
    for (;;) {
        char item[16];
        size_t n = strcspn(p, ",");
        long x = -1;
        int i;
        if (n > 0 && n < sizeof item) {
            memcpy(item, p, n);
            item[n] = 0;
            x = parse_int(item, 1, ENTK_SO3_FEAT_MAX_POWER);
        }
        for (i = 0; x > 0 && i < o->npowers; ++i)
            if (o->powers[i] == x) x = -1;
        if (x < 0 || o->npowers == ENTK_SO3_FEAT_MAX_POWERS)
            die(2, "--powers: '%s' is not a list of distinct integers from 1 to %d (at most %d), e.g. 1,2", shown(v),
                ENTK_SO3_FEAT_MAX_POWER, ENTK_SO3_FEAT_MAX_POWERS);
        o->powers[o->npowers++] = (int)x;
        if (!p[n]) break;
        p += n + 1;
    }
}

static const char *cmd_name(int cmd) {
    return cmd == CMD_KERNEL ? "kernel" : cmd == CMD_PREDICT ? "predict" : cmd == CMD_MPI_PREDICT ? "mpi predict"
                                                                                                  : "featurize";
}

static void parse_opts(int argc, char **argv, int cmd, cli_opts *o) {
    int i;
    memset(o, 0, sizeof *o);
    o->time = INFINITY;
    o->lr = 1.0;
    for (i = 2; i < argc; ++i) {
        const char *a = argv[i], *v;
        int k = opt_index(a);
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            if (!cli_quiet) {
                fputs(cmd == CMD_FEATURIZE ? featurize_help : cmd == CMD_MPI_PREDICT ? cli_mpi_usage : usage_text, stdout);
                if (cmd != CMD_FEATURIZE && cmd != CMD_MPI_PREDICT) fputs(usage_options, stdout);
            }
            cli_exit(0);
        }
        if (k < 0 && a[0] == '-') die(2, "unknown option '%s'", shown(a));
        if (k < 0) die(2, "unexpected argument '%s' (options start with --)", shown(a));
        if (!(cli_opt_table[k].cmds & cmd))
            die(2, "option '%s' does not apply to '%s %s'", a, cmd == CMD_MPI_PREDICT ? "entk-mpi" : "entk",
                cmd == CMD_MPI_PREDICT ? "predict" : cmd_name(cmd));
        if (o->val[k]) die(2, "option '%s' given twice", a);
        if (!cli_opt_table[k].value) {
            o->val[k] = "";
            continue;
        }
        if (i + 1 >= argc) die(2, "option '%s' needs a value", a);
        v = argv[++i];
        if (opt_index(v) >= 0) die(2, "option '%s' needs a value, not the option '%s'", a, v);
        o->val[k] = v;
        switch (k) {
        case OPT_TIME:
            o->time = parse_double(a, v);
            if (!(o->time >= 0)) die(2, "--time: '%s' is negative (t must be >= 0 or inf)", shown(v));
            break;
        case OPT_LR:
            o->lr = parse_double(a, v);
            if (!(o->lr > 0) || isinf(o->lr)) die(2, "--lr: '%s' is not a positive finite number", shown(v));
            break;
        case OPT_DIAG_REG:
            o->diag_reg = parse_double(a, v);
            if (!(o->diag_reg >= 0) || isinf(o->diag_reg))
                die(2, "--diag-reg: '%s' is not a finite number >= 0", shown(v));
            break;
        case OPT_THREADS:
            if (!(o->threads = parse_count(v, 0)))
                die(2, "--threads: '%s' is not a count from 1 to %d", shown(v), ENTK_CLI_MAX_THREADS);
            break;
        case OPT_MAX_MEMORY: o->max_memory = parse_bytes(a, v); break;
        case OPT_L:
            if ((o->L = (int)parse_int(v, 1, ENTK_CLI_MAX_L)) < 0)
                die(2, "--L: '%s' is not an integer from 1 to %d", shown(v), ENTK_CLI_MAX_L);
            break;
        case OPT_POWERS: parse_powers(v, o); break;
        case OPT_BLOCK:
            if ((o->block = (int)parse_int(v, 1, 4096)) < 0)
                die(2, "--block: '%s' is not a block size from 1 to 4096", shown(v));
            break;
        case OPT_TILE: o->tile = parse_tile(v); break;
        case OPT_ROWS: parse_range(a, v, o->rows); break;
        case OPT_COLS: parse_range(a, v, o->cols); break;
        default: break;
        }
    }
}

/* ---- threads --------------------------------------------------------------------------------
 * The OpenMP runtimes cannot fail softly when they cannot start a team: libgomp prints "Thread
 * creation failed" and exits, LLVM's libomp prints "OMP: Error #34" and aborts (SIGABRT); a trial
 * parallel region with num_threads() would die the same way, and omp_get_max_threads() only echoes
 * OMP_NUM_THREADS. So the CLI probes with pthreads before any parallel region: it starts the n - 1
 * workers a team of n needs, with the stack size the runtime will give them (OMP_STACKSIZE, else
 * the default pthread stack), keeps them all alive at once (so RLIMIT_NPROC, RLIMIT_AS and memory
 * count them together, as they will count the runtime's), then joins them. An explicit count
 * (--threads, OMP_NUM_THREADS) the probe cannot start is an error naming it; the default (the cores)
 * quietly drops to what could be started, since results do not depend on the count. The probe cannot
 * see a limit reached between it and the computation, but covers the limits that are there to stay. */

static const char *human(size_t b, char *buf, size_t len);

#ifdef _OPENMP
static pthread_mutex_t cli_probe_lock = PTHREAD_MUTEX_INITIALIZER;

static void *probe_worker(void *arg) {
    pthread_mutex_lock(&cli_probe_lock); /* held by the prober until every worker has started */
    pthread_mutex_unlock(&cli_probe_lock);
    return arg;
}

/* OMP_STACKSIZE (or libgomp's GOMP_STACKSIZE): a size with an optional B/K/M/G suffix, K by default.
 * 0 if unset or unreadable (the runtime then uses the default too). */
static size_t omp_stack_bytes(void) {
    const char *v = getenv("OMP_STACKSIZE");
    char *end;
    double x;
    if (!v) v = getenv("GOMP_STACKSIZE");
    if (!v) return 0;
    errno = 0;
    x = strtod(v, &end);
    if (end == v || errno || !(x > 0) || x > 1e15) return 0;
    while (*end == ' ') ++end;
    switch (*end & ~0x20) {
    case 'B': break;
    case 'M': x *= 1024.0 * 1024; break;
    case 'G': x *= 1024.0 * 1024 * 1024; break;
    default: x *= 1024; break;
    }
    return x < (double)SIZE_MAX ? (size_t)x : 0;
}

/* The stack a worker thread will get: OMP_STACKSIZE, else the default pthread stack (from ulimit -s). */
static size_t worker_stack_bytes(void) {
    size_t stack = omp_stack_bytes();
    pthread_attr_t attr;
    if (!stack && pthread_attr_init(&attr) == 0) {
        if (pthread_attr_getstacksize(&attr, &stack)) stack = 0;
        pthread_attr_destroy(&attr);
    }
    return stack;
}

/* How many threads (1..want) the system can run at once; *err: why not more (0 if all started). */
static int probe_threads(int want, int *err) {
    static pthread_t tid[ENTK_CLI_MAX_THREADS];
    pthread_attr_t attr;
    size_t stack = omp_stack_bytes();
    int started = 0, i;
    *err = 0;
    if (want <= 1) return 1;
    if (pthread_attr_init(&attr)) { *err = EAGAIN; return 1; }
    if (stack >= (size_t)PTHREAD_STACK_MIN) pthread_attr_setstacksize(&attr, stack);
    pthread_mutex_lock(&cli_probe_lock);
    while (started < want - 1 && !(*err = pthread_create(&tid[started], &attr, probe_worker, NULL))) ++started;
    pthread_mutex_unlock(&cli_probe_lock);
    for (i = 0; i < started; ++i) pthread_join(tid[i], NULL);
    pthread_attr_destroy(&attr);
    return started + 1;
}
#endif /* _OPENMP */

/* The thread count for the run: --threads, else OMP_NUM_THREADS (an invalid value is an error, as
 * libgomp only warns and goes on with its default; unset or empty means not given), else the cores
 * (omp_get_num_procs honours the affinity mask), capped at ENTK_CLI_MAX_THREADS. Then probed. */
static int resolve_threads(const cli_opts *o) {
#ifdef _OPENMP
    const char *env = getenv("OMP_NUM_THREADS"), *from = NULL;
    int want, got, err;
    size_t stack;
    if (o->threads) {
        want = o->threads;
        from = "--threads";
    } else if (env && env[strspn(env, " \t")]) {
        if (!(want = parse_count(env, 1)))
            die(2, "OMP_NUM_THREADS: '%s' is not a thread count from 1 to %d (unset it or pass --threads)",
                shown(env), ENTK_CLI_MAX_THREADS);
        from = "OMP_NUM_THREADS";
    } else {
        want = omp_get_num_procs();
        if (want < 1) want = 1;
        if (want > ENTK_CLI_MAX_THREADS) want = ENTK_CLI_MAX_THREADS;
    }
    /* Worker threads with too small a stack die of SIGSEGV inside the image kernels (measured: 32 KiB
     * crashes, 48 KiB runs, 32 x 32 images with d4 orbits): the CLI asks for ENTK_CLI_MIN_STACK. */
    if (want > 1 && (stack = worker_stack_bytes()) != 0 && stack < ENTK_CLI_MIN_STACK) {
        char b[32];
        if (from || omp_stack_bytes())
            die(1, "%s%s%.0d: worker threads would get %s of stack (%s); entk needs at least %d KiB",
                from ? from : "OMP_STACKSIZE", from ? " " : "", from ? want : 0, human(stack, b, sizeof b),
                omp_stack_bytes() ? "OMP_STACKSIZE" : "ulimit -s", ENTK_CLI_MIN_STACK / 1024);
        want = 1;
    }
    got = probe_threads(want, &err);
    if (got < want && from)
        die(1, "%s %d: the system can start only %d threads at once (%s); ask for fewer", from, want, got,
            strerror(err));
    return got;
#else
    return o->threads ? o->threads : 1; /* no OpenMP: the library runs serially whatever the count */
#endif
}

/* ---- memory ---------------------------------------------------------------------------------
 * On Linux malloc of more than the machine has usually succeeds and the OOM killer ends the process
 * later, when the pages are touched: so the CLI adds up what a run will allocate and compares it with
 * what is available before allocating. Available: the least of MemAvailable (/proc/meminfo; else
 * sysconf's free physical pages), RLIMIT_AS minus the address space already in use, and the cgroup v2
 * limit minus its usage. --max-memory replaces all of these. */

static const char *human(size_t b, char *buf, size_t len) {
    static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double x = (double)b;
    int u = 0;
    while (x >= 1024 && u < 6) { x /= 1024; ++u; }
    if (u == 0) snprintf(buf, len, "%zu bytes", b);
    else snprintf(buf, len, "%.1f %s", x, unit[u]);
    return buf;
}

/* The first number in a file, or -1. */
static long long read_number(const char *path, const char *key) {
    char line[256];
    long long v = -1;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        if (key) {
            if (strncmp(line, key, strlen(key))) continue;
            p += strlen(key);
        }
        if (sscanf(p, "%lld", &v) != 1) v = -1;
        break;
    }
    fclose(f);
    return v;
}

static size_t available_memory(const char **why) {
    long long kb = read_number("/proc/meminfo", "MemAvailable:"), lim, cur;
    size_t avail = SIZE_MAX;
    struct rlimit rl;
    *why = "unknown";
    if (kb >= 0 && (unsigned long long)kb < SIZE_MAX / 1024) {
        avail = (size_t)kb * 1024;
        *why = "MemAvailable in /proc/meminfo";
    } else {
        long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        if (pages > 0 && psz > 0 && (unsigned long)pages < SIZE_MAX / (unsigned long)psz) {
            avail = (size_t)pages * (size_t)psz;
            *why = "free physical memory";
        }
    }
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        long long pages = read_number("/proc/self/statm", NULL);
        size_t used = pages > 0 ? (size_t)pages * (size_t)sysconf(_SC_PAGESIZE) : 0;
        size_t left = rl.rlim_cur > used ? (size_t)(rl.rlim_cur - used) : 0;
        if (left < avail) {
            avail = left;
            *why = "RLIMIT_AS (ulimit -v) less the address space in use";
        }
    }
    lim = read_number("/sys/fs/cgroup/memory.max", NULL); /* "max" reads as -1: no limit */
    cur = read_number("/sys/fs/cgroup/memory.current", NULL);
    if (lim > 0 && cur >= 0) {
        size_t left = lim > cur ? (size_t)(lim - cur) : 0;
        if (left < avail) {
            avail = left;
            *why = "the cgroup's memory.max less its usage";
        }
    }
    return avail;
}

/* Bytes of an r x c matrix of doubles; a byte count beyond size_t is an error. */
static size_t matrix_bytes(size_t r, size_t c, const char *what) {
    if (r && c > SIZE_MAX / sizeof(double) / r)
        die(1, "%s: a %zu x %zu matrix of doubles has more bytes than size_t can count", what, r, c);
    return r * c * sizeof(double);
}

static size_t add_bytes(size_t a, size_t b, const char *what) {
    if (a > SIZE_MAX - b) die(1, "%s: the matrices together have more bytes than size_t can count", what);
    return a + b;
}

/* need: bytes the run is about to allocate (the outputs and working matrices). */
static void check_memory(const cli_opts *o, size_t need, const char *what, const char *detail) {
    char b1[32], b2[32];
    const char *why = "--max-memory";
    size_t avail = o->max_memory ? o->max_memory : available_memory(&why);
    if (need > avail)
        die(1, "%s: needs %s (%s) but %s is available (%s); pass --max-memory to override", what,
            human(need, b1, sizeof b1), detail, human(avail, b2, sizeof b2), why);
}

/* ---- arrays and files ----------------------------------------------------------------------- */

#ifdef ENTK_CLI_FUZZ
static void cli_fuzz_check_path(const char *path); /* the harness: every file lies in its temp dir */
#else
#define cli_fuzz_check_path(path) ((void)0)
#endif

static const entk_array *load(const char *opt, const char *path) {
    char err[256];
    entk_status st;
    entk_array *a = &cli_owned_arrays[cli_n_owned_arrays];
    cli_fuzz_check_path(path);
    st = entk_npy_read_file(path, a, err, sizeof err);
    if (st) die(1, "%s %s: %s", opt, shown(path), err[0] ? err : entk_status_string(st));
    ++cli_n_owned_arrays;
    return a;
}

static void save(const char *opt, const char *path, const double *data, int ndim, const size_t *shape) {
    entk_status st;
    cli_fuzz_check_path(path);
    errno = 0;
    st = entk_npy_write_file(path, data, ndim, shape);
    if (st == ENTK_ERR_IO && errno) die(1, "%s %s: cannot write: %s", opt, shown(path), strerror(errno));
    if (st) die(1, "%s %s: %s", opt, shown(path), entk_status_string(st));
}

static double *alloc_matrix(size_t r, size_t c, const char *what) {
    size_t bytes = matrix_bytes(r, c, what);
    double *p = (double *)malloc(bytes ? bytes : 1);
    if (!p) die(1, "%s: out of memory for a %zu x %zu matrix", what, r, c);
    cli_owned[cli_n_owned++] = p;
    return p;
}

/* Two file names for the same file: the same inode when both exist (hard links, symlinks, ./a and
 * a), else the same directory entry (same parent directory by inode, same last component). */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    int ea, eb;
    if (!strcmp(a, b)) return 1;
    ea = stat(a, &sa) == 0;
    eb = stat(b, &sb) == 0;
    if (ea && eb) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (ea || eb) return 0;
    {
        const char *ba = strrchr(a, '/'), *bb = strrchr(b, '/');
        char da[PATH_MAX], db[PATH_MAX];
        size_t la = ba ? (size_t)(ba - a) + 1 : 0, lb = bb ? (size_t)(bb - b) + 1 : 0;
        ba = ba ? ba + 1 : a;
        bb = bb ? bb + 1 : b;
        if (strcmp(ba, bb) || la >= sizeof da || lb >= sizeof db) return 0;
        memcpy(da, a, la);
        memcpy(db, b, lb);
        strcpy(da + la, ".");
        strcpy(db + lb, ".");
        return stat(da, &sa) == 0 && stat(db, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    }
}

/* Every output file distinct from the other outputs and from every input (writing one output over
 * another, or over an input, would silently lose a result). opts: indices, outputs first. */
static void check_files(const cli_opts *o, const int *opts, int n_out, int n) {
    int i, j;
    for (i = 0; i < n_out; ++i) {
        const char *p = o->val[opts[i]];
        if (!p) continue;
        for (j = i + 1; j < n; ++j) {
            const char *q = o->val[opts[j]];
            if (q && same_file(p, q))
                die(2, "%s and %s name the same file '%s'%s", cli_opt_table[opts[i]].name,
                    cli_opt_table[opts[j]].name, shown(p), j < n_out ? "" : " (an output would overwrite an input)");
        }
    }
}

#include "entk_solve.h" /* Gram files read block by block; the out-of-core solve */

/* ---- progress line (only when stderr is a terminal) ----------------------------------------- */

static void progress(void *user, size_t done, size_t total) {
    const char *what = (const char *)user;
    fprintf(stderr, "\rentk: %s rows %zu/%zu (%3.0f%%)", what, done, total,
            total ? 100.0 * (double)done / (double)total : 100.0);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
}

static void progress_on(const char *what) {
#ifndef ENTK_CLI_FUZZ
    if (isatty(2)) entk_set_progress(progress, (void *)what);
#else
    (void)what;
    (void)progress;
#endif
}
/* ---- kernel computation, by domain ----------------------------------------------------------
 * entk_arch_check names the domain (and the reason an architecture is invalid); adding a domain is
 * adding a case to check_input, gram and gram_diag. */

/* Feature count of one input for an MLP: every axis after the first. */
static size_t row_size(const entk_array *x) {
    size_t d = 1;
    int i;
    for (i = 1; i < x->ndim; ++i) d *= x->shape[i];
    return d;
}

typedef struct cli_data {
    const entk_arch *arch;
    entk_domain domain;
    entk_domain atom; /* molecules: the atom network's domain */
    entk_orbit orbit;
    int threads;
} cli_data;

/* The band limit L of spherical inputs N x C x 2L x (2L - 1) (axes h, w), or die. */
static int band_of(const char *opt, const entk_array *x, int h) {
    if (x->shape[h] < 2 || x->shape[h] % 2 || x->shape[h + 1] + 1 != x->shape[h] ||
        x->shape[h] / 2 > ENTK_SO3_MAX_BAND)
        die(1, "%s: spherical signals are C x 2L x (2L - 1) samples with L from 1 to %d, not %zu x %zu", opt,
            ENTK_SO3_MAX_BAND, x->shape[h], x->shape[h + 1]);
    return (int)(x->shape[h] / 2);
}

/* Doubles per atom of molecule inputs N x A x ...: every axis after the second. */
static size_t atom_size(const entk_array *x) {
    size_t d = 1;
    int i;
    for (i = 2; i < x->ndim; ++i) d *= x->shape[i];
    return d;
}

/* The atom shape C x H x W of molecule inputs as the library takes it: N x A x C x H x W as is, and
 * N x A x d (or more axes) as d x 1 x 1 for an MLP atom network. */
static void atom_chw(const cli_data *c, const entk_array *x, size_t *chw) {
    if (c->atom == ENTK_DOMAIN_SO3) {
        chw[0] = x->shape[2];
        chw[1] = x->shape[3];
        chw[2] = x->shape[4];
    } else {
        chw[0] = atom_size(x);
        chw[1] = chw[2] = 1;
    }
}

static void check_input(const cli_data *c, const char *opt, const entk_array *x) {
    char err[256];
    if (c->domain == ENTK_DOMAIN_IMAGE && x->ndim != 4)
        die(1, "%s: image layers need N x C x H x W inputs, got %d axes", opt, x->ndim);
    if (c->domain == ENTK_DOMAIN_SO3 && x->ndim != 4)
        die(1, "%s: SO(3) layers need N x C x 2L x (2L - 1) spherical inputs, got %d axes", opt, x->ndim);
    if (c->domain == ENTK_DOMAIN_MOLECULE && c->atom == ENTK_DOMAIN_SO3 && x->ndim != 5)
        die(1, "%s: an SO(3) atom network needs N x A x C x 2L x (2L - 1) molecules, got %d axes", opt, x->ndim);
    if (c->domain == ENTK_DOMAIN_MOLECULE && x->ndim < 3)
        die(1, "%s: atomsum needs N x A x ... molecules (at least 3 axes), got %d axes", opt, x->ndim);
    if (x->ndim < 2) die(1, "%s: expected N x d inputs (at least 2 axes), got %d axes", opt, x->ndim);
    if (x->shape[0] == 0) die(1, "%s: no inputs (first axis is 0)", opt);
    if (row_size(x) == 0) die(1, "%s: inputs have no features", opt);
    if (c->domain == ENTK_DOMAIN_IMAGE &&
        entk_cn_check_shape(c->arch, c->orbit, x->shape[1], x->shape[2], x->shape[3], err, sizeof err))
        die(1, "%s: %s", opt, err);
    if (c->domain == ENTK_DOMAIN_SO3 && entk_so3_check_shape(c->arch, x->shape[1], band_of(opt, x, 2), err, sizeof err))
        die(1, "%s: %s", opt, err);
    if (c->domain == ENTK_DOMAIN_MOLECULE) {
        size_t chw[3];
        if (x->shape[1] == 0) die(1, "%s: molecules of 0 atoms (axis 1)", opt);
        if (c->atom == ENTK_DOMAIN_SO3) (void)band_of(opt, x, 3);
        atom_chw(c, x, chw);
        if (entk_so3_molecule_check_shape(c->arch, x->shape[1], chw[0], chw[1], chw[2], err, sizeof err))
            die(1, "%s: %s", opt, err);
    }
}

static void check_compatible(const cli_data *c, const char *o1, const entk_array *a, const char *o2,
                             const entk_array *b) {
    int i;
    if (c->domain == ENTK_DOMAIN_MOLECULE) { /* the atom counts may differ, the atoms may not */
        if (a->ndim != b->ndim || atom_size(a) != atom_size(b))
            die(1, "%s and %s: atoms differ in size (%zu vs %zu doubles)", o1, o2, atom_size(a), atom_size(b));
        for (i = 2; i < a->ndim; ++i)
            if (a->shape[i] != b->shape[i]) die(1, "%s and %s: shapes differ in axis %d", o1, o2, i);
        return;
    }
    if (row_size(a) != row_size(b))
        die(1, "%s and %s: inputs differ in size per example (%zu vs %zu)", o1, o2, row_size(a), row_size(b));
    for (i = 1; i < a->ndim && i < b->ndim; ++i)
        if (a->shape[i] != b->shape[i]) die(1, "%s and %s: shapes differ in axis %d", o1, o2, i);
}

/* The block x1[i0:i1] x x2[j0:j1] of the Gram matrices between x1 and x2 (x2 NULL: x1 with itself, and
 * then only i0 == j0, i1 == j1: the symmetric Gram of x1[i0:i1], from its upper triangle) into k (ldk)
 * and t (ldt); either may be NULL. The library's functions take any rows of an input as a contiguous
 * sub-array; entry (i, j) of a block is bit for bit entry (i, j) of the whole Gram with x2 given, and
 * for i <= j of the symmetric one (tests/test_tiles.c; docs/conventions.md §5.5). */
static entk_status gram_rect(const cli_data *c, const entk_array *x1, size_t i0, size_t i1, const entk_array *x2,
                             size_t j0, size_t j1, double *k, size_t ldk, double *t, size_t ldt) {
    const entk_array *xb = x2 ? x2 : x1;
    const double *a = x1->data + i0 * row_size(x1), *b = x2 ? x2->data + j0 * row_size(x2) : NULL;
    const size_t n1 = i1 - i0, n2 = x2 ? j1 - j0 : 0;
    if (c->domain == ENTK_DOMAIN_IMAGE)
        return entk_cn_kernel_orbit(c->arch, c->orbit, a, n1, b, n2, x1->shape[1], x1->shape[2], x1->shape[3], k, ldk,
                                    t, ldt, c->threads);
    if (c->domain == ENTK_DOMAIN_SO3)
        return entk_so3_kernel(c->arch, a, n1, b, n2, x1->shape[1], (int)(x1->shape[2] / 2), k, ldk, t, ldt,
                               c->threads);
    if (c->domain == ENTK_DOMAIN_MOLECULE) {
        size_t chw[3];
        atom_chw(c, x1, chw);
        return entk_so3_molecule_kernel(c->arch, a, n1, x1->shape[1], b, n2, x2 ? xb->shape[1] : 0, chw[0], chw[1],
                                        chw[2], k, ldk, t, ldt, c->threads);
    }
    return entk_mlp_kernel(c->arch, a, n1, b, n2, row_size(x1), k, ldk, t, ldt, c->threads);
}

/* Gram matrices between x1 and x2 (x2 NULL: x1 with itself); k and t may each be NULL. */
static void gram(const cli_data *c, const entk_array *x1, const entk_array *x2, double *k, double *t,
                 const char *what) {
    entk_status st;
    size_t n2 = x2 ? x2->shape[0] : x1->shape[0];
    progress_on(what);
    st = gram_rect(c, x1, 0, x1->shape[0], x2, 0, n2, k, n2, t, n2);
    entk_set_progress(NULL, NULL);
    check(st, what);
}

#include "entk_tiles.h"

/* Per-input diagonals K(x,x), Theta(x,x) (orbit-averaged with --orbit); either may be NULL. */
static void gram_diag(const cli_data *c, const entk_array *x, double *k, double *t, const char *what) {
    if (c->domain == ENTK_DOMAIN_IMAGE)
        check(entk_cn_diag_orbit(c->arch, c->orbit, x->data, x->shape[0], x->shape[1], x->shape[2], x->shape[3], k,
                                 t, c->threads), what);
    else if (c->domain == ENTK_DOMAIN_SO3)
        check(entk_so3_diag(c->arch, x->data, x->shape[0], x->shape[1], (int)(x->shape[2] / 2), k, t, c->threads),
              what);
    else if (c->domain == ENTK_DOMAIN_MOLECULE) {
        size_t chw[3];
        atom_chw(c, x, chw);
        check(entk_so3_molecule_diag(c->arch, x->data, x->shape[0], x->shape[1], chw[0], chw[1], chw[2], k, t,
                                     c->threads), what);
    } else
        check(entk_mlp_diag(c->arch, x->data, x->shape[0], row_size(x), k, t), what);
}

/* ---- commands ------------------------------------------------------------------------------- */

static void setup(const cli_opts *o, entk_arch *arch, cli_data *c) {
    char err[256];
    const char *orbit = o->val[OPT_ORBIT];
    entk_status st;
    if (!o->val[OPT_ARCH]) die(2, "--arch is required");
    if (entk_arch_parse(o->val[OPT_ARCH], arch, err, sizeof err)) die(1, "--arch: %s", err);
    st = entk_arch_check(arch, &c->domain, err, sizeof err);
    c->atom = ENTK_DOMAIN_MLP;
    if (c->domain == ENTK_DOMAIN_MOLECULE) { /* the atom network's domain: the layers before atomsum */
        int l;
        for (l = 0; l + 1 < arch->n_layers; ++l)
            if (arch->layer[l].kind == ENTK_LAYER_S2LIFT) c->atom = ENTK_DOMAIN_SO3;
    }
    c->arch = arch;
    c->threads = 1;
    c->orbit = ENTK_ORBIT_NONE;
    if (orbit) {
        if (!strcmp(orbit, "c4")) c->orbit = ENTK_ORBIT_C4;
        else if (!strcmp(orbit, "d4")) c->orbit = ENTK_ORBIT_D4;
        else if (strcmp(orbit, "none")) die(2, "--orbit: '%s' is not none, c4 or d4", shown(orbit));
        if (c->orbit != ENTK_ORBIT_NONE && c->domain != ENTK_DOMAIN_IMAGE)
            die(2, "--orbit: only image architectures have rotations to average over");
    }
    if (st) die(1, "--arch: %s", err);
}

/* Bytes the library itself allocates beyond the outputs, where it is of the outputs' order: the
 * scratch K of an NTK-only MLP Gram, the rotated copies of the second input for an orbit average. */
static size_t gram_extra(const cli_data *c, const entk_array *x1, const entk_array *x2, int nngp, const char *what) {
    size_t n2 = x2 ? x2->shape[0] : x1->shape[0], extra = 0;
    if (c->domain == ENTK_DOMAIN_MLP && !nngp) extra = matrix_bytes(x1->shape[0], n2, what);
    if (c->domain == ENTK_DOMAIN_IMAGE && c->orbit != ENTK_ORBIT_NONE)
        extra = matrix_bytes(n2 * (c->orbit == ENTK_ORBIT_C4 ? 4 : 8), row_size(x2 ? x2 : x1), what);
    return extra;
}

/* kernel's inputs and checks (also entk-mpi kernel's): the architecture, the outputs, the inputs loaded
 * and checked against it and each other; *x2 NULL without --x2. Returns whether the run is tiled. */
static int kernel_setup(const cli_opts *o, entk_arch *arch, cli_data *c, const entk_array **x1,
                        const entk_array **x2) {
    static const int files[] = {OPT_NNGP, OPT_NTK, OPT_X1, OPT_X2};
    setup(o, arch, c);
    if (!o->val[OPT_X1]) die(2, "kernel: --x1 is required");
    if (!o->val[OPT_NNGP] && !o->val[OPT_NTK]) die(2, "kernel: give --nngp and/or --ntk output files");
    check_files(o, files, 2, 4);
    *x1 = load("--x1", o->val[OPT_X1]);
    check_input(c, "--x1", *x1);
    *x2 = NULL;
    if (o->val[OPT_X2]) {
        *x2 = load("--x2", o->val[OPT_X2]);
        check_input(c, "--x2", *x2);
        check_compatible(c, "--x1", *x1, "--x2", *x2);
    }
    return o->val[OPT_TILE] || o->val[OPT_RESUME] || o->val[OPT_ROWS] || o->val[OPT_COLS];
}

static int cmd_kernel(const cli_opts *o) {
    entk_arch arch;
    cli_data c;
    const entk_array *x1, *x2;
    double *k = NULL, *t = NULL;
    size_t shape[2], need;
    char detail[128];
    const int want_k = o->val[OPT_NNGP] != NULL, want_t = o->val[OPT_NTK] != NULL;
    if (kernel_setup(o, &arch, &c, &x1, &x2)) {
        c.threads = resolve_threads(o);
        return tiles_kernel(o, &c, x1, x2);
    }
    shape[0] = x1->shape[0];
    shape[1] = x2 ? x2->shape[0] : x1->shape[0];
    need = matrix_bytes(shape[0], shape[1], "kernel");
    if (want_k && want_t) need = add_bytes(need, need, "kernel");
    need = add_bytes(need, gram_extra(&c, x1, x2, want_k, "kernel"), "kernel");
    snprintf(detail, sizeof detail, "%d output%s of %zu x %zu doubles", want_k + want_t, want_k && want_t ? "s" : "",
             shape[0], shape[1]);
    check_memory(o, need, "kernel", detail);
    c.threads = resolve_threads(o);
    if (want_k) k = alloc_matrix(shape[0], shape[1], "kernel");
    if (want_t) t = alloc_matrix(shape[0], shape[1], "kernel");
    gram(&c, x1, x2, k, t, "kernel");
    if (want_k) save("--nngp", o->val[OPT_NNGP], k, 2, shape);
    if (want_t) save("--ntk", o->val[OPT_NTK], t, 2, shape);
    return 0;
}

static int cmd_predict(const cli_opts *o);

/* featurize: molecules (XYZ) to per-atom spherical signals, entk_so3_featurize (docs/conventions.md §1.5) */
static int cmd_featurize(const cli_opts *o) {
    static const int files[] = {OPT_OUT, OPT_ENERGIES, OPT_XYZ};
    const entk_so3_molecules *m = &cli_molecules;
    const char *path = o->val[OPT_XYZ];
    char err[256], detail[160], plist[64];
    size_t C, len, shape[5];
    double *x;
    int i, n = 0;
    entk_status st;
    if (!o->val[OPT_XYZ] || !o->val[OPT_L] || !o->val[OPT_OUT]) die(2, "featurize: --xyz, --L and --out are required");
    check_files(o, files, 2, 3);
    cli_fuzz_check_path(path);
    if ((st = entk_so3_xyz_read_file(path, &cli_molecules, err, sizeof err)))
        die(1, "--xyz %s: %s", shown(path), err[0] ? err : entk_status_string(st));
    st = entk_so3_featurize_size(m, o->L, o->npowers, &C, &len);
    if (st == ENTK_ERR_OVERFLOW || (st == ENTK_OK && len > SIZE_MAX / sizeof(double)))
        die(1, "featurize: %zu x %zu x %d x %d x %d doubles overflow size_t", m->n, m->max_atoms,
            5 * (1 + (o->npowers ? o->npowers : 2)), 2 * o->L, 2 * o->L - 1);
    check(st, "featurize");
    shape[0] = m->n;
    shape[1] = m->max_atoms;
    shape[2] = C;
    shape[3] = (size_t)(2 * o->L);
    shape[4] = (size_t)(2 * o->L - 1);
    snprintf(detail, sizeof detail, "%zu x %zu x %zu x %zu x %zu doubles", shape[0], shape[1], shape[2], shape[3], shape[4]);
    check_memory(o, add_bytes(len * sizeof(double), matrix_bytes(m->n, 1, "featurize"), "featurize"), "featurize",
                 detail);
    x = alloc_matrix(len, 1, "featurize");
    check(entk_so3_featurize(m, o->L, o->npowers ? o->powers : NULL, o->npowers, x, len), "featurize");
    save("--out", o->val[OPT_OUT], x, 5, shape);
    if (o->val[OPT_ENERGIES]) save("--energies", o->val[OPT_ENERGIES], m->energy, 1, shape);
    plist[0] = 0;
    for (i = 0; i < (o->npowers ? o->npowers : 2); ++i)
        n += snprintf(plist + n, sizeof plist - (size_t)n, "%s%d", i ? "," : "", o->npowers ? o->powers[i] : i + 1);
    fprintf(stderr, "entk: featurized %zu molecules (at most %zu atoms) with L=%d, powers %s: %s\n", m->n, m->max_atoms,
            o->L, plist, detail);
    return 0;
}

static int cmd_info(int argc, char **argv) {
    if (argc > 2) die(2, "info takes no options: '%s'", shown(argv[2]));
    printf("entk %s\n", ENTK_VERSION_STRING);
    printf("simd: %s\n", entk_simd_name());
    printf("sleef: %s\n", entk_sleef_version());
#ifdef _OPENMP
    printf("openmp: yes\n");
#else
    printf("openmp: no\n");
#endif
    return 0;
}

static int cli_run(int argc, char **argv) {
    cli_opts o;
    if (argc < 2) {
        fputs(usage_text, stderr);
        fputs(usage_options, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(usage_text, stdout);
        fputs(usage_options, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("entk %s\n", ENTK_VERSION_STRING);
        return 0;
    }
    if (!strcmp(argv[1], "info")) return cmd_info(argc, argv);
    if (!strcmp(argv[1], "kernel")) {
        parse_opts(argc, argv, CMD_KERNEL, &o);
        return cmd_kernel(&o);
    }
    if (!strcmp(argv[1], "predict")) {
        parse_opts(argc, argv, CMD_PREDICT, &o);
        return cmd_predict(&o);
    }
    if (!strcmp(argv[1], "featurize")) {
        parse_opts(argc, argv, CMD_FEATURIZE, &o);
        return cmd_featurize(&o);
    }
    die(2, "unknown command '%s' (kernel, predict, featurize, info)", shown(argv[1]));
    return 2;
}

/* The whole program; returns the exit status. Under ENTK_CLI_FUZZ, die() comes back here. */
static int entk_cli_main(int argc, char **argv) {
    int rc;
    cli_msg[0] = 0;
#ifdef ENTK_CLI_FUZZ
    {
        int jumped = setjmp(cli_jmp);
        if (jumped) return jumped - 1;
    }
#endif
    rc = cli_run(argc, argv);
    cli_release();
    return rc;
}

#if !defined(ENTK_CLI_FUZZ) && !defined(ENTK_CLI_NO_MAIN) /* cli/entk_mpi.c has its own main */
int main(int argc, char **argv) { return entk_cli_main(argc, argv); }
#endif

static int cmd_predict_gram(const cli_opts *o) {
    cli_gram gtr, gte;
    cli_targets t;
    double *mean;
    size_t n, m;
    gram_predict_checks(o, 0);
    gram_open("--train-gram", o->val[OPT_TRAIN_GRAM], &gtr);
    gram_open("--test-gram", o->val[OPT_TEST_GRAM], &gte);
    gram_predict_shapes(&gtr, &gte);
    n = gtr.rows;
    m = gte.rows;
    load_targets(o, n, &t);
    if (o->val[OPT_OOC]) {
        mean = alloc_matrix(m, t.k, "predict");
        cli_spd s;
        predict_ooc(o, &gtr, &gte, &t, mean, &s);
        finish_mean(o, &t, mean, m, "out of core", s.reg, ldexp(s.jit, -s.e), s.jit / s.unit, s.tries);
    } else {
        const entk_array *ktr, *kte;
        entk_kernels kk;
        entk_predict_opts po = entk_predict_opts_default();
        entk_predict_info info;
        entk_status st;
        char detail[160];
        const size_t nn = matrix_bytes(n, n, "predict"), mn = matrix_bytes(m, n, "predict");
        snprintf(detail, sizeof detail, "%zu x %zu train and %zu x %zu test Grams and the solver's copy; or --ooc", n, n,
                 m, n);
        check_memory(o, add_bytes(add_bytes(nn, nn, "predict"), add_bytes(mn, matrix_bytes(n + m, 2 * t.k, "predict"),
                                                                          "predict"), "predict"), "predict", detail);
        gram_close(&gtr);
        gram_close(&gte);
        ktr = load("--train-gram", o->val[OPT_TRAIN_GRAM]);
        kte = load("--test-gram", o->val[OPT_TEST_GRAM]);
        memset(&kk, 0, sizeof kk);
        kk.n = n;
        kk.m = m;
        kk.train = ktr->data;
        kk.ld_train = n;
        kk.test_train = kte->data;
        kk.ld_test_train = n;
        po.t = o->time;
        po.lr = o->lr;
        po.diag_reg = o->diag_reg;
        po.diag_reg_absolute = o->val[OPT_DIAG_REG_ABS] != NULL;
        mean = alloc_matrix(m, t.k, "predict");
        st = entk_predict_mean(&kk, t.k, t.y, t.k, &po, mean, t.k, &info);
        if (st == ENTK_ERR_NOT_PD && info.used_eigen)
            die(1, "predict: the train Gram has a negative eigenvalue (%.3g) beyond rounding; it is not a kernel matrix",
                info.min_eig);
        if (st == ENTK_ERR_NOT_PD)
            die(1, "predict: the train Gram is not positive definite (minor %zu), even with jitter; raise --diag-reg",
                info.not_pd_order);
        check(st, "predict");
        finish_mean(o, &t, mean, m, "in memory", info.reg, info.jitter, info.jitter_rel, info.jitter_tries);
        return 0;
    }
    gram_close(&gtr);
    gram_close(&gte);
    return 0;
}

/* predict: kernels, then the predictor of docs/conventions.md §3. With --kernel ntk the mean is the NTK
 * gradient-descent mean and --variance the NTK-ensemble predictive variance (needs K too); with
 * --kernel nngp the NNGP posterior mean and variance. */
static int cmd_predict(const cli_opts *o) {
    static const int files[] = {OPT_OUT, OPT_VARIANCE, OPT_TRAIN_X, OPT_TRAIN_Y, OPT_TEST_X};
    entk_arch arch;
    cli_data c;
    const entk_array *xtr, *ytr, *xte;
    entk_kernels kk, kt;
    entk_predict_opts po = entk_predict_opts_default();
    entk_predict_info info;
    int ntk, need_k, need_t, want_var;
    size_t n, m, k, shape[2], nn, mn, need;
    double *k_tr = NULL, *k_te = NULL, *k_d = NULL, *t_tr = NULL, *t_te = NULL, *mean, *var = NULL;
    double *y = NULL, *ymean = NULL, *yscale = NULL;
    const int stdz = o->val[OPT_STANDARDIZE] != NULL;
    const char *kernel = o->val[OPT_KERNEL] ? o->val[OPT_KERNEL] : "ntk";
    char detail[160];
    entk_status st;
    if (o->val[OPT_TRAIN_GRAM] || o->val[OPT_TEST_GRAM]) return cmd_predict_gram(o);
    if (o->val[OPT_OOC]) die(2, "--ooc: the out-of-core solve reads the train Gram from disk: give --train-gram and --test-gram");
    setup(o, &arch, &c);
    if (!o->val[OPT_TRAIN_X] || !o->val[OPT_TRAIN_Y] || !o->val[OPT_TEST_X] || !o->val[OPT_OUT])
        die(2, "predict: --train-x, --train-y, --test-x and --out are required");
    if (strcmp(kernel, "ntk") && strcmp(kernel, "nngp"))
        die(2, "--kernel: '%s' is not ntk or nngp", shown(kernel));
    check_files(o, files, 2, 5);
    ntk = !strcmp(kernel, "ntk");
    want_var = o->val[OPT_VARIANCE] != NULL;
    need_t = ntk;
    need_k = !ntk || want_var;
    xtr = load("--train-x", o->val[OPT_TRAIN_X]);
    check_input(&c, "--train-x", xtr);
    ytr = load("--train-y", o->val[OPT_TRAIN_Y]);
    xte = load("--test-x", o->val[OPT_TEST_X]);
    check_input(&c, "--test-x", xte);
    check_compatible(&c, "--train-x", xtr, "--test-x", xte);
    n = xtr->shape[0];
    m = xte->shape[0];
    if (ytr->ndim != 1 && ytr->ndim != 2) die(1, "--train-y: expected N or N x k targets, got %d axes", ytr->ndim);
    if (ytr->shape[0] != n) die(1, "--train-y: %zu targets for %zu training inputs", ytr->shape[0], n);
    k = ytr->ndim == 2 ? ytr->shape[1] : 1;
    if (k == 0) die(1, "--train-y: no target columns");
    /* the kernels this run keeps (train n x n, test m x n, each for K and/or Theta), the outputs, and
     * the predictor's own working copies (up to two n x n factors and two n x m solves) */
    nn = matrix_bytes(n, n, "predict");
    mn = matrix_bytes(m, n, "predict");
    need = add_bytes(nn, mn, "predict");
    if (need_k && need_t) need = add_bytes(need, need, "predict");
    need = add_bytes(need, add_bytes(nn, nn, "predict"), "predict");
    need = add_bytes(need, add_bytes(mn, mn, "predict"), "predict");
    need = add_bytes(need, matrix_bytes(m, k + 2, "predict"), "predict");
    if (stdz) need = add_bytes(need, add_bytes(matrix_bytes(n + 2, k, "predict"), matrix_bytes(m, k, "predict"),
                                                "predict"), "predict");
    snprintf(detail, sizeof detail, "%zu x %zu train and %zu x %zu test kernels, %zu x %zu outputs and the solver's copies",
             n, n, m, n, m, k);
    check_memory(o, need, "predict", detail);
    c.threads = resolve_threads(o);
    if (need_k) {
        k_tr = alloc_matrix(n, n, "predict");
        k_te = alloc_matrix(m, n, "predict");
        if (want_var) k_d = alloc_matrix(m, 1, "predict");
    }
    if (need_t) {
        t_tr = alloc_matrix(n, n, "predict");
        t_te = alloc_matrix(m, n, "predict");
    }
    gram(&c, xtr, NULL, k_tr, t_tr, "train kernel");
    gram(&c, xte, xtr, k_te, t_te, "test kernel");
    if (want_var) gram_diag(&c, xte, k_d, NULL, "test diagonal");
    memset(&kk, 0, sizeof kk);
    kk.n = n; kk.m = m;
    kk.train = k_tr; kk.ld_train = n;
    kk.test_train = k_te; kk.ld_test_train = n;
    kk.test_diag = k_d;
    kt = kk;
    kt.train = t_tr;
    kt.test_train = t_te;
    kt.test_diag = NULL;
    po.t = o->time;
    po.lr = o->lr;
    po.diag_reg = o->diag_reg;
    po.diag_reg_absolute = o->val[OPT_DIAG_REG_ABS] != NULL;
    mean = alloc_matrix(m, k, "predict");
    if (want_var) var = alloc_matrix(m, stdz ? k : 1, "predict");
    y = ytr->data;
    if (stdz) { /* docs/conventions.md §3: targets in training mean/std units, mapped back below */
        y = alloc_matrix(n, k, "predict");
        ymean = alloc_matrix(2, k, "predict");
        yscale = ymean + k;
        check(entk_targets_standardize(ytr->data, n, k, k, y, k, ymean, yscale), "--train-y");
    }
    if (ntk && !want_var) st = entk_predict_mean(&kt, k, y, k, &po, mean, k, &info);
    else if (ntk) st = entk_predict_ntk_ensemble(&kk, &kt, k, y, k, &po, mean, k, var, NULL, 0, &info);
    else st = entk_predict_nngp(&kk, k, y, k, &po, mean, k, var, NULL, 0, &info);
    if (st == ENTK_ERR_NOT_PD && info.used_eigen)
        die(1, "predict: the %s train matrix has a negative eigenvalue (%.3g) beyond rounding; "
               "it is not a kernel matrix", kernel, info.min_eig);
    if (st == ENTK_ERR_NOT_PD)
        die(1, "predict: the %s train matrix is not positive definite (minor %zu), even with jitter; "
               "raise --diag-reg", kernel, info.not_pd_order);
    check(st, "predict");
    if (stdz) { /* back to target units; the variance per target column, from the last column back */
        size_t i, j;
        for (i = 0; i < m; ++i)
            for (j = 0; j < k; ++j) mean[i * k + j] = ymean[j] + yscale[j] * mean[i * k + j];
        for (i = m; want_var && i-- > 0;) {
            const double v = var[i];
            for (j = 0; j < k; ++j) var[i * k + j] = yscale[j] * yscale[j] * v;
        }
        for (i = 0; i < m * k; ++i)
            if (!(fabs(mean[i]) <= DBL_MAX) || (want_var && !(var[i] <= DBL_MAX)))
                die(1, "predict: the %s in target units overflows", fabs(mean[i]) <= DBL_MAX ? "variance" : "mean");
    }
    shape[0] = m;
    shape[1] = k;
    save("--out", o->val[OPT_OUT], mean, 2, shape);
    if (want_var) save("--variance", o->val[OPT_VARIANCE], var, stdz && ytr->ndim == 2 ? 2 : 1, shape);
    fprintf(stderr, "entk: predicted %zu x %zu with %s at t=%g%s; diag_reg %g (%s) = %.3g added%s",
            m, k, kernel, o->time, stdz ? " (standardized targets)" : "", o->diag_reg,
            po.diag_reg_absolute ? "absolute" : "relative to mean diagonal", info.reg, info.jitter_rel > 0 ? "" : "\n");
    if (info.jitter_rel > 0)
        fprintf(stderr, "; jitter %.3g (%.3g of the mean diagonal) added after %d failed Cholesky tries\n", info.jitter,
                info.jitter_rel, info.jitter_tries);
    return 0;
}
