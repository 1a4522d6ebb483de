/* entk_cn.h - infinite-width NNGP and NTK of CNNs and of C_n / D_n group-equivariant CNNs on the pixel
 *             grid (docs/conventions.md §1.3, §1.4), and their orbit-averaged kernels (docs/conventions.md §2).   MIT
 *
 * USAGE
 *   In exactly one C file:
 *       #define ENTK_IMPLEMENTATION
 *       #include "entk_cn.h"        (includes entk.h, and its implementation with it)
 *   Everywhere else just #include "entk_cn.h". Link with `-lsleef -lm`, or build with -DENTK_NO_SLEEF
 *   and link with `-lm`. Optional: -fopenmp enables the `threads` argument (threads over input pairs;
 *   results are bit-identical to threads = 1).
 *
 * CONFIGURATION MACROS: those of entk.h (ENTK_STATIC, ENTK_NO_SIMD, ENTK_VECTOR, ENTK_NO_SLEEF,
 *   ENTK_MALLOC/ENTK_FREE, ENTK_MAX_LAYERS, ENTK_NPY_MAX_DIM, ENTK_CHOL_NB); this header adds none.
 *
 * CONTENTS
 *   1. Interface: Gram matrices, orbit-averaged Gram matrices, diagonals, the size check, per-pair
 *      workspace API, window sum
 *   2. Implementation: plan (layer checks), window-sum operator A (separable and direct), layers,
 *      per-input self kernels, pair kernel, Gram drivers, the size check and diagonals
 *
 * ARCHITECTURES (entk_arch, parsed by entk_arch_parse)
 *   image layers:  conv | lift  first (the first layer has weights), then any of
 *                  conv (only while the group is trivial), lift (only before the first lift or after a
 *                  rotpool), gconv (only after a lift), nonlinearities, avgpool(p), rotpool;
 *   one reduction: gap | gpool (global mean over rotations and pixels; identical operations) or
 *                  flatten ((1/|domain|) sum of the diagonal);
 *   scalar layers: dense and nonlinearities (entk_scalar_chain of entk.h).
 *   Anything else is ENTK_ERR_ARCH; an image too small for a valid window or a pool is ENTK_ERR_SHAPE.
 *   entk_arch_check (entk.h) and entk_cn_check_shape (with the image size) say why, naming the layer.
 *
 * GROUP CONVENTION
 *   Pixel offsets y = (a, b) are (row, column). R is the 90 degree rotation (a, b) -> (-b, a), F the
 *   mirror (a, b) -> (a, -b) (left-right). lift(n, flip) lifts to the group G of n (1 + flip) elements
 *   h = (r, m), r in Z_n, m in {0, 1} (index r + n m), acting on offsets by rho(h) = R^(4 r / n) F^m.
 *   The product is (r, m)(s, m') = (r + (-1)^m s, m xor m'), so rho is a homomorphism; flip = 0 gives C_n,
 *   flip = 1 gives D_n (D_4 = p4m). lift and gconv follow docs/conventions.md §1.4 with R^r replaced by rho(h) and
 *   r + s by the group product h s.
 *
 * SYMMETRY REDUCTION (docs/conventions.md §1.4)
 *   After a lift every kernel satisfies K((h u, t), (h' u, t')) = K((h, t), (h', t')) for all u in G
 *   (right translation; the square window is invariant under rho). Only the blocks
 *   K_b(t, t') = K((e, t), (b, t')), b in G, are stored and computed: |G| times less memory and work
 *   than the |G|^2 blocks. In this form a gconv acts on block b as the window sum
 *   A_b[M](t, t') = (1/q^2) sum_y M_b(t + y, t' + rho(b) y), and the sum over the filter support S
 *   collapses (support = all and support = id give the same kernel after a lift). Each input's own
 *   diagonal K_xx((h, t), (h, t)) is the same for every h, so it is one value per pixel.
 *
 * THE WINDOW SUM, SEPARABLY (per stored block b)
 *   A_b[M]((i, j), t') = (1/q^2) sum_{a, c in [-h, h]} M((i + a, j + c), t' + rho(b) (a, c)).
 *   rho(b) is a signed permutation, so the window-row offset a moves exactly one primed axis and the
 *   window-column offset c the other: for e, R^2, F, R^2 F, a moves i' (by +-a) and c moves j'; for R,
 *   R^3, R F, R^3 F, a moves j' and c moves i'. The double sum is two 1-D sums along joint "diagonals":
 *   U = sum_a over (i, a's primed axis), then sum_c of U over (j, c's primed axis). Padding factorises
 *   per axis (same: product of in-range indicators; circular: wrap per axis; valid: shifted centres), so
 *   the two-pass form is exact for every padding: 2q instead of q^2 adds per entry. The first pass's
 *   slabs U(i, j_in, ., .) are cached in a few slots while the output columns j are swept, and each
 *   output row t = (i, j) gets its window sum, affine update and the following nonlinearity while it is
 *   in L1. entk_cn_window_sum exposes the operator (and the direct q^2 form, kept as the oracle).
 *
 * SMALL AND LARGE IMAGES
 *   Up to 256 pixels a block fits in L1/L2 and the slab cache's per-row decisions would dominate: the
 *   in-cache path runs each pass over the whole block with the primed shifts precomputed as tables of
 *   long constant-offset runs plus a few fixups (entk_cn_set_small_limit). For larger images, pairs
 *   and self records run chains of up to 21 same-padded 3 x 3 conv layers (with their nonlinearities)
 *   on diagonal tiles: tile (i, i') = K((i, .), (i', .)) needs only tiles (i + a, i' + a) of the layer
 *   before, so a chain sweeps each diagonal i' - i with a ring of 3 tiles (8 KB for 32 x 32) per
 *   intermediate layer, all in L1/L2, and K and Theta go through memory once per chain. A self record
 *   sweeps the main diagonal first (its tiles hold the diagonals it records) and, when its maps are
 *   symmetric in (k11, k22) bit for bit (all but gelu and custom), computes only the diagonals on and
 *   above it and mirrors the rest: about half a pair. Other chains of up to 3 layers, same or valid
 *   padding (convs, or a lift or gconv and the gconvs after it, each stored block its own sweep through
 *   the window of rho(b); a first window up to any q, then q <= 3), run, in pairs, in one sweep over
 *   output block-rows with rings of 3 block-rows (L2/L3); when the reduction follows such a chain it
 *   is taken from the last layer's rows as they are built (the same partial sums in the same order),
 *   so the chain's output is never stored. All are bit-identical to the plain layer-by-layer row path
 *   (the same adds in the same order), which stays as the reference.
 *
 * PERFORMANCE NOTE
 *   Per layer and stored block a pair costs (HW)^2 evaluations of entk_nonlin_map (K and Theta together),
 *   2q (HW)^2 adds per kernel, and one read and one write of K and Theta ((HW)^2 doubles each) from
 *   memory per layer (per fused chain on large images); the maps dominate unless they run vectorised.
 *   Build with -O3 for the vectorised row sums. Measured (bench/bench_cn, AVX2, shared 2-core Zen 3):
 *   7 x 7 demo CNN about 43 us per pair (row path 64 us), C4 GCNN about 165 us (row path 252 us), of
 *   which the relu maps are about half; the 2-layer C4 GCNN of bench_cn on 28 x 28 (valid padding)
 *   about 4.5 ms per pair outside the relu maps in one block-row chain with the gpool taken from its
 *   rows (13 ms layer by layer); neural-tangents' 21-layer CNN on 3 x 32 x 32 about 108-125 ms CPU
 *   per pair on diagonal tiles (165 ms with block-row chains), of which 83-88 ms relu maps at the
 *   maps' earlier 4 ns per K and Theta element (compute-bound) and the rest window sums and affine
 *   updates in L1/L2; a self record about 0.53 of a pair (half the tiles; 1.5 pairs layer by layer).
 *   Two threads on two pairs take the wall time of one pair when the other core is idle (speed-up 1.98
 *   measured; no shared cache or bandwidth limit shows): on a machine shared with other jobs the
 *   speed-up is whatever share of the second core the scheduler grants. Per-thread Gram workspaces sit
 *   on huge pages where Linux allows (first touch of 4 KB pages cost about 100 ms per 37.7 MB
 *   workspace here).
 *
 * EXAMPLE
 *   #define ENTK_IMPLEMENTATION
 *   #include "entk_cn.h"
 *   int main(void) {
 *       entk_arch a; double x[2 * 1 * 6 * 6] = {0}, k[4], t[4];
 *       x[0] = 1; x[36 + 7] = 1;
 *       if (entk_arch_parse("lift(n=4,q=3,pad=circular) relu gconv(q=3,pad=circular) relu gpool dense",
 *                           &a, NULL, 0)) return 1;
 *       return entk_cn_kernel(&a, x, 2, NULL, 0, 1, 6, 6, k, 2, t, 2, 1) != ENTK_OK;
 *   }
 */
#include "entk.h"

#ifndef ENTK_CN_H
#define ENTK_CN_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum entk_orbit {
    ENTK_ORBIT_NONE = 0, /* the kernel itself */
    ENTK_ORBIT_C4,       /* average over the 4 rotations of the second input by multiples of 90 deg */
    ENTK_ORBIT_D4        /* average over the 8 rotations and mirror images of the second input */
} entk_orbit;

/* NNGP and NTK Gram matrices of an image network (see ARCHITECTURES above). x1 is n1 x C x H x W and
 * x2 is n2 x C x H x W (row-major, contiguous, finite). x2 == NULL means x2 = x1: then only the upper
 * triangle is computed and mirrored. nngp (n1 x n2, leading dimension ldk >= n2) and ntk (ldt) may
 * each be NULL (not both). threads > 1 computes pairs in parallel with OpenMP when compiled with it;
 * results are bit-identical to threads = 1. Memory: one workspace (entk_cn_workspace_size) per
 * thread plus the per-input self kernels. Finished output rows (of n1) are reported through the
 * callback of entk_set_progress (entk_cn_kernel_orbit too). ENTK_ERR_RANGE (never OK with a non-finite
 * output) when a kernel value leaves the double range: an input's diagonal before a nonlinearity, its
 * pooled kernel, or an output (inputs beyond ~1e154, or large sw). */
ENTKDEF entk_status entk_cn_kernel(const entk_arch *arch, const double *x1, size_t n1,
                                   const double *x2, size_t n2, size_t C, size_t H, size_t W,
                                   double *nngp, size_t ldk, double *ntk, size_t ldt, int threads);

/* Orbit-averaged Gram matrices (docs/conventions.md §2): Kbar(x, x') = (1/|G|) sum_g K(x, g x'), likewise for the NTK,
 * with G the rotations by multiples of 90 degrees (ENTK_ORBIT_C4) or those and their mirror images
 * (ENTK_ORBIT_D4) acting on the image x' (H == W is required, else ENTK_ERR_SHAPE), for any
 * architecture this header accepts. Arguments as entk_cn_kernel; with x2 == NULL the full matrix is
 * computed (Kbar is symmetric only when the base kernel is invariant under G acting on both inputs).
 * ENTK_ORBIT_NONE is entk_cn_kernel. */
ENTKDEF entk_status entk_cn_kernel_orbit(const entk_arch *arch, entk_orbit orbit, const double *x1,
                                         size_t n1, const double *x2, size_t n2, size_t C, size_t H,
                                         size_t W, double *nngp, size_t ldk, double *ntk, size_t ldt,
                                         int threads);

/* Each input's own kernel values, as entk_mlp_diag for MLPs: nngp_diag[i] = K(x_i, x_i) and
 * ntk_diag[i] = Theta(x_i, x_i) for the n inputs x (n x C x H x W, finite); either output may be NULL.
 * The values are the diagonal of entk_cn_kernel(arch, x, n, NULL, ...) bit for bit, at the cost of
 * one self pass per input (no pair pass). threads as entk_cn_kernel (bit-identical results).
 * Statuses as entk_cn_kernel. */
ENTKDEF entk_status entk_cn_diag(const entk_arch *arch, const double *x, size_t n, size_t C, size_t H,
                                 size_t W, double *nngp_diag, double *ntk_diag, int threads);

/* The diagonal of the orbit-averaged Gram matrix: nngp_diag[i] = Kbar(x_i, x_i) = (1/|G|) sum_g
 * K(x_i, g x_i), likewise for the NTK, equal bit for bit to the diagonal of entk_cn_kernel_orbit(arch,
 * orbit, x, n, NULL, ...) (|G| pair passes per input). ENTK_ORBIT_NONE is entk_cn_diag. Arguments and
 * statuses as entk_cn_diag and entk_cn_kernel_orbit (H == W for C4, D4). */
ENTKDEF entk_status entk_cn_diag_orbit(const entk_arch *arch, entk_orbit orbit, const double *x, size_t n,
                                       size_t C, size_t H, size_t W, double *nngp_diag, double *ntk_diag,
                                       int threads);

/* Whether the kernel functions of this header accept arch for C x H x W inputs (orbit: what
 * entk_cn_kernel_orbit would average over; ENTK_ORBIT_NONE for entk_cn_kernel and the per-pair API):
 * the status they return before looking at the data, with one line in err (errlen bytes, may be 0;
 * "" on success) naming the reason. These are entk_arch_check's rules of an image architecture
 * (first layer conv or lift, gconv and rotpool after a lift, ..., "layer 2 'gconv': gconv must follow
 * a lift", ENTK_ERR_ARCH; SO(3) layers are ENTK_ERR_ARCH here) together with those that need the size,
 * at the layer where each applies: ENTK_ERR_SHAPE for an empty input ("empty images (0 x 5 x 5)"), a
 * valid window or a pool larger than the maps entering it ("layer 3 'conv': window 5 larger than the
 * 3 x 3 input", "layer 2 'avgpool': pool 4 larger than the 3 x 3 input") and non-square images under
 * an orbit; ENTK_ERR_OVERFLOW for images whose workspace size overflows size_t; ENTK_ERR_INVALID_ARG
 * for an orbit outside entk_orbit. */
ENTKDEF entk_status entk_cn_check_shape(const entk_arch *arch, entk_orbit orbit, size_t C, size_t H, size_t W,
                                        char *err, size_t errlen);

/* ---- per-pair API: single pairs without allocation ---- */

/* Checks the architecture against C x H x W inputs and returns the sizes (in doubles) of the pair
 * workspace (*work_len) and of one input's self-kernel record (*self_len). Either pointer may be NULL.
 * The workspace holds 4 |G| kernel blocks of (HW)^2 doubles (K and Theta, read from one copy and
 * written to the other by each layer), 14 (W + 1) H W doubles of row buffers (at least 2 (W + 1) H W
 * + 123 W^2 for the tiles of conv chains; less for W > 32), two self records and 8 doubles to start the kernels on a
 * cache line: 37 MB for 3 x 32 x 32 CNN inputs, 81 MB for a C4 GCNN on 28 x 28. */
ENTKDEF entk_status entk_cn_workspace_size(const entk_arch *arch, size_t C, size_t H, size_t W,
                                           size_t *work_len, size_t *self_len);

