/* finite_net.h - finite-width networks in entk's NTK parametrisation (docs/conventions.md §1, §4), used only by the
 * tests and examples to check the analytic kernels by Monte Carlo. Header-only, all functions static.
 *
 * A network is built from an entk_arch (the layer list the kernel functions take) for inputs of shape
 * C x H x W, channels first (an MLP input of dimension d is C = d, H = W = 1). Every hidden layer with
 * weights gets `width` output channels; the last layer must be dense and is the readout, with `nout`
 * outputs. Every weight and bias is N(0,1); a layer computes sw / sqrt(fan_in) * W h + sb * b.
 *
 * Supported layers: dense, nonlinearities (identity, relu, erf, leaky_relu, gelu, sin), conv(q, pad),
 * lift(n = 1|2|4, q, pad) without reflections, gconv(q, pad, support = all|id), gap, gpool, rotpool,
 * avgpool(p), flatten. Group conventions are docs/conventions.md §1.4's: R maps the pixel offset (a, b) on (row, col)
 * to (-b, a), and (r, t)(s, y) = (r + s, t + R^r y), where for n = 2 the generator is R^2 (a step of
 * r turns offsets by R^(4 r / n), as in entk_cn.h), so
 *   lift:  N(r, t) = sw/sqrt(C q^2) sum_{c,y} W_c(y) x_c(t + R^r y) + sb b
 *   gconv: N(r, t) = sw/sqrt(C |S| q^2) sum_{c,s,y} W_c(s, y) h_c(r + s, t + R^r y) + sb b.
 * For `valid` padding the output pixel t is the window centre, so outputs shrink by q - 1.
 *
 * Internally a feature map of one input is a positions x channels array (channels last); a position
 * of a group feature map is (r * H + i) * W + j. Every layer is one of three kinds:
 *   linear: out[p][o] = alpha sum_{k < ntap} sum_c W[o][k][c] in[idx(p,k)][c] + sb b[o],
 *           alpha = sw / sqrt(cin ntap), idx = -1 for zero padding. Dense has one output position and
 *           takes every input position as a tap, which is what flatten-then-dense means (flatten is
 *           then nothing); conv/lift/gconv take the window offsets (times rotations) as taps.
 *   pool:   out[p][c] = (1/ntap) sum_k in[idx(p,k)][c]           (gap, gpool, rotpool, avgpool)
 *   nonlin: pointwise.
 *
 * Empirical NTK of output 0, by backpropagating delta = d f_0 / d(layer output) and contracting per
 * linear layer, with the weight sharing over positions written out:
 *   sum over this layer's parameters of df(x)/dtheta df(x')/dtheta
 *     = alpha^2 sum_k sum_{p,p'} [sum_o delta(p,o) delta'(p',o)] [sum_c h(idx(p,k),c) h'(idx(p',k),c)]
 *       + sb^2 sum_o [sum_p delta(p,o)] [sum_p' delta'(p',o)]
 * (dense: alpha^2 (delta . delta') (h . h') + sb^2 sum delta sum delta'). Tests check it against J J^T
 * by central finite differences over every parameter.
 *
 * Empirical NNGP: (1/nout) sum_j f_j(x) f_j(x') averaged over seeds. The readout units are i.i.d. given
 * the last hidden layer, so averaging over them is averaging over independent readouts (what
 * neural-tangents' Monte-Carlo kernel does); a single scalar output has O(1) relative variance per
 * seed and would need thousands of seeds.
 */
#ifndef ENTK_FINITE_NET_H
#define ENTK_FINITE_NET_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "entk.h"
#include "testutil.h" /* tu_rng */

enum { FNET_LINEAR = 0, FNET_POOL = 1, FNET_NONLIN = 2 };

typedef struct fnet_layer {
    int kind;
    size_t cin, pin, cout, pout, ntap;
    int *idx;           /* pout x ntap input positions (linear, pool); -1 = zero padding */
    double alpha, sb;   /* linear */
    double *w, *b;      /* linear: cout x (ntap cin), tap-major columns; cout */
    entk_nonlin nl;     /* nonlin */
} fnet_layer;

