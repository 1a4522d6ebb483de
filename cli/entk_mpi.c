/* entk-mpi - entk's computations over MPI ranks (make mpi; needs OpenMPI and ScaLAPACK).
 *
 *   mpirun -np P entk-mpi kernel --arch ARCH --x1 A.npy [--x2 B.npy] [--nngp K.npy] [--ntk T.npy]
 *                [--tile R] [--resume] [--rows a:b] [--cols c:d] [--threads N] [--orbit ...]
 *   mpirun -np P entk-mpi predict --train-gram K.npy --test-gram T.npy --train-y Y.npy --out P.npy
 *                [--diag-reg L] [--diag-reg-absolute] [--standardize] [--block NB] [--max-memory BYTES]
 *
 * The program is cli/entk_cli.c (its option table, checks, loading, messages, block driver and the
 * tile files of cli/entk_tiles.h; this file includes it with ENTK_CLI_NO_MAIN) with its own main, a
 * dispatcher of the two subcommands.
 *
 * kernel: the Gram matrices of `entk kernel`, in the same output files and the same journal as `entk
 * kernel --tile`, so a run of either resumes with the other and with any number of ranks, and the
 * files are bit for bit those of one process. Every run is tiled (R 256 by default).
 * Scheduling: rank 0 creates (or, with --resume, checks and reopens) the outputs and the journal and
 * broadcasts which tiles the journal holds; every rank then takes the next unfinished tile from one
 * counter on rank 0 until none is left, so no rank idles while tiles remain. Rank 0 computes tiles
 * too; a dispatcher thread there answers the other ranks' requests (MPI_THREAD_SERIALIZED: it is the
 * only thread of rank 0 in MPI while it runs), polling with MPI_Test and short sleeps, so it neither
 * burns a core nor waits for rank 0's tile to end (a passive-target MPI_Fetch_and_op was tried first:
 * with OpenMPI 4.1 over shared memory it waited for rank 0 to enter MPI, serialising the ranks). Each
 * rank writes its tiles into the outputs itself (positioned writes, then fdatasync) and then appends
 * the tile's record to the journal (one O_APPEND write of 28 bytes: atomic on local and POSIX parallel
 * file systems; not on NFS, where a run should use one process).
 *
 *
 * predict: the t = inf kernel-regression mean of `entk predict --train-gram` (docs/conventions.md §3),
 * with the train Gram factored by ScaLAPACK's pdpotrf and solved by pdpotrs over a BLACS grid of the P
 * ranks (nprow x npcol, nprow the largest divisor of P up to sqrt(P)), NB x NB blocks distributed
 * block-cyclically (default NB 64). Each rank reads only its own blocks of K.npy, with positioned
 * reads, and only their lower-triangle entries: the entries entk predict reads. The scaling by a power
 * of two, the regulariser and the jitter escalation are entk predict's (cli/entk_solve.h), so the two
 * agree to rounding (1e-8 in tests/test_mpi_predict.c for 1, 2 and 4 ranks).
 *
 * Layout: ScaLAPACK's local arrays are column-major and .npy files row-major (or Fortran order). No
 * transposition is ever made implicitly: every element (i, j) read from the file is stored at the
 * local position of (i, j) (cli/entk_solve.h gram_read takes the output strides), so the distributed
 * matrix is the file's matrix in either order. pdpotrf('L') reads the lower triangle i >= j of that
 * matrix, which for a symmetric Gram is also its upper triangle transposed: the layout could not
 * change the factor even if it were transposed.
 *
 * Errors: one line. An error every rank meets (bad options, files, shapes, a matrix that is not
 * positive definite) is printed once, by rank 0, and ends the job with MPI_Finalize and exit status 1
 * or 2; an error only one rank meets (a read or write failing mid-way, a journal rank 0 refuses) is
 * printed by that rank and ends the job with MPI_Abort. A killed or aborted kernel job leaves a journal
 * of every tile finished, and --resume goes on. */
#define ENTK_CLI_NO_MAIN
#include "entk_cli.c"

#include <mpi.h>
#include <pthread.h>
#include <time.h>

/* BLACS and ScaLAPACK: Debian's libscalapack-openmpi has no C header. The Fortran routines take the
 * lengths of character arguments as hidden trailing size_t arguments (gfortran's ABI). */
