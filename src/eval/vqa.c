/* vqa.c - VQA accuracy as the official VQAv2 evaluation (GT-Vision-Lab/VQA vqaEval.py @a013f00):
 * its answer normalisation (punctuation, number words, articles, contractions) applied only when
 * the human answers differ, min(#matching others / 3, 1) averaged over the leave-one-out subsets,
 * then per question type and answer type. Byte strings; ASCII case folding and \d (see docs/eval.md). */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "metrics.h"

/* vqaEval.py's contractions table, in its spelling (keys are matched after lower(), so the
 * capitalised ones never match; 'somebody'd' -> 'somebodyd' is the script's own entry) */
static const char *const contractions[][2] = {
    {"aint", "ain't"}, {"arent", "aren't"}, {"cant", "can't"}, {"couldve", "could've"},
    {"couldnt", "couldn't"}, {"couldn'tve", "couldn't've"}, {"couldnt've", "couldn't've"},
    {"didnt", "didn't"}, {"doesnt", "doesn't"}, {"dont", "don't"}, {"hadnt", "hadn't"},
    {"hadnt've", "hadn't've"}, {"hadn'tve", "hadn't've"}, {"hasnt", "hasn't"},
    {"havent", "haven't"}, {"hed", "he'd"}, {"hed've", "he'd've"}, {"he'dve", "he'd've"},
    {"hes", "he's"}, {"howd", "how'd"}, {"howll", "how'll"}, {"hows", "how's"},
    {"Id've", "I'd've"}, {"I'dve", "I'd've"}, {"Im", "I'm"}, {"Ive", "I've"}, {"isnt", "isn't"},
    {"itd", "it'd"}, {"itd've", "it'd've"}, {"it'dve", "it'd've"}, {"itll", "it'll"},
    {"let's", "let's"}, {"maam", "ma'am"}, {"mightnt", "mightn't"}, {"mightnt've", "mightn't've"},
    {"mightn'tve", "mightn't've"}, {"mightve", "might've"}, {"mustnt", "mustn't"},
    {"mustve", "must've"}, {"neednt", "needn't"}, {"notve", "not've"}, {"oclock", "o'clock"},
    {"oughtnt", "oughtn't"}, {"ow's'at", "'ow's'at"}, {"'ows'at", "'ow's'at"},
    {"'ow'sat", "'ow's'at"}, {"shant", "shan't"}, {"shed've", "she'd've"},
    {"she'dve", "she'd've"}, {"she's", "she's"}, {"shouldve", "should've"},
    {"shouldnt", "shouldn't"}, {"shouldnt've", "shouldn't've"}, {"shouldn'tve", "shouldn't've"},
    {"somebody'd", "somebodyd"}, {"somebodyd've", "somebody'd've"},
    {"somebody'dve", "somebody'd've"}, {"somebodyll", "somebody'll"},
    {"somebodys", "somebody's"}, {"someoned", "someone'd"}, {"someoned've", "someone'd've"},
    {"someone'dve", "someone'd've"}, {"someonell", "someone'll"}, {"someones", "someone's"},
    {"somethingd", "something'd"}, {"somethingd've", "something'd've"},
    {"something'dve", "something'd've"}, {"somethingll", "something'll"}, {"thats", "that's"},
    {"thered", "there'd"}, {"thered've", "there'd've"}, {"there'dve", "there'd've"},
    {"therere", "there're"}, {"theres", "there's"}, {"theyd", "they'd"},
    {"theyd've", "they'd've"}, {"they'dve", "they'd've"}, {"theyll", "they'll"},
    {"theyre", "they're"}, {"theyve", "they've"}, {"twas", "'twas"}, {"wasnt", "wasn't"},
    {"wed've", "we'd've"}, {"we'dve", "we'd've"}, {"weve", "we've"}, {"werent", "weren't"},
    {"whatll", "what'll"}, {"whatre", "what're"}, {"whats", "what's"}, {"whatve", "what've"},
    {"whens", "when's"}, {"whered", "where'd"}, {"wheres", "where's"}, {"whereve", "where've"},
    {"whod", "who'd"}, {"whod've", "who'd've"}, {"who'dve", "who'd've"}, {"wholl", "who'll"},
    {"whos", "who's"}, {"whove", "who've"}, {"whyll", "why'll"}, {"whyre", "why're"},
    {"whys", "why's"}, {"wont", "won't"}, {"wouldve", "would've"}, {"wouldnt", "wouldn't"},
    {"wouldnt've", "wouldn't've"}, {"wouldn'tve", "wouldn't've"}, {"yall", "y'all"},
    {"yall'll", "y'all'll"}, {"y'allll", "y'all'll"}, {"yall'd've", "y'all'd've"},
    {"y'alld've", "y'all'd've"}, {"y'all'dve", "y'all'd've"}, {"youd", "you'd"},
    {"youd've", "you'd've"}, {"you'dve", "you'd've"}, {"youll", "you'll"}, {"youre", "you're"},
    {"youve", "you've"},
};

