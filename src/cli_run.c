/* cli_run.c - `graft -m MODEL -p PROMPT ...`: text generation with llama.cpp's flag names,
 * streaming tokens to stdout and timings to stderr; -i for an interactive chat that keeps the KV
 * cache between turns; --logits-out for parity checks by research code. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "graft.h"
#include "tokenizer.h"
#include "model.h"

#define MAX_IMAGES 16

typedef struct {
    const char *path;
    int is_pixels; /* --pixels: a raw float32 (3, S, S) file */
} image_arg;

typedef struct {
    const char *model, *prompt, *prompt_file, *prompt_ids, *logits_out, *chat_template, *system;
    const char *qformer_prompt_ids; /* InstructBLIP: the Q-Former's instruction ids, instead of the prompt text */
    const char *mmproj;
    image_arg images[MAX_IMAGES];
    int n_images, image_mode;
    int n_predict, n_threads, n_ctx, n_batch, kv_type, interactive, display_prompt, escape;
    graft_sampler_params sp;
} run_opts;

static void run_usage(FILE *f) {
    fprintf(f,
            "usage: graft -m MODEL.gguf [-p PROMPT | -f FILE | --prompt-ids 1,2,3] [options]\n"
            "\n"
            "  -m, --model FILE         decoder GGUF (llama.cpp layout), or a Hugging Face directory\n"
            "                           (LlamaForCausalLM, LlavaForConditionalGeneration)\n"
            "  -p, --prompt TEXT        prompt text (escapes \\n \\t \\\\ \\\" are processed; --no-escape)\n"
            "  -f, --file FILE          read the prompt from FILE\n"
            "      --prompt-ids LIST    feed token ids instead of text, e.g. 1,450,4996\n"
            "      --qformer-prompt-ids LIST  InstructBLIP: the Q-Former's instruction ids (default: the\n"
            "                           prompt text through the mmproj's WordPiece tokenizer)\n"
            "  -n, --n-predict N        tokens to generate (-1: until end of generation or context; default -1)\n"
            "  -c, --ctx-size N         context length (default: the model's)\n"
            "  -b, --batch-size N       prompt tokens per matrix-matrix step (default 512)\n"
            "  -t, --threads N          threads (default 2)\n"
            "      --temp T             temperature; 0 = greedy (default 0.8)\n"
            "      --top-k N            (default 40; 0 = off)\n"
            "      --top-p P            (default 0.95; 1 = off)\n"
            "      --min-p P            (default 0.05; 0 = off)\n"
            "      --repeat-penalty X   (default 1.0 = off)\n"
            "      --repeat-last-n N    tokens the penalty looks back over (default 64)\n"
            "  -s, --seed N             random seed (default 23773)\n"
            "  -ctk, --cache-type-k T   KV cache type f16 (default) or f32\n"
            "      --mmproj FILE        vision tower + projector GGUF (llama.cpp's mmproj); not needed\n"
            "                           when -m is a Hugging Face LLaVA directory\n"
            "      --image FILE         an image for the next image marker in the prompt (repeatable; with no\n"
            "                           marker, the image goes where the model's recipe puts it: for LLaVA,\n"
            "                           '<image>\\n' in front of the prompt; BLIP-2: rows before the text)\n"
            "      --pixels FILE        like --image, but an already-normalised float32 [3, S, S] tensor\n"
            "      --image-mode M       pad (LLaVA-1.5's expand2square), crop (CLIPImageProcessor) or resize\n"
            "                           (default: the recipe's: pad for LLaVA, resize for BLIP-2 and relatives)\n"
            "      --chat-template NAME wrap the prompt as a user turn: vicuna_v1, llama2, mistral, chatml,\n"
            "                           blip2, minigpt4, mplug_owl, none (default: the mmproj recipe's when\n"
            "                           images are given, else the model's)\n"
            "      --system TEXT        system message for the chat template\n"
            "  -i, --interactive        chat: read user turns from stdin, keep the KV cache\n"
            "      --no-display-prompt  print only the generated text\n"
            "      --logits-out FILE    write the logits of every prompt position as float32\n"
            "                           [n_prompt_tokens, n_vocab], row-major, little-endian\n"
            "  -h, --help\n");
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Processes \n \t \\ \" \' escapes in place, as llama.cpp's -e does. */
static void unescape(char *s) {
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\\' && r[1]) {
            r++;
            switch (*r) {
            case 'n': *w++ = '\n'; break;
            case 't': *w++ = '\t'; break;
            case 'r': *w++ = '\r'; break;
            case '\\': *w++ = '\\'; break;
            case '"': *w++ = '"'; break;
            case '\'': *w++ = '\''; break;
            default: *w++ = '\\'; *w++ = *r; break;
            }
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
}

static int parse_int(const char *flag, const char *v, int *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < -1 || x > (1L << 30)) {
        fprintf(stderr, "graft: %s expects an integer, got '%s'\n", flag, v);
        return 0;
    }
    *out = (int)x;
    return 1;
}

