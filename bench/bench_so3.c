/* entk_so3.h benchmarks, in one run:
 *   (a) per-call time of the SO(3) transforms entk_so3_plan_fft / entk_so3_plan_ifft at six (L, B), with
 *       their multiply-add counts and the achieved GFLOP/s against a measured FMA peak (and the scalar
 *       path in the same run);
 *   (b) per atom-pair time of the compressed kernel of "s2lift erf so3conv erf so3pool dense" at
 *       L = 4, 6, 8 and B = L, L + 2, 2L (how the cost grows with L and B);
 *   (c) molecule-pair throughput of the demo architecture (examples/molecules.c) on featurised
 *       conformers of data/molecules/conformers.xyz at L = 4, 1 and 2 threads, and the share of a pair's
 *       time in the maps and in the transforms;
 *   (d) per-pair time of the compressed path against the brute-force SO(3) x SO(3) recursion
 *       (tests/so3_oracle.h) at L = 4, 6 (two layers) and 4, 6, 8 (one layer), and their difference.
 * Usage: build/bench/bench_so3 [XYZ] (default data/molecules/conformers.xyz; run from the repository root).
 * Single-threaded parts are timed on the process CPU clock (the machine is shared); ratios matter. */
#include "bench/benchutil.h"
#include <math.h>
#include <string.h>
#define ENTK_IMPLEMENTATION
#include "entk_so3.h"
#define SO3O_MAX_B 8 /* the oracle at L = B = 8 for the one-layer comparison of (d) */
#include "tests/so3_oracle.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bu_stat cpu_time(void (*fn)(void *), void *arg, int reps) { return bu_time_clock(cpu_now, fn, arg, reps); }

static void die(const char *what, entk_status st) {
    fprintf(stderr, "bench_so3: %s: %s\n", what, entk_status_string(st));
    exit(1);
}

static double *xalloc(size_t n) {
    double *p = (double *)malloc((n ? n : 1) * sizeof(double));
    if (!p) die("malloc", ENTK_ERR_NOMEM);
    return p;
}

