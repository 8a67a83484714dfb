/* test_eval_score.c - suite eval_score: summaries of every task type on small hand-made data
 * (values worked out by hand in the comments), the answer-file readers, POPE labels by position,
 * LLaVA-Bench review printouts, atomic writes, the variant comparison, the --task table,
 * every allocation failing in turn (tests/alloc_hook.c) and
 * `graft eval --score-only`; plus the official scripts' golden values (../shared/metrics) reached
 * through the answer files and graft_eval_score. */
#include <check.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "dataset.h"
#include "error.h"
#include "score.h"
#include "tasks.h"
#include "test_util.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path) {
    size_t len = 0;
    char *b = tu_read_file(path, &len);
    if (!b) return NULL;
    char *t = realloc(b, len + 1);
    ck_assert(t != NULL);
    t[len] = '\0';
    return t;
}

/* a dataset from text in format fmt (written to a temp file named name) */
static void ds_from(graft_eval_dataset *ds, graft_eval_format fmt, const char *name, const char *text) {
    const char *p = tu_tmppath(name);
    write_file(p, text);
    graft_error e;
    graft_eval_read_opts o = graft_eval_read_default_opts();
    ck_assert_msg(graft_eval_read(fmt, p, &o, ds, &e) == GRAFT_OK, "%s", e.msg);
}

static char **preds_from(const graft_eval_dataset *ds, const char *name, const char *text) {
    const char *p = tu_tmppath(name);
    write_file(p, text);
    char **preds;
    graft_error e;
    ck_assert_msg(graft_eval_read_predictions(p, ds, 0, &preds, &e) == GRAFT_OK, "%s", e.msg);
    return preds;
}

static graft_eval_summary *score(const graft_eval_dataset *ds, char **preds,
                                 const graft_eval_score_opts *o) {
    graft_eval_summary *s;
    graft_error e;
    ck_assert_msg(graft_eval_score(ds, (const char *const *)preds, o, &s, &e) == GRAFT_OK, "%s", e.msg);
    return s;
}

/* summary value at path equals want within tol (0: exactly) */
static void expect(const graft_eval_summary *s, const char *path, double want, double tol) {
    double got = NAN;
    int ok = graft_eval_summary_get(s, path, &got);
    ck_assert_msg(ok, "summary has no number at %s", path);
    ck_assert_msg(fabs(got - want) <= tol, "%s: got %.17g, want %.17g (diff %.3g, tol %.3g)", path,
                  got, want, fabs(got - want), tol);
}

static void absent(const graft_eval_summary *s, const char *path) {
    ck_assert_msg(!graft_eval_summary_get(s, path, NULL), "%s should be absent", path);
}

static size_t dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert(d != NULL);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---- each task type, hand-checked ----------------------------------------------------------- */

START_TEST(test_yesno) {
    graft_eval_dataset ds = {0};
    ds_from(&ds, GRAFT_DS_GRAFT, "yn.jsonl",
            "{\"id\":1,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"yes\",\"category\":\"A\"}\n"
            "{\"id\":2,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"yes\",\"category\":\"A\"}\n"
            "{\"id\":3,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"no\",\"category\":\"A\"}\n"
            "{\"id\":4,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"no\",\"category\":\"A\"}\n"
            "{\"id\":5,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"yes\",\"category\":\"B\"}\n"
            "{\"id\":6,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"no\",\"category\":\"B\"}\n"
            "{\"id\":7,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"yes\",\"category\":\"B\"}\n");
    /* A: yes/yes TP; "No, it is not." -> no: FN; no/no TN; "Yes there is"/no FP.
     * B: yes/yes TP; "NO" is yes for eval_pope.py: FP; 7 missing (excluded). */
    char **p = preds_from(&ds, "yn.pred.jsonl",
                          "{\"id\":\"1\",\"prediction\":\"Yes\"}\n{\"id\":\"2\",\"prediction\":\"No, it is not.\"}\n"
                          "{\"id\":\"3\",\"prediction\":\"no\"}\n{\"id\":\"4\",\"prediction\":\"Yes there is\"}\n"
                          "{\"id\":\"5\",\"prediction\":\"yes\"}\n{\"id\":\"6\",\"prediction\":\"NO\"}\n");
    ck_assert_ptr_null(p[6]);
    graft_eval_score_opts o = graft_eval_score_default_opts();
    o.task = "pope";
    graft_eval_summary *s = score(&ds, p, &o);
    expect(s, "n", 7, 0);
    expect(s, "n_scored", 6, 0);
    expect(s, "n_missing", 1, 0);
    /* overall TP2 FP2 TN1 FN1: acc 3/6, precision 2/4, recall 2/3, f1 = 2(1/2)(2/3)/(7/6) = 4/7 */
    expect(s, "tp", 2, 0);
    expect(s, "fp", 2, 0);
    expect(s, "tn", 1, 0);
    expect(s, "fn", 1, 0);
    expect(s, "accuracy", 0.5, 1e-15);
    expect(s, "precision", 0.5, 1e-15);
    expect(s, "recall", 2.0 / 3, 1e-15);
    expect(s, "f1", 4.0 / 7, 1e-15);
    expect(s, "yes_ratio", 4.0 / 6, 1e-15);
    expect(s, "categories.A.f1", 0.5, 1e-15);
    expect(s, "categories.A.yes_ratio", 0.5, 1e-15);
    expect(s, "categories.B.accuracy", 0.5, 1e-15);
    expect(s, "categories.B.recall", 1.0, 1e-15);
    expect(s, "categories.B.f1", 2.0 / 3, 1e-15);
    expect(s, "categories.B.yes_ratio", 1.0, 1e-15);
    expect(s, "mean_f1", (0.5 + 2.0 / 3) / 2, 1e-15);
    char *md = graft_eval_summary_markdown(s);
    ck_assert_ptr_nonnull(strstr(md, "# graft eval: pope\n"));
    ck_assert_ptr_nonnull(strstr(md, "| B | 2 | 0.5000 | 0.5000 | 1.0000 | 0.6667 | 1.0000 | 1 | 1 | 0 | 0 |"));
    free(md);
    graft_eval_summary_free(s);
    graft_eval_preds_free(p, ds.n);
    graft_eval_dataset_free(&ds);
}
END_TEST

START_TEST(test_vqa) {
    graft_eval_dataset ds = {0};
    ds_from(&ds, GRAFT_DS_GRAFT, "vqa.jsonl",
            "{\"id\":\"q1\",\"type\":\"vqa\",\"image\":\"a.png\",\"question\":\"q\",\"answers\":[\"2\",\"2\",\"2\",\"2\",\"2\",\"2\",\"2\",\"2\",\"2\",\"2\"],\"category\":\"number\"}\n"
            "{\"id\":\"q2\",\"type\":\"vqa\",\"image\":\"a.png\",\"question\":\"q\",\"answers\":[\"red\",\"red\",\"blue\",\"blue\",\"blue\",\"blue\",\"blue\",\"blue\",\"blue\",\"blue\"],\"category\":\"other.colour\"}\n"
            "{\"id\":\"q3\",\"type\":\"vqa\",\"image\":\"a.png\",\"question\":\"q\",\"answers\":[\"yes\",\"yes\",\"yes\",\"yes\",\"yes\",\"yes\",\"yes\",\"yes\",\"yes\",\"yes\"],\"category\":\"yes/no\"}\n");
    char **p = preds_from(&ds, "vqa.ans.jsonl",
                          "{\"question_id\":\"q1\",\"text\":\"2\"}\n{\"question_id\":\"q2\",\"text\":\"Red\"}\n"
                          "{\"question_id\":\"q3\",\"text\":\"Yes\"}\n");
    graft_eval_summary *s = score(&ds, p, NULL);
    /* q1: 1. q2 (answers differ, so "Red" is normalised to "red"): a left-out "red" leaves 1
     * matching -> 1/3, a left-out "blue" leaves 2 -> 2/3: (2/3 + 16/3)/10 = 0.6. q3: identical
     * answers, nothing normalised, "Yes" != "yes" -> 0. Overall 100 * 1.6 / 3. */
    expect(s, "accuracy", 100.0 * 1.6 / 3, 1e-12);
    expect(s, "categories.number.accuracy", 100, 1e-12);
    expect(s, "categories.other.colour.accuracy", 60, 1e-12); /* a dot in a name */
    expect(s, "categories.yes/no.accuracy", 0, 0);
    graft_eval_summary_free(s);
    graft_eval_preds_free(p, ds.n);
    graft_eval_dataset_free(&ds);
}
END_TEST

