/* context.c - a decoding context: the KV cache and one arena of activations, sized once from the
 * model's hyper-parameters (llama or OPT), so graft_decode allocates nothing. Batches longer than
 * n_batch are processed in chunks by the model's forward. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

graft_ctx_params graft_ctx_default_params(void) {
    graft_ctx_params p;
    memset(&p, 0, sizeof p);
    p.n_ctx = 0;
    p.n_batch = 512;
    p.n_threads = 2;
    p.kv_type = GRAFT_TYPE_F16;
    p.logits_all = 0;
    return p;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

void graft_ctx_matmul(graft_ctx *c, const graft_tensor *W, const float *X, int n, float *Y) {
    /* W (M, K): ne = {K, M} */
    graft_matmul(c->kt, W->type, W->data, W->nb[1], W->ne[1], W->ne[0], X, W->ne[0], n, Y,
                 W->ne[1], c->mm_scratch, c->params.n_threads, 0);
}

int graft_ctx_new(const graft_model *m, const graft_ctx_params *params, graft_ctx **out,
                  graft_error *err) {
    *out = NULL;
    graft_ctx_params p = params ? *params : graft_ctx_default_params();
    const graft_hparams *hp = &m->hp;
    if (p.n_ctx <= 0) p.n_ctx = hp->n_ctx_train;
    /* learned positions (OPT) end at the table: a longer context could never be filled */
    if (hp->n_pos_max > 0 && p.n_ctx > hp->n_pos_max) p.n_ctx = hp->n_pos_max;
    if (p.n_batch <= 0) p.n_batch = 512;
    if (p.n_batch > p.n_ctx) p.n_batch = p.n_ctx;
    if (p.n_threads <= 0) p.n_threads = 1;
    if (p.kv_type != GRAFT_TYPE_F16 && p.kv_type != GRAFT_TYPE_F32)
        return graft_error_set(err, GRAFT_E_INVALID, "KV cache type must be f16 or f32");
    if (p.n_ctx > (1 << 24))
        return graft_error_set(err, GRAFT_E_LIMIT, "context length %d is too large", p.n_ctx);

    graft_ctx *c = calloc(1, sizeof *c);
    if (!c) return graft_error_set(err, GRAFT_E_NOMEM, "out of memory creating a context");
    c->model = m;
    c->params = p;
    c->kt = graft_kernels_get();

    const size_t E = (size_t)hp->n_embd, F = (size_t)hp->n_ff, V = (size_t)hp->n_vocab;
    const size_t Dq = (size_t)hp->n_head * hp->head_dim, Dkv = (size_t)hp->n_head_kv * hp->head_dim;
    const size_t B = (size_t)p.n_batch, f = sizeof(float);
    c->kv_row_bytes = Dkv * (p.kv_type == GRAFT_TYPE_F16 ? 2 : 4);
    const size_t cache = (size_t)hp->n_layer * (size_t)p.n_ctx * c->kv_row_bytes;

    /* the largest matmul scratch over every weight at the batch size */
    size_t mm = 0;
    const graft_tensor *ws[] = {&m->output, &m->tok_embd};
    for (int i = 0; i < 2; i++)
        mm = max_sz(mm, graft_matmul_scratch_bytes(ws[i]->type, ws[i]->ne[1], ws[i]->ne[0], (int64_t)B, p.n_threads));
    for (int l = 0; l < hp->n_layer; l++) {
        const graft_tensor *lw[7];
        int nw = 0;
        if (m->arch_id == GRAFT_ARCH_OPT) {
            const graft_opt_layer *L = &m->opt.layers[l];
            const graft_tensor *ow[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_up, &L->w_down};
            for (nw = 0; nw < 6; nw++) lw[nw] = ow[nw];
        } else {
            const graft_llama_layer *L = &m->layers[l];
            const graft_tensor *llw[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
            for (nw = 0; nw < 7; nw++) lw[nw] = llw[nw];
        }
        for (int i = 0; i < nw; i++)
            mm = max_sz(mm, graft_matmul_scratch_bytes(lw[i]->type, lw[i]->ne[1], lw[i]->ne[0], (int64_t)B, p.n_threads));
    }
    graft_attn_params ap = {.n_q = (int)B, .n_kv = p.n_ctx, .n_head = hp->n_head,
                            .n_head_kv = hp->n_head_kv, .head_dim = hp->head_dim, .causal = 1,
                            .kv_type = p.kv_type};
    const size_t att = graft_attention_scratch_floats(&ap, p.n_threads) * f;
    const size_t logit_rows = p.logits_all ? B : 1;
    const size_t ff_up = m->arch_id == GRAFT_ARCH_OPT ? 0 : B * F * f; /* OPT's FFN has no gate */

    size_t sizes[] = {cache, cache, B * E * f, B * E * f, B * Dq * f, B * Dkv * f, B * Dkv * f,
                      B * Dq * f, B * F * f, ff_up, logit_rows * V * f, mm, att};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += (sizes[i] + 63) & ~(size_t)63;
    if (graft_arena_init(&c->arena, total) != GRAFT_OK) {
        free(c);
        return graft_error_set(err, GRAFT_E_NOMEM, "cannot allocate %.1f MiB for a context of %d tokens",
                               (double)total / (1 << 20), p.n_ctx);
    }
    void **slots[] = {&c->k_cache, &c->v_cache, (void **)&c->x, (void **)&c->xn, (void **)&c->q,
                      (void **)&c->k, (void **)&c->v, (void **)&c->att, (void **)&c->ff_gate,
                      (void **)&c->ff_up, (void **)&c->logits, &c->mm_scratch, (void **)&c->att_scratch};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) *slots[i] = graft_arena_alloc(&c->arena, sizes[i]);
    *out = c;
    return GRAFT_OK;
}

