/* cli/entk_tiles.h - tiled, journaled, resumable Gram matrices: `entk kernel --tile/--resume/--rows/
 * --cols` (cli/entk_cli.c) and `entk-mpi kernel` (cli/entk_mpi.c). Program machinery, not library:
 * included by cli/entk_cli.c after its errors (die, check), files (load, same_file), memory checks and
 * the block driver gram_rect, so both programs share one copy of all of them.
 *
 * The outputs are .npy files created at their full size (a header from entk_npy_write_header, then a sparse
 * data area of ftruncate) and filled one R x R tile at a time by positioned writes, so a run holds only
 * a few tiles in memory and N is limited by disk. After a tile's values are in every output
 * (pwrite, then fdatasync), one fixed-size record naming the tile is appended to the journal
 * OUT.journal (OUT the first output), a text file whose header is the fingerprint of the run: hashes
 * of the architecture text and of the inputs' shapes and values, the orbit, the outputs, the block,
 * the tile size. --resume checks that header line by line (a mismatch names the field), drops a torn
 * last record, and computes only the tiles without a record: a run killed at any moment (SIGKILL) and
 * resumed writes the same bytes as one that was not. Format: docs/conventions.md §5.5.
 *
 * Bit-identity: every tile comes from gram_rect, whose entries are those of the whole Gram bit for bit.
 * For the symmetric Gram of x1 with itself (no --x2, no orbit) the whole Gram computes entry (i, j)
 * with i <= j and mirrors it; so a tile is cut into at most five pieces along the main diagonal: the
 * square on it from the symmetric driver, the parts above as they are, the parts below as the
 * transposes of blocks above. The whole symmetric Gram computes only the tiles on and above the
 * diagonal and writes each also transposed. */
#ifndef ENTK_TILES_H
#define ENTK_TILES_H

#include <fcntl.h>
#include <sys/types.h>
#include <time.h>

#define TILES_DEFAULT 256                  /* --tile when not given */
#define TILES_MAX_COUNT ((size_t)1 << 26)  /* tiles in one grid (one byte each in memory) */
#define TILES_HEADER_MAX 1024
#define TILES_REC_LEN 28                   /* "T %016zx %08x\n": tile id, check */

typedef struct tiles_run {
    const cli_data *c;
    const entk_array *x1, *x2;
    size_t r0, r1, c0, c1;    /* the block of the whole Gram: rows r0..r1-1, columns c0..c1-1 */
    size_t tile, ntr, ntc;    /* tile size; tiles down and across the block */
    int sym;                  /* x1 with itself and no orbit: entry (i, j), i > j, is entry (j, i) */
    int mirror;               /* the whole symmetric Gram: tiles ti <= tj only, each written twice */
    int nout;
    const char *path[2], *opt[2];
    int is_k[2];              /* output o is the NNGP (else the NTK) */
    int fd[2];                /* the outputs (-1: closed) */
    size_t hdr_len;           /* where the data start in each output */
    unsigned char hdr[256];   /* the .npy header of each output */
    char jpath[PATH_MAX];
    int jfd;                  /* the journal, O_APPEND (-1: closed or not this process's) */
    char jhead[TILES_HEADER_MAX]; /* the journal header this run writes or expects */
    uint64_t jkey;            /* hash of jhead: each record's check is tied to it */
    unsigned char *done;      /* ntr * ntc bytes: 1 when the tile's record is in the journal */
    size_t todo, ndone;       /* tiles of the run; of them, done */
    double *buf[2], *tmp;     /* one tile per output, and a transposed piece */
    unsigned char *io;        /* one tile's bytes as stored (little-endian) */
} tiles_run;

/* the run of this process; its files are closed by tiles_close (cli_release calls it, for the fuzz
 * build's die) */
static tiles_run tiles_cur = {.fd = {-1, -1}, .jfd = -1};

