/* test_caption_metrics.c - captioning metrics (src/eval/caption.h) against pycocoevalcap's
 * golden values in ../shared/metrics and against small cases worked out by hand. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "caption.h"
#include "test_util.h"

/* ---- hand-checked cases (no ../shared needed) ---- */

START_TEST(test_bleu_hand) {
    graft_error e;
    /* hyp "the cat sat" (3 words) vs one ref of 6 words: every hyp n-gram matches, so
     * p1 = 3/3, p2 = 2/2, p3 = 1/1, p4 = (0 + 1e-15) / (0 + 1e-9) = 1e-6 (the scorer's guards);
     * brevity penalty exp(1 - 6/3) = e^-1. BLEU-n = (p1..pn)^(1/n) * e^-1. */
    const char *r1[] = {"the cat sat on the mat"};
    graft_cap_sample s1 = {"the cat sat", r1, 1};
    double c[4], pi[4];
    graft_bleu_stats st;
    ck_assert_int_eq(graft_bleu(&s1, 1, c, pi, &st, &e), GRAFT_OK);
    const double want[4] = {exp(-1), exp(-1), exp(-1), pow(1e-6, 0.25) * exp(-1)};
    for (int k = 0; k < 4; k++) {
        if (fabs(c[k] - want[k]) > 1e-9 || fabs(pi[k] - want[k]) > 1e-9)
            fprintf(stderr, "bleu_%d: corpus %.12g per-image %.12g want %.12g\n", k + 1, c[k],
                    pi[k], want[k]);
        ck_assert(fabs(c[k] - want[k]) < 1e-9 && fabs(pi[k] - want[k]) < 1e-9);
    }
    ck_assert_int_eq(st.testlen, 3);
    ck_assert_int_eq(st.reflen, 6);
    /* 'closest': hyp of 5 words, refs of 4 and 6 words are equally close; the shorter wins.
     * Clipping: "a a a a a" vs max count of "a" over refs = 2 -> 2 correct unigrams. */
    const char *r2[] = {"a b a c d e", "a a x y"};
    graft_cap_sample s2 = {"a a a a a", r2, 2};
    ck_assert_int_eq(graft_bleu(&s2, 1, c, NULL, &st, &e), GRAFT_OK);
    ck_assert_int_eq(st.reflen, 4);
    ck_assert_int_eq(st.correct[0], 2);
    ck_assert_int_eq(st.correct[1], 1); /* "a a" appears once in ref 2 */
    ck_assert_int_eq(st.guess[3], 2);
    /* ratio 5/4 >= 1: no penalty; BLEU-1 = (2 + 1e-15) / (5 + 1e-9) */
    ck_assert(fabs(c[0] - 0.4) < 1e-9);
    ck_assert_int_eq(graft_bleu(&s2, 0, c, NULL, NULL, &e), GRAFT_E_INVALID);
}
END_TEST

START_TEST(test_rouge_hand) {
    graft_error e;
    double c, pi[3];
    /* "a b c d" vs "a c e": LCS 2, P = 2/4, R = 2/3,
     * F = (1 + 1.44) P R / (R + 1.44 P) = (61/75) / (104/75) = 61/104.
     * The second ref "a b c d e f g h" has LCS 4: P = 1, R = 0.5; the scorer combines the max P
     * (1, from ref 2) and max R (2/3, from ref 1): F = 2.44 * 2/3 / (2/3 + 1.44) = 244/316. */
    const char *r1[] = {"a c e"};
    const char *r2[] = {"a c e", "a b c d e f g h"};
    /* empty hyp = one empty token (split(' ')), which matches an empty ref: F = 1 */
    const char *r3[] = {""};
    graft_cap_sample s[3] = {{"a b c d", r1, 1}, {"a b c d", r2, 2}, {"", r3, 1}};
    ck_assert_int_eq(graft_rouge_l(s, 3, &c, pi, &e), GRAFT_OK);
    const double want[3] = {61.0 / 104, 244.0 / 316, 1.0};
    for (int i = 0; i < 3; i++) {
        if (fabs(pi[i] - want[i]) > 1e-12)
            fprintf(stderr, "rouge[%d] = %.15g want %.15g\n", i, pi[i], want[i]);
        ck_assert(fabs(pi[i] - want[i]) < 1e-12);
    }
    ck_assert(fabs(c - (want[0] + want[1] + want[2]) / 3) < 1e-12);
}
END_TEST

