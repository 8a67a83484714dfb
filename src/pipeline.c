/* pipeline.c - the LLaVA pipeline: prompt text with image markers -> text chunks tokenized as
 * Hugging Face does + image rows from the vision tower and projector -> one decoder batch.
 * Image embeddings are cached by a hash of their pixels, in slots allocated with the session,
 * so asking about the same image again costs no encode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "image.h"
#include "model.h"
#include "preprocess.h"
#include "tokenizer.h"
#include "vocab.h"

typedef struct {
    uint64_t hash;   /* of the normalised pixels and the instruction ids; 0 = empty */
    uint64_t used;   /* last use, for LRU replacement */
    float *rows;     /* (n_tok, n_embd) */
} cache_slot;

struct graft_mm {
    graft_ctx *ctx;
    const graft_vision *v;
    graft_vision_ctx *vc;
    graft_mm_params p;   /* AUTO values resolved from the recipe */
    const graft_recipe *recipe;
    int S, n_tok, n_embd, n_text_max;
    float *pixels;      /* (3, S, S) */
    cache_slot *cache;  /* p.cache_images slots */
    uint64_t clock;
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

graft_mm_params graft_mm_default_params(void) {
    graft_mm_params p = {.marker = NULL, .image_mode = GRAFT_MM_MODE_AUTO, .placement = GRAFT_MM_PLACE_AUTO,
                         .spacing = GRAFT_MM_SPACE_AUTO, .cache_images = 4, .max_pixels = 0, .n_threads = 2,
                         .max_images = 64};
    return p;
}

int graft_mm_new(graft_ctx *ctx, const graft_vision *v, const graft_mm_params *params,
                 graft_mm **out, graft_error *err) {
    *out = NULL;
    graft_mm_params p = params ? *params : graft_mm_default_params();
    const graft_recipe *rc_ = graft_vision_recipe(v);
    if (!p.marker || !*p.marker) p.marker = rc_->marker;
    if (p.cache_images < 1) p.cache_images = 1;
    if (p.max_images < 1) p.max_images = 64;
    if (p.image_mode == GRAFT_MM_MODE_AUTO) p.image_mode = rc_->image_mode;
    if (p.placement == GRAFT_MM_PLACE_AUTO) p.placement = rc_->placement;
    if (p.spacing == GRAFT_MM_SPACE_AUTO) p.spacing = rc_->spacing;
    if (p.image_mode < 0 || p.image_mode > 2)
        return graft_error_set(err, GRAFT_E_INVALID, "unknown image mode %d", p.image_mode);
    if (p.placement != GRAFT_MM_PLACE_INLINE && p.placement != GRAFT_MM_PLACE_PREPEND)
        return graft_error_set(err, GRAFT_E_INVALID, "unknown image placement %d", p.placement);
    if (p.spacing != GRAFT_MM_SPACE_HF && p.spacing != GRAFT_MM_SPACE_EACH)
        return graft_error_set(err, GRAFT_E_INVALID, "unknown text spacing %d", p.spacing);
    const int E = ctx ? graft_model_n_embd(ctx->model) : graft_vision_n_embd(v);
    if (graft_vision_n_embd(v) != E)
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "the vision projector emits rows of width %d but the language model's width is %d "
                               "(mmproj and model do not belong together)", graft_vision_n_embd(v), E);
    graft_mm *s = calloc(1, sizeof *s);
    if (!s) return graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    s->ctx = ctx;
    s->v = v;
    s->p = p;
    s->recipe = rc_;
    s->S = graft_vision_image_size(v);
    s->n_embd = E;
    s->n_text_max = graft_vision_n_text_max(v);
    graft_vision_ctx_params vp = graft_vision_ctx_default_params();
    vp.n_threads = ctx ? ctx->params.n_threads : p.n_threads;
    vp.n_text_max = s->n_text_max;
    int rc = graft_vision_ctx_new(v, &vp, &s->vc, err);
    if (rc) {
        free(s);
        return rc;
    }
    s->n_tok = graft_vision_ctx_n_tokens(s->vc);
    s->pixels = malloc(sizeof(float) * 3 * (size_t)s->S * s->S);
    s->cache = calloc((size_t)p.cache_images, sizeof *s->cache);
    int ok = s->pixels && s->cache;
    for (int i = 0; ok && i < p.cache_images; i++)
        ok = (s->cache[i].rows = malloc(sizeof(float) * (size_t)s->n_tok * E)) != NULL;
    if (!ok) {
        graft_mm_free(s);
        return graft_error_set(err, GRAFT_E_NOMEM, "out of memory for the image cache");
    }
    *out = s;
    return GRAFT_OK;
}

