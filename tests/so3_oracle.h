/* so3_oracle.h - the brute-force SO(3) x SO(3) recursion of entk's SO(3) networks (docs/conventions.md
 * §1.5), for the tests and benchmarks: slow, plain and independent of the compressed recursion of
 * entk_so3.h 2.9. It is not part of the library. Header-only, all functions static; every allocation
 * is checked (ENTK_ERR_NOMEM), nothing prints.
 *
 * Every kernel is kept as the full matrix K(R_i, R'_j) over pairs of points of SO(3) (Driscoll-Healy
 * grid points, or any rotations given by Euler angles), for the pairs (x, x), (x', x') and (x, x'),
 * exactly as the uncompressed recursion reads (entk's compressed form assumes K(R Q, R' Q) = K(R, R');
 * this file never does):
 *   s2lift   K(R, R') = sw^2/(4 pi C) sum_c sum_{l<Lout} sum_m v_c(R)_lm v'_c(R')_lm + sb^2,
 *            v_c(R)_lm = integral Y_lm(R^-1 y) x_c(y) dy = sum_n Delta^l_nm(R) a_c,ln, with the input's
 *            S^2 coefficients a_c,ln by an explicit Driscoll-Healy quadrature (entk_so3_real_sh at
 *            every node); Theta = K;
 *   phi      K_phi(R, R') = T(K_xx(R, R), K_x'x'(R', R'), K(R, R')), Theta_phi = Tdot Theta, with the
 *            diagonals read off the (x, x) and (x', x') matrices at every point (entk_nonlin_map);
 *   so3conv  K'(R, R') = sw^2/(8 pi^2) sum_{h,h'} W_h W_h' sum_{l<L} (2l+1)/(8 pi^2)
 *                        sum_{m,n} Delta^l_mn(R^-1 h) Delta^l_mn(R'^-1 h') tau(h, h') + sb^2
 *            (the filter covariance E[psi(g) psi(g')] = sum_l (2l+1)/(8 pi^2) sum_mn Delta_mn(g)
 *            Delta_mn(g')), quadrature over the grid before (W from entk_so3_so3_weights), evaluated
 *            at the new points; Theta' = K' + the same operator (without sb) on Tdot-times-Theta;
 *   so3pool  (1/(8 pi^2))^2 sum_{R,R'} W_R W_R' K(R, R'), then entk_scalar_chain.
 * The so3conv sum is factored with Delta(R^-1 h) = Delta(R)^T Delta(h) (the real Wigner matrices are
 * a real orthogonal representation, entk_so3.h CONVENTIONS):
 *   sum_mn Delta_mn(R^-1 h) Delta_mn(R'^-1 h') = sum_{m,n,p,p'} Delta_pm(R) Delta_pn(h) Delta_p'm(R')
 *   Delta_p'n(h'), so K' - sb^2 = sw^2/(8 pi^2) sum_l (2l+1)/(8 pi^2) sum_{m,p,p'} Delta_pm(R)
 *   Delta_p'm(R') G^l_pp',  G^l_pp' = sum_n sum_{h,h'} (W_h Delta_pn(h)) tau(h, h') (W_h' Delta_p'n(h')),
 * i.e. U tau U^T per degree (U: (2l+1)^2 x points) and a (2l+1)^2 contraction per output pair: O(L^4
 * G^2) for G grid points instead of O(L^3 G^4). tests/test_so3_oracle.c checks the factored form
 * against the literal sum (with R^-1 h multiplied as 3 x 3 matrices) on a small grid.
 * Memory: six G x G matrices per layer (G = 2B (2B-1)^2): 31 MB at B = 5; B is limited to
 * SO3O_MAX_B. */
#ifndef ENTK_SO3_ORACLE_H
#define ENTK_SO3_ORACLE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "entk_so3.h"
#include "testutil.h" /* tu_rng */

#define SO3O_PI 3.14159265358979323846

