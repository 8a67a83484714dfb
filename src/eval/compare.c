/* compare.c - side-by-side table of several variants scored on the same dataset: every numeric
 * metric of their summaries (per category too) as rows, one column per variant, plus pairwise
 * per-sample agreement of their normalised answers; written as summary.md and summary.csv. */
#define GRAFT_EVAL_SCORE_INTERNAL
#include "score.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caption.h"
#include "error.h"
#include "metrics.h"
#include "strbuf.h"

#define NOMEM(err) graft_error_set(err, GRAFT_E_NOMEM, "compare: out of memory")

typedef struct {
    char **path; /* "accuracy", "categories.random.f1", "types.vqa.accuracy" */
    int n, cap;
} paths;

static int paths_add(paths *p, const char *s) {
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->path[i], s)) return 0;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 64;
        char **v = realloc(p->path, sizeof *v * (size_t)p->cap);
        if (!v) return -1;
        p->path = v;
    }
    return (p->path[p->n] = strdup(s)) ? (p->n++, 0) : -1;
}

/* numeric leaves of o under prefix, in document order */
static int collect(paths *p, const cJSON *o, const char *prefix) {
    char buf[512];
    for (const cJSON *c = o->child; c; c = c->next) {
        snprintf(buf, sizeof buf, "%s%s%s", prefix, *prefix ? "." : "", c->string);
        if (cJSON_IsNumber(c) && paths_add(p, buf)) return -1;
        if (cJSON_IsObject(c) && collect(p, c, buf)) return -1;
    }
    return 0;
}

/* The normalised answer two variants are compared on, malloc'd ("" for NULL input is never
 * asked: missing answers are left out). */
static char *norm_answer(const graft_eval_sample *s, const char *a) {
    char *out = NULL;
    switch (s->type) {
    case GRAFT_TASK_YESNO: return strdup(graft_pope_is_yes(a) ? "yes" : "no");
    case GRAFT_TASK_MCQ: {
        char b[2] = {(char)graft_mcq_extract(a), 0};
        return strdup(b[0] ? b : "FAILED");
    }
    case GRAFT_TASK_VQA: {
        size_t n = strlen(a), cap = 3 * n + 64;
        char *t = malloc(n + 1), *o = malloc(cap);
        if (!t || !o) {
            free(t);
            free(o);
            return NULL;
        }
        /* vqaEval's '\n', '\t' -> ' ' and strip, then its normalisation */
        size_t b = 0, e = n;
        for (size_t i = 0; i < n; i++) t[i] = (a[i] == '\n' || a[i] == '\t') ? ' ' : a[i];
        while (b < e && t[b] == ' ') b++;
        while (e > b && t[e - 1] == ' ') e--;
        memmove(t, t + b, e - b);
        t[e - b] = '\0';
        if (graft_vqa_normalize(t, o, cap) < 0) {
            free(o);
            o = NULL;
        }
        free(t);
        return o;
    }
    default:
        if (graft_ptb_tokenize(a, &out, NULL)) return NULL;
        return out;
    }
}

/* a CSV field: quoted when it holds a comma, quote or newline */
static void csv_field(graft_sb *b, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) {
        graft_sb_printf(b, "%s", s);
        return;
    }
    graft_sb_printf(b, "\"");
    for (const char *p = s; *p; p++) graft_sb_printf(b, *p == '"' ? "\"\"" : "%c", *p);
    graft_sb_printf(b, "\"");
}

