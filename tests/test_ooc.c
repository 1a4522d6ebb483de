/* `entk predict --train-gram/--test-gram` and its out-of-core solve (--ooc): the mean from Gram files
 * equals the library's entk_predict_mean on the same matrices (bit for bit in memory, to 1e-8 out of
 * core for every panel width, ragged last panels and n = 1), a train Gram larger than the address space
 * ulimit -v leaves completes out of core, and bad uses are one line each. Runs bin/entk (TU_ENTK_CLI)
 * from the repository root; default variant only (the Makefile), it exercises the CLI, not a SIMD path. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "progtest.h"

static void setup(void) { pt_setup("ooc", TU_ENTK_CLI); }

TestSuite(ooc, .init = setup, .fini = pt_teardown);

/* --max-memory giving panels of exactly b columns: (avail - fixed) / 2 / (16 n) = b, fixed = 8 n (k + 1) */
static size_t budget_for(size_t n, size_t k, size_t b) { return 8 * n * (k + 1) + 32 * n * b; }

Test(ooc, gram_files_equal_library_every_panel_width) {
    static const size_t ns[] = {1, 2, 37};
    size_t t;
    for (t = 0; t < sizeof ns / sizeof ns[0]; ++t) {
        const size_t n = ns[t], m = 5, k = 2;
        static const size_t widths[] = {1, 2, 3, 5, 8, 36, 37, 100};
        double *ktr, *kte, *y, ref[5 * 2];
        entk_array out;
        char err[512], args[512];
        size_t w;
        pt_gram_problem(n, m, 3, k, 11 + (unsigned)t, &ktr, &kte, &y);
        pt_reference_mean(ktr, kte, y, n, m, k, 1e-3, ref);
        /* in memory: the library's computation on the file's values, bit for bit */
        cr_assert_eq(pt_run_with("", "predict --train-gram ktr.npy --test-gram kte.npy --train-y y.npy --out p.npy "
                                     "--diag-reg 1e-3", err, sizeof err), 0, "%s", err);
        pt_get("p.npy", &out);
        cr_assert_eq(out.shape[0], m);
        cr_assert_eq(out.shape[1], k);
        cr_assert_eq(memcmp(out.data, ref, sizeof ref), 0, "n = %zu: in-memory Gram predict differs", n);
        entk_array_free(&out);
        for (w = 0; w < sizeof widths / sizeof widths[0]; ++w) {
            char msg[64];
            if (widths[w] > n && widths[w] != 100) continue;
            snprintf(args, sizeof args, "predict --train-gram ktr.npy --test-gram kte.npy --train-y y.npy --out q.npy "
                                        "--diag-reg 1e-3 --ooc --max-memory %zu", budget_for(n, k, widths[w]));
            cr_assert_eq(pt_run_with("", args, err, sizeof err), 0, "%s: %s", args, err);
            snprintf(msg, sizeof msg, "panels of %zu columns", widths[w] > n ? n : widths[w]);
            cr_assert(strstr(err, msg), "n = %zu: expected %s, got: %s", n, msg, err);
            pt_get("q.npy", &out);
            snprintf(msg, sizeof msg, "n = %zu, panel %zu", n, widths[w]);
            pt_assert_close(out.data, ref, m * k, msg);
            entk_array_free(&out);
        }
        free(ktr);
        free(kte);
        free(y);
    }
}

/* Fortran-order Gram files (np.asfortranarray, or a transposed save) are read in place, columns
 * contiguous: the same mean in memory and out of core */
Test(ooc, fortran_order_files) {
    const size_t n = 29, m = 5, k = 2;
    double *ktr, *kte, *y, ref[5 * 2];
    entk_array out;
    char err[512], p[128];
    pt_gram_problem(n, m, 3, k, 8, &ktr, &kte, &y);
    pt_reference_mean(ktr, kte, y, n, m, k, 1e-3, ref);
    pt_path(p, sizeof p, "ktrf.npy");
    tu_put_fortran(p, ktr, n, n);
    pt_path(p, sizeof p, "ktef.npy");
    tu_put_fortran(p, kte, m, n);
    cr_assert_eq(pt_run_with("", "predict --train-gram ktrf.npy --test-gram ktef.npy --train-y y.npy --out p.npy "
                                 "--diag-reg 1e-3 --ooc --max-memory 20000", err, sizeof err), 0, "%s", err);
    pt_get("p.npy", &out);
    pt_assert_close(out.data, ref, m * k, "Fortran order, out of core");
    entk_array_free(&out);
    cr_assert_eq(pt_run_with("", "predict --train-gram ktrf.npy --test-gram ktef.npy --train-y y.npy --out p.npy "
                                 "--diag-reg 1e-3", err, sizeof err), 0, "%s", err);
    pt_get("p.npy", &out);
    cr_assert_eq(memcmp(out.data, ref, sizeof ref), 0, "Fortran order, in memory");
    entk_array_free(&out);
    free(ktr);
    free(kte);
    free(y);
}

