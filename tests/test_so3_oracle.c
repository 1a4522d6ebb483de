/* The brute-force SO(3) x SO(3) oracle (tests/so3_oracle.h) against itself and against entk_so3.h's
 * compressed recursion (2.9): the oracle's tools (Euler angles, the factored so3conv against its
 * literal sum), the compression identity K(R Q, R' Q) = K(R, R') at arbitrary rotations, exact
 * agreement wherever both are exact (linear networks; a quadratic nonlinearity on grids fine enough for
 * its products), and for erf, relu and gelu the convergence of both to the same B -> infinity limit. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include "testutil.h"
#include "so3_oracle.h"

/* band-limited inputs (tests/so3_oracle.h), asserted */
static double *inputs(tu_rng *r, size_t n, size_t C, int L) {
    double *x = so3o_inputs(r, n, C, L, 0.5, NULL);
    cr_assert(x != NULL);
    return x;
}

/* n random rotations (Haar: beta = acos of a uniform cosine) as Euler angles, n x 3 */
static void random_rotations(tu_rng *r, size_t n, double *abg) {
    size_t i;
    for (i = 0; i < n; ++i) {
        abg[3 * i] = 2 * SO3O_PI * tu_unif(r);
        abg[3 * i + 1] = acos(2 * tu_unif(r) - 1);
        abg[3 * i + 2] = 2 * SO3O_PI * tu_unif(r);
    }
}

/* The Euler angles of the grid of band limit B in so3o_pts_grid's order. */
static double *grid_angles(int B) {
    const size_t nb = (size_t)(2 * B), na = (size_t)(2 * B - 1);
    double *abg = tu_xalloc(3 * nb * na * na), beta[2 * SO3O_MAX_B], alpha[2 * SO3O_MAX_B];
    size_t j, k, l, i = 0;
    cr_assert_eq(entk_so3_so3_nodes(B, beta, alpha), ENTK_OK);
    for (j = 0; j < nb; ++j)
        for (k = 0; k < na; ++k)
            for (l = 0; l < na; ++l, ++i) {
                abg[3 * i] = alpha[k];
                abg[3 * i + 1] = beta[j];
                abg[3 * i + 2] = alpha[l];
            }
    return abg;
}

/* The oracle's n x n Gram matrices (every pair i < j by one so3o_kernel call, which also gives both
 * diagonals). */
static void oracle_gram(const entk_arch *arch, const double *x, size_t n, size_t C, int L, double *K, double *T) {
    const size_t cell = C * (size_t)(2 * L) * (size_t)(2 * L - 1);
    double o[6];
    size_t i, j;
    for (i = 0; i < n; ++i)
        for (j = i + 1; j < n; ++j) {
            entk_status st = so3o_kernel(arch, C, L, x + i * cell, x + j * cell, o);
            cr_assert_eq(st, ENTK_OK, "so3o_kernel: %s", entk_status_string(st));
            K[i * n + i] = o[0]; T[i * n + i] = o[1];
            K[j * n + j] = o[2]; T[j * n + j] = o[3];
            K[i * n + j] = K[j * n + i] = o[4];
            T[i * n + j] = T[j * n + i] = o[5];
        }
}

static double max_rel(const double *a, const double *b, size_t n) {
    double m = 0;
    size_t i;
    for (i = 0; i < n; ++i) {
        const double e = fabs(a[i] - b[i]) / fabs(b[i]);
        if (!(e <= m)) m = e; /* NaN wins */
    }
    return m;
}

