/* SO(3) network kernels (entk_so3.h 1.5, 2.9): the compressed recursion's identities on band-limited
 * spherical inputs, the Gram driver's contracts (threads, diagonals, rectangular blocks), and the
 * molecular atom sums (permutations and absent atoms). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include "testutil.h"
#include "so3_oracle.h" /* so3o_inputs */

/* n band-limited inputs C x 2L x (2L - 1): random S^2 coefficients of degree < L (decaying), sampled on
 * the grid of band limit L; the coefficients go to a (n C L^2) when a is not NULL. */
static double *so3_inputs(tu_rng *r, size_t n, size_t C, int L, double *a) {
    double *x = so3o_inputs(r, n, C, L, 1.0, a);
    cr_assert(x != NULL);
    return x;
}

/* The inputs rotated by R(alpha, beta, gamma): coefficients turned by Delta, then sampled. */
static double *so3_rotated(const double *a, size_t n, size_t C, int L, double al, double be, double ga) {
    const size_t cell = (size_t)(2 * L) * (size_t)(2 * L - 1), q = (size_t)L * (size_t)L;
    double *x = tu_xalloc(n * C * cell), *d = tu_xalloc(entk_so3_packed_len(L)), *ar = tu_xalloc(q), *work;
    size_t wl, i;
    cr_assert_eq(entk_so3_sht_work_size(L, L, &wl), ENTK_OK);
    work = tu_xalloc(wl);
    cr_assert_eq(entk_so3_real_wigner(L, al, be, ga, d), ENTK_OK);
    for (i = 0; i < n * C; ++i) {
        cr_assert_eq(entk_so3_rotate_sh(L, d, a + i * q, ar), ENTK_OK);
        cr_assert_eq(entk_so3_isht(L, L, ar, x + i * cell, work), ENTK_OK);
    }
    free(d);
    free(ar);
    free(work);
    return x;
}

static double max_rel(const double *a, const double *b, size_t n) {
    double m = 0;
    size_t i;
    for (i = 0; i < n; ++i) {
        const double e = fabs(a[i] - b[i]) / fabs(b[i]);
        if (e > m) m = e;
    }
    return m;
}

/* Pooled kernels are invariant under rotating either input: to rounding for linear networks, and for
 * nonlinear ones up to the aliasing of the grid, which falls with B (erf: fast). */
Test(so3_net, pooled_kernels_invariant_under_rotations) {
    static const struct { const char *arch; double tol; } cases[] = {
        {"s2lift so3pool", 1e-13},
        {"s2lift(sb=0.3) so3conv(L=3,sw=1.2) so3pool dense", 1e-13},
        {"s2lift(B=8) erf so3conv(B=8) erf so3pool dense", 1e-11},
        /* (no relu after so3pool here: relu's Tdot has a square-root cusp at correlation 1, so the
         * diagonal pairs (x, R x) would turn 1e-16 of rounding into 1e-8 of Theta) */
        {"s2lift(B=16) erf so3conv(B=16) gelu so3pool dense erf dense", 1e-12},
        {"s2lift(B=16,sb=0.1) relu so3pool", 1e-7},
    };
    const size_t C = 2, n = 3;
    const int L = 4;
    tu_rng r = {7};
    double a[3 * 2 * 16], K[9], T[9], K2[9], T2[9];
    double *x = so3_inputs(&r, n, C, L, a);
    size_t i;
    int t;
    for (i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        entk_arch arch = tu_parse(cases[i].arch);
        cr_assert_eq(entk_so3_kernel(&arch, x, n, NULL, 0, C, L, K, n, T, n, 1), ENTK_OK, "%s", cases[i].arch);
        for (t = 0; t < 3; ++t) {
            double *xr = so3_rotated(a, n, C, L, 0.7 + 2 * t, 0.3 + t, 5.1 - t);
            cr_assert_eq(entk_so3_kernel(&arch, x, n, xr, n, C, L, K2, n, T2, n, 1), ENTK_OK);
            cr_expect_leq(max_rel(K2, K, 9), cases[i].tol, "%s: K changes by %g under a rotation of x2", cases[i].arch,
                          max_rel(K2, K, 9));
            cr_expect_leq(max_rel(T2, T, 9), 10 * cases[i].tol, "%s: Theta changes by %g", cases[i].arch,
                          max_rel(T2, T, 9));
            /* both inputs rotated (by the same or another rotation) */
            cr_assert_eq(entk_so3_kernel(&arch, xr, n, NULL, 0, C, L, K2, n, T2, n, 1), ENTK_OK);
            cr_expect_leq(max_rel(K2, K, 9), cases[i].tol, "%s", cases[i].arch);
            free(xr);
        }
    }
    free(x);
}

