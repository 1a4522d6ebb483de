/* entk_so3.h - SO(3) networks (docs/conventions.md §1.5): molecules read from XYZ files and turned into
 *              per-atom signals on the sphere (this part), sampled on the Driscoll-Healy grid.    MIT
 *
 * USAGE
 *   In exactly one C file:
 *       #define ENTK_IMPLEMENTATION
 *       #include "entk_so3.h"       (includes entk.h, and its implementation with it)
 *   Everywhere else just #include "entk_so3.h". Link with `-lsleef -lm`, or build with -DENTK_NO_SLEEF
 *   and link with `-lm`.
 *
 * CONFIGURATION MACROS: those of entk.h, and
 *   name                     where            default   effect
 *   ENTK_SO3_XYZ_MAX_ATOMS   every include    4096      largest atom count of one molecule in an XYZ file
 *   ENTK_SO3_XYZ_MAX_BYTES   implementation   2^30      largest XYZ file entk_so3_xyz_read_file reads
 *
 * CONTENTS
 *   1. Interface: molecules (the XYZ reader), per-atom spherical features
 *   2. Implementation: the XYZ reader, the features
 *
 * EXAMPLE
 *   #define ENTK_IMPLEMENTATION
 *   #include "entk_so3.h"
 *   int main(void) {
 *       static const char xyz[] = "3\nenergy=-76.4\nO 0 0 0\nH 0.76 0.59 0\nH -0.76 0.59 0\n";
 *       entk_so3_molecules m; size_t c, len; double x[3 * 15 * 2 * 1]; int ok;
 *       if (entk_so3_xyz_parse(xyz, sizeof xyz - 1, &m, NULL, 0)) return 1;
 *       ok = entk_so3_featurize_size(&m, 1, 0, &c, &len) == ENTK_OK && c == 15 && len == 3 * 15 * 2 &&
 *            entk_so3_featurize(&m, 1, NULL, 0, x, sizeof x / sizeof x[0]) == ENTK_OK;
 *       entk_so3_molecules_free(&m);
 *       return !ok;
 *   }
 */
#include "entk.h"

#ifndef ENTK_SO3_H
#define ENTK_SO3_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- BEGIN featurize interface ---- */
/* ============================================================================================== */
/* Molecules and their spherical features (docs/conventions.md §1.5, §5.5, §6)                   */
/* ============================================================================================== */
/*
 * THE XYZ FILES (entk_so3_xyz_parse, entk_so3_xyz_read_file)
 *   One or more blocks, one per molecule, of
 *       line 1        the atom count: a decimal integer from 1 to ENTK_SO3_XYZ_MAX_ATOMS, alone on its
 *                     line (spaces and tabs around it are allowed);
 *       line 2        the comment line: whitespace-separated tokens; tokens key=value (no spaces around
 *                     '=') are pairs, all other tokens are ignored. energy=<Hartree> is required
 *                     (exactly the lowercase key `energy`, once); every other key is ignored. A value is
 *                     an unquoted token or a double-quoted string without escapes ("-76.4" and
 *                     Lattice="1 0 0 0 1 0 0 0 1" both work);
 *       atom lines    one per atom: `El x y z` with El one of H, C, N, O, F (case-sensitive symbols;
 *                     no atomic numbers) and x, y, z in Angstrom; further columns (extended XYZ forces,
 *                     charges) are ignored.
 *   Molecules of different sizes may follow each other. Numbers are read by strtod (decimal,
 *   exponent, hexadecimal; the C locale's '.'); NaN and Inf (also 1e999, which overflows) are
 *   ENTK_ERR_NONFINITE, coordinates beyond +-1e6 Angstrom are refused. Two atoms of one molecule closer
 *   than 0.1 Angstrom are coincident, an error (the features divide by the distance). Lines end in
 *   LF or CRLF (one CR before the LF is dropped); the last line need not end in a newline. Blank lines
 *   (spaces and tabs only) are allowed only at the end of the file, not between or before molecules.
 *   A NUL byte anywhere is an error (not a text file).
 *   Every failure is ENTK_ERR_INVALID_ARG (ENTK_ERR_NONFINITE for a non-finite number) with a one-line
 *   message naming the 1-based line, e.g. "line 7: unknown element 'Cl' (H, C, N, O, F)",
 *   "line 2: no energy= on the comment line", "line 5: expected 3 coordinates after 'H', got 2",
 *   "line 12: the file ends after 1 of the 3 atoms of the molecule at line 9". Echoed text is cut at
 *   32 bytes ("...") and shows bytes outside printable ASCII as '?'.
 *
 * THE FEATURES (entk_so3_featurize)
 *   Grid for band limit L (Driscoll-Healy): theta_j = pi (2j + 1) / (4L), j < 2L; phi_k = 2 pi k / (2L - 1),
 *   k < 2L - 1; direction n(theta, phi) = (sin theta cos phi, sin theta sin phi, cos theta). A signal is
 *   2L x (2L - 1) samples, row-major [j][k].
 *   Elements e in the order H, C, N, O, F (indices 0..4); powers p_0 .. p_{P-1} (default {1, 2}).
 *   Channels of atom a, C = 5 + 5 P of them:
 *       c = e              (0 <= e < 5)  one-hot: 1 everywhere if atom a is element e, else 0
 *       c = 5 + e P + i    (i < P)       sum over the other atoms b of element e of
 *                                          Z_a Z_b |r_ab|^(-p_i) w(n . r_ab / |r_ab|)
 *   (the power index i runs fastest), with r_ab = r_b - r_a in Angstrom (the direction from a to its
 *   neighbour b), Z the atomic numbers, and the angular bump w(c) = ((1 + c) / 2)^(L - 1): a
 *   polynomial of degree L - 1 in n, so every signal is band-limited to degrees l < L exactly, and the
 *   features of a rotated molecule R r are exactly the rotated signals, f_R(n) = f(R^-1 n) (to rounding).
 *   Translations change nothing; permuting the atoms permutes the atom axis. The output is
 *   N x A_max x C x 2L x (2L - 1) doubles, A_max = m->max_atoms; molecule i's atoms come first in file
 *   order, its atoms count[i] .. A_max - 1 are all zero (the atom kernels ignore all-zero atoms). A
 *   real atom is never all zero: its one-hot channel is 1 (also without neighbours).
 */

