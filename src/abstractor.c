/* abstractor.c - mPLUG-Owl's visual abstractor as a graft projector ("owl_abstractor"): Q learned
 * queries cross-attend, over n_a layers, to the ViT's last hidden state (every row, CLS first,
 * post-layernorm applied: GRAFT_PROJ_ROWS_LAST_HIDDEN), then visual_fc maps each query to the LLM's
 * width and the learned vit_eos row is appended: Q + 1 rows enter the language model.
 * Semantics from the authors' modeling_mplug_owl.py (MplugOwlVisualAbstractorModel), checked against
 * tests/reference/owl_ref.py; the file layout (ab.* tensors, clip.abstractor.* keys) is in
 * docs/formats.md and docs/projectors.md.
 *
 * One layer, in the authors' order (norm1 = ln_q, normk = ln_kv, norm2 = ln_ffn):
 *     qn = ln_q(q)                           eps: clip.abstractor.attention.layer_norm_epsilon
 *     kv = [qn; ln_kv(img)]                  the queries attend to themselves and to the image
 *     x  = qn + attn_out(mha(attn_q(qn), attn_k(kv), attn_v(kv)))     residual on the NORMED queries
 *     q  = x + ffn_down(ffn_ln(silu(ffn_gate(h)) * ffn_up(h))),  h = ln_ffn(x)
 *                                            ffn_ln eps: clip.abstractor.ffn_layer_norm_epsilon
 * then rows = [mm.0(q); ab.vit_eos]. No mask: the authors' masks are all ones.
 *
 * Dimension legend (math order, rows first):
 *   T   image rows handed in (n_in: the ViT's n_patches + 1)    D  their width = the abstractor's
 *   Q   learned queries (clip.abstractor.query_count)           M = Q + T  key/value rows
 *   H   heads, hd = D / H                                       F  abstractor MLP width
 *   De  the LLM's width (mm.0's outputs)                        n_out = Q + 1 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "projector.h"

/* ---- weights -------------------------------------------------------------------------------- */

typedef struct {
    const float *ln_q_w, *ln_q_b;     /* (D)  norm1, on the queries */
    const float *ln_kv_w, *ln_kv_b;   /* (D)  normk, on the image rows */
    graft_tensor wq, wk, wv, wo;      /* (D, D) */
    const float *bq, *bk, *bv, *bo;   /* (D) */
    const float *ln_ffn_w, *ln_ffn_b; /* (D)  norm2 */
    graft_tensor w_gate, w_up;        /* (F, D)  w1 (under the SiLU) and w3 */
    const float *b_gate, *b_up;       /* (F) */
    const float *ffn_ln_w, *ffn_ln_b; /* (F)  ffn_ln, on the SwiGLU product */
    graft_tensor w_down;              /* (D, F)  w2 */
    const float *b_down;              /* (D) */
} ab_layer;

typedef struct {
    int n_layer, n_query, n_head, n_ff; /* n_a, Q, H, F; D is p->d_in */
    float eps, ffn_eps;
    graft_tensor query;               /* (Q, D)  query_tokens */
    ab_layer *layers;                 /* (n_layer) */
    graft_tensor fc;                  /* (De, D) visual_fc */
    const float *fc_b;                /* (De) */
    const float *eos;                 /* (De) vit_eos: the last row out */
} owl_abstractor;

static int key_u32(const graft_wloader *wl, const char *key, int max, int *out, graft_error *err) {
    uint32_t v;
    int rc = graft_gguf_get_u32(wl->g, key, &v, err);
    if (rc == GRAFT_E_NOTFOUND) return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing key %s", wl->path, key);
    if (rc) return rc;
    if (v < 1 || v > (uint32_t)max)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s = %u is out of range (1..%d)", wl->path, key, v, max);
    *out = (int)v;
    return GRAFT_OK;
}

static int key_eps(const graft_wloader *wl, const char *key, float *out, graft_error *err) {
    int rc = graft_gguf_get_f32(wl->g, key, out, err);
    if (rc == GRAFT_E_NOTFOUND) return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing key %s", wl->path, key);
    if (rc) return rc;
    if (!(*out > 0.0f && *out < 1.0f))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s = %g is out of range", wl->path, key, (double)*out);
    return GRAFT_OK;
}

