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

/* ============================================================================================== */
/* 6. Linear algebra (Cholesky, triangular solves, symmetric eigensolver)                          */
/* ============================================================================================== */

/* Outer block size of the right-looking blocked Cholesky (the trailing update of each step is one
 * packed, register-blocked SYRK). Override before the implementation include; any value >= 8 works. */
#ifndef ENTK_CHOL_NB
#define ENTK_CHOL_NB 256
#endif

/* In-place Cholesky factorisation A = L L^T of the symmetric n x n matrix a (row-major, leading
 * dimension lda >= n). Only the lower triangle (j <= i) is read and overwritten by L; the strict upper
 * triangle is never touched. LAPACK dpotrf semantics: *info (may be NULL) = 0 on success; if the
 * leading minor of order k (1-based) is not positive definite, returns ENTK_ERR_NOT_PD with
 * *info = k (rows 0..k-2 of L are then valid, the rest of the lower triangle is partly updated).
 * NaN/Inf in the lower triangle: ENTK_ERR_NONFINITE before anything is written (*info = 0).
 * n = 0 succeeds (a may then be NULL). Backward stable: ||L L^T - A||_1 <= c n eps ||A||_1.
 * Runs the blocked algorithm on the selected SIMD path (scalar, AVX2+FMA, NEON); paths differ only
 * in rounding. Allocates O(ENTK_CHOL_NB * n) doubles of packing workspace. */
ENTKDEF entk_status entk_cholesky(size_t n, double *a, size_t lda, size_t *info);

/* Forward substitution L X = B in place, for k right-hand sides: l is n x n lower triangular (ldl,
 * only j <= i read, e.g. from entk_cholesky), b is n x k (ldb >= k) and is overwritten by X.
 * ENTK_ERR_INVALID_ARG on a zero or non-finite diagonal entry; inputs are not scanned for NaN. */
ENTKDEF entk_status entk_chol_forward(size_t n, const double *l, size_t ldl, size_t k, double *b,
                                      size_t ldb);

/* Backward substitution L^T X = B in place (same shapes and rules as entk_chol_forward). */
ENTKDEF entk_status entk_chol_backward(size_t n, const double *l, size_t ldl, size_t k, double *b,
                                       size_t ldb);

/* Solve A X = B with A = L L^T given the factor from entk_cholesky: forward then backward, in place. */
ENTKDEF entk_status entk_chol_solve(size_t n, const double *l, size_t ldl, size_t k, double *b,
                                    size_t ldb);

/* Symmetric eigendecomposition A = V diag(w) V^T. a is n x n (lda), only its lower triangle (j <= i)
 * is read and a is not modified. w (n) receives the eigenvalues in ascending order; v (n x n, ldv)
 * receives orthonormal eigenvectors as columns (v[i * ldv + j] = component i of eigenvector j), or
 * v may be NULL for eigenvalues only (then O(n^2) after the reduction). Householder tridiagonalisation
 * then implicit QL with Wilkinson shifts. Accuracy: ||A V - V diag(w)|| ~ n eps ||A||,
 * ||V^T V - I|| ~ n eps. ENTK_ERR_NONFINITE on NaN/Inf input, ENTK_ERR_NO_CONVERGENCE if an eigenvalue
 * needs more than 60 QL iterations (not observed on finite input). */
ENTKDEF entk_status entk_syev(size_t n, const double *a, size_t lda, double *w, double *v, size_t ldv);

/* ==== [end: linalg interface] ================================================================ */



/* ==== [section: predict interface] =========================================================== */

/* ============================================================================================== */
/* 7. Kernel predictors (SPEC §3)                                                                 */
/* ============================================================================================== */

/* The blocks of one kernel (K or Theta) over n training and m test points. Row-major with leading
 * dimensions. train (n x n) is symmetric and only its lower triangle (j <= i) is read. test_train
 * (m x n) is K(x_test, X). test_diag (m values K(x_i, x_i)) and test_test (m x m) are needed only for
 * variances / covariances; either may be NULL (a variance uses test_diag, else test_test's diagonal).
 * n >= 1 (else ENTK_ERR_INVALID_ARG); m may be 0. */
typedef struct entk_kernels {
    size_t n, m;
    const double *train;
    size_t ld_train;
    const double *test_train;
    size_t ld_test_train;
    const double *test_diag;
    const double *test_test;
    size_t ld_test_test;
} entk_kernels;

typedef enum entk_jitter_policy {
    ENTK_JITTER_NONE = 0,    /* a failed Cholesky is returned as ENTK_ERR_NOT_PD */
    ENTK_JITTER_ESCALATE = 1 /* retry with jitter x10 per try from jitter_start up to jitter_max */
} entk_jitter_policy;      /* (t = inf only: the finite-t eigendecomposition needs no jitter) */

typedef struct entk_predict_opts {
    double diag_reg;          /* lambda >= 0 (default 0) */
    int diag_reg_absolute;    /* 0 (default): add lambda tr(K_train)/n to the diagonal; 1: add lambda */
    double t;                 /* training time >= 0; INFINITY (default) for t = infinity */
    double lr;                /* learning rate eta > 0 (default 1) */
    entk_jitter_policy jitter; /* default ENTK_JITTER_ESCALATE */
    double jitter_start;      /* first jitter, relative to the mean |diagonal| (default 1e-10) */
    double jitter_max;        /* largest jitter tried, relative likewise (default 1e-2) */
} entk_predict_opts;

typedef struct entk_predict_info {
    double reg;            /* absolute value diag_reg added to the diagonal */
    double jitter;         /* absolute jitter added on top of reg (0: none was needed) */
    int jitter_tries;      /* jittered Cholesky attempts made (0: factored without jitter) */
    size_t not_pd_order;   /* order of the failing minor of the first failed Cholesky (0: none) */
    double min_eig;        /* finite t: smallest eigenvalue of the regularised train matrix */
    int used_eigen;        /* 1 if the eigendecomposition (finite t) was used, 0 for Cholesky */
} entk_predict_info;

/* diag_reg 0 relative, t = INFINITY, lr 1, escalating jitter 1e-10 .. 1e-2. */
ENTKDEF entk_predict_opts entk_predict_opts_default(void);

/* Kernel-regression mean at time t (SPEC §3), with the kernel of `kern` (Theta: NTK gradient-descent
 * mean; K: the NNGP mean / readout-only training):
 *   t = inf:  mean = k(x, X) k_reg^-1 Y                              (Cholesky, jitter policy applies)
 *   t < inf:  mean = k(x, X) k_reg^-1 (I - exp(-lr k_reg t / (n k))) Y (eigendecomposition)
 * with k_reg = k(X, X) + reg I. y is n x k (ldy >= k), mean m x k (ldm >= k). The finite-t factor
 * (1 - e^{-c l}) / l is evaluated with expm1 and equals c at l = 0; eigenvalues below 0 (rounding of a
 * PSD matrix) are clamped to 0 — neural-tangents uses 0 for the factor there, which differs only on the
 * null space. opts and info may be NULL. NaN/Inf in any block read: ENTK_ERR_NONFINITE; a non-finite
 * result: ENTK_ERR_NONFINITE (nothing NaN is returned as success). */
ENTKDEF entk_status entk_predict_mean(const entk_kernels *kern, size_t k, const double *y, size_t ldy,
                                      const entk_predict_opts *opts, double *mean, size_t ldm,
                                      entk_predict_info *info);

/* NNGP posterior (Bayesian inference with the NNGP kernel K; at finite t the ensemble of networks with
 * only the readout trained, as neural-tangents' gradient_descent_mse_ensemble(get='nngp')):
 *   mean = K(x,X) K_reg^-1 (I - e^{-c K_reg}) Y,  cov = K(x,x') - K(x,X) K_reg^-1 (I - e^{-2c K_reg}) K(X,x')
 * with c = lr t / (n k) (t = inf: the exponentials vanish). Any of mean (m x k, ldm), var (m values,
 * the diagonal of cov, needs test_diag or test_test) and cov (m x m, ldc, needs test_test) may be NULL.
 * y may be NULL if mean is NULL (k still sets the time scale). Variances are clamped at 0 (rounding at
 * training points); cov is returned as computed (symmetric to rounding). */
ENTKDEF entk_status entk_predict_nngp(const entk_kernels *K, size_t k, const double *y, size_t ldy,
                                      const entk_predict_opts *opts, double *mean, size_t ldm, double *var,
                                      double *cov, size_t ldc, entk_predict_info *info);