#ifndef ENTK_SO3_XYZ_MAX_ATOMS
#define ENTK_SO3_XYZ_MAX_ATOMS 4096 /* define identically before every include */
#endif
#define ENTK_SO3_N_ELEMENTS 5      /* H, C, N, O, F */
#define ENTK_SO3_FEAT_MAX_L 1024   /* band limits 1 .. 1024, as the grammar's L */
#define ENTK_SO3_FEAT_MAX_POWER 12 /* powers 1 .. 12 */
#define ENTK_SO3_FEAT_MAX_POWERS 8 /* at most 8 distinct powers */

/* Molecules, as the reader returns them (all arrays from ENTK_MALLOC; entk_so3_molecules_free). Atom
 * j of molecule i is atom first[i] + j of z and xyz. A hand-made set must follow the reader's rules
 * (counts 1 .. max_atoms, elements H C N O F, finite coordinates within +-1e6, no two atoms of a
 * molecule within 0.1 Angstrom); the feature functions check them. */
typedef struct entk_so3_molecules {
    size_t n;         /* molecules */
    size_t atoms;     /* atoms of all molecules together */
    size_t max_atoms; /* A_max, the largest count */
    size_t *count;    /* [n] atoms per molecule */
    size_t *first;    /* [n] index of each molecule's first atom */
    size_t *line;     /* [n] 1-based line of each molecule's atom count in the file (0: not from one) */
    int *z;           /* [atoms] atomic numbers: 1 H, 6 C, 7 N, 8 O, 9 F */
    double *xyz;      /* [atoms x 3] coordinates in Angstrom, row-major */
    double *energy;   /* [n] energies in Hartree */
} entk_so3_molecules;

/* Read the XYZ text text[0..len) (not NUL-terminated; NULL only with len 0) into *out (see THE XYZ
 * FILES). On failure *out is all zero (nothing to free) and err (errlen bytes, may be NULL/0) holds a
 * one-line message naming the line. Statuses: ENTK_ERR_INVALID_ARG (malformed text, or out NULL),
 * ENTK_ERR_NONFINITE, ENTK_ERR_NOMEM. Never reads beyond len. */
ENTKDEF entk_status entk_so3_xyz_parse(const char *text, size_t len, entk_so3_molecules *out, char *err,
                                       size_t errlen);

/* entk_so3_xyz_parse on the file at path (any stream). A file beyond ENTK_SO3_XYZ_MAX_BYTES, or with a
 * NUL byte, is refused while it is read (so /dev/zero stops at its first block). Adds ENTK_ERR_IO
 * ("cannot open 'x.xyz': No such file or directory"). */
ENTKDEF entk_status entk_so3_xyz_read_file(const char *path, entk_so3_molecules *out, char *err, size_t errlen);

/* Free the arrays of *m and zero it. m may be NULL; freeing twice is harmless. */
ENTKDEF void entk_so3_molecules_free(entk_so3_molecules *m);

/* The channel count C = 5 + 5 P and the length N x A_max x C x 2L x (2L - 1) of the output of
 * entk_so3_featurize for m, band limit L (1 .. ENTK_SO3_FEAT_MAX_L) and P = npowers powers (0: the
 * default {1, 2}, P = 2; at most ENTK_SO3_FEAT_MAX_POWERS). Either output may be NULL.
 * ENTK_ERR_INVALID_ARG (m NULL, L or npowers out of range), ENTK_ERR_OVERFLOW (the length, or its
 * bytes, beyond size_t). */
ENTKDEF entk_status entk_so3_featurize_size(const entk_so3_molecules *m, int L, int npowers, size_t *channels,
                                            size_t *len);

/* The features of every atom of every molecule of m on the grid of band limit L (see THE FEATURES),
 * into out[0..len) with len from entk_so3_featurize_size (out_len >= len, else ENTK_ERR_SHAPE; only
 * out[0..len) is written). powers: npowers distinct integers from 1 to ENTK_SO3_FEAT_MAX_POWER, or
 * NULL with npowers 0 for {1, 2}. Everything is checked before out is written: ENTK_ERR_INVALID_ARG
 * (NULL pointers, L, powers, a molecule set that breaks the reader's rules), ENTK_ERR_NONFINITE (a
 * non-finite coordinate), ENTK_ERR_OVERFLOW, ENTK_ERR_NOMEM (a few small scratch arrays),
 * ENTK_ERR_RANGE (never OK with a non-finite value). out may be NULL when len is 0. */
ENTKDEF entk_status entk_so3_featurize(const entk_so3_molecules *m, int L, const int *powers, int npowers,
                                       double *out, size_t out_len);

