/* test_metrics.c - POPE, VQA accuracy, ScienceQA letter extraction and LLaVA-Bench review
 * summaries: hand-checked cases, and the golden values of the official scripts (../shared/metrics). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "metrics.h"
#include "test_util.h"

/* ---- small JSON/JSONL helpers (test-side readers) ----------------------------------------- */

static cJSON *load_json(const char *path) {
    size_t len = 0;
    char *buf = tu_read_file(path, &len);
    ck_assert_msg(buf != NULL, "cannot read %s", path);
    cJSON *j = cJSON_ParseWithLength(buf, len);
    free(buf);
    ck_assert_msg(j != NULL, "bad JSON %s", path);
    return j;
}

/* Every non-empty line of a JSONL file parsed into one JSON array. */
static cJSON *load_jsonl(const char *path) {
    size_t len = 0;
    char *buf = tu_read_file(path, &len);
    ck_assert_msg(buf != NULL, "cannot read %s", path);
    cJSON *arr = cJSON_CreateArray();
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (l > 0) {
            cJSON *o = cJSON_ParseWithLength(p, l);
            ck_assert_msg(o != NULL, "bad JSONL line in %s", path);
            cJSON_AddItemToArray(arr, o);
        }
        p += l + 1;
    }
    free(buf);
    return arr;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "missing number %s", key);
    return v->valuedouble;
}

static const char *str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsString(v), "missing string %s", key);
    return v->valuestring;
}

/* exact equality expected (same double operations in the same order); 1e-12 leaves room only
 * for a last-bit difference, far below any rounding the scripts print */
static void near(const char *what, double got, double want) {
    ck_assert_msg(fabs(got - want) <= 1e-12, "%s: got %.17g want %.17g (err %.3g)", what, got, want,
                  fabs(got - want));
}

/* ---- POPE --------------------------------------------------------------------------------- */

START_TEST(test_pope_parse) {
    ck_assert_int_eq(graft_pope_is_yes("Yes"), 1);
    ck_assert_int_eq(graft_pope_is_yes("No"), 0);
    ck_assert_int_eq(graft_pope_is_yes("no"), 0);
    ck_assert_int_eq(graft_pope_is_yes("NO"), 1);               /* case-sensitive words */
    ck_assert_int_eq(graft_pope_is_yes("No\nthere is none"), 1); /* "No\nthere" is one word */
    ck_assert_int_eq(graft_pope_is_yes("No, there is not."), 0); /* comma dropped: "No" */
    ck_assert_int_eq(graft_pope_is_yes("Yes. There is no dog"), 1); /* only the first sentence */
    ck_assert_int_eq(graft_pope_is_yes("There is not a dog"), 0);
    ck_assert_int_eq(graft_pope_is_yes("nothing"), 1);           /* whole words only */
    ck_assert_int_eq(graft_pope_is_yes("n,o"), 0);               /* commas deleted inside words */
    ck_assert_int_eq(graft_pope_is_yes("yes  no"), 0);           /* empty word between spaces */
    ck_assert_int_eq(graft_pope_is_yes(""), 1);
    ck_assert_int_eq(graft_pope_is_yes(".no"), 1);
}
END_TEST

START_TEST(test_pope_hand) {
    /* predictions yes,yes,no,no,yes vs labels yes,no,no,yes,yes:
     * TP = 2 (#1, #5), FP = 1 (#2), TN = 1 (#3), FN = 1 (#4);
     * precision 2/3, recall 2/3, f1 = 2*(2/3)*(2/3)/(4/3) = 2/3, accuracy 3/5, yes_ratio 3/5.
     * The 6th answer has no label (zip drops it) but counts in yes_ratio: 4/6. */
    const char *ans[] = {"Yes", "Yes, it is.", "No.", "There is not.", "yes", "yes"};
    const char *lab[] = {"yes", "no", "no", "yes", "yes"};
    graft_pope_result r;
    graft_error e;
    ck_assert_int_eq(graft_pope_score(ans, 5, lab, 5, &r, &e), GRAFT_OK);
    ck_assert_int_eq(r.tp, 2); ck_assert_int_eq(r.fp, 1);
    ck_assert_int_eq(r.tn, 1); ck_assert_int_eq(r.fn, 1);
    near("precision", r.precision, 2.0 / 3.0);
    near("recall", r.recall, 2.0 / 3.0);
    near("f1", r.f1, 2.0 / 3.0);
    near("accuracy", r.accuracy, 0.6);
    near("yes_ratio", r.yes_ratio, 0.6);
    ck_assert_int_eq(graft_pope_score(ans, 6, lab, 5, &r, &e), GRAFT_OK);
    ck_assert_int_eq(r.n_pairs, 5);
    near("yes_ratio6", r.yes_ratio, 4.0 / 6.0);
    ck_assert_int_eq(graft_pope_score(ans, 0, lab, 5, &r, &e), GRAFT_E_INVALID);
}
END_TEST

