/* Molecular energies: infinite-width kernel regression with the per-atom sum of an SO(3)-equivariant
 * atom network against the same sum over an MLP atom network (docs/conventions.md §1.5). Both see the
 * same per-atom spherical signals (entk_so3_featurize: element one-hots and neighbour sums on the
 * sphere); the conformers are randomly oriented, and only the SO(3) network is invariant to that.
 *
 *   bin/molecules [XYZ [N_MAX [N_TEST [L [CSV]]]]]
 *
 * XYZ the conformers (default data/molecules/conformers.xyz), N_MAX the largest training set (default
 * 800), N_TEST held-out conformers (default 200), L the band limit of the signals (default 4), CSV an
 * output file for the learning curves. The conformers are split by a fixed random permutation; the
 * training sets are nested. Targets: the energy minus a per-element linear fit on the training set
 * (in meV; the fit is added back, so the MAE is that of the total energy), standardised, NTK mean at
 * t = inf with a small relative regulariser.
 */
#define _POSIX_C_SOURCE 200809L
#define ENTK_IMPLEMENTATION
#include "entk_so3.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRAM "molecules"
#include "common.h"
#define HARTREE_MEV 27211.386245988 /* CODATA 2018: 1 Hartree in meV */
#define REPS 5                      /* random training subsets per training-set size */

/* s2lift's sw = 0.3 keeps the erf layers' variances near 0.1, where the default grid (B = L + 2) puts
 * the pooled kernels within 1e-7 of their B -> infinity limit (README.md). The MLP's first-layer sw is
 * chosen from mlp_sw by the validation MAE (the last fifth of the largest training set, trained on the
 * rest): the baseline gets its best scale. */
static const char *const so3_text = "s2lift(sw=0.3) erf so3conv erf so3pool dense atomsum";
static const char *const mlp_fmt = "dense(sw=%g) erf dense erf dense atomsum";
static const double mlp_sw[] = {0.3, 1, 3, 10};

/* One progress line on a terminal, rewritten in place (at most every 2 %). */
static void progress(void *user, size_t done, size_t total) {
    static size_t last;
    if (done != total && done * 50 / total == last * 50 / total && done > last) return;
    last = done;
    fprintf(stderr, "\r  %s: %zu / %zu rows%s", (const char *)user, done, total, done == total ? "\n" : "");
    fflush(stderr);
}

/* Solve the k x k system a x = b in place (Gaussian elimination with partial pivoting; k <= 5). */
static void solve_small(double *a, double *b, int k) {
    int i, j, r;
    for (i = 0; i < k; ++i) {
        int p = i;
        for (r = i + 1; r < k; ++r)
            if (fabs(a[r * k + i]) > fabs(a[p * k + i])) p = r;
        for (j = 0; j < k; ++j) {
            double t = a[i * k + j];
            a[i * k + j] = a[p * k + j];
            a[p * k + j] = t;
        }
        {
            double t = b[i];
            b[i] = b[p];
            b[p] = t;
        }
        for (r = i + 1; r < k; ++r) {
            const double f = a[r * k + i] / a[i * k + i];
            for (j = i; j < k; ++j) a[r * k + j] -= f * a[i * k + j];
            b[r] -= f * b[i];
        }
    }
    for (i = k - 1; i >= 0; --i) {
        for (j = i + 1; j < k; ++j) b[i] -= a[i * k + j] * b[j];
        b[i] /= a[i * k + i];
    }
}

/* Element index of atomic number z (H, C, N, O, F). */
static int element(int z) { return z == 1 ? 0 : z == 6 ? 1 : z == 7 ? 2 : z == 8 ? 3 : 4; }

/* Targets for training on the first n of the N conformers (perm: their indices in m, e: their
 * energies): yr[i] = (e[i] - the per-element linear fit on those n) in meV for all N, ys[0..n) the
 * training ones standardised with *mean, *scale. */
