/* An outside program built against an installed entk (tests/test_install.c): with the headers alone
 * (pkg-config entk or entk-nosleef, CMake entk::entk; this file holds the implementation), or with
 * -DHELLO_SHARED against libentk.so (pkg-config entk-shared, CMake entk::shared). Prints the NNGP and
 * NTK Gram of three inputs under "dense(sw=1.5,sb=0.1) relu dense", each entry as %a, then the path. */
#ifndef HELLO_SHARED
#define ENTK_IMPLEMENTATION
#endif
#include "entk.h"
#include <stdio.h>

int main(void) {
    entk_arch a;
    char err[128];
    double x[3 * 3] = {1, 0, 0, 0.6, 0.8, 0, -0.3, 0.2, 1.7}, k[9], t[9];
    entk_status s;
    int i;
    if (entk_arch_parse("dense(sw=1.5,sb=0.1) relu dense", &a, err, sizeof err) != ENTK_OK) {
        fprintf(stderr, "hello: %s\n", err);
        return 1;
    }
    s = entk_mlp_kernel(&a, x, 3, x, 3, 3, k, 3, t, 3, 2);
    if (s != ENTK_OK) {
        fprintf(stderr, "hello: %s\n", entk_status_string(s));
        return 1;
    }
    for (i = 0; i < 9; ++i) printf("%a %a\n", k[i], t[i]);
    printf("%s\n", entk_simd_name());
    return 0;
}
