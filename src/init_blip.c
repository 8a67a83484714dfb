/* init_blip.c - random-weight BLIP-2 / InstructBLIP pairs at real shapes (see init.h): an mmproj
 * with the EVA ViT-g, the Q-Former and the language projection in graft's `qformer` layout
 * (docs/formats.md), and the decoder: an `opt` model.gguf (BLIP-2-OPT) or a llama one (Vicuna). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "gguf_write.h"
#include "init.h"
#include "init_impl.h"

/* ---- OPT decoders -------------------------------------------------------------------------- */

static const graft_init_opt opt_presets[] = {
    {"opt-2.7b", 50272, 2560, 32, 32, 10240, 2048},
    {"opt-6.7b", 50272, 4096, 32, 32, 16384, 2048},
    {"opt-tiny", 512, 64, 2, 4, 128, 128},
    {NULL, 0, 0, 0, 0, 0, 0},
};

const graft_init_opt *graft_init_opt_find(const char *name) {
    for (const graft_init_opt *p = opt_presets; p->name; p++)
        if (!strcmp(p->name, name)) return p;
    return NULL;
}

const graft_init_opt *graft_init_opt_presets(void) { return opt_presets; }

/* OPTForCausalLM, pre-LN, tied head, in the order of src/opt.c's table (docs/formats.md). */
static int opt_tensors(const graft_init_opt *hp, int type, init_tensor *out) {
    const int64_t E = hp->n_embd, F = hp->n_ff;
    init_list l = {out, 0};
    char pre[48];
    init_push(&l, "token_embd.weight", type, INIT_FILL_RAND, 1.0f / sqrtf((float)E), 2, E, hp->n_vocab, 1, 1);
    init_push(&l, "position_embd.weight", type == GRAFT_TYPE_F32 ? GRAFT_TYPE_F32 : GRAFT_TYPE_F16, INIT_FILL_RAND,
              1.0f / sqrtf((float)E), 2, E, hp->n_ctx + 2, 1, 1);
    static const char *const attn[4] = {"attn_q", "attn_k", "attn_v", "attn_output"};
    for (int b = 0; b < hp->n_layer; b++) {
        snprintf(pre, sizeof pre, "blk.%d.attn_norm", b);
        init_push_norm(&l, pre, E);
        for (int j = 0; j < 4; j++) {
            snprintf(pre, sizeof pre, "blk.%d.%s", b, attn[j]);
            init_push_linear(&l, pre, type, E, E);
        }
        snprintf(pre, sizeof pre, "blk.%d.ffn_norm", b);
        init_push_norm(&l, pre, E);
        snprintf(pre, sizeof pre, "blk.%d.ffn_up", b);
        init_push_linear(&l, pre, type, F, E);
        snprintf(pre, sizeof pre, "blk.%d.ffn_down", b);
        init_push_linear(&l, pre, type, E, F);
    }
    init_push_norm(&l, "output_norm", E);
    return l.n;
}

uint64_t graft_init_opt_bytes(const graft_init_opt *hp, int type) {
    init_tensor *ts = malloc(sizeof *ts * (size_t)opt_tensors(hp, type, NULL));
    if (!ts) return 0;
    const int n = opt_tensors(hp, type, ts);
    uint64_t total = 0;
    for (int i = 0; i < n; i++) total += init_tensor_bytes(&ts[i]);
    free(ts);
    return total;
}

int graft_init_opt_write(const graft_init_opt *hp, int type, uint64_t seed, int n_threads, const char *path,
                         graft_error *err) {
    if (!init_is_type(type)) return graft_error_set(err, GRAFT_E_INVALID, "init: unsupported weight type %d", type);
    if (hp->n_embd % hp->n_head || hp->n_vocab < 1 || hp->n_ctx < 1)
        return graft_error_set(err, GRAFT_E_INVALID, "init: inconsistent shape for %s", hp->name);
    if ((type == GRAFT_TYPE_Q8_0 || type == GRAFT_TYPE_Q4_0) && (hp->n_embd % 32 || hp->n_ff % 32))
        return graft_error_set(err, GRAFT_E_INVALID, "init: %s needs widths that are multiples of 32", graft_type_name(type));
    const int n = opt_tensors(hp, type, NULL);
    init_tensor *ts = malloc(sizeof *ts * (size_t)n);
    gguf_writer *w = gguf_writer_new();
    if (!ts || !w) {
        free(ts), gguf_writer_free(w);
        return graft_error_set(err, GRAFT_E_NOMEM, "init: out of memory");
    }
    opt_tensors(hp, type, ts);
    gguf_writer_add_str(w, "general.architecture", "opt", 3);
    gguf_writer_add_str(w, "general.name", hp->name, strlen(hp->name));
    gguf_writer_add_str(w, "general.description", "random weights (graft init)", 27);
    gguf_writer_add_u32(w, "opt.context_length", (uint32_t)hp->n_ctx);
    gguf_writer_add_u32(w, "opt.embedding_length", (uint32_t)hp->n_embd);
    gguf_writer_add_u32(w, "opt.block_count", (uint32_t)hp->n_layer);
    gguf_writer_add_u32(w, "opt.feed_forward_length", (uint32_t)hp->n_ff);
    gguf_writer_add_u32(w, "opt.attention.head_count", (uint32_t)hp->n_head);
    gguf_writer_add_f32(w, "opt.attention.layer_norm_epsilon", 1e-5f);
    gguf_writer_add_bool(w, "opt.layer_norm_before", 1);
    int rc = init_write_tensors(w, ts, n, seed, n_threads < 1 ? 1 : n_threads, path, err);
    gguf_writer_free(w);
    free(ts);
    return rc;
}