/* n band-limited test inputs C x 2L x (2L - 1): random S^2 coefficients of degree < L, the k-th (index
 * l^2 + l + m) a normal deviate times 1 / (1 + decay k), sampled on the grid of band limit L; the
 * coefficients also go to a (n C L^2 doubles) unless a is NULL. NULL if an allocation or transform fails. */
static inline double *so3o_inputs(tu_rng *r, size_t n, size_t C, int L, double decay, double *a) {
    const size_t cell = (size_t)(2 * L) * (size_t)(2 * L - 1), q = (size_t)L * (size_t)L;
    double *x = (double *)malloc(n * C * cell * sizeof *x), *c = (double *)malloc(q * sizeof *c), *work = NULL;
    size_t wl = 0, i, k;
    int ok = x && c && entk_so3_sht_work_size(L, L, &wl) == ENTK_OK && (work = (double *)malloc(wl * sizeof *work));
    for (i = 0; ok && i < n * C; ++i) {
        for (k = 0; k < q; ++k) c[k] = tu_normal(r) / (1.0 + decay * (double)k);
        if (a) memcpy(a + i * q, c, q * sizeof *c);
        ok = entk_so3_isht(L, L, c, x + i * cell, work) == ENTK_OK;
    }
    free(c);
    free(work);
    if (!ok) {
        free(x);
        return NULL;
    }
    return x;
}
#ifndef SO3O_MAX_B
#define SO3O_MAX_B 6 /* the largest grid band limit so3o_kernel accepts (memory: see above) */
#endif

/* ---- rotations as 3 x 3 matrices (row-major) and ZYZ Euler angles ---- */

/* R(a, b, g) = R_z(a) R_y(b) R_z(g) (entk_so3.h CONVENTIONS). */
static inline void so3o_rotmat(double a, double b, double g, double *r) {
    const double ca = cos(a), sa = sin(a), cb = cos(b), sb = sin(b), cg = cos(g), sg = sin(g);
    r[0] = ca * cb * cg - sa * sg; r[1] = -ca * cb * sg - sa * cg; r[2] = ca * sb;
    r[3] = sa * cb * cg + ca * sg; r[4] = -sa * cb * sg + ca * cg; r[5] = sa * sb;
    r[6] = -sb * cg;               r[7] = sb * sg;                 r[8] = cb;
}

/* c = a b (c may not alias a or b) */
static inline void so3o_matmul(const double *a, const double *b, double *c) {
    int i, j, k;
    for (i = 0; i < 3; ++i)
        for (j = 0; j < 3; ++j) {
            double s = 0;
            for (k = 0; k < 3; ++k) s += a[3 * i + k] * b[3 * k + j];
            c[3 * i + j] = s;
        }
}

/* c = a^T b */
static inline void so3o_matmul_tn(const double *a, const double *b, double *c) {
    int i, j, k;
    for (i = 0; i < 3; ++i)
        for (j = 0; j < 3; ++j) {
            double s = 0;
            for (k = 0; k < 3; ++k) s += a[3 * k + i] * b[3 * k + j];
            c[3 * i + j] = s;
        }
}

/* ZYZ angles of a rotation matrix: the third column is (cos a sin b, sin a sin b, cos b), the third
 * row (-sin b cos g, sin b sin g, cos b). At sin b = 0 only a + g (b = 0) or a - g (b = pi) is
 * defined: g = 0 and a from the upper 2 x 2 block. */
static inline void so3o_euler(const double *r, double *abg) {
    const double sb = sqrt(r[2] * r[2] + r[5] * r[5]);
    abg[1] = atan2(sb, r[8]);
    if (sb > 1e-12) {
        abg[0] = atan2(r[5], r[2]);
        abg[2] = atan2(r[7], -r[6]);
    } else {
        abg[0] = atan2(-r[1], r[4]);
        abg[2] = 0;
    }
}

/* ---- point sets with their real Wigner matrices ---- */

