/* hf_vocab.c - a Hugging Face directory's tokenizer files -> tokenizer.ggml.* metadata, as
 * llama.cpp's convert_hf_to_gguf.py writes it for Llama / LLaVA (LlamaModel.set_vocab):
 *   tokenizer.model present  -> _create_vocab_sentencepiece (pieces, added tokens, [PADi] padding);
 *   else tokenizer.json      -> LlamaHfVocab (Llama-style BPE with byte fallback), with scores
 *                               from the merge ranks instead of the converter's constant -1000 so
 *                               that graft's SPM tokenizer reproduces HF's BPE (docs/tokenizers.md);
 *   else tokenizer.json, byte-level BPE -> _set_vocab_gpt2 ("gpt2" + merges), GPT-2's pre-tokenizer only;
 *   special ids and flags    -> gguf-py SpecialVocab (token strings looked up, config ids).
 * Sits between the files and gguf_write.h; hf.c and `graft convert` call it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "error.h"
#include "hf_vocab.h"
#include "vocab.h"

#define HV_MAX_FILE ((size_t)64 << 20) /* tokenizer.json, tokenizer.model, ... */
#define HV_MAX_TOKENS (1 << 24)         /* ids are exact in the float scores below that */

/* ---- files ----------------------------------------------------------------------------------- */

static int join_path(char *out, size_t cap, const char *dir, const char *name, graft_error *err) {
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return graft_error_set(err, GRAFT_E_INVALID, "%s: path too long", dir);
    return GRAFT_OK;
}

/* Reads dir/name whole into a malloc'd, NUL-terminated *buf. An absent file gives GRAFT_OK with
 * *buf NULL. */
static int read_file(const char *dir, const char *name, char **buf, size_t *len, graft_error *err) {
    char path[4096];
    *buf = NULL, *len = 0;
    int rc = join_path(path, sizeof path, dir, name, err);
    if (rc) return rc;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return GRAFT_OK;
        return graft_error_set(err, GRAFT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        return graft_error_set(err, GRAFT_E_IO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > HV_MAX_FILE) {
        fclose(f);
        return graft_error_set(err, GRAFT_E_LIMIT, "%s: %lld bytes, over the limit of %zu", path,
                               (long long)st.st_size, HV_MAX_FILE);
    }
    size_t n = (size_t)st.st_size;
    char *b = malloc(n + 1);
    if (!b) {
        fclose(f);
        return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
    }
    size_t got = n ? fread(b, 1, n, f) : 0;
    int bad = got != n || ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return graft_error_set(err, GRAFT_E_IO, "%s: read error", path);
    }
    b[n] = 0;
    *buf = b, *len = n;
    return GRAFT_OK;
}

/* Parses dir/name as one JSON document (nothing but whitespace after it). Absent: *out NULL. */
static int load_json(const char *dir, const char *name, cJSON **out, graft_error *err) {
    char *buf;
    size_t len;
    *out = NULL;
    int rc = read_file(dir, name, &buf, &len, err);
    if (rc || !buf) return rc;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (j && end) {
        while (end < buf + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) end++;
        if (end != buf + len) cJSON_Delete(j), j = NULL;
    }
    if (!j) {
        size_t at = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : 0;
        free(buf);
        return graft_error_set(err, GRAFT_E_FORMAT, "%s/%s: malformed JSON near byte %zu", dir, name, at);
    }
    free(buf);
    *out = j;
    return GRAFT_OK;
}

/* ---- JSON helpers ---------------------------------------------------------------------------- */

/* An integral JSON number in [-2^53, 2^53]. */
static int json_int(const cJSON *x, int64_t *out) {
    if (!cJSON_IsNumber(x)) return 0;
    double d = x->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0) return 0;
    *out = (int64_t)d;
    return 1;
}

/* A token given as "text" or {"content": "text", ...} (tokenizer_config / special_tokens_map). */
static const char *token_text(const cJSON *x) {
    if (cJSON_IsString(x)) return x->valuestring;
    if (cJSON_IsObject(x)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(x, "content");
        if (cJSON_IsString(c)) return c->valuestring;
    }
    return NULL;
}

static const cJSON *get(const cJSON *obj, const char *key) {
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

static int type_is(const cJSON *obj, const char *type) {
    const cJSON *t = get(obj, "type");
    return cJSON_IsString(t) && !strcmp(t->valuestring, type);
}

/* config.json's vocab size: text_config.vocab_size (LLaVA), else vocab_size; 0 when absent. */
static int64_t config_vocab_size(const cJSON *config) {
    int64_t v;
    if (json_int(get(get(config, "text_config"), "vocab_size"), &v) && v > 0) return v;
    if (json_int(get(config, "vocab_size"), &v) && v > 0) return v;
    return 0;
}

/* The converter's does_token_look_special: added tokens that ought to be control tokens. */
static int looks_special(const char *s) {
    static const char *const names[] = {"<pad>", "<mask>", "<2mass>", "[@BOS@]"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i])) return 1;
    size_t n = strlen(s);
#define PRE(p) (n >= sizeof(p) - 1 && !memcmp(s, p, sizeof(p) - 1))
#define SUF(p) (n >= sizeof(p) - 1 && !memcmp(s + n - (sizeof(p) - 1), p, sizeof(p) - 1))
    if (PRE("<|") && SUF("|>")) return 1;
    if (PRE("<\xef\xbd\x9c") && SUF("\xef\xbd\x9c>")) return 1; /* <｜ ... ｜> (deepseek) */
    if (PRE("<unused") && SUF(">")) return 1;
#undef PRE
#undef SUF
    return 0;
}

/* ---- the token table ------------------------------------------------------------------------- */

typedef struct hv_tokens {
    int32_t n;
    char **s;       /* (n) owned copies */
    size_t *len;    /* (n) */
    float *score;   /* (n) */
    int32_t *type;  /* (n) GRAFT_TOKTYPE_* */
    int gpt2;       /* a byte-level BPE vocabulary: model "gpt2", merges, no scores */
    char **merges;  /* (n_merges) "left right" lines, owned */
    int32_t n_merges;
} hv_tokens;

