/* SIMD dispatch (entk.h 9.2): one kernel table per path, chosen eagerly and thread-safely, read once
 * per call; also the private tables of the parser and of the row kernels. They are reached through a
 * static copy of the implementation (ENTK_STATIC), which has its own current-table pointer and its own
 * constructor. */
/* the static copy leaves most of the library unused in this file */
#pragma GCC diagnostic ignored "-Wunused-function"
#define ENTK_STATIC
#define ENTK_IMPLEMENTATION
#include <criterion/criterion.h>
#include <stdlib.h>
#include "testutil.h"
#include "entk_cn.h"

static const entk_simd all_paths[] = {ENTK_SIMD_SCALAR, ENTK_SIMD_AVX2, ENTK_SIMD_NEON, ENTK_SIMD_AVX512};
#define N_PATHS (sizeof all_paths / sizeof all_paths[0])

/* Whether this CPU runs path p (the detection under test; path_runs_here checks it independently). */
static int cpu_runs(entk_simd p) {
    return p == ENTK_SIMD_AVX2 ? entk__cpu_has_avx2() : p == ENTK_SIMD_AVX512 ? entk__cpu_has_avx512() : 1;
}

/* Nothing in this process has called the library yet: the table was chosen before main (by the
 * constructor), and it is the best path's. */
Test(dispatch, the_table_is_chosen_before_the_first_call) {
    const entk__kernels *k = ENTK__KT_LOAD();
    cr_assert(k != NULL, "no table chosen before the first call");
    cr_assert(k == entk__kt_table(entk__best_path()));
    cr_assert_eq(entk_simd_path(), entk__best_path());
}

/* Every compiled path has a complete table naming its own path. */
Test(dispatch, every_compiled_table_is_complete) {
    size_t p, m, compiled = 0;
    for (p = 0; p < N_PATHS; ++p) {
        const entk__kernels *k = entk__kt_table(all_paths[p]);
        if (!k) continue;
        ++compiled;
        cr_assert_eq(k->path, all_paths[p]);
        for (m = 0; m <= ENTK_NL_CUSTOM; ++m) cr_assert(k->map[m] != NULL, "path %zu map %zu", p, m);
        cr_assert(k->affine && k->sum3 && k->addto && k->stream && k->fence && k->dots && k->uk.fn);
        cr_assert(k->vo.dot && k->vo.axpy && k->vo.rank2 && k->rot && k->lincomb);
        cr_assert(k->uk.mr >= 1 && k->uk.mr <= ENTK__MR_MAX && k->uk.nr >= 1 && k->uk.nr <= ENTK__NR_MAX);
    }
    cr_assert(entk__kt_table(ENTK_SIMD_SCALAR) != NULL);
    cr_assert_eq(entk__kt_table((entk_simd)7), NULL);
    cr_assert_geq(compiled, 1u);
}

/* As a build without constructors would meet it: no table yet, and the first call is a multi-threaded
 * Gram of an architecture with no nonlinearity (before the table, such a call first read the lazily
 * set global inside the OpenMP region). 8 threads also race on the first read. The table chosen is
 * the best path's, and the kernels equal the 1-thread ones bit for bit. */
Test(dispatch, a_first_multithreaded_call_picks_the_path_safely) {
    entk_arch a = tu_parse("conv(q=3,pad=same,sb=0.2) conv(q=3,pad=circular) gap dense(sw=1.3)");
    const size_t n = 6, C = 2, H = 6, W = 6;
    double *x = tu_normal_alloc(n * C * H * W, 7), K1[36], T1[36], K4[36], T4[36];
    const entk__kernels *seen[8];
    int i;
    ENTK__KT_STORE(NULL);
    cr_assert_eq(entk_cn_kernel(&a, x, n, NULL, 0, C, H, W, K4, n, T4, n, 4), ENTK_OK);
    cr_assert(ENTK__KT_LOAD() == entk__kt_table(entk__best_path()));
    ENTK__KT_STORE(NULL);
#ifdef _OPENMP
#pragma omp parallel num_threads(8)
    seen[omp_get_thread_num()] = entk__kt();
#else
    for (i = 0; i < 8; ++i) seen[i] = entk__kt();
#endif
    for (i = 0; i < 8; ++i) cr_assert(seen[i] == entk__kt_table(entk__best_path()), "thread %d", i);
    cr_assert_eq(entk_cn_kernel(&a, x, n, NULL, 0, C, H, W, K1, n, T1, n, 1), ENTK_OK);
    cr_assert(memcmp(K1, K4, sizeof K1) == 0 && memcmp(T1, T4, sizeof T1) == 0);
    free(x);
}