static void tiles_close(void) {
    int i;
    for (i = 0; i < 2; ++i)
        if (tiles_cur.fd[i] >= 0) close(tiles_cur.fd[i]);
    if (tiles_cur.jfd >= 0) close(tiles_cur.jfd);
    tiles_cur.fd[0] = tiles_cur.fd[1] = tiles_cur.jfd = -1;
}

/* --rows / --cols: a:b, decimal, 0 <= a < b (b excluded); the bounds against N come later. */
static void parse_range(const char *opt, const char *v, size_t *r) {
    char *end;
    unsigned long long a, b;
    const char *p = v;
    if (*p < '0' || *p > '9') goto bad;
    errno = 0;
    a = strtoull(p, &end, 10);
    if (errno || *end != ':' || end[1] < '0' || end[1] > '9') goto bad;
    p = end + 1;
    b = strtoull(p, &end, 10);
    if (errno || *end || a >= b || b > SIZE_MAX) goto bad;
    r[0] = (size_t)a;
    r[1] = (size_t)b;
    return;
bad:
    die(2, "%s: '%s' is not a range a:b (0-based, b excluded, 0 <= a < b), e.g. 0:1000", opt, shown(v));
}

/* --tile R: an integer from 1 to 2^31 - 1 (a tile is R x R doubles per output). */
static size_t parse_tile(const char *v) {
    long x = parse_int(v, 1, 2147483647L);
    if (x < 0) die(2, "--tile: '%s' is not a tile size from 1 to 2147483647", shown(v));
    return (size_t)x;
}

/* ---- fingerprint ---------------------------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; ++i) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}
#define FNV_INIT 14695981039346656037ULL

/* An input's hash: its shape and its values (as doubles, in the byte order of the .npy data). */
static uint64_t array_hash(const entk_array *a) {
    uint64_t h = FNV_INIT;
    unsigned char b[8];
    size_t i;
    int k;
    for (k = 0; k < a->ndim; ++k) {
        uint64_t s = a->shape[k];
        for (i = 0; i < 8; ++i) b[i] = (unsigned char)(s >> (8 * i));
        h = fnv1a(h, b, 8);
    }
    for (i = 0; i < a->size; ++i) {
        uint64_t u;
        memcpy(&u, &a->data[i], 8);
        for (k = 0; k < 8; ++k) b[k] = (unsigned char)(u >> (8 * k));
        h = fnv1a(h, b, 8);
    }
    return h;
}

static int shape_text(const entk_array *a, char *s, size_t cap) {
    int n = 0, k;
    for (k = 0; k < a->ndim; ++k) n += snprintf(s + n, cap - (size_t)n, k ? "x%zu" : "%zu", a->shape[k]);
    return n;
}

/* The journal header: one "key value" line per thing the numbers depend on, then "end". */
static void tiles_header(tiles_run *r, const cli_opts *o) {
    static const char *const orbits[] = {"none", "c4", "d4"};
    const char *arch = o->val[OPT_ARCH];
    char s1[200], s2[200];
    int n;
    shape_text(r->x1, s1, sizeof s1);
    if (r->x2) shape_text(r->x2, s2, sizeof s2);
    n = snprintf(r->jhead, sizeof r->jhead,
                 "entk-journal 1\n"
                 "arch %016llx\n"
                 "orbit %s\n"
                 "x1 %016llx %s\n"
                 "x2 %s%016llx %s\n"
                 "outputs %s%s%s\n"
                 "rows %zu:%zu\n"
                 "cols %zu:%zu\n"
                 "tile %zu\n"
                 "end\n",
                 (unsigned long long)fnv1a(FNV_INIT, arch, strlen(arch)), orbits[r->c->orbit],
                 (unsigned long long)array_hash(r->x1), s1, r->x2 ? "" : "none ",
                 (unsigned long long)(r->x2 ? array_hash(r->x2) : 0), r->x2 ? s2 : "-",
                 o->val[OPT_NNGP] ? "nngp" : "", o->val[OPT_NNGP] && o->val[OPT_NTK] ? "," : "",
                 o->val[OPT_NTK] ? "ntk" : "", r->r0, r->r1, r->c0, r->c1, r->tile);
    if (n < 0 || (size_t)n >= sizeof r->jhead) die(1, "kernel: journal header too long");
    r->jkey = fnv1a(FNV_INIT, r->jhead, (size_t)n);
}