typedef struct so3o_pts {
    size_t n;      /* points */
    int L;         /* Delta^l stored for l < L */
    size_t plen;   /* entk_so3_packed_len(L) */
    double *delta; /* n x plen, packed as entk_so3_real_wigner */
    double *w;     /* n Driscoll-Healy weights (sum 8 pi^2), or NULL for points that are not a grid */
} so3o_pts;

static inline void so3o_pts_free(so3o_pts *p) {
    free(p->delta);
    free(p->w);
    p->delta = p->w = NULL;
}

/* n points from Euler angles abg (n x 3: alpha, beta, gamma), Delta^l for l < L; no weights. */
static inline entk_status so3o_pts_euler(so3o_pts *p, size_t n, const double *abg, int L) {
    size_t i;
    entk_status st;
    memset(p, 0, sizeof *p);
    p->n = n;
    p->L = L;
    p->plen = entk_so3_packed_len(L);
    if (!p->plen) return ENTK_ERR_INVALID_ARG;
    if (!(p->delta = (double *)malloc((n ? n : 1) * p->plen * sizeof(double)))) return ENTK_ERR_NOMEM;
    for (i = 0; i < n; ++i)
        if ((st = entk_so3_real_wigner(L, abg[3 * i], abg[3 * i + 1], abg[3 * i + 2], p->delta + i * p->plen))) {
            so3o_pts_free(p);
            return st;
        }
    return ENTK_OK;
}

/* The SO(3) grid of band limit B in entk's order [beta j][alpha k][gamma l], with its weights. */
static inline entk_status so3o_pts_grid(so3o_pts *p, int B, int L) {
    const int b = B < 1 || B > SO3O_MAX_B ? 1 : B;
    const size_t nb = (size_t)(2 * b), na = (size_t)(2 * b - 1), n = nb * na * na;
    double *abg, beta[2 * SO3O_MAX_B], alpha[2 * SO3O_MAX_B], w[2 * SO3O_MAX_B];
    size_t j, k, l, i;
    entk_status st;
    memset(p, 0, sizeof *p);
    if (b != B || entk_so3_so3_nodes(B, beta, alpha) || entk_so3_so3_weights(B, w)) return ENTK_ERR_INVALID_ARG;
    if (!(abg = (double *)malloc(3 * n * sizeof(double)))) return ENTK_ERR_NOMEM;
    for (j = 0, i = 0; j < nb; ++j)
        for (k = 0; k < na; ++k)
            for (l = 0; l < na; ++l, ++i) {
                abg[3 * i] = alpha[k];
                abg[3 * i + 1] = beta[j];
                abg[3 * i + 2] = alpha[l];
            }
    st = so3o_pts_euler(p, n, abg, L);
    free(abg);
    if (st) return st;
    if (!(p->w = (double *)malloc(n * sizeof(double)))) {
        so3o_pts_free(p);
        return ENTK_ERR_NOMEM;
    }
    for (i = 0; i < n; ++i) p->w[i] = w[i / (na * na)];
    return ENTK_OK;
}

/* ---- the layers ---- */

/* Real S^2 coefficients a (C x Lout^2) of C signals x (C x 2Lin x (2Lin - 1) samples on the grid of
 * band limit Lin) by the quadrature sum_j W_j sum_k x(theta_j, phi_k) Y_lm(theta_j, phi_k). */
static inline entk_status so3o_s2_coef(int Lin, int Lout, size_t C, const double *x, double *a) {
    const size_t nt = (size_t)(2 * Lin), np = (size_t)(2 * Lin - 1), q = (size_t)Lout * (size_t)Lout;
    double *th = (double *)malloc(nt * sizeof(double)), *ph = (double *)malloc(np * sizeof(double));
    double *w = (double *)malloc(nt * sizeof(double)), *y = (double *)malloc(q * sizeof(double));
    size_t c, j, k, i;
    entk_status st = ENTK_ERR_NOMEM;
    if (!th || !ph || !w || !y) goto done;
    if ((st = entk_so3_s2_nodes(Lin, th, ph)) || (st = entk_so3_s2_weights(Lin, w))) goto done;
    memset(a, 0, C * q * sizeof(double));
    for (j = 0; j < nt; ++j)
        for (k = 0; k < np; ++k) {
            if ((st = entk_so3_real_sh(Lout, th[j], ph[k], y))) goto done;
            for (c = 0; c < C; ++c) {
                const double v = w[j] * x[(c * nt + j) * np + k];
                for (i = 0; i < q; ++i) a[c * q + i] += v * y[i];
            }
        }
done:
    free(th);
    free(ph);
    free(w);
    free(y);
    return st;
}

