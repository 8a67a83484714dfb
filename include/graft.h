/* graft.h - the public API of graft, a C11 inference engine for vision-encoder-grafted language
 * models (LLaVA and relatives). Everything a host program needs is declared here; nothing else is.
 *
 * Conventions
 *   - Opaque handles. A handle that holds read-only data (a parsed GGUF file, later a model) may be
 *     shared by several threads; a context owns mutable state and is used by one thread at a time.
 *   - Every fallible call returns a status (GRAFT_OK = 0) or NULL, and fills an optional
 *     graft_error out-parameter with one line naming the file and the problem. The library never
 *     prints, never calls exit() or abort() on bad input, and keeps no global mutable state.
 *   - Thread counts are explicit parameters.
 *   - Thread safety, call by call: graft_model_*, graft_vision_* queries, graft_gguf_* and
 *     graft_st_* queries, graft_model_tokenize / detokenize, graft_chat_*, graft_type_* and
 *     graft_kernels_name may be called from any number of threads at once on shared handles.
 *     graft_decode, graft_ctx_*, graft_vision_encode, graft_vision_ctx_*, graft_mm_* and
 *     graft_sampler_* change their context / session / sampler: one thread at a time for each
 *     (different contexts of one model may run in parallel: suite `hardening` checks it).
 *     Loading and freeing are not concurrent with use of the same handle.
 *
 * Usage (read a GGUF file and list its tensors):
 *
 *     graft_error err;
 *     graft_gguf *g;
 *     if (graft_gguf_open("model.gguf", &g, &err) != GRAFT_OK) {
 *         fprintf(stderr, "%s\n", err.msg);
 *         return 1;
 *     }
 *     for (int64_t i = 0; i < graft_gguf_n_tensors(g); i++) {
 *         graft_gguf_tensor t = graft_gguf_tensor_info(g, i);
 *         printf("%s %s\n", t.name, graft_type_name(t.type));
 *     }
 *     graft_gguf_close(g);
 */
#ifndef GRAFT_H
#define GRAFT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GRAFT_VERSION_MAJOR 0
#define GRAFT_VERSION_MINOR 1
#define GRAFT_VERSION_PATCH 0
#define GRAFT_VERSION_STRING "0.1.0"

/* ---- status and errors ------------------------------------------------------------------- */

enum graft_status {
    GRAFT_OK = 0,
    GRAFT_E_IO = 1,        /* a file could not be opened, read, mapped or written */
    GRAFT_E_FORMAT = 2,    /* a file is malformed, truncated or inconsistent */
    GRAFT_E_UNSUPPORTED = 3, /* valid, but uses something graft does not implement */
    GRAFT_E_NOMEM = 4,     /* an allocation failed */
    GRAFT_E_INVALID = 5,   /* a caller passed an invalid argument */
    GRAFT_E_LIMIT = 6,     /* a resource limit was exceeded (context length, image size, ...) */
    GRAFT_E_NOTFOUND = 7,  /* a key, tensor or file that was asked for does not exist */
};

#define GRAFT_ERROR_MAX 512

/* Filled by a failing call: `code` is its graft_status, `msg` one line for a human. */
typedef struct graft_error {
    int code;
    char msg[GRAFT_ERROR_MAX];
} graft_error;

/* "0.1.0" */
const char *graft_version(void);

/* ---- element types ----------------------------------------------------------------------- */

/* Values equal ggml's type ids, so GGUF tensor types map one to one. Block layouts are ggml's:
 * Q8_0 = 32 weights as { f16 scale d; int8 q[32] }, w = d * q (34 bytes);
 * Q4_0 = 32 weights as { f16 scale d; uint8 qs[16] }, element j < 16 is the low nibble of qs[j],
 *        element j + 16 the high nibble, w = d * (nibble - 8) (18 bytes). */
typedef enum graft_type {
    GRAFT_TYPE_F32 = 0,
    GRAFT_TYPE_F16 = 1,
    GRAFT_TYPE_Q4_0 = 2,
    GRAFT_TYPE_Q8_0 = 8,
    GRAFT_TYPE_BF16 = 30,
} graft_type;

