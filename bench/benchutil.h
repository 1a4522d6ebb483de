/* Shared benchmark helpers: repeat, keep min and median, print the SIMD path and SLEEF version.
 * Absolute times on a shared 2-core machine are noise: benchmarks print ratios measured in one run. */
#ifndef ENTK_BENCHUTIL_H
#define ENTK_BENCHUTIL_H
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "entk.h"

static double bu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int bu_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct { double min, median; } bu_stat;

/* Time fn(arg) `reps` times (reps <= 64) on the given clock (seconds); min and median. */
static bu_stat bu_time_clock(double (*clock_fn)(void), void (*fn)(void *), void *arg, int reps) {
    double t[64];
    bu_stat s;
    int i;
    if (reps > 64) reps = 64;
    if (reps < 1) reps = 1;
    for (i = 0; i < reps; ++i) {
        double t0 = clock_fn();
        fn(arg);
        t[i] = clock_fn() - t0;
    }
    qsort(t, (size_t)reps, sizeof t[0], bu_cmp);
    s.min = t[0];
    s.median = t[reps / 2];
    return s;
}

/* bu_time_clock on the wall clock */
static __attribute__((unused)) bu_stat bu_time(void (*fn)(void *), void *arg, int reps) { return bu_time_clock(bu_now, fn, arg, reps); }

/* The FMA throughput ceiling of one core: 12 independent FMA chains held in registers (x86-64 with
 * AVX2+FMA; elsewhere bu_fma_peak returns 0). */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx2,fma"), noinline, unused))
static double bu_fma_peak_loop(long iters) {
    /* distinct starting values, or the compiler merges the identical chains into one */
    __m256d x0 = _mm256_set1_pd(1.0), x1 = _mm256_set1_pd(1.1), x2 = _mm256_set1_pd(1.2), x3 = _mm256_set1_pd(1.3);
    __m256d x4 = _mm256_set1_pd(1.4), x5 = _mm256_set1_pd(1.5), x6 = _mm256_set1_pd(1.6), x7 = _mm256_set1_pd(1.7);
    __m256d x8 = _mm256_set1_pd(1.8), x9 = _mm256_set1_pd(1.9), x10 = _mm256_set1_pd(2.0), x11 = _mm256_set1_pd(2.1);
    const __m256d m = _mm256_set1_pd(0.999999999), ad = _mm256_set1_pd(1e-9);
    long i;
    double out[4];
    for (i = 0; i < iters; ++i) {
        x0 = _mm256_fmadd_pd(x0, m, ad); x1 = _mm256_fmadd_pd(x1, m, ad); x2 = _mm256_fmadd_pd(x2, m, ad);
        x3 = _mm256_fmadd_pd(x3, m, ad); x4 = _mm256_fmadd_pd(x4, m, ad); x5 = _mm256_fmadd_pd(x5, m, ad);
        x6 = _mm256_fmadd_pd(x6, m, ad); x7 = _mm256_fmadd_pd(x7, m, ad); x8 = _mm256_fmadd_pd(x8, m, ad);
        x9 = _mm256_fmadd_pd(x9, m, ad); x10 = _mm256_fmadd_pd(x10, m, ad); x11 = _mm256_fmadd_pd(x11, m, ad);
    }
    x0 = _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(x0, x1), _mm256_add_pd(x2, x3)),
                       _mm256_add_pd(_mm256_add_pd(x4, x5), _mm256_add_pd(x6, x7)));
    x0 = _mm256_add_pd(x0, _mm256_add_pd(_mm256_add_pd(x8, x9), _mm256_add_pd(x10, x11)));
    _mm256_storeu_pd(out, x0);
    return out[0] + out[1] + out[2] + out[3];
}

/* Best GFLOP/s of `slices` runs of 1e6 iterations (each 96 MFLOP); 0 without AVX2+FMA. */
static __attribute__((unused)) double bu_fma_peak(int slices) {
    static volatile double sink;
    double best = 0;
    int r;
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
    for (r = 0; r < slices; ++r) {
        const long iters = 1000000;
        double t0 = bu_now(), g;
        sink += bu_fma_peak_loop(iters);
        g = (double)iters * 12 * 4 * 2 / (bu_now() - t0) * 1e-9;
        if (g > best) best = g;
    }
    return best;
}
#else
static __attribute__((unused)) double bu_fma_peak(int slices) { (void)slices; return 0; }
#endif

static void bu_header(const char *what) {
    printf("# %s | entk %s | simd %s | SLEEF %s\n", what, ENTK_VERSION_STRING, entk_simd_name(),
           entk_sleef_version());
}
#endif