static void tok_free(hv_tokens *t) {
    if (t->s)
        for (int32_t i = 0; i < t->n; i++) free(t->s[i]);
    if (t->merges)
        for (int32_t i = 0; i < t->n_merges; i++) free(t->merges[i]);
    free(t->s), free(t->len), free(t->score), free(t->type), free(t->merges);
    memset(t, 0, sizeof *t);
}

static int tok_alloc(hv_tokens *t, int32_t n) {
    memset(t, 0, sizeof *t);
    t->s = calloc((size_t)n, sizeof *t->s);
    t->len = calloc((size_t)n, sizeof *t->len);
    t->score = calloc((size_t)n, sizeof *t->score);
    t->type = calloc((size_t)n, sizeof *t->type);
    t->n = n;
    if (!t->s || !t->len || !t->score || !t->type) {
        tok_free(t);
        return -1;
    }
    return 0;
}

static int tok_set(hv_tokens *t, int32_t i, const char *s, size_t len, float score, int32_t type) {
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, s, len);
    c[len] = 0;
    free(t->s[i]);
    t->s[i] = c, t->len[i] = len, t->score[i] = score, t->type[i] = type;
    return 0;
}

/* Fills ids [from, n) with the converter's placeholders "[PAD<id>]", UNUSED, score -10000. */
static int tok_pad(hv_tokens *t, int32_t from) {
    char name[32];
    for (int32_t i = from; i < t->n; i++) {
        int l = snprintf(name, sizeof name, "[PAD%d]", i);
        if (tok_set(t, i, name, (size_t)l, -10000.0f, GRAFT_TOKTYPE_UNUSED)) return -1;
    }
    return 0;
}

static int32_t tok_find(const hv_tokens *t, const char *s) {
    size_t l = strlen(s);
    for (int32_t i = 0; i < t->n; i++)
        if (t->s[i] && t->len[i] == l && !memcmp(t->s[i], s, l)) return i;
    return -1;
}

/* ---- string -> id hash (tokenizer.json vocab) ------------------------------------------------ */

typedef struct hv_map {
    const char **key;
    size_t *klen;
    int32_t *slot; /* ids, -1 empty */
    uint32_t mask;
} hv_map;

static uint32_t hv_hash(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int32_t map_get(const hv_map *m, const char *s, size_t n) {
    for (uint32_t h = hv_hash(s, n) & m->mask;; h = (h + 1) & m->mask) {
        int32_t id = m->slot[h];
        if (id < 0) return -1;
        if (m->klen[id] == n && !memcmp(m->key[id], s, n)) return id;
    }
}

/* ---- tokenizer.model: _create_vocab_sentencepiece -------------------------------------------- */

static int spm_vocab(const char *dir, const cJSON *config, int64_t n_embd, const cJSON *tcfg,
                     hv_tokens *t, int *add_dummy_prefix, graft_error *err) {
    char path[4096], *buf;
    size_t len;
    int rc = join_path(path, sizeof path, dir, "tokenizer.model", err);
    if (rc || (rc = read_file(dir, "tokenizer.model", &buf, &len, err))) return rc;
    if (!buf) return graft_error_set(err, GRAFT_E_NOTFOUND, "%s: no tokenizer.model or tokenizer.json", dir);
    graft_spm_model m;
    if ((rc = graft_spm_model_parse(buf, len, path, &m, err))) {
        free(buf);
        return rc;
    }
    *add_dummy_prefix = m.add_dummy_prefix;
    if (m.model_type == 3 || m.model_type == 4) {
        rc = graft_error_set(err, GRAFT_E_UNSUPPORTED, "%s: a SentencePiece %s model is not supported",
                             path, m.model_type == 3 ? "WORD" : "CHAR");
        goto done;
    }
    int64_t vs = n_embd > 0 ? n_embd : config_vocab_size(config);
    if (vs <= 0) vs = m.n;
    if (n_embd > 0 && m.n > n_embd) {
        rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: %d pieces but the embedding matrix has %lld rows",
                             path, m.n, (long long)n_embd);
        goto done;
    }
    if (vs > HV_MAX_TOKENS) {
        rc = graft_error_set(err, GRAFT_E_LIMIT, "%s: vocabulary size %lld is over the limit", path, (long long)vs);
        goto done;
    }
    if (tok_alloc(t, (int32_t)vs) || tok_pad(t, 0)) goto nomem;
    for (int32_t i = 0; i < m.n && i < t->n; i++) {
        const graft_spm_piece *p = &m.pieces[i];
        int32_t ty = GRAFT_TOKTYPE_NORMAL; /* USER_DEFINED pieces too, as the converter */
        if (p->type == 2) ty = GRAFT_TOKTYPE_UNKNOWN;
        else if (p->type == 3) ty = GRAFT_TOKTYPE_CONTROL;
        else if (p->type == 5) ty = GRAFT_TOKTYPE_UNUSED;
        else if (p->type == 6) ty = GRAFT_TOKTYPE_BYTE;
        if (tok_set(t, i, p->s, p->len, p->score, ty)) goto nomem;
    }

    /* added_tokens.json: {"text": id}, user-defined */
    cJSON *added = NULL;
    if ((rc = load_json(dir, "added_tokens.json", &added, err))) goto done;
    if (added) {
        if (!cJSON_IsObject(added)) {
            cJSON_Delete(added);
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s/added_tokens.json: not a JSON object", dir);
            goto done;
        }
        for (const cJSON *a = added->child; a; a = a->next) {
            int64_t id;
            if (!json_int(a, &id) || id < 0) {
                rc = graft_error_set(err, GRAFT_E_FORMAT, "%s/added_tokens.json: '%.64s' has no valid id",
                                     dir, a->string);
                cJSON_Delete(added);
                goto done;
            }
            if (id >= t->n) continue; /* the converter ignores it */
            if (tok_set(t, (int32_t)id, a->string, strlen(a->string), -1000.0f, GRAFT_TOKTYPE_USER_DEFINED)) {
                cJSON_Delete(added);
                goto nomem;
            }
        }
        cJSON_Delete(added);
    }

    /* tokenizer_config.json added_tokens_decoder: {"id": {"content": ..., "special": ...}} */
    const cJSON *dec = get(tcfg, "added_tokens_decoder");
    if (dec && !cJSON_IsObject(dec)) {
        rc = graft_error_set(err, GRAFT_E_FORMAT, "%s/tokenizer_config.json: added_tokens_decoder is not an object", dir);
        goto done;
    }
    for (const cJSON *a = dec ? dec->child : NULL; a; a = a->next) {
        char *end;
        errno = 0;
        long long id = strtoll(a->string, &end, 10);
        const char *content = cJSON_IsObject(a) ? token_text(a) : NULL;
        if (!*a->string || *end || errno || id < 0 || !content) {
            rc = graft_error_set(err, GRAFT_E_FORMAT,
                                 "%s/tokenizer_config.json: added_tokens_decoder entry '%.32s' is not {id: {content: text}}",
                                 dir, a->string);
            goto done;
        }
        if (id >= t->n) continue;
        if (cJSON_IsTrue(get(a, "special")) || looks_special(content)) {
            if (tok_set(t, (int32_t)id, content, strlen(content), -1000.0f, GRAFT_TOKTYPE_CONTROL)) goto nomem;
        } else {
            /* pre-normalize user-defined spaces: U+2581 -> ' ' */
            size_t n = strlen(content), k = 0;
            char *s = malloc(n + 1);
            if (!s) goto nomem;
            for (size_t i = 0; i < n;) {
                if (i + 3 <= n && !memcmp(content + i, "\xe2\x96\x81", 3)) s[k++] = ' ', i += 3;
                else s[k++] = content[i++];
            }
            int bad = tok_set(t, (int32_t)id, s, k, -1000.0f, GRAFT_TOKTYPE_USER_DEFINED);
            free(s);
            if (bad) goto nomem;
        }
    }
    rc = GRAFT_OK;
    goto done;
nomem:
    rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
done:
    graft_spm_model_free(&m);
    free(buf);
    if (rc) tok_free(t);
    return rc;
}

