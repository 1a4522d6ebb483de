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
 * and the edge cases, with the budgets of tests/test_simd.c. */
static void check_neon_maps(void) {
    int k;
    for (k = 0; k < TU_N_MAP_CASES; ++k) {
        double wt, wd, et, ed;
        int f1 = tu_map_compare(ENTK_SIMD_NEON, &tu_map_cases[k], &wt, &wd);
        int f2 = tu_map_edges(ENTK_SIMD_NEON, &tu_map_cases[k], &et, &ed);
        printf("neon %-10s worst T %.3g Tdot %.3g, edges %.3g %.3g (scaled ulps)\n", tu_map_cases[k].name, wt,
               wd, et, ed);
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

/* ==== [end: aarch64 checks simd] ============================================================= */



/* ==== [section: aarch64 checks linalg] ======================================================= */

/* ==== [end: aarch64 checks linalg] =========================================================== */

int main(void) {
    printf("entk %s on %s (SLEEF %s)\n", ENTK_VERSION_STRING, entk_simd_name(), entk_sleef_version());
    CHECK(entk_simd_path() == ENTK_SIMD_NEON, "NEON path not selected: %s", entk_simd_name());
    if (entk_simd_path() == ENTK_SIMD_NEON) printf("NEON path selected\n");
    /* ==== [section: aarch64 main calls simd] ==== */
    check_neon_maps();
    check_neon_dots();
    check_neon_mlp();
    /* ==== [end: aarch64 main calls simd] ==== */


    /* ==== [section: aarch64 main calls linalg] ==== */
    /* ==== [end: aarch64 main calls linalg] ==== */
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
