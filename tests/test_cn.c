/* entk_cn.h: window sums, CNN and C_n / D_n GCNN kernels against brute-force references written here
 * straight from docs/conventions.md §1.3-§1.4 on the full (|G| P) x (|G| P) domain, the symmetry reduction, invariances,
 * orbit averages (docs/conventions.md §2), Gram-matrix plumbing and errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include "testutil.h"
#include "entk_cn.h"

/* ============================================================================================== */
/* Reference: the test's own group convention and full-domain kernels                             */
/* ============================================================================================== */

/* group element g = r + n m, rho(g) = R^(4r/n) F^m, R = [[0,-1],[1,0]], F = [[1,0],[0,-1]] */
static void ref_matmul(const int a[4], const int b[4], int c[4]) {
    c[0] = a[0] * b[0] + a[1] * b[2]; c[1] = a[0] * b[1] + a[1] * b[3];
    c[2] = a[2] * b[0] + a[3] * b[2]; c[3] = a[2] * b[1] + a[3] * b[3];
}
static void ref_rho(int n, int g, int m[4]) {
    static const int R[4] = {0, -1, 1, 0}, F[4] = {1, 0, 0, -1};
    int r = g % n, mir = g / n, k, t[4];
    m[0] = 1; m[1] = 0; m[2] = 0; m[3] = 1;
    for (k = 0; k < r * (4 / n); ++k) { ref_matmul(m, R, t); memcpy(m, t, sizeof t); }
    if (mir) { ref_matmul(m, F, t); memcpy(m, t, sizeof t); }
}
static int ref_gmul(int n, int a, int b) {
    int ra = a % n, ma = a / n, rb = b % n, mb = b / n;
    int r = ((ra + (ma ? -rb : rb)) % n + n) % n;
    return r + n * (ma ^ mb);
}

/* sample index along an axis of size N: output o, offset d, half window h; -1 = zero padding */
static long ref_ax(long o, long d, long N, int h, entk_pad pad) {
    if (pad == ENTK_PAD_VALID) return o + h + d;
    if (pad == ENTK_PAD_SAME) return (o + d >= 0 && o + d < N) ? o + d : -1;
    return ((o + d) % N + N) % N;
}

/* Kernel state on the full domain: element (g, i, j) -> index (g h + i) w + j; K is D x D. */
typedef struct { int ng, n; size_t h, w; double *k, *t; } ref_st;
static size_t ref_D(const ref_st *s) { return (size_t)s->ng * s->h * s->w; }

static void ref_free(ref_st *s) { free(s->k); free(s->t); s->k = s->t = NULL; }

/* lift / conv / gconv from docs/conventions.md §1.4 with the group product; gconv sums over the support S. */
static void ref_linear(ref_st *s, const entk_layer *ly, int first) {
    const int hq = (ly->q - 1) / 2, q = ly->q;
    const int lift = ly->kind != ENTK_LAYER_GCONV;
    const int nout = ly->kind == ENTK_LAYER_LIFT ? ly->n * (1 + ly->flip) : s->ng;
    const int nn = ly->kind == ENTK_LAYER_LIFT ? ly->n : s->n;
    const int ns = lift ? 1 : (ly->support == ENTK_SUPPORT_ID ? 1 : s->ng);
    const size_t ho = ly->pad == ENTK_PAD_VALID ? s->h - q + 1 : s->h;
    const size_t wo = ly->pad == ENTK_PAD_VALID ? s->w - q + 1 : s->w;
    const size_t Din = ref_D(s), Po = ho * wo, Do = (size_t)nout * Po;
    double *k = calloc(Do * Do, sizeof *k), *t = calloc(Do * Do, sizeof *t);
    const double cw = ly->sw * ly->sw / (ns * q * q), b2 = ly->sb * ly->sb;
    size_t A, B;
    for (A = 0; A < Do; ++A)
        for (B = 0; B < Do; ++B) {
            const int g1 = (int)(A / Po), g2 = (int)(B / Po);
            const long i1 = (long)((A % Po) / wo), j1 = (long)(A % wo), i2 = (long)((B % Po) / wo), j2 = (long)(B % wo);
            int r1[4], r2[4], si, a, b;
            double sk = 0, st = 0;
            ref_rho(nn, lift ? g1 : g1, r1);
            ref_rho(nn, g2, r2);
            if (ly->kind == ENTK_LAYER_CONV) { ref_rho(1, 0, r1); ref_rho(1, 0, r2); }
            for (si = 0; si < ns; ++si)
                for (a = -hq; a <= hq; ++a)
                    for (b = -hq; b <= hq; ++b) {
                        long p0 = ref_ax(i1, r1[0] * a + r1[1] * b, (long)s->h, hq, ly->pad);
                        long p1 = ref_ax(j1, r1[2] * a + r1[3] * b, (long)s->w, hq, ly->pad);
                        long p2 = ref_ax(i2, r2[0] * a + r2[1] * b, (long)s->h, hq, ly->pad);
                        long p3 = ref_ax(j2, r2[2] * a + r2[3] * b, (long)s->w, hq, ly->pad);
                        int h1 = 0, h2 = 0;
                        size_t u, v;
                        if (p0 < 0 || p1 < 0 || p2 < 0 || p3 < 0) continue;
                        if (!lift) {
                            int sg = ly->support == ENTK_SUPPORT_ID ? 0 : si;
                            h1 = ref_gmul(s->n, g1, sg);
                            h2 = ref_gmul(s->n, g2, sg);
                        }
                        u = ((size_t)h1 * s->h + (size_t)p0) * s->w + (size_t)p1;
                        v = ((size_t)h2 * s->h + (size_t)p2) * s->w + (size_t)p3;
                        sk += s->k[u * Din + v];
                        if (!first) st += s->t[u * Din + v];
                    }
            k[A * Do + B] = cw * sk + b2;
            t[A * Do + B] = first ? k[A * Do + B] : k[A * Do + B] + cw * st;
        }
    ref_free(s);
    s->k = k; s->t = t; s->ng = nout; s->n = nn; s->h = ho; s->w = wo;
}

static void ref_avgpool(ref_st *s, int p) {
    const size_t ho = s->h / p, wo = s->w / p, Po = ho * wo, Do = (size_t)s->ng * Po, Din = ref_D(s);
    double *k = calloc(Do * Do, sizeof *k), *t = calloc(Do * Do, sizeof *t);
    size_t A, B;
    for (A = 0; A < Do; ++A)
        for (B = 0; B < Do; ++B) {
            const size_t g1 = A / Po, g2 = B / Po, i1 = (A % Po) / wo, j1 = A % wo, i2 = (B % Po) / wo, j2 = B % wo;
            int a, b, c, d;
            for (a = 0; a < p; ++a) for (b = 0; b < p; ++b) for (c = 0; c < p; ++c) for (d = 0; d < p; ++d) {
                size_t u = (g1 * s->h + i1 * p + a) * s->w + j1 * p + b;
                size_t v = (g2 * s->h + i2 * p + c) * s->w + j2 * p + d;
                k[A * Do + B] += s->k[u * Din + v] / (p * p * p * p);
                t[A * Do + B] += s->t[u * Din + v] / (p * p * p * p);
            }
        }
    ref_free(s);
    s->k = k; s->t = t; s->h = ho; s->w = wo;
}

static void ref_rotpool(ref_st *s) {
    const size_t P = s->h * s->w, Din = ref_D(s);
    double *k = calloc(P * P, sizeof *k), *t = calloc(P * P, sizeof *t);
    size_t A, B;
    int g1, g2;
    for (A = 0; A < P; ++A)
        for (B = 0; B < P; ++B)
            for (g1 = 0; g1 < s->ng; ++g1)
                for (g2 = 0; g2 < s->ng; ++g2) {
                    k[A * P + B] += s->k[(g1 * P + A) * Din + g2 * P + B] / (s->ng * s->ng);
                    t[A * P + B] += s->t[(g1 * P + A) * Din + g2 * P + B] / (s->ng * s->ng);
                }
    ref_free(s);
    s->k = k; s->t = t; s->ng = 1; s->n = 1;
}

/* The full network on a pair: propagates the three states (x1,x1), (x2,x2), (x1,x2) in lockstep. */
static void ref_kernel(const entk_arch *arch, const double *x1, const double *x2, size_t C, size_t H,
                       size_t W, double *kout, double *tout) {
    ref_st s[3];
    const double *xa[3] = {x1, x2, x1}, *xb[3] = {x1, x2, x2};
    double sk[3], stt[3];
    const size_t P = H * W;
    int l, z, red = 0;
    for (z = 0; z < 3; ++z) {
        size_t a, b, c;
        s[z].ng = 1; s[z].n = 1; s[z].h = H; s[z].w = W;
        s[z].k = calloc(P * P, sizeof(double));
        s[z].t = calloc(P * P, sizeof(double));
        for (a = 0; a < P; ++a)
            for (b = 0; b < P; ++b) {
                for (c = 0; c < C; ++c) s[z].k[a * P + b] += xa[z][c * P + a] * xb[z][c * P + b];
                s[z].k[a * P + b] /= (double)C;
            }
    }
    for (l = 0; l < arch->n_layers && !red; ++l) {
        const entk_layer *ly = &arch->layer[l];
        switch (ly->kind) {
        case ENTK_LAYER_CONV: case ENTK_LAYER_LIFT: case ENTK_LAYER_GCONV:
            for (z = 0; z < 3; ++z) ref_linear(&s[z], ly, l == 0);
            break;
        case ENTK_LAYER_NONLIN: {
            const size_t D = ref_D(&s[0]);
            double *d1 = malloc(D * sizeof(double)), *d2 = malloc(D * sizeof(double));
            size_t A, B;
            for (A = 0; A < D; ++A) { d1[A] = s[0].k[A * D + A]; d2[A] = s[1].k[A * D + A]; }
            for (z = 0; z < 3; ++z) {
                const double *ea = z == 1 ? d2 : d1, *eb = z == 0 ? d1 : d2;
                for (A = 0; A < D; ++A)
                    for (B = 0; B < D; ++B) {
                        double *kp = &s[z].k[A * D + B], *tp = &s[z].t[A * D + B];
                        cr_assert_eq(entk_nonlin_map(&ly->nl, 1, &ea[A], 0, &eb[B], 0, kp, tp, kp, tp), ENTK_OK);
                    }
            }
            free(d1); free(d2);
            break;
        }
        case ENTK_LAYER_AVGPOOL: for (z = 0; z < 3; ++z) ref_avgpool(&s[z], ly->p); break;
        case ENTK_LAYER_ROTPOOL: for (z = 0; z < 3; ++z) ref_rotpool(&s[z]); break;
        case ENTK_LAYER_GAP: case ENTK_LAYER_GPOOL: case ENTK_LAYER_FLATTEN:
            for (z = 0; z < 3; ++z) {
                const size_t D = ref_D(&s[z]);
                size_t A, B;
                sk[z] = stt[z] = 0;
                if (ly->kind == ENTK_LAYER_FLATTEN) {
                    for (A = 0; A < D; ++A) { sk[z] += s[z].k[A * D + A] / D; stt[z] += s[z].t[A * D + A] / D; }
                } else {
                    for (A = 0; A < D; ++A)
                        for (B = 0; B < D; ++B) {
                            sk[z] += s[z].k[A * D + B] / ((double)D * D);
                            stt[z] += s[z].t[A * D + B] / ((double)D * D);
                        }
                }
            }
            red = 1;
            break;
        default: cr_assert_fail("reference: unexpected layer");
        }
    }
    for (; l < arch->n_layers; ++l) { /* scalar layers */
        const entk_layer *ly = &arch->layer[l];
        if (ly->kind == ENTK_LAYER_DENSE) {
            for (z = 0; z < 3; ++z) {
                sk[z] = ly->sw * ly->sw * sk[z] + ly->sb * ly->sb;
                stt[z] = sk[z] + ly->sw * ly->sw * stt[z];
            }
        } else {
            double a = sk[0], b = sk[1];
            const double ea[3] = {a, b, a}, eb[3] = {a, b, b};
            for (z = 0; z < 3; ++z)
                cr_assert_eq(entk_nonlin_map(&ly->nl, 1, &ea[z], 0, &eb[z], 0, &sk[z], &stt[z], &sk[z], &stt[z]), ENTK_OK);
        }
    }
    *kout = sk[2];
    *tout = stt[2];
    for (z = 0; z < 3; ++z) ref_free(&s[z]);
}

/* ============================================================================================== */
/* Helpers                                                                                        */
/* ============================================================================================== */



/* library Gram (non-symmetric) vs the full-domain reference, every entry, relative tolerance */
static void check_against_ref(const char *archs, size_t n, size_t C, size_t H, size_t W, uint64_t seed,
                              double tol) {
    entk_arch a = tu_parse(archs);
    double *x = tu_normal_alloc(n * C * H * W, seed);
    double *k = malloc(n * n * sizeof *k), *t = malloc(n * n * sizeof *t);
    size_t i, j;
    cr_assert_eq(entk_cn_kernel(&a, x, n, x, n, C, H, W, k, n, t, n, 1), ENTK_OK, "%s", archs);
    for (i = 0; i < n; ++i)
        for (j = 0; j < n; ++j) {
            double rk, rt;
            ref_kernel(&a, x + i * C * H * W, x + j * C * H * W, C, H, W, &rk, &rt);
            cr_assert(tu_rel(k[i * n + j], rk) < tol, "%s K(%zu,%zu) %.17g vs %.17g", archs, i, j, k[i * n + j], rk);
            cr_assert(tu_rel(t[i * n + j], rt) < tol, "%s T(%zu,%zu) %.17g vs %.17g", archs, i, j, t[i * n + j], rt);
        }
    free(x); free(k); free(t);
}

