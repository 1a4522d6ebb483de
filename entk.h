/* entk.h - infinite-width NNGP and neural tangent kernels, core (MLP kernels, nonlinearity maps,
 *          Cholesky, kernel predictors, SIMD dispatch, .npy I/O).            public domain / MIT
 *
 * USAGE
 *   In exactly one C file:
 *       #define ENTK_IMPLEMENTATION
 *       #include "entk.h"
 *   Everywhere else just #include "entk.h". Link with `-lsleef -lm`, or build with -DENTK_NO_SLEEF and
 *   link with `-lm` only (the nonlinearity maps then run through libm on every path).
 *   Optional: -fopenmp enables the `threads` argument of the Gram-matrix functions.
 *
 * CONFIGURATION MACROS (define before the #include that carries ENTK_IMPLEMENTATION unless noted)
 *   name              where            default          effect
 *   ENTK_STATIC       every include    undefined        all functions `static` (private copy per TU)
 *   ENTK_NO_SIMD      implementation   undefined        compile the scalar path only
 *   ENTK_VECTOR       implementation   undefined        force a path: 0 scalar, 1 AVX2+FMA, 2 NEON
 *                                                       (undefined: best path chosen at run time)
 *   ENTK_NO_SLEEF     implementation   undefined        no SLEEF: vector paths call libm per lane
 *   ENTK_MALLOC/FREE  implementation   malloc/free      allocator hooks (define both or neither)
 *   ENTK_ASSERT       implementation   assert           internal consistency checks
 *   ENTK_MAX_LAYERS   every include    128              capacity of entk_arch
 *
 * CONTENTS
 *   1. Status codes                  6. Linear algebra (Cholesky, solves, eigensolver)
 *   2. SIMD dispatch                 7. Kernel predictors (SPEC §3)
 *   3. Nonlinearity maps             8. .npy reader and writer
 *   4. Architectures and the parser  9. Implementation
 *   5. MLP kernels
 *
 * CONVENTIONS
 *   Matrices are row-major with a leading dimension `ld` (elements between rows). NTK parametrisation
 *   (SPEC §1): every weight and bias is N(0,1), a layer multiplies by sw/sqrt(fan_in) and sb.
 *
 * EXAMPLE
 *   #define ENTK_IMPLEMENTATION
 *   #include "entk.h"
 *   int main(void) {
 *       entk_arch a; char err[128];
 *       double x[2 * 3] = {1, 0, 0, 0.6, 0.8, 0}, k[4], t[4];
 *       if (entk_arch_parse("dense(sw=1.5,sb=0.1) relu dense", &a, err, sizeof err)) return 1;
 *       return entk_mlp_kernel(&a, x, 2, NULL, 0, 3, k, 2, t, 2, 1) != ENTK_OK;
 *   }
 */
#ifndef ENTK_H
#define ENTK_H

#include <stddef.h>
#include <stdint.h>

#define ENTK_VERSION_MAJOR 0
#define ENTK_VERSION_MINOR 1
#define ENTK_VERSION_PATCH 0
#define ENTK_VERSION_STRING "0.1.0"

#ifdef ENTK_STATIC
#define ENTKDEF static
#else
#define ENTKDEF extern
#endif

#ifndef ENTK_MAX_LAYERS
#define ENTK_MAX_LAYERS 128
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ============================================================================================== */
/* 1. Status codes                                                                                */
/* ============================================================================================== */

#define ENTK__STATUS_LIST(X)                                                    \
    X(ENTK_OK, "ok")                                                            \
    X(ENTK_ERR_INVALID_ARG, "invalid argument")                                 \
    X(ENTK_ERR_NOMEM, "out of memory")                                          \
    X(ENTK_ERR_OVERFLOW, "size overflow")                                       \
    X(ENTK_ERR_SHAPE, "shape mismatch")                                         \
    X(ENTK_ERR_NONFINITE, "NaN or Inf value")                                   \
    X(ENTK_ERR_NOT_PD, "matrix is not positive definite")                       \
    X(ENTK_ERR_NO_CONVERGENCE, "iteration did not converge")                    \
    X(ENTK_ERR_ARCH, "invalid architecture")                                    \
    X(ENTK_ERR_UNSUPPORTED, "not supported")                                    \
    X(ENTK_ERR_IO, "I/O error")                                                 \
    X(ENTK_ERR_NPY_MAGIC, "not a .npy file")                                    \
    X(ENTK_ERR_NPY_HEADER, "malformed .npy header")                             \
    X(ENTK_ERR_NPY_DTYPE, "unsupported .npy dtype or layout")                   \
    X(ENTK_ERR_NPY_TRUNCATED, "truncated .npy file")

typedef enum entk_status {
#define ENTK__STATUS_ENUM(name, str) name,
    ENTK__STATUS_LIST(ENTK__STATUS_ENUM)
#undef ENTK__STATUS_ENUM
    ENTK__STATUS_COUNT
} entk_status;

/* A static, human-readable string for any status (never NULL; "unknown status" if out of range). */
ENTKDEF const char *entk_status_string(entk_status s);

/* ============================================================================================== */
/* 2. SIMD dispatch                                                                               */
/* ============================================================================================== */

typedef enum entk_simd {
    ENTK_SIMD_SCALAR = 0,
    ENTK_SIMD_AVX2 = 1, /* AVX2 + FMA, x86-64 */
    ENTK_SIMD_NEON = 2  /* Advanced SIMD, AArch64 */
} entk_simd;

/* The path that runs: "scalar", "avx2" or "neon" (suffix "+sleef" when SLEEF serves the maps). */
ENTKDEF const char *entk_simd_name(void);
ENTKDEF entk_simd entk_simd_path(void);
/* Select a path at run time (benchmarks, tests). ENTK_ERR_UNSUPPORTED if this build or CPU lacks it;
 * not thread-safe against concurrent kernel calls. */
ENTKDEF entk_status entk_simd_set(entk_simd path);
/* "3.5.1" or "none". */
ENTKDEF const char *entk_sleef_version(void);

