/* fuzz_eval.c - any bytes as an evaluation data file in each format graft reads (graft JSONL,
 * POPE, LLaVA-Bench, LLaVA question files, COCO captions, VQAv2, ScienceQA, LLaVA ScienceQA), with
 * and without --skip-bad: samples come out well-formed, or a "file:line: problem" error. */
#include <string.h>

#include "dataset.h"
#include "fuzz_util.h"
#include "graft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int fmt = data[0] % GRAFT_DS_COUNT, skip_bad = (data[0] / GRAFT_DS_COUNT) & 1;
    const char *path = fz_file(data + 1, size - 1);
    graft_eval_read_opts o = graft_eval_read_default_opts();
    o.skip_bad = skip_bad;
    graft_eval_dataset ds = {0};
    graft_error err;
    if (graft_eval_read((graft_eval_format)fmt, path, &o, &ds, &err) == GRAFT_OK) {
        for (size_t i = 0; i < ds.n; i++) {
            const graft_eval_sample *s = &ds.samples[i];
            if (!s->id || (unsigned)s->type >= GRAFT_TASK_COUNT) abort();
            fz_touch(s->id, strlen(s->id));
            for (int k = 0; k < s->n_images; k++) fz_touch(s->images[k], strlen(s->images[k]));
            for (int k = 0; k < s->n_choices; k++) fz_touch(s->choices[k], strlen(s->choices[k]));
            for (int k = 0; k < s->n_answers; k++) fz_touch(s->answers[k], strlen(s->answers[k]));
            if (s->question) fz_touch(s->question, strlen(s->question));
        }
    }
    graft_eval_dataset_free(&ds);
    return 0;
}