/* The C channels (entk_so3_featurize_size) of atom `atom` (0 .. max_atoms - 1; an index at or beyond
 * the molecule's count is a padding atom: all zero) of molecule `mol` at the direction dir (finite,
 * not zero; it is normalised), by the same code as entk_so3_featurize: at a grid direction computed
 * as the grid's, the same values. Arguments and statuses otherwise as entk_so3_featurize. */
ENTKDEF entk_status entk_so3_featurize_atom(const entk_so3_molecules *m, size_t mol, size_t atom, int L,
                                            const int *powers, int npowers, const double dir[3], double *out);
/* ---- END featurize interface ---- */

#ifdef __cplusplus
}
#endif
#endif /* ENTK_SO3_H */

/* ============================================================================================== */
/* --- implementation ---                                                                         */
/* ============================================================================================== */
#if defined(ENTK_IMPLEMENTATION) && !defined(ENTK_SO3_IMPLEMENTATION_DONE)
#define ENTK_SO3_IMPLEMENTATION_DONE
ENTK__FP_BEGIN /* contraction off, as in entk.h (see there) */

/* ---- BEGIN featurize implementation ---- */
/* ============================================================================================== */
/* The XYZ reader                                                                                 */
/* ============================================================================================== */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h> /* fopen/fread and vsnprintf: the library never prints */
#include <string.h>

#ifndef ENTK_SO3_XYZ_MAX_BYTES
#define ENTK_SO3_XYZ_MAX_BYTES ((size_t)1 << 30)
#endif
#define ENTK__SO3_XYZ_MAX_COORD 1e6 /* Angstrom */
#define ENTK__SO3_XYZ_MIN_DIST 0.1  /* Angstrom: closer atoms are coincident */
#define ENTK__SO3_XYZ_SHOW 32       /* bytes of echoed text */

static const int entk__so3_xyz_z[ENTK_SO3_N_ELEMENTS] = {1, 6, 7, 8, 9};
static const char entk__so3_xyz_sym[ENTK_SO3_N_ELEMENTS] = {'H', 'C', 'N', 'O', 'F'};

/* The element index 0..4 of atomic number z, or -1. */
static int entk__so3_xyz_elem(int z) {
    int e;
    for (e = 0; e < ENTK_SO3_N_ELEMENTS; ++e)
        if (entk__so3_xyz_z[e] == z) return e;
    return -1;
}