/* ---- tokenizer.json: byte-level BPE (_set_vocab_gpt2 / get_vocab_base) ------------------------ */

/* "gpt2" vocabularies: model.vocab plus added tokens by id, gaps as [PAD<id>] UNUSED, added tokens
 * CONTROL (special or looking special) or USER_DEFINED, merges copied. The converter names the
 * pre-tokenizer by hashing the ids of a probe text; graft reads it from the file instead and
 * accepts only the plain GPT-2 one (a ByteLevel pre-tokenizer with its regex). */
static int gpt2_vocab(const char *where, const cJSON *tj, const cJSON *config, int64_t n_embd, const cJSON *tcfg,
                      hv_tokens *t, graft_error *err) {
    const cJSON *model = get(tj, "model"), *pt = get(tj, "pre_tokenizer");
    const cJSON *use_regex = get(pt, "use_regex");
    if (!type_is(pt, "ByteLevel") || cJSON_IsFalse(use_regex) || cJSON_IsTrue(get(model, "byte_fallback"))) {
        const cJSON *ty = get(pt, "type");
        return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                               "%s: a byte-level BPE tokenizer with pre_tokenizer '%.32s' is not supported; graft "
                               "reads GPT-2's (ByteLevel), Llama-style BPE with byte fallback, or a tokenizer.model",
                               where, cJSON_IsString(ty) ? ty->valuestring : "none");
    }
    const cJSON *vocab = get(model, "vocab"), *added = get(tj, "added_tokens"), *merges = get(model, "merges");
    if (!cJSON_IsObject(vocab) || !vocab->child)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: model.vocab is not a non-empty object", where);
    if (added && !cJSON_IsArray(added))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: added_tokens is not an array", where);
    if (!cJSON_IsArray(merges))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: model.merges is not an array", where);

    /* size: the embedding rows, else config vocab_size, else one past the largest id */
    int64_t max_id = -1, id = 0;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        if (!json_int(e, &id) || id < 0 || id >= HV_MAX_TOKENS)
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: model.vocab: '%.64s' has no valid id", where, e->string);
        if (id > max_id) max_id = id;
    }
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
        if (!json_int(get(a, "id"), &id) || id < 0 || id >= HV_MAX_TOKENS || !cJSON_IsString(get(a, "content")))
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: added_tokens: an entry without a valid id and content",
                                   where);
        if (id > max_id) max_id = id;
    }
    int64_t n = n_embd > 0 ? n_embd : config_vocab_size(config);
    if (n <= 0) n = max_id + 1;
    if (max_id >= n)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: token id %lld but the vocabulary has %lld %s", where,
                               (long long)max_id, (long long)n, n_embd > 0 ? "embedding rows" : "entries");
    if (n > HV_MAX_TOKENS) return graft_error_set(err, GRAFT_E_LIMIT, "%s: vocabulary size over the limit", where);
    if (tok_alloc(t, (int32_t)n)) goto nomem;
    t->gpt2 = 1;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        json_int(e, &id);
        if (t->s[id])
            return tok_free(t), graft_error_set(err, GRAFT_E_FORMAT, "%s: model.vocab: id %lld is used twice", where,
                                                (long long)id);
        if (tok_set(t, (int32_t)id, e->string, strlen(e->string), 0.0f, GRAFT_TOKTYPE_NORMAL)) goto nomem;
    }
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
        json_int(get(a, "id"), &id);
        const char *c = get(a, "content")->valuestring;
        if (cJSON_IsTrue(get(a, "special")) || looks_special(c)) {
            if (tok_set(t, (int32_t)id, c, strlen(c), 0.0f, GRAFT_TOKTYPE_CONTROL)) goto nomem;
        } else {
            size_t l = strlen(c), k = 0;
            char *u = malloc(l + 1);
            if (!u) goto nomem;
            for (size_t i = 0; i < l;) {
                if (i + 3 <= l && !memcmp(c + i, "\xe2\x96\x81", 3)) u[k++] = ' ', i += 3;
                else u[k++] = c[i++];
            }
            int bad = tok_set(t, (int32_t)id, u, k, 0.0f, GRAFT_TOKTYPE_USER_DEFINED);
            free(u);
            if (bad) goto nomem;
        }
    }
    char name[32];
    for (int32_t i = 0; i < t->n; i++)
        if (!t->s[i]) {
            int l = snprintf(name, sizeof name, "[PAD%d]", i);
            if (tok_set(t, i, name, (size_t)l, 0.0f, GRAFT_TOKTYPE_UNUSED)) goto nomem;
        }

    /* merges: "a b" lines as they are; [a, b] pairs joined, a space inside a part written as
     * U+0120 as the converter does */
    int nm = cJSON_GetArraySize(merges);
    if (nm >= HV_MAX_TOKENS) return tok_free(t), graft_error_set(err, GRAFT_E_LIMIT, "%s: too many merges", where);
    t->merges = calloc((size_t)nm + 1, sizeof *t->merges);
    if (!t->merges) goto nomem;
    for (const cJSON *mg = merges->child; mg; mg = mg->next) {
        char *line;
        if (cJSON_IsString(mg)) {
            if (!strchr(mg->valuestring, ' '))
                return tok_free(t), graft_error_set(err, GRAFT_E_FORMAT, "%s: merge %d '%.64s' is not \"left right\"",
                                                    where, t->n_merges, mg->valuestring);
            line = strdup(mg->valuestring);
        } else if (cJSON_IsArray(mg) && cJSON_GetArraySize(mg) == 2 && cJSON_IsString(mg->child) &&
                   cJSON_IsString(mg->child->next)) {
            const char *a = mg->child->valuestring, *b = mg->child->next->valuestring;
            size_t la = strlen(a), lb = strlen(b), k = 0;
            line = malloc(2 * (la + lb) + 2);
            if (line) {
                for (int part = 0; part < 2; part++) {
                    for (const char *q = part ? b : a; *q; q++) {
                        if (*q == ' ') line[k++] = (char)0xc4, line[k++] = (char)0xa0; /* U+0120 */
                        else line[k++] = *q;
                    }
                    if (!part) line[k++] = ' ';
                }
                line[k] = 0;
            }
        } else {
            return tok_free(t), graft_error_set(err, GRAFT_E_FORMAT, "%s: merge %d is neither \"a b\" nor [a, b]",
                                                where, t->n_merges);
        }
        if (!line) goto nomem;
        t->merges[t->n_merges++] = line;
    }
    return GRAFT_OK;
