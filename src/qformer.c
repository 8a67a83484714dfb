/* qformer.c - the "qformer" projector: BLIP-2's and InstructBLIP's Querying Transformer and the
 * language projection, with Hugging Face Blip2QFormerModel / InstructBlipQFormerModel semantics
 * (transformers 4.40): a BERT-style stack of post-LN layers over learned queries (plus, for
 * InstructBLIP, the instruction's tokens), cross-attending to every row of the ViT's last hidden
 * state in every cross_attention_freq-th layer; then mm.0 to the LLM's width. Sits behind the
 * projector interface (projector.h); the vision tower (clip.c) hands it the post-layernormed rows
 * (GRAFT_PROJ_ROWS_LAST_HIDDEN). GGUF names (graft's own; llama.cpp has no BLIP-2): docs/formats.md.
 *
 * Dimension legend (math order, rows first):
 *   Nv  image rows (class token first)    Dv  their width (the ViT's, p->d_in)
 *   nq  learned queries                   nt  instruction tokens (0 for BLIP-2)    R = nq + nt
 *   Dq  Q-Former width   Hq heads   hq = Dq / Hq   Fq  FFN width
 *   Vq  text vocabulary  Pq  text positions        De  output width (the LLM's n_embd)
 *
 * One layer, as Blip2QFormerLayer computes it:
 *   a      = LN(out(selfattn(x)) + x)                   over all R rows, bidirectional
 *   c      = LN(cross_out(xattn(a[:nq], image)) + a[:nq])  when layer % freq == 0, else a[:nq]
 *   x[:nq] = LN(ffn_down(gelu(ffn_up(c))) + c)          the query FFN
 *   x[nq:] = LN(text_ffn_down(gelu(text_ffn_up(a[nq:]))) + a[nq:])   the text FFN
 * Input: x = LN([queries; tok_embd(ids) + pos_embd(0 .. nt-1)]). Output: mm.0(x[:nq]). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "projector.h"
#include "qformer.h"

/* ---- weights ---------------------------------------------------------------------------------- */

typedef struct qf_attn {
    graft_tensor wq;             /* (Dq, Dq) */
    graft_tensor wk, wv;         /* (Dq, Dq) self-attention; (Dq, Dv) cross-attention */
    graft_tensor wo;             /* (Dq, Dq) */
    const float *bq, *bk, *bv, *bo; /* (Dq) */
    const float *ln_w, *ln_b;    /* (Dq) the post-LN after the residual */
} qf_attn;

typedef struct qf_ffn {
    graft_tensor up;             /* (Fq, Dq) */
    graft_tensor down;           /* (Dq, Fq) */
    const float *b_up;           /* (Fq) */
    const float *b_down;         /* (Dq) */
    const float *ln_w, *ln_b;    /* (Dq) */
} qf_ffn;

typedef struct qf_layer {
    qf_attn self;
    int has_cross;               /* layer % cross_freq == 0 */
    qf_attn cross;
    qf_ffn ffn;                  /* the queries' (intermediate_query / output_query) */
    qf_ffn text_ffn;             /* the text rows' (intermediate / output), InstructBLIP */
} qf_layer;

typedef struct qformer {
    int n_embd, n_head, head_dim, n_ff, n_layer, n_query; /* Dq, Hq, hq, Fq, L, nq */
    int cross_freq;
    float eps;
    int has_text;                /* tok_embd + pos_embd + a text FFN per layer */
    int n_vocab, n_pos;          /* Vq, Pq */
    graft_tensor query;          /* (nq, Dq) */
    const float *embd_ln_w, *embd_ln_b; /* (Dq) */
    graft_tensor tok_embd;       /* (Vq, Dq) */
    graft_tensor pos_embd;       /* (Pq, Dq) */
    qf_layer *layers;            /* L */
    graft_tensor proj;           /* (De, Dq) mm.0: language_projection */
    const float *proj_b;         /* (De) */
} qformer;

