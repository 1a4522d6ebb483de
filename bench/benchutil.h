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
static bu_stat bu_time(void (*fn)(void *), void *arg, int reps) { return bu_time_clock(bu_now, fn, arg, reps); }

static void bu_header(const char *what) {
    printf("# %s | entk %s | simd %s | SLEEF %s\n", what, ENTK_VERSION_STRING, entk_simd_name(),
           entk_sleef_version());
}
#endif
