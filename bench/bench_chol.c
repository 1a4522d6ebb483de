/* Cholesky: entk (scalar and AVX2 paths) against OpenBLAS LAPACKE_dpotrf, single-threaded, n = 500,
 * 1000, 2000, GFLOP/s at n^3/3 flops (min and median of several repetitions), and what limits entk:
 * the AVX2 micro-kernel on in-cache packed panels, the packed SYRK of one trailing update, and the
 * machine's FMA peak measured with independent register-resident FMA chains. Also the eigensolver at
 * n = 1000. Run with OPENBLAS_NUM_THREADS=1 (the Makefile's bench rule sets it). */
#define ENTK_IMPLEMENTATION
#include "benchutil.h"
#include <math.h>
#include <string.h>
#include <lapacke.h>

typedef struct {
    size_t n;
    const double *a;
    double *work;
    int lib; /* 0 entk, 1 OpenBLAS */
    int status;
} chol_arg;

static void run_chol(void *p) {
    chol_arg *c = (chol_arg *)p;
    size_t info;
    memcpy(c->work, c->a, c->n * c->n * sizeof *c->a);
    if (c->lib == 0) c->status = (int)entk_cholesky(c->n, c->work, c->n, &info);
    else c->status = (int)LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)c->n, c->work, (lapack_int)c->n);
}

static void run_copy(void *p) {
    chol_arg *c = (chol_arg *)p;
    memcpy(c->work, c->a, c->n * c->n * sizeof *c->a);
}

/* SPD with entries O(1): A = B + n I, B symmetric uniform in [0, 1) */
static void make_spd(size_t n, double *a) {
    uint64_t s = 12345;
    size_t i, j;
    for (i = 0; i < n; ++i)
        for (j = 0; j <= i; ++j) {
            double v;
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            v = (double)(s >> 11) * 0x1.0p-53;
            a[i * n + j] = a[j * n + i] = v + (i == j ? (double)n : 0.0);
        }
}


typedef struct {
    size_t kc;
    const double *ap, *bp;
    double *c;
    int reps;
} uk_arg;

static void run_ukernel(void *p) {
    uk_arg *u = (uk_arg *)p;
    const entk__ukernel uk = entk__kt()->uk;
    int r;
    for (r = 0; r < u->reps; ++r) uk.fn(u->kc, u->ap, u->bp, u->c, 8);
}

typedef struct {
    size_t m, k;
    const double *a;
    double *c, *ws;
} syrk_arg;

static void run_syrk(void *p) {
    syrk_arg *s = (syrk_arg *)p;
    entk__gemm(s->m, s->m, s->k, -1.0, s->a, s->k, 1, s->a, 1, s->k, s->c, s->m, 1, s->ws);
}

typedef struct {
    size_t n;
    const double *a;
    double *w, *v;
} eig_arg;

static void run_eig(void *p) {
    eig_arg *e = (eig_arg *)p;
    entk_syev(e->n, e->a, e->n, e->w, e->v, e->n);
}

