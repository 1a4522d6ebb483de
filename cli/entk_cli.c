/* entk - command-line front end: NNGP/NTK kernels and kernel predictions on NumPy .npy files.
 *
 *   entk kernel  --arch ARCH --x1 A.npy [--x2 B.npy] [--nngp K.npy] [--ntk T.npy] [--threads N]
 *   entk predict --arch ARCH --train-x X.npy --train-y Y.npy --test-x Z.npy --out P.npy
 *                [--kernel ntk|nngp] [--time T] [--lr ETA] [--diag-reg L] [--diag-reg-absolute]
 *                [--variance V.npy] [--threads N]
 *   entk info
 *
 * Every error is one line on stderr naming the file, option or token, and a non-zero exit status
 * (1: bad input or computation failure, 2: bad usage). See README.md and SPEC §5.
 */
#define _POSIX_C_SOURCE 200809L
#define ENTK_IMPLEMENTATION
#include "entk.h"
#include "entk_cn.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const usage_text =
    "usage: entk kernel  --arch ARCH --x1 A.npy [--x2 B.npy] [--nngp K.npy] [--ntk T.npy] [--threads N]\n"
    "                    [--orbit none|c4|d4]\n"
    "       entk predict --arch ARCH --train-x X.npy --train-y Y.npy --test-x Z.npy --out P.npy\n"
    "                    [--kernel ntk|nngp] [--time T] [--lr ETA] [--diag-reg L] [--diag-reg-absolute]\n"
    "                    [--variance V.npy] [--threads N] [--orbit none|c4|d4]\n"
    "       entk info\n"
    "ARCH: layers separated by spaces or commas, e.g. \"dense(sw=1.5,sb=0.1) relu dense\" (inputs N x d)\n"
    "      or \"lift(n=4,q=3,pad=circular) relu gconv(pad=circular) relu gpool dense\" (inputs N x C x H x W)\n"
    "--orbit c4|d4: average the image kernel over rotations (and flips) of the second input (SPEC §2)\n";

/* ---- errors: one line, then exit ------------------------------------------------------------ */

static void die(int code, const char *fmt, ...) {
    va_list ap;
    fputs("entk: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}

static void check(entk_status st, const char *what) {
    if (st != ENTK_OK) die(1, "%s: %s", what, entk_status_string(st));
}

/* ---- options -------------------------------------------------------------------------------- */

typedef struct cli_opts {
    const char *arch, *x1, *x2, *nngp, *ntk;
    const char *train_x, *train_y, *test_x, *out, *variance, *kernel, *orbit;
    double time, lr, diag_reg;
    int diag_reg_absolute, threads;
} cli_opts;

static double parse_double(const char *opt, const char *v) {
    char *end;
    double x;
    errno = 0;
    x = strtod(v, &end);
    if (end == v || *end || errno == ERANGE || x != x)
        die(2, "%s: '%s' is not a number", opt, v);
    return x;
}

static int parse_threads(const char *v) {
    char *end;
    long x;
    errno = 0;
    x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < 1 || x > 1024) die(2, "--threads: '%s' is not a count from 1 to 1024", v);
    return (int)x;
}

static void parse_opts(int argc, char **argv, cli_opts *o) {
    int i;
    memset(o, 0, sizeof *o);
    o->time = INFINITY;
    o->lr = 1.0;
    o->threads = 1;
    o->kernel = "ntk";
    for (i = 2; i < argc; ++i) {
        const char *a = argv[i];
        const char **target = NULL;
        if (!strcmp(a, "--diag-reg-absolute")) { o->diag_reg_absolute = 1; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage_text, stdout); exit(0); }
        if (i + 1 >= argc) die(2, "option '%s' needs a value (or is unknown)", a);
        if (!strcmp(a, "--arch")) target = &o->arch;
        else if (!strcmp(a, "--x1")) target = &o->x1;
        else if (!strcmp(a, "--x2")) target = &o->x2;
        else if (!strcmp(a, "--nngp")) target = &o->nngp;
        else if (!strcmp(a, "--ntk")) target = &o->ntk;
        else if (!strcmp(a, "--train-x")) target = &o->train_x;
        else if (!strcmp(a, "--train-y")) target = &o->train_y;
        else if (!strcmp(a, "--test-x")) target = &o->test_x;
        else if (!strcmp(a, "--out")) target = &o->out;
        else if (!strcmp(a, "--variance")) target = &o->variance;
        else if (!strcmp(a, "--kernel")) target = &o->kernel;
        else if (!strcmp(a, "--orbit")) target = &o->orbit;
        else if (!strcmp(a, "--time")) {
            o->time = !strcmp(argv[i + 1], "inf") ? INFINITY : parse_double(a, argv[i + 1]);
            if (!(o->time >= 0)) die(2, "--time: must be >= 0 or 'inf'");
        } else if (!strcmp(a, "--lr")) {
            o->lr = parse_double(a, argv[i + 1]);
            if (!(o->lr > 0) || isinf(o->lr)) die(2, "--lr: must be a positive number");
        } else if (!strcmp(a, "--diag-reg")) {
            o->diag_reg = parse_double(a, argv[i + 1]);
            if (!(o->diag_reg >= 0) || isinf(o->diag_reg)) die(2, "--diag-reg: must be a number >= 0");
        } else if (!strcmp(a, "--threads")) o->threads = parse_threads(argv[i + 1]);
        else die(2, "unknown option '%s'", a);
        if (target) *target = argv[i + 1];
        ++i;
    }
}

