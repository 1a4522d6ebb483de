/* entk.h - infinite-width NNGP and neural tangent kernels, core (MLP kernels, nonlinearity maps,
 *          Cholesky, kernel predictors, SIMD dispatch, .npy I/O).                          MIT
 *
 * USAGE
 *   In exactly one C file:
 *       #define ENTK_IMPLEMENTATION
 *       #include "entk.h"
 *   Everywhere else just #include "entk.h". Link with `-lsleef -lm`, or build with -DENTK_NO_SLEEF and
 *   link with `-lm` only (the sin map then runs the scalar libm kernel on every path).
 *   Optional: -fopenmp enables the `threads` argument of the Gram-matrix functions.
 *   Installed (make install): `cc $(pkg-config --cflags --libs entk)` (entk-nosleef: without SLEEF),
 *   CMake's find_package(entk) and entk::entk; or no implementation file at all and libentk.so
 *   (pkg-config entk-shared, entk::shared). docs/conventions.md §5.1.
 *
 * CONFIGURATION MACROS (define before the #include that carries ENTK_IMPLEMENTATION unless noted)
 *   name              where            default          effect
 *   ENTK_STATIC       every include    undefined        all functions `static` (private copy per TU)
 *   ENTK_SHARED       implementation   undefined        public functions get default visibility (GCC,
 *                                                       clang): the shared library's build (make lib,
 *                                                       with -fvisibility=hidden); its users need not
 *                                                       define it
 *   ENTK_NO_SIMD      implementation   undefined        compile the scalar path only
 *   ENTK_VECTOR       implementation   undefined        force a path: 0 scalar, 1 AVX2+FMA, 2 NEON,
 *                                                       3 AVX-512F/DQ/VL (undefined: best path chosen at
 *                                                       run time, AVX-512 > AVX2 > scalar on x86-64).
 *                                                       A forced 1 or 3 is not checked against the CPU:
 *                                                       without the ISA the program dies of SIGILL at its
 *                                                       first vector kernel (entk_simd_set does check)
 *   ENTK_NO_SLEEF     implementation   undefined        no SLEEF: the sin map runs the scalar libm
 *                                                       kernel on every path; relu, leaky_relu, erf,
 *                                                       gelu (entk's own atan2), identity and the dot
 *                                                       products stay vectorised
 *   ENTK_MALLOC/FREE  implementation   malloc/free      allocator hooks (define both or neither); with
 *                                                       the default, Linux workspaces >= 4 MB get
 *                                                       madvise(MADV_HUGEPAGE) (9.1)
 *   ENTK_MAX_LAYERS   every include    128              capacity of entk_arch
 *   ENTK_NPY_MAX_DIM  every include    8                largest .npy rank (sizes entk_array)
 *   ENTK_CHOL_NB      implementation   256              outer block size of the Cholesky
 *
 * CONTENTS (each number opens a banner comment; search for "9.3.2 " to jump there)
 *   interface                                9. implementation
 *   1. Status codes                          9.0   Helpers and floating-point pinning
 *   2. SIMD dispatch                         9.1   Status codes, allocation helpers
 *   3. Nonlinearity maps                     9.2   SIMD dispatch (the kernel table type)
 *   4. Architectures and the parser          9.3   Nonlinearity maps: scalar oracle
 *   5. MLP kernels                           9.3.1 gelu; custom phi by quadrature (scalar)
 *   6. Linear algebra (Cholesky, solves,     9.3.2 Nonlinearity maps: AVX2+FMA (and AVX-512)
 *      GEMM, eigensolver)                    9.3.3 Nonlinearity maps: NEON
 *   7. Kernel predictors                     9.4   Architectures and the parser (the key table)
 *      (docs/conventions.md §3)              9.5   MLP kernels: the layer updates
 *   8. .npy reader and writer                9.5.1 Dot products of rows
 *   licence (MIT) at the end                 9.5.2 MLP Gram matrices
 *                                            9.5.3 The Gram driver (pair-kernel domains,
 *                                                  and its diagonal-only pass)
 *                                            9.6   Linear algebra
 *                                            9.7   The kernel tables (one per path)
 *                                            9.8   Kernel predictors
 *                                            9.9   .npy reader and writer
 *
 * CONVENTIONS
 *   Matrices are row-major with a leading dimension `ld` (elements between rows). NTK parametrisation
 *   (docs/conventions.md §1): every weight and bias is N(0,1), a layer multiplies by sw/sqrt(fan_in) and sb.
 *   docs/conventions.md is the reference for everything the code follows: the layer recursion and each
 *   nonlinearity's closed form (§1), the group conventions (§1.4), augmentation and orbit averages (§2),
 *   the predictors (§3), the architecture grammar with every key and default (§5.2), the .npy rules
 *   (§5.4) and the command line (§5.5).
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
#if defined(__GNUC__) || defined(__clang__)
#define ENTKDEF static __attribute__((unused)) /* a TU need not call every function */
#else
#define ENTKDEF static
#endif
#elif defined(ENTK_SHARED) && (defined(__GNUC__) || defined(__clang__))
/* building libentk.so (make lib, with -fvisibility=hidden): the public functions alone are exported */
#define ENTKDEF extern __attribute__((visibility("default")))
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
    X(ENTK_ERR_NPY_TRUNCATED, "truncated .npy file")                           \
    X(ENTK_ERR_RANGE, "kernel value outside the double range (inputs too large or too small)")

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
    ENTK_SIMD_NEON = 2, /* Advanced SIMD, AArch64 */
    ENTK_SIMD_AVX512 = 3 /* AVX-512F/DQ/VL (+ AVX2, FMA), x86-64: its own Cholesky kernels (GEMM
                          * micro-kernel, pack, TRSM leaf), lincomb and relu, leaky_relu, erf and
                          * gelu maps (zmm), all with the AVX2 path's bits; the other maps and row
                          * kernels are the AVX2 ones, so they equal that path's too */
} entk_simd;

/* The path that runs: "scalar", "avx2+sleef", "avx512+sleef" or "neon+sleef"; under ENTK_NO_SLEEF
 * "avx2 (no SLEEF: sin scalar)" or the avx512 / neon analogue: the relu, leaky_relu, erf, gelu and identity maps and the dot products
 * are vectorised without SLEEF (entk's own atan2), sin then runs the scalar libm kernel. */
ENTKDEF const char *entk_simd_name(void);
ENTKDEF entk_simd entk_simd_path(void);
/* Select a path at run time (benchmarks, tests). ENTK_ERR_UNSUPPORTED if this build or CPU lacks it
 * (AVX-512: cpuid's AVX-512F, DQ, VL and AVX2+FMA, and the OS saving the ZMM state, XCR0).
 * The path is chosen once when the program starts (best available, or ENTK_VECTOR) and every kernel
 * call reads it once at its start: a call already running keeps its path, later calls take the new
 * one. Safe to call from any thread. */
ENTKDEF entk_status entk_simd_set(entk_simd path);
/* "3.5.1" or "none". */
ENTKDEF const char *entk_sleef_version(void);
/* ENTK_VERSION_STRING of the compiled library (a shared library's callers may hold other headers). */
ENTKDEF const char *entk_version(void);

/* Progress of long Gram computations: fn(user, done, total) is called now and then (from any of the
 * computing threads, but never concurrently) with the number of kernel rows finished. The library itself never prints; the
 * CLI uses this for its progress line. The done values never decrease and the last one is always
 * done == total, whatever the thread count. Process-wide; NULL disables. Not thread-safe against
 * concurrent kernel calls. */
typedef void (*entk_progress_fn)(void *user, size_t done, size_t total);
ENTKDEF void entk_set_progress(entk_progress_fn fn, void *user);

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
    ENTK_NL_CUSTOM      /* any phi, by 2-D Gaussian quadrature (phi, dphi)          */
} entk_nonlin_kind;

typedef double (*entk_scalar_fn)(double x, void *user);

typedef struct entk_nonlin {
    entk_nonlin_kind kind;
    double a;            /* leaky_relu slope for x < 0 */
    entk_scalar_fn phi;  /* ENTK_NL_CUSTOM: phi and its derivative */
    entk_scalar_fn dphi;
    void *user;
    int order;           /* ENTK_NL_CUSTOM: quadrature points per axis, 0..128 (0: default 64) */
} entk_nonlin;

/* Map n kernel entries through a pointwise nonlinearity (docs/conventions.md §1):
 *   t[i]         = T(k11, k22, k12[i])            = E[phi(u) phi(v)]
 *   theta_out[i] = Tdot(k11, k22, k12[i]) theta[i], Tdot = E[phi'(u) phi'(v)]
 * with (u, v) ~ N(0, [[k11, k12], [k12, k22]]), k11 = k11[i * inc11], k22 = k22[i * inc22];
 * inc11 and inc22 are 0 (broadcast one value) or 1. theta and theta_out may both be NULL (NNGP only).
 * t may alias k12 and theta_out may alias theta. Inputs must be finite with k11, k22 >= 0; values
 * with k12^2 > k11 k22 (rounding) are treated as on the boundary. Zero variances give finite results.
 * Accuracy: the SIMD paths (entk's own atan2 for relu, leaky relu, erf, gelu: 0.58 ULP measured on
 * AVX2, 0.52 on NEON; SLEEF u10 exp and expm1 for sin) are within 2 ULPs of the scalar libm kernels (sin's Tdot 2.5),
 * measured in ULPs of max(|value|, the size of the terms the formula adds) (tests/testutil.h). This
 * holds for k11, k22, k12 anywhere in the double range, k11 and k22 on unrelated scales: each map has
 * a fast range and a scale-free slow path (see "the maps at every scale" in the implementation); the
 * scalar kernel, the oracle, is itself exact to a few ULPs at every scale wherever the value is a
 * normal double (tests/test_nonlin.c). ENTK_NL_CUSTOM (polar
 * Gauss-Laguerre x Gauss-Legendre quadrature split at the kinks of phi at 0, see the implementation)
 * against the closed forms at variances <= 3, default order 64, error / max(1, |value|): relu, leaky
 * relu, gelu, sin <= 1e-13, erf 5e-10 (erf needs order >= 48 for 1e-8; relu 6). phi' is evaluated
 * where the variables are exactly 0 (zero variances): give ReLU-like phi' its mean value there. */
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
    int L, Lout;       /* s2lift: input and output band limits (0: from the input, = L); so3conv: L
                        (0: the band limit of the layer before) */
    int B;             /* s2lift, so3conv: band limit of the grid the next nonlinearity is evaluated
                        on (0: entk_so3_default_band(L)) */
} entk_layer;

typedef struct entk_arch {
    int n_layers;
    entk_layer layer[ENTK_MAX_LAYERS];
} entk_arch;

/* A layer with every field at its default (sw = 1, sb = 0, q = 3, pad = valid, n = 1, ...). */
ENTKDEF entk_layer entk_layer_default(entk_layer_kind kind);

/* The parser's name of a layer ("dense", "relu", "lift", ...); "custom" for ENTK_NL_CUSTOM, "?" if
 * unknown. */
ENTKDEF const char *entk_layer_name(const entk_layer *l);

/* Parse the grammar of docs/conventions.md §5.2: layers separated by spaces or commas, each `name` or `name(key=value,...)`.
 * On error returns ENTK_ERR_ARCH and writes a one-line message naming the offending token into err
 * (errlen bytes, may be 0). */
ENTKDEF entk_status entk_arch_parse(const char *text, entk_arch *arch, char *err, size_t errlen);

/* sizeof(entk_arch) in this build (it depends on ENTK_MAX_LAYERS): for foreign-function callers that
 * hold an architecture as opaque bytes (python/entk.py). */
ENTKDEF size_t entk_arch_sizeof(void);

/* The domain an architecture computes on, from its layers (docs/conventions.md §5.2): the most
 * specific one any layer belongs to. */
typedef enum entk_domain {
    ENTK_DOMAIN_MLP = 0,  /* dense and nonlinearities only: entk_mlp_kernel, inputs N x d */
    ENTK_DOMAIN_IMAGE,    /* an image layer (conv, lift, gconv, pools, gap, flatten): entk_cn.h */
    ENTK_DOMAIN_SO3,      /* an s2lift, so3conv or so3pool: entk_so3.h, inputs N x C x 2L x (2L - 1) */
    ENTK_DOMAIN_MOLECULE  /* ends with atomsum: entk_so3.h, inputs N x A x (an atom network's input) */
} entk_domain;

/* SO(3) band limits (entk_so3.h): every L, Lout and B is at most ENTK_SO3_MAX_BAND (the Wigner
 * recursion is checked to this degree). entk_so3_default_band(L) is the grid band limit B a layer
 * with coefficient band limit L gets when it names none (B=): chosen so that the pooled kernels of
 * the SO(3) networks entk_so3.h documents are within 1e-6 of their B -> infinity limit. */
#define ENTK_SO3_MAX_BAND 64
ENTKDEF int entk_so3_default_band(int L);

/* Which domain arch belongs to (*domain, may be NULL; set whenever arch is not NULL, also on error)
 * and whether that domain's kernel functions accept it: every rule entk_mlp_kernel, entk_cn_kernel,
 * entk_so3_kernel and entk_so3_molecule_kernel enforce, checked in the same order, except those that
 * need the input size (entk_cn_check_shape in entk_cn.h, entk_so3_check_shape and
 * entk_so3_molecule_check_shape in entk_so3.h add them). On error one line goes to err (errlen bytes,
 * may be 0) naming the first offending layer by its 1-based index and name, e.g. "layer 2 'gconv':
 * gconv must follow a lift"; on success err is "". Returns ENTK_OK; ENTK_ERR_ARCH for a broken rule
 * (docs/conventions.md §1.2, §1.4, §1.5); ENTK_ERR_UNSUPPORTED for a nonlinearity kind this build does
 * not know; ENTK_ERR_INVALID_ARG for NULL arch, n_layers outside 1..ENTK_MAX_LAYERS, or a custom
 * nonlinearity without phi or dphi or with an order outside 0..128. The kernel functions return the
 * same statuses; to them a layer of another domain is ENTK_ERR_ARCH. */
ENTKDEF entk_status entk_arch_check(const entk_arch *arch, entk_domain *domain, char *err, size_t errlen);

/* ============================================================================================== */
/* 5. MLP kernels                                                                                 */
/* ============================================================================================== */

/* NNGP and NTK Gram matrices of an MLP (dense and nonlinearity layers only; the first layer must be
 * dense). ENTK_ERR_RANGE (never OK with a non-finite output) when a kernel value leaves the double
 * range: an output or an input's diagonal at some layer (inputs beyond ~1e154, or sw large). x1 is n1 x d, x2 is n2 x d (row-major, contiguous); x2 == NULL means x2 = x1, and then only
 * the upper triangle is computed and mirrored. nngp (n1 x n2, leading dimension ldk) and ntk (ldt) may
 * each be NULL. threads > 1 uses OpenMP when compiled with it; results are identical to threads = 1. */
ENTKDEF entk_status entk_mlp_kernel(const entk_arch *arch, const double *x1, size_t n1,
                                    const double *x2, size_t n2, size_t d,
                                    double *nngp, size_t ldk, double *ntk, size_t ldt, int threads);

/* Per-input diagonals K(x, x) and Theta(x, x) for the n inputs of x (n x d); either output may be NULL.
 * ENTK_ERR_RANGE when a diagonal at some layer is not finite. */
ENTKDEF entk_status entk_mlp_diag(const entk_arch *arch, const double *x, size_t n, size_t d,
                                  double *nngp_diag, double *ntk_diag);

/* Propagate one pair's scalar state through layers[0..count) of dense and nonlinearity layers.
 * (k11, t11), (k22, t22): each input's own NNGP and NTK; (k12, t12): the pair's. Updated in place.
 * Used after global pooling by the image and SO(3) headers. ENTK_ERR_RANGE if a value entering any
 * layer or leaving the last is not finite. */
ENTKDEF entk_status entk_scalar_chain(const entk_layer *layers, int count,
                                      double *k11, double *t11, double *k22, double *t22,
                                      double *k12, double *t12);

/* ============================================================================================== */
/* 6. Linear algebra (Cholesky, triangular solves, symmetric eigensolver)                         */
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
 * Runs the blocked algorithm on the selected SIMD path (scalar, AVX2+FMA, AVX-512, NEON); paths differ
 * only in rounding, and the AVX-512 path (12 x 16 zmm micro-kernel) gives the AVX2 path's bits exactly.
 * Allocates O(ENTK_CHOL_NB * n) doubles of packing workspace. */
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

/* C += alpha op(A) op(B): C is m x n (ldc >= n), op(A) m x k and op(B) k x n, where op(X) is X
 * (trans 0) or X^T (trans 1); A is stored m x k (lda >= k) or, transposed, k x m (lda >= m), B
 * likewise k x n or n x k. Row-major; the packed GEMM of the Cholesky and the predictors, on the
 * selected SIMD path. For the block operations of a blocked factorisation whose matrix does not fit
 * in memory (the CLI's out-of-core solve, docs/conventions.md §3). m, n or k = 0 is a no-op. Inputs
 * are not scanned for NaN. ENTK_ERR_INVALID_ARG on NULL pointers, short leading dimensions or a
 * non-finite alpha. */
ENTKDEF entk_status entk_gemm(size_t m, size_t n, size_t k, double alpha, const double *a, size_t lda, int trans_a,
                              const double *b, size_t ldb, int trans_b, double *c, size_t ldc);

/* Symmetric eigendecomposition A = V diag(w) V^T. a is n x n (lda), only its lower triangle (j <= i)
 * is read and a is not modified. w (n) receives the eigenvalues in ascending order; v (n x n, ldv)
 * receives orthonormal eigenvectors as columns (v[i * ldv + j] = component i of eigenvector j), or
 * v may be NULL for eigenvalues only (then O(n^2) after the reduction). Householder tridiagonalisation
 * then implicit QL with Wilkinson shifts. Accuracy: ||A V - V diag(w)|| ~ n eps ||A||,
 * ||V^T V - I|| ~ n eps. ENTK_ERR_NONFINITE on NaN/Inf input, ENTK_ERR_NO_CONVERGENCE if an eigenvalue
 * needs more than 60 QL iterations (not observed on finite input). */
ENTKDEF entk_status entk_syev(size_t n, const double *a, size_t lda, double *w, double *v, size_t ldv);

/* ============================================================================================== */
/* 7. Kernel predictors (docs/conventions.md §3)                                                  */
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
/* Escalation always ends: at most 32 jittered tries, the 32nd (if reached) at jitter_max itself. The
 * t = inf Cholesky counts as failed, like a non-positive minor, when a pivot d has
 * d^2 <= n eps max|diagonal| (LAPACK dpstrf's rank rule): a singular matrix factored through rounding
 * would return noise amplified by 1/d^2. The factorisations run on the train matrix scaled by an exact
 * power of two, so no threshold depends on the kernel's absolute scale (1e-300 and 1e+300 alike). */

typedef struct entk_predict_opts {
    double diag_reg;          /* lambda >= 0 (default 0) */
    int diag_reg_absolute;    /* 0 (default): add lambda tr(K_train)/n to the diagonal; 1: add lambda */
    double t;                 /* training time >= 0; INFINITY (default) for t = infinity */
    double lr;                /* learning rate eta > 0 (default 1) */
    entk_jitter_policy jitter; /* default ENTK_JITTER_ESCALATE */
    double jitter_start;      /* first jitter, relative to the mean |diagonal| (default 1e-10); for a
                                 zero diagonal, to the largest |entry| (absolute for a zero matrix) */
    double jitter_max;        /* largest jitter tried, relative likewise (default 1e-2) */
} entk_predict_opts;

typedef struct entk_predict_info {
    double reg;            /* absolute value diag_reg added to the diagonal */
    double jitter;         /* absolute jitter added on top of reg (0: none was needed or, with
                              jitter_tries > 0, the escalation failed) */
    int jitter_tries;      /* jittered Cholesky attempts made (0: factored without jitter) */
    size_t not_pd_order;   /* order of the failing minor of the first failed Cholesky (0: none) */
    double min_eig;        /* finite t: smallest eigenvalue of the regularised train matrix */
    int used_eigen;        /* 1 if the eigendecomposition (finite t) was used, 0 for Cholesky */
    double jitter_rel;     /* jitter relative to the mean |diagonal|, as jitter_start (0: none);
                              never underflows, unlike jitter on a subnormal kernel */
    size_t null_eigs;      /* finite t: eigenvalues within n eps l_max of 0, treated as exactly 0 */
} entk_predict_info;

/* diag_reg 0 relative, t = INFINITY, lr 1, escalating jitter 1e-10 .. 1e-2. */
ENTKDEF entk_predict_opts entk_predict_opts_default(void);

/* Kernel-regression mean at time t (docs/conventions.md §3), with the kernel of `kern` (Theta: NTK gradient-descent
 * mean; K: the NNGP mean / readout-only training):
 *   t = inf:  mean = k(x, X) k_reg^-1 Y                              (Cholesky, jitter policy applies)
 *   t < inf:  mean = k(x, X) k_reg^-1 (I - exp(-lr k_reg t / (n k))) Y (eigendecomposition)
 * with k_reg = k(X, X) + reg I. y is n x k (ldy >= k), mean m x k (ldm >= k). Finite t: per eigenpair
 * (l, v) of k_reg the factor (1 - e^{-c l}) / l (expm1; c = lr t / (n k)), at most 1/l, its t = inf
 * value. Eigenvalues l <= n eps l_max (zero to rounding, or negative from rounding) are exactly 0: v is
 * then in the null space of k(X, X), where k(x, X) v = 0 for a PSD kernel, so the exact contribution is
 * 0 at every t (the limit c of the factor would multiply the rounding noise in k(x, X) v by t). Hence
 * on a singular kernel mu_t stays bounded for all t and tends to the pseudo-inverse solution
 * k(x, X) k(X, X)^+ Y; this is neural-tangents' choice too. info->null_eigs counts these eigenvalues.
 * An eigenvalue below -(jitter_max x mean |diagonal|) (escalating policy) or -n eps l_max (no jitter)
 * means k_reg is not PSD: ENTK_ERR_NOT_PD, as at t = inf. Any kernel scale works (the mean is
 * invariant: mu(s k) = mu(k) at t = inf for any s > 0, bit for bit for s a power of 4, and at finite
 * t with lr / s). opts and info may be NULL. NaN/Inf in any block read: ENTK_ERR_NONFINITE; a
 * non-finite result: ENTK_ERR_NONFINITE (nothing NaN or Inf is returned as success). */
ENTKDEF entk_status entk_predict_mean(const entk_kernels *kern, size_t k, const double *y, size_t ldy,
                                      const entk_predict_opts *opts, double *mean, size_t ldm,
                                      entk_predict_info *info);

/* NNGP posterior (Bayesian inference with the NNGP kernel K; at finite t the ensemble of networks with
 * only the readout trained, as neural-tangents' gradient_descent_mse_ensemble(get='nngp')):
 *   mean = K(x,X) K_reg^-1 (I - e^{-c K_reg}) Y,  cov = K(x,x') - K(x,X) K_reg^-1 (I - e^{-2c K_reg}) K(X,x')
 * with c = lr t / (n k) (t = inf: the exponentials vanish). Any of mean (m x k, ldm), var (m values,
 * the diagonal of cov, needs test_diag or test_test) and cov (m x m, ldc, needs test_test) may be NULL.
 * y may be NULL if mean is NULL (k still sets the time scale). Variances are clamped at 0 (rounding at
 * training points; an overflow to -inf is ENTK_ERR_NONFINITE); cov is returned as computed (symmetric
 * to rounding). Singular kernels, scaling and null eigenvalues as for entk_predict_mean. */
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

/* Regression targets in standard units (docs/conventions.md §3): per column j of the n x k targets y
 * (ldy >= k), mean[j] = the column mean and scale[j] = its standard deviation (population, 1/n),
 * or 1 where that is 0 (a constant column is only centred); out (n x k, ldo >= k; may be y) gets
 * (y - mean) / scale. A prediction mu in these units maps back to mean[j] + scale[j] mu, a variance
 * v to scale[j]^2 v. Computed without overflow for any finite targets (the deviations are scaled
 * by their largest magnitude before squaring). ENTK_ERR_NONFINITE for a NaN or infinite target,
 * ENTK_ERR_RANGE if a standard deviation exceeds DBL_MAX (targets near +-DBL_MAX of both signs),
 * ENTK_ERR_INVALID_ARG for NULL pointers, n or k = 0 or ld < k. */
ENTKDEF entk_status entk_targets_standardize(const double *y, size_t n, size_t k, size_t ldy, double *out, size_t ldo,
                                             double *mean, double *scale);

/* ============================================================================================== */
/* 8. .npy reader and writer (docs/conventions.md §5.4)                                           */
/* ============================================================================================== */

/* NumPy .npy files (format versions 1.0, 2.0, 3.0), the CLI's exchange format (docs/conventions.md §5).
 *
 * Reading accepts
 *   descr          '<f8' (float64), '<f4' (float32), '|u1' (uint8; also '<u1', '>u1', '=u1', 'u1'),
 *                  and the big-endian '>f8', '>f4', whose bytes are swapped. Everything else (other
 *                  integers, bool '|b1', float16, complex, strings, object, structured) is
 *                  ENTK_ERR_NPY_DTYPE. Values are converted to double exactly.
 *   fortran_order  True or False; Fortran-order data is transposed into C order.
 *   shape          a tuple of 0..ENTK_NPY_MAX_DIM non-negative decimal integers: () is a 0-d array
 *                  (one element), a zero dimension an empty array. A Python 2 'L' suffix is accepted
 *                  in version 1.0/2.0 headers, as NumPy does.
 * The header must be a Python dict literal with exactly the keys 'descr', 'fortran_order' and 'shape'
 * in any order: single or double quotes, any whitespace, optional trailing commas, no escapes inside
 * strings, nothing but whitespace after the closing brace. Its alignment is not checked. The data must
 * fill the rest of the file exactly: trailing bytes are rejected (NumPy never writes any), as are NaN
 * and Inf values (no entk computation accepts them).
 *
 * Statuses: ENTK_ERR_NPY_MAGIC (not "\x93NUMPY"), ENTK_ERR_NPY_HEADER (unknown version, malformed or
 * incomplete dict, bad shape tuple, negative dimension, trailing bytes after the data),
 * ENTK_ERR_NPY_DTYPE (unsupported descr, ndim > ENTK_NPY_MAX_DIM), ENTK_ERR_NPY_TRUNCATED (empty file,
 * or preamble, header or data shorter than announced), ENTK_ERR_OVERFLOW (a dimension, the element
 * count or the byte count does not fit size_t), ENTK_ERR_NONFINITE, ENTK_ERR_IO (cannot open or read),
 * ENTK_ERR_NOMEM, ENTK_ERR_INVALID_ARG (NULL pointers). Sizes are checked against the file length
 * before anything is allocated, so absurd shapes never cause a large allocation. */

#ifndef ENTK_NPY_MAX_DIM
#define ENTK_NPY_MAX_DIM 8 /* define identically before every include: it sizes entk_array */
#endif

typedef struct entk_array {
    double *data;                    /* size values, C order, from ENTK_MALLOC; never NULL after a read */
    int ndim;                        /* 0 .. ENTK_NPY_MAX_DIM */
    size_t shape[ENTK_NPY_MAX_DIM];  /* shape[ndim..] are 0 */
    size_t size;                     /* product of shape[0..ndim), 1 for ndim = 0 */
} entk_array;

/* Decode the .npy image buf[0..len) into *out. On failure *out is all zero (nothing to free) and err
 * (errlen bytes, may be NULL/0) holds a one-line message naming the problem, e.g.
 * "truncated: need 800 data bytes, have 17" or "value at flat index 2 (C index (0, 2)) is NaN". */
ENTKDEF entk_status entk_npy_read_mem(const void *buf, size_t len, entk_array *out, char *err,
                                      size_t errlen);

/* entk_npy_read_mem on the file at path, read with stdio only as far as it announces: the magic and
 * version first (anything else, e.g. /dev/zero, /dev/urandom or a pipe of garbage, is rejected after 8
 * bytes), then the header, then exactly the data bytes its shape needs plus one to detect trailing
 * bytes. Any stream works (pipes, FIFOs, devices); an endless stream is never read to exhaustion, and
 * memory grows only with the bytes actually read (at most twice), so an absurd announced size costs
 * nothing: ENTK_ERR_OVERFLOW if it does not fit size_t, else ENTK_ERR_NPY_TRUNCATED when the stream
 * ends (or ENTK_ERR_NOMEM if that much really arrives and does not fit). Statuses as for
 * entk_npy_read_mem on the whole file, plus ENTK_ERR_IO. */
ENTKDEF entk_status entk_npy_read_file(const char *path, entk_array *out, char *err, size_t errlen);

/* The header of a .npy image without its data, for files read piece by piece (positioned reads of a
 * Gram larger than memory): buf[0..len) holds at least the preamble and header (the first 64 KiB of a
 * file hold any header NumPy writes for up to ENTK_NPY_MAX_DIM axes). Fills ndim, shape, fortran_order,
 * the descr (type 'd' float64, 'f' float32, 'b' uint8; swap 1 for big-endian), itemsize, the element
 * count size, and data_offset, the byte where the data starts; the caller checks the file length
 * (data_offset + size * itemsize exactly). Statuses and messages as entk_npy_read_mem's for the
 * preamble and header; the data is neither read nor checked (NaN/Inf are the caller's to reject). */
typedef struct entk_npy_header {
    int ndim, fortran_order, type, swap;
    size_t shape[ENTK_NPY_MAX_DIM];
    size_t size, itemsize, data_offset;
} entk_npy_header;
ENTKDEF entk_status entk_npy_read_header(const void *buf, size_t len, entk_npy_header *out, char *err,
                                         size_t errlen);

/* Free out->data (via ENTK_FREE) and zero *out. a may be NULL; freeing twice is harmless. */
ENTKDEF void entk_array_free(entk_array *a);

/* Write data (C order, shape[0..ndim), ndim 0..ENTK_NPY_MAX_DIM; shape may be NULL when ndim = 0,
 * data may be NULL when the size is 0) as a version 1.0 '<f8' C-order .npy file, byte for byte as
 * NumPy 1.24's np.save writes it: header padded with spaces and '\n' so the data starts at a multiple
 * of 64 bytes. Little-endian on any host. NaN/Inf -> ENTK_ERR_NONFINITE before the file is opened;
 * on an I/O failure ENTK_ERR_IO is returned (errno tells why) and the file may be left incomplete. */
ENTKDEF entk_status entk_npy_write_file(const char *path, const double *data, int ndim,
                                        const size_t *shape);

/* The same bytes into memory. *len (required) receives the encoded size; buf == NULL only queries it;
 * cap < *len gives ENTK_ERR_INVALID_ARG and writes nothing. */
ENTKDEF entk_status entk_npy_write_mem(const double *data, int ndim, const size_t *shape, void *buf,
                                       size_t cap, size_t *len);

/* The header alone (magic, version, the dict and its padding) that entk_npy_write_file and
 * entk_npy_write_mem put before the data of an array of this shape: that header followed by the
 * product of shape[0..ndim) values, 8 bytes each, little-endian, C order, is their file byte for byte,
 * so a large array can be written piecewise (e.g. positioned writes into a file of the full size).
 * *len (required) receives the header size, a multiple of 64; buf == NULL only queries it; cap < *len
 * gives ENTK_ERR_INVALID_ARG and writes nothing. ENTK_ERR_OVERFLOW if the data bytes overflow size_t. */
ENTKDEF entk_status entk_npy_write_header(int ndim, const size_t *shape, void *buf, size_t cap, size_t *len);


#ifdef __cplusplus
}
#endif
#endif /* ENTK_H */

/* ============================================================================================== */
/* 9. Implementation (--- implementation ---)                                                     */
/* ============================================================================================== */
#if defined(ENTK_IMPLEMENTATION) && !defined(ENTK_IMPLEMENTATION_DONE)
#define ENTK_IMPLEMENTATION_DONE

#include <math.h>
#include <string.h>
#include <stdlib.h>
#include <float.h>
#include <limits.h>

#if defined(ENTK_MALLOC) && defined(ENTK_FREE)
#elif !defined(ENTK_MALLOC) && !defined(ENTK_FREE)
#define ENTK_MALLOC(sz) malloc(sz)
#define ENTK_FREE(p) free(p)
#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__)) && !defined(__cplusplus)
#define ENTK__HUGEPAGES 1 /* entk__alloc_work: malloc's large blocks are anonymous mappings */
int madvise(void *addr, size_t len, int advice); /* <sys/mman.h>, which a C99 build may not expose */
#endif
#else
#error "entk: define both ENTK_MALLOC and ENTK_FREE, or neither"
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- which vector paths are compiled ---- */
#if !defined(ENTK_NO_SIMD) && (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define ENTK__HAVE_AVX2 1
#define ENTK__HAVE_AVX512 1 /* compiled wherever AVX2 is (target attributes); run only if cpuid says so */
#include <immintrin.h>
#include <cpuid.h>
#else
#define ENTK__HAVE_AVX2 0
#define ENTK__HAVE_AVX512 0
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
#if defined(ENTK_VECTOR) && ENTK_VECTOR == 3 && !ENTK__HAVE_AVX512
#error "entk: ENTK_VECTOR=3 needs x86-64 (and not ENTK_NO_SIMD)"
#endif
#if defined(ENTK_VECTOR) && (ENTK_VECTOR < 0 || ENTK_VECTOR > 3)
#error "entk: ENTK_VECTOR must be 0 (scalar), 1 (AVX2), 2 (NEON) or 3 (AVX-512)"
#endif

/* SLEEF: sleef.h gives the version macros (and, on AArch64, the AdvSIMD prototypes). On x86 it declares
 * the AVX2 prototypes only under __AVX__, so the two vector functions used there
 * (Sleef_expd4_u10avx2, Sleef_expm1d4_u10avx2, the sin map) are re-declared in the AVX2 section with
 * the target attribute. sleef.h defines the macros CONST and IMPORT: entk never uses those
 * identifiers. */
#ifndef ENTK_NO_SLEEF
#include <sleef.h>
#endif

/* ============================================================================================== */
/* 9.0 Helpers and floating-point pinning                                                         */
/* ============================================================================================== */

#define ENTK__PI 3.14159265358979323846
#define ENTK__UNUSED(x) ((void)(x))
/* A private function that only the domain headers (entk_cn.h, ...) call: a TU that includes entk.h
 * alone must compile it without an unused-function warning. */
#if defined(__GNUC__) || defined(__clang__)
#define ENTK__FOR_DOMAINS static __attribute__((unused))
#else
#define ENTK__FOR_DOMAINS static
#endif

/* Floating-point contraction (a * b + c into one fma) is pinned off for the whole implementation, so
 * the promises of identical bits (across threads, across the fused and layer-by-layer sweeps, between
 * the SIMD paths' affine updates) hold whatever the user's flags: GCC contracts by default in its GNU
 * modes (-std=gnu99, no -std), and both compilers do under -ffp-contract=fast. The pragmas cover GCC
 * in every mode and clang up to -ffp-contract=on; clang's -ffp-contract=fast ignores pragmas by design,
 * so the kernels that promise identical bits also put ENTK__OPAQUE between their multiplies and adds.
 * Where entk wants a fused multiply-add it writes one (fma(), _mm256_fmadd_pd, vfmaq_f64).
 * ENTK__FP_BEGIN/END bracket each header's implementation. */
#if defined(__clang__)
#define ENTK__FP_BEGIN _Pragma("float_control(push)") _Pragma("clang fp contract(off)")
#define ENTK__FP_END _Pragma("float_control(pop)")
#elif defined(__GNUC__)
#define ENTK__FP_BEGIN _Pragma("GCC push_options") _Pragma("GCC optimize(\"fp-contract=off\")")
#define ENTK__FP_END _Pragma("GCC pop_options")
#else
#define ENTK__FP_BEGIN
#define ENTK__FP_END
#endif /* __clang__ / __GNUC__ */
/* A value the compiler must materialise in a register: no multiply before it and add after it can be
 * fused, under any flags. */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define ENTK__OPAQUE(v) __asm__("" : "+x"(v))
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
#define ENTK__OPAQUE(v) __asm__("" : "+w"(v))
#else
#define ENTK__OPAQUE(v) ((void)0)
#endif
ENTK__FP_BEGIN

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

/* entk__alloc_doubles for a per-thread workspace of the Gram drivers (tens of MB for image kernels).
 * On Linux (x86-64, AArch64; default allocator) a block of 4 MB or more is advised for transparent
 * huge pages (MADV_HUGEPAGE, 14 there): first touch of 4 KB pages costs about 10 us each on a virtual
 * machine, 100 ms for one 37 MB image workspace, as much as a whole pair of the 21-layer CNN, paid by
 * each thread of every Gram call; huge pages cost a few ms. Advice only: a refusal changes nothing. */
static entk_status entk__alloc_work(size_t count, double **p) {
    const entk_status st = entk__alloc_doubles(count, p);
#ifdef ENTK__HUGEPAGES
    if (!st && count >= ((size_t)1 << 19)) {
        const uintptr_t pg = 4096, a = ((uintptr_t)*p + pg - 1) & ~(pg - 1);
        const uintptr_t e = ((uintptr_t)*p + count * sizeof(double)) & ~(pg - 1);
        if (e > a) (void)madvise((void *)a, (size_t)(e - a), 14);
    }
#endif
    return st;
}

/* 1 if every x[i] is finite: x - x is 0 for finite x and NaN otherwise, so one branch-free pass.
 * The kernel drivers run it on their outputs and on each input's diagonals: by Cauchy-Schwarz
 * (|K(x, x')| <= sqrt(K(x, x) K(x', x')) at every layer, every map is a kernel) a pair value
 * overflows only where a diagonal does (up to rounding at DBL_MAX itself), and a non-finite NTK value
 * stays non-finite to the end (the maps only multiply it), so these checks see every overflow,
 * also one that a saturating map (erf) would hide in the NNGP. */
static int entk__finite(const double *x, size_t n) {
    double s = 0.0;
    size_t i;
    for (i = 0; i < n; ++i) s += x[i] - x[i];
    return s == 0.0;
}

/* ============================================================================================== */
/* 9.2 SIMD dispatch                                                                              */
/* ============================================================================================== */

/* Every vectorised kernel of the library is reached through one table per path (entk__kernels, filled
 * at compile time; the tables themselves are defined after the kernels, in 9.7). The current table is
 * chosen once, eagerly: by a constructor when the program starts (GCC, clang), else by the first call,
 * and published with an atomic store, so concurrent first calls are safe (they choose the same table).
 * Each entry point reads the table once and hands it down; a kernel call never re-reads it, so an
 * entk_simd_set during a call cannot mix paths within that call. */
typedef void (*entk__map_fn)(size_t n, const double *k11, size_t inc11, const double *k22, size_t inc22,
                             const double *k12, const double *th, double *t, double *tho,
                             const entk_nonlin *f);
/* Dot products of up to 4 rows a (leading dimension lda) with each of the m rows of b (ldb):
 * out[r * ldo + j] = a_r . b_j. */
typedef void (*entk__dots_fn)(int rows, const double *a, size_t lda, const double *b, size_t ldb,
                              size_t m, size_t d, double *out, size_t ldo);