nomem:
    tok_free(t);
    return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", where);
}

/* ---- tokenizer.json: LlamaHfVocab ------------------------------------------------------------ */

/* Whether the normalizer prepends "▁" or the pre-tokenizer is a Metaspace that adds a prefix:
 * the tokenizer.json counterparts of SentencePiece's add_dummy_prefix. */
static int prepends_space(const cJSON *n) {
    const cJSON *p = get(n, "prepend");
    return type_is(n, "Prepend") && cJSON_IsString(p) && !strcmp(p->valuestring, "\xe2\x96\x81");
}

static int json_prefix_space(const cJSON *tj) {
    const cJSON *nz = get(tj, "normalizer"), *list;
    if (prepends_space(nz)) return 1;
    if (type_is(nz, "Sequence") && cJSON_IsArray(list = get(nz, "normalizers")))
        for (const cJSON *x = list->child; x; x = x->next)
            if (prepends_space(x)) return 1;
    const cJSON *pt = get(tj, "pre_tokenizer");
    list = type_is(pt, "Sequence") ? get(pt, "pretokenizers") : NULL;
    for (const cJSON *x = list ? list->child : pt; x; x = list ? x->next : NULL) {
        if (!type_is(x, "Metaspace")) continue;
        const cJSON *ps = get(x, "prepend_scheme"), *aps = get(x, "add_prefix_space");
        if (cJSON_IsString(ps)) return strcmp(ps->valuestring, "never") != 0;
        if (cJSON_IsBool(aps)) return cJSON_IsTrue(aps);
        return 1;
    }
    return 0;
}

/* The special token strings transformers counts in all_special_tokens, from tokenizer_config.json
 * and special_tokens_map.json; *out_n of them in the malloc'd *out (pointing into the JSON). */
static int special_strings(const cJSON *tcfg, const cJSON *stmap, const char ***out, int *out_n) {
    static const char *const keys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                       "pad_token", "cls_token", "mask_token"};
    const cJSON *src[2] = {tcfg, stmap};
    int cap = 16, n = 0;
    const char **v = malloc((size_t)cap * sizeof *v);
    if (!v) return -1;
    for (int s = 0; s < 2; s++) {
        const cJSON *lists[8];
        int nl = 0;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) lists[nl++] = get(src[s], keys[k]);
        lists[nl++] = get(src[s], "additional_special_tokens");
        for (int k = 0; k < nl; k++) {
            const cJSON *x = lists[k];
            const cJSON *first = cJSON_IsArray(x) ? x->child : x;
            for (const cJSON *e = first; e; e = cJSON_IsArray(x) ? e->next : NULL) {
                const char *txt = token_text(e);
                if (!txt) continue;
                if (n == cap) {
                    const char **nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
                    if (!nv) {
                        free(v);
                        return -1;
                    }
                    v = nv;
                }
                v[n++] = txt;
            }
        }
    }
    *out = v, *out_n = n;
    return 0;
}

typedef struct hv_added {
    int32_t id;
    const char *content;
} hv_added;

