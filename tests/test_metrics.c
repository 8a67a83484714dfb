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

Suite *suite_metrics(void) {
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_pope_parse);
    tcase_add_test(tc, test_pope_hand);
    tcase_add_test(tc, test_pope_golden);
    suite_add_tcase(s, tc);
    return s;
}
