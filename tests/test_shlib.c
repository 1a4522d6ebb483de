/* libentk.so (make lib, pkg/libentk.c): dlopen()ed, its MLP and C4-GCNN Grams, the progress callback
 * and its error strings equal this process's own entk (tests/impl.c) bit for bit; it exports exactly
 * the public functions the three headers declare (ENTKDEF) and nothing else (nm -D --defined-only),
 * and carries the SONAME libentk.so.MAJOR. Runs from the repository root, in the first variant only
 * (Makefile: PROGRAM_TESTS). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "entk_cn.h"
#include "testutil.h"

#define LIB "build/libentk.so"

static void *lib;

static void open_lib(void) {
    lib = dlopen("./" LIB, RTLD_NOW | RTLD_LOCAL);
    cr_assert(lib, "dlopen %s: %s", LIB, dlerror());
}

static void close_lib(void) {
    if (lib) dlclose(lib);
}

TestSuite(shlib, .init = open_lib, .fini = close_lib);

static void *sym(const char *name) {
    void *p = dlsym(lib, name);
    cr_assert(p, "%s: %s", name, dlerror());
    return p;
}

typedef entk_status (*parse_fn)(const char *, entk_arch *, char *, size_t);
typedef entk_status (*mlp_fn)(const entk_arch *, const double *, size_t, const double *, size_t, size_t, double *,
                              size_t, double *, size_t, int);
typedef entk_status (*cn_fn)(const entk_arch *, entk_orbit, const double *, size_t, const double *, size_t,
                             size_t, size_t, size_t, double *, size_t, double *, size_t, int);
typedef const char *(*str_fn)(entk_status);
typedef void (*progress_set_fn)(entk_progress_fn, void *);

Test(shlib, mlp_gram_equals_the_header_build) {
    parse_fn parse = (parse_fn)sym("entk_arch_parse");
    mlp_fn mlp = (mlp_fn)sym("entk_mlp_kernel");
    entk_arch a, b;
    char err[128];
    double x[5 * 4], k1[25], t1[25], k2[25], t2[25];
    int i;
    for (i = 0; i < 20; ++i) x[i] = sin(0.7 * i + 0.3);
    cr_assert_eq(parse("dense(sw=1.4,sb=0.2) erf dense relu dense(sb=0.1)", &a, err, sizeof err), ENTK_OK, "%s", err);
    cr_assert_eq(entk_arch_parse("dense(sw=1.4,sb=0.2) erf dense relu dense(sb=0.1)", &b, err, sizeof err), ENTK_OK);
    cr_assert_eq(mlp(&a, x, 5, NULL, 0, 4, k1, 5, t1, 5, 2), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&b, x, 5, NULL, 0, 4, k2, 5, t2, 5, 2), ENTK_OK);
    cr_expect_eq(memcmp(k1, k2, sizeof k1), 0, "NNGP differs");
    cr_expect_eq(memcmp(t1, t2, sizeof t1), 0, "NTK differs");
    /* errors come back as statuses, with the messages */
    cr_expect_eq(parse("dense relux", &a, err, sizeof err), ENTK_ERR_ARCH);
    cr_expect(strstr(err, "relux") != NULL, "%s", err);
    cr_expect_eq(mlp(&b, x, 5, NULL, 0, 0, k1, 5, t1, 5, 1), ENTK_ERR_INVALID_ARG);
    cr_expect_str_eq(((str_fn)sym("entk_status_string"))(ENTK_ERR_NOT_PD), "matrix is not positive definite");
}

static size_t last_done, last_total;
static void on_progress(void *user, size_t done, size_t total) {
    (void)user;
    last_done = done;
    last_total = total;
}

Test(shlib, gcnn_orbit_gram_and_progress) {
    parse_fn parse = (parse_fn)sym("entk_arch_parse");
    cn_fn orbit = (cn_fn)sym("entk_cn_kernel_orbit");
    progress_set_fn set = (progress_set_fn)sym("entk_set_progress");
    const char *text = "lift(n=4,q=3,pad=circular) relu gconv(pad=circular) relu gpool dense";
    entk_arch a;
    char err[128];
    double x[3 * 2 * 5 * 5], k1[9], t1[9], k2[9], t2[9];
    int i;
    for (i = 0; i < 150; ++i) x[i] = cos(0.37 * i * i + 0.1);
    cr_assert_eq(parse(text, &a, err, sizeof err), ENTK_OK, "%s", err);
    set(on_progress, NULL);
    cr_assert_eq(orbit(&a, ENTK_ORBIT_C4, x, 3, NULL, 0, 2, 5, 5, k1, 3, t1, 3, 2), ENTK_OK);
    set(NULL, NULL);
    cr_expect(last_total == 3 && last_done == 3, "progress %zu of %zu", last_done, last_total);
    cr_assert_eq(entk_cn_kernel_orbit(&a, ENTK_ORBIT_C4, x, 3, NULL, 0, 2, 5, 5, k2, 3, t2, 3, 1), ENTK_OK);
    cr_expect_eq(memcmp(k1, k2, sizeof k1), 0, "NNGP differs");
    cr_expect_eq(memcmp(t1, t2, sizeof t1), 0, "NTK differs");
}

/* A shell pipeline's output (from the repository root). */
static void run(const char *cmd, char *out, size_t len) {
    FILE *p = popen(cmd, "r");
    size_t n;
    cr_assert(p, "%s", cmd);
    n = fread(out, 1, len - 1, p);
    out[n] = 0;
    cr_assert_eq(pclose(p), 0, "%s failed: %s", cmd, out);
}

Test(shlib, exports_exactly_the_public_functions) {
    static char exported[16384], declared[16384];
    char out[4096];
    /* every name the headers declare with ENTKDEF (declarations and definitions alike) */
    run("grep -ho 'ENTKDEF[^(;=]*[^A-Za-z0-9_]entk_[A-Za-z0-9_]*(' entk.h entk_cn.h entk_so3.h"
        " | grep -o 'entk_[A-Za-z0-9_]*($' | tr -d '(' | sort -u", declared, sizeof declared);
    run("nm -D --defined-only " LIB " | awk '{print $3}' | sed 's/@.*//' | sort -u", exported, sizeof exported);
    cr_assert(strlen(declared) > 500, "too few declarations found: %s", declared);
    cr_expect_str_eq(exported, declared, "exported:\n%s\ndeclared:\n%s", exported, declared);
    cr_expect(strstr(exported, "entk__") == NULL);
    run("readelf -d " LIB " | grep SONAME", out, sizeof out);
    cr_expect(strstr(out, "[libentk.so.0]") != NULL, "%s", out);
}
