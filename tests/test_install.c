/* make install and make uninstall (Makefile, pkg/): an outside program (tests/install/hello.c) builds
 * against the installed tree with pkg-config (entk, entk-nosleef, entk-shared) and with CMake's
 * find_package(entk) (entk::entk, entk::shared, ENTK_NO_SLEEF), runs, and prints the library's Gram
 * bit for bit (compared with this process's own entk); the installed `entk` runs; DESTDIR stages the
 * PREFIX paths; make uninstall leaves no file behind. Runs make from the repository root, in the first
 * variant only (Makefile: PROGRAM_TESTS); without pkg-config or cmake (sh scripts/deps.sh test) the
 * binary prints one entk-skip line and exits 0. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testutil.h"

__attribute__((constructor)) static void skip_without_tools(void) {
    if (system("command -v pkg-config >/dev/null 2>&1 && command -v cmake >/dev/null 2>&1") == 0) return;
    printf("entk-skip: no pkg-config or no cmake (sh scripts/deps.sh test installs them): no install test run\n");
    fflush(stdout);
    exit(0);
}

#ifdef ENTK_NO_SLEEF /* NO_SLEEF=1: no SLEEF on the machine, so only the variants without it */
#define PC_HEADERS "entk-nosleef"
#define CMAKE_SLEEF "-DENTK_NO_SLEEF=ON"
#define MAKE_SLEEF "NO_SLEEF=1"
#else
#define PC_HEADERS "entk"
#define CMAKE_SLEEF ""
#define MAKE_SLEEF ""
#endif
/* make as a command of its own, whatever make runs the tests */
#define MAKE "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -s " MAKE_SLEEF " "

static char dir[96]; /* absolute: PREFIX must be */

static void setup(void) {
    char cwd[512], cmd[256];
    static int count;
    cr_assert(getcwd(cwd, sizeof cwd));
    snprintf(dir, sizeof dir, "%.60s/build/install-test-%ld-%d", cwd, (long)getpid(), count++);
    cr_assert(strlen(dir) < sizeof dir - 1, "repository path too long for the test: %s", cwd);
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    cr_assert_eq(system(cmd), 0);
}

static void teardown(void) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) cr_log_warn("could not remove %s", dir);
}

TestSuite(install, .init = setup, .fini = teardown);

/* Run a shell command (from the repository root), its stdout and stderr into out; the exit status. */
static int sh(const char *cmd, char *out, size_t outlen) {
    char full[4096], path[160];
    FILE *f;
    size_t n;
    int rc;
    snprintf(path, sizeof path, "%s/out.txt", dir);
    snprintf(full, sizeof full, "( %s ) > %s 2>&1", cmd, path);
    rc = system(full);
    f = fopen(path, "rb");
    cr_assert(f);
    n = fread(out, 1, outlen - 1, f);
    out[n] = 0;
    fclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

static void ok(const char *cmd) {
    static char out[16384];
    int rc = sh(cmd, out, sizeof out);
    cr_assert_eq(rc, 0, "%s: exit %d:\n%s", cmd, rc, out);
}

/* What tests/install/hello.c prints, from this process's entk (tests/impl.c). */
static void expected(char *buf, size_t len) {
    entk_arch a;
    char err[128];
    double x[3 * 3] = {1, 0, 0, 0.6, 0.8, 0, -0.3, 0.2, 1.7}, k[9], t[9];
    size_t used = 0;
    int i;
    cr_assert_eq(entk_arch_parse("dense(sw=1.5,sb=0.1) relu dense", &a, err, sizeof err), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, x, 3, x, 3, 3, k, 3, t, 3, 2), ENTK_OK);
    for (i = 0; i < 9; ++i) used += (size_t)snprintf(buf + used, len - used, "%a %a\n", k[i], t[i]);
    snprintf(buf + used, len - used, "%s\n", entk_simd_name());
}