/* --standardize maps the same way in and out of core; a 1-D target vector; an absolute regulariser */
Test(ooc, standardize_and_absolute_reg) {
    const size_t n = 23, m = 4;
    double *ktr, *kte, *y;
    entk_array a, b;
    char err[512];
    size_t s1[1] = {n};
    pt_gram_problem(n, m, 2, 1, 5, &ktr, &kte, &y);
    pt_put("y1.npy", y, 1, s1);
    cr_assert_eq(pt_run_with("", "predict --train-gram ktr.npy --test-gram kte.npy --train-y y1.npy --out a.npy "
                                 "--standardize --diag-reg 0.01 --diag-reg-absolute", err, sizeof err), 0, "%s", err);
    cr_assert_eq(pt_run_with("", "predict --train-gram ktr.npy --test-gram kte.npy --train-y y1.npy --out b.npy "
                                 "--standardize --diag-reg 0.01 --diag-reg-absolute --ooc --max-memory 3000", err,
                             sizeof err), 0, "%s", err);
    pt_get("a.npy", &a);
    pt_get("b.npy", &b);
    pt_assert_close(b.data, a.data, m, "standardized");
    entk_array_free(&a);
    entk_array_free(&b);
    free(ktr);
    free(kte);
    free(y);
}

/* A train Gram of 2200 x 2200 (37.8 MB on disk) under ulimit -v 32000 (31.3 MiB of address space for
 * the whole process): the in-memory path is refused before allocating, the out-of-core one completes
 * and equals the library's in-memory mean (computed here, in the unlimited test process). */
Test(ooc, larger_than_ulimit_v, .timeout = 120) {
    const size_t n = 2200, m = 3, k = 1;
    double *ktr, *kte, *y, ref[3];
    entk_array out;
    char err[512];
    pt_gram_problem(n, m, 4, k, 7, &ktr, &kte, &y);
    pt_reference_mean(ktr, kte, y, n, m, k, 1e-2, ref);
    cr_assert_eq(pt_run_with("ulimit -v 32000;", "predict --train-gram ktr.npy --test-gram kte.npy --train-y y.npy "
                                                 "--out p.npy --diag-reg 1e-2", err, sizeof err), 1, "%s", err);
    cr_assert(strstr(err, "needs") && strstr(err, "ulimit -v") && strstr(err, "or --ooc"), "%s", err);
    cr_assert_eq(pt_run_with("ulimit -v 32000;", "predict --train-gram ktr.npy --test-gram kte.npy --train-y y.npy "
                                                 "--out p.npy --diag-reg 1e-2 --ooc", err, sizeof err), 0, "%s", err);
    pt_get("p.npy", &out);
    pt_assert_close(out.data, ref, m * k, "n = 2200 under ulimit -v");
    entk_array_free(&out);
    free(ktr);
    free(kte);
    free(y);
}

/* A singular train Gram (rank 3: X X^T of 30 points in 3 dimensions) needs jitter: the out-of-core
 * solve escalates as the library does, to the same jitter after the same number of failed tries (the
 * values then differ by the conditioning, 1e10, times rounding, so only the policy is compared). */
Test(ooc, jitter_escalates_as_in_memory) {
    char err[512], jit_mem[256], *q;
    pt_put_singular_gram();
    cr_assert_eq(pt_run_with("", "predict --train-gram ks.npy --test-gram ts.npy --train-y ys.npy --out a.npy", err,
                             sizeof err), 0, "%s", err);
    q = strstr(err, "; jitter ");
    cr_assert(q && strstr(q, "failed Cholesky tries"), "no jitter in memory: %s", err);
    snprintf(jit_mem, sizeof jit_mem, "%s", q);
    cr_assert_eq(pt_run_with("", "predict --train-gram ks.npy --test-gram ts.npy --train-y ys.npy --out b.npy --ooc "
                                 "--max-memory 3000", err, sizeof err), 0, "%s", err);
    q = strstr(err, "; jitter ");
    cr_assert(q && !strcmp(q, jit_mem), "out of core: %s, in memory: %s", q ? q : err, jit_mem);
}

