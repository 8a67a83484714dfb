/* model.c - loading a decoder from a GGUF file or a Hugging Face directory (hf.h): opens it,
 * dispatches on general.architecture to the family's loader, and answers questions about the
 * model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hf.h"
#include "model.h"
#include "tokenizer.h"
#include "vocab.h"

typedef struct {
    const char *arch;
    int arch_id;
    int (*load)(graft_model *m, graft_error *err);
    graft_forward_fn forward;
} decoder_family;

/* Decoder families graft runs. A new family adds a line and a file (and its weights to
 * graft_ctx_new's scratch sizing). */
static const decoder_family families[] = {
    {"llama", GRAFT_ARCH_LLAMA, graft_llama_load, graft_llama_forward},
    {"opt", GRAFT_ARCH_OPT, graft_opt_load, graft_opt_forward},
};

int graft_model_hp_u32(graft_model *m, const char *key, int def, int *out, graft_error *err) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", m->arch, key);
    uint32_t v;
    int rc = graft_gguf_get_u32(m->gguf, full, &v, err);
    if (rc == GRAFT_E_NOTFOUND && def >= 0) {
        *out = def;
        return GRAFT_OK;
    }
    if (rc) return rc;
    if (v == 0 || v > (1u << 30))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s = %u is out of range",
                               graft_gguf_path(m->gguf), full, v);
    *out = (int)v;
    return GRAFT_OK;
}

int graft_model_hp_f32(graft_model *m, const char *key, float def, float *out, graft_error *err) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", m->arch, key);
    int rc = graft_gguf_get_f32(m->gguf, full, out, err);
    if (rc == GRAFT_E_NOTFOUND) {
        *out = def;
        return GRAFT_OK;
    }
    if (rc) return rc;
    if (!isfinite(*out) || *out <= 0.0f)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s = %g is out of range",
                               graft_gguf_path(m->gguf), full, (double)*out);
    return GRAFT_OK;
}

graft_model_params graft_model_default_params(void) {
    graft_model_params p;
    memset(&p, 0, sizeof p);
    return p;
}

int graft_model_load(const char *path, const graft_model_params *params, graft_model **out,
                     graft_error *err) {
    (void)params;
    *out = NULL;
    graft_model *m = calloc(1, sizeof *m);
    if (!m) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
    int rc = graft_hf_path_is_dir(path) ? graft_hf_open_gguf(path, GRAFT_HF_LLM, GRAFT_HF_NATIVE, &m->gguf, err)
                                   : graft_gguf_open(path, &m->gguf, err);
    if (rc) {
        free(m);
        return rc;
    }
    const char *arch;
    size_t len;
    rc = graft_gguf_get_str(m->gguf, "general.architecture", &arch, &len, err);
    if (rc) {
        if (rc == GRAFT_E_NOTFOUND)
            graft_error_set(err, GRAFT_E_FORMAT, "%s: no general.architecture key", path);
        graft_model_free(m);
        return rc ? rc : GRAFT_E_FORMAT;
    }
    const decoder_family *fam = NULL;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (strlen(families[i].arch) == len && !memcmp(families[i].arch, arch, len)) fam = &families[i];
    if (!fam) {
        rc = graft_error_set(err, GRAFT_E_UNSUPPORTED,
                             "%s: architecture '%.*s' is not supported (graft runs: llama, opt)", path,
                             (int)(len > 64 ? 64 : len), arch);
        graft_model_free(m);
        return rc;
    }
    strcpy(m->arch, fam->arch);
    m->arch_id = fam->arch_id;
    m->forward = fam->forward;
    rc = fam->load(m, err);
    if (!rc && graft_gguf_find_kv(m->gguf, "tokenizer.ggml.model") >= 0) {
        rc = graft_vocab_load(m->gguf, &m->vocab, err);
        if (!rc && m->vocab->n_tokens < m->hp.n_vocab)
            rc = graft_error_set(err, GRAFT_E_FORMAT,
                                 "%s: the vocabulary has %d tokens but the embedding has %d rows", path,
                                 m->vocab->n_tokens, m->hp.n_vocab);
    }
    if (rc) {
        graft_model_free(m);
        return rc;
    }
    *out = m;
    return GRAFT_OK;
}

void graft_model_free(graft_model *m) {
    if (!m) return;
    free(m->layers);
    free(m->opt.layers);
    graft_wl_free(&m->opt.wl);
    graft_vocab_free(m->vocab);
    graft_gguf_close(m->gguf);
    free(m);
}

const char *graft_model_arch(const graft_model *m) { return m->arch; }
int graft_model_n_vocab(const graft_model *m) { return m->hp.n_vocab; }
int graft_model_n_embd(const graft_model *m) { return m->hp.n_embd; }
int graft_model_n_layer(const graft_model *m) { return m->hp.n_layer; }
int graft_model_n_ctx_train(const graft_model *m) { return m->hp.n_ctx_train; }
size_t graft_model_weight_bytes(const graft_model *m) { return m->weight_bytes; }

/* ---- the model's tokenizer -------------------------------------------------------------- */

static int need_vocab(const graft_model *m, graft_error *err) {
    if (m->vocab) return GRAFT_OK;
    return graft_error_set(err, GRAFT_E_NOTFOUND, "%s: the model has no tokenizer metadata",
                           graft_gguf_path(m->gguf));
}

int graft_model_tokenize(const graft_model *m, const char *text, size_t len, int add_special,
                         int parse_special, int32_t **ids, size_t *n_ids, graft_error *err) {
    int rc = need_vocab(m, err);
    return rc ? rc : graft_tokenize(m->vocab, text, len, add_special, parse_special, ids, n_ids, err);
}

int graft_model_detokenize(const graft_model *m, const int32_t *ids, size_t n, int remove_special,
                           char **out, size_t *out_len, graft_error *err) {
    int rc = need_vocab(m, err);
    return rc ? rc : graft_detokenize(m->vocab, ids, n, remove_special, 0, out, out_len, err);
}

int32_t graft_model_token_bos(const graft_model *m) { return m->vocab ? m->vocab->bos : -1; }
int32_t graft_model_token_eos(const graft_model *m) { return m->vocab ? m->vocab->eos : -1; }
int graft_model_token_is_eog(const graft_model *m, int32_t id) {
    return m->vocab && graft_vocab_is_eog(m->vocab, id);
}
const char *graft_model_chat_template(const graft_model *m) {
    const char *s;
    size_t len;
    if (graft_gguf_get_str(m->gguf, "tokenizer.chat_template", &s, &len, NULL)) return NULL;
    return graft_chat_detect(s, len);
}