/* ---- BLIP-2 / InstructBLIP mmproj files -------------------------------------------------------- */

/* EVA ViT-g/14 at 224 as BLIP-2 keeps it (39 of its 40 blocks, GELU, eps 1e-6), the BERT-base
 * Q-Former (32 queries, cross-attention every 2nd layer, eps 1e-12). */
#define EVA_G14 224, 14, 1408, 6144, 16, 39, 1e-6f
#define QFORMER_BASE 768, 12, 12, 3072, 2, 32, 1e-12f

static const graft_init_blip blip_presets[] = {
    {"blip2-opt-2.7b", "opt-2.7b", "blip2", {"blip2-opt-2.7b mmproj", EVA_G14, QFORMER_BASE, 0, 0, 2560}},
    {"blip2-opt-6.7b", "opt-6.7b", "blip2", {"blip2-opt-6.7b mmproj", EVA_G14, QFORMER_BASE, 0, 0, 4096}},
    /* bert-base-uncased + [DEC]: 30523 word pieces, 512 positions */
    {"instructblip-vicuna-7b", "llama-7b", "instructblip",
     {"instructblip-vicuna-7b mmproj", EVA_G14, QFORMER_BASE, 30523, 512, 4096}},
    /* tiny ones for tests: blip2-tiny's decoder is the llama "tiny" (it has a tokenizer, so text
     * prompts and graft eval work), blip2-opt-tiny's an OPT (no tokenizer: ids only) */
    {"blip2-tiny", "tiny", "blip2", {"blip2-tiny mmproj", 28, 14, 32, 64, 2, 2, 1e-6f, 32, 2, 2, 64, 2, 4, 1e-12f, 0, 0, 64}},
    {"blip2-opt-tiny", "opt-tiny", "blip2",
     {"blip2-opt-tiny mmproj", 28, 14, 32, 64, 2, 2, 1e-6f, 32, 2, 2, 64, 2, 4, 1e-12f, 0, 0, 64}},
    {"instructblip-tiny", "tiny", "instructblip",
     {"instructblip-tiny mmproj", 28, 14, 32, 64, 2, 2, 1e-6f, 32, 2, 2, 64, 1, 4, 1e-12f, 100, 16, 64}},
    {NULL, NULL, NULL, {0}},
};

const graft_init_blip *graft_init_blip_presets(void) { return blip_presets; }

const graft_init_blip *graft_init_blip_find(const char *name) {
    for (const graft_init_blip *p = blip_presets; p->name; p++)
        if (!strcmp(p->name, name)) return p;
    return NULL;
}

/* The mmproj's tensors: the ViT (fused qkv with a zero key bias like the checkpoints: here random
 * like the rest, which changes nothing a benchmark measures), the Q-Former, mm.0. */