int main(void) {
    static const size_t ns[] = {500, 1000, 2000};
    const entk_simd best = entk_simd_path();
    size_t s;
    int have_avx2 = entk_simd_set(ENTK_SIMD_AVX2) == ENTK_OK;
    entk_simd_set(best);
    bu_header("bench_chol: entk_cholesky vs OpenBLAS LAPACKE_dpotrf, 1 thread, GFLOP/s = n^3/3 / time");
    printf("# ENTK_CHOL_NB=%d KC=%d MC=%d NC=%d; AVX2 tile %dx%d; times exclude the matrix copy (timed and "
           "subtracted)\n", ENTK_CHOL_NB, ENTK__KC, ENTK__MC, ENTK__NC, 6, 8);
    printf("%6s %-10s %9s %9s %10s %10s\n", "n", "impl", "min_ms", "med_ms", "GF/s(min)", "GF/s(med)");
    /* the machine is shared: the implementations run interleaved (one of each per round), so load
     * changes hit all of them alike; min and median over the rounds */
    for (s = 0; s < sizeof ns / sizeof ns[0]; ++s) {
        const size_t n = ns[s];
        const double flops = (double)n * (double)n * (double)n / 3.0;
        const int rounds = n >= 2000 ? 7 : 15;
        double *a = (double *)malloc(n * n * sizeof *a), *w = (double *)malloc(n * n * sizeof *a);
        double t[3][64], copy_min;
        chol_arg c;
        bu_stat copy;
        double gf[3][2] = {{0, 0}, {0, 0}, {0, 0}};
        int impl, r;
        make_spd(n, a);
        c.n = n; c.a = a; c.work = w; c.status = 0;
        copy = bu_time(run_copy, &c, 9);
        copy_min = copy.min;
        for (r = 0; r < rounds; ++r)
            for (impl = 0; impl < 3; ++impl) {
                double t0;
                if (impl == 1 && !have_avx2) continue;
                if (impl == 0 && n >= 2000 && r >= 3) continue; /* slow: 3 rounds only */
                c.lib = impl == 2;
                if (impl < 2) entk_simd_set(impl == 0 ? ENTK_SIMD_SCALAR : ENTK_SIMD_AVX2);
                t0 = bu_now();
                run_chol(&c);
                t[impl][r] = bu_now() - t0 - copy_min;
                if (c.status != 0) printf("# impl %d failed with status %d\n", impl, c.status);
            }
        for (impl = 0; impl < 3; ++impl) {
            const char *name = impl == 0 ? "entk-scal" : impl == 1 ? "entk-avx2" : "openblas";
            const int cnt = impl == 0 && n >= 2000 ? 3 : rounds;
            if (impl == 1 && !have_avx2) continue;
            qsort(t[impl], (size_t)cnt, sizeof(double), bu_cmp);
            gf[impl][0] = flops / t[impl][0] * 1e-9;
            gf[impl][1] = flops / t[impl][cnt / 2] * 1e-9;
            printf("%6zu %-10s %9.2f %9.2f %10.2f %10.2f\n", n, name, 1e3 * t[impl][0], 1e3 * t[impl][cnt / 2],
                   gf[impl][0], gf[impl][1]);
        }
        if (have_avx2)
            printf("%6zu ratio entk-avx2/openblas: %.3f (min)  %.3f (median)\n", n, gf[1][0] / gf[2][0],
                   gf[1][1] / gf[2][1]);
        free(a); free(w);
    }
    entk_simd_set(best);

    {
        /* micro-kernel on in-cache packed panels (kc = KC, A 6 x KC, B KC x 8, both in L1) against the
         * FMA peak loop, interleaved in short slices; best slice of each */
        const size_t kc = ENTK__KC;
        double *ap = (double *)malloc(8 * kc * sizeof(double)), *bpraw = (double *)malloc((8 * kc + 8) * sizeof(double));
        double *bp = bpraw + ((32u - ((uintptr_t)bpraw & 31u)) & 31u) / sizeof(double), cbuf[8 * 8];
        double best_uk[3] = {0, 0, 0}, best_peak = 0, sink = 0;
        uk_arg u;
        size_t i;
        int p, r;
        for (i = 0; i < 8 * kc; ++i) { ap[i] = 1e-3 * (double)(i % 7); bp[i] = 1e-3 * (double)(i % 5); }
        memset(cbuf, 0, sizeof cbuf);
        u.kc = kc; u.ap = ap; u.bp = bp; u.c = cbuf; u.reps = 1000;
        for (r = 0; r < 40; ++r) {
#if ENTK__HAVE_AVX2
            if (have_avx2) {
                const long iters = 1000000;
                double t0 = bu_now(), g;
                sink += bu_fma_peak_loop(iters);
                g = (double)iters * 12 * 4 * 2 / (bu_now() - t0) * 1e-9;
                if (g > best_peak) best_peak = g;
            }
#endif
            for (p = 0; p < 3; ++p) {
                entk__ukernel uk;
                double t0, g;
                if (entk_simd_set((entk_simd)p) != ENTK_OK) continue;
                uk = entk__kt_table((entk_simd)p)->uk;
                t0 = bu_now();
                run_ukernel(&u);
                g = 2.0 * uk.mr * uk.nr * (double)kc * u.reps / (bu_now() - t0) * 1e-9;
                if (g > best_uk[p]) best_uk[p] = g;
            }
        }
        if (best_peak > 0) printf("# FMA peak (12 register chains, best of 40 slices): %.2f GFLOP/s (sink %g)\n", best_peak, sink);
        for (p = 0; p < 3; ++p) {
            entk__ukernel uk;
            if (entk_simd_set((entk_simd)p) != ENTK_OK) continue;
            uk = entk__kt_table((entk_simd)p)->uk;
            printf("# micro-kernel %s %dx%d, kc=%zu, in L1 (best of 40): %.2f GFLOP/s", entk_simd_name(), uk.mr, uk.nr,
                   kc, best_uk[p]);
            if (best_peak > 0) printf(" = %.0f%% of the FMA peak", 100.0 * best_uk[p] / best_peak);
            printf("\n");
        }
        free(ap); free(bpraw);
    }
    {
        /* one trailing update of the n = 2000 factorisation: C (1744 x 1744, lower) -= P P^T, k = 256 */
        const size_t m = 2000 - ENTK_CHOL_NB, k = ENTK_CHOL_NB;
        double *a = (double *)malloc(m * k * sizeof(double)), *c = (double *)calloc(m * m, sizeof(double));
        double *ws = (double *)malloc(entk__gemm_ws_doubles(m) * sizeof(double));
        syrk_arg sa;
        int p;
        size_t i;
        for (i = 0; i < m * k; ++i) a[i] = 1e-3 * (double)(i % 11);
        sa.m = m; sa.k = k; sa.a = a; sa.c = c; sa.ws = ws;
        for (p = 0; p < 2; ++p) {
            bu_stat t;
            if (entk_simd_set((entk_simd)p) != ENTK_OK) continue;
            t = bu_time(run_syrk, &sa, 5);
            printf("# packed SYRK %s m=%zu k=%zu (lower, m(m+1)k flops): %.2f GFLOP/s\n", entk_simd_name(), m, k,
                   (double)m * (double)(m + 1) * (double)k / t.min * 1e-9);
        }
        free(a); free(c); free(ws);
    }
    entk_simd_set(best);
    {
        const size_t n = 1000;
        double *a = (double *)malloc(n * n * sizeof(double)), *w = (double *)malloc(n * sizeof(double));
        double *v = (double *)malloc(n * n * sizeof(double));
        eig_arg e;
        bu_stat t;
        make_spd(n, a);
        e.n = n; e.a = a; e.w = w; e.v = v;
        t = bu_time(run_eig, &e, 3);
        printf("# entk_syev n=%zu with vectors (%s): min %.3f s, median %.3f s\n", n, entk_simd_name(), t.min, t.median);
        free(a); free(w); free(v);
    }
    return 0;
}
