/* init.c - random-weight models at real shapes (see init.h): llama decoders, CLIP mmproj files
 * and LLaVA pairs. Each random tensor is streamed to the writer in panels of rows generated in
 * parallel; a row's values depend only on (seed, tensor name, row), so the file does not depend
 * on the thread count. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "gguf_write.h"
#include "init.h"
#include "init_impl.h"
#include "kernels.h"
#include "tensor.h"

static const graft_init_llama presets[] = {
    {"llama-7b", 32000, 4096, 32, 32, 32, 11008, 4096, 10000.0f},
    {"llama-13b", 32000, 5120, 40, 40, 40, 13824, 4096, 10000.0f},
    {"llama-1b", 32000, 2048, 22, 32, 4, 5632, 2048, 10000.0f},
    {"tiny", 512, 64, 2, 4, 2, 128, 512, 10000.0f},
    {NULL, 0, 0, 0, 0, 0, 0, 0, 0},
};

const graft_init_llama *graft_init_presets(void) { return presets; }

const graft_init_llama *graft_init_find(const char *name) {
    for (const graft_init_llama *p = presets; p->name; p++)
        if (!strcmp(p->name, name)) return p;
    return NULL;
}

/* ---- random tensors, streamed ------------------------------------------------------------ */

/* A random tensor seen as rows of ne[0] values: a matrix (rows, cols) in math order has
 * ne = {cols, rows}; a vector is one row; a 4-D conv kernel {p, p, 3, D} is 3 p D rows of p. */
typedef struct {
    char name[64];
    int64_t rows, cols; /* cols = ne[0], rows = the product of the other dims */
    float scale;        /* values uniform in +-scale */
    int type;
    uint64_t seed;
    int n_threads;
} rand_matrix;

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* One row: uniform values from a generator seeded by (seed, row), converted to the type. */
static void make_row(const rand_matrix *m, int64_t row, float *tmp, void *out) {
    uint64_t s = mix(m->seed ^ mix((uint64_t)row + 0x9e3779b97f4a7c15ULL));
    for (int64_t k = 0; k < m->cols; k++) {
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        tmp[k] = m->scale * ((float)((s * 0x2545F4914F6CDD1DULL) >> 40) * (2.0f / 16777216.0f) - 1.0f);
    }
    const graft_kernels *kt = graft_kernels_get();
    switch (m->type) {
    case GRAFT_TYPE_F32: memcpy(out, tmp, (size_t)m->cols * 4); break;
    case GRAFT_TYPE_F16: kt->f32_to_f16(m->cols, tmp, out); break;
    case GRAFT_TYPE_BF16: kt->f32_to_bf16(m->cols, tmp, out); break;
    case GRAFT_TYPE_Q8_0: kt->quantize_q8_0(m->cols, tmp, out); break;
    case GRAFT_TYPE_Q4_0: kt->quantize_q4_0(m->cols, tmp, out); break;
    }
}

static int stream_matrix(void *ctx, gguf_stream *s) {
    const rand_matrix *m = ctx;
    const size_t row_bytes = graft_row_bytes(m->type, m->cols);
    const int64_t panel = 256;
    unsigned char *buf = malloc((size_t)panel * row_bytes);
    float *tmp = malloc((size_t)m->n_threads * (size_t)m->cols * sizeof(float));
    if (!buf || !tmp) {
        free(buf);
        free(tmp);
        return graft_error_set(gguf_stream_error(s), GRAFT_E_NOMEM, "out of memory generating %s", m->name);
    }
    int rc = 0;
    for (int64_t r0 = 0; r0 < m->rows && !rc; r0 += panel) {
        const int64_t n = m->rows - r0 < panel ? m->rows - r0 : panel;
#pragma omp parallel for num_threads(m->n_threads) schedule(static)
        for (int64_t i = 0; i < n; i++) {
            make_row(m, r0 + i, tmp + (size_t)omp_get_thread_num() * m->cols, buf + (size_t)i * row_bytes);
        }
        rc = gguf_stream_write(s, buf, (size_t)n * row_bytes);
    }
    free(buf);
    free(tmp);
    return rc;
}

/* Registers a random tensor of shape ne[0..n_dims) (ggml order) streamed at write time; m must
 * live until then. Its seed derives from the model seed and the tensor name. */