static entk_status entk__so3_xyz_fail(char *err, size_t errlen, entk_status st, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* Text echoed into a message: at most ENTK__SO3_XYZ_SHOW bytes, printable ASCII, others as '?'. */
static const char *entk__so3_xyz_show(const char *s, size_t n, char *out) {
    size_t i, m = n > ENTK__SO3_XYZ_SHOW ? ENTK__SO3_XYZ_SHOW : n;
    for (i = 0; i < m; ++i) out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (m < n) out[m++] = '.', out[m++] = '.', out[m++] = '.';
    out[m] = 0;
    return out;
}

static int entk__so3_xyz_ws(char c) { return c == ' ' || c == '\t'; }

/* The lines of the text: s[0..n) is the current line without its LF (and one CR before it). */
typedef struct entk__so3_xyz_cur {
    const char *p, *end;
    const char *s;
    size_t n, line;
} entk__so3_xyz_cur;

static int entk__so3_xyz_next(entk__so3_xyz_cur *c) {
    const char *nl;
    if (c->p >= c->end) return 0;
    nl = (const char *)memchr(c->p, '\n', (size_t)(c->end - c->p));
    c->s = c->p;
    c->n = (size_t)((nl ? nl : c->end) - c->p);
    c->p = nl ? nl + 1 : c->end;
    if (c->n && c->s[c->n - 1] == '\r') --c->n;
    ++c->line;
    return 1;
}

static int entk__so3_xyz_blank(const char *s, size_t n) {
    size_t i;
    for (i = 0; i < n; ++i)
        if (!entk__so3_xyz_ws(s[i])) return 0;
    return 1;
}

/* The next whitespace-separated token of s[*i..n) into (*t, *tn); 0 at the end of the line. */
static int entk__so3_xyz_token(const char *s, size_t n, size_t *i, const char **t, size_t *tn) {
    size_t j;
    while (*i < n && entk__so3_xyz_ws(s[*i])) ++*i;
    if (*i >= n) return 0;
    j = *i;
    while (*i < n && !entk__so3_xyz_ws(s[*i])) ++*i;
    *t = s + j;
    *tn = *i - j;
    return 1;
}

/* A number token: 0 ok, 1 not a number, 2 not finite (NaN, Inf, overflow). */
static int entk__so3_xyz_number(const char *t, size_t n, double *v) {
    char buf[128], *end;
    if (n == 0 || n >= sizeof buf || strchr(" \t\n\v\f\r", t[0])) return 1;
    memcpy(buf, t, n);
    buf[n] = 0;
    *v = strtod(buf, &end);
    if (end != buf + n) return 1;
    return (*v - *v == 0.0) ? 0 : 2;
}

/* Reallocate *p from `used` to `cap` elements of `size` bytes (cap * size fits: the caller checked). */
static int entk__so3_xyz_resize(void **p, size_t used, size_t cap, size_t size) {
    void *q = ENTK_MALLOC(cap * size);
    if (!q) return 0;
    if (used) memcpy(q, *p, used * size);
    ENTK_FREE(*p);
    *p = q;
    return 1;
}

ENTKDEF void entk_so3_molecules_free(entk_so3_molecules *m) {
    if (!m) return;
    ENTK_FREE(m->count);
    ENTK_FREE(m->first);
    ENTK_FREE(m->line);
    ENTK_FREE(m->z);
    ENTK_FREE(m->xyz);
    ENTK_FREE(m->energy);
    memset(m, 0, sizeof *m);
}

/* Room for one more molecule of `atoms` atoms (the arrays grow by doubling). */
static entk_status entk__so3_xyz_room(entk_so3_molecules *m, size_t *mcap, size_t *acap, size_t atoms) {
    if (m->n == *mcap) {
        size_t c = *mcap ? *mcap * 2 : 16;
        if (c > SIZE_MAX / (3 * sizeof(double))) return ENTK_ERR_OVERFLOW;
        if (!entk__so3_xyz_resize((void **)&m->count, m->n, c, sizeof *m->count) ||
            !entk__so3_xyz_resize((void **)&m->first, m->n, c, sizeof *m->first) ||
            !entk__so3_xyz_resize((void **)&m->line, m->n, c, sizeof *m->line) ||
            !entk__so3_xyz_resize((void **)&m->energy, m->n, c, sizeof *m->energy))
            return ENTK_ERR_NOMEM;
        *mcap = c;
    }
    if (m->atoms + atoms > *acap) {
        size_t c = *acap ? *acap : 64;
        while (c < m->atoms + atoms) {
            if (c > SIZE_MAX / (6 * sizeof(double))) return ENTK_ERR_OVERFLOW;
            c *= 2;
        }
        if (!entk__so3_xyz_resize((void **)&m->z, m->atoms, c, sizeof *m->z) ||
            !entk__so3_xyz_resize((void **)&m->xyz, 3 * m->atoms, 3 * c, sizeof *m->xyz))
            return ENTK_ERR_NOMEM;
        *acap = c;
    }
    return ENTK_OK;
}

/* The comment line: energy= exactly once (see THE XYZ FILES). */
static entk_status entk__so3_xyz_comment(const char *s, size_t n, size_t line, double *energy, char *err,
                                         size_t errlen) {
    char sh[ENTK__SO3_XYZ_SHOW + 4];
    size_t i = 0;
    int have = 0;
    while (i < n) {
        size_t k0, kn, v0, vn;
        while (i < n && entk__so3_xyz_ws(s[i])) ++i;
        if (i >= n) break;
        k0 = i;
        while (i < n && !entk__so3_xyz_ws(s[i]) && s[i] != '=') ++i;
        kn = i - k0;
        if (i >= n || s[i] != '=') continue; /* a word without '=' */
        ++i;
        if (i < n && s[i] == '"') {
            v0 = ++i;
            while (i < n && s[i] != '"') ++i;
            if (i >= n)
                return entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                          "line %zu: unterminated quote in the value of '%s'", line,
                                          entk__so3_xyz_show(s + k0, kn, sh));
            vn = i - v0;
            ++i;
        } else {
            v0 = i;
            while (i < n && !entk__so3_xyz_ws(s[i])) ++i;
            vn = i - v0;
        }
        if (kn == 6 && memcmp(s + k0, "energy", 6) == 0) {
            int r;
            if (have)
                return entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                          "line %zu: energy= given twice on the comment line", line);
            if (vn == 0)
                return entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG, "line %zu: energy= has no value",
                                          line);
            r = entk__so3_xyz_number(s + v0, vn, energy);
            if (r)
                return entk__so3_xyz_fail(err, errlen, r == 2 ? ENTK_ERR_NONFINITE : ENTK_ERR_INVALID_ARG,
                                          "line %zu: energy '%s' is %s", line,
                                          entk__so3_xyz_show(s + v0, vn, sh), r == 2 ? "not finite" : "not a number");
            have = 1;
        }
    }
    if (!have)
        return entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                  "line %zu: no energy= on the comment line (energy=<Hartree> is required)", line);
    return ENTK_OK;
}

/* Atom line: El x y z [ignored columns]; *e the element index, xyz[0..3) the coordinates. */
static entk_status entk__so3_xyz_atom(const char *s, size_t n, size_t line, int *e, double *xyz, char *err,
                                      size_t errlen) {
    char sh[ENTK__SO3_XYZ_SHOW + 4];
    const char *t, *el;
    size_t i = 0, tn, eln;
    int k;
    if (!entk__so3_xyz_token(s, n, &i, &el, &eln))
        return entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                  "line %zu: expected an atom line 'El x y z', got a blank line", line);
    for (*e = 0; *e < ENTK_SO3_N_ELEMENTS; ++*e)
        if (eln == 1 && el[0] == entk__so3_xyz_sym[*e]) break;
    if (*e == ENTK_SO3_N_ELEMENTS)
        return entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG, "line %zu: unknown element '%s' (H, C, N, O, F)",
                                  line, entk__so3_xyz_show(el, eln, sh));
    for (k = 0; k < 3; ++k) {
        int r;
        if (!entk__so3_xyz_token(s, n, &i, &t, &tn))
            return entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                      "line %zu: expected 3 coordinates after '%c', got %d", line,
                                      entk__so3_xyz_sym[*e], k);
        r = entk__so3_xyz_number(t, tn, &xyz[k]);
        if (r)
            return entk__so3_xyz_fail(err, errlen, r == 2 ? ENTK_ERR_NONFINITE : ENTK_ERR_INVALID_ARG,
                                      "line %zu: coordinate '%s' is %s", line, entk__so3_xyz_show(t, tn, sh),
                                      r == 2 ? "not finite" : "not a number");
        if (fabs(xyz[k]) > ENTK__SO3_XYZ_MAX_COORD)
            return entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                      "line %zu: coordinate '%s' is beyond +-1e6 Angstrom", line,
                                      entk__so3_xyz_show(t, tn, sh));
    }
    return ENTK_OK;
}