START_TEST(test_mcq) {
    graft_eval_dataset ds = {0};
    ds_from(&ds, GRAFT_DS_GRAFT, "mcq.jsonl",
            "{\"id\":1,\"type\":\"mcq\",\"image\":\"a.png\",\"question\":\"q\",\"choices\":[\"x\",\"y\",\"z\"],\"answer\":\"B\",\"category\":\"x\"}\n"
            "{\"id\":2,\"type\":\"mcq\",\"image\":\"a.png\",\"question\":\"q\",\"choices\":[\"x\",\"y\",\"z\"],\"answer\":\"A\",\"category\":\"x\"}\n"
            "{\"id\":3,\"type\":\"mcq\",\"image\":\"a.png\",\"question\":\"q\",\"choices\":[\"x\",\"y\",\"z\"],\"answer\":\"C\",\"category\":\"y\"}\n"
            "{\"id\":4,\"type\":\"mcq\",\"image\":\"a.png\",\"question\":\"q\",\"choices\":[\"x\",\"y\",\"z\"],\"answer\":\"A\",\"category\":\"y\"}\n");
    /* B right; "The answer is A." right; D is parsed but not among 3 options: wrong, not
     * FAILED; 4 missing: wrong and FAILED (eval_science_qa.py) */
    char **p = preds_from(&ds, "mcq.ans.jsonl",
                          "{\"question_id\":1,\"text\":\"B\"}\n{\"question_id\":2,\"text\":\"The answer is A.\"}\n"
                          "{\"question_id\":3,\"text\":\"D\"}\n");
    graft_eval_summary *s = score(&ds, p, NULL);
    expect(s, "n_scored", 4, 0);
    expect(s, "n_missing", 1, 0);
    expect(s, "n_correct", 2, 0);
    expect(s, "n_failed", 1, 0);
    expect(s, "accuracy", 50, 0);
    expect(s, "categories.x.accuracy", 100, 0);
    expect(s, "categories.y.accuracy", 0, 0);
    graft_eval_summary_free(s);
    graft_eval_preds_free(p, ds.n);
    graft_eval_dataset_free(&ds);
}
END_TEST

START_TEST(test_caption) {
    graft_eval_dataset ds = {0};
    ds_from(&ds, GRAFT_DS_GRAFT, "cap.jsonl",
            "{\"id\":42,\"type\":\"caption\",\"image\":\"a.png\",\"answers\":[\"a red car on the road\"]}\n"
            "{\"id\":43,\"type\":\"caption\",\"image\":\"b.png\",\"answers\":[\"two dogs playing in grass\"]}\n"
            "{\"id\":44,\"type\":\"caption\",\"image\":\"c.png\",\"answers\":[\"a cat\"]}\n");
    char **p = preds_from(&ds, "cap.res.json",
                          "[{\"image_id\": 42, \"caption\": \"A red car on the road.\"},"
                          " {\"image_id\": 43, \"caption\": \"two dogs playing in grass\"}]");
    graft_eval_summary *s = score(&ds, p, NULL);
    /* hypotheses equal their single reference after PTB tokenisation; no n-gram is shared
     * between the images, so every CIDEr-D tf-idf vector pair is identical: 1 per order, x10.
     * BLEU: all n-grams match; the 1e-9/1e-15 guards of bleu_scorer.py keep it 1e-10 under 1. */
    expect(s, "n_scored", 2, 0);
    expect(s, "n_missing", 1, 0);
    expect(s, "bleu_1", 1, 1e-8);
    expect(s, "bleu_4", 1, 1e-8);
    expect(s, "rouge_l", 1, 1e-15);
    expect(s, "cider", 10, 1e-12);
    absent(s, "chair_s");
    graft_eval_summary_free(s);
    graft_eval_preds_free(p, ds.n);
    graft_eval_dataset_free(&ds);
}
END_TEST

/* CHAIR through graft_eval_score: captions without references are scored too; the references
 * (when present) add ground truth */
START_TEST(test_caption_chair) {
    char syn[600], inst[600];
    snprintf(syn, sizeof syn, "%s", tu_tmppath("syn.txt"));
    snprintf(inst, sizeof inst, "%s", tu_tmppath("inst.json"));
    write_file(syn, "person, man, woman\ndog, puppy\ncat, kitten\ncouch, sofa\n");
    write_file(inst, "{\"categories\": [{\"id\": 1, \"name\": \"person\"}, {\"id\": 18, \"name\": \"dog\"}],"
                     " \"annotations\": [{\"image_id\": 1, \"category_id\": 1}, {\"image_id\": 2, \"category_id\": 18}]}");
    graft_eval_dataset ds = {0};
    ds_from(&ds, GRAFT_DS_GRAFT, "chair.jsonl",
            "{\"id\":1,\"type\":\"caption\",\"image\":\"COCO_val2014_000000000001.jpg\"}\n"
            "{\"id\":\"b\",\"type\":\"caption\",\"image\":\"COCO_val2014_000000000002.jpg\",\"answers\":[\"A dog on a sofa.\"]}\n");
    char **p = preds_from(&ds, "chair.pred.jsonl",
                          "{\"id\":1,\"prediction\":\"A man with a kitten.\"}\n"
                          "{\"id\":\"b\",\"prediction\":\"A puppy on a couch next to a cat.\"}\n");
    graft_eval_score_opts o = graft_eval_score_default_opts();
    o.chair_instances = inst;
    o.chair_synonyms = syn;
    graft_eval_summary *s = score(&ds, p, &o);
    /* image 1 (id): {person}: man ok, kitten hallucinated. image 2 (from the file name):
     * {dog} + its reference's {dog, couch}: dog, couch ok, cat hallucinated. 5 mentions, 2
     * hallucinated, both captions hallucinate */
    expect(s, "chair_mentions", 5, 0);
    expect(s, "chair_hallucinated", 2, 0);
    expect(s, "chair_i", 0.4, 1e-15);
    expect(s, "chair_s", 1, 0);
    expect(s, "n_unscored", 1, 0);
    expect(s, "n_scored", 1, 0);
    /* ROUGE-L of the referenced one: LCS "a on a" = 3 of 9 hypothesis / 5 reference tokens:
     * (1 + 1.2^2)(1/3)(3/5) / (3/5 + 1.2^2 / 3) = 0.488 / 1.08 */
    expect(s, "rouge_l", 0.488 / 1.08, 1e-15);
    graft_eval_summary_free(s);
    graft_eval_preds_free(p, ds.n);
    graft_eval_dataset_free(&ds);
}
END_TEST

START_TEST(test_open_judge) {
    graft_eval_dataset ds = {0};
    ds_from(&ds, GRAFT_DS_GRAFT, "open.jsonl",
            "{\"id\":1,\"type\":\"open\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"a red car\",\"category\":\"conv\"}\n"
            "{\"id\":2,\"type\":\"open\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"two dogs\",\"category\":\"conv\"}\n"
            "{\"id\":3,\"type\":\"open\",\"image\":\"a.png\",\"question\":\"q\",\"category\":\"detail\"}\n");
    char **p = preds_from(&ds, "open.pred.jsonl",
                          "{\"id\":1,\"prediction\":\"a red car\"}\n{\"id\":2,\"prediction\":\"two dogs\"}\n"
                          "{\"id\":3,\"prediction\":\"something\"}\n");
    double ref[3] = {8, 6, 9}, model[3] = {4, 6, NAN};
    graft_eval_score_opts o = graft_eval_score_default_opts();
    o.task = "llava-bench";
    o.judge_ref = ref;
    o.judge_model = model;
    graft_eval_summary *s = score(&ds, p, &o);
    /* judged pairs (8,4), (6,6): means 7 and 5, round(5/7*100, 1) = 71.4 */
    expect(s, "relative_score", 71.4, 0);
    expect(s, "score_ref", 70, 0);
    expect(s, "score_model", 50, 0);
    expect(s, "categories.conv.relative_score", 71.4, 0);
    absent(s, "categories.detail.relative_score");
    expect(s, "n_with_reference", 2, 0);
    expect(s, "rouge_l", 1, 1e-15);
    graft_eval_summary_free(s);
    /* without judge scores and without reference metrics: counts only */
    o.judge_ref = o.judge_model = NULL;
    o.open_metrics = 0;
    s = score(&ds, p, &o);
    expect(s, "n", 3, 0);
    absent(s, "relative_score");
    absent(s, "rouge_l");
    graft_eval_summary_free(s);
    graft_eval_preds_free(p, ds.n);
    graft_eval_dataset_free(&ds);
}
END_TEST