static void add_rand(gguf_writer *w, rand_matrix *m, const char *name, int n_dims, const int64_t *ne,
                     float scale, int type, uint64_t seed, int n_threads) {
    snprintf(m->name, sizeof m->name, "%s", name);
    m->cols = ne[0], m->rows = 1;
    for (int d = 1; d < n_dims; d++) m->rows *= ne[d];
    m->scale = scale, m->type = type, m->n_threads = n_threads;
    m->seed = seed;
    for (const char *c = name; *c; c++) m->seed = mix(m->seed ^ (uint64_t)(unsigned char)*c);
    gguf_writer_add_tensor_stream(w, m->name, type, n_dims, ne, stream_matrix, m);
}

/* A random matrix (rows, cols), math order. */
static void add_matrix(gguf_writer *w, rand_matrix *m, const char *name, int64_t rows, int64_t cols,
                       float scale, int type, uint64_t seed, int n_threads) {
    const int64_t ne[2] = {cols, rows};
    add_rand(w, m, name, 2, ne, scale, type, seed, n_threads);
}

int init_is_type(int type) {
    return type == GRAFT_TYPE_F32 || type == GRAFT_TYPE_F16 || type == GRAFT_TYPE_BF16 ||
           type == GRAFT_TYPE_Q8_0 || type == GRAFT_TYPE_Q4_0;
}

/* ---- llama decoders ------------------------------------------------------------------------ */

uint64_t graft_init_llama_bytes(const graft_init_llama *hp, int type) {
    const uint64_t E = (uint64_t)hp->n_embd, hd = E / hp->n_head, Dkv = hd * hp->n_head_kv;
    uint64_t per_layer = graft_row_bytes(type, hp->n_embd) * (2 * E + 2 * Dkv + (uint64_t)hp->n_ff * 2) +
                         graft_row_bytes(type, hp->n_ff) * E + 2 * E * 4;
    return per_layer * hp->n_layer + 2 * graft_row_bytes(type, hp->n_embd) * hp->n_vocab + E * 4;
}

