/* The generic Gram driver of entk.h (entk__gram, 9.5.3) through entk_cn.h's image domain, on what the
 * public calls do not reach: items of several inputs whose kernels are summed (ENTK__AGG_SUM, the
 * future atomsum layer), all-zero inputs skipped as absent atoms. Each result must equal, bit for bit,
 * the sum of the matching blocks of the ordinary Gram matrix taken in the driver's order (row-major
 * over the pairs of the two items' inputs, each item's inputs in ascending order of their bytes, from
 * 0), for threads 1 and 2; padding an item with zero inputs
 * anywhere must not change a bit. (The averaged aggregation, ENTK__AGG_MEAN, is what
 * entk_cn_kernel_orbit runs: test_golden and test_cn cover it.) A static copy of the library gives
 * access to the private driver. The diagonal-only pass (entk__gram_diag) must give the diagonal of
 * the same matrices bit for bit. */
/* the static copy leaves most of the library unused in this file */
#pragma GCC diagnostic ignored "-Wunused-function"
#define ENTK_STATIC
#define ENTK_IMPLEMENTATION
#include <criterion/criterion.h>
#include "testutil.h"
#include "entk_cn.h"

#define C_ 2
#define H_ 5
#define IMG (C_ * H_ * H_)

static const char *const g_archs[] = {
    "conv(q=3,pad=same,sb=0.1) relu conv(q=3) erf gap dense(sw=1.2,sb=0.2)",
    "lift(n=4,flip=1,q=3,pad=circular) relu gconv(q=3,pad=circular) relu gpool dense relu dense"};

/* n images, those with zero[i] set all zero */
static void g_images(double *x, size_t n, const int *zero, uint64_t seed) {
    tu_rng r = {seed};
    size_t i;
    tu_fill_normal(&r, x, n * IMG);
    for (i = 0; i < n; ++i)
        if (zero && zero[i]) memset(x + i * IMG, 0, IMG * sizeof *x);
}

/* the image domain of a on C_ x H_ x H_ inputs (job and dom point into pl and a) */
static entk_status g_domain(const entk_arch *a, entk__cn_plan *pl, entk__cn_job *job, entk__domain *dom) {
    entk_status st = entk__cn_plan_make(a, C_, H_, H_, pl);
    if (st) return st;
    job->a = a; job->pl = pl; job->C = C_; job->H = H_; job->W = H_;
    entk__cn_domain(job, dom);
    return ENTK_OK;
}

/* The driver with the image domain; x2 == NULL: symmetric. */
static entk_status g_gram(const entk_arch *a, const double *x1, size_t n1, size_t s1, const double *x2, size_t n2,
                          size_t s2, double *k, double *t, size_t ld, int threads) {
    entk__cn_plan pl;
    entk__cn_job job;
    entk__domain dom;
    entk_status st = g_domain(a, &pl, &job, &dom);
    return st ? st : entk__gram(&dom, &job, x1, n1, s1, x2, n2, s2, ENTK__AGG_SUM, k, ld, t, ld, threads);
}

/* the inputs of one item (s images from x) in ascending order of their bytes, by insertion sort: an
 * independent statement of the driver's canonical order */
static void g_order(const double *x, size_t s, size_t *o) {
    size_t a, b;
    for (a = 0; a < s; ++a) {
        const size_t v = a;
        for (b = a; b > 0 && memcmp(x + o[b - 1] * IMG, x + v * IMG, IMG * sizeof *x) > 0; --b) o[b] = o[b - 1];
        o[b] = v;
    }
}

/* out(i, j) = sum over the nonzero input pairs (a, b) of items i, j of G(i s1 + a, j s2 + b), G with
 * leading dimension ldg, each item's inputs in their order (g_order); z1, z2 flag the zero inputs */
static void g_block_sums(const double *G, size_t ldg, const double *x1, const int *z1, size_t n1, size_t s1,
                         const double *x2, const int *z2, size_t n2, size_t s2, double *out) {
    size_t i, j, a, b, o1[8], o2[8];
    for (i = 0; i < n1; ++i)
        for (j = 0; j < n2; ++j) {
            double s = 0;
            g_order(x1 + i * s1 * IMG, s1, o1);
            g_order(x2 + j * s2 * IMG, s2, o2);
            for (a = 0; a < s1; ++a)
                for (b = 0; b < s2; ++b)
                    if (!z1[i * s1 + o1[a]] && !z2[j * s2 + o2[b]]) s += G[(i * s1 + o1[a]) * ldg + j * s2 + o2[b]];
            out[i * n2 + j] = s;
        }
}

static void g_assert_same(const double *got, const double *want, size_t n, const char *what, int c, int th) {
    size_t i;
    for (i = 0; i < n; ++i)
        cr_assert(memcmp(got + i, want + i, sizeof *got) == 0,
                  "%s, arch %d, threads %d: entry %zu is %.17g, want %.17g", what, c, th, i, got[i], want[i]);
}