static void targets(const entk_so3_molecules *m, const size_t *perm, const double *e, size_t n, size_t N, double *yr,
                    double *ys, double *mean, double *scale) {
    double ata[25] = {0}, atb[5] = {0};
    size_t i, a;
    int u, v;
    entk_status st;
    for (i = 0; i < n; ++i) {
        double cnt[5] = {0};
        for (a = 0; a < m->count[perm[i]]; ++a) cnt[element(m->z[m->first[perm[i]] + a])] += 1;
        for (u = 0; u < 5; ++u) {
            for (v = 0; v < 5; ++v) ata[u * 5 + v] += cnt[u] * cnt[v];
            atb[u] += cnt[u] * e[i];
        }
    }
    for (u = 0; u < 5; ++u) ata[u * 6] += 1e-9 * (1 + ata[u * 6]); /* an element absent from the set */
    solve_small(ata, atb, 5);
    for (i = 0; i < N; ++i) {
        double base = 0;
        for (a = 0; a < m->count[perm[i]]; ++a) base += atb[element(m->z[m->first[perm[i]] + a])];
        yr[i] = (e[i] - base) * HARTREE_MEV;
    }
    if ((st = entk_targets_standardize(yr, n, 1, 1, ys, 1, mean, scale))) fail("targets", st, NULL);
}

/* NTK mean at t = inf on the first n rows/columns of the full Gram g (ld columns) for the m test rows
 * starting at row t0; y holds n standardised targets. */
static void predict(const double *g, size_t ld, size_t n, size_t t0, size_t m, const double *y, double *out) {
    entk_kernels kk;
    entk_predict_opts o = entk_predict_opts_default();
    entk_predict_info info;
    entk_status st;
    memset(&kk, 0, sizeof kk);
    kk.n = n;
    kk.m = m;
    kk.train = g;
    kk.ld_train = ld;
    kk.test_train = g + t0 * ld;
    kk.ld_test_train = ld;
    o.diag_reg = 1e-6; /* relative to the mean diagonal */
    if ((st = entk_predict_mean(&kk, 1, y, 1, &o, out, 1, &info))) fail("predict", st, NULL);
}

