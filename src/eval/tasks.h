/* tasks.h - the table of `graft eval --task` names: the five task types and the benchmark names
 * that imply a type, a dataset reader, LLaVA-1.5's published prompt and a generation length.
 * One table (tasks.c) shared by the runner (cli_eval_run.c) and the scorer (cli_eval_score.c).
 * Read-only static data: thread-safe.
 *
 *     const graft_eval_task_info *t = graft_eval_task_find("pope");
 *     // t->type == GRAFT_TASK_YESNO, t->format == GRAFT_DS_POPE,
 *     // t->prompt_suffix == "Answer the question using a single word or phrase."
 */
#ifndef GRAFT_EVAL_TASKS_H
#define GRAFT_EVAL_TASKS_H

#include <stddef.h>

#include "dataset.h"

typedef struct {
    const char *name;           /* as given to --task: "caption", ..., "pope", "vqav2", ... */
    graft_task_type type;       /* how the answers are scored */
    graft_eval_format format;   /* the reader --data goes through (GRAFT_DS_GRAFT for a type) */
    /* Appended to the question on a new line ("Q\nSUFFIX", LLaVA-1.5's convention), or NULL.
     * A question that already ends with it (LLaVA's own question files do) gets it once. */
    const char *prompt_suffix;
    /* The whole prompt for a sample without a question (caption), or NULL. */
    const char *default_prompt;
    int max_new_tokens;         /* default generation length (LLaVA's eval scripts' defaults) */
    const char *description;    /* one line for --help */
} graft_eval_task_info;

/* The entry named `name`, or NULL when unknown. */
const graft_eval_task_info *graft_eval_task_find(const char *name);
/* The whole table (for help texts): *n receives its length. */
const graft_eval_task_info *graft_eval_task_list(size_t *n);

#endif
