/* Nonlinearity maps and first-layer dot products: scalar against AVX2 and AVX-512 (entk_simd_set),
 * same inputs, same run. Then the bound: this core's vsqrtpd / vdivpd throughput on ymm and on zmm (8
 * independent chains each, per element = per lane), and per map the time its count of square roots
 * and divisions per element needs at that throughput (they share the divider, so the counts add),
 * against the map's achieved AVX2 and AVX-512 times in the same run. n = 4096 entries (5 arrays of 32 KiB: L2-resident), each timing is INNER = 4 calls (short, so that a shared
 * machine rarely preempts one), 63
 * repetitions, min and median reported in ns per element; ratios scalar / SIMD. A second table times the
 * relu and erf maps with SLEEF's atan2 (the maps before entk's own atan2) against the library's. */
#define ENTK_IMPLEMENTATION
#include "benchutil.h"
#include <math.h>
#include <string.h>

enum { N = 4096, INNER = 4, REPS = 63 };
static double a[N], b[N], c[N], th[N], t[N], d[N];
static entk_nonlin cur;
static int with_theta;

static void run_map(void *arg) {
    int r;
    (void)arg;
    for (r = 0; r < INNER; ++r)
        entk_nonlin_map(&cur, N, a, 1, b, 1, c, with_theta ? th : NULL, t, with_theta ? d : NULL);
}

enum { DN = 256, DD = 64 };
static double x1[DN * DD], kk[DN * DN];
static entk_arch dense;
static void run_dots(void *arg) {
    (void)arg;
    entk_mlp_kernel(&dense, x1, DN, x1, DN, DD, kk, DN, NULL, 0, 1);
}

/* For comparison only: the relu and erf maps as they were before entk's own atan2, with SLEEF's
 * Sleef_atan2d4_u10avx2 (same driver, same formula). */
#if ENTK__HAVE_AVX2 && !defined(ENTK_NO_SLEEF)
#ifndef __AVX__
/* sleef.h declares its AVX2 functions only under __AVX__; entk.h re-declares the two the library
 * calls, and this comparison needs one more, with the same target attribute. */
ENTK__AVX2 __attribute__((const)) __m256d Sleef_atan2d4_u10avx2(__m256d y, __m256d x);
#endif /* !__AVX__ */
static ENTK__AVX2 inline __m256d sleef_relu_blk(__m256d a, __m256d b, __m256d c, __m256d *d, const entk_nonlin *f) {
    const __m256d zero = _mm256_setzero_pd(), k = _mm256_set1_pd(0.5 / ENTK__PI);
    __m256d s = _mm256_sqrt_pd(_mm256_max_pd(_mm256_sub_pd(_mm256_mul_pd(a, b), _mm256_mul_pd(c, c)), zero));
    __m256d deg = _mm256_and_pd(_mm256_cmp_pd(s, zero, _CMP_EQ_OQ), _mm256_cmp_pd(c, zero, _CMP_EQ_OQ));
    __m256d ang = _mm256_blendv_pd(Sleef_atan2d4_u10avx2(s, c), _mm256_set1_pd(0.5 * ENTK__PI), deg);
    __m256d pt = _mm256_sub_pd(_mm256_set1_pd(ENTK__PI), ang);
    (void)f;
    *d = _mm256_mul_pd(pt, k);
    return _mm256_mul_pd(_mm256_add_pd(s, _mm256_mul_pd(pt, c)), k);
}
ENTK__AVX2_DRIVER(sleef_relu_map, sleef_relu_blk)
static ENTK__AVX2 inline __m256d sleef_erf_blk(__m256d a, __m256d b, __m256d c, __m256d *d, const entk_nonlin *f) {
    const __m256d one = _mm256_set1_pd(1.0), two = _mm256_set1_pd(2.0);
    __m256d rad = _mm256_max_pd(_mm256_sub_pd(_mm256_mul_pd(a, b), _mm256_mul_pd(c, c)), _mm256_setzero_pd());
    __m256d s = _mm256_sqrt_pd(_mm256_add_pd(_mm256_add_pd(one, _mm256_mul_pd(two, _mm256_add_pd(a, b))),
                                             _mm256_mul_pd(_mm256_set1_pd(4.0), rad)));
    (void)f;
    *d = _mm256_div_pd(_mm256_set1_pd(4.0 / ENTK__PI), s);
    return _mm256_mul_pd(_mm256_set1_pd(2.0 / ENTK__PI), Sleef_atan2d4_u10avx2(_mm256_mul_pd(two, c), s));
}
ENTK__AVX2_DRIVER(sleef_erf_map, sleef_erf_blk)
static entk__map_fn sleef_fn;
static void run_sleef(void *arg) {
    int r;
    (void)arg;
    for (r = 0; r < INNER; ++r) sleef_fn(N, a, 1, b, 1, c, with_theta ? th : NULL, t, with_theta ? d : NULL, &cur);
}
#define HAVE_SLEEF_CMP 1
#else
#define HAVE_SLEEF_CMP 0
#endif