/* ---- arrays --------------------------------------------------------------------------------- */

static void load(const char *opt, const char *path, entk_array *a) {
    char err[256];
    entk_status st = entk_npy_read_file(path, a, err, sizeof err);
    if (st) die(1, "%s %s: %s", opt, path, err[0] ? err : entk_status_string(st));
}

static void save(const char *opt, const char *path, const double *data, int ndim, const size_t *shape) {
    entk_status st;
    errno = 0;
    st = entk_npy_write_file(path, data, ndim, shape);
    if (st == ENTK_ERR_IO && errno) die(1, "%s %s: cannot write: %s", opt, path, strerror(errno));
    if (st) die(1, "%s %s: %s", opt, path, entk_status_string(st));
}

static double *alloc_matrix(size_t r, size_t c, const char *what) {
    double *p;
    if (r && c > SIZE_MAX / sizeof(double) / r) die(1, "%s: %zu x %zu matrix is too large", what, r, c);
    p = (double *)malloc((r * c != 0 ? r * c : 1) * sizeof(double));
    if (!p) die(1, "%s: out of memory for a %zu x %zu matrix", what, r, c);
    return p;
}

/* ---- progress line (only when stderr is a terminal) ----------------------------------------- */

static void progress(void *user, size_t done, size_t total) {
    const char *what = (const char *)user;
    fprintf(stderr, "\rentk: %s rows %zu/%zu (%3.0f%%)", what, done, total,
            total ? 100.0 * (double)done / (double)total : 100.0);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
}

static void progress_on(const char *what) {
    if (isatty(2)) entk_set_progress(progress, (void *)what);
}

/* ---- kernel computation, by domain ----------------------------------------------------------
 * The architecture's first layer decides the domain; adding a domain (images, SO(3)) is adding a case
 * here and in domain_of(). */

typedef enum { DOMAIN_MLP, DOMAIN_IMAGE, DOMAIN_SO3 } cli_domain;

static cli_domain domain_of(const entk_arch *a) {
    int l;
    for (l = 0; l < a->n_layers; ++l) {
        switch (a->layer[l].kind) {
        case ENTK_LAYER_CONV: case ENTK_LAYER_LIFT: case ENTK_LAYER_GCONV: case ENTK_LAYER_AVGPOOL:
        case ENTK_LAYER_GAP: case ENTK_LAYER_FLATTEN: case ENTK_LAYER_GPOOL: case ENTK_LAYER_ROTPOOL:
            return DOMAIN_IMAGE;
        case ENTK_LAYER_S2LIFT: case ENTK_LAYER_SO3CONV: case ENTK_LAYER_SO3POOL: case ENTK_LAYER_ATOMSUM:
            return DOMAIN_SO3;
        default: break;
        }
    }
    return DOMAIN_MLP;
}

