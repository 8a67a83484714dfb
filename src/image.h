/* image.h - decoding image files into 8-bit RGB, pixel for pixel what Python's
 * PIL.Image.open(f).convert("RGB") gives (Pillow 9.4 with libjpeg-turbo 2.1, Debian 12), because
 * that is what LLaVA and Hugging Face's processors feed the vision tower.
 *
 * Formats: JPEG (baseline, extended and progressive Huffman; 8-bit; gray, YCbCr, RGB, CMYK, YCCK),
 * PNG (every bit depth and colour type, interlaced), BMP, GIF (first frame), TGA, PNM.
 * stb_image parses every format; for JPEG its entropy decoder is kept and the pixel arithmetic
 * (IDCT, chroma upsampling, colour conversion) is libjpeg's, so JPEG pixels equal PIL's.
 * Rules of convert("RGB") that are reproduced (see docs/vision.md, "Images and preprocessing"):
 *   gray -> (g, g, g); alpha dropped, never composited; palette (with or without tRNS) -> its RGB;
 *   16-bit RGB/RGBA/LA -> the high byte; 16-bit grayscale PNG -> min(v, 255) (PIL's "I" mode);
 *   CMYK JPEG -> PIL's inverted-Adobe CMYK read and its cmyk2rgb; EXIF orientation is NOT applied.
 * Not decoded (clear GRAFT_E_UNSUPPORTED errors): arithmetic-coded, lossless (SOF3), hierarchical
 * and 12-bit JPEG.
 *
 * The decoded size is checked against a pixel limit from the header, before any pixel buffer is
 * allocated. Functions are reentrant: no global state (stb's failure string is thread-local). */
#ifndef GRAFT_IMAGE_H
#define GRAFT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "graft.h"

/* Default pixel limit: 64 Mpixel (a 8192x8192 photo decodes; a decompression bomb does not). */
#define GRAFT_IMAGE_MAX_PIXELS_DEFAULT ((int64_t)64 << 20)

/* An 8-bit RGB image. rgb: (h, w, 3) row-major, malloc'd, owned by the image. */
typedef struct graft_image {
    int w, h;
    unsigned char *rgb;
} graft_image;

/* Decodes a file (format from its content, not its name). max_pixels <= 0 means the default.
 * Errors name the file: GRAFT_E_IO (cannot read), GRAFT_E_FORMAT (not an image, truncated,
 * corrupt), GRAFT_E_UNSUPPORTED (a valid variant graft does not decode), GRAFT_E_LIMIT (w*h over
 * the limit), GRAFT_E_NOMEM. On failure *out is zeroed. */
int graft_image_load_file(const char *path, int64_t max_pixels, graft_image *out, graft_error *err);

/* The same from bytes in memory; name (may be NULL) is used in error messages. */
int graft_image_load_memory(const void *data, size_t len, const char *name, int64_t max_pixels,
                            graft_image *out, graft_error *err);

/* Width and height from the header only (no pixel decoding, no allocation of pixels). */
int graft_image_info_memory(const void *data, size_t len, const char *name, int *w, int *h,
                            graft_error *err);

/* Copies raw 8-bit RGB pixels (h, w, 3), rows `stride` bytes apart (0 = w*3), into a new image. */
int graft_image_from_rgb(const unsigned char *rgb, int w, int h, size_t stride, int64_t max_pixels,
                         graft_image *out, graft_error *err);

/* Frees the pixels and zeroes the struct; NULL and zeroed images are fine. */
void graft_image_free(graft_image *im);

#endif