/* ============================================================================================== */
/* 3. Nonlinearity maps                                                                           */
/* ============================================================================================== */

typedef enum entk_nonlin_kind {
    ENTK_NL_IDENTITY = 0,
    ENTK_NL_RELU,
    ENTK_NL_ERF,
    ENTK_NL_LEAKY_RELU, /* phi(x) = x for x >= 0, a x for x < 0            (param a) */
    ENTK_NL_GELU,       /* phi(x) = x Phi(x), Phi the standard normal cdf            */
    ENTK_NL_SIN,        /* phi(x) = sin(x)                                          */
    ENTK_NL_CUSTOM      /* any phi, by 2-D Gauss-Hermite quadrature (phi, dphi)     */
} entk_nonlin_kind;

typedef double (*entk_scalar_fn)(double x, void *user);

typedef struct entk_nonlin {
    entk_nonlin_kind kind;
    double a;            /* leaky_relu slope for x < 0 */
    entk_scalar_fn phi;  /* ENTK_NL_CUSTOM: phi and its derivative */
    entk_scalar_fn dphi;
    void *user;
    int order;           /* ENTK_NL_CUSTOM: Gauss-Hermite points per axis (0: default 48) */
} entk_nonlin;

/* Map n kernel entries through a pointwise nonlinearity (SPEC §1):
 *   t[i]         = T(k11, k22, k12[i])            = E[phi(u) phi(v)]
 *   theta_out[i] = Tdot(k11, k22, k12[i]) theta[i], Tdot = E[phi'(u) phi'(v)]
 * with (u, v) ~ N(0, [[k11, k12], [k12, k22]]), k11 = k11[i * inc11], k22 = k22[i * inc22];
 * inc11 and inc22 are 0 (broadcast one value) or 1. theta and theta_out may both be NULL (NNGP only).
 * t may alias k12 and theta_out may alias theta. Inputs must be finite with k11, k22 >= 0; values
 * with k12^2 > k11 k22 (rounding) are treated as on the boundary. Zero variances give finite results.
 * Accuracy: closed forms within a few ULP of the scalar libm oracle on the SIMD paths;
 * ENTK_NL_CUSTOM about 1e-10 relative for smooth phi of moderate growth at order 48. */
ENTKDEF entk_status entk_nonlin_map(const entk_nonlin *f, size_t n,
                                    const double *k11, size_t inc11,
                                    const double *k22, size_t inc22,
                                    const double *k12, const double *theta,
                                    double *t, double *theta_out);

/* ============================================================================================== */
/* 4. Architectures and the parser                                                                */
/* ============================================================================================== */

/* Every layer kind of every header lives in this one list, so the parser and the CLI build the same
 * layer list the C API takes. Which header computes a kind: MLP (entk.h), image (entk_cn.h), SO(3)
 * (entk_so3.h). */
typedef enum entk_layer_kind {
    ENTK_LAYER_DENSE = 0,
    ENTK_LAYER_NONLIN,
    ENTK_LAYER_CONV,
    ENTK_LAYER_AVGPOOL,
    ENTK_LAYER_GAP,
    ENTK_LAYER_FLATTEN,
    ENTK_LAYER_LIFT,
    ENTK_LAYER_GCONV,
    ENTK_LAYER_GPOOL,
    ENTK_LAYER_ROTPOOL,
    ENTK_LAYER_S2LIFT,
    ENTK_LAYER_SO3CONV,
    ENTK_LAYER_SO3POOL,
    ENTK_LAYER_ATOMSUM
} entk_layer_kind;

typedef enum entk_pad { ENTK_PAD_VALID = 0, ENTK_PAD_SAME, ENTK_PAD_CIRCULAR } entk_pad;
typedef enum entk_support { ENTK_SUPPORT_ALL = 0, ENTK_SUPPORT_ID } entk_support;

typedef struct entk_layer {
    entk_layer_kind kind;
    double sw, sb;     /* weight and bias scales of layers with weights (default 1, 0) */
    entk_nonlin nl;    /* ENTK_LAYER_NONLIN */
    int q;             /* window size (odd), conv/lift/gconv */
    entk_pad pad;      /* conv/lift/gconv */
    int n;             /* rotations in C_n, lift: 1, 2 or 4 */
    int flip;          /* lift: 1 adds reflections (D_n) */
    entk_support support; /* gconv */
    int p;             /* avgpool window */
    int L, Lout;       /* s2lift: input and output band limits; so3conv: L */
} entk_layer;

typedef struct entk_arch {
    int n_layers;
    entk_layer layer[ENTK_MAX_LAYERS];
} entk_arch;

/* A layer with every field at its default (sw = 1, sb = 0, q = 3, pad = valid, n = 1, ...). */
ENTKDEF entk_layer entk_layer_default(entk_layer_kind kind);

/* Parse SPEC §5's grammar: layers separated by spaces or commas, each `name` or `name(key=value,...)`.
 * On error returns ENTK_ERR_ARCH and writes a one-line message naming the offending token into err
 * (errlen bytes, may be 0). */
ENTKDEF entk_status entk_arch_parse(const char *text, entk_arch *arch, char *err, size_t errlen);

/* ============================================================================================== */
/* 5. MLP kernels                                                                                 */
/* ============================================================================================== */

/* NNGP and NTK Gram matrices of an MLP (dense and nonlinearity layers only; the first layer must be
 * dense). x1 is n1 x d, x2 is n2 x d (row-major, contiguous); x2 == NULL means x2 = x1, and then only
 * the upper triangle is computed and mirrored. nngp (n1 x n2, leading dimension ldk) and ntk (ldt) may
 * each be NULL. threads > 1 uses OpenMP when compiled with it; results are identical to threads = 1. */
ENTKDEF entk_status entk_mlp_kernel(const entk_arch *arch, const double *x1, size_t n1,
                                    const double *x2, size_t n2, size_t d,
                                    double *nngp, size_t ldk, double *ntk, size_t ldt, int threads);