static void expect_error(const char *args, int code, const char *needle) {
    char err[1024];
    int rc = pt_run_with("", args, err, sizeof err);
    cr_assert_eq(rc, code, "%s: exit %d, stderr: %s", args, rc, err);
    cr_assert(strstr(err, needle), "%s: expected '%s' in: %s", args, needle, err);
    cr_assert(strchr(err, '\n') == err + strlen(err) - 1, "%s: not one line: %s", args, err);
}

Test(ooc, bad_uses_are_one_line) {
    const size_t n = 6, m = 2;
    double *ktr, *kte, *y, bad[36];
    size_t s2[2] = {n, n}, s3[2] = {3, 3}, s1[1] = {n};
    const char *g = "predict --train-gram ktr.npy --test-gram kte.npy --train-y y.npy --out p.npy";
    char args[512];
    size_t i;
    pt_gram_problem(n, m, 2, 1, 3, &ktr, &kte, &y);
    /* a symmetric matrix with a negative eigenvalue; one with a NaN in the lower triangle */
    for (i = 0; i < 36; ++i) bad[i] = (i / 6 == i % 6) ? 1.0 : 0.0;
    bad[5 * 6 + 5] = -1.0;
    pt_put("neg.npy", bad, 2, s2);
    bad[5 * 6 + 5] = 1.0;
    bad[4 * 6 + 1] = NAN;
    {   /* entk_npy_write_file refuses NaN: patch the bytes */
        unsigned char buf[512];
        size_t len;
        char p[128];
        FILE *f;
        bad[4 * 6 + 1] = 0.0;
        cr_assert_eq(entk_npy_write_mem(bad, 2, s2, buf, sizeof buf, &len), ENTK_OK);
        memcpy(buf + len - 36 * 8 + (4 * 6 + 1) * 8, "\x00\x00\x00\x00\x00\x00\xf8\x7f", 8);
        pt_path(p, sizeof p, "nan.npy");
        f = fopen(p, "wb");
        cr_assert(f);
        cr_assert_eq(fwrite(buf, 1, len, f), len);
        fclose(f);
    }
    pt_put("small.npy", bad, 2, s3);
    pt_put("vec.npy", bad, 1, s1);
    expect_error("predict --ooc --arch 'dense relu dense' --train-x y.npy --train-y y.npy --test-x y.npy --out p.npy", 2,
                 "--ooc: the out-of-core solve reads the train Gram from disk");
    expect_error("predict --train-gram ktr.npy --train-y y.npy --out p.npy", 2, "--test-gram");
    snprintf(args, sizeof args, "%s --ooc --time 10", g);
    expect_error(args, 2, "--ooc solves at t = inf only");
    snprintf(args, sizeof args, "%s --variance v.npy", g);
    expect_error(args, 2, "--variance: with --train-gram only the mean");
    snprintf(args, sizeof args, "%s --arch 'dense relu dense'", g);
    expect_error(args, 2, "--arch does not apply with --train-gram");
    expect_error("predict --train-gram ktr.npy --test-gram kte.npy --train-y y.npy --out ktr.npy", 2,
                 "name the same file");
    expect_error("predict --train-gram kte.npy --test-gram kte.npy --train-y y.npy --out p.npy --ooc", 1,
                 "a train Gram is n x n");
    expect_error("predict --train-gram ktr.npy --test-gram small.npy --train-y y.npy --out p.npy --ooc", 1,
                 "a test Gram is m x n");
    expect_error("predict --train-gram vec.npy --test-gram kte.npy --train-y y.npy --out p.npy --ooc", 1,
                 "expected a 2-D Gram matrix");
    expect_error("predict --train-gram nan.npy --test-gram kte.npy --train-y y.npy --out p.npy --ooc", 1,
                 "value at (4, 1) is NaN");
    expect_error("predict --train-gram neg.npy --test-gram kte.npy --train-y y.npy --out p.npy --ooc", 1,
                 "not positive definite (minor 6), even with jitter");
    expect_error("predict --train-gram neg.npy --test-gram kte.npy --train-y y.npy --out p.npy", 1,
                 "not positive definite (minor 6), even with jitter");
    expect_error("predict --train-gram ktr.npy --test-gram kte.npy --train-y small.npy --out p.npy --ooc", 1,
                 "--train-y: 3 targets for a 6 x 6 train Gram");
    snprintf(args, sizeof args, "%s --ooc --max-memory 100", g);
    expect_error(args, 1, "predict --ooc: needs at least");
    expect_error("predict --train-gram missing.npy --test-gram kte.npy --train-y y.npy --out p.npy --ooc", 1,
                 "cannot open");
    free(ktr);
    free(kte);
    free(y);
}