typedef struct fnet {
    int nlayers;
    fnet_layer layer[ENTK_MAX_LAYERS];
    size_t cin, pin, nout;
    tu_rng rng;
    int have_spare;
    double spare;
} fnet;

/* ---- random numbers: testutil.h's splitmix64 and Box-Muller (both values used) ---- */
static inline double fnet__normal(fnet *net) {
    double u, v, r;
    if (net->have_spare) { net->have_spare = 0; return net->spare; }
    u = ((double)(tu_next(&net->rng) >> 11) + 0.5) * 0x1.0p-53; /* in (0, 1): log(u) finite */
    v = tu_unif(&net->rng);
    r = sqrt(-2.0 * log(u));
    net->spare = r * sin(6.283185307179586 * v);
    net->have_spare = 1;
    return r * cos(6.283185307179586 * v);
}

/* ---- small dense linear algebra ---- */

/* c[i][j] = sum_k a[i][k] b[j][k] (a: m x kk, b: n x kk). 4 x 2 register blocks: several
 * independent accumulators, contiguous inner loops. */
static inline void fnet__gemm_nt(size_t m, size_t n, size_t kk, const double *a, size_t lda,
                                 const double *b, size_t ldb, double *c, size_t ldc) {
    size_t i = 0, j, k;
    for (; i + 4 <= m; i += 4) {
        const double *a0 = a + i * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
        for (j = 0; j + 2 <= n; j += 2) {
            const double *b0 = b + j * ldb, *b1 = b0 + ldb;
            double s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
            for (k = 0; k < kk; ++k) {
                const double x0 = b0[k], x1 = b1[k];
                s00 += a0[k] * x0; s01 += a0[k] * x1;
                s10 += a1[k] * x0; s11 += a1[k] * x1;
                s20 += a2[k] * x0; s21 += a2[k] * x1;
                s30 += a3[k] * x0; s31 += a3[k] * x1;
            }
            c[i * ldc + j] = s00; c[i * ldc + j + 1] = s01;
            c[(i + 1) * ldc + j] = s10; c[(i + 1) * ldc + j + 1] = s11;
            c[(i + 2) * ldc + j] = s20; c[(i + 2) * ldc + j + 1] = s21;
            c[(i + 3) * ldc + j] = s30; c[(i + 3) * ldc + j + 1] = s31;
        }
        for (; j < n; ++j) {
            const double *b0 = b + j * ldb;
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (k = 0; k < kk; ++k) {
                s0 += a0[k] * b0[k]; s1 += a1[k] * b0[k]; s2 += a2[k] * b0[k]; s3 += a3[k] * b0[k];
            }
            c[i * ldc + j] = s0; c[(i + 1) * ldc + j] = s1;
            c[(i + 2) * ldc + j] = s2; c[(i + 3) * ldc + j] = s3;
        }
    }
    for (; i < m; ++i)
        for (j = 0; j < n; ++j) {
            const double *ai = a + i * lda, *bj = b + j * ldb;
            double s0 = 0, s1 = 0;
            for (k = 0; k + 2 <= kk; k += 2) { s0 += ai[k] * bj[k]; s1 += ai[k + 1] * bj[k + 1]; }
            if (k < kk) s0 += ai[k] * bj[k];
            c[i * ldc + j] = s0 + s1;
        }
}

#define FNET__CHUNK 32
/* c[i][j] = sum_o a[i][o] b[o][j] (a: m x kk, b: kk x n): b's columns are transposed in chunks into
 * wt (FNET__CHUNK x kk doubles) so the inner loops stay contiguous. */