static int cmp_added(const void *a, const void *b) {
    int32_t x = ((const hv_added *)a)->id, y = ((const hv_added *)b)->id;
    return (x > y) - (x < y);
}

static int is_byte_token(const char *s, size_t n) {
    return n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && strchr("0123456789abcdefABCDEF", s[3]) && s[3] &&
           strchr("0123456789abcdefABCDEF", s[4]) && s[4];
}

static int json_vocab(const char *dir, const cJSON *tj, const cJSON *config, int64_t n_embd, const cJSON *tcfg,
                      const cJSON *stmap, hv_tokens *t, graft_error *err) {
    char where[4096];
    int rc = join_path(where, sizeof where, dir, "tokenizer.json", err);
    if (rc) return rc;
    const cJSON *model = get(tj, "model");
    const cJSON *mtype = get(model, "type");
    if (!cJSON_IsObject(tj) || !cJSON_IsObject(model) || !cJSON_IsString(mtype))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: no model.type", where);
    if (strcmp(mtype->valuestring, "BPE")) {
        const char *what = !strcmp(mtype->valuestring, "Unigram")     ? "a Unigram"
                           : !strcmp(mtype->valuestring, "WordPiece") ? "a WordPiece"
                           : !strcmp(mtype->valuestring, "WordLevel") ? "a WordLevel"
                                                                      : "this";
        return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                               "%s: %s tokenizer (model.type '%.32s') is not supported; graft reads Llama-style "
                               "BPE with byte fallback, or a tokenizer.model", where, what, mtype->valuestring);
    }
    if (!cJSON_IsTrue(get(model, "byte_fallback")) || !type_is(get(tj, "decoder"), "Sequence"))
        return gpt2_vocab(where, tj, config, n_embd, tcfg, t, err);

    /* model.vocab {piece: id}: ids 0..n-1, each once */
    const cJSON *vocab = get(model, "vocab");
    if (!cJSON_IsObject(vocab) || !vocab->child)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: model.vocab is not a non-empty object", where);
    int64_t n_base = cJSON_GetArraySize(vocab);
    if (n_base > HV_MAX_TOKENS) return graft_error_set(err, GRAFT_E_LIMIT, "%s: vocabulary over the limit", where);

    hv_map m = {0};
    const cJSON *added = get(tj, "added_tokens");
    int n_added_all = cJSON_IsArray(added) ? cJSON_GetArraySize(added) : 0;
    if (added && !cJSON_IsArray(added))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: added_tokens is not an array", where);
    hv_added *ext = malloc(((size_t)n_added_all + 1) * sizeof *ext);
    uint32_t msize = 1;
    while (msize < 2u * (uint32_t)n_base) msize <<= 1;
    m.key = calloc((size_t)n_base, sizeof *m.key);
    m.klen = calloc((size_t)n_base, sizeof *m.klen);
    m.slot = malloc(msize * sizeof *m.slot);
    m.mask = msize - 1;
    const char **specials = NULL;
    int n_specials = 0;
    if (!ext || !m.key || !m.klen || !m.slot) goto nomem;
    memset(m.slot, 0xff, msize * sizeof *m.slot);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int64_t id;
        if (!json_int(e, &id) || id < 0 || id >= n_base) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: model.vocab: '%.64s' has id outside 0..%lld", where,
                                 e->string, (long long)n_base - 1);
            goto done;
        }
        if (m.key[id]) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: model.vocab: id %lld is used twice ('%.64s', '%.64s')",
                                 where, (long long)id, m.key[id], e->string);
            goto done;
        }
        m.key[id] = e->string, m.klen[id] = strlen(e->string);
        uint32_t h = hv_hash(e->string, m.klen[id]) & m.mask;
        while (m.slot[h] >= 0) h = (h + 1) & m.mask;
        m.slot[h] = (int32_t)id;
    }

    /* added tokens: those past the vocabulary are appended, in id order, without gaps */
    int n_ext = 0;
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
        int64_t id;
        const cJSON *c = get(a, "content");
        if (!json_int(get(a, "id"), &id) || id < 0 || !cJSON_IsString(c)) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: added_tokens: an entry without a valid id and content", where);
            goto done;
        }
        if (id >= n_base) {
            if (id >= HV_MAX_TOKENS) {
                rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: added_tokens: id %lld out of range", where, (long long)id);
                goto done;
            }
            ext[n_ext].id = (int32_t)id, ext[n_ext].content = c->valuestring, n_ext++;
        }
    }
    qsort(ext, (size_t)n_ext, sizeof *ext, cmp_added);
    for (int i = 0; i < n_ext; i++)
        if (ext[i].id != n_base + i) {
            rc = graft_error_set(err, GRAFT_E_FORMAT,
                                 "%s: added_tokens: ids past the vocabulary must run %lld, %lld, ... without gaps or "
                                 "repeats; found %d", where, (long long)n_base, (long long)n_base + 1, ext[i].id);
            goto done;
        }
    int64_t n_total = n_base + n_ext;
    if (n_embd > 0 && n_total > n_embd) {
        rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: %lld tokens but the embedding matrix has %lld rows", where,
                             (long long)n_total, (long long)n_embd);
        goto done;
    }
    int64_t n_all = n_embd > 0 ? n_embd : n_total;
    if (n_all > HV_MAX_TOKENS) {
        rc = graft_error_set(err, GRAFT_E_LIMIT, "%s: vocabulary size over the limit", where);
        goto done;
    }
    if (tok_alloc(t, (int32_t)n_all) || tok_pad(t, (int32_t)n_total)) goto nomem;

    /* scores: -rank of the first merge that makes the token; tokens no merge makes score below
     * every merge (the converter writes -1000 for all, which would turn graft's score-driven SPM
     * merging into leftmost-first merging) */
    const cJSON *merges = get(model, "merges");
    if (merges && !cJSON_IsArray(merges)) {
        rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: model.merges is not an array", where);
        goto done;
    }
    int n_merges = merges ? cJSON_GetArraySize(merges) : 0;
    if (n_merges >= HV_MAX_TOKENS) {
        rc = graft_error_set(err, GRAFT_E_LIMIT, "%s: too many merges", where);
        goto done;
    }
    float unmerged = -(float)n_merges - 1000.0f;
    for (int64_t i = 0; i < n_base; i++) t->score[i] = NAN;
    char small[256];
    int rank = 0;
    for (const cJSON *mg = merges ? merges->child : NULL; mg; mg = mg->next, rank++) {
        const char *a, *b;
        size_t na, nb;
        if (cJSON_IsString(mg)) {
            const char *sp = strchr(mg->valuestring, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: merge %d '%.64s' is not \"left right\"", where, rank,
                                     mg->valuestring);
                goto done;
            }
            a = mg->valuestring, na = (size_t)(sp - a), b = sp + 1, nb = strlen(b);
        } else if (cJSON_IsArray(mg) && cJSON_GetArraySize(mg) == 2 && cJSON_IsString(mg->child) &&
                   cJSON_IsString(mg->child->next)) {
            a = mg->child->valuestring, na = strlen(a), b = mg->child->next->valuestring, nb = strlen(b);
        } else {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: merge %d is neither \"a b\" nor [a, b]", where, rank);
            goto done;
        }
        char *ab = na + nb < sizeof small ? small : malloc(na + nb + 1);
        if (!ab) goto nomem;
        memcpy(ab, a, na), memcpy(ab + na, b, nb);
        int32_t ia = map_get(&m, a, na), ib = map_get(&m, b, nb), iab = map_get(&m, ab, na + nb);
        if (ab != small) free(ab);
        if (ia < 0 || ib < 0 || iab < 0) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: merge %d: '%.*s', '%.*s' or their join is not in the "
                                 "vocabulary", where, rank, (int)(na > 64 ? 64 : na), a, (int)(nb > 64 ? 64 : nb), b);
            goto done;
        }
        if (isnan(t->score[iab])) t->score[iab] = -(float)rank;
    }

    /* special tokens: types CONTROL (base ids) / which added tokens are CONTROL */
    if (special_strings(tcfg, stmap, &specials, &n_specials)) goto nomem;
    for (int64_t i = 0; i < n_base; i++) {
        int32_t ty = is_byte_token(m.key[i], m.klen[i]) ? GRAFT_TOKTYPE_BYTE : GRAFT_TOKTYPE_NORMAL;
        float sc = isnan(t->score[i]) ? unmerged : t->score[i];
        if (tok_set(t, (int32_t)i, m.key[i], m.klen[i], sc, ty)) goto nomem;
    }
    for (int k = 0; k < n_specials; k++) {
        int32_t id = map_get(&m, specials[k], strlen(specials[k]));
        if (id >= 0 && t->type[id] != GRAFT_TOKTYPE_BYTE) t->type[id] = GRAFT_TOKTYPE_CONTROL;
    }
    for (int i = 0; i < n_ext; i++) {
        int32_t ty = GRAFT_TOKTYPE_USER_DEFINED;
        for (int k = 0; k < n_specials; k++)
            if (!strcmp(specials[k], ext[i].content)) ty = GRAFT_TOKTYPE_CONTROL;
        if (tok_set(t, (int32_t)(n_base + i), ext[i].content, strlen(ext[i].content), unmerged, ty)) goto nomem;
    }
    rc = GRAFT_OK;
    goto done;
