/* entk - program machinery for Gram matrices on disk: the .npy Gram read block by block with
 * positioned reads, the t = inf solve's scaling, regulariser and jitter escalation as the library's
 * predictors do them (entk.h 9.8), and the out-of-core blocked Cholesky of `entk predict --ooc`.
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

#endif /* ENTK_SOLVE_H */