START_TEST(test_cider_hand) {
    graft_error e;
    double c, pi[3];
    /* N = 3 images, idf = log 3 - log(max(1, df)); every n-gram below has df <= 1, so every
     * tf-idf weight is tf * log 3 (L below), and the weights cancel in the cosines.
     * img 0: hyp "a b c", ref "a b": order 1: (2 L^2) / (sqrt3 L * sqrt2 L) = 2/sqrt6;
     *        order 2: L^2 / (sqrt2 L * L) = 1/sqrt2; orders 3, 4: 0 (ref has none).
     *        length = #bigrams: 2 vs 1, delta 1 -> penalty exp(-1/72).
     *        score = 10 * (2/sqrt6 + 1/sqrt2) / 4 * exp(-1/72).
     * img 1: hyp "x x", ref "x": clipping: min(2L, L) * L / (2L * L) = 0.5 at order 1,
     *        bigram lengths 1 vs 0 -> 10 * 0.5 / 4 * exp(-1/72).
     * img 2: hyp "p", ref "q": nothing shared -> 0. */
    const char *r0[] = {"a b"}, *r1[] = {"x"}, *r2[] = {"q"};
    graft_cap_sample s[3] = {{"a b c", r0, 1}, {"x x", r1, 1}, {"p", r2, 1}};
    ck_assert_int_eq(graft_cider_d(s, 3, &c, pi, &e), GRAFT_OK);
    const double want[3] = {10 * (2 / sqrt(6) + 1 / sqrt(2)) / 4 * exp(-1.0 / 72),
                            10 * 0.5 / 4 * exp(-1.0 / 72), 0.0};
    for (int i = 0; i < 3; i++) {
        if (fabs(pi[i] - want[i]) > 1e-12)
            fprintf(stderr, "cider[%d] = %.15g want %.15g\n", i, pi[i], want[i]);
        ck_assert(fabs(pi[i] - want[i]) < 1e-12);
    }
    ck_assert(fabs(c - (want[0] + want[1]) / 3) < 1e-12);
    /* df: "a" in the refs of 2 of 3 images -> idf log 3 - log 2; here hyp == ref so the
     * cosines are 1 at orders 1 and 2 (orders 3, 4 empty -> 0): 10 * 2/4 / 1 = 5, whatever
     * the weights. Two refs: mean over refs. */
    const char *q0[] = {"a b", "a b"}, *q1[] = {"a"};
    graft_cap_sample t[2] = {{"a b", q0, 2}, {"c", q1, 1}};
    ck_assert_int_eq(graft_cider_d(t, 2, &c, pi, &e), GRAFT_OK);
    ck_assert(fabs(pi[0] - 5.0) < 1e-12);
    ck_assert(fabs(pi[1]) < 1e-12);
}
END_TEST

/* ---- golden: ../shared/metrics/coco_captions_first_vs_rest.json ---- */

typedef struct {
    cJSON *root;
    int n;
    graft_cap_sample *s;
    char **ids;
} coco_gold;

static void gold_free(coco_gold *g) {
    if (g->s)
        for (int i = 0; i < g->n; i++) free((void *)g->s[i].refs);
    free(g->s);
    free(g->ids);
    cJSON_Delete(g->root);
}

/* Loads the JSON; the samples point at the golden tokenized strings (hypothesis_tok,
 * references_tok) so the scorer tests do not depend on graft's tokenizer. */
static int gold_load(coco_gold *g) {
    memset(g, 0, sizeof *g);
    const char *path = tu_shared("metrics/coco_captions_first_vs_rest.json");
    if (!path) return 0;
    size_t len;
    char *txt = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(txt);
    g->root = cJSON_ParseWithLength(txt, len);
    free(txt);
    ck_assert_ptr_nonnull(g->root);
    cJSON *tok = cJSON_GetObjectItem(g->root, "tokenized");
    g->n = cJSON_GetArraySize(tok);
    ck_assert_int_eq(g->n, 80);
    g->s = calloc((size_t)g->n, sizeof *g->s);
    g->ids = calloc((size_t)g->n, sizeof *g->ids);
    int i = 0;
    for (cJSON *it = tok->child; it; it = it->next, i++) {
        g->ids[i] = it->string;
        g->s[i].hyp = cJSON_GetObjectItem(it, "hypothesis_tok")->valuestring;
        cJSON *refs = cJSON_GetObjectItem(it, "references_tok");
        int nr = cJSON_GetArraySize(refs);
        const char **r = calloc((size_t)nr, sizeof *r);
        int j = 0;
        for (cJSON *x = refs->child; x; x = x->next) r[j++] = x->valuestring;
        g->s[i].refs = r;
        g->s[i].n_refs = nr;
    }
    return 1;
}

