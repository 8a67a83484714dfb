/* dataset.h - evaluation samples in memory, and the readers that build them from graft's own
 * JSONL task format (docs/eval.md, "Task format") and from the public benchmark files users
 * already have (POPE, COCO captions, LLaVA-Bench, VQAv2, ScienceQA), converting on the fly
 * (dataset.c: container, shared helpers, graft JSONL, image check; readers.c: public formats).
 *
 * Readers append to a caller-owned graft_eval_dataset, so several files (for example the three
 * POPE splits) can go into one set. A malformed line or item fails with GRAFT_E_FORMAT and
 * "file:line: problem" (or "file: item: problem" for single-document JSON files), unless
 * opts.skip_bad is set: then it is skipped, counted in ds->n_skipped and its message kept in
 * ds->first_skip. No printing, no global state; a dataset is not shared between threads while
 * a reader writes to it.
 *
 *     graft_eval_dataset ds = {0};
 *     graft_eval_read_opts o = graft_eval_read_default_opts();
 *     graft_error err;
 *     if (graft_eval_read(GRAFT_DS_POPE, "coco_pope_random.json", &o, &ds, &err) != GRAFT_OK ||
 *         graft_eval_check_images(&ds, "val2014", &err) != GRAFT_OK)
 *         fprintf(stderr, "%s\n", err.msg);
 *     for (size_t i = 0; i < ds.n; i++) use(ds.samples[i].question);
 *     graft_eval_dataset_free(&ds);
 */
#ifndef GRAFT_EVAL_DATASET_H
#define GRAFT_EVAL_DATASET_H

#include <stddef.h>

#include "graft.h"

typedef enum {
    GRAFT_TASK_CAPTION = 0, /* answers = reference captions; question = optional prompt */
    GRAFT_TASK_VQA = 1,     /* answers = human answers (10 in VQAv2) or one reference */
    GRAFT_TASK_MCQ = 2,     /* choices >= 2; answers[0] = the correct option letter "A".. */
    GRAFT_TASK_YESNO = 3,   /* answers[0] = "yes" or "no" (the label) */
    GRAFT_TASK_OPEN = 4,    /* answers = reference answer(s), may be empty */
    GRAFT_TASK_COUNT = 5
} graft_task_type;

/* "caption", "vqa", "mcq", "yesno", "open"; NULL for an out-of-range value. */
const char *graft_task_name(graft_task_type t);
/* Inverse of graft_task_name; returns -1 for an unknown name. */
int graft_task_parse(const char *name);

/* One sample. Every string is malloc'd and owned by the dataset; pointers are NULL / counts 0
 * when absent. Image paths are relative to an images root given at run time. */
typedef struct {
    char *id;            /* unique within its source file: question_id, image id, "pid" ... */
    graft_task_type type;
    char **images;       /* (n_images) paths relative to the images root; usually 1 */
    int n_images;
    char *question;      /* question / prompt text as the file gives it (NULL: caption default) */
    char *context;       /* extra text shown before the question (ScienceQA hint), or NULL */
    char **choices;      /* (n_choices) option texts, in letter order A, B, ... (mcq only) */
    int n_choices;
    char **answers;      /* (n_answers) ground truth: labels, answers, reference captions */
    int n_answers;
    char *category;      /* optional grouping for per-category metrics, or NULL */
} graft_eval_sample;

typedef struct {
    graft_eval_sample *samples; /* (n) */
    size_t n, cap;
    size_t n_skipped;           /* lines/items skipped because opts.skip_bad was set */
    char first_skip[GRAFT_ERROR_MAX]; /* "file:line: problem" of the first skipped one */
} graft_eval_dataset;

typedef enum {
    GRAFT_DS_GRAFT = 0,     /* graft's JSONL task format */
    GRAFT_DS_POPE,          /* POPE question file (JSONL) */
    GRAFT_DS_COCO_CAPTIONS, /* COCO captions_*.json (images + annotations) */
    GRAFT_DS_LLAVA_BENCH,   /* LLaVA-Bench questions.jsonl (+ answers via opts.answers_path) */
    GRAFT_DS_VQAV2,         /* VQAv2 questions JSON (+ annotations via opts.answers_path) */
    GRAFT_DS_SCIENCEQA,     /* ScienceQA problems.json, image questions of opts.split */
    GRAFT_DS_LLAVA_SCIENCEQA, /* LLaVA's converted ScienceQA question file (llava_test_CQM-A.json) */
    GRAFT_DS_LLAVA_QUESTIONS, /* LLaVA's question JSONL of any benchmark (TextVQA, MME, ...):
                               * samples of type opts.task (default vqa) */
    GRAFT_DS_COUNT
} graft_eval_format;

/* "graft", "pope", "coco-captions", "llava-bench", "vqav2", "scienceqa", "llava-scienceqa",
 * "llava-questions"; parse returns -1 if unknown. */
const char *graft_eval_format_name(graft_eval_format f);
int graft_eval_format_parse(const char *name);