static int key_u32(const graft_wloader *wl, const char *key, int *out, graft_error *err) {
    uint32_t v;
    int rc = graft_gguf_get_u32(wl->g, key, &v, err);
    if (rc == GRAFT_E_NOTFOUND) return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing key %s", wl->path, key);
    if (rc) return rc;
    if (v == 0 || v > (1u << 20))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s = %u is out of range", wl->path, key, v);
    *out = (int)v;
    return GRAFT_OK;
}

/* qf.blk.<l>.<what>_{q,k,v,out}.* and <what>_ln.*: keys/values of width d_kv. */
static int load_attn(graft_wloader *wl, int l, const char *what, int64_t d_kv, int64_t Dq, qf_attn *A,
                     graft_error *err) {
    char n[4][64], ln[64];
    const char *sfx[4] = {"q", "k", "v", "out"};
    for (int j = 0; j < 4; j++) snprintf(n[j], sizeof n[j], "qf.blk.%d.%s_%s", l, what, sfx[j]);
    snprintf(ln, sizeof ln, "qf.blk.%d.%s_ln", l, what);
    int rc;
    if ((rc = graft_wl_linear(wl, n[0], Dq, Dq, &A->wq, &A->bq, err)) ||
        (rc = graft_wl_linear(wl, n[1], d_kv, Dq, &A->wk, &A->bk, err)) ||
        (rc = graft_wl_linear(wl, n[2], d_kv, Dq, &A->wv, &A->bv, err)) ||
        (rc = graft_wl_linear(wl, n[3], Dq, Dq, &A->wo, &A->bo, err)) ||
        (rc = graft_wl_norm(wl, ln, Dq, &A->ln_w, &A->ln_b, err)))
        return rc;
    return GRAFT_OK;
}

/* qf.blk.<l>.<what>_up / _down / _ln (what: "ffn" or "text_ffn"). */
static int load_ffn(graft_wloader *wl, int l, const char *what, int64_t Dq, int64_t Fq, qf_ffn *f,
                    graft_error *err) {
    char up[64], down[64], ln[64];
    snprintf(up, sizeof up, "qf.blk.%d.%s_up", l, what);
    snprintf(down, sizeof down, "qf.blk.%d.%s_down", l, what);
    snprintf(ln, sizeof ln, "qf.blk.%d.%s_ln", l, what);
    int rc;
    if ((rc = graft_wl_linear(wl, up, Dq, Fq, &f->up, &f->b_up, err)) ||
        (rc = graft_wl_linear(wl, down, Fq, Dq, &f->down, &f->b_down, err)) ||
        (rc = graft_wl_norm(wl, ln, Dq, &f->ln_w, &f->ln_b, err)))
        return rc;
    return GRAFT_OK;
}

/* The row count of a 2-D tensor whose rows must be `width` wide (an embedding table). */
static int table_rows(const graft_wloader *wl, const char *name, int64_t width, int *rows, graft_error *err) {
    int64_t i = graft_gguf_find_tensor(wl->g, name);
    if (i < 0) return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing tensor '%s'", wl->path, name);
    graft_gguf_tensor t = graft_gguf_tensor_info(wl->g, i);
    char sb[96];
    if (t.n_dims != 2 || t.ne[0] != width || t.ne[1] < 1 || t.ne[1] > (1 << 24))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor '%s' has shape %s, expected [%lld, rows]", wl->path,
                               name, graft_wl_shape(&t, sb, sizeof sb), (long long)width);
    *rows = (int)t.ne[1];
    return GRAFT_OK;
}