/* Per-input diagonals K(x, x) and Theta(x, x) for the n inputs of x (n x d); either output may be NULL. */
ENTKDEF entk_status entk_mlp_diag(const entk_arch *arch, const double *x, size_t n, size_t d,
                                  double *nngp_diag, double *ntk_diag);

/* Propagate one pair's scalar state through layers[0..count) of dense and nonlinearity layers.
 * (k11, t11), (k22, t22): each input's own NNGP and NTK; (k12, t12): the pair's. Updated in place.
 * Used after global pooling by the image and SO(3) headers. */
ENTKDEF entk_status entk_scalar_chain(const entk_layer *layers, int count,
                                      double *k11, double *t11, double *k22, double *t22,
                                      double *k12, double *t12);

/* ==== [section: linalg interface] ============================================================ */

/* ==== [end: linalg interface] ================================================================ */



/* ==== [section: predict interface] =========================================================== */

/* ==== [end: predict interface] =============================================================== */



/* ==== [section: npy interface] =============================================================== */

/* ==== [end: npy interface] =================================================================== */

#ifdef __cplusplus
}
#endif
#endif /* ENTK_H */

/* ============================================================================================== */
/* --- implementation ---                                                                         */
/* ============================================================================================== */
#if defined(ENTK_IMPLEMENTATION) && !defined(ENTK_IMPLEMENTATION_DONE)
#define ENTK_IMPLEMENTATION_DONE

#include <math.h>
#include <string.h>
#include <stdlib.h>
#include <float.h>

#if defined(ENTK_MALLOC) && defined(ENTK_FREE)
#elif !defined(ENTK_MALLOC) && !defined(ENTK_FREE)
#define ENTK_MALLOC(sz) malloc(sz)
#define ENTK_FREE(p) free(p)
#else
#error "entk: define both ENTK_MALLOC and ENTK_FREE, or neither"
#endif

#ifndef ENTK_ASSERT
#include <assert.h>
#define ENTK_ASSERT(c) assert(c)
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- which vector paths are compiled ---- */
#if !defined(ENTK_NO_SIMD) && (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define ENTK__HAVE_AVX2 1
#include <immintrin.h>
#else
#define ENTK__HAVE_AVX2 0
#endif
#if !defined(ENTK_NO_SIMD) && defined(__aarch64__) && defined(__ARM_NEON)
#define ENTK__HAVE_NEON 1
#include <arm_neon.h>
#else
#define ENTK__HAVE_NEON 0
#endif
#if defined(ENTK_VECTOR) && ENTK_VECTOR == 1 && !ENTK__HAVE_AVX2
#error "entk: ENTK_VECTOR=1 needs x86-64 (and not ENTK_NO_SIMD)"
#endif
#if defined(ENTK_VECTOR) && ENTK_VECTOR == 2 && !ENTK__HAVE_NEON
#error "entk: ENTK_VECTOR=2 needs AArch64 with NEON (and not ENTK_NO_SIMD)"
#endif

/* SLEEF: sleef.h declares the AVX2 prototypes only under __AVX__ (and defines CONST and IMPORT), so
 * the few vector names used here are declared in the SIMD sections with the target attribute. */

#define ENTK__PI 3.14159265358979323846
#define ENTK__UNUSED(x) ((void)(x))

/* ============================================================================================== */
/* 9.1 Status codes, allocation helpers                                                           */
/* ============================================================================================== */

ENTKDEF const char *entk_status_string(entk_status s) {
    static const char *const names[] = {
#define ENTK__STATUS_STR(name, str) str,
        ENTK__STATUS_LIST(ENTK__STATUS_STR)
#undef ENTK__STATUS_STR
    };
    if ((int)s < 0 || (int)s >= (int)ENTK__STATUS_COUNT) return "unknown status";
    return names[s];
}

/* a * b without overflow, else ENTK_ERR_OVERFLOW */
static entk_status entk__mul(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return ENTK_ERR_OVERFLOW;
    *out = a * b;
    return ENTK_OK;
}

/* malloc of count doubles with overflow check; *p = NULL when count == 0 is not special-cased */
static entk_status entk__alloc_doubles(size_t count, double **p) {
    size_t bytes;
    *p = NULL;
    if (entk__mul(count ? count : 1, sizeof(double), &bytes)) return ENTK_ERR_OVERFLOW;
    *p = (double *)ENTK_MALLOC(bytes);
    return *p ? ENTK_OK : ENTK_ERR_NOMEM;
}

/* ============================================================================================== */
/* 9.2 SIMD dispatch                                                                              */
/* ============================================================================================== */

static int entk__path = -1; /* -1: not chosen yet */