/* "f32", "f16", "q4_0", "q8_0", "bf16"; NULL for a type graft does not know. */
const char *graft_type_name(int type);
/* Elements per block (1 for float types, 32 for Q8_0/Q4_0) and bytes per block; 0 if unknown. */
int64_t graft_type_block_size(int type);
int64_t graft_type_block_bytes(int type);

/* ---- models and contexts ----------------------------------------------------------------- */

typedef struct graft_model graft_model; /* read-only weights (mmap'd) + vocabulary; shareable */
typedef struct graft_ctx graft_ctx;     /* KV cache + activations; one thread at a time */

typedef struct graft_model_params {
    int reserved; /* no options yet; use graft_model_default_params() */
} graft_model_params;

graft_model_params graft_model_default_params(void);
/* Loads a decoder from a GGUF file (architecture from general.architecture: "llama" or "opt"), or
 * from a Hugging Face directory (config.json + safetensors: LlamaForCausalLM, or the language model
 * of LlavaForConditionalGeneration), read in place as docs/formats.md says. */
int graft_model_load(const char *path, const graft_model_params *params, graft_model **out,
                     graft_error *err);
void graft_model_free(graft_model *m);

const char *graft_model_arch(const graft_model *m);
int graft_model_n_vocab(const graft_model *m);
int graft_model_n_embd(const graft_model *m);
int graft_model_n_layer(const graft_model *m);
int graft_model_n_ctx_train(const graft_model *m);
/* Bytes of weights read per generated token (every matrix once): for bandwidth figures. */
size_t graft_model_weight_bytes(const graft_model *m);

/* ---- the model's tokenizer (tokenizer.ggml.* metadata; llama.cpp's rules) ----------------- */

/* Text -> ids. add_special adds BOS/EOS as the vocabulary says; parse_special matches control
 * tokens written in the text ("<s>") whole. *ids is malloc'd; the caller frees it. */
int graft_model_tokenize(const graft_model *m, const char *text, size_t len, int add_special,
                         int parse_special, int32_t **ids, size_t *n_ids, graft_error *err);
/* Ids -> text (malloc'd, NUL-terminated), as llama_detokenize. */
int graft_model_detokenize(const graft_model *m, const int32_t *ids, size_t n, int remove_special,
                           char **out, size_t *out_len, graft_error *err);
int32_t graft_model_token_bos(const graft_model *m); /* -1 when none */
int32_t graft_model_token_eos(const graft_model *m);
int graft_model_token_is_eog(const graft_model *m, int32_t id); /* ends generation */
/* The chat template recognised from tokenizer.chat_template, or NULL. */
const char *graft_model_chat_template(const graft_model *m);

typedef struct graft_ctx_params {
    int n_ctx;        /* context length in tokens; 0 = the model's training context. A model with
                       * learned positions (OPT) has none past it: larger values are capped there
                       * (graft_ctx_n_ctx tells) */
    int n_batch;      /* most tokens processed in one matrix-matrix step (prefill chunk) */
    int n_threads;    /* >= 1 */
    int kv_type;      /* GRAFT_TYPE_F16 (default) or GRAFT_TYPE_F32 */
    int logits_all;   /* keep logits for every position of a batch (parity checks), else last */
} graft_ctx_params;

graft_ctx_params graft_ctx_default_params(void);
int graft_ctx_new(const graft_model *m, const graft_ctx_params *params, graft_ctx **out,
                  graft_error *err);
void graft_ctx_free(graft_ctx *c);
/* The message of the last failed call on this context ("" if none). */
const char *graft_ctx_last_error(const graft_ctx *c);

/* Runs the decoder over n new positions after the current ones and advances the position.
 * Each position is a token id (ids[i]) or, where ids is NULL or ids[i] < 0, an embedding row
 * embd + i * n_embd supplied by the caller (image rows). Fails with GRAFT_E_LIMIT, and changes
 * nothing, when the positions would exceed n_ctx. */
int graft_decode(graft_ctx *c, const int32_t *ids, const float *embd, int n);
/* Logits (n_vocab floats) of row i of the last graft_decode batch: i = -1 is the last row; other
 * rows need logits_all. NULL if unavailable. Valid until the next decode. */
