/* cli_eval_run.c - `graft eval -m LLM --mmproj MMPROJ --task T --data F --images DIR -o OUT`:
 * reads the samples, checks every image before loading a model, runs each model variant over
 * them (src/eval/run.c) writing OUT/predictions.jsonl as samples complete (--resume continues a
 * killed run), optionally asks a judge model for LLaVA-Bench reviews, then scores everything
 * (src/eval/score.c) into OUT/summary.json + summary.md and prints summary.md. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "dataset.h"
#include "graft.h"
#include "run.h"
#define GRAFT_EVAL_SCORE_INTERNAL /* to nest the "reuse" object in summary.json */
#include "score.h"
#include "tasks.h"

#define MAX_DATA 16
#define MAX_VARIANTS 16
#define FSYNC_EVERY 16

typedef struct {
    char *name, *model, *mmproj; /* owned */
} variant;

typedef struct {
    const char *model, *mmproj, *task, *data_format, *split, *images, *outdir;
    const char *data[MAX_DATA], *answers[MAX_DATA];
    int n_data, n_answers, with_text_only;
    const char *chair_instances, *chair_synonyms;
    const char *prompt_file, *chat_template, *judge, *judge_rules, *judge_context, *judge_template;
    const char *variants_file;
    variant variants[MAX_VARIANTS];
    int n_variants;
    long limit;
    int shard_i, shard_n, resume, skip_bad, max_new_tokens, loglik, norm_sum, judge_max_tokens, judge_full;
    graft_eval_run_params rp;
} eval_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: graft eval -m LLM.gguf [--mmproj MMPROJ.gguf] --task TASK --data FILE [--data FILE ...]\n"
            "                  --images DIR -o OUTDIR [options]\n"
            "       graft eval --score-only ... (see graft eval --score-only --help)\n"
            "\n"
            "  -m, --model PATH        decoder GGUF, or a Hugging Face LLaVA directory (then --mmproj is optional)\n"
            "  --mmproj PATH           vision tower + projector GGUF (llama.cpp's mmproj)\n"
            "  --task NAME             a task type (caption, vqa, mcq, yesno, open) or a benchmark:\n");
    size_t n;
    const graft_eval_task_info *t = graft_eval_task_list(&n);
    for (size_t i = 0; i < n; i++) fprintf(f, "                            %-16s %s\n", t[i].name, t[i].description);
    fprintf(f,
            "  --data FILE             samples (repeatable: the three POPE files form one set)\n"
            "  --data-format F         reader: graft, pope, coco-captions, llava-bench, vqav2, scienceqa,\n"
            "                          llava-scienceqa, llava-questions (default: the task's)\n"
            "  --answers FILE          LLaVA-Bench reference answers / VQAv2 annotations; for POPE question\n"
            "                          files without labels (llava_pope_test.jsonl), the POPE label files\n"
            "                          (coco_pope_*.json, repeatable)\n"
            "  --with-text-only        ScienceQA readers: also the questions without an image\n"
            "  --chair-instances F     captions: CHAIR against COCO instances (--chair-synonyms F)\n"
            "  --split S               ScienceQA split / VQAv2 image folder\n"
            "  --images DIR            root of the samples' image paths (default: the first --data file's folder)\n"
            "  -o, --output DIR        predictions.jsonl, summary.json, summary.md go here\n"
            "  --limit N               only the first N samples (of the shard)\n"
            "  --shard i/n             only the samples whose index %% n == i\n"
            "  --resume                continue OUTDIR/predictions.jsonl: skip the samples it has\n"
            "  --skip-bad              skip malformed sample lines (counted in the summary)\n"
            "  --prompt-file F         prompt suffixes: JSON {\"vqa\": \"...\", \"mcq\": ...} or a text file\n"
            "                          (its text is the suffix of every task type)\n"
            "  --chat-template T       vicuna_v1 (default unless the model names one), llama2, mistral,\n"
            "                          chatml, none\n"
            "  --max-new-tokens N      generation cap (default: the task's)\n"
            "  --temp T  --seed S      sampling (default greedy: temp 0)\n"
            "  --mcq-mode M            generate (default) or loglik: rank the options by log-likelihood\n"
            "  --mcq-norm N            loglik: mean (per token, default) or sum picks the letter\n"
            "  --no-reuse              recompute every prompt and image from scratch (the baseline)\n"
            "  -t, --threads N         (default 2)\n"
            "  -c, --ctx-size N        context length (default: the model's)\n"
            "  --image-mode M          pad (default), crop or resize\n"
            "  --variant NAME:LLM[:MMPROJ]  run several models (repeatable); OUTDIR/NAME/ each, and a\n"
            "                          side-by-side OUTDIR/summary.md + summary.csv\n"
            "  --variants FILE         the same from JSON {\"variants\": [{\"name\", \"model\", \"mmproj\"}]}\n"
            "  --judge JUDGE.gguf      open tasks: LLaVA-Bench review by a local judge model\n"
            "  --judge-rules F         LLaVA's rule.json (required with --judge)\n"
            "  --judge-context F       LLaVA-Bench context JSONL ({\"image\", \"caption\"}) for [Context]\n"
            "  --judge-template T      the judge's chat template (default: its own, else vicuna_v1)\n"
            "  --judge-max-tokens N    (default 64); the judge stops after its first line unless\n"
            "  --judge-full            is given\n");
}

static int parse_long(const char *flag, const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, "graft eval: %s expects an integer in [%ld, %ld], got '%s'\n", flag, lo, hi, v);
        return 0;
    }
    *out = x;
    return 1;
}