/* The first pair of atoms of a molecule closer than the minimum distance: 1 and (*a < *b), else 0. */
static int entk__so3_xyz_close(const double *xyz, size_t count, size_t *a, size_t *b, double *d) {
    size_t i, j;
    for (j = 1; j < count; ++j)
        for (i = 0; i < j; ++i) {
            double dx = xyz[3 * j] - xyz[3 * i], dy = xyz[3 * j + 1] - xyz[3 * i + 1],
                   dz = xyz[3 * j + 2] - xyz[3 * i + 2];
            *d = sqrt(dx * dx + dy * dy + dz * dz);
            if (!(*d >= ENTK__SO3_XYZ_MIN_DIST)) {
                *a = i;
                *b = j;
                return 1;
            }
        }
    return 0;
}

/* The atom count line: digits only (blanks around them); 0 and counts above the limit are refused. */
static entk_status entk__so3_xyz_count(const entk__so3_xyz_cur *c, size_t *count, char *err, size_t errlen) {
    char sh[ENTK__SO3_XYZ_SHOW + 4];
    size_t i = 0, n = c->n, v = 0, digits = 0;
    const char *s = c->s;
    while (i < n && entk__so3_xyz_ws(s[i])) ++i;
    while (n > i && entk__so3_xyz_ws(s[n - 1])) --n;
    for (; i + digits < n && s[i + digits] >= '0' && s[i + digits] <= '9'; ++digits)
        if (v <= ENTK_SO3_XYZ_MAX_ATOMS) v = v * 10 + (size_t)(s[i + digits] - '0');
    if (digits == 0 || i + digits != n) {
        int e;
        for (e = 0; e < ENTK_SO3_N_ELEMENTS; ++e)
            if (n > i + 1 && s[i] == entk__so3_xyz_sym[e] && entk__so3_xyz_ws(s[i + 1])) break;
        return entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                  "line %zu: expected an atom count (a positive integer), got '%s'%s", c->line,
                                  entk__so3_xyz_show(s + i, n - i, sh),
                                  e < ENTK_SO3_N_ELEMENTS ? " (an atom line: more atoms than the count above?)" : "");
    }
    if (v == 0)
        return entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                  "line %zu: atom count 0 (a molecule has at least 1 atom)", c->line);
    if (v > ENTK_SO3_XYZ_MAX_ATOMS)
        return entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                  "line %zu: atom count '%s' is above the limit %d (ENTK_SO3_XYZ_MAX_ATOMS)", c->line,
                                  entk__so3_xyz_show(s + i, n - i, sh), ENTK_SO3_XYZ_MAX_ATOMS);
    *count = v;
    return ENTK_OK;
}

ENTKDEF entk_status entk_so3_xyz_parse(const char *text, size_t len, entk_so3_molecules *out, char *err,
                                       size_t errlen) {
    entk_so3_molecules m;
    entk__so3_xyz_cur c;
    entk_status st = ENTK_OK;
    size_t mcap = 0, acap = 0;
    const char *nul;
    if (out) memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = 0;
    if (!out || (!text && len)) return entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG, "NULL argument");
    if (len && (nul = (const char *)memchr(text, 0, len)) != NULL) {
        size_t line = 1;
        const char *p;
        for (p = text; p < nul; ++p) line += *p == '\n';
        return entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG, "line %zu: NUL byte (not a text file)", line);
    }
    memset(&m, 0, sizeof m);
    memset(&c, 0, sizeof c);
    c.p = text;
    c.end = text + len;
    while (entk__so3_xyz_next(&c)) {
        size_t count = 0, at, a = 0, b = 0, head;
        double d = 0, energy = 0;
        if (entk__so3_xyz_blank(c.s, c.n)) { /* the rest must be blank */
            size_t bl = c.line;
            while (entk__so3_xyz_next(&c))
                if (!entk__so3_xyz_blank(c.s, c.n)) {
                    st = entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                            "line %zu: blank line %s the molecule at line %zu (blank lines are "
                                            "allowed only at the end of the file)",
                                            bl, m.n ? "between molecules, before" : "before", c.line);
                    goto fail;
                }
            break;
        }
        if ((st = entk__so3_xyz_count(&c, &count, err, errlen))) goto fail;
        head = c.line;
        if (!entk__so3_xyz_next(&c)) {
            st = entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                    "line %zu: the file ends before the comment line of the molecule at line %zu",
                                    head + 1, head);
            goto fail;
        }
        if ((st = entk__so3_xyz_comment(c.s, c.n, c.line, &energy, err, errlen))) goto fail;
        if ((st = entk__so3_xyz_room(&m, &mcap, &acap, count))) goto fail;
        for (at = 0; at < count; ++at) {
            int e = 0;
            if (!entk__so3_xyz_next(&c)) {
                st = entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                        "line %zu: the file ends after %zu of the %zu atoms of the molecule at line %zu",
                                        c.line + 1, at, count, head);
                goto fail;
            }
            if ((st = entk__so3_xyz_atom(c.s, c.n, c.line, &e, m.xyz + 3 * (m.atoms + at), err, errlen))) goto fail;
            m.z[m.atoms + at] = entk__so3_xyz_z[e];
        }
        if (entk__so3_xyz_close(m.xyz + 3 * m.atoms, count, &a, &b, &d)) {
            st = entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG,
                                    "line %zu: atom %zu is %.3g Angstrom from atom %zu (line %zu): atoms closer than "
                                    "0.1 Angstrom are coincident (the features divide by the distance)",
                                    head + 2 + b, b + 1, d, a + 1, head + 2 + a);
            goto fail;
        }
        m.count[m.n] = count;
        m.first[m.n] = m.atoms;
        m.line[m.n] = head;
        m.energy[m.n] = energy;
        if (count > m.max_atoms) m.max_atoms = count;
        m.atoms += count;
        ++m.n;
    }
    if (m.n == 0) {
        st = entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG, "no molecules: the file is %s",
                                len ? "blank" : "empty");
        goto fail;
    }
    *out = m;
    return ENTK_OK;