/* One input's self-kernel record: its own diagonal K_xx(g, g) before every image nonlinearity and its
 * kernel after the reduction layer. x is C x H x W; self has self_len doubles; work has work_len
 * doubles. Compute once per input and pass to every entk_cn_pair involving it; it costs about as much
 * as a pair, or half of one where same-padded 3 x 3 conv chains with maps other than gelu and custom
 * run on diagonal tiles (see SMALL AND LARGE IMAGES). ENTK_ERR_RANGE if a recorded value is not
 * finite. */
ENTKDEF entk_status entk_cn_self(const entk_arch *arch, const double *x, size_t C, size_t H, size_t W,
                                 double *self, double *work);

/* NNGP *k and NTK *t of one pair (x1, x2), each C x H x W. self1 and self2 are the inputs' records from
 * entk_cn_self, or NULL (then they are computed in the workspace). t may be NULL (NNGP only: the NTK's
 * window sums are skipped). No allocation; work has work_len doubles. ENTK_ERR_RANGE as entk_cn_kernel. */
ENTKDEF entk_status entk_cn_pair(const entk_arch *arch, const double *x1, const double *self1,
                                 const double *x2, const double *self2, size_t C, size_t H, size_t W,
                                 double *work, double *k, double *t);

/* The window-sum operator A of a conv / lift / gconv layer (exposed for tests and benchmarks):
 *   out(t, t') = (1/q^2) sum_{y in window} m(t + y, t' + rho(block) y)
 * m is an (H W) x (H W) pixel kernel, out is (Ho Wo) x (Ho Wo) with Ho = H - q + 1 for valid padding
 * (Wo likewise) and Ho = H otherwise; rho as in GROUP CONVENTION for the group (n, flip), block < n (1 +
 * flip). direct = 0 uses the separable two-pass form (tmp: min(q, W) H W doubles), direct = 1 the q^2
 * gather per entry (tmp unused, may be NULL), direct = 2 the separable form of the in-cache path for
 * small images (H, W <= 32, H W <= 256, q <= 7, else ENTK_ERR_INVALID_ARG; tmp: (H W)^2 doubles). 0 and 2 give the
 * same values bit for bit; the direct form agrees with them to rounding. */
ENTKDEF entk_status entk_cn_window_sum(const double *m, size_t H, size_t W, int q, entk_pad pad, int n,
                                       int flip, int block, int direct, double *tmp, double *out);

/* Layers whose input has at most max_pixels pixels (H W; further capped at 256, sides <= 32, q <= 7)
 * take the in-cache path: whole-block window sums with precomputed index tables instead of the
 * row-by-row slab cache. Both paths give bit-identical kernels; this only trades speed (default 256;
 * 0 disables the in-cache path). Global like entk_simd_set: set it before starting threads. Returns
 * the previous value. */
ENTKDEF size_t entk_cn_set_small_limit(size_t max_pixels);

#ifdef __cplusplus
}
#endif
#endif /* ENTK_CN_H */

/* ============================================================================================== */
/* --- implementation ---                                                                         */
/* ============================================================================================== */
#if defined(ENTK_IMPLEMENTATION) && !defined(ENTK_CN_IMPLEMENTATION_DONE)
#define ENTK_CN_IMPLEMENTATION_DONE
ENTK__FP_BEGIN /* contraction off, as in entk.h (see there) */

/* ============================================================================================== */
/* 2.1 Plan: the layer checks and the sizes                                                       */
/* ============================================================================================== */

/* Bounds of the in-cache path for small images (2.2): its index tables live on the stack, and the
 * workspace holds a whole block of scratch for inputs of at most ENTK__CN_SMALL_P pixels. */
#define ENTK__CN_SMALL_N 32  /* largest side */
#define ENTK__CN_SMALL_Q 7   /* largest window */
#define ENTK__CN_SMALL_P 256 /* largest H W */
#ifndef ENTK__CN_CHAIN        /* private; overridable only to measure the fusion (1: none) */
#define ENTK__CN_CHAIN 3     /* longest chain of conv layers fused into one sweep (entk__cn_fused) */
#endif
#ifndef ENTK__CN_TCHAIN       /* private; overridable only to measure */
#define ENTK__CN_TCHAIN 21   /* longest chain of 3 x 3 conv layers on diagonal tiles (entk__cn_tiled) */
#endif
/* entk__cn_tiled's workspace for a chain of M layers: per layer but the last a ring of 3 tiles of K
 * and Theta; the last layer's tiles and a first-pass tile */
#define ENTK__CN_TILE_LEN(M, W) ((size_t)(6 * ((M) - 1) + 3) * (W) * (W))
/* Longest tiled chain for W-wide images: the rings (6 W^2 doubles per layer) are read again two steps
 * after they are written, so they should stay within about 1 MB (L2 and a little of L3). Measured on
 * 32 x 32 (21 x [conv relu]): one chain of 21 takes 125 ms per pair, chains of 7 131 ms, of 3 150 ms. */
static int entk__cn_tchain(size_t W) {
    const size_t m = 1 + (((size_t)1 << 17) / 6) / (W * W);
    return m < (size_t)ENTK__CN_TCHAIN ? (int)m : ENTK__CN_TCHAIN;
}

typedef struct entk__cn_plan {
    int red;          /* index of the reduction layer (gap, gpool or flatten) */
    int ng_max;       /* largest number of stored blocks */
    size_t P0;        /* H W */
    size_t blk;       /* P0^2: stride between stored blocks */
    size_t self_len;  /* per-input record: diagonals before each image nonlinearity, then k, theta */
    size_t row_len;   /* 2 (W + 1) (H W): window-sum slot memory and two output rows */
    size_t fuse_len;  /* 12 (W + 1) (H W): fused layer chains (entk__cn_fused) */
    size_t work_len;
    const entk__kernels *kt; /* the kernel table, read once per call (entk.h 9.2) */
} entk__cn_plan;

static int entk__cn_group_size(const entk_layer *l) { return l->n * (1 + (l->flip ? 1 : 0)); }

/* The sizes of a plan whose layers are checked (red, ng_max set); self: pixels entering the image
 * nonlinearities, summed. ENTK_ERR_OVERFLOW when they do not fit size_t. */
static entk_status entk__cn_plan_sizes(size_t C, size_t H, size_t W, size_t self, entk__cn_plan *p) {
    size_t t;
    entk_status st;
    if ((st = entk__mul(H, W, &p->P0)) || (st = entk__mul(p->P0, p->P0, &p->blk))) return st;
    if ((st = entk__mul(C, p->blk, &t))) return st; /* the inputs themselves must be addressable */
    p->self_len = self + 2;
    /* K and Theta twice (ping-pong: layers read one copy and write the other), the slots of two
     * window-sum caches (at most W slabs of H W each) and two output rows */
    if ((st = entk__mul(p->blk, (size_t)(4 * p->ng_max), &t))) return st;
    if (t > SIZE_MAX / sizeof(double) - 2 * p->self_len - 14 * (W + 1) * p->P0 - p->blk - 8 -
                ENTK__CN_TILE_LEN(entk__cn_tchain(W), W))
        return ENTK_ERR_OVERFLOW;
    p->row_len = 2 * (W + 1) * p->P0;
    /* the in-cache path's slabs: the whole first pass of one block */
    if (p->P0 <= ENTK__CN_SMALL_P && p->blk > p->row_len) p->row_len = p->blk;
    /* fused layer chains: per layer after the first, two slot caches and a ring of 3 block-rows of K
     * and Theta; or the tiles of entk__cn_tiled */
    p->fuse_len = (ENTK__CN_CHAIN - 1) * 6 * (W + 1) * p->P0;
    if (p->fuse_len < ENTK__CN_TILE_LEN(entk__cn_tchain(W), W)) p->fuse_len = ENTK__CN_TILE_LEN(entk__cn_tchain(W), W);
    /* 8 more: the kernels start on a cache line (entk__cn_run), so that streamed rows fill whole lines */
    p->work_len = t + p->row_len + p->fuse_len + 2 * p->self_len + 8;
    return ENTK_OK;
}

/* The plan of arch for C x H x W inputs: the layer rules (entk__arch_scan of entk.h, with the image
 * size; the reason goes to err, which may be NULL) and the sizes. */
static entk_status entk__cn_plan_build(const entk_arch *a, size_t C, size_t H, size_t W, entk__cn_plan *p,
                                       char *err, size_t errlen) {
    const size_t chw[3] = {C, H, W};
    entk__arch_info in;
    size_t self;
    entk_status st;
    memset(&in, 0, sizeof in); /* set by the scan; cleared so no inlined copy warns of it */
    p->kt = entk__kt();
    if ((st = entk__arch_scan(p->kt, a, ENTK_DOMAIN_IMAGE, chw, err, errlen, &in))) return st;
    p->red = in.red;
    p->ng_max = in.ng_max;
    self = in.self;
    st = entk__cn_plan_sizes(C, H, W, self, p);
    if (st) (void)entk__arch_error(err, errlen, "images of %zu x %zu x %zu: the workspace size overflows", C, H, W);
    return st;
}

static entk_status entk__cn_plan_make(const entk_arch *a, size_t C, size_t H, size_t W, entk__cn_plan *p) {
    return entk__cn_plan_build(a, C, H, W, p, NULL, 0);
}

/* ============================================================================================== */
/* 2.2 The window-sum operator A                                                                  */
/* ============================================================================================== */

/* rho(b) as a signed permutation matrix m (row-major 2 x 2) acting on (row, column) offsets. */
static void entk__cn_rho(int n, int b, int m[4]) {
    int r = b % n, mir = b / n, k, i;
    m[0] = 1; m[1] = 0; m[2] = 0; m[3] = mir ? -1 : 1;
    for (k = 0; k < r * (4 / n); ++k) { /* m <- R m with R = [[0, -1], [1, 0]] */
        int n0[4];
        for (i = 0; i < 2; ++i) { n0[i] = -m[2 + i]; n0[2 + i] = m[i]; }
        memcpy(m, n0, sizeof n0);
    }
}

/* Input index on an axis of size N for output index o and offset s (h = half window); -1 outside
 * (same padding). Valid outputs are centred at o + h. */
static long entk__cn_idx(size_t o, long s, size_t N, int h, entk_pad pad) {
    long v = (long)o + s, n = (long)N;
    if (pad == ENTK_PAD_VALID) return v + h;
    if (pad == ENTK_PAD_CIRCULAR) { v %= n; return v < 0 ? v + n : v; }
    return (v >= 0 && v < n) ? v : -1;
}

/* Copy a finished output row to the kernel array. The row was built in L1; for kernels too large for
 * the caches, streaming stores (kt->stream) skip reading the destination lines first (a third of a
 * layer's memory traffic). */
static void entk__cn_store(const entk__kernels *kt, const double *src, double *dst, size_t n, int stream) {
    if (stream) kt->stream(src, dst, n);
    else memcpy(dst, src, n * sizeof *dst);
}

/* Sum of nt shifted rows: orow[j] = sum_t rows[t][j + sh[t]] for j < n3, terms added in order t = 0..;
 * rows have N3 entries; outside them a term is zero (same) or wraps (circular). */
static void entk__cn_rowsum(const entk__kernels *kt, const double *const *rows, const long *sh, int nt, double *orow, size_t n3, long N3,
                            entk_pad pad) {
    long lo = 0, hi = (long)n3, j;
    int t;
    for (t = 0; t < nt; ++t) { /* interior: every term inside its row without wrapping */
        if (-sh[t] > lo) lo = -sh[t];
        if (N3 - sh[t] < hi) hi = N3 - sh[t];
    }
    if (hi < lo) hi = lo;
    if (nt == 3) { /* q = 3: one sweep, no read-modify-write of the output */
        kt->sum3(rows[0] + (sh[0] + lo), rows[1] + (sh[1] + lo), rows[2] + (sh[2] + lo), orow + lo,
                      (size_t)(hi - lo));
    } else if (nt > 0) {
        memcpy(orow + lo, rows[0] + (sh[0] + lo), (size_t)(hi - lo) * sizeof *orow);
        for (t = 1; t < nt; ++t) kt->addto(rows[t] + (sh[t] + lo), orow + lo, (size_t)(hi - lo));
    }
    for (j = 0; j < (long)n3; ++j) { /* the edges, same term order */
        double acc = 0;
        if (j == lo) j = hi;
        if (j >= (long)n3) break;
        for (t = 0; t < nt; ++t) {
            long x = j + sh[t];
            if (x < 0 || x >= N3) {
                if (pad != ENTK_PAD_CIRCULAR) continue;
                x %= N3;
                if (x < 0) x += N3;
            }
            acc = t == 0 ? rows[t][x] : acc + rows[t][x];
        }
        orow[j] = acc;
    }
}

/* One 1-D window pass over the primed axes of a slab: out(o2, o3) = sum_k base[k](i2, i3) where the
 * term k (offset kk = 0, 1, .., h, -1, .., -h; base[k] NULL when its unprimed index is outside) moves
 * the primed axis v (2: rows, 3: columns) by s kk. base[k] are N2 x N3, out is n2 x n3.
 * Where every term is a constant shift of the flattened slab (interior rows; columns away from the row
 * edges) the slab is summed as one long vector; the rest goes row by row (or entry by entry) with the
 * padding rules, always adding the terms in the same order. */