START_TEST(test_judge_file) {
    graft_eval_dataset ds = {0};
    ds_from(&ds, GRAFT_DS_GRAFT, "open2.jsonl",
            "{\"id\":1,\"type\":\"open\",\"image\":\"a.png\",\"question\":\"q\",\"category\":\"conv\"}\n"
            "{\"id\":2,\"type\":\"open\",\"image\":\"a.png\",\"question\":\"q\",\"category\":\"conv\"}\n");
    const char *rp = tu_tmppath("judge.jsonl");
    write_file(rp, "{\"question_id\": 2, \"tuple\": [8, 4]}\n");
    double *r, *m;
    graft_error e;
    ck_assert_msg(graft_eval_read_judge_scores(rp, &ds, &r, &m, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert(isnan(r[0]) && isnan(m[0]));
    ck_assert(r[1] == 8 && m[1] == 4);
    free(r);
    free(m);
    write_file(rp, "{\"question_id\": 2, \"tuple\": [8, 4]}\n{\"question_id\": 9, \"tuple\": [8, 4]}\n");
    ck_assert_int_eq(graft_eval_read_judge_scores(rp, &ds, &r, &m, &e), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "judge.jsonl:2: id 9 is not in the dataset"));
    graft_eval_dataset_free(&ds);
}
END_TEST

START_TEST(test_reviews) {
    const char *rp = tu_tmppath("gpt4_text_my-review.jsonl");
    write_file(rp, "{\"question_id\": 1, \"category\": \"b_cat\", \"tuple\": [8, 4]}\n"
                   "{\"question_id\": 2, \"category\": \"a_cat\", \"tuple\": [6, 6]}\n"
                   "\n"
                   "{\"question_id\": 3, \"tuple\": [10, 5]}\n");
    graft_eval_summary *s;
    graft_error e;
    ck_assert_msg(graft_eval_score_reviews(rp, &s, &e) == GRAFT_OK, "%s", e.msg);
    /* all: means 8, 5 -> 62.5; a line without a category counts only in "all"; sorted keys */
    char *j = graft_eval_summary_json(s);
    cJSON *doc = cJSON_Parse(j);
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(doc, "review_printout");
    ck_assert(cJSON_IsString(pr));
    ck_assert_str_eq(pr->valuestring, "my-review\n"
                                      "a_cat 100.0 60.0 60.0\n"
                                      "all 62.5 80.0 50.0\n"
                                      "b_cat 50.0 80.0 40.0\n"
                                      "=================================\n");
    cJSON_Delete(doc);
    free(j);
    expect(s, "relative_score", 62.5, 0);
    expect(s, "categories.b_cat.score_model", 40, 0);
    graft_eval_summary_free(s);
    write_file(rp, "{\"question_id\": 1, \"tuple\": [8]}\n");
    ck_assert_int_eq(graft_eval_score_reviews(rp, &s, &e), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "my-review.jsonl:1:"));
}
END_TEST

START_TEST(test_mixed_types) {
    graft_eval_dataset ds = {0};
    ds_from(&ds, GRAFT_DS_GRAFT, "mixed.jsonl",
            "{\"id\":1,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"yes\"}\n"
            "{\"id\":2,\"type\":\"vqa\",\"image\":\"a.png\",\"question\":\"q\",\"answers\":[\"a\",\"a\",\"a\",\"a\"]}\n");
    char **p = preds_from(&ds, "mixed.pred.jsonl",
                          "{\"id\":1,\"prediction\":\"yes\"}\n{\"id\":2,\"prediction\":\"a\"}\n");
    graft_eval_summary *s = score(&ds, p, NULL);
    expect(s, "types.yesno.accuracy", 1, 0);
    expect(s, "types.vqa.accuracy", 100, 0); /* each left-out answer leaves 3 matches: 1 */
    absent(s, "types.vqa");
    absent(s, "types.vqa.accuracy.x");
    absent(s, "types.vq");
    expect(s, "n", 2, 0);
    graft_eval_summary_free(s);
    graft_eval_score_opts o = graft_eval_score_default_opts();
    o.task = "pope";
    graft_error e;
    ck_assert_int_eq(graft_eval_score(&ds, (const char *const *)p, &o, &s, &e), GRAFT_E_INVALID);
    o.task = "no-such-task";
    ck_assert_int_eq(graft_eval_score(&ds, (const char *const *)p, &o, &s, &e), GRAFT_E_INVALID);
    ck_assert_ptr_null(s);
    graft_eval_preds_free(p, ds.n);
    graft_eval_dataset_free(&ds);
}
END_TEST

/* ---- answer files ------------------------------------------------------------------------- */

START_TEST(test_read_predictions) {
    graft_eval_dataset ds = {0};
    ds_from(&ds, GRAFT_DS_GRAFT, "ids.jsonl",
            "{\"id\":\"a\",\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"yes\"}\n"
            "{\"id\":\"b\",\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"yes\"}\n"
            "{\"id\":7,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"yes\"}\n");
    /* graft: the last answer for an id wins (a resumed run) */
    char **p = preds_from(&ds, "p1.jsonl",
                          "{\"id\":\"a\",\"prediction\":\"yes\"}\r\n\n{\"id\":\"b\",\"prediction\":\"no\"}\n"
                          "{\"id\":\"a\",\"prediction\":\"no\",\"extra\":1}");
    ck_assert_str_eq(p[0], "no");
    ck_assert_str_eq(p[1], "no");
    ck_assert_ptr_null(p[2]);
    graft_eval_preds_free(p, ds.n);
    /* LLaVA: integer ids match the id text */
    p = preds_from(&ds, "p2.jsonl", "{\"question_id\": 7, \"text\": \"Yes\", \"prompt\": \"q\"}\n");
    ck_assert_str_eq(p[2], "Yes");
    graft_eval_preds_free(p, ds.n);

    graft_error e;
    const char *path = tu_tmppath("p3.jsonl");
    write_file(path, "{\"question_id\": \"a\", \"text\": \"x\"}\n{\"question_id\": \"zz\", \"text\": \"y\"}\n");
    ck_assert_int_eq(graft_eval_read_predictions(path, &ds, 0, &p, &e), GRAFT_E_FORMAT);
    ck_assert_ptr_null(p);
    char want[600];
    snprintf(want, sizeof want, "%s:2: id zz is not in the dataset", path);
    ck_assert_str_eq(e.msg, want);
    size_t skipped;
    ck_assert_int_eq(graft_eval_read_predictions_ex(path, &ds, 1, &p, &skipped, &e), GRAFT_OK);
    ck_assert_uint_eq(skipped, 1);
    ck_assert_str_eq(p[0], "x");
    graft_eval_preds_free(p, ds.n);
    /* LLaVA: a second answer for an id is an error */
    write_file(path, "{\"question_id\": \"a\", \"text\": \"x\"}\n{\"question_id\": \"a\", \"text\": \"y\"}\n");
    ck_assert_int_eq(graft_eval_read_predictions(path, &ds, 0, &p, &e), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, ":2: id a has a second answer"));
    /* a bad line */
    write_file(path, "{\"question_id\": \"a\", \"text\": \"x\"}\n{\"question_id\": \"b\"}\n");
    ck_assert_int_eq(graft_eval_read_predictions(path, &ds, 0, &p, &e), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, ":2: \"text\" is missing"));
    /* not an answer file at all */
    write_file(path, "{\"foo\": 1}\n");
    ck_assert_int_eq(graft_eval_read_predictions(path, &ds, 0, &p, &e), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "not an answer file"));
    write_file(path, "");
    ck_assert_int_eq(graft_eval_read_predictions(path, &ds, 0, &p, &e), GRAFT_E_FORMAT);
    ck_assert_int_eq(graft_eval_read_predictions(tu_tmppath("nope"), &ds, 0, &p, &e), GRAFT_E_NOTFOUND);
    graft_eval_dataset_free(&ds);
}
END_TEST

START_TEST(test_read_coco_results) {
    graft_eval_dataset ds = {0};
    ds_from(&ds, GRAFT_DS_GRAFT, "c.jsonl",
            "{\"id\":42,\"type\":\"caption\",\"image\":\"a.png\",\"answers\":[\"x\"]}\n"
            "{\"id\":43,\"type\":\"caption\",\"image\":\"a.png\",\"answers\":[\"x\"]}\n");
    char **p = preds_from(&ds, "c.json", "\n  [{\"image_id\": 43, \"caption\": \"a dog\"}]\n");
    ck_assert_ptr_null(p[0]);
    ck_assert_str_eq(p[1], "a dog");
    graft_eval_preds_free(p, ds.n);
    const char *path = tu_tmppath("c2.json");
    graft_error e;
    write_file(path, "[{\"image_id\": 43, \"caption\": \"a\"}, {\"image_id\": 43, \"caption\": \"b\"}]");
    ck_assert_int_eq(graft_eval_read_predictions(path, &ds, 0, &p, &e), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "c2.json: [1]: id 43 has a second answer"));
    write_file(path, "[{\"image_id\": 43, \"caption\": \"a\"}, {\"image_id\": 1, \"caption\": \"b\"}]");
    ck_assert_int_eq(graft_eval_read_predictions(path, &ds, 0, &p, &e), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "c2.json: [1]: id 1 is not in the dataset"));
    graft_eval_dataset_free(&ds);
}
END_TEST

/* A dataset id repeated across categories (POPE files each count from 1): a graft line's
 * category picks the sample; LLaVA answers fill the samples of that id in dataset order. */
START_TEST(test_read_repeated_ids) {
    graft_eval_dataset ds = {0};
    graft_eval_read_opts o = graft_eval_read_default_opts();
    graft_error e;
    const char *a = tu_tmppath("coco_pope_random.json"), *b = tu_tmppath("coco_pope_popular.json");
    write_file(a, "{\"question_id\": 1, \"image\": \"x.jpg\", \"text\": \"Is there a dog?\", \"label\": \"yes\"}\n");
    write_file(b, "{\"question_id\": 1, \"image\": \"y.jpg\", \"text\": \"Is there a cat?\", \"label\": \"no\"}\n");
    ck_assert(graft_eval_read(GRAFT_DS_POPE, a, &o, &ds, &e) == GRAFT_OK);
    ck_assert(graft_eval_read(GRAFT_DS_POPE, b, &o, &ds, &e) == GRAFT_OK);
    char **p = preds_from(&ds, "rep.jsonl",
                          "{\"id\":1,\"category\":\"popular\",\"prediction\":\"P\"}\n"
                          "{\"id\":1,\"category\":\"random\",\"prediction\":\"R\"}\n");
    ck_assert_str_eq(p[0], "R");
    ck_assert_str_eq(p[1], "P");
    graft_eval_preds_free(p, ds.n);
    p = preds_from(&ds, "rep2.jsonl", "{\"question_id\":1,\"text\":\"first\"}\n{\"question_id\":1,\"text\":\"second\"}\n");
    ck_assert_str_eq(p[0], "first");
    ck_assert_str_eq(p[1], "second");
    graft_eval_preds_free(p, ds.n);
    graft_eval_dataset_free(&ds);
}
END_TEST