const float *graft_ctx_logits(const graft_ctx *c, int i);
int graft_ctx_pos(const graft_ctx *c);      /* positions in the KV cache */
int graft_ctx_n_ctx(const graft_ctx *c);
/* Forgets positions >= pos (pos <= current position), e.g. to reuse a shared prompt prefix. */
int graft_ctx_rewind(graft_ctx *c, int pos);

/* ---- sampling ---------------------------------------------------------------------------- */

/* The chain is llama.cpp's default order: repetition penalty -> top-k -> top-p -> min-p ->
 * temperature -> draw. temp <= 0 is greedy (argmax, ties to the lowest id). A filter at its
 * neutral value (top_k 0, top_p 1, min_p 0, repeat_penalty 1) is skipped. */
typedef struct graft_sampler_params {
    float temp;           /* 0.8 */
    int top_k;            /* 40 */
    float top_p;          /* 0.95 */
    float min_p;          /* 0.05 */
    float repeat_penalty; /* 1.0 (off): >1 divides positive / multiplies negative logits of seen tokens */
    int repeat_last_n;    /* 64: how many recent tokens the penalty looks at */
    uint64_t seed;        /* the same seed gives the same draws */
} graft_sampler_params;

typedef struct graft_sampler graft_sampler;

graft_sampler_params graft_sampler_default_params(void);
/* Allocates the work buffers for a vocabulary of n_vocab once. */
int graft_sampler_new(const graft_sampler_params *params, int n_vocab, graft_sampler **out,
                      graft_error *err);
void graft_sampler_free(graft_sampler *s);
/* Picks the next token from n_vocab logits (not modified). Allocates nothing. */
int32_t graft_sampler_sample(graft_sampler *s, const float *logits);
/* Records a token (prompt or generated) in the history the repetition penalty reads. */
void graft_sampler_accept(graft_sampler *s, int32_t token);
void graft_sampler_reset(graft_sampler *s); /* forgets the history; keeps the random state */

/* ---- chat templates ---------------------------------------------------------------------- */

typedef struct graft_chat_msg {
    const char *role;    /* "system", "user" or "assistant" */
    const char *content;
} graft_chat_msg;

/* Renders a conversation as prompt text with a named template: "vicuna_v1" (LLaVA-1.5 /
 * Vicuna), "llama2", "mistral", "chatml". The text does not start with BOS (the tokenizer adds
 * it); later BOS/EOS markers appear as "<s>"/"</s>" text, to be tokenized with special-token
 * parsing on. add_assistant appends the prefix of the assistant's next turn. Writes at most cap
 * bytes including the NUL into out (out may be NULL when cap is 0) and the full length into *len,
 * so a caller can size a buffer with a first call. Unknown template: GRAFT_E_NOTFOUND. */
int graft_chat_render(const char *tmpl, const graft_chat_msg *msgs, int n, int add_assistant,
                      char *out, size_t cap, size_t *len, graft_error *err);
/* The template name matching a Jinja chat template (tokenizer.chat_template), or NULL. */
const char *graft_chat_detect(const char *jinja, size_t len);
/* The template names, NULL-terminated. */
const char *const *graft_chat_templates(void);

/* ---- kernels ----------------------------------------------------------------------------- */

/* The kernel variant chosen for this CPU ("ref", "avx2" or "avx512"), after the GRAFT_KERNELS
 * environment override. Stable for the life of the process. */
const char *graft_kernels_name(void);

/* ---- vision ---- */

/* The vision side of a LLaVA-style model, from a llama.cpp mmproj GGUF (general.architecture
 * "clip"): a CLIP ViT run to LLaVA's feature layer, then the projector to the LLM's width.
 * A graft_vision is read-only and may be shared between threads; a graft_vision_ctx holds the
 * activations of one encode at a time (one thread at a time) and allocates nothing per image.
 *
 *     graft_vision *v; graft_vision_ctx *vc;
 *     if (graft_vision_load("mmproj.gguf", &v, &err) || graft_vision_ctx_new(v, NULL, &vc, &err)) ...
 *     float *rows = malloc(sizeof(float) * graft_vision_n_tokens(v) * graft_vision_n_embd(v));
 *     graft_vision_encode(vc, pixels, NULL, 0, rows); // pixels (3, S, S), S = graft_vision_image_size(v)
 */