/* The oracle's own tools: Euler angles of 3 x 3 products, and real_wigner's homomorphism through them. */
Test(so3_oracle, euler_angles_and_products) {
    tu_rng r = {21};
    double abg[3 * 40], M1[9], M2[9], M12[9], M3[9], e[3];
    double *d1 = tu_xalloc(84), *d2 = tu_xalloc(84), *d12 = tu_xalloc(84);
    size_t i;
    int l, a, b, c, k;
    random_rotations(&r, 40, abg);
    abg[3 * 38 + 1] = 0; /* the degenerate cases beta = 0, pi */
    abg[3 * 39 + 1] = SO3O_PI;
    for (i = 0; i + 1 < 40; ++i) {
        so3o_rotmat(abg[3 * i], abg[3 * i + 1], abg[3 * i + 2], M1);
        so3o_euler(M1, e);
        so3o_rotmat(e[0], e[1], e[2], M3);
        for (k = 0; k < 9; ++k) cr_expect(fabs(M3[k] - M1[k]) < 1e-14, "round trip %zu entry %d", i, k);
        so3o_rotmat(abg[3 * i + 3], abg[3 * i + 4], abg[3 * i + 5], M2);
        so3o_matmul(M1, M2, M12);
        so3o_euler(M12, e);
        cr_assert_eq(entk_so3_real_wigner(4, abg[3 * i], abg[3 * i + 1], abg[3 * i + 2], d1), ENTK_OK);
        cr_assert_eq(entk_so3_real_wigner(4, abg[3 * i + 3], abg[3 * i + 4], abg[3 * i + 5], d2), ENTK_OK);
        cr_assert_eq(entk_so3_real_wigner(4, e[0], e[1], e[2], d12), ENTK_OK);
        for (l = 0; l < 4; ++l) {
            const int w = 2 * l + 1, off = l * (4 * l * l - 1) / 3;
            for (a = 0; a < w; ++a)
                for (b = 0; b < w; ++b) {
                    double s = 0;
                    for (c = 0; c < w; ++c) s += d1[off + a * w + c] * d2[off + c * w + b];
                    cr_expect(fabs(s - d12[off + a * w + b]) < 1e-13, "Delta(R1 R2) = Delta(R1) Delta(R2): %zu l=%d", i,
                              l);
                }
        }
    }
    free(d1);
    free(d2);
    free(d12);
}

/* so3o_conv's factored form against the literal sum over (h, h') with Delta(R^-1 h) from the 3 x 3
 * product R^T H, for an arbitrary (not invariant, not symmetric) tau on the grid of band limit 3 and
 * output points at random rotations. */
Test(so3_oracle, conv_factoring_equals_literal_sum) {
    const int B = 3, L = 3, plen = 35;
    const size_t n1 = 5, n2 = 4;
    const double sw = 1.3, sb = 0.4, v = 8 * SO3O_PI * SO3O_PI;
    tu_rng r = {5};
    double *gabg = grid_angles(B), r1[3 * 5], r2[3 * 4], R[9], H[9], M[9], e[3];
    so3o_pts grid, p1, p2;
    size_t G, i, j, h, hp;
    double *tau, *D1, *D2, K[20], worst = 0, scale = 0;
    int l, k;
    cr_assert_eq(so3o_pts_grid(&grid, B, B), ENTK_OK);
    G = grid.n;
    tau = tu_normal_alloc(G * G, 77);
    random_rotations(&r, n1, r1);
    random_rotations(&r, n2, r2);
    cr_assert_eq(so3o_pts_euler(&p1, n1, r1, L), ENTK_OK);
    cr_assert_eq(so3o_pts_euler(&p2, n2, r2, L), ENTK_OK);
    cr_assert_eq(so3o_conv(&grid, tau, L, sw, sb, &p1, &p2, K), ENTK_OK);
    /* Delta(R^-1 h) for every output point and grid point */
    D1 = tu_xalloc(n1 * G * plen);
    D2 = tu_xalloc(n2 * G * plen);
    for (i = 0; i < n1 + n2; ++i) {
        const double *ang = i < n1 ? r1 + 3 * i : r2 + 3 * (i - n1);
        double *D = i < n1 ? D1 + i * G * plen : D2 + (i - n1) * G * plen;
        so3o_rotmat(ang[0], ang[1], ang[2], R);
        for (h = 0; h < G; ++h) {
            so3o_rotmat(gabg[3 * h], gabg[3 * h + 1], gabg[3 * h + 2], H);
            so3o_matmul_tn(R, H, M);
            so3o_euler(M, e);
            cr_assert_eq(entk_so3_real_wigner(L, e[0], e[1], e[2], D + h * plen), ENTK_OK);
        }
    }
    for (i = 0; i < n1; ++i)
        for (j = 0; j < n2; ++j) {
            double s = 0;
            for (h = 0; h < G; ++h)
                for (hp = 0; hp < G; ++hp) {
                    const double *a = D1 + (i * G + h) * plen, *b = D2 + (j * G + hp) * plen;
                    double f = 0;
                    for (l = 0; l < L; ++l) {
                        const int w = 2 * l + 1, off = l * (4 * l * l - 1) / 3;
                        double c = 0;
                        for (k = 0; k < w * w; ++k) c += a[off + k] * b[off + k];
                        f += (double)w / v * c;
                    }
                    s += grid.w[h] * grid.w[hp] * tau[h * G + hp] * f;
                }
            s = sw * sw * s / v + sb * sb;
            if (fabs(K[i * n2 + j] - s) > worst) worst = fabs(K[i * n2 + j] - s);
            if (fabs(s) > scale) scale = fabs(s);
        }
    cr_log_info("so3o_conv vs the literal sum: max |difference| %.3g (largest |K| %.3g)", worst, scale);
    cr_expect_leq(worst, 1e-12 * scale, "factored vs literal: %g", worst);
    so3o_pts_free(&grid);
    so3o_pts_free(&p1);
    so3o_pts_free(&p2);
    free(gabg);
    free(tau);
    free(D1);
    free(D2);
}