static int ab_load(graft_projector *p, graft_wloader *wl, graft_error *err) {
    owl_abstractor *s = calloc(1, sizeof *s);
    if (!s) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", wl->path);
    p->state = s;
    int D, rc;
    if ((rc = key_u32(wl, "clip.abstractor.block_count", 1 << 10, &s->n_layer, err)) ||
        (rc = key_u32(wl, "clip.abstractor.query_count", 1 << 16, &s->n_query, err)) ||
        (rc = key_u32(wl, "clip.abstractor.embedding_length", 1 << 20, &D, err)) ||
        (rc = key_u32(wl, "clip.abstractor.feed_forward_length", 1 << 20, &s->n_ff, err)) ||
        (rc = key_u32(wl, "clip.abstractor.attention.head_count", 1 << 12, &s->n_head, err)) ||
        (rc = key_eps(wl, "clip.abstractor.attention.layer_norm_epsilon", &s->eps, err)) ||
        (rc = key_eps(wl, "clip.abstractor.ffn_layer_norm_epsilon", &s->ffn_eps, err)))
        return rc;
    /* normk is the abstractor's own width applied to the ViT's rows, and key/value read
     * [queries; image]: the two widths must be one */
    if (D != p->d_in)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: clip.abstractor.embedding_length %d differs from "
                               "the vision tower's width %d (the abstractor attends over [queries; image])",
                               wl->path, D, p->d_in);
    if (D % s->n_head)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: clip.abstractor.embedding_length %d is not a multiple "
                               "of clip.abstractor.attention.head_count %d", wl->path, D, s->n_head);
    /* each layer has 22 tensors: a forged block_count must not size an allocation */
    if ((int64_t)s->n_layer * 22 > graft_gguf_n_tensors(wl->g))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: clip.abstractor.block_count = %d, but the file has "
                               "only %lld tensors", wl->path, s->n_layer, (long long)graft_gguf_n_tensors(wl->g));
    int64_t i0 = graft_gguf_find_tensor(wl->g, "mm.0.weight");
    if (i0 < 0) return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing tensor 'mm.0.weight'", wl->path);
    graft_gguf_tensor t0 = graft_gguf_tensor_info(wl->g, i0);
    const int64_t De = t0.n_dims == 2 ? t0.ne[1] : 0;
    if (De < 1 || De > (1 << 20))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor 'mm.0.weight' is not a matrix", wl->path);
    if ((rc = graft_wl_matrix(wl, "ab.query_embd", D, s->n_query, 0, &s->query, err)) ||
        (rc = graft_wl_linear(wl, "mm.0", D, De, &s->fc, &s->fc_b, err)) ||
        (rc = graft_wl_vector(wl, "ab.vit_eos", De, 0, &s->eos, err)))
        return rc;
    s->layers = calloc((size_t)s->n_layer, sizeof *s->layers);
    if (!s->layers) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", wl->path);
    const int64_t F = s->n_ff;
    for (int l = 0; l < s->n_layer; l++) {
        ab_layer *L = &s->layers[l];
        char n[11][48];
        static const char *const sfx[11] = {"ln_q", "ln_kv", "attn_q", "attn_k", "attn_v", "attn_out",
                                            "ln_ffn", "ffn_gate", "ffn_up", "ffn_ln", "ffn_down"};
        for (int j = 0; j < 11; j++) snprintf(n[j], sizeof n[j], "ab.blk.%d.%s", l, sfx[j]);
        if ((rc = graft_wl_norm(wl, n[0], D, &L->ln_q_w, &L->ln_q_b, err)) ||
            (rc = graft_wl_norm(wl, n[1], D, &L->ln_kv_w, &L->ln_kv_b, err)) ||
            (rc = graft_wl_linear(wl, n[2], D, D, &L->wq, &L->bq, err)) ||
            (rc = graft_wl_linear(wl, n[3], D, D, &L->wk, &L->bk, err)) ||
            (rc = graft_wl_linear(wl, n[4], D, D, &L->wv, &L->bv, err)) ||
            (rc = graft_wl_linear(wl, n[5], D, D, &L->wo, &L->bo, err)) ||
            (rc = graft_wl_norm(wl, n[6], D, &L->ln_ffn_w, &L->ln_ffn_b, err)) ||
            (rc = graft_wl_linear(wl, n[7], D, F, &L->w_gate, &L->b_gate, err)) ||
            (rc = graft_wl_linear(wl, n[8], D, F, &L->w_up, &L->b_up, err)) ||
            (rc = graft_wl_norm(wl, n[9], F, &L->ffn_ln_w, &L->ffn_ln_b, err)) ||
            (rc = graft_wl_linear(wl, n[10], F, D, &L->w_down, &L->b_down, err)))
            return rc;
    }
    p->d_out = (int)De;
    return GRAFT_OK;
}