Test(gram, atom_sums_are_the_sums_of_the_gram_blocks) {
    /* 3 items of 3 atoms against 2 items of 2; x1 item 1 has a zero atom, x2 item 1 only zeros */
    enum { n1 = 3, s1 = 3, n2 = 2, s2 = 2, N1 = n1 * s1, N2 = n2 * s2 };
    static const int z1[N1] = {0, 0, 0, 0, 1, 0, 0, 0, 0}, z2[N2] = {0, 0, 1, 1};
    static double x1[N1 * IMG], x2[N2 * IMG], GK[N1 * N2], GT[N1 * N2], K[n1 * n2], T[n1 * n2],
        EK[n1 * n2], ET[n1 * n2];
    int c, th;
    g_images(x1, N1, z1, 11);
    g_images(x2, N2, z2, 12);
    for (c = 0; c < 2; ++c) {
        entk_arch a = tu_parse(g_archs[c]);
        cr_assert_eq(entk_cn_kernel(&a, x1, N1, x2, N2, C_, H_, H_, GK, N2, GT, N2, 1), ENTK_OK);
        g_block_sums(GK, N2, x1, z1, n1, s1, x2, z2, n2, s2, EK);
        g_block_sums(GT, N2, x1, z1, n1, s1, x2, z2, n2, s2, ET);
        for (th = 1; th <= 2; ++th) {
            memset(K, 0xff, sizeof K); /* NaN: every entry must be written */
            memset(T, 0xff, sizeof T);
            cr_assert_eq(g_gram(&a, x1, n1, s1, x2, n2, s2, K, T, n2, th), ENTK_OK);
            g_assert_same(K, EK, n1 * n2, "rectangular NNGP", c, th);
            g_assert_same(T, ET, n1 * n2, "rectangular NTK", c, th);
            /* an item of zero atoms only: an empty sum */
            cr_assert(K[1] == 0 && K[3] == 0 && K[5] == 0 && T[1] == 0 && T[5] == 0);
            memset(K, 0xff, sizeof K);
            cr_assert_eq(g_gram(&a, x1, n1, s1, x2, n2, s2, K, NULL, n2, th), ENTK_OK); /* NNGP only */
            g_assert_same(K, EK, n1 * n2, "rectangular NNGP without NTK", c, th);
        }
    }
}

Test(gram, symmetric_atom_sums_use_the_diagonal_and_are_mirrored) {
    /* the pair of an atom with itself is the ordinary Gram's diagonal (from the self record), every
     * other pair a direct pair run, as in the rectangular Gram of x with itself */
    enum { n = 3, s = 2, N = n * s };
    static const int z[N] = {0, 1, 0, 0, 0, 0};
    static double x[N * IMG], GS[N * N], GST[N * N], G[N * N], GT[N * N], K[n * n], T[n * n], EK[n * n],
        ET[n * n];
    int c, th;
    size_t i, j;
    g_images(x, N, z, 21);
    for (c = 0; c < 2; ++c) {
        entk_arch a = tu_parse(g_archs[c]);
        cr_assert_eq(entk_cn_kernel(&a, x, N, NULL, 0, C_, H_, H_, GS, N, GST, N, 1), ENTK_OK);
        cr_assert_eq(entk_cn_kernel(&a, x, N, x, N, C_, H_, H_, G, N, GT, N, 1), ENTK_OK);
        for (i = 0; i < N; ++i) { G[i * N + i] = GS[i * N + i]; GT[i * N + i] = GST[i * N + i]; }
        g_block_sums(G, N, x, z, n, s, x, z, n, s, EK);
        g_block_sums(GT, N, x, z, n, s, x, z, n, s, ET);
        for (th = 1; th <= 2; ++th) {
            memset(K, 0xff, sizeof K);
            memset(T, 0xff, sizeof T);
            cr_assert_eq(g_gram(&a, x, n, s, NULL, 0, 0, K, T, n, th), ENTK_OK);
            for (i = 0; i < n; ++i)
                for (j = 0; j < n; ++j) {
                    const size_t u = i <= j ? i * n + j : j * n + i; /* the upper triangle, mirrored */
                    cr_assert(memcmp(&K[i * n + j], &EK[u], sizeof *K) == 0 &&
                                  memcmp(&T[i * n + j], &ET[u], sizeof *T) == 0,
                              "arch %d, threads %d: entry (%zu, %zu) is %.17g, %.17g; want %.17g, %.17g", c, th, i,
                              j, K[i * n + j], T[i * n + j], EK[u], ET[u]);
                }
        }
    }
}