typedef struct {
    int skip_bad;             /* skip and count malformed lines/items instead of failing */
    const char *category;     /* POPE: category for every sample (default: the file's "category"
                               * field, else the file name's last "_word" before the extension,
                               * coco_pope_random.json -> "random") */
    const char *answers_path; /* LLaVA-Bench reference answers JSONL; VQAv2 annotations JSON */
    const char *split;        /* ScienceQA split ("test" by default); VQAv2 image folder name
                               * (default: the questions file's "data_subtype", e.g. val2014) */
    const char *task;         /* llava-questions: task type name of the samples (NULL: "vqa") */
    int with_text_only;       /* ScienceQA readers: also the questions without an image (then
                               * n_images = 0), as LLaVA's overall ScienceQA accuracy counts them */
} graft_eval_read_opts;

graft_eval_read_opts graft_eval_read_default_opts(void);

/* Append the samples of `path` (in `fmt`) to ds. On error ds keeps the samples read before the
 * failing file (never a partial sample) and the code is GRAFT_E_NOTFOUND (no such file),
 * GRAFT_E_IO, GRAFT_E_LIMIT (over GRAFT_EVAL_MAX_FILE), GRAFT_E_FORMAT, GRAFT_E_NOMEM or
 * GRAFT_E_INVALID. */
int graft_eval_read(graft_eval_format fmt, const char *path, const graft_eval_read_opts *opts,
                    graft_eval_dataset *ds, graft_error *err);

/* The individual readers behind graft_eval_read. */
int graft_eval_read_graft(const char *path, const graft_eval_read_opts *opts,
                          graft_eval_dataset *ds, graft_error *err);
int graft_eval_read_pope(const char *path, const graft_eval_read_opts *opts,
                         graft_eval_dataset *ds, graft_error *err);
int graft_eval_read_coco_captions(const char *path, const graft_eval_read_opts *opts,
                                  graft_eval_dataset *ds, graft_error *err);
int graft_eval_read_llava_bench(const char *path, const graft_eval_read_opts *opts,
                                graft_eval_dataset *ds, graft_error *err);
int graft_eval_read_vqav2(const char *path, const graft_eval_read_opts *opts,
                          graft_eval_dataset *ds, graft_error *err);
int graft_eval_read_scienceqa(const char *path, const graft_eval_read_opts *opts,
                              graft_eval_dataset *ds, graft_error *err);
int graft_eval_read_llava_scienceqa(const char *path, const graft_eval_read_opts *opts,
                                    graft_eval_dataset *ds, graft_error *err);
int graft_eval_read_llava_questions(const char *path, const graft_eval_read_opts *opts,
                                    graft_eval_dataset *ds, graft_error *err);

/* Checks, before a run, that every image path of every sample names a readable regular file
 * under `root` (an absolute image path is used as is). Each distinct path is checked once.
 * GRAFT_E_NOTFOUND with "N of M images missing under ROOT, first: PATH (sample ID)" when any
 * is missing; *n_missing (may be NULL) receives N either way. */
int graft_eval_check_images(const graft_eval_dataset *ds, const char *root, size_t *n_missing,
                            graft_error *err);

void graft_eval_dataset_free(graft_eval_dataset *ds);


/* The largest data / answer file read (VQAv2's train annotations are ~330 MB). */
#define GRAFT_EVAL_MAX_FILE ((size_t)4 << 30)

#ifdef GRAFT_EVAL_DATASET_INTERNAL
/* ---- shared by the readers in dataset.c and readers.c only (not API) ------------------------ */
#include <cjson/cJSON.h>

/* A converter's outcome for one line / item: OK, BAD (why filled, < WHY_MAX bytes) or
 * NOMEM. */
enum { CV_OK = 0, CV_BAD = 1, CV_NOMEM = 2 };
#define WHY_MAX 160

/* One JSONL line's converter: obj -> *s (a zeroed sample, freed by the caller on failure). */
typedef int (*graft_ds_line_conv)(const cJSON *obj, void *ctx, graft_eval_sample *s, char *why);

void graft_ds_sample_free(graft_eval_sample *s);
int graft_ds_push(graft_eval_dataset *ds, graft_eval_sample *s);      /* moves *s; -1: NOMEM */
int graft_ds_strv_push(char ***v, int *n, const char *str);           /* copies str; -1: NOMEM */
int graft_ds_bad(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int graft_ds_on_bad(graft_eval_dataset *ds, const graft_eval_read_opts *o, const char *where,
                    const char *why, graft_error *err);
int graft_ds_json_id(const cJSON *v, const char *key, char **out, char *why);
int graft_ds_json_str(const cJSON *obj, const char *key, int req, char **out, char *why);
int graft_ds_json_strs(const cJSON *obj, const char *one, const char *many, int req, char ***v,
                       int *n, char *why);
int graft_ds_json_int(const cJSON *obj, const char *key, long long *out, char *why);
int graft_ds_image_path_ok(const char *p, char *why);
cJSON *graft_ds_parse_doc(const char *path, graft_error *err);
int graft_ds_read_jsonl(const char *path, const graft_eval_read_opts *o, graft_eval_dataset *ds,
                        graft_ds_line_conv conv, void *ctx, graft_error *err);
int graft_ds_rollback(graft_eval_dataset *ds, size_t first, int rc);
/* The argument check every reader starts with: path and ds must be given; *opts becomes the
 * defaults (stored in *d) when the caller passed NULL. */
int graft_ds_begin(const char *path, const graft_eval_dataset *ds,
                   const graft_eval_read_opts **opts, graft_eval_read_opts *d, graft_error *err);
#endif

#endif