/* The compression identity K(R Q, R' Q) = K(R, R') on the oracle, at arbitrary rotations: for the lift
 * kernel, and for an so3conv kernel of an erf of the lift kernel on the grid of band limit 4. */
Test(so3_oracle, compression_identity_at_arbitrary_rotations) {
    const size_t C = 2, n = 12;
    const int L = 3, B = 4;
    tu_rng r = {9};
    double *x = inputs(&r, 2, C, L), a1[18], a2[18], r1[36], r2[36], rq1[36], rq2[36], Q[9], M[9], MQ[9], q[3];
    double K[144], KQ[144], worst = 0, worst_conv = 0, scale = 0, scale_conv = 0;
    so3o_pts p1, p2, pq1, pq2, grid;
    entk_nonlin erf_nl;
    double *tau, *d1, *d2;
    size_t i, G;
    cr_assert_eq(so3o_s2_coef(L, L, C, x, a1), ENTK_OK);
    cr_assert_eq(so3o_s2_coef(L, L, C, x + C * 30, a2), ENTK_OK);
    random_rotations(&r, n, r1);
    random_rotations(&r, n, r2);
    random_rotations(&r, 1, q);
    so3o_rotmat(q[0], q[1], q[2], Q);
    for (i = 0; i < 2 * n; ++i) {
        const double *src = i < n ? r1 + 3 * i : r2 + 3 * (i - n);
        so3o_rotmat(src[0], src[1], src[2], M);
        so3o_matmul(M, Q, MQ);
        so3o_euler(MQ, i < n ? rq1 + 3 * i : rq2 + 3 * (i - n));
    }
    cr_assert_eq(so3o_pts_euler(&p1, n, r1, B), ENTK_OK);
    cr_assert_eq(so3o_pts_euler(&p2, n, r2, B), ENTK_OK);
    cr_assert_eq(so3o_pts_euler(&pq1, n, rq1, B), ENTK_OK);
    cr_assert_eq(so3o_pts_euler(&pq2, n, rq2, B), ENTK_OK);
    cr_assert_eq(so3o_lift(&p1, &p2, C, L, a1, a2, 1.2, 0.3, K), ENTK_OK);
    cr_assert_eq(so3o_lift(&pq1, &pq2, C, L, a1, a2, 1.2, 0.3, KQ), ENTK_OK);
    for (i = 0; i < n * n; ++i) {
        worst = fmax(worst, fabs(KQ[i] - K[i]));
        scale = fmax(scale, fabs(K[i]));
    }
    /* tau = erf of the lift kernels on the grid (the diagonals from the (x, x) and (x', x') kernels) */
    cr_assert_eq(so3o_pts_grid(&grid, B, B), ENTK_OK);
    G = grid.n;
    tau = tu_xalloc(G * G);
    d1 = tu_xalloc(G * G);
    d2 = tu_xalloc(G * G);
    cr_assert_eq(so3o_lift(&grid, &grid, C, L, a1, a1, 1.0, 0.0, d1), ENTK_OK);
    cr_assert_eq(so3o_lift(&grid, &grid, C, L, a2, a2, 1.0, 0.0, d2), ENTK_OK);
    for (i = 0; i < G; ++i) {
        d1[i] = d1[i * G + i];
        d2[i] = d2[i * G + i];
    }
    cr_assert_eq(so3o_lift(&grid, &grid, C, L, a1, a2, 1.0, 0.0, tau), ENTK_OK);
    memset(&erf_nl, 0, sizeof erf_nl);
    erf_nl.kind = ENTK_NL_ERF;
    cr_assert_eq(so3o_nonlin(&erf_nl, G, G, d1, d2, tau, NULL), ENTK_OK);
    cr_assert_eq(so3o_conv(&grid, tau, B, 1.1, 0.2, &p1, &p2, K), ENTK_OK);
    cr_assert_eq(so3o_conv(&grid, tau, B, 1.1, 0.2, &pq1, &pq2, KQ), ENTK_OK);
    for (i = 0; i < n * n; ++i) {
        worst_conv = fmax(worst_conv, fabs(KQ[i] - K[i]));
        scale_conv = fmax(scale_conv, fabs(K[i]));
    }
    cr_log_info("K(RQ, R'Q) - K(R, R'): lift %.3g (|K| <= %.3g), so3conv after erf %.3g (|K| <= %.3g)", worst, scale,
                worst_conv, scale_conv);
    cr_expect_leq(worst, 1e-12 * scale);
    cr_expect_leq(worst_conv, 1e-12 * scale_conv);
    so3o_pts_free(&p1);
    so3o_pts_free(&p2);
    so3o_pts_free(&pq1);
    so3o_pts_free(&pq2);
    so3o_pts_free(&grid);
    free(tau);
    free(d1);
    free(d2);
    free(x);
}