static int entk__cpu_has_avx2(void) {
#if ENTK__HAVE_AVX2
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static entk_simd entk__best_path(void) {
#if defined(ENTK_VECTOR)
    return (entk_simd)ENTK_VECTOR;
#elif ENTK__HAVE_NEON
    return ENTK_SIMD_NEON;
#else
    return entk__cpu_has_avx2() ? ENTK_SIMD_AVX2 : ENTK_SIMD_SCALAR;
#endif
}

ENTKDEF entk_simd entk_simd_path(void) {
    if (entk__path < 0) entk__path = (int)entk__best_path();
    return (entk_simd)entk__path;
}

ENTKDEF entk_status entk_simd_set(entk_simd path) {
    switch (path) {
    case ENTK_SIMD_SCALAR: break;
    case ENTK_SIMD_AVX2: if (!entk__cpu_has_avx2()) return ENTK_ERR_UNSUPPORTED; break;
    case ENTK_SIMD_NEON: if (!ENTK__HAVE_NEON) return ENTK_ERR_UNSUPPORTED; break;
    default: return ENTK_ERR_INVALID_ARG;
    }
    entk__path = (int)path;
    return ENTK_OK;
}

ENTKDEF const char *entk_simd_name(void) {
    switch (entk_simd_path()) {
#ifdef ENTK_NO_SLEEF
    case ENTK_SIMD_AVX2: return "avx2";
    case ENTK_SIMD_NEON: return "neon";
#else
    case ENTK_SIMD_AVX2: return "avx2+sleef";
    case ENTK_SIMD_NEON: return "neon+sleef";
#endif
    default: return "scalar";
    }
}

ENTKDEF const char *entk_sleef_version(void) {
#ifdef ENTK_NO_SLEEF
    return "none";
#else
    return "3.5"; /* refined by the SIMD section when sleef.h is seen */
#endif
}

/* ============================================================================================== */
/* 9.3 Nonlinearity maps: scalar oracle                                                           */
/* ============================================================================================== */

/* All map kernels share this signature; the ISA variants differ only by suffix. */
typedef void (*entk__map_fn)(size_t n, const double *k11, size_t inc11, const double *k22, size_t inc22,
                             const double *k12, const double *th, double *t, double *tho,
                             const entk_nonlin *f);

/* Clamp k12 into [-sqrt(k11 k22), sqrt(k11 k22)] implicitly: s = sqrt(max(k11 k22 - k12^2, 0)). */
static void entk__relu_map_scalar(size_t n, const double *k11, size_t inc11, const double *k22,
                                  size_t inc22, const double *k12, const double *th, double *t,
                                  double *tho, const entk_nonlin *f) {
    size_t i;
    ENTK__UNUSED(f);
    for (i = 0; i < n; ++i) {
        double a = k11[i * inc11], b = k22[i * inc22], c = k12[i];
        double s = sqrt(fmax(a * b - c * c, 0.0));
        double ang = (s == 0.0 && c == 0.0) ? 0.5 * ENTK__PI : atan2(s, c);
        double pt = ENTK__PI - ang;
        t[i] = (s + pt * c) * (0.5 / ENTK__PI);
        if (tho) tho[i] = pt * (0.5 / ENTK__PI) * th[i];
    }
}

static void entk__erf_map_scalar(size_t n, const double *k11, size_t inc11, const double *k22,
                                 size_t inc22, const double *k12, const double *th, double *t,
                                 double *tho, const entk_nonlin *f) {
    size_t i;
    ENTK__UNUSED(f);
    for (i = 0; i < n; ++i) {
        double a = k11[i * inc11], b = k22[i * inc22], c = k12[i];
        double p = (1.0 + 2.0 * a) * (1.0 + 2.0 * b);
        double s = sqrt(fmax(p - 4.0 * c * c, 0.0));
        double thv = tho ? th[i] : 0.0;
        t[i] = (2.0 / ENTK__PI) * atan2(2.0 * c, s);
        if (tho) tho[i] = (4.0 / ENTK__PI) / s * thv;
    }
}

/* phi = x for x >= 0, a x below: T = [(1-a)^2 s + ((1+a^2)(pi - ang) + 2 a ang) k12] / (2 pi),
 * Tdot = ((1+a^2)(pi - ang) + 2 a ang) / (2 pi), with s, ang as for ReLU. */
static void entk__leaky_map_scalar(size_t n, const double *k11, size_t inc11, const double *k22,
                                   size_t inc22, const double *k12, const double *th, double *t,
                                   double *tho, const entk_nonlin *f) {
    size_t i;
    const double al = f->a, sq = (1.0 - al) * (1.0 - al), pp = 1.0 + al * al, cr = 2.0 * al;
    for (i = 0; i < n; ++i) {
        double a = k11[i * inc11], b = k22[i * inc22], c = k12[i];
        double s = sqrt(fmax(a * b - c * c, 0.0));
        double ang = (s == 0.0 && c == 0.0) ? 0.5 * ENTK__PI : atan2(s, c);
        double w = pp * (ENTK__PI - ang) + cr * ang;
        t[i] = (sq * s + w * c) * (0.5 / ENTK__PI);
        if (tho) tho[i] = w * (0.5 / ENTK__PI) * th[i];
    }
}

static void entk__identity_map_scalar(size_t n, const double *k11, size_t inc11, const double *k22,
                                      size_t inc22, const double *k12, const double *th, double *t,
                                      double *tho, const entk_nonlin *f) {
    size_t i;
    ENTK__UNUSED(k11); ENTK__UNUSED(inc11); ENTK__UNUSED(k22); ENTK__UNUSED(inc22); ENTK__UNUSED(f);
    for (i = 0; i < n; ++i) {
        t[i] = k12[i];
        if (tho) tho[i] = th[i];
    }
}

/* E[sin u sin v] = e^{-(k11+k22)/2} sinh(k12), E[cos u cos v] = e^{-(k11+k22)/2} cosh(k12); written
 * with exponents <= 0 (|k12| <= (k11+k22)/2) so that nothing overflows. */
static void entk__sin_map_scalar(size_t n, const double *k11, size_t inc11, const double *k22,
                                 size_t inc22, const double *k12, const double *th, double *t,
                                 double *tho, const entk_nonlin *f) {
    size_t i;
    ENTK__UNUSED(f);
    for (i = 0; i < n; ++i) {
        double m = 0.5 * (k11[i * inc11] + k22[i * inc22]), c = k12[i];
        double ep = exp(c - m), em = exp(-c - m);
        t[i] = 0.5 * (ep - em);
        if (tho) tho[i] = 0.5 * (ep + em) * th[i];
    }
}

/* ==== [section: nonlin extra scalar (gelu, Gauss-Hermite)] =================================== */

/* ==== [end: nonlin extra scalar] ============================================================= */



/* ==== [section: simd maps avx2] ============================================================== */

/* ==== [end: simd maps avx2] ================================================================== */



/* ==== [section: simd maps neon] ============================================================== */

/* ==== [end: simd maps neon] ================================================================== */



/* ==== [section: map dispatch] ================================================================ */

static entk__map_fn entk__map_select(entk_nonlin_kind kind, entk_simd path) {
    ENTK__UNUSED(path);
    switch (kind) {
    case ENTK_NL_IDENTITY: return entk__identity_map_scalar;
    case ENTK_NL_RELU: return entk__relu_map_scalar;
    case ENTK_NL_ERF: return entk__erf_map_scalar;
    case ENTK_NL_LEAKY_RELU: return entk__leaky_map_scalar;
    case ENTK_NL_SIN: return entk__sin_map_scalar;
    default: return NULL;
    }
}

/* ==== [end: map dispatch] ==================================================================== */

ENTKDEF entk_status entk_nonlin_map(const entk_nonlin *f, size_t n,
                                    const double *k11, size_t inc11,
                                    const double *k22, size_t inc22,
                                    const double *k12, const double *theta,
                                    double *t, double *theta_out) {
    entk__map_fn fn;
    if (!f || inc11 > 1 || inc22 > 1 || (!theta) != (!theta_out)) return ENTK_ERR_INVALID_ARG;
    if (n == 0) return ENTK_OK;
    if (!k11 || !k22 || !k12 || !t) return ENTK_ERR_INVALID_ARG;
    if (f->kind == ENTK_NL_CUSTOM && (!f->phi || !f->dphi)) return ENTK_ERR_INVALID_ARG;
    fn = entk__map_select(f->kind, entk_simd_path());
    if (!fn) return ENTK_ERR_UNSUPPORTED;
    fn(n, k11, inc11, k22, inc22, k12, theta, t, theta_out, f);
    return ENTK_OK;
}

/* ============================================================================================== */
/* 9.4 Architectures and the parser                                                               */
/* ============================================================================================== */

ENTKDEF entk_layer entk_layer_default(entk_layer_kind kind) {
    entk_layer l;
    memset(&l, 0, sizeof l);
    l.kind = kind;
    l.sw = 1.0;
    l.sb = 0.0;
    l.nl.kind = ENTK_NL_IDENTITY;
    l.q = 3;
    l.pad = ENTK_PAD_VALID;
    l.n = 1;
    l.p = 2;
    l.L = 0;
    l.Lout = 0;
    return l;
}

/* One table row per layer name: which keys it accepts. Adding a layer is adding a row. */
enum {
    ENTK__K_SW = 1 << 0, ENTK__K_SB = 1 << 1, ENTK__K_Q = 1 << 2, ENTK__K_PAD = 1 << 3,
    ENTK__K_N = 1 << 4, ENTK__K_FLIP = 1 << 5, ENTK__K_SUPPORT = 1 << 6, ENTK__K_P = 1 << 7,
    ENTK__K_L = 1 << 8, ENTK__K_LOUT = 1 << 9, ENTK__K_A = 1 << 10
};

typedef struct entk__layer_spec {
    const char *name;
    entk_layer_kind kind;
    entk_nonlin_kind nl;
    unsigned keys;
} entk__layer_spec;

static const entk__layer_spec entk__layer_specs[] = {
    {"dense", ENTK_LAYER_DENSE, ENTK_NL_IDENTITY, ENTK__K_SW | ENTK__K_SB},
    {"relu", ENTK_LAYER_NONLIN, ENTK_NL_RELU, 0},
    {"erf", ENTK_LAYER_NONLIN, ENTK_NL_ERF, 0},
    {"gelu", ENTK_LAYER_NONLIN, ENTK_NL_GELU, 0},
    {"sin", ENTK_LAYER_NONLIN, ENTK_NL_SIN, 0},
    {"identity", ENTK_LAYER_NONLIN, ENTK_NL_IDENTITY, 0},
    {"leaky_relu", ENTK_LAYER_NONLIN, ENTK_NL_LEAKY_RELU, ENTK__K_A},
    {"conv", ENTK_LAYER_CONV, ENTK_NL_IDENTITY, ENTK__K_Q | ENTK__K_PAD | ENTK__K_SW | ENTK__K_SB},
    {"avgpool", ENTK_LAYER_AVGPOOL, ENTK_NL_IDENTITY, ENTK__K_P},
    {"gap", ENTK_LAYER_GAP, ENTK_NL_IDENTITY, 0},
    {"flatten", ENTK_LAYER_FLATTEN, ENTK_NL_IDENTITY, 0},
    {"lift", ENTK_LAYER_LIFT, ENTK_NL_IDENTITY,
     ENTK__K_N | ENTK__K_FLIP | ENTK__K_Q | ENTK__K_PAD | ENTK__K_SW | ENTK__K_SB},
    {"gconv", ENTK_LAYER_GCONV, ENTK_NL_IDENTITY,
     ENTK__K_Q | ENTK__K_PAD | ENTK__K_SUPPORT | ENTK__K_SW | ENTK__K_SB},
    {"gpool", ENTK_LAYER_GPOOL, ENTK_NL_IDENTITY, 0},
    {"rotpool", ENTK_LAYER_ROTPOOL, ENTK_NL_IDENTITY, 0},
    {"s2lift", ENTK_LAYER_S2LIFT, ENTK_NL_IDENTITY, ENTK__K_L | ENTK__K_LOUT | ENTK__K_SW | ENTK__K_SB},
    {"so3conv", ENTK_LAYER_SO3CONV, ENTK_NL_IDENTITY, ENTK__K_L | ENTK__K_SW | ENTK__K_SB},
    {"so3pool", ENTK_LAYER_SO3POOL, ENTK_NL_IDENTITY, 0},
    {"atomsum", ENTK_LAYER_ATOMSUM, ENTK_NL_IDENTITY, 0},
};

static const char *const entk__key_names[] = {"sw", "sb", "q", "pad", "n", "flip", "support", "p",
                                              "L", "Lout", "a"};

#include <stdio.h> /* snprintf only: the library never prints */
#include <stdarg.h>

static entk_status entk__arch_error(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return ENTK_ERR_ARCH;
}

static int entk__is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int entk__is_ident(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* strtod on a bounded token; the whole token must be a finite number */
static int entk__parse_number(const char *s, size_t len, double *out) {
    char buf[64];
    char *end;
    double v;
    if (len == 0 || len >= sizeof buf) return 0;
    memcpy(buf, s, len);
    buf[len] = 0;
    v = strtod(buf, &end);
    if (*end != 0 || !(v == v) || v > DBL_MAX || v < -DBL_MAX) return 0;
    *out = v;
    return 1;
}

static int entk__token_eq(const char *s, size_t len, const char *word) {
    return strlen(word) == len && memcmp(s, word, len) == 0;
}

/* Set key=value on a layer; returns 0 and writes err on a bad value. */
static int entk__set_key(entk_layer *l, int key, const char *v, size_t vlen, const char *lname,
                         size_t lnlen, char *err, size_t errlen) {
    double x = 0;
    const char *kname = entk__key_names[key];
    if (key == 3) { /* pad */
        if (entk__token_eq(v, vlen, "valid")) l->pad = ENTK_PAD_VALID;
        else if (entk__token_eq(v, vlen, "same")) l->pad = ENTK_PAD_SAME;
        else if (entk__token_eq(v, vlen, "circular")) l->pad = ENTK_PAD_CIRCULAR;
        else goto bad;
        return 1;
    }
    if (key == 6) { /* support */
        if (entk__token_eq(v, vlen, "all")) l->support = ENTK_SUPPORT_ALL;
        else if (entk__token_eq(v, vlen, "id")) l->support = ENTK_SUPPORT_ID;
        else goto bad;
        return 1;
    }
    if (!entk__parse_number(v, vlen, &x)) goto bad;
    switch (key) {
    case 0: if (x < 0) goto bad; l->sw = x; break;
    case 1: if (x < 0) goto bad; l->sb = x; break;
    case 2: if (x != floor(x) || x < 1 || x > 99 || fmod(x, 2.0) != 1.0) goto bad; l->q = (int)x; break;
    case 4: if (x != 1 && x != 2 && x != 4) goto bad; l->n = (int)x; break;
    case 5: if (x != 0 && x != 1) goto bad; l->flip = (int)x; break;
    case 7: if (x != floor(x) || x < 1 || x > 1024) goto bad; l->p = (int)x; break;
    case 8: if (x != floor(x) || x < 1 || x > 1024) goto bad; l->L = (int)x; break;
    case 9: if (x != floor(x) || x < 1 || x > 1024) goto bad; l->Lout = (int)x; break;
    case 10: l->nl.a = x; break;
    default: goto bad;
    }
    return 1;
bad:
    entk__arch_error(err, errlen, "bad value '%.*s' for %s in layer '%.*s'", (int)vlen, v, kname,
                     (int)lnlen, lname);
    return 0;
}

ENTKDEF entk_status entk_arch_parse(const char *text, entk_arch *arch, char *err, size_t errlen) {
    const char *s = text;
    if (err && errlen) err[0] = 0;
    if (!text || !arch) return ENTK_ERR_INVALID_ARG;
    arch->n_layers = 0;
    for (;;) {
        const char *name;
        size_t nlen, k;
        const entk__layer_spec *spec = NULL;
        entk_layer l;
        while (entk__is_space(*s) || *s == ',') ++s;
        if (!*s) break;
        name = s;
        while (entk__is_ident(*s)) ++s;
        nlen = (size_t)(s - name);
        if (nlen == 0)
            return entk__arch_error(err, errlen, "unexpected character '%c' in architecture", *s);
        for (k = 0; k < sizeof entk__layer_specs / sizeof entk__layer_specs[0]; ++k)
            if (entk__token_eq(name, nlen, entk__layer_specs[k].name)) spec = &entk__layer_specs[k];
        if (!spec) return entk__arch_error(err, errlen, "unknown layer '%.*s'", (int)nlen, name);
        if (arch->n_layers >= ENTK_MAX_LAYERS)
            return entk__arch_error(err, errlen, "too many layers (at most %d)", ENTK_MAX_LAYERS);
        l = entk_layer_default(spec->kind);
        l.nl.kind = spec->nl;
        if (spec->nl == ENTK_NL_LEAKY_RELU) l.nl.a = 0.01;
        if (*s == '(') {
            ++s;
            for (;;) {
                const char *key, *val;
                size_t klen, vlen;
                int ki = -1, j;
                while (entk__is_space(*s)) ++s;
                if (*s == ')') { ++s; break; }
                key = s;
                while (entk__is_ident(*s)) ++s;
                klen = (size_t)(s - key);
                while (entk__is_space(*s)) ++s;
                if (klen == 0 || *s != '=')
                    return entk__arch_error(err, errlen, "expected key=value in layer '%.*s'", (int)nlen,
                                            name);
                ++s;
                while (entk__is_space(*s)) ++s;
                val = s;
                while (*s && *s != ',' && *s != ')' && !entk__is_space(*s)) ++s;
                vlen = (size_t)(s - val);
                for (j = 0; j < (int)(sizeof entk__key_names / sizeof entk__key_names[0]); ++j)
                    if (entk__token_eq(key, klen, entk__key_names[j])) ki = j;
                if (ki < 0 || !(spec->keys & (1u << ki)))
                    return entk__arch_error(err, errlen, "unknown key '%.*s' for layer '%.*s'", (int)klen,
                                            key, (int)nlen, name);
                if (!entk__set_key(&l, ki, val, vlen, name, nlen, err, errlen)) return ENTK_ERR_ARCH;
                while (entk__is_space(*s)) ++s;
                if (*s == ',') { ++s; continue; }
                if (*s == ')') { ++s; break; }
                return entk__arch_error(err, errlen, "unterminated parameters of layer '%.*s'", (int)nlen,
                                        name);
            }
        }
        if (*s && !entk__is_space(*s) && *s != ',')
            return entk__arch_error(err, errlen, "unexpected character '%c' after layer '%.*s'", *s,
                                    (int)nlen, name);
        arch->layer[arch->n_layers++] = l;
    }
    if (arch->n_layers == 0) return entk__arch_error(err, errlen, "empty architecture");
    return ENTK_OK;
}

/* ============================================================================================== */
/* 9.5 MLP kernels                                                                                */
/* ============================================================================================== */

/* Dense layer on one pair: K' = sw^2 K + sb^2, Theta' = K' + sw^2 Theta. */
static void entk__dense_update(const entk_layer *l, size_t n, double *k, double *t) {
    const double w2 = l->sw * l->sw, b2 = l->sb * l->sb;
    size_t i;
    for (i = 0; i < n; ++i) {
        double kn = w2 * k[i] + b2;
        if (t) t[i] = kn + w2 * t[i];
        k[i] = kn;
    }
}

ENTKDEF entk_status entk_scalar_chain(const entk_layer *layers, int count,
                                      double *k11, double *t11, double *k22, double *t22,
                                      double *k12, double *t12) {
    int i;
    if ((count > 0 && !layers) || !k11 || !t11 || !k22 || !t22 || !k12 || !t12) return ENTK_ERR_INVALID_ARG;
    for (i = 0; i < count; ++i) {
        const entk_layer *l = &layers[i];
        entk_status st;
        if (l->kind == ENTK_LAYER_DENSE) {
            entk__dense_update(l, 1, k11, t11);
            entk__dense_update(l, 1, k22, t22);
            entk__dense_update(l, 1, k12, t12);
        } else if (l->kind == ENTK_LAYER_NONLIN) {
            double a = *k11, b = *k22;
            if ((st = entk_nonlin_map(&l->nl, 1, &a, 0, &b, 0, k12, t12, k12, t12))) return st;
            if ((st = entk_nonlin_map(&l->nl, 1, &a, 0, &a, 0, k11, t11, k11, t11))) return st;
            if ((st = entk_nonlin_map(&l->nl, 1, &b, 0, &b, 0, k22, t22, k22, t22))) return st;
        } else {
            return ENTK_ERR_ARCH;
        }
    }
    return ENTK_OK;
}

/* ==== [section: mlp engine] ================================================================== */

/* Dot products of up to 4 rows a (leading dimension lda) with each of the m rows of b (ldb):
 * out[r * ldo + j] = a_r . b_j. The ISA variants share this signature (dispatch below). */
typedef void (*entk__dots_fn)(int rows, const double *a, size_t lda, const double *b, size_t ldb,
                              size_t m, size_t d, double *out, size_t ldo);

static void entk__dots_scalar(int rows, const double *a, size_t lda, const double *b, size_t ldb,
                              size_t m, size_t d, double *out, size_t ldo) {
    size_t j, k;
    int r;
    for (j = 0; j < m; ++j) {
        const double *bj = b + j * ldb;
        for (r = 0; r < rows; ++r) {
            const double *ar = a + (size_t)r * lda;
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (k = 0; k + 4 <= d; k += 4) {
                s0 += ar[k] * bj[k];
                s1 += ar[k + 1] * bj[k + 1];
                s2 += ar[k + 2] * bj[k + 2];
                s3 += ar[k + 3] * bj[k + 3];
            }
            for (; k < d; ++k) s0 += ar[k] * bj[k];
            out[(size_t)r * ldo + j] = (s0 + s1) + (s2 + s3);
        }
    }
}

/* ==== [section: dots simd] =================================================================== */

/* ==== [end: dots simd] ======================================================================= */

static entk__dots_fn entk__dots_select(entk_simd path) {
    ENTK__UNUSED(path);
    return entk__dots_scalar;
}

/* The MLP layer list is valid: first layer dense, then dense and supported nonlinearities only. */
static entk_status entk__mlp_check(const entk_arch *a) {
    int l;
    if (!a || a->n_layers < 1 || a->n_layers > ENTK_MAX_LAYERS) return ENTK_ERR_INVALID_ARG;
    if (a->layer[0].kind != ENTK_LAYER_DENSE) return ENTK_ERR_ARCH;
    for (l = 0; l < a->n_layers; ++l) {
        const entk_layer *ly = &a->layer[l];
        if (ly->kind == ENTK_LAYER_NONLIN) {
            double one = 1.0, t;
            entk_status st = entk_nonlin_map(&ly->nl, 1, &one, 0, &one, 0, &one, NULL, &t, NULL);
            if (st) return st;
        } else if (ly->kind != ENTK_LAYER_DENSE) {
            return ENTK_ERR_ARCH;
        }
        if (!(ly->sw >= 0 && ly->sw <= DBL_MAX && ly->sb >= 0 && ly->sb <= DBL_MAX)) return ENTK_ERR_ARCH;
    }
    return ENTK_OK;
}

static entk_status entk__check_finite(const double *x, size_t n) {
    size_t i;
    for (i = 0; i < n; ++i)
        if (!(x[i] - x[i] == 0.0)) return ENTK_ERR_NONFINITE;
    return ENTK_OK;
}

/* Each input's own kernel after every layer: dk[l * n + i] = K(x_i, x_i) leaving layer l, i.e. entering
 * layer l + 1 (l = 0..L-1), and on exit kout/tout = K, Theta after the last layer (either may be NULL). */
static void entk__mlp_diag_chain(const entk_arch *a, const double *x, size_t n, size_t d, double *dk,
                                 double *tk, double *kout, double *tout) {
    const entk_layer *l0 = &a->layer[0];
    const double w2 = l0->sw * l0->sw, b2 = l0->sb * l0->sb;
    size_t i;
    int l;
    entk__dots_fn dots = entk__dots_select(entk_simd_path());
    for (i = 0; i < n; ++i) {
        double v;
        dots(1, x + i * d, d, x + i * d, d, 1, d, &v, 1);
        dk[i] = w2 * v / (double)d + b2;
        tk[i] = dk[i];
    }
    for (l = 1; l < a->n_layers; ++l) {
        double *cur = dk + (size_t)l * n, *prev = dk + (size_t)(l - 1) * n;
        const entk_layer *ly = &a->layer[l];
        memcpy(cur, prev, n * sizeof *cur);
        if (ly->kind == ENTK_LAYER_NONLIN)
            entk_nonlin_map(&ly->nl, n, prev, 1, prev, 1, prev, tk, cur, tk);
        else
            entk__dense_update(ly, n, cur, tk);
    }
    if (kout) memcpy(kout, dk + (size_t)(a->n_layers - 1) * n, n * sizeof *kout);
    if (tout) memcpy(tout, tk, n * sizeof *tout);
}

ENTKDEF entk_status entk_mlp_diag(const entk_arch *arch, const double *x, size_t n, size_t d,
                                  double *nngp_diag, double *ntk_diag) {
    entk_status st;
    size_t cnt, nd;
    double *dk = NULL, *tk = NULL;
    if ((st = entk__mlp_check(arch))) return st;
    if (!x || d == 0) return n == 0 ? ENTK_OK : ENTK_ERR_INVALID_ARG;
    if ((st = entk__mul(n, d, &nd))) return st;
    if ((st = entk__check_finite(x, nd))) return st;
    if ((st = entk__mul(n, (size_t)arch->n_layers, &cnt))) return st;
    if ((st = entk__alloc_doubles(cnt, &dk)) || (st = entk__alloc_doubles(n, &tk))) goto done;
    entk__mlp_diag_chain(arch, x, n, d, dk, tk, nngp_diag, ntk_diag);
done:
    ENTK_FREE(dk);
    ENTK_FREE(tk);
    return st;
}

ENTKDEF entk_status entk_mlp_kernel(const entk_arch *arch, const double *x1, size_t n1,
                                    const double *x2, size_t n2, size_t d,
                                    double *nngp, size_t ldk, double *ntk, size_t ldt, int threads) {
    entk_status st;
    const int sym = (x2 == NULL);
    const int L = arch ? arch->n_layers : 0;
    double *dk1 = NULL, *dk2 = NULL, *tk = NULL, *kbuf = NULL;
    size_t cnt, nd, i;
    long long nblk, bi;
    double w2, b2;
    if ((st = entk__mlp_check(arch))) return st;
    if (sym) { x2 = x1; n2 = n1; }
    if (n1 == 0 || n2 == 0) return ENTK_OK;
    if (!x1 || d == 0 || (!nngp && !ntk)) return ENTK_ERR_INVALID_ARG;
    if ((nngp && ldk < n2) || (ntk && ldt < n2)) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__mul(n1 > n2 ? n1 : n2, d, &nd))) return st;
    if ((st = entk__check_finite(x1, n1 * d))) return st;
    if (!sym && (st = entk__check_finite(x2, n2 * d))) return st;
    if ((st = entk__mul(n1 + n2, (size_t)L, &cnt))) return st;
    if ((st = entk__alloc_doubles(cnt, &dk1))) goto done;
    if ((st = entk__alloc_doubles(n1 > n2 ? n1 : n2, &tk))) goto done;
    dk2 = dk1 + (size_t)L * n1;
    entk__mlp_diag_chain(arch, x1, n1, d, dk1, tk, NULL, NULL);
    if (sym) memcpy(dk2, dk1, (size_t)L * n1 * sizeof *dk1);
    else entk__mlp_diag_chain(arch, x2, n2, d, dk2, tk, NULL, NULL);
    if (!nngp) { /* K is needed to propagate Theta: a scratch matrix */
        size_t kn;
        if ((st = entk__mul(n1, n2, &kn)) || (st = entk__alloc_doubles(kn, &kbuf))) goto done;
        nngp = kbuf;
        ldk = n2;
    }
    w2 = arch->layer[0].sw * arch->layer[0].sw;
    b2 = arch->layer[0].sb * arch->layer[0].sb;
    nblk = (long long)((n1 + 3) / 4);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads > 1 ? threads : 1) if (threads > 1)