static void entk__cn_slab(const entk__kernels *kt, const double *const *base, size_t N2, size_t N3, double *out, size_t n2, size_t n3,
                          int v, int s, int h, entk_pad pad) {
    const double *rows[2 * 99 + 1];
    long sh[2 * 99 + 1], fo[2 * 99 + 1];
    int kk_of[2 * 99 + 1];
    size_t o2, r0 = 0, r1 = 0;
    int k, nt = 0, t, flat = 0;
    for (k = 0; k <= 2 * h; ++k)
        if (base[k]) kk_of[nt++] = k <= h ? k : h - k;
    if (v == 3 && pad == ENTK_PAD_VALID && nt > 0) {
        /* columns shift without padding: every term of every row inside, at a constant offset; rows
         * of n3 < N3 entries (no flat sum), so one 2-D loop instead of a row sum per row (short rows
         * would spend more on the calls than on the adds). Terms in order, as entk__cn_rowsum. */
        for (t = 0, k = 0; k <= 2 * h; ++k)
            if (base[k]) { rows[t] = base[k] + ((long)s * kk_of[t] + h); ++t; }
        for (o2 = 0; o2 < n2; ++o2) {
            const double *a0 = rows[0] + o2 * N3;
            double *o = out + o2 * n3;
            size_t j;
            if (nt == 3) {
                kt->sum3(a0, rows[1] + o2 * N3, rows[2] + o2 * N3, o, n3);
            } else {
                for (j = 0; j < n3; ++j) o[j] = a0[j];
                for (t = 1; t < nt; ++t) {
                    const double *at = rows[t] + o2 * N3;
                    for (j = 0; j < n3; ++j) o[j] += at[j];
                }
            }
        }
        return;
    }
    if (v == 2) { /* rows shift; n3 == N3; interior rows: every term's row inside without wrapping */
        long lo = 0, hi = (long)n2;
        for (t = 0; t < nt; ++t) {
            const long d = (long)s * kk_of[t] + (pad == ENTK_PAD_VALID ? h : 0);
            if (-d > lo) lo = -d;
            if ((long)N2 - d < hi) hi = (long)N2 - d;
            fo[t] = d * (long)N3;
        }
        if (hi > lo) { r0 = (size_t)lo; r1 = (size_t)hi; flat = 1; }
    } else if (pad != ENTK_PAD_VALID && n2 > 0 && n3 > (size_t)(2 * h)) { /* columns shift; n3 == N3 */
        for (t = 0; t < nt; ++t) fo[t] = (long)s * kk_of[t];
        r0 = 0; r1 = n2; flat = 2;
    }
    if (flat) {
        /* flat == 2: columns c in [h, n3 - h) of the first and last row are inside too, so the flat
         * range runs from (r0, h) to (r1 - 1, n3 - h); row edges are redone below */
        const size_t x0 = r0 * n3 + (flat == 2 ? (size_t)h : 0), x1 = r1 * n3 - (flat == 2 ? (size_t)h : 0);
        long zero[2 * 99 + 1];
        for (t = 0; t < nt; ++t) zero[t] = 0;
        for (t = 0, k = 0; k <= 2 * h; ++k)
            if (base[k]) { rows[t] = base[k] + ((long)x0 + fo[t]); ++t; }
        entk__cn_rowsum(kt, rows, zero, nt, out + x0, x1 - x0, (long)(x1 - x0), pad);
    }
    if (flat == 2) { /* redo the 2h edge columns of every row: which terms are inside depends on c only */
        size_t c;
        for (c = 0; c < n3; ++c) {
            const double *col[2 * 99 + 1];
            int m = 0;
            if (c == (size_t)h) c = n3 - (size_t)h;
            if (c >= n3) break;
            for (t = 0, k = 0; k <= 2 * h; ++k) {
                long x;
                if (!base[k]) continue;
                x = (long)c + fo[t++];
                if (x < 0 || x >= (long)n3) {
                    if (pad != ENTK_PAD_CIRCULAR) continue;
                    x %= (long)n3;
                    if (x < 0) x += (long)n3;
                }
                col[m++] = base[k] + x;
            }
            for (o2 = 0; o2 < n2; ++o2) {
                double acc = col[0][o2 * N3];
                for (t = 1; t < m; ++t) acc += col[t][o2 * N3];
                out[o2 * n3 + c] = acc;
            }
        }
    }
    for (o2 = 0; o2 < n2; ++o2) {
        int m = 0;
        if (flat && o2 >= r0 && o2 < r1) continue;
        for (k = 0; k <= 2 * h; ++k) {
            const int kk = k <= h ? k : h - k;
            long i2 = (long)o2;
            if (!base[k]) continue;
            if (v == 2 && (i2 = entk__cn_idx(o2, (long)s * kk, N2, h, pad)) < 0) continue;
            rows[m] = base[k] + (size_t)i2 * N3;
            sh[m] = v == 3 ? (long)s * kk + (pad == ENTK_PAD_VALID ? h : 0) : 0;
            ++m;
        }
        entk__cn_rowsum(kt, rows, sh, m, out + o2 * n3, n3, (long)N3, pad);
    }
}

/* The fast A for one output block row i, as two 1-D passes: the pass over a (window rows) moves the
 * unprimed row i and the primed axis rho maps a to; the pass over b (window columns) the unprimed
 * column j and the other primed axis. The first pass's slabs U(j) (one per input column j) live in a
 * small cache of slots while the output columns are swept, so they never leave L1/L2. */
typedef struct entk__cn_wsum {
    size_t H, W, Ho, Wo, n2a, n3a; /* n2a x n3a: a slab after the first pass */
    int va, sa, vb, sb, h, q, nslot;
    size_t ring;                   /* input block-rows held: input row r lives at block-row r % ring */
    entk_pad pad;
    double *slot;                  /* nslot slabs */
    const entk__kernels *kt;
    long tag[2 * 99 + 1];          /* input column held by each slot, -1 none */
} entk__cn_wsum;

static void entk__cn_wsum_init(const entk__kernels *kt, entk__cn_wsum *w, size_t H, size_t W, int q, entk_pad pad, const int rho[4],
                               double *slots) {
    int k;
    w->H = H; w->W = W; w->q = q; w->h = (q - 1) / 2; w->pad = pad; w->ring = H;
    w->Ho = pad == ENTK_PAD_VALID ? H - (size_t)q + 1 : H;
    w->Wo = pad == ENTK_PAD_VALID ? W - (size_t)q + 1 : W;
    w->va = rho[0] != 0 ? 2 : 3;
    w->sa = rho[0] != 0 ? rho[0] : rho[2];
    w->vb = rho[1] != 0 ? 2 : 3;
    w->sb = rho[1] != 0 ? rho[1] : rho[3];
    w->n2a = w->va == 2 ? w->Ho : H;
    w->n3a = w->va == 3 ? w->Wo : W;
    w->nslot = q < (int)W ? q : (int)W;
    w->slot = slots;
    w->kt = kt;
    for (k = 0; k < w->nslot; ++k) w->tag[k] = -1;
}

/* slots needed by entk__cn_wsum_init for H x W with window q */
static size_t entk__cn_wsum_slots(size_t H, size_t W, int q) { return ((size_t)q < W ? (size_t)q : W) * H * W; }

/* Output entries ((i, j), all t') of sum_y m(t + y, t' + rho y) into out (Ho Wo entries). Call with
 * j = 0, 1, .. for one i (the slot cache is reset when i changes: call entk__cn_wsum_reset). */
static void entk__cn_wsum_entry(entk__cn_wsum *w, const double *m, size_t i, size_t j, double *out) {
    const double *base[2 * 99 + 1];
    const size_t P = w->H * w->W, sl = w->n2a * w->n3a;
    long need[2 * 99 + 1];
    int k, z;
    for (k = 0; k <= 2 * w->h; ++k) {
        const int kk = k <= w->h ? k : w->h - k;
        need[k] = entk__cn_idx(j, kk, w->W, w->h, w->pad);
    }
    for (k = 0; k <= 2 * w->h; ++k) {
        int found = -1;
        base[k] = NULL;
        if (need[k] < 0) continue;
        for (z = 0; z < w->nslot; ++z)
            if (w->tag[z] == need[k]) found = z;
        if (found < 0) { /* compute slab U(need[k]) into a slot no current term needs */
            const double *b1[2 * 99 + 1];
            int a;
            for (z = 0; z < w->nslot && found < 0; ++z) {
                int used = 0, c;
                for (c = 0; c <= 2 * w->h; ++c) used |= w->tag[z] == need[c];
                if (!used || w->tag[z] < 0) found = z;
            }
            for (a = 0; a <= 2 * w->h; ++a) {
                const int kk = a <= w->h ? a : w->h - a;
                long r = entk__cn_idx(i, kk, w->H, w->h, w->pad);
                b1[a] = r < 0 ? NULL : m + (((size_t)r % w->ring) * w->W + (size_t)need[k]) * P;
            }
            entk__cn_slab(w->kt, b1, w->H, w->W, w->slot + (size_t)found * sl, w->n2a, w->n3a, w->va, w->sa, w->h, w->pad);
            w->tag[found] = need[k];
        }
        base[k] = w->slot + (size_t)found * sl;
    }
    entk__cn_slab(w->kt, base, w->n2a, w->n3a, out, w->Ho, w->Wo, w->vb, w->sb, w->h, w->pad);
}

static void entk__cn_wsum_reset(entk__cn_wsum *w) {
    int k;
    for (k = 0; k < w->nslot; ++k) w->tag[k] = -1;
}

/* ---- The in-cache path for small images ----
 * For a few dozen pixels the slab machinery above spends more time deciding (slot lookups, interior
 * ranges, per-row edge handling) than adding. When a whole block fits in L1/L2, each pass runs over
 * the full block with the primed shifts precomputed as index tables: pass 1 writes every slab U(i, j)
 * into scratch, pass 2 every output row. The terms are added in the same order as above (offsets
 * 0, 1, .., h, -1, .., -h; terms outside a same-padded image skipped, not added as zeros), so both
 * paths give the same kernels bit for bit. */

static size_t entk__cn_small_limit = ENTK__CN_SMALL_P; /* largest H W taking the in-cache path; 0: never */

ENTKDEF size_t entk_cn_set_small_limit(size_t max_pixels) {
    const size_t old = entk__cn_small_limit;
    entk__cn_small_limit = max_pixels;
    return old;
}

/* One 1-D pass over a primed axis as tables. Output entries x (flat over the n2 x n3 output) are summed
 * as long vectors over runs on which every term k reads its source at a constant offset,
 * src_k[x + off]: the main run [xa, xb) with the interior offsets (its entries whose terms wrap or fall
 * outside are recomputed afterwards) and, outside it, runs of wrapped rows (circular padding). The
 * rest, the fixups, read term k at fix[f][k] (-1: outside a same-padded image, skipped). */
#define ENTK__CN_SMALL_RUNS 8
typedef struct entk__cn_shift {
    int nt, nfix, nrun, masked;
    size_t n;
    long x0[ENTK__CN_SMALL_RUNS], x1[ENTK__CN_SMALL_RUNS], off[ENTK__CN_SMALL_RUNS][ENTK__CN_SMALL_Q];
    int fx[ENTK__CN_SMALL_P];
    int fix[ENTK__CN_SMALL_P][ENTK__CN_SMALL_Q];
} entk__cn_shift;

static void entk__cn_shift_fix(entk__cn_shift *sh, long x, const int *f) {
    sh->fx[sh->nfix] = (int)x;
    memcpy(sh->fix[sh->nfix], f, sizeof(int) * (size_t)sh->nt);
    ++sh->nfix;
}

/* Close the side run [r0, x) with offsets ro: kept if long enough for vectors, else its entries become
 * fixups. */
static void entk__cn_shift_close(entk__cn_shift *sh, long r0, long x, const long *ro) {
    long y;
    int k, f[ENTK__CN_SMALL_Q];
    if (x <= r0) return;
    if (x - r0 >= 4 && sh->nrun < ENTK__CN_SMALL_RUNS) {
        sh->x0[sh->nrun] = r0;
        sh->x1[sh->nrun] = x;
        memcpy(sh->off[sh->nrun], ro, sizeof(long) * (size_t)sh->nt);
        ++sh->nrun;
        return;
    }
    for (y = r0; y < x; ++y) {
        for (k = 0; k < sh->nt; ++k) f[k] = (int)(y + ro[k]);
        entk__cn_shift_fix(sh, y, f);
    }
}

/* axis v (2: primed rows, 3: primed columns) moved by s kk; source N2 x N3, output n2 x n3 */
static void entk__cn_shift_init(entk__cn_shift *sh, int v, int s, int h, entk_pad pad, size_t N2, size_t N3,
                                size_t n2, size_t n3) {
    const long n = (long)(n2 * n3), Nin = (long)(N2 * N3);
    const int flat = n3 == N3; /* a constant flat offset exists only when rows keep their length */
    long x, xa = 0, xb = flat ? n : 0, r0 = -1, ro[ENTK__CN_SMALL_Q];
    long ax[ENTK__CN_SMALL_Q][ENTK__CN_SMALL_N]; /* the moved axis: source index of each output index */
    int k;
    sh->nt = 2 * h + 1;
    sh->nfix = 0;
    sh->nrun = 1;
    sh->masked = 0;
    sh->n = (size_t)n;
    for (k = 0; k <= 2 * h; ++k) { /* the interior offset: no wrapping, no padding */
        const long kk = k <= h ? k : h - k, d = (long)s * kk + (pad == ENTK_PAD_VALID ? h : 0);
        const size_t no = v == 2 ? n2 : n3;
        size_t o;
        sh->off[0][k] = v == 2 ? d * (long)N3 : d;
        if (-sh->off[0][k] > xa) xa = -sh->off[0][k];
        if (Nin - sh->off[0][k] < xb) xb = Nin - sh->off[0][k];
        for (o = 0; o < no; ++o) ax[k][o] = entk__cn_idx(o, (long)s * kk, v == 2 ? N2 : N3, h, pad);
    }
    if (xb < xa) xb = xa;
    sh->x0[0] = xa;
    sh->x1[0] = xb;
    for (x = 0; x < n; ++x) {
        const size_t o2 = (size_t)x / n3, o3 = (size_t)x % n3;
        int f[ENTK__CN_SMALL_Q], all = 1, same = r0 >= 0;
        const int inside = x >= xa && x < xb;
        int regular = inside;
        for (k = 0; k <= 2 * h; ++k) {
            const long r = v == 2 ? ax[k][o2] : (long)o2, c = v == 3 ? ax[k][o3] : (long)o3;
            f[k] = r < 0 || c < 0 ? -1 : (int)((size_t)r * N3 + (size_t)c);
            if (f[k] < 0) sh->masked = 1, all = 0;
            if (f[k] != x + sh->off[0][k]) regular = 0;
            if (same && f[k] - x != ro[k]) same = 0;
        }
        if (inside) {
            if (!regular) entk__cn_shift_fix(sh, x, f);
            continue;
        }
        if (!(all && same)) { /* the side run (if any) ends here */
            if (r0 >= 0) entk__cn_shift_close(sh, r0, x, ro);
            r0 = -1;
            if (all) {
                r0 = x;
                for (k = 0; k < sh->nt; ++k) ro[k] = f[k] - x;
            } else {
                entk__cn_shift_fix(sh, x, f);
            }
        }
        if (x + 1 == xa || x + 1 == n) { /* side runs do not cross the main run */
            if (r0 >= 0) entk__cn_shift_close(sh, r0, x + 1, ro);
            r0 = -1;
        }
    }
}

/* out(x) = sum over present terms k (src[k] != NULL) of term k at x, in order k = 0, 1, .. */
static void entk__cn_shift_apply(const entk__kernels *kt, const entk__cn_shift *sh, const double *const *src, double *out) {
    const double *p[ENTK__CN_SMALL_Q];
    int ks[ENTK__CN_SMALL_Q], m = 0, k, t, f, r;
    for (k = 0; k < sh->nt; ++k)
        if (src[k]) ks[m++] = k;
    if (m == 0) { /* cannot happen for the windows of entk_cn (the centre term is always inside) */
        memset(out, 0, sh->n * sizeof *out);
        return;
    }
    for (r = 0; r < sh->nrun; ++r) {
        const size_t len = (size_t)(sh->x1[r] - sh->x0[r]);
        if (len == 0) continue;
        for (t = 0; t < m; ++t) p[t] = src[ks[t]] + sh->x0[r] + sh->off[r][ks[t]];
        if (m == 3) {
            kt->sum3(p[0], p[1], p[2], out + sh->x0[r], len);
        } else {
            memcpy(out + sh->x0[r], p[0], len * sizeof *out);
            for (t = 1; t < m; ++t) kt->addto(p[t], out + sh->x0[r], len);
        }
    }
    if (m == 3 && sh->nt == 3 && !sh->masked) {
        const double *a = src[0], *b = src[1], *c = src[2];
        for (f = 0; f < sh->nfix; ++f) {
            const int *ix = sh->fix[f];
            out[sh->fx[f]] = (a[ix[0]] + b[ix[1]]) + c[ix[2]];
        }
        return;
    }
    for (f = 0; f < sh->nfix; ++f) {
        const int *ix = sh->fix[f];
        double acc = 0;
        int first = 1;
        for (t = 0; t < m; ++t) {
            const int i = ix[ks[t]];
            if (i < 0) continue;
            acc = first ? src[ks[t]][i] : acc + src[ks[t]][i];
            first = 0;
        }
        out[sh->fx[f]] = acc;
    }
}