/* phi(x) = x^2 + x/2: T and Tdot are polynomials of degree 2 and 1 in k12, so with band-limited
 * kernels of degree < Lout the mapped kernel has degree < 2 Lout - 1 and both recursions are exact on
 * grids with 2B > (that degree) + (the next layer's L - 1). */
static double quad_phi(double x, void *u) { (void)u; return x * x + 0.5 * x; }
static double quad_dphi(double x, void *u) { (void)u; return 2 * x + 0.5; }
static double quad2_phi(double x, void *u) { (void)u; return x * x - 0.3 * x; }
static double quad2_dphi(double x, void *u) { (void)u; return 2 * x - 0.3; }

/* Linear networks, and networks whose nonlinearity keeps the kernels band-limited within the grids:
 * the oracle equals entk_so3_kernel to 1e-10 relative, K and Theta. */
Test(so3_oracle, exact_networks_equal_the_compressed_recursion) {
    static const char *const archs[] = {
        "s2lift(B=4) so3pool",
        "s2lift(sw=1.3,sb=0.2,B=4) so3conv(L=3,B=4,sw=0.8,sb=0.5) so3pool dense(sw=1.1,sb=0.3)",
        "s2lift(Lout=2,B=3,sb=0.1) so3conv(L=2,B=3,sw=1.2) so3conv(L=2,B=4,sb=0.3) so3pool dense",
        "s2lift(B=4,sw=0.9) identity so3conv(L=3,B=4,sb=0.2) identity so3pool dense relu dense",
        /* the quadratic map (set below at every 'identity' of this one): lift degree <= 2, mapped <= 4,
         * so3conv L = 3 on B = 4: 4 + 2 < 8; pooled second map: 4 < 8 */
        "s2lift(B=4,sw=0.9) identity so3conv(L=3,B=4,sb=0.2) identity so3pool dense(sb=0.1) erf dense",
        /* two different maps in a row (sin stands for x^2 - 0.3 x): the diagonal entering the second is
         * the first's T of the diagonal; degrees 1 -> 2 -> 4 < 6 */
        "s2lift(Lout=2,B=3) identity sin so3pool dense",
        "s2lift(Lout=2,B=3,sb=0.3) so3conv(L=2,B=3) sin identity so3pool dense",
        /* so3conv truncating (L = 2 after Lout = 3) before a map; a coarser grid after a finer one; two
         * so3convs between maps and a map in the scalar tail */
        "s2lift(B=4) so3conv(L=2,B=4) identity so3pool dense",
        "s2lift(Lout=2,B=4) identity so3conv(L=2,B=2) sin so3pool dense",
        "s2lift(Lout=2,B=3) identity so3conv(L=2,B=3) sin so3conv(L=2,B=3,sw=0.7,sb=0.4) identity so3pool dense(sb=0.2) "
        "sin dense",
    };
    const size_t C = 2, n = 2; /* one oracle call: both diagonals and the pair */
    const int L = 3;
    tu_rng r = {13};
    double *x = inputs(&r, n, C, L), K[4], T[4], KO[4], TO[4];
    size_t i;
    int l;
    for (i = 0; i < sizeof archs / sizeof archs[0]; ++i) {
        entk_arch arch = tu_parse(archs[i]);
        double ek, et;
        if (i >= 4)
            for (l = 0; l < arch.n_layers; ++l) {
                entk_nonlin *nl = &arch.layer[l].nl;
                if (arch.layer[l].kind != ENTK_LAYER_NONLIN) continue;
                if (nl->kind == ENTK_NL_IDENTITY) {
                    nl->phi = quad_phi;
                    nl->dphi = quad_dphi;
                } else if (nl->kind == ENTK_NL_SIN) {
                    nl->phi = quad2_phi;
                    nl->dphi = quad2_dphi;
                }
                if (nl->phi) {
                    nl->kind = ENTK_NL_CUSTOM;
                    nl->order = 12;
                }
            }
        cr_assert_eq(entk_so3_kernel(&arch, x, n, NULL, 0, C, L, K, n, T, n, 1), ENTK_OK, "%s", archs[i]);
        oracle_gram(&arch, x, n, C, L, KO, TO);
        ek = max_rel(KO, K, n * n);
        et = max_rel(TO, T, n * n);
        cr_log_info("%-90s oracle vs compressed: K %.2e, Theta %.2e (relative)", archs[i], ek, et);
        cr_expect_leq(ek, 1e-10, "%s: K differs by %g", archs[i], ek);
        cr_expect_leq(et, 1e-10, "%s: Theta differs by %g", archs[i], et);
    }
    free(x);
}

