/* Core: status strings, the architecture parser, closed-form nonlinearity values. */
#include <criterion/criterion.h>
#include <stdio.h>
#include "testutil.h"

Test(status, every_status_has_a_distinct_string) {
    int i, j;
    for (i = 0; i < ENTK__STATUS_COUNT; ++i) {
        cr_assert(entk_status_string((entk_status)i)[0] != 0);
        for (j = 0; j < i; ++j)
            cr_assert_str_neq(entk_status_string((entk_status)i), entk_status_string((entk_status)j));
    }
    cr_assert_str_eq(entk_status_string((entk_status)9999), "unknown status");
    cr_assert_str_eq(entk_status_string(ENTK_OK), "ok");
}

Test(arch, parses_layers_and_parameters) {
    entk_arch a;
    char err[128];
    cr_assert_eq(entk_arch_parse(" dense(sw=1.5, sb=0.1),relu  erf leaky_relu(a=0.2) dense", &a, err, sizeof err),
                 ENTK_OK, "%s", err);
    cr_assert_eq(a.n_layers, 5);
    cr_assert_eq(a.layer[0].kind, ENTK_LAYER_DENSE);
    cr_assert_float_eq(a.layer[0].sw, 1.5, 0);
    cr_assert_float_eq(a.layer[0].sb, 0.1, 0);
    cr_assert_eq(a.layer[1].nl.kind, ENTK_NL_RELU);
    cr_assert_eq(a.layer[2].nl.kind, ENTK_NL_ERF);
    cr_assert_eq(a.layer[3].nl.kind, ENTK_NL_LEAKY_RELU);
    cr_assert_float_eq(a.layer[3].nl.a, 0.2, 0);
    cr_assert_float_eq(a.layer[4].sw, 1.0, 0);
    cr_assert_float_eq(a.layer[4].sb, 0.0, 0);
    cr_assert_eq(entk_arch_parse("lift(n=4,flip=1,q=5,pad=circular) gconv(support=id,pad=same) gpool",
                                 &a, err, sizeof err), ENTK_OK, "%s", err);
    cr_assert_eq(a.layer[0].n, 4);
    cr_assert_eq(a.layer[0].flip, 1);
    cr_assert_eq(a.layer[0].q, 5);
    cr_assert_eq(a.layer[0].pad, ENTK_PAD_CIRCULAR);
    cr_assert_eq(a.layer[1].support, ENTK_SUPPORT_ID);
    cr_assert_eq(a.layer[1].pad, ENTK_PAD_SAME);
    cr_assert_eq(a.layer[2].kind, ENTK_LAYER_GPOOL);
}

/* Every malformed architecture is rejected with a message naming the token. */
Test(arch, rejects_bad_strings_naming_the_token) {
    static const struct { const char *s, *needle; } bad[] = {
        {"dense relux", "relux"},          {"dense(sw=abc)", "abc"},
        {"dense(sw=-1)", "-1"},            {"dense(q=3)", "q"},
        {"conv(q=4)", "4"},                {"conv(pad=reflect)", "reflect"},
        {"lift(n=3)", "3"},                {"dense(sw=1", "dense"},
        {"dense(sw)", "dense"},            {"", "empty"},
        {" , ,", "empty"},                 {"dense(sw=nan)", "nan"},
        {"dense(sw=1e999)", "1e999"},      {"dense$", "$"},
        {"gconv(support=some)", "some"},   {"dense(sw=1)x", "x"},
        {"dense(sw=1,sw=2)", "'sw' given twice"}, {"conv(q=3, pad=same, q=5)", "'q' given twice"},
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        entk_arch a;
        char err[128];
        cr_assert_eq(entk_arch_parse(bad[i].s, &a, err, sizeof err), ENTK_ERR_ARCH, "accepted '%s'", bad[i].s);
        cr_assert(strstr(err, bad[i].needle) != NULL, "'%s' -> '%s' lacks '%s'", bad[i].s, err, bad[i].needle);
    }
}

/* A long or garbled token is echoed cut short, so the message still names the layer. */
Test(arch, long_tokens_are_cut_in_messages) {
    char text[512], err[128];
    entk_arch a;
    memset(text, 0, sizeof text);
    strcpy(text, "lift(n=");
    memset(text + 7, 0xFF, 300);
    strcat(text, ") relu");
    cr_assert_eq(entk_arch_parse(text, &a, err, sizeof err), ENTK_ERR_ARCH);
    cr_assert(strstr(err, "...' for n in layer 'lift'") != NULL, "%s", err);
    memset(text, 'z', 300);
    text[300] = 0;
    cr_assert_eq(entk_arch_parse(text, &a, err, sizeof err), ENTK_ERR_ARCH);
    cr_assert(strstr(err, "unknown layer 'zzz") != NULL && strstr(err, "...'") != NULL && strlen(err) < 64, "%s", err);
}

