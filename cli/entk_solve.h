/* entk - program machinery for Gram matrices on disk: the .npy Gram read block by block with
 * positioned reads, the t = inf solve's scaling, regulariser and jitter escalation as the library's
 * predictors do them (entk.h 9.8), the out-of-core blocked Cholesky of `entk predict --ooc`, and
 * what every Gram-file prediction shares (option checks, shapes, targets, writing the mean).
 * Included by cli/entk_cli.c after its die(), check() and option table, and so shared by `entk` and
 * `entk-mpi` (cli/entk_mpi.c includes entk_cli.c): one copy of the file reading and the jitter policy.
 * File and disk machinery lives here, not in the library (the library never touches a file it was not
 * asked to read whole); the block operations it needs are the library's (entk_cholesky,
 * entk_chol_forward/backward, entk_gemm, entk_npy_read_header). docs/conventions.md §3, §5.5. */
#ifndef ENTK_SOLVE_H
#define ENTK_SOLVE_H

#include <fcntl.h>

/* ---- a Gram matrix in a .npy file, read in blocks ------------------------------------------- */

typedef struct cli_gram {
    int fd;
    const char *opt, *path;
    size_t rows, cols, off; /* shape, byte offset of the data */
    int fortran;            /* Fortran order: column j is contiguous */
} cli_gram;

/* Files and buffers are the CLI's (cli_release closes and frees them), so a die() leaves nothing open
 * in the fuzz build either. */
static int own_fd(int fd) {
    int i;
    for (i = 0; i < 4; ++i)
        if (cli_owned_fds[i] < 0) return cli_owned_fds[i] = fd;
    close(fd);
    die(1, "internal: more than 4 files open");
    return -1;
}

static void close_fd(int *fd) {
    int i;
    for (i = 0; i < 4; ++i)
        if (cli_owned_fds[i] == *fd && *fd >= 0) cli_owned_fds[i] = -1;
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static double *scratch(size_t count, const char *what) {
    if (count > cli_scratch_len) {
        double *p = (double *)realloc(cli_scratch, count * sizeof *p);
        if (!p) die(1, "%s: out of memory for a block of %zu values", what, count);
        cli_scratch = p;
        cli_scratch_len = count;
    }
    return cli_scratch;
}

static void gram_close(cli_gram *g) { close_fd(&g->fd); }

/* Open a 2-D little-endian float64 .npy file for positioned reads: the header only, and the file length
 * checked against it (no trailing bytes, nothing missing). */
static void gram_open(const char *opt, const char *path, cli_gram *g) {
    unsigned char buf[65536];
    char err[256];
    entk_npy_header h;
    struct stat sb;
    ssize_t got;
    size_t len = 0;
    entk_status st;
    g->opt = opt;
    g->path = path;
    cli_fuzz_check_path(path);
    if ((g->fd = open(path, O_RDONLY)) < 0) die(1, "%s %s: cannot open: %s", opt, shown(path), strerror(errno));
    own_fd(g->fd);
    if (fstat(g->fd, &sb) || !S_ISREG(sb.st_mode)) die(1, "%s %s: not a regular file (positioned reads need one)", opt, shown(path));
    while (len < sizeof buf && (got = pread(g->fd, buf + len, sizeof buf - len, (off_t)len)) != 0) {
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) die(1, "%s %s: cannot read: %s", opt, shown(path), strerror(errno));
        len += (size_t)got;
    }
    if ((st = entk_npy_read_header(buf, len, &h, err, sizeof err)))
        die(1, "%s %s: %s", opt, shown(path), err[0] ? err : entk_status_string(st));
    if (h.ndim != 2) die(1, "%s %s: expected a 2-D Gram matrix, got %d axes", opt, shown(path), h.ndim);
    if (h.type != 'd' || h.swap)
        die(1, "%s %s: a Gram read from disk must be little-endian float64 ('<f8', what entk and NumPy write)", opt,
            shown(path));
    if ((unsigned long long)sb.st_size != (unsigned long long)h.data_offset + (unsigned long long)h.size * 8)
        die(1, "%s %s: the file has %lld bytes, its header announces %zu + %zu x %zu x 8", opt, shown(path),
            (long long)sb.st_size, h.data_offset, h.shape[0], h.shape[1]);
    g->rows = h.shape[0];
    g->cols = h.shape[1];
    g->off = h.data_offset;
    g->fortran = h.fortran_order;
}