/* a deterministic pseudo-random value in [-1, 1) */
static double rnd(unsigned long *s) {
    *s = *s * 6364136223846793005UL + 1442695040888963407UL;
    return (double)(*s >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

/* ============================================================================================== */
/* (a) the transforms                                                                             */
/* ============================================================================================== */

/* Multiply-adds of one fft or ifft with a plan (L, B), counted as the implementation does them: the
 * folded azimuthal DFTs, (B - 1)(2L - 1) per line, on 2B (2B - 1) gamma lines and 2B (2L - 1) alpha
 * lines, and the beta sums, 2B per (coefficient, term) with two terms where m, n != 0, else one. */
static double so3_macs(int L, int B) {
    const double nb = 2.0 * B, n = 2.0 * B - 1, f = 2.0 * L - 1;
    double terms = 0;
    int l;
    for (l = 0; l < L; ++l) terms += 2.0 * (2 * l) * (2 * l) + (4 * l + 1);
    return (B - 1) * f * nb * (n + f) + nb * terms;
}

typedef struct {
    entk_so3_plan p;
    double *f, *c, *work;
    int inner, inverse;
} tr_arg;

static void do_tr(void *v) {
    tr_arg *a = (tr_arg *)v;
    int i;
    entk_status st = ENTK_OK;
    for (i = 0; i < a->inner && !st; ++i)
        st = a->inverse ? entk_so3_plan_ifft(&a->p, a->c, a->f, a->work) : entk_so3_plan_fft(&a->p, a->f, a->c, a->work);
    if (st) die("transform", st);
}

/* seconds per call, min of 15 samples of `inner` calls each */
static double tr_time(tr_arg *a, int inverse) {
    a->inverse = inverse;
    return cpu_time(do_tr, a, 15).min / a->inner;
}

static void bench_transforms(double peak) {
    static const int LB[6][2] = {{4, 6}, {4, 8}, {6, 8}, {6, 12}, {8, 10}, {8, 16}};
    const entk_simd best = entk_simd_path();
    int i;
    printf("\n(a) SO(3) transforms with a plan, per call (CPU time, min of 15 x calls):\n");
    printf("  L   B  grid pts  mult-adds |  fft us  ifft us | fft GF/s ifft GF/s (%% of 1-core peak) | scalar fft "
           "ifft us (x slower)\n");
    for (i = 0; i < 6; ++i) {
        const int L = LB[i][0], B = LB[i][1];
        size_t plen, wlen, P = entk_so3_packed_len(L), e, G = (size_t)(2 * B) * (size_t)(2 * B - 1) * (2 * B - 1);
        double *mem, macs = so3_macs(L, B), tf, ti, sf = 0, si = 0;
        unsigned long s = 7u + (unsigned)i;
        tr_arg a;
        entk_status st;
        if ((st = entk_so3_plan_size(ENTK_SO3_PLAN_SO3, L, B, &plen, &wlen))) die("plan_size", st);
        mem = xalloc(plen);
        if ((st = entk_so3_plan_init(&a.p, ENTK_SO3_PLAN_SO3, L, B, mem))) die("plan_init", st);
        a.f = xalloc(G);
        a.c = xalloc(P);
        a.work = xalloc(wlen);
        for (e = 0; e < P; ++e) a.c[e] = rnd(&s);
        if ((st = entk_so3_plan_ifft(&a.p, a.c, a.f, a.work))) die("ifft", st);
        a.inner = (int)(2e5 / macs) + 1; /* ~0.1-0.5 ms per sample */
        tf = tr_time(&a, 0);
        ti = tr_time(&a, 1);
        if (best != ENTK_SIMD_SCALAR && entk_simd_set(ENTK_SIMD_SCALAR) == ENTK_OK) {
            sf = tr_time(&a, 0);
            si = tr_time(&a, 1);
            entk_simd_set(best);
        }
        printf("  %d %3d %9zu %10.0f | %7.2f %8.2f | %8.2f %9.2f (%4.1f%% %4.1f%%)", L, B, G, macs, tf * 1e6, ti * 1e6,
               2 * macs / tf * 1e-9, 2 * macs / ti * 1e-9, peak > 0 ? 100 * 2 * macs / tf * 1e-9 / peak : 0,
               peak > 0 ? 100 * 2 * macs / ti * 1e-9 / peak : 0);
        if (sf > 0) printf(" | %7.2f %7.2f (%.2f %.2f)", sf * 1e6, si * 1e6, sf / tf, si / ti);
        printf("\n");
        free(mem); free(a.f); free(a.c); free(a.work);
    }
}

/* ============================================================================================== */
/* (b) the compressed kernel per atom pair                                                        */
/* ============================================================================================== */

static entk_arch parse(const char *s) {
    entk_arch a;
    char err[160];
    entk_status st;
    if ((st = entk_arch_parse(s, &a, err, sizeof err))) {
        fprintf(stderr, "bench_so3: '%s': %s\n", s, err);
        exit(1);
    }
    return a;
}

/* C channels of random signals band-limited to L on the S^2 grid of band limit L */
static double *signals(size_t C, int L, unsigned long seed) {
    const size_t cell = (size_t)(2 * L) * (size_t)(2 * L - 1), q = (size_t)L * (size_t)L;
    size_t wl, ch, i;
    double *x = xalloc(C * cell), *a = xalloc(q), *w;
    entk_status st;
    if ((st = entk_so3_sht_work_size(L, L, &wl))) die("sht_work_size", st);
    w = xalloc(wl);
    for (ch = 0; ch < C; ++ch) {
        for (i = 0; i < q; ++i) a[i] = rnd(&seed) / (1.0 + (double)i);
        if ((st = entk_so3_isht(L, L, a, x + ch * cell, w))) die("isht", st);
    }
    free(a); free(w);
    return x;
}

/* one pair of inputs through the net's domain (entk__so3_dom_pair) with precomputed self records */
typedef struct {
    entk__so3_net net;
    double *r1, *r2, *work, k, t;
    int want_t, inner;
} pair_arg;

static void do_pair(void *v) {
    pair_arg *a = (pair_arg *)v;
    int i;
    entk_status st = ENTK_OK;
    for (i = 0; i < a->inner && !st; ++i)
        st = entk__so3_dom_pair(&a->net, NULL, a->r1, NULL, a->r2, a->want_t, a->work, NULL, &a->k, &a->t);
    if (st) die("pair", st);
}

/* seconds per pair (NNGP + NTK, or NNGP only) of arch text at band limit L, C channels */
static void pair_time(const char *text, int L, size_t C, double *both, double *nngp) {
    const entk_arch arch = parse(text);
    double *x1 = signals(C, L, 11), *x2 = signals(C, L, 23);
    pair_arg a;
    entk_status st;
    if ((st = entk__so3_net_make(&arch, C, L, &a.net, NULL, 0))) die(text, st);
    a.r1 = xalloc(a.net.self_len);
    a.r2 = xalloc(a.net.self_len);
    a.work = xalloc(a.net.work_len);
    if ((st = entk__so3_dom_self(&a.net, x1, 1, a.r1, a.work, NULL)) ||
        (st = entk__so3_dom_self(&a.net, x2, 1, a.r2, a.work, NULL)))
        die("self", st);
    a.inner = 1;
    a.want_t = 1;
    {
        const double t0 = cpu_now();
        do_pair(&a);
        a.inner = (int)(2e-3 / (cpu_now() - t0 + 1e-9)) + 1; /* ~2 ms per sample */
    }
    *both = cpu_time(do_pair, &a, 11).min / a.inner;
    a.want_t = 0;
    *nngp = cpu_time(do_pair, &a, 11).min / a.inner;
    entk__so3_net_free(&a.net);
    free(a.r1); free(a.r2); free(a.work); free(x1); free(x2);
}

static void bench_pairs(void) {
    static const int Ls[3] = {4, 6, 8};
    int i, j;
    printf("\n(b) compressed kernel \"s2lift erf so3conv erf so3pool dense\", C = 15 channels, per pair of atoms\n"
           "    (self records precomputed; CPU time, min of 11): NNGP+NTK us [NNGP only us]\n");
    printf("  L  |   B = L              |   B = L + 2            |   B = 2L\n");
    for (i = 0; i < 3; ++i) {
        const int L = Ls[i], Bs[3] = {L, L + 2, 2 * L};
        printf("  %d  ", L);
        for (j = 0; j < 3; ++j) {
            char text[128];
            double both, nngp;
            snprintf(text, sizeof text, "s2lift(B=%d) erf so3conv(B=%d) erf so3pool dense", Bs[j], Bs[j]);
            pair_time(text, L, 15, &both, &nngp);
            printf("| B=%2d %8.1f [%7.1f] ", Bs[j], both * 1e6, nngp * 1e6);
        }
        printf("\n");
    }
}

/* ============================================================================================== */
/* (c) molecules: the demo architecture on featurised conformers                                  */
/* ============================================================================================== */

typedef struct {
    const entk_arch *arch;
    const double *x;
    size_t n, A, C;
    int L, threads;
    double *k;
} gram_arg;

static void do_gram(void *v) {
    gram_arg *g = (gram_arg *)v;
    entk_status st = entk_so3_molecule_kernel(g->arch, g->x, g->n, g->A, NULL, 0, 0, g->C, (size_t)(2 * g->L),
                                              (size_t)(2 * g->L - 1), NULL, 0, g->k, g->n, g->threads);
    if (st) die("molecule kernel", st);
}

typedef struct {
    entk_nonlin nl;
    double *k, *t, d;
    size_t G;
    int inner;
} map_arg;

static void do_map(void *v) {
    map_arg *m = (map_arg *)v;
    int i;
    for (i = 0; i < m->inner; ++i)
        if (entk_nonlin_map(&m->nl, m->G, &m->d, 0, &m->d, 0, m->k, m->t, m->k, m->t)) die("map", ENTK_ERR_RANGE);
}

static void bench_molecules(const char *path) {
    const int L = 4, B = entk_so3_default_band(L);
    const size_t N = 40; /* molecules in the Gram */
    entk_so3_molecules mol;
    char err[200];
    size_t C, len, A, cell = (size_t)(2 * L) * (size_t)(2 * L - 1), i, j, c, pairs = 0, all = 0, pick[40], mlen;
    double *x, *xs, *k, rate1, rate2, rate_id, tdemo, tid, w2;
    entk_arch demo = parse("s2lift(sw=0.3) erf so3conv erf so3pool dense atomsum"); /* examples/molecules.c's */
    entk_arch ident = parse("s2lift(sw=0.3) identity so3conv identity so3pool dense atomsum");
    entk_status st;
    gram_arg g;
    if ((st = entk_so3_xyz_read_file(path, &mol, err, sizeof err))) {
        printf("\n(c) skipped: %s: %s\n", path, err);
        return;
    }
    if ((st = entk_so3_featurize_size(&mol, L, 0, &C, &len))) die("featurize_size", st);
    x = xalloc(len);
    if ((st = entk_so3_featurize(&mol, L, NULL, 0, x, len))) die("featurize", st);
    A = mol.max_atoms;
    /* per-channel unit RMS over the atoms, as examples/molecules.c does (keeps erf out of saturation) */
    for (c = 0; c < C; ++c) {
        double s = 0;
        size_t cnt = 0, a, q;
        for (i = 0; i < mol.n; ++i)
            for (a = 0; a < mol.count[i]; ++a) {
                const double *v = x + ((i * A + a) * C + c) * cell;
                for (q = 0; q < cell; ++q) s += v[q] * v[q];
                cnt += cell;
            }
        s = s > 0 ? sqrt(s / (double)cnt) : 1.0;
        for (i = 0; i < mol.n * A; ++i)
            for (q = 0; q < cell; ++q) x[(i * C + c) * cell + q] /= s;
    }
    /* N conformers evenly spaced through the file (it holds the molecules in blocks) */
    mlen = A * C * cell;
    xs = xalloc(N * mlen);
    for (i = 0; i < N; ++i) {
        pick[i] = i * mol.n / N;
        memcpy(xs + i * mlen, x + pick[i] * mlen, mlen * sizeof *x);
    }
    for (i = 0; i < N; ++i)
        for (j = i; j < N; ++j) pairs += mol.count[pick[i]] * mol.count[pick[j]];
    for (i = 0; i < mol.n; ++i)
        for (j = i; j < mol.n; ++j) all += mol.count[i] * mol.count[j];
    /* the demo's Gram: 1000 conformers drawn at random (examples/molecules.c), so the expected count */
    all = (size_t)((double)all * (1000.0 * 1001.0) / ((double)mol.n * (double)(mol.n + 1)));
    k = xalloc(N * N);
    g.x = xs; g.n = N; g.A = A; g.C = C; g.L = L; g.k = k;
    g.arch = &demo;
    g.threads = 1;
    tdemo = cpu_time(do_gram, &g, 3).min;
    rate1 = (double)pairs / tdemo;
    g.threads = 2;
    w2 = bu_time(do_gram, &g, 3).min;
    rate2 = (double)pairs / w2;
    g.arch = &ident;
    g.threads = 1;
    tid = cpu_time(do_gram, &g, 3).min;
    rate_id = (double)pairs / tid;
    printf("\n(c) demo architecture \"s2lift(sw=0.3) erf so3conv erf so3pool dense atomsum\" (NTK), L = %d, B = %d, "
           "C = %zu:\n"
           "    symmetric Gram of %zu conformers evenly spaced through %s (%zu atom pairs, self records included)\n",
           L, B, C, N, path, pairs);
    printf("  threads=1: %.2f ms CPU, %.0f atom pairs/s (%.1f us per atom pair, %.2f ms per molecule pair)\n",
           tdemo * 1e3, rate1, 1e6 / rate1, tdemo * 1e3 / (double)(N * (N + 1) / 2));
    printf("  threads=2: %.2f ms wall, %.0f atom pairs/s (x%.2f)\n", w2 * 1e3, rate2, rate2 / rate1);
    printf("  projected Gram of the demo's 1000 conformers (~%zu atom pairs): %.0f s at threads=2\n", all,
           (double)all / rate2);
    {
        /* the maps alone: erf with Theta on the grid's points, twice per atom pair */
        map_arg m;
        size_t G = (size_t)(2 * B) * (size_t)(2 * B - 1) * (size_t)(2 * B - 1), q;
        double tm, tr_f, tr_i, per = tdemo / (double)pairs;
        tr_arg a;
        size_t plen, wlen, P = entk_so3_packed_len(L);
        double *mem;
        unsigned long s = 99;
        memset(&m.nl, 0, sizeof m.nl);
        m.nl.kind = ENTK_NL_ERF;
        m.G = G;
        m.d = 1.0;
        m.k = xalloc(G);
        m.t = xalloc(G);
        for (q = 0; q < G; ++q) { m.k[q] = 0.9 * rnd(&s); m.t[q] = 1.0; }
        m.inner = 200;
        tm = cpu_time(do_map, &m, 11).min / m.inner;
        if ((st = entk_so3_plan_size(ENTK_SO3_PLAN_SO3, L, B, &plen, &wlen))) die("plan_size", st);
        mem = xalloc(plen);
        if ((st = entk_so3_plan_init(&a.p, ENTK_SO3_PLAN_SO3, L, B, mem))) die("plan_init", st);
        a.f = xalloc(G); a.c = xalloc(P); a.work = xalloc(wlen);
        for (q = 0; q < P; ++q) a.c[q] = rnd(&s);
        if ((st = entk_so3_plan_ifft(&a.p, a.c, a.f, a.work))) die("ifft", st);
        a.inner = 200;
        tr_f = tr_time(&a, 0);
        tr_i = tr_time(&a, 1);
        /* the share is measured on the whole Gram (erf against identity in the same places); the
         * isolated per-call times only give the scale (in the recursion K and Theta share one transform
         * call and its twiddles, so 5 isolated calls over-count) */
        printf("  share of a pair's time: maps %.0f%% (the same Gram with identity for erf: %.1f us per atom pair), "
               "transforms, lift and pool %.0f%%\n",
               100 * (1 - rate1 / rate_id), 1e6 / rate_id, 100 * rate1 / rate_id);
        printf("  isolated, per call: erf map (K and Theta, %zu points) %.1f us, fft %.1f us, ifft %.1f us (per pair: "
               "2 maps, 1 + 2 synthesis and 2 analysis calls, K and Theta together in so3conv's; %.1f us in all)\n",
               G, tm * 1e6, tr_f * 1e6, tr_i * 1e6, per * 1e6);
        free(m.k); free(m.t); free(mem); free(a.f); free(a.c); free(a.work);
    }
    free(x); free(xs); free(k);
    entk_so3_molecules_free(&mol);
}

/* ============================================================================================== */
/* (d) compressed vs brute force (tests/so3_oracle.h)                                             */
/* ============================================================================================== */
/* The same architecture, inputs and grids through the uncompressed recursion: every kernel a G x G
 * matrix over pairs of grid points (G = 2B (2B - 1)^2). The oracle computes the blocks (x, x), (x', x')
 * and (x, x'); a Gram pays the first two once per input, so a pair costs one block: a third of the
 * oracle's time (the number printed). The two-layer net at L = 8 would take minutes per pair (O(L^4 G^2)
 * per so3conv, G = 3600): at L = 8 the one-layer net (lift, erf, pool) is compared. */
static void bench_oracle(void) {
    static const struct { int L; const char *fmt; } cases[] = {
        {4, "s2lift(B=%d) erf so3conv(B=%d) erf so3pool dense"},
        {6, "s2lift(B=%d) erf so3conv(B=%d) erf so3pool dense"},
        {4, "s2lift(B=%d) erf so3pool dense"},
        {6, "s2lift(B=%d) erf so3pool dense"},
        {8, "s2lift(B=%d) erf so3pool dense"},
    };
    const size_t C = 4;
    size_t i;
    printf("\n# (d) compressed vs brute-force SO(3) x SO(3) recursion (tests/so3_oracle.h), C = %zu, B = L;\n"
           "#     brute force per pair = one of its three G x G blocks; CPU time, one thread\n", C);
    printf("%-48s %3s %6s %14s %14s %9s %10s\n", "arch", "L", "G", "compressed", "brute force", "ratio",
           "rel. diff");
    for (i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        const int L = cases[i].L;
        char text[160];
        entk_arch arch;
        double both, nngp, out[6], t0, tb, K[4], T[4], *x;
        const size_t cell = (size_t)(2 * L) * (size_t)(2 * L - 1);
        entk_status st;
        snprintf(text, sizeof text, cases[i].fmt, L, L);
        arch = parse(text);
        pair_time(text, L, C, &both, &nngp);
        x = xalloc(2 * C * cell);
        {
            double *a = signals(C, L, 11), *b = signals(C, L, 23);
            memcpy(x, a, C * cell * sizeof *x);
            memcpy(x + C * cell, b, C * cell * sizeof *x);
            free(a);
            free(b);
        }
        t0 = cpu_now();
        st = so3o_kernel(&arch, C, L, x, x + C * cell, out);
        tb = (cpu_now() - t0) / 3;
        if (st) {
            printf("%-48s %3d: oracle status %s\n", text, L, entk_status_string(st));
            free(x);
            continue;
        }
        if ((st = entk_so3_kernel(&arch, x, 2, NULL, 0, C, L, K, 2, T, 2, 1))) die("so3 kernel", st);
        printf("%-48s %3d %6zu %11.1f us %11.3f s %9.0f %10.1e\n", text, L,
               (size_t)(2 * L) * (size_t)(2 * L - 1) * (size_t)(2 * L - 1), 1e6 * both, tb, tb / both,
               fmax(fabs(out[4] - K[1]) / fabs(K[1]), fabs(out[5] - T[1]) / fabs(T[1])));
        fflush(stdout);
        free(x);
    }
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "data/molecules/conformers.xyz";
    double peak;
    bu_header("entk_so3.h: SO(3) transforms and compressed kernels");
    peak = bu_fma_peak(20);
    if (peak > 0)
        printf("# FMA peak of one core, measured (bu_fma_peak: 12 independent AVX2 FMA chains, 4 lanes x 2 flops, best of 20): "
               "%.1f GFLOP/s; 2 cores: %.1f GFLOP/s. Transform GFLOP/s below: 2 x mult-adds / time, one core.\n",
               peak, 2 * peak);
    else
        printf("# no AVX2+FMA: no peak measured\n");
    bench_transforms(peak);
    bench_pairs();
    bench_molecules(path);
    bench_oracle();
    return 0;
}