static int blip_tensors(const graft_init_qformer *hp, int type, init_tensor *out) {
    const int64_t D = hp->n_embd, F = hp->n_ff, p = hp->patch_size, g = hp->image_size / hp->patch_size;
    const int64_t Dq = hp->q_embd, Fq = hp->q_ff;
    const int ptype = type == GRAFT_TYPE_F32 ? GRAFT_TYPE_F32 : GRAFT_TYPE_F16; /* 3 p^2 inputs: no q8/q4 */
    init_list l = {out, 0};
    char pre[48];
    init_push(&l, "v.patch_embd.weight", ptype, INIT_FILL_RAND, 1.0f / sqrtf((float)(3 * p * p)), 4, p, p, 3, D);
    init_push(&l, "v.patch_embd.bias", GRAFT_TYPE_F32, INIT_FILL_RAND, 1.0f / sqrtf((float)(3 * p * p)), 1, D, 1, 1, 1);
    init_push(&l, "v.class_embd", GRAFT_TYPE_F32, INIT_FILL_RAND, 1.0f / sqrtf((float)D), 1, D, 1, 1, 1);
    init_push(&l, "v.position_embd.weight", GRAFT_TYPE_F32, INIT_FILL_RAND, 1.0f / sqrtf((float)D), 2, D, g * g + 1, 1,
              1);
    for (int b = 0; b < hp->n_block; b++) {
        snprintf(pre, sizeof pre, "v.blk.%d.ln1", b);
        init_push_norm(&l, pre, D);
        snprintf(pre, sizeof pre, "v.blk.%d.attn_qkv", b);
        init_push_linear(&l, pre, type, 3 * D, D);
        snprintf(pre, sizeof pre, "v.blk.%d.attn_out", b);
        init_push_linear(&l, pre, type, D, D);
        snprintf(pre, sizeof pre, "v.blk.%d.ln2", b);
        init_push_norm(&l, pre, D);
        snprintf(pre, sizeof pre, "v.blk.%d.ffn_up", b); /* fc1, D -> F */
        init_push_linear(&l, pre, type, F, D);
        snprintf(pre, sizeof pre, "v.blk.%d.ffn_down", b);
        init_push_linear(&l, pre, type, D, F);
    }
    init_push_norm(&l, "v.post_ln", D);

    init_push(&l, "qf.query_embd", GRAFT_TYPE_F32, INIT_FILL_RAND, 1.0f, 2, Dq, hp->n_query, 1, 1);
    init_push_norm(&l, "qf.embd_ln", Dq);
    if (hp->q_vocab) {
        init_push(&l, "qf.tok_embd.weight", type, INIT_FILL_RAND, 1.0f, 2, Dq, hp->q_vocab, 1, 1);
        init_push(&l, "qf.pos_embd.weight", GRAFT_TYPE_F32, INIT_FILL_RAND, 0.1f, 2, Dq, hp->q_pos, 1, 1);
    }
    static const char *const qkvo[4] = {"q", "k", "v", "out"};
    for (int b = 0; b < hp->q_layer; b++) {
        for (int j = 0; j < 4; j++) {
            snprintf(pre, sizeof pre, "qf.blk.%d.attn_%s", b, qkvo[j]);
            init_push_linear(&l, pre, type, Dq, Dq);
        }
        snprintf(pre, sizeof pre, "qf.blk.%d.attn_ln", b);
        init_push_norm(&l, pre, Dq);
        if (b % hp->q_cross_freq == 0) {
            for (int j = 0; j < 4; j++) {
                snprintf(pre, sizeof pre, "qf.blk.%d.cross_%s", b, qkvo[j]);
                init_push_linear(&l, pre, type, Dq, j == 1 || j == 2 ? D : Dq); /* k, v read the ViT width */
            }
            snprintf(pre, sizeof pre, "qf.blk.%d.cross_ln", b);
            init_push_norm(&l, pre, Dq);
        }
        for (int t = 0; t < (hp->q_vocab ? 2 : 1); t++) {
            const char *ffn = t ? "text_ffn" : "ffn";
            snprintf(pre, sizeof pre, "qf.blk.%d.%s_up", b, ffn);
            init_push_linear(&l, pre, type, Fq, Dq);
            snprintf(pre, sizeof pre, "qf.blk.%d.%s_down", b, ffn);
            init_push_linear(&l, pre, type, Dq, Fq);
            snprintf(pre, sizeof pre, "qf.blk.%d.%s_ln", b, ffn);
            init_push_norm(&l, pre, Dq);
        }
    }
    init_push_linear(&l, "mm.0", type, hp->d_out, Dq);
    return l.n;
}

uint64_t graft_init_blip_mmproj_bytes(const graft_init_qformer *hp, int type) {
    init_tensor *ts = malloc(sizeof *ts * (size_t)blip_tensors(hp, type, NULL));
    if (!ts) return 0;
    const int n = blip_tensors(hp, type, ts);
    uint64_t total = 0;
    for (int i = 0; i < n; i++) total += init_tensor_bytes(&ts[i]);
    free(ts);
    return total;
}

