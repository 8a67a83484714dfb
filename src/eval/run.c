/* run.c - the model side of graft eval: LLaVA-1.5-style prompts per sample, greedy generation
 * or MCQ log-likelihood ranking, KV reuse of a shared prompt prefix, and the LLaVA-Bench judge.
 * See run.h for the API and docs/eval.md ("Running: graft eval") for the conventions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "model.h"
#include "run.h"
#include "tokenizer.h"
#include "strbuf.h"

/* The recipe a runner's prompts follow: the caller's, the vision tower's, or LLaVA's. */
static const graft_recipe *recipe_of(const graft_eval_run_params *p) {
    return p->recipe ? p->recipe : graft_recipe_find("llava");
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

graft_eval_run_params graft_eval_run_default_params(void) {
    graft_eval_run_params p;
    memset(&p, 0, sizeof p);
    p.caption_prompt = "Provide a one-sentence caption for the provided image.";
    p.max_new_tokens[GRAFT_TASK_CAPTION] = 64;
    p.max_new_tokens[GRAFT_TASK_VQA] = 16;
    p.max_new_tokens[GRAFT_TASK_MCQ] = 16;
    p.max_new_tokens[GRAFT_TASK_YESNO] = 16;
    p.max_new_tokens[GRAFT_TASK_OPEN] = 512;
    p.temp = 0.0f;
    p.seed = 23773;
    p.mcq_norm = GRAFT_EVAL_NORM_MEAN;
    p.reuse = 1;
    p.image_mode = GRAFT_MM_MODE_AUTO;
    p.n_threads = 2;
    p.n_batch = 512;
    return p;
}

void graft_eval_result_free(graft_eval_result *r) {
    if (!r) return;
    free(r->prediction);
    free(r->ll_sum);
    free(r->ll_mean);
    free(r->ll_ntok);
    memset(r, 0, sizeof *r);
}

/* ---- small string helpers ------------------------------------------------------------------ */

/* Python's str.isspace for ASCII (and the separators \x1c-\x1f it also counts). */
static int py_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

/* Strips leading and trailing whitespace in place as Python's str.strip() does for ASCII, plus
 * U+00A0/U+2000..U+200A/U+3000 style multi-byte spaces are left alone (documented). */
static void py_strip(char *s) {
    size_t n = strlen(s), a = 0;
    while (a < n && py_space((unsigned char)s[a])) a++;
    while (n > a && py_space((unsigned char)s[n - 1])) n--;
    memmove(s, s + a, n - a);
    s[n - a] = 0;
}

/* Replaces each maximal invalid UTF-8 subpart by U+FFFD, as Python's
 * bytes.decode("utf-8", errors="replace") (Hugging Face's decode) does. Returns a malloc'd copy. */
static char *utf8_fix(const char *s) {
    size_t n = strlen(s), k = 0;
    char *out = malloc(3 * n + 1);
    if (!out) return NULL;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                                   : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        size_t ok = len ? 1 : 0; /* bytes of a valid prefix */
        for (size_t j = 1; ok == j && j < len && i + j < n; j++) {
            unsigned lo = 0x80, hi = 0xBF, b = u[i + j];
            if (j == 1 && c == 0xE0) lo = 0xA0;
            if (j == 1 && c == 0xED) hi = 0x9F;
            if (j == 1 && c == 0xF0) lo = 0x90;
            if (j == 1 && c == 0xF4) hi = 0x8F;
            if (b >= lo && b <= hi) ok++;
        }
        if (len && ok == len) {
            memcpy(out + k, s + i, len);
            k += len;
            i += len;
        } else {
            memcpy(out + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i += ok ? ok : 1;
        }
    }
    out[k] = 0;
    return out;
}

/* ---- prompts ----------------------------------------------------------------------------- */

static int render(const char *tmpl, const char *system, const char *user, const char *assistant,
                  char **out, graft_error *err) {
    if (!tmpl) {
        size_t n = strlen(user) + (assistant ? strlen(assistant) : 0);
        *out = malloc(n + 1);
        if (!*out) return graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
        strcpy(*out, user);
        if (assistant) strcat(*out, assistant);
        return GRAFT_OK;
    }
    graft_chat_msg msgs[3];
    int n = 0;
    if (system) msgs[n++] = (graft_chat_msg){"system", system};
    msgs[n++] = (graft_chat_msg){"user", user};
    if (assistant) msgs[n++] = (graft_chat_msg){"assistant", assistant};
    size_t len;
    int rc = graft_chat_render(tmpl, msgs, n, !assistant, NULL, 0, &len, err);
    if (rc) return rc;
    *out = malloc(len + 1);
    if (!*out) return graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    return graft_chat_render(tmpl, msgs, n, !assistant, *out, len + 1, &len, err);
}

/* The user turn: the recipe's image prefix per image (with_images), the context, the question,
 * the options and the task's suffix. Without images it is the instruction a Q-Former reads. */
static char *user_turn_ex(const graft_eval_run_params *p, const graft_eval_sample *s, int with_images) {
    graft_sb b = {0};
    for (int i = 0; with_images && i < s->n_images; i++) graft_sb_str(&b, recipe_of(p)->user_image);
    if (s->context && *s->context) {
        if (p->context_prefix) graft_sb_str(&b, p->context_prefix);
        graft_sb_str(&b, s->context);
        graft_sb_str(&b, "\n");
    }
    const char *q = s->question ? s->question : s->type == GRAFT_TASK_CAPTION ? p->caption_prompt : "";
    graft_sb_str(&b, q ? q : "");
    if (s->type == GRAFT_TASK_MCQ)
        for (int i = 0; i < s->n_choices; i++) {
            char head[8];
            snprintf(head, sizeof head, "\n%c. ", 'A' + i);
            graft_sb_str(&b, head);
            graft_sb_str(&b, s->choices[i]);
        }
    const char *suf = s->type >= 0 && s->type < GRAFT_TASK_COUNT ? p->suffix[s->type] : NULL;
    const size_t ls = suf ? strlen(suf) : 0;
    if (ls && b.p && b.n >= ls && !strcmp(b.p + b.n - ls, suf)) suf = NULL; /* LLaVA's files carry it */
    if (suf && *suf) {
        graft_sb_str(&b, "\n");
        graft_sb_str(&b, suf);
    }
    if (!b.p && !b.oom) graft_sb_str(&b, "");
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static char *user_turn(const graft_eval_run_params *p, const graft_eval_sample *s) { return user_turn_ex(p, s, 1); }

int graft_eval_prompt(const graft_eval_run_params *p, const char *tmpl, const graft_eval_sample *s,
                      char **out, graft_error *err) {
    *out = NULL;
    if (s->type == GRAFT_TASK_MCQ && s->n_choices > 26)
        return graft_error_set(err, GRAFT_E_INVALID, "sample %s: more than 26 choices", s->id);
    char *u = user_turn(p, s);
    if (!u) return graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    if (tmpl && !strcmp(tmpl, "none")) tmpl = NULL;
    int rc = render(tmpl, p->system, u, NULL, out, err);
    free(u);
    return rc;
}

/* The text a choice adds after the prompt: what the template writes between the opened
 * assistant turn and the end of the choice (vicuna_v1: " " + choice; chatml: choice). */
static char *choice_continuation(const char *tmpl, const char *system, const char *user, const char *prompt,
                                 const char *choice) {
    char *full = NULL;
    graft_error e;
    graft_sb b = {0};
    if (render(tmpl, system, user, choice, &full, &e) == GRAFT_OK) {
        size_t lp = strlen(prompt);
        char *at = !strncmp(full, prompt, lp) ? strstr(full + lp, choice) : NULL;
        if (at) graft_sb_put(&b, full + lp, (size_t)(at - full - lp) + strlen(choice));
    }
    free(full);
    if (!b.p && !b.oom) { /* the template does not extend the prompt: a space and the choice */
        graft_sb_str(&b, " ");
        graft_sb_str(&b, choice);
    }
    return b.oom ? (free(b.p), NULL) : b.p;
}

/* ---- the runner ---------------------------------------------------------------------------- */

struct graft_eval_runner {
    const graft_model *m;
    const graft_vision *v;
    graft_eval_run_params p;
    const char *tmpl;
    graft_ctx *ctx;
    graft_mm *mm;
    graft_eval_run_stats st;
    /* the prefix held in the KV cache: text up to and including the last image marker + images */
    char *kv_prefix;
    char **kv_images;
    int kv_n_images, kv_pos; /* kv_pos: positions of the prefix; 0 = nothing reusable */
    float *last;             /* (n_vocab) saved logits (loglik) */
};

static int new_mm(graft_eval_runner *r, graft_error *err) {
    graft_mm_free(r->mm);
    r->mm = NULL;
    if (!r->v) return GRAFT_OK;
    graft_mm_params mp = graft_mm_default_params();
    mp.image_mode = r->p.image_mode;
    mp.n_threads = r->p.n_threads;
    return graft_mm_new(r->ctx, r->v, &mp, &r->mm, err);
}

int graft_eval_runner_new(const graft_model *m, const graft_vision *v, const graft_eval_run_params *p,
                          graft_eval_runner **out, graft_error *err) {
    *out = NULL;
    if (!m) return graft_error_set(err, GRAFT_E_INVALID, "no model");
    if (!m->vocab) return graft_error_set(err, GRAFT_E_NOTFOUND, "the language model has no tokenizer metadata");
    graft_eval_runner *r = calloc(1, sizeof *r);
    if (!r) return graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    r->m = m;
    r->v = v;
    r->p = p ? *p : graft_eval_run_default_params();
    if (r->p.n_threads < 1) r->p.n_threads = 1;
    if (r->p.n_batch < 1) r->p.n_batch = 512;
    for (int t = 0; t < GRAFT_TASK_COUNT; t++)
        if (r->p.max_new_tokens[t] < 1) r->p.max_new_tokens[t] = graft_eval_run_default_params().max_new_tokens[t];
    if (!r->p.recipe) r->p.recipe = v ? graft_vision_recipe(v) : graft_recipe_find("llava");
    const char *t = r->p.chat_template;
    if (!t && strcmp(r->p.recipe->name, "llava")) t = r->p.recipe->chat_template;
    if (!t) t = graft_model_chat_template(m) ? graft_model_chat_template(m) : "vicuna_v1";
    r->tmpl = strcmp(t, "none") ? t : NULL;
    int rc = GRAFT_OK;
    if (r->tmpl) { /* an unknown name fails here */
        size_t len;
        rc = graft_chat_render(r->tmpl, NULL, 0, 0, NULL, 0, &len, err);
    }
    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = r->p.n_ctx > 0 ? r->p.n_ctx : graft_model_n_ctx_train(m);
    cp.n_batch = r->p.n_batch < cp.n_ctx ? r->p.n_batch : cp.n_ctx;
    cp.n_threads = r->p.n_threads;
    if (!rc) rc = graft_ctx_new(m, &cp, &r->ctx, err);
    if (!rc) rc = new_mm(r, err);
    if (!rc && !(r->last = malloc(sizeof(float) * (size_t)graft_model_n_vocab(m))))
        rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    if (rc) {
        graft_eval_runner_free(r);
        return rc;
    }
    *out = r;
    return GRAFT_OK;
}

static void forget_prefix(graft_eval_runner *r) {
    free(r->kv_prefix);
    for (int i = 0; i < r->kv_n_images; i++) free(r->kv_images[i]);
    free(r->kv_images);
    r->kv_prefix = NULL;
    r->kv_images = NULL;
    r->kv_n_images = r->kv_pos = 0;
}

void graft_eval_runner_free(graft_eval_runner *r) {
    if (!r) return;
    forget_prefix(r);
    graft_mm_free(r->mm);
    graft_ctx_free(r->ctx);
    free(r->last);
    free(r);
}

const graft_eval_run_stats *graft_eval_runner_stats(const graft_eval_runner *r) { return &r->st; }
const char *graft_eval_runner_template(const graft_eval_runner *r) { return r->tmpl; }

static char *join_path(const char *root, const char *rel) {
    if (!root || !*root || rel[0] == '/') return strdup(rel);
    size_t a = strlen(root), b = strlen(rel);
    char *p = malloc(a + b + 2);
    if (p) snprintf(p, a + b + 2, "%s%s%s", root, root[a - 1] == '/' ? "" : "/", rel);
    return p;
}

static int same_prefix(const graft_eval_runner *r, const char *prefix, const graft_eval_sample *s) {
    if (!r->kv_pos || !r->kv_prefix || strcmp(r->kv_prefix, prefix) || r->kv_n_images != s->n_images) return 0;
    for (int i = 0; i < s->n_images; i++)
        if (strcmp(r->kv_images[i], s->images[i])) return 0;
    return 1;
}

static int remember_prefix(graft_eval_runner *r, const char *prefix, const graft_eval_sample *s) {
    forget_prefix(r);
    r->kv_prefix = strdup(prefix);
    r->kv_images = calloc((size_t)s->n_images + 1, sizeof *r->kv_images);
    int ok = r->kv_prefix && r->kv_images;
    for (int i = 0; ok && i < s->n_images; i++, r->kv_n_images++) ok = (r->kv_images[i] = strdup(s->images[i])) != NULL;
    if (!ok) forget_prefix(r);
    r->kv_pos = ok ? graft_ctx_pos(r->ctx) : 0;
    return ok;
}

static int rewind_to(graft_eval_runner *r, int pos, graft_error *err) {
    if (graft_ctx_rewind(r->ctx, pos))
        return graft_error_set(err, GRAFT_E_INVALID, "%s", graft_ctx_last_error(r->ctx));
    return GRAFT_OK;
}

static void add_timings(graft_eval_runner *r, const graft_mm_timings *t) {
    r->st.image_encodes += t->n_images_encoded;
    r->st.image_encodes_avoided += t->n_images_cached;
    r->st.prefill_tokens += t->n_text_tokens + t->n_image_tokens;
    r->st.vision_ms += t->vision_ms + t->projector_ms;
    r->st.prefill_ms += t->prefill_ms;
}

/* A prompt without images and without a vision tower: tokenized (BOS first) and decoded. */
static int decode_text(graft_eval_runner *r, const graft_eval_sample *s, const char *prompt, graft_mm_timings *t,
                       graft_error *err) {
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = graft_tokenize(r->m->vocab, prompt, strlen(prompt), 1, 1, &ids, &n, err);
    double t0 = now_ms();
    if (!rc && n > 0 && graft_decode(r->ctx, ids, NULL, (int)n))
        rc = graft_error_set(err, GRAFT_E_LIMIT, "sample %s: %s", s->id, graft_ctx_last_error(r->ctx));
    t->prefill_ms += now_ms() - t0;
    t->n_text_tokens += (int)n;
    free(ids);
    return rc;
}

/* Decodes the prompt text (with its images) so that the context ends right after it. With
 * reuse, the part up to the last image marker is kept from the previous sample when equal (for
 * recipes that put the images in front: the images' rows; for a projector that reads the
 * instruction, only when the instruction is the same too). tail_out: the text after that part
 * (the whole prompt without images), owned by the caller, NOT decoded when decode_tail is 0
 * (loglik decodes it itself). *tail_bos: the tail starts the text (BOS first). */
static int eval_prompt(graft_eval_runner *r, const graft_eval_sample *s, const char *prompt, int decode_tail,
                       char **tail_out, int *tail_bos, graft_error *err) {
    *tail_out = NULL;
    *tail_bos = 0;
    if (s->n_images > 0 && !r->mm)
        return graft_error_set(err, GRAFT_E_INVALID, "sample %s has an image but no vision tower (--mmproj) was given",
                               s->id);
    const graft_recipe *rec = recipe_of(&r->p);
    const char *marker = rec->marker;
    const int prepend = r->mm && graft_mm_placement(r->mm) == GRAFT_MM_PLACE_PREPEND;
    int n_markers = 0;
    const char *lastm = NULL;
    for (const char *q = prompt; (q = strstr(q, marker)); q += strlen(marker)) n_markers++, lastm = q;
    if (n_markers != (prepend ? 0 : s->n_images))
        return graft_error_set(err, GRAFT_E_INVALID, "sample %s: the prompt has %d %s markers for %d images%s", s->id,
                               n_markers, marker, s->n_images, prepend ? " (this recipe puts images in front: none)" : "");
    graft_image_input *in = calloc((size_t)s->n_images + 1, sizeof *in);
    char **paths = calloc((size_t)s->n_images + 1, sizeof *paths);
    char *instruction = rec->instruction && s->n_images ? user_turn_ex(&r->p, s, 0) : NULL;
    int rc = in && paths && (instruction || !rec->instruction || !s->n_images)
                 ? GRAFT_OK : graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    for (int i = 0; !rc && i < s->n_images; i++) {
        in[i].instruction = instruction;
        if (!(in[i].path = paths[i] = join_path(r->p.images_root, s->images[i])))
            rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    }
    graft_mm_timings t = {0};
    const size_t split = lastm ? (size_t)(lastm - prompt) + strlen(marker) : 0;
    /* the reuse key: the prefix text (+ the instruction the image rows depend on) */
    char *prefix = NULL;
    if (!rc) {
        graft_sb k = {0};
        graft_sb_put(&k, prompt, split);
        if (instruction) graft_sb_str(&k, "\x01"), graft_sb_str(&k, instruction);
        if (!k.p && !k.oom) graft_sb_str(&k, "");
        if (k.oom) free(k.p), rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
        else prefix = k.p;
    }
    if (!rc) *tail_bos = s->n_images == 0 || prepend;
    if (!rc && !(*tail_out = strdup(prompt + split))) rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    /* the images' part alone: up to the last marker (inline) or the rows alone (prepend) */
    const int img_flags = prepend ? GRAFT_MM_EVAL_IMAGES_ONLY : 0;
    const int tail_flags = prepend ? 0 : GRAFT_MM_EVAL_CONTINUE;
    char *img_text = NULL;
    if (!rc && !(img_text = strndup(prompt, prepend ? 0 : split))) rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    if (!rc && !r->p.reuse) {
        /* the baseline: everything from scratch, a fresh image cache */
        forget_prefix(r);
        rc = rewind_to(r, 0, err);
        if (!rc) rc = new_mm(r, err);
        if (!rc && decode_tail) {
            rc = r->mm ? graft_mm_eval(r->mm, prompt, in, s->n_images, &t, err) : decode_text(r, s, prompt, &t, err);
        } else if (!rc && s->n_images) {
            rc = graft_mm_eval_ex(r->mm, img_text, in, s->n_images, img_flags, &t, err);
        }
    } else if (!rc && s->n_images > 0) {
        if (same_prefix(r, prefix, s)) {
            rc = rewind_to(r, r->kv_pos, err);
            r->st.image_encodes_avoided += s->n_images;
            r->st.prefill_tokens_avoided += r->kv_pos;
        } else {
            forget_prefix(r);
            rc = rewind_to(r, 0, err);
            if (!rc) rc = graft_mm_eval_ex(r->mm, img_text, in, s->n_images, img_flags, &t, err);
            if (!rc) remember_prefix(r, prefix, s);
        }
        if (!rc && decode_tail) rc = graft_mm_eval_ex(r->mm, *tail_out, NULL, 0, tail_flags, &t, err);
    } else if (!rc) {
        forget_prefix(r);
        rc = rewind_to(r, 0, err);
        if (!rc && decode_tail)
            rc = r->mm ? graft_mm_eval(r->mm, prompt, NULL, 0, &t, err) : decode_text(r, s, prompt, &t, err);
    }
    add_timings(r, &t);
    free(prefix);
    free(img_text);
    free(instruction);
    for (int i = 0; paths && i < s->n_images; i++) free(paths[i]);
    free(paths);
    free(in);
    if (rc) {
        forget_prefix(r);
        free(*tail_out);
        *tail_out = NULL;
    }
    return rc;
}

/* 1 when the text of gen[0..n) contains the stop string. */
static int stop_reached(graft_eval_runner *r, const int32_t *gen, int n, const char *stop) {
    char *text = NULL;
    size_t len;
    graft_error e;
    int hit = graft_detokenize(r->m->vocab, gen, (size_t)n, 1, 0, &text, &len, &e) == GRAFT_OK && text &&
              strstr(text, stop) != NULL;
    free(text);
    return hit;
}

/* Greedy (or sampled) generation after the prompt until EOG, the recipe's stop string or the cap. */
static int generate(graft_eval_runner *r, const graft_eval_sample *s, size_t index, graft_eval_result *res,
                    graft_error *err) {
    const char *stop = r->mm ? recipe_of(&r->p)->stop : NULL;
    graft_sampler_params sp = graft_sampler_default_params();
    sp.temp = r->p.temp;
    sp.seed = r->p.seed + index;
    graft_sampler *smp;
    int rc = graft_sampler_new(&sp, graft_model_n_vocab(r->m), &smp, err);
    if (rc) return rc;
    const int cap = r->p.max_new_tokens[s->type];
    int32_t *gen = malloc(sizeof *gen * (size_t)cap);
    int n = 0;
    if (!gen) rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    double t0 = now_ms();
    while (!rc && n < cap) {
        const float *lg = graft_ctx_logits(r->ctx, -1);
        if (!lg) {
            rc = graft_error_set(err, GRAFT_E_INVALID, "no logits to sample from");
            break;
        }
        int32_t tok = graft_sampler_sample(smp, lg);
        graft_sampler_accept(smp, tok);
        if (graft_model_token_is_eog(r->m, tok)) break;
        gen[n++] = tok;
        if (n == cap || graft_ctx_pos(r->ctx) >= graft_ctx_n_ctx(r->ctx)) break;
        if (stop && stop_reached(r, gen, n, stop)) break;
        if (graft_decode(r->ctx, &tok, NULL, 1))
            rc = graft_error_set(err, GRAFT_E_LIMIT, "sample %s: %s", s->id, graft_ctx_last_error(r->ctx));
    }
    r->st.gen_ms += now_ms() - t0;
    r->st.gen_tokens += n;
    res->n_gen_tokens = n;
    size_t len;
    if (!rc) rc = graft_detokenize(r->m->vocab, gen, (size_t)n, 1, 0, &res->prediction, &len, err);
    if (!rc && !res->prediction && !(res->prediction = strdup("")))
        rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    if (!rc) {
        char *fixed = utf8_fix(res->prediction);
        if (!fixed) rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
        free(res->prediction);
        res->prediction = fixed;
    }
    if (!rc && stop) {
        char *at = strstr(res->prediction, stop); /* the reply ends before the stop string */
        if (at) *at = 0;
    }
    if (!rc) py_strip(res->prediction);
    free(gen);
    graft_sampler_free(smp);
    return rc;
}

/* log softmax(logits)[tok] in double. */
static double log_prob(const float *lg, int V, int32_t tok) {
    double mx = lg[0];
    for (int i = 1; i < V; i++)
        if (lg[i] > mx) mx = lg[i];
    double sum = 0;
    for (int i = 0; i < V; i++) sum += exp((double)lg[i] - mx);
    return (double)lg[tok] - mx - log(sum);
}

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

/* The prompt's tail as the session tokenizes it: BOS first when it starts the text; after an
 * image, with or without the prefix space as the session's spacing says. */
static int tok_tail(graft_eval_runner *r, const char *text, int bos, int32_t **ids, size_t *n, graft_error *err) {
    if (bos) return graft_tokenize(r->m->vocab, text, strlen(text), 1, 1, ids, n, err);
    if (r->mm && graft_mm_spacing(r->mm) == GRAFT_MM_SPACE_EACH)
        return graft_tokenize(r->m->vocab, text, strlen(text), 0, 1, ids, n, err);
    return graft_tokenize_continue(r->m->vocab, text, strlen(text), 1, ids, n, err);
}

static int decode1(graft_eval_runner *r, const graft_eval_sample *s, int32_t tok, graft_error *err) {
    if (graft_decode(r->ctx, &tok, NULL, 1))
        return graft_error_set(err, GRAFT_E_LIMIT, "sample %s: %s", s->id, graft_ctx_last_error(r->ctx));
    r->st.prefill_tokens++;
    return GRAFT_OK;
}

/* MCQ log-likelihood: tail tokens T of the prompt after the last image; for each option k the
 * tokens F_k of tail + continuation_k; c_k = their common prefix with T. The positions shared by
 * every option (T[0..c), c = min c_k) are decoded once; each option then decodes F_k[c..] one token
 * at a time after a rewind, and scores the tokens F_k[c_k..]. */
static int loglik(graft_eval_runner *r, const graft_eval_sample *s, const char *prompt, graft_eval_result *res,
                  graft_error *err) {
    char *tail = NULL, *user = NULL;
    int bos = 0, rc = eval_prompt(r, s, prompt, 0, &tail, &bos, err);
    const int K = s->n_choices, V = graft_model_n_vocab(r->m);
    int32_t *T = NULL, **F = NULL;
    size_t nT = 0, *nF = NULL, *ck = NULL, c = (size_t)-1;
    if (!rc && K < 1) rc = graft_error_set(err, GRAFT_E_INVALID, "sample %s: no choices to rank", s->id);
    if (!rc) {
        F = calloc((size_t)K, sizeof *F);
        nF = calloc((size_t)K, sizeof *nF);
        ck = calloc((size_t)K, sizeof *ck);
        res->ll_sum = calloc((size_t)K, sizeof(double));
        res->ll_mean = calloc((size_t)K, sizeof(double));
        res->ll_ntok = calloc((size_t)K, sizeof(int));
        user = user_turn(&r->p, s);
        if (!F || !nF || !ck || !res->ll_sum || !res->ll_mean || !res->ll_ntok || !user)
            rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    }
    if (!rc) rc = tok_tail(r, tail, bos, &T, &nT, err);
    for (int k = 0; !rc && k < K; k++) {
        char *cont = choice_continuation(r->tmpl, r->p.system, user, prompt, s->choices[k]);
        size_t lt = strlen(tail), lc = cont ? strlen(cont) : 0;
        char *full = cont ? malloc(lt + lc + 1) : NULL;
        if (!full) rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
        if (!rc) {
            memcpy(full, tail, lt);
            memcpy(full + lt, cont, lc + 1);
            rc = tok_tail(r, full, bos, &F[k], &nF[k], err);
        }
        free(full);
        free(cont);
        if (rc) break;
        ck[k] = common_prefix(T, nT, F[k], nF[k]);
        if (ck[k] == 0 || ck[k] >= nF[k])
            rc = graft_error_set(err, GRAFT_E_UNSUPPORTED,
                                 "sample %s: option %c adds no token of its own after the prompt", s->id, 'A' + k);
        if (ck[k] < c) c = ck[k];
    }
    /* shared positions, then the logits after them */
    const int base = graft_ctx_pos(r->ctx);
    double t0 = now_ms();
    if (!rc && c > 0) {
        if (graft_decode(r->ctx, T, NULL, (int)c))
            rc = graft_error_set(err, GRAFT_E_LIMIT, "sample %s: %s", s->id, graft_ctx_last_error(r->ctx));
        else
            r->st.prefill_tokens += (int64_t)c;
    }
    if (!rc) memcpy(r->last, graft_ctx_logits(r->ctx, -1), sizeof(float) * (size_t)V);
    for (int k = 0; !rc && k < K; k++) {
        rc = rewind_to(r, base + (int)c, err);
        double sum = 0;
        for (size_t j = c; !rc && j < nF[k]; j++) {
            const float *lg = j == c ? r->last : graft_ctx_logits(r->ctx, -1);
            if (j >= ck[k]) sum += log_prob(lg, V, F[k][j]);
            if (j + 1 < nF[k]) rc = decode1(r, s, F[k][j], err);
        }
        res->ll_sum[k] = sum;
        res->ll_ntok[k] = (int)(nF[k] - ck[k]);
        res->ll_mean[k] = sum / res->ll_ntok[k];
    }
    r->st.prefill_ms += now_ms() - t0;
    if (!rc) {
        res->n_choices = K;
        res->best_sum = res->best_mean = 0;
        for (int k = 1; k < K; k++) {
            if (res->ll_sum[k] > res->ll_sum[res->best_sum]) res->best_sum = k;
            if (res->ll_mean[k] > res->ll_mean[res->best_mean]) res->best_mean = k;
        }
        int best = r->p.mcq_norm == GRAFT_EVAL_NORM_SUM ? res->best_sum : res->best_mean;
        if (!(res->prediction = malloc(2))) rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
        else res->prediction[0] = (char)('A' + best), res->prediction[1] = 0;
    }
    for (int k = 0; F && k < K; k++) free(F[k]);
    free(F);
    free(nF);
    free(ck);
    free(T);
    free(tail);
    free(user);
    return rc;
}

int graft_eval_runner_sample(graft_eval_runner *r, const graft_eval_sample *s, size_t index,
                             graft_eval_result *res, graft_error *err) {
    memset(res, 0, sizeof *res);
    if (s->type < 0 || s->type >= GRAFT_TASK_COUNT)
        return graft_error_set(err, GRAFT_E_INVALID, "sample %s: unknown task type", s->id);
    double t0 = now_ms();
    char *prompt = NULL;
    int rc = graft_eval_prompt(&r->p, r->tmpl, s, &prompt, err);
    if (!rc && s->type == GRAFT_TASK_MCQ && r->p.mcq_loglik) {
        rc = loglik(r, s, prompt, res, err);
    } else if (!rc) {
        char *tail = NULL;
        int bos;
        rc = eval_prompt(r, s, prompt, 1, &tail, &bos, err);
        free(tail);
        if (!rc) rc = generate(r, s, index, res, err);
    }
    free(prompt);
    if (rc) graft_eval_result_free(res);
    else r->st.n_samples++;
    r->st.wall_ms += now_ms() - t0;
    return rc;
}

int graft_eval_run(graft_eval_runner *r, const graft_eval_dataset *ds, const size_t *idx, size_t n,
                   graft_eval_on_sample cb, void *user, graft_error *err) {
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= ds->n) return graft_error_set(err, GRAFT_E_INVALID, "sample index %zu out of range", idx[i]);
        graft_eval_result res;
        int rc = graft_eval_runner_sample(r, &ds->samples[idx[i]], idx[i], &res, err);
        if (!rc && cb) rc = cb(user, idx[i], &res, err);
        graft_eval_result_free(&res);
        if (rc) return rc;
    }
    return GRAFT_OK;
}