Test(arch, too_many_layers) {
    static char s[8 * (ENTK_MAX_LAYERS + 2)];
    entk_arch a;
    char err[64];
    int i;
    s[0] = 0;
    for (i = 0; i < ENTK_MAX_LAYERS + 1; ++i) strcat(s, "relu ");
    cr_assert_eq(entk_arch_parse(s, &a, err, sizeof err), ENTK_ERR_ARCH);
    cr_assert(strstr(err, "too many") != NULL);
}

static void map1(entk_nonlin_kind k, double a, double b, double c, double *t, double *td) {
    entk_nonlin f;
    double th = 1.0;
    memset(&f, 0, sizeof f);
    f.kind = k;
    cr_assert_eq(entk_nonlin_map(&f, 1, &a, 0, &b, 0, &c, &th, t, td), ENTK_OK);
}

/* Closed-form values at points where the integrals are known exactly. */
Test(nonlin, closed_form_values) {
    double t, td;
    map1(ENTK_NL_RELU, 2.0, 2.0, 2.0, &t, &td);      /* u = v: E[relu(u)^2] = k/2, P(u>0) = 1/2 */
    cr_assert_float_eq(t, 1.0, 1e-15);
    cr_assert_float_eq(td, 0.5, 1e-15);
    map1(ENTK_NL_RELU, 1.0, 4.0, 0.0, &t, &td);      /* independent: E relu = sqrt(k/2pi) each */
    cr_assert_float_eq(t, sqrt(1.0 / (2 * M_PI)) * sqrt(4.0 / (2 * M_PI)), 1e-15);
    cr_assert_float_eq(td, 0.25, 1e-15);
    map1(ENTK_NL_RELU, 1.0, 1.0, -1.0, &t, &td);     /* v = -u */
    cr_assert_float_eq(t, 0.0, 1e-15);
    cr_assert_float_eq(td, 0.0, 1e-15);
    map1(ENTK_NL_RELU, 0.0, 3.0, 0.0, &t, &td);      /* zero variance: finite, theta = pi/2 */
    cr_assert_float_eq(t, 0.0, 0);
    cr_assert_float_eq(td, 0.25, 0);
    map1(ENTK_NL_ERF, 0.5, 0.5, 0.5, &t, &td);       /* E[erf(u)^2] = (2/pi) asin(2k/(1+2k)) */
    cr_assert_float_eq(t, 2 / M_PI * asin(0.5), 1e-15);
    cr_assert_float_eq(td, 4 / M_PI / sqrt(4.0 - 1.0), 1e-15);
    map1(ENTK_NL_ERF, 0.0, 0.0, 0.0, &t, &td);       /* E[erf'(0)^2] = 4/pi */
    cr_assert_float_eq(t, 0.0, 0);
    cr_assert_float_eq(td, 4 / M_PI, 1e-15);
    map1(ENTK_NL_IDENTITY, 3.0, 5.0, -2.0, &t, &td);
    cr_assert_float_eq(t, -2.0, 0);
    cr_assert_float_eq(td, 1.0, 0);
    map1(ENTK_NL_SIN, 1.0, 1.0, 1.0, &t, &td);       /* E[sin^2 u] = (1 - e^{-2k})/2 */
    cr_assert_float_eq(t, 0.5 * (1 - exp(-2.0)), 1e-15);
    cr_assert_float_eq(td, 0.5 * (1 + exp(-2.0)), 1e-15);
}

Test(nonlin, leaky_relu_interpolates_identity_and_relu) {
    entk_nonlin f;
    double a = 1.3, b = 0.7, c = 0.4, th = 2.0, t, td, tr, tdr;
    memset(&f, 0, sizeof f);
    f.kind = ENTK_NL_LEAKY_RELU;
    f.a = 1.0;
    entk_nonlin_map(&f, 1, &a, 0, &b, 0, &c, &th, &t, &td);
    cr_assert_float_eq(t, c, 1e-15);
    cr_assert_float_eq(td, th, 1e-15);
    f.a = 0.0;
    entk_nonlin_map(&f, 1, &a, 0, &b, 0, &c, &th, &t, &td);
    f.kind = ENTK_NL_RELU;
    entk_nonlin_map(&f, 1, &a, 0, &b, 0, &c, &th, &tr, &tdr);
    cr_assert_float_eq(t, tr, 1e-15);
    cr_assert_float_eq(td, tdr, 1e-15);
    f.kind = ENTK_NL_LEAKY_RELU;  /* phi(-x) with slope -1 is |x|: E|u||v| at u = v is k */
    f.a = -1.0;
    entk_nonlin_map(&f, 1, &a, 0, &a, 0, &a, &th, &t, &td);
    cr_assert_float_eq(t, a, 1e-14);
    cr_assert_float_eq(td, th, 1e-14);
}