/* The first layer that puts the architecture in domain d, by name. */
static const char *first_layer_name(const entk_arch *a, cli_domain d) {
    int l;
    for (l = 0; l < a->n_layers; ++l) {
        entk_arch one;
        one.n_layers = 1;
        one.layer[0] = a->layer[l];
        if (domain_of(&one) == d) return entk_layer_name(&a->layer[l]);
    }
    return "?";
}

/* Feature count of one input for an MLP: every axis after the first. */
static size_t row_size(const entk_array *x) {
    size_t d = 1;
    int i;
    for (i = 1; i < x->ndim; ++i) d *= x->shape[i];
    return d;
}

typedef struct cli_data {
    const entk_arch *arch;
    cli_domain domain;
    entk_orbit orbit;
    int threads;
} cli_data;

static void check_input(const cli_data *c, const char *opt, const entk_array *x) {
    if (c->domain == DOMAIN_SO3)
        die(1, "layer '%s': SO(3) layers are not implemented in this build", first_layer_name(c->arch, c->domain));
    if (c->domain == DOMAIN_IMAGE && x->ndim != 4)
        die(1, "%s: image layers need N x C x H x W inputs, got %d axes", opt, x->ndim);
    if (x->ndim < 2) die(1, "%s: expected N x d inputs (at least 2 axes), got %d axes", opt, x->ndim);
    if (x->shape[0] == 0) die(1, "%s: no inputs (first axis is 0)", opt);
    if (row_size(x) == 0) die(1, "%s: inputs have no features", opt);
}

static void check_compatible(const char *o1, const entk_array *a, const char *o2, const entk_array *b) {
    int i;
    if (row_size(a) != row_size(b))
        die(1, "%s and %s: inputs differ in size per example (%zu vs %zu)", o1, o2, row_size(a), row_size(b));
    for (i = 1; i < a->ndim && i < b->ndim; ++i)
        if (a->shape[i] != b->shape[i]) die(1, "%s and %s: shapes differ in axis %d", o1, o2, i);
}

/* The library's status for an image architecture, with the reason spelled out where it helps. */
static void check_image(entk_status st, const cli_data *c, const entk_array *x, const char *what) {
    if (st == ENTK_ERR_ARCH)
        die(1, "--arch: not a valid image architecture (it must start with conv or lift, use gconv only "
               "after a lift, and reduce with gap, gpool or flatten before any dense layer)");
    if (st == ENTK_ERR_SHAPE && c->orbit != ENTK_ORBIT_NONE && x->shape[2] != x->shape[3])
        die(1, "--orbit: rotations need square images, not %zu x %zu", x->shape[2], x->shape[3]);
    if (st == ENTK_ERR_SHAPE)
        die(1, "%s: images of %zu x %zu x %zu are too small for the architecture's windows and pools", what,
            x->shape[1], x->shape[2], x->shape[3]);
    check(st, what);
}

/* Gram matrices between x1 and x2 (x2 NULL: x1 with itself); k and t may each be NULL. */
static void gram(const cli_data *c, const entk_array *x1, const entk_array *x2, double *k, double *t,
                 const char *what) {
    entk_status st;
    size_t n2 = x2 ? x2->shape[0] : x1->shape[0];
    progress_on(what);
    if (c->domain == DOMAIN_IMAGE) {
        st = entk_cn_kernel_orbit(c->arch, c->orbit, x1->data, x1->shape[0], x2 ? x2->data : NULL,
                                  x2 ? x2->shape[0] : 0, x1->shape[1], x1->shape[2], x1->shape[3], k, n2, t,
                                  n2, c->threads);
        entk_set_progress(NULL, NULL);
        check_image(st, c, x1, what);
        return;
    }
    st = entk_mlp_kernel(c->arch, x1->data, x1->shape[0], x2 ? x2->data : NULL, x2 ? x2->shape[0] : 0,
                         row_size(x1), k, n2, t, n2, c->threads);
    entk_set_progress(NULL, NULL);
    check(st, what);
}

/* Per-input diagonals K(x,x), Theta(x,x); either may be NULL. */
static void gram_diag(const cli_data *c, const entk_array *x, double *k, double *t, const char *what) {
    size_t i, d = row_size(x);
    if (c->domain == DOMAIN_MLP) {
        check(entk_mlp_diag(c->arch, x->data, x->shape[0], d, k, t), what);
        return;
    }
    for (i = 0; i < x->shape[0]; ++i) { /* one 1 x 1 (orbit) Gram per input */
        double kv, tv;
        entk_status st = entk_cn_kernel_orbit(c->arch, c->orbit, x->data + i * d, 1, x->data + i * d, 1,
                                              x->shape[1], x->shape[2], x->shape[3], &kv, 1, &tv, 1, 1);
        check_image(st, c, x, what);
        if (k) k[i] = kv;
        if (t) t[i] = tv;
    }
}

