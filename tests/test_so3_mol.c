/* Molecules in, per-atom spherical signals out (entk_so3.h, docs/conventions.md §1.5, §5.5): the XYZ
 * reader on good files (sizes, mixed molecules, CRLF, values) and on every malformed case (status and a
 * message naming the line), and the features against a direct evaluation written here, under
 * rotations (ZYZ Euler angles), translations and atom permutations, with the one-hot channels and the
 * all-zero padding atoms. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include "testutil.h"
#include "entk_so3.h"

#define PI 3.14159265358979323846

static const char *const mixed =
    "3\n"
    "energy=-76.4 Properties=species:S:1:pos:R:3 note=\"water, energy=-1 inside quotes\" pbc=\"F F F\"\n"
    "O 0.0 0.0 0.1173\n"
    "H 0.0 0.7572 -0.4692\n"
    "H 0.0 -0.7572 -0.4692\n"
    "1\n"
    "a lone atom energy=-0.5 more words\n"
    "  C  \t 1.5e-1  -2  0x1p-2  extra columns 7 8\n"
    "2\n"
    "energy=\"-100.43\"\n"
    "F 0 0 0.0929\n"
    "H 0 0 -0.8361\n"
    "\n"
    "  \t\n";

static entk_status parse(const char *text, entk_so3_molecules *m, char *err, size_t errlen) {
    return entk_so3_xyz_parse(text, strlen(text), m, err, errlen);
}

Test(xyz, parses_mixed_molecules_and_their_values) {
    entk_so3_molecules m;
    char err[256] = "";
    cr_assert_eq(parse(mixed, &m, err, sizeof err), ENTK_OK, "%s", err);
    cr_assert_eq(err[0], 0);
    cr_assert_eq(m.n, 3);
    cr_assert_eq(m.atoms, 6);
    cr_assert_eq(m.max_atoms, 3);
    cr_assert_eq(m.count[0], 3);
    cr_assert_eq(m.count[1], 1);
    cr_assert_eq(m.count[2], 2);
    cr_assert_eq(m.first[0], 0);
    cr_assert_eq(m.first[1], 3);
    cr_assert_eq(m.first[2], 4);
    cr_assert_eq(m.line[0], 1);
    cr_assert_eq(m.line[1], 6);
    cr_assert_eq(m.line[2], 9);
    cr_assert_eq(m.energy[0], -76.4);
    cr_assert_eq(m.energy[1], -0.5);
    cr_assert_eq(m.energy[2], -100.43);
    cr_assert_eq(m.z[0], 8);
    cr_assert_eq(m.z[1], 1);
    cr_assert_eq(m.z[2], 1);
    cr_assert_eq(m.z[3], 6);
    cr_assert_eq(m.z[4], 9);
    cr_assert_eq(m.z[5], 1);
    cr_assert_eq(m.xyz[2], 0.1173);
    cr_assert_eq(m.xyz[4], 0.7572);
    cr_assert_eq(m.xyz[5], -0.4692);
    cr_assert_eq(m.xyz[9], 0.15);
    cr_assert_eq(m.xyz[10], -2.0);
    cr_assert_eq(m.xyz[11], 0.25);
    cr_assert_eq(m.xyz[17], -0.8361);
    entk_so3_molecules_free(&m);
    cr_assert_eq(m.count, NULL);
    entk_so3_molecules_free(&m); /* twice: harmless */
    entk_so3_molecules_free(NULL);
}

/* The same text with CRLF line endings, and without a final newline, gives the same molecules. */
Test(xyz, crlf_and_missing_final_newline) {
    entk_so3_molecules a, b, c;
    char crlf[1024], *o = crlf;
    const char *p;
    const char *tail = "1\nenergy=2\nH 0 0 0";
    for (p = mixed; *p; ++p) {
        if (*p == '\n') *o++ = '\r';
        *o++ = *p;
    }
    *o = 0;
    cr_assert_eq(parse(mixed, &a, NULL, 0), ENTK_OK);
    cr_assert_eq(parse(crlf, &b, NULL, 0), ENTK_OK);
    cr_assert_eq(a.n, b.n);
    cr_assert_eq(a.atoms, b.atoms);
    cr_assert_eq(memcmp(a.xyz, b.xyz, 3 * a.atoms * sizeof(double)), 0);
    cr_assert_eq(memcmp(a.z, b.z, a.atoms * sizeof(int)), 0);
    cr_assert_eq(memcmp(a.energy, b.energy, a.n * sizeof(double)), 0);
    cr_assert_eq(memcmp(a.line, b.line, a.n * sizeof(size_t)), 0);
    cr_assert_eq(parse(tail, &c, NULL, 0), ENTK_OK);
    cr_assert_eq(c.n, 1);
    cr_assert_eq(c.energy[0], 2.0);
    entk_so3_molecules_free(&a);
    entk_so3_molecules_free(&b);
    entk_so3_molecules_free(&c);
}

typedef struct {
    const char *text;
    entk_status st;
    const char *msg; /* a substring of the message */
} bad_case;

