/* entk_cn.h benchmarks: per-pair cost of a 2-layer C4 GCNN, the separable window sum against the
 * direct q^2 one, the r = 0 symmetry reduction against all n^2 blocks, and neural-tangents' standard
 * CNN (21 x [conv 3x3 same, relu], gap, dense on 3 x 32 x 32, float64) in ms per NTK entry, with the
 * bound measured: bytes moved per layer against a copy bandwidth, map elements against the map rate. */
#include "bench/benchutil.h"
#include <string.h>
#include <math.h>
#define ENTK_IMPLEMENTATION
#include "entk_cn.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* bu_time on the process CPU clock: on a machine shared with other jobs, single-threaded work is
 * timed by CPU time (wall time there includes the time other jobs hold the core). */
static bu_stat cpu_time(void (*fn)(void *), void *arg, int reps) { return bu_time_clock(cpu_now, fn, arg, reps); }

static double *images(size_t n, size_t C, size_t H, size_t W, unsigned seed) {
    double *x = malloc(n * C * H * W * sizeof *x);
    size_t i;
    for (i = 0; i < n * C * H * W; ++i) x[i] = sin(0.37 * (double)i + seed) + 0.3 * cos(1.7 * (double)i * seed);
    return x;
}

static entk_arch parse(const char *s) {
    entk_arch a;
    char err[160];
    if (entk_arch_parse(s, &a, err, sizeof err)) { fprintf(stderr, "%s: %s\n", s, err); exit(1); }
    return a;
}

/* ---- copy bandwidth (STREAM-like copy: bytes read + written) ---- */
typedef struct { double *a, *b; size_t n; } copy_arg;
static void do_copy(void *p) { copy_arg *c = p; memcpy(c->b, c->a, c->n * sizeof(double)); }

/* ---- nonlinearity map rate ---- */
typedef struct { entk_nonlin nl; double *k, *t, *d; size_t n, P; } map_arg;
static void do_map(void *p) {
    map_arg *m = p;
    size_t r;
    for (r = 0; r < m->n / m->P; ++r)
        entk_nonlin_map(&m->nl, m->P, m->d + r % m->P, 0, m->d, 1, m->k + r * m->P, m->t + r * m->P,
                        m->k + r * m->P, m->t + r * m->P);
}

/* ---- window sum ---- */
typedef struct { double *m, *tmp, *out; size_t H, W; int direct, block, n; } ws_arg;
static void do_ws(void *p) {
    ws_arg *w = p;
    entk_cn_window_sum(w->m, w->H, w->W, 3, ENTK_PAD_SAME, w->n, 0, w->block, w->direct, w->tmp, w->out);
}

/* ---- one pair with precomputed self records ---- */
typedef struct { const entk_arch *a; const double *x1, *x2, *s1, *s2; size_t C, H, W; double *w, k, t; int ntk; } pair_arg;
static void do_pair(void *p) {
    pair_arg *q = p;
    entk_cn_pair(q->a, q->x1, q->s1, q->x2, q->s2, q->C, q->H, q->W, q->w, &q->k, q->ntk ? &q->t : NULL);
}

/* ---- one input's self record ---- */
typedef struct { const entk_arch *a; const double *x; size_t C, H, W; double *rec, *w; } self_arg;
static void do_self(void *p) {
    self_arg *q = p;
    entk_cn_self(q->a, q->x, q->C, q->H, q->W, q->rec, q->w);
}

/* ---- Gram ---- */
typedef struct { const entk_arch *a; const double *x1, *x2; size_t n1, n2, C, H, W; double *k, *t; int threads; } gram_arg;
static void do_gram(void *p) {
    gram_arg *g = p;
    entk_status st = entk_cn_kernel(g->a, g->x1, g->n1, g->x2, g->x2 ? g->n2 : 0, g->C, g->H, g->W, g->k, g->n2, g->t,
                                    g->n2, g->threads);
    if (st) { fprintf(stderr, "gram: %s\n", entk_status_string(st)); exit(1); }
}

/* Bytes moved by one pair under the model of the implementation: per linear layer and stored block,
 * for K and Theta each, the input kernel read once and the output written once (the first pass's slabs
 * and the output row stay in cache through the second pass, the affine update and the fused map).
 * chain: pair mode on a large image runs chains of up to 21 same-padded 3 x 3 conv layers on diagonal
 * tiles (entk__cn_tiled; other same-padded chains: up to 3 layers, entk__cn_fused), which read their
 * input and write their output once. This model counts 3 x 3 chains only. */