static int parse_float(const char *flag, const char *v, float *out) {
    char *end;
    float x = strtof(v, &end);
    if (*end || end == v) {
        fprintf(stderr, "graft: %s expects a number, got '%s'\n", flag, v);
        return 0;
    }
    *out = x;
    return 1;
}

static int parse_args(int argc, char **argv, run_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = -1;
    o->n_threads = 2;
    o->n_batch = 512;
    o->kv_type = GRAFT_TYPE_F16;
    o->display_prompt = 1;
    o->escape = 1;
    o->sp = graft_sampler_default_params();
    o->sp.seed = 23773;
    o->image_mode = GRAFT_MM_MODE_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define IS(x) (!strcmp(a, x))
#define NEXT()                                                                \
    (i + 1 < argc ? argv[++i]                                                 \
                  : (fprintf(stderr, "graft: %s needs a value\n", a), (char *)NULL))
        char *v = NULL;
        int ok = 1, iv;
        if (IS("-h") || IS("--help")) { run_usage(stdout); exit(0); }
        else if (IS("-m") || IS("--model")) ok = (o->model = NEXT()) != NULL;
        else if (IS("-p") || IS("--prompt")) ok = (o->prompt = NEXT()) != NULL;
        else if (IS("-f") || IS("--file")) ok = (o->prompt_file = NEXT()) != NULL;
        else if (IS("--prompt-ids")) ok = (o->prompt_ids = NEXT()) != NULL;
        else if (IS("--qformer-prompt-ids")) ok = (o->qformer_prompt_ids = NEXT()) != NULL;
        else if (IS("--logits-out")) ok = (o->logits_out = NEXT()) != NULL;
        else if (IS("--chat-template")) ok = (o->chat_template = NEXT()) != NULL;
        else if (IS("--system")) ok = (o->system = NEXT()) != NULL;
        else if (IS("--mmproj")) ok = (o->mmproj = NEXT()) != NULL;
        else if (IS("--image") || IS("--pixels")) {
            if (o->n_images == MAX_IMAGES) {
                fprintf(stderr, "graft: at most %d images\n", MAX_IMAGES);
                return 0;
            }
            o->images[o->n_images].is_pixels = IS("--pixels");
            ok = (o->images[o->n_images++].path = NEXT()) != NULL;
        } else if (IS("--image-mode")) {
            ok = (v = NEXT()) != NULL;
            if (ok && !strcmp(v, "pad")) o->image_mode = GRAFT_MM_MODE_PAD;
            else if (ok && !strcmp(v, "crop")) o->image_mode = GRAFT_MM_MODE_CROP;
            else if (ok && !strcmp(v, "resize")) o->image_mode = GRAFT_MM_MODE_RESIZE;
            else if (ok) { fprintf(stderr, "graft: --image-mode takes pad, crop or resize\n"); ok = 0; }
        }
        else if (IS("-n") || IS("--n-predict")) ok = (v = NEXT()) && parse_int(a, v, &o->n_predict);
        else if (IS("-c") || IS("--ctx-size")) ok = (v = NEXT()) && parse_int(a, v, &o->n_ctx);
        else if (IS("-b") || IS("--batch-size")) ok = (v = NEXT()) && parse_int(a, v, &o->n_batch);
        else if (IS("-t") || IS("--threads")) ok = (v = NEXT()) && parse_int(a, v, &o->n_threads);
        else if (IS("--temp")) ok = (v = NEXT()) && parse_float(a, v, &o->sp.temp);
        else if (IS("--top-k")) ok = (v = NEXT()) && parse_int(a, v, &o->sp.top_k);
        else if (IS("--top-p")) ok = (v = NEXT()) && parse_float(a, v, &o->sp.top_p);
        else if (IS("--min-p")) ok = (v = NEXT()) && parse_float(a, v, &o->sp.min_p);
        else if (IS("--repeat-penalty")) ok = (v = NEXT()) && parse_float(a, v, &o->sp.repeat_penalty);
        else if (IS("--repeat-last-n")) ok = (v = NEXT()) && parse_int(a, v, &o->sp.repeat_last_n);
        else if (IS("-s") || IS("--seed")) {
            ok = (v = NEXT()) && parse_int(a, v, &iv);
            if (ok) o->sp.seed = (uint64_t)(int64_t)iv;
        } else if (IS("-ctk") || IS("--cache-type-k")) {
            ok = (v = NEXT()) != NULL;
            if (ok && !strcmp(v, "f16")) o->kv_type = GRAFT_TYPE_F16;
            else if (ok && !strcmp(v, "f32")) o->kv_type = GRAFT_TYPE_F32;
            else if (ok) { fprintf(stderr, "graft: %s takes f16 or f32\n", a); ok = 0; }
        } else if (IS("-i") || IS("--interactive") || IS("-cnv")) o->interactive = 1;
        else if (IS("--no-display-prompt")) o->display_prompt = 0;
        else if (IS("-e") || IS("--escape")) o->escape = 1;
        else if (IS("--no-escape")) o->escape = 0;
        else { fprintf(stderr, "graft: unknown option '%s' (see graft --help)\n", a); ok = 0; }
        if (!ok) return 0;
#undef IS
#undef NEXT
    }
    if (!o->model) {
        fprintf(stderr, "graft: no model given (-m MODEL.gguf)\n");
        return 0;
    }
    if (!!o->prompt + !!o->prompt_file + !!o->prompt_ids > 1) {
        fprintf(stderr, "graft: give only one of -p, -f and --prompt-ids\n");
        return 0;
    }
    if (o->n_images && !o->mmproj && graft_path_has_vision(o->model))
        o->mmproj = o->model; /* an HF LLaVA directory holds its vision tower too */
    if (o->n_images && !o->mmproj) {
        fprintf(stderr, "graft: --image and --pixels need --mmproj (the vision tower)\n");
        return 0;
    }
    if (o->interactive && o->n_images) {
        fprintf(stderr, "graft: -i does not take images yet\n");
        return 0;
    }
    if (o->interactive && (o->prompt || o->prompt_file || o->prompt_ids || o->logits_out)) {
        fprintf(stderr, "graft: -i reads the conversation from stdin; leave out -p, -f, --prompt-ids, --logits-out\n");
        return 0;
    }
    if (o->n_threads < 1 || o->n_batch < 1) {
        fprintf(stderr, "graft: --threads and --batch-size must be at least 1\n");
        return 0;
    }
    return 1;
}