static inline void fnet__gemm_nn(size_t m, size_t n, size_t kk, const double *a, size_t lda,
                                 const double *b, size_t ldb, double *c, size_t ldc, double *wt) {
    size_t j0, j, o;
    for (j0 = 0; j0 < n; j0 += FNET__CHUNK) {
        const size_t nc = n - j0 < FNET__CHUNK ? n - j0 : FNET__CHUNK;
        for (o = 0; o < kk; ++o)
            for (j = 0; j < nc; ++j) wt[j * kk + o] = b[o * ldb + j0 + j];
        fnet__gemm_nt(m, nc, kk, a, lda, wt, kk, c + j0, ldc);
    }
}

/* ---- nonlinearities: phi(x), and phi'(x) into *d ---- */
static inline double fnet__phi(const entk_nonlin *nl, double x, double *d) {
    switch (nl->kind) {
    case ENTK_NL_RELU: *d = x > 0 ? 1.0 : 0.0; return x > 0 ? x : 0.0;
    case ENTK_NL_ERF: *d = 1.1283791670955126 * exp(-x * x); return erf(x);
    case ENTK_NL_LEAKY_RELU: *d = x >= 0 ? 1.0 : nl->a; return x >= 0 ? x : nl->a * x;
    case ENTK_NL_GELU: {
        const double cdf = 0.5 * erfc(-x * 0.7071067811865476);
        *d = cdf + x * 0.3989422804014327 * exp(-0.5 * x * x);
        return x * cdf;
    }
    case ENTK_NL_SIN: *d = cos(x); return sin(x);
    default: *d = 1.0; return x;
    }
}

/* ---- building ---- */

static inline void fnet_free(fnet *net) {
    int l;
    for (l = 0; l < net->nlayers; ++l) {
        free(net->layer[l].idx);
        free(net->layer[l].w);
        free(net->layer[l].b);
    }
    net->nlayers = 0;
}

/* Input pixel of output pixel (i, j) at window offset (a, b) turned r times by R; -1 outside the
 * image (zero padding). */
static inline int fnet__pix(long H, long W, entk_pad pad, int q, long i, long j, int a, int b, int r) {
    const int h = (q - 1) / 2;
    long ci = i, cj = j;
    for (; r > 0; --r) { const int t = a; a = -b; b = t; } /* R(a, b) = (-b, a) */
    if (pad == ENTK_PAD_VALID) { ci += h; cj += h; }
    ci += a;
    cj += b;
    if (pad == ENTK_PAD_CIRCULAR) {
        ci = ((ci % H) + H) % H;
        cj = ((cj % W) + W) % W;
    } else if (ci < 0 || ci >= H || cj < 0 || cj >= W) {
        return -1;
    }
    return (int)(ci * W + cj);
}

/* One output position with every one of the pos input positions as a tap (dense: flatten-then-dense;
 * gap, gpool). Returns 0, or -1 without memory. */
static inline int fnet__all_taps(fnet_layer *fl, size_t pos) {
    size_t k;
    fl->pout = 1;
    fl->ntap = pos;
    if (!(fl->idx = (int *)malloc(pos * sizeof(int)))) return -1;
    for (k = 0; k < pos; ++k) fl->idx[k] = (int)k;
    return 0;
}

/* Build the layers for inputs C x H x W. Returns 0, or -1 for an unsupported or inconsistent
 * architecture (or out of memory). Weights are drawn by fnet_draw. */