static const char *const number_words[][2] = {
    {"none", "0"}, {"zero", "0"}, {"one", "1"}, {"two", "2"}, {"three", "3"}, {"four", "4"},
    {"five", "5"}, {"six", "6"}, {"seven", "7"}, {"eight", "8"}, {"nine", "9"}, {"ten", "10"},
};

/* the punctuation list, in the script's order */
static const char punct[] = ";/[]\"{}()=+\\_-><@`,?!";

static int is_digit(char c) { return c >= '0' && c <= '9'; }
/* Python str.split()/strip() whitespace, ASCII part */
static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

/* processPunctuation: t (len n) -> out (>= n+1 bytes); returns the output length */
static size_t process_punctuation(const char *t, size_t n, char *out) {
    int comma_digit = 0; /* re.search(r'(\d)(\,)(\d)', t) */
    for (size_t i = 0; i + 2 < n && !comma_digit; i++)
        comma_digit = is_digit(t[i]) && t[i + 1] == ',' && is_digit(t[i + 2]);
    /* per character: delete (p+' ' or ' '+p in the ORIGINAL text, or a digit,digit anywhere),
     * else replace by a space; the list's characters are distinct, so one pass does it */
    char mode[256] = {0}; /* 0 keep, 1 delete, 2 space */
    for (const char *p = punct; *p; p++) {
        int del = comma_digit;
        for (size_t i = 0; i < n && !del; i++)
            if (t[i] == *p && ((i + 1 < n && t[i + 1] == ' ') || (i > 0 && t[i - 1] == ' '))) del = 1;
        mode[(unsigned char)*p] = del ? 1 : 2;
    }
    char *tmp = out;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int md = mode[(unsigned char)t[i]];
        if (md == 1) continue;
        tmp[m++] = md == 2 ? ' ' : t[i];
    }
    /* periodStrip.sub("", s, re.UNICODE): re.UNICODE (32) is the count: delete the first 32
     * periods not followed by a digit (look-ahead on the text before deletion) */
    size_t w = 0;
    int deleted = 0;
    for (size_t i = 0; i < m; i++) {
        char c = tmp[i];
        if (c == '.' && deleted < 32 && !(i + 1 < m && is_digit(tmp[i + 1]))) {
            deleted++;
            continue;
        }
        tmp[w++] = c;
    }
    tmp[w] = '\0';
    return w;
}

static const char *lookup(const char *const (*table)[2], size_t n, const char *w, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(table[i][0]) == len && memcmp(table[i][0], w, len) == 0) return table[i][1];
    return NULL;
}