static void pread_all(const cli_gram *g, void *dst, size_t bytes, size_t at) {
    unsigned char *p = (unsigned char *)dst;
    while (bytes) {
        ssize_t got = pread(g->fd, p, bytes, (off_t)at);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) die(1, "%s %s: cannot read: %s", g->opt, shown(g->path), strerror(errno));
        if (got == 0) die(1, "%s %s: the file shrank while being read", g->opt, shown(g->path));
        p += got;
        at += (size_t)got;
        bytes -= (size_t)got;
    }
}

/* The block rows r0..r0+nr, columns c0..c0+nc into out[(r - r0) rs + (c - c0) cs], times 2^e (exact).
 * lower: only entries with c <= r are read (the rest are set to 0), the entries the library's
 * predictors read of a train matrix. Every value read must be finite. */
static void gram_read(const cli_gram *g, size_t r0, size_t nr, size_t c0, size_t nc, double *out, size_t rs,
                      size_t cs, int e, int lower) {
    const size_t lines = g->fortran ? nc : nr, span = g->fortran ? nr : nc;
    double *buf = scratch(span ? span : 1, g->opt);
    size_t a, b;
    for (a = 0; a < lines; ++a) {
        /* line a: row r0 + a (C order) or column c0 + a (Fortran order); [lo, hi) of its span is read */
        size_t lo = 0, hi = span;
        if (lower && !g->fortran) hi = r0 + a + 1 <= c0 ? 0 : r0 + a + 1 - c0 < span ? r0 + a + 1 - c0 : span;
        if (lower && g->fortran) lo = c0 + a <= r0 ? 0 : c0 + a - r0 < span ? c0 + a - r0 : span;
        if (hi > lo) {
            const size_t r = g->fortran ? r0 + lo : r0 + a, c = g->fortran ? c0 + a : c0 + lo;
            const size_t at = g->fortran ? c * g->rows + r : r * g->cols + c;
            pread_all(g, buf + lo, (hi - lo) * sizeof *buf, g->off + at * sizeof *buf);
        }
        for (b = 0; b < span; ++b) {
            const size_t i = g->fortran ? b : a, j = g->fortran ? a : b;
            double v = 0.0;
            if (b >= lo && b < hi) {
                v = buf[b];
                if (!(v - v == 0))
                    die(1, "%s %s: value at (%zu, %zu) is %s", g->opt, shown(g->path), r0 + i, c0 + j,
                        v != v ? "NaN" : "infinite");
                v = ldexp(v, e);
            }
            out[i * rs + j * cs] = v;
        }
    }
}

/* ---- the t = inf solve, as the library's predictors do it ------------------------------------
 * entk.h 9.8 (entk__kinv_build): the train matrix plus reg I is scaled by the even power of two 2^e
 * that brings its largest |entry| into [0.25, 1); jitter is counted in units of the scaled mean
 * |diagonal|, escalated x10 per failed try from jitter_start to jitter_max (at most 32 tries); a pivot
 * d with d^2 <= n eps max|diagonal| counts as a failed minor (dpstrf's rank rule). The out-of-core and
 * the distributed factorisations differ from entk_cholesky only in the order of their sums. */

typedef struct cli_spd {
    size_t n;
    int e;            /* S = 2^e (K + reg I) */
    double reg, reg_s; /* reg, and reg in the units of S */
    double unit;      /* jitter unit: the mean |diagonal| of S */
    double jit;       /* jitter of the current try, units of S */
    int tries;
    entk_predict_opts po;
} cli_spd;

/* amax: largest |entry| of the lower triangle; tr: the trace; absdiag: sum of |diagonal|; all unscaled. */
static void spd_init(cli_spd *s, size_t n, double amax, double tr, double absdiag, const cli_opts *o) {
    s->n = n;
    s->po = entk_predict_opts_default();
    s->reg = o->val[OPT_DIAG_REG_ABS] ? o->diag_reg : o->diag_reg * tr / (double)n;
    if (s->reg > amax) amax = s->reg;
    s->e = 0;
    if (amax > 0) {
        int ex;
        (void)frexp(amax, &ex);
        s->e = ex % 2 ? -ex - 1 : -ex;
    }
    s->reg_s = ldexp(s->reg, s->e);
    absdiag = ldexp(absdiag, s->e);
    s->unit = absdiag > 0 ? absdiag / (double)n : amax > 0 ? ldexp(amax, s->e) : 1.0;
    s->jit = 0;
    s->tries = 0;
}