/* v (p->n x C Lout^2): v[i][c][l^2 + l + m] = sum_n Delta^l_nm(R_i) a_c,ln. */
static inline void so3o_lift_features(const so3o_pts *p, size_t C, int Lout, const double *a, double *v) {
    const size_t q = (size_t)Lout * (size_t)Lout;
    size_t i, c;
    int l, m, n;
    for (i = 0; i < p->n; ++i)
        for (c = 0; c < C; ++c)
            for (l = 0; l < Lout; ++l) {
                const int w = 2 * l + 1;
                const double *d = p->delta + i * p->plen + (size_t)l * (size_t)(4 * l * l - 1) / 3;
                const double *al = a + c * q + (size_t)(l * l);
                for (m = 0; m < w; ++m) {
                    double s = 0;
                    for (n = 0; n < w; ++n) s += d[n * w + m] * al[n];
                    v[(i * C + c) * q + (size_t)(l * l + m)] = s;
                }
            }
}

/* The s2lift kernel between the points of p1 and p2 (K: p1->n x p2->n) of inputs with coefficients
 * a1, a2 (C x Lout^2). Needs p1->L, p2->L >= Lout. */
static inline entk_status so3o_lift(const so3o_pts *p1, const so3o_pts *p2, size_t C, int Lout, const double *a1,
                                    const double *a2, double sw, double sb, double *K) {
    const size_t d = C * (size_t)Lout * (size_t)Lout;
    const double s = 1.0 / (4.0 * SO3O_PI * (double)C);
    double *v1 = (double *)malloc((p1->n ? p1->n : 1) * d * sizeof(double));
    double *v2 = (double *)malloc((p2->n ? p2->n : 1) * d * sizeof(double));
    size_t i, j, k;
    if (!v1 || !v2 || p1->L < Lout || p2->L < Lout) {
        free(v1);
        free(v2);
        return v1 && v2 ? ENTK_ERR_INVALID_ARG : ENTK_ERR_NOMEM;
    }
    so3o_lift_features(p1, C, Lout, a1, v1);
    so3o_lift_features(p2, C, Lout, a2, v2);
    for (i = 0; i < p1->n; ++i)
        for (j = 0; j < p2->n; ++j) {
            double acc = 0;
            for (k = 0; k < d; ++k) acc += v1[i * d + k] * v2[j * d + k];
            K[i * p2->n + j] = sw * sw * (s * acc) + sb * sb;
        }
    free(v1);
    free(v2);
    return ENTK_OK;
}

/* The pointwise nonlinearity on an n1 x n2 kernel: K <- T(d1[i], d2[j], K[i][j]), T <- Tdot T (T may
 * be NULL). d1, d2: the diagonals K_xx(R_i, R_i), K_x'x'(R'_j, R'_j), not aliasing K. */
static inline entk_status so3o_nonlin(const entk_nonlin *nl, size_t n1, size_t n2, const double *d1, const double *d2,
                                      double *K, double *T) {
    size_t i;
    entk_status st;
    for (i = 0; i < n1; ++i)
        if ((st = entk_nonlin_map(nl, n2, d1 + i, 0, d2, 1, K + i * n2, T ? T + i * n2 : NULL, K + i * n2,
                                  T ? T + i * n2 : NULL)))
            return st;
    return ENTK_OK;
}