#else
    ENTK__UNUSED(threads);
#endif
    for (bi = 0; bi < nblk; ++bi) {
        /* rows i0..i0+rows of the output; with sym only columns j >= i0 (then mirrored) */
        const size_t i0 = (size_t)bi * 4;
        const int rows = (int)(n1 - i0 < 4 ? n1 - i0 : 4);
        const size_t j0 = sym ? i0 : 0;
        entk__dots_fn dots = entk__dots_select(entk_simd_path());
        int r, l;
        dots(rows, x1 + i0 * d, d, x2 + j0 * d, d, n2 - j0, d, nngp + i0 * ldk + j0, ldk);
        for (r = 0; r < rows; ++r) {
            const size_t row = i0 + (size_t)r;
            const size_t c0 = sym ? row : 0, m = n2 - c0;
            double *kr = nngp + row * ldk + c0;
            double *tr = ntk ? ntk + row * ldt + c0 : NULL;
            size_t j;
            for (j = 0; j < m; ++j) kr[j] = w2 * kr[j] / (double)d + b2;
            if (tr) memcpy(tr, kr, m * sizeof *tr);
            for (l = 1; l < L; ++l) {
                const entk_layer *ly = &arch->layer[l];
                if (ly->kind == ENTK_LAYER_NONLIN)
                    entk_nonlin_map(&ly->nl, m, dk1 + (size_t)(l - 1) * n1 + row, 0,
                                    dk2 + (size_t)(l - 1) * n2 + c0, 1, kr, tr, kr, tr);
                else
                    entk__dense_update(ly, m, kr, tr);
            }
        }
    }
    if (sym) {
        for (i = 0; i < n1; ++i) {
            size_t j;
            for (j = 0; j < i; ++j) {
                nngp[i * ldk + j] = nngp[j * ldk + i];
                if (ntk) ntk[i * ldt + j] = ntk[j * ldt + i];
            }
        }
    }
done:
    ENTK_FREE(dk1);
    ENTK_FREE(tk);
    ENTK_FREE(kbuf);
    return st;
}


/* ==== [end: mlp engine] ====================================================================== */



/* ==== [section: linalg implementation] ======================================================= */

/* ==== [end: linalg implementation] =========================================================== */



/* ==== [section: predict implementation] ====================================================== */

/* ==== [end: predict implementation] ========================================================== */



/* ==== [section: npy implementation] ========================================================== */

/* ==== [end: npy implementation] ============================================================== */

#endif /* ENTK_IMPLEMENTATION */

/*
 * LICENSE: MIT. Copyright (c) 2026 the entk authors. Permission is hereby granted, free of charge, to
 * any person obtaining a copy of this software, to deal in the software without restriction, subject to
 * including this notice. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
 */