/* ---- commands ------------------------------------------------------------------------------- */

static void setup(const cli_opts *o, entk_arch *arch, cli_data *c) {
    char err[256];
    if (!o->arch) die(2, "--arch is required");
    if (entk_arch_parse(o->arch, arch, err, sizeof err)) die(1, "--arch: %s", err);
    c->arch = arch;
    c->domain = domain_of(arch);
    c->threads = o->threads;
    c->orbit = ENTK_ORBIT_NONE;
    if (o->orbit) {
        if (!strcmp(o->orbit, "c4")) c->orbit = ENTK_ORBIT_C4;
        else if (!strcmp(o->orbit, "d4")) c->orbit = ENTK_ORBIT_D4;
        else if (strcmp(o->orbit, "none")) die(2, "--orbit: '%s' is not none, c4 or d4", o->orbit);
        if (c->orbit != ENTK_ORBIT_NONE && c->domain != DOMAIN_IMAGE)
            die(2, "--orbit: only image architectures have rotations to average over");
    }
    if (c->domain == DOMAIN_MLP) {
        int l;
        if (arch->layer[0].kind != ENTK_LAYER_DENSE)
            die(1, "--arch: an MLP starts with a dense layer, not '%s'", entk_layer_name(&arch->layer[0]));
        for (l = 1; l < arch->n_layers; ++l)
            if (arch->layer[l].kind != ENTK_LAYER_DENSE && arch->layer[l].kind != ENTK_LAYER_NONLIN)
                die(1, "--arch: layer '%s' cannot follow MLP layers", entk_layer_name(&arch->layer[l]));
    }
}

static int cmd_kernel(const cli_opts *o) {
    entk_arch arch;
    cli_data c;
    entk_array x1, x2;
    double *k = NULL, *t = NULL;
    size_t shape[2];
    setup(o, &arch, &c);
    if (!o->x1) die(2, "kernel: --x1 is required");
    if (!o->nngp && !o->ntk) die(2, "kernel: give --nngp and/or --ntk output files");
    load("--x1", o->x1, &x1);
    check_input(&c, "--x1", &x1);
    if (o->x2) {
        load("--x2", o->x2, &x2);
        check_input(&c, "--x2", &x2);
        check_compatible("--x1", &x1, "--x2", &x2);
    }
    shape[0] = x1.shape[0];
    shape[1] = o->x2 ? x2.shape[0] : x1.shape[0];
    if (o->nngp) k = alloc_matrix(shape[0], shape[1], "kernel");
    if (o->ntk) t = alloc_matrix(shape[0], shape[1], "kernel");
    gram(&c, &x1, o->x2 ? &x2 : NULL, k, t, "kernel");
    if (o->nngp) save("--nngp", o->nngp, k, 2, shape);
    if (o->ntk) save("--ntk", o->ntk, t, 2, shape);
    free(k);
    free(t);
    entk_array_free(&x1);
    if (o->x2) entk_array_free(&x2);
    return 0;
}

static int cmd_predict(const cli_opts *o);

static int cmd_info(void) {
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

int main(int argc, char **argv) {
    cli_opts o;
    if (argc < 2) { fputs(usage_text, stderr); return 2; }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) { printf("entk %s\n", ENTK_VERSION_STRING); return 0; }
    parse_opts(argc, argv, &o);
    if (!strcmp(argv[1], "kernel")) return cmd_kernel(&o);
    if (!strcmp(argv[1], "predict")) return cmd_predict(&o);
    if (!strcmp(argv[1], "info")) return cmd_info();
    die(2, "unknown command '%s' (kernel, predict, info)", argv[1]);
    return 2;
}

/* predict: kernels, then the predictor of SPEC §3. With --kernel ntk the mean is the NTK
 * gradient-descent mean and --variance the NTK-ensemble predictive variance (needs K too); with
 * --kernel nngp the NNGP posterior mean and variance. */
