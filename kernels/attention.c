/* attention.c - scaled dot-product attention over an f32 or f16 K/V cache: causal or
 * bidirectional, optional additive mask, grouped-query heads. A plain C driver over the kernel
 * table, parallel with OpenMP; contract in kernels/kernels.h.
 *
 * Two shapes of work, both cache-friendly for K/V rows laid out (n_kv, n_head_kv * head_dim):
 *  - decode (n_q == 1): a work item is a block of kv heads; it streams every K/V row once,
 *    reading its heads' contiguous segment (dot per head for the scores, axpy per head for the
 *    output), so a long cache is read sequentially instead of head slice by head slice.
 *  - prefill (n_q > 1): a work item is one head and a block of QB queries, and both products
 *    go through the table's gemm: scores from the head's K slice, then the output from the
 *    probabilities and the head's V slice, which the thread keeps transposed (and f32) in its
 *    scratch for the following items of the same kv head.
 * Each output row (query, head) is computed by one thread, by the same operations in the same
 * order whatever the blocks are (decode blocks depend on n_threads, prefill blocks only on n_q),
 * so the result does not depend on the thread count. No allocation: the caller's scratch holds
 * per-thread scores and one converted f16 row. */
#include <assert.h>
#include <omp.h>
#include <string.h>

#include "kernels.h"

#define QB 16       /* queries per prefill work item */
#define PREFETCH 4  /* K/V rows ahead to prefetch: rows are far apart, hardware won't follow */

static size_t round16(int64_t n) { return (size_t)((n + 15) & ~(int64_t)15); }

/* Per thread: score rows of round16(n_kv) floats (n_head of them in decode, QB in prefill),
 * one converted row segment (n_head_kv * head_dim), QB output rows of round16(head_dim) and a
 * transposed V slice (head_dim, round16(n_kv)) (prefill). Each part is a multiple of 16 floats,
 * so threads never share a cache line. Grows with n_kv and n_threads only (not n_q), so scratch
 * sized for a context's n_ctx serves every call on it. */
static size_t score_rows(const graft_attn_params *p) { return p->n_head > QB ? (size_t)p->n_head : QB; }

static size_t thread_floats(const graft_attn_params *p) {
    return score_rows(p) * round16(p->n_kv) + round16((int64_t)p->n_head_kv * p->head_dim) +
           (QB + (size_t)p->head_dim) * round16(p->head_dim > p->n_kv ? p->head_dim : p->n_kv);
}

size_t graft_attention_scratch_floats(const graft_attn_params *p, int n_threads) {
    if (n_threads < 1) n_threads = 1;
    return (size_t)n_threads * thread_floats(p);
}

/* Keys 0 .. visible-1 are visible to query i (causal: up to its position q_pos0 + i). */
static int64_t visible(const graft_attn_params *p, int64_t i) {
    int64_t n = p->n_kv;
    if (p->causal && p->q_pos0 + i + 1 < n) n = p->q_pos0 + i + 1;
    return n > 0 ? n : 0;
}

/* Raw scores q.k (n_vis) of query i -> probabilities: scale, add the mask row, softmax. */
static void to_probs(const graft_kernels *kt, const graft_attn_params *p, int64_t i, float *s,
                     int64_t n_vis) {
    kt->scale(n_vis, p->scale, s, s);
    if (p->mask) kt->add(n_vis, s, p->mask + i * p->n_kv, s);
    kt->softmax(n_vis, s); /* all -inf gives all 0, hence a zero output row */
}

/* The f32 view of elements [off, off + n) of a K/V row: the row itself, or converted into buf. */
static const float *row_f32(const graft_kernels *kt, int kv_type, const char *row, int64_t off,
                            int64_t n, float *buf) {
    if (kv_type != GRAFT_TYPE_F16) return (const float *)row + off;
    kt->f16_to_f32(n, (const uint16_t *)row + off, buf);
    return buf;
}

/* ---- decode: one query, kv heads [c0, c1) -------------------------------------------------- */

