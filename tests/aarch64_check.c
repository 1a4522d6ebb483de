/* AArch64 checks under qemu-user (Criterion hangs there): a plain program that prints
 * `N passed, N failed` and exits non-zero on failure. */
#define ENTK_IMPLEMENTATION
#include "entk.h"
#include <stdio.h>
#include <string.h>
#include <math.h>

static int n_pass, n_fail;
#define CHECK(cond, ...) do { if (cond) ++n_pass; else { ++n_fail; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

/* ==== [section: aarch64 checks simd] ========================================================= */
#include "testutil.h" /* the map budgets and checks of tests/test_simd.c */

/* NEON maps against the scalar maps: every tail, broadcast/strided variances, theta or not, in place,
 * the edge cases, and extreme lanes mixed in (the slow block path), with the budgets of
 * tests/test_simd.c. */
static void check_neon_maps(void) {
    int k;
    for (k = 0; k < TU_N_MAP_CASES; ++k) {
        double wt, wd, et, ed;
        int f1 = tu_map_compare(ENTK_SIMD_NEON, &tu_map_cases[k], &wt, &wd);
        int f2 = tu_map_edges(ENTK_SIMD_NEON, &tu_map_cases[k], &et, &ed);
        double xt, xd;
        int f3 = tu_map_compare_ex(ENTK_SIMD_NEON, &tu_map_cases[k], 1, &xt, &xd);
        printf("neon %-10s worst T %.3g Tdot %.3g, edges %.3g %.3g, extreme lanes %.3g %.3g (scaled ulps)\n",
               tu_map_cases[k].name, wt, wd, et, ed, xt, xd);
        CHECK(f3 == 0, "neon map %s: %d failures with extreme lanes (worst T %.3g, Tdot %.3g)", tu_map_cases[k].name,
              f3, xt, xd);
        CHECK(f1 == 0, "neon map %s: %d failures (worst T %.3g, Tdot %.3g)", tu_map_cases[k].name, f1, wt, wd);
        CHECK(f2 == 0, "neon map %s: %d edge failures (worst T %.3g, Tdot %.3g)", tu_map_cases[k].name, f2, et, ed);
    }
    entk_simd_set(ENTK_SIMD_NEON);
}

/* NEON dot products (through the dense-only MLP kernel) against the scalar ones and a long-double
 * oracle: every row count 1..4 and column count, d = 1..19 (every tail). */
static void check_neon_dots(void) {
    double worst = 0;
    int fails = tu_dots_compare(ENTK_SIMD_NEON, &worst);
    printf("neon dots worst error %.3g of the bound\n", worst);
    CHECK(fails == 0, "neon dots: %d failures (worst %.3g of the bound)", fails, worst);
    entk_simd_set(ENTK_SIMD_NEON);
}

/* End to end: a deep MLP (every map, in place with a broadcast k11) on NEON equals the scalar path. */
static void check_neon_mlp(void) {
    enum { N1 = 9, N2 = 6, D = 13 };
    double x1[N1 * D], x2[N2 * D], k0[N1 * N2], t0[N1 * N2], k1[N1 * N2], t1[N1 * N2];
    entk_arch arch;
    tu_rng r = {5};
    double ek, et;
    CHECK(entk_arch_parse("dense(sw=1.4,sb=0.1) relu dense(sw=1.2) erf dense gelu dense leaky_relu(a=0.1) "
                          "dense sin dense(sb=0.3)", &arch, NULL, 0) == ENTK_OK, "parse");
    tu_fill_normal(&r, x1, N1 * D);
    tu_fill_normal(&r, x2, N2 * D);
    entk_simd_set(ENTK_SIMD_SCALAR);
    CHECK(entk_mlp_kernel(&arch, x1, N1, x2, N2, D, k0, N2, t0, N2, 1) == ENTK_OK, "scalar mlp");
    entk_simd_set(ENTK_SIMD_NEON);
    CHECK(entk_mlp_kernel(&arch, x1, N1, x2, N2, D, k1, N2, t1, N2, 1) == ENTK_OK, "neon mlp");
    ek = tu_rel_frob(k1, k0, N1 * N2);
    et = tu_rel_frob(t1, t0, N1 * N2);
    printf("neon mlp rel diff nngp %.3g ntk %.3g\n", ek, et);
    CHECK(ek <= 1e-13 && et <= 1e-13, "neon mlp differs from scalar: %.3g %.3g", ek, et);
}

