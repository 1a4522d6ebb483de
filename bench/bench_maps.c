/* Nonlinearity maps and first-layer dot products: scalar against AVX2 (entk_simd_set), same inputs,
 * same run. n = 4096 entries (5 arrays of 32 KiB: L2-resident), each timing is INNER = 4 calls (short, so that a shared
 * machine rarely preempts one), 63
 * repetitions, min and median reported in ns per element; ratios scalar / SIMD. */
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

static bu_stat timed(entk_simd p, void (*fn)(void *)) {
    entk_simd_set(p);
    fn(NULL); /* warm up */
    return bu_time(fn, NULL, REPS);
}

int main(void) {
    static const struct { entk_nonlin_kind k; const char *name; } maps[] = {
        {ENTK_NL_RELU, "relu"}, {ENTK_NL_ERF, "erf"}, {ENTK_NL_GELU, "gelu"},
        {ENTK_NL_LEAKY_RELU, "leaky_relu"}, {ENTK_NL_SIN, "sin"}, {ENTK_NL_IDENTITY, "identity"}};
    unsigned long long s = 12345;
    int i, m;
    int have_avx2 = entk_simd_set(ENTK_SIMD_AVX2) == ENTK_OK;
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
    printf("%-11s %-6s %12s %12s %12s %12s %9s %9s\n", "map", "theta", "scalar min", "scalar med", "avx2 min",
           "avx2 med", "ratio min", "ratio med");
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
                printf("%-11s %-6s %12.2f %12.2f %12.2f %12.2f %9.2f %9.2f\n", maps[m].name, with_theta ? "yes" : "no",
                       s0.min * per, s0.median * per, s1.min * per, s1.median * per, s0.min / s1.min,
                       s0.median / s1.median);
            } else {
                printf("%-11s %-6s %12.2f %12.2f\n", maps[m].name, with_theta ? "yes" : "no", s0.min * per,
                       s0.median * per);
            }
        }
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
