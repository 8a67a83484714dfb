/* tasks.c - the `--task` table (tasks.h): task types and benchmark names with their reader,
 * LLaVA-1.5's prompt conventions and default generation lengths. */
#include "tasks.h"

#include <string.h>

/* LLaVA-1.5's short-answer suffix (scripts/v1_5/eval: VQAv2, GQA, TextVQA, POPE, MME) and its
 * ScienceQA suffix (model_vqa_science.py --single-pred-prompt). */
#define SHORT_ANSWER "Answer the question using a single word or phrase."
#define LETTER_ANSWER "Answer with the option's letter from the given choices directly."
/* LLaVA-1.5's short-caption instruction (one of the prompts of its COCO caption data). */
#define CAPTION_PROMPT "Provide a one-sentence caption for the provided image."

/* max_new_tokens: 128 is the default of LLaVA's model_vqa_loader.py (POPE, VQAv2, MME, ...) and
 * is used for the short-answer tasks; 1024 is model_vqa.py's (LLaVA-Bench). */
static const graft_eval_task_info tasks[] = {
    {"caption", GRAFT_TASK_CAPTION, GRAFT_DS_GRAFT, NULL, CAPTION_PROMPT, 128,
     "captioning, graft JSONL: BLEU-1..4, ROUGE-L, CIDEr-D (+ CHAIR)"},
    {"vqa", GRAFT_TASK_VQA, GRAFT_DS_GRAFT, SHORT_ANSWER, NULL, 128,
     "visual question answering, graft JSONL: VQAv2 accuracy"},
    {"mcq", GRAFT_TASK_MCQ, GRAFT_DS_GRAFT, LETTER_ANSWER, NULL, 128,
     "multiple choice, graft JSONL: accuracy (ScienceQA letter extraction)"},
    {"yesno", GRAFT_TASK_YESNO, GRAFT_DS_GRAFT, SHORT_ANSWER, NULL, 128,
     "yes/no, graft JSONL: POPE accuracy, precision, recall, F1, yes ratio"},
    {"open", GRAFT_TASK_OPEN, GRAFT_DS_GRAFT, NULL, NULL, 1024,
     "open-ended, graft JSONL: BLEU/ROUGE-L/CIDEr vs references, judge relative score"},
    {"pope", GRAFT_TASK_YESNO, GRAFT_DS_POPE, SHORT_ANSWER, NULL, 128,
     "POPE question files (coco_pope_*.json, llava_pope_test.jsonl)"},
    {"coco-caption", GRAFT_TASK_CAPTION, GRAFT_DS_COCO_CAPTIONS, NULL, CAPTION_PROMPT, 128,
     "COCO captions_*.json"},
    {"coco-captions", GRAFT_TASK_CAPTION, GRAFT_DS_COCO_CAPTIONS, NULL, CAPTION_PROMPT, 128,
     "same as coco-caption"},
    {"vqav2", GRAFT_TASK_VQA, GRAFT_DS_VQAV2, SHORT_ANSWER, NULL, 128,
     "VQAv2 questions JSON (+ --answers annotations JSON)"},
    {"scienceqa", GRAFT_TASK_MCQ, GRAFT_DS_SCIENCEQA, LETTER_ANSWER, NULL, 128,
     "ScienceQA problems.json (image questions of --split, default test)"},
    {"llava-scienceqa", GRAFT_TASK_MCQ, GRAFT_DS_LLAVA_SCIENCEQA, LETTER_ANSWER, NULL, 128,
     "LLaVA's ScienceQA question file (llava_test_CQM-A.json)"},
    {"llava-bench", GRAFT_TASK_OPEN, GRAFT_DS_LLAVA_BENCH, NULL, NULL, 1024,
     "LLaVA-Bench questions.jsonl (+ --answers reference answers JSONL)"},
};

const graft_eval_task_info *graft_eval_task_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++)
        if (strcmp(tasks[i].name, name) == 0) return &tasks[i];
    return NULL;
}

const graft_eval_task_info *graft_eval_task_list(size_t *n) {
    if (n) *n = sizeof tasks / sizeof tasks[0];
    return tasks;
}