fail:
    if (st == ENTK_ERR_NOMEM) st = entk__so3_xyz_fail(err, errlen, st, "out of memory at line %zu", c.line);
    if (st == ENTK_ERR_OVERFLOW) st = entk__so3_xyz_fail(err, errlen, st, "too many atoms at line %zu", c.line);
    entk_so3_molecules_free(&m);
    return st;
}

ENTKDEF entk_status entk_so3_xyz_read_file(const char *path, entk_so3_molecules *out, char *err, size_t errlen) {
    FILE *f;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    entk_status st = ENTK_OK;
    if (out) memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = 0;
    if (!path || !out) return entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG, "NULL argument");
    f = fopen(path, "rb");
    if (!f) return entk__so3_xyz_fail(err, errlen, ENTK_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    for (;;) { /* read in blocks, doubling the buffer; stop at a NUL byte or beyond the limit */
        size_t got;
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb;
            if (cap > ENTK_SO3_XYZ_MAX_BYTES) {
                st = entk__so3_xyz_fail(err, errlen, ENTK_ERR_INVALID_ARG, "'%s' is larger than %zu bytes", path,
                                        (size_t)ENTK_SO3_XYZ_MAX_BYTES);
                break;
            }
            if (ncap > ENTK_SO3_XYZ_MAX_BYTES + 1) ncap = ENTK_SO3_XYZ_MAX_BYTES + 1;
            nb = (char *)ENTK_MALLOC(ncap);
            if (!nb) {
                st = entk__so3_xyz_fail(err, errlen, ENTK_ERR_NOMEM, "'%s' is too large for memory (%zu bytes read)",
                                        path, len);
                break;
            }
            if (len) memcpy(nb, buf, len);
            ENTK_FREE(buf);
            buf = nb;
            cap = ncap;
        }
        got = fread(buf + len, 1, cap - len, f);
        if (got && memchr(buf + len, 0, got)) {
            len += got;
            break; /* the parser names the line of the NUL */
        }
        len += got;
        if (len > ENTK_SO3_XYZ_MAX_BYTES) continue; /* refused at the next turn */
        if (len < cap) {
            if (ferror(f)) {
                const int e = errno;
                st = entk__so3_xyz_fail(err, errlen, ENTK_ERR_IO, "cannot read '%s': %s", path, strerror(e));
            }
            break;
        }
    }
    fclose(f);
    if (st == ENTK_OK) st = entk_so3_xyz_parse(buf, len, out, err, errlen);
    ENTK_FREE(buf);
    return st;
}

/* ============================================================================================== */
/* The features                                                                                   */
/* ============================================================================================== */

static double entk__so3_feat_ipow(double x, int n) { /* x^n, n >= 0, by squaring */
    double r = 1.0;
    while (n) {
        if (n & 1) r *= x;
        n >>= 1;
        if (n) x *= x;
    }
    return r;
}

static const int entk__so3_feat_default_powers[2] = {1, 2};

/* The powers to use (the default for NULL/0); INVALID_ARG if they break the rules. */
static entk_status entk__so3_feat_powers(const int **powers, int *np) {
    int i, j;
    if (!*powers && *np == 0) {
        *powers = entk__so3_feat_default_powers;
        *np = 2;
        return ENTK_OK;
    }
    if (!*powers || *np < 1 || *np > ENTK_SO3_FEAT_MAX_POWERS) return ENTK_ERR_INVALID_ARG;
    for (i = 0; i < *np; ++i) {
        if ((*powers)[i] < 1 || (*powers)[i] > ENTK_SO3_FEAT_MAX_POWER) return ENTK_ERR_INVALID_ARG;
        for (j = 0; j < i; ++j)
            if ((*powers)[j] == (*powers)[i]) return ENTK_ERR_INVALID_ARG;
    }
    return ENTK_OK;
}

ENTKDEF entk_status entk_so3_featurize_size(const entk_so3_molecules *m, int L, int npowers, size_t *channels,
                                            size_t *len) {
    size_t c, n;
    if (!m || L < 1 || L > ENTK_SO3_FEAT_MAX_L || npowers < 0 || npowers > ENTK_SO3_FEAT_MAX_POWERS)
        return ENTK_ERR_INVALID_ARG;
    c = (size_t)ENTK_SO3_N_ELEMENTS * (size_t)(1 + (npowers ? npowers : 2));
    if (entk__mul(m->n, m->max_atoms, &n) || entk__mul(n, c, &n) || entk__mul(n, (size_t)(2 * L), &n) ||
        entk__mul(n, (size_t)(2 * L - 1), &n) || n > SIZE_MAX / sizeof(double))
        return ENTK_ERR_OVERFLOW; /* the bytes of the output must fit size_t too */
    if (channels) *channels = c;
    if (len) *len = n;
    return ENTK_OK;
}