/* c[0..mr)[0..nr) += sum_p ap[p * mr + i] * bp[p * nr + j]; bp is 64-byte aligned. */
typedef void (*entk__ukernel_fn)(size_t kc, const double *ap, const double *bp, double *c, size_t ldc);
/* Transposing pack (optional, NULL: the generic loops): rows x kc elements src[r * ld + p] (rows
 * contiguous) into panels of w rows, dst[panel][p * w + r] = sign * src, zero rows padding the last
 * panel; w is the path's MR or NR. The same values as the generic pack, faster. */
typedef void (*entk__pack_fn)(size_t rows, size_t kc, const double *src, size_t ld, int w, double sign,
                              double *dst);
typedef struct entk__ukernel {
    int mr, nr;
    entk__ukernel_fn fn;
    entk__pack_fn pack_t;
} entk__ukernel;
/* Level-1 row operations of the Householder reduction and of Q's accumulation (memory-bound, so one
 * vector pass each): dot, axpy, and the symmetric rank-2 row update s -= a p + b x. */
typedef struct entk__vops {
    double (*dot)(const double *x, const double *y, size_t n);
    void (*axpy)(double *y, double alpha, const double *x, size_t n);
    void (*rank2)(double *s, double a, const double *p, double b, const double *x, size_t n);
} entk__vops;
/* Rotate rows: (x, y) <- (c x - s y, s x + c y). */
typedef void (*entk__rot_fn)(size_t n, double *x, double *y, double c, double s);

typedef struct entk__kernels {
    entk_simd path;
    entk__map_fn map[ENTK_NL_CUSTOM + 1]; /* by entk_nonlin_kind */
    /* k = cw k + b2, t = k + cw t (t may be NULL): the affine update of every layer with weights */
    void (*affine)(double *k, double *t, size_t n, double cw, double b2);
    /* row kernels: o = r0 + r1 + r2; o += r; dst = src with non-temporal stores where the path has
     * them (then fence() before the data is read by another thread), else a copy */
    void (*sum3)(const double *r0, const double *r1, const double *r2, double *o, size_t n);
    void (*addto)(const double *r, double *o, size_t n);
    void (*stream)(const double *src, double *dst, size_t n);
    void (*fence)(void);
    entk__dots_fn dots;
    entk__ukernel uk;
    entk__vops vo;
    entk__rot_fn rot;
    /* 4-row TRSM leaf for n % 4 == 0, n <= 16: returns the first row left to the scalar leaf; NULL:
     * none on this path */
    size_t (*trsm4)(size_t m, size_t n, const double *l, size_t ldl, double *x, size_t ldx);
    /* y[i ldy + j] += sum_p a[i ars + p acs] x[p ldx + j]: m linear combinations of k rows of length n
     * (the azimuthal DFTs of entk_so3.h); the same bits on every path */
    void (*lincomb)(size_t m, size_t k, const double *a, size_t ars, size_t acs, const double *x, size_t ldx,
                    double *y, size_t ldy, size_t n);
} entk__kernels;

static const entk__kernels *entk__kt_table(entk_simd path); /* 9.7; NULL if not compiled */
static const entk__kernels *entk__kt_cur = NULL;

#if defined(__GNUC__) || defined(__clang__)
#define ENTK__KT_LOAD() __atomic_load_n(&entk__kt_cur, __ATOMIC_ACQUIRE)
#define ENTK__KT_STORE(v) __atomic_store_n(&entk__kt_cur, (v), __ATOMIC_RELEASE)
#else
#define ENTK__KT_LOAD() entk__kt_cur
#define ENTK__KT_STORE(v) (entk__kt_cur = (v))
#endif

static int entk__cpu_has_avx2(void) {
#if ENTK__HAVE_AVX2
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* AVX-512F, DQ and VL in cpuid (leaf 7, EBX bits 16, 17, 31), AVX2+FMA (the AVX-512 table keeps some
 * AVX2 kernels), and the OS saving the ZMM state: OSXSAVE (leaf 1, ECX bit 27), then XCR0 bits 1-2 (XMM,
 * YMM) and 5-7 (opmask, ZMM0-15 upper halves, ZMM16-31). A CPU with the instructions under an OS that
 * does not enable their state would fault on the first zmm instruction. */
static int entk__cpu_has_avx512(void) {
#if ENTK__HAVE_AVX512
    unsigned a, b, c, d, lo, hi;
    if (!entk__cpu_has_avx2()) return 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0u));
    ENTK__UNUSED(hi);
    if ((lo & 0xe6u) != 0xe6u) return 0;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 31));
#else
    return 0;
#endif
}

/* ENTK_VECTOR is taken as given, as for every forced path: a program built with ENTK_VECTOR=1 (or 3)
 * runs the AVX2 (AVX-512) kernels without asking the CPU and dies of an illegal instruction on one that
 * lacks them. entk_simd_set does ask, and refuses such a path. */
static entk_simd entk__best_path(void) {
#if defined(ENTK_VECTOR)
    return (entk_simd)ENTK_VECTOR;
#elif ENTK__HAVE_NEON
    return ENTK_SIMD_NEON;
#else
    return entk__cpu_has_avx512() ? ENTK_SIMD_AVX512 : entk__cpu_has_avx2() ? ENTK_SIMD_AVX2 : ENTK_SIMD_SCALAR;
#endif
}

/* The current table. Idempotent: threads that race here all store the same pointer. */
static const entk__kernels *entk__kt(void) {
    const entk__kernels *k = ENTK__KT_LOAD();
    if (!k) {
        k = entk__kt_table(entk__best_path());
        ENTK__KT_STORE(k);
    }
    return k;
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((constructor)) static void entk__kt_init(void) { (void)entk__kt(); }
#endif

ENTKDEF entk_simd entk_simd_path(void) { return entk__kt()->path; }

ENTKDEF entk_status entk_simd_set(entk_simd path) {
    const entk__kernels *k;
    switch (path) {
    case ENTK_SIMD_SCALAR: break;
    case ENTK_SIMD_AVX2: if (!entk__cpu_has_avx2()) return ENTK_ERR_UNSUPPORTED; break;
    case ENTK_SIMD_NEON: if (!ENTK__HAVE_NEON) return ENTK_ERR_UNSUPPORTED; break;
    case ENTK_SIMD_AVX512: if (!entk__cpu_has_avx512()) return ENTK_ERR_UNSUPPORTED; break;
    default: return ENTK_ERR_INVALID_ARG;
    }
    if (!(k = entk__kt_table(path))) return ENTK_ERR_UNSUPPORTED;
    ENTK__KT_STORE(k);
    return ENTK_OK;
}

ENTKDEF const char *entk_simd_name(void) {
    switch (entk_simd_path()) {
#ifdef ENTK_NO_SLEEF
    case ENTK_SIMD_AVX2: return "avx2 (no SLEEF: sin scalar)";
    case ENTK_SIMD_AVX512: return "avx512 (no SLEEF: sin scalar)";
    case ENTK_SIMD_NEON: return "neon (no SLEEF: sin scalar)";
#else
    case ENTK_SIMD_AVX2: return "avx2+sleef";
    case ENTK_SIMD_AVX512: return "avx512+sleef";
    case ENTK_SIMD_NEON: return "neon+sleef";
#endif
    default: return "scalar";
    }
}

#define ENTK__STR2(x) #x
#define ENTK__STR(x) ENTK__STR2(x)

ENTKDEF const char *entk_version(void) { return ENTK_VERSION_STRING; }

ENTKDEF const char *entk_sleef_version(void) {
#ifdef ENTK_NO_SLEEF
    return "none";
#else
    return ENTK__STR(SLEEF_VERSION_MAJOR) "." ENTK__STR(SLEEF_VERSION_MINOR) "." ENTK__STR(SLEEF_VERSION_PATCHLEVEL);
#endif
}

static entk_progress_fn entk__progress_fn = NULL;
static void *entk__progress_user = NULL;

ENTKDEF void entk_set_progress(entk_progress_fn fn, void *user) {
    entk__progress_fn = fn;
    entk__progress_user = user;
}

/* Count `inc` finished rows into *done (shared between threads) and report. Thread 0 reports as it
 * goes (one thread keeps the line moving without contention); the thread whose increment reaches
 * total always reports, so done == total is never lost whichever thread finishes last. Reports happen
 * under one critical section, so fn is never called concurrently, and each reads *done afresh inside
 * it: the values fn sees never decrease. A report of total comes only from the finishing thread
 * (thread 0 seeing the count at total stays silent), so total is reported exactly once. */
static void entk__progress_tick(size_t *done, size_t inc, size_t total) {
    size_t now;
    if (!entk__progress_fn) return;
#ifdef _OPENMP
#pragma omp atomic capture
#endif
    now = *done += inc;
#ifdef _OPENMP
    if (now != total && omp_get_thread_num() != 0) return;
#pragma omp critical(entk__progress)
    {
        size_t seen;
#pragma omp atomic read
        seen = *done;
        if (now == total || seen != total) entk__progress_fn(entk__progress_user, seen, total);
    }
#else
    entk__progress_fn(entk__progress_user, now, total);
#endif /* _OPENMP */
}

/* ============================================================================================== */
/* 9.3 Nonlinearity maps: scalar oracle                                                           */
/* ============================================================================================== */

/* ---- the maps at every scale ----
 * The closed forms multiply variances (k11 k22, k12^2), which overflows beyond ~1e154 and loses bits
 * to subnormals below ~1e-154. Each map therefore has a fast range, tested with a couple of compares
 * per element (per vector block on the SIMD paths, which send a block with any lane outside it to the
 * scalar kernel), and a scale-free wide path for the rest:
 *  relu, leaky relu: the fast formula is exact while p = k11 k22 is a normal double that c^2 ~ p cannot
 *    overflow (p in [2^-1022, 2^1023]; taken as [2^-1000, 2^1000], which also keeps entk's atan2 on its
 *    fast range), or a variance is exactly 0 (then k12 = 0 and nothing is multiplied out of range).
 *    Wide: T is homogeneous, T(l^2 k11, m^2 k22, l m k12) = l m T(k11, k22, k12) and Tdot of degree 0
 *    (phi(l u) = l phi(u) for l > 0), so k11 and k22 are scaled by powers of two 2^-2i, 2^-2j into
 *    [1, 4) each (exact) and k12 by 2^-(i+j), the fast formula runs, and T is scaled back by 2^(i+j).
 *  erf, gelu: the additive 1 keeps every radicand >= 1, so small and mixed scales are exact in the fast
 *    formula; only overflow limits it: fast while k11, k22 <= 2^1000 and k11 k22 <= 2^1000. Not
 *    homogeneous, so wide evaluates the same regrouped radicand (erf: 1 + 2(k11+k22) + 4 R, gelu:
 *    1 + k11 + k22 + R, R = max(k11 k22 - k12^2, 0)) in scaled form: R = r 2^(2(i+j)) with r from the
 *    per-variance scaling above (so R keeps full precision at any scale), then every term is scaled
 *    by one power of two 2^-2F that brings the largest into [1, 4) (the others may underflow: they are
 *    below 2^-1000 of the sum), so sqrt(radicand) = sqrt(S) 2^F. Every later term is arranged so that
 *    no intermediate leaves the double range (atan2(2 k12 2^-F, sqrt S), k11/(1+k11), k12/(1+k11), 1/q
 *    as 2^-F / sqrt S, ...).
 *  sin: one formula, no range test. With c = |k12|, m = (k11 + k22)/2 (halves added: no overflow):
 *    T = sign(k12) e^{c-m} (1 - e^{-2c}) / 2, Tdot = e^{c-m} (1 + e^{-2c}) / 2, the factor 1 - e^{-2c}
 *    as -expm1(-2c). The old 0.5 (e^{c-m} - e^{-c-m}) cancelled to 0 for tiny k12 (exp(c-m) =
 *    exp(-c-m) = 1 at c, m ~ 1e-300, T ~ c); this form is relatively exact there, and e^{c-m} <= 1.
 *  identity is exact everywhere; the quadrature map (ENTK_NL_CUSTOM) evaluates the user's phi at
 *    points ~ sqrt(variance) and can overflow for huge variances (the kernel drivers then return
 *    ENTK_ERR_RANGE). */
#define ENTK__RELU_LO 0x1p-1000 /* fast range of k11 k22 for relu and leaky relu */
#define ENTK__RELU_HI 0x1p1000
#define ENTK__SMOOTH_HI 0x1p1000 /* erf, gelu: fast while k11, k22 and k11 k22 are at most this */

/* floor(log2 x) for finite x > 0; a large negative sentinel for 0 (and anything else), so a zero term
 * never decides a scale */
static int entk__expo(double x) { return (x > 0.0 && x <= DBL_MAX) ? ilogb(x) : -4096; }
/* i with x 2^-2i in [1, 4) for finite x > 0, else 0 (zero variances keep scale 1) */
static int entk__half_expo(double x) {
    int e;
    if (!(x > 0.0 && x <= DBL_MAX)) return 0;
    e = ilogb(x);
    return e >= 0 ? e / 2 : -((1 - e) / 2);
}
static int entk__finite3(double a, double b, double c) {
    return fabs(a) <= DBL_MAX && fabs(b) <= DBL_MAX && fabs(c) <= DBL_MAX;
}
/* k11 k22 - k12^2 = r 2^(2 (*e)) exactly scaled: k11, k22 into [1, 4) by powers of two (clamped at 0) */
static double entk__wide_rad(double a, double b, double c, int *e) {
    const int i = entk__half_expo(a), j = entk__half_expo(b);
    const double a2 = ldexp(a, -2 * i), b2 = ldexp(b, -2 * j), c2 = ldexp(c, -(i + j));
    *e = i + j;
    return fmax(a2 * b2 - c2 * c2, 0.0);
}

/* All map kernels share the signature entk__map_fn (9.2); the ISA variants differ only by suffix. */

/* ReLU at one point, fast formula. Clamp k12 into [-sqrt(k11 k22), sqrt(k11 k22)] implicitly:
 * s = sqrt(max(k11 k22 - k12^2, 0)). */
static void entk__relu_pt_scalar(double a, double b, double c, double *t, double *d) {
    double s = sqrt(fmax(a * b - c * c, 0.0));
    double ang = (s == 0.0 && c == 0.0) ? 0.5 * ENTK__PI : atan2(s, c);
    double pt = ENTK__PI - ang;
    *t = (s + pt * c) * (0.5 / ENTK__PI);
    *d = pt * (0.5 / ENTK__PI);
}
static int entk__relu_ok_scalar(double a, double b) {
    const double p = a * b;
    return (p >= ENTK__RELU_LO && p <= ENTK__RELU_HI) || a == 0.0 || b == 0.0;
}
/* wide path of relu (and, with w, leaky relu): homogeneity, see above; NaN for non-finite inputs */
static void entk__relu_wide_scalar(double a, double b, double c, double *t, double *d,
                                   void (*pt)(double, double, double, double *, double *, double),
                                   double al) {
    const int i = entk__half_expo(a), j = entk__half_expo(b);
    if (!entk__finite3(a, b, c)) { *t = *d = NAN; return; }
    pt(ldexp(a, -2 * i), ldexp(b, -2 * j), ldexp(c, -(i + j)), t, d, al);
    *t = ldexp(*t, i + j);
}
static void entk__relu_pt2_scalar(double a, double b, double c, double *t, double *d, double al) {
    ENTK__UNUSED(al);
    entk__relu_pt_scalar(a, b, c, t, d);
}

static void entk__relu_map_scalar(size_t n, const double *k11, size_t inc11, const double *k22,
                                  size_t inc22, const double *k12, const double *th, double *t,
                                  double *tho, const entk_nonlin *f) {
    size_t i;
    ENTK__UNUSED(f);
    for (i = 0; i < n; ++i) {
        double a = k11[i * inc11], b = k22[i * inc22], c = k12[i], tv, dv;
        if (entk__relu_ok_scalar(a, b)) entk__relu_pt_scalar(a, b, c, &tv, &dv);
        else entk__relu_wide_scalar(a, b, c, &tv, &dv, entk__relu_pt2_scalar, 0.0);
        t[i] = tv;
        if (tho) tho[i] = dv * th[i];
    }
}

/* erf at one point, fast formula: (1 + 2a)(1 + 2b) - 4c^2 regrouped, so s >= 1 even when the product
 * rounds like 4c^2 */
static void entk__erf_pt_scalar(double a, double b, double c, double *t, double *d) {
    double s = sqrt((1.0 + 2.0 * (a + b)) + 4.0 * fmax(a * b - c * c, 0.0));
    *t = (2.0 / ENTK__PI) * atan2(2.0 * c, s);
    *d = (4.0 / ENTK__PI) / s;
}
static int entk__smooth_ok_scalar(double a, double b) {
    return fmax(a, b) <= ENTK__SMOOTH_HI && a * b <= ENTK__SMOOTH_HI;
}
/* the wide path of erf: s = sqrt(S) 2^F with S the radicand scaled by 2^-2F (see above) */
static void entk__erf_wide_scalar(double a, double b, double c, double *t, double *d) {
    int e, m, F;
    double r, S, q;
    if (!entk__finite3(a, b, c)) { *t = *d = NAN; return; }
    r = entk__wide_rad(a, b, c, &e);
    m = 0;                                      /* the largest binary exponent among the terms */
    if (entk__expo(a) + 1 > m) m = entk__expo(a) + 1;
    if (entk__expo(b) + 1 > m) m = entk__expo(b) + 1;
    if (r > 0.0 && entk__expo(r) + 2 * e + 2 > m) m = entk__expo(r) + 2 * e + 2;
    F = m / 2;
    S = (ldexp(1.0, -2 * F) + 2.0 * (ldexp(a, -2 * F) + ldexp(b, -2 * F))) + 4.0 * ldexp(r, 2 * e - 2 * F);
    q = sqrt(S);
    *t = (2.0 / ENTK__PI) * atan2(2.0 * ldexp(c, -F), q);
    *d = ldexp((4.0 / ENTK__PI) / q, -F);
}

static void entk__erf_map_scalar(size_t n, const double *k11, size_t inc11, const double *k22,
                                 size_t inc22, const double *k12, const double *th, double *t,
                                 double *tho, const entk_nonlin *f) {
    size_t i;
    ENTK__UNUSED(f);
    for (i = 0; i < n; ++i) {
        double a = k11[i * inc11], b = k22[i * inc22], c = k12[i], tv, dv;
        double thv = tho ? th[i] : 0.0;
        if (entk__smooth_ok_scalar(a, b)) entk__erf_pt_scalar(a, b, c, &tv, &dv);
        else entk__erf_wide_scalar(a, b, c, &tv, &dv);
        t[i] = tv;
        if (tho) tho[i] = dv * thv;
    }
}

/* phi = x for x >= 0, a x below: T = [(1-a)^2 s + ((1+a^2)(pi - ang) + 2 a ang) k12] / (2 pi),
 * Tdot = ((1+a^2)(pi - ang) + 2 a ang) / (2 pi), with s, ang as for ReLU. */
static void entk__leaky_pt_scalar(double a, double b, double c, double *t, double *d, double al) {
    const double sq = (1.0 - al) * (1.0 - al), pp = 1.0 + al * al, cr = 2.0 * al;
    double s = sqrt(fmax(a * b - c * c, 0.0));
    double ang = (s == 0.0 && c == 0.0) ? 0.5 * ENTK__PI : atan2(s, c);
    double w = pp * (ENTK__PI - ang) + cr * ang;
    *t = (sq * s + w * c) * (0.5 / ENTK__PI);
    *d = w * (0.5 / ENTK__PI);
}
static void entk__leaky_map_scalar(size_t n, const double *k11, size_t inc11, const double *k22,
                                   size_t inc22, const double *k12, const double *th, double *t,
                                   double *tho, const entk_nonlin *f) {
    size_t i;
    for (i = 0; i < n; ++i) {
        double a = k11[i * inc11], b = k22[i * inc22], c = k12[i], tv, dv;
        if (entk__relu_ok_scalar(a, b)) entk__leaky_pt_scalar(a, b, c, &tv, &dv, f->a);
        else entk__relu_wide_scalar(a, b, c, &tv, &dv, entk__leaky_pt_scalar, f->a);
        t[i] = tv;
        if (tho) tho[i] = dv * th[i];
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

/* E[sin u sin v] = e^{-m} sinh(k12), E[cos u cos v] = e^{-m} cosh(k12), m = (k11 + k22)/2, as
 * sign(k12) e^{c-m} x / 2 and e^{c-m} (2 - x) / 2 with c = |k12|, x = 1 - e^{-2c} = -expm1(-2c): exponents
 * <= 0 (c <= m), no cancellation at any scale (see "the maps at every scale"). */
static void entk__sin_map_scalar(size_t n, const double *k11, size_t inc11, const double *k22,
                                 size_t inc22, const double *k12, const double *th, double *t,
                                 double *tho, const entk_nonlin *f) {
    size_t i;
    ENTK__UNUSED(f);
    for (i = 0; i < n; ++i) {
        double m = 0.5 * k11[i * inc11] + 0.5 * k22[i * inc22], c = k12[i], ac = fabs(c);
        double e = exp(ac - m), x = -expm1(-2.0 * ac), h = 0.5 * e;
        t[i] = copysign(h * x, c);
        if (tho) tho[i] = h * (2.0 - x) * th[i];
    }
}

/* ============================================================================================== */
/* 9.3.1 gelu, and custom phi by polar Gauss-Laguerre x Gauss-Legendre quadrature (scalar)        */
/* ============================================================================================== */

/* GELU, phi(x) = x Phi(x). With R2 = (1+k11)(1+k22) and D = R2 - k12^2 (= 1 + k11 + k22 + s^2 after the
 * usual clamp s^2 = max(k11 k22 - k12^2, 0), so D >= 1 and nothing below divides by zero):
 *   Tdot = 1/4 + asin(k12/R)/(2 pi) + k12 (1/(1+k11) + 1/(1+k22)) / (2 pi sqrt D) + k12 / (2 pi D^{3/2})
 *   T    = k12/4 + [k12 asin(k12/R) + k11 k22 sqrt(D) / R2 + k12^2 / (R2 sqrt D)] / (2 pi)
 * Derived here: each of the four terms of E[(Phi(u) + u N(u))(Phi(v) + v N(v))] is an orthant
 * probability or a Gaussian integral against N(u) or N(u) N(v) (N the standard normal density), which
 * only rescales the covariance; T is the antiderivative of Tdot in k12 (Price's theorem) whose value at
 * k12 = 0, E[phi(u)] E[phi(v)] = k11 k22 / (2 pi R), fixes the constant. asin(k12/R) = atan2(k12, sqrt D).
 * The fast form groups products as k11 (1/(1+k11)) etc.; beyond its range the wide path below. */
static void entk__gelu_pt_scalar(double a, double b, double c, double *t, double *d) {
    double dd = (1.0 + a + b) + fmax(a * b - c * c, 0.0);
    double q = sqrt(dd), ang = atan2(c, q);
    double ia = 1.0 / (1.0 + a), ib = 1.0 / (1.0 + b);
    *t = 0.25 * c + (0.5 / ENTK__PI) * (c * ang + (a * ia) * (b * ib) * q + (c * c) * (ia * ib) / q);
    *d = 0.25 + (0.5 / ENTK__PI) * (ang + c * (ia + ib) / q + (c / dd) / q);
}
/* The wide path (see "the maps at every scale"): q = sqrt(D) 2^F, D = dd 2^-2F in [1, 8); the terms
 * regrouped so that none overflows: k11/(1+k11) <= 1, k12/(1+k11) <= sqrt(k22)/2, k12 2^-F / sqrt(D)
 * inside atan2, 1/q = 2^-F / sqrt(D), q/(2 pi) as (sqrt(D)/(2 pi)) 2^F (at most 0.45 2^1023). */
static void entk__gelu_wide_scalar(double a, double b, double c, double *t, double *d) {
    const double k = 0.5 / ENTK__PI;
    int e, m, F;
    double r, D, qs, ang, A, B, ca, cb, iq;
    if (!entk__finite3(a, b, c)) { *t = *d = NAN; return; }
    r = entk__wide_rad(a, b, c, &e);
    m = 0;
    if (entk__expo(a) > m) m = entk__expo(a);
    if (entk__expo(b) > m) m = entk__expo(b);
    if (r > 0.0 && entk__expo(r) + 2 * e > m) m = entk__expo(r) + 2 * e;
    F = m / 2;
    D = ((ldexp(1.0, -2 * F) + ldexp(a, -2 * F)) + ldexp(b, -2 * F)) + ldexp(r, 2 * e - 2 * F);
    qs = sqrt(D);
    ang = atan2(ldexp(c, -F), qs);
    A = a / (1.0 + a);
    B = b / (1.0 + b);
    ca = c / (1.0 + a);
    cb = c / (1.0 + b);
    iq = ldexp(1.0 / qs, -F);
    *t = 0.25 * c + (c * (k * ang) + (A * B) * ldexp(k * qs, F) + (ca * cb) * (k * iq));
    *d = 0.25 + k * (ang + (ca + cb) * iq + ((c * iq) * iq) * iq);
}
static void entk__gelu_map_scalar(size_t n, const double *k11, size_t inc11, const double *k22,
                                  size_t inc22, const double *k12, const double *th, double *t,
                                  double *tho, const entk_nonlin *f) {
    size_t i;
    ENTK__UNUSED(f);
    for (i = 0; i < n; ++i) {
        double a = k11[i * inc11], b = k22[i * inc22], c = k12[i], tv, dv;
        double thv = tho ? th[i] : 0.0;
        if (entk__smooth_ok_scalar(a, b)) entk__gelu_pt_scalar(a, b, c, &tv, &dv);
        else entk__gelu_wide_scalar(a, b, c, &tv, &dv);
        t[i] = tv;
        if (tho) tho[i] = dv * thv;
    }
}

/* ---- ENTK_NL_CUSTOM: numerical T and Tdot for any phi ----
 * Plain 2-D Gauss-Hermite converges only algebraically when phi or phi' has a kink or a jump (ReLU's
 * phi' is a step; measured for ReLU at (1, 1.5, 0.4): T off by 1e-3 and Tdot by 6e-3 at 128 x 128
 * points), so the Gaussian integral is taken in polar coordinates of the whitened variables
 * (z1, z2), (u, v) = L z with L the Cholesky factor of [[k11, k12], [k12, k22]]:
 *   E[g(u, v)] = 1/(2 pi) int_0^pi dpsi int_0^inf dt e^{-t} [g(r a, r b) + g(-r a, -r b)],
 *   r = sqrt(2 t), a = L11 cos psi, b = L21 cos psi + L22 sin psi.
 * The angular range is split where a = 0 or b = 0, so on each piece u and v keep their signs along
 * every ray and a phi that is smooth away from 0 gives a smooth integrand: Gauss-Legendre in psi per
 * piece, Gauss-Laguerre in t (the two rays make the radial integrand even in r, a smooth function of t).
 * ReLU and leaky ReLU are then integrated exactly in t and to rounding in psi. Nodes come from Newton
 * iteration on the three-term recurrences with asymptotic first guesses, computed once per call.
 * Measured against the closed forms (variances <= 3, tests/test_nonlin.c), error / max(1, |value|):
 * order 64 (default): relu, leaky relu, gelu, sin <= 1e-13, erf 5e-10; order 48: erf 5e-9; relu:
 * 2e-8 at order 5, 1e-10 at 6, 1e-15 at 8. Rounding in the Laguerre weights limits it to ~1e-13
 * (5e-13 at order 128).
 * Cost: up to 3 m^2 rays x 8 calls of phi/phi' per entry (m = order). */
#define ENTK__QUAD_DEFAULT 64
#define ENTK__QUAD_MAX 128

static void entk__gauss_legendre(int n, double *x, double *w) {
    int i, j, it, m = (n + 1) / 2;
    for (i = 0; i < m; ++i) {
        double z = cos(ENTK__PI * (i + 0.75) / (n + 0.5)), pp = 1.0;
        for (it = 0; it < 100; ++it) {
            double p1 = 1.0, p2 = 0.0, p3, dz;
            for (j = 1; j <= n; ++j) {
                p3 = p2; p2 = p1;
                p1 = ((2.0 * j - 1.0) * z * p2 - (j - 1.0) * p3) / j;
            }
            pp = n * (z * p1 - p2) / (z * z - 1.0);
            dz = p1 / pp;
            z -= dz;
            if (fabs(dz) <= 1e-16) break;
        }
        x[i] = -z; x[n - 1 - i] = z;
        w[i] = w[n - 1 - i] = 2.0 / ((1.0 - z * z) * pp * pp);
    }
}

/* weight e^{-t} on [0, inf) */
static void entk__gauss_laguerre(int n, double *x, double *w) {
    int i, j, it;
    double z = 0.0;
    for (i = 0; i < n; ++i) {
        double p1 = 1.0, p2 = 0.0, pp = 1.0;
        if (i == 0) z = 3.0 / (1.0 + 2.4 * n);
        else if (i == 1) z += 15.0 / (1.0 + 2.5 * n);
        else z += (1.0 + 2.55 * (i - 1)) / (1.9 * (i - 1)) * (z - x[i - 2]);
        for (it = 0; it < 100; ++it) {
            double p3, dz;
            p1 = 1.0; p2 = 0.0;
            for (j = 1; j <= n; ++j) {
                p3 = p2; p2 = p1;
                p1 = ((2.0 * j - 1.0 - z) * p2 - (j - 1.0) * p3) / j;
            }
            pp = n * (p1 - p2) / z;
            dz = p1 / pp;
            z -= dz;
            if (fabs(dz) <= 1e-15 * z) break;
        }
        x[i] = z;
        w[i] = -1.0 / (pp * n * p2);
    }
}

static void entk__custom_map_scalar(size_t n, const double *k11, size_t inc11, const double *k22,
                                    size_t inc22, const double *k12, const double *th, double *t,
                                    double *tho, const entk_nonlin *f) {
    double gx[ENTK__QUAD_MAX], gw[ENTK__QUAD_MAX], lx[ENTK__QUAD_MAX], lw[ENTK__QUAD_MAX];
    const int m = f->order > 0 ? (f->order < ENTK__QUAD_MAX ? f->order : ENTK__QUAD_MAX) : ENTK__QUAD_DEFAULT;
    size_t i;
    int k;
    entk__gauss_legendre(m, gx, gw);
    entk__gauss_laguerre(m, lx, lw);
    { /* the weights sum to 2 and 1 exactly; rescaling removes their ~1e-13 rounding at high order,
       * so constants (zero variances) come out to rounding */
        double sg = 0.0, sl = 0.0;
        for (k = 0; k < m; ++k) { sg += gw[k]; sl += lw[k]; }
        for (k = 0; k < m; ++k) { gw[k] *= 2.0 / sg; lw[k] /= sl; lx[k] = sqrt(2.0 * lx[k]); }
    }
    for (i = 0; i < n; ++i) {
        double a = k11[i * inc11], b = k22[i * inc22], c = k12[i];
        double l11 = sqrt(a), l21 = 0.0, l22 = sqrt(b);
        double br[4], sk = 0.0, sd = 0.0;
        int nb = 0, p, g, q;
        if (a > 0.0) {
            l21 = c / l11;
            l22 = sqrt(fmax(b - l21 * l21, 0.0));
        }
        /* breakpoints in [0, pi]: a = 0 at pi/2, b = 0 where (cos, sin) is orthogonal to (L21, L22) */
        br[nb++] = 0.0;
        if (l11 > 0.0) br[nb++] = 0.5 * ENTK__PI;
        if (l21 != 0.0 || l22 != 0.0) {
            double pv = atan2(l21, -l22);
            if (pv < 0.0) pv += ENTK__PI;
            if (pv > 0.0 && pv < ENTK__PI) {
                if (nb == 2 && pv < br[1]) { br[2] = br[1]; br[1] = pv; ++nb; }
                else if (nb < 2 || pv != br[1]) br[nb++] = pv;
            }
        }
        br[nb++] = ENTK__PI;
        for (p = 0; p + 1 < nb; ++p) {
            const double mid = 0.5 * (br[p] + br[p + 1]), half = 0.5 * (br[p + 1] - br[p]);
            for (g = 0; g < m; ++g) {
                const double psi = mid + half * gx[g], wa = half * gw[g];
                const double ca = l11 * cos(psi), cb = l21 * cos(psi) + l22 * sin(psi);
                double pk = 0.0, pd = 0.0;
                for (q = 0; q < m; ++q) {
                    const double r = lx[q], u = r * ca, v = r * cb;
                    pk += lw[q] * (f->phi(u, f->user) * f->phi(v, f->user) +
                                   f->phi(-u, f->user) * f->phi(-v, f->user));
                    if (tho)
                        pd += lw[q] * (f->dphi(u, f->user) * f->dphi(v, f->user) +
                                       f->dphi(-u, f->user) * f->dphi(-v, f->user));
                }
                sk += wa * pk;
                sd += wa * pd;
            }
        }
        {
            const double thv = tho ? th[i] : 0.0;
            t[i] = sk * (0.5 / ENTK__PI);
            if (tho) tho[i] = sd * (0.5 / ENTK__PI) * thv;
        }
    }
}

/* ============================================================================================== */
/* 9.3.2 Nonlinearity maps: AVX2+FMA (and AVX-512)                                               */
/* ============================================================================================== */

/* ---- entk's atan2: the scalar twin and NEON (the AVX2 maps use the leaner entk__fatan2 below) ----
 * atan2(y, x) for the maps (relu/leaky: atan2(s, k12) with s >= 0; erf, gelu: atan2(k12, s) with s > 0)
 * without SLEEF: SLEEF's atan2 was ~6 of the ~8 ns/element the relu map cost on AVX2.
 *  1. r = n / d with n = min(|y|, |x|), d = max(|y|, |x|) in [0, 1]. When d is in [2^-960, 2^960]
 *     nothing below overflows or underflows (unless r < 2^-1022 itself). Otherwise (zeros,
 *     infinities, NaN, extreme scales; a vector takes this rare wide path as a whole, one
 *     well-predicted branch) n and d are first scaled by the exact power of two that brings d into
 *     [1, 2) (exponent bits, clamped to 2^+-1000), so atan2(l y, l x) = atan2(y, x) for every power of
 *     two l; infinities: n = 0 if only d is infinite, then both clamped to DBL_MAX (atan2(inf, inf) =
 *     pi/4); n = d = 0 gives r = 0. In-range lanes of a wide vector keep scale 1: same bits.
 *  2. atan(r) = atan(c_j) + atan(t), t = (n - c_j d) / (d + c_j n), with centres c_j = tan(j pi/16),
 *     j = 0..4, the piece picked by compares against tan((2j-1) pi/32) (the first boundary raised to
 *     0.1 >= c_1 / 2 so that n - c_j d is exact by Sterbenz): |t| <= 0.1. The numerator and the
 *     denominator are formed as double-doubles (fma splits) and one division 1/den gives
 *     t = th + tl to ~2^-100, so the reduction adds no error of its own.
 *  3. atan(t) = t + t^3 P(t^2), P the Taylor series of (atan(t) - t) / t^3 to the t^17 term: the first
 *     term left out is t^19/19 <= 5.3e-20 |t| (2^-64 relative; alternating series), Estrin evaluation.
 *  4. atan(c_j) as hi + lo (computed once with mpmath at 300 bits for the double c_j), the reflections
 *     pi/2 - a (|y| > |x|), pi - a (x < 0 or -0), pi/2 + a (both) with pi/2, pi as hi + lo, and two fast
 *     two-sums: the only error left is the final rounding, measured max 0.518 ULP against atan2l
 *     (tests/test_atan2.c). Sign of y applied last (atan2(-0, x) = -0 or -pi, as libm).
 * Apart from the wide-path test, no branches: pieces and reflections are blends. NaN in, NaN out. */
#define ENTK__AT_B1 0.1                     /* piece boundaries, tan((2j-1) pi/32) except the first */
#define ENTK__AT_B2 0x1.36a08355c63dcp-2
#define ENTK__AT_B3 0x1.11ab7190834ecp-1
#define ENTK__AT_B4 0x1.a43002ae42850p-1
#define ENTK__AT_C1 0x1.975f5e0553158p-3    /* centres c_j = tan(j pi/16) rounded; c_4 = 1 */
#define ENTK__AT_C2 0x1.a827999fcef32p-2
#define ENTK__AT_C3 0x1.561b82ab7f990p-1
#define ENTK__AT_A1H 0x1.921fb54442d18p-3   /* atan(c_j) of the rounded c_j: hi + lo */
#define ENTK__AT_A1L 0x1.f93470dfef04ap-58
#define ENTK__AT_A2H 0x1.921fb54442d18p-2
#define ENTK__AT_A2L 0x1.c398861b78b55p-59
#define ENTK__AT_A3H 0x1.2d97c7f3321d2p-1
#define ENTK__AT_A3L (-0x1.8f57cafebcf16p-58)
#define ENTK__AT_A4H 0x1.921fb54442d18p-1
#define ENTK__AT_A4L 0x1.1a62633145c07p-55
#define ENTK__AT_PIO2H 0x1.921fb54442d18p+0
#define ENTK__AT_PIO2L 0x1.1a62633145c07p-54
#define ENTK__AT_PIH 0x1.921fb54442d18p+1
#define ENTK__AT_PIL 0x1.1a62633145c07p-53
/* Taylor coefficients of (atan(t) - t) / t^3 in u = t^2: -1/3, 1/5, ..., 1/17 */
#define ENTK__AT_P0 (-1.0 / 3.0)
#define ENTK__AT_P1 (1.0 / 5.0)
#define ENTK__AT_P2 (-1.0 / 7.0)
#define ENTK__AT_P3 (1.0 / 9.0)
#define ENTK__AT_P4 (-1.0 / 11.0)
#define ENTK__AT_P5 (1.0 / 13.0)
#define ENTK__AT_P6 (-1.0 / 15.0)
#define ENTK__AT_P7 (1.0 / 17.0)

/* The core on n = min(|y|, |x|), d = max(|y|, |x|) with d in [2^-960, 2^960] (so c_j d, 1/den and the
 * double-double low parts stay normal): steps 2-4 above. */
static inline double entk__atan2_core_scalar(double n, double d, int swap, double y, double x) {
    double c = 0, ah = 0, al = 0, p, pl, nh, dh, dl, q, th, rem, tl, u, u2, u4, pp, tail, s1, e1, lo;
    double kh, kl, aa, e2, r;
    if (n > ENTK__AT_B1 * d) { c = ENTK__AT_C1; ah = ENTK__AT_A1H; al = ENTK__AT_A1L; }
    if (n > ENTK__AT_B2 * d) { c = ENTK__AT_C2; ah = ENTK__AT_A2H; al = ENTK__AT_A2L; }
    if (n > ENTK__AT_B3 * d) { c = ENTK__AT_C3; ah = ENTK__AT_A3H; al = ENTK__AT_A3L; }
    if (n > ENTK__AT_B4 * d) { c = 1.0; ah = ENTK__AT_A4H; al = ENTK__AT_A4L; }
    p = c * d; pl = fma(c, d, -p);      /* c d = p + pl exactly */
    nh = n - p;                         /* exact: p / 2 <= n <= 2 p, or p = 0 */
    dh = fma(c, n, d);                  /* d <= dh <= 2 d, so d - dh is exact */
    dl = fma(c, n, d - dh);
    q = 1.0 / dh;
    th = nh * q;
    rem = fma(-th, dh, nh);
    tl = fma(-th, dl, rem - pl) * q;    /* t = (nh - pl) / (dh + dl) = th + tl */
    u = th * th; u2 = u * u; u4 = u2 * u2;
    pp = fma(u4, fma(u2, fma(u, ENTK__AT_P7, ENTK__AT_P6), fma(u, ENTK__AT_P5, ENTK__AT_P4)),
             fma(u2, fma(u, ENTK__AT_P3, ENTK__AT_P2), fma(u, ENTK__AT_P1, ENTK__AT_P0)));
    tail = fma(th * u, pp, tl);
    s1 = ah + th; e1 = (ah - s1) + th;  /* fast two-sum: |th| <= 0.1 < ah, or ah = 0 */
    lo = (e1 + al) + tail;
    if (swap ^ (signbit(x) != 0)) { s1 = -s1; lo = -lo; }
    kh = signbit(x) ? ENTK__AT_PIH : 0.0;
    kl = signbit(x) ? ENTK__AT_PIL : 0.0;
    if (swap) { kh = ENTK__AT_PIO2H; kl = ENTK__AT_PIO2L; }
    aa = kh + s1; e2 = (kh - aa) + s1; /* fast two-sum: |s1| <= pi/4 < kh, or kh = 0 */
    r = aa + ((e2 + kl) + lo);
    return signbit(y) ? -r : r;
}

/* The scalar twin, step for step the vector code (same fma splits, same sums, the same rare wide path):
 * the reference for the vector paths' tests and a portable atan2. fma() must be a true fused
 * multiply-add (C99 fma). */
static inline double entk__atan2_scalar(double y, double x) {
    double ay = fabs(y), ax = fabs(x), n, d, sc;
    uint64_t bits;
    int swap = ay > ax;
    if (x != x || y != y) return x + y;
    n = ay < ax ? ay : ax;
    d = ay > ax ? ay : ax;
    if (!(d >= 0x1p-960 && d <= 0x1p960)) { /* the wide path: zeros, infinities, extreme scales */
        n = (d == INFINITY && n != INFINITY) ? 0.0 : n;
        n = n < DBL_MAX ? n : DBL_MAX;
        d = d < DBL_MAX ? d : DBL_MAX;
        sc = d > 0x1p-1000 ? d : 0x1p-1000;
        sc = sc < 0x1p1000 ? sc : 0x1p1000;
        memcpy(&bits, &sc, sizeof bits);
        bits = 0x7fe0000000000000ull - (bits & 0x7ff0000000000000ull);
        memcpy(&sc, &bits, sizeof sc);
        n *= sc;
        d *= sc;
        d = d == 0.0 ? 1.0 : d;
    }
    return entk__atan2_core_scalar(n, d, swap, y, x);
}


/* Each map is a block function on 4 lanes (T returned, Tdot through *d) with the scalar kernel's
 * formula and operation order (mul and add stay separate where the scalar code has no fma, so the
 * clamped radicand matches the oracle bit for bit), and one driver that runs two blocks per iteration,
 * then one, then a padded last block whose unused lanes hold the harmless (1, 1, 0). All loads of a
 * group precede its stores, so t may alias k12 and theta_out may alias theta. */
#if ENTK__HAVE_AVX2
#define ENTK__AVX2 __attribute__((target("avx2,fma")))
#if ENTK__HAVE_AVX512
#define ENTK__AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma")))
#endif

#if !defined(ENTK_NO_SLEEF) && !defined(__AVX__)
#ifdef __cplusplus
extern "C" {
#endif
/* sleef.h declares these only under __AVX__ (then its own declarations serve). Same prototypes and
 * ABI: __m256d travels in ymm registers, which the target attribute makes the caller use. */
ENTK__AVX2 __attribute__((const)) __m256d Sleef_expd4_u10avx2(__m256d x);
ENTK__AVX2 __attribute__((const)) __m256d Sleef_expm1d4_u10avx2(__m256d x);
#ifdef __cplusplus
}
#endif
#endif /* !ENTK_NO_SLEEF && !__AVX__ */

static ENTK__AVX2 inline __m256d entk__ld_avx2(const double *p, size_t i, size_t inc) {
    return inc ? _mm256_loadu_pd(p + i) : _mm256_broadcast_sd(p);
}

/* Maps without an interleaved pair form run the pair driver below with two single blocks. */
#define ENTK__AVX2_PAIR(name, blk)                                                                       \
    static ENTK__AVX2 inline void name##_pair(__m256d a0, __m256d b0, __m256d c0, __m256d a1, __m256d b1, \
                                              __m256d c1, __m256d *t0, __m256d *d0, __m256d *t1,       \
                                              __m256d *d1, const entk_nonlin *f) {                    \
        *t0 = blk(a0, b0, c0, d0, f);                                                                  \
        *t1 = blk(a1, b1, c1, d1, f);                                                                  \
    }
#define ENTK__AVX2_DRIVER(name, blk)                                                                     \
    ENTK__AVX2_PAIR(name, blk)                                                                         \
    ENTK__AVX2_DRIVER_R(name, blk, name##_pair, entk__all_ok_avx2, entk__identity_map_scalar)
/* a map valid at every scale: the range test is a constant (folded away); the scalar kernel named
 * as the slow path is never called */
#define ENTK__AVX2_DRIVER2(name, blk, blk2)                                                              \
    ENTK__AVX2_DRIVER_R(name, blk, blk2, entk__all_ok_avx2, entk__identity_map_scalar)
#define ENTK__AVX2_RDRIVER(name, blk, ok, slow)                                                          \
    ENTK__AVX2_PAIR(name, blk)                                                                         \
    ENTK__AVX2_DRIVER_R(name, blk, name##_pair, ok, slow)

static ENTK__AVX2 inline __m256d entk__all_ok_avx2(__m256d a, __m256d b, __m256d c) {
    ENTK__UNUSED(a); ENTK__UNUSED(b); ENTK__UNUSED(c);
    return _mm256_castsi256_pd(_mm256_set1_epi64x(-1));
}

/* The map driver: a pair block blk2(a0, b0, c0, a1, b1, c1, &t0, &d0, &t1, &d1, f) for the main loop
 * (maps whose pair block interleaves two atan2 chains define one), then single blocks, then a padded
 * last block. ok(a, b, c) is the map's fast range (all-ones lanes where the block formula is exact,
 * see "the maps at every scale"); a block with any other lane goes to the scalar kernel `slow` as a
 * whole (rare: one compare-and-movemask per block otherwise). */
#define ENTK__AVX2_DRIVER_R(name, blk, blk2, ok, slow)                                                   \
    static ENTK__AVX2 inline void name##_one(size_t i, const double *k11, size_t inc11, const double *k22, \
                                             size_t inc22, const double *k12, const double *th, double *t, \
                                             double *tho, const entk_nonlin *f) {                     \
        const __m256d a0 = entk__ld_avx2(k11, i, inc11), b0 = entk__ld_avx2(k22, i, inc22);            \
        const __m256d c0 = _mm256_loadu_pd(k12 + i);                                                   \
        __m256d d0, t0;                                                                                \
        if (_mm256_movemask_pd(ok(a0, b0, c0)) != 0xf) {                                               \
            slow(4, k11 + i * inc11, inc11, k22 + i * inc22, inc22, k12 + i, tho ? th + i : NULL, t + i, \
                 tho ? tho + i : NULL, f);                                                             \
            return;                                                                                    \
        }                                                                                              \
        t0 = blk(a0, b0, c0, &d0, f);                                                                  \
        if (tho) _mm256_storeu_pd(tho + i, _mm256_mul_pd(d0, _mm256_loadu_pd(th + i)));                \
        _mm256_storeu_pd(t + i, t0);                                                                   \
    }                                                                                                  \
    static ENTK__AVX2 void name(size_t n, const double *k11, size_t inc11, const double *k22,          \
                                size_t inc22, const double *k12, const double *th, double *t,          \
                                double *tho, const entk_nonlin *f) {                                   \
        size_t i = 0;                                                                                  \
        for (; i + 8 <= n; i += 8) {                                                                   \
            const __m256d a0 = entk__ld_avx2(k11, i, inc11), b0 = entk__ld_avx2(k22, i, inc22);        \
            const __m256d a1 = entk__ld_avx2(k11, i + 4, inc11), b1 = entk__ld_avx2(k22, i + 4, inc22); \
            const __m256d c0 = _mm256_loadu_pd(k12 + i), c1 = _mm256_loadu_pd(k12 + i + 4);           \
            __m256d d0, d1, t0, t1;                                                                    \
            if (_mm256_movemask_pd(_mm256_and_pd(ok(a0, b0, c0), ok(a1, b1, c1))) != 0xf) {            \
                name##_one(i, k11, inc11, k22, inc22, k12, th, t, tho, f);                             \
                name##_one(i + 4, k11, inc11, k22, inc22, k12, th, t, tho, f);                         \
                continue;                                                                              \
            }                                                                                          \
            blk2(a0, b0, c0, a1, b1, c1, &t0, &d0, &t1, &d1, f);                                       \
            if (tho) {                                                                                 \
                __m256d h0 = _mm256_loadu_pd(th + i), h1 = _mm256_loadu_pd(th + i + 4);                \
                _mm256_storeu_pd(tho + i, _mm256_mul_pd(d0, h0));                                      \
                _mm256_storeu_pd(tho + i + 4, _mm256_mul_pd(d1, h1));                                  \
            }                                                                                          \
            _mm256_storeu_pd(t + i, t0);                                                               \
            _mm256_storeu_pd(t + i + 4, t1);                                                           \
        }                                                                                              \
        for (; i + 4 <= n; i += 4) name##_one(i, k11, inc11, k22, inc22, k12, th, t, tho, f);          \
        if (i < n) {                                                                                   \
            double pa[4] = {1, 1, 1, 1}, pb[4] = {1, 1, 1, 1}, pc[4] = {0, 0, 0, 0};                   \
            double ph[4] = {0, 0, 0, 0}, ot[4], od[4];                                                 \
            size_t j, r = n - i;                                                                       \
            __m256d d0, va, vb, vc;                                                                    \
            for (j = 0; j < r; ++j) {                                                                  \
                pa[j] = k11[(i + j) * inc11];                                                          \
                pb[j] = k22[(i + j) * inc22];                                                          \
                pc[j] = k12[i + j];                                                                    \
                if (tho) ph[j] = th[i + j];                                                            \
            }                                                                                          \
            va = _mm256_loadu_pd(pa); vb = _mm256_loadu_pd(pb); vc = _mm256_loadu_pd(pc);              \
            if (_mm256_movemask_pd(ok(va, vb, vc)) != 0xf) {                                           \
                slow(r, k11 + i * inc11, inc11, k22 + i * inc22, inc22, k12 + i, tho ? th + i : NULL,  \
                     t + i, tho ? tho + i : NULL, f);                                                  \
                return;                                                                                \
            }                                                                                          \
            _mm256_storeu_pd(ot, blk(va, vb, vc, &d0, f));                                             \
            _mm256_storeu_pd(od, _mm256_mul_pd(d0, _mm256_loadu_pd(ph)));                              \
            for (j = 0; j < r; ++j) {                                                                  \
                t[i + j] = ot[j];                                                                      \
                if (tho) tho[i + j] = od[j];                                                           \
            }                                                                                          \
        }                                                                                              \
    }

static ENTK__AVX2 inline __m256d entk__identity_blk_avx2(__m256d a, __m256d b, __m256d c, __m256d *d,
                                                          const entk_nonlin *f) {
    ENTK__UNUSED(a); ENTK__UNUSED(b); ENTK__UNUSED(f);
    *d = _mm256_set1_pd(1.0);
    return c;
}
ENTK__AVX2_DRIVER(entk__identity_map_avx2, entk__identity_blk_avx2)

/* ---- the maps' atan2: two pieces, no range test, front and back ----
 * The maps call atan2 only on arguments their fast range bounds (relu, leaky: atan2(s, k12) with s >= 0;
 * erf: atan2(2 k12, S), gelu: atan2(k12, sqrt D) with S, sqrt D >= 1; the drivers' range tests also
 * bound |k12| <= 2^500), so d = max(|y|, |x|) <= 2^502, and d < 2^-1022 only where n = 0. That drops
 * the wide path and its test, and it lets the reduction use three pieces with exact centres instead
 * of five (on this 2-FMA-pipe core the maps are bound by the count and the latency of their ~100 vector
 * operations per block, not by the divider: bench/bench_maps.c prints both):
 *  1. n = min(|y|, |x|), d = max(|y|, |x|), r = n/d; centre c_j = 0 (r <= 1/4), 1/2 (r <= 3/4), else 1:
 *     t = (n - c_j d) / (d + c_j n), atan(r) = atan(c_j) + atan(t), |t| <= 1/4. c_j d and c_j n are
 *     exact, n - c_j d is exact (Sterbenz) and d + c_j n = dh + dl is a fast two-sum, so, as in
 *     entk__atan2_core_scalar, one division q = 1/dh gives t = th + tl to ~2^-100.
 *  2. atan(t) = t + t^3 P(t^2), P of degree 8 in u = t^2, a Chebyshev fit of (atan(t) - t)/t^3 on
 *     [0, 0.0626] at 60 digits (with the double coefficients, evaluated exactly, 2^-59.5 relative to
 *     atan(t) on |t| <= 1/4), Estrin evaluation.
 *  3. step 4 of entk's atan2 (atan(1/2), pi/4, pi/2, pi as hi + lo, the reflections with two fast
 *     two-sums, the sign of y), regrouped: the constant part K + sigma atan(c_j) = ch + cl comes from
 *     the masks alone, then (ch + sigma th) as a fast two-sum (|th| <= 0.23 < |ch| unless ch = 0) plus
 *     cl and the tail. The reflection pi/2 - a is taken when |y| >= |x| (not >): the same value where
 *     |y| = |x| > 0 (pi/4 either way), and atan2(+-0, +-0) = +-pi/2, the maps' angle where s = k12 = 0
 *     (so relu and leaky relu need no blend for it). d = 0 (then n = 0) is raised to DBL_MIN: t = 0.
 * Measured 0.58 ULP against atan2l (the scalar twin: 0.52), tests/test_atan2.c; the maps stay well
 * inside their budgets (tests/test_simd.c). */
#define ENTK__FA_P0 (-0x1.5555555555555p-2)
#define ENTK__FA_P1 0x1.9999999999815p-3
#define ENTK__FA_P2 (-0x1.2492492469c29p-3)
#define ENTK__FA_P3 0x1.c71c719302309p-4
#define ENTK__FA_P4 (-0x1.745d067597759p-4)
#define ENTK__FA_P5 0x1.3b10a28e789aap-4
#define ENTK__FA_P6 (-0x1.10bd064002fffp-4)
#define ENTK__FA_P7 0x1.d7412a8d5c85ap-5
#define ENTK__FA_P8 (-0x1.5005923b76ca6p-5)
#define ENTK__FA_H1H 0x1.dac670561bb4fp-2 /* atan(1/2) as hi + lo */
#define ENTK__FA_H1L 0x1.a2b7f222f65e2p-56
/* The body is written in two halves: the front (through the division: the reduced argument and the
 * constant part) and the back (the polynomial and the sums), so that a map can run the front of a
 * chunk of vectors before their backs (ENTK__AVX2_SDRIVER: a chain of sqrt, division and polynomial is
 * ~90 cycles long, and one vector after another the out-of-order window holds too few of them to hide
 * it). The front leaves w[0..5) = sigma th, sigma tl, ch, cl (sigma = the reflections' sign) and y's
 * sign bit; atan2 = ((ch + sigma th) + the rest) with y's sign.
 * The statements are written over the operations ENTK__FV_op, which the instantiation defines for its
 * ISA (and undefines after): FV_VT the vector type, FV_MT the mask type. */
#define ENTK__FA_FRONT(y, x, w, ypos)                                                                      \
    do {                                                                                               \
        const ENTK__FV_VT ay = (ypos) ? (y) : ENTK__FV_ABS(y), ax = ENTK__FV_ABS(x);                   \
        const ENTK__FV_VT n = ENTK__FV_MIN(ay, ax);                                                    \
        const ENTK__FV_VT d = ENTK__FV_MAX(ENTK__FV_MAX(ay, ax), ENTK__FV_SET1(DBL_MIN));              \
        const ENTK__FV_VT n2 = ENTK__FV_ADD(n, n), n4 = ENTK__FV_ADD(n2, n2);                          \
        const ENTK__FV_MT sw = ENTK__FV_GE(ay, ax), xn = ENTK__FV_LT(x, ENTK__FV_SET1(0.0));           \
        const ENTK__FV_MT m1 = ENTK__FV_GT(n4, d);                                     /* n/d > 1/4 */ \
        const ENTK__FV_MT m2 = ENTK__FV_GT(n4, ENTK__FV_MUL(ENTK__FV_SET1(3.0), d));  /* n/d > 3/4 */ \
        const ENTK__FV_VT cj = ENTK__FV_BLEND(ENTK__FV_MASKZ(ENTK__FV_SET1(0.5), m1), ENTK__FV_SET1(1.0), m2); \
        const ENTK__FV_VT cn = ENTK__FV_MUL(cj, n);                                                    \
        const ENTK__FV_VT nh = ENTK__FV_SUB(n, ENTK__FV_MUL(cj, d)); /* exact (Sterbenz) */            \
        const ENTK__FV_VT dh = ENTK__FV_ADD(d, cn);                                                    \
        const ENTK__FV_VT q = ENTK__FV_DIV(ENTK__FV_SET1(1.0), dh);                                    \
        const ENTK__FV_VT dl = ENTK__FV_ADD(ENTK__FV_SUB(d, dh), cn);                                  \
        /* the constant part K + sigma atan(c_j) as ch + cl, from the masks (while the division runs) */ \
        const ENTK__FV_MT fl = ENTK__FV_MXOR(sw, xn);                                                  \
        const ENTK__FV_VT sah = ENTK__FV_NEGM(ENTK__FV_BLEND(ENTK__FV_MASKZ(ENTK__FV_SET1(ENTK__FA_H1H), m1), \
                                                             ENTK__FV_SET1(ENTK__AT_A4H), m2), fl);    \
        const ENTK__FV_VT sal = ENTK__FV_NEGM(ENTK__FV_BLEND(ENTK__FV_MASKZ(ENTK__FV_SET1(ENTK__FA_H1L), m1), \
                                                             ENTK__FV_SET1(ENTK__AT_A4L), m2), fl);    \
        const ENTK__FV_VT kh = ENTK__FV_BLEND(ENTK__FV_MASKZ(ENTK__FV_SET1(ENTK__AT_PIH), xn),         \
                                              ENTK__FV_SET1(ENTK__AT_PIO2H), sw);                      \
        const ENTK__FV_VT kl = ENTK__FV_BLEND(ENTK__FV_MASKZ(ENTK__FV_SET1(ENTK__AT_PIL), xn),         \
                                              ENTK__FV_SET1(ENTK__AT_PIO2L), sw);                      \
        const ENTK__FV_VT ch = ENTK__FV_ADD(kh, sah); /* fast two-sum: kh >= pi/2, or kh = 0 */        \
        const ENTK__FV_VT cl = ENTK__FV_ADD(ENTK__FV_ADD(ENTK__FV_SUB(kh, ch), sah), ENTK__FV_ADD(kl, sal)); \
        const ENTK__FV_VT th = ENTK__FV_MUL(nh, q);                                                    \
        const ENTK__FV_VT tl = ENTK__FV_MUL(ENTK__FV_FNMA(th, dl, ENTK__FV_FNMA(th, dh, nh)), q);      \
        (w)[0] = ENTK__FV_NEGM(th, fl);                                                                \
        (w)[1] = ENTK__FV_NEGM(tl, fl);                                                                \
        (w)[2] = ch;                                                                                   \
        (w)[3] = cl;                                                                                   \
        if (!(ypos)) (w)[4] = ENTK__FV_SIGN(y);                                                        \
    } while (0)
#define ENTK__FA_BACK(w, r, ypos)                                                                          \
    do {                                                                                               \
        const ENTK__FV_VT sth = (w)[0], stl = (w)[1], ch = (w)[2], cl = (w)[3];                        \
        const ENTK__FV_VT u = ENTK__FV_MUL(sth, sth), u2 = ENTK__FV_MUL(u, u);                         \
        const ENTK__FV_VT e0 = ENTK__FV_FMA(u, ENTK__FV_SET1(ENTK__FA_P1), ENTK__FV_SET1(ENTK__FA_P0)); \
        const ENTK__FV_VT e1 = ENTK__FV_FMA(u, ENTK__FV_SET1(ENTK__FA_P3), ENTK__FV_SET1(ENTK__FA_P2)); \
        const ENTK__FV_VT e2 = ENTK__FV_FMA(u, ENTK__FV_SET1(ENTK__FA_P5), ENTK__FV_SET1(ENTK__FA_P4)); \
        const ENTK__FV_VT e3 = ENTK__FV_FMA(u, ENTK__FV_SET1(ENTK__FA_P7), ENTK__FV_SET1(ENTK__FA_P6)); \
        const ENTK__FV_VT u4 = ENTK__FV_MUL(u2, u2), u8 = ENTK__FV_MUL(u4, u4);                        \
        const ENTK__FV_VT f0 = ENTK__FV_FMA(u2, e1, e0), f1 = ENTK__FV_FMA(u2, e3, e2);                \
        const ENTK__FV_VT g0 = ENTK__FV_FMA(u4, f1, f0);                                               \
        const ENTK__FV_VT aa = ENTK__FV_ADD(ch, sth); /* fast two-sum: |th| < |ch|, or ch = 0 */       \
        const ENTK__FV_VT ea = ENTK__FV_ADD(ENTK__FV_ADD(ENTK__FV_SUB(ch, aa), sth), cl);              \
        const ENTK__FV_VT pp = ENTK__FV_FMA(u8, ENTK__FV_SET1(ENTK__FA_P8), g0);                       \
        const ENTK__FV_VT tail = ENTK__FV_FMA(ENTK__FV_MUL(sth, u), pp, stl);                          \
        (r) = ENTK__FV_ADD(aa, ENTK__FV_ADD(ea, tail));                                                \
        if (!(ypos)) (r) = ENTK__FV_XOR(r, (w)[4]);                                                    \
    } while (0)

/* the AVX2 instantiation (masks: all-ones lanes) */
#define ENTK__FV_VT __m256d
#define ENTK__FV_MT __m256d
#define ENTK__FV_SET1(v) _mm256_set1_pd(v)
#define ENTK__FV_ADD(a, b) _mm256_add_pd(a, b)
#define ENTK__FV_SUB(a, b) _mm256_sub_pd(a, b)
#define ENTK__FV_MUL(a, b) _mm256_mul_pd(a, b)
#define ENTK__FV_DIV(a, b) _mm256_div_pd(a, b)
#define ENTK__FV_FMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define ENTK__FV_FNMA(a, b, c) _mm256_fnmadd_pd(a, b, c) /* c - a b */
#define ENTK__FV_MIN(a, b) _mm256_min_pd(a, b)
#define ENTK__FV_MAX(a, b) _mm256_max_pd(a, b)
#define ENTK__FV_ABS(a) _mm256_andnot_pd(_mm256_set1_pd(-0.0), a)
#define ENTK__FV_GE(a, b) _mm256_cmp_pd(a, b, _CMP_GE_OQ)
#define ENTK__FV_GT(a, b) _mm256_cmp_pd(a, b, _CMP_GT_OQ)
#define ENTK__FV_LT(a, b) _mm256_cmp_pd(a, b, _CMP_LT_OQ)
#define ENTK__FV_MASKZ(v, m) _mm256_and_pd(m, v)          /* v where m, else +0 */
#define ENTK__FV_BLEND(a, b, m) _mm256_blendv_pd(a, b, m) /* b where m, else a */
#define ENTK__FV_MXOR(m1, m2) _mm256_xor_pd(m1, m2)
#define ENTK__FV_NEGM(v, m) _mm256_xor_pd(v, _mm256_and_pd(m, _mm256_set1_pd(-0.0)))         /* -v where m */
#define ENTK__FV_SIGN(v) _mm256_and_pd(v, _mm256_set1_pd(-0.0))  /* v's sign bit alone */
#define ENTK__FV_XOR(a, b) _mm256_xor_pd(a, b)
static ENTK__AVX2 inline __attribute__((always_inline)) void entk__fatan2_front_avx2(__m256d y, __m256d x, __m256d *w) {
    ENTK__FA_FRONT(y, x, w, 0); /* y and x are copies: w may hold them */
}
static ENTK__AVX2 inline __attribute__((always_inline)) __m256d entk__fatan2_back_avx2(const __m256d *w) {
    __m256d r;
    ENTK__FA_BACK(w, r, 0);
    return r;
}
/* the same for y >= +0 (relu and leaky relu: y = s; no sign to take or give back, w[4] unused) */
static ENTK__AVX2 inline __attribute__((always_inline)) void entk__fatan2p_front_avx2(__m256d y, __m256d x, __m256d *w) {
    ENTK__FA_FRONT(y, x, w, 1);
}
static ENTK__AVX2 inline __attribute__((always_inline)) __m256d entk__fatan2p_back_avx2(const __m256d *w) {
    __m256d r;
    ENTK__FA_BACK(w, r, 1);
    return r;
}
#undef ENTK__FV_XOR
#undef ENTK__FV_SIGN
#undef ENTK__FV_NEGM
#undef ENTK__FV_MXOR
#undef ENTK__FV_BLEND
#undef ENTK__FV_MASKZ
#undef ENTK__FV_LT
#undef ENTK__FV_GT
#undef ENTK__FV_GE
#undef ENTK__FV_ABS
#undef ENTK__FV_MAX
#undef ENTK__FV_MIN
#undef ENTK__FV_FNMA
#undef ENTK__FV_FMA
#undef ENTK__FV_DIV
#undef ENTK__FV_MUL
#undef ENTK__FV_SUB
#undef ENTK__FV_ADD
#undef ENTK__FV_SET1
#undef ENTK__FV_MT
#undef ENTK__FV_VT
static ENTK__AVX2 inline __m256d entk__fatan2_avx2(__m256d y, __m256d x) {
    __m256d w[5];
    entk__fatan2_front_avx2(y, x, w);
    return entk__fatan2_back_avx2(w);
}
/* out[i] = entk__fatan2_avx2(y[i], x[i]), the last block padded (tests and benchmarks only) */
static ENTK__AVX2 inline void entk__fatan2_array_avx2(size_t n, const double *y, const double *x, double *out) {
    size_t i = 0, j;
    for (; i + 4 <= n; i += 4) _mm256_storeu_pd(out + i, entk__fatan2_avx2(_mm256_loadu_pd(y + i), _mm256_loadu_pd(x + i)));
    if (i < n) {
        double py[4] = {0, 0, 0, 0}, px[4] = {1, 1, 1, 1}, po[4];
        for (j = 0; i + j < n; ++j) { py[j] = y[i + j]; px[j] = x[i + j]; }
        _mm256_storeu_pd(po, entk__fatan2_avx2(_mm256_loadu_pd(py), _mm256_loadu_pd(px)));
        for (j = 0; i + j < n; ++j) out[i + j] = po[j];
    }
}

/* the fast ranges of "the maps at every scale" on 4 lanes: relu and leaky relu: k11 k22 in
 * [2^-1000, 2^1000] or a zero variance; erf and gelu: k11, k22, k11 k22 <= 2^1000; and, for the maps'
 * atan2 (entk__fatan2_avx2), |k12| <= 2^500 in both (a valid covariance in range has it; anything
 * else, NaN included, runs the scalar kernel) */
static ENTK__AVX2 inline __m256d entk__relu_ok_avx2(__m256d a, __m256d b, __m256d c) {
    const __m256d p = _mm256_mul_pd(a, b);
    __m256d in = _mm256_and_pd(_mm256_cmp_pd(p, _mm256_set1_pd(ENTK__RELU_LO), _CMP_GE_OQ),
                               _mm256_cmp_pd(p, _mm256_set1_pd(ENTK__RELU_HI), _CMP_LE_OQ));
    in = _mm256_or_pd(in, _mm256_cmp_pd(_mm256_min_pd(a, b), _mm256_setzero_pd(), _CMP_EQ_OQ));
    return _mm256_and_pd(in, _mm256_cmp_pd(_mm256_andnot_pd(_mm256_set1_pd(-0.0), c), _mm256_set1_pd(0x1p500),
                                           _CMP_LE_OQ));
}
static ENTK__AVX2 inline __m256d entk__smooth_ok_avx2(__m256d a, __m256d b, __m256d c) {
    const __m256d hi = _mm256_set1_pd(ENTK__SMOOTH_HI);
    __m256d in = _mm256_and_pd(_mm256_cmp_pd(_mm256_mul_pd(a, b), hi, _CMP_LE_OQ),
                               _mm256_cmp_pd(_mm256_max_pd(a, b), hi, _CMP_LE_OQ));
    return _mm256_and_pd(in, _mm256_cmp_pd(_mm256_andnot_pd(_mm256_set1_pd(-0.0), c), _mm256_set1_pd(0x1p500),
                                           _CMP_LE_OQ));
}

/* The staged driver of the maps with an atan2: each map is a stage A sa(a, b, c, w, f) (its sqrt, its
 * divisions and the front of the atan2, leaving nw vectors in w) and a stage B sb(a, b, c, w, &d, f)
 * (the back of the atan2 and the map's sums; T returned, Tdot in d). A chunk of ENTK__AVX2_NCH vectors
 * runs stage A for all, then stage B for all (the long latencies of one stage overlap across the
 * chunk); the same operations in the same order as stage B after stage A on one vector, so the bits
 * do not depend on where a chunk starts. A chunk with a lane outside the fast range ok, and the rest
 * of the row, go through ENTK__AVX2_DRIVER_R with the composed block (name##_blk). Stage A only reads;
 * stage B reads a vector's k12 and theta before it writes its t and theta_out, so both may alias. */
#define ENTK__AVX2_NCH 8
#define ENTK__AVX2_SDRIVER(name, sa, front, sb, nw, ok, slow)                                                   \
    static ENTK__AVX2 inline __m256d name##_blk(__m256d a, __m256d b, __m256d c, __m256d *d,            \
                                                const entk_nonlin *f) {                               \
        __m256d w[nw];                                                                                 \
        sa(a, b, c, w, f);                                                                             \
        front(w[0], w[1], w);                                                                          \
        return sb(a, b, c, w, d, f);                                                                   \
    }                                                                                                  \
    ENTK__AVX2_RDRIVER(name##_rest, name##_blk, ok, slow)                                              \
    /* the chunks (a second instance for a broadcast k11, to hoist gelu's 1/(1+k11), pushed GCC 12's   \
     * -O3 inliner into a false -Wmaybe-uninitialized in entk_predict_ntk_ensemble: left out) */      \
    static ENTK__AVX2 inline __attribute__((always_inline)) size_t name##_chunks(                     \
        size_t n, const double *k11, size_t inc11, const double *k22, size_t inc22, const double *k12, \
        const double *th, double *t, double *tho, const entk_nonlin *f) {                              \
        enum { NCH = ENTK__AVX2_NCH };                                                                 \
        __m256d w[NCH][nw];                                                                            \
        size_t i = 0;                                                                                  \
        int v;                                                                                         \
        for (; i + 4 * NCH <= n; i += 4 * NCH) {                                                       \
            __m256d all = _mm256_castsi256_pd(_mm256_set1_epi64x(-1));                                 \
            for (v = 0; v < NCH; ++v) {                                                                \
                const size_t j = i + 4 * (size_t)v;                                                    \
                const __m256d a = entk__ld_avx2(k11, j, inc11), b = entk__ld_avx2(k22, j, inc22);      \
                const __m256d c = _mm256_loadu_pd(k12 + j);                                            \
                all = _mm256_and_pd(all, ok(a, b, c));                                                 \
                sa(a, b, c, w[v], f);                                                                  \
            }                                                                                          \
            if (_mm256_movemask_pd(all) != 0xf) {                                                      \
                name##_rest(4 * NCH, k11 + i * inc11, inc11, k22 + i * inc22, inc22, k12 + i,          \
                            tho ? th + i : NULL, t + i, tho ? tho + i : NULL, f);                      \
                continue;                                                                              \
            }                                                                                          \
            for (v = 0; v < NCH; ++v) front(w[v][0], w[v][1], w[v]);                                   \
            for (v = 0; v < NCH; ++v) {                                                                \
                const size_t j = i + 4 * (size_t)v;                                                    \
                const __m256d a = entk__ld_avx2(k11, j, inc11), b = entk__ld_avx2(k22, j, inc22);      \
                const __m256d c = _mm256_loadu_pd(k12 + j);                                            \
                __m256d d, tv = sb(a, b, c, w[v], &d, f);                                              \
                if (tho) _mm256_storeu_pd(tho + j, _mm256_mul_pd(d, _mm256_loadu_pd(th + j)));         \
                _mm256_storeu_pd(t + j, tv);                                                           \
            }                                                                                          \
        }                                                                                              \
        return i;                                                                                      \
    }                                                                                                  \
    static ENTK__AVX2 void name(size_t n, const double *k11, size_t inc11, const double *k22,          \
                                size_t inc22, const double *k12, const double *th, double *t,          \
                                double *tho, const entk_nonlin *f) {                                   \
        const size_t i = name##_chunks(n, k11, inc11, k22, inc22, k12, th, t, tho, f);                \
        if (i < n)                                                                                     \
            name##_rest(n - i, k11 + i * inc11, inc11, k22 + i * inc22, inc22, k12 + i,                \
                        tho ? th + i : NULL, t + i, tho ? tho + i : NULL, f);                          \
    }