void graft_mm_free(graft_mm *s) {
    if (!s) return;
    for (int i = 0; s->cache && i < s->p.cache_images; i++) free(s->cache[i].rows);
    free(s->cache);
    free(s->pixels);
    graft_vision_ctx_free(s->vc);
    free(s);
}

int graft_mm_pixels(graft_mm *s, const graft_image_input *in, float *out, graft_mm_timings *t,
                    graft_error *err) {
    const int given = !!in->path + !!in->rgb + !!in->pixels;
    if (given != 1)
        return graft_error_set(err, GRAFT_E_INVALID, "an image input needs exactly one of a path, RGB data or pixels");
    const size_t n = 3 * (size_t)s->S * s->S;
    if (in->pixels) {
        memcpy(out, in->pixels, n * sizeof(float));
        return GRAFT_OK;
    }
    graft_image im = {0};
    double t0 = now_ms();
    int rc = in->path ? graft_image_load_file(in->path, s->p.max_pixels, &im, err)
                      : graft_image_from_rgb(in->rgb, in->w, in->h, (size_t)in->w * 3, s->p.max_pixels, &im, err);
    if (rc) return rc;
    double t1 = now_ms();
    graft_preprocess_params pp = graft_preprocess_default_params();
    pp.image_size = s->S;
    pp.mode = s->p.image_mode == GRAFT_MM_MODE_PAD ? GRAFT_IMAGE_MODE_PAD
              : s->p.image_mode == GRAFT_MM_MODE_CROP ? GRAFT_IMAGE_MODE_CROP : GRAFT_IMAGE_MODE_RESIZE;
    graft_vision_norm(s->v, pp.mean, pp.std);
    rc = graft_preprocess(&im, &pp, out, NULL, err);
    graft_image_free(&im);
    if (rc && in->path) {
        graft_error e = *err;
        graft_error_set(err, rc, "%s: %s", in->path, e.msg);
    }
    if (t) t->image_decode_ms += t1 - t0, t->preprocess_ms += now_ms() - t1;
    return rc;
}

/* FNV-1a over the pixel bytes (never 0). */
static uint64_t hash_bytes(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h ? h : 1;
}

/* The instruction ids of an image input for a projector that reads them (NULL / 0 otherwise):
 * the caller's ids, or its text through the vision tower's tokenizer (*owned is then malloc'd;
 * no text gives the empty instruction, as a processor given "" would: [CLS] [SEP]). */
static int instruction_ids(graft_mm *s, const graft_image_input *in, const int32_t **ids, int *n,
                           int32_t **owned, graft_error *err) {
    *ids = NULL;
    *n = 0;
    *owned = NULL;
    if (!s->n_text_max) return GRAFT_OK;
    if (in->instruction_ids) {
        *ids = in->instruction_ids;
        *n = in->n_instruction_ids;
    } else {
        const char *text = in->instruction ? in->instruction : "";
        size_t m = 0;
        int rc = graft_vision_tokenize(s->v, text, strlen(text), owned, &m, err);
        if (rc == GRAFT_E_NOTFOUND && !in->instruction) return GRAFT_OK; /* no tokenizer, no text: queries alone */
        if (rc) return rc;
        *ids = *owned;
        *n = (int)m;
    }
    if (*n > s->n_text_max) {
        free(*owned);
        *owned = NULL;
        return graft_error_set(err, GRAFT_E_LIMIT, "the instruction has %d tokens, more than the projector's %d",
                               *n, s->n_text_max);
    }
    return GRAFT_OK;
}

/* The cache slot holding the rows of the image in s->pixels (with instruction `ids`, for the
 * projectors that read one), encoding it if needed. */
