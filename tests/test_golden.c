/* Golden outputs: NNGP and NTK Gram matrices of a fixed list of architectures (every image layer, padding,
 * group, reduction and nonlinearity except sin, dense heads, MLPs, the C4 and D4 orbit averages, the
 * in-cache and the row path of entk_cn.h) on small deterministic inputs, compared bit for bit with values
 * recorded in the repository before the Gram drivers were refactored.
 *
 * The SIMD paths round differently in the last bits, so each path has its own file,
 * tests/golden/<path>.txt (scalar, avx2, avx512; neon if ever recorded). Each test runs one path, chosen with
 * entk_simd_set (ENTK_VECTOR only picks the default path, so the scalar variant runs both x86 paths too);
 * it is skipped only when entk_simd_set refuses the path on this build or CPU. A runnable path without a
 * golden file fails. Sin is left out: its vector path differs with and without SLEEF. (On the recording
 * machine the image kernels agreed bit for bit across paths; only the MLP dot products differed.)
 *
 * Per case: x1 (3 inputs) and x2 (2 inputs) from a fixed seed; the symmetric Gram (x2 = NULL, 3 x 3) and
 * the rectangular x1 x x2 (3 x 2), NNGP and NTK, with threads = 1 (leading dimension n2) and threads = 2
 * (leading dimension n2 + 1, nothing written past n2); every result must equal the recorded one.
 *
 * Normal runs only compare. To record (only when the kernels are meant to change, or for a new path):
 *     ENTK_GOLDEN_RECORD=1 build/default/test_golden
 * from the repository root writes tests/golden/<path>.txt for every path the machine runs.
 * ENTK_GOLDEN_DIR overrides the directory (default tests/golden, relative to the working directory:
 * scripts/run-tests.sh runs the binaries from the repository root).
 *
 * File format: '#' comment lines, then per case a line "case <i> <domain> <dims> <arch>" followed by
 * four lines "K ...", "T ..." (symmetric NNGP and NTK, 9 values, row-major) and "KR ...", "TR ..."
 * (rectangular, 6 values), each value the IEEE-754 bit pattern of the double as 16 hex digits. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "testutil.h"
#include "entk_cn.h"

enum { G_MLP, G_CN, G_C4, G_D4 };

typedef struct {
    int domain;  /* G_MLP: entk_mlp_kernel (d = C); G_CN: entk_cn_kernel; G_C4, G_D4: entk_cn_kernel_orbit */
    int row;     /* 1: entk_cn_set_small_limit(0), the row path instead of the in-cache path */
    size_t C, H, W;
    const char *arch;
} g_case;

