/* AArch64 checks under qemu-user (Criterion hangs there): a plain program that prints
 * `N passed, N failed` and exits non-zero on failure. */
#define ENTK_IMPLEMENTATION
#include "entk.h"
#include <stdio.h>
#include <string.h>
#include <math.h>

static int n_pass, n_fail;
#define CHECK(cond, ...) do { if (cond) ++n_pass; else { ++n_fail; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

/* ==== [section: aarch64 checks simd] ========================================================= */

/* ==== [end: aarch64 checks simd] ============================================================= */



/* ==== [section: aarch64 checks linalg] ======================================================= */

/* ==== [end: aarch64 checks linalg] =========================================================== */

int main(void) {
    printf("entk %s on %s (SLEEF %s)\n", ENTK_VERSION_STRING, entk_simd_name(), entk_sleef_version());
    CHECK(entk_simd_path() == ENTK_SIMD_NEON, "NEON path not selected: %s", entk_simd_name());
    if (entk_simd_path() == ENTK_SIMD_NEON) printf("NEON path selected\n");
    /* ==== [section: aarch64 main calls simd] ==== */
    /* ==== [end: aarch64 main calls simd] ==== */


    /* ==== [section: aarch64 main calls linalg] ==== */
    /* ==== [end: aarch64 main calls linalg] ==== */
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