/* relu and leaky relu: stage A s = sqrt(max(k11 k22 - k12^2, 0)) and the front of atan2(s, k12) (pi/2
 * where s = k12 = 0: the maps' atan2 gives that itself); w[5] = s */
static ENTK__AVX2 inline void entk__relu_sa_avx2(__m256d a, __m256d b, __m256d c, __m256d *w, const entk_nonlin *f) {
    const __m256d s = _mm256_sqrt_pd(_mm256_max_pd(_mm256_sub_pd(_mm256_mul_pd(a, b), _mm256_mul_pd(c, c)),
                                                   _mm256_setzero_pd()));
    ENTK__UNUSED(f);
    w[0] = s;
    w[1] = c;
    w[5] = s;
}
static ENTK__AVX2 inline __m256d entk__relu_sb_avx2(__m256d a, __m256d b, __m256d c, const __m256d *w, __m256d *d,
                                                     const entk_nonlin *f) {
    const __m256d k = _mm256_set1_pd(0.5 / ENTK__PI);
    const __m256d pt = _mm256_sub_pd(_mm256_set1_pd(ENTK__PI), entk__fatan2p_back_avx2(w));
    ENTK__UNUSED(a); ENTK__UNUSED(b); ENTK__UNUSED(f);
    *d = _mm256_mul_pd(pt, k);
    return _mm256_mul_pd(_mm256_add_pd(w[5], _mm256_mul_pd(pt, c)), k);
}
ENTK__AVX2_SDRIVER(entk__relu_map_avx2, entk__relu_sa_avx2, entk__fatan2p_front_avx2, entk__relu_sb_avx2, 6, entk__relu_ok_avx2,
                   entk__relu_map_scalar)

static ENTK__AVX2 inline __m256d entk__leaky_sb_avx2(__m256d a, __m256d b, __m256d c, const __m256d *w, __m256d *d,
                                                      const entk_nonlin *f) {
    const double al = f->a;
    const __m256d k = _mm256_set1_pd(0.5 / ENTK__PI), sq = _mm256_set1_pd((1.0 - al) * (1.0 - al));
    const __m256d pp = _mm256_set1_pd(1.0 + al * al), cr = _mm256_set1_pd(2.0 * al);
    const __m256d ang = entk__fatan2p_back_avx2(w);
    const __m256d wv = _mm256_add_pd(_mm256_mul_pd(pp, _mm256_sub_pd(_mm256_set1_pd(ENTK__PI), ang)),
                                     _mm256_mul_pd(cr, ang));
    ENTK__UNUSED(a); ENTK__UNUSED(b);
    *d = _mm256_mul_pd(wv, k);
    return _mm256_mul_pd(_mm256_add_pd(_mm256_mul_pd(sq, w[5]), _mm256_mul_pd(wv, c)), k);
}
ENTK__AVX2_SDRIVER(entk__leaky_map_avx2, entk__relu_sa_avx2, entk__fatan2p_front_avx2, entk__leaky_sb_avx2, 6, entk__relu_ok_avx2,
                   entk__leaky_map_scalar)

/* erf: stage A S (the scalar kernel's regrouped radicand), Tdot = (4/pi)/S into w[5], the front of
 * atan2(2 k12, S) */
static ENTK__AVX2 inline void entk__erf_sa_avx2(__m256d a, __m256d b, __m256d c, __m256d *w, const entk_nonlin *f) {
    const __m256d one = _mm256_set1_pd(1.0), two = _mm256_set1_pd(2.0);
    const __m256d rad = _mm256_max_pd(_mm256_sub_pd(_mm256_mul_pd(a, b), _mm256_mul_pd(c, c)), _mm256_setzero_pd());
    const __m256d s = _mm256_sqrt_pd(_mm256_add_pd(_mm256_add_pd(one, _mm256_mul_pd(two, _mm256_add_pd(a, b))),
                                                   _mm256_mul_pd(_mm256_set1_pd(4.0), rad)));
    ENTK__UNUSED(f);
    w[0] = _mm256_mul_pd(two, c);
    w[1] = s;
    w[5] = _mm256_div_pd(_mm256_set1_pd(4.0 / ENTK__PI), s);
}
static ENTK__AVX2 inline __m256d entk__erf_sb_avx2(__m256d a, __m256d b, __m256d c, const __m256d *w, __m256d *d,
                                                    const entk_nonlin *f) {
    ENTK__UNUSED(a); ENTK__UNUSED(b); ENTK__UNUSED(c); ENTK__UNUSED(f);
    *d = w[5];
    return _mm256_mul_pd(_mm256_set1_pd(2.0 / ENTK__PI), entk__fatan2_back_avx2(w));
}
ENTK__AVX2_SDRIVER(entk__erf_map_avx2, entk__erf_sa_avx2, entk__fatan2_front_avx2, entk__erf_sb_avx2, 6, entk__smooth_ok_avx2,
                   entk__erf_map_scalar)

/* gelu: stage A q = sqrt(D), the front of atan2(k12, q), and the terms without the angle (the scalar
 * kernel's operations: its five divisions) into w[4..8) */
