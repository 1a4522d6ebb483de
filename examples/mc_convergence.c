/* mc_convergence - finite-width C4 GCNNs converge to entk's infinite-width kernels (docs/conventions.md §4).
 *
 * For the architecture below (default: a C4 GCNN) and a few random images, draws `seeds` finite networks
 * of each width; each gives an empirical NNGP (output covariance over 4096 readout units) and the
 * empirical NTK of one output (per-layer Jacobian contractions, tests/finite_net.h). Prints, one line
 * per width, the relative Frobenius error against entk_cn_kernel of the seed average, and the
 * root-mean-square error of a single network: the table behind the demo's convergence plot. The
 * single-network error should fall like 1/sqrt(width), the average's like 1/sqrt(width * seeds) (it is
 * noisier: its few effective degrees of freedom are mostly a common scale).
 *
 * usage: mc_convergence [seeds [max_width [arch [H]]]]    (defaults 16, 512, the GCNN below, 4)
 * Seeds run in parallel with OpenMP when built with it. */
#define ENTK_IMPLEMENTATION
#include "entk_cn.h"
#include "../tests/finite_net.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define NIMG 3
#define NOUT 4096

static double rel_frob(const double *a, const double *b, size_t n) {
    double num = 0, den = 0;
    size_t i;
    for (i = 0; i < n; ++i) {
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    return sqrt(num / den);
}

static double wall(void) {
#ifdef _OPENMP
    return omp_get_wtime();
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}

int main(int argc, char **argv) {
    const int seeds = argc > 1 ? atoi(argv[1]) : 16;
    const size_t max_width = argc > 2 ? (size_t)atol(argv[2]) : 512;
    const char *arch_s = argc > 3 ? argv[3]
                                  : "lift(n=4,q=3,pad=circular,sb=0.1) relu gconv(q=3,pad=circular,sb=0.2) relu "
                                    "gpool dense(sb=0.1)";
    const size_t C = 1, H = argc > 4 ? (size_t)atol(argv[4]) : 4, W = H;
    entk_arch arch;
    char err[256];
    double *x, k[NIMG * NIMG], t[NIMG * NIMG];
    size_t i, width;
    fnet rng;
    entk_status st;
    if (seeds < 1 || max_width < 1 || H < 1 || H > 64) {
        fprintf(stderr, "usage: %s [seeds [max_width [arch [H]]]]\n", argv[0]);
        return 2;
    }
    if (entk_arch_parse(arch_s, &arch, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    x = (double *)malloc(NIMG * C * H * W * sizeof *x);
    if (!x) return 1;
    rng.rng.s = 2024;
    rng.have_spare = 0;
    for (i = 0; i < NIMG * C * H * W; ++i) x[i] = fnet__normal(&rng) + 0.3;
    if ((st = entk_cn_kernel(&arch, x, NIMG, NULL, 0, C, H, W, k, NIMG, t, NIMG, 1))) {
        fprintf(stderr, "entk_cn_kernel: %s\n", entk_status_string(st));
        return 1;
    }
    printf("# finite-width Monte Carlo vs entk_cn_kernel | arch \"%s\" | %d random %zux%zux%zu images\n", arch_s,
           NIMG, C, H, W);
    printf("# %d seeds per width, %d readout units; relative Frobenius errors of the %dx%d Gram matrices:\n"
           "# of the seed average (mean_*) and root-mean-square over single networks (single_*)\n", seeds, NOUT,
           NIMG, NIMG);
    printf("%8s %8s %12s %12s %12s %12s %9s\n", "width", "seeds", "mean_nngp", "mean_ntk", "single_nngp",
           "single_ntk", "seconds");
    for (width = 8; width <= max_width; width *= 2) {
        double km[NIMG * NIMG] = {0}, tm[NIMG * NIMG] = {0}, sk = 0, st2 = 0, t0 = wall();
        int s, bad = 0;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1)
#endif
        for (s = 0; s < seeds; ++s) {
            double kk[NIMG * NIMG], tt[NIMG * NIMG];
            int j;
            if (fnet_mc(&arch, x, NIMG, C, H, W, width, NOUT, 1, 1000003u * width + (uint64_t)s, kk, tt)) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
                bad = 1;
                continue;
            }
#ifdef _OPENMP
#pragma omp critical
#endif
            {
                for (j = 0; j < NIMG * NIMG; ++j) {
                    km[j] += kk[j] / seeds;
                    tm[j] += tt[j] / seeds;
                }
                sk += pow(rel_frob(kk, k, NIMG * NIMG), 2) / seeds;
                st2 += pow(rel_frob(tt, t, NIMG * NIMG), 2) / seeds;
            }
        }
        if (bad) {
            fprintf(stderr, "finite network: unsupported architecture or out of memory\n");
            return 1;
        }
        printf("%8zu %8d %12.5f %12.5f %12.5f %12.5f %9.2f\n", width, seeds, rel_frob(km, k, NIMG * NIMG),
               rel_frob(tm, t, NIMG * NIMG), sqrt(sk), sqrt(st2), wall() - t0);
        fflush(stdout);
    }
    free(x);
    return 0;
}