/* Predictive distribution of the infinite ensemble of NTK-parametrised networks trained by gradient
 * descent on MSE for time t (Lee et al. 2019; neural-tangents' gradient_descent_mse_ensemble(get='ntk')):
 *   A    = Theta(x,X) Theta_reg^-1 (I - e^{-c Theta_reg}),  c = lr t / (n k)   (t = inf: A = Theta Theta_reg^-1)
 *   mean = A Y
 *   cov  = K(x,x') + A K(X,X) A^T - A K(X,x') - K(x,X) A^T
 * K(X,X) unregularised; diag_reg and jitter apply to Theta only. K and theta must have the same n and
 * m (else ENTK_ERR_SHAPE); K supplies test_diag/test_test for var/cov and may be NULL when var and cov
 * are. Outputs and NULL rules as for entk_predict_nngp. */
ENTKDEF entk_status entk_predict_ntk_ensemble(const entk_kernels *K, const entk_kernels *theta, size_t k,
                                              const double *y, size_t ldy, const entk_predict_opts *opts,
                                              double *mean, size_t ldm, double *var, double *cov, size_t ldc,
                                              entk_predict_info *info);

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

/* Each input's own kernel before every layer: dk[l * n + i] = K(x_i, x_i) entering layer l
 * (l = 1..L-1), and on exit kout/tout = K, Theta after the last layer (either may be NULL). */
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
                    entk_nonlin_map(&ly->nl, m, dk1 + (size_t)l * n1 + row, 0, dk2 + (size_t)l * n2 + c0, 1,
                                    kr, tr, kr, tr);
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

/* ---- packed GEMM: C += s A B on an m x n block, optionally only where row >= column ------------
 * A(i, p) = a[i * ars + p * acs], B(p, j) = b[p * brs + j * bcs]. The strides are absorbed by the
 * packing, so one driver serves the Cholesky's SYRK (B = A^T), the TRSM updates (B = L^T), the
 * substitutions and the predictors' products. Blocking follows BLIS: a KC x NC panel of B (L3), an
 * MC x KC block of A (L2), one KC x NR micro-panel of B (L1) against MC / MR register tiles. */
#define ENTK__KC 256
#define ENTK__MC 96   /* a multiple of every MR (4, 6) */
#define ENTK__NC 4096 /* a multiple of every NR (8) */
#define ENTK__MR_MAX 6
#define ENTK__NR_MAX 8

/* c[0..mr)[0..nr) += sum_p ap[p * mr + i] * bp[p * nr + j]; bp is 32-byte aligned. */
typedef void (*entk__ukernel_fn)(size_t kc, const double *ap, const double *bp, double *c, size_t ldc);

typedef struct entk__ukernel {
    int mr, nr;
    entk__ukernel_fn fn;
} entk__ukernel;

/* 4 x 8 scalar oracle: the 32 accumulators live in registers after the compiler's SRA. */
static void entk__ukernel_scalar(size_t kc, const double *ap, const double *bp, double *c, size_t ldc) {
    double acc[4][8];
    size_t p;
    int i, j;
    for (i = 0; i < 4; ++i)
        for (j = 0; j < 8; ++j) acc[i][j] = 0.0;
    for (p = 0; p < kc; ++p, ap += 4, bp += 8)
        for (i = 0; i < 4; ++i) {
            const double ai = ap[i];
            for (j = 0; j < 8; ++j) acc[i][j] += ai * bp[j];
        }
    for (i = 0; i < 4; ++i)
        for (j = 0; j < 8; ++j) c[(size_t)i * ldc + (size_t)j] += acc[i][j];
}

#if ENTK__HAVE_AVX2
/* 6 x 8: 12 accumulators + 2 B vectors + 1 broadcast = 15 of 16 ymm registers; per k step 12 FMAs
 * against 8 loads, so the two FMA pipes, not the load ports, set the pace. */
__attribute__((target("avx2,fma")))
static void entk__ukernel_avx2(size_t kc, const double *ap, const double *bp, double *c, size_t ldc) {
    __m256d c00 = _mm256_setzero_pd(), c01 = _mm256_setzero_pd(), c10 = _mm256_setzero_pd();
    __m256d c11 = _mm256_setzero_pd(), c20 = _mm256_setzero_pd(), c21 = _mm256_setzero_pd();
    __m256d c30 = _mm256_setzero_pd(), c31 = _mm256_setzero_pd(), c40 = _mm256_setzero_pd();
    __m256d c41 = _mm256_setzero_pd(), c50 = _mm256_setzero_pd(), c51 = _mm256_setzero_pd();
    size_t p;
    /* C is touched only after the loop: start its (likely L2/L3-missing) rows on their way now */
    _mm_prefetch((const char *)c, _MM_HINT_T0); _mm_prefetch((const char *)(c + 7), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + ldc), _MM_HINT_T0); _mm_prefetch((const char *)(c + ldc + 7), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + 2 * ldc), _MM_HINT_T0); _mm_prefetch((const char *)(c + 2 * ldc + 7), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + 3 * ldc), _MM_HINT_T0); _mm_prefetch((const char *)(c + 3 * ldc + 7), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + 4 * ldc), _MM_HINT_T0); _mm_prefetch((const char *)(c + 4 * ldc + 7), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + 5 * ldc), _MM_HINT_T0); _mm_prefetch((const char *)(c + 5 * ldc + 7), _MM_HINT_T0);
    for (p = 0; p < kc; ++p, ap += 6, bp += 8) {
        const __m256d b0 = _mm256_load_pd(bp), b1 = _mm256_load_pd(bp + 4);
        __m256d a;
        a = _mm256_broadcast_sd(ap + 0); c00 = _mm256_fmadd_pd(a, b0, c00); c01 = _mm256_fmadd_pd(a, b1, c01);
        a = _mm256_broadcast_sd(ap + 1); c10 = _mm256_fmadd_pd(a, b0, c10); c11 = _mm256_fmadd_pd(a, b1, c11);
        a = _mm256_broadcast_sd(ap + 2); c20 = _mm256_fmadd_pd(a, b0, c20); c21 = _mm256_fmadd_pd(a, b1, c21);
        a = _mm256_broadcast_sd(ap + 3); c30 = _mm256_fmadd_pd(a, b0, c30); c31 = _mm256_fmadd_pd(a, b1, c31);
        a = _mm256_broadcast_sd(ap + 4); c40 = _mm256_fmadd_pd(a, b0, c40); c41 = _mm256_fmadd_pd(a, b1, c41);
        a = _mm256_broadcast_sd(ap + 5); c50 = _mm256_fmadd_pd(a, b0, c50); c51 = _mm256_fmadd_pd(a, b1, c51);
    }
#define ENTK__ACC_ROW(r, x0, x1)                                                                     \
    _mm256_storeu_pd(c + (r) * ldc, _mm256_add_pd(_mm256_loadu_pd(c + (r) * ldc), x0));            \
    _mm256_storeu_pd(c + (r) * ldc + 4, _mm256_add_pd(_mm256_loadu_pd(c + (r) * ldc + 4), x1))
    ENTK__ACC_ROW(0, c00, c01); ENTK__ACC_ROW(1, c10, c11); ENTK__ACC_ROW(2, c20, c21);
    ENTK__ACC_ROW(3, c30, c31); ENTK__ACC_ROW(4, c40, c41); ENTK__ACC_ROW(5, c50, c51);
#undef ENTK__ACC_ROW
}
#endif /* ENTK__HAVE_AVX2 */

#if ENTK__HAVE_NEON
/* 4 x 8: 16 accumulators + 4 B vectors + 2 A vectors of the 32 q registers; lane FMAs avoid
 * broadcasts. */
