/* opt.c - the OPT decoder (Hugging Face OPTForCausalLM; BLIP-2-OPT's language model): its
 * hyper-parameters and tensors from a GGUF file in graft's "opt" layout (docs/formats.md), and the
 * forward pass with the KV cache: token + learned position embedding -> blocks of biased
 * LayerNorm, biased multi-head attention and a biased ReLU FFN, pre-LN or post-LN -> logits.
 * Legend: see model.h (E, F, H, hd, V, P = n_ctx_train + 2 position rows). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

/* ---- loading ---------------------------------------------------------------------------- */

#define OPT_BLOCK_TENSORS 16 /* 4 LayerNorm vectors, 4 attention matrices + 4 biases, 2 + 2 FFN */

/* Tensors of OPT variants graft does not implement; a file carrying one is refused by name. */
static const char *const unsupported_tensors[][2] = {
    {"project_in.weight", "word_embed_proj_dim != hidden_size (project_in/project_out, as OPT-350m has)"},
    {"project_out.weight", "word_embed_proj_dim != hidden_size (project_in/project_out, as OPT-350m has)"},
};

static int refuse_variants(graft_model *m, graft_error *err) {
    const char *path = graft_gguf_path(m->gguf);
    for (size_t i = 0; i < sizeof unsupported_tensors / sizeof unsupported_tensors[0]; i++)
        if (graft_gguf_find_tensor(m->gguf, unsupported_tensors[i][0]) >= 0)
            return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                                   "%s: tensor '%s': graft's OPT does not implement %s", path,
                                   unsupported_tensors[i][0], unsupported_tensors[i][1]);
    int proj = 0;
    int rc = graft_model_hp_u32(m, "word_embed_proj_dim", m->hp.n_embd, &proj, err);
    if (rc) return rc;
    if (proj != m->hp.n_embd)
        return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                               "%s: opt.word_embed_proj_dim = %d differs from opt.embedding_length = %d: "
                               "graft's OPT does not implement project_in/project_out", path, proj,
                               m->hp.n_embd);
    return GRAFT_OK;
}

static int load_hparams(graft_model *m, graft_error *err) {
    graft_hparams *hp = &m->hp;
    const char *path = graft_gguf_path(m->gguf);
    int rc;
    if ((rc = graft_model_hp_u32(m, "embedding_length", -1, &hp->n_embd, err)) ||
        (rc = graft_model_hp_u32(m, "block_count", -1, &hp->n_layer, err)) ||
        (rc = graft_model_hp_u32(m, "feed_forward_length", -1, &hp->n_ff, err)) ||
        (rc = graft_model_hp_u32(m, "attention.head_count", -1, &hp->n_head, err)) ||
        (rc = graft_model_hp_u32(m, "context_length", -1, &hp->n_ctx_train, err)) ||
        (rc = graft_model_hp_f32(m, "attention.layer_norm_epsilon", 1e-5f, &hp->norm_eps, err))) {
        if (rc == GRAFT_E_NOTFOUND) { /* a required key: the file is incomplete ("key '...' not found") */
            if (err) err->code = GRAFT_E_FORMAT;
            rc = GRAFT_E_FORMAT;
        }
        return rc;
    }
    hp->norm_before = 1; /* HF's do_layer_norm_before default */
    rc = graft_gguf_get_bool(m->gguf, "opt.layer_norm_before", &hp->norm_before, err);
    if (rc && rc != GRAFT_E_NOTFOUND) return rc;
    if (hp->n_embd % hp->n_head)
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: opt.embedding_length %d is not a multiple of opt.attention.head_count %d",
                               path, hp->n_embd, hp->n_head);
    if (hp->n_ctx_train > (1 << 24))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: opt.context_length = %d is out of range", path,
                               hp->n_ctx_train);
    hp->n_head_kv = hp->n_head;
    hp->head_dim = hp->n_embd / hp->n_head;
    hp->n_pos_max = hp->n_ctx_train; /* the position table has no row beyond it */
    hp->n_rot = 0;
    hp->rope_mode = GRAFT_ROPE_NORM; /* unused: OPT has no rotary embedding */
    hp->rope_freq_base = 0.0f;
    hp->rope_freq_scale = 1.0f;
    return GRAFT_OK;
}

/* "blk.<l>.<what>" into buf. */
static const char *blk_name(char *buf, size_t cap, int l, const char *what) {
    snprintf(buf, cap, "blk.%d.%s", l, what);
    return buf;
}

