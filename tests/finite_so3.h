/* finite_so3.h - finite-width SO(3) networks in entk's NTK parametrisation (docs/conventions.md §1,
 * §1.5, §4), for the Monte-Carlo tests of entk_so3.h's kernels. Not part of the library; header-only,
 * all functions static, allocations checked (-1), nothing prints.
 *
 * A network is built from an entk_arch (s2lift, nonlinearities, so3conv, so3pool, then dense layers and
 * nonlinearities; the band-limit defaults resolved as entk does) for inputs C x 2L x (2L - 1) on the
 * S^2 grid of band limit L. Every hidden layer with weights has `width` output channels; the last layer
 * must be dense (the readout, nout outputs). Every weight and bias is N(0, 1). Feature maps after
 * s2lift live on the SO(3) grids of the layers (2B x (2B-1) x (2B-1) samples), exactly where entk's
 * recursion evaluates its nonlinearities.
 *
 * Filters are band-limited white noise:
 *   s2lift   kappa_oc(u) = sum_{l<Lout} sum_m z_oc,lm Y_lm(u),
 *            N_o(R) = sw/sqrt(4 pi C) sum_c integral kappa_oc(R^-1 y) x_c(y) dy + sb b_o.
 *            With Y_lm(R^-1 y) = sum_n Delta^l_nm(R) Y_ln(y) and a_c,ln = integral x_c Y_ln:
 *            N_o(R) = sum_l sum_nm c_o,nm Delta^l_nm(R) + sb b_o,  c_o,nm = sw/sqrt(4 pi C) sum_c a_c,ln z_oc,lm
 *            (a_c by entk_so3_plan_sht, N_o by entk_so3_plan_ifft on the grid of band limit B).
 *   so3conv  psi_oc(g) = sum_{l<L} sum_mn z_oc,lmn sqrt((2l+1)/(8 pi^2)) Delta^l_mn(g),
 *            N'_o(R) = sw/sqrt(8 pi^2 C) sum_c integral psi_oc(R^-1 h) f_c(h) dh + sb b_o, f_c = phi(N_c).
 *            With Delta(R^-1 h) = Delta(R)^T Delta(h), orthogonality (integral Delta_kn Delta_pq =
 *            8 pi^2/(2l+1) delta_kp delta_nq) and f_c = sum c_c,pq Delta_pq (its SO(3) coefficients):
 *            N'_o(R) = sum_l sum_pm d_o,pm Delta^l_pm(R) + sb b_o,
 *            d_o,pm = sw/sqrt(C (2l+1)) sum_c sum_n c_c,pn z_oc,lmn
 *            (the convolution theorem: c_c by entk_so3_plan_fft on the grid before, which is the
 *            Driscoll-Healy quadrature of the integral, N'_o by entk_so3_plan_ifft on the new grid).
 *   so3pool  (1/(8 pi^2)) sum_R W_R N(R), the Driscoll-Healy weights of the grid.
 *   dense    sw/sqrt(fan_in) W h + sb b.
 * Given the layer's input, each output channel is Gaussian with exactly the kernel of the oracle
 * (tests/so3_oracle.h) over grid pairs; tests/test_so3_mc.c checks that normalisation by summing over
 * the weights one basis vector at a time.
 *
 * Empirical NTK of output 0: sum over parameters of df(x)/dtheta df(x')/dtheta by backpropagating
 * delta = df_0/d(layer output) and contracting per layer with weights:
 *   dense    (alpha^2 (h . h') + sb^2) (delta . delta'),
 *   so3conv  sum_l beta_l^2 sum_{p,p'} [sum_c sum_n c_c,pn c'_c,p'n] [sum_o sum_m E_o,pm E'_o,p'm]
 *            + sb^2 sum_o (sum_R delta_o(R)) (sum_R delta'_o(R)),
 *            beta_l = sw/sqrt(C (2l+1)), E_o,pm = sum_R delta_o(R) Delta_pm(R) = 8 pi^2/(2l+1) times the
 *            analysis of delta_o / W (the adjoint of the synthesis);
 *   s2lift   alpha^2 sum_l sum_{n,n'} [sum_c a_c,ln a'_c,ln'] [sum_o sum_m E_o,nm E'_o,n'm] + the bias term,
 * and the gradient through the analysis of so3conv: d f / d f_c(h) = W_h times the synthesis of
 * (2l+1)/(8 pi^2) sum_o sum_m beta_l z_oc,lmn E_o,pm. Checked against central finite differences. */
