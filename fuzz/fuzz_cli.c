/* libFuzzer harness for the command line's argument handling (cli/entk_cli.c, built in).
 *
 *   clang -fsanitize=fuzzer,address,undefined -g -O1 -I. -fopenmp fuzz/fuzz_cli.c -o fuzz_cli -lsleef -lm
 *   ./fuzz_cli -close_fd_mask=3 CORPUS_DIR      (seeds: fuzz/corpus/cli/)
 *
 * An input is an argument vector: NUL-separated strings, argv[0] implied. The whole program runs, to
 * the end or to die(), which under ENTK_CLI_FUZZ frees what the CLI allocated and longjmps back, so
 * leak detection stays on. Files: every value of a file option is rewritten to a name inside a fresh
 * temp dir made at start-up (inputs to the name's last component, letters, digits, '.', '_' and '-'
 * only; outputs to "o-" and that name, removed after each run), where small .npy inputs are written
 * once: x.npy (12 x 5), z.npy (4 x 5), y.npy (12 x 2), y1.npy (12), img.npy (3 x 2 x 5 x 5),
 * sq.npy (2 x 1 x 4 x 4), junk.npy, and the XYZ files mol.xyz (two molecules) and bad.xyz. Inputs are never overwritten, so a run depends only on its input.
 * The CLI checks every path it opens against the temp dir (cli_fuzz_check_path) and traps if one
 * escaped the rewriting. Thread counts are capped at 4 (ENTK_CLI_MAX_THREADS), so a run starts few threads,
 * and featurize's --L at 16 (ENTK_CLI_MAX_L), so a run stays fast.
 *
 * Checked beyond the sanitizers: the exit status is 0, 1 or 2; a failure leaves exactly one message, a
 * success none; the message is at most CLI_MSG_MAX bytes with no control byte and well-formed UTF-8. */
#define ENTK_CLI_FUZZ 1
#define ENTK_CLI_MAX_THREADS 4
#define ENTK_CLI_MAX_L 16
#include "../cli/entk_cli.c"

#include <stddef.h>
#include <stdint.h>

#define FUZZ_MAX_ARGS 48
#define FUZZ_NAME_MAX 24

static char fuzz_dir[64];

static void cli_fuzz_check_path(const char *path) {
    size_t n = strlen(fuzz_dir);
    if (strncmp(path, fuzz_dir, n) || path[n] != '/' || strchr(path + n + 1, '/') || path[n + 1] == '.')
        __builtin_trap();
}

static void fuzz_cleanup(void) {
    char cmd[128];
    if (!fuzz_dir[0]) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_cli: could not remove %s\n", fuzz_dir);
}