/* A linear layer "<prefix>.weight" (M, K) and its bias "<prefix>.bias" (M). */
static int linear(graft_wloader *wl, int l, const char *prefix, int64_t K, int64_t M, graft_tensor *w,
                  const float **b, graft_error *err) {
    char wn[96], bn[96], pn[80];
    snprintf(pn, sizeof pn, "%s.weight", prefix);
    blk_name(wn, sizeof wn, l, pn);
    snprintf(pn, sizeof pn, "%s.bias", prefix);
    blk_name(bn, sizeof bn, l, pn);
    int rc = graft_wl_matrix(wl, wn, K, M, 0, w, err);
    return rc ? rc : graft_wl_vector(wl, bn, M, 0, b, err);
}

/* A LayerNorm "<prefix>.weight" and "<prefix>.bias", both (n). l < 0: no block prefix. */
static int layer_norm(graft_wloader *wl, int l, const char *prefix, int64_t n, const float **w,
                      const float **b, graft_error *err) {
    char wn[96], bn[96];
    if (l < 0) {
        snprintf(wn, sizeof wn, "%s.weight", prefix);
        snprintf(bn, sizeof bn, "%s.bias", prefix);
    } else {
        char pn[80];
        snprintf(pn, sizeof pn, "%s.weight", prefix);
        blk_name(wn, sizeof wn, l, pn);
        snprintf(pn, sizeof pn, "%s.bias", prefix);
        blk_name(bn, sizeof bn, l, pn);
    }
    int rc = graft_wl_vector(wl, wn, n, 0, w, err);
    return rc ? rc : graft_wl_vector(wl, bn, n, 0, b, err);
}

int graft_opt_load(graft_model *m, graft_error *err) {
    graft_hparams *hp = &m->hp;
    graft_opt_weights *o = &m->opt;
    const char *path = graft_gguf_path(m->gguf);
    int rc;
    if ((rc = load_hparams(m, err)) || (rc = refuse_variants(m, err))) return rc;
    graft_wl_init(&o->wl, m->gguf);

    /* the vocabulary size is the embedding's row count; its width must be E (no project_in) */
    int64_t ti = graft_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (ti < 0) return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing tensor 'token_embd.weight'", path);
    graft_gguf_tensor te = graft_gguf_tensor_info(m->gguf, ti);
    if (te.n_dims != 2 || te.ne[1] < 1 || te.ne[1] > (1 << 24))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: token_embd.weight has an invalid shape", path);
    if (te.ne[0] != hp->n_embd)
        return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                               "%s: token_embd.weight rows are %lld wide, opt.embedding_length is %d: an OPT "
                               "with word_embed_proj_dim != hidden_size (project_in/project_out) is not "
                               "implemented", path, (long long)te.ne[0], hp->n_embd);
    hp->n_vocab = (int)te.ne[1];

    const int64_t E = hp->n_embd, F = hp->n_ff, V = hp->n_vocab, P = (int64_t)hp->n_ctx_train + GRAFT_OPT_POS_OFFSET;
    graft_wloader *wl = &o->wl;
    if ((rc = graft_wl_matrix(wl, "token_embd.weight", E, V, 0, &m->tok_embd, err))) return rc;

    /* OPT's learned positions: context_length rows after an offset of 2 */
    int64_t pi = graft_gguf_find_tensor(m->gguf, "position_embd.weight");
    if (pi < 0) return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing tensor 'position_embd.weight'", path);
    graft_gguf_tensor tp = graft_gguf_tensor_info(m->gguf, pi);
    if (tp.n_dims == 2 && tp.ne[0] == E && tp.ne[1] != P)
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: tensor 'position_embd.weight' has %lld rows, expected opt.context_length + 2 "
                               "= %lld (OPT's position offset)", path, (long long)tp.ne[1], (long long)P);
    if ((rc = graft_wl_matrix(wl, "position_embd.weight", E, P, 0, &o->pos_embd, err))) return rc;

    /* decoder.final_layer_norm exists exactly when the blocks are pre-LN (HF OPTDecoder) */
    int has_out_norm = graft_wl_has(wl, "output_norm.weight") || graft_wl_has(wl, "output_norm.bias");
    if (hp->norm_before) {
        if ((rc = layer_norm(wl, -1, "output_norm", E, &o->out_norm_w, &o->out_norm_b, err))) return rc;
    } else if (has_out_norm) {
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: tensor 'output_norm' is present but opt.layer_norm_before is false "
                               "(a post-LN OPT has no final LayerNorm)", path);
    }
    if (graft_wl_has(wl, "output.weight")) {
        if ((rc = graft_wl_matrix(wl, "output.weight", E, V, 0, &m->output, err))) return rc;
    } else {
        m->output = m->tok_embd; /* tied (HF's default): the embedding matrix is also the head */
    }

    /* each block has 16 tensors: a forged block_count must not size an allocation */
    if ((int64_t)hp->n_layer * OPT_BLOCK_TENSORS > graft_gguf_n_tensors(m->gguf))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: opt.block_count = %d, but the file has only %lld tensors",
                               path, hp->n_layer, (long long)graft_gguf_n_tensors(m->gguf));
    o->layers = calloc((size_t)hp->n_layer, sizeof *o->layers);
    if (!o->layers) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
    for (int l = 0; l < hp->n_layer; l++) {
        graft_opt_layer *L = &o->layers[l];
        if ((rc = layer_norm(wl, l, "attn_norm", E, &L->attn_norm_w, &L->attn_norm_b, err)) ||
            (rc = linear(wl, l, "attn_q", E, E, &L->wq, &L->bq, err)) ||
            (rc = linear(wl, l, "attn_k", E, E, &L->wk, &L->bk, err)) ||
            (rc = linear(wl, l, "attn_v", E, E, &L->wv, &L->bv, err)) ||
            (rc = linear(wl, l, "attn_output", E, E, &L->wo, &L->bo, err)) ||
            (rc = layer_norm(wl, l, "ffn_norm", E, &L->ffn_norm_w, &L->ffn_norm_b, err)) ||
            (rc = linear(wl, l, "ffn_up", E, F, &L->w_up, &L->b_up, err)) ||
            (rc = linear(wl, l, "ffn_down", F, E, &L->w_down, &L->b_down, err)))
            return rc;
    }

    /* bytes read per token: every matrix once, but only one row of each embedding table (the
     * token embedding counts again when it is also the output head) */
    m->weight_bytes = wl->weight_bytes - graft_tensor_nbytes(&m->tok_embd) - graft_tensor_nbytes(&o->pos_embd);
    if (m->output.data == m->tok_embd.data) m->weight_bytes += graft_tensor_nbytes(&m->tok_embd);
    return GRAFT_OK;
}

