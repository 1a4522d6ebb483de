/* SIMD paths against the scalar oracle: nonlinearity maps (every tail, broadcast and strided variances,
 * with and without theta, in place) and the dot products of the MLP first layer. */
#include <criterion/criterion.h>
#include <stdio.h>
#include "testutil.h"

/* Every path and every map through one of testutil.h's checks against the scalar path, within the
 * map's budgets: mode 0 random inputs (tu_map_compare), 1 the same with extreme lanes mixed in, 2 the
 * edge cases (tu_map_edges). */
static void maps_on_every_path(int mode, const char *what) {
    entk_simd p[TU_MAX_PATHS];
    int np = tu_paths(p), i, k;
    for (i = 0; i < np; ++i)
        for (k = 0; k < TU_N_MAP_CASES; ++k) {
            const tu_map_case *mc = &tu_map_cases[k];
            double wt, wd;
            int fails = mode == 2 ? tu_map_edges(p[i], mc, &wt, &wd) : tu_map_compare_ex(p[i], mc, mode, &wt, &wd);
            fprintf(stderr, "%s path %d %-10s worst T %.3g Tdot %.3g (scaled ulps)\n", what, (int)p[i], mc->name, wt,
                    wd);
            cr_expect_eq(fails, 0, "%s path %d map %s: %d failures (worst T %.3g, Tdot %.3g; budgets %g, %g)", what,
                         (int)p[i], mc->name, fails, wt, wd, mc->budget_t, mc->budget_d);
        }
    entk_simd_set(ENTK_SIMD_SCALAR);
}

Test(simd_maps, every_path_matches_scalar_on_all_tails) { maps_on_every_path(0, "tails"); }

/* The same with about one lane in five scaled out of the map's fast range (tu_map_extreme: k11, k22
 * from 2^-1020 to 2^1020, 1e-300 next to 1e300): the blocks holding such a lane go to the scalar
 * kernel, in the pair loop, the single blocks and the padded tail; everything stays finite and within
 * the budgets. */
Test(simd_maps, extreme_lanes_mixed_in_match_scalar) { maps_on_every_path(1, "extreme"); }

Test(simd_maps, edge_cases_finite_and_match_scalar) { maps_on_every_path(2, "edges"); }

Test(simd_dots, every_path_matches_scalar_and_exact) {
    entk_simd p[TU_MAX_PATHS];
    int np = tu_paths(p), i;
    for (i = 0; i < np; ++i) {
        double worst;
        int fails = tu_dots_compare(p[i], &worst);
        fprintf(stderr, "path %d dots worst %.3g of the bound\n", (int)p[i], worst);
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
    if (entk_simd_set(ENTK_SIMD_AVX512) == ENTK_OK) {
        cr_expect(strstr(entk_simd_name(), "avx512") == entk_simd_name(), "%s", entk_simd_name());
        cr_expect(strstr(entk_simd_name(), buf) != NULL, "%s lacks '%s'", entk_simd_name(), buf);
    }
    entk_simd_set(ENTK_SIMD_SCALAR);
}

/* End to end: a deep MLP through every path gives the scalar path's kernels (maps run in place with a
 * broadcast k11, as the engine calls them; errors compound over layers, hence the relative bound). */
Test(simd_maps, mlp_kernels_agree_across_paths) {
    enum { N1 = 9, N2 = 6, D = 13 };
    double x1[N1 * D], x2[N2 * D], k0[N1 * N2], t0[N1 * N2], k1[N1 * N2], t1[N1 * N2];
    double s0[N1 * N1], s1[N1 * N1], u0[N1 * N1], u1[N1 * N1];
    entk_simd p[TU_MAX_PATHS];
    entk_arch arch;
    tu_rng r = {5};
    int np = tu_paths(p), i;
    cr_assert_eq(entk_arch_parse("dense(sw=1.4,sb=0.1) relu dense(sw=1.2) erf dense gelu dense leaky_relu(a=0.1) "
                                 "dense sin dense(sb=0.3)", &arch, NULL, 0), ENTK_OK);
    tu_fill_normal(&r, x1, N1 * D);
    tu_fill_normal(&r, x2, N2 * D);
    entk_simd_set(ENTK_SIMD_SCALAR);
    cr_assert_eq(entk_mlp_kernel(&arch, x1, N1, x2, N2, D, k0, N2, t0, N2, 1), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&arch, x1, N1, NULL, 0, D, s0, N1, u0, N1, 1), ENTK_OK);
    for (i = 1; i < np; ++i) {
        entk_simd_set(p[i]);
        cr_assert_eq(entk_mlp_kernel(&arch, x1, N1, x2, N2, D, k1, N2, t1, N2, 1), ENTK_OK);
        cr_assert_eq(entk_mlp_kernel(&arch, x1, N1, NULL, 0, D, s1, N1, u1, N1, 1), ENTK_OK);
        cr_expect(tu_rel_frob(k1, k0, N1 * N2) <= 1e-13, "path %d nngp %.3g", (int)p[i], tu_rel_frob(k1, k0, N1 * N2));
        cr_expect(tu_rel_frob(t1, t0, N1 * N2) <= 1e-13, "path %d ntk %.3g", (int)p[i], tu_rel_frob(t1, t0, N1 * N2));
        cr_expect(tu_rel_frob(s1, s0, N1 * N1) <= 1e-13, "path %d sym nngp", (int)p[i]);
        cr_expect(tu_rel_frob(u1, u0, N1 * N1) <= 1e-13, "path %d sym ntk", (int)p[i]);
        fprintf(stderr, "path %d mlp rel diff nngp %.3g ntk %.3g\n", (int)p[i], tu_rel_frob(k1, k0, N1 * N2),
                tu_rel_frob(t1, t0, N1 * N2));
    }
    entk_simd_set(ENTK_SIMD_SCALAR);
}