#ifndef ENTK_FINITE_SO3_H
#define ENTK_FINITE_SO3_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "entk_so3.h"
#include "testutil.h" /* tu_rng */

#define FSO3_PI 3.14159265358979323846

enum { FSO3_LIFT = 0, FSO3_CONV, FSO3_NONLIN, FSO3_POOL, FSO3_DENSE };

typedef struct fso3_layer {
    int kind;
    size_t cin, cout;  /* channels (features) read and written */
    size_t gin, gout;  /* grid points read and written (0: scalars; s2lift reads S^2 samples) */
    size_t ncf;        /* lift: Lout^2; conv: packed_len(L): coefficients per channel */
    int L;             /* lift: Lout; conv: L */
    double sw, sb;
    double *w, *b;     /* lift: cout x cin x Lout^2; conv: cout x cin x packed_len(L); dense: cout x cin */
    size_t nw;         /* number of weights */
    entk_nonlin nl;
    entk_so3_plan an, syn; /* lift: S2 (Lout, Lin) and SO3 (Lout, B); conv: SO3 (L, Bin) and SO3 (L, B) */
    double *mem;
    double *win, *wout; /* per-point quadrature weights of the grids read (conv, pool) and written */
} fso3_layer;

typedef struct fso3 {
    int nlayers;
    fso3_layer layer[ENTK_MAX_LAYERS];
    size_t C, nout, insz;
    int Lin;
    size_t work_len, cmax; /* transform workspace, coefficient buffer doubles */
    tu_rng rng;
    int have_spare;
    double spare;
} fso3;

static inline double fso3__normal(fso3 *net) { return tu_normal_pair(&net->rng, &net->spare, &net->have_spare); }

static inline double fso3__phi(const entk_nonlin *nl, double x, double *d) { return tu_phi(nl, x, d); }

static inline void fso3_free(fso3 *net) {
    int l;
    for (l = 0; l < net->nlayers; ++l) {
        fso3_layer *fl = &net->layer[l];
        free(fl->w); free(fl->b); free(fl->mem); free(fl->win); free(fl->wout);
        fl->w = fl->b = fl->mem = fl->win = fl->wout = NULL;
    }
    net->nlayers = 0;
}

static inline size_t fso3__gpoints(int B) { return (size_t)(2 * B) * (size_t)(2 * B - 1) * (size_t)(2 * B - 1); }

/* Per-point Driscoll-Healy weights of the SO(3) grid of band limit B (malloc'ed, NULL without memory). */
static inline double *fso3__grid_weights(int B) {
    const size_t row = (size_t)(2 * B - 1) * (size_t)(2 * B - 1), n = fso3__gpoints(B);
    double *w = (double *)malloc(n * sizeof(double)), wj[2 * ENTK_SO3_MAX_BAND];
    size_t i;
    if (!w) return NULL;
    if (entk_so3_so3_weights(B, wj)) { free(w); return NULL; }
    for (i = 0; i < n; ++i) w[i] = wj[i / row];
    return w;
}

/* Plans for kinds, coefficient band L, grid band B into fl->mem (the two plans share one block). */
static inline int fso3__plans(fso3 *net, fso3_layer *fl, int kind_an, int L, int Ban, int Bsyn) {
    size_t l1, w1, l2, w2;
    if (entk_so3_plan_size(kind_an, L, Ban, &l1, &w1) || entk_so3_plan_size(ENTK_SO3_PLAN_SO3, L, Bsyn, &l2, &w2))
        return -1;
    if (!(fl->mem = (double *)malloc((l1 + l2) * sizeof(double)))) return -1;
    if (entk_so3_plan_init(&fl->an, kind_an, L, Ban, fl->mem) ||
        entk_so3_plan_init(&fl->syn, ENTK_SO3_PLAN_SO3, L, Bsyn, fl->mem + l1))
        return -1;
    if (w1 > net->work_len) net->work_len = w1;
    if (w2 > net->work_len) net->work_len = w2;
    return 0;
}