START_TEST(test_pope_labels) {
    graft_eval_dataset ds = {0};
    /* LLaVA-1.5's question file: no labels, categories mixed */
    ds_from(&ds, GRAFT_DS_POPE, "llava_pope_test.jsonl",
            "{\"question_id\": 11, \"image\": \"x.jpg\", \"text\": \"q\", \"category\": \"random\"}\n"
            "{\"question_id\": 12, \"image\": \"y.jpg\", \"text\": \"q\", \"category\": \"popular\"}\n"
            "{\"question_id\": 13, \"image\": \"z.jpg\", \"text\": \"q\", \"category\": \"random\"}\n");
    ck_assert_int_eq(ds.samples[0].n_answers, 0);
    const char *lp = tu_tmppath("coco_pope_random.json");
    write_file(lp, "{\"question_id\": 1, \"image\": \"x.jpg\", \"text\": \"q\", \"label\": \"no\"}\n"
                   "{\"question_id\": 2, \"image\": \"z.jpg\", \"text\": \"q\", \"label\": \"yes\"}\n");
    graft_error e;
    ck_assert_msg(graft_eval_pope_attach_labels(&ds, lp, NULL, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_str_eq(ds.samples[0].answers[0], "no");
    ck_assert_str_eq(ds.samples[2].answers[0], "yes");
    ck_assert_int_eq(ds.samples[1].n_answers, 0);
    /* wrong image at a position, and a count mismatch: errors, nothing changed */
    write_file(lp, "{\"question_id\": 1, \"image\": \"x.jpg\", \"label\": \"yes\"}\n"
                   "{\"question_id\": 2, \"image\": \"q.jpg\", \"label\": \"no\"}\n");
    ck_assert_int_eq(graft_eval_pope_attach_labels(&ds, lp, NULL, &e), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "coco_pope_random.json:2: image q.jpg"));
    ck_assert_str_eq(ds.samples[0].answers[0], "no");
    write_file(lp, "{\"question_id\": 1, \"image\": \"x.jpg\", \"label\": \"yes\"}\n");
    ck_assert_int_eq(graft_eval_pope_attach_labels(&ds, lp, NULL, &e), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "1 labels for 2 random samples"));
    ck_assert_int_eq(graft_eval_pope_attach_labels(&ds, lp, "adversarial", &e), GRAFT_E_INVALID);
    graft_eval_dataset_free(&ds);
}
END_TEST

/* ---- writing ------------------------------------------------------------------------------ */

START_TEST(test_atomic_write) {
    graft_error e;
    const char *dir = tu_tmppath("atomic");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    ck_assert_int_eq(graft_eval_write_atomic(path, "hello", 5, &e), GRAFT_OK);
    /* a write that fails half-way (file size limit) leaves the old file and no temp file */
    struct rlimit rl = {4, 4};
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    ck_assert_int_eq(graft_eval_write_atomic(path, "0123456789", 10, &e), GRAFT_E_IO);
    ck_assert_ptr_nonnull(strstr(e.msg, "write failed"));
    char *t = read_text(path);
    ck_assert_str_eq(t, "hello");
    free(t);
    ck_assert_uint_eq(dir_entries(dir), 1);
    /* rename onto a directory fails: no temp file left */
    char sub[700];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    ck_assert_int_eq(graft_eval_write_atomic(sub, "ab", 2, &e), GRAFT_E_IO);
    ck_assert_uint_eq(dir_entries(dir), 2);
    snprintf(sub, sizeof sub, "%s/missing/x.json", dir);
    ck_assert_int_eq(graft_eval_write_atomic(sub, "ab", 2, &e), GRAFT_E_IO);
}
END_TEST

START_TEST(test_summary_write) {
    graft_eval_dataset ds = {0};
    ds_from(&ds, GRAFT_DS_GRAFT, "w.jsonl",
            "{\"id\":1,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"yes\"}\n");
    char **p = preds_from(&ds, "w.pred.jsonl", "{\"id\":1,\"prediction\":\"yes\"}\n");
    graft_eval_summary *s = score(&ds, p, NULL);
    ck_assert_int_eq(graft_eval_summary_set_string(s, "model", "tiny.gguf"), GRAFT_OK);
    ck_assert_int_eq(graft_eval_summary_set_number(s, "seconds", 1.5), GRAFT_OK);
    ck_assert_int_eq(graft_eval_summary_set_number(s, "seconds", 2.5), GRAFT_OK); /* replaced */
    graft_error e;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/out/deeper", tu_tmpdir());
    ck_assert_msg(graft_eval_summary_write(s, dir, &e) == GRAFT_OK, "%s", e.msg);
    char path[700];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    char *t = read_text(path), *j = graft_eval_summary_json(s);
    ck_assert_str_eq(t, j);
    cJSON *doc = cJSON_Parse(t);
    ck_assert(cJSON_GetObjectItemCaseSensitive(doc, "seconds")->valuedouble == 2.5);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(doc, "model")->valuestring, "tiny.gguf");
    ck_assert(cJSON_GetObjectItemCaseSensitive(doc, "accuracy")->valuedouble == 1);
    cJSON_Delete(doc);
    free(t);
    free(j);
    snprintf(path, sizeof path, "%s/summary.md", dir);
    t = read_text(path);
    ck_assert_ptr_nonnull(strstr(t, "| model | tiny.gguf |"));
    ck_assert_ptr_nonnull(strstr(t, "| accuracy | 1.0000 |"));
    free(t);
    ck_assert_uint_eq(dir_entries(dir), 2);
    graft_eval_summary_free(s);
    graft_eval_preds_free(p, ds.n);
    graft_eval_dataset_free(&ds);
}
END_TEST

START_TEST(test_compare) {
    graft_eval_dataset ds = {0};
    ds_from(&ds, GRAFT_DS_GRAFT, "cmp.jsonl",
            "{\"id\":1,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"yes\",\"category\":\"r\"}\n"
            "{\"id\":2,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"no\",\"category\":\"r\"}\n"
            "{\"id\":3,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"no\",\"category\":\"r\"}\n"
            "{\"id\":4,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"no\",\"category\":\"r\"}\n");
    char **pa = preds_from(&ds, "va.jsonl",
                           "{\"id\":1,\"prediction\":\"yes\"}\n{\"id\":2,\"prediction\":\"no\"}\n"
                           "{\"id\":3,\"prediction\":\"yes\"}\n{\"id\":4,\"prediction\":\"yes\"}\n");
    char **pb = preds_from(&ds, "vb.jsonl",
                           "{\"id\":1,\"prediction\":\"Yes\"}\n{\"id\":2,\"prediction\":\"No.\"}\n"
                           "{\"id\":3,\"prediction\":\"no\"}\n");
    graft_eval_summary *sa = score(&ds, pa, NULL), *sb = score(&ds, pb, NULL);
    const char *names[2] = {"proj-a", "proj,b"};
    const graft_eval_summary *sums[2] = {sa, sb};
    const char *const *preds[2] = {(const char *const *)pa, (const char *const *)pb};
    graft_error e;
    const char *dir = tu_tmppath("cmp");
    ck_assert_msg(graft_eval_compare_write(&ds, names, sums, preds, 2, dir, &e) == GRAFT_OK, "%s", e.msg);
    char path[700];
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    char *csv = read_text(path);
    /* A: acc 2/4; B: 3 answered, all right. Agreement over the 3 both answered: yes=yes,
     * no=no, yes!=no -> 2/3 */
    ck_assert_ptr_nonnull(strstr(csv, "metric,proj-a,\"proj,b\"\n"));
    ck_assert_ptr_nonnull(strstr(csv, "\naccuracy,0.5,1\n"));
    ck_assert_ptr_nonnull(strstr(csv, "\ncategories.r.accuracy,0.5,1\n"));
    ck_assert_ptr_nonnull(strstr(csv, "\nagreement.proj-a.\"proj,b\",0.66666666666666663,0.66666666666666663\n"));
    free(csv);
    snprintf(path, sizeof path, "%s/summary.md", dir);
    char *md = read_text(path);
    ck_assert_ptr_nonnull(strstr(md, "| proj-a | 1 | 0.6667 |"));
    ck_assert_ptr_nonnull(strstr(md, "| accuracy | 0.5000 | 1.0000 |"));
    free(md);
    graft_eval_summary_free(sa);
    graft_eval_summary_free(sb);
    graft_eval_preds_free(pa, ds.n);
    graft_eval_preds_free(pb, ds.n);
    graft_eval_dataset_free(&ds);
}
END_TEST