START_TEST(test_pope_golden) {
    const char *gp = tu_shared("metrics/pope_random_llava-v1.5-13b.json");
    if (!gp) return;
    char qpath[4096], apath[4096], lpath[4096];
    snprintf(qpath, sizeof qpath, "%s", tu_shared("eval/llava15/pope/llava_pope_test.jsonl"));
    snprintf(apath, sizeof apath, "%s", tu_shared("eval/llava15/pope/answers_llava-v1.5-13b.jsonl"));
    snprintf(lpath, sizeof lpath, "%s", tu_shared("eval/pope/llava15-era/coco_pope_random.json"));
    cJSON *gold = load_json(gp);
    cJSON *qs = load_jsonl(qpath), *as = load_jsonl(apath), *ls = load_jsonl(lpath);
    int nq = cJSON_GetArraySize(qs), na = cJSON_GetArraySize(as), nl = cJSON_GetArraySize(ls);
    /* question_id -> category: ids are small integers here */
    int max_id = 0;
    for (int i = 0; i < nq; i++) {
        int id = (int)num(cJSON_GetArrayItem(qs, i), "question_id");
        if (id > max_id) max_id = id;
    }
    char *is_random = calloc((size_t)max_id + 1, 1);
    for (int i = 0; i < nq; i++) {
        const cJSON *q = cJSON_GetArrayItem(qs, i);
        is_random[(int)num(q, "question_id")] = strcmp(str(q, "category"), "random") == 0;
    }
    const char **ans = malloc(sizeof(char *) * (size_t)na);
    const char **lab = malloc(sizeof(char *) * (size_t)nl);
    size_t n_ans = 0;
    for (int i = 0; i < na; i++) {
        const cJSON *a = cJSON_GetArrayItem(as, i);
        int id = (int)num(a, "question_id");
        ck_assert(id >= 0 && id <= max_id);
        if (is_random[id]) ans[n_ans++] = str(a, "text");
    }
    for (int i = 0; i < nl; i++) lab[i] = str(cJSON_GetArrayItem(ls, i), "label");
    graft_pope_result r;
    graft_error e;
    ck_assert_int_eq(graft_pope_score(ans, n_ans, lab, (size_t)nl, &r, &e), GRAFT_OK);
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(gold, "result");
    ck_assert_int_eq(r.n_answers, (int64_t)num(want, "n"));
    ck_assert_int_eq(r.tp, (int64_t)num(want, "TP"));
    ck_assert_int_eq(r.fp, (int64_t)num(want, "FP"));
    ck_assert_int_eq(r.tn, (int64_t)num(want, "TN"));
    ck_assert_int_eq(r.fn, (int64_t)num(want, "FN"));
    near("accuracy", r.accuracy, num(want, "accuracy"));
    near("precision", r.precision, num(want, "precision"));
    near("recall", r.recall, num(want, "recall"));
    near("f1", r.f1, num(want, "f1"));
    near("yes_ratio", r.yes_ratio, num(want, "yes_ratio"));
    free(ans); free(lab); free(is_random);
    cJSON_Delete(gold); cJSON_Delete(qs); cJSON_Delete(as); cJSON_Delete(ls);
}
END_TEST

/* ---- VQA accuracy ------------------------------------------------------------------------- */

static void norm_is(const char *in, const char *want) {
    char out[256];
    ck_assert_int_ge(graft_vqa_normalize(in, out, sizeof out), 0);
    ck_assert_msg(strcmp(out, want) == 0, "normalize(\"%s\") = \"%s\", want \"%s\"", in, out, want);
}

/* accuracy of pred against 10 answers made of k copies of `a` and 10-k copies of `b` */
static double acc_kb(const char *a, int k, const char *b, const char *pred) {
    const char *gt[10];
    for (int i = 0; i < 10; i++) gt[i] = i < k ? a : b;
    graft_error e;
    return graft_vqa_question_acc(gt, 10, pred, &e);
}