static ENTK__AVX2 inline void entk__gelu_sa_avx2(__m256d a, __m256d b, __m256d c, __m256d *w, const entk_nonlin *f) {
    const __m256d one = _mm256_set1_pd(1.0);
    const __m256d rad = _mm256_max_pd(_mm256_sub_pd(_mm256_mul_pd(a, b), _mm256_mul_pd(c, c)), _mm256_setzero_pd());
    const __m256d dd = _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(one, a), b), rad);
    const __m256d q = _mm256_sqrt_pd(dd);
    const __m256d ia = _mm256_div_pd(one, _mm256_add_pd(one, a)), ib = _mm256_div_pd(one, _mm256_add_pd(one, b));
    ENTK__UNUSED(f);
    w[0] = c;
    w[1] = q;
    w[5] = _mm256_mul_pd(_mm256_mul_pd(_mm256_mul_pd(a, ia), _mm256_mul_pd(b, ib)), q);
    w[6] = _mm256_div_pd(_mm256_mul_pd(_mm256_mul_pd(c, c), _mm256_mul_pd(ia, ib)), q);
    w[7] = _mm256_div_pd(_mm256_mul_pd(c, _mm256_add_pd(ia, ib)), q);
    w[8] = _mm256_div_pd(_mm256_div_pd(c, dd), q);
}
static ENTK__AVX2 inline __m256d entk__gelu_sb_avx2(__m256d a, __m256d b, __m256d c, const __m256d *w, __m256d *d,
                                                     const entk_nonlin *f) {
    const __m256d k = _mm256_set1_pd(0.5 / ENTK__PI), qr = _mm256_set1_pd(0.25);
    const __m256d ang = entk__fatan2_back_avx2(w);
    const __m256d x1 = _mm256_mul_pd(c, ang);
    ENTK__UNUSED(a); ENTK__UNUSED(b); ENTK__UNUSED(f);
    *d = _mm256_add_pd(qr, _mm256_mul_pd(k, _mm256_add_pd(_mm256_add_pd(ang, w[7]), w[8])));
    return _mm256_add_pd(_mm256_mul_pd(qr, c), _mm256_mul_pd(k, _mm256_add_pd(_mm256_add_pd(x1, w[5]), w[6])));
}
ENTK__AVX2_SDRIVER(entk__gelu_map_avx2, entk__gelu_sa_avx2, entk__fatan2_front_avx2, entk__gelu_sb_avx2, 9, entk__smooth_ok_avx2,
                   entk__gelu_map_scalar)

#if ENTK__HAVE_AVX512
/* ---- the AVX-512 maps: the same fatan2 front/back and staged driver on 8 lanes (zmm) ----
 * The instantiation below is ENTK__FA_FRONT / ENTK__FA_BACK with __m512d and __mmask8 (compares give
 * masks, blendv becomes a masked blend, the masked negation a masked xor); every lane runs the AVX2
 * operations in the AVX2 order (same IEEE operations: add, mul, div, sqrt, fma, min, max, and the
 * selections), so the AVX-512 maps give the AVX2 bits exactly (tests/test_dispatch.c checks this on
 * every length 0..150). Each map's stages A and B are the AVX2 ones written for zmm. */
#define ENTK__FV_VT __m512d
#define ENTK__FV_MT __mmask8
#define ENTK__FV_SET1(v) _mm512_set1_pd(v)
#define ENTK__FV_ADD(a, b) _mm512_add_pd(a, b)
#define ENTK__FV_SUB(a, b) _mm512_sub_pd(a, b)
#define ENTK__FV_MUL(a, b) _mm512_mul_pd(a, b)
#define ENTK__FV_DIV(a, b) _mm512_div_pd(a, b)
#define ENTK__FV_FMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define ENTK__FV_FNMA(a, b, c) _mm512_fnmadd_pd(a, b, c) /* c - a b */
#define ENTK__FV_MIN(a, b) _mm512_min_pd(a, b)
#define ENTK__FV_MAX(a, b) _mm512_max_pd(a, b)
#define ENTK__FV_ABS(a) _mm512_andnot_pd(_mm512_set1_pd(-0.0), a)
#define ENTK__FV_GE(a, b) _mm512_cmp_pd_mask(a, b, _CMP_GE_OQ)
#define ENTK__FV_GT(a, b) _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ)
#define ENTK__FV_LT(a, b) _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ)
#define ENTK__FV_MASKZ(v, m) _mm512_maskz_mov_pd(m, v)        /* v where m, else +0 */
#define ENTK__FV_BLEND(a, b, m) _mm512_mask_blend_pd(m, a, b) /* b where m, else a */
#define ENTK__FV_MXOR(m1, m2) ((__mmask8)((m1) ^ (m2)))
#define ENTK__FV_NEGM(v, m) _mm512_mask_xor_pd(v, m, v, _mm512_set1_pd(-0.0)) /* -v where m */
#define ENTK__FV_SIGN(v) _mm512_and_pd(v, _mm512_set1_pd(-0.0))              /* v's sign bit alone */
#define ENTK__FV_XOR(a, b) _mm512_xor_pd(a, b)
static ENTK__AVX512 inline __attribute__((always_inline)) void entk__fatan2_front_avx512(__m512d y, __m512d x, __m512d *w) {
    ENTK__FA_FRONT(y, x, w, 0);
}
static ENTK__AVX512 inline __attribute__((always_inline)) __m512d entk__fatan2_back_avx512(const __m512d *w) {
    __m512d r;
    ENTK__FA_BACK(w, r, 0);
    return r;
}
static ENTK__AVX512 inline __attribute__((always_inline)) void entk__fatan2p_front_avx512(__m512d y, __m512d x, __m512d *w) {
    ENTK__FA_FRONT(y, x, w, 1);
}
static ENTK__AVX512 inline __attribute__((always_inline)) __m512d entk__fatan2p_back_avx512(const __m512d *w) {
    __m512d r;
    ENTK__FA_BACK(w, r, 1);
    return r;
}
#undef ENTK__FV_XOR
#undef ENTK__FV_SIGN
#undef ENTK__FV_NEGM
#undef ENTK__FV_MXOR
#undef ENTK__FV_BLEND
#undef ENTK__FV_MASKZ
#undef ENTK__FV_LT
#undef ENTK__FV_GT
#undef ENTK__FV_GE
#undef ENTK__FV_ABS
#undef ENTK__FV_MAX
#undef ENTK__FV_MIN
#undef ENTK__FV_FNMA
#undef ENTK__FV_FMA
#undef ENTK__FV_DIV
#undef ENTK__FV_MUL
#undef ENTK__FV_SUB
#undef ENTK__FV_ADD
#undef ENTK__FV_SET1
#undef ENTK__FV_MT
#undef ENTK__FV_VT

static ENTK__AVX512 inline __m512d entk__ld_avx512(const double *p, size_t i, size_t inc) {
    return inc ? _mm512_loadu_pd(p + i) : _mm512_set1_pd(*p);
}
/* the fast ranges of the AVX2 maps (entk__relu_ok_avx2, entk__smooth_ok_avx2) as masks */
static ENTK__AVX512 inline __mmask8 entk__relu_ok_avx512(__m512d a, __m512d b, __m512d c) {
    const __m512d p = _mm512_mul_pd(a, b);
    __mmask8 in = (__mmask8)(_mm512_cmp_pd_mask(p, _mm512_set1_pd(ENTK__RELU_LO), _CMP_GE_OQ) &
                             _mm512_cmp_pd_mask(p, _mm512_set1_pd(ENTK__RELU_HI), _CMP_LE_OQ));
    in = (__mmask8)(in | _mm512_cmp_pd_mask(_mm512_min_pd(a, b), _mm512_setzero_pd(), _CMP_EQ_OQ));
    return (__mmask8)(in & _mm512_cmp_pd_mask(_mm512_andnot_pd(_mm512_set1_pd(-0.0), c), _mm512_set1_pd(0x1p500),
                                              _CMP_LE_OQ));
}
static ENTK__AVX512 inline __mmask8 entk__smooth_ok_avx512(__m512d a, __m512d b, __m512d c) {
    const __m512d hi = _mm512_set1_pd(ENTK__SMOOTH_HI);
    __mmask8 in = (__mmask8)(_mm512_cmp_pd_mask(_mm512_mul_pd(a, b), hi, _CMP_LE_OQ) &
                             _mm512_cmp_pd_mask(_mm512_max_pd(a, b), hi, _CMP_LE_OQ));
    return (__mmask8)(in & _mm512_cmp_pd_mask(_mm512_andnot_pd(_mm512_set1_pd(-0.0), c), _mm512_set1_pd(0x1p500),
                                              _CMP_LE_OQ));
}

/* The staged driver on zmm (ENTK__AVX2_SDRIVER's chunks, 8 lanes a vector): a chunk of
 * ENTK__AVX512_NCH vectors runs stage A for all, the atan2 fronts for all, then stage B for all. A
 * chunk with a lane outside the fast range goes to the AVX2 map's rest (avx2##_rest: its blocks and
 * the scalar kernel); after the last whole chunk, single vectors (the same stages on one), then the
 * last n mod 8 to the AVX2 map itself; all of them
 * give the same bits per element, so neither where a chunk starts nor which path takes it matters. */
#define ENTK__AVX512_NCH 4
#define ENTK__AVX512_SDRIVER(name, sa, front, sb, nw, ok, avx2)                                                 \
    static ENTK__AVX512 void name(size_t n, const double *k11, size_t inc11, const double *k22,        \
                                  size_t inc22, const double *k12, const double *th, double *t,        \
                                  double *tho, const entk_nonlin *f) {                                 \
        enum { NCH = ENTK__AVX512_NCH };                                                               \
        __m512d w[NCH][nw];                                                                            \
        size_t i = 0;                                                                                  \
        int v;                                                                                         \
        for (; i + 8 * NCH <= n; i += 8 * NCH) {                                                       \
            __mmask8 all = 0xff;                                                                       \
            for (v = 0; v < NCH; ++v) {                                                                \
                const size_t j = i + 8 * (size_t)v;                                                    \
                const __m512d a = entk__ld_avx512(k11, j, inc11), b = entk__ld_avx512(k22, j, inc22);  \
                const __m512d c = _mm512_loadu_pd(k12 + j);                                            \
                all = (__mmask8)(all & ok(a, b, c));                                                   \
                sa(a, b, c, w[v], f);                                                                  \
            }                                                                                          \
            if (all != 0xff) {                                                                         \
                avx2##_rest(8 * NCH, k11 + i * inc11, inc11, k22 + i * inc22, inc22, k12 + i,          \
                            tho ? th + i : NULL, t + i, tho ? tho + i : NULL, f);                      \
                continue;                                                                              \
            }                                                                                          \
            for (v = 0; v < NCH; ++v) front(w[v][0], w[v][1], w[v]);                                   \
            for (v = 0; v < NCH; ++v) {                                                                \
                const size_t j = i + 8 * (size_t)v;                                                    \
                const __m512d a = entk__ld_avx512(k11, j, inc11), b = entk__ld_avx512(k22, j, inc22);  \
                const __m512d c = _mm512_loadu_pd(k12 + j);                                            \
                __m512d d, tv = sb(a, b, c, w[v], &d, f);                                              \
                if (tho) _mm512_storeu_pd(tho + j, _mm512_mul_pd(d, _mm512_loadu_pd(th + j)));         \
                _mm512_storeu_pd(t + j, tv);                                                           \
            }                                                                                          \
        }                                                                                              \
        for (; i + 8 <= n; i += 8) { /* single vectors after the chunks (short rows: small images) */  \
            const __m512d a = entk__ld_avx512(k11, i, inc11), b = entk__ld_avx512(k22, i, inc22);      \
            const __m512d c = _mm512_loadu_pd(k12 + i);                                                \
            __m512d d, tv;                                                                             \
            if (ok(a, b, c) != 0xff) {                                                                 \
                avx2##_rest(8, k11 + i * inc11, inc11, k22 + i * inc22, inc22, k12 + i,                \
                            tho ? th + i : NULL, t + i, tho ? tho + i : NULL, f);                      \
                continue;                                                                              \
            }                                                                                          \
            sa(a, b, c, w[0], f);                                                                      \
            front(w[0][0], w[0][1], w[0]);                                                             \
            tv = sb(a, b, c, w[0], &d, f);                                                             \
            if (tho) _mm512_storeu_pd(tho + i, _mm512_mul_pd(d, _mm512_loadu_pd(th + i)));             \
            _mm512_storeu_pd(t + i, tv);                                                               \
        }                                                                                              \
        if (i < n)                                                                                     \
            avx2(n - i, k11 + i * inc11, inc11, k22 + i * inc22, inc22, k12 + i, tho ? th + i : NULL,  \
                 t + i, tho ? tho + i : NULL, f);                                                      \
    }

static ENTK__AVX512 inline void entk__relu_sa_avx512(__m512d a, __m512d b, __m512d c, __m512d *w, const entk_nonlin *f) {
    const __m512d s = _mm512_sqrt_pd(_mm512_max_pd(_mm512_sub_pd(_mm512_mul_pd(a, b), _mm512_mul_pd(c, c)),
                                                   _mm512_setzero_pd()));
    ENTK__UNUSED(f);
    w[0] = s;
    w[1] = c;
    w[5] = s;
}
static ENTK__AVX512 inline __m512d entk__relu_sb_avx512(__m512d a, __m512d b, __m512d c, const __m512d *w, __m512d *d,
                                                         const entk_nonlin *f) {
    const __m512d k = _mm512_set1_pd(0.5 / ENTK__PI);
    const __m512d pt = _mm512_sub_pd(_mm512_set1_pd(ENTK__PI), entk__fatan2p_back_avx512(w));
    ENTK__UNUSED(a); ENTK__UNUSED(b); ENTK__UNUSED(f);
    *d = _mm512_mul_pd(pt, k);
    return _mm512_mul_pd(_mm512_add_pd(w[5], _mm512_mul_pd(pt, c)), k);
}
ENTK__AVX512_SDRIVER(entk__relu_map_avx512, entk__relu_sa_avx512, entk__fatan2p_front_avx512, entk__relu_sb_avx512, 6,
                     entk__relu_ok_avx512, entk__relu_map_avx2)

static ENTK__AVX512 inline __m512d entk__leaky_sb_avx512(__m512d a, __m512d b, __m512d c, const __m512d *w, __m512d *d,
                                                          const entk_nonlin *f) {
    const double al = f->a;
    const __m512d k = _mm512_set1_pd(0.5 / ENTK__PI), sq = _mm512_set1_pd((1.0 - al) * (1.0 - al));
    const __m512d pp = _mm512_set1_pd(1.0 + al * al), cr = _mm512_set1_pd(2.0 * al);
    const __m512d ang = entk__fatan2p_back_avx512(w);
    const __m512d wv = _mm512_add_pd(_mm512_mul_pd(pp, _mm512_sub_pd(_mm512_set1_pd(ENTK__PI), ang)),
                                     _mm512_mul_pd(cr, ang));
    ENTK__UNUSED(a); ENTK__UNUSED(b);
    *d = _mm512_mul_pd(wv, k);
    return _mm512_mul_pd(_mm512_add_pd(_mm512_mul_pd(sq, w[5]), _mm512_mul_pd(wv, c)), k);
}
ENTK__AVX512_SDRIVER(entk__leaky_map_avx512, entk__relu_sa_avx512, entk__fatan2p_front_avx512, entk__leaky_sb_avx512, 6,
                     entk__relu_ok_avx512, entk__leaky_map_avx2)

static ENTK__AVX512 inline void entk__erf_sa_avx512(__m512d a, __m512d b, __m512d c, __m512d *w, const entk_nonlin *f) {
    const __m512d one = _mm512_set1_pd(1.0), two = _mm512_set1_pd(2.0);
    const __m512d rad = _mm512_max_pd(_mm512_sub_pd(_mm512_mul_pd(a, b), _mm512_mul_pd(c, c)), _mm512_setzero_pd());
    const __m512d s = _mm512_sqrt_pd(_mm512_add_pd(_mm512_add_pd(one, _mm512_mul_pd(two, _mm512_add_pd(a, b))),
                                                   _mm512_mul_pd(_mm512_set1_pd(4.0), rad)));
    ENTK__UNUSED(f);
    w[0] = _mm512_mul_pd(two, c);
    w[1] = s;
    w[5] = _mm512_div_pd(_mm512_set1_pd(4.0 / ENTK__PI), s);
}
static ENTK__AVX512 inline __m512d entk__erf_sb_avx512(__m512d a, __m512d b, __m512d c, const __m512d *w, __m512d *d,
                                                        const entk_nonlin *f) {
    ENTK__UNUSED(a); ENTK__UNUSED(b); ENTK__UNUSED(c); ENTK__UNUSED(f);
    *d = w[5];
    return _mm512_mul_pd(_mm512_set1_pd(2.0 / ENTK__PI), entk__fatan2_back_avx512(w));
}
ENTK__AVX512_SDRIVER(entk__erf_map_avx512, entk__erf_sa_avx512, entk__fatan2_front_avx512, entk__erf_sb_avx512, 6,
                     entk__smooth_ok_avx512, entk__erf_map_avx2)

static ENTK__AVX512 inline void entk__gelu_sa_avx512(__m512d a, __m512d b, __m512d c, __m512d *w, const entk_nonlin *f) {
    const __m512d one = _mm512_set1_pd(1.0);
    const __m512d rad = _mm512_max_pd(_mm512_sub_pd(_mm512_mul_pd(a, b), _mm512_mul_pd(c, c)), _mm512_setzero_pd());
    const __m512d dd = _mm512_add_pd(_mm512_add_pd(_mm512_add_pd(one, a), b), rad);
    const __m512d q = _mm512_sqrt_pd(dd);
    const __m512d ia = _mm512_div_pd(one, _mm512_add_pd(one, a)), ib = _mm512_div_pd(one, _mm512_add_pd(one, b));
    ENTK__UNUSED(f);
    w[0] = c;
    w[1] = q;
    w[5] = _mm512_mul_pd(_mm512_mul_pd(_mm512_mul_pd(a, ia), _mm512_mul_pd(b, ib)), q);
    w[6] = _mm512_div_pd(_mm512_mul_pd(_mm512_mul_pd(c, c), _mm512_mul_pd(ia, ib)), q);
    w[7] = _mm512_div_pd(_mm512_mul_pd(c, _mm512_add_pd(ia, ib)), q);
    w[8] = _mm512_div_pd(_mm512_div_pd(c, dd), q);
}
static ENTK__AVX512 inline __m512d entk__gelu_sb_avx512(__m512d a, __m512d b, __m512d c, const __m512d *w, __m512d *d,
                                                         const entk_nonlin *f) {
    const __m512d k = _mm512_set1_pd(0.5 / ENTK__PI), qr = _mm512_set1_pd(0.25);
    const __m512d ang = entk__fatan2_back_avx512(w);
    const __m512d x1 = _mm512_mul_pd(c, ang);
    ENTK__UNUSED(a); ENTK__UNUSED(b); ENTK__UNUSED(f);
    *d = _mm512_add_pd(qr, _mm512_mul_pd(k, _mm512_add_pd(_mm512_add_pd(ang, w[7]), w[8])));
    return _mm512_add_pd(_mm512_mul_pd(qr, c), _mm512_mul_pd(k, _mm512_add_pd(_mm512_add_pd(x1, w[5]), w[6])));
}
ENTK__AVX512_SDRIVER(entk__gelu_map_avx512, entk__gelu_sa_avx512, entk__fatan2_front_avx512, entk__gelu_sb_avx512, 9,
                     entk__smooth_ok_avx512, entk__gelu_map_avx2)
#endif /* ENTK__HAVE_AVX512 */

#ifndef ENTK_NO_SLEEF

static ENTK__AVX2 inline __m256d entk__sin_blk_avx2(__m256d a, __m256d b, __m256d c, __m256d *d,
                                                     const entk_nonlin *f) {
    const __m256d half = _mm256_set1_pd(0.5), sgn = _mm256_set1_pd(-0.0);
    __m256d m = _mm256_add_pd(_mm256_mul_pd(half, a), _mm256_mul_pd(half, b));
    __m256d ac = _mm256_andnot_pd(sgn, c);
    __m256d e = Sleef_expd4_u10avx2(_mm256_sub_pd(ac, m));
    __m256d x = _mm256_xor_pd(Sleef_expm1d4_u10avx2(_mm256_mul_pd(_mm256_set1_pd(-2.0), ac)), sgn);
    __m256d h = _mm256_mul_pd(half, e);
    ENTK__UNUSED(f);
    *d = _mm256_mul_pd(h, _mm256_sub_pd(_mm256_set1_pd(2.0), x));
    return _mm256_or_pd(_mm256_mul_pd(h, x), _mm256_and_pd(c, sgn));
}
ENTK__AVX2_DRIVER(entk__sin_map_avx2, entk__sin_blk_avx2)

#endif /* ENTK_NO_SLEEF */
#endif /* ENTK__HAVE_AVX2 */

/* ============================================================================================== */
/* 9.3.3 Nonlinearity maps: NEON                                                                  */
/* ============================================================================================== */

/* The AVX2 design on 2 lanes: block functions with the scalar formula, a driver running two blocks per
 * iteration, then one, then a padded last lane; a block with a lane outside the map's fast range `ok`
 * goes to the scalar kernel `slow` (ENTK__AVX2_DRIVER_R). */
#if ENTK__HAVE_NEON
static inline float64x2_t entk__ld_neon(const double *p, size_t i, size_t inc) {
    return inc ? vld1q_f64(p + i) : vld1q_dup_f64(p);
}
/* 1 if both lanes of a compare mask are set */
static inline int entk__all_neon(uint64x2_t m) { return vminvq_u32(vreinterpretq_u32_u64(m)) != 0; }
static inline uint64x2_t entk__all_ok_neon(float64x2_t a, float64x2_t b, float64x2_t c) {
    ENTK__UNUSED(a); ENTK__UNUSED(b); ENTK__UNUSED(c);
    return vdupq_n_u64(~0ull);
}

#define ENTK__NEON_DRIVER(name, blk) ENTK__NEON_RDRIVER(name, blk, entk__all_ok_neon, entk__identity_map_scalar)
#define ENTK__NEON_RDRIVER(name, blk, ok, slow)                                                          \
    static inline void name##_one(size_t i, const double *k11, size_t inc11, const double *k22,        \
                                  size_t inc22, const double *k12, const double *th, double *t,        \
                                  double *tho, const entk_nonlin *f) {                                 \
        const float64x2_t a0 = entk__ld_neon(k11, i, inc11), b0 = entk__ld_neon(k22, i, inc22);        \
        const float64x2_t c0 = vld1q_f64(k12 + i);                                                     \
        float64x2_t d0, t0;                                                                            \
        if (!entk__all_neon(ok(a0, b0, c0))) {                                                         \
            slow(2, k11 + i * inc11, inc11, k22 + i * inc22, inc22, k12 + i, tho ? th + i : NULL, t + i, \
                 tho ? tho + i : NULL, f);                                                             \
            return;                                                                                    \
        }                                                                                              \
        t0 = blk(a0, b0, c0, &d0, f);                                                                  \
        if (tho) vst1q_f64(tho + i, vmulq_f64(d0, vld1q_f64(th + i)));                                 \
        vst1q_f64(t + i, t0);                                                                          \
    }                                                                                                  \
    static void name(size_t n, const double *k11, size_t inc11, const double *k22, size_t inc22,       \
                     const double *k12, const double *th, double *t, double *tho, const entk_nonlin *f) { \
        size_t i = 0;                                                                                  \
        for (; i + 4 <= n; i += 4) {                                                                   \
            const float64x2_t a0 = entk__ld_neon(k11, i, inc11), b0 = entk__ld_neon(k22, i, inc22);    \
            const float64x2_t a1 = entk__ld_neon(k11, i + 2, inc11), b1 = entk__ld_neon(k22, i + 2, inc22); \
            const float64x2_t c0 = vld1q_f64(k12 + i), c1 = vld1q_f64(k12 + i + 2);                    \
            float64x2_t d0, d1, t0, t1;                                                                \
            if (!entk__all_neon(vandq_u64(ok(a0, b0, c0), ok(a1, b1, c1)))) {                          \
                name##_one(i, k11, inc11, k22, inc22, k12, th, t, tho, f);                             \
                name##_one(i + 2, k11, inc11, k22, inc22, k12, th, t, tho, f);                         \
                continue;                                                                              \
            }                                                                                          \
            t0 = blk(a0, b0, c0, &d0, f);                                                              \
            t1 = blk(a1, b1, c1, &d1, f);                                                              \
            if (tho) {                                                                                 \
                float64x2_t h0 = vld1q_f64(th + i), h1 = vld1q_f64(th + i + 2);                        \
                vst1q_f64(tho + i, vmulq_f64(d0, h0));                                                 \
                vst1q_f64(tho + i + 2, vmulq_f64(d1, h1));                                             \
            }                                                                                          \
            vst1q_f64(t + i, t0);                                                                      \
            vst1q_f64(t + i + 2, t1);                                                                  \
        }                                                                                              \
        for (; i + 2 <= n; i += 2) name##_one(i, k11, inc11, k22, inc22, k12, th, t, tho, f);          \
        if (i < n) {                                                                                   \
            double pa[2] = {1, 1}, pb[2] = {1, 1}, pc[2] = {0, 0}, ph[2] = {0, 0}, ot[2], od[2];       \
            float64x2_t d0, va, vb, vc;                                                                \
            pa[0] = k11[i * inc11];                                                                    \
            pb[0] = k22[i * inc22];                                                                    \
            pc[0] = k12[i];                                                                            \
            if (tho) ph[0] = th[i];                                                                    \
            va = vld1q_f64(pa); vb = vld1q_f64(pb); vc = vld1q_f64(pc);                                \
            if (!entk__all_neon(ok(va, vb, vc))) {                                                     \
                slow(1, k11 + i * inc11, inc11, k22 + i * inc22, inc22, k12 + i, tho ? th + i : NULL,  \
                     t + i, tho ? tho + i : NULL, f);                                                  \
                return;                                                                                \
            }                                                                                          \
            vst1q_f64(ot, blk(va, vb, vc, &d0, f));                                                    \
            vst1q_f64(od, vmulq_f64(d0, vld1q_f64(ph)));                                               \
            t[i] = ot[0];                                                                              \
            if (tho) tho[i] = od[0];                                                                   \
        }                                                                                              \
    }

static inline float64x2_t entk__identity_blk_neon(float64x2_t a, float64x2_t b, float64x2_t c,
                                                  float64x2_t *d, const entk_nonlin *f) {
    ENTK__UNUSED(a); ENTK__UNUSED(b); ENTK__UNUSED(f);
    *d = vdupq_n_f64(1.0);
    return c;
}
ENTK__NEON_DRIVER(entk__identity_map_neon, entk__identity_blk_neon)

/* entk's atan2 on 2 lanes: entk__atan2_core_scalar / entk__atan2_scalar with bit selects (see there) */
static inline float64x2_t entk__atan2_core_neon(float64x2_t n, float64x2_t d, uint64x2_t swap, float64x2_t y,
                                                float64x2_t x) {
    const uint64x2_t sgn = vdupq_n_u64(0x8000000000000000ull);
    const float64x2_t zero = vdupq_n_f64(0.0), one = vdupq_n_f64(1.0);
    float64x2_t c = zero, ah = zero, al = zero;
    float64x2_t p, pl, nh, dh, dl, q, th, rem, tl, u, u2, u4, pp, tail, s1, e1, lo, kh, kl, aa, e2, r;
    uint64x2_t m, fl, xneg;
#define ENTK__AT_PIECE(b, cc, hh, ll)                                                               \
    m = vcgtq_f64(n, vmulq_f64(vdupq_n_f64(b), d));                                                 \
    c = vbslq_f64(m, vdupq_n_f64(cc), c);                                                           \
    ah = vbslq_f64(m, vdupq_n_f64(hh), ah);                                                         \
    al = vbslq_f64(m, vdupq_n_f64(ll), al);
    ENTK__AT_PIECE(ENTK__AT_B1, ENTK__AT_C1, ENTK__AT_A1H, ENTK__AT_A1L)
    ENTK__AT_PIECE(ENTK__AT_B2, ENTK__AT_C2, ENTK__AT_A2H, ENTK__AT_A2L)
    ENTK__AT_PIECE(ENTK__AT_B3, ENTK__AT_C3, ENTK__AT_A3H, ENTK__AT_A3L)
    ENTK__AT_PIECE(ENTK__AT_B4, 1.0, ENTK__AT_A4H, ENTK__AT_A4L)
#undef ENTK__AT_PIECE
    p = vmulq_f64(c, d); pl = vfmaq_f64(vnegq_f64(p), c, d);
    nh = vsubq_f64(n, p);
    dh = vfmaq_f64(d, c, n);
    dl = vfmaq_f64(vsubq_f64(d, dh), c, n);
    q = vdivq_f64(one, dh);
    th = vmulq_f64(nh, q);
    rem = vfmsq_f64(nh, th, dh);
    tl = vmulq_f64(vfmsq_f64(vsubq_f64(rem, pl), th, dl), q);
    u = vmulq_f64(th, th); u2 = vmulq_f64(u, u); u4 = vmulq_f64(u2, u2);
    pp = vfmaq_f64(vfmaq_f64(vfmaq_f64(vdupq_n_f64(ENTK__AT_P0), u, vdupq_n_f64(ENTK__AT_P1)), u2,
                             vfmaq_f64(vdupq_n_f64(ENTK__AT_P2), u, vdupq_n_f64(ENTK__AT_P3))),
                   u4,
                   vfmaq_f64(vfmaq_f64(vdupq_n_f64(ENTK__AT_P4), u, vdupq_n_f64(ENTK__AT_P5)), u2,
                             vfmaq_f64(vdupq_n_f64(ENTK__AT_P6), u, vdupq_n_f64(ENTK__AT_P7))));
    tail = vfmaq_f64(tl, vmulq_f64(th, u), pp);
    s1 = vaddq_f64(ah, th); e1 = vaddq_f64(vsubq_f64(ah, s1), th);
    lo = vaddq_f64(vaddq_f64(e1, al), tail);
    xneg = vandq_u64(vreinterpretq_u64_f64(x), sgn);
    fl = veorq_u64(vandq_u64(swap, sgn), xneg);
    s1 = vreinterpretq_f64_u64(veorq_u64(vreinterpretq_u64_f64(s1), fl));
    lo = vreinterpretq_f64_u64(veorq_u64(vreinterpretq_u64_f64(lo), fl));
    xneg = vcltq_s64(vreinterpretq_s64_f64(x), vdupq_n_s64(0));
    kh = vbslq_f64(swap, vdupq_n_f64(ENTK__AT_PIO2H), vbslq_f64(xneg, vdupq_n_f64(ENTK__AT_PIH), zero));
    kl = vbslq_f64(swap, vdupq_n_f64(ENTK__AT_PIO2L), vbslq_f64(xneg, vdupq_n_f64(ENTK__AT_PIL), zero));
    aa = vaddq_f64(kh, s1); e2 = vaddq_f64(vsubq_f64(kh, aa), s1);
    r = vaddq_f64(aa, vaddq_f64(vaddq_f64(e2, kl), lo));
    return vreinterpretq_f64_u64(veorq_u64(vreinterpretq_u64_f64(r), vandq_u64(vreinterpretq_u64_f64(y), sgn)));
}

/* the wide path, as entk__atan2_wide_avx2 */
static __attribute__((noinline)) float64x2_t entk__atan2_wide_neon(float64x2_t y, float64x2_t x) {
    const float64x2_t zero = vdupq_n_f64(0.0), one = vdupq_n_f64(1.0), inf = vdupq_n_f64(INFINITY);
    float64x2_t ay = vabsq_f64(y), ax = vabsq_f64(x);
    uint64x2_t swap = vcgtq_f64(ay, ax), in;
    float64x2_t n = vminq_f64(ay, ax), d = vmaxq_f64(ay, ax), sc;
    in = vandq_u64(vcgeq_f64(d, vdupq_n_f64(0x1p-960)), vcleq_f64(d, vdupq_n_f64(0x1p960)));
    n = vbslq_f64(vbicq_u64(vceqq_f64(d, inf), vceqq_f64(n, inf)), zero, n);
    n = vminq_f64(n, vdupq_n_f64(DBL_MAX));
    d = vminq_f64(d, vdupq_n_f64(DBL_MAX));
    sc = vminq_f64(vmaxq_f64(d, vdupq_n_f64(0x1p-1000)), vdupq_n_f64(0x1p1000));
    sc = vreinterpretq_f64_u64(vsubq_u64(vdupq_n_u64(0x7fe0000000000000ull),
                                         vandq_u64(vreinterpretq_u64_f64(sc), vdupq_n_u64(0x7ff0000000000000ull))));
    sc = vbslq_f64(in, one, sc);
    n = vmulq_f64(n, sc);
    d = vmulq_f64(d, sc);
    d = vbslq_f64(vceqq_f64(d, zero), one, d);
    return vbslq_f64(vandq_u64(vceqq_f64(x, x), vceqq_f64(y, y)), entk__atan2_core_neon(n, d, swap, y, x),
                     vaddq_f64(x, y));
}

static inline float64x2_t entk__atan2_neon(float64x2_t y, float64x2_t x) {
    float64x2_t ay = vabsq_f64(y), ax = vabsq_f64(x), d = vmaxq_f64(ay, ax);
    uint64x2_t in = vandq_u64(vcgeq_f64(d, vdupq_n_f64(0x1p-960)), vcleq_f64(d, vdupq_n_f64(0x1p960)));
    if (vminvq_u32(vreinterpretq_u32_u64(in)) == 0) return entk__atan2_wide_neon(y, x);
    return entk__atan2_core_neon(vminq_f64(ay, ax), d, vcgtq_f64(ay, ax), y, x);
}

/* out[i] = atan2(y[i], x[i]) on 2 lanes, the last one padded (for tests; the library does not call it) */
static inline void entk__atan2_array_neon(size_t n, const double *y, const double *x, double *out) {
    size_t i = 0;
    for (; i + 2 <= n; i += 2) vst1q_f64(out + i, entk__atan2_neon(vld1q_f64(y + i), vld1q_f64(x + i)));
    if (i < n) {
        double py[2] = {0, 0}, px[2] = {1, 1}, po[2];
        py[0] = y[i]; px[0] = x[i];
        vst1q_f64(po, entk__atan2_neon(vld1q_f64(py), vld1q_f64(px)));
        out[i] = po[0];
    }
}

static inline float64x2_t entk__angle_neon(float64x2_t a, float64x2_t b, float64x2_t c, float64x2_t *s) {
    const float64x2_t zero = vdupq_n_f64(0.0);
    float64x2_t ss = vsqrtq_f64(vmaxq_f64(vsubq_f64(vmulq_f64(a, b), vmulq_f64(c, c)), zero));
    float64x2_t ang = entk__atan2_neon(ss, c);
    uint64x2_t deg = vandq_u64(vceqq_f64(ss, zero), vceqq_f64(c, zero));
    *s = ss;
    return vbslq_f64(deg, vdupq_n_f64(0.5 * ENTK__PI), ang);
}

/* the fast ranges, as entk__relu_ok_avx2 / entk__smooth_ok_avx2 */
static inline uint64x2_t entk__relu_ok_neon(float64x2_t a, float64x2_t b, float64x2_t c) {
    const float64x2_t p = vmulq_f64(a, b);
    ENTK__UNUSED(c);
    return vorrq_u64(vandq_u64(vcgeq_f64(p, vdupq_n_f64(ENTK__RELU_LO)), vcleq_f64(p, vdupq_n_f64(ENTK__RELU_HI))),
                     vceqq_f64(vminq_f64(a, b), vdupq_n_f64(0.0)));
}
static inline uint64x2_t entk__smooth_ok_neon(float64x2_t a, float64x2_t b, float64x2_t c) {
    const float64x2_t hi = vdupq_n_f64(ENTK__SMOOTH_HI);
    ENTK__UNUSED(c);
    return vandq_u64(vcleq_f64(vmulq_f64(a, b), hi), vcleq_f64(vmaxq_f64(a, b), hi));
}

static inline float64x2_t entk__relu_blk_neon(float64x2_t a, float64x2_t b, float64x2_t c, float64x2_t *d,
                                              const entk_nonlin *f) {
    const float64x2_t k = vdupq_n_f64(0.5 / ENTK__PI);
    float64x2_t s, pt = vsubq_f64(vdupq_n_f64(ENTK__PI), entk__angle_neon(a, b, c, &s));
    ENTK__UNUSED(f);
    *d = vmulq_f64(pt, k);
    return vmulq_f64(vaddq_f64(s, vmulq_f64(pt, c)), k);
}
ENTK__NEON_RDRIVER(entk__relu_map_neon, entk__relu_blk_neon, entk__relu_ok_neon, entk__relu_map_scalar)

static inline float64x2_t entk__leaky_blk_neon(float64x2_t a, float64x2_t b, float64x2_t c, float64x2_t *d,
                                               const entk_nonlin *f) {
    const double al = f->a;
    const float64x2_t k = vdupq_n_f64(0.5 / ENTK__PI), sq = vdupq_n_f64((1.0 - al) * (1.0 - al));
    const float64x2_t pp = vdupq_n_f64(1.0 + al * al), cr = vdupq_n_f64(2.0 * al);
    float64x2_t s, ang = entk__angle_neon(a, b, c, &s);
    float64x2_t w = vaddq_f64(vmulq_f64(pp, vsubq_f64(vdupq_n_f64(ENTK__PI), ang)), vmulq_f64(cr, ang));
    *d = vmulq_f64(w, k);
    return vmulq_f64(vaddq_f64(vmulq_f64(sq, s), vmulq_f64(w, c)), k);
}
ENTK__NEON_RDRIVER(entk__leaky_map_neon, entk__leaky_blk_neon, entk__relu_ok_neon, entk__leaky_map_scalar)

static inline float64x2_t entk__erf_blk_neon(float64x2_t a, float64x2_t b, float64x2_t c, float64x2_t *d,
                                             const entk_nonlin *f) {
    const float64x2_t one = vdupq_n_f64(1.0), two = vdupq_n_f64(2.0);
    float64x2_t rad = vmaxq_f64(vsubq_f64(vmulq_f64(a, b), vmulq_f64(c, c)), vdupq_n_f64(0.0));
    float64x2_t s = vsqrtq_f64(vaddq_f64(vaddq_f64(one, vmulq_f64(two, vaddq_f64(a, b))),
                                         vmulq_f64(vdupq_n_f64(4.0), rad)));
    ENTK__UNUSED(f);
    *d = vdivq_f64(vdupq_n_f64(4.0 / ENTK__PI), s);
    return vmulq_f64(vdupq_n_f64(2.0 / ENTK__PI), entk__atan2_neon(vmulq_f64(two, c), s));
}
ENTK__NEON_RDRIVER(entk__erf_map_neon, entk__erf_blk_neon, entk__smooth_ok_neon, entk__erf_map_scalar)