/* A record: "T", the tile id in 16 hex digits, a check (FNV-1a 64 of the id's 8 little-endian bytes,
 * from the header's hash; its low 32 bits), newline: 28 bytes. */
static void tiles_record_text(const tiles_run *r, size_t id, char *rec) {
    unsigned char b[8];
    uint64_t h;
    int i;
    for (i = 0; i < 8; ++i) b[i] = (unsigned char)((uint64_t)id >> (8 * i));
    h = fnv1a(r->jkey, b, 8);
    snprintf(rec, TILES_REC_LEN + 1, "T %016zx %08x\n", id, (unsigned)(h & 0xffffffffu));
}

/* ---- the plan ------------------------------------------------------------------------------- */

static size_t tiles_ids(const tiles_run *r) { return r->ntr * r->ntc; }

static int tiles_in_run(const tiles_run *r, size_t id) { return !r->mirror || id / r->ntc <= id % r->ntc; }

/* The run's block, tiles, outputs and journal header, from the options and the loaded inputs. */
static void tiles_plan(tiles_run *r, const cli_opts *o, const cli_data *c, const entk_array *x1,
                       const entk_array *x2) {
    const size_t n1 = x1->shape[0], n2 = x2 ? x2->shape[0] : n1;
    size_t shape[2], id;
    entk_status st;
    memset(r, 0, sizeof *r);
    r->fd[0] = r->fd[1] = r->jfd = -1;
    r->c = c;
    r->x1 = x1;
    r->x2 = x2;
    r->r0 = 0; r->r1 = n1; r->c0 = 0; r->c1 = n2;
    if (o->val[OPT_ROWS]) {
        r->r0 = o->rows[0]; r->r1 = o->rows[1];
        if (r->r1 > n1) die(2, "--rows: %zu:%zu goes beyond the %zu inputs of --x1", r->r0, r->r1, n1);
    }
    if (o->val[OPT_COLS]) {
        r->c0 = o->cols[0]; r->c1 = o->cols[1];
        if (r->c1 > n2) die(2, "--cols: %zu:%zu goes beyond the %zu inputs of %s", r->c0, r->c1, n2, x2 ? "--x2" : "--x1");
    }
    r->tile = o->tile ? o->tile : TILES_DEFAULT;
    r->ntr = (r->r1 - r->r0 + r->tile - 1) / r->tile;
    r->ntc = (r->c1 - r->c0 + r->tile - 1) / r->tile;
    if (r->ntr > TILES_MAX_COUNT / r->ntc)
        die(2, "--tile: %zu x %zu tiles of %zu are more than %zu; take larger tiles", r->ntr, r->ntc, r->tile,
            (size_t)TILES_MAX_COUNT);
    r->sym = !x2 && c->orbit == ENTK_ORBIT_NONE;
    r->mirror = r->sym && r->r0 == 0 && r->r1 == n1 && r->c0 == 0 && r->c1 == n2;
    if (o->val[OPT_NNGP]) { r->is_k[r->nout] = 1; r->path[r->nout] = o->val[OPT_NNGP]; r->opt[r->nout++] = "--nngp"; }
    if (o->val[OPT_NTK]) { r->is_k[r->nout] = 0; r->path[r->nout] = o->val[OPT_NTK]; r->opt[r->nout++] = "--ntk"; }
    shape[0] = r->r1 - r->r0;
    shape[1] = r->c1 - r->c0;
    (void)matrix_bytes(shape[0], shape[1], "kernel"); /* the outputs' size must fit size_t and off_t */
    if ((unsigned long long)shape[0] * shape[1] > (unsigned long long)(INT64_MAX / 16))
        die(1, "kernel: a %zu x %zu output is larger than a file offset can reach", shape[0], shape[1]);
    if ((st = entk_npy_write_header(2, shape, r->hdr, sizeof r->hdr, &r->hdr_len))) check(st, "kernel");
    if (snprintf(r->jpath, sizeof r->jpath, "%s.journal", r->path[0]) >= (int)sizeof r->jpath)
        die(2, "%s: '%s' is too long a name for its journal", r->opt[0], shown(r->path[0]));
    {
        static const int others[] = {OPT_NNGP, OPT_NTK, OPT_X1, OPT_X2};
        int i;
        for (i = 0; i < 4; ++i)
            if (o->val[others[i]] && same_file(r->jpath, o->val[others[i]]))
                die(2, "%s: the journal '%s' would overwrite %s", r->opt[0], shown(r->jpath), cli_opt_table[others[i]].name);
    }
    tiles_header(r, o);
    for (id = 0; id < tiles_ids(r); ++id) r->todo += (size_t)tiles_in_run(r, id);
}