/* Tables kept across pairs by the Gram drivers (one cache per thread): building them costs a few per
 * cent of a 7 x 7 pair. Full: tables are built in the caller's locals. */
#define ENTK__CN_TABS 16
typedef struct entk__cn_tabcache {
    int n;
    long key[ENTK__CN_TABS][8];
    entk__cn_shift tab[ENTK__CN_TABS];
} entk__cn_tabcache;

static const entk__cn_shift *entk__cn_shift_get(entk__cn_tabcache *tc, entk__cn_shift *local, int v, int s, int h,
                                                entk_pad pad, size_t N2, size_t N3, size_t n2, size_t n3) {
    const long key[8] = {v, s, h, (long)pad, (long)N2, (long)N3, (long)n2, (long)n3};
    entk__cn_shift *sh = local;
    int z;
    if (tc) {
        for (z = 0; z < tc->n; ++z)
            if (memcmp(tc->key[z], key, sizeof key) == 0) return &tc->tab[z];
        if (tc->n < ENTK__CN_TABS) {
            memcpy(tc->key[tc->n], key, sizeof key);
            sh = &tc->tab[tc->n++];
        }
    }
    entk__cn_shift_init(sh, v, s, h, pad, N2, N3, n2, n3);
    return sh;
}

/* The pass tables of block rho for an H x W input (see entk__cn_wsum_init for the axes), from the
 * cache tc (may be NULL) or built into l1, l2. */
static void entk__cn_small_init(entk__cn_tabcache *tc, entk__cn_shift *l1, entk__cn_shift *l2,
                                const entk__cn_shift **s1, const entk__cn_shift **s2, size_t H, size_t W, int q,
                                entk_pad pad, const int rho[4], size_t *Pa) {
    const int h = (q - 1) / 2;
    const size_t Ho = pad == ENTK_PAD_VALID ? H - (size_t)q + 1 : H;
    const size_t Wo = pad == ENTK_PAD_VALID ? W - (size_t)q + 1 : W;
    const int va = rho[0] != 0 ? 2 : 3, sa = rho[0] != 0 ? rho[0] : rho[2];
    const int vb = rho[1] != 0 ? 2 : 3, sb = rho[1] != 0 ? rho[1] : rho[3];
    const size_t n2a = va == 2 ? Ho : H, n3a = va == 3 ? Wo : W;
    *s1 = entk__cn_shift_get(tc, l1, va, sa, h, pad, H, W, n2a, n3a);
    *s2 = entk__cn_shift_get(tc, l2, vb, sb, h, pad, n2a, n3a, Ho, Wo);
    *Pa = n2a * n3a;
}

/* Whole-block window sum (no 1/q^2): m is (H W) x (H W), U scratch of Ho W Pa doubles, out (Ho Wo)^2. */
static void entk__cn_small_wsum(const entk__kernels *kt, const entk__cn_shift *s1, const entk__cn_shift *s2, size_t Pa, const double *m,
                                size_t H, size_t W, int q, entk_pad pad, double *U, double *out) {
    const int h = (q - 1) / 2;
    const size_t Ho = pad == ENTK_PAD_VALID ? H - (size_t)q + 1 : H;
    const size_t Wo = pad == ENTK_PAD_VALID ? W - (size_t)q + 1 : W;
    const size_t P = H * W, Po = Ho * Wo;
    const double *src[ENTK__CN_SMALL_Q];
    long ci[ENTK__CN_SMALL_Q][ENTK__CN_SMALL_N], ri[ENTK__CN_SMALL_Q];
    size_t i, j;
    int k;
    for (k = 0; k <= 2 * h; ++k)
        for (j = 0; j < Wo; ++j) ci[k][j] = entk__cn_idx(j, k <= h ? k : h - k, W, h, pad);
    for (i = 0; i < Ho; ++i) {
        for (k = 0; k <= 2 * h; ++k) ri[k] = entk__cn_idx(i, k <= h ? k : h - k, H, h, pad);
        for (j = 0; j < W; ++j) {
            for (k = 0; k <= 2 * h; ++k) src[k] = ri[k] < 0 ? NULL : m + ((size_t)ri[k] * W + j) * P;
            entk__cn_shift_apply(kt, s1, src, U + (i * W + j) * Pa);
        }
    }
    for (i = 0; i < Ho; ++i)
        for (j = 0; j < Wo; ++j) {
            for (k = 0; k <= 2 * h; ++k) src[k] = ci[k][j] < 0 ? NULL : U + (i * W + (size_t)ci[k][j]) * Pa;
            entk__cn_shift_apply(kt, s2, src, out + (i * Wo + j) * Po);
        }
}

/* ucap: the scratch available (doubles) */
static int entk__cn_small_ok(size_t H, size_t W, int q, size_t ucap) {
    return H * W <= entk__cn_small_limit && H * W <= ENTK__CN_SMALL_P && H * W * H * W <= ucap &&
           H <= ENTK__CN_SMALL_N && W <= ENTK__CN_SMALL_N && q <= ENTK__CN_SMALL_Q;
}

/* The oracle: q^2 gathers per entry, straight from docs/conventions.md §1.4 (no 1/q^2). */
static void entk__cn_wsum_direct(const double *m, size_t H, size_t W, int q, entk_pad pad, const int rho[4],
                                 double *out) {
    const int h = (q - 1) / 2;
    const size_t Ho = pad == ENTK_PAD_VALID ? H - (size_t)q + 1 : H;
    const size_t Wo = pad == ENTK_PAD_VALID ? W - (size_t)q + 1 : W;
    const size_t P = H * W;
    size_t i, j, i2, j2;
    for (i = 0; i < Ho; ++i)
        for (j = 0; j < Wo; ++j)
            for (i2 = 0; i2 < Ho; ++i2)
                for (j2 = 0; j2 < Wo; ++j2) {
                    double s = 0;
                    int a, b;
                    for (a = -h; a <= h; ++a)
                        for (b = -h; b <= h; ++b) {
                            long p0 = entk__cn_idx(i, a, H, h, pad), p1 = entk__cn_idx(j, b, W, h, pad);
                            long p2 = entk__cn_idx(i2, rho[0] * a + rho[1] * b, H, h, pad);
                            long p3 = entk__cn_idx(j2, rho[2] * a + rho[3] * b, W, h, pad);
                            if (p0 < 0 || p1 < 0 || p2 < 0 || p3 < 0) continue;
                            s += m[((size_t)p0 * W + (size_t)p1) * P + (size_t)p2 * W + (size_t)p3];
                        }
                    out[((i * Wo + j) * Ho + i2) * Wo + j2] = s;
                }
}

ENTKDEF entk_status entk_cn_window_sum(const double *m, size_t H, size_t W, int q, entk_pad pad, int n,
                                       int flip, int block, int direct, double *tmp, double *out) {
    int rho[4];
    size_t P, nn, Ho, Wo, i;
    double c;
    if (!m || !out || (direct != 1 && !tmp) || direct < 0 || direct > 2 || q < 1 || q % 2 != 1 ||
        (n != 1 && n != 2 && n != 4) || (direct == 2 && (H > ENTK__CN_SMALL_N || W > ENTK__CN_SMALL_N ||
                                                          H * W > ENTK__CN_SMALL_P || q > ENTK__CN_SMALL_Q)) ||
        (flip != 0 && flip != 1) || block < 0 || block >= n * (1 + flip) ||
        (pad != ENTK_PAD_VALID && pad != ENTK_PAD_SAME && pad != ENTK_PAD_CIRCULAR))
        return ENTK_ERR_INVALID_ARG;
    if (H == 0 || W == 0 || (pad == ENTK_PAD_VALID && (H < (size_t)q || W < (size_t)q))) return ENTK_ERR_SHAPE;
    if (entk__mul(H, W, &P) || entk__mul(P, P, &nn)) return ENTK_ERR_OVERFLOW;
    entk__cn_rho(n, block, rho);
    Ho = pad == ENTK_PAD_VALID ? H - (size_t)q + 1 : H;
    Wo = pad == ENTK_PAD_VALID ? W - (size_t)q + 1 : W;
    if (direct == 1) {
        entk__cn_wsum_direct(m, H, W, q, pad, rho, out);
    } else if (direct == 2) {
        entk__cn_shift l1, l2;
        const entk__cn_shift *s1, *s2;
        size_t Pa;
        entk__cn_small_init(NULL, &l1, &l2, &s1, &s2, H, W, q, pad, rho, &Pa);
        entk__cn_small_wsum(entk__kt(), s1, s2, Pa, m, H, W, q, pad, tmp, out);
    } else {
        entk__cn_wsum ws;
        size_t j;
        entk__cn_wsum_init(entk__kt(), &ws, H, W, q, pad, rho, tmp);
        for (i = 0; i < Ho; ++i) {
            entk__cn_wsum_reset(&ws);
            for (j = 0; j < Wo; ++j) entk__cn_wsum_entry(&ws, m, i, j, out + (i * Wo + j) * Ho * Wo);
        }
    }
    c = 1.0 / ((double)q * (double)q);
    for (i = 0; i < Ho * Wo * Ho * Wo; ++i) out[i] *= c;
    return ENTK_OK;
}

/* ============================================================================================== */
/* 2.3 The pair kernel                                                                            */
/* ============================================================================================== */

/* Map rows [t0, t1) of every stored block through a nonlinearity; e1, e2: the inputs' diagonals. */
static entk_status entk__cn_map_rows(const entk__kernels *kt, const entk_layer *nl, double *K, double *T, size_t S, int nb, size_t P,
                                     size_t t0, size_t t1, const double *e1, const double *e2) {
    entk_status st;
    size_t t;
    int b;
    for (b = 0; b < nb; ++b)
        for (t = t0; t < t1; ++t) {
            double *kr = K + (size_t)b * S + t * P, *tr = T ? T + (size_t)b * S + t * P : NULL;
            if ((st = entk__nonlin_map(kt, &nl->nl, P, e1 + t, 0, e2, 1, kr, tr, kr, tr))) return st;
        }
    return ENTK_OK;
}

/* entk__cn_linear for small images: whole blocks through the in-cache window sum, then the affine
 * update and the nonlinearity row by row (the same operations in the same order as the row path). U:
 * at least (h w)^2 doubles of scratch. */
static entk_status entk__cn_linear_small(const entk__kernels *kt, const entk_layer *ly, int nb, int gn, const double *Ki, const double *Ti,
                                         double *Ko, double *To, double *U, size_t S, size_t h, size_t w,
                                         const entk_layer *nl, const double *e1, const double *e2,
                                         entk__cn_tabcache *tc) {
    const size_t ho = ly->pad == ENTK_PAD_VALID ? h - (size_t)ly->q + 1 : h;
    const size_t wo = ly->pad == ENTK_PAD_VALID ? w - (size_t)ly->q + 1 : w;
    const size_t Po = ho * wo;
    const double cw = ly->sw * ly->sw / ((double)ly->q * (double)ly->q), b2 = ly->sb * ly->sb;
    entk_status st;
    int b;
    for (b = 0; b < nb; ++b) {
        const size_t src = ly->kind == ENTK_LAYER_GCONV ? (size_t)b : 0;
        double *kb = Ko + (size_t)b * S, *tb = To ? To + (size_t)b * S : NULL;
        entk__cn_shift l1, l2;
        const entk__cn_shift *s1, *s2;
        int rho[4];
        size_t Pa, t;
        entk__cn_rho(gn, ly->kind == ENTK_LAYER_CONV ? 0 : b, rho);
        entk__cn_small_init(tc, &l1, &l2, &s1, &s2, h, w, ly->q, ly->pad, rho, &Pa);
        entk__cn_small_wsum(kt, s1, s2, Pa, Ki + src * S, h, w, ly->q, ly->pad, U, kb);
        if (tb && Ti) entk__cn_small_wsum(kt, s1, s2, Pa, Ti + src * S, h, w, ly->q, ly->pad, U, tb);
        for (t = 0; t < Po; ++t)
            if ((st = entk__layer_out(kt, kb + t * Po, tb ? tb + t * Po : NULL, 1, Po, cw, b2, !Ti,
                                      nl ? &nl->nl : NULL, nl ? e1 + t : NULL, 0, e2, 1)))
                return st;
    }
    return ENTK_OK;
}

/* A reduction (gap, gpool or flatten) taken from output rows as a chain's last layer builds them,
 * instead of from the stored kernels (entk__cn_reduce): the same adds in the same order. gap and
 * gpool: per stored block and kernel, entry i of the flat block goes to partial sum i % 4 (the last
 * P^2 % 4 entries to partial 0), in increasing i; flatten: the diagonal entries in order. */
typedef struct entk__cn_red {
    int flatten;
    size_t nfull;          /* 4 floor(P^2 / 4) */
    double pk[4], pt[4];   /* the current block's partial sums (flatten: pk[0], pt[0]) */
    double k, t;           /* the sums over the blocks so far */
} entk__cn_red;

/* Row v (n entries from flat index i0) into the partial sums sb, and row u (may be NULL) into su:
 * two independent chains in one loop, each partial sum a serial chain as in entk__cn_reduce. */
static void entk__cn_red_row(const double *v, const double *u, size_t n, size_t i0, size_t nfull, double *sb,
                             double *su) {
    double a0, a1, a2, a3, c0, c1, c2, c3;
    size_t j = 0;
    for (; j < n && ((i0 + j) & 3u) && i0 + j < nfull; ++j) {
        sb[(i0 + j) & 3u] += v[j];
        if (u) su[(i0 + j) & 3u] += u[j];
    }
    a0 = sb[0]; a1 = sb[1]; a2 = sb[2]; a3 = sb[3]; c0 = su[0]; c1 = su[1]; c2 = su[2]; c3 = su[3];
    if (u) {
        for (; j + 4 <= n && i0 + j + 4 <= nfull; j += 4) {
            a0 += v[j]; a1 += v[j + 1]; a2 += v[j + 2]; a3 += v[j + 3];
            c0 += u[j]; c1 += u[j + 1]; c2 += u[j + 2]; c3 += u[j + 3];
        }
    } else {
        for (; j + 4 <= n && i0 + j + 4 <= nfull; j += 4) {
            a0 += v[j]; a1 += v[j + 1]; a2 += v[j + 2]; a3 += v[j + 3];
        }
    }
    sb[0] = a0; sb[1] = a1; sb[2] = a2; sb[3] = a3; su[0] = c0; su[1] = c1; su[2] = c2; su[3] = c3;
    for (; j < n; ++j) {
        sb[i0 + j < nfull ? (i0 + j) & 3u : 0] += v[j];
        if (u) su[i0 + j < nfull ? (i0 + j) & 3u : 0] += u[j];
    }
}