static double gold_num(cJSON *o, const char *k) {
    cJSON *v = cJSON_GetObjectItem(o, k);
    ck_assert_ptr_nonnull(v);
    return v->valuedouble;
}

/* Scores samples s and compares with the golden corpus and per-image values; returns the
 * number of values off by more than 1e-6 (printing the first few). */
static int check_scores(const coco_gold *g, const graft_cap_sample *s, const char *label) {
    graft_error e;
    int n = g->n, bad = 0;
    double bleu[4], rouge, cider, *pb = malloc((size_t)n * 4 * sizeof *pb),
                                  *pr = malloc((size_t)n * sizeof *pr),
                                  *pc = malloc((size_t)n * sizeof *pc);
    graft_bleu_stats st;
    ck_assert_int_eq(graft_bleu(s, n, bleu, pb, &st, &e), GRAFT_OK);
    ck_assert_int_eq(graft_rouge_l(s, n, &rouge, pr, &e), GRAFT_OK);
    ck_assert_int_eq(graft_cider_d(s, n, &cider, pc, &e), GRAFT_OK);
    /* bleu_internals: testlen 833, reflen 795, guess [833, 753, 673, 593], correct [527, 222, 73, 22] */
    ck_assert_int_eq(st.testlen, 833);
    ck_assert_int_eq(st.reflen, 795);
    const long gg[4] = {833, 753, 673, 593}, gc[4] = {527, 222, 73, 22};
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(st.guess[k], gg[k]);
        ck_assert_int_eq(st.correct[k], gc[k]);
    }
    static const char *names[6] = {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "ROUGE_L", "CIDEr"};
    cJSON *corp = cJSON_GetObjectItem(g->root, "corpus");
    double mine[6] = {bleu[0], bleu[1], bleu[2], bleu[3], rouge, cider};
    double maxerr = 0;
    for (int m = 0; m < 6; m++) {
        double want = gold_num(corp, names[m]), d = fabs(mine[m] - want);
        if (d > maxerr) maxerr = d;
        if (d > 1e-6 && bad++ < 8)
            fprintf(stderr, "%s corpus %s: got %.17g want %.17g\n", label, names[m], mine[m], want);
    }
    cJSON *per = cJSON_GetObjectItem(g->root, "per_image");
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_GetObjectItem(per, g->ids[i]);
        ck_assert_ptr_nonnull(o);
        double v[6] = {pb[i * 4], pb[i * 4 + 1], pb[i * 4 + 2], pb[i * 4 + 3], pr[i], pc[i]};
        for (int m = 0; m < 6; m++) {
            double want = gold_num(o, names[m]), d = fabs(v[m] - want);
            if (d > maxerr) maxerr = d;
            if (d > 1e-6 && bad++ < 8)
                fprintf(stderr, "%s image %s %s: got %.17g want %.17g\n", label, g->ids[i],
                        names[m], v[m], want);
        }
    }
    if (bad) fprintf(stderr, "%s: %d values off by > 1e-6, max error %.3g\n", label, bad, maxerr);
    free(pb); free(pr); free(pc);
    return bad;
}

START_TEST(test_golden_scores) {
    coco_gold g;
    if (!gold_load(&g)) return;
    /* tolerance 1e-6 absolute, the COMPASS goal; the same double operations in a slightly
     * different summation order give ~1e-15 in practice. */
    ck_assert_int_eq(check_scores(&g, g.s, "golden tokens"), 0);
    gold_free(&g);
}
END_TEST


/* ---- the PTB tokenizer ---- */

/* Compares graft_ptb_tokenize (filtered) or _raw against want; prints a mismatch. */
static int tok_check(const char *label, const char *in, const char *want, int raw) {
    graft_error e;
    char *got = NULL;
    int rc = raw ? graft_ptb_tokenize_raw(in, &got, &e) : graft_ptb_tokenize(in, &got, &e);
    ck_assert_int_eq(rc, GRAFT_OK);
    int ok = strcmp(got, want) == 0;
    if (!ok)
        fprintf(stderr, "ptb %s%s mismatch\n  input: \"%s\"\n  want:  \"%s\"\n  got:   \"%s\"\n",
                label, raw ? " (raw)" : "", in, want, got);
    free(got);
    return ok;
}