START_TEST(test_tasks) {
    const graft_eval_task_info *t = graft_eval_task_find("pope");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->type, GRAFT_TASK_YESNO);
    ck_assert_int_eq(t->format, GRAFT_DS_POPE);
    ck_assert_str_eq(t->prompt_suffix, "Answer the question using a single word or phrase.");
    t = graft_eval_task_find("scienceqa");
    ck_assert_str_eq(t->prompt_suffix, "Answer with the option's letter from the given choices directly.");
    ck_assert_int_eq(graft_eval_task_find("llava-scienceqa")->format, GRAFT_DS_LLAVA_SCIENCEQA);
    ck_assert_int_eq(graft_eval_task_find("llava-bench")->type, GRAFT_TASK_OPEN);
    ck_assert_ptr_null(graft_eval_task_find("llava-bench")->prompt_suffix);
    ck_assert_ptr_nonnull(graft_eval_task_find("coco-caption")->default_prompt);
    ck_assert_int_eq(graft_eval_task_find("vqav2")->format, GRAFT_DS_VQAV2);
    ck_assert_ptr_null(graft_eval_task_find("POPE"));
    ck_assert_ptr_null(graft_eval_task_find(NULL));
    size_t n;
    const graft_eval_task_info *all = graft_eval_task_list(&n);
    for (int ty = 0; ty < GRAFT_TASK_COUNT; ty++) {
        const graft_eval_task_info *x = graft_eval_task_find(graft_task_name((graft_task_type)ty));
        ck_assert_ptr_nonnull(x);
        ck_assert_int_eq(x->type, ty);
        ck_assert_int_eq(x->format, GRAFT_DS_GRAFT);
    }
    for (size_t i = 0; i < n; i++) ck_assert(all[i].max_new_tokens > 0);
}
END_TEST

/* every prefix of an answer file and a review file is read or rejected cleanly (ASan build) */
START_TEST(test_prefixes) {
    graft_eval_dataset ds = {0};
    ds_from(&ds, GRAFT_DS_GRAFT, "pf.jsonl",
            "{\"id\":1,\"type\":\"open\",\"image\":\"a.png\",\"question\":\"q\",\"category\":\"conv\"}\n"
            "{\"id\":2,\"type\":\"open\",\"image\":\"a.png\",\"question\":\"q\",\"category\":\"conv\"}\n");
    const char *files[] = {
        "{\"id\": 1, \"prediction\": \"a \\\"b\\\"\"}\n{\"id\": 2, \"prediction\": \"c\"}\n",
        "{\"question_id\": 1, \"text\": \"a\"}\r\n{\"question_id\": 2, \"text\": \"b\"}\n",
        "[{\"image_id\": 1, \"caption\": \"a\"}, {\"image_id\": 2, \"caption\": \"b\"}]\n",
        "{\"question_id\": 1, \"category\": \"c\", \"tuple\": [8.5, 7]}\n{\"question_id\": 2, \"tuple\": [1, 2]}\n"};
    const char *path = tu_tmppath("prefix");
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t len = strlen(files[f]);
        for (size_t k = 0; k <= len; k++) {
            FILE *fp = fopen(path, "wb");
            fwrite(files[f], 1, k, fp);
            fclose(fp);
            graft_error e;
            char **p = NULL;
            int rc = graft_eval_read_predictions(path, &ds, 0, &p, &e);
            ck_assert_msg(rc == GRAFT_OK || rc == GRAFT_E_FORMAT, "file %zu prefix %zu: %d", f, k, rc);
            if (rc == GRAFT_OK) graft_eval_preds_free(p, ds.n);
            else ck_assert_ptr_null(p);
            graft_eval_summary *s = NULL;
            rc = graft_eval_score_reviews(path, &s, &e);
            ck_assert_msg(rc == GRAFT_OK || rc == GRAFT_E_FORMAT, "reviews %zu prefix %zu: %d", f, k, rc);
            graft_eval_summary_free(s);
            double *r = NULL, *m = NULL;
            rc = graft_eval_read_judge_scores(path, &ds, &r, &m, &e);
            ck_assert_msg(rc == GRAFT_OK || rc == GRAFT_E_FORMAT, "judge %zu prefix %zu: %d", f, k, rc);
            free(r);
            free(m);
        }
    }
    graft_eval_dataset_free(&ds);
}
END_TEST

/* no answers at all: counts only, no metric keys, for every type */
START_TEST(test_all_missing) {
    const char *lines[] = {
        "{\"id\":1,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"yes\"}\n",
        "{\"id\":1,\"type\":\"vqa\",\"image\":\"a.png\",\"question\":\"q\",\"answers\":[\"a\"]}\n",
        "{\"id\":1,\"type\":\"caption\",\"image\":\"a.png\",\"answers\":[\"a\"]}\n",
        "{\"id\":1,\"type\":\"open\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"a\"}\n",
        "{\"id\":1,\"type\":\"mcq\",\"image\":\"a.png\",\"question\":\"q\",\"choices\":[\"x\",\"y\"],\"answer\":\"A\"}\n"};
    for (int t = 0; t < 5; t++) {
        graft_eval_dataset ds = {0};
        ds_from(&ds, GRAFT_DS_GRAFT, "none.jsonl", lines[t]);
        char *p[1] = {NULL};
        graft_eval_summary *s = score(&ds, p, NULL);
        expect(s, "n", 1, 0);
        expect(s, "n_missing", 1, 0);
        if (t == 4) expect(s, "accuracy", 0, 0); /* mcq: a missing answer is wrong */
        else absent(s, t == 2 ? "cider" : t == 3 ? "rouge_l" : "accuracy");
        char *md = graft_eval_summary_markdown(s);
        ck_assert_ptr_nonnull(md);
        free(md);
        graft_eval_summary_free(s);
        graft_eval_dataset_free(&ds);
    }
}
END_TEST

/* ---- allocation failures (tests/alloc_hook.c) ---------------------------------------------- */

typedef int (*op_fn)(void *ctx, graft_error *err);

static void walk(const char *name, op_fn op, void *ctx) {
    for (long n = 0;; n++) {
        graft_error err = {0};
        tu_alloc_fail_after(n);
        int rc = op(ctx, &err);
        int failed = tu_alloc_disarm();
        if (!failed) {
            ck_assert_msg(rc == GRAFT_OK, "%s: fails with no allocation failure: %s", name, err.msg);
            return;
        }
        if (rc == GRAFT_OK) continue;
        ck_assert_msg(err.msg[0], "%s: allocation %ld failed, error without a message", name, n);
        ck_assert_msg(n < 100000, "%s: no end", name);
    }
}

typedef struct {
    const char *data, *preds, *task, *chair, *syn, *judge, *dir;
} score_case;

static int op_score(void *ctx, graft_error *err) {
    const score_case *c = ctx;
    graft_eval_dataset ds = {0};
    char **p = NULL;
    double *jr = NULL, *jm = NULL;
    graft_eval_summary *s = NULL;
    int rc = graft_eval_read(GRAFT_DS_GRAFT, c->data, NULL, &ds, err);
    if (!rc) rc = graft_eval_read_predictions(c->preds, &ds, 0, &p, err);
    if (!rc && c->judge) rc = graft_eval_read_judge_scores(c->judge, &ds, &jr, &jm, err);
    graft_eval_score_opts o = graft_eval_score_default_opts();
    o.task = c->task;
    o.chair_instances = c->chair;
    o.chair_synonyms = c->syn;
    o.judge_ref = jr;
    o.judge_model = jm;
    if (!rc) rc = graft_eval_score(&ds, (const char *const *)p, &o, &s, err);
    if (!rc) {
        char *j = graft_eval_summary_json(s), *m = graft_eval_summary_markdown(s);
        if (!j || !m) rc = graft_error_set(err, GRAFT_E_NOMEM, "render");
        free(j);
        free(m);
    }
    if (!rc && c->dir) rc = graft_eval_summary_write(s, c->dir, err);
    if (!rc && c->dir) {
        const graft_eval_summary *sums[2] = {s, s};
        const char *names[2] = {"a", "b"};
        const char *const *pv[2] = {(const char *const *)p, (const char *const *)p};
        rc = graft_eval_compare_write(&ds, names, sums, pv, 2, c->dir, err);
    }
    graft_eval_summary_free(s);
    graft_eval_preds_free(p, ds.n);
    free(jr);
    free(jm);
    graft_eval_dataset_free(&ds);
    return rc;
}

static int op_reviews(void *ctx, graft_error *err) {
    graft_eval_summary *s = NULL;
    int rc = graft_eval_score_reviews((const char *)ctx, &s, err);
    graft_eval_summary_free(s);
    return rc;
}