/* Run the program prog (a path under dir, with a shell prefix pre); its output is hello.c's. */
static void hello_prints_the_library(const char *pre, const char *prog) {
    char cmd[512], out[2048], want[2048];
    int rc;
    snprintf(cmd, sizeof cmd, "%s %s/%s", pre, dir, prog);
    rc = sh(cmd, out, sizeof out);
    cr_assert_eq(rc, 0, "%s: exit %d: %s", cmd, rc, out);
    expected(want, sizeof want);
    cr_expect_str_eq(out, want, "%s printed\n%s\nthe library\n%s", prog, out, want);
}

/* Files and symbolic links left under the directory d (relative to dir): their count. */
static int files_under(const char *d) {
    char cmd[256], out[4096];
    snprintf(cmd, sizeof cmd, "find %s/%s \\( -type f -o -type l \\) | wc -l", dir, d);
    cr_assert_eq(sh(cmd, out, sizeof out), 0, "%s", out);
    return atoi(out);
}

/* The installed Python module (tests/install/hello.py, Debian's python3 with NumPy) loads the installed
 * libentk.so and gives hello.c's Gram bit for bit. */
static void installed_python(void) {
    char cmd[1024], out[4096], *p = out, *end;
    entk_arch a;
    char err[128];
    double x[3 * 3] = {1, 0, 0, 0.6, 0.8, 0, -0.3, 0.2, 1.7}, k[9], t[9];
    int i;
    snprintf(cmd, sizeof cmd, "PYTHONPATH=%s/p/lib/python3/dist-packages /usr/bin/python3 tests/install/hello.py", dir);
    cr_assert_eq(sh(cmd, out, sizeof out), 0, "%s: %s", cmd, out);
    cr_assert_eq(entk_arch_parse("dense(sw=1.5,sb=0.1) relu dense", &a, err, sizeof err), ENTK_OK);
    cr_assert_eq(entk_mlp_kernel(&a, x, 3, x, 3, 3, k, 3, t, 3, 2), ENTK_OK);
    for (i = 0; i < 9; ++i) {
        double kv = strtod(p, &end), tv;
        cr_assert(end != p, "%s", out);
        tv = strtod(end, &p);
        cr_expect(memcmp(&kv, &k[i], sizeof kv) == 0 && memcmp(&tv, &t[i], sizeof tv) == 0, "entry %d: %s", i, out);
    }
    snprintf(cmd, sizeof cmd, "%s/p/lib/libentk.so.", dir);
    cr_expect(strstr(p, cmd) != NULL, "the module loaded another library: %s", p);
}