static inline float64x2_t entk__gelu_blk_neon(float64x2_t a, float64x2_t b, float64x2_t c, float64x2_t *d,
                                              const entk_nonlin *f) {
    const float64x2_t one = vdupq_n_f64(1.0), k = vdupq_n_f64(0.5 / ENTK__PI), qr = vdupq_n_f64(0.25);
    float64x2_t rad = vmaxq_f64(vsubq_f64(vmulq_f64(a, b), vmulq_f64(c, c)), vdupq_n_f64(0.0));
    float64x2_t dd = vaddq_f64(vaddq_f64(vaddq_f64(one, a), b), rad);
    float64x2_t q = vsqrtq_f64(dd), ang = entk__atan2_neon(c, q);
    float64x2_t ia = vdivq_f64(one, vaddq_f64(one, a)), ib = vdivq_f64(one, vaddq_f64(one, b));
    float64x2_t x1 = vmulq_f64(c, ang);
    float64x2_t x2 = vmulq_f64(vmulq_f64(vmulq_f64(a, ia), vmulq_f64(b, ib)), q);
    float64x2_t x3 = vdivq_f64(vmulq_f64(vmulq_f64(c, c), vmulq_f64(ia, ib)), q);
    float64x2_t y2 = vdivq_f64(vmulq_f64(c, vaddq_f64(ia, ib)), q);
    float64x2_t y3 = vdivq_f64(vdivq_f64(c, dd), q);
    ENTK__UNUSED(f);
    *d = vaddq_f64(qr, vmulq_f64(k, vaddq_f64(vaddq_f64(ang, y2), y3)));
    return vaddq_f64(vmulq_f64(qr, c), vmulq_f64(k, vaddq_f64(vaddq_f64(x1, x2), x3)));
}
ENTK__NEON_RDRIVER(entk__gelu_map_neon, entk__gelu_blk_neon, entk__smooth_ok_neon, entk__gelu_map_scalar)

#ifndef ENTK_NO_SLEEF

static inline float64x2_t entk__sin_blk_neon(float64x2_t a, float64x2_t b, float64x2_t c, float64x2_t *d,
                                             const entk_nonlin *f) {
    const float64x2_t half = vdupq_n_f64(0.5);
    const uint64x2_t sgn = vdupq_n_u64(0x8000000000000000ull);
    float64x2_t m = vaddq_f64(vmulq_f64(half, a), vmulq_f64(half, b)), ac = vabsq_f64(c);
    float64x2_t e = Sleef_expd2_u10advsimd(vsubq_f64(ac, m));
    float64x2_t x = vnegq_f64(Sleef_expm1d2_u10advsimd(vmulq_f64(vdupq_n_f64(-2.0), ac)));
    float64x2_t h = vmulq_f64(half, e);
    ENTK__UNUSED(f);
    *d = vmulq_f64(h, vsubq_f64(vdupq_n_f64(2.0), x));
    return vreinterpretq_f64_u64(vorrq_u64(vreinterpretq_u64_f64(vmulq_f64(h, x)),
                                           vandq_u64(vreinterpretq_u64_f64(c), sgn)));
}
ENTK__NEON_DRIVER(entk__sin_map_neon, entk__sin_blk_neon)

#endif /* ENTK_NO_SLEEF */
#endif /* ENTK__HAVE_NEON */


/* The maps' table rows are in 9.7. relu, leaky_relu, erf and gelu use entk's own vector atan2 and are
 * vectorised with or without SLEEF; without SLEEF sin (SLEEF's exp) runs the scalar libm kernel on
 * every path (per-lane libm calls from vector code would only add shuffles). */

/* entk_nonlin_map on a given table (the library's own callers pass the table they read once). */
static entk_status entk__nonlin_map(const entk__kernels *kt, const entk_nonlin *f, size_t n,
                                    const double *k11, size_t inc11, const double *k22, size_t inc22,
                                    const double *k12, const double *theta, double *t, double *theta_out) {
    if (!f || inc11 > 1 || inc22 > 1 || (!theta) != (!theta_out)) return ENTK_ERR_INVALID_ARG;
    if ((unsigned)f->kind > (unsigned)ENTK_NL_CUSTOM) return ENTK_ERR_UNSUPPORTED;
    if (n == 0) return ENTK_OK;
    if (!k11 || !k22 || !k12 || !t) return ENTK_ERR_INVALID_ARG;
    if (f->kind == ENTK_NL_CUSTOM && (!f->phi || !f->dphi || f->order < 0 || f->order > ENTK__QUAD_MAX))
        return ENTK_ERR_INVALID_ARG;
    kt->map[f->kind](n, k11, inc11, k22, inc22, k12, theta, t, theta_out, f);
    return ENTK_OK;
}

ENTKDEF entk_status entk_nonlin_map(const entk_nonlin *f, size_t n,
                                    const double *k11, size_t inc11,
                                    const double *k22, size_t inc22,
                                    const double *k12, const double *theta,
                                    double *t, double *theta_out) {
    return entk__nonlin_map(entk__kt(), f, n, k11, inc11, k22, inc22, k12, theta, t, theta_out);
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
    l.B = 0;
    return l;
}

/* One row per layer name. Adding a layer is adding a row (and naming it in the rows of its keys). */
typedef struct entk__layer_spec {
    const char *name;
    entk_layer_kind kind;
    entk_nonlin_kind nl;
} entk__layer_spec;

static const entk__layer_spec entk__layer_specs[] = {
    {"dense", ENTK_LAYER_DENSE, ENTK_NL_IDENTITY},
    {"relu", ENTK_LAYER_NONLIN, ENTK_NL_RELU},
    {"erf", ENTK_LAYER_NONLIN, ENTK_NL_ERF},
    {"gelu", ENTK_LAYER_NONLIN, ENTK_NL_GELU},
    {"sin", ENTK_LAYER_NONLIN, ENTK_NL_SIN},
    {"identity", ENTK_LAYER_NONLIN, ENTK_NL_IDENTITY},
    {"leaky_relu", ENTK_LAYER_NONLIN, ENTK_NL_LEAKY_RELU},
    {"conv", ENTK_LAYER_CONV, ENTK_NL_IDENTITY},
    {"avgpool", ENTK_LAYER_AVGPOOL, ENTK_NL_IDENTITY},
    {"gap", ENTK_LAYER_GAP, ENTK_NL_IDENTITY},
    {"flatten", ENTK_LAYER_FLATTEN, ENTK_NL_IDENTITY},
    {"lift", ENTK_LAYER_LIFT, ENTK_NL_IDENTITY},
    {"gconv", ENTK_LAYER_GCONV, ENTK_NL_IDENTITY},
    {"gpool", ENTK_LAYER_GPOOL, ENTK_NL_IDENTITY},
    {"rotpool", ENTK_LAYER_ROTPOOL, ENTK_NL_IDENTITY},
    {"s2lift", ENTK_LAYER_S2LIFT, ENTK_NL_IDENTITY},
    {"so3conv", ENTK_LAYER_SO3CONV, ENTK_NL_IDENTITY},
    {"so3pool", ENTK_LAYER_SO3POOL, ENTK_NL_IDENTITY},
    {"atomsum", ENTK_LAYER_ATOMSUM, ENTK_NL_IDENTITY},
};

/* How a key's value is read and checked (the value token must be a whole finite number unless ENUM). */
typedef enum entk__key_value {
    ENTK__V_NONNEG, /* a real >= 0, into a double field */
    ENTK__V_REAL,   /* any finite real, into a double field */
    ENTK__V_INT,    /* an integer in [lo, hi], into an int field */
    ENTK__V_ODD,    /* an odd integer in [lo, hi], into an int field */
    ENTK__V_POW2,   /* a power of two in [lo, hi], into an int field */
    ENTK__V_ENUM    /* one of the words of `values`, its index into an enum field (0, 1, ... in order) */
} entk__key_value;

/* One row per key of the grammar (docs/conventions.md §5.2): its name, the entk_layer field it sets,
 * how the value is checked, and the layers that take it. Adding a key is adding a row. */
typedef struct entk__key {
    const char *name;
    size_t field; /* offsetof(entk_layer, ...) */
    entk__key_value value;
    int lo, hi;          /* INT, ODD, POW2 */
    const char *values;  /* ENUM: the value names, space-separated, in the order of the enum */
    const char *layers;  /* the layer names that accept the key, space-separated */
} entk__key;

#define ENTK__WEIGHTED "dense conv lift gconv s2lift so3conv"
static const entk__key entk__keys[] = {
    {"sw", offsetof(entk_layer, sw), ENTK__V_NONNEG, 0, 0, NULL, ENTK__WEIGHTED},
    {"sb", offsetof(entk_layer, sb), ENTK__V_NONNEG, 0, 0, NULL, ENTK__WEIGHTED},
    {"q", offsetof(entk_layer, q), ENTK__V_ODD, 1, 99, NULL, "conv lift gconv"},
    {"pad", offsetof(entk_layer, pad), ENTK__V_ENUM, 0, 0, "valid same circular", "conv lift gconv"},
    {"n", offsetof(entk_layer, n), ENTK__V_POW2, 1, 4, NULL, "lift"},
    {"flip", offsetof(entk_layer, flip), ENTK__V_INT, 0, 1, NULL, "lift"},
    {"support", offsetof(entk_layer, support), ENTK__V_ENUM, 0, 0, "all id", "gconv"},
    {"p", offsetof(entk_layer, p), ENTK__V_INT, 1, 1024, NULL, "avgpool"},
    {"L", offsetof(entk_layer, L), ENTK__V_INT, 1, ENTK_SO3_MAX_BAND, NULL, "s2lift so3conv"},
    {"Lout", offsetof(entk_layer, Lout), ENTK__V_INT, 1, ENTK_SO3_MAX_BAND, NULL, "s2lift"},
    {"B", offsetof(entk_layer, B), ENTK__V_INT, 1, ENTK_SO3_MAX_BAND, NULL, "s2lift so3conv"},
    {"a", offsetof(entk_layer, nl.a), ENTK__V_REAL, 0, 0, NULL, "leaky_relu"},
};
#undef ENTK__WEIGHTED
#define ENTK__N_KEYS (sizeof entk__keys / sizeof entk__keys[0])
/* The parser marks the keys seen in a layer in an unsigned, and ENUM values are stored as an int. */
typedef char entk__keys_fit_a_mask[ENTK__N_KEYS <= 16 ? 1 : -1];
typedef char entk__enums_are_ints[sizeof(entk_pad) == sizeof(int) && sizeof(entk_support) == sizeof(int) ? 1 : -1];

ENTKDEF const char *entk_layer_name(const entk_layer *l) {
    size_t k;
    if (!l) return "?";
    if (l->kind == ENTK_LAYER_NONLIN && l->nl.kind == ENTK_NL_CUSTOM) return "custom";
    for (k = 0; k < sizeof entk__layer_specs / sizeof entk__layer_specs[0]; ++k)
        if (entk__layer_specs[k].kind == l->kind &&
            (l->kind != ENTK_LAYER_NONLIN || entk__layer_specs[k].nl == l->nl.kind))
            return entk__layer_specs[k].name;
    return "?";
}

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

/* A token echoed into a parser message: at most 32 bytes of it, then "..." (printf '%.*s%s'), so the
 * rest of the message (the layer it is in) survives a long or garbled token. */
#define ENTK__TOKEN_MAX 32
#define ENTK__TOKEN(s, len) (int)((len) > ENTK__TOKEN_MAX ? ENTK__TOKEN_MAX : (len)), (s), \
    (len) > ENTK__TOKEN_MAX ? "..." : ""

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

/* The index of the token s[0..len) among the space-separated words of list, or -1. */
static int entk__word_index(const char *list, const char *s, size_t len) {
    int i = 0;
    while (*list) {
        size_t w = 0;
        while (list[w] && list[w] != ' ') ++w;
        if (w == len && memcmp(list, s, len) == 0) return i;
        list += w;
        while (*list == ' ') ++list;
        ++i;
    }
    return -1;
}

/* Set key=value on a layer; returns 0 and writes err on a bad value. */
static int entk__set_key(entk_layer *l, const entk__key *key, const char *v, size_t vlen, const char *lname,
                         size_t lnlen, char *err, size_t errlen) {
    char *field = (char *)l + key->field;
    double x = 0;
    int iv;
    if (key->value == ENTK__V_ENUM) {
        iv = entk__word_index(key->values, v, vlen);
        if (iv < 0) goto bad;
        memcpy(field, &iv, sizeof iv);
        return 1;
    }
    if (!entk__parse_number(v, vlen, &x)) goto bad;
    if (key->value == ENTK__V_NONNEG || key->value == ENTK__V_REAL) {
        if (key->value == ENTK__V_NONNEG && x < 0) goto bad;
        memcpy(field, &x, sizeof x);
        return 1;
    }
    if (x != floor(x) || x < key->lo || x > key->hi) goto bad;
    iv = (int)x;
    if (key->value == ENTK__V_ODD && iv % 2 == 0) goto bad;
    if (key->value == ENTK__V_POW2 && (iv < 1 || (iv & (iv - 1)) != 0)) goto bad;
    memcpy(field, &iv, sizeof iv);
    return 1;
bad:
    entk__arch_error(err, errlen, "bad value '%.*s%s' for %s in layer '%.*s'", ENTK__TOKEN(v, vlen), key->name,
                     (int)lnlen, lname);
    return 0;
}

ENTKDEF size_t entk_arch_sizeof(void) { return sizeof(entk_arch); }

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
        if (!spec) return entk__arch_error(err, errlen, "unknown layer '%.*s%s'", ENTK__TOKEN(name, nlen));
        if (arch->n_layers >= ENTK_MAX_LAYERS)
            return entk__arch_error(err, errlen, "too many layers (at most %d)", ENTK_MAX_LAYERS);
        l = entk_layer_default(spec->kind);
        l.nl.kind = spec->nl;
        if (spec->nl == ENTK_NL_LEAKY_RELU) l.nl.a = 0.01;
        if (*s == '(') {
            unsigned seen = 0; /* keys given so far: a repeated key is an error, not "last one wins" */
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
                for (j = 0; j < (int)ENTK__N_KEYS; ++j)
                    if (entk__token_eq(key, klen, entk__keys[j].name)) ki = j;
                if (ki < 0 || entk__word_index(entk__keys[ki].layers, spec->name, strlen(spec->name)) < 0)
                    return entk__arch_error(err, errlen, "unknown key '%.*s%s' for layer '%.*s'",
                                            ENTK__TOKEN(key, klen), (int)nlen, name);
                if (seen & (1u << ki))
                    return entk__arch_error(err, errlen, "key '%s' given twice in layer '%.*s'",
                                            entk__keys[ki].name, (int)nlen, name);
                seen |= 1u << ki;
                if (!entk__set_key(&l, &entk__keys[ki], val, vlen, name, nlen, err, errlen))
                    return ENTK_ERR_ARCH;
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
/* 9.4b Architecture checks: the layer rules of every domain, once                                */
/* ============================================================================================== */

/* The default grid band limit of an SO(3) layer (entk_so3_default_band; measured in entk_so3.h). */
#define ENTK__SO3_DEFAULT_BAND(L) ((L) + 2)

/* ============================================================================================== */
/* ============================================================================================== */

/* What a scan learns about an architecture (the image planner, entk_cn.h 2.1, sizes from it). */
typedef struct entk__arch_info {
    int red;     /* image, SO(3): index of the reduction layer (gap, gpool, flatten, so3pool) */
    int ng_max;  /* image: largest group a lift lifts to, 1 without lifts */
    size_t self; /* image, with a shape: the pixels entering each image nonlinearity, summed;
                    SO(3): the nonlinearities before so3pool (one diagonal value each) */
    int band[ENTK_MAX_LAYERS]; /* SO(3), with a shape: per layer, the band limit of its output's
                    coefficients (s2lift Lout, so3conv L; 0 elsewhere) */
    int grid[ENTK_MAX_LAYERS]; /* SO(3), with a shape: per layer, the band limit of the grid its
                    output lives on after it (the B of the last s2lift/so3conv; 0 after so3pool) */
    int grid_max, band_max;    /* SO(3): the largest of grid[], band[] */
    entk_domain atom;          /* molecule: the atom network's domain (MLP or SO(3)) */
} entk__arch_info;

/* "layer L 'name': " and the message into err; returns st. */
static entk_status entk__layer_error(entk_status st, char *err, size_t errlen, const entk_arch *a, int l,
                                     const char *fmt, ...) {
    if (err && errlen) {
        int n = snprintf(err, errlen, "layer %d '%s': ", l + 1, entk_layer_name(&a->layer[l]));
        if (n >= 0 && (size_t)n < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return st;
}

/* The domain a single layer kind belongs to; unknown kinds count as MLP (the MLP rules reject them). */
static entk_domain entk__kind_domain(entk_layer_kind k) {
    switch (k) {
    case ENTK_LAYER_CONV: case ENTK_LAYER_LIFT: case ENTK_LAYER_GCONV: case ENTK_LAYER_AVGPOOL:
    case ENTK_LAYER_GAP: case ENTK_LAYER_FLATTEN: case ENTK_LAYER_GPOOL: case ENTK_LAYER_ROTPOOL:
        return ENTK_DOMAIN_IMAGE;
    case ENTK_LAYER_S2LIFT: case ENTK_LAYER_SO3CONV: case ENTK_LAYER_SO3POOL: return ENTK_DOMAIN_SO3;
    case ENTK_LAYER_ATOMSUM: return ENTK_DOMAIN_MOLECULE;
    default: return ENTK_DOMAIN_MLP;
    }
}

/* Layer l stands where only a dense layer or a nonlinearity may: in an MLP (red < 0) or after the
 * reduction at red. The reason, as ENTK_ERR_ARCH. */
static entk_status entk__arch_not_scalar(const entk_arch *a, int l, int red, char *err, size_t errlen) {
    const entk_layer_kind k = a->layer[l].kind;
    if (k == ENTK_LAYER_ATOMSUM)
        return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "atomsum must be the last layer, after an MLP "
                                 "or SO(3) atom network");
    if (entk__kind_domain(k) == ENTK_DOMAIN_SO3 && red < 0)
        return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "an SO(3) layer outside an SO(3) network (one "
                                 "starts with s2lift)");
    if ((unsigned)k > (unsigned)ENTK_LAYER_ATOMSUM)
        return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "unknown layer kind %d", (int)k);
    if (red < 0)
        return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "an MLP has only dense layers and nonlinearities");
    return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l,
                             "only dense layers and nonlinearities may follow the reduction (layer %d '%s')", red + 1,
                             entk_layer_name(&a->layer[red]));
}

ENTKDEF int entk_so3_default_band(int L) {
    if (L < 1) return 1;
    if (L > ENTK_SO3_MAX_BAND) return ENTK_SO3_MAX_BAND;
    return ENTK__SO3_DEFAULT_BAND(L) < ENTK_SO3_MAX_BAND ? ENTK__SO3_DEFAULT_BAND(L) : ENTK_SO3_MAX_BAND;
}

static entk_status entk__arch_scan(const entk__kernels *kt, const entk_arch *a, entk_domain dom, const size_t *chw,
                                   char *err, size_t errlen, entk__arch_info *info);

/* A molecule architecture: the atom network, then atomsum as the last layer and only there. The atom
 * network is scanned as the architecture of its own domain (MLP, or SO(3) with chw the atom signals'
 * C x 2L x (2L - 1)); info->atom names it. */
static entk_status entk__arch_scan_molecule(const entk__kernels *kt, const entk_arch *a, const size_t *chw,
                                            char *err, size_t errlen, entk__arch_info *info) {
    entk_arch atom;
    entk_domain d = ENTK_DOMAIN_MLP;
    entk_status st;
    int l;
    for (l = 0; l + 1 < a->n_layers; ++l) {
        const entk_domain k = entk__kind_domain(a->layer[l].kind);
        if (a->layer[l].kind == ENTK_LAYER_ATOMSUM) return entk__arch_not_scalar(a, l, -1, err, errlen);
        if (k > d) d = k;
    }
    if (a->layer[a->n_layers - 1].kind != ENTK_LAYER_ATOMSUM)
        return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, a->n_layers - 1, "a molecule architecture ends "
                                 "with atomsum");
    if (a->n_layers == 1)
        return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, 0, "atomsum needs an atom network before it");
    if (d == ENTK_DOMAIN_IMAGE) {
        for (l = 0; entk__kind_domain(a->layer[l].kind) != ENTK_DOMAIN_IMAGE; ++l) {}
        return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "an image layer in an atom network (atomsum "
                                 "takes an MLP or SO(3) atom network)");
    }
    atom = *a;
    atom.n_layers = a->n_layers - 1;
    if ((st = entk__arch_scan(kt, &atom, d, d == ENTK_DOMAIN_SO3 ? chw : NULL, err, errlen, info))) return st;
    if (info) info->atom = d;
    return ENTK_OK;
}

/* The rules of domain dom, layer by layer in order; with chw = {C, H, W} also the size rules, at the
 * layer where each applies (images: C x H x W; SO(3): C x 2L x (2L - 1) samples on the input grid of
 * band limit L; molecules: the atom signals). The first broken rule gives the status and the message
 * (err may be NULL). info (may be NULL) is filled on success. This is the only copy of the rules:
 * entk_mlp_kernel, entk_mlp_diag, the image and SO(3) planners (entk_cn.h, entk_so3.h),
 * entk_arch_check and the shape checks all call it. */
static entk_status entk__arch_scan(const entk__kernels *kt, const entk_arch *a, entk_domain dom, const size_t *chw,
                                   char *err, size_t errlen, entk__arch_info *info) {
    const int img = dom == ENTK_DOMAIN_IMAGE, so3 = dom == ENTK_DOMAIN_SO3, pre = img || so3;
    int l, red = -1, ng = 1, ng_max = 1, lift_at = -1, pool_at = -1;
    int band = 0, grid = 0, grid_max = 0, band_max = 0, lin = 0; /* SO(3) */
    size_t h = 0, w = 0, self = 0;
    entk_status st;
    if (err && errlen) err[0] = 0;
    if (!a) {
        (void)entk__arch_error(err, errlen, "no architecture (NULL)");
        return ENTK_ERR_INVALID_ARG;
    }
    if (a->n_layers < 1 || a->n_layers > ENTK_MAX_LAYERS) {
        (void)entk__arch_error(err, errlen, "%d layers (1 to %d allowed)", a->n_layers, ENTK_MAX_LAYERS);
        return ENTK_ERR_INVALID_ARG;
    }
    if (info) memset(info, 0, sizeof *info);
    if (dom == ENTK_DOMAIN_MOLECULE) return entk__arch_scan_molecule(kt, a, chw, err, errlen, info);
    if (chw && so3) {
        if (chw[0] == 0 || chw[1] < 2 || chw[1] % 2 != 0 || chw[2] != chw[1] - 1) {
            (void)entk__arch_error(err, errlen, "spherical signals are C x 2L x (2L - 1) samples, not %zu x %zu x %zu",
                                   chw[0], chw[1], chw[2]);
            return ENTK_ERR_SHAPE;
        }
        if (chw[1] / 2 > ENTK_SO3_MAX_BAND) {
            (void)entk__arch_error(err, errlen, "band limit %zu of the %zu x %zu input grid exceeds %d", chw[1] / 2,
                                   chw[1], chw[2], ENTK_SO3_MAX_BAND);
            return ENTK_ERR_SHAPE;
        }
        lin = (int)(chw[1] / 2);
    } else if (chw) {
        if (chw[0] == 0 || chw[1] == 0 || chw[2] == 0) {
            (void)entk__arch_error(err, errlen, "empty images (%zu x %zu x %zu)", chw[0], chw[1], chw[2]);
            return ENTK_ERR_SHAPE;
        }
        h = chw[1];
        w = chw[2];
    }
    /* the first layer has weights: it is where the input enters (docs/conventions.md §1) */
    if (so3 && a->layer[0].kind != ENTK_LAYER_S2LIFT)
        return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, 0, "an SO(3) architecture starts with s2lift");
    if (img && a->layer[0].kind != ENTK_LAYER_CONV && a->layer[0].kind != ENTK_LAYER_LIFT) {
        if (entk__kind_domain(a->layer[0].kind) >= ENTK_DOMAIN_SO3 ||
            (unsigned)a->layer[0].kind > (unsigned)ENTK_LAYER_ATOMSUM)
            return entk__arch_not_scalar(a, 0, -1, err, errlen);
        return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, 0, "an image architecture starts with conv or lift");
    }
    if (!pre && a->layer[0].kind != ENTK_LAYER_DENSE) {
        if (a->layer[0].kind != ENTK_LAYER_NONLIN) return entk__arch_not_scalar(a, 0, -1, err, errlen);
        return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, 0, "an MLP starts with a dense layer");
    }
    for (l = 0; l < a->n_layers; ++l) {
        const entk_layer *ly = &a->layer[l];
        if (info && l > 0) { /* the SO(3) band limits after layer l - 1 */
            info->band[l - 1] = band;
            info->grid[l - 1] = grid;
        }
        if (!(ly->sw >= 0 && ly->sw <= DBL_MAX && ly->sb >= 0 && ly->sb <= DBL_MAX))
            return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "sw and sb must be finite and >= 0, not %g and %g",
                                     ly->sw, ly->sb);
        if (ly->kind == ENTK_LAYER_NONLIN) { /* probe the map: its own argument checks */
            double one = 1.0, v;
            if ((st = entk__nonlin_map(kt, &ly->nl, 1, &one, 0, &one, 0, &one, NULL, &v, NULL))) {
                if (st == ENTK_ERR_UNSUPPORTED)
                    return entk__layer_error(st, err, errlen, a, l, "unknown nonlinearity kind %d", (int)ly->nl.kind);
                return entk__layer_error(st, err, errlen, a, l, "a custom nonlinearity needs phi, dphi and an order "
                                         "from 0 to 128 (it has order %d)", ly->nl.order);
            }
            if (img && red < 0) self += h * w;
            if (so3 && red < 0) self += 1;
            continue;
        }
        if (!pre || red >= 0) { /* the scalar phase */
            if (ly->kind != ENTK_LAYER_DENSE) return entk__arch_not_scalar(a, l, red, err, errlen);
            continue;
        }
        if (ly->kind != ENTK_LAYER_DENSE && entk__kind_domain(ly->kind) != dom) {
            if (so3 && entk__kind_domain(ly->kind) == ENTK_DOMAIN_IMAGE)
                return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "an image layer in an SO(3) network");
            return entk__arch_not_scalar(a, l, -1, err, errlen);
        }
        switch (ly->kind) {
        case ENTK_LAYER_S2LIFT:
        case ENTK_LAYER_SO3CONV: {
            /* the coefficient band limit of the output, checked against what the layer reads: the input
             * grid (s2lift) or the grid of the layer before (so3conv) */
            const int lift = ly->kind == ENTK_LAYER_S2LIFT;
            const int from = lift ? lin : grid; /* 0: not known (no shape) */
            int lo = lift ? (ly->Lout ? ly->Lout : ly->L ? ly->L : lin) : (ly->L ? ly->L : band);
            if (lift && l != 0)
                return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "s2lift must be the first layer (the "
                                         "maps are already on SO(3): use so3conv)");
            if (ly->L < 0 || ly->L > ENTK_SO3_MAX_BAND || ly->Lout < 0 || ly->Lout > ENTK_SO3_MAX_BAND ||
                ly->B < 0 || ly->B > ENTK_SO3_MAX_BAND)
                return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "band limits L=%d, Lout=%d, B=%d must be "
                                         "from 1 to %d", ly->L, ly->Lout, ly->B, ENTK_SO3_MAX_BAND);
            if (lift && ly->L && lin && ly->L != lin)
                return entk__layer_error(ENTK_ERR_SHAPE, err, errlen, a, l, "L=%d, but the inputs are sampled on "
                                         "the grid of band limit %d (%d x %d)", ly->L, lin, 2 * lin, 2 * lin - 1);
            if (lift && ly->L && ly->Lout > ly->L)
                return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "Lout=%d exceeds the input band limit "
                                         "L=%d", ly->Lout, ly->L);
            if (from && lo > from)
                return entk__layer_error(lift ? ENTK_ERR_SHAPE : ENTK_ERR_ARCH, err, errlen, a, l,
                                         "%s=%d exceeds the band limit %d of the grid it reads", lift ? "Lout" : "L",
                                         lo, from);
            if (ly->B && lo && ly->B < lo)
                return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "B=%d must be at least the band limit %d "
                                         "(B >= L)", ly->B, lo);
            band = lo;
            grid = ly->B ? ly->B : lo ? entk_so3_default_band(lo) : 0;
            if (band > band_max) band_max = band;
            if (grid > grid_max) grid_max = grid;
            break;
        }
        case ENTK_LAYER_SO3POOL:
            red = l;
            grid = 0;
            break;
        case ENTK_LAYER_CONV:
        case ENTK_LAYER_LIFT:
        case ENTK_LAYER_GCONV:
            if (ly->q < 1 || ly->q % 2 != 1 || ly->q > 99)
                return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "window q=%d must be odd, from 1 to 99", ly->q);
            if (ly->pad != ENTK_PAD_VALID && ly->pad != ENTK_PAD_SAME && ly->pad != ENTK_PAD_CIRCULAR)
                return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "unknown padding %d (valid, same or circular)",
                                         (int)ly->pad);
            if (ly->kind == ENTK_LAYER_CONV && ng != 1)
                return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "conv needs pixel maps, but layer %d 'lift' "
                                         "lifted them to a group of %d elements: use gconv, or rotpool first",
                                         lift_at + 1, ng);
            if (ly->kind == ENTK_LAYER_GCONV && lift_at < 0) {
                if (pool_at >= 0)
                    return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "gconv must follow a lift (layer %d "
                                             "'rotpool' pooled the group away)", pool_at + 1);
                return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "gconv must follow a lift");
            }
            if (ly->kind == ENTK_LAYER_GCONV && ly->support != ENTK_SUPPORT_ALL && ly->support != ENTK_SUPPORT_ID)
                return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "unknown support %d (all or id)",
                                         (int)ly->support);
            if (ly->kind == ENTK_LAYER_LIFT) {
                if (lift_at >= 0)
                    return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "the maps are already lifted (layer %d "
                                             "'lift'): rotpool before lifting again", lift_at + 1);
                if (ly->n != 1 && ly->n != 2 && ly->n != 4)
                    return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "n=%d rotations: only 1, 2 or 4", ly->n);
                if (ly->flip != 0 && ly->flip != 1)
                    return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "flip=%d must be 0 or 1", ly->flip);
                lift_at = l;
                ng = ly->n * (1 + ly->flip);
                if (ng > ng_max) ng_max = ng;
            }
            if (chw && ly->pad == ENTK_PAD_VALID) {
                if (h < (size_t)ly->q || w < (size_t)ly->q)
                    return entk__layer_error(ENTK_ERR_SHAPE, err, errlen, a, l, "window %d larger than the %zu x %zu input",
                                             ly->q, h, w);
                h -= (size_t)ly->q - 1;
                w -= (size_t)ly->q - 1;
            }
            break;
        case ENTK_LAYER_AVGPOOL:
            if (ly->p < 1)
                return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "pool size p=%d must be at least 1", ly->p);
            if (chw) {
                if (h < (size_t)ly->p || w < (size_t)ly->p)
                    return entk__layer_error(ENTK_ERR_SHAPE, err, errlen, a, l, "pool %d larger than the %zu x %zu input",
                                             ly->p, h, w);
                h /= (size_t)ly->p;
                w /= (size_t)ly->p;
            }
            break;
        case ENTK_LAYER_ROTPOOL:
            if (lift_at < 0)
                return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "rotpool must follow a lift (the maps are "
                                         "not lifted)");
            lift_at = -1;
            pool_at = l;
            ng = 1;
            break;
        case ENTK_LAYER_GAP:
        case ENTK_LAYER_GPOOL:
        case ENTK_LAYER_FLATTEN:
            red = l;
            break;
        case ENTK_LAYER_DENSE:
            return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, l, "a dense layer needs scalars: reduce the maps "
                                     "with %s before it", so3 ? "so3pool" : "gap, gpool or flatten");
        default:
            return entk__arch_not_scalar(a, l, -1, err, errlen); /* SO(3) layers, unknown kinds */
        }
    }
    if (pre && red < 0)
        return entk__layer_error(ENTK_ERR_ARCH, err, errlen, a, a->n_layers - 1, "the architecture ends without a "
                                 "reduction to scalars (%s)", so3 ? "so3pool" : "gap, gpool or flatten");
    if (info) {
        info->band[a->n_layers - 1] = band;
        info->grid[a->n_layers - 1] = grid;
        info->red = red;
        info->ng_max = ng_max;
        info->self = self;
        info->grid_max = grid_max;
        info->band_max = band_max;
    }
    return ENTK_OK;
}

ENTKDEF entk_status entk_arch_check(const entk_arch *arch, entk_domain *domain, char *err, size_t errlen) {
    entk_domain d = ENTK_DOMAIN_MLP;
    int l;
    if (!arch || arch->n_layers < 1 || arch->n_layers > ENTK_MAX_LAYERS) /* nothing to classify */
        return entk__arch_scan(entk__kt(), arch, d, NULL, err, errlen, NULL);
    for (l = 0; l < arch->n_layers; ++l) {
        const entk_domain k = entk__kind_domain(arch->layer[l].kind);
        if (k > d) d = k;
    }
    if (domain) *domain = d;
    return entk__arch_scan(entk__kt(), arch, d, NULL, err, errlen, NULL);
}

/* ============================================================================================== */
/* 9.5 MLP kernels                                                                                */
/* ============================================================================================== */

/* The affine update of every layer with weights (docs/conventions.md §1): k = cw k + b2, t = k + cw t (t may be NULL).
 * Separate multiplies and adds (never fused: ENTK__OPAQUE, and contraction is off, see 9.0) on every
 * path, so all paths give the same bits under any compiler flags. */
static void entk__affine1(double *k, double *t, double cw, double b2) {
    double p = cw * *k, kv;
    ENTK__OPAQUE(p);
    kv = p + b2;
    *k = kv;
    if (t) {
        p = cw * *t;
        ENTK__OPAQUE(p);
        *t = kv + p;
    }
}

static void entk__affine_scalar(double *k, double *t, size_t n, double cw, double b2) {
    size_t e;
    for (e = 0; e < n; ++e) entk__affine1(k + e, t ? t + e : NULL, cw, b2);
}

#if ENTK__HAVE_AVX2
__attribute__((target("avx2,fma"))) static void entk__affine_avx2(double *k, double *t, size_t n, double cw,
                                                                  double b2) {
    const __m256d vc = _mm256_set1_pd(cw), vb = _mm256_set1_pd(b2);
    size_t e = 0;
    for (; e + 4 <= n; e += 4) {
        __m256d p = _mm256_mul_pd(vc, _mm256_loadu_pd(k + e)), kv;
        ENTK__OPAQUE(p);
        kv = _mm256_add_pd(p, vb);
        _mm256_storeu_pd(k + e, kv);
        if (t) {
            p = _mm256_mul_pd(vc, _mm256_loadu_pd(t + e));
            ENTK__OPAQUE(p);
            _mm256_storeu_pd(t + e, _mm256_add_pd(kv, p));
        }
    }
    for (; e < n; ++e) entk__affine1(k + e, t ? t + e : NULL, cw, b2);
}
#endif /* ENTK__HAVE_AVX2 */
#if ENTK__HAVE_AVX512
/* entk__affine_avx2 on zmm: the same separate multiply and add per element, then its tail */
static ENTK__AVX512 void entk__affine_avx512(double *k, double *t, size_t n, double cw, double b2) {
    const __m512d vc = _mm512_set1_pd(cw), vb = _mm512_set1_pd(b2);
    size_t e = 0;
    for (; e + 8 <= n; e += 8) {
        __m512d p = _mm512_mul_pd(vc, _mm512_loadu_pd(k + e)), kv;
        ENTK__OPAQUE(p);
        kv = _mm512_add_pd(p, vb);
        _mm512_storeu_pd(k + e, kv);
        if (t) {
            p = _mm512_mul_pd(vc, _mm512_loadu_pd(t + e));
            ENTK__OPAQUE(p);
            _mm512_storeu_pd(t + e, _mm512_add_pd(kv, p));
        }
    }
    if (e < n) entk__affine_avx2(k + e, t ? t + e : NULL, n - e, cw, b2);
}
#endif /* ENTK__HAVE_AVX512 */

#if ENTK__HAVE_NEON
static void entk__affine_neon(double *k, double *t, size_t n, double cw, double b2) {
    const float64x2_t vc = vdupq_n_f64(cw), vb = vdupq_n_f64(b2);
    size_t e = 0;
    for (; e + 2 <= n; e += 2) {
        float64x2_t p = vmulq_f64(vc, vld1q_f64(k + e)), kv;
        ENTK__OPAQUE(p);
        kv = vaddq_f64(p, vb);
        vst1q_f64(k + e, kv);
        if (t) {
            p = vmulq_f64(vc, vld1q_f64(t + e));
            ENTK__OPAQUE(p);
            vst1q_f64(t + e, vaddq_f64(kv, p));
        }
    }
    for (; e < n; ++e) entk__affine1(k + e, t ? t + e : NULL, cw, b2);
}
#endif /* ENTK__HAVE_NEON */

/* Row kernels of entk_cn.h's window sums (kt->sum3, kt->addto, kt->stream, kt->fence). They only add,
 * in the same order on every path, so all paths give bit-identical sums. */
static void entk__sum3_scalar(const double *r0, const double *r1, const double *r2, double *o, size_t n) {
    const double *restrict a = r0, *restrict b = r1, *restrict c = r2;
    double *restrict d = o;
    size_t j;
    for (j = 0; j < n; ++j) d[j] = (a[j] + b[j]) + c[j];
}
static void entk__addto_scalar(const double *r, double *o, size_t n) {
    const double *restrict a = r;
    double *restrict d = o;
    size_t j;
    for (j = 0; j < n; ++j) d[j] += a[j];
}

#if ENTK__HAVE_AVX2
__attribute__((target("avx2,fma"))) static void entk__sum3_avx2(const double *r0, const double *r1,
                                                                   const double *r2, double *o, size_t n) {
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256d a = _mm256_add_pd(_mm256_loadu_pd(r0 + j), _mm256_loadu_pd(r1 + j));
        __m256d b = _mm256_add_pd(_mm256_loadu_pd(r0 + j + 4), _mm256_loadu_pd(r1 + j + 4));
        _mm256_storeu_pd(o + j, _mm256_add_pd(a, _mm256_loadu_pd(r2 + j)));
        _mm256_storeu_pd(o + j + 4, _mm256_add_pd(b, _mm256_loadu_pd(r2 + j + 4)));
    }
    if (j + 4 <= n) { /* short rows (small images): one more vector before the scalar tail */
        __m256d a = _mm256_add_pd(_mm256_loadu_pd(r0 + j), _mm256_loadu_pd(r1 + j));
        _mm256_storeu_pd(o + j, _mm256_add_pd(a, _mm256_loadu_pd(r2 + j)));
        j += 4;
    }
    for (; j < n; ++j) o[j] = (r0[j] + r1[j]) + r2[j];
}
__attribute__((target("avx2,fma"))) static void entk__addto_avx2(const double *r, double *o, size_t n) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) _mm256_storeu_pd(o + j, _mm256_add_pd(_mm256_loadu_pd(o + j), _mm256_loadu_pd(r + j)));
    for (; j < n; ++j) o[j] += r[j];
}
#endif /* ENTK__HAVE_AVX2 */
#if ENTK__HAVE_AVX512
/* entk__sum3_avx2 on zmm (the same adds, in the same order, per element) */
static ENTK__AVX512 void entk__sum3_avx512(const double *r0, const double *r1, const double *r2, double *o, size_t n) {
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512d a = _mm512_add_pd(_mm512_loadu_pd(r0 + j), _mm512_loadu_pd(r1 + j));
        __m512d b = _mm512_add_pd(_mm512_loadu_pd(r0 + j + 8), _mm512_loadu_pd(r1 + j + 8));
        _mm512_storeu_pd(o + j, _mm512_add_pd(a, _mm512_loadu_pd(r2 + j)));
        _mm512_storeu_pd(o + j + 8, _mm512_add_pd(b, _mm512_loadu_pd(r2 + j + 8)));
    }
    if (j < n) {
        const __mmask8 m = n - j >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (n - j)) - 1u);
        __m512d a = _mm512_add_pd(_mm512_maskz_loadu_pd(m, r0 + j), _mm512_maskz_loadu_pd(m, r1 + j));
        _mm512_mask_storeu_pd(o + j, m, _mm512_add_pd(a, _mm512_maskz_loadu_pd(m, r2 + j)));
        j += 8;
        if (j < n) entk__sum3_avx2(r0 + j, r1 + j, r2 + j, o + j, n - j);
    }
}
#endif /* ENTK__HAVE_AVX512 */