/* processDigitArticle: lower(), split(), number words, drop a/an/the, contractions, ' '.join */
static long process_digit_article(char *t, char *out, size_t cap) {
    for (char *p = t; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    size_t o = 0;
    const char *p = t;
    for (;;) {
        while (*p && is_space(*p)) p++;
        if (!*p) break;
        const char *w = p;
        while (*p && !is_space(*p)) p++;
        size_t len = (size_t)(p - w);
        const char *num = lookup(number_words, sizeof number_words / sizeof *number_words, w, len);
        if (num) { w = num; len = strlen(num); }
        if ((len == 1 && w[0] == 'a') || (len == 2 && !memcmp(w, "an", 2)) ||
            (len == 3 && !memcmp(w, "the", 3)))
            continue;
        const char *c = lookup(contractions, sizeof contractions / sizeof *contractions, w, len);
        if (c) { w = c; len = strlen(c); }
        if (o + (o > 0) + len + 1 > cap) return -1;
        if (o > 0) out[o++] = ' ';
        memcpy(out + o, w, len);
        o += len;
    }
    if (cap < 1) return -1;
    out[o] = '\0';
    return (long)o;
}

long graft_vqa_normalize(const char *in, char *out, size_t cap) {
    size_t n = strlen(in);
    char *tmp = malloc(n + 1);
    if (!tmp) return -1;
    process_punctuation(in, n, tmp);
    long r = process_digit_article(tmp, out, cap);
    free(tmp);
    return r;
}

/* replace('\n',' '), replace('\t',' '), strip() into a malloc'd string */
static char *clean(const char *s) {
    size_t n = strlen(s);
    while (n > 0 && (is_space(s[n - 1]))) n--;
    size_t b = 0;
    while (b < n && is_space(s[b])) b++;
    char *r = malloc(n - b + 1);
    if (!r) return NULL;
    for (size_t i = b; i < n; i++) r[i - b] = (s[i] == '\n' || s[i] == '\t') ? ' ' : s[i];
    r[n - b] = '\0';
    return r;
}

/* clean() then, when `norm`, the full normalisation; malloc'd */
static char *prepare(const char *s, int norm) {
    char *c = clean(s);
    if (!c || !norm) return c;
    size_t cap = 2 * strlen(c) + 2; /* each word grows by at most 1 byte ('twas), words >= 1 byte */
    char *o = malloc(cap);
    if (o && graft_vqa_normalize(c, o, cap) < 0) { free(o); o = NULL; }
    free(c);
    return o;
}

double graft_vqa_question_acc(const char *const *gt, int n_gt, const char *pred, graft_error *err) {
    if (n_gt <= 0) return graft_error_set(err, GRAFT_E_INVALID, "vqa: no ground-truth answers"), -1.0;
    char **g = calloc((size_t)n_gt, sizeof *g);
    char *p = NULL;
    double result = -1.0;
    if (!g) goto oom;
    for (int i = 0; i < n_gt; i++)
        if (!(g[i] = clean(gt[i]))) goto oom;
    int differ = 0; /* len(set(gtAnswers)) > 1, after strip */
    for (int i = 1; i < n_gt && !differ; i++) differ = strcmp(g[i], g[0]) != 0;
    if (differ) {
        for (int i = 0; i < n_gt; i++) {
            char *nrm = prepare(g[i], 1);
            if (!nrm) goto oom;
            free(g[i]);
            g[i] = nrm;
        }
    }
    if (!(p = prepare(pred, differ))) goto oom;
    double sum = 0.0;
    for (int i = 0; i < n_gt; i++) {
        int match = 0;
        for (int j = 0; j < n_gt; j++)
            if (j != i && strcmp(g[j], p) == 0) match++;
        double acc = (double)match / 3.0;
        sum += acc < 1.0 ? acc : 1.0;
    }
    result = sum / (double)n_gt;
    goto done;
oom:
    graft_error_set(err, GRAFT_E_NOMEM, "vqa: out of memory");
done:
    if (g)
        for (int i = 0; i < n_gt; i++) free(g[i]);
    free(g);
    free(p);
    return result;
}

/* ---- aggregation -------------------------------------------------------------------------- */

typedef struct { graft_vqa_group *v; int n; double *sums; } groups;

/* adds acc to the group named `name` (created in order of first appearance) */
static int group_add(groups *gs, const char *name, double acc) {
    if (!name) name = "";
    for (int i = 0; i < gs->n; i++)
        if (strcmp(gs->v[i].name, name) == 0) {
            gs->v[i].n++;
            gs->sums[i] += acc;
            return 0;
        }
    graft_vqa_group *nv = realloc(gs->v, sizeof *nv * (size_t)(gs->n + 1));
    if (!nv) return -1;
    gs->v = nv;
    double *ns = realloc(gs->sums, sizeof *ns * (size_t)(gs->n + 1));
    if (!ns) return -1;
    gs->sums = ns;
    char *nm = strdup(name);
    if (!nm) return -1;
    gs->v[gs->n] = (graft_vqa_group){nm, 1, 0.0};
    gs->sums[gs->n] = acc;
    gs->n++;
    return 0;
}

static void group_finish(groups *gs) {
    /* round(100*float(sum(accs))/len(accs), n) without the rounding */
    for (int i = 0; i < gs->n; i++) gs->v[i].accuracy = 100.0 * gs->sums[i] / (double)gs->v[i].n;
    free(gs->sums);
    gs->sums = NULL;
}

void graft_vqa_result_free(graft_vqa_result *r) {
    if (!r) return;
    free(r->per_question);
    for (int i = 0; i < r->n_qtype; i++) free(r->per_qtype[i].name);
    for (int i = 0; i < r->n_atype; i++) free(r->per_atype[i].name);
    free(r->per_qtype);
    free(r->per_atype);
    memset(r, 0, sizeof *r);
}

int graft_vqa_score(const graft_vqa_item *items, size_t n, graft_vqa_result *out, graft_error *err) {
    memset(out, 0, sizeof *out);
    if (n == 0) return graft_error_set(err, GRAFT_E_INVALID, "vqa: no questions");
    groups qt = {0}, at = {0};
    out->per_question = malloc(sizeof(double) * n);
    if (!out->per_question) goto oom;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double acc = graft_vqa_question_acc(items[i].gt, items[i].n_gt, items[i].pred, err);
        if (acc < 0) {
            free(qt.sums); free(at.sums);
            out->per_qtype = qt.v; out->n_qtype = qt.n;
            out->per_atype = at.v; out->n_atype = at.n;
            graft_vqa_result_free(out);
            return err ? err->code : GRAFT_E_INVALID;
        }
        out->per_question[i] = 100.0 * acc;
        sum += acc;
        if (group_add(&qt, items[i].question_type, acc) || group_add(&at, items[i].answer_type, acc))
            goto oom;
    }
    group_finish(&qt);
    group_finish(&at);
    out->n = (int64_t)n;
    out->overall = 100.0 * sum / (double)n;
    out->per_qtype = qt.v; out->n_qtype = qt.n;
    out->per_atype = at.v; out->n_atype = at.n;
    return GRAFT_OK;
oom:
    free(qt.sums); free(at.sums);
    out->per_qtype = qt.v; out->n_qtype = qt.n;
    out->per_atype = at.v; out->n_atype = at.n;
    graft_vqa_result_free(out);
    return graft_error_set(err, GRAFT_E_NOMEM, "vqa: out of memory");
}