static const g_case g_cases[] = {
    /* conv: every padding, windows 1, 3, 5, avgpool, the three reductions, dense heads */
    {G_CN, 0, 2, 5, 6, "conv(q=3,pad=valid) relu gap"},
    {G_CN, 0, 2, 6, 5, "conv(q=3,pad=same,sb=0.2) erf conv(q=3,pad=same) relu gap dense(sw=1.3,sb=0.1)"},
    {G_CN, 0, 2, 5, 6, "conv(q=3,pad=circular,sw=1.4,sb=0.1) gelu conv(q=5,pad=circular) leaky_relu(a=0.2) gap"},
    {G_CN, 0, 2, 6, 5, "conv(q=5,pad=same) identity conv(q=1) relu flatten dense relu dense(sb=0.3)"},
    {G_CN, 0, 2, 6, 7, "conv(q=3,pad=valid) relu avgpool(p=2) conv(q=1,sb=0.1) erf gap"},
    {G_CN, 0, 2, 5, 6, "conv(q=3,pad=same) leaky_relu avgpool(p=2) flatten"},
    {G_CN, 0, 2, 5, 6, "conv(q=3,pad=circular) relu conv(q=3,pad=valid) gelu flatten dense(sw=0.9) erf dense"},
    {G_CN, 0, 2, 6, 6, "conv(q=1,sw=1.2) relu avgpool(p=3) gap dense(sw=1.1,sb=0.4)"},
    /* lift n = 1, 2, 4 x flip 0, 1; gconv support all and id; gpool, rotpool, flatten after a lift */
    {G_CN, 0, 2, 5, 6, "lift(n=1,q=3,pad=same) relu conv(q=3,pad=circular) relu gap"},
    {G_CN, 0, 2, 5, 6, "lift(n=1,flip=1,q=3,pad=circular) relu gconv(q=3,pad=circular) relu gpool dense"},
    {G_CN, 0, 2, 6, 5, "lift(n=2,q=3,pad=same,sb=0.1) erf gconv(q=3,pad=same,support=all) relu gpool"},
    {G_CN, 0, 2, 6, 5, "lift(n=2,flip=1,q=3,pad=valid) relu gconv(q=1,support=id) gelu gpool dense(sb=0.2)"},
    {G_CN, 0, 2, 5, 6, "lift(n=4,q=3,pad=circular) relu gconv(q=3,pad=circular,support=id) relu gpool dense"},
    {G_CN, 0, 2, 6, 6,
     "lift(n=4,flip=1,q=3,pad=same,sw=1.2,sb=0.2) leaky_relu(a=-0.3) gconv(q=3,pad=valid) relu avgpool(p=2) gpool"},
    {G_CN, 0, 2, 6, 6, "lift(n=4,q=5,pad=valid) relu rotpool conv(q=1) relu flatten"},
    {G_CN, 0, 2, 5, 6,
     "lift(n=2,flip=1,q=3,pad=circular) relu gconv(q=3,pad=same) identity rotpool conv(q=3,pad=same) erf gap dense"},
    {G_CN, 0, 2, 6, 6,
     "lift(n=4,flip=1,q=3,pad=same) gelu gconv(q=3,pad=circular,support=all) erf gconv(q=1,support=id) relu gpool "
     "dense relu dense"},
    {G_CN, 0, 2, 5, 6, "lift(n=4,q=3,pad=same) relu rotpool lift(n=2,flip=1,q=3,pad=same) relu gpool"},
    {G_CN, 0, 2, 5, 6, "conv(q=3,pad=same) relu lift(n=4,q=3,pad=same) relu gconv(q=3,pad=same) relu gpool"},
    {G_CN, 0, 2, 6, 5, "lift(n=4,flip=1,q=3,pad=valid) relu gconv(q=3,pad=valid,support=id) relu flatten dense"},
    /* the row path (images above the in-cache limit take it; here forced on small ones) */
    {G_CN, 1, 2, 6, 5, "conv(q=3,pad=same,sb=0.1) relu conv(q=5,pad=circular) erf gap dense"},
    {G_CN, 1, 2, 6, 6,
     "lift(n=4,flip=1,q=3,pad=same) relu gconv(q=3,pad=circular) relu avgpool(p=2) gpool dense(sw=1.2,sb=0.1)"},
    {G_CN, 1, 2, 7, 6,
     "lift(n=2,q=3,pad=valid) relu gconv(q=1) leaky_relu(a=0.2) rotpool conv(q=3,pad=same) relu flatten"},
    /* orbit averages (square images) */
    {G_C4, 0, 2, 5, 5, "conv(q=3,pad=circular) relu conv(q=3,pad=circular) relu gap dense"},
    {G_D4, 0, 2, 6, 6, "conv(q=3,pad=same,sb=0.1) erf avgpool(p=2) conv(q=1) relu gap dense(sw=1.1,sb=0.2)"},
    {G_C4, 0, 2, 6, 6, "lift(n=2,q=3,pad=valid) relu gconv(q=3,pad=same) gelu gpool"},
    {G_D4, 0, 2, 5, 5, "conv(q=3,pad=valid) leaky_relu(a=0.1) flatten dense relu dense"},
    {G_D4, 1, 2, 6, 6, "lift(n=4,q=3,pad=same) relu gconv(q=3,pad=same,support=id) identity gpool dense"},
    /* MLPs of depth 1 to 6 (C = input dimension d) */
    {G_MLP, 0, 7, 1, 1, "dense"},
    {G_MLP, 0, 7, 1, 1, "dense(sw=1.2,sb=0.3) relu dense"},
    {G_MLP, 0, 7, 1, 1, "dense erf dense(sb=0.1) gelu dense(sw=0.8)"},
    {G_MLP, 0, 7, 1, 1, "dense(sb=0.2) leaky_relu(a=0.3) dense identity dense relu dense(sw=1.5,sb=0.5)"},
    {G_MLP, 0, 7, 1, 1, "dense dense(sb=0.2) relu"},
    {G_MLP, 0, 7, 1, 1, "dense relu dense relu dense relu dense relu dense relu dense"},
    {G_MLP, 0, 13, 1, 1, "dense(sw=1.4142) leaky_relu dense(sb=1) erf dense gelu dense"},
    {G_MLP, 0, 4, 1, 1, "dense(sw=0.7,sb=0.1) identity dense(sw=2) relu"},
};
#define G_NCASES ((int)(sizeof g_cases / sizeof g_cases[0]))