/* ============================================================================================== */
/* Group convention and the window sum                                                            */
/* ============================================================================================== */

Test(cn_group, rho_is_a_homomorphism_and_the_product_is_a_group) {
    static const int ns[3] = {1, 2, 4};
    int in, f;
    for (in = 0; in < 3; ++in)
        for (f = 0; f < 2; ++f) {
            const int n = ns[in], G = n * (1 + f);
            int a, b, c;
            for (a = 0; a < G; ++a)
                for (b = 0; b < G; ++b) {
                    int ra[4], rb[4], rab[4], prod[4];
                    ref_rho(n, a, ra); ref_rho(n, b, rb); ref_rho(n, ref_gmul(n, a, b), rab);
                    ref_matmul(ra, rb, prod);
                    cr_assert(memcmp(prod, rab, sizeof prod) == 0, "n=%d a=%d b=%d", n, a, b);
                    for (c = 0; c < G; ++c)
                        cr_assert_eq(ref_gmul(n, ref_gmul(n, a, b), c), ref_gmul(n, a, ref_gmul(n, b, c)));
                }
            /* rho is injective: G distinct matrices */
            for (a = 0; a < G; ++a)
                for (b = 0; b < a; ++b) {
                    int ra[4], rb[4];
                    ref_rho(n, a, ra); ref_rho(n, b, rb);
                    cr_assert(memcmp(ra, rb, sizeof ra) != 0);
                }
        }
}

/* the test's own q^2 window sum with its own rho */
static void naive_wsum(const double *m, size_t H, size_t W, int q, entk_pad pad, int n, int g, double *out) {
    const int h = (q - 1) / 2;
    const size_t Ho = pad == ENTK_PAD_VALID ? H - q + 1 : H, Wo = pad == ENTK_PAD_VALID ? W - q + 1 : W;
    int r[4];
    size_t A, B;
    ref_rho(n, g, r);
    for (A = 0; A < Ho * Wo; ++A)
        for (B = 0; B < Ho * Wo; ++B) {
            double s = 0;
            int a, b;
            for (a = -h; a <= h; ++a)
                for (b = -h; b <= h; ++b) {
                    long p0 = ref_ax((long)(A / Wo), a, (long)H, h, pad), p1 = ref_ax((long)(A % Wo), b, (long)W, h, pad);
                    long p2 = ref_ax((long)(B / Wo), r[0] * a + r[1] * b, (long)H, h, pad);
                    long p3 = ref_ax((long)(B % Wo), r[2] * a + r[3] * b, (long)W, h, pad);
                    if (p0 < 0 || p1 < 0 || p2 < 0 || p3 < 0) continue;
                    s += m[((size_t)p0 * W + (size_t)p1) * H * W + (size_t)p2 * W + (size_t)p3];
                }
            out[A * Ho * Wo + B] = s / (q * q);
        }
}

Test(cn_window, fast_equals_direct_every_padding_size_and_block) {
    static const size_t dims[][2] = {{5, 5}, {6, 6}, {7, 4}, {6, 9}, {11, 13}, {2, 3}};
    static const int qs[3] = {1, 3, 5};
    static const entk_pad pads[3] = {ENTK_PAD_VALID, ENTK_PAD_SAME, ENTK_PAD_CIRCULAR};
    size_t di;
    int iq, ip, g, cases = 0;
    for (di = 0; di < sizeof dims / sizeof dims[0]; ++di) {
        const size_t H = dims[di][0], W = dims[di][1], P = H * W;
        double *m = tu_normal_alloc(P * P, 100 + di);
        double *f = malloc(P * P * sizeof *f), *d = malloc(P * P * sizeof *d), *o = malloc(P * P * sizeof *o);
        double *tmp = malloc(P * P * sizeof *tmp);
        for (iq = 0; iq < 3; ++iq)
            for (ip = 0; ip < 3; ++ip)
                for (g = 0; g < 8; ++g) {
                    const int q = qs[iq];
                    const entk_pad pad = pads[ip];
                    size_t No;
                    if (pad == ENTK_PAD_VALID && (H < (size_t)q || W < (size_t)q)) continue;
                    No = pad == ENTK_PAD_VALID ? (H - q + 1) * (W - q + 1) : P;
                    cr_assert_eq(entk_cn_window_sum(m, H, W, q, pad, 4, 1, g, 0, tmp, f), ENTK_OK);
                    cr_assert_eq(entk_cn_window_sum(m, H, W, q, pad, 4, 1, g, 1, NULL, d), ENTK_OK);
                    /* the in-cache path's whole-block form: the same adds in the same order */
                    cr_assert_eq(entk_cn_window_sum(m, H, W, q, pad, 4, 1, g, 2, tmp, o), ENTK_OK);
                    cr_assert(memcmp(f, o, No * No * sizeof *f) == 0, "H=%zu W=%zu q=%d pad=%d g=%d: in-cache form",
                              H, W, q, (int)pad, g);
                    naive_wsum(m, H, W, q, pad, 4, g, o);
                    cr_assert(tu_max_abs_diff(f, d, No * No) < 1e-13, "H=%zu W=%zu q=%d pad=%d g=%d: %g", H, W, q,
                              (int)pad, g, tu_max_abs_diff(f, d, No * No));
                    cr_assert(tu_max_abs_diff(f, o, No * No) < 1e-13, "H=%zu W=%zu q=%d pad=%d g=%d vs naive", H, W,
                              q, (int)pad, g);
                    ++cases;
                }
        free(m); free(f); free(d); free(o); free(tmp);
    }
    cr_assert_gt(cases, 380);
}

/* ============================================================================================== */
/* CNN kernels against brute force                                                                */
/* ============================================================================================== */

Test(cn_cnn, one_layer_and_two_layer_nets_match_brute_force) {
    check_against_ref("conv(q=3,pad=same,sw=1.3,sb=0.2) gap", 3, 2, 5, 6, 1, 1e-12);
    check_against_ref("conv(q=3,pad=valid) relu conv(q=3,pad=same,sw=1.2,sb=0.1) relu gap dense(sw=0.9,sb=0.3)",
                      3, 2, 6, 5, 2, 1e-12);
    check_against_ref("conv(q=5,pad=circular) erf conv(q=3,pad=circular) flatten dense relu dense", 3, 3, 5, 5, 3, 1e-12);
    check_against_ref("conv(q=3,pad=same) relu avgpool(p=2) conv(q=3,pad=same,sb=0.5) relu gap dense", 3, 2, 6, 6, 4,
                      1e-12);
    check_against_ref("conv(q=1) leaky_relu(a=0.3) conv(q=3,pad=valid) sin flatten", 3, 1, 4, 5, 5, 1e-12);
}

/* ============================================================================================== */
/* GCNN kernels: the r = 0 reduction against the full |G|^2-block reference                       */
/* ============================================================================================== */

Test(cn_gcnn, reduced_blocks_equal_full_block_reference) {
    check_against_ref("lift(n=4,q=3,pad=circular) relu gconv(q=3,pad=circular) relu gpool dense", 3, 2, 5, 5, 11, 1e-12);
    check_against_ref("lift(n=2,q=3,pad=same,sw=1.4,sb=0.2) erf gconv(q=3,pad=valid,support=id) gpool", 3, 1, 6, 5, 12,
                      1e-12);
    check_against_ref("lift(n=4,flip=1,q=3,pad=same) relu gconv(q=3,pad=same) relu gpool dense", 2, 2, 5, 5, 13, 1e-12);
    check_against_ref("lift(n=1,flip=1,q=3,pad=circular) relu gconv(q=1) flatten", 2, 1, 4, 5, 14, 1e-12);
    check_against_ref("lift(n=4,q=3,pad=valid) relu rotpool conv(q=3,pad=same) relu gap", 2, 1, 6, 6, 15, 1e-12);
    check_against_ref("conv(q=3,pad=same) relu lift(n=2,flip=1,q=3,pad=circular) relu avgpool(p=2) gconv(q=1) relu gpool",
                      2, 1, 4, 4, 16, 1e-12);
}

/* The Sigma_s collapse, shown on the full-block reference (where support=all really sums over s) and
 * on the library. */
Test(cn_gcnn, support_id_equals_support_all_after_a_lift) {
    static const char *pairs[][2] = {
        {"lift(n=4,q=3,pad=circular) relu gconv(q=3,pad=circular,support=all) relu gpool",
         "lift(n=4,q=3,pad=circular) relu gconv(q=3,pad=circular,support=id) relu gpool"},
        {"lift(n=2,flip=1,q=3,pad=same) erf gconv(q=3,pad=same,support=all) flatten",
         "lift(n=2,flip=1,q=3,pad=same) erf gconv(q=3,pad=same,support=id) flatten"},
    };
    size_t c;
    for (c = 0; c < 2; ++c) {
        entk_arch a = tu_parse(pairs[c][0]), b = tu_parse(pairs[c][1]);
        double *x = tu_normal_alloc(2 * 2 * 5 * 5, 20 + c);
        double ka, ta, kb, tb, K[4], T[4], K2[4], T2[4];
        ref_kernel(&a, x, x + 50, 2, 5, 5, &ka, &ta);
        ref_kernel(&b, x, x + 50, 2, 5, 5, &kb, &tb);
        cr_assert(tu_rel(ka, kb) < 1e-12 && tu_rel(ta, tb) < 1e-12, "%s: %.17g %.17g", pairs[c][0], ka, kb);
        cr_assert_eq(entk_cn_kernel(&a, x, 2, NULL, 0, 2, 5, 5, K, 2, T, 2, 1), ENTK_OK);
        cr_assert_eq(entk_cn_kernel(&b, x, 2, NULL, 0, 2, 5, 5, K2, 2, T2, 2, 1), ENTK_OK);
        cr_assert(tu_rel_frob(K, K2, 4) < 1e-12 && tu_rel_frob(T, T2, 4) < 1e-12);
        cr_assert(tu_rel(K[1], ka) < 1e-12 && tu_rel(T[1], ta) < 1e-12);
        free(x);
    }
}

/* ============================================================================================== */
/* Invariances, orbit averages                                                                    */
/* ============================================================================================== */

static void pair_kt(const entk_arch *a, const double *x1, const double *x2, size_t C, size_t H, size_t W,
                    double *k, double *t) {
    cr_assert_eq(entk_cn_pair(a, x1, NULL, x2, NULL, C, H, W, NULL, k, t), ENTK_ERR_INVALID_ARG);
    {
        size_t wl;
        double *w;
        cr_assert_eq(entk_cn_workspace_size(a, C, H, W, &wl, NULL), ENTK_OK);
        w = malloc(wl * sizeof *w);
        cr_assert_eq(entk_cn_pair(a, x1, NULL, x2, NULL, C, H, W, w, k, t), ENTK_OK);
        free(w);
    }
}

Test(cn_invariance, c4_gcnn_is_invariant_under_rot90_and_circular_shifts_of_either_input) {
    const size_t C = 2, N = 6, img = C * N * N;
    entk_arch a = tu_parse("lift(n=4,q=3,pad=circular) relu gconv(q=3,pad=circular) relu gconv(q=3,pad=circular,sw=1.2) "
                        "erf gpool dense relu dense");
    double *x = tu_normal_alloc(2 * C * N * N, 31), *y = malloc(img * sizeof *y);
    double k0, t0, k, t;
    int side, op;
    pair_kt(&a, x, x + img, C, N, N, &k0, &t0);
    for (side = 0; side < 2; ++side)
        for (op = 0; op < 3; ++op) {
            const double *src = x + side * img;
            if (op == 0) tu_img_rot90(src, C, N, y);
            else if (op == 1) tu_img_shift(src, C, N, N, 2, 5, y);
            else { double *z = malloc(img * sizeof *z); tu_img_rot90(src, C, N, z); tu_img_shift(z, C, N, N, 1, 0, y); free(z); }
            if (side == 0) pair_kt(&a, y, x + img, C, N, N, &k, &t);
            else pair_kt(&a, x, y, C, N, N, &k, &t);
            cr_assert(tu_rel(k, k0) < 1e-12 && tu_rel(t, t0) < 1e-12, "side %d op %d: %.17g %.17g", side, op, k, k0);
        }
    /* and it is not invariant under a mirror without reflections (the test can fail) */
    tu_img_mirror(x, C, N, N, y);
    pair_kt(&a, y, x + img, C, N, N, &k, &t);
    cr_assert(tu_rel(k, k0) > 1e-8);
    free(x); free(y);
}