/* "1,450,4996" -> ids (malloc'd); 0 with a message naming `flag` on a bad list. */
int cli_parse_ids(const char *flag, const char *s, int32_t **out, size_t *n) {
    size_t cap = 16, k = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    const char *p = s;
    while (ids && *p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < -1 || v > INT32_MAX) {
            fprintf(stderr, "graft: %s: bad id list at '%s'\n", flag, p);
            free(ids);
            return 0;
        }
        if (k == cap) {
            int32_t *t = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!t) break;
            ids = t;
        }
        ids[k++] = (int32_t)v;
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    if (!ids) return 0;
    *out = ids;
    *n = k;
    return 1;
}

static char *read_text_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "graft: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *t = realloc(buf, (cap *= 2) + 1);
            if (!t) { free(buf); buf = NULL; }
            else buf = t;
        }
    }
    fclose(f);
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}

typedef struct {
    double t_prompt, t_gen;
    int n_prompt, n_gen;
} run_stats;

/* A recipe's stop string (MiniGPT-4's "###"): text is held back while it could be the start
 * of the stop string, and generation ends when the stop string is complete (it is not printed). */
typedef struct {
    const char *stop;
    char held[64];
    size_t n;
} stop_filter;

/* Prints what is safe of held + s[0..n); 1 when the stop string is complete. */
static int stop_push(stop_filter *f, const char *s, size_t n) {
    if (!f->stop || !*f->stop) {
        fwrite(s, 1, n, stdout);
        return 0;
    }
    const size_t ls = strlen(f->stop);
    for (size_t i = 0; i < n; i++) {
        f->held[f->n++] = s[i];
        if (f->n >= ls && !memcmp(f->held + f->n - ls, f->stop, ls)) {
            fwrite(f->held, 1, f->n - ls, stdout);
            f->n = 0;
            return 1;
        }
        /* keep the longest tail that is a prefix of the stop string; print the rest */
        size_t keep = f->n < ls ? f->n : ls - 1;
        while (keep && memcmp(f->held + f->n - keep, f->stop, keep)) keep--;
        fwrite(f->held, 1, f->n - keep, stdout);
        memmove(f->held, f->held + f->n - keep, keep);
        f->n = keep;
    }
    return 0;
}

