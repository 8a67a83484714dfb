/* preprocess.h - an RGB image -> the normalised float32 tensor a CLIP vision tower reads, exactly as
 * Hugging Face's CLIPImageProcessor (transformers 4.40, Pillow 9.4) computes it, with LLaVA-1.5's
 * "pad" variant. Sits between image.h (decoding) and the ViT.
 *
 *   crop    resize so the shortest side is S (the other side int(S * long / short)) with PIL's
 *           bicubic Image.resize, center crop S x S at ((h - S) // 2, (w - S) // 2)
 *   pad     LLaVA-1.5's expand2square: a square canvas of side max(w, h) filled with
 *           int(mean * 255) per channel (truncated: (122, 116, 104) for CLIP's mean), the image
 *           pasted at ((side - w) // 2, (side - h) // 2); then the crop path (a plain resize)
 *   resize  PIL bicubic resize straight to S x S, no crop
 * then x / 255 computed in float64 and rounded to float32, and (x - mean) / std in float32.
 *
 * The resize is PIL's ImagingResample bit for bit: separable, horizontal pass then vertical pass,
 * bicubic a = -0.5 with the support widened by the scale factor when downscaling (antialias),
 * coefficients normalised in double and turned into 22-bit fixed point, each pass rounded and
 * clipped to uint8. Working buffers are allocated per call; nothing global. */
#ifndef GRAFT_PREPROCESS_H
#define GRAFT_PREPROCESS_H

#include "graft.h"
#include "image.h"

typedef enum graft_image_mode {
    GRAFT_IMAGE_MODE_CROP = 0,
    GRAFT_IMAGE_MODE_PAD = 1,
    GRAFT_IMAGE_MODE_RESIZE = 2,
} graft_image_mode;

typedef enum graft_resample {
    GRAFT_RESAMPLE_BICUBIC = 0, /* PIL's Image.BICUBIC (CLIPImageProcessor's resample = 3) */
} graft_resample;

/* The largest S accepted (a ViT at 4096 px is already far beyond any CLIP). */
#define GRAFT_PREPROCESS_MAX_SIZE 4096

typedef struct graft_preprocess_params {
    int image_size;  /* S: the output is (3, S, S) */
    int mode;        /* graft_image_mode */
    int resample;    /* graft_resample */
    float mean[3];   /* per channel, on the 0..1 scale (clip.vision.image_mean) */
    float std[3];    /* per channel, > 0 (clip.vision.image_std) */
} graft_preprocess_params;

/* S = 336, crop, bicubic, OpenAI CLIP's mean (0.48145466, 0.4578275, 0.40821073) and std
 * (0.26862954, 0.26130258, 0.27577711). */
graft_preprocess_params graft_preprocess_default_params(void);

/* "crop", "pad", "resize" <-> graft_image_mode; parse returns -1 for anything else. */
const char *graft_image_mode_name(int mode);
int graft_image_mode_parse(const char *name);

/* The uint8 image the model sees, before rescaling: (S, S, 3) in *out (freed with
 * graft_image_free). This is the tensor the parity tests compare with PIL / Hugging Face.
 * GRAFT_E_LIMIT for aspect ratios so extreme that the work would explode (a 1 x 10^6 strip: the
 * resized long side over 2^28, or over 256 MB of working memory); PIL could not do those either. */
int graft_preprocess_u8(const graft_image *in, const graft_preprocess_params *p, graft_image *out,
                        graft_error *err);

/* (S, S, 3) uint8 -> (3, S, S) float32: (float(u * (1/255.0)) - mean) / std. */
void graft_preprocess_normalize(const graft_image *u8, const float mean[3], const float std[3],
                                float *out);

/* Both steps: out holds 3 * S * S floats (3, S, S), channel-major, as pixel_values[0]. If u8 is
 * not NULL it receives the uint8 image as well (else it is freed inside). */
int graft_preprocess(const graft_image *in, const graft_preprocess_params *p, float *out,
                     graft_image *u8, graft_error *err);

/* ---- the building blocks (also used by tests) ---------------------------------------------- */

/* PIL's Image.resize((w, h), resample) of an RGB image. */
int graft_image_resize(const graft_image *in, int w, int h, int resample, graft_image *out,
                       graft_error *err);

/* Hugging Face's get_resize_output_image_size(default_to_square=False): the short side becomes
 * size, the long side int(size * long / short) (saturated at INT_MAX). */
void graft_shortest_edge_size(int w, int h, int size, int *out_w, int *out_h);

/* LLaVA's pad colour: (unsigned char)(int)(mean[c] * 255), truncated, computed in double. */
void graft_pad_color(const float mean[3], unsigned char fill[3]);

#endif