enum { N1 = 3, N2 = 2, NVAL = 2 * N1 * N1 + 2 * N1 * N2 };
static const char *const g_domain_name[] = {"mlp", "cn", "orbit_c4", "orbit_d4"};
static const char *const g_labels[4] = {"K", "T", "KR", "TR"};
static const size_t g_counts[4] = {N1 * N1, N1 * N1, N1 * N2, N1 * N2};

static void g_header(int i, char *buf, size_t len) {
    const g_case *c = &g_cases[i];
    snprintf(buf, len, "case %d %s %zux%zux%zu %s", i, g_domain_name[c->domain], c->C, c->H, c->W, c->arch);
}

/* one Gram call of case c: x2 == NULL for the symmetric form */
static entk_status g_call(const g_case *c, const entk_arch *a, const double *x1, const double *x2, size_t n2,
                          double *k, size_t ldk, double *t, size_t ldt, int threads) {
    switch (c->domain) {
    case G_MLP: return entk_mlp_kernel(a, x1, N1, x2, n2, c->C, k, ldk, t, ldt, threads);
    case G_CN: return entk_cn_kernel(a, x1, N1, x2, n2, c->C, c->H, c->W, k, ldk, t, ldt, threads);
    case G_C4: return entk_cn_kernel_orbit(a, ENTK_ORBIT_C4, x1, N1, x2, n2, c->C, c->H, c->W, k, ldk, t, ldt, threads);
    default: return entk_cn_kernel_orbit(a, ENTK_ORBIT_D4, x1, N1, x2, n2, c->C, c->H, c->W, k, ldk, t, ldt, threads);
    }
}

/* The NVAL values of case i on the current path (K, T, KR, TR with threads = 1); the threads = 2 results
 * (leading dimension n2 + 1) must equal them bit for bit and leave the extra column alone. */