static void entk__ukernel_neon(size_t kc, const double *ap, const double *bp, double *c, size_t ldc) {
    float64x2_t c00 = vdupq_n_f64(0), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00;
    float64x2_t c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00;
    float64x2_t c33 = c00;
    size_t p;
    for (p = 0; p < kc; ++p, ap += 4, bp += 8) {
        const float64x2_t a01 = vld1q_f64(ap), a23 = vld1q_f64(ap + 2);
        const float64x2_t b0 = vld1q_f64(bp), b1 = vld1q_f64(bp + 2), b2 = vld1q_f64(bp + 4);
        const float64x2_t b3 = vld1q_f64(bp + 6);
        c00 = vfmaq_laneq_f64(c00, b0, a01, 0); c01 = vfmaq_laneq_f64(c01, b1, a01, 0);
        c02 = vfmaq_laneq_f64(c02, b2, a01, 0); c03 = vfmaq_laneq_f64(c03, b3, a01, 0);
        c10 = vfmaq_laneq_f64(c10, b0, a01, 1); c11 = vfmaq_laneq_f64(c11, b1, a01, 1);
        c12 = vfmaq_laneq_f64(c12, b2, a01, 1); c13 = vfmaq_laneq_f64(c13, b3, a01, 1);
        c20 = vfmaq_laneq_f64(c20, b0, a23, 0); c21 = vfmaq_laneq_f64(c21, b1, a23, 0);
        c22 = vfmaq_laneq_f64(c22, b2, a23, 0); c23 = vfmaq_laneq_f64(c23, b3, a23, 0);
        c30 = vfmaq_laneq_f64(c30, b0, a23, 1); c31 = vfmaq_laneq_f64(c31, b1, a23, 1);
        c32 = vfmaq_laneq_f64(c32, b2, a23, 1); c33 = vfmaq_laneq_f64(c33, b3, a23, 1);
    }
#define ENTK__ACC_ROW(r, x0, x1, x2, x3)                                                             \
    vst1q_f64(c + (r) * ldc, vaddq_f64(vld1q_f64(c + (r) * ldc), x0));                             \
    vst1q_f64(c + (r) * ldc + 2, vaddq_f64(vld1q_f64(c + (r) * ldc + 2), x1));                     \
    vst1q_f64(c + (r) * ldc + 4, vaddq_f64(vld1q_f64(c + (r) * ldc + 4), x2));                     \
    vst1q_f64(c + (r) * ldc + 6, vaddq_f64(vld1q_f64(c + (r) * ldc + 6), x3))
    ENTK__ACC_ROW(0, c00, c01, c02, c03); ENTK__ACC_ROW(1, c10, c11, c12, c13);
    ENTK__ACC_ROW(2, c20, c21, c22, c23); ENTK__ACC_ROW(3, c30, c31, c32, c33);
#undef ENTK__ACC_ROW
}
#endif /* ENTK__HAVE_NEON */

static entk__ukernel entk__ukernel_select(entk_simd path) {
    entk__ukernel k;
    k.mr = 4; k.nr = 8; k.fn = entk__ukernel_scalar;
#if ENTK__HAVE_AVX2
    if (path == ENTK_SIMD_AVX2) { k.mr = 6; k.fn = entk__ukernel_avx2; }
#endif
#if ENTK__HAVE_NEON
    if (path == ENTK_SIMD_NEON) k.fn = entk__ukernel_neon;
#endif
    ENTK__UNUSED(path);
    return k;
}

/* Doubles of GEMM workspace for any call with at most n columns: the A block, the B panel, one
 * edge tile, and slack for 32-byte alignment. */
static size_t entk__gemm_ncap(size_t n) {
    return n < ENTK__NC ? (n + ENTK__NR_MAX - 1) / ENTK__NR_MAX * ENTK__NR_MAX : ENTK__NC;
}
static size_t entk__gemm_ws_doubles(size_t n) {
    return (size_t)ENTK__KC * (ENTK__MC + entk__gemm_ncap(n)) + ENTK__MR_MAX * ENTK__NR_MAX + 8;
}

static void entk__pack_a(size_t mc, size_t kc, const double *a, size_t ars, size_t acs, int mr,
                         double sign, double *ap) {
    size_t i0, p;
    int r;
    for (i0 = 0; i0 < mc; i0 += (size_t)mr) {
        const int rows = mc - i0 < (size_t)mr ? (int)(mc - i0) : mr;
        const double *src = a + i0 * ars;
        for (p = 0; p < kc; ++p, ap += mr) {
            for (r = 0; r < rows; ++r) ap[r] = sign * src[(size_t)r * ars + p * acs];
            for (; r < mr; ++r) ap[r] = 0.0;
        }
    }
}

static void entk__pack_b(size_t kc, size_t nc, const double *b, size_t brs, size_t bcs, int nr,
                         double *bp) {
    size_t j0, p;
    int j;
    for (j0 = 0; j0 < nc; j0 += (size_t)nr) {
        const int cols = nc - j0 < (size_t)nr ? (int)(nc - j0) : nr;
        const double *src = b + j0 * bcs;
        for (p = 0; p < kc; ++p, bp += nr) {
            for (j = 0; j < cols; ++j) bp[j] = src[p * brs + (size_t)j * bcs];
            for (; j < nr; ++j) bp[j] = 0.0;
        }
    }
}

/* C (m x n, ldc) += sign * A B. lower != 0: only entries with row >= column are read or written (C is
 * a diagonal block). ws: entk__gemm_ws_doubles(n) doubles, or NULL to allocate here. */
static entk_status entk__gemm(size_t m, size_t n, size_t k, double sign, const double *a, size_t ars,
                              size_t acs, const double *b, size_t brs, size_t bcs, double *c, size_t ldc,
                              int lower, double *ws) {
    const entk__ukernel uk = entk__ukernel_select(entk_simd_path());
    const size_t mr = (size_t)uk.mr, nr = (size_t)uk.nr;
    double *own = NULL, *ap, *bp, *tile;
    size_t jc, pc, ic, jr, ir;
    if (m == 0 || n == 0 || k == 0) return ENTK_OK;
    if (!ws) {
        entk_status st = entk__alloc_doubles(entk__gemm_ws_doubles(n), &own);
        if (st) return st;
        ws = own;
    }
    /* 32-byte alignment for the B panel's aligned vector loads */
    bp = ws + ((32u - ((uintptr_t)ws & 31u)) & 31u) / sizeof(double);
    ap = bp + (size_t)ENTK__KC * entk__gemm_ncap(n);
    tile = ap + (size_t)ENTK__KC * ENTK__MC;
    for (jc = 0; jc < n; jc += ENTK__NC) {
        const size_t nc = n - jc < ENTK__NC ? n - jc : ENTK__NC;
        for (pc = 0; pc < k; pc += ENTK__KC) {
            const size_t kc = k - pc < ENTK__KC ? k - pc : ENTK__KC;
            entk__pack_b(kc, nc, b + pc * brs + jc * bcs, brs, bcs, uk.nr, bp);
            /* rows above jc lie wholly above the diagonal */
            for (ic = lower ? jc : 0; ic < m; ic += ENTK__MC) {
                const size_t mc = m - ic < ENTK__MC ? m - ic : ENTK__MC;
                entk__pack_a(mc, kc, a + ic * ars + pc * acs, ars, acs, uk.mr, sign, ap);
                for (jr = 0; jr < nc; jr += nr) {
                    const size_t j0 = jc + jr, nrr = nc - jr < nr ? nc - jr : nr;
                    if (lower && j0 >= ic + mc) break;
                    for (ir = 0; ir < mc; ir += mr) {
                        const size_t i0 = ic + ir, mrr = mc - ir < mr ? mc - ir : mr;
                        if (lower && i0 + mrr <= j0) continue;
                        if (mrr == mr && nrr == nr && (!lower || i0 >= j0 + nr - 1)) {
                            uk.fn(kc, ap + ir * kc, bp + jr * kc, c + i0 * ldc + j0, ldc);
                        } else {
                            size_t r, q;
                            for (r = 0; r < mr * nr; ++r) tile[r] = 0.0;
                            uk.fn(kc, ap + ir * kc, bp + jr * kc, tile, nr);
                            for (r = 0; r < mrr; ++r)
                                for (q = 0; q < nrr; ++q)
                                    if (!lower || i0 + r >= j0 + q) c[(i0 + r) * ldc + j0 + q] += tile[r * nr + q];
                        }
                    }
                }
            }
        }
    }
    ENTK_FREE(own);
    return ENTK_OK;
}

/* ---- Cholesky -------------------------------------------------------------------------------- */

static double entk__dot(const double *x, const double *y, size_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i;
    for (i = 0; i + 4 <= n; i += 4) {
        s0 += x[i] * y[i];
        s1 += x[i + 1] * y[i + 1];
        s2 += x[i + 2] * y[i + 2];
        s3 += x[i + 3] * y[i + 3];
    }
    for (; i < n; ++i) s0 += x[i] * y[i];
    return (s0 + s1) + (s2 + s3);
}

/* Unblocked dot-product Cholesky of a small diagonal block; returns 0 or the 1-based failing order. */
static size_t entk__chol_base(size_t n, double *a, size_t lda) {
    size_t i, j;
    for (j = 0; j < n; ++j) {
        double *lj = a + j * lda;
        const double s = lj[j] - entk__dot(lj, lj, j);
        double d;
        if (!(s > 0.0)) return j + 1; /* NaN from overflow fails here too */
        d = sqrt(s);
        lj[j] = d;
        for (i = j + 1; i < n; ++i) {
            double *li = a + i * lda;
            li[j] = (li[j] - entk__dot(li, lj, j)) / d;
        }
    }
    return 0;
}

/* Split point of the recursions: about half, rounded to a multiple of 8 so GEMM tiles stay whole. */
static size_t entk__split(size_t n) {
    size_t h = (n / 2 + 7) & ~(size_t)7;
    return h < n ? h : n / 2;
}