/* entk_simd_set called while a Gram computation runs (here from its progress callback, between rows)
 * does not change the kernels of that call: it runs on the table it read at its start. The next call
 * uses the new path. The gelu and erf maps' AVX2 and scalar kernels differ in the last bits on these inputs
 * (checked), so a call that mixed paths would show. */
static entk_simd switch_to;
static void switch_path(void *user, size_t done, size_t total) {
    (void)user; (void)done; (void)total;
    entk_simd_set(switch_to);
}

static void run(int cn, const entk_arch *a, const double *x, size_t n, double *K, double *T) {
    if (cn) cr_assert_eq(entk_cn_kernel(a, x, n, NULL, 0, 1, 5, 5, K, n, T, n, 1), ENTK_OK);
    else cr_assert_eq(entk_mlp_kernel(a, x, n, NULL, 0, 25, K, n, T, n, 1), ENTK_OK);
}

Test(dispatch, a_path_switch_during_a_call_does_not_mix_paths) {
    const entk_simd best = entk__best_path();
    int cn;
    if (best == ENTK_SIMD_SCALAR) cr_skip_test("only the scalar path on this machine");
    for (cn = 0; cn < 2; ++cn) {
        entk_arch a = tu_parse(cn ? "conv(q=3,pad=same) gelu conv(q=3,pad=same) erf gap dense"
                                  : "dense(sw=1.4,sb=0.1) gelu dense(sw=1.2) erf dense");
        enum { N = 40 };
        double *x = tu_normal_alloc(N * 25, 11 + (uint64_t)cn);
        double *Kv = malloc(N * N * sizeof *Kv), *Tv = malloc(N * N * sizeof *Tv);
        double *Ks = malloc(N * N * sizeof *Ks), *Ts = malloc(N * N * sizeof *Ts);
        double *Km = malloc(N * N * sizeof *Km), *Tm = malloc(N * N * sizeof *Tm);
        cr_assert_eq(entk_simd_set(best), ENTK_OK);
        run(cn, &a, x, N, Kv, Tv);
        cr_assert_eq(entk_simd_set(ENTK_SIMD_SCALAR), ENTK_OK);
        run(cn, &a, x, N, Ks, Ts);
        cr_assert(memcmp(Kv, Ks, N * N * sizeof *Kv) != 0 || memcmp(Tv, Ts, N * N * sizeof *Tv) != 0,
                  "the paths agree bit for bit here: the test would prove nothing");
        /* start on the vector path, switch to scalar after the first finished rows */
        cr_assert_eq(entk_simd_set(best), ENTK_OK);
        switch_to = ENTK_SIMD_SCALAR;
        entk_set_progress(switch_path, NULL);
        run(cn, &a, x, N, Km, Tm);
        entk_set_progress(NULL, NULL);
        cr_assert_eq(entk_simd_path(), ENTK_SIMD_SCALAR, "the switch did happen");
        cr_assert(memcmp(Km, Kv, N * N * sizeof *Km) == 0 && memcmp(Tm, Tv, N * N * sizeof *Tm) == 0,
                  "%s: the call mixed paths", cn ? "cnn" : "mlp");
        free(x); free(Kv); free(Tv); free(Ks); free(Ts); free(Km); free(Tm);
    }
}

/* The AVX-512 detection (cpuid for AVX-512F/DQ/VL and AVX2+FMA, xgetbv for the OS's ZMM state) agrees
 * with the compiler's own check, which also reads XCR0 (GCC's and clang's cpu model code), and the
 * default path is the best one the CPU runs: AVX-512, else AVX2, else scalar (x86-64, no ENTK_VECTOR). */
Test(dispatch, avx512_detection_matches_the_compiler_and_picks_the_best_path) {
#if ENTK__HAVE_AVX512
    const int gcc = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") &&
                    __builtin_cpu_supports("fma");
    cr_assert_eq(entk__cpu_has_avx512(), gcc);
    cr_log_info("this CPU %s AVX-512F/DQ/VL with the OS's ZMM state", gcc ? "runs" : "lacks");
    cr_assert_eq(entk_simd_set(ENTK_SIMD_AVX512), gcc ? ENTK_OK : ENTK_ERR_UNSUPPORTED);
    if (gcc) cr_assert_eq(entk_simd_path(), ENTK_SIMD_AVX512);
    entk_simd_set(ENTK_SIMD_SCALAR);
#ifndef ENTK_VECTOR
    cr_assert_eq(entk__best_path(), gcc ? ENTK_SIMD_AVX512 : entk__cpu_has_avx2() ? ENTK_SIMD_AVX2 : ENTK_SIMD_SCALAR);
#else
    cr_assert_eq(entk__best_path(), (entk_simd)ENTK_VECTOR);
#endif
#else
    cr_assert_eq(entk__cpu_has_avx512(), 0);
    cr_assert_eq(entk_simd_set(ENTK_SIMD_AVX512), ENTK_ERR_UNSUPPORTED);
#endif
}