static void ab_free(graft_projector *p) {
    owl_abstractor *s = p->state;
    if (s) free(s->layers);
    free(s);
    p->state = NULL;
}

static int ab_n_out(const graft_projector *p, int n_in) {
    const owl_abstractor *s = p->state;
    return s && n_in >= 1 ? s->n_query + 1 : 0;
}

/* ---- scratch -------------------------------------------------------------------------------- */

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

static graft_attn_params attn_params(const owl_abstractor *s, int D, int n_in) {
    graft_attn_params ap;
    memset(&ap, 0, sizeof ap);
    ap.n_q = s->n_query;
    ap.n_kv = s->n_query + n_in;
    ap.n_head = ap.n_head_kv = s->n_head;
    ap.head_dim = D / s->n_head;
    ap.causal = 0;
    ap.scale = 1.0f / sqrtf((float)ap.head_dim);
    ap.mask = NULL;
    ap.kv_type = GRAFT_TYPE_F32;
    return ap;
}

/* The scratch, in this order (each part 64-byte aligned). q comes first on purpose: after forward
 * it holds the queries after the last layer, before mm.0 (what tests compare with the reference's
 * abstractor output; see graft_owl_abstractor_queries). */
typedef struct {
    float *q;     /* (Q, D)  the query stream */
    float *qn;    /* (Q, D)  ln_q(q) */
    float *kv;    /* (M, D)  [qn; ln_kv(img)] */
    float *k, *v; /* (M, D) */
    float *qp;    /* (Q, D)  attn_q(qn) */
    float *att;   /* (Q, D)  attention output */
    float *h;     /* (Q, D)  sub-layer output / ln_ffn(x) */
    float *g, *u; /* (Q, F)  gate and up, then the SwiGLU product */
    float *attn;  /* graft_attention scratch */
    void *mm;     /* graft_linear scratch, the largest over the layers' matrices */
} ab_scratch;

static size_t mm_bytes(const owl_abstractor *s, int n_in, int n_threads) {
    const int M = s->n_query + n_in;
    size_t mm = graft_linear_scratch_bytes(&s->fc, s->n_query, n_threads);
    for (int l = 0; l < s->n_layer; l++) {
        const ab_layer *L = &s->layers[l];
        const graft_tensor *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 7; i++) {
            size_t b = graft_linear_scratch_bytes(ws[i], M, n_threads);
            if (b > mm) mm = b;
        }
    }
    return mm;
}

/* Lays the scratch out (base NULL: only measures); returns its size. */
static size_t scratch_layout(const graft_projector *p, int n_in, int n_threads, void *base, ab_scratch *sc) {
    const owl_abstractor *s = p->state;
    const size_t D = (size_t)p->d_in, Q = (size_t)s->n_query, M = Q + (size_t)n_in, F = (size_t)s->n_ff;
    const graft_attn_params ap = attn_params(s, p->d_in, n_in);
    const size_t f = sizeof(float);
    const size_t sizes[] = {Q * D * f, Q * D * f, M * D * f, M * D * f, M * D * f, Q * D * f, Q * D * f,
                            Q * D * f, Q * F * f, Q * F * f,
                            graft_attention_scratch_floats(&ap, n_threads) * f, mm_bytes(s, n_in, n_threads)};
    void **slots[] = {(void **)&sc->q, (void **)&sc->qn, (void **)&sc->kv, (void **)&sc->k, (void **)&sc->v,
                      (void **)&sc->qp, (void **)&sc->att, (void **)&sc->h, (void **)&sc->g, (void **)&sc->u,
                      (void **)&sc->attn, &sc->mm};
    size_t off = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (base) *slots[i] = (char *)base + off;
        off += align64(sizes[i]);
    }
    return off;
}

static size_t ab_scratch_bytes(const graft_projector *p, int n_in, int n_text_max, int n_threads) {
    (void)n_text_max;
    ab_scratch sc;
    return scratch_layout(p, n_in, n_threads, NULL, &sc);
}

/* ---- forward -------------------------------------------------------------------------------- */