/* The so3conv operator: K (p1->n x p2->n) = sw^2/(8 pi^2) sum_{h,h'} W_h W_h' sum_{l<L} (2l+1)/(8 pi^2)
 * sum_mn Delta_mn(R^-1 h) Delta_mn(R'^-1 h') tau(h, h') + sb^2 for R in p1, R' in p2, with tau
 * (in->n x in->n) on the grid in (weights needed), factored as in the header comment. */
static inline entk_status so3o_conv(const so3o_pts *in, const double *tau, int L, double sw, double sb,
                                    const so3o_pts *p1, const so3o_pts *p2, double *K) {
    const size_t G = in->n, n1 = p1->n, n2 = p2->n, qmax = (size_t)(2 * L - 1) * (size_t)(2 * L - 1);
    double *U = (double *)malloc(qmax * G * sizeof(double)), *Y = (double *)malloc(qmax * G * sizeof(double));
    double *P = (double *)malloc((n1 ? n1 : 1) * qmax * sizeof(double));
    double *Q = (double *)malloc((n2 ? n2 : 1) * qmax * sizeof(double)), Gm[(2 * SO3O_MAX_B + 1) * (2 * SO3O_MAX_B + 1)];
    size_t h, hp, i, j, k;
    int l, p, pp, m, n;
    entk_status st = ENTK_OK;
    if (!U || !Y || !P || !Q) {
        st = ENTK_ERR_NOMEM;
        goto done;
    }
    if (!in->w || L < 1 || L > SO3O_MAX_B || in->L < L || p1->L < L || p2->L < L) {
        st = ENTK_ERR_INVALID_ARG;
        goto done;
    }
    memset(K, 0, n1 * n2 * sizeof(double));
    for (l = 0; l < L; ++l) {
        const int w = 2 * l + 1;
        const size_t q = (size_t)w * (size_t)w, off = (size_t)l * (size_t)(4 * l * l - 1) / 3;
        const double coef = (double)w / (8.0 * SO3O_PI * SO3O_PI);
        /* U[(p n)][h] = W_h Delta_pn(h); Y = U tau */
        for (h = 0; h < G; ++h)
            for (k = 0; k < q; ++k) U[k * G + h] = in->w[h] * in->delta[h * in->plen + off + k];
        memset(Y, 0, q * G * sizeof(double));
        for (h = 0; h < G; ++h) {
            const double *th = tau + h * G;
            for (k = 0; k < q; ++k) {
                const double u = U[k * G + h];
                double *yk = Y + k * G;
                for (hp = 0; hp < G; ++hp) yk[hp] += u * th[hp];
            }
        }
        /* G_pp' = sum_n sum_h' Y[(p n)][h'] U[(p' n)][h'] */
        for (p = 0; p < w; ++p)
            for (pp = 0; pp < w; ++pp) {
                double s = 0;
                for (n = 0; n < w; ++n) {
                    const double *y = Y + (size_t)(p * w + n) * G, *u = U + (size_t)(pp * w + n) * G;
                    for (hp = 0; hp < G; ++hp) s += y[hp] * u[hp];
                }
                Gm[p * w + pp] = s;
            }
        /* P[i][(m p')] = sum_p Delta_pm(R_i) G_pp', Q[j][(m p')] = Delta_p'm(R'_j) */
        for (i = 0; i < n1; ++i) {
            const double *d = p1->delta + i * p1->plen + off;
            for (m = 0; m < w; ++m)
                for (pp = 0; pp < w; ++pp) {
                    double s = 0;
                    for (p = 0; p < w; ++p) s += d[p * w + m] * Gm[p * w + pp];
                    P[i * q + (size_t)(m * w + pp)] = s;
                }
        }
        for (j = 0; j < n2; ++j) {
            const double *d = p2->delta + j * p2->plen + off;
            for (m = 0; m < w; ++m)
                for (pp = 0; pp < w; ++pp) Q[j * q + (size_t)(m * w + pp)] = d[pp * w + m];
        }
        for (i = 0; i < n1; ++i)
            for (j = 0; j < n2; ++j) {
                double s = 0;
                for (k = 0; k < q; ++k) s += P[i * q + k] * Q[j * q + k];
                K[i * n2 + j] += coef * s;
            }
    }
    for (i = 0; i < n1 * n2; ++i) K[i] = sw * sw * (K[i] / (8.0 * SO3O_PI * SO3O_PI)) + sb * sb;
done:
    free(U);
    free(Y);
    free(P);
    free(Q);
    return st;
}