nomem:
    rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", where);
done:
    free(ext), free(m.key), free(m.klen), free(m.slot), free(specials);
    if (rc) tok_free(t);
    return rc;
}

/* add_bos / add_eos from tokenizer.json's post-processor: RobertaProcessing adds both; the first
 * and last special token of TemplateProcessing's "single" (SpecialVocab's crude reading). */
static void template_flags(const cJSON *tj, const cJSON *tcfg, int *add_bos, int *add_eos) {
    const cJSON *pp = get(tj, "post_processor");
    const cJSON *list = get(pp, "processors");
    const char *bos = token_text(get(tcfg, "bos_token")), *eos = token_text(get(tcfg, "eos_token"));
    for (const cJSON *p = cJSON_IsArray(list) ? list->child : pp; p; p = cJSON_IsArray(list) ? p->next : NULL) {
        if (type_is(p, "RobertaProcessing")) *add_bos = *add_eos = 1;
        if (!type_is(p, "TemplateProcessing")) continue;
        const cJSON *single = get(p, "single");
        int n = cJSON_IsArray(single) ? cJSON_GetArraySize(single) : 0;
        if (n <= 1) continue;
        const cJSON *first = get(get(cJSON_GetArrayItem(single, 0), "SpecialToken"), "id");
        const cJSON *last = get(get(cJSON_GetArrayItem(single, n - 1), "SpecialToken"), "id");
        if (cJSON_IsString(first) && *first->valuestring)
            *add_bos = !tcfg || (bos && !strcmp(bos, first->valuestring));
        if (cJSON_IsString(last) && *last->valuestring)
            *add_eos = !tcfg || (eos && !strcmp(eos, last->valuestring));
    }
}

/* A list of chat templates [{"name": ..., "template": ...}] as gguf-py writes it: "default" as
 * tokenizer.chat_template, each other one as tokenizer.chat_template.<name> (name characters
 * other than ASCII letters and digits become '_'), and their names in tokenizer.chat_templates. */
