/* libFuzzer target: the architecture parser on arbitrary text (a NUL-terminated copy of the input),
 * then the validation of the kernels that take what it parses. Every status is a known one; a parse
 * failure is ENTK_ERR_ARCH with a one-line message within errlen; every parsed layer has a name; an
 * MLP architecture (dense and nonlinearity layers only) goes through one tiny entk_mlp_kernel call,
 * any other through one tiny entk_cn_kernel call (image sizes from the input's length, 1..2 channels,
 * 4..7 pixels a side), which must reject what it cannot compute with a status, never a crash.
 * entk_arch_check names the same domain and, with entk_cn_check_shape for images, predicts the
 * kernel's refusal exactly: the same status (SO(3) layers: UNSUPPORTED there, ARCH here) and one line. */
#define ENTK_IMPLEMENTATION
#include "fuzz_common.h"
#include "entk_cn.h"
#include "entk_so3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fz_is_mlp(const entk_arch *a) {
    int i;
    for (i = 0; i < a->n_layers; ++i)
        if (a->layer[i].kind != ENTK_LAYER_DENSE && a->layer[i].kind != ENTK_LAYER_NONLIN) return 0;
    return 1;
}

/* An SO(3) architecture small enough to compute in a fuzz iteration: band limits at most 6 and at
 * most 4 layers with a grid (the kernels' cost grows like B^4 per layer and pair). */
static int fz_so3_small(const entk_arch *a) {
    int i, grids = 0;
    for (i = 0; i < a->n_layers; ++i) {
        const entk_layer *ly = &a->layer[i];
        if (ly->L > 6 || ly->Lout > 6 || ly->B > 6) return 0;
        grids += ly->kind == ENTK_LAYER_S2LIFT || ly->kind == ENTK_LAYER_SO3CONV;
    }
    return grids <= 4;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const double x[2 * 3] = {1.0, -0.5, 0.25, 0.3, 0.8, -1.2};
    double img[2 * 2 * 7 * 7], K[4], T[4];
    size_t errlen, i;
    char *err = fz_errbuf(size, &errlen);
    char *text = (char *)malloc(size + 1);
    entk_arch *arch = (entk_arch *)malloc(sizeof *arch); /* on the heap: overruns of layer[] are seen */
    entk_status st, dst, sst;
    entk_domain dom;
    int l;
    FZ_CHECK(text != NULL && arch != NULL);
    memcpy(text, data, size);
    text[size] = 0;
    st = entk_arch_parse(text, arch, err, errlen);
    fz_check_status(st);
    if (st != ENTK_OK) {
        FZ_CHECK(st == ENTK_ERR_ARCH);
        fz_check_message(err, errlen);
        goto done;
    }
    FZ_CHECK(arch->n_layers >= 0 && arch->n_layers <= ENTK_MAX_LAYERS);
    for (l = 0; l < arch->n_layers; ++l) {
        const char *name = entk_layer_name(&arch->layer[l]);
        FZ_CHECK(name != NULL && strcmp(name, "?") != 0 && strlen(name) > 0);
    }
    dst = entk_arch_check(arch, &dom, err, errlen);
    fz_check_status(dst);
    if (dst != ENTK_OK) fz_check_message(err, errlen);
    FZ_CHECK((dom == ENTK_DOMAIN_MLP) == fz_is_mlp(arch));
    if (dom >= ENTK_DOMAIN_SO3) {
        /* spherical inputs of band limit 1..3 (molecules: 2 atoms each, the second of molecule 1 absent) */
        const int L = 1 + (int)(size % 3);
        const size_t C = 1 + size % 2, cell = (size_t)(2 * L) * (size_t)(2 * L - 1);
        double *sx = (double *)malloc(4 * C * cell * sizeof *sx);
        FZ_CHECK(sx != NULL);
        for (i = 0; i < 4 * C * cell; ++i) sx[i] = (double)((i * 37) % 11) / 5.0 - 1.0;
        for (i = 3 * C * cell; i < 4 * C * cell; ++i) sx[i] = 0;
        if (dom == ENTK_DOMAIN_SO3)
            sst = entk_so3_check_shape(arch, C, L, err, errlen);
        else
            sst = entk_so3_molecule_check_shape(arch, 2, C, (size_t)(2 * L), (size_t)(2 * L - 1), err, errlen);
        fz_check_status(sst);
        if (sst != ENTK_OK) fz_check_message(err, errlen);
        FZ_CHECK(dst == ENTK_OK || sst != ENTK_OK);
        if (sst != ENTK_OK || fz_so3_small(arch)) {
            if (dom == ENTK_DOMAIN_SO3)
                st = entk_so3_kernel(arch, sx, 2, NULL, 0, C, L, K, 2, T, 2, 1);
            else
                st = entk_so3_molecule_kernel(arch, sx, 2, 2, NULL, 0, 0, C, (size_t)(2 * L), (size_t)(2 * L - 1), K, 2,
                                              T, 2, 1);
            fz_check_status(st);
            if (sst != ENTK_OK) FZ_CHECK(st == sst);
            else FZ_CHECK(st == ENTK_OK || st == ENTK_ERR_RANGE || st == ENTK_ERR_NOMEM);
            if (st == ENTK_OK) FZ_CHECK(memcmp(&K[1], &K[2], sizeof K[1]) == 0 && memcmp(&T[1], &T[2], sizeof T[1]) == 0);
        }
        free(sx);
    } else if (fz_is_mlp(arch)) {
        st = entk_mlp_kernel(arch, x, 2, NULL, 0, 3, K, 2, T, 2, 1);
        fz_check_status(st);
        if (dst != ENTK_OK) FZ_CHECK(st == dst);
        else FZ_CHECK(st == ENTK_OK || st == ENTK_ERR_RANGE);
        if (st == ENTK_OK) FZ_CHECK(memcmp(&K[1], &K[2], sizeof K[1]) == 0 && memcmp(&T[1], &T[2], sizeof T[1]) == 0);
    } else {
        const size_t C = 1 + size % 2, H = 4 + (size / 2) % 4, W = 4 + (size / 8) % 4;
        for (i = 0; i < 2 * C * H * W; ++i) img[i] = (double)((i * 37) % 11) / 5.0 - 1.0;
        sst = entk_cn_check_shape(arch, ENTK_ORBIT_NONE, C, H, W, err, errlen);
        fz_check_status(sst);
        if (sst != ENTK_OK) fz_check_message(err, errlen);
        FZ_CHECK(dst == ENTK_OK || sst != ENTK_OK);
        st = entk_cn_kernel(arch, img, 2, NULL, 0, C, H, W, K, 2, T, 2, 1);
        fz_check_status(st);
        if (sst != ENTK_OK) FZ_CHECK(st == sst);
        else FZ_CHECK(st == ENTK_OK || st == ENTK_ERR_RANGE);
    }
done:
    free(err);
    free(text);
    free(arch);
    return 0;
}