Test(cn_invariance, d4_gcnn_is_invariant_under_mirrors) {
    const size_t C = 1, N = 5, img = C * N * N;
    entk_arch a = tu_parse("lift(n=4,flip=1,q=3,pad=circular) relu gconv(q=3,pad=circular) relu gpool");
    double *x = tu_normal_alloc(2 * C * N * N, 41), *y = malloc(img * sizeof *y), *z = malloc(img * sizeof *z);
    double k0, t0, k, t;
    pair_kt(&a, x, x + img, C, N, N, &k0, &t0);
    tu_img_mirror(x + img, C, N, N, y);
    pair_kt(&a, x, y, C, N, N, &k, &t);
    cr_assert(tu_rel(k, k0) < 1e-12 && tu_rel(t, t0) < 1e-12);
    tu_img_rot90(x, C, N, z);
    tu_img_mirror(z, C, N, N, y);
    tu_img_shift(y, C, N, N, 3, 1, z);
    pair_kt(&a, z, x + img, C, N, N, &k, &t);
    cr_assert(tu_rel(k, k0) < 1e-12 && tu_rel(t, t0) < 1e-12);
    free(x); free(y); free(z);
}

/* docs/conventions.md §2: the rot90-orbit average of the CNN kernel is the C4 GCNN kernel (and D4 with mirrors). */
static void check_orbit(const char *cnn, const char *gcnn, entk_orbit orb, size_t C, size_t N, uint64_t seed) {
    const size_t n = 3;
    entk_arch a = tu_parse(cnn), b = tu_parse(gcnn);
    double *x = tu_normal_alloc(n * C * N * N, seed);
    double Ko[9], To[9], Kg[9], Tg[9], Kc[9], Tc[9];
    cr_assert_eq(entk_cn_kernel_orbit(&a, orb, x, n, NULL, 0, C, N, N, Ko, n, To, n, 1), ENTK_OK);
    cr_assert_eq(entk_cn_kernel(&b, x, n, NULL, 0, C, N, N, Kg, n, Tg, n, 1), ENTK_OK);
    cr_assert_eq(entk_cn_kernel(&a, x, n, NULL, 0, C, N, N, Kc, n, Tc, n, 1), ENTK_OK);
    cr_assert(tu_rel_frob(Ko, Kg, 9) < 1e-12, "%s: %g", cnn, tu_rel_frob(Ko, Kg, 9));
    cr_assert(tu_rel_frob(To, Tg, 9) < 1e-12, "%s: %g", cnn, tu_rel_frob(To, Tg, 9));
    cr_assert(tu_rel_frob(Kc, Kg, 9) > 1e-6, "the plain CNN kernel differs from the orbit average");
    free(x);
}

Test(cn_orbit, orbit_averaged_cnn_equals_gcnn) {
    check_orbit("conv(q=3,pad=circular) relu conv(q=3,pad=circular) relu gap dense",
                "lift(n=4,q=3,pad=circular) relu gconv(q=3,pad=circular) relu gpool dense", ENTK_ORBIT_C4, 2, 5, 51);
    check_orbit("conv(q=3,pad=same,sb=0.1) erf conv(q=3,pad=same) relu gap",
                "lift(n=4,q=3,pad=same,sb=0.1) erf gconv(q=3,pad=same,support=id) relu gpool", ENTK_ORBIT_C4, 1, 6, 52);
    check_orbit("conv(q=3,pad=circular) relu conv(q=3,pad=circular) relu gap dense",
                "lift(n=4,flip=1,q=3,pad=circular) relu gconv(q=3,pad=circular) relu gpool dense", ENTK_ORBIT_D4, 2, 5, 53);
    check_orbit("conv(q=3,pad=valid) relu avgpool(p=2) conv(q=1) relu gap",
                "lift(n=4,flip=1,q=3,pad=valid) relu avgpool(p=2) gconv(q=1) relu gpool", ENTK_ORBIT_D4, 1, 6, 54);
}

/* ============================================================================================== */
/* Gram plumbing                                                                                  */
/* ============================================================================================== */

Test(cn_gram, symmetric_equals_nonsymmetric_and_threads_are_bit_identical) {
    const size_t n = 5, C = 2, N = 6;
    entk_arch a = tu_parse("lift(n=4,q=3,pad=same) relu gconv(q=3,pad=same) relu gpool dense relu dense");
    double *x = tu_normal_alloc(n * C * N * N, 61);
    double K1[25], T1[25], K2[25], T2[25], K3[25], T3[25], K4[25];
    size_t i, j;
    cr_assert_eq(entk_cn_kernel(&a, x, n, NULL, 0, C, N, N, K1, n, T1, n, 1), ENTK_OK);
    cr_assert_eq(entk_cn_kernel(&a, x, n, x, n, C, N, N, K2, n, T2, n, 1), ENTK_OK);
    cr_assert_eq(entk_cn_kernel(&a, x, n, NULL, 0, C, N, N, K3, n, T3, n, 2), ENTK_OK);
    cr_assert_eq(entk_cn_kernel(&a, x, n, x, n, C, N, N, K4, n, NULL, 0, 2), ENTK_OK);
    cr_assert(memcmp(K1, K3, sizeof K1) == 0 && memcmp(T1, T3, sizeof T1) == 0, "threads=2 differs");
    cr_assert(memcmp(K2, K4, sizeof K2) == 0, "NNGP-only differs");
    for (i = 0; i < n; ++i)
        for (j = 0; j < n; ++j) {
            cr_assert(tu_rel(K1[i * n + j], K2[i * n + j]) < 1e-14, "(%zu,%zu)", i, j);
            cr_assert(tu_rel(T1[i * n + j], T2[i * n + j]) < 1e-14, "(%zu,%zu)", i, j);
            cr_assert(tu_rel(K2[i * n + j], K2[j * n + i]) < 1e-14);
        }
    /* positive semi-definite: x^T K x >= 0 for random x (a cheap necessary check) */
    {
        tu_rng r = {7};
        int trial;
        for (trial = 0; trial < 20; ++trial) {
            double v[5], s = 0;
            tu_fill_normal(&r, v, 5);
            for (i = 0; i < n; ++i) for (j = 0; j < n; ++j) s += v[i] * K1[i * n + j] * v[j];
            cr_assert(s > -1e-12);
        }
    }
    free(x);
}

Test(cn_gram, rectangular_and_leading_dimensions) {
    const size_t C = 1, N = 5;
    entk_arch a = tu_parse("conv(q=3,pad=circular) relu conv(q=3,pad=circular) gap");
    double *x = tu_normal_alloc(5 * C * N * N, 71);
    double K[2 * 7], T[2 * 7], Kf[25], Tf[25];
    size_t i, j;
    for (i = 0; i < 14; ++i) K[i] = T[i] = -99;
    cr_assert_eq(entk_cn_kernel(&a, x, 2, x + 2 * 25, 3, C, N, N, K, 7, T, 7, 2), ENTK_OK);
    cr_assert_eq(entk_cn_kernel(&a, x, 5, NULL, 0, C, N, N, Kf, 5, Tf, 5, 1), ENTK_OK);
    for (i = 0; i < 2; ++i) {
        for (j = 0; j < 3; ++j) {
            cr_assert(tu_rel(K[i * 7 + j], Kf[i * 5 + 2 + j]) < 1e-14);
            cr_assert(tu_rel(T[i * 7 + j], Tf[i * 5 + 2 + j]) < 1e-14);
        }
        for (j = 3; j < 7; ++j) cr_assert(K[i * 7 + j] == -99 && T[i * 7 + j] == -99, "wrote past n2");
    }
    free(x);
}

Test(cn_gram, single_layer_ntk_equals_nngp) {
    static const char *archs[] = {"conv(q=3,sw=1.7,sb=0.3) gap", "lift(n=4,flip=1,q=3,pad=same,sw=0.8,sb=1) gpool",
                                  "conv(q=5,pad=circular) flatten"};
    size_t c;
    for (c = 0; c < 3; ++c) {
        entk_arch a = tu_parse(archs[c]);
        double *x = tu_normal_alloc(3 * 2 * 5 * 5, 80 + c), K[9], T[9];
        cr_assert_eq(entk_cn_kernel(&a, x, 3, NULL, 0, 2, 5, 5, K, 3, T, 3, 1), ENTK_OK);
        cr_assert(tu_rel_frob(T, K, 9) < 1e-15, "%s", archs[c]);
        free(x);
    }
}

Test(cn_pair, pair_api_with_self_records_matches_gram) {
    const size_t C = 2, N = 5, img = C * N * N;
    entk_arch a = tu_parse("lift(n=2,q=3,pad=same) relu gconv(q=3,pad=same) relu gpool dense erf dense");
    double *x = tu_normal_alloc(2 * C * N * N, 91), K[4], T[4], k, t, k2;
    size_t wl, sl;
    double *w, *s1, *s2;
    cr_assert_eq(entk_cn_workspace_size(&a, C, N, N, &wl, &sl), ENTK_OK);
    w = malloc(wl * sizeof *w); s1 = malloc(sl * sizeof *s1); s2 = malloc(sl * sizeof *s2);
    cr_assert_eq(entk_cn_self(&a, x, C, N, N, s1, w), ENTK_OK);
    cr_assert_eq(entk_cn_self(&a, x + img, C, N, N, s2, w), ENTK_OK);
    cr_assert_eq(entk_cn_pair(&a, x, s1, x + img, s2, C, N, N, w, &k, &t), ENTK_OK);
    cr_assert_eq(entk_cn_pair(&a, x, NULL, x + img, NULL, C, N, N, w, &k2, NULL), ENTK_OK);
    cr_assert_eq(entk_cn_kernel(&a, x, 2, NULL, 0, C, N, N, K, 2, T, 2, 1), ENTK_OK);
    cr_assert(k == K[1] && t == T[1] && k2 == K[1]);
    free(x); free(w); free(s1); free(s2);
}

/* ============================================================================================== */
/* Errors                                                                                         */
/* ============================================================================================== */

Test(cn_errors, shapes_layer_order_and_nonfinite_inputs) {
    double x[2 * 25], K[4], T[4];
    size_t i;
    static const char *bad_arch[] = {
        "dense gap",                           /* dense before the reduction */
        "conv dense gap",                      /* dense before the reduction */
        "conv(pad=same) gconv gap",            /* gconv without a lift */
        "relu conv gap",                       /* first layer without weights */
        "conv(pad=same) relu",                 /* no reduction */
        "lift(n=4,pad=same) lift(n=2) gpool",  /* lift after lift */
        "lift(n=4,pad=same) conv(pad=same) gpool", /* plain conv on a lifted domain */
        "conv(pad=same) rotpool gap",          /* rotpool without a lift */
        "conv(pad=same) gap conv",             /* image layer after the reduction */
        "conv(pad=same) gap gap",
        "s2lift gap",
    };
    for (i = 0; i < 50; ++i) x[i] = (double)i / 50;
    for (i = 0; i < sizeof bad_arch / sizeof bad_arch[0]; ++i) {
        entk_arch a = tu_parse(bad_arch[i]);
        cr_assert_eq(entk_cn_kernel(&a, x, 2, NULL, 0, 1, 5, 5, K, 2, T, 2, 1), ENTK_ERR_ARCH, "%s", bad_arch[i]);
    }
    {
        entk_arch a = tu_parse("conv(q=5) relu conv(q=3) gap");
        cr_assert_eq(entk_cn_kernel(&a, x, 2, NULL, 0, 1, 5, 5, K, 2, T, 2, 1), ENTK_ERR_SHAPE);
        cr_assert_eq(entk_cn_kernel(&a, x, 1, NULL, 0, 1, 7, 6, K, 2, T, 2, 1), ENTK_ERR_SHAPE);
        cr_assert_eq(entk_cn_kernel(&a, x, 1, NULL, 0, 1, 7, 7, K, 2, T, 2, 1), ENTK_OK);
        a = tu_parse("conv(pad=same) avgpool(p=6) gap");
        cr_assert_eq(entk_cn_kernel(&a, x, 2, NULL, 0, 1, 5, 5, K, 2, T, 2, 1), ENTK_ERR_SHAPE);
        a = tu_parse("conv(pad=circular) relu gap");
        cr_assert_eq(entk_cn_kernel_orbit(&a, ENTK_ORBIT_C4, x, 1, NULL, 0, 1, 5, 10, K, 2, T, 2, 1), ENTK_ERR_SHAPE);
        cr_assert_eq(entk_cn_kernel(&a, x, 2, NULL, 0, 1, 5, 5, NULL, 2, NULL, 2, 1), ENTK_ERR_INVALID_ARG);
        cr_assert_eq(entk_cn_kernel(&a, x, 2, NULL, 0, 1, 5, 5, K, 1, T, 2, 1), ENTK_ERR_INVALID_ARG);
        cr_assert_eq(entk_cn_kernel(&a, x, 2, NULL, 0, 0, 5, 5, K, 2, T, 2, 1), ENTK_ERR_SHAPE);
        x[37] = NAN;
        cr_assert_eq(entk_cn_kernel(&a, x, 2, NULL, 0, 1, 5, 5, K, 2, T, 2, 1), ENTK_ERR_NONFINITE);
        cr_assert_eq(entk_cn_kernel(&a, x, 1, x + 25, 1, 1, 5, 5, K, 2, T, 2, 1), ENTK_ERR_NONFINITE);
        x[37] = INFINITY;
        cr_assert_eq(entk_cn_kernel_orbit(&a, ENTK_ORBIT_D4, x, 2, NULL, 0, 1, 5, 5, K, 2, T, 2, 1), ENTK_ERR_NONFINITE);
    }
}