/* entk's own atan2 on NEON against atan2l (quad precision on AArch64) over random inputs of every
 * exponent range, bit for bit the scalar twin, and the special values (as tests/test_atan2.c). */
/* The NEON row kernels (affine, sum3, addto, stream + fence, lincomb) against the scalar table, bit for bit, on
 * lengths 0..67 with sentinels after every output (tu_row_kernels_compare, shared with
 * tests/test_dispatch.c). */
static void check_neon_row_kernels(void) {
    char msg[200];
    const entk__kernels *v = entk__kt_table(ENTK_SIMD_NEON);
    long fails;
    CHECK(v != NULL, "no NEON kernel table");
    if (!v) return;
    fails = tu_row_kernels_compare(entk__kt_table(ENTK_SIMD_SCALAR), v, msg, sizeof msg);
    CHECK(fails == 0, "neon row kernels: %ld failures, the first: %s", fails, msg);
}

static void check_neon_atan2(void) {
    enum { NA = 1 << 16 };
    static double y[NA], x[NA], o[NA];
    static const double sv[][2] = {{0, 0}, {0, -0.0}, {-0.0, 0}, {-0.0, -0.0}, {1, 0}, {1, -0.0}, {0, -1},
                                   {-0.0, -1}, {1e-310, 3e-320}, {1e308, 1e-308}, {INFINITY, INFINITY},
                                   {1, INFINITY}, {-1, -INFINITY}};
    tu_rng r = {99};
    double worst = 0, sy[2], sx[2], so[2];
    size_t i, diff = 0;
    int bad = 0;
    for (i = 0; i < NA; ++i) {
        unsigned m = (unsigned)(tu_next(&r) % 3);
        int span = m == 0 ? 2 : m == 1 ? 200 : 2000; /* 2^+-1000: beyond 2^+-960 the wide path */
        y[i] = ldexp(2 * tu_unif(&r) - 1, m ? (int)(tu_next(&r) % (unsigned)span) - span / 2 : 0);
        x[i] = ldexp(2 * tu_unif(&r) - 1, m ? (int)(tu_next(&r) % (unsigned)span) - span / 2 : 0);
    }
    entk__atan2_array_neon(NA, y, x, o);
    for (i = 0; i < NA; ++i) {
        long double ref = atan2l(y[i], x[i]);
        double rd = (double)ref, e = 0;
        int ex;
        diff += o[i] != entk__atan2_scalar(y[i], x[i]);
        if (fabsl(ref) < 0x1p-1000L || o[i] == rd) continue;
        frexp(rd, &ex);
        e = (double)(fabsl((long double)o[i] - ref) / ldexpl(1.0L, ex - 53));
        if (e > worst) worst = e;
    }
    for (i = 0; i < sizeof sv / sizeof sv[0]; ++i) {
        double ref = atan2(sv[i][0], sv[i][1]);
        sy[0] = sy[1] = sv[i][0];
        sx[0] = sx[1] = sv[i][1];
        entk__atan2_array_neon(2, sy, sx, so);
        bad += so[0] != ref || signbit(so[0]) != signbit(ref);
    }
    printf("neon atan2 max %.4f ULP vs atan2l, %zu differ from the scalar twin, %d special values wrong\n",
           worst, diff, bad);
    CHECK(worst <= 0.53, "neon atan2 %.4f ULP", worst);
    CHECK(diff == 0, "neon atan2: %zu results differ from the scalar twin", diff);
    CHECK(bad == 0, "neon atan2: %d special values differ from libm", bad);
}

