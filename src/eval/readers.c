/* readers.c - the public benchmark formats read directly into graft eval samples: POPE question
 * files, COCO captions_*.json, LLaVA-Bench questions (+ reference answers), VQAv2 questions (+
 * annotations) and ScienceQA problems.json. Shared helpers are in dataset.c; the mapping of each
 * format is documented in docs/eval.md ("Task format"). */
#define GRAFT_EVAL_DATASET_INTERNAL
#include "dataset.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* ---- POPE ---------------------------------------------------------------------------------- */

/* {"question_id", "image", "text", "label"} (+ optional "category"): a yesno sample. */
static int conv_pope(const cJSON *obj, void *ctx, graft_eval_sample *s, char *why) {
    const char *cat = ctx;
    int cv;
    s->type = GRAFT_TASK_YESNO;
    if ((cv = graft_ds_json_id(cJSON_GetObjectItemCaseSensitive(obj, "question_id"), "question_id",
                               &s->id, why)))
        return cv;
    if ((cv = graft_ds_json_strs(obj, "image", NULL, 1, &s->images, &s->n_images, why))) return cv;
    if ((cv = graft_ds_image_path_ok(s->images[0], why))) return cv;
    if ((cv = graft_ds_json_str(obj, "text", 1, &s->question, why))) return cv;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(obj, "label");
    if (l) {
        if (!cJSON_IsString(l) || (strcmp(l->valuestring, "yes") && strcmp(l->valuestring, "no")))
            return graft_ds_bad(why, "\"label\" must be \"yes\" or \"no\"");
        if (graft_ds_strv_push(&s->answers, &s->n_answers, l->valuestring)) return CV_NOMEM;
    }
    if (cat)
        s->category = strdup(cat);
    else if ((cv = graft_ds_json_str(obj, "category", 0, &s->category, why)))
        return cv;
    return (cat && !s->category) ? CV_NOMEM : CV_OK;
}

int graft_eval_read_pope(const char *path, const graft_eval_read_opts *opts, graft_eval_dataset *ds,
                         graft_error *err) {
    graft_eval_read_opts d;
    int rc0 = graft_ds_begin(path, ds, &opts, &d, err);
    if (rc0) return rc0;
    /* category: the option, else per line, else the file name's last "_word" */
    char cat[64] = "";
    if (opts->category) {
        snprintf(cat, sizeof cat, "%s", opts->category);
    } else {
        const char *b = strrchr(path, '/');
        b = b ? b + 1 : path;
        const char *u = strrchr(b, '_'), *dot = strrchr(b, '.');
        if (u && (!dot || dot > u) && (size_t)((dot ? dot : b + strlen(b)) - u - 1) < sizeof cat)
            snprintf(cat, sizeof cat, "%.*s", (int)((dot ? dot : b + strlen(b)) - u - 1), u + 1);
    }
    /* a per-line "category" wins over the file name, which is only a fallback */
    size_t first = ds->n;
    int rc = graft_ds_read_jsonl(path, opts, ds, conv_pope, (void *)opts->category, err);
    for (size_t i = first; rc == GRAFT_OK && cat[0] && i < ds->n; i++)
        if (!ds->samples[i].category && !(ds->samples[i].category = strdup(cat)))
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
    return rc;
}

/* ---- LLaVA-Bench --------------------------------------------------------------------------- */

/* questions.jsonl: {"question_id", "image", "text", "category"}: an open sample. */
static int conv_llava_q(const cJSON *obj, void *ctx, graft_eval_sample *s, char *why) {
    int cv;
    s->type = *(const graft_task_type *)ctx;
    if ((cv = graft_ds_json_id(cJSON_GetObjectItemCaseSensitive(obj, "question_id"), "question_id",
                               &s->id, why)))
        return cv;
    if ((cv = graft_ds_json_strs(obj, "image", NULL, 1, &s->images, &s->n_images, why))) return cv;
    if ((cv = graft_ds_image_path_ok(s->images[0], why))) return cv;
    if ((cv = graft_ds_json_str(obj, "text", 1, &s->question, why))) return cv;
    return graft_ds_json_str(obj, "category", 0, &s->category, why);
}