/* ---- forward ---------------------------------------------------------------------------- */

/* Y (n, M) = X (n, K) W^T + b, with the context's kernels, scratch and threads. */
static void linear_fwd(graft_ctx *c, const graft_tensor *W, const float *b, const float *X, int n, float *Y) {
    graft_linear(c->kt, W, b, X, n, Y, c->mm_scratch, c->params.n_threads);
}

/* Rows [0, n) of the batch at cache positions pos .. pos + n - 1 (graft_decode has checked that
 * pos + n <= n_ctx <= n_ctx_train, so every position has a row); then, when want_logits, the logits
 * of the last row, or of all rows when logits_all. Allocates nothing. */
int graft_opt_forward(graft_ctx *c, const int32_t *ids, const float *embd, int n, int want_logits) {
    const graft_model *m = c->model;
    const graft_hparams *hp = &m->hp;
    const graft_opt_weights *o = &m->opt;
    const graft_kernels *kt = c->kt;
    const int E = hp->n_embd, F = hp->n_ff, pos0 = c->pos;
    const float eps = hp->norm_eps;
    const size_t layer_bytes = (size_t)c->params.n_ctx * c->kv_row_bytes;

    /* x (n, E) = token embedding (or the caller's row where ids is NULL / negative) + the learned
     * position row p + 2, as OPTLearnedPositionalEmbedding with no padding */
    for (int i = 0; i < n; i++) {
        float *xi = c->x + (size_t)i * E, *pi = c->xn + (size_t)i * E;
        if (ids && ids[i] >= 0) graft_tensor_row_f32(kt, &m->tok_embd, ids[i], xi);
        else memcpy(xi, embd + (size_t)i * E, (size_t)E * sizeof(float));
        graft_tensor_row_f32(kt, &o->pos_embd, (int64_t)pos0 + i + GRAFT_OPT_POS_OFFSET, pi);
        kt->add(E, xi, pi, xi);
    }

    for (int l = 0; l < hp->n_layer; l++) {
        const graft_opt_layer *L = &o->layers[l];
        char *kc = (char *)c->k_cache + (size_t)l * layer_bytes;
        char *vc = (char *)c->v_cache + (size_t)l * layer_bytes;

        /* attention: h = LN1(x) (pre-LN) or x; q, k, v = h W^T + b; append k, v to the cache */
        const float *h = c->x;
        if (hp->norm_before) {
            for (int i = 0; i < n; i++)
                kt->layernorm(E, c->x + (size_t)i * E, L->attn_norm_w, L->attn_norm_b, eps, c->xn + (size_t)i * E);
            h = c->xn;
        }
        linear_fwd(c, &L->wq, L->bq, h, n, c->q); /* (n, E) */
        linear_fwd(c, &L->wk, L->bk, h, n, c->k); /* (n, E) */
        linear_fwd(c, &L->wv, L->bv, h, n, c->v); /* (n, E) */
        for (int i = 0; i < n; i++) {
            char *krow = kc + (size_t)(pos0 + i) * c->kv_row_bytes;
            char *vrow = vc + (size_t)(pos0 + i) * c->kv_row_bytes;
            if (c->params.kv_type == GRAFT_TYPE_F16) {
                kt->f32_to_f16(E, c->k + (size_t)i * E, (uint16_t *)krow);
                kt->f32_to_f16(E, c->v + (size_t)i * E, (uint16_t *)vrow);
            } else {
                memcpy(krow, c->k + (size_t)i * E, (size_t)E * sizeof(float));
                memcpy(vrow, c->v + (size_t)i * E, (size_t)E * sizeof(float));
            }
        }
        /* HF scales q by hd^-0.5 before q k^T; the kernel applies the same factor to the scores */
        graft_attn_params ap = {
            .n_q = n, .n_kv = pos0 + n, .n_head = hp->n_head, .n_head_kv = hp->n_head,
            .head_dim = hp->head_dim, .causal = 1, .q_pos0 = pos0,
            .scale = 1.0f / sqrtf((float)hp->head_dim), .mask = NULL, .kv_type = c->params.kv_type,
        };
        graft_attention(kt, &ap, c->q, E, kc, c->kv_row_bytes, vc, c->kv_row_bytes, c->att, E,
                        c->att_scratch, c->params.n_threads);
        linear_fwd(c, &L->wo, L->bo, c->att, n, c->xn); /* (n, E) */
        kt->add((int64_t)n * E, c->x, c->xn, c->x);
        if (!hp->norm_before) /* post-LN: x = LN1(x + attn(x)) */
            for (int i = 0; i < n; i++)
                kt->layernorm(E, c->x + (size_t)i * E, L->attn_norm_w, L->attn_norm_b, eps, c->x + (size_t)i * E);

        /* FFN: x += fc2(relu(fc1(h))), h = LN2(x) (pre-LN) or x */
        h = c->x;
        if (hp->norm_before) {
            for (int i = 0; i < n; i++)
                kt->layernorm(E, c->x + (size_t)i * E, L->ffn_norm_w, L->ffn_norm_b, eps, c->xn + (size_t)i * E);
            h = c->xn;
        }
        linear_fwd(c, &L->w_up, L->b_up, h, n, c->ff_gate); /* (n, F) */
        kt->relu((int64_t)n * F, c->ff_gate, c->ff_gate);
        linear_fwd(c, &L->w_down, L->b_down, c->ff_gate, n, c->xn); /* (n, E) */
        kt->add((int64_t)n * E, c->x, c->xn, c->x);
        if (!hp->norm_before) /* post-LN: x = LN2(x + ffn(x)) */
            for (int i = 0; i < n; i++)
                kt->layernorm(E, c->x + (size_t)i * E, L->ffn_norm_w, L->ffn_norm_b, eps, c->x + (size_t)i * E);
    }

    if (!want_logits) { /* an earlier chunk of a long prefill: nobody reads its logits */
        c->n_logits = 0;
        return GRAFT_OK;
    }
    /* decoder.final_layer_norm (pre-LN only) and logits: every row, or only the last */
    const int first = c->params.logits_all ? 0 : n - 1, rows = n - first;
    const float *hn = c->x + (size_t)first * E;
    if (hp->norm_before) {
        for (int i = first; i < n; i++)
            kt->layernorm(E, c->x + (size_t)i * E, o->out_norm_w, o->out_norm_b, eps, c->xn + (size_t)(i - first) * E);
        hn = c->xn;
    }
    graft_ctx_matmul(c, &m->output, hn, rows, c->logits); /* (rows, V) */
    c->n_logits = rows;
    return GRAFT_OK;
}
