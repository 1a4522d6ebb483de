/* Training finite networks (tests/finite_net.h, fnet_train): full-batch gradient descent throughput in
 * samples x steps per second for a CNN and a C4 GCNN on small Fashion-like inputs (1 x 7 x 7 and
 * 1 x 14 x 14, widths 16 and 32, 64 images, 10 outputs), one thread. For each network, the products of
 * its linear layers (forward, input delta, weight gradient, at the shapes fnet_train uses): entk's
 * packed GEMM alone, OpenBLAS cblas_dgemm on the same shapes, and the share of a training step they
 * take; all against the machine's FMA peak (benchutil.h). Times are process CPU time (the machine is
 * shared); min and median of several repetitions. */
#define ENTK_IMPLEMENTATION
#include "benchutil.h"
#include <math.h>
#include <string.h>
#include <cblas.h>
#include "tests/finite_net.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    fnet *net;
    fnet_work *w;
    const double *x, *y;
    double *grad;
    size_t n, k;
    int steps;
} train_arg;

/* fnet_train end to end (workspace allocation and the final forward pass included) */
static void run_train(void *p) {
    train_arg *a = (train_arg *)p;
    fnet_train(a->net, a->x, a->n, a->y, a->k, 1e-3, a->steps, NULL, NULL, NULL);
}

/* the work of one step but the O(parameters) update: forward, loss, backward */
static void run_step(void *p) {
    train_arg *a = (train_arg *)p;
    double loss;
    fnet__loss_grad(a->net, a->w, a->x, a->y, a->grad, &loss);
}

/* the products of one step, as fnet__forward and fnet__backward_layer issue them */
typedef struct {
    const fnet *net;
    fnet_work *w;
    double *dw, *c2;
    int blas;
} gemm_arg;

static void product(int blas, size_t m, size_t n, size_t k, double alpha, const double *a, int at, size_t lda,
                    const double *b, int bt, size_t ldb, double *c, size_t ldc, double *ws) {
    if (blas)
        cblas_dgemm(CblasRowMajor, at ? CblasTrans : CblasNoTrans, bt ? CblasTrans : CblasNoTrans, (int)m, (int)n,
                    (int)k, alpha, a, (int)lda, b, (int)ldb, 1.0, c, (int)ldc);
    else
        entk__gemm(m, n, k, alpha, a, at ? 1 : lda, at ? lda : 1, b, bt ? 1 : ldb, bt ? ldb : 1, c, ldc, 0, ws);
}

static void run_gemms(void *p) {
    gemm_arg *g = (gemm_arg *)p;
    fnet_work *w = g->w;
    int l;
    for (l = 0; l < g->net->nlayers; ++l) {
        const fnet_layer *fl = &g->net->layer[l];
        const size_t k2 = fl->ntap * fl->cin, nb = fnet__block(fl, w->N, g->net->colcap);
        size_t n;
        if (fl->kind != FNET_LINEAR) continue;
        for (n = 0; n < w->N; n += nb) {
            const size_t m = (n + nb <= w->N ? nb : w->N - n), rows = m * fl->pout;
            const double *col = fl->ident ? w->act[l] + n * fl->pin * fl->cin : w->col;
            double *out = w->act[l + 1] + n * fl->pout * fl->cout, *gb = w->g[0];
            product(g->blas, rows, fl->cout, k2, fl->alpha, col, 0, k2, fl->w, 1, k2, out, fl->cout, w->gws);
            product(g->blas, fl->cout, k2, rows, fl->alpha, gb, 1, fl->cout, col, 0, k2, g->dw, k2, w->gws);
            if (l > 0) product(g->blas, rows, k2, fl->cout, fl->alpha, gb, 0, fl->cout, fl->w, 0, k2, g->c2, k2, w->gws);
        }
    }
}