static int add_variant(eval_opts *o, const char *name, const char *model, const char *mmproj) {
    if (o->n_variants == MAX_VARIANTS) {
        fprintf(stderr, "graft eval: at most %d variants\n", MAX_VARIANTS);
        return 0;
    }
    for (const char *c = name; *c; c++)
        if (*c == '/' || !strcmp(name, ".") || !strcmp(name, "..")) {
            fprintf(stderr, "graft eval: variant name '%s' must be a plain directory name\n", name);
            return 0;
        }
    for (int i = 0; i < o->n_variants; i++)
        if (!strcmp(o->variants[i].name, name)) {
            fprintf(stderr, "graft eval: two variants are named '%s'\n", name);
            return 0;
        }
    variant *v = &o->variants[o->n_variants++];
    v->name = strdup(name);
    v->model = strdup(model);
    v->mmproj = mmproj && *mmproj ? strdup(mmproj) : NULL;
    return 1;
}

/* NAME:LLM[:MMPROJ] */
static int parse_variant(eval_opts *o, const char *spec) {
    char *s = strdup(spec), *c1 = strchr(s, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    int ok = c1 && c1 > s && c1[1] && c1[1] != ':';
    if (ok) {
        *c1 = 0;
        if (c2) *c2 = 0;
        ok = add_variant(o, s, c1 + 1, c2 ? c2 + 1 : NULL);
    } else {
        fprintf(stderr, "graft eval: --variant expects NAME:LLM[:MMPROJ], got '%s'\n", spec);
    }
    free(s);
    return ok;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0, r;
    char *buf = malloc(cap + 1);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *t = realloc(buf, (cap *= 2) + 1);
            if (!t) free(buf);
            buf = t;
        }
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (len) *len = n;
    return buf;
}

static int parse_variants_file(eval_opts *o, const char *path) {
    char *text = read_file(path, NULL);
    if (!text) {
        fprintf(stderr, "graft eval: %s: %s\n", path, strerror(errno));
        return 0;
    }
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "variants");
    int ok = cJSON_IsArray(arr) && cJSON_GetArraySize(arr) > 0;
    if (!ok) fprintf(stderr, "graft eval: %s: expected {\"variants\": [{\"name\", \"model\", \"mmproj\"}, ...]}\n", path);
    int k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        if (!ok) break;
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name"), *m = cJSON_GetObjectItemCaseSensitive(it, "model"),
                    *p = cJSON_GetObjectItemCaseSensitive(it, "mmproj");
        if (!cJSON_IsString(n) || !cJSON_IsString(m) || (p && !cJSON_IsString(p) && !cJSON_IsNull(p))) {
            fprintf(stderr, "graft eval: %s: variants[%d] needs string \"name\" and \"model\" (and \"mmproj\")\n",
                    path, k);
            ok = 0;
        } else {
            ok = add_variant(o, n->valuestring, m->valuestring, cJSON_IsString(p) ? p->valuestring : NULL);
        }
        k++;
    }
    cJSON_Delete(root);
    return ok;
}

