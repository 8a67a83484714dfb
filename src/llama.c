/* llama.c - the llama-family decoder (Llama 1/2/3, Vicuna, Mistral as llama.cpp writes them):
 * hyper-parameters and tensors from a GGUF file with llama.cpp's key and tensor names, and the
 * forward pass RMSNorm -> GQA attention with RoPE and KV cache -> RMSNorm -> SwiGLU FFN.
 * Legend: see model.h. Q/K rows are stored permuted by llama.cpp's converter so that ggml's NORM
 * rope (adjacent pairs) equals Hugging Face's rotate_half; we apply NORM rope to them as is. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

/* ---- loading ---------------------------------------------------------------------------- */

static int is_matmul_type(int t) {
    return t == GRAFT_TYPE_F32 || t == GRAFT_TYPE_F16 || t == GRAFT_TYPE_BF16 ||
           t == GRAFT_TYPE_Q8_0 || t == GRAFT_TYPE_Q4_0;
}

/* Finds `name`, checks its shape (ggml order: ne0 innermost; ne1 = 0 for 1-D) and type, and makes
 * a tensor pointing into the mapping. vec: a 1-D f32 vector (norm weights). */
static int get_tensor(graft_model *m, const char *name, int64_t ne0, int64_t ne1, int vec,
                      graft_tensor *out, graft_error *err) {
    const char *path = graft_gguf_path(m->gguf);
    int64_t i = graft_gguf_find_tensor(m->gguf, name);
    if (i < 0) return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing tensor '%s'", path, name);
    graft_gguf_tensor t = graft_gguf_tensor_info(m->gguf, i);
    int want_dims = ne1 ? 2 : 1;
    if (t.n_dims != want_dims || t.ne[0] != ne0 || (ne1 && t.ne[1] != ne1))
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: tensor '%s' has shape [%lld, %lld] (%d dims), expected [%lld, %lld]",
                               path, name, (long long)t.ne[0], (long long)t.ne[1], t.n_dims,
                               (long long)ne0, (long long)ne1);
    if (vec ? t.type != GRAFT_TYPE_F32 : !is_matmul_type(t.type)) {
        const char *tn = graft_ggml_type_name(t.type);
        return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                               "%s: tensor '%s' has type %s, which graft does not compute with "
                               "(supported: %s)", path, name, tn ? tn : "unknown",
                               vec ? "f32" : "f32, f16, bf16, q8_0, q4_0");
    }
    int64_t ne[2] = {t.ne[0], t.ne[1]};
    if (!graft_tensor_init(out, t.name, t.type, want_dims, ne, (void *)t.data))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor '%s' has an invalid size", path, name);
    if (!vec) m->weight_bytes += t.nbytes;
    return GRAFT_OK;
}