/* ---- the judge ----------------------------------------------------------------------------- */

char *graft_eval_judge_content(const char *caption, const char *question, const char *reference,
                               const char *answer, const char *role, const char *prompt) {
    graft_sb b = {0};
    const char *parts[] = {"[Context]\n", caption, "\n\n[Question]\n", question, "\n\n[", role, " 1]\n", reference,
                           "\n\n[End of ", role, " 1]\n\n[", role, " 2]\n", answer, "\n\n[End of ", role,
                           " 2]\n\n[System]\n", prompt, "\n\n"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) graft_sb_str(&b, parts[i] ? parts[i] : "");
    return b.oom ? (free(b.p), NULL) : b.p;
}

/* Python's float() of one token: surrounding whitespace allowed, the rest must be a number. */
static int py_float(const char *s, size_t n, double *out) {
    while (n && py_space((unsigned char)*s)) s++, n--;
    while (n && py_space((unsigned char)s[n - 1])) n--;
    if (!n || n > 63) return 0;
    char buf[64];
    memcpy(buf, s, n);
    buf[n] = 0;
    for (size_t i = 0; i < n; i++) /* C accepts hex floats and "0x"; Python does not */
        if (buf[i] == 'x' || buf[i] == 'X' || buf[i] == 'p' || buf[i] == 'P') return 0;
    char *end;
    double v = strtod(buf, &end);
    if (*end) return 0;
    *out = v;
    return 1;
}

