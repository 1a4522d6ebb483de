/* Allocation failures and sizes that overflow: every allocation of every allocating entry point is
 * made to fail in turn (through the ENTK_MALLOC/ENTK_FREE hooks of a static copy of the library), and
 * each time the call returns ENTK_ERR_NOMEM with nothing leaked (or, for an optional block such as
 * entk_cn's per-thread table cache, ENTK_OK with the reference result bit for bit); then it is let
 * through and must give the reference result. Sizes whose byte counts overflow size_t give ENTK_ERR_OVERFLOW before
 * anything is read or allocated. */
/* the static copy leaves most of the library unused in this file */
#pragma GCC diagnostic ignored "-Wunused-function"
#include <pthread.h>
#include <stdlib.h>
#include <stdint.h>
/* The hooks are called from the library's worker threads too (threads = 2): one lock keeps the counts
 * exact (unguarded, a lost update showed as a leak or a wrong count once, on a loaded machine). */
static long fi_countdown = -1; /* allocations left before the next one fails; -1: never fail */
static long fi_live = 0, fi_calls = 0;
static pthread_mutex_t fi_lock = PTHREAD_MUTEX_INITIALIZER;
static void *fi_malloc(size_t n) {
    void *p = NULL;
    pthread_mutex_lock(&fi_lock);
    ++fi_calls;
    if (fi_countdown != 0) {
        if (fi_countdown > 0) --fi_countdown;
        p = malloc(n);
        if (p) ++fi_live;
    }
    pthread_mutex_unlock(&fi_lock);
    return p;
}
static void fi_free(void *p) {
    pthread_mutex_lock(&fi_lock);
    if (p) --fi_live;
    pthread_mutex_unlock(&fi_lock);
    free(p);
}
#define ENTK_MALLOC(n) fi_malloc(n)
#define ENTK_FREE(p) fi_free(p)
#define ENTK_STATIC
#define ENTK_IMPLEMENTATION
#include <criterion/criterion.h>
#include "testutil.h"
#include "entk_cn.h"

typedef entk_status (*call_fn)(void *ctx, int check);

/* Fail allocation k = 0, 1, ... until a run makes no failing allocation; every failure must give
 * ENTK_ERR_NOMEM and leave nothing allocated. Returns the number of allocations the call makes. */
static long every_allocation_fails_cleanly(call_fn f, void *ctx, const char *what) {
    long k, total;
    fi_countdown = -1; fi_calls = 0; fi_live = 0;
    cr_assert_eq(f(ctx, 1), ENTK_OK, "%s: reference run", what);
    total = fi_calls;
    cr_assert_eq(fi_live, 0, "%s: the reference run leaked %ld blocks", what, fi_live);
    for (k = 0; k < total; ++k) {
        entk_status st;
        fi_countdown = k; fi_calls = 0; fi_live = 0;
        st = f(ctx, 1); /* an optional block (a cache) may be done without: then the result must hold */
        cr_assert(st == ENTK_ERR_NOMEM || st == ENTK_OK, "%s: allocation %ld of %ld failed, status %s", what, k,
                  total, entk_status_string(st));
        cr_assert_eq(fi_live, 0, "%s: allocation %ld failed and %ld blocks leaked", what, k, fi_live);
    }
    fi_countdown = -1;
    cr_assert_eq(f(ctx, 1), ENTK_OK, "%s: after the failures", what);
    return total;
}

typedef struct {
    entk_arch a;
    double x[6 * 2 * 5 * 5], K[36], T[36], K0[36], T0[36];
    int threads, orbit;
} gram_ctx;