static void bench_net(const char *name, const char *arch_s, size_t S, size_t width, double peak) {
    enum { N = 64, K = 10, STEPS = 10 };
    entk_arch a;
    char err[160];
    fnet net;
    fnet_work w;
    train_arg ta;
    gemm_arg ga;
    bu_stat tt, ts, te, tb;
    double *x = malloc(N * S * S * sizeof(double)), *y = malloc(N * K * sizeof(double)), flops = 0, *dw, *c2;
    size_t i, maxk = 1, maxc = 1;
    int l;
    if (entk_arch_parse(arch_s, &a, err, sizeof err) || fnet_build(&net, &a, 1, S, S, width, K) ||
        fnet_work_alloc(&w, &net, N)) {
        printf("%s: cannot build (%s)\n", name, err);
        exit(1);
    }
    for (i = 0; i < N * S * S; ++i) x[i] = sin(0.37 * (double)i) + 0.3 * cos(1.7 * (double)i);
    for (i = 0; i < N * K; ++i) y[i] = i % K == (i / K) % K ? 0.9 : -0.1;
    fnet_draw(&net, 1);
    for (l = 0; l < net.nlayers; ++l) {
        const fnet_layer *fl = &net.layer[l];
        const size_t k2 = fl->ntap * fl->cin;
        if (fl->kind != FNET_LINEAR) continue;
        flops += 2.0 * (double)(N * fl->pout) * (double)fl->cout * (double)k2 * (l > 0 ? 3 : 2);
        if (fl->cout * k2 > maxk) maxk = fl->cout * k2;
        if (fnet__block(fl, N, net.colcap) * fl->pout * k2 > maxc) maxc = fnet__block(fl, N, net.colcap) * fl->pout * k2;
    }
    dw = calloc(maxk, sizeof(double));
    c2 = calloc(maxc, sizeof(double));
    ta.net = &net; ta.w = &w; ta.x = x; ta.y = y; ta.n = N; ta.k = K; ta.steps = STEPS;
    ta.grad = malloc(fnet_nparams(&net) * sizeof(double));
    run_step(&ta); /* leaves finite deltas and im2col blocks in w for the GEMM timing */
    ga.net = &net; ga.w = &w; ga.dw = dw; ga.c2 = c2;
    tt = bu_time_clock(cpu_now, run_train, &ta, 3);
    ts = bu_time_clock(cpu_now, run_step, &ta, 5);
    ga.blas = 0;
    te = bu_time_clock(cpu_now, run_gemms, &ga, 5);
    ga.blas = 1;
    tb = bu_time_clock(cpu_now, run_gemms, &ga, 5);
    printf("%-5s %2zux%-2zu %4zu %9.0f %9.0f %9.0f %8.1f %8.2f %8.2f %6.0f%% %8.2f %6.0f%% %6.0f%%\n", name, S, S, width,
           N / ts.min, N / ts.median, N * STEPS / tt.min, flops * 1e-6, flops / ts.min * 1e-9, flops / te.min * 1e-9,
           peak > 0 ? 100.0 * flops / te.min * 1e-9 / peak : 0.0, flops / tb.min * 1e-9,
           peak > 0 ? 100.0 * flops / tb.min * 1e-9 / peak : 0.0, 100.0 * te.min / ts.min);
    free(x); free(y); free(dw); free(c2); free(ta.grad);
    fnet_work_free(&w);
    fnet_free(&net);
}

int main(void) {
    static const size_t sizes[] = {7, 14}, widths[] = {16, 32};
    const double peak = bu_fma_peak(40);
    size_t s, j;
    bu_header("bench_train: fnet_train full-batch GD, 64 images, 10 outputs, 1 thread, CPU time");
    if (peak > 0) printf("# FMA peak (12 register chains, best of 40 slices): %.2f GFLOP/s\n", peak);
    printf("# smp*st/s: samples x steps per second of one step (forward, loss, backward; min, median) and of\n"
           "#   fnet_train(10) end to end (allocation and the final forward included)\n"
           "# MFLOP: the linear-layer products of one step (2 m n k each: forward, weight gradient, input delta but\n"
           "#   the first layer's); GF_step: those flops / step time; GF_entk, GF_blas: the same products alone\n"
           "#   through entk__gemm and cblas_dgemm (OpenBLAS, 1 thread); gemm%%: entk__gemm's share of the step\n");
    printf("%-5s %5s %4s %9s %9s %9s %8s %8s %8s %7s %8s %7s %7s\n", "net", "input", "w", "smp*st/s", "(median)",
           "(train)", "MFLOP", "GF_step", "GF_entk", "%peak", "GF_blas", "%peak", "gemm%");
    for (s = 0; s < 2; ++s)
        for (j = 0; j < 2; ++j) {
            bench_net("cnn", "conv(q=3,pad=circular) relu conv(q=3,pad=circular) relu gap dense", sizes[s],
                      widths[j], peak);
            bench_net("gcnn", "lift(n=4,q=3,pad=circular) relu gconv(q=3,pad=circular) relu gpool dense", sizes[s],
                      widths[j], peak);
        }
    return 0;
}