START_TEST(test_vqa_normalize) {
    /* each expectation worked by hand through processPunctuation + processDigitArticle */
    norm_is("Two.", "2");                      /* period not before a digit goes, number word */
    norm_is("T-Shirt", "t shirt");             /* '-' without a space next to it -> ' ' */
    norm_is("1000 - 2000", "1000 2000");       /* '-' with a space next to it is deleted */
    norm_is("1,000-2,000", "10002000");        /* digit,digit anywhere: every listed char deleted */
    norm_is("1000-2000", "1000 2000");
    norm_is("Red, White", "red white");
    norm_is("2.5", "2.5");                     /* '.' before a digit stays */
    norm_is("u.s.a", "usa");
    norm_is("an umbrella", "umbrella");        /* articles dropped */
    norm_is("The Dog's toy", "dog's toy");     /* "'" is not in the list */
    norm_is("dont", "don't");                  /* contractions table */
    norm_is("Im", "im");                       /* key "Im" never matches after lower() */
    norm_is("twas", "'twas");
    norm_is("twenty three", "twenty 3");       /* only zero..ten and none */
    norm_is("none", "0");
    norm_is("a: b & c*", "a: b & c*");         /* ":", "&", "*" are not in the list: "a:" is no article */
    norm_is("  ", "");
    char dots[64];                             /* "yes" + 33 dots: only 32 are removed */
    strcpy(dots, "yes");
    memset(dots + 3, '.', 33);
    dots[36] = '\0';
    norm_is(dots, "yes.");
    dots[35] = '\0';                           /* 32 dots: all go */
    norm_is(dots, "yes");
    char small[4];
    ck_assert_int_eq(graft_vqa_normalize("elephant", small, sizeof small), -1);
}
END_TEST

START_TEST(test_vqa_hand) {
    /* 10 identical answers: nothing is normalised, so only an exact (stripped) match scores */
    near("identical exact", acc_kb("yes", 10, "yes", "yes"), 1.0);
    near("identical case", acc_kb("yes", 10, "yes", "Yes"), 0.0);
    near("identical strip", acc_kb("yes", 10, "yes", "  yes\n"), 1.0);
    near("identical 'no '", acc_kb("no", 9, "no ", "no"), 1.0);
    /* 2 of 10 answers match: leaving out one of the 2 leaves 1 match (1/3), 2 such subsets;
     * the other 8 subsets keep 2 matches (2/3): (2*(1/3) + 8*(2/3)) / 10 = 6/10 */
    near("two of ten", acc_kb("cat", 2, "dog", "Cat."), (2 * (1.0 / 3) + 8 * (2.0 / 3)) / 10);
    /* 3 of 10 match: the 3 subsets without one of them have 2 (2/3), the other 7 have 3 (1):
     * (3*(2/3) + 7) / 10 = 0.9 */
    near("three of ten", acc_kb("red", 3, "blue", "red"), (3 * (2.0 / 3) + 7) / 10);
    /* 4 or more matches: every subset keeps >= 3 -> 1 */
    near("four of ten", acc_kb("2", 4, "3", "two"), 1.0);
    near("no match", acc_kb("2", 4, "3", "4"), 0.0);
    /* aggregation: accuracies 1, 0.9, 0 -> overall 100*(1.9)/3; per type in first-seen order */
    const char *g1[10], *g2[10], *g3[10];
    for (int i = 0; i < 10; i++) { g1[i] = "yes"; g2[i] = i < 3 ? "red" : "blue"; g3[i] = "2"; }
    graft_vqa_item it[3] = {{g1, 10, "yes", "is the", "yes/no"},
                            {g2, 10, "red", "what color", "other"},
                            {g3, 10, "3", "is the", "number"}};
    graft_vqa_result r;
    graft_error e;
    ck_assert_int_eq(graft_vqa_score(it, 3, &r, &e), GRAFT_OK);
    near("overall", r.overall, 100.0 * (1.0 + (3 * (2.0 / 3) + 7) / 10) / 3);
    ck_assert_int_eq(r.n_qtype, 2);
    ck_assert_str_eq(r.per_qtype[0].name, "is the");
    ck_assert_int_eq(r.per_qtype[0].n, 2);
    near("is the", r.per_qtype[0].accuracy, 50.0);
    ck_assert_int_eq(r.n_atype, 3);
    near("q2", r.per_question[1], 100.0 * ((3 * (2.0 / 3) + 7) / 10));
    graft_vqa_result_free(&r);
    ck_assert_int_eq(graft_vqa_score(it, 0, &r, &e), GRAFT_E_INVALID);
}
END_TEST