static int cmd_predict(const cli_opts *o) {
    entk_arch arch;
    cli_data c;
    entk_array xtr, ytr, xte;
    entk_kernels kk, kt;
    entk_predict_opts po = entk_predict_opts_default();
    entk_predict_info info;
    int ntk, need_k, need_t, want_var;
    size_t n, m, k, shape[2];
    double *k_tr = NULL, *k_te = NULL, *k_d = NULL, *t_tr = NULL, *t_te = NULL, *mean, *var = NULL;
    entk_status st;
    setup(o, &arch, &c);
    if (!o->train_x || !o->train_y || !o->test_x || !o->out)
        die(2, "predict: --train-x, --train-y, --test-x and --out are required");
    if (strcmp(o->kernel, "ntk") && strcmp(o->kernel, "nngp"))
        die(2, "--kernel: '%s' is not ntk or nngp", o->kernel);
    ntk = !strcmp(o->kernel, "ntk");
    want_var = o->variance != NULL;
    need_t = ntk;
    need_k = !ntk || want_var;
    load("--train-x", o->train_x, &xtr);
    check_input(&c, "--train-x", &xtr);
    load("--train-y", o->train_y, &ytr);
    load("--test-x", o->test_x, &xte);
    check_input(&c, "--test-x", &xte);
    check_compatible("--train-x", &xtr, "--test-x", &xte);
    n = xtr.shape[0];
    m = xte.shape[0];
    if (ytr.ndim != 1 && ytr.ndim != 2) die(1, "--train-y: expected N or N x k targets, got %d axes", ytr.ndim);
    if (ytr.shape[0] != n) die(1, "--train-y: %zu targets for %zu training inputs", ytr.shape[0], n);
    k = ytr.ndim == 2 ? ytr.shape[1] : 1;
    if (k == 0) die(1, "--train-y: no target columns");
    if (need_k) {
        k_tr = alloc_matrix(n, n, "predict");
        k_te = alloc_matrix(m, n, "predict");
        if (want_var) k_d = alloc_matrix(m, 1, "predict");
    }
    if (need_t) {
        t_tr = alloc_matrix(n, n, "predict");
        t_te = alloc_matrix(m, n, "predict");
    }
    gram(&c, &xtr, NULL, k_tr, t_tr, "train kernel");
    gram(&c, &xte, &xtr, k_te, t_te, "test kernel");
    if (want_var) gram_diag(&c, &xte, k_d, NULL, "test diagonal");
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
    po.diag_reg_absolute = o->diag_reg_absolute;
    mean = alloc_matrix(m, k, "predict");
    if (want_var) var = alloc_matrix(m, 1, "predict");
    if (ntk && !want_var) st = entk_predict_mean(&kt, k, ytr.data, k, &po, mean, k, &info);
    else if (ntk) st = entk_predict_ntk_ensemble(&kk, &kt, k, ytr.data, k, &po, mean, k, var, NULL, 0, &info);
    else st = entk_predict_nngp(&kk, k, ytr.data, k, &po, mean, k, var, NULL, 0, &info);
    if (st == ENTK_ERR_NOT_PD)
        die(1, "predict: the %s train matrix is not positive definite (minor %zu), even with jitter; "
               "raise --diag-reg", o->kernel, info.not_pd_order);
    check(st, "predict");
    shape[0] = m;
    shape[1] = k;
    save("--out", o->out, mean, 2, shape);
    if (want_var) save("--variance", o->variance, var, 1, shape);
    fprintf(stderr, "entk: predicted %zu x %zu with %s at t=%g; diag_reg %g (%s) = %.3g added%s",
            m, k, o->kernel, o->time, o->diag_reg, o->diag_reg_absolute ? "absolute" : "relative to mean diagonal",
            info.reg, info.jitter > 0 ? "" : "\n");
    if (info.jitter > 0) fprintf(stderr, "; jitter %.3g added after %d failed Cholesky tries\n", info.jitter, info.jitter_tries);
    free(k_tr); free(k_te); free(k_d); free(t_tr); free(t_te); free(mean); free(var);
    entk_array_free(&xtr); entk_array_free(&ytr); entk_array_free(&xte);
    return 0;
}
