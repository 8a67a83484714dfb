/* cli_eval_score.c - `graft eval --score-only`: scores an existing answer file (graft's
 * predictions.jsonl, LLaVA's answer JSONL, COCO caption results) against a dataset, or summarises
 * LLaVA-Bench review files, and prints the same summary.md as a full run (or the JSON). The work
 * is in src/eval/score.h; this file only reads the options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dataset.h"
#include "score.h"
#include "tasks.h"

#define MAX_FILES 16

static void usage(FILE *f) {
    fprintf(f,
            "usage: graft eval --score-only --task TASK --data FILE --predictions ANSWERS [options]\n"
            "       graft eval --score-only --reviews REVIEW.jsonl [--json] [-o OUTDIR]\n"
            "\n"
            "Scores an answer file without running a model and prints summary.md (docs/eval.md,\n"
            "\"Summaries and --score-only\"). ANSWERS is graft's predictions.jsonl, LLaVA's answer\n"
            "JSONL ({\"question_id\", \"text\"}) or COCO caption results ([{\"image_id\", \"caption\"}]).\n"
            "\n"
            "options:\n"
            "  --task TASK          a task type or a benchmark (list below)\n"
            "  --data FILE          the questions / ground truth (repeatable: POPE's three files)\n"
            "  --data-format F      reader for --data instead of the task's: graft, pope,\n"
            "                       coco-captions, llava-bench, vqav2, scienceqa, llava-scienceqa,\n"
            "                       llava-questions\n"
            "  --answers FILE       reference answers: LLaVA-Bench answers JSONL, VQAv2 annotations;\n"
            "                       for pope, label files (coco_pope_<split>.json, repeatable) paired\n"
            "                       by position with the --data questions of that split, as\n"
            "                       LLaVA's eval_pope.py pairs them\n"
            "  --split S            ScienceQA split (default test); VQAv2 image folder\n"
            "  --with-text-only     ScienceQA readers: also the questions without an image\n"
            "  --predictions FILE   the answers to score\n"
            "  --reviews FILE       LLaVA-Bench review JSONL: alone, summarize_gpt_review.py's\n"
            "                       numbers; with --predictions, the judge scores per sample\n"
            "  --chair-instances F  captions: COCO instances JSON (or caps_boxes JSONL) for CHAIR\n"
            "  --chair-synonyms F   CHAIR synonym list (default ../shared/eval/chair/synonyms.txt)\n"
            "  --no-open-metrics    open: no BLEU/ROUGE-L/CIDEr against the reference answers\n"
            "  --skip-bad           skip (and count) malformed lines and unknown ids\n"
            "  -o OUTDIR            also write OUTDIR/summary.json and OUTDIR/summary.md\n"
            "  --json               print summary.json instead of summary.md\n"
            "  -h, --help           this text\n"
            "\n"
            "tasks:\n");
    size_t n;
    const graft_eval_task_info *t = graft_eval_task_list(&n);
    for (size_t i = 0; i < n; i++) fprintf(f, "  %-16s %s\n", t[i].name, t[i].description);
}

static int fail(const graft_error *e) {
    fprintf(stderr, "graft eval: %s\n", e->msg);
    return 1;
}

static int emit(graft_eval_summary *s, int json, const char *outdir) {
    graft_error e;
    if (outdir && graft_eval_summary_write(s, outdir, &e)) return fail(&e);
    char *text = json ? graft_eval_summary_json(s) : graft_eval_summary_markdown(s);
    if (!text) {
        fprintf(stderr, "graft eval: out of memory\n");
        return 1;
    }
    fputs(text, stdout);
    free(text);
    return fflush(stdout) == 0 ? 0 : 1;
}

int cli_eval_score(int argc, char **argv) {
    const char *task = NULL, *fmt_name = NULL, *split = NULL, *pred = NULL, *reviews = NULL;
    const char *chair_inst = NULL, *chair_syn = NULL, *outdir = NULL;
    const char *data[MAX_FILES], *answers[MAX_FILES];
    int n_data = 0, n_answers = 0, json = 0, skip_bad = 0, open_metrics = 1, text_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--score-only")) {
            continue;
        } else if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        } else if (!strcmp(a, "--skip-bad")) {
            skip_bad = 1;
            continue;
        } else if (!strcmp(a, "--with-text-only")) {
            text_only = 1;
            continue;
        } else if (!strcmp(a, "--no-open-metrics")) {
            open_metrics = 0;
            continue;
        }
        if (!val) {
            fprintf(stderr, "graft eval: %s needs a value (see graft eval --score-only --help)\n", a);
            return 2;
        }
        if (!strcmp(a, "--task")) task = val;
        else if (!strcmp(a, "--data") && n_data < MAX_FILES) data[n_data++] = val;
        else if (!strcmp(a, "--answers") && n_answers < MAX_FILES) answers[n_answers++] = val;
        else if (!strcmp(a, "--data-format")) fmt_name = val;
        else if (!strcmp(a, "--split")) split = val;
        else if (!strcmp(a, "--predictions")) pred = val;
        else if (!strcmp(a, "--reviews")) reviews = val;
        else if (!strcmp(a, "--chair-instances")) chair_inst = val;
        else if (!strcmp(a, "--chair-synonyms")) chair_syn = val;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) outdir = val;
        else {
            fprintf(stderr, "graft eval: unknown or repeated too often: %s (see --help)\n", a);
            return 2;
        }
        i++;
    }
    graft_error e;
    if (reviews && !pred) { /* summarize_gpt_review.py */
        graft_eval_summary *s;
        if (graft_eval_score_reviews(reviews, &s, &e)) return fail(&e);
        int rc = emit(s, json, outdir);
        graft_eval_summary_free(s);
        return rc;
    }
    if (!task || !n_data || !pred) {
        fprintf(stderr, "graft eval: --score-only needs --task, --data and --predictions "
                        "(or --reviews alone); see --help\n");
        return 2;
    }
    const graft_eval_task_info *ti = graft_eval_task_find(task);
    if (!ti) {
        fprintf(stderr, "graft eval: unknown task \"%s\" (see --help)\n", task);
        return 2;
    }
    int fmt = fmt_name ? graft_eval_format_parse(fmt_name) : (int)ti->format;
    if (fmt < 0) {
        fprintf(stderr, "graft eval: unknown --data-format \"%s\"\n", fmt_name);
        return 2;
    }
    int pope_labels = fmt == GRAFT_DS_POPE && n_answers > 0;
    if (!pope_labels && n_answers > 1) {
        fprintf(stderr, "graft eval: one --answers file for this task\n");
        return 2;
    }

    graft_eval_dataset ds = {0};
    graft_eval_read_opts ro = graft_eval_read_default_opts();
    ro.skip_bad = skip_bad;
    ro.split = split;
    ro.with_text_only = text_only;
    ro.answers_path = (!pope_labels && n_answers) ? answers[0] : NULL;
    ro.task = graft_task_name(ti->type);
    char **preds = NULL;
    double *jr = NULL, *jm = NULL;
    graft_eval_summary *s = NULL;
    size_t n_skipped_pred = 0;
    int rc = 1;
    for (int i = 0; i < n_data; i++)
        if (graft_eval_read((graft_eval_format)fmt, data[i], &ro, &ds, &e)) goto err;
    for (int i = 0; pope_labels && i < n_answers; i++)
        if (graft_eval_pope_attach_labels(&ds, answers[i], NULL, &e)) goto err;
    if (graft_eval_read_predictions_ex(pred, &ds, skip_bad, &preds, &n_skipped_pred, &e)) goto err;
    if (reviews && graft_eval_read_judge_scores(reviews, &ds, &jr, &jm, &e)) goto err;
    graft_eval_score_opts so = graft_eval_score_default_opts();
    so.task = task;
    so.open_metrics = open_metrics;
    so.judge_ref = jr;
    so.judge_model = jm;
    so.chair_instances = chair_inst;
    so.chair_synonyms = chair_syn;
    if (graft_eval_score(&ds, (const char *const *)preds, &so, &s, &e)) goto err;
    if ((n_skipped_pred && graft_eval_summary_set_number(s, "n_skipped_predictions", (double)n_skipped_pred)) ||
        graft_eval_summary_set_string(s, "predictions", pred)) {
        fprintf(stderr, "graft eval: out of memory\n");
        goto out;
    }
    rc = emit(s, json, outdir);
    goto out;
err:
    fail(&e);
out:
    graft_eval_summary_free(s);
    graft_eval_preds_free(preds, ds.n);
    free(jr);
    free(jm);
    graft_eval_dataset_free(&ds);
    return rc;
}
