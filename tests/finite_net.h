/* finite_net.h - finite-width networks in entk's NTK parametrisation (docs/conventions.md §1, §4), used only by the
 * tests and examples: Monte-Carlo checks of the analytic kernels, and training by full-batch gradient
 * descent (fnet_train, fnet_train_ensemble). Header-only, all functions static. It needs entk's
 * implementation in the same translation unit (it calls the packed GEMM entk__gemm, entk.h 9.6):
 * include it after entk.h with ENTK_IMPLEMENTATION; a test binary, which also links tests/impl.c,
 * defines ENTK_STATIC too.
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
 * Training: the loss L = 1/(2 N k) sum_{n,j} (f_j(x_n) - y_nj)^2 over N inputs and k = nout outputs
 * (the normalisation of docs/conventions.md §3, so that eta and `steps` gradient-descent steps are the
 * kernel predictors' lr and t); its gradient by the same delta backpropagation, with per linear layer
 *   dL/dW[o][k][c] = alpha sum_{n,p} delta(n,p,o) h(n, idx(p,k), c),   dL/db[o] = sb sum_{n,p} delta(n,p,o).
 * Every product of a linear layer (forward, input delta, weight gradient) goes through entk's packed
 * GEMM, one call per im2col block (below); the tests check the gradient against central differences.
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

#if !defined(ENTK_IMPLEMENTATION_DONE)
#error "finite_net.h uses entk's packed GEMM (entk__gemm, entk.h 9.6): include it after the implementation (#define ENTK_IMPLEMENTATION; test binaries, which also link tests/impl.c, add ENTK_STATIC)"
#endif

enum { FNET_LINEAR = 0, FNET_POOL = 1, FNET_NONLIN = 2 };

#ifndef FNET_COLCAP
#define FNET_COLCAP ((size_t)1 << 17) /* doubles per im2col block (1 MB), the default of fnet.colcap */
#endif

typedef struct fnet_layer {
    int kind;
    size_t cin, pin, cout, pout, ntap;
    int *idx;           /* pout x ntap input positions (linear, pool); -1 = zero padding */
    double alpha, sb;   /* linear */
    double *w, *b;      /* linear: cout x (ntap cin), tap-major columns; cout */
    entk_nonlin nl;     /* nonlin */
    int ident;          /* linear with one output position and tap k = input position k (dense) */
} fnet_layer;

typedef struct fnet {
    int nlayers;
    fnet_layer layer[ENTK_MAX_LAYERS];
    size_t cin, pin, nout;
    size_t colcap; /* doubles per im2col block (fnet_build: FNET_COLCAP); change it only between passes */
    tu_rng rng;
    int have_spare;
    double spare;
} fnet;

/* ---- random numbers: testutil.h's splitmix64 and Box-Muller (both values used) ---- */
static inline double fnet__normal(fnet *net) { return tu_normal_pair(&net->rng, &net->spare, &net->have_spare); }

/* ---- nonlinearities: phi(x), and phi'(x) into *d ---- */
static inline double fnet__phi(const entk_nonlin *nl, double x, double *d) { return tu_phi(nl, x, d); }

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
    net->colcap = FNET_COLCAP;
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
            fl->ident = 1;
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

/* ---- workspace, forward and backward passes ------------------------------------------------------
 * Every product of a linear layer goes through entk's packed GEMM (entk__gemm, entk.h 9.6), on im2col
 * blocks of at most net->colcap doubles (a few inputs at a time, so memory stays bounded for any N; default
 * FNET_COLCAP; the block size changes results only by rounding, in the order of the weight gradient's sum):
 *   forward        out  = alpha col W^T + sb b      (rows N pout, k = ntap cin)
 *   input delta    dcol = alpha g W, scattered back onto the input positions (k = cout)
 *   weight grad    dW  += alpha g^T col             (k = the block's rows)
 * Dense layers (one output position, every input position a tap) use the activations as col. */

typedef struct fnet_work {
    size_t N;
    double *act[ENTK_MAX_LAYERS + 1]; /* act[l] enters layer l (positions x channels); act[L] = outputs */
    double *g[2];                     /* deltas d(.)/d(layer output), alternately in and out */
    double *col, *gws;                /* im2col block; entk__gemm workspace */
} fnet_work;