Test(nonlin, rejects_bad_arguments) {
    entk_nonlin f;
    double a = 1, t;
    memset(&f, 0, sizeof f);
    f.kind = ENTK_NL_RELU;
    cr_assert_eq(entk_nonlin_map(NULL, 1, &a, 0, &a, 0, &a, NULL, &t, NULL), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_nonlin_map(&f, 1, &a, 2, &a, 0, &a, NULL, &t, NULL), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_nonlin_map(&f, 1, &a, 0, &a, 0, &a, &a, &t, NULL), ENTK_ERR_INVALID_ARG);
    cr_assert_eq(entk_nonlin_map(&f, 0, NULL, 0, NULL, 0, NULL, NULL, NULL, NULL), ENTK_OK);
    f.kind = ENTK_NL_CUSTOM;
    cr_assert_eq(entk_nonlin_map(&f, 1, &a, 0, &a, 0, &a, NULL, &t, NULL), ENTK_ERR_INVALID_ARG);
}

Test(arch, layer_names_round_trip_through_the_parser) {
    entk_arch a;
    char err[128];
    const char *text = "dense relu erf gelu sin identity leaky_relu conv avgpool gap flatten lift gconv gpool "
                       "rotpool s2lift so3conv so3pool atomsum";
    char rebuilt[512] = "";
    int l;
    cr_assert_eq(entk_arch_parse(text, &a, err, sizeof err), ENTK_OK, "%s", err);
    for (l = 0; l < a.n_layers; ++l) {
        if (l) strcat(rebuilt, " ");
        strcat(rebuilt, entk_layer_name(&a.layer[l]));
    }
    cr_assert_str_eq(rebuilt, text);
    cr_assert_str_eq(entk_layer_name(NULL), "?");
}

/* ============================================================================================== */
/* entk_arch_check: the domain, and every layer rule with its message                             */
/* ============================================================================================== */

/* Every rule the kernel functions enforce without the image size, on a parsed architecture: the
 * status, the domain and the exact one-line message naming the layer. */