/* Build the network for C x 2L x (2L - 1) inputs. Returns 0, or -1 (unsupported layer, no memory). */
static inline int fso3_build(fso3 *net, const entk_arch *arch, size_t C, int L, size_t width, size_t nout) {
    int l, band = 0, grid = 0, pooled = 0;
    size_t ch = C, g = 0;
    memset(net, 0, sizeof *net);
    net->C = C;
    net->Lin = L;
    net->nout = nout;
    net->insz = C * (size_t)(2 * L) * (size_t)(2 * L - 1);
    if (arch->n_layers < 2 || arch->layer[0].kind != ENTK_LAYER_S2LIFT ||
        arch->layer[arch->n_layers - 1].kind != ENTK_LAYER_DENSE)
        return -1;
    for (l = 0; l < arch->n_layers; ++l) {
        const entk_layer *ly = &arch->layer[l];
        fso3_layer *fl = &net->layer[l];
        const int last = l == arch->n_layers - 1;
        net->nlayers = l + 1;
        fl->sw = ly->sw;
        fl->sb = ly->sb;
        fl->cin = ch;
        fl->gin = g;
        switch (ly->kind) {
        case ENTK_LAYER_S2LIFT: {
            const int Lout = ly->Lout ? ly->Lout : ly->L ? ly->L : L;
            const int B = ly->B ? ly->B : entk_so3_default_band(Lout);
            fl->kind = FSO3_LIFT;
            fl->L = Lout;
            fl->cout = last ? nout : width;
            fl->ncf = (size_t)Lout * (size_t)Lout;
            fl->gout = fso3__gpoints(B);
            if (fso3__plans(net, fl, ENTK_SO3_PLAN_S2, Lout, L, B)) goto fail;
            if (!(fl->wout = fso3__grid_weights(B))) goto fail;
            band = Lout;
            grid = B;
            break;
        }
        case ENTK_LAYER_SO3CONV: {
            const int Lc = ly->L ? ly->L : band;
            const int B = ly->B ? ly->B : entk_so3_default_band(Lc);
            if (pooled || Lc > grid) goto fail;
            fl->kind = FSO3_CONV;
            fl->L = Lc;
            fl->cout = width;
            fl->ncf = entk_so3_packed_len(Lc);
            fl->gout = fso3__gpoints(B);
            if (fso3__plans(net, fl, ENTK_SO3_PLAN_SO3, Lc, grid, B)) goto fail;
            if (!(fl->win = fso3__grid_weights(grid)) || !(fl->wout = fso3__grid_weights(B))) goto fail;
            band = Lc;
            grid = B;
            break;
        }
        case ENTK_LAYER_NONLIN:
            fl->kind = FSO3_NONLIN;
            fl->nl = ly->nl;
            fl->cout = ch;
            fl->gout = g;
            if (ly->nl.kind == ENTK_NL_CUSTOM) goto fail;
            break;
        case ENTK_LAYER_SO3POOL:
            if (pooled || !grid) goto fail;
            fl->kind = FSO3_POOL;
            fl->cout = ch;
            fl->gout = 0;
            if (!(fl->win = fso3__grid_weights(grid))) goto fail;
            pooled = 1;
            break;
        case ENTK_LAYER_DENSE:
            if (!pooled) goto fail;
            fl->kind = FSO3_DENSE;
            fl->cout = last ? nout : width;
            fl->ncf = 1;
            break;
        default:
            goto fail;
        }
        if (fl->kind == FSO3_LIFT || fl->kind == FSO3_CONV || fl->kind == FSO3_DENSE) {
            fl->nw = fl->cout * fl->cin * fl->ncf;
            if (!(fl->w = (double *)malloc(fl->nw * sizeof(double))) ||
                !(fl->b = (double *)malloc(fl->cout * sizeof(double))))
                goto fail;
            if (fl->ncf > net->cmax) net->cmax = fl->ncf;
            if (fl->kind != FSO3_DENSE && entk_so3_packed_len(fl->L) > net->cmax) net->cmax = entk_so3_packed_len(fl->L);
        }
        ch = fl->cout;
        g = fl->gout;
    }
    if (!pooled) goto fail;
    return 0;
fail:
    fso3_free(net);
    return -1;
}