static int parse_args(int argc, char **argv, eval_opts *o) {
    o->rp = graft_eval_run_default_params();
    o->shard_n = 1;
    o->limit = -1;
    o->judge_max_tokens = 64;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define IS(x) (!strcmp(a, x))
#define NEXT() (i + 1 < argc ? argv[++i] : (fprintf(stderr, "graft eval: %s needs a value\n", a), (char *)NULL))
        const char *v = NULL;
        long x = 0;
        int ok = 1;
        if (IS("-h") || IS("--help")) {
            usage(stdout);
            return -1;
        } else if (IS("-m") || IS("--model")) ok = (o->model = NEXT()) != NULL;
        else if (IS("--mmproj")) ok = (o->mmproj = NEXT()) != NULL;
        else if (IS("--task")) ok = (o->task = NEXT()) != NULL;
        else if (IS("--data")) {
            if (o->n_data == MAX_DATA) {
                fprintf(stderr, "graft eval: at most %d --data files\n", MAX_DATA);
                return 0;
            }
            ok = (o->data[o->n_data++] = NEXT()) != NULL;
        } else if (IS("--data-format")) ok = (o->data_format = NEXT()) != NULL;
        else if (IS("--answers")) {
            if (o->n_answers == MAX_DATA) {
                fprintf(stderr, "graft eval: at most %d --answers files\n", MAX_DATA);
                return 0;
            }
            ok = (o->answers[o->n_answers++] = NEXT()) != NULL;
        } else if (IS("--with-text-only")) o->with_text_only = 1;
        else if (IS("--chair-instances")) ok = (o->chair_instances = NEXT()) != NULL;
        else if (IS("--chair-synonyms")) ok = (o->chair_synonyms = NEXT()) != NULL;
        else if (IS("--split")) ok = (o->split = NEXT()) != NULL;
        else if (IS("--images")) ok = (o->images = NEXT()) != NULL;
        else if (IS("-o") || IS("--output")) ok = (o->outdir = NEXT()) != NULL;
        else if (IS("--limit")) ok = (v = NEXT()) && parse_long(a, v, 0, 1L << 40, &o->limit);
        else if (IS("--shard")) {
            ok = (v = NEXT()) != NULL;
            int pi, pn, used = 0;
            if (ok && (sscanf(v, "%d/%d%n", &pi, &pn, &used) != 2 || v[used] || pn < 1 || pi < 0 || pi >= pn)) {
                fprintf(stderr, "graft eval: --shard expects i/n with 0 <= i < n, got '%s'\n", v);
                ok = 0;
            }
            if (ok) o->shard_i = pi, o->shard_n = pn;
        } else if (IS("--resume")) o->resume = 1;
        else if (IS("--skip-bad")) o->skip_bad = 1;
        else if (IS("--prompt-file")) ok = (o->prompt_file = NEXT()) != NULL;
        else if (IS("--chat-template")) ok = (o->chat_template = NEXT()) != NULL;
        else if (IS("--max-new-tokens")) {
            ok = (v = NEXT()) && parse_long(a, v, 1, 1 << 20, &x);
            o->max_new_tokens = (int)x;
        } else if (IS("--temp")) {
            char *end;
            ok = (v = NEXT()) != NULL;
            if (ok) o->rp.temp = strtof(v, &end);
            if (ok && (*end || end == v)) fprintf(stderr, "graft eval: --temp expects a number\n"), ok = 0;
        } else if (IS("--seed") || IS("-s")) {
            ok = (v = NEXT()) && parse_long(a, v, 0, 0x7fffffffL, &x);
            o->rp.seed = (uint64_t)x;
        } else if (IS("--mcq-mode")) {
            ok = (v = NEXT()) != NULL;
            if (ok && !strcmp(v, "loglik")) o->loglik = 1;
            else if (ok && !strcmp(v, "generate")) o->loglik = 0;
            else if (ok) fprintf(stderr, "graft eval: --mcq-mode takes generate or loglik\n"), ok = 0;
        } else if (IS("--mcq-norm")) {
            ok = (v = NEXT()) != NULL;
            if (ok && !strcmp(v, "sum")) o->norm_sum = 1;
            else if (ok && !strcmp(v, "mean")) o->norm_sum = 0;
            else if (ok) fprintf(stderr, "graft eval: --mcq-norm takes mean or sum\n"), ok = 0;
        } else if (IS("--no-reuse")) o->rp.reuse = 0;
        else if (IS("-t") || IS("--threads")) {
            ok = (v = NEXT()) && parse_long(a, v, 1, 1024, &x);
            o->rp.n_threads = (int)x;
        } else if (IS("-c") || IS("--ctx-size")) {
            ok = (v = NEXT()) && parse_long(a, v, 0, 1 << 24, &x);
            o->rp.n_ctx = (int)x;
        } else if (IS("--image-mode")) {
            ok = (v = NEXT()) != NULL;
            if (ok && !strcmp(v, "pad")) o->rp.image_mode = GRAFT_MM_MODE_PAD;
            else if (ok && !strcmp(v, "crop")) o->rp.image_mode = GRAFT_MM_MODE_CROP;
            else if (ok && !strcmp(v, "resize")) o->rp.image_mode = GRAFT_MM_MODE_RESIZE;
            else if (ok) fprintf(stderr, "graft eval: --image-mode takes pad, crop or resize\n"), ok = 0;
        } else if (IS("--variant")) ok = (v = NEXT()) && parse_variant(o, v);
        else if (IS("--variants")) ok = (v = NEXT()) && parse_variants_file(o, v);
        else if (IS("--judge")) ok = (o->judge = NEXT()) != NULL;
        else if (IS("--judge-rules")) ok = (o->judge_rules = NEXT()) != NULL;
        else if (IS("--judge-context")) ok = (o->judge_context = NEXT()) != NULL;
        else if (IS("--judge-template")) ok = (o->judge_template = NEXT()) != NULL;
        else if (IS("--judge-max-tokens")) {
            ok = (v = NEXT()) && parse_long(a, v, 1, 1 << 20, &x);
            o->judge_max_tokens = (int)x;
        } else if (IS("--judge-full")) o->judge_full = 1;
        else {
            fprintf(stderr, "graft eval: unknown option '%s' (see graft eval --help)\n", a);
            ok = 0;
        }
        if (!ok) return 0;
#undef IS
#undef NEXT
    }
    if (!o->task || !o->n_data || !o->outdir) {
        fprintf(stderr, "graft eval: --task, --data and -o are required (see graft eval --help)\n");
        return 0;
    }
    if (!o->model && !o->n_variants) {
        fprintf(stderr, "graft eval: no model given (-m LLM.gguf, or --variant / --variants)\n");
        return 0;
    }
    if (o->model && o->n_variants) {
        fprintf(stderr, "graft eval: give either -m (one model) or --variant/--variants, not both\n");
        return 0;
    }
    if (o->judge && !o->judge_rules) {
        fprintf(stderr, "graft eval: --judge needs --judge-rules (LLaVA's rule.json)\n");
        return 0;
    }
    return 1;
}

/* ---- prompts: --prompt-file ---------------------------------------------------------------- */

/* Fills suffix[type] (pointers into *keep, owned by the caller) from a JSON object
 * {"vqa": "...", ...} or a plain text file (its text, without the final newline, for every type). */
static int load_prompt_file(const char *path, graft_eval_run_params *rp, char **keep, cJSON **json) {
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "graft eval: %s: %s\n", path, strerror(errno));
        return 0;
    }
    const char *p = text;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (*p == '{') {
        cJSON *root = cJSON_Parse(text);
        free(text);
        if (!cJSON_IsObject(root)) {
            fprintf(stderr, "graft eval: %s: not a valid JSON object\n", path);
            cJSON_Delete(root);
            return 0;
        }
        const cJSON *it;
        cJSON_ArrayForEach(it, root) {
            int t = graft_task_parse(it->string);
            if (t < 0 || !cJSON_IsString(it)) {
                fprintf(stderr, "graft eval: %s: key \"%s\": expected a task type (caption, vqa, mcq, yesno, open) "
                                "with a string value\n", path, it->string);
                cJSON_Delete(root);
                return 0;
            }
            rp->suffix[t] = it->valuestring;
            if (t == GRAFT_TASK_CAPTION && !rp->caption_prompt) rp->caption_prompt = it->valuestring;
        }
        *json = root;
        return 1;
    }
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) text[--len] = 0;
    for (int t = 0; t < GRAFT_TASK_COUNT; t++) rp->suffix[t] = text;
    *keep = text;
    return 1;
}

/* ---- predictions.jsonl ----------------------------------------------------------------------- */

/* Reads an existing predictions file for --resume: preds[index] for each complete line; a torn
 * or unparsable LAST line (a kill mid-write) is cut off the file. A bad line elsewhere, or a line
 * whose index/id does not match the dataset, is an error. *n_done counts lines kept. */