extern void Cblacs_pinfo(int *mypnum, int *nprocs);
extern void Cblacs_get(int context, int request, int *value);
extern void Cblacs_gridinit(int *context, const char *order, int nprow, int npcol);
extern void Cblacs_gridinfo(int context, int *nprow, int *npcol, int *myrow, int *mycol);
extern void Cblacs_gridexit(int context);
extern int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc, const int *nprocs);
extern void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb, const int *irsrc,
                      const int *icsrc, const int *ictxt, const int *lld, int *info);
extern void pdpotrf_(const char *uplo, const int *n, double *a, const int *ia, const int *ja, const int *desca,
                     int *info, size_t uplo_len);
extern void pdpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *ia, const int *ja,
                     const int *desca, double *b, const int *ib, const int *jb, const int *descb, int *info,
                     size_t uplo_len);


static const char *const mpi_usage_text =
    "usage: mpirun -np P entk-mpi kernel --arch ARCH --x1 A.npy [--x2 B.npy] [--nngp K.npy] [--ntk T.npy]\n"
    "                    [--tile R] [--resume] [--rows a:b] [--cols c:d] [--threads N] [--orbit none|c4|d4]\n"
    "                    [--max-memory BYTES]\n"
    "       mpirun -np P entk-mpi predict --train-gram K.npy --test-gram T.npy --train-y Y.npy --out P.npy\n"
    "                    [--diag-reg L] [--diag-reg-absolute] [--standardize] [--block NB] [--max-memory BYTES]\n"
    "       entk-mpi --help | --version\n"
    "kernel: the options are those of `entk kernel` (entk --help). The outputs and the journal OUT.journal\n"
    "      are those of `entk kernel --tile R` (R 256 if not given): a run resumes (--resume) with any number\n"
    "      of ranks, or with entk itself, and the files are bit for bit those of one process.\n"
    "predict: the t = inf mean of entk predict --train-gram (K.npy: the n x n train Gram, T.npy: the m x n\n"
    "      test Gram, Y.npy: n or n x k targets), the train Gram factored by ScaLAPACK (pdpotrf, pdpotrs) over\n"
    "      the P ranks, each reading its own blocks of K.npy\n"
    "--block NB: ScaLAPACK's NB x NB block-cyclic blocks, 1 to 4096 (default 64)\n"
    "--max-memory BYTES: memory each rank may use, e.g. 512M (default: what the machine has free)\n";


static int mpi_rank, mpi_size, mpi_collective = 1;

/* on: an error from here on is met by every rank alike (printed by rank 0 only, the job finalized) */
static void collective(int on) {
    mpi_collective = on;
    cli_quiet = on && mpi_rank != 0;
}

static void mpi_exit(int code) {
    if (mpi_collective) MPI_Finalize();
    else MPI_Abort(MPI_COMM_WORLD, code);
}

/* The local extent of n rows (columns) in blocks of nb over np process rows (columns), for process p. */
static int local_extent(int n, int nb, int p, int np) {
    const int zero = 0;
    return numroc_(&n, &nb, &p, &zero, &np);
}

typedef struct mpi_grid {
    int ctx, nprow, npcol, myrow, mycol, nb;
} mpi_grid;

/* Read this rank's blocks of the lower triangle of the train Gram (times 2^e) into a (column-major,
 * lld); the strict upper triangle of a diagonal block and the blocks above the diagonal are 0. */
static void read_local(const mpi_grid *gr, const cli_gram *g, int n, double *a, int lld, int mloc, int nloc, int e) {
    int li, lj;
    for (lj = 0; lj < nloc; lj += gr->nb) {
        const int gj = (lj / gr->nb * gr->npcol + gr->mycol) * gr->nb, nc = n - gj < gr->nb ? n - gj : gr->nb;
        for (li = 0; li < mloc; li += gr->nb) {
            const int gi = (li / gr->nb * gr->nprow + gr->myrow) * gr->nb, nr = n - gi < gr->nb ? n - gi : gr->nb;
            gram_read(g, (size_t)gi, (size_t)nr, (size_t)gj, (size_t)nc, a + li + (size_t)lj * (size_t)lld, 1,
                      (size_t)lld, e, 1);
        }
    }
}