/* ---- the divider bound: vsqrtpd / vdivpd ymm throughput, 8 independent chains of DV_IT steps ---- */
enum { DV_IT = 2048, DV_CH = 8 };
#if ENTK__HAVE_AVX2
static volatile double dv_sink;
static ENTK__AVX2 __attribute__((noinline)) void dv_sqrt(void *arg) {
    __m256d x[DV_CH];
    double o[4];
    int i, j;
    (void)arg;
    for (j = 0; j < DV_CH; ++j) x[j] = _mm256_set1_pd(1.5 + j);
    for (i = 0; i < DV_IT; ++i)
        for (j = 0; j < DV_CH; ++j) x[j] = _mm256_sqrt_pd(x[j]); /* stays in [1, 9]: no special cases */
    for (j = 1; j < DV_CH; ++j) x[0] = _mm256_add_pd(x[0], x[j]);
    _mm256_storeu_pd(o, x[0]);
    dv_sink = o[0];
}
static ENTK__AVX2 __attribute__((noinline)) void dv_div(void *arg) {
    const __m256d k = _mm256_set1_pd(1.0000001);
    __m256d x[DV_CH];
    double o[4];
    int i, j;
    (void)arg;
    for (j = 0; j < DV_CH; ++j) x[j] = _mm256_set1_pd(1.5 + j);
    for (i = 0; i < DV_IT; ++i)
        for (j = 0; j < DV_CH; ++j) x[j] = _mm256_div_pd(k, x[j]); /* alternates near x and 1/x */
    for (j = 1; j < DV_CH; ++j) x[0] = _mm256_add_pd(x[0], x[j]);
    _mm256_storeu_pd(o, x[0]);
    dv_sink = o[0];
}
/* one sqrt and one division per element (relu's count), to check that the two add */
static ENTK__AVX2 __attribute__((noinline)) void dv_both(void *arg) {
    const __m256d k = _mm256_set1_pd(1.0000001);
    __m256d x[DV_CH], y[DV_CH];
    double o[4];
    int i, j;
    (void)arg;
    for (j = 0; j < DV_CH; ++j) x[j] = y[j] = _mm256_set1_pd(1.5 + j);
    for (i = 0; i < DV_IT; ++i)
        for (j = 0; j < DV_CH; ++j) { x[j] = _mm256_div_pd(k, x[j]); y[j] = _mm256_sqrt_pd(y[j]); }
    for (j = 1; j < DV_CH; ++j) x[0] = _mm256_add_pd(_mm256_add_pd(x[0], x[j]), y[j]);
    _mm256_storeu_pd(o, x[0]);
    dv_sink = o[0];
}
/* the same three on zmm (the AVX-512 maps' divider) */
static ENTK__AVX512 __attribute__((noinline)) void dz_sqrt(void *arg) {
    __m512d x[DV_CH];
    int i, j;
    (void)arg;
    for (j = 0; j < DV_CH; ++j) x[j] = _mm512_set1_pd(1.5 + j);
    for (i = 0; i < DV_IT; ++i)
        for (j = 0; j < DV_CH; ++j) x[j] = _mm512_sqrt_pd(x[j]);
    for (j = 1; j < DV_CH; ++j) x[0] = _mm512_add_pd(x[0], x[j]);
    dv_sink = _mm512_reduce_add_pd(x[0]);
}
static ENTK__AVX512 __attribute__((noinline)) void dz_div(void *arg) {
    const __m512d k = _mm512_set1_pd(1.0000001);
    __m512d x[DV_CH];
    int i, j;
    (void)arg;
    for (j = 0; j < DV_CH; ++j) x[j] = _mm512_set1_pd(1.5 + j);
    for (i = 0; i < DV_IT; ++i)
        for (j = 0; j < DV_CH; ++j) x[j] = _mm512_div_pd(k, x[j]);
    for (j = 1; j < DV_CH; ++j) x[0] = _mm512_add_pd(x[0], x[j]);
    dv_sink = _mm512_reduce_add_pd(x[0]);
}
static ENTK__AVX512 __attribute__((noinline)) void dz_both(void *arg) {
    const __m512d k = _mm512_set1_pd(1.0000001);
    __m512d x[DV_CH], y[DV_CH];
    int i, j;
    (void)arg;
    for (j = 0; j < DV_CH; ++j) x[j] = y[j] = _mm512_set1_pd(1.5 + j);
    for (i = 0; i < DV_IT; ++i)
        for (j = 0; j < DV_CH; ++j) { x[j] = _mm512_div_pd(k, x[j]); y[j] = _mm512_sqrt_pd(y[j]); }
    for (j = 1; j < DV_CH; ++j) x[0] = _mm512_add_pd(_mm512_add_pd(x[0], x[j]), y[j]);
    dv_sink = _mm512_reduce_add_pd(x[0]);
}
#endif /* ENTK__HAVE_AVX2 */