/* Output block-row i (the rows t = (i, j), j < wo) of one stored block: the window sums of K and
 * Theta through wk and wt (reading Ki, Ti), the affine update and (nl != NULL) the nonlinearity, built
 * in the L1 rows rowk, rowt and stored to Ko, To at block-row i % oring, or (rd != NULL) added to the
 * reduction rd instead. Ti == NULL: first layer (Theta = K); To == NULL: no NTK (with rd: want_t = 0). */
static entk_status entk__cn_linear_brow(const entk_layer *ly, entk__cn_wsum *wk, entk__cn_wsum *wt,
                                        const double *Ki, const double *Ti, double *Ko, double *To, size_t oring,
                                        double *rowk, double *rowt, size_t i, size_t wo, size_t Po, int stream,
                                        const entk_layer *nl, const double *e1, const double *e2,
                                        entk__cn_red *rd, int want_t) {
    const entk__kernels *kt = wk->kt;
    const double cw = ly->sw * ly->sw / ((double)ly->q * (double)ly->q), b2 = ly->sb * ly->sb;
    const size_t ob = (i % oring) * wo;
    entk_status st;
    size_t j;
    entk__cn_wsum_reset(wk);
    entk__cn_wsum_reset(wt);
    for (j = 0; j < wo; ++j) {
        const size_t t = i * wo + j;
        /* rows not streamed are built in place (the destination is in cache), saving a copy */
        double *kr = !rd && !stream ? Ko + (ob + j) * Po : rowk;
        double *tr = To ? !rd && !stream ? To + (ob + j) * Po : rowt : rd && want_t ? rowt : NULL;
        entk__cn_wsum_entry(wk, Ki, i, j, kr);
        if (tr && Ti) entk__cn_wsum_entry(wt, Ti, i, j, tr);
        if ((st = entk__layer_out(kt, kr, tr, 1, Po, cw, b2, !Ti, nl ? &nl->nl : NULL, nl ? e1 + t : NULL, 0,
                                  e2, 1)))
            return st;
        if (rd && rd->flatten) {
            rd->pk[0] += kr[t];
            if (tr) rd->pt[0] += tr[t];
        } else if (rd) {
            entk__cn_red_row(kr, tr, Po, t * Po, rd->nfull, rd->pk, rd->pt);
        } else if (stream) {
            entk__cn_store(kt, kr, Ko + (ob + j) * Po, Po, stream);
            if (tr) entk__cn_store(kt, tr, To + (ob + j) * Po, Po, stream);
        }
    }
    return ENTK_OK;
}

/* A conv / lift / gconv layer from (Ki, Ti) into (Ko, To), one output row t at a time: the window sums
 * of K and Theta, the affine update and (nl != NULL) the following nonlinearity all work on the row
 * while it is in L1, then is stored. Ti == NULL: first layer (Theta = K); To == NULL: no NTK. U: slot
 * memory for two window-sum caches and two rows. */
static entk_status entk__cn_linear(const entk__kernels *kt, const entk_layer *ly, int nb, int gn, const double *Ki, const double *Ti,
                                   double *Ko, double *To, double *U, size_t ucap, size_t S, size_t h,
                                   size_t w, const entk_layer *nl, const double *e1, const double *e2,
                                   entk__cn_tabcache *tc) {
    const size_t ho = ly->pad == ENTK_PAD_VALID ? h - (size_t)ly->q + 1 : h;
    const size_t wo = ly->pad == ENTK_PAD_VALID ? w - (size_t)ly->q + 1 : w;
    const size_t Po = ho * wo, ns = entk__cn_wsum_slots(h, w, ly->q);
    double *rowk = U + 2 * ns, *rowt = rowk + h * w;
    /* stream only when the layer's kernels (read and written, K and Theta) cannot stay in a last-level
     * cache anyway */
    const int stream = 4.0 * (double)nb * (double)Po * (double)Po * sizeof(double) > 16e6;
    entk_status st;
    int b;
    if (entk__cn_small_ok(h, w, ly->q, ucap)) return entk__cn_linear_small(kt, ly, nb, gn, Ki, Ti, Ko, To, U, S, h, w, nl, e1, e2, tc);
    for (b = 0; b < nb; ++b) {
        /* a lift reads the one pixel kernel for every output block */
        const size_t src = ly->kind == ENTK_LAYER_GCONV ? (size_t)b : 0;
        entk__cn_wsum wk, wt;
        int rho[4];
        size_t i;
        entk__cn_rho(gn, ly->kind == ENTK_LAYER_CONV ? 0 : b, rho);
        entk__cn_wsum_init(kt, &wk, h, w, ly->q, ly->pad, rho, U);
        entk__cn_wsum_init(kt, &wt, h, w, ly->q, ly->pad, rho, U + ns);
        for (i = 0; i < ho; ++i)
            if ((st = entk__cn_linear_brow(ly, &wk, &wt, Ki + src * S, Ti ? Ti + src * S : NULL, Ko + (size_t)b * S,
                                           To ? To + (size_t)b * S : NULL, ho, rowk, rowt, i, wo, Po, stream, nl,
                                           e1, e2, NULL, 0)))
                return st;
    }
    kt->fence();
    return ENTK_OK;
}

/* A chain of M <= ENTK__CN_CHAIN linear layers with same or valid padding, each followed by its
 * nonlinearity (nls[m] may be NULL), in one sweep over block-rows: either conv layers, or a lift or
 * gconv followed by gconvs. Layer m's output block-rows go to a ring of 3 block-rows in F, and layer
 * m + 1 builds its block-row i as soon as the last input block-row it reads is in the ring (i + h for
 * same padding, i + 2 h for valid; h: layer m + 1's half window, at most 1). On a group map the nb
 * stored blocks are independent chains (block b of a gconv reads block b of its input, a lift reads
 * the one pixel kernel, both through the window of rho(b)), swept one after the other. The chain thus
 * reads K and Theta from memory once and writes them once instead of once per layer; the kernels are
 * those of the separate layers bit for bit (the same row operations). Pair mode only (block-row i of
 * a map needs every pixel's diagonal of its layer, which the self mode has only after the layer). e1[m], e2[m]: the diagonals for nls[m]; S:
 * the stride between stored blocks. rd != NULL: the reduction layer follows the chain and takes the
 * last layer's rows as they are built (entk__cn_red; rd->flatten and nfull set, want_t whether the
 * NTK is wanted), which then stores nothing (Ko, To unused); rd->k, rd->t get the sums that
 * entk__cn_reduce would divide. flatten reads block 0 only, so the other blocks are not built. */
static entk_status entk__cn_fused(const entk__kernels *kt, const entk_layer *const *ls, const entk_layer *const *nls, int M,
                                  int nb, int gn, const double *Ki, const double *Ti, double *Ko, double *To, size_t S,
                                  double *U, double *F, size_t h, size_t w, const double *const *e1,
                                  const double *const *e2, entk__cn_red *rd, int want_t) {
    const size_t P = h * w, R = 3, ns0 = entk__cn_wsum_slots(h, w, ls[0]->q);
    double *rowk = U + 2 * ns0, *rowt = rowk + P, *rk[ENTK__CN_CHAIN], *rt[ENTK__CN_CHAIN];
    size_t hi[ENTK__CN_CHAIN], wi[ENTK__CN_CHAIN], ho[ENTK__CN_CHAIN], wo[ENTK__CN_CHAIN];
    entk__cn_wsum wk[ENTK__CN_CHAIN], wt[ENTK__CN_CHAIN];
    long lag[ENTK__CN_CHAIN], r, end = 0;
    entk_status st;
    int m, b, stream;
    for (m = 0; m < M; ++m) { /* the maps entering and leaving each layer */
        const size_t sh = ls[m]->pad == ENTK_PAD_VALID ? (size_t)ls[m]->q - 1 : 0;
        hi[m] = m ? ho[m - 1] : h;
        wi[m] = m ? wo[m - 1] : w;
        ho[m] = hi[m] - sh;
        wo[m] = wi[m] - sh;
        lag[m] = m ? lag[m - 1] + (ls[m]->pad == ENTK_PAD_VALID ? 2 : 1) * (long)((ls[m]->q - 1) / 2) : 0;
        if (lag[m] + (long)ho[m] > end) end = lag[m] + (long)ho[m];
    }
    /* as entk__cn_linear: stream when the chain's output cannot stay in a last-level cache anyway */
    stream = 4.0 * (double)nb * (double)(ho[M - 1] * wo[M - 1]) * (double)(ho[M - 1] * wo[M - 1]) * sizeof(double) > 16e6;
    if (rd) {
        rd->k = rd->t = 0;
        if (rd->flatten) nb = 1;
    }
    for (b = 0; b < nb; ++b) {
        /* a lift reads the one pixel kernel for every output block */
        const size_t src = ls[0]->kind == ENTK_LAYER_LIFT ? 0 : (size_t)b;
        int rho[4], z;
        if (rd)
            for (z = 0; z < 4; ++z) rd->pk[z] = rd->pt[z] = 0;
        entk__cn_rho(gn, ls[0]->kind == ENTK_LAYER_CONV ? 0 : b, rho);
        entk__cn_wsum_init(kt, &wk[0], h, w, ls[0]->q, ls[0]->pad, rho, U);
        entk__cn_wsum_init(kt, &wt[0], h, w, ls[0]->q, ls[0]->pad, rho, U + ns0);
        for (m = 1; m < M; ++m) { /* F: per later layer, its two slot caches, then the ring it reads */
            const size_t ns = entk__cn_wsum_slots(hi[m], wi[m], ls[m]->q);
            double *f = F + (size_t)(m - 1) * 6 * (w + 1) * P;
            entk__cn_wsum_init(kt, &wk[m], hi[m], wi[m], ls[m]->q, ls[m]->pad, rho, f);
            entk__cn_wsum_init(kt, &wt[m], hi[m], wi[m], ls[m]->q, ls[m]->pad, rho, f + ns);
            wk[m].ring = wt[m].ring = R;
            rk[m - 1] = f + 2 * ns;
            rt[m - 1] = want_t ? rk[m - 1] + R * wi[m] * hi[m] * wi[m] : NULL;
        }
        for (r = 0; r < end; ++r)
            for (m = 0; m < M; ++m) {
                const long i = r - lag[m];
                const int last = m == M - 1;
                if (i < 0 || i >= (long)ho[m]) continue;
                if ((st = entk__cn_linear_brow(ls[m], &wk[m], &wt[m], m ? rk[m - 1] : Ki + src * S,
                                               m ? rt[m - 1] : Ti ? Ti + src * S : NULL,
                                               last ? Ko ? Ko + (size_t)b * S : NULL : rk[m],
                                               last ? To ? To + (size_t)b * S : NULL : rt[m], last ? ho[m] : R, rowk,
                                               rowt, (size_t)i, wo[m], ho[m] * wo[m], last ? stream : 0, nls[m],
                                               e1[m], e2[m], last ? rd : NULL, want_t)))
                    return st;
            }
        if (rd && rd->flatten) {
            rd->k = rd->pk[0];
            rd->t = rd->pt[0];
        } else if (rd) {
            rd->k += (rd->pk[0] + rd->pk[1]) + (rd->pk[2] + rd->pk[3]);
            rd->t += (rd->pt[0] + rd->pt[1]) + (rd->pt[2] + rd->pt[3]);
        }
    }
    kt->fence();
    return ENTK_OK;
}

/* ---- Chains of same-padded 3 x 3 conv layers on diagonal tiles ----
 * Cut each kernel into tiles X_(i,i') = K((i, .), (i', .)) (W x W: unprimed column j by primed column j').
 * For a conv layer (rho = identity) the window-row offset a moves i and i' together, so output tile
 * (i, i') reads only input tiles (i + a, i' + a): the window sum never leaves a diagonal d = i' - i, and
 * on a diagonal a layer is a 3-tap sum over neighbouring tiles followed by a 3-tap sum inside the tile
 * along its own diagonals (window-column offset c moves j and j' together). A chain of layers thus runs
 * diagonal by diagonal, layer m building tile k of the diagonal once layer m - 1 has built tile k + 1,
 * each intermediate layer held in a ring of 3 tiles (8 KB each for 32 x 32 images): everything between
 * reading K, Theta and writing them stays in L1/L2, where the block-row sweep of entk__cn_fused
 * re-reads its rings (megabytes) from L3 or memory. The adds are those of the row path in the same
 * order (offsets 0, +1, -1; terms outside the image skipped), the affine update and the map the same
 * elementwise operations: the kernels are bit-identical. Self records take this path too (see
 * entk__cn_tiled), with the diagonals recorded on the main diagonal of tiles, swept first. */

/* out = sum of the nt tiles src[0..nt) in order (W x W, source row stride ld, out contiguous) */
static void entk__cn_tile_sum(const entk__kernels *kt, const double *const *src, int nt, size_t ld, double *out, size_t W) {
    size_t j, n = ld == W ? W * W : W, rows = ld == W ? 1 : W;
    for (j = 0; j < rows; ++j) {
        const size_t o = j * ld;
        double *d = out + j * W;
        if (nt == 3) {
            kt->sum3(src[0] + o, src[1] + o, src[2] + o, d, n);
        } else {
            int t;
            memcpy(d, src[0] + o, n * sizeof *d);
            for (t = 1; t < nt; ++t) kt->addto(src[t] + o, d, n);
        }
    }
}

/* out(j, j') = sum_{c = 0, +1, -1} u(j + c, j' + c) over the terms inside the W x W tile: the flat sum
 * for the entries off the tile's border, then the border's rows and columns with their two terms */
static void entk__cn_tile_diag3(const entk__kernels *kt, const double *u, double *out, size_t W) {
    const size_t s = W + 1, l = W - 1;
    size_t j;
    if (W == 1) { out[0] = u[0]; return; }
    if (W > 2) kt->sum3(u + s, u + 2 * s, u, out + s, W * W - 2 * s);
    for (j = 0; j < l; ++j) out[j] = u[j] + u[s + j];                /* row 0: no c = -1 */
    out[l] = u[l];
    out[l * W] = u[l * W];                                          /* row W - 1: no c = +1 */
    for (j = 1; j < W; ++j) out[l * W + j] = u[l * W + j] + u[l * W + j - s];
    for (j = 1; j < l; ++j) {                                       /* columns 0 and W - 1 */
        out[j * W] = u[j * W] + u[j * W + s];
        out[j * W + l] = u[j * W + l] + u[j * W + l - s];
    }
}

/* Store the transpose of the W x W tile t as tile (i, i') of the P x P kernel X, through scratch u. */
static void entk__cn_tile_mirror(const entk__kernels *kt, const double *t, double *u, double *X, size_t P, size_t W,
                                 size_t i, size_t ip, int stream) {
    size_t j, c;
    for (j = 0; j < W; ++j)
        for (c = 0; c < W; ++c) u[c * W + j] = t[j * W + c];
    for (j = 0; j < W; ++j) entk__cn_store(kt, u + j * W, X + (i * W + j) * P + ip * W, W, stream);
}

/* The maps whose kernel values are symmetric in (k11, k22) bit for bit on every path (the formulas and
 * their vector forms use k11 and k22 only through k11 k22, k11 + k22, min, max or not at all): a self
 * pair's kernels then stay symmetric through them. Not gelu ((1 + k11) + k22) nor custom quadrature
 * (the Cholesky factor of the 2 x 2 covariance). */
static int entk__cn_sym_map(const entk_nonlin *nl) {
    return nl->kind == ENTK_NL_IDENTITY || nl->kind == ENTK_NL_RELU || nl->kind == ENTK_NL_LEAKY_RELU ||
           nl->kind == ENTK_NL_ERF || nl->kind == ENTK_NL_SIN;
}

/* 1 if the P x P kernel X equals its transpose bit for bit (in 32 x 32 blocks, for the caches) */
static int entk__cn_is_sym(const double *X, size_t P) {
    size_t i0, j0, i, j;
    for (i0 = 0; i0 < P; i0 += 32)
        for (j0 = i0; j0 < P; j0 += 32)
            for (i = i0; i < i0 + 32 && i < P; ++i)
                for (j = j0 > i ? j0 : i + 1; j < j0 + 32 && j < P; ++j)
                    if (memcmp(X + i * P + j, X + j * P + i, sizeof *X) != 0) return 0;
    return 1;
}

/* The chain (as entk__cn_fused; every layer a conv with q = 3 and same padding) over diagonal tiles.
 * Z: ENTK__CN_TILE_LEN(M, W) doubles. rd == NULL: pair mode, e1[m] and e2[m] the inputs' records.
 * Self mode (rd != NULL, e1 == e2 == rd): the main diagonal d = 0 goes first; its tile (i, i) holds the
 * entries (t, t) of the pixels t of row i, so before each map rd[m] records them there, from the
 * tile's own window sums and affine update: the diagonal every later tile's map reads, and k12 = k11 =
 * k22 exactly at t = t' (see entk__cn_diag). half: the input kernels are symmetric bit for bit and so
 * is every map of the chain (entk__cn_sym_map), so tile (i', i) is the transpose of tile (i, i') at
 * every layer: only the diagonals d >= 0 are computed and the last layer's tiles are mirrored. */
static entk_status entk__cn_tiled(const entk__kernels *kt, const entk_layer *const *ls, const entk_layer *const *nls, int M, const double *Ki,
                                  const double *Ti, double *Ko, double *To, double *Z, size_t H, size_t W,
                                  const double *const *e1, const double *const *e2, double *const *rd, int half) {
    const size_t P = H * W, T2 = W * W;
    /* streamed tile rows must fill whole cache lines (partial lines cost more than they save) */
    const int stream = 4.0 * (double)P * (double)P * sizeof(double) > 16e6 && W % 8 == 0 &&
                       ((uintptr_t)Ko & 63u) == 0 && ((uintptr_t)To & 63u) == 0;
    double *u = Z, *lk = Z + T2, *lt = Z + 2 * T2, *ring = Z + 3 * T2;
    entk_status st;
    const long nd = half ? (long)H : 2 * (long)H - 1;
    long z;
    for (z = 0; z < nd; ++z) {
        /* pair mode d = -(H - 1) .. H - 1; self mode 0, 1, .., H - 1, then (not half) -1, .., -(H - 1) */
        const long d = !rd ? z - ((long)H - 1) : z < (long)H ? z : ((long)H - 1) - z;
        const long n = (long)H - (d < 0 ? -d : d), i0 = d < 0 ? -d : 0, s_end = n + M - 1;
        long s;
        for (s = 0; s < s_end; ++s) {
            int m;
            for (m = 0; m < M; ++m) {
                const entk_layer *ly = ls[m];
                const double cw = ly->sw * ly->sw / 9.0, b2 = ly->sb * ly->sb;
                const long k = s - m, i = i0 + k, ip = i + d;
                const int last = m == M - 1;
                const double *sk[3], *stt[3];
                double *ok, *ot;
                size_t ld = m ? W : P, j;
                int nt = 0, a;
                if (k < 0 || k >= n) continue;
#if defined(__GNUC__)
                if (m == 0 && k + 2 < n) { /* the input tile the next step reads first: its rows are strided */
                    const size_t off = (size_t)(i + 2) * W * P + (size_t)(ip + 2) * W;
                    size_t r, c;
                    for (r = 0; r < W; ++r)
                        for (c = 0; c < W; c += 8) {
                            __builtin_prefetch(Ki + off + r * P + c);
                            if (Ti) __builtin_prefetch(Ti + off + r * P + c);
                        }
                }
#endif /* __GNUC__ */
                for (a = 0; a < 3; ++a) { /* offsets 0, +1, -1 */
                    const long kk = k + (a == 2 ? -1 : a);
                    if (kk < 0 || kk >= n) continue;
                    if (m) {
                        const double *rb = ring + (size_t)(m - 1) * 6 * T2;
                        sk[nt] = rb + (size_t)(kk % 3) * T2;
                        stt[nt] = To ? rb + (size_t)(3 + kk % 3) * T2 : NULL;
                    } else {
                        const size_t off = (size_t)(i0 + kk) * W * P + (size_t)(i0 + kk + d) * W;
                        sk[nt] = Ki + off;
                        stt[nt] = Ti ? Ti + off : NULL;
                    }
                    ++nt;
                }
                if (last) {
                    ok = lk;
                    ot = To ? lt : NULL;
                } else {
                    double *rb = ring + (size_t)m * 6 * T2;
                    ok = rb + (size_t)(k % 3) * T2;
                    ot = To ? rb + (size_t)(3 + k % 3) * T2 : NULL;
                }
                entk__cn_tile_sum(kt, sk, nt, ld, u, W);
                entk__cn_tile_diag3(kt, u, ok, W);
                if (ot && stt[0]) {
                    entk__cn_tile_sum(kt, stt, nt, ld, u, W);
                    entk__cn_tile_diag3(kt, u, ot, W);
                }
                if (rd && d == 0 && rd[m]) { /* self mode: the diagonal of layer m at row i */
                    double *r = rd[m] + (size_t)i * W;
                    for (j = 0; j < W; ++j) r[j] = ok[j * W + j];
                    kt->affine(r, NULL, W, cw, b2); /* elementwise: the bits of the tile's own update */
                }
                /* the map row by row: row j of the tile is pixel (i, j) against the primed row ip */
                if ((st = entk__layer_out(kt, ok, ot, W, W, cw, b2, !stt[0], nls[m] ? &nls[m]->nl : NULL,
                                          nls[m] ? e1[m] + (size_t)i * W : NULL, 1,
                                          nls[m] ? e2[m] + (size_t)ip * W : NULL, 1)))
                    return st;
                if (last) {
                    for (j = 0; j < W; ++j) {
                        const size_t off = ((size_t)i * W + j) * P + (size_t)ip * W;
                        entk__cn_store(kt, ok + j * W, Ko + off, W, stream);
                        if (ot) entk__cn_store(kt, ot + j * W, To + off, W, stream);
                    }
                    if (half && d > 0) { /* tile (ip, i): the transpose, through u (free until the next tile) */
                        entk__cn_tile_mirror(kt, ok, u, Ko, P, W, (size_t)ip, (size_t)i, stream);
                        if (ot) entk__cn_tile_mirror(kt, ot, u, To, P, W, (size_t)ip, (size_t)i, stream);
                    }
                }
            }
        }
    }
    kt->fence();
    return ENTK_OK;
}

/* Whether layer ly can be layer m of a chain whose first layer is l0 (m > 0) on h x w maps: tiled =
 * 1 for entk__cn_tiled (same-padded 3 x 3 convs, as many as the tile workspace holds for width w), 0
 * for entk__cn_fused (same or valid padding; convs, or a lift or gconv and then gconvs; the first
 * window any size, then q <= 3). */
static int entk__cn_chain_fits(const entk__cn_plan *pl, const entk_layer *ly, const entk_layer *l0, int m,
                               int tiled, size_t h, size_t w) {
    if (tiled)
        return ly->kind == ENTK_LAYER_CONV && ly->pad == ENTK_PAD_SAME && ly->q == 3 &&
               ENTK__CN_TILE_LEN(m + 1, w) <= pl->fuse_len;
    if (ly->pad != ENTK_PAD_SAME && (ly->pad != ENTK_PAD_VALID || h < (size_t)ly->q || w < (size_t)ly->q)) return 0;
    if (m == 0) return ly->kind == ENTK_LAYER_CONV || ly->kind == ENTK_LAYER_LIFT || ly->kind == ENTK_LAYER_GCONV;
    return ly->q <= 3 && ly->kind == (l0->kind == ENTK_LAYER_CONV ? ENTK_LAYER_CONV : ENTK_LAYER_GCONV);
}

/* Collect a chain of linear layers (each with its following nonlinearity, if any) starting at layer
 * *x on maps of P pixels, w wide, for one fused sweep (entk__cn_chain_fits says which). Fills ls, nls
 * and the nonlinearities' diagonal pointers f1, f2 (advancing *off by the pixels of each
 * nonlinearity's maps), moves *x past the chain, returns its length. */
static int entk__cn_chain(const entk_arch *a, const entk__cn_plan *pl, int tiled, size_t w, const double *d1,
                          const double *d2, size_t P, const entk_layer **ls, const entk_layer **nls,
                          const double **f1, const double **f2, size_t *off, int *x) {
    int m = 0;
    size_t h = P / w;
    /* (the plan sized the tiles for W; a later, narrower w may want a longer chain) */
    const int maxm = tiled ? entk__cn_tchain(w) : ENTK__CN_CHAIN;
    while (m < maxm && *x < pl->red && entk__cn_chain_fits(pl, &a->layer[*x], m ? ls[0] : NULL, m, tiled, h, w)) {
        ls[m] = &a->layer[*x];
        if (ls[m]->pad == ENTK_PAD_VALID) {
            h -= (size_t)ls[m]->q - 1;
            w -= (size_t)ls[m]->q - 1;
        }
        nls[m] = *x + 1 < pl->red && a->layer[*x + 1].kind == ENTK_LAYER_NONLIN ? &a->layer[*x + 1] : NULL;
        f1[m] = nls[m] ? d1 + *off : NULL;
        f2[m] = nls[m] ? d2 + *off : NULL;
        if (nls[m]) *off += h * w;
        *x += nls[m] ? 2 : 1;
        ++m;
    }
    return m;
}

/* The diagonal K'(t, t) of a conv / lift / gconv output from block 0 of its input (rho(e) = identity, so
 * only diagonal input entries are needed), summed in the order of the two passes (window columns
 * outer, rows inner, offsets 0, 1, .., h, -1, .., -h) so that it equals the full computation bit for
 * bit. This matters: at t = t' of a self pair the map then sees k12 = k11 = k22 exactly, and the
 * arc-cosine maps (ReLU's Tdot) have a square-root sensitivity there (one ulp of mismatch moves Tdot
 * by about 1e-9 relative). */
static void entk__cn_diag(const entk_layer *ly, const double *M, size_t h, size_t w, double *d) {
    const int hq = (ly->q - 1) / 2;
    const size_t ho = ly->pad == ENTK_PAD_VALID ? h - (size_t)ly->q + 1 : h;
    const size_t wo = ly->pad == ENTK_PAD_VALID ? w - (size_t)ly->q + 1 : w;
    const size_t P = h * w;
    const double cw = ly->sw * ly->sw / ((double)ly->q * (double)ly->q), b2 = ly->sb * ly->sb;
    size_t i, j;
    for (i = 0; i < ho; ++i)
        for (j = 0; j < wo; ++j) {
            double s = 0;
            int kb, ka, fb = 1;
            for (kb = 0; kb <= 2 * hq; ++kb) {
                const long c = entk__cn_idx(j, kb <= hq ? kb : hq - kb, w, hq, ly->pad);
                double u = 0;
                int fa = 1;
                if (c < 0) continue;
                for (ka = 0; ka <= 2 * hq; ++ka) {
                    const long r = entk__cn_idx(i, ka <= hq ? ka : hq - ka, h, hq, ly->pad);
                    size_t t;
                    if (r < 0) continue;
                    t = (size_t)r * w + (size_t)c;
                    u = fa ? M[t * P + t] : u + M[t * P + t];
                    fa = 0;
                }
                s = fb ? u : s + u;
                fb = 0;
            }
            d[i * wo + j] = cw * s + b2;
        }
}

/* The input kernel M0(t, t') = (1/C) sum_c x1_c(t) x2_c(t') of two C x P images into the P x P block
 * M. Not entk__gemm: its micro-kernels fuse the multiply-adds (AVX2, NEON) and restart the sum every
 * ENTK__KC channels, which changes the bits of every kernel after it; here each entry is the sum over
 * c in order, a separate multiply and add, on every path. */
static void entk__cn_input_gram(const double *x1, const double *x2, size_t C, size_t P, double *M) {
    size_t i, j, c;
    for (i = 0; i < P; ++i) {
        double *row = M + i * P;
        const double a0 = x1[i];
        for (j = 0; j < P; ++j) row[j] = 0.0 + a0 * x2[j]; /* c = 0 in one pass: the sum from zero */
        for (c = 1; c < C; ++c) {
            const double av = x1[c * P + i];
            const double *xr = x2 + c * P;
            for (j = 0; j < P; ++j) row[j] += av * xr[j];
        }
        if (C != 1) /* (x / 1 is x) */
            for (j = 0; j < P; ++j) row[j] /= (double)C;
    }
}

/* The state of one entk__cn_run between layers. The kernels entering the next layer are K[cur] and
 * T[cur] (ng stored blocks S doubles apart, each P x P over h x w maps); a layer writes K[1 - cur],
 * T[1 - cur] and flips cur. */
typedef struct entk__cn_pass {
    double *K[2], *T[2];
    double *U;              /* the plan's row_len + fuse_len doubles of row and tile scratch */
    const double *d1, *d2;  /* the inputs' records (self mode: rec) */
    double *rec;            /* self mode: the record being written; else NULL */
    size_t S, h, w, P, off; /* off: the next nonlinearity's diagonals in the records */
    int ng, gn, first, cur, want_t;
    int sym;                /* self mode: K[cur], T[cur] are known to be symmetric bit for bit */
    int reduced;            /* a fused chain took the reduction: its values are red_k, red_t */
    double red_k, red_t;
} entk__cn_pass;

/* A chain of linear layers on a large image in one sweep: first on diagonal tiles (entk__cn_tiled:
 * same-padded 3 x 3 convs, from one layer on), else, in pair mode only, over block-rows
 * (entk__cn_fused: same or valid padding, convs or a lift / gconv and gconvs, a first window of any
 * size, then q <= 3, from two layers on; its maps need every pixel's diagonal before the sweep, which
 * the self mode records during it). Self mode computes half the tiles when the input is symmetric
 * (known, or checked) and so are the chain's maps. *used = 1 if a chain ran; then *l is its last
 * layer. *used = 0: the layer at *l is left to entk__cn_layer. */
#define ENTK__CN_CMAX (ENTK__CN_TCHAIN > ENTK__CN_CHAIN ? ENTK__CN_TCHAIN : ENTK__CN_CHAIN)
static entk_status entk__cn_chain_try(const entk_arch *a, const entk__cn_plan *pl, entk__cn_pass *s, int *l,
                                      int *used) {
    const entk_layer *ly = &a->layer[*l], *ls[ENTK__CN_CMAX], *nls[ENTK__CN_CMAX];
    const double *f1[ENTK__CN_CMAX], *f2[ENTK__CN_CMAX];
    const double *Ki = s->K[s->cur], *Ti = s->first ? NULL : s->T[s->cur];
    double *Ko = s->K[1 - s->cur], *To = s->want_t ? s->T[1 - s->cur] : NULL, *rdg[ENTK__CN_CMAX];
    const int nb = ly->kind == ENTK_LAYER_LIFT ? entk__cn_group_size(ly) : s->ng;
    const int gn = ly->kind == ENTK_LAYER_LIFT ? ly->n : s->gn;
    int tiled;
    *used = 0;
    if ((s->rec && ly->kind != ENTK_LAYER_CONV) || entk__cn_small_ok(s->h, s->w, ly->q, pl->row_len)) return ENTK_OK;
    if (s->rec) s->d1 = s->d2 = s->rec; /* the chain's diagonals are recorded where its maps read them */
    for (tiled = 1; tiled >= (s->rec ? 1 : 0); --tiled) {
        size_t o = s->off, h = s->h, w = s->w;
        int x = *l, m, k, half = 0;
        entk_status st;
        entk__cn_red rd, *rdp = NULL;
        if (tiled && ly->kind != ENTK_LAYER_CONV) continue;
        m = entk__cn_chain(a, pl, tiled, s->w, s->d1, s->d2, s->P, ls, nls, f1, f2, &o, &x);
        if (m < (tiled ? 1 : 2)) continue;
        if (s->rec) {
            half = 1;
            for (k = 0; k < m; ++k) {
                rdg[k] = nls[k] ? s->rec + (f1[k] - s->d1) : NULL;
                if (nls[k] && !entk__cn_sym_map(&nls[k]->nl)) half = 0;
            }
            if (half && !s->sym) s->sym = entk__cn_is_sym(Ki, s->P) && (!Ti || entk__cn_is_sym(Ti, s->P));
            half = half && s->sym;
        }
        for (k = 0; k < m; ++k)
            if (ls[k]->pad == ENTK_PAD_VALID) {
                h -= (size_t)ls[k]->q - 1;
                w -= (size_t)ls[k]->q - 1;
            }
        if (!tiled && x == pl->red) { /* the reduction follows: take it from the rows, store nothing */
            rd.flatten = a->layer[x].kind == ENTK_LAYER_FLATTEN;
            rd.nfull = (h * w * h * w) / 4 * 4;
            rdp = &rd;
        }
        st = tiled ? entk__cn_tiled(pl->kt, ls, nls, m, Ki, Ti, Ko, To, s->U + pl->row_len, s->h, s->w, f1, f2,
                                    s->rec ? rdg : NULL, half)
                   : entk__cn_fused(pl->kt, ls, nls, m, nb, gn, Ki, Ti, rdp ? NULL : Ko, rdp ? NULL : To, s->S, s->U,
                                    s->U + pl->row_len, s->h, s->w, f1, f2, rdp, s->want_t);
        if (st) return st;
        if (rdp) { /* as entk__cn_reduce divides */
            const double P = (double)(h * w);
            s->reduced = 1;
            s->red_k = rd.flatten ? rd.k / P : rd.k / ((double)nb * P * P);
            s->red_t = !s->want_t ? 0 : rd.flatten ? rd.t / P : rd.t / ((double)nb * P * P);
        }
        s->h = h;
        s->w = w;
        s->P = h * w;
        s->ng = nb;
        s->gn = gn;
        s->cur = 1 - s->cur;
        s->first = 0;
        s->off = o;
        s->sym = half; /* mirrored: symmetric by construction */
        *l = x - 1;
        *used = 1;
        return ENTK_OK;
    }
    return ENTK_OK;
}

/* A conv / lift / gconv layer at *l with the nonlinearity after it, if any (then *l moves onto it). In
 * self mode the output's diagonal is recorded first, so that the nonlinearity can be fused. */
static entk_status entk__cn_layer(const entk_arch *a, const entk__cn_plan *pl, entk__cn_pass *s, int *l,
                                  entk__cn_tabcache *tc) {
    const entk_layer *ly = &a->layer[*l];
    const int nb = ly->kind == ENTK_LAYER_LIFT ? entk__cn_group_size(ly) : s->ng;
    const entk_layer *nl = *l + 1 < pl->red && a->layer[*l + 1].kind == ENTK_LAYER_NONLIN ? &a->layer[*l + 1] : NULL;
    entk_status st;
    if (ly->kind == ENTK_LAYER_LIFT) s->gn = ly->n;
    if (ly->pad == ENTK_PAD_VALID) s->P = (s->h - (size_t)ly->q + 1) * (s->w - (size_t)ly->q + 1); /* output */
    if (nl && s->rec) {
        entk__cn_diag(ly, s->K[s->cur], s->h, s->w, s->rec + s->off);
        s->d1 = s->d2 = s->rec;
    }
    if ((st = entk__cn_linear(pl->kt, ly, nb, s->gn, s->K[s->cur], s->first ? NULL : s->T[s->cur], s->K[1 - s->cur],
                              s->want_t ? s->T[1 - s->cur] : NULL, s->U, pl->row_len, s->S, s->h, s->w, nl,
                              nl ? s->d1 + s->off : NULL, nl ? s->d2 + s->off : NULL, tc)))
        return st;
    s->cur = 1 - s->cur;
    s->ng = nb;
    if (ly->pad == ENTK_PAD_VALID) {
        s->h -= (size_t)ly->q - 1;
        s->w -= (size_t)ly->q - 1;
    }
    s->first = 0;
    if (nl) {
        s->off += s->P;
        ++*l;
    }
    return ENTK_OK;
}

/* A nonlinearity after a layer without weights (pool) or another nonlinearity: in place; in self mode
 * the diagonal it reads is recorded first. */
static entk_status entk__cn_nonlin(const entk__cn_plan *pl, const entk_layer *ly, entk__cn_pass *s) {
    const double *e1, *e2;
    entk_status st;
    size_t i;
    if (s->rec) {
        for (i = 0; i < s->P; ++i) s->rec[s->off + i] = s->K[s->cur][i * s->P + i];
        e1 = e2 = s->rec + s->off;
    } else {
        e1 = s->d1 + s->off;
        e2 = s->d2 + s->off;
    }
    st = entk__cn_map_rows(pl->kt, ly, s->K[s->cur], s->want_t ? s->T[s->cur] : NULL, s->S, s->ng, s->P, 0, s->P,
                           e1, e2);
    s->off += s->P;
    return st;
}

/* avgpool(p): each output pair (u, u') the mean of the p^2 x p^2 input pairs of its two windows. */
static void entk__cn_avgpool(const entk_layer *ly, entk__cn_pass *s) {
    const size_t p = (size_t)ly->p, w = s->w, P = s->P, ho = s->h / p, wo = w / p, po = ho * wo;
    const double sc = 1.0 / ((double)p * (double)p * (double)p * (double)p);
    int which, b;
    for (which = 0; which < (s->want_t ? 2 : 1); ++which)
        for (b = 0; b < s->ng; ++b) {
            const double *src = (which ? s->T[s->cur] : s->K[s->cur]) + (size_t)b * s->S;
            double *dst = (which ? s->T[1 - s->cur] : s->K[1 - s->cur]) + (size_t)b * s->S;
            size_t u, u2;
            for (u = 0; u < po; ++u)
                for (u2 = 0; u2 < po; ++u2) {
                    const size_t r0 = (u / wo) * p, c0 = (u % wo) * p;
                    const size_t r1 = (u2 / wo) * p, c1 = (u2 % wo) * p;
                    double sum = 0;
                    size_t a0, a1, b0, b1;
                    for (a0 = 0; a0 < p; ++a0)
                        for (a1 = 0; a1 < p; ++a1) {
                            const double *row = src + ((r0 + a0) * w + c0 + a1) * P + c1;
                            for (b0 = 0; b0 < p; ++b0)
                                for (b1 = 0; b1 < p; ++b1) sum += row[(r1 + b0) * w + b1];
                        }
                    dst[u * po + u2] = sum * sc;
                }
        }
    s->cur = 1 - s->cur;
    s->h = ho;
    s->w = wo;
    s->P = po;
}

/* rotpool: the mean over the stored blocks, into block 0; the group is trivial again. */
static void entk__cn_rotpool(entk__cn_pass *s) {
    const size_t m = s->P * s->P;
    int which, b;
    size_t i;
    for (which = 0; which < (s->want_t ? 2 : 1); ++which) {
        double *base = which ? s->T[s->cur] : s->K[s->cur];
        for (b = 1; b < s->ng; ++b)
            for (i = 0; i < m; ++i) base[i] += base[(size_t)b * s->S + i];
        for (i = 0; i < m; ++i) base[i] /= (double)s->ng;
    }
    s->ng = 1;
    s->gn = 1;
}

/* The reduction layer ly to the scalars *kout, *tout (0 without the NTK): flatten, the mean of the
 * diagonal; gap and gpool, the mean over every stored block and pixel pair. */
static void entk__cn_reduce(const entk_layer *ly, const entk__cn_pass *s, double *kout, double *tout) {
    const size_t P = s->P;
    int which, b;
    size_t i;
    for (which = 0; which < 2; ++which) {
        const double *base = which ? s->T[s->cur] : s->K[s->cur];
        double sum = 0;
        if (which && !s->want_t) { *tout = 0; break; }
        if (ly->kind == ENTK_LAYER_FLATTEN) {
            for (i = 0; i < P; ++i) sum += base[i * P + i];
            sum /= (double)P;
        } else {
            for (b = 0; b < s->ng; ++b) { /* four partial sums: a serial sum waits on every add */
                const double *v = base + (size_t)b * s->S;
                double sb[4] = {0, 0, 0, 0};
                for (i = 0; i + 4 <= P * P; i += 4) {
                    sb[0] += v[i]; sb[1] += v[i + 1]; sb[2] += v[i + 2]; sb[3] += v[i + 3];
                }
                for (; i < P * P; ++i) sb[0] += v[i];
                sum += (sb[0] + sb[1]) + (sb[2] + sb[3]);
            }
            sum /= (double)s->ng * (double)P * (double)P;
        }
        *(which ? tout : kout) = sum;
    }
}

/* Runs the image layers of one pair and the reduction. self mode (rec != NULL, x1 == x2): records the
 * diagonals into rec and uses them as k11 = k22. Otherwise d1, d2 are the inputs' records. A
 * nonlinearity that follows a linear layer is fused into it. want_t = 0 skips the NTK. Writes the reduced (k, theta). */
static entk_status entk__cn_run(const entk_arch *a, const entk__cn_plan *pl, const double *x1,
                                const double *x2, size_t C, size_t H, size_t W, const double *d1,
                                const double *d2, double *rec, int want_t, double *work, double *kout,
                                double *tout, entk__cn_tabcache *tc) {
    const size_t nS = (size_t)pl->ng_max * pl->blk;
    entk__cn_pass s;
    entk_status st = ENTK_OK;
    int l, used;
    work += ((64u - ((uintptr_t)work & 63u)) & 63u) / sizeof(double); /* the plan's 8 spare doubles */
    s.K[0] = work; s.K[1] = work + nS; s.T[0] = work + 2 * nS; s.T[1] = work + 3 * nS; s.U = work + 4 * nS;
    s.d1 = d1; s.d2 = d2; s.rec = rec;
    s.S = pl->blk; s.h = H; s.w = W; s.P = H * W; s.off = 0;
    s.ng = 1; s.gn = 1; s.first = 1; s.cur = 0; s.want_t = want_t;
    s.sym = rec != NULL; /* M0 of an image with itself: the products commute, so the bits are symmetric */
    s.reduced = 0; s.red_k = s.red_t = 0;
    entk__cn_input_gram(x1, x2, C, s.P, s.K[0]);
    for (l = 0; l < pl->red && !st; ++l) {
        const entk_layer *ly = &a->layer[l];
        switch (ly->kind) {
        case ENTK_LAYER_CONV:
        case ENTK_LAYER_LIFT:
        case ENTK_LAYER_GCONV:
            if (!(st = entk__cn_chain_try(a, pl, &s, &l, &used)) && !used) {
                st = entk__cn_layer(a, pl, &s, &l, tc);
                s.sym = 0;
            }
            break;
        case ENTK_LAYER_NONLIN: st = entk__cn_nonlin(pl, ly, &s); s.sym = 0; break;
        case ENTK_LAYER_AVGPOOL: entk__cn_avgpool(ly, &s); s.sym = 0; break;
        case ENTK_LAYER_ROTPOOL: entk__cn_rotpool(&s); s.sym = 0; break;
        default: return ENTK_ERR_ARCH;
        }
    }
    if (st) return st;
    if (s.reduced) {
        *kout = s.red_k;
        *tout = s.red_t;
    } else {
        entk__cn_reduce(&a->layer[pl->red], &s, kout, tout);
    }
    if (rec) {
        rec[s.off] = *kout;
        rec[s.off + 1] = *tout;
        /* the input's diagonals before every nonlinearity and its reduced kernel: by Cauchy-Schwarz
         * they bound every pair value, so a pair run overflows only where these do (entk__finite) */
        if (!entk__finite(rec, s.off + 2)) return ENTK_ERR_RANGE;
    }
    return ENTK_OK;
}

/* The scalar layers after the reduction; self records hold each input's reduced (k, theta).
 * entk_scalar_chain returns ENTK_ERR_RANGE for a non-finite value (also with no layers left). */
static entk_status entk__cn_finish(const entk_arch *a, const entk__cn_plan *pl, const double *s1,
                                   const double *s2, double *k, double *t) {
    double k11 = s1[pl->self_len - 2], t11 = s1[pl->self_len - 1];
    double k22 = s2[pl->self_len - 2], t22 = s2[pl->self_len - 1];
    return entk__scalar_chain(pl->kt, a->layer + pl->red + 1, a->n_layers - pl->red - 1, &k11, &t11, &k22, &t22, k, t);
}