static inline void fso3_draw(fso3 *net, uint64_t seed) {
    int l;
    size_t i;
    net->rng.s = seed * 0xD1B54A32D192ED03ull + 0x2545F4914F6CDD1Dull;
    net->have_spare = 0;
    for (l = 0; l < net->nlayers; ++l) {
        fso3_layer *fl = &net->layer[l];
        if (!fl->w) continue;
        for (i = 0; i < fl->nw; ++i) fl->w[i] = fso3__normal(net);
        for (i = 0; i < fl->cout; ++i) fl->b[i] = fso3__normal(net);
    }
}

static inline size_t fso3_nparams(const fso3 *net) {
    size_t n = 0;
    int l;
    for (l = 0; l < net->nlayers; ++l)
        if (net->layer[l].w) n += net->layer[l].nw + net->layer[l].cout;
    return n;
}
static inline double *fso3_param(fso3 *net, size_t i) {
    int l;
    for (l = 0; l < net->nlayers; ++l) {
        fso3_layer *fl = &net->layer[l];
        if (!fl->w) continue;
        if (i < fl->nw) return fl->w + i;
        i -= fl->nw;
        if (i < fl->cout) return fl->b + i;
        i -= fl->cout;
    }
    return NULL;
}

/* ---- the layers with weights, one input at a time ---- */

/* s2lift: a (cin x Lout^2, the input's S^2 coefficients) -> out (cout x gout). coef: ncf-packed
 * scratch of packed_len(Lout) doubles, work: transform workspace. */
static inline int fso3_lift_apply(const fso3_layer *fl, const double *a, double *out, double *coef, double *work) {
    const double alpha = fl->sw / sqrt(4.0 * FSO3_PI * (double)fl->cin);
    const size_t q = fl->ncf;
    size_t o, c, i;
    int l, m, n;
    for (o = 0; o < fl->cout; ++o) {
        for (l = 0; l < fl->L; ++l) {
            const int w = 2 * l + 1;
            double *blk = coef + (size_t)l * (size_t)(4 * l * l - 1) / 3;
            for (n = 0; n < w; ++n)
                for (m = 0; m < w; ++m) {
                    double s = 0;
                    for (c = 0; c < fl->cin; ++c)
                        s += a[c * q + (size_t)(l * l + n)] * fl->w[(o * fl->cin + c) * q + (size_t)(l * l + m)];
                    blk[n * w + m] = alpha * s;
                }
        }
        if (entk_so3_plan_ifft(&fl->syn, coef, out + o * fl->gout, work)) return -1;
        for (i = 0; i < fl->gout; ++i) out[o * fl->gout + i] += fl->sb * fl->b[o];
    }
    return 0;
}

/* so3conv: cf (cin x packed_len(L), the inputs' SO(3) coefficients by entk_so3_plan_fft on the grid
 * read) -> out (cout x gout). */
static inline int fso3_conv_apply(const fso3_layer *fl, const double *cf, double *out, double *coef, double *work) {
    const size_t P = fl->ncf;
    size_t o, c, i;
    int l, p, m, n;
    for (o = 0; o < fl->cout; ++o) {
        memset(coef, 0, P * sizeof(double));
        for (c = 0; c < fl->cin; ++c) {
            const double *z = fl->w + (o * fl->cin + c) * P, *x = cf + c * P;
            for (l = 0; l < fl->L; ++l) {
                const int w = 2 * l + 1;
                const size_t off = (size_t)l * (size_t)(4 * l * l - 1) / 3;
                for (p = 0; p < w; ++p)
                    for (m = 0; m < w; ++m) {
                        double s = 0;
                        for (n = 0; n < w; ++n) s += x[off + (size_t)(p * w + n)] * z[off + (size_t)(m * w + n)];
                        coef[off + (size_t)(p * w + m)] += s;
                    }
            }
        }
        for (l = 0; l < fl->L; ++l) {
            const int w = 2 * l + 1;
            const size_t off = (size_t)l * (size_t)(4 * l * l - 1) / 3;
            const double beta = fl->sw / sqrt((double)fl->cin * (double)w);
            for (i = 0; i < (size_t)(w * w); ++i) coef[off + i] *= beta;
        }
        if (entk_so3_plan_ifft(&fl->syn, coef, out + o * fl->gout, work)) return -1;
        for (i = 0; i < fl->gout; ++i) out[o * fl->gout + i] += fl->sb * fl->b[o];
    }
    return 0;
}