/* ==== [end: aarch64 checks simd] ============================================================= */



/* ==== [section: aarch64 checks linalg] ======================================================= */

/* NEON Cholesky: residual < 30 and agreement with the scalar path to 1e-12 relative, at sizes around
 * the 4 x 8 NEON tile, the recursion (32) and the outer block (256). */
static void check_linalg_cholesky(void) {
    static const size_t ns[] = {1, 3, 4, 5, 8, 9, 31, 33, 64, 97, 255, 257, 300};
    size_t s, i;
    for (s = 0; s < sizeof ns / sizeof ns[0]; ++s) {
        const size_t n = ns[s];
        double *a = (double *)malloc(n * n * sizeof *a), *ln = (double *)malloc(n * n * sizeof *a);
        double *ls = (double *)malloc(n * n * sizeof *a), worst = 0, big = 0, res;
        size_t info = 1;
        tu_rng r;
        r.s = 1000 + n;
        CHECK(tu_spd(&r, n, a, n) == 0, "spd n=%zu", n);
        memcpy(ln, a, n * n * sizeof *a);
        memcpy(ls, a, n * n * sizeof *a);
        entk_simd_set(ENTK_SIMD_NEON);
        CHECK(entk_cholesky(n, ln, n, &info) == ENTK_OK && info == 0, "neon cholesky n=%zu info=%zu", n, info);
        entk_simd_set(ENTK_SIMD_SCALAR);
        CHECK(entk_cholesky(n, ls, n, &info) == ENTK_OK, "scalar cholesky n=%zu", n);
        entk_simd_set(ENTK_SIMD_NEON);
        for (i = 0; i < n * n; ++i)
            if (i % n <= i / n) {
                if (fabs(ln[i] - ls[i]) > worst) worst = fabs(ln[i] - ls[i]);
                if (fabs(ls[i]) > big) big = fabs(ls[i]);
            }
        CHECK(worst <= 1e-12 * big, "neon vs scalar n=%zu: %.3g", n, worst / big);
        res = tu_chol_residual(n, a, n, ln, n);
        CHECK(res < 30.0, "neon residual n=%zu: %.3g", n, res);
        free(a); free(ln); free(ls);
    }
}