static int qformer_load(graft_projector *p, graft_wloader *wl, graft_error *err) {
    qformer *s = calloc(1, sizeof *s);
    if (!s) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", wl->path);
    p->state = s;
    int rc;
    if ((rc = key_u32(wl, "clip.qformer.embedding_length", &s->n_embd, err)) ||
        (rc = key_u32(wl, "clip.qformer.block_count", &s->n_layer, err)) ||
        (rc = key_u32(wl, "clip.qformer.attention.head_count", &s->n_head, err)) ||
        (rc = key_u32(wl, "clip.qformer.feed_forward_length", &s->n_ff, err)) ||
        (rc = key_u32(wl, "clip.qformer.cross_attention_freq", &s->cross_freq, err)))
        return rc;
    rc = graft_gguf_get_f32(wl->g, "clip.qformer.attention.layer_norm_epsilon", &s->eps, err);
    if (rc == GRAFT_E_NOTFOUND)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing key clip.qformer.attention.layer_norm_epsilon", wl->path);
    if (rc) return rc;
    if (!(s->eps > 0.0f && s->eps < 1.0f))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: clip.qformer.attention.layer_norm_epsilon %g is out of range",
                               wl->path, (double)s->eps);
    if (s->n_embd % s->n_head)
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: clip.qformer.embedding_length %d is not a multiple of its head_count %d", wl->path,
                               s->n_embd, s->n_head);
    s->head_dim = s->n_embd / s->n_head;
    const int64_t Dq = s->n_embd, Fq = s->n_ff, Dv = p->d_in;

    /* the queries: their count is the table's */
    int64_t d_out = 0;
    if ((rc = table_rows(wl, "qf.query_embd", Dq, &s->n_query, err)) ||
        (rc = graft_wl_matrix(wl, "qf.query_embd", Dq, s->n_query, 0, &s->query, err)) ||
        (rc = graft_wl_norm(wl, "qf.embd_ln", Dq, &s->embd_ln_w, &s->embd_ln_b, err)))
        return rc;
    s->has_text = graft_wl_has(wl, "qf.tok_embd.weight") || graft_wl_has(wl, "qf.pos_embd.weight");
    if (s->has_text &&
        ((rc = table_rows(wl, "qf.tok_embd.weight", Dq, &s->n_vocab, err)) ||
         (rc = table_rows(wl, "qf.pos_embd.weight", Dq, &s->n_pos, err)) ||
         (rc = graft_wl_matrix(wl, "qf.tok_embd.weight", Dq, s->n_vocab, 0, &s->tok_embd, err)) ||
         (rc = graft_wl_matrix(wl, "qf.pos_embd.weight", Dq, s->n_pos, 0, &s->pos_embd, err))))
        return rc;

    /* each layer has at least 22 tensors: a forged block_count must not size an allocation */
    if ((int64_t)s->n_layer * 22 > graft_gguf_n_tensors(wl->g))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: clip.qformer.block_count = %d, but the file has only %lld tensors",
                               wl->path, s->n_layer, (long long)graft_gguf_n_tensors(wl->g));
    s->layers = calloc((size_t)s->n_layer, sizeof *s->layers);
    if (!s->layers) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", wl->path);
    for (int l = 0; l < s->n_layer; l++) {
        qf_layer *L = &s->layers[l];
        char cq[64];
        snprintf(cq, sizeof cq, "qf.blk.%d.cross_q.weight", l);
        L->has_cross = l % s->cross_freq == 0;
        if (!L->has_cross && graft_wl_has(wl, cq))
            return graft_error_set(err, GRAFT_E_FORMAT,
                                   "%s: tensor '%s' exists, but clip.qformer.cross_attention_freq = %d gives layer %d "
                                   "no cross-attention", wl->path, cq, s->cross_freq, l);
        if ((rc = load_attn(wl, l, "attn", Dq, Dq, &L->self, err)) ||
            (L->has_cross && (rc = load_attn(wl, l, "cross", Dv, Dq, &L->cross, err))) ||
            (rc = load_ffn(wl, l, "ffn", Dq, Fq, &L->ffn, err)) ||
            (s->has_text && (rc = load_ffn(wl, l, "text_ffn", Dq, Fq, &L->text_ffn, err))))
            return rc;
    }

    /* mm.0: the language projection Dq -> De */
    int64_t pi = graft_gguf_find_tensor(wl->g, "mm.0.weight");
    if (pi < 0) return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing tensor 'mm.0.weight'", wl->path);
    graft_gguf_tensor pt = graft_gguf_tensor_info(wl->g, pi);
    d_out = pt.n_dims == 2 ? pt.ne[1] : 0;
    if (d_out < 1 || d_out > (1 << 20))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor 'mm.0.weight' is not a matrix", wl->path);
    if ((rc = graft_wl_linear(wl, "mm.0", Dq, d_out, &s->proj, &s->proj_b, err))) return rc;
    p->d_out = (int)d_out;
    return GRAFT_OK;
}