/* The AVX-512 table differs from the AVX2 one in the Cholesky's kernels (the 12 x 16 GEMM
 * micro-kernel, its transposing pack, the 8-row TRSM leaf), lincomb and the relu, leaky_relu, erf and
 * gelu maps (zmm), the window sums' sum3 and the affine update; the identity and sin maps and the other row kernels
 * are the AVX2 functions (entk.h 9.7). */
Test(dispatch, avx512_table_has_its_own_maps_and_micro_kernel) {
    const entk__kernels *a = entk__kt_table(ENTK_SIMD_AVX2), *z = entk__kt_table(ENTK_SIMD_AVX512);
    size_t m;
    if (!z) {
        cr_assert_eq(a, NULL, "AVX2 compiled without AVX-512");
        return;
    }
    cr_assert(a != NULL);
    for (m = 0; m <= ENTK_NL_CUSTOM; ++m) {
        const int own = m == ENTK_NL_RELU || m == ENTK_NL_LEAKY_RELU || m == ENTK_NL_ERF || m == ENTK_NL_GELU;
        cr_assert(own ? z->map[m] != a->map[m] : z->map[m] == a->map[m], "map %zu", m);
    }
    cr_assert(z->affine != a->affine && z->sum3 != a->sum3 && z->addto == a->addto && z->stream == a->stream);
    cr_assert(z->dots == a->dots && z->rot == a->rot && z->vo.dot == a->vo.dot && z->lincomb != a->lincomb);
    cr_assert(z->uk.fn != a->uk.fn && z->uk.mr == 12 && z->uk.nr == 16 && z->uk.pack_t != NULL);
    cr_assert(z->trsm4 != NULL && z->trsm4 != a->trsm4);
    cr_assert_eq(ENTK__MC % z->uk.mr, 0);
    cr_assert_eq(ENTK__NC % z->uk.nr, 0);
}

/* The AVX-512 maps run the AVX2 maps' operations per lane in the same order (entk.h, the AVX-512
 * maps), so they give the AVX2 bits exactly: every length 0..150 (no, one and several 32-element zmm
 * chunks, and every tail the AVX2 map finishes), broadcast or strided variances, with and without
 * theta, out of place and in place, and with extreme lanes mixed in (chunks that go to the AVX2
 * blocks and the scalar kernel). */
Test(dispatch, avx512_maps_give_the_avx2_bits) {
    enum { N = 150 };
    static const entk_nonlin_kind kinds[] = {ENTK_NL_RELU, ENTK_NL_LEAKY_RELU, ENTK_NL_ERF, ENTK_NL_GELU};
    const entk__kernels *a = entk__kt_table(ENTK_SIMD_AVX2), *z = entk__kt_table(ENTK_SIMD_AVX512);
    double k11[N + 1], k22[N + 1], k12[N + 1], th[N + 1], ta[N + 1], da[N + 1], tz[N + 1], dz[N + 1];
    size_t n, ki, i;
    long compared = 0;
    int inc, wth, inpl, ext;
    if (!z || !entk__cpu_has_avx512()) cr_skip_test("this build or CPU lacks AVX-512F/DQ/VL");
    for (ki = 0; ki < sizeof kinds / sizeof kinds[0]; ++ki)
        for (n = 0; n <= N; ++n)
            for (inc = 0; inc < 4; ++inc)
                for (ext = 0; ext < 2; ++ext)
                    for (wth = 0; wth < 2; ++wth)
                        for (inpl = 0; inpl < 2; ++inpl) {
                            const size_t i1 = (size_t)(inc & 1), i2 = (size_t)(inc >> 1);
                            entk_nonlin f;
                            tu_rng r;
                            memset(&f, 0, sizeof f);
                            f.kind = kinds[ki];
                            f.a = 0.2;
                            r.s = 7919u * n + 31u * (unsigned)inc + 3u * (unsigned)ext + 1u;
                            tu_map_inputs(&r, N, k11, k22, k12, th);
                            if (ext) tu_map_extreme(&r, N, k11, k22, k12);
                            if (!i1 || !i2)
                                for (i = 0; i < n; ++i) {
                                    double lim = sqrt(k11[i * i1]) * sqrt(k22[i * i2]);
                                    if (fabs(k12[i]) > lim) k12[i] = k12[i] > 0 ? lim : -lim;
                                }
                            ta[n] = da[n] = tz[n] = dz[n] = 12345.0;
                            if (inpl) {
                                memcpy(ta, k12, n * sizeof *ta); memcpy(tz, k12, n * sizeof *tz);
                                memcpy(da, th, n * sizeof *da); memcpy(dz, th, n * sizeof *dz);
                                a->map[f.kind](n, k11, i1, k22, i2, ta, wth ? da : NULL, ta, wth ? da : NULL, &f);
                                z->map[f.kind](n, k11, i1, k22, i2, tz, wth ? dz : NULL, tz, wth ? dz : NULL, &f);
                            } else {
                                a->map[f.kind](n, k11, i1, k22, i2, k12, wth ? th : NULL, ta, wth ? da : NULL, &f);
                                z->map[f.kind](n, k11, i1, k22, i2, k12, wth ? th : NULL, tz, wth ? dz : NULL, &f);
                            }
                            cr_assert(tz[n] == 12345.0 && dz[n] == 12345.0, "wrote past n = %zu", n);
                            cr_assert(memcmp(ta, tz, n * sizeof *ta) == 0, "map %d n=%zu inc=%d ext=%d theta=%d in place=%d: T",
                                      (int)f.kind, n, inc, ext, wth, inpl);
                            if (wth)
                                cr_assert(memcmp(da, dz, n * sizeof *da) == 0,
                                          "map %d n=%zu inc=%d ext=%d in place=%d: Tdot theta", (int)f.kind, n, inc,
                                          ext, inpl);
                            compared += (long)n;
                        }
    cr_assert_gt(compared, 0);
}