static int resume_read(const char *path, const graft_eval_dataset *ds, const size_t *orig, char **preds,
                       size_t *n_done, size_t *n_other) {
    size_t len;
    char *text = read_file(path, &len);
    *n_done = *n_other = 0;
    if (!text) return errno == ENOENT ? 1 : (fprintf(stderr, "graft eval: %s: %s\n", path, strerror(errno)), 0);
    size_t off = 0, good_end = 0;
    int line_no = 0, ok = 1;
    while (ok && off < len) {
        line_no++;
        char *nl = memchr(text + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - text) : len;
        int last = !nl || end + 1 >= len;
        text[end] = 0;
        const char *l = text + off;
        while (*l == ' ' || *l == '\t' || *l == '\r') l++;
        if (!*l) { /* blank line */
            off = end + 1;
            if (nl) good_end = off;
            continue;
        }
        cJSON *o = nl ? cJSON_Parse(text + off) : NULL;
        const cJSON *ix = cJSON_GetObjectItemCaseSensitive(o, "index"), *id = cJSON_GetObjectItemCaseSensitive(o, "id"),
                    *pr = cJSON_GetObjectItemCaseSensitive(o, "prediction");
        if (!cJSON_IsNumber(ix) || !cJSON_IsString(id) || !cJSON_IsString(pr)) {
            if (last) { /* torn by an interruption: drop it, it is redone */
                cJSON_Delete(o);
                break;
            }
            fprintf(stderr, "graft eval: %s:%d: not a predictions line ({\"index\", \"id\", \"prediction\"})\n", path,
                    line_no);
            ok = 0;
        } else {
            double d = ix->valuedouble;
            size_t k = 0; /* position of dataset index d in the selection (orig is increasing) */
            if (d >= 0 && d == (double)(size_t)d) {
                size_t lo = 0, hi = ds->n;
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    if (orig[mid] < (size_t)d) lo = mid + 1;
                    else hi = mid;
                }
                k = lo;
            }
            if (d < 0 || d != (double)(size_t)d || k == ds->n || orig[k] != (size_t)d) {
                (*n_other)++; /* another --shard / --limit selected it: kept in the file, not scored */
                good_end = end + 1;
            } else if (strcmp(ds->samples[k].id, id->valuestring)) {
                fprintf(stderr, "graft eval: %s:%d: sample %s at index %.0f is %s in this dataset: was the file "
                                "written for other --data?\n", path, line_no, id->valuestring, d, ds->samples[k].id);
                ok = 0;
            } else {
                if (!preds[k]) (*n_done)++;
                free(preds[k]);
                preds[k] = strdup(pr->valuestring);
                good_end = end + 1;
            }
        }
        cJSON_Delete(o);
        off = end + 1;
    }
    free(text);
    if (ok && good_end < len && truncate(path, (off_t)good_end)) {
        fprintf(stderr, "graft eval: %s: cannot cut the torn last line: %s\n", path, strerror(errno));
        ok = 0;
    }
    if (ok && good_end < len) fprintf(stderr, "graft eval: %s: dropped a torn last line (redone)\n", path);
    return ok;
}

typedef struct {
    FILE *f;
    const char *path, *task, *label;
    const graft_eval_dataset *ds;
    const size_t *orig;
    char **preds;
    size_t done, total, since_sync;
    double t0, last_print;
    size_t last_done; /* done at the last printed line */
    int tty;
    cJSON **loglik; /* (ds->n) per-sample loglik detail kept for the caller, or NULL */
} writer;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fmt_eta(double s, char *out, size_t cap) {
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600) snprintf(out, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(out, cap, "%ldm%02lds", t / 60, t % 60);
    else snprintf(out, cap, "%lds", t);
}

static void progress(writer *w, int final) {
    double t = now_s(), el = t - w->t0;
    size_t total = w->total ? w->total : 1;
    int due = w->tty || final || t - w->last_print >= 10 ||
              (w->done * 10 / total != (w->done - 1) * 10 / total);
    if (!due || (!w->tty && final && w->last_done == w->done)) return;
    w->last_print = t;
    w->last_done = w->done;
    double rate = el > 0 ? w->done / el : 0;
    char eta[32];
    fmt_eta(rate > 0 ? (w->total - w->done) / rate : 0, eta, sizeof eta);
    fprintf(stderr, "%seval %s: %zu/%zu  %.2f samples/s  ETA %s%s", w->tty ? "\r" : "", w->label, w->done, w->total,
            rate, eta, w->tty ? (final ? "\033[K\n" : "\033[K") : "\n"); /* clear the old line's tail */
    fflush(stderr);
}

static int on_sample(void *user, size_t index, const graft_eval_result *res, graft_error *err) {
    writer *w = user;
    const graft_eval_sample *s = &w->ds->samples[index];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", s->id);
    cJSON_AddNumberToObject(o, "index", (double)w->orig[index]);
    cJSON_AddStringToObject(o, "task", w->task);
    cJSON_AddStringToObject(o, "type", graft_task_name(s->type));
    if (s->category) cJSON_AddStringToObject(o, "category", s->category);
    cJSON_AddStringToObject(o, "prediction", res->prediction);
    if (res->n_choices) {
        cJSON *ll = cJSON_AddObjectToObject(o, "loglik");
        cJSON_AddItemToObject(ll, "sum", cJSON_CreateDoubleArray(res->ll_sum, res->n_choices));
        cJSON_AddItemToObject(ll, "mean", cJSON_CreateDoubleArray(res->ll_mean, res->n_choices));
        cJSON_AddItemToObject(ll, "n_tokens", cJSON_CreateIntArray(res->ll_ntok, res->n_choices));
        char b1[2] = {(char)('A' + res->best_sum), 0}, b2[2] = {(char)('A' + res->best_mean), 0};
        cJSON_AddStringToObject(ll, "best_sum", b1);
        cJSON_AddStringToObject(ll, "best_mean", b2);
    } else {
        cJSON_AddNumberToObject(o, "n_tokens", res->n_gen_tokens);
    }
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    int ok = line && fprintf(w->f, "%s\n", line) > 0 && fflush(w->f) == 0;
    free(line);
    if (ok && ++w->since_sync >= FSYNC_EVERY) {
        w->since_sync = 0;
        ok = fsync(fileno(w->f)) == 0;
    }
    if (!ok) {
        err->code = GRAFT_E_IO;
        snprintf(err->msg, sizeof err->msg, "%s: write failed: %s", w->path, strerror(errno));
        return GRAFT_E_IO;
    }
    free(w->preds[index]);
    w->preds[index] = strdup(res->prediction);
    w->done++;
    progress(w, 0);
    return GRAFT_OK;
}