/* E (packed): sum_R d(R) Delta_pm(R) = 8 pi^2/(2l+1) times the analysis of d / W on plan's grid. */
static inline int fso3__adjoint_syn(const entk_so3_plan *plan, const double *wgt, size_t G, const double *d,
                                    double *tmp, double *E, double *work) {
    size_t i;
    int l;
    for (i = 0; i < G; ++i) tmp[i] = d[i] / wgt[i];
    if (entk_so3_plan_fft(plan, tmp, E, work)) return -1;
    for (l = 0; l < plan->L; ++l) {
        const int w = 2 * l + 1;
        const size_t off = (size_t)l * (size_t)(4 * l * l - 1) / 3;
        const double s = 8.0 * FSO3_PI * FSO3_PI / (double)w;
        for (i = 0; i < (size_t)(w * w); ++i) E[off + i] *= s;
    }
    return 0;
}

/* sum_l scale_l sum_{p,p'} [sum_c sum_n x_c,pn x'_c,p'n] [sum_o sum_m E_o,pm E'_o,p'm] over packed
 * coefficient sets (x: nc x stride, E: no x stride; lift inputs are reshaped by the caller). */
static inline double fso3__contract(int L, const double *x1, const double *x2, size_t nc, const double *e1,
                                    const double *e2, size_t no, size_t stride, const double *scale) {
    enum { SQ = (2 * ENTK_SO3_MAX_BAND + 1) * (2 * ENTK_SO3_MAX_BAND + 1) };
    double A[SQ], Bm[SQ];
    double tot = 0;
    size_t c, o;
    int l, p, pp, n;
    for (l = 0; l < L; ++l) {
        const int w = 2 * l + 1;
        const size_t off = (size_t)l * (size_t)(4 * l * l - 1) / 3;
        double s = 0;
        for (p = 0; p < w; ++p)
            for (pp = 0; pp < w; ++pp) {
                double a = 0, b = 0;
                for (c = 0; c < nc; ++c)
                    for (n = 0; n < w; ++n)
                        a += x1[c * stride + off + (size_t)(p * w + n)] * x2[c * stride + off + (size_t)(pp * w + n)];
                for (o = 0; o < no; ++o)
                    for (n = 0; n < w; ++n)
                        b += e1[o * stride + off + (size_t)(p * w + n)] * e2[o * stride + off + (size_t)(pp * w + n)];
                A[p * w + pp] = a;
                Bm[p * w + pp] = b;
            }
        for (p = 0; p < w * w; ++p) s += A[p] * Bm[p];
        tot += scale[l] * s;
    }
    return tot;
}

/* Forward pass of N inputs x (N x C x 2L x (2L - 1)): f (N x nout); with ntk != NULL also the
 * empirical NTK of output 0 (N x N). Returns 0, or -1. */