static void g_compute(int i, double *out) {
    const g_case *c = &g_cases[i];
    const size_t img = c->C * c->H * c->W;
    entk_arch a = tu_parse(c->arch);
    double *x1 = malloc(N1 * img * sizeof *x1), *x2 = malloc(N2 * img * sizeof *x2);
    double k2[N1 * (N1 + 1)], t2[N1 * (N1 + 1)];
    size_t old = 0, off = 0;
    int form;
    tu_rng r;
    cr_assert(x1 && x2);
    r.s = 1000u + (uint64_t)i;
    tu_fill_normal(&r, x1, N1 * img);
    tu_fill_normal(&r, x2, N2 * img);
    if (c->row) old = entk_cn_set_small_limit(0);
    for (form = 0; form < 2; ++form) {
        const size_t m = form ? N2 : N1;
        const double *y = form ? x2 : NULL;
        double *k = out + off, *t = out + off + N1 * m;
        size_t p, q;
        entk_status st = g_call(c, &a, x1, y, form ? N2 : 0, k, m, t, m, 1);
        cr_assert_eq(st, ENTK_OK, "case %d (%s), %s, threads=1: status %d", i, c->arch, form ? "x1 x x2" : "sym", (int)st);
        for (p = 0; p < N1 * (m + 1); ++p) k2[p] = t2[p] = -777.0;
        st = g_call(c, &a, x1, y, form ? N2 : 0, k2, m + 1, t2, m + 1, 2);
        cr_assert_eq(st, ENTK_OK, "case %d (%s), %s, threads=2: status %d", i, c->arch, form ? "x1 x x2" : "sym", (int)st);
        for (p = 0; p < N1; ++p) {
            cr_assert(memcmp(k + p * m, k2 + p * (m + 1), m * sizeof *k) == 0 &&
                          memcmp(t + p * m, t2 + p * (m + 1), m * sizeof *t) == 0,
                      "case %d (%s), %s: threads=2 differs from threads=1 in row %zu", i, c->arch,
                      form ? "x1 x x2" : "sym", p);
            cr_assert(k2[p * (m + 1) + m] == -777.0 && t2[p * (m + 1) + m] == -777.0,
                      "case %d (%s): wrote past n2", i, c->arch);
            for (q = 0; q < m; ++q) cr_assert(isfinite(k[p * m + q]) && isfinite(t[p * m + q]));
        }
        off += 2 * N1 * m;
    }
    if (c->row) entk_cn_set_small_limit(old);
    free(x1);
    free(x2);
}

static const char *g_path_name(entk_simd p) {
    return p == ENTK_SIMD_AVX2 ? "avx2" : p == ENTK_SIMD_NEON ? "neon" : p == ENTK_SIMD_AVX512 ? "avx512" : "scalar";
}

static void g_file(entk_simd p, char *buf, size_t len) {
    const char *dir = getenv("ENTK_GOLDEN_DIR");
    snprintf(buf, len, "%s/%s.txt", dir && *dir ? dir : "tests/golden", g_path_name(p));
}

static void g_record(entk_simd p, const double *vals) {
    char fn[512], hd[1024];
    const char *dir = getenv("ENTK_GOLDEN_DIR");
    FILE *f;
    int i, l;
    size_t j, off = 0;
    if (!(dir && *dir)) dir = "tests/golden";
    cr_assert(mkdir(dir, 0777) == 0 || errno == EEXIST, "cannot create %s", dir);
    g_file(p, fn, sizeof fn);
    f = fopen(fn, "w");
    cr_assert(f, "cannot write %s", fn);
    fprintf(f, "# entk golden Gram matrices, SIMD path %s, %d cases (tests/test_golden.c describes the format).\n",
            g_path_name(p), G_NCASES);
    fprintf(f, "# Recorded with ENTK_GOLDEN_RECORD=1 build/default/test_golden; do not edit by hand.\n");
    for (i = 0; i < G_NCASES; ++i) {
        g_header(i, hd, sizeof hd);
        fprintf(f, "%s\n", hd);
        for (l = 0; l < 4; ++l) {
            fputs(g_labels[l], f);
            for (j = 0; j < g_counts[l]; ++j, ++off) {
                uint64_t u;
                memcpy(&u, &vals[off], 8);
                fprintf(f, " %016llx", (unsigned long long)u);
            }
            fputc('\n', f);
        }
    }
    cr_assert(fclose(f) == 0, "write error on %s", fn);
}

/* Reads the next line that is not a comment into buf (newline stripped); 0 at end of file. */
static int g_line(FILE *f, char *buf, size_t len) {
    while (fgets(buf, (int)len, f)) {
        size_t n = strlen(buf);
        if (n && buf[n - 1] == '\n') buf[--n] = 0;
        if (buf[0] != '#') return 1;
    }
    return 0;
}