/* answers file: {"question_id", "text"}: stored as a sample whose id/answers[0] we use. */
static int conv_llava_a(const cJSON *obj, void *ctx, graft_eval_sample *s, char *why) {
    (void)ctx;
    int cv;
    s->type = GRAFT_TASK_OPEN;
    if ((cv = graft_ds_json_id(cJSON_GetObjectItemCaseSensitive(obj, "question_id"), "question_id",
                               &s->id, why)))
        return cv;
    return graft_ds_json_strs(obj, "text", NULL, 1, &s->answers, &s->n_answers, why);
}

static int cmp_sample_id(const void *a, const void *b) {
    return strcmp(((const graft_eval_sample *)a)->id, ((const graft_eval_sample *)b)->id);
}

/* LLaVA's question JSONL as samples of `type`, joined with opts->answers_path when given. */
static int read_llava(const char *path, const graft_eval_read_opts *opts, graft_task_type type,
                      graft_eval_dataset *ds, graft_error *err) {
    size_t first = ds->n;
    int rc = graft_ds_read_jsonl(path, opts, ds, conv_llava_q, &type, err);
    if (rc || !opts->answers_path) return rc;
    graft_eval_dataset ans = {0};
    graft_eval_read_opts strict = *opts;
    strict.skip_bad = 0; /* a bad reference line would silently drop a question's reference */
    rc = graft_ds_read_jsonl(opts->answers_path, &strict, &ans, conv_llava_a, NULL, err);
    if (!rc) qsort(ans.samples, ans.n, sizeof *ans.samples, cmp_sample_id);
    for (size_t i = 1; rc == GRAFT_OK && i < ans.n; i++)
        if (!strcmp(ans.samples[i - 1].id, ans.samples[i].id))
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: question_id %s appears twice",
                                 opts->answers_path, ans.samples[i].id);
    for (size_t i = first; rc == GRAFT_OK && i < ds->n; i++) {
        graft_eval_sample *s = &ds->samples[i];
        graft_eval_sample *a = bsearch(s, ans.samples, ans.n, sizeof *ans.samples, cmp_sample_id);
        if (!a) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: no reference answer for question_id %s",
                                 opts->answers_path, s->id);
            break;
        }
        /* copied, not moved: a question id may repeat (MME asks two questions per image id) */
        for (int j = 0; rc == GRAFT_OK && j < a->n_answers; j++)
            if (graft_ds_strv_push(&s->answers, &s->n_answers, a->answers[j]))
                rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
    }
    graft_eval_dataset_free(&ans);
    if (rc) { /* no partial file: drop what this call added */
        for (size_t i = first; i < ds->n; i++) graft_ds_sample_free(&ds->samples[i]);
        ds->n = first;
    }
    return rc;
}

int graft_eval_read_llava_bench(const char *path, const graft_eval_read_opts *opts,
                                graft_eval_dataset *ds, graft_error *err) {
    graft_eval_read_opts d;
    int rc0 = graft_ds_begin(path, ds, &opts, &d, err);
    if (rc0) return rc0;
    return read_llava(path, opts, GRAFT_TASK_OPEN, ds, err);
}

int graft_eval_read_llava_questions(const char *path, const graft_eval_read_opts *opts,
                                    graft_eval_dataset *ds, graft_error *err) {
    graft_eval_read_opts d;
    int rc0 = graft_ds_begin(path, ds, &opts, &d, err);
    if (rc0) return rc0;
    int t = opts->task ? graft_task_parse(opts->task) : GRAFT_TASK_VQA;
    if (t < 0)
        return graft_error_set(err, GRAFT_E_INVALID, "unknown task type \"%.40s\"", opts->task);
    return read_llava(path, opts, (graft_task_type)t, ds, err);
}

/* ---- COCO captions --------------------------------------------------------------------------- */