/* The first layer's closed form: K = sw^2 (1/(4 pi C)) sum_c a_c,00 a'_c,00 + sb^2 after so3pool
 * (only l = 0 survives the mean), and a one-layer network has NTK = NNGP. */
Test(so3_net, single_layer_closed_form_and_ntk_equals_nngp) {
    const size_t C = 3, n = 4;
    const int L = 3;
    tu_rng r = {11};
    double a[4 * 3 * 9], K[16], T[16];
    double *x = so3_inputs(&r, n, C, L, a);
    entk_arch arch = tu_parse("s2lift(sw=1.3,sb=0.4,B=5) so3pool");
    size_t i, j, c;
    cr_assert_eq(entk_so3_kernel(&arch, x, n, NULL, 0, C, L, K, n, T, n, 1), ENTK_OK);
    for (i = 0; i < n; ++i)
        for (j = 0; j < n; ++j) {
            double s = 0;
            for (c = 0; c < C; ++c) s += a[(i * C + c) * 9] * a[(j * C + c) * 9];
            cr_expect_float_eq(K[i * n + j], 1.69 * s / (4 * 3.14159265358979323846 * (double)C) + 0.16, 1e-13);
            cr_expect_eq(T[i * n + j], K[i * n + j]);
        }
    free(x);
}

/* Threads give the same bits, the diagonal function the Gram diagonal, a rectangular block the
 * symmetric Gram's entries. */
Test(so3_net, driver_contracts) {
    const size_t C = 2, n = 5;
    const int L = 3;
    tu_rng r = {3};
    double *x = so3_inputs(&r, n, C, L, NULL), K[25], T[25], K2[25], T2[25], kd[5], td[5], KR[10];
    entk_arch arch = tu_parse("s2lift(B=6) erf so3conv erf so3pool dense(sb=0.2) relu dense");
    size_t i, j;
    cr_assert_eq(entk_so3_kernel(&arch, x, n, NULL, 0, C, L, K, n, T, n, 1), ENTK_OK);
    cr_assert_eq(entk_so3_kernel(&arch, x, n, NULL, 0, C, L, K2, n, T2, n, 3), ENTK_OK);
    cr_expect(memcmp(K, K2, sizeof K) == 0 && memcmp(T, T2, sizeof T) == 0);
    cr_assert_eq(entk_so3_diag(&arch, x, n, C, L, kd, td, 2), ENTK_OK);
    for (i = 0; i < n; ++i) cr_expect(kd[i] == K[i * n + i] && td[i] == T[i * n + i], "diagonal %zu", i);
    cr_assert_eq(entk_so3_kernel(&arch, x + 3 * C * 30, 2, x, n, C, L, KR, n, NULL, 0, 2), ENTK_OK);
    /* the entries the symmetric Gram computes in the same order are the same bits; the mirrored ones
     * (pair (x', x) for (x, x')) sample kappa(S^-1) = kappa_{x'x}(S) on the grid, which is not closed
     * under inversion (alpha' = pi - gamma is off the odd grid): equal up to the aliasing of the
     * nonlinearities, 2e-11 at this arch's B = 6, 5 (1e-14 at B = 8) */
    for (i = 0; i < 2; ++i)
        for (j = 0; j < n; ++j) {
            if (j >= i + 3)
                cr_expect(KR[i * n + j] == K[(i + 3) * n + j], "block entry %zu %zu", i, j);
            else
                cr_expect_float_eq(KR[i * n + j], K[(i + 3) * n + j], 1e-10 * fabs(K[(i + 3) * n + j]), "%zu %zu: %.17g %.17g",
                                   i, j, KR[i * n + j], K[(i + 3) * n + j]);
        }
    for (i = 0; i < n; ++i)
        for (j = 0; j < n; ++j) cr_expect(K[i * n + j] == K[j * n + i]);
    free(x);
}

/* Molecules: the atom sum of the atom kernels over non-zero atoms, invariant (bit for bit) under
 * permuting atoms and under adding all-zero atoms, for SO(3) and MLP atom networks. */