START_TEST(test_ptb_hand) {
    /* Rules checked by hand against the PTB 3.4.1 conventions (and the README's quirks). */
    ck_assert(tok_check("hand", "A man's hat (red).", "a man 's hat -lrb- red -rrb-", 0));
    ck_assert(tok_check("hand", "A man's hat (red).", "a man 's hat -lrb- red -rrb- .", 1));
    ck_assert(tok_check("hand", "Don't, won't; CAN'T!", "do n't wo n't ca n't", 0));
    ck_assert(tok_check("hand", "\"Hi\" she said -- twice...", "hi she said twice", 0));
    ck_assert(tok_check("hand", "\"Hi\" she said -- twice...", "`` hi '' she said -- twice ...", 1));
    ck_assert(tok_check("hand", "Cost 22 3/4 dollars", "cost 22\xc2\xa0" "3/4 dollars", 0));
    ck_assert(tok_check("hand", "the Ave. St. Mr. x", "the ave. st. mr. x", 0));
    ck_assert(tok_check("hand", "Smith went home.", "smith went home", 0));
    ck_assert(tok_check("hand", "", "", 0));
    ck_assert(tok_check("hand", " . , ; ", "", 0));
    ck_assert(tok_check("hand", "caf\xc3\x89 \xc3\x80", "caf\xc3\xa9 \xc3\xa0", 0));
}
END_TEST

START_TEST(test_ptb_tricky) {
    const char *path = tu_shared("metrics/ptb_tokenizer_tricky_captions.json");
    if (!path) return;
    size_t len;
    char *txt = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(txt);
    cJSON *root = cJSON_ParseWithLength(txt, len);
    free(txt);
    ck_assert_ptr_nonnull(root);
    int n = 0, bad = 0, badraw = 0;
    for (cJSON *c = cJSON_GetObjectItem(root, "cases")->child; c; c = c->next, n++) {
        const char *in = cJSON_GetObjectItem(c, "input")->valuestring;
        char label[32];
        snprintf(label, sizeof label, "tricky #%d", cJSON_GetObjectItem(c, "index")->valueint);
        bad += !tok_check(label, in, cJSON_GetObjectItem(c, "tokenized")->valuestring, 0);
        badraw += !tok_check(label, in, cJSON_GetObjectItem(c, "java_stdout")->valuestring, 1);
    }
    cJSON_Delete(root);
    ck_assert_int_eq(n, 30);
    if (bad || badraw) fprintf(stderr, "ptb tricky: %d/%d filtered and %d raw mismatches\n", bad, n, badraw);
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(badraw, 0);
}
END_TEST

START_TEST(test_ptb_coco_end_to_end) {
    coco_gold g;
    if (!gold_load(&g)) return;
    cJSON *tok = cJSON_GetObjectItem(g.root, "tokenized");
    int bad = 0, i = 0, total = 0;
    graft_cap_sample *mine = calloc((size_t)g.n, sizeof *mine);
    graft_error e;
    for (cJSON *it = tok->child; it; it = it->next, i++) {
        cJSON *rr = cJSON_GetObjectItem(it, "references_raw"), *rj = cJSON_GetObjectItem(it, "references_java");
        const char *hr = cJSON_GetObjectItem(it, "hypothesis_raw")->valuestring;
        char *h;
        ck_assert_int_eq(graft_ptb_tokenize(hr, &h, &e), GRAFT_OK);
        if (strcmp(h, g.s[i].hyp) != 0) bad += !tok_check(g.ids[i], hr, g.s[i].hyp, 0);
        bad += !tok_check(g.ids[i], hr, cJSON_GetObjectItem(it, "hypothesis_java")->valuestring, 1);
        mine[i].hyp = h;
        mine[i].n_refs = g.s[i].n_refs;
        char **r = calloc((size_t)g.s[i].n_refs, sizeof *r);
        cJSON *x = rr->child, *xj = rj->child;
        for (int j = 0; j < g.s[i].n_refs; j++, x = x->next, xj = xj->next) {
            ck_assert_int_eq(graft_ptb_tokenize(x->valuestring, &r[j], &e), GRAFT_OK);
            if (strcmp(r[j], g.s[i].refs[j]) != 0) bad += !tok_check(g.ids[i], x->valuestring, g.s[i].refs[j], 0);
            bad += !tok_check(g.ids[i], x->valuestring, xj->valuestring, 1);
        }
        mine[i].refs = (const char *const *)r;
        total += 1 + g.s[i].n_refs;
    }
    ck_assert_int_eq(total, 401); /* 80 hypotheses, 4 references each and 5 for one image */
    ck_assert_int_eq(bad, 0);
    /* end to end: graft's tokens into graft's scorers give the golden values */
    ck_assert_int_eq(check_scores(&g, mine, "end to end"), 0);
    for (i = 0; i < g.n; i++) {
        free((void *)mine[i].hyp);
        for (int j = 0; j < mine[i].n_refs; j++) free((void *)mine[i].refs[j]);
        free((void *)mine[i].refs);
    }
    free(mine);
    gold_free(&g);
}
END_TEST

