/* Writes the seed corpus fuzz/corpus/npy/ (`make fuzz-seeds`): files from entk's own writer (float64,
 * 0-d to 8-d, empty) and hand-made headers for what the reader accepts beyond that (float32, uint8,
 * big-endian, Fortran order, versions 2.0 and 3.0, double quotes, a Python 2 'L'), plus a few it
 * must reject (truncated, NaN, bad magic, trailing bytes, unknown dtype). Deterministic. */
#define ENTK_IMPLEMENTATION
#include "entk.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dir;

static void put(const char *name, const void *bytes, size_t len) {
    char path[512];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "seeds_npy: cannot write %s\n", path);
        exit(1);
    }
}

static void put_array(const char *name, const double *data, int ndim, const size_t *shape) {
    static unsigned char buf[8192];
    size_t len;
    if (entk_npy_write_mem(data, ndim, shape, buf, sizeof buf, &len) != ENTK_OK) {
        fprintf(stderr, "seeds_npy: cannot encode %s\n", name);
        exit(1);
    }
    put(name, buf, len);
}

/* A hand-made file: version major.0, the dict text padded with spaces and '\n' to a multiple of 64
 * bytes, then len data bytes. */
static void put_raw(const char *name, int major, const char *dict, const void *data, size_t len) {
    static unsigned char buf[8192];
    const size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hl = dl + 1, n = 0;
    while ((pre + hl) % 64) ++hl;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    buf[8] = (unsigned char)(hl & 0xff);
    buf[9] = (unsigned char)(hl >> 8);
    if (major > 1) buf[10] = buf[11] = 0;
    n = pre;
    memcpy(buf + n, dict, dl);
    memset(buf + n + dl, ' ', hl - dl - 1);
    buf[n + hl - 1] = '\n';
    n += hl;
    memcpy(buf + n, data, len);
    put(name, buf, n + len);
}

int main(int argc, char **argv) {
    double v[64];
    size_t s1[1] = {7}, s2[2] = {3, 4}, s3[3] = {2, 1, 3}, s0[2] = {0, 5}, s8[8] = {1, 2, 1, 2, 1, 1, 2, 1};
    float f4[6] = {1.5f, -2.0f, 0.25f, 3.0e-8f, -0.0f, 6.0f};
    unsigned char u1[12] = {0, 1, 2, 3, 127, 128, 200, 255, 9, 8, 7, 6};
    unsigned char be[5 * 8], bf[4 * 4], buf[8192];
    size_t i, len;
    if (argc != 2) {
        fprintf(stderr, "usage: seeds_npy DIR\n");
        return 2;
    }
    dir = argv[1];
    for (i = 0; i < 64; ++i) v[i] = (double)i * 0.75 - 10.0 + (i % 3 ? 1e-300 : 0.0);
    v[5] = -0.0;
    v[6] = 1.7976931348623157e308;
    v[7] = 4.9e-324;
    put_array("f8_0d.npy", v + 3, 0, NULL);
    put_array("f8_1d.npy", v, 1, s1);
    put_array("f8_2d.npy", v, 2, s2);
    put_array("f8_3d.npy", v, 3, s3);
    put_array("f8_empty.npy", NULL, 2, s0);
    put_array("f8_8d.npy", v, 8, s8);
    put_raw("f4_2d.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f4, sizeof f4);
    put_raw("f4_fortran.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }", f4, sizeof f4);
    for (i = 0; i < 4; ++i) { bf[4 * i] = 0x3f; bf[4 * i + 1] = (unsigned char)(0x80 + i); bf[4 * i + 2] = 0; bf[4 * i + 3] = 0; }
    put_raw("f4_big.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", bf, sizeof bf);
    for (i = 0; i < 5; ++i) { memset(be + 8 * i, 0, 8); be[8 * i] = 0x40; be[8 * i + 1] = (unsigned char)(i << 4); }
    put_raw("f8_big.npy", 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (5,), }", be, sizeof be);
    put_raw("u1_2d.npy", 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 4), }", u1, sizeof u1);
    put_raw("u1_fortran.npy", 1, "{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3, 2), }", u1, sizeof u1);
    put_raw("u1_plain.npy", 1, "{'descr': 'u1', 'fortran_order': False, 'shape': (12,), }", u1, sizeof u1);
    put_raw("f8_v2.npy", 2, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", v, 3 * 8);
    put_raw("f8_v3.npy", 3, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", v, 4 * 8);
    put_raw("f8_fortran.npy", 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3, 2), }", v, 12 * 8);
    put_raw("dquote.npy", 1, "{\"shape\": (2,3), \"descr\": \"<f8\", \"fortran_order\": False}", v, 6 * 8);
    put_raw("spaces.npy", 1, "  {'fortran_order':False,'shape':(2,3,),'descr':'<f8',}", v, 6 * 8);
    put_raw("long_L.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 2L), }", v, 4 * 8);
    put_raw("zero_dim.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 0, 2), }", f4, 0);
    /* rejected: each reaches a different check */
    put_raw("bad_dtype.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", v, 3 * 8);
    put_raw("bad_struct.npy", 1, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }", v, 8);
    put_raw("bad_shape.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (-1, 2), }", v, 0);
    put_raw("bad_huge.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", v, 8);
    put_raw("bad_key.npy", 1, "{'descr': '<f8', 'fortran': False, 'shape': (1,), }", v, 8);
    put_raw("bad_trailing.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", v, 16);
    put_raw("bad_truncated.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", v, 20);
    {
        const unsigned char nan[8] = {0, 0, 0, 0, 0, 0, 0xf8, 0x7f};
        put_raw("bad_nan.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", nan, 8);
    }
    if (entk_npy_write_mem(v, 1, s1, buf, sizeof buf, &len) != ENTK_OK) return 1;
    buf[1] = 'X';
    put("bad_magic.npy", buf, len);
    put("bad_preamble.npy", "\x93NUMPY\x01", 7);
    return 0;
}