typedef struct graft_vision graft_vision;
typedef struct graft_vision_ctx graft_vision_ctx;

/* path: an mmproj GGUF, or a Hugging Face LlavaForConditionalGeneration directory (its vision
 * tower and projector, read in place). */
int graft_vision_load(const char *path, graft_vision **out, graft_error *err);
/* 1 when path is a Hugging Face directory whose config.json describes a LLaVA vision tower (so
 * the same path serves graft_model_load and graft_vision_load). */
int graft_path_has_vision(const char *path);
void graft_vision_free(graft_vision *v);

int graft_vision_image_size(const graft_vision *v);  /* S: encode takes (3, S, S) pixels */
int graft_vision_patch_size(const graft_vision *v);
/* clip.vision.image_mean / image_std (OpenAI CLIP's when the file has none), 3 floats each. */
void graft_vision_norm(const graft_vision *v, float mean[3], float std[3]);
int graft_vision_n_tokens(const graft_vision *v);    /* image rows per image (class token dropped) */
int graft_vision_n_embd(const graft_vision *v);      /* width of those rows: the LLM's n_embd */
int graft_vision_n_embd_vision(const graft_vision *v); /* the ViT's width */
int graft_vision_n_layer(const graft_vision *v);     /* ViT blocks run per image */
const char *graft_vision_projector(const graft_vision *v); /* "mlp", "linear", ... */
/* The recipe the mmproj names (graft.recipe), "llava" when it names none. Never NULL. */
const struct graft_recipe *graft_vision_recipe(const graft_vision *v);
/* The most instruction tokens its projector takes (InstructBLIP's Q-Former: its position table);
 * 0 when it reads none. */
int graft_vision_n_text_max(const graft_vision *v);
/* The instruction as the projector's tokenizer ids (malloc'd; [CLS] ... [SEP] for BERT's
 * WordPiece): GRAFT_E_NOTFOUND when the mmproj has no tokenizer. */
int graft_vision_tokenize(const graft_vision *v, const char *text, size_t len, int32_t **ids, size_t *n,
                          graft_error *err);

enum { GRAFT_VISION_SELECT_DEFAULT = 0, /* drop the class token (LLaVA's "default") */
       GRAFT_VISION_SELECT_FULL = 1 };  /* keep it as row 0 ("full") */

typedef struct graft_vision_ctx_params {
    int n_threads;   /* >= 1 */
    int select;      /* GRAFT_VISION_SELECT_* */
    int keep_hidden; /* keep every hidden state of the last encode (parity checks, research) */
    int n_text_max;  /* most conditioning tokens encode takes (projectors that read text); 0 */
} graft_vision_ctx_params;

graft_vision_ctx_params graft_vision_ctx_default_params(void);
int graft_vision_ctx_new(const graft_vision *v, const graft_vision_ctx_params *params,
                         graft_vision_ctx **out, graft_error *err);
void graft_vision_ctx_free(graft_vision_ctx *c);
const char *graft_vision_ctx_last_error(const graft_vision_ctx *c);
int graft_vision_ctx_n_tokens(const graft_vision_ctx *c); /* rows encode writes */

/* Encodes one image: pixels (3, S, S) f32, CHW, already normalised; writes
 * out (graft_vision_ctx_n_tokens, graft_vision_n_embd). text_ids: the instruction's token ids for
 * projectors conditioned on it (none of LLaVA's; at most n_text_max); NULL and 0 otherwise. */
int graft_vision_encode(graft_vision_ctx *c, const float *pixels, const int32_t *text_ids,
                        int n_text, float *out);
/* After an encode: the projector's input (*n_rows, *n_cols), i.e. the selected rows of the
 * feature layer(s). NULL before the first encode. Valid until the next encode. */