START_TEST(test_alloc_failures) {
    /* tu_tmppath's buffers rotate: keep copies */
    char syn[600], inst[600], judge[600], out[600];
    snprintf(syn, sizeof syn, "%s", tu_tmppath("syn.txt"));
    snprintf(inst, sizeof inst, "%s", tu_tmppath("boxes.jsonl"));
    snprintf(judge, sizeof judge, "%s", tu_tmppath("judge.jsonl"));
    snprintf(out, sizeof out, "%s", tu_tmppath("af-out"));
    write_file(syn, "person, man, people\ndog, puppy\ncat\nhot dog\n");
    write_file(inst, "{\"id\": 42, \"captions\": [\"a man\"], \"instances\": [{\"category\": \"dog\"}]}\n");
    struct { const char *data, *preds, *task; } t[] = {
        {"{\"id\":1,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"yes\",\"category\":\"A\"}\n"
         "{\"id\":2,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"no\",\"category\":\"B\"}\n",
         "{\"id\":1,\"prediction\":\"yes\"}\n{\"id\":2,\"prediction\":\"no\"}\n", "pope"},
        {"{\"id\":1,\"type\":\"vqa\",\"image\":\"a.png\",\"question\":\"q\",\"answers\":[\"a\",\"b\"],\"category\":\"A\"}\n",
         "{\"question_id\":1,\"text\":\"a\"}\n", NULL},
        {"{\"id\":1,\"type\":\"mcq\",\"image\":\"a.png\",\"question\":\"q\",\"choices\":[\"x\",\"y\"],\"answer\":\"A\",\"category\":\"A\"}\n",
         "{\"question_id\":1,\"text\":\"A\"}\n", NULL},
        {"{\"id\":42,\"type\":\"caption\",\"image\":\"a.png\",\"answers\":[\"a man and a dog\",\"a puppy\"]}\n",
         "[{\"image_id\": 42, \"caption\": \"a man with a cat\"}]", NULL},
        {"{\"id\":1,\"type\":\"open\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"a b c\",\"category\":\"conv\"}\n",
         "{\"id\":1,\"prediction\":\"a b\"}\n", NULL},
        {"{\"id\":1,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"yes\"}\n"
         "{\"id\":2,\"type\":\"vqa\",\"image\":\"a.png\",\"question\":\"q\",\"answers\":[\"a\"]}\n",
         "{\"id\":1,\"prediction\":\"yes\"}\n{\"id\":2,\"prediction\":\"a\"}\n", NULL},
    };
    write_file(judge, "{\"question_id\": 1, \"tuple\": [8, 6]}\n");
    char dpath[600], ppath[600];
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        snprintf(dpath, sizeof dpath, "%s", tu_tmppath("af.jsonl"));
        snprintf(ppath, sizeof ppath, "%s", tu_tmppath("af.pred"));
        write_file(dpath, t[i].data);
        write_file(ppath, t[i].preds);
        score_case c = {dpath, ppath, t[i].task, i == 3 ? inst : NULL, syn, i == 4 ? judge : NULL, out};
        char name[32];
        snprintf(name, sizeof name, "score case %zu", i);
        walk(name, op_score, &c);
    }
    const char *rv = tu_tmppath("rv.jsonl");
    write_file(rv, "{\"question_id\": 1, \"category\": \"b\", \"tuple\": [8, 4]}\n{\"question_id\": 2, \"category\": \"a\", \"tuple\": [6, 6]}\n");
    walk("reviews", op_reviews, (void *)rv);
}
END_TEST

/* ---- the CLI ------------------------------------------------------------------------------ */

/* stdout of a command (NULL when GRAFT_CLI is unset); *status receives the exit status */
static char *run(const char *args, int *status) {
    const char *cli = getenv("GRAFT_CLI");
    if (!cli) {
        fprintf(stderr, "SKIP: GRAFT_CLI is not set (make test sets it)\n");
        return NULL;
    }
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s eval %s 2>/dev/null", cli, args);
    FILE *f = popen(cmd, "r");
    ck_assert(f != NULL);
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    for (size_t r; (r = fread(b + n, 1, cap - n - 1, f)) > 0;) {
        n += r;
        if (n + 1 == cap) b = realloc(b, cap *= 2);
    }
    b[n] = '\0';
    int st = pclose(f);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return b;
}

START_TEST(test_cli) {
    graft_eval_dataset ds = {0};
    const char *data = tu_tmppath("cli.jsonl"), *pred = tu_tmppath("cli.pred.jsonl");
    write_file(data, "{\"id\":1,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"yes\",\"category\":\"A\"}\n"
                     "{\"id\":2,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"no\",\"category\":\"A\"}\n"
                     "{\"id\":3,\"type\":\"yesno\",\"image\":\"a.png\",\"question\":\"q\",\"answer\":\"no\",\"category\":\"B\"}\n");
    write_file(pred, "{\"id\":1,\"prediction\":\"yes\"}\n{\"id\":2,\"prediction\":\"yes\"}\n{\"id\":3,\"prediction\":\"No\"}\n");
    char args[4096];
    const char *out = tu_tmppath("cli-out");
    snprintf(args, sizeof args, "--score-only --task yesno --data %s --predictions %s --json -o %s", data, pred, out);
    int st;
    char *o = run(args, &st);
    if (!o) return;
    ck_assert_int_eq(st, 0);
    cJSON *doc = cJSON_Parse(o);
    ck_assert_msg(doc != NULL, "not JSON: %s", o);
    graft_eval_read_opts ro = graft_eval_read_default_opts();
    graft_error e;
    ck_assert(graft_eval_read_graft(data, &ro, &ds, &e) == GRAFT_OK);
    char **p;
    ck_assert(graft_eval_read_predictions(pred, &ds, 0, &p, &e) == GRAFT_OK);
    graft_eval_score_opts so = graft_eval_score_default_opts();
    so.task = "yesno";
    graft_eval_summary *s = score(&ds, p, &so);
    const char *keys[] = {"accuracy", "precision", "recall", "f1", "yes_ratio", "n", "n_missing"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, keys[i]);
        ck_assert_msg(cJSON_IsNumber(v), "no %s in the CLI's JSON", keys[i]);
        expect(s, keys[i], v->valuedouble, 0);
    }
    const cJSON *f1b = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
                                                            cJSON_GetObjectItemCaseSensitive(doc, "categories"), "B"),
                                                        "accuracy");
    ck_assert(cJSON_IsNumber(f1b) && f1b->valuedouble == 1);
    cJSON_Delete(doc);
    /* -o wrote the same JSON; the markdown output is summary.md */
    char path[700];
    snprintf(path, sizeof path, "%s/summary.json", out);
    char *t = read_text(path);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t, o);
    free(t);
    free(o);
    snprintf(args, sizeof args, "--score-only --task yesno --data %s --predictions %s", data, pred);
    o = run(args, &st);
    ck_assert_int_eq(st, 0);
    snprintf(path, sizeof path, "%s/summary.md", out);
    t = read_text(path);
    ck_assert_str_eq(o, t);
    free(t);
    free(o);
    /* usage and data errors */
    o = run("--score-only --task yesno", &st);
    ck_assert_int_eq(st, 2);
    free(o);
    snprintf(args, sizeof args, "--score-only --task nope --data %s --predictions %s", data, pred);
    o = run(args, &st);
    ck_assert_int_eq(st, 2);
    free(o);
    snprintf(args, sizeof args, "--score-only --task yesno --data %s --predictions %s", data, data);
    o = run(args, &st);
    ck_assert_int_eq(st, 1);
    free(o);
    graft_eval_summary_free(s);
    graft_eval_preds_free(p, ds.n);
    graft_eval_dataset_free(&ds);
}
END_TEST

/* open task with the judge's review file, and a review file alone */
START_TEST(test_cli_reviews) {
    char data[600], pred[600], rev[600], args[4096];
    snprintf(data, sizeof data, "%s", tu_tmppath("clio.jsonl"));
    snprintf(pred, sizeof pred, "%s", tu_tmppath("clio.pred.jsonl"));
    snprintf(rev, sizeof rev, "%s", tu_tmppath("gpt4_text_clio.jsonl"));
    write_file(data, "{\"id\":1,\"type\":\"open\",\"image\":\"a.png\",\"question\":\"q\",\"category\":\"conv\"}\n"
                     "{\"id\":2,\"type\":\"open\",\"image\":\"a.png\",\"question\":\"q\",\"category\":\"detail\"}\n");
    write_file(pred, "{\"id\":1,\"prediction\":\"a\"}\n{\"id\":2,\"prediction\":\"b\"}\n");
    write_file(rev, "{\"question_id\": 1, \"category\": \"llava_bench_conv\", \"tuple\": [8, 6]}\n"
                    "{\"question_id\": 2, \"category\": \"llava_bench_detail\", \"tuple\": [10, 3]}\n");
    snprintf(args, sizeof args, "--score-only --task open --data %s --predictions %s --reviews %s --json", data, pred, rev);
    int st;
    char *o = run(args, &st);
    if (!o) return;
    ck_assert_int_eq(st, 0);
    cJSON *doc = cJSON_Parse(o);
    ck_assert_msg(doc != NULL, "not JSON: %s", o);
    /* means 9 and 4.5: 50.0; conv 6/8: 75.0; detail 3/10: 30.0 */
    ck_assert(cJSON_GetObjectItemCaseSensitive(doc, "relative_score")->valuedouble == 50.0);
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(doc, "categories");
    ck_assert(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cats, "conv"), "relative_score")->valuedouble == 75.0);
    ck_assert(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cats, "detail"), "relative_score")->valuedouble == 30.0);
    cJSON_Delete(doc);
    free(o);
    snprintf(args, sizeof args, "--score-only --reviews %s", rev);
    o = run(args, &st);
    ck_assert_int_eq(st, 0);
    ck_assert_msg(strstr(o, "```\nclio\nall 50.0 90.0 45.0\nllava_bench_conv 75.0 80.0 60.0\n"
                            "llava_bench_detail 30.0 100.0 30.0\n=================================\n```\n"),
                  "printout missing in:\n%s", o);
    free(o);
}
END_TEST