/* Inputs per im2col block of linear layer fl. */
static inline size_t fnet__block(const fnet_layer *fl, size_t N, size_t colcap) {
    const size_t per = fl->pout * fl->ntap * fl->cin, nb = per ? colcap / per : N;
    return nb < 1 ? 1 : nb > N ? N : nb;
}

static inline void fnet_work_free(fnet_work *w) {
    int l;
    for (l = 0; l <= ENTK_MAX_LAYERS; ++l) { free(w->act[l]); w->act[l] = NULL; }
    free(w->g[0]); free(w->g[1]); free(w->col); free(w->gws);
    w->g[0] = w->g[1] = w->col = w->gws = NULL;
}

/* Buffers for passes over N inputs. Returns 0, or -1 without memory. */
static inline int fnet_work_alloc(fnet_work *w, const fnet *net, size_t N) {
    size_t gmax = 1, colmax = 1, nmax = 1, sz;
    int l;
    memset(w, 0, sizeof *w);
    w->N = N;
    for (l = 0; l <= net->nlayers; ++l) {
        sz = l == 0 ? N * net->pin * net->cin : N * net->layer[l - 1].pout * net->layer[l - 1].cout;
        if (sz > gmax) gmax = sz;
        if (!(w->act[l] = (double *)malloc((sz ? sz : 1) * sizeof(double)))) goto fail;
    }
    for (l = 0; l < net->nlayers; ++l) {
        const fnet_layer *fl = &net->layer[l];
        const size_t k2 = fl->ntap * fl->cin;
        if (fl->kind != FNET_LINEAR) continue;
        sz = fnet__block(fl, N, net->colcap) * fl->pout * k2;
        if (!fl->ident && sz > colmax) colmax = sz;
        if (fl->cout > nmax) nmax = fl->cout;
        if (k2 > nmax) nmax = k2;
    }
    if (!(w->g[0] = (double *)malloc(gmax * sizeof(double))) || !(w->g[1] = (double *)malloc(gmax * sizeof(double))) ||
        !(w->col = (double *)malloc(colmax * sizeof(double))) ||
        !(w->gws = (double *)malloc(entk__gemm_ws_doubles(nmax) * sizeof(double))))
        goto fail;
    return 0;
fail:
    fnet_work_free(w);
    return -1;
}

/* col (nb pout x ntap cin) <- the taps of nb consecutive inputs in (nb x pin x cin); 0 for padding. */
static inline void fnet__im2col(const fnet_layer *fl, const double *in, size_t nb, double *col) {
    size_t n, p, k;
    for (n = 0; n < nb; ++n)
        for (p = 0; p < fl->pout; ++p)
            for (k = 0; k < fl->ntap; ++k) {
                const int src = fl->idx[p * fl->ntap + k];
                double *dst = col + ((n * fl->pout + p) * fl->ntap + k) * fl->cin;
                if (src < 0) memset(dst, 0, fl->cin * sizeof(double));
                else memcpy(dst, in + (n * fl->pin + (size_t)src) * fl->cin, fl->cin * sizeof(double));
            }
}