static double model_bytes(const entk_arch *a, size_t H, size_t W, int ntk, int chain) {
    double bytes = 0;
    int l, ng = 1, m = 0;
    for (l = 0; l < a->n_layers; ++l) {
        const entk_layer *ly = &a->layer[l];
        if (ly->kind == ENTK_LAYER_GAP || ly->kind == ENTK_LAYER_GPOOL || ly->kind == ENTK_LAYER_FLATTEN) break;
        if (ly->kind == ENTK_LAYER_NONLIN) continue;
        if (chain && ly->kind == ENTK_LAYER_CONV && ly->pad == ENTK_PAD_SAME && m > 0 && m < 21 && ly->q == 3) {
            ++m; /* inside the chain: nothing through memory */
            continue;
        }
        m = chain && ly->kind == ENTK_LAYER_CONV && ly->pad == ENTK_PAD_SAME && ly->q == 3 ? 1 : 0;
        if (ly->kind == ENTK_LAYER_CONV || ly->kind == ENTK_LAYER_LIFT || ly->kind == ENTK_LAYER_GCONV) {
            size_t ho = ly->pad == ENTK_PAD_VALID ? H - ly->q + 1 : H, wo = ly->pad == ENTK_PAD_VALID ? W - ly->q + 1 : W;
            double pin = (double)(H * W), pout = (double)(ho * wo);
            if (ly->kind == ENTK_LAYER_LIFT) ng = ly->n * (1 + ly->flip);
            bytes += (ntk && l > 0 ? 2 : 1) * ng * 8.0 * (pin * pin + pout * pout);
            H = ho; W = wo;
        }
    }
    return bytes;
}

/* Bytes one pair of an image network moves through memory (K and Theta), under the model of the
 * implementation for block-row sweeps: the input kernel M0 written once; layer by layer (fused = 0) a
 * conv / lift / gconv reads its input kernels once per stored output block (a lift the one pixel
 * kernel for each of its blocks) and writes its output, a nonlinearity not after a linear layer reads
 * and writes in place, the reduction reads the last kernels. fused = 1: chains of block-row sweeps
 * (entk__cn_fused: a lift or gconv and up to 2 gconvs after it, or convs; same or valid padding, q <= 3
 * after the first) read their input once per block and write only their last layer's output, nothing
 * when the reduction follows (taken from the rows; flatten builds block 0 only). Pools are counted as
 * a read and a write. Diagonal-tile chains (same-padded 3 x 3 convs) are counted like block-row chains. */
static double sweep_bytes(const entk_arch *a, size_t H, size_t W, int fused) {
    double bytes = 8.0 * (double)(H * W) * (double)(H * W), P;
    int l = 0, ng = 1, nk = 1, after_lin = 0;
    while (l < a->n_layers) {
        const entk_layer *ly = &a->layer[l];
        P = (double)(H * W);
        if (ly->kind == ENTK_LAYER_GAP || ly->kind == ENTK_LAYER_GPOOL || ly->kind == ENTK_LAYER_FLATTEN) {
            bytes += ly->kind == ENTK_LAYER_FLATTEN ? 8.0 * nk * P : 8.0 * nk * ng * P * P;
            break;
        }
        if (ly->kind == ENTK_LAYER_NONLIN) {
            if (!after_lin) bytes += 2 * 8.0 * nk * ng * P * P;
            ++l;
            continue;
        }
        after_lin = 0;
        if (ly->kind == ENTK_LAYER_AVGPOOL || ly->kind == ENTK_LAYER_ROTPOOL) {
            const size_t p = ly->kind == ENTK_LAYER_AVGPOOL ? (size_t)ly->p : 1;
            const int ngo = ly->kind == ENTK_LAYER_ROTPOOL ? 1 : ng;
            bytes += 8.0 * nk * (ng * P * P + ngo * (double)(H / p * (W / p)) * (double)(H / p * (W / p)));
            H /= p; W /= p; ng = ngo; ++l;
            continue;
        }
        {
            const int nb = ly->kind == ENTK_LAYER_LIFT ? ly->n * (1 + ly->flip) : ng;
            const int gr = ly->kind != ENTK_LAYER_CONV;
            int m = 0, x = l, red = 0;
            size_t h = H, w = W;
            while (x < a->n_layers && m < (fused ? 3 : 1)) { /* the chain from layer l */
                const entk_layer *c = &a->layer[x];
                if (!(c->kind == ENTK_LAYER_CONV || c->kind == ENTK_LAYER_LIFT || c->kind == ENTK_LAYER_GCONV) ||
                    (c->pad != ENTK_PAD_SAME && c->pad != ENTK_PAD_VALID) ||
                    (m > 0 && (c->q > 3 || c->kind != (gr ? ENTK_LAYER_GCONV : ENTK_LAYER_CONV))))
                    break;
                if (c->pad == ENTK_PAD_VALID) { h -= (size_t)c->q - 1; w -= (size_t)c->q - 1; }
                x += x + 1 < a->n_layers && a->layer[x + 1].kind == ENTK_LAYER_NONLIN ? 2 : 1;
                ++m;
            }
            if (m == 0) { /* circular padding: one layer */
                x = l + (l + 1 < a->n_layers && a->layer[l + 1].kind == ENTK_LAYER_NONLIN ? 2 : 1);
                m = 1;
            }
            if (m < 2) { /* (a chain of one is the layer itself; tiled chains do not fuse the reduction) */
                const entk_layer *c = &a->layer[l];
                h = c->pad == ENTK_PAD_VALID ? H - (size_t)c->q + 1 : H;
                w = c->pad == ENTK_PAD_VALID ? W - (size_t)c->q + 1 : W;
                x = l + (l + 1 < a->n_layers && a->layer[l + 1].kind == ENTK_LAYER_NONLIN ? 2 : 1);
            }
            red = fused && m >= 2 && x < a->n_layers &&
                  (a->layer[x].kind == ENTK_LAYER_GAP || a->layer[x].kind == ENTK_LAYER_GPOOL ||
                   a->layer[x].kind == ENTK_LAYER_FLATTEN);
            bytes += 8.0 * nk * (red && a->layer[x].kind == ENTK_LAYER_FLATTEN ? 1 : nb) * P * P;
            if (red) return bytes;
            bytes += 8.0 * 2 * nb * (double)(h * w) * (double)(h * w);
            nk = 2; ng = nb; H = h; W = w; l = x; after_lin = 1;
        }
    }
    return bytes;
}

