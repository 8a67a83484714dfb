/* test_dataset.c - eval dataset readers (src/eval/dataset.c): graft's JSONL task format, POPE,
 * COCO captions, LLaVA-Bench, VQAv2 and ScienceQA on small files written here (malformed lines,
 * line numbers in messages, --skip-bad counting, missing images), and on the real files in
 * ../shared/eval when present. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "test_util.h"

/* Writes text to a file in the test's temp dir; returns a malloc'd path. */
static char *put(const char *name, const char *text) {
    const char *p = tu_tmppath(name);
    FILE *f = fopen(p, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", p);
    fputs(text, f);
    fclose(f);
    return strdup(p);
}

static void ck_str(const char *got, const char *want) {
    ck_assert_msg(got && !strcmp(got, want), "got \"%s\", want \"%s\"", got ? got : "(null)", want);
}

/* err.msg must contain want */
static void ck_msg(const graft_error *err, const char *want) {
    ck_assert_msg(strstr(err->msg, want) != NULL, "message \"%s\" lacks \"%s\"", err->msg, want);
}

/* ---- graft JSONL ------------------------------------------------------------------------------ */

static const char *graft_good =
    "{\"id\": \"c1\", \"type\": \"caption\", \"image\": \"a.jpg\", \"answers\": [\"a dog\", \"a cat\"]}\n"
    "\n"
    "{\"id\": 7, \"type\": \"vqa\", \"image\": \"b.jpg\", \"question\": \"How many?\", "
    "\"answers\": [\"2\",\"two\"], \"category\": \"number\"}\r\n"
    "{\"id\": \"m\", \"type\": \"mcq\", \"images\": [\"a.jpg\", \"sub/c.png\"], \"question\": \"Which?\", "
    "\"context\": \"hint\", \"choices\": [\"x\", \"y\", \"z\"], \"answer\": \"C\"}\n"
    "{\"id\": \"y\", \"type\": \"yesno\", \"image\": \"b.jpg\", \"question\": \"Is?\", \"answer\": \"no\"}\n"
    "   \n"
    "{\"id\": \"o\", \"type\": \"open\", \"image\": \"a.jpg\", \"question\": \"Describe.\"}";

START_TEST(test_graft_good) {
    char *p = put("good.jsonl", graft_good);
    graft_eval_dataset ds = {0};
    graft_error err = {0};
    ck_assert_int_eq(graft_eval_read(GRAFT_DS_GRAFT, p, NULL, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 5);
    ck_assert_uint_eq(ds.n_skipped, 0);
    graft_eval_sample *s = ds.samples;
    ck_str(s[0].id, "c1");
    ck_assert_int_eq(s[0].type, GRAFT_TASK_CAPTION);
    ck_assert_ptr_null(s[0].question);
    ck_assert_int_eq(s[0].n_answers, 2);
    ck_str(s[0].answers[1], "a cat");
    ck_str(s[1].id, "7"); /* numeric id as decimal text */
    ck_assert_int_eq(s[1].type, GRAFT_TASK_VQA);
    ck_str(s[1].category, "number");
    ck_str(s[1].question, "How many?");
    ck_assert_int_eq(s[2].type, GRAFT_TASK_MCQ);
    ck_assert_int_eq(s[2].n_images, 2);
    ck_str(s[2].images[1], "sub/c.png");
    ck_assert_int_eq(s[2].n_choices, 3);
    ck_str(s[2].choices[2], "z");
    ck_str(s[2].answers[0], "C");
    ck_str(s[2].context, "hint");
    ck_assert_int_eq(s[3].type, GRAFT_TASK_YESNO);
    ck_str(s[3].answers[0], "no");
    ck_assert_int_eq(s[4].type, GRAFT_TASK_OPEN);
    ck_assert_int_eq(s[4].n_answers, 0);
    ck_assert_ptr_null(s[4].category);
    /* a second file appends */
    ck_assert_int_eq(graft_eval_read_graft(p, NULL, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 10);
    graft_eval_dataset_free(&ds);
    ck_assert_uint_eq(ds.n, 0);
    free(p);
}
END_TEST

/* Each bad line alone after two good ones (so the line number is 3) with the problem expected. */
START_TEST(test_graft_bad_lines) {
    static const char *cases[][2] = {
        {"{\"id\": \"z\", \"type\": \"vqa\", \"image\": \"a.jpg\", \"question\": \"q\"", "not valid JSON"},
        {"[1, 2]", "not a JSON object"},
        {"{\"id\": \"z\", \"type\": \"vqa\", \"image\": \"a.jpg\", \"question\": \"q\"} x", "not valid JSON"},
        {"{\"type\": \"vqa\", \"image\": \"a.jpg\", \"question\": \"q\"}", "\"id\""},
        {"{\"id\": 1.5, \"type\": \"vqa\", \"image\": \"a.jpg\", \"question\": \"q\"}", "not an integer"},
        {"{\"id\": 1e300, \"type\": \"vqa\", \"image\": \"a.jpg\", \"question\": \"q\"}", "not an integer"},
        {"{\"id\": \"z\", \"type\": \"essay\", \"image\": \"a.jpg\", \"question\": \"q\"}", "unknown type \"essay\""},
        {"{\"id\": \"z\", \"type\": \"vqa\", \"question\": \"q\"}", "neither \"image\" nor \"images\""},
        {"{\"id\": \"z\", \"type\": \"vqa\", \"image\": \"\", \"question\": \"q\"}", "empty image path"},
        {"{\"id\": \"z\", \"type\": \"vqa\", \"image\": \"a\", \"images\": [\"b\"], \"question\": \"q\"}", "both"},
        {"{\"id\": \"z\", \"type\": \"vqa\", \"image\": \"a.jpg\"}", "\"question\" is missing"},
        {"{\"id\": \"z\", \"type\": \"vqa\", \"image\": \"a.jpg\", \"question\": 3}", "\"question\" is not a string"},
        {"{\"id\": \"z\", \"type\": \"mcq\", \"image\": \"a.jpg\", \"question\": \"q\", \"choices\": [\"x\"]}", "2..26"},
        {"{\"id\": \"z\", \"type\": \"mcq\", \"image\": \"a.jpg\", \"question\": \"q\", \"choices\": [\"x\",\"y\"], \"answer\": \"C\"}", "one letter A..B"},
        {"{\"id\": \"z\", \"type\": \"vqa\", \"image\": \"a.jpg\", \"question\": \"q\", \"choices\": [\"x\",\"y\"]}", "\"choices\" given"},
        {"{\"id\": \"z\", \"type\": \"yesno\", \"image\": \"a.jpg\", \"question\": \"q\", \"answer\": \"Yes\"}", "\"yes\" or \"no\""},
        {"{\"id\": \"z\", \"type\": \"vqa\", \"image\": \"a.jpg\", \"question\": \"q\", \"answers\": [\"a\", 2]}", "\"answers\"[1]"},
    };
#define GOOD(id) "{\"id\": \"" id "\", \"type\": \"vqa\", \"image\": \"a.jpg\", \"question\": \"q\"}\n"
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char text[1024], name[32], where[512];
        snprintf(text, sizeof text, "%s%s%s\n%s", GOOD("g1"), GOOD("g2"), cases[c][0], GOOD("g3"));
        snprintf(name, sizeof name, "bad%zu.jsonl", c);
        char *p = put(name, text);
        graft_eval_dataset ds = {0};
        graft_error err = {0};
        int rc = graft_eval_read_graft(p, NULL, &ds, &err);
        ck_assert_msg(rc == GRAFT_E_FORMAT, "case %zu: rc %d (%s)", c, rc, err.msg);
        snprintf(where, sizeof where, "%s:3: ", p);
        ck_msg(&err, where);
        ck_msg(&err, cases[c][1]);
        ck_assert_uint_eq(ds.n, 2); /* the lines before stay, never a partial sample */
        graft_eval_dataset_free(&ds);
        /* skip_bad: the bad line is counted, the rest read */
        graft_eval_read_opts o = graft_eval_read_default_opts();
        o.skip_bad = 1;
        ck_assert_int_eq(graft_eval_read_graft(p, &o, &ds, &err), GRAFT_OK);
        ck_assert_uint_eq(ds.n, 3);
        ck_assert_uint_eq(ds.n_skipped, 1);
        ck_assert_msg(strstr(ds.first_skip, where) && strstr(ds.first_skip, cases[c][1]),
                      "first_skip \"%s\"", ds.first_skip);
        graft_eval_dataset_free(&ds);
        free(p);
    }
}
END_TEST

START_TEST(test_graft_skip_count_and_io) {
    /* lines 2 and 4 bad (line 3 blank); the first skipped one is line 2 */
    char *p = put("skip.jsonl",
                  "{\"id\": 1, \"type\": \"open\", \"image\": \"a\", \"question\": \"q\"}\n"
                  "garbage\n\n{\"id\": 2}\n"
                  "{\"id\": 3, \"type\": \"open\", \"image\": \"a\", \"question\": \"q\"}\n");
    graft_eval_read_opts o = graft_eval_read_default_opts();
    o.skip_bad = 1;
    graft_eval_dataset ds = {0};
    graft_error err = {0};
    ck_assert_int_eq(graft_eval_read_graft(p, &o, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 2);
    ck_assert_uint_eq(ds.n_skipped, 2);
    ck_assert_msg(strstr(ds.first_skip, ":2: not valid JSON"), "%s", ds.first_skip);
    ck_str(ds.samples[1].id, "3");
    graft_eval_dataset_free(&ds);
    ck_assert_int_eq(graft_eval_read_graft(p, NULL, &ds, &err), GRAFT_E_FORMAT);
    ck_msg(&err, ":2: not valid JSON");
    graft_eval_dataset_free(&ds);
    ck_assert_int_eq(graft_eval_read_graft(tu_tmppath("nope.jsonl"), NULL, &ds, &err), GRAFT_E_NOTFOUND);
    ck_msg(&err, "nope.jsonl: cannot open");
    /* ids must be unique within a file ("7" and 7 are the same id) */
    char *d = put("dup.jsonl",
                  "{\"id\": \"7\", \"type\": \"open\", \"image\": \"a\", \"question\": \"q\"}\n"
                  "{\"id\": 8, \"type\": \"open\", \"image\": \"a\", \"question\": \"q\"}\n"
                  "{\"id\": 7, \"type\": \"open\", \"image\": \"a\", \"question\": \"q\"}\n");
    ck_assert_int_eq(graft_eval_read_graft(d, NULL, &ds, &err), GRAFT_E_FORMAT);
    ck_msg(&err, "dup.jsonl: id \"7\" appears more than once");
    ck_assert_uint_eq(ds.n, 0);
    free(d);
    /* empty file: no samples, no error */
    char *e = put("empty.jsonl", "");
    ck_assert_int_eq(graft_eval_read_graft(e, NULL, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 0);
    ck_assert_int_eq(graft_eval_read((graft_eval_format)99, e, NULL, &ds, &err), GRAFT_E_INVALID);
    graft_eval_dataset_free(&ds);
    free(e);
    free(p);
}
END_TEST

START_TEST(test_names) {
    for (int t = 0; t < GRAFT_TASK_COUNT; t++)
        ck_assert_int_eq(graft_task_parse(graft_task_name((graft_task_type)t)), t);
    for (int f = 0; f < GRAFT_DS_COUNT; f++)
        ck_assert_int_eq(graft_eval_format_parse(graft_eval_format_name((graft_eval_format)f)), f);
    ck_assert_int_eq(graft_task_parse("Caption"), -1);
    ck_assert_int_eq(graft_eval_format_parse("coco"), -1);
    ck_assert_ptr_null(graft_task_name(GRAFT_TASK_COUNT));
    ck_str(graft_eval_format_name(GRAFT_DS_COCO_CAPTIONS), "coco-captions");
}
END_TEST

/* ---- POPE ------------------------------------------------------------------------------------ */

START_TEST(test_pope_small) {
    char *p = put("coco_pope_popular.json",
                  "{\"question_id\": 1, \"image\": \"COCO_val2014_000000310196.jpg\", \"text\": \"Is there a car in the image?\", \"label\": \"no\"}\n"
                  "{\"question_id\": 2, \"image\": \"x.jpg\", \"text\": \"Is there a dog?\", \"label\": \"yes\", \"category\": \"own\"}\n"
                  "{\"question_id\": 3, \"image\": \"x.jpg\", \"text\": \"Is there?\"}\n");
    graft_eval_dataset ds = {0};
    graft_error err = {0};
    ck_assert_int_eq(graft_eval_read(GRAFT_DS_POPE, p, NULL, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 3);
    ck_str(ds.samples[0].id, "1");
    ck_assert_int_eq(ds.samples[0].type, GRAFT_TASK_YESNO);
    ck_str(ds.samples[0].images[0], "COCO_val2014_000000310196.jpg");
    ck_str(ds.samples[0].question, "Is there a car in the image?");
    ck_str(ds.samples[0].answers[0], "no");
    ck_str(ds.samples[0].category, "popular"); /* from the file name */
    ck_str(ds.samples[1].category, "own");     /* a line's field wins over the name */
    ck_assert_int_eq(ds.samples[2].n_answers, 0); /* LLaVA's question files have no label */
    graft_eval_dataset_free(&ds);
    graft_eval_read_opts o = graft_eval_read_default_opts();
    o.category = "forced";
    ck_assert_int_eq(graft_eval_read_pope(p, &o, &ds, &err), GRAFT_OK);
    for (size_t i = 0; i < ds.n; i++) ck_str(ds.samples[i].category, "forced");
    graft_eval_dataset_free(&ds);
    free(p);
    /* no "_word" in the name: no category */
    p = put("pope.jsonl", "{\"question_id\": 5, \"image\": \"x.jpg\", \"text\": \"Is?\", \"label\": \"yes\"}\n");
    ck_assert_int_eq(graft_eval_read_pope(p, NULL, &ds, &err), GRAFT_OK);
    ck_assert_ptr_null(ds.samples[0].category);
    graft_eval_dataset_free(&ds);
    free(p);
    /* bad label on line 2, missing text on line 3 */
    p = put("coco_pope_bad.json",
            "{\"question_id\": 1, \"image\": \"x.jpg\", \"text\": \"Is?\", \"label\": \"no\"}\n"
            "{\"question_id\": 2, \"image\": \"x.jpg\", \"text\": \"Is?\", \"label\": \"maybe\"}\n"
            "{\"question_id\": 3, \"image\": \"x.jpg\", \"label\": \"no\"}\n");
    ck_assert_int_eq(graft_eval_read_pope(p, NULL, &ds, &err), GRAFT_E_FORMAT);
    ck_msg(&err, "coco_pope_bad.json:2: \"label\" must be");
    graft_eval_dataset_free(&ds);
    o = graft_eval_read_default_opts();
    o.skip_bad = 1;
    ck_assert_int_eq(graft_eval_read_pope(p, &o, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 1);
    ck_assert_uint_eq(ds.n_skipped, 2);
    graft_eval_dataset_free(&ds);
    free(p);
}
END_TEST

/* ---- COCO captions --------------------------------------------------------------------------- */

START_TEST(test_coco_small) {
    char *p = put("captions_tiny.json",
                  "{\"info\": {}, \"images\": [{\"id\": 42, \"file_name\": \"COCO_val2014_000000000042.jpg\"},"
                  " {\"id\": 7, \"file_name\": \"seven.jpg\"}],\n"
                  " \"annotations\": [{\"image_id\": 7, \"id\": 1, \"caption\": \"s1\"},"
                  " {\"image_id\": 42, \"id\": 2, \"caption\": \"f1\"},"
                  " {\"image_id\": 7, \"id\": 3, \"caption\": \"s2\"}]}");
    graft_eval_dataset ds = {0};
    graft_error err = {0};
    ck_assert_int_eq(graft_eval_read(GRAFT_DS_COCO_CAPTIONS, p, NULL, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 2); /* images order, captions grouped in annotation order */
    ck_str(ds.samples[0].id, "42");
    ck_str(ds.samples[0].images[0], "COCO_val2014_000000000042.jpg");
    ck_assert_int_eq(ds.samples[0].type, GRAFT_TASK_CAPTION);
    ck_assert_int_eq(ds.samples[0].n_answers, 1);
    ck_str(ds.samples[1].id, "7");
    ck_assert_int_eq(ds.samples[1].n_answers, 2);
    ck_str(ds.samples[1].answers[0], "s1");
    ck_str(ds.samples[1].answers[1], "s2");
    graft_eval_dataset_free(&ds);
    free(p);

    /* annotation 1 names an unknown image, annotation 2 has no caption, image 9 has none left */
    p = put("captions_bad.json",
            "{\"images\": [{\"id\": 7, \"file_name\": \"seven.jpg\"}, {\"id\": 9, \"file_name\": \"nine.jpg\"},"
            " {\"file_name\": \"noid.jpg\"}],\n"
            " \"annotations\": [{\"image_id\": 7, \"caption\": \"ok\"}, {\"image_id\": 8, \"caption\": \"x\"},"
            " {\"image_id\": 9}]}");
    ck_assert_int_eq(graft_eval_read_coco_captions(p, NULL, &ds, &err), GRAFT_E_FORMAT);
    ck_msg(&err, "captions_bad.json: images[2]: \"id\" is missing");
    ck_assert_uint_eq(ds.n, 0); /* one document: all or nothing */
    graft_eval_read_opts o = graft_eval_read_default_opts();
    o.skip_bad = 1;
    ck_assert_int_eq(graft_eval_read_coco_captions(p, &o, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 1);
    ck_str(ds.samples[0].id, "7");
    ck_assert_uint_eq(ds.n_skipped, 4); /* images[2], annotations[1], annotations[2], image 9 */
    graft_eval_dataset_free(&ds);
    free(p);

    p = put("captions_notcoco.json", "[1,2]");
    ck_assert_int_eq(graft_eval_read_coco_captions(p, NULL, &ds, &err), GRAFT_E_FORMAT);
    ck_msg(&err, "not a COCO captions file");
    free(p);
    p = put("captions_trunc.json", "{\"images\": [\n{\"id\": 1,\n");
    ck_assert_int_eq(graft_eval_read_coco_captions(p, NULL, &ds, &err), GRAFT_E_FORMAT);
    ck_msg(&err, "not valid JSON");
    free(p);
    /* a complete document followed by more bytes (line 3) */
    p = put("captions_trail.json", "{\"images\": [], \"annotations\": []}\n\n}\n");
    ck_assert_int_eq(graft_eval_read_coco_captions(p, NULL, &ds, &err), GRAFT_E_FORMAT);
    ck_msg(&err, "captions_trail.json:3: not valid JSON");
    free(p);
}
END_TEST

/* ---- LLaVA-Bench ----------------------------------------------------------------------------- */

START_TEST(test_llava_bench_small) {
    char *q = put("lb_q.jsonl",
                  "{\"question_id\": 0, \"image\": \"a.jpg\", \"text\": \"What color?\", \"category\": \"conv\"}\n"
                  "{\"question_id\": 1, \"image\": \"a.jpg\", \"text\": \"Describe.\", \"category\": \"detail\"}\n");
    char *a = put("lb_a.jsonl",
                  "{\"question_id\": 1, \"text\": \"A long description.\", \"category\": \"detail\"}\n"
                  "{\"question_id\": 0, \"text\": \"Black.\", \"category\": \"conv\"}\n");
    graft_eval_read_opts o = graft_eval_read_default_opts();
    graft_eval_dataset ds = {0};
    graft_error err = {0};
    ck_assert_int_eq(graft_eval_read(GRAFT_DS_LLAVA_BENCH, q, &o, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 2);
    ck_assert_int_eq(ds.samples[0].n_answers, 0); /* no answers file */
    graft_eval_dataset_free(&ds);
    o.answers_path = a;
    ck_assert_int_eq(graft_eval_read(GRAFT_DS_LLAVA_BENCH, q, &o, &ds, &err), GRAFT_OK);
    ck_assert_int_eq(ds.samples[0].type, GRAFT_TASK_OPEN);
    ck_str(ds.samples[0].answers[0], "Black.");
    ck_str(ds.samples[1].answers[0], "A long description.");
    ck_str(ds.samples[1].category, "detail");
    ck_str(ds.samples[1].question, "Describe.");
    graft_eval_dataset_free(&ds);
    /* an answers file without question 1 */
    char *a2 = put("lb_a2.jsonl", "{\"question_id\": 0, \"text\": \"Black.\"}\n");
    o.answers_path = a2;
    ck_assert_int_eq(graft_eval_read_llava_bench(q, &o, &ds, &err), GRAFT_E_FORMAT);
    ck_msg(&err, "lb_a2.jsonl: no reference answer for question_id 1");
    ck_assert_uint_eq(ds.n, 0);
    free(a2);
    a2 = put("lb_a3.jsonl", "{\"question_id\": 0, \"text\": \"B.\"}\n{\"question_id\": 1}\n");
    o.answers_path = a2;
    ck_assert_int_eq(graft_eval_read_llava_bench(q, &o, &ds, &err), GRAFT_E_FORMAT);
    ck_msg(&err, "lb_a3.jsonl:2: \"text\" is missing");
    ck_assert_uint_eq(ds.n, 0);
    graft_eval_dataset_free(&ds);
    free(a2);
    free(q);
    free(a);
}
END_TEST

START_TEST(test_llava_questions_small) {
    char *q = put("llava_q.jsonl",
                  "{\"question_id\": \"img1\", \"image\": \"img1.jpg\", \"text\": \"What?\\nAnswer the question using a single word or phrase.\", \"category\": \"default\"}\n"
                  "{\"question_id\": \"img1\", \"image\": \"img1.jpg\", \"text\": \"Where?\"}\n");
    graft_eval_read_opts o = graft_eval_read_default_opts();
    graft_eval_dataset ds = {0};
    graft_error err = {0};
    ck_assert_int_eq(graft_eval_read(GRAFT_DS_LLAVA_QUESTIONS, q, &o, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 2); /* LLaVA's ids are not unique (TextVQA, MME): no check here */
    ck_assert_int_eq(ds.samples[0].type, GRAFT_TASK_VQA);
    ck_str(ds.samples[0].category, "default");
    ck_str(ds.samples[1].question, "Where?");
    graft_eval_dataset_free(&ds);
    o.task = "yesno";
    ck_assert_int_eq(graft_eval_read_llava_questions(q, &o, &ds, &err), GRAFT_OK);
    ck_assert_int_eq(ds.samples[1].type, GRAFT_TASK_YESNO);
    graft_eval_dataset_free(&ds);
    /* both questions of the repeated id get the reference */
    char *a = put("llava_a.jsonl", "{\"question_id\": \"img1\", \"text\": \"yes\"}\n");
    o.answers_path = a;
    ck_assert_int_eq(graft_eval_read_llava_questions(q, &o, &ds, &err), GRAFT_OK);
    ck_assert_int_eq(ds.samples[0].n_answers, 1);
    ck_assert_int_eq(ds.samples[1].n_answers, 1);
    ck_str(ds.samples[1].answers[0], "yes");
    graft_eval_dataset_free(&ds);
    o.answers_path = NULL;
    free(a);
    o.task = "essay";
    ck_assert_int_eq(graft_eval_read_llava_questions(q, &o, &ds, &err), GRAFT_E_INVALID);
    ck_msg(&err, "unknown task type \"essay\"");
    graft_eval_dataset_free(&ds);
    free(q);
}
END_TEST

/* ---- VQAv2 ----------------------------------------------------------------------------------- */

START_TEST(test_vqav2_small) {
    char *q = put("vqa_q.json",
                  "{\"data_subtype\": \"val2014\", \"questions\": ["
                  "{\"image_id\": 42, \"question\": \"What is it?\", \"question_id\": 420},"
                  "{\"image_id\": 7, \"question\": \"How many?\", \"question_id\": 70}]}");
    char *a = put("vqa_a.json",
                  "{\"annotations\": ["
                  "{\"question_id\": 70, \"answer_type\": \"number\", \"answers\": [{\"answer\": \"2\", \"answer_id\": 1}, {\"answer\": \"two\", \"answer_id\": 2}]},"
                  "{\"question_id\": 420, \"answer_type\": \"other\", \"answers\": [{\"answer\": \"cat\"}]}]}");
    graft_eval_read_opts o = graft_eval_read_default_opts();
    graft_eval_dataset ds = {0};
    graft_error err = {0};
    o.answers_path = a;
    ck_assert_int_eq(graft_eval_read(GRAFT_DS_VQAV2, q, &o, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 2);
    ck_str(ds.samples[0].id, "420");
    ck_assert_int_eq(ds.samples[0].type, GRAFT_TASK_VQA);
    ck_str(ds.samples[0].images[0], "val2014/COCO_val2014_000000000042.jpg");
    ck_str(ds.samples[0].answers[0], "cat");
    ck_str(ds.samples[0].category, "other");
    ck_assert_int_eq(ds.samples[1].n_answers, 2);
    ck_str(ds.samples[1].answers[1], "two");
    graft_eval_dataset_free(&ds);
    /* split override, no annotations */
    o = graft_eval_read_default_opts();
    o.split = "test2015";
    ck_assert_int_eq(graft_eval_read_vqav2(q, &o, &ds, &err), GRAFT_OK);
    ck_str(ds.samples[1].images[0], "test2015/COCO_test2015_000000000007.jpg");
    ck_assert_int_eq(ds.samples[1].n_answers, 0);
    graft_eval_dataset_free(&ds);
    /* a question without annotation */
    char *a2 = put("vqa_a2.json", "{\"annotations\": [{\"question_id\": 70, \"answers\": [{\"answer\": \"2\"}]}]}");
    o = graft_eval_read_default_opts();
    o.answers_path = a2;
    ck_assert_int_eq(graft_eval_read_vqav2(q, &o, &ds, &err), GRAFT_E_FORMAT);
    ck_msg(&err, "vqa_q.json: questions[0]: question_id 420 has no annotation");
    o.skip_bad = 1;
    ck_assert_int_eq(graft_eval_read_vqav2(q, &o, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 1);
    ck_assert_uint_eq(ds.n_skipped, 1);
    graft_eval_dataset_free(&ds);
    free(a2);
    free(q);
    free(a);
}
END_TEST

/* ---- ScienceQA ------------------------------------------------------------------------------- */

START_TEST(test_scienceqa_small) {
    char *p = put("problems.json",
                  "{\"5\": {\"question\": \"Which?\", \"choices\": [\"a\", \"b\", \"c\"], \"answer\": 2,"
                  " \"hint\": \"Look.\", \"image\": \"image.png\", \"split\": \"test\", \"subject\": \"natural science\"},"
                  " \"6\": {\"question\": \"No image\", \"choices\": [\"a\", \"b\"], \"answer\": 0, \"hint\": \"\","
                  " \"image\": null, \"split\": \"test\"},"
                  " \"7\": {\"question\": \"Train\", \"choices\": [\"a\", \"b\"], \"answer\": 0, \"hint\": \"\","
                  " \"image\": \"image.png\", \"split\": \"train\"},"
                  " \"8\": {\"question\": \"Q8\", \"choices\": [\"a\", \"b\"], \"answer\": 1, \"hint\": \"\","
                  " \"image\": \"image.png\", \"split\": \"test\", \"subject\": \"social science\"},"
                  " \"9\": {\"question\": \"Bad\", \"choices\": [\"a\", \"b\"], \"answer\": 2,"
                  " \"image\": \"image.png\", \"split\": \"test\"}}");
    graft_eval_read_opts o = graft_eval_read_default_opts();
    graft_eval_dataset ds = {0};
    graft_error err = {0};
    ck_assert_int_eq(graft_eval_read(GRAFT_DS_SCIENCEQA, p, &o, &ds, &err), GRAFT_E_FORMAT);
    ck_msg(&err, "problems.json: problem \"9\": \"answer\" 2 out of range");
    ck_assert_uint_eq(ds.n, 0);
    o.skip_bad = 1;
    ck_assert_int_eq(graft_eval_read(GRAFT_DS_SCIENCEQA, p, &o, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 2); /* 5 and 8: test split with an image */
    ck_assert_uint_eq(ds.n_skipped, 1);
    ck_str(ds.samples[0].id, "5");
    ck_assert_int_eq(ds.samples[0].type, GRAFT_TASK_MCQ);
    ck_str(ds.samples[0].images[0], "5/image.png");
    ck_str(ds.samples[0].answers[0], "C");
    ck_str(ds.samples[0].context, "Look.");
    ck_str(ds.samples[0].category, "natural science");
    ck_assert_int_eq(ds.samples[0].n_choices, 3);
    ck_assert_ptr_null(ds.samples[1].context); /* empty hint */
    ck_str(ds.samples[1].answers[0], "B");
    graft_eval_dataset_free(&ds);
    o.split = "train";
    ck_assert_int_eq(graft_eval_read_scienceqa(p, &o, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 1);
    ck_str(ds.samples[0].id, "7");
    graft_eval_dataset_free(&ds);
    free(p);
}
END_TEST

START_TEST(test_llava_scienceqa_small) {
    char *p = put("llava_sqa.json",
                  "[{\"id\": \"4\", \"conversations\": [{\"from\": \"human\", \"value\": \"Which?\\nA. x\\nB. y\"},"
                  " {\"from\": \"gpt\", \"value\": \"B\"}]},\n"
                  " {\"id\": \"5\", \"image\": \"5/image.png\", \"conversations\": [{\"from\": \"human\", \"value\":"
                  " \"<image>\\nContext: c\\nline2\\nWhich closing?\\nA. See you,\\nJo\\nB. see you,\\nJo\\nC. none \"},"
                  " {\"from\": \"gpt\", \"value\": \"C\"}]},\n"
                  " {\"id\": 6, \"image\": \"6/image.png\", \"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\nQ\\nA. x\\nB. y\"},"
                  " {\"from\": \"gpt\", \"value\": \"C\"}]},\n"
                  " {\"id\": 7, \"image\": \"7/image.png\", \"conversations\": [{\"from\": \"human\", \"value\": \"<image>\\nQ only\"},"
                  " {\"from\": \"gpt\", \"value\": \"A\"}]}]");
    graft_eval_read_opts o = graft_eval_read_default_opts();
    graft_eval_dataset ds = {0};
    graft_error err = {0};
    ck_assert_int_eq(graft_eval_read(GRAFT_DS_LLAVA_SCIENCEQA, p, &o, &ds, &err), GRAFT_E_FORMAT);
    ck_msg(&err, "llava_sqa.json: questions[2]: answer \"C\" is not one of the 2 option letters");
    ck_assert_uint_eq(ds.n, 0);
    o.skip_bad = 1;
    ck_assert_int_eq(graft_eval_read(GRAFT_DS_LLAVA_SCIENCEQA, p, &o, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 1); /* "4" has no image, 6 and 7 are bad */
    ck_assert_uint_eq(ds.n_skipped, 2);
    ck_assert_msg(strstr(ds.first_skip, "questions[2]"), "%s", ds.first_skip);
    graft_eval_sample *s = &ds.samples[0];
    ck_str(s->id, "5");
    ck_assert_int_eq(s->type, GRAFT_TASK_MCQ);
    ck_str(s->images[0], "5/image.png");
    ck_str(s->question, "Context: c\nline2\nWhich closing?");
    ck_assert_int_eq(s->n_choices, 3);
    ck_str(s->choices[0], "See you,\nJo"); /* an option may span lines */
    ck_str(s->choices[1], "see you,\nJo");
    ck_str(s->choices[2], "none"); /* the text was stripped */
    ck_str(s->answers[0], "C");
    graft_eval_dataset_free(&ds);
    o.with_text_only = 1;
    ck_assert_int_eq(graft_eval_read_llava_scienceqa(p, &o, &ds, &err), GRAFT_OK);
    ck_assert_uint_eq(ds.n, 2);
    ck_str(ds.samples[0].id, "4");
    ck_assert_int_eq(ds.samples[0].n_images, 0);
    ck_str(ds.samples[0].question, "Which?");
    graft_eval_dataset_free(&ds);
    free(p);
}
END_TEST

START_TEST(test_shared_llava_questions) {
    /* python: TextVQA's question file has 5000 lines, all category "default", 3166 distinct
     * images (and question ids: LLaVA uses the image id); MME's has 2374 lines over 1187 images,
     * 400 of them "artwork" */
    const char *p = tu_shared("eval/llava15/textvqa/llava_textvqa_val_v051_ocr.jsonl");
    if (!p) return;
    graft_eval_dataset ds = {0};
    graft_error err = {0};
    ck_assert_msg(graft_eval_read(GRAFT_DS_LLAVA_QUESTIONS, p, NULL, &ds, &err) == GRAFT_OK, "%s", err.msg);
    ck_assert_uint_eq(ds.n, 5000);
    for (size_t i = 0; i < ds.n; i++) ck_str(ds.samples[i].category, "default");
    ck_str(ds.samples[0].id, "003a8ae2ef43b901");
    ck_assert_int_eq(ds.samples[0].type, GRAFT_TASK_VQA);
    size_t miss = 0;
    ck_assert_int_eq(graft_eval_check_images(&ds, tu_tmpdir(), &miss, &err), GRAFT_E_NOTFOUND);
    ck_assert_uint_eq(miss, 3166);
    graft_eval_dataset_free(&ds);
    p = tu_shared("eval/llava15/mme/llava_mme.jsonl");
    if (!p) return;
    graft_eval_read_opts o = graft_eval_read_default_opts();
    o.task = "yesno";
    ck_assert_msg(graft_eval_read(GRAFT_DS_LLAVA_QUESTIONS, p, &o, &ds, &err) == GRAFT_OK, "%s", err.msg);
    ck_assert_uint_eq(ds.n, 2374);
    size_t art = 0;
    for (size_t i = 0; i < ds.n; i++) art += !strcmp(ds.samples[i].category, "artwork");
    ck_assert_uint_eq(art, 400);
    ck_assert_int_eq(graft_eval_check_images(&ds, tu_tmpdir(), &miss, &err), GRAFT_E_NOTFOUND);
    ck_assert_uint_eq(miss, 1187);
    ck_msg(&err, "first: code_reasoning/0020.png (sample code_reasoning/0020.png)");
    graft_eval_dataset_free(&ds);
}
END_TEST

START_TEST(test_shared_llava_scienceqa) {
    /* llava_test_CQM-A.json (python, same option split): 4241 questions, 2017 with an image;
     * option counts 2/3/4/5 = 2228/971/1004/38 overall (equal to counting "\n[A-E]. " matches)
     * and 677/532/770/38 among the image ones; answers B/A/C/D/E = 726/713/375/195/8 there; the
     * image questions' text before the options totals 424702 bytes */
    const char *p = tu_shared("eval/llava15/scienceqa/llava_test_CQM-A.json");
    if (!p) return;
    graft_eval_read_opts o = graft_eval_read_default_opts();
    graft_eval_dataset ds = {0};
    graft_error err = {0};
    ck_assert_msg(graft_eval_read(GRAFT_DS_LLAVA_SCIENCEQA, p, &o, &ds, &err) == GRAFT_OK, "%s", err.msg);
    ck_assert_uint_eq(ds.n, 2017);
    size_t nch[6] = {0}, ans[5] = {0}, qbytes = 0;
    for (size_t i = 0; i < ds.n; i++) {
        ck_assert_int_eq(ds.samples[i].n_images, 1);
        ck_assert_int_le(ds.samples[i].n_choices, 5);
        nch[ds.samples[i].n_choices]++;
        ans[ds.samples[i].answers[0][0] - 'A']++;
        qbytes += strlen(ds.samples[i].question);
    }
    ck_assert_uint_eq(nch[2], 677);
    ck_assert_uint_eq(nch[3], 532);
    ck_assert_uint_eq(nch[4], 770);
    ck_assert_uint_eq(nch[5], 38);
    ck_assert_uint_eq(ans[0], 713);
    ck_assert_uint_eq(ans[1], 726);
    ck_assert_uint_eq(ans[2], 375);
    ck_assert_uint_eq(ans[3], 195);
    ck_assert_uint_eq(ans[4], 8);
    ck_assert_uint_eq(qbytes, 424702);
    ck_str(ds.samples[1].id, "11");
    ck_str(ds.samples[1].question, "What is the name of the colony shown?");
    ck_str(ds.samples[1].choices[3], "Vermont");
    graft_eval_dataset_free(&ds);
    o.with_text_only = 1;
    ck_assert_msg(graft_eval_read_llava_scienceqa(p, &o, &ds, &err) == GRAFT_OK, "%s", err.msg);
    ck_assert_uint_eq(ds.n, 4241);
    size_t all[6] = {0};
    for (size_t i = 0; i < ds.n; i++) all[ds.samples[i].n_choices <= 5 ? ds.samples[i].n_choices : 0]++;
    ck_assert_uint_eq(all[2], 2228);
    ck_assert_uint_eq(all[3], 971);
    ck_assert_uint_eq(all[4], 1004);
    ck_assert_uint_eq(all[5], 38);
    graft_eval_dataset_free(&ds);
}
END_TEST

/* ---- images ---------------------------------------------------------------------------------- */

START_TEST(test_check_images) {
    const char *root = tu_tmppath("imgroot");
    char sub[512];
    mkdir(root, 0755);
    snprintf(sub, sizeof sub, "%s/sub", root);
    mkdir(sub, 0755);
    free(put("imgroot/a.jpg", "x"));
    free(put("imgroot/sub/c.png", "x"));
    /* graft_good uses a.jpg (3x), b.jpg (2x, missing), sub/c.png */
    char *p = put("imgs.jsonl", graft_good);
    graft_eval_dataset ds = {0};
    graft_error err = {0};
    size_t miss = 99;
    ck_assert_int_eq(graft_eval_read_graft(p, NULL, &ds, &err), GRAFT_OK);
    ck_assert_int_eq(graft_eval_check_images(&ds, root, &miss, &err), GRAFT_E_NOTFOUND);
    ck_assert_uint_eq(miss, 1);
    ck_msg(&err, "1 of 3 images missing under");
    ck_msg(&err, "first: b.jpg (sample 7)");
    free(put("imgroot/b.jpg", "x"));
    ck_assert_int_eq(graft_eval_check_images(&ds, root, &miss, &err), GRAFT_OK);
    ck_assert_uint_eq(miss, 0);
    /* a directory is not an image */
    ck_assert_int_eq(graft_eval_check_images(&ds, tu_tmpdir(), &miss, &err), GRAFT_E_NOTFOUND);
    ck_assert_uint_eq(miss, 3); /* a.jpg b.jpg sub/c.png are not directly in the temp dir */
    ck_msg(&err, "first: a.jpg (sample c1)");
    graft_eval_dataset_free(&ds);
    free(p);
}
END_TEST

/* ---- robustness ------------------------------------------------------------------------------ */

/* Every prefix of a valid line, as its own line: each is read or skipped (never both, never a
 * crash under ASan), and the complete line is read. Every prefix of a single-document file: OK or
 * GRAFT_E_FORMAT, nothing else. */
START_TEST(test_truncations) {
    static const char *line =
        "{\"id\": \"m\", \"type\": \"mcq\", \"images\": [\"a.jpg\", \"c.png\"], \"question\": \"Which?\", "
        "\"context\": \"hint\", \"choices\": [\"x\", \"y\", \"z\"], \"answer\": \"C\", \"category\": \"k\"}";
    size_t len = strlen(line), nonblank = 0;
    char *text = malloc((len + 1) * (len + 2) / 2 + len + 64), *w = text;
    for (size_t k = 1; k <= len; k++) { /* prefixes of length 1..len */
        memcpy(w, line, k);
        w[k] = 0;
        if (k == len) w[8] = 'M'; /* "m" -> "M": shows which line became the sample */
        w += k;
        *w++ = '\n';
        nonblank++;
    }
    *w = 0;
    char *p = put("prefixes.jsonl", text);
    graft_eval_read_opts o = graft_eval_read_default_opts();
    o.skip_bad = 1;
    graft_eval_dataset ds = {0};
    graft_error err = {0};
    ck_assert_msg(graft_eval_read_graft(p, &o, &ds, &err) == GRAFT_OK, "%s", err.msg);
    ck_assert_uint_eq(ds.n + ds.n_skipped, nonblank);
    ck_assert_uint_eq(ds.n, 1); /* only the complete line is a sample */
    ck_str(ds.samples[0].id, "M");
    ck_str(ds.first_skip + strlen(p), ":1: not valid JSON");
    graft_eval_dataset_free(&ds);
    free(p);
    free(text);

    static const char *doc =
        "{\"images\": [{\"id\": 7, \"file_name\": \"seven.jpg\"}], \"annotations\": "
        "[{\"image_id\": 7, \"caption\": \"ok\"}]}";
    char buf[256];
    for (size_t k = 0; k <= strlen(doc); k++) {
        snprintf(buf, sizeof buf, "%.*s", (int)k, doc);
        char *d = put("prefix.json", buf);
        int rc = graft_eval_read_coco_captions(d, &o, &ds, &err);
        ck_assert_msg(k == strlen(doc) ? rc == GRAFT_OK : rc == GRAFT_E_FORMAT, "cut %zu: rc %d", k, rc);
        graft_eval_dataset_free(&ds);
        rc = graft_eval_read_scienceqa(d, &o, &ds, &err);
        ck_assert_msg(rc == GRAFT_OK || rc == GRAFT_E_FORMAT, "cut %zu: rc %d", k, rc);
        graft_eval_dataset_free(&ds);
        rc = graft_eval_read_vqav2(d, &o, &ds, &err);
        ck_assert_msg(rc == GRAFT_E_FORMAT, "cut %zu: rc %d", k, rc);
        graft_eval_dataset_free(&ds);
        free(d);
    }
}
END_TEST

/* ---- the real files in ../shared/eval --------------------------------------------------------- */

START_TEST(test_shared_pope) {
    /* counts verified with python (json per line): each coco_pope_<split>.json has 3000 lines,
     * 1500 "yes" + 1500 "no" labels, 500 distinct images; no "category" field */
    static const char *splits[] = {"random", "popular", "adversarial"};
    graft_eval_dataset ds = {0};
    graft_error err = {0};
    for (int k = 0; k < 3; k++) {
        char rel[128];
        snprintf(rel, sizeof rel, "eval/pope/coco_pope_%s.json", splits[k]);
        const char *p = tu_shared(rel);
        if (!p) return;
        ck_assert_msg(graft_eval_read(GRAFT_DS_POPE, p, NULL, &ds, &err) == GRAFT_OK, "%s", err.msg);
        ck_assert_uint_eq(ds.n, 3000u * (unsigned)(k + 1));
    }
    size_t yes = 0, per[3] = {0};
    for (size_t i = 0; i < ds.n; i++) {
        ck_assert_int_eq(ds.samples[i].n_answers, 1);
        yes += !strcmp(ds.samples[i].answers[0], "yes");
        for (int k = 0; k < 3; k++) per[k] += !strcmp(ds.samples[i].category, splits[k]);
    }
    ck_assert_uint_eq(yes, 4500);
    for (int k = 0; k < 3; k++) ck_assert_uint_eq(per[k], 3000);
    ck_str(ds.samples[0].images[0], "COCO_val2014_000000310196.jpg");
    ck_str(ds.samples[0].question, "Is there a snowboard in the image?");
    ck_assert_uint_eq(ds.n_skipped, 0);
    /* no COCO images here: every distinct image (500 per split; python: 500 in the union too)
     * is reported missing */
    size_t miss = 0;
    ck_assert_int_eq(graft_eval_check_images(&ds, tu_tmpdir(), &miss, &err), GRAFT_E_NOTFOUND);
    ck_assert_uint_eq(miss, 500);
    ck_msg(&err, "500 of 500 images missing");
    ck_msg(&err, "first: COCO_val2014_000000310196.jpg (sample 1)");
    graft_eval_dataset_free(&ds);

    /* LLaVA-1.5's question file: 8910 lines, categories adversarial 3000, popular 3000,
     * random 2910 (python), no labels; the text carries LLaVA's prompt suffix */
    const char *p = tu_shared("eval/llava15/pope/llava_pope_test.jsonl");
    if (!p) return;
    ck_assert_msg(graft_eval_read_pope(p, NULL, &ds, &err) == GRAFT_OK, "%s", err.msg);
    ck_assert_uint_eq(ds.n, 8910);
    size_t rnd = 0;
    for (size_t i = 0; i < ds.n; i++) {
        ck_assert_int_eq(ds.samples[i].n_answers, 0);
        rnd += !strcmp(ds.samples[i].category, "random");
    }
    ck_assert_uint_eq(rnd, 2910);
    ck_assert_ptr_nonnull(strstr(ds.samples[0].question, "\nAnswer the question using a single"));
    ck_str(ds.samples[ds.n - 1].id, "20003000");
    graft_eval_dataset_free(&ds);
}
END_TEST

START_TEST(test_shared_llava_bench) {
    /* qa90: 90 questions (wc -l), 30 each of conv/detail/complex, 30 distinct images; the GPT-4
     * answers file has the 90 question ids */
    const char *q = tu_shared("eval/llava-bench-coco/qa90_questions.jsonl");
    if (!q) return;
    char qp[1024];
    snprintf(qp, sizeof qp, "%s", q);
    const char *a = tu_shared("eval/llava-bench-coco/qa90_gpt4_answer.jsonl");
    if (!a) return;
    graft_eval_read_opts o = graft_eval_read_default_opts();
    o.answers_path = a;
    graft_eval_dataset ds = {0};
    graft_error err = {0};
    ck_assert_msg(graft_eval_read(GRAFT_DS_LLAVA_BENCH, qp, &o, &ds, &err) == GRAFT_OK, "%s", err.msg);
    ck_assert_uint_eq(ds.n, 90);
    size_t conv = 0;
    for (size_t i = 0; i < ds.n; i++) {
        ck_assert_int_eq(ds.samples[i].n_answers, 1);
        conv += !strcmp(ds.samples[i].category, "conv");
    }
    ck_assert_uint_eq(conv, 30);
    ck_str(ds.samples[0].id, "0");
    ck_str(ds.samples[0].images[0], "000000441147.jpg");
    ck_str(ds.samples[0].question, "What is the color of the two suitcases in the image?");
    ck_str(ds.samples[0].answers[0],
           "The colors of the two suitcases in the image are black and brown with yellow details.");
    size_t miss = 0;
    ck_assert_int_eq(graft_eval_check_images(&ds, tu_tmpdir(), &miss, &err), GRAFT_E_NOTFOUND);
    ck_assert_uint_eq(miss, 30);
    graft_eval_dataset_free(&ds);
}
END_TEST

Suite *suite_dataset(void) {
    Suite *s = suite_create("dataset");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_graft_good);
    tcase_add_test(tc, test_graft_bad_lines);
    tcase_add_test(tc, test_graft_skip_count_and_io);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_pope_small);
    tcase_add_test(tc, test_coco_small);
    tcase_add_test(tc, test_llava_bench_small);
    tcase_add_test(tc, test_llava_questions_small);
    tcase_add_test(tc, test_vqav2_small);
    tcase_add_test(tc, test_scienceqa_small);
    tcase_add_test(tc, test_llava_scienceqa_small);
    tcase_add_test(tc, test_check_images);
    tcase_add_test(tc, test_truncations);
    tcase_add_test(tc, test_shared_pope);
    tcase_add_test(tc, test_shared_llava_bench);
    tcase_add_test(tc, test_shared_llava_scienceqa);
    tcase_add_test(tc, test_shared_llava_questions);
    suite_add_tcase(s, tc);
    return s;
}