/* Leaf of the TRSM below: rows r0..m of X L^T = B, n <= 16, by dot products. */
static void entk__trsm_leaf_scalar(size_t r0, size_t m, size_t n, const double *l, size_t ldl, double *x,
                                   size_t ldx) {
    size_t r, j;
    for (r = r0; r < m; ++r) {
        double *xr = x + r * ldx;
        for (j = 0; j < n; ++j) xr[j] = (xr[j] - entk__dot(xr, l + j * ldl, j)) / l[j * ldl + j];
    }
}

#if ENTK__HAVE_AVX2
/* Four rows at a time: a 4 x n block is transposed into n column vectors (one per column, a lane per
 * row) so the substitution runs down the columns with broadcasts of L; n is a multiple of 4, <= 16.
 * Returns the first row left for the scalar leaf. */
__attribute__((target("avx2,fma")))
static size_t entk__trsm_leaf_avx2(size_t m, size_t n, const double *l, size_t ldl, double *x, size_t ldx) {
    __m256d col[16];
    size_t r, j, i;
    for (r = 0; r + 4 <= m; r += 4) {
        double *x0 = x + r * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
        for (j = 0; j < n; j += 4) {
            const __m256d a = _mm256_loadu_pd(x0 + j), b = _mm256_loadu_pd(x1 + j);
            const __m256d c = _mm256_loadu_pd(x2 + j), d = _mm256_loadu_pd(x3 + j);
            const __m256d t0 = _mm256_unpacklo_pd(a, b), t1 = _mm256_unpackhi_pd(a, b);
            const __m256d t2 = _mm256_unpacklo_pd(c, d), t3 = _mm256_unpackhi_pd(c, d);
            col[j] = _mm256_permute2f128_pd(t0, t2, 0x20);
            col[j + 1] = _mm256_permute2f128_pd(t1, t3, 0x20);
            col[j + 2] = _mm256_permute2f128_pd(t0, t2, 0x31);
            col[j + 3] = _mm256_permute2f128_pd(t1, t3, 0x31);
        }
        for (j = 0; j < n; ++j) {
            const __m256d cj = _mm256_div_pd(col[j], _mm256_broadcast_sd(l + j * ldl + j));
            col[j] = cj;
            for (i = j + 1; i < n; ++i) col[i] = _mm256_fnmadd_pd(_mm256_broadcast_sd(l + i * ldl + j), cj, col[i]);
        }
        for (j = 0; j < n; j += 4) {
            const __m256d t0 = _mm256_unpacklo_pd(col[j], col[j + 1]), t1 = _mm256_unpackhi_pd(col[j], col[j + 1]);
            const __m256d t2 = _mm256_unpacklo_pd(col[j + 2], col[j + 3]);
            const __m256d t3 = _mm256_unpackhi_pd(col[j + 2], col[j + 3]);
            _mm256_storeu_pd(x0 + j, _mm256_permute2f128_pd(t0, t2, 0x20));
            _mm256_storeu_pd(x1 + j, _mm256_permute2f128_pd(t1, t3, 0x20));
            _mm256_storeu_pd(x2 + j, _mm256_permute2f128_pd(t0, t2, 0x31));
            _mm256_storeu_pd(x3 + j, _mm256_permute2f128_pd(t1, t3, 0x31));
        }
    }
    return r;
}
#endif /* ENTK__HAVE_AVX2 */

/* X L^T = B in place: x is m x n (ldx), l n x n lower. Recursive, so nearly all flops are GEMM. */
static entk_status entk__trsm_rlt(size_t m, size_t n, const double *l, size_t ldl, double *x, size_t ldx,
                                  double *ws) {
    size_t n1;
    entk_status st;
    if (m == 0 || n == 0) return ENTK_OK;
    if (n <= 16) {
        size_t r0 = 0;
#if ENTK__HAVE_AVX2
        if (n % 4 == 0 && entk_simd_path() == ENTK_SIMD_AVX2) r0 = entk__trsm_leaf_avx2(m, n, l, ldl, x, ldx);
#endif
        entk__trsm_leaf_scalar(r0, m, n, l, ldl, x, ldx);
        return ENTK_OK;
    }
    n1 = entk__split(n);
    if ((st = entk__trsm_rlt(m, n1, l, ldl, x, ldx, ws))) return st;
    if ((st = entk__gemm(m, n - n1, n1, -1.0, x, ldx, 1, l + n1 * ldl, 1, ldl, x + n1, ldx, 0, ws))) return st;
    return entk__trsm_rlt(m, n - n1, l + n1 * ldl + n1, ldl, x + n1, ldx, ws);
}

/* Recursive Cholesky of one diagonal block (returns 0 or the 1-based failing order via *fail). */
static entk_status entk__chol_rec(size_t n, double *a, size_t lda, double *ws, size_t *fail) {
    size_t n1, n2;
    entk_status st;
    *fail = 0;
    if (n <= 32) {
        *fail = entk__chol_base(n, a, lda);
        return ENTK_OK;
    }
    n1 = entk__split(n);
    n2 = n - n1;
    if ((st = entk__chol_rec(n1, a, lda, ws, fail)) || *fail) return st;
    if ((st = entk__trsm_rlt(n2, n1, a, lda, a + n1 * lda, lda, ws))) return st;
    if ((st = entk__gemm(n2, n2, n1, -1.0, a + n1 * lda, lda, 1, a + n1 * lda, 1, lda, a + n1 * lda + n1,
                         lda, 1, ws)))
        return st;
    if ((st = entk__chol_rec(n2, a + n1 * lda + n1, lda, ws, fail))) return st;
    if (*fail) *fail += n1;
    return ENTK_OK;
}

ENTKDEF entk_status entk_cholesky(size_t n, double *a, size_t lda, size_t *info) {
    const size_t nb = ENTK_CHOL_NB < 8 ? 8 : ENTK_CHOL_NB;
    size_t i, j, k, nn, fail = 0;
    double *ws = NULL;
    entk_status st = ENTK_OK;
    if (info) *info = 0;
    if (n == 0) return ENTK_OK;
    if (!a || lda < n) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__mul(n - 1, lda, &nn)) || nn > SIZE_MAX - n) return ENTK_ERR_OVERFLOW;
    for (i = 0; i < n; ++i)
        for (j = 0; j <= i; ++j)
            if (!(a[i * lda + j] - a[i * lda + j] == 0.0)) return ENTK_ERR_NONFINITE;
    if ((st = entk__alloc_doubles(entk__gemm_ws_doubles(n), &ws))) return st;
    /* right-looking: factor the diagonal block, solve the panel below it, update the trailing matrix */
    for (k = 0; k < n; k += nb) {
        const size_t b = n - k < nb ? n - k : nb, m2 = n - k - b;
        double *akk = a + k * lda + k, *apan = akk + b * lda;
        if ((st = entk__chol_rec(b, akk, lda, ws, &fail))) break;
        if (fail) {
            if (info) *info = k + fail;
            st = ENTK_ERR_NOT_PD;
            break;
        }
        if (m2 == 0) break;
        if ((st = entk__trsm_rlt(m2, b, akk, lda, apan, lda, ws))) break;
        if ((st = entk__gemm(m2, m2, b, -1.0, apan, lda, 1, apan, 1, lda, apan + b, lda, 1, ws))) break;
    }
    ENTK_FREE(ws);
    return st;
}

/* ---- substitutions with a Cholesky factor ------------------------------------------------------ */

#define ENTK__SUBST_NB 64

static void entk__axpy(double *y, double alpha, const double *x, size_t n) {
    size_t i;
    for (i = 0; i < n; ++i) y[i] += alpha * x[i];
}

static entk_status entk__subst_check(size_t n, const double *l, size_t ldl, size_t k, const double *b,
                                     size_t ldb) {
    size_t i, t;
    if (n == 0 || k == 0) return ENTK_OK;
    if (!l || !b || ldl < n || ldb < k) return ENTK_ERR_INVALID_ARG;
    if (entk__mul(n - 1, ldl, &t) || t > SIZE_MAX - n || entk__mul(n - 1, ldb, &t) || t > SIZE_MAX - k)
        return ENTK_ERR_OVERFLOW;
    for (i = 0; i < n; ++i) {
        const double d = l[i * ldl + i];
        if (d == 0.0 || !(d - d == 0.0)) return ENTK_ERR_INVALID_ARG;
    }
    return ENTK_OK;
}