int graft_eval_compare_write(const graft_eval_dataset *ds, const char *const *names,
                             const graft_eval_summary *const *sums,
                             const char *const *const *preds, int n, const char *dir,
                             graft_error *err) {
    if (!ds || !names || !sums || !preds || n < 1 || !dir)
        return graft_error_set(err, GRAFT_E_INVALID, "compare: bad arguments");
    paths p = {0};
    graft_sb md = {0}, csv = {0};
    double *agree = calloc((size_t)n * (size_t)n, sizeof *agree);
    size_t *both = calloc((size_t)n * (size_t)n, sizeof *both);
    char **norm = calloc((size_t)n, sizeof *norm);
    int rc = GRAFT_OK;
    if (!agree || !both || !norm) goto oom;
    for (int v = 0; v < n; v++)
        if (!sums[v] || collect(&p, sums[v]->root, "")) goto oom;

    /* per-sample agreement, pairwise */
    for (size_t i = 0; i < ds->n; i++) {
        for (int v = 0; v < n; v++) {
            norm[v] = NULL;
            if (preds[v] && preds[v][i] && !(norm[v] = norm_answer(&ds->samples[i], preds[v][i]))) {
                for (int u = 0; u < v; u++) free(norm[u]);
                goto oom;
            }
        }
        for (int v = 0; v < n; v++)
            for (int u = v + 1; u < n; u++) {
                if (!norm[v] || !norm[u]) continue;
                both[v * n + u]++;
                agree[v * n + u] += strcmp(norm[v], norm[u]) == 0;
            }
        for (int v = 0; v < n; v++) free(norm[v]);
    }

    const cJSON *task = cJSON_GetObjectItemCaseSensitive(sums[0]->root, "task");
    graft_sb_printf(&md, "# graft eval comparison: %s\n\n| metric |", cJSON_IsString(task) ? task->valuestring : "?");
    graft_sb_printf(&csv, "metric");
    for (int v = 0; v < n; v++) {
        graft_sb_printf(&md, " %s |", names[v]);
        graft_sb_printf(&csv, ",");
        csv_field(&csv, names[v]);
    }
    graft_sb_printf(&md, "\n|---|");
    for (int v = 0; v < n; v++) graft_sb_printf(&md, "---|");
    graft_sb_printf(&md, "\n");
    graft_sb_printf(&csv, "\n");
    for (int r = 0; r < p.n; r++) {
        /* categories.X.k reads better as X / k in the table */
        graft_sb_printf(&md, "| %s |", p.path[r]);
        csv_field(&csv, p.path[r]);
        for (int v = 0; v < n; v++) {
            double x;
            if (graft_eval_summary_get(sums[v], p.path[r], &x)) {
                graft_sb_printf(&md, " %.4f |", x);
                graft_sb_printf(&csv, ",%.17g", x);
            } else {
                graft_sb_printf(&md, "  |");
                graft_sb_printf(&csv, ",");
            }
        }
        graft_sb_printf(&md, "\n");
        graft_sb_printf(&csv, "\n");
    }
    if (n > 1) {
        graft_sb_printf(&md, "\n## Per-sample agreement\n\nFraction of the samples both variants answered whose "
                "normalised answers are equal (yes/no: POPE's parse; mcq: the extracted letter; "
                "vqa: VQA normalisation; caption/open: PTB tokens).\n\n| | ");
        for (int v = 0; v < n; v++) graft_sb_printf(&md, "%s |", names[v]);
        graft_sb_printf(&md, "\n|---|");
        for (int v = 0; v < n; v++) graft_sb_printf(&md, "---|");
        graft_sb_printf(&md, "\n");
        for (int v = 0; v < n; v++) {
            graft_sb_printf(&md, "| %s |", names[v]);
            for (int u = 0; u < n; u++) {
                int a = v < u ? v : u, b = v < u ? u : v;
                if (u == v) graft_sb_printf(&md, " 1 |");
                else if (both[a * n + b]) graft_sb_printf(&md, " %.4f |", agree[a * n + b] / (double)both[a * n + b]);
                else graft_sb_printf(&md, " - |");
            }
            graft_sb_printf(&md, "\n");
        }
        for (int v = 0; v < n; v++)
            for (int u = v + 1; u < n; u++) {
                graft_sb_printf(&csv, "agreement.");
                csv_field(&csv, names[v]);
                graft_sb_printf(&csv, ".");
                csv_field(&csv, names[u]);
                for (int w = 0; w < n; w++)
                    if ((w == v || w == u) && both[v * n + u])
                        graft_sb_printf(&csv, ",%.17g", agree[v * n + u] / (double)both[v * n + u]);
                    else
                        graft_sb_printf(&csv, ",");
                graft_sb_printf(&csv, "\n");
            }
    }
    if (md.oom || csv.oom) goto oom;
    if ((rc = graft_eval_write_in_dir(dir, "summary.md", md.p, err)) == GRAFT_OK)
        rc = graft_eval_write_in_dir(dir, "summary.csv", csv.p, err);
    goto done;
oom:
    rc = NOMEM(err);
done:
    for (int i = 0; i < p.n; i++) free(p.path[i]);
    free(p.path);
    free(md.p);
    free(csv.p);
    free(agree);
    free(both);
    free(norm);
    return rc;
}