/* ---- all-zero inputs: M0 = 0, so every kernel map is constant and each layer acts on one number per
 * kernel (NNGP k, NTK t). At k11 = k22 = k12 = k the closed forms of docs/conventions.md §1.1 have
 * s = 0 and theta = 0 (k > 0) or pi/2 (k = 0), which leaves the forms below; the pooling layers and
 * windows without zero padding keep a constant map as it is. ---- */
typedef struct { double k, t; } zk;
static zk zk_first(double sb) { zk o; o.k = sb * sb; o.t = o.k; return o; } /* sw^2 A[0] + sb^2, Theta1 = K1 */
static zk zk_weights(zk z, double sw, double sb) {
    zk o;
    o.k = sw * sw * z.k + sb * sb;
    o.t = o.k + sw * sw * z.t;
    return o;
}
/* leaky_relu with slope a (a = 0: relu): w = (1 + a^2) pi at theta = 0, (1 + a)^2 pi / 2 at theta = pi/2 */
static zk zk_leaky(zk z, double a) {
    zk o;
    o.k = (1 + a * a) * z.k / 2;
    o.t = (z.k > 0 ? (1 + a * a) / 2 : (1 + a) * (1 + a) / 4) * z.t;
    return o;
}
/* erf: S = sqrt(1 + 4k), atan2(2k, S) = asin(2k / (1 + 2k)) */
static zk zk_erf(zk z) {
    zk o;
    o.k = (2 / M_PI) * asin(2 * z.k / (1 + 2 * z.k));
    o.t = (4 / M_PI) / sqrt(1 + 4 * z.k) * z.t;
    return o;
}
/* sin: e^-k sinh(k), e^-k cosh(k) */
static zk zk_sin(zk z) {
    zk o;
    o.k = (1 - exp(-2 * z.k)) / 2;
    o.t = (1 + exp(-2 * z.k)) / 2 * z.t;
    return o;
}
/* gelu: R = 1 + k, D = 1 + 2k, alpha = asin(k / (1 + k)); the two sqrt(D) terms of T add up to
 * 2 k^2 / ((1 + k) sqrt(D)) */
static zk zk_gelu(zk z) {
    const double k = z.k, al = asin(k / (1 + k)), sd = sqrt(1 + 2 * k);
    zk o;
    o.k = k / 4 + (k * al + 2 * k * k / ((1 + k) * sd)) / (2 * M_PI);
    o.t = (0.25 + (al + 2 * k / ((1 + k) * sd) + k / (sd * sd * sd)) / (2 * M_PI)) * z.t;
    return o;
}

/* two all-zero 2 x 5 x 5 images: all four entries of K and Theta equal the chain's numbers */
static void zero_check(const char *arch_s, zk want) {
    double x[2 * 2 * 25] = {0}, K[4], T[4];
    entk_arch a = tu_parse(arch_s);
    int i;
    cr_assert_eq(entk_cn_kernel(&a, x, 2, NULL, 0, 2, 5, 5, K, 2, T, 2, 1), ENTK_OK, "%s", arch_s);
    cr_assert(want.k > 0 && want.t > want.k, "%s: chain %g %g", arch_s, want.k, want.t);
    for (i = 0; i < 4; ++i) {
        cr_assert_leq(fabs(K[i] - want.k), 1e-13 * want.k, "%s: K[%d] = %.17g, want %.17g", arch_s, i, K[i], want.k);
        cr_assert_leq(fabs(T[i] - want.t), 1e-13 * want.t, "%s: T[%d] = %.17g, want %.17g", arch_s, i, T[i], want.t);
    }
}

Test(cn_errors, zero_inputs_give_the_closed_form_values) {
    zk z;
    z = zk_weights(zk_erf(zk_weights(zk_leaky(zk_first(0.5), 0), 1.3, 0.2)), 1, 0.3);
    zero_check("conv(q=3,pad=same,sb=0.5) relu conv(q=3,pad=circular,sw=1.3,sb=0.2) erf avgpool(p=2) "
               "conv(q=1,pad=same,sb=0.3) gelu gap dense(sb=0.1)", zk_weights(zk_gelu(z), 1, 0.1));
    z = zk_weights(zk_sin(zk_weights(zk_leaky(zk_first(0.4), 0), 1, 0.3)), 0.8, 0.2);
    zero_check("lift(n=4,q=3,pad=same,sb=0.4) relu gconv(q=3,pad=valid,sb=0.3) sin gconv(q=1,support=id,sw=0.8,sb=0.2) "
               "leaky_relu(a=0.2) gpool dense(sw=1.2) relu dense(sb=0.25)",
               zk_weights(zk_leaky(zk_weights(zk_leaky(z, 0.2), 1.2, 0), 0), 1, 0.25));
    z = zk_weights(zk_erf(zk_first(0.3)), 1, 0.2);
    zero_check("lift(n=4,flip=1,q=3,pad=circular,sb=0.3) erf rotpool conv(q=3,pad=valid,sb=0.2) relu flatten "
               "dense(sb=0.1) sin dense",
               zk_weights(zk_sin(zk_weights(zk_leaky(z, 0), 1, 0.1)), 1, 0));
}

/* With every sb = 0 a zero image has zero kernels, with itself and with any other image: every
 * pre-activation kernel it enters is 0, and every map sends k12 = 0 with k22 = 0 to T = 0 (relu: s = 0,
 * erf: atan2(0, S)), so the NTK, Tdot times 0, stays 0 as well. Image 0 has one pixel set. */
Test(cn_errors, zero_inputs_give_zero_kernels_without_biases) {
    double x[2 * 16] = {0}, K[4], T[4];
    entk_arch a = tu_parse("lift(n=4,q=3,pad=same) relu gconv(q=3,pad=same) erf gpool dense relu dense");
    int i;
    x[5] = 1.0;
    cr_assert_eq(entk_cn_kernel(&a, x, 2, NULL, 0, 1, 4, 4, K, 2, T, 2, 1), ENTK_OK);
    cr_assert(K[0] > 0 && T[0] > K[0], "K %g T %g", K[0], T[0]);
    for (i = 1; i < 4; ++i) cr_assert(K[i] == 0 && T[i] == 0, "K[%d] = %g, T[%d] = %g", i, K[i], i, T[i]);
}

/* A plain CNN is the n = 1 case: conv = lift(n=1) first, = gconv after it. */
Test(cn_gcnn, conv_is_the_trivial_group_case) {
    entk_arch a = tu_parse("conv(q=3,pad=same,sb=0.2) relu conv(q=5,pad=circular) erf avgpool(p=2) conv(q=1) relu gap dense");
    entk_arch b = tu_parse("lift(n=1,q=3,pad=same,sb=0.2) relu gconv(q=5,pad=circular) erf avgpool(p=2) gconv(q=1) relu gpool dense");
    double *x = tu_normal_alloc(3 * 2 * 6 * 6, 101), K1[9], T1[9], K2[9], T2[9];
    cr_assert_eq(entk_cn_kernel(&a, x, 3, NULL, 0, 2, 6, 6, K1, 3, T1, 3, 1), ENTK_OK);
    cr_assert_eq(entk_cn_kernel(&b, x, 3, NULL, 0, 2, 6, 6, K2, 3, T2, 3, 1), ENTK_OK);
    cr_assert(memcmp(K1, K2, sizeof K1) == 0 && memcmp(T1, T2, sizeof T1) == 0);
    free(x);
}

/* The row kernels (window sums, affine updates, stores) of every SIMD path give the scalar path's
 * kernels bit for bit (they only add and multiply-then-add in one order); with the identity
 * nonlinearity nothing else differs between paths. */
Test(cn_simd, every_path_matches_the_scalar_path_bit_for_bit) {
    /* the 32 x 32 case has kernels large enough (> 16 MB per layer) for the streaming stores */
    static const struct { const char *arch; size_t n; } cases[] = {
        {"conv(q=3,pad=same,sb=0.3) identity conv(q=5,pad=circular,sw=1.1) identity conv(q=3) gap dense", 9},
        {"lift(n=4,flip=1,q=3,pad=same,sb=0.2) identity gconv(q=3,pad=circular) identity gpool", 9},
        {"conv(q=3,pad=same,sb=0.1) identity conv(q=3,pad=same) gap", 32},
    };
    static const entk_simd paths[] = {ENTK_SIMD_AVX2, ENTK_SIMD_NEON, ENTK_SIMD_AVX512};
    const entk_simd def = entk_simd_path();
    size_t c, p, tried = 0;
    for (c = 0; c < 3; ++c) {
        const size_t N = cases[c].n;
        entk_arch a = tu_parse(cases[c].arch);
        double *x = tu_normal_alloc(3 * 2 * N * N, 111 + c), K0[9], T0[9], K1[9], T1[9];
        const char *archs_c = cases[c].arch;
        cr_assert_eq(entk_simd_set(ENTK_SIMD_SCALAR), ENTK_OK);
        cr_assert_eq(entk_cn_kernel(&a, x, 3, NULL, 0, 2, N, N, K0, 3, T0, 3, 1), ENTK_OK);
        for (p = 0; p < sizeof paths / sizeof paths[0]; ++p) {
            if (entk_simd_set(paths[p]) != ENTK_OK) continue;
            ++tried;
            cr_assert_eq(entk_cn_kernel(&a, x, 3, NULL, 0, 2, N, N, K1, 3, T1, 3, 1), ENTK_OK);
            cr_assert(memcmp(K0, K1, sizeof K0) == 0 && memcmp(T0, T1, sizeof T0) == 0, "%s path %d", archs_c,
                      (int)paths[p]);
        }
        free(x);
    }
    entk_simd_set(def);
    cr_assert_geq(tried, def == ENTK_SIMD_SCALAR ? 0u : 1u);
}

/* Orbit API plumbing: NONE is the plain kernel; a rectangular orbit Gram equals the per-pair average
 * of the kernel over the transformed second inputs, built here with the test's own transforms. */
Test(cn_orbit, none_and_rectangular_orbit_against_explicit_average) {
    const size_t C = 1, N = 5, img = C * N * N;
    entk_arch a = tu_parse("conv(q=3,pad=same) relu conv(q=3,pad=valid) relu gap");
    double *x = tu_normal_alloc(3 * C * N * N, 121), *y = malloc(8 * img * sizeof *y), *z = malloc(img * sizeof *z);
    double Ko[2], To[2], Kn[9], Tn[9], Kp[9], Tp[9];
    size_t j;
    int g;
    cr_assert_eq(entk_cn_kernel_orbit(&a, ENTK_ORBIT_NONE, x, 3, NULL, 0, C, N, N, Kn, 3, Tn, 3, 1), ENTK_OK);
    cr_assert_eq(entk_cn_kernel(&a, x, 3, NULL, 0, C, N, N, Kp, 3, Tp, 3, 1), ENTK_OK);
    cr_assert(memcmp(Kn, Kp, sizeof Kn) == 0 && memcmp(Tn, Tp, sizeof Tn) == 0);
    cr_assert_eq(entk_cn_kernel_orbit(&a, ENTK_ORBIT_D4, x, 1, x + img, 2, C, N, N, Ko, 2, To, 2, 1), ENTK_OK);
    for (j = 0; j < 2; ++j) {
        double ks = 0, ts = 0, k, t;
        memcpy(y, x + (1 + j) * img, img * sizeof *y);
        for (g = 1; g < 8; ++g) { /* rotations of the image, then of its mirror image */
            if (g == 4) tu_img_mirror(x + (1 + j) * img, C, N, N, y + 4 * img);
            else tu_img_rot90(y + (g - 1) * img, C, N, y + g * img);
        }
        for (g = 0; g < 8; ++g) {
            pair_kt(&a, x, y + g * img, C, N, N, &k, &t);
            ks += k / 8;
            ts += t / 8;
        }
        cr_assert(tu_rel(Ko[j], ks) < 1e-13 && tu_rel(To[j], ts) < 1e-13, "%zu: %.17g %.17g", j, Ko[j], ks);
    }
    cr_assert_eq(entk_cn_kernel_orbit(&a, (entk_orbit)7, x, 1, NULL, 0, C, N, N, Ko, 1, To, 1, 1), ENTK_ERR_INVALID_ARG);
    free(x); free(y); free(z);
}