typedef struct {
    long long id;
    size_t idx;        /* COCO: index in ds of the image's sample */
    const cJSON *item; /* VQAv2: the annotation (a pointer: cJSON_GetArrayItem walks a list) */
} id_idx;

static int cmp_id_idx(const void *a, const void *b) {
    long long x = ((const id_idx *)a)->id, y = ((const id_idx *)b)->id;
    return (x > y) - (x < y);
}

/* Per-item failure handling for single-document readers. */
#define ITEM_BAD(what, i)                                                                          \
    do {                                                                                           \
        snprintf(where, sizeof where, "%s: %s[%zu]", path, what, (size_t)(i));                     \
        if ((rc = graft_ds_on_bad(ds, opts, where, why, err)) != GRAFT_OK) goto done;              \
    } while (0)

int graft_eval_read_coco_captions(const char *path, const graft_eval_read_opts *opts,
                                  graft_eval_dataset *ds, graft_error *err) {
    graft_eval_read_opts d;
    int rc0 = graft_ds_begin(path, ds, &opts, &d, err);
    if (rc0) return rc0;
    cJSON *doc = graft_ds_parse_doc(path, err);
    if (!doc) return err ? err->code : GRAFT_E_FORMAT;
    size_t first = ds->n, n_img = 0;
    id_idx *map = NULL;
    int rc = GRAFT_OK;
    char where[GRAFT_ERROR_MAX / 2], why[WHY_MAX];
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(doc, "images");
    const cJSON *anns = cJSON_GetObjectItemCaseSensitive(doc, "annotations");
    if (!cJSON_IsArray(images) || !cJSON_IsArray(anns)) {
        rc = graft_error_set(err, GRAFT_E_FORMAT,
                             "%s: not a COCO captions file (needs \"images\" and \"annotations\" "
                             "arrays)",
                             path);
        goto done;
    }
    map = malloc(((size_t)cJSON_GetArraySize(images) + 1) * sizeof *map);
    if (!map) {
        rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t i = 0;
    for (const cJSON *im = images->child; im; im = im->next, i++) {
        graft_eval_sample s = {0};
        long long id = 0;
        int cv = cJSON_IsObject(im) ? graft_ds_json_int(im, "id", &id, why)
                                    : graft_ds_bad(why, "not an object");
        if (!cv) cv = graft_ds_json_strs(im, "file_name", NULL, 1, &s.images, &s.n_images, why);
        if (!cv) cv = graft_ds_image_path_ok(s.images[0], why);
        if (!cv) {
            char b[32];
            snprintf(b, sizeof b, "%lld", id);
            s.type = GRAFT_TASK_CAPTION;
            if (!(s.id = strdup(b))) cv = CV_NOMEM;
        }
        if (!cv && graft_ds_push(ds, &s)) cv = CV_NOMEM;
        graft_ds_sample_free(&s);
        if (cv == CV_NOMEM) {
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        if (cv == CV_BAD) {
            ITEM_BAD("images", i);
            continue;
        }
        map[n_img].id = id;
        map[n_img].item = NULL;
        map[n_img++].idx = ds->n - 1;
    }
    qsort(map, n_img, sizeof *map, cmp_id_idx);
    for (size_t k = 1; k < n_img; k++)
        if (map[k].id == map[k - 1].id) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: image id %lld appears twice", path,
                                 map[k].id);
            goto done;
        }
    i = 0;
    for (const cJSON *a = anns->child; a; a = a->next, i++) {
        id_idx key = {0, 0, NULL}, *hit = NULL;
        const cJSON *cap = cJSON_GetObjectItemCaseSensitive(a, "caption");
        int cv = cJSON_IsObject(a) ? graft_ds_json_int(a, "image_id", &key.id, why)
                                   : graft_ds_bad(why, "not an object");
        if (!cv && !cJSON_IsString(cap))
            cv = graft_ds_bad(why, "\"caption\" is missing or not a string");
        if (!cv && !(hit = bsearch(&key, map, n_img, sizeof *map, cmp_id_idx)))
            cv = graft_ds_bad(why, "image_id %lld is not in \"images\"", key.id);
        if (!cv) {
            graft_eval_sample *s = &ds->samples[hit->idx];
            if (graft_ds_strv_push(&s->answers, &s->n_answers, cap->valuestring)) cv = CV_NOMEM;
        }
        if (cv == CV_NOMEM) {
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        if (cv == CV_BAD) ITEM_BAD("annotations", i);
    }
    /* an image without any caption cannot be scored: a bad item */
    size_t w = first;
    for (size_t k = first; k < ds->n; k++) {
        if (ds->samples[k].n_answers == 0) {
            snprintf(why, sizeof why, "image id %s has no caption", ds->samples[k].id);
            snprintf(where, sizeof where, "%s: images", path);
            graft_ds_sample_free(&ds->samples[k]);
            if ((rc = graft_ds_on_bad(ds, opts, where, why, err)) != GRAFT_OK) {
                for (size_t j = k + 1; j < ds->n; j++) graft_ds_sample_free(&ds->samples[j]);
                ds->n = w;
                goto done;
            }
            continue;
        }
        ds->samples[w++] = ds->samples[k];
    }
    ds->n = w;
done:
    free(map);
    cJSON_Delete(doc);
    return graft_ds_rollback(ds, first, rc);
}

/* ---- VQAv2 --------------------------------------------------------------------------------- */

/* questions: {"data_subtype": "val2014", "questions": [{"image_id", "question", "question_id"}]};
 * annotations (optional): {"annotations": [{"question_id", "answers": [{"answer"}...],
 * "answer_type", "question_type"}]}. Image: <subtype>/COCO_<subtype>_<image_id %012d>.jpg
 * relative to the root, where subtype is opts.split or the file's data_subtype. Category: the
 * annotation's answer_type. */
int graft_eval_read_vqav2(const char *path, const graft_eval_read_opts *opts,
                          graft_eval_dataset *ds, graft_error *err) {
    graft_eval_read_opts d;
    int rc0 = graft_ds_begin(path, ds, &opts, &d, err);
    if (rc0) return rc0;
    cJSON *doc = graft_ds_parse_doc(path, err), *adoc = NULL;
    if (!doc) return err ? err->code : GRAFT_E_FORMAT;
    size_t first = ds->n, n_ann = 0;
    id_idx *map = NULL;
    int rc = GRAFT_OK;
    char where[GRAFT_ERROR_MAX / 2], why[WHY_MAX];
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(doc, "questions");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(doc, "data_subtype");
    const char *sub = opts->split ? opts->split : cJSON_IsString(st) ? st->valuestring : NULL;
    const cJSON *anns = NULL;
    if (!cJSON_IsArray(qs)) {
        rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: no \"questions\" array", path);
        goto done;
    }
    if (!sub || !sub[0] || strlen(sub) > 32 || strchr(sub, '/')) {
        rc = graft_error_set(err, GRAFT_E_FORMAT,
                             "%s: no usable \"data_subtype\" (e.g. val2014): give the split", path);
        goto done;
    }
    if (opts->answers_path) {
        if (!(adoc = graft_ds_parse_doc(opts->answers_path, err))) {
            rc = err ? err->code : GRAFT_E_FORMAT;
            goto done;
        }
        anns = cJSON_GetObjectItemCaseSensitive(adoc, "annotations");
        if (!cJSON_IsArray(anns)) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: no \"annotations\" array",
                                 opts->answers_path);
            goto done;
        }
        map = malloc(((size_t)cJSON_GetArraySize(anns) + 1) * sizeof *map);
        if (!map) {
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        size_t i = 0; /* idx here = position in the annotations array */
        for (const cJSON *a = anns->child; a; a = a->next, i++) {
            long long qid = 0;
            if (!cJSON_IsObject(a) || graft_ds_json_int(a, "question_id", &qid, why)) {
                rc = graft_error_set(err, GRAFT_E_FORMAT,
                                     "%s: annotations[%zu]: no integer question_id",
                                     opts->answers_path, i);
                goto done;
            }
            map[n_ann].id = qid;
            map[n_ann].idx = i;
            map[n_ann++].item = a;
        }
        qsort(map, n_ann, sizeof *map, cmp_id_idx);
    }
    size_t i = 0;
    for (const cJSON *q = qs->child; q; q = q->next, i++) {
        graft_eval_sample s = {0};
        long long qid = 0, iid = 0;
        int cv = cJSON_IsObject(q) ? graft_ds_json_int(q, "question_id", &qid, why)
                                   : graft_ds_bad(why, "not an object");
        if (!cv) cv = graft_ds_json_int(q, "image_id", &iid, why);
        if (!cv) cv = graft_ds_json_str(q, "question", 1, &s.question, why);
        if (!cv) {
            char b[128];
            s.type = GRAFT_TASK_VQA;
            snprintf(b, sizeof b, "%lld", qid);
            if (!(s.id = strdup(b))) cv = CV_NOMEM;
            snprintf(b, sizeof b, "%s/COCO_%s_%012lld.jpg", sub, sub, iid);
            if (!cv && graft_ds_strv_push(&s.images, &s.n_images, b)) cv = CV_NOMEM;
        }
        if (!cv && map) {
            id_idx key = {qid, 0, NULL}, *hit = bsearch(&key, map, n_ann, sizeof *map, cmp_id_idx);
            const cJSON *a = hit ? hit->item : NULL;
            const cJSON *al = a ? cJSON_GetObjectItemCaseSensitive(a, "answers") : NULL;
            if (!a)
                cv = graft_ds_bad(why, "question_id %lld has no annotation", qid);
            else if (!cJSON_IsArray(al) || !al->child)
                cv = graft_ds_bad(why, "annotation of question_id %lld has no \"answers\"", qid);
            for (const cJSON *e = al ? al->child : NULL; !cv && e; e = e->next) {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "answer");
                if (!cJSON_IsString(t))
                    cv = graft_ds_bad(why, "question_id %lld: bad answer", qid);
                else if (graft_ds_strv_push(&s.answers, &s.n_answers, t->valuestring))
                    cv = CV_NOMEM;
            }
            if (!cv) cv = graft_ds_json_str(a, "answer_type", 0, &s.category, why);
        }
        if (!cv && graft_ds_push(ds, &s)) cv = CV_NOMEM;
        graft_ds_sample_free(&s);
        if (cv == CV_NOMEM) {
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        if (cv == CV_BAD) ITEM_BAD("questions", i);
    }