static inline int fnet_build(fnet *net, const entk_arch *arch, size_t C, size_t H, size_t W,
                             size_t width, size_t nout) {
    size_t chan = C, rot = 1, hh = H, ww = W, pos = H * W;
    int spatial = 1, l;
    memset(net, 0, sizeof *net);
    if (!arch || arch->n_layers < 1 || arch->layer[arch->n_layers - 1].kind != ENTK_LAYER_DENSE) return -1;
    net->cin = C;
    net->pin = pos;
    net->nout = nout;
    for (l = 0; l < arch->n_layers; ++l) {
        const entk_layer *al = &arch->layer[l];
        fnet_layer *fl = &net->layer[net->nlayers];
        size_t p, k;
        memset(fl, 0, sizeof *fl);
        fl->cin = chan;
        fl->pin = pos;
        switch (al->kind) {
        case ENTK_LAYER_DENSE:
            fl->kind = FNET_LINEAR;
            fl->cout = l == arch->n_layers - 1 ? nout : width;
            if (fnet__all_taps(fl, pos)) goto fail;
            spatial = 0;
            break;
        case ENTK_LAYER_NONLIN:
            fl->kind = FNET_NONLIN;
            fl->nl = al->nl;
            fl->cout = chan;
            fl->pout = pos;
            if (al->nl.kind == ENTK_NL_CUSTOM) goto fail;
            break;
        case ENTK_LAYER_CONV:
        case ENTK_LAYER_LIFT:
        case ENTK_LAYER_GCONV: {
            const int q = al->q, n = al->kind == ENTK_LAYER_LIFT ? al->n : (int)rot;
            const int ns = al->kind == ENTK_LAYER_GCONV && al->support == ENTK_SUPPORT_ALL ? n : 1;
            const size_t ho = al->pad == ENTK_PAD_VALID ? hh - (size_t)(q - 1) : hh;
            const size_t wo = al->pad == ENTK_PAD_VALID ? ww - (size_t)(q - 1) : ww;
            int r, s, a, b;
            size_t i, j;
            if (!spatial || al->flip || q < 1 || q % 2 == 0) goto fail;
            if (al->kind != ENTK_LAYER_GCONV && rot != 1) goto fail; /* conv/lift take plain images */
            if (al->pad == ENTK_PAD_VALID && (hh < (size_t)q || ww < (size_t)q)) goto fail;
            fl->kind = FNET_LINEAR;
            fl->cout = width;
            fl->pout = (size_t)n * ho * wo;
            fl->ntap = (size_t)ns * (size_t)q * (size_t)q;
            if (!(fl->idx = (int *)malloc(fl->pout * fl->ntap * sizeof(int)))) goto fail;
            for (r = 0; r < n; ++r)
                for (i = 0; i < ho; ++i)
                    for (j = 0; j < wo; ++j) {
                        p = ((size_t)r * ho + i) * wo + j;
                        k = 0;
                        for (s = 0; s < ns; ++s)
                            for (a = -(q - 1) / 2; a <= (q - 1) / 2; ++a)
                                for (b = -(q - 1) / 2; b <= (q - 1) / 2; ++b) {
                                    /* C_n turns by R^(4/n) per step: C_2 = {0, 180 deg} */
                                    int px = fnet__pix((long)hh, (long)ww, al->pad, q, (long)i, (long)j, a, b,
                                                       r * (4 / n));
                                    /* the input's rotation index: lift/conv inputs have one (rot = 1) */
                                    int rin = al->kind == ENTK_LAYER_GCONV ? (r + s) % n : 0;
                                    fl->idx[p * fl->ntap + k++] = px < 0 ? -1 : (int)((size_t)rin * hh * ww) + px;
                                }
                    }
            rot = (size_t)n;
            hh = ho;
            ww = wo;
            break;
        }
        case ENTK_LAYER_GAP:
        case ENTK_LAYER_GPOOL:
            fl->kind = FNET_POOL;
            fl->cout = chan;
            if (fnet__all_taps(fl, pos)) goto fail;
            spatial = 0;
            break;
        case ENTK_LAYER_ROTPOOL:
            if (!spatial) goto fail;
            fl->kind = FNET_POOL;
            fl->cout = chan;
            fl->pout = hh * ww;
            fl->ntap = rot;
            if (!(fl->idx = (int *)malloc(fl->pout * rot * sizeof(int)))) goto fail;
            for (p = 0; p < fl->pout; ++p)
                for (k = 0; k < rot; ++k) fl->idx[p * rot + k] = (int)(k * hh * ww + p);
            rot = 1;
            break;
        case ENTK_LAYER_AVGPOOL: {
            const size_t pp = (size_t)al->p, ho = hh / pp, wo = ww / pp;
            size_t r, i, j, a, b;
            if (!spatial || ho == 0 || wo == 0) goto fail;
            fl->kind = FNET_POOL;
            fl->cout = chan;
            fl->pout = rot * ho * wo;
            fl->ntap = pp * pp;
            if (!(fl->idx = (int *)malloc(fl->pout * fl->ntap * sizeof(int)))) goto fail;
            for (r = 0; r < rot; ++r)
                for (i = 0; i < ho; ++i)
                    for (j = 0; j < wo; ++j) {
                        p = (r * ho + i) * wo + j;
                        k = 0;
                        for (a = 0; a < pp; ++a)
                            for (b = 0; b < pp; ++b)
                                fl->idx[p * fl->ntap + k++] = (int)((r * hh + i * pp + a) * ww + j * pp + b);
                    }
            hh = ho;
            ww = wo;
            break;
        }
        case ENTK_LAYER_FLATTEN:
            spatial = 0; /* the next dense takes every position as a tap */
            continue;
        default:
            goto fail;
        }
        if (fl->kind == FNET_LINEAR) {
            fl->alpha = al->sw / sqrt((double)(fl->cin * fl->ntap));
            fl->sb = al->sb;
            if (!(fl->w = (double *)malloc(fl->cout * fl->ntap * fl->cin * sizeof(double)))) goto fail;
            if (!(fl->b = (double *)malloc(fl->cout * sizeof(double)))) goto fail;
        }
        chan = fl->cout;
        pos = fl->pout;
        net->nlayers++;
    }
    return 0;
fail:
    net->nlayers++; /* free the partly built layer too */
    fnet_free(net);
    return -1;
}