int graft_llama_load(graft_model *m, graft_error *err) {
    graft_hparams *hp = &m->hp;
    const char *path = graft_gguf_path(m->gguf);
    int rc;
    if ((rc = graft_model_hp_u32(m, "embedding_length", -1, &hp->n_embd, err)) ||
        (rc = graft_model_hp_u32(m, "block_count", -1, &hp->n_layer, err)) ||
        (rc = graft_model_hp_u32(m, "feed_forward_length", -1, &hp->n_ff, err)) ||
        (rc = graft_model_hp_u32(m, "attention.head_count", -1, &hp->n_head, err)) ||
        (rc = graft_model_hp_u32(m, "attention.head_count_kv", hp->n_head, &hp->n_head_kv, err)) ||
        (rc = graft_model_hp_u32(m, "context_length", 2048, &hp->n_ctx_train, err)) ||
        (rc = graft_model_hp_f32(m, "rope.freq_base", 10000.0f, &hp->rope_freq_base, err)) ||
        (rc = graft_model_hp_f32(m, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->norm_eps, err)))
        return rc;
    if (hp->n_embd % hp->n_head || hp->n_head % hp->n_head_kv)
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: embedding_length %d, head_count %d and head_count_kv %d do not "
                               "divide evenly", path, hp->n_embd, hp->n_head, hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((rc = graft_model_hp_u32(m, "rope.dimension_count", hp->head_dim, &hp->n_rot, err))) return rc;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: rope.dimension_count %d does not fit "
                               "head width %d", path, hp->n_rot, hp->head_dim);
    float scale_linear = 1.0f;
    if ((rc = graft_model_hp_f32(m, "rope.scale_linear", 1.0f, &scale_linear, err))) return rc;
    hp->rope_freq_scale = 1.0f / scale_linear;
    hp->rope_mode = GRAFT_ROPE_NORM;
    /* graft's private key of a Hugging Face view (hf.h): Q/K rows as HF stores them, rotate_half */
    int neox = 0;
    rc = graft_gguf_get_bool(m->gguf, "graft.rope.neox", &neox, err);
    if (rc && rc != GRAFT_E_NOTFOUND) return rc;
    if (neox) hp->rope_mode = GRAFT_ROPE_NEOX;

    /* the vocabulary size is the embedding's row count */
    int64_t ti = graft_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (ti < 0) return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing tensor 'token_embd.weight'", path);
    graft_gguf_tensor te = graft_gguf_tensor_info(m->gguf, ti);
    if (te.n_dims != 2 || te.ne[1] < 1 || te.ne[1] > (1 << 24))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: token_embd.weight has an invalid shape", path);
    hp->n_vocab = (int)te.ne[1];

    const int64_t E = hp->n_embd, F = hp->n_ff, V = hp->n_vocab;
    const int64_t Dq = (int64_t)hp->n_head * hp->head_dim, Dkv = (int64_t)hp->n_head_kv * hp->head_dim;
    if ((rc = get_tensor(m, "token_embd.weight", E, V, 0, &m->tok_embd, err)) ||
        (rc = get_tensor(m, "output_norm.weight", E, 0, 1, &m->out_norm, err)))
        return rc;
    /* a token reads one embedding row, not the matrix: only the output head counts per token */
    m->weight_bytes -= graft_tensor_nbytes(&m->tok_embd);
    if (graft_gguf_find_tensor(m->gguf, "output.weight") >= 0) {
        if ((rc = get_tensor(m, "output.weight", E, V, 0, &m->output, err))) return rc;
    } else {
        m->output = m->tok_embd; /* tied: the embedding matrix doubles as the output head */
        m->weight_bytes += graft_tensor_nbytes(&m->tok_embd);
    }
    /* each block has 9 tensors: a forged block_count must not size an allocation */
    if ((int64_t)hp->n_layer * 9 > graft_gguf_n_tensors(m->gguf))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s.block_count = %d, but the file has only %lld tensors",
                               path, m->arch, hp->n_layer, (long long)graft_gguf_n_tensors(m->gguf));
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
    for (int l = 0; l < hp->n_layer; l++) {
        graft_llama_layer *L = &m->layers[l];
        char n[9][64];
        const char *suffix[9] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                 "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"};
        for (int j = 0; j < 9; j++) snprintf(n[j], sizeof n[j], "blk.%d.%s.weight", l, suffix[j]);
        if ((rc = get_tensor(m, n[0], E, 0, 1, &L->attn_norm, err)) ||
            (rc = get_tensor(m, n[1], E, Dq, 0, &L->wq, err)) ||
            (rc = get_tensor(m, n[2], E, Dkv, 0, &L->wk, err)) ||
            (rc = get_tensor(m, n[3], E, Dkv, 0, &L->wv, err)) ||
            (rc = get_tensor(m, n[4], Dq, E, 0, &L->wo, err)) ||
            (rc = get_tensor(m, n[5], E, 0, 1, &L->ffn_norm, err)) ||
            (rc = get_tensor(m, n[6], E, F, 0, &L->w_gate, err)) ||
            (rc = get_tensor(m, n[7], E, F, 0, &L->w_up, err)) ||
            (rc = get_tensor(m, n[8], F, E, 0, &L->w_down, err)))
            return rc;
    }
    return GRAFT_OK;
}

/* ---- forward ---------------------------------------------------------------------------- */

/* Rows [0, n) of the batch at cache positions pos .. pos + n - 1; then, when want_logits, the
 * logits of the last row, or of all rows when logits_all. */