Test(cn_errors, workspace_and_window_sum_arguments) {
    entk_arch a = tu_parse("conv(q=5) relu gap");
    double m[16] = {0}, o[16];
    size_t wl = 0, sl = 0;
    cr_assert_eq(entk_cn_workspace_size(&a, 1, 4, 9, &wl, &sl), ENTK_ERR_SHAPE);
    cr_assert_eq(entk_cn_workspace_size(&a, 1, 5, 5, &wl, &sl), ENTK_OK);
    cr_assert_geq(wl, 4 * 625u);
    cr_assert_eq(sl, 1 + 2u); /* one 1 x 1 diagonal before relu, then k and theta */
    cr_assert_eq(entk_cn_workspace_size(&a, 1, (size_t)1 << 40, (size_t)1 << 40, &wl, NULL), ENTK_ERR_OVERFLOW);
    cr_assert_eq(entk_cn_workspace_size(NULL, 1, 5, 5, &wl, NULL), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_cn_window_sum(m, 2, 2, 3, ENTK_PAD_VALID, 4, 0, 0, 1, NULL, o), ENTK_ERR_SHAPE);
    cr_assert_eq(entk_cn_window_sum(m, 2, 2, 3, ENTK_PAD_SAME, 4, 0, 4, 1, NULL, o), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_cn_window_sum(m, 2, 2, 2, ENTK_PAD_SAME, 4, 0, 0, 1, NULL, o), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_cn_window_sum(m, 2, 2, 3, ENTK_PAD_SAME, 3, 0, 0, 1, NULL, o), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_cn_window_sum(m, 2, 2, 3, ENTK_PAD_SAME, 4, 0, 0, 0, NULL, o), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_cn_window_sum(m, 2, 2, 3, ENTK_PAD_SAME, 4, 1, 7, 1, NULL, o), ENTK_OK);
    /* the in-cache form's bounds: sides <= 32, at most 256 pixels, q <= 7 */
    cr_assert_eq(entk_cn_window_sum(m, 2, 2, 9, ENTK_PAD_SAME, 4, 0, 0, 2, o, o), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_cn_window_sum(m, 1, 33, 3, ENTK_PAD_SAME, 4, 0, 0, 2, o, o), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_cn_window_sum(m, 17, 16, 3, ENTK_PAD_SAME, 4, 0, 0, 2, o, o), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_cn_window_sum(m, 2, 2, 3, ENTK_PAD_SAME, 4, 0, 0, 2, NULL, o), ENTK_ERR_INVALID_ARG);
}

/* The in-cache path for small images and the row path give the same kernels bit for bit (the same adds
 * in the same order), on every padding, windows 1..7, valid shrinking, pools and every group. */
Test(cn_small, in_cache_path_equals_row_path_bit_for_bit) {
    static const struct { const char *arch; size_t C, H, W; } cases[] = {
        {"conv(q=3,pad=circular,sw=1.4142,sb=0.1) relu conv(q=3,pad=circular,sw=1.4142,sb=0.1) relu gap dense", 1, 7, 7},
        {"lift(n=4,q=3,pad=circular,sw=1.4142,sb=0.1) relu gconv(q=3,pad=circular,sw=1.4142,sb=0.1) relu gpool dense",
         1, 7, 7},
        {"conv(q=5,pad=same,sb=0.3) erf conv(q=3,pad=valid) relu conv(q=7,pad=circular) gap", 2, 8, 9},
        {"lift(n=4,flip=1,q=3,pad=same,sb=0.2) relu gconv(q=5,pad=same) relu avgpool(p=2) gconv(q=3,pad=circular) "
         "relu gpool dense", 1, 9, 8},
        {"lift(n=2,q=5,pad=valid) relu gconv(q=1) leaky_relu(a=0.2) rotpool conv(q=3,pad=same) relu flatten", 2, 9, 9},
        {"conv(q=3,pad=same) relu conv(q=3,pad=same) relu gap", 1, 16, 16},
        {"conv(q=3,pad=circular) relu conv(q=3,pad=circular) relu gap", 1, 3, 2},
    };
    size_t c;
    for (c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        const size_t n = 3, C = cases[c].C, H = cases[c].H, W = cases[c].W;
        entk_arch a = tu_parse(cases[c].arch);
        double *x = tu_normal_alloc(n * C * H * W, 130 + c), K0[9], T0[9], K1[9], T1[9];
        size_t old = entk_cn_set_small_limit(0);
        cr_assert_eq(entk_cn_kernel(&a, x, n, x, n, C, H, W, K0, n, T0, n, 1), ENTK_OK, "%s", cases[c].arch);
        entk_cn_set_small_limit(old);
        cr_assert_geq(old, H * W, "the default limit covers this case");
        cr_assert_eq(entk_cn_kernel(&a, x, n, x, n, C, H, W, K1, n, T1, n, 1), ENTK_OK, "%s", cases[c].arch);
        cr_assert(memcmp(K0, K1, sizeof K0) == 0 && memcmp(T0, T1, sizeof T0) == 0, "%s", cases[c].arch);
        free(x);
    }
}

/* The row path against the brute-force reference too (the other tests run small images, which take the
 * in-cache path). */
Test(cn_small, row_path_matches_brute_force) {
    const size_t old = entk_cn_set_small_limit(0);
    check_against_ref("conv(q=3,pad=valid) relu conv(q=3,pad=same,sw=1.2,sb=0.1) relu gap dense(sw=0.9,sb=0.3)",
                      3, 2, 6, 5, 2, 1e-12);
    check_against_ref("lift(n=4,flip=1,q=3,pad=same) relu gconv(q=3,pad=circular) relu gpool dense", 2, 2, 5, 5, 13,
                      1e-12);
    entk_cn_set_small_limit(old);
}

/* Progress: the Gram drivers report finished output rows, increasing, ending at n1 (threads = 1: every
 * report comes from the one thread; tu_prog_cb checks them). */
Test(cn_gram, progress_reports_finished_rows) {
    const size_t C = 1, N = 5;
    entk_arch a = tu_parse("conv(q=3,pad=circular) relu conv(q=3,pad=circular) relu gap");
    double *x = tu_normal_alloc(6 * C * N * N, 141), K[36], T[36];
    tu_prog_rec r;
    int mode;
    for (mode = 0; mode < 3; ++mode) {
        memset(&r, 0, sizeof r);
        entk_set_progress(tu_prog_cb, &r);
        if (mode == 0) cr_assert_eq(entk_cn_kernel(&a, x, 6, NULL, 0, C, N, N, K, 6, T, 6, 1), ENTK_OK);
        else if (mode == 1) cr_assert_eq(entk_cn_kernel(&a, x, 4, x, 6, C, N, N, K, 6, T, 6, 1), ENTK_OK);
        else cr_assert_eq(entk_cn_kernel_orbit(&a, ENTK_ORBIT_C4, x, 3, x, 2, C, N, N, K, 2, T, 2, 1), ENTK_OK);
        entk_set_progress(NULL, NULL);
        cr_assert_eq(r.bad, 0u, "mode %d", mode);
        cr_assert_eq(r.total, mode == 0 ? 6u : mode == 1 ? 4u : 3u, "mode %d", mode);
        cr_assert_eq(r.last, r.total, "mode %d: last report %zu of %zu", mode, r.last, r.total);
        cr_assert_eq(r.calls, r.total, "mode %d: one report per row", mode);
    }
    free(x);
}

/* With 2 threads the finishing thread is either one: done == total must still be the last report,
 * reported once, after non-decreasing done values, and fn must never run twice at a time. Repeated, so
 * that thread 1 finishes last in some runs (reports from thread 0 only lost the end about half the time). */
Test(cn_gram, progress_reports_total_with_two_threads) {
    const size_t C = 1, N = 5;
    entk_arch a = tu_parse("conv(q=3,pad=circular) relu gap dense");
    double *x = tu_normal_alloc(9 * C * N * N, 142), K[81], T[81];
    int rep;
    for (rep = 0; rep < 40; ++rep) {
        tu_prog_rec r;
        memset(&r, 0, sizeof r);
        entk_set_progress(tu_prog_cb, &r);
        if (rep % 2) cr_assert_eq(entk_cn_kernel(&a, x, 9, NULL, 0, C, N, N, K, 9, T, 9, 2), ENTK_OK);
        else cr_assert_eq(entk_cn_kernel(&a, x, 5, x + 5 * C * N * N, 4, C, N, N, K, 4, T, 4, 2), ENTK_OK);
        entk_set_progress(NULL, NULL);
        cr_assert_eq(r.bad, 0u, "run %d: a report out of order, out of range or concurrent", rep);
        cr_assert_eq(r.total, rep % 2 ? 9u : 5u, "run %d", rep);
        cr_assert_eq(r.last, r.total, "run %d: last report %zu of %zu", rep, r.last, r.total);
        cr_assert_eq(r.finals, 1u, "run %d: total reported %zu times", rep, r.finals);
    }
    free(x);
}

/* Large images (more pixels than the in-cache path takes) run chains of same-padded conv layers in one
 * sweep in pair mode (entk_cn_pair, off-diagonal Gram entries): block-row chains, which the self
 * records do not take (they go layer by layer there), and tiled chains, which they do: a pair (x, x)
 * equals the self record's kernel bit for bit either way, and both match brute force. */
Test(cn_fused, fused_chains_equal_layer_by_layer_and_brute_force) {
    static const char *archs[] = {
        "conv(q=3,pad=same,sb=0.1) relu conv(q=3,pad=same,sw=1.3) relu conv(q=1,pad=same) erf conv(q=3,pad=same) "
        "relu conv(q=3,pad=same,sb=0.2) relu gap dense",
        "conv(q=5,pad=same) relu conv(q=3,pad=same) conv(q=3,pad=same,sb=0.3) relu conv(q=3,pad=circular) relu "
        "conv(q=3,pad=same) gap",
    };
    const size_t C = 2, H = 17, W = 18, img = C * H * W;
    size_t c;
    for (c = 0; c < 2; ++c) {
        entk_arch a = tu_parse(archs[c]);
        double *x = tu_normal_alloc(2 * C * H * W, 150 + c), K[4], T[4], k, t, rk, rt, *w, *s0, *s1;
        size_t wl, sl;
        cr_assert_eq(entk_cn_workspace_size(&a, C, H, W, &wl, &sl), ENTK_OK);
        w = malloc(wl * sizeof *w); s0 = malloc(sl * sizeof *s0); s1 = malloc(sl * sizeof *s1);
        cr_assert_eq(entk_cn_self(&a, x, C, H, W, s0, w), ENTK_OK);
        cr_assert_eq(entk_cn_self(&a, x + img, C, H, W, s1, w), ENTK_OK);
        cr_assert_eq(entk_cn_kernel(&a, x, 2, NULL, 0, C, H, W, K, 2, T, 2, 1), ENTK_OK);
        cr_assert_eq(entk_cn_pair(&a, x, s0, x, s0, C, H, W, w, &k, &t), ENTK_OK);
        cr_assert(k == K[0] && t == T[0], "%s: pair (x, x) %.17g %.17g vs self %.17g %.17g", archs[c], k, t, K[0], T[0]);
        cr_assert_eq(entk_cn_pair(&a, x + img, s1, x + img, s1, C, H, W, w, &k, &t), ENTK_OK);
        cr_assert(k == K[3] && t == T[3], "%s: second input", archs[c]);
        ref_kernel(&a, x, x + img, C, H, W, &rk, &rt);
        cr_assert(tu_rel(K[1], rk) < 1e-12 && tu_rel(T[1], rt) < 1e-12, "%s: %.17g %.17g vs %.17g %.17g", archs[c], K[1],
                  T[1], rk, rt);
        free(x); free(w); free(s0); free(s1);
    }
}

/* Runs of same-padded 3 x 3 conv layers take diagonal tiles in pair mode (10 layers with a layer
 * without nonlinearity and an erf inside; W = 64 allows chains of at most 6, so two chains run; W a
 * multiple of 8 and kernels large enough that the last layer of a chain streams its tiles out): a pair
 * (x, x), every tile computed, equals the self record, half the tiles computed and mirrored, bit for
 * bit, a pair of different images matches brute force, and neither the NNGP-only call nor a workspace
 * starting off a cache line changes a bit. */
Test(cn_fused, tiled_chains_equal_layer_by_layer_and_brute_force) {
    const char *arch = "conv(q=3,pad=same,sb=0.1) relu conv(q=3,pad=same,sw=1.3) relu conv(q=3,pad=same) "
                       "conv(q=3,pad=same,sb=0.2) erf conv(q=3,pad=same) relu conv(q=3,pad=same,sw=1.1) relu "
                       "conv(q=3,pad=same) relu conv(q=3,pad=same,sb=0.3) relu conv(q=3,pad=same) relu "
                       "conv(q=3,pad=same) relu gap dense";
    const size_t C = 2, H = 12, W = 64, img = C * H * W;
    entk_arch a = tu_parse(arch);
    double *x = tu_normal_alloc(2 * C * H * W, 171), k, t, k2, t2, kn, rk, rt, *w, *s0, *s1, Kx, Tx;
    size_t wl, sl;
    cr_assert_eq(entk_cn_workspace_size(&a, C, H, W, &wl, &sl), ENTK_OK);
    w = malloc((wl + 1) * sizeof *w); s0 = malloc(sl * sizeof *s0); s1 = malloc(sl * sizeof *s1);
    cr_assert_eq(entk_cn_self(&a, x, C, H, W, s0, w), ENTK_OK);
    cr_assert_eq(entk_cn_self(&a, x + img, C, H, W, s1, w), ENTK_OK);
    cr_assert_eq(entk_cn_kernel(&a, x, 1, NULL, 0, C, H, W, &Kx, 1, &Tx, 1, 1), ENTK_OK); /* a self record */
    cr_assert_eq(entk_cn_pair(&a, x, s0, x, s0, C, H, W, w, &k, &t), ENTK_OK);
    cr_assert(k == Kx && t == Tx, "pair (x, x) %.17g %.17g vs self %.17g %.17g", k, t, Kx, Tx);
    cr_assert_eq(entk_cn_pair(&a, x, s0, x + img, s1, C, H, W, w, &k, &t), ENTK_OK);
    cr_assert_eq(entk_cn_pair(&a, x, s0, x + img, s1, C, H, W, w + 1, &k2, &t2), ENTK_OK);
    cr_assert(k2 == k && t2 == t, "workspace offset: %.17g %.17g vs %.17g %.17g", k2, t2, k, t);
    cr_assert_eq(entk_cn_pair(&a, x, s0, x + img, s1, C, H, W, w, &kn, NULL), ENTK_OK);
    cr_assert(kn == k, "NNGP only %.17g vs %.17g", kn, k);
    ref_kernel(&a, x, x + img, C, H, W, &rk, &rt);
    cr_assert(tu_rel(k, rk) < 1e-12 && tu_rel(t, rt) < 1e-12, "%.17g %.17g vs brute force %.17g %.17g", k, t, rk, rt);
    free(x); free(w); free(s0); free(s1);
}

