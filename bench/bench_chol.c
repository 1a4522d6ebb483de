/* Cholesky: entk (scalar, AVX2 and AVX-512 paths) against OpenBLAS LAPACKE_dpotrf, single-threaded,
 * n = 500, 1000, 2000, GFLOP/s at n^3/3 flops (min and median of several repetitions), and what limits
 * entk: each path's micro-kernel on in-cache packed panels, the packed SYRK of one trailing update, and
 * the core's FMA peak: zmm and ymm FMA throughput from independent register-resident chains, the clock
 * from a chain of dependent integer adds (one per cycle), the peak as FMA units x lanes x 2 x clock.
 * Also the eigensolver at n = 1000. Prints the kernel OpenBLAS chose (openblas_get_corename): the
 * Makefile's bench rule runs this once with OPENBLAS_CORETYPE=Haswell (its AVX2 kernels) and once with
 * OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (its own choice). Run with OPENBLAS_NUM_THREADS=1 (the
 * bench rule sets it). */
#define ENTK_IMPLEMENTATION
#include "benchutil.h"
#include <math.h>
#include <string.h>
#include <lapacke.h>

char *openblas_get_corename(void); /* OpenBLAS's own; its cblas.h is not needed for the rest */

#define NPATH 4 /* entk_simd values 0..3 */
static const char *const impl_name[NPATH + 1] = {"entk-scal", "entk-avx2", "(neon)", "entk-avx512", "openblas"};

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
    for (r = 0; r < u->reps; ++r) uk.fn(u->kc, u->ap, u->bp, u->c, ENTK__NR_MAX);
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

/* Dependent integer adds, 8 per iteration: one per cycle, so iterations x 8 / time is the clock. */
__attribute__((noinline)) static long clock_loop(long iters) {
    long x = iters, i;
    for (i = 0; i < iters; ++i)
        __asm__ __volatile__("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
                             "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
    return x;
}

/* 24 independent FMA chains in registers (distinct starts, or the compiler merges them), every chain
 * summed at the end so none is dead; VT the vector type, P the intrinsic prefix. */
#define FMA_CHAINS(VT, P)                                                                                   \
    VT x0 = P##_set1_pd(1.0), x1 = P##_set1_pd(1.1), x2 = P##_set1_pd(1.2), x3 = P##_set1_pd(1.3);          \
    VT x4 = P##_set1_pd(1.4), x5 = P##_set1_pd(1.5), x6 = P##_set1_pd(1.6), x7 = P##_set1_pd(1.7);          \
    VT x8 = P##_set1_pd(1.8), x9 = P##_set1_pd(1.9), x10 = P##_set1_pd(2.0), x11 = P##_set1_pd(2.1);        \
    VT x12 = P##_set1_pd(2.2), x13 = P##_set1_pd(2.3), x14 = P##_set1_pd(2.4), x15 = P##_set1_pd(2.5);      \
    VT x16 = P##_set1_pd(2.6), x17 = P##_set1_pd(2.7), x18 = P##_set1_pd(2.8), x19 = P##_set1_pd(2.9);      \
    VT x20 = P##_set1_pd(3.0), x21 = P##_set1_pd(3.1), x22 = P##_set1_pd(3.2), x23 = P##_set1_pd(3.3);      \
    const VT m = P##_set1_pd(0.999999999), ad = P##_set1_pd(1e-9);                                          \
    double out[8];                                                                                          \
    long i;                                                                                                 \
    for (i = 0; i < iters; ++i) {                                                                           \
        x0 = P##_fmadd_pd(x0, m, ad); x1 = P##_fmadd_pd(x1, m, ad); x2 = P##_fmadd_pd(x2, m, ad);           \
        x3 = P##_fmadd_pd(x3, m, ad); x4 = P##_fmadd_pd(x4, m, ad); x5 = P##_fmadd_pd(x5, m, ad);           \
        x6 = P##_fmadd_pd(x6, m, ad); x7 = P##_fmadd_pd(x7, m, ad); x8 = P##_fmadd_pd(x8, m, ad);           \
        x9 = P##_fmadd_pd(x9, m, ad); x10 = P##_fmadd_pd(x10, m, ad); x11 = P##_fmadd_pd(x11, m, ad);       \
        x12 = P##_fmadd_pd(x12, m, ad); x13 = P##_fmadd_pd(x13, m, ad); x14 = P##_fmadd_pd(x14, m, ad);     \
        x15 = P##_fmadd_pd(x15, m, ad); x16 = P##_fmadd_pd(x16, m, ad); x17 = P##_fmadd_pd(x17, m, ad);     \
        x18 = P##_fmadd_pd(x18, m, ad); x19 = P##_fmadd_pd(x19, m, ad); x20 = P##_fmadd_pd(x20, m, ad);     \
        x21 = P##_fmadd_pd(x21, m, ad); x22 = P##_fmadd_pd(x22, m, ad); x23 = P##_fmadd_pd(x23, m, ad);     \
    }                                                                                                       \
    x0 = P##_add_pd(P##_add_pd(P##_add_pd(x0, x1), P##_add_pd(x2, x3)), P##_add_pd(P##_add_pd(x4, x5), P##_add_pd(x6, x7))); \
    x8 = P##_add_pd(P##_add_pd(P##_add_pd(x8, x9), P##_add_pd(x10, x11)), P##_add_pd(P##_add_pd(x12, x13), P##_add_pd(x14, x15))); \
    x16 = P##_add_pd(P##_add_pd(P##_add_pd(x16, x17), P##_add_pd(x18, x19)), P##_add_pd(P##_add_pd(x20, x21), P##_add_pd(x22, x23))); \
    P##_storeu_pd(out, P##_add_pd(P##_add_pd(x0, x8), x16));                                             \
    return out[0] + out[1]

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f,avx512vl,avx2,fma"), noinline)) static double fma_zmm_loop(long iters) {
    FMA_CHAINS(__m512d, _mm512);
}
__attribute__((target("avx512f,avx512vl,avx2,fma"), noinline)) static double fma_ymm_loop(long iters) {
    FMA_CHAINS(__m256d, _mm256);
}
#else
static double fma_zmm_loop(long iters) { return (double)iters; }
static double fma_ymm_loop(long iters) { return (double)iters; }
#endif