/* ---- judge --------------------------------------------------------------------------------- */

/* image -> caption text as eval_gpt_review_bench.py joins it: '\n'.join(inst['caption']) (a list
 * joined by lines; a string, as Python does, one character per line); "captions" is accepted
 * when "caption" is absent (caps_boxes files). */
static char *context_caption(const cJSON *ctx_list, const char *image) {
    const cJSON *it;
    cJSON_ArrayForEach(it, ctx_list) {
        const cJSON *im = cJSON_GetObjectItemCaseSensitive(it, "image");
        if (!cJSON_IsString(im) || strcmp(im->valuestring, image)) continue;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "caption");
        if (!c) c = cJSON_GetObjectItemCaseSensitive(it, "captions");
        size_t cap = 1;
        char *out = NULL;
        if (cJSON_IsString(c)) {
            const char *s = c->valuestring;
            size_t n = strlen(s);
            out = malloc(2 * n + 1);
            size_t k = 0;
            for (size_t i = 0; i < n;) { /* one UTF-8 character per line */
                size_t l = 1;
                while (i + l < n && ((unsigned char)s[i + l] & 0xC0) == 0x80) l++;
                if (k) out[k++] = '\n';
                memcpy(out + k, s + i, l);
                k += l;
                i += l;
            }
            out[k] = 0;
        } else if (cJSON_IsArray(c)) {
            const cJSON *x;
            cJSON_ArrayForEach(x, c) if (cJSON_IsString(x)) cap += strlen(x->valuestring) + 1;
            out = calloc(cap, 1);
            cJSON_ArrayForEach(x, c) if (cJSON_IsString(x)) {
                if (*out || x != c->child) strcat(out, "\n");
                strcat(out, x->valuestring);
            }
        }
        return out;
    }
    return NULL;
}

static cJSON *read_jsonl(const char *path) {
    char *text = read_file(path, NULL);
    if (!text) {
        fprintf(stderr, "graft eval: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    cJSON *arr = cJSON_CreateArray();
    int line = 0, ok = 1;
    for (char *p = text, *nl; ok && p && *p; p = nl ? nl + 1 : NULL) {
        line++;
        nl = strchr(p, '\n');
        if (nl) *nl = 0;
        const char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (!*q) continue;
        cJSON *o = cJSON_Parse(p);
        if (!o) {
            fprintf(stderr, "graft eval: %s:%d: not valid JSON\n", path, line);
            ok = 0;
        }
        cJSON_AddItemToArray(arr, o);
    }
    free(text);
    if (!ok) cJSON_Delete(arr);
    return ok ? arr : NULL;
}

/* Reviews every run sample that has a prediction: OUTDIR/reviews.jsonl, and the score pairs into
 * jref/jmod (NaN where not reviewed). */
static int run_judge(const eval_opts *o, const graft_eval_dataset *sub, char **preds, const char *dir, double *jref,
                     double *jmod) {
    char *rules_text = read_file(o->judge_rules, NULL);
    cJSON *rules = rules_text ? cJSON_Parse(rules_text) : NULL;
    free(rules_text);
    if (!cJSON_IsObject(rules)) {
        fprintf(stderr, "graft eval: %s: not a JSON object of rules\n", o->judge_rules);
        cJSON_Delete(rules);
        return 0;
    }
    cJSON *ctx_list = o->judge_context ? read_jsonl(o->judge_context) : NULL;
    if (o->judge_context && !ctx_list) {
        cJSON_Delete(rules);
        return 0;
    }
    /* every category must have a rule before the judge loads */
    int ok = 1;
    for (size_t i = 0; ok && i < sub->n; i++) {
        char key[256];
        snprintf(key, sizeof key, "llava_bench_%s", sub->samples[i].category ? sub->samples[i].category : "");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(rules, key);
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r, "role")) ||
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r, "prompt"))) {
            fprintf(stderr, "graft eval: %s: no rule \"%s\" with \"role\" and \"prompt\" (sample %s)\n", o->judge_rules,
                    key, sub->samples[i].id);
            ok = 0;
        }
    }
    graft_error e;
    graft_model *jm = NULL;
    graft_eval_judge *j = NULL;
    if (ok && (graft_model_load(o->judge, NULL, &jm, &e) ||
               graft_eval_judge_new(jm, o->judge_template, o->rp.n_threads, o->rp.n_ctx, &j, &e))) {
        fprintf(stderr, "graft eval: judge: %s\n", e.msg);
        ok = 0;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/reviews.jsonl", dir);
    FILE *f = ok ? fopen(path, "w") : NULL;
    if (ok && !f) {
        fprintf(stderr, "graft eval: %s: %s\n", path, strerror(errno));
        ok = 0;
    }
    int idx = 0;
    double t0 = now_s();
    for (size_t i = 0; ok && i < sub->n; i++) {
        const graft_eval_sample *s = &sub->samples[i];
        if (!preds[i]) continue;
        char key[256];
        snprintf(key, sizeof key, "llava_bench_%s", s->category ? s->category : "");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(rules, key);
        const char *role = cJSON_GetObjectItemCaseSensitive(r, "role")->valuestring;
        const char *prompt = cJSON_GetObjectItemCaseSensitive(r, "prompt")->valuestring;
        char *cap = ctx_list && s->n_images ? context_caption(ctx_list, s->images[0]) : NULL;
        if (ctx_list && !cap) fprintf(stderr, "graft eval: %s: no context for image %s (sample %s): empty [Context]\n",
                                      o->judge_context, s->n_images ? s->images[0] : "-", s->id);
        char *content = graft_eval_judge_content(cap ? cap : "", s->question ? s->question : "",
                                                 s->n_answers ? s->answers[0] : "", preds[i], role, prompt);
        char *review = NULL;
        double pair[2];
        if (graft_eval_judge_review(j, content, o->judge_max_tokens, o->judge_full, &review, &e)) {
            fprintf(stderr, "graft eval: judge, sample %s: %s\n", s->id, e.msg);
            ok = 0;
        } else {
            graft_eval_judge_parse(review, pair);
            jref[i] = pair[0];
            jmod[i] = pair[1];
            cJSON *js = cJSON_CreateObject();
            cJSON_AddNumberToObject(js, "id", ++idx);
            char *end;
            long long qid = strtoll(s->id, &end, 10);
            const int numeric = *s->id && !*end && s->id[0] != '+' && (s->id[0] != '0' || !s->id[1]) &&
                                llabs(qid) < (1LL << 53); /* LLaVA's ids are numbers */
            static const char *const id_keys[] = {"question_id", "answer1_id", "answer2_id"};
            for (int k = 0; k < 3; k++) {
                if (numeric) cJSON_AddNumberToObject(js, id_keys[k], (double)qid);
                else cJSON_AddStringToObject(js, id_keys[k], s->id);
            }
            cJSON_AddStringToObject(js, "category", key);
            cJSON_AddStringToObject(js, "content", review);
            cJSON_AddItemToObject(js, "tuple", cJSON_CreateDoubleArray(pair, 2));
            char *line = cJSON_PrintUnformatted(js);
            cJSON_Delete(js);
            if (!line || fprintf(f, "%s\n", line) < 0 || fflush(f)) ok = 0;
            free(line);
        }
        free(review);
        free(content);
        free(cap);
    }
    if (f && (fsync(fileno(f)) || fclose(f))) ok = 0;
    if (ok) fprintf(stderr, "graft eval: judge reviewed %d answers in %.1f s -> %s\n", idx, now_s() - t0, path);
    graft_eval_judge_free(j);
    graft_model_free(jm);
    cJSON_Delete(ctx_list);
    cJSON_Delete(rules);
    return ok;
}