/* entk_simd_set switches the table and the reported name; unsupported paths are refused. */
Test(dispatch, set_switches_the_table) {
    size_t p;
    for (p = 0; p < N_PATHS; ++p) {
        const entk__kernels *k = entk__kt_table(all_paths[p]);
        entk_status st = entk_simd_set(all_paths[p]);
        if (!k || !cpu_runs(all_paths[p])) {
            cr_assert_eq(st, ENTK_ERR_UNSUPPORTED);
            continue;
        }
        cr_assert_eq(st, ENTK_OK);
        cr_assert(ENTK__KT_LOAD() == k);
        cr_assert_eq(entk_simd_path(), all_paths[p]);
    }
    cr_assert_eq(entk_simd_set((entk_simd)9), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_simd_set(ENTK_SIMD_SCALAR), ENTK_OK);
    cr_assert_str_eq(entk_simd_name(), "scalar");
}

/* The parser's key table (entk.h 9.4): every key, on every layer its row names, parses with a value
 * that is not the default, lands in the row's field, keeps the layer's name, and is refused twice; the
 * layers the row does not name refuse it. So a row that names a misspelt layer, or the wrong field,
 * fails here. */
Test(arch_keys, every_key_of_the_table_round_trips_through_the_parser) {
    size_t k, s;
    for (k = 0; k < ENTK__N_KEYS; ++k) {
        const entk__key *key = &entk__keys[k];
        const char *value = "0.25";
        char text[128], err[128], hi[16];
        size_t named = 0;
        snprintf(hi, sizeof hi, "%d", key->hi);
        if (key->value == ENTK__V_ENUM) value = strrchr(key->values, ' ') + 1; /* the last name */
        else if (key->value != ENTK__V_NONNEG && key->value != ENTK__V_REAL) value = hi;
        for (s = 0; s < sizeof entk__layer_specs / sizeof entk__layer_specs[0]; ++s) {
            const char *lname = entk__layer_specs[s].name;
            int takes = entk__word_index(key->layers, lname, strlen(lname)) >= 0;
            entk_arch a;
            entk_status st;
            snprintf(text, sizeof text, "%s(%s=%s)", lname, key->name, value);
            st = entk_arch_parse(text, &a, err, sizeof err);
            if (!takes) {
                cr_assert_eq(st, ENTK_ERR_ARCH, "'%s' accepted", text);
                cr_assert(strstr(err, "unknown key") != NULL, "'%s': %s", text, err);
                continue;
            }
            ++named;
            cr_assert_eq(st, ENTK_OK, "'%s': %s", text, err);
            cr_assert_eq(a.n_layers, 1);
            cr_assert_str_eq(entk_layer_name(&a.layer[0]), lname);
            {
                const char *field = (const char *)&a.layer[0] + key->field;
                entk_layer d = entk_layer_default(entk__layer_specs[s].kind);
                const char *dfield = (const char *)&d + key->field;
                if (key->value == ENTK__V_NONNEG || key->value == ENTK__V_REAL) {
                    double x;
                    memcpy(&x, field, sizeof x);
                    cr_assert_eq(x, 0.25, "'%s'", text);
                } else {
                    int iv, dv;
                    memcpy(&iv, field, sizeof iv);
                    memcpy(&dv, dfield, sizeof dv);
                    cr_assert_neq(iv, dv, "'%s' left the default", text);
                    if (key->value == ENTK__V_ENUM) cr_assert_eq(iv, entk__word_index(key->values, value, strlen(value)));
                    else cr_assert_eq(iv, atoi(value), "'%s'", text);
                }
            }
            snprintf(text, sizeof text, "%s(%s=%s,%s=%s)", lname, key->name, value, key->name, value);
            cr_assert_eq(entk_arch_parse(text, &a, err, sizeof err), ENTK_ERR_ARCH, "'%s' accepted", text);
            cr_assert(strstr(err, "given twice") != NULL, "'%s': %s", text, err);
        }
        /* every word of the row's layer list is a layer */
        {
            size_t words = 1;
            const char *c;
            for (c = key->layers; *c; ++c) words += *c == ' ';
            cr_assert_eq(named, words, "key '%s' names a layer that does not exist", key->name);
        }
    }
}