static void attend_decode(const graft_kernels *kt, const graft_attn_params *p, int c0, int c1,
                          const float *q, const char *K, size_t kb, const char *V, size_t vb,
                          float *out, float *S, size_t ld, float *buf) {
    /* q, out: (n_head * hd) of query 0; S: (heads of the block, ld) scores; buf: (seg) floats */
    const int hd = p->head_dim, group = p->n_head / p->n_head_kv;
    const int h0 = c0 * group, nh = (c1 - c0) * group;
    const int64_t seg_off = (int64_t)c0 * hd, seg = (int64_t)(c1 - c0) * hd;
    const int64_t n_vis = visible(p, 0);
    memset(out + (int64_t)h0 * hd, 0, sizeof(float) * (size_t)nh * (size_t)hd);
    if (n_vis == 0) return;

    for (int64_t j = 0; j < n_vis; j++) {
        const char *krow = K + (size_t)j * kb;
        if (j + PREFETCH < n_vis) __builtin_prefetch(krow + PREFETCH * kb);
        const float *k = row_f32(kt, p->kv_type, krow, seg_off, seg, buf); /* (c1 - c0, hd) */
        for (int hh = 0; hh < nh; hh++)
            S[(size_t)hh * ld + (size_t)j] =
                kt->dot(hd, q + (int64_t)(h0 + hh) * hd, k + (int64_t)(hh / group) * hd);
    }
    for (int hh = 0; hh < nh; hh++) to_probs(kt, p, 0, S + (size_t)hh * ld, n_vis);

    for (int64_t j = 0; j < n_vis; j++) {
        const char *vrow = V + (size_t)j * vb;
        if (j + PREFETCH < n_vis) __builtin_prefetch(vrow + PREFETCH * vb);
        const float *v = row_f32(kt, p->kv_type, vrow, seg_off, seg, buf);
        for (int hh = 0; hh < nh; hh++) {
            const float w = S[(size_t)hh * ld + (size_t)j];
            if (w != 0.0f) kt->axpy(hd, w, v + (int64_t)(hh / group) * hd, out + (int64_t)(h0 + hh) * hd);
        }
    }
}

/* ---- prefill: head h, queries [i0, i0 + nb) ------------------------------------------------ */

/* A thread's prefill scratch; vt holds rows [0, vt_rows) of kv head vt_kvh's V slice,
 * transposed: vt[d * lda + j] = V row j, element kvh * head_dim + d, as f32. lda is
 * round16(max(head_dim, n_kv)). */
typedef struct {
    float *S;   /* (QB, ld) scores, then probabilities */
    float *buf; /* (head_dim) one converted f16 row */
    float *acc; /* (QB, lda) output rows before they are copied out */
    float *vt;  /* (head_dim, lda) */
    int vt_kvh;
    int64_t vt_rows;
} prefill_scratch;

/* Makes vt hold rows [0, n) of kv head kvh (the values are the same whoever fills them). */
static void vt_fill(const graft_kernels *kt, const graft_attn_params *p, prefill_scratch *t,
                    int kvh, int64_t n, const char *V, size_t vb, size_t lda) {
    const int hd = p->head_dim;
    if (t->vt_kvh != kvh) {
        t->vt_kvh = kvh;
        t->vt_rows = 0;
    }
    for (int64_t j = t->vt_rows; j < n; j++) {
        const char *vrow = V + (size_t)j * vb;
        if (j + PREFETCH < n) __builtin_prefetch(vrow + PREFETCH * vb);
        const float *v = row_f32(kt, p->kv_type, vrow, (int64_t)kvh * hd, hd, t->buf);
        for (int d = 0; d < hd; d++) t->vt[(size_t)d * lda + (size_t)j] = v[d];
    }
    if (n > t->vt_rows) t->vt_rows = n;
}