#if ENTK__HAVE_NEON
/* adds and separate multiplies only (vmulq then vaddq, never vfmaq): bit-identical to the scalar path */
static void entk__sum3_neon(const double *r0, const double *r1, const double *r2, double *o, size_t n) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float64x2_t a = vaddq_f64(vld1q_f64(r0 + j), vld1q_f64(r1 + j));
        const float64x2_t b = vaddq_f64(vld1q_f64(r0 + j + 2), vld1q_f64(r1 + j + 2));
        vst1q_f64(o + j, vaddq_f64(a, vld1q_f64(r2 + j)));
        vst1q_f64(o + j + 2, vaddq_f64(b, vld1q_f64(r2 + j + 2)));
    }
    for (; j < n; ++j) o[j] = (r0[j] + r1[j]) + r2[j];
}
static void entk__addto_neon(const double *r, double *o, size_t n) {
    size_t j = 0;
    for (; j + 2 <= n; j += 2) vst1q_f64(o + j, vaddq_f64(vld1q_f64(o + j), vld1q_f64(r + j)));
    for (; j < n; ++j) o[j] += r[j];
}
#endif /* ENTK__HAVE_NEON */

/* Linear combinations of rows (kt->lincomb): y[i ldy + j] += sum_{p<k} a[i ars + p acs] x[p ldx + j] for
 * i < m, j < n, each sum formed in the order p = 0, 1, ... from 0 (separate multiplies and adds, never
 * a fused multiply-add) and then added to y, so every path gives the same bits. m, k small (the
 * frequencies and samples of entk_so3.h's azimuthal DFTs), n long: blocks of 4 rows of y share each
 * load of x. k = 0 leaves y untouched. */
static void entk__lincomb_scalar(size_t m, size_t k, const double *a, size_t ars, size_t acs, const double *x,
                                 size_t ldx, double *y, size_t ldy, size_t n) {
    size_t i, j, p;
    if (k == 0) return;
    for (i = 0; i < m; ++i) {
        const double *ai = a + i * ars;
        double *yi = y + i * ldy;
        for (j = 0; j + 4 <= n; j += 4) {
            double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
            for (p = 0; p < k; ++p) {
                const double c = ai[p * acs], *xp = x + p * ldx + j;
                s0 += c * xp[0]; s1 += c * xp[1]; s2 += c * xp[2]; s3 += c * xp[3];
            }
            yi[j] += s0; yi[j + 1] += s1; yi[j + 2] += s2; yi[j + 3] += s3;
        }
        for (; j < n; ++j) {
            double s = 0.0;
            for (p = 0; p < k; ++p) s += ai[p * acs] * x[p * ldx + j];
            yi[j] += s;
        }
    }
}

#if ENTK__HAVE_AVX2
/* The steps both AVX2 kernels below share: add coef x (x0, x1) to the sums (v0, v1) of one row, and
 * add (v0, v1) into row r of y at column j (separate multiplies and adds: the scalar bits). */
#define ENTK__LC_ACC(v0, v1, coef)                                                                    \
    do {                                                                                              \
        const __m256d c_ = _mm256_set1_pd(coef);                                                      \
        v0 = _mm256_add_pd(v0, _mm256_mul_pd(c_, x0));                                                \
        v1 = _mm256_add_pd(v1, _mm256_mul_pd(c_, x1));                                                \
    } while (0)
#define ENTK__LC_ROW(r, v0, v1)                                                                      \
    _mm256_storeu_pd(yi + (r) * ldy + j, _mm256_add_pd(_mm256_loadu_pd(yi + (r) * ldy + j), v0));    \
    _mm256_storeu_pd(yi + (r) * ldy + j + 4, _mm256_add_pd(_mm256_loadu_pd(yi + (r) * ldy + j + 4), v1))

/* One or two rows (the remainder of the 4-row blocks below): 2 rows x 8 columns in 4 registers */
__attribute__((target("avx2,fma"))) static void entk__lincomb2_avx2(size_t mr, size_t k, const double *ai,
                                                                     size_t ars, size_t acs, const double *x,
                                                                     size_t ldx, double *yi, size_t ldy, size_t n) {
    size_t j = 0, p, q;
    for (; j + 8 <= n; j += 8) {
        __m256d s00 = _mm256_setzero_pd(), s01 = s00, s10 = s00, s11 = s00;
        for (p = 0; p < k; ++p) {
            const double *xp = x + p * ldx + j, *ap = ai + p * acs;
            const __m256d x0 = _mm256_loadu_pd(xp), x1 = _mm256_loadu_pd(xp + 4);
            ENTK__LC_ACC(s00, s01, ap[0]);
            ENTK__LC_ACC(s10, s11, mr > 1 ? ap[ars] : 0.0);
        }
        ENTK__LC_ROW(0, s00, s01);
        if (mr > 1) { ENTK__LC_ROW(1, s10, s11); }
    }
    if (j + 4 <= n) {
        __m256d s0 = _mm256_setzero_pd(), s1 = s0;
        for (p = 0; p < k; ++p) {
            const double *ap = ai + p * acs;
            const __m256d x0 = _mm256_loadu_pd(x + p * ldx + j);
            s0 = _mm256_add_pd(s0, _mm256_mul_pd(_mm256_set1_pd(ap[0]), x0));
            s1 = _mm256_add_pd(s1, _mm256_mul_pd(_mm256_set1_pd(mr > 1 ? ap[ars] : 0.0), x0));
        }
        _mm256_storeu_pd(yi + j, _mm256_add_pd(_mm256_loadu_pd(yi + j), s0));
        if (mr > 1) _mm256_storeu_pd(yi + ldy + j, _mm256_add_pd(_mm256_loadu_pd(yi + ldy + j), s1));
        j += 4;
    }
    for (; j < n; ++j)
        for (q = 0; q < mr; ++q) {
            double s = 0.0;
            for (p = 0; p < k; ++p) s += ai[q * ars + p * acs] * x[p * ldx + j];
            yi[q * ldy + j] += s;
        }
}

/* 4 rows x 8 columns of sums in 8 registers; in a last block of 3 rows the fourth gets the coefficient
 * 0 and is not stored, a last block of 1 or 2 rows goes to entk__lincomb2_avx2 */
__attribute__((target("avx2,fma"))) static void entk__lincomb_avx2(size_t m, size_t k, const double *a, size_t ars,
                                                                    size_t acs, const double *x, size_t ldx, double *y,
                                                                    size_t ldy, size_t n) {
    size_t i0, j, p, q;
    if (k == 0) return;
    for (i0 = 0; i0 < m; i0 += 4) {
        const size_t mr = m - i0 < 4 ? m - i0 : 4;
        const double *ai = a + i0 * ars;
        double *yi = y + i0 * ldy;
        if (mr <= 2) {
            entk__lincomb2_avx2(mr, k, ai, ars, acs, x, ldx, yi, ldy, n);
            continue;
        }
        for (j = 0; j + 8 <= n; j += 8) {
            __m256d s00 = _mm256_setzero_pd(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00;
            __m256d s31 = s00;
            double t[4][8];
            for (p = 0; p < k; ++p) {
                const double *xp = x + p * ldx + j, *ap = ai + p * acs;
                const __m256d x0 = _mm256_loadu_pd(xp), x1 = _mm256_loadu_pd(xp + 4);
                ENTK__LC_ACC(s00, s01, ap[0]);
                ENTK__LC_ACC(s10, s11, mr > 1 ? ap[ars] : 0.0);
                ENTK__LC_ACC(s20, s21, mr > 2 ? ap[2 * ars] : 0.0);
                ENTK__LC_ACC(s30, s31, mr > 3 ? ap[3 * ars] : 0.0);
            }
            if (mr == 4) {
                ENTK__LC_ROW(0, s00, s01); ENTK__LC_ROW(1, s10, s11); ENTK__LC_ROW(2, s20, s21);
                ENTK__LC_ROW(3, s30, s31);
            } else {
                _mm256_storeu_pd(t[0], s00); _mm256_storeu_pd(t[0] + 4, s01);
                _mm256_storeu_pd(t[1], s10); _mm256_storeu_pd(t[1] + 4, s11);
                _mm256_storeu_pd(t[2], s20); _mm256_storeu_pd(t[2] + 4, s21);
                for (q = 0; q < mr; ++q) {
                    double *yq = yi + q * ldy + j;
                    size_t e;
                    for (e = 0; e < 8; ++e) yq[e] += t[q][e];
                }
            }
        }
        if (j + 4 <= n) { /* short rows: one more vector before the scalar tail */
            __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
            double t[4][4];
            for (p = 0; p < k; ++p) {
                const double *ap = ai + p * acs;
                const __m256d x0 = _mm256_loadu_pd(x + p * ldx + j);
                s0 = _mm256_add_pd(s0, _mm256_mul_pd(_mm256_set1_pd(ap[0]), x0));
                s1 = _mm256_add_pd(s1, _mm256_mul_pd(_mm256_set1_pd(mr > 1 ? ap[ars] : 0.0), x0));
                s2 = _mm256_add_pd(s2, _mm256_mul_pd(_mm256_set1_pd(mr > 2 ? ap[2 * ars] : 0.0), x0));
                s3 = _mm256_add_pd(s3, _mm256_mul_pd(_mm256_set1_pd(mr > 3 ? ap[3 * ars] : 0.0), x0));
            }
            _mm256_storeu_pd(t[0], s0); _mm256_storeu_pd(t[1], s1); _mm256_storeu_pd(t[2], s2);
            _mm256_storeu_pd(t[3], s3);
            for (q = 0; q < mr; ++q) {
                double *yq = yi + q * ldy + j;
                _mm256_storeu_pd(yq, _mm256_add_pd(_mm256_loadu_pd(yq), _mm256_loadu_pd(t[q])));
            }
            j += 4;
        }
        for (; j < n; ++j) /* the tail: the same sums, one column at a time */
            for (q = 0; q < mr; ++q) {
                double s = 0.0;
                for (p = 0; p < k; ++p) s += ai[q * ars + p * acs] * x[p * ldx + j];
                yi[q * ldy + j] += s;
            }
    }
}
#undef ENTK__LC_ACC
#undef ENTK__LC_ROW
#endif /* ENTK__HAVE_AVX2 */

#if ENTK__HAVE_AVX512
/* 4 rows x 16 columns of sums in 8 zmm registers, each column's sum the scalar chain (multiply, then
 * add, p ascending, then one add into y): the AVX2 and scalar bits. Columns past the last 16 and a
 * last block of 1 to 3 rows go to the AVX2 kernel (columns are independent). */
__attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma")))
static void entk__lincomb_avx512(size_t m, size_t k, const double *a, size_t ars, size_t acs, const double *x,
                                 size_t ldx, double *y, size_t ldy, size_t n) {
    size_t i0, j, p;
    if (k == 0) return;
    for (i0 = 0; i0 + 4 <= m; i0 += 4) {
        const double *ai = a + i0 * ars;
        double *yi = y + i0 * ldy;
        for (j = 0; j + 16 <= n; j += 16) {
            __m512d s00 = _mm512_setzero_pd(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00;
            __m512d s31 = s00;
            for (p = 0; p < k; ++p) {
                const double *xp = x + p * ldx + j, *ap = ai + p * acs;
                const __m512d x0 = _mm512_loadu_pd(xp), x1 = _mm512_loadu_pd(xp + 8);
                __m512d c;
#define ENTK__LC_ACC(v0, v1, coef)                                                                    \
    c = _mm512_set1_pd(coef); v0 = _mm512_add_pd(v0, _mm512_mul_pd(c, x0)); v1 = _mm512_add_pd(v1, _mm512_mul_pd(c, x1))
                ENTK__LC_ACC(s00, s01, ap[0]); ENTK__LC_ACC(s10, s11, ap[ars]);
                ENTK__LC_ACC(s20, s21, ap[2 * ars]); ENTK__LC_ACC(s30, s31, ap[3 * ars]);
#undef ENTK__LC_ACC
            }
#define ENTK__LC_ROW(r, v0, v1)                                                                      \
    _mm512_storeu_pd(yi + (r) * ldy + j, _mm512_add_pd(_mm512_loadu_pd(yi + (r) * ldy + j), v0));    \
    _mm512_storeu_pd(yi + (r) * ldy + j + 8, _mm512_add_pd(_mm512_loadu_pd(yi + (r) * ldy + j + 8), v1))
            ENTK__LC_ROW(0, s00, s01); ENTK__LC_ROW(1, s10, s11); ENTK__LC_ROW(2, s20, s21);
            ENTK__LC_ROW(3, s30, s31);
#undef ENTK__LC_ROW
        }
        if (j < n) entk__lincomb_avx2(4, k, ai, ars, acs, x + j, ldx, yi + j, ldy, n - j);
    }
    if (i0 < m) entk__lincomb_avx2(m - i0, k, a + i0 * ars, ars, acs, x, ldx, y + i0 * ldy, ldy, n);
}
#endif /* ENTK__HAVE_AVX512 */

#if ENTK__HAVE_NEON
/* 4 rows x 4 columns of sums in 8 q registers; vmulq then vaddq (never vfmaq) */
static void entk__lincomb_neon(size_t m, size_t k, const double *a, size_t ars, size_t acs, const double *x,
                               size_t ldx, double *y, size_t ldy, size_t n) {
    size_t i0, j, p, q;
    if (k == 0) return;
    for (i0 = 0; i0 < m; i0 += 4) {
        const size_t mr = m - i0 < 4 ? m - i0 : 4;
        const double *ai = a + i0 * ars;
        double *yi = y + i0 * ldy;
        for (j = 0; j + 4 <= n; j += 4) {
            float64x2_t s[4][2];
            for (q = 0; q < 4; ++q) s[q][0] = s[q][1] = vdupq_n_f64(0.0);
            for (p = 0; p < k; ++p) {
                const double *xp = x + p * ldx + j, *ap = ai + p * acs;
                const float64x2_t x0 = vld1q_f64(xp), x1 = vld1q_f64(xp + 2);
                for (q = 0; q < 4; ++q) {
                    const float64x2_t c = vdupq_n_f64(q < mr ? ap[q * ars] : 0.0);
                    s[q][0] = vaddq_f64(s[q][0], vmulq_f64(c, x0));
                    s[q][1] = vaddq_f64(s[q][1], vmulq_f64(c, x1));
                }
            }
            for (q = 0; q < mr; ++q) {
                double *yq = yi + q * ldy + j;
                vst1q_f64(yq, vaddq_f64(vld1q_f64(yq), s[q][0]));
                vst1q_f64(yq + 2, vaddq_f64(vld1q_f64(yq + 2), s[q][1]));
            }
        }
        for (; j < n; ++j)
            for (q = 0; q < mr; ++q) {
                double s1 = 0.0;
                for (p = 0; p < k; ++p) s1 += ai[q * ars + p * acs] * x[p * ldx + j];
                yi[q * ldy + j] += s1;
            }
    }
}
#endif /* ENTK__HAVE_NEON */

static void entk__stream_scalar(const double *src, double *dst, size_t n) { memcpy(dst, src, n * sizeof *dst); }
#if ENTK__HAVE_AVX2
__attribute__((target("avx2,fma"))) static void entk__stream_avx2(const double *src, double *dst, size_t n) {
    size_t j = 0;
    if (((uintptr_t)dst & 15) != 0 && n > 0) { dst[0] = src[0]; j = 1; }
    for (; j + 2 <= n; j += 2) _mm_stream_pd(dst + j, _mm_loadu_pd(src + j));
    for (; j < n; ++j) dst[j] = src[j];
}
#endif
static void entk__fence_scalar(void) {}
#if ENTK__HAVE_AVX2
__attribute__((target("avx2,fma"))) static void entk__fence_avx2(void) { _mm_sfence(); }
#endif

/* Dense layer on one pair: K' = sw^2 K + sb^2, Theta' = K' + sw^2 Theta. */
static void entk__dense_update(const entk__kernels *kt, const entk_layer *l, size_t n, double *k, double *t) {
    kt->affine(k, t, n, l->sw * l->sw, l->sb * l->sb);
}

/* The output step of a layer with weights in every domain (docs/conventions.md §1), on a block of
 * rows x cols kernel entries (k, t contiguous, row-major) that holds the layer's averaging operator
 * A[K], A[Theta]: the affine update K' = cw A[K] + b2, Theta' = K' + cw A[Theta]; for the first layer
 * with weights (first != 0, t not read) Theta' = K'. t == NULL: no NTK. Then, nl != NULL, the
 * nonlinearity that follows, fused in while the block is in cache: row r maps with k11 = e1[r inc1]
 * and k22 = e2[c inc2] for column c (inc1, inc2 are 0 or 1). The affine update is elementwise, so
 * one call over the block gives the bits of one per row; the map is called row by row. */
static entk_status entk__layer_out(const entk__kernels *kt, double *k, double *t, size_t rows, size_t cols,
                                   double cw, double b2, int first, const entk_nonlin *nl, const double *e1,
                                   size_t inc1, const double *e2, size_t inc2) {
    const size_t n = rows * cols;
    entk_status st;
    size_t r;
    if (t && !first) {
        kt->affine(k, t, n, cw, b2);
    } else {
        kt->affine(k, NULL, n, cw, b2);
        if (t) memcpy(t, k, n * sizeof *t);
    }
    if (nl)
        for (r = 0; r < rows; ++r) {
            double *kr = k + r * cols, *tr = t ? t + r * cols : NULL;
            if ((st = entk__nonlin_map(kt, nl, cols, e1 + r * inc1, 0, e2, inc2, kr, tr, kr, tr))) return st;
        }
    return ENTK_OK;
}

/* A symmetric Gram matrix from its upper triangle: entry (i, j), j < i, from (j, i). Either matrix may
 * be NULL. */
static void entk__gram_mirror(size_t n, double *nngp, size_t ldk, double *ntk, size_t ldt) {
    size_t i, j;
    for (i = 0; i < n; ++i)
        for (j = 0; j < i; ++j) {
            if (nngp) nngp[i * ldk + j] = nngp[j * ldk + i];
            if (ntk) ntk[i * ldt + j] = ntk[j * ldt + i];
        }
}

static entk_status entk__scalar_chain(const entk__kernels *kt, const entk_layer *layers, int count,
                                      double *k11, double *t11, double *k22, double *t22,
                                      double *k12, double *t12) {
    int i;
    if ((count > 0 && !layers) || !k11 || !t11 || !k22 || !t22 || !k12 || !t12) return ENTK_ERR_INVALID_ARG;
    for (i = 0; i < count; ++i) {
        const double v[6] = {*k11, *t11, *k22, *t22, *k12, *t12};
        if (!entk__finite(v, 6)) return ENTK_ERR_RANGE; /* checked before every layer (a saturating */
        /* map could hide an overflow) and at the end */
        const entk_layer *l = &layers[i];
        entk_status st;
        if (l->kind == ENTK_LAYER_DENSE) {
            entk__dense_update(kt, l, 1, k11, t11);
            entk__dense_update(kt, l, 1, k22, t22);
            entk__dense_update(kt, l, 1, k12, t12);
        } else if (l->kind == ENTK_LAYER_NONLIN) {
            double a = *k11, b = *k22;
            if ((st = entk__nonlin_map(kt, &l->nl, 1, &a, 0, &b, 0, k12, t12, k12, t12))) return st;
            if ((st = entk__nonlin_map(kt, &l->nl, 1, &a, 0, &a, 0, k11, t11, k11, t11))) return st;
            if ((st = entk__nonlin_map(kt, &l->nl, 1, &b, 0, &b, 0, k22, t22, k22, t22))) return st;
        } else {
            return ENTK_ERR_ARCH;
        }
    }
    {
        const double v[6] = {*k11, *t11, *k22, *t22, *k12, *t12};
        return entk__finite(v, 6) ? ENTK_OK : ENTK_ERR_RANGE;
    }
}

ENTKDEF entk_status entk_scalar_chain(const entk_layer *layers, int count,
                                      double *k11, double *t11, double *k22, double *t22,
                                      double *k12, double *t12) {
    return entk__scalar_chain(entk__kt(), layers, count, k11, t11, k22, t22, k12, t12);
}

/* ============================================================================================== */
/* 9.5.1 Dot products of rows (scalar, AVX2, NEON)                                                */
/* ============================================================================================== */

/* Dot products of up to 4 rows with m rows (entk__dots_fn, 9.2); the ISA variants share its signature. */

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


/* Vector dots: each b_j is loaded once per chunk and multiplied into all rows, two chunks per step, so
 * 4 rows give 8 independent FMA chains. Rows beyond `rows` repeat row 0 (computed, not stored), which
 * keeps one code path. The summation order differs from the scalar kernel: each result is within
 * 2 d eps sum_k |a_k b_k| of it (both are within d eps sum|a_k b_k| of the exact dot product). */
#if ENTK__HAVE_AVX2
static ENTK__AVX2 void entk__dots_avx2(int rows, const double *a, size_t lda, const double *b, size_t ldb,
                                       size_t m, size_t d, double *out, size_t ldo) {
    const double *a0 = a, *a1 = rows > 1 ? a + lda : a, *a2 = rows > 2 ? a + 2 * lda : a;
    const double *a3 = rows > 3 ? a + 3 * lda : a;
    const size_t rem = d & 3;
    const __m256i tail = _mm256_set_epi64x(rem > 3 ? -1 : 0, rem > 2 ? -1 : 0, rem > 1 ? -1 : 0,
                                           rem > 0 ? -1 : 0);
    size_t j;
    for (j = 0; j < m; ++j) {
        const double *bj = b + j * ldb;
        __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0, u0 = s0, u1 = s0, u2 = s0, u3 = s0;
        __m256d h01, h23, sum;
        double res[4];
        size_t k = 0;
        int r;
        for (; k + 8 <= d; k += 8) {
            const __m256d x = _mm256_loadu_pd(bj + k), y = _mm256_loadu_pd(bj + k + 4);
            s0 = _mm256_fmadd_pd(_mm256_loadu_pd(a0 + k), x, s0);
            s1 = _mm256_fmadd_pd(_mm256_loadu_pd(a1 + k), x, s1);
            s2 = _mm256_fmadd_pd(_mm256_loadu_pd(a2 + k), x, s2);
            s3 = _mm256_fmadd_pd(_mm256_loadu_pd(a3 + k), x, s3);
            u0 = _mm256_fmadd_pd(_mm256_loadu_pd(a0 + k + 4), y, u0);
            u1 = _mm256_fmadd_pd(_mm256_loadu_pd(a1 + k + 4), y, u1);
            u2 = _mm256_fmadd_pd(_mm256_loadu_pd(a2 + k + 4), y, u2);
            u3 = _mm256_fmadd_pd(_mm256_loadu_pd(a3 + k + 4), y, u3);
        }
        if (k + 4 <= d) {
            const __m256d x = _mm256_loadu_pd(bj + k);
            s0 = _mm256_fmadd_pd(_mm256_loadu_pd(a0 + k), x, s0);
            s1 = _mm256_fmadd_pd(_mm256_loadu_pd(a1 + k), x, s1);
            s2 = _mm256_fmadd_pd(_mm256_loadu_pd(a2 + k), x, s2);
            s3 = _mm256_fmadd_pd(_mm256_loadu_pd(a3 + k), x, s3);
            k += 4;
        }
        if (rem) { /* masked loads never touch the lanes past d */
            const __m256d x = _mm256_maskload_pd(bj + k, tail);
            u0 = _mm256_fmadd_pd(_mm256_maskload_pd(a0 + k, tail), x, u0);
            u1 = _mm256_fmadd_pd(_mm256_maskload_pd(a1 + k, tail), x, u1);
            u2 = _mm256_fmadd_pd(_mm256_maskload_pd(a2 + k, tail), x, u2);
            u3 = _mm256_fmadd_pd(_mm256_maskload_pd(a3 + k, tail), x, u3);
        }
        s0 = _mm256_add_pd(s0, u0); s1 = _mm256_add_pd(s1, u1);
        s2 = _mm256_add_pd(s2, u2); s3 = _mm256_add_pd(s3, u3);
        h01 = _mm256_hadd_pd(s0, s1); /* (s0[0]+s0[1], s1[0]+s1[1], s0[2]+s0[3], s1[2]+s1[3]) */
        h23 = _mm256_hadd_pd(s2, s3);
        sum = _mm256_add_pd(_mm256_permute2f128_pd(h01, h23, 0x20), _mm256_permute2f128_pd(h01, h23, 0x31));
        _mm256_storeu_pd(res, sum);
        for (r = 0; r < rows; ++r) out[(size_t)r * ldo + j] = res[r];
    }
}
#endif /* ENTK__HAVE_AVX2 */

#if ENTK__HAVE_NEON
static void entk__dots_neon(int rows, const double *a, size_t lda, const double *b, size_t ldb, size_t m,
                            size_t d, double *out, size_t ldo) {
    const double *ar[4];
    size_t j;
    int r;
    for (r = 0; r < 4; ++r) ar[r] = r < rows ? a + (size_t)r * lda : a;
    for (j = 0; j < m; ++j) {
        const double *bj = b + j * ldb;
        float64x2_t s[4], u[4];
        double res[4];
        size_t k = 0;
        for (r = 0; r < 4; ++r) s[r] = u[r] = vdupq_n_f64(0.0);
        for (; k + 4 <= d; k += 4) {
            const float64x2_t x = vld1q_f64(bj + k), y = vld1q_f64(bj + k + 2);
            for (r = 0; r < 4; ++r) {
                s[r] = vfmaq_f64(s[r], vld1q_f64(ar[r] + k), x);
                u[r] = vfmaq_f64(u[r], vld1q_f64(ar[r] + k + 2), y);
            }
        }
        if (k + 2 <= d) {
            const float64x2_t x = vld1q_f64(bj + k);
            for (r = 0; r < 4; ++r) s[r] = vfmaq_f64(s[r], vld1q_f64(ar[r] + k), x);
            k += 2;
        }
        for (r = 0; r < 4; ++r) {
            res[r] = vaddvq_f64(vaddq_f64(s[r], u[r]));
            if (k < d) res[r] = fma(ar[r][k], bj[k], res[r]);
        }
        for (r = 0; r < rows; ++r) out[(size_t)r * ldo + j] = res[r];
    }
}
#endif /* ENTK__HAVE_NEON */

/* ============================================================================================== */
/* 9.5.2 MLP Gram matrices                                                                        */
/* ============================================================================================== */

/* The MLP layer list is valid: first layer dense, then dense and supported nonlinearities only (the
 * rules and their order are entk__arch_scan's, 9.4b). */
static entk_status entk__mlp_check(const entk_arch *a) {
    return entk__arch_scan(entk__kt(), a, ENTK_DOMAIN_MLP, NULL, NULL, 0, NULL);
}

static entk_status entk__check_finite(const double *x, size_t n) {
    size_t i;
    for (i = 0; i < n; ++i)
        if (!(x[i] - x[i] == 0.0)) return ENTK_ERR_NONFINITE;
    return ENTK_OK;
}

/* Each input's own kernel after every layer: dk[l * n + i] = K(x_i, x_i) leaving layer l, i.e. entering
 * layer l + 1 (l = 0..L-1), and on exit kout/tout = K, Theta after the last layer (either may be NULL). */
static void entk__mlp_diag_chain(const entk__kernels *kt, const entk_arch *a, const double *x, size_t n,
                                 size_t d, double *dk, double *tk, double *kout, double *tout) {
    const entk_layer *l0 = &a->layer[0];
    const double w2 = l0->sw * l0->sw, b2 = l0->sb * l0->sb;
    size_t i;
    int l;
    for (i = 0; i < n; ++i) {
        double v;
        kt->dots(1, x + i * d, d, x + i * d, d, 1, d, &v, 1);
        dk[i] = w2 * v / (double)d + b2;
        tk[i] = dk[i];
    }
    for (l = 1; l < a->n_layers; ++l) {
        double *cur = dk + (size_t)l * n, *prev = dk + (size_t)(l - 1) * n;
        const entk_layer *ly = &a->layer[l];
        memcpy(cur, prev, n * sizeof *cur);
        if (ly->kind == ENTK_LAYER_NONLIN)
            entk__nonlin_map(kt, &ly->nl, n, prev, 1, prev, 1, prev, tk, cur, tk);
        else
            entk__dense_update(kt, ly, n, cur, tk);
    }
    if (kout) memcpy(kout, dk + (size_t)(a->n_layers - 1) * n, n * sizeof *kout);
    if (tout) memcpy(tout, tk, n * sizeof *tout);
}

ENTKDEF entk_status entk_mlp_diag(const entk_arch *arch, const double *x, size_t n, size_t d,
                                  double *nngp_diag, double *ntk_diag) {
    entk_status st;
    size_t cnt, nd, bytes;
    double *dk = NULL, *tk = NULL;
    if ((st = entk__mlp_check(arch))) return st;
    if (!x || d == 0) return n == 0 ? ENTK_OK : ENTK_ERR_INVALID_ARG;
    /* n x d doubles must be a size an array can have: checked before anything is read */
    if ((st = entk__mul(n, d, &nd)) || (st = entk__mul(nd, sizeof(double), &bytes))) return st;
    if ((st = entk__check_finite(x, nd))) return st;
    if ((st = entk__mul(n, (size_t)arch->n_layers, &cnt))) return st;
    if ((st = entk__alloc_doubles(cnt, &dk)) || (st = entk__alloc_doubles(n, &tk))) goto done;
    entk__mlp_diag_chain(entk__kt(), arch, x, n, d, dk, tk, nngp_diag, ntk_diag);
    if (!entk__finite(dk, cnt) || !entk__finite(tk, n)) st = ENTK_ERR_RANGE;
done:
    ENTK_FREE(dk);
    ENTK_FREE(tk);
    return st;
}

/* One row of pairs through the MLP's layers: kr[j] (m values) enters as x.x'_j / d times the first
 * layer's sw^2 and leaves as K, tr (may be NULL) as Theta. The diagonals leaving layer l are d1[l *
 * inc1] for the row's input and d2[l * inc2 + j] for column j (entk__mlp_diag_chain's layout). The
 * maps were checked by entk__mlp_check: no status to see. Used by entk_mlp_kernel and by the MLP
 * atom networks of entk_so3.h (entk__mlp_domain). */
static void entk__mlp_row(const entk__kernels *kt, const entk_arch *arch, double *kr, double *tr, size_t m,
                          const double *d1, size_t inc1, const double *d2, size_t inc2) {
    const int L = arch->n_layers;
    int l;
    for (l = 0; l < L; ++l) {
        const entk_layer *ly = &arch->layer[l], *nl;
        if (ly->kind == ENTK_LAYER_NONLIN) { /* one that follows a nonlinearity */
            entk__nonlin_map(kt, &ly->nl, m, d1 + (size_t)(l - 1) * inc1, 0, d2 + (size_t)(l - 1) * inc2, 1, kr, tr,
                             kr, tr);
            continue;
        }
        /* a dense layer and the nonlinearity after it, which reads the diagonals leaving it */
        nl = l + 1 < L && arch->layer[l + 1].kind == ENTK_LAYER_NONLIN ? &arch->layer[l + 1] : NULL;
        (void)entk__layer_out(kt, kr, tr, 1, m, l ? ly->sw * ly->sw : 1.0, ly->sb * ly->sb, l == 0,
                              nl ? &nl->nl : NULL, d1 + (size_t)l * inc1, 0, d2 + (size_t)l * inc2, 1);
        if (nl) ++l;
    }
}

ENTKDEF entk_status entk_mlp_kernel(const entk_arch *arch, const double *x1, size_t n1,
                                    const double *x2, size_t n2, size_t d,
                                    double *nngp, size_t ldk, double *ntk, size_t ldt, int threads) {
    entk_status st;
    const int sym = (x2 == NULL);
    const int L = arch ? arch->n_layers : 0;
    const entk__kernels *kt = entk__kt();
    double *dk1 = NULL, *dk2 = NULL, *tk = NULL, *kbuf = NULL;
    size_t cnt, nd, done_rows;
    long long nblk, bi;
    double w2;
    int bad = 0; /* a non-finite output entry */
    if ((st = entk__mlp_check(arch))) return st;
    if (sym) { x2 = x1; n2 = n1; }
    if (n1 == 0 || n2 == 0) return ENTK_OK;
    if (!x1 || d == 0 || (!nngp && !ntk)) return ENTK_ERR_INVALID_ARG;
    if ((nngp && ldk < n2) || (ntk && ldt < n2)) return ENTK_ERR_INVALID_ARG;
    /* n x d doubles must be a size an array can have: checked before anything is read */
    if ((st = entk__mul(n1 > n2 ? n1 : n2, d, &nd)) || (st = entk__mul(nd, sizeof(double), &nd))) return st;
    if ((st = entk__check_finite(x1, n1 * d))) return st;
    if (!sym && (st = entk__check_finite(x2, n2 * d))) return st;
    if (n1 > SIZE_MAX - n2 || (st = entk__mul(n1 + n2, (size_t)L, &cnt))) return ENTK_ERR_OVERFLOW;
    if ((st = entk__alloc_doubles(cnt, &dk1))) goto done;
    if ((st = entk__alloc_doubles(n1 > n2 ? n1 : n2, &tk))) goto done;
    dk2 = dk1 + (size_t)L * n1;
    entk__mlp_diag_chain(kt, arch, x1, n1, d, dk1, tk, NULL, NULL);
    if (sym) memcpy(dk2, dk1, (size_t)L * n1 * sizeof *dk1);
    else entk__mlp_diag_chain(kt, arch, x2, n2, d, dk2, tk, NULL, NULL);
    if (!entk__finite(dk1, cnt)) { st = ENTK_ERR_RANGE; goto done; } /* both inputs' diagonals */
    if (!nngp) { /* K is needed to propagate Theta: a scratch matrix */
        size_t kn;
        if ((st = entk__mul(n1, n2, &kn)) || (st = entk__alloc_doubles(kn, &kbuf))) goto done;
        nngp = kbuf;
        ldk = n2;
    }
    w2 = arch->layer[0].sw * arch->layer[0].sw;
    nblk = (long long)((n1 + 3) / 4);
    done_rows = 0;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads > 1 ? threads : 1) if (threads > 1) \
    reduction(| : bad)
#else
    ENTK__UNUSED(threads);
#endif
    for (bi = 0; bi < nblk; ++bi) {
        /* rows i0..i0+rows of the output; with sym only columns j >= i0 (then mirrored) */
        const size_t i0 = (size_t)bi * 4;
        const int rows = (int)(n1 - i0 < 4 ? n1 - i0 : 4);
        const size_t j0 = sym ? i0 : 0;
        int r;
        kt->dots(rows, x1 + i0 * d, d, x2 + j0 * d, d, n2 - j0, d, nngp + i0 * ldk + j0, ldk);
        for (r = 0; r < rows; ++r) {
            const size_t row = i0 + (size_t)r;
            const size_t c0 = sym ? row : 0, m = n2 - c0;
            double *kr = nngp + row * ldk + c0;
            double *tr = ntk ? ntk + row * ldt + c0 : NULL;
            size_t j;
            /* the first layer's operator with its weight scale, (sw^2 x.x') / d: its affine step
             * below then has cw = 1, which is exact */
            for (j = 0; j < m; ++j) kr[j] = w2 * kr[j] / (double)d;
            entk__mlp_row(kt, arch, kr, tr, m, dk1 + row, n1, dk2 + c0, n2);
            bad |= !entk__finite(kr, m) || (tr && !entk__finite(tr, m));
        }
        entk__progress_tick(&done_rows, (size_t)rows, n1);
    }
    if (bad) { st = ENTK_ERR_RANGE; goto done; }
    if (sym) entk__gram_mirror(n1, nngp, ldk, ntk, ldt);
done:
    ENTK_FREE(dk1);
    ENTK_FREE(tk);
    ENTK_FREE(kbuf);
    return st;
}


/* ============================================================================================== */
/* 9.5.3 The Gram driver of the domains with a pair kernel (entk_cn.h; entk_so3.h to come)         */
/* ============================================================================================== */

/* A domain's kernel as the driver sees it. An input is in_len doubles. Its own pass, self(), fills a
 * record of self_len doubles (the diagonals its nonlinearities need, and whatever else its pair step
 * reads); pair() computes K and Theta of two inputs from the inputs and their records; diag()
 * computes the pair (x, x) from x's record alone (NULL: pair(x, r, x, r)). want_t = 0: the NTK is not
 * wanted (*t must still be set, to any finite value). Every call gets its thread's workspace
 * (work_len doubles) and cache: cache_size bytes (0: none), set up by cache_init (NULL: nothing to
 * do), kept across the thread's calls and freed by the driver. The cache is optional: if it cannot be
 * allocated the callbacks get NULL and must give the same bits without it. plan: the domain's own
 * description of the architecture and the input shape, passed through untouched. */
typedef struct entk__domain {
    size_t in_len, self_len, work_len, cache_size;
    void (*cache_init)(void *cache);
    entk_status (*self)(const void *plan, const double *x, int want_t, double *rec, double *work, void *cache);
    entk_status (*pair)(const void *plan, const double *x1, const double *r1, const double *x2,
                        const double *r2, int want_t, double *work, void *cache, double *k, double *t);
    entk_status (*diag)(const void *plan, const double *x, const double *rec, double *k, double *t);
} entk__domain;

/* How an output entry aggregates the kernels between its two items' segments (entk__gram). */
typedef enum entk__agg {
    ENTK__AGG_MEAN, /* (1 / (seg1 seg2)) x the sum over every pair: orbit averages (conventions §2) */
    ENTK__AGG_SUM   /* the sum over the pairs of nonzero inputs: an all-zero input is an absent atom */
} entk__agg;

/* 1 if the n doubles are all zero (either sign) */
static int entk__all_zero(const double *x, size_t n) {
    size_t i;
    for (i = 0; i < n; ++i)
        if (x[i] != 0.0) return 0;
    return 1;
}

/* The first-come error of a parallel loop: every thread stores into and reads *st only here, under
 * one named critical section (entk__gram and entk__gram_diag share it). e == ENTK_OK only reads. */
ENTK__FOR_DOMAINS entk_status entk__status_merge(entk_status *st, entk_status e) {
    entk_status now;
#ifdef _OPENMP
#pragma omp critical(entk__status_merge)
#endif
    {
        if (e) *st = e;
        now = *st;
    }
    return now;
}

/* The seg inputs (D doubles each) of an item in a canonical order: ascending by their bytes (memcmp),
 * a stable merge sort of o[0..seg) with tmp. The order depends only on the set of inputs, so a sum over
 * them in this order is the same, bit for bit, for any permutation of the item's inputs (inputs with
 * equal bytes have equal kernels, so their relative order does not matter). */
static void entk__canon_order(const double *x, size_t seg, size_t D, size_t *o, size_t *tmp) {
    size_t i, w;
    for (i = 0; i < seg; ++i) o[i] = i;
    for (w = 1; w < seg; w *= 2) {
        size_t lo;
        for (lo = 0; lo < seg; lo += 2 * w) {
            const size_t mid = lo + w < seg ? lo + w : seg, hi = lo + 2 * w < seg ? lo + 2 * w : seg;
            size_t p = lo, q = mid, k = lo;
            while (p < mid && q < hi)
                tmp[k++] = memcmp(x + o[q] * D, x + o[p] * D, D * sizeof *x) < 0 ? o[q++] : o[p++];
            while (p < mid) tmp[k++] = o[p++];
            while (q < hi) tmp[k++] = o[q++];
        }
        memcpy(o, tmp, seg * sizeof *o);
    }
}

/* One output entry of entk__gram and entk__gram_diag, before the 1 / scale: the sum, from 0, of the
 * kernels between the seg1 inputs of item x1 (records r1, live flags z1) and the seg2 inputs of item
 * x2 (r2, z2), in row-major order of the pairs. The flags are NULL unless absent inputs are skipped
 * (ENTK__AGG_SUM); then both items' inputs are taken in their canonical order (entk__canon_order), so
 * the entry is exactly invariant under permuting the inputs of either item (atoms of molecules).
 * same: the two items are one (seg1 == seg2), and an input against itself goes through diag(). Stops
 * at the first error and returns it (ENTK_ERR_NOMEM if the orders of items of more than 512 inputs
 * together cannot be allocated). */
ENTK__FOR_DOMAINS entk_status entk__gram_entry(const entk__domain *dom, const void *plan, const double *x1,
                                               const double *r1, const unsigned char *z1, size_t seg1,
                                               const double *x2, const double *r2, const unsigned char *z2,
                                               size_t seg2, int same, int want_t, double *wk, void *cache,
                                               double *ks, double *ts) {
    const size_t L = dom->self_len, D = dom->in_len;
    size_t buf[4 * 256], *o1 = NULL, *o2 = NULL, *heap = NULL;
    entk_status e = ENTK_OK;
    size_t ai, bi;
    *ks = 0;
    *ts = 0;
    if (z1) { /* the canonical orders (and their merge buffers) of both items */
        size_t *o = buf;
        if (seg1 > SIZE_MAX / (4 * sizeof *o) - seg2) return ENTK_ERR_OVERFLOW;
        if (2 * (seg1 + seg2) > sizeof buf / sizeof buf[0]) {
            if (!(heap = (size_t *)ENTK_MALLOC(2 * (seg1 + seg2) * sizeof *heap))) return ENTK_ERR_NOMEM;
            o = heap;
        }
        o1 = o;
        o2 = o + seg1;
        entk__canon_order(x1, seg1, D, o1, o + seg1 + seg2);
        entk__canon_order(x2, seg2, D, o2, o + seg1 + seg2);
    }
    for (ai = 0; ai < seg1 && !e; ++ai)
        for (bi = 0; bi < seg2 && !e; ++bi) {
            const size_t a = o1 ? o1[ai] : ai, b = o2 ? o2[bi] : bi;
            const double *xa = x1 + a * D, *ra = r1 + a * L;
            double kk, tt;
            if (z1 && (!z1[a] || !z2[b])) continue;
            if (same && a == b)
                e = dom->diag ? dom->diag(plan, xa, ra, &kk, &tt)
                              : dom->pair(plan, xa, ra, xa, ra, want_t, wk, cache, &kk, &tt);
            else
                e = dom->pair(plan, xa, ra, x2 + b * D, r2 + b * L, want_t, wk, cache, &kk, &tt);
            if (!e) {
                *ks += kk;
                *ts += tt;
            }
        }
    ENTK_FREE(heap);
    return e;
}

/* The Gram matrix of a domain. x1 holds n1 items of seg1 inputs each (item i: inputs i seg1 to
 * i seg1 + seg1 - 1), x2 n2 items of seg2 inputs; output entry (i, j) aggregates (agg) the kernels of
 * the seg1 x seg2 input pairs of items i and j, added from 0 in row-major order of the pairs. x2 ==
 * NULL: x2 = x1 (n2, seg2 ignored); only the upper triangle of items is computed, then mirrored, and
 * an input against itself goes through diag(). The caller has checked the arguments (n1, n2 > 0, the
 * pointers, ld, finite inputs); nngp or ntk NULL: not wanted (not both).
 *
 * Two loops shared by the OpenMP threads: every input's self record, then the item pairs (dynamic
 * schedule, one at a time; each thread its own workspace and cache). After an error no new pair
 * starts and an error status is returned (the output is then unspecified). Progress
 * (entk__progress_tick) counts finished output rows: each row counts its pairs left, and the pair
 * that empties it ticks. */
ENTK__FOR_DOMAINS entk_status entk__gram(const entk__domain *dom, const void *plan, const double *x1, size_t n1,
                                         size_t seg1, const double *x2, size_t n2, size_t seg2, entk__agg agg,
                                         double *nngp, size_t ldk, double *ntk, size_t ldt, int threads) {
    const int sym = x2 == NULL, want_t = ntk != NULL;
    const size_t L = dom->self_len, D = dom->in_len;
    size_t N1, N2, nrec, nself, npairs, cnt, done_rows = 0, *left = NULL;
    unsigned char *live = NULL; /* ENTK__AGG_SUM: 0 for an all-zero input (its record is not computed) */
    double *self = NULL, scale;
    entk_status st;
    long long ns, p, np;
    if (sym) { x2 = x1; n2 = n1; seg2 = seg1; }
    if ((st = entk__mul(n1, seg1, &N1)) || (st = entk__mul(n2, seg2, &N2))) return st;
    if ((st = entk__mul(N1, D, &cnt)) || (st = entk__mul(N2, D, &cnt))) return st;
    if (!sym && N1 > SIZE_MAX - N2) return ENTK_ERR_OVERFLOW;
    nrec = N1 + (sym ? 0 : N2);
    if ((st = entk__mul(nrec, L, &nself)) || (st = entk__mul(n1, n2, &npairs))) return st;
    if (n1 > SIZE_MAX / sizeof *left || nrec > (size_t)LLONG_MAX || npairs > (size_t)LLONG_MAX)
        return ENTK_ERR_OVERFLOW;
    scale = agg == ENTK__AGG_MEAN ? (double)seg1 * (double)seg2 : 1.0;
    left = (size_t *)ENTK_MALLOC(n1 * sizeof *left);
    if (!left) return ENTK_ERR_NOMEM;
    for (p = 0; p < (long long)n1; ++p) left[p] = sym ? n2 - (size_t)p : n2;
    if ((st = entk__alloc_doubles(nself, &self))) goto done;
    if (agg == ENTK__AGG_SUM && !(live = (unsigned char *)ENTK_MALLOC(nrec))) {
        st = ENTK_ERR_NOMEM;
        goto done;
    }
    ns = (long long)nrec;
    np = (long long)npairs;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads > 1 ? threads : 1) if (threads > 1)
#else
    ENTK__UNUSED(threads);
#endif
    {
        double *wk = NULL;
        entk_status lst = entk__alloc_work(dom->work_len, &wk);
        void *cache = dom->cache_size ? ENTK_MALLOC(dom->cache_size) : NULL;
        if (cache && dom->cache_init) dom->cache_init(cache);
        if (lst) (void)entk__status_merge(&st, lst);
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (p = 0; p < ns; ++p) {
            const double *x = (size_t)p < N1 ? x1 + (size_t)p * D : x2 + ((size_t)p - N1) * D;
            if (!wk) continue;
            if (live && !(live[p] = (unsigned char)!entk__all_zero(x, D))) continue;
            lst = dom->self(plan, x, want_t, self + (size_t)p * L, wk, cache);
            if (lst) (void)entk__status_merge(&st, lst);
        }
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (p = 0; p < np; ++p) {
            const size_t i = (size_t)p / n2, j = (size_t)p % n2, r2 = (sym ? 0 : N1) + j * seg2;
            double ks, ts;
            entk_status e;
            if (!wk || (sym && j < i)) continue;
            if (entk__status_merge(&st, ENTK_OK)) continue;
            e = entk__gram_entry(dom, plan, x1 + i * seg1 * D, self + i * seg1 * L, live ? live + i * seg1 : NULL,
                                 seg1, x2 + j * seg2 * D, self + r2 * L, live ? live + r2 : NULL, seg2,
                                 sym && i == j, want_t, wk, cache, &ks, &ts);
            if (e) (void)entk__status_merge(&st, e);
            if (nngp) nngp[i * ldk + j] = ks / scale;
            if (ntk) ntk[i * ldt + j] = ts / scale;
            {
                size_t now;
#ifdef _OPENMP
#pragma omp atomic capture
#endif
                now = --left[i];
                if (now == 0) entk__progress_tick(&done_rows, 1, n1);
            }
        }
        ENTK_FREE(wk);
        ENTK_FREE(cache);
    }
    if (!st && sym) entk__gram_mirror(n1, nngp, ldk, ntk, ldt);
done:
    ENTK_FREE(live);
    ENTK_FREE(self);
    ENTK_FREE(left);
    return st;
}

