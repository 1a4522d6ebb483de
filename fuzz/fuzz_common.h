/* Shared by the libFuzzer targets fuzz/fuzz_<name>.c (each is one target; its seeds are in
 * fuzz/corpus/<name>/ and the inputs of past crashes in fuzz/regress/<name>/). A failed check prints
 * what failed and aborts, which libFuzzer reports as a crash and saves the input. */
#ifndef ENTK_FUZZ_COMMON_H
#define ENTK_FUZZ_COMMON_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "entk.h"

#define FZ_CHECK(c)                                                                          \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);            \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

static void fz_check_status(entk_status st) { FZ_CHECK((int)st >= 0 && (int)st < ENTK__STATUS_COUNT); }

/* An error buffer of exactly errlen bytes from malloc, so AddressSanitizer sees any write past it;
 * its length (0, 1, 9 or 160) comes from the input's size, so every length is exercised. Filled with
 * 'x' to see whether the library terminates what it writes. */
static char *fz_errbuf(size_t size, size_t *errlen) {
    static const size_t lens[4] = {0, 1, 9, 160};
    char *e;
    *errlen = lens[size % 4];
    e = (char *)malloc(*errlen ? *errlen : 1);
    FZ_CHECK(e != NULL);
    memset(e, 'x', *errlen);
    return e;
}

/* After a failure: a one-line message, NUL-terminated within errlen (empty only if it cannot fit). */
static void fz_check_message(const char *err, size_t errlen) {
    const char *nul;
    if (errlen == 0) return;
    nul = (const char *)memchr(err, 0, errlen);
    FZ_CHECK(nul != NULL);
    FZ_CHECK(errlen == 1 || nul > err);
    FZ_CHECK(memchr(err, '\n', (size_t)(nul - err)) == NULL);
}
#endif /* ENTK_FUZZ_COMMON_H */