Test(so3_net, molecule_atom_sums) {
    static const char *const archs[] = {"s2lift(B=6) erf so3conv erf so3pool dense atomsum",
                                        "dense(sb=0.1) relu dense relu dense atomsum"};
    const size_t C = 2, A = 3, n = 3, cell = 6 * 5;
    const int L = 3;
    tu_rng r = {5};
    double *atoms = so3_inputs(&r, n * A, C, L, NULL);
    double *mol = tu_xalloc(n * (A + 2) * C * cell), *perm = tu_xalloc(n * A * C * cell);
    double K[9], T[9], K2[9], T2[9], KA[81], TA[81];
    size_t i, j, k, a, b, v;
    /* molecule 2 has only 2 atoms: its third atom is absent (all zero) */
    memset(atoms + (2 * A + 2) * C * cell, 0, C * cell * sizeof *atoms);
    for (v = 0; v < 2; ++v) {
        entk_arch arch = tu_parse(archs[v]), atom = arch;
        atom.n_layers--;
        cr_assert_eq(entk_so3_molecule_kernel(&arch, atoms, n, A, NULL, 0, 0, C, 6, 5, K, n, T, n, 1), ENTK_OK, "%s",
                     archs[v]);
        /* against the atom kernels summed by hand */
        if (v == 0)
            cr_assert_eq(entk_so3_kernel(&atom, atoms, n * A, NULL, 0, C, L, KA, n * A, TA, n * A, 1), ENTK_OK);
        else
            cr_assert_eq(entk_mlp_kernel(&atom, atoms, n * A, NULL, 0, C * cell, KA, n * A, TA, n * A, 1), ENTK_OK);
        for (i = 0; i < n; ++i)
            for (j = 0; j < n; ++j) {
                double ks = 0, ts = 0;
                for (a = 0; a < A; ++a)
                    for (b = 0; b < A; ++b) {
                        if ((i == 2 && a == 2) || (j == 2 && b == 2)) continue;
                        ks += KA[(i * A + a) * n * A + j * A + b];
                        ts += TA[(i * A + a) * n * A + j * A + b];
                    }
                /* the atom Gram mirrors its lower triangle, the molecule Gram computes pair (a, b) for
                 * b < a of one molecule: equal up to the aliasing (see driver_contracts) */
                cr_expect_float_eq(K[i * n + j], ks, 1e-10 * fabs(ks), "%s (%zu, %zu): %.17g vs %.17g", archs[v], i, j, K[i * n + j], ks);
                cr_expect_float_eq(T[i * n + j], ts, 1e-10 * fabs(ts), "%s (%zu, %zu)", archs[v], i, j);
            }
        /* two more all-zero atoms at the front of every molecule */
        memset(mol, 0, n * (A + 2) * C * cell * sizeof *mol);
        for (i = 0; i < n; ++i) memcpy(mol + (i * (A + 2) + 2) * C * cell, atoms + i * A * C * cell, A * C * cell * 8);
        cr_assert_eq(entk_so3_molecule_kernel(&arch, mol, n, A + 2, NULL, 0, 0, C, 6, 5, K2, n, T2, n, 2), ENTK_OK);
        cr_expect(memcmp(K, K2, sizeof K) == 0 && memcmp(T, T2, sizeof T) == 0, "%s: zero atoms", archs[v]);
        /* atoms in reverse order, and rotated by one: the same bits (the atom sums run in a canonical
         * order of the atoms, entk.h entk__gram_entry) */
        for (k = 0; k < 2; ++k) {
            size_t q;
            for (i = 0; i < n; ++i)
                for (q = 0; q < A; ++q)
                    memcpy(perm + (i * A + q) * C * cell, atoms + (i * A + (k ? (q + 1) % A : A - 1 - q)) * C * cell,
                           C * cell * 8);
            cr_assert_eq(entk_so3_molecule_kernel(&arch, perm, n, A, NULL, 0, 0, C, 6, 5, K2, n, T2, n, 2), ENTK_OK);
            cr_expect(memcmp(K2, K, sizeof K) == 0 && memcmp(T2, T, sizeof T) == 0, "%s: permuted atoms (%zu)",
                      archs[v], k);
        }
        /* the diagonal */
        cr_assert_eq(entk_so3_molecule_diag(&arch, atoms, n, A, C, 6, 5, K2, T2, 2), ENTK_OK);
        for (i = 0; i < n; ++i) cr_expect(K2[i] == K[i * n + i] && T2[i] == T[i * n + i]);
    }
    free(atoms);
    free(mol);
    free(perm);
}