static void qformer_free(graft_projector *p) {
    qformer *s = p->state;
    if (s) free(s->layers);
    free(s);
    p->state = NULL;
}

static int qformer_n_out(const graft_projector *p, int n_in) {
    const qformer *s = p->state;
    return n_in >= 1 ? s->n_query : 0;
}

/* ---- scratch ---------------------------------------------------------------------------------- */

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }
static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* The rows forward may see: nq queries and at most min(n_text_max, Pq) instruction tokens. */
static int max_rows(const qformer *s, int n_text_max) {
    const int nt = s->has_text ? (n_text_max < s->n_pos ? n_text_max : s->n_pos) : 0;
    return s->n_query + (nt > 0 ? nt : 0);
}

static graft_attn_params attn_params(const qformer *s, int n_q, int n_kv) {
    graft_attn_params a;
    memset(&a, 0, sizeof a);
    a.n_q = n_q;
    a.n_kv = n_kv;
    a.n_head = a.n_head_kv = s->n_head;
    a.head_dim = s->head_dim;
    a.causal = 0;
    a.scale = 1.0f / sqrtf((float)s->head_dim);
    a.kv_type = GRAFT_TYPE_F32;
    return a;
}

/* Where forward's buffers sit in the scratch (offsets in bytes from its start). */
typedef struct qf_layout {
    size_t x, a, q, k, v, att, t, ff, attn, mm, total;
} qf_layout;

static qf_layout layout_of(const qformer *s, int n_in, int n_text_max, int n_threads) {
    const size_t Rm = (size_t)max_rows(s, n_text_max), Nkv = Rm > (size_t)n_in ? Rm : (size_t)n_in;
    const size_t Dq = (size_t)s->n_embd, f = sizeof(float);
    size_t mm = graft_linear_scratch_bytes(&s->proj, (int)s->n_query, n_threads);
    size_t attn = 0;
    for (int l = 0; l < s->n_layer; l++) {
        const qf_layer *L = &s->layers[l];
        const graft_tensor *ws[] = {&L->self.wq, &L->self.wk, &L->self.wv, &L->self.wo, &L->ffn.up, &L->ffn.down,
                                    &L->text_ffn.up, &L->text_ffn.down};
        for (int i = 0; i < 8; i++)
            if (ws[i]->data) mm = max_sz(mm, graft_linear_scratch_bytes(ws[i], (int)Rm, n_threads));
        graft_attn_params ap = attn_params(s, (int)Rm, (int)Rm);
        attn = max_sz(attn, graft_attention_scratch_floats(&ap, n_threads) * f);
        if (L->has_cross) {
            const graft_tensor *cs[] = {&L->cross.wq, &L->cross.wo};
            for (int i = 0; i < 2; i++) mm = max_sz(mm, graft_linear_scratch_bytes(cs[i], (int)s->n_query, n_threads));
            mm = max_sz(mm, graft_linear_scratch_bytes(&L->cross.wk, n_in, n_threads));
            mm = max_sz(mm, graft_linear_scratch_bytes(&L->cross.wv, n_in, n_threads));
            ap = attn_params(s, s->n_query, n_in);
            attn = max_sz(attn, graft_attention_scratch_floats(&ap, n_threads) * f);
        }
    }
    qf_layout o;
    size_t at = 0;
    o.x = at, at += align64(Rm * Dq * f);
    o.a = at, at += align64(Rm * Dq * f);
    o.q = at, at += align64(Rm * Dq * f);
    o.k = at, at += align64(Nkv * Dq * f);
    o.v = at, at += align64(Nkv * Dq * f);
    o.att = at, at += align64(Rm * Dq * f);
    o.t = at, at += align64(Rm * Dq * f);
    o.ff = at, at += align64(Rm * (size_t)s->n_ff * f);
    o.attn = at, at += align64(attn);
    o.mm = at, at += align64(mm);
    o.total = at;
    return o;
}