/* Generates after the tokens already decoded, printing pieces as they come; records the
 * generated ids in hist (the cache mirror). Stops at end-of-generation tokens and at the
 * recipe's stop string. Returns 0 or a graft status. */
static int generate(graft_ctx *ctx, const graft_model *m, graft_sampler *smp, int n_predict, const char *stop,
                    int32_t *hist, int *n_hist, run_stats *st) {
    stop_filter sf = {.stop = stop};
    int stopped = 0;
    graft_detok_stream ds;
    graft_detok_stream_init(&ds, m->vocab, 0, 0);
    char out[256];
    size_t cap = m->vocab ? graft_detok_stream_cap(m->vocab) : 0;
    char *buf = cap > sizeof out ? malloc(cap) : out;
    if (!cap) cap = sizeof out;
    double t0 = now_ms();
    int rc = 0;
    for (int i = 0; n_predict < 0 || i < n_predict; i++) {
        int32_t tok = graft_sampler_sample(smp, graft_ctx_logits(ctx, -1));
        graft_sampler_accept(smp, tok);
        if (graft_model_token_is_eog(m, tok)) break;
        if (m->vocab) {
            size_t n = 0;
            graft_error e;
            if (graft_detok_stream_push(&ds, tok, buf, cap, &n, &e) == GRAFT_OK && stop_push(&sf, buf, n)) {
                st->n_gen++; /* the reply is over; the token is not fed to the cache */
                stopped = 1;
                break;
            }
        } else {
            printf("%d ", tok);
        }
        fflush(stdout);
        st->n_gen++;
        if (graft_ctx_pos(ctx) >= graft_ctx_n_ctx(ctx)) { /* printed, but no room to feed it back */
            fprintf(stderr, "\ngraft: the context of %d tokens is full; stopping\n", graft_ctx_n_ctx(ctx));
            break;
        }
        hist[(*n_hist)++] = tok;
        if ((rc = graft_decode(ctx, &tok, NULL, 1)) != GRAFT_OK) {
            fprintf(stderr, "\ngraft: %s\n", graft_ctx_last_error(ctx));
            break;
        }
    }
    if (m->vocab && !stopped) {
        stop_push(&sf, buf, graft_detok_stream_flush(&ds, buf));
        fwrite(sf.held, 1, sf.n, stdout);
    }
    fflush(stdout);
    if (buf != out) free(buf);
    st->t_gen += now_ms() - t0;
    return rc;
}

/* Decodes ids[0..n) after what the cache already holds. The longest common prefix with the
 * cache mirror `hist` is kept; the rest is rewound and recomputed. */