int graft_eval_judge_parse(const char *review, double pair[2]) {
    pair[0] = pair[1] = -1;
    size_t n = strcspn(review, "\n");
    char *line = strndup(review, n);
    if (!line) return 0;
    for (char *p = line; *p; p++)
        if (*p == ',') *p = ' ';
    char *sp = strchr(line, ' ');
    int ok = sp && !strchr(sp + 1, ' ');
    double a, b;
    ok = ok && py_float(line, (size_t)(sp - line), &a) && py_float(sp + 1, strlen(sp + 1), &b);
    free(line);
    if (ok) pair[0] = a, pair[1] = b;
    return ok;
}

struct graft_eval_judge {
    const graft_model *m;
    const char *tmpl;
    graft_ctx *ctx;
};

int graft_eval_judge_new(const graft_model *m, const char *tmpl, int n_threads, int n_ctx,
                         graft_eval_judge **out, graft_error *err) {
    *out = NULL;
    if (!m->vocab) return graft_error_set(err, GRAFT_E_NOTFOUND, "the judge model has no tokenizer metadata");
    graft_eval_judge *j = calloc(1, sizeof *j);
    if (!j) return graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    j->m = m;
    j->tmpl = tmpl ? tmpl : graft_model_chat_template(m) ? graft_model_chat_template(m) : "vicuna_v1";
    if (!strcmp(j->tmpl, "none")) j->tmpl = NULL;
    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = n_ctx > 0 ? n_ctx : graft_model_n_ctx_train(m);
    if (cp.n_batch > cp.n_ctx) cp.n_batch = cp.n_ctx;
    cp.n_threads = n_threads > 0 ? n_threads : 1;
    size_t len;
    int rc = j->tmpl ? graft_chat_render(j->tmpl, NULL, 0, 0, NULL, 0, &len, err) : GRAFT_OK;
    if (!rc) rc = graft_ctx_new(m, &cp, &j->ctx, err);
    if (rc) {
        graft_eval_judge_free(j);
        return rc;
    }
    *out = j;
    return GRAFT_OK;
}

