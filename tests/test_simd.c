/* SIMD paths against the scalar oracle: nonlinearity maps (every tail, broadcast and strided variances,
 * with and without theta, in place) and the dot products of the MLP first layer. */
#include <criterion/criterion.h>
#include <stdio.h>
#include "testutil.h"

/* every path this build and CPU can run; the scalar path always */
static int paths(entk_simd *p) {
    int n = 0;
    p[n++] = ENTK_SIMD_SCALAR;
    if (entk_simd_set(ENTK_SIMD_AVX2) == ENTK_OK) p[n++] = ENTK_SIMD_AVX2;
    if (entk_simd_set(ENTK_SIMD_NEON) == ENTK_OK) p[n++] = ENTK_SIMD_NEON;
    entk_simd_set(ENTK_SIMD_SCALAR);
    return n;
}

Test(simd_maps, every_path_matches_scalar_on_all_tails) {
    entk_simd p[3];
    int np = paths(p), i, k;
    for (i = 0; i < np; ++i)
        for (k = 0; k < TU_N_MAP_CASES; ++k) {
            double wt, wd;
            int fails = tu_map_compare(p[i], &tu_map_cases[k], &wt, &wd);
            fprintf(stderr, "path %d %-10s worst T %.3g Tdot %.3g (scaled ulps)\n", (int)p[i], tu_map_cases[k].name, wt, wd);
            cr_expect_eq(fails, 0, "path %d map %s: %d failures (worst T %.3g, Tdot %.3g; budgets %g, %g)",
                         (int)p[i], tu_map_cases[k].name, fails, wt, wd, tu_map_cases[k].budget_t,
                         tu_map_cases[k].budget_d);
        }
    entk_simd_set(ENTK_SIMD_SCALAR);
}

Test(simd_maps, edge_cases_finite_and_match_scalar) {
    entk_simd p[3];
    int np = paths(p), i, k;
    for (i = 0; i < np; ++i)
        for (k = 0; k < TU_N_MAP_CASES; ++k) {
            double wt, wd;
            int fails = tu_map_edges(p[i], &tu_map_cases[k], &wt, &wd);
            fprintf(stderr, "edges path %d %-10s worst T %.3g Tdot %.3g (scaled ulps)\n", (int)p[i], tu_map_cases[k].name, wt, wd);
            cr_expect_eq(fails, 0, "path %d map %s: %d edge failures (worst T %.3g, Tdot %.3g)", (int)p[i],
                         tu_map_cases[k].name, fails, wt, wd);
        }
    entk_simd_set(ENTK_SIMD_SCALAR);
}

Test(simd_dots, every_path_matches_scalar_and_exact) {
    entk_simd p[3];
    int np = paths(p), i;
    for (i = 0; i < np; ++i) {
        double worst;
        int fails = tu_dots_compare(p[i], &worst);
        cr_expect_eq(fails, 0, "path %d dots: %d failures (worst %.3g of the bound)", (int)p[i], fails, worst);
    }
    entk_simd_set(ENTK_SIMD_SCALAR);
}

/* The reported path and SLEEF version say what runs: the version from sleef.h's macros, "none" and a
 * "no SLEEF" path name without SLEEF (whose maps are then the scalar ones, bit for bit). */
#ifndef ENTK_NO_SLEEF
#include <sleef.h>
#endif
Test(simd_info, names_and_versions_are_honest) {
    char buf[64];
    cr_assert_eq(entk_simd_set(ENTK_SIMD_SCALAR), ENTK_OK);
    cr_expect_str_eq(entk_simd_name(), "scalar");
#ifdef ENTK_NO_SLEEF
    cr_expect_str_eq(entk_sleef_version(), "none");
    snprintf(buf, sizeof buf, "%s", "no SLEEF");
#else
    snprintf(buf, sizeof buf, "%d.%d.%d", SLEEF_VERSION_MAJOR, SLEEF_VERSION_MINOR, SLEEF_VERSION_PATCHLEVEL);
    cr_expect_str_eq(entk_sleef_version(), buf);
    snprintf(buf, sizeof buf, "%s", "+sleef");
#endif
    if (entk_simd_set(ENTK_SIMD_AVX2) == ENTK_OK) {
        cr_expect(strstr(entk_simd_name(), "avx2") == entk_simd_name(), "%s", entk_simd_name());
        cr_expect(strstr(entk_simd_name(), buf) != NULL, "%s lacks '%s'", entk_simd_name(), buf);
    }
    entk_simd_set(ENTK_SIMD_SCALAR);
}