static int feed(graft_ctx *ctx, const int32_t *ids, const float *embd, int n, int32_t *hist, int *n_hist,
                run_stats *st) {
    int common = 0;
    while (!embd && common < n && common < *n_hist && hist[common] == ids[common]) common++;
    if (common == n && common > 0) common--; /* recompute the last token to get its logits */
    graft_ctx_rewind(ctx, common);
    *n_hist = common;
    double t0 = now_ms();
    int rc = graft_decode(ctx, ids + common, embd ? embd + (size_t)common * graft_model_n_embd(ctx->model) : NULL,
                          n - common);
    if (rc) {
        fprintf(stderr, "graft: %s\n", graft_ctx_last_error(ctx));
        return rc;
    }
    memcpy(hist + common, ids + common, (size_t)(n - common) * sizeof *ids);
    *n_hist = n;
    st->t_prompt += now_ms() - t0;
    st->n_prompt += n - common;
    return 0;
}

/* The logits of the first n positions of the last decode, as float32 [n, n_vocab]. */
static int write_logits(const char *path, const graft_ctx *ctx, const graft_model *m, int n) {
    FILE *f = fopen(path, "wb");
    const size_t V = (size_t)graft_model_n_vocab(m);
    int ok = f != NULL;
    for (int i = 0; ok && i < n; i++) ok = fwrite(graft_ctx_logits(ctx, i), sizeof(float), V, f) == V;
    if (f && fclose(f)) ok = 0;
    if (!ok) fprintf(stderr, "graft: cannot write %s: %s\n", path, strerror(errno));
    return !ok;
}