/* Draw every weight and bias N(0,1) from a stream determined by seed. */
static inline void fnet_draw(fnet *net, uint64_t seed) {
    int l;
    size_t i;
    net->rng.s = seed * 0xD1B54A32D192ED03ull + 0x2545F4914F6CDD1Dull;
    net->have_spare = 0;
    for (l = 0; l < net->nlayers; ++l) {
        fnet_layer *fl = &net->layer[l];
        if (fl->kind != FNET_LINEAR) continue;
        for (i = 0; i < fl->cout * fl->ntap * fl->cin; ++i) fl->w[i] = fnet__normal(net);
        for (i = 0; i < fl->cout; ++i) fl->b[i] = fnet__normal(net);
    }
}

/* Number of parameters, and a pointer to parameter i (weights then bias, layer by layer). */
static inline size_t fnet_nparams(const fnet *net) {
    size_t n = 0;
    int l;
    for (l = 0; l < net->nlayers; ++l)
        if (net->layer[l].kind == FNET_LINEAR)
            n += net->layer[l].cout * (net->layer[l].ntap * net->layer[l].cin + 1);
    return n;
}
static inline double *fnet_param(fnet *net, size_t i) {
    int l;
    for (l = 0; l < net->nlayers; ++l) {
        fnet_layer *fl = &net->layer[l];
        size_t nw;
        if (fl->kind != FNET_LINEAR) continue;
        nw = fl->cout * fl->ntap * fl->cin;
        if (i < nw) return fl->w + i;
        i -= nw;
        if (i < fl->cout) return fl->b + i;
        i -= fl->cout;
    }
    return NULL;
}

/* Forward pass of N inputs x (N x C x H x W, channels first): f (N x nout). If ntk is not NULL, also
 * the empirical NTK of output 0 (N x N, row-major). Returns 0, or -1 when out of memory. */