static const bad_case bad[] = {
    {"3\nenergy=1\nO 0 0 0\nH 1 0 0\nCl 0 1 0\n", ENTK_ERR_INVALID_ARG, "line 5: unknown element 'Cl' (H, C, N, O, F)"},
    {"1\nenergy=1\nh 0 0 0\n", ENTK_ERR_INVALID_ARG, "line 3: unknown element 'h'"},
    {"1\nenergy=1\n8 0 0 0\n", ENTK_ERR_INVALID_ARG, "line 3: unknown element '8'"},
    {"2\nwater\nO 0 0 0\nH 1 0 0\n", ENTK_ERR_INVALID_ARG, "line 2: no energy= on the comment line"},
    {"2\nEnergy=1 free_energy=2\nO 0 0 0\nH 1 0 0\n", ENTK_ERR_INVALID_ARG, "line 2: no energy="},
    {"2\nenergy = 1\nO 0 0 0\nH 1 0 0\n", ENTK_ERR_INVALID_ARG, "line 2: no energy="},
    {"2\n\nO 0 0 0\nH 1 0 0\n", ENTK_ERR_INVALID_ARG, "line 2: no energy="},
    {"1\nenergy=1 energy=2\nH 0 0 0\n", ENTK_ERR_INVALID_ARG, "line 2: energy= given twice"},
    {"1\nenergy=\nH 0 0 0\n", ENTK_ERR_INVALID_ARG, "line 2: energy= has no value"},
    {"1\nenergy=abc\nH 0 0 0\n", ENTK_ERR_INVALID_ARG, "line 2: energy 'abc' is not a number"},
    {"1\nenergy=nan\nH 0 0 0\n", ENTK_ERR_NONFINITE, "line 2: energy 'nan' is not finite"},
    {"1\nenergy=1e999\nH 0 0 0\n", ENTK_ERR_NONFINITE, "line 2: energy '1e999' is not finite"},
    {"1\nenergy=1 note=\"open\nH 0 0 0\n", ENTK_ERR_INVALID_ARG, "line 2: unterminated quote in the value of 'note'"},
    {"2\nenergy=1\nO 0 0 0\nH 1 0\n", ENTK_ERR_INVALID_ARG, "line 4: expected 3 coordinates after 'H', got 2"},
    {"1\nenergy=1\nH\n", ENTK_ERR_INVALID_ARG, "line 3: expected 3 coordinates after 'H', got 0"},
    {"2\nenergy=1\nO 0 0 0\nH 1 0 1,5\n", ENTK_ERR_INVALID_ARG, "line 4: coordinate '1,5' is not a number"},
    {"1\nenergy=1\nH 0 inf 0\n", ENTK_ERR_NONFINITE, "line 3: coordinate 'inf' is not finite"},
    {"1\nenergy=1\nH 0 0 -NaN\n", ENTK_ERR_NONFINITE, "line 3: coordinate '-NaN' is not finite"},
    {"1\nenergy=1\nH 0 0 2e6\n", ENTK_ERR_INVALID_ARG, "line 3: coordinate '2e6' is beyond +-1e6 Angstrom"},
    {"0\nenergy=1\n", ENTK_ERR_INVALID_ARG, "line 1: atom count 0"},
    {"-1\nenergy=1\nH 0 0 0\n", ENTK_ERR_INVALID_ARG, "line 1: expected an atom count (a positive integer), got '-1'"},
    {"three\nenergy=1\n", ENTK_ERR_INVALID_ARG, "line 1: expected an atom count (a positive integer), got 'three'"},
    {"3 atoms\nenergy=1\n", ENTK_ERR_INVALID_ARG, "got '3 atoms'"},
    {"2.0\nenergy=1\n", ENTK_ERR_INVALID_ARG, "line 1: expected an atom count"},
    {"99999999999999999999999\nenergy=1\n", ENTK_ERR_INVALID_ARG,
     "line 1: atom count '99999999999999999999999' is above the limit 4096"},
    {"4097\nenergy=1\n", ENTK_ERR_INVALID_ARG, "line 1: atom count '4097' is above the limit 4096"},
    {"3\nenergy=1\nO 0 0 0\nH 1 0 0\n", ENTK_ERR_INVALID_ARG, "line 5: the file ends after 2 of the 3 atoms of the molecule at line 1"},
    {"1\nenergy=1\nH 0 0 0\n2\nenergy=1\n", ENTK_ERR_INVALID_ARG,
     "line 6: the file ends after 0 of the 2 atoms of the molecule at line 4"},
    {"1\nenergy=1\nH 0 0 0\n1", ENTK_ERR_INVALID_ARG, "line 5: the file ends before the comment line of the molecule at line 4"},
    {"1\nenergy=1\nH 0 0 0\ngarbage\n", ENTK_ERR_INVALID_ARG, "line 4: expected an atom count (a positive integer), got 'garbage'"},
    {"1\nenergy=1\nH 0 0 0\nH 1 0 0\n", ENTK_ERR_INVALID_ARG, "line 4: expected an atom count (a positive integer), got 'H 1 0 0' (an atom line"},
    {"1\nenergy=1\nH 0 0 0\n\n1\nenergy=1\nH 0 0 0\n", ENTK_ERR_INVALID_ARG,
     "line 4: blank line between molecules, before the molecule at line 5"},
    {"\n1\nenergy=1\nH 0 0 0\n", ENTK_ERR_INVALID_ARG, "line 1: blank line before the molecule at line 2"},
    {"2\nenergy=1\nO 0 0 0\n\nH 1 0 0\n", ENTK_ERR_INVALID_ARG, "line 4: expected an atom line 'El x y z', got a blank line"},
    {"3\nenergy=1\nO 0 0 0\nH 1 0 0\nH 0 0 0\n", ENTK_ERR_INVALID_ARG,
     "line 5: atom 3 is 0 Angstrom from atom 1 (line 3): atoms closer than 0.1 Angstrom are coincident"},
    {"2\nenergy=1\nC 0 0 0\nH 0.05 0 0\n", ENTK_ERR_INVALID_ARG, "line 4: atom 2 is 0.05 Angstrom from atom 1 (line 3)"},
    {"", ENTK_ERR_INVALID_ARG, "no molecules: the file is empty"},
    {"\n \n\t\n", ENTK_ERR_INVALID_ARG, "no molecules: the file is blank"},
    {"1\r\nenergy=1\r\nH 0 0 0\r\r\n", ENTK_ERR_INVALID_ARG, "line 3: coordinate '0?' is not a number"},
    {"1\nenergy=1\nHe 0 0 0\n", ENTK_ERR_INVALID_ARG, "line 3: unknown element 'He'"},
    {"1\nenergy=1\nXxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx 0 0 0\n", ENTK_ERR_INVALID_ARG,
     "line 3: unknown element 'Xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' (H, C, N, O, F)"},
    {"1\nenergy=1\n\xc3\x85 0 0 0\n", ENTK_ERR_INVALID_ARG, "line 3: unknown element '?\?'"},
};