/* After a failed try: the next jitter, or 0 when the escalation is over. */
static int spd_next(cli_spd *s) {
    const double top = s->po.jitter_max * s->unit;
    if (s->tries == 0) s->jit = fmax(s->po.jitter_start * s->unit, DBL_MIN);
    else if (s->tries == 31) s->jit = top;
    else s->jit *= 10.0;
    if (s->jit > top * (1.0 + 1e-9) || s->tries == 32) return 0;
    ++s->tries;
    return 1;
}

static void spd_fail(size_t order) {
    die(1, "predict: the train Gram is not positive definite (minor %zu), even with jitter; raise --diag-reg", order);
}

/* The mean m x k = K_test (2^e z), z = S^-1 y (n x k), as entk__predict_mean_with: the 2^e goes in before
 * the product for a large kernel (e < 0), after it for a small one. Test rows are read rows at a time. */
static void spd_test_product(const cli_spd *s, const cli_gram *gt, size_t i0, size_t i1, size_t rows, double *z,
                             size_t k, double *mean) {
    const size_t n = s->n;
    double *blk = alloc_matrix(rows ? rows : 1, n, "predict: test rows");
    size_t i, j;
    if (s->e < 0)
        for (i = 0; i < n * k; ++i) z[i] = ldexp(z[i], s->e);
    for (i = i0; i < i1; i += rows) {
        const size_t r = i1 - i < rows ? i1 - i : rows;
        gram_read(gt, i, r, 0, n, blk, n, 1, 0, 0);
        for (j = 0; j < r * k; ++j) mean[(i - i0) * k + j] = 0.0;
        check(entk_gemm(r, k, n, 1.0, blk, n, 0, z, k, 0, mean + (i - i0) * k, k), "predict");
    }
    if (s->e > 0)
        for (i = 0; i < (i1 - i0) * k; ++i) mean[i] = ldexp(mean[i], s->e);
}

/* ---- out-of-core Cholesky (one machine, the Gram on disk) -----------------------------------
 * Left-looking by column panels of width b: panel p (rows p0..n, columns p0..p1 of the lower triangle)
 * is read from the .npy file, updated with every earlier panel's rows p0..n, factored (diagonal
 * block: entk_cholesky; below it: L21 = A21 L11^-T by forward substitution) and written to a scratch
 * file beside --out, unlinked at once so a killed run leaves nothing behind. The factor file stores
 * panel q as its rows q0..n, each bq wide, one after another: every read is one contiguous pread.
 * Working set: two panels (2 n b doubles); disk: the lower triangle, about n^2/2 doubles. */

typedef struct cli_ooc {
    int fd;                 /* factor file, already unlinked */
    size_t n, b, np;
    double *w, *v;          /* two (n x b) panels */
} cli_ooc;

static size_t ooc_base(const cli_ooc *f, size_t q) { /* doubles before panel q: (n - q' b) b over q' < q */
    return q * f->n * f->b - f->b * f->b * (q * (q ? q - 1 : 0) / 2);
}