int graft_init_llama_write(const graft_init_llama *hp, int type, uint64_t seed, int n_threads,
                           const char *path, graft_error *err) {
    if (!init_is_type(type))
        return graft_error_set(err, GRAFT_E_INVALID, "init: unsupported weight type %d", type);
    if (hp->n_vocab < 259 + 1 || hp->n_embd % hp->n_head || hp->n_head % hp->n_head_kv)
        return graft_error_set(err, GRAFT_E_INVALID, "init: inconsistent shape for %s", hp->name);
    if (n_threads < 1) n_threads = 1;
    gguf_writer *w = gguf_writer_new();
    if (!w) return graft_error_set(err, GRAFT_E_NOMEM, "init: out of memory");
    const int hd = hp->n_embd / hp->n_head, Dkv = hd * hp->n_head_kv;

    gguf_writer_add_str(w, "general.architecture", "llama", 5);
    gguf_writer_add_str(w, "general.name", hp->name, strlen(hp->name));
    gguf_writer_add_u32(w, "llama.context_length", (uint32_t)hp->n_ctx);
    gguf_writer_add_u32(w, "llama.embedding_length", (uint32_t)hp->n_embd);
    gguf_writer_add_u32(w, "llama.block_count", (uint32_t)hp->n_layer);
    gguf_writer_add_u32(w, "llama.feed_forward_length", (uint32_t)hp->n_ff);
    gguf_writer_add_u32(w, "llama.attention.head_count", (uint32_t)hp->n_head);
    gguf_writer_add_u32(w, "llama.attention.head_count_kv", (uint32_t)hp->n_head_kv);
    gguf_writer_add_u32(w, "llama.rope.dimension_count", (uint32_t)hd);
    gguf_writer_add_f32(w, "llama.rope.freq_base", hp->rope_freq_base);
    gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);

    /* vocabulary: <unk> <s> </s>, the 256 byte tokens, then filler pieces */
    const int V = hp->n_vocab;
    char **tok = malloc((size_t)V * sizeof *tok);
    float *score = malloc((size_t)V * sizeof *score);
    int32_t *ttype = malloc((size_t)V * sizeof *ttype);
    char *blob = malloc((size_t)V * 16);
    if (!tok || !score || !ttype || !blob) {
        free(tok), free(score), free(ttype), free(blob), gguf_writer_free(w);
        return graft_error_set(err, GRAFT_E_NOMEM, "init: out of memory");
    }
    for (int i = 0; i < V; i++) {
        tok[i] = blob + (size_t)i * 16;
        if (i < 3) snprintf(tok[i], 16, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
        else if (i < 259) snprintf(tok[i], 16, "<0x%02X>", i - 3);
        else snprintf(tok[i], 16, "\xe2\x96\x81t%d", i);
        ttype[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
        score[i] = i < 259 ? 0.0f : -(float)i;
    }
    gguf_writer_add_str(w, "tokenizer.ggml.model", "llama", 5);
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, NULL, (uint64_t)V);
    gguf_writer_add_arr(w, "tokenizer.ggml.scores", GRAFT_GGUF_F32, score, (uint64_t)V);
    gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GRAFT_GGUF_I32, ttype, (uint64_t)V);
    gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    free(tok), free(score), free(ttype), free(blob);

    /* tensors, in llama.cpp's order */
    const int n_mat = 2 + 7 * hp->n_layer;
    rand_matrix *mats = calloc((size_t)n_mat, sizeof *mats);
    float *ones = malloc((size_t)hp->n_embd * sizeof *ones);
    if (!mats || !ones) {
        free(mats), free(ones), gguf_writer_free(w);
        return graft_error_set(err, GRAFT_E_NOMEM, "init: out of memory");
    }
    for (int i = 0; i < hp->n_embd; i++) ones[i] = 1.0f;
    int k = 0;
    const int64_t E = hp->n_embd, ne_norm[1] = {E};
    const float se = 1.0f / sqrtf((float)E), sf = 1.0f / sqrtf((float)hp->n_ff);
    char nm[64];
    add_matrix(w, &mats[k++], "token_embd.weight", V, E, 1.0f, type, seed, n_threads);
    for (int l = 0; l < hp->n_layer; l++) {
        snprintf(nm, sizeof nm, "blk.%d.attn_norm.weight", l);
        gguf_writer_add_tensor(w, nm, GRAFT_TYPE_F32, 1, ne_norm, ones, (size_t)E * 4, 0);
        snprintf(nm, sizeof nm, "blk.%d.attn_q.weight", l);
        add_matrix(w, &mats[k++], nm, E, E, se, type, seed, n_threads);
        snprintf(nm, sizeof nm, "blk.%d.attn_k.weight", l);
        add_matrix(w, &mats[k++], nm, Dkv, E, se, type, seed, n_threads);
        snprintf(nm, sizeof nm, "blk.%d.attn_v.weight", l);
        add_matrix(w, &mats[k++], nm, Dkv, E, se, type, seed, n_threads);
        snprintf(nm, sizeof nm, "blk.%d.attn_output.weight", l);
        add_matrix(w, &mats[k++], nm, E, E, se, type, seed, n_threads);
        snprintf(nm, sizeof nm, "blk.%d.ffn_norm.weight", l);
        gguf_writer_add_tensor(w, nm, GRAFT_TYPE_F32, 1, ne_norm, ones, (size_t)E * 4, 0);
        snprintf(nm, sizeof nm, "blk.%d.ffn_gate.weight", l);
        add_matrix(w, &mats[k++], nm, hp->n_ff, E, se, type, seed, n_threads);
        snprintf(nm, sizeof nm, "blk.%d.ffn_up.weight", l);
        add_matrix(w, &mats[k++], nm, hp->n_ff, E, se, type, seed, n_threads);
        snprintf(nm, sizeof nm, "blk.%d.ffn_down.weight", l);
        add_matrix(w, &mats[k++], nm, E, hp->n_ff, sf, type, seed, n_threads);
    }
    gguf_writer_add_tensor(w, "output_norm.weight", GRAFT_TYPE_F32, 1, ne_norm, ones, (size_t)E * 4, 0);
    add_matrix(w, &mats[k++], "output.weight", V, E, se, type, seed, n_threads);
    int rc = gguf_writer_error(w, err);
    if (!rc) rc = gguf_writer_write(w, path, err);
    gguf_writer_free(w);
    free(mats);
    free(ones);
    return rc;
}

/* ---- CLIP mmproj files --------------------------------------------------------------------- */