static size_t qformer_scratch(const graft_projector *p, int n_in, int n_text_max, int n_threads) {
    return layout_of(p->state, n_in, n_text_max, n_threads).total;
}

/* ---- forward ---------------------------------------------------------------------------------- */

typedef struct qf_run {
    const qformer *s;
    const graft_kernels *kt;
    int nt;                      /* threads */
    float *x, *a, *q, *k, *v, *att, *t, *ff; /* see layout_of */
    float *attn;                 /* graft_attention's scratch */
    void *mm;                    /* graft_matmul's */
} qf_run;

/* Each of the n rows of y = LN(y + res) (y, res (n, Dq)). */
static void add_norm(const qf_run *r, float *y, const float *res, int n, const float *w, const float *b) {
    const int Dq = r->s->n_embd;
    for (int i = 0; i < n; i++) {
        float *row = y + (size_t)i * Dq;
        r->kt->add(Dq, row, res + (size_t)i * Dq, row);
        r->kt->layernorm(Dq, row, w, b, r->s->eps, row);
    }
}

/* out (n_q, Dq) = LN(wo . softmax(q k^T / sqrt(hq)) v + bo + xq): q from xq (n_q, Dq), k and v
 * from kv (n_kv, d_kv); bidirectional, no mask (every row is a real token). */
static void attention_block(const qf_run *r, const qf_attn *A, const float *xq, int n_q, const float *kv, int n_kv,
                            float *out) {
    const qformer *s = r->s;
    const int Dq = s->n_embd;
    graft_linear(r->kt, &A->wq, A->bq, xq, n_q, r->q, r->mm, r->nt);  /* (n_q, Dq) */
    graft_linear(r->kt, &A->wk, A->bk, kv, n_kv, r->k, r->mm, r->nt); /* (n_kv, Dq) */
    graft_linear(r->kt, &A->wv, A->bv, kv, n_kv, r->v, r->mm, r->nt); /* (n_kv, Dq) */
    graft_attn_params ap = attn_params(s, n_q, n_kv);
    graft_attention(r->kt, &ap, r->q, Dq, r->k, (size_t)Dq * sizeof(float), r->v, (size_t)Dq * sizeof(float), r->att,
                    Dq, r->attn, r->nt);                               /* (n_q, Dq) */
    graft_linear(r->kt, &A->wo, A->bo, r->att, n_q, out, r->mm, r->nt); /* (n_q, Dq) */
    add_norm(r, out, xq, n_q, A->ln_w, A->ln_b);
}

/* y (n, Dq) = LN(down(gelu(up(x))) + x) for x (n, Dq). */
static void ffn_block(const qf_run *r, const qf_ffn *f, const float *x, int n, float *y) {
    graft_linear(r->kt, &f->up, f->b_up, x, n, r->ff, r->mm, r->nt);   /* (n, Fq) */
    r->kt->gelu_erf((int64_t)n * r->s->n_ff, r->ff, r->ff);
    graft_linear(r->kt, &f->down, f->b_down, r->ff, n, y, r->mm, r->nt); /* (n, Dq) */
    add_norm(r, y, x, n, f->ln_w, f->ln_b);
}