/* One walk over the image layers of a pair. *adds: the adds it spends in window sums (per linear
 * layer, stored block and kernel, the first pass's slabs, q adds per entry of H rows x W columns x the
 * slab, and the second pass, q per output entry: counted as 2 q per output entry and kernel). *elems:
 * the entries mapped through nonlinearities ((HW)^2 per stored block at each image nonlinearity). */
static void layer_counts(const entk_arch *a, size_t H, size_t W, double *adds, double *elems) {
    int l, ng = 1, nk = 1;
    *adds = *elems = 0;
    for (l = 0; l < a->n_layers; ++l) {
        const entk_layer *ly = &a->layer[l];
        if (ly->kind == ENTK_LAYER_GAP || ly->kind == ENTK_LAYER_GPOOL || ly->kind == ENTK_LAYER_FLATTEN) break;
        if (ly->kind == ENTK_LAYER_CONV || ly->kind == ENTK_LAYER_LIFT || ly->kind == ENTK_LAYER_GCONV) {
            if (ly->kind == ENTK_LAYER_LIFT) ng = ly->n * (1 + ly->flip);
            if (ly->pad == ENTK_PAD_VALID) { H -= ly->q - 1; W -= ly->q - 1; }
            *adds += 2.0 * ly->q * nk * ng * (double)(H * W) * (double)(H * W);
            nk = 2;
        }
        if (ly->kind == ENTK_LAYER_NONLIN) *elems += (double)ng * (double)(H * W) * (double)(H * W);
    }
}
static double wsum_adds(const entk_arch *a, size_t H, size_t W) {
    double adds, elems;
    layer_counts(a, H, W, &adds, &elems);
    return adds;
}
static double map_elems(const entk_arch *a, size_t H, size_t W) {
    double adds, elems;
    layer_counts(a, H, W, &adds, &elems);
    return elems;
}


/* CPU seconds per pair (self records precomputed), 200 pairs per sample */
static double pair_cpu(pair_arg *q) {
    int r;
    double best = 1e30;
    for (r = 0; r < 7; ++r) {
        double t0 = cpu_now();
        int z;
        for (z = 0; z < 200; ++z) do_pair(q);
        if (cpu_now() - t0 < best) best = cpu_now() - t0;
    }
    return best / 200;
}

/* The demo's nets on 7 x 7 single-channel images: per-pair CPU time (self records precomputed) and the
 * Gram throughput with threads = 2 (wall time per entry). */