/* init_push: one tensor into the list (only counted when l->out is NULL). */
void init_push(init_list *l, const char *name, int type, int fill, float scale, int n_dims, int64_t ne0,
               int64_t ne1, int64_t ne2, int64_t ne3) {
    if (l->out) {
        init_tensor *t = &l->out[l->n];
        snprintf(t->name, sizeof t->name, "%s", name);
        t->type = type, t->fill = fill, t->scale = scale, t->n_dims = n_dims;
        t->ne[0] = ne0, t->ne[1] = ne1, t->ne[2] = ne2, t->ne[3] = ne3;
    }
    l->n++;
}

void init_push_linear(init_list *l, const char *prefix, int type, int64_t M, int64_t K) {
    char nm[48];
    const float s = 1.0f / sqrtf((float)K);
    snprintf(nm, sizeof nm, "%s.weight", prefix);
    init_push(l, nm, type, INIT_FILL_RAND, s, 2, K, M, 1, 1);
    snprintf(nm, sizeof nm, "%s.bias", prefix);
    init_push(l, nm, GRAFT_TYPE_F32, INIT_FILL_RAND, s, 1, M, 1, 1, 1);
}

void init_push_norm(init_list *l, const char *prefix, int64_t D) {
    char nm[48];
    snprintf(nm, sizeof nm, "%s.weight", prefix);
    init_push(l, nm, GRAFT_TYPE_F32, INIT_FILL_ONES, 0.0f, 1, D, 1, 1, 1);
    snprintf(nm, sizeof nm, "%s.bias", prefix);
    init_push(l, nm, GRAFT_TYPE_F32, INIT_FILL_ZEROS, 0.0f, 1, D, 1, 1, 1);
}

/* The mmproj's tensors in the legacy converter's order (projector first, then the vision model's
 * state dict: class, patch, position embeddings, pre-LN, then per block k, v, q, out, ln1, fc1,
 * fc2, ln2), into out[] when it is not NULL; returns their number. Sizes and the writer both read
 * this one list. */
static int clip_tensors(const graft_init_clip *hp, int type, init_tensor *out) {
    const int64_t D = hp->n_embd, F = hp->n_ff, p = hp->patch_size, g = hp->image_size / hp->patch_size;
    const int ptype = type == GRAFT_TYPE_F32 ? GRAFT_TYPE_F32 : GRAFT_TYPE_F16; /* 3 p^2 inputs: no q8/q4 */
    init_list l = {out, 0};
    init_push_linear(&l, "mm.0", type, hp->proj_hidden, D);
    init_push_linear(&l, "mm.2", type, hp->proj_out, hp->proj_hidden);
    init_push(&l, "v.class_embd", GRAFT_TYPE_F32, INIT_FILL_RAND, 1.0f / sqrtf((float)D), 1, D, 1, 1, 1);
    init_push(&l, "v.patch_embd.weight", ptype, INIT_FILL_RAND, 1.0f / sqrtf((float)(3 * p * p)), 4, p, p, 3, D);
    init_push(&l, "v.position_embd.weight", GRAFT_TYPE_F32, INIT_FILL_RAND, 1.0f / sqrtf((float)D), 2, D, g * g + 1, 1, 1);
    init_push_norm(&l, "v.pre_ln", D);
    static const char *const attn[4] = {"attn_k", "attn_v", "attn_q", "attn_out"};
    char pre[40];
    for (int b = 0; b < hp->n_block; b++) {
        for (int j = 0; j < 4; j++) {
            snprintf(pre, sizeof pre, "v.blk.%d.%s", b, attn[j]);
            init_push_linear(&l, pre, type, D, D);
        }
        snprintf(pre, sizeof pre, "v.blk.%d.ln1", b);
        init_push_norm(&l, pre, D);
        snprintf(pre, sizeof pre, "v.blk.%d.ffn_down", b); /* CLIP's fc1 (D -> F), legacy naming */
        init_push_linear(&l, pre, type, F, D);
        snprintf(pre, sizeof pre, "v.blk.%d.ffn_up", b);   /* CLIP's fc2 (F -> D) */
        init_push_linear(&l, pre, type, D, F);
        snprintf(pre, sizeof pre, "v.blk.%d.ln2", b);
        init_push_norm(&l, pre, D);
    }
    return l.n;
}