static const graft_vqa_group *find_group(const graft_vqa_group *g, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(g[i].name, name) == 0) return &g[i];
    return NULL;
}

START_TEST(test_vqa_golden) {
    const char *gp = tu_shared("metrics/vqa_accuracy_constructed_25.json");
    if (!gp) return;
    cJSON *gold = load_json(gp);
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(gold, "questions");
    int n = cJSON_GetArraySize(qs);
    ck_assert_int_eq(n, 25);
    graft_vqa_item *it = calloc((size_t)n, sizeof *it);
    const char *(*gts)[16] = calloc((size_t)n, sizeof *gts);
    for (int i = 0; i < n; i++) {
        const cJSON *q = cJSON_GetArrayItem(qs, i);
        const cJSON *ga = cJSON_GetObjectItemCaseSensitive(q, "gt_answers");
        int ng = cJSON_GetArraySize(ga);
        ck_assert_int_le(ng, 16);
        for (int k = 0; k < ng; k++) gts[i][k] = cJSON_GetArrayItem(ga, k)->valuestring;
        it[i] = (graft_vqa_item){gts[i], ng, str(q, "prediction"), str(q, "question_type"),
                                 str(q, "answer_type")};
    }
    graft_vqa_result r;
    graft_error e;
    ck_assert_int_eq(graft_vqa_score(it, (size_t)n, &r, &e), GRAFT_OK);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        double want = num(cJSON_GetArrayItem(qs, i), "accuracy");
        if (fabs(r.per_question[i] - want) > 1e-12 && bad++ < 5)
            fprintf(stderr, "vqa q%d (%s): got %.17g want %.17g\n", i + 1, it[i].pred,
                    r.per_question[i], want);
    }
    ck_assert_int_eq(bad, 0);
    near("overall", r.overall, num(gold, "overall"));
    const char *keys[2] = {"perQuestionType", "perAnswerType"};
    for (int t = 0; t < 2; t++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(gold, keys[t]);
        const graft_vqa_group *g = t ? r.per_atype : r.per_qtype;
        int ng = t ? r.n_atype : r.n_qtype;
        ck_assert_int_eq(ng, cJSON_GetArraySize(m));
        for (const cJSON *kv = m->child; kv; kv = kv->next) {
            const graft_vqa_group *f = find_group(g, ng, kv->string);
            ck_assert_msg(f != NULL, "missing group %s", kv->string);
            near(kv->string, f->accuracy, kv->valuedouble);
        }
    }
    graft_vqa_result_free(&r);
    free(it); free(gts);
    cJSON_Delete(gold);
}
END_TEST

/* ---- multiple choice ---------------------------------------------------------------------- */

START_TEST(test_mcq_hand) {
    /* each worked through the script's three rules by hand */
    ck_assert_int_eq(graft_mcq_extract("B"), 'B');                 /* exact option letter */
    ck_assert_int_eq(graft_mcq_extract("F"), 0);                   /* not among A..E */
    ck_assert_int_eq(graft_mcq_extract("B "), 0);                  /* no strip */
    ck_assert_int_eq(graft_mcq_extract("A. acquired"), 'A');       /* "X. " prefix */
    ck_assert_int_eq(graft_mcq_extract("A.acquired"), 0);
    ck_assert_int_eq(graft_mcq_extract("B is the run-on sentence."), 0);
    ck_assert_int_eq(graft_mcq_extract("So. The answer is C."), 'C'); /* regex */
    ck_assert_int_eq(graft_mcq_extract("The answer is C"), 0);     /* the final '.' needs a char */
    ck_assert_int_eq(graft_mcq_extract("The answer is C\n"), 0);   /* ... other than a newline */
    ck_assert_int_eq(graft_mcq_extract("The answer is Z!"), 'Z');  /* any capital */
    ck_assert_int_eq(graft_mcq_extract("The answer is A. The answer is B."), 0); /* two matches */
    ck_assert_int_eq(graft_mcq_extract("The answer is AThe answer is B."), 'A'); /* 'T' consumed */
    ck_assert_int_eq(graft_mcq_extract("The answer is The answer is B."), 'T');  /* "Th" matches */
    ck_assert_int_eq(graft_mcq_extract(NULL), 0);
    ck_assert_int_eq(graft_mcq_pred_idx("D", 4), 3);
    ck_assert_int_eq(graft_mcq_pred_idx("D", 3), -1);              /* options[:len(choices)] */
    ck_assert_int_eq(graft_mcq_pred_idx("The answer is Z.", 5), -1);
    /* 4 questions: right, right (prefix), wrong letter, failed parse -> 2/4 */
    const char *preds[] = {"A", "C. cat", "B", "I think so"};
    const int nc[] = {2, 3, 4, 2}, ans[] = {0, 2, 0, 1};
    int64_t c;
    double acc;
    graft_error e;
    ck_assert_int_eq(graft_mcq_score(preds, nc, ans, 4, &c, &acc, &e), GRAFT_OK);
    ck_assert_int_eq(c, 2);
    near("mcq acc", acc, 0.5);
    ck_assert_int_eq(graft_mcq_score(preds, nc, ans, 0, &c, &acc, &e), GRAFT_E_INVALID);
}
END_TEST

