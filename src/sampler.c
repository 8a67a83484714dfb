/* sampler.c - choosing the next token from logits: greedy, or llama.cpp's default chain of
 * repetition penalty, top-k, top-p, min-p and temperature, then a draw from a seeded generator.
 * Buffers are allocated once per sampler; sampling a token allocates nothing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "graft.h"

typedef struct {
    int32_t id;
    float logit; /* then probability, after softmax */
} candidate;

struct graft_sampler {
    graft_sampler_params p;
    int n_vocab;
    candidate *cand;   /* (n_vocab) */
    int32_t *history;  /* ring of the last repeat_last_n accepted tokens */
    int n_hist, hist_pos;
    uint64_t rng;
};

graft_sampler_params graft_sampler_default_params(void) {
    graft_sampler_params p = {.temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                              .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0x5eed};
    return p;
}

int graft_sampler_new(const graft_sampler_params *params, int n_vocab, graft_sampler **out,
                      graft_error *err) {
    *out = NULL;
    if (n_vocab <= 0) return graft_error_set(err, GRAFT_E_INVALID, "sampler: n_vocab must be positive");
    graft_sampler *s = calloc(1, sizeof *s);
    if (!s) return graft_error_set(err, GRAFT_E_NOMEM, "sampler: out of memory");
    s->p = params ? *params : graft_sampler_default_params();
    if (s->p.repeat_last_n < 0) s->p.repeat_last_n = 0;
    s->n_vocab = n_vocab;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->history = malloc((size_t)(s->p.repeat_last_n + 1) * sizeof *s->history);
    if (!s->cand || !s->history) {
        graft_sampler_free(s);
        return graft_error_set(err, GRAFT_E_NOMEM, "sampler: out of memory");
    }
    s->rng = s->p.seed;
    *out = s;
    return GRAFT_OK;
}

void graft_sampler_free(graft_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->history);
    free(s);
}

void graft_sampler_accept(graft_sampler *s, int32_t token) {
    if (s->p.repeat_last_n == 0) return;
    s->history[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->n_hist < s->p.repeat_last_n) s->n_hist++;
}

void graft_sampler_reset(graft_sampler *s) { s->n_hist = s->hist_pos = 0; }

/* splitmix64: a uniform double in [0, 1) */
static double next_uniform(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* Descending by logit, ties by ascending id, so the order is total and reproducible. */
static int cmp_desc(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Moves the k best candidates to the front, sorted (heap selection then sort: O(n log k)). */
static void select_top_k(candidate *c, int n, int k) {
    /* min-heap of the best k seen so far, worst at the root */
    for (int i = 0; i < n; i++) {
        if (i < k) {
            int j = i;
            c[j] = c[i];
            while (j > 0 && cmp_desc(&c[(j - 1) / 2], &c[j]) < 0) {
                candidate t = c[j]; c[j] = c[(j - 1) / 2]; c[(j - 1) / 2] = t;
                j = (j - 1) / 2;
            }
        } else if (cmp_desc(&c[i], &c[0]) < 0) {
            candidate t = c[0]; c[0] = c[i]; c[i] = t;
            int j = 0;
            for (;;) {
                int l = 2 * j + 1, r = l + 1, w = j;
                if (l < k && cmp_desc(&c[l], &c[w]) > 0) w = l;
                if (r < k && cmp_desc(&c[r], &c[w]) > 0) w = r;
                if (w == j) break;
                t = c[j]; c[j] = c[w]; c[w] = t;
                j = w;
            }
        }
    }
    qsort(c, (size_t)k, sizeof *c, cmp_desc);
}

int32_t graft_sampler_sample(graft_sampler *s, const float *logits) {
    const int V = s->n_vocab;
    candidate *c = s->cand;
    for (int i = 0; i < V; i++) c[i] = (candidate){i, logits[i]};

    /* repetition penalty (as llama.cpp / CTRL): each distinct recent token once */
    if (s->p.repeat_penalty != 1.0f && s->n_hist > 0) {
        for (int h = 0; h < s->n_hist; h++) {
            int32_t t = s->history[h];
            if (t < 0 || t >= V) continue;
            int seen = 0;
            for (int g = 0; g < h; g++) seen |= s->history[g] == t;
            if (seen) continue;
            c[t].logit = c[t].logit > 0 ? c[t].logit / s->p.repeat_penalty : c[t].logit * s->p.repeat_penalty;
        }
    }

    if (s->p.temp <= 0.0f) { /* greedy: first maximum */
        int best = 0;
        for (int i = 1; i < V; i++)
            if (c[i].logit > c[best].logit) best = i;
        return c[best].id;
    }

    int n = V;
    if (s->p.top_k > 0 && s->p.top_k < V) {
        select_top_k(c, V, s->p.top_k);
        n = s->p.top_k;
    } else {
        qsort(c, (size_t)V, sizeof *c, cmp_desc);
    }
    /* probabilities of what is left (at temperature 1, as llama.cpp's top-p / min-p see them) */
    double sum = 0.0;
    const float max = c[0].logit;
    for (int i = 0; i < n; i++) sum += exp((double)c[i].logit - max);
    if (s->p.top_p < 1.0f) {
        double cum = 0.0;
        for (int i = 0; i < n; i++) {
            cum += exp((double)c[i].logit - max) / sum;
            if (cum >= s->p.top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (s->p.min_p > 0.0f) {
        /* keep tokens with p >= min_p * p_max, i.e. logit >= max + log(min_p) */
        const double floor_logit = max + log(s->p.min_p);
        int keep = 1;
        while (keep < n && c[keep].logit >= floor_logit) keep++;
        n = keep;
    }
    /* temperature, then draw */
    double total = 0.0;
    for (int i = 0; i < n; i++) total += exp(((double)c[i].logit - max) / s->p.temp);
    double r = next_uniform(&s->rng) * total, acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += exp(((double)c[i].logit - max) / s->p.temp);
        if (r < acc) return c[i].id;
    }
    return c[n - 1].id;
}