static entk_status mlp_call(void *p, int check) {
    gram_ctx *c = p;
    entk_status st = entk_mlp_kernel(&c->a, c->x, 6, NULL, 0, 50, c->K, 6, c->T, 6, c->threads);
    if (check && !st) cr_assert(memcmp(c->K, c->K0, sizeof c->K) == 0 && memcmp(c->T, c->T0, sizeof c->T) == 0);
    return st;
}
static entk_status cn_call(void *p, int check) {
    gram_ctx *c = p;
    entk_status st = c->orbit ? entk_cn_kernel_orbit(&c->a, ENTK_ORBIT_C4, c->x, 6, NULL, 0, 2, 5, 5, c->K, 6,
                                                     c->T, 6, c->threads)
                              : entk_cn_kernel(&c->a, c->x, 6, NULL, 0, 2, 5, 5, c->K, 6, c->T, 6, c->threads);
    if (check && !st) cr_assert(memcmp(c->K, c->K0, sizeof c->K) == 0 && memcmp(c->T, c->T0, sizeof c->T) == 0);
    return st;
}

static void gram_init(gram_ctx *c, const char *arch, call_fn f) {
    tu_rng r = {5};
    c->a = tu_parse(arch);
    tu_fill_normal(&r, c->x, sizeof c->x / sizeof c->x[0]);
    fi_countdown = -1;
    cr_assert_eq(f(c, 0), ENTK_OK);
    memcpy(c->K0, c->K, sizeof c->K);
    memcpy(c->T0, c->T, sizeof c->T);
}

Test(alloc, mlp_kernel_every_allocation_failure_is_nomem) {
    static gram_ctx c;
    c.threads = 1;
    gram_init(&c, "dense(sw=1.3,sb=0.2) relu dense erf dense", mlp_call);
    cr_assert_geq(every_allocation_fails_cleanly(mlp_call, &c, "mlp"), 1);
}

Test(alloc, cn_kernel_every_allocation_failure_is_nomem) {
    static const char *archs[] = {"conv(q=3,pad=same) relu conv(q=3) relu gap dense",
                                  "lift(n=4,q=3,pad=circular) relu gconv(q=3,pad=circular) relu gpool dense"};
    static gram_ctx c;
    int i, th;
    for (i = 0; i < 2; ++i)
        for (th = 1; th <= 2; th += 1) {
            c.threads = th; c.orbit = 0;
            gram_init(&c, archs[i], cn_call);
            cr_assert_geq(every_allocation_fails_cleanly(cn_call, &c, archs[i]), 1);
        }
    c.threads = 2; c.orbit = 1;
    gram_init(&c, "conv(q=3,pad=circular) relu conv(q=3,pad=circular) relu gap dense", cn_call);
    cr_assert_geq(every_allocation_fails_cleanly(cn_call, &c, "orbit"), 1);
}

typedef struct {
    double Kt[16], Kx[8], y[8], mean[4], var[2], cov[4];
    double t;
} pred_ctx;

static entk_status pred_call(void *p, int check) {
    pred_ctx *c = p;
    entk_kernels k = {4, 2, c->Kt, 4, c->Kx, 4, NULL, NULL, 0};
    double tt[4] = {2.0, 0.3, 0.3, 2.0};
    entk_predict_opts o = entk_predict_opts_default();
    entk_status st;
    (void)check;
    k.test_test = tt; k.ld_test_test = 2;
    o.t = c->t;
    if ((st = entk_predict_mean(&k, 2, c->y, 2, &o, c->mean, 2, NULL))) return st;
    if ((st = entk_predict_nngp(&k, 2, c->y, 2, &o, c->mean, 2, c->var, c->cov, 2, NULL))) return st;
    return entk_predict_ntk_ensemble(&k, &k, 2, c->y, 2, &o, c->mean, 2, c->var, c->cov, 2, NULL);
}

Test(alloc, predictors_every_allocation_failure_is_nomem) {
    static pred_ctx c;
    tu_rng r = {9};
    double a[16];
    size_t i, j, l;
    tu_fill_normal(&r, a, 16);
    for (i = 0; i < 4; ++i)
        for (j = 0; j < 4; ++j) {
            double s = i == j ? 1.0 : 0.0;
            for (l = 0; l < 4; ++l) s += a[i * 4 + l] * a[j * 4 + l];
            c.Kt[i * 4 + j] = s;
        }
    tu_fill_normal(&r, c.Kx, 8);
    tu_fill_normal(&r, c.y, 8);
    c.t = INFINITY;
    cr_assert_geq(every_allocation_fails_cleanly(pred_call, &c, "predict t=inf"), 1);
    c.t = 3.0;
    cr_assert_geq(every_allocation_fails_cleanly(pred_call, &c, "predict t=3"), 1);
}