static void fuzz_put(const char *name, const double *data, int ndim, const size_t *shape) {
    char p[128];
    snprintf(p, sizeof p, "%s/%s", fuzz_dir, name);
    if (entk_npy_write_file(p, data, ndim, shape) != ENTK_OK) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    static double v[3 * 2 * 5 * 5];
    size_t s_x[2] = {12, 5}, s_z[2] = {4, 5}, s_y[2] = {12, 2}, s_y1[1] = {12}, s_img[4] = {3, 2, 5, 5},
           s_sq[4] = {2, 1, 4, 4};
    size_t i;
    char p[128];
    FILE *f;
    (void)argc;
    (void)argv;
    snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/entk-fuzz-cli-XXXXXX");
    if (!mkdtemp(fuzz_dir)) abort();
    atexit(fuzz_cleanup);
    for (i = 0; i < sizeof v / sizeof v[0]; ++i) v[i] = sin(0.7 * (double)i + 0.3) + 0.1 * (double)(i % 5);
    fuzz_put("x.npy", v, 2, s_x);
    fuzz_put("z.npy", v + 60, 2, s_z);
    fuzz_put("y.npy", v + 80, 2, s_y);
    fuzz_put("y1.npy", v + 20, 1, s_y1);
    fuzz_put("img.npy", v, 4, s_img);
    fuzz_put("sq.npy", v + 7, 4, s_sq);
    snprintf(p, sizeof p, "%s/junk.npy", fuzz_dir);
    if (!(f = fopen(p, "wb"))) abort();
    fputs("\x93NUMPY junk", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/mol.xyz", fuzz_dir);
    if (!(f = fopen(p, "wb"))) abort();
    fputs("3\nenergy=-76.4\nO 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692\n2\nenergy=-100.4\nF 0 0 0\nH 0 0 0.93\n", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/bad.xyz", fuzz_dir);
    if (!(f = fopen(p, "wb"))) abort();
    fputs("2\nenergy=1\nO 0 0 0\nCl 1 0 0\n", f);
    fclose(f);
    return 0;
}

static int is_file_opt(const char *a, int *out) {
    static const char *const in[] = {"--x1", "--x2", "--train-x", "--train-y", "--test-x", "--xyz"};
    static const char *const outs[] = {"--nngp", "--ntk", "--out", "--variance", "--energies"};
    size_t i;
    for (i = 0; i < sizeof in / sizeof in[0]; ++i)
        if (!strcmp(a, in[i])) { *out = 0; return 1; }
    for (i = 0; i < sizeof outs / sizeof outs[0]; ++i)
        if (!strcmp(a, outs[i])) { *out = 1; return 1; }
    return 0;
}

/* dst = fuzz_dir/[o-]NAME, NAME the last component of src restricted to a safe alphabet. */
static void rewrite_path(const char *src, int out, char *dst, size_t cap) {
    const char *base = strrchr(src, '/');
    char name[FUZZ_NAME_MAX + 1];
    size_t n = 0;
    base = base ? base + 1 : src;
    for (; *base && n < FUZZ_NAME_MAX; ++base) {
        unsigned char c = (unsigned char)*base;
        name[n++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                            c == '_' || c == '-' ? (char)c : '_';
    }
    name[n] = 0;
    snprintf(dst, cap, "%s/%s%s%s", fuzz_dir, out ? "o-" : "", name[0] == '.' || !name[0] ? "f" : "", name);
}

static int valid_message(const char *m) {
    const unsigned char *p = (const unsigned char *)m;
    if (strlen(m) > CLI_MSG_MAX || !*m) return 0;
    while (*p) {
        int n = utf8_len(p);
        if (!n || (n == 1 && (*p < 0x20 || *p == 0x7F))) return 0;
        p += n;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf, *argv[FUZZ_MAX_ARGS + 2], *paths[FUZZ_MAX_ARGS], *outs[FUZZ_MAX_ARGS];
    int argc = 1, n_paths = 0, n_outs = 0, rc, i;
    size_t pos = 0;
    if (size > 4096) return 0;
    buf = (char *)malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = 0;
    argv[0] = (char *)"entk";
    while (pos < size && argc <= FUZZ_MAX_ARGS) { /* NUL-separated; a trailing NUL adds no argument */
        argv[argc++] = buf + pos;
        pos += strlen(buf + pos) + 1;
    }
    argv[argc] = NULL;
    for (i = 2; i < argc; ++i) {
        int out;
        if (is_file_opt(argv[i - 1], &out)) {
            char *p = (char *)malloc(sizeof fuzz_dir + FUZZ_NAME_MAX + 8);
            rewrite_path(argv[i], out, p, sizeof fuzz_dir + FUZZ_NAME_MAX + 8);
            argv[i] = paths[n_paths++] = p;
            if (out) outs[n_outs++] = p;
        }
    }
    rc = entk_cli_main(argc, argv);
    if (rc < 0 || rc > 2) __builtin_trap();
    if (rc == 0 && cli_msg[0]) __builtin_trap();                         /* a message, yet success */
    if (rc != 0 && argc > 1 && !valid_message(cli_msg)) __builtin_trap(); /* argc == 1: the usage text */
    for (i = 0; i < n_outs; ++i) unlink(outs[i]);
    for (i = 0; i < n_paths; ++i) free(paths[i]);
    free(buf);
    return 0;
}