int main(void) {
    static const size_t ns[] = {500, 1000, 2000};
    const entk_simd best = entk_simd_path();
    const char *ct = getenv("OPENBLAS_CORETYPE"), *l2 = getenv("OPENBLAS_L2_SIZE");
    size_t s;
    int have[NPATH + 1], p;
    double peak[NPATH] = {0, 0, 0, 0};
    for (p = 0; p < NPATH; ++p) have[p] = p != ENTK_SIMD_NEON && entk_simd_set((entk_simd)p) == ENTK_OK;
    have[NPATH] = 1;
    entk_simd_set(best);
    bu_header("bench_chol: entk_cholesky vs OpenBLAS LAPACKE_dpotrf, 1 thread, GFLOP/s = n^3/3 / time");
    printf("# OpenBLAS kernels: %s (OPENBLAS_CORETYPE=%s, OPENBLAS_L2_SIZE=%s: %s)\n", openblas_get_corename(),
           ct ? ct : "unset", l2 ? l2 : "unset", ct ? "forced" : "OpenBLAS's own choice for this CPU");
    printf("# ENTK_CHOL_NB=%d KC=%d MC=%d NC=%d; micro-tiles:", ENTK_CHOL_NB, ENTK__KC, ENTK__MC, ENTK__NC);
    for (p = 0; p < NPATH; ++p)
        if (have[p]) printf(" %s %dx%d", impl_name[p] + 5, entk__kt_table((entk_simd)p)->uk.mr, entk__kt_table((entk_simd)p)->uk.nr);
    printf("; times exclude the matrix copy (timed and subtracted)\n");
    printf("%6s %-11s %9s %9s %10s %10s\n", "n", "impl", "min_ms", "med_ms", "GF/s(min)", "GF/s(med)");
    /* the machine is shared: the implementations run interleaved (one of each per round), so load
     * changes hit all of them alike; min and median over the rounds */
    for (s = 0; s < sizeof ns / sizeof ns[0]; ++s) {
        const size_t n = ns[s];
        const double flops = (double)n * (double)n * (double)n / 3.0;
        const int rounds = n >= 2000 ? 7 : 15;
        double *a = (double *)malloc(n * n * sizeof *a), *w = (double *)malloc(n * n * sizeof *a);
        double t[NPATH + 1][64], copy_min;
        chol_arg c;
        bu_stat copy;
        double gf[NPATH + 1][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}};
        int impl, r;
        make_spd(n, a);
        c.n = n; c.a = a; c.work = w; c.status = 0;
        copy = bu_time(run_copy, &c, 9);
        copy_min = copy.min;
        for (r = 0; r < rounds; ++r)
            for (impl = 0; impl <= NPATH; ++impl) {
                double t0;
                if (!have[impl]) continue;
                if (impl == 0 && n >= 2000 && r >= 3) continue; /* slow: 3 rounds only */
                c.lib = impl == NPATH;
                if (impl < NPATH) entk_simd_set((entk_simd)impl);
                t0 = bu_now();
                run_chol(&c);
                t[impl][r] = bu_now() - t0 - copy_min;
                if (c.status != 0) printf("# %s failed with status %d\n", impl_name[impl], c.status);
            }
        for (impl = 0; impl <= NPATH; ++impl) {
            const int cnt = impl == 0 && n >= 2000 ? 3 : rounds;
            if (!have[impl]) continue;
            qsort(t[impl], (size_t)cnt, sizeof(double), bu_cmp);
            gf[impl][0] = flops / t[impl][0] * 1e-9;
            gf[impl][1] = flops / t[impl][cnt / 2] * 1e-9;
            printf("%6zu %-11s %9.2f %9.2f %10.2f %10.2f\n", n, impl_name[impl], 1e3 * t[impl][0],
                   1e3 * t[impl][cnt / 2], gf[impl][0], gf[impl][1]);
        }
        for (impl = 1; impl < NPATH; ++impl)
            if (have[impl])
                printf("%6zu ratio %s/openblas(%s): %.3f (min)  %.3f (median)\n", n, impl_name[impl],
                       openblas_get_corename(), gf[impl][0] / gf[NPATH][0], gf[impl][1] / gf[NPATH][1]);
        free(a); free(w);
    }
    entk_simd_set(best);

    {
        /* the core's FMA throughput, zmm and ymm (24 chains each, 4-cycle latency needs >= 8 per FMA
         * unit; the ymm loop is built with AVX-512VL for its 32 registers), and its clock from dependent
         * adds, interleaved with each path's micro-kernel on in-cache packed panels (kc = KC, A MR x KC
         * and B KC x NR in L1) in short slices; best slice of each */
        const size_t kc = ENTK__KC;
        double *ap = (double *)malloc(ENTK__MR_MAX * kc * sizeof(double));
        double *bpraw = (double *)malloc((ENTK__NR_MAX * kc + 8) * sizeof(double));
        double *bp = bpraw + ((64u - ((uintptr_t)bpraw & 63u)) & 63u) / sizeof(double);
        double cbuf[ENTK__MR_MAX * ENTK__NR_MAX];
        double best_uk[NPATH] = {0, 0, 0, 0}, best_z = 0, best_y = 0, clock = 0, sink = 0;
        uk_arg u;
        size_t i;
        int r;
        for (i = 0; i < ENTK__MR_MAX * kc; ++i) ap[i] = 1e-3 * (double)(i % 7);
        for (i = 0; i < ENTK__NR_MAX * kc; ++i) bp[i] = 1e-3 * (double)(i % 5);
        memset(cbuf, 0, sizeof cbuf);
        u.kc = kc; u.ap = ap; u.bp = bp; u.c = cbuf; u.reps = 1000;
        for (r = 0; r < 40; ++r) {
            double t0 = bu_now(), g;
            const long iters = 1000000;
            sink += (double)clock_loop(iters);
            g = (double)iters * 8 / (bu_now() - t0) * 1e-9;
            if (g > clock) clock = g;
            if (have[ENTK_SIMD_AVX512]) {
                t0 = bu_now();
                sink += fma_zmm_loop(iters);
                g = (double)iters * 24 * 8 * 2 / (bu_now() - t0) * 1e-9;
                if (g > best_z) best_z = g;
                t0 = bu_now();
                sink += fma_ymm_loop(iters);
                g = (double)iters * 24 * 4 * 2 / (bu_now() - t0) * 1e-9;
                if (g > best_y) best_y = g;
            } else if (have[ENTK_SIMD_AVX2]) {
                t0 = bu_now();
                sink += bu_fma_peak_loop(iters);
                g = (double)iters * 12 * 4 * 2 / (bu_now() - t0) * 1e-9;
                if (g > best_y) best_y = g;
            }
            for (p = 0; p < NPATH; ++p) {
                entk__ukernel uk;
                if (!have[p]) continue;
                uk = entk__kt_table((entk_simd)p)->uk;
                entk_simd_set((entk_simd)p);
                t0 = bu_now();
                run_ukernel(&u);
                g = 2.0 * uk.mr * uk.nr * (double)kc * u.reps / (bu_now() - t0) * 1e-9;
                if (g > best_uk[p]) best_uk[p] = g;
            }
        }
        printf("# clock (dependent integer adds, best of 40 slices): %.2f GHz (sink %g)\n", clock, sink);
        if (best_y > 0)
            printf("# ymm FMA throughput: %.2f GFLOP/s = %.2f FMA/cycle (%s)\n", best_y, best_y / (8 * clock),
                   have[ENTK_SIMD_AVX512] ? "24 chains" : "12 chains");
        if (best_z > 0) {
            const double units = floor(best_z / (16 * clock) + 0.5);
            printf("# zmm FMA throughput: %.2f GFLOP/s = %.2f FMA/cycle; zmm/ymm = %.2f (%s)\n", best_z,
                   best_z / (16 * clock), best_z / best_y,
                   best_z > 1.6 * best_y ? "full-width 512-bit FMA units" : "512-bit FMAs split or one 512-bit unit");
            peak[ENTK_SIMD_AVX512] = units * 8 * 2 * clock;
            printf("# AVX-512 peak = %.0f FMA units x 8 doubles x 2 flops x %.2f GHz = %.1f GFLOP/s\n", units, clock,
                   peak[ENTK_SIMD_AVX512]);
        }
        if (best_y > 0) {
            const double units = floor(best_y / (8 * clock) + 0.5);
            peak[ENTK_SIMD_AVX2] = units * 4 * 2 * clock;
            printf("# AVX2 peak = %.0f FMA units x 4 doubles x 2 flops x %.2f GHz = %.1f GFLOP/s\n", units, clock,
                   peak[ENTK_SIMD_AVX2]);
        }
        for (p = 0; p < NPATH; ++p) {
            entk__ukernel uk;
            if (!have[p]) continue;
            uk = entk__kt_table((entk_simd)p)->uk;
            entk_simd_set((entk_simd)p);
            printf("# micro-kernel %s %dx%d, kc=%zu, in L1 (best of 40): %.2f GFLOP/s", entk_simd_name(), uk.mr, uk.nr,
                   kc, best_uk[p]);
            if (peak[p] > 0) printf(" = %.0f%% of the %s peak", 100.0 * best_uk[p] / peak[p], impl_name[p] + 5);
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
        size_t i;
        for (i = 0; i < m * k; ++i) a[i] = 1e-3 * (double)(i % 11);
        sa.m = m; sa.k = k; sa.a = a; sa.c = c; sa.ws = ws;
        for (p = 0; p < NPATH; ++p) {
            bu_stat t;
            if (!have[p]) continue;
            entk_simd_set((entk_simd)p);
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
