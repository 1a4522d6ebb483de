/* Helpers shared by the Fashion-MNIST example programs (not part of the library): loading .npy files,
 * one-hot targets and accuracy, on top of examples/common.h. The including file defines PROGRAM (its
 * name, for messages) and includes entk.h first. */
#ifndef FASHION_COMMON_H
#define FASHION_COMMON_H
#include "common.h"

#define N_CLASSES 10

static inline void load(const char *dir, const char *name, entk_array *a) {
    char path[1024], err[256];
    entk_status st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if ((st = entk_npy_read_file(path, a, err, sizeof err))) fail(path, st, err);
}

/* docs/conventions.md §3: targets one-hot minus 1/k */
static inline double *onehot(const double *labels, size_t n) {
    double *y = xmalloc(n * N_CLASSES);
    size_t i;
    for (i = 0; i < n * N_CLASSES; ++i) y[i] = -1.0 / N_CLASSES;
    for (i = 0; i < n; ++i) y[i * N_CLASSES + (size_t)labels[i]] += 1.0;
    return y;
}

/* fraction of rows whose argmax is the label */
static inline double accuracy(const double *pred, const double *labels, size_t m) {
    size_t i, hits = 0;
    for (i = 0; i < m; ++i) {
        int c, best = 0;
        for (c = 1; c < N_CLASSES; ++c)
            if (pred[i * N_CLASSES + c] > pred[i * N_CLASSES + best]) best = c;
        hits += best == (int)labels[i];
    }
    return (double)hits / (double)m;
}
#endif