/* Bytes a tile needs: one tile per output, a transposed piece, the bytes as stored, and the library's
 * own working matrices of tile size (gram_extra's, for a tile). */
static size_t tiles_need(const tiles_run *r, int want_k) {
    const size_t t = r->tile;
    const size_t rr = t < r->r1 - r->r0 ? t : r->r1 - r->r0, cc = t < r->c1 - r->c0 ? t : r->c1 - r->c0;
    size_t one = matrix_bytes(rr > cc ? rr : cc, rr > cc ? rr : cc, "kernel"), need = 0;
    int i;
    for (i = 0; i < r->nout + 2; ++i) need = add_bytes(need, one, "kernel");
    if (r->c->domain == ENTK_DOMAIN_MLP && !want_k) need = add_bytes(need, one, "kernel");
    if (r->c->domain == ENTK_DOMAIN_IMAGE && r->c->orbit != ENTK_ORBIT_NONE)
        need = add_bytes(need, matrix_bytes(cc * (r->c->orbit == ENTK_ORBIT_C4 ? 4 : 8), row_size(r->x1), "kernel"),
                         "kernel");
    return need;
}

static void tiles_alloc(tiles_run *r) {
    const size_t t = r->tile;
    const size_t rr = t < r->r1 - r->r0 ? t : r->r1 - r->r0, cc = t < r->c1 - r->c0 ? t : r->c1 - r->c0;
    const size_t m = rr > cc ? rr : cc;
    int i;
    for (i = 0; i < r->nout; ++i) r->buf[i] = alloc_matrix(m, m, "kernel");
    r->tmp = alloc_matrix(m, m, "kernel");
    r->io = (unsigned char *)alloc_matrix(m, m, "kernel");
}

/* ---- files ---------------------------------------------------------------------------------- */

static void tiles_io_fail(const char *opt, const char *path, const char *what) {
    die(1, "%s %s: cannot %s: %s", opt, shown(path), what, strerror(errno));
}

static void pwrite_all(int fd, const void *p, size_t n, off_t off, const char *opt, const char *path) {
    const unsigned char *s = (const unsigned char *)p;
    while (n > 0) {
        ssize_t w = pwrite(fd, s, n, off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = ENOSPC;
            tiles_io_fail(opt, path, "write");
        }
        s += w;
        n -= (size_t)w;
        off += (off_t)w;
    }
}

static size_t read_all(int fd, void *p, size_t n, off_t off) {
    unsigned char *s = (unsigned char *)p;
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, s + got, n - got, off + (off_t)got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    return got;
}

static off_t tiles_file_size(const tiles_run *r) {
    return (off_t)r->hdr_len + (off_t)((r->r1 - r->r0) * (r->c1 - r->c0) * 8);
}

/* Open the outputs: create = at full size with the header (the values zero until written), else
 * check that each is the file the journal describes (size and header). */
