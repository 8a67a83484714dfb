/* fuzz_hf.c - a Hugging Face directory with one of its JSON / tokenizer files replaced by any
 * bytes: config.json, preprocessor_config.json, model.safetensors.index.json, tokenizer.json,
 * tokenizer_config.json or tokenizer.model (first byte selects). The rest of the directory is a
 * valid tiny LLaVA (tests/fixtures/hf/llava-pair-bf16 + tests/fixtures/hf_tok), so parsing runs
 * through the whole loader: the view opens (and the model and vision tower load) or an error says
 * which file is wrong. Run from the repo root. */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"
#include "graft.h"
#include "hf.h"

static char dir[64];

static const char *const targets[] = {
    "config.json", "preprocessor_config.json", "model.safetensors.index.json",
    "tokenizer.json", "tokenizer_config.json", "tokenizer.model",
};
#define N_TARGETS 6
static void *orig[N_TARGETS];
static size_t orig_len[N_TARGETS];

static void *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) abort();
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void put(const char *name, const void *data, size_t len) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f)) abort();
}

static void copy_in(const char *from_dir, const char *name) {
    char p[256];
    size_t len;
    snprintf(p, sizeof p, "%s/%s", from_dir, name);
    void *b = slurp(p, &len);
    if (!b) {
        fprintf(stderr, "fuzz_hf: %s is missing (run from the repo root)\n", p);
        abort();
    }
    put(name, b, len);
    free(b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    strcpy(dir, "/tmp/graft-fuzz-hf-XXXXXX");
    if (!mkdtemp(dir)) abort();
    const char *model = "tests/fixtures/hf/llava-pair-bf16", *tok = "tests/fixtures/hf_tok/json";
    static const char *const model_files[] = {"config.json", "preprocessor_config.json",
                                              "model.safetensors.index.json",
                                              "model-00001-of-00002.safetensors",
                                              "model-00002-of-00002.safetensors"};
    for (int i = 0; i < 5; i++) copy_in(model, model_files[i]);
    copy_in(tok, "tokenizer.json");
    copy_in(tok, "tokenizer_config.json");
    copy_in(tok, "special_tokens_map.json");
    char p[256];
    for (int i = 0; i < N_TARGETS - 1; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, targets[i]);
        orig[i] = slurp(p, &orig_len[i]);
    }
    snprintf(p, sizeof p, "tests/fixtures/hf_tok/spm/tokenizer.model");
    orig[N_TARGETS - 1] = slurp(p, &orig_len[N_TARGETS - 1]);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int t = data[0] % N_TARGETS;
    put(targets[t], data + 1, size - 1); /* tokenizer.model, when present, wins over tokenizer.json */
    graft_error err;
    for (int part = 0; part < 2; part++) {
        graft_gguf *g;
        if (graft_hf_open_gguf(dir, (graft_hf_part)part, (graft_hf_layout)(data[0] / N_TARGETS & 1), &g,
                               &err) == GRAFT_OK) {
            for (int64_t i = 0; i < graft_gguf_n_tensors(g); i++) {
                graft_gguf_tensor ti = graft_gguf_tensor_info(g, i);
                if (ti.nbytes) fz_touch(ti.data, 1), fz_touch((const char *)ti.data + ti.nbytes - 1, 1);
            }
            graft_gguf_close(g);
        }
    }
    graft_model *m;
    if (graft_model_load(dir, NULL, &m, &err) == GRAFT_OK) graft_model_free(m);
    /* put the original back (tokenizer.model: remove it again) */
    if (t == N_TARGETS - 1) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, targets[t]);
        unlink(p);
    } else
        put(targets[t], orig[t], orig_len[t]);
    return 0;
}