Test(xyz, every_malformed_case_names_its_line) {
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        entk_so3_molecules m;
        char err[256];
        entk_status st;
        memset(&m, 0xAB, sizeof m);
        memset(err, 'x', sizeof err);
        st = parse(bad[i].text, &m, err, sizeof err);
        cr_expect_eq(st, bad[i].st, "case %zu: status %d, want %d (%s)", i, st, bad[i].st, err);
        cr_expect(strstr(err, bad[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, err, bad[i].msg);
        cr_expect(strchr(err, '\n') == NULL, "case %zu: two lines", i);
        cr_expect(m.n == 0 && m.count == NULL && m.z == NULL && m.xyz == NULL && m.energy == NULL,
                  "case %zu: *out not zeroed", i);
        /* no message buffer, and a one-byte one: the same status, nothing written beyond */
        cr_expect_eq(parse(bad[i].text, &m, NULL, 0), bad[i].st);
        err[1] = 'y';
        cr_expect_eq(parse(bad[i].text, &m, err, 1), bad[i].st);
        cr_expect(err[0] == 0 && err[1] == 'y');
    }
}

Test(xyz, nul_bytes_and_null_arguments) {
    static const char t[] = "1\nenergy=1\nH 0\0 0 0\n";
    entk_so3_molecules m;
    char err[128];
    cr_assert_eq(entk_so3_xyz_parse(t, sizeof t - 1, &m, err, sizeof err), ENTK_ERR_INVALID_ARG);
    cr_assert(strstr(err, "line 3: NUL byte") != NULL, "%s", err);
    /* the length bounds the text: a valid prefix parses */
    cr_assert_eq(entk_so3_xyz_parse("1\nenergy=1\nH 0 0 0\nGARBAGE", 18, &m, err, sizeof err), ENTK_OK, "%s", err);
    entk_so3_molecules_free(&m);
    cr_assert_eq(entk_so3_xyz_parse(NULL, 0, &m, err, sizeof err), ENTK_ERR_INVALID_ARG);
    cr_assert(strstr(err, "no molecules") != NULL, "%s", err);
    cr_assert_eq(entk_so3_xyz_parse(NULL, 3, &m, err, sizeof err), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_xyz_parse("1", 1, NULL, err, sizeof err), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_so3_xyz_read_file(NULL, &m, err, sizeof err), ENTK_ERR_INVALID_ARG);
}

/* Every prefix of a good text, and many single-byte changes of it, parse or fail with a message. */
Test(xyz, truncations_and_byte_flips_never_crash) {
    const size_t n = strlen(mixed);
    static const char sub[] = "\n\r \t\"=0.e-Hx\001";
    size_t i, j;
    char *buf = malloc(n + 1);
    cr_assert(buf);
    for (i = 0; i <= n; ++i) {
        entk_so3_molecules m;
        char err[160];
        entk_status st = entk_so3_xyz_parse(mixed, i, &m, err, sizeof err);
        if (st == ENTK_OK) {
            cr_expect(m.n >= 1 && m.n <= 3);
            entk_so3_molecules_free(&m);
        } else {
            cr_expect(err[0] != 0 && strchr(err, '\n') == NULL, "prefix %zu: '%s'", i, err);
        }
    }
    for (i = 0; i < n; ++i)
        for (j = 0; j < sizeof sub - 1; ++j) {
            entk_so3_molecules m;
            char err[160];
            entk_status st;
            memcpy(buf, mixed, n);
            buf[i] = sub[j];
            st = entk_so3_xyz_parse(buf, n, &m, err, sizeof err);
            if (st == ENTK_OK) entk_so3_molecules_free(&m);
            else cr_expect(err[0] != 0 && strchr(err, '\n') == NULL, "flip %zu/%zu: '%s'", i, j, err);
        }
    free(buf);
}

Test(xyz, reads_the_sample_file) {
    entk_so3_molecules m;
    char err[256];
    static const size_t counts[7] = {3, 3, 5, 4, 2, 4, 6};
    size_t i;
    cr_assert_eq(entk_so3_xyz_read_file("tests/data/molecules_small.xyz", &m, err, sizeof err), ENTK_OK, "%s", err);
    cr_assert_eq(m.n, 7);
    cr_assert_eq(m.max_atoms, 6);
    cr_assert_eq(m.atoms, 27);
    for (i = 0; i < 7; ++i) cr_expect_eq(m.count[i], counts[i]);
    cr_expect_eq(m.energy[0], -76.4197);
    cr_expect_eq(m.energy[6], -115.7145);
    cr_expect_eq(m.z[m.first[4]], 9);
    cr_expect_eq(m.xyz[3 * m.first[6] + 1], 0.6633);
    entk_so3_molecules_free(&m);
    cr_assert_eq(entk_so3_xyz_read_file("tests/data/no-such-file.xyz", &m, err, sizeof err), ENTK_ERR_IO);
    cr_assert(strstr(err, "cannot open 'tests/data/no-such-file.xyz'") != NULL, "%s", err);
    /* an endless stream of NUL bytes is refused at its first block */
    cr_assert_eq(entk_so3_xyz_read_file("/dev/zero", &m, err, sizeof err), ENTK_ERR_INVALID_ARG);
    cr_assert(strstr(err, "line 1: NUL byte") != NULL, "%s", err);
    cr_assert_eq(entk_so3_xyz_read_file("tests", &m, err, sizeof err) != ENTK_OK, 1); /* a directory */
}

/* ---- features ------------------------------------------------------------------------------- */

static const double water_xyz[9] = {0.0, 0.0, 0.1173, 0.0, 0.7572, -0.4692, 0.0, -0.7572, -0.4692};
static const int water_z[3] = {8, 1, 1};

/* A molecule set from arrays (pointers into the caller's storage; not to be freed). */
typedef struct {
    entk_so3_molecules m;
    size_t count[8], first[8];
} set;

static void set_make(set *s, size_t n, const size_t *counts, const int *z, const double *xyz, size_t max_atoms) {
    size_t i, f = 0;
    memset(s, 0, sizeof *s);
    for (i = 0; i < n; ++i) {
        s->count[i] = counts[i];
        s->first[i] = f;
        f += counts[i];
    }
    s->m.n = n;
    s->m.atoms = f;
    s->m.max_atoms = max_atoms;
    s->m.count = s->count;
    s->m.first = s->first;
    s->m.z = (int *)z;
    s->m.xyz = (double *)xyz;
}

static int elem_of(int z) { return z == 1 ? 0 : z == 6 ? 1 : z == 7 ? 2 : z == 8 ? 3 : z == 9 ? 4 : -1; }

/* Written out from the definition (docs/conventions.md §1.5), not with the library's code: channel c
 * of atom a of the single molecule (n atoms) at the unit direction d. */
static double direct(const int *z, const double *xyz, size_t n, size_t a, int c, const int *pw, int np, int L,
                     const double *d) {
    double v = 0;
    size_t b;
    if (c < 5) return elem_of(z[a]) == c ? 1.0 : 0.0;
    for (b = 0; b < n; ++b) {
        double r[3], dist, cosang;
        int e = (c - 5) / np, p = pw[(c - 5) % np];
        if (b == a || elem_of(z[b]) != e) continue;
        r[0] = xyz[3 * b] - xyz[3 * a];
        r[1] = xyz[3 * b + 1] - xyz[3 * a + 1];
        r[2] = xyz[3 * b + 2] - xyz[3 * a + 2];
        dist = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
        cosang = (d[0] * r[0] + d[1] * r[1] + d[2] * r[2]) / dist;
        v += z[a] * z[b] * pow(dist, -p) * pow((1 + cosang) / 2, L - 1);
    }
    return v;
}

static void grid_dir(int L, int j, int k, double *d) {
    double th = PI * (2 * j + 1) / (4.0 * L), ph = 2 * PI * k / (2.0 * L - 1);
    d[0] = sin(th) * cos(ph);
    d[1] = sin(th) * sin(ph);
    d[2] = cos(th);
}

Test(features, water_equals_the_direct_formula) {
    set s;
    const size_t cnt = 3;
    const int L = 5, G = 10 * 9;
    size_t C, len, a;
    double *x;
    int c, j, k;
    static const int pw[2] = {1, 2};
    set_make(&s, 1, &cnt, water_z, water_xyz, 3);
    cr_assert_eq(entk_so3_featurize_size(&s.m, L, 0, &C, &len), ENTK_OK);
    cr_assert_eq(C, 15);
    cr_assert_eq(len, 3 * 15 * (size_t)G);
    x = malloc(len * sizeof *x);
    cr_assert_eq(entk_so3_featurize(&s.m, L, NULL, 0, x, len), ENTK_OK);
    for (a = 0; a < 3; ++a)
        for (c = 0; c < 15; ++c)
            for (j = 0; j < 2 * L; ++j)
                for (k = 0; k < 2 * L - 1; ++k) {
                    double d[3], want, got = x[(a * 15 + (size_t)c) * (size_t)G + (size_t)(j * (2 * L - 1) + k)];
                    grid_dir(L, j, k, d);
                    want = direct(water_z, water_xyz, 3, a, c, pw, 2, L, d);
                    cr_expect(fabs(got - want) <= 1e-13 * fmax(1, fabs(want)), "atom %zu channel %d (%d, %d): %.17g vs %.17g",
                              a, c, j, k, got, want);
                }
    /* a few values by hand: the oxygen's H/p=1 channel at the grid point nearest the north pole
     * (theta_0 = pi/20, phi_0 = 0): both hydrogens at distance sqrt(0.7572^2 + 0.5865^2), with
     * n . r = +-0 * ... + cos(theta_0) (-0.5865) */
    {
        const double dist = sqrt(0.7572 * 0.7572 + 0.5865 * 0.5865), th = PI / 20;
        const double c1 = (sin(th) * 0.0 * 1 + 0.0 - cos(th) * 0.5865) / dist; /* phi = 0: n_y = 0 */
        const double w = pow((1 + c1) / 2, 4), want = 2 * 8 * w / dist;
        cr_expect(fabs(x[(0 * 15 + 5) * (size_t)G + 0] - want) <= 1e-14 * want, "%.17g vs %.17g",
                  x[(0 * 15 + 5) * (size_t)G], want);
        /* and the p=2 channel */
        cr_expect(fabs(x[(0 * 15 + 6) * (size_t)G + 0] - want / dist) <= 1e-14 * want / dist);
        /* hydrogen 1 sees the oxygen (O channel 5 + 3*2 = 11) and the other hydrogen (channel 5) */
        cr_expect(x[(1 * 15 + 11) * (size_t)G + 0] > 0);
        cr_expect(x[(1 * 15 + 5) * (size_t)G + 0] > 0);
        cr_expect(x[(1 * 15 + 7) * (size_t)G + 0] == 0); /* no carbon */
    }
    free(x);
}

/* One-hot channels: 1 everywhere for the atom's own element, 0 for the others; a lone atom has
 * nothing else. */
Test(features, one_hot_channels_and_a_lone_atom) {
    set s;
    static const size_t cnt[2] = {3, 1};
    static const int z[4] = {8, 1, 1, 7};
    double xyz[12];
    const int L = 3, G = 6 * 5;
    size_t C, len, a, g;
    double *x;
    int c;
    memcpy(xyz, water_xyz, sizeof water_xyz);
    xyz[9] = 5;
    xyz[10] = 6;
    xyz[11] = 7;
    set_make(&s, 2, cnt, z, xyz, 3);
    cr_assert_eq(entk_so3_featurize_size(&s.m, L, 0, &C, &len), ENTK_OK);
    x = malloc(len * sizeof *x);
    cr_assert_eq(entk_so3_featurize(&s.m, L, NULL, 0, x, len), ENTK_OK);
    for (a = 0; a < 6; ++a) {
        const int e = a < 4 ? elem_of(z[a]) : -1;
        for (c = 0; c < 5; ++c)
            for (g = 0; g < (size_t)G; ++g)
                cr_expect_eq(x[(a * C + (size_t)c) * (size_t)G + g], (a < 3 || a == 3) && c == e ? 1.0 : 0.0,
                             "atom %zu channel %d", a, c);
    }
    /* atom slot 3 is molecule 1's nitrogen, alone: only its one-hot channel; slots 4, 5 are padding */
    for (c = 5; c < (int)C; ++c)
        for (g = 0; g < (size_t)G; ++g) cr_expect_eq(x[(3 * C + (size_t)c) * (size_t)G + g], 0.0);
    for (g = 0; g < 2 * C * (size_t)G; ++g) cr_expect_eq(x[4 * C * (size_t)G + g], 0.0);
    free(x);
}

/* R = R_z(alpha) R_y(beta) R_z(gamma) */
static void euler_zyz(double al, double be, double ga, double R[9]) {
    double A[9] = {cos(al), -sin(al), 0, sin(al), cos(al), 0, 0, 0, 1};
    double B[9] = {cos(be), 0, sin(be), 0, 1, 0, -sin(be), 0, cos(be)};
    double Cm[9] = {cos(ga), -sin(ga), 0, sin(ga), cos(ga), 0, 0, 0, 1};
    double T[9];
    int i, j, k;
    for (i = 0; i < 3; ++i)
        for (j = 0; j < 3; ++j) {
            T[3 * i + j] = 0;
            for (k = 0; k < 3; ++k) T[3 * i + j] += A[3 * i + k] * B[3 * k + j];
        }
    for (i = 0; i < 3; ++i)
        for (j = 0; j < 3; ++j) {
            R[3 * i + j] = 0;
            for (k = 0; k < 3; ++k) R[3 * i + j] += T[3 * i + k] * Cm[3 * k + j];
        }
}

static void mat_vec(const double R[9], const double *v, double *o) {
    int i;
    for (i = 0; i < 3; ++i) o[i] = R[3 * i] * v[0] + R[3 * i + 1] * v[1] + R[3 * i + 2] * v[2];
}

static void mat_t_vec(const double R[9], const double *v, double *o) {
    int i;
    for (i = 0; i < 3; ++i) o[i] = R[i] * v[0] + R[3 + i] * v[1] + R[6 + i] * v[2];
}

/* The features of R M at grid direction n are the features of M at R^-1 n = R^T n (to rounding), for
 * random rotations, every atom and channel of the sample file's molecules, and powers {1, 2, 3}. */
Test(features, rotated_molecule_gives_rotated_signals) {
    entk_so3_molecules m, r;
    char err[256];
    static const int pw[3] = {1, 2, 3};
    const int L = 6, nt = 12, np = 11, G = 12 * 11;
    size_t C, len, i, a, c;
    int trial, j, k;
    double *x, worst = 0;
    tu_rng rng = {7};
    cr_assert_eq(entk_so3_xyz_read_file("tests/data/molecules_small.xyz", &m, err, sizeof err), ENTK_OK, "%s", err);
    cr_assert_eq(entk_so3_xyz_read_file("tests/data/molecules_small.xyz", &r, err, sizeof err), ENTK_OK, "%s", err);
    cr_assert_eq(entk_so3_featurize_size(&r, L, 3, &C, &len), ENTK_OK);
    cr_assert_eq(C, 20);
    x = malloc(len * sizeof *x);
    for (trial = 0; trial < 3; ++trial) {
        double R[9];
        euler_zyz(2 * PI * tu_unif(&rng), acos(2 * tu_unif(&rng) - 1), 2 * PI * tu_unif(&rng), R);
        for (a = 0; a < m.atoms; ++a) mat_vec(R, m.xyz + 3 * a, r.xyz + 3 * a);
        cr_assert_eq(entk_so3_featurize(&r, L, pw, 3, x, len), ENTK_OK);
        for (i = 0; i < m.n; ++i)
            for (a = 0; a < m.max_atoms; ++a) {
                const double *xa = x + (i * m.max_atoms + a) * C * (size_t)G;
                double scale = 0, f[20];
                for (c = 0; c < C * (size_t)G; ++c) scale = fmax(scale, fabs(xa[c]));
                for (j = 0; j < nt; ++j)
                    for (k = 0; k < np; ++k) {
                        double n[3], rn[3];
                        grid_dir(L, j, k, n);
                        mat_t_vec(R, n, rn);
                        cr_assert_eq(entk_so3_featurize_atom(&m, i, a, L, pw, 3, rn, f), ENTK_OK);
                        for (c = 0; c < C; ++c) {
                            double e = fabs(xa[c * (size_t)G + (size_t)(j * np + k)] - f[c]) / scale;
                            if (a >= m.count[i]) cr_assert_eq(f[c], 0.0);
                            if (e > worst) worst = e;
                        }
                    }
            }
    }
    cr_expect(worst <= 1e-12, "rotation error %.3g relative to the largest value of the atom", worst);
    free(x);
    entk_so3_molecules_free(&m);
    entk_so3_molecules_free(&r);
}

/* The library evaluates its own grid through the same code as entk_so3_featurize_atom: at the
 * grid's directions, computed as the grid computes them, the values agree (checks the layout too). */
Test(features, featurize_atom_at_the_grid_equals_featurize) {
    set s;
    const size_t cnt = 3;
    const int L = 4, G = 8 * 7;
    size_t C, len, a, c;
    double *x, f[15];
    int j, k;
    set_make(&s, 1, &cnt, water_z, water_xyz, 3);
    cr_assert_eq(entk_so3_featurize_size(&s.m, L, 0, &C, &len), ENTK_OK);
    x = malloc(len * sizeof *x);
    cr_assert_eq(entk_so3_featurize(&s.m, L, NULL, 0, x, len), ENTK_OK);
    for (a = 0; a < 3; ++a)
        for (j = 0; j < 2 * L; ++j)
            for (k = 0; k < 2 * L - 1; ++k) {
                double d[3], th = PI * (double)(2 * j + 1) / (double)(4 * L), ph = 2.0 * PI * (double)k / (double)(2 * L - 1);
                d[0] = sin(th) * cos(ph);
                d[1] = sin(th) * sin(ph);
                d[2] = cos(th);
                cr_assert_eq(entk_so3_featurize_atom(&s.m, 0, a, L, NULL, 0, d, f), ENTK_OK);
                for (c = 0; c < C; ++c)
                    cr_expect(fabs(x[(a * C + c) * (size_t)G + (size_t)(j * (2 * L - 1) + k)] - f[c]) <= 1e-15 * fmax(1, fabs(f[c])));
            }
    free(x);
}

/* Coordinates on a 2^-10 grid shifted by a vector of few bits: every difference r_b - r_a is exact,
 * so the features are bit for bit the same. */
Test(features, translation_changes_nothing) {
    set s, t;
    static const size_t cnt[2] = {4, 2};
    static const int z[6] = {6, 8, 1, 1, 9, 1};
    double xyz[18], sh[18], *x, *y;
    const int L = 4;
    size_t len, i;
    tu_rng rng = {3};
    for (i = 0; i < 18; ++i) /* atoms at least 0.25 apart along x */
        xyz[i] = floor(1024 * tu_unif(&rng) - 512) / 1024.0 + (i % 3 == 0 ? 1.25 * (double)(i / 3) : 0.0);
    for (i = 0; i < 18; ++i) sh[i] = xyz[i] + (i % 3 == 0 ? 3.0 : i % 3 == 1 ? -5.5 : 0.25);
    set_make(&s, 2, cnt, z, xyz, 4);
    set_make(&t, 2, cnt, z, sh, 4);
    cr_assert_eq(entk_so3_featurize_size(&s.m, L, 0, NULL, &len), ENTK_OK);
    x = malloc(len * sizeof *x);
    y = malloc(len * sizeof *y);
    cr_assert_eq(entk_so3_featurize(&s.m, L, NULL, 0, x, len), ENTK_OK);
    cr_assert_eq(entk_so3_featurize(&t.m, L, NULL, 0, y, len), ENTK_OK);
    cr_assert_eq(memcmp(x, y, len * sizeof *x), 0);
    free(x);
    free(y);
}

/* Permuting the atoms of a molecule permutes the atom axis (to rounding: the neighbour sums are
 * added in another order). */
Test(features, permuting_atoms_permutes_the_atom_axis) {
    entk_so3_molecules m, p;
    char err[256];
    static const size_t perm[6] = {4, 0, 5, 2, 1, 3}; /* new atom a is old atom perm[a] */
    const int L = 5, G = 10 * 9;
    size_t C, len, i, a, c, k, mol = 6;
    double *x, *y;
    cr_assert_eq(entk_so3_xyz_read_file("tests/data/molecules_small.xyz", &m, err, sizeof err), ENTK_OK, "%s", err);
    cr_assert_eq(entk_so3_xyz_read_file("tests/data/molecules_small.xyz", &p, err, sizeof err), ENTK_OK, "%s", err);
    cr_assert_eq(m.count[mol], 6);
    for (a = 0; a < 6; ++a) {
        p.z[p.first[mol] + a] = m.z[m.first[mol] + perm[a]];
        for (k = 0; k < 3; ++k) p.xyz[3 * (p.first[mol] + a) + k] = m.xyz[3 * (m.first[mol] + perm[a]) + k];
    }
    cr_assert_eq(entk_so3_featurize_size(&m, L, 0, &C, &len), ENTK_OK);
    x = malloc(len * sizeof *x);
    y = malloc(len * sizeof *y);
    cr_assert_eq(entk_so3_featurize(&m, L, NULL, 0, x, len), ENTK_OK);
    cr_assert_eq(entk_so3_featurize(&p, L, NULL, 0, y, len), ENTK_OK);
    for (i = 0; i < m.n; ++i)
        for (a = 0; a < m.max_atoms; ++a) {
            const size_t src = i == mol ? perm[a] : a;
            const double *ya = y + (i * m.max_atoms + a) * C * (size_t)G, *xa = x + (i * m.max_atoms + src) * C * (size_t)G;
            for (c = 0; c < C * (size_t)G; ++c)
                cr_expect(fabs(ya[c] - xa[c]) <= 1e-14 * fmax(1, fabs(xa[c])), "molecule %zu atom %zu", i, a);
        }
    /* molecules other than mol are untouched bit for bit */
    cr_expect_eq(memcmp(x, y, mol * m.max_atoms * C * (size_t)G * sizeof *x), 0);
    free(x);
    free(y);
    entk_so3_molecules_free(&m);
    entk_so3_molecules_free(&p);
}

/* Padding: every atom slot beyond a molecule's count is all zero; every real atom is not. */
Test(features, padding_atoms_are_all_zero) {
    entk_so3_molecules m;
    char err[256];
    const int L = 2, G = 4 * 3;
    size_t C, len, i, a, c;
    double *x;
    cr_assert_eq(entk_so3_xyz_read_file("tests/data/molecules_small.xyz", &m, err, sizeof err), ENTK_OK, "%s", err);
    cr_assert_eq(entk_so3_featurize_size(&m, L, 0, &C, &len), ENTK_OK);
    cr_assert_eq(len, 7 * 6 * 15 * (size_t)G);
    x = malloc(len * sizeof *x);
    for (c = 0; c < len; ++c) x[c] = NAN; /* every value must be written */
    cr_assert_eq(entk_so3_featurize(&m, L, NULL, 0, x, len), ENTK_OK);
    for (i = 0; i < m.n; ++i)
        for (a = 0; a < m.max_atoms; ++a) {
            const double *xa = x + (i * m.max_atoms + a) * C * (size_t)G;
            int nonzero = 0;
            for (c = 0; c < C * (size_t)G; ++c) {
                cr_assert(isfinite(xa[c]));
                nonzero |= xa[c] != 0;
            }
            cr_expect_eq(nonzero, a < m.count[i], "molecule %zu atom %zu", i, a);
        }
    free(x);
    entk_so3_molecules_free(&m);
}

/* L = 1: the bump is 1, so every channel is constant on the grid (band limit 1: degree 0 only). */
Test(features, band_limit_one_is_constant) {
    set s;
    const size_t cnt = 3;
    double x[3 * 15 * 2];
    size_t i;
    set_make(&s, 1, &cnt, water_z, water_xyz, 3);
    cr_assert_eq(entk_so3_featurize(&s.m, 1, NULL, 0, x, 3 * 15 * 2), ENTK_OK);
    for (i = 0; i < 3 * 15; ++i) cr_expect_eq(x[2 * i], x[2 * i + 1]);
    /* oxygen, H, p = 1: 2 * 8 / |r_OH| */
    cr_expect(fabs(x[2 * 5] - 16 / sqrt(0.7572 * 0.7572 + 0.5865 * 0.5865)) < 1e-13, "%.17g", x[2 * 5]);
}

Test(features, arguments_are_checked) {
    set s;
    const size_t cnt = 3, cnt0 = 0;
    static const int dup[2] = {2, 2}, zero[1] = {0}, big[1] = {13}, many[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9},
                     ok8[8] = {1, 2, 3, 4, 5, 6, 7, 12};
    static const int badz[3] = {8, 1, 17};
    double x[3 * 45 * 2], xyz[9], f[45], d[3] = {0, 0, 1}, d0[3] = {0, 0, 0}, dn[3] = {0, NAN, 1};
    size_t C, len;
    set_make(&s, 1, &cnt, water_z, water_xyz, 3);
    cr_expect_eq(entk_so3_featurize(NULL, 1, NULL, 0, x, 90), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize(&s.m, 0, NULL, 0, x, 90), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize(&s.m, 1025, NULL, 0, x, 90), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize(&s.m, 1, NULL, 0, x, 89), ENTK_ERR_SHAPE);
    cr_expect_eq(entk_so3_featurize(&s.m, 1, NULL, 0, NULL, 90), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize(&s.m, 1, NULL, 2, x, 90), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize(&s.m, 1, dup, 2, x, 90), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize(&s.m, 1, zero, 1, x, 90), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize(&s.m, 1, big, 1, x, 90), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize(&s.m, 1, many, 9, x, 270), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize(&s.m, 1, many, 0, x, 270), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize_size(&s.m, 1, 8, &C, &len), ENTK_OK);
    cr_expect_eq(C, 45);
    cr_expect_eq(entk_so3_featurize(&s.m, 1, ok8, 8, x, len), ENTK_OK);
    cr_expect_eq(entk_so3_featurize_size(&s.m, 1, 9, &C, &len), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize_size(&s.m, 1, -1, &C, &len), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize_size(NULL, 1, 0, &C, &len), ENTK_ERR_INVALID_ARG);
    /* sizes beyond size_t */
    s.m.n = SIZE_MAX / 2;
    cr_expect_eq(entk_so3_featurize_size(&s.m, 1, 0, &C, &len), ENTK_ERR_OVERFLOW);
    cr_expect_eq(entk_so3_featurize(&s.m, 1, NULL, 0, x, 90), ENTK_ERR_OVERFLOW);
    s.m.n = SIZE_MAX / 8 / (3 * 15 * 2) + 1; /* the length fits size_t, its bytes do not */
    cr_expect_eq(entk_so3_featurize_size(&s.m, 1, 0, &C, &len), ENTK_ERR_OVERFLOW);
    s.m.n = SIZE_MAX / 8 / (3 * 15 * 2);
    cr_expect_eq(entk_so3_featurize_size(&s.m, 1, 0, &C, &len), ENTK_OK);
    s.m.n = 1;
    s.m.max_atoms = 1;
    cr_expect_eq(entk_so3_featurize_size(&s.m, 1024, 8, &C, &len), ENTK_OK);
    cr_expect_eq(len, (size_t)45 * 2048 * 2047);
    /* hand-made sets that break the reader's rules */
    cr_expect_eq(entk_so3_featurize(&s.m, 1, NULL, 0, x, 90), ENTK_ERR_INVALID_ARG); /* count 3 > max_atoms 1 */
    set_make(&s, 1, &cnt, badz, water_xyz, 3);
    cr_expect_eq(entk_so3_featurize(&s.m, 1, NULL, 0, x, 90), ENTK_ERR_INVALID_ARG);
    memcpy(xyz, water_xyz, sizeof xyz);
    xyz[8] = xyz[2] + 1e-3;
    xyz[6] = xyz[0];
    xyz[7] = xyz[1];
    set_make(&s, 1, &cnt, water_z, xyz, 3);
    cr_expect_eq(entk_so3_featurize(&s.m, 1, NULL, 0, x, 90), ENTK_ERR_INVALID_ARG); /* coincident */
    xyz[8] = INFINITY;
    cr_expect_eq(entk_so3_featurize(&s.m, 1, NULL, 0, x, 90), ENTK_ERR_NONFINITE);
    xyz[8] = 1e7;
    cr_expect_eq(entk_so3_featurize(&s.m, 1, NULL, 0, x, 90), ENTK_ERR_INVALID_ARG);
    set_make(&s, 1, &cnt0, water_z, water_xyz, 3);
    cr_expect_eq(entk_so3_featurize(&s.m, 1, NULL, 0, x, 90), ENTK_ERR_INVALID_ARG); /* a molecule of 0 atoms */
    set_make(&s, 1, &cnt, water_z, water_xyz, 3);
    s.m.atoms = 2; /* first + count beyond the atoms */
    cr_expect_eq(entk_so3_featurize(&s.m, 1, NULL, 0, x, 90), ENTK_ERR_INVALID_ARG);
    set_make(&s, 0, &cnt, water_z, water_xyz, 3);
    cr_expect_eq(entk_so3_featurize(&s.m, 1, NULL, 0, NULL, 0), ENTK_OK); /* no molecules: nothing */
    /* featurize_atom */
    set_make(&s, 1, &cnt, water_z, water_xyz, 4);
    cr_expect_eq(entk_so3_featurize_atom(&s.m, 0, 0, 3, NULL, 0, d, f), ENTK_OK);
    cr_expect_eq(f[3], 1.0);
    cr_expect_eq(entk_so3_featurize_atom(&s.m, 0, 3, 3, NULL, 0, d, f), ENTK_OK); /* padding slot */
    for (C = 0; C < 15; ++C) cr_expect_eq(f[C], 0.0);
    cr_expect_eq(entk_so3_featurize_atom(&s.m, 0, 4, 3, NULL, 0, d, f), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize_atom(&s.m, 1, 0, 3, NULL, 0, d, f), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize_atom(&s.m, 0, 0, 3, NULL, 0, d0, f), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize_atom(&s.m, 0, 0, 3, NULL, 0, dn, f), ENTK_ERR_NONFINITE);
    cr_expect_eq(entk_so3_featurize_atom(&s.m, 0, 0, 3, NULL, 0, NULL, f), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize_atom(&s.m, 0, 0, 3, NULL, 0, d, NULL), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize_atom(&s.m, 0, 0, 0, NULL, 0, d, f), ENTK_ERR_INVALID_ARG);
    cr_expect_eq(entk_so3_featurize_atom(&s.m, 0, 0, 3, dup, 2, d, f), ENTK_ERR_INVALID_ARG);
    /* a direction that is not unit is normalised */
    {
        double f2[15], d5[3] = {0, 0, 5};
        size_t q;
        cr_expect_eq(entk_so3_featurize_atom(&s.m, 0, 1, 3, NULL, 0, d, f), ENTK_OK);
        cr_expect_eq(entk_so3_featurize_atom(&s.m, 0, 1, 3, NULL, 0, d5, f2), ENTK_OK);
        for (q = 0; q < 15; ++q) cr_expect_eq(f[q], f2[q]);
    }
}