/* The exact failing minor, and the NEON eigensolver's rotations: residual and orthogonality. */
static void check_linalg_notpd_eigen(void) {
    double j3[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    size_t info = 0, n = 60, i, j, k;
    double *a = (double *)malloc(n * n * sizeof *a), *v = (double *)malloc(n * n * sizeof *a), w[60], r2 = 0, o2 = 0, an = 0;
    tu_rng r = {7};
    CHECK(entk_cholesky(3, j3, 3, &info) == ENTK_ERR_NOT_PD && info == 2, "all-ones: info %zu", info);
    for (i = 0; i < n; ++i)
        for (j = 0; j <= i; ++j) a[i * n + j] = a[j * n + i] = 2.0 * tu_unif(&r) - 1.0;
    CHECK(entk_syev(n, a, n, w, v, n) == ENTK_OK, "syev");
    for (i = 0; i < n; ++i)
        for (j = 0; j < n; ++j) {
            double s = 0, o = 0;
            for (k = 0; k < n; ++k) { s += a[i * n + k] * v[k * n + j]; o += v[k * n + i] * v[k * n + j]; }
            s -= v[i * n + j] * w[j];
            o -= (i == j);
            r2 += s * s; o2 += o * o; an += a[i * n + j] * a[i * n + j];
        }
    CHECK(sqrt(r2 / an) < 50 * n * DBL_EPSILON && sqrt(o2) < 50 * n * DBL_EPSILON, "syev res %.3g orth %.3g",
          sqrt(r2 / an), sqrt(o2));
    for (i = 1; i < n; ++i) CHECK(w[i - 1] <= w[i], "ascending at %zu", i);
    free(a); free(v);
}

/* ==== [end: aarch64 checks linalg] =========================================================== */

/* ==== [section: aarch64 checks cn] =========================================================== */
#include "entk_cn.h"

/* n values uniform in [-1, 1) from the stream of seed */
static void cn_images(double *x, size_t n, uint64_t seed) {
    tu_rng r;
    size_t i;
    r.s = seed;
    for (i = 0; i < n; ++i) x[i] = 2.0 * tu_unif(&r) - 1.0;
}

/* brute force "conv(q=3,pad=circular,sw,sb) relu" x 2, gap, on N x N images with C channels: the
 * three kernels (x1 x1, x2 x2, x1 x2) on the full P x P domain, relu in closed form (docs/conventions.md §1.1) */
static void cn_brute(const double *x1, const double *x2, size_t C, size_t N, double sw, double sb, double *k,
                     double *t) {
    const size_t P = N * N;
    double *K[3], *T[3], *Kn, *Tn;
    const double *xa[3] = {x1, x2, x1}, *xb[3] = {x1, x2, x2}, pi = 3.14159265358979323846;
    size_t z, u, v, c;
    int l;
    Kn = malloc(P * P * sizeof *Kn); Tn = malloc(P * P * sizeof *Tn);
    for (z = 0; z < 3; ++z) {
        K[z] = malloc(P * P * sizeof(double)); T[z] = malloc(P * P * sizeof(double));
        for (u = 0; u < P; ++u)
            for (v = 0; v < P; ++v) {
                double s = 0;
                for (c = 0; c < C; ++c) s += xa[z][c * P + u] * xb[z][c * P + v];
                K[z][u * P + v] = s / (double)C;
            }
    }
    for (l = 0; l < 2; ++l) {
        for (z = 0; z < 3; ++z) {
            for (u = 0; u < P; ++u)
                for (v = 0; v < P; ++v) {
                    double sk = 0, st = 0;
                    int a, b;
                    for (a = -1; a <= 1; ++a)
                        for (b = -1; b <= 1; ++b) {
                            size_t i1 = (u / N + N + a) % N, j1 = (u % N + N + b) % N;
                            size_t i2 = (v / N + N + a) % N, j2 = (v % N + N + b) % N;
                            sk += K[z][(i1 * N + j1) * P + i2 * N + j2];
                            st += T[z][(i1 * N + j1) * P + i2 * N + j2];
                        }
                    Kn[u * P + v] = sw * sw * sk / 9 + sb * sb;
                    Tn[u * P + v] = Kn[u * P + v] + (l == 0 ? 0 : sw * sw * st / 9);
                }
            memcpy(K[z], Kn, P * P * sizeof *Kn);
            memcpy(T[z], Tn, P * P * sizeof *Tn);
        }
        for (z = 3; z-- > 0;) { /* relu; the diagonals of z = 0, 1 are read before they change */
            const double *da = z == 1 ? K[1] : K[0], *db = z == 0 ? K[0] : K[1];
            for (u = 0; u < P; ++u)
                for (v = 0; v < P; ++v) {
                    const double k11 = da[u * P + u], k22 = db[v * P + v], k12 = K[z][u * P + v];
                    const double s = sqrt(fmax(k11 * k22 - k12 * k12, 0)), th = atan2(s, k12);
                    Kn[u * P + v] = (s + (pi - th) * k12) / (2 * pi);
                    Tn[u * P + v] = (pi - th) / (2 * pi) * T[z][u * P + v];
                }
            memcpy(K[z], Kn, P * P * sizeof *Kn);
            memcpy(T[z], Tn, P * P * sizeof *Tn);
        }
    }
    *k = *t = 0;
    for (u = 0; u < P * P; ++u) { *k += K[2][u]; *t += T[2][u]; }
    *k /= (double)(P * P);
    *t /= (double)(P * P);
    for (z = 0; z < 3; ++z) { free(K[z]); free(T[z]); }
    free(Kn); free(Tn);
}

static void check_cn_gram(void) {
    const size_t C = 2, N = 5, n = 3, img = C * N * N;
    entk_arch a;
    double x[3 * 50], K[9], T[9], K0[9], T0[9];
    size_t i, j, old;
    cn_images(x, n * img, 3);
    CHECK(entk_arch_parse("conv(q=3,pad=circular,sw=1.3,sb=0.2) relu conv(q=3,pad=circular,sw=1.3,sb=0.2) relu gap",
                          &a, NULL, 0) == ENTK_OK, "parse");
    CHECK(entk_cn_kernel(&a, x, n, NULL, 0, C, N, N, K, n, T, n, 1) == ENTK_OK, "cn kernel");
    for (i = 0; i < n; ++i)
        for (j = 0; j < n; ++j) {
            double k, t;
            cn_brute(x + i * img, x + j * img, C, N, 1.3, 0.2, &k, &t);
            CHECK(tu_rel(K[i * n + j], k) < 1e-12 && tu_rel(T[i * n + j], t) < 1e-12,
                  "cnn (%zu,%zu) vs brute force: K %.17g %.17g T %.17g %.17g", i, j, K[i * n + j], k, T[i * n + j], t);
        }
    /* the row path gives the in-cache path's kernels bit for bit; NEON and scalar maps agree to rounding */
    old = entk_cn_set_small_limit(0);
    CHECK(entk_cn_kernel(&a, x, n, NULL, 0, C, N, N, K0, n, T0, n, 1) == ENTK_OK, "cn kernel, row path");
    entk_cn_set_small_limit(old);
    CHECK(memcmp(K, K0, sizeof K) == 0 && memcmp(T, T0, sizeof T) == 0, "row path != in-cache path");
    entk_simd_set(ENTK_SIMD_SCALAR);
    CHECK(entk_cn_kernel(&a, x, n, NULL, 0, C, N, N, K0, n, T0, n, 1) == ENTK_OK, "cn kernel, scalar");
    entk_simd_set(ENTK_SIMD_NEON);
    for (i = 0; i < n * n; ++i)
        CHECK(tu_rel(K[i], K0[i]) < 1e-13 && tu_rel(T[i], T0[i]) < 1e-13, "neon vs scalar entry %zu", i);
}

/* C4 GCNN with circular padding and gpool: exactly invariant under rotating either input by 90 deg */
static void check_cn_invariance(void) {
    const size_t C = 1, N = 6, img = C * N * N;
    entk_arch a;
    double x[2 * 36], y[36], k0, t0, k, t, *w;
    size_t wl = 0;
    int side;
    cn_images(x, 2 * img, 5);
    CHECK(entk_arch_parse("lift(n=4,q=3,pad=circular,sb=0.1) relu gconv(q=3,pad=circular) relu gpool dense", &a, NULL,
                          0) == ENTK_OK, "parse");
    CHECK(entk_cn_workspace_size(&a, C, N, N, &wl, NULL) == ENTK_OK, "workspace");
    w = malloc(wl * sizeof *w);
    CHECK(entk_cn_pair(&a, x, NULL, x + img, NULL, C, N, N, w, &k0, &t0) == ENTK_OK, "pair");
    for (side = 0; side < 2; ++side) {
        tu_img_rot90(x + (size_t)side * img, C, N, y);
        CHECK(entk_cn_pair(&a, side ? x : y, NULL, side ? y : x + img, NULL, C, N, N, w, &k, &t) == ENTK_OK, "pair");
        CHECK(tu_rel(k, k0) < 1e-12 && tu_rel(t, t0) < 1e-12, "rot90 of input %d: %.17g vs %.17g", side + 1, k, k0);
    }
    free(w);
}

/* the separable window sums (row and in-cache forms) against the direct q^2 form */
static void check_cn_window(void) {
    static const entk_pad pads[3] = {ENTK_PAD_VALID, ENTK_PAD_SAME, ENTK_PAD_CIRCULAR};
    const size_t H = 6, W = 5, P = H * W;
    double *m = malloc(P * P * sizeof *m), *f = malloc(P * P * sizeof *f), *d = malloc(P * P * sizeof *d);
    double *s = malloc(P * P * sizeof *s), *tmp = malloc(P * P * sizeof *tmp), worst = 0;
    int ip, g, q, bad = 0;
    cn_images(m, P * P, 7);
    for (q = 1; q <= 5; q += 2)
        for (ip = 0; ip < 3; ++ip)
            for (g = 0; g < 8; ++g) {
                const size_t No = pads[ip] == ENTK_PAD_VALID ? (H - q + 1) * (W - q + 1) : P;
                size_t e;
                if (entk_cn_window_sum(m, H, W, q, pads[ip], 4, 1, g, 0, tmp, f) ||
                    entk_cn_window_sum(m, H, W, q, pads[ip], 4, 1, g, 1, NULL, d) ||
                    entk_cn_window_sum(m, H, W, q, pads[ip], 4, 1, g, 2, tmp, s)) { ++bad; continue; }
                for (e = 0; e < No * No; ++e) if (fabs(f[e] - d[e]) > worst) worst = fabs(f[e] - d[e]);
                if (memcmp(f, s, No * No * sizeof *f) != 0) ++bad;
            }
    CHECK(bad == 0 && worst < 1e-13, "window sums: %d failures, fast vs direct %.3g", bad, worst);
    free(m); free(f); free(d); free(s); free(tmp);
}
/* The NEON row kernels (window sums, affine update) against the scalar ones on nets whose maps are the
 * identity (so only the row kernels differ between paths), row path and in-cache path, all to 1e-15
 * (adds only, in one order; the affine update may be contracted into fused multiply-adds on
 * either path by the compiler) */
static void check_cn_neon_rows(void) {
    static const char *archs[2] = {
        "conv(q=3,pad=same,sb=0.3) identity conv(q=5,pad=circular,sw=1.1) identity conv(q=3) gap dense",
        "lift(n=4,flip=1,q=3,pad=same,sb=0.2) identity gconv(q=3,pad=circular) identity gpool"};
    const size_t C = 2, N = 9, n = 3;
    double x[3 * 2 * 81], K0[9], T0[9], K1[9], T1[9], worst = 0;
    int c, lim;
    cn_images(x, n * C * N * N, 11);
    for (c = 0; c < 2; ++c)
        for (lim = 0; lim < 2; ++lim) {
            entk_arch a;
            size_t old = entk_cn_set_small_limit(lim ? 256 : 0), e;
            CHECK(entk_arch_parse(archs[c], &a, NULL, 0) == ENTK_OK, "parse");
            entk_simd_set(ENTK_SIMD_SCALAR);
            CHECK(entk_cn_kernel(&a, x, n, NULL, 0, C, N, N, K0, n, T0, n, 1) == ENTK_OK, "scalar");
            entk_simd_set(ENTK_SIMD_NEON);
            CHECK(entk_cn_kernel(&a, x, n, NULL, 0, C, N, N, K1, n, T1, n, 1) == ENTK_OK, "neon");
            entk_cn_set_small_limit(old);
            for (e = 0; e < n * n; ++e) {
                worst = fmax(worst, tu_rel(K1[e], K0[e]));
                worst = fmax(worst, tu_rel(T1[e], T0[e]));
            }
        }
    printf("cn neon row kernels vs scalar: worst relative difference %.3g\n", worst);
    CHECK(worst < 1e-15, "cn neon row kernels: %.3g", worst);
}
/* ==== [end: aarch64 checks cn] =============================================================== */

/* ==== [section: aarch64 checks so3] ========================================================= */
#include "entk_so3.h"

/* SO(3) networks on the NEON path: transform round trips, the NEON kernels against the scalar path's,
 * and the pooled kernels' invariance under a rotation of the inputs (band-limited inputs). */
static void check_so3(void) {
    const int L = 3;
    const size_t C = 2, n = 3, cell = 30, q = 9;
    tu_rng r = {31};
    entk_arch a;
    double x[3 * 2 * 30], xr[3 * 2 * 30], co[3 * 2 * 9], back[9], d[35], ar[9], K[9], T[9], K0[9], T0[9];
    double work[4096];
    size_t i, k, wl;
    CHECK(entk_so3_sht_work_size(L, L, &wl) == ENTK_OK && wl <= 4096, "sht work");
    CHECK(entk_so3_real_wigner(L, 0.4, 1.1, 2.3, d) == ENTK_OK, "real wigner");
    for (i = 0; i < n * C; ++i) {
        double e = 0;
        for (k = 0; k < q; ++k) co[i * q + k] = tu_normal(&r) / (1.0 + (double)k);
        CHECK(entk_so3_isht(L, L, co + i * q, x + i * cell, work) == ENTK_OK, "isht");
        CHECK(entk_so3_sht(L, L, x + i * cell, back, work) == ENTK_OK, "sht");
        for (k = 0; k < q; ++k) e = fmax(e, fabs(back[k] - co[i * q + k]));
        CHECK(e < 1e-13, "neon S2 round trip %.3g", e);
        CHECK(entk_so3_rotate_sh(L, d, co + i * q, ar) == ENTK_OK, "rotate");
        CHECK(entk_so3_isht(L, L, ar, xr + i * cell, work) == ENTK_OK, "isht rotated");
    }
    CHECK(entk_arch_parse("s2lift(B=8,sb=0.1) erf so3conv(B=8) gelu so3pool dense(sb=0.1) erf dense", &a, NULL, 0) ==
              ENTK_OK, "parse");
    CHECK(entk_so3_kernel(&a, x, n, NULL, 0, C, L, K, n, T, n, 1) == ENTK_OK, "so3 kernel");
    entk_simd_set(ENTK_SIMD_SCALAR);
    CHECK(entk_so3_kernel(&a, x, n, NULL, 0, C, L, K0, n, T0, n, 1) == ENTK_OK, "so3 kernel, scalar");
    entk_simd_set(ENTK_SIMD_NEON);
    for (i = 0; i < n * n; ++i)
        CHECK(tu_rel(K[i], K0[i]) < 1e-13 && tu_rel(T[i], T0[i]) < 1e-13, "so3 neon vs scalar entry %zu: %.3g %.3g", i,
              tu_rel(K[i], K0[i]), tu_rel(T[i], T0[i]));
    CHECK(entk_so3_kernel(&a, xr, n, NULL, 0, C, L, K0, n, T0, n, 1) == ENTK_OK, "so3 kernel, rotated inputs");
    for (i = 0; i < n * n; ++i)
        CHECK(tu_rel(K[i], K0[i]) < 1e-11 && tu_rel(T[i], T0[i]) < 1e-10, "so3 invariance entry %zu: %.3g %.3g", i,
              tu_rel(K[i], K0[i]), tu_rel(T[i], T0[i]));
}
/* ==== [end: aarch64 checks so3] ==== */

int main(void) {
    printf("entk %s on %s (SLEEF %s)\n", ENTK_VERSION_STRING, entk_simd_name(), entk_sleef_version());
    CHECK(entk_simd_path() == ENTK_SIMD_NEON, "NEON path not selected: %s", entk_simd_name());
    if (entk_simd_path() == ENTK_SIMD_NEON) printf("NEON path selected\n");
    /* ==== [section: aarch64 main calls simd] ==== */
    check_neon_maps();
    check_neon_dots();
    check_neon_mlp();
    check_neon_atan2();
    check_neon_row_kernels();
    /* ==== [end: aarch64 main calls simd] ==== */


    /* ==== [section: aarch64 main calls linalg] ==== */
    check_linalg_cholesky();
    check_linalg_notpd_eigen();
    /* ==== [end: aarch64 main calls linalg] ==== */

    /* ==== [section: aarch64 main calls cn] ==== */
    check_cn_gram();
    check_cn_invariance();
    check_cn_window();
    check_cn_neon_rows();
    /* ==== [end: aarch64 main calls cn] ==== */
    check_so3();
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