static entk_status npy_call(void *p, int check) {
    const unsigned char *buf = p;
    entk_array arr;
    char err[128];
    entk_status st = entk_npy_read_mem(buf + 8, ((const size_t *)p)[0], &arr, err, sizeof err);
    if (st) return st;
    if (check) cr_assert(arr.ndim == 2 && arr.shape[0] == 3 && arr.shape[1] == 4 && arr.data[5] == 5.0);
    entk_array_free(&arr);
    return ENTK_OK;
}

Test(alloc, npy_read_every_allocation_failure_is_nomem) {
    static union { size_t len; unsigned char b[8 + 512]; } u;
    double d[12];
    size_t shape[2] = {3, 4}, i, len = 0;
    for (i = 0; i < 12; ++i) d[i] = (double)i;
    cr_assert_eq(entk_npy_write_mem(d, 2, shape, u.b + 8, 512, &len), ENTK_OK);
    u.len = len;
    every_allocation_fails_cleanly(npy_call, &u, "npy");
}

/* Sizes whose byte counts overflow size_t: ENTK_ERR_OVERFLOW, decided from the sizes alone (the
 * pointers below point at a few doubles only: reading past them would crash under the sanitizers). */
Test(alloc, sizes_that_overflow_size_t_are_refused) {
    entk_arch mlp = tu_parse("dense relu dense"), cn = tu_parse("conv(q=3,pad=same) relu gap");
    double x[8] = {0}, out[8];
    size_t wl, sl;
    const size_t big = SIZE_MAX / 4 + 1; /* big * 8 overflows */
    fi_countdown = -1;
    cr_assert_eq(entk_mlp_kernel(&mlp, x, big, NULL, 0, 8, out, big, NULL, 0, 1), ENTK_ERR_OVERFLOW);
    cr_assert_eq(entk_mlp_kernel(&mlp, x, 2, x, 2, big, out, 2, NULL, 0, 1), ENTK_ERR_OVERFLOW);
    cr_assert_eq(entk_mlp_kernel(&mlp, x, (size_t)1 << 33, x, (size_t)1 << 33, (size_t)1 << 33, out,
                                 (size_t)1 << 33, NULL, 0, 1), ENTK_ERR_OVERFLOW);
    cr_assert_eq(entk_mlp_diag(&mlp, x, big, 8, out, NULL), ENTK_ERR_OVERFLOW);
    cr_assert_eq(entk_cn_workspace_size(&cn, 1, (size_t)1 << 17, (size_t)1 << 17, &wl, &sl), ENTK_ERR_OVERFLOW);
    cr_assert_eq(entk_cn_workspace_size(&cn, big, 2, 2, &wl, &sl), ENTK_ERR_OVERFLOW);
    cr_assert_eq(entk_cn_kernel(&cn, x, big, NULL, 0, 1, 2, 2, out, big, NULL, 0, 1), ENTK_ERR_OVERFLOW);
    cr_assert_eq(entk_cn_kernel(&cn, x, 2, x, 2, 1, (size_t)1 << 17, (size_t)1 << 17, out, 2, NULL, 0, 1),
                 ENTK_ERR_OVERFLOW);
    cr_assert_eq(entk_cn_kernel(&cn, x, 2, x, 2, big, 2, 2, out, 2, NULL, 0, 1), ENTK_ERR_OVERFLOW);
    cr_assert_eq(entk_cn_kernel_orbit(&cn, ENTK_ORBIT_C4, x, big, x, 2, 1, 2, 2, out, 2, NULL, 0, 1),
                 ENTK_ERR_OVERFLOW);
}