/* ---- one variant ------------------------------------------------------------------------- */

static int mkdirs(const char *dir) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) && errno != EEXIST) return 0;
            *p = '/';
        }
    return !mkdir(buf, 0777) || errno == EEXIST;
}

/* Runs one model over sub (its samples' indices in the view), writing dir/predictions.jsonl,
 * the summaries; preds (sub->n) filled; *sum_out scored. */
static int run_variant(const eval_opts *o, const char *label, const char *model_path, const char *mmproj,
                       const graft_eval_dataset *sub, const size_t *orig, size_t n_skipped, const char *dir, char **preds,
                       graft_eval_summary **sum_out) {
    graft_error e;
    char path[4200];
    if (!mkdirs(dir)) {
        fprintf(stderr, "graft eval: cannot create %s: %s\n", dir, strerror(errno));
        return 0;
    }
    snprintf(path, sizeof path, "%s/predictions.jsonl", dir);
    size_t n_done = 0, n_other = 0;
    if (o->resume) {
        if (!resume_read(path, sub, orig, preds, &n_done, &n_other)) return 0;
        if (n_other) fprintf(stderr, "graft eval: %s: %zu lines of other samples (--shard/--limit) kept, not scored\n",
                             path, n_other);
    } else {
        struct stat st;
        if (!stat(path, &st) && st.st_size > 0) {
            fprintf(stderr, "graft eval: %s exists: continue it with --resume, or remove it\n", path);
            return 0;
        }
    }
    size_t *todo = malloc(sizeof *todo * (sub->n + 1)), n_todo = 0;
    for (size_t i = 0; i < sub->n; i++)
        if (!preds[i]) todo[n_todo++] = i;
    if (o->resume) fprintf(stderr, "graft eval: %s: %zu of %zu samples done, %zu to run\n", label, n_done, sub->n, n_todo);

    graft_model *m = NULL;
    graft_vision *v = NULL;
    graft_eval_runner *r = NULL;
    int ok = 1, need_vision = 0;
    for (size_t i = 0; i < n_todo; i++) need_vision |= sub->samples[todo[i]].n_images > 0;
    if (need_vision && !mmproj && graft_path_has_vision(model_path)) mmproj = model_path; /* HF LLaVA dir */
    double wall0 = now_s();
    if (n_todo) {
        if (need_vision && !mmproj) {
            fprintf(stderr, "graft eval: %s: the samples have images: --mmproj (the vision tower) is needed "
                            "(or a Hugging Face LLaVA directory as the model)\n", label);
            ok = 0;
        }
        if (ok && graft_model_load(model_path, NULL, &m, &e)) {
            fprintf(stderr, "graft eval: %s\n", e.msg);
            ok = 0;
        }
        if (ok && mmproj && graft_vision_load(mmproj, &v, &e)) {
            fprintf(stderr, "graft eval: %s\n", e.msg);
            ok = 0;
        }
        if (ok && graft_eval_runner_new(m, v, &o->rp, &r, &e)) {
            fprintf(stderr, "graft eval: %s\n", e.msg);
            ok = 0;
        }
    }
    FILE *f = ok && n_todo ? fopen(path, "a") : NULL;
    if (ok && n_todo && !f) {
        fprintf(stderr, "graft eval: %s: %s\n", path, strerror(errno));
        ok = 0;
    }
    writer w = {.f = f, .path = path, .task = o->task, .label = label, .ds = sub, .orig = orig, .preds = preds,
                .total = n_todo, .t0 = now_s(), .tty = isatty(2)};
    w.last_print = w.t0;
    if (ok && n_todo) {
        if (graft_eval_run(r, sub, todo, n_todo, on_sample, &w, &e)) {
            if (w.tty) fputc('\n', stderr);
            fprintf(stderr, "graft eval: %s\n", e.msg);
            ok = 0;
        } else {
            progress(&w, 1);
        }
    }
    if (f && (fsync(fileno(f)) || fclose(f))) {
        fprintf(stderr, "graft eval: %s: %s\n", path, strerror(errno));
        ok = 0;
    }
    double wall = now_s() - wall0;
    graft_eval_run_stats st = {0};
    if (r) st = *graft_eval_runner_stats(r);
    graft_eval_runner_free(r);
    graft_vision_free(v);
    graft_model_free(m);
    free(todo);
    if (!ok) return 0;

    /* the judge, then the score over every prediction (resumed + new) */
    double *jref = NULL, *jmod = NULL;
    int judged = 0;
    int is_open = 0;
    for (size_t i = 0; i < sub->n; i++) is_open |= sub->samples[i].type == GRAFT_TASK_OPEN;
    if (o->judge && is_open) {
        jref = malloc(sizeof *jref * (sub->n + 1));
        jmod = malloc(sizeof *jmod * (sub->n + 1));
        for (size_t i = 0; i < sub->n; i++) jref[i] = jmod[i] = NAN;
        if (!run_judge(o, sub, preds, dir, jref, jmod)) ok = 0;
        judged = ok;
    }
    graft_eval_score_opts so = graft_eval_score_default_opts();
    so.task = o->task;
    so.mcq_mode = o->loglik ? "loglik" : "generate";
    so.chair_instances = o->chair_instances;
    so.chair_synonyms = o->chair_synonyms;
    if (judged) so.judge_ref = jref, so.judge_model = jmod;
    graft_eval_summary *sum = NULL;
    if (ok && graft_eval_score(sub, (const char *const *)preds, &so, &sum, &e)) {
        fprintf(stderr, "graft eval: scoring: %s\n", e.msg);
        ok = 0;
    }
    free(jref);
    free(jmod);
    if (!ok) return 0;
    graft_eval_summary_set_string(sum, "model", model_path);
    if (mmproj) graft_eval_summary_set_string(sum, "mmproj", mmproj);
    graft_eval_summary_set_number(sum, "n_skipped_bad", (double)n_skipped);
    graft_eval_summary_set_number(sum, "n_resumed", (double)n_done);
    if (o->loglik) graft_eval_summary_set_string(sum, "mcq_norm", o->norm_sum ? "sum" : "mean");
    if (n_todo) {
        cJSON *ru = cJSON_CreateObject();
        cJSON_AddBoolToObject(ru, "enabled", o->rp.reuse);
        cJSON_AddNumberToObject(ru, "samples", (double)st.n_samples);
        cJSON_AddNumberToObject(ru, "image_encodes", (double)st.image_encodes);
        cJSON_AddNumberToObject(ru, "image_encodes_avoided", (double)st.image_encodes_avoided);
        cJSON_AddNumberToObject(ru, "prefill_tokens", (double)st.prefill_tokens);
        cJSON_AddNumberToObject(ru, "prefill_tokens_avoided", (double)st.prefill_tokens_avoided);
        cJSON_AddNumberToObject(ru, "generated_tokens", (double)st.gen_tokens);
        cJSON_AddNumberToObject(ru, "wall_s", wall);
        cJSON_AddNumberToObject(ru, "run_s", st.wall_ms / 1e3);
        cJSON_AddNumberToObject(ru, "vision_s", st.vision_ms / 1e3);
        cJSON_AddNumberToObject(ru, "prefill_s", st.prefill_ms / 1e3);
        cJSON_AddNumberToObject(ru, "generate_s", st.gen_ms / 1e3);
        cJSON_DeleteItemFromObjectCaseSensitive(sum->root, "reuse");
        cJSON_AddItemToObject(sum->root, "reuse", ru);
        fprintf(stderr,
                "graft eval: %s: %lld samples in %.1f s (reuse %s): %lld image encodes, %lld avoided; %lld prefill "
                "positions, %lld avoided; %lld tokens generated\n",
                label, (long long)st.n_samples, wall, o->rp.reuse ? "on" : "off", (long long)st.image_encodes,
                (long long)st.image_encodes_avoided, (long long)st.prefill_tokens,
                (long long)st.prefill_tokens_avoided, (long long)st.gen_tokens);
    }
    if (graft_eval_summary_write(sum, dir, &e)) {
        fprintf(stderr, "graft eval: %s\n", e.msg);
        graft_eval_summary_free(sum);
        return 0;
    }
    *sum_out = sum;
    return 1;
}

