/* entk-mpi - the Gram matrices of `entk kernel` over MPI ranks (`make mpi`, when mpicc exists).
 *
 *   mpirun -np P entk-mpi kernel --arch ARCH --x1 A.npy [--x2 B.npy] [--nngp K.npy] [--ntk T.npy]
 *                         [--tile R] [--resume] [--rows a:b] [--cols c:d] [--threads N] [--orbit ...]
 *
 * The options, loading, checks, block driver and tile files are cli/entk_cli.c's and cli/entk_tiles.h's
 * (this file includes the first with ENTK_CLI_NO_MAIN): the same output files and the same journal as
 * `entk kernel --tile`, so a run of either resumes with the other and with any number of ranks, and the
 * files are bit for bit those of one process. Every run is tiled (R 256 by default).
 *
 * Scheduling: rank 0 creates (or, with --resume, checks and reopens) the outputs and the journal and
 * broadcasts which tiles the journal holds; every rank then takes the next unfinished tile from one
 * counter on rank 0 until none is left, so no rank idles while tiles remain. Rank 0 computes tiles
 * too; a dispatcher thread there answers the other ranks' requests (MPI_THREAD_SERIALIZED: it is the
 * only thread of rank 0 in MPI while it runs), polling with MPI_Test and short sleeps, so it neither
 * burns a core nor waits for rank 0's tile to end (a passive-target MPI_Fetch_and_op was tried first:
 * with OpenMPI 4.1 over shared memory it waited for rank 0 to enter MPI, serialising the ranks). Each rank writes its tiles into the outputs itself (positioned writes, then
 * fdatasync) and then appends the tile's record to the journal (one O_APPEND write of 28 bytes:
 * atomic on local and POSIX parallel file systems; not on NFS, where a run should use one process).
 *
 * Errors: one line, from rank 0 for anything about the input (the other ranks check the same and exit
 * quietly); an I/O failure on any rank is reported by that rank. A rank that fails exits non-zero and
 * mpirun ends the job; the journal then holds every tile finished, and --resume goes on.
 *
 * Subcommands: kernel (here), and `predict` when it is added (the distributed solve).
 */
#define ENTK_CLI_NO_MAIN
#include "entk_cli.c"

#include <mpi.h>
#include <pthread.h>
#include <time.h>

static const char *const mpi_usage =
    "usage: mpirun -np P entk-mpi kernel --arch ARCH --x1 A.npy [--x2 B.npy] [--nngp K.npy] [--ntk T.npy]\n"
    "                        [--tile R] [--resume] [--rows a:b] [--cols c:d] [--threads N] [--orbit none|c4|d4]\n"
    "                        [--max-memory BYTES]\n"
    "       entk-mpi --help | --version\n"
    "The options are those of `entk kernel` (entk --help). The outputs and the journal OUT.journal are\n"
    "those of `entk kernel --tile R` (R 256 if not given): a run resumes (--resume) with any number of\n"
    "ranks, or with entk itself, and the files are bit for bit those of one process.\n";

static int mpi_rank, mpi_size;

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
    cli_quiet = mpi_rank != 0;
    (void)kernel_setup(o, &arch, &c, &x1, &x2);
    c.threads = resolve_threads(o);
    tiles_setup(r, o, &c, x1, x2);
    tiles_alloc(r);
    if (mpi_rank == 0) tiles_start(r, o->val[OPT_RESUME] != NULL);
    else {
        r->done = (unsigned char *)alloc_matrix((tiles_ids(r) + 7) / 8, 1, "kernel");
    }
    cli_quiet = 0;
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
    return 0;
}

int main(int argc, char **argv) {
    cli_opts o;
    int rc = 0;
    (void)entk_cli_main; /* entk's own commands are compiled in (shared code) but not offered here */
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &mpi_size);
    if (provided < MPI_THREAD_SERIALIZED && mpi_size > 1) {
        if (mpi_rank == 0) fprintf(stderr, "entk: this MPI library does not allow a dispatcher thread (MPI_THREAD_SERIALIZED)\n");
        MPI_Finalize();
        return 1;
    }
    if (argc < 2) {
        if (mpi_rank == 0) fputs(mpi_usage, stderr);
        rc = 2;
    } else if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        if (mpi_rank == 0) fputs(mpi_usage, stdout);
    } else if (!strcmp(argv[1], "--version")) {
        if (mpi_rank == 0) printf("entk-mpi %s\n", ENTK_VERSION_STRING);
    } else if (!strcmp(argv[1], "kernel")) {
        cli_quiet = mpi_rank != 0;
        parse_opts(argc, argv, CMD_KERNEL, &o);
        rc = mpi_kernel(&o);
    } else {
        cli_quiet = mpi_rank != 0;
        die(2, "unknown command '%s' (kernel)", shown(argv[1]));
    }
    cli_release();
    MPI_Finalize();
    return rc;
}