int cli_run(int argc, char **argv) {
    run_opts o;
    if (!parse_args(argc, argv, &o)) return 2;
    graft_error e;
    double t_load0 = now_ms();
    graft_model *m;
    if (graft_model_load(o.model, NULL, &m, &e)) {
        fprintf(stderr, "graft: %s\n", e.msg);
        return 1;
    }
    graft_vision *vis = NULL;
    if (o.mmproj && graft_vision_load(o.mmproj, &vis, &e)) {
        fprintf(stderr, "graft: %s\n", e.msg);
        graft_model_free(m);
        return 1;
    }
    double t_load = now_ms() - t_load0;
    int status = 1;
    graft_mm *mm = NULL;
    graft_mm_timings mt = {0};
    graft_image_input inputs[MAX_IMAGES];
    float *pix = NULL, *embd = NULL; /* --pixels tensors; image rows for --prompt-ids */
    graft_ctx *ctx = NULL;
    graft_sampler *smp = NULL;
    int32_t *ids = NULL, *hist = NULL;
    char *text = NULL, *line = NULL; /* text: the prompt, owned */
    char *instruction = NULL;        /* the prompt as given: what an instruction-reading projector gets */
    int32_t *qf_ids = NULL;          /* --qformer-prompt-ids */
    size_t n_qf_ids = 0;
    size_t n_ids = 0;
    const graft_recipe *recipe = vis ? graft_vision_recipe(vis) : graft_recipe_find("llava");
    const char *tmpl = o.chat_template;
    if (tmpl && !strcmp(tmpl, "auto")) tmpl = graft_model_chat_template(m);
    if (o.n_images && !tmpl) tmpl = recipe->chat_template; /* the recipe's prompt format */
    if (o.interactive && !tmpl)
        tmpl = vis ? recipe->chat_template : graft_model_chat_template(m) ? graft_model_chat_template(m) : "vicuna_v1";
    if (tmpl && !strcmp(tmpl, "none")) tmpl = NULL;
    if (tmpl) { /* an unknown name fails here, before any work */
        size_t len;
        if (graft_chat_render(tmpl, NULL, 0, 0, NULL, 0, &len, &e)) {
            fprintf(stderr, "graft: %s\n", e.msg);
            goto done;
        }
    }

    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = o.n_ctx;
    cp.n_batch = o.n_batch;
    cp.n_threads = o.n_threads;
    cp.kv_type = o.kv_type;
    /* the prompt text */
    if (o.prompt_file) {
        size_t len;
        if (!(text = read_text_file(o.prompt_file, &len))) goto done;
    } else if (o.prompt) {
        text = strdup(o.prompt);
        if (o.escape) unescape(text);
    }
    /* the instruction a Q-Former reads (InstructBLIP): the prompt as given, before any template */
    instruction = text ? strdup(text) : NULL;
    if (text && o.n_images && !strstr(text, recipe->marker)) {
        /* where the recipe puts an image in a user turn (LLaVA: "<image>\n" before the question) */
        const size_t len = strlen(text), lu = strlen(recipe->user_image);
        char *t = malloc(len + lu * (size_t)o.n_images + 1);
        t[0] = 0;
        for (int i = 0; i < o.n_images; i++) strcat(t, recipe->user_image);
        strcat(t, text);
        free(text);
        text = t;
    }
    graft_chat_msg msgs[2];
    int n_msgs = 0;
    if (tmpl && text) {
        if (o.system) msgs[n_msgs++] = (graft_chat_msg){"system", o.system};
        msgs[n_msgs++] = (graft_chat_msg){"user", text};
        size_t len;
        graft_chat_render(tmpl, msgs, n_msgs, 1, NULL, 0, &len, &e);
        char *rendered = malloc(len + 1);
        graft_chat_render(tmpl, msgs, n_msgs, 1, rendered, len + 1, &len, &e);
        free(text);
        text = rendered;
    }
    if (o.prompt_ids) {
        if (!cli_parse_ids("--prompt-ids", o.prompt_ids, &ids, &n_ids)) goto done;
    } else if (text) {
        if (graft_model_tokenize(m, text, strlen(text), 1, 1, &ids, &n_ids, &e)) {
            fprintf(stderr, "graft: %s\n", e.msg);
            goto done;
        }
    } else if (!o.interactive) {
        /* no prompt: start from BOS alone, as llama.cpp does */
        int32_t bos = graft_model_token_bos(m);
        ids = malloc(sizeof *ids);
        ids[0] = bos >= 0 ? bos : 0;
        n_ids = 1;
    }
    /* image rows take positions too: an upper bound for the batch and context checks */
    size_t n_pos = n_ids;
    if (vis) n_pos += (size_t)o.n_images * graft_vision_n_tokens(vis);
    if (o.logits_out) {
        cp.logits_all = 1;
        if (cp.n_batch < (int)n_pos) cp.n_batch = (int)n_pos;
    }
    if (cp.n_ctx <= 0) cp.n_ctx = graft_model_n_ctx_train(m);
    if (cp.n_batch > cp.n_ctx) cp.n_batch = cp.n_ctx;
    if (!vis && ((int)n_ids > cp.n_ctx || (o.logits_out && (int)n_ids > cp.n_batch))) {
        fprintf(stderr, "graft: the prompt has %zu tokens, more than the context of %d (use -c)\n", n_ids, cp.n_ctx);
        goto done;
    }
    if (graft_ctx_new(m, &cp, &ctx, &e) || graft_sampler_new(&o.sp, graft_model_n_vocab(m), &smp, &e)) {
        fprintf(stderr, "graft: %s\n", e.msg);
        goto done;
    }
    hist = malloc((size_t)graft_ctx_n_ctx(ctx) * sizeof *hist);
    int n_hist = 0;
    run_stats st = {0};

    if (vis) {
        graft_mm_params mp = graft_mm_default_params();
        mp.image_mode = o.image_mode;
        if (graft_mm_new(ctx, vis, &mp, &mm, &e)) {
            fprintf(stderr, "graft: %s\n", e.msg);
            goto done;
        }
        const size_t S = (size_t)graft_vision_image_size(vis), npx = 3 * S * S;
        pix = malloc(sizeof(float) * npx * (size_t)(o.n_images ? o.n_images : 1));
        if (o.qformer_prompt_ids && !cli_parse_ids("--qformer-prompt-ids", o.qformer_prompt_ids, &qf_ids, &n_qf_ids)) goto done;
        for (int i = 0; i < o.n_images; i++) {
            memset(&inputs[i], 0, sizeof inputs[i]);
            inputs[i].instruction = instruction;
            if (qf_ids) inputs[i].instruction_ids = qf_ids, inputs[i].n_instruction_ids = (int)n_qf_ids;
            if (!o.images[i].is_pixels) {
                inputs[i].path = o.images[i].path;
                continue;
            }
            size_t len;
            char *raw = read_text_file(o.images[i].path, &len);
            if (!raw) goto done;
            if (len != npx * sizeof(float)) {
                fprintf(stderr, "graft: %s: %zu bytes, but a [3, %zu, %zu] float32 tensor has %zu\n", o.images[i].path,
                        len, S, S, npx * sizeof(float));
                free(raw);
                goto done;
            }
            memcpy(pix + npx * i, raw, len);
            free(raw);
            inputs[i].pixels = pix + npx * i;
        }
    }
    if (vis && o.n_images && o.prompt_ids) {
        /* -1 or the vocabulary's <image> id marks where each image's rows go */
        int32_t img_id = -2;
        int32_t *tmp;
        size_t nt;
        if (graft_model_tokenize(m, "<image>", 7, 0, 1, &tmp, &nt, &e) == GRAFT_OK) {
            if (nt == 1) img_id = tmp[0];
            free(tmp);
        }
        const int nt_img = graft_mm_n_tokens(mm), E = graft_model_n_embd(m);
        int n_marks = 0;
        for (size_t i = 0; i < n_ids; i++) n_marks += ids[i] == -1 || ids[i] == img_id;
        const int prepend = graft_mm_placement(mm) == GRAFT_MM_PLACE_PREPEND && n_marks == 0;
        if (prepend) { /* BLIP-2: the rows in front of the given ids */
            int32_t *moved = malloc((n_ids + (size_t)o.n_images) * sizeof *moved);
            for (int k = 0; k < o.n_images; k++) moved[k] = -1;
            memcpy(moved + o.n_images, ids, n_ids * sizeof *ids);
            free(ids);
            ids = moved;
            n_ids += (size_t)o.n_images;
            n_marks = o.n_images;
        }
        if (n_marks != o.n_images) {
            fprintf(stderr, "graft: --prompt-ids marks %d image position%s (-1 or <image>) but %d image%s given\n",
                    n_marks, n_marks == 1 ? "" : "s", o.n_images, o.n_images == 1 ? " was" : "s were");
            goto done;
        }
        const size_t n_all = n_ids + (size_t)n_marks * (nt_img - 1);
        int32_t *all = malloc(n_all * sizeof *all);
        embd = calloc(n_all * (size_t)E, sizeof(float));
        for (size_t i = 0, j = 0, k = 0; i < n_ids; i++) {
            if (ids[i] != -1 && ids[i] != img_id) {
                all[j++] = ids[i];
                continue;
            }
            if (graft_mm_encode(mm, &inputs[k++], embd + j * E, &mt, &e)) {
                fprintf(stderr, "graft: %s\n", e.msg);
                free(all);
                goto done;
            }
            for (int r = 0; r < nt_img; r++) all[j++] = -1;
        }
        free(ids);
        ids = all;
        n_ids = n_all;
    }

    if (vis && o.n_images && !o.prompt_ids) {
        if (o.display_prompt) fputs(text, stdout);
        if (graft_mm_eval(mm, text, inputs, o.n_images, &mt, &e)) {
            fprintf(stderr, "\ngraft: %s\n", e.msg);
            goto done;
        }
        st.t_prompt = mt.prefill_ms;
        st.n_prompt = mt.n_text_tokens + mt.n_image_tokens;
        n_hist = graft_ctx_pos(ctx);
        for (int i = 0; i < n_hist; i++) hist[i] = -1;
        if (o.logits_out && write_logits(o.logits_out, ctx, m, n_hist)) goto done;
        if (generate(ctx, m, smp, o.n_predict, vis ? recipe->stop : NULL, hist, &n_hist, &st)) goto done;
        printf("\n");
    } else if (n_ids > 0) {
        if (o.display_prompt && !o.interactive && m->vocab && !o.prompt_ids) {
            char *s;
            size_t len;
            if (graft_model_detokenize(m, ids, n_ids, 1, &s, &len, &e) == GRAFT_OK) {
                fwrite(s, 1, len, stdout);
                free(s);
            }
        }
        for (size_t i = 0; i < n_ids; i++)
            if (ids[i] >= 0) graft_sampler_accept(smp, ids[i]);
        if (feed(ctx, ids, embd, (int)n_ids, hist, &n_hist, &st)) goto done;
        if (o.logits_out && write_logits(o.logits_out, ctx, m, (int)n_ids)) goto done;
        if (!o.interactive && generate(ctx, m, smp, o.n_predict, vis ? recipe->stop : NULL, hist, &n_hist, &st)) goto done;
        if (!o.interactive) printf("\n");
    }

    if (o.interactive) {
        /* the conversation so far, re-rendered every turn; the cache keeps the common prefix */
        size_t cap_msgs = 16, n_conv = 0;
        graft_chat_msg *conv = malloc(cap_msgs * sizeof *conv);
        char **owned = malloc(cap_msgs * sizeof *owned);
        if (o.system) conv[n_conv] = (graft_chat_msg){"system", o.system}, owned[n_conv++] = NULL;
        size_t line_cap = 0;
        ssize_t got;
        fprintf(stderr, "graft: chat with %s (template %s); end with Ctrl-D\n> ", o.model, tmpl);
        while ((got = getline(&line, &line_cap, stdin)) > 0) {
            if (line[got - 1] == '\n') line[--got] = 0;
            if (n_conv + 2 > cap_msgs) {
                cap_msgs *= 2;
                conv = realloc(conv, cap_msgs * sizeof *conv);
                owned = realloc(owned, cap_msgs * sizeof *owned);
            }
            owned[n_conv] = strdup(line);
            conv[n_conv] = (graft_chat_msg){"user", owned[n_conv]};
            n_conv++;
            size_t len;
            graft_chat_render(tmpl, conv, (int)n_conv, 1, NULL, 0, &len, &e);
            char *r = malloc(len + 1);
            graft_chat_render(tmpl, conv, (int)n_conv, 1, r, len + 1, &len, &e);
            int32_t *turn = NULL;
            size_t n_turn = 0;
            int rc = graft_model_tokenize(m, r, len, 1, 1, &turn, &n_turn, &e);
            free(r);
            if (rc) { fprintf(stderr, "graft: %s\n", e.msg); break; }
            if ((int)n_turn >= graft_ctx_n_ctx(ctx)) {
                fprintf(stderr, "graft: the conversation (%zu tokens) no longer fits the context of %d\n",
                        n_turn, graft_ctx_n_ctx(ctx));
                free(turn);
                break;
            }
            rc = feed(ctx, turn, NULL, (int)n_turn, hist, &n_hist, &st);
            free(turn);
            if (rc) break;
            int start = n_hist;
            generate(ctx, m, smp, o.n_predict, vis ? recipe->stop : NULL, hist, &n_hist, &st);
            char *reply = NULL;
            size_t rlen;
            graft_detokenize(m->vocab, hist + start, (size_t)(n_hist - start), 0, 0, &reply, &rlen, &e);
            const char *body = reply ? reply : "";
            while (*body == ' ') body++; /* the template puts its own space before the reply */
            owned[n_conv] = strdup(body);
            conv[n_conv] = (graft_chat_msg){"assistant", owned[n_conv]};
            n_conv++;
            free(reply);
            printf("\n> ");
            fflush(stdout);
        }
        for (size_t i = 0; i < n_conv; i++) free(owned[i]);
        free(owned);
        free(conv);
        printf("\n");
    }

    fprintf(stderr, "\ngraft: load %.1f ms | ", t_load);
    if (vis)
        fprintf(stderr, "image decode %.1f ms | preprocess %.1f ms | vision encode %.1f ms | projector %.1f ms "
                        "(%d encoded, %d cached) | ", mt.image_decode_ms, mt.preprocess_ms, mt.vision_ms,
                mt.projector_ms, mt.n_images_encoded, mt.n_images_cached);
    fprintf(stderr, "prefill %d positions in %.1f ms (%.2f tok/s) | generated %d tokens in %.1f ms (%.2f tok/s)\n",
            st.n_prompt, st.t_prompt, st.n_prompt ? st.n_prompt * 1e3 / st.t_prompt : 0.0, st.n_gen, st.t_gen,
            st.n_gen ? st.n_gen * 1e3 / st.t_gen : 0.0);
    status = 0;
done:
    free(line);
    free(hist);
    free(ids);
    free(text);
    free(instruction);
    free(qf_ids);
    free(pix);
    free(embd);
    graft_mm_free(mm);
    graft_sampler_free(smp);
    graft_ctx_free(ctx);
    graft_vision_free(vis);
    graft_model_free(m);
    return status;
}