uint64_t init_tensor_bytes(const init_tensor *t) {
    uint64_t rows = 1;
    for (int d = 1; d < t->n_dims; d++) rows *= (uint64_t)t->ne[d];
    return graft_row_bytes(t->type, t->ne[0]) * rows;
}

void init_add_vision_keys(gguf_writer *w, int image_size, int patch_size, int n_embd, int n_ff, int projection_dim,
                          int n_head, float eps, int n_block, int use_gelu) {
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}; /* OpenAI CLIP */
    static const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    gguf_writer_add_u32(w, "clip.vision.image_size", (uint32_t)image_size);
    gguf_writer_add_u32(w, "clip.vision.patch_size", (uint32_t)patch_size);
    gguf_writer_add_u32(w, "clip.vision.embedding_length", (uint32_t)n_embd);
    gguf_writer_add_u32(w, "clip.vision.feed_forward_length", (uint32_t)n_ff);
    if (projection_dim) gguf_writer_add_u32(w, "clip.vision.projection_dim", (uint32_t)projection_dim);
    gguf_writer_add_u32(w, "clip.vision.attention.head_count", (uint32_t)n_head);
    gguf_writer_add_f32(w, "clip.vision.attention.layer_norm_epsilon", eps);
    gguf_writer_add_u32(w, "clip.vision.block_count", (uint32_t)n_block);
    gguf_writer_add_arr(w, "clip.vision.image_mean", GRAFT_GGUF_F32, mean, 3);
    gguf_writer_add_arr(w, "clip.vision.image_std", GRAFT_GGUF_F32, std, 3);
    gguf_writer_add_bool(w, "clip.use_gelu", use_gelu);
}

int init_write_tensors(gguf_writer *w, const init_tensor *ts, int n, uint64_t seed, int n_threads, const char *path,
                       graft_error *err) {
    int64_t width = 1; /* the longest constant vector */
    for (int i = 0; i < n; i++)
        if (ts[i].fill != INIT_FILL_RAND && ts[i].ne[0] > width) width = ts[i].ne[0];
    rand_matrix *mats = calloc((size_t)n, sizeof *mats);
    float *ones = malloc((size_t)width * sizeof *ones), *zeros = calloc((size_t)width, sizeof *zeros);
    if (!mats || !ones || !zeros) {
        free(mats), free(ones), free(zeros);
        return graft_error_set(err, GRAFT_E_NOMEM, "init: out of memory");
    }
    for (int64_t i = 0; i < width; i++) ones[i] = 1.0f;
    for (int i = 0; i < n; i++) {
        const init_tensor *t = &ts[i];
        if (t->fill == INIT_FILL_RAND)
            add_rand(w, &mats[i], t->name, t->n_dims, t->ne, t->scale, t->type, seed, n_threads);
        else
            gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->fill == INIT_FILL_ONES ? ones : zeros,
                                   (size_t)init_tensor_bytes(t), 0);
    }
    int rc = gguf_writer_error(w, err);
    if (!rc) rc = gguf_writer_write(w, path, err);
    free(mats), free(ones), free(zeros);
    return rc;
}

static int clip_check(const graft_init_clip *hp, int type, graft_error *err) {
    if (!init_is_type(type)) return graft_error_set(err, GRAFT_E_INVALID, "init: unsupported weight type %d", type);
    if (hp->image_size < 1 || hp->patch_size < 1 || hp->image_size % hp->patch_size || hp->n_embd < 1 ||
        hp->n_head < 1 || hp->n_embd % hp->n_head || hp->n_ff < 1 || hp->n_block < 1 || hp->proj_hidden < 1 ||
        hp->proj_out < 1 || !(hp->eps > 0.0f))
        return graft_error_set(err, GRAFT_E_INVALID, "init: inconsistent vision shape for %s", hp->name);
    if ((type == GRAFT_TYPE_Q8_0 || type == GRAFT_TYPE_Q4_0) &&
        (hp->n_embd % 32 || hp->n_ff % 32 || hp->proj_hidden % 32))
        return graft_error_set(err, GRAFT_E_INVALID, "init: %s needs the vision widths to be multiples of 32",
                               graft_type_name(type));
    return GRAFT_OK;
}

uint64_t graft_init_mmproj_bytes(const graft_init_clip *hp, int type) {
    const int n = clip_tensors(hp, type, NULL);
    init_tensor *ts = malloc((size_t)n * sizeof *ts);
    if (!ts) return 0;
    clip_tensors(hp, type, ts);
    uint64_t total = 0;
    for (int i = 0; i < n; i++) total += init_tensor_bytes(&ts[i]);
    free(ts);
    return total;
}

