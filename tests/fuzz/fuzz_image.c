/* fuzz_image.c - any bytes as an image file: decoded (then preprocessed in every mode, as the
 * vision tower's input) or rejected with an error, within the pixel limit. */
#include <string.h>

#include "fuzz_util.h"
#include "graft.h"
#include "image.h"
#include "preprocess.h"

#define MAX_PIXELS (1 << 20) /* keeps each run fast; the limit check itself is under test */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    graft_error err;
    int w, h;
    graft_image_info_memory(data, size, "fuzz", &w, &h, &err);
    graft_image im;
    if (graft_image_load_memory(data, size, "fuzz", MAX_PIXELS, &im, &err) != GRAFT_OK) return 0;
    static float out[3 * 28 * 28];
    const float mean[3] = {0.48f, 0.46f, 0.41f}, std[3] = {0.27f, 0.26f, 0.28f};
    for (int mode = 0; mode < 3; mode++) {
        graft_preprocess_params p = graft_preprocess_default_params();
        p.image_size = 28;
        p.mode = mode;
        memcpy(p.mean, mean, sizeof mean);
        memcpy(p.std, std, sizeof std);
        graft_preprocess(&im, &p, out, NULL, &err);
    }
    graft_image_free(&im);
    return 0;
}