/* ---- main -------------------------------------------------------------------------------- */

int cli_eval_run(int argc, char **argv) {
    eval_opts o;
    memset(&o, 0, sizeof o);
    int pa = parse_args(argc, argv, &o);
    int status = 1;
    graft_eval_dataset ds = {0}, sub = {0};
    char *prompt_text = NULL, **preds[MAX_VARIANTS] = {0};
    size_t *orig = NULL;
    cJSON *prompt_json = NULL;
    graft_eval_summary *sums[MAX_VARIANTS] = {0};
    graft_error e;
    if (pa <= 0) {
        status = pa < 0 ? 0 : 2;
        goto done;
    }
    const graft_eval_task_info *task = graft_eval_task_find(o.task);
    if (!task) {
        fprintf(stderr, "graft eval: unknown task '%s' (see graft eval --help)\n", o.task);
        status = 2;
        goto done;
    }
    /* prompts: each type's published suffix, the caption prompt, generation caps */
    for (int t = 0; t < GRAFT_TASK_COUNT; t++) {
        const graft_eval_task_info *ti = graft_eval_task_find(graft_task_name((graft_task_type)t));
        o.rp.suffix[t] = ti ? ti->prompt_suffix : NULL;
        o.rp.max_new_tokens[t] = o.max_new_tokens ? o.max_new_tokens : ti ? ti->max_new_tokens : 0;
    }
    o.rp.suffix[task->type] = task->prompt_suffix;
    if (!o.max_new_tokens && task->max_new_tokens) o.rp.max_new_tokens[task->type] = task->max_new_tokens;
    const graft_eval_task_info *cap_info = graft_eval_task_find("caption");
    o.rp.caption_prompt = task->default_prompt ? task->default_prompt : cap_info ? cap_info->default_prompt : NULL;
    if (o.prompt_file) {
        const char *keep_cap = o.rp.caption_prompt;
        o.rp.caption_prompt = NULL;
        if (!load_prompt_file(o.prompt_file, &o.rp, &prompt_text, &prompt_json)) goto done;
        if (!o.rp.caption_prompt) o.rp.caption_prompt = keep_cap;
    }
    o.rp.chat_template = o.chat_template;
    o.rp.mcq_loglik = o.loglik;
    o.rp.mcq_norm = o.norm_sum ? GRAFT_EVAL_NORM_SUM : GRAFT_EVAL_NORM_MEAN;
    /* no --images: image paths are relative to the (first) data file's folder, as graft world writes them */
    char images_dir[4096];
    if (!o.images) {
        const char *slash = strrchr(o.data[0], '/');
        if (!slash) snprintf(images_dir, sizeof images_dir, ".");
        else snprintf(images_dir, sizeof images_dir, "%.*s", (int)(slash - o.data[0]) ? (int)(slash - o.data[0]) : 1,
                      o.data[0]);
        o.images = images_dir;
    }
    o.rp.images_root = o.images;

    /* samples */
    int fmt = o.data_format ? graft_eval_format_parse(o.data_format) : (int)task->format;
    if (fmt < 0) {
        fprintf(stderr, "graft eval: unknown --data-format '%s'\n", o.data_format);
        status = 2;
        goto done;
    }
    /* LLaVA's ScienceQA prompt (llava_test_CQM-A.json): "Context: {hint}\n{question}\nA. ..." */
    if (fmt == GRAFT_DS_SCIENCEQA) o.rp.context_prefix = "Context: ";
    const int pope_labels = fmt == GRAFT_DS_POPE && o.n_answers > 0;
    if (!pope_labels && o.n_answers > 1) {
        fprintf(stderr, "graft eval: one --answers file for this task (several only for POPE label files)\n");
        status = 2;
        goto done;
    }
    graft_eval_read_opts ro = graft_eval_read_default_opts();
    ro.skip_bad = o.skip_bad;
    ro.answers_path = !pope_labels && o.n_answers ? o.answers[0] : NULL;
    ro.split = o.split;
    ro.with_text_only = o.with_text_only;
    ro.task = graft_task_name(task->type);
    for (int i = 0; i < o.n_data; i++)
        if (graft_eval_read((graft_eval_format)fmt, o.data[i], &ro, &ds, &e)) {
            fprintf(stderr, "graft eval: %s\n", e.msg);
            goto done;
        }
    for (int i = 0; pope_labels && i < o.n_answers; i++)
        if (graft_eval_pope_attach_labels(&ds, o.answers[i], NULL, &e)) {
            fprintf(stderr, "graft eval: %s\n", e.msg);
            goto done;
        }
    if (ds.n_skipped) fprintf(stderr, "graft eval: skipped %zu bad samples, first: %s\n", ds.n_skipped, ds.first_skip);
    /* the shard, then the limit: a view of the selected samples (shallow copies) */
    sub.samples = malloc(sizeof *sub.samples * (ds.n + 1));
    orig = malloc(sizeof *orig * (ds.n + 1));
    for (size_t i = 0; sub.samples && orig && i < ds.n; i++)
        if ((long)(i % (size_t)o.shard_n) == o.shard_i && (o.limit < 0 || (long)sub.n < o.limit))
            orig[sub.n] = i, sub.samples[sub.n++] = ds.samples[i];
    if (!sub.n) {
        fprintf(stderr, "graft eval: no samples to run (%zu read; --shard %d/%d, --limit %ld)\n", ds.n, o.shard_i,
                o.shard_n, o.limit);
        goto done;
    }
    if (graft_eval_check_images(&sub, o.images, NULL, &e)) {
        fprintf(stderr, "graft eval: %s\n", e.msg);
        goto done;
    }
    if (!o.n_variants) add_variant(&o, "model", o.model, o.mmproj);
    const int single = o.model != NULL;
    int ok = 1;
    for (int k = 0; ok && k < o.n_variants; k++) {
        char dir[4096], label[512];
        if (single) snprintf(dir, sizeof dir, "%s", o.outdir);
        else snprintf(dir, sizeof dir, "%s/%s", o.outdir, o.variants[k].name);
        if (single) snprintf(label, sizeof label, "%s", o.task);
        else snprintf(label, sizeof label, "%s [%s]", o.task, o.variants[k].name);
        preds[k] = calloc(sub.n, sizeof(char *));
        ok = run_variant(&o, label, o.variants[k].model, o.variants[k].mmproj, &sub, orig, ds.n_skipped, dir, preds[k],
                         &sums[k]);
    }
    if (!ok) goto done;
    if (single) {
        char *md = graft_eval_summary_markdown(sums[0]);
        if (md) fputs(md, stdout);
        free(md);
    } else {
        const char *names[MAX_VARIANTS];
        const char *const *pv[MAX_VARIANTS];
        for (int k = 0; k < o.n_variants; k++) names[k] = o.variants[k].name, pv[k] = (const char *const *)preds[k];
        if (!mkdirs(o.outdir) || graft_eval_compare_write(&sub, names, (const graft_eval_summary *const *)sums, pv,
                                                          o.n_variants, o.outdir, &e)) {
            fprintf(stderr, "graft eval: comparison: %s\n", e.msg);
            goto done;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/summary.md", o.outdir);
        char *md = read_file(path, NULL);
        if (md) fputs(md, stdout);
        free(md);
    }
    status = 0;
done:
    for (int k = 0; k < o.n_variants; k++) {
        if (preds[k]) graft_eval_preds_free(preds[k], sub.n);
        graft_eval_summary_free(sums[k]);
        free(o.variants[k].name);
        free(o.variants[k].model);
        free(o.variants[k].mmproj);
    }
    free(sub.samples);
    free(orig);
    graft_eval_dataset_free(&ds);
    free(prompt_text);
    cJSON_Delete(prompt_json);
    return status;
}