/* so3pool: (1/(8 pi^2))^2 sum_{i,j} W_i W_j K[i][j] over two grids (weights needed). */
static inline double so3o_pool(const so3o_pts *p1, const so3o_pts *p2, const double *K) {
    const double v = 8.0 * SO3O_PI * SO3O_PI;
    double s = 0;
    size_t i, j;
    for (i = 0; i < p1->n; ++i) {
        double r = 0;
        for (j = 0; j < p2->n; ++j) r += p2->w[j] * K[i * p2->n + j];
        s += p1->w[i] * r;
    }
    return s / (v * v);
}

/* ---- the whole network ---- */

/* The kernels of the pair (x1, x2) (each C x 2Lin x (2Lin - 1) samples, band-limited) through the SO(3)
 * network arch (entk_so3.h ARCHITECTURES; band-limit defaults resolved as entk does):
 * out = {K(x1, x1), Theta(x1, x1), K(x2, x2), Theta(x2, x2), K(x1, x2), Theta(x1, x2)}. Statuses: those
 * of entk_so3_check_shape, ENTK_ERR_INVALID_ARG for a grid band limit above SO3O_MAX_B, ENTK_ERR_NOMEM,
 * and those of the maps and entk_scalar_chain. */
static inline entk_status so3o_kernel(const entk_arch *arch, size_t C, int Lin, const double *x1, const double *x2,
                                      double *out) {
    so3o_pts g, g2;
    double *K[3] = {NULL, NULL, NULL}, *T[3] = {NULL, NULL, NULL}, *Kn = NULL, *Tn = NULL, *d1 = NULL, *d2 = NULL;
    double *a1 = NULL, *a2 = NULL, k[3] = {0, 0, 0}, t[3] = {0, 0, 0};
    int l, band = 0, have = 0, red = -1;
    size_t G = 0, i, pr;
    entk_status st;
    if ((st = entk_so3_check_shape(arch, C, Lin, NULL, 0))) return st;
    memset(&g, 0, sizeof g);
    memset(&g2, 0, sizeof g2);
    for (l = 0; l < arch->n_layers && red < 0; ++l) {
        const entk_layer *ly = &arch->layer[l];
        if (ly->kind == ENTK_LAYER_S2LIFT) {
            const int Lout = ly->Lout ? ly->Lout : ly->L ? ly->L : Lin;
            const int B = ly->B ? ly->B : entk_so3_default_band(Lout);
            const size_t q = C * (size_t)Lout * (size_t)Lout;
            if (B > SO3O_MAX_B) { st = ENTK_ERR_INVALID_ARG; goto done; }
            if ((st = so3o_pts_grid(&g, B, B))) goto done;
            G = g.n;
            if (!(a1 = (double *)malloc(q * sizeof(double))) || !(a2 = (double *)malloc(q * sizeof(double))) ||
                !(d1 = (double *)malloc(G * sizeof(double))) || !(d2 = (double *)malloc(G * sizeof(double)))) {
                st = ENTK_ERR_NOMEM;
                goto done;
            }
            if ((st = so3o_s2_coef(Lin, Lout, C, x1, a1)) || (st = so3o_s2_coef(Lin, Lout, C, x2, a2))) goto done;
            for (pr = 0; pr < 3; ++pr) {
                if (!(K[pr] = (double *)malloc(G * G * sizeof(double))) ||
                    !(T[pr] = (double *)malloc(G * G * sizeof(double)))) {
                    st = ENTK_ERR_NOMEM;
                    goto done;
                }
                if ((st = so3o_lift(&g, &g, C, Lout, pr == 1 ? a2 : a1, pr == 0 ? a1 : a2, ly->sw, ly->sb, K[pr])))
                    goto done;
                memcpy(T[pr], K[pr], G * G * sizeof(double)); /* Theta_1 = K_1 */
            }
            band = Lout;
            have = 1;
        } else if (ly->kind == ENTK_LAYER_NONLIN) {
            for (i = 0; i < G; ++i) {
                d1[i] = K[0][i * G + i];
                d2[i] = K[1][i * G + i];
            }
            if ((st = so3o_nonlin(&ly->nl, G, G, d1, d1, K[0], T[0])) ||
                (st = so3o_nonlin(&ly->nl, G, G, d2, d2, K[1], T[1])) ||
                (st = so3o_nonlin(&ly->nl, G, G, d1, d2, K[2], T[2])))
                goto done;
        } else if (ly->kind == ENTK_LAYER_SO3CONV) {
            const int Lc = ly->L ? ly->L : band;
            const int B = ly->B ? ly->B : entk_so3_default_band(Lc);
            size_t G2;
            if (B > SO3O_MAX_B) { st = ENTK_ERR_INVALID_ARG; goto done; }
            if ((st = so3o_pts_grid(&g2, B, B))) goto done;
            G2 = g2.n;
            for (pr = 0; pr < 3; ++pr) {
                if (!(Kn = (double *)malloc(G2 * G2 * sizeof(double))) ||
                    !(Tn = (double *)malloc(G2 * G2 * sizeof(double)))) {
                    st = ENTK_ERR_NOMEM;
                    goto done;
                }
                if ((st = so3o_conv(&g, K[pr], Lc, ly->sw, ly->sb, &g2, &g2, Kn)) ||
                    (st = so3o_conv(&g, T[pr], Lc, ly->sw, 0.0, &g2, &g2, Tn)))
                    goto done;
                for (i = 0; i < G2 * G2; ++i) Tn[i] += Kn[i];
                free(K[pr]);
                free(T[pr]);
                K[pr] = Kn;
                T[pr] = Tn;
                Kn = Tn = NULL;
            }
            so3o_pts_free(&g);
            g = g2;
            memset(&g2, 0, sizeof g2);
            G = G2;
            free(d1);
            free(d2);
            d1 = d2 = NULL;
            if (!(d1 = (double *)malloc(G * sizeof(double))) || !(d2 = (double *)malloc(G * sizeof(double)))) {
                st = ENTK_ERR_NOMEM;
                goto done;
            }
            band = Lc;
        } else if (ly->kind == ENTK_LAYER_SO3POOL) {
            for (pr = 0; pr < 3; ++pr) {
                k[pr] = so3o_pool(&g, &g, K[pr]);
                t[pr] = so3o_pool(&g, &g, T[pr]);
            }
            red = l;
        } else {
            st = ENTK_ERR_ARCH; /* entk_so3_check_shape admits nothing else before so3pool */
            goto done;
        }
    }
    if (!have || red < 0) {
        st = ENTK_ERR_ARCH;
        goto done;
    }
    st = entk_scalar_chain(arch->layer + red + 1, arch->n_layers - red - 1, &k[0], &t[0], &k[1], &t[1], &k[2], &t[2]);
    out[0] = k[0]; out[1] = t[0]; out[2] = k[1]; out[3] = t[1]; out[4] = k[2]; out[5] = t[2];
done:
    for (pr = 0; pr < 3; ++pr) {
        free(K[pr]);
        free(T[pr]);
    }
    free(Kn);
    free(Tn);
    free(d1);
    free(d2);
    free(a1);
    free(a2);
    so3o_pts_free(&g);
    so3o_pts_free(&g2);
    return st;
}

#endif /* ENTK_SO3_ORACLE_H */