Test(gram, zero_atoms_anywhere_change_no_bit) {
    /* items [a0 a1], [a2 a3] against [b0 b1 b2]; padded: [0 a0 0 a1], [a2 0 a3 0] against
     * [b0 0 b1 b2 0]; both symmetric and rectangular */
    static const int pad1[8] = {1, 0, 1, 0, 0, 1, 0, 1}, pad2[5] = {1, 0, 1, 1, 0};
    static double x1[4 * IMG], x2[3 * IMG], p1[8 * IMG], p2[5 * IMG], K[6], T[6], PK[6], PT[6];
    size_t i, k;
    int c, th;
    g_images(x1, 4, NULL, 31);
    g_images(x2, 3, NULL, 32);
    memset(p1, 0, sizeof p1);
    memset(p2, 0, sizeof p2);
    for (i = 0, k = 0; i < 8; ++i)
        if (pad1[i]) memcpy(p1 + i * IMG, x1 + k++ * IMG, IMG * sizeof *x1);
    for (i = 0, k = 0; i < 5; ++i)
        if (pad2[i]) memcpy(p2 + i * IMG, x2 + k++ * IMG, IMG * sizeof *x2);
    for (c = 0; c < 2; ++c) {
        entk_arch a = tu_parse(g_archs[c]);
        for (th = 1; th <= 2; ++th) {
            cr_assert_eq(g_gram(&a, x1, 2, 2, x2, 1, 3, K, T, 1, th), ENTK_OK);
            cr_assert_eq(g_gram(&a, p1, 2, 4, p2, 1, 5, PK, PT, 1, th), ENTK_OK);
            g_assert_same(PK, K, 2, "padded rectangular NNGP", c, th);
            g_assert_same(PT, T, 2, "padded rectangular NTK", c, th);
            cr_assert_eq(g_gram(&a, x1, 2, 2, NULL, 0, 0, K, T, 2, th), ENTK_OK);
            cr_assert_eq(g_gram(&a, p1, 2, 4, NULL, 0, 0, PK, PT, 2, th), ENTK_OK);
            g_assert_same(PK, K, 4, "padded symmetric NNGP", c, th);
            g_assert_same(PT, T, 4, "padded symmetric NTK", c, th);
        }
    }
}

/* entk__gram_diag, the driver's diagonal-only pass: entry i is entry (i, i) of entk__gram bit for bit,
 * for summed items with zero atoms, symmetric (x2 == NULL) and rectangular (item i of x1 against item i
 * of x2), threads 1 to 3, with and without the NTK. */
static entk_status g_diag(const entk_arch *a, const double *x1, size_t n, size_t s1, const double *x2, size_t s2,
                          double *k, double *t, int threads) {
    entk__cn_plan pl;
    entk__cn_job job;
    entk__domain dom;
    entk_status st = g_domain(a, &pl, &job, &dom);
    return st ? st : entk__gram_diag(&dom, &job, x1, n, s1, x2, s2, ENTK__AGG_SUM, k, t, threads);
}

Test(gram, the_diagonal_pass_is_the_gram_diagonal) {
    enum { n = 3, s1 = 2, s2 = 3 };
    static const int z1[n * s1] = {0, 1, 0, 0, 0, 0}, z2[n * s2] = {0, 0, 1, 1, 1, 1, 0, 1, 0};
    static double x1[n * s1 * IMG], x2[n * s2 * IMG], K[n * n], T[n * n], kd[n], td[n];
    size_t i;
    int c, th;
    g_images(x1, n * s1, z1, 41);
    g_images(x2, n * s2, z2, 42);
    for (c = 0; c < 2; ++c) {
        entk_arch a = tu_parse(g_archs[c]);
        int sym;
        for (sym = 0; sym <= 1; ++sym) {
            const double *y = sym ? NULL : x2;
            cr_assert_eq(g_gram(&a, x1, n, s1, y, n, s2, K, T, n, 1), ENTK_OK);
            for (th = 1; th <= 3; ++th) {
                memset(kd, 0xff, sizeof kd); /* NaN: every entry must be written */
                memset(td, 0xff, sizeof td);
                cr_assert_eq(g_diag(&a, x1, n, s1, y, s2, kd, td, th), ENTK_OK);
                for (i = 0; i < n; ++i)
                    cr_assert(memcmp(&kd[i], &K[i * n + i], sizeof *kd) == 0 &&
                                  memcmp(&td[i], &T[i * n + i], sizeof *td) == 0,
                              "arch %d, sym %d, threads %d: %zu: %.17g %.17g, want %.17g %.17g", c, sym, th, i, kd[i],
                              td[i], K[i * n + i], T[i * n + i]);
                memset(kd, 0xff, sizeof kd);
                cr_assert_eq(g_diag(&a, x1, n, s1, y, s2, kd, NULL, th), ENTK_OK); /* NNGP only */
                for (i = 0; i < n; ++i) cr_assert(memcmp(&kd[i], &K[i * n + i], sizeof *kd) == 0);
            }
        }
        /* x2 item 1 is all zero: an empty sum */
        cr_assert_eq(g_diag(&a, x1, n, s1, x2, s2, kd, td, 2), ENTK_OK);
        cr_assert(kd[1] == 0 && td[1] == 0);
    }
}