int graft_llama_forward(graft_ctx *c, const int32_t *ids, const float *embd, int n, int want_logits) {
    const graft_model *m = c->model;
    const graft_hparams *hp = &m->hp;
    const graft_kernels *kt = c->kt;
    const int E = hp->n_embd, Dq = hp->n_head * hp->head_dim, Dkv = hp->n_head_kv * hp->head_dim;
    const int F = hp->n_ff, pos0 = c->pos;
    const size_t layer_bytes = (size_t)c->params.n_ctx * c->kv_row_bytes;

    /* x (n, E): token embeddings, or the caller's rows where ids is NULL / negative */
    for (int i = 0; i < n; i++) {
        if (ids && ids[i] >= 0) graft_tensor_row_f32(kt, &m->tok_embd, ids[i], c->x + (size_t)i * E);
        else memcpy(c->x + (size_t)i * E, embd + (size_t)i * E, (size_t)E * sizeof(float));
    }

    for (int l = 0; l < hp->n_layer; l++) {
        const graft_llama_layer *L = &m->layers[l];
        char *kc = (char *)c->k_cache + (size_t)l * layer_bytes;
        char *vc = (char *)c->v_cache + (size_t)l * layer_bytes;

        /* attention: xn = rmsnorm(x); q, k, v = xn W^T; rope; append k, v to the cache */
        for (int i = 0; i < n; i++)
            kt->rmsnorm(E, c->x + (size_t)i * E, L->attn_norm.data, hp->norm_eps, c->xn + (size_t)i * E);
        graft_ctx_matmul(c, &L->wq, c->xn, n, c->q);   /* (n, H * hd) */
        graft_ctx_matmul(c, &L->wk, c->xn, n, c->k);   /* (n, Hkv * hd) */
        graft_ctx_matmul(c, &L->wv, c->xn, n, c->v);   /* (n, Hkv * hd) */
        for (int i = 0; i < n; i++) {
            graft_rope(c->q + (size_t)i * Dq, hp->n_head, hp->head_dim, hp->n_rot, pos0 + i,
                       hp->rope_freq_base, hp->rope_freq_scale, hp->rope_mode);
            graft_rope(c->k + (size_t)i * Dkv, hp->n_head_kv, hp->head_dim, hp->n_rot, pos0 + i,
                       hp->rope_freq_base, hp->rope_freq_scale, hp->rope_mode);
            char *krow = kc + (size_t)(pos0 + i) * c->kv_row_bytes;
            char *vrow = vc + (size_t)(pos0 + i) * c->kv_row_bytes;
            if (c->params.kv_type == GRAFT_TYPE_F16) {
                kt->f32_to_f16(Dkv, c->k + (size_t)i * Dkv, (uint16_t *)krow);
                kt->f32_to_f16(Dkv, c->v + (size_t)i * Dkv, (uint16_t *)vrow);
            } else {
                memcpy(krow, c->k + (size_t)i * Dkv, (size_t)Dkv * sizeof(float));
                memcpy(vrow, c->v + (size_t)i * Dkv, (size_t)Dkv * sizeof(float));
            }
        }
        graft_attn_params ap = {
            .n_q = n, .n_kv = pos0 + n, .n_head = hp->n_head, .n_head_kv = hp->n_head_kv,
            .head_dim = hp->head_dim, .causal = 1, .q_pos0 = pos0,
            .scale = 1.0f / sqrtf((float)hp->head_dim), .mask = NULL, .kv_type = c->params.kv_type,
        };
        graft_attention(kt, &ap, c->q, Dq, kc, c->kv_row_bytes, vc, c->kv_row_bytes, c->att, Dq,
                        c->att_scratch, c->params.n_threads);
        graft_ctx_matmul(c, &L->wo, c->att, n, c->xn); /* (n, E) */
        kt->add((int64_t)n * E, c->x, c->xn, c->x);

        /* FFN: x += W_down (silu(W_gate xn) * W_up xn) */
        for (int i = 0; i < n; i++)
            kt->rmsnorm(E, c->x + (size_t)i * E, L->ffn_norm.data, hp->norm_eps, c->xn + (size_t)i * E);
        graft_ctx_matmul(c, &L->w_gate, c->xn, n, c->ff_gate); /* (n, F) */
        graft_ctx_matmul(c, &L->w_up, c->xn, n, c->ff_up);     /* (n, F) */
        kt->swiglu((int64_t)n * F, c->ff_gate, c->ff_up, c->ff_gate);
        graft_ctx_matmul(c, &L->w_down, c->ff_gate, n, c->xn); /* (n, E) */
        kt->add((int64_t)n * E, c->x, c->xn, c->x);
    }

    if (!want_logits) { /* an earlier chunk of a long prefill: nobody reads its logits */
        c->n_logits = 0;
        return GRAFT_OK;
    }
    /* final norm and logits: every row, or only the last */
    const int first = c->params.logits_all ? 0 : n - 1, rows = n - first;
    for (int i = first; i < n; i++)
        kt->rmsnorm(E, c->x + (size_t)i * E, m->out_norm.data, hp->norm_eps, c->xn + (size_t)(i - first) * E);
    graft_ctx_matmul(c, &m->output, c->xn, rows, c->logits); /* (rows, V) */
    c->n_logits = rows;
    return GRAFT_OK;
}