/* Bad arguments: statuses, and the shape check's reasons. */
Test(so3_net, errors) {
    entk_arch arch = tu_parse("s2lift erf so3pool");
    double x[2 * 30] = {0}, k[4];
    char err[256];
    cr_expect_eq(entk_so3_kernel(&arch, x, 2, NULL, 0, 1, 0, k, 2, NULL, 0, 1), ENTK_ERR_SHAPE);
    cr_expect_eq(entk_so3_kernel(&arch, x, 2, NULL, 0, 1, 65, k, 2, NULL, 0, 1), ENTK_ERR_SHAPE);
    cr_expect_eq(entk_so3_kernel(&arch, x, 2, NULL, 0, 0, 3, k, 2, NULL, 0, 1), ENTK_ERR_SHAPE);
    cr_expect_eq(entk_so3_kernel(&arch, NULL, 2, NULL, 0, 1, 3, k, 2, NULL, 0, 1), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_kernel(&arch, x, 2, NULL, 0, 1, 3, NULL, 2, NULL, 0, 1), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_kernel(&arch, x, 2, NULL, 0, 1, 3, k, 1, NULL, 0, 1), ENTK_ERR_INVALID_ARG);
    x[7] = NAN;
    cr_expect_eq(entk_so3_kernel(&arch, x, 2, NULL, 0, 1, 3, k, 2, NULL, 0, 1), ENTK_ERR_NONFINITE);
    x[7] = 1e200; /* K ~ x^2 overflows */
    cr_expect_eq(entk_so3_kernel(&arch, x, 2, NULL, 0, 1, 3, k, 2, NULL, 0, 1), ENTK_ERR_RANGE);
    x[7] = 0; /* all-zero inputs: the stated value, erf(0 variance) = 0 */
    cr_expect_eq(entk_so3_kernel(&arch, x, 2, NULL, 0, 1, 3, k, 2, NULL, 0, 1), ENTK_OK);
    cr_expect(k[0] == 0 && k[1] == 0 && k[3] == 0);
    arch = tu_parse("s2lift(L=4) erf so3pool");
    cr_expect_eq(entk_so3_check_shape(&arch, 1, 3, err, sizeof err), ENTK_ERR_SHAPE);
    cr_expect_str_eq(err, "layer 1 's2lift': L=4, but the inputs are sampled on the grid of band limit 3 (6 x 5)");
    arch = tu_parse("conv gap");
    cr_expect_eq(entk_so3_check_shape(&arch, 1, 3, err, sizeof err), ENTK_ERR_ARCH);
    cr_expect_str_eq(err, "layer 1 'conv': an SO(3) architecture starts with s2lift");
    arch = tu_parse("s2lift erf so3pool atomsum");
    cr_expect_eq(entk_so3_molecule_check_shape(&arch, 2, 1, 6, 6, err, sizeof err), ENTK_ERR_SHAPE);
    cr_expect_eq(entk_so3_molecule_check_shape(&arch, 0, 1, 6, 5, err, sizeof err), ENTK_ERR_SHAPE);
    cr_expect_eq(entk_so3_molecule_check_shape(&arch, 2, 1, 6, 5, err, sizeof err), ENTK_OK);
}

/* The invariance error under a rotation of the second input, against the band limit B of the grids the
 * nonlinearities are evaluated on (band-limited inputs, L = 4): it must fall with B and be <= 1e-6 at
 * the largest B tried. Printed as a table (README.md quotes it). */
Test(so3_net, invariance_error_falls_with_the_grid) {
    static const struct { const char *fmt; int B[5]; } cases[] = {
        {"s2lift(B=%d) erf so3conv(B=%d) erf so3pool", {4, 5, 6, 8, 0}},
        {"s2lift(B=%d) relu so3conv(B=%d) relu so3pool", {4, 8, 12, 16, 24}},
    };
    const size_t C = 2, n = 3;
    const int L = 4;
    tu_rng r = {17};
    double a[3 * 2 * 16], K[9], T[9], K2[9], T2[9];
    double *x = so3_inputs(&r, n, C, L, a), *xr = so3_rotated(a, n, C, L, 1.9, 0.8, 4.4);
    size_t i, b;
    for (i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        double prev = INFINITY, e = 0;
        for (b = 0; b < 5 && cases[i].B[b]; ++b) {
            char text[128];
            entk_arch arch;
            snprintf(text, sizeof text, cases[i].fmt, cases[i].B[b], cases[i].B[b]);
            arch = tu_parse(text);
            cr_assert_eq(entk_so3_kernel(&arch, x, n, NULL, 0, C, L, K, n, T, n, 1), ENTK_OK);
            cr_assert_eq(entk_so3_kernel(&arch, x, n, xr, n, C, L, K2, n, T2, n, 1), ENTK_OK);
            e = fmax(max_rel(K2, K, 9), max_rel(T2, T, 9));
            fprintf(stderr, "invariance %-44s B = %2d: %.2g\n", text, cases[i].B[b], e);
            cr_expect_lt(e, prev, "%s: the error must fall with B", text);
            prev = e;
        }
        cr_expect_leq(e, 1e-6, "%s at the largest B: %.3g", cases[i].fmt, e);
    }
    free(x);
    free(xr);
}