static int add_named_templates(gguf_writer *w, const cJSON *list, graft_error *err) {
    int n = cJSON_GetArraySize(list), k = 0;
    char **names = calloc((size_t)n + 1, sizeof *names);
    if (!names) return graft_error_set(err, GRAFT_E_NOMEM, "chat templates: out of memory");
    for (const cJSON *c = list->child; c; c = c->next) {
        const cJSON *nm = get(c, "name"), *tp = get(c, "template");
        if (!cJSON_IsString(nm) || !*nm->valuestring || !cJSON_IsString(tp)) continue;
        if (!strcmp(nm->valuestring, "default")) {
            gguf_writer_add_str(w, "tokenizer.chat_template", tp->valuestring, strlen(tp->valuestring));
            continue;
        }
        size_t l = strlen(nm->valuestring);
        char *clean = malloc(l + 1), *key = malloc(l + 32);
        if (!clean || !key) {
            free(clean), free(key);
            for (int i = 0; i < k; i++) free(names[i]);
            free(names);
            return graft_error_set(err, GRAFT_E_NOMEM, "chat templates: out of memory");
        }
        for (size_t i = 0; i <= l; i++) {
            char ch = nm->valuestring[i];
            clean[i] = !ch || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ? ch : '_';
        }
        snprintf(key, l + 32, "tokenizer.chat_template.%s", clean);
        gguf_writer_add_str(w, key, tp->valuestring, strlen(tp->valuestring));
        free(key);
        names[k++] = clean;
    }
    if (k) gguf_writer_add_arr_str(w, "tokenizer.chat_templates", (const char *const *)names, NULL, (uint64_t)k);
    for (int i = 0; i < k; i++) free(names[i]);
    free(names);
    return GRAFT_OK;
}

/* ---- the entry point -------------------------------------------------------------------------- */

int graft_hf_vocab_add(const char *dir, const cJSON *config, int64_t n_vocab_embd, gguf_writer *w,
                       graft_error *err) {
    if (!dir || !w) return graft_error_set(err, GRAFT_E_INVALID, "hf vocab: NULL argument");
    char path[4096];
    cJSON *tcfg = NULL, *stmap = NULL, *tj = NULL, *gen = NULL, *ctj = NULL;
    char *jinja = NULL;
    size_t jinja_len = 0;
    hv_tokens t = {0};
    int rc, prefix = 1, add_bos = -1, add_eos = -1;
    struct stat st;

    if ((rc = load_json(dir, "tokenizer_config.json", &tcfg, err)) ||
        (rc = load_json(dir, "special_tokens_map.json", &stmap, err)))
        goto out;
    if ((rc = join_path(path, sizeof path, dir, "tokenizer.model", err))) goto out;
    if (stat(path, &st) == 0) {
        rc = spm_vocab(dir, config, n_vocab_embd, tcfg, &t, &prefix, err);
        /* a tokenizer.json beside it still gives add_bos/add_eos (SpecialVocab reads it) */
        if (!rc && !(rc = load_json(dir, "tokenizer.json", &tj, err)) && tj) template_flags(tj, tcfg, &add_bos, &add_eos);
    } else {
        if ((rc = load_json(dir, "tokenizer.json", &tj, err))) goto out;
        if (!tj) {
            rc = graft_error_set(err, GRAFT_E_NOTFOUND, "%s: no tokenizer.model or tokenizer.json", dir);
            goto out;
        }
        rc = json_vocab(dir, tj, config, n_vocab_embd, tcfg, stmap, &t, err);
        prefix = json_prefix_space(tj);
        template_flags(tj, tcfg, &add_bos, &add_eos);
    }
    if (rc) goto out;
    if (cJSON_IsBool(get(tcfg, "add_prefix_space"))) prefix = cJSON_IsTrue(get(tcfg, "add_prefix_space"));
    if (cJSON_IsBool(get(tcfg, "add_bos_token"))) add_bos = cJSON_IsTrue(get(tcfg, "add_bos_token"));
    if (cJSON_IsBool(get(tcfg, "add_eos_token"))) add_eos = cJSON_IsTrue(get(tcfg, "add_eos_token"));

    /* special ids: token strings first, then config ids (first one found wins) */
    if ((rc = load_json(dir, "generation_config.json", &gen, err))) goto out;
    static const char *const typ[4] = {"bos", "eos", "unk", "pad"};
    static const char *const key[4] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                       "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"};
    int32_t ids[4];
    for (int k = 0; k < 4; k++) {
        char name[32];
        ids[k] = -1;
        snprintf(name, sizeof name, "%s_token", typ[k]);
        const char *s1 = token_text(get(tcfg, name)), *s2 = token_text(get(stmap, name));
        if (s1) ids[k] = tok_find(&t, s1);
        if (ids[k] < 0 && s2) ids[k] = tok_find(&t, s2);
        snprintf(name, sizeof name, "%s_token_id", typ[k]);
        const cJSON *cands[3] = {get(config, name), get(get(config, "text_config"), name), get(gen, name)};
        for (int c = 0; c < 3 && ids[k] < 0; c++) {
            int64_t v;
            if (json_int(cands[c], &v) && v >= 0 && v < t.n) ids[k] = (int32_t)v;
        }
    }

    /* chat template: tokenizer_config.json, else chat_template.jinja, else chat_template.json */
    const cJSON *ct = get(tcfg, "chat_template");
    const char *tmpl = cJSON_IsString(ct) ? ct->valuestring : NULL;
    size_t tmpl_len = tmpl ? strlen(tmpl) : 0;
    if (!tmpl && !ct) {
        if ((rc = read_file(dir, "chat_template.jinja", &jinja, &jinja_len, err))) goto out;
        if (jinja) {
            tmpl = jinja, tmpl_len = jinja_len;
        } else {
            if ((rc = load_json(dir, "chat_template.json", &ctj, err))) goto out;
            const cJSON *c2 = get(ctj, "chat_template");
            if (cJSON_IsString(c2)) tmpl = c2->valuestring, tmpl_len = strlen(tmpl);
        }
    }

    const uint64_t n = (uint64_t)t.n;
    gguf_writer_add_str(w, "tokenizer.ggml.model", t.gpt2 ? "gpt2" : "llama", t.gpt2 ? 4 : 5);
    gguf_writer_add_str(w, "tokenizer.ggml.pre", t.gpt2 ? "gpt-2" : "default", t.gpt2 ? 5 : 7);
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)t.s, t.len, n);
    if (!t.gpt2) gguf_writer_add_arr(w, "tokenizer.ggml.scores", GRAFT_GGUF_F32, t.score, n);
    gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GRAFT_GGUF_I32, t.type, n);
    if (t.gpt2) gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", (const char *const *)t.merges, NULL,
                                        (uint64_t)t.n_merges);
    for (int k = 0; k < 4; k++)
        if (ids[k] >= 0) gguf_writer_add_u32(w, key[k], (uint32_t)ids[k]);
    if (add_bos >= 0) gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", add_bos);
    if (add_eos >= 0) gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", add_eos);
    if (!t.gpt2 || cJSON_IsBool(get(tcfg, "add_prefix_space")))
        gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", prefix);
    if (tmpl) gguf_writer_add_str(w, "tokenizer.chat_template", tmpl, tmpl_len);
    if (cJSON_IsArray(ct) && (rc = add_named_templates(w, ct, err))) goto out;
    rc = gguf_writer_error(w, err);