/* ---- golden values through the answer files (../shared) ------------------------------------ */

static cJSON *load_json(const char *path) {
    char *t = read_text(path);
    ck_assert_msg(t != NULL, "cannot read %s", path);
    cJSON *j = cJSON_Parse(t);
    free(t);
    ck_assert_msg(j != NULL, "bad JSON %s", path);
    return j;
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    ck_assert_msg(cJSON_IsNumber(v), "no number %s", k);
    return v->valuedouble;
}

/* LLaVA-1.5-13B's POPE answers: llava_pope_test.jsonl + labels of the LLaVA-1.5-era split files
 * by position + the answer file -> eval_pope.py's numbers for the random split. The same
 * double operations in the same order: exact. */
START_TEST(test_golden_pope) {
    const char *gp = tu_shared("metrics/pope_random_llava-v1.5-13b.json");
    if (!gp) return;
    char q[4096], a[4096], l[3][4096];
    snprintf(q, sizeof q, "%s", tu_shared("eval/llava15/pope/llava_pope_test.jsonl"));
    snprintf(a, sizeof a, "%s", tu_shared("eval/llava15/pope/answers_llava-v1.5-13b.jsonl"));
    const char *sp[3] = {"random", "popular", "adversarial"};
    for (int i = 0; i < 3; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "eval/pope/llava15-era/coco_pope_%s.json", sp[i]);
        snprintf(l[i], sizeof l[i], "%s", tu_shared(rel));
    }
    graft_eval_dataset ds = {0};
    graft_eval_read_opts ro = graft_eval_read_default_opts();
    graft_error e;
    ck_assert_msg(graft_eval_read(GRAFT_DS_POPE, q, &ro, &ds, &e) == GRAFT_OK, "%s", e.msg);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(graft_eval_pope_attach_labels(&ds, l[i], NULL, &e) == GRAFT_OK, "%s", e.msg);
    char **p;
    ck_assert_msg(graft_eval_read_predictions(a, &ds, 0, &p, &e) == GRAFT_OK, "%s", e.msg);
    graft_eval_score_opts so = graft_eval_score_default_opts();
    so.task = "pope";
    graft_eval_summary *s = score(&ds, p, &so);
    cJSON *g = load_json(gp);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(g, "result");
    expect(s, "categories.random.n", jnum(r, "n"), 0);
    expect(s, "categories.random.tp", jnum(r, "TP"), 0);
    expect(s, "categories.random.fp", jnum(r, "FP"), 0);
    expect(s, "categories.random.tn", jnum(r, "TN"), 0);
    expect(s, "categories.random.fn", jnum(r, "FN"), 0);
    const char *m[] = {"accuracy", "precision", "recall", "f1", "yes_ratio"};
    for (int i = 0; i < 5; i++) {
        char path[64];
        snprintf(path, sizeof path, "categories.random.%s", m[i]);
        expect(s, path, jnum(r, m[i]), 1e-12);
    }
    expect(s, "n_missing", 0, 0);
    cJSON_Delete(g);
    graft_eval_summary_free(s);
    graft_eval_preds_free(p, ds.n);
    graft_eval_dataset_free(&ds);
}
END_TEST

/* the three GPT-4 review files of LLaVA-1.5-13B: every printed number and the whole printout */
START_TEST(test_golden_reviews) {
    const char *gp = tu_shared("metrics/llava_bench_in_the_wild_llava-v1.5-13b.json");
    if (!gp) return;
    cJSON *g = load_json(gp);
    const cJSON *pf = cJSON_GetObjectItemCaseSensitive(g, "per_file");
    int files = 0;
    for (const cJSON *f = pf->child; f; f = f->next) {
        const char *sp = tu_shared(f->string);
        ck_assert_ptr_nonnull(sp);
        graft_eval_summary *s;
        graft_error e;
        ck_assert_msg(graft_eval_score_reviews(sp, &s, &e) == GRAFT_OK, "%s", e.msg);
        char *j = graft_eval_summary_json(s);
        cJSON *doc = cJSON_Parse(j);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(doc, "review_printout")->valuestring,
                         cJSON_GetObjectItemCaseSensitive(f, "official_stdout")->valuestring);
        cJSON_Delete(doc);
        free(j);
        const cJSON *cats = cJSON_GetObjectItemCaseSensitive(f, "categories");
        for (const cJSON *c = cats->child; c; c = c->next) {
            char pre[128], path[192];
            if (!strcmp(c->string, "all")) pre[0] = '\0';
            else snprintf(pre, sizeof pre, "categories.llava_bench_%s.", c->string);
            const cJSON *pl = cJSON_GetObjectItemCaseSensitive(c, "printed_line");
            snprintf(path, sizeof path, "%srelative_score", pre);
            expect(s, path, jnum(c, "relative_official"), 0);
            snprintf(path, sizeof path, "%sscore_ref", pre);
            expect(s, path, jnum(pl, "score1_x10"), 0);
            snprintf(path, sizeof path, "%sscore_model", pre);
            expect(s, path, jnum(pl, "score2_x10"), 0);
            snprintf(path, sizeof path, "%srelative_exact", pre);
            expect(s, path, jnum(c, "relative_exact"), 1e-12);
            snprintf(path, sizeof path, "%sn", pre);
            expect(s, path, jnum(c, "n"), 0);
        }
        graft_eval_summary_free(s);
        files++;
    }
    ck_assert_int_eq(files, 3);
    cJSON_Delete(g);
}
END_TEST

/* caps_boxes_coco2014_val_80.jsonl as graft JSONL (references = captions 2..) and the first
 * captions as a COCO results file: pycocoevalcap's corpus BLEU/ROUGE-L/CIDEr within 1e-6. */