void graft_ctx_free(graft_ctx *c) {
    if (!c) return;
    graft_arena_free(&c->arena);
    free(c);
}

const char *graft_ctx_last_error(const graft_ctx *c) { return c->err; }

int graft_decode(graft_ctx *c, const int32_t *ids, const float *embd, int n) {
    graft_error e;
    c->err[0] = 0;
    const int V = c->model->hp.n_vocab;
    int rc = GRAFT_OK;
    if (n <= 0) {
        rc = graft_error_set(&e, GRAFT_E_INVALID, "decode: no positions given");
    } else if (n > c->params.n_ctx - c->pos) {
        rc = graft_error_set(&e, GRAFT_E_LIMIT,
                             "the context is full: %d positions used + %d new > n_ctx %d", c->pos, n,
                             c->params.n_ctx);
    } else if (c->params.logits_all && n > c->params.n_batch) {
        rc = graft_error_set(&e, GRAFT_E_LIMIT,
                             "logits for every position need the batch in one step: %d > n_batch %d", n,
                             c->params.n_batch);
    } else {
        for (int i = 0; i < n && !rc; i++) {
            if (ids && ids[i] >= V)
                rc = graft_error_set(&e, GRAFT_E_INVALID, "token id %d is outside the vocabulary (%d)",
                                     ids[i], V);
            else if ((!ids || ids[i] < 0) && !embd)
                rc = graft_error_set(&e, GRAFT_E_INVALID, "position %d has no token id and no embedding", i);
        }
    }
    if (rc) {
        snprintf(c->err, sizeof c->err, "%s", e.msg);
        return rc;
    }
    const int E = c->model->hp.n_embd;
    for (int done = 0; done < n;) {
        int step = n - done < c->params.n_batch ? n - done : c->params.n_batch;
        c->model->forward(c, ids ? ids + done : NULL, embd ? embd + (size_t)done * E : NULL, step,
                          done + step == n);
        c->pos += step;
        done += step;
    }
    return GRAFT_OK;
}

const float *graft_ctx_logits(const graft_ctx *c, int i) {
    if (i == -1) i = c->n_logits - 1;
    if (i < 0 || i >= c->n_logits) return NULL;
    return c->logits + (size_t)i * c->model->hp.n_vocab;
}

int graft_ctx_pos(const graft_ctx *c) { return c->pos; }
int graft_ctx_n_ctx(const graft_ctx *c) { return c->params.n_ctx; }

int graft_ctx_rewind(graft_ctx *c, int pos) {
    if (pos < 0 || pos > c->pos) {
        snprintf(c->err, sizeof c->err, "cannot rewind to position %d (current %d)", pos, c->pos);
        return GRAFT_E_INVALID;
    }
    c->pos = pos;
    c->n_logits = 0;
    return GRAFT_OK;
}