/* The diagonal of entk__gram's matrix alone: entry i aggregates item i of x1 (n items of seg1 inputs)
 * against item i of x2 (n items of seg2 inputs), with the same operations in the same order as entry
 * (i, i) of entk__gram(dom, plan, x1, n, seg1, x2, n, seg2, agg, ...), so the same bits. x2 == NULL: x2
 * = x1 (seg2 ignored), the diagonal of the symmetric Gram matrix (an input against itself through
 * diag()). The caller has checked the arguments as for entk__gram; kd or td NULL: not wanted (td ==
 * NULL: no NTK). One loop over the items shared by the OpenMP threads (dynamic schedule); each thread
 * computes its item's self records into its own seg1 + seg2 records, so the memory does not grow with
 * n. After an error no new item starts and an error status is returned. No progress is reported
 * (entk_set_progress counts the rows of Gram matrices). */
ENTK__FOR_DOMAINS entk_status entk__gram_diag(const entk__domain *dom, const void *plan, const double *x1, size_t n,
                                              size_t seg1, const double *x2, size_t seg2, entk__agg agg,
                                              double *kd, double *td, int threads) {
    const int sym = x2 == NULL, want_t = td != NULL;
    const size_t L = dom->self_len, D = dom->in_len;
    size_t N, nrec, reclen;
    double scale;
    entk_status st;
    long long p;
    if (sym) { x2 = x1; seg2 = seg1; }
    if ((st = entk__mul(n, seg1, &N)) || (st = entk__mul(N, D, &N)) || (st = entk__mul(n, seg2, &N)) ||
        (st = entk__mul(N, D, &N)))
        return st;
    if (!sym && seg1 > SIZE_MAX - seg2) return ENTK_ERR_OVERFLOW;
    nrec = seg1 + (sym ? 0 : seg2);
    if ((st = entk__mul(nrec, L, &reclen))) return st;
    if (n > (size_t)LLONG_MAX) return ENTK_ERR_OVERFLOW;
    scale = agg == ENTK__AGG_MEAN ? (double)seg1 * (double)seg2 : 1.0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads > 1 ? threads : 1) if (threads > 1)
#else
    ENTK__UNUSED(threads);
#endif
    {
        double *wk = NULL, *rec = NULL;
        unsigned char *live = NULL;
        void *cache = dom->cache_size ? ENTK_MALLOC(dom->cache_size) : NULL;
        entk_status lst = entk__alloc_work(dom->work_len, &wk);
        if (!lst) lst = entk__alloc_doubles(reclen, &rec);
        if (!lst && agg == ENTK__AGG_SUM && !(live = (unsigned char *)ENTK_MALLOC(nrec))) lst = ENTK_ERR_NOMEM;
        if (cache && dom->cache_init) dom->cache_init(cache);
        if (lst) (void)entk__status_merge(&st, lst);
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (p = 0; p < (long long)n; ++p) {
            const double *xi = x1 + (size_t)p * seg1 * D, *xj = x2 + (size_t)p * seg2 * D;
            double ks, ts;
            entk_status e = ENTK_OK;
            size_t r;
            if (lst || entk__status_merge(&st, ENTK_OK)) continue;
            for (r = 0; r < nrec && !e; ++r) {
                const double *x = r < seg1 ? xi + r * D : xj + (r - seg1) * D;
                if (live && !(live[r] = (unsigned char)!entk__all_zero(x, D))) continue;
                e = dom->self(plan, x, want_t, rec + r * L, wk, cache);
            }
            if (!e)
                e = entk__gram_entry(dom, plan, xi, rec, live, seg1, xj, sym ? rec : rec + seg1 * L,
                                     live && !sym ? live + seg1 : live, seg2, sym, want_t, wk, cache, &ks, &ts);
            if (e) {
                (void)entk__status_merge(&st, e);
                continue;
            }
            if (kd) kd[p] = ks / scale;
            if (td) td[p] = ts / scale;
        }
        ENTK_FREE(wk);
        ENTK_FREE(rec);
        ENTK_FREE(live);
        ENTK_FREE(cache);
    }
    return st;
}

/* ---- 9.5.4 The MLP as a pair-kernel domain (the MLP atom networks of entk_so3.h) ------------- */

/* Plan: the architecture (checked by entk__mlp_check) and the input length d. */
typedef struct entk__mlp_job {
    const entk_arch *a;
    size_t d;
} entk__mlp_job;

/* Record: the input's diagonals leaving every layer (entk__mlp_diag_chain), then its final Theta. */
ENTK__FOR_DOMAINS entk_status entk__mlp_dom_self(const void *plan, const double *x, int want_t, double *rec,
                                                 double *work, void *cache) {
    const entk__mlp_job *jb = (const entk__mlp_job *)plan;
    const size_t L = (size_t)jb->a->n_layers;
    ENTK__UNUSED(want_t);
    ENTK__UNUSED(work);
    ENTK__UNUSED(cache);
    entk__mlp_diag_chain(entk__kt(), jb->a, x, 1, jb->d, rec, rec + L, NULL, NULL);
    return entk__finite(rec, L + 1) ? ENTK_OK : ENTK_ERR_RANGE;
}

/* One pair, as one entry of entk_mlp_kernel's rows. */
ENTK__FOR_DOMAINS entk_status entk__mlp_dom_pair(const void *plan, const double *x1, const double *r1,
                                                 const double *x2, const double *r2, int want_t, double *work,
                                                 void *cache, double *k, double *t) {
    const entk__mlp_job *jb = (const entk__mlp_job *)plan;
    const entk__kernels *kt = entk__kt();
    const entk_layer *l0 = &jb->a->layer[0];
    double v;
    ENTK__UNUSED(work);
    ENTK__UNUSED(cache);
    kt->dots(1, x1, jb->d, x2, jb->d, 1, jb->d, &v, 1);
    *k = l0->sw * l0->sw * v / (double)jb->d;
    *t = 0;
    entk__mlp_row(kt, jb->a, k, want_t ? t : NULL, 1, r1, 1, r2, 1);
    return entk__finite(k, 1) && entk__finite(t, 1) ? ENTK_OK : ENTK_ERR_RANGE;
}

/* The domain of an MLP on inputs of d doubles (jb must outlive the driver call). */
ENTK__FOR_DOMAINS void entk__mlp_domain(const entk__mlp_job *jb, entk__domain *dom) {
    memset(dom, 0, sizeof *dom);
    dom->in_len = jb->d;
    dom->self_len = (size_t)jb->a->n_layers + 1;
    dom->self = entk__mlp_dom_self;
    dom->pair = entk__mlp_dom_pair;
}

/* ============================================================================================== */
/* 9.6 Linear algebra (packed GEMM, Cholesky, solves, eigensolver)                                */
/* ============================================================================================== */

/* ---- packed GEMM: C += s A B on an m x n block, optionally only where row >= column ------------
 * A(i, p) = a[i * ars + p * acs], B(p, j) = b[p * brs + j * bcs]. The strides are absorbed by the
 * packing, so one driver serves the Cholesky's SYRK (B = A^T), the TRSM updates (B = L^T), the
 * substitutions and the predictors' products. Blocking follows BLIS: a KC x NC panel of B (L3), an
 * MC x KC block of A (L2), one KC x NR micro-panel of B (L1) against MC / MR register tiles. */
#define ENTK__KC 256
#define ENTK__MC 96   /* a multiple of every MR (4, 6, 12) */
#define ENTK__NC 4096 /* a multiple of every NR (8, 16) */
#define ENTK__MR_MAX 12
#define ENTK__NR_MAX 16

/* Micro-kernels c[0..mr)[0..nr) += A B (entk__ukernel_fn, 9.2). */

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

#if ENTK__HAVE_AVX512
/* 12 x 16: 24 zmm accumulators + 2 B vectors + 1 broadcast = 27 of 32 registers; per k step 24 FMAs
 * against 2 loads and 12 broadcasts. Each entry of C is the same chain as in the AVX2 kernel (fma over
 * p from 0, then one add into C), so the two give the same bits: the AVX-512 Cholesky, solves and
 * products equal the AVX2 ones exactly (tests/test_chol.c). */
ENTK__AVX512
static void entk__ukernel_avx512(size_t kc, const double *ap, const double *bp, double *c, size_t ldc) {
    __m512d c00 = _mm512_setzero_pd(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00;
    __m512d c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00;
    __m512d c71 = c00, c80 = c00, c81 = c00, c90 = c00, c91 = c00, ca0 = c00, ca1 = c00, cb0 = c00;
    __m512d cb1 = c00;
    size_t p;
    int r;
    /* C is touched only after the loop: start its rows (two or three lines each) on their way now */
    for (r = 0; r < 12; ++r) {
        _mm_prefetch((const char *)(c + (size_t)r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (size_t)r * ldc + 8), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (size_t)r * ldc + 15), _MM_HINT_T0);
    }
    for (p = 0; p < kc; ++p, ap += 12, bp += 16) {
        const __m512d b0 = _mm512_load_pd(bp), b1 = _mm512_load_pd(bp + 8);
        __m512d a;
#define ENTK__UK_ROW(i, x0, x1)                                                                      \
    a = _mm512_set1_pd(ap[i]); x0 = _mm512_fmadd_pd(a, b0, x0); x1 = _mm512_fmadd_pd(a, b1, x1)
        ENTK__UK_ROW(0, c00, c01); ENTK__UK_ROW(1, c10, c11); ENTK__UK_ROW(2, c20, c21);
        ENTK__UK_ROW(3, c30, c31); ENTK__UK_ROW(4, c40, c41); ENTK__UK_ROW(5, c50, c51);
        ENTK__UK_ROW(6, c60, c61); ENTK__UK_ROW(7, c70, c71); ENTK__UK_ROW(8, c80, c81);
        ENTK__UK_ROW(9, c90, c91); ENTK__UK_ROW(10, ca0, ca1); ENTK__UK_ROW(11, cb0, cb1);
#undef ENTK__UK_ROW
    }
#define ENTK__ACC_ROW(r, x0, x1)                                                                     \
    _mm512_storeu_pd(c + (r) * ldc, _mm512_add_pd(_mm512_loadu_pd(c + (r) * ldc), x0));            \
    _mm512_storeu_pd(c + (r) * ldc + 8, _mm512_add_pd(_mm512_loadu_pd(c + (r) * ldc + 8), x1))
    ENTK__ACC_ROW(0, c00, c01); ENTK__ACC_ROW(1, c10, c11); ENTK__ACC_ROW(2, c20, c21);
    ENTK__ACC_ROW(3, c30, c31); ENTK__ACC_ROW(4, c40, c41); ENTK__ACC_ROW(5, c50, c51);
    ENTK__ACC_ROW(6, c60, c61); ENTK__ACC_ROW(7, c70, c71); ENTK__ACC_ROW(8, c80, c81);
    ENTK__ACC_ROW(9, c90, c91); ENTK__ACC_ROW(10, ca0, ca1); ENTK__ACC_ROW(11, cb0, cb1);
#undef ENTK__ACC_ROW
}

/* entk__pack_fn for w a multiple of 4: 4 x 4 blocks transposed in registers (the packs of the
 * Cholesky's TRSM and SYRK updates read rows of A or L: transposes). */
ENTK__AVX512
static void entk__pack_t_avx512(size_t rows, size_t kc, const double *src, size_t ld, int w, double sign,
                                double *dst) {
    const __m256d s = _mm256_set1_pd(sign);
    const size_t ww = (size_t)w;
    size_t i0, p, r;
    for (i0 = 0; i0 < rows; i0 += ww, dst += ww * kc) {
        const double *a = src + i0 * ld;
        const size_t nrow = rows - i0 < ww ? rows - i0 : ww;
        p = 0;
        if (nrow == ww)
            for (; p + 4 <= kc; p += 4) {
                size_t g;
                for (g = 0; g < ww; g += 4) {
                    const double *y = a + g * ld + p;
                    const __m256d r0 = _mm256_loadu_pd(y), r1 = _mm256_loadu_pd(y + ld);
                    const __m256d r2 = _mm256_loadu_pd(y + 2 * ld), r3 = _mm256_loadu_pd(y + 3 * ld);
                    const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
                    const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
                    double *o = dst + p * ww + g;
                    _mm256_storeu_pd(o, _mm256_mul_pd(s, _mm256_permute2f128_pd(t0, t2, 0x20)));
                    _mm256_storeu_pd(o + ww, _mm256_mul_pd(s, _mm256_permute2f128_pd(t1, t3, 0x20)));
                    _mm256_storeu_pd(o + 2 * ww, _mm256_mul_pd(s, _mm256_permute2f128_pd(t0, t2, 0x31)));
                    _mm256_storeu_pd(o + 3 * ww, _mm256_mul_pd(s, _mm256_permute2f128_pd(t1, t3, 0x31)));
                }
            }
        for (; p < kc; ++p) {
            for (r = 0; r < nrow; ++r) dst[p * ww + r] = sign * a[r * ld + p];
            for (; r < ww; ++r) dst[p * ww + r] = 0.0;
        }
    }
}
#endif /* ENTK__HAVE_AVX512 */

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