done:
    free(map);
    cJSON_Delete(adoc);
    cJSON_Delete(doc);
    return graft_ds_rollback(ds, first, rc);
}

/* ---- ScienceQA ------------------------------------------------------------------------------ */

/* problems.json: {"<pid>": {"question", "choices": [..], "answer": k, "hint", "image":
 * "image.png" | null, "split", "subject", ...}}: mcq samples for the problems of opts.split
 * ("test") that have an image, in file order. Image: <pid>/<image>; context: the hint when not
 * empty; answer: the letter 'A' + k; category: subject. */
int graft_eval_read_scienceqa(const char *path, const graft_eval_read_opts *opts,
                              graft_eval_dataset *ds, graft_error *err) {
    graft_eval_read_opts d;
    int rc0 = graft_ds_begin(path, ds, &opts, &d, err);
    if (rc0) return rc0;
    const char *split = opts->split ? opts->split : "test";
    cJSON *doc = graft_ds_parse_doc(path, err);
    if (!doc) return err ? err->code : GRAFT_E_FORMAT;
    size_t first = ds->n;
    int rc = GRAFT_OK;
    char where[GRAFT_ERROR_MAX / 2], why[WHY_MAX];
    if (!cJSON_IsObject(doc)) {
        rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: not a ScienceQA problems object", path);
        goto done;
    }
    for (const cJSON *p = doc->child; p; p = p->next) {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(p, "split");
        const cJSON *im = cJSON_GetObjectItemCaseSensitive(p, "image");
        graft_eval_sample s = {0};
        int cv = CV_OK;
        if (!cJSON_IsObject(p))
            cv = graft_ds_bad(why, "not an object");
        else if (!cJSON_IsString(sp))
            cv = graft_ds_bad(why, "\"split\" is missing or not a string");
        else if (strcmp(sp->valuestring, split) ||
                 ((!im || cJSON_IsNull(im)) && !opts->with_text_only))
            continue;
        else if (im && !cJSON_IsNull(im) &&
                 (!cJSON_IsString(im) || !im->valuestring[0] || strlen(p->string) > 64))
            cv = graft_ds_bad(why, "\"image\" is not a file name");
        if (!cv) {
            char b[256];
            s.type = GRAFT_TASK_MCQ;
            if (!(s.id = strdup(p->string))) cv = CV_NOMEM;
            if (!cv && im && !cJSON_IsNull(im)) {
                snprintf(b, sizeof b, "%s/%.160s", p->string, im->valuestring);
                if (graft_ds_strv_push(&s.images, &s.n_images, b)) cv = CV_NOMEM;
            }
        }
        if (!cv) cv = graft_ds_json_str(p, "question", 1, &s.question, why);
        if (!cv) cv = graft_ds_json_strs(p, NULL, "choices", 1, &s.choices, &s.n_choices, why);
        if (!cv && (s.n_choices < 2 || s.n_choices > 26))
            cv = graft_ds_bad(why, "needs 2..26 \"choices\" (has %d)", s.n_choices);
        long long k = -1;
        if (!cv) cv = graft_ds_json_int(p, "answer", &k, why);
        if (!cv && (k < 0 || k >= s.n_choices))
            cv = graft_ds_bad(why, "\"answer\" %lld out of range", k);
        if (!cv) {
            char letter[2] = {(char)('A' + k), 0};
            if (graft_ds_strv_push(&s.answers, &s.n_answers, letter)) cv = CV_NOMEM;
        }
        if (!cv) cv = graft_ds_json_str(p, "hint", 0, &s.context, why);
        if (!cv && s.context && !s.context[0]) {
            free(s.context);
            s.context = NULL;
        }
        if (!cv) cv = graft_ds_json_str(p, "subject", 0, &s.category, why);
        if (!cv && graft_ds_push(ds, &s)) cv = CV_NOMEM;
        graft_ds_sample_free(&s);
        if (cv == CV_NOMEM) {
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        if (cv == CV_BAD) {
            snprintf(where, sizeof where, "%s: problem \"%.64s\"", path,
                     p->string ? p->string : "?");
            if ((rc = graft_ds_on_bad(ds, opts, where, why, err)) != GRAFT_OK) goto done;
        }
    }
done:
    cJSON_Delete(doc);
    return graft_ds_rollback(ds, first, rc);
}

/* ---- LLaVA's ScienceQA question file -------------------------------------------------------- */

/* llava_test_CQM-A.json: [{"id", "image"?, "conversations": [{"from": "human", "value":
 * "<image>\nContext: ...\nQUESTION\nA. x\nB. y"}, {"from": "gpt", "value": "B"}]}]. The text is
 * LLaVA's (model_vqa_science: "<image>" removed, stripped); the options are the segments after
 * the last "\nA. ", split at "\nB. ", "\nC. ", ... in order (an option may span lines), and the
 * question is the text before them, so question + "\nA. x\nB. y" rebuilds LLaVA's prompt. */
static int llava_sqa_item(const cJSON *it, const graft_eval_read_opts *o, graft_eval_sample *s,
                          int *skip, char *why) {
    int cv;
    const cJSON *im = cJSON_GetObjectItemCaseSensitive(it, "image");
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(it, "conversations");
    *skip = 0;
    if (!cJSON_IsObject(it)) return graft_ds_bad(why, "not an object");
    if (!im && !o->with_text_only) {
        *skip = 1;
        return CV_OK;
    }
    s->type = GRAFT_TASK_MCQ;
    if ((cv = graft_ds_json_id(cJSON_GetObjectItemCaseSensitive(it, "id"), "id", &s->id, why)))
        return cv;
    if (im) {
        if ((cv = graft_ds_json_strs(it, "image", NULL, 1, &s->images, &s->n_images, why)))
            return cv;
        if ((cv = graft_ds_image_path_ok(s->images[0], why))) return cv;
    }
    const cJSON *h = cJSON_IsArray(cs) ? cs->child : NULL, *g = h ? h->next : NULL;
    const cJSON *hv = h ? cJSON_GetObjectItemCaseSensitive(h, "value") : NULL;
    const cJSON *gv = g ? cJSON_GetObjectItemCaseSensitive(g, "value") : NULL;
    if (!cJSON_IsString(hv) || !cJSON_IsString(gv))
        return graft_ds_bad(why, "\"conversations\" needs a human and a gpt \"value\"");
    /* text = value without "<image>", stripped of ASCII whitespace at both ends */
    size_t n = strlen(hv->valuestring);
    char *t = malloc(n + 1), *w = t;
    if (!t) return CV_NOMEM;
    for (const char *r = hv->valuestring; *r;) {
        if (!strncmp(r, "<image>", 7)) {
            r += 7;
            continue;
        }
        *w++ = *r++;
    }
    *w = 0;
    char *b = t, *e = w;
    while (*b && strchr(" \t\n\r\f\v", *b)) b++;
    while (e > b && strchr(" \t\n\r\f\v", e[-1])) e--;
    *e = 0;
    char *a = NULL;
    for (char *q = strstr(b, "\nA. "); q; q = strstr(q + 1, "\nA. ")) a = q;
    cv = CV_OK;
    if (!a) cv = graft_ds_bad(why, "no \"\\nA. \" option in the question");
    for (char *seg = a ? a + 4 : NULL; !cv && seg;) {
        char mark[5] = {'\n', (char)('A' + s->n_choices + 1), '.', ' ', 0};
        char *nx = s->n_choices < 25 ? strstr(seg, mark) : NULL;
        if (nx) *nx = 0;
        if (graft_ds_strv_push(&s->choices, &s->n_choices, seg)) cv = CV_NOMEM;
        seg = nx ? nx + 4 : NULL;
    }
    if (!cv && s->n_choices < 2) cv = graft_ds_bad(why, "fewer than 2 options");
    if (!cv) {
        *a = 0;
        if (!(s->question = strdup(b))) cv = CV_NOMEM;
    }
    free(t);
    if (cv) return cv;
    const char *ans = gv->valuestring;
    if (!(ans[0] >= 'A' && ans[0] < 'A' + s->n_choices && !ans[1]))
        return graft_ds_bad(why, "answer \"%.20s\" is not one of the %d option letters", ans,
                            s->n_choices);
    return graft_ds_strv_push(&s->answers, &s->n_answers, ans) ? CV_NOMEM : CV_OK;
}

int graft_eval_read_llava_scienceqa(const char *path, const graft_eval_read_opts *opts,
                                    graft_eval_dataset *ds, graft_error *err) {
    graft_eval_read_opts d;
    int rc0 = graft_ds_begin(path, ds, &opts, &d, err);
    if (rc0) return rc0;
    cJSON *doc = graft_ds_parse_doc(path, err);
    if (!doc) return err ? err->code : GRAFT_E_FORMAT;
    size_t first = ds->n, i = 0;
    int rc = GRAFT_OK;
    char where[GRAFT_ERROR_MAX / 2], why[WHY_MAX];
    if (!cJSON_IsArray(doc)) {
        rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: not a JSON array of questions", path);
        goto done;
    }
    for (const cJSON *it = doc->child; it; it = it->next, i++) {
        graft_eval_sample s = {0};
        int skip = 0, cv = llava_sqa_item(it, opts, &s, &skip, why);
        if (!cv && !skip && graft_ds_push(ds, &s)) cv = CV_NOMEM;
        graft_ds_sample_free(&s);
        if (cv == CV_NOMEM) {
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        if (cv == CV_BAD) ITEM_BAD("questions", i);
    }
done:
    cJSON_Delete(doc);
    return graft_ds_rollback(ds, first, rc);
}