static void attend_block(const graft_kernels *kt, const graft_attn_params *p, int h, int64_t i0,
                         int nb, const float *Q, int64_t q_stride, const char *K, size_t kb,
                         const char *V, size_t vb, float *out, int64_t out_stride,
                         prefill_scratch *t, size_t ld, size_t lda) {
    const int hd = p->head_dim, kvh = h / (p->n_head / p->n_head_kv);
    const int64_t n_max = visible(p, i0 + nb - 1); /* the block's last query sees the most */
    if (n_max == 0) {
        for (int b = 0; b < nb; b++)
            memset(out + (i0 + b) * out_stride + (int64_t)h * hd, 0, sizeof(float) * (size_t)hd);
        return;
    }

    /* S[b][j] = Q row (i0 + b), head h . K row j, head kvh, for j < n_max */
    const float *qh = Q + i0 * q_stride + (int64_t)h * hd;
    const char *kh = K + (size_t)kvh * (size_t)hd * (p->kv_type == GRAFT_TYPE_F16 ? 2 : 4);
    if (p->kv_type == GRAFT_TYPE_F16) kt->gemm_f16(kh, kb, 0, n_max, hd, qh, q_stride, nb, t->S, (int64_t)ld);
    else kt->gemm_f32(kh, kb, 0, n_max, hd, qh, q_stride, nb, t->S, (int64_t)ld);
    /* probabilities; a query's keys past its own position weigh exactly 0 */
    for (int b = 0; b < nb; b++) {
        float *s = t->S + (size_t)b * ld;
        const int64_t nv = visible(p, i0 + b);
        if (nv > 0) to_probs(kt, p, i0 + b, s, nv);
        for (int64_t j = nv; j < n_max; j++) s[j] = 0.0f;
    }

    /* acc[b][d] = sum_j S[b][j] V[j][d], as gemm over the transposed V slice */
    vt_fill(kt, p, t, kvh, n_max, V, vb, lda);
    kt->gemm_f32(t->vt, lda * sizeof(float), 0, hd, n_max, t->S, (int64_t)ld, nb, t->acc, (int64_t)lda);
    for (int b = 0; b < nb; b++)
        memcpy(out + (i0 + b) * out_stride + (int64_t)h * hd, t->acc + (size_t)b * lda,
               sizeof(float) * (size_t)hd);
}

void graft_attention(const graft_kernels *kt, const graft_attn_params *p, const float *Q,
                     int64_t q_stride, const void *K, size_t k_row_bytes, const void *V,
                     size_t v_row_bytes, float *out, int64_t out_stride, float *scratch,
                     int n_threads) {
    /* Q, out: (n_q, n_head * head_dim) rows q_stride / out_stride floats apart;
     * K, V: (n_kv, n_head_kv * head_dim) of kv_type */
    if (!kt) kt = graft_kernels_get();
    if (n_threads < 1) n_threads = 1;
    assert(p->n_head_kv > 0 && p->n_head % p->n_head_kv == 0);
    assert(p->kv_type == GRAFT_TYPE_F32 || p->kv_type == GRAFT_TYPE_F16);
    const size_t per_thread = thread_floats(p), ld = round16(p->n_kv);
    const size_t seg = round16((int64_t)p->n_head_kv * p->head_dim);
    const char *Kc = K, *Vc = V;

    /* small problems on one thread (see GRAFT_MATMUL_MIN_PARALLEL): same results, no spinning */
    if ((int64_t)p->n_q * p->n_kv * p->n_head * p->head_dim < GRAFT_MATMUL_MIN_PARALLEL / 2) n_threads = 1;
    if (p->n_q == 1) {
        /* kv heads split into at most n_threads contiguous blocks */
        const int n_blocks = n_threads < p->n_head_kv ? n_threads : p->n_head_kv;
        const int per = (p->n_head_kv + n_blocks - 1) / n_blocks;
#pragma omp parallel for num_threads(n_threads) schedule(static, 1)
        for (int c0 = 0; c0 < p->n_head_kv; c0 += per) {
            float *S = scratch + (size_t)omp_get_thread_num() * per_thread;
            const int c1 = c0 + per < p->n_head_kv ? c0 + per : p->n_head_kv;
            attend_decode(kt, p, c0, c1, Q, Kc, k_row_bytes, Vc, v_row_bytes, out, S, ld,
                          S + score_rows(p) * ld);
        }
        return;
    }

    /* head-major items: consecutive items share a head's K/V slice (and the transposed V) */
    const int64_t n_qb = (p->n_q + QB - 1) / QB, n_items = (int64_t)p->n_head * n_qb;
    const size_t lda = round16(p->head_dim > p->n_kv ? p->head_dim : p->n_kv);
#pragma omp parallel num_threads(n_threads)
    {
        prefill_scratch t;
        t.S = scratch + (size_t)omp_get_thread_num() * per_thread;
        t.buf = t.S + QB * ld;
        t.acc = t.buf + seg;
        t.vt = t.acc + QB * lda;
        t.vt_kvh = -1;
        t.vt_rows = 0;
        /* dynamic: causal blocks differ in cost; which thread runs an item never changes it */
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < n_items; it++) {
            const int h = (int)(it / n_qb);
            const int64_t i0 = (it % n_qb) * QB;
            const int nb = p->n_q - i0 < QB ? (int)(p->n_q - i0) : QB;
            attend_block(kt, p, h, i0, nb, Q, q_stride, Kc, k_row_bytes, Vc, v_row_bytes, out,
                         out_stride, &t, ld, lda);
        }
    }
}