const float *graft_vision_ctx_features(const graft_vision_ctx *c, int *n_rows, int *n_cols);
/* With keep_hidden, after an encode: hidden state k (n_patches + 1, n_embd_vision), class token
 * row 0; k = 0 is the embeddings after the pre-layernorm, k >= 1 the output of block k (Hugging
 * Face's hidden_states[k]). NULL otherwise. */
const float *graft_vision_ctx_hidden(const graft_vision_ctx *c, int k);
/* Milliseconds the last encode spent in the ViT and in the projector. */
void graft_vision_ctx_timings(const graft_vision_ctx *c, double *vit_ms, double *proj_ms);

/* ---- the multimodal pipeline ------------------------------------------------------------- */

/* A LLaVA-style session: a decoder context, a vision context, and a cache of image embeddings
 * keyed by the pixels' content, so a second question about the same image does not re-encode it.
 * The prompt text carries one marker ("<image>") per image; the text around the markers is
 * tokenized as Hugging Face's Llama tokenizer does with <image> as an added token (legacy=False:
 * no extra prefix space after an image), and the projector's rows take the markers' places. */
typedef struct graft_mm graft_mm;

/* One image: a file, raw 8-bit RGB (w x h, rows of 3w bytes), or already-normalised pixels
 * (3, S, S) float32 with S the vision tower's image size. Exactly one of path/rgb/pixels is set. */
typedef struct graft_image_input {
    const char *path;
    const unsigned char *rgb;
    int w, h;
    const float *pixels;
    /* The instruction, for projectors that read it (InstructBLIP's Q-Former; the recipe's
     * `instruction`): text, tokenized with the vision tower's own tokenizer, or ids already
     * tokenized (they win). Ignored by other projectors. The image cache keys on it too. */
    const char *instruction;
    const int32_t *instruction_ids;
    int n_instruction_ids;
} graft_image_input;

enum { GRAFT_MM_MODE_CROP = 0, GRAFT_MM_MODE_PAD = 1, GRAFT_MM_MODE_RESIZE = 2,
       GRAFT_MM_MODE_AUTO = 3 /* the recipe's (graft_recipe.image_mode) */ };

/* ---- recipes ------------------------------------------------------------------------------ */

/* Where a session puts an image's rows: at its marker in the text (LLaVA, MiniGPT-4, mPLUG-Owl),
 * or in front of everything, BOS included, with no marker (BLIP-2, InstructBLIP). */
enum { GRAFT_MM_PLACE_AUTO = 0, GRAFT_MM_PLACE_INLINE = 1, GRAFT_MM_PLACE_PREPEND = 2 };
/* How the text after an image is tokenized: as Hugging Face's Llama tokenizer does with an added
 * image token (no SentencePiece prefix space; LLaVA), or each text segment on its own, each with
 * the prefix space (MiniGPT-4 tokenizes its prompt segments separately; llama.cpp does the same). */
enum { GRAFT_MM_SPACE_AUTO = 0, GRAFT_MM_SPACE_HF = 1, GRAFT_MM_SPACE_EACH = 2 };

/* A grafting recipe: how one design's original code feeds images to its language model. An
 * mmproj names its recipe (key graft.recipe; "llava" when absent); sessions, the CLI and graft
 * eval take these as defaults. docs/recipes.md describes each. */
typedef struct graft_recipe {
    const char *name;          /* "llava", "blip2", "instructblip", "minigpt4", "mplug_owl" */
    const char *summary;
    const char *chat_template; /* the prompt format graft_chat_render knows it by ("none": as given) */
    const char *marker;        /* the image marker in prompt text */
    const char *user_image;    /* what a user turn starts with, per image ("<image>\n"); "" when the
                                  rows are placed in front (PREPEND) */
    int image_mode;            /* GRAFT_MM_MODE_*: the original preprocessing */
    int placement;             /* GRAFT_MM_PLACE_INLINE or _PREPEND */
    int spacing;               /* GRAFT_MM_SPACE_HF or _EACH */
    int instruction;           /* 1: the projector reads the instruction (graft_image_input.instruction) */
    const char *stop;          /* text that ends a reply besides end-of-generation tokens, or NULL */
} graft_recipe;

