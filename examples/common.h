/* Helpers shared by the example programs (not part of the library): a one-line failure exit,
 * allocation that exits on failure, a wall clock. The including file defines PROGRAM (its name, for
 * messages) and includes an entk header first. */
#ifndef EXAMPLES_COMMON_H
#define EXAMPLES_COMMON_H
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void fail(const char *what, entk_status st, const char *err) {
    fprintf(stderr, "%s: %s: %s\n", PROGRAM, what, err && err[0] ? err : entk_status_string(st));
    exit(1);
}

static double *xmalloc(size_t count) {
    double *p = (double *)malloc((count ? count : 1) * sizeof(double));
    if (!p) {
        fprintf(stderr, "%s: out of memory\n", PROGRAM);
        exit(1);
    }
    return p;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif
