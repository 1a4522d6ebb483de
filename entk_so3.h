/* entk_so3.h - harmonic analysis on the sphere S^2 and the rotation group SO(3) for entk's SO(3)
 *              networks (docs/conventions.md §1.5): Wigner matrices, real spherical harmonics,
 *              Driscoll-Healy grids and quadrature, S^2 and SO(3) Fourier transforms.         MIT
 *
 * USAGE
 *   In exactly one C file:
 *       #define ENTK_IMPLEMENTATION
 *       #include "entk_so3.h"       (includes entk.h, and its implementation with it)
 *   Everywhere else just #include "entk_so3.h". Link with `-lsleef -lm`, or build with -DENTK_NO_SLEEF
 *   and link with `-lm` (this header itself needs only libm). The interface compiles as C99 and as
 *   C++ (no C99 _Complex: complex values are pairs of real arrays), and so does this header's own
 *   implementation code.
 *
 * CONFIGURATION MACROS: those of entk.h (ENTK_STATIC, ENTK_NO_SIMD, ENTK_VECTOR, ENTK_NO_SLEEF,
 *   ENTK_MALLOC/ENTK_FREE, ...), and
 *   name                     where            default   effect
 *   ENTK_SO3_XYZ_MAX_ATOMS   every include    4096      largest atom count of one molecule in an XYZ file
 *   ENTK_SO3_XYZ_MAX_BYTES   implementation   2^30      largest XYZ file entk_so3_xyz_read_file reads
 *   The transforms allocate nothing: they run in caller memory (a plan and a per-call workspace, sizes
 *   from entk_so3_plan_size or the _work_size functions). The network kernels allocate their plans,
 *   records and per-thread workspaces through ENTK_MALLOC, the XYZ reader its molecules.
 *
 * CONTENTS
 *   1. Interface
 *      1.1 Wigner matrices: d (stable recursion), complex D, real Delta; real spherical harmonics
 *      1.2 Driscoll-Healy grids: nodes and quadrature weights
 *      1.3 Plans and transforms: S^2 (sht, isht), SO(3) (fft, ifft), rotation of S^2 coefficients
 *      1.4 Molecules: the XYZ reader, per-atom spherical features
 *      1.5 SO(3) network kernels: Gram matrices, diagonals, shape checks; molecules (atomsum)
 *   2. Implementation
 *      2.1 Argument checks and sizes
 *      2.2 Wigner d by the spin-1/2 coupling recursion
 *      2.3 Complex D, real Delta, real spherical harmonics
 *      2.4 Driscoll-Healy nodes and weights
 *      2.5 Plans and the azimuthal DFTs
 *      2.6 S^2 transforms
 *      2.7 SO(3) transforms
 *      2.8 Rotation of S^2 coefficients, the one-call wrappers
 *      2.9 SO(3) networks: the compressed recursion, its Gram-driver domain, molecules
 *      2.10 The XYZ reader; 2.11 the features
 *
 * CONVENTIONS (docs/conventions.md §1.5 states the same)
 *   Rotations. R(alpha, beta, gamma) = R_z(alpha) R_y(beta) R_z(gamma) (ZYZ Euler angles, active,
 *   right-handed: R_z(a) takes the x axis towards y). Haar measure dR = sin(beta) dalpha dbeta dgamma
 *   on [0, 2pi) x [0, pi] x [0, 2pi): total volume 8 pi^2. Sphere points
 *   n(theta, phi) = (sin theta cos phi, sin theta sin phi, cos theta), area element sin theta dtheta dphi.
 *
 *   Wigner d and D. D^l_{mn}(alpha, beta, gamma) = e^{-i m alpha} d^l_{mn}(beta) e^{-i n gamma}, with
 *   d^l_{mn}(beta) = <l m| exp(-i beta J_y) |l n>, the phase convention of Wigner, Edmonds, Sakurai and
 *   Varshalovich (Condon-Shortley phases for the angular-momentum states). In closed form
 *     d^1_{11} = (1 + cos b)/2, d^1_{10} = -sin b / sqrt 2, d^1_{1,-1} = (1 - cos b)/2, d^1_{00} = cos b,
 *   and d^l_{mn}(b) = (-1)^{m-n} d^l_{nm}(b) = d^l_{-n,-m}(b). D is a homomorphism,
 *   D^l(R1 R2) = D^l(R1) D^l(R2), and unitary; complex spherical harmonics (Condon-Shortley) rotate as
 *   Y^m_l(R^-1 y) = sum_{m'} D^l_{m'm}(R) Y^{m'}_l(y).
 *
 *   Real spherical harmonics, orthonormal on S^2 (integral of Y_lm Y_l'm' over the sphere = delta),
 *   WITHOUT the Condon-Shortley phase, with lambda_lm(theta) = sqrt((2l+1)/(4pi) (l-m)!/(l+m)!)
 *   P_l^m(cos theta) and P_l^m(x) = (1 - x^2)^{m/2} d^m/dx^m P_l(x) (no (-1)^m):
 *     Y_l0 = lambda_l0,  Y_lm = sqrt2 lambda_lm cos(m phi),  Y_l,-m = sqrt2 lambda_lm sin(m phi)  (m > 0).
 *   So (Y_1,-1, Y_10, Y_11) = sqrt(3/(4pi)) (y, z, x). Coefficient index l^2 + l + m, L^2 for l < L.
 *
 *   Real Wigner matrices. Delta^l(R) is the real orthogonal (2l+1) x (2l+1) matrix with
 *     Y_lm(R^-1 y) = sum_n Delta^l(R)_{nm} Y_ln(y),
 *   so Delta^l(R1 R2) = Delta^l(R1) Delta^l(R2) and Delta^l(R^-1) = Delta^l(R)^T. For l = 1 it is R
 *   itself with rows and columns in the order (y, z, x). It equals U D^l U^+ conjugated (U the unitary
 *   change to the real basis); this header computes it in real arithmetic as
 *   Delta(R_z(alpha)) Delta(R_y(beta)) Delta(R_z(gamma)), where Delta(R_z(a)) turns each pair (Y_lm,
 *   Y_l,-m) by the angle m a and Delta(R_y(b)) is block diagonal (cos and sin harmonics do not mix,
 *   R_y commutes with y -> -y): for mu, nu > 0
 *     Delta_{mu nu} = (-1)^{mu+nu} d_{mu nu} + (-1)^mu d_{mu,-nu},
 *     Delta_{-mu,-nu} = (-1)^{mu+nu} d_{mu nu} - (-1)^mu d_{mu,-nu},
 *     Delta_{0 nu} = sqrt2 (-1)^nu d_{0 nu},  Delta_{mu 0} = sqrt2 (-1)^mu d_{mu 0},  Delta_00 = d_00.
 *
 *   Packing (d, D, Delta, SO(3) coefficients): all l < L, block l at offset l (4 l^2 - 1)/3, entry
 *   (m, n) of block l at (m + l)(2l + 1) + (n + l) (row m, column n, row-major); L (4 L^2 - 1)/3
 *   doubles in all (entk_so3_packed_len).
 *
 *   Functions on SO(3): f(R) = sum_{l<L} sum_{m,n} c^l_{mn} Delta^l_{mn}(R) with real c (the packing
 *   above). Orthogonality: integral of Delta^l_{mn} Delta^l'_{m'n'} dR = 8 pi^2/(2l+1) delta delta delta,
 *   hence c^l_{mn} = (2l+1)/(8 pi^2) integral of f Delta^l_{mn} dR.
 *
 *   Driscoll-Healy grids. S^2 with band limit L (functions of degree l < L): theta_j = pi (2j+1)/(4L),
 *   j < 2L, phi_k = 2 pi k/(2L-1), k < 2L-1; samples row-major f[j][k], 2L x (2L-1). SO(3) with band
 *   limit B: beta_j as theta_j with L = B (2B nodes), alpha_k and gamma_l = 2 pi k/(2B-1) (2B-1 each);
 *   samples row-major f[j][k][l] = f(alpha_k, beta_j, gamma_l), 2B x (2B-1) x (2B-1). The quadrature
 *   sum_j W_j sum_k (sum_l) g(nodes) equals the integral for every g whose Fourier modes in the azimuthal
 *   angles have |k| < 2L - 1 and whose azimuthal mean is a polynomial of degree < 2L in cos theta: in
 *   particular for every product of two functions of band limit L, so the transforms below are exact.
 *   The weights W_j depend on j only: W_j = (2 pi/(2L-1)) w_j on S^2, (2 pi/(2B-1))^2 w_j on SO(3),
 *   with the Driscoll-Healy weights (Driscoll and Healy, Adv. Appl. Math. 15 (1994) 202) in the form
 *   of Kostelec and Rockmore ("FFTs on the rotation group", J. Fourier Anal. Appl. 14 (2008) 145)
 *     w_j = (2/L) sin(theta_j) sum_{k<L} sin((2k+1) theta_j)/(2k+1),   sum_j w_j = 2.
 *   Derivation: the nodes are the midpoints of 2L equal cells of [0, pi], so cos(k theta), k < 2L, are
 *   orthogonal under the node sum (the DCT-II); the unique rule exact on them is
 *   w_j = (1/L) sum_{k<2L} e_k I_k cos(k theta_j) with I_k = integral_0^pi cos(k t) sin t dt
 *   (2/(1 - k^2) for even k, 0 for odd) and e_0 = 1/2, e_k = 1; summing that series in closed form
 *   gives the formula above. The full-grid sums of W are 4 pi (S^2) and 8 pi^2 (SO(3)).
 *
 * ARCHITECTURES (entk_arch, parsed by entk_arch_parse; the rules are entk.h's entk_arch_check)
 *   SO(3) networks on spherical signals N x C x 2L x (2L - 1) (samples on the S^2 grid of band limit L):
 *     s2lift(L=, Lout=, B=, sw=, sb=)  first, and only first. L: the inputs' band limit (default: from
 *                    the input shape; if given it must match); Lout <= L: the band limit of the lifted
 *                    kernel, i.e. of the band-limited white-noise filters (default L); B >= Lout: the
 *                    band limit of the SO(3) grid the next nonlinearity is evaluated on (default
 *                    entk_so3_default_band(Lout)).
 *     nonlinearities, evaluated pointwise on the current grid (entk.h's maps, any of them);
 *     so3conv(L=, B=, sw=, sb=)        full-support band-limited filters on SO(3): L <= the B of the
 *                    grid it reads (default: the band limit of the layer before), B >= L (default
 *                    entk_so3_default_band(L));
 *     so3pool                         the mean over SO(3): the reduction to scalars;
 *     then dense layers and nonlinearities (entk.h's scalar chain).
 *   Molecules N x A x (atom input): an atom network (an SO(3) network as above on atom signals
 *   C x 2L x (2L - 1), or an MLP on the atom's doubles flattened) followed by atomsum, last.
 *
 * THE COMPRESSED RECURSION (2.9; docs/conventions.md §1.5)
 *   With full-support band-limited white-noise filters every kernel after s2lift satisfies
 *   K(R Q, R' Q) = K(R, R'), so it is a function kappa(S) of S = R R'^-1 alone, one function on SO(3)
 *   per input pair instead of one on SO(3) x SO(3). Per pair, with a_c the inputs' real S^2
 *   coefficients (computed once per input: its record):
 *     s2lift   kappa_1 = sw^2 sum_{l<Lout} sum_{m,n} c^l_{mn} Delta^l_{mn}(S) + sb^2,
 *              c^l_{mn} = (1/(4 pi C)) sum_c a_c,lm a'_c,ln,   theta_1 = kappa_1;
 *     phi      tau(S) = T(kappa_xx(I), kappa_x'x'(I), kappa(S)), tau-dot likewise, at every grid point
 *              (the diagonals K_xx(R, R) = kappa_xx(I) = sum_l tr c^l are constants: one per input and
 *              nonlinearity, kept in its record);
 *     so3conv  kappa' = sw^2 P_L tau + sb^2, theta' = kappa' + sw^2 P_L[tau-dot theta], P_L the
 *              projection on degrees l < L: analysis on the grid before, synthesis on the new grid;
 *     so3pool  K = (1/(8 pi^2)) integral kappa(S) dS, the Driscoll-Healy mean over the grid.
 *   The affine step, Theta_1 = K_1 and the nonlinearity fused into it are entk.h's layer step
 *   (entk__layer_out); the Gram matrix, threads, records, progress and errors are entk.h's generic
 *   driver (entk__gram). Cost per pair: one synthesis for s2lift, two analyses and two syntheses per
 *   so3conv (K and Theta), O(B^2 L (B + L)) each (1.3), and the maps on 2B (2B - 1)^2 points; the
 *   uncompressed recursion costs O(B^6) per layer on the SO(3) x SO(3) grid. Inside the recursion K
 *   and Theta go through each transform together (two right-hand sides: one DFT pass over both), and
 *   the transforms skip the public functions' scan of their input, which the recursion guarantees
 *   finite (2.7: their outputs are still checked, so an overflow is ENTK_ERR_RANGE as before).
 *   Aliasing: tau is not band-limited, so its analysis on a grid of band limit B aliases; the error
 *   falls with B (see the table in README.md): smooth maps (erf, gelu) converge fast, relu slowly.
 *
 * THE RECURSION FOR d (2.2)
 *   d^l is built from d^{l-1/2} and d^{1/2} = [[c, -s], [s, c]] (c = cos(b/2), s = sin(b/2)) by coupling
 *   spin l - 1/2 with spin 1/2 to the top spin l, one half-integer step at a time (the recursion of
 *   Risbo, J. Geodesy 70 (1996) 383). With M = 2j and indices P = m + j, Q = n + j in [0, M]:
 *     d^j[P][Q] = ( sqrt(P Q) c d^{j-1/2}[P-1][Q-1] - sqrt(P (M-Q)) s d^{j-1/2}[P-1][Q]
 *                 + sqrt((M-P) Q) s d^{j-1/2}[P][Q-1] + sqrt((M-P)(M-Q)) c d^{j-1/2}[P][Q] ) / M,
 *   the Clebsch-Gordan coefficients of the stretched coupling being sqrt((j +- m)/(2j)). Why this one:
 *   each step is a contraction of two unitary representations with a unit-norm Clebsch-Gordan vector,
 *   so rounding errors are not amplified (no division by small quantities, no seeds like
 *   sin^{2l}(b/2) that underflow, no dependence on the three-term recurrence's direction); it gives
 *   all (m, n) of all l at once at O(l^2) per step, O(L^3) in all, and runs in place in the output
 *   (each block is seeded with a copy of the previous one). Measured accuracy: see the test
 *   tests/test_so3_harm.c (unitarity within 1e-13 for l <= 128).
 *
 * COST (per call, with a plan; n = 2B - 1, f = 2L - 1, P = L(4L^2 - 1)/3; counts are multiply-adds)
 *   sht / isht: 2B (B-1) f for the phi DFTs + 2B L^2 for the theta sums.
 *   fft / ifft: 2B (B-1) f (n + f) for the gamma and alpha DFTs + 2 (2B) P for the beta sums (at most two
 *   (s, t) frequency pairs per coefficient, 2.7): about 20 000 at (L, B) = (4, 8), 112 000 at (6, 12).
 *   The DFTs are plain O(n f) sums per line, not FFTs: n is odd and small and only f of its n
 *   frequencies are kept; the samples are folded (x_k +- x_{n-k}) to halve the work, and each DFT is one
 *   pass over all the lines of a transform: entk.h's lincomb forms the kept frequencies as linear
 *   combinations of the folded rows (long rows, 4-row register blocks; AVX2 or NEON where available).
 *   The beta sums go by quadruples (+-m, +-n) through entk.h's dots (analysis) and lincomb (synthesis).
 *   The plan holds the twiddles cos/sin(2 pi k s/n) and the tables lambda_lm(theta_j) (S^2) and
 *   Delta^l(R_y(beta_j)) (SO(3)): a call computes no trigonometric function and no d table. Measured
 *   with bench/bench_so3.c (AVX2 path, -O3, CPU time, best of repeated calls, shared 2-core machine):
 *   fft / ifft 2.2 / 2.3 us at (L, B) = (4, 6), 6.7 / 7.0 us at (6, 8), 17 / 17 us at (6, 12), 43 / 45 us
 *   at (8, 16) (14-31 % of one core's measured FMA peak; before the slab DFTs 5.2 / 6.0, 16 / 17, 34 / 39
 *   and 91 / 106 us); the scalar path is 1.6-2.4 times slower. In the kernels K and Theta share each
 *   transform (the compressed kernel of the demo architecture, L = 4, B = 6: 24 us per atom pair, was
 *   43; the two erf maps now take about half of it).
 *   entk_so3_wigner_d: 1.6 ms for l <= 64, 13 ms for l <= 128.
 *
 * EXAMPLE (two molecules, their per-atom signals at L = 3, the SO(3) and the MLP atom-sum NTK)
 *   #define ENTK_IMPLEMENTATION
 *   #include "entk_so3.h"
 *   #include <stdio.h>
 *   #include <stdlib.h>
 *   int main(void) {
 *       static const char xyz[] = "3\nenergy=-76.0\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n"
 *                                 "2\nenergy=-100.0\nH 0 0 0\nF 0 0 0.92\n";
 *       entk_so3_molecules m; entk_arch so3, mlp; size_t C, len;
 *       double *x, K[4], T[4], Tm[4];
 *       if (entk_so3_xyz_parse(xyz, sizeof xyz - 1, &m, NULL, 0)) return 1;
 *       if (entk_so3_featurize_size(&m, 3, 0, &C, &len) || !(x = malloc(len * sizeof *x))) return 1;
 *       if (entk_so3_featurize(&m, 3, NULL, 0, x, len)) return 1; // 2 x 3 atoms x C x 6 x 5
 *       if (entk_arch_parse("s2lift(sw=0.1) erf so3conv erf so3pool dense atomsum", &so3, NULL, 0) ||
 *           entk_arch_parse("dense(sw=0.1) erf dense atomsum", &mlp, NULL, 0)) return 1;
 *       if (entk_so3_molecule_kernel(&so3, x, 2, m.max_atoms, NULL, 0, 0, C, 6, 5, K, 2, T, 2, 1) ||
 *           entk_so3_molecule_kernel(&mlp, x, 2, m.max_atoms, NULL, 0, 0, C, 6, 5, NULL, 0, Tm, 2, 1)) return 1;
 *       printf("SO(3) NTK %.6f %.6f %.6f, MLP-atom NTK %.6f\n", T[0], T[1], T[3], Tm[1]);
 *       free(x);
 *       entk_so3_molecules_free(&m);
 *       return 0;
 *   }
 */
#include "entk.h"

#ifndef ENTK_SO3_H
#define ENTK_SO3_H

#ifdef __cplusplus
extern "C" {
#endif

/* The largest band limit (L or B) any function here accepts; larger is ENTK_ERR_INVALID_ARG. */
#define ENTK_SO3_MAX_L 512

/* ============================================================================================== */
/* 1.1 Wigner matrices and real spherical harmonics                                               */
/* ============================================================================================== */

/* Doubles of a packed set of matrices for l < L: L (4 L^2 - 1)/3 (0 for L outside [1, ENTK_SO3_MAX_L]). */
ENTKDEF size_t entk_so3_packed_len(int L);

/* All Wigner d^l_{mn}(beta), l < L, packed (CONVENTIONS). d has entk_so3_packed_len(L) doubles. Any
 * finite beta (d is 2 pi periodic; beta outside [0, pi] gives d(beta) as the formula). Accuracy:
 * rows orthonormal to ~1e-13 at l <= 128, entries within ~1e-15 absolute of the exact values at
 * l <= 10 (tests/test_so3_harm.c). Statuses: ENTK_ERR_INVALID_ARG (L outside [1, ENTK_SO3_MAX_L], d
 * NULL), ENTK_ERR_NONFINITE (beta NaN or Inf; d untouched). */
ENTKDEF entk_status entk_so3_wigner_d(int L, double beta, double *d);

/* Complex Wigner D^l_{mn}(alpha, beta, gamma) = e^{-i m alpha} d^l_{mn}(beta) e^{-i n gamma}, l < L:
 * real parts in re, imaginary parts in im (each entk_so3_packed_len(L) doubles, packed, distinct).
 * Statuses as entk_so3_wigner_d (any angle NaN or Inf: ENTK_ERR_NONFINITE). */
ENTKDEF entk_status entk_so3_wigner_D(int L, double alpha, double beta, double gamma, double *re,
                                      double *im);

/* Real Wigner matrices Delta^l(R(alpha, beta, gamma)), l < L, packed: delta[off(l) + (m+l)(2l+1) +
 * (n+l)] = Delta^l_{mn} with Y_lm(R^-1 y) = sum_n Delta^l_{nm} Y_ln(y) (CONVENTIONS). Statuses as
 * entk_so3_wigner_D. */
ENTKDEF entk_status entk_so3_real_wigner(int L, double alpha, double beta, double gamma, double *delta);

/* All real spherical harmonics Y_lm(theta, phi), l < L: y[l^2 + l + m], L^2 doubles, by the standard
 * three-term recurrence in l of the normalised associated Legendre functions. Accuracy, relative to
 * the scale sqrt((2l+1)/(4 pi)) of degree l: ~l eps away from the poles, up to ~l^2 eps/2 next to them
 * (1e-11 at l = 511; tests/test_so3_harm.c). Statuses as entk_so3_wigner_d (theta or phi NaN or Inf:
 * ENTK_ERR_NONFINITE). */
ENTKDEF entk_status entk_so3_real_sh(int L, double theta, double phi, double *y);

/* ============================================================================================== */
/* 1.2 Driscoll-Healy grids                                                                       */
/* ============================================================================================== */

/* Node angles of the S^2 grid of band limit L: theta (2L doubles) and phi (2L - 1); either may be
 * NULL. ENTK_ERR_INVALID_ARG for L outside [1, ENTK_SO3_MAX_L]. */
ENTKDEF entk_status entk_so3_s2_nodes(int L, double *theta, double *phi);

/* Node angles of the SO(3) grid of band limit B: beta (2B doubles) and alpha (2B - 1; gamma takes the
 * same values); either may be NULL. Statuses as entk_so3_s2_nodes. */
ENTKDEF entk_status entk_so3_so3_nodes(int B, double *beta, double *alpha);

/* Quadrature weights per grid point, by theta (beta) row: w[j], j < 2L (2B), so that the integral over
 * S^2 (over SO(3) with dR) of a band-limited g is sum_j w[j] sum_k g(theta_j, phi_k) (sum_{k,l}
 * g(alpha_k, beta_j, gamma_l)); the full-grid sums are 4 pi and 8 pi^2 (CONVENTIONS). */
ENTKDEF entk_status entk_so3_s2_weights(int L, double *w);
ENTKDEF entk_status entk_so3_so3_weights(int B, double *w);

/* ============================================================================================== */
/* 1.3 Plans and transforms                                                                       */
/* ============================================================================================== */

/* Which transforms a plan serves (a bit set: both may be planned at once). */
#define ENTK_SO3_PLAN_S2 1  /* entk_so3_plan_sht, entk_so3_plan_isht */
#define ENTK_SO3_PLAN_SO3 2 /* entk_so3_plan_fft, entk_so3_plan_ifft */

/* The tables of the transforms between coefficients of band limit L and grids of band limit B >= L.
 * The struct points into the caller's memory given to entk_so3_plan_init, which must outlive it; it
 * is read-only afterwards, so one plan serves any number of threads (each with its own workspace).
 * The transforms run on entk.h's dispatched row kernels (lincomb for the azimuthal DFTs, which gives
 * the same bits on every path; dots and axpy, fused on AVX2, for the beta sums): results are the same
 * bits for the same path, and agree across paths (scalar, AVX2+FMA, NEON) to rounding. Round trips (synthesis then
 * analysis) return random coefficients to ~1e-15 at L <= 16. */
typedef struct entk_so3_plan {
    int kinds;          /* ENTK_SO3_PLAN_S2 | ENTK_SO3_PLAN_SO3 */
    int L, B;           /* coefficient and grid band limits */
    size_t work_len;    /* doubles of workspace each transform call needs */
    const double *w;    /* 2B: Driscoll-Healy weights w_j (sum 2) */
    const double *ta;   /* (B-1) x (2L-1): [k-1][s+L-1] = cos(s x_k) (s >= 0) or sin(|s| x_k),
                           x_k = 2 pi k/(2B-1) */
    const double *leg;  /* S2 (else NULL): (L(L+1)/2) x 2B: row l(l+1)/2 + m (m >= 0) is
                           lambda_lm(theta_j), times sqrt2 for m > 0 */
    const double *dy;   /* SO3 (else NULL): packed_len(L) x 2B: row (l, p, q) is Delta^l_{pq}(R_y(beta_j)) */
} entk_so3_plan;

/* Sizes in doubles of the plan memory (*plan_len) and of the per-call workspace (*work_len) for
 * kinds (a nonzero subset of ENTK_SO3_PLAN_S2 | ENTK_SO3_PLAN_SO3), coefficient band limit L and grid
 * band limit B. Either pointer may be NULL. With n = 2B - 1, P = L(4L^2 - 1)/3:
 *   plan_len = 2B + (B-1)(2L-1)  [+ 2B L(L+1)/2 for S2]  [+ 2B P + P for SO3],
 *   work_len = 2B (2L-1 + n) for S2 alone, else 2B ((2L-1)(2L-1 + n) + n^2).
 * Statuses: ENTK_ERR_INVALID_ARG (kinds not a nonzero subset, L or B outside [1, ENTK_SO3_MAX_L],
 * B < L), ENTK_ERR_OVERFLOW (a size does not fit size_t). */
ENTKDEF entk_status entk_so3_plan_size(int kinds, int L, int B, size_t *plan_len, size_t *work_len);

/* Fill mem (plan_len doubles from entk_so3_plan_size) with the tables and *plan with pointers into it.
 * Cost O(B L^3) for SO3 (one d recursion per beta node), O(B L^2) for S2. Statuses as
 * entk_so3_plan_size, ENTK_ERR_INVALID_ARG for NULL pointers. */
ENTKDEF entk_status entk_so3_plan_init(entk_so3_plan *plan, int kinds, int L, int B, double *mem);

/* S^2 analysis: a[l^2 + l + m] = quadrature of integral f Y_lm over the grid of band limit B, l < L
 * (exact for f of band limit B). f is 2B x (2B-1) row-major; a has L^2 doubles; work has
 * plan->work_len doubles. Statuses: ENTK_ERR_INVALID_ARG (NULL pointers, a plan without S2),
 * ENTK_ERR_NONFINITE (NaN or Inf in f; a untouched), ENTK_ERR_RANGE (an overflow to Inf in a). */
ENTKDEF entk_status entk_so3_plan_sht(const entk_so3_plan *plan, const double *f, double *a, double *work);

/* S^2 synthesis: f(theta_j, phi_k) = sum_{l<L} sum_m a[l^2 + l + m] Y_lm(theta_j, phi_k) on the grid of
 * band limit B. Statuses as entk_so3_plan_sht (NaN or Inf in a: ENTK_ERR_NONFINITE, f untouched). */
ENTKDEF entk_status entk_so3_plan_isht(const entk_so3_plan *plan, const double *a, double *f, double *work);

/* SO(3) analysis: c^l_{mn} = (2l+1)/(8 pi^2) times the quadrature of integral f Delta^l_{mn} dR over
 * the grid of band limit B, l < L, packed (exact for f of band limit B). f is 2B x (2B-1) x (2B-1)
 * row-major [beta][alpha][gamma]; c has entk_so3_packed_len(L) doubles. Statuses as entk_so3_plan_sht
 * (a plan without SO3: ENTK_ERR_INVALID_ARG). */
ENTKDEF entk_status entk_so3_plan_fft(const entk_so3_plan *plan, const double *f, double *c, double *work);

/* SO(3) synthesis: f(alpha_k, beta_j, gamma_l) = sum_{l<L} sum_{m,n} c^l_{mn} Delta^l_{mn} on the grid
 * of band limit B. Statuses as entk_so3_plan_fft. */
ENTKDEF entk_status entk_so3_plan_ifft(const entk_so3_plan *plan, const double *c, double *f, double *work);

/* One-call forms of the four transforms, the input's band limit first (the grid's for analysis, the
 * coefficients' for synthesis): they build the plan in work each call
 * (trigonometric and d tables: use a plan for repeated transforms). work has the doubles returned by
 * the matching _work_size (plan_len + work_len of entk_so3_plan_size). Statuses as the plan forms and
 * entk_so3_plan_size. */
ENTKDEF entk_status entk_so3_sht_work_size(int B, int L, size_t *len);
ENTKDEF entk_status entk_so3_sht(int B, int L, const double *f, double *a, double *work);
ENTKDEF entk_status entk_so3_isht(int L, int B, const double *a, double *f, double *work);
ENTKDEF entk_status entk_so3_fft_work_size(int B, int L, size_t *len);
ENTKDEF entk_status entk_so3_fft(int B, int L, const double *f, double *c, double *work);
ENTKDEF entk_status entk_so3_ifft(int L, int B, const double *c, double *f, double *work);

/* Rotation of an S^2 signal: a_rot = Delta^l a per degree l < L (a, a_rot: L^2 doubles; delta packed
 * from entk_so3_real_wigner(L, R)), so that synthesising a_rot gives f(R^-1 y) where a gives f(y).
 * a_rot == a is allowed. Statuses: ENTK_ERR_INVALID_ARG (L outside [1, ENTK_SO3_MAX_L], NULL). */
ENTKDEF entk_status entk_so3_rotate_sh(int L, const double *delta, const double *a, double *a_rot);

/* ============================================================================================== */
/* 1.5 SO(3) network kernels (docs/conventions.md §1.5)                                           */
/* ============================================================================================== */

/* NNGP and NTK Gram matrices of an SO(3) network (ARCHITECTURES above) on spherical signals: x1 is
 * n1 x C x 2L x (2L - 1) samples on the Driscoll-Healy grid of band limit L, x2 n2 of the same shape
 * (row-major, contiguous, finite); x2 == NULL means x2 = x1 (the upper triangle is computed and
 * mirrored). nngp (n1 x n2, leading dimension ldk >= n2) and ntk (ldt) may each be NULL (not both).
 * threads > 1 computes pairs in parallel with OpenMP when compiled with it; the results are
 * bit-identical to threads = 1. Progress through entk_set_progress (finished rows of n1). Statuses:
 * those of entk_so3_check_shape; ENTK_ERR_NONFINITE for a NaN or Inf input; ENTK_ERR_RANGE when a
 * kernel value leaves the double range; ENTK_ERR_NOMEM; ENTK_ERR_INVALID_ARG for NULL inputs or
 * outputs or ld < n2. */
ENTKDEF entk_status entk_so3_kernel(const entk_arch *arch, const double *x1, size_t n1, const double *x2, size_t n2,
                                    size_t C, int L, double *nngp, size_t ldk, double *ntk, size_t ldt, int threads);

/* Each input's own kernel values, nngp_diag[i] = K(x_i, x_i), ntk_diag[i] = Theta(x_i, x_i), equal bit
 * for bit to the diagonal of entk_so3_kernel(arch, x, n, NULL, ...); either output may be NULL.
 * Arguments and statuses as entk_so3_kernel. */
ENTKDEF entk_status entk_so3_diag(const entk_arch *arch, const double *x, size_t n, size_t C, int L,
                                  double *nngp_diag, double *ntk_diag, int threads);

/* Whether entk_so3_kernel accepts arch for C x 2L x (2L - 1) inputs: the status it returns before
 * looking at the data, with one line in err (errlen bytes, may be 0; "" on success) naming the layer
 * and the reason (entk_arch_check's rules of an SO(3) architecture and those that need L: "layer 1
 * 's2lift': L=4, but the inputs are sampled on the grid of band limit 3 (6 x 5)"). ENTK_ERR_ARCH,
 * ENTK_ERR_SHAPE (C = 0, L outside 1..ENTK_SO3_MAX_BAND, a band limit above the grid it reads),
 * ENTK_ERR_OVERFLOW (sizes beyond size_t). */
ENTKDEF entk_status entk_so3_check_shape(const entk_arch *arch, size_t C, int L, char *err, size_t errlen);

/* Molecular kernels (conventions §1.5): arch is an atom network followed by atomsum, and
 *   K(M, M') = sum_{a in M} sum_{b in M'} K_atom(x_a, x'_b),  Theta likewise,
 * over the atoms that are not all zero (absent atoms: molecules smaller than A). x1 is n1 x A x C x H
 * x W: per molecule A atoms of C x H x W doubles each; x2 n2 x A2 of the same atom shape (A2 may
 * differ from A; x2 == NULL: x2 = x1). The atom network is an SO(3) network (H = 2L, W = 2L - 1: the
 * per-atom signals of entk_so3_featurize) or an MLP on the atom's C H W doubles flattened. Outputs,
 * threads and statuses as entk_so3_kernel (and entk_mlp_kernel for MLP atoms); the kernels are
 * exactly invariant under permuting atoms and under adding all-zero atoms. */
ENTKDEF entk_status entk_so3_molecule_kernel(const entk_arch *arch, const double *x1, size_t n1, size_t A,
                                             const double *x2, size_t n2, size_t A2, size_t C, size_t H, size_t W,
                                             double *nngp, size_t ldk, double *ntk, size_t ldt, int threads);

/* The molecules' own kernels, equal bit for bit to the diagonal of entk_so3_molecule_kernel(arch, x, n,
 * A, NULL, ...); either output may be NULL. */
ENTKDEF entk_status entk_so3_molecule_diag(const entk_arch *arch, const double *x, size_t n, size_t A, size_t C,
                                           size_t H, size_t W, double *nngp_diag, double *ntk_diag, int threads);

/* entk_so3_check_shape for molecules: the atom network's rules with C x H x W atoms (H = 2L, W =
 * 2L - 1 for an SO(3) atom network; any sizes for an MLP one), A >= 1 atoms. */
ENTKDEF entk_status entk_so3_molecule_check_shape(const entk_arch *arch, size_t A, size_t C, size_t H, size_t W,
                                                  char *err, size_t errlen);

/* ============================================================================================== */
/* 1.4 Molecules and their spherical features (docs/conventions.md §1.5, §5.5, §6)               */
/* ============================================================================================== */
/*
 * THE XYZ FILES (entk_so3_xyz_parse, entk_so3_xyz_read_file)
 *   One or more blocks, one per molecule, of
 *       line 1        the atom count: a decimal integer from 1 to ENTK_SO3_XYZ_MAX_ATOMS, alone on its
 *                     line (spaces and tabs around it are allowed);
 *       line 2        the comment line: whitespace-separated tokens; tokens key=value (no spaces around
 *                     '=') are pairs, all other tokens are ignored. energy=<Hartree> is required
 *                     (exactly the lowercase key `energy`, once); every other key is ignored. A value is
 *                     an unquoted token or a double-quoted string without escapes ("-76.4" and
 *                     Lattice="1 0 0 0 1 0 0 0 1" both work);
 *       atom lines    one per atom: `El x y z` with El one of H, C, N, O, F (case-sensitive symbols;
 *                     no atomic numbers) and x, y, z in Angstrom; further columns (extended XYZ forces,
 *                     charges) are ignored.
 *   Molecules of different sizes may follow each other. Numbers are read by strtod (decimal,
 *   exponent, hexadecimal; the C locale's '.'); NaN and Inf (also 1e999, which overflows) are
 *   ENTK_ERR_NONFINITE, coordinates beyond +-1e6 Angstrom are refused. Two atoms of one molecule closer
 *   than 0.1 Angstrom are coincident, an error (the features divide by the distance). Lines end in
 *   LF or CRLF (one CR before the LF is dropped); the last line need not end in a newline. Blank lines
 *   (spaces and tabs only) are allowed only at the end of the file, not between or before molecules.
 *   A NUL byte anywhere is an error (not a text file).
 *   Every failure is ENTK_ERR_INVALID_ARG (ENTK_ERR_NONFINITE for a non-finite number) with a one-line
 *   message naming the 1-based line, e.g. "line 7: unknown element 'Cl' (H, C, N, O, F)",
 *   "line 2: no energy= on the comment line", "line 5: expected 3 coordinates after 'H', got 2",
 *   "line 12: the file ends after 1 of the 3 atoms of the molecule at line 9". Echoed text is cut at
 *   32 bytes ("...") and shows bytes outside printable ASCII as '?'.
 *
 * THE FEATURES (entk_so3_featurize)
 *   Grid for band limit L (Driscoll-Healy): theta_j = pi (2j + 1) / (4L), j < 2L; phi_k = 2 pi k / (2L - 1),
 *   k < 2L - 1; direction n(theta, phi) = (sin theta cos phi, sin theta sin phi, cos theta). A signal is
 *   2L x (2L - 1) samples, row-major [j][k].
 *   Elements e in the order H, C, N, O, F (indices 0..4); powers p_0 .. p_{P-1} (default {1, 2}).
 *   Channels of atom a, C = 5 + 5 P of them:
 *       c = e              (0 <= e < 5)  one-hot: 1 everywhere if atom a is element e, else 0
 *       c = 5 + e P + i    (i < P)       sum over the other atoms b of element e of
 *                                          Z_a Z_b |r_ab|^(-p_i) w(n . r_ab / |r_ab|)
 *   (the power index i runs fastest), with r_ab = r_b - r_a in Angstrom (the direction from a to its
 *   neighbour b), Z the atomic numbers, and the angular bump w(c) = ((1 + c) / 2)^(L - 1): a
 *   polynomial of degree L - 1 in n, so every signal is band-limited to degrees l < L exactly, and the
 *   features of a rotated molecule R r are exactly the rotated signals, f_R(n) = f(R^-1 n) (to rounding).
 *   Translations change nothing; permuting the atoms permutes the atom axis. The output is
 *   N x A_max x C x 2L x (2L - 1) doubles, A_max = m->max_atoms; molecule i's atoms come first in file
 *   order, its atoms count[i] .. A_max - 1 are all zero (the atom kernels ignore all-zero atoms). A
 *   real atom is never all zero: its one-hot channel is 1 (also without neighbours).
 */

#ifndef ENTK_SO3_XYZ_MAX_ATOMS
#define ENTK_SO3_XYZ_MAX_ATOMS 4096 /* define identically before every include */
#endif
#define ENTK_SO3_N_ELEMENTS 5      /* H, C, N, O, F */
#define ENTK_SO3_FEAT_MAX_L 1024   /* band limits 1 .. 1024, as the grammar's L */
#define ENTK_SO3_FEAT_MAX_POWER 12 /* powers 1 .. 12 */
#define ENTK_SO3_FEAT_MAX_POWERS 8 /* at most 8 distinct powers */

/* Molecules, as the reader returns them (all arrays from ENTK_MALLOC; entk_so3_molecules_free). Atom
 * j of molecule i is atom first[i] + j of z and xyz. A hand-made set must follow the reader's rules
 * (counts 1 .. max_atoms, elements H C N O F, finite coordinates within +-1e6, no two atoms of a
 * molecule within 0.1 Angstrom); the feature functions check them. */
typedef struct entk_so3_molecules {
    size_t n;         /* molecules */
    size_t atoms;     /* atoms of all molecules together */
    size_t max_atoms; /* A_max, the largest count */
    size_t *count;    /* [n] atoms per molecule */
    size_t *first;    /* [n] index of each molecule's first atom */
    size_t *line;     /* [n] 1-based line of each molecule's atom count in the file (0: not from one) */
    int *z;           /* [atoms] atomic numbers: 1 H, 6 C, 7 N, 8 O, 9 F */
    double *xyz;      /* [atoms x 3] coordinates in Angstrom, row-major */
    double *energy;   /* [n] energies in Hartree */
} entk_so3_molecules;

/* Read the XYZ text text[0..len) (not NUL-terminated; NULL only with len 0) into *out (see THE XYZ
 * FILES). On failure *out is all zero (nothing to free) and err (errlen bytes, may be NULL/0) holds a
 * one-line message naming the line. Statuses: ENTK_ERR_INVALID_ARG (malformed text, or out NULL),
 * ENTK_ERR_NONFINITE, ENTK_ERR_NOMEM. Never reads beyond len. */
ENTKDEF entk_status entk_so3_xyz_parse(const char *text, size_t len, entk_so3_molecules *out, char *err,
                                       size_t errlen);

/* entk_so3_xyz_parse on the file at path (any stream). A file beyond ENTK_SO3_XYZ_MAX_BYTES, or with a
 * NUL byte, is refused while it is read (so /dev/zero stops at its first block). Adds ENTK_ERR_IO
 * ("cannot open 'x.xyz': No such file or directory"). */
ENTKDEF entk_status entk_so3_xyz_read_file(const char *path, entk_so3_molecules *out, char *err, size_t errlen);

/* Free the arrays of *m and zero it. m may be NULL; freeing twice is harmless. */
ENTKDEF void entk_so3_molecules_free(entk_so3_molecules *m);

/* The channel count C = 5 + 5 P and the length N x A_max x C x 2L x (2L - 1) of the output of
 * entk_so3_featurize for m, band limit L (1 .. ENTK_SO3_FEAT_MAX_L) and P = npowers powers (0: the
 * default {1, 2}, P = 2; at most ENTK_SO3_FEAT_MAX_POWERS). Either output may be NULL.
 * ENTK_ERR_INVALID_ARG (m NULL, L or npowers out of range), ENTK_ERR_OVERFLOW (the length, or its
 * bytes, beyond size_t). */
ENTKDEF entk_status entk_so3_featurize_size(const entk_so3_molecules *m, int L, int npowers, size_t *channels,
                                            size_t *len);

/* The features of every atom of every molecule of m on the grid of band limit L (see THE FEATURES),
 * into out[0..len) with len from entk_so3_featurize_size (out_len >= len, else ENTK_ERR_SHAPE; only
 * out[0..len) is written). powers: npowers distinct integers from 1 to ENTK_SO3_FEAT_MAX_POWER, or
 * NULL with npowers 0 for {1, 2}. Everything is checked before out is written: ENTK_ERR_INVALID_ARG
 * (NULL pointers, L, powers, a molecule set that breaks the reader's rules), ENTK_ERR_NONFINITE (a
 * non-finite coordinate), ENTK_ERR_OVERFLOW, ENTK_ERR_NOMEM (a few small scratch arrays),
 * ENTK_ERR_RANGE (never OK with a non-finite value). out may be NULL when len is 0. */
ENTKDEF entk_status entk_so3_featurize(const entk_so3_molecules *m, int L, const int *powers, int npowers,
                                       double *out, size_t out_len);

/* The C channels (entk_so3_featurize_size) of atom `atom` (0 .. max_atoms - 1; an index at or beyond
 * the molecule's count is a padding atom: all zero) of molecule `mol` at the direction dir (finite,
 * not zero; it is normalised), by the same code as entk_so3_featurize: at a grid direction computed
 * as the grid's, the same values. Arguments and statuses otherwise as entk_so3_featurize. */
ENTKDEF entk_status entk_so3_featurize_atom(const entk_so3_molecules *m, size_t mol, size_t atom, int L,
                                            const int *powers, int npowers, const double dir[3], double *out);

#ifdef __cplusplus
}
#endif
#endif /* ENTK_SO3_H */

/* ============================================================================================== */
/* --- implementation ---                                                                         */
/* ============================================================================================== */
#if defined(ENTK_IMPLEMENTATION) && !defined(ENTK_SO3_IMPLEMENTATION_DONE)
#define ENTK_SO3_IMPLEMENTATION_DONE
ENTK__FP_BEGIN /* contraction off, as in entk.h (see there) */

/* ============================================================================================== */
/* 2.1 Argument checks and sizes                                                                  */
/* ============================================================================================== */

#define ENTK__SO3_SQRT2 1.41421356237309504880

static int entk__so3_band_ok(int L) { return L >= 1 && L <= ENTK_SO3_MAX_L; }
static int entk__so3_angle_ok(double x) { return x - x == 0.0; } /* finite */

/* offset of block l in the packed layout */
static size_t entk__so3_off(int l) { return (size_t)l * (size_t)(4 * l * l - 1) / 3; }

ENTKDEF size_t entk_so3_packed_len(int L) { return entk__so3_band_ok(L) ? entk__so3_off(L) : 0; }

/* ============================================================================================== */
/* 2.2 Wigner d by the spin-1/2 coupling recursion                                                */
/* ============================================================================================== */

/* One half-integer step in place: x holds d^{j-1/2} as M x M (M = 2j) on entry and d^j as
 * (M+1) x (M+1) on exit (the buffer has (M+1)^2 doubles). Output entries are written in decreasing
 * linear order; entry (P, Q) at P (M+1) + Q reads inputs at positions <= P M + Q, none of which a
 * later (smaller) output position has overwritten. sq[k] = sqrt(k), k <= M. */
static void entk__so3_risbo_step(double *x, int M, double c, double s, const double *sq) {
    const double inv = 1.0 / (double)M;
    int P, Q;
    for (P = M; P >= 0; --P) {
        const double *up = x + (size_t)(P > 0 ? P - 1 : 0) * (size_t)M; /* row P-1 of the input (read for P > 0) */
        const double *dn = x + (size_t)P * (size_t)M;       /* row P of the input (P < M) */
        double *out = x + (size_t)P * (size_t)(M + 1);
        const double sp = sq[P] * inv, sm = sq[M - P] * inv;
        for (Q = M; Q >= 0; --Q) {
            double acc = 0.0;
            if (P > 0) {
                const double a = Q > 0 ? up[Q - 1] : 0.0, b = Q < M ? up[Q] : 0.0;
                acc += sp * (sq[Q] * c * a - sq[M - Q] * s * b);
            }
            if (P < M) {
                const double a = Q > 0 ? dn[Q - 1] : 0.0, b = Q < M ? dn[Q] : 0.0;
                acc += sm * (sq[Q] * s * a + sq[M - Q] * c * b);
            }
            out[Q] = acc;
        }
    }
}

static void entk__so3_wigner_d(int L, double beta, double *d) {
    double sq[2 * ENTK_SO3_MAX_L + 1];
    const double c = cos(0.5 * beta), s = sin(0.5 * beta);
    int l, k;
    for (k = 0; k <= 2 * L; ++k) sq[k] = sqrt((double)k);
    d[0] = 1.0;
    for (l = 0; l + 1 < L; ++l) {
        double *next = d + entk__so3_off(l + 1);
        const size_t n = (size_t)(2 * l + 1);
        memcpy(next, d + entk__so3_off(l), n * n * sizeof *d);
        entk__so3_risbo_step(next, 2 * l + 1, c, s, sq); /* l -> l + 1/2 */
        entk__so3_risbo_step(next, 2 * l + 2, c, s, sq); /* l + 1/2 -> l + 1 */
    }
}

ENTKDEF entk_status entk_so3_wigner_d(int L, double beta, double *d) {
    if (!entk__so3_band_ok(L) || !d) return ENTK_ERR_INVALID_ARG;
    if (!entk__so3_angle_ok(beta)) return ENTK_ERR_NONFINITE;
    entk__so3_wigner_d(L, beta, d);
    return ENTK_OK;
}

/* ============================================================================================== */
/* 2.3 Complex D, real Delta, real spherical harmonics                                            */
/* ============================================================================================== */

ENTKDEF entk_status entk_so3_wigner_D(int L, double alpha, double beta, double gamma, double *re,
                                      double *im) {
    double ca[ENTK_SO3_MAX_L], sa[ENTK_SO3_MAX_L], cg[ENTK_SO3_MAX_L], sg[ENTK_SO3_MAX_L];
    int l, m, n;
    if (!entk__so3_band_ok(L) || !re || !im || re == im) return ENTK_ERR_INVALID_ARG;
    if (!entk__so3_angle_ok(alpha) || !entk__so3_angle_ok(beta) || !entk__so3_angle_ok(gamma))
        return ENTK_ERR_NONFINITE;
    for (m = 0; m < L; ++m) {
        ca[m] = cos(m * alpha);
        sa[m] = sin(m * alpha);
        cg[m] = cos(m * gamma);
        sg[m] = sin(m * gamma);
    }
    entk__so3_wigner_d(L, beta, re);
    for (l = 0; l < L; ++l) {
        double *r = re + entk__so3_off(l), *i = im + entk__so3_off(l);
        for (m = -l; m <= l; ++m) {
            /* e^{-i m alpha} = cm - i sm */
            const double cm = ca[m < 0 ? -m : m], sm = m < 0 ? -sa[-m] : sa[m];
            for (n = -l; n <= l; ++n) {
                const size_t e = (size_t)(m + l) * (size_t)(2 * l + 1) + (size_t)(n + l);
                const double cn = cg[n < 0 ? -n : n], sn = n < 0 ? -sg[-n] : sg[n], v = r[e];
                r[e] = v * (cm * cn - sm * sn);
                i[e] = -v * (sm * cn + cm * sn);
            }
        }
    }
    return ENTK_OK;
}

/* d (packed, from entk__so3_wigner_d) -> Delta(R_z(alpha) R_y(beta) R_z(gamma)) in place. Each
 * quadruple of entries (+-mu, +-nu) maps to itself (CONVENTIONS: Delta(R_y) is block diagonal and
 * Delta(R_z) mixes only +-m), so it is rewritten from local copies. */
static void entk__so3_d_to_delta(int L, double alpha, double gamma, double *x) {
    double ca[ENTK_SO3_MAX_L], sa[ENTK_SO3_MAX_L], cg[ENTK_SO3_MAX_L], sg[ENTK_SO3_MAX_L];
    int l, mu, nu;
    for (mu = 0; mu < L; ++mu) {
        ca[mu] = cos(mu * alpha);
        sa[mu] = sin(mu * alpha);
        cg[mu] = cos(mu * gamma);
        sg[mu] = sin(mu * gamma);
    }
    for (l = 1; l < L; ++l) { /* block 0: Delta_00 = d_00 = 1 */
        double *b = x + entk__so3_off(l);
        const int w = 2 * l + 1;
#define ENTK__SO3_AT(m, n) b[(size_t)((m) + l) * (size_t)w + (size_t)((n) + l)]
        for (mu = 0; mu <= l; ++mu) {
            const double smu = (mu & 1) ? -1.0 : 1.0;
            for (nu = 0; nu <= l; ++nu) {
                const double snu = (nu & 1) ? -1.0 : 1.0;
                if (mu == 0 && nu == 0) continue; /* Delta_00 = d_00 */
                if (mu == 0) {
                    const double A = ENTK__SO3_SQRT2 * snu * ENTK__SO3_AT(0, nu);
                    ENTK__SO3_AT(0, nu) = A * cg[nu];
                    ENTK__SO3_AT(0, -nu) = -A * sg[nu];
                } else if (nu == 0) {
                    const double A = ENTK__SO3_SQRT2 * smu * ENTK__SO3_AT(mu, 0);
                    ENTK__SO3_AT(mu, 0) = A * ca[mu];
                    ENTK__SO3_AT(-mu, 0) = A * sa[mu];
                } else {
                    const double p = smu * snu * ENTK__SO3_AT(mu, nu), q = smu * ENTK__SO3_AT(mu, -nu);
                    const double A = p + q, Bv = p - q;
                    ENTK__SO3_AT(mu, nu) = A * ca[mu] * cg[nu] - Bv * sa[mu] * sg[nu];
                    ENTK__SO3_AT(mu, -nu) = -A * ca[mu] * sg[nu] - Bv * sa[mu] * cg[nu];
                    ENTK__SO3_AT(-mu, nu) = A * sa[mu] * cg[nu] + Bv * ca[mu] * sg[nu];
                    ENTK__SO3_AT(-mu, -nu) = -A * sa[mu] * sg[nu] + Bv * ca[mu] * cg[nu];
                }
            }
        }
#undef ENTK__SO3_AT
    }
}

ENTKDEF entk_status entk_so3_real_wigner(int L, double alpha, double beta, double gamma, double *delta) {
    if (!entk__so3_band_ok(L) || !delta) return ENTK_ERR_INVALID_ARG;
    if (!entk__so3_angle_ok(alpha) || !entk__so3_angle_ok(beta) || !entk__so3_angle_ok(gamma))
        return ENTK_ERR_NONFINITE;
    entk__so3_wigner_d(L, beta, delta);
    entk__so3_d_to_delta(L, alpha, gamma, delta);
    return ENTK_OK;
}

/* lambda_lm(theta) for l = m..L-1 into col[l - m], given lambda_mm = pmm (standard three-term
 * recurrence of the normalised associated Legendre functions in l). */
static void entk__so3_leg_col(int L, int m, double ct, double pmm, double *col) {
    double p0 = pmm, p1;
    int l;
    col[0] = pmm;
    if (m + 1 >= L) return;
    p1 = sqrt(2.0 * m + 3.0) * ct * pmm;
    col[1] = p1;
    for (l = m + 2; l < L; ++l) {
        const double ll = (double)l, mm = (double)m;
        const double a = sqrt((4.0 * ll * ll - 1.0) / (ll * ll - mm * mm));
        const double b = sqrt(((ll - 1.0) * (ll - 1.0) - mm * mm) / (4.0 * (ll - 1.0) * (ll - 1.0) - 1.0));
        const double p2 = a * (ct * p1 - b * p0);
        col[l - m] = p2;
        p0 = p1;
        p1 = p2;
    }
}

/* lambda_{mm}(theta) from lambda_{m-1,m-1}: times sqrt((2m+1)/(2m)) sin theta; lambda_00 = 1/sqrt(4 pi) */
static double entk__so3_pmm_next(double pmm, int m, double st) {
    return m == 0 ? 0.28209479177387814347 : pmm * sqrt((2.0 * m + 1.0) / (2.0 * m)) * st;
}

ENTKDEF entk_status entk_so3_real_sh(int L, double theta, double phi, double *y) {
    double col[ENTK_SO3_MAX_L], pmm = 0.0;
    const double ct = cos(theta), st = sin(theta);
    int l, m;
    if (!entk__so3_band_ok(L) || !y) return ENTK_ERR_INVALID_ARG;
    if (!entk__so3_angle_ok(theta) || !entk__so3_angle_ok(phi)) return ENTK_ERR_NONFINITE;
    for (m = 0; m < L; ++m) {
        pmm = entk__so3_pmm_next(pmm, m, st);
        entk__so3_leg_col(L, m, ct, pmm, col);
        if (m == 0) {
            for (l = 0; l < L; ++l) y[l * l + l] = col[l];
        } else {
            const double cm = ENTK__SO3_SQRT2 * cos(m * phi), sm = ENTK__SO3_SQRT2 * sin(m * phi);
            for (l = m; l < L; ++l) {
                y[l * l + l + m] = col[l - m] * cm;
                y[l * l + l - m] = col[l - m] * sm;
            }
        }
    }
    return ENTK_OK;
}

/* ============================================================================================== */
/* 2.4 Driscoll-Healy nodes and weights                                                           */
/* ============================================================================================== */

static double entk__so3_theta(int L, int j) { return ENTK__PI * (2.0 * j + 1.0) / (4.0 * L); }

/* 2 pi k/n; callers reduce k mod n first, so twiddle arguments stay in [0, 2 pi) */
static double entk__so3_azimuth(int k, int n) { return 2.0 * ENTK__PI * (double)k / (double)n; }

ENTKDEF entk_status entk_so3_s2_nodes(int L, double *theta, double *phi) {
    int j;
    if (!entk__so3_band_ok(L)) return ENTK_ERR_INVALID_ARG;
    if (theta)
        for (j = 0; j < 2 * L; ++j) theta[j] = entk__so3_theta(L, j);
    if (phi)
        for (j = 0; j < 2 * L - 1; ++j) phi[j] = entk__so3_azimuth(j, 2 * L - 1);
    return ENTK_OK;
}

ENTKDEF entk_status entk_so3_so3_nodes(int B, double *beta, double *alpha) {
    return entk_so3_s2_nodes(B, beta, alpha);
}

/* w_j = (2/L) sin(theta_j) sum_{k<L} sin((2k+1) theta_j)/(2k+1), sum 2 (CONVENTIONS) */
static void entk__so3_dh_weights(int L, double *w) {
    int j, k;
    for (j = 0; j < 2 * L; ++j) {
        const double t = entk__so3_theta(L, j);
        double s = 0.0;
        for (k = 0; k < L; ++k) {
            /* (2j+1)(2k+1) pi/(4L) reduced mod 2 pi (period 8L in the integer) keeps sin's argument small */
            const long r = ((long)(2 * j + 1) * (long)(2 * k + 1)) % ((long)8 * L);
            s += sin(ENTK__PI * (double)r / (4.0 * L)) / (2.0 * k + 1.0);
        }
        w[j] = 2.0 / L * sin(t) * s;
    }
}

ENTKDEF entk_status entk_so3_s2_weights(int L, double *w) {
    int j;
    if (!entk__so3_band_ok(L) || !w) return ENTK_ERR_INVALID_ARG;
    entk__so3_dh_weights(L, w);
    for (j = 0; j < 2 * L; ++j) w[j] *= 2.0 * ENTK__PI / (2.0 * L - 1.0);
    return ENTK_OK;
}

ENTKDEF entk_status entk_so3_so3_weights(int B, double *w) {
    const double h = 2.0 * ENTK__PI / (2.0 * B - 1.0);
    int j;
    if (!entk__so3_band_ok(B) || !w) return ENTK_ERR_INVALID_ARG;
    entk__so3_dh_weights(B, w);
    for (j = 0; j < 2 * B; ++j) w[j] *= h * h;
    return ENTK_OK;
}

/* ============================================================================================== */
/* 2.5 Plans and the azimuthal DFTs                                                               */
/* ============================================================================================== */

/* plan memory layout (doubles), h = B - 1, f = 2L - 1:
 *   w [2B] | ta [h x f] | leg [L(L+1)/2 x 2B] (S2) | dy [P x 2B] and tmp [P] (SO3)
 * workspace: S2: F [f x 2B] | tmp [(2 h + 1) x 2B];  SO3 with r right-hand sides (2.7; the public transforms: r = 1):
 * F [f^2 x r 2B] | G [f x r 2B n] | tmp [(2 h + 1) x r 2B n] (the DFTs' folded rows) */
static entk_status entk__so3_so3_work(size_t nb, size_t n, size_t f, size_t nrhs, size_t *len) {
    size_t t;
    if (entk__mul(f, f + n, &t) || t > SIZE_MAX - n * n || entk__mul(t + n * n, nb, &t) || entk__mul(t, nrhs, &t))
        return ENTK_ERR_OVERFLOW;
    *len = t;
    return ENTK_OK;
}

static entk_status entk__so3_sizes(int kinds, int L, int B, size_t *plan_len, size_t *work_len) {
    size_t nb, n, f, h, len, t, wl;
    entk_status st;
    if (kinds < 1 || kinds > 3 || !entk__so3_band_ok(L) || !entk__so3_band_ok(B) || B < L)
        return ENTK_ERR_INVALID_ARG;
    nb = (size_t)(2 * B), n = (size_t)(2 * B - 1), f = (size_t)(2 * L - 1), h = (size_t)(B - 1);
    len = nb + h * f;
    if (kinds & ENTK_SO3_PLAN_S2) len += nb * (size_t)(L * (L + 1) / 2);
    if (kinds & ENTK_SO3_PLAN_SO3) {
        const size_t P = entk__so3_off(L);
        if (entk__mul(P, nb + 1, &t) || t > SIZE_MAX - len) return ENTK_ERR_OVERFLOW;
        len += t;
        if ((st = entk__so3_so3_work(nb, n, f, 1, &wl))) return st;
    } else {
        wl = nb * f + (2 * h + 1) * nb;
    }
    if (plan_len) *plan_len = len;
    if (work_len) *work_len = wl;
    return ENTK_OK;
}

ENTKDEF entk_status entk_so3_plan_size(int kinds, int L, int B, size_t *plan_len, size_t *work_len) {
    return entk__so3_sizes(kinds, L, B, plan_len, work_len);
}

ENTKDEF entk_status entk_so3_plan_init(entk_so3_plan *plan, int kinds, int L, int B, double *mem) {
    double *p, *w, *ta, *leg = NULL, *dy = NULL;
    size_t work_len;
    entk_status st;
    int nb, n, f, h, s, k, j;
    if (!plan || !mem) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__so3_sizes(kinds, L, B, NULL, &work_len))) return st;
    nb = 2 * B, n = 2 * B - 1, f = 2 * L - 1, h = B - 1;
    p = mem;
    w = p;
    p += nb;
    ta = p;
    p += (size_t)h * (size_t)f;
    entk__so3_dh_weights(B, w);
    for (k = 1; k <= h; ++k)
        for (s = -(L - 1); s <= L - 1; ++s) {
            const double x = entk__so3_azimuth((int)(((long)(s < 0 ? -s : s) * k) % n), n);
            ta[(size_t)(k - 1) * (size_t)f + (size_t)(s + L - 1)] = s >= 0 ? cos(x) : sin(x);
        }
    if (kinds & ENTK_SO3_PLAN_S2) {
        double col[ENTK_SO3_MAX_L];
        int m, l;
        leg = p;
        p += (size_t)nb * (size_t)(L * (L + 1) / 2);
        for (j = 0; j < nb; ++j) {
            const double t = entk__so3_theta(B, j), ct = cos(t), sn = sin(t);
            double pmm = 0.0;
            for (m = 0; m < L; ++m) {
                const double sc = m ? ENTK__SO3_SQRT2 : 1.0;
                pmm = entk__so3_pmm_next(pmm, m, sn);
                entk__so3_leg_col(L, m, ct, pmm, col);
                for (l = m; l < L; ++l) leg[(size_t)(l * (l + 1) / 2 + m) * (size_t)nb + (size_t)j] = sc * col[l - m];
            }
        }
    }
    if (kinds & ENTK_SO3_PLAN_SO3) {
        const size_t P = entk__so3_off(L);
        double *tmp;
        size_t e;
        dy = p;
        p += P * (size_t)nb;
        tmp = p;
        for (j = 0; j < nb; ++j) {
            entk__so3_wigner_d(L, entk__so3_theta(B, j), tmp);
            entk__so3_d_to_delta(L, 0.0, 0.0, tmp);
            for (e = 0; e < P; ++e) dy[e * (size_t)nb + (size_t)j] = tmp[e];
        }
    }
    plan->kinds = kinds;
    plan->L = L;
    plan->B = B;
    plan->work_len = work_len;
    plan->w = w;
    plan->ta = ta;
    plan->leg = leg;
    plan->dy = dy;
    return ENTK_OK;
}

/* ---- the real DFTs of length n = 2B - 1, keeping |s| < L ----
 * Frequency index s + L - 1 holds the cos(s x) coefficient for s >= 0 and the sin(|s| x) one for
 * s < 0. The samples are folded first (x_k + x_{n-k} meets the cosines, x_k - x_{n-k} the sines),
 * which halves the work; then entk.h's lincomb forms every frequency as a linear combination of the
 * folded rows, long rows over all the lines of a transform at once (register blocks of frequencies
 * share each load; the same bits on every path). Two layouts: _rows transforms along the rows of its
 * input (the samples contiguous: the fold transposes them), _cols along a slow index (the fold adds
 * contiguous rows). The SO(3) transforms run the gamma DFT by _rows and hand its output to the alpha
 * DFT in the layout _cols reads, so the data are transposed once per transform. */

/* out[s][k Q + q] = W_q sum_l c_s(x_l) X[q K + k][l] for the Q K rows of X (each n samples), with the
 * weight W_q = wsc p->w[q mod 2B] (the quadrature weights of the analyses, applied in the fold); out is
 * (2L-1) x (K Q). tmp: 2 (B-1) K Q doubles. */
static void entk__so3_dft_rows(const entk__kernels *kt, const entk_so3_plan *p, const double *X, size_t Q, size_t K,
                               double wsc, double *out, double *tmp) {
    const int L = p->L, n = 2 * p->B - 1, h = p->B - 1, f = 2 * L - 1;
    const size_t N = Q * K;
    double *u = tmp, *v = tmp + (size_t)h * N, *o0 = out + (size_t)(L - 1) * N; /* u[l-1][col], v[l-1][col] */
    size_t q, k;
    int l, s;
    for (k = 0; k < K; ++k)
        for (q = 0; q < Q; ++q) {
            const double *x = X + (q * K + k) * (size_t)n, wq = wsc * p->w[q % (size_t)(2 * p->B)];
            const size_t col = k * Q + q;
            o0[col] = wq * x[0];
            for (l = 1; l <= h; ++l) {
                u[(size_t)(l - 1) * N + col] = wq * (x[l] + x[n - l]);
                v[(size_t)(l - 1) * N + col] = wq * (x[l] - x[n - l]);
            }
        }
    memset(out, 0, (size_t)(L - 1) * N * sizeof *out);
    for (s = L; s < f; ++s) memcpy(out + (size_t)s * N, o0, N * sizeof *out);
    /* sines from v, cosines from u; the twiddle of frequency index s and sample l is ta[(l-1) f + s] */
    kt->lincomb((size_t)(L - 1), (size_t)h, p->ta, 1, (size_t)f, v, N, out, N, N);
    kt->lincomb((size_t)L, (size_t)h, p->ta + (L - 1), 1, (size_t)f, u, N, o0, N, N);
}

/* out[s][t][c] = sum_k c_s(x_k) Y[t][k][c] for T blocks Y[t] of n rows of C doubles; out is
 * (2L-1) x (T C). tmp: 2 (B-1) T C doubles. */
static void entk__so3_dft_cols(const entk__kernels *kt, const entk_so3_plan *p, const double *Y, size_t T, size_t C,
                               double *out, double *tmp) {
    const int L = p->L, n = 2 * p->B - 1, h = p->B - 1, f = 2 * L - 1;
    const size_t N = T * C;
    double *u = tmp, *v = tmp + (size_t)h * N, *o0 = out + (size_t)(L - 1) * N;
    size_t t, c;
    int k, s;
    for (t = 0; t < T; ++t) {
        const double *y = Y + t * (size_t)n * C;
        memcpy(o0 + t * C, y, C * sizeof *y);
        for (k = 1; k <= h; ++k) {
            const double *a = y + (size_t)k * C, *b = y + (size_t)(n - k) * C;
            double *uk = u + (size_t)(k - 1) * N + t * C, *vk = v + (size_t)(k - 1) * N + t * C;
            for (c = 0; c < C; ++c) {
                uk[c] = a[c] + b[c];
                vk[c] = a[c] - b[c];
            }
        }
    }
    memset(out, 0, (size_t)(L - 1) * N * sizeof *out);
    for (s = L; s < f; ++s) memcpy(out + (size_t)s * N, o0, N * sizeof *out);
    kt->lincomb((size_t)(L - 1), (size_t)h, p->ta, 1, (size_t)f, v, N, out, N, N);
    kt->lincomb((size_t)L, (size_t)h, p->ta + (L - 1), 1, (size_t)f, u, N, o0, N, N);
}

/* The syntheses, inverse to the two above: X[q K + k][l] = sum_s c_s(x_l) in[s][k Q + q], and
 * Y[t][k][c] = sum_s c_s(x_k) in[s][t][c]. tmp as there, and N more doubles for _rows. a[k-1][.]
 * collects the cosine part at sample k, b the sine part: sample k is a + b, sample n - k is a - b. */
static void entk__so3_idft_rows(const entk__kernels *kt, const entk_so3_plan *p, const double *in, size_t Q,
                                size_t K, double *X, double *tmp) {
    const int L = p->L, n = 2 * p->B - 1, h = p->B - 1, f = 2 * L - 1;
    const size_t N = Q * K;
    double *a = tmp, *b = tmp + (size_t)h * N, *x0 = b + (size_t)h * N; /* x0: the sample at 0, by rows */
    size_t q, k, col;
    int l, s;
    memset(tmp, 0, 2 * (size_t)h * N * sizeof *tmp);
    kt->lincomb((size_t)h, (size_t)L, p->ta + (L - 1), (size_t)f, 1, in + (size_t)(L - 1) * N, N, a, N, N);
    kt->lincomb((size_t)h, (size_t)(L - 1), p->ta, (size_t)f, 1, in, N, b, N, N);
    memcpy(x0, in + (size_t)(L - 1) * N, N * sizeof *x0);
    for (s = L; s < f; ++s)
        for (col = 0; col < N; ++col) x0[col] += in[(size_t)s * N + col];
    for (k = 0; k < K; ++k)
        for (q = 0; q < Q; ++q) {
            double *x = X + (q * K + k) * (size_t)n;
            col = k * Q + q;
            x[0] = x0[col];
            for (l = 1; l <= h; ++l) {
                const double al = a[(size_t)(l - 1) * N + col], bl = b[(size_t)(l - 1) * N + col];
                x[l] = al + bl;
                x[n - l] = al - bl;
            }
        }
}

static void entk__so3_idft_cols(const entk__kernels *kt, const entk_so3_plan *p, const double *in, size_t T,
                                size_t C, double *Y, double *tmp) {
    const int L = p->L, n = 2 * p->B - 1, h = p->B - 1, f = 2 * L - 1;
    const size_t N = T * C;
    double *a = tmp, *b = tmp + (size_t)h * N;
    size_t t, c;
    int k, s;
    memset(tmp, 0, 2 * (size_t)h * N * sizeof *tmp);
    kt->lincomb((size_t)h, (size_t)L, p->ta + (L - 1), (size_t)f, 1, in + (size_t)(L - 1) * N, N, a, N, N);
    kt->lincomb((size_t)h, (size_t)(L - 1), p->ta, (size_t)f, 1, in, N, b, N, N);
    for (t = 0; t < T; ++t) {
        double *y = Y + t * (size_t)n * C;
        memcpy(y, in + (size_t)(L - 1) * N + t * C, C * sizeof *y);
        for (s = L; s < f; ++s) {
            const double *is = in + (size_t)s * N + t * C;
            for (c = 0; c < C; ++c) y[c] += is[c];
        }
        for (k = 1; k <= h; ++k) {
            const double *ak = a + (size_t)(k - 1) * N + t * C, *bk = b + (size_t)(k - 1) * N + t * C;
            double *yk = y + (size_t)k * C, *ym = y + (size_t)(n - k) * C;
            for (c = 0; c < C; ++c) {
                yk[c] = ak[c] + bk[c];
                ym[c] = ak[c] - bk[c];
            }
        }
    }
}

/* ============================================================================================== */
/* 2.6 S^2 transforms                                                                             */
/* ============================================================================================== */

/* 1 if every x[i] is finite (entk__finite with four independent chains: these arrays are large and
 * checked on every call) */
static int entk__so3_finite(const double *x, size_t n) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t i;
    for (i = 0; i + 4 <= n; i += 4) {
        s0 += x[i] - x[i];
        s1 += x[i + 1] - x[i + 1];
        s2 += x[i + 2] - x[i + 2];
        s3 += x[i + 3] - x[i + 3];
    }
    for (; i < n; ++i) s0 += x[i] - x[i];
    return (s0 + s1) + (s2 + s3) == 0.0;
}

static double entk__so3_dot(const double *a, const double *b, int n) {
    double s0 = 0.0, s1 = 0.0;
    int i;
    for (i = 0; i + 1 < n; i += 2) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
    }
    if (i < n) s0 += a[i] * b[i];
    return s0 + s1;
}

/* F[s][j] (row stride 2B) = W_j sum_k f[j][k] c_s(phi_k); then the theta sums with the lambda table */
ENTKDEF entk_status entk_so3_plan_sht(const entk_so3_plan *plan, const double *f, double *a, double *work) {
    const entk__kernels *kt = entk__kt(); /* the path's lincomb runs the DFTs */
    int L, nb, n, fq, l, m;
    double h;
    if (!plan || !f || !a || !work || !(plan->kinds & ENTK_SO3_PLAN_S2)) return ENTK_ERR_INVALID_ARG;
    L = plan->L;
    nb = 2 * plan->B;
    n = nb - 1;
    fq = 2 * L - 1;
    if (!entk__so3_finite(f, (size_t)nb * (size_t)n)) return ENTK_ERR_NONFINITE;
    h = 2.0 * ENTK__PI / n;
    entk__so3_dft_rows(kt, plan, f, (size_t)nb, 1, h, work, work + (size_t)fq * (size_t)nb); /* F[s][j] W_j */
    for (l = 0; l < L; ++l)
        for (m = -l; m <= l; ++m) {
            const double *lg = plan->leg + (size_t)(l * (l + 1) / 2 + (m < 0 ? -m : m)) * (size_t)nb;
            a[l * l + l + m] = entk__so3_dot(lg, work + (size_t)(m + L - 1) * (size_t)nb, nb);
        }
    return entk__so3_finite(a, (size_t)L * (size_t)L) ? ENTK_OK : ENTK_ERR_RANGE;
}

ENTKDEF entk_status entk_so3_plan_isht(const entk_so3_plan *plan, const double *a, double *f, double *work) {
    const entk__kernels *kt = entk__kt(); /* the path's axpy and lincomb run the row updates and the DFTs */
    int L, nb, fq, s, l, m;
    if (!plan || !a || !f || !work || !(plan->kinds & ENTK_SO3_PLAN_S2)) return ENTK_ERR_INVALID_ARG;
    L = plan->L;
    nb = 2 * plan->B;
    fq = 2 * L - 1;
    if (!entk__so3_finite(a, (size_t)L * (size_t)L)) return ENTK_ERR_NONFINITE;
    for (s = 0; s < fq * nb; ++s) work[s] = 0.0;
    for (l = 0; l < L; ++l)
        for (m = -l; m <= l; ++m) {
            const double *lg = plan->leg + (size_t)(l * (l + 1) / 2 + (m < 0 ? -m : m)) * (size_t)nb;
            kt->vo.axpy(work + (size_t)(m + L - 1) * (size_t)nb, a[l * l + l + m], lg, (size_t)nb);
        }
    entk__so3_idft_rows(kt, plan, work, (size_t)nb, 1, f, work + (size_t)fq * (size_t)nb);
    return entk__so3_finite(f, (size_t)nb * (size_t)(nb - 1)) ? ENTK_OK : ENTK_ERR_RANGE;
}

/* ============================================================================================== */
/* 2.7 SO(3) transforms                                                                           */
/* ============================================================================================== */

/* Separation of variables. With c_s(x) = cos(s x) (s >= 0) or sin(|s| x) (s < 0), Delta^l_{mn}(R) =
 * sum_{p = +-m, q = +-n} Delta_z(alpha)_{mp} Delta^l_{pq}(R_y(beta)) Delta_z(gamma)_{qn}, where
 *   Delta_z(alpha)_{mp} = c_{|m|}(alpha) for p = m, -sgn(m) c_{-|m|}(alpha) for p = -m != m,
 *   Delta_z(gamma)_{qn} = c_{|n|}(gamma) for q = n,  sgn(n) c_{-|n|}(gamma) for q = -n != n,
 * and Delta^l(R_y) vanishes unless p, q are both >= 0 or both < 0. So each c^l_{mn} couples to at
 * most two (s, t) = (+-|m|, +-|n|) frequency pairs of the alpha-gamma DFT F_j(s, t). */
/* The beta sums of one degree l by quadruples. With A = Delta^l_{mu nu}(R_y) and B = Delta^l_{-mu,-nu}(R_y)
 * (rows over beta_j) and F_{st} the alpha-gamma DFT rows, the terms above give for mu, nu > 0
 *   c_{mu,nu}  =  A.F_{mu,nu}  - B.F_{-mu,-nu}     c_{mu,-nu}  = -A.F_{mu,-nu} - B.F_{-mu,nu}
 *   c_{-mu,nu} =  A.F_{-mu,nu} + B.F_{mu,-nu}      c_{-mu,-nu} = -A.F_{-mu,-nu} + B.F_{mu,nu}
 * (two 2 x 2 blocks of dot products: entk.h's dots), on the axes c_{0,+-nu} = +-Delta_{0 nu}.F_{0,+-nu},
 * c_{+-mu,0} = Delta_{mu 0}.F_{+-mu,0}, and c_00 = Delta_00.F_00. The synthesis adds the transposed
 * combinations to the rows of H (entk.h's lincomb). dyl: the rows of Delta^l(R_y(beta_j)), stride nb;
 * F0 (H0): the row (s, t) = (0, 0), rows (s, t) at F0 + s ds + t dt; cl: the w x w block c^l. */
static void entk__so3_beta_fwd(const entk__kernels *kt, const double *dyl, int l, const double *F0, size_t ds,
                               size_t dt, size_t nb, double sc, double *cl) {
    const size_t w = (size_t)(2 * l + 1), L0 = (size_t)l;
    size_t mu, nu;
    double o[4];
#define ENTK__SO3_C(m, n) cl[(L0 + (size_t)(m)) * w + (L0 + (size_t)(n))] /* m, n: signed offsets as size_t */
#define ENTK__SO3_DY(m, n) (dyl + ((L0 + (size_t)(m)) * w + (L0 + (size_t)(n))) * nb)
    kt->dots(1, ENTK__SO3_DY(0, 0), 0, F0, 0, 1, nb, o, 1);
    ENTK__SO3_C(0, 0) = sc * o[0];
    for (nu = 1; nu <= L0; ++nu) { /* mu = 0: rows F_{0,-nu}, F_{0,nu} */
        kt->dots(1, ENTK__SO3_DY(0, nu), 0, F0 - nu * dt, 2 * nu * dt, 2, nb, o, 2);
        ENTK__SO3_C(0, nu) = sc * o[1];
        ENTK__SO3_C(0, -nu) = -(sc * o[0]);
    }
    for (mu = 1; mu <= L0; ++mu) {
        /* nu = 0: rows F_{-mu,0}, F_{mu,0} */
        kt->dots(1, ENTK__SO3_DY(mu, 0), 0, F0 - mu * ds, 2 * mu * ds, 2, nb, o, 2);
        ENTK__SO3_C(mu, 0) = sc * o[1];
        ENTK__SO3_C(-mu, 0) = sc * o[0];
        for (nu = 1; nu <= L0; ++nu) {
            /* rows a: B, A (A - B = 2 mu w + 2 nu rows of dy); b: F_{s,-nu}, F_{s,nu} for s = mu, then -mu;
             * o[0..1] = B.(F_{s,-nu}, F_{s,nu}), o[2..3] = A.(...) */
            const double *dB = ENTK__SO3_DY(-mu, -nu);
            const size_t lda = (2 * mu * w + 2 * nu) * nb;
            double q[4];
            kt->dots(2, dB, lda, F0 + mu * ds - nu * dt, 2 * nu * dt, 2, nb, o, 2);
            kt->dots(2, dB, lda, F0 - mu * ds - nu * dt, 2 * nu * dt, 2, nb, q, 2);
            ENTK__SO3_C(mu, nu) = sc * (o[3] - q[0]);
            ENTK__SO3_C(mu, -nu) = sc * (-o[2] - q[1]);
            ENTK__SO3_C(-mu, nu) = sc * (q[3] + o[0]);
            ENTK__SO3_C(-mu, -nu) = sc * (-q[2] + o[1]);
        }
    }
}

static void entk__so3_beta_inv(const entk__kernels *kt, const double *dyl, int l, const double *cl, size_t ds,
                               size_t dt, size_t nb, double *H0) {
    const size_t w = (size_t)(2 * l + 1), L0 = (size_t)l;
    size_t mu, nu;
    double a[4];
    kt->lincomb(1, 1, &ENTK__SO3_C(0, 0), 1, 1, ENTK__SO3_DY(0, 0), nb, H0, 0, nb);
    for (nu = 1; nu <= L0; ++nu) { /* H_{0,-nu} -= c_{0,-nu} Delta_{0 nu}, H_{0,nu} += c_{0,nu} Delta_{0 nu} */
        a[0] = -ENTK__SO3_C(0, -nu);
        a[1] = ENTK__SO3_C(0, nu);
        kt->lincomb(2, 1, a, 1, 1, ENTK__SO3_DY(0, nu), nb, H0 - nu * dt, 2 * nu * dt, nb);
    }
    for (mu = 1; mu <= L0; ++mu) {
        a[0] = ENTK__SO3_C(-mu, 0);
        a[1] = ENTK__SO3_C(mu, 0);
        kt->lincomb(2, 1, a, 1, 1, ENTK__SO3_DY(mu, 0), nb, H0 - mu * ds, 2 * mu * ds, nb);
        for (nu = 1; nu <= L0; ++nu) {
            /* x rows B, A; y rows H_{s,-nu}, H_{s,nu}; a(i, p) at a[2 i + p] */
            const double *dB = ENTK__SO3_DY(-mu, -nu);
            const size_t ldx = (2 * mu * w + 2 * nu) * nb;
            const double cpp = ENTK__SO3_C(mu, nu), cpm = ENTK__SO3_C(mu, -nu), cmp = ENTK__SO3_C(-mu, nu);
            const double cmm = ENTK__SO3_C(-mu, -nu);
            a[0] = cmp; a[1] = -cpm; a[2] = cmm; a[3] = cpp; /* s = mu */
            kt->lincomb(2, 2, a, 2, 1, dB, ldx, H0 + mu * ds - nu * dt, 2 * nu * dt, nb);
            a[0] = -cpp; a[1] = -cmm; a[2] = -cpm; a[3] = cmp; /* s = -mu */
            kt->lincomb(2, 2, a, 2, 1, dB, ldx, H0 - mu * ds - nu * dt, 2 * nu * dt, nb);
        }
    }
#undef ENTK__SO3_C
#undef ENTK__SO3_DY
}

/* sum |x[i]| in four independent chains */
static double entk__so3_abs_sum(const double *x, size_t n) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t i;
    for (i = 0; i + 4 <= n; i += 4) {
        s0 += fabs(x[i]);
        s1 += fabs(x[i + 1]);
        s2 += fabs(x[i + 2]);
        s3 += fabs(x[i + 3]);
    }
    for (; i < n; ++i) s0 += fabs(x[i]);
    return (s0 + s1) + (s2 + s3);
}

/* The transforms of r right-hand sides at once (the network kernels transform K and Theta together):
 * the r grids are contiguous (f[i] of rhs i at i 2B n^2) and so are the r coefficient sets (at i P).
 * Each azimuthal DFT runs once over the lines of all beta rows and all right-hand sides (one slab:
 * rows of r 2B n or r 2B (2L-1) updates per twiddle), then the beta sums per rhs. These are the
 * kernels of the public transforms and of the recursion (2.9): they do not scan their input (the
 * callers guarantee or check that it is finite), and they return ENTK_ERR_RANGE for a non-finite value
 * in their output, which analysis checks directly (the l = 0 coefficient sums every sample with a
 * positive weight, so any NaN or Inf in the input reaches it) and synthesis by a bound: every sample,
 * partial sum and intermediate of the synthesis is at most 2 sum |c| in magnitude (|Delta_y|,
 * |cos|, |sin| <= 1, each coefficient in at most two terms, a + b and a - b at most |a| + |b|), so
 * below 1e300 nothing can overflow and the grid is not scanned. */

/* work: F[(s + L-1)(2L-1) + (t + L-1)][i 2B + j] | G [f x r 2B n] | tmp [n x r 2B n] */
static entk_status entk__so3_fft_n(const entk__kernels *kt, const entk_so3_plan *plan, const double *f, int nrhs,
                                   double *c, double *work) {
    const int L = plan->L, nb = 2 * plan->B, n = nb - 1, fq = 2 * L - 1;
    const size_t ff = (size_t)fq * (size_t)fq, cols = (size_t)nrhs * (size_t)nb, P = entk__so3_off(L);
    const size_t R1 = cols * (size_t)n; /* the gamma lines */
    const double h = 2.0 * ENTK__PI / n;
    double *F = work, *G = F + ff * cols, *tmp = G + (size_t)fq * R1;
    int l, r;
    entk__so3_dft_rows(kt, plan, f, cols, (size_t)n, h * h, G, tmp); /* gamma, weighted: G[t][k][(i, j)] */
    entk__so3_dft_cols(kt, plan, G, (size_t)fq, cols, F, tmp); /* alpha: F[s][t][(i, j)] */
    for (l = 0; l < L; ++l) { /* beta, by quadruples (entk__so3_beta) */
        const double sc = (2.0 * l + 1.0) / (8.0 * ENTK__PI * ENTK__PI);
        const double *dyl = plan->dy + entk__so3_off(l) * (size_t)nb;
        double *cl = c + entk__so3_off(l);
        for (r = 0; r < nrhs; ++r)
            entk__so3_beta_fwd(kt, dyl, l, F + (size_t)r * (size_t)nb + ((size_t)(L - 1) * (size_t)fq + (size_t)(L - 1)) * cols,
                               (size_t)fq * cols, cols, (size_t)nb, sc, cl + (size_t)r * P);
    }
    return entk__so3_finite(c, (size_t)nrhs * P) ? ENTK_OK : ENTK_ERR_RANGE;
}

/* work: H[(s + L-1)(2L-1) + (t + L-1)][i 2B + j] | G [f x r 2B n] | tmp [n x r 2B n] */
static entk_status entk__so3_ifft_n(const entk__kernels *kt, const entk_so3_plan *plan, const double *c, int nrhs,
                                    double *f, double *work) {
    const int L = plan->L, nb = 2 * plan->B, n = nb - 1, fq = 2 * L - 1;
    const size_t ff = (size_t)fq * (size_t)fq, cols = (size_t)nrhs * (size_t)nb, P = entk__so3_off(L);
    const size_t R1 = cols * (size_t)n;
    double *H = work, *G = H + ff * cols, *tmp = G + (size_t)fq * R1;
    const double l1 = entk__so3_abs_sum(c, (size_t)nrhs * P);
    int l, r;
    memset(H, 0, ff * cols * sizeof *H);
    for (l = 0; l < L; ++l) { /* beta: H[s][t][i][j] += the terms of c^l (entk__so3_beta) */
        const double *dyl = plan->dy + entk__so3_off(l) * (size_t)nb;
        const double *cl = c + entk__so3_off(l);
        for (r = 0; r < nrhs; ++r)
            entk__so3_beta_inv(kt, dyl, l, cl + (size_t)r * P, (size_t)fq * cols, cols, (size_t)nb,
                               H + (size_t)r * (size_t)nb + ((size_t)(L - 1) * (size_t)fq + (size_t)(L - 1)) * cols);
    }
    entk__so3_idft_cols(kt, plan, H, (size_t)fq, cols, G, tmp); /* alpha: G[t][k][(i, j)] */
    entk__so3_idft_rows(kt, plan, G, cols, (size_t)n, f, tmp);  /* gamma: f[i][j][k][l] */
    if (l1 < 1e300) return ENTK_OK; /* the bound above: no sample can overflow */
    return entk__so3_finite(f, R1 * (size_t)n) ? ENTK_OK : ENTK_ERR_RANGE;
}

ENTKDEF entk_status entk_so3_plan_fft(const entk_so3_plan *plan, const double *f, double *c, double *work) {
    if (!plan || !f || !c || !work || !(plan->kinds & ENTK_SO3_PLAN_SO3)) return ENTK_ERR_INVALID_ARG;
    if (!entk__so3_finite(f, (size_t)(2 * plan->B) * (size_t)(2 * plan->B - 1) * (size_t)(2 * plan->B - 1)))
        return ENTK_ERR_NONFINITE;
    return entk__so3_fft_n(entk__kt(), plan, f, 1, c, work);
}

ENTKDEF entk_status entk_so3_plan_ifft(const entk_so3_plan *plan, const double *c, double *f, double *work) {
    if (!plan || !c || !f || !work || !(plan->kinds & ENTK_SO3_PLAN_SO3)) return ENTK_ERR_INVALID_ARG;
    if (!entk__so3_finite(c, entk__so3_off(plan->L))) return ENTK_ERR_NONFINITE;
    return entk__so3_ifft_n(entk__kt(), plan, c, 1, f, work);
}

/* ============================================================================================== */
/* 2.8 Rotation of S^2 coefficients, the one-call wrappers                                        */
/* ============================================================================================== */

ENTKDEF entk_status entk_so3_rotate_sh(int L, const double *delta, const double *a, double *a_rot) {
    double tmp[2 * ENTK_SO3_MAX_L - 1];
    int l, m, n;
    if (!entk__so3_band_ok(L) || !delta || !a || !a_rot) return ENTK_ERR_INVALID_ARG;
    for (l = 0; l < L; ++l) {
        const double *D = delta + entk__so3_off(l), *al = a + l * l;
        const int w = 2 * l + 1;
        for (n = 0; n < w; ++n) {
            double s = 0.0;
            for (m = 0; m < w; ++m) s += D[(size_t)n * (size_t)w + (size_t)m] * al[m];
            tmp[n] = s;
        }
        memcpy(a_rot + l * l, tmp, (size_t)w * sizeof *tmp);
    }
    return ENTK_OK;
}

/* the one-call forms: plan in work, then the per-call scratch after it */
static entk_status entk__so3_once(int kinds, int L, int B, double *work, entk_so3_plan *p, double **scratch) {
    size_t plen;
    entk_status st;
    if (!work) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__so3_sizes(kinds, L, B, &plen, NULL)) || (st = entk_so3_plan_init(p, kinds, L, B, work)))
        return st;
    *scratch = work + plen;
    return ENTK_OK;
}

static entk_status entk__so3_once_size(int kinds, int B, int L, size_t *len) {
    size_t a, b;
    entk_status st;
    if (!len) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__so3_sizes(kinds, L, B, &a, &b))) return st;
    if (a > SIZE_MAX - b) return ENTK_ERR_OVERFLOW;
    *len = a + b;
    return ENTK_OK;
}

ENTKDEF entk_status entk_so3_sht_work_size(int B, int L, size_t *len) {
    return entk__so3_once_size(ENTK_SO3_PLAN_S2, B, L, len);
}
ENTKDEF entk_status entk_so3_fft_work_size(int B, int L, size_t *len) {
    return entk__so3_once_size(ENTK_SO3_PLAN_SO3, B, L, len);
}

ENTKDEF entk_status entk_so3_sht(int B, int L, const double *f, double *a, double *work) {
    entk_so3_plan p;
    double *w;
    entk_status st;
    if (!f || !a) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__so3_once(ENTK_SO3_PLAN_S2, L, B, work, &p, &w))) return st;
    return entk_so3_plan_sht(&p, f, a, w);
}

ENTKDEF entk_status entk_so3_isht(int L, int B, const double *a, double *f, double *work) {
    entk_so3_plan p;
    double *w;
    entk_status st;
    if (!f || !a) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__so3_once(ENTK_SO3_PLAN_S2, L, B, work, &p, &w))) return st;
    return entk_so3_plan_isht(&p, a, f, w);
}

ENTKDEF entk_status entk_so3_fft(int B, int L, const double *f, double *c, double *work) {
    entk_so3_plan p;
    double *w;
    entk_status st;
    if (!f || !c) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__so3_once(ENTK_SO3_PLAN_SO3, L, B, work, &p, &w))) return st;
    return entk_so3_plan_fft(&p, f, c, w);
}

ENTKDEF entk_status entk_so3_ifft(int L, int B, const double *c, double *f, double *work) {
    entk_so3_plan p;
    double *w;
    entk_status st;
    if (!f || !c) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__so3_once(ENTK_SO3_PLAN_SO3, L, B, work, &p, &w))) return st;
    return entk_so3_plan_ifft(&p, c, f, w);
}

/* ============================================================================================== */
/* 2.9 SO(3) networks: the compressed recursion (docs/conventions.md §1.5)                        */
/* ============================================================================================== */

/* The plan of an SO(3) network on C x 2L x (2L - 1) inputs: the layer band limits from the
 * architecture scan (entk.h), one analysis and one synthesis transform plan per layer with weights,
 * and the sizes of the record and the workspace. Layer l < red of kind s2lift: an[l] is the S^2
 * analysis (Lout, L) of the input, syn[l] the SO(3) synthesis (Lout, B); so3conv: an[l] the SO(3)
 * analysis (L, B of the grid before), syn[l] the synthesis (L, B). */
typedef struct entk__so3_net {
    const entk_arch *a;
    const entk__kernels *kt;
    size_t C;
    int Lin, red, lout;
    int grid[ENTK_MAX_LAYERS]; /* band limit of the grid each layer's output lives on (entk__arch_info) */
    entk_so3_plan an[ENTK_MAX_LAYERS], syn[ENTK_MAX_LAYERS];
    size_t ncoef;     /* C Lout^2: the input's S^2 coefficients, first in its record */
    size_t nself;     /* the nonlinearities before so3pool: one diagonal value each, after the coefficients */
    size_t self_len;  /* ncoef + nself + 2 (the pooled K and Theta last) */
    size_t in_len;    /* C 2L (2L - 1) */
    size_t gmax, cmax, twork, work_len; /* grid, coefficient and transform-workspace doubles; workspace */
    double *mem;      /* the transform plans' tables (ENTK_MALLOC) */
} entk__so3_net;

/* Points of the SO(3) grid of band limit B. */
static size_t entk__so3_gpoints(int B) { return (size_t)(2 * B) * (size_t)(2 * B - 1) * (size_t)(2 * B - 1); }

static void entk__so3_net_free(entk__so3_net *p) {
    ENTK_FREE(p->mem);
    p->mem = NULL;
}

/* Checks arch for C x 2L x (2L - 1) inputs (the one scan of entk.h) and builds the plan. */
static entk_status entk__so3_net_make(const entk_arch *a, size_t C, int L, entk__so3_net *p, char *err,
                                      size_t errlen) {
    entk__arch_info in;
    size_t chw[3], len[2 * ENTK_MAX_LAYERS], total = 0, wl, off;
    int l, prev = 0;
    entk_status st;
    memset(p, 0, sizeof *p);
    p->a = a;
    p->kt = entk__kt();
    if (L < 1 || L > ENTK_SO3_MAX_BAND) {
        if (err && errlen) snprintf(err, errlen, "band limit L=%d of the inputs (1 to %d)", L, ENTK_SO3_MAX_BAND);
        return ENTK_ERR_SHAPE;
    }
    chw[0] = C;
    chw[1] = (size_t)(2 * L);
    chw[2] = (size_t)(2 * L - 1);
    if ((st = entk__arch_scan(p->kt, a, ENTK_DOMAIN_SO3, chw, err, errlen, &in))) return st;
    p->C = C;
    p->Lin = L;
    p->red = in.red;
    p->lout = in.band[0];
    memcpy(p->grid, in.grid, sizeof p->grid);
    if ((st = entk__mul(C, (size_t)p->lout * (size_t)p->lout, &p->ncoef))) return st;
    if ((st = entk__mul(C, chw[1] * chw[2], &p->in_len))) return st;
    p->nself = in.self;
    if (p->ncoef > SIZE_MAX - p->nself - 2) return ENTK_ERR_OVERFLOW;
    p->self_len = p->ncoef + p->nself + 2;
    p->gmax = entk__so3_gpoints(in.grid_max);
    p->cmax = entk_so3_packed_len(in.band_max);
    /* the plans' table sizes, then one allocation */
    for (l = 0; l < p->red; ++l) {
        const entk_layer *ly = &a->layer[l];
        len[2 * l] = len[2 * l + 1] = 0;
        if (ly->kind == ENTK_LAYER_S2LIFT || ly->kind == ENTK_LAYER_SO3CONV) {
            const int lift = ly->kind == ENTK_LAYER_S2LIFT, band = in.band[l];
            if ((st = entk_so3_plan_size(lift ? ENTK_SO3_PLAN_S2 : ENTK_SO3_PLAN_SO3, band, lift ? L : prev,
                                         &len[2 * l], &wl)))
                return st;
            if (wl > p->twork) p->twork = wl;
            if ((st = entk_so3_plan_size(ENTK_SO3_PLAN_SO3, band, in.grid[l], &len[2 * l + 1], NULL))) return st;
            /* the SO(3) transforms run K and Theta as two right-hand sides (2.7) */
            if ((st = entk__so3_so3_work((size_t)(2 * in.grid[l]), (size_t)(2 * in.grid[l] - 1), (size_t)(2 * band - 1),
                                         2, &wl)))
                return st;
            if (wl > p->twork) p->twork = wl;
            if (!lift) {
                if ((st = entk__so3_so3_work((size_t)(2 * prev), (size_t)(2 * prev - 1), (size_t)(2 * band - 1), 2,
                                             &wl)))
                    return st;
                if (wl > p->twork) p->twork = wl;
            }
            if (len[2 * l] > SIZE_MAX - total - len[2 * l + 1]) return ENTK_ERR_OVERFLOW;
            total += len[2 * l] + len[2 * l + 1];
        }
        if (in.grid[l]) prev = in.grid[l];
    }
    /* workspace: K and Theta on the largest grid, two coefficient sets, the transforms' own (Theta
     * follows K directly on every grid, and so do their coefficients: two right-hand sides) */
    if (p->gmax > (SIZE_MAX - p->twork - 2 * p->cmax) / 2) return ENTK_ERR_OVERFLOW;
    p->work_len = 2 * p->gmax + 2 * p->cmax + p->twork;
    if ((st = entk__alloc_doubles(total, &p->mem))) return st;
    for (l = 0, off = 0, prev = 0; l < p->red; ++l) {
        const entk_layer *ly = &a->layer[l];
        if (ly->kind == ENTK_LAYER_S2LIFT || ly->kind == ENTK_LAYER_SO3CONV) {
            const int lift = ly->kind == ENTK_LAYER_S2LIFT, band = in.band[l];
            if ((st = entk_so3_plan_init(&p->an[l], lift ? ENTK_SO3_PLAN_S2 : ENTK_SO3_PLAN_SO3, band, lift ? L : prev,
                                         p->mem + off)))
                break;
            off += len[2 * l];
            if ((st = entk_so3_plan_init(&p->syn[l], ENTK_SO3_PLAN_SO3, band, in.grid[l], p->mem + off))) break;
            off += len[2 * l + 1];
        }
        if (in.grid[l]) prev = in.grid[l];
    }
    if (st) entk__so3_net_free(p);
    return st;
}

/* A transform's status inside the recursion, whose inputs are finite: a non-finite value met there
 * is an overflow of the kernel (ENTK_ERR_RANGE, as in the other domains). */
static entk_status entk__so3_overflow(entk_status st) {
    return st == ENTK_ERR_NONFINITE ? ENTK_ERR_RANGE : st;
}

/* The value at the identity of the SO(3) function with packed coefficients c, l < L: sum_l tr c^l
 * (Delta^l(I) = I). */
static double entk__so3_at_identity(const double *c, int L) {
    double s = 0;
    int l, m;
    for (l = 0; l < L; ++l) {
        const double *b = c + (size_t)l * (size_t)(4 * l * l - 1) / 3;
        const int n = 2 * l + 1;
        for (m = 0; m < n; ++m) s += b[m * n + m];
    }
    return s;
}

/* The mean (1/(8 pi^2)) integral f dR of a function on the SO(3) grid of band limit B, by the
 * Driscoll-Healy rule of plan (any plan with that grid): sum_j (w_j / 2) (mean over row j). */
static double entk__so3_mean(const entk_so3_plan *plan, const double *f) {
    const size_t n = (size_t)(2 * plan->B - 1), row = n * n;
    double s = 0;
    size_t j, i;
    for (j = 0; j < (size_t)(2 * plan->B); ++j) {
        const double *r = f + j * row;
        double sr[4] = {0, 0, 0, 0};
        for (i = 0; i + 4 <= row; i += 4) {
            sr[0] += r[i]; sr[1] += r[i + 1]; sr[2] += r[i + 2]; sr[3] += r[i + 3];
        }
        for (; i < row; ++i) sr[0] += r[i];
        s += 0.5 * plan->w[j] * (((sr[0] + sr[1]) + (sr[2] + sr[3])) / (double)row);
    }
    return s;
}

/* One pair through the SO(3) layers and so3pool. a1, a2: the inputs' S^2 coefficients (C x Lout^2);
 * self mode (rec != NULL, a1 == a2): records the diagonal K_xx(I) before every nonlinearity into rec
 * (after the coefficients) and uses it as k11 = k22; otherwise e1, e2 are the inputs' recorded
 * diagonals. Every kernel is kept as its values on the grid of the layer that made it (the
 * compression of conventions §1.5: a function of S = R R'^-1 alone); the linear layers analyse,
 * truncate to their band limit and synthesise onto their grid, then the layer step of entk.h
 * (entk__layer_out: affine, Theta_1 = K_1, the fused nonlinearity with the constant diagonals).
 * Writes the pooled (k, theta). */
static entk_status entk__so3_run(const entk__so3_net *p, const double *a1, const double *a2, const double *e1,
                                 const double *e2, double *rec, int want_t, double *work, double *kout, double *tout) {
    const entk__kernels *kt = p->kt;
    double *K = work, *T = K, *c = K + 2 * p->gmax, *tw = c + 2 * p->cmax; /* T = K + G, Theta's coefficients at c + P */
    const entk_so3_plan *cur = NULL; /* the synthesis plan of the grid K lives on */
    size_t off = 0, G = 0;
    entk_status st;
    int l;
    for (l = 0; l < p->red; ++l) {
        const entk_layer *ly = &p->a->layer[l];
        const entk_layer *nl = l + 1 < p->red && p->a->layer[l + 1].kind == ENTK_LAYER_NONLIN ? &p->a->layer[l + 1]
                                                                                               : NULL;
        const double cw = ly->sw * ly->sw, b2 = ly->sb * ly->sb;
        if (ly->kind == ENTK_LAYER_NONLIN) { /* a nonlinearity after a nonlinearity */
            if (rec) { /* the diagonal entering it: the one entering layer l - 1 (a nonlinearity), mapped by it */
                double d = rec[p->ncoef + off - 1], v;
                if ((st = entk__nonlin_map(kt, &p->a->layer[l - 1].nl, 1, &d, 0, &d, 0, &d, NULL, &v, NULL))) return st;
                rec[p->ncoef + off] = v;
                e1 = e2 = rec + p->ncoef;
            }
            if ((st = entk__nonlin_map(kt, &ly->nl, G, e1 + off, 0, e2 + off, 0, K, want_t ? T : NULL, K,
                                       want_t ? T : NULL)))
                return st;
            ++off;
            continue;
        }
        if (ly->kind == ENTK_LAYER_S2LIFT) {
            /* kappa_1 = (1/(4 pi C)) sum_c sum_l sum_mn a_c,lm a'_c,ln Delta^l_mn (before sw^2, sb^2) */
            const double s = 1.0 / (4.0 * ENTK__PI * (double)p->C);
            const size_t q = (size_t)p->lout * (size_t)p->lout;
            size_t ch;
            int b, m, n;
            for (b = 0; b < p->lout; ++b) {
                double *blk = c + (size_t)b * (size_t)(4 * b * b - 1) / 3;
                const int w = 2 * b + 1;
                for (m = 0; m < w; ++m)
                    for (n = 0; n < w; ++n) {
                        double acc = 0;
                        for (ch = 0; ch < p->C; ++ch)
                            acc += a1[ch * q + (size_t)(b * b + m)] * a2[ch * q + (size_t)(b * b + n)];
                        blk[m * w + n] = s * acc;
                    }
            }
            /* the inputs are finite: a non-finite value here (or in a transform below) is an overflow */
            if (!entk__finite(c, entk_so3_packed_len(p->lout))) return ENTK_ERR_RANGE;
        } else { /* so3conv: the projection P_L of K (and Theta, T = K + G) on the grid before; K and T
                  * are finite (the map's outputs, checked by the analysis of their overflows) */
            if ((st = entk__so3_fft_n(kt, &p->an[l], K, want_t ? 2 : 1, c, tw))) return st;
        }
        if (nl && rec) { /* self mode: the diagonal K_xx(I) entering the nonlinearity, by the layer's affine step */
            double d = entk__so3_at_identity(c, p->syn[l].L);
            kt->affine(&d, NULL, 1, cw, b2);
            rec[p->ncoef + off] = d;
            e1 = e2 = rec + p->ncoef;
        }
        cur = &p->syn[l];
        G = entk__so3_gpoints(cur->B);
        T = K + G;
        /* c (and Theta's coefficients after it) are finite: checked above, or by the analysis */
        if ((st = entk__so3_ifft_n(kt, cur, c, want_t && ly->kind == ENTK_LAYER_SO3CONV ? 2 : 1, K, tw)))
            return st;
        if ((st = entk__layer_out(kt, K, want_t ? T : NULL, 1, G, cw, b2, ly->kind == ENTK_LAYER_S2LIFT,
                                  nl ? &nl->nl : NULL, nl ? e1 + off : NULL, 0, nl ? e2 + off : NULL, 0)))
            return st;
        if (nl) {
            ++off;
            ++l;
        }
    }
    /* so3pool: the l = 0 coefficient, the Driscoll-Healy mean over the grid */
    *kout = entk__so3_mean(cur, K);
    *tout = want_t ? entk__so3_mean(cur, T) : 0;
    if (rec) {
        rec[p->ncoef + off] = *kout;
        rec[p->ncoef + off + 1] = *tout;
        /* the diagonals bound every pair value (Cauchy-Schwarz): a pair overflows only where these do */
        if (!entk__finite(rec + p->ncoef, off + 2)) return ENTK_ERR_RANGE;
    } else if (!entk__finite(kout, 1) || !entk__finite(tout, 1)) {
        return ENTK_ERR_RANGE;
    }
    return ENTK_OK;
}

/* ---- the domain of the generic Gram driver (entk.h 9.5.3) ---- */

static entk_status entk__so3_dom_self(const void *plan, const double *x, int want_t, double *rec, double *work,
                                      void *cache) {
    const entk__so3_net *p = (const entk__so3_net *)plan;
    const size_t q = (size_t)p->lout * (size_t)p->lout, cell = (size_t)(2 * p->Lin) * (size_t)(2 * p->Lin - 1);
    double k, t;
    entk_status st;
    size_t ch;
    ENTK__UNUSED(cache);
    for (ch = 0; ch < p->C; ++ch) /* the input's coefficients of degree < Lout (exact for band-limited inputs) */
        if ((st = entk_so3_plan_sht(&p->an[0], x + ch * cell, rec + ch * q, work))) return entk__so3_overflow(st);
    return entk__so3_run(p, rec, rec, NULL, NULL, rec, want_t, work, &k, &t);
}

static entk_status entk__so3_dom_pair(const void *plan, const double *x1, const double *r1, const double *x2,
                                      const double *r2, int want_t, double *work, void *cache, double *k, double *t) {
    const entk__so3_net *p = (const entk__so3_net *)plan;
    const double *s1 = r1 + p->ncoef, *s2 = r2 + p->ncoef;
    double k11 = s1[p->nself], t11 = s1[p->nself + 1], k22 = s2[p->nself], t22 = s2[p->nself + 1];
    entk_status st;
    ENTK__UNUSED(x1);
    ENTK__UNUSED(x2);
    ENTK__UNUSED(cache);
    if ((st = entk__so3_run(p, r1, r2, s1, s2, NULL, want_t, work, k, t))) return st;
    /* the scalar layers after so3pool */
    return entk__scalar_chain(p->kt, p->a->layer + p->red + 1, p->a->n_layers - p->red - 1, &k11, &t11, &k22, &t22, k,
                              t);
}

static void entk__so3_domain(const entk__so3_net *p, entk__domain *dom) {
    memset(dom, 0, sizeof *dom);
    dom->in_len = p->in_len;
    dom->self_len = p->self_len;
    dom->work_len = p->work_len;
    dom->self = entk__so3_dom_self;
    dom->pair = entk__so3_dom_pair;
}

/* Argument checks shared by the public functions: n inputs of len doubles each, finite. */
static entk_status entk__so3_inputs(const double *x, size_t n, size_t len) {
    size_t cnt;
    entk_status st;
    if (n == 0) return ENTK_OK;
    if (!x) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__mul(n, len, &cnt))) return st;
    return entk__check_finite(x, cnt);
}

ENTKDEF entk_status entk_so3_check_shape(const entk_arch *arch, size_t C, int L, char *err, size_t errlen) {
    entk__so3_net p;
    entk_status st = entk__so3_net_make(arch, C, L, &p, err, errlen);
    if (!st) entk__so3_net_free(&p);
    return st;
}

ENTKDEF entk_status entk_so3_kernel(const entk_arch *arch, const double *x1, size_t n1, const double *x2, size_t n2,
                                    size_t C, int L, double *nngp, size_t ldk, double *ntk, size_t ldt, int threads) {
    entk__so3_net p;
    entk__domain dom;
    entk_status st;
    const int sym = x2 == NULL;
    if ((st = entk__so3_net_make(arch, C, L, &p, NULL, 0))) return st;
    if (sym) { x2 = x1; n2 = n1; }
    if (n1 == 0 || n2 == 0) goto done;
    if (!nngp && !ntk) st = ENTK_ERR_INVALID_ARG;
    else if ((nngp && ldk < n2) || (ntk && ldt < n2)) st = ENTK_ERR_INVALID_ARG;
    else if (!(st = entk__so3_inputs(x1, n1, p.in_len)) && (sym || !(st = entk__so3_inputs(x2, n2, p.in_len)))) {
        entk__so3_domain(&p, &dom);
        st = entk__gram(&dom, &p, x1, n1, 1, sym ? NULL : x2, n2, 1, ENTK__AGG_MEAN, nngp, ldk, ntk, ldt, threads);
    }
done:
    entk__so3_net_free(&p);
    return st;
}

ENTKDEF entk_status entk_so3_diag(const entk_arch *arch, const double *x, size_t n, size_t C, int L,
                                  double *nngp_diag, double *ntk_diag, int threads) {
    entk__so3_net p;
    entk__domain dom;
    entk_status st;
    if ((st = entk__so3_net_make(arch, C, L, &p, NULL, 0))) return st;
    if (n && (nngp_diag || ntk_diag) && !(st = entk__so3_inputs(x, n, p.in_len))) {
        entk__so3_domain(&p, &dom);
        st = entk__gram_diag(&dom, &p, x, n, 1, NULL, 0, ENTK__AGG_MEAN, nngp_diag, ntk_diag, threads);
    }
    entk__so3_net_free(&p);
    return st;
}

/* ---- molecules: atom networks summed over atom pairs (ENTK__AGG_SUM skips all-zero atoms) ---- */

/* The atom network of a molecule architecture (everything before atomsum) with its domain: an SO(3)
 * plan in *so3 or an MLP job in *mlp; *atom is the copy of the layers the plan points to. */
static entk_status entk__so3_molecule_make(const entk_arch *arch, size_t A, size_t C, size_t H, size_t W,
                                           entk_arch *atom, entk__so3_net *so3, entk__mlp_job *mlp,
                                           entk__domain *dom, char *err, size_t errlen) {
    entk__arch_info in;
    size_t chw[3], d;
    entk_status st;
    memset(so3, 0, sizeof *so3);
    chw[0] = C;
    chw[1] = H;
    chw[2] = W;
    if ((st = entk__arch_scan(entk__kt(), arch, ENTK_DOMAIN_MOLECULE, NULL, err, errlen, &in))) return st;
    if (A == 0 || C == 0 || H == 0 || W == 0) {
        if (err && errlen) snprintf(err, errlen, "empty molecules (%zu atoms of %zu x %zu x %zu)", A, C, H, W);
        return ENTK_ERR_SHAPE;
    }
    *atom = *arch;
    atom->n_layers = arch->n_layers - 1;
    if (in.atom == ENTK_DOMAIN_SO3) {
        if (H % 2 != 0 || W + 1 != H || H / 2 > ENTK_SO3_MAX_BAND) {
            if (err && errlen)
                snprintf(err, errlen, "an SO(3) atom network needs atoms of C x 2L x (2L - 1) samples, not %zu x %zu x "
                         "%zu", C, H, W);
            return ENTK_ERR_SHAPE;
        }
        if ((st = entk__so3_net_make(atom, C, (int)(H / 2), so3, err, errlen))) return st;
        entk__so3_domain(so3, dom);
        return ENTK_OK;
    }
    if ((st = entk__mul(C, H, &d)) || (st = entk__mul(d, W, &d))) return st;
    mlp->a = atom;
    mlp->d = d;
    entk__mlp_domain(mlp, dom);
    (void)chw;
    return ENTK_OK;
}

ENTKDEF entk_status entk_so3_molecule_check_shape(const entk_arch *arch, size_t A, size_t C, size_t H, size_t W,
                                                  char *err, size_t errlen) {
    entk_arch atom;
    entk__so3_net so3;
    entk__mlp_job mlp;
    entk__domain dom;
    entk_status st = entk__so3_molecule_make(arch, A, C, H, W, &atom, &so3, &mlp, &dom, err, errlen);
    entk__so3_net_free(&so3);
    return st;
}

ENTKDEF entk_status entk_so3_molecule_kernel(const entk_arch *arch, const double *x1, size_t n1, size_t A,
                                             const double *x2, size_t n2, size_t A2, size_t C, size_t H, size_t W,
                                             double *nngp, size_t ldk, double *ntk, size_t ldt, int threads) {
    entk_arch atom;
    entk__so3_net so3;
    entk__mlp_job mlp;
    entk__domain dom;
    entk_status st;
    const int sym = x2 == NULL;
    size_t len;
    if ((st = entk__so3_molecule_make(arch, A, C, H, W, &atom, &so3, &mlp, &dom, NULL, 0))) goto done;
    if (sym) { x2 = x1; n2 = n1; A2 = A; }
    if (n1 == 0 || n2 == 0) goto done;
    if (A2 == 0) st = ENTK_ERR_SHAPE;
    else if (!nngp && !ntk) st = ENTK_ERR_INVALID_ARG;
    else if ((nngp && ldk < n2) || (ntk && ldt < n2)) st = ENTK_ERR_INVALID_ARG;
    else if ((st = entk__mul(A, dom.in_len, &len)) || (st = entk__so3_inputs(x1, n1, len))) {
    } else if ((st = entk__mul(A2, dom.in_len, &len)) || (!sym && (st = entk__so3_inputs(x2, n2, len)))) {
    } else {
        st = entk__gram(&dom, dom.pair == entk__so3_dom_pair ? (const void *)&so3 : (const void *)&mlp, x1, n1, A,
                        sym ? NULL : x2, n2, A2, ENTK__AGG_SUM, nngp, ldk, ntk, ldt, threads);
    }
done:
    entk__so3_net_free(&so3);
    return st;
}

ENTKDEF entk_status entk_so3_molecule_diag(const entk_arch *arch, const double *x, size_t n, size_t A, size_t C,
                                           size_t H, size_t W, double *nngp_diag, double *ntk_diag, int threads) {
    entk_arch atom;
    entk__so3_net so3;
    entk__mlp_job mlp;
    entk__domain dom;
    entk_status st;
    size_t len;
    if ((st = entk__so3_molecule_make(arch, A, C, H, W, &atom, &so3, &mlp, &dom, NULL, 0))) goto done;
    if (n && (nngp_diag || ntk_diag) && !(st = entk__mul(A, dom.in_len, &len)) &&
        !(st = entk__so3_inputs(x, n, len)))
        st = entk__gram_diag(&dom, dom.pair == entk__so3_dom_pair ? (const void *)&so3 : (const void *)&mlp, x, n, A,
                             NULL, 0, ENTK__AGG_SUM, nngp_diag, ntk_diag, threads);
done:
    entk__so3_net_free(&so3);
    return st;
}

/* ============================================================================================== */
/* 2.10 The XYZ reader                                                                            */
/* ============================================================================================== */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h> /* fopen/fread and vsnprintf: the library never prints */
#include <string.h>

#ifndef ENTK_SO3_XYZ_MAX_BYTES
#define ENTK_SO3_XYZ_MAX_BYTES ((size_t)1 << 30)
#endif
#define ENTK__SO3_XYZ_MAX_COORD 1e6 /* Angstrom */
#define ENTK__SO3_XYZ_MIN_DIST 0.1  /* Angstrom: closer atoms are coincident */
#define ENTK__SO3_XYZ_SHOW 32       /* bytes of echoed text */

static const int entk__so3_xyz_z[ENTK_SO3_N_ELEMENTS] = {1, 6, 7, 8, 9};
static const char entk__so3_xyz_sym[ENTK_SO3_N_ELEMENTS] = {'H', 'C', 'N', 'O', 'F'};

/* The element index 0..4 of atomic number z, or -1. */
static int entk__so3_xyz_elem(int z) {
    int e;
    for (e = 0; e < ENTK_SO3_N_ELEMENTS; ++e)
        if (entk__so3_xyz_z[e] == z) return e;
    return -1;
}

/* Text echoed into a message: at most ENTK__SO3_XYZ_SHOW bytes, printable ASCII, others as '?'. */
static const char *entk__so3_xyz_show(const char *s, size_t n, char *out) {
    size_t i, m = n > ENTK__SO3_XYZ_SHOW ? ENTK__SO3_XYZ_SHOW : n;
    for (i = 0; i < m; ++i) out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (m < n) out[m++] = '.', out[m++] = '.', out[m++] = '.';
    out[m] = 0;
    return out;
}

static int entk__so3_xyz_ws(char c) { return c == ' ' || c == '\t'; }

/* The lines of the text: s[0..n) is the current line without its LF (and one CR before it). */
typedef struct entk__so3_xyz_cur {
    const char *p, *end;
    const char *s;
    size_t n, line;
} entk__so3_xyz_cur;

static int entk__so3_xyz_next(entk__so3_xyz_cur *c) {
    const char *nl;
    if (c->p >= c->end) return 0;
    nl = (const char *)memchr(c->p, '\n', (size_t)(c->end - c->p));
    c->s = c->p;
    c->n = (size_t)((nl ? nl : c->end) - c->p);
    c->p = nl ? nl + 1 : c->end;
    if (c->n && c->s[c->n - 1] == '\r') --c->n;
    ++c->line;
    return 1;
}

static int entk__so3_xyz_blank(const char *s, size_t n) {
    size_t i;
    for (i = 0; i < n; ++i)
        if (!entk__so3_xyz_ws(s[i])) return 0;
    return 1;
}

/* The next whitespace-separated token of s[*i..n) into (*t, *tn); 0 at the end of the line. */
static int entk__so3_xyz_token(const char *s, size_t n, size_t *i, const char **t, size_t *tn) {
    size_t j;
    while (*i < n && entk__so3_xyz_ws(s[*i])) ++*i;
    if (*i >= n) return 0;
    j = *i;
    while (*i < n && !entk__so3_xyz_ws(s[*i])) ++*i;
    *t = s + j;
    *tn = *i - j;
    return 1;
}

/* A number token: 0 ok, 1 not a number, 2 not finite (NaN, Inf, overflow). */
static int entk__so3_xyz_number(const char *t, size_t n, double *v) {
    char buf[128], *end;
    if (n == 0 || n >= sizeof buf || strchr(" \t\n\v\f\r", t[0])) return 1;
    memcpy(buf, t, n);
    buf[n] = 0;
    *v = strtod(buf, &end);
    if (end != buf + n) return 1;
    return (*v - *v == 0.0) ? 0 : 2;
}

/* Reallocate *p from `used` to `cap` elements of `size` bytes (cap * size fits: the caller checked). */
static int entk__so3_xyz_resize(void **p, size_t used, size_t cap, size_t size) {
    void *q = ENTK_MALLOC(cap * size);
    if (!q) return 0;
    if (used) memcpy(q, *p, used * size);
    ENTK_FREE(*p);
    *p = q;
    return 1;
}

ENTKDEF void entk_so3_molecules_free(entk_so3_molecules *m) {
    if (!m) return;
    ENTK_FREE(m->count);
    ENTK_FREE(m->first);
    ENTK_FREE(m->line);
    ENTK_FREE(m->z);
    ENTK_FREE(m->xyz);
    ENTK_FREE(m->energy);
    memset(m, 0, sizeof *m);
}

/* Room for one more molecule of `atoms` atoms (the arrays grow by doubling). */
static entk_status entk__so3_xyz_room(entk_so3_molecules *m, size_t *mcap, size_t *acap, size_t atoms) {
    if (m->n == *mcap) {
        size_t c = *mcap ? *mcap * 2 : 16;
        if (c > SIZE_MAX / (3 * sizeof(double))) return ENTK_ERR_OVERFLOW;
        if (!entk__so3_xyz_resize((void **)&m->count, m->n, c, sizeof *m->count) ||
            !entk__so3_xyz_resize((void **)&m->first, m->n, c, sizeof *m->first) ||
            !entk__so3_xyz_resize((void **)&m->line, m->n, c, sizeof *m->line) ||
            !entk__so3_xyz_resize((void **)&m->energy, m->n, c, sizeof *m->energy))
            return ENTK_ERR_NOMEM;
        *mcap = c;
    }
    if (m->atoms + atoms > *acap) {
        size_t c = *acap ? *acap : 64;
        while (c < m->atoms + atoms) {
            if (c > SIZE_MAX / (6 * sizeof(double))) return ENTK_ERR_OVERFLOW;
            c *= 2;
        }
        if (!entk__so3_xyz_resize((void **)&m->z, m->atoms, c, sizeof *m->z) ||
            !entk__so3_xyz_resize((void **)&m->xyz, 3 * m->atoms, 3 * c, sizeof *m->xyz))
            return ENTK_ERR_NOMEM;
        *acap = c;
    }
    return ENTK_OK;
}

/* The comment line: energy= exactly once (see THE XYZ FILES). */
static entk_status entk__so3_xyz_comment(const char *s, size_t n, size_t line, double *energy, char *err,
                                         size_t errlen) {
    char sh[ENTK__SO3_XYZ_SHOW + 4];
    size_t i = 0;
    int have = 0;
    while (i < n) {
        size_t k0, kn, v0, vn;
        while (i < n && entk__so3_xyz_ws(s[i])) ++i;
        if (i >= n) break;
        k0 = i;
        while (i < n && !entk__so3_xyz_ws(s[i]) && s[i] != '=') ++i;
        kn = i - k0;
        if (i >= n || s[i] != '=') continue; /* a word without '=' */
        ++i;
        if (i < n && s[i] == '"') {
            v0 = ++i;
            while (i < n && s[i] != '"') ++i;
            if (i >= n)
                return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                          "line %zu: unterminated quote in the value of '%s'", line,
                                          entk__so3_xyz_show(s + k0, kn, sh));
            vn = i - v0;
            ++i;
        } else {
            v0 = i;
            while (i < n && !entk__so3_xyz_ws(s[i])) ++i;
            vn = i - v0;
        }
        if (kn == 6 && memcmp(s + k0, "energy", 6) == 0) {
            int r;
            if (have)
                return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                          "line %zu: energy= given twice on the comment line", line);
            if (vn == 0)
                return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG, "line %zu: energy= has no value",
                                          line);
            r = entk__so3_xyz_number(s + v0, vn, energy);
            if (r)
                return entk__fail(err, errlen, r == 2 ? ENTK_ERR_NONFINITE : ENTK_ERR_INVALID_ARG,
                                          "line %zu: energy '%s' is %s", line,
                                          entk__so3_xyz_show(s + v0, vn, sh), r == 2 ? "not finite" : "not a number");
            have = 1;
        }
    }
    if (!have)
        return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                  "line %zu: no energy= on the comment line (energy=<Hartree> is required)", line);
    return ENTK_OK;
}

/* Atom line: El x y z [ignored columns]; *e the element index, xyz[0..3) the coordinates. */
static entk_status entk__so3_xyz_atom(const char *s, size_t n, size_t line, int *e, double *xyz, char *err,
                                      size_t errlen) {
    char sh[ENTK__SO3_XYZ_SHOW + 4];
    const char *t, *el;
    size_t i = 0, tn, eln;
    int k;
    if (!entk__so3_xyz_token(s, n, &i, &el, &eln))
        return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                  "line %zu: expected an atom line 'El x y z', got a blank line", line);
    for (*e = 0; *e < ENTK_SO3_N_ELEMENTS; ++*e)
        if (eln == 1 && el[0] == entk__so3_xyz_sym[*e]) break;
    if (*e == ENTK_SO3_N_ELEMENTS)
        return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG, "line %zu: unknown element '%s' (H, C, N, O, F)",
                                  line, entk__so3_xyz_show(el, eln, sh));
    for (k = 0; k < 3; ++k) {
        int r;
        if (!entk__so3_xyz_token(s, n, &i, &t, &tn))
            return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                      "line %zu: expected 3 coordinates after '%c', got %d", line,
                                      entk__so3_xyz_sym[*e], k);
        r = entk__so3_xyz_number(t, tn, &xyz[k]);
        if (r)
            return entk__fail(err, errlen, r == 2 ? ENTK_ERR_NONFINITE : ENTK_ERR_INVALID_ARG,
                                      "line %zu: coordinate '%s' is %s", line, entk__so3_xyz_show(t, tn, sh),
                                      r == 2 ? "not finite" : "not a number");
        if (fabs(xyz[k]) > ENTK__SO3_XYZ_MAX_COORD)
            return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                      "line %zu: coordinate '%s' is beyond +-1e6 Angstrom", line,
                                      entk__so3_xyz_show(t, tn, sh));
    }
    return ENTK_OK;
}

/* The first pair of atoms of a molecule closer than the minimum distance: 1 and (*a < *b), else 0. */
static int entk__so3_xyz_close(const double *xyz, size_t count, size_t *a, size_t *b, double *d) {
    size_t i, j;
    for (j = 1; j < count; ++j)
        for (i = 0; i < j; ++i) {
            double dx = xyz[3 * j] - xyz[3 * i], dy = xyz[3 * j + 1] - xyz[3 * i + 1],
                   dz = xyz[3 * j + 2] - xyz[3 * i + 2];
            *d = sqrt(dx * dx + dy * dy + dz * dz);
            if (!(*d >= ENTK__SO3_XYZ_MIN_DIST)) {
                *a = i;
                *b = j;
                return 1;
            }
        }
    return 0;
}

/* The atom count line: digits only (blanks around them); 0 and counts above the limit are refused. */
static entk_status entk__so3_xyz_count(const entk__so3_xyz_cur *c, size_t *count, char *err, size_t errlen) {
    char sh[ENTK__SO3_XYZ_SHOW + 4];
    size_t i = 0, n = c->n, v = 0, digits = 0;
    const char *s = c->s;
    while (i < n && entk__so3_xyz_ws(s[i])) ++i;
    while (n > i && entk__so3_xyz_ws(s[n - 1])) --n;
    for (; i + digits < n && s[i + digits] >= '0' && s[i + digits] <= '9'; ++digits)
        if (v <= ENTK_SO3_XYZ_MAX_ATOMS) v = v * 10 + (size_t)(s[i + digits] - '0');
    if (digits == 0 || i + digits != n) {
        int e;
        for (e = 0; e < ENTK_SO3_N_ELEMENTS; ++e)
            if (n > i + 1 && s[i] == entk__so3_xyz_sym[e] && entk__so3_xyz_ws(s[i + 1])) break;
        return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                  "line %zu: expected an atom count (a positive integer), got '%s'%s", c->line,
                                  entk__so3_xyz_show(s + i, n - i, sh),
                                  e < ENTK_SO3_N_ELEMENTS ? " (an atom line: more atoms than the count above?)" : "");
    }
    if (v == 0)
        return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                  "line %zu: atom count 0 (a molecule has at least 1 atom)", c->line);
    if (v > ENTK_SO3_XYZ_MAX_ATOMS)
        return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                  "line %zu: atom count '%s' is above the limit %d (ENTK_SO3_XYZ_MAX_ATOMS)", c->line,
                                  entk__so3_xyz_show(s + i, n - i, sh), ENTK_SO3_XYZ_MAX_ATOMS);
    *count = v;
    return ENTK_OK;
}

ENTKDEF entk_status entk_so3_xyz_parse(const char *text, size_t len, entk_so3_molecules *out, char *err,
                                       size_t errlen) {
    entk_so3_molecules m;
    entk__so3_xyz_cur c;
    entk_status st = ENTK_OK;
    size_t mcap = 0, acap = 0;
    const char *nul;
    if (out) memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = 0;
    if (!out || (!text && len)) return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG, "NULL argument");
    if (len && (nul = (const char *)memchr(text, 0, len)) != NULL) {
        size_t line = 1;
        const char *p;
        for (p = text; p < nul; ++p) line += *p == '\n';
        return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG, "line %zu: NUL byte (not a text file)", line);
    }
    memset(&m, 0, sizeof m);
    memset(&c, 0, sizeof c);
    c.p = text;
    c.end = text + len;
    while (entk__so3_xyz_next(&c)) {
        size_t count = 0, at, a = 0, b = 0, head;
        double d = 0, energy = 0;
        if (entk__so3_xyz_blank(c.s, c.n)) { /* the rest must be blank */
            size_t bl = c.line;
            while (entk__so3_xyz_next(&c))
                if (!entk__so3_xyz_blank(c.s, c.n)) {
                    st = entk__fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                            "line %zu: blank line %s the molecule at line %zu (blank lines are "
                                            "allowed only at the end of the file)",
                                            bl, m.n ? "between molecules, before" : "before", c.line);
                    goto fail;
                }
            break;
        }
        if ((st = entk__so3_xyz_count(&c, &count, err, errlen))) goto fail;
        head = c.line;
        if (!entk__so3_xyz_next(&c)) {
            st = entk__fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                    "line %zu: the file ends before the comment line of the molecule at line %zu",
                                    head + 1, head);
            goto fail;
        }
        if ((st = entk__so3_xyz_comment(c.s, c.n, c.line, &energy, err, errlen))) goto fail;
        if ((st = entk__so3_xyz_room(&m, &mcap, &acap, count))) goto fail;
        for (at = 0; at < count; ++at) {
            int e = 0;
            if (!entk__so3_xyz_next(&c)) {
                st = entk__fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                        "line %zu: the file ends after %zu of the %zu atoms of the molecule at line %zu",
                                        c.line + 1, at, count, head);
                goto fail;
            }
            if ((st = entk__so3_xyz_atom(c.s, c.n, c.line, &e, m.xyz + 3 * (m.atoms + at), err, errlen))) goto fail;
            m.z[m.atoms + at] = entk__so3_xyz_z[e];
        }
        if (entk__so3_xyz_close(m.xyz + 3 * m.atoms, count, &a, &b, &d)) {
            st = entk__fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                    "line %zu: atom %zu is %.3g Angstrom from atom %zu (line %zu): atoms closer than "
                                    "0.1 Angstrom are coincident (the features divide by the distance)",
                                    head + 2 + b, b + 1, d, a + 1, head + 2 + a);
            goto fail;
        }
        m.count[m.n] = count;
        m.first[m.n] = m.atoms;
        m.line[m.n] = head;
        m.energy[m.n] = energy;
        if (count > m.max_atoms) m.max_atoms = count;
        m.atoms += count;
        ++m.n;
    }
    if (m.n == 0) {
        st = entk__fail(err, errlen, ENTK_ERR_INVALID_ARG, "no molecules: the file is %s",
                                len ? "blank" : "empty");
        goto fail;
    }
    *out = m;
    return ENTK_OK;
fail:
    if (st == ENTK_ERR_NOMEM) st = entk__fail(err, errlen, st, "out of memory at line %zu", c.line);
    if (st == ENTK_ERR_OVERFLOW) st = entk__fail(err, errlen, st, "too many atoms at line %zu", c.line);
    entk_so3_molecules_free(&m);
    return st;
}

ENTKDEF entk_status entk_so3_xyz_read_file(const char *path, entk_so3_molecules *out, char *err, size_t errlen) {
    FILE *f;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    entk_status st = ENTK_OK;
    if (out) memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = 0;
    if (!path || !out) return entk__fail(err, errlen, ENTK_ERR_INVALID_ARG, "NULL argument");
    f = fopen(path, "rb");
    if (!f) return entk__fail(err, errlen, ENTK_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    for (;;) { /* read in blocks, doubling the buffer; stop at a NUL byte or beyond the limit */
        size_t got;
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb;
            if (cap > ENTK_SO3_XYZ_MAX_BYTES) {
                st = entk__fail(err, errlen, ENTK_ERR_INVALID_ARG, "'%s' is larger than %zu bytes", path,
                                        (size_t)ENTK_SO3_XYZ_MAX_BYTES);
                break;
            }
            if (ncap > ENTK_SO3_XYZ_MAX_BYTES + 1) ncap = ENTK_SO3_XYZ_MAX_BYTES + 1;
            nb = (char *)ENTK_MALLOC(ncap);
            if (!nb) {
                st = entk__fail(err, errlen, ENTK_ERR_NOMEM, "'%s' is too large for memory (%zu bytes read)",
                                        path, len);
                break;
            }
            if (len) memcpy(nb, buf, len);
            ENTK_FREE(buf);
            buf = nb;
            cap = ncap;
        }
        got = fread(buf + len, 1, cap - len, f);
        if (got && memchr(buf + len, 0, got)) {
            len += got;
            break; /* the parser names the line of the NUL */
        }
        len += got;
        if (len > ENTK_SO3_XYZ_MAX_BYTES) continue; /* refused at the next turn */
        if (len < cap) {
            if (ferror(f)) {
                const int e = errno;
                st = entk__fail(err, errlen, ENTK_ERR_IO, "cannot read '%s': %s", path, strerror(e));
            }
            break;
        }
    }
    fclose(f);
    if (st == ENTK_OK) st = entk_so3_xyz_parse(buf, len, out, err, errlen);
    ENTK_FREE(buf);
    return st;
}

/* ============================================================================================== */
/* 2.11 The features                                                                              */
/* ============================================================================================== */

static double entk__so3_feat_ipow(double x, int n) { /* x^n, n >= 0, by squaring */
    double r = 1.0;
    while (n) {
        if (n & 1) r *= x;
        n >>= 1;
        if (n) x *= x;
    }
    return r;
}

static const int entk__so3_feat_default_powers[2] = {1, 2};

/* The powers to use (the default for NULL/0); INVALID_ARG if they break the rules. */
static entk_status entk__so3_feat_powers(const int **powers, int *np) {
    int i, j;
    if (!*powers && *np == 0) {
        *powers = entk__so3_feat_default_powers;
        *np = 2;
        return ENTK_OK;
    }
    if (!*powers || *np < 1 || *np > ENTK_SO3_FEAT_MAX_POWERS) return ENTK_ERR_INVALID_ARG;
    for (i = 0; i < *np; ++i) {
        if ((*powers)[i] < 1 || (*powers)[i] > ENTK_SO3_FEAT_MAX_POWER) return ENTK_ERR_INVALID_ARG;
        for (j = 0; j < i; ++j)
            if ((*powers)[j] == (*powers)[i]) return ENTK_ERR_INVALID_ARG;
    }
    return ENTK_OK;
}

ENTKDEF entk_status entk_so3_featurize_size(const entk_so3_molecules *m, int L, int npowers, size_t *channels,
                                            size_t *len) {
    size_t c, n;
    if (!m || L < 1 || L > ENTK_SO3_FEAT_MAX_L || npowers < 0 || npowers > ENTK_SO3_FEAT_MAX_POWERS)
        return ENTK_ERR_INVALID_ARG;
    c = (size_t)ENTK_SO3_N_ELEMENTS * (size_t)(1 + (npowers ? npowers : 2));
    if (entk__mul(m->n, m->max_atoms, &n) || entk__mul(n, c, &n) || entk__mul(n, (size_t)(2 * L), &n) ||
        entk__mul(n, (size_t)(2 * L - 1), &n) || n > SIZE_MAX / sizeof(double))
        return ENTK_ERR_OVERFLOW; /* the bytes of the output must fit size_t too */
    if (channels) *channels = c;
    if (len) *len = n;
    return ENTK_OK;
}

/* Molecule i of m follows the reader's rules. */
static entk_status entk__so3_feat_check_mol(const entk_so3_molecules *m, size_t i) {
    size_t c = m->count[i], f = m->first[i], a, b, k;
    double d;
    if (c < 1 || c > m->max_atoms || f > m->atoms || c > m->atoms - f) return ENTK_ERR_INVALID_ARG;
    for (a = f; a < f + c; ++a) {
        if (entk__so3_xyz_elem(m->z[a]) < 0) return ENTK_ERR_INVALID_ARG;
        for (k = 0; k < 3; ++k) {
            if (m->xyz[3 * a + k] - m->xyz[3 * a + k] != 0.0) return ENTK_ERR_NONFINITE;
            if (fabs(m->xyz[3 * a + k]) > ENTK__SO3_XYZ_MAX_COORD) return ENTK_ERR_INVALID_ARG;
        }
    }
    return entk__so3_xyz_close(m->xyz + 3 * f, c, &a, &b, &d) ? ENTK_ERR_INVALID_ARG : ENTK_OK;
}

static entk_status entk__so3_feat_check(const entk_so3_molecules *m) {
    size_t i;
    entk_status st;
    if (m->n && (!m->count || !m->first || !m->z || !m->xyz)) return ENTK_ERR_INVALID_ARG;
    for (i = 0; i < m->n; ++i)
        if ((st = entk__so3_feat_check_mol(m, i))) return st;
    return ENTK_OK;
}

/* Atom a's neighbours in molecule i: for each other atom b (in order) its element nb_e[b'], unit
 * direction nb_u[3 b'] and the coefficients nb_c[b' P + t] = Z_a Z_b |r_ab|^-p_t. Returns their count. */
static size_t entk__so3_feat_neigh(const entk_so3_molecules *m, size_t i, size_t a, const int *powers, int np,
                                   int *nb_e, double *nb_u, double *nb_c) {
    const size_t f = m->first[i], c = m->count[i];
    const double *ra = m->xyz + 3 * (f + a);
    size_t b, k = 0;
    int t;
    for (b = 0; b < c; ++b) {
        const double *rb = m->xyz + 3 * (f + b);
        double dx, dy, dz, d, zz;
        if (b == a) continue;
        dx = rb[0] - ra[0];
        dy = rb[1] - ra[1];
        dz = rb[2] - ra[2];
        d = sqrt(dx * dx + dy * dy + dz * dz);
        nb_e[k] = entk__so3_xyz_elem(m->z[f + b]);
        nb_u[3 * k] = dx / d;
        nb_u[3 * k + 1] = dy / d;
        nb_u[3 * k + 2] = dz / d;
        zz = (double)m->z[f + a] * (double)m->z[f + b];
        for (t = 0; t < np; ++t) nb_c[k * (size_t)np + (size_t)t] = zz / entk__so3_feat_ipow(d, powers[t]);
        ++k;
    }
    return k;
}

/* The C channels at the unit direction n (one-hot of element ea, then the sums over the neighbours). */
static void entk__so3_feat_eval(size_t nb, const int *nb_e, const double *nb_u, const double *nb_c, int ea, int np,
                                int L, const double *n, double *out) {
    const int C = ENTK_SO3_N_ELEMENTS * (1 + np);
    size_t b;
    int c, t;
    for (c = 0; c < C; ++c) out[c] = 0.0;
    out[ea] = 1.0;
    for (b = 0; b < nb; ++b) {
        double cs = n[0] * nb_u[3 * b] + n[1] * nb_u[3 * b + 1] + n[2] * nb_u[3 * b + 2], w;
        double *o = out + ENTK_SO3_N_ELEMENTS + nb_e[b] * np;
        if (cs > 1.0) cs = 1.0;
        if (cs < -1.0) cs = -1.0;
        w = entk__so3_feat_ipow(0.5 + 0.5 * cs, L - 1);
        for (t = 0; t < np; ++t) o[t] += nb_c[b * (size_t)np + (size_t)t] * w;
    }
}

/* Scratch for the neighbours of one atom of molecules with at most A atoms. */
static entk_status entk__so3_feat_scratch(size_t A, int np, int **nb_e, double **nb_u, double **nb_c) {
    const size_t A1 = A ? A : 1;
    size_t nu, nc;
    entk_status st;
    *nb_e = NULL;
    *nb_u = *nb_c = NULL;
    if (entk__mul(A1, 3, &nu) || entk__mul(A1, (size_t)np, &nc) || A1 > SIZE_MAX / sizeof(int))
        return ENTK_ERR_OVERFLOW;
    if ((st = entk__alloc_doubles(nu, nb_u)) || (st = entk__alloc_doubles(nc, nb_c))) return st;
    *nb_e = (int *)ENTK_MALLOC(A1 * sizeof(int));
    return *nb_e ? ENTK_OK : ENTK_ERR_NOMEM;
}

ENTKDEF entk_status entk_so3_featurize(const entk_so3_molecules *m, int L, const int *powers, int npowers,
                                       double *out, size_t out_len) {
    size_t C, len, G, i, a, j, k;
    const size_t nt = (size_t)(2 * L), np_ = (size_t)(2 * L - 1);
    double *st_ = NULL, *ct = NULL, *sp = NULL, *cp = NULL, *nb_u = NULL, *nb_c = NULL;
    double acc[ENTK_SO3_N_ELEMENTS * (1 + ENTK_SO3_FEAT_MAX_POWERS)];
    int *nb_e = NULL;
    entk_status st;
    if (!m) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__so3_feat_powers(&powers, &npowers))) return st;
    if ((st = entk_so3_featurize_size(m, L, npowers, &C, &len))) return st;
    if (out_len < len) return ENTK_ERR_SHAPE;
    if (len && !out) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__so3_feat_check(m))) return st;
    if (len == 0) return ENTK_OK;
    G = nt * np_;
    if ((st = entk__alloc_doubles(nt, &st_)) || (st = entk__alloc_doubles(nt, &ct)) ||
        (st = entk__alloc_doubles(np_, &sp)) || (st = entk__alloc_doubles(np_, &cp)) ||
        (st = entk__so3_feat_scratch(m->max_atoms, npowers, &nb_e, &nb_u, &nb_c)))
        goto done;
    for (j = 0; j < nt; ++j) {
        const double th = ENTK__PI * (double)(2 * j + 1) / (double)(4 * L);
        st_[j] = sin(th);
        ct[j] = cos(th);
    }
    for (k = 0; k < np_; ++k) {
        const double ph = 2.0 * ENTK__PI * (double)k / (double)np_;
        sp[k] = sin(ph);
        cp[k] = cos(ph);
    }
    memset(out, 0, len * sizeof *out);
    for (i = 0; i < m->n; ++i)
        for (a = 0; a < m->count[i]; ++a) {
            double *o = out + ((i * m->max_atoms + a) * C) * G;
            const int ea = entk__so3_xyz_elem(m->z[m->first[i] + a]);
            const size_t nb = entk__so3_feat_neigh(m, i, a, powers, npowers, nb_e, nb_u, nb_c);
            for (j = 0; j < nt; ++j)
                for (k = 0; k < np_; ++k) {
                    double n[3];
                    size_t c;
                    n[0] = st_[j] * cp[k];
                    n[1] = st_[j] * sp[k];
                    n[2] = ct[j];
                    entk__so3_feat_eval(nb, nb_e, nb_u, nb_c, ea, npowers, L, n, acc);
                    for (c = 0; c < C; ++c) o[c * G + j * np_ + k] = acc[c];
                }
        }
    if (!entk__finite(out, len)) st = ENTK_ERR_RANGE;
done:
    ENTK_FREE(st_);
    ENTK_FREE(ct);
    ENTK_FREE(sp);
    ENTK_FREE(cp);
    ENTK_FREE(nb_e);
    ENTK_FREE(nb_u);
    ENTK_FREE(nb_c);
    return st;
}

ENTKDEF entk_status entk_so3_featurize_atom(const entk_so3_molecules *m, size_t mol, size_t atom, int L,
                                            const int *powers, int npowers, const double dir[3], double *out) {
    size_t C, nb, c;
    double n[3], r;
    double *nb_u = NULL, *nb_c = NULL;
    int *nb_e = NULL;
    entk_status st;
    if (!m || !dir || !out) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__so3_feat_powers(&powers, &npowers))) return st;
    if ((st = entk_so3_featurize_size(m, L, npowers, &C, NULL))) return st;
    if (mol >= m->n || atom >= m->max_atoms || !m->count || !m->first || !m->z || !m->xyz) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__so3_feat_check_mol(m, mol))) return st;
    if (!entk__finite(dir, 3)) return ENTK_ERR_NONFINITE;
    r = sqrt(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]);
    if (!(r > 0.0) || r > DBL_MAX) return ENTK_ERR_INVALID_ARG;
    for (c = 0; c < 3; ++c) n[c] = dir[c] / r;
    if (atom >= m->count[mol]) {
        for (c = 0; c < C; ++c) out[c] = 0.0;
        return ENTK_OK;
    }
    if ((st = entk__so3_feat_scratch(m->count[mol], npowers, &nb_e, &nb_u, &nb_c))) goto done;
    nb = entk__so3_feat_neigh(m, mol, atom, powers, npowers, nb_e, nb_u, nb_c);
    entk__so3_feat_eval(nb, nb_e, nb_u, nb_c, entk__so3_xyz_elem(m->z[m->first[mol] + atom]), npowers, L, n, out);
    if (!entk__finite(out, C)) st = ENTK_ERR_RANGE;
done:
    ENTK_FREE(nb_e);
    ENTK_FREE(nb_u);
    ENTK_FREE(nb_c);
    return st;
}

ENTK__FP_END
#endif /* ENTK_IMPLEMENTATION && !ENTK_SO3_IMPLEMENTATION_DONE */

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
