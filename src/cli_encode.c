/* cli_encode.c - `graft encode` (the projector's rows for an image, as float32
 * [n_image_tokens, n_embd]) and `graft preprocess` (the normalised pixels, float32 [3, H, W]):
 * the vision side on its own, for research code and tests. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "graft.h"

static void usage(FILE *f, const char *cmd) {
    fprintf(f,
            "usage: graft %s (--mmproj MMPROJ.gguf | -m HF_DIR) (--image FILE | --pixels FILE) -o OUT.bin [options]\n"
            "\n"
            "  --mmproj FILE      vision tower + projector GGUF\n"
            "  -m, --model DIR    a Hugging Face directory (LLaVA, BLIP-2, InstructBLIP, mPLUG-Owl) instead of --mmproj\n"
            "  --image FILE       an image file (JPEG, PNG, BMP, GIF, TGA, PNM)\n"
            "  --pixels FILE      an already-normalised float32 [3, S, S] tensor instead%s\n"
            "  --image-mode M     pad (default), crop or resize\n"
            "  -o FILE            output: %s, little-endian, row-major\n"
            "  -t N               threads (default 2)\n"
            "  --prompt TEXT      encode: the instruction, for projectors that read one (InstructBLIP's\n"
            "                     Q-Former), through the vision tower's own tokenizer\n"
            "  --qformer-prompt-ids LIST  encode: the instruction as ids instead (\"101,2054,102\")\n",
            cmd, strcmp(cmd, "encode") ? " (copied through)" : "",
            strcmp(cmd, "encode") ? "float32 [3, S, S]" : "float32 [n_image_tokens, n_embd]");
}

static int run(int argc, char **argv, int encode) {
    const char *cmd = encode ? "encode" : "preprocess";
    const char *mmproj = NULL, *model = NULL, *image = NULL, *pixels = NULL, *out = NULL;
    const char *instruction = NULL, *qf_list = NULL;
    graft_mm_params mp = graft_mm_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout, cmd);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "graft %s: %s needs a value\n", cmd, a);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--mmproj")) mmproj = v;
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--image")) image = v;
        else if (!strcmp(a, "--pixels")) pixels = v;
        else if (!strcmp(a, "-o")) out = v;
        else if (encode && !strcmp(a, "--prompt")) instruction = v;
        else if (encode && !strcmp(a, "--qformer-prompt-ids")) qf_list = v;
        else if (!strcmp(a, "-t")) mp.n_threads = atoi(v) > 0 ? atoi(v) : 1;
        else if (!strcmp(a, "--image-mode")) {
            mp.image_mode = !strcmp(v, "pad") ? GRAFT_MM_MODE_PAD : !strcmp(v, "crop") ? GRAFT_MM_MODE_CROP
                          : !strcmp(v, "resize") ? GRAFT_MM_MODE_RESIZE : -1;
            if (mp.image_mode < 0) {
                fprintf(stderr, "graft %s: --image-mode takes pad, crop or resize\n", cmd);
                return 2;
            }
        } else {
            fprintf(stderr, "graft %s: unknown option '%s'\n", cmd, a);
            return 2;
        }
    }
    if (!mmproj) mmproj = model; /* graft_vision_load reads an HF LLaVA directory's vision tower */
    if (!mmproj || !out || !!image + !!pixels != 1) {
        usage(stderr, cmd);
        return 2;
    }
    graft_error e;
    graft_vision *v = NULL;
    graft_mm *mm = NULL;
    float *buf = NULL, *px = NULL;
    int32_t *qf_ids = NULL;
    size_t n_qf = 0;
    int status = 1;
    if (qf_list && !cli_parse_ids("--qformer-prompt-ids", qf_list, &qf_ids, &n_qf)) return 2;
    if (graft_vision_load(mmproj, &v, &e) || graft_mm_new(NULL, v, &mp, &mm, &e)) {
        fprintf(stderr, "graft %s: %s\n", cmd, e.msg);
        goto done;
    }
    const size_t S = (size_t)graft_vision_image_size(v), npx = 3 * S * S;
    graft_image_input in = {.path = image, .instruction = instruction};
    if (pixels) {
        FILE *f = fopen(pixels, "rb");
        px = malloc(npx * sizeof(float) + 1);
        size_t got = f ? fread(px, 1, npx * sizeof(float) + 1, f) : 0;
        if (f) fclose(f);
        if (!f || got != npx * sizeof(float)) {
            fprintf(stderr, "graft %s: %s: %s\n", cmd, pixels,
                    f ? "not a float32 [3, S, S] tensor for this vision tower's S" : strerror(errno));
            goto done;
        }
        in = (graft_image_input){.pixels = px, .instruction = instruction};
    }
    if (qf_ids) in.instruction_ids = qf_ids, in.n_instruction_ids = (int)n_qf;
    const size_t n = encode ? (size_t)graft_mm_n_tokens(mm) * graft_vision_n_embd(v) : npx;
    buf = malloc(n * sizeof(float));
    graft_mm_timings t = {0};
    if ((encode ? graft_mm_encode(mm, &in, buf, &t, &e) : graft_mm_pixels(mm, &in, buf, &t, &e))) {
        fprintf(stderr, "graft %s: %s\n", cmd, e.msg);
        goto done;
    }
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(buf, sizeof(float), n, f) != n || fclose(f)) {
        fprintf(stderr, "graft %s: cannot write %s: %s\n", cmd, out, strerror(errno));
        goto done;
    }
    if (encode)
        fprintf(stderr, "graft encode: %d x %d floats to %s | image decode %.1f ms | preprocess %.1f ms | vision %.1f ms | projector %.1f ms\n",
                graft_mm_n_tokens(mm), graft_vision_n_embd(v), out, t.image_decode_ms, t.preprocess_ms, t.vision_ms, t.projector_ms);
    else
        fprintf(stderr, "graft preprocess: [3, %zu, %zu] floats to %s\n", S, S, out);
    status = 0;
done:
    free(buf);
    free(px);
    free(qf_ids);
    graft_mm_free(mm);
    graft_vision_free(v);
    return status;
}

int cli_encode(int argc, char **argv) { return run(argc, argv, 1); }
int cli_preprocess(int argc, char **argv) { return run(argc, argv, 0); }