Test(arch_check, every_rule_names_the_layer) {
    static const struct { const char *s; entk_status st; entk_domain dom; const char *msg; } cases[] = {
        /* MLP */
        {"relu dense", ENTK_ERR_ARCH, ENTK_DOMAIN_MLP, "layer 1 'relu': an MLP starts with a dense layer"},
        {"dense relu dense", ENTK_OK, ENTK_DOMAIN_MLP, ""},
        {"dense dense relu relu", ENTK_OK, ENTK_DOMAIN_MLP, ""},
        /* image: the first layer, the reduction and what follows it */
        {"dense relu gap", ENTK_ERR_ARCH, ENTK_DOMAIN_IMAGE,
         "layer 1 'dense': an image architecture starts with conv or lift"},
        {"gap", ENTK_ERR_ARCH, ENTK_DOMAIN_IMAGE, "layer 1 'gap': an image architecture starts with conv or lift"},
        {"relu conv gap", ENTK_ERR_ARCH, ENTK_DOMAIN_IMAGE,
         "layer 1 'relu': an image architecture starts with conv or lift"},
        {"conv relu dense", ENTK_ERR_ARCH, ENTK_DOMAIN_IMAGE,
         "layer 3 'dense': a dense layer needs scalars: reduce the maps with gap, gpool or flatten before it"},
        {"conv(pad=same) relu", ENTK_ERR_ARCH, ENTK_DOMAIN_IMAGE,
         "layer 2 'relu': the architecture ends without a reduction to scalars (gap, gpool or flatten)"},
        {"conv(pad=same) gap conv", ENTK_ERR_ARCH, ENTK_DOMAIN_IMAGE,
         "layer 3 'conv': only dense layers and nonlinearities may follow the reduction (layer 2 'gap')"},
        {"conv(pad=same) flatten relu gpool", ENTK_ERR_ARCH, ENTK_DOMAIN_IMAGE,
         "layer 4 'gpool': only dense layers and nonlinearities may follow the reduction (layer 2 'flatten')"},
        {"conv gap relu dense relu", ENTK_OK, ENTK_DOMAIN_IMAGE, ""},
        /* lifts, group convolutions, rotpool */
        {"conv(pad=same) gconv gap", ENTK_ERR_ARCH, ENTK_DOMAIN_IMAGE, "layer 2 'gconv': gconv must follow a lift"},
        {"lift(n=4) rotpool gconv gap", ENTK_ERR_ARCH, ENTK_DOMAIN_IMAGE,
         "layer 3 'gconv': gconv must follow a lift (layer 2 'rotpool' pooled the group away)"},
        {"lift(n=4,pad=same) conv(pad=same) gpool", ENTK_ERR_ARCH, ENTK_DOMAIN_IMAGE,
         "layer 2 'conv': conv needs pixel maps, but layer 1 'lift' lifted them to a group of 4 elements: "
         "use gconv, or rotpool first"},
        {"lift(n=2,flip=1) relu conv gpool", ENTK_ERR_ARCH, ENTK_DOMAIN_IMAGE,
         "layer 3 'conv': conv needs pixel maps, but layer 1 'lift' lifted them to a group of 4 elements: "
         "use gconv, or rotpool first"},
        {"lift(n=1) conv gconv gpool", ENTK_OK, ENTK_DOMAIN_IMAGE, ""}, /* the trivial group keeps pixel maps */
        {"lift(n=4,pad=same) lift(n=2) gpool", ENTK_ERR_ARCH, ENTK_DOMAIN_IMAGE,
         "layer 2 'lift': the maps are already lifted (layer 1 'lift'): rotpool before lifting again"},
        {"lift(n=4) relu rotpool conv lift(n=2) gconv gpool", ENTK_OK, ENTK_DOMAIN_IMAGE, ""},
        {"conv(pad=same) rotpool gap", ENTK_ERR_ARCH, ENTK_DOMAIN_IMAGE,
         "layer 2 'rotpool': rotpool must follow a lift (the maps are not lifted)"},
        {"lift(n=4) rotpool rotpool gap", ENTK_ERR_ARCH, ENTK_DOMAIN_IMAGE,
         "layer 3 'rotpool': rotpool must follow a lift (the maps are not lifted)"},
        {"conv avgpool(p=1000) gap", ENTK_OK, ENTK_DOMAIN_IMAGE, ""}, /* too large only for a given size */
        /* SO(3): s2lift first, band limits against the grids they read, so3pool, then scalars */
        {"s2lift(L=4) relu so3pool dense", ENTK_OK, ENTK_DOMAIN_SO3, ""},
        {"s2lift(L=4,Lout=3,B=6) erf so3conv(L=5,B=8) erf so3conv(B=5) relu so3pool dense relu dense", ENTK_OK,
         ENTK_DOMAIN_SO3, ""},
        {"so3conv so3pool", ENTK_ERR_ARCH, ENTK_DOMAIN_SO3, "layer 1 'so3conv': an SO(3) architecture starts with s2lift"},
        {"s2lift relu s2lift so3pool", ENTK_ERR_ARCH, ENTK_DOMAIN_SO3,
         "layer 3 's2lift': s2lift must be the first layer (the maps are already on SO(3): use so3conv)"},
        {"s2lift(L=4,Lout=5) so3pool", ENTK_ERR_ARCH, ENTK_DOMAIN_SO3,
         "layer 1 's2lift': Lout=5 exceeds the input band limit L=4"},
        {"s2lift(Lout=3,B=2) so3pool", ENTK_ERR_ARCH, ENTK_DOMAIN_SO3,
         "layer 1 's2lift': B=2 must be at least the band limit 3 (B >= L)"},
        {"s2lift(L=4,B=6) relu so3conv(L=7) so3pool", ENTK_ERR_ARCH, ENTK_DOMAIN_SO3,
         "layer 3 'so3conv': L=7 exceeds the band limit 6 of the grid it reads"},
        {"s2lift conv so3pool", ENTK_ERR_ARCH, ENTK_DOMAIN_SO3, "layer 2 'conv': an image layer in an SO(3) network"},
        {"s2lift dense so3pool", ENTK_ERR_ARCH, ENTK_DOMAIN_SO3,
         "layer 2 'dense': a dense layer needs scalars: reduce the maps with so3pool before it"},
        {"s2lift so3pool so3conv", ENTK_ERR_ARCH, ENTK_DOMAIN_SO3,
         "layer 3 'so3conv': only dense layers and nonlinearities may follow the reduction (layer 2 'so3pool')"},
        {"s2lift relu", ENTK_ERR_ARCH, ENTK_DOMAIN_SO3,
         "layer 2 'relu': the architecture ends without a reduction to scalars (so3pool)"},
        {"conv gap s2lift", ENTK_ERR_ARCH, ENTK_DOMAIN_SO3, "layer 1 'conv': an SO(3) architecture starts with s2lift"},
        {"dense relu so3conv", ENTK_ERR_ARCH, ENTK_DOMAIN_SO3, "layer 1 'dense': an SO(3) architecture starts with s2lift"},
        /* molecules: an MLP or SO(3) atom network, atomsum last and only there */
        {"s2lift so3conv so3pool atomsum", ENTK_OK, ENTK_DOMAIN_MOLECULE, ""},
        {"dense relu atomsum", ENTK_OK, ENTK_DOMAIN_MOLECULE, ""},
        {"atomsum", ENTK_ERR_ARCH, ENTK_DOMAIN_MOLECULE, "layer 1 'atomsum': atomsum needs an atom network before it"},
        {"dense atomsum relu", ENTK_ERR_ARCH, ENTK_DOMAIN_MOLECULE,
         "layer 2 'atomsum': atomsum must be the last layer, after an MLP or SO(3) atom network"},
        {"dense atomsum atomsum", ENTK_ERR_ARCH, ENTK_DOMAIN_MOLECULE,
         "layer 2 'atomsum': atomsum must be the last layer, after an MLP or SO(3) atom network"},
        {"conv(pad=same) gap atomsum", ENTK_ERR_ARCH, ENTK_DOMAIN_MOLECULE,
         "layer 1 'conv': an image layer in an atom network (atomsum takes an MLP or SO(3) atom network)"},
        {"s2lift erf atomsum", ENTK_ERR_ARCH, ENTK_DOMAIN_MOLECULE,
         "layer 2 'erf': the architecture ends without a reduction to scalars (so3pool)"},
        {"relu dense atomsum", ENTK_ERR_ARCH, ENTK_DOMAIN_MOLECULE, "layer 1 'relu': an MLP starts with a dense layer"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        entk_arch a = tu_parse(cases[i].s);
        entk_domain d = (entk_domain)-1;
        char err[256];
        entk_status st;
        memset(err, 'x', sizeof err);
        st = entk_arch_check(&a, &d, err, sizeof err);
        cr_expect_eq(st, cases[i].st, "'%s': status %d", cases[i].s, (int)st);
        cr_expect_eq(d, cases[i].dom, "'%s': domain %d", cases[i].s, (int)d);
        cr_expect_str_eq(err, cases[i].msg, "'%s'", cases[i].s);
        /* the domain and the status without a message buffer */
        cr_expect_eq(entk_arch_check(&a, NULL, NULL, 0), cases[i].st, "'%s'", cases[i].s);
        /* the MLP kernels return the same statuses for MLP architectures */
        if (d == ENTK_DOMAIN_MLP) {
            double x[4] = {1, 2, 3, 4}, k;
            entk_status want = st;
            cr_expect_eq(entk_mlp_kernel(&a, x, 1, NULL, 0, 4, &k, 1, NULL, 0, 1), want, "'%s'", cases[i].s);
            cr_expect_eq(entk_mlp_diag(&a, x, 1, 4, &k, NULL), want, "'%s'", cases[i].s);
        }
    }
}

/* entk_arch_check(a) returns st with the message msg */
static void arch_says(const entk_arch *a, entk_status st, const char *msg) {
    entk_domain d;
    char err[256];
    cr_expect_eq(entk_arch_check(a, &d, err, sizeof err), st, "%s", msg);
    cr_expect_str_eq(err, msg);
}

/* The rules the grammar cannot express (values the parser refuses, unknown kinds) through the C API. */
Test(arch_check, c_api_values_name_the_layer) {
    entk_arch a;
    char err[256];
    entk_domain d;
    a = tu_parse("dense relu dense");
    a.layer[2].sw = -1;
    arch_says(&a, ENTK_ERR_ARCH, "layer 3 'dense': sw and sb must be finite and >= 0, not -1 and 0");
    a.layer[2].sw = 1;
    a.layer[0].sb = NAN;
    arch_says(&a, ENTK_ERR_ARCH, "layer 1 'dense': sw and sb must be finite and >= 0, not 1 and nan");
    a.layer[0].sb = 0;
    a.layer[1].nl.kind = ENTK_NL_CUSTOM; /* no phi, dphi */
    arch_says(&a, ENTK_ERR_INVALID_ARG,
              "layer 2 'custom': a custom nonlinearity needs phi, dphi and an order from 0 to 128 (it has order 0)");
    a.layer[1].nl.kind = (entk_nonlin_kind)99;
    arch_says(&a, ENTK_ERR_UNSUPPORTED, "layer 2 '?': unknown nonlinearity kind 99");
    a.layer[1].nl.kind = ENTK_NL_RELU;
    a.layer[1].kind = (entk_layer_kind)77;
    cr_expect_eq(entk_arch_check(&a, &d, err, sizeof err), ENTK_ERR_ARCH);
    cr_expect_eq(d, ENTK_DOMAIN_MLP);
    cr_expect_str_eq(err, "layer 2 '?': unknown layer kind 77");

    a = tu_parse("conv relu lift gconv avgpool gpool");
    a.layer[0].q = 4;
    cr_expect_eq(entk_arch_check(&a, &d, err, sizeof err), ENTK_ERR_ARCH);
    cr_expect_eq(d, ENTK_DOMAIN_IMAGE);
    cr_expect_str_eq(err, "layer 1 'conv': window q=4 must be odd, from 1 to 99");
    a.layer[0].q = 101;
    arch_says(&a, ENTK_ERR_ARCH, "layer 1 'conv': window q=101 must be odd, from 1 to 99");
    a.layer[0].q = 3;
    a.layer[0].sw = INFINITY;
    arch_says(&a, ENTK_ERR_ARCH, "layer 1 'conv': sw and sb must be finite and >= 0, not inf and 0");
    a.layer[0].sw = 1;
    a.layer[2].pad = (entk_pad)7;
    arch_says(&a, ENTK_ERR_ARCH, "layer 3 'lift': unknown padding 7 (valid, same or circular)");
    a.layer[2].pad = ENTK_PAD_VALID;
    a.layer[2].n = 3;
    arch_says(&a, ENTK_ERR_ARCH, "layer 3 'lift': n=3 rotations: only 1, 2 or 4");
    a.layer[2].n = 4;
    a.layer[2].flip = 2;
    arch_says(&a, ENTK_ERR_ARCH, "layer 3 'lift': flip=2 must be 0 or 1");
    a.layer[2].flip = 1;
    a.layer[3].support = (entk_support)5;
    arch_says(&a, ENTK_ERR_ARCH, "layer 4 'gconv': unknown support 5 (all or id)");
    a.layer[3].support = ENTK_SUPPORT_ID;
    a.layer[4].p = 0;
    arch_says(&a, ENTK_ERR_ARCH, "layer 5 'avgpool': pool size p=0 must be at least 1");
    a.layer[4].p = 2;
    arch_says(&a, ENTK_OK, "");
    a.layer[5].kind = (entk_layer_kind)77;
    arch_says(&a, ENTK_ERR_ARCH, "layer 6 '?': unknown layer kind 77");
}

Test(arch_check, null_and_layer_counts_are_invalid_arguments) {
    entk_arch a = tu_parse("dense");
    entk_domain d = ENTK_DOMAIN_SO3;
    char err[64], tiny[12];
    cr_expect_eq(entk_arch_check(NULL, &d, err, sizeof err), ENTK_ERR_INVALID_ARG);
    cr_expect_str_eq(err, "no architecture (NULL)");
    cr_expect_eq(d, ENTK_DOMAIN_SO3); /* not set without layers */
    a.n_layers = 0;
    cr_expect_eq(entk_arch_check(&a, &d, err, sizeof err), ENTK_ERR_INVALID_ARG);
    cr_expect_str_eq(err, "0 layers (1 to 128 allowed)");
    a.n_layers = ENTK_MAX_LAYERS + 1;
    cr_expect_eq(entk_arch_check(&a, &d, err, sizeof err), ENTK_ERR_INVALID_ARG);
    /* a short buffer gets a cut, terminated message */
    a = tu_parse("relu dense");
    cr_expect_eq(entk_arch_check(&a, &d, tiny, sizeof tiny), ENTK_ERR_ARCH);
    cr_expect_str_eq(tiny, "layer 1 're");
    cr_expect_eq(entk_arch_check(&a, &d, tiny, 1), ENTK_ERR_ARCH);
    cr_expect_str_eq(tiny, "");
}
