/* libFuzzer target: the XYZ reader of entk_so3.h on arbitrary bytes. Every status is a known one; a
 * failure leaves the molecules all zero with a one-line message within errlen; a success gives
 * molecules that follow the reader's rules (counts, elements, finite coordinates and energies, no
 * coincident atoms), which written back as XYZ text read again to the same bits, and whose features
 * (small molecules, L = 2) are finite with each real atom's one-hot channel 1 and padding atoms 0. */
#define ENTK_IMPLEMENTATION
#include "fuzz_common.h"
#include "entk_so3.h"
#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fz_symbol(int z) { return z == 1 ? "H" : z == 6 ? "C" : z == 7 ? "N" : z == 8 ? "O" : "F"; }

/* The molecules as XYZ text (%.17g round-trips every double); the length, or 0 if it does not fit. */
static size_t fz_write(const entk_so3_molecules *m, char *buf, size_t cap) {
    size_t i, a, o = 0;
    for (i = 0; i < m->n; ++i) {
        int w = snprintf(buf + o, cap - o, "%zu\nenergy=%.17g\n", m->count[i], m->energy[i]);
        if (w < 0 || (size_t)w >= cap - o) return 0;
        o += (size_t)w;
        for (a = m->first[i]; a < m->first[i] + m->count[i]; ++a) {
            w = snprintf(buf + o, cap - o, "%s %.17g %.17g %.17g\n", fz_symbol(m->z[a]), m->xyz[3 * a],
                         m->xyz[3 * a + 1], m->xyz[3 * a + 2]);
            if (w < 0 || (size_t)w >= cap - o) return 0;
            o += (size_t)w;
        }
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const entk_so3_molecules zero;
    entk_so3_molecules m, b;
    size_t errlen, i, a, total = 0, len, C, k;
    char *err = fz_errbuf(size, &errlen);
    entk_status st = entk_so3_xyz_parse((const char *)data, size, &m, err, errlen);
    fz_check_status(st);
    if (st != ENTK_OK) {
        FZ_CHECK(st == ENTK_ERR_INVALID_ARG || st == ENTK_ERR_NONFINITE || st == ENTK_ERR_NOMEM);
        FZ_CHECK(memcmp(&m, &zero, sizeof m) == 0);
        fz_check_message(err, errlen);
        free(err);
        return 0;
    }
    free(err);
    FZ_CHECK(m.n >= 1 && m.count && m.first && m.line && m.z && m.xyz && m.energy);
    for (i = 0; i < m.n; ++i) {
        FZ_CHECK(m.count[i] >= 1 && m.count[i] <= m.max_atoms && m.count[i] <= ENTK_SO3_XYZ_MAX_ATOMS);
        FZ_CHECK(m.first[i] == total);
        FZ_CHECK(m.line[i] == (i == 0 ? 1 : m.line[i - 1] + m.count[i - 1] + 2)); /* no blank lines between */
        FZ_CHECK(isfinite(m.energy[i]));
        total += m.count[i];
    }
    FZ_CHECK(total == m.atoms);
    for (a = 0; a < m.atoms; ++a) {
        FZ_CHECK(m.z[a] == 1 || m.z[a] == 6 || m.z[a] == 7 || m.z[a] == 8 || m.z[a] == 9);
        for (k = 0; k < 3; ++k) FZ_CHECK(isfinite(m.xyz[3 * a + k]) && fabs(m.xyz[3 * a + k]) <= 1e6);
    }

    /* written back and read again: the same bits */
    {
        const size_t cap = 64 + m.atoms * 96 + m.n * 48;
        char *txt = (char *)malloc(cap);
        FZ_CHECK(txt != NULL);
        len = fz_write(&m, txt, cap);
        FZ_CHECK(len > 0);
        FZ_CHECK(entk_so3_xyz_parse(txt, len, &b, NULL, 0) == ENTK_OK);
        FZ_CHECK(b.n == m.n && b.atoms == m.atoms && b.max_atoms == m.max_atoms);
        FZ_CHECK(memcmp(b.count, m.count, m.n * sizeof *m.count) == 0);
        FZ_CHECK(memcmp(b.energy, m.energy, m.n * sizeof *m.energy) == 0);
        FZ_CHECK(memcmp(b.z, m.z, m.atoms * sizeof *m.z) == 0);
        FZ_CHECK(memcmp(b.xyz, m.xyz, 3 * m.atoms * sizeof *m.xyz) == 0);
        entk_so3_molecules_free(&b);
        free(txt);
    }

    /* the features of small sets */
    if (m.max_atoms <= 32 && m.n <= 64) {
        double *x;
        FZ_CHECK(entk_so3_featurize_size(&m, 2, 0, &C, &len) == ENTK_OK && C == 15);
        x = (double *)malloc(len * sizeof *x);
        FZ_CHECK(x != NULL);
        FZ_CHECK(entk_so3_featurize(&m, 2, NULL, 0, x, len) == ENTK_OK);
        for (i = 0; i < m.n; ++i)
            for (a = 0; a < m.max_atoms; ++a) {
                const double *xa = x + (i * m.max_atoms + a) * C * 12;
                for (k = 0; k < C * 12; ++k) {
                    FZ_CHECK(isfinite(xa[k]));
                    if (a >= m.count[i]) FZ_CHECK(xa[k] == 0.0);
                }
                if (a < m.count[i]) {
                    const int z = m.z[m.first[i] + a], e = z == 1 ? 0 : z - 5;
                    for (k = 0; k < 12; ++k) FZ_CHECK(xa[(size_t)e * 12 + k] == 1.0);
                }
            }
        free(x);
    }
    entk_so3_molecules_free(&m);
    return 0;
}