ENTKDEF entk_status entk_cn_workspace_size(const entk_arch *arch, size_t C, size_t H, size_t W,
                                           size_t *work_len, size_t *self_len) {
    entk__cn_plan pl;
    entk_status st = entk__cn_plan_make(arch, C, H, W, &pl);
    if (st) return st;
    if (work_len) *work_len = pl.work_len;
    if (self_len) *self_len = pl.self_len;
    return ENTK_OK;
}

ENTKDEF entk_status entk_cn_self(const entk_arch *arch, const double *x, size_t C, size_t H, size_t W,
                                 double *self, double *work) {
    entk__cn_plan pl;
    entk_status st;
    double k, t;
    if ((st = entk__cn_plan_make(arch, C, H, W, &pl))) return st;
    if (!x || !self || !work) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__check_finite(x, C * pl.P0))) return st;
    return entk__cn_run(arch, &pl, x, x, C, H, W, NULL, NULL, self, 1, work, &k, &t, NULL);
}

ENTKDEF entk_status entk_cn_pair(const entk_arch *arch, const double *x1, const double *self1,
                                 const double *x2, const double *self2, size_t C, size_t H, size_t W,
                                 double *work, double *k, double *t) {
    entk__cn_plan pl;
    entk_status st;
    double kk, tt, *own;
    if ((st = entk__cn_plan_make(arch, C, H, W, &pl))) return st;
    if (!x1 || !x2 || !work || !k) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__check_finite(x1, C * pl.P0)) || (st = entk__check_finite(x2, C * pl.P0))) return st;
    own = work + (pl.work_len - 2 * pl.self_len);
    if (!self1) {
        if ((st = entk__cn_run(arch, &pl, x1, x1, C, H, W, NULL, NULL, own, 1, work, &kk, &tt, NULL))) return st;
        self1 = own;
    }
    if (!self2) {
        double *o2 = own + pl.self_len;
        if ((st = entk__cn_run(arch, &pl, x2, x2, C, H, W, NULL, NULL, o2, 1, work, &kk, &tt, NULL))) return st;
        self2 = o2;
    }
    if ((st = entk__cn_run(arch, &pl, x1, x2, C, H, W, self1, self2, NULL, t != NULL, work, &kk, &tt, NULL)))
        return st;
    if ((st = entk__cn_finish(arch, &pl, self1, self2, &kk, &tt))) return st;
    *k = kk;
    if (t) *t = tt;
    return ENTK_OK;
}

/* ============================================================================================== */
/* 2.4 Gram drivers                                                                               */
/* ============================================================================================== */

/* Rotation by 90 degrees k times, then (mir) a left-right mirror, of a C x N x N image. */
static void entk__cn_transform(const double *x, size_t C, size_t N, int k, int mir, double *y) {
    size_t c, i, j;
    for (c = 0; c < C; ++c)
        for (i = 0; i < N; ++i)
            for (j = 0; j < N; ++j) {
                size_t si = i, sj = mir ? N - 1 - j : j, t, r;
                for (r = 0; r < (size_t)k; ++r) { t = si; si = sj; sj = N - 1 - t; }
                y[(c * N + i) * N + j] = x[(c * N + si) * N + sj];
            }
}

/* The image domain for entk__gram (entk.h 9.5.3): the plan, the architecture and the input shape. */
typedef struct entk__cn_job {
    const entk_arch *a;
    const entk__cn_plan *pl;
    size_t C, H, W;
} entk__cn_job;

static entk_status entk__cn_dom_self(const void *plan, const double *x, int want_t, double *rec, double *work,
                                     void *cache) {
    const entk__cn_job *jb = (const entk__cn_job *)plan;
    double kk, tt;
    return entk__cn_run(jb->a, jb->pl, x, x, jb->C, jb->H, jb->W, NULL, NULL, rec, want_t, work, &kk, &tt,
                        (entk__cn_tabcache *)cache);
}

static entk_status entk__cn_dom_pair(const void *plan, const double *x1, const double *r1, const double *x2,
                                     const double *r2, int want_t, double *work, void *cache, double *k,
                                     double *t) {
    const entk__cn_job *jb = (const entk__cn_job *)plan;
    entk_status st = entk__cn_run(jb->a, jb->pl, x1, x2, jb->C, jb->H, jb->W, r1, r2, NULL, want_t, work, k, t,
                                  (entk__cn_tabcache *)cache);
    return st ? st : entk__cn_finish(jb->a, jb->pl, r1, r2, k, t);
}

/* an image against itself: its reduced (k, theta) are in its record */
static entk_status entk__cn_dom_diag(const void *plan, const double *x, const double *rec, double *k, double *t) {
    const entk__cn_job *jb = (const entk__cn_job *)plan;
    ENTK__UNUSED(x);
    *k = rec[jb->pl->self_len - 2];
    *t = rec[jb->pl->self_len - 1];
    return entk__cn_finish(jb->a, jb->pl, rec, rec, k, t);
}

static void entk__cn_tabcache_init(void *cache) { ((entk__cn_tabcache *)cache)->n = 0; }

/* The image domain of job (job must outlive the Gram call that uses dom). */
static void entk__cn_domain(const entk__cn_job *job, entk__domain *dom) {
    dom->in_len = job->C * job->pl->P0;
    dom->self_len = job->pl->self_len;
    dom->work_len = job->pl->work_len;
    /* small images: the in-cache path's tables, kept across a thread's pairs */
    dom->cache_size = job->pl->P0 <= ENTK__CN_SMALL_P ? sizeof(entk__cn_tabcache) : 0;
    dom->cache_init = entk__cn_tabcache_init;
    dom->self = entk__cn_dom_self;
    dom->pair = entk__cn_dom_pair;
    dom->diag = entk__cn_dom_diag;
}

/* Gram matrix over pairs (i, j) of x1 and the ng transformed copies of x2 (x2g: n2 x ng images, the
 * copies of image j contiguous): out = (1/ng) sum_g kernel(x1_i, x2g_{j, g}). sym: x2g is x1 (ng = 1),
 * upper triangle only, diagonal from the self records. */
static entk_status entk__cn_gram(const entk_arch *a, const entk__cn_plan *pl, const double *x1, size_t n1,
                                 const double *x2g, size_t n2, int ng, int sym, size_t C, size_t H,
                                 size_t W, double *nngp, size_t ldk, double *ntk, size_t ldt, int threads) {
    entk__cn_job job;
    entk__domain dom;
    job.a = a; job.pl = pl; job.C = C; job.H = H; job.W = W;
    entk__cn_domain(&job, &dom);
    return entk__gram(&dom, &job, x1, n1, 1, sym ? NULL : x2g, n2, (size_t)ng, ENTK__AGG_MEAN, nngp, ldk, ntk, ldt,
                      threads);
}

static entk_status entk__cn_args(const entk_arch *arch, const double *x1, size_t n1, const double *x2,
                                 size_t n2, size_t C, size_t H, size_t W, double *nngp, size_t ldk,
                                 double *ntk, size_t ldt, entk__cn_plan *pl) {
    entk_status st;
    size_t cnt;
    if ((st = entk__cn_plan_make(arch, C, H, W, pl))) return st;
    if (n1 == 0 || n2 == 0) return ENTK_OK;
    if (!x1 || !x2 || (!nngp && !ntk)) return ENTK_ERR_INVALID_ARG;
    if ((nngp && ldk < n2) || (ntk && ldt < n2)) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__mul(n1 > n2 ? n1 : n2, C * pl->P0, &cnt))) return st;
    if ((st = entk__check_finite(x1, n1 * C * pl->P0))) return st;
    if (x2 != x1 && (st = entk__check_finite(x2, n2 * C * pl->P0))) return st;
    return ENTK_OK;
}

ENTKDEF entk_status entk_cn_kernel(const entk_arch *arch, const double *x1, size_t n1,
                                   const double *x2, size_t n2, size_t C, size_t H, size_t W,
                                   double *nngp, size_t ldk, double *ntk, size_t ldt, int threads) {
    entk__cn_plan pl;
    entk_status st;
    const int sym = x2 == NULL;
    if (sym) { x2 = x1; n2 = n1; }
    if ((st = entk__cn_args(arch, x1, n1, x2, n2, C, H, W, nngp, ldk, ntk, ldt, &pl))) return st;
    if (n1 == 0 || n2 == 0) return ENTK_OK;
    return entk__cn_gram(arch, &pl, x1, n1, x2, n2, 1, sym, C, H, W, nngp, ldk, ntk, ldt, threads);
}

ENTKDEF entk_status entk_cn_kernel_orbit(const entk_arch *arch, entk_orbit orbit, const double *x1,
                                         size_t n1, const double *x2, size_t n2, size_t C, size_t H,
                                         size_t W, double *nngp, size_t ldk, double *ntk, size_t ldt,
                                         int threads) {
    entk__cn_plan pl;
    entk_status st;
    const int ng = orbit == ENTK_ORBIT_C4 ? 4 : 8;
    double *xg = NULL;
    size_t img, cnt, j;
    int g;
    if (orbit == ENTK_ORBIT_NONE) return entk_cn_kernel(arch, x1, n1, x2, n2, C, H, W, nngp, ldk, ntk, ldt, threads);
    if (orbit != ENTK_ORBIT_C4 && orbit != ENTK_ORBIT_D4) return ENTK_ERR_INVALID_ARG;
    if (!x2) { x2 = x1; n2 = n1; }
    if ((st = entk__cn_args(arch, x1, n1, x2, n2, C, H, W, nngp, ldk, ntk, ldt, &pl))) return st;
    if (H != W) return ENTK_ERR_SHAPE;
    if (n1 == 0 || n2 == 0) return ENTK_OK;
    img = C * pl.P0;
    if ((st = entk__mul(n2 * (size_t)ng, img, &cnt)) || (st = entk__alloc_doubles(cnt, &xg))) return st;
    for (j = 0; j < n2; ++j)
        for (g = 0; g < ng; ++g)
            entk__cn_transform(x2 + j * img, C, H, g % 4, g / 4, xg + (j * (size_t)ng + (size_t)g) * img);
    st = entk__cn_gram(arch, &pl, x1, n1, xg, n2, ng, 0, C, H, W, nngp, ldk, ntk, ldt, threads);
    ENTK_FREE(xg);
    return st;
}

/* ============================================================================================== */
/* 2.5 Checks with the image size, and each input's own kernel                                    */
/* ============================================================================================== */

ENTKDEF entk_status entk_cn_check_shape(const entk_arch *arch, entk_orbit orbit, size_t C, size_t H, size_t W,
                                        char *err, size_t errlen) {
    entk__cn_plan pl;
    entk_status st;
    if (err && errlen) err[0] = 0;
    if (orbit != ENTK_ORBIT_NONE && orbit != ENTK_ORBIT_C4 && orbit != ENTK_ORBIT_D4) {
        (void)entk__arch_error(err, errlen, "unknown orbit %d", (int)orbit);
        return ENTK_ERR_INVALID_ARG;
    }
    if ((st = entk__cn_plan_build(arch, C, H, W, &pl, err, errlen))) return st;
    if (orbit != ENTK_ORBIT_NONE && H != W) {
        (void)entk__arch_error(err, errlen, "orbit averages rotate the images: they must be square, not %zu x %zu",
                               H, W);
        return ENTK_ERR_SHAPE;
    }
    return ENTK_OK;
}

/* Diagonal entries for the n inputs x: a diagonal pass of the Gram driver (entk__gram_diag, entk.h
 * 9.5.3) over the image domain, so with ng = 1 the diagonal of entk_cn_kernel's symmetric Gram matrix
 * (from the self records), else that of entk_cn_kernel_orbit's, (1/ng) sum_g over the pairs
 * (x_i, g x_i): the same operations in the same order, so the same bits. The ng transformed copies are
 * made for a chunk of inputs at a time (about 8 MB of them, at least 4 inputs per thread). */
static entk_status entk__cn_diag_run(const entk_arch *a, const entk__cn_plan *pl, const double *x, size_t n,
                                     int ng, size_t C, size_t H, size_t W, double *kd, double *td, int threads) {
    const size_t img = C * pl->P0, least = 4 * (size_t)(threads > 1 ? threads : 1);
    entk__cn_job job;
    entk__domain dom;
    entk_status st;
    double *xg = NULL;
    size_t chunk, cnt, i0, j;
    int g;
    job.a = a; job.pl = pl; job.C = C; job.H = H; job.W = W;
    entk__cn_domain(&job, &dom);
    if (ng == 1) return entk__gram_diag(&dom, &job, x, n, 1, NULL, 0, ENTK__AGG_MEAN, kd, td, threads);
    chunk = ((size_t)1 << 20) / img / (size_t)ng;
    if (chunk < least) chunk = least;
    if (chunk > n) chunk = n;
    if ((st = entk__mul(chunk, (size_t)ng, &cnt)) || (st = entk__mul(cnt, img, &cnt)) ||
        (st = entk__alloc_doubles(cnt, &xg)))
        return st;
    for (i0 = 0; i0 < n && !st; i0 += chunk) {
        const size_t m = n - i0 < chunk ? n - i0 : chunk;
        for (j = 0; j < m; ++j)
            for (g = 0; g < ng; ++g)
                entk__cn_transform(x + (i0 + j) * img, C, H, g % 4, g / 4, xg + (j * (size_t)ng + (size_t)g) * img);
        st = entk__gram_diag(&dom, &job, x + i0 * img, m, 1, xg, (size_t)ng, ENTK__AGG_MEAN, kd ? kd + i0 : NULL,
                             td ? td + i0 : NULL, threads);
    }
    ENTK_FREE(xg);
    return st;
}

ENTKDEF entk_status entk_cn_diag_orbit(const entk_arch *arch, entk_orbit orbit, const double *x, size_t n,
                                       size_t C, size_t H, size_t W, double *nngp_diag, double *ntk_diag,
                                       int threads) {
    entk__cn_plan pl;
    entk_status st;
    size_t cnt;
    if (orbit != ENTK_ORBIT_NONE && orbit != ENTK_ORBIT_C4 && orbit != ENTK_ORBIT_D4) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__cn_plan_make(arch, C, H, W, &pl))) return st;
    if (orbit != ENTK_ORBIT_NONE && H != W) return ENTK_ERR_SHAPE;
    if (n == 0) return ENTK_OK;
    if (!x) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__mul(n, C * pl.P0, &cnt)) || (st = entk__check_finite(x, cnt))) return st;
    return entk__cn_diag_run(arch, &pl, x, n, orbit == ENTK_ORBIT_NONE ? 1 : orbit == ENTK_ORBIT_C4 ? 4 : 8, C, H, W,
                         nngp_diag, ntk_diag, threads);
}

ENTKDEF entk_status entk_cn_diag(const entk_arch *arch, const double *x, size_t n, size_t C, size_t H, size_t W,
                                 double *nngp_diag, double *ntk_diag, int threads) {
    return entk_cn_diag_orbit(arch, ENTK_ORBIT_NONE, x, n, C, H, W, nngp_diag, ntk_diag, threads);
}

ENTK__FP_END
#endif /* ENTK_IMPLEMENTATION && !ENTK_CN_IMPLEMENTATION_DONE */

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