/* Molecule i of m follows the reader's rules. */
static entk_status entk__so3_feat_check_mol(const entk_so3_molecules *m, size_t i) {
    size_t c = m->count[i], f = m->first[i], a, b, k;
    double d;
    if (c < 1 || c > m->max_atoms || f > m->atoms || c > m->atoms - f) return ENTK_ERR_INVALID_ARG;
    for (a = f; a < f + c; ++a) {
        if (entk__so3_xyz_elem(m->z[a]) < 0) return ENTK_ERR_INVALID_ARG;
        for (k = 0; k < 3; ++k) {
            if (m->xyz[3 * a + k] - m->xyz[3 * a + k] != 0.0) return ENTK_ERR_NONFINITE;
            if (fabs(m->xyz[3 * a + k]) > ENTK__SO3_XYZ_MAX_COORD) return ENTK_ERR_INVALID_ARG;
        }
    }
    return entk__so3_xyz_close(m->xyz + 3 * f, c, &a, &b, &d) ? ENTK_ERR_INVALID_ARG : ENTK_OK;
}

static entk_status entk__so3_feat_check(const entk_so3_molecules *m) {
    size_t i;
    entk_status st;
    if (m->n && (!m->count || !m->first || !m->z || !m->xyz)) return ENTK_ERR_INVALID_ARG;
    for (i = 0; i < m->n; ++i)
        if ((st = entk__so3_feat_check_mol(m, i))) return st;
    return ENTK_OK;
}

/* Atom a's neighbours in molecule i: for each other atom b (in order) its element nb_e[b'], unit
 * direction nb_u[3 b'] and the coefficients nb_c[b' P + t] = Z_a Z_b |r_ab|^-p_t. Returns their count. */
static size_t entk__so3_feat_neigh(const entk_so3_molecules *m, size_t i, size_t a, const int *powers, int np,
                                   int *nb_e, double *nb_u, double *nb_c) {
    const size_t f = m->first[i], c = m->count[i];
    const double *ra = m->xyz + 3 * (f + a);
    size_t b, k = 0;
    int t;
    for (b = 0; b < c; ++b) {
        const double *rb = m->xyz + 3 * (f + b);
        double dx, dy, dz, d, zz;
        if (b == a) continue;
        dx = rb[0] - ra[0];
        dy = rb[1] - ra[1];
        dz = rb[2] - ra[2];
        d = sqrt(dx * dx + dy * dy + dz * dz);
        nb_e[k] = entk__so3_xyz_elem(m->z[f + b]);
        nb_u[3 * k] = dx / d;
        nb_u[3 * k + 1] = dy / d;
        nb_u[3 * k + 2] = dz / d;
        zz = (double)m->z[f + a] * (double)m->z[f + b];
        for (t = 0; t < np; ++t) nb_c[k * (size_t)np + (size_t)t] = zz / entk__so3_feat_ipow(d, powers[t]);
        ++k;
    }
    return k;
}

/* The C channels at the unit direction n (one-hot of element ea, then the sums over the neighbours). */
static void entk__so3_feat_eval(size_t nb, const int *nb_e, const double *nb_u, const double *nb_c, int ea, int np,
                                int L, const double *n, double *out) {
    const int C = ENTK_SO3_N_ELEMENTS * (1 + np);
    size_t b;
    int c, t;
    for (c = 0; c < C; ++c) out[c] = 0.0;
    out[ea] = 1.0;
    for (b = 0; b < nb; ++b) {
        double cs = n[0] * nb_u[3 * b] + n[1] * nb_u[3 * b + 1] + n[2] * nb_u[3 * b + 2], w;
        double *o = out + ENTK_SO3_N_ELEMENTS + nb_e[b] * np;
        if (cs > 1.0) cs = 1.0;
        if (cs < -1.0) cs = -1.0;
        w = entk__so3_feat_ipow(0.5 + 0.5 * cs, L - 1);
        for (t = 0; t < np; ++t) o[t] += nb_c[b * (size_t)np + (size_t)t] * w;
    }
}

/* Scratch for the neighbours of one atom of molecules with at most A atoms. */
static entk_status entk__so3_feat_scratch(size_t A, int np, int **nb_e, double **nb_u, double **nb_c) {
    const size_t A1 = A ? A : 1;
    size_t nu, nc;
    entk_status st;
    *nb_e = NULL;
    *nb_u = *nb_c = NULL;
    if (entk__mul(A1, 3, &nu) || entk__mul(A1, (size_t)np, &nc) || A1 > SIZE_MAX / sizeof(int))
        return ENTK_ERR_OVERFLOW;
    if ((st = entk__alloc_doubles(nu, nb_u)) || (st = entk__alloc_doubles(nc, nb_c))) return st;
    *nb_e = (int *)ENTK_MALLOC(A1 * sizeof(int));
    return *nb_e ? ENTK_OK : ENTK_ERR_NOMEM;
}