out:
    tok_free(&t);
    free(jinja);
    cJSON_Delete(tcfg), cJSON_Delete(stmap), cJSON_Delete(tj), cJSON_Delete(gen), cJSON_Delete(ctj);
    return rc;
}

/* ---- WordPiece: a BERT tokenizer folder (InstructBLIP's qformer_tokenizer/) -------------------- */

int graft_hf_vocab_add_wordpiece(const char *dir, int64_t n_vocab_embd, gguf_writer *w, graft_error *err) {
    if (!dir || !w) return graft_error_set(err, GRAFT_E_INVALID, "hf vocab: NULL argument");
    char *buf = NULL, path[4096];
    size_t len = 0;
    cJSON *added = NULL;
    hv_tokens t = {0};
    int rc = read_file(dir, "vocab.txt", &buf, &len, err);
    if (rc) return rc;
    if (!buf) return graft_error_set(err, GRAFT_E_NOTFOUND, "%s: no vocab.txt", dir);
    if ((rc = load_json(dir, "added_tokens.json", &added, err))) goto out;
    /* lines of vocab.txt are ids 0..n-1; added_tokens.json may name more ids after them */
    int32_t n_lines = 0, n = 0;
    for (size_t i = 0; i < len; i++) n_lines += buf[i] == '\n';
    if (len && buf[len - 1] != '\n') n_lines++;
    n = n_lines;
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
        int64_t id;
        if (!json_int(a, &id) || id < 0 || id > (1 << 24)) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s/added_tokens.json: '%s' needs a token id", dir,
                                 a->string ? a->string : "?");
            goto out;
        }
        if (id + 1 > n) n = (int32_t)id + 1;
    }
    if (n_vocab_embd > 0 && n > n_vocab_embd) {
        rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: %d word pieces for an embedding of %lld rows", dir, n,
                             (long long)n_vocab_embd);
        goto out;
    }
    if (n_vocab_embd > n) n = (int32_t)n_vocab_embd;
    if (n == 0 || tok_alloc(&t, n)) {
        rc = n ? graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", dir)
               : graft_error_set(err, GRAFT_E_FORMAT, "%s/vocab.txt is empty", dir);
        goto out;
    }
    /* llama.cpp's converter (BertModel.set_vocab): "##x" -> "x", "[X]" stays, others "▁x";
     * the [..] specials BERT's tokenizer knows and the added tokens are control tokens */
    size_t off = 0;
    for (int32_t i = 0; i < n_lines; i++) {
        const char *s = buf + off, *e = memchr(s, '\n', len - off);
        size_t l = e ? (size_t)(e - s) : len - off;
        off += l + 1;
        if (l && s[l - 1] == '\r') l--;
        char tmp[512];
        size_t tl;
        int32_t type = GRAFT_TOKTYPE_NORMAL;
        if (l > 400) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s/vocab.txt: line %d is too long", dir, i + 1);
            goto out;
        }
        if (l >= 2 && s[0] == '[' && s[l - 1] == ']') {
            memcpy(tmp, s, l), tl = l;
            static const char *const sp[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
            for (int k = 0; k < 5; k++)
                if (l == strlen(sp[k]) && !memcmp(s, sp[k], l)) type = GRAFT_TOKTYPE_CONTROL;
        } else if (l >= 2 && s[0] == '#' && s[1] == '#') {
            memcpy(tmp, s + 2, l - 2), tl = l - 2;
        } else {
            memcpy(tmp, "\xe2\x96\x81", 3), memcpy(tmp + 3, s, l), tl = l + 3;
        }
        if (tok_set(&t, i, tmp, tl, 0.0f, type)) {
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", dir);
            goto out;
        }
    }
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
        int64_t id = -1;
        json_int(a, &id);
        if (id >= n_lines && tok_set(&t, (int32_t)id, a->string, strlen(a->string), 0.0f, GRAFT_TOKTYPE_CONTROL)) {
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", dir);
            goto out;
        }
    }
    for (int32_t i = 0; i < n; i++)
        if (!t.s[i]) {
            int l = snprintf(path, sizeof path, "[PAD%d]", i);
            if (tok_set(&t, i, path, (size_t)l, -10000.0f, GRAFT_TOKTYPE_UNUSED)) {
                rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", dir);
                goto out;
            }
        }
    gguf_writer_add_str(w, "tokenizer.ggml.model", "bert", 4);
    gguf_writer_add_str(w, "tokenizer.ggml.pre", "default", 7);
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)t.s, t.len, (uint64_t)n);
    gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GRAFT_GGUF_I32, t.type, (uint64_t)n);
    static const char *const names[4] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]"};
    static const char *const keys[4] = {"tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
                                        "tokenizer.ggml.padding_token_id", "tokenizer.ggml.cls_token_id"};
    for (int k = 0; k < 4; k++) {
        int32_t id = tok_find(&t, names[k]);
        if (id >= 0) gguf_writer_add_u32(w, keys[k], (uint32_t)id);
    }
    rc = GRAFT_OK;
out:
    tok_free(&t);
    cJSON_Delete(added);
    free(buf);
    return rc;
}