static void norm_rows(const graft_kernels *kt, int n, int width, const float *x, const float *w,
                      const float *b, float eps, float *out) {
    for (int r = 0; r < n; r++)
        kt->layernorm(width, x + (size_t)r * width, w, b, eps, out + (size_t)r * width);
}

static int ab_forward(const graft_projector *p, const float *feats, int n_in, float *out,
                      const graft_projector_run *run) {
    const owl_abstractor *s = p->state;
    const graft_kernels *kt = run->kt;
    const int D = p->d_in, Q = s->n_query, M = Q + n_in, F = s->n_ff, De = p->d_out, nt = run->n_threads;
    if (n_in < 1) return GRAFT_E_INVALID;
    ab_scratch sc;
    scratch_layout(p, n_in, nt, run->scratch, &sc);
    const graft_attn_params ap = attn_params(s, D, n_in);

    for (int r = 0; r < Q; r++) graft_tensor_row_f32(kt, &s->query, r, sc.q + (size_t)r * D); /* (Q, D) */
    for (int l = 0; l < s->n_layer; l++) {
        const ab_layer *L = &s->layers[l];
        /* attention over [ln_q(q); ln_kv(img)], residual on ln_q(q) */
        norm_rows(kt, Q, D, sc.q, L->ln_q_w, L->ln_q_b, s->eps, sc.qn);                     /* (Q, D) */
        memcpy(sc.kv, sc.qn, sizeof(float) * (size_t)Q * D);
        norm_rows(kt, n_in, D, feats, L->ln_kv_w, L->ln_kv_b, s->eps, sc.kv + (size_t)Q * D); /* (M, D) */
        graft_linear(kt, &L->wq, L->bq, sc.qn, Q, sc.qp, sc.mm, nt);                         /* (Q, D) */
        graft_linear(kt, &L->wk, L->bk, sc.kv, M, sc.k, sc.mm, nt);                          /* (M, D) */
        graft_linear(kt, &L->wv, L->bv, sc.kv, M, sc.v, sc.mm, nt);                          /* (M, D) */
        graft_attention(kt, &ap, sc.qp, D, sc.k, (size_t)D * sizeof(float), sc.v, (size_t)D * sizeof(float),
                        sc.att, D, sc.attn, nt);                                              /* (Q, D) */
        graft_linear(kt, &L->wo, L->bo, sc.att, Q, sc.h, sc.mm, nt);                         /* (Q, D) */
        kt->add((int64_t)Q * D, sc.qn, sc.h, sc.q);                                          /* x */
        /* q = x + ffn_down(ffn_ln(silu(ffn_gate(h)) * ffn_up(h))), h = ln_ffn(x) */
        norm_rows(kt, Q, D, sc.q, L->ln_ffn_w, L->ln_ffn_b, s->eps, sc.h);                  /* (Q, D) */
        graft_linear(kt, &L->w_gate, L->b_gate, sc.h, Q, sc.g, sc.mm, nt);                   /* (Q, F) */
        graft_linear(kt, &L->w_up, L->b_up, sc.h, Q, sc.u, sc.mm, nt);                       /* (Q, F) */
        kt->swiglu((int64_t)Q * F, sc.g, sc.u, sc.g);
        norm_rows(kt, Q, F, sc.g, L->ffn_ln_w, L->ffn_ln_b, s->ffn_eps, sc.g);              /* (Q, F) */
        graft_linear(kt, &L->w_down, L->b_down, sc.g, Q, sc.h, sc.mm, nt);                   /* (Q, D) */
        kt->add((int64_t)Q * D, sc.q, sc.h, sc.q);
    }
    graft_linear(kt, &s->fc, s->fc_b, sc.q, Q, out, sc.mm, nt);                              /* (Q, De) */
    memcpy(out + (size_t)Q * De, s->eos, sizeof(float) * (size_t)De);                        /* row Q */
    return GRAFT_OK;
}

const float *graft_owl_abstractor_queries(const void *scratch) { return scratch; }

const graft_projector_ops graft_proj_owl_abstractor = {
    "owl_abstractor",
    "mPLUG-Owl visual abstractor: learned queries cross-attend to the ViT's last hidden state, "
    "visual_fc (mm.0), then vit_eos appended",
    ab_load, ab_free, ab_n_out, ab_scratch_bytes, ab_forward, GRAFT_PROJ_ROWS_LAST_HIDDEN};