/* The recipe of that name, NULL when unknown; graft_recipe_at(i) lists them (NULL past the end). */
const graft_recipe *graft_recipe_find(const char *name);
const graft_recipe *graft_recipe_at(int i);

typedef struct graft_mm_params {
    const char *marker;  /* NULL: the recipe's ("<image>") */
    int image_mode;      /* GRAFT_MM_MODE_AUTO (default: the recipe's), PAD (LLaVA-1.5's expand2square),
                            CROP (CLIPImageProcessor) or RESIZE (straight to S x S, BLIP's processor) */
    int placement;       /* GRAFT_MM_PLACE_* (AUTO: the recipe's) */
    int spacing;         /* GRAFT_MM_SPACE_* (AUTO: the recipe's) */
    int cache_images;    /* image embeddings kept for reuse (4) */
    int64_t max_pixels;  /* decoded-image limit; 0 = 64 Mpixel */
    int n_threads;       /* for the vision tower when there is no decoder context (2) */
    int max_images;      /* most images one graft_mm_eval takes (64); more: GRAFT_E_LIMIT */
} graft_mm_params;

typedef struct graft_mm_timings {
    double image_decode_ms, preprocess_ms, vision_ms, projector_ms, prefill_ms;
    int n_images_encoded, n_images_cached, n_text_tokens, n_image_tokens;
} graft_mm_timings;

graft_mm_params graft_mm_default_params(void);
/* ctx and v stay owned by the caller and must outlive the session; v's rows must have the
 * decoder's width (n_embd), else GRAFT_E_FORMAT. ctx may be NULL for a session that only encodes
 * images (graft_mm_encode / graft_mm_pixels). */
int graft_mm_new(graft_ctx *ctx, const graft_vision *v, const graft_mm_params *params,
                 graft_mm **out, graft_error *err);
void graft_mm_free(graft_mm *s);
/* Decodes `text` (already rendered with a chat template; the first chunk gets BOS) with its
 * images after the context's current position. Fails, changing nothing, when the markers and
 * images do not pair up, an image does not decode, or the positions would exceed n_ctx. */
int graft_mm_eval(graft_mm *s, const char *text, const graft_image_input *images, int n_images,
                  graft_mm_timings *t, graft_error *err);
/* graft_mm_eval with flags. GRAFT_MM_EVAL_CONTINUE: `text` continues a prompt already decoded
 * that ended right after an image (or a marker's rows): its first chunk gets no BOS and is
 * tokenized as text after an image (no prefix space), so prefix + continuation decode exactly
 * the positions the whole prompt would. For reusing a shared prompt prefix (graft eval). */
enum { GRAFT_MM_EVAL_CONTINUE = 1,
       /* for sessions that place images in front (PREPEND): decode only the images' rows, no
        * text; the prompt that follows (a later call, BOS first) completes it. For reusing the
        * image prefix (graft eval). */
       GRAFT_MM_EVAL_IMAGES_ONLY = 2 };
int graft_mm_eval_ex(graft_mm *s, const char *text, const graft_image_input *images, int n_images,
                     int flags, graft_mm_timings *t, graft_error *err);
/* The projector rows of one image (graft_mm_n_tokens x graft_vision_n_embd floats into out),
 * through the session's cache. */
int graft_mm_n_tokens(const graft_mm *s);
/* The session's resolved settings: GRAFT_MM_PLACE_*, GRAFT_MM_SPACE_*, its recipe. */
int graft_mm_placement(const graft_mm *s);
int graft_mm_spacing(const graft_mm *s);
const graft_recipe *graft_mm_recipe(const graft_mm *s);
int graft_mm_encode(graft_mm *s, const graft_image_input *image, float *out, graft_mm_timings *t,
                    graft_error *err);
/* The normalised pixels (3, S, S) of an image as the vision tower will see them. */
int graft_mm_pixels(graft_mm *s, const graft_image_input *image, float *out, graft_mm_timings *t,
                    graft_error *err);

#ifdef __cplusplus
}
#endif

#include "graft_gguf.h" /* reading GGUF files: graft_gguf_* */
#include "graft_safetensors.h" /* reading safetensors checkpoints: graft_st_* */

#endif /* GRAFT_H */