int graft_qformer_run(const graft_projector *p, const float *feats, int n_in, const graft_projector_run *run,
                      float *hidden, float *query_out, float *out) {
    const qformer *s = p->state;
    const int nq = s->n_query, Dq = s->n_embd;
    int n_text = s->has_text && run->text_ids ? run->n_text : 0;
    if (n_text > s->n_pos)
        return graft_error_set(run->err, GRAFT_E_LIMIT,
                               "qformer: %d instruction tokens, more than the Q-Former's %d positions", n_text, s->n_pos);
    for (int i = 0; i < n_text; i++)
        if (run->text_ids[i] < 0 || run->text_ids[i] >= s->n_vocab)
            return graft_error_set(run->err, GRAFT_E_INVALID,
                                   "qformer: instruction token %d is %d, outside the Q-Former's vocabulary of %d", i,
                                   (int)run->text_ids[i], s->n_vocab);
    if (n_in < 1) return graft_error_set(run->err, GRAFT_E_INVALID, "qformer: no image rows");
    const int R = nq + n_text;
    /* the layout for R rows: every buffer in it is at most as large as in the layout the scratch
     * was sized for (n_text <= n_text_max), so it fits */
    const qf_layout o = layout_of(s, n_in, n_text, run->n_threads);
    char *base = run->scratch;
    qf_run r = {s, run->kt, run->n_threads, (float *)(base + o.x), (float *)(base + o.a), (float *)(base + o.q),
                (float *)(base + o.k), (float *)(base + o.v), (float *)(base + o.att), (float *)(base + o.t),
                (float *)(base + o.ff), (float *)(base + o.attn), base + o.mm};
    const graft_kernels *kt = run->kt;

    /* x (R, Dq) = LN([queries; tok_embd(ids) + pos_embd(0 .. nt-1)]): text positions start at 0 */
    for (int i = 0; i < nq; i++) graft_tensor_row_f32(kt, &s->query, i, r.x + (size_t)i * Dq);
    for (int i = 0; i < n_text; i++) {
        float *row = r.x + (size_t)(nq + i) * Dq;
        graft_tensor_row_f32(kt, &s->tok_embd, run->text_ids[i], row);
        graft_tensor_row_f32(kt, &s->pos_embd, i, r.t);
        kt->add(Dq, row, r.t, row);
    }
    for (int i = 0; i < R; i++)
        kt->layernorm(Dq, r.x + (size_t)i * Dq, s->embd_ln_w, s->embd_ln_b, s->eps, r.x + (size_t)i * Dq);
    if (hidden) memcpy(hidden, r.x, (size_t)R * Dq * sizeof(float));

    for (int l = 0; l < s->n_layer; l++) {
        const qf_layer *L = &s->layers[l];
        attention_block(&r, &L->self, r.x, R, r.x, R, r.a);          /* a (R, Dq) */
        if (L->has_cross) {
            attention_block(&r, &L->cross, r.a, nq, feats, n_in, r.t); /* c (nq, Dq) */
            memcpy(r.a, r.t, (size_t)nq * Dq * sizeof(float));
        }
        ffn_block(&r, &L->ffn, r.a, nq, r.x);                          /* x[:nq] */
        if (n_text) ffn_block(&r, &L->text_ffn, r.a + (size_t)nq * Dq, n_text, r.x + (size_t)nq * Dq); /* x[nq:] */
        if (hidden) memcpy(hidden + (size_t)(l + 1) * R * Dq, r.x, (size_t)R * Dq * sizeof(float));
    }
    if (query_out) memcpy(query_out, r.x, (size_t)nq * Dq * sizeof(float));
    if (out) graft_linear(kt, &s->proj, s->proj_b, r.x, nq, out, r.mm, r.nt); /* (nq, De) */
    return GRAFT_OK;
}

static int qformer_forward(const graft_projector *p, const float *feats, int n_in, float *out,
                           const graft_projector_run *run) {
    return graft_qformer_run(p, feats, n_in, run, NULL, NULL, out);
}

int graft_qformer_n_layer(const graft_projector *p) {
    return p->ops == &graft_projector_qformer ? ((const qformer *)p->state)->n_layer : -1;
}

int graft_qformer_n_embd(const graft_projector *p) {
    return p->ops == &graft_projector_qformer ? ((const qformer *)p->state)->n_embd : -1;
}

const graft_projector_ops graft_projector_qformer = {
    "qformer", "BLIP-2 / InstructBLIP Q-Former over the ViT's last hidden state, then a linear layer (qf.*, mm.0)",
    qformer_load, qformer_free, qformer_n_out, qformer_scratch, qformer_forward, GRAFT_PROJ_ROWS_LAST_HIDDEN};