/* for every diagonal entry (g, g) this rank holds, at local row li and column lj: the statement after it */
#define FOR_OWNED_DIAG(gr, n, li, lj, gidx)                                                                   \
    for (gidx = 0; gidx < (n); ++gidx)                                                                        \
        if ((gidx / (gr)->nb) % (gr)->nprow == (gr)->myrow && (gidx / (gr)->nb) % (gr)->npcol == (gr)->mycol && \
            ((li = (gidx / (gr)->nb / (gr)->nprow) * (gr)->nb + gidx % (gr)->nb),                              \
             (lj = (gidx / (gr)->nb / (gr)->npcol) * (gr)->nb + gidx % (gr)->nb), 1))

static int cmd_mpi_predict(const cli_opts *o) {
    static const int one = 1;
    cli_gram gtr, gte;
    cli_targets t;
    cli_spd s;
    mpi_grid gr;
    int n, k, mloc, nloc, kloc, lld, desca[9], descb[9], info, g, li, lj, q;
    size_t m, first = 0, i0, i1, rows, need, ll;
    double amax = 0, tr = 0, absd = 0, *a, *b, *z, *mean, red[3];
    char detail[160];
    const char *why = "--max-memory";
    gram_predict_checks(o, 1);
    gram_open("--train-gram", o->val[OPT_TRAIN_GRAM], &gtr);
    gram_open("--test-gram", o->val[OPT_TEST_GRAM], &gte);
    gram_predict_shapes(&gtr, &gte);
    if (gtr.rows > INT_MAX / 2) die(1, "--train-gram: n = %zu is beyond ScaLAPACK's int indices", gtr.rows);
    load_targets(o, gtr.rows, &t);
    if (t.k > INT_MAX / 2) die(1, "--train-y: %zu target columns are beyond ScaLAPACK's int indices", t.k);
    n = (int)gtr.rows;
    k = (int)t.k;
    m = gte.rows;
    if ((size_t)n * t.k > INT_MAX || m * t.k > INT_MAX)
        die(1, "entk-mpi predict: %zu x %zu targets or %zu x %zu means are beyond MPI's int counts", t.n, t.k, m, t.k);
    gr.nb = o->block ? o->block : 64;
    for (gr.nprow = 1, q = 1; q * q <= mpi_size; ++q)
        if (mpi_size % q == 0) gr.nprow = q;
    gr.npcol = mpi_size / gr.nprow;
    Cblacs_get(-1, 0, &gr.ctx);
    Cblacs_gridinit(&gr.ctx, "Row", gr.nprow, gr.npcol);
    Cblacs_gridinfo(gr.ctx, &gr.nprow, &gr.npcol, &gr.myrow, &gr.mycol);
    mloc = local_extent(n, gr.nb, gr.myrow, gr.nprow);
    nloc = local_extent(n, gr.nb, gr.mycol, gr.npcol);
    kloc = local_extent(k, gr.nb, gr.mycol, gr.npcol);
    lld = mloc > 1 ? mloc : 1;
    /* per rank: its part of the train Gram and of the targets, the solution z, the mean; the largest over
     * the ranks is checked everywhere, so every rank takes the same decision */
    rows = m / (size_t)mpi_size + 1;
    ll = matrix_bytes((size_t)lld, (size_t)(nloc > 1 ? nloc : 1), "entk-mpi predict");
    need = add_bytes(ll, matrix_bytes((size_t)lld, (size_t)(kloc > 1 ? kloc : 1), "entk-mpi predict"), "entk-mpi predict");
    need = add_bytes(need, matrix_bytes((size_t)n, t.k, "entk-mpi predict"), "entk-mpi predict");
    need = add_bytes(need, matrix_bytes(m, t.k, "entk-mpi predict"), "entk-mpi predict");
    {
        unsigned long long mine = need, most;
        MPI_Allreduce(&mine, &most, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
        need = (size_t)most;
    }
    snprintf(detail, sizeof detail, "a rank's blocks of the %d x %d train Gram on a %d x %d grid, NB %d", n, n, gr.nprow,
             gr.npcol, gr.nb);
    check_memory(o, need, "entk-mpi predict", detail);
    {   /* test rows per read: what is left of the budget, a quarter of it */
        const size_t avail = o->max_memory ? o->max_memory : available_memory(&why);
        const size_t left = avail > need ? (avail - need) / 4 / ((size_t)n * sizeof(double)) : 0;
        rows = left < 1 ? 1 : left;
    }
    a = alloc_matrix((size_t)lld, (size_t)(nloc > 1 ? nloc : 1), "entk-mpi predict");
    b = alloc_matrix((size_t)lld, (size_t)(kloc > 1 ? kloc : 1), "entk-mpi predict");
    z = alloc_matrix((size_t)n, t.k, "entk-mpi predict");
    mean = alloc_matrix(m ? m : 1, t.k, "entk-mpi predict");
    descinit_(desca, &n, &n, &gr.nb, &gr.nb, &(int){0}, &(int){0}, &gr.ctx, &lld, &info);
    if (info) die(1, "entk-mpi predict: ScaLAPACK descinit: argument %d invalid", -info);
    descinit_(descb, &n, &k, &gr.nb, &gr.nb, &(int){0}, &(int){0}, &gr.ctx, &lld, &info);
    if (info) die(1, "entk-mpi predict: ScaLAPACK descinit: argument %d invalid", -info);

    /* the scale: the largest |entry| of the lower triangle, the trace, the sum of |diagonal| */
    collective(0); /* reads may fail on one rank only */
    read_local(&gr, &gtr, n, a, lld, mloc, nloc, 0);
    for (lj = 0; lj < nloc; ++lj)
        for (li = 0; li < mloc; ++li) amax = fmax(amax, fabs(a[li + (size_t)lj * (size_t)lld]));
    FOR_OWNED_DIAG(&gr, n, li, lj, g) {
        tr += a[li + (size_t)lj * (size_t)lld];
        absd += fabs(a[li + (size_t)lj * (size_t)lld]);
    }
    MPI_Allreduce(&amax, &red[0], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    {
        double sums[2] = {tr, absd};
        MPI_Allreduce(sums, &red[1], 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    }
    spd_init(&s, (size_t)n, red[0], red[1], red[2], o);
    for (;;) {
        double dmax = 0, ptol, most;
        int ord, lo;
        if (s.tries) read_local(&gr, &gtr, n, a, lld, mloc, nloc, s.e);
        else
            for (lj = 0; lj < nloc; ++lj)
                for (li = 0; li < mloc; ++li) a[li + (size_t)lj * (size_t)lld] = ldexp(a[li + (size_t)lj * (size_t)lld], s.e);
        FOR_OWNED_DIAG(&gr, n, li, lj, g) {
            a[li + (size_t)lj * (size_t)lld] += s.reg_s + s.jit;
            dmax = fmax(dmax, fabs(a[li + (size_t)lj * (size_t)lld]));
        }
        MPI_Allreduce(&dmax, &most, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        ptol = (double)n * DBL_EPSILON * most;
        pdpotrf_("L", &n, a, &one, &one, desca, &info, 1);
        collective(1);
        if (info < 0) die(1, "entk-mpi predict: ScaLAPACK pdpotrf: argument %d invalid", -info);
        /* the first failed minor (info, the same on every rank) or the first pivot d before it with
         * d^2 <= n eps max|diagonal| (entk predict's rule) */
        lo = info > 0 ? info : INT_MAX;
        FOR_OWNED_DIAG(&gr, n, li, lj, g) {
            const double d = a[li + (size_t)lj * (size_t)lld];
            if (g + 1 < lo && (info == 0 || g + 1 < info) && !(d * d > ptol)) lo = g + 1;
        }
        MPI_Allreduce(&lo, &ord, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        if (ord == INT_MAX) break;
        if (!first) first = (size_t)ord;
        if (!spd_next(&s)) spd_fail(first);
        collective(0);
    }
    /* the targets, distributed like a column panel of the Gram; solved; gathered on every rank */
    for (lj = 0; lj < kloc; ++lj) {
        const int gj = (lj / gr.nb * gr.npcol + gr.mycol) * gr.nb + lj % gr.nb;
        for (li = 0; li < mloc; ++li) {
            const int gi = (li / gr.nb * gr.nprow + gr.myrow) * gr.nb + li % gr.nb;
            b[li + (size_t)lj * (size_t)lld] = t.y[(size_t)gi * t.k + (size_t)gj];
        }
    }
    pdpotrs_("L", &n, &k, a, &one, &one, desca, b, &one, &one, descb, &info, 1);
    collective(1);
    if (info) die(1, "entk-mpi predict: ScaLAPACK pdpotrs: argument %d invalid", -info);
    memset(z, 0, (size_t)n * t.k * sizeof *z);
    for (lj = 0; lj < kloc; ++lj) {
        const int gj = (lj / gr.nb * gr.npcol + gr.mycol) * gr.nb + lj % gr.nb;
        for (li = 0; li < mloc; ++li) {
            const int gi = (li / gr.nb * gr.nprow + gr.myrow) * gr.nb + li % gr.nb;
            z[(size_t)gi * t.k + (size_t)gj] = b[li + (size_t)lj * (size_t)lld];
        }
    }
    /* each entry is held by one rank: the sum with zeros is exact */
    MPI_Allreduce(MPI_IN_PLACE, z, n * k, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    collective(0);
    /* the test rows, split over the ranks; the mean summed (exactly: disjoint rows) on rank 0 */
    i0 = m * (size_t)mpi_rank / (size_t)mpi_size;
    i1 = m * (size_t)(mpi_rank + 1) / (size_t)mpi_size;
    memset(mean, 0, (m ? m : 1) * t.k * sizeof *mean);
    if (i1 > i0) spd_test_product(&s, &gte, i0, i1, rows, z, t.k, mean + i0 * t.k);
    MPI_Reduce(mpi_rank ? mean : MPI_IN_PLACE, mean, (int)(m * t.k), MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    Cblacs_gridexit(gr.ctx);
    if (mpi_rank == 0) { /* rank 0 alone writes: its failure is its own */
        char how[96];
        snprintf(how, sizeof how, "by ScaLAPACK on %d rank%s (%d x %d grid, NB %d)", mpi_size, mpi_size > 1 ? "s" : "",
                 gr.nprow, gr.npcol, gr.nb);
        finish_mean(o, &t, mean, m, how, s.reg, ldexp(s.jit, -s.e), s.jit / s.unit, s.tries);
    }
    gram_close(&gtr);
    gram_close(&gte);
    collective(1);
    return 0;
}

/* the tile counter: indices into the list of unfinished tiles, handed out in order */
static pthread_mutex_t mpi_lock = PTHREAD_MUTEX_INITIALIZER;
static long long mpi_next;

static long long mpi_take(void) {
    long long k;
    pthread_mutex_lock(&mpi_lock);
    k = mpi_next++;
    pthread_mutex_unlock(&mpi_lock);
    return k;
}

#define MPI_TAG_ASK 1
#define MPI_TAG_TILE 2

/* Rank 0's dispatcher: answers each request with the next index until every other rank has been
 * told there are none left (an index >= the count). */
static void *mpi_dispatch(void *arg) {
    const long long ntodo = *(const long long *)arg;
    int finished = 0;
    while (finished < mpi_size - 1) {
        MPI_Request req;
        MPI_Status stt;
        int dummy = 0, flag = 0;
        long long k;
        MPI_Irecv(&dummy, 1, MPI_INT, MPI_ANY_SOURCE, MPI_TAG_ASK, MPI_COMM_WORLD, &req);
        for (;;) {
            struct timespec ts = {0, 200000}; /* 0.2 ms */
            MPI_Test(&req, &flag, &stt);
            if (flag) break;
            nanosleep(&ts, NULL);
        }
        k = mpi_take();
        if (k >= ntodo) ++finished;
        MPI_Send(&k, 1, MPI_LONG_LONG, stt.MPI_SOURCE, MPI_TAG_TILE, MPI_COMM_WORLD);
    }
    return NULL;
}

/* Every rank: the same plan; rank 0 owns the journal. */
static int mpi_kernel(const cli_opts *o) {
    tiles_run *r = &tiles_cur;
    entk_arch arch;
    cli_data c;
    const entk_array *x1, *x2;
    size_t *todo, ntodo = 0, id, start;
    long long nt;
    pthread_t disp;
    unsigned long long mine, *all = NULL;
    double t0;
    collective(1); /* every rank checks the same options and inputs */
    (void)kernel_setup(o, &arch, &c, &x1, &x2);
    c.threads = resolve_threads(o);
    tiles_setup(r, o, &c, x1, x2);
    tiles_alloc(r);
    collective(0); /* from here a failure is one rank's (rank 0 alone checks the journal) */
    if (mpi_rank == 0) tiles_start(r, o->val[OPT_RESUME] != NULL);
    else r->done = (unsigned char *)alloc_matrix((tiles_ids(r) + 7) / 8, 1, "kernel");
    /* rank 0 has the files ready: the others open them (checked as a resume checks them) */
    MPI_Bcast(r->done, (int)tiles_ids(r), MPI_UNSIGNED_CHAR, 0, MPI_COMM_WORLD);
    if (mpi_rank != 0) {
        int i;
        tiles_open_outputs(r, 0);
        r->jfd = open(r->jpath, O_WRONLY | O_APPEND);
        if (r->jfd < 0) tiles_io_fail("kernel: journal", r->jpath, "open");
        for (i = 0; (size_t)i < tiles_ids(r); ++i) r->ndone += r->done[i];
    }
    /* the unfinished tiles, in the order of one process */
    todo = (size_t *)alloc_matrix(r->todo - r->ndone + 1, 1, "kernel");
    for (id = 0; id < tiles_ids(r); ++id)
        if (tiles_in_run(r, id) && !r->done[id]) todo[ntodo++] = id;
    nt = (long long)ntodo;
    if (mpi_rank == 0 && mpi_size > 1 && pthread_create(&disp, NULL, mpi_dispatch, &nt))
        die(1, "kernel: cannot start the dispatcher thread: %s", strerror(errno));
    t0 = tiles_now();
    start = r->ndone;
    for (;;) {
        long long k;
        if (mpi_rank == 0) {
            k = mpi_take();
        } else {
            int ask = 0;
            MPI_Send(&ask, 1, MPI_INT, 0, MPI_TAG_ASK, MPI_COMM_WORLD);
            MPI_Recv(&k, 1, MPI_LONG_LONG, 0, MPI_TAG_TILE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        }
        if (k < 0 || (size_t)k >= ntodo) break;
        if (mpi_rank == 0) tiles_progress(r, start + (size_t)k, start, t0); /* tiles handed out */
        tiles_do(r, todo[k]);
    }
    if (mpi_rank == 0 && mpi_size > 1) pthread_join(disp, NULL);
    mine = r->ndone - start; /* tiles this rank computed */
    if (mpi_rank == 0) all = (unsigned long long *)alloc_matrix((size_t)mpi_size, 1, "kernel");
    MPI_Gather(&mine, 1, MPI_UNSIGNED_LONG_LONG, all, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
    if (mpi_rank == 0) {
        unsigned long long sum = 0;
        char line[400];
        int i, n = 0;
        for (i = 0; i < mpi_size; ++i) {
            sum += all[i];
            if (n < (int)sizeof line - 32) n += snprintf(line + n, sizeof line - (size_t)n, " %llu", all[i]);
        }
        if (sum != ntodo) die(1, "kernel: %llu of %zu tiles were computed", sum, ntodo);
        tiles_progress(r, r->todo, start, t0);
        fprintf(stderr, "entk-mpi: %zu tiles over %d ranks (%zu done before), per rank:%s\n", ntodo, mpi_size, start,
                line);
    }
    tiles_close();
    collective(1);
    return 0;
}


int main(int argc, char **argv) {
    cli_opts o;
    int rc = 0, provided = 0;
    (void)entk_cli_main; /* entk's own entry point, unused here */
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &mpi_size);
    cli_prog = "entk-mpi";
    cli_mpi_usage = mpi_usage_text;
    collective(1);
    cli_exit_hook = mpi_exit;
    if (argc < 2) {
        if (!mpi_rank) fputs(mpi_usage_text, stderr);
        rc = 2;
    } else if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        if (!mpi_rank) fputs(mpi_usage_text, stdout);
    } else if (!strcmp(argv[1], "--version")) {
        if (!mpi_rank) printf("entk-mpi %s\n", ENTK_VERSION_STRING);
    } else if (!strcmp(argv[1], "kernel")) {
        if (provided < MPI_THREAD_SERIALIZED && mpi_size > 1)
            die(1, "kernel: this MPI library does not allow a dispatcher thread (MPI_THREAD_SERIALIZED)");
        parse_opts(argc, argv, CMD_KERNEL, &o);
        rc = mpi_kernel(&o);
    } else if (!strcmp(argv[1], "predict")) {
        parse_opts(argc, argv, CMD_MPI_PREDICT, &o);
        rc = cmd_mpi_predict(&o);
    } else {
        die(2, "unknown subcommand '%s' (kernel, predict)", shown(argv[1]));
    }
    cli_release();
    MPI_Finalize();
    return rc;
}