/* A single layer with weights has NTK = NNGP on the oracle too (bit for bit: Theta_1 = K_1 is copied). */
Test(so3_oracle, single_layer_ntk_equals_nngp) {
    static const char *const archs[] = {"s2lift(sw=1.3,sb=0.4,B=3) so3pool", "s2lift(Lout=2,B=5) so3pool"};
    const size_t C = 3;
    const int L = 3;
    tu_rng r = {17};
    double *x = inputs(&r, 2, C, L), o[6];
    size_t i;
    for (i = 0; i < 2; ++i) {
        entk_arch arch = tu_parse(archs[i]);
        cr_assert_eq(so3o_kernel(&arch, C, L, x, x + C * 30, o), ENTK_OK);
        cr_expect(o[1] == o[0] && o[3] == o[2] && o[5] == o[4], "%s: %.17g %.17g / %.17g %.17g / %.17g %.17g", archs[i],
                  o[0], o[1], o[2], o[3], o[4], o[5]);
    }
    free(x);
}

/* Nonlinear networks: the oracle (double quadrature over grid pairs) and the compressed recursion
 * (one quadrature over S = R R'^-1) alias differently, but both converge to the same B -> infinity
 * limit, here entk_so3_kernel at B = 24 (itself checked against B = 32). The error of each, the
 * largest relative error over the three kernel values of a pair (K and Theta), falls with B. */