/* Self records on diagonal tiles (entk__cn_tiled in self mode): the layers' diagonals are recorded on
 * the main diagonal of tiles, and with symmetric maps (relu, leaky_relu, erf, sin, identity) on a
 * symmetric input only the tiles on and above it are computed and the rest mirrored; gelu is not
 * symmetric in (k11, k22) bit for bit and takes every tile; a chain after a row-path layer first checks
 * its input for symmetry (after a valid conv it is symmetric, after avgpool it is not). For each, the
 * Gram diagonal (from the self records) equals the pair (x, x) bit for bit, which computes every tile
 * from the record's diagonals, and brute force to 1e-12 (so the recorded diagonals are right too);
 * threads 1 to 3, the NNGP-only Gram and entk_cn_diag give the same bits. */
Test(cn_fused, self_records_on_tiles_equal_the_pair_of_an_image_with_itself) {
    static const struct { const char *arch; size_t C, H, W; } cs[] = {
        {"conv(q=3,pad=same,sb=0.1) relu conv(q=3,pad=same,sw=1.3) leaky_relu(a=0.2) conv(q=3,pad=same) "
         "conv(q=3,pad=same) sin conv(q=3,pad=same,sb=0.2) erf conv(q=3,pad=same) identity gap dense relu dense", 2, 17, 18},
        {"conv(q=3,pad=same,sb=0.1) relu conv(q=3,pad=same) gelu conv(q=3,pad=same) relu gap dense", 2, 17, 16},
        {"conv(q=3,pad=valid) relu conv(q=3,pad=same,sb=0.3) relu conv(q=3,pad=same) erf flatten dense", 1, 20, 19},
        {"conv(q=3,pad=same) relu avgpool(p=2) conv(q=3,pad=same) relu conv(q=3,pad=same) relu gap", 1, 34, 34},
    };
    size_t c, i, r;
    for (c = 0; c < sizeof cs / sizeof cs[0]; ++c) {
        const size_t n = 3, C = cs[c].C, H = cs[c].H, W = cs[c].W, img = C * H * W;
        entk_arch a = tu_parse(cs[c].arch);
        double *x = tu_normal_alloc(n * img, 190 + c), K[9], T[9], K2[9], T2[9], Kn[9], kd[3], td[3], *w, *rec;
        size_t wl, sl;
        int th;
        cr_assert_eq(entk_cn_workspace_size(&a, C, H, W, &wl, &sl), ENTK_OK);
        w = malloc(wl * sizeof *w); rec = malloc(sl * sizeof *rec);
        cr_assert_eq(entk_cn_kernel(&a, x, n, NULL, 0, C, H, W, K, n, T, n, 1), ENTK_OK, "%s", cs[c].arch);
        for (th = 2; th <= 3; ++th) {
            cr_assert_eq(entk_cn_kernel(&a, x, n, NULL, 0, C, H, W, K2, n, T2, n, th), ENTK_OK);
            cr_assert(memcmp(K, K2, sizeof K) == 0 && memcmp(T, T2, sizeof T) == 0, "%s: threads %d", cs[c].arch, th);
        }
        cr_assert_eq(entk_cn_kernel(&a, x, n, NULL, 0, C, H, W, Kn, n, NULL, 0, 2), ENTK_OK);
        cr_assert(memcmp(K, Kn, sizeof K) == 0, "%s: NNGP only", cs[c].arch);
        cr_assert_eq(entk_cn_diag(&a, x, n, C, H, W, kd, td, 2), ENTK_OK);
        for (i = 0; i < n; ++i) {
            double k, t, rk, rt;
            cr_assert(kd[i] == K[i * n + i] && td[i] == T[i * n + i], "%s: entk_cn_diag %zu", cs[c].arch, i);
            cr_assert_eq(entk_cn_self(&a, x + i * img, C, H, W, rec, w), ENTK_OK);
            for (r = 0; r + 2 < sl; ++r) cr_assert(isfinite(rec[r]) && rec[r] > 0, "%s: record %zu", cs[c].arch, r);
            cr_assert_eq(entk_cn_pair(&a, x + i * img, rec, x + i * img, rec, C, H, W, w, &k, &t), ENTK_OK);
            cr_assert(k == K[i * n + i] && t == T[i * n + i], "%s: %zu: pair (x, x) %.17g %.17g vs self %.17g %.17g",
                      cs[c].arch, i, k, t, K[i * n + i], T[i * n + i]);
            ref_kernel(&a, x + i * img, x + i * img, C, H, W, &rk, &rt);
            cr_assert(tu_rel(K[i * n + i], rk) < 1e-12 && tu_rel(T[i * n + i], rt) < 1e-12,
                      "%s: %zu: %.17g %.17g vs brute force %.17g %.17g", cs[c].arch, i, K[i * n + i], T[i * n + i], rk, rt);
        }
        free(x); free(w); free(rec);
    }
}

/* Group layers on large images run chains too in pair mode (entk__cn_fused over block-rows: a lift or
 * gconv and the gconvs after it, same or valid padding, each stored block its own sweep through the
 * window of rho(b)), bit-identical to the layer-by-layer path. Images of at most 256 pixels run layer
 * by layer on the in-cache path by default, and on the row path, with its chains, under
 * entk_cn_set_small_limit(0): the two Gram matrices (pairs of different images through pair mode)
 * must agree bit for bit for C2, C4 and D4, same, valid and circular padding (circular layers break a
 * chain), ragged sizes and threads 1 to 3; one pair also matches brute force. */
Test(cn_fused, gcnn_chains_equal_layer_by_layer_bit_for_bit) {
    static const struct { const char *arch; size_t C, H, W; } cases[] = {
        {"lift(n=4,q=3,pad=same,sb=0.1) relu gconv(q=3,pad=same,sw=1.3) relu gconv(q=3,pad=same) erf gpool dense", 2, 11,
         13},
        {"lift(n=4,flip=1,q=5,pad=valid) relu gconv(q=3,pad=valid,sb=0.2) gconv(q=3,pad=same) relu gpool", 1, 14, 12},
        {"lift(n=2,q=3,pad=same) relu gconv(q=3,pad=circular) relu gconv(q=3,pad=same) relu gconv(q=1,pad=valid) gelu "
         "gconv(q=3,pad=same) relu rotpool conv(q=3,pad=valid) relu conv(q=3,pad=same) relu gap dense", 2, 12, 11},
        {"conv(q=3,pad=same) relu lift(n=4,flip=1,q=3,pad=valid) relu gconv(q=3,pad=valid,support=id) relu "
         "gconv(q=3,pad=same) leaky_relu(a=0.1) flatten dense relu", 1, 13, 13},
        {"lift(n=4,q=3) relu gconv(q=3) relu gpool dense", 1, 16, 16},
    };
    size_t c;
    for (c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        const size_t n1 = 2, n2 = 3, C = cases[c].C, H = cases[c].H, W = cases[c].W, img = C * H * W;
        entk_arch a = tu_parse(cases[c].arch);
        double *x = tu_normal_alloc((n1 + n2) * img, 190 + c), K0[6], T0[6], K1[6], T1[6], rk, rt;
        size_t old;
        int th;
        cr_assert_leq(H * W, entk_cn_set_small_limit(0), "the default limit covers this case");
        for (th = 1; th <= 3; ++th) {
            memset(K1, 0xff, sizeof K1);
            memset(T1, 0xff, sizeof T1);
            cr_assert_eq(entk_cn_kernel(&a, x, n1, x + n1 * img, n2, C, H, W, K1, n2, T1, n2, th), ENTK_OK, "%s",
                         cases[c].arch);
            if (th == 1) {
                memcpy(K0, K1, sizeof K0);
                memcpy(T0, T1, sizeof T0);
                continue;
            }
            cr_assert(memcmp(K0, K1, sizeof K0) == 0 && memcmp(T0, T1, sizeof T0) == 0, "%s: threads %d", cases[c].arch, th);
        }
        old = entk_cn_set_small_limit(256);
        cr_assert_eq(old, 0u);
        cr_assert_eq(entk_cn_kernel(&a, x, n1, x + n1 * img, n2, C, H, W, K1, n2, T1, n2, 2), ENTK_OK, "%s",
                     cases[c].arch);
        cr_assert(memcmp(K0, K1, sizeof K0) == 0 && memcmp(T0, T1, sizeof T0) == 0, "%s: fused %.17g %.17g vs layer by "
                  "layer %.17g %.17g", cases[c].arch, K0[0], T0[0], K1[0], T1[0]);
        if (H * W <= 160) { /* the reference is slow on the full D4 domain */
            ref_kernel(&a, x, x + n1 * img, C, H, W, &rk, &rt);
            cr_assert(tu_rel(K0[0], rk) < 1e-12 && tu_rel(T0[0], rt) < 1e-12, "%s: %.17g %.17g vs brute force %.17g %.17g",
                      cases[c].arch, K0[0], T0[0], rk, rt);
        }
        free(x);
    }
}

/* Above 256 pixels group chains run in pair mode by default (the reduction taken from the rows, or,
 * before an avgpool, the last layer's kernels streamed out: 4 |G| (HW)^2 doubles exceed 16 MB): a pair
 * (x, x) equals the self record (layer by layer) bit for bit, the NNGP-only call and a workspace off a
 * cache line change no bit. */
Test(cn_fused, gcnn_chains_on_large_images_equal_the_self_record) {
    static const struct { const char *arch; size_t C, H, W; } cases[] = {
        {"lift(n=4,q=3,sb=0.1) relu gconv(q=3,sw=1.2) relu gpool dense", 1, 30, 30},
        {"lift(n=4,flip=1,q=3,pad=same) relu gconv(q=3,pad=valid) gelu gconv(q=3,pad=same) relu gpool", 2, 17, 19},
        {"lift(n=4,q=3) relu gconv(q=3,sb=0.1) relu avgpool(p=2) gpool dense", 1, 30, 30},
    };
    size_t c;
    for (c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        const size_t C = cases[c].C, H = cases[c].H, W = cases[c].W, img = C * H * W;
        entk_arch a = tu_parse(cases[c].arch);
        double *x = tu_normal_alloc(2 * img, 200 + c), *w, *s0, *s1, k, t, k2, t2, kn, Kx, Tx;
        size_t wl, sl;
        cr_assert_eq(entk_cn_workspace_size(&a, C, H, W, &wl, &sl), ENTK_OK);
        w = malloc((wl + 1) * sizeof *w); s0 = malloc(sl * sizeof *s0); s1 = malloc(sl * sizeof *s1);
        cr_assert(w && s0 && s1);
        cr_assert_eq(entk_cn_self(&a, x, C, H, W, s0, w), ENTK_OK);
        cr_assert_eq(entk_cn_self(&a, x + img, C, H, W, s1, w), ENTK_OK);
        cr_assert_eq(entk_cn_kernel(&a, x, 1, NULL, 0, C, H, W, &Kx, 1, &Tx, 1, 1), ENTK_OK);
        cr_assert_eq(entk_cn_pair(&a, x, s0, x, s0, C, H, W, w, &k, &t), ENTK_OK);
        cr_assert(k == Kx && t == Tx, "%s: pair (x, x) %.17g %.17g vs self %.17g %.17g", cases[c].arch, k, t, Kx, Tx);
        cr_assert_eq(entk_cn_pair(&a, x, s0, x + img, s1, C, H, W, w, &k, &t), ENTK_OK);
        cr_assert_eq(entk_cn_pair(&a, x, s0, x + img, s1, C, H, W, w + 1, &k2, &t2), ENTK_OK);
        cr_assert(k2 == k && t2 == t, "%s: workspace offset", cases[c].arch);
        cr_assert_eq(entk_cn_pair(&a, x, s0, x + img, s1, C, H, W, w, &kn, NULL), ENTK_OK);
        cr_assert(kn == k, "%s: NNGP only %.17g vs %.17g", cases[c].arch, kn, k);
        free(x); free(w); free(s0); free(s1);
    }
}

/* ---- image networks at extreme scales (ENTK_ERR_RANGE) ------------------------------------------- */

/* A relu CNN without biases is homogeneous: images scaled by c give c^2 K and c^2 Theta, for c = 1e-150
 * and 1e150 (pixel kernels ~1e-300, 1e300) to 1e-14 relative; 1e200 gives ENTK_ERR_RANGE from the Gram,
 * entk_cn_self and entk_cn_pair (x . x' ~ 1e400), and a large sw overflows a later layer. */