ENTKDEF entk_status entk_chol_forward(size_t n, const double *l, size_t ldl, size_t k, double *b,
                                      size_t ldb) {
    size_t i0, i, j;
    double *ws = NULL;
    entk_status st = entk__subst_check(n, l, ldl, k, b, ldb);
    if (st || n == 0 || k == 0) return st;
    if (n > ENTK__SUBST_NB && (st = entk__alloc_doubles(entk__gemm_ws_doubles(k), &ws))) return st;
    for (i0 = 0; i0 < n; i0 += ENTK__SUBST_NB) {
        const size_t i1 = n - i0 < ENTK__SUBST_NB ? n : i0 + ENTK__SUBST_NB;
        /* left-looking: all solved rows above at once through the GEMM */
        if (i0 && (st = entk__gemm(i1 - i0, k, i0, -1.0, l + i0 * ldl, ldl, 1, b, ldb, 1, b + i0 * ldb, ldb,
                                   0, ws)))
            break;
        for (i = i0; i < i1; ++i) {
            double *bi = b + i * ldb;
            const double d = l[i * ldl + i];
            for (j = i0; j < i; ++j) entk__axpy(bi, -l[i * ldl + j], b + j * ldb, k);
            for (j = 0; j < k; ++j) bi[j] /= d;
        }
    }
    ENTK_FREE(ws);
    return st;
}

ENTKDEF entk_status entk_chol_backward(size_t n, const double *l, size_t ldl, size_t k, double *b,
                                       size_t ldb) {
    size_t i0, i1, i, j;
    double *ws = NULL;
    entk_status st = entk__subst_check(n, l, ldl, k, b, ldb);
    if (st || n == 0 || k == 0) return st;
    if (n > ENTK__SUBST_NB && (st = entk__alloc_doubles(entk__gemm_ws_doubles(k), &ws))) return st;
    for (i1 = n; i1 > 0; i1 = i0) {
        i0 = i1 > ENTK__SUBST_NB ? i1 - ENTK__SUBST_NB : 0;
        /* rows i0..i1 of L^T are columns of L: A(i, p) = l[(i1 + p) ldl + i0 + i] */
        if (i1 < n && (st = entk__gemm(i1 - i0, k, n - i1, -1.0, l + i1 * ldl + i0, 1, ldl, b + i1 * ldb, ldb,
                                       1, b + i0 * ldb, ldb, 0, ws)))
            break;
        for (i = i1; i-- > i0;) {
            double *bi = b + i * ldb;
            const double d = l[i * ldl + i];
            for (j = i + 1; j < i1; ++j) entk__axpy(bi, -l[j * ldl + i], b + j * ldb, k);
            for (j = 0; j < k; ++j) bi[j] /= d;
        }
    }
    ENTK_FREE(ws);
    return st;
}

ENTKDEF entk_status entk_chol_solve(size_t n, const double *l, size_t ldl, size_t k, double *b,
                                    size_t ldb) {
    entk_status st = entk_chol_forward(n, l, ldl, k, b, ldb);
    return st ? st : entk_chol_backward(n, l, ldl, k, b, ldb);
}

/* ---- symmetric eigensolver --------------------------------------------------------------------- */

/* Level-1 row operations of the Householder reduction and of Q's accumulation (memory-bound, so one
 * vector pass each): dot, axpy, and the symmetric rank-2 row update s -= a p + b x. */
typedef struct entk__vops {
    double (*dot)(const double *x, const double *y, size_t n);
    void (*axpy)(double *y, double alpha, const double *x, size_t n);
    void (*rank2)(double *s, double a, const double *p, double b, const double *x, size_t n);
} entk__vops;

static void entk__rank2_scalar(double *s, double a, const double *p, double b, const double *x, size_t n) {
    size_t j;
    for (j = 0; j < n; ++j) s[j] -= a * p[j] + b * x[j];
}

#if ENTK__HAVE_AVX2
__attribute__((target("avx2,fma")))
static double entk__dot_avx2(const double *x, const double *y, size_t n) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), s2 = _mm256_setzero_pd(), s3 = _mm256_setzero_pd();
    double out[4], s;
    size_t i;
    for (i = 0; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_pd(_mm256_loadu_pd(x + i), _mm256_loadu_pd(y + i), s0);
        s1 = _mm256_fmadd_pd(_mm256_loadu_pd(x + i + 4), _mm256_loadu_pd(y + i + 4), s1);
        s2 = _mm256_fmadd_pd(_mm256_loadu_pd(x + i + 8), _mm256_loadu_pd(y + i + 8), s2);
        s3 = _mm256_fmadd_pd(_mm256_loadu_pd(x + i + 12), _mm256_loadu_pd(y + i + 12), s3);
    }
    for (; i + 4 <= n; i += 4) s0 = _mm256_fmadd_pd(_mm256_loadu_pd(x + i), _mm256_loadu_pd(y + i), s0);
    _mm256_storeu_pd(out, _mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
    s = (out[0] + out[1]) + (out[2] + out[3]);
    for (; i < n; ++i) s += x[i] * y[i];
    return s;
}

__attribute__((target("avx2,fma")))
static void entk__axpy_avx2(double *y, double alpha, const double *x, size_t n) {
    const __m256d a = _mm256_set1_pd(alpha);
    size_t i;
    for (i = 0; i + 4 <= n; i += 4) _mm256_storeu_pd(y + i, _mm256_fmadd_pd(a, _mm256_loadu_pd(x + i), _mm256_loadu_pd(y + i)));
    for (; i < n; ++i) y[i] += alpha * x[i];
}

__attribute__((target("avx2,fma")))
static void entk__rank2_avx2(double *s, double a, const double *p, double b, const double *x, size_t n) {
    const __m256d va = _mm256_set1_pd(a), vb = _mm256_set1_pd(b);
    size_t j;
    for (j = 0; j + 4 <= n; j += 4) {
        const __m256d t = _mm256_fmadd_pd(va, _mm256_loadu_pd(p + j), _mm256_mul_pd(vb, _mm256_loadu_pd(x + j)));
        _mm256_storeu_pd(s + j, _mm256_sub_pd(_mm256_loadu_pd(s + j), t));
    }
    for (; j < n; ++j) s[j] -= a * p[j] + b * x[j];
}
#endif /* ENTK__HAVE_AVX2 */

static entk__vops entk__vops_select(entk_simd path) {
    entk__vops v;
    v.dot = entk__dot;
    v.axpy = entk__axpy;
    v.rank2 = entk__rank2_scalar;
#if ENTK__HAVE_AVX2
    if (path == ENTK_SIMD_AVX2) {
        v.dot = entk__dot_avx2;
        v.axpy = entk__axpy_avx2;
        v.rank2 = entk__rank2_avx2;
    }
#endif
    ENTK__UNUSED(path);
    return v;
}

/* Rotate rows: (x, y) <- (c x - s y, s x + c y). The QL sweeps spend their time here. */
typedef void (*entk__rot_fn)(size_t n, double *x, double *y, double c, double s);

static void entk__rot_scalar(size_t n, double *x, double *y, double c, double s) {
    size_t i;
    for (i = 0; i < n; ++i) {
        const double f = y[i];
        y[i] = s * x[i] + c * f;
        x[i] = c * x[i] - s * f;
    }
}

#if ENTK__HAVE_AVX2
__attribute__((target("avx2,fma")))
static void entk__rot_avx2(size_t n, double *x, double *y, double c, double s) {
    const __m256d vc = _mm256_set1_pd(c), vs = _mm256_set1_pd(s);
    size_t i;
    for (i = 0; i + 4 <= n; i += 4) {
        const __m256d xv = _mm256_loadu_pd(x + i), yv = _mm256_loadu_pd(y + i);
        _mm256_storeu_pd(y + i, _mm256_add_pd(_mm256_mul_pd(vs, xv), _mm256_mul_pd(vc, yv)));
        _mm256_storeu_pd(x + i, _mm256_sub_pd(_mm256_mul_pd(vc, xv), _mm256_mul_pd(vs, yv)));
    }
    entk__rot_scalar(n - i, x + i, y + i, c, s);
}
#endif /* ENTK__HAVE_AVX2 */

#if ENTK__HAVE_NEON
static void entk__rot_neon(size_t n, double *x, double *y, double c, double s) {
    const float64x2_t vc = vdupq_n_f64(c), vs = vdupq_n_f64(s);
    size_t i;
    for (i = 0; i + 2 <= n; i += 2) {
        const float64x2_t xv = vld1q_f64(x + i), yv = vld1q_f64(y + i);
        vst1q_f64(y + i, vaddq_f64(vmulq_f64(vs, xv), vmulq_f64(vc, yv)));
        vst1q_f64(x + i, vsubq_f64(vmulq_f64(vc, xv), vmulq_f64(vs, yv)));
    }
    entk__rot_scalar(n - i, x + i, y + i, c, s);
}
#endif /* ENTK__HAVE_NEON */