static void bench_demo(void) {
    static const char *archs[2] = {
        "conv(q=3,pad=circular,sw=1.4142,sb=0.1) relu conv(q=3,pad=circular,sw=1.4142,sb=0.1) relu gap dense",
        "lift(n=4,q=3,pad=circular,sw=1.4142,sb=0.1) relu gconv(q=3,pad=circular,sw=1.4142,sb=0.1) relu gpool dense"};
    int c;
    for (c = 0; c < 2; ++c) {
        const size_t C = 1, N = 7, ng = 24;
        entk_arch a = parse(archs[c]);
        size_t wl = 0, sl = 0;
        double *x = images(ng, C, N, N, 13), *w, *s1, *s2, *Kg, *Tg;
        pair_arg q;
        gram_arg g;
        bu_stat s, g2, gc;
        if (entk_cn_workspace_size(&a, C, N, N, &wl, &sl)) exit(1);
        w = malloc(wl * sizeof *w); s1 = malloc(sl * sizeof *s1); s2 = malloc(sl * sizeof *s2);
        entk_cn_self(&a, x, C, N, N, s1, w);
        entk_cn_self(&a, x + C * N * N, C, N, N, s2, w);
        q.a = &a; q.x1 = x; q.x2 = x + C * N * N; q.s1 = s1; q.s2 = s2; q.C = C; q.H = q.W = N; q.w = w; q.ntk = 1;
        s.min = pair_cpu(&q);
        {   /* the row path (in-cache path off) in the same run, and the maps' share at their measured rate on
             * rows of 49 (as in the kernels) */
            const size_t old = entk_cn_set_small_limit(0);
            const double row = pair_cpu(&q);
            map_arg m;
            size_t i;
            double rate;
            entk_cn_set_small_limit(old);
            m.nl.kind = ENTK_NL_RELU; m.nl.a = 0; m.nl.phi = m.nl.dphi = NULL; m.nl.user = NULL; m.nl.order = 0;
            m.P = N * N; m.n = m.P * m.P * 16;
            m.k = malloc(m.n * sizeof(double)); m.t = malloc(m.n * sizeof(double)); m.d = malloc(m.P * sizeof(double));
            for (i = 0; i < m.P; ++i) m.d[i] = 1.0 + 0.01 * (double)i;
            for (i = 0; i < m.n; ++i) { m.k[i] = 0.5 * sin((double)i); m.t[i] = 1.0; }
            rate = (double)m.n / cpu_time(do_map, &m, 7).min;
            printf("demo %s 7x7: in-cache path %.1f us vs row path %.1f us per pair (CPU; ratio %.2f); maps %.0f "
                   "entries = %.1f us at %.2f ns/elem, the rest %.1f us vs %.1f us\n", c ? "GCNN" : "CNN ", s.min * 1e6,
                   row * 1e6, row / s.min, map_elems(&a, N, N), map_elems(&a, N, N) / rate * 1e6, 1e9 / rate,
                   (s.min - map_elems(&a, N, N) / rate) * 1e6, (row - map_elems(&a, N, N) / rate) * 1e6);
            free(m.k); free(m.t); free(m.d);
        }
        Kg = malloc(ng * ng * sizeof *Kg); Tg = malloc(ng * ng * sizeof *Tg);
        g.a = &a; g.x1 = x; g.x2 = x; g.n1 = ng; g.n2 = ng; g.C = C; g.H = g.W = N; g.k = Kg; g.t = Tg;
        g.threads = 2; g2 = bu_time(do_gram, &g, 3);
        gc = cpu_time(do_gram, &g, 3);
        printf("demo %s 7x7: per pair NNGP+NTK %.1f us CPU; Gram %zux%zu threads=2: %.1f us wall, %.1f us CPU per "
               "entry\n", c ? "GCNN" : "CNN ", s.min * 1e6, ng, ng, g2.min * 1e6 / (double)(ng * ng),
               gc.min * 1e6 / (double)(ng * ng));
        free(x); free(w); free(s1); free(s2); free(Kg); free(Tg);
    }
}