/* The script's own output file for LLaVA-1.5-13B on ScienceQA test: every prediction with the
 * letter it parsed, split into correct/incorrect. graft must parse the same letter every time
 * and find the same number correct (no parsed letter lies beyond its question's choices in this
 * file, so 5 choices are assumed for get_pred_idx). */
START_TEST(test_mcq_golden) {
    const char *gp = tu_shared("eval/llava15/scienceqa/answers_llava-v1.5-13b_output.jsonl");
    if (!gp) return;
    cJSON *gold = load_json(gp);
    const char *lists[2] = {"correct", "incorrect"};
    int n_correct = 0, n_total = 0, bad = 0;
    for (int l = 0; l < 2; l++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(gold, lists[l]);
        for (const cJSON *x = arr->child; x; x = x->next) {
            const char *pred = str(x, "pred"), *parsed = str(x, "parsed_ans");
            int want = strcmp(parsed, "FAILED") == 0 ? 0 : parsed[0];
            int got = graft_mcq_extract(pred);
            if (got != want && bad++ < 5)
                fprintf(stderr, "mcq: \"%.60s\" parsed %c want %s\n", pred, got ? got : '0', parsed);
            int gt = str(x, "ground_truth")[0] - 'A';
            n_correct += graft_mcq_pred_idx(pred, 5) == gt;
            n_total++;
        }
    }
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(n_total, 4241);
    ck_assert_int_eq(n_correct, cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(gold, "correct")));
    cJSON_Delete(gold);
}
END_TEST

/* ---- LLaVA-Bench review summary ----------------------------------------------------------- */

START_TEST(test_review_hand) {
    /* Python round: exact binary value, ties to even */
    near("round 0.125", graft_round_py(0.125, 2), 0.12);   /* exact tie -> even (floor+0.5: 0.13) */
    near("round 0.375", graft_round_py(0.375, 2), 0.38);   /* exact tie -> even */
    near("round 2.675", graft_round_py(2.675, 2), 2.67);   /* 2.67499999999999982236431605997495353221893310546875 */
    near("round 72.85", graft_round_py(72.85, 1), 72.8);   /* 72.849999999999994315658113919198513031005859375 */
    near("round 8.5", graft_round_py(8.5, 0), 8.0);
    /* pairs (8,10) (9,6.5) (8,6): means 25/3 and 7.5, rounded 8.333 and 7.5;
     * relative = round(7.5/8.333*100, 1) = round(90.0036..., 1) = 90.0;
     * x10: round(83.33, 1) = 83.3, round(75.0, 1) = 75.0 */
    const double a[] = {8, 9, 8}, b[] = {10, 6.5, 6};
    graft_review_stats st;
    graft_error e;
    ck_assert_int_eq(graft_review_summarize(a, b, 3, &st, &e), GRAFT_OK);
    near("mean1", st.mean1, 25.0 / 3);
    near("mean1_r", st.mean1_r, 8.333);
    near("mean2_r", st.mean2_r, 7.5);
    near("relative", st.relative, 90.0);
    near("score1_x10", st.score1_x10, 83.3);
    near("score2_x10", st.score2_x10, 75.0);
    near("relative_exact", st.relative_exact, 7.5 / (25.0 / 3) * 100);
    /* (9,8.5) (9,8.5) (8,8.5): means 26/3 = 8.6667 and 8.5; rounded 8.667 ->
     * 8.5/8.667*100 = 98.0731 -> 98.1; the unrounded ratio 98.0769... is kept in relative_exact */
    const double c[] = {9, 9, 8}, d[] = {8.5, 8.5, 8.5};
    ck_assert_int_eq(graft_review_summarize(c, d, 3, &st, &e), GRAFT_OK);
    near("relative2", st.relative, 98.1);
    near("relative_exact2", st.relative_exact, 8.5 / (26.0 / 3) * 100);
    ck_assert_int_eq(graft_review_summarize(a, b, 0, &st, &e), GRAFT_E_INVALID);
}
END_TEST