static entk__rot_fn entk__rot_select(entk_simd path) {
#if ENTK__HAVE_AVX2
    if (path == ENTK_SIMD_AVX2) return entk__rot_avx2;
#endif
#if ENTK__HAVE_NEON
    if (path == ENTK_SIMD_NEON) return entk__rot_neon;
#endif
    ENTK__UNUSED(path);
    return entk__rot_scalar;
}

/* 2-norm without overflow or underflow for any finite input. */
static double entk__nrm2(const double *x, size_t n) {
    double mx = 0, s = 0;
    size_t i;
    for (i = 0; i < n; ++i)
        if (fabs(x[i]) > mx) mx = fabs(x[i]);
    if (mx == 0) return 0;
    for (i = 0; i < n; ++i) {
        const double t = x[i] / mx;
        s += t * t;
    }
    return mx * sqrt(s);
}

/* Householder reduction of the full symmetric a (n x n, ld n) to tridiagonal (d, e), e[i] coupling
 * i and i+1; the reflector of step k is kept in row k (v, on columns k+1..n) with tau[k]. */
static void entk__tridiag(size_t n, double *a, double *d, double *e, double *tau, double *p) {
    const entk__vops vo = entk__vops_select(entk_simd_path());
    size_t k, i;
    for (k = 0; k + 2 < n; ++k) {
        double *x = a + k * n + k + 1;
        const size_t len = n - k - 1;
        const double tail = entk__nrm2(x + 1, len - 1);
        double norm, alpha, t, kk;
        d[k] = a[k * n + k];
        if (tail == 0.0) { /* already reduced: H = I */
            e[k] = x[0];
            tau[k] = 0.0;
            continue;
        }
        norm = fabs(x[0]) > tail ? fabs(x[0]) * sqrt(1.0 + (tail / x[0]) * (tail / x[0]))
                                 : tail * sqrt(1.0 + (x[0] / tail) * (x[0] / tail));
        alpha = x[0] >= 0 ? -norm : norm;
        x[0] -= alpha; /* v = x - alpha e1, v^T v = 2 norm (norm + |x0|) */
        t = 1.0 / (norm * (norm + fabs(x[0] + alpha)));
        tau[k] = t;
        e[k] = alpha;
        /* S <- H S H = S - v w^T - w v^T, p = t S v, w = p - (t/2)(p^T v) v, S rows k+1..n */
        for (i = 0; i < len; ++i) p[i] = t * vo.dot(a + (k + 1 + i) * n + k + 1, x, len);
        kk = 0.5 * t * vo.dot(p, x, len);
        vo.axpy(p, -kk, x, len);
        for (i = 0; i < len; ++i) vo.rank2(a + (k + 1 + i) * n + k + 1, x[i], p, p[i], x, len);
    }
    if (n >= 2) {
        d[n - 2] = a[(n - 2) * n + n - 2];
        e[n - 2] = a[(n - 1) * n + n - 2];
    }
    d[n - 1] = a[(n - 1) * n + n - 1];
    e[n - 1] = 0.0;
}

/* Implicit QL with Wilkinson shifts on (d, e); rows of u (n x n, ld n) are rotated alongside, so on
 * return row i of u is the eigenvector of d[i] when u entered as Q^T. u may be NULL. */
static entk_status entk__tql(size_t n, double *d, double *e, double *u) {
    const entk__rot_fn rot = entk__rot_select(entk_simd_path());
    double tnorm = 0;
    size_t l, m, i;
    /* deflate on |e| <= eps ||T|| (EISPACK's norm-wise test): a relative test against |d_m| + |d_m+1|
     * alone never deflates inside a block of zero eigenvalues */
    for (i = 0; i < n; ++i) tnorm = fmax(tnorm, fabs(d[i]) + fabs(e[i]));
    for (l = 0; l < n; ++l) {
        int iter = 0;
        for (;;) {
            double g, r, s, c, p, f, b;
            int early = 0;
            for (m = l; m + 1 < n; ++m)
                if (fabs(e[m]) <= DBL_EPSILON * tnorm) break;
            if (m == l) break;
            if (++iter > 60) return ENTK_ERR_NO_CONVERGENCE;
            g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            r = hypot(g, 1.0);
            g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
            s = c = 1.0;
            p = 0.0;
            for (i = m; i-- > l;) {
                f = s * e[i];
                b = c * e[i];
                r = hypot(f, g);
                e[i + 1] = r;
                if (r == 0.0) { /* split: recover and restart */
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    early = 1;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
                if (u) rot(n, u + i * n, u + (i + 1) * n, c, s);
            }
            if (early) continue;
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    return ENTK_OK;
}

ENTKDEF entk_status entk_syev(size_t n, const double *a, size_t lda, double *w, double *v, size_t ldv) {
    size_t nn, i, j, k;
    double *s = NULL, *u = NULL, *e = NULL, *tau = NULL, *p = NULL;
    entk_status st;
    if (n == 0) return ENTK_OK;
    if (!a || !w || lda < n || (v && ldv < n)) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__mul(n, n, &nn)) || (st = entk__mul(n, lda, &k)) || (v && (st = entk__mul(n, ldv, &k))))
        return st;
    for (i = 0; i < n; ++i)
        for (j = 0; j <= i; ++j)
            if (!(a[i * lda + j] - a[i * lda + j] == 0.0)) return ENTK_ERR_NONFINITE;
    if ((st = entk__alloc_doubles(nn, &s)) || (st = entk__alloc_doubles(3 * n, &e))) goto done;
    if (v && (st = entk__alloc_doubles(nn, &u))) goto done;
    tau = e + n;
    p = e + 2 * n;
    for (i = 0; i < n; ++i)
        for (j = 0; j <= i; ++j) s[i * n + j] = s[j * n + i] = a[i * lda + j];
    entk__tridiag(n, s, w, e, tau, p);
    if (u) {
        const entk__vops vo = entk__vops_select(entk_simd_path());
        /* U = Q^T = H_{n-3} ... H_0, built by right-multiplication from I in the order k = n-3..0:
         * U H_k touches rows and columns k+1..n only, one dot and one axpy per row */
        memset(u, 0, nn * sizeof *u);
        for (i = 0; i < n; ++i) u[i * n + i] = 1.0;
        for (k = n >= 3 ? n - 2 : 0; k-- > 0;) {
            const double *vk = s + k * n + k + 1;
            const size_t len = n - k - 1;
            if (tau[k] == 0.0) continue;
            for (i = k + 1; i < n; ++i) {
                double *ui = u + i * n + k + 1;
                vo.axpy(ui, -tau[k] * vo.dot(ui, vk, len), vk, len);
            }
        }
    }
    if ((st = entk__tql(n, w, e, u))) goto done;
    /* ascending order (selection sort: n swaps of rows at most) */
    for (i = 0; i + 1 < n; ++i) {
        size_t mi = i;
        for (j = i + 1; j < n; ++j)
            if (w[j] < w[mi]) mi = j;
        if (mi != i) {
            const double t = w[i];
            w[i] = w[mi];
            w[mi] = t;
            if (u)
                for (j = 0; j < n; ++j) {
                    const double q = u[i * n + j];
                    u[i * n + j] = u[mi * n + j];
                    u[mi * n + j] = q;
                }
        }
    }
    if (v)
        for (i = 0; i < n; ++i)
            for (j = 0; j < n; ++j) v[i * ldv + j] = u[j * n + i];
    for (i = 0; i < n; ++i)
        if (!(w[i] - w[i] == 0.0)) st = ENTK_ERR_NONFINITE;
done:
    ENTK_FREE(s);
    ENTK_FREE(u);
    ENTK_FREE(e);
    return st;
}

/* ==== [end: linalg implementation] =========================================================== */



/* ==== [section: predict implementation] ====================================================== */

ENTKDEF entk_predict_opts entk_predict_opts_default(void) {
    entk_predict_opts o;
    o.diag_reg = 0.0;
    o.diag_reg_absolute = 0;
    o.t = INFINITY;
    o.lr = 1.0;
    o.jitter = ENTK_JITTER_ESCALATE;
    o.jitter_start = 1e-10;
    o.jitter_max = 1e-2;
    return o;
}

static int entk__isfinite(double x) { return x - x == 0.0; }

static entk_status entk__check_opts(const entk_predict_opts *o) {
    if (!(o->diag_reg >= 0 && entk__isfinite(o->diag_reg))) return ENTK_ERR_INVALID_ARG;
    if (!(o->lr > 0 && entk__isfinite(o->lr))) return ENTK_ERR_INVALID_ARG;
    if (!(o->t >= 0)) return ENTK_ERR_INVALID_ARG; /* NaN and negative; +inf allowed */
    if (o->jitter != ENTK_JITTER_NONE && o->jitter != ENTK_JITTER_ESCALATE) return ENTK_ERR_INVALID_ARG;
    if (o->jitter == ENTK_JITTER_ESCALATE &&
        !(o->jitter_start > 0 && o->jitter_max >= o->jitter_start && entk__isfinite(o->jitter_max)))
        return ENTK_ERR_INVALID_ARG;
    return ENTK_OK;
}

/* A rows x cols block with leading dimension ld: present, addressable, finite (lower: j <= i only). */
static entk_status entk__check_block(const double *a, size_t rows, size_t cols, size_t ld, int lower) {
    size_t i, j, t;
    if (rows == 0 || cols == 0) return ENTK_OK;
    if (!a || ld < cols) return ENTK_ERR_INVALID_ARG;
    if (entk__mul(rows - 1, ld, &t) || t > SIZE_MAX - cols) return ENTK_ERR_OVERFLOW;
    for (i = 0; i < rows; ++i) {
        const size_t jn = lower ? i + 1 : cols;
        for (j = 0; j < jn; ++j)
            if (!entk__isfinite(a[i * ld + j])) return ENTK_ERR_NONFINITE;
    }
    return ENTK_OK;
}

static entk_status entk__check_kernels(const entk_kernels *K, int need_var, int need_cov) {
    entk_status st;
    if (!K || K->n == 0) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__check_block(K->train, K->n, K->n, K->ld_train, 1))) return st;
    if ((st = entk__check_block(K->test_train, K->m, K->n, K->ld_test_train, 0))) return st;
    if (K->m == 0) return ENTK_OK;
    if (need_cov && !K->test_test) return ENTK_ERR_INVALID_ARG;
    if (need_var && !K->test_test && !K->test_diag) return ENTK_ERR_INVALID_ARG;
    if (K->test_diag && (st = entk__check_block(K->test_diag, 1, K->m, K->m, 0))) return st;
    if (K->test_test && (st = entk__check_block(K->test_test, K->m, K->m, K->ld_test_test, 0))) return st;
    return ENTK_OK;
}

