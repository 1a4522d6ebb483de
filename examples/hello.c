/* The README's C example: NNGP and NTK of a 2-layer ReLU MLP for three inputs. */
#define ENTK_IMPLEMENTATION
#include "entk.h"
#include <stdio.h>

int main(void) {
    double x[3 * 2] = {1.0, 0.0, 0.6, 0.8, -1.0, 0.5}; /* 3 inputs of dimension 2 */
    double K[3 * 3], T[3 * 3];
    char err[128];
    entk_arch arch;
    entk_status st;
    int i, j;
    if ((st = entk_arch_parse("dense(sw=1.4,sb=0.1) relu dense", &arch, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* x2 = NULL: the symmetric Gram matrix of x with itself; 1 thread */
    if ((st = entk_mlp_kernel(&arch, x, 3, NULL, 0, 2, K, 3, T, 3, 1))) {
        fprintf(stderr, "entk: %s\n", entk_status_string(st));
        return 1;
    }
    printf("NNGP K                      NTK Theta    (%s path)\n", entk_simd_name());
    for (i = 0; i < 3; ++i) {
        for (j = 0; j < 3; ++j) printf("%8.4f ", K[i * 3 + j]);
        printf("   ");
        for (j = 0; j < 3; ++j) printf("%8.4f ", T[i * 3 + j]);
        printf("\n");
    }
    return 0;
}