/* Random captions built from the characters the scanner treats specially (ASCII punctuation,
 * quotes, digits, Unicode punctuation, emoji, invalid UTF-8): no crash (run under ASan too), and
 * the output is well formed: no leading/trailing/double space, no internal marker byte, no
 * filtered token left; the scorers accept whatever comes out. */
START_TEST(test_ptb_random) {
    static const char *const parts[] = {
        "a", "B", "x", "n't", "'s", "'", "''", "\"", "`", "(", ")", "[", "}", "{", "<", ">", ".",
        "...", ",", ";", ":", "!", "?", "-", "--", "%", "$", "#", "@", "/", "3", "22", " ", " ",
        "  ", "\n", "\t", "St.", "etc.", "U.S.", "can", "not", "gonna", "y'all", "'n'", "1/2",
        "http://", "www.", ":-)", "\xe2\x80\x9c", "\xe2\x80\x9d", "\xe2\x80\x94", "\xe2\x80\xa6",
        "\xc2\xbd", "\xc2\xa3", "\xe2\x82\xac", "\xc3\x89", "\xf0\x9f\x98\x80", "\xff", "\xc3",
        "\xc2\xa0"};
    const int np = (int)(sizeof parts / sizeof *parts);
    tu_rng rng = {0x9e3779b97f4a7c15ULL};
    graft_error e;
    char in[512];
    for (int it = 0; it < 3000; it++) {
        size_t len = 0;
        int k = (int)(tu_next(&rng) % 24);
        in[0] = 0;
        for (int j = 0; j < k; j++) {
            const char *q = parts[tu_next(&rng) % (uint64_t)np];
            size_t ql = strlen(q);
            memcpy(in + len, q, ql + 1);
            len += ql;
        }
        char *out = NULL, *raw = NULL;
        ck_assert_int_eq(graft_ptb_tokenize(in, &out, &e), GRAFT_OK);
        ck_assert_int_eq(graft_ptb_tokenize_raw(in, &raw, &e), GRAFT_OK);
        size_t ol = strlen(out);
        int ok = !(ol && (out[0] == ' ' || out[ol - 1] == ' ')) && !strstr(out, "  ") &&
                 !strchr(out, '\x01') && !strchr(raw, '\x01');
        static const char *const drop[] = {" . ", " , ", " ; ", " -- ", " `` ", " '' ", " ... "};
        char pad[1100];
        snprintf(pad, sizeof pad, " %s ", out);
        for (size_t d = 0; d < sizeof drop / sizeof *drop; d++) ok = ok && !strstr(pad, drop[d]);
        if (!ok) fprintf(stderr, "ptb random: input \"%s\" gave \"%s\"\n", in, out);
        ck_assert(ok);
        const char *refs[1] = {raw};
        graft_cap_sample smp = {out, refs, 1};
        double c4[4], c;
        ck_assert_int_eq(graft_bleu(&smp, 1, c4, NULL, NULL, &e), GRAFT_OK);
        ck_assert_int_eq(graft_rouge_l(&smp, 1, &c, NULL, &e), GRAFT_OK);
        ck_assert_int_eq(graft_cider_d(&smp, 1, &c, NULL, &e), GRAFT_OK);
        ck_assert(c == c); /* not NaN */
        free(out);
        free(raw);
    }
}
END_TEST

Suite *suite_caption_metrics(void) {
    Suite *s = suite_create("caption_metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_bleu_hand);
    tcase_add_test(tc, test_rouge_hand);
    tcase_add_test(tc, test_cider_hand);
    tcase_add_test(tc, test_golden_scores);
    tcase_add_test(tc, test_ptb_hand);
    tcase_add_test(tc, test_ptb_tricky);
    tcase_add_test(tc, test_ptb_coco_end_to_end);
    tcase_add_test(tc, test_ptb_random);
    suite_add_tcase(s, tc);
    return s;
}