/* The regularised train matrix, factorised: Cholesky L (t = inf) or eigenpairs (finite t). */
typedef struct entk__kinv {
    size_t n;
    int eig;
    double *f; /* n x n: L in the lower triangle, or eigenvectors as columns */
    double *w; /* eigenvalues, ascending (eig) */
    double c;  /* lr t / (n k) */
} entk__kinv;

static void entk__kinv_free(entk__kinv *kv) {
    ENTK_FREE(kv->f);
    ENTK_FREE(kv->w);
    kv->f = kv->w = NULL;
}

static entk_status entk__kinv_build(const double *kdd, size_t ld, size_t n, size_t k,
                                    const entk_predict_opts *o, entk_predict_info *info, entk__kinv *kv) {
    double tr = 0, scale = 0, reg;
    size_t i, j, nn;
    entk_status st;
    kv->n = n;
    kv->f = kv->w = NULL;
    kv->eig = !(o->t > DBL_MAX);
    kv->c = 0;
    for (i = 0; i < n; ++i) {
        tr += kdd[i * ld + i];
        scale += fabs(kdd[i * ld + i]);
    }
    reg = o->diag_reg_absolute ? o->diag_reg : o->diag_reg * tr / (double)n;
    scale = scale > 0 ? scale / (double)n : 1.0; /* a zero diagonal: jitter in absolute units */
    info->reg = reg;
    if ((st = entk__mul(n, n, &nn)) || (st = entk__alloc_doubles(nn, &kv->f))) return st;
    if (kv->eig) {
        /* eig(K + r I) = eig(K) + r with the same vectors: no copy of K needed */
        if ((st = entk__alloc_doubles(n, &kv->w))) return st;
        if ((st = entk_syev(n, kdd, ld, kv->w, kv->f, n))) return st;
        for (i = 0; i < n; ++i) kv->w[i] += reg;
        kv->c = o->lr * o->t / ((double)n * (double)k);
        info->min_eig = kv->w[0];
        info->used_eigen = 1;
        return ENTK_OK;
    } else {
        double jit = 0;
        for (;;) {
            size_t ord = 0;
            for (i = 0; i < n; ++i) {
                for (j = 0; j <= i; ++j) kv->f[i * n + j] = kdd[i * ld + j];
                kv->f[i * n + i] += reg + jit;
            }
            st = entk_cholesky(n, kv->f, n, &ord);
            if (st != ENTK_ERR_NOT_PD) break;
            if (!info->not_pd_order) info->not_pd_order = ord;
            if (o->jitter == ENTK_JITTER_NONE) break;
            jit = jit == 0 ? o->jitter_start * scale : 10.0 * jit;
            if (jit > o->jitter_max * scale * (1.0 + 1e-9)) break;
            ++info->jitter_tries;
        }
        info->jitter = st ? 0.0 : jit;
        return st;
    }
}

/* (1 - e^{-c l}) / l for l >= 0 (clamped), continuous at l = 0 where it is c. */
static double entk__gd_factor(double l, double c) {
    const double x = c * (l > 0 ? l : 0.0);
    if (x < 1e-8) return c * (1.0 - 0.5 * x);
    return -expm1(-x) / l;
}

/* C = A B (m x n, ldc) through the packed GEMM. */
static entk_status entk__matmul(size_t m, size_t n, size_t k, const double *a, size_t ars, size_t acs,
                                const double *b, size_t brs, size_t bcs, double *c, size_t ldc) {
    size_t i, j;
    for (i = 0; i < m; ++i)
        for (j = 0; j < n; ++j) c[i * ldc + j] = 0.0;
    return entk__gemm(m, n, k, 1.0, a, ars, acs, b, brs, bcs, c, ldc, 0, NULL);
}

/* b (n x nc, ldb) <- P b with P = k_reg^-1 (I - e^{-c' k_reg}), c' = cscale c, or (half) <- F b with
 * F^T F = P: F = L^-1 (Cholesky; cscale is then irrelevant) or diag(sqrt(g)) V^T. */
static entk_status entk__kinv_apply(const entk__kinv *kv, double cscale, int half, double *b, size_t nc,
                                    size_t ldb) {
    const size_t n = kv->n;
    double *t = NULL;
    size_t i, j, cnt;
    entk_status st;
    if (!kv->eig) return half ? entk_chol_forward(n, kv->f, n, nc, b, ldb) : entk_chol_solve(n, kv->f, n, nc, b, ldb);
    if ((st = entk__mul(n, nc, &cnt)) || (st = entk__alloc_doubles(cnt, &t))) return st;
    if ((st = entk__matmul(n, nc, n, kv->f, 1, n, b, ldb, 1, t, nc))) goto done; /* V^T b */
    for (i = 0; i < n; ++i) {
        const double g = entk__gd_factor(kv->w[i], cscale * kv->c), s = half ? sqrt(g) : g;
        for (j = 0; j < nc; ++j) t[i * nc + j] *= s;
    }
    if (half) {
        for (i = 0; i < n; ++i) memcpy(b + i * ldb, t + i * nc, nc * sizeof *b);
    } else {
        st = entk__matmul(n, nc, n, kv->f, n, 1, t, nc, 1, b, ldb);
    }
done:
    ENTK_FREE(t);
    return st;
}

/* a (rows x cols, lda) transposed into t (cols x rows, contiguous) */
static void entk__transpose(const double *a, size_t rows, size_t cols, size_t lda, double *t) {
    size_t i, j;
    for (i = 0; i < rows; ++i)
        for (j = 0; j < cols; ++j) t[j * rows + i] = a[i * lda + j];
}

static entk_status entk__check_out(const double *x, size_t rows, size_t cols, size_t ld) {
    return x ? entk__check_block(x, rows, cols, ld, 0) : ENTK_OK;
}

/* Shared argument checks of the three predictors. */
static entk_status entk__predict_args(const entk_kernels *K, size_t k, const double *y, size_t ldy,
                                      const entk_predict_opts *o, const double *mean, size_t ldm,
                                      const double *var, const double *cov, size_t ldc) {
    entk_status st;
    if ((st = entk__check_opts(o))) return st;
    if ((st = entk__check_kernels(K, var != NULL, cov != NULL))) return st;
    if (k == 0) return ENTK_ERR_INVALID_ARG;
    if (mean) {
        if (!y || ldy < k || (K->m && ldm < k)) return ENTK_ERR_INVALID_ARG;
        if ((st = entk__check_block(y, K->n, k, ldy, 0))) return st;
    }
    if (cov && K->m && ldc < K->m) return ENTK_ERR_INVALID_ARG;
    return ENTK_OK;
}