static void tiles_open_outputs(tiles_run *r, int create) {
    int i;
    for (i = 0; i < r->nout; ++i) {
        struct stat sb;
        cli_fuzz_check_path(r->path[i]);
        r->fd[i] = open(r->path[i], O_RDWR | (create ? O_CREAT | O_TRUNC : 0), 0666);
        if (r->fd[i] < 0) tiles_io_fail(r->opt[i], r->path[i], create ? "create" : "open");
        if (fstat(r->fd[i], &sb)) tiles_io_fail(r->opt[i], r->path[i], "stat");
        if (!S_ISREG(sb.st_mode)) die(1, "%s %s: tiled outputs must be regular files", r->opt[i], shown(r->path[i]));
        if (create) {
            pwrite_all(r->fd[i], r->hdr, r->hdr_len, 0, r->opt[i], r->path[i]);
            if (ftruncate(r->fd[i], tiles_file_size(r))) tiles_io_fail(r->opt[i], r->path[i], "size");
            if (fdatasync(r->fd[i])) tiles_io_fail(r->opt[i], r->path[i], "sync");
        } else {
            unsigned char h[sizeof r->hdr];
            if (sb.st_size != tiles_file_size(r) || read_all(r->fd[i], h, r->hdr_len, 0) != r->hdr_len ||
                memcmp(h, r->hdr, r->hdr_len))
                die(1, "--resume: %s %s is not the output its journal %s describes (size or header differ); "
                       "run without --resume", r->opt[i], shown(r->path[i]), shown(r->jpath));
        }
    }
}

/* --resume: read the journal back if there is one (0 if there is none), check its header against
 * this run's, mark the tiles it records, drop a torn last record, and open it for appending. */
static int tiles_resume_journal(tiles_run *r) {
    const size_t hl = strlen(r->jhead);
    char *text = NULL;
    size_t len = 0, pos, id, torn_at;
    struct stat sb;
    int fd;
    cli_fuzz_check_path(r->jpath);
    if (stat(r->jpath, &sb) == 0) {
        fd = open(r->jpath, O_RDWR);
        if (fd < 0) tiles_io_fail("--resume", r->jpath, "open");
        r->jfd = fd;
        if (!S_ISREG(sb.st_mode) || (size_t)sb.st_size > hl + (tiles_ids(r) + 1) * 2 * TILES_REC_LEN)
            die(1, "--resume: %s is not an entk journal of this run (size)", shown(r->jpath));
        len = (size_t)sb.st_size;
        text = (char *)alloc_matrix(len / 8 + 1, 1, "kernel");
        if (read_all(fd, text, len, 0) != len) tiles_io_fail("--resume", r->jpath, "read");
        /* the header, line by line: the first line that differs names what changed */
        for (pos = 0; pos < hl;) {
            const char *e = strchr(r->jhead + pos, '\n');
            size_t ll = (size_t)(e - (r->jhead + pos)) + 1;
            if (pos + ll > len || memcmp(text + pos, r->jhead + pos, ll)) {
                char key[16];
                size_t kl = strcspn(r->jhead + pos, " \n");
                if (kl >= sizeof key) kl = sizeof key - 1;
                memcpy(key, r->jhead + pos, kl);
                key[kl] = 0;
                die(1, "--resume: journal %s is of another run: %s differs (%s); delete it to start afresh",
                    shown(r->jpath), key,
                    !strcmp(key, "arch") ? "--arch" : !strcmp(key, "x1") ? "--x1 shape or values"
                    : !strcmp(key, "x2") ? "--x2 shape or values" : !strcmp(key, "outputs") ? "--nngp/--ntk"
                    : !strcmp(key, "rows") ? "--rows" : !strcmp(key, "cols") ? "--cols"
                    : !strcmp(key, "tile") ? "--tile" : !strcmp(key, "orbit") ? "--orbit" : "format");
            }
            pos += ll;
        }
        /* the records: a torn last one (a kill inside its write) is dropped; anything else is damage */
        torn_at = len;
        for (pos = hl; pos < len; pos += TILES_REC_LEN) {
            char rec[TILES_REC_LEN + 1];
            unsigned long long v;
            int ok = pos + TILES_REC_LEN <= len && sscanf(text + pos, "T %16llx", &v) == 1 && v < tiles_ids(r);
            if (ok) {
                id = (size_t)v;
                tiles_record_text(r, id, rec);
                ok = !memcmp(rec, text + pos, TILES_REC_LEN) && tiles_in_run(r, id);
            }
            if (!ok) {
                if (pos + TILES_REC_LEN < len)
                    die(1, "--resume: journal %s is damaged at byte %zu; delete it to start afresh", shown(r->jpath), pos);
                torn_at = pos;
                break;
            }
            if (!r->done[id]) ++r->ndone;
            r->done[id] = 1;
        }
        if (torn_at < len && ftruncate(fd, (off_t)torn_at)) tiles_io_fail("--resume", r->jpath, "truncate");
        close(fd);
        r->jfd = -1;
        r->jfd = open(r->jpath, O_WRONLY | O_APPEND);
        if (r->jfd < 0) tiles_io_fail("--resume", r->jpath, "open");
        return 1;
    }
    return 0;
}

