/* MLP Gram matrices: kernel pairs per second for "dense relu dense relu dense" on random 784-dim
 * inputs (the size of Fashion-MNIST images), symmetric 2000 x 2000 Gram (n(n+1)/2 pairs computed) and
 * a 1000 x 2000 cross Gram; 1 and 2 threads; scalar path against the best SIMD path of this machine.
 * Usage: bench_mlp [n] [reps]   (defaults 2000, 5) */
#include "benchutil.h" /* first: it sets _POSIX_C_SOURCE before any system header */
#define ENTK_IMPLEMENTATION
#include "entk.h"

typedef struct {
    const entk_arch *arch;
    const double *x1, *x2;
    size_t n1, n2, d;
    double *k, *t;
    int threads;
    entk_status st;
} job;

static void run(void *arg) {
    job *j = (job *)arg;
    j->st = entk_mlp_kernel(j->arch, j->x1, j->n1, j->x2, j->n2, j->d, j->k, j->n2, j->t, j->n2, j->threads);
}

int main(int argc, char **argv) {
    const size_t n = argc > 1 ? (size_t)atol(argv[1]) : 2000, d = 784;
    const int reps = argc > 2 ? atoi(argv[2]) : 5;
    const char *arch_s = "dense(sw=1.4,sb=0.1) relu dense(sw=1.4,sb=0.1) relu dense(sw=1.4,sb=0.1)";
    entk_simd paths[2];
    const char *pname[2] = {"scalar", NULL};
    int np = 1, pi, th, mode, r, c;
    static double times[8][64];
    double rate[2][2][2]; /* [mode][path][threads-1] pairs/s (from the minimum time) */
    entk_arch arch;
    char err[128];
    double *x, *k, *t;
    size_t i;
    uint64_t s = 12345;
    if (n < 2 || reps < 1 || reps > 64 || entk_arch_parse(arch_s, &arch, err, sizeof err)) return 1;
    x = (double *)malloc(n * d * sizeof *x);
    k = (double *)malloc(n * n * sizeof *k);
    t = (double *)malloc(n * n * sizeof *t);
    if (!x || !k || !t) return 1;
    for (i = 0; i < n * d; ++i) { /* uniform [0,1) pixels, like image intensities */
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (double)(s >> 11) * 0x1.0p-53;
    }
    paths[0] = ENTK_SIMD_SCALAR;
    {
        entk_simd best = entk_simd_path();
        if (best != ENTK_SIMD_SCALAR) { paths[1] = best; np = 2; }
    }
    bu_header("bench_mlp: MLP NNGP+NTK Gram matrices");
    printf("# arch \"%s\", d = %zu, %d repetitions interleaved over the configurations (the machine is\n"
           "# shared: a load change hits every configuration alike), pairs/s from min (median) time\n", arch_s, d,
           reps);
    for (pi = 0; pi < np; ++pi) {
        entk_simd_set(paths[pi]);
        pname[pi] = entk_simd_name();
    }
    for (r = -1; r < reps; ++r) /* r = -1: warm-up (page faults, thread pool start), not timed */
        for (c = 0; c < 4 * np; ++c) {
            job j;
            double t0;
            pi = c / 4;
            mode = (c / 2) % 2;
            th = c % 2 + 1;
            entk_simd_set(paths[pi]);
            j.arch = &arch;
            j.x1 = x;
            j.d = d;
            j.k = k;
            j.t = t;
            j.threads = th;
            if (mode == 0) { j.x2 = NULL; j.n1 = j.n2 = n; }
            else { j.x2 = x; j.n1 = n / 2; j.n2 = n; }
            if (r < 0) {
                bu_time(run, &j, 1);
            } else {
                t0 = bu_now();
                run(&j);
                times[c][r] = bu_now() - t0;
            }
            if (j.st != ENTK_OK) { printf("error: %s\n", entk_status_string(j.st)); return 1; }
        }
    for (c = 0; c < 4 * np; ++c) {
        const double pairs = (c / 2) % 2 == 0 ? (double)n * (double)(n + 1) / 2 : (double)(n / 2) * (double)n;
        double tmin, tmed;
        pi = c / 4;
        mode = (c / 2) % 2;
        th = c % 2 + 1;
        qsort(times[c], (size_t)reps, sizeof times[c][0], bu_cmp);
        tmin = times[c][0];
        tmed = times[c][reps / 2];
        rate[mode][pi][th - 1] = pairs / tmin;
        printf("%-10s %-16s threads %d: %10.3e pairs/s (median %10.3e), min %.3f s\n", pname[pi],
               mode == 0 ? "symmetric n x n" : "cross n/2 x n", th, pairs / tmin, pairs / tmed, tmin);
    }
    printf("# ratios\n");
    for (mode = 0; mode < 2; ++mode) {
        const char *m = mode == 0 ? "symmetric" : "cross";
        for (pi = 0; pi < np; ++pi)
            printf("%-10s %-9s 2 threads / 1 thread: %.2f\n", pname[pi], m, rate[mode][pi][1] / rate[mode][pi][0]);
        if (np == 2)
            for (th = 1; th <= 2; ++th)
                printf("%s / scalar %-9s threads %d: %.2f\n", pname[1], m, th,
                       rate[mode][1][th - 1] / rate[mode][0][th - 1]);
    }
    free(x);
    free(k);
    free(t);
    return 0;
}