static int blip_check(const graft_init_qformer *hp, int type, graft_error *err) {
    if (!init_is_type(type)) return graft_error_set(err, GRAFT_E_INVALID, "init: unsupported weight type %d", type);
    if (hp->image_size < 1 || hp->patch_size < 1 || hp->image_size % hp->patch_size || hp->n_embd % hp->n_head ||
        hp->q_embd % hp->q_head || hp->q_cross_freq < 1 || hp->n_query < 1 || hp->d_out < 1)
        return graft_error_set(err, GRAFT_E_INVALID, "init: inconsistent shape for %s", hp->name);
    if ((type == GRAFT_TYPE_Q8_0 || type == GRAFT_TYPE_Q4_0) &&
        (hp->n_embd % 32 || hp->n_ff % 32 || hp->q_embd % 32 || hp->q_ff % 32))
        return graft_error_set(err, GRAFT_E_INVALID, "init: %s needs widths that are multiples of 32", graft_type_name(type));
    return GRAFT_OK;
}

int graft_init_blip_mmproj_write(const graft_init_qformer *hp, const char *recipe, int type, uint64_t seed,
                                 int n_threads, const char *path, graft_error *err) {
    int rc = blip_check(hp, type, err);
    if (rc) return rc;
    const int n = blip_tensors(hp, type, NULL);
    init_tensor *ts = malloc(sizeof *ts * (size_t)n);
    gguf_writer *w = gguf_writer_new();
    if (!ts || !w) {
        free(ts), gguf_writer_free(w);
        return graft_error_set(err, GRAFT_E_NOMEM, "init: out of memory");
    }
    blip_tensors(hp, type, ts);
    gguf_writer_add_str(w, "general.architecture", "clip", 4);
    gguf_writer_add_str(w, "general.name", hp->name, strlen(hp->name));
    gguf_writer_add_str(w, "general.description", "random weights (graft init)", 27);
    gguf_writer_add_bool(w, "clip.has_text_encoder", 0);
    gguf_writer_add_bool(w, "clip.has_vision_encoder", 1);
    gguf_writer_add_bool(w, "clip.has_llava_projector", 0);
    gguf_writer_add_str(w, "clip.projector_type", "qformer", 7);
    gguf_writer_add_str(w, "graft.recipe", recipe, strlen(recipe));
    /* BlipImageProcessor normalises with OpenAI CLIP's mean/std too */
    init_add_vision_keys(w, hp->image_size, hp->patch_size, hp->n_embd, hp->n_ff, 0, hp->n_head, hp->eps, hp->n_block, 1);
    gguf_writer_add_u32(w, "clip.qformer.embedding_length", (uint32_t)hp->q_embd);
    gguf_writer_add_u32(w, "clip.qformer.block_count", (uint32_t)hp->q_layer);
    gguf_writer_add_u32(w, "clip.qformer.attention.head_count", (uint32_t)hp->q_head);
    gguf_writer_add_u32(w, "clip.qformer.feed_forward_length", (uint32_t)hp->q_ff);
    gguf_writer_add_f32(w, "clip.qformer.attention.layer_norm_epsilon", hp->q_eps);
    gguf_writer_add_u32(w, "clip.qformer.cross_attention_freq", (uint32_t)hp->q_cross_freq);
    rc = init_write_tensors(w, ts, n, seed, n_threads < 1 ? 1 : n_threads, path, err);
    gguf_writer_free(w);
    free(ts);
    return rc;
}

/* ---- pairs ------------------------------------------------------------------------------------ */

int graft_init_blip_write(const graft_init_blip *p, int type, int mmproj_type, uint64_t seed, int n_threads,
                          const char *dir, graft_error *err) {
    const graft_init_opt *opt = graft_init_opt_find(p->llm);
    const graft_init_llama *llama = opt ? NULL : graft_init_find(p->llm);
    if (!opt && !llama)
        return graft_error_set(err, GRAFT_E_INVALID, "init: %s names an unknown decoder %s", p->name, p->llm);
    const int width = opt ? opt->n_embd : llama->n_embd;
    if (width != p->vision.d_out)
        return graft_error_set(err, GRAFT_E_INVALID, "init: %s: projection width %d != decoder width %d", p->name,
                               p->vision.d_out, width);
    int rc = blip_check(&p->vision, mmproj_type, err);
    if (rc) return rc;
    if (mkdir(dir, 0777) && errno != EEXIST)
        return graft_error_set(err, GRAFT_E_IO, "init: cannot create directory %s: %s", dir, strerror(errno));
    char path[4096];
    if (snprintf(path, sizeof path, "%s/model.gguf", dir) >= (int)sizeof path)
        return graft_error_set(err, GRAFT_E_INVALID, "init: directory name too long");
    rc = opt ? graft_init_opt_write(opt, type, seed, n_threads, path, err)
             : graft_init_llama_write(llama, type, seed, n_threads, path, err);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/mmproj.gguf", dir);
    return graft_init_blip_mmproj_write(&p->vision, p->recipe, mmproj_type, seed, n_threads, path, err);
}