void graft_eval_judge_free(graft_eval_judge *j) {
    if (!j) return;
    graft_ctx_free(j->ctx);
    free(j);
}

int graft_eval_judge_review(graft_eval_judge *j, const char *content, int max_tokens, int full, char **review,
                            graft_error *err) {
    *review = NULL;
    char *prompt = NULL;
    int rc;
    if (j->tmpl) {
        rc = render(j->tmpl, GRAFT_EVAL_JUDGE_SYSTEM, content, NULL, &prompt, err);
    } else {
        prompt = malloc(strlen(GRAFT_EVAL_JUDGE_SYSTEM) + strlen(content) + 3);
        rc = prompt ? GRAFT_OK : graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
        if (!rc) sprintf(prompt, "%s\n\n%s", GRAFT_EVAL_JUDGE_SYSTEM, content);
    }
    int32_t *ids = NULL, *gen = NULL;
    size_t n = 0;
    if (!rc) rc = graft_tokenize(j->m->vocab, prompt, strlen(prompt), 1, 1, &ids, &n, err);
    if (!rc && (int)n >= graft_ctx_n_ctx(j->ctx))
        rc = graft_error_set(err, GRAFT_E_LIMIT, "the review request has %zu tokens, more than the judge's context %d",
                             n, graft_ctx_n_ctx(j->ctx));
    if (!rc) rc = graft_ctx_rewind(j->ctx, 0);
    if (!rc && graft_decode(j->ctx, ids, NULL, (int)n))
        rc = graft_error_set(err, GRAFT_E_LIMIT, "judge: %s", graft_ctx_last_error(j->ctx));
    if (!rc && !(gen = malloc(sizeof *gen * (size_t)(max_tokens > 0 ? max_tokens : 1))))
        rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    int ng = 0, seen_text = 0;
    while (!rc && ng < max_tokens) {
        const float *lg = graft_ctx_logits(j->ctx, -1);
        int32_t best = 0;
        for (int i = 1; i < graft_model_n_vocab(j->m); i++)
            if (lg[i] > lg[best]) best = i;
        if (graft_model_token_is_eog(j->m, best)) break;
        gen[ng++] = best;
        if (!full) { /* stop once the first non-empty line is complete */
            size_t pl;
            const char *piece = graft_token_piece(j->m->vocab, best, 0, &pl);
            int stop = 0;
            for (size_t i = 0; piece && i < pl; i++) {
                if (piece[i] == '\n' && seen_text) stop = 1;
                else if (!py_space((unsigned char)piece[i])) seen_text = 1;
            }
            if (stop) break;
        }
        if (ng == max_tokens || graft_ctx_pos(j->ctx) >= graft_ctx_n_ctx(j->ctx)) break;
        if (graft_decode(j->ctx, &best, NULL, 1))
            rc = graft_error_set(err, GRAFT_E_LIMIT, "judge: %s", graft_ctx_last_error(j->ctx));
    }
    size_t len;
    if (!rc) rc = graft_detokenize(j->m->vocab, gen, (size_t)ng, 1, 0, review, &len, err);
    if (!rc && !*review && !(*review = strdup(""))) rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    if (!rc) {
        char *fixed = utf8_fix(*review);
        free(*review);
        *review = fixed;
        if (!fixed) rc = graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    }
    if (!rc) py_strip(*review);
    free(gen);
    free(ids);
    free(prompt);
    return rc;
}