/* A new journal: its header under a temporary name, synced, then renamed (it appears whole or not at
 * all), opened for appending. */
static void tiles_new_journal(tiles_run *r) {
    const size_t hl = strlen(r->jhead);
    int fd;
    {
        char tmp[PATH_MAX + 8];
        snprintf(tmp, sizeof tmp, "%s.tmp", r->jpath);
        cli_fuzz_check_path(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd < 0) tiles_io_fail(r->opt[0], tmp, "create the journal");
        r->jfd = fd;
        pwrite_all(fd, r->jhead, hl, 0, r->opt[0], tmp);
        if (fdatasync(fd)) tiles_io_fail(r->opt[0], tmp, "sync");
        close(fd);
        r->jfd = -1;
        if (rename(tmp, r->jpath)) tiles_io_fail(r->opt[0], r->jpath, "create the journal");
        r->jfd = open(r->jpath, O_WRONLY | O_APPEND);
        if (r->jfd < 0) tiles_io_fail(r->opt[0], r->jpath, "open");
    }
}

/* Append the record of a finished tile (its values already in every output, synced). */
static void tiles_record(tiles_run *r, size_t id) {
    char rec[TILES_REC_LEN + 1];
    ssize_t w;
    tiles_record_text(r, id, rec);
    do w = write(r->jfd, rec, TILES_REC_LEN); while (w < 0 && errno == EINTR);
    if (w != TILES_REC_LEN) {
        if (w >= 0) errno = ENOSPC;
        tiles_io_fail("kernel: journal", r->jpath, "write");
    }
    if (!r->done[id]) ++r->ndone;
    r->done[id] = 1;
}

/* ---- one tile ------------------------------------------------------------------------------- */

static void tiles_bounds(const tiles_run *r, size_t id, size_t *i0, size_t *i1, size_t *j0, size_t *j1) {
    const size_t ti = id / r->ntc, tj = id % r->ntc;
    *i0 = r->r0 + ti * r->tile;
    *i1 = *i0 + r->tile < r->r1 ? *i0 + r->tile : r->r1;
    *j0 = r->c0 + tj * r->tile;
    *j1 = *j0 + r->tile < r->c1 ? *j0 + r->tile : r->c1;
}

/* Rows i0..i1-1, columns j0..j1-1 of the Gram into the tile buffers at (oi, oj) (leading dimension w).
 * kind: 0 as it is (x2, or above the diagonal), 1 the symmetric square on the diagonal, 2 below the
 * diagonal (the transpose of the block above). */
static void tiles_piece(tiles_run *r, int kind, size_t i0, size_t i1, size_t j0, size_t j1, size_t oi, size_t oj,
                        size_t w) {
    const entk_array *x2 = r->x2 ? r->x2 : r->x1;
    const size_t h = i1 - i0, wd = j1 - j0;
    double *ko = r->is_k[0] ? r->buf[0] : NULL, *to = r->is_k[r->nout - 1] ? NULL : r->buf[r->nout - 1];
    entk_status st;
    if (i0 >= i1 || j0 >= j1) return;
    if (kind == 0) {
        st = gram_rect(r->c, r->x1, i0, i1, x2, j0, j1, ko ? ko + oi * w + oj : NULL, w, to ? to + oi * w + oj : NULL, w);
    } else if (kind == 1) {
        st = gram_rect(r->c, r->x1, i0, i1, NULL, j0, j1, ko ? ko + oi * w + oj : NULL, w, to ? to + oi * w + oj : NULL,
                       w);
    } else { /* below: (i, j) = (j, i) of the block above, computed into tmp then transposed, per output */
        int o;
        for (o = 0; o < r->nout; ++o) {
            double *dst = r->buf[o];
            const int is_k = r->is_k[o];
            size_t i, j;
            st = gram_rect(r->c, r->x1, j0, j1, r->x1, i0, i1, is_k ? r->tmp : NULL, h, is_k ? NULL : r->tmp, h);
            check(st, "kernel");
            for (i = 0; i < h; ++i)
                for (j = 0; j < wd; ++j) dst[(oi + i) * w + oj + j] = r->tmp[j * h + i];
        }
        return;
    }
    check(st, "kernel");
}

/* The tile's values into r->buf (leading dimension: the tile's width). */
static void tiles_compute(tiles_run *r, size_t id) {
    size_t i0, i1, j0, j1, w, s, e;
    tiles_bounds(r, id, &i0, &i1, &j0, &j1);
    w = j1 - j0;
    if (!r->sym) {
        tiles_piece(r, 0, i0, i1, j0, j1, 0, 0, w);
        return;
    }
    /* rows above the diagonal band, the band itself (below, on, above the diagonal), rows below it */
    s = i0 > j0 ? i0 : j0;
    e = i1 < j1 ? i1 : j1;
    tiles_piece(r, 0, i0, i1 < j0 ? i1 : j0, j0, j1, 0, 0, w);
    if (s < e) {
        tiles_piece(r, 2, s, e, j0, s, s - i0, 0, w);
        tiles_piece(r, 1, s, e, s, e, s - i0, s - j0, w);
        tiles_piece(r, 0, s, e, e, j1, s - i0, e - j0, w);
    }
    tiles_piece(r, 2, i0 > j1 ? i0 : j1, i1, j0, j1, (i0 > j1 ? i0 : j1) - i0, 0, w);
}

static void store_le(unsigned char *dst, const double *src, size_t n) {
    size_t i;
    int b;
    for (i = 0; i < n; ++i) {
        uint64_t u;
        memcpy(&u, &src[i], 8);
        for (b = 0; b < 8; ++b) dst[8 * i + (size_t)b] = (unsigned char)(u >> (8 * b));
    }
}

/* Write the tile (and, for the whole symmetric Gram, its transpose) into every output, then sync. */
static void tiles_write(tiles_run *r, size_t id) {
    const size_t ncol = r->c1 - r->c0;
    size_t i0, i1, j0, j1, i, j, w, h;
    int o;
    tiles_bounds(r, id, &i0, &i1, &j0, &j1);
    w = j1 - j0;
    h = i1 - i0;
    for (o = 0; o < r->nout; ++o) {
        const double *b = r->buf[o];
        store_le(r->io, b, h * w);
        for (i = 0; i < h; ++i)
            pwrite_all(r->fd[o], r->io + i * w * 8, w * 8,
                       (off_t)r->hdr_len + (off_t)(((i0 + i - r->r0) * ncol + (j0 - r->c0)) * 8), r->opt[o], r->path[o]);
        if (r->mirror && i0 != j0) {
            for (j = 0; j < w; ++j)
                for (i = 0; i < h; ++i) r->tmp[j * h + i] = b[i * w + j];
            store_le(r->io, r->tmp, h * w);
            for (j = 0; j < w; ++j)
                pwrite_all(r->fd[o], r->io + j * h * 8, h * 8, (off_t)r->hdr_len + (off_t)(((j0 + j) * ncol + i0) * 8),
                           r->opt[o], r->path[o]);
        }
        if (fdatasync(r->fd[o])) tiles_io_fail(r->opt[o], r->path[o], "sync");
    }
}