Test(install, pkg_config_build_run_uninstall) {
    char cmd[2048], out[4096];
    const char *pc = "PKG_CONFIG_PATH=%s/p/lib/pkgconfig pkg-config";
    char pcd[256];
    snprintf(pcd, sizeof pcd, pc, dir);
    snprintf(cmd, sizeof cmd, MAKE "install PREFIX=%s/p", dir);
    ok(cmd);
    /* exactly the files the Makefile lists: 1 program, 3 headers, the library and its 2 links, 3 .pc, 2
     * CMake files, the Python module */
    cr_assert_eq(files_under("p"), 13);
    /* the flags a header-only program needs */
    snprintf(cmd, sizeof cmd, "%s --cflags --libs entk", pcd);
    cr_assert_eq(sh(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "/p/include") && strstr(out, "-fopenmp") && strstr(out, "-lsleef") && strstr(out, "-lm"),
              "%s", out);
    snprintf(cmd, sizeof cmd, "%s --cflags --libs entk-nosleef", pcd);
    cr_assert_eq(sh(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "-DENTK_NO_SLEEF") && !strstr(out, "-lsleef") && strstr(out, "-lm"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s --modversion entk-shared", pcd);
    cr_assert_eq(sh(cmd, out, sizeof out), 0, "%s", out);
    cr_expect_str_eq(out, ENTK_VERSION_STRING "\n");

    /* an outside program, header-only, with and without SLEEF, and against libentk.so */
    snprintf(cmd, sizeof cmd, "cc -std=c99 -O2 -o %s/hello tests/install/hello.c $(%s --cflags --libs " PC_HEADERS ")",
             dir, pcd);
    ok(cmd);
    hello_prints_the_library("", "hello");
    snprintf(cmd, sizeof cmd, "cc -std=c99 -O2 -o %s/hello_nosleef tests/install/hello.c $(%s --cflags --libs "
             "entk-nosleef)", dir, pcd);
    ok(cmd);
#ifdef ENTK_NO_SLEEF
    hello_prints_the_library("", "hello_nosleef");
#else
    /* relu's map is entk's own (no SLEEF in it): the same bits, another path name */
    snprintf(cmd, sizeof cmd, "%s/hello_nosleef", dir);
    cr_assert_eq(sh(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "no SLEEF") || strstr(out, "scalar"), "%s", out);
#endif
    snprintf(cmd, sizeof cmd, "cc -std=c99 -DHELLO_SHARED -o %s/hello_shared tests/install/hello.c $(%s --cflags "
             "--libs entk-shared)", dir, pcd);
    ok(cmd);
    snprintf(cmd, sizeof cmd, "LD_LIBRARY_PATH=%s/p/lib", dir);
    hello_prints_the_library(cmd, "hello_shared");

    /* the installed program */
    snprintf(cmd, sizeof cmd, "%s/p/bin/entk --version", dir);
    cr_assert_eq(sh(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, ENTK_VERSION_STRING) != NULL, "%s", out);

    installed_python();

    snprintf(cmd, sizeof cmd, MAKE "uninstall PREFIX=%s/p", dir);
    ok(cmd);
    cr_expect_eq(files_under("p"), 0, "make uninstall left files behind");
}

Test(install, cmake_find_package) {
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd, MAKE "install PREFIX=%s/p", dir);
    ok(cmd);
    snprintf(cmd, sizeof cmd, "cmake -S tests/install -B %s/b -DCMAKE_PREFIX_PATH=%s/p " CMAKE_SLEEF
             " && cmake --build %s/b", dir, dir, dir);
    ok(cmd);
    hello_prints_the_library("", "b/hello");
    hello_prints_the_library("", "b/hello_shared"); /* CMake's build tree has the library's rpath */
#ifndef ENTK_NO_SLEEF
    /* ENTK_NO_SLEEF on: -DENTK_NO_SLEEF, no SLEEF among the link libraries */
    snprintf(cmd, sizeof cmd, "cmake -S tests/install -B %s/n -DCMAKE_PREFIX_PATH=%s/p -DENTK_NO_SLEEF=ON && "
             "cmake --build %s/n && %s/n/hello && ! grep -q sleef %s/n/CMakeFiles/hello.dir/link.txt", dir, dir, dir,
             dir, dir);
    cr_assert_eq(sh(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "no SLEEF") || strstr(out, "scalar"), "%s", out);
#endif
    /* a version it is not */
    snprintf(cmd, sizeof cmd, "printf 'cmake_minimum_required(VERSION 3.13)\\nproject(v C)\\nfind_package(entk 1.0 "
             "REQUIRED)\\n' > %s/CMakeLists.txt && cmake -S %s -B %s/v -DCMAKE_PREFIX_PATH=%s/p", dir, dir, dir, dir);
    cr_expect_neq(sh(cmd, out, sizeof out), 0, "find_package(entk 1.0) accepted %s", ENTK_VERSION_STRING);
    snprintf(cmd, sizeof cmd, MAKE "uninstall PREFIX=%s/p", dir);
    ok(cmd);
    cr_expect_eq(files_under("p"), 0, "make uninstall left files behind");
}

Test(install, destdir_stages_prefix) {
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd, MAKE "install PREFIX=/opt/entk-test DESTDIR=%s/stage", dir);
    ok(cmd);
    cr_assert_eq(files_under("stage/opt/entk-test"), 13);
    snprintf(cmd, sizeof cmd, "grep -x 'prefix=/opt/entk-test' %s/stage/opt/entk-test/lib/pkgconfig/entk.pc && "
             "grep -q '\"/opt/entk-test/include\"' %s/stage/opt/entk-test/lib/cmake/entk/entkConfig.cmake && "
             "test ! -e /opt/entk-test", dir, dir);
    cr_expect_eq(sh(cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, MAKE "uninstall PREFIX=/opt/entk-test DESTDIR=%s/stage", dir);
    ok(cmd);
    cr_expect_eq(files_under("stage"), 0, "make uninstall left files behind");
}