Test(so3_oracle, nonlinear_networks_converge_to_the_same_limit, .timeout = 120) {
    static const char *const nls[] = {"erf", "gelu", "relu"};
    const size_t C = 2;
    const int L = 3, Bs[3] = {3, 4, 5};
    tu_rng r = {29};
    double *x = inputs(&r, 2, C, L), lim[2][4], lim2[2][4], o[6], K[4], T[4];
    char text[200];
    size_t i, b;
    for (i = 0; i < 3; ++i) {
        double eo[3], ec[3], eot[3], ect[3], drift = 0;
        entk_arch arch;
        /* the limit: x1, x2 as a 2 x 2 Gram matrix */
        snprintf(text, sizeof text, "s2lift(B=24) %s so3conv(L=3,B=24) %s so3pool dense(sb=0.2)", nls[i], nls[i]);
        arch = tu_parse(text);
        cr_assert_eq(entk_so3_kernel(&arch, x, 2, NULL, 0, C, L, lim[0], 2, lim[1], 2, 1), ENTK_OK);
        snprintf(text, sizeof text, "s2lift(B=32) %s so3conv(L=3,B=32) %s so3pool dense(sb=0.2)", nls[i], nls[i]);
        arch = tu_parse(text);
        cr_assert_eq(entk_so3_kernel(&arch, x, 2, NULL, 0, C, L, lim2[0], 2, lim2[1], 2, 1), ENTK_OK);
        drift = fmax(max_rel(lim2[0], lim[0], 4), max_rel(lim2[1], lim[1], 4));
        fprintf(stderr, "so3 oracle B-convergence, %s: limit K = (%.10f, %.10f, %.10f), |B=32 - B=24| %.2e\n", nls[i],
                lim[0][0], lim[0][3], lim[0][1], drift);
        fprintf(stderr, "   B   |oracle-lim| K  |compr-lim| K   |oracle-lim| Th |compr-lim| Th\n");
        for (b = 0; b < 3; ++b) {
            double ko[4], to[4];
            snprintf(text, sizeof text, "s2lift(B=%d) %s so3conv(L=3,B=%d) %s so3pool dense(sb=0.2)", Bs[b], nls[i], Bs[b],
                     nls[i]);
            arch = tu_parse(text);
            cr_assert_eq(so3o_kernel(&arch, C, L, x, x + C * 30, o), ENTK_OK);
            ko[0] = o[0]; ko[3] = o[2]; ko[1] = ko[2] = o[4];
            to[0] = o[1]; to[3] = o[3]; to[1] = to[2] = o[5];
            cr_assert_eq(entk_so3_kernel(&arch, x, 2, NULL, 0, C, L, K, 2, T, 2, 1), ENTK_OK);
            eo[b] = max_rel(ko, lim[0], 4);
            eot[b] = max_rel(to, lim[1], 4);
            ec[b] = max_rel(K, lim[0], 4);
            ect[b] = max_rel(T, lim[1], 4);
            fprintf(stderr, "  %2d   %.3e      %.3e      %.3e      %.3e\n", Bs[b], eo[b], ec[b], eot[b], ect[b]);
        }
        cr_expect_lt(drift, 0.01 * fmin(eo[2], ec[2]), "%s: the limit itself moves by %g", nls[i], drift);
        for (b = 1; b < 3; ++b) {
            cr_expect_lt(eo[b], eo[b - 1], "%s: the oracle's K error does not fall from B=%d to B=%d", nls[i], Bs[b - 1],
                         Bs[b]);
            cr_expect_lt(eot[b], eot[b - 1], "%s: the oracle's Theta error does not fall", nls[i]);
            cr_expect_lt(ec[b], ec[b - 1], "%s: the compressed K error does not fall", nls[i]);
            cr_expect_lt(ect[b], ect[b - 1], "%s: the compressed Theta error does not fall", nls[i]);
        }
    }
    free(x);
}