Test(cn_scale, relu_cnn_is_homogeneous_and_overflow_is_range) {
    enum { N = 3, C = 2, H = 5, W = 5, IMG = C * H * W };
    entk_arch a = tu_parse("conv(q=3,pad=same,sw=1.2) relu conv(q=3,pad=circular) relu gap dense(sw=0.9)");
    double x[N * IMG], xs[N * IMG], k0[N * N], t0[N * N], k1[N * N], t1[N * N];
    static const double cs[] = {1e-150, 1e150};
    tu_rng r = {8};
    int s, i;
    tu_fill_normal(&r, x, N * IMG);
    cr_assert_eq(entk_cn_kernel(&a, x, N, NULL, 0, C, H, W, k0, N, t0, N, 1), ENTK_OK);
    for (s = 0; s < 2; ++s) {
        for (i = 0; i < N * IMG; ++i) xs[i] = cs[s] * x[i];
        cr_assert_eq(entk_cn_kernel(&a, xs, N, NULL, 0, C, H, W, k1, N, t1, N, 1), ENTK_OK);
        tu_expect_degree2(cs[s], k0, t0, k1, t1, N * N);
    }
    for (i = 0; i < N * IMG; ++i) xs[i] = 1e200 * x[i];
    cr_expect_eq(entk_cn_kernel(&a, xs, N, NULL, 0, C, H, W, k1, N, t1, N, 1), ENTK_ERR_RANGE);
    cr_expect_eq(entk_cn_kernel(&a, xs, N, x, N, C, H, W, k1, N, NULL, 0, 2), ENTK_ERR_RANGE);
    {
        size_t wl, sl;
        double *wk, *self, kk, tt;
        cr_assert_eq(entk_cn_workspace_size(&a, C, H, W, &wl, &sl), ENTK_OK);
        wk = malloc(wl * sizeof *wk);
        self = malloc(sl * sizeof *self);
        cr_assert(wk && self);
        cr_expect_eq(entk_cn_self(&a, xs, C, H, W, self, wk), ENTK_ERR_RANGE);
        cr_expect_eq(entk_cn_pair(&a, xs, NULL, x, NULL, C, H, W, wk, &kk, &tt), ENTK_ERR_RANGE);
        cr_expect_eq(entk_cn_pair(&a, x, NULL, x + IMG, NULL, C, H, W, wk, &kk, &tt), ENTK_OK);
        free(wk);
        free(self);
    }
    { /* erf saturates: the overflow must still be reported, not hidden in K = 1 */
        entk_arch e = tu_parse("conv(q=3,pad=circular) erf gap dense");
        cr_expect_eq(entk_cn_kernel(&e, xs, N, NULL, 0, C, H, W, k1, N, NULL, 0, 1), ENTK_ERR_RANGE);
        e = tu_parse("conv(q=3,pad=circular) relu conv(sw=1e160,pad=circular) gap dense");
        cr_expect_eq(entk_cn_kernel(&e, x, N, NULL, 0, C, H, W, k1, N, t1, N, 1), ENTK_ERR_RANGE);
    }
}

/* Closed forms. With circular padding every pixel kernel of a constant image is constant, so the net
 * reduces to the scalar recursion. All-zero images through
 *   conv(q=3,circular,sw=1.5,sb=0.5) relu conv(q=3,circular,sb=0.2) gap dense(sb=0.1):
 * K1 = sb^2 = 0.25, relu T(k,k,k) = k/2 = 0.125 and Tdot = 1/2, K2 = 0.125 + 0.04 = 0.165,
 * K = 0.165 + 0.01 = 0.175; Theta1 = 0.25, Theta2 = 0.165 + 0.125 = 0.29, Theta = 0.175 + 0.29 = 0.465
 * (for every pair of zero images). Constant images v and w (all channels): K0 = v w, then the pair
 * recursion with the relu closed form. */
static void cn_relu_step(double a, double b, double *c, double *t) {
    double s = sqrt(fmax(a * b - *c * *c, 0)), th = (s == 0 && *c == 0) ? M_PI / 2 : atan2(s, *c);
    *t *= (M_PI - th) / (2 * M_PI);
    *c = (s + (M_PI - th) * *c) / (2 * M_PI);
}
Test(cn_scale, zero_and_constant_images_give_closed_forms) {
    enum { C = 2, H = 4, W = 4, IMG = C * H * W };
    entk_arch a = tu_parse("conv(q=3,pad=circular,sw=1.5,sb=0.5) relu conv(q=3,pad=circular,sb=0.2) gap dense(sb=0.1)");
    double x[2 * IMG], k[4], t[4];
    int i, p, q;
    memset(x, 0, sizeof x);
    cr_assert_eq(entk_cn_kernel(&a, x, 2, NULL, 0, C, H, W, k, 2, t, 2, 1), ENTK_OK);
    for (i = 0; i < 4; ++i) {
        cr_expect(fabs(k[i] - 0.175) <= 1e-15, "zero images K %.17g, stated 0.175", k[i]);
        cr_expect(fabs(t[i] - 0.465) <= 1e-15, "zero images NTK %.17g, stated 0.465", t[i]);
    }
    for (i = 0; i < IMG; ++i) { x[i] = 0.7; x[IMG + i] = -1.3; }
    cr_assert_eq(entk_cn_kernel(&a, x, 2, NULL, 0, C, H, W, k, 2, t, 2, 1), ENTK_OK);
    for (p = 0; p < 2; ++p)
        for (q = 0; q < 2; ++q) {
            const double v = p ? -1.3 : 0.7, w = q ? -1.3 : 0.7;
            double a1 = 2.25 * v * v + 0.25, b1 = 2.25 * w * w + 0.25, c1 = 2.25 * v * w + 0.25, tc = c1;
            double kk, tt;
            const double sc = sqrt(a1 * b1); /* the size of the terms (they cancel for v w < 0) */
            cn_relu_step(a1, b1, &c1, &tc);
            kk = c1 + 0.04;
            tt = kk + tc;
            kk += 0.01;
            tt = kk + tt;
            cr_expect(fabs(k[p * 2 + q] - kk) <= 1e-14 * sc, "(%d, %d): K %.17g vs %.17g", p, q, k[p * 2 + q], kk);
            cr_expect(fabs(t[p * 2 + q] - tt) <= 1e-14 * sc, "(%d, %d): NTK %.17g vs %.17g", p, q, t[p * 2 + q], tt);
        }
}

/* A 30-conv-layer relu CNN (sw = sqrt 2, circular padding) on constant images is finite and equals the
 * independent scalar recursion; the diagonal is preserved: K(x, x) = v^2 at every depth (stated;
 * sw = sqrt(2) rounds, hence 1e-13). */
Test(cn_scale, deep_cnn_matches_an_independent_recursion) {
    enum { C = 1, H = 4, W = 4, IMG = C * H * W, DEPTH = 30 };
    char spec[2048] = "";
    entk_arch a;
    double x[2 * IMG], k[4], t[4];
    int i, p, q;
    for (i = 0; i < DEPTH; ++i) strcat(spec, "conv(q=3,pad=circular,sw=1.4142135623730951) relu ");
    strcat(spec, "gap");
    a = tu_parse(spec);
    for (i = 0; i < IMG; ++i) { x[i] = 0.9; x[IMG + i] = -0.4; }
    cr_assert_eq(entk_cn_kernel(&a, x, 2, NULL, 0, C, H, W, k, 2, t, 2, 1), ENTK_OK);
    for (p = 0; p < 2; ++p)
        for (q = 0; q < 2; ++q) {
            const double v = p ? -0.4 : 0.9, w = q ? -0.4 : 0.9, cw = 1.4142135623730951 * 1.4142135623730951;
            double a1 = v * v, b1 = w * w, c1 = v * w, tc = 0;
            int l;
            for (l = 0; l < DEPTH; ++l) {
                c1 = cw * c1; tc = c1 + cw * tc; a1 *= cw; b1 *= cw;
                if (l == 0) tc = c1;
                if (p == q) a1 = b1 = c1; /* the diagonal exactly on the boundary, as the library's own */
                cn_relu_step(a1, b1, &c1, &tc);
                a1 /= 2; b1 /= 2;
            }
            cr_expect(isfinite(k[p * 2 + q]) && isfinite(t[p * 2 + q]), "not finite");
            cr_expect(fabs(k[p * 2 + q] - c1) <= 1e-13 * sqrt(a1 * b1), "(%d, %d): K %.17g vs %.17g", p, q, k[p * 2 + q], c1);
            cr_expect(fabs(t[p * 2 + q] - tc) <= 1e-12 * fabs(tc), "(%d, %d): NTK %.17g vs %.17g", p, q, t[p * 2 + q], tc);
        }
    /* each conv doubles the diagonal and each relu halves it: K(x, x) = v^2 after the last relu */
    cr_expect(fabs(k[0] - 0.81) <= 1e-13, "diag %.17g, stated v^2 = 0.81", k[0]);
    cr_expect(fabs(k[3] - 0.16) <= 1e-13, "diag %.17g, stated 0.16", k[3]);
}

/* ============================================================================================== */
/* entk_cn_check_shape: the size rules with their messages; entk_cn_diag                           */
/* ============================================================================================== */

/* Every rule that needs the image size, at the layer where it applies, and the status entk_cn_kernel
 * (or entk_cn_kernel_orbit) returns for the same architecture and size. */
Test(cn_check, shape_rules_name_the_layer_and_match_the_kernel) {
    static const struct { const char *s; entk_orbit orbit; size_t C, H, W; entk_status st; const char *msg; } cases[] = {
        {"conv(q=7) relu gap", ENTK_ORBIT_NONE, 1, 5, 5, ENTK_ERR_SHAPE, "layer 1 'conv': window 7 larger than the 5 x 5 input"},
        {"conv(q=5) relu conv(q=3) gap", ENTK_ORBIT_NONE, 1, 5, 5, ENTK_ERR_SHAPE,
         "layer 3 'conv': window 3 larger than the 1 x 1 input"},
        {"conv(q=5) relu conv(q=3) gap", ENTK_ORBIT_NONE, 1, 7, 6, ENTK_ERR_SHAPE,
         "layer 3 'conv': window 3 larger than the 3 x 2 input"},
        {"conv(q=5) relu conv(q=3) gap", ENTK_ORBIT_NONE, 1, 7, 7, ENTK_OK, ""},
        {"lift(n=4,q=5) relu gconv(q=3) gpool", ENTK_ORBIT_NONE, 2, 5, 5, ENTK_ERR_SHAPE,
         "layer 3 'gconv': window 3 larger than the 1 x 1 input"},
        {"lift(n=4) rotpool lift(n=2,q=5) gpool", ENTK_ORBIT_NONE, 1, 5, 5, ENTK_ERR_SHAPE,
         "layer 3 'lift': window 5 larger than the 3 x 3 input"},
        {"conv(pad=same) avgpool(p=6) gap", ENTK_ORBIT_NONE, 1, 5, 5, ENTK_ERR_SHAPE,
         "layer 2 'avgpool': pool 6 larger than the 5 x 5 input"},
        {"conv avgpool(p=2) conv(q=3) gap", ENTK_ORBIT_NONE, 1, 7, 8, ENTK_ERR_SHAPE,
         "layer 3 'conv': window 3 larger than the 2 x 3 input"},
        {"conv(q=5,pad=same) avgpool(p=5) gap", ENTK_ORBIT_NONE, 1, 5, 5, ENTK_OK, ""}, /* same keeps 5 x 5 */
        {"conv(pad=same) gap", ENTK_ORBIT_NONE, 0, 5, 5, ENTK_ERR_SHAPE, "empty images (0 x 5 x 5)"},
        {"conv(pad=same) gap", ENTK_ORBIT_NONE, 1, 5, 0, ENTK_ERR_SHAPE, "empty images (1 x 5 x 0)"},
        {"conv(pad=circular) relu gap", ENTK_ORBIT_C4, 1, 5, 10, ENTK_ERR_SHAPE,
         "orbit averages rotate the images: they must be square, not 5 x 10"},
        {"conv(pad=circular) relu gap", ENTK_ORBIT_D4, 1, 5, 5, ENTK_OK, ""},
        {"conv(pad=circular) relu gap", (entk_orbit)7, 1, 5, 5, ENTK_ERR_INVALID_ARG, "unknown orbit 7"},
        /* layer order first where it comes first: the window at layer 1 before gconv at layer 2 */
        {"conv(q=5) gconv gap", ENTK_ORBIT_NONE, 1, 3, 3, ENTK_ERR_SHAPE, "layer 1 'conv': window 5 larger than the 3 x 3 input"},
        {"conv(q=5) gconv gap", ENTK_ORBIT_NONE, 1, 5, 5, ENTK_ERR_ARCH, "layer 2 'gconv': gconv must follow a lift"},
        /* every shape-free rule as in entk_arch_check; SO(3) layers are ENTK_ERR_ARCH here */
        {"dense relu dense", ENTK_ORBIT_NONE, 1, 5, 5, ENTK_ERR_ARCH,
         "layer 1 'dense': an image architecture starts with conv or lift"},
        {"s2lift gap", ENTK_ORBIT_NONE, 1, 5, 5, ENTK_ERR_ARCH,
         "layer 1 's2lift': an SO(3) layer outside an SO(3) network (one starts with s2lift)"},
        {"conv(pad=same) gap atomsum", ENTK_ORBIT_NONE, 1, 5, 5, ENTK_ERR_ARCH,
         "layer 3 'atomsum': atomsum must be the last layer, after an MLP or SO(3) atom network"},
    };
    double x[2 * 2 * 10 * 10] = {0}, K[4], T[4];
    size_t i;
    for (i = 0; i < sizeof x / sizeof x[0]; ++i) x[i] = (double)(i % 17) / 17;
    for (i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        entk_arch a = tu_parse(cases[i].s);
        char err[256];
        entk_status st;
        memset(err, 'x', sizeof err);
        st = entk_cn_check_shape(&a, cases[i].orbit, cases[i].C, cases[i].H, cases[i].W, err, sizeof err);
        cr_expect_eq(st, cases[i].st, "'%s' %zu x %zu x %zu: status %d", cases[i].s, cases[i].C, cases[i].H, cases[i].W,
                     (int)st);
        cr_expect_str_eq(err, cases[i].msg, "'%s'", cases[i].s);
        cr_expect_eq(entk_cn_kernel_orbit(&a, cases[i].orbit, x, 2, NULL, 0, cases[i].C, cases[i].H, cases[i].W, K, 2, T, 2,
                                          1), st, "'%s'", cases[i].s);
        if (cases[i].orbit == ENTK_ORBIT_NONE) {
            size_t wl, sl;
            cr_expect_eq(entk_cn_kernel(&a, x, 2, NULL, 0, cases[i].C, cases[i].H, cases[i].W, K, 2, T, 2, 1), st);
            cr_expect_eq(entk_cn_workspace_size(&a, cases[i].C, cases[i].H, cases[i].W, &wl, &sl), st);
            cr_expect_eq(entk_cn_diag(&a, x, 2, cases[i].C, cases[i].H, cases[i].W, K, T, 1), st);
        }
    }
    {
        entk_arch a = tu_parse("conv(q=5) relu gap");
        char err[128];
        cr_expect_eq(entk_cn_check_shape(&a, ENTK_ORBIT_NONE, 1, (size_t)1 << 40, (size_t)1 << 40, err, sizeof err),
                     ENTK_ERR_OVERFLOW);
        cr_expect_str_eq(err, "images of 1 x 1099511627776 x 1099511627776: the workspace size overflows");
        cr_expect_eq(entk_cn_check_shape(NULL, ENTK_ORBIT_NONE, 1, 5, 5, err, sizeof err), ENTK_ERR_INVALID_ARG);
        cr_expect_str_eq(err, "no architecture (NULL)");
        cr_expect_eq(entk_cn_check_shape(&a, ENTK_ORBIT_NONE, 1, 5, 5, NULL, 0), ENTK_OK);
    }
}