static int encode_cached(graft_mm *s, const int32_t *ids, int n_ids, cache_slot **slot, graft_mm_timings *t,
                         graft_error *err) {
    uint64_t h = hash_bytes(s->pixels, sizeof(float) * 3 * (size_t)s->S * s->S);
    if (n_ids > 0) h = (h ^ hash_bytes(ids, sizeof *ids * (size_t)n_ids)) * 0x100000001b3ULL, h = h ? h : 1;
    cache_slot *victim = &s->cache[0];
    for (int i = 0; i < s->p.cache_images; i++) {
        cache_slot *c = &s->cache[i];
        if (c->hash == h) {
            c->used = ++s->clock;
            *slot = c;
            if (t) t->n_images_cached++;
            return GRAFT_OK;
        }
        if (c->used < victim->used) victim = c;
    }
    victim->hash = 0;
    if (graft_vision_encode(s->vc, s->pixels, ids, n_ids, victim->rows))
        return graft_error_set(err, GRAFT_E_INVALID, "%s", graft_vision_ctx_last_error(s->vc));
    victim->hash = h;
    victim->used = ++s->clock;
    if (t) {
        double vit, proj;
        graft_vision_ctx_timings(s->vc, &vit, &proj);
        t->vision_ms += vit;
        t->projector_ms += proj;
        t->n_images_encoded++;
    }
    *slot = victim;
    return GRAFT_OK;
}

/* Pixels, instruction and cached encode of one image input: the rows its slot holds. */
static int encode_input(graft_mm *s, const graft_image_input *in, cache_slot **slot, graft_mm_timings *t,
                        graft_error *err) {
    int rc = graft_mm_pixels(s, in, s->pixels, t, err);
    const int32_t *ids;
    int n;
    int32_t *owned = NULL;
    if (!rc) rc = instruction_ids(s, in, &ids, &n, &owned, err);
    if (!rc) rc = encode_cached(s, ids, n, slot, t, err);
    free(owned);
    return rc;
}

int graft_mm_encode(graft_mm *s, const graft_image_input *image, float *out, graft_mm_timings *t,
                    graft_error *err) {
    cache_slot *slot;
    int rc = encode_input(s, image, &slot, t, err);
    if (!rc) memcpy(out, slot->rows, sizeof(float) * (size_t)s->n_tok * s->n_embd);
    return rc;
}

int graft_mm_eval(graft_mm *s, const char *text, const graft_image_input *images, int n_images,
                  graft_mm_timings *t, graft_error *err) {
    return graft_mm_eval_ex(s, text, images, n_images, 0, t, err);
}

/* One chunk of prompt text: the first of a fresh prompt gets BOS (and the prefix space); later
 * ones follow the session's spacing: as text after an image (HF), or on their own (EACH). */
static int tokenize_chunk(graft_mm *s, const char *p, size_t n, int first, int32_t **ids, size_t *n_ids,
                          graft_error *err) {
    const graft_vocab *vocab = s->ctx->model->vocab;
    if (first) return graft_tokenize(vocab, p, n, 1, 1, ids, n_ids, err);
    if (s->p.spacing == GRAFT_MM_SPACE_EACH) return graft_tokenize(vocab, p, n, 0, 1, ids, n_ids, err);
    return graft_tokenize_continue(vocab, p, n, 1, ids, n_ids, err);
}

static int push_n(graft_ids *ids, int32_t v, int n, graft_error *err) {
    for (int i = 0; i < n; i++)
        if (graft_ids_push(ids, v)) return graft_error_set(err, GRAFT_E_NOMEM, "out of memory for the prompt");
    return GRAFT_OK;
}