/* The row kernels (entk.h 9.5: affine, sum3, addto, stream, and lincomb with its output rows against
 * their exact sums) of every compiled vector path against the scalar table, bit for bit, lengths
 * 0..67, sentinels after every output, in place where the kernel allows (tu_row_kernels_compare
 * in testutil.h, shared with tests/aarch64_check.c). */
Test(dispatch, row_kernels_match_scalar_on_every_length) {
    size_t p, tested = 0;
    for (p = 1; p < N_PATHS; ++p) {
        const entk__kernels *v = entk__kt_table(all_paths[p]);
        char msg[200];
        long fails;
        if (!v || !cpu_runs(all_paths[p])) continue;
        ++tested;
        fails = tu_row_kernels_compare(entk__kt_table(ENTK_SIMD_SCALAR), v, msg, sizeof msg);
        cr_assert_eq(fails, 0, "%ld failures, the first: %s", fails, msg);
    }
    if (!tested) cr_log_warn("only the scalar path is compiled here: nothing to compare");
}

/* The AVX-512 transposing pack gives the generic packs' values bit for bit (A: sign times the rows of
 * a, panels of MR; B: the rows of b as panels of NR), on partial last panels, kc with every remainder
 * mod 4, and a leading dimension larger than kc. */
Test(dispatch, avx512_transposing_pack_equals_the_generic_packs) {
    const entk__kernels *z = entk__kt_table(ENTK_SIMD_AVX512);
    const size_t ld = 41, rows_list[] = {1, 3, 4, 11, 12, 13, 16, 17, 24, 31, 33};
    double *src = malloc(40 * ld * sizeof *src), *g = malloc(48 * 40 * sizeof *g), *v = malloc(48 * 40 * sizeof *v);
    size_t i, ri, kc;
    int side;
    if (!z || !entk__cpu_has_avx512()) {
        free(src); free(g); free(v);
        cr_skip_test("this build or CPU lacks AVX-512F/DQ/VL");
    }
    for (i = 0; i < 40 * ld; ++i) src[i] = (double)i * 0.37 - 100.0;
    for (side = 0; side < 2; ++side)
        for (ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ++ri)
            for (kc = 0; kc <= 9; ++kc) {
                const size_t rows = rows_list[ri];
                const int w = side ? z->uk.nr : z->uk.mr;
                const size_t len = (rows + (size_t)w - 1) / (size_t)w * (size_t)w * kc;
                for (i = 0; i < 48 * 40; ++i) g[i] = v[i] = -5.0;
                if (side) {
                    entk__pack_b(kc, rows, src, 1, ld, w, g);
                    z->uk.pack_t(rows, kc, src, ld, w, 1.0, v);
                } else {
                    entk__pack_a(rows, kc, src, ld, 1, w, -1.0, g);
                    z->uk.pack_t(rows, kc, src, ld, w, -1.0, v);
                }
                cr_assert(memcmp(g, v, 48 * 40 * sizeof *g) == 0, "%s rows=%zu kc=%zu", side ? "B" : "A", rows, kc);
                cr_assert(g[len] == -5.0 && v[len] == -5.0, "wrote past the panels");
            }
    free(src); free(g); free(v);
}