START_TEST(test_review_golden) {
    const char *gp = tu_shared("metrics/llava_bench_in_the_wild_llava-v1.5-13b.json");
    if (!gp) return;
    cJSON *gold = load_json(gp);
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(gold, "per_file");
    const char *cats[4] = {"all", "complex", "conv", "detail"};
    double rel_sum[4] = {0};
    int n_files = 0;
    for (const cJSON *f = files->child; f; f = f->next) {
        char path[4096];
        const char *sp = tu_shared(f->string);
        ck_assert_ptr_nonnull(sp);
        snprintf(path, sizeof path, "%s", sp);
        cJSON *lines = load_jsonl(path);
        int nl = cJSON_GetArraySize(lines);
        double *s1 = malloc(sizeof(double) * (size_t)nl), *s2 = malloc(sizeof(double) * (size_t)nl);
        const cJSON *want_cats = cJSON_GetObjectItemCaseSensitive(f, "categories");
        for (int c = 0; c < 4; c++) {
            size_t n = 0;
            for (const cJSON *l = lines->child; l; l = l->next) {
                const char *cat = str(l, "category");
                if (strncmp(cat, "llava_bench_", 12) == 0) cat += 12;
                if (c > 0 && strcmp(cat, cats[c]) != 0) continue;
                const cJSON *tup = cJSON_GetObjectItemCaseSensitive(l, "tuple");
                ck_assert_int_eq(cJSON_GetArraySize(tup), 2);
                s1[n] = cJSON_GetArrayItem(tup, 0)->valuedouble;
                s2[n] = cJSON_GetArrayItem(tup, 1)->valuedouble;
                n++;
            }
            graft_review_stats st;
            graft_error e;
            ck_assert_int_eq(graft_review_summarize(s1, s2, n, &st, &e), GRAFT_OK);
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(want_cats, cats[c]);
            ck_assert_int_eq(st.n, (int64_t)num(w, "n"));
            near("mean1", st.mean1, num(w, "mean_score1_gpt4"));
            near("mean2", st.mean2, num(w, "mean_score2_model"));
            const cJSON *mr = cJSON_GetObjectItemCaseSensitive(w, "means_rounded_3dp");
            near("mean1_r", st.mean1_r, cJSON_GetArrayItem(mr, 0)->valuedouble);
            near("mean2_r", st.mean2_r, cJSON_GetArrayItem(mr, 1)->valuedouble);
            near(cats[c], st.relative, num(w, "relative_official"));
            near("relative_exact", st.relative_exact, num(w, "relative_exact"));
            const cJSON *pl = cJSON_GetObjectItemCaseSensitive(w, "printed_line");
            near("score1_x10", st.score1_x10, num(pl, "score1_x10"));
            near("score2_x10", st.score2_x10, num(pl, "score2_x10"));
            rel_sum[c] += st.relative;
        }
        free(s1); free(s2);
        cJSON_Delete(lines);
        n_files++;
    }
    ck_assert_int_eq(n_files, 3);
    /* the paper's figure: the mean of the 3 printed relative scores, rounded to 1 decimal */
    const cJSON *avg = cJSON_GetObjectItemCaseSensitive(gold, "average_over_3_reviews");
    for (int c = 0; c < 4; c++) {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(avg, cats[c]);
        near("mean of 3", rel_sum[c] / 3, num(w, "mean_of_official_relative"));
        near("mean of 3 round1", graft_round_py(rel_sum[c] / 3, 1),
             num(w, "mean_of_official_relative_round1"));
    }
    cJSON_Delete(gold);
}
END_TEST

Suite *suite_metrics(void) {
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_pope_parse);
    tcase_add_test(tc, test_pope_hand);
    tcase_add_test(tc, test_pope_golden);
    tcase_add_test(tc, test_vqa_normalize);
    tcase_add_test(tc, test_vqa_hand);
    tcase_add_test(tc, test_vqa_golden);
    tcase_add_test(tc, test_mcq_hand);
    tcase_add_test(tc, test_mcq_golden);
    tcase_add_test(tc, test_review_hand);
    tcase_add_test(tc, test_review_golden);
    suite_add_tcase(s, tc);
    return s;
}