static inline int fnet_eval(const fnet *net, const double *x, size_t N, double *f, double *ntk) {
    const int L = net->nlayers;
    double *act[ENTK_MAX_LAYERS + 1], *grad[ENTK_MAX_LAYERS + 1];
    double *col = NULL, *wt = NULL, *dmat = NULL, *hmat = NULL, *bsum = NULL;
    size_t colmax = 1, wtmax = 1, dmax = 1, hmax = 1, bmax = 1, n, p, c, k, i;
    int l, rc = -1;
    for (l = 0; l <= L; ++l) act[l] = grad[l] = NULL;
    for (l = 0; l < L; ++l) {
        const fnet_layer *fl = &net->layer[l];
        if (fl->kind != FNET_LINEAR) continue;
        if (N * fl->pout * fl->ntap * fl->cin > colmax) colmax = N * fl->pout * fl->ntap * fl->cin;
        if (FNET__CHUNK * fl->cout > wtmax) wtmax = FNET__CHUNK * fl->cout;
        if (N * fl->pout * N * fl->pout > dmax) dmax = N * fl->pout * N * fl->pout;
        if (N * fl->pin * N * fl->pin > hmax) hmax = N * fl->pin * N * fl->pin;
        if (N * fl->cout > bmax) bmax = N * fl->cout;
    }
    for (l = 0; l <= L; ++l) {
        const size_t sz = l == 0 ? N * net->pin * net->cin : N * net->layer[l - 1].pout * net->layer[l - 1].cout;
        if (!(act[l] = (double *)malloc((sz ? sz : 1) * sizeof(double)))) goto done;
        if (ntk && !(grad[l] = (double *)calloc(sz ? sz : 1, sizeof(double)))) goto done;
    }
    if (!(col = (double *)malloc(colmax * sizeof(double)))) goto done;
    if (ntk && (!(wt = (double *)malloc(wtmax * sizeof(double))) || !(dmat = (double *)malloc(dmax * sizeof(double))) ||
                !(hmat = (double *)malloc(hmax * sizeof(double))) || !(bsum = (double *)malloc(bmax * sizeof(double)))))
        goto done;

    /* input: channels first -> positions x channels */
    for (n = 0; n < N; ++n)
        for (c = 0; c < net->cin; ++c)
            for (p = 0; p < net->pin; ++p)
                act[0][(n * net->pin + p) * net->cin + c] = x[(n * net->cin + c) * net->pin + p];

    for (l = 0; l < L; ++l) {
        const fnet_layer *fl = &net->layer[l];
        const double *in = act[l];
        double *out = act[l + 1];
        if (fl->kind == FNET_LINEAR) {
            const size_t k2 = fl->ntap * fl->cin, m = N * fl->pout;
            size_t o;
            for (n = 0; n < N; ++n)
                for (p = 0; p < fl->pout; ++p)
                    for (k = 0; k < fl->ntap; ++k) {
                        const int src = fl->idx[p * fl->ntap + k];
                        double *dst = col + ((n * fl->pout + p) * fl->ntap + k) * fl->cin;
                        if (src < 0) memset(dst, 0, fl->cin * sizeof(double));
                        else memcpy(dst, in + (n * fl->pin + (size_t)src) * fl->cin, fl->cin * sizeof(double));
                    }
            fnet__gemm_nt(m, fl->cout, k2, col, k2, fl->w, k2, out, fl->cout);
            for (i = 0; i < m; ++i)
                for (o = 0; o < fl->cout; ++o)
                    out[i * fl->cout + o] = fl->alpha * out[i * fl->cout + o] + fl->sb * fl->b[o];
        } else if (fl->kind == FNET_POOL) {
            const double inv = 1.0 / (double)fl->ntap;
            for (n = 0; n < N; ++n)
                for (p = 0; p < fl->pout; ++p) {
                    double *dst = out + (n * fl->pout + p) * fl->cin;
                    for (c = 0; c < fl->cin; ++c) dst[c] = 0;
                    for (k = 0; k < fl->ntap; ++k) {
                        const double *src = in + (n * fl->pin + (size_t)fl->idx[p * fl->ntap + k]) * fl->cin;
                        for (c = 0; c < fl->cin; ++c) dst[c] += src[c];
                    }
                    for (c = 0; c < fl->cin; ++c) dst[c] *= inv;
                }
        } else {
            const size_t cnt = N * fl->pin * fl->cin;
            double d;
            for (i = 0; i < cnt; ++i) out[i] = fnet__phi(&fl->nl, in[i], &d);
        }
    }
    for (n = 0; n < N; ++n)
        for (k = 0; k < net->nout; ++k) f[n * net->nout + k] = act[L][n * net->nout + k];

    if (ntk) {
        memset(ntk, 0, N * N * sizeof(double));
        for (n = 0; n < N; ++n) grad[L][n * net->nout] = 1.0; /* d f_0 / d output */
        for (l = L - 1; l >= 0; --l) {
            const fnet_layer *fl = &net->layer[l];
            const double *g = grad[l + 1], *h = act[l];
            double *gin = grad[l];
            if (fl->kind == FNET_LINEAR) {
                const size_t mo = N * fl->pout, mi = N * fl->pin, k2 = fl->ntap * fl->cin;
                size_t a, b, o, pp;
                fnet__gemm_nt(mo, mo, fl->cout, g, fl->cout, g, fl->cout, dmat, mo);
                fnet__gemm_nt(mi, mi, fl->cin, h, fl->cin, h, fl->cin, hmat, mi);
                for (a = 0; a < N; ++a)
                    for (o = 0; o < fl->cout; ++o) {
                        double s = 0;
                        for (p = 0; p < fl->pout; ++p) s += g[(a * fl->pout + p) * fl->cout + o];
                        bsum[a * fl->cout + o] = s;
                    }
                for (a = 0; a < N; ++a)
                    for (b = 0; b < N; ++b) {
                        double sw = 0, sbias = 0;
                        for (k = 0; k < fl->ntap; ++k)
                            for (p = 0; p < fl->pout; ++p) {
                                const int i1 = fl->idx[p * fl->ntap + k];
                                const double *drow = dmat + (a * fl->pout + p) * mo + b * fl->pout;
                                const double *hrow;
                                if (i1 < 0) continue;
                                hrow = hmat + (a * fl->pin + (size_t)i1) * mi + b * fl->pin;
                                for (pp = 0; pp < fl->pout; ++pp) {
                                    const int i2 = fl->idx[pp * fl->ntap + k];
                                    if (i2 >= 0) sw += drow[pp] * hrow[i2];
                                }
                            }
                        for (o = 0; o < fl->cout; ++o) sbias += bsum[a * fl->cout + o] * bsum[b * fl->cout + o];
                        ntk[a * N + b] += fl->alpha * fl->alpha * sw + fl->sb * fl->sb * sbias;
                    }
                if (l > 0) { /* gradient w.r.t. this layer's input: alpha g W, scattered back */
                    fnet__gemm_nn(mo, k2, fl->cout, g, fl->cout, fl->w, k2, col, k2, wt);
                    memset(gin, 0, mi * fl->cin * sizeof(double));
                    for (n = 0; n < N; ++n)
                        for (p = 0; p < fl->pout; ++p)
                            for (k = 0; k < fl->ntap; ++k) {
                                const int src = fl->idx[p * fl->ntap + k];
                                const double *dc = col + ((n * fl->pout + p) * fl->ntap + k) * fl->cin;
                                double *dst;
                                if (src < 0) continue;
                                dst = gin + (n * fl->pin + (size_t)src) * fl->cin;
                                for (c = 0; c < fl->cin; ++c) dst[c] += fl->alpha * dc[c];
                            }
                }
            } else if (fl->kind == FNET_POOL) {
                const double inv = 1.0 / (double)fl->ntap;
                memset(gin, 0, N * fl->pin * fl->cin * sizeof(double));
                for (n = 0; n < N; ++n)
                    for (p = 0; p < fl->pout; ++p)
                        for (k = 0; k < fl->ntap; ++k) {
                            double *dst = gin + (n * fl->pin + (size_t)fl->idx[p * fl->ntap + k]) * fl->cin;
                            const double *src = g + (n * fl->pout + p) * fl->cin;
                            for (c = 0; c < fl->cin; ++c) dst[c] += inv * src[c];
                        }
            } else {
                const size_t cnt = N * fl->pin * fl->cin;
                double d;
                for (i = 0; i < cnt; ++i) {
                    fnet__phi(&fl->nl, h[i], &d);
                    gin[i] = g[i] * d;
                }
            }
        }
    }
    rc = 0;
done:
    for (l = 0; l <= L; ++l) { free(act[l]); free(grad[l]); }
    free(col); free(wt); free(dmat); free(hmat); free(bsum);
    return rc;
}

