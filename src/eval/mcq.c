/* mcq.c - multiple-choice letter extraction and accuracy as LLaVA-1.5's
 * llava/eval/eval_science_qa.py: exact option letter, "X. " prefix, or exactly one match of
 * /The answer is ([A-Z])./; get_pred_idx keeps only the first len(choices) of "ABCDE". */
#include <string.h>

#include "error.h"
#include "metrics.h"

static const char options[] = "ABCDE"; /* the script's default --options */

int graft_mcq_extract(const char *pred) {
    if (!pred) return 0; /* a missing prediction is 'FAILED' */
    size_t n = strlen(pred);
    /* pred_text in args.options */
    if (n == 1 && strchr(options, pred[0])) return pred[0];
    /* len(pred_text) >= 3 and pred_text[0] in args.options and pred_text[1:3] == ". " */
    if (n >= 3 && pred[0] != '\0' && strchr(options, pred[0]) && pred[1] == '.' && pred[2] == ' ')
        return pred[0];
    /* re.findall(r'The answer is ([A-Z]).', pred_text), exactly one match wanted. Matches do not
     * overlap: the search resumes after the character that the final '.' consumed ('.' is any
     * character but a newline). */
    static const char lead[] = "The answer is ";
    const size_t ll = sizeof lead - 1;
    int found = 0, letter = 0;
    size_t i = 0;
    while (i + ll + 2 <= n) {
        const char *hit = strstr(pred + i, lead);
        if (!hit) break;
        size_t at = (size_t)(hit - pred);
        if (at + ll + 2 > n) break;
        char l = pred[at + ll], any = pred[at + ll + 1];
        if (l >= 'A' && l <= 'Z' && any != '\n') {
            found++;
            letter = l;
            i = at + ll + 2;
        } else {
            i = at + 1;
        }
    }
    return found == 1 ? letter : 0;
}

int graft_mcq_pred_idx(const char *pred, int n_choices) {
    int l = graft_mcq_extract(pred);
    if (l == 0) return -1;
    const char *p = strchr(options, l);
    if (!p) return -1;
    int idx = (int)(p - options);
    return idx < n_choices ? idx : -1; /* options[:len(choices)] */
}

int graft_mcq_score(const char *const *preds, const int *n_choices, const int *answers, size_t n,
                    int64_t *n_correct, double *accuracy, graft_error *err) {
    *n_correct = 0;
    *accuracy = 0.0;
    if (n == 0) return graft_error_set(err, GRAFT_E_INVALID, "mcq: no questions");
    int64_t c = 0;
    for (size_t i = 0; i < n; i++) c += graft_mcq_pred_idx(preds[i], n_choices[i]) == answers[i];
    *n_correct = c;
    *accuracy = (double)c / (double)n; /* the script prints correct / total * 100 */
    return GRAFT_OK;
}
