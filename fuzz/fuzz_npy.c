/* libFuzzer target: the .npy reader on arbitrary bytes. Every status is a known one; a failure leaves
 * the array all zero with a one-line message within errlen; a success gives a well-formed finite array
 * that the writer encodes and the reader decodes again to the same bits (and the same bytes once
 * more: the writer is a fixed point). */
#define ENTK_IMPLEMENTATION
#include "fuzz_common.h"
#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const entk_array zero;
    entk_array a, b;
    size_t errlen, len = 0, len2 = 0, i, prod = 1;
    char *err = fz_errbuf(size, &errlen);
    unsigned char *enc, *enc2;
    entk_status st = entk_npy_read_mem(data, size, &a, err, errlen);
    fz_check_status(st);
    if (st != ENTK_OK) {
        FZ_CHECK(memcmp(&a, &zero, sizeof a) == 0);
        fz_check_message(err, errlen);
        free(err);
        return 0;
    }
    free(err);
    FZ_CHECK(a.data != NULL);
    FZ_CHECK(a.ndim >= 0 && a.ndim <= ENTK_NPY_MAX_DIM);
    for (i = 0; i < (size_t)a.ndim; ++i) prod *= a.shape[i];
    for (i = (size_t)a.ndim; i < ENTK_NPY_MAX_DIM; ++i) FZ_CHECK(a.shape[i] == 0);
    FZ_CHECK(a.size == prod);
    for (i = 0; i < a.size; ++i) FZ_CHECK(isfinite(a.data[i]));

    FZ_CHECK(entk_npy_write_mem(a.data, a.ndim, a.shape, NULL, 0, &len) == ENTK_OK);
    enc = (unsigned char *)malloc(len);
    FZ_CHECK(enc != NULL);
    FZ_CHECK(entk_npy_write_mem(a.data, a.ndim, a.shape, enc, len, &len2) == ENTK_OK && len2 == len);
    st = entk_npy_read_mem(enc, len, &b, NULL, 0);
    FZ_CHECK(st == ENTK_OK);
    FZ_CHECK(b.ndim == a.ndim && b.size == a.size);
    FZ_CHECK(memcmp(b.shape, a.shape, sizeof a.shape) == 0);
    FZ_CHECK(a.size == 0 || memcmp(b.data, a.data, a.size * sizeof *a.data) == 0);
    enc2 = (unsigned char *)malloc(len);
    FZ_CHECK(enc2 != NULL);
    FZ_CHECK(entk_npy_write_mem(b.data, b.ndim, b.shape, enc2, len, &len2) == ENTK_OK && len2 == len);
    FZ_CHECK(memcmp(enc, enc2, len) == 0);
    free(enc);
    free(enc2);
    entk_array_free(&a);
    entk_array_free(&b);
    return 0;
}
