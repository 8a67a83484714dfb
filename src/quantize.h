/* quantize.h - rewriting a GGUF file (or a graft_gguf view of a Hugging Face directory) with its
 * matrices in another type: the engine behind `graft quantize` and `graft convert`. Library code:
 * it prints nothing; the per-tensor choices are reported through a callback.
 *
 * Which tensor gets which type follows llama.cpp's tools (docs/formats.md, "Writing GGUF"):
 *   GRAFT_QUANT_RULES_QUANTIZE  llama-quantize for decoders (llama_tensor_get_type), and the
 *                               mmproj quantizer (clip_model_quantize) for general.architecture "clip";
 *   GRAFT_QUANT_RULES_CONVERT   convert_hf_to_gguf.py --outtype for decoders, and the legacy
 *                               convert_image_encoder_to_gguf.py for "clip".
 * graft has F32 F16 BF16 Q8_0 Q4_0 only: where llama.cpp picks Q6_K (the output matrix of a Q4_0
 * file) graft picks Q8_0; a row length that is not a multiple of 32 falls back to F16.
 *
 *     graft_quant_params p = graft_quant_default_params();
 *     p.type = GRAFT_TYPE_Q4_0;
 *     if (graft_quant_file("in.gguf", "out.gguf", &p, &err)) ... err.msg ...
 *
 * Tensors are streamed: one panel of rows at a time is converted and written, so a model never
 * sits in memory twice. Thread-safe for distinct outputs. */
#ifndef GRAFT_QUANTIZE_H
#define GRAFT_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "graft.h"

enum { GRAFT_QUANT_RULES_QUANTIZE = 0, GRAFT_QUANT_RULES_CONVERT = 1 };
/* params.type for RULES_CONVERT: every matrix keeps its source type (F32/F16/BF16); 1-D tensors
 * become F32 (convert_hf_to_gguf's "auto" picks F16 for an F16 checkpoint, BF16 otherwise). */
enum { GRAFT_QUANT_KEEP = -1 };

/* One tensor's choice, as passed to the progress callback. */
typedef struct graft_quant_tensor {
    int64_t index;     /* 0-based, in file order */
    int64_t n_tensors;
    const char *name;
    int n_dims;
    int64_t ne[4];     /* ggml order */
    int src_type, dst_type; /* ggml type ids */
    size_t src_bytes, dst_bytes;
    const char *note;  /* static text when llama.cpp would choose differently, else NULL */
} graft_quant_tensor;

typedef void (*graft_quant_progress_fn)(void *ctx, const graft_quant_tensor *t);

typedef struct graft_quant_params {
    int type;       /* target: GRAFT_TYPE_F32/F16/BF16/Q8_0/Q4_0, or GRAFT_QUANT_KEEP (convert) */
    int rules;      /* GRAFT_QUANT_RULES_* */
    int n_threads;  /* conversion threads (>= 1) */
    graft_quant_progress_fn progress; /* called after each tensor is written; may be NULL */
    void *progress_ctx;
} graft_quant_params;

graft_quant_params graft_quant_default_params(void); /* Q8_0, RULES_QUANTIZE, 1 thread */

/* llama.cpp's llama_ftype number for a file whose matrices are `type` (ALL_F32 0, MOSTLY_F16 1,
 * MOSTLY_Q4_0 2, MOSTLY_Q8_0 7, MOSTLY_BF16 32); -1 for other types. */
int graft_quant_ftype(int type);

/* The type tensor i of g gets, and why when it is not the target (*note, may be NULL). Does
 * not check whether the conversion is possible (see graft_quant_write). */
int graft_quant_tensor_type(const graft_gguf *g, int64_t i, const graft_quant_params *p,
                            const char **note);

/* Writes g's key/values and tensors to out_path (via out_path.tmp + rename), each tensor in the
 * type graft_quant_tensor_type gives. Copies every KV except split.* keys, sets general.file_type
 * (llama_ftype) and, when a tensor is quantised, general.quantization_version = 2. Fails before
 * writing anything (GRAFT_E_UNSUPPORTED) when a Q8_0/Q4_0 tensor would change type (llama.cpp:
 * "requantizing ... is disabled") or a source type cannot be converted. */
int graft_quant_write(const graft_gguf *g, const char *out_path, const graft_quant_params *p,
                      graft_error *err);

/* graft_quant_write on the file in_path. */
int graft_quant_file(const char *in_path, const char *out_path, const graft_quant_params *p,
                     graft_error *err);

#endif