/* Loads the golden values of path p (every case, headers checked against the case list). */
static void g_load(entk_simd p, double *vals) {
    char fn[512], hd[1024], line[2048];
    FILE *f;
    int i, l;
    size_t j, off = 0;
    g_file(p, fn, sizeof fn);
    f = fopen(fn, "r");
    cr_assert(f, "no golden file %s for the %s path (run from the repository root; ENTK_GOLDEN_RECORD=1 records)", fn,
              g_path_name(p));
    for (i = 0; i < G_NCASES; ++i) {
        g_header(i, hd, sizeof hd);
        cr_assert(g_line(f, line, sizeof line), "%s ends before case %d", fn, i);
        cr_assert_str_eq(line, hd, "%s: case list changed at case %d", fn, i);
        for (l = 0; l < 4; ++l) {
            const size_t ll = strlen(g_labels[l]);
            char *s;
            cr_assert(g_line(f, line, sizeof line), "%s ends in case %d", fn, i);
            cr_assert(strncmp(line, g_labels[l], ll) == 0 && line[ll] == ' ', "%s case %d: expected %s", fn, i,
                      g_labels[l]);
            s = line + ll;
            for (j = 0; j < g_counts[l]; ++j, ++off) {
                char *e;
                uint64_t u;
                errno = 0;
                u = (uint64_t)strtoull(s, &e, 16);
                cr_assert(e != s && errno == 0 && e - s == 17, "%s case %d %s: bad value %zu", fn, i, g_labels[l], j);
                memcpy(&vals[off], &u, 8);
                s = e;
            }
            cr_assert(*s == 0, "%s case %d %s: trailing text", fn, i, g_labels[l]);
        }
    }
    cr_assert(!g_line(f, line, sizeof line), "%s has more cases than the test", fn);
    fclose(f);
}

static void g_run(entk_simd p) {
    const char *rec = getenv("ENTK_GOLDEN_RECORD");
    const entk_simd def = entk_simd_path();
    double *got = malloc(G_NCASES * NVAL * sizeof *got), *want = malloc(G_NCASES * NVAL * sizeof *want);
    int i, bad = 0;
    cr_assert(got && want);
    if (entk_simd_set(p) != ENTK_OK) {
        free(got);
        free(want);
        cr_skip_test("the %s path is not available in this build or on this CPU", g_path_name(p));
    }
    for (i = 0; i < G_NCASES; ++i) g_compute(i, got + (size_t)i * NVAL);
    entk_simd_set(def);
    if (rec && *rec && strcmp(rec, "0") != 0) {
        g_record(p, got);
    } else {
        g_load(p, want);
        for (i = 0; i < G_NCASES; ++i) {
            const double *g = got + (size_t)i * NVAL, *w = want + (size_t)i * NVAL;
            if (memcmp(g, w, NVAL * sizeof *g) != 0) {
                int v;
                int64_t ug, uw;
                for (v = 0; v < NVAL && memcmp(&g[v], &w[v], 8) == 0; ++v) {}
                memcpy(&ug, &g[v], 8);
                memcpy(&uw, &w[v], 8);
                cr_log_error("%s path, case %d (%s %s): value %d is %a, golden %a (bit patterns differ by %lld)",
                             g_path_name(p), i, g_domain_name[g_cases[i].domain], g_cases[i].arch, v, g[v], w[v],
                             (long long)(ug - uw));
                ++bad;
            }
        }
        cr_expect_eq(bad, 0, "%s path: %d of %d cases differ from the golden values", g_path_name(p), bad, G_NCASES);
    }
    free(got);
    free(want);
}

Test(golden, scalar_path_matches_recorded_values) { g_run(ENTK_SIMD_SCALAR); }
Test(golden, avx2_path_matches_recorded_values) { g_run(ENTK_SIMD_AVX2); }
Test(golden, neon_path_matches_recorded_values) { g_run(ENTK_SIMD_NEON); }
Test(golden, avx512_path_matches_recorded_values) { g_run(ENTK_SIMD_AVX512); }