int main(int argc, char **argv) {
    const int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    const int nt = argc > 1 && strcmp(argv[1], "--nt") == 0; /* the bandwidth, the map rate and section 5 only */
    double bw, rate_simd, rate_scalar;
    bu_header("entk_cn");
    if (!nt) bench_demo();
    if (argc > 1 && strcmp(argv[1], "--demo") == 0) return 0;
    printf("# threads available to OpenMP: %d (machine shared with other jobs: ratios matter, not absolutes)\n",
#ifdef _OPENMP
           omp_get_max_threads()
#else
           1
#endif
    );

    /* 1. copy bandwidth */
    {
        copy_arg c;
        bu_stat s;
        size_t i;
        c.n = (size_t)1 << 23; /* 64 MiB per array */
        c.a = malloc(c.n * sizeof(double)); c.b = malloc(c.n * sizeof(double));
        for (i = 0; i < c.n; ++i) { c.a[i] = (double)i; c.b[i] = 0; }
        s = bu_time(do_copy, &c, 7);
        bw = 2.0 * (double)c.n * sizeof(double) / s.min / 1e9;
        printf("copy bandwidth (memcpy 64 MiB, read+write): %.2f GB/s (median %.2f)\n", bw,
               2.0 * (double)c.n * sizeof(double) / s.median / 1e9);
        free(c.a); free(c.b);
    }

    /* 2. relu map rate, K and Theta, rows of 1024 with k11 broadcast and k22 a row (as in the kernels) */
    {
        map_arg m;
        bu_stat s;
        size_t i;
        double wall_simd;
        entk_simd path = entk_simd_path();
        m.nl.kind = ENTK_NL_RELU; m.nl.a = 0; m.nl.phi = m.nl.dphi = NULL; m.nl.user = NULL; m.nl.order = 0;
        m.n = (size_t)1 << 20; m.P = 1024;
        m.k = malloc(m.n * sizeof(double)); m.t = malloc(m.n * sizeof(double)); m.d = malloc(m.P * sizeof(double));
        for (i = 0; i < m.P; ++i) m.d[i] = 1.0 + 0.001 * (double)i;
        for (i = 0; i < m.n; ++i) { m.k[i] = 0.5 * sin((double)i); m.t[i] = 1.0; }
        s = cpu_time(do_map, &m, 5);
        rate_simd = (double)m.n / s.min;
        wall_simd = bu_time(do_map, &m, 3).min;
        entk_simd_set(ENTK_SIMD_SCALAR);
        s = cpu_time(do_map, &m, 3);
        rate_scalar = (double)m.n / s.min;
        entk_simd_set(path);
        printf("relu map (K and Theta, CPU time): %.1f M elem/s on %s (%.2f ns/elem; wall min %.2f ns/elem), "
               "%.1f M elem/s scalar\n", rate_simd / 1e6, entk_simd_name(), 1e9 / rate_simd, wall_simd * 1e9 / (double)m.n,
               rate_scalar / 1e6);
        free(m.k); free(m.t); free(m.d);
    }

    /* 3. fast (separable) vs direct window sum, q = 3 same padding, identity and a rotated block */
    if (!nt) {
        static const size_t sz[3] = {14, 28, 32};
        int si, blk;
        for (si = 0; si < 3; ++si)
            for (blk = 0; blk < 2; ++blk) {
                const size_t N = sz[si], P = N * N;
                ws_arg w;
                bu_stat f, d;
                w.H = w.W = N; w.n = 4; w.block = blk;
                w.m = images(1, 1, P, P, 3); w.tmp = malloc(N * P * sizeof(double)); w.out = malloc(P * P * sizeof(double));
                w.direct = 0; f = cpu_time(do_ws, &w, 7);
                w.direct = 1; d = cpu_time(do_ws, &w, 3);
                printf("window sum %zux%zu q=3 same, block r=%d (CPU time): fast %.2f ms (%.2f GB/s model 4 P^2 doubles), "
                       "direct %.2f ms, direct/fast %.2f\n", N, N, blk, f.min * 1e3, 32.0 * P * P / f.min / 1e9,
                       d.min * 1e3, d.min / f.min);
                free(w.m); free(w.tmp); free(w.out);
            }
    }

    /* 4. 2-layer C4 GCNN per pair, and the r = 0 reduction against all n^2 blocks */
    if (!nt) {
        static const size_t sz[2] = {28, 14};
        const char *arch = "lift(n=4,q=3) relu gconv(q=3) relu gpool dense";
        entk_arch a = parse(arch);
        int si;
        for (si = 0; si < 2; ++si) {
            const size_t N = sz[si], C = 1;
            size_t wl = 0, sl = 0;
            double *x = images(2, C, N, N, 5), *w, *s1, *s2, mb;
            pair_arg q;
            bu_stat s, s0;
            if (entk_cn_workspace_size(&a, C, N, N, &wl, &sl)) return 1;
            w = malloc(wl * sizeof *w); s1 = malloc(sl * sizeof *s1); s2 = malloc(sl * sizeof *s2);
            entk_cn_self(&a, x, C, N, N, s1, w);
            entk_cn_self(&a, x + C * N * N, C, N, N, s2, w);
            q.a = &a; q.x1 = x; q.x2 = x + C * N * N; q.s1 = s1; q.s2 = s2; q.C = C; q.H = q.W = N; q.w = w;
            q.ntk = 1; s = cpu_time(do_pair, &q, N > 20 ? 5 : 11);
            q.ntk = 0; s0 = cpu_time(do_pair, &q, N > 20 ? 5 : 11);
            mb = sweep_bytes(&a, N, N, 1);
            {
                const double mt = map_elems(&a, N, N) / rate_simd, lin = s.min - mt, lb = sweep_bytes(&a, N, N, 0);
                const double adds = wsum_adds(&a, N, N);
                printf("%s %zux%zu (CPU time): per pair NNGP+NTK %.2f ms (median %.2f; target <= 15 at 28x28), NNGP "
                       "only %.2f ms; of which maps %.0f entries = %.2f ms at the measured map rate (%.2f ns/elem); the "
                       "rest %.2f ms\n", arch, N, N, s.min * 1e3, s.median * 1e3, s0.min * 1e3, map_elems(&a, N, N),
                       mt * 1e3, 1e9 / rate_simd, lin * 1e3);
                printf("  the rest: block-row chains (lift + gconv, reduction from the rows) move %.1f MB (model) = "
                       "%.2f GB/s = %.0f%% of the copy bw %.2f GB/s; layer by layer the model moves %.1f MB (in this "
                       "time %.2f GB/s = %.0f%%; at copy bw %.2f ms); window sums %.1f M adds (%.2f ms at 8 adds/cycle "
                       "and 2.45 GHz)\n", mb / 1e6, mb / lin / 1e9, 100 * mb / lin / 1e9 / bw, bw, lb / 1e6,
                       lb / lin / 1e9, 100 * lb / lin / 1e9 / bw, lb / (bw * 1e9) * 1e3, adds / 1e6,
                       adds / (8 * 2.45e9) * 1e3);
            }
            /* the work per layer is proportional to the stored blocks: n blocks here vs n^2 without the
             * reduction; time n and n^2 block operations (window sums of K and Theta + map) directly */
            {
                const size_t P = (N - 2) * (N - 2), Pi = N * N;
                double *m = images(1, 1, Pi, Pi, 9), *tmp = malloc(N * Pi * sizeof(double));
                double *o = malloc(Pi * Pi * sizeof(double)), *o2 = malloc(Pi * Pi * sizeof(double));
                double *d = malloc(Pi * sizeof(double)), t0, t1, t2;
                entk_nonlin nl;
                int b, rep;
                size_t r;
                double best_red = 1e30, best_full = 1e30;
                memset(&nl, 0, sizeof nl);
                nl.kind = ENTK_NL_RELU;
                for (r = 0; r < Pi; ++r) d[r] = 2.0;
                for (rep = 0; rep < 3; ++rep) {
                    t0 = cpu_now();
                    for (b = 0; b < 4; ++b) {
                        entk_cn_window_sum(m, N, N, 3, ENTK_PAD_VALID, 4, 0, b, 0, tmp, o);
                        entk_cn_window_sum(m, N, N, 3, ENTK_PAD_VALID, 4, 0, b, 0, tmp, o2);
                        for (r = 0; r < P; ++r) entk_nonlin_map(&nl, P, d + r, 0, d, 1, o + r * P, o2 + r * P, o + r * P, o2 + r * P);
                    }
                    t1 = cpu_now();
                    for (b = 0; b < 16; ++b) {
                        entk_cn_window_sum(m, N, N, 3, ENTK_PAD_VALID, 4, 0, b % 4, 0, tmp, o);
                        entk_cn_window_sum(m, N, N, 3, ENTK_PAD_VALID, 4, 0, b % 4, 0, tmp, o2);
                        for (r = 0; r < P; ++r) entk_nonlin_map(&nl, P, d + r, 0, d, 1, o + r * P, o2 + r * P, o + r * P, o2 + r * P);
                    }
                    t2 = cpu_now();
                    if (t1 - t0 < best_red) best_red = t1 - t0;
                    if (t2 - t1 < best_full) best_full = t2 - t1;
                }
                printf("  r=0 reduction %zux%zu, one gconv+relu layer (CPU time): 4 blocks %.2f ms vs all 16 blocks %.2f ms "
                       "(ratio %.2f, ideal 4); memory per kernel %.1f MB vs %.1f MB\n", N, N, best_red * 1e3, best_full * 1e3,
                       best_full / best_red, 4.0 * Pi * Pi * 8 / 1e6, 16.0 * Pi * Pi * 8 / 1e6);
                free(m); free(tmp); free(o); free(o2); free(d);
            }
            if (N == 14) { /* Gram throughput, threads = 1 and 2 */
                double *xg = images(8, C, N, N, 11), Kg[64], Tg[64];
                gram_arg g;
                bu_stat g1, g2;
                g.a = &a; g.x1 = xg; g.x2 = xg; g.n1 = 8; g.n2 = 8; g.C = C; g.H = g.W = N; g.k = Kg; g.t = Tg;
                g.threads = 1; g1 = bu_time(do_gram, &g, 3);
                g.threads = 2; g2 = bu_time(do_gram, &g, 3);
                printf("  Gram 8x8 (non-symmetric call) %zux%zu: threads=1 %.2f ms per entry, threads=2 %.2f ms per entry "
                       "(wall; speed-up %.2f)\n", N, N, g1.min * 1e3 / 64, g2.min * 1e3 / 64, g1.min / g2.min);
                free(xg);
            }
            free(x); free(w); free(s1); free(s2);
        }
    }

    /* 5. neural-tangents' benchmark network */
    {
        char arch[2048] = "";
        entk_arch a;
        const size_t C = 3, N = 32, L = 21;
        size_t wl = 0, sl = 0, i;
        double *x = images(4, C, N, N, 7), *w, *s1, *s2, mb, map_ms, bw_ms, cpu_pair, self_cpu, gw, gcpu;
        pair_arg q;
        gram_arg g;
        bu_stat s, g1, g2;
        for (i = 0; i < L; ++i) strcat(arch, "conv(q=3,pad=same) relu ");
        strcat(arch, "gap dense");
        a = parse(arch);
        if (entk_cn_workspace_size(&a, C, N, N, &wl, &sl)) return 1;
        /* the workspace as the Gram drivers allocate theirs (entk.h 9.1: huge pages on Linux; with 4 KB pages
         * the last layer's strided tile stores miss the TLB: several ms per pair) */
        if (entk__alloc_work(wl, &w)) return 1;
        s1 = malloc(sl * sizeof *s1); s2 = malloc(sl * sizeof *s2);
        entk_cn_self(&a, x, C, N, N, s1, w);
        entk_cn_self(&a, x + C * N * N, C, N, N, s2, w);
        q.a = &a; q.x1 = x; q.x2 = x + C * N * N; q.s1 = s1; q.s2 = s2; q.C = C; q.H = q.W = N; q.w = w; q.ntk = 1;
        s = bu_time(do_pair, &q, quick ? 1 : 3);
        cpu_pair = cpu_time(do_pair, &q, quick ? 1 : 3).min;
        mb = model_bytes(&a, N, N, 1, 1);
        map_ms = (double)L * 1024.0 * 1024.0 / rate_simd * 1e3;
        bw_ms = mb / (bw * 1e9) * 1e3;
        printf("NT benchmark (21 x [conv3x3 same, relu], gap, dense; 3x32x32, float64), workspace %.1f MB:\n",
               (double)wl * 8 / 1e6);
        printf("  one NTK+NNGP entry (self records precomputed): %.1f ms wall (median %.1f), %.1f ms CPU time "
               "= %.2f ms per layer\n", s.min * 1e3, s.median * 1e3, cpu_pair * 1e3, cpu_pair * 1e3 / L);
        printf("  bound: map %d x 1024^2 elements at the measured rate = %.1f ms; model bytes %.0f MB (chains of 21 "
               "layers on diagonal tiles; %.0f MB layer by layer) at copy bw = %.1f ms; window sums 4 adds per entry and kernel = "
               "%.0f MFLOP (%.1f ms at 8 adds/cycle and 2.45 GHz); the part outside the maps: %.1f ms CPU = %.2f GB/s "
               "(model bytes)\n", (int)L, map_ms, mb / 1e6, model_bytes(&a, N, N, 1, 0) / 1e6, bw_ms,
               4.0 * 2 * L * 1024.0 * 1024.0 / 1e6, 4.0 * 2 * L * 1024.0 * 1024.0 / (8 * 2.45e9) * 1e3,
               cpu_pair * 1e3 - map_ms, mb / (cpu_pair - map_ms * 1e-3) / 1e9);
        /* the same chain without its nonlinearities (21 x conv3x3 same, gap, dense: the same tiled sweep,
         * window sums, affine updates, tile loads and stores, no map): the part outside the maps measured
         * in this run, the maps' part in place = the pair minus it */
        {
            char arch0[2048] = "";
            entk_arch a0;
            size_t wl0 = 0, sl0 = 0;
            double *w0, *r1, *r2, nomap;
            pair_arg q0;
            for (i = 0; i < L; ++i) strcat(arch0, "conv(q=3,pad=same) ");
            strcat(arch0, "gap dense");
            a0 = parse(arch0);
            if (entk_cn_workspace_size(&a0, C, N, N, &wl0, &sl0) || entk__alloc_work(wl0, &w0)) return 1;
            r1 = malloc(sl0 * sizeof *r1); r2 = malloc(sl0 * sizeof *r2);
            entk_cn_self(&a0, x, C, N, N, r1, w0);
            entk_cn_self(&a0, x + C * N * N, C, N, N, r2, w0);
            q0 = q; q0.a = &a0; q0.s1 = r1; q0.s2 = r2; q0.w = w0;
            nomap = cpu_time(do_pair, &q0, quick ? 1 : 3).min;
            printf("  measured split: the same chain without relu %.1f ms CPU per pair (window sums, affine updates, "
                   "tile loads and stores), so the maps in place %.1f ms = %.2f ns/elem (%.2f alone above)\n",
                   nomap * 1e3, (cpu_pair - nomap) * 1e3, (cpu_pair - nomap) * 1e9 / ((double)L * 1024.0 * 1024.0),
                   1e9 / rate_simd);
            free(w0); free(r1); free(r2);
        }
        /* each input's self record: its own pair on the tiles, half of them computed (entk__cn_tiled) */
        {
            self_arg sa;
            sa.a = &a; sa.x = x; sa.C = C; sa.H = sa.W = N; sa.rec = s1; sa.w = w;
            self_cpu = cpu_time(do_self, &sa, quick ? 1 : 3).min;
            printf("  self record: %.1f ms CPU = %.2f of a pair (half the tiles: ideal %.2f)\n", self_cpu * 1e3,
                   self_cpu / cpu_pair, (double)(N + 1) / (2.0 * (double)N));
        }
        /* two threads computing pairs at once, each with its own workspace, touched before the clock starts
         * (as in a large Gram, where first touch is amortised): wall per pair against one thread alone */
        {
            double *ws[2], tw, tc, t1w = 1e30;
            const int per = quick ? 1 : 3;
            int z;
            ws[0] = w;
            if (entk__alloc_work(wl, &ws[1])) return 1;
            memset(ws[1], 0, wl * sizeof *ws[1]);
            for (z = 0; z < per + 1; ++z) {
                double t0 = bu_now(), k2, t2;
                entk_cn_pair(&a, x, s1, x + C * N * N, s2, C, N, N, ws[0], &k2, &t2);
                if (bu_now() - t0 < t1w) t1w = bu_now() - t0;
            }
            tw = 1e30; tc = 0;
            for (z = 0; z < per; ++z) {
                double t0 = bu_now(), c0 = cpu_now();
#ifdef _OPENMP
#pragma omp parallel num_threads(2)
#endif
                {
#ifdef _OPENMP
                    const int me = omp_get_thread_num();
#else
                    const int me = 0;
#endif
                    double k2, t2;
                    entk_cn_pair(&a, x, s1, x + C * N * N, s2, C, N, N, ws[me], &k2, &t2);
                }
                if (bu_now() - t0 < tw) { tw = bu_now() - t0; tc = cpu_now() - c0; }
            }
            printf("  2 threads, one pair each (workspaces touched first): %.1f ms wall per entry, %.1f ms CPU per entry; "
                   "one thread %.1f ms wall per pair: speed-up %.2f\n", tw * 1e3 / 2, tc * 1e3 / 2, t1w * 1e3,
                   2 * t1w / tw);
            free(ws[1]);
        }
        /* Gram throughput through the library (entk_cn_kernel, symmetric: upper triangle, self records
         * on the diagonal): 4 images (10 entries) at threads 1 and 2 for the speed-up, then 16 images
         * (136 entries) at threads 2 */
        {
            const size_t ng = quick ? 8 : 16, ne = ng * (ng + 1) / 2;
            double *xg = images(ng, C, N, N, 7), *Kg = malloc(ng * ng * sizeof *Kg), *Tg = malloc(ng * ng * sizeof *Tg);
            double work1;
            g.a = &a; g.x1 = xg; g.x2 = NULL; g.n1 = 4; g.n2 = 4; g.C = C; g.H = g.W = N; g.k = Kg; g.t = Tg;
            g.threads = 1; g1 = bu_time(do_gram, &g, quick ? 1 : 3);
            g.threads = 2; g2 = bu_time(do_gram, &g, quick ? 1 : 3);
            printf("  Gram 4x4 symmetric (10 entries: 6 pairs + 4 self records): threads=1 %.1f ms, threads=2 %.1f ms "
                   "wall per entry: 2-thread speed-up %.2f (target >= 1.8)\n", g1.min * 1e3 / 10, g2.min * 1e3 / 10,
                   g1.min / g2.min);
            g.n1 = g.n2 = ng;
            g.threads = 2;
            {
                const double t0 = bu_now(), c0 = cpu_now();
                do_gram(&g);
                gw = bu_now() - t0;
                gcpu = cpu_now() - c0;
            }
            work1 = (double)(ng * (ng - 1) / 2) * cpu_pair + (double)ng * self_cpu;
            printf("  Gram %zux%zu symmetric, threads=2 (%zu entries: %zu pairs + %zu self records): %.1f ms wall per "
                   "entry (target <= 40, stretch <= 25), %.1f ms CPU per entry; against one core's pair and self "
                   "times above: speed-up %.2f\n", ng, ng, ne, ng * (ng - 1) / 2, ng, gw * 1e3 / (double)ne,
                   gcpu * 1e3 / (double)ne, work1 / gw);
            printf("  summary: per pair on one core %.1f ms CPU (target <= 60; maps %.1f ms, the rest %.1f ms), "
                   "Gram %zu images 2 threads %.1f ms per entry, 2-thread speed-up %.2f (Gram 4x4)\n", cpu_pair * 1e3,
                   map_ms, cpu_pair * 1e3 - map_ms, ng, gw * 1e3 / (double)ne, g1.min / g2.min);
            free(xg); free(Kg); free(Tg);
        }
        free(x); free(w); free(s1); free(s2);
    }
    return 0;
}