/* The image architectures of entk_arch_check's rules give the kernel the same status. */
Test(cn_check, arch_check_statuses_equal_the_kernel_statuses) {
    static const char *archs[] = {
        "dense gap", "conv dense gap", "conv(pad=same) gconv gap", "relu conv gap", "conv(pad=same) relu",
        "lift(n=4,pad=same) lift(n=2) gpool", "lift(n=4,pad=same) conv(pad=same) gpool", "conv(pad=same) rotpool gap",
        "conv(pad=same) gap conv", "conv(pad=same) gap gap", "lift(n=4) rotpool gconv gap", "gpool",
        "lift(n=4,pad=same) relu rotpool conv(pad=same) gap dense", "lift(n=1,pad=same) conv(pad=same) gconv gpool",
    };
    double x[2 * 25], K[4], T[4];
    size_t i;
    for (i = 0; i < 50; ++i) x[i] = (double)i / 50;
    for (i = 0; i < sizeof archs / sizeof archs[0]; ++i) {
        entk_arch a = tu_parse(archs[i]);
        entk_domain d;
        char e1[256], e2[256];
        entk_status st = entk_arch_check(&a, &d, e1, sizeof e1);
        cr_expect_eq(d, ENTK_DOMAIN_IMAGE, "%s", archs[i]);
        cr_expect_eq(entk_cn_kernel(&a, x, 2, NULL, 0, 1, 5, 5, K, 2, T, 2, 1), st, "%s", archs[i]);
        cr_expect_eq(entk_cn_check_shape(&a, ENTK_ORBIT_NONE, 1, 5, 5, e2, sizeof e2), st, "%s", archs[i]);
        cr_expect_str_eq(e1, e2, "%s", archs[i]); /* one message for one rule */
    }
}

/* entk_cn_diag is the diagonal of the symmetric Gram matrix bit for bit (any thread count, NNGP or NTK
 * alone); entk_cn_diag_orbit that of the orbit Gram matrix. */
Test(cn_diag, equals_the_gram_diagonal_bit_for_bit) {
    static const char *archs[] = {
        "conv(q=3,pad=same) relu conv(q=3) erf gap dense relu dense",
        "lift(n=4,flip=1,q=3,pad=same) relu gconv(q=3,pad=same) relu gpool dense",
        "conv(q=3,pad=circular) relu avgpool(p=2) conv(q=1) relu flatten",
    };
    const size_t n = 4, C = 2, N = 6;
    size_t c, i;
    for (c = 0; c < sizeof archs / sizeof archs[0]; ++c) {
        entk_arch a = tu_parse(archs[c]);
        double *x = tu_normal_alloc(n * C * N * N, 140 + c);
        double K[16], T[16], kd[4], td[4], kd2[4], td2[4], kn[4], tn[4];
        int o;
        cr_assert_eq(entk_cn_kernel(&a, x, n, NULL, 0, C, N, N, K, n, T, n, 1), ENTK_OK);
        cr_assert_eq(entk_cn_diag(&a, x, n, C, N, N, kd, td, 1), ENTK_OK);
        cr_assert_eq(entk_cn_diag(&a, x, n, C, N, N, kd2, td2, 2), ENTK_OK);
        cr_assert_eq(entk_cn_diag(&a, x, n, C, N, N, kn, NULL, 2), ENTK_OK);
        cr_assert_eq(entk_cn_diag(&a, x, n, C, N, N, NULL, tn, 1), ENTK_OK);
        for (i = 0; i < n; ++i) {
            cr_expect(kd[i] == K[i * n + i] && td[i] == T[i * n + i], "%s: %zu: %.17g %.17g", archs[c], i, kd[i],
                      K[i * n + i]);
            cr_expect(kd2[i] == kd[i] && td2[i] == td[i] && kn[i] == kd[i] && tn[i] == td[i], "%s: %zu", archs[c], i);
        }
        for (o = ENTK_ORBIT_C4; o <= ENTK_ORBIT_D4; ++o) {
            cr_assert_eq(entk_cn_kernel_orbit(&a, (entk_orbit)o, x, n, NULL, 0, C, N, N, K, n, T, n, 2), ENTK_OK);
            cr_assert_eq(entk_cn_diag_orbit(&a, (entk_orbit)o, x, n, C, N, N, kd, td, 1), ENTK_OK);
            cr_assert_eq(entk_cn_diag_orbit(&a, (entk_orbit)o, x, n, C, N, N, kn, NULL, 2), ENTK_OK);
            for (i = 0; i < n; ++i)
                cr_expect(kd[i] == K[i * n + i] && td[i] == T[i * n + i] && kn[i] == kd[i], "%s orbit %d: %zu: %.17g %.17g",
                          archs[c], o, i, kd[i], K[i * n + i]);
        }
        cr_assert_eq(entk_cn_diag_orbit(&a, ENTK_ORBIT_NONE, x, n, C, N, N, kn, tn, 1), ENTK_OK);
        cr_assert_eq(entk_cn_diag(&a, x, n, C, N, N, kd, td, 1), ENTK_OK);
        cr_expect(memcmp(kn, kd, sizeof kd) == 0 && memcmp(tn, td, sizeof td) == 0);
        free(x);
    }
}

/* entk_cn_diag and entk_cn_diag_orbit (a diagonal pass of the Gram driver) against the Gram
 * diagonals, bit for bit, for several architectures and thread counts 1 to 3 on the row path
 * (entk_cn_set_small_limit(0)): the orbit diagonals then run pair passes through the fused conv chains
 * (tiled and block-row), which the self records never take; n = 5 is no multiple of any thread
 * count. */
static void diag_vs_gram(const char *arch, size_t n, size_t C, size_t N, uint64_t seed) {
    entk_arch a = tu_parse(arch);
    double *x = tu_normal_alloc(n * C * N * N, seed), *K = malloc(n * n * sizeof *K), *T = malloc(n * n * sizeof *T);
    double *kd = malloc(n * sizeof *kd), *td = malloc(n * sizeof *td);
    size_t i;
    int o, th;
    for (o = ENTK_ORBIT_NONE; o <= ENTK_ORBIT_D4; ++o) {
        cr_assert_eq(entk_cn_kernel_orbit(&a, (entk_orbit)o, x, n, NULL, 0, C, N, N, K, n, T, n, 2), ENTK_OK, "%s", arch);
        for (th = 1; th <= 3; ++th) {
            memset(kd, 0xff, n * sizeof *kd); /* NaN: every entry must be written */
            memset(td, 0xff, n * sizeof *td);
            cr_assert_eq(entk_cn_diag_orbit(&a, (entk_orbit)o, x, n, C, N, N, kd, td, th), ENTK_OK, "%s", arch);
            for (i = 0; i < n; ++i)
                cr_assert(memcmp(&kd[i], &K[i * n + i], sizeof *kd) == 0 && memcmp(&td[i], &T[i * n + i], sizeof *td) == 0,
                          "%s, orbit %d, threads %d: %zu: %.17g %.17g, want %.17g %.17g", arch, o, th, i, kd[i], td[i],
                          K[i * n + i], T[i * n + i]);
            memset(kd, 0xff, n * sizeof *kd);
            cr_assert_eq(entk_cn_diag_orbit(&a, (entk_orbit)o, x, n, C, N, N, kd, NULL, th), ENTK_OK, "%s", arch);
            for (i = 0; i < n; ++i)
                cr_assert(memcmp(&kd[i], &K[i * n + i], sizeof *kd) == 0, "%s, orbit %d, threads %d, NNGP only: %zu",
                          arch, o, th, i);
        }
    }
    free(x); free(K); free(T); free(kd); free(td);
}

Test(cn_diag, equals_the_gram_diagonal_on_the_row_path_with_chains) {
    static const char *archs[] = {
        "conv(q=3,pad=same) relu conv(q=3,pad=same) erf conv(q=3,pad=same) relu gap dense relu dense", /* tiled */
        "conv(q=5,pad=same,sb=0.1) gelu conv(q=3,pad=same) relu avgpool(p=2) flatten dense",          /* block-row */
        "conv(q=3,pad=valid) relu conv(q=3,pad=circular) leaky_relu(a=0.1) gap",
        "lift(n=4,flip=1,q=3,pad=same) relu gconv(q=3,pad=same) relu rotpool conv(q=3,pad=same) relu gap",
    };
    const size_t old = entk_cn_set_small_limit(0);
    size_t c;
    for (c = 0; c < sizeof archs / sizeof archs[0]; ++c) diag_vs_gram(archs[c], 5, 2, 8, 150 + c);
    entk_cn_set_small_limit(old);
}

/* Many channels make big images with cheap pairs: the orbit copies are then made in several chunks
 * (about 8 MB each, at least 4 inputs per thread), which must not move an entry. */
Test(cn_diag, orbit_diagonal_in_chunks_equals_the_gram_diagonal) {
    diag_vs_gram("conv(q=3,pad=same) relu gap dense", 10, 2048, 4, 160);
}

Test(cn_diag, errors) {
    entk_arch a = tu_parse("conv(pad=same) relu gap");
    double x[2 * 30], kd[2], td[2];
    size_t i;
    for (i = 0; i < 60; ++i) x[i] = (double)i / 60;
    cr_expect_eq(entk_cn_diag(&a, x, 0, 1, 5, 5, kd, td, 1), ENTK_OK);
    cr_expect_eq(entk_cn_diag(&a, NULL, 2, 1, 5, 5, kd, td, 1), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_cn_diag(&a, x, 2, 1, 5, 5, NULL, NULL, 1), ENTK_OK); /* as entk_mlp_diag */
    cr_expect_eq(entk_cn_diag_orbit(&a, ENTK_ORBIT_C4, x, 2, 1, 5, 6, kd, td, 1), ENTK_ERR_SHAPE);
    cr_expect_eq(entk_cn_diag_orbit(&a, (entk_orbit)9, x, 2, 1, 5, 5, kd, td, 1), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_cn_diag(NULL, x, 2, 1, 5, 5, kd, td, 1), ENTK_ERR_INVALID_ARG);
    a = tu_parse("conv(pad=same) gconv gap");
    cr_expect_eq(entk_cn_diag(&a, x, 2, 1, 5, 5, kd, td, 1), ENTK_ERR_ARCH);
    a = tu_parse("conv(pad=same) relu gap");
    x[33] = NAN;
    cr_expect_eq(entk_cn_diag(&a, x, 2, 1, 5, 5, kd, td, 2), ENTK_ERR_NONFINITE);
    x[33] = 1e300; /* the input's own diagonal leaves the double range */
    cr_expect_eq(entk_cn_diag(&a, x, 2, 1, 5, 5, kd, td, 2), ENTK_ERR_RANGE);
    cr_expect_eq(entk_cn_diag_orbit(&a, ENTK_ORBIT_D4, x, 2, 1, 5, 5, kd, td, 1), ENTK_ERR_RANGE);
}