static void ooc_io(const cli_ooc *f, double *p, size_t count, size_t at, int write) {
    unsigned char *c = (unsigned char *)p;
    size_t bytes = count * sizeof *p, off = at * sizeof *p;
    while (bytes) {
        ssize_t got = write ? pwrite(f->fd, c, bytes, (off_t)off) : pread(f->fd, c, bytes, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            die(1, "predict --ooc: the factor file beside --out: cannot %s: %s", write ? "write" : "read",
                got < 0 ? strerror(errno) : "short transfer");
        c += got;
        off += (size_t)got;
        bytes -= (size_t)got;
    }
}

/* One try of the factorisation of S + jit I; 0, or the order of the first failed minor or pivot. */
static size_t ooc_factor(cli_ooc *f, const cli_gram *g, const cli_spd *s, const double *diag_s) {
    const size_t n = f->n, b = f->b;
    double dmax = 0, ptol;
    size_t p, q, i, j;
    for (i = 0; i < n; ++i) dmax = fmax(dmax, fabs(diag_s[i] + s->reg_s + s->jit));
    ptol = (double)n * DBL_EPSILON * dmax;
    for (p = 0; p < f->np; ++p) {
        const size_t p0 = p * b, bp = n - p0 < b ? n - p0 : b, rows = n - p0;
        size_t ord = 0;
        entk_status st;
        gram_read(g, p0, rows, p0, bp, f->w, bp, 1, s->e, 1);
        for (i = 0; i < bp; ++i) f->w[i * bp + i] += s->reg_s + s->jit;
        for (q = 0; q < p; ++q) {
            ooc_io(f, f->v, rows * b, ooc_base(f, q) + (p0 - q * b) * b, 0);
            check(entk_gemm(rows, bp, b, -1.0, f->v, b, 0, f->v, b, 1, f->w, bp), "predict --ooc");
        }
        st = entk_cholesky(bp, f->w, bp, &ord);
        if (st == ENTK_ERR_NOT_PD) return p0 + ord;
        check(st, "predict --ooc");
        for (i = 0; i < bp; ++i) {
            if (!(f->w[i * bp + i] * f->w[i * bp + i] > ptol)) return p0 + i + 1;
            for (j = i + 1; j < bp; ++j) f->w[i * bp + j] = 0.0;
        }
        if (rows > bp) { /* L21^T = L11^-1 A21^T, through v as the transposed block */
            const size_t r2 = rows - bp;
            for (i = 0; i < r2; ++i)
                for (j = 0; j < bp; ++j) f->v[j * r2 + i] = f->w[(bp + i) * bp + j];
            check(entk_chol_forward(bp, f->w, bp, r2, f->v, r2), "predict --ooc");
            for (i = 0; i < r2; ++i)
                for (j = 0; j < bp; ++j) f->w[(bp + i) * bp + j] = f->v[j * r2 + i];
        }
        ooc_io(f, f->w, rows * bp, ooc_base(f, p), 1);
    }
    return 0;
}

/* z (n x k) <- S^-1 z with the factor on disk: forward panel by panel, then backward. */
static void ooc_solve(cli_ooc *f, double *z, size_t k) {
    const size_t n = f->n, b = f->b;
    size_t p;
    for (p = 0; p < f->np; ++p) {
        const size_t p0 = p * b, bp = n - p0 < b ? n - p0 : b, rows = n - p0;
        ooc_io(f, f->v, rows * bp, ooc_base(f, p), 0);
        check(entk_chol_forward(bp, f->v, bp, k, z + p0 * k, k), "predict --ooc");
        check(entk_gemm(rows - bp, k, bp, -1.0, f->v + bp * bp, bp, 0, z + p0 * k, k, 0, z + (p0 + bp) * k, k),
              "predict --ooc");
    }
    for (p = f->np; p-- > 0;) {
        const size_t p0 = p * b, bp = n - p0 < b ? n - p0 : b, rows = n - p0;
        ooc_io(f, f->v, rows * bp, ooc_base(f, p), 0);
        check(entk_gemm(bp, k, rows - bp, -1.0, f->v + bp * bp, bp, 1, z + (p0 + bp) * k, k, 0, z + p0 * k, k),
              "predict --ooc");
        check(entk_chol_backward(bp, f->v, bp, k, z + p0 * k, k), "predict --ooc");
    }
}

/* ---- predictions from Gram files (entk predict --train-gram, entk-mpi predict) ---------------
 * The kernels come from .npy files (entk kernel's outputs): the train Gram n x n (only its lower
 * triangle is read) and the test Gram m x n. The mean only: a variance needs both kernels and the test
 * diagonal, which Gram files alone do not give. */

typedef struct cli_targets {
    size_t n, k;
    int ndim;
    double *y, *mean, *scale; /* y: as given, or standardized; mean/scale: NULL without --standardize */
} cli_targets;

static void gram_predict_checks(const cli_opts *o, int mpi) {
    static const int files[] = {OPT_OUT, OPT_TRAIN_GRAM, OPT_TEST_GRAM, OPT_TRAIN_Y};
    static const int refused[] = {OPT_ARCH, OPT_TRAIN_X, OPT_TEST_X, OPT_ORBIT, OPT_KERNEL, OPT_THREADS};
    size_t i;
    if (!o->val[OPT_TRAIN_GRAM] || !o->val[OPT_TEST_GRAM] || !o->val[OPT_TRAIN_Y] || !o->val[OPT_OUT])
        die(2, "predict: --train-gram, --test-gram, --train-y and --out are required%s", mpi ? "" : " with Gram files");
    for (i = 0; i < sizeof refused / sizeof refused[0]; ++i)
        if (o->val[refused[i]])
            die(2, "%s does not apply with --train-gram: the Gram files are the kernel", cli_opt_table[refused[i]].name);
    if (o->val[OPT_VARIANCE])
        die(2, "--variance: with --train-gram only the mean is computed (a variance needs both kernels and the test "
               "diagonal: use --arch with --train-x and --test-x)");
    if ((mpi || o->val[OPT_OOC]) && !(o->time > DBL_MAX))
        die(2, "%s solves at t = inf only (a finite --time needs the eigendecomposition of the whole train Gram); "
               "drop --time, or use entk predict --train-gram without --ooc", mpi ? "predict" : "--ooc");
    check_files(o, files, 1, 4);
}

/* The shapes: train n x n, test m x n. */
static void gram_predict_shapes(const cli_gram *gtr, const cli_gram *gte) {
    if (gtr->rows != gtr->cols || gtr->rows == 0)
        die(1, "--train-gram %s: a train Gram is n x n with n >= 1, not %zu x %zu", shown(gtr->path), gtr->rows, gtr->cols);
    if (gte->cols != gtr->rows)
        die(1, "--test-gram %s: %zu x %zu, but the train Gram is %zu x %zu (a test Gram is m x n)", shown(gte->path),
            gte->rows, gte->cols, gtr->rows, gtr->cols);
}

static void load_targets(const cli_opts *o, size_t n, cli_targets *t) {
    const entk_array *ytr = load("--train-y", o->val[OPT_TRAIN_Y]);
    if (ytr->ndim != 1 && ytr->ndim != 2) die(1, "--train-y: expected N or N x k targets, got %d axes", ytr->ndim);
    if (ytr->shape[0] != n) die(1, "--train-y: %zu targets for a %zu x %zu train Gram", ytr->shape[0], n, n);
    t->n = n;
    t->k = ytr->ndim == 2 ? ytr->shape[1] : 1;
    t->ndim = ytr->ndim;
    if (t->k == 0) die(1, "--train-y: no target columns");
    t->y = ytr->data;
    t->mean = t->scale = NULL;
    if (o->val[OPT_STANDARDIZE]) {
        t->y = alloc_matrix(n, t->k, "predict");
        t->mean = alloc_matrix(2, t->k, "predict");
        t->scale = t->mean + t->k;
        check(entk_targets_standardize(ytr->data, n, t->k, t->k, t->y, t->k, t->mean, t->scale), "--train-y");
    }
}

/* Back to target units, --out written, one line saying what was done. */
static void finish_mean(const cli_opts *o, const cli_targets *t, double *mean, size_t m, const char *how, double reg,
                        double jitter, double jitter_rel, int tries) {
    size_t i, j, shape[2];
    const size_t k = t->k;
    if (t->mean)
        for (i = 0; i < m; ++i)
            for (j = 0; j < k; ++j) {
                mean[i * k + j] = t->mean[j] + t->scale[j] * mean[i * k + j];
                if (!(fabs(mean[i * k + j]) <= DBL_MAX)) die(1, "predict: the mean in target units overflows");
            }
    shape[0] = m;
    shape[1] = k;
    save("--out", o->val[OPT_OUT], mean, 2, shape);
    fprintf(stderr, "%s: predicted %zu x %zu from --train-gram %s at t=%g%s; diag_reg %g (%s) = %.3g added%s", cli_prog,
            m, k, how, o->time, t->mean ? " (standardized targets)" : "", o->diag_reg,
            o->val[OPT_DIAG_REG_ABS] ? "absolute" : "relative to mean diagonal", reg, jitter_rel > 0 ? "" : "\n");
    if (jitter_rel > 0)
        fprintf(stderr, "; jitter %.3g (%.3g of the mean diagonal) added after %d failed Cholesky tries\n", jitter,
                jitter_rel, tries);
}

/* The out-of-core t = inf mean: panels as wide as the memory allows (--max-memory, else what is
 * available), the factor in an unlinked scratch file beside --out. */
static void predict_ooc(const cli_opts *o, const cli_gram *gtr, const cli_gram *gte, const cli_targets *t, double *mean,
                        cli_spd *sp) {
    const size_t n = gtr->rows, m = gte->rows, k = t->k;
    const char *why = "--max-memory", *out = o->val[OPT_OUT], *slash = strrchr(out, '/');
    size_t avail = o->max_memory ? o->max_memory : available_memory(&why), fixed, b, rows, i, j, first = 0;
    double amax = 0, tr = 0, absd = 0, *diag, *z;
    char tmpl[PATH_MAX], b1[32], b2[32];
    cli_ooc f;
    cli_spd s;
    sp->tries = 0;
    /* what stays in memory besides the panels: z, the diagonal (the targets and the mean are allocated) */
    fixed = add_bytes(matrix_bytes(n, k, "predict --ooc"), matrix_bytes(n, 1, "predict --ooc"), "predict --ooc");
    b = avail > fixed ? (avail - fixed) / 2 / (2 * n * sizeof(double)) : 0;
    rows = avail > fixed ? (avail - fixed) / 2 / (n * sizeof(double)) : 0;
    if (b == 0 || rows == 0)
        die(1, "predict --ooc: needs at least %s (two one-column panels of %zu rows, a test row and the targets) but %s "
               "is available (%s)", human(add_bytes(fixed, 5 * n * sizeof(double), "predict --ooc"), b1, sizeof b1), n,
            human(avail, b2, sizeof b2), why);
    if (b > n) b = n;
    if (rows > m) rows = m;
    f.n = n;
    f.b = b;
    f.np = (n + b - 1) / b;
    f.w = alloc_matrix(n, b, "predict --ooc");
    f.v = alloc_matrix(n, b, "predict --ooc");
    diag = alloc_matrix(n, 1, "predict --ooc");
    z = alloc_matrix(n, k, "predict --ooc");
    /* one pass over the lower triangle: its largest |entry|, the trace, the diagonal (all finite) */
    for (i = 0; i < f.np; ++i) {
        const size_t p0 = i * b, bp = n - p0 < b ? n - p0 : b, r = n - p0;
        gram_read(gtr, p0, r, p0, bp, f.w, bp, 1, 0, 1);
        for (j = 0; j < r * bp; ++j) amax = fmax(amax, fabs(f.w[j]));
        for (j = 0; j < bp; ++j) {
            diag[p0 + j] = f.w[j * bp + j];
            tr += diag[p0 + j];
            absd += fabs(diag[p0 + j]);
        }
    }
    spd_init(&s, n, amax, tr, absd, o);
    for (i = 0; i < n; ++i) diag[i] = ldexp(diag[i], s.e);
    if ((size_t)(slash ? slash - out + 1 : 0) + 32 > sizeof tmpl) die(1, "--out %s: path too long", shown(out));
    snprintf(tmpl, sizeof tmpl, "%.*s.entk-factor-XXXXXX", slash ? (int)(slash - out + 1) : 0, out);
    if ((f.fd = mkstemp(tmpl)) < 0)
        die(1, "predict --ooc: cannot create the factor file beside --out %s: %s", shown(out), strerror(errno));
    own_fd(f.fd);
    unlink(tmpl);
    for (;;) {
        const size_t ord = ooc_factor(&f, gtr, &s, diag);
        if (!ord) break;
        if (!first) first = ord;
        if (!spd_next(&s)) spd_fail(first);
    }
    memcpy(z, t->y, n * k * sizeof *z);
    ooc_solve(&f, z, k);
    close_fd(&f.fd);
    spd_test_product(&s, gte, 0, m, rows, z, k, mean);
    fprintf(stderr, "%s: predict --ooc: %zu panels of %zu columns (%s of memory for them)\n", cli_prog, f.np, b,
            human(2 * n * b * sizeof(double), b1, sizeof b1));
    *sp = s;
}

#endif /* ENTK_SOLVE_H */