/* Monte-Carlo kernels of a width-`width` network with `nout` readout units over `seeds` draws
 * (seed0, seed0 + 1, ...): nngp = mean of (1/nout) sum_j f_j(x_a) f_j(x_b), ntk = mean empirical NTK
 * of output 0 (either may be NULL). x is N x C x H x W. Returns 0, or -1 (unsupported, no memory). */
static inline int fnet_mc(const entk_arch *arch, const double *x, size_t N, size_t C, size_t H, size_t W,
                          size_t width, size_t nout, int seeds, uint64_t seed0, double *nngp, double *ntk) {
    fnet net;
    double *f = NULL, *t = NULL;
    size_t a, b, j;
    int s, rc = -1;
    if (seeds < 1 || fnet_build(&net, arch, C, H, W, width, nout)) return -1;
    if (!(f = (double *)malloc(N * nout * sizeof(double))) || !(t = (double *)malloc(N * N * sizeof(double))))
        goto done;
    if (nngp) memset(nngp, 0, N * N * sizeof(double));
    if (ntk) memset(ntk, 0, N * N * sizeof(double));
    for (s = 0; s < seeds; ++s) {
        fnet_draw(&net, seed0 + (uint64_t)s);
        if (fnet_eval(&net, x, N, f, ntk ? t : NULL)) goto done;
        for (a = 0; a < N; ++a)
            for (b = 0; b < N; ++b) {
                if (nngp) {
                    double acc = 0;
                    for (j = 0; j < nout; ++j) acc += f[a * nout + j] * f[b * nout + j];
                    nngp[a * N + b] += acc / (double)nout / (double)seeds;
                }
                if (ntk) ntk[a * N + b] += t[a * N + b] / (double)seeds;
            }
    }
    rc = 0;
done:
    free(f);
    free(t);
    fnet_free(&net);
    return rc;
}

