/* pope.c - POPE yes/no scoring exactly as LLaVA's llava/eval/eval_pope.py: its answer parsing
 * (first sentence, commas dropped, words split on ' ', "no" iff a word is No/no/not) and its
 * TP/FP/TN/FN, accuracy, precision, recall, F1 and yes-ratio in the same double operations. */
#include <string.h>

#include "error.h"
#include "metrics.h"

/* word [w, w+len) after commas are removed equals s? Commas inside the word are skipped. */
static int word_is(const char *w, size_t len, const char *s) {
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (w[i] == ',') continue;
        if (s[k] == '\0' || s[k] != w[i]) return 0;
        k++;
    }
    return s[k] == '\0';
}

int graft_pope_is_yes(const char *answer) {
    /* text.split('.')[0]: the part before the first '.' */
    size_t end = strcspn(answer, ".");
    /* text.replace(',', '').split(' '): words are the runs between single spaces, commas are
     * deleted first so "no," is "no" and ", " does not create a word boundary by itself */
    size_t start = 0;
    for (size_t i = 0; i <= end; i++) {
        if (i == end || answer[i] == ' ') {
            const char *w = answer + start;
            size_t len = i - start;
            if (word_is(w, len, "No") || word_is(w, len, "no") || word_is(w, len, "not")) return 0;
            start = i + 1;
        }
    }
    return 1;
}

int graft_pope_score(const char *const *answers, size_t n_answers, const char *const *labels,
                     size_t n_labels, graft_pope_result *out, graft_error *err) {
    memset(out, 0, sizeof *out);
    if (n_answers == 0) return graft_error_set(err, GRAFT_E_INVALID, "pope: no answers");
    int64_t n_yes = 0;
    for (size_t i = 0; i < n_answers; i++) n_yes += graft_pope_is_yes(answers[i]);
    size_t n = n_answers < n_labels ? n_answers : n_labels;
    for (size_t i = 0; i < n; i++) {
        int pred = graft_pope_is_yes(answers[i]);
        int label = strcmp(labels[i], "no") != 0;
        if (pred && label) out->tp++;
        else if (pred && !label) out->fp++;
        else if (!pred && !label) out->tn++;
        else out->fn++;
    }
    out->n_answers = (int64_t)n_answers;
    out->n_pairs = (int64_t)n;
    out->yes_ratio = (double)n_yes / (double)n_answers;
    double tp = (double)out->tp, fp = (double)out->fp, tn = (double)out->tn, fn = (double)out->fn;
    /* Python raises ZeroDivisionError on these; graft reports 0 instead */
    out->precision = (tp + fp) > 0 ? tp / (tp + fp) : 0.0;
    out->recall = (tp + fn) > 0 ? tp / (tp + fn) : 0.0;
    out->f1 = (out->precision + out->recall) > 0
                  ? 2 * out->precision * out->recall / (out->precision + out->recall) : 0.0;
    out->accuracy = n > 0 ? (tp + tn) / (tp + tn + fp + fn) : 0.0;
    return GRAFT_OK;
}