/* mean (m x k) = test_train (m x n) * P Y */
static entk_status entk__predict_mean_with(const entk__kinv *kv, const entk_kernels *K, size_t k,
                                           const double *y, size_t ldy, double *mean, size_t ldm) {
    const size_t n = K->n;
    double *z = NULL;
    size_t i, cnt;
    entk_status st;
    if ((st = entk__mul(n, k, &cnt)) || (st = entk__alloc_doubles(cnt, &z))) return st;
    for (i = 0; i < n; ++i) memcpy(z + i * k, y + i * ldy, k * sizeof *z);
    if (!(st = entk__kinv_apply(kv, 1.0, 0, z, k, k)))
        st = entk__matmul(K->m, k, n, K->test_train, K->ld_test_train, 1, z, k, 1, mean, ldm);
    ENTK_FREE(z);
    return st;
}

ENTKDEF entk_status entk_predict_mean(const entk_kernels *kern, size_t k, const double *y, size_t ldy,
                                      const entk_predict_opts *opts, double *mean, size_t ldm,
                                      entk_predict_info *info) {
    entk_predict_opts o = opts ? *opts : entk_predict_opts_default();
    entk_predict_info dummy;
    entk__kinv kv;
    entk_status st;
    if (!info) info = &dummy;
    memset(info, 0, sizeof *info);
    if (!mean) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__predict_args(kern, k, y, ldy, &o, mean, ldm, NULL, NULL, 0))) return st;
    if (!(st = entk__kinv_build(kern->train, kern->ld_train, kern->n, k, &o, info, &kv)))
        st = entk__predict_mean_with(&kv, kern, k, y, ldy, mean, ldm);
    entk__kinv_free(&kv);
    if (!st) st = entk__check_out(mean, kern->m, k, ldm);
    return st;
}

static double entk__test_var(const entk_kernels *K, size_t i) {
    return K->test_diag ? K->test_diag[i] : K->test_test[i * K->ld_test_test + i];
}

ENTKDEF entk_status entk_predict_nngp(const entk_kernels *K, size_t k, const double *y, size_t ldy,
                                      const entk_predict_opts *opts, double *mean, size_t ldm, double *var,
                                      double *cov, size_t ldc, entk_predict_info *info) {
    entk_predict_opts o = opts ? *opts : entk_predict_opts_default();
    entk_predict_info dummy;
    entk__kinv kv;
    double *w = NULL;
    size_t n, m, i, j, cnt;
    entk_status st;
    if (!info) info = &dummy;
    memset(info, 0, sizeof *info);
    kv.f = kv.w = NULL;
    if ((st = entk__predict_args(K, k, y, ldy, &o, mean, ldm, var, cov, ldc))) return st;
    n = K->n;
    m = K->m;
    if ((st = entk__kinv_build(K->train, K->ld_train, n, k, &o, info, &kv))) goto done;
    if (mean && (st = entk__predict_mean_with(&kv, K, k, y, ldy, mean, ldm))) goto done;
    if ((var || cov) && m) {
        /* W = F K(X, x): cov = K(x, x') - W^T W, with F^T F = K_reg^-1 (I - e^{-2c K_reg}) */
        if ((st = entk__mul(n, m, &cnt)) || (st = entk__alloc_doubles(cnt, &w))) goto done;
        entk__transpose(K->test_train, m, n, K->ld_test_train, w);
        if ((st = entk__kinv_apply(&kv, 2.0, 1, w, m, m))) goto done;
        if (var) {
            for (i = 0; i < m; ++i) var[i] = 0.0;
            for (j = 0; j < n; ++j)
                for (i = 0; i < m; ++i) var[i] += w[j * m + i] * w[j * m + i];
            for (i = 0; i < m; ++i) {
                const double v = entk__test_var(K, i) - var[i];
                var[i] = v > 0 ? v : (v == v ? 0.0 : v); /* rounding below 0 at training points */
            }
        }
        if (cov) {
            if ((st = entk__matmul(m, m, n, w, 1, m, w, m, 1, cov, ldc))) goto done;
            for (i = 0; i < m; ++i)
                for (j = 0; j < m; ++j) cov[i * ldc + j] = K->test_test[i * K->ld_test_test + j] - cov[i * ldc + j];
        }
    }
    if (!(st = entk__check_out(mean, m, k, ldm)) && !(st = entk__check_out(var, 1, m, m)))
        st = entk__check_out(cov, m, m, ldc);
done:
    ENTK_FREE(w);
    entk__kinv_free(&kv);
    return st;
}

ENTKDEF entk_status entk_predict_ntk_ensemble(const entk_kernels *K, const entk_kernels *theta, size_t k,
                                              const double *y, size_t ldy, const entk_predict_opts *opts,
                                              double *mean, size_t ldm, double *var, double *cov, size_t ldc,
                                              entk_predict_info *info) {
    entk_predict_opts o = opts ? *opts : entk_predict_opts_default();
    entk_predict_info dummy;
    entk__kinv kv;
    double *at = NULL, *kf = NULL, *r = NULL;
    size_t n, m, i, j, cnt, nn;
    entk_status st;
    if (!info) info = &dummy;
    memset(info, 0, sizeof *info);
    kv.f = kv.w = NULL;
    if ((st = entk__predict_args(theta, k, y, ldy, &o, mean, ldm, NULL, NULL, 0))) return st;
    if (!var && !cov && !K) K = theta; /* the mean needs Theta only */
    if ((st = entk__check_kernels(K, var != NULL, cov != NULL))) return st;
    if (K->n != theta->n || K->m != theta->m) return ENTK_ERR_SHAPE;
    if (cov && K->m && ldc < K->m) return ENTK_ERR_INVALID_ARG;
    n = theta->n;
    m = theta->m;
    if (m == 0) return ENTK_OK;
    if ((st = entk__kinv_build(theta->train, theta->ld_train, n, k, &o, info, &kv))) goto done;
    /* A^T = P Theta(X, x)  (n x m) */
    if ((st = entk__mul(n, m, &cnt)) || (st = entk__alloc_doubles(cnt, &at))) goto done;
    entk__transpose(theta->test_train, m, n, theta->ld_test_train, at);
    if ((st = entk__kinv_apply(&kv, 1.0, 0, at, m, m))) goto done;
    if (mean && (st = entk__matmul(m, k, n, at, 1, m, y, ldy, 1, mean, ldm))) goto done;
    if (var || cov) {
        /* R = K(X,X) A^T - K(X,x): cov = K(x,x') + A R - K(x,X) A^T */
        if ((st = entk__mul(n, n, &nn)) || (st = entk__alloc_doubles(nn, &kf)) ||
            (st = entk__alloc_doubles(cnt, &r)))
            goto done;
        for (i = 0; i < n; ++i)
            for (j = 0; j <= i; ++j) kf[i * n + j] = kf[j * n + i] = K->train[i * K->ld_train + j];
        if ((st = entk__matmul(n, m, n, kf, n, 1, at, m, 1, r, m))) goto done;
        for (i = 0; i < n; ++i)
            for (j = 0; j < m; ++j) r[i * m + j] -= K->test_train[j * K->ld_test_train + i];
        if (var) {
            for (i = 0; i < m; ++i) var[i] = 0.0;
            for (j = 0; j < n; ++j)
                for (i = 0; i < m; ++i)
                    var[i] += at[j * m + i] * (r[j * m + i] - K->test_train[i * K->ld_test_train + j]);
            for (i = 0; i < m; ++i) {
                const double v = entk__test_var(K, i) + var[i];
                var[i] = v > 0 ? v : (v == v ? 0.0 : v);
            }
        }
        if (cov) {
            if ((st = entk__matmul(m, m, n, at, 1, m, r, m, 1, cov, ldc))) goto done;
            if ((st = entk__gemm(m, m, n, -1.0, K->test_train, K->ld_test_train, 1, at, m, 1, cov, ldc, 0, NULL)))
                goto done;
            for (i = 0; i < m; ++i)
                for (j = 0; j < m; ++j) cov[i * ldc + j] += K->test_test[i * K->ld_test_test + j];
        }
    }
    if (!(st = entk__check_out(mean, m, k, ldm)) && !(st = entk__check_out(var, 1, m, m)))
        st = entk__check_out(cov, m, m, ldc);
done:
    ENTK_FREE(at);
    ENTK_FREE(kf);
    ENTK_FREE(r);
    entk__kinv_free(&kv);
    return st;
}

/* ==== [end: predict implementation] ========================================================== */



/* ==== [section: npy implementation] ========================================================== */

/* ==== [end: npy implementation] ============================================================== */

#endif /* ENTK_IMPLEMENTATION */

/*
 * LICENSE: MIT. Copyright (c) 2026 the entk authors. Permission is hereby granted, free of charge, to
 * any person obtaining a copy of this software, to deal in the software without restriction, subject to
 * including this notice. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
 */