/* Test MAE (meV) of training on the first n of the Gram g and predicting rows t0 .. t0 + m. */
static double mae_of(const double *g, size_t ld, size_t n, size_t t0, size_t m, const double *ys, double mean,
                     double scale, const double *yr, double *pred) {
    double s = 0;
    size_t j;
    predict(g, ld, n, t0, m, ys, pred);
    for (j = 0; j < m; ++j) s += fabs(mean + scale * pred[j] - yr[t0 + j]);
    return s / (double)m;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "data/molecules/conformers.xyz";
    size_t nmax = argc > 2 ? (size_t)atol(argv[2]) : 800, m = argc > 3 ? (size_t)atol(argv[3]) : 200;
    const int L = argc > 4 ? atoi(argv[4]) : 4;
    const char *csv = argc > 5 ? argv[5] : NULL;
    static const size_t sizes[] = {50, 100, 200, 400, 800, 1600, 3200, 6400};
    const int threads = (int)(sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1);
    entk_so3_molecules mol;
    entk_arch so3, mlp;
    char err[256], mlp_text[128] = "";
    size_t C, len, A, cell, N, i, c, si, *perm;
    double *x, *xs, *e, *rms, *gs, *gm, *gt, *yr, *ys, *pred, t_s, t_m, ymean, yscale, best = -1;
    FILE *out = NULL;
    entk_status st;

    if ((st = entk_so3_xyz_read_file(path, &mol, err, sizeof err))) fail(path, st, err);
    if (nmax + m > mol.n) nmax = mol.n > m ? mol.n - m : 0;
    if (nmax < sizes[0] || m == 0) {
        fprintf(stderr, "%s: %s has %zu conformers: too few for %zu test and %zu training\n", PROGRAM, path, mol.n, m,
                sizes[0]);
        return 1;
    }
    if ((st = entk_arch_parse(so3_text, &so3, err, sizeof err))) fail("so3 arch", st, err);
    if ((st = entk_so3_featurize_size(&mol, L, 0, &C, &len))) fail("featurize", st, NULL);
    x = xmalloc(len);
    if ((st = entk_so3_featurize(&mol, L, NULL, 0, x, len))) fail("featurize", st, NULL);
    A = mol.max_atoms;
    cell = (size_t)(2 * L) * (size_t)(2 * L - 1);

    /* the split: a fixed permutation, training conformers first, then the test conformers */
    N = nmax + m;
    perm = (size_t *)malloc(mol.n * sizeof *perm);
    if (!perm) fail("split", ENTK_ERR_NOMEM, NULL);
    for (i = 0; i < mol.n; ++i) perm[i] = i;
    srand(20261201);
    for (i = mol.n - 1; i > 0; --i) {
        const size_t k = (size_t)rand() % (i + 1), t = perm[i];
        perm[i] = perm[k];
        perm[k] = t;
    }
    xs = xmalloc(N * A * C * cell);
    e = xmalloc(N);
    for (i = 0; i < N; ++i) {
        memcpy(xs + i * A * C * cell, x + perm[i] * A * C * cell, A * C * cell * sizeof *x);
        e[i] = mol.energy[perm[i]];
    }
    /* every channel scaled to unit RMS over the largest training set's atoms (a per-channel constant:
     * rotation invariant); it keeps erf out of saturation, where its grid aliasing would be large */
    rms = xmalloc(C);
    for (c = 0; c < C; ++c) {
        double s = 0;
        size_t cnt = 0, a, k;
        for (i = 0; i < nmax; ++i)
            for (a = 0; a < mol.count[perm[i]]; ++a) {
                const double *v = xs + ((i * A + a) * C + c) * cell;
                for (k = 0; k < cell; ++k) s += v[k] * v[k];
                cnt += cell;
            }
        rms[c] = cnt && s > 0 ? sqrt(s / (double)cnt) : 1.0;
    }
    for (i = 0; i < N * A; ++i)
        for (c = 0; c < C; ++c) {
            double *v = xs + (i * C + c) * cell;
            size_t k;
            for (k = 0; k < cell; ++k) v[k] /= rms[c];
        }

    printf("Molecular energies (%s): %zu conformers of up to %zu atoms, HF/6-31G*, randomly oriented;\n"
           "%zu held-out test conformers, per-atom signals with L = %d (%zu channels, each scaled to unit RMS),\n"
           "NTK regression at t = inf, %s path, %d threads\n  SO(3): %s\n",
           path, mol.n, A, m, L, C, entk_simd_name(), threads, so3_text);
    fflush(stdout);
    yr = xmalloc(N);
    ys = xmalloc(N);
    pred = xmalloc(N);
    gs = xmalloc(N * N);
    gm = xmalloc(N * N);
    gt = xmalloc(N * N);

    /* the MLP baseline's scale, by validation on the largest training set (its last fifth) */
    t_m = now();
    {
        const size_t nv = nmax / 5, nt = nmax - nv;
        size_t k;
        targets(&mol, perm, e, nt, N, yr, ys, &ymean, &yscale);
        for (k = 0; k < sizeof mlp_sw / sizeof mlp_sw[0]; ++k) {
            char t[128];
            double v;
            snprintf(t, sizeof t, mlp_fmt, mlp_sw[k]);
            if ((st = entk_arch_parse(t, &mlp, err, sizeof err))) fail("mlp arch", st, err);
            if ((st = entk_so3_molecule_kernel(&mlp, xs, N, A, NULL, 0, 0, C, (size_t)(2 * L), (size_t)(2 * L - 1),
                                               NULL, 0, gt, N, threads)))
                fail("mlp kernel", st, NULL);
            v = mae_of(gt, N, nt, nt, nv, ys, ymean, yscale, yr, pred);
            printf("  MLP sw=%-4g validation MAE %8.2f meV (trained on %zu, validated on %zu)\n", mlp_sw[k], v, nt, nv);
            if (best < 0 || v < best) {
                best = v;
                memcpy(gm, gt, N * N * sizeof *gm);
                snprintf(mlp_text, sizeof mlp_text, "%s", t);
            }
        }
    }
    t_m = now() - t_m;
    printf("  MLP:   %s (the best scale; the same signals, flattened per atom)\n\n", mlp_text);
    fflush(stdout);

    /* one Gram over all N = nmax + m conformers per kernel; every learning-curve point is a block */
    t_s = now();
    if (isatty(2)) entk_set_progress(progress, (void *)"SO(3) NTK");
    if ((st = entk_so3_molecule_kernel(&so3, xs, N, A, NULL, 0, 0, C, (size_t)(2 * L), (size_t)(2 * L - 1), NULL, 0,
                                       gs, N, threads)))
        fail("so3 kernel", st, NULL);
    t_s = now() - t_s;
    entk_set_progress(NULL, NULL);
    printf("kernels (%zu x %zu): SO(3) %.1f s, MLP (%zu scales) %.1f s\n\n", N, N, t_s,
           sizeof mlp_sw / sizeof mlp_sw[0], t_m);

    if (csv && !(out = fopen(csv, "w"))) {
        fprintf(stderr, "%s: cannot write %s\n", PROGRAM, csv);
        return 1;
    }
    if (out) fprintf(out, "n_train,mae_mlp_mev,mae_so3_mev,sd_mlp_mev,sd_so3_mev\n");
    printf("%8s  %22s  %22s   (mean and spread over %d random training subsets of the pool of %zu)\n", "n_train",
           "MLP-atom NTK", "SO(3) NTK", REPS, nmax);
    printf("%8s  %22s  %22s\n", "", "test MAE (meV)", "test MAE (meV)");
    {
        size_t *sig = (size_t *)malloc(nmax * sizeof *sig), *pr = (size_t *)malloc(N * sizeof *pr);
        double *er = xmalloc(N), *gmr = xmalloc(N * N), *gsr = xmalloc(N * N);
        double sum[8][2], sq[8][2];
        size_t r, j, k;
        if (!sig || !pr) fail("subsets", ENTK_ERR_NOMEM, NULL);
        memset(sum, 0, sizeof sum);
        memset(sq, 0, sizeof sq);
        for (r = 0; r < REPS; ++r) {
            /* repetition r trains on the first n of a shuffled pool (r = 0: the pool's own order) */
            for (i = 0; i < nmax; ++i) sig[i] = i;
            for (i = nmax - 1; r > 0 && i > 0; --i) {
                const size_t t = (size_t)rand() % (i + 1), u = sig[i];
                sig[i] = sig[t];
                sig[t] = u;
            }
            for (i = 0; i < N; ++i) {
                const size_t si_ = i < nmax ? sig[i] : i;
                pr[i] = perm[si_];
                er[i] = e[si_];
                for (j = 0; j < N; ++j) {
                    const size_t sj = j < nmax ? sig[j] : j;
                    gmr[i * N + j] = gm[si_ * N + sj];
                    gsr[i * N + j] = gs[si_ * N + sj];
                }
            }
            for (si = 0; si < sizeof sizes / sizeof sizes[0] && sizes[si] <= nmax; ++si) {
                const size_t n = sizes[si];
                targets(&mol, pr, er, n, N, yr, ys, &ymean, &yscale);
                for (k = 0; k < 2; ++k) {
                    const double v = mae_of(k ? gsr : gmr, N, n, nmax, m, ys, ymean, yscale, yr, pred);
                    sum[si][k] += v;
                    sq[si][k] += v * v;
                }
            }
        }
        for (si = 0; si < sizeof sizes / sizeof sizes[0] && sizes[si] <= nmax; ++si) {
            double mu[2], sd[2];
            for (k = 0; k < 2; ++k) {
                mu[k] = sum[si][k] / REPS;
                sd[k] = sqrt(fmax(sq[si][k] / REPS - mu[k] * mu[k], 0) * REPS / (REPS - 1));
            }
            printf("%8zu  %14.1f +- %5.1f  %14.1f +- %5.1f\n", sizes[si], mu[0], sd[0], mu[1], sd[1]);
            if (out) fprintf(out, "%zu,%.6g,%.6g,%.6g,%.6g\n", sizes[si], mu[0], mu[1], sd[0], sd[1]);
        }
        free(sig);
        free(pr);
        free(er);
        free(gmr);
        free(gsr);
    }
    if (out) fclose(out);
    entk_so3_molecules_free(&mol);
    free(x);
    free(xs);
    free(e);
    free(rms);
    free(gs);
    free(gm);
    free(gt);
    free(yr);
    free(ys);
    free(pred);
    free(perm);
    return 0;
}