static void caps_dataset(const char *caps_path, graft_eval_dataset *ds, const char *res_name,
                         int shift) {
    char *t = read_text(caps_path);
    ck_assert_ptr_nonnull(t);
    cJSON *data = cJSON_CreateArray(), *res = cJSON_CreateArray();
    char *line = t, *nl;
    const char *first[100];
    long long ids[100];
    int n = 0;
    FILE *f = fopen(tu_tmppath("caps.jsonl"), "wb");
    cJSON *keep = cJSON_CreateArray();
    for (; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (!*line) continue;
        cJSON *o = cJSON_Parse(line);
        ck_assert_ptr_nonnull(o);
        cJSON_AddItemToArray(keep, o);
        const cJSON *caps = cJSON_GetObjectItemCaseSensitive(o, "captions");
        ck_assert(n < 100);
        ids[n] = atoll(cJSON_GetObjectItemCaseSensitive(o, "id")->valuestring);
        first[n] = cJSON_GetArrayItem(caps, 0)->valuestring;
        cJSON *s = cJSON_CreateObject();
        cJSON_AddNumberToObject(s, "id", (double)ids[n]);
        cJSON_AddStringToObject(s, "type", "caption");
        cJSON_AddStringToObject(s, "image", cJSON_GetObjectItemCaseSensitive(o, "image")->valuestring);
        cJSON *refs = cJSON_AddArrayToObject(s, "answers");
        for (const cJSON *c = caps->child->next; c; c = c->next)
            cJSON_AddItemToArray(refs, cJSON_CreateString(c->valuestring));
        char *sl = cJSON_PrintUnformatted(s);
        fprintf(f, "%s\n", sl);
        free(sl);
        cJSON_Delete(s);
        n++;
    }
    fclose(f);
    for (int i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "image_id", (double)ids[i]);
        cJSON_AddStringToObject(r, "caption", first[(i + shift) % n]);
        cJSON_AddItemToArray(res, r);
    }
    char *rs = cJSON_PrintUnformatted(res);
    write_file(tu_tmppath(res_name), rs);
    free(rs);
    cJSON_Delete(keep);
    cJSON_Delete(data);
    cJSON_Delete(res);
    free(t);
    graft_eval_read_opts ro = graft_eval_read_default_opts();
    graft_error e;
    ck_assert_msg(graft_eval_read_graft(tu_tmppath("caps.jsonl"), &ro, ds, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_uint_eq(ds->n, 80);
}

START_TEST(test_golden_captions) {
    const char *gp = tu_shared("metrics/coco_captions_first_vs_rest.json");
    if (!gp) return;
    char caps[4096];
    snprintf(caps, sizeof caps, "%s", tu_shared("eval/coco-captions/caps_boxes_coco2014_val_80.jsonl"));
    graft_eval_dataset ds = {0};
    caps_dataset(caps, &ds, "caps.res.json", 0);
    char **p;
    graft_error e;
    ck_assert_msg(graft_eval_read_predictions(tu_tmppath("caps.res.json"), &ds, 0, &p, &e) == GRAFT_OK, "%s", e.msg);
    graft_eval_score_opts so = graft_eval_score_default_opts();
    so.task = "coco-caption";
    so.chair_instances = caps; /* CHAIR on the side: every mention is in the ground truth, since
                                * the hypothesis is one of the image's own captions */
    so.chair_synonyms = tu_shared("eval/chair/synonyms.txt");
    if (!so.chair_synonyms) so.chair_instances = NULL;
    graft_eval_summary *s = score(&ds, p, &so);
    cJSON *g = load_json(gp);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(g, "corpus");
    /* pycocoevalcap's values; the captioning metric tests see <= 9e-16 from the same code */
    expect(s, "bleu_1", jnum(c, "Bleu_1"), 1e-6);
    expect(s, "bleu_2", jnum(c, "Bleu_2"), 1e-6);
    expect(s, "bleu_3", jnum(c, "Bleu_3"), 1e-6);
    expect(s, "bleu_4", jnum(c, "Bleu_4"), 1e-6);
    expect(s, "rouge_l", jnum(c, "ROUGE_L"), 1e-6);
    expect(s, "cider", jnum(c, "CIDEr"), 1e-6);
    if (so.chair_instances) {
        expect(s, "chair_s", 0, 0);
        expect(s, "chair_i", 0, 0);
        double m = 0;
        ck_assert(graft_eval_summary_get(s, "chair_mentions", &m) && m > 80);
    }
    cJSON_Delete(g);
    graft_eval_summary_free(s);
    graft_eval_preds_free(p, ds.n);
    graft_eval_dataset_free(&ds);
}
END_TEST

/* The coco-caption demo results file (1000 results, COCO results format): detected and read;
 * only 2 of its images are among the 80 with references here, so no scores to compare. */
START_TEST(test_fakecap_results) {
    const char *rp = tu_shared("eval/coco-captions/captions_val2014_fakecap_results.json");
    if (!rp) return;
    cJSON *r = load_json(rp);
    ck_assert_int_eq(cJSON_GetArraySize(r), 1000);
    FILE *f = fopen(tu_tmppath("fake.jsonl"), "wb");
    for (const cJSON *o = r->child; o; o = o->next)
        fprintf(f, "{\"id\": %.0f, \"type\": \"caption\", \"image\": \"x.jpg\", \"answers\": [\"a\"]}\n",
                cJSON_GetObjectItemCaseSensitive(o, "image_id")->valuedouble);
    fclose(f);
    graft_eval_dataset ds = {0};
    graft_eval_read_opts ro = graft_eval_read_default_opts();
    graft_error e;
    ck_assert(graft_eval_read_graft(tu_tmppath("fake.jsonl"), &ro, &ds, &e) == GRAFT_OK);
    char **p;
    ck_assert_msg(graft_eval_read_predictions(rp, &ds, 0, &p, &e) == GRAFT_OK, "%s", e.msg);
    size_t i = 0;
    for (const cJSON *o = r->child; o; o = o->next, i++)
        ck_assert_str_eq(p[i], cJSON_GetObjectItemCaseSensitive(o, "caption")->valuestring);
    ck_assert_str_eq(p[0], "black and white photo of a man standing in front of a building");
    graft_eval_preds_free(p, ds.n);
    graft_eval_dataset_free(&ds);
    cJSON_Delete(r);
}
END_TEST

/* the 25 constructed VQA questions as graft JSONL + LLaVA answers: vqaEval's numbers exactly */
START_TEST(test_golden_vqa) {
    const char *gp = tu_shared("metrics/vqa_accuracy_constructed_25.json");
    if (!gp) return;
    cJSON *g = load_json(gp);
    FILE *fd = fopen(tu_tmppath("vqa25.jsonl"), "wb"), *fa = fopen(tu_tmppath("vqa25.ans.jsonl"), "wb");
    for (const cJSON *q = cJSON_GetObjectItemCaseSensitive(g, "questions")->child; q; q = q->next) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddNumberToObject(s, "id", jnum(q, "question_id"));
        cJSON_AddStringToObject(s, "type", "vqa");
        cJSON_AddStringToObject(s, "image", "x.jpg");
        cJSON_AddItemReferenceToObject(s, "question", cJSON_GetObjectItemCaseSensitive(q, "question"));
        cJSON_AddItemReferenceToObject(s, "answers", cJSON_GetObjectItemCaseSensitive(q, "gt_answers"));
        cJSON_AddItemReferenceToObject(s, "category", cJSON_GetObjectItemCaseSensitive(q, "answer_type"));
        char *l = cJSON_PrintUnformatted(s);
        fprintf(fd, "%s\n", l);
        free(l);
        cJSON_Delete(s);
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "question_id", jnum(q, "question_id"));
        cJSON_AddItemReferenceToObject(a, "text", cJSON_GetObjectItemCaseSensitive(q, "prediction"));
        l = cJSON_PrintUnformatted(a);
        fprintf(fa, "%s\n", l);
        free(l);
        cJSON_Delete(a);
    }
    fclose(fd);
    fclose(fa);
    graft_eval_dataset ds = {0};
    graft_eval_read_opts ro = graft_eval_read_default_opts();
    graft_error e;
    ck_assert_msg(graft_eval_read_graft(tu_tmppath("vqa25.jsonl"), &ro, &ds, &e) == GRAFT_OK, "%s", e.msg);
    char **p;
    ck_assert_msg(graft_eval_read_predictions(tu_tmppath("vqa25.ans.jsonl"), &ds, 0, &p, &e) == GRAFT_OK, "%s", e.msg);
    graft_eval_score_opts so = graft_eval_score_default_opts();
    so.task = "vqav2";
    graft_eval_summary *s = score(&ds, p, &so);
    expect(s, "accuracy", jnum(g, "overall"), 1e-12);
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(g, "perAnswerType");
    int n = 0;
    for (const cJSON *c = pat->child; c; c = c->next, n++) {
        char path[128];
        snprintf(path, sizeof path, "categories.%s.accuracy", c->string);
        expect(s, path, c->valuedouble, 1e-12);
    }
    ck_assert_int_eq(n, 3);
    cJSON_Delete(g);
    graft_eval_summary_free(s);
    graft_eval_preds_free(p, ds.n);
    graft_eval_dataset_free(&ds);
}
END_TEST

/* the CLI on the real POPE files prints the golden random-split F1 */
START_TEST(test_golden_cli_pope) {
    const char *gp = tu_shared("metrics/pope_random_llava-v1.5-13b.json");
    if (!gp || !getenv("GRAFT_CLI")) return;
    char args[8192];
    char q[2048], a[2048], l[2048];
    snprintf(q, sizeof q, "%s", tu_shared("eval/llava15/pope/llava_pope_test.jsonl"));
    snprintf(a, sizeof a, "%s", tu_shared("eval/llava15/pope/answers_llava-v1.5-13b.jsonl"));
    snprintf(l, sizeof l, "%s", tu_shared("eval/pope/llava15-era/coco_pope_random.json"));
    /* only the random labels: the other splits' samples stay unlabelled (n_unscored) */
    snprintf(args, sizeof args, "--score-only --task pope --data %s --answers %s --predictions %s --json", q, l, a);
    int st;
    char *o = run(args, &st);
    if (!o) return;
    ck_assert_int_eq(st, 0);
    cJSON *doc = cJSON_Parse(o), *g = load_json(gp);
    ck_assert_ptr_nonnull(doc);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(g, "result");
    const cJSON *rnd = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "categories"), "random");
    ck_assert_ptr_nonnull(rnd);
    ck_assert(jnum(rnd, "f1") == jnum(r, "f1"));
    ck_assert(jnum(rnd, "accuracy") == jnum(r, "accuracy"));
    ck_assert(jnum(doc, "n_unscored") == 6000);
    cJSON_Delete(doc);
    cJSON_Delete(g);
    free(o);
}
END_TEST

Suite *suite_eval_score(void) {
    Suite *s = suite_create("eval_score");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_yesno);
    tcase_add_test(tc, test_vqa);
    tcase_add_test(tc, test_mcq);
    tcase_add_test(tc, test_caption);
    tcase_add_test(tc, test_caption_chair);
    tcase_add_test(tc, test_open_judge);
    tcase_add_test(tc, test_judge_file);
    tcase_add_test(tc, test_reviews);
    tcase_add_test(tc, test_mixed_types);
    tcase_add_test(tc, test_read_predictions);
    tcase_add_test(tc, test_read_coco_results);
    tcase_add_test(tc, test_read_repeated_ids);
    tcase_add_test(tc, test_pope_labels);
    tcase_add_test(tc, test_atomic_write);
    tcase_add_test(tc, test_summary_write);
    tcase_add_test(tc, test_compare);
    tcase_add_test(tc, test_tasks);
    tcase_add_test(tc, test_prefixes);
    tcase_add_test(tc, test_all_missing);
    tcase_add_test(tc, test_alloc_failures);
    tcase_add_test(tc, test_cli);
    tcase_add_test(tc, test_cli_reviews);
    tcase_add_test(tc, test_golden_pope);
    tcase_add_test(tc, test_golden_reviews);
    tcase_add_test(tc, test_golden_captions);
    tcase_add_test(tc, test_fakecap_results);
    tcase_add_test(tc, test_golden_vqa);
    tcase_add_test(tc, test_golden_cli_pope);
    suite_add_tcase(s, tc);
    return s;
}
