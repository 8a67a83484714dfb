/* init.c - random-weight llama models at real shapes (see init.h). Each tensor is streamed to the
 * writer in panels of rows generated in parallel; a row's values depend only on (seed, tensor,
 * row), so the file does not depend on the thread count. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gguf_write.h"
#include "init.h"
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

/* ---- the matrices of a llama model ------------------------------------------------------ */

typedef struct {
    char name[64];
    int64_t rows, cols; /* (rows, cols) math order: ne = {cols, rows} */
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

/* Registers a random matrix (rows, cols) streamed at write time; m must live until then. Its seed
 * derives from the model seed and the tensor name. */
static void add_matrix(gguf_writer *w, rand_matrix *m, const char *name, int64_t rows, int64_t cols,
                       float scale, int type, uint64_t seed, int n_threads) {
    snprintf(m->name, sizeof m->name, "%s", name);
    m->rows = rows, m->cols = cols, m->scale = scale, m->type = type, m->n_threads = n_threads;
    m->seed = seed;
    for (const char *c = name; *c; c++) m->seed = mix(m->seed ^ (uint64_t)(unsigned char)*c);
    const int64_t ne[2] = {cols, rows};
    gguf_writer_add_tensor_stream(w, m->name, type, 2, ne, stream_matrix, m);
}

uint64_t graft_init_llama_bytes(const graft_init_llama *hp, int type) {
    const uint64_t E = (uint64_t)hp->n_embd, hd = E / hp->n_head, Dkv = hd * hp->n_head_kv;
    uint64_t per_layer = graft_row_bytes(type, hp->n_embd) * (E + 2 * Dkv + (uint64_t)hp->n_ff * 2) +
                         graft_row_bytes(type, hp->n_ff) * E + 2 * E * 4;
    return per_layer * hp->n_layer + 2 * graft_row_bytes(type, hp->n_embd) * hp->n_vocab + E * 4;
}

int graft_init_llama_write(const graft_init_llama *hp, int type, uint64_t seed, int n_threads,
                           const char *path, graft_error *err) {
    if (type != GRAFT_TYPE_F32 && type != GRAFT_TYPE_F16 && type != GRAFT_TYPE_BF16 &&
        type != GRAFT_TYPE_Q8_0 && type != GRAFT_TYPE_Q4_0)
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