/* ---- progress ------------------------------------------------------------------------------- */

static double tiles_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "\rentk: kernel tiles 12/40 (30%), ETA 1h02m" on a terminal: done of the run's tiles finished (or,
 * for entk-mpi, handed out), start of them finished before this run began at t0. */
static void tiles_progress(const tiles_run *r, size_t done, size_t start, double t0) {
    double el, eta;
    char e[32];
#ifndef ENTK_CLI_FUZZ
    if (!isatty(2)) return;
#else
    return;
#endif
    el = tiles_now() - t0;
    eta = done > start ? el / (double)(done - start) * (double)(r->todo - done) : -1;
    if (eta < 0) snprintf(e, sizeof e, "ETA --");
    else if (eta >= 3600) snprintf(e, sizeof e, "ETA %dh%02dm", (int)(eta / 3600), (int)(eta / 60) % 60);
    else snprintf(e, sizeof e, "ETA %dm%02ds", (int)(eta / 60), (int)eta % 60);
    fprintf(stderr, "\rentk: kernel tiles %zu/%zu (%3.0f%%), %s   ", done, r->todo,
            r->todo ? 100.0 * (double)done / (double)r->todo : 100.0, done == r->todo ? "done" : e);
    if (done == r->todo) fputc('\n', stderr);
    fflush(stderr);
}

/* ---- the whole run, one process ------------------------------------------------------------- */

static void tiles_setup(tiles_run *r, const cli_opts *o, const cli_data *c, const entk_array *x1,
                        const entk_array *x2) {
    char detail[160];
    tiles_plan(r, o, c, x1, x2);
    snprintf(detail, sizeof detail, "tiles of %zu x %zu doubles", r->tile, r->tile);
    check_memory(o, tiles_need(r, o->val[OPT_NNGP] != NULL), "kernel", detail);
}

/* Outputs and journal, resumed or afresh (by the process that owns the journal). Afresh: an old
 * journal goes first, then the outputs are created, then the new journal: a kill in between leaves
 * no journal, and --resume then starts afresh too. */
static void tiles_start(tiles_run *r, int resume) {
    r->done = (unsigned char *)alloc_matrix((tiles_ids(r) + 7) / 8, 1, "kernel");
    memset(r->done, 0, tiles_ids(r));
    if (resume && tiles_resume_journal(r)) {
        tiles_open_outputs(r, 0);
        return;
    }
    if (resume) fprintf(stderr, "entk: --resume: no journal %s: starting afresh\n", shown(r->jpath));
    cli_fuzz_check_path(r->jpath);
    if (unlink(r->jpath) && errno != ENOENT) tiles_io_fail(r->opt[0], r->jpath, "remove the old journal");
    tiles_open_outputs(r, 1);
    tiles_new_journal(r);
}

/* One tile: computed, written into every output and synced, then recorded in the journal. */
static void tiles_do(tiles_run *r, size_t id) {
    tiles_compute(r, id);
    tiles_write(r, id);
    tiles_record(r, id);
}

static int tiles_kernel(const cli_opts *o, const cli_data *c, const entk_array *x1, const entk_array *x2) {
    tiles_run *r = &tiles_cur;
    size_t id, start;
    double t0;
    tiles_setup(r, o, c, x1, x2);
    tiles_alloc(r);
    tiles_start(r, o->val[OPT_RESUME] != NULL);
    t0 = tiles_now();
    start = r->ndone;
    tiles_progress(r, r->ndone, start, t0);
    for (id = 0; id < tiles_ids(r); ++id) {
        if (!tiles_in_run(r, id) || r->done[id]) continue;
        tiles_do(r, id);
        tiles_progress(r, r->ndone, start, t0);
    }
    tiles_close();
    return 0;
}

#endif /* ENTK_TILES_H */