int graft_init_mmproj_write(const graft_init_clip *hp, int type, uint64_t seed, int n_threads,
                            const char *path, graft_error *err) {
    int rc = clip_check(hp, type, err);
    if (rc) return rc;
    if (n_threads < 1) n_threads = 1;
    const int n = clip_tensors(hp, type, NULL);
    init_tensor *ts = malloc((size_t)n * sizeof *ts);
    gguf_writer *w = gguf_writer_new();
    if (!ts || !w) {
        free(ts), gguf_writer_free(w);
        return graft_error_set(err, GRAFT_E_NOMEM, "init: out of memory");
    }
    clip_tensors(hp, type, ts);

    gguf_writer_add_str(w, "general.architecture", "clip", 4);
    gguf_writer_add_str(w, "general.name", hp->name, strlen(hp->name));
    gguf_writer_add_str(w, "general.description", "random weights (graft init)", 27);
    gguf_writer_add_bool(w, "clip.has_text_encoder", 0);
    gguf_writer_add_bool(w, "clip.has_vision_encoder", 1);
    gguf_writer_add_bool(w, "clip.has_llava_projector", 1);
    gguf_writer_add_str(w, "clip.projector_type", "mlp", 3);
    init_add_vision_keys(w, hp->image_size, hp->patch_size, hp->n_embd, hp->n_ff, hp->projection_dim, hp->n_head,
                         hp->eps, hp->n_block, hp->use_gelu);

    rc = init_write_tensors(w, ts, n, seed, n_threads, path, err);
    gguf_writer_free(w);
    free(ts);
    return rc;
}

/* ---- LLaVA pairs --------------------------------------------------------------------------- */

/* CLIP ViT-L/14-336 as llama.cpp's legacy converter stores it for LLaVA-1.5: 23 of 24 blocks. */
#define VIT_L14_336(name, proj) {name, 336, 14, 1024, 4096, 16, 23, 0, 1e-5f, proj, proj, 768}

static const graft_init_llava llava_presets[] = {
    {"llava-1.5-7b", "llama-7b", VIT_L14_336("llava-1.5-7b mmproj", 4096)},
    {"llava-1.5-13b", "llama-13b", VIT_L14_336("llava-1.5-13b mmproj", 5120)},
    {"llava-tiny", "tiny", {"llava-tiny mmproj", 28, 14, 32, 128, 2, 2, 0, 1e-5f, 64, 64, 32}},
    {NULL, NULL, {0}},
};

const graft_init_llava *graft_init_llava_presets(void) { return llava_presets; }

const graft_init_llava *graft_init_llava_find(const char *name) {
    for (const graft_init_llava *p = llava_presets; p->name; p++)
        if (!strcmp(p->name, name)) return p;
    return NULL;
}

int graft_init_llava_write(const graft_init_llava *p, int type, int mmproj_type, uint64_t seed,
                           int n_threads, const char *dir, graft_error *err) {
    const graft_init_llama *llm = graft_init_find(p->llm);
    if (!llm) return graft_error_set(err, GRAFT_E_INVALID, "init: %s names an unknown decoder %s", p->name, p->llm);
    if (llm->n_embd != p->vision.proj_out)
        return graft_error_set(err, GRAFT_E_INVALID, "init: %s: projector width %d != decoder width %d", p->name,
                               p->vision.proj_out, llm->n_embd);
    int rc = clip_check(&p->vision, mmproj_type, err);
    if (rc) return rc;
    if (mkdir(dir, 0777) && errno != EEXIST)
        return graft_error_set(err, GRAFT_E_IO, "init: cannot create directory %s: %s", dir, strerror(errno));
    char path[4096];
    if (snprintf(path, sizeof path, "%s/model.gguf", dir) >= (int)sizeof path)
        return graft_error_set(err, GRAFT_E_INVALID, "init: directory name too long");
    if ((rc = graft_init_llama_write(llm, type, seed, n_threads, path, err))) return rc;
    snprintf(path, sizeof path, "%s/mmproj.gguf", dir);
    return graft_init_mmproj_write(&p->vision, mmproj_type, seed, n_threads, path, err);
}