/* Forward pass of w->N inputs x (N x C x H x W, channels first) into w->act. */
static inline void fnet__forward(const fnet *net, fnet_work *w, const double *x) {
    const size_t N = w->N;
    size_t n, p, c, k, i;
    int l;
    for (n = 0; n < N; ++n) /* channels first -> positions x channels */
        for (c = 0; c < net->cin; ++c)
            for (p = 0; p < net->pin; ++p)
                w->act[0][(n * net->pin + p) * net->cin + c] = x[(n * net->cin + c) * net->pin + p];
    for (l = 0; l < net->nlayers; ++l) {
        const fnet_layer *fl = &net->layer[l];
        const double *in = w->act[l];
        double *out = w->act[l + 1];
        if (fl->kind == FNET_LINEAR) {
            const size_t k2 = fl->ntap * fl->cin, nb = fnet__block(fl, N, net->colcap);
            size_t o;
            memset(out, 0, N * fl->pout * fl->cout * sizeof(double));
            for (n = 0; n < N; n += nb) {
                const size_t m = (n + nb <= N ? nb : N - n);
                const double *h = in + n * fl->pin * fl->cin, *col = h;
                if (!fl->ident) { fnet__im2col(fl, h, m, w->col); col = w->col; }
                entk__gemm(m * fl->pout, fl->cout, k2, fl->alpha, col, k2, 1, fl->w, 1, k2,
                           out + n * fl->pout * fl->cout, fl->cout, 0, w->gws);
            }
            for (i = 0; i < N * fl->pout; ++i)
                for (o = 0; o < fl->cout; ++o) out[i * fl->cout + o] += fl->sb * fl->b[o];
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
}

/* Backward through layer l after fnet__forward: from g = d(.)/d(output of l) (N x pout x cout), the
 * delta of its input into gin (N x pin x cin; NULL: not wanted) and, for a linear layer, the gradient
 * of its weights and bias into dw (cout x ntap cin) and db (cout) (NULL: not wanted). */
static inline void fnet__backward_layer(const fnet *net, int l, fnet_work *w, const double *g, double *gin,
                                        double *dw, double *db) {
    const fnet_layer *fl = &net->layer[l];
    const double *h = w->act[l];
    const size_t N = w->N;
    size_t n, p, c, k, i;
    if (fl->kind == FNET_LINEAR) {
        const size_t k2 = fl->ntap * fl->cin, nb = fnet__block(fl, N, net->colcap);
        size_t o;
        if (dw) memset(dw, 0, fl->cout * k2 * sizeof(double));
        if (gin) memset(gin, 0, N * fl->pin * fl->cin * sizeof(double));
        for (n = 0; n < N; n += nb) {
            const size_t m = (n + nb <= N ? nb : N - n), rows = m * fl->pout;
            const double *gb = g + n * fl->pout * fl->cout, *hb = h + n * fl->pin * fl->cin, *col = hb;
            double *gi = gin ? gin + n * fl->pin * fl->cin : NULL;
            if (dw) {
                if (!fl->ident) { fnet__im2col(fl, hb, m, w->col); col = w->col; }
                entk__gemm(fl->cout, k2, rows, fl->alpha, gb, 1, fl->cout, col, k2, 1, dw, k2, 0, w->gws);
            }
            if (!gi) continue;
            if (fl->ident) { /* the taps are the input itself */
                entk__gemm(rows, k2, fl->cout, fl->alpha, gb, fl->cout, 1, fl->w, k2, 1, gi, k2, 0, w->gws);
                continue;
            }
            memset(w->col, 0, rows * k2 * sizeof(double));
            entk__gemm(rows, k2, fl->cout, fl->alpha, gb, fl->cout, 1, fl->w, k2, 1, w->col, k2, 0, w->gws);
            for (i = 0; i < m; ++i)
                for (p = 0; p < fl->pout; ++p)
                    for (k = 0; k < fl->ntap; ++k) {
                        const int src = fl->idx[p * fl->ntap + k];
                        const double *dc = w->col + ((i * fl->pout + p) * fl->ntap + k) * fl->cin;
                        double *dst;
                        if (src < 0) continue;
                        dst = gi + (i * fl->pin + (size_t)src) * fl->cin;
                        for (c = 0; c < fl->cin; ++c) dst[c] += dc[c];
                    }
        }
        if (db) {
            for (o = 0; o < fl->cout; ++o) db[o] = 0;
            for (i = 0; i < N * fl->pout; ++i)
                for (o = 0; o < fl->cout; ++o) db[o] += g[i * fl->cout + o];
            for (o = 0; o < fl->cout; ++o) db[o] *= fl->sb;
        }
    } else if (!gin) {
        return;
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

/* Forward pass, the loss L = 1/(2 N k) sum (f - y)^2 (k = nout, y N x k) into *loss, and, if grad is
 * not NULL, its gradient w.r.t. every parameter (fnet_param's order) by one backward pass. */
static inline void fnet__loss_grad(const fnet *net, fnet_work *w, const double *x, const double *y,
                                   double *grad, double *loss) {
    const size_t N = w->N, k = net->nout, nk = N * k;
    const double *f = w->act[net->nlayers];
    double s = 0, *gout = w->g[0];
    size_t i, off;
    int l, cur = 0;
    fnet__forward(net, w, x);
    for (i = 0; i < nk; ++i) {
        const double r = f[i] - y[i];
        s += r * r;
        gout[i] = r / (double)nk;
    }
    *loss = s / (2.0 * (double)nk);
    if (!grad) return;
    off = fnet_nparams(net);
    for (l = net->nlayers - 1; l >= 0; --l) {
        const fnet_layer *fl = &net->layer[l];
        double *dw = NULL, *db = NULL;
        if (fl->kind == FNET_LINEAR) { /* parameters are stored layer by layer: walk them from the end */
            off -= fl->cout * (fl->ntap * fl->cin + 1);
            dw = grad + off;
            db = dw + fl->cout * fl->ntap * fl->cin;
        }
        fnet__backward_layer(net, l, w, w->g[cur], l > 0 ? w->g[1 - cur] : NULL, dw, db);
        cur = 1 - cur;
    }
}

/* The loss L = 1/(2 N k) sum_{n,j} (f_j(x_n) - y_nj)^2 of the N inputs x (N x C x H x W) with targets y
 * (N x k, k = nout) into *loss, and its gradient w.r.t. every parameter into grad (fnet_nparams
 * values in fnet_param's order; NULL: the loss only). Returns 0, or -1 (k != nout, no memory). */
static inline int fnet_loss_grad(const fnet *net, const double *x, size_t N, const double *y, size_t k,
                                 double *grad, double *loss) {
    fnet_work w;
    if (k != net->nout || fnet_work_alloc(&w, net, N)) return -1;
    fnet__loss_grad(net, &w, x, y, grad, loss);
    fnet_work_free(&w);
    return 0;
}

/* Called by fnet_train at every step s = 0..steps with the weights after s updates and their loss;
 * a nonzero return stops the training. */
typedef int (*fnet_step_fn)(const fnet *net, int step, double loss, void *user);

/* Full-batch gradient descent theta <- theta - eta dL/dtheta on L = 1/(2 N k) sum (f - y)^2 for `steps`
 * steps: in the NTK parametrisation this is what the kernel predictors describe with lr = eta and
 * t = steps (docs/conventions.md §3, time scale c = eta t / (N k)). x: N x C x H x W, y: N x k (k =
 * nout). loss: steps + 1 values, the loss after 0..steps updates (NULL: not wanted); cb (may be NULL)
 * as fnet_step_fn. Deterministic: the same network, data and steps give the same bits (on one SIMD
 * path). Returns 0, 1 when cb stopped it, or -1 (k != nout, eta not finite, steps < 0, no memory). */
static inline int fnet_train(fnet *net, const double *x, size_t N, const double *y, size_t k, double eta,
                             int steps, double *loss, fnet_step_fn cb, void *user) {
    const size_t np = fnet_nparams(net);
    double *grad, lo;
    fnet_work w;
    size_t i;
    int s, l, rc = 0;
    if (k != net->nout || !(eta == eta && fabs(eta) < INFINITY) || steps < 0) return -1;
    if (!(grad = (double *)malloc((np ? np : 1) * sizeof(double)))) return -1;
    if (fnet_work_alloc(&w, net, N)) { free(grad); return -1; }
    for (s = 0; s <= steps; ++s) {
        const double *gp = grad;
        fnet__loss_grad(net, &w, x, y, s < steps ? grad : NULL, &lo);
        if (loss) loss[s] = lo;
        if (cb && cb(net, s, lo, user)) { rc = 1; break; }
        if (s == steps) break;
        for (l = 0; l < net->nlayers; ++l) {
            fnet_layer *fl = &net->layer[l];
            const size_t nw = fl->cout * fl->ntap * fl->cin;
            if (fl->kind != FNET_LINEAR) continue;
            for (i = 0; i < nw; ++i) fl->w[i] -= eta * gp[i];
            for (i = 0; i < fl->cout; ++i) fl->b[i] -= eta * gp[nw + i];
            gp += nw + fl->cout;
        }
    }
    fnet_work_free(&w);
    free(grad);
    return rc;
}

/* Forward pass of N inputs x (N x C x H x W, channels first): f (N x nout). If ntk is not NULL, also
 * the empirical NTK of output 0 (N x N, row-major). Returns 0, or -1 when out of memory. */
static inline int fnet_eval(const fnet *net, const double *x, size_t N, double *f, double *ntk) {
    const int L = net->nlayers;
    fnet_work w;
    double *dmat = NULL, *hmat = NULL, *bsum = NULL;
    size_t dmax = 1, hmax = 1, bmax = 1, n, p, k;
    int l, cur = 0, rc = -1;
    if (fnet_work_alloc(&w, net, N)) return -1;
    for (l = 0; l < L; ++l) {
        const fnet_layer *fl = &net->layer[l];
        if (fl->kind != FNET_LINEAR) continue;
        if (N * fl->pout * N * fl->pout > dmax) dmax = N * fl->pout * N * fl->pout;
        if (N * fl->pin * N * fl->pin > hmax) hmax = N * fl->pin * N * fl->pin;
        if (N * fl->cout > bmax) bmax = N * fl->cout;
    }
    if (ntk && (!(dmat = (double *)malloc(dmax * sizeof(double))) || !(hmat = (double *)malloc(hmax * sizeof(double))) ||
                !(bsum = (double *)malloc(bmax * sizeof(double)))))
        goto done;
    fnet__forward(net, &w, x);
    memcpy(f, w.act[L], N * net->nout * sizeof(double));

    if (ntk) {
        memset(ntk, 0, N * N * sizeof(double));
        memset(w.g[0], 0, N * net->nout * sizeof(double));
        for (n = 0; n < N; ++n) w.g[0][n * net->nout] = 1.0; /* d f_0 / d output */
        for (l = L - 1; l >= 0; --l, cur = 1 - cur) {
            const fnet_layer *fl = &net->layer[l];
            const double *g = w.g[cur], *h = w.act[l];
            if (fl->kind == FNET_LINEAR) {
                const size_t mo = N * fl->pout, mi = N * fl->pin;
                size_t a, b, o, pp;
                memset(dmat, 0, mo * mo * sizeof(double));
                memset(hmat, 0, mi * mi * sizeof(double));
                if (entk__gemm(mo, mo, fl->cout, 1.0, g, fl->cout, 1, g, 1, fl->cout, dmat, mo, 0, NULL) ||
                    entk__gemm(mi, mi, fl->cin, 1.0, h, fl->cin, 1, h, 1, fl->cin, hmat, mi, 0, NULL))
                    goto done;
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
            }
            if (l > 0) fnet__backward_layer(net, l, &w, g, w.g[1 - cur], NULL, NULL);
        }
    }
    rc = 0;
done:
    fnet_work_free(&w);
    free(dmat); free(hmat); free(bsum);
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

/* An ensemble of M networks of one architecture (fnet_build's arguments), seeds s0, ..., s0 + M - 1,
 * each trained by fnet_train(eta, steps) on (x, y) (N x C x H x W, N x k). Writes, member m at offset
 * m: its outputs on the Ne inputs xe before training into f0 (M x Ne x k) and after into ft (M x Ne x
 * k), and its losses into loss (M x (steps + 1)); any of them may be NULL. OpenMP threads take whole
 * members, and every member's computation is independent of the others and of the thread, so the
 * results are bit for bit those of one thread. Returns 0, or -1 (unsupported architecture, k != nout,
 * no memory: the outputs are then incomplete). */
static inline int fnet_train_ensemble(const entk_arch *arch, size_t C, size_t H, size_t W, size_t width,
                                      const double *x, size_t N, const double *y, size_t k, double eta,
                                      int steps, int M, uint64_t s0, const double *xe, size_t Ne, double *f0,
                                      double *ft, double *loss) {
    int m, bad = 0;
    if (M < 0 || steps < 0) return -1;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : bad)
    for (m = 0; m < M; ++m) {
        fnet net;
        const size_t off = (size_t)m * Ne * k;
        if (fnet_build(&net, arch, C, H, W, width, k)) { bad = 1; continue; }
        fnet_draw(&net, s0 + (uint64_t)m);
        if ((f0 && Ne && fnet_eval(&net, xe, Ne, f0 + off, NULL)) ||
            fnet_train(&net, x, N, y, k, eta, steps, loss ? loss + (size_t)m * (size_t)(steps + 1) : NULL, NULL,
                       NULL) ||
            (ft && Ne && fnet_eval(&net, xe, Ne, ft + off, NULL)))
            bad = 1;
        fnet_free(&net);
    }
    return bad ? -1 : 0;
}

#endif /* ENTK_FINITE_NET_H */