static inline int fso3_eval(const fso3 *net, const double *x, size_t N, double *f, double *ntk) {
    const int NL = net->nlayers;
    double *act[ENTK_MAX_LAYERS + 1], *cf[ENTK_MAX_LAYERS], *E[ENTK_MAX_LAYERS], *bs[ENTK_MAX_LAYERS];
    double *dl = NULL, *dn = NULL, *work = NULL, *coef = NULL, *tmp = NULL, *gt = NULL;
    size_t sz[ENTK_MAX_LAYERS + 1], n, i, c, o, gmax = 1, szmax = 1;
    int l, rc = -1;
    for (l = 0; l <= NL; ++l) act[l] = NULL;
    for (l = 0; l < NL; ++l) cf[l] = E[l] = bs[l] = NULL;
    sz[0] = net->insz;
    for (l = 0; l < NL; ++l) {
        const fso3_layer *fl = &net->layer[l];
        sz[l + 1] = fl->cout * (fl->gout ? fl->gout : 1);
        if (fl->gout > gmax) gmax = fl->gout;
        if (fl->gin > gmax) gmax = fl->gin;
    }
    for (l = 0; l <= NL; ++l) {
        if (sz[l] > szmax) szmax = sz[l];
        if (!(act[l] = (double *)malloc(N * sz[l] * sizeof(double)))) goto done;
    }
    if (!(work = (double *)malloc((net->work_len + 1) * sizeof(double))) ||
        !(coef = (double *)malloc((net->cmax + 1) * sizeof(double))) || !(tmp = (double *)malloc(gmax * sizeof(double))) ||
        !(dl = (double *)malloc(szmax * sizeof(double))) || !(dn = (double *)malloc(szmax * sizeof(double))) ||
        !(gt = (double *)malloc((net->cmax + 1) * sizeof(double))))
        goto done;
    for (l = 0; l < NL; ++l) {
        const fso3_layer *fl = &net->layer[l];
        if (fl->kind == FSO3_LIFT || fl->kind == FSO3_CONV) {
            if (!(cf[l] = (double *)malloc(N * fl->cin * fl->ncf * sizeof(double)))) goto done;
            if (ntk && (!(E[l] = (double *)malloc(N * fl->cout * entk_so3_packed_len(fl->L) * sizeof(double))) ||
                        !(bs[l] = (double *)malloc(N * fl->cout * sizeof(double)))))
                goto done;
        }
    }
    memcpy(act[0], x, N * net->insz * sizeof(double));
    for (n = 0; n < N; ++n)
        for (l = 0; l < NL; ++l) {
            const fso3_layer *fl = &net->layer[l];
            const double *in = act[l] + n * sz[l];
            double *out = act[l + 1] + n * sz[l + 1];
            switch (fl->kind) {
            case FSO3_LIFT: {
                const size_t cell = (size_t)(2 * net->Lin) * (size_t)(2 * net->Lin - 1);
                double *a = cf[l] + n * fl->cin * fl->ncf;
                for (c = 0; c < fl->cin; ++c)
                    if (entk_so3_plan_sht(&fl->an, in + c * cell, a + c * fl->ncf, work)) goto done;
                if (fso3_lift_apply(fl, a, out, coef, work)) goto done;
                break;
            }
            case FSO3_CONV: {
                double *a = cf[l] + n * fl->cin * fl->ncf;
                for (c = 0; c < fl->cin; ++c)
                    if (entk_so3_plan_fft(&fl->an, in + c * fl->gin, a + c * fl->ncf, work)) goto done;
                if (fso3_conv_apply(fl, a, out, coef, work)) goto done;
                break;
            }
            case FSO3_NONLIN: {
                double d;
                for (i = 0; i < sz[l]; ++i) out[i] = fso3__phi(&fl->nl, in[i], &d);
                break;
            }
            case FSO3_POOL:
                for (c = 0; c < fl->cin; ++c) {
                    double s = 0;
                    for (i = 0; i < fl->gin; ++i) s += fl->win[i] * in[c * fl->gin + i];
                    out[c] = s / (8.0 * FSO3_PI * FSO3_PI);
                }
                break;
            default: { /* dense */
                const double alpha = fl->sw / sqrt((double)fl->cin);
                for (o = 0; o < fl->cout; ++o) {
                    double s = 0;
                    for (i = 0; i < fl->cin; ++i) s += fl->w[o * fl->cin + i] * in[i];
                    out[o] = alpha * s + fl->sb * fl->b[o];
                }
            }
            }
        }
    for (n = 0; n < N; ++n)
        for (o = 0; o < net->nout; ++o) f[n * net->nout + o] = act[NL][n * sz[NL] + o];
    if (!ntk) { rc = 0; goto done; }

    /* backward, per input: delta of output 0 through the layers; the records E, bs of the layers with
     * weights (dense layers contract at once with act and the delta, kept in act's place: see below) */
    memset(ntk, 0, N * N * sizeof(double));
    {
        /* dense layers need delta per input: stored in dd[l] (N x cout) */
        double *dd[ENTK_MAX_LAYERS];
        int ok = 1;
        for (l = 0; l < NL; ++l) dd[l] = NULL;
        for (l = 0; l < NL && ok; ++l)
            if (net->layer[l].kind == FSO3_DENSE && !(dd[l] = (double *)malloc(N * net->layer[l].cout * sizeof(double))))
                ok = 0;
        for (n = 0; n < N && ok; ++n) {
            memset(dl, 0, sz[NL] * sizeof(double));
            dl[0] = 1.0;
            for (l = NL - 1; l >= 0 && ok; --l) {
                const fso3_layer *fl = &net->layer[l];
                const double *in = act[l] + n * sz[l];
                switch (fl->kind) {
                case FSO3_DENSE: {
                    const double alpha = fl->sw / sqrt((double)fl->cin);
                    memcpy(dd[l] + n * fl->cout, dl, fl->cout * sizeof(double));
                    for (i = 0; i < fl->cin; ++i) {
                        double s = 0;
                        for (o = 0; o < fl->cout; ++o) s += fl->w[o * fl->cin + i] * dl[o];
                        dn[i] = alpha * s;
                    }
                    break;
                }
                case FSO3_POOL:
                    for (c = 0; c < fl->cin; ++c)
                        for (i = 0; i < fl->gin; ++i) dn[c * fl->gin + i] = dl[c] * fl->win[i] / (8.0 * FSO3_PI * FSO3_PI);
                    break;
                case FSO3_NONLIN:
                    for (i = 0; i < sz[l]; ++i) {
                        double d;
                        fso3__phi(&fl->nl, in[i], &d);
                        dn[i] = dl[i] * d;
                    }
                    break;
                default: { /* lift, conv: E_o and the bias sums; conv passes delta on */
                    const size_t P = entk_so3_packed_len(fl->L);
                    double *e = E[l] + n * fl->cout * P, *s = bs[l] + n * fl->cout;
                    for (o = 0; o < fl->cout; ++o) {
                        double acc = 0;
                        const double *d = dl + o * fl->gout;
                        for (i = 0; i < fl->gout; ++i) acc += d[i];
                        s[o] = acc;
                        if (fso3__adjoint_syn(&fl->syn, fl->wout, fl->gout, d, tmp, e + o * P, work)) { ok = 0; break; }
                    }
                    if (fl->kind == FSO3_CONV && ok) {
                        /* d f / d f_c(h) = W_h synthesis of (2l+1)/(8 pi^2) beta_l sum_o sum_m z_oc,mn E_o,pm */
                        for (c = 0; c < fl->cin && ok; ++c) {
                            int ll, p, m, nn;
                            memset(gt, 0, P * sizeof(double));
                            for (o = 0; o < fl->cout; ++o) {
                                const double *z = fl->w + (o * fl->cin + c) * P, *eo = e + o * P;
                                for (ll = 0; ll < fl->L; ++ll) {
                                    const int w = 2 * ll + 1;
                                    const size_t off = (size_t)ll * (size_t)(4 * ll * ll - 1) / 3;
                                    for (p = 0; p < w; ++p)
                                        for (nn = 0; nn < w; ++nn) {
                                            double a = 0;
                                            for (m = 0; m < w; ++m)
                                                a += z[off + (size_t)(m * w + nn)] * eo[off + (size_t)(p * w + m)];
                                            gt[off + (size_t)(p * w + nn)] += a;
                                        }
                                }
                            }
                            for (ll = 0; ll < fl->L; ++ll) {
                                const int w = 2 * ll + 1;
                                const size_t off = (size_t)ll * (size_t)(4 * ll * ll - 1) / 3;
                                const double k = (double)w / (8.0 * FSO3_PI * FSO3_PI) * fl->sw /
                                                 sqrt((double)fl->cin * (double)w);
                                for (i = 0; i < (size_t)(w * w); ++i) gt[off + i] *= k;
                            }
                            if (entk_so3_plan_ifft(&fl->an, gt, dn + c * fl->gin, work)) { ok = 0; break; }
                            for (i = 0; i < fl->gin; ++i) dn[c * fl->gin + i] *= fl->win[i];
                        }
                    }
                }
                }
                {
                    double *t = dl;
                    dl = dn;
                    dn = t;
                }
            }
        }
        /* the contractions */
        for (l = 0; l < NL && ok; ++l) {
            const fso3_layer *fl = &net->layer[l];
            size_t a, b;
            if (fl->kind == FSO3_DENSE) {
                const double al2 = fl->sw * fl->sw / (double)fl->cin;
                for (a = 0; a < N; ++a)
                    for (b = 0; b < N; ++b) {
                        const double *h1 = act[l] + a * sz[l], *h2 = act[l] + b * sz[l];
                        const double *d1 = dd[l] + a * fl->cout, *d2 = dd[l] + b * fl->cout;
                        double hh = 0, ddt = 0;
                        for (i = 0; i < fl->cin; ++i) hh += h1[i] * h2[i];
                        for (o = 0; o < fl->cout; ++o) ddt += d1[o] * d2[o];
                        ntk[a * N + b] += (al2 * hh + fl->sb * fl->sb) * ddt;
                    }
            } else if (fl->kind == FSO3_LIFT) {
                /* alpha^2 sum_l sum_{n,n'} [sum_c a_c,ln a'_c,ln'] [sum_o sum_m E_o,nm E'_o,n'm] + bias */
                const size_t P = entk_so3_packed_len(fl->L), q = fl->ncf;
                const double al2 = fl->sw * fl->sw / (4.0 * FSO3_PI * (double)fl->cin);
                for (a = 0; a < N; ++a)
                    for (b = 0; b < N; ++b) {
                        const double *a1 = cf[l] + a * fl->cin * q, *a2 = cf[l] + b * fl->cin * q;
                        const double *e1 = E[l] + a * fl->cout * P, *e2 = E[l] + b * fl->cout * P;
                        double tot = 0, sb2 = 0;
                        int ll, nn, np, m;
                        for (ll = 0; ll < fl->L; ++ll) {
                            const int w = 2 * ll + 1;
                            const size_t off = (size_t)ll * (size_t)(4 * ll * ll - 1) / 3, o2 = (size_t)(ll * ll);
                            for (nn = 0; nn < w; ++nn)
                                for (np = 0; np < w; ++np) {
                                    double A = 0, Bm = 0;
                                    for (c = 0; c < fl->cin; ++c)
                                        A += a1[c * q + o2 + (size_t)nn] * a2[c * q + o2 + (size_t)np];
                                    for (o = 0; o < fl->cout; ++o)
                                        for (m = 0; m < w; ++m)
                                            Bm += e1[o * P + off + (size_t)(nn * w + m)] *
                                                  e2[o * P + off + (size_t)(np * w + m)];
                                    tot += A * Bm;
                                }
                        }
                        for (o = 0; o < fl->cout; ++o) sb2 += bs[l][a * fl->cout + o] * bs[l][b * fl->cout + o];
                        ntk[a * N + b] += al2 * tot + fl->sb * fl->sb * sb2;
                    }
            } else if (fl->kind == FSO3_CONV) {
                double scale[ENTK_SO3_MAX_BAND];
                int ll;
                for (ll = 0; ll < fl->L; ++ll) scale[ll] = fl->sw * fl->sw / ((double)fl->cin * (double)(2 * ll + 1));
                for (a = 0; a < N; ++a)
                    for (b = 0; b < N; ++b) {
                        const size_t ci = fl->cin * fl->ncf, co = fl->cout * fl->ncf;
                        double sb2 = 0;
                        for (o = 0; o < fl->cout; ++o) sb2 += bs[l][a * fl->cout + o] * bs[l][b * fl->cout + o];
                        ntk[a * N + b] += fso3__contract(fl->L, cf[l] + a * ci, cf[l] + b * ci, fl->cin, E[l] + a * co,
                                                         E[l] + b * co, fl->cout, fl->ncf, scale) +
                                          fl->sb * fl->sb * sb2;
                    }
            }
        }
        for (l = 0; l < NL; ++l) free(dd[l]);
        if (!ok) goto done;
    }
    rc = 0;
done:
    for (l = 0; l <= NL; ++l) free(act[l]);
    for (l = 0; l < NL; ++l) { free(cf[l]); free(E[l]); free(bs[l]); }
    free(dl); free(dn); free(work); free(coef); free(tmp); free(gt);
    return rc;
}

#endif /* ENTK_FINITE_SO3_H */