/* Doubles of GEMM workspace for any call with at most n columns: the A block, the B panel, one
 * edge tile, and slack for 64-byte alignment. */
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
    const entk__ukernel uk = entk__kt()->uk;
    const size_t mr = (size_t)uk.mr, nr = (size_t)uk.nr;
    double *own = NULL, *ap, *bp, *tile;
    size_t jc, pc, ic, jr, ir;
    if (m == 0 || n == 0 || k == 0) return ENTK_OK;
    if (!ws) {
        entk_status st = entk__alloc_doubles(entk__gemm_ws_doubles(n), &own);
        if (st) return st;
        ws = own;
    }
    /* 64-byte alignment for the B panel's aligned vector loads (each 16-wide row one whole line pair) */
    bp = ws + ((64u - ((uintptr_t)ws & 63u)) & 63u) / sizeof(double);
    ap = bp + (size_t)ENTK__KC * entk__gemm_ncap(n);
    tile = ap + (size_t)ENTK__KC * ENTK__MC;
    for (jc = 0; jc < n; jc += ENTK__NC) {
        const size_t nc = n - jc < ENTK__NC ? n - jc : ENTK__NC;
        for (pc = 0; pc < k; pc += ENTK__KC) {
            const size_t kc = k - pc < ENTK__KC ? k - pc : ENTK__KC;
            if (uk.pack_t && brs == 1) uk.pack_t(nc, kc, b + pc + jc * bcs, bcs, uk.nr, 1.0, bp);
            else entk__pack_b(kc, nc, b + pc * brs + jc * bcs, brs, bcs, uk.nr, bp);
            /* rows above jc lie wholly above the diagonal */
            for (ic = lower ? jc : 0; ic < m; ic += ENTK__MC) {
                const size_t mc = m - ic < ENTK__MC ? m - ic : ENTK__MC;
                if (uk.pack_t && acs == 1) uk.pack_t(mc, kc, a + ic * ars + pc, ars, uk.mr, sign, ap);
                else entk__pack_a(mc, kc, a + ic * ars + pc * acs, ars, acs, uk.mr, sign, ap);
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

#if ENTK__HAVE_AVX512
/* 4 x 4 transpose of rows src, src + ld, ... (4 columns each) into out[0..3]; its own inverse. */
static ENTK__AVX512 inline void entk__tr4_avx512(__m256d a, __m256d b, __m256d c, __m256d d, __m256d *out) {
    const __m256d t0 = _mm256_unpacklo_pd(a, b), t1 = _mm256_unpackhi_pd(a, b);
    const __m256d t2 = _mm256_unpacklo_pd(c, d), t3 = _mm256_unpackhi_pd(c, d);
    out[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    out[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    out[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    out[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

/* The AVX2 leaf on eight rows at a time (a lane per row, so each row sees the same divisions and fmas
 * in the same order: the same bits); a last group of four rows goes to the AVX2 leaf. */
ENTK__AVX512
static size_t entk__trsm_leaf_avx512(size_t m, size_t n, const double *l, size_t ldl, double *x, size_t ldx) {
    __m512d col[16];
    size_t r, j, i, q;
    for (r = 0; r + 8 <= m; r += 8) {
        double *x0 = x + r * ldx;
        for (j = 0; j < n; j += 4) {
            const double *y = x0 + j;
            __m256d lo[4], hi[4];
            entk__tr4_avx512(_mm256_loadu_pd(y), _mm256_loadu_pd(y + ldx), _mm256_loadu_pd(y + 2 * ldx),
                             _mm256_loadu_pd(y + 3 * ldx), lo);
            y += 4 * ldx;
            entk__tr4_avx512(_mm256_loadu_pd(y), _mm256_loadu_pd(y + ldx), _mm256_loadu_pd(y + 2 * ldx),
                             _mm256_loadu_pd(y + 3 * ldx), hi);
            for (q = 0; q < 4; ++q) col[j + q] = _mm512_insertf64x4(_mm512_castpd256_pd512(lo[q]), hi[q], 1);
        }
        for (j = 0; j < n; ++j) {
            const __m512d cj = _mm512_div_pd(col[j], _mm512_set1_pd(l[j * ldl + j]));
            col[j] = cj;
            for (i = j + 1; i < n; ++i) col[i] = _mm512_fnmadd_pd(_mm512_set1_pd(l[i * ldl + j]), cj, col[i]);
        }
        for (j = 0; j < n; j += 4) {
            double *y = x0 + j;
            __m256d lo[4], hi[4];
            entk__tr4_avx512(_mm512_castpd512_pd256(col[j]), _mm512_castpd512_pd256(col[j + 1]),
                             _mm512_castpd512_pd256(col[j + 2]), _mm512_castpd512_pd256(col[j + 3]), lo);
            entk__tr4_avx512(_mm512_extractf64x4_pd(col[j], 1), _mm512_extractf64x4_pd(col[j + 1], 1),
                             _mm512_extractf64x4_pd(col[j + 2], 1), _mm512_extractf64x4_pd(col[j + 3], 1), hi);
            for (q = 0; q < 4; ++q) {
                _mm256_storeu_pd(y + q * ldx, lo[q]);
                _mm256_storeu_pd(y + (q + 4) * ldx, hi[q]);
            }
        }
    }
    return r + entk__trsm_leaf_avx2(m - r, n, l, ldl, x + r * ldx, ldx);
}
#endif /* ENTK__HAVE_AVX512 */

/* X L^T = B in place: x is m x n (ldx), l n x n lower. Recursive, so nearly all flops are GEMM. */
static entk_status entk__trsm_rlt(size_t m, size_t n, const double *l, size_t ldl, double *x, size_t ldx,
                                  double *ws) {
    size_t n1;
    entk_status st;
    if (m == 0 || n == 0) return ENTK_OK;
    if (n <= 16) {
        size_t r0 = 0;
        const entk__kernels *kt = entk__kt();
        if (n % 4 == 0 && kt->trsm4) r0 = kt->trsm4(m, n, l, ldl, x, ldx);
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

ENTKDEF entk_status entk_gemm(size_t m, size_t n, size_t k, double alpha, const double *a, size_t lda, int trans_a,
                              const double *b, size_t ldb, int trans_b, double *c, size_t ldc) {
    if (m == 0 || n == 0 || k == 0) return ENTK_OK;
    if (!a || !b || !c || ldc < n || lda < (trans_a ? m : k) || ldb < (trans_b ? k : n) || !(alpha - alpha == 0))
        return ENTK_ERR_INVALID_ARG;
    return entk__gemm(m, n, k, alpha, a, trans_a ? 1 : lda, trans_a ? lda : 1, b, trans_b ? 1 : ldb,
                      trans_b ? ldb : 1, c, ldc, 0, NULL);
}

/* ---- symmetric eigensolver --------------------------------------------------------------------- */

/* Level-1 row operations of the Householder reduction and of Q's accumulation (entk__vops, 9.2). */

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


/* Rotate rows (entk__rot_fn, 9.2). The QL sweeps spend their time here. */

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
    const entk__vops vo = entk__kt()->vo;
    size_t k, i;
    if (n == 0) return; /* (entk_syev never passes 0; said here so that no inlined copy reads a[-1]) */
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
    const entk__rot_fn rot = entk__kt()->rot;
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
        const entk__vops vo = entk__kt()->vo;
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

/* ============================================================================================== */
/* 9.7 The kernel tables (one per compiled path; see 9.2)                                         */
/* ============================================================================================== */

static const entk__kernels entk__kt_scalar = {
    ENTK_SIMD_SCALAR,
    {entk__identity_map_scalar, entk__relu_map_scalar, entk__erf_map_scalar, entk__leaky_map_scalar,
     entk__gelu_map_scalar, entk__sin_map_scalar, entk__custom_map_scalar},
    entk__affine_scalar, entk__sum3_scalar, entk__addto_scalar, entk__stream_scalar, entk__fence_scalar,
    entk__dots_scalar, {4, 8, entk__ukernel_scalar, NULL}, {entk__dot, entk__axpy, entk__rank2_scalar},
    entk__rot_scalar, NULL, entk__lincomb_scalar};

#ifdef ENTK_NO_SLEEF
#define ENTK__SIN_AVX2 entk__sin_map_scalar
#define ENTK__SIN_NEON entk__sin_map_scalar
#else
#define ENTK__SIN_AVX2 entk__sin_map_avx2
#define ENTK__SIN_NEON entk__sin_map_neon
#endif

#if ENTK__HAVE_AVX2
static const entk__kernels entk__kt_avx2 = {
    ENTK_SIMD_AVX2,
    {entk__identity_map_avx2, entk__relu_map_avx2, entk__erf_map_avx2, entk__leaky_map_avx2,
     entk__gelu_map_avx2, ENTK__SIN_AVX2, entk__custom_map_scalar},
    entk__affine_avx2, entk__sum3_avx2, entk__addto_avx2, entk__stream_avx2, entk__fence_avx2,
    entk__dots_avx2, {6, 8, entk__ukernel_avx2, NULL}, {entk__dot_avx2, entk__axpy_avx2, entk__rank2_avx2},
    entk__rot_avx2, entk__trsm_leaf_avx2, entk__lincomb_avx2};
#endif /* ENTK__HAVE_AVX2 */

#if ENTK__HAVE_AVX512
/* The AVX-512 table: its own GEMM micro-kernel and transposing pack (the Cholesky, the TRSM and SYRK
 * updates, the substitutions, the predictors' products), TRSM leaf, lincomb (the SO(3) DFTs) and the
 * relu, leaky_relu, erf and gelu maps (zmm, 1.6-2x the AVX2 maps here: bench_maps), all giving the
 * AVX2 bits; the window sums' sum3 and the affine update (entk_cn.h's tiles sit in L1/L2, where zmm
 * halves the loads and stores: the 21-layer CNN's part outside the maps 23.3 -> 19.0 ms per pair,
 * bench_cn --nt); every
 * other entry is the AVX2 kernel: identity and the other row kernels because they are memory-bound, sin (SLEEF's exp and expm1) until a zmm version is built, the dots because a wider
 * version with the AVX2 bits keeps the AVX2 chain count (latency-bound alike). */
static const entk__kernels entk__kt_avx512 = {
    ENTK_SIMD_AVX512,
    {entk__identity_map_avx2, entk__relu_map_avx512, entk__erf_map_avx512, entk__leaky_map_avx512,
     entk__gelu_map_avx512, ENTK__SIN_AVX2, entk__custom_map_scalar},
    entk__affine_avx512, entk__sum3_avx512, entk__addto_avx2, entk__stream_avx2, entk__fence_avx2,
    entk__dots_avx2, {12, 16, entk__ukernel_avx512, entk__pack_t_avx512},
    {entk__dot_avx2, entk__axpy_avx2, entk__rank2_avx2}, entk__rot_avx2, entk__trsm_leaf_avx512, entk__lincomb_avx512};
#endif /* ENTK__HAVE_AVX512 */

#if ENTK__HAVE_NEON
static const entk__kernels entk__kt_neon = {
    ENTK_SIMD_NEON,
    {entk__identity_map_neon, entk__relu_map_neon, entk__erf_map_neon, entk__leaky_map_neon,
     entk__gelu_map_neon, ENTK__SIN_NEON, entk__custom_map_scalar},
    entk__affine_neon, entk__sum3_neon, entk__addto_neon, entk__stream_scalar, entk__fence_scalar,
    entk__dots_neon, {4, 8, entk__ukernel_neon, NULL}, {entk__dot, entk__axpy, entk__rank2_scalar},
    entk__rot_neon, NULL, entk__lincomb_neon};
#endif /* ENTK__HAVE_NEON */

static const entk__kernels *entk__kt_table(entk_simd path) {
    switch (path) {
    case ENTK_SIMD_SCALAR: return &entk__kt_scalar;
#if ENTK__HAVE_AVX2
    case ENTK_SIMD_AVX2: return &entk__kt_avx2;
#endif
#if ENTK__HAVE_AVX512
    case ENTK_SIMD_AVX512: return &entk__kt_avx512;
#endif
#if ENTK__HAVE_NEON
    case ENTK_SIMD_NEON: return &entk__kt_neon;
#endif
    default: return NULL;
    }
}

/* ============================================================================================== */
/* 9.8 Kernel predictors                                                                          */
/* ============================================================================================== */

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

/* The regularised train matrix, factorised: Cholesky L (t = inf) or eigenpairs (finite t), of
 * S = 2^e k_reg, the even power of two e bringing the largest |entry| into [0.25, 1). The scaling is
 * exact (it only moves exponents; even, so square roots scale exactly too and every result is bit for
 * bit that of the unscaled computation wherever that does not overflow or underflow), keeps the
 * factorisations clear of overflow and underflow for any kernel scale (1e-300 or 1e+300 alike), and
 * makes every threshold below relative: jitter, pivot and eigenvalue cut-offs never see an absolute
 * size. Callers undo it: k_reg^-1 = 2^e S^-1. */
typedef struct entk__kinv {
    size_t n;
    int eig;
    int e;     /* S = 2^e k_reg */
    double *f; /* n x n: L in the lower triangle, or eigenvectors as columns */
    double *w; /* eigenvalues of S, ascending (eig); those that are 0 to rounding are exactly 0 */
    double c;  /* lr t / (n k) in the units of S: 2^-e lr t / (n k) */
} entk__kinv;

static void entk__kinv_free(entk__kinv *kv) {
    ENTK_FREE(kv->f);
    ENTK_FREE(kv->w);
    kv->f = kv->w = NULL;
}

/* At most this many jittered Cholesky attempts; the last one uses jitter_max whatever the ratio
 * jitter_max / jitter_start, so the escalation always ends at its limit. */
#define ENTK__JITTER_TRIES 32

static entk_status entk__kinv_build(const double *kdd, size_t ld, size_t n, size_t k,
                                    const entk_predict_opts *o, entk_predict_info *info, entk__kinv *kv) {
    double tr = 0, amax = 0, scale = 0, reg, reg_s;
    size_t i, j, nn;
    entk_status st;
    kv->n = n;
    kv->f = kv->w = NULL;
    kv->eig = !(o->t > DBL_MAX);
    kv->c = 0;
    kv->e = 0;
    for (i = 0; i < n; ++i) {
        for (j = 0; j <= i; ++j) amax = fmax(amax, fabs(kdd[i * ld + j]));
        tr += kdd[i * ld + i];
    }
    reg = o->diag_reg_absolute ? o->diag_reg : o->diag_reg * tr / (double)n;
    info->reg = reg;
    if (reg > amax) amax = reg;
    if (amax > 0) {
        int ex;
        (void)frexp(amax, &ex);
        kv->e = ex % 2 ? -ex - 1 : -ex; /* even: sqrt(2^e x) = 2^(e/2) sqrt(x) exactly */
    }
    reg_s = ldexp(reg, kv->e);
    if ((st = entk__mul(n, n, &nn)) || (st = entk__alloc_doubles(nn, &kv->f))) return st;
    for (i = 0; i < n; ++i) {
        for (j = 0; j <= i; ++j) kv->f[i * n + j] = ldexp(kdd[i * ld + j], kv->e);
        scale += fabs(kv->f[i * n + i]);
    }
    /* jitter unit: the mean |diagonal| of S; a zero diagonal: its largest entry (1 for a zero matrix) */
    scale = scale > 0 ? scale / (double)n : amax > 0 ? ldexp(amax, kv->e) : 1.0;
    if (kv->eig) {
        /* eig(K + r I) = eig(K) + r with the same vectors */
        double *a = kv->f, lmax, tol, neg;
        kv->f = NULL;
        if ((st = entk__alloc_doubles(n, &kv->w)) || (st = entk__alloc_doubles(nn, &kv->f))) {
            ENTK_FREE(a);
            return st;
        }
        st = entk_syev(n, a, n, kv->w, kv->f, n);
        ENTK_FREE(a);
        if (st) return st;
        for (i = 0; i < n; ++i) kv->w[i] += reg_s;
        info->min_eig = ldexp(kv->w[0], -kv->e);
        info->used_eigen = 1;
        /* Eigenvalues within n eps l_max of 0 (LAPACK dpstrf's rank rule) are 0 to rounding; their
         * vectors span the null space of the train matrix, on which k(x, X) vanishes too for a PSD
         * kernel, so their exact contribution to every prediction is 0 at any t. Using the limit c
         * of the factor there would multiply rounding noise in k(x, X) v by t instead. Clearly
         * negative eigenvalues mean the kernel is not PSD: rejected like a failed jittered Cholesky. */
        lmax = fmax(fabs(kv->w[0]), fabs(kv->w[n - 1]));
        tol = (double)n * DBL_EPSILON * lmax;
        neg = o->jitter == ENTK_JITTER_ESCALATE ? fmax(tol, o->jitter_max * scale) : tol;
        if (kv->w[0] < -neg) return ENTK_ERR_NOT_PD;
        for (i = 0; i < n; ++i)
            if (kv->w[i] <= tol) {
                kv->w[i] = 0.0;
                ++info->null_eigs;
            }
        kv->c = ldexp(o->lr * o->t / ((double)n * (double)k), -kv->e);
        return ENTK_OK;
    } else {
        /* a copy of S: the factor overwrites kv->f, each attempt starts again from kdd */
        double jit = 0, dmax = 0;
        int tries = 0;
        for (;;) {
            size_t ord = 0;
            if (tries) {
                for (i = 0; i < n; ++i)
                    for (j = 0; j <= i; ++j) kv->f[i * n + j] = ldexp(kdd[i * ld + j], kv->e);
            }
            dmax = 0;
            for (i = 0; i < n; ++i) {
                kv->f[i * n + i] += reg_s + jit;
                dmax = fmax(dmax, fabs(kv->f[i * n + i]));
            }
            st = entk_cholesky(n, kv->f, n, &ord);
            if (st == ENTK_OK || st == ENTK_ERR_NOT_PD) {
                /* a pivot d with d^2 <= n eps max|diag| is a rounding remnant of a singular matrix
                 * (dpstrf's rule): solving with it would return noise amplified by 1/d^2. The
                 * reported order is the first such pivot or the first failed minor (pivots of rows
                 * before a failed minor are valid). */
                const double ptol = (double)n * DBL_EPSILON * dmax;
                const size_t valid = st ? ord - 1 : n;
                for (i = 0; i < valid; ++i)
                    if (!(kv->f[i * n + i] * kv->f[i * n + i] > ptol)) {
                        st = ENTK_ERR_NOT_PD;
                        ord = i + 1;
                        break;
                    }
            }
            if (st != ENTK_ERR_NOT_PD) break;
            if (!info->not_pd_order) info->not_pd_order = ord;
            if (o->jitter == ENTK_JITTER_NONE) break;
            /* start * scale may be subnormal or 0 (a tiny jitter_start), DBL_MIN floors it; the try
             * count bounds the loop whatever the ratio max / start */
            if (tries == 0) jit = fmax(o->jitter_start * scale, DBL_MIN);
            else if (tries == ENTK__JITTER_TRIES - 1) jit = o->jitter_max * scale;
            else jit *= 10.0;
            if (jit > o->jitter_max * scale * (1.0 + 1e-9) || tries == ENTK__JITTER_TRIES) break;
            ++tries;
            ++info->jitter_tries;
        }
        info->jitter = st ? 0.0 : ldexp(jit, -kv->e);
        info->jitter_rel = st ? 0.0 : jit / scale;
        return st;
    }
}

/* (1 - e^{-c l}) / l for an eigenvalue l > 0 of S (c in the units of S; c = inf means t = inf), and 0
 * at l = 0, where the eigenvector is in the null space (see entk__kinv_build). */
static double entk__gd_factor(double l, double c) {
    double x;
    if (!(l > 0)) return 0.0;
    x = c * l;
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

/* b (n x nc, ldb) <- P b with P = S^-1 (I - e^{-c' S}), c' = cscale c, or (half) <- F b with F^T F = P:
 * F = L^-1 (Cholesky; cscale is then irrelevant) or diag(sqrt(g)) V^T. In the units of S: the
 * predictors' P is 2^e times this one. */
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

/* mean (m x k) = test_train (m x n) * 2^e P Y. The factor 2^e goes in where it cannot overflow or
 * underflow an intermediate: into P Y before the product for a large kernel (e < 0), into the
 * product after it for a small one. */
static entk_status entk__predict_mean_with(const entk__kinv *kv, const entk_kernels *K, size_t k,
                                           const double *y, size_t ldy, double *mean, size_t ldm) {
    const size_t n = K->n;
    double *z = NULL;
    size_t i, j, cnt;
    entk_status st;
    if ((st = entk__mul(n, k, &cnt)) || (st = entk__alloc_doubles(cnt, &z))) return st;
    for (i = 0; i < n; ++i) memcpy(z + i * k, y + i * ldy, k * sizeof *z);
    if (!(st = entk__kinv_apply(kv, 1.0, 0, z, k, k))) {
        if (kv->e < 0)
            for (i = 0; i < cnt; ++i) z[i] = ldexp(z[i], kv->e);
        st = entk__matmul(K->m, k, n, K->test_train, K->ld_test_train, 1, z, k, 1, mean, ldm);
        if (!st && kv->e > 0)
            for (i = 0; i < K->m; ++i)
                for (j = 0; j < k; ++j) mean[i * ldm + j] = ldexp(mean[i * ldm + j], kv->e);
    }
    ENTK_FREE(z);
    return st;
}

/* t (n x m) = 2^e a^T for a (m x n, lda): the test-train block in the units of S. */
static void entk__transpose_scaled(const double *a, size_t rows, size_t cols, size_t lda, int e, double *t) {
    size_t i, j;
    for (i = 0; i < rows; ++i)
        for (j = 0; j < cols; ++j) t[j * rows + i] = ldexp(a[i * lda + j], e);
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
        /* W = F 2^e K(X, x): cov = K(x, x') - 2^-e W^T W, with F^T F = S^-1 (I - e^{-2c S}) */
        if ((st = entk__mul(n, m, &cnt)) || (st = entk__alloc_doubles(cnt, &w))) goto done;
        entk__transpose_scaled(K->test_train, m, n, K->ld_test_train, kv.e, w);
        if ((st = entk__kinv_apply(&kv, 2.0, 1, w, m, m))) goto done;
        if (var) {
            for (i = 0; i < m; ++i) var[i] = 0.0;
            for (j = 0; j < n; ++j)
                for (i = 0; i < m; ++i) var[i] += w[j * m + i] * w[j * m + i];
            for (i = 0; i < m; ++i) {
                const double v = entk__test_var(K, i) - ldexp(var[i], -kv.e);
                var[i] = v > 0 || !entk__isfinite(v) ? v : 0.0; /* rounding below 0 at training points */
            }
        }
        if (cov) {
            if ((st = entk__matmul(m, m, n, w, 1, m, w, m, 1, cov, ldc))) goto done;
            for (i = 0; i < m; ++i)
                for (j = 0; j < m; ++j)
                    cov[i * ldc + j] = K->test_test[i * K->ld_test_test + j] - ldexp(cov[i * ldc + j], -kv.e);
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
    /* A^T = P_Theta Theta(X, x) = P (2^e Theta(X, x))  (n x m, dimensionless) */
    if ((st = entk__mul(n, m, &cnt)) || (st = entk__alloc_doubles(cnt, &at))) goto done;
    entk__transpose_scaled(theta->test_train, m, n, theta->ld_test_train, kv.e, at);
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
                var[i] = v > 0 || !entk__isfinite(v) ? v : 0.0; /* -inf stays: overflow */
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

ENTKDEF entk_status entk_targets_standardize(const double *y, size_t n, size_t k, size_t ldy, double *out, size_t ldo,
                                             double *mean, double *scale) {
    size_t i, j;
    if (!y || !out || !mean || !scale || n == 0 || k == 0 || ldy < k || ldo < k) return ENTK_ERR_INVALID_ARG;
    for (i = 0; i < n; ++i)
        for (j = 0; j < k; ++j)
            if (!(y[i * ldy + j] - y[i * ldy + j] == 0.0)) return ENTK_ERR_NONFINITE;
    for (j = 0; j < k; ++j) {
        double m = 0, big = 0, ss = 0, sd;
        for (i = 0; i < n; ++i) m += (y[i * ldy + j] - m) / (double)(i + 1); /* a running mean: no overflow */
        for (i = 0; i < n; ++i) {
            const double dv = fabs(y[i * ldy + j] - m);
            if (dv > big) big = dv;
        }
        if (big > DBL_MAX) { /* y - m overflowed (targets near +-DBL_MAX of both signs): halve first */
            big = 0;
            for (i = 0; i < n; ++i) {
                const double dv = fabs(0.5 * y[i * ldy + j] - 0.5 * m);
                if (dv > big) big = dv;
            }
            for (i = 0; i < n; ++i) {
                const double r = (0.5 * y[i * ldy + j] - 0.5 * m) / big;
                ss += r * r;
            }
            sd = 2 * (big * sqrt(ss / (double)n));
        } else {
            for (i = 0; i < n; ++i) {
                const double r = big > 0 ? (y[i * ldy + j] - m) / big : 0;
                ss += r * r;
            }
            sd = big * sqrt(ss / (double)n);
        }
        mean[j] = m;
        scale[j] = sd > 0 && sd <= DBL_MAX ? sd : 1.0;
    }
    for (i = 0; i < n; ++i)
        for (j = 0; j < k; ++j) {
            const double v = y[i * ldy + j];
            /* halves where v - mean overflows, as above */
            const double dv = v - mean[j];
            out[i * ldo + j] = fabs(dv) <= DBL_MAX ? dv / scale[j] : 2 * ((0.5 * v - 0.5 * mean[j]) / scale[j]);
            if (!(fabs(out[i * ldo + j]) <= DBL_MAX)) return ENTK_ERR_RANGE; /* a spread beyond DBL_MAX */
        }
    return ENTK_OK;
}

/* ============================================================================================== */
/* 9.9 .npy reader and writer                                                                     */
/* ============================================================================================== */

#include <stdio.h> /* fopen/fread/fwrite and snprintf: the library never prints */
#include <stdarg.h>
#include <errno.h>

/* A one-line message into err (errlen bytes, may be 0) and the status st: the .npy reader's and the
 * XYZ reader's (entk_so3.h) error returns. */
static entk_status entk__fail(char *err, size_t errlen, entk_status st, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* Header text quoted in messages: printable ASCII only, at most 40 characters. */
static const char *entk__npy_show(const unsigned char *s, size_t n, char *out) {
    size_t i, m = n > 40 ? 40 : n;
    for (i = 0; i < m; ++i) out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
    if (m < n) { out[m++] = '.'; out[m++] = '.'; out[m++] = '.'; }
    out[m] = 0;
    return out;
}

/* The next few characters of the header, for "expected X at '...'" messages. */
static const char *entk__npy_at(const unsigned char *p, const unsigned char *e, char *out) {
    size_t n = (size_t)(e - p);
    return entk__npy_show(p, n > 12 ? 12 : n, out);
}

typedef struct entk__npy_hdr {
    int ndim, fortran;
    size_t dim[ENTK_NPY_MAX_DIM];
    int type; /* 'd' float64, 'f' float32, 'b' uint8 */
    int swap; /* big-endian data */
    size_t itemsize;
} entk__npy_hdr;

typedef struct entk__npy_cur {
    const unsigned char *p, *e;
    char *err;
    size_t errlen;
} entk__npy_cur;

/* A malformed-header error at cursor c. */
static entk_status entk__npy_herr(const entk__npy_cur *c, const char *fmt, ...) {
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return ENTK_ERR_NPY_HEADER;
}

/* Python's whitespace between tokens inside brackets (newlines included). */
static void entk__npy_ws(entk__npy_cur *c) {
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r' || *c->p == '\f'))
        ++c->p;
}

static int entk__npy_identch(unsigned char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
           ch == '.' || ch >= 0x80;
}

/* A '...' or "..." literal; *s, *n receive its contents. */
static entk_status entk__npy_string(entk__npy_cur *c, const char *what, const unsigned char **s, size_t *n) {
    unsigned char q;
    if (c->p == c->e) return entk__npy_herr(c, "header: unterminated dict");
    q = *c->p;
    if (q != '\'' && q != '"') {
        char buf[48];
        return entk__npy_herr(c, "header: expected a quoted %s at '%s'", what,
                              entk__npy_at(c->p, c->e, buf));
    }
    *s = ++c->p;
    while (c->p < c->e && *c->p != q && *c->p != '\n' && *c->p != '\\') ++c->p;
    if (c->p == c->e || *c->p == '\n')
        return entk__npy_herr(c, "header: unterminated string");
    if (*c->p == '\\')
        return entk__npy_herr(c, "header: escape sequences in strings not supported");
    *n = (size_t)(c->p - *s);
    ++c->p;
    return ENTK_OK;
}

/* shape: a tuple of non-negative integers. "(3)" is an int in Python, not a tuple. */
static entk_status entk__npy_shape(entk__npy_cur *c, int allow_l, entk__npy_hdr *h) {
    char buf[48];
    int commas = 0;
    h->ndim = 0;
    if (c->p == c->e || *c->p != '(')
        return entk__npy_herr(c, "header: shape must be a tuple, not '%s'",
                              entk__npy_at(c->p, c->e, buf));
    ++c->p;
    entk__npy_ws(c);
    if (c->p < c->e && *c->p == ')') { ++c->p; return ENTK_OK; }
    for (;;) {
        const unsigned char *tok = c->p;
        size_t v = 0;
        int big = 0;
        while (c->p < c->e && entk__npy_identch(*c->p)) ++c->p;
        if (c->p < c->e && *c->p == '-' && c->p == tok) {
            ++c->p;
            while (c->p < c->e && entk__npy_identch(*c->p)) ++c->p;
            return entk__npy_herr(c, "shape: negative dimension '%s'",
                                  entk__npy_show(tok, (size_t)(c->p - tok), buf));
        }
        {
            const unsigned char *q = tok, *end = c->p;
            int lead0;
            if (allow_l && end > tok + 1 && (end[-1] == 'L' || end[-1] == 'l')) --end;
            if (q == end) {
                if (c->p == c->e)
                    return entk__npy_herr(c, "header: unterminated shape tuple");
                return entk__npy_herr(c, "shape: expected an integer at '%s'",
                                      entk__npy_at(tok, c->e, buf));
            }
            lead0 = (*q == '0' && end - q > 1); /* Python 3 forbids leading zeros */
            for (; q < end; ++q) {
                unsigned d;
                if (*q < '0' || *q > '9') break;
                d = (unsigned)(*q - '0');
                if (v > (SIZE_MAX - d) / 10) big = 1;
                else v = v * 10 + d;
            }
            if (lead0 || q != end)
                return entk__npy_herr(c, "shape: dimension '%s' is not an integer",
                                      entk__npy_show(tok, (size_t)(c->p - tok), buf));
            if (big)
                return entk__fail(c->err, c->errlen, ENTK_ERR_OVERFLOW,
                                      "shape: dimension %s is too large",
                                      entk__npy_show(tok, (size_t)(c->p - tok), buf));
        }
        if (h->ndim >= ENTK_NPY_MAX_DIM)
            return entk__fail(c->err, c->errlen, ENTK_ERR_NPY_DTYPE,
                                  "shape: more than %d dimensions not supported", ENTK_NPY_MAX_DIM);
        h->dim[h->ndim++] = v;
        entk__npy_ws(c);
        if (c->p == c->e)
            return entk__npy_herr(c, "header: unterminated shape tuple");
        if (*c->p == ',') {
            ++commas;
            ++c->p;
            entk__npy_ws(c);
            if (c->p < c->e && *c->p == ')') { ++c->p; return ENTK_OK; }
            continue;
        }
        if (*c->p == ')') {
            ++c->p;
            if (h->ndim == 1 && commas == 0)
                return entk__npy_herr(c, "header: shape (%zu) is an integer, not a tuple (write (%zu,))",
                                      v, v);
            return ENTK_OK;
        }
        return entk__npy_herr(c, "shape: expected ',' or ')' at '%s'",
                              entk__npy_at(c->p, c->e, buf));
    }
}

/* Parse the header dict h[0..n) into *hd. allow_l: version <= 2.0 (Python 2 long suffix). */
static entk_status entk__npy_parse_header(const unsigned char *h, size_t n, int allow_l, entk__npy_hdr *hd,
                                          char *err, size_t errlen) {
    static const char *const keys[3] = {"descr", "fortran_order", "shape"};
    static const struct { const char *s; int type, swap; size_t size; } descrs[] = {
        {"<f8", 'd', 0, 8}, {">f8", 'd', 1, 8}, {"<f4", 'f', 0, 4}, {">f4", 'f', 1, 4}, {"|u1", 'b', 0, 1},
        {"<u1", 'b', 0, 1}, {">u1", 'b', 0, 1}, {"=u1", 'b', 0, 1}, {"u1", 'b', 0, 1},
    };
    entk__npy_cur c;
    const unsigned char *descr = NULL;
    size_t dlen = 0, k;
    unsigned seen = 0;
    char buf[48];
    entk_status st;
    c.p = h;
    c.e = h + n;
    c.err = err;
    c.errlen = errlen;
    entk__npy_ws(&c);
    if (c.p == c.e) return entk__npy_herr(&c, "header: empty");
    if (*c.p != '{')
        return entk__npy_herr(&c, "header: not a dict (starts with '%s')",
                              entk__npy_at(c.p, c.e, buf));
    ++c.p;
    for (;;) {
        const unsigned char *key;
        size_t klen;
        int ki = -1;
        entk__npy_ws(&c);
        if (c.p == c.e) return entk__npy_herr(&c, "header: unterminated dict");
        if (*c.p == '}') { ++c.p; break; }
        if ((st = entk__npy_string(&c, "key", &key, &klen))) return st;
        for (k = 0; k < 3; ++k)
            if (klen == strlen(keys[k]) && memcmp(key, keys[k], klen) == 0) ki = (int)k;
        if (ki < 0)
            return entk__npy_herr(&c, "header: unknown key '%s'",
                                  entk__npy_show(key, klen, buf));
        if (seen & (1u << ki))
            return entk__npy_herr(&c, "header: duplicate key '%s'", keys[ki]);
        seen |= 1u << ki;
        entk__npy_ws(&c);
        if (c.p == c.e || *c.p != ':')
            return entk__npy_herr(&c, "header: expected ':' after key '%s'", keys[ki]);
        ++c.p;
        entk__npy_ws(&c);
        if (ki == 0) {
            if (c.p < c.e && (*c.p == '[' || *c.p == '('))
                return entk__fail(err, errlen, ENTK_ERR_NPY_DTYPE, "descr is not a string: structured "
                                      "dtypes not supported (float64, float32, uint8 only)");
            if ((st = entk__npy_string(&c, "descr", &descr, &dlen))) return st;
        } else if (ki == 1) {
            const unsigned char *t = c.p;
            while (c.p < c.e && entk__npy_identch(*c.p)) ++c.p;
            if ((size_t)(c.p - t) == 4 && memcmp(t, "True", 4) == 0) hd->fortran = 1;
            else if ((size_t)(c.p - t) == 5 && memcmp(t, "False", 5) == 0) hd->fortran = 0;
            else
                return entk__fail(err, errlen, ENTK_ERR_NPY_HEADER,
                                      "header: fortran_order must be True or False, not '%s'",
                                      c.p > t ? entk__npy_show(t, (size_t)(c.p - t), buf)
                                              : entk__npy_at(t, c.e, buf));
        } else {
            if ((st = entk__npy_shape(&c, allow_l, hd))) return st;
        }
        entk__npy_ws(&c);
        if (c.p == c.e) return entk__npy_herr(&c, "header: unterminated dict");
        if (*c.p == ',') { ++c.p; continue; }
        if (*c.p == '}') { ++c.p; break; }
        return entk__npy_herr(&c, "header: expected ',' or '}' after the value of '%s'",
                              keys[ki]);
    }
    entk__npy_ws(&c);
    if (c.p != c.e)
        return entk__npy_herr(&c, "header: unexpected '%s' after the dict",
                              entk__npy_at(c.p, c.e, buf));
    for (k = 0; k < 3; ++k)
        if (!(seen & (1u << k)))
            return entk__npy_herr(&c, "header: missing key '%s'", keys[k]);
    for (k = 0; k < sizeof descrs / sizeof descrs[0]; ++k)
        if (dlen == strlen(descrs[k].s) && memcmp(descr, descrs[k].s, dlen) == 0) {
            hd->type = descrs[k].type;
            hd->swap = descrs[k].swap;
            hd->itemsize = descrs[k].size;
            return ENTK_OK;
        }
    return entk__fail(err, errlen, ENTK_ERR_NPY_DTYPE,
                          "descr '%s' not supported (float64, float32, uint8 only)",
                          entk__npy_show(descr, dlen, buf));
}

/* 1 on a little-endian host: then little-endian float64 data is a plain copy. */
static int entk__npy_host_le(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* One element at s, assembled byte by byte so the host's byte order never matters. */
static double entk__npy_load(const unsigned char *s, int type, int swap) {
    if (type == 'b') return (double)s[0];
    if (type == 'f') {
        uint32_t u = 0;
        float f;
        int i;
        for (i = 0; i < 4; ++i) u |= (uint32_t)s[swap ? 3 - i : i] << (8 * i);
        memcpy(&f, &u, sizeof f);
        return (double)f;
    } else {
        uint64_t u = 0;
        double d;
        int i;
        for (i = 0; i < 8; ++i) u |= (uint64_t)s[swap ? 7 - i : i] << (8 * i);
        memcpy(&d, &u, sizeof d);
        return d;
    }
}

ENTKDEF void entk_array_free(entk_array *a) {
    if (!a) return;
    ENTK_FREE(a->data);
    memset(a, 0, sizeof *a);
}

ENTKDEF entk_status entk_npy_read_header(const void *buf, size_t len, entk_npy_header *out, char *err,
                                         size_t errlen) {
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    const unsigned char *b = (const unsigned char *)buf;
    entk__npy_hdr h;
    size_t pre, hlen, count = 1, nbytes;
    entk_status st;
    int k;
    if (err && errlen) err[0] = 0;
    if (out) memset(out, 0, sizeof *out);
    if (!out || (!buf && len)) return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG, "NULL argument");
    if (len == 0) return entk__fail(err, errlen, ENTK_ERR_NPY_TRUNCATED, "truncated: empty file");
    if (memcmp(b, magic, len < 6 ? len : 6) != 0)
        return entk__fail(err, errlen, ENTK_ERR_NPY_MAGIC, "bad magic: not a .npy file (no \\x93NUMPY)");
    if (len < 8)
        return entk__fail(err, errlen, ENTK_ERR_NPY_TRUNCATED, "truncated: preamble has %zu of 10 bytes", len);
    if (b[6] < 1 || b[6] > 3 || b[7] != 0)
        return entk__fail(err, errlen, ENTK_ERR_NPY_HEADER, "unsupported format version %u.%u (1.0, 2.0, 3.0 only)",
                          (unsigned)b[6], (unsigned)b[7]);
    pre = b[6] == 1 ? 10 : 12;
    if (len < pre)
        return entk__fail(err, errlen, ENTK_ERR_NPY_TRUNCATED, "truncated: preamble has %zu of %zu bytes", len, pre);
    hlen = (size_t)b[8] | (size_t)b[9] << 8;
    if (pre == 12) hlen |= (size_t)b[10] << 16 | (size_t)((uint32_t)b[11] << 24);
    if (hlen > len - pre)
        return entk__fail(err, errlen, ENTK_ERR_NPY_TRUNCATED, "truncated: header needs %zu bytes, have %zu", hlen,
                          len - pre);
    memset(&h, 0, sizeof h);
    if ((st = entk__npy_parse_header(b + pre, hlen, b[6] <= 2, &h, err, errlen))) return st;
    for (k = 0; k < h.ndim; ++k)
        if (entk__mul(count, h.dim[k], &count))
            return entk__fail(err, errlen, ENTK_ERR_OVERFLOW, "shape: element count overflows size_t");
    if (entk__mul(count, h.itemsize, &nbytes) || nbytes > SIZE_MAX - pre - hlen)
        return entk__fail(err, errlen, ENTK_ERR_OVERFLOW, "shape: data size overflows size_t");
    out->ndim = h.ndim;
    for (k = 0; k < h.ndim; ++k) out->shape[k] = h.dim[k];
    out->fortran_order = h.fortran;
    out->type = h.type;
    out->swap = h.swap;
    out->itemsize = h.itemsize;
    out->size = count;
    out->data_offset = pre + hlen;
    return ENTK_OK;
}

ENTKDEF entk_status entk_npy_read_mem(const void *buf, size_t len, entk_array *out, char *err,
                                      size_t errlen) {
    const unsigned char *src;
    entk_npy_header hd;
    size_t count, nbytes, avail, i;
    entk_status st;
    int k;
    if (err && errlen) err[0] = 0;
    if (out) memset(out, 0, sizeof *out);
    if (!out || (!buf && len)) return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG, "NULL argument");
    if ((st = entk_npy_read_header(buf, len, &hd, err, errlen))) return st;
    count = hd.size;
    nbytes = count * hd.itemsize; /* checked against overflow by entk_npy_read_header */
    avail = len - hd.data_offset;
    if (nbytes > avail)
        return entk__fail(err, errlen, ENTK_ERR_NPY_TRUNCATED, "truncated: need %zu data bytes, have %zu",
                              nbytes, avail);
    if (nbytes < avail)
        return entk__fail(err, errlen, ENTK_ERR_NPY_HEADER,
                              "trailing garbage: %zu bytes after the %zu data bytes",
                              avail - nbytes, nbytes);
    /* the data is in the file, so this allocation is at most 8x the file */
    if ((st = entk__alloc_doubles(count, &out->data)))
        return entk__fail(err, errlen, st, "out of memory for %zu values", count);
    src = (const unsigned char *)buf + hd.data_offset;
    if ((!hd.fortran_order || hd.ndim < 2) && hd.type == 'd' && !hd.swap && entk__npy_host_le()) {
        memcpy(out->data, src, nbytes);
    } else if (!hd.fortran_order || hd.ndim < 2) {
        for (i = 0; i < count; ++i) out->data[i] = entk__npy_load(src + i * hd.itemsize, hd.type, hd.swap);
    } else {
        /* walk C order with an odometer, tracking the element's Fortran offset */
        size_t idx[ENTK_NPY_MAX_DIM], fstride[ENTK_NPY_MAX_DIM], off = 0;
        for (k = 0; k < hd.ndim; ++k) {
            idx[k] = 0;
            fstride[k] = k ? fstride[k - 1] * hd.shape[k - 1] : 1;
        }
        for (i = 0; i < count; ++i) {
            out->data[i] = entk__npy_load(src + off * hd.itemsize, hd.type, hd.swap);
            for (k = hd.ndim - 1; k >= 0; --k) {
                off += fstride[k];
                if (++idx[k] < hd.shape[k]) break;
                off -= fstride[k] * hd.shape[k];
                idx[k] = 0;
            }
        }
    }
    for (i = 0; i < count; ++i) {
        double v = out->data[i];
        if (!(v - v == 0.0)) {
            char where[ENTK_NPY_MAX_DIM * 22 + 4];
            size_t pos = 0, rest = i, div = count;
            where[pos++] = '(';
            for (k = 0; k < hd.ndim; ++k) {
                div /= hd.shape[k];
                pos += (size_t)snprintf(where + pos, sizeof where - pos, k ? ", %zu" : "%zu",
                                        rest / div);
                rest %= div;
            }
            where[pos++] = ')';
            where[pos] = 0;
            entk_array_free(out);
            return entk__fail(err, errlen, ENTK_ERR_NONFINITE,
                                  "value at flat index %zu (C index %s) is %s",
                                  i, where, v != v ? "NaN" : v > 0 ? "+Inf" : "-Inf");
        }
    }
    out->ndim = hd.ndim;
    for (k = 0; k < hd.ndim; ++k) out->shape[k] = hd.shape[k];
    out->size = count;
    return ENTK_OK;
}

/* Grow *buf (capacity *cap, *len bytes read) and read from f until *len == want or the stream ends.
 * The buffer grows by doubling as bytes actually arrive, never beyond want nor (unless the stream
 * holds more) beyond hint, the size the stream reports: an announced size never allocates more than
 * twice what the stream really holds, and a regular file takes one allocation. ENTK_ERR_IO on a read
 * error, ENTK_ERR_NOMEM, else ENTK_OK (then *len < want means the stream ended). */
static entk_status entk__npy_fill(FILE *f, unsigned char **buf, size_t *cap, size_t *len, size_t want,
                                  size_t hint) {
    while (*len < want) {
        size_t got;
        if (*len == *cap) {
            size_t ncap = *cap ? (*cap > SIZE_MAX / 2 ? SIZE_MAX : *cap * 2) : 4096;
            unsigned char *nb;
            if (hint > ncap) ncap = hint;
            if (ncap > want) ncap = want;
            nb = (unsigned char *)ENTK_MALLOC(ncap);
            if (!nb) return ENTK_ERR_NOMEM;
            if (*len) memcpy(nb, *buf, *len);
            ENTK_FREE(*buf);
            *buf = nb;
            *cap = ncap;
        }
        got = fread(*buf + *len, 1, *cap - *len, f);
        *len += got;
        if (*len < *cap) { /* short read: end of stream or an error */
            if (ferror(f)) return ENTK_ERR_IO;
            break;
        }
    }
    return ENTK_OK;
}

/* The file is read in three steps, each only as far as the previous one announces: the 8 bytes of magic
 * and version, the preamble and header, then exactly the data the header's shape needs, and one byte
 * more to detect trailing bytes. A stream that is not a .npy file (/dev/zero, /dev/urandom, a pipe of
 * garbage) is thus rejected after 8 bytes, and an endless stream behind a valid header is read no
 * further than the announced size. Whenever a step comes up short the stream has ended, and the
 * bytes read are the whole file: entk_npy_read_mem then gives exactly the status it gives on it. */
ENTKDEF entk_status entk_npy_read_file(const char *path, entk_array *out, char *err, size_t errlen) {
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    FILE *f;
    long sz;
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0, hint = 0, pre = 0, hlen = 0, total = 0, count = 1, nbytes = 0;
    entk__npy_hdr h;
    entk_status st = ENTK_OK;
    int k, more = 0;
    if (out) memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = 0;
    if (!path || !out) return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG, "NULL argument");
    f = fopen(path, "rb");
    if (!f) return entk__fail(err, errlen, ENTK_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    /* The size the stream reports is only a hint (directories report absurd sizes, /proc files 0,
     * pipes none): it sizes the first allocation and names the trailing byte count, nothing else. */
    if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) >= 0 && (uintmax_t)sz < (uintmax_t)SIZE_MAX)
        hint = (size_t)sz;
    if (fseek(f, 0, SEEK_SET) != 0) clearerr(f);
    if ((st = entk__npy_fill(f, &buf, &cap, &len, 8, 0))) goto done;
    if (len < 8 || memcmp(buf, magic, 6) != 0 || buf[6] < 1 || buf[6] > 3 || buf[7] != 0) goto decode;
    pre = buf[6] == 1 ? 10 : 12;
    if ((st = entk__npy_fill(f, &buf, &cap, &len, pre, 0))) goto done;
    if (len < pre) goto decode;
    hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    if (pre == 12) hlen |= (size_t)buf[10] << 16 | (size_t)((uint32_t)buf[11] << 24);
    if (hlen > SIZE_MAX - pre) {
        st = entk__fail(err, errlen, ENTK_ERR_OVERFLOW, "header length %zu overflows size_t", hlen);
        goto done;
    }
    if ((st = entk__npy_fill(f, &buf, &cap, &len, pre + hlen, hint))) goto done;
    if (len < pre + hlen) goto decode;
    memset(&h, 0, sizeof h);
    if ((st = entk__npy_parse_header(buf + pre, hlen, buf[6] <= 2, &h, err, errlen))) goto done;
    for (k = 0; k < h.ndim; ++k)
        if (entk__mul(count, h.dim[k], &count)) {
            st = entk__fail(err, errlen, ENTK_ERR_OVERFLOW, "shape: element count overflows size_t");
            goto done;
        }
    if (entk__mul(count, h.itemsize, &nbytes) || nbytes > SIZE_MAX - pre - hlen) {
        st = entk__fail(err, errlen, ENTK_ERR_OVERFLOW, "shape: data size overflows size_t");
        goto done;
    }
    total = pre + hlen + nbytes;
    if ((st = entk__npy_fill(f, &buf, &cap, &len, total, hint))) goto done;
    if (len == total) {
        more = fgetc(f) != EOF;
        if (!more && ferror(f)) st = ENTK_ERR_IO;
    }
done:
    if (st == ENTK_ERR_IO) {
        const int e = errno;
        st = entk__fail(err, errlen, st, "cannot read '%s': %s", path, strerror(e));
    } else if (st == ENTK_ERR_NOMEM) {
        st = entk__fail(err, errlen, st, "'%s' is too large for memory (%zu bytes read)", path, len);
    }
    if (st) {
        fclose(f);
        ENTK_FREE(buf);
        return st;
    }
    if (more) {
        fclose(f);
        ENTK_FREE(buf);
        if (hint > total)
            return entk__fail(err, errlen, ENTK_ERR_NPY_HEADER,
                                  "trailing garbage: %zu bytes after the %zu data bytes", hint - total, nbytes);
        return entk__fail(err, errlen, ENTK_ERR_NPY_HEADER,
                              "trailing garbage: more bytes after the %zu data bytes", nbytes);
    }
decode:
    fclose(f);
    st = entk_npy_read_mem(buf, len, out, err, errlen);
    ENTK_FREE(buf);
    return st;
}

/* The header NumPy 1.24 writes for a C-order '<f8' array: the dict, room for shape[0] to grow to 21
 * digits, spaces and '\n' up to a multiple of 64 bytes (64 more if already aligned, as NumPy does).
 * hdr receives preamble and header; *count the element count. data is checked (present, finite)
 * unless it is ENTK__NPY_NO_DATA (entk_npy_write_header). */
static const double entk__npy_no_data[1] = {0.0};
#define ENTK__NPY_NO_DATA (&entk__npy_no_data[0])
static entk_status entk__npy_prepare(const double *data, int ndim, const size_t *shape, unsigned char *hdr,
                                     size_t cap, size_t *hdrlen, size_t *count) {
    char *s = (char *)hdr + 10;
    size_t n = 0, i, c = 1, room = cap - 10;
    int k;
    if (ndim < 0 || ndim > ENTK_NPY_MAX_DIM || (ndim > 0 && !shape)) return ENTK_ERR_INVALID_ARG;
    for (k = 0; k < ndim; ++k)
        if (entk__mul(c, shape[k], &c)) return ENTK_ERR_OVERFLOW;
    if (entk__mul(c, 8, &i)) return ENTK_ERR_OVERFLOW;
    if (data != ENTK__NPY_NO_DATA) { /* entk_npy_write_header: the shape only */
        if (c && !data) return ENTK_ERR_INVALID_ARG;
        for (i = 0; i < c; ++i)
            if (!(data[i] - data[i] == 0.0)) return ENTK_ERR_NONFINITE;
    }
    n += (size_t)snprintf(s + n, room - n, "{'descr': '<f8', 'fortran_order': False, 'shape': (");
    for (k = 0; k < ndim; ++k)
        n += (size_t)snprintf(s + n, room - n, k ? ", %zu" : "%zu", shape[k]);
    n += (size_t)snprintf(s + n, room - n, ndim == 1 ? ",), }" : "), }");
    if (ndim > 0) {
        int digits = snprintf(NULL, 0, "%zu", shape[0]);
        for (k = digits; k < 21; ++k) s[n++] = ' ';
    }
    {
        size_t pad = 64 - (10 + n + 1) % 64;
        memset(s + n, ' ', pad);
        n += pad;
        s[n++] = '\n';
    }
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (unsigned char)(n & 0xff);
    hdr[9] = (unsigned char)(n >> 8);
    *hdrlen = 10 + n;
    *count = c;
    return ENTK_OK;
}

static void entk__npy_store(unsigned char *dst, const double *src, size_t n) {
    size_t i;
    if (n == 0) return; /* src may be NULL then */
    if (entk__npy_host_le()) {
        memcpy(dst, src, n * 8);
        return;
    }
    for (i = 0; i < n; ++i) {
        uint64_t u;
        int b;
        memcpy(&u, &src[i], 8);
        for (b = 0; b < 8; ++b) dst[8 * i + (size_t)b] = (unsigned char)(u >> (8 * b));
    }
}

/* Longest header: the dict (~60), 8 dimensions of up to 20 digits, 21 growth spaces, 64 padding. */
#define ENTK__NPY_HDR_CAP (10 + 80 + ENTK_NPY_MAX_DIM * 22 + 21 + 64 + 16)

ENTKDEF entk_status entk_npy_write_mem(const double *data, int ndim, const size_t *shape, void *buf,
                                       size_t cap, size_t *len) {
    unsigned char hdr[ENTK__NPY_HDR_CAP];
    size_t hl, count, total;
    entk_status st;
    if (!len) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__npy_prepare(data, ndim, shape, hdr, sizeof hdr, &hl, &count))) return st;
    if (entk__mul(count, 8, &total) || total > SIZE_MAX - hl) return ENTK_ERR_OVERFLOW;
    *len = total += hl;
    if (!buf) return ENTK_OK;
    if (cap < total) return ENTK_ERR_INVALID_ARG;
    memcpy(buf, hdr, hl);
    entk__npy_store((unsigned char *)buf + hl, data, count);
    return ENTK_OK;
}

ENTKDEF entk_status entk_npy_write_header(int ndim, const size_t *shape, void *buf, size_t cap, size_t *len) {
    unsigned char hdr[ENTK__NPY_HDR_CAP];
    size_t hl, count;
    entk_status st;
    if (!len) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__npy_prepare(ENTK__NPY_NO_DATA, ndim, shape, hdr, sizeof hdr, &hl, &count))) return st;
    *len = hl;
    if (!buf) return ENTK_OK;
    if (cap < hl) return ENTK_ERR_INVALID_ARG;
    memcpy(buf, hdr, hl);
    return ENTK_OK;
}

ENTKDEF entk_status entk_npy_write_file(const char *path, const double *data, int ndim, const size_t *shape) {
    unsigned char hdr[ENTK__NPY_HDR_CAP], chunk[8 * 512];
    size_t hl, count, i;
    entk_status st;
    FILE *f;
    int ok;
    if (!path) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__npy_prepare(data, ndim, shape, hdr, sizeof hdr, &hl, &count))) return st;
    f = fopen(path, "wb");
    if (!f) return ENTK_ERR_IO;
    ok = fwrite(hdr, 1, hl, f) == hl;
    for (i = 0; ok && i < count; i += 512) {
        size_t m = count - i < 512 ? count - i : 512;
        entk__npy_store(chunk, data + i, m);
        ok = fwrite(chunk, 8, m, f) == m;
    }
    if (fclose(f) != 0) ok = 0;
    /* a failed file is left as it is: path may name a device or a file the caller still wants */
    return ok ? ENTK_OK : ENTK_ERR_IO;
}


ENTK__FP_END
#endif /* ENTK_IMPLEMENTATION */

/*
 * LICENSE: MIT
 *
 * Copyright (c) 2026 the entk authors
 *
 * Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
 * associated documentation files (the "Software"), to deal in the Software without restriction,
 * including without limitation the rights to use, copy, modify, merge, publish, distribute,
 * sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
 * furnished to do so, subject to the following conditions:
 *
 * The above copyright notice and this permission notice shall be included in all copies or
 * substantial portions of the Software.
 *
 * THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
 * NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
 * NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES
 * OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
 * CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
 */