ENTKDEF entk_status entk_so3_featurize(const entk_so3_molecules *m, int L, const int *powers, int npowers,
                                       double *out, size_t out_len) {
    size_t C, len, G, i, a, j, k;
    const size_t nt = (size_t)(2 * L), np_ = (size_t)(2 * L - 1);
    double *st_ = NULL, *ct = NULL, *sp = NULL, *cp = NULL, *nb_u = NULL, *nb_c = NULL;
    double acc[ENTK_SO3_N_ELEMENTS * (1 + ENTK_SO3_FEAT_MAX_POWERS)];
    int *nb_e = NULL;
    entk_status st;
    if (!m) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__so3_feat_powers(&powers, &npowers))) return st;
    if ((st = entk_so3_featurize_size(m, L, npowers, &C, &len))) return st;
    if (out_len < len) return ENTK_ERR_SHAPE;
    if (len && !out) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__so3_feat_check(m))) return st;
    if (len == 0) return ENTK_OK;
    G = nt * np_;
    if ((st = entk__alloc_doubles(nt, &st_)) || (st = entk__alloc_doubles(nt, &ct)) ||
        (st = entk__alloc_doubles(np_, &sp)) || (st = entk__alloc_doubles(np_, &cp)) ||
        (st = entk__so3_feat_scratch(m->max_atoms, npowers, &nb_e, &nb_u, &nb_c)))
        goto done;
    for (j = 0; j < nt; ++j) {
        const double th = ENTK__PI * (double)(2 * j + 1) / (double)(4 * L);
        st_[j] = sin(th);
        ct[j] = cos(th);
    }
    for (k = 0; k < np_; ++k) {
        const double ph = 2.0 * ENTK__PI * (double)k / (double)np_;
        sp[k] = sin(ph);
        cp[k] = cos(ph);
    }
    memset(out, 0, len * sizeof *out);
    for (i = 0; i < m->n; ++i)
        for (a = 0; a < m->count[i]; ++a) {
            double *o = out + ((i * m->max_atoms + a) * C) * G;
            const int ea = entk__so3_xyz_elem(m->z[m->first[i] + a]);
            const size_t nb = entk__so3_feat_neigh(m, i, a, powers, npowers, nb_e, nb_u, nb_c);
            for (j = 0; j < nt; ++j)
                for (k = 0; k < np_; ++k) {
                    double n[3];
                    size_t c;
                    n[0] = st_[j] * cp[k];
                    n[1] = st_[j] * sp[k];
                    n[2] = ct[j];
                    entk__so3_feat_eval(nb, nb_e, nb_u, nb_c, ea, npowers, L, n, acc);
                    for (c = 0; c < C; ++c) o[c * G + j * np_ + k] = acc[c];
                }
        }
    if (!entk__finite(out, len)) st = ENTK_ERR_RANGE;
done:
    ENTK_FREE(st_);
    ENTK_FREE(ct);
    ENTK_FREE(sp);
    ENTK_FREE(cp);
    ENTK_FREE(nb_e);
    ENTK_FREE(nb_u);
    ENTK_FREE(nb_c);
    return st;
}

ENTKDEF entk_status entk_so3_featurize_atom(const entk_so3_molecules *m, size_t mol, size_t atom, int L,
                                            const int *powers, int npowers, const double dir[3], double *out) {
    size_t C, nb, c;
    double n[3], r;
    double *nb_u = NULL, *nb_c = NULL;
    int *nb_e = NULL;
    entk_status st;
    if (!m || !dir || !out) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__so3_feat_powers(&powers, &npowers))) return st;
    if ((st = entk_so3_featurize_size(m, L, npowers, &C, NULL))) return st;
    if (mol >= m->n || atom >= m->max_atoms || !m->count || !m->first || !m->z || !m->xyz) return ENTK_ERR_INVALID_ARG;
    if ((st = entk__so3_feat_check_mol(m, mol))) return st;
    if (!entk__finite(dir, 3)) return ENTK_ERR_NONFINITE;
    r = sqrt(dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2]);
    if (!(r > 0.0) || r > DBL_MAX) return ENTK_ERR_INVALID_ARG;
    for (c = 0; c < 3; ++c) n[c] = dir[c] / r;
    if (atom >= m->count[mol]) {
        for (c = 0; c < C; ++c) out[c] = 0.0;
        return ENTK_OK;
    }
    if ((st = entk__so3_feat_scratch(m->count[mol], npowers, &nb_e, &nb_u, &nb_c))) goto done;
    nb = entk__so3_feat_neigh(m, mol, atom, powers, npowers, nb_e, nb_u, nb_c);
    entk__so3_feat_eval(nb, nb_e, nb_u, nb_c, entk__so3_xyz_elem(m->z[m->first[mol] + atom]), npowers, L, n, out);
    if (!entk__finite(out, C)) st = ENTK_ERR_RANGE;
done:
    ENTK_FREE(nb_e);
    ENTK_FREE(nb_u);
    ENTK_FREE(nb_c);
    return st;
}
/* ---- END featurize implementation ---- */

ENTK__FP_END
#endif /* ENTK_IMPLEMENTATION && !ENTK_SO3_IMPLEMENTATION_DONE */

/*
 * LICENSE: MIT
 *
 * Copyright (c) 2026 the entk authors
 *
 * Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
 * associated documentation files (the "Software"), to deal in the Software without restriction,
 * including without limitation the rights to use, copy, modify, merge, publish, distribute,
 * sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
 * furnished to do so, subject to the following conditions:
 *
 * The above copyright notice and this permission notice shall be included in all copies or
 * substantial portions of the Software.
 *
 * THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
 * NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
 * NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES
 * OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
 * CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
 */
