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