static bu_stat timed(entk_simd p, void (*fn)(void *)) {
    entk_simd_set(p);
    fn(NULL); /* warm up */
    return bu_time(fn, NULL, REPS);
}

int main(void) {
    /* per map: square roots and divisions per element on the AVX2 path (entk.h 9.3.2: relu and leaky
     * relu sqrt + the atan2's one division; erf + (4/pi)/S; gelu + its five divisions 1/(1+k11),
     * 1/(1+k22), x3, y2 and y3 (two)); sin (SLEEF exp, expm1) and identity have none */
    static const struct { entk_nonlin_kind k; const char *name; int nsqrt, ndiv; } maps[] = {
        {ENTK_NL_RELU, "relu", 1, 1}, {ENTK_NL_ERF, "erf", 1, 2}, {ENTK_NL_GELU, "gelu", 1, 7},
        {ENTK_NL_LEAKY_RELU, "leaky_relu", 1, 1}, {ENTK_NL_SIN, "sin", 0, 0}, {ENTK_NL_IDENTITY, "identity", 0, 0}};
    double avx2_min[6][2] = {{0}}, z_min[6][2] = {{0}}, t_sqrt = 0, t_div = 0;
    unsigned long long s = 12345;
    int i, m;
    int have_avx2 = entk_simd_set(ENTK_SIMD_AVX2) == ENTK_OK;
    int have_z = entk_simd_set(ENTK_SIMD_AVX512) == ENTK_OK;
    bu_header("bench_maps: nonlinearity maps, ns/element, n = 4096");
    for (i = 0; i < N; ++i) { /* valid covariances: variances in [0.1, 3], |rho| < 1 */
        double u1, u2, u3;
        s = s * 6364136223846793005ull + 1442695040888963407ull; u1 = (double)(s >> 11) * 0x1.0p-53;
        s = s * 6364136223846793005ull + 1442695040888963407ull; u2 = (double)(s >> 11) * 0x1.0p-53;
        s = s * 6364136223846793005ull + 1442695040888963407ull; u3 = (double)(s >> 11) * 0x1.0p-53;
        a[i] = 0.1 + 2.9 * u1;
        b[i] = 0.1 + 2.9 * u2;
        c[i] = (2 * u3 - 1) * sqrt(a[i] * b[i]);
        th[i] = 1.0 + u3;
    }
    if (!have_avx2) printf("# AVX2+FMA not available: scalar only\n");
    if (have_avx2 && !have_z) printf("# AVX-512F/DQ/VL not available: no avx512 columns\n");
    printf("%-11s %-6s %12s %12s %12s %12s %9s %9s", "map", "theta", "scalar min", "scalar med", "avx2 min",
           "avx2 med", "ratio min", "ratio med");
    if (have_z) printf(" %12s %12s %9s %9s", "avx512 min", "avx512 med", "scal/512", "avx2/512");
    printf("\n");
    for (m = 0; m < (int)(sizeof maps / sizeof maps[0]); ++m)
        for (with_theta = 0; with_theta < 2; ++with_theta) {
            const double per = 1e9 / ((double)N * INNER);
            bu_stat s0, s1;
            memset(&cur, 0, sizeof cur);
            cur.kind = maps[m].k;
            cur.a = 0.1;
            s0 = timed(ENTK_SIMD_SCALAR, run_map);
            if (have_avx2) {
                s1 = timed(ENTK_SIMD_AVX2, run_map);
                printf("%-11s %-6s %12.2f %12.2f %12.2f %12.2f %9.2f %9.2f", maps[m].name, with_theta ? "yes" : "no",
                       s0.min * per, s0.median * per, s1.min * per, s1.median * per, s0.min / s1.min,
                       s0.median / s1.median);
                avx2_min[m][with_theta] = s1.min * per;
                if (have_z) {
                    bu_stat s2 = timed(ENTK_SIMD_AVX512, run_map);
                    printf(" %12.2f %12.2f %9.2f %9.2f", s2.min * per, s2.median * per, s0.min / s2.min,
                           s1.min / s2.min);
                    z_min[m][with_theta] = s2.min * per;
                }
                printf("\n");
            } else {
                printf("%-11s %-6s %12.2f %12.2f\n", maps[m].name, with_theta ? "yes" : "no", s0.min * per,
                       s0.median * per);
            }
        }
#if ENTK__HAVE_AVX2
    /* the bound: divider throughput, and per map its count of sqrt and div at that throughput */
    if (have_avx2) {
        const double per = 1e9 / ((double)DV_IT * DV_CH * 4);
        bu_stat q = bu_time(dv_sqrt, NULL, REPS), v = bu_time(dv_div, NULL, REPS), b = bu_time(dv_both, NULL, REPS);
        t_sqrt = q.min * per;
        t_div = v.min * per;
        printf("divider (ymm, 8 independent chains): vsqrtpd %.3f ns/element, vdivpd %.3f ns/element, one of each "
               "%.3f ns/element (sum %.3f)\n", t_sqrt, t_div, b.min * per, t_sqrt + t_div);
        double z_sqrt = 0, z_div = 0;
        if (have_z) {
            bu_stat zq = bu_time(dz_sqrt, NULL, REPS), zv = bu_time(dz_div, NULL, REPS), zb = bu_time(dz_both, NULL, REPS);
            z_sqrt = zq.min * per / 2; /* 8 lanes a vector */
            z_div = zv.min * per / 2;
            printf("divider (zmm, 8 independent chains): vsqrtpd %.3f ns/element, vdivpd %.3f ns/element, one of each "
                   "%.3f ns/element (sum %.3f)\n", z_sqrt, z_div, zb.min * per / 2, z_sqrt + z_div);
        }
        printf("%-11s %-6s %6s %6s %12s %12s %9s", "map", "theta", "sqrt", "div", "bound ns", "avx2 min",
               "avx2/bound");
        if (have_z) printf(" %12s %12s %11s", "zmm bound", "avx512 min", "512/zbound");
        printf("\n");
        for (m = 0; m < (int)(sizeof maps / sizeof maps[0]); ++m)
            for (with_theta = 0; with_theta < 2; ++with_theta) {
                const double bound = maps[m].nsqrt * t_sqrt + maps[m].ndiv * t_div;
                const double zb = maps[m].nsqrt * z_sqrt + maps[m].ndiv * z_div;
                if (bound > 0)
                    printf("%-11s %-6s %6d %6d %12.2f %12.2f %9.2f", maps[m].name, with_theta ? "yes" : "no",
                           maps[m].nsqrt, maps[m].ndiv, bound, avx2_min[m][with_theta], avx2_min[m][with_theta] / bound);
                else
                    printf("%-11s %-6s %6d %6d %12s %12.2f %9s", maps[m].name, with_theta ? "yes" : "no", 0, 0, "-",
                           avx2_min[m][with_theta], "-");
                if (have_z && zb > 0)
                    printf(" %12.2f %12.2f %11.2f", zb, z_min[m][with_theta], z_min[m][with_theta] / zb);
                else if (have_z)
                    printf(" %12s %12.2f %11s", "-", z_min[m][with_theta], "-");
                printf("\n");
            }
    }
#endif
#if HAVE_SLEEF_CMP
    /* entk's atan2 against SLEEF's inside the same maps (AVX2, same driver) */
    if (have_avx2) {
        printf("%-11s %-6s %12s %12s %12s %12s %9s %9s\n", "map", "theta", "sleef min", "sleef med", "entk min",
               "entk med", "sleef/entk", "scal/entk");
        for (m = 0; m < 2; ++m)
            for (with_theta = 0; with_theta < 2; ++with_theta) {
                const double per = 1e9 / ((double)N * INNER);
                bu_stat s0, s1, s2;
                memset(&cur, 0, sizeof cur);
                cur.kind = m ? ENTK_NL_ERF : ENTK_NL_RELU;
                sleef_fn = m ? sleef_erf_map : sleef_relu_map;
                s2 = timed(ENTK_SIMD_SCALAR, run_map);
                s0 = timed(ENTK_SIMD_AVX2, run_sleef);
                s1 = timed(ENTK_SIMD_AVX2, run_map);
                printf("%-11s %-6s %12.2f %12.2f %12.2f %12.2f %9.2f %9.2f\n", m ? "erf" : "relu", with_theta ? "yes" : "no",
                       s0.min * per, s0.median * per, s1.min * per, s1.median * per, s0.min / s1.min, s2.min / s1.min);
            }
    }
#endif
    /* dots: the first layer of a dense-only MLP, 256 x 256 Gram matrix of d = 64 inputs */
    entk_arch_parse("dense", &dense, NULL, 0);
    for (i = 0; i < DN * DD; ++i) x1[i] = sin(0.37 * i);
    {
        const double flop = 2.0 * DN * DN * DD;
        bu_stat s0 = timed(ENTK_SIMD_SCALAR, run_dots);
        printf("dots (256x256 Gram, d = 64): scalar min %.3f ms (%.2f GFLOP/s)", s0.min * 1e3, flop / s0.min * 1e-9);
        if (have_avx2) {
            bu_stat s1 = timed(ENTK_SIMD_AVX2, run_dots);
            printf(", avx2 min %.3f ms (%.2f GFLOP/s), ratio min %.2f med %.2f", s1.min * 1e3,
                   flop / s1.min * 1e-9, s0.min / s1.min, s0.median / s1.median);
        }
        printf("\n");
    }
    entk_simd_set(ENTK_SIMD_SCALAR);
    return 0;
}