int graft_mm_eval_ex(graft_mm *s, const char *text, const graft_image_input *images, int n_images,
                     int flags, graft_mm_timings *t, graft_error *err) {
    if (!s->ctx) return graft_error_set(err, GRAFT_E_INVALID, "this session has no decoder context (encode only)");
    const graft_model *m = s->ctx->model;
    if (!m->vocab) return graft_error_set(err, GRAFT_E_NOTFOUND, "the language model has no tokenizer metadata");
    if (!text) text = "";
    const int prepend = s->p.placement == GRAFT_MM_PLACE_PREPEND;
    const int images_only = (flags & GRAFT_MM_EVAL_IMAGES_ONLY) != 0;
    const size_t mlen = strlen(s->p.marker);
    int n_markers = 0;
    for (const char *p = text; (p = strstr(p, s->p.marker)); p += mlen) n_markers++;
    if (n_images > s->p.max_images)
        return graft_error_set(err, GRAFT_E_LIMIT, "the prompt has %d images, more than the limit of %d (max_images)",
                               n_images, s->p.max_images);
    if (images_only && (!prepend || *text))
        return graft_error_set(err, GRAFT_E_INVALID, "images-only decoding is for sessions that place images in "
                               "front of the prompt, with no text");
    if (prepend && n_markers)
        return graft_error_set(err, GRAFT_E_INVALID, "this %s model puts its image%s in front of the prompt: leave "
                               "out the %s marker%s", s->recipe->name, n_images == 1 ? "" : "s", s->p.marker,
                               n_markers == 1 ? "" : "s");
    if (!prepend && n_markers != n_images)
        return graft_error_set(err, GRAFT_E_INVALID, "the prompt has %d image marker%s (%s) but %d image%s %s given",
                               n_markers, n_markers == 1 ? "" : "s", s->p.marker, n_images,
                               n_images == 1 ? "" : "s", n_images == 1 ? "was" : "were");
    /* the positions: ids, -1 at image rows. Inline: text chunks between markers, each marker's
     * rows in its place. Prepend: every image's rows, then the text (BOS first) */
    graft_ids ids = {0};
    int rc = GRAFT_OK, n_text = 0;
    if (prepend) rc = push_n(&ids, -1, n_images * s->n_tok, err);
    const char *p = text;
    const int n_chunks = images_only ? 0 : prepend ? 1 : n_markers + 1;
    for (int k = 0; k < n_chunks && !rc; k++) {
        const int last = k == n_chunks - 1;
        const char *q = !last ? strstr(p, s->p.marker) : p + strlen(p);
        int32_t *chunk = NULL;
        size_t n = 0;
        rc = tokenize_chunk(s, p, (size_t)(q - p), k == 0 && !(flags & GRAFT_MM_EVAL_CONTINUE), &chunk, &n, err);
        for (size_t i = 0; !rc && i < n; i++)
            if (graft_ids_push(&ids, chunk[i])) rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory for the prompt");
        n_text += (int)n;
        free(chunk);
        if (!rc && !last) rc = push_n(&ids, -1, s->n_tok, err);
        p = q + mlen;
    }
    const int n = (int)ids.n, pos = graft_ctx_pos(s->ctx), n_ctx = graft_ctx_n_ctx(s->ctx);
    if (!rc && n == 0) rc = graft_error_set(err, GRAFT_E_INVALID, "nothing to decode: no text and no image");
    if (!rc && pos + n > n_ctx)
        rc = graft_error_set(err, GRAFT_E_LIMIT,
                             "the prompt needs %d positions (%d text tokens + %d images x %d image tokens)%s, "
                             "more than the context of %d allows (use -c)", n, n_text, n_images, s->n_tok,
                             pos ? " after the conversation so far" : "", n_ctx);
    /* the image rows, placed at their positions */
    float *embd = NULL;
    if (!rc && n_images > 0) {
        embd = calloc((size_t)n * s->n_embd, sizeof(float));
        if (!embd) rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory for %d positions", n);
    }
    for (int k = 0, at = 0; !rc && k < n_images; k++) {
        while (ids.v[at] >= 0) at++;
        cache_slot *slot;
        rc = encode_input(s, &images[k], &slot, t, err);
        if (!rc) memcpy(embd + (size_t)at * s->n_embd, slot->rows, sizeof(float) * (size_t)s->n_tok * s->n_embd);
        at += s->n_tok;
    }
    if (!rc) {
        double t0 = now_ms();
        rc = graft_decode(s->ctx, ids.v, embd, n);
        if (rc) graft_error_set(err, rc, "%s", graft_ctx_last_error(s->ctx));
        if (t) t->prefill_ms += now_ms() - t0, t->n_text_tokens += n_text, t->n_image_tokens += n - n_text;
    }
    free(embd);
    free(ids.v);
    return rc;
}

int graft_mm_n_tokens(const graft_mm *s) { return s->n_tok; }
int graft_mm_placement(const graft_mm *s) { return s->p.placement; }
int graft_mm_spacing(const graft_mm *s) { return s->p.spacing; }
const graft_recipe *graft_mm_recipe(const graft_mm *s) { return s->recipe; }