/* The independent check of fnet_eval's NTK: J J^T of output 0 over the N inputs x (jj, N x N), with J
 * by central differences (step 1e-5) over every parameter of the drawn network. Returns 0, or -1 (no
 * memory, evaluation failed). */
static inline int fnet_fd_ntk(fnet *net, const double *x, size_t N, double *jj) {
    const double e = 1e-5;
    size_t i, p, q, np = fnet_nparams(net), nout = net->nout;
    double *g = (double *)malloc((np ? np : 1) * N * sizeof(double));
    double *fp = (double *)malloc(N * nout * sizeof(double)), *fm = (double *)malloc(N * nout * sizeof(double));
    int rc = -1;
    if (!g || !fp || !fm) goto done;
    for (i = 0; i < np; ++i) {
        double *w = fnet_param(net, i), v = *w;
        *w = v + e;
        if (fnet_eval(net, x, N, fp, NULL)) goto done;
        *w = v - e;
        if (fnet_eval(net, x, N, fm, NULL)) goto done;
        *w = v;
        for (p = 0; p < N; ++p) g[i * N + p] = (fp[p * nout] - fm[p * nout]) / (2 * e);
    }
    memset(jj, 0, N * N * sizeof(double));
    for (i = 0; i < np; ++i)
        for (p = 0; p < N; ++p)
            for (q = 0; q < N; ++q) jj[p * N + q] += g[i * N + p] * g[i * N + q];
    rc = 0;
done:
    free(g);
    free(fp);
    free(fm);
    return rc;
}

#endif /* ENTK_FINITE_NET_H */
